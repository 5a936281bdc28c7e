//! The measures of a run (`metrics.json`), computed from the engine's records and counters only.

use std::collections::BTreeMap;

use amirange_sim::config::{INTERVAL, SimConfig};
use amirange_sim::engine::Sim;
use amirange_sim::hes::CommandKind;
use amirange_sim::mdm::Detection;
use amirange_sim::model::{Cause, CustomerClass, LinkKind};
use amirange_sim::operations::PlanCounts;
use serde::Serialize;

use crate::round_to;

/// Every measure of a run.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Metrics {
    /// Meters in the run.
    pub meters: u64,
    /// 15-minute intervals simulated.
    pub intervals: u32,
    /// meters x intervals.
    pub meter_intervals: u64,
    /// Energy: true, as the MDM saw it in time, and as settled at the end.
    pub energy: EnergyMetrics,
    /// Meter reading, HES ingestion and MDM VEE.
    pub reads: ReadMetrics,
    /// Supply to customers.
    pub supply: SupplyMetrics,
    /// Control plane, ground truth and alerts.
    pub control_plane: ControlPlaneMetrics,
    /// Legitimate operations (absent when they are off).
    pub operations: Option<OperationsMetrics>,
    /// Feeder outages.
    pub outages: OutageMetrics,
    /// The fleet at the end: firmware, keys, failures, billing.
    pub fleet: FleetMetrics,
    /// The bulk system's frequency: disturbances and under-frequency load shedding.
    pub frequency: FrequencyMetrics,
    /// Per attack, in the scenario's order: what it is, whether it worked, its blast radius.
    pub attacks: Vec<crate::attack_metrics::AttackMetrics>,
    /// Per detector (anomaly detectors, then IDS rules as `ids:<sid>`): alerts scored against
    /// ground truth.
    pub detectors: Vec<crate::detection::DetectorScore>,
    /// Detection and response over the run: alerts per day, responses, restoration, the cost in
    /// delayed or refused legitimate commands.
    pub defense: crate::detection::DefenseMetrics,
}

impl Metrics {
    /// Takes in the detection scores.
    pub fn score(&mut self, scored: crate::detection::Scored) {
        for (a, d) in self.attacks.iter_mut().zip(scored.attacks) {
            a.detected = d.detected;
            a.time_to_detect_s = d.time_to_detect_s;
            a.first_detector = d.first_detector;
        }
        self.detectors = scored.detectors;
        self.defense = scored.defense;
    }

    /// Takes false positives per day from the baseline twin, where every alert is false.
    pub fn false_positives_from(&mut self, twin: &Metrics) {
        for d in &mut self.detectors {
            d.false_positives_per_day = twin
                .detectors
                .iter()
                .find(|t| t.name == d.name)
                .map_or(0.0, |t| t.false_positives_per_day);
        }
        self.defense.false_positives_per_day = twin.defense.false_positives_per_day;
    }
}

/// The bulk system's frequency over the run.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct FrequencyMetrics {
    /// Nominal frequency, Hz.
    pub nominal_hz: f64,
    /// Load of the interconnection the area belongs to, MW (configured, or the area's expected
    /// peak over its share of the system).
    pub system_mw: f64,
    /// Lowest frequency, Hz.
    pub min_hz: f64,
    /// Highest frequency, Hz.
    pub max_hz: f64,
    /// Largest rate of change of frequency, Hz/s.
    pub max_rocof_hz_s: f64,
    /// Disturbances: sudden load steps until frequency settled again.
    pub disturbances: u64,
    /// Load shed by under-frequency relays across the system, MW (summed over stage trips).
    pub ufls_shed_mw: f64,
    /// UFLS stage trips.
    pub ufls_stage_trips: u64,
}

/// Frequency measures of a run.
fn frequency(sim: &Sim) -> FrequencyMetrics {
    let f = sim.frequency();
    let nominal = f.config().nominal_hz;
    let ev = &f.events;
    FrequencyMetrics {
        nominal_hz: nominal,
        system_mw: round_to(f.system_mw, 6),
        min_hz: round_to(ev.iter().map(|e| e.nadir_hz).fold(nominal, f64::min), 6),
        max_hz: round_to(ev.iter().map(|e| e.peak_hz).fold(nominal, f64::max), 6),
        max_rocof_hz_s: round_to(ev.iter().map(|e| e.rocof_hz_s).fold(0.0, f64::max), 6),
        disturbances: ev.len() as u64,
        ufls_shed_mw: round_to(ev.iter().map(|e| e.shed_mw).sum(), 6),
        ufls_stage_trips: ev.iter().map(|e| e.stages.len() as u64).sum(),
    }
}

