//! What a scenario's `defenses` section says about detection and response: the detectors and
//! their thresholds, the IDS rules, the playbooks and restoration. Checked into a [`Detection`]
//! with every duration parsed and every value in range; an error names the field's path.

use std::collections::BTreeMap;

use amirange_sim::records::Severity;
use amirange_sim::time::SimDuration;
use serde::{Deserialize, Serialize};

pub use crate::detectors::{TUNABLES, Tunable};
use crate::ids::{RuleSet, Vars};

/// An anomaly detector as the scenario writes it. Every threshold has a default, so
/// `EnergyBalance()` turns one on as the presets tune it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum DetectorSpec {
    /// Requests at the HES that the utility's work calendar does not explain, per account and
    /// for the fleet, within a sliding window.
    CommandRate {
        /// The sliding window the requests are counted over, a duration (`"1h"`).
        /// Allowed: 1m to 7d.
        #[serde(default = "d_hour")]
        window: String,
        /// Most meters one account may name in unplanned requests within the window; beyond
        /// it the account's alert is medium, beyond ten times it high.
        /// Allowed: at least 1.
        #[serde(default = "d_100")]
        account_meters: u32,
        /// Most unplanned requests one account may make within the window (medium beyond it,
        /// high beyond ten times it).
        /// Allowed: at least 1.
        #[serde(default = "d_60")]
        account_requests: u32,
        /// Most meters all accounts together may name in unplanned requests within the window
        /// (a medium `fleet` alert beyond it, when no single account is over its limits).
        /// Allowed: at least 1.
        #[serde(default = "d_500")]
        fleet_meters: u32,
    },
    /// The fleet's load as feeder-head SCADA measures it against the load the class profiles
    /// expect for the season and hour, outside demand-response events and storm restoration.
    ConsumptionBaseline {
        /// Largest relative deviation of the measured-to-expected load ratio from its learnt
        /// value, a share.
        /// Allowed: above 0, at most 1.
        #[serde(default = "d_quarter")]
        deviation: f64,
        /// 15-minute intervals in a row beyond it before the alert.
        /// Allowed: 1 to 96.
        #[serde(default = "d_2")]
        intervals: u32,
    },
    /// Reads of zero consumption at the day's peak beyond the premises the utility itself
    /// disconnected.
    ZeroAtPeak {
        /// Share of the fleet the zero reads beyond the utility's own disconnects must exceed.
        /// Allowed: above 0, at most 1.
        #[serde(default = "d_share_zero")]
        share: f64,
        /// And the least number of meters they must exceed.
        /// Allowed: any count.
        #[serde(default = "d_10")]
        min_meters: u32,
    },
    /// Per feeder, the energy the MDM holds against what feeder-head SCADA measured; with
    /// `transformer_meters`, also per distribution transformer against its own meter.
    EnergyBalance {
        /// Largest rise of a feeder's unaccounted share of SCADA's energy over its learnt usual
        /// share (its losses).
        /// Allowed: above 0, at most 1.
        #[serde(default = "d_gap")]
        gap: f64,
        /// 15-minute intervals in a row beyond it before the alert (`feeder N`).
        /// Allowed: 1 to 96.
        #[serde(default = "d_4")]
        intervals: u32,
        /// Whether distribution transformers carry their own meters, so that each read cycle
        /// also balances every transformer against its customers' meters.
        #[serde(default)]
        transformer_meters: bool,
        /// Largest unaccounted share of a transformer's energy over a read cycle before the
        /// alert (`transformer N`); used with `transformer_meters`.
        /// Allowed: above 0, at most 1.
        #[serde(default = "d_transformer_gap")]
        transformer_gap: f64,
    },
    /// Collectors whose uploads arrive with many of their meters' reads missing while the rest
    /// of the fleet reads normally (meters without supply are not counted).
    MissingReadCluster {
        /// Share of a collector's reads of one read cycle that must be missing.
        /// Allowed: above 0, at most 1.
        #[serde(default = "d_share_missing")]
        share: f64,
        /// The least number of reads the collector must have had in the cycle.
        /// Allowed: at least 1.
        #[serde(default = "d_20")]
        min_reads: u32,
        /// The fleet-wide share of missing reads at or above which it is no cluster (and no
        /// collector alerts).
        /// Allowed: above 0, at most 1.
        #[serde(default = "d_fleet_missing")]
        fleet_share: f64,
    },
    /// Meters running firmware the utility never released, and signature failures they report.
    FirmwareDrift {},
    /// Frames meters refused because their counter was stale.
    FrameCounter {},
    /// Meters reporting an unknown network or base station, failed network authentication,
    /// unauthenticated commands, or requests for the legacy security level.
    UnknownDevice {},
    /// What meters report against what the HES believes: relays that changed without a
    /// command, meters that fell back to the legacy security level.
    InventoryDrift {},
    /// The bulk system's frequency beyond a band around nominal.
    FrequencyExcursion {
        /// Half-width of the band around nominal frequency, Hz.
        /// Allowed: above 0, below 5.
        #[serde(default = "d_freq")]
        deviation_hz: f64,
    },
}

