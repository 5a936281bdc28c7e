//! Protocol downgrade: forcing meters back to a legacy security level.
//!
//! A radio near `center` answers the security negotiation of every radio meter (RF mesh or
//! cellular) within `radius_m` at `at`, offering only the legacy level. A meter that still
//! accepts it (`security.legacy_share` of the fleet, drawn per meter) falls back: from then on
//! it authenticates neither the network it joins nor the messages it gets, and checks no frame
//! counters, so that a rogue concentrator, forged commands and replays work on it whatever the
//! fleet's settings. Meters that accept no legacy level refuse, and their refusals are logged
//! (a detector's hook). The downgrade lasts to the end of the run.
//!
//! A downgrade does no harm by itself; it is the first step of a chain, written in the same
//! scenario as the attack that exploits it (see `scenarios/attacks/downgrade-replay.ron`).

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::network::Point;
use amirange_sim::time::SimTime;

use crate::tags::{Stride, Tags, Technique};
use crate::targets::{Place, radios_within};
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: tampering with the security negotiation over the air.
pub const TAGS: Tags = Tags {
    kind: "protocol-downgrade",
    nescor: &[],
    stride: Stride::Tampering,
    technique: Technique::WIRELESS_COMPROMISE,
    related: &[Technique::ADVERSARY_IN_THE_MIDDLE],
};

crate::attack_spec! {
    /// A protocol downgrade as the scenario writes it.
    pub struct Spec {
        /// Where the radio stands and how far it reaches (m, above 0, at most 100,000).
        pub center: Place,
        /// Where the radio stands and how far it reaches (m, above 0, at most 100,000).
        pub radius_m: f32,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<Downgrade, FieldError> {
        let at = when::instant("at", &self.header.at, ctx.start, ctx.horizon)?;
        crate::targets::check_radius("radius_m", self.radius_m)?;
        Ok(Downgrade {
            spec: self.clone(),
            k: index,
            at,
            center: Point { x: 0.0, y: 0.0 },
            in_range: Vec::new(),
            done: false,
        })
    }
}

/// A protocol downgrade at run time.
#[derive(Debug)]
pub struct Downgrade {
    spec: Spec,
    k: u8,
    at: SimTime,
    center: Point,
    /// Radio meters within reach, ascending.
    in_range: Vec<u32>,
    done: bool,
}

impl Downgrade {
    /// Meters it downgraded and meters that refused, ascending.
    fn outcome(&self, sim: &Sim) -> (Vec<u32>, Vec<u32>) {
        let fleet = sim.fleet();
        let code = self.k + 1;
        let downgraded = self
            .in_range
            .iter()
            .copied()
            .filter(|&m| fleet.downgraded_by[m as usize] == code)
            .collect();
        (downgraded, crate::targets::logged(&fleet.refused_downgrades, code))
    }
}

impl Attack for Downgrade {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.center = self.spec.center.resolve_field(sim.network(), "center")?;
        self.in_range = radios_within(sim.network(), self.center, self.spec.radius_m);
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        (!self.done).then_some(self.at)
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        self.done = true;
        let now = sim.now();
        for &meter in &self.in_range {
            sim.schedule(
                now,
                Input::Downgrade {
                    meter,
                    cause: Cause::Attack(self.k),
                },
            )?;
        }
        truth(
            sim,
            now,
            &self.spec.header.id,
            "downgrade-offer",
            format!(
                "{} radio meters within {} m offered only the legacy security level (T0860)",
                self.in_range.len(),
                self.spec.radius_m
            ),
            self.in_range.clone(),
        );
        Ok(())
    }

    fn finish(&mut self, sim: &mut Sim) {
        if !self.done {
            return;
        }
        let (downgraded, refused) = self.outcome(sim);
        for (kind, meters, detail) in [
            (
                "downgraded",
                downgraded,
                "meters fell back to the legacy level: no network or message authentication, no frame counters",
            ),
            ("downgrade-refused", refused, "meters refused the legacy level"),
        ] {
            if !meters.is_empty() {
                let detail = format!("{} {detail}", meters.len());
                truth(sim, self.at, &self.spec.header.id, kind, detail, meters);
            }
        }
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let (downgraded, refused) = self.outcome(sim);
        let failure_reason = (downgraded.is_empty()).then(|| {
            if !self.done {
                "the downgrade had not happened when the run ended".to_owned()
            } else if self.in_range.is_empty() {
                format!(
                    "no radio meter within {} m of ({:.0}, {:.0})",
                    self.spec.radius_m, self.center.x, self.center.y
                )
            } else if !refused.is_empty() {
                format!(
                    "all {} meters in range that answered refused the legacy security level",
                    refused.len()
                )
            } else {
                "no meter in range answered (down or without supply)".to_owned()
            }
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "downgraded {} of {} radio meters in range to the legacy security level; {} refused",
                downgraded.len(),
                self.in_range.len(),
                refused.len()
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.at, self.in_range.len() as u64, outcome)
            .with_control(downgraded.len() as u64, !downgraded.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, run, run_in, sim_with};

    /// A downgrade at 01:00 from the collector's spot; the test world's meters stand 1 m apart
    /// on a line from it, so a radius of 4.5 m reaches meters 0 to 4.
    fn spec(center: Place, radius_m: f32) -> AttackSpec {
        AttackSpec::ProtocolDowngrade(Spec {
            header: crate::testing::header("dg", "0d 01:00"),
            center,
            radius_m,
        })
    }

    #[test]
    fn a_downgrade_refuses_a_peak_and_a_reach_out_of_range() {
        let field = |spec: AttackSpec| check(&spec).map_err(|e| e.field);
        assert_eq!(field(spec(Place::Point(0.0, 0.0), 0.0)), Err("radius_m".into()));
        assert_eq!(field(spec(Place::Point(0.0, 0.0), 200_000.0)), Err("radius_m".into()));
        let at_peak = AttackSpec::ProtocolDowngrade(Spec {
            header: crate::testing::header("dg", "0d peak"),
            center: Place::Point(0.0, 0.0),
            radius_m: 10.0,
        });
        assert_eq!(field(at_peak), Err("at".into()));
        assert_eq!(field(spec(Place::Meter(3), 10.0)), Ok(()));
    }

    #[test]
    fn meters_that_accept_no_legacy_level_refuse_and_the_downgrade_fails() {
        // The typical fleet accepts no legacy level.
        let (sim, report) = run(spec(Place::Point(0.0, 0.0), 4.5), 10);
        assert!(!report.succeeded);
        assert_eq!(report.meters_targeted, 5);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("all 5 meters in range that answered refused the legacy security level")
        );
        assert_eq!((report.meters_compromised, report.still_active), (0, false));
        assert!(sim.fleet().downgraded_by.iter().all(|&code| code == 0));
        let refused = sim.records().truth.iter().find(|t| t.kind == "downgrade-refused");
        assert_eq!(refused.map(|t| t.meters.clone()), Some(vec![0, 1, 2, 3, 4]));
    }

    #[test]
    fn legacy_meters_in_range_fall_back_and_stay_downgraded() {
        let legacy_fleet = sim_with(10, |config| config.security.legacy_share = 1.0);
        let (sim, report) = run_in(spec(Place::Point(0.0, 0.0), 4.5), legacy_fleet);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "downgraded 5 of 5 radio meters in range to the legacy security level; 0 refused"
        );
        assert_eq!((report.meters_compromised, report.still_active), (5, true));
        // Attack 0 downgrades under code 1; meters out of reach keep their security level.
        assert_eq!(sim.fleet().downgraded_by, [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["downgrade-offer", "downgraded"]);
    }
}