/// Energy measures.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct EnergyMetrics {
    /// True energy delivered, kWh.
    pub true_kwh: f64,
    /// Energy the MDM held at each interval's first read cycle (actual plus estimated), kWh.
    pub reported_kwh: f64,
    /// Energy the MDM holds at the end of the run, kWh.
    pub settled_kwh: f64,
    /// (reported - true) / true, percent.
    pub reported_error_pct: f64,
    /// (settled - true) / true, percent. Not zero: the last cycle's estimates and whole-Wh
    /// register resolution remain.
    pub settled_error_pct: f64,
    /// Energy the feeder-head SCADA measured over all feeders (true load plus technical
    /// losses), kWh.
    pub scada_kwh: f64,
    /// Technical losses, (SCADA - true) / SCADA, percent.
    pub losses_pct: f64,
    /// Highest true load over an interval, kW.
    pub peak_true_kw: f64,
    /// Start of the interval with the highest true load.
    pub peak_true_at: String,
    /// Lowest true load over an interval, kW.
    pub min_true_kw: f64,
    /// Per customer class.
    #[schemars(schema_with = "shape::by_class")]
    pub by_class: BTreeMap<String, ClassEnergy>,
}

/// Energy of one customer class.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ClassEnergy {
    /// Meters of the class.
    pub meters: u64,
    /// True energy, kWh.
    pub true_kwh: f64,
    /// Highest true load of the class over an interval, kW.
    pub peak_true_kw: f64,
    /// Configured mean annual consumption per premise, kWh.
    pub configured_mean_annual_kwh: f64,
    /// Mean of the annual consumption drawn for the class's premises, kWh.
    pub drawn_mean_annual_kwh: f64,
}

/// Reading and VEE measures.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ReadMetrics {
    /// Interval values that arrived in their first read cycle.
    pub on_time: u64,
    /// Interval values missing at their first read cycle.
    pub missing: u64,
    /// Interval values the MDM estimated at the first cycle (missing or failed validation).
    pub estimated: u64,
    /// Missing intervals recovered later from meters' memory.
    pub backfilled: u64,
    /// Missing intervals older than the meter's memory, reconciled from the register.
    pub unrecoverable: u64,
    /// Readings or deliveries that failed validation.
    pub validation_flags: u64,
    /// on_time / meter_intervals, percent.
    pub on_time_pct: f64,
    /// Mean absolute error of estimates that were later replaced by actual values, relative to
    /// the actual energy, percent.
    pub estimation_error_pct: f64,
    /// Per link kind.
    #[schemars(schema_with = "shape::by_link")]
    pub by_link: BTreeMap<String, LinkMetrics>,
}

/// Reading over one link kind.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct LinkMetrics {
    /// Meters on the link kind.
    pub meters: u64,
    /// Read attempts.
    pub attempts: u64,
    /// Attempts delivered within the deadline.
    pub successes: u64,
    /// Attempts that answered after the deadline.
    pub late: u64,
    /// Attempts lost to a collector backhaul outage.
    pub backhaul_lost: u64,
    /// Attempts at meters with no path (orphans).
    pub unreachable: u64,
    /// Successful reads of mesh meters over their cellular fallback (counted under mesh).
    pub via_fallback: u64,
    /// successes / attempts, percent.
    pub success_pct: f64,
    /// Mean latency of answered attempts, ms.
    pub mean_latency_ms: f64,
    /// Largest latency of an answered attempt, ms.
    pub max_latency_ms: f64,
    /// Meter-days of the link kind: one per meter for every civil day that ended in the run.
    pub meter_days: u64,
    /// Daily read rate: the share of meter-days on which the meter's register and intervals
    /// reached the HES (at least one read delivered from a read cycle of that day, by the
    /// cycle that closes at the day's end), percent.
    pub daily_read_pct: f64,
}

/// Supply measures.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct SupplyMetrics {
    /// Customers (meters).
    pub customers: u64,
    /// Fewest customers with supply at an interval end.
    pub min_customers_connected: u64,
    /// Customer-minutes without supply, all causes.
    pub customer_minutes_interrupted: f64,
    /// Energy not served, all causes, kWh.
    pub kwh_not_served: f64,
    /// Per cause (`operation`, `outage`, `attack`).
    #[schemars(schema_with = "shape::by_cause")]
    pub by_cause: BTreeMap<String, CauseSupply>,
    /// Critical facilities (hospitals, water, emergency services).
    pub critical_facilities: CriticalSupply,
    /// Energy demand response kept premises from using, kWh.
    pub dr_curtailed_kwh: f64,
}

/// Supply measures of one cause.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CauseSupply {
    /// Most customers without supply from this cause at an interval end.
    pub peak_customers_off: u64,
    /// Customer-minutes without supply.
    pub customer_minutes_interrupted: f64,
    /// Energy the premises would have used meanwhile, kWh.
    pub kwh_not_served: f64,
    /// Critical facilities that lost supply.
    pub critical_facilities_hit: u64,
    /// Their minutes without supply, summed.
    pub critical_minutes: f64,
}

