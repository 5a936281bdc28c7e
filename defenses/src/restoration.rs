//! Restoration after containment: reconnecting customers whose relays opened without the
//! utility's say, rolling meters back to the installed image, and the crews' truck rolls to
//! meters that no longer answer. Switched on by the `reconnect`, `rollback-firmware` and
//! `dispatch-crews` responses; it then works at its own pace at every look.

use std::collections::{BTreeMap, BTreeSet};

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::hes::{CommandKind, CommandRequest, Role};
use amirange_sim::model::Cause;
use amirange_sim::security::Fleet;
use amirange_sim::time::{SimDuration, SimTime};

use crate::context::OperationalContext;
use crate::monitor::ResponseLog;
use crate::spec;

/// How long restoration waits for a reconnected meter's relay event before asking again.
const RECONNECT_RETRY: SimDuration = SimDuration::from_minutes(30);
/// How long a rollback may take before a meter still on the image is sent one again.
const ROLLBACK_RETRY: SimDuration = SimDuration::from_hours(6);
/// Meters the crews take on at one interval's end at most.
const TRUCK_ROLLS_PER_INTERVAL: usize = 4096;

/// The utility's field crews: when each is free again.
#[derive(Debug, Clone)]
pub struct Crews {
    /// Per crew: when it is free.
    free: Vec<SimTime>,
    /// Time one truck roll takes (travel and work).
    truck_roll: SimDuration,
}

impl Crews {
    /// `crews` crews, all free, each truck roll taking `truck_roll`.
    pub fn new(crews: u32, truck_roll: SimDuration) -> Crews {
        Crews {
            free: vec![SimTime::ZERO; crews as usize],
            truck_roll,
        }
    }

    /// Books the first free crew from `now` for one truck roll (counted in `log`): when it is
    /// done, if before the run ends (`horizon`).
    pub fn book(&mut self, now: SimTime, horizon: SimTime, log: &mut ResponseLog) -> Option<SimTime> {
        let (i, free) = self.free.iter().copied().enumerate().min_by_key(|&(i, t)| (t, i))?;
        let done = free.max(now) + self.truck_roll;
        if done >= horizon {
            return None;
        }
        self.free[i] = done;
        log.truck_rolls += 1;
        Some(done)
    }
}

/// Restoration under way, and what it knows of the fleet.
#[derive(Debug)]
pub struct Restoration {
    /// The account, rate and batch it works with.
    settings: spec::Restoration,
    /// How often the defender looks.
    every: SimDuration,
    /// Meters in the fleet.
    n_meters: usize,
    /// Whether the utility reads its fleet's firmware census (it does through the
    /// firmware-drift detector; without it, restoration knows no meter's image).
    reads_census: bool,
    /// Per meter: the firmware image it last reported (a failed meter reports nothing new).
    last_firmware: Vec<u16>,
    /// The fleet's census version when `last_firmware` was last taken (an unchanged fleet
    /// reports nothing new).
    census_version: Option<u64>,
    /// Relay events already read.
    relays_seen: usize,
    /// Meters whose relay is open without the utility's say.
    unplanned_open: BTreeSet<u32>,
    /// Meters restoration asked to reconnect, and when it may ask again.
    reconnect_sent: BTreeMap<u32, SimTime>,
    /// Meters sent a rollback, and when to send one again if they still run the image.
    rolled: BTreeMap<u32, SimTime>,
    /// Meters a crew visited.
    visited: BTreeSet<u32>,
    /// When restoration last ran.
    restored_until: SimTime,
    /// Whether reconnection is under way.
    pub reconnecting: bool,
    /// Whether rollbacks are under way.
    pub rolling_back: bool,
    /// Whether crews are out to bricked meters.
    pub crews_out: bool,
    /// The field crews (shared with the responses that send one).
    pub crews: Crews,
}

impl Restoration {
    /// Restoration with `settings` for `n_meters` meters, looked after every `every`, not yet
    /// under way.
    pub fn new(settings: spec::Restoration, every: SimDuration, n_meters: usize, reads_census: bool) -> Restoration {
        Restoration {
            crews: Crews::new(settings.crews, settings.truck_roll),
            settings,
            every,
            n_meters,
            reads_census,
            last_firmware: vec![0; n_meters],
            census_version: None,
            relays_seen: 0,
            unplanned_open: BTreeSet::new(),
            reconnect_sent: BTreeMap::new(),
            rolled: BTreeMap::new(),
            visited: BTreeSet::new(),
            restored_until: SimTime::ZERO,
            reconnecting: false,
            rolling_back: false,
            crews_out: false,
        }
    }

    /// The firmware each working meter reports in the census.
    pub fn take_census(&mut self, fleet: &Fleet) {
        if !self.reads_census || self.census_version.replace(fleet.census_version) == Some(fleet.census_version) {
            return;
        }
        for ((last, &image), &failed) in self.last_firmware.iter_mut().zip(&fleet.firmware).zip(&fleet.failed) {
            if !failed {
                *last = image;
            }
        }
    }

    /// Relay events meters pushed since the last look: the customers off without the utility's
    /// say, and the reconnections that took (counted in `log`).
    pub fn take_relay_events(&mut self, sim: &Sim, context: &OperationalContext, log: &mut ResponseLog) {
        let events = &sim.records().relay_events;
        for e in events.get(self.relays_seen..).unwrap_or_default() {
            if e.meter as usize >= self.n_meters {
                continue;
            }
            if e.open && !context.cis_open(e.meter as usize) {
                self.unplanned_open.insert(e.meter);
            } else if !e.open {
                self.unplanned_open.remove(&e.meter);
                if self.reconnect_sent.remove(&e.meter).is_some() {
                    log.reconnected += 1;
                }
            }
        }
        self.relays_seen = events.len();
    }

