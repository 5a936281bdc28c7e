//! The summaries `amirange run` prints: [`run_summary`] of a run, [`paired_summary`] of a
//! paired run's differences. Numbers are formatted for people ([`amirange_viz::numbers`]);
//! the result files keep full precision.

use std::fmt::Write as _;

use amirange_measures::attack_metrics::AttackMetrics;
use amirange_viz::numbers::{decimal, duration_words, group, human};

use crate::metrics::Metrics;
use crate::scenario::Scenario;

/// The summary `amirange run` prints: the run's headline, energy and reads, supply per cause,
/// the HES's commands, operations and outages, reading per link kind, the defenses and each
/// attack in words. `threads` and `wall_s` (seconds) are the run's.
pub fn run_summary(scenario: &Scenario, m: &Metrics, threads: usize, wall_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "amirange run: {} · seed {} · {} meters · {} from {} · {} threads · {:.2} s wall",
        scenario.name,
        scenario.seed(),
        group(m.meters),
        scenario.duration,
        scenario.sim.start,
        threads,
        wall_s
    );
    let e = &m.energy;
    let r = &m.reads;
    let rows: Vec<(&str, String)> = vec![
        ("true energy", format!("{} MWh", decimal(e.true_kwh / 1000.0, 1))),
        (
            "reported at first read (MDM)",
            format!(
                "{} MWh ({:+.2}%)",
                decimal(e.reported_kwh / 1000.0, 1),
                e.reported_error_pct
            ),
        ),
        (
            "settled after backfill (MDM)",
            format!(
                "{} MWh ({:+.2}%)",
                decimal(e.settled_kwh / 1000.0, 1),
                e.settled_error_pct
            ),
        ),
        (
            "feeder-head SCADA",
            format!(
                "{} MWh ({:.1}% technical losses)",
                decimal(e.scada_kwh / 1000.0, 1),
                e.losses_pct
            ),
        ),
        (
            "peak true load",
            format!("{} MW at {}", decimal(e.peak_true_kw / 1000.0, 1), e.peak_true_at),
        ),
        (
            "interval reads on time",
            format!(
                "{} of {} ({:.1}%)",
                group(r.on_time),
                group(m.meter_intervals),
                r.on_time_pct
            ),
        ),
        ("intervals estimated", group(r.estimated)),
        ("  of which backfilled later", group(r.backfilled)),
        (
            "estimation error (backfilled)",
            format!("{:.1}%", r.estimation_error_pct),
        ),
        ("validation flags", group(r.validation_flags)),
        (
            "customers connected (min)",
            format!(
                "{} of {}",
                group(m.supply.min_customers_connected),
                group(m.supply.customers)
            ),
        ),
        (
            "grid frequency",
            format!(
                "{:.3} to {:.3} Hz ({} disturbances, {} UFLS stage trips, system {} MW)",
                m.frequency.min_hz,
                m.frequency.max_hz,
                group(m.frequency.disturbances),
                m.frequency.ufls_stage_trips,
                decimal(m.frequency.system_mw, 0)
            ),
        ),
        (
            "alerts / truth records",
            format!(
                "{} / {}",
                group(m.control_plane.alerts),
                group(m.control_plane.truth_records)
            ),
        ),
    ];
    let _ = writeln!(out);
    for (k, v) in &rows {
        let _ = writeln!(out, "  {k:<32} {v}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<10} {:>14} {:>14} {:>14} {:>10}",
        "supply", "peak off", "cust-minutes", "kWh not srvd", "critical"
    );
    for (cause, c) in &m.supply.by_cause {
        let _ = writeln!(
            out,
            "  {:<10} {:>14} {:>14} {:>14} {:>10}",
            cause,
            group(c.peak_customers_off),
            decimal(c.customer_minutes_interrupted, 0),
            decimal(c.kwh_not_served, 0),
            c.critical_facilities_hit
        );
    }
    let cs = &m.supply.critical_facilities;
    if cs.hit > 0 {
        let _ = writeln!(
            out,
            "  critical facilities without supply: {} of {} (longest {})",
            cs.hit,
            cs.facilities,
            duration_words(cs.longest_minutes * 60.0)
        );
    }
    if m.supply.dr_curtailed_kwh > 0.0 {
        let _ = writeln!(
            out,
            "  demand response curtailed {} MWh",
            decimal(m.supply.dr_curtailed_kwh / 1000.0, 1)
        );
    }
    let cp = &m.control_plane;
    if cp.requests > 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  HES: {} requests ({} refused), {} messages",
            group(cp.requests),
            group(cp.refused),
            group(cp.messages)
        );
        let _ = writeln!(
            out,
            "  {:<16} {:>9} {:>10} {:>10} {:>8} {:>8}",
            "command", "requests", "targets", "executed", "failed", "retries"
        );
        for (kind, k) in &cp.by_kind {
            let _ = writeln!(
                out,
                "  {:<16} {:>9} {:>10} {:>10} {:>8} {:>8}",
                kind,
                group(k.requests),
                group(k.targets),
                group(k.executed),
                group(k.failed),
                group(k.retries)
            );
        }
        let t = &cp.execute_seconds_by_link;
        let spread = |k: &str| {
            t.get(k)
                .map_or("-".to_owned(), |s| format!("{}/{}", human(s.median), human(s.p95)))
        };
        let _ = writeln!(
            out,
            "  command to execution, median/p95 s: mesh {}, plc {}, cellular {}",
            spread("mesh"),
            spread("plc"),
            spread("cellular")
        );
    }
    if let Some(ops) = &m.operations {
        let p = &ops.planned;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  operations: {} non-payment disconnects, {} reconnects, {} move-outs ({} vacant), {} move-ins",
            p.nonpayment_disconnects, p.reconnects, p.move_outs, p.vacant, p.move_ins
        );
        let _ = writeln!(
            out,
            "              {} firmware updates, {} key rotations, {} demand-response events, {} meter failures",
            group(p.firmware_updates),
            group(p.key_rotations),
            p.demand_response_events,
            p.meter_failures
        );
    }
    let o = &m.outages;
    if o.outages > 0 {
        let _ = writeln!(
            out,
            "  outages: {} feeders or transformers ({} protection trips; {} customers), {} restored (mean {}), {} detected (median {})",
            o.outages,
            o.protection_trips,
            group(o.customers_affected),
            o.restored,
            duration_words(o.mean_duration_minutes * 60.0),
            o.detected,
            duration_words(o.detection_seconds.median)
        );
        if o.backup_supply_facilities > 0 {
            let _ = writeln!(
                out,
                "  backup supply: {} critical facilities rode through on a second feed or generator ({} in all)",
                o.backup_supply_facilities,
                duration_words(o.backup_supply_hours * 3_600.0)
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<10} {:>10} {:>10} {:>12} {:>11}",
        "link", "meters", "read ok", "mean latency", "read daily"
    );
    for (name, l) in &m.reads.by_link {
        let daily = if l.meter_days == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}%", l.daily_read_pct)
        };
        let _ = writeln!(
            out,
            "  {:<10} {:>10} {:>9.1}% {:>10.1} s {:>11}",
            name,
            group(l.meters),
            l.success_pct,
            l.mean_latency_ms / 1000.0,
            daily
        );
    }
    let _ = writeln!(out);
    let d = &m.defense;
    if let Some(preset) = &d.preset {
        let responses = if d.responses.is_empty() {
            "no playbook responded".to_owned()
        } else {
            format!("responses: {}", d.responses.join(", "))
        };
        let _ = writeln!(
            out,
            "  defenses: {preset} preset, {} alert{}, {responses}, {} meters reconnected",
            group(d.alerts),
            if d.alerts == 1 { "" } else { "s" },
            group(d.reconnected)
        );
        let _ = writeln!(out);
    }
    attacks(&mut out, &m.attacks);
    out
}

