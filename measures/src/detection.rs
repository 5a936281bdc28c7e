//! Detection scored against ground truth (`metrics.json` under `detectors` and `defense`, and
//! `detected`, `time_to_detect_s`, `first_detector` per attack; the `attack` column of
//! `alerts.csv`).
//!
//! An alert is true when it falls in an attack's window — from the attack's start to six hours
//! after its last recorded step, or to the end of the run while the attack is still active — and
//! what it points at (its meters, or the feeder, transformer or home collector it names)
//! overlaps what the attack touched. An alert that names no meters matches by the window alone;
//! an attack that touched no meters matches only such alerts. An alert that fits several
//! attacks goes to the one that started last. Every other alert is a false positive.

use amirange_attackers::Report;
use amirange_sim::engine::Sim;
use amirange_sim::records::{AlertRecord, AlertSubject};
use amirange_sim::time::{MICROS_PER_DAY, MICROS_PER_HOUR, SimTime};
use serde::Serialize;

use crate::round_to;

/// How long after an attack's last recorded step an alert still counts as its detection, µs:
/// detectors that work on read cycles report hours after the fact.
pub const DETECTION_GRACE_US: u64 = 6 * MICROS_PER_HOUR;

/// What scoring needs of the defender: its detectors' names and what it did. Scoring reads no
/// detector state, so any defender (or none) can be scored the same way.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefenseLog<'a> {
    /// Its detectors (IDS rules as `ids:<sid>`), in the order `metrics.json` lists them.
    pub detector_names: &'a [String],
    /// Responses carried out: (time, response, what it was aimed at).
    pub actions: &'a [(SimTime, String, Option<AlertSubject>)],
    /// Meters reconnected through the HES.
    pub reconnected: u64,
    /// Meters put back on the installed image through the HES.
    pub rolled_back: u64,
    /// Truck rolls.
    pub truck_rolls: u64,
}

/// One detector's score.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DetectorScore {
    /// Its name (`ids:<sid>` for an IDS rule).
    pub name: String,
    /// Alerts it raised (an alert that fired again within the hour counts once).
    pub alerts: u64,
    /// Alerts that match an attack.
    pub true_positives: u64,
    /// Alerts that match none.
    pub false_positives: u64,
    /// True positives over alerts (`null` without alerts).
    pub precision: Option<f64>,
    /// Attacks it detected over the attacks that ran (`null` without attacks).
    pub recall: Option<f64>,
    /// False positives per simulated day: in the baseline twin for a paired run, in this run
    /// otherwise.
    pub false_positives_per_day: f64,
}

/// Detection and response over the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DefenseMetrics {
    /// The preset, when one set the posture.
    pub preset: Option<String>,
    /// Alerts raised.
    pub alerts: u64,
    /// Alerts per simulated day (what operators face).
    pub alerts_per_day: f64,
    /// False positives per simulated day, all detectors together.
    pub false_positives_per_day: f64,
    /// Responses carried out: `time (s from start) response subject`.
    pub responses: Vec<String>,
    /// Meters reconnected by restoration.
    pub reconnected: u64,
    /// Meters rolled back to the installed image.
    pub rolled_back: u64,
    /// Truck rolls.
    pub truck_rolls: u64,
    /// Mean time legitimate commands waited in the HES's send queue, seconds (the defense's
    /// cost in delay, with approval latency; compare with the paired twin).
    pub legitimate_queue_wait_s: f64,
    /// Legitimate requests the HES refused (policy, freeze, revocation, isolation).
    pub legitimate_refused: u64,
    /// Per alert, in the order of `alerts.csv`: the index of the attack it matches.
    #[serde(skip)]
    pub matches: Vec<Option<usize>>,
}

/// Per-attack detection, merged into `attacks[k]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttackDetection {
    /// Whether any alert matched it.
    pub detected: bool,
    /// Seconds from its start to the first matching alert.
    pub time_to_detect_s: Option<f64>,
    /// The detector of that alert.
    pub first_detector: Option<String>,
}

/// Everything scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scored {
    /// Per detector.
    pub detectors: Vec<DetectorScore>,
    /// Defense summary.
    pub defense: DefenseMetrics,
    /// Per attack.
    pub attacks: Vec<AttackDetection>,
}

