//! A live exercise's scoreboard: red's points for the damage its attacks did, blue's for
//! detecting them and for commands the HES refused, less blue's false actions.
//!
//! What the run did is tallied first ([`Tally::of`], from the engine's records and the HES's
//! audit log), then priced by the exercise's [`Rules`] ([`scoreboard`]); each line says what
//! earned its points.

use amirange_sim::config::INTERVAL;
use amirange_sim::hes::AuditRecord;
use amirange_sim::model::Cause;
use amirange_sim::records::{IntervalRow, RunRecords};
use serde::Serialize;

use crate::round_to;

/// Microseconds in an hour, as a float.
const MICROS_PER_HOUR_F: f64 = 3.6e9;

/// Customers off supply because of attacks (every attack together) at the end of `row`'s
/// interval: the attack category of the row's per-cause counts.
pub fn customers_off_by_attacks(row: &IntervalRow) -> u64 {
    row.customers_off_by_cause[Cause::Attack(0).index()]
}

/// The points an exercise gives (the exercise file's `scoring`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Red, per customer-hour off supply because of attacks.
    pub red_per_customer_hour: f64,
    /// Red, per critical-facility-hour off supply because of attacks.
    pub red_per_critical_hour: f64,
    /// Blue, per attack detected: this much if at once, falling linearly to nothing at
    /// `detection_window_h`.
    pub blue_detection: f64,
    /// Hours after which detecting an attack earns nothing.
    pub detection_window_h: f64,
    /// Blue, per meter named in an attacker's command that the HES refused.
    pub blue_per_meter_refused: f64,
    /// Blue loses this per false action.
    pub false_action: f64,
}

/// A blue action that was a false one (revoking an account red does not hold, isolating the HES
/// or freezing bulk commands while no attack has begun).
#[derive(Debug, Clone, PartialEq)]
pub struct FalseAction {
    /// The team that took it.
    pub team: String,
    /// The action's name.
    pub action: String,
    /// When, seconds from the start.
    pub at_s: u64,
    /// Why it was false.
    pub why: String,
}

/// What the run did that the scoreboard prices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Customer-hours off supply because of attacks.
    pub customer_hours_off: f64,
    /// Critical-facility-hours off supply because of attacks.
    pub critical_hours_off: f64,
    /// Per attack: its id and its time to detect, seconds (`None` while undetected).
    pub detections: Vec<(String, Option<f64>)>,
    /// Meters named in attackers' commands that the HES refused.
    pub meters_refused: u64,
    /// Blue's false actions, in order.
    pub false_actions: Vec<FalseAction>,
}

impl Tally {
    /// The tally of a run from its records and the HES's audit log; `detections` and
    /// `false_actions` come from the detection scoring and the exercise's own log.
    pub fn of(
        records: &RunRecords,
        audit: &[AuditRecord],
        detections: Vec<(String, Option<f64>)>,
        false_actions: Vec<FalseAction>,
    ) -> Tally {
        let interval_us = INTERVAL.as_micros() as f64;
        Tally {
            customer_hours_off: records
                .intervals
                .iter()
                .map(|r| customers_off_by_attacks(r) as f64 * interval_us / MICROS_PER_HOUR_F)
                .sum(),
            critical_hours_off: records
                .critical_off_us_by_attack
                .values()
                .map(|&us| us as f64 / MICROS_PER_HOUR_F)
                .sum(),
            detections,
            meters_refused: audit
                .iter()
                .filter(|a| matches!(a.cause, Cause::Attack(_)) && a.refused.is_some())
                .map(|a| u64::from(a.targets))
                .sum(),
            false_actions,
        }
    }
}

/// The scoreboard: each side's points and the lines they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scoreboard {
    /// Red's and blue's totals, in that order.
    pub teams: Vec<TeamPoints>,
    /// What earned or cost points, in order.
    pub lines: Vec<Line>,
}

/// One side's total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamPoints {
    /// The side (`red` or `blue`).
    pub team: String,
    /// Its role (`red` or `blue`).
    pub role: String,
    /// Its points, to two decimals.
    pub points: f64,
}

/// One line of the scoreboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Who it counts for: `red`, `blue` or the blue team that took a false action.
    pub team: String,
    /// Points (negative for a false action), to two decimals.
    pub points: f64,
    /// Why, in words.
    pub why: String,
}

/// The scoreboard of `tally` by `rules`. A line appears only for something that happened; a
/// false action's line counts against blue's total under the team that took it.
pub fn scoreboard(rules: &Rules, tally: &Tally) -> Scoreboard {
    let mut lines = Vec::new();
    let (mut red, mut blue) = (0.0, 0.0);
    let mut line = |team: &str, points: f64, why: String, total: &mut f64| {
        *total += points;
        lines.push(Line {
            team: team.to_owned(),
            points: round_to(points, 2),
            why,
        });
    };
    let hours = tally.customer_hours_off;
    if hours > 0.0 {
        let why = format!("{hours:.1} customer-hours off supply by attacks");
        line("red", hours * rules.red_per_customer_hour, why, &mut red);
    }
    let hours = tally.critical_hours_off;
    if hours > 0.0 {
        let why = format!("{hours:.1} critical-facility-hours off supply");
        line("red", hours * rules.red_per_critical_hour, why, &mut red);
    }
    let window_s = rules.detection_window_h * 3600.0;
    for (id, delay) in &tally.detections {
        if let Some(d) = delay {
            let points = rules.blue_detection * (1.0 - d / window_s).max(0.0);
            let why = format!("detected {id} after {:.0} min", d / 60.0);
            line("blue", points, why, &mut blue);
        }
    }
    let refused = tally.meters_refused;
    if refused > 0 {
        let why = format!("{refused} meters in attackers' commands refused by the HES");
        line("blue", refused as f64 * rules.blue_per_meter_refused, why, &mut blue);
    }
    for f in &tally.false_actions {
        let why = format!("false action: {} at {} s ({})", f.action, f.at_s, f.why);
        line(&f.team, -rules.false_action, why, &mut blue);
    }
    let side = |name: &str, points: f64| TeamPoints {
        team: name.to_owned(),
        role: name.to_owned(),
        points: round_to(points, 2),
    };
    Scoreboard {
        teams: vec![side("red", red), side("blue", blue)],
        lines,
    }
}

