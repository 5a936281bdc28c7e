//! Legitimate operations: the background of everyday utility work that detectors must not
//! mistake for attacks. [`plan`] draws a run's operations from the seed and schedules them as
//! ordinary inputs (HES commands under the right accounts, feeder outages, meter failures), so
//! they act only through the engine's public API, as attacks do.
//!
//! | operation | when | through |
//! | --- | --- | --- |
//! | non-payment disconnect, later reconnect | business hours | `cis-integration` commands |
//! | move-out (final read; vacant: disconnect), move-in (read; connect) | business hours | `cis-integration` commands |
//! | rolling firmware campaign | nightly waves at 01:00 | administrator commands |
//! | key rotation | nightly waves at 02:00 | administrator commands |
//! | demand response | cold winter mornings, hot summer afternoons, workdays | supervisor commands |
//! | meter failure, replacement | any time; replacement in business hours | meter failure inputs |
//! | storm: feeders out, crews restore them | any time | feeder supply inputs |
//!
//! Every draw comes from a stream keyed by (operation, day or entity), so changing one rate does
//! not move the others' draws.

use crate::field::FieldError;
use std::collections::BTreeMap;

use rand_distr::{Distribution, Poisson};
use serde::Serialize;

use crate::engine::{Input, Sim};
use crate::hes::{CommandKind, CommandRequest, Credential, Role};
use crate::model::{Cause, CustomerClass};
use crate::network::Network;
use crate::rng::{Purpose, Stream};
use crate::security::FirmwareImage;
use crate::time::{MICROS_PER_DAY, MICROS_PER_HOUR, SimDuration, SimTime};

/// A rolling firmware campaign.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirmwareCampaign {
    /// When the first wave goes out, after the run's start (rounded to that day's 01:00).
    pub start: SimDuration,
    /// Share of the fleet updated per night.
    pub share_per_day: f64,
    /// The new image's version.
    pub version: String,
    /// Its size, KiB.
    pub image_kb: u32,
}

/// Demand-response events.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DemandResponse {
    /// Probability that a workday in winter (December to February) has a cold-morning event,
    /// and that a workday in summer (June to August) has a hot-afternoon event.
    pub day_probability: f64,
    /// Share of residential premises enrolled.
    pub enrolled_share: f64,
    /// Share of an enrolled premise's load shed during an event.
    pub reduction: f64,
    /// Length of an event (cold mornings start at 07:00, hot afternoons at 15:00).
    pub duration: SimDuration,
}

/// Rates of legitimate operations. Every rate is tunable; `typical()` gives the defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OperationsConfig {
    /// Non-payment disconnects per 1,000 residential and commercial customers per month.
    pub nonpayment_per_1000_per_month: f64,
    /// Share of non-payment disconnects reconnected after payment.
    pub reconnect_share: f64,
    /// Median time from a non-payment disconnect to the reconnect.
    pub reconnect_median: SimDuration,
    /// Moves (a move-out and a move-in) per 1,000 residential customers per month.
    pub moves_per_1000_per_month: f64,
    /// Share of move-outs that leave the premise vacant (disconnected until a move-in).
    pub vacant_share: f64,
    /// Median vacancy.
    pub vacancy_median: SimDuration,
    /// A rolling firmware campaign, if one runs.
    pub firmware: Option<FirmwareCampaign>,
    /// Share of the fleet whose keys are rotated per night.
    pub key_rotation_share_per_day: f64,
    /// Demand response.
    pub demand_response: DemandResponse,
    /// Meter communication-module failures per 1,000 meters per year.
    pub meter_failures_per_1000_per_year: f64,
    /// Median time until a failed meter is replaced (then in business hours).
    pub replacement_median: SimDuration,
    /// Storms per month.
    pub storms_per_month: f64,
    /// Mean number of feeders a storm takes out (at least one).
    pub feeders_per_storm: f64,
    /// Repair crews.
    pub crews: u32,
    /// Median time a crew needs to restore a feeder.
    pub repair_median: SimDuration,
}