/// Meters an alert points at: its own list, or those of the feeder, transformer or collector
/// its subject names (none for any other subject: it matches by time alone).
fn alert_meters(sim: &Sim, meters: &[u32], subject: &AlertSubject) -> Vec<u32> {
    if !meters.is_empty() {
        return meters.to_vec();
    }
    let net = sim.network();
    match *subject {
        AlertSubject::Feeder(n) if (n as usize) < net.feeders.len() => sim.grid().meters_of(n).to_vec(),
        AlertSubject::Transformer(n) => (0..net.meters.len() as u32)
            .filter(|&m| net.meters[m as usize].transformer == n)
            .collect(),
        // The collector a meter belongs to, as the detector counts it.
        AlertSubject::Collector(n) => (0..net.meters.len() as u32)
            .filter(|&m| sim.net_state().home_collector.get(m as usize) == Some(&n))
            .collect(),
        _ => Vec::new(),
    }
}

/// Alerts judged against the attacks: per detector, per attack, and per alert (in the alerts'
/// own order) the attack it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// Per detector, in the order of the names given, then of first appearance.
    pub detectors: Vec<DetectorScore>,
    /// Per attack.
    pub attacks: Vec<AttackDetection>,
    /// Per alert, in the order given: the index of the attack it matches.
    pub matches: Vec<Option<usize>>,
}

/// Judges `alerts` against the ground truth of `sim`'s run and its attacks' `reports`, by the
/// rules of this module's head; `names` are detectors to list even without alerts. Any alerts
/// can be judged so: the run's own, or an outside detector's for the same run.
pub fn judge(sim: &Sim, reports: &[Report], alerts: &[AlertRecord], mut names: Vec<String>) -> Judged {
    let records = sim.records();
    let horizon = sim.horizon().0;
    let days = (horizon as f64 / MICROS_PER_DAY as f64).max(1e-9);
    let n = sim.n_meters();
    // Each attack's window and the meters it touched.
    let windows: Vec<(u64, u64, Vec<bool>)> = reports
        .iter()
        .map(|r| {
            let mut last = r.start.0;
            let mut touched = Vec::new();
            for t in records.truth.iter().filter(|t| t.source == r.id) {
                last = last.max(t.time.0);
                if !t.meters.is_empty() {
                    touched.resize(n, false);
                    for &m in &t.meters {
                        if let Some(x) = touched.get_mut(m as usize) {
                            *x = true;
                        }
                    }
                }
            }
            let end = if r.still_active {
                horizon
            } else {
                last + DETECTION_GRACE_US
            };
            (r.start.0, end, touched)
        })
        .collect();
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by_key(|&i| (alerts[i].time, i));
    let mut matches = Vec::with_capacity(order.len());
    for &i in &order {
        let a = &alerts[i];
        let in_window: Vec<usize> = (0..windows.len())
            .filter(|&k| (windows[k].0..=windows[k].1).contains(&a.time.0))
            .collect();
        // What the alert points at, worked out only when an attack could match.
        let pointed = if in_window.is_empty() {
            Vec::new()
        } else {
            alert_meters(sim, &a.meters, &a.subject)
        };
        // An alert about particular meters matches an attack that touched some of them; one
        // about no meters (an IDS rule, the fleet, an account) matches by time alone.
        let hit = in_window
            .into_iter()
            .filter(|&k| {
                pointed.is_empty()
                    || pointed
                        .iter()
                        .any(|&m| windows[k].2.get(m as usize).copied().unwrap_or(false))
            })
            .max_by_key(|&k| (windows[k].0, k));
        matches.push(hit);
    }
    for a in alerts {
        if !names.contains(&a.detector) {
            names.push(a.detector.clone());
        }
    }
    let ran = reports.iter().filter(|r| r.start.0 < horizon).count();
    let detectors = names
        .iter()
        .map(|name| {
            let mine: Vec<(usize, Option<usize>)> = order
                .iter()
                .zip(&matches)
                .filter(|&(&i, _)| alerts[i].detector == *name)
                .map(|(&i, &m)| (i, m))
                .collect();
            let tp = mine.iter().filter(|(_, m)| m.is_some()).count() as u64;
            let fp = mine.len() as u64 - tp;
            let mut found: Vec<usize> = mine.iter().filter_map(|(_, m)| *m).collect();
            found.sort_unstable();
            found.dedup();
            DetectorScore {
                name: name.clone(),
                alerts: mine.len() as u64,
                true_positives: tp,
                false_positives: fp,
                precision: (!mine.is_empty()).then(|| round_to(tp as f64 / mine.len() as f64, 4)),
                recall: (ran > 0).then(|| round_to(found.len() as f64 / ran as f64, 4)),
                false_positives_per_day: round_to(fp as f64 / days, 4),
            }
        })
        .collect::<Vec<_>>();
    let attacks = (0..reports.len())
        .map(|k| {
            let first = order
                .iter()
                .zip(&matches)
                .find(|&(_, m)| *m == Some(k))
                .map(|(&i, _)| i);
            AttackDetection {
                detected: first.is_some(),
                time_to_detect_s: first
                    .map(|i| round_to((alerts[i].time.0.saturating_sub(reports[k].start.0)) as f64 / 1e6, 4)),
                first_detector: first.map(|i| alerts[i].detector.clone()),
            }
        })
        .collect();
    // Back in the alerts' own order.
    let mut by_alert = vec![None; alerts.len()];
    for (&i, &hit) in order.iter().zip(&matches) {
        by_alert[i] = hit;
    }
    Judged {
        detectors,
        attacks,
        matches: by_alert,
    }
}

