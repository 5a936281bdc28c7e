//! Replay of captured relay commands.
//!
//! A radio near `center` listens from `at` to `capture_until` and records the frames of the
//! disconnect (or connect) commands the HES sends to meters within `radius_m` (the frame counter
//! each was accepted under). At `replay_at` it transmits each meter's last captured frame to it
//! again. A meter that checks frame counters (`security.frame_counters`, on by default) refuses
//! a frame whose counter is not above the last one it accepted, which a replay's never is; one
//! that does not acts on it: a customer the utility reconnected in the meantime is cut off again.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::hes::CommandKind;
use amirange_sim::model::{Cause, Relay};
use amirange_sim::network::Point;
use amirange_sim::security::ReplayedFrame;
use amirange_sim::time::SimTime;
use serde::{Deserialize, Serialize};

use crate::tags::{Stride, Tags, Technique};
use crate::targets::Place;
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: captured command messages sent again.
pub const TAGS: Tags = Tags {
    kind: "replay",
    nescor: &[],
    stride: Stride::Spoofing,
    technique: Technique::UNAUTHORIZED_COMMAND_MESSAGE,
    related: &[Technique::WIRELESS_SNIFFING, Technique::MANIPULATION_OF_CONTROL],
};

/// Which commands the radio keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Captures {
    /// Disconnect commands (replayed, they cut customers off).
    #[default]
    Disconnects,
    /// Connect commands (replayed, they restore supply the utility cut).
    Connects,
}