impl OperationsConfig {
    /// Typical rates (assumptions of the right order for a distribution utility): 2 non-payment
    /// disconnects per 1,000 customers a month, 85% reconnected after a median of 2 days; 8 moves
    /// per 1,000 a month, 30% leaving the premise vacant for a median of 10 days; a firmware
    /// campaign from day 2 at 5% of the fleet a night (256 KiB image); 1% of keys rotated a
    /// night; demand response on 30% of winter and summer workdays for 15% of households, 30%
    /// reduction for 2 hours; 5 meter failures per 1,000 a year, replaced after a median of
    /// 3 days; one storm a month taking out 3 feeders on average, 4 crews, 3-hour repairs.
    pub fn typical() -> OperationsConfig {
        OperationsConfig {
            nonpayment_per_1000_per_month: 2.0,
            reconnect_share: 0.85,
            reconnect_median: SimDuration::from_days(2),
            moves_per_1000_per_month: 8.0,
            vacant_share: 0.3,
            vacancy_median: SimDuration::from_days(10),
            firmware: Some(FirmwareCampaign {
                start: SimDuration::from_days(1),
                share_per_day: 0.05,
                version: "4.2.0".into(),
                image_kb: 256,
            }),
            key_rotation_share_per_day: 0.01,
            demand_response: DemandResponse {
                day_probability: 0.3,
                enrolled_share: 0.15,
                reduction: 0.3,
                duration: SimDuration::from_hours(2),
            },
            meter_failures_per_1000_per_year: 5.0,
            replacement_median: SimDuration::from_days(3),
            storms_per_month: 1.0,
            feeders_per_storm: 3.0,
            crews: 4,
            repair_median: SimDuration::from_hours(3),
        }
    }

    /// Checks every value; field paths are those of the scenario's `operations` section.
    pub fn check(&self) -> Result<(), FieldError> {
        let fail = |f: &str, r: String| Err(FieldError::new(f.to_owned(), r));
        let range = |f: &str, v: f64, max: f64| {
            if v.is_finite() && (0.0..=max).contains(&v) {
                Ok(())
            } else {
                fail(f, format!("must be between 0 and {max}, not {v}"))
            }
        };
        range(
            "nonpayment_per_1000_per_month",
            self.nonpayment_per_1000_per_month,
            1000.0,
        )?;
        range("reconnect_share", self.reconnect_share, 1.0)?;
        range("moves_per_1000_per_month", self.moves_per_1000_per_month, 1000.0)?;
        range("vacant_share", self.vacant_share, 1.0)?;
        range("key_rotation_share_per_day", self.key_rotation_share_per_day, 1.0)?;
        range(
            "demand_response.day_probability",
            self.demand_response.day_probability,
            1.0,
        )?;
        range(
            "demand_response.enrolled_share",
            self.demand_response.enrolled_share,
            1.0,
        )?;
        range("demand_response.reduction", self.demand_response.reduction, 1.0)?;
        range(
            "meter_failures_per_1000_per_year",
            self.meter_failures_per_1000_per_year,
            10_000.0,
        )?;
        range("storms_per_month", self.storms_per_month, 100.0)?;
        if !(self.feeders_per_storm.is_finite() && (1.0..=1000.0).contains(&self.feeders_per_storm)) {
            return fail(
                "feeders_per_storm",
                format!("must be between 1 and 1000, not {}", self.feeders_per_storm),
            );
        }
        if !(1..=10_000).contains(&self.crews) {
            return fail("crews", format!("must be 1 to 10000, not {}", self.crews));
        }
        for (f, d) in [
            ("reconnect_median", self.reconnect_median),
            ("vacancy_median", self.vacancy_median),
            ("replacement_median", self.replacement_median),
            ("repair_median", self.repair_median),
            ("demand_response.duration", self.demand_response.duration),
        ] {
            if d < SimDuration::from_minutes(1) || d > SimDuration::from_days(365) {
                return fail(f, "must be between 1m and 365d".into());
            }
        }
        if let Some(c) = &self.firmware {
            range("firmware.share_per_day", c.share_per_day, 1.0)?;
            if !(1..=65_536).contains(&c.image_kb) {
                return fail("firmware.image_kb", format!("must be 1 to 65536, not {}", c.image_kb));
            }
            if c.version.trim().is_empty() {
                return fail("firmware.version", "must not be empty".into());
            }
        }
        Ok(())
    }
}

