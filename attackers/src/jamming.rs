//! RF jamming: a jammer at a place, with a radius, a strength and a schedule.
//!
//! The jammer is an interference area of the engine (see `amirange_sim::network::Interference`):
//! every mesh or cellular link with an end inside the radius keeps only `1 - strength` of its
//! frame success while the jammer transmits; PLC is wired and does not care.
//!
//! - `Constant`: it raises the noise floor for the whole window. Reads and commands in the area
//!   fail at once; after the mesh's repair delay, routes re-form around the area (meters outside
//!   it that routed through it find other parents; meters inside lose their mesh and fall back
//!   to cellular where they have a modem).
//! - `Periodic(on, off)`: constant, switched on and off; every switch re-forms routes.
//! - `Reactive`: it transmits only when it hears a data frame start. Routing probes get through,
//!   so routes do not re-form, while the frames of reads and commands are destroyed.
//!
//! `theft` uses the jammer to mask energy theft: a share of the premises inside the radius
//! bypass their meters for the whole window, and the jammer keeps the utility from reading them.
//! The stolen energy is the shortfall of their registers against their true consumption.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::network::{Interference, Point};
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::tags::{Stride, Tags, Technique};
use crate::targets::{Place, within};
use crate::when::{self, When};
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: radio denial of service that blocks reports and commands.
pub const TAGS: Tags = Tags {
    kind: "rf-jamming",
    nescor: &[],
    stride: Stride::DenialOfService,
    technique: Technique::DENIAL_OF_SERVICE,
    related: &[
        Technique::BLOCK_REPORTING_MESSAGE,
        Technique::BLOCK_COMMAND_MESSAGE,
        Technique::DENIAL_OF_VIEW,
    ],
};

/// When the jammer transmits.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// All the time, from `at` to `until`.
    #[default]
    Constant,
    /// `on` for a while, then silent for `off`, repeated.
    Periodic {
        /// How long each burst lasts, e.g. `"5m"`.
        on: String,
        /// The pause between bursts.
        off: String,
    },
    /// Only when a data frame starts (routes do not re-form around it).
    Reactive,
}

/// Theft masked by the jammer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Theft {
    /// Share of the premises inside the radius whose meters are bypassed, 0 to 1.
    pub premises: f64,
    /// Share of their consumption the bypass takes past the register, 0 to 1.
    pub stolen: f32,
}

crate::attack_spec! {
    /// A jammer as the scenario writes it.
    pub struct Spec {
        /// When it stops for good: after `at`, at most the end of the run (`"0d peak"` is not allowed here).
        pub until: String,
        /// Where it stands (a place, below).
        pub center: Place,
        /// Its radius, m: above 0, at most 100,000.
        pub radius_m: f32,
        /// Share of frame success it takes from each RF link inside the radius: above 0, at most 1 (1: nothing gets
        /// through).
        ///
        /// Default: `1.0`.
        #[serde(default)]
        pub strength: Option<f32>,
        /// `Constant`: transmits from `at` to `until`; the mesh re-forms its routes around the area
        /// `mesh.route_repair_delay` after it switches on, and again after it switches off. `Periodic(on: "20m", off:
        /// "10m")`: bursts of `on` with pauses of `off` (each at least 1s, at most 10,000 bursts); every switch
        /// re-forms routes. `Reactive`: transmits only when it hears a data frame start, so the routing layer sees
        /// clear links and routes do not re-form, while reads and commands over the covered links keep only `1 −
        /// strength` of their success.
        ///
        /// Default: `Constant`.
        #[serde(default)]
        pub schedule: Schedule,
        /// `(premises: p, stolen: s)`: each premise inside the radius (any link kind) is bypassed with probability `p`,
        /// drawn from the seed; from the first burst's start to the last burst's end, a bypassed meter's register
        /// records only `1 − s` of the true consumption (both 0 to 1).
        ///
        /// Default: none.
        #[serde(default)]
        pub theft: Option<Theft>,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<Jamming, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        // A jammer may run to the very end of the run.
        let until = when::end_after("until", Some(&self.until), at, ctx.start, SimTime(ctx.horizon.0 + 1))?
            .unwrap_or(ctx.horizon);
        crate::targets::check_radius("radius_m", self.radius_m)?;
        let strength = self.strength.unwrap_or(1.0);
        if !(strength > 0.0 && strength <= 1.0) {
            return Err(FieldError::new(
                "strength",
                format!("must be above 0 and at most 1, not {strength}"),
            ));
        }
        let periodic = match &self.schedule {
            Schedule::Periodic { on, off } => {
                let d = |f: &str, t: &str| {
                    when::duration(&format!("schedule.{f}"), t, ctx.horizon).and_then(|d| {
                        if d < SimDuration::from_secs(1) {
                            Err(FieldError::new(format!("schedule.{f}"), "at least 1s"))
                        } else {
                            Ok(d)
                        }
                    })
                };
                Some((d("on", on)?, d("off", off)?))
            }
            _ => None,
        };
        if let Some(theft) = &self.theft {
            if !(0.0..=1.0).contains(&theft.premises) {
                return Err(FieldError::new("theft.premises", "must be a share from 0 to 1"));
            }
            if !(0.0..=1.0).contains(&theft.stolen) {
                return Err(FieldError::new("theft.stolen", "must be a share from 0 to 1"));
            }
        }
        Ok(Jamming {
            spec: self.clone(),
            k: index,
            at,
            until,
            strength,
            periodic,
            center: Point { x: 0.0, y: 0.0 },
            covered: Vec::new(),
            windows: Vec::new(),
            next_event: 0,
            bypassed: Vec::new(),
            start: SimTime::ZERO,
        })
    }
}