/// Critical facilities without supply.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CriticalSupply {
    /// Critical facilities in the run.
    pub facilities: u64,
    /// Those that lost supply at some point.
    pub hit: u64,
    /// Most without supply at an interval end.
    pub peak_off: u64,
    /// The longest any was without supply, minutes.
    pub longest_minutes: f64,
    /// The ten longest: meter, facility kind, minutes, and the cause of most of them.
    pub worst: Vec<CriticalHit>,
}

/// One critical facility's time without supply.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CriticalHit {
    /// Meter number.
    pub meter: u32,
    /// Facility kind.
    pub facility: String,
    /// Minutes without supply.
    pub minutes: f64,
    /// The cause of most of them.
    pub cause: String,
}

/// Control-plane measures.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ControlPlaneMetrics {
    /// Events applied (inputs and internal control-plane events).
    pub events: u64,
    /// Ground-truth records.
    pub truth_records: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Requests to the HES (audit records).
    pub requests: u64,
    /// Of which refused.
    pub refused: u64,
    /// Messages sent to meters (attempts included).
    pub messages: u64,
    /// Per command kind.
    #[schemars(schema_with = "shape::by_kind")]
    pub by_kind: BTreeMap<String, CommandMetrics>,
    /// Seconds from the HES sending a command to the meter executing it, per link kind.
    #[schemars(schema_with = "shape::by_link_spread")]
    pub execute_seconds_by_link: BTreeMap<String, Spread>,
}

/// What became of the commands of one kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CommandMetrics {
    /// Requests.
    pub requests: u64,
    /// Requests refused.
    pub refused: u64,
    /// Meters targeted by accepted requests.
    pub targets: u64,
    /// Meters that executed.
    pub executed: u64,
    /// Meters whose acknowledgement came back.
    pub acked: u64,
    /// Meters that refused (failed verification).
    pub rejected: u64,
    /// Meters given up on.
    pub failed: u64,
    /// Retries sent.
    pub retries: u64,
}

/// Median, 95th percentile and largest of a set of durations, seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Spread {
    /// How many.
    pub n: u64,
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    fn of(mut v: Vec<u64>) -> Spread {
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_unstable();
        let at = |q: f64| round_to(v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1e6, 6);
        Spread {
            n: v.len() as u64,
            median: at(0.5),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

/// Legitimate operations: what was planned and what the HES executed.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct OperationsMetrics {
    /// What the plan scheduled.
    #[schemars(schema_with = "shape::plan_counts")]
    pub planned: PlanCounts,
    /// Meters that executed commands, per purpose and kind (`non-payment disconnect`, ...).
    pub executed: BTreeMap<String, u64>,
}

/// Feeder outages and how the MDM detected them.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct OutageMetrics {
    /// Feeder and transformer outages that began.
    pub outages: u64,
    /// Of which begun by protection tripping overloaded equipment.
    pub protection_trips: u64,
    /// Critical facilities that rode through a loss of their own supply on their backup (a
    /// second feed or a standby generator) at some point.
    pub backup_supply_facilities: u64,
    /// Their time on the backup, summed over the facilities, hours.
    pub backup_supply_hours: f64,
    /// Customers on those feeders and transformers.
    pub customers_affected: u64,
    /// Outages restored within the run.
    pub restored: u64,
    /// Mean duration of restored outages, minutes.
    pub mean_duration_minutes: f64,
    /// Outages the MDM detected.
    pub detected: u64,
    /// From last gasps.
    pub detected_by_last_gasp: u64,
    /// From meters going silent.
    pub detected_by_missing_reads: u64,
    /// Time to detect, seconds.
    pub detection_seconds: Spread,
}

/// The fleet's state at the end.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct FleetMetrics {
    /// Meters per firmware version.
    pub firmware: BTreeMap<String, u64>,
    /// Distinct keys in the fleet at the end (key group and version).
    pub distinct_keys: u64,
    /// Most meters sharing one key at the end: what extracting one key unlocks at worst.
    pub largest_key_group: u64,
    /// Meters whose key was rotated at least once.
    pub keys_rotated: u64,
    /// Meters whose communication module is failed at the end.
    pub meters_failed: u64,
    /// Meters with a tamper flag set.
    pub tamper_flagged: u64,
    /// Meters billed under time-of-use.
    pub time_of_use_meters: u64,
    /// Billing determinants over all meters: peak energy, kWh.
    pub billed_peak_kwh: f64,
    /// Off-peak and flat energy, kWh.
    pub billed_offpeak_kwh: f64,
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        round_to(100.0 * part / whole, 6)
    }
}