/// What [`plan`] scheduled, by operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Non-payment disconnects.
    pub nonpayment_disconnects: u64,
    /// Reconnects after payment.
    pub reconnects: u64,
    /// Move-outs.
    pub move_outs: u64,
    /// Of which left vacant (disconnected).
    pub vacant: u64,
    /// Move-ins into vacant premises (reconnected).
    pub move_ins: u64,
    /// Meters sent the campaign's firmware.
    pub firmware_updates: u64,
    /// Meters whose keys are rotated.
    pub key_rotations: u64,
    /// Demand-response events.
    pub demand_response_events: u64,
    /// Meters sent a demand-response signal.
    pub demand_response_meters: u64,
    /// Meter failures.
    pub meter_failures: u64,
    /// Failed meters replaced within the run.
    pub replacements: u64,
    /// Storms.
    pub storms: u64,
    /// Feeder outages they cause.
    pub feeder_outages: u64,
    /// Feeders restored within the run.
    pub restorations: u64,
    /// The utility's own calendar of the HES work it planned, in time order: what its
    /// detectors know as operational context (a firmware wave, a demand-response event, a
    /// customer's disconnect), as opposed to what only the HES's audit log shows.
    #[serde(skip)]
    pub work: Vec<WorkOrder>,
}

/// One request the utility planned to make through the HES.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkOrder {
    /// When it is made.
    pub time: SimTime,
    /// Until when its effect lasts (a demand-response event's end; `time` for the others).
    pub until: SimTime,
    /// The account that makes it.
    pub account: u16,
    /// The command (its index in [`CommandKind::NAMES`]).
    pub kind: usize,
    /// The image a firmware update installs.
    pub image: Option<u16>,
    /// The first meter it names, and how many.
    pub first_meter: u32,
    /// How many meters it names.
    pub meters: u32,
}

