//! Blast radius per attack (`metrics.json` under `attacks`): the engine's per-attack records
//! (supply lost to the attack's causes, falsified and stolen energy, readings lost from meters
//! it acted on, critical facilities it cut off) joined with what the attack itself reports.

use amirange_attackers::Report;
use amirange_sim::config::INTERVAL;
use amirange_sim::engine::Sim;
use amirange_sim::time::CivilDateTime;
use serde::Serialize;

use crate::round_to;

/// One attack's measures.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct AttackMetrics {
    /// The scenario's id for it.
    pub id: String,
    /// Its kind, e.g. `mass-disconnect`.
    pub kind: String,
    /// Its MITRE ATT&CK for ICS technique id.
    pub technique: String,
    /// That technique's name.
    pub technique_name: String,
    /// Techniques of its steps (access, delivery, payload).
    pub related_techniques: Vec<String>,
    /// Its STRIDE category.
    pub stride: String,
    /// When its main action started (calendar time).
    pub start: String,
    /// Seconds from the run's start to the attack's.
    pub start_s: f64,
    /// Whether it reached its objective on at least one meter.
    pub succeeded: bool,
    /// Why not, when it did not (a precondition that failed, a refusal, a defense).
    pub failure_reason: Option<String>,
    /// What it did, in one sentence.
    pub summary: String,
    /// Meters it aimed at (targets, meters inside a jammer's radius, a worm's entry meters).
    pub meters_targeted: u64,
    /// Whether an alert matched it.
    pub detected: bool,
    /// Seconds from its start to the first alert that matched it.
    pub time_to_detect_s: Option<f64>,
    /// The detector that raised that alert.
    pub first_detector: Option<String>,
    /// The damage.
    pub blast_radius: BlastRadius,
}

/// What an attack cost. Supply losses count only when the attack caused them.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct BlastRadius {
    /// Most customers without supply because of the attack at the end of any interval.
    pub peak_customers_disconnected: u64,
    /// Customer-minutes without supply because of the attack.
    pub customer_minutes_interrupted: f64,
    /// Largest 15-minute mean of load the attack kept from customers, kW.
    pub peak_kw_shed: f64,
    /// Energy the attack kept from customers, kWh.
    pub kwh_not_served: f64,
    /// Critical facilities the attack left without supply at some point.
    pub critical_facilities_hit: u64,
    /// Their minutes without supply because of the attack.
    pub critical_facility_minutes: f64,
    /// Meters that ran the attack's firmware, or that it bypassed, at some point.
    pub meters_compromised: u64,
    /// Energy consumed that registers under the attack's firmware did not record, kWh.
    pub kwh_falsified: f64,
    /// Energy taken through the attack's bypasses that registers did not record, kWh.
    pub kwh_stolen: f64,
    /// Interval readings the MDM did not get on time from meters the attack acted on.
    pub readings_lost: u64,
    /// Customers whose interval data the attack copied out of the utility.
    pub customers_exposed: u64,
    /// Households among them: quarter-hour load curves reveal when they are home, asleep or
    /// away (occupancy inference).
    pub households_exposed: u64,
    /// Resolution of the exposed data, minutes (`null` when nothing was exposed).
    pub exposed_resolution_min: Option<f64>,
    /// Load the attack's forged demand-response events shed, kWh.
    pub kwh_curtailed: f64,
    /// Lowest frequency of the bulk system in disturbances the attack caused (the largest share
    /// of their load steps was its), Hz; `null` when it caused none.
    pub frequency_nadir_hz: Option<f64>,
    /// Highest frequency in them, Hz (a sudden load drop raises it); `null` when none.
    pub frequency_peak_hz: Option<f64>,
    /// Load under-frequency relays shed across the system in them, MW.
    pub ufls_shed_mw: f64,
    /// Legitimate HES jobs (the utility's own commands, one per meter) requested while the
    /// attack's own jobs were in the HES's send queue.
    pub legitimate_jobs_queued_behind: u64,
    /// Their mean wait in the send queue, seconds (0 when there were none).
    pub legitimate_queue_wait_s: f64,
    /// Seconds from the attack's start until its last effect ended (the last interval in which
    /// it kept anyone off supply, falsified or stole energy, or cost readings, its last job
    /// leaving the HES's send queue, or frequency settling after the last disturbance it
    /// caused); `null` if its effect lasted to the end of the run
    /// (customers still off, meters still compromised, jobs still queued).
    pub time_to_restore_s: Option<f64>,
}

