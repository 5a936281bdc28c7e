//! Energy theft by tampering with or bypassing the meter, at the premises.
//!
//! The customers of the `targets` premises take `stolen` of their consumption past their
//! meters from `at` (until `until`, or the end of the run). The premises' true load does not
//! change, so the transformer that supplies them carries more than its meters record: the gap
//! in transformer (and feeder) energy balance is what catches it. How it is done decides what
//! the meter notices:
//!
//! | method | how | tamper flag |
//! | --- | --- | --- |
//! | `Bypass` | a jumper across the meter's terminals, outside it | none: the meter sees nothing |
//! | `Magnet` | a strong magnet saturates the current transformer | `MAGNETIC` |
//! | `OpenCover` | the terminal cover is opened and the wiring altered | `COVER_OPEN` |
//!
//! `suppress_flags` stands for a thief who also defeats the tamper switch or sensor: the flag
//! is not raised. The flags are meter state (`Fleet::tamper`); detectors that read them come
//! with the defenses.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::security::tamper;
use amirange_sim::time::SimTime;
use serde::{Deserialize, Serialize};

use crate::tags::{Stride, Tags, Technique};
use crate::targets::Targets;
use crate::when::{self, When};
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: tampering that costs the utility its revenue.
pub const TAGS: Tags = Tags {
    kind: "energy-theft",
    nescor: &[],
    stride: Stride::Tampering,
    technique: Technique::LOSS_OF_PRODUCTIVITY_AND_REVENUE,
    related: &[Technique::MANIPULATION_OF_VIEW, Technique::ALARM_SUPPRESSION],
};

/// How the thief takes energy past the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Method {
    /// A jumper outside the meter: no tamper flag.
    Bypass,
    /// A magnet on the meter: the magnetic-field flag.
    Magnet,
    /// Rewiring under the terminal cover: the cover-open flag.
    OpenCover,
}

impl Method {
    fn flag(self) -> u8 {
        match self {
            Method::Bypass => 0,
            Method::Magnet => tamper::MAGNETIC,
            Method::OpenCover => tamper::COVER_OPEN,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Bypass => "bypass",
            Method::Magnet => "magnet",
            Method::OpenCover => "opened cover",
        }
    }
}

crate::attack_spec! {
    /// Energy theft as the scenario writes it.
    pub struct Spec {
        /// When it is undone (a time, not a peak).
        ///
        /// Default: none: to the end.
        #[serde(default)]
        pub until: Option<String>,
        /// The premises that steal (targets, below).
        pub targets: Targets,
        /// `Bypass`: a jumper outside the meter, which notices nothing; `Magnet`: a magnet saturates its current
        /// transformer and the meter raises its magnetic-field tamper flag; `OpenCover`: rewiring under the terminal
        /// cover, and the meter raises its cover-open flag.
        pub method: Method,
        /// Share of each premise's consumption taken past the meter: above 0, at most 1.
        pub stolen: f32,
        /// The thief also defeats the tamper sensor or switch: no flag is raised.
        ///
        /// Default: `false`.
        #[serde(default)]
        pub suppress_flags: bool,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<Theft, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        let until = when::end_after("until", self.until.as_deref(), at, ctx.start, ctx.horizon)?;
        self.targets.check().map_err(|e| FieldError::new("targets", e))?;
        if !(self.stolen > 0.0 && self.stolen <= 1.0) {
            return Err(FieldError::new(
                "stolen",
                format!("must be above 0 and at most 1, not {}", self.stolen),
            ));
        }
        Ok(Theft {
            spec: self.clone(),
            k: index,
            at,
            until,
            start: SimTime::ZERO,
            meters: Vec::new(),
            wakes: Vec::new(),
            done: 0,
        })
    }
}

/// Energy theft at run time.
#[derive(Debug)]
pub struct Theft {
    spec: Spec,
    k: u8,
    at: When,
    until: Option<SimTime>,
    start: SimTime,
    /// The stealing premises' meters.
    meters: Vec<u32>,
    /// The tampering, then its removal.
    wakes: Vec<SimTime>,
    /// Wakes taken so far.
    done: usize,
}