/// The shapes in `metrics.json` that the derived schema cannot see: maps keyed by a fixed set
/// of names, and a type from the engine. A sweep checks its measures against the whole shape
/// before any run (the root package's `sweep::check_measure`).
mod shape {
    use amirange_sim::hes::CommandKind;
    use amirange_sim::model::{Cause, CustomerClass, LinkKind};
    use amirange_sim::operations::PlanCounts;
    use schemars::{JsonSchema, Schema, SchemaGenerator};
    use serde_json::{Map, Value};

    /// An object whose keys are `names`, each holding a `T`.
    fn keyed<'a, T: JsonSchema>(generator: &mut SchemaGenerator, names: impl IntoIterator<Item = &'a str>) -> Schema {
        let value = generator.subschema_for::<T>().to_value();
        let properties: Map<String, Value> = names.into_iter().map(|n| (n.to_owned(), value.clone())).collect();
        let mut object = Map::new();
        object.insert("type".into(), "object".into());
        object.insert("properties".into(), Value::Object(properties));
        object.insert("additionalProperties".into(), false.into());
        Schema::from(object)
    }

    /// `energy.by_class`: every customer class.
    pub fn by_class(generator: &mut SchemaGenerator) -> Schema {
        keyed::<super::ClassEnergy>(generator, CustomerClass::ALL.map(CustomerClass::name))
    }

    /// `reads.by_link`: every link kind.
    pub fn by_link(generator: &mut SchemaGenerator) -> Schema {
        keyed::<super::LinkMetrics>(generator, LinkKind::ALL.map(LinkKind::name))
    }

    /// `control_plane.execute_seconds_by_link`: every link kind.
    pub fn by_link_spread(generator: &mut SchemaGenerator) -> Schema {
        keyed::<super::Spread>(generator, LinkKind::ALL.map(LinkKind::name))
    }

    /// `supply.by_cause`: every cause.
    pub fn by_cause(generator: &mut SchemaGenerator) -> Schema {
        keyed::<super::CauseSupply>(generator, Cause::ALL.map(Cause::name))
    }

    /// `control_plane.by_kind`: every command kind (a kind the run never requested is absent).
    pub fn by_kind(generator: &mut SchemaGenerator) -> Schema {
        keyed::<super::CommandMetrics>(generator, CommandKind::NAMES)
    }

    /// `operations.planned`: the engine's plan counts, by the shape of a serialized one.
    pub fn plan_counts(generator: &mut SchemaGenerator) -> Schema {
        let generator = SchemaGenerator::new(generator.settings().clone());
        // Serializing plain counts does not fail; were it to, any shape is accepted here.
        generator
            .into_root_schema_for_value(&PlanCounts::default())
            .unwrap_or_default()
    }
}

/// kW over one interval from Wh in it.
pub fn wh_to_kw(wh: f64) -> f64 {
    wh / INTERVAL.as_hours_f64() / 1000.0
}

