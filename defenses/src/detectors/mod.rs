//! The anomaly detectors: one type per [`DetectorSpec`] variant, each in its own module with
//! its thresholds, what it has learnt, the alerts it raises and the thresholds it lets people
//! change while it runs.
//!
//! A detector observes the engine only through a [`Look`] (the engine read-only, the time and
//! the utility's [`OperationalContext`]) at the phases it takes part in, and answers with
//! [`Alert`]s; the [`Defender`](crate::Defender) coalesces them, records them and triggers the
//! playbooks. Within one look the phases run in this order, each over its detectors in the
//! order its constant lists them (which fixes the order of alerts, and so of responses):
//!
//! 1. [`AT_EVERY_LOOK`]: what arrived since the last look (requests, relay events, flows
//!    through the IDS, security events);
//! 2. when intervals or read cycles closed: [`AT_INTERVAL_CLOSE`] for each closed interval,
//!    oldest first, then [`AT_READ_CYCLE_CLOSE`] for each closed read cycle, then
//!    [`AT_CENSUS`] once.
//!
//! A detector's hook for a phase is called only if its kind is listed in that phase's order.

use amirange_sim::engine::Sim;
use amirange_sim::records::{AlertSubject, MeterSet, Severity};
use amirange_sim::time::{SimDuration, SimTime};

use crate::context::OperationalContext;
use crate::spec::{AlertSource, DetectorKind, DetectorSpec, ThresholdError};

pub mod command_rate;
pub mod consumption_baseline;
pub mod energy_balance;
pub mod firmware_drift;
pub mod frame_counter;
pub mod frequency_excursion;
pub mod inventory_drift;
pub mod missing_read_cluster;
pub mod unknown_device;
pub mod zero_at_peak;

pub use command_rate::CommandRate;
pub use consumption_baseline::ConsumptionBaseline;
pub use energy_balance::EnergyBalance;
pub use firmware_drift::FirmwareDrift;
pub use frame_counter::FrameCounter;
pub use frequency_excursion::FrequencyExcursion;
pub use inventory_drift::InventoryDrift;
pub use missing_read_cluster::MissingReadCluster;
pub use unknown_device::UnknownDevice;
pub use zero_at_peak::ZeroAtPeak;

/// One step of [`AT_EVERY_LOOK`]: a detector, or the IDS over the flows the sensor saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookStep {
    /// The detector of this kind, if in force.
    Detector(DetectorKind),
    /// The IDS, if it has rules.
    Ids,
}

/// At every look, in this order: requests at the HES ([`CommandRate`]), relay events
/// ([`InventoryDrift`]), the flows the sensor saw (the IDS), then the security events meters
/// pushed ([`FrameCounter`], [`UnknownDevice`], [`FirmwareDrift`]'s signature failures).
pub const AT_EVERY_LOOK: [LookStep; 6] = [
    LookStep::Detector(DetectorKind::CommandRate),
    LookStep::Detector(DetectorKind::InventoryDrift),
    LookStep::Ids,
    LookStep::Detector(DetectorKind::FrameCounter),
    LookStep::Detector(DetectorKind::UnknownDevice),
    LookStep::Detector(DetectorKind::FirmwareDrift),
];

/// At each closed 15-minute interval, in this order: the frequency, then the fleet's load.
pub const AT_INTERVAL_CLOSE: [DetectorKind; 2] = [DetectorKind::FrequencyExcursion, DetectorKind::ConsumptionBaseline];

/// At each closed read cycle, in this order: zero reads at peak, energy balance (feeders,
/// then transformers), missing-read clusters.
pub const AT_READ_CYCLE_CLOSE: [DetectorKind; 3] = [
    DetectorKind::ZeroAtPeak,
    DetectorKind::EnergyBalance,
    DetectorKind::MissingReadCluster,
];

/// Once after the intervals and read cycles that closed, in this order: the firmware census,
/// then the security levels inventory reads report.
pub const AT_CENSUS: [DetectorKind; 2] = [DetectorKind::FirmwareDrift, DetectorKind::InventoryDrift];