/// What each attack did, in words and in its blast radius.
fn attacks(out: &mut String, attacks: &[AttackMetrics]) {
    for a in attacks {
        let verdict = if a.succeeded { "succeeded" } else { "FAILED" };
        let _ = writeln!(
            out,
            "  attack {} ({}, {} {}, {}) at {}: {verdict}",
            a.id, a.kind, a.technique, a.technique_name, a.stride, a.start
        );
        let _ = writeln!(out, "    {}", a.summary);
        let _ = match (a.detected, a.time_to_detect_s, a.first_detector.as_deref()) {
            (true, Some(s), Some(by)) => writeln!(out, "    detected by {by}, {} after it began", duration_words(s)),
            (true, Some(s), None) => writeln!(out, "    detected {} after it began", duration_words(s)),
            (true, None, _) => writeln!(out, "    detected"),
            (false, ..) => writeln!(out, "    not detected"),
        };
        let b = &a.blast_radius;
        let mut parts = Vec::new();
        if b.peak_customers_disconnected > 0 || b.customer_minutes_interrupted > 0.0 {
            parts.push(format!(
                "{} customers off at peak, {} customer-minutes, {} kW shed at peak, {} kWh not served",
                group(b.peak_customers_disconnected),
                decimal(b.customer_minutes_interrupted, 0),
                decimal(b.peak_kw_shed, 0),
                decimal(b.kwh_not_served, 0)
            ));
        }
        if b.critical_facilities_hit > 0 {
            parts.push(format!(
                "{} critical facilities hit ({} without supply)",
                b.critical_facilities_hit,
                duration_words(b.critical_facility_minutes * 60.0)
            ));
        }
        if b.meters_compromised > 0 {
            parts.push(format!("{} meters compromised", group(b.meters_compromised)));
        }
        if b.kwh_falsified > 0.0 {
            parts.push(format!("{} kWh falsified", decimal(b.kwh_falsified, 0)));
        }
        if b.kwh_stolen > 0.0 {
            parts.push(format!("{} kWh stolen", decimal(b.kwh_stolen, 0)));
        }
        if b.kwh_curtailed > 0.0 {
            parts.push(format!("{} kWh of load curtailed", decimal(b.kwh_curtailed, 0)));
        }
        if b.readings_lost > 0 {
            parts.push(format!("{} readings lost", group(b.readings_lost)));
        }
        if b.customers_exposed > 0 {
            parts.push(format!(
                "interval data of {} customers exposed ({} households)",
                group(b.customers_exposed),
                group(b.households_exposed)
            ));
        }
        if let (Some(lo), Some(hi)) = (b.frequency_nadir_hz, b.frequency_peak_hz)
            && (hi - lo) >= 0.001
        {
            let shed = if b.ufls_shed_mw > 0.0 {
                format!(", {} MW shed by under-frequency relays", decimal(b.ufls_shed_mw, 0))
            } else {
                String::new()
            };
            parts.push(format!("frequency {lo:.3} to {hi:.3} Hz{shed}"));
        }
        if b.legitimate_jobs_queued_behind > 0 {
            parts.push(format!(
                "{} legitimate commands waited {} on average in the HES queue",
                group(b.legitimate_jobs_queued_behind),
                duration_words(b.legitimate_queue_wait_s)
            ));
        }
        parts.push(match b.time_to_restore_s {
            Some(s) if s > 0.0 => format!("effects over after {}", duration_words(s)),
            Some(_) if parts.is_empty() => "no effect".to_owned(),
            Some(_) => "nothing to restore".to_owned(),
            None => "not restored by the end of the run".to_owned(),
        });
        let _ = writeln!(out, "    blast radius: {}", parts.join("; "));
    }
    if !attacks.is_empty() {
        let _ = writeln!(out);
    }
}