/// Why operations could not be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A value is out of range.
    #[error("operations.{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    /// The engine refused an input (the simulation was already stepped past it).
    #[error("scheduling operations: {0}")]
    Schedule(#[from] crate::engine::SimError),
    /// No account has the role an operation needs.
    #[error("legitimate operations need an HES account with role {0}; add one under hes.accounts")]
    NoAccount(&'static str),
}

/// Stream entities of each operation (the `Purpose::Operations` key's entity part).
mod kind {
    pub const NONPAYMENT: u64 = 1;
    pub const MOVES: u64 = 2;
    pub const DEMAND_RESPONSE: u64 = 3;
    pub const ENROLMENT: u64 = 4;
    pub const FAILURES: u64 = 5;
    pub const STORMS: u64 = 6;
}

const DAYS_PER_MONTH: f64 = 365.25 / 12.0;
const BUSINESS_DAYS_PER_MONTH: f64 = 261.0 / 12.0;

/// The run's calendar as the planner needs it.
struct Days {
    /// Calendar date of each day that overlaps the run, and the µs offset of its midnight
    /// (negative for the first day when the run starts after midnight).
    days: Vec<(crate::time::CivilDate, i64)>,
    horizon: u64,
    holidays: Vec<crate::time::CivilDate>,
}

impl Days {
    fn new(sim: &Sim) -> Days {
        let config = sim.config();
        let start_day = config.start.date.days_since_epoch();
        let offset0 = -(i64::from(config.start.second_of_day) * 1_000_000);
        let horizon = sim.horizon().0;
        let mut days = Vec::new();
        let mut d = 0i64;
        while offset0 + d * (MICROS_PER_DAY as i64) < (horizon as i64) {
            days.push((
                crate::time::CivilDate::from_days_since_epoch(start_day + d),
                offset0 + d * MICROS_PER_DAY as i64,
            ));
            d += 1;
        }
        Days {
            days,
            horizon,
            holidays: config.holidays.clone(),
        }
    }

    fn is_business(&self, i: usize) -> bool {
        let date = self.days[i].0;
        date.iso_weekday() <= 5 && !self.holidays.contains(&date)
    }

    /// `hour` (fractional) of day `i`, if it falls within the run.
    fn at(&self, i: usize, hour: f64) -> Option<SimTime> {
        let t = self.days[i].1 + (hour * MICROS_PER_HOUR as f64) as i64;
        (t >= 0 && (t as u64) < self.horizon).then_some(SimTime(t as u64))
    }

    /// A time in business hours (09:00 to 16:00) on the first business day at or after `t`,
    /// drawn from `stream`; `None` past the horizon.
    fn next_business(&self, t: i64, stream: &mut Stream) -> Option<SimTime> {
        let hour = 9.0 + 7.0 * stream.uniform();
        let start = self.days.iter().position(|&(_, m)| m + MICROS_PER_DAY as i64 > t)?;
        (start..self.days.len())
            .filter(|&i| self.is_business(i))
            .filter_map(|i| self.at(i, hour).filter(|x| x.0 as i64 >= t))
            .next()
    }
}

fn lognormal(stream: &mut Stream, median: SimDuration, sigma: f64) -> i64 {
    let z: f64 = rand_distr::StandardNormal.sample(stream);
    (median.as_micros() as f64 * (sigma * z).exp()) as i64
}

fn poisson(stream: &mut Stream, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    match Poisson::new(mean) {
        Ok(p) => p.sample(stream) as u64,
        Err(_) => 0,
    }
}

/// The planner's working state: what every operation draws from, and where each puts what it
/// plans. Each kind of operation is one method; [`plan`] calls them in a fixed order, which is
/// the order their inputs are drawn in (and so the order of inputs at the same instant).
struct Planner<'a> {
    /// The rates.
    ops: &'a OperationsConfig,
    /// The area's network (meters, feeders, substations).
    net: &'a Network,
    /// The scenario's seed.
    seed: u64,
    /// The run's calendar.
    days: Days,
    /// Number of meters.
    n_meters: u32,
    /// The customer-information system's integration account (customer service).
    cis: Credential,
    /// A supervisor's account (demand response; approves the others' requests).
    supervisor: Credential,
    /// An administrator's account (nightly waves; approves the supervisor's requests).
    admin: Credential,
    /// Customer service: per premise, until when its open case lasts (µs; one case at a time).
    busy_until: BTreeMap<u32, i64>,
    /// The inputs planned so far, in the order they were drawn.
    inputs: Vec<(SimTime, Input)>,
    /// What was planned so far.
    counts: PlanCounts,
}

/// Plans one customer-service case on premise `m` at `t`, drawing what follows from `stream`.
type CasePlanner<'a> = fn(&mut Planner<'a>, SimTime, u32, &mut Stream);

impl<'a> Planner<'a> {
    /// A request under `credential` that carries a colleague's approval, which the HES checks
    /// where its policy asks for two people (a supervisor approves the others' requests, an
    /// administrator the supervisor's).
    fn command(&self, credential: Credential, kind: CommandKind, meters: Vec<u32>, purpose: &str) -> Input {
        let approver = if credential == self.supervisor {
            self.admin
        } else {
            self.supervisor
        };
        Input::Command(CommandRequest {
            credential,
            kind,
            meters,
            cause: Cause::Operation,
            purpose: purpose.into(),
            approver: Some(approver),
        })
    }

