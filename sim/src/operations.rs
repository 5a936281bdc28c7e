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
//! | MV faults (trunk: the feeder trips; lateral: its fuse takes out a few transformers), transformer failures | any time, per km or per unit, with the season | feeder and transformer supply inputs |
//! | storm: MV faults in its footprint | any time, per 1,000 km, with the season | feeder and transformer supply inputs |
//! | crews restore each outage in turn | after travel, switching or repair | supply inputs |
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
    /// Damaging storms per year at any one place: storm centres fall uniformly over the area
    /// and a margin of one footprint radius around it, as often as it takes for each place to
    /// lie in this many footprints a year, so a larger area sees proportionally more storms
    /// and each hits a smaller share of it.
    pub storms_per_year_at_a_place: f64,
    /// Radius of a storm's footprint, km: the feeders whose substation lies within it are
    /// exposed.
    pub storm_radius_km: f64,
    /// Mean MV faults a storm causes per 100 km of line in its footprint.
    pub storm_faults_per_100km: f64,
    /// MV line faults per 100 km of line per year outside storms.
    pub mv_faults_per_100km_per_year: f64,
    /// Share of MV faults that fall on a fused lateral (its fuse takes out one to four
    /// transformers); the rest fall on the trunk and trip the whole feeder.
    pub lateral_share: f64,
    /// MV/LV transformer failures per 1,000 transformers per year.
    pub transformer_failures_per_1000_per_year: f64,
    /// Customers (meters) per repair crew on duty; the area has at least one crew.
    pub customers_per_crew: u32,
    /// Median time a crew needs, once on site, to restore a tripped feeder by switching the
    /// faulted section out.
    pub switching_median: SimDuration,
    /// Median time to replace a failed transformer once on site.
    pub transformer_replacement_median: SimDuration,
    /// Median time a crew needs, once on site, to repair a lateral and replace its fuse.
    pub repair_median: SimDuration,
}

