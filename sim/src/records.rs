//! First-class records of a run: the per-interval time series, ground truth, and alerts.
//!
//! Ground truth says what really happened (an attack step, which entities it touched); alerts say
//! what a detector believed. Keeping both as plain records, in time order, is what lets every
//! alert be scored against truth later.

use std::net::Ipv4Addr;

use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::mdm::OutageRecord;
use crate::model::{Cause, CustomerClass, LinkKind};
use crate::network::Fate;
use crate::time::SimTime;

/// One metering interval's aggregates: one row of `timeseries.csv`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntervalRow {
    /// Interval index since the start.
    pub slot: u32,
    /// Lowest frequency of the bulk system in the interval, mHz.
    pub frequency_min_mhz: u32,
    /// Highest frequency of the bulk system in the interval, mHz.
    pub frequency_max_mhz: u32,
    /// True energy delivered to all premises in the interval, mWh.
    pub true_mwh: u64,
    /// True energy per customer class, mWh, in [`CustomerClass::ALL`] order.
    pub true_mwh_by_class: [u64; 4],
    /// Energy the feeder-head SCADA measured over all feeders (true load plus technical
    /// losses), mWh.
    pub scada_mwh: u64,
    /// Energy the MDM held for the interval when its first read cycle closed (actual reads on
    /// time plus estimates for the missing ones), Wh.
    pub reported_wh: u64,
    /// Energy the MDM holds for the interval at the end of the run, after backfill and register
    /// reconciliation, Wh.
    pub settled_wh: i64,
    /// Meters whose interval value arrived in the interval's first read cycle.
    pub reads_on_time: u64,
    /// Meters whose interval value had not arrived when the interval's first read cycle closed.
    pub reads_missing: u64,
    /// Reads on time whose interval value was zero (no consumption at all).
    pub zero_reads: u64,
    /// Intervals the MDM estimated at the first read cycle: the missing ones plus those whose
    /// reading failed validation.
    pub intervals_estimated: u64,
    /// Intervals of earlier slots recovered from meters' memory in the cycle that closed with
    /// this interval (0 when no cycle closed here).
    pub intervals_backfilled: u64,
    /// Intervals whose value failed validation in the cycle that closed with this interval.
    pub validation_flags: u64,
    /// Customers with supply at the end of the interval (relay closed and feeder energized).
    pub customers_connected: u64,
    /// Customers without supply at the end of the interval, per cause in [`crate::model::Cause::ALL`] order
    /// (a feeder outage counts as outage whatever the relay says).
    pub customers_off_by_cause: [u64; 3],
    /// Critical facilities without supply at the end of the interval.
    pub critical_off: u64,
    /// Time without supply in the interval, microseconds summed over meters
    /// (`timeseries.csv` shows it as customer-minutes).
    pub interrupted_us: u64,
    /// `interrupted_us` per cause.
    pub interrupted_us_by_cause: [u64; 3],
    /// Energy the premises would have used while without supply, per cause, mWh.
    pub not_served_mwh_by_cause: [u64; 3],
    /// Energy demand response kept premises from using, mWh.
    pub dr_curtailed_mwh: u64,
    /// Meters the MDM found newly silent (missed the configured number of read cycles in a
    /// row) in the cycle that closed with this interval.
    pub meters_gone_silent: u64,
    /// Requests that reached the HES during the interval.
    pub commands: u64,
    /// Whether a read cycle closed at the end of this interval.
    pub read_cycle: bool,
    /// Control-plane events processed during the interval.
    pub events: u64,
    /// Alerts raised during the interval.
    pub alerts: u64,
}

/// One transformer's energy over the run so far, mWh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransformerEnergy {
    /// What its premises really took.
    pub true_mwh: u64,
    /// What its meters' registers recorded (their reports, forged ones included).
    pub registered_mwh: u64,
}

/// A piece of grid equipment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Equipment {
    /// An MV feeder (its index).
    Feeder(u32),
    /// An MV/LV transformer (its index).
    Transformer(u32),
}

/// Why grid equipment went out on its own (as opposed to being switched from outside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum GridEventKind {
    /// Its protection tripped it on overload.
    OverloadTrip,
}

impl GridEventKind {
    /// In words, as result files and summaries show it.
    pub fn describe(self) -> &'static str {
        match self {
            GridEventKind::OverloadTrip => "protection trip: overload",
        }
    }
}