fn d_hour() -> String {
    "1h".into()
}
fn d_100() -> u32 {
    100
}
fn d_60() -> u32 {
    60
}
fn d_500() -> u32 {
    500
}
fn d_quarter() -> f64 {
    0.25
}
fn d_2() -> u32 {
    2
}
fn d_4() -> u32 {
    4
}
fn d_10() -> u32 {
    10
}
fn d_20() -> u32 {
    20
}
fn d_share_zero() -> f64 {
    0.005
}
fn d_gap() -> f64 {
    0.08
}
fn d_transformer_gap() -> f64 {
    0.15
}
fn d_share_missing() -> f64 {
    0.4
}
fn d_fleet_missing() -> f64 {
    0.3
}
fn d_freq() -> f64 {
    0.2
}

/// Which anomaly detector: the [`DetectorSpec`] variant without its thresholds. The defender
/// looks its detectors up by kind, so a misspelt detector is a compile error, not a detector
/// silently switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DetectorKind {
    /// See [`DetectorSpec::CommandRate`].
    CommandRate,
    /// See [`DetectorSpec::ConsumptionBaseline`].
    ConsumptionBaseline,
    /// See [`DetectorSpec::ZeroAtPeak`].
    ZeroAtPeak,
    /// See [`DetectorSpec::EnergyBalance`].
    EnergyBalance,
    /// See [`DetectorSpec::MissingReadCluster`].
    MissingReadCluster,
    /// See [`DetectorSpec::FirmwareDrift`].
    FirmwareDrift,
    /// See [`DetectorSpec::FrameCounter`].
    FrameCounter,
    /// See [`DetectorSpec::UnknownDevice`].
    UnknownDevice,
    /// See [`DetectorSpec::InventoryDrift`].
    InventoryDrift,
    /// See [`DetectorSpec::FrequencyExcursion`].
    FrequencyExcursion,
}

impl DetectorKind {
    /// Every kind, in the order `metrics.json` lists them.
    pub const ALL: [DetectorKind; 10] = [
        DetectorKind::CommandRate,
        DetectorKind::ConsumptionBaseline,
        DetectorKind::ZeroAtPeak,
        DetectorKind::EnergyBalance,
        DetectorKind::MissingReadCluster,
        DetectorKind::FirmwareDrift,
        DetectorKind::FrameCounter,
        DetectorKind::UnknownDevice,
        DetectorKind::InventoryDrift,
        DetectorKind::FrequencyExcursion,
    ];