/// Computes the metrics of a finished run: `config` is the configuration the engine was built
/// with (its start and its classes' configured consumption), `meters` the scenario's number of
/// meters, `planned` what the utility's operations planned (absent when they are off) and
/// `attacks` the attacks' reports, in the scenario's order. Detection is scored separately
/// ([`crate::detection::score`], taken in by [`Metrics::score`]).
pub fn compute(
    sim: &Sim,
    config: &SimConfig,
    meters: u64,
    planned: Option<&PlanCounts>,
    attacks: &[amirange_attackers::Report],
) -> Metrics {
    let records = sim.records();
    let counters = sim.counters();
    let rows = &records.intervals;
    let true_wh: f64 = rows.iter().map(|r| r.true_mwh as f64 / 1000.0).sum();
    let reported_wh: f64 = rows.iter().map(|r| r.reported_wh as f64).sum();
    let settled_wh: f64 = rows.iter().map(|r| r.settled_wh as f64).sum();
    let (peak_idx, peak) = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.true_mwh))
        .max_by_key(|&(i, v)| (v, std::cmp::Reverse(i)))
        .unwrap_or((0, 0));
    let min = rows.iter().map(|r| r.true_mwh).min().unwrap_or(0);
    let mut by_class = BTreeMap::new();
    for class in CustomerClass::ALL {
        let c = class.index();
        let n = counters.meters_of(class);
        let class_peak = rows.iter().map(|r| r.true_mwh_by_class[c]).max().unwrap_or(0);
        by_class.insert(
            class.name().to_owned(),
            ClassEnergy {
                meters: n,
                true_kwh: round_to(rows.iter().map(|r| r.true_mwh_by_class[c] as f64).sum::<f64>() / 1e6, 6),
                peak_true_kw: round_to(wh_to_kw(class_peak as f64 / 1000.0), 6),
                configured_mean_annual_kwh: config.classes[c].mean_annual_kwh,
                drawn_mean_annual_kwh: if n == 0 {
                    0.0
                } else {
                    round_to(counters.annual_wh_by_class[c] as f64 / 1000.0 / n as f64, 6)
                },
            },
        );
    }
    let sum = |f: fn(&amirange_sim::records::IntervalRow) -> u64| rows.iter().map(f).sum::<u64>();
    let on_time = sum(|r| r.reads_on_time);
    let meter_intervals = meters * rows.len() as u64;
    let mut by_link = BTreeMap::new();
    for kind in LinkKind::ALL {
        let s = counters.link(kind);
        let answered = s.successes + s.late;
        by_link.insert(
            kind.name().to_owned(),
            LinkMetrics {
                meters: counters.meters_by_link[kind.index()],
                attempts: s.attempts,
                successes: s.successes,
                late: s.late,
                backhaul_lost: s.backhaul_lost,
                unreachable: s.unreachable,
                via_fallback: s.via_fallback,
                success_pct: pct(s.successes as f64, s.attempts as f64),
                mean_latency_ms: if answered == 0 {
                    0.0
                } else {
                    round_to(s.latency_us_sum as f64 / answered as f64 / 1000.0, 6)
                },
                max_latency_ms: round_to(s.latency_us_max as f64 / 1000.0, 6),
                meter_days: s.meter_days,
                daily_read_pct: pct(s.meter_days_read as f64, s.meter_days as f64),
            },
        );
    }
    let scada_wh = rows.iter().map(|r| r.scada_mwh as f64).sum::<f64>() / 1000.0;
    let start = config.start;
    Metrics {
        meters,
        intervals: rows.len() as u32,
        meter_intervals,
        energy: EnergyMetrics {
            true_kwh: round_to(true_wh / 1000.0, 6),
            reported_kwh: round_to(reported_wh / 1000.0, 6),
            settled_kwh: round_to(settled_wh / 1000.0, 6),
            reported_error_pct: pct(reported_wh - true_wh, true_wh),
            settled_error_pct: pct(settled_wh - true_wh, true_wh),
            scada_kwh: round_to(scada_wh / 1000.0, 6),
            losses_pct: pct(scada_wh - true_wh, scada_wh),
            peak_true_kw: round_to(wh_to_kw(peak as f64 / 1000.0), 6),
            peak_true_at: start.plus(interval_offset(peak_idx)).to_string(),
            min_true_kw: round_to(wh_to_kw(min as f64 / 1000.0), 6),
            by_class,
        },
        reads: ReadMetrics {
            on_time,
            missing: sum(|r| r.reads_missing),
            estimated: sum(|r| r.intervals_estimated),
            backfilled: sum(|r| r.intervals_backfilled),
            unrecoverable: counters.intervals_unrecoverable,
            validation_flags: sum(|r| r.validation_flags),
            on_time_pct: pct(on_time as f64, meter_intervals as f64),
            estimation_error_pct: pct(
                counters.estimation_abs_error_wh as f64,
                counters.estimation_actual_wh as f64,
            ),
            by_link,
        },
        supply: supply(sim, meters),
        control_plane: control_plane(sim),
        operations: planned.map(|p| operations(sim, p)),
        outages: outages(records),
        fleet: fleet(sim),
        frequency: frequency(sim),
        attacks: crate::attack_metrics::compute(sim, config.start, attacks),
        detectors: Vec::new(),
        defense: crate::detection::DefenseMetrics::default(),
    }
}