crate::attack_spec! {
    /// A replay as the scenario writes it.
    pub struct Spec {
        /// The listening window (times, not peaks).
        pub capture_until: String,
        /// When the captured frames are sent again, at or after `capture_until`.
        pub replay_at: String,
        /// Where the radio stands and how far it hears and reaches (m, above 0, at most 100,000).
        pub center: Place,
        /// Where the radio stands and how far it hears and reaches (m, above 0, at most 100,000).
        pub radius_m: f32,
        /// Which commands it keeps: `Disconnects` (replayed, they cut customers off again) or `Connects` (replayed,
        /// they restore supply the utility cut).
        ///
        /// Default: `Disconnects`.
        #[serde(default)]
        pub captures: Captures,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<Replay, FieldError> {
        let time = |field: &str, text: &str| when::instant(field, text, ctx.start, ctx.horizon);
        let at = time("at", &self.header.at)?;
        let capture_until = time("capture_until", &self.capture_until)?;
        let replay_at = time("replay_at", &self.replay_at)?;
        if capture_until <= at {
            return Err(FieldError::new("capture_until", "must be after `at`"));
        }
        if replay_at < capture_until {
            return Err(FieldError::new("replay_at", "must be at or after `capture_until`"));
        }
        crate::targets::check_radius("radius_m", self.radius_m)?;
        Ok(Replay {
            spec: self.clone(),
            k: index,
            at,
            capture_until,
            replay_at,
            center: Point { x: 0.0, y: 0.0 },
            captured: Vec::new(),
            step: 0,
        })
    }
}

/// A replay at run time.
#[derive(Debug)]
pub struct Replay {
    spec: Spec,
    k: u8,
    at: SimTime,
    capture_until: SimTime,
    replay_at: SimTime,
    center: Point,
    /// Per meter, its last captured frame, ascending by meter.
    captured: Vec<ReplayedFrame>,
    /// 0: capture pending, 1: replay pending, 2: done.
    step: u8,
}

impl Replay {
    fn relay(&self) -> Relay {
        match self.spec.captures {
            Captures::Disconnects => Relay::Open,
            Captures::Connects => Relay::Closed,
        }
    }

    /// Meters that refused their replayed frame (stale counter) and meters that acted on it,
    /// ascending.
    fn outcome(&self, sim: &Sim) -> (Vec<u32>, Vec<u32>) {
        let fleet = sim.fleet();
        let ours: std::collections::BTreeSet<ReplayedFrame> = self.captured.iter().copied().collect();
        let pick = |list: &[ReplayedFrame]| {
            let mut m: Vec<u32> = list
                .iter()
                .filter(|replayed_frame| ours.contains(replayed_frame))
                .map(|replayed_frame| replayed_frame.meter_idx)
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        (pick(&fleet.refused_frames), pick(&fleet.accepted_frames))
    }
}

impl Attack for Replay {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.center = self.spec.center.resolve_field(sim.network(), "center")?;
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        match self.step {
            0 => Some(self.capture_until),
            1 => Some(self.replay_at),
            _ => None,
        }
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        if self.step == 0 {
            self.step = 1;
            let wanted = match self.spec.captures {
                Captures::Disconnects => CommandKind::Disconnect,
                Captures::Connects => CommandKind::Connect,
            };
            let r2 = self.spec.radius_m * self.spec.radius_m;
            let hes = sim.hes();
            let net = sim.network();
            let mut frames: Vec<(u32, SimTime, u32)> = hes
                .jobs
                .iter()
                .filter(|j| {
                    j.executed.is_some_and(|t| t >= self.at && t < self.capture_until)
                        && hes.audit[j.command as usize].kind == wanted
                        && net.meters[j.meter as usize].pos.dist2(self.center) <= r2
                })
                .filter_map(|j| j.executed.map(|t| (j.meter, t, j.frame)))
                .collect();
            // The last frame heard per meter.
            frames.sort_unstable();
            let mut captured: Vec<ReplayedFrame> = Vec::new();
            for (meter_idx, _, frame_counter) in frames {
                match captured.last_mut() {
                    Some(last) if last.meter_idx == meter_idx => last.frame_counter = frame_counter,
                    _ => captured.push(ReplayedFrame {
                        meter_idx,
                        frame_counter,
                    }),
                }
            }
            self.captured = captured;
            let meters: Vec<u32> = self.captured.iter().map(|c| c.meter_idx).collect();
            let what = match self.spec.captures {
                Captures::Disconnects => "disconnect",
                Captures::Connects => "connect",
            };
            truth(
                sim,
                now,
                &self.spec.header.id,
                "capture",
                format!(
                    "{} {what} frames captured within {} m (T0887)",
                    meters.len(),
                    self.spec.radius_m
                ),
                meters,
            );
            return Ok(());
        }
        self.step = 2;
        if self.captured.is_empty() {
            return Ok(());
        }
        for &ReplayedFrame {
            meter_idx,
            frame_counter,
        } in &self.captured
        {
            sim.schedule(
                now,
                Input::Replay {
                    meter: meter_idx,
                    frame: frame_counter,
                    relay: self.relay(),
                    cause: Cause::Attack(self.k),
                },
            )?;
        }
        let meters: Vec<u32> = self.captured.iter().map(|c| c.meter_idx).collect();
        truth(
            sim,
            now,
            &self.spec.header.id,
            "replay",
            format!("{} captured frames transmitted again (T0855)", meters.len()),
            meters,
        );
        Ok(())
    }

    fn finish(&mut self, sim: &mut Sim) {
        if self.step < 2 || self.captured.is_empty() {
            return;
        }
        let (refused, accepted) = self.outcome(sim);
        for (kind, meters, detail) in [
            (
                "replay-refused",
                refused,
                "meters refused the replayed frame: stale frame counter",
            ),
            (
                "replay-accepted",
                accepted,
                "meters acted on the replayed frame (T0855)",
            ),
        ] {
            if !meters.is_empty() {
                let detail = format!("{} {detail}", meters.len());
                truth(sim, self.replay_at, &self.spec.header.id, kind, detail, meters);
            }
        }
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let (refused, accepted) = self.outcome(sim);
        let (refused, accepted) = (refused.len(), accepted.len());
        let failure_reason = (accepted == 0).then(|| {
            if self.step < 2 {
                "the replay had not happened when the run ended".to_owned()
            } else if self.captured.is_empty() {
                format!("no matching command was heard within {} m", self.spec.radius_m)
            } else if refused == self.captured.len() {
                format!("all {refused} replayed frames were refused: their frame counters were stale")
            } else {
                "no meter acted on a replayed frame (down or without supply)".to_owned()
            }
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "replayed {} captured frames; {accepted} meters acted on them, {refused} refused them (stale counters)",
                self.captured.len()
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.replay_at, self.captured.len() as u64, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run, run_in, sim_with};
    use amirange_sim::hes::CommandRequest;
    use amirange_sim::time::SimDuration;

    /// A radio at the collector's spot that hears every test meter from 00:15 to 01:00 and
    /// replays at 02:00.
    fn spec(capture_until: &str, replay_at: &str) -> Spec {
        Spec {
            header: header("replay", "0d 00:15"),
            capture_until: capture_until.into(),
            replay_at: replay_at.into(),
            center: Place::Point(0.0, 0.0),
            radius_m: 500.0,
            captures: Captures::Disconnects,
        }
    }

    /// The replay of [`spec`], as a scenario lists it.
    fn attack(capture_until: &str, replay_at: &str) -> AttackSpec {
        AttackSpec::Replay(spec(capture_until, replay_at))
    }

    /// A world of 10 meters whose utility disconnects meters 0 to 4 at 00:30 (non-payment) and
    /// connects them again at 01:30, with frame counters checked or not.
    fn world(frame_counters: bool) -> Sim {
        let mut sim = sim_with(10, |config| config.security.frame_counters = frame_counters);
        let minutes = |m: u64| SimTime(SimDuration::from_minutes(m).as_micros());
        for (at, kind) in [(30, CommandKind::Disconnect), (90, CommandKind::Connect)] {
            let credential = sim.credential("ops-alice").expect("a typical account");
            let request = CommandRequest {
                credential,
                kind,
                meters: vec![0, 1, 2, 3, 4],
                cause: Cause::Operation,
                purpose: "non-payment".into(),
                approver: None,
            };
            sim.schedule(minutes(at), Input::Command(request)).expect("schedules");
        }
        sim
    }

    #[test]
    fn a_replay_refuses_a_window_out_of_order() {
        let field = |spec: Spec| check(&AttackSpec::Replay(spec)).map_err(|e| e.field);
        assert_eq!(field(spec("0d 00:15", "0d 02:00")), Err("capture_until".into()));
        assert_eq!(field(spec("0d 01:00", "0d 00:45")), Err("replay_at".into()));
        assert_eq!(field(spec("0d peak", "0d 02:00")), Err("capture_until".into()));
        let mut deaf = spec("0d 01:00", "0d 02:00");
        deaf.radius_m = -1.0;
        assert_eq!(field(deaf), Err("radius_m".into()));
        assert_eq!(field(spec("0d 01:00", "0d 01:00")), Ok(()));
    }

    #[test]
    fn meters_that_check_frame_counters_refuse_the_replayed_disconnects() {
        let (sim, report) = run_in(attack("0d 01:00", "0d 02:00"), world(true));
        assert!(!report.succeeded);
        assert_eq!(report.meters_targeted, 5);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("all 5 replayed frames were refused: their frame counters were stale")
        );
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["capture", "replay", "replay-refused"]);
        let last = sim.records().intervals.last().expect("intervals");
        assert_eq!(
            last.customers_connected, 10,
            "the reconnected customers keep their supply"
        );
    }

    #[test]
    fn without_frame_counters_replayed_disconnects_cut_reconnected_customers_off_again() {
        let (sim, report) = run_in(attack("0d 01:00", "0d 02:00"), world(false));
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "replayed 5 captured frames; 5 meters acted on them, 0 refused them (stale counters)"
        );
        let accepted = sim.records().truth.iter().find(|t| t.kind == "replay-accepted");
        assert_eq!(accepted.map(|t| t.meters.clone()), Some(vec![0, 1, 2, 3, 4]));
        let last = sim.records().intervals.last().expect("intervals");
        assert_eq!(last.customers_connected, 5);
    }

    #[test]
    fn a_replay_that_hears_no_command_says_so() {
        let (sim, report) = run(attack("0d 01:00", "0d 02:00"), 10);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("no matching command was heard within 500 m")
        );
        let capture = sim.records().truth.iter().find(|t| t.kind == "capture");
        assert_eq!(
            capture.map(|t| t.detail.as_str()),
            Some("0 disconnect frames captured within 500 m (T0887)")
        );
    }
}