/// Equipment that went out on its own, with why.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GridEvent {
    /// When.
    pub time: SimTime,
    /// What.
    pub equipment: Equipment,
    /// Why.
    pub kind: GridEventKind,
    /// Its load at the time, as a multiple of its rating.
    pub load_share: f32,
    /// What it is booked to: the attack whose load pushed it over its protection's threshold
    /// (see [`crate::grid::GridState::trip_cause`]), or `Outage`.
    pub cause: Cause,
    /// The outage it started (index into `RunRecords::outages`), if it started one.
    pub outage: Option<u32>,
}

/// What one attack did in one interval (only intervals where it did something are kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AttackTick {
    /// Customers without supply at the end of the interval because of the attack (its relay
    /// openings, or feeders it switched off).
    pub customers_off: u64,
    /// Customer-microseconds without supply in the interval because of the attack.
    pub interrupted_us: u64,
    /// Energy the attack kept from customers, mWh.
    pub not_served_mwh: u64,
    /// Critical facilities without supply at the end of the interval because of the attack.
    pub critical_off: u64,
    /// Energy consumed that registers under the attack's rogue firmware did not record, mWh.
    pub falsified_mwh: u64,
    /// Energy consumed through the attack's bypasses that registers did not record, mWh.
    pub stolen_mwh: u64,
    /// Interval readings the MDM did not get on time from meters the attack was acting on
    /// (jammed, or on a jammed route, bricked by its firmware, behind a collector its flood
    /// fills), counted when their read cycle closed.
    pub reads_missing: u64,
    /// Load its forged demand-response events shed, mWh.
    pub curtailed_mwh: u64,
}

impl AttackTick {
    /// Adds `other` in.
    pub fn merge(&mut self, other: &AttackTick) {
        self.customers_off += other.customers_off;
        self.interrupted_us += other.interrupted_us;
        self.not_served_mwh += other.not_served_mwh;
        self.critical_off += other.critical_off;
        self.falsified_mwh += other.falsified_mwh;
        self.stolen_mwh += other.stolen_mwh;
        self.reads_missing += other.reads_missing;
        self.curtailed_mwh += other.curtailed_mwh;
    }

    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        *self == AttackTick::default()
    }
}

/// Read statistics of one link kind over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkReadStats {
    /// Read attempts by collectors.
    pub attempts: u64,
    /// Attempts that returned within the deadline.
    pub successes: u64,
    /// Attempts that returned, but after the read deadline (retried next cycle).
    pub late: u64,
    /// Attempts lost to a backhaul outage of the collector.
    pub backhaul_lost: u64,
    /// Attempts at meters with no path (orphans).
    pub unreachable: u64,
    /// Successful reads of mesh meters over their cellular fallback.
    pub via_fallback: u64,
    /// Sum of latencies of returned attempts, microseconds.
    pub latency_us_sum: u64,
    /// Largest latency of a returned attempt, microseconds.
    pub latency_us_max: u64,
    /// Meter-days: for every civil day that ended in the run (a run that starts mid-day counts
    /// its first day from the start), one per meter.
    pub meter_days: u64,
    /// Meter-days on which the meter's register (with its intervals) reached the HES: at least
    /// one read delivered from a read cycle of that day, by the read cycle that closes at the
    /// day's end.
    pub meter_days_read: u64,
}

impl LinkReadStats {
    /// Adds another set of counters into this one.
    pub fn merge(&mut self, other: &LinkReadStats) {
        self.attempts += other.attempts;
        self.successes += other.successes;
        self.late += other.late;
        self.backhaul_lost += other.backhaul_lost;
        self.unreachable += other.unreachable;
        self.via_fallback += other.via_fallback;
        self.latency_us_sum += other.latency_us_sum;
        self.latency_us_max = self.latency_us_max.max(other.latency_us_max);
        self.meter_days += other.meter_days;
        self.meter_days_read += other.meter_days_read;
    }
}

/// Run-wide counters that are not per interval.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct RunCounters {
    /// Read statistics per link kind, in [`LinkKind::ALL`] order.
    pub by_link: [LinkReadStats; 3],
    /// Meters per link kind.
    pub meters_by_link: [u64; 3],
    /// Meters per class.
    pub meters_by_class: [u64; 4],
    /// Sum of drawn annual consumption per class, Wh.
    pub annual_wh_by_class: [u64; 4],
    /// The part of the commercial class's `annual_wh_by_class` taken by its interval-metered
    /// premises (above 100,000 kWh/a, on their own opening-hours shape), Wh.
    pub annual_wh_interval_metered_commercial: u64,
    /// Intervals older than the meters' load-profile memory when their meter was read again;
    /// the MDM reconciled them from the register.
    pub intervals_unrecoverable: u64,
    /// Sum over backfilled intervals of |actual - earlier estimate|, Wh.
    pub estimation_abs_error_wh: u64,
    /// Sum over backfilled intervals of the actual value, Wh.
    pub estimation_actual_wh: u64,
    /// Control-plane events processed.
    pub events: u64,
}