impl OperationsConfig {
    /// Typical rates (assumptions of the right order for a distribution utility): 2 non-payment
    /// disconnects per 1,000 customers a month, 85% reconnected after a median of 2 days; 8 moves
    /// per 1,000 a month, 30% leaving the premise vacant for a median of 10 days; a firmware
    /// campaign from day 2 at 5% of the fleet a night (256 KiB image); 1% of keys rotated a
    /// night; demand response on 30% of winter and summer workdays for 15% of households, 30%
    /// reduction for 2 hours; 5 meter failures per 1,000 a year, replaced after a median of
    /// 3 days. The grid's faults and crews are described at [`OperationsConfig::storms_per_year_at_a_place`]
    /// and in docs/parameters.md ("The grid and its reliability"): MV faults 3 per 100 km a
    /// year (60% on laterals), 3 transformer failures per 1,000 a year, a storm a year at any
    /// place, of 15 km radius with 4 faults per 100 km, one crew per 15,000 customers, 1 h
    /// switching, 3 h repairs and 6 h transformer replacements, 30 minutes' travel.
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
            // Assumption, in the range of the surveys (Roos and Lindahl; Brown): 0.02-0.07 faults
            // per km and year for MV cable, 0.05-0.2 for overhead line.
            mv_faults_per_100km_per_year: 3.0,
            // Assumption: most MV faults are on spurs behind fuses.
            lateral_share: 0.6,
            // Assumption in the 0.2-0.5%/a range reported for distribution transformers (CIGRE
            // TB 642, Brown).
            transformer_failures_per_1000_per_year: 3.0,
            // Assumptions: a damaging storm (wind, thunderstorm, ice) once a year at a place,
            // its front or convective system damaging a swath some tens of km wide.
            storms_per_year_at_a_place: 1.0,
            storm_radius_km: 15.0,
            storm_faults_per_100km: 4.0,
            // Derived: 0.37 utility line workers per 1,000 customers in the US (BLS 2020, EIA
            // customers), two per crew, a quarter to a third on duty: one crew per 10,000-20,000.
            customers_per_crew: 15_000,
            // Assumptions: repair and switching times of a few hours (Wójcik et al. 2025 review).
            switching_median: SimDuration::from_hours(1),
            repair_median: SimDuration::from_hours(3),
            transformer_replacement_median: SimDuration::from_hours(6),
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
        range("storms_per_year_at_a_place", self.storms_per_year_at_a_place, 1000.0)?;
        range("storm_faults_per_100km", self.storm_faults_per_100km, 10_000.0)?;
        range(
            "mv_faults_per_100km_per_year",
            self.mv_faults_per_100km_per_year,
            10_000.0,
        )?;
        range("lateral_share", self.lateral_share, 1.0)?;
        range(
            "transformer_failures_per_1000_per_year",
            self.transformer_failures_per_1000_per_year,
            1000.0,
        )?;
        if !(self.storm_radius_km.is_finite() && (0.1..=1000.0).contains(&self.storm_radius_km)) {
            return fail(
                "storm_radius_km",
                format!("must be between 0.1 and 1000, not {}", self.storm_radius_km),
            );
        }
        if !(100..=10_000_000).contains(&self.customers_per_crew) {
            return fail(
                "customers_per_crew",
                format!("must be 100 to 10000000, not {}", self.customers_per_crew),
            );
        }
        for (f, d) in [
            ("reconnect_median", self.reconnect_median),
            ("vacancy_median", self.vacancy_median),
            ("replacement_median", self.replacement_median),
            ("repair_median", self.repair_median),
            ("switching_median", self.switching_median),
            ("transformer_replacement_median", self.transformer_replacement_median),
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
    /// Feeder outages (MV trunk faults, in storms or not).
    pub feeder_outages: u64,
    /// Transformer outages (transformer failures, and the transformers behind a blown MV
    /// lateral fuse).
    pub transformer_outages: u64,
    /// Feeders and transformers restored within the run.
    pub restorations: u64,
    /// Repair crews on duty.
    pub crews: u64,
    /// Longest time a fault waited for a free crew beyond the travel time, minutes (0 when the
    /// crews never queued).
    pub longest_crew_wait_minutes: u64,
    /// Every planned interruption of supply, in the order the crews took them on (what the
    /// reliability indices are computed from, see [`reliability`]).
    #[serde(skip)]
    pub interruptions: Vec<Interruption>,
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

/// What a planned interruption takes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outaged {
    /// A whole feeder (an MV trunk fault).
    Feeder(u32),
    /// One transformer's premises (a transformer failure, or one of the transformers behind a
    /// blown lateral fuse).
    Transformer(u32),
}

/// One planned interruption of supply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interruption {
    /// What went out.
    pub outaged: Outaged,
    /// When.
    pub start: SimTime,
    /// When a crew restored it (may lie past the run's end).
    pub end: SimTime,
    /// Customers (meters) it interrupted.
    pub customers: u32,
    /// Whether a storm caused it.
    pub storm: bool,
}

/// Monthly weights of the fault and storm rates, January first, mean 1 (assumption shaped
/// after outage statistics: winter wind storms and summer thunderstorms, quiet spring and
/// autumn; poweroutage.us analyses, ENTSO-E Nordic and Baltic grid disturbance statistics).
pub const MONTHLY_WEIGHT: [f64; 12] = [1.6, 1.5, 1.1, 0.6, 0.8, 1.2, 1.3, 1.2, 0.6, 0.8, 1.0, 1.3];

/// Reliability indices over a period (IEEE Std 1366), from interruptions longer than
/// [`SUSTAINED`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Reliability {
    /// Interruptions per customer over the period.
    pub saifi: f64,
    /// Minutes without supply per customer over the period.
    pub saidi_min: f64,
    /// SAIFI without major event days.
    pub saifi_excl_med: f64,
    /// SAIDI without major event days, minutes.
    pub saidi_excl_med_min: f64,
    /// The major-event-day threshold of daily SAIDI, minutes (the 2.5 beta method).
    pub t_med_min: f64,
    /// Days whose SAIDI exceeded it.
    pub major_event_days: u32,
}