    /// The detector's name, as alerts, playbooks and `metrics.json` give it.
    pub const fn name(self) -> &'static str {
        match self {
            DetectorKind::CommandRate => "command-rate",
            DetectorKind::ConsumptionBaseline => "consumption-baseline",
            DetectorKind::ZeroAtPeak => "zero-at-peak",
            DetectorKind::EnergyBalance => "energy-balance",
            DetectorKind::MissingReadCluster => "missing-read-cluster",
            DetectorKind::FirmwareDrift => "firmware-drift",
            DetectorKind::FrameCounter => "frame-counter",
            DetectorKind::UnknownDevice => "unknown-device",
            DetectorKind::InventoryDrift => "inventory-drift",
            DetectorKind::FrequencyExcursion => "frequency-excursion",
        }
    }
}

/// Who raised an alert: an anomaly detector, or one IDS rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertSource {
    /// An anomaly detector.
    Detector(DetectorKind),
    /// The IDS rule of this signature id.
    IdsRule(u32),
}

/// The name alerts and `metrics.json` give: the detector's, or `ids:<sid>`.
impl std::fmt::Display for AlertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlertSource::Detector(kind) => f.write_str(kind.name()),
            AlertSource::IdsRule(sid) => write!(f, "ids:{sid}"),
        }
    }
}

/// What triggers a playbook, as its `on` list names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Alerts of one anomaly detector (`"command-rate"`).
    Detector(DetectorKind),
    /// Alerts of every IDS rule (`"ids"`).
    AnyIdsRule,
    /// Alerts of one IDS rule (`"ids:1000002"`).
    IdsRule(u32),
}

impl Trigger {
    /// Whether an alert from `source` triggers it.
    pub fn fires_on(self, source: AlertSource) -> bool {
        match (self, source) {
            (Trigger::Detector(kind), AlertSource::Detector(raised)) => kind == raised,
            (Trigger::AnyIdsRule, AlertSource::IdsRule(_)) => true,
            (Trigger::IdsRule(sid), AlertSource::IdsRule(raised)) => sid == raised,
            _ => false,
        }
    }
}

impl DetectorSpec {
    /// Which detector it is.
    pub fn kind(&self) -> DetectorKind {
        match self {
            DetectorSpec::CommandRate { .. } => DetectorKind::CommandRate,
            DetectorSpec::ConsumptionBaseline { .. } => DetectorKind::ConsumptionBaseline,
            DetectorSpec::ZeroAtPeak { .. } => DetectorKind::ZeroAtPeak,
            DetectorSpec::EnergyBalance { .. } => DetectorKind::EnergyBalance,
            DetectorSpec::MissingReadCluster { .. } => DetectorKind::MissingReadCluster,
            DetectorSpec::FirmwareDrift {} => DetectorKind::FirmwareDrift,
            DetectorSpec::FrameCounter {} => DetectorKind::FrameCounter,
            DetectorSpec::UnknownDevice {} => DetectorKind::UnknownDevice,
            DetectorSpec::InventoryDrift {} => DetectorKind::InventoryDrift,
            DetectorSpec::FrequencyExcursion { .. } => DetectorKind::FrequencyExcursion,
        }
    }