/// Legitimate jobs requested while attack `k`'s jobs were in the HES's send queue (from its
/// first accepted request to the last of its jobs leaving the queue, or the end of the run),
/// their mean wait in the queue (until the end of the run for jobs never sent), seconds, and
/// when the attack's last job left the queue (µs).
fn legitimate_wait(sim: &Sim, k: u8) -> (u64, f64, Option<u64>) {
    let hes = sim.hes();
    let cause = amirange_sim::model::Cause::Attack(k);
    // A job still queued at the end of the run has waited until then.
    let sent = |j: &amirange_sim::hes::Job| if j.attempts > 0 { j.first_sent.0 } else { sim.now().0 };
    let mut window: Option<(u64, u64)> = None;
    for j in &hes.jobs {
        let a = &hes.audit[j.command as usize];
        if a.cause == cause {
            let (from, to) = (j.queued.0, sent(j).max(j.queued.0));
            window = Some(window.map_or((from, to), |(f, t)| (f.min(from), t.max(to))));
        }
    }
    let Some((from, to)) = window else {
        return (0, 0.0, None);
    };
    let (mut n, mut wait_us) = (0u64, 0u64);
    for j in &hes.jobs {
        let a = &hes.audit[j.command as usize];
        if a.cause == amirange_sim::model::Cause::Operation && (from..=to).contains(&j.queued.0) {
            n += 1;
            wait_us += sent(j).saturating_sub(j.queued.0);
        }
    }
    (n, if n == 0 { 0.0 } else { wait_us as f64 / n as f64 / 1e6 }, Some(to))
}

