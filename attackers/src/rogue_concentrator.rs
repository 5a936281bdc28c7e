//! Rogue concentrator (or base station): a man in the middle of the field network.
//!
//! From `at` to `until` (or the end of the run) a device near `center` advertises itself as a collector to mesh meters
//! and as a cell to cellular meters within `radius_m`. Each radio meter in range attaches to it
//! unless it authenticates the network (`security.mutual_auth`, on by default) and was not
//! downgraded (see [`crate::downgrade`]); mesh meters whose routes pass through an attached
//! meter follow it. What the device does with their traffic is its `action`:
//!
//! - `Drop`: reads and commands vanish (readings lost, commands time out at the HES);
//! - `Delay("2m")`: everything arrives late by that much (reads miss their deadline);
//! - `Alter(0.5)`: readings are altered to carry that share of the true consumption; meters
//!   that still authenticate messages have their altered reports refused at the HES (lost),
//!   downgraded meters' pass as real (falsified energy);
//! - `Forge`: traffic passes, and every attached meter gets a forged disconnect command, which
//!   only downgraded meters (no message authentication) act on.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::network::{Intercept, Point};
use amirange_sim::time::SimTime;
use serde::{Deserialize, Serialize};

use crate::tags::{Stride, Tags, Technique};
use crate::targets::{Place, logged, radios_within};
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: a device in the middle of the field network.
pub const TAGS: Tags = Tags {
    kind: "rogue-concentrator",
    nescor: &[],
    stride: Stride::Tampering,
    technique: Technique::ADVERSARY_IN_THE_MIDDLE,
    related: &[
        Technique::ROGUE_MASTER,
        Technique::WIRELESS_COMPROMISE,
        Technique::BLOCK_REPORTING_MESSAGE,
        Technique::SPOOF_REPORTING_MESSAGE,
    ],
};

/// What the rogue device does with the traffic it gets.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Action {
    /// Drops every read and command.
    Drop,
    /// Holds everything back this long, e.g. `"2m"`.
    Delay(String),
    /// Alters readings to carry this share (0 to 10) of the true consumption.
    Alter(f32),
    /// Passes traffic on and forges a disconnect command to every attached meter.
    Forge,
}