/// An alert as a detector raises it; the defender counts it into an open alert of the same
/// source and subject, or records a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// When what it reports happened (or was seen).
    pub time: SimTime,
    /// Who raises it.
    pub source: AlertSource,
    /// How bad.
    pub severity: Severity,
    /// What it is about.
    pub subject: AlertSubject,
    /// For people.
    pub message: String,
    /// Meters it names (the defender keeps the first 20).
    pub meters: Vec<u32>,
    /// Observations it counts.
    pub count: u64,
}

impl Alert {
    /// An alert of detector `kind` counting one observation and naming no meter.
    pub fn once(
        time: SimTime,
        kind: DetectorKind,
        severity: Severity,
        subject: AlertSubject,
        message: String,
    ) -> Alert {
        Alert {
            time,
            source: AlertSource::Detector(kind),
            severity,
            subject,
            message,
            meters: Vec::new(),
            count: 1,
        }
    }

    /// A high-severity alert of detector `kind` about the meters of `set` that refused
    /// something (one entry of `meters` per refusal), its message `describe(refusals)`; `None`
    /// when none did.
    pub fn refusals(
        time: SimTime,
        kind: DetectorKind,
        set: MeterSet,
        meters: Vec<u32>,
        describe: impl FnOnce(usize) -> String,
    ) -> Option<Alert> {
        if meters.is_empty() {
            return None;
        }
        let message = describe(meters.len());
        Some(Alert::about_meters(
            time,
            kind,
            Severity::High,
            AlertSubject::Meters(set),
            message,
            meters,
        ))
    }

    /// An alert of detector `kind` about `meters`, counting each.
    pub fn about_meters(
        time: SimTime,
        kind: DetectorKind,
        severity: Severity,
        subject: AlertSubject,
        message: String,
        meters: Vec<u32>,
    ) -> Alert {
        let count = meters.len() as u64;
        Alert {
            time,
            source: AlertSource::Detector(kind),
            severity,
            subject,
            message,
            meters,
            count,
        }
    }
}

/// What a detector may look at: the engine, read-only, at the present, and the utility's
/// operational context. Nothing here is ground truth; a detector reads what a utility sees.
pub struct Look<'a> {
    /// The engine.
    pub sim: &'a Sim,
    /// The present.
    pub now: SimTime,
    /// What the utility knows of its own work.
    pub context: &'a OperationalContext,
}

/// A read cycle that closed: its index and the intervals it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCycle {
    /// Read cycles closed before it.
    pub index: usize,
    /// Its first interval (slot).
    pub first: usize,
    /// Its last interval (slot), the one that closed it.
    pub last: usize,
    /// When it closed: the end of its last interval.
    pub end: SimTime,
}

/// What the world looks like when the detectors are built.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Meters in the fleet.
    pub n_meters: usize,
    /// Feeders.
    pub n_feeders: usize,
    /// Distribution transformers.
    pub n_transformers: usize,
    /// The bulk system's nominal frequency, Hz.
    pub nominal_hz: f64,
    /// The command-rate window, parsed.
    pub command_window: SimDuration,
}