impl RunCounters {
    /// Read statistics of one link kind.
    pub fn link(&self, kind: LinkKind) -> &LinkReadStats {
        &self.by_link[kind.index()]
    }
    /// Number of meters of one class.
    pub fn meters_of(&self, class: CustomerClass) -> u64 {
        self.meters_by_class[class.index()]
    }
}

/// Ground truth: something that really happened in the simulated world because of an attack or
/// an injected event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TruthRecord {
    /// When it happened.
    pub time: SimTime,
    /// The attack (or injection) it belongs to.
    pub source: String,
    /// What happened, e.g. `"relay-open"`.
    pub kind: String,
    /// In words, for a person reading `truth.csv` (may be empty).
    pub detail: String,
    /// Meter indices affected.
    pub meters: Vec<u32>,
}

/// How serious a detector believes what it saw is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Needs an operator.
    Medium,
    /// Needs a response now.
    High,
}

impl Severity {
    /// The name `alerts.csv` and scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// What an alert is about: a place in the utility's network, an account, a host, a set of
/// meters, or the fleet as a whole. Responses aim at it (revoke the account, block the host,
/// send a crew to the transformer or collector) and scoring turns the places into the meters
/// behind them; [`Display`](std::fmt::Display) gives the words `alerts.csv` shows.
///
/// Every variant names something of the simulated world (or a detector's own rule number):
/// which detector raises which subject is the defenses' business, not the engine's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertSubject {
    /// A feeder, by index (`feeder 3`).
    Feeder(u32),
    /// A distribution transformer, by index (`transformer 12`).
    Transformer(u32),
    /// A collector, by index (`collector 5`).
    Collector(u32),
    /// An HES operator account, by name (`ops-alice`).
    Account(String),
    /// A host, by address, as the network sensor saw it (`203.0.113.7`).
    Host(Ipv4Addr),
    /// Traffic from one host to another (`203.0.113.7 -> 10.20.0.1`).
    HostPair {
        /// The client.
        src: Ipv4Addr,
        /// The server.
        dst: Ipv4Addr,
    },
    /// A detection rule as a whole, by number: an IDS rule whose threshold tracks the rule
    /// (`sid 1000002`).
    Rule(u32),
    /// A firmware image, by version (`image 9.9.9-evil`).
    FirmwareImage(String),
    /// Meters the alert lists, grouped by what they reported.
    Meters(MeterSet),
    /// The fleet (or all accounts) as a whole (`fleet`).
    Fleet,
    /// The bulk power system (`bulk-system`).
    BulkSystem,
}

/// What the meters an [`AlertSubject::Meters`] alert lists reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MeterSet {
    /// Relays that changed position (`relays`).
    Relays,
    /// Security levels they fell back to (`security-level`).
    SecurityLevel,
    /// Events from the field: refused frames, unknown networks, failed authentication
    /// (`field`).
    Field,
    /// Firmware images whose signature did not verify (`signature`).
    Signature,
}

impl MeterSet {
    /// The word `alerts.csv` shows.
    pub fn name(self) -> &'static str {
        match self {
            MeterSet::Relays => "relays",
            MeterSet::SecurityLevel => "security-level",
            MeterSet::Field => "field",
            MeterSet::Signature => "signature",
        }
    }
}

impl std::fmt::Display for AlertSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlertSubject::Feeder(n) => write!(f, "feeder {n}"),
            AlertSubject::Transformer(n) => write!(f, "transformer {n}"),
            AlertSubject::Collector(n) => write!(f, "collector {n}"),
            AlertSubject::Account(name) => f.write_str(name),
            AlertSubject::Host(address) => write!(f, "{address}"),
            AlertSubject::HostPair { src, dst } => write!(f, "{src} -> {dst}"),
            AlertSubject::Rule(sid) => write!(f, "sid {sid}"),
            AlertSubject::FirmwareImage(version) => write!(f, "image {version}"),
            AlertSubject::Meters(set) => f.write_str(set.name()),
            AlertSubject::Fleet => f.write_str("fleet"),
            AlertSubject::BulkSystem => f.write_str("bulk-system"),
        }
    }
}