/// The paired run's headline differences, printed after [`run_summary`]: what the attacks
/// changed against the baseline twin.
pub fn paired_summary(attack: &Metrics, baseline: &Metrics) -> String {
    let mut out = String::new();
    let rows = crate::paired::rows(attack, baseline);
    let wanted = [
        ("supply.customer_minutes_interrupted", "customer-minutes interrupted"),
        ("supply.kwh_not_served", "kWh not served"),
        ("reads.on_time", "interval reads on time"),
        ("reads.estimated", "intervals estimated"),
        ("energy.reported_kwh", "energy reported at first read, kWh"),
        ("control_plane.alerts", "alerts"),
        ("frequency.min_hz", "lowest frequency, Hz"),
    ];
    let _ = writeln!(out);
    let _ = writeln!(out, "  paired with its baseline twin (same seed, no attacks)");
    let _ = writeln!(
        out,
        "  {:<36} {:>14} {:>14} {:>14}",
        "measure", "attack", "baseline", "difference"
    );
    for (path, name) in wanted {
        if let Some((_, a, b)) = rows.iter().find(|r| r.0 == path) {
            let difference = a - b;
            let sign = if difference > 0.0 && human(difference) != "0" {
                "+"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {name:<36} {:>14} {:>14} {:>14}",
                human(*a),
                human(*b),
                format!("{sign}{}", human(difference))
            );
        }
    }
    let _ = writeln!(out, "  every measure: paired.csv");
    out
}

