//! # One loop owns time: actors woken in the engine's order
//!
//! Everything outside the engine that acts on it over time (a run's attack campaign, its
//! defender) is an [`Actor`]: it says when it next needs to act ([`Actor::next_wake`]) and acts
//! when woken ([`Actor::wake`]), through the engine's inputs and read-only accessors. No actor
//! steps the engine. [`step_to`] is the one loop that moves a run's time: it alone calls
//! [`Sim::step_until`] on a driver's behalf, so a run's data flows one way, from the driver
//! through this loop to the engine and its actors.
//!
//! ## Ordering contract
//!
//! [`step_to`]`(sim, to, actors, watcher)` visits, in time order, every instant `t <= to` at
//! which `actors` or `watcher` is due, and at each one does exactly this:
//!
//! 1. **The engine steps to `t`** ([`Sim::step_until`]): every calendar entry dated before `t`
//!    applies in (time, sequence) order (entries at the same instant in the order they were
//!    scheduled), and every interval `[a, b)` with `b <= t` closes at `b` after the entries
//!    dated before `b`; entries dated exactly `b` belong to the next interval, so an interval
//!    ending at `t` closes *before* the entries dated `t`, which then apply.
//! 2. **`actors` wake** if due at `t` (for a campaign: every attack due at `t`, in list order).
//!    An actor's wake must move its next wake past `t`.
//! 3. **The engine steps to `t` again**: what the actors scheduled at `t` itself applies now,
//!    so that the watcher sees it.
//! 4. **`watcher` wakes** if due at `t` (the defender's look, on its grid of every multiple of
//!    `every` and every interval end). What it schedules at `t` applies with the engine's next
//!    step: at the next instant's step 1, or at the end of this call when `t < to`.
//!
//! When every instant up to `to` has been visited, the engine steps to `to` itself, unless the
//! watcher woke at `to`: what a look at `to` schedules for that instant waits for the next call
//! (as a batch run, which calls this at every interval end, and a live exercise, which calls it
//! every tick, both rely on), and at the end of a run it never applies.
//!
//! Interval closes happen only inside the engine's steps (step 1 and the final step), so an
//! actor never sees an interval half closed.
//!
//! This order is part of the reproducibility contract: moving a step moves results.

use crate::engine::{Sim, SimError};
use crate::time::SimTime;

/// Something outside the engine that acts on it at instants it names: an attack campaign, a
/// defender. It acts only through [`Sim`]'s inputs and accessors, never by stepping the engine.
pub trait Actor {
    /// The next instant it needs to act at, if ever.
    fn next_wake(&self) -> Option<SimTime>;
    /// Acts at `at`, which is [`Sim::now`] and its [`Actor::next_wake`]; schedules inputs at or
    /// after `at`. Afterwards its next wake must be past `at`.
    fn wake(&mut self, sim: &mut Sim, at: SimTime) -> Result<(), SimError>;
}