/// A jammer at run time.
#[derive(Debug)]
pub struct Jamming {
    spec: Spec,
    k: u8,
    at: When,
    until: SimTime,
    strength: f32,
    periodic: Option<(SimDuration, SimDuration)>,
    center: Point,
    /// Meters with a radio (mesh or cellular) inside the radius, ascending.
    covered: Vec<u32>,
    /// Transmission windows, in time order.
    windows: Vec<(SimTime, SimTime)>,
    /// Index of the next window edge to record (2 per window: on, off).
    next_event: usize,
    /// Premises whose meters are bypassed.
    bypassed: Vec<u32>,
    start: SimTime,
}

impl Attack for Jamming {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.center = self.spec.center.resolve_field(sim.network(), "center")?;
        // Every premise inside the radius (the theft candidates), and the meters with a radio
        // among them (PLC is wired: the jammer cannot touch it).
        let inside = within(sim.network(), self.center, self.spec.radius_m);
        let net = sim.network();
        self.covered = inside
            .iter()
            .copied()
            .filter(|&m| net.meters[m as usize].link != amirange_sim::model::LinkKind::Plc)
            .collect();
        self.start = self.at.resolve(sim);
        let until = self.until.min(sim.horizon());
        if until <= self.start {
            return Err(FieldError::new("until", "must be after `at`"));
        }
        self.windows = match self.periodic {
            None => vec![(self.start, until)],
            Some((on, off)) => {
                let mut w = Vec::new();
                let mut t = self.start;
                while t < until {
                    let end = SimTime((t.0 + on.as_micros()).min(until.0));
                    w.push((t, end));
                    t = SimTime(end.0 + off.as_micros());
                    if w.len() > 10_000 {
                        return Err(FieldError::new(
                            "schedule",
                            "more than 10000 bursts; lengthen `on` or `off`, or shorten the window",
                        ));
                    }
                }
                w
            }
        };
        for &(start, end) in &self.windows {
            sim.add_interference(Interference {
                center: self.center,
                radius_m: self.spec.radius_m,
                strength: self.strength,
                start,
                end,
                reactive: self.spec.schedule == Schedule::Reactive,
                owner: Some(self.k),
            })
            .map_err(|e| FieldError::new("schedule", e.to_string()))?;
        }
        if let Some(theft) = &self.spec.theft {
            let seed = sim.config().seed;
            self.bypassed = inside
                .iter()
                .copied()
                .filter(|&m| {
                    let slot = crate::targets::STREAM_THEFT | u64::from(m);
                    Stream::new(seed, Purpose::Attack, u64::from(self.k), slot).bernoulli(theft.premises)
                })
                .collect();
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        let i = self.next_event;
        let (start, end) = *self.windows.get(i / 2)?;
        Some(if i.is_multiple_of(2) { start } else { end })
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let on = self.next_event.is_multiple_of(2);
        let first = self.next_event == 0;
        let last = self.next_event + 1 == self.windows.len() * 2;
        self.next_event += 1;
        let mode = match &self.spec.schedule {
            Schedule::Constant => "constant".to_owned(),
            Schedule::Periodic { on, off } => format!("periodic {on} on, {off} off"),
            Schedule::Reactive => "reactive".to_owned(),
        };
        if on {
            truth(
                sim,
                now,
                &self.spec.header.id,
                "jammer-on",
                format!(
                    "jammer on ({mode}, strength {}) within {} m of ({:.0}, {:.0}): {} meters (T0814)",
                    self.strength,
                    self.spec.radius_m,
                    self.center.x,
                    self.center.y,
                    self.covered.len()
                ),
                self.covered.clone(),
            );
        } else {
            truth(
                sim,
                now,
                &self.spec.header.id,
                "jammer-off",
                "jammer off".into(),
                Vec::new(),
            );
        }
        let stolen = self.spec.theft.as_ref().map_or(0.0, |t| t.stolen);
        if (first || last) && !self.bypassed.is_empty() {
            let (share, kind, detail) = if first {
                (
                    1.0 - stolen,
                    "bypass-on",
                    format!("{} meters bypassed under cover of the jammer", self.bypassed.len()),
                )
            } else {
                (1.0, "bypass-off", "bypasses removed".to_owned())
            };
            for &m in &self.bypassed {
                sim.schedule(
                    now,
                    Input::Bypass {
                        meter: m,
                        registered_share: share,
                        cause: Cause::Attack(self.k),
                    },
                )?;
            }
            truth(sim, now, &self.spec.header.id, kind, detail, self.bypassed.clone());
        }
        Ok(())
    }