    /// The detector's name, as alerts and `metrics.json` give it.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

impl DetectorKind {
    /// The kind of that name, if any.
    pub fn from_name(name: &str) -> Option<DetectorKind> {
        DetectorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Why a threshold was not changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// No detector of that name is in force.
    #[error("no detector `{detector}` is in force (in force: {in_force})")]
    NotInForce {
        /// The name asked for.
        detector: String,
        /// The detectors in force, by name, comma-separated (`none` without any).
        in_force: String,
    },
    /// The detector has no tunable field of that name.
    #[error("`{detector}` has no tunable field `{field}` (it has: {fields})")]
    UnknownField {
        /// The detector.
        detector: &'static str,
        /// The field asked for.
        field: String,
        /// Its tunable fields, comma-separated (`none` without any).
        fields: String,
    },
    /// The value is outside the field's range (or not whole for a count).
    #[error("`{field}` of `{detector}` is {unit}, at least {min} and at most {max}, not {value}")]
    OutOfRange {
        /// The detector.
        detector: &'static str,
        /// The field.
        field: &'static str,
        /// What the value is, in words with its unit.
        unit: &'static str,
        /// The least value.
        min: f64,
        /// The greatest value.
        max: f64,
        /// The value refused.
        value: f64,
    },
}

impl DetectorSpec {
    /// Checks the detector's fields, naming a faulty one with `at(field)`; returns the
    /// command-rate window when it is that detector.
    pub fn check_fields(&self, at: &dyn Fn(&str) -> String) -> Result<Option<SimDuration>, SpecError> {
        let d = self;
        match d {
            DetectorSpec::CommandRate {
                window,
                account_meters,
                account_requests,
                fleet_meters,
            } => {
                let w = duration(&at("window"), window)?;
                if w < SimDuration::from_secs(60) || w > SimDuration::from_days(7) {
                    return Err(err(at("window"), "must be between 1m and 7d"));
                }
                for (f, v) in [
                    ("account_meters", account_meters),
                    ("account_requests", account_requests),
                    ("fleet_meters", fleet_meters),
                ] {
                    if *v == 0 {
                        return Err(err(at(f), "must be at least 1"));
                    }
                }
                return Ok(Some(w));
            }
            DetectorSpec::ConsumptionBaseline { deviation, intervals } => {
                share(at("deviation"), *deviation)?;
                if *intervals == 0 || *intervals > 96 {
                    return Err(err(at("intervals"), "must be between 1 and 96"));
                }
            }
            DetectorSpec::ZeroAtPeak { share: s, .. } => share(at("share"), *s)?,
            DetectorSpec::EnergyBalance {
                gap,
                intervals,
                transformer_gap,
                ..
            } => {
                share(at("gap"), *gap)?;
                share(at("transformer_gap"), *transformer_gap)?;
                if *intervals == 0 || *intervals > 96 {
                    return Err(err(at("intervals"), "must be between 1 and 96"));
                }
            }
            DetectorSpec::MissingReadCluster {
                share: s,
                fleet_share,
                min_reads,
            } => {
                share(at("share"), *s)?;
                share(at("fleet_share"), *fleet_share)?;
                if *min_reads == 0 {
                    return Err(err(at("min_reads"), "must be at least 1"));
                }
            }
            DetectorSpec::FrequencyExcursion { deviation_hz } => {
                if !(deviation_hz.is_finite() && *deviation_hz > 0.0 && *deviation_hz < 5.0) {
                    return Err(err(at("deviation_hz"), "must be above 0 and below 5 Hz"));
                }
            }
            DetectorSpec::FirmwareDrift {}
            | DetectorSpec::FrameCounter {}
            | DetectorSpec::UnknownDevice {}
            | DetectorSpec::InventoryDrift {} => {}
        }
        Ok(None)
    }
}

/// A response as a playbook writes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum ResponseSpec {
    /// Freeze bulk commands: the HES refuses requests for more than this many meters.
    FreezeBulk(u32),
    /// Revoke the credentials of the account the alert names (command-rate alerts name one).
    RevokeAccount,
    /// Isolate the HES from the networks, dropping its send queue; it comes back rebuilt from
    /// a clean image after this long.
    IsolateHes(String),
    /// Put meters running firmware the utility never released back on the installed image,
    /// through the HES.
    RollbackFirmware,
    /// Reconnect the customers whose relays opened without the utility's say, at the
    /// restoration rate, once the HES is trusted again.
    Reconnect,
    /// Send crews to meters that can no longer be reached remotely (bricked by firmware):
    /// they reflash and replace them, one truck roll at a time per crew.
    DispatchCrews,
    /// Block the outside host an IDS alert names at the firewall.
    BlockSource,
    /// Send a crew to the transformer an energy-balance alert names: it inspects every meter
    /// there and ends any bypass, tampering or clone it finds.
    InspectMeters,
    /// Send a crew with a direction finder to the collector a missing-read cluster names: it
    /// switches off any jammer within 3 km.
    HuntJammer,
}

/// A playbook: on an alert of one of `on` at `severity` or above, the responses, `delay` later.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookSpec {
    /// Detectors whose first alert triggers it, by name (`"command-rate"`; `"ids"` for every
    /// IDS rule, `"ids:1000002"` for one of `ids_rules`).
    /// Allowed: at least one.
    pub on: Vec<String>,
    /// The least severity that triggers it (`Low`, `Medium` or `High`).
    #[serde(default = "d_medium")]
    pub severity: Severity,
    /// Time from the alert to the response (a person deciding, a change approved), a duration.
    /// Allowed: at most 7d.
    #[serde(default = "d_delay")]
    pub delay: String,
    /// What is done, in order (see the responses below). Actions aimed at what an alert names
    /// (`RevokeAccount`, `BlockSource`, `InspectMeters`, `HuntJammer`) run once per subject; the
    /// others run once.
    /// Allowed: at least one.
    pub actions: Vec<ResponseSpec>,
}