    /// Customer-service cases of operation `op` (`kind::NONPAYMENT` or `kind::MOVES`): on each
    /// business day, a Poisson number at `rate` per 1,000 premises of `pool` a month, each at a
    /// time in business hours on a premise with no case open (redrawn a few times, so rates
    /// hold), planned by `case`.
    fn customer_cases(&mut self, op: u64, rate: f64, pool: &[u32], case: CasePlanner<'a>) {
        if pool.is_empty() {
            return;
        }
        let per_business_day = rate / 1000.0 * pool.len() as f64 / BUSINESS_DAYS_PER_MONTH;
        for i in 0..self.days.days.len() {
            if !self.days.is_business(i) {
                continue;
            }
            let mut stream = Stream::new(self.seed, Purpose::Operations, op, i as u64);
            for _ in 0..poisson(&mut stream, per_business_day) {
                let hour = 9.0 + 7.0 * stream.uniform();
                let Some(t) = self.days.at(i, hour) else { continue };
                // A premise with a case open is redrawn (a few times), so rates hold.
                let free = |m: &u32| self.busy_until.get(m).is_none_or(|&u| u <= t.0 as i64);
                let Some(m) = (0..8)
                    .map(|_| pool[stream.below(pool.len() as u64) as usize])
                    .find(free)
                else {
                    continue;
                };
                case(self, t, m, &mut stream);
            }
        }
    }

    /// A non-payment disconnect at `t`, and (for the share that pays) a reconnect on a business
    /// day after a log-normal wait; the case stays open until the reconnect.
    fn nonpayment_case(&mut self, t: SimTime, m: u32, stream: &mut Stream) {
        self.counts.nonpayment_disconnects += 1;
        let disconnect = self.command(self.cis, CommandKind::Disconnect, vec![m], "non-payment");
        self.inputs.push((t, disconnect));
        let mut until = i64::MAX;
        if stream.bernoulli(self.ops.reconnect_share) {
            let later = t.0 as i64 + lognormal(stream, self.ops.reconnect_median, 0.8);
            if let Some(back) = self.days.next_business(later, stream) {
                self.counts.reconnects += 1;
                let connect = self.command(self.cis, CommandKind::Connect, vec![m], "reconnect");
                self.inputs.push((back, connect));
                until = back.0 as i64;
            }
        }
        self.busy_until.insert(m, until);
    }

    /// A move-out at `t` (a final read) and, for the share left vacant, a disconnect then a
    /// move-in (read and connect) on a business day after a log-normal vacancy.
    fn move_case(&mut self, t: SimTime, m: u32, stream: &mut Stream) {
        self.counts.move_outs += 1;
        let read = self.command(self.cis, CommandKind::Read, vec![m], "move-out");
        self.inputs.push((t, read));
        let mut until = t.0 as i64 + 1;
        if stream.bernoulli(self.ops.vacant_share) {
            self.counts.vacant += 1;
            let disconnect = self.command(self.cis, CommandKind::Disconnect, vec![m], "move-out");
            self.inputs.push((t, disconnect));
            until = i64::MAX;
            let later = t.0 as i64 + lognormal(stream, self.ops.vacancy_median, 0.8);
            if let Some(back) = self.days.next_business(later, stream) {
                self.counts.move_ins += 1;
                let read = self.command(self.cis, CommandKind::Read, vec![m], "move-in");
                self.inputs.push((back, read));
                let connect = self.command(self.cis, CommandKind::Connect, vec![m], "move-in");
                self.inputs.push((back, connect));
                until = back.0 as i64;
            }
        }
        self.busy_until.insert(m, until);
    }

    /// Nightly waves of `kind` under the administrator's account at `hour` from day
    /// `first_day` on, each over the next `share` of the fleet by consecutive meter numbers,
    /// until every meter had one. Returns the meters sent a wave.
    fn nightly_waves(&mut self, share: f64, first_day: usize, hour: f64, kind: CommandKind, purpose: &str) -> u64 {
        let n = self.n_meters;
        let per_night = ((share * f64::from(n)).round() as u32).min(n);
        let mut next = 0u32;
        let mut sent = 0u64;
        for i in first_day..self.days.days.len() {
            if per_night == 0 || next >= n {
                break;
            }
            let Some(t) = self.days.at(i, hour) else { continue };
            let last = (next + per_night).min(n);
            let wave = self.command(self.admin, kind, (next..last).collect(), purpose);
            self.inputs.push((t, wave));
            sent += u64::from(last - next);
            next = last;
        }
        sent
    }