/// Scores the run's alerts against its attacks' ground truth: `reports` are the attacks' (in
/// the scenario's order), `defense` what the defender did (`None` without defenses) and
/// `preset` the defense preset that set the posture, if one did.
pub fn score(sim: &Sim, reports: &[Report], defense: Option<&DefenseLog<'_>>, preset: Option<&str>) -> Scored {
    let records = sim.records();
    let horizon = sim.horizon().0;
    let days = (horizon as f64 / MICROS_PER_DAY as f64).max(1e-9);
    let names: Vec<String> = defense.map(|d| d.detector_names.to_vec()).unwrap_or_default();
    let Judged {
        detectors,
        attacks,
        matches,
    } = judge(sim, reports, &records.alerts, names);
    let fp_total: u64 = detectors.iter().map(|d| d.false_positives).sum();
    let hes = sim.hes();
    let (mut waits, mut waited) = (0u64, 0u64);
    for j in &hes.jobs {
        let request = &hes.audit[j.command as usize];
        // The utility's planned work (not restoration), jobs that were sent or still wait.
        let own = request.cause == amirange_sim::model::Cause::Operation
            && request.purpose != "restoration"
            && request.purpose != "rollback";
        if own && !(j.failed && j.attempts == 0) {
            let sent = if j.attempts > 0 { j.first_sent.0 } else { sim.now().0 };
            waited += 1;
            // From the request (approval latency included) to leaving the queue.
            waits += sent.saturating_sub(hes.audit[j.command as usize].time.0);
        }
    }
    let legitimate_refused = hes
        .audit
        .iter()
        .filter(|a| a.cause == amirange_sim::model::Cause::Operation && a.refused.is_some())
        .count() as u64;
    let log = defense.copied().unwrap_or_default();
    let defense = DefenseMetrics {
        preset: preset.map(str::to_owned),
        alerts: records.alerts.len() as u64,
        alerts_per_day: round_to(records.alerts.len() as f64 / days, 4),
        false_positives_per_day: round_to(fp_total as f64 / days, 4),
        responses: log
            .actions
            .iter()
            .map(|(t, what, subject)| {
                let subject = subject.as_ref().map(AlertSubject::to_string).unwrap_or_default();
                format!("{:.0}s {what} {subject}", t.0 as f64 / 1e6)
            })
            .collect(),
        reconnected: log.reconnected,
        rolled_back: log.rolled_back,
        truck_rolls: log.truck_rolls,
        legitimate_queue_wait_s: if waited == 0 {
            0.0
        } else {
            round_to(waits as f64 / waited as f64 / 1e6, 4)
        },
        legitimate_refused,
        matches,
    };
    Scored {
        detectors,
        defense,
        attacks,
    }
}