fn d_medium() -> Severity {
    Severity::Medium
}
fn d_delay() -> String {
    "10m".into()
}

/// How the utility restores customers and meters after containment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestorationSpec {
    /// The operator account that sends reconnects and rollbacks.
    /// Allowed: an HES account, when a playbook reconnects or rolls back.
    #[serde(default = "d_restorer")]
    pub account: String,
    /// Meters reconnected (or rolled back) per minute through the HES.
    /// Allowed: at least 1.
    #[serde(default = "d_reconnect_rate")]
    pub per_minute: u32,
    /// Meters per request (kept at or under a bulk freeze).
    /// Allowed: at least 1.
    #[serde(default = "d_batch")]
    pub batch: u32,
    /// Crews for truck rolls.
    /// Allowed: at least 1.
    #[serde(default = "d_crews")]
    pub crews: u32,
    /// Time one truck roll takes (travel and work), a duration.
    /// Allowed: at least 1m.
    #[serde(default = "d_truck")]
    pub truck_roll: String,
}

fn d_restorer() -> String {
    "admin-carol".into()
}
fn d_reconnect_rate() -> u32 {
    200
}
fn d_batch() -> u32 {
    10
}
fn d_crews() -> u32 {
    4
}
fn d_truck() -> String {
    "2h".into()
}

impl Default for RestorationSpec {
    fn default() -> Self {
        RestorationSpec {
            account: d_restorer(),
            per_minute: d_reconnect_rate(),
            batch: d_batch(),
            crews: d_crews(),
            truck_roll: d_truck(),
        }
    }
}

/// Detection and response as a scenario writes them (beside the command policy).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectionSpec {
    /// How often detectors look at what arrived (`"1m"`); interval-based detectors look at
    /// every interval's end in any case.
    #[serde(default)]
    pub every: Option<String>,
    /// The anomaly detectors.
    #[serde(default)]
    pub detectors: Vec<DetectorSpec>,
    /// IDS rules, one Suricata rule per entry.
    #[serde(default)]
    pub ids_rules: Vec<String>,
    /// IDS variables beyond (or overriding) the address plan's (`HES_NET`, ...).
    #[serde(default)]
    pub ids_vars: BTreeMap<String, String>,
    /// Response playbooks.
    #[serde(default)]
    pub playbooks: Vec<PlaybookSpec>,
    /// Restoration after containment.
    #[serde(default)]
    pub restoration: Option<RestorationSpec>,
}

/// A checked playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// What triggers it.
    pub on: Vec<Trigger>,
    /// Least severity.
    pub severity: Severity,
    /// Delay.
    pub delay: SimDuration,
    /// Responses.
    pub actions: Vec<Response>,
}