    /// The rolling firmware campaign, if one runs: its image, and nightly waves at 01:00 from
    /// its first day. The waves name a placeholder image index, patched by [`plan`] once the
    /// image is added to the repository.
    fn firmware_campaign(&mut self) -> Option<FirmwareImage> {
        let c = self.ops.firmware.as_ref()?;
        let image = FirmwareImage::honest(
            &c.version,
            Stream::new(self.seed, Purpose::Operations, 0, 0).next_u64(),
            true,
            c.image_kb * 1024,
        );
        let first_day = (c.start.as_micros() / MICROS_PER_DAY) as usize;
        self.counts.firmware_updates = self.nightly_waves(
            c.share_per_day,
            first_day,
            1.0,
            CommandKind::FirmwareUpdate { image: u16::MAX },
            "firmware-campaign",
        );
        Some(image)
    }

    /// Key rotation: nightly waves at 02:00 from the first day.
    fn key_rotation(&mut self) {
        self.counts.key_rotations = self.nightly_waves(
            self.ops.key_rotation_share_per_day,
            0,
            2.0,
            CommandKind::KeyRotation,
            "key-rotation",
        );
    }

    /// Demand response on cold winter mornings (07:00) and hot summer afternoons (15:00) of
    /// business days, each with the day's probability, sent to the enrolled share of
    /// `households` under a supervisor's account.
    fn demand_response(&mut self, households: &[u32]) {
        let dr = self.ops.demand_response;
        let enrolled: Vec<u32> = households
            .iter()
            .copied()
            .filter(|&m| {
                Stream::new(self.seed, Purpose::Operations, kind::ENROLMENT, u64::from(m)).bernoulli(dr.enrolled_share)
            })
            .collect();
        for i in 0..self.days.days.len() {
            let month = self.days.days[i].0.month;
            let hour = match month {
                12 | 1 | 2 => 7.0,
                6..=8 => 15.0,
                _ => continue,
            };
            if !self.days.is_business(i) || enrolled.is_empty() {
                continue;
            }
            let mut stream = Stream::new(self.seed, Purpose::Operations, kind::DEMAND_RESPONSE, i as u64);
            if !stream.bernoulli(dr.day_probability) {
                continue;
            }
            let Some(t) = self.days.at(i, hour) else { continue };
            self.counts.demand_response_events += 1;
            self.counts.demand_response_meters += enrolled.len() as u64;
            let kind = CommandKind::DemandResponse {
                reduction: dr.reduction as f32,
                duration: dr.duration,
            };
            let signal = self.command(self.supervisor, kind, enrolled.clone(), "demand-response");
            self.inputs.push((t, signal));
        }
    }

    /// Meter failures over the whole run (a meter fails at most once), each replaced on a
    /// business day after a log-normal wait.
    fn meter_failures(&mut self) {
        let n = self.n_meters;
        let years = self.days.horizon as f64 / (365.25 * MICROS_PER_DAY as f64);
        let mut stream = Stream::new(self.seed, Purpose::Operations, kind::FAILURES, 0);
        let mut failed = std::collections::BTreeSet::new();
        for _ in 0..poisson(
            &mut stream,
            self.ops.meter_failures_per_1000_per_year / 1000.0 * f64::from(n) * years,
        ) {
            let t = SimTime(stream.below(self.days.horizon));
            let later = t.0 as i64 + lognormal(&mut stream, self.ops.replacement_median, 0.5);
            let back = self.days.next_business(later, &mut stream);
            // A meter fails once per run; one that already did is redrawn (a few times).
            let Some(m) = (0..8)
                .map(|_| stream.below(u64::from(n)) as u32)
                .find(|m| !failed.contains(m))
            else {
                continue;
            };
            failed.insert(m);
            self.counts.meter_failures += 1;
            self.inputs.push((t, Input::MeterFailure { meter: m, failed: true }));
            if let Some(back) = back {
                self.counts.replacements += 1;
                self.inputs.push((
                    back,
                    Input::MeterFailure {
                        meter: m,
                        failed: false,
                    },
                ));
            }
        }
    }