#[cfg(test)]
mod tests {
    use amirange_sim::engine::{Input, Sim};
    use amirange_sim::model::{Cause, CustomerClass, LinkKind, Relay};
    use amirange_sim::network::{LinkParams, Network};
    use amirange_sim::time::{SimDuration, SimTime};

    use super::*;
    use crate::scenario::{Overrides, load};

    /// The quickstart's header over an hour of four meters, one cut off by attack 0 at minute
    /// 10, as `run` prints it: the headline, the supply table and the attack in words.
    #[test]
    fn the_summary_reads_as_a_person_expects() {
        let scenario = load("quickstart", crate::QUICKSTART, &Overrides::default()).expect("the quickstart loads");
        let mut config = scenario.sim.clone();
        config.horizon = SimDuration::from_hours(1);
        let network = Network::small(
            LinkParams::typical(),
            (0..4).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        let mut sim = Sim::new(config.clone(), network).expect("a valid world");
        let open = Input::SetRelay {
            meter: 0,
            relay: Relay::Open,
            cause: Cause::Attack(0),
        };
        sim.schedule(SimTime(600_000_000), open).expect("in the run");
        sim.run_to_end().expect("runs");
        let outcome = amirange_attackers::Outcome::new(SimTime(600_000_000), 1, Ok("cut one meter off".into()));
        let report = amirange_attackers::Report::new("cut", &amirange_attackers::mass_disconnect::TAGS, outcome);
        let m = amirange_measures::metrics::compute(&sim, &config, 4, None, &[report]);
        let text = run_summary(&scenario, &m, 2, 1.234);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "amirange run: {} · seed {} · 4 meters · {} from 2026-01-15T00:00:00 · 2 threads · 1.23 s wall",
                scenario.name,
                scenario.seed(),
                scenario.duration
            )
        );
        assert!(lines.contains(&"  customers connected (min)        3 of 4"), "{text}");
        assert!(
            lines.contains(&"  attack                  1             50              0          0"),
            "{text}"
        );
        let technique = amirange_attackers::mass_disconnect::TAGS.technique;
        assert!(
            lines.contains(
                &format!(
                    "  attack cut (mass-disconnect, {} {}, {}) at 2026-01-15T00:10:00: succeeded",
                    technique.id,
                    technique.name,
                    amirange_attackers::mass_disconnect::TAGS.stride.name()
                )
                .as_str()
            ),
            "{text}"
        );
        assert!(lines.contains(&"    cut one meter off") && lines.contains(&"    not detected"));
        let blast = lines
            .iter()
            .find(|l| l.starts_with("    blast radius: "))
            .expect("a blast radius");
        assert!(
            blast.starts_with("    blast radius: 1 customers off at peak, 50 customer-minutes,"),
            "{blast}"
        );
        assert!(blast.ends_with("; not restored by the end of the run"), "{blast}");
        // Against itself, a paired run differs in nothing.
        let paired = paired_summary(&m, &m);
        assert!(
            paired.contains("  customer-minutes interrupted                   50.0           50.0              0"),
            "{paired}"
        );
        assert!(paired.ends_with("  every measure: paired.csv\n"));
    }
}