/// An anomaly detector. Each hook is called at its phase (see the module's documentation)
/// only for kinds listed in that phase's order; each appends the alerts it raises to `alerts`
/// in the order they are to be recorded.
pub trait Detector: Send + 'static {
    /// Which detector it is.
    const KIND: DetectorKind;
    /// The thresholds it lets people change while it runs, with their ranges, each field once.
    const TUNABLES: &'static [Setting<Self>];

    /// At every look: what arrived since the last one.
    fn look(&mut self, _look: &Look<'_>, _alerts: &mut Vec<Alert>) {}

    /// At each closed interval `slot`, oldest first.
    fn interval_closed(&mut self, _look: &Look<'_>, _slot: usize, _alerts: &mut Vec<Alert>) {}

    /// At each closed read cycle, oldest first.
    fn read_cycle_closed(&mut self, _look: &Look<'_>, _cycle: &ReadCycle, _alerts: &mut Vec<Alert>) {}

    /// Once after the intervals and read cycles of a look closed.
    fn census(&mut self, _look: &Look<'_>, _alerts: &mut Vec<Alert>) {}
}

/// A threshold a detector lets people change while it runs (the live range's
/// `set-threshold`), with its range and unit.
///
/// The ranges are policy: wide enough for every tuning an analyst would try (each holds its
/// detector's default with a factor of a hundred or more on either side where that makes
/// sense), narrow enough that no value silences a detector for good (a count past any real
/// fleet's bulk operations) or floods it (a share or band so small that normal operation
/// alerts every interval). Every range lies within what the scenario's checks allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tunable {
    /// The detector.
    pub detector: DetectorKind,
    /// The field, as the scenario's `defenses` section names it.
    pub field: &'static str,
    /// The least value.
    pub min: f64,
    /// The greatest value.
    pub max: f64,
    /// Whether the value is a count (a whole number).
    pub whole: bool,
    /// What the value is, in words with its unit (e.g. `a whole number of meters`).
    pub unit: &'static str,
}

impl Tunable {
    /// Checks `value` against the range; whole for a count.
    pub fn check(&self, value: f64) -> Result<(), ThresholdError> {
        let in_range = value.is_finite() && value >= self.min && value <= self.max;
        if in_range && (!self.whole || value.fract() == 0.0) {
            return Ok(());
        }
        Err(ThresholdError::OutOfRange {
            detector: self.detector.name(),
            field: self.field,
            unit: self.unit,
            min: self.min,
            max: self.max,
            value,
        })
    }
}

/// A [`Tunable`] of detector type `D` with how to read and write the field.
pub struct Setting<D: ?Sized> {
    /// The field and its range.
    pub tunable: Tunable,
    /// Reads the field.
    pub get: fn(&D) -> f64,
    /// Writes a value already checked against the range into the field.
    pub set: fn(&mut D, f64),
}

/// A [`Setting`] of field `$field` of the detector type implementing [`Detector`]: the name,
/// the getter and the setter all come from the field itself, so none can drift from it.
/// Used inside `impl Detector`, where `Self` is the detector.
macro_rules! setting {
    ($field:ident, $min:expr, $max:expr, whole: $whole:expr, $unit:expr) => {
        $crate::detectors::Setting {
            tunable: $crate::detectors::Tunable {
                detector: Self::KIND,
                field: stringify!($field),
                min: $min,
                max: $max,
                whole: $whole,
                unit: $unit,
            },
            get: |d: &Self| d.$field as f64,
            set: |d: &mut Self, value| d.$field = value as _,
        }
    };
}
pub(crate) use setting;

/// The 15-minute intervals a detector may wait: 1 to 96 (a day), as scenarios allow.
pub(crate) const INTERVALS: &str = "a whole number of 15-minute intervals";

/// A detector as the defender runs it, whatever its type (implemented for every
/// [`Detector`]). `Send`, so a live exercise's engine thread can own the defender.
pub trait Running: Send {
    /// Which detector it is.
    fn kind(&self) -> DetectorKind;
    /// See [`Detector::look`].
    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>);
    /// See [`Detector::interval_closed`].
    fn interval_closed(&mut self, look: &Look<'_>, slot: usize, alerts: &mut Vec<Alert>);
    /// See [`Detector::read_cycle_closed`].
    fn read_cycle_closed(&mut self, look: &Look<'_>, cycle: &ReadCycle, alerts: &mut Vec<Alert>);
    /// See [`Detector::census`].
    fn census(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>);
    /// The current value of tunable `field`, if it declares one of that name.
    fn threshold(&self, field: &str) -> Option<f64>;
    /// Sets tunable `field` to `value`: refused, with the reason and nothing changed, for a
    /// field it does not declare or a value outside the field's range.
    fn set_threshold(&mut self, field: &str, value: f64) -> Result<(), ThresholdError>;
}

impl<D: Detector> Running for D {
    fn kind(&self) -> DetectorKind {
        D::KIND
    }
    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        Detector::look(self, look, alerts);
    }
    fn interval_closed(&mut self, look: &Look<'_>, slot: usize, alerts: &mut Vec<Alert>) {
        Detector::interval_closed(self, look, slot, alerts);
    }
    fn read_cycle_closed(&mut self, look: &Look<'_>, cycle: &ReadCycle, alerts: &mut Vec<Alert>) {
        Detector::read_cycle_closed(self, look, cycle, alerts);
    }
    fn census(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        Detector::census(self, look, alerts);
    }
    fn threshold(&self, field: &str) -> Option<f64> {
        D::TUNABLES
            .iter()
            .find(|s| s.tunable.field == field)
            .map(|s| (s.get)(self))
    }
    fn set_threshold(&mut self, field: &str, value: f64) -> Result<(), ThresholdError> {
        let Some(setting) = D::TUNABLES.iter().find(|s| s.tunable.field == field) else {
            let fields: Vec<&str> = D::TUNABLES.iter().map(|s| s.tunable.field).collect();
            return Err(ThresholdError::UnknownField {
                detector: D::KIND.name(),
                field: field.to_owned(),
                fields: if fields.is_empty() {
                    "none".to_owned()
                } else {
                    fields.join(", ")
                },
            });
        };
        setting.tunable.check(value)?;
        (setting.set)(self, value);
        Ok(())
    }
}

/// The detector `spec` describes, with nothing learnt yet.
pub fn build(spec: &DetectorSpec, setup: &Setup) -> Box<dyn Running> {
    match *spec {
        DetectorSpec::CommandRate {
            account_meters,
            account_requests,
            fleet_meters,
            ..
        } => Box::new(CommandRate::new(
            setup.command_window,
            account_meters,
            account_requests,
            fleet_meters,
        )),
        DetectorSpec::ConsumptionBaseline { deviation, intervals } => {
            Box::new(ConsumptionBaseline::new(deviation, intervals, setup.n_meters))
        }
        DetectorSpec::ZeroAtPeak { share, min_meters } => Box::new(ZeroAtPeak::new(share, min_meters, setup.n_meters)),
        DetectorSpec::EnergyBalance {
            gap,
            intervals,
            transformer_meters,
            transformer_gap,
        } => Box::new(EnergyBalance::new(
            gap,
            intervals,
            transformer_meters,
            transformer_gap,
            setup,
        )),
        DetectorSpec::MissingReadCluster {
            share,
            min_reads,
            fleet_share,
        } => Box::new(MissingReadCluster::new(share, min_reads, fleet_share)),
        DetectorSpec::FirmwareDrift {} => Box::new(FirmwareDrift::default()),
        DetectorSpec::FrameCounter {} => Box::new(FrameCounter::default()),
        DetectorSpec::UnknownDevice {} => Box::new(UnknownDevice::default()),
        DetectorSpec::InventoryDrift {} => Box::new(InventoryDrift::new(setup.n_meters)),
        DetectorSpec::FrequencyExcursion { deviation_hz } => {
            Box::new(FrequencyExcursion::new(deviation_hz, setup.nominal_hz))
        }
    }
}

/// The [`Tunable`]s of the detector types listed, one after another, as one array.
macro_rules! all_tunables {
    ($($detector:ty),* $(,)?) => {{
        const N: usize = 0 $(+ <$detector as Detector>::TUNABLES.len())*;
        const TABLE: [Tunable; N] = {
            let mut table = [Tunable {
                detector: DetectorKind::CommandRate,
                field: "",
                min: 0.0,
                max: 0.0,
                whole: false,
                unit: "",
            }; N];
            let mut k = 0;
            $(
                let settings = <$detector as Detector>::TUNABLES;
                let mut i = 0;
                while i < settings.len() {
                    table[k] = settings[i].tunable;
                    k += 1;
                    i += 1;
                }
            )*
            table
        };
        &TABLE
    }};
}

/// Every threshold a detector lets people change while it runs, detector by detector in
/// [`DetectorKind::ALL`] order, as each detector declares them (`range`'s copy is generated
/// from this table).
pub const TUNABLES: &[Tunable] = all_tunables!(
    CommandRate,
    ConsumptionBaseline,
    ZeroAtPeak,
    EnergyBalance,
    MissingReadCluster,
    FirmwareDrift,
    FrameCounter,
    UnknownDevice,
    InventoryDrift,
    FrequencyExcursion,
);

impl DetectorKind {
    /// The thresholds it lets people change while it runs.
    pub fn tunables(self) -> impl Iterator<Item = &'static Tunable> {
        TUNABLES.iter().filter(move |t| t.detector == self)
    }
}

/// The command that regenerates the live range's copy of [`TUNABLES`].
pub const RANGE_TABLE_BLESS: &str = "AMIRANGE_BLESS=1 cargo test -p amirange-defenses --test tunables";

/// The text of `range/src/tunables_generated.rs`: [`TUNABLES`] as the live range's own table,
/// which checks `set-threshold` before the defender sees it (`range` may not depend on this
/// crate). `defenses/tests/tunables.rs` writes it with [`RANGE_TABLE_BLESS`] and fails while
/// it is stale.
pub fn range_table_source() -> String {
    let mut text = format!(
        "//! Every threshold `set-threshold` may change, with its range and unit.\n\
         //!\n\
         //! @generated from the detectors' declarations (`amirange_defenses::detectors::TUNABLES`)\n\
         //! by `{RANGE_TABLE_BLESS}`: do not edit.\n\
         \n\
         use crate::messages::Tunable;\n\
         \n\
         /// Every threshold `set-threshold` may change, with its range and unit, detector by\n\
         /// detector.\n\
         pub const TUNABLES: &[Tunable] = &[\n"
    );
    for t in TUNABLES {
        text.push_str(&format!(
            "    Tunable {{\n        detector: {:?},\n        field: {:?},\n        min: {:?},\n        max: {:?},\n        whole: {},\n        unit: {:?},\n    }},\n",
            t.detector.name(),
            t.field,
            t.min,
            t.max,
            t.whole,
            t.unit
        ));
    }
    text.push_str("];\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DetectorSpec;

    /// Every detector acts in at least one phase, and no phase lists a detector twice, so the
    /// order of alerts within a look is written down, once.
    #[test]
    fn every_detector_has_its_place_in_the_evaluation_order() {
        let look: Vec<DetectorKind> = AT_EVERY_LOOK
            .iter()
            .filter_map(|s| match s {
                LookStep::Detector(kind) => Some(*kind),
                LookStep::Ids => None,
            })
            .collect();
        assert_eq!(AT_EVERY_LOOK.iter().filter(|s| **s == LookStep::Ids).count(), 1);
        let phases: [&[DetectorKind]; 4] = [&look, &AT_INTERVAL_CLOSE, &AT_READ_CYCLE_CLOSE, &AT_CENSUS];
        for phase in phases {
            let mut sorted = phase.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), phase.len(), "{phase:?} lists a detector twice");
        }
        for kind in DetectorKind::ALL {
            assert!(
                phases.iter().any(|phase| phase.contains(&kind)),
                "{} takes part in no phase",
                kind.name()
            );
        }
    }

    /// Every detector is built from its spec as the kind the spec names, and every tunable
    /// field it declares can be read and set to both ends of its range, which the scenario's
    /// own checks accept too.
    #[test]
    fn every_declared_tunable_is_settable_within_what_scenarios_allow() {
        let setup = Setup {
            n_meters: 10,
            n_feeders: 2,
            n_transformers: 2,
            nominal_hz: 50.0,
            command_window: SimDuration::from_hours(1),
        };
        let mut seen = 0;
        for kind in DetectorKind::ALL {
            let variant = format!("{kind:?}");
            let spec: DetectorSpec = serde_json::from_str(&format!("{{\"{variant}\": {{}}}}")).expect("defaults");
            let mut detector = build(&spec, &setup);
            assert_eq!(detector.kind(), kind);
            for t in kind.tunables() {
                seen += 1;
                let default = detector.threshold(t.field).expect("declared fields read back");
                assert!(
                    t.check(default).is_ok(),
                    "{}.{} default {default}",
                    kind.name(),
                    t.field
                );
                for value in [t.min, t.max] {
                    detector.set_threshold(t.field, value).expect("within range");
                    assert_eq!(detector.threshold(t.field), Some(value));
                    let mut json = serde_json::to_value(&spec).expect("json");
                    json[&variant][t.field] = if t.whole {
                        serde_json::json!(value as u64)
                    } else {
                        serde_json::json!(value)
                    };
                    let changed: DetectorSpec = serde_json::from_value(json).expect("the same field in the spec");
                    assert!(
                        changed.check_fields(&|f| f.to_owned()).is_ok(),
                        "{}.{} = {value} passes set_threshold but not the scenario's checks",
                        kind.name(),
                        t.field
                    );
                }
            }
        }
        assert_eq!(seen, TUNABLES.len());
        assert_eq!(TUNABLES.len(), 14);
    }

    /// The live range's copy of the table is the one generated from the declarations.
    #[test]
    fn the_range_table_is_generated_from_the_declarations() {
        let committed = include_str!("../../../range/src/tunables_generated.rs");
        assert!(
            committed == range_table_source(),
            "range/src/tunables_generated.rs is stale: run `{RANGE_TABLE_BLESS}`"
        );
    }
}