fn supply(sim: &Sim, meters: u64) -> SupplyMetrics {
    let records = sim.records();
    let rows = &records.intervals;
    let net = sim.network();
    let mut by_cause = BTreeMap::new();
    for cause in Cause::ALL {
        let c = cause.index();
        let hit: Vec<u64> = records
            .critical_off_us
            .values()
            .map(|v| v[c])
            .filter(|&us| us > 0)
            .collect();
        by_cause.insert(
            cause.name().to_owned(),
            CauseSupply {
                peak_customers_off: rows.iter().map(|r| r.customers_off_by_cause[c]).max().unwrap_or(0),
                customer_minutes_interrupted: round_to(
                    rows.iter().map(|r| r.interrupted_us_by_cause[c]).sum::<u64>() as f64 / 60e6,
                    6,
                ),
                kwh_not_served: round_to(
                    rows.iter().map(|r| r.not_served_mwh_by_cause[c]).sum::<u64>() as f64 / 1e6,
                    6,
                ),
                critical_facilities_hit: hit.len() as u64,
                critical_minutes: round_to(hit.iter().sum::<u64>() as f64 / 60e6, 6),
            },
        );
    }
    let mut worst: Vec<CriticalHit> = records
        .critical_off_us
        .iter()
        .map(|(&meter, v)| {
            let (c, _) = v
                .iter()
                .enumerate()
                .max_by_key(|&(i, us)| (*us, std::cmp::Reverse(i)))
                .unwrap_or((0, &0));
            CriticalHit {
                meter,
                facility: net.meters[meter as usize]
                    .facility
                    .map_or("critical", |f| f.name())
                    .to_owned(),
                minutes: round_to(v.iter().sum::<u64>() as f64 / 60e6, 6),
                cause: Cause::ALL[c].name().to_owned(),
            }
        })
        .collect();
    worst.sort_by(|a, b| b.minutes.total_cmp(&a.minutes).then(a.meter.cmp(&b.meter)));
    let longest = worst.first().map_or(0.0, |w| w.minutes);
    worst.truncate(10);
    SupplyMetrics {
        customers: meters,
        min_customers_connected: rows.iter().map(|r| r.customers_connected).min().unwrap_or(meters),
        customer_minutes_interrupted: round_to(rows.iter().map(|r| r.interrupted_us).sum::<u64>() as f64 / 60e6, 6),
        kwh_not_served: round_to(
            rows.iter()
                .map(|r| r.not_served_mwh_by_cause.iter().sum::<u64>())
                .sum::<u64>() as f64
                / 1e6,
            6,
        ),
        by_cause,
        critical_facilities: CriticalSupply {
            facilities: sim.counters().meters_of(CustomerClass::Critical),
            hit: records.critical_off_us.len() as u64,
            peak_off: rows.iter().map(|r| r.critical_off).max().unwrap_or(0),
            longest_minutes: longest,
            worst,
        },
        dr_curtailed_kwh: round_to(rows.iter().map(|r| r.dr_curtailed_mwh).sum::<u64>() as f64 / 1e6, 6),
    }
}

fn control_plane(sim: &Sim) -> ControlPlaneMetrics {
    let records = sim.records();
    let hes = sim.hes();
    let mut by_kind: BTreeMap<String, CommandMetrics> = BTreeMap::new();
    for a in &hes.audit {
        let k = by_kind.entry(a.kind.name().to_owned()).or_default();
        k.requests += 1;
        if a.refused.is_some() {
            k.refused += 1;
            continue;
        }
        k.targets += u64::from(a.targets);
        k.executed += u64::from(a.executed);
        k.acked += u64::from(a.acked);
        k.rejected += u64::from(a.rejected);
        k.failed += u64::from(a.failed);
        k.retries += u64::from(a.retries);
    }
    let mut times: [Vec<u64>; 3] = Default::default();
    for j in &hes.jobs {
        let kind = hes.audit[j.command as usize].kind;
        if matches!(kind, CommandKind::FirmwareUpdate { .. }) {
            continue;
        }
        if let Some(done) = j.executed {
            times[sim.network().meters[j.meter as usize].link.index()].push(done.0 - j.first_sent.0);
        }
    }
    ControlPlaneMetrics {
        events: sim.counters().events,
        truth_records: records.truth.len() as u64,
        alerts: records.alerts.len() as u64,
        requests: hes.audit.len() as u64,
        refused: hes.audit.iter().filter(|a| a.refused.is_some()).count() as u64,
        messages: records.messages.len() as u64,
        by_kind,
        execute_seconds_by_link: LinkKind::ALL
            .iter()
            .zip(times)
            .map(|(k, v)| (k.name().to_owned(), Spread::of(v)))
            .collect(),
    }
}

fn operations(sim: &Sim, planned: &PlanCounts) -> OperationsMetrics {
    let mut executed = BTreeMap::new();
    for a in sim.hes().audit.iter().filter(|a| a.cause == Cause::Operation) {
        *executed.entry(format!("{} {}", a.purpose, a.kind.name())).or_insert(0) += u64::from(a.executed);
    }
    OperationsMetrics {
        planned: planned.clone(),
        executed,
    }
}

fn outages(records: &amirange_sim::records::RunRecords) -> OutageMetrics {
    let o = &records.outages;
    let restored: Vec<u64> = o.iter().filter_map(|x| x.end.map(|e| e.0 - x.start.0)).collect();
    let detected = |d: Detection| o.iter().filter(|x| x.detected_by == Some(d)).count() as u64;
    OutageMetrics {
        outages: o.len() as u64,
        protection_trips: records.grid_events.iter().filter(|e| e.outage.is_some()).count() as u64,
        backup_supply_facilities: records.critical_on_backup_us.values().filter(|&&us| us > 0).count() as u64,
        backup_supply_hours: round_to(records.critical_on_backup_us.values().sum::<u64>() as f64 / 3.6e9, 6),
        customers_affected: o.iter().map(|x| u64::from(x.customers)).sum(),
        restored: restored.len() as u64,
        mean_duration_minutes: if restored.is_empty() {
            0.0
        } else {
            round_to(restored.iter().sum::<u64>() as f64 / restored.len() as f64 / 60e6, 6)
        },
        detected: o.iter().filter(|x| x.detected_at.is_some()).count() as u64,
        detected_by_last_gasp: detected(Detection::LastGasp),
        detected_by_missing_reads: detected(Detection::MissingReads),
        detection_seconds: Spread::of(
            o.iter()
                .filter_map(|x| x.detected_at.map(|d| d.0 - x.start.0))
                .collect(),
        ),
    }
}

