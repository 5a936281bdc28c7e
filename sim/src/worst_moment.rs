//! The run's worst moment, kept for the blast-radius map: an [`IntervalObserver`] that scores
//! every interval close and, on a new high, takes every meter's condition.
//!
//! It sits outside the engine's core: the engine only calls it at each interval close with a
//! read-only view, and nothing in the run reads what it keeps, so watching changes no result.
//! It is off by default ([`Sim::watch_worst_moment`] adds it) because each new high costs a
//! pass over the meters, which only runs that draw the map need.

use crate::engine::{IntervalClose, IntervalObserver, Sim};
use crate::model::MeterCondition;

/// The run's worst moment: the interval close with the highest damage score, and every meter's
/// condition at that close (before anything dated at the close's instant happens).
#[derive(Clone, Debug)]
pub struct WorstMoment {
    /// The interval that closed.
    pub slot: u32,
    /// Its damage score: customers off supply (every cause) + the interval reads missing when
    /// a read cycle closed with it (0 between cycle closes) + meters held by attacks (running
    /// an attack's firmware or downgraded to the legacy security level).
    pub score: u64,
    /// Every meter's condition, by meter index.
    pub conditions: Vec<MeterCondition>,
    /// Per interference area placed so far: whether it was transmitting.
    pub areas_on: Vec<bool>,
}

/// Keeps the worst moment so far: the highest damage score of any interval close, the earliest
/// winning a tie.
#[derive(Debug, Default)]
pub struct WorstMomentWatch {
    worst: Option<WorstMoment>,
}

impl WorstMomentWatch {
    /// The worst moment so far, if an interval has closed.
    pub fn worst(&self) -> Option<&WorstMoment> {
        self.worst.as_ref()
    }

    /// The damage score of the interval close `close` (see [`WorstMoment::score`]), if its row
    /// is there.
    fn score(sim: &Sim, close: IntervalClose) -> Option<u64> {
        let row = sim.records().intervals.last()?;
        let off = (sim.n_meters() as u64).saturating_sub(row.customers_connected);
        let missing = if close.cycle_closed { row.reads_missing } else { 0 };
        let fleet = sim.fleet();
        let held = fleet
            .compromised_by
            .iter()
            .zip(&fleet.downgraded_by)
            .filter(|(compromised, downgraded)| **compromised != 0 || **downgraded != 0)
            .count() as u64;
        Some(off + missing + held)
    }
}

impl IntervalObserver for WorstMomentWatch {
    fn interval_closed(&mut self, sim: &Sim, close: IntervalClose) {
        let Some(score) = Self::score(sim, close) else {
            return;
        };
        if self.worst.as_ref().is_some_and(|w| score <= w.score) {
            return;
        }
        let mut conditions = self.worst.take().map(|w| w.conditions).unwrap_or_default();
        sim.meter_conditions_into(&mut conditions);
        let areas_on = sim.net_state().interference.iter().map(|placed| placed.on).collect();
        self.worst = Some(WorstMoment {
            slot: close.slot,
            score,
            conditions,
            areas_on,
        });
    }
}

impl Sim {
    /// Starts keeping the run's worst moment, by adding a [`WorstMomentWatch`] to the interval
    /// observers (once; off by default: it costs a pass over the meters at each new high,
    /// which only runs that draw the blast-radius map need).
    pub fn watch_worst_moment(&mut self) {
        if self.interval_observer::<WorstMomentWatch>().is_none() {
            self.add_interval_observer(Box::new(WorstMomentWatch::default()));
        }
    }

    /// The worst moment so far, when watched.
    pub fn worst_moment(&self) -> Option<&WorstMoment> {
        self.interval_observer::<WorstMomentWatch>()?.worst()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{INTERVAL, SimConfig};
    use crate::engine::Input;
    use crate::model::{Cause, CustomerClass, LinkKind, Relay};
    use crate::network::{LinkParams, Network};
    use crate::time::{CivilDateTime, SimDuration, SimTime};

    fn sim(read_cycle_intervals: u32) -> Sim {
        let start = CivilDateTime::parse("2026-01-15T00:00").expect("valid");
        let mut config = SimConfig::with_defaults(1, start, SimDuration::from_hours(2));
        config.read_cycle_intervals = read_cycle_intervals;
        let network = Network::small(
            LinkParams::typical(),
            (0..20).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        Sim::new(config, network).expect("valid world")
    }

    /// A test observer: notes every close it is told of, with the rows the engine had then.
    #[derive(Default)]
    struct NotingCloses {
        closes: Vec<(IntervalClose, SimTime, usize)>,
    }

    impl IntervalObserver for NotingCloses {
        fn interval_closed(&mut self, sim: &Sim, close: IntervalClose) {
            self.closes.push((close, sim.now(), sim.records().intervals.len()));
        }
    }

    /// The hook runs at every interval close, at the interval's end, after its row is written,
    /// and says when a read cycle closed with it.
    #[test]
    fn observers_are_told_of_every_close_after_its_row() {
        let mut sim = sim(2);
        sim.add_interval_observer(Box::new(NotingCloses::default()));
        sim.step_until(SimTime(INTERVAL.as_micros() * 3)).expect("steps");
        let observer = sim.interval_observer::<NotingCloses>().expect("added");
        let seen: Vec<(u32, bool, u64, usize)> = observer
            .closes
            .iter()
            .map(|(close, now, rows)| (close.slot, close.cycle_closed, now.0 / INTERVAL.as_micros(), *rows))
            .collect();
        assert_eq!(seen, [(0, false, 1, 1), (1, true, 2, 2), (2, false, 3, 3)]);
        assert!(sim.interval_observer::<WorstMomentWatch>().is_none());
    }

    /// The worst moment is the first close with the most customers off, with every meter's
    /// condition then; watching it leaves the run's records as they were.
    #[test]
    fn the_watch_keeps_the_earliest_worst_close_and_changes_nothing() {
        let run = |watch: bool| {
            let mut sim = sim(1);
            if watch {
                sim.watch_worst_moment();
                sim.watch_worst_moment();
            }
            let open = |meter: u32| Input::SetRelay {
                meter,
                relay: Relay::Open,
                cause: Cause::Operation,
            };
            let close = |meter: u32| Input::SetRelay {
                meter,
                relay: Relay::Closed,
                cause: Cause::Operation,
            };
            let minute = SimDuration::from_minutes(1).as_micros();
            for meter in 0..3 {
                sim.schedule(SimTime(20 * minute), open(meter)).expect("valid");
                sim.schedule(SimTime(50 * minute), close(meter)).expect("valid");
            }
            sim.schedule(SimTime(80 * minute), open(7)).expect("valid");
            sim.run_to_end().expect("runs");
            sim
        };
        let watched = run(true);
        let worst = watched.worst_moment().expect("kept");
        assert_eq!((worst.slot, worst.score), (1, 3));
        let off: Vec<usize> = (0..worst.conditions.len())
            .filter(|&m| worst.conditions[m] == MeterCondition::OffOperation)
            .collect();
        assert_eq!(off, [0, 1, 2]);
        assert!(worst.areas_on.is_empty());
        let unwatched = run(false);
        assert!(unwatched.worst_moment().is_none());
        assert_eq!(watched.records().intervals, unwatched.records().intervals);
    }
}
