//! Connection floods against the HES's front end or collectors' backhaul endpoints.
//!
//! The HES's front end (the MQTT broker and backhaul gateway that collectors and cellular
//! meters connect to) and each collector's own backhaul endpoint accept a limited number of new
//! connections a second (`hes.front_end_connections_per_s`, `hes.collector_connections_per_s`).
//! They are reachable from the public cellular network the backhaul rides on, where the
//! attacker's botnet opens `connections_per_s` connections from `at` to `until`. Beyond its
//! capacity an endpoint refuses connections at random, so a collector's upload of its read cycle
//! gets through only after refused tries (each costing `hes.connect_retry`, so reads arrive
//! late) or not at all (reads go missing until the next cycle's backfill), and the HES's
//! commands are delayed or lost the same way. Nothing is harmed at the meters.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::time::SimTime;
use serde::{Deserialize, Serialize};

use crate::tags::{Stride, Tags, Technique};
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: denial of service against the backhaul's endpoints.
pub const TAGS: Tags = Tags {
    kind: "connection-flood",
    nescor: &[],
    stride: Stride::DenialOfService,
    technique: Technique::DENIAL_OF_SERVICE,
    related: &[Technique::INTERNET_ACCESSIBLE_DEVICE, Technique::DENIAL_OF_VIEW],
};

/// What the flood aims at.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Target {
    /// The HES's front end, which every collector and cellular meter connects to.
    HesFrontEnd,
    /// These collectors' own backhaul endpoints (indices, as `amirange topo describe` and
    /// `Collector(n)` number them).
    Collectors(Vec<u32>),
}

crate::attack_spec! {
    /// A connection flood as the scenario writes it.
    pub struct Spec {
        /// The flood's window (times, not peaks; `until` after `at`, at most the end of the run).
        pub until: String,
        /// `HesFrontEnd` (every collector's connections go through it), or `Collectors([0, 3])`, those collectors' own
        /// endpoints (numbered as for `Collector(n)`, at least one).
        pub target: Target,
        /// Connection attempts a second against each target: 1 to 1e9.
        pub connections_per_s: f64,
        /// Hosts of the botnet the attempts come from, spread evenly over them (1 to 1,000,000): what an IDS rule that
        /// tracks by source sees (see [IDS rules](defenses.md#ids-rules)).
        ///
        /// Default: `200`.
        #[serde(default = "default_sources")]
        pub sources: u32,
    }
}

fn default_sources() -> u32 {
    200
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<ConnectionFlood, FieldError> {
        let at = when::instant("at", &self.header.at, ctx.start, ctx.horizon)?;
        let end = SimTime(ctx.horizon.0 + 1);
        let until = when::end_after("until", Some(&self.until), when::When::At(at), ctx.start, end)?.unwrap_or(end);
        let rate = self.connections_per_s;
        if !(rate.is_finite() && (1.0..=1e9).contains(&rate)) {
            return Err(FieldError::new(
                "connections_per_s",
                format!("must be between 1 and 1e9, not {rate}"),
            ));
        }
        // Each attack's botnet has 5,000 addresses of its own in the address plan.
        if !(1..=5_000).contains(&self.sources) {
            return Err(FieldError::new(
                "sources",
                format!("must be between 1 and 5000, not {}", self.sources),
            ));
        }
        if let Target::Collectors(list) = &self.target
            && list.is_empty()
        {
            return Err(FieldError::new("target", "name at least one collector"));
        }
        Ok(ConnectionFlood {
            spec: self.clone(),
            k: index,
            at,
            until,
            step: 0,
        })
    }
}

/// A connection flood at run time.
#[derive(Debug)]
pub struct ConnectionFlood {
    spec: Spec,
    k: u8,
    at: SimTime,
    until: SimTime,
    /// 0: not started, 1: flooding, 2: stopped.
    step: u8,
}

impl ConnectionFlood {
    fn targets(&self) -> Vec<Option<u32>> {
        match &self.spec.target {
            Target::HesFrontEnd => vec![None],
            Target::Collectors(list) => list.iter().map(|&c| Some(c)).collect(),
        }
    }

    /// Uploads it made fail, uploads it delayed, commands it made fail.
    fn effects(&self, sim: &Sim) -> [u64; 3] {
        sim.net_state()
            .flood_effects
            .get(usize::from(self.k))
            .copied()
            .unwrap_or([0; 3])
    }
}