fn fleet(sim: &Sim) -> FleetMetrics {
    let f = sim.fleet();
    let mut firmware = BTreeMap::new();
    for (image, n) in f.images.iter().zip(f.firmware_census()) {
        *firmware.entry(image.version.clone()).or_insert(0) += n;
    }
    let (mut tou, mut peak, mut offpeak) = (0u64, 0u64, 0u64);
    for m in 0..sim.n_meters() as u32 {
        if let Some(r) = sim.mdm_record(m) {
            tou += u64::from(r.tariff == 1);
            peak += r.peak_wh;
            offpeak += r.offpeak_wh;
        }
    }
    let mut keys: Vec<(u32, u16)> = f.key_group.iter().copied().zip(f.key_version.iter().copied()).collect();
    keys.sort_unstable();
    let groups: Vec<u64> = keys.chunk_by(|a, b| a == b).map(|g| g.len() as u64).collect();
    FleetMetrics {
        firmware,
        distinct_keys: groups.len() as u64,
        largest_key_group: groups.iter().copied().max().unwrap_or(0),
        keys_rotated: f.key_version.iter().filter(|&&v| v > 0).count() as u64,
        meters_failed: f.failed.iter().filter(|&&x| x).count() as u64,
        tamper_flagged: f.tamper.iter().filter(|&&t| t != 0).count() as u64,
        time_of_use_meters: tou,
        billed_peak_kwh: round_to(peak as f64 / 1000.0, 6),
        billed_offpeak_kwh: round_to(offpeak as f64 / 1000.0, 6),
    }
}

/// Offset of interval `i` from the start.
pub fn interval_offset(i: usize) -> amirange_sim::time::SimDuration {
    amirange_sim::time::SimDuration::from_micros(INTERVAL.as_micros() * i as u64)
}

#[cfg(test)]
mod tests {
    use amirange_sim::mdm::OutageRecord;
    use amirange_sim::records::RunRecords;

    use super::*;
    use crate::testing::{at_s, config, cut, world};

    #[test]
    fn spreads_are_the_median_p95_and_largest_in_seconds() {
        let s = Spread::of((1..=100).map(|s| s * 1_000_000).collect());
        assert_eq!((s.n, s.median, s.p95, s.max), (100, 51.0, 95.0, 100.0));
        let one = Spread::of(vec![2_500_000]);
        assert_eq!((one.n, one.median, one.p95, one.max), (1, 2.5, 2.5, 2.5));
        assert_eq!(Spread::of(Vec::new()), Spread::default());
    }

    #[test]
    fn shares_and_units_are_what_the_docs_say() {
        assert_eq!(pct(1.0, 3.0), 33.333333);
        assert_eq!(pct(5.0, 0.0), 0.0, "no whole, no share");
        // 1 kWh in a quarter hour is a 4 kW mean.
        assert_eq!(wh_to_kw(1000.0), 4.0);
        assert_eq!(interval_offset(3).as_micros(), 45 * 60 * 1_000_000);
    }

    #[test]
    fn outages_count_restorations_and_how_the_mdm_detected_them() {
        let outage =
            |start_min: u64, end_min: Option<u64>, customers, detected: Option<(u64, Detection)>| OutageRecord {
                feeder: 0,
                transformer: None,
                cause: Cause::Outage,
                start: at_s(start_min * 60),
                end: end_min.map(|m| at_s(m * 60)),
                customers,
                critical: 0,
                last_gasps: 0,
                detected_at: detected.map(|(m, _)| at_s(m * 60)),
                detected_by: detected.map(|(_, d)| d),
            };
        let records = RunRecords {
            outages: vec![
                outage(0, Some(30), 10, Some((1, Detection::LastGasp))),
                outage(0, Some(90), 5, Some((5, Detection::MissingReads))),
                outage(10, None, 2, None),
            ],
            ..RunRecords::default()
        };
        let o = outages(&records);
        assert_eq!((o.outages, o.customers_affected, o.restored, o.detected), (3, 17, 2, 2));
        assert_eq!(o.mean_duration_minutes, 60.0, "restored outages only");
        assert_eq!((o.detected_by_last_gasp, o.detected_by_missing_reads), (1, 1));
        assert_eq!(
            (
                o.detection_seconds.n,
                o.detection_seconds.median,
                o.detection_seconds.max
            ),
            (2, 300.0, 300.0)
        );
        let none = outages(&RunRecords::default());
        assert_eq!((none.outages, none.mean_duration_minutes), (0, 0.0));
    }