#[cfg(test)]
mod tests {
    use amirange_sim::hes::CommandKind;
    use amirange_sim::time::SimTime;

    use super::*;

    fn rules() -> Rules {
        Rules {
            red_per_customer_hour: 0.1,
            red_per_critical_hour: 20.0,
            blue_detection: 500.0,
            detection_window_h: 4.0,
            blue_per_meter_refused: 0.5,
            false_action: 100.0,
        }
    }

    /// An interval row with `off` customers off supply because of attacks (and some off for
    /// other causes, which red earns nothing for).
    fn row(off: u64) -> IntervalRow {
        IntervalRow {
            customers_off_by_cause: [7, 9, off],
            ..IntervalRow::default()
        }
    }

    #[test]
    fn customers_off_by_attacks_is_the_attack_category_of_the_row() {
        assert_eq!(customers_off_by_attacks(&row(42)), 42);
        assert_eq!(customers_off_by_attacks(&IntervalRow::default()), 0);
    }

    #[test]
    fn the_tally_counts_attack_outages_critical_hours_and_refused_attack_commands_only() {
        // Four quarter hours with 100 customers off by attacks: 100 customer-hours.
        let mut records = RunRecords {
            intervals: vec![row(100), row(100), row(0), row(100), row(100)],
            ..RunRecords::default()
        };
        // Two critical facilities, 1.5 h and 30 min.
        records.critical_off_us_by_attack.insert((0, 3), 5_400_000_000);
        records.critical_off_us_by_attack.insert((1, 8), 1_800_000_000);
        let request = |cause: Cause, targets: u32, refused: bool| AuditRecord {
            id: 0,
            time: SimTime(0),
            account: "ops".into(),
            role: None,
            kind: CommandKind::Disconnect,
            purpose: String::new(),
            cause,
            targets,
            refused: refused.then_some(amirange_sim::hes::Refusal::NotPermitted),
            acked: 0,
            executed: 0,
            rejected: 0,
            failed: 0,
            retries: 0,
            finished: None,
            approver: None,
            protected: 0,
            signed: true,
        };
        let audit = [
            request(Cause::Attack(0), 40, true),
            request(Cause::Attack(1), 2, true),
            request(Cause::Attack(0), 500, false),
            request(Cause::Operation, 30, true),
        ];
        let tally = Tally::of(&records, &audit, vec![("a".into(), Some(60.0))], Vec::new());
        assert!((tally.customer_hours_off - 100.0).abs() < 1e-9, "{tally:?}");
        assert!((tally.critical_hours_off - 2.0).abs() < 1e-9, "{tally:?}");
        assert_eq!(tally.meters_refused, 42, "refused attack requests only");
        assert_eq!(tally.detections, vec![("a".to_owned(), Some(60.0))]);
    }

    #[test]
    fn red_scores_damage_and_blue_scores_early_detection_and_refusals_less_false_actions() {
        let tally = Tally {
            customer_hours_off: 100.0,
            critical_hours_off: 2.0,
            // Detected at once, after half the window, after the window, never.
            detections: vec![
                ("a".into(), Some(0.0)),
                ("b".into(), Some(7200.0)),
                ("c".into(), Some(20_000.0)),
                ("d".into(), None),
            ],
            meters_refused: 42,
            false_actions: vec![FalseAction {
                team: "blue-2".into(),
                action: "isolate-hes".into(),
                at_s: 600,
                why: "no attack had begun".into(),
            }],
        };
        let board = scoreboard(&rules(), &tally);
        let points: Vec<(&str, f64)> = board.lines.iter().map(|l| (l.team.as_str(), l.points)).collect();
        assert_eq!(
            points,
            [
                ("red", 10.0),
                ("red", 40.0),
                ("blue", 500.0),
                ("blue", 250.0),
                ("blue", 0.0),
                ("blue", 21.0),
                ("blue-2", -100.0),
            ]
        );
        assert_eq!(board.lines[0].why, "100.0 customer-hours off supply by attacks");
        assert_eq!(board.lines[3].why, "detected b after 120 min");
        assert_eq!(
            board.lines[5].why,
            "42 meters in attackers' commands refused by the HES"
        );
        assert_eq!(
            board.lines[6].why,
            "false action: isolate-hes at 600 s (no attack had begun)"
        );
        let totals: Vec<(&str, &str, f64)> = board
            .teams
            .iter()
            .map(|t| (t.team.as_str(), t.role.as_str(), t.points))
            .collect();
        assert_eq!(totals, [("red", "red", 50.0), ("blue", "blue", 671.0)]);
    }

    #[test]
    fn a_quiet_run_scores_nothing_and_has_no_lines() {
        let board = scoreboard(&rules(), &Tally::default());
        assert!(board.lines.is_empty());
        assert!(board.teams.iter().all(|t| t.points == 0.0));
        // The view's JSON: totals first, then lines, with the names the dashboard reads.
        let json = serde_json::to_value(&board).expect("plain data");
        assert_eq!(
            json,
            serde_json::json!({
                "teams": [
                    { "team": "red", "role": "red", "points": 0.0 },
                    { "team": "blue", "role": "blue", "points": 0.0 },
                ],
                "lines": [],
            })
        );
    }
}