impl Attack for ConnectionFlood {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        let n = sim.network().collectors.len();
        if let Target::Collectors(list) = &self.spec.target
            && let Some(&c) = list.iter().find(|&&c| c as usize >= n)
        {
            return Err(FieldError::new(
                "target",
                format!("there is no collector {c}: the network has {n}"),
            ));
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        match self.step {
            0 => Some(self.at),
            1 => Some(self.until),
            _ => None,
        }
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let starting = self.step == 0;
        self.step += 1;
        let rate = if starting { self.spec.connections_per_s } else { 0.0 };
        for collector in self.targets() {
            sim.schedule(
                now,
                Input::ConnectionFlood {
                    collector,
                    connections_per_s: rate,
                    sources: self.spec.sources,
                    cause: Cause::Attack(self.k),
                },
            )?;
        }
        let what = match &self.spec.target {
            Target::HesFrontEnd => "the HES front end".to_owned(),
            Target::Collectors(list) => format!("the backhaul endpoints of {} collector(s)", list.len()),
        };
        let (kind, detail) = if starting {
            (
                "flood-on",
                format!(
                    "{:.0} connection attempts a second against {what} (T0814)",
                    self.spec.connections_per_s
                ),
            )
        } else {
            ("flood-off", format!("the flood against {what} stops"))
        };
        truth(sim, now, &self.spec.header.id, kind, detail, Vec::new());
        Ok(())
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let [refused, delayed, commands] = self.effects(sim);
        let failure_reason = (refused + delayed + commands == 0).then(|| {
            if self.step == 0 {
                "the flood had not started when the run ended".to_owned()
            } else {
                format!(
                    "{:.0} connections a second stayed within what the targets accept: nothing was refused",
                    self.spec.connections_per_s
                )
            }
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "{:.0} connections a second: {refused} collector uploads refused, {delayed} delayed, {commands} commands lost",
                self.spec.connections_per_s
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.at, 0, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, context, header, run, sim};

    /// A flood from 01:00 to 02:00.
    fn spec(target: Target, connections_per_s: f64, sources: u32) -> Spec {
        Spec {
            header: header("syn", "0d 01:00"),
            until: "0d 02:00".into(),
            target,
            connections_per_s,
            sources,
        }
    }

    #[test]
    fn a_connection_flood_refuses_bad_rates_sources_targets_and_windows() {
        let field = |spec: Spec| check(&AttackSpec::ConnectionFlood(spec)).map_err(|e| e.field);
        assert_eq!(
            field(spec(Target::HesFrontEnd, 0.5, 200)),
            Err("connections_per_s".into())
        );
        assert_eq!(
            field(spec(Target::HesFrontEnd, f64::NAN, 200)),
            Err("connections_per_s".into())
        );
        assert_eq!(field(spec(Target::HesFrontEnd, 1e4, 0)), Err("sources".into()));
        assert_eq!(field(spec(Target::HesFrontEnd, 1e4, 5_001)), Err("sources".into()));
        assert_eq!(
            field(spec(Target::Collectors(Vec::new()), 1e4, 200)),
            Err("target".into())
        );
        let mut backwards = spec(Target::HesFrontEnd, 1e4, 200);
        backwards.until = "0d 00:30".into();
        assert_eq!(field(backwards.clone()), Err("until".into()));
        backwards.header.at = "0d peak".into();
        let e = check(&AttackSpec::ConnectionFlood(backwards)).expect_err("a peak is refused");
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("at", "must be a time, not a peak")
        );
        assert_eq!(field(spec(Target::Collectors(vec![0, 2]), 1e4, 200)), Ok(()));
    }

    #[test]
    fn a_flood_on_a_collector_the_network_lacks_is_refused_when_prepared() {
        // The test world has three collectors (mesh, PLC, cellular).
        let mut attack = spec(Target::Collectors(vec![1, 3]), 1e4, 200)
            .check(0, &context())
            .expect("valid without the network");
        let e = attack.prepare(&mut sim(4)).expect_err("no collector 3");
        assert_eq!(e.field, "target");
        assert_eq!(e.message, "there is no collector 3: the network has 3");
    }

    #[test]
    fn a_flood_beyond_the_front_end_capacity_refuses_uploads_between_its_on_and_off() {
        let (sim, report) = run(AttackSpec::ConnectionFlood(spec(Target::HesFrontEnd, 1e6, 500)), 10);
        assert!(report.succeeded, "{report:?}");
        let [refused, delayed, lost] = sim.net_state().flood_effects[0];
        assert!(
            refused + delayed > 0,
            "no upload suffered: {:?}",
            [refused, delayed, lost]
        );
        assert_eq!(
            report.summary,
            format!(
                "1000000 connections a second: {refused} collector uploads refused, {delayed} delayed, {lost} commands lost"
            )
        );
        assert_eq!(report.meters_targeted, 0, "nothing is aimed at meters");
        let steps: Vec<(&str, u64)> = sim
            .records()
            .truth
            .iter()
            .map(|t| (t.kind.as_str(), t.time.0 / 60_000_000))
            .collect();
        assert_eq!(steps, [("flood-on", 60), ("flood-off", 120)]);
    }

    #[test]
    fn a_flood_within_what_the_front_end_accepts_fails_and_says_so() {
        // The front end accepts 2,000 new connections a second.
        let (sim, report) = run(AttackSpec::ConnectionFlood(spec(Target::HesFrontEnd, 100.0, 200)), 10);
        assert_eq!(sim.net_state().flood_effects.first().copied().unwrap_or([0; 3]), [0; 3]);
        assert!(!report.succeeded);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("100 connections a second stayed within what the targets accept: nothing was refused")
        );
    }
}