/// A checked response.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// See [`ResponseSpec::FreezeBulk`].
    FreezeBulk(u32),
    /// See [`ResponseSpec::RevokeAccount`].
    RevokeAccount,
    /// See [`ResponseSpec::IsolateHes`].
    IsolateHes(SimDuration),
    /// See [`ResponseSpec::RollbackFirmware`].
    RollbackFirmware,
    /// See [`ResponseSpec::Reconnect`].
    Reconnect,
    /// See [`ResponseSpec::DispatchCrews`].
    DispatchCrews,
    /// See [`ResponseSpec::BlockSource`].
    BlockSource,
    /// See [`ResponseSpec::InspectMeters`].
    InspectMeters,
    /// See [`ResponseSpec::HuntJammer`].
    HuntJammer,
}

impl Response {
    /// Whether it acts on what the alert names, once per subject (the others act once).
    pub fn per_subject(&self) -> bool {
        matches!(
            self,
            Response::RevokeAccount | Response::BlockSource | Response::InspectMeters | Response::HuntJammer
        )
    }
}

/// Checked restoration settings.
#[derive(Debug, Clone)]
pub struct Restoration {
    /// Account.
    pub account: String,
    /// Meters per minute.
    pub per_minute: u32,
    /// Meters per request.
    pub batch: u32,
    /// Crews.
    pub crews: u32,
    /// One truck roll.
    pub truck_roll: SimDuration,
}

/// Detection and response, checked.
#[derive(Debug, Clone)]
pub struct Detection {
    /// How often the detectors look.
    pub every: SimDuration,
    /// Detectors.
    pub detectors: Vec<DetectorSpec>,
    /// Window of the command-rate detector (parsed).
    pub command_window: SimDuration,
    /// IDS rules.
    pub rules: RuleSet,
    /// Playbooks.
    pub playbooks: Vec<Playbook>,
    /// Restoration.
    pub restoration: Restoration,
}

/// A field that is wrong: its path below `defenses` and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct SpecError {
    /// Path, e.g. `detectors[2].share`.
    pub field: String,
    /// Why.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

fn duration(field: &str, text: &str) -> Result<SimDuration, SpecError> {
    SimDuration::parse(text).map_err(|e| err(field, e.to_string()))
}

fn share(field: String, v: f64) -> Result<(), SpecError> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(err(field, format!("must be a share above 0 and at most 1, not {v}")))
    }
}

/// The false-positive budget every detector (and the presets' IDS rules) is tuned to on a
/// typical week of utility work without attacks, per simulated day. The tests hold each
/// detector of the hardened preset to it on `scenarios/typical-week.ron` (on the full 100k-meter
/// week every detector raised none).
pub const FALSE_POSITIVES_PER_DAY: f64 = 0.5;

/// Names of every anomaly detector, in the order `metrics.json` lists them.
pub const DETECTOR_NAMES: [&str; 10] = {
    let mut names = [""; 10];
    let mut i = 0;
    while i < names.len() {
        names[i] = DetectorKind::ALL[i].name();
        i += 1;
    }
    names
};