    /// Storms: each takes out feeders of one substation, and the crews restore them in turn
    /// (the earliest free crew, arriving 30 minutes after the outage at the earliest).
    fn storms(&mut self) {
        let ops = self.ops;
        let net = self.net;
        let horizon = self.days.horizon;
        let n_feeders = net.feeders.len();
        let months = horizon as f64 / (DAYS_PER_MONTH * MICROS_PER_DAY as f64);
        let mut stream = Stream::new(self.seed, Purpose::Operations, kind::STORMS, 0);
        let mut outages: Vec<(u64, u32)> = Vec::new();
        for _ in 0..poisson(&mut stream, ops.storms_per_month * months) {
            let t = stream.below(horizon);
            let substation = stream.below(net.substations.len().max(1) as u64) as u32;
            let mut feeders: Vec<u32> = (0..n_feeders as u32)
                .filter(|&f| net.feeders[f as usize].substation == substation)
                .collect();
            let k = (1 + poisson(&mut stream, ops.feeders_per_storm - 1.0)) as usize;
            self.counts.storms += 1;
            for _ in 0..k.min(feeders.len()) {
                let f = feeders.swap_remove(stream.below(feeders.len() as u64) as usize);
                let start = t + stream.below(2 * MICROS_PER_HOUR);
                if start < horizon {
                    outages.push((start, f));
                }
            }
        }
        // In time order: a feeder still out (not yet restored) when another storm hits it stays out.
        outages.sort_unstable();
        let mut feeder_free = vec![0u64; n_feeders];
        let mut crews = vec![0u64; ops.crews as usize];
        let mut crew_stream = Stream::new(self.seed, Purpose::Operations, kind::STORMS, 1);
        for &(start, f) in &outages {
            if feeder_free[f as usize] > start {
                continue;
            }
            self.counts.feeder_outages += 1;
            self.inputs.push((
                SimTime(start),
                Input::FeederSupply {
                    feeder: f,
                    energized: false,
                    cause: Cause::Outage,
                },
            ));
            // The earliest free crew; it arrives 30 minutes after the outage at the earliest.
            let (c, &free) = crews
                .iter()
                .enumerate()
                .min_by_key(|&(i, &free)| (free, i))
                .unwrap_or((0, &0));
            let begins = free.max(start + MICROS_PER_HOUR / 2);
            let done = begins + lognormal(&mut crew_stream, ops.repair_median, 0.6).max(0) as u64;
            if let Some(slot) = crews.get_mut(c) {
                *slot = done;
            }
            feeder_free[f as usize] = done;
            if done < horizon {
                self.counts.restorations += 1;
                self.inputs.push((
                    SimTime(done),
                    Input::FeederSupply {
                        feeder: f,
                        energized: true,
                        cause: Cause::Outage,
                    },
                ));
            }
        }
    }
}

/// The utility's own calendar of the HES work in `inputs` (in time order): one work order per
/// command.
fn work_orders(inputs: &[(SimTime, Input)]) -> Vec<WorkOrder> {
    let mut work = Vec::new();
    for (t, input) in inputs {
        if let Input::Command(r) = input {
            let until = match r.kind {
                CommandKind::DemandResponse { duration, .. } => *t + duration,
                _ => *t,
            };
            work.push(WorkOrder {
                time: *t,
                until,
                account: r.credential.account,
                kind: r.kind.index(),
                image: match r.kind {
                    CommandKind::FirmwareUpdate { image } => Some(image),
                    _ => None,
                },
                first_meter: r.meters.first().copied().unwrap_or(0),
                meters: r.meters.len() as u32,
            });
        }
    }
    work
}

