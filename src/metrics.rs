//! The measures of a run (`metrics.json`), computed from the engine's records and counters only.

use std::collections::BTreeMap;

use amirange_sim::config::INTERVAL;
use amirange_sim::model::{CustomerClass, LinkKind};
use amirange_sim::records::{RunCounters, RunRecords};
use serde::Serialize;

use crate::scenario::Scenario;

/// Every measure of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
}

/// Energy measures.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    pub by_class: BTreeMap<String, ClassEnergy>,
}

/// Energy of one customer class.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    pub by_link: BTreeMap<String, LinkMetrics>,
}

/// Reading over one link kind.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
}

/// Supply measures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SupplyMetrics {
    /// Customers (meters).
    pub customers: u64,
    /// Fewest customers connected at an interval end.
    pub min_customers_connected: u64,
    /// Customer-minutes without supply.
    pub customer_minutes_interrupted: f64,
}

/// Control-plane measures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ControlPlaneMetrics {
    /// Inputs applied.
    pub events: u64,
    /// Ground-truth records.
    pub truth_records: u64,
    /// Alerts raised.
    pub alerts: u64,
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        round6(100.0 * part / whole)
    }
}

/// Rounds to 6 decimals, so that result files carry no noise digits.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// kW over one interval from Wh in it.
pub fn wh_to_kw(wh: f64) -> f64 {
    wh / INTERVAL.as_hours_f64() / 1000.0
}

/// Computes the metrics of a finished run.
pub fn compute(scenario: &Scenario, records: &RunRecords, counters: &RunCounters) -> Metrics {
    let rows = &records.intervals;
    let meters = scenario.meters();
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
                true_kwh: round6(rows.iter().map(|r| r.true_mwh_by_class[c] as f64).sum::<f64>() / 1e6),
                peak_true_kw: round6(wh_to_kw(class_peak as f64 / 1000.0)),
                configured_mean_annual_kwh: scenario.sim.classes[c].mean_annual_kwh,
                drawn_mean_annual_kwh: if n == 0 {
                    0.0
                } else {
                    round6(counters.annual_wh_by_class[c] as f64 / 1000.0 / n as f64)
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
                    round6(s.latency_us_sum as f64 / answered as f64 / 1000.0)
                },
                max_latency_ms: round6(s.latency_us_max as f64 / 1000.0),
            },
        );
    }
    let scada_wh = rows.iter().map(|r| r.scada_mwh as f64).sum::<f64>() / 1000.0;
    let start = scenario.sim.start;
    Metrics {
        meters,
        intervals: rows.len() as u32,
        meter_intervals,
        energy: EnergyMetrics {
            true_kwh: round6(true_wh / 1000.0),
            reported_kwh: round6(reported_wh / 1000.0),
            settled_kwh: round6(settled_wh / 1000.0),
            reported_error_pct: pct(reported_wh - true_wh, true_wh),
            settled_error_pct: pct(settled_wh - true_wh, true_wh),
            scada_kwh: round6(scada_wh / 1000.0),
            losses_pct: pct(scada_wh - true_wh, scada_wh),
            peak_true_kw: round6(wh_to_kw(peak as f64 / 1000.0)),
            peak_true_at: start.plus(interval_offset(peak_idx)).to_string(),
            min_true_kw: round6(wh_to_kw(min as f64 / 1000.0)),
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
        supply: SupplyMetrics {
            customers: meters,
            min_customers_connected: rows.iter().map(|r| r.customers_connected).min().unwrap_or(meters),
            customer_minutes_interrupted: round6(sum(|r| r.interrupted_us) as f64 / 60e6),
        },
        control_plane: ControlPlaneMetrics {
            events: counters.events,
            truth_records: records.truth.len() as u64,
            alerts: records.alerts.len() as u64,
        },
    }
}

/// Offset of interval `i` from the start.
pub fn interval_offset(i: usize) -> amirange_sim::time::SimDuration {
    amirange_sim::time::SimDuration::from_micros(INTERVAL.as_micros() * i as u64)
}