/// Interruptions shorter than this are momentary and do not count (IEEE 1366: 5 minutes).
pub const SUSTAINED: SimDuration = SimDuration::from_minutes(5);

/// SAIFI and SAIDI over `days` days for `customers` customers, with and without major event
/// days. Each interruption counts on the day it began. The major-event-day threshold follows
/// the IEEE 1366 2.5 beta method, `T_MED = exp(alpha + 2.5 beta)` of the daily SAIDI's
/// logarithms (days with interruptions only), computed here from the period itself rather
/// than the standard's five years of history.
pub fn reliability(interruptions: &[Interruption], customers: u64, days: u32) -> Reliability {
    let n = customers.max(1) as f64;
    let mut daily_min = vec![0.0f64; days as usize];
    let mut daily_count = vec![0.0f64; days as usize];
    for i in interruptions {
        let length = i.end.0.saturating_sub(i.start.0);
        if length < SUSTAINED.as_micros() {
            continue;
        }
        let day = (i.start.0 / MICROS_PER_DAY) as usize;
        if let (Some(m), Some(c)) = (daily_min.get_mut(day), daily_count.get_mut(day)) {
            *m += f64::from(i.customers) * length as f64 / 60e6 / n;
            *c += f64::from(i.customers) / n;
        }
    }
    let logs: Vec<f64> = daily_min.iter().filter(|&&m| m > 0.0).map(|m| m.ln()).collect();
    let t_med = if logs.len() >= 2 {
        let k = logs.len() as f64;
        let alpha = logs.iter().sum::<f64>() / k;
        let beta = (logs.iter().map(|x| (x - alpha).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
        (alpha + 2.5 * beta).exp()
    } else {
        f64::INFINITY
    };
    let mut r = Reliability {
        t_med_min: t_med,
        ..Reliability::default()
    };
    for (&m, &c) in daily_min.iter().zip(&daily_count) {
        r.saidi_min += m;
        r.saifi += c;
        if m > t_med {
            r.major_event_days += 1;
        } else {
            r.saidi_excl_med_min += m;
            r.saifi_excl_med += c;
        }
    }
    r
}

/// The exposure of the area's MV network: each feeder's line length, its transformers in order,
/// and its customers.
struct Exposure {
    /// Per feeder: km of MV line (substation to its transformers in turn, straight lines).
    km: Vec<f64>,
    /// Cumulative `km`, for drawing a feeder in proportion to its length.
    cumulative_km: Vec<f64>,
    /// Per feeder: its transformers, in index order.
    transformers: Vec<Vec<u32>>,
    /// Per feeder: customers.
    feeder_customers: Vec<u32>,
    /// Per transformer: customers.
    transformer_customers: Vec<u32>,
}

impl Exposure {
    fn new(net: &Network) -> Exposure {
        let n_f = net.feeders.len();
        let mut last: Vec<crate::network::Point> = net
            .feeders
            .iter()
            .map(|f| {
                net.substations
                    .get(f.substation as usize)
                    .map_or_else(Default::default, |s| s.pos)
            })
            .collect();
        let mut km = vec![0.0f64; n_f];
        let mut transformers = vec![Vec::new(); n_f];
        for (t, tr) in net.transformers.iter().enumerate() {
            let f = tr.feeder as usize;
            if f >= n_f {
                continue;
            }
            let (dx, dy) = (f64::from(tr.pos.x - last[f].x), f64::from(tr.pos.y - last[f].y));
            km[f] += (dx * dx + dy * dy).sqrt() / 1000.0;
            last[f] = tr.pos;
            transformers[f].push(t as u32);
        }
        let mut transformer_customers = vec![0u32; net.transformers.len()];
        let mut feeder_customers = vec![0u32; n_f];
        for m in &net.meters {
            let t = m.transformer as usize;
            transformer_customers[t] += 1;
            feeder_customers[net.transformers[t].feeder as usize] += 1;
        }
        let mut sum = 0.0;
        let cumulative_km = km
            .iter()
            .map(|k| {
                sum += k;
                sum
            })
            .collect();
        Exposure {
            km,
            cumulative_km,
            transformers,
            feeder_customers,
            transformer_customers,
        }
    }

    fn total_km(&self) -> f64 {
        self.cumulative_km.last().copied().unwrap_or(0.0)
    }

    /// A feeder drawn in proportion to its length.
    fn draw_feeder(&self, stream: &mut Stream) -> u32 {
        let x = stream.uniform() * self.total_km();
        self.cumulative_km
            .partition_point(|&c| c <= x)
            .min(self.km.len().saturating_sub(1)) as u32
    }
}

/// One fault the crews must attend to.
#[derive(Clone, Copy, Debug)]
struct Fault {
    start: u64,
    /// A whole feeder, or a run of transformers of one feeder (first transformer, how many).
    what: FaultOn,
    storm: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FaultOn {
    Trunk(u32),
    Lateral(u32, u32, u32),
    Transformer(u32),
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
    pub const MV_FAULTS: u64 = 7;
    pub const TRANSFORMER_FAILURES: u64 = 8;
    pub const CREWS: u64 = 9;
}

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

    /// Equipment faults and storms over the whole run, and the crews' restoration. Faults are
    /// drawn per day (rates times the month's weight), each kind from its own stream: MV faults
    /// on a feeder drawn in proportion to its line length (on a lateral: one to four of its
    /// transformers behind a fuse; on the trunk: the whole feeder trips), transformer failures
    /// on a transformer drawn uniformly, storms centred anywhere over the area and a margin, with
    /// MV faults on the feeders whose substation lies in the footprint. Then every fault, in time
    /// order, waits for the earliest free crew (30 minutes' travel at the earliest), which
    /// restores it after a log-normal switching, repair or replacement time.
    fn grid_faults(&mut self) {
        let ops = self.ops;
        let net = self.net;
        let horizon = self.days.horizon;
        if net.feeders.is_empty() || net.transformers.is_empty() {
            return;
        }
        let exposure = Exposure::new(net);
        let total_km = exposure.total_km();
        // The substations' bounding box, m.
        let bounds = net.substations.iter().fold(
            ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN)),
            |((x0, y0), (x1, y1)), s| {
                let (x, y) = (f64::from(s.pos.x), f64::from(s.pos.y));
                ((x0.min(x), y0.min(y)), (x1.max(x), y1.max(y)))
            },
        );
        let n_t = net.transformers.len();
        let mut faults: Vec<Fault> = Vec::new();
        let lateral_fault = |exposure: &Exposure, f: u32, stream: &mut Stream| -> FaultOn {
            let ts = &exposure.transformers[f as usize];
            if ts.is_empty() || !stream.bernoulli(ops.lateral_share) {
                return FaultOn::Trunk(f);
            }
            let at = stream.below(ts.len() as u64) as usize;
            let k = (1 + stream.below(4) as usize).min(ts.len() - at);
            FaultOn::Lateral(f, at as u32, k as u32)
        };
        for (i, &(date, midnight)) in self.days.days.iter().enumerate() {
            let weight = MONTHLY_WEIGHT[usize::from(date.month.clamp(1, 12)) - 1];
            let day = i as u64;
            let within = |stream: &mut Stream| -> Option<u64> {
                let t = midnight + stream.below(MICROS_PER_DAY) as i64;
                (t >= 0 && (t as u64) < horizon).then_some(t as u64)
            };
            // MV line faults.
            let mut stream = Stream::new(self.seed, Purpose::Operations, kind::MV_FAULTS, day);
            let mean = ops.mv_faults_per_100km_per_year / 100.0 * total_km / 365.25 * weight;
            for _ in 0..poisson(&mut stream, mean) {
                let t = within(&mut stream);
                let f = exposure.draw_feeder(&mut stream);
                let what = lateral_fault(&exposure, f, &mut stream);
                if let Some(start) = t {
                    faults.push(Fault {
                        start,
                        what,
                        storm: false,
                    });
                }
            }
            // Transformer failures.
            let mut stream = Stream::new(self.seed, Purpose::Operations, kind::TRANSFORMER_FAILURES, day);
            let mean = ops.transformer_failures_per_1000_per_year / 1000.0 * n_t as f64 / 365.25 * weight;
            for _ in 0..poisson(&mut stream, mean) {
                let t = within(&mut stream);
                let what = FaultOn::Transformer(stream.below(n_t as u64) as u32);
                if let Some(start) = t {
                    faults.push(Fault {
                        start,
                        what,
                        storm: false,
                    });
                }
            }
            // Storms: centres uniform over the area's box widened by the footprint's radius.
            let mut stream = Stream::new(self.seed, Purpose::Operations, kind::STORMS, day);
            let r_m = ops.storm_radius_km * 1000.0;
            let (lo, hi) = bounds;
            let (w, h) = (hi.0 - lo.0 + 2.0 * r_m, hi.1 - lo.1 + 2.0 * r_m);
            let footprints = w * h / (std::f64::consts::PI * r_m * r_m);
            let mean = ops.storms_per_year_at_a_place * footprints / 365.25 * weight;
            for _ in 0..poisson(&mut stream, mean) {
                let t = within(&mut stream);
                let centre = (lo.0 - r_m + stream.uniform() * w, lo.1 - r_m + stream.uniform() * h);
                let hit: Vec<u32> = (0..net.feeders.len() as u32)
                    .filter(|&f| {
                        net.substations
                            .get(net.feeders[f as usize].substation as usize)
                            .is_some_and(|s| {
                                let (dx, dy) = (f64::from(s.pos.x) - centre.0, f64::from(s.pos.y) - centre.1);
                                dx * dx + dy * dy <= r_m * r_m
                            })
                    })
                    .collect();
                let mut cumulative = Vec::with_capacity(hit.len());
                let mut sum = 0.0;
                for &f in &hit {
                    sum += exposure.km[f as usize];
                    cumulative.push(sum);
                }
                let (Some(start), false) = (t, hit.is_empty()) else {
                    continue;
                };
                self.counts.storms += 1;
                for _ in 0..poisson(&mut stream, ops.storm_faults_per_100km / 100.0 * sum) {
                    let x = stream.uniform() * sum;
                    let f = hit[cumulative.partition_point(|&c| c <= x).min(hit.len() - 1)];
                    let what = lateral_fault(&exposure, f, &mut stream);
                    // The storm passes over the area in three hours.
                    let at = start + stream.below(3 * MICROS_PER_HOUR);
                    if at < horizon {
                        faults.push(Fault {
                            start: at,
                            what,
                            storm: true,
                        });
                    }
                }
            }
        }
        faults.sort_by_key(|f| (f.start, f.what));
        self.restore(&exposure, &faults);
    }

    /// The crews take `faults` on in time order: each the earliest free crew, arriving 30
    /// minutes after the fault at the earliest; equipment still out from an earlier fault is
    /// left to that fault's crew.
    fn restore(&mut self, exposure: &Exposure, faults: &[Fault]) {
        let ops = self.ops;
        let horizon = self.days.horizon;
        let n_crews = u64::from(self.n_meters)
            .div_ceil(u64::from(ops.customers_per_crew))
            .max(1);
        self.counts.crews = n_crews;
        let mut crews = vec![0u64; n_crews as usize];
        let mut feeder_free = vec![0u64; exposure.km.len()];
        let mut transformer_free = vec![0u64; exposure.transformer_customers.len()];
        let mut stream = Stream::new(self.seed, Purpose::Operations, kind::CREWS, 0);
        for fault in faults {
            let start = fault.start;
            let (members, median): (Vec<u32>, SimDuration) = match fault.what {
                FaultOn::Trunk(f) => {
                    if feeder_free[f as usize] > start {
                        continue;
                    }
                    (vec![f], ops.switching_median)
                }
                FaultOn::Lateral(f, at, k) => {
                    let ts = &exposure.transformers[f as usize];
                    let members: Vec<u32> = ts[at as usize..(at + k) as usize]
                        .iter()
                        .copied()
                        .filter(|&t| transformer_free[t as usize] <= start)
                        .collect();
                    if members.is_empty() || feeder_free[f as usize] > start {
                        continue;
                    }
                    (members, ops.repair_median)
                }
                FaultOn::Transformer(t) => {
                    let f = self.net.transformers[t as usize].feeder as usize;
                    if transformer_free[t as usize] > start || feeder_free[f] > start {
                        continue;
                    }
                    (vec![t], ops.transformer_replacement_median)
                }
            };
            let (c, &free) = crews
                .iter()
                .enumerate()
                .min_by_key(|&(i, &free)| (free, i))
                .unwrap_or((0, &0));
            let begins = free.max(start + MICROS_PER_HOUR / 2);
            let waited = (begins - (start + MICROS_PER_HOUR / 2)) / 60_000_000;
            self.counts.longest_crew_wait_minutes = self.counts.longest_crew_wait_minutes.max(waited);
            let done = begins + lognormal(&mut stream, median, 0.6).max(0) as u64;
            if let Some(slot) = crews.get_mut(c) {
                *slot = done;
            }
            let restored = done < horizon;
            let trunk = matches!(fault.what, FaultOn::Trunk(_));
            for &x in &members {
                let (outaged, customers) = if trunk {
                    feeder_free[x as usize] = done;
                    self.counts.feeder_outages += 1;
                    (Outaged::Feeder(x), exposure.feeder_customers[x as usize])
                } else {
                    transformer_free[x as usize] = done;
                    self.counts.transformer_outages += 1;
                    (Outaged::Transformer(x), exposure.transformer_customers[x as usize])
                };
                self.counts.interruptions.push(Interruption {
                    outaged,
                    start: SimTime(start),
                    end: SimTime(done),
                    customers,
                    storm: fault.storm,
                });
                let supply = |energized: bool| match outaged {
                    Outaged::Feeder(feeder) => Input::FeederSupply {
                        feeder,
                        energized,
                        cause: Cause::Outage,
                    },
                    Outaged::Transformer(transformer) => Input::TransformerSupply {
                        transformer,
                        energized,
                        cause: Cause::Outage,
                    },
                };
                self.inputs.push((SimTime(start), supply(false)));
                if restored {
                    self.counts.restorations += 1;
                    self.inputs.push((SimTime(done), supply(true)));
                }
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
    // waves, demand response, meter failures and grid faults: the order the inputs are drawn in.
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
    planner.grid_faults();
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

    /// SAIFI and SAIDI count sustained interruptions by customers; the one day far above the
    /// others is a major event day and drops out of the indices without them.
    #[test]
    fn reliability_excludes_major_event_days() {
        let day = MICROS_PER_DAY;
        let hour = MICROS_PER_HOUR;
        let cut = |d: u64, hours: u64, customers: u32| Interruption {
            outaged: Outaged::Feeder(0),
            start: SimTime(d * day),
            end: SimTime(d * day + hours * hour),
            customers,
            storm: false,
        };
        // Ten ordinary days of 100 customers out for 1 to 2 hours, one storm day of 5,000 for
        // 10 hours, and a momentary interruption that does not count.
        let mut list: Vec<Interruption> = (0..10).map(|d| cut(d, 1 + d % 2, 100)).collect();
        list.push(cut(20, 10, 5_000));
        list.push(Interruption {
            end: SimTime(30 * day + 60_000_000),
            ..cut(30, 0, 10_000)
        });
        let r = reliability(&list, 10_000, 365);
        assert_eq!(r.major_event_days, 1);
        assert!((r.saifi - (10.0 * 100.0 + 5_000.0) / 10_000.0).abs() < 1e-9);
        assert!((r.saifi_excl_med - 0.1).abs() < 1e-9);
        assert!((r.saidi_excl_med_min - (5.0 * 60.0 + 5.0 * 120.0) * 100.0 / 10_000.0).abs() < 1e-9);
        assert!(r.t_med_min > 1.2 && r.t_med_min < 300.0, "{}", r.t_med_min);
    }

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