impl DetectionSpec {
    /// Checks every value; `accounts` are the HES's account names.
    pub fn check(&self, accounts: &[String]) -> Result<Detection, SpecError> {
        let every = match &self.every {
            Some(t) => duration("every", t)?,
            None => SimDuration::from_secs(60),
        };
        if every < SimDuration::from_secs(1) || every > SimDuration::from_hours(1) {
            return Err(err("every", "must be between 1s and 1h"));
        }
        let mut command_window = SimDuration::from_hours(1);
        let mut seen = Vec::new();
        for (i, d) in self.detectors.iter().enumerate() {
            let at = |f: &str| format!("detectors[{i}].{f}");
            if seen.contains(&d.name()) {
                return Err(err(format!("detectors[{i}]"), format!("{} is listed twice", d.name())));
            }
            seen.push(d.name());
            if let Some(w) = d.check_fields(&at)? {
                command_window = w;
            }
        }
        let mut vars = Vars::ami();
        for (name, value) in &self.ids_vars {
            vars.set(name, value).map_err(|m| err(format!("ids_vars.{name}"), m))?;
        }
        let text = self.ids_rules.join("\n");
        let rules =
            RuleSet::parse(&text, &vars).map_err(|e| err(format!("ids_rules[{}]", e.line - 1), e.to_string()))?;
        let mut playbooks = Vec::new();
        for (i, p) in self.playbooks.iter().enumerate() {
            let at = |f: &str| format!("playbooks[{i}].{f}");
            if p.on.is_empty() {
                return Err(err(at("on"), "name at least one detector"));
            }
            let mut on = Vec::new();
            for (j, name) in p.on.iter().enumerate() {
                let trigger = match (DetectorKind::from_name(name), name.strip_prefix("ids:")) {
                    (Some(kind), _) => Some(Trigger::Detector(kind)),
                    _ if name == "ids" => Some(Trigger::AnyIdsRule),
                    (None, Some(sid)) => sid
                        .parse::<u32>()
                        .ok()
                        .filter(|&sid| rules.rules.iter().any(|r| r.sid == sid))
                        .map(Trigger::IdsRule),
                    (None, None) => None,
                };
                let Some(trigger) = trigger else {
                    return Err(err(
                        format!("playbooks[{i}].on[{j}]"),
                        format!(
                            "unknown detector {name:?}: one of {}, \"ids\", or \"ids:<sid>\" of a rule in ids_rules",
                            DETECTOR_NAMES.join(", ")
                        ),
                    ));
                };
                on.push(trigger);
            }
            if p.actions.is_empty() {
                return Err(err(at("actions"), "name at least one response"));
            }
            let delay = duration(&at("delay"), &p.delay)?;
            if delay > SimDuration::from_days(7) {
                return Err(err(at("delay"), "at most 7d"));
            }
            let mut actions = Vec::new();
            for (j, a) in p.actions.iter().enumerate() {
                actions.push(match a {
                    ResponseSpec::FreezeBulk(n) => Response::FreezeBulk(*n),
                    ResponseSpec::RevokeAccount => Response::RevokeAccount,
                    ResponseSpec::IsolateHes(t) => {
                        let d = duration(&format!("playbooks[{i}].actions[{j}]"), t)?;
                        if d < SimDuration::from_secs(60) || d > SimDuration::from_days(30) {
                            return Err(err(
                                format!("playbooks[{i}].actions[{j}]"),
                                "rebuild between 1m and 30d",
                            ));
                        }
                        Response::IsolateHes(d)
                    }
                    ResponseSpec::RollbackFirmware => Response::RollbackFirmware,
                    ResponseSpec::Reconnect => Response::Reconnect,
                    ResponseSpec::DispatchCrews => Response::DispatchCrews,
                    ResponseSpec::BlockSource => Response::BlockSource,
                    ResponseSpec::InspectMeters => Response::InspectMeters,
                    ResponseSpec::HuntJammer => Response::HuntJammer,
                });
            }
            playbooks.push(Playbook {
                on,
                severity: p.severity,
                delay,
                actions,
            });
        }
        let r = self.restoration.clone().unwrap_or_default();
        let needs_account = playbooks.iter().any(|p| {
            p.actions
                .iter()
                .any(|a| matches!(a, Response::Reconnect | Response::RollbackFirmware))
        });
        if needs_account && !accounts.contains(&r.account) {
            return Err(err(
                "restoration.account",
                format!(
                    "the HES has no account {:?} to reconnect and roll back with (accounts: {})",
                    r.account,
                    accounts.join(", ")
                ),
            ));
        }
        if r.per_minute == 0 || r.batch == 0 || r.crews == 0 {
            return Err(err("restoration", "per_minute, batch and crews must be at least 1"));
        }
        let truck_roll = duration("restoration.truck_roll", &r.truck_roll)?;
        if truck_roll < SimDuration::from_secs(60) {
            return Err(err("restoration.truck_roll", "at least 1m"));
        }
        Ok(Detection {
            every,
            detectors: self.detectors.clone(),
            command_window,
            rules,
            playbooks,
            restoration: Restoration {
                account: r.account,
                per_minute: r.per_minute,
                batch: r.batch,
                crews: r.crews,
                truck_roll,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Playbooks are triggered by typed sources: a detector, every IDS rule, or one rule
    /// by sid, never by comparing an alert's name with a prefix.
    #[test]
    fn playbook_triggers_match_alert_sources_by_type() {
        let spec = DetectionSpec {
            playbooks: vec![PlaybookSpec {
                on: vec!["command-rate".into(), "ids".into()],
                severity: Severity::Medium,
                delay: "10m".into(),
                actions: vec![ResponseSpec::FreezeBulk(10)],
            }],
            ..DetectionSpec::default()
        };
        let checked = spec.check(&[]).expect("valid");
        let on = &checked.playbooks[0].on;
        assert_eq!(on, &[Trigger::Detector(DetectorKind::CommandRate), Trigger::AnyIdsRule]);
        let fired = |source| on.iter().any(|t| t.fires_on(source));
        assert!(fired(AlertSource::Detector(DetectorKind::CommandRate)));
        assert!(fired(AlertSource::IdsRule(1_000_002)));
        assert!(!fired(AlertSource::Detector(DetectorKind::ZeroAtPeak)));
        assert!(Trigger::IdsRule(7).fires_on(AlertSource::IdsRule(7)));
        assert!(!Trigger::IdsRule(7).fires_on(AlertSource::IdsRule(8)));
        assert_eq!(AlertSource::IdsRule(7).to_string(), "ids:7");
        assert_eq!(
            AlertSource::Detector(DetectorKind::FrameCounter).to_string(),
            "frame-counter"
        );
        // A rule that is not in ids_rules, or a misspelt detector, is refused by path.
        for name in ["ids:7", "command_rate"] {
            let mut wrong = spec.clone();
            wrong.playbooks[0].on = vec![name.into()];
            let e = wrong.check(&[]).expect_err("refused");
            assert_eq!(e.field, "playbooks[0].on[0]");
        }
    }

    /// The command-rate window the scenario writes is the one the detector uses (it was once
    /// parsed, checked and then dropped for the default hour).
    #[test]
    fn the_command_rate_window_is_the_scenarios() {
        let spec = DetectionSpec {
            detectors: vec![serde_json::from_str(r#"{"CommandRate": {"window": "2h"}}"#).expect("a detector")],
            ..DetectionSpec::default()
        };
        assert_eq!(
            spec.check(&[]).expect("valid").command_window,
            SimDuration::from_hours(2)
        );
        assert_eq!(
            DetectionSpec::default().check(&[]).expect("valid").command_window,
            SimDuration::from_hours(1)
        );
    }

    /// Detectors are looked up by kind, not by a name someone could misspell: every variant
    /// has its own kind, and the names scenarios, alerts and playbooks use follow from it.
    #[test]
    fn every_detector_has_its_own_kind_and_name() {
        let variants = [
            "CommandRate",
            "ConsumptionBaseline",
            "ZeroAtPeak",
            "EnergyBalance",
            "MissingReadCluster",
            "FirmwareDrift",
            "FrameCounter",
            "UnknownDevice",
            "InventoryDrift",
            "FrequencyExcursion",
        ];
        for (variant, kind) in variants.iter().zip(DetectorKind::ALL) {
            let spec: DetectorSpec =
                serde_json::from_str(&format!("{{\"{variant}\": {{}}}}")).expect("defaults for every threshold");
            assert_eq!(spec.kind(), kind);
            assert_eq!(spec.name(), kind.name());
        }
        assert_eq!(
            DETECTOR_NAMES,
            [
                "command-rate",
                "consumption-baseline",
                "zero-at-peak",
                "energy-balance",
                "missing-read-cluster",
                "firmware-drift",
                "frame-counter",
                "unknown-device",
                "inventory-drift",
                "frequency-excursion",
            ]
        );
    }
}