    fn report(&self, _sim: &Sim) -> Outcome {
        let succeeded = !self.covered.is_empty();
        let failure_reason = (!succeeded).then(|| {
            format!(
                "no meter with a radio within {} m of the jammer at ({:.0}, {:.0})",
                self.spec.radius_m, self.center.x, self.center.y
            )
        });
        let span = self
            .windows
            .last()
            .map_or(SimDuration::ZERO, |w| SimDuration(w.1.0 - self.start.0));
        let outcome = match failure_reason {
            None => Ok(format!(
                "jammed {} meters within {} m for {:.1} h{}",
                self.covered.len(),
                self.spec.radius_m,
                span.as_hours_f64(),
                if self.bypassed.is_empty() {
                    String::new()
                } else {
                    format!(", masking {} bypassed meters", self.bypassed.len())
                }
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.start, self.covered.len() as u64, outcome).with_control(self.bypassed.len() as u64, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(strength: Option<f32>) -> AttackSpec {
        AttackSpec::Jamming(Spec {
            header: header("jam", "0d 01:00"),
            until: "0d 03:00".into(),
            center: Place::Point(0.0, 0.0),
            radius_m: 500.0,
            strength,
            schedule: Schedule::default(),
            theft: None,
        })
    }

    #[test]
    fn a_jammer_has_a_strength_above_zero_and_at_most_one() {
        assert_eq!(check(&spec(Some(0.0))).map_err(|e| e.field), Err("strength".into()));
        assert_eq!(check(&spec(Some(1.5))).map_err(|e| e.field), Err("strength".into()));
        assert_eq!(check(&spec(None)), Ok(()));
    }

    #[test]
    fn a_jammer_covers_every_radio_meter_in_its_radius() {
        let (_, report) = run(spec(None), 20);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(report.meters_targeted, 20);
    }
}