crate::attack_spec! {
    /// A rogue concentrator as the scenario writes it.
    pub struct Spec {
        /// When it goes off the air and releases every meter (a time after `at`).
        ///
        /// Default: none: to the end.
        #[serde(default)]
        pub until: Option<String>,
        /// Where it stands and how far it reaches (m, above 0, at most 100,000).
        pub center: Place,
        /// Where it stands and how far it reaches (m, above 0, at most 100,000).
        pub radius_m: f32,
        /// `Drop`: reads and commands vanish (readings lost, commands time out at the HES). `Delay("2m")`: everything
        /// arrives that much later (above 0), so reads miss their deadline. `Alter(0.5)`: readings altered to carry
        /// that share (0 to 10, not 1) of the true consumption; a meter that still authenticates messages has its
        /// altered reports refused at the HES (lost), and the commands to it are lost too; a downgraded meter's pass as
        /// real (`kwh_falsified`). `Forge`: traffic passes, and every meter attached to it directly gets a forged
        /// disconnect, which only downgraded meters act on (message authentication).
        pub action: Action,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<RogueConcentrator, FieldError> {
        let at = when::instant("at", &self.header.at, ctx.start, ctx.horizon)?;
        let end = SimTime(ctx.horizon.0 + 1);
        let until = when::end_after("until", self.until.as_deref(), when::When::At(at), ctx.start, end)?;
        crate::targets::check_radius("radius_m", self.radius_m)?;
        let mode = match &self.action {
            Action::Drop => Intercept::Drop,
            Action::Delay(text) => {
                let d = when::duration("action", text, ctx.horizon)?;
                if d.as_micros() == 0 {
                    return Err(FieldError::new("action", "a delay must be longer than zero"));
                }
                Intercept::Delay(d)
            }
            Action::Alter(share) => {
                if !(share.is_finite() && (0.0..=10.0).contains(share) && *share != 1.0) {
                    return Err(FieldError::new(
                        "action",
                        format!("the reported share must be between 0 and 10 and not 1, not {share}"),
                    ));
                }
                Intercept::Alter { reported_share: *share }
            }
            Action::Forge => Intercept::Forge,
        };
        Ok(RogueConcentrator {
            spec: self.clone(),
            k: index,
            at,
            until,
            mode,
            center: Point { x: 0.0, y: 0.0 },
            in_range: Vec::new(),
            step: 0,
        })
    }
}

/// A rogue concentrator at run time.
#[derive(Debug)]
pub struct RogueConcentrator {
    spec: Spec,
    k: u8,
    at: SimTime,
    until: Option<SimTime>,
    mode: Intercept,
    center: Point,
    /// Radio meters within reach, ascending.
    in_range: Vec<u32>,
    /// 0: not on the air yet, 1: on the air, 2: off again.
    step: u8,
}

impl Attack for RogueConcentrator {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.center = self.spec.center.resolve_field(sim.network(), "center")?;
        self.in_range = radios_within(sim.network(), self.center, self.spec.radius_m);
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        match self.step {
            0 => Some(self.at),
            1 => self.until,
            _ => None,
        }
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let cause = Cause::Attack(self.k);
        if self.step == 0 {
            self.step = 1;
            sim.schedule(
                now,
                Input::Intercept {
                    meters: self.in_range.clone(),
                    mode: Some(self.mode),
                    cause,
                },
            )?;
            truth(
                sim,
                now,
                &self.spec.header.id,
                "rogue-on",
                format!(
                    "rogue concentrator on the air within {} m of ({:.0}, {:.0}), {} radio meters in range (T0848)",
                    self.spec.radius_m,
                    self.center.x,
                    self.center.y,
                    self.in_range.len()
                ),
                self.in_range.clone(),
            );
            return Ok(());
        }
        self.step = 2;
        sim.schedule(
            now,
            Input::Intercept {
                meters: Vec::new(),
                mode: None,
                cause,
            },
        )?;
        truth(
            sim,
            now,
            &self.spec.header.id,
            "rogue-off",
            "rogue concentrator off the air".into(),
            Vec::new(),
        );
        Ok(())
    }

    fn finish(&mut self, sim: &mut Sim) {
        if self.step == 0 {
            return;
        }
        let code = self.k + 1;
        let fleet = sim.fleet();
        let attached = logged(&fleet.attached, code);
        let refused = logged(&fleet.refused_attach, code);
        let forged_refused = logged(&fleet.refused_forgeries, code);
        let detail = match self.mode {
            Intercept::Drop => "dropping their reads and commands (T0804)",
            Intercept::Delay(_) => "holding their reads and commands back",
            Intercept::Alter { .. } => "altering their readings (T0856)",
            Intercept::Forge => "forging disconnect commands to them (T0855)",
        };
        for (kind, meters, detail) in [
            (
                "attached",
                attached,
                format!("meters attached to the rogue concentrator, {detail}"),
            ),
            (
                "attach-refused",
                refused,
                "meters refused to attach: the rogue failed mutual authentication".to_owned(),
            ),
            (
                "forgery-refused",
                forged_refused,
                "meters refused the forged command: message authentication".to_owned(),
            ),
        ] {
            if !meters.is_empty() {
                let detail = format!("{} {detail}", meters.len());
                truth(sim, self.at, &self.spec.header.id, kind, detail, meters);
            }
        }
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let code = self.k + 1;
        let fleet = sim.fleet();
        let attached = logged(&fleet.attached, code).len();
        let refused = logged(&fleet.refused_attach, code).len();
        let failure_reason = (attached == 0).then(|| {
            if self.step == 0 {
                "the rogue concentrator had not gone on the air when the run ended".to_owned()
            } else if self.in_range.is_empty() {
                format!(
                    "no radio meter within {} m of ({:.0}, {:.0})",
                    self.spec.radius_m, self.center.x, self.center.y
                )
            } else if refused > 0 {
                format!("all {refused} meters in range refused to attach: mutual authentication")
            } else {
                "no meter in range answered (down or without supply)".to_owned()
            }
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "{attached} of {} radio meters in range attached to the rogue concentrator ({refused} refused)",
                self.in_range.len()
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.at, self.in_range.len() as u64, outcome)
            .with_control(attached as u64, attached > 0 && self.until.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run, run_in, sim_with};

    /// A rogue concentrator at 01:00 at the collector's spot; the test world's meters stand 1 m
    /// apart on a line from it, so a radius of 4.5 m reaches meters 0 to 4.
    fn spec(action: Action, until: Option<&str>) -> AttackSpec {
        AttackSpec::RogueConcentrator(Spec {
            header: header("rogue", "0d 01:00"),
            until: until.map(str::to_owned),
            center: Place::Point(0.0, 0.0),
            radius_m: 4.5,
            action,
        })
    }

    #[test]
    fn a_rogue_concentrator_refuses_empty_delays_truthful_alterations_and_early_ends() {
        let field = |spec: AttackSpec| check(&spec).map_err(|e| e.field);
        assert_eq!(field(spec(Action::Delay("0s".into()), None)), Err("action".into()));
        assert_eq!(field(spec(Action::Delay("soon".into()), None)), Err("action".into()));
        assert_eq!(field(spec(Action::Alter(1.0), None)), Err("action".into()));
        assert_eq!(field(spec(Action::Alter(-0.5), None)), Err("action".into()));
        assert_eq!(field(spec(Action::Drop, Some("0d 00:30"))), Err("until".into()));
        assert_eq!(field(spec(Action::Alter(0.5), Some("0d 02:00"))), Ok(()));
    }

    #[test]
    fn meters_that_authenticate_the_network_refuse_to_attach() {
        // The typical fleet authenticates the network it joins.
        let (sim, report) = run(spec(Action::Drop, None), 10);
        assert!(!report.succeeded);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("all 5 meters in range refused to attach: mutual authentication")
        );
        assert_eq!(report.meters_targeted, 5);
        let refused = sim.records().truth.iter().find(|t| t.kind == "attach-refused");
        assert_eq!(refused.map(|t| t.meters.clone()), Some(vec![0, 1, 2, 3, 4]));
        assert!(sim.records().intervals.iter().all(|row| row.reads_missing == 0));
    }

    #[test]
    fn without_mutual_authentication_meters_attach_and_their_reads_are_dropped_until_it_goes() {
        let open_fleet = || sim_with(10, |config| config.security.mutual_auth = false);
        let (sim, report) = run_in(spec(Action::Drop, None), open_fleet());
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "5 of 5 radio meters in range attached to the rogue concentrator (0 refused)"
        );
        assert_eq!((report.meters_compromised, report.still_active), (5, true));
        let dropped: u64 = sim.records().intervals.iter().map(|row| row.reads_missing).sum();
        assert!(dropped > 0, "the dropped reads are missing");
        let (sim, report) = run_in(spec(Action::Drop, Some("0d 02:00")), open_fleet());
        assert!(report.succeeded && !report.still_active, "{report:?}");
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["rogue-on", "rogue-off", "attached"]);
        let last = sim.records().intervals.last().expect("intervals");
        assert_eq!(last.reads_missing, 0, "reads arrive again once it is off the air");
    }
}