/// Steps `sim` to `to`, waking `actors` and then `watcher` at each instant they are due, in the
/// order of the [module's contract](self#ordering-contract). `watcher` is optional (a run
/// without defenses).
pub fn step_to(
    sim: &mut Sim,
    to: SimTime,
    actors: &mut dyn Actor,
    mut watcher: Option<&mut dyn Actor>,
) -> Result<(), SimError> {
    let mut watched_at = None;
    loop {
        let actors_due = actors.next_wake().filter(|&t| t <= to);
        let watcher_due = watcher.as_deref().and_then(Actor::next_wake).filter(|&t| t <= to);
        let t = match (actors_due, watcher_due) {
            (None, None) => break,
            (Some(a), Some(w)) => a.min(w),
            (Some(a), None) => a,
            (None, Some(w)) => w,
        };
        sim.step_until(t)?;
        if actors_due == Some(t) {
            sim.enter(crate::probe::Phase::Attacks);
            actors.wake(sim, t)?;
            sim.step_until(t)?;
            // The actors may be due again before the watcher (never at `t` itself).
            continue;
        }
        if let Some(watcher) = watcher.as_deref_mut() {
            sim.enter(crate::probe::Phase::Defender);
            watcher.wake(sim, t)?;
            watched_at = Some(t);
        }
    }
    if watched_at != Some(to) {
        sim.step_until(to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{INTERVAL, SimConfig};
    use crate::engine::Input;
    use crate::model::{CustomerClass, LinkKind};
    use crate::network::{LinkParams, Network};
    use crate::records::TruthRecord;
    use crate::time::{CivilDateTime, SimDuration};

    fn sim() -> Sim {
        let start = CivilDateTime::parse("2026-01-15T00:00").expect("valid");
        let config = SimConfig::with_defaults(1, start, SimDuration::from_hours(2));
        let network = Network::small(
            LinkParams::typical(),
            (0..10).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        Sim::new(config, network).expect("valid world")
    }

    fn minutes(m: u64) -> SimTime {
        SimTime(SimDuration::from_minutes(m).as_micros())
    }

    /// The truth records applied so far, as `name@minute`.
    fn applied(sim: &Sim) -> Vec<String> {
        let minute = SimDuration::from_minutes(1).as_micros();
        sim.records()
            .truth
            .iter()
            .map(|r| format!("{}@{}", r.source, r.time.0 / minute))
            .collect()
    }

    /// A test actor: due at each of `wakes` in turn; when woken it notes what it sees applied
    /// and schedules a truth record named after itself at the present instant.
    struct Noting {
        name: &'static str,
        wakes: Vec<SimTime>,
        seen: Vec<(SimTime, Vec<String>)>,
        /// Intervals closed when it woke, wake by wake.
        closed: Vec<usize>,
    }

    impl Noting {
        fn new(name: &'static str, wakes: &[u64]) -> Noting {
            Noting {
                name,
                wakes: wakes.iter().rev().map(|&m| minutes(m)).collect(),
                seen: Vec::new(),
                closed: Vec::new(),
            }
        }
    }

    impl Actor for Noting {
        fn next_wake(&self) -> Option<SimTime> {
            self.wakes.last().copied()
        }

        fn wake(&mut self, sim: &mut Sim, at: SimTime) -> Result<(), SimError> {
            assert_eq!((self.wakes.pop(), sim.now()), (Some(at), at));
            self.seen.push((at, applied(sim)));
            self.closed.push(sim.records().intervals.len());
            let record = TruthRecord {
                time: at,
                source: self.name.into(),
                kind: "test".into(),
                detail: String::new(),
                meters: Vec::new(),
            };
            sim.schedule(at, Input::Truth(record))?;
            Ok(())
        }
    }

    /// An attack and a look at the same instant: the attack acts first, and what it schedules
    /// for that instant has taken effect when the defender looks.
    #[test]
    fn the_watcher_looks_after_the_actors_and_sees_their_same_instant_inputs() {
        let mut sim = sim();
        let mut attack = Noting::new("attack", &[5]);
        let mut look = Noting::new("look", &[5]);
        step_to(&mut sim, minutes(10), &mut attack, Some(&mut look)).expect("steps");
        assert_eq!(attack.seen, [(minutes(5), vec![])]);
        assert_eq!(look.seen, [(minutes(5), vec!["attack@5".to_owned()])]);
        // The look's own input at 5 ran with the next step, inside this call.
        assert_eq!(applied(&sim), ["attack@5", "look@5"]);
        assert_eq!(sim.now(), minutes(10));
    }

    /// What an actor schedules at the instant it acts at applies before the call returns, even
    /// at `to` itself; what a look at `to` schedules waits for the next call.
    #[test]
    fn a_look_at_to_leaves_its_same_instant_inputs_to_the_next_call() {
        let mut sim = sim();
        let mut attack = Noting::new("attack", &[10]);
        let mut look = Noting::new("look", &[10, 12]);
        step_to(&mut sim, minutes(10), &mut attack, Some(&mut look)).expect("steps");
        assert_eq!(applied(&sim), ["attack@10"]);
        step_to(&mut sim, minutes(11), &mut attack, Some(&mut look)).expect("steps");
        assert_eq!(applied(&sim), ["attack@10", "look@10"]);
        // Without a watcher an actor's input at `to` applies in the same call.
        let mut sim = self::sim();
        let mut attack = Noting::new("attack", &[10]);
        step_to(&mut sim, minutes(10), &mut attack, None).expect("steps");
        assert_eq!(applied(&sim), ["attack@10"]);
    }

    /// Instants are visited in time order whoever is due, and an interval that ends at an
    /// instant closes before the actors due then act.
    #[test]
    fn instants_come_in_time_order_and_interval_closes_come_first() {
        let mut sim = sim();
        let end = INTERVAL.as_micros() / SimDuration::from_minutes(1).as_micros();
        let mut attack = Noting::new("attack", &[3, end, end + 1]);
        let mut look = Noting::new("look", &[2, end]);
        step_to(&mut sim, minutes(end + 5), &mut attack, Some(&mut look)).expect("steps");
        let when = |n: &Noting| n.seen.iter().map(|(t, _)| *t).collect::<Vec<_>>();
        assert_eq!(when(&attack), [minutes(3), minutes(end), minutes(end + 1)]);
        assert_eq!(when(&look), [minutes(2), minutes(end)]);
        let at_end = format!("attack@{end}");
        assert_eq!(look.seen[1].1, ["look@2", "attack@3", at_end.as_str()]);
        assert_eq!((attack.closed, look.closed), (vec![0, 1, 1], vec![0, 1]));
    }
}