/// Draws the run's legitimate operations from the seed and schedules them on `sim` (at its
/// present time, before it has been stepped). Returns what was scheduled.
pub fn plan(sim: &mut Sim, ops: &OperationsConfig) -> Result<PlanCounts, PlanError> {
    ops.check().map_err(PlanError::Invalid)?;
    let account = |sim: &Sim, role: Role| -> Result<Credential, PlanError> {
        let hes = sim.hes();
        let a = hes
            .config
            .accounts
            .iter()
            .find(|a| a.role == role)
            .ok_or(PlanError::NoAccount(role.name()))?;
        hes.credential(&a.name).ok_or(PlanError::NoAccount(role.name()))
    };
    let cis = account(sim, Role::Integration)?;
    let supervisor = account(sim, Role::Supervisor)?;
    let admin = account(sim, Role::Administrator)?;
    let net = sim.network();
    let n_meters = net.meters.len() as u32;
    let class_of = |m: u32| net.meters[m as usize].class;
    let customers: Vec<u32> = (0..n_meters)
        .filter(|&m| matches!(class_of(m), CustomerClass::Residential | CustomerClass::Commercial))
        .collect();
    let households: Vec<u32> = (0..n_meters)
        .filter(|&m| class_of(m) == CustomerClass::Residential)
        .collect();
    let mut planner = Planner {
        ops,
        net,
        seed: sim.config().seed,
        days: Days::new(sim),
        n_meters,
        cis,
        supervisor,
        admin,
        busy_until: BTreeMap::new(),
        inputs: Vec::new(),
        counts: PlanCounts::default(),
    };
    // Customer service first (one open case per premise across both kinds), then the nightly
    // waves, demand response, meter failures and storms: the order the inputs are drawn in.
    planner.customer_cases(
        kind::NONPAYMENT,
        ops.nonpayment_per_1000_per_month,
        &customers,
        Planner::nonpayment_case,
    );
    planner.customer_cases(
        kind::MOVES,
        ops.moves_per_1000_per_month,
        &households,
        Planner::move_case,
    );
    let firmware = planner.firmware_campaign();
    planner.key_rotation();
    planner.demand_response(&households);
    planner.meter_failures();
    planner.storms();
    let Planner {
        mut inputs, mut counts, ..
    } = planner;
    if let Some(image) = firmware {
        let index = sim.add_firmware_image(image);
        for (_, input) in &mut inputs {
            if let Input::Command(CommandRequest {
                kind: CommandKind::FirmwareUpdate { image },
                ..
            }) = input
            {
                *image = index;
            }
        }
    }
    // Stable by time: inputs at the same instant keep the order they were drawn in.
    inputs.sort_by_key(|(t, _)| *t);
    counts.work = work_orders(&inputs);
    for (t, input) in inputs {
        sim.schedule(t, input)?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work orders come from the planned commands alone, in their order: a demand-response
    /// event lasts its duration, a firmware update names its image, other inputs are skipped.
    #[test]
    fn work_orders_list_the_planned_commands_with_their_span_and_image() {
        let credential = Credential {
            account: 2,
            secret: 0,
            second_factor: true,
        };
        let command = |kind: CommandKind, meters: Vec<u32>| {
            Input::Command(CommandRequest {
                credential,
                kind,
                meters,
                cause: Cause::Operation,
                purpose: "test".into(),
                approver: None,
            })
        };
        let hour = SimDuration::from_hours(1);
        let t = SimTime(MICROS_PER_HOUR);
        let inputs = vec![
            (
                t,
                command(
                    CommandKind::DemandResponse {
                        reduction: 0.3,
                        duration: hour,
                    },
                    vec![5, 6],
                ),
            ),
            (t, Input::MeterFailure { meter: 1, failed: true }),
            (t, command(CommandKind::FirmwareUpdate { image: 3 }, vec![7])),
        ];
        let work = work_orders(&inputs);
        assert_eq!(work.len(), 2);
        assert_eq!((work[0].until, work[0].first_meter, work[0].meters), (t + hour, 5, 2));
        assert_eq!((work[0].account, work[0].image), (2, None));
        assert_eq!((work[1].until, work[1].image, work[1].first_meter), (t, Some(3), 7));
    }
}