#[cfg(test)]
mod tests {
    use amirange_sim::config::SimConfig;
    use amirange_sim::model::{CustomerClass, LinkKind};
    use amirange_sim::network::{LinkParams, Network};
    use amirange_sim::records::{AlertRecord, MeterSet, Severity, TruthRecord};
    use amirange_sim::time::{CivilDateTime, SimDuration};

    use super::*;
    use crate::testing::{at_s, report, world};

    /// Ground truth: attack `source` touched `meters` at `t_s`.
    fn truth(sim: &mut Sim, source: &str, t_s: u64, meters: Vec<u32>) {
        sim.record_truth(TruthRecord {
            time: at_s(t_s),
            source: source.into(),
            kind: "relay-open".into(),
            detail: String::new(),
            meters,
        });
    }

    /// An alert of `detector` at `t_s` about `subject`, listing `meters`.
    fn alert(sim: &mut Sim, t_s: u64, detector: &str, subject: AlertSubject, meters: Vec<u32>) {
        sim.raise_alert(AlertRecord {
            time: at_s(t_s),
            detector: detector.into(),
            severity: Severity::High,
            message: String::new(),
            subject,
            count: 1,
            meters,
        });
    }

    /// One attack from 1 h touching meters 1 and 2 (last at 2 h), and alerts in and out of its
    /// window and its meters: each is matched by subject and time, each detector is scored, the
    /// attack's time to detect is its first true alert's.
    #[test]
    fn alerts_match_by_subject_and_window_and_the_rest_are_false_positives() {
        let mut sim = world(6, 24);
        truth(&mut sim, "a", 3600, vec![1, 2]);
        truth(&mut sim, "a", 7200, vec![2]);
        let window_end_s = 7200 + DETECTION_GRACE_US / 1_000_000;
        let field = || AlertSubject::Meters(MeterSet::Field);
        alert(&mut sim, 5400, "relay-watch", field(), vec![2]); // a meter it touched
        alert(&mut sim, 4000, "relay-watch", field(), vec![5]); // a meter it did not
        alert(&mut sim, 4500, "ids:1", AlertSubject::Fleet, Vec::new()); // time alone
        alert(&mut sim, 1800, "ids:1", AlertSubject::Fleet, Vec::new()); // before it began
        alert(
            &mut sim,
            window_end_s + 1,
            "relay-watch",
            AlertSubject::Transformer(0),
            Vec::new(),
        );
        alert(
            &mut sim,
            window_end_s,
            "relay-watch",
            AlertSubject::Transformer(0),
            Vec::new(),
        );
        let names = ["relay-watch".to_owned(), "command-rate".to_owned()];
        let actions = [
            (
                at_s(4000),
                "revoke-account".to_owned(),
                Some(AlertSubject::Account("ops-bob".into())),
            ),
            (at_s(4600), "freeze-bulk".to_owned(), None),
        ];
        let log = DefenseLog {
            detector_names: &names,
            actions: &actions,
            reconnected: 3,
            rolled_back: 0,
            truck_rolls: 1,
        };
        let scored = score(&sim, &[report("a", 3600)], Some(&log), Some("typical-utility"));
        assert_eq!(
            scored.defense.matches,
            [Some(0), None, Some(0), None, None, Some(0)],
            "per alert, in the alerts' own order"
        );
        let a = &scored.attacks[0];
        assert!(a.detected);
        assert_eq!(a.time_to_detect_s, Some(900.0), "the first true alert by time");
        assert_eq!(a.first_detector.as_deref(), Some("ids:1"));
        let by_name = |name: &str| {
            scored
                .detectors
                .iter()
                .find(|d| d.name == name)
                .unwrap_or_else(|| panic!("{name} scored"))
        };
        let names: Vec<&str> = scored.detectors.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["relay-watch", "command-rate", "ids:1"],
            "the defender's, then others"
        );
        let relay = by_name("relay-watch");
        assert_eq!((relay.alerts, relay.true_positives, relay.false_positives), (4, 2, 2));
        assert_eq!((relay.precision, relay.recall), (Some(0.5), Some(1.0)));
        assert_eq!(relay.false_positives_per_day, 2.0, "a one-day run");
        let quiet = by_name("command-rate");
        assert_eq!((quiet.alerts, quiet.precision, quiet.recall), (0, None, Some(0.0)));
        let ids = by_name("ids:1");
        assert_eq!(
            (ids.true_positives, ids.false_positives, ids.precision),
            (1, 1, Some(0.5))
        );
        let d = &scored.defense;
        assert_eq!(d.preset.as_deref(), Some("typical-utility"));
        assert_eq!((d.alerts, d.alerts_per_day, d.false_positives_per_day), (6, 6.0, 3.0));
        assert_eq!(d.responses, ["4000s revoke-account ops-bob", "4600s freeze-bulk "]);
        assert_eq!((d.reconnected, d.rolled_back, d.truck_rolls), (3, 0, 1));
        assert_eq!((d.legitimate_queue_wait_s, d.legitimate_refused), (0.0, 0));
    }

    /// An alert that fits two attacks goes to the one that began last; an attack still active
    /// at the end keeps its window open to the end of the run; an attack that never ran counts
    /// in no detector's recall.
    #[test]
    fn overlapping_attacks_take_the_alert_of_the_latest_and_active_ones_stay_open() {
        let mut sim = world(6, 24);
        truth(&mut sim, "early", 3600, vec![1]);
        truth(&mut sim, "late", 7200, vec![1]);
        truth(&mut sim, "lasting", 10_800, vec![4]);
        let field = || AlertSubject::Meters(MeterSet::Field);
        alert(&mut sim, 9000, "relay-watch", field(), vec![1]);
        alert(&mut sim, 9000, "relay-watch", field(), vec![3]);
        alert(&mut sim, 80_000, "relay-watch", field(), vec![4]);
        let lasting = {
            let mut r = report("lasting", 10_800);
            r.still_active = true;
            r
        };
        let never = report("never", 200_000);
        let reports = [report("early", 3600), report("late", 7200), lasting, never];
        let scored = score(&sim, &reports, None, None);
        assert_eq!(scored.defense.matches, [Some(1), None, Some(2)]);
        let detected: Vec<bool> = scored.attacks.iter().map(|a| a.detected).collect();
        assert_eq!(detected, [false, true, true, false]);
        assert_eq!(scored.attacks[2].time_to_detect_s, Some(69_200.0));
        // Three attacks ran (the fourth starts after the run); the detector found two.
        assert_eq!(scored.detectors[0].recall, Some(0.6667));
        assert!(scored.defense.preset.is_none() && scored.defense.responses.is_empty());
    }

    /// Scoring turns only the places an alert names into meters: an account (or anything
    /// else) whose name reads like a place matches by time alone, as the module promises,
    /// instead of being parsed into the place.
    #[test]
    fn only_named_places_point_an_alert_at_meters() {
        let start = CivilDateTime::parse("2026-01-15").expect("a date");
        let config = SimConfig::with_defaults(7, start, SimDuration::from_days(1));
        let network = Network::small(
            LinkParams::typical(),
            (0..6).map(|_| (CustomerClass::Residential, LinkKind::Plc)),
        );
        let sim = Sim::new(config, network).expect("a valid world");
        let all: Vec<u32> = (0..6).collect();
        assert_eq!(alert_meters(&sim, &[], &AlertSubject::Transformer(0)), all);
        assert_eq!(alert_meters(&sim, &[], &AlertSubject::Feeder(0)), all);
        assert!(
            alert_meters(&sim, &[], &AlertSubject::Feeder(1)).is_empty(),
            "no feeder 1"
        );
        assert!(alert_meters(&sim, &[], &AlertSubject::Account("transformer 0".into())).is_empty());
        assert!(alert_meters(&sim, &[], &AlertSubject::Fleet).is_empty());
        // An alert's own meters come first.
        assert_eq!(
            alert_meters(&sim, &[4], &AlertSubject::Meters(MeterSet::Field)),
            vec![4]
        );
    }
}