    /// Restoration under way at `now`: reconnections, rollbacks and truck rolls, at their
    /// rates. Reconnections and rollbacks wait while the HES is not trusted (`hes_trusted`).
    pub fn restore(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        hes_trusted: bool,
        context: &mut OperationalContext,
        log: &mut ResponseLog,
    ) -> Result<(), SimError> {
        // The restoration rate over the time since restoration last ran.
        let elapsed = now
            .0
            .saturating_sub(self.restored_until.0)
            .min(self.every.as_micros().max(INTERVAL.as_micros()));
        self.restored_until = now;
        let budget = (u64::from(self.settings.per_minute) * elapsed / 60_000_000).max(1) as usize;
        if self.reconnecting && hes_trusted && !self.unplanned_open.is_empty() {
            // Meters asked before are asked again once their relay event is overdue.
            let take: Vec<u32> = self
                .unplanned_open
                .iter()
                .filter(|m| self.reconnect_sent.get(m).is_none_or(|&again| again <= now))
                .take(budget)
                .copied()
                .collect();
            for &m in &take {
                self.reconnect_sent.insert(m, now + RECONNECT_RETRY);
            }
            self.requests(sim, now, CommandKind::Connect, take, "restoration", context)?;
        }
        // Rollbacks and truck rolls work from the census, taken at interval ends.
        let interval_end = now.0.is_multiple_of(INTERVAL.as_micros());
        if self.rolling_back && hes_trusted && interval_end {
            let fleet = sim.fleet();
            let take: Vec<u32> = (0..self.n_meters)
                .filter(|&m| {
                    !context.approved(self.last_firmware[m])
                        && !fleet.failed[m]
                        && self.rolled.get(&(m as u32)).is_none_or(|&again| again <= now)
                })
                .take(budget * INTERVAL.as_micros() as usize / elapsed.max(1) as usize)
                .map(|m| m as u32)
                .collect();
            for &m in &take {
                if self.rolled.insert(m, now + ROLLBACK_RETRY).is_none() {
                    log.rolled_back += 1;
                }
            }
            self.requests(
                sim,
                now,
                CommandKind::FirmwareUpdate { image: 0 },
                take,
                "rollback",
                context,
            )?;
        }
        if self.crews_out && interval_end {
            self.truck_rolls(sim, now, context, log)?;
        }
        Ok(())
    }

    /// Requests through the restoration account, in batches, with a colleague's approval; each
    /// goes on the calendar first (the defender's own work is no anomaly).
    fn requests(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        kind: CommandKind,
        meters: Vec<u32>,
        purpose: &str,
        context: &mut OperationalContext,
    ) -> Result<(), SimError> {
        if meters.is_empty() {
            return Ok(());
        }
        let r = &self.settings;
        let Some(credential) = sim.credential(&r.account) else {
            return Ok(());
        };
        let approver = sim
            .hes()
            .config
            .accounts
            .iter()
            .filter(|a| a.name != r.account && matches!(a.role, Role::Supervisor | Role::Administrator))
            .find_map(|a| sim.credential(&a.name));
        let account = credential.account;
        // Batches stay within a bulk freeze.
        let size = match sim.hes().frozen_above {
            Some(0) => return Ok(()),
            Some(n) => r.batch.min(n),
            None => r.batch,
        };
        for batch in meters.chunks(size as usize) {
            context.plan((now, account, kind.index(), batch.len() as u32));
            sim.schedule(
                now,
                Input::Command(CommandRequest {
                    credential,
                    kind,
                    meters: batch.to_vec(),
                    cause: Cause::Operation,
                    purpose: purpose.into(),
                    approver,
                }),
            )?;
        }
        Ok(())
    }

    /// Crews visit meters that run firmware the utility never released and no longer answer
    /// (bricked): each visit reflashes the installed image and brings the meter back.
    fn truck_rolls(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        context: &OperationalContext,
        log: &mut ResponseLog,
    ) -> Result<(), SimError> {
        let fleet = sim.fleet();
        let mut todo: Vec<u32> = (0..self.n_meters)
            .filter(|&m| {
                fleet.failed[m] && !context.approved(self.last_firmware[m]) && !self.visited.contains(&(m as u32))
            })
            .map(|m| m as u32)
            .collect();
        todo.truncate(TRUCK_ROLLS_PER_INTERVAL);
        for m in todo {
            let Some(done) = self.crews.book(now, sim.horizon(), log) else {
                break;
            };
            self.visited.insert(m);
            sim.schedule(done, Input::LocalFirmware { meter: m, image: 0 })?;
            sim.schedule(
                done,
                Input::MeterFailure {
                    meter: m,
                    failed: false,
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crews_take_truck_rolls_in_turn_and_none_past_the_horizon() {
        let mut crews = Crews::new(2, SimDuration::from_hours(2));
        let mut log = ResponseLog::default();
        let horizon = SimTime::ZERO + SimDuration::from_hours(5);
        let hour = |h| SimTime::ZERO + SimDuration::from_hours(h);
        let booked: Vec<Option<SimTime>> = (0..4).map(|_| crews.book(SimTime::ZERO, horizon, &mut log)).collect();
        assert_eq!(booked, [Some(hour(2)), Some(hour(2)), Some(hour(4)), Some(hour(4))]);
        assert_eq!(crews.book(SimTime::ZERO, horizon, &mut log), None, "done after the run");
        assert_eq!(log.truck_rolls, 4);
    }
}