/// Serialized as the words [`Display`](std::fmt::Display) gives, as `alerts.csv` and the live
/// range show them.
impl Serialize for AlertSubject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An alert raised by a detector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    /// When it was raised.
    pub time: SimTime,
    /// The detector that raised it.
    pub detector: String,
    /// How serious it is.
    pub severity: Severity,
    /// Human-readable reason.
    pub message: String,
    /// What it is about (an account, a collector, a feeder, a source address); alerts of one
    /// detector about one subject that follow each other closely are one alert with a `count`.
    pub subject: AlertSubject,
    /// How many times the detector fired in this alert (an IDS rule under a threshold fires
    /// again and again during a flood).
    pub count: u64,
    /// Meter indices it points at.
    pub meters: Vec<u32>,
}

/// An endpoint of a network flow: a host of the utility, or one outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Endpoint {
    /// The HES front end (the MQTT broker collectors upload to).
    HesFrontEnd,
    /// The HES command server (operators' sessions).
    HesCommands,
    /// The MDM.
    Mdm,
    /// The customer information system (billing) in corporate IT.
    Cis,
    /// The SCADA master.
    ScadaMaster,
    /// A feeder's RTU.
    Rtu(u32),
    /// A collector's backhaul endpoint.
    Collector(u32),
    /// A meter.
    Meter(u32),
    /// An operator account's workstation.
    Workstation(u16),
    /// Host `n` outside the utility (an attacker's botnet or server).
    Outside(u32),
}

/// Connections between two endpoints over a span of time, as a network sensor would see them.
/// A single connection has `seconds: 0`; a flood spreads `connections` evenly over the span's
/// seconds and over `sources` consecutive source hosts (`Outside(n)`, `Outside(n + 1)`, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowRecord {
    /// When the span starts.
    pub time: SimTime,
    /// How many whole seconds it lasts (0: all at `time`).
    pub seconds: u32,
    /// The client.
    pub src: Endpoint,
    /// Consecutive source hosts the connections come from (1 but for botnets).
    pub sources: u32,
    /// The server.
    pub dst: Endpoint,
    /// The server's port.
    pub port: u16,
    /// UDP rather than TCP.
    pub udp: bool,
    /// Connection attempts over the span, all sources together.
    pub connections: u64,
    /// Whether the connections completed their handshake.
    pub established: bool,
    /// Bytes the client sent, all connections together.
    pub bytes: u64,
    /// Why the connections were made (ground truth: the attack, or the utility's operations).
    pub cause: crate::model::Cause,
}

/// A meter reporting that its relay changed position (the event it pushes to the HES).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RelayEvent {
    /// When.
    pub time: SimTime,
    /// The meter.
    pub meter: u32,
    /// Whether it is open now.
    pub open: bool,
}

/// A message the HES sent to a meter, and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageRecord {
    /// Message id, in the order messages were sent.
    pub id: u64,
    /// The meter it was sent to.
    pub meter: u32,
    /// Size, bytes.
    pub bytes: u32,
    /// When it left the HES.
    pub sent: SimTime,
    /// Its fate: delivered when and how, or lost why.
    pub fate: Fate,
    /// The HES job it is an attempt of (an index into the HES's jobs), if it carries one.
    #[serde(skip)]
    pub job: Option<u32>,
}

/// Something an attack's radio did at one meter on the field network, for field captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldEvent {
    /// When.
    pub at: SimTime,
    /// The meter.
    pub meter: u32,
    /// The attack's code (its index in the scenario plus one).
    pub attack: u8,
    /// What happened.
    pub what: FieldEventKind,
}

/// What an attack's radio did at a meter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldEventKind {
    /// A captured relay command sent again, with the frame counter it carried; `accepted` when
    /// the meter acted on it.
    Replay {
        /// The captured frame's counter.
        frame: u32,
        /// The relay state the command sets.
        relay: crate::model::Relay,
        /// Whether the meter acted on it.
        accepted: bool,
    },
    /// An offer of the legacy security level; `accepted` when the meter fell back to it.
    DowngradeOffer {
        /// Whether the meter accepted.
        accepted: bool,
    },
    /// A disconnect command a rogue concentrator forged; `accepted` when the meter acted on it.
    Forged {
        /// Whether the meter acted on it.
        accepted: bool,
    },
}