    /// Time on backup supply: a hospital with a standby generator rides through two hours of
    /// its feeder being out on the generator, and `outages` shows one facility and two hours
    /// on backup; without the outage, none.
    #[test]
    fn facilities_riding_through_an_outage_on_their_backup_are_counted_with_their_hours() {
        use amirange_sim::engine::{Input, Sim};
        use amirange_sim::network::{BackupSupply, LinkParams, Network};
        let run = |outage: bool| {
            let mut network = Network::small(
                LinkParams::typical(),
                (0..4).map(|i| {
                    let class = if i == 0 {
                        CustomerClass::Critical
                    } else {
                        CustomerClass::Residential
                    };
                    (class, amirange_sim::model::LinkKind::Cellular)
                }),
            );
            network.backup_supplies.push((0, BackupSupply::StandbyGenerator));
            let mut sim = Sim::new(config(4), network).expect("a valid world");
            if outage {
                for (hour, energized) in [(1, false), (3, true)] {
                    let input = Input::FeederSupply {
                        feeder: 0,
                        energized,
                        cause: Cause::Outage,
                    };
                    sim.schedule(at_s(hour * 3_600), input).expect("in the run");
                }
            }
            sim.run_to_end().expect("runs");
            outages(sim.records())
        };
        let out = run(true);
        assert_eq!(out.backup_supply_facilities, 1);
        assert!(
            (out.backup_supply_hours - 2.0).abs() < 1e-6,
            "{}",
            out.backup_supply_hours
        );
        let quiet = run(false);
        assert_eq!((quiet.backup_supply_facilities, quiet.backup_supply_hours), (0, 0.0));
    }

    /// An hour of four meters, one of which an attack cuts off at minute 10 and the utility
    /// another at minute 20 until minute 50: the supply measures split the interruption by
    /// cause, and the rest of the run's measures add up.
    #[test]
    fn a_run_splits_interruptions_by_cause_and_counts_every_interval() {
        let mut sim = world(4, 1);
        cut(&mut sim, 0, Cause::Attack(0), 600, None);
        cut(&mut sim, 1, Cause::Operation, 1200, Some(3000));
        sim.run_to_end().expect("runs");
        let m = compute(&sim, &config(1), 4, None, &[]);
        assert_eq!((m.meters, m.intervals, m.meter_intervals), (4, 4, 16));
        let attack = &m.supply.by_cause["attack"];
        assert_eq!(attack.customer_minutes_interrupted, 50.0);
        assert_eq!(attack.peak_customers_off, 1);
        assert!(attack.kwh_not_served > 0.0, "{attack:?}");
        let operation = &m.supply.by_cause["operation"];
        assert_eq!(operation.customer_minutes_interrupted, 30.0);
        assert_eq!(m.supply.by_cause["outage"].customer_minutes_interrupted, 0.0);
        assert_eq!(m.supply.customer_minutes_interrupted, 80.0);
        assert_eq!(m.supply.min_customers_connected, 2);
        let by_cause_kwh: f64 = m.supply.by_cause.values().map(|c| c.kwh_not_served).sum();
        assert!((m.supply.kwh_not_served - by_cause_kwh).abs() < 1e-5);
        // Energy: every class listed, the meters all residential, the peak inside the run.
        assert!(m.energy.true_kwh > 0.0);
        assert_eq!(m.energy.by_class.len(), CustomerClass::ALL.len());
        assert_eq!(m.energy.by_class["residential"].meters, 4);
        assert!(m.energy.peak_true_kw >= m.energy.min_true_kw);
        assert!(
            m.energy.peak_true_at.starts_with("2026-01-15"),
            "{}",
            m.energy.peak_true_at
        );
        // Reads: the share on time is of the meter-intervals.
        assert!(m.reads.on_time <= m.meter_intervals);
        assert_eq!(m.reads.on_time_pct, pct(m.reads.on_time as f64, 16.0));
        assert_eq!(m.reads.by_link["cellular"].meters, 4);
        // Nothing else happened.
        assert!(m.operations.is_none() && m.attacks.is_empty() && m.detectors.is_empty());
        assert_eq!(m.outages.outages, 0);
        let f = &m.frequency;
        assert_eq!(f.nominal_hz, sim.frequency().config().nominal_hz);
        assert!(f.min_hz <= f.nominal_hz && f.nominal_hz <= f.max_hz, "{f:?}");
        assert_eq!(f.disturbances as usize, sim.frequency().events.len());
        assert_eq!(m.control_plane.requests, 0, "relays set directly, not through the HES");
    }
}