/// The measures of every attack, in the scenario's order (`reports[k]` is attack `k`, whose
/// engine records carry `Cause::Attack(k)`); `start` is the scenario's calendar start.
pub fn compute(sim: &Sim, start: CivilDateTime, reports: &[Report]) -> Vec<AttackMetrics> {
    let records = sim.records();
    let n_slots = records.intervals.len() as u32;
    let interval_s = INTERVAL.as_secs_f64();
    reports
        .iter()
        .enumerate()
        .map(|(k, report)| {
            let k = k as u8;
            let ticks = records.attack_ticks.iter().filter(|t| t.1 == k);
            let mut b = BlastRadius {
                peak_customers_disconnected: 0,
                customer_minutes_interrupted: 0.0,
                peak_kw_shed: 0.0,
                kwh_not_served: 0.0,
                critical_facilities_hit: 0,
                critical_facility_minutes: 0.0,
                meters_compromised: report.meters_compromised,
                kwh_falsified: 0.0,
                kwh_stolen: 0.0,
                readings_lost: 0,
                customers_exposed: report.exposure.customers_exposed,
                households_exposed: report.exposure.households_exposed,
                exposed_resolution_min: (report.exposure.customers_exposed > 0).then(|| INTERVAL.as_secs_f64() / 60.0),
                kwh_curtailed: 0.0,
                frequency_nadir_hz: None,
                frequency_peak_hz: None,
                ufls_shed_mw: 0.0,
                legitimate_jobs_queued_behind: 0,
                legitimate_queue_wait_s: 0.0,
                time_to_restore_s: None,
            };
            let code = amirange_sim::model::Cause::Attack(k).code();
            // When the last disturbance it caused settled (`Some(None)` while one has not).
            let mut settled: Option<Option<u64>> = None;
            for e in sim.frequency().events.iter().filter(|e| e.cause == code) {
                settled = Some(match (settled, e.end) {
                    (Some(None), _) | (_, None) => None,
                    (Some(Some(a)), Some(b)) => Some(a.max(b.0)),
                    (None, Some(b)) => Some(b.0),
                });
                b.frequency_nadir_hz = Some(round_to(
                    b.frequency_nadir_hz.map_or(e.nadir_hz, |n| n.min(e.nadir_hz)),
                    6,
                ));
                b.frequency_peak_hz = Some(round_to(b.frequency_peak_hz.map_or(e.peak_hz, |n| n.max(e.peak_hz)), 6));
                b.ufls_shed_mw = round_to(b.ufls_shed_mw + e.shed_mw, 3);
            }
            let (behind, wait_s, queued_until) = legitimate_wait(sim, k);
            b.legitimate_jobs_queued_behind = behind;
            b.legitimate_queue_wait_s = round_to(wait_s, 3);
            let (mut interrupted_us, mut not_served, mut falsified, mut stolen) = (0u64, 0u64, 0u64, 0u64);
            let mut curtailed = 0u64;
            let mut last_slot: Option<u32> = None;
            let mut still_off = false;
            for (slot, _, t) in ticks {
                b.peak_customers_disconnected = b.peak_customers_disconnected.max(t.customers_off);
                interrupted_us += t.interrupted_us;
                not_served += t.not_served_mwh;
                b.peak_kw_shed = b
                    .peak_kw_shed
                    .max(t.not_served_mwh as f64 / 1e6 / (interval_s / 3600.0));
                falsified += t.falsified_mwh;
                stolen += t.stolen_mwh;
                curtailed += t.curtailed_mwh;
                b.readings_lost += t.reads_missing;
                last_slot = Some(*slot);
                still_off = *slot + 1 == n_slots && t.customers_off > 0;
            }
            b.customer_minutes_interrupted = round_to(interrupted_us as f64 / 60e6, 3);
            b.kwh_not_served = round_to(not_served as f64 / 1e6, 3);
            b.peak_kw_shed = round_to(b.peak_kw_shed, 3);
            b.kwh_falsified = round_to(falsified as f64 / 1e6, 3);
            b.kwh_stolen = round_to(stolen as f64 / 1e6, 3);
            b.kwh_curtailed = round_to(curtailed as f64 / 1e6, 3);
            let critical = records.critical_off_us_by_attack.range((k, 0)..=(k, u32::MAX));
            let (mut hit, mut us) = (0u64, 0u64);
            for (_, &v) in critical {
                hit += 1;
                us += v;
            }
            b.critical_facilities_hit = hit;
            b.critical_facility_minutes = round_to(us as f64 / 60e6, 3);
            let start_s = report.start.0 as f64 / 1e6;
            // Effects end with the last interval the attack cost anything in, or with its last
            // job leaving the HES's send queue, whichever is later.
            let queue_s = queued_until.map_or(0.0, |us| (us as f64 / 1e6 - start_s).max(0.0));
            let settled_s = match settled {
                Some(Some(us)) => (us as f64 / 1e6 - start_s).max(0.0),
                _ => 0.0,
            };
            let queue_s = queue_s.max(settled_s);
            b.time_to_restore_s = match last_slot {
                _ if still_off || report.still_active => None,
                _ if queued_until.is_some_and(|us| us >= sim.now().0) => None,
                _ if settled == Some(None) => None,
                Some(slot) => Some(round_to(
                    ((f64::from(slot) + 1.0) * interval_s - start_s).max(queue_s),
                    3,
                )),
                None => Some(round_to(queue_s, 3)),
            };
            AttackMetrics {
                id: report.id.clone(),
                kind: report.tags.kind.to_owned(),
                technique: report.tags.technique.id.to_owned(),
                technique_name: report.tags.technique.name.to_owned(),
                related_techniques: report.tags.related.iter().map(|t| t.id.to_owned()).collect(),
                stride: report.tags.stride.name().to_owned(),
                start: start.plus(report.start.since_start()).to_string(),
                start_s,
                succeeded: report.succeeded,
                failure_reason: report.failure_reason.clone(),
                summary: report.summary.clone(),
                meters_targeted: report.meters_targeted,
                detected: false,
                time_to_detect_s: None,
                first_detector: None,
                blast_radius: b,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use amirange_attackers::Outcome;
    use amirange_sim::model::Cause;

    use super::*;
    use crate::testing::{at_s, config, cut, report, world};

    /// Two attacks each cut a meter off at minute 10, the first to the end of the hour, the
    /// second for seven minutes; the utility cuts a third. Each attack's blast radius holds its
    /// own loss only, and only the second's effect ends within the run.
    #[test]
    fn each_attack_counts_its_own_supply_loss_and_when_it_ended() {
        let mut sim = world(4, 1);
        cut(&mut sim, 0, Cause::Attack(0), 600, None);
        cut(&mut sim, 1, Cause::Attack(1), 600, Some(1020));
        cut(&mut sim, 2, Cause::Operation, 600, None);
        sim.run_to_end().expect("runs");
        let m = compute(&sim, config(1).start, &[report("a", 600), report("b", 600)]);
        let (a, b) = (&m[0].blast_radius, &m[1].blast_radius);
        assert_eq!(
            (a.peak_customers_disconnected, a.customer_minutes_interrupted),
            (1, 50.0)
        );
        assert_eq!(
            (b.peak_customers_disconnected, b.customer_minutes_interrupted),
            (1, 7.0)
        );
        assert!(
            a.kwh_not_served > b.kwh_not_served && b.kwh_not_served > 0.0,
            "{a:?} {b:?}"
        );
        assert!(a.peak_kw_shed > 0.0);
        assert_eq!(a.time_to_restore_s, None, "still off at the end");
        // Its last effect was in the interval ending at 30 min, 20 min after it began.
        assert_eq!(b.time_to_restore_s, Some(1200.0));
        assert_eq!(
            (a.critical_facilities_hit, a.readings_lost, a.meters_compromised),
            (0, 0, 0)
        );
        let first = &m[0];
        assert_eq!((first.id.as_str(), first.kind.as_str()), ("a", "mass-disconnect"));
        assert_eq!((first.start.as_str(), first.start_s), ("2026-01-15T00:10:00", 600.0));
        assert!(first.succeeded && first.failure_reason.is_none());
        assert_eq!((first.summary.as_str(), first.meters_targeted), ("a did it", 1));
        assert!(!first.detected && first.time_to_detect_s.is_none(), "scored separately");
        assert_eq!(first.technique, amirange_attackers::mass_disconnect::TAGS.technique.id);
    }

    /// An attack that cut nobody off has nothing to restore; what it reports of itself (meters
    /// it held, data it copied, its failure) comes through as it said.
    #[test]
    fn an_attack_without_supply_loss_keeps_what_it_reported() {
        let mut sim = world(2, 1);
        sim.run_to_end().expect("runs");
        let exfiltration = Outcome::new(at_s(900), 2, Ok("copied".into()))
            .with_control(2, false)
            .with_exposure(120, 100);
        let failed = Outcome::new(at_s(900), 2, Err("refused by the HES".into()));
        let tags = &amirange_attackers::mass_disconnect::TAGS;
        let reports = [Report::new("x", tags, exfiltration), Report::new("f", tags, failed)];
        let m = compute(&sim, config(1).start, &reports);
        let x = &m[0].blast_radius;
        assert_eq!((x.customers_exposed, x.households_exposed), (120, 100));
        assert_eq!(x.exposed_resolution_min, Some(15.0));
        assert_eq!(x.meters_compromised, 2);
        assert_eq!((x.peak_customers_disconnected, x.kwh_not_served), (0, 0.0));
        assert_eq!(x.time_to_restore_s, Some(0.0));
        assert_eq!((x.frequency_nadir_hz, x.legitimate_jobs_queued_behind), (None, 0));
        let f = &m[1];
        assert!(!f.succeeded);
        assert_eq!(f.failure_reason.as_deref(), Some("refused by the HES"));
        assert_eq!(f.summary, "failed: refused by the HES");
        assert_eq!(f.blast_radius.exposed_resolution_min, None, "nothing exposed");
    }
}