/// The per-interval rows, ground truth and alerts of a run, in time order.
#[derive(Resource, Clone, Debug, Default)]
pub struct RunRecords {
    /// One row per closed interval.
    pub intervals: Vec<IntervalRow>,
    /// Feeder-head SCADA readings, kW averaged over each interval: `n_feeders` values per
    /// interval, interval-major.
    pub scada_kw: Vec<f32>,
    /// Energy the MDM held per feeder for each interval when its first read cycle closed
    /// (actual reads plus estimates), Wh: `n_feeders` values per interval, interval-major. The
    /// hook for energy balance against `scada_kw` (theft, false data).
    pub feeder_reported_wh: Vec<u64>,
    /// Messages sent to meters, in the order they were sent.
    pub messages: Vec<MessageRecord>,
    /// What attacks' radios did at meters (replays, downgrade offers, forged commands), in
    /// time order.
    pub field_events: Vec<FieldEvent>,
    /// Ground truth, in time order.
    pub truth: Vec<TruthRecord>,
    /// Alerts, in time order.
    pub alerts: Vec<AlertRecord>,
    /// Network flows a sensor saw, in the order they were recorded (a flood's span is recorded
    /// every minute while it lasts and when it stops).
    pub flows: Vec<FlowRecord>,
    /// Relay changes meters reported, in time order.
    pub relay_events: Vec<RelayEvent>,
    /// Per read cycle and collector: meters with supply whose read this cycle did not arrive
    /// although the collector's upload did,
    /// `n_collectors` values per cycle, cycle-major (the hook for spatial clusters of missing
    /// reads).
    pub collector_missing: Vec<u32>,
    /// Per read cycle and collector: meters with supply it tried to read, as
    /// `collector_missing`.
    pub collector_reads: Vec<u32>,
    /// Feeder outages, in the order they began.
    pub outages: Vec<OutageRecord>,
    /// Equipment that went out on its own (protection trips), in time order.
    pub grid_events: Vec<GridEvent>,
    /// Critical facilities that were without supply: meter, and microseconds without supply per
    /// cause.
    pub critical_off_us: std::collections::BTreeMap<u32, [u64; 3]>,
    /// Per (attack, critical facility meter): microseconds without supply the attack caused.
    pub critical_off_us_by_attack: std::collections::BTreeMap<(u8, u32), u64>,
    /// Critical facilities that kept supply on their backup (a second feed or a standby
    /// generator) while their feeder was out: meter, and microseconds on the backup.
    pub critical_on_backup_us: std::collections::BTreeMap<u32, u64>,
    /// Per distribution transformer, over the run so far: the true energy its meters' premises
    /// took and the energy their registers recorded, mWh. The gap is what bypasses, tampering
    /// and false readings hid (transformer energy balance).
    pub transformer_mwh: Vec<TransformerEnergy>,
    /// Per (interval, attack): what the attack did in that interval, for intervals where it did
    /// something, in interval order.
    pub attack_ticks: Vec<(u32, u8, AttackTick)>,
    /// Feeders with meters newly silent in the last read cycle (drained by the engine's
    /// outage detection).
    pub silent_feeders: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `alerts.csv` and the live range show subjects in these words; results must not change
    /// when the subject is typed.
    #[test]
    fn alert_subjects_render_as_alerts_csv_always_showed_them() {
        let address = Ipv4Addr::new(203, 0, 113, 7);
        let cases = [
            (AlertSubject::Feeder(3), "feeder 3"),
            (AlertSubject::Transformer(12), "transformer 12"),
            (AlertSubject::Collector(5), "collector 5"),
            (AlertSubject::Account("ops-alice".into()), "ops-alice"),
            (AlertSubject::Host(address), "203.0.113.7"),
            (
                AlertSubject::HostPair {
                    src: address,
                    dst: Ipv4Addr::new(10, 20, 0, 1),
                },
                "203.0.113.7 -> 10.20.0.1",
            ),
            (AlertSubject::Rule(1_000_002), "sid 1000002"),
            (AlertSubject::FirmwareImage("9.9.9".into()), "image 9.9.9"),
            (AlertSubject::Meters(MeterSet::Relays), "relays"),
            (AlertSubject::Meters(MeterSet::SecurityLevel), "security-level"),
            (AlertSubject::Meters(MeterSet::Field), "field"),
            (AlertSubject::Meters(MeterSet::Signature), "signature"),
            (AlertSubject::Fleet, "fleet"),
            (AlertSubject::BulkSystem, "bulk-system"),
        ];
        for (subject, words) in cases {
            assert_eq!(subject.to_string(), words);
        }
    }
}