impl Theft {
    fn flag(&self) -> u8 {
        if self.spec.suppress_flags {
            0
        } else {
            self.spec.method.flag()
        }
    }
}

impl Attack for Theft {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.meters = self.spec.targets.meters(sim, self.k, "targets")?;
        self.start = self.at.resolve(sim);
        if self.until.is_some_and(|u| u <= self.start) {
            return Err(FieldError::new("until", "must be after the attack's start"));
        }
        self.wakes = vec![self.start];
        if let Some(u) = self.until.filter(|&u| u > self.start) {
            self.wakes.push(u);
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        self.wakes.get(self.done).copied()
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let tampering = self.done == 0;
        self.done += 1;
        if self.meters.is_empty() {
            return Ok(());
        }
        let share = if tampering { 1.0 - self.spec.stolen } else { 1.0 };
        for &m in &self.meters {
            sim.schedule(
                now,
                Input::Bypass {
                    meter: m,
                    registered_share: share,
                    cause: Cause::Attack(self.k),
                },
            )?;
            let flag = self.flag();
            if flag != 0 {
                let flags = sim.fleet().tamper[m as usize];
                let flags = if tampering { flags | flag } else { flags & !flag };
                sim.schedule(now, Input::Tamper { meter: m, flags })?;
            }
        }
        let (kind, detail) = if tampering {
            let flag = match (self.spec.method, self.spec.suppress_flags) {
                (Method::Bypass, _) => "no tamper flag".to_owned(),
                (_, true) => "tamper sensor defeated, no flag (T0878)".to_owned(),
                (m, false) => format!("the meter raises its {} flag", m.name()),
            };
            (
                "tamper-on",
                format!(
                    "{} premises take {:.0}% of their consumption past the meter ({}; {flag})",
                    self.meters.len(),
                    self.spec.stolen * 100.0,
                    self.spec.method.name()
                ),
            )
        } else {
            ("tamper-off", "the tampering is undone".to_owned())
        };
        truth(sim, now, &self.spec.header.id, kind, detail, self.meters.clone());
        Ok(())
    }

    fn report(&self, _sim: &Sim) -> Outcome {
        let started = self.done > 0;
        let succeeded = started && !self.meters.is_empty();
        let failure_reason = (!succeeded).then(|| {
            if started {
                "the targets hold no meter".to_owned()
            } else {
                "the attack had not started when the run ended".to_owned()
            }
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "{} premises took {:.0}% of their consumption past their meters ({})",
                self.meters.len(),
                self.spec.stolen * 100.0,
                self.spec.method.name()
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.start, self.meters.len() as u64, outcome).with_control(
            if succeeded { self.meters.len() as u64 } else { 0 },
            succeeded && self.done < 2,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(stolen: f32, until: Option<&str>) -> AttackSpec {
        AttackSpec::EnergyTheft(Spec {
            header: header("theft", "0d 01:00"),
            until: until.map(str::to_owned),
            targets: Targets::Meters(vec![1, 2, 3]),
            method: Method::Bypass,
            stolen,
            suppress_flags: false,
        })
    }

    #[test]
    fn a_theft_takes_a_share_above_zero() {
        assert_eq!(check(&spec(0.0, None)).map_err(|e| e.field), Err("stolen".into()));
        assert_eq!(check(&spec(1.5, None)).map_err(|e| e.field), Err("stolen".into()));
        assert_eq!(check(&spec(0.5, None)), Ok(()));
    }

    #[test]
    fn a_theft_that_lasts_to_the_end_stays_active_and_one_undone_does_not() {
        let (_, report) = run(spec(0.5, None), 10);
        assert!(report.succeeded && report.still_active, "{report:?}");
        assert_eq!(report.meters_compromised, 3);
        let (_, undone) = run(spec(0.5, Some("0d 03:00")), 10);
        assert!(undone.succeeded && !undone.still_active, "{undone:?}");
    }
}
