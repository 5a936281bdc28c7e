//! The metering data plane: one ECS system that runs once per 15-minute interval over every
//! meter, in parallel, in a single pass.
//!
//! ```text
//!  per meter, every interval           per meter, when a read cycle closes
//!  ─────────────────────────           ─────────────────────────────────────────────────────────
//!  ConsumeStep: premise load ──► meter  ReadStep: collector read ──► backhaul ──► HES ──► MDM VEE
//!  (profile x weather, routine shift,   (over the meter's path:  (per         (on time (validate, estimate
//!   noise, devices, relay) → register,   mesh hops, PLC line or   collector)   or late)  gaps, backfill,
//!   load-profile memory, feeder load)    tower; queue; fallback)                         reconcile register)
//! ```
//!
//! The stages stay separate functions (`ConsumeStep`, `ReadStep`, `ingest_delivery`); the
//! system composes them per meter because one pass over the component tables costs half the
//! memory traffic of one pass per stage.
//!
//! Two short passes run ahead of it over dense arrays: every premise's consumption noise
//! ([`DemandStep::draw_noise`]) and, when a read cycle closes, every meter's first read attempt
//! ([`ReadDraws`]). Each is a chain of hashing, a table lookup and an exponential that is the
//! same for every meter: in a short loop the processor overlaps many meters' chains and the
//! exponentials vectorise, where inside the whole per-meter step it could overlap almost none.
//!
//! Every stage draws its randomness from [`Stream`]s keyed by (purpose, meter, slot), and sums
//! into integer accumulators, so the results do not depend on how the meters are split between
//! threads. Exponentials go through [`crate::rng::exp_f32`], the same bits on every machine.

use bevy_ecs::batching::BatchingStrategy;
use bevy_ecs::prelude::*;
use bevy_utils::Parallel;

use crate::config::{INTERVAL, SimConfig};
use crate::grid::GridState;
use crate::interval_metering::{LOAD_GROUPS, load_group_class, load_group_parameters};
use crate::model::{
    Cause, CustomerClass, GridPlace, LOAD_PROFILE_DEPTH, LinkKind, LoadProfileMemory, MdmRecord, Meter, MeterIdx,
    Premise, Relay,
};
use crate::network::{BackupSupply, Intercept, MeterSite, NONE, NetState, Network, Via};
use crate::profile::{ProfileCalendar, SLOTS_PER_DAY};
use crate::records::{AttackTick, IntervalRow, LinkReadStats, RunCounters, RunRecords, TransformerEnergy};
use crate::rng::{Purpose, QuantileTable, Stream, StreamFamily};

/// Largest routine shift any class may use, quarter-hours (see `ClassConsumption`).
pub const MAX_SHIFT: i64 = 8;

/// Largest factor by which a premise's noise and activity weights together may raise its load
/// above the (shifted) class profile; keeps honest readings within the MDM's plausibility
/// limit ([`SPIKE_FACTOR`] times the substitute value).
pub const MAX_NOISE_FACTOR: f64 = 6.0;

/// The activity periods of the day a premise weights (see `ClassConsumption::activity_spread`):
/// night, morning, daytime, evening.
pub const ACTIVITY_PERIODS: usize = 4;

/// Centre and width (standard deviation) of each activity period, hours of local time: night
/// 03:00, morning 07:30, daytime 13:00, evening 19:30 (assumption: the periods of the BDEW H0
/// day around its morning, midday and evening peaks and its night trough).
pub const ACTIVITY_PERIOD_HOURS: [(f64, f64); ACTIVITY_PERIODS] = [(3.0, 2.0), (7.5, 1.25), (13.0, 2.0), (19.5, 1.75)];

/// Lowest factor the activity weights may bring a premise's load to, against the class profile
/// (a premise is never quite idle).
pub const MIN_ACTIVITY_FACTOR: f32 = 0.05;

/// How strongly activity period `k` covers quarter-hour `slot_of_day` (0 to 1; a Gaussian bump
/// around the period's centre, on the 24-hour circle).
pub fn activity_bump(k: usize, slot_of_day: usize) -> f64 {
    let (centre, width) = ACTIVITY_PERIOD_HOURS[k];
    let hour = (slot_of_day as f64 + 0.5) / 4.0;
    let d = (hour - centre).rem_euclid(24.0);
    let d = d.min(24.0 - d);
    (-0.5 * (d / width).powi(2)).exp()
}

/// A reading above this multiple of the MDM's substitute value (and above
/// [`SPIKE_FLOOR_WH`]) fails validation as a spike.
pub const SPIKE_FACTOR: u64 = 40;

/// Readings at or below this many Wh never count as spikes.
pub const SPIKE_FLOOR_WH: u64 = 200;

/// The class profiles tabulated over the run: kW per 1,000 kWh/a for each load group (each
/// class, and the interval-metered commercial premises on their own shape; see
/// [`crate::interval_metering::load_group`]) at each slot, from `-MAX_SHIFT` to
/// `n_slots + MAX_SHIFT`.
#[derive(Resource, Debug, Clone)]
pub struct ProfileTable {
    kw: Vec<[f32; LOAD_GROUPS]>,
    /// What premises demand, per slot and class, kW per 1,000 kWh/a: the profile times the
    /// day's weather factor (see [`weather_factor`]). `kw` stays the plain profile, which is
    /// what the MDM's substitute values use.
    demand_kw: Vec<[f32; LOAD_GROUPS]>,
    /// Per slot of the run: the output of one kWp of rooftop PV in the slot, Wh (the day's
    /// clearness times the clear-sky output; see [`crate::devices`]).
    pv_wh_per_kwp: Vec<f32>,
    /// Per slot of the run: a heat pump's electricity in the slot, Wh.
    heat_pump_wh: Vec<f32>,
    /// Seed, first day (days since the epoch) and quarter-hour of the run's first slot, which
    /// EV charging sessions are keyed by.
    seed: u64,
    start_day: i64,
    start_slot: i64,
    /// Per slot of the run: whether it lies in the time-of-use peak period.
    peak: Vec<bool>,
    /// Per slot of the run, load group and activity period: how much a premise's full weight of the
    /// period (its `activity` at 127, times the class's `activity_spread`) changes its load,
    /// as a share of the class profile: the period's bump less its profile-weighted mean over
    /// the day, so that a premise's daily energy does not depend on its weights.
    activity: Vec<[[f32; ACTIVITY_PERIODS]; LOAD_GROUPS]>,
}

impl ProfileTable {
    /// Tabulates the class profiles for the configured horizon.
    pub fn build(config: &SimConfig) -> ProfileTable {
        let mut calendar = ProfileCalendar::new(config.holidays.clone());
        let start_slot = i64::from(config.start.second_of_day / 900);
        let start_day = config.start.date.days_since_epoch();
        let n = i64::from(config.n_slots());
        let groups = load_group_parameters(&config.classes);
        let mut weather_days: Vec<(i64, [f64; 4])> = Vec::new();
        let (kw, demand_kw): (Vec<[f32; LOAD_GROUPS]>, Vec<[f32; LOAD_GROUPS]>) = (-MAX_SHIFT..n + MAX_SHIFT)
            .map(|s| {
                let abs = start_slot + s;
                let day = start_day + abs.div_euclid(SLOTS_PER_DAY as i64);
                let date = crate::time::CivilDate::from_days_since_epoch(day);
                let slot_of_day = abs.rem_euclid(SLOTS_PER_DAY as i64) as usize;
                if weather_days.last().map(|&(d, _)| d) != Some(day) {
                    weather_days.push((day, weather_factor(config, &mut calendar, date)));
                }
                let factor = weather_days.last().map_or([1.0; 4], |&(_, f)| f);
                let kw = groups.map(|group| {
                    crate::interval_metering::class_kw_per_mwh_year(&mut calendar, &group, date, slot_of_day)
                });
                (
                    kw.map(|v| v as f32),
                    std::array::from_fn(|g| (kw[g] * factor[load_group_class(g).index()]) as f32),
                )
            })
            .unzip();
        let (from, to) = (
            i64::from(config.mdm.peak_from_hour) * 4,
            i64::from(config.mdm.peak_to_hour) * 4,
        );
        let peak = (0..n)
            .map(|s| {
                let abs = start_slot + s;
                let date =
                    crate::time::CivilDate::from_days_since_epoch(start_day + abs.div_euclid(SLOTS_PER_DAY as i64));
                let slot_of_day = abs.rem_euclid(SLOTS_PER_DAY as i64);
                date.iso_weekday() <= 5 && !config.holidays.contains(&date) && (from..to).contains(&slot_of_day)
            })
            .collect();
        // Per day of the run: each load group's profile-weighted mean of each activity bump.
        let mut day_means: Vec<(i64, [[f64; ACTIVITY_PERIODS]; LOAD_GROUPS])> = Vec::new();
        let activity = (0..n)
            .map(|s| {
                let abs = start_slot + s;
                let day = start_day + abs.div_euclid(SLOTS_PER_DAY as i64);
                let slot_of_day = abs.rem_euclid(SLOTS_PER_DAY as i64) as usize;
                if day_means.last().map(|&(d, _)| d) != Some(day) {
                    let date = crate::time::CivilDate::from_days_since_epoch(day);
                    let means = groups.map(|group| {
                        let kw: Vec<f64> = (0..SLOTS_PER_DAY)
                            .map(|t| crate::interval_metering::class_kw_per_mwh_year(&mut calendar, &group, date, t))
                            .collect();
                        let total: f64 = kw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
                        std::array::from_fn(|k| {
                            kw.iter().enumerate().map(|(t, w)| w * activity_bump(k, t)).sum::<f64>() / total
                        })
                    });
                    day_means.push((day, means));
                }
                let means = day_means
                    .last()
                    .map(|&(_, m)| m)
                    .unwrap_or([[0.0; ACTIVITY_PERIODS]; LOAD_GROUPS]);
                std::array::from_fn(|g| {
                    let scale = groups[g].activity_spread / 127.0;
                    std::array::from_fn(|k| ((activity_bump(k, slot_of_day) - means[g][k]) * scale) as f32)
                })
            })
            .collect();
        // Devices: PV output per kWp and a heat pump's electricity, per slot of the run.
        let climate = config.climate;
        let mut day_devices: Vec<(i64, f64, f64)> = Vec::new();
        let (pv_wh_per_kwp, heat_pump_wh) = (0..n)
            .map(|s| {
                let abs = start_slot + s;
                let day = start_day + abs.div_euclid(SLOTS_PER_DAY as i64);
                let date = crate::time::CivilDate::from_days_since_epoch(day);
                let slot_of_day = abs.rem_euclid(SLOTS_PER_DAY as i64) as usize;
                if day_devices.last().map(|&(d, _, _)| d) != Some(day) {
                    let (hdd, _) = climate.degree_days(climate.daily_mean_c(config.seed, date));
                    day_devices.push((
                        day,
                        crate::devices::clearness(config.seed, date),
                        crate::devices::heat_pump_kwh(hdd),
                    ));
                }
                let (clearness, heat_pump_kwh) = day_devices.last().map_or((0.0, 0.0), |&(_, c, h)| (c, h));
                let pv_kw = crate::devices::clear_sky_kw_per_kwp(climate, date, slot_of_day) * clearness;
                (
                    (pv_kw * 0.25 * 1000.0) as f32,
                    (heat_pump_kwh * 1000.0 / SLOTS_PER_DAY as f64) as f32,
                )
            })
            .unzip();
        ProfileTable {
            kw,
            demand_kw,
            pv_wh_per_kwp,
            heat_pump_wh,
            seed: config.seed,
            start_day,
            start_slot,
            peak,
            activity,
        }
    }

    /// What a premise of `class` demands at `slot` before its own shift, weights and noise, kW
    /// per 1,000 kWh/a: the class profile times the day's weather factor (may be up to
    /// `MAX_SHIFT` outside the run).
    #[inline]
    pub fn demand_kw(&self, class: CustomerClass, slot: i64) -> f32 {
        self.group_demand_kw(class.index(), slot)
    }

    /// What a premise of load group `group` demands at `slot` before its own shift, weights
    /// and noise, kW per 1,000 kWh/a (see [`ProfileTable::demand_kw`]).
    #[inline]
    pub fn group_demand_kw(&self, group: usize, slot: i64) -> f32 {
        let i = (slot + MAX_SHIFT).clamp(0, self.demand_kw.len() as i64 - 1) as usize;
        self.demand_kw[i][group]
    }

    /// Per load group and activity period, at `slot`: the change of a premise's load, as a
    /// share of the group's profile, per 127th of its weight of the period.
    #[inline]
    pub fn activity(&self, slot: u32) -> [[f32; ACTIVITY_PERIODS]; LOAD_GROUPS] {
        self.activity
            .get(slot as usize)
            .copied()
            .unwrap_or([[0.0; ACTIVITY_PERIODS]; LOAD_GROUPS])
    }

    /// Whether `slot` lies in the time-of-use peak period.
    #[inline]
    pub fn is_peak(&self, slot: u32) -> bool {
        self.peak.get(slot as usize).copied().unwrap_or(false)
    }

    /// kW per 1,000 kWh/a of `class` at `slot` (may be up to `MAX_SHIFT` outside the run).
    #[inline]
    pub fn kw(&self, class: CustomerClass, slot: i64) -> f32 {
        self.group_kw(class.index(), slot)
    }

    /// kW per 1,000 kWh/a of load group `group` at `slot` (may be up to `MAX_SHIFT` outside the
    /// run).
    #[inline]
    pub fn group_kw(&self, group: usize, slot: i64) -> f32 {
        let i = (slot + MAX_SHIFT).clamp(0, self.kw.len() as i64 - 1) as usize;
        self.kw[i][group]
    }

    /// The MDM's substitute value for a meter's interval: the profile of the premise's load
    /// group (its class's, or the interval-metered commercial shape) scaled to the premise's
    /// annual consumption (the BDEW substitute-value method), whole Wh.
    #[inline]
    pub fn substitute_wh(&self, premise: &Premise, slot: u32) -> u64 {
        let wh = f64::from(premise.annual_kwh) * f64::from(self.group_kw(premise.load_group(), i64::from(slot))) * 0.25;
        (wh + 0.5) as u64
    }
}

/// The weather factor of each class on `date`: how much the day's weather scales the class
/// profile. A class whose electric space heating is `heating_share` of its annual energy takes
/// `annual x heating_share x (HDD - HDD_n) / HDD_year` more energy on a day with `HDD` heating
/// degree-days where the normal is `HDD_n` and the normal year has `HDD_year` (likewise for
/// cooling); the profile, which describes a year of normal weather, already holds the normal
/// part. The extra energy is spread over the day like the profile, so the factor is one plus it
/// over the profile's energy of the day (at least 0). Computed once per day and class.
pub fn weather_factor(config: &SimConfig, calendar: &mut ProfileCalendar, date: crate::time::CivilDate) -> [f64; 4] {
    let climate = config.climate;
    let (hdd, cdd) = climate.degree_days(climate.daily_mean_c(config.seed, date));
    let (hdd_normal, cdd_normal) = climate.normal_degree_days(date);
    let (hdd_year, cdd_year) = climate.normal_degree_days_of_year(date.year);
    CustomerClass::ALL.map(|c| {
        let class = config.class(c);
        if class.heating_share == 0.0 && class.cooling_share == 0.0 {
            return 1.0;
        }
        // kWh per 1,000 kWh/a: what the day's weather adds to or takes from the normal day.
        let mut extra = 0.0;
        if hdd_year > 0.0 {
            extra += 1000.0 * class.heating_share * (hdd - hdd_normal) / hdd_year;
        }
        if cdd_year > 0.0 {
            extra += 1000.0 * class.cooling_share * (cdd - cdd_normal) / cdd_year;
        }
        let day_kwh: f64 = (0..SLOTS_PER_DAY)
            .map(|t| calendar.kw_per_mwh_year(class.profile, date, t) * 0.25)
            .sum();
        if day_kwh > 0.0 {
            (1.0 + extra / day_kwh).max(0.0)
        } else {
            1.0
        }
    })
}

/// Distributions the hot loops sample by table lookup.
#[derive(Resource, Debug, Clone)]
pub struct SamplingTables {
    /// Per-interval consumption noise, per class.
    pub noise: [LogNoise; 4],
    /// The standard normal, for path latencies.
    pub normal: QuantileTable,
    /// Backhaul latency in microseconds.
    pub backhaul_us: QuantileTable,
}

impl SamplingTables {
    /// Tabulates the configured noise and latency distributions.
    pub fn build(config: &SimConfig, network: &Network) -> SamplingTables {
        let backhaul = &network.params.backhaul;
        SamplingTables {
            noise: CustomerClass::ALL.map(|c| {
                let class = config.class(c);
                LogNoise::new(class.interval_noise_sigma, class.noise_persistence)
            }),
            normal: QuantileTable::standard_normal(),
            backhaul_us: QuantileTable::lognormal(backhaul.latency_median.as_micros() as f64, backhaul.latency_sigma),
        }
    }
}

/// One class's consumption noise: a stationary AR(1) process in the log of a mean-one factor,
/// carried per meter from interval to interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNoise {
    /// Stationary standard deviation of the log.
    pub sigma: f32,
    /// Lag-1 (15-minute) autocorrelation of the log.
    pub persistence: f32,
    /// Standard deviation of each interval's innovation: `sigma * sqrt(1 - persistence^2)`.
    pub innovation: f32,
    /// Subtracted from the log so that the factor has mean one: `sigma^2 / 2`.
    pub offset: f32,
}

impl LogNoise {
    /// The process with stationary log spread `sigma` and lag-1 autocorrelation `persistence`.
    pub fn new(sigma: f64, persistence: f64) -> LogNoise {
        LogNoise {
            sigma: sigma as f32,
            persistence: persistence as f32,
            innovation: (sigma * (1.0 - persistence * persistence).max(0.0).sqrt()) as f32,
            offset: (0.5 * sigma * sigma) as f32,
        }
    }

    /// The next log from the last one (NaN for none: a draw from the stationary law) and a
    /// standard normal draw `z`.
    #[inline]
    pub fn step(&self, last: f32, z: f32) -> f32 {
        if last.is_nan() {
            self.sigma * z
        } else {
            self.persistence * last + self.innovation * z
        }
    }

    /// The mean-one factor of log `x`.
    #[inline]
    pub fn factor(&self, x: f32) -> f32 {
        crate::rng::exp_f32(x - self.offset)
    }
}

/// Which interval the data plane is closing, and whether a read cycle closes with it.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct TickClock {
    /// The interval that is closing.
    pub slot: u32,
    /// When a read cycle closes at the end of `slot`: the first slot it covers.
    pub cycle_first_slot: Option<u32>,
    /// Control-plane events processed during the interval.
    pub events: u64,
    /// Alerts raised during the interval.
    pub alerts: u64,
    /// Requests that reached the HES during the interval.
    pub commands: u64,
}

#[derive(Default)]
pub(crate) struct TickAccum {
    true_mwh_by_class: [u64; 4],
    connected: u64,
    off_by_cause: [u64; 3],
    critical_off: u64,
    interrupted_us_by_cause: [u64; 3],
    not_served_mwh_by_cause: [u64; 3],
    dr_curtailed_mwh: u64,
    /// Critical facilities without supply in the interval: (meter, cause code, µs).
    critical: Vec<(u32, u8, u32)>,
    /// Critical facilities on their backup supply this interval: meter, microseconds.
    on_backup: Vec<(u32, u32)>,
    /// Per attack (by index): what it did in the interval.
    attacks: Vec<AttackTick>,
    /// Per transformer: true and registered energy in the interval.
    transformers: Vec<TransformerEnergy>,
    /// Load attacks switched on at premises in the interval: (transformer, attack, mWh that
    /// flowed), one entry per meter with such load.
    attack_load: Vec<(u32, u8, u64)>,
}

/// The per-attack sums of attack `k`, grown on first use.
#[inline]
fn attack_slot(attacks: &mut Vec<AttackTick>, k: u8) -> &mut AttackTick {
    let k = usize::from(k);
    if attacks.len() <= k {
        attacks.resize(k + 1, AttackTick::default());
    }
    &mut attacks[k]
}

impl TickAccum {
    /// Sizes the per-transformer sums for `n_transformers` transformers.
    fn ensure_len(&mut self, n_transformers: usize) {
        if self.transformers.len() != n_transformers {
            self.transformers.resize(n_transformers, TransformerEnergy::default());
        }
    }

    /// Zeroes the sums, keeping allocations.
    fn reset(&mut self) {
        self.true_mwh_by_class = [0; 4];
        self.connected = 0;
        self.off_by_cause = [0; 3];
        self.critical_off = 0;
        self.interrupted_us_by_cause = [0; 3];
        self.not_served_mwh_by_cause = [0; 3];
        self.dr_curtailed_mwh = 0;
        self.critical.clear();
        self.on_backup.clear();
        self.attacks.fill(AttackTick::default());
        self.transformers.fill(TransformerEnergy::default());
        self.attack_load.clear();
    }
}

/// What every premise's demand shares in one interval: the class profiles around the slot,
/// the activity weights and the noise. The engine's consumption step and the fidelity tests
/// both compute a premise's demand through [`DemandStep::demand_wh`].
#[derive(Debug, Clone)]
pub struct DemandStep<'a> {
    slot: u32,
    /// Wh per annual kWh, per load group and routine shift.
    window: [[f64; (2 * MAX_SHIFT + 1) as usize]; LOAD_GROUPS],
    /// Per load group and activity period: the change of load per 127th of a premise's weight.
    activity: [[f32; ACTIVITY_PERIODS]; LOAD_GROUPS],
    noise_family: StreamFamily,
    noise: &'a [LogNoise; 4],
    /// The standard normal, for the noise's innovations.
    normal: &'a QuantileTable,
    /// The output of one kWp of PV in the interval, Wh.
    pv_wh_per_kwp: f64,
    /// A heat pump's electricity in the interval, Wh.
    heat_pump_wh: f64,
    /// The run's seed, the interval's day (days since the epoch) and quarter-hour of the day,
    /// for EV charging sessions.
    seed: u64,
    day: i64,
    slot_of_day: u32,
}

impl<'a> DemandStep<'a> {
    /// The shared part of interval `slot` of a run with seed `seed`.
    pub fn new(seed: u64, table: &ProfileTable, tables: &'a SamplingTables, slot: u32) -> DemandStep<'a> {
        let mut window = [[0.0f64; (2 * MAX_SHIFT + 1) as usize]; LOAD_GROUPS];
        for (group, row) in window.iter_mut().enumerate() {
            for (i, w) in row.iter_mut().enumerate() {
                // kW per 1,000 kWh/a x 0.25 h = kWh per 1,000 kWh/a, which is Wh per kWh/a.
                *w = f64::from(table.group_demand_kw(group, i64::from(slot) + i as i64 - MAX_SHIFT)) * 0.25;
            }
        }
        let abs = table.start_slot + i64::from(slot);
        DemandStep {
            pv_wh_per_kwp: f64::from(table.pv_wh_per_kwp.get(slot as usize).copied().unwrap_or(0.0)),
            heat_pump_wh: f64::from(table.heat_pump_wh.get(slot as usize).copied().unwrap_or(0.0)),
            seed: table.seed,
            day: table.start_day + abs.div_euclid(SLOTS_PER_DAY as i64),
            slot_of_day: abs.rem_euclid(SLOTS_PER_DAY as i64) as u32,
            slot,
            window,
            activity: table.activity(slot),
            noise_family: StreamFamily::new(seed, Purpose::ConsumptionNoise),
            noise: &tables.noise,
            normal: &tables.normal,
        }
    }

    /// What premise `premise` behind meter `meter` takes from the grid in the interval, Wh,
    /// before supply, demand response and anything switched on from outside: its annual
    /// consumption times the class profile (with the day's weather) at its routine shift, its
    /// activity weights and its persistent noise; plus its heat pump and EV charging; less its
    /// PV output, down to zero (the meter registers import only). `noise_log` is the meter's
    /// noise state (NaN for none yet), advanced by one interval.
    #[inline]
    pub fn demand_wh(&self, meter: u32, premise: &Premise, noise_log: &mut f32) -> f64 {
        let noise = self.noise_factor(meter, premise.class.index(), noise_log);
        self.demand_wh_with_noise(meter, premise, noise)
    }

    /// The noise factor of meter `meter`'s premise (customer class index `class`) in the
    /// interval, advancing its noise state `noise_log` by one interval.
    #[inline]
    pub fn noise_factor(&self, meter: u32, class: usize, noise_log: &mut f32) -> f32 {
        crate::rng::exp_f32(self.noise_exponent(meter, class, noise_log))
    }

    /// The exponent of [`DemandStep::noise_factor`]: the premise's new noise state less the
    /// law's mean-preserving offset.
    #[inline]
    fn noise_exponent(&self, meter: u32, class: usize, noise_log: &mut f32) -> f32 {
        let draw = self
            .noise_family
            .stream(u64::from(meter), u64::from(self.slot))
            .next_u64();
        let noise = &self.noise[class];
        let x = noise.step(*noise_log, self.normal.sample(draw));
        *noise_log = x;
        x - noise.offset
    }

    /// Draws every meter's noise factor of the interval into `state.factor`, in parallel. A
    /// pass of its own because its chain of work (hash, table, exponential) is long and the
    /// same for every meter: in a short loop the processor overlaps many meters' chains,
    /// where inside the whole per-meter step it could overlap almost none.
    pub fn draw_noise(&self, state: &mut NoiseState) {
        const CHUNK: usize = 16_384;
        let NoiseState { log, class, factor } = state;
        factor.resize(log.len(), 0.0);
        let pool = bevy_tasks::ComputeTaskPool::get_or_init(bevy_tasks::TaskPool::default);
        pool.scope(|scope| {
            for (k, ((log, class), factor)) in log
                .chunks_mut(CHUNK)
                .zip(class.chunks(CHUNK))
                .zip(factor.chunks_mut(CHUNK))
                .enumerate()
            {
                scope.spawn(async move {
                    let first = (k * CHUNK) as u32;
                    // The draws, then the exponentials in a loop of their own, which vectorises.
                    for (i, ((log, &class), factor)) in log.iter_mut().zip(class).zip(factor.iter_mut()).enumerate() {
                        *factor = self.noise_exponent(first + i as u32, usize::from(class), log);
                    }
                    for factor in factor {
                        *factor = crate::rng::exp_f32(*factor);
                    }
                });
            }
        });
    }

    /// [`DemandStep::demand_wh`] with the premise's noise factor of the interval already
    /// drawn ([`DemandStep::noise_factor`]).
    #[inline]
    pub fn demand_wh_with_noise(&self, meter: u32, premise: &Premise, noise: f32) -> f64 {
        // The premise's load group: its class's, or the interval-metered commercial shape (one
        // comparison, no state).
        let g = premise.load_group();
        let base_wh =
            f64::from(premise.annual_kwh) * self.window[g][(i64::from(premise.shift_slots) + MAX_SHIFT) as usize];
        let weights = &self.activity[g];
        let mut activity = 1.0f32;
        for (w, q) in weights.iter().zip(premise.activity) {
            activity += w * f32::from(q);
        }
        let factor = f64::from((noise * activity.max(MIN_ACTIVITY_FACTOR)).min(MAX_NOISE_FACTOR as f32));
        let wh = base_wh * factor;
        if premise.devices == 0 {
            wh
        } else {
            self.with_devices(meter, premise, wh)
        }
    }

    /// `wh` with the premise's devices: heat pump and EV charging added, PV output taken off
    /// (self-consumption first, no export registered).
    #[inline]
    fn with_devices(&self, meter: u32, premise: &Premise, mut wh: f64) -> f64 {
        if premise.devices & crate::devices::HEAT_PUMP != 0 {
            wh += self.heat_pump_wh;
        }
        if premise.devices & crate::devices::EV_CHARGER != 0 {
            wh += crate::devices::ev_wh(self.seed, meter, self.day, self.slot_of_day);
        }
        if premise.devices & crate::devices::PV != 0 {
            wh = (wh - f64::from(premise.pv_kwp_tenths) * 0.1 * self.pv_wh_per_kwp).max(0.0);
        }
        wh
    }
}

/// Every premise's consumption noise, by meter index: dense, so that a whole interval's noise
/// is drawn in one pass ahead of the meters' step ([`DemandStep::draw_noise`]).
#[derive(Resource, Debug, Clone, Default)]
pub struct NoiseState {
    /// The log of each premise's noise in the last interval (the state of its AR(1) process);
    /// NaN before the first interval, when it is drawn from the stationary law.
    pub log: Vec<f32>,
    /// Each premise's customer class index (which noise law it follows).
    pub class: Vec<u8>,
    /// Each premise's noise factor in the interval being stepped.
    pub factor: Vec<f32>,
}

impl NoiseState {
    /// No noise drawn yet, for premises of the given classes (by meter index).
    pub fn new(classes: impl IntoIterator<Item = CustomerClass>) -> NoiseState {
        let class: Vec<u8> = classes.into_iter().map(|c| c.index() as u8).collect();
        NoiseState {
            log: vec![f32::NAN; class.len()],
            factor: vec![0.0; class.len()],
            class,
        }
    }
}

/// What every meter's consumption step shares in one interval.
struct ConsumeStep<'a> {
    slot: u32,
    interval_us: u32,
    demand: DemandStep<'a>,
    n_feeders: usize,
    grid: &'a GridState,
    /// The network, for the backup supplies of critical facilities (consulted only while a
    /// feeder is out).
    network: &'a crate::network::Network,
    /// The interval's start and end, µs since the run start.
    span_us: (u64, u64),
    /// Every premise's noise factor of the interval, by meter index.
    noise: &'a [f32],
    /// Whether the interval lies in the time-of-use peak (the meters' rate 1).
    peak: bool,
}

impl ConsumeStep<'_> {
    /// Advances one meter by the interval: true consumption from the premise's demand
    /// ([`DemandStep::demand_wh`]: the class profile with the day's weather, its routine shift
    /// and activity weights, its persistent noise, its devices) and the relay; the register and
    /// the load-profile memory record it.
    #[inline]
    fn meter(
        &self,
        idx: &MeterIdx,
        premise: &Premise,
        place: &GridPlace,
        meter: &mut Meter,
        memory: &mut LoadProfileMemory,
        acc: &mut TickAccum,
    ) {
        let slot = self.slot;
        let interval_us = self.interval_us;
        let c = premise.class.index();
        let demand = self
            .demand
            .demand_wh_with_noise(idx.0, premise, self.noise[idx.0 as usize]);
        let tr = place.transformer as usize;
        if meter.plain() && self.grid.supply_off_share[tr] == 0.0 && self.grid.supplied[tr] {
            // Most meters, most intervals: supplied all through, the relay closed, no demand
            // response, no load switched from outside, an honest register. The general path
            // below comes to the same numbers for them, with every share at 0 or 1.
            let true_wh = demand * f64::from(self.grid.supply_pickup[tr]);
            let true_mwh = (true_wh * 1000.0 + 0.5) as u64;
            let t = &mut acc.transformers[tr];
            t.true_mwh += true_mwh;
            t.registered_mwh += true_mwh;
            meter.register_wh += true_wh;
            meter.relay_changed_at_us = 0;
            record_interval(memory, meter, slot, self.peak);
            acc.true_mwh_by_class[c] += true_mwh;
            acc.connected += 1;
            return;
        }
        // Supply: the share of the interval the relay was open, and the share the feeder was
        // out (taken as independent within the interval); cold-load pickup after a
        // restoration; demand response.
        let mut open_us = meter.open_us_in_interval;
        if meter.relay == Relay::Open {
            open_us += interval_us.saturating_sub(meter.relay_changed_at_us);
        }
        let open_us = open_us.min(interval_us);
        let relay_off = f64::from(open_us) / f64::from(interval_us);
        // Supply is looked up per transformer: its feeder's state is folded in at the
        // interval's close.
        let f = place.feeder as usize;
        let supply_off = f64::from(self.grid.supply_off_share[tr]);
        // A critical facility with a backup keeps supply while its own is out: a standby
        // generator always, a second feed while the other feeder of its pair is in.
        let backup = if supply_off > 0.0 {
            self.network.backup_of(idx.0)
        } else {
            None
        };
        let (feeder_off, on_backup) = match backup {
            Some(backup) => {
                let left_off = match backup {
                    BackupSupply::StandbyGenerator => 0.0,
                    BackupSupply::SecondFeed => BackupSupply::second_feeder(f, self.n_feeders)
                        .map_or(1.0, |g| f64::from(self.grid.off_share[g])),
                };
                (supply_off * left_off, supply_off * (1.0 - left_off))
            }
            None => (supply_off, 0.0),
        };
        if on_backup > 0.0 {
            acc.on_backup.push((idx.0, (on_backup * f64::from(interval_us)) as u32));
        }
        let on_share = (1.0 - relay_off) * (1.0 - feeder_off);
        let demand_wh = demand * f64::from(self.grid.supply_pickup[tr]);
        let keep = meter.dr_keep_share(self.span_us.0, self.span_us.1);
        // What the premise would take with supply: its demand less demand response, plus any
        // load switched on from outside its pattern.
        let extra_wh = meter.extra_wh(self.span_us.0, self.span_us.1);
        let load_wh = demand_wh * keep + extra_wh;
        let true_wh = load_wh * on_share;
        if meter.extra_by > 0 && extra_wh > 0.0 && on_share > 0.0 {
            // An attack's switched load, kept per transformer so that a protection trip it
            // causes is booked to the attack (only meters with such load get here).
            acc.attack_load.push((
                place.transformer,
                meter.extra_by - 1,
                (extra_wh * on_share * 1000.0 + 0.5) as u64,
            ));
        }
        let relay_cause = meter.relay_cause;
        let f_cause = self.grid.supply_cause[tr];
        if relay_off > 0.0 || feeder_off > 0.0 {
            let relay_part = relay_off * (1.0 - feeder_off);
            let critical = premise.class == CustomerClass::Critical;
            for (cause, share) in [(f_cause, feeder_off), (relay_cause, relay_part)] {
                if share <= 0.0 {
                    continue;
                }
                let us = (share * f64::from(interval_us)) as u64;
                let mwh = (load_wh * share * 1000.0) as u64;
                acc.interrupted_us_by_cause[cause.index()] += us;
                acc.not_served_mwh_by_cause[cause.index()] += mwh;
                if let Some(k) = cause.attack() {
                    let a = attack_slot(&mut acc.attacks, k);
                    a.interrupted_us += us;
                    a.not_served_mwh += mwh;
                }
                if critical {
                    acc.critical.push((idx.0, cause.code(), us as u32));
                }
            }
        }
        if keep < 1.0 {
            let curtailed = (demand_wh * (1.0 - keep) * on_share * 1000.0) as u64;
            acc.dr_curtailed_mwh += curtailed;
            if meter.dr_by > 0 {
                attack_slot(&mut acc.attacks, meter.dr_by - 1).curtailed_mwh += curtailed;
            }
        }
        let registered_wh = if meter.register_share != 1.0 {
            true_wh * f64::from(meter.register_share)
        } else {
            true_wh
        };
        let t = &mut acc.transformers[place.transformer as usize];
        t.true_mwh += (true_wh * 1000.0 + 0.5) as u64;
        t.registered_mwh += (registered_wh * 1000.0 + 0.5) as u64;
        if meter.register_share != 1.0 {
            let share = f64::from(meter.register_share);
            meter.register_wh += registered_wh;
            if meter.skew_by > 0 {
                // Under- or over-reporting: the gap between what is reported and what flowed.
                let missing = (true_wh * (1.0 - share).abs() * 1000.0) as u64;
                let a = attack_slot(&mut acc.attacks, meter.skew_by - 1);
                if meter.skew_theft {
                    a.stolen_mwh += missing;
                } else {
                    a.falsified_mwh += missing;
                }
            }
        } else {
            meter.register_wh += true_wh;
        }
        meter.open_us_in_interval = 0;
        meter.relay_changed_at_us = 0;
        record_interval(memory, meter, slot, self.peak);
        let true_mwh = (true_wh * 1000.0 + 0.5) as u64;
        acc.true_mwh_by_class[c] += true_mwh;
        let energized = self.grid.supplied[tr]
            || self
                .network
                .backup_of(idx.0)
                .is_some_and(|b| b.carries(f, self.n_feeders, |g| self.grid.feeders[g].energized));
        if energized && meter.relay == Relay::Closed {
            acc.connected += 1;
        } else {
            let cause = if energized { relay_cause } else { f_cause };
            let critical = u64::from(premise.class == CustomerClass::Critical);
            acc.off_by_cause[cause.index()] += 1;
            acc.critical_off += critical;
            if let Some(k) = cause.attack() {
                let a = attack_slot(&mut acc.attacks, k);
                a.customers_off += 1;
                a.critical_off += critical;
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct CycleAccum {
    reported_wh: Vec<u64>,
    /// Reported Wh per (interval of the cycle, feeder), interval-major: what the MDM holds per
    /// feeder at first read, for energy balance against feeder-head SCADA.
    feeder_reported_wh: Vec<u64>,
    /// Feeders in the network (the stride of `feeder_reported_wh`).
    n_feeders: usize,
    /// The feeder of the meter being ingested.
    feeder: usize,
    settled_wh: Vec<i64>,
    on_time: Vec<u64>,
    /// Reads on time whose interval value was zero.
    zero: Vec<u64>,
    missing: Vec<u64>,
    estimated: Vec<u64>,
    /// (slot, change of settled Wh) for slots before the cycle.
    backfill: Vec<(u32, i64)>,
    backfilled: u64,
    unrecoverable: u64,
    validation_flags: u64,
    estimation_abs_error_wh: u64,
    estimation_actual_wh: u64,
    by_link: [LinkReadStats; 3],
    /// Feeders of meters that went silent in this cycle (one entry per meter).
    silent: Vec<u32>,
    /// Per attack (by index): interval readings missing from meters it was acting on.
    attack_missing: Vec<u64>,
    /// Per collector: meters with supply it tried to read, and those whose read did not arrive.
    collector_reads: Vec<u32>,
    collector_missing: Vec<u32>,
    /// Read attempts through watched collectors ([`CycleState::watched`]).
    reads: Vec<ReadRecord>,
}

impl CycleAccum {
    /// Sizes the sums for a read cycle of `n` intervals over `n_feeders` feeders and
    /// `n_collectors` collectors.
    fn ensure_len(&mut self, n: usize, n_feeders: usize, n_collectors: usize) {
        if self.collector_reads.len() != n_collectors {
            self.collector_reads.resize(n_collectors, 0);
            self.collector_missing.resize(n_collectors, 0);
        }
        if self.feeder_reported_wh.len() != n * n_feeders {
            self.feeder_reported_wh.resize(n * n_feeders, 0);
            self.n_feeders = n_feeders;
        }
        if self.reported_wh.len() != n {
            self.reported_wh.resize(n, 0);
            self.settled_wh.resize(n, 0);
            self.on_time.resize(n, 0);
            self.zero.resize(n, 0);
            self.missing.resize(n, 0);
            self.estimated.resize(n, 0);
        }
    }

    /// Zeroes every sum, keeping the vectors' allocations for the next cycle.
    fn reset(&mut self) {
        let mut kept = CycleAccum {
            reported_wh: std::mem::take(&mut self.reported_wh),
            feeder_reported_wh: std::mem::take(&mut self.feeder_reported_wh),
            settled_wh: std::mem::take(&mut self.settled_wh),
            on_time: std::mem::take(&mut self.on_time),
            zero: std::mem::take(&mut self.zero),
            missing: std::mem::take(&mut self.missing),
            estimated: std::mem::take(&mut self.estimated),
            backfill: std::mem::take(&mut self.backfill),
            silent: std::mem::take(&mut self.silent),
            attack_missing: std::mem::take(&mut self.attack_missing),
            collector_reads: std::mem::take(&mut self.collector_reads),
            collector_missing: std::mem::take(&mut self.collector_missing),
            reads: std::mem::take(&mut self.reads),
            n_feeders: self.n_feeders,
            ..CycleAccum::default()
        };
        for v in [
            &mut kept.reported_wh,
            &mut kept.feeder_reported_wh,
            &mut kept.on_time,
            &mut kept.zero,
            &mut kept.missing,
            &mut kept.estimated,
        ] {
            v.fill(0);
        }
        kept.settled_wh.fill(0);
        kept.backfill.clear();
        kept.silent.clear();
        kept.attack_missing.fill(0);
        kept.collector_reads.fill(0);
        kept.collector_missing.fill(0);
        kept.reads.clear();
        *self = kept;
    }
}

/// Thread-local sums of one data-plane step.
#[derive(Default)]
pub(crate) struct StepAccum {
    tick: TickAccum,
    cycle: CycleAccum,
}

/// Per-collector state of the read cycle that is closing.
#[derive(Resource, Debug, Clone, Default)]
pub struct CycleState {
    /// `up[c]`: whether collector `c` reaches the HES in this cycle.
    pub up: Vec<bool>,
    /// How long collector `c`'s shared channel was still busy with other traffic when the
    /// cycle's polling started, µs.
    pub wait_us: Vec<u64>,
    /// Backhaul latency of collector `c` in this cycle, µs.
    pub backhaul_us: Vec<u64>,
    /// Per collector: the attack code of a connection flood that refused or delayed its upload
    /// in this cycle (0 for none).
    pub flood_by: Vec<u8>,
    /// Collectors (and towers) whose field networks are watched, by index: the data plane logs
    /// every read attempt through them in `reads` (empty: none watched, nothing logged).
    pub watched: Vec<bool>,
    /// The read attempts of the last read cycle through watched collectors, by meter (a mesh
    /// meter's first attempt before its cellular fallback).
    pub reads: Vec<ReadRecord>,
}

/// One read attempt over a watched collector's field network, as a capture of that network
/// shows it. Times are µs after the read cycle's close (when polling starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    /// The meter.
    pub meter: u32,
    /// The collector (or cellular tower) that polled it.
    pub collector: u32,
    /// How the meter was reached.
    pub via: Via,
    /// Mesh hops between the meter and the collector (1 for PLC and cellular).
    pub hops: u8,
    /// When the collector's request left: the collector's channel wait plus the meter's place
    /// in its polling queue (the path's deterministic latency).
    pub request_us: u64,
    /// When the meter's answer reached the poller (the request plus the path's random round
    /// trip), or `None` when the request or the answer was lost.
    pub answer_us: Option<u64>,
    /// The attack code of a rogue concentrator the meter had attached to, which took the
    /// exchange in the collector's place (0: none).
    pub rogue: u8,
    /// The attack code of an attack acting on a read that did not arrive (a jammer, a flood, a
    /// rogue device, bricking firmware; 0: none).
    pub attack: u8,
    /// Whether the reading reached the MDM by the deadline (through this attempt).
    pub delivered: bool,
    /// Whether this is a mesh meter's cellular retry after its first attempt failed.
    pub fallback: bool,
}

/// How one read attempt ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Delivered(u64),
    Unreachable,
    Lost,
    BackhaulLost,
    Late(u64),
}

/// Every meter's first read attempt of a cycle, drawn ahead of the meters' step in a pass of
/// its own (as the noise is, see [`DemandStep::draw_noise`]): the first two draws of the
/// meter's read stream, taken up.
#[derive(Default)]
pub(crate) struct ReadDraws {
    /// Whether the attempt over the meter's path gets through its radio or line (the first
    /// draw; false for a meter without a path, which draws nothing).
    through: Vec<bool>,
    /// The random part of the attempt's latency, `exp(mu + sigma z)` µs (the second draw).
    latency_us: Vec<f32>,
}

impl ReadDraws {
    /// Draws the first attempt of every meter's read in the cycle ending with slot `last`,
    /// over its current path, in parallel.
    pub(crate) fn draw(&mut self, net: &NetState, family: StreamFamily, normal: &QuantileTable, last: u32) {
        const CHUNK: usize = 16_384;
        let n = net.paths.len();
        self.through.resize(n, false);
        self.latency_us.resize(n, 0.0);
        let pool = bevy_tasks::ComputeTaskPool::get_or_init(bevy_tasks::TaskPool::default);
        let weather = net.weather;
        pool.scope(|scope| {
            for (k, ((paths, through), latency)) in net
                .paths
                .chunks(CHUNK)
                .zip(self.through.chunks_mut(CHUNK))
                .zip(self.latency_us.chunks_mut(CHUNK))
                .enumerate()
            {
                scope.spawn(async move {
                    let first = (k * CHUNK) as u64;
                    for (i, ((path, through), latency)) in paths.iter().zip(through).zip(latency.iter_mut()).enumerate()
                    {
                        if path.collector == NONE {
                            *through = false;
                            *latency = 0.0;
                            continue;
                        }
                        let mut stream = family.stream(first + i as u64, u64::from(last));
                        // Weather takes its share of RF reads; PLC is wired.
                        let weather = if path.via == Via::Plc { 1.0 } else { weather };
                        *through = stream.bernoulli(f64::from(path.success * weather));
                        *latency = path.mu + path.sigma * normal.sample(stream.next_u64());
                    }
                    // The exponentials in a loop of their own, which vectorises.
                    for latency in latency {
                        *latency = crate::rng::exp_f32(*latency);
                    }
                });
            }
        });
    }
}

/// What every meter's read shares in one read cycle.
struct ReadStep<'a> {
    first: u32,
    last: u32,
    n: usize,
    n_feeders: usize,
    cycle: &'a CycleState,
    net: &'a NetState,
    sites: &'a [MeterSite],
    deadline_us: u64,
    table: &'a ProfileTable,
    normal: &'a QuantileTable,
    family: StreamFamily,
    /// Log-normal latency of a cellular exchange, for fallback attempts.
    cell_mu_sigma: (f32, f32),
    /// Read cycles missed in a row after which the MDM suspects a meter has no supply.
    silent_cycles: u8,
    /// The fleet's security state (rogue firmware, failures).
    fleet: &'a crate::security::Fleet,
    /// Collectors in the network.
    n_collectors: usize,
    /// When a civil day ends within this read cycle: the day's first slot (0 when the run
    /// started later that day). Each meter counts a meter-day, read when the MDM has an
    /// actual value from that day.
    day_first: Option<u32>,
    /// Every meter's first attempt, drawn ahead.
    draws: &'a ReadDraws,
    /// Collectors whose read attempts are logged ([`CycleState::watched`]; empty for none).
    watched: &'a [bool],
}

impl ReadStep<'_> {
    /// One read attempt over a path to `collector`, then over its backhaul.
    #[inline]
    fn attempt(
        &self,
        collector: u32,
        success: f32,
        fixed_us: f32,
        mu: f32,
        sigma: f32,
        stream: &mut Stream,
    ) -> Attempt {
        if collector == NONE {
            return Attempt::Unreachable;
        }
        if !stream.bernoulli(f64::from(success)) {
            return Attempt::Lost;
        }
        let c = collector as usize;
        if !self.cycle.up[c] {
            return Attempt::BackhaulLost;
        }
        let z = self.normal.sample(stream.next_u64());
        let latency_us = f64::from(fixed_us) + f64::from(crate::rng::exp_f32(mu + sigma * z));
        let latency_us = latency_us as u64 + self.cycle.wait_us[c] + self.cycle.backhaul_us[c];
        if latency_us > self.deadline_us {
            Attempt::Late(latency_us)
        } else {
            Attempt::Delivered(latency_us)
        }
    }

    /// Meter `i`'s first attempt, over its current path `path`, from the draws made ahead
    /// ([`ReadDraws`]); and how many draws of its read stream that attempt took up.
    #[inline]
    fn first_attempt(&self, i: usize, path: &crate::network::MeterPath) -> (Attempt, u64) {
        if path.collector == NONE {
            return (Attempt::Unreachable, 0);
        }
        if !self.draws.through[i] {
            return (Attempt::Lost, 1);
        }
        let c = path.collector as usize;
        if !self.cycle.up[c] {
            return (Attempt::BackhaulLost, 1);
        }
        let latency_us = f64::from(path.fixed_us) + f64::from(self.draws.latency_us[i]);
        let latency_us = latency_us as u64 + self.cycle.wait_us[c] + self.cycle.backhaul_us[c];
        if latency_us > self.deadline_us {
            (Attempt::Late(latency_us), 2)
        } else {
            (Attempt::Delivered(latency_us), 2)
        }
    }

    /// The attack acting on meter `i`'s reads, as an attack code: a jammer covering the meter
    /// or a relay on its route, rogue firmware that bricked it, or a flood on its collector's
    /// channel.
    fn attack_on(&self, i: usize, path: &crate::network::MeterPath) -> u8 {
        // A rogue concentrator that passes traffic on (forging commands) costs no reads.
        if let Some((by, mode)) = self.net.interception(i)
            && mode != Intercept::Forge
        {
            return by;
        }
        if self.net.jammed_by[i] > 0 {
            return self.net.jammed_by[i];
        }
        // Rogue firmware costs reads when it bricked the meter.
        let by = self.fleet.compromised_by[i];
        if by > 0 && self.fleet.failed[i] {
            let image = &self.fleet.images[usize::from(self.fleet.firmware[i])];
            if image.payload == crate::security::Payload::Brick {
                return by;
            }
        }
        if path.via == Via::Mesh {
            let mut v = self.net.routes.parent[i];
            for _ in 0..u8::MAX {
                let Some(&by) = self.net.jammed_by.get(v as usize) else {
                    break;
                };
                if by > 0 {
                    return by;
                }
                v = self.net.routes.parent[v as usize];
            }
        }
        if let Some(&by) = self.cycle.flood_by.get(path.collector as usize)
            && by > 0
        {
            return by;
        }
        match self.net.flooded_by.get(path.collector as usize) {
            Some(&by) => by,
            None => 0,
        }
    }

    /// Logs meter `i`'s read attempts through watched collectors: its first attempt over
    /// `path`, and its cellular retry when it `fell_back` (ending in `outcome`).
    #[cold]
    #[expect(clippy::too_many_arguments, reason = "the meter's read as `meter` computed it")]
    fn log_reads(
        &self,
        i: usize,
        path: &crate::network::MeterPath,
        site: &MeterSite,
        outcome: Attempt,
        fell_back: bool,
        delivered: bool,
        acc: &mut CycleAccum,
    ) {
        let watched = |c: u32| self.watched.get(c as usize).copied().unwrap_or(false);
        let attack = if delivered { 0 } else { self.attack_on(i, path) };
        let rogue = match self.net.interception(i) {
            Some((by, mode)) if mode != Intercept::Forge => by,
            _ => 0,
        };
        if path.collector != NONE && watched(path.collector) {
            let c = path.collector as usize;
            let wait = self.cycle.wait_us[c];
            // As `first_attempt` times it: the path's fixed part, then the random round trip.
            let answer_us = self.draws.through[i]
                .then(|| (f64::from(path.fixed_us) + f64::from(self.draws.latency_us[i])) as u64 + wait);
            acc.reads.push(ReadRecord {
                meter: i as u32,
                collector: path.collector,
                via: path.via,
                hops: path.hops,
                request_us: f64::from(path.fixed_us) as u64 + wait,
                answer_us,
                rogue,
                attack,
                delivered: delivered && !fell_back,
                fallback: false,
            });
        }
        if fell_back && watched(site.tower) {
            let t = site.tower as usize;
            let answer_us = match outcome {
                Attempt::Delivered(us) | Attempt::Late(us) => Some(us.saturating_sub(self.cycle.backhaul_us[t])),
                // A tower whose backhaul is down takes no exchange.
                Attempt::Lost | Attempt::BackhaulLost | Attempt::Unreachable => None,
            };
            acc.reads.push(ReadRecord {
                meter: i as u32,
                collector: site.tower,
                via: Via::Cellular,
                hops: 1,
                request_us: f64::from(self.net.read_load_us[t] as f32) as u64 + self.cycle.wait_us[t],
                answer_us,
                rogue: 0,
                attack,
                delivered,
                fallback: true,
            });
        }
    }

    /// The collector reads one meter over its current path (and a mesh meter with a cellular
    /// modem retries over cellular when the mesh fails) and forwards what it got over its
    /// backhaul to the HES; the MDM validates it, or estimates what is missing.
    #[inline]
    fn meter(
        &self,
        idx: &MeterIdx,
        premise: &Premise,
        place: &GridPlace,
        memory: &LoadProfileMemory,
        record: &mut MdmRecord,
        acc: &mut CycleAccum,
    ) {
        let (first, last) = (self.first, self.last);
        let f = place.feeder as usize;
        acc.feeder = f;
        let i = idx.0 as usize;
        let path = &self.net.paths[i];
        let site = &self.sites[i];
        // Statistics go by the meter's primary link kind, whatever path it takes now.
        let kind = site.link;
        let (mut outcome, drawn) = self.first_attempt(i, path);
        // A rogue concentrator on the way: the meter believes it is connected and does not fall
        // back; the read is lost, or late by the rogue's delay, or (altered) refused at the
        // HES unless the meter was downgraded to no message authentication.
        let intercepted = match self.net.interception(i) {
            None | Some((_, Intercept::Forge)) => false,
            Some((_, Intercept::Drop)) => {
                outcome = Attempt::Lost;
                true
            }
            Some((_, Intercept::Alter { .. })) => {
                if self.fleet.downgraded_by[i] == 0 {
                    outcome = Attempt::Lost;
                }
                true
            }
            Some((_, Intercept::Delay(d))) => {
                if let Attempt::Delivered(us) | Attempt::Late(us) = outcome {
                    let us = us + d.as_micros();
                    outcome = if us > self.deadline_us {
                        Attempt::Late(us)
                    } else {
                        Attempt::Delivered(us)
                    };
                }
                true
            }
        };
        let mut fell_back = false;
        if !intercepted
            && !matches!(outcome, Attempt::Delivered(_))
            && path.via == Via::Mesh
            && site.fallback
            && site.tower != NONE
        {
            // The fallback continues the meter's read stream after the first attempt's draws.
            let mut stream = self.family.stream(u64::from(idx.0), u64::from(last));
            stream.skip(drawn);
            let q = site.tower_quality * self.net.rf_factor[i] * self.net.data_factor[i];
            let tower = site.tower as usize;
            let (mu, sigma) = self.cell_mu_sigma;
            outcome = self.attempt(
                site.tower,
                q * q * self.net.weather,
                self.net.read_load_us[tower] as f32,
                mu,
                sigma,
                &mut stream,
            );
            fell_back = true;
        }
        let stats = &mut acc.by_link[kind.index()];
        stats.attempts += 1;
        let mut delivered = false;
        match outcome {
            Attempt::Delivered(latency_us) | Attempt::Late(latency_us) => {
                stats.latency_us_sum += latency_us;
                stats.latency_us_max = stats.latency_us_max.max(latency_us);
                if let Attempt::Delivered(_) = outcome {
                    stats.successes += 1;
                    stats.via_fallback += u64::from(fell_back || path.via == Via::Fallback);
                    delivered = true;
                } else {
                    stats.late += 1;
                }
            }
            Attempt::Unreachable => stats.unreachable += 1,
            Attempt::BackhaulLost => stats.backhaul_lost += 1,
            Attempt::Lost => {}
        }
        // A meter without a path now counts under its home collector.
        let c = if path.collector == NONE {
            self.net.home_collector.get(i).copied().unwrap_or(NONE) as usize
        } else {
            path.collector as usize
        };
        if c < self.n_collectors && !self.net.unpowered[i] && self.cycle.up[c] {
            acc.collector_reads[c] += 1;
            acc.collector_missing[c] += u32::from(!delivered);
        }
        if delivered {
            record.missed_cycles = 0;
            ingest_delivery(acc, self.table, premise, memory, record, first, last);
        } else {
            record.missed_cycles = record.missed_cycles.saturating_add(1);
            if record.missed_cycles == self.silent_cycles {
                acc.silent.push(place.feeder);
            }
            let by = self.attack_on(i, path);
            if by > 0 {
                let k = usize::from(by - 1);
                if acc.attack_missing.len() <= k {
                    acc.attack_missing.resize(k + 1, 0);
                }
                acc.attack_missing[k] += u64::from(last + 1 - record.valued_until.max(first));
            }
            // The MDM estimates every interval of this cycle that it has no value for.
            for s in record.valued_until.max(first)..=last {
                let est = self.table.substitute_wh(premise, s);
                let i = (s - first) as usize;
                acc.reported_wh[i] += est;
                acc.feeder_reported_wh[i * self.n_feeders + f] += est;
                acc.settled_wh[i] += est as i64;
                acc.estimated[i] += 1;
                acc.missing[i] += 1;
            }
            record.valued_until = last + 1;
        }
        if !self.watched.is_empty() {
            self.log_reads(i, path, site, outcome, fell_back, delivered, acc);
        }
        if let Some(day_first) = self.day_first {
            let stats = &mut acc.by_link[kind.index()];
            stats.meter_days += 1;
            stats.meter_days_read += u64::from(record.actual_until > day_first);
        }
    }
}

/// The data-plane step of one interval, in a single parallel pass over the meters: each meter
/// consumes and records the interval, then, when a read cycle closes, is read by its collector,
/// forwarded to the HES and taken in by the MDM (validation, estimation, backfill, register
/// reconciliation). One pass instead of one per stage halves the memory traffic, which bounds
/// the step at a million meters. Feeder-head SCADA closes the interval with the true load of
/// every feeder plus its losses.
#[expect(
    clippy::too_many_arguments,
    reason = "a system's parameters are its declared data access"
)]
pub(crate) fn interval_system(
    clock: Res<TickClock>,
    config: Res<SimConfig>,
    table: Res<ProfileTable>,
    tables: Res<SamplingTables>,
    network: Res<Network>,
    mut grid: ResMut<GridState>,
    fleet: Res<crate::security::Fleet>,
    mut net: ResMut<NetState>,
    mut cycle: ResMut<CycleState>,
    mut noise: ResMut<NoiseState>,
    mut meters: Query<(
        &MeterIdx,
        &Premise,
        &GridPlace,
        &mut Meter,
        &mut LoadProfileMemory,
        &mut MdmRecord,
    )>,
    mut accum: Local<Parallel<StepAccum>>,
    mut read_draws: Local<ReadDraws>,
    mut attack_sum: Local<Vec<AttackTick>>,
    mut records: ResMut<RunRecords>,
    mut counters: ResMut<RunCounters>,
) {
    let slot = clock.slot;
    let seed = config.seed;
    let n_feeders = network.feeders.len();
    let demand = DemandStep::new(seed, &table, &tables, slot);
    demand.draw_noise(&mut noise);
    let consume = ConsumeStep {
        slot,
        interval_us: INTERVAL.as_micros() as u32,
        demand,
        noise: &noise.factor,
        peak: table.is_peak(slot),
        n_feeders,
        grid: &grid,
        network: &network,
        span_us: (
            u64::from(slot) * INTERVAL.as_micros(),
            u64::from(slot + 1) * INTERVAL.as_micros(),
        ),
    };
    let first = clock.cycle_first_slot;
    if first.is_some() {
        let close = crate::time::SimTime(u64::from(slot + 1) * INTERVAL.as_micros());
        net.begin_read_cycle(close, &mut cycle.wait_us);
        let success = network.params.backhaul.success;
        let cycle = &mut *cycle;
        cycle.up.clear();
        cycle.backhaul_us.clear();
        cycle.flood_by.clear();
        let hes = &config.hes;
        let limits = hes.connect_limits();
        for c in 0..network.collectors.len() as u64 {
            let mut stream = Stream::new(seed, Purpose::Backhaul, c, u64::from(slot));
            let mut up = success >= 1.0 || stream.bernoulli(success);
            let mut backhaul_us = tables.backhaul_us.sample(stream.next_u64()) as u64;
            // A collector outage (power, radio or backhaul) loses the whole cycle's reads.
            if net.collector_out(c as u32, (close.0 / 1_000_000) as i64) {
                up = false;
            }
            // The upload's connection to the HES, through any connection flood. The flood
            // answers for the cycle's missing reads only where it refused or delayed an upload
            // that would otherwise have gone through.
            let (tries, by) = net.connect(c as u32, limits, &mut stream);
            if up {
                // The network sensor sees the upload's connection attempts.
                let attempts = match tries {
                    None => u64::from(limits.tries.max(1)),
                    Some(refused) => u64::from(refused) + 1,
                };
                records.flows.push(crate::records::FlowRecord {
                    time: close,
                    seconds: 0,
                    src: crate::records::Endpoint::Collector(c as u32),
                    sources: 1,
                    dst: crate::records::Endpoint::HesFrontEnd,
                    port: 1883,
                    udp: false,
                    connections: attempts,
                    established: tries.is_some(),
                    bytes: 0,
                    cause: crate::model::Cause::Operation,
                });
            }
            let mut blamed = 0;
            match tries {
                None if up => {
                    up = false;
                    net.book_flood(by, 0);
                    blamed = by;
                }
                Some(refused) if refused > 0 && up => {
                    backhaul_us += u64::from(refused) * hes.connect_retry.as_micros();
                    net.book_flood(by, 1);
                    blamed = by;
                }
                _ => {}
            }
            cycle.up.push(up);
            cycle.backhaul_us.push(backhaul_us);
            cycle.flood_by.push(blamed);
        }
    }
    let read_family = StreamFamily::new(seed, Purpose::MeterRead);
    if first.is_some() {
        read_draws.draw(&net, read_family, &tables.normal, slot);
    }
    let read = first.map(|first| ReadStep {
        first,
        last: slot,
        n: (slot - first + 1) as usize,
        n_feeders,
        cycle: &cycle,
        net: &net,
        sites: &network.meters,
        deadline_us: config.read_deadline.as_micros(),
        table: &table,
        normal: &tables.normal,
        family: read_family,
        cell_mu_sigma: crate::network::cellular_round_trip(&network.params),
        silent_cycles: config.mdm.silent_cycles,
        fleet: &fleet,
        n_collectors: network.collectors.len(),
        day_first: day_ending(config.start.second_of_day / 900, first, slot),
        draws: &read_draws,
        watched: &cycle.watched,
    });
    let n_transformers = network.transformers.len();
    let init = || {
        // Every thread's sums are sized once per batch, not checked per meter.
        let mut acc = accum.borrow_local_mut();
        acc.tick.ensure_len(n_transformers);
        if let Some(read) = &read {
            acc.cycle.ensure_len(read.n, read.n_feeders, read.n_collectors);
        }
        acc
    };
    meters
        .par_iter_mut()
        // Several batches a thread, so that a thread slowed by something else (another
        // process, page faults) hands its remaining batches to the other threads.
        .batching_strategy(BatchingStrategy::new().batches_per_thread(8))
        .for_each_init(init, |acc, (idx, premise, place, mut meter, mut memory, mut record)| {
            // Nothing reads the change ticks of the meters' state, so none are written: per meter
            // and interval they would only cost memory traffic.
            let meter = meter.bypass_change_detection();
            let memory = memory.bypass_change_detection();
            consume.meter(idx, premise, place, meter, memory, &mut acc.tick);
            if let Some(read) = &read {
                read.meter(
                    idx,
                    premise,
                    place,
                    memory,
                    record.bypass_change_detection(),
                    &mut acc.cycle,
                );
            }
        });
    // Merge the thread-local accumulators; integer sums make the order irrelevant.
    let mut row = IntervalRow {
        slot,
        read_cycle: first.is_some(),
        events: clock.events,
        alerts: clock.alerts,
        commands: clock.commands,
        ..IntervalRow::default()
    };
    attack_sum.clear();
    let grid = &mut *grid;
    grid.transformer_kw.clear();
    grid.transformer_kw.resize(network.transformers.len(), 0.0);
    grid.attack_load_mwh.clear();
    for a in accum.iter_mut() {
        grid.attack_load_mwh.extend_from_slice(&a.tick.attack_load);
        for c in 0..4 {
            row.true_mwh_by_class[c] += a.tick.true_mwh_by_class[c];
        }
        let t = &a.tick;
        row.customers_connected += t.connected;
        row.critical_off += t.critical_off;
        row.dr_curtailed_mwh += t.dr_curtailed_mwh;
        for c in 0..3 {
            row.customers_off_by_cause[c] += t.off_by_cause[c];
            row.interrupted_us_by_cause[c] += t.interrupted_us_by_cause[c];
            row.not_served_mwh_by_cause[c] += t.not_served_mwh_by_cause[c];
        }
        for &(m, us) in &t.on_backup {
            *records.critical_on_backup_us.entry(m).or_insert(0) += u64::from(us);
        }
        for &(m, code, us) in &t.critical {
            let cause = Cause::from_code(code);
            records.critical_off_us.entry(m).or_insert([0; 3])[cause.index()] += u64::from(us);
            if let Some(k) = cause.attack() {
                *records.critical_off_us_by_attack.entry((k, m)).or_insert(0) += u64::from(us);
            }
        }
        if attack_sum.len() < t.attacks.len() {
            attack_sum.resize(t.attacks.len(), AttackTick::default());
        }
        for (sum, part) in attack_sum.iter_mut().zip(&t.attacks) {
            sum.merge(part);
        }
        if records.transformer_mwh.len() != network.transformers.len() {
            records
                .transformer_mwh
                .resize(network.transformers.len(), TransformerEnergy::default());
        }
        for ((sum, part), kw) in records
            .transformer_mwh
            .iter_mut()
            .zip(&t.transformers)
            .zip(grid.transformer_kw.iter_mut())
        {
            sum.true_mwh += part.true_mwh;
            sum.registered_mwh += part.registered_mwh;
            // mWh in a quarter-hour x 4 / 10^6 = mean kW.
            *kw += part.true_mwh as f64 * 4e-6;
        }
        a.tick.reset();
    }
    // The attacks' switched load per (transformer, attack), summed in integers and sorted, so
    // that the split between threads does not show.
    grid.attack_load_mwh.sort_unstable();
    grid.attack_load_mwh.dedup_by(|later, kept| {
        let same = (later.0, later.1) == (kept.0, kept.1);
        if same {
            kept.2 += later.2;
        }
        same
    });
    row.interrupted_us = row.interrupted_us_by_cause.iter().sum();
    row.true_mwh = row.true_mwh_by_class.iter().sum();
    // Feeder-head SCADA: the true load of each feeder plus its technical losses, from each
    // transformer's load of this interval.
    let mut head_kw = std::mem::take(&mut grid.feeder_kw);
    grid.losses
        .feeder_head_kw(&network, &grid.transformer_kw, &grid.off_share, &mut head_kw);
    let mut scada_kw_sum = 0.0f64;
    for &kw in &head_kw {
        records.scada_kw.push(kw as f32);
        scada_kw_sum += kw;
    }
    grid.feeder_kw = head_kw;
    // kW over a quarter-hour is kWh / 4; in mWh.
    row.scada_mwh = (scada_kw_sum * 0.25 * 1e6).round() as u64;
    records.intervals.push(row);
    let len = records.feeder_reported_wh.len() + n_feeders;
    records.feeder_reported_wh.resize(len, 0);
    let Some(first) = first else {
        push_attack_ticks(&mut records, slot, &attack_sum);
        return;
    };
    let n = (slot - first + 1) as usize;
    let base = first as usize;
    let n_collectors = network.collectors.len();
    let at = records.collector_reads.len();
    records.collector_reads.resize(at + n_collectors, 0);
    records.collector_missing.resize(at + n_collectors, 0);
    cycle.reads.clear();
    for a in accum.iter_mut() {
        let a = &mut a.cycle;
        cycle.reads.extend_from_slice(&a.reads);
        if a.collector_reads.len() == n_collectors {
            for (t, v) in records.collector_reads[at..].iter_mut().zip(&a.collector_reads) {
                *t += *v;
            }
            for (t, v) in records.collector_missing[at..].iter_mut().zip(&a.collector_missing) {
                *t += *v;
            }
        }
        if a.reported_wh.len() == n {
            let nf = n_feeders;
            let target = &mut records.feeder_reported_wh[base * nf..(base + n) * nf];
            for (t, v) in target.iter_mut().zip(&a.feeder_reported_wh) {
                *t += *v;
            }
            for i in 0..n {
                let row = &mut records.intervals[base + i];
                row.reported_wh += a.reported_wh[i];
                row.settled_wh += a.settled_wh[i];
                row.reads_on_time += a.on_time[i];
                row.zero_reads += a.zero[i];
                row.reads_missing += a.missing[i];
                row.intervals_estimated += a.estimated[i];
            }
        }
        for &(earlier, delta) in &a.backfill {
            records.intervals[earlier as usize].settled_wh += delta;
        }
        let row = &mut records.intervals[slot as usize];
        row.intervals_backfilled += a.backfilled;
        row.validation_flags += a.validation_flags;
        row.meters_gone_silent += a.silent.len() as u64;
        records.silent_feeders.extend_from_slice(&a.silent);
        if attack_sum.len() < a.attack_missing.len() {
            attack_sum.resize(a.attack_missing.len(), AttackTick::default());
        }
        for (sum, &missing) in attack_sum.iter_mut().zip(&a.attack_missing) {
            sum.reads_missing += missing;
        }
        counters.intervals_unrecoverable += a.unrecoverable;
        counters.estimation_abs_error_wh += a.estimation_abs_error_wh;
        counters.estimation_actual_wh += a.estimation_actual_wh;
        for k in LinkKind::ALL {
            counters.by_link[k.index()].merge(&a.by_link[k.index()]);
        }
        a.reset();
    }
    // By meter, first attempts before fallbacks: the split between threads does not show.
    cycle.reads.sort_unstable_by_key(|r| (r.meter, r.fallback));
    push_attack_ticks(&mut records, slot, &attack_sum);
}

/// The first slot of the civil day that ends within the read cycle `first..=last` (slots since
/// the run's start, which falls `start_slot_of_day` quarter-hours after a midnight), if one
/// does; 0 for a day that began before the run.
fn day_ending(start_slot_of_day: u32, first: u32, last: u32) -> Option<u32> {
    let per_day = SLOTS_PER_DAY as u32;
    // Slot `s` is a day's last when `start_slot_of_day + s + 1` is a multiple of a day.
    let end_after_last = (start_slot_of_day + last + 1) / per_day * per_day;
    let day_end = end_after_last.checked_sub(start_slot_of_day + 1)?;
    (day_end >= first).then(|| (day_end + 1).saturating_sub(per_day))
}

/// Keeps what each attack did in interval `slot`, where it did anything.
fn push_attack_ticks(records: &mut RunRecords, slot: u32, sums: &[AttackTick]) {
    for (k, tick) in sums.iter().enumerate() {
        if !tick.is_empty() {
            records.attack_ticks.push((slot, k as u8, *tick));
        }
    }
}

/// The MDM takes in one meter's delivery: the intervals still in its memory and its register.
fn ingest_delivery(
    acc: &mut CycleAccum,
    table: &ProfileTable,
    premise: &Premise,
    memory: &LoadProfileMemory,
    record: &mut MdmRecord,
    first: u32,
    last: u32,
) {
    let recorded_until = memory.recorded_until;
    let oldest_in_memory = recorded_until.saturating_sub(LOAD_PROFILE_DEPTH as u32);
    let recoverable_from = record.actual_until.max(oldest_in_memory);
    // Validation: the register must not run backwards, and the intervals must add up to it.
    let register_delta = memory.register_reading_wh as i64 - record.register_at_actual_wh as i64;
    let mut in_memory_sum: i64 = 0;
    for s in recoverable_from..recorded_until {
        in_memory_sum += i64::from(memory.wh[s as usize % LOAD_PROFILE_DEPTH]);
    }
    let lost = recoverable_from - record.actual_until;
    if register_delta < 0 || (lost == 0 && in_memory_sum != register_delta) || in_memory_sum > register_delta {
        acc.validation_flags += 1;
    }
    // Intervals the meter no longer remembers: scale their estimates so that, with what it
    // remembers, they add up to the register's advance.
    if lost > 0 {
        acc.unrecoverable += u64::from(lost);
        let gap_wh = (register_delta - in_memory_sum).max(0);
        let lost_slots = record.actual_until..recoverable_from;
        let est_total: i64 = lost_slots.clone().map(|s| table.substitute_wh(premise, s) as i64).sum();
        let mut assigned: i64 = 0;
        for s in lost_slots {
            let est = table.substitute_wh(premise, s) as i64;
            let share = if s + 1 == recoverable_from {
                gap_wh - assigned
            } else if est_total > 0 {
                gap_wh * est / est_total
            } else {
                gap_wh / i64::from(lost)
            };
            assigned += share;
            bill(table, record, s, share.max(0) as u64);
            settle(acc, s, first, share - est);
        }
    }
    for s in recoverable_from..=last {
        let mut actual = u64::from(memory.wh[s as usize % LOAD_PROFILE_DEPTH]);
        // The substitute value, needed only to judge a possible spike or to replace an
        // estimate (most reads need neither).
        let est = || table.substitute_wh(premise, s);
        let spike = actual > SPIKE_FLOOR_WH && actual > SPIKE_FACTOR * est().max(1);
        if spike {
            // VEE: a spike fails validation and the substitute value replaces it.
            acc.validation_flags += 1;
            actual = est();
        }
        bill(table, record, s, actual);
        if s >= first {
            let i = (s - first) as usize;
            if s >= record.valued_until {
                acc.on_time[i] += 1;
                acc.zero[i] += u64::from(actual == 0);
                acc.estimated[i] += u64::from(spike);
                acc.reported_wh[i] += actual;
                acc.feeder_reported_wh[i * acc.n_feeders + acc.feeder] += actual;
                acc.settled_wh[i] += actual as i64;
            } else {
                // Estimated earlier in this same cycle (cannot happen with one attempt per
                // cycle, kept for safety): replace the estimate.
                acc.settled_wh[i] += actual as i64 - est() as i64;
            }
        } else {
            // Backfill of an interval estimated in an earlier cycle.
            let est = est();
            acc.backfilled += 1;
            acc.estimation_abs_error_wh += actual.abs_diff(est);
            acc.estimation_actual_wh += actual;
            acc.backfill.push((s, actual as i64 - est as i64));
        }
    }
    record.actual_until = last + 1;
    record.valued_until = last + 1;
    record.register_at_actual_wh = memory.register_reading_wh;
}

/// The meter's load-profile memory records interval `slot` from its register.
#[inline]
fn record_interval(memory: &mut LoadProfileMemory, meter: &Meter, slot: u32, peak: bool) {
    let reading = meter.register_wh as u64;
    let interval_wh = reading.saturating_sub(memory.register_reading_wh);
    memory.rate_wh[usize::from(!peak)] += interval_wh;
    memory.wh[slot as usize % LOAD_PROFILE_DEPTH] = interval_wh.min(u64::from(u32::MAX)) as u32;
    memory.register_reading_wh = reading;
    memory.recorded_until = slot + 1;
}

/// Adds one interval's validated energy to the meter's billing determinants under its tariff.
#[inline]
fn bill(table: &ProfileTable, record: &mut MdmRecord, slot: u32, wh: u64) {
    if record.tariff == 1 && table.is_peak(slot) {
        record.peak_wh += wh;
    } else {
        record.offpeak_wh += wh;
    }
    record.max_interval_wh = record.max_interval_wh.max(wh.min(u64::from(u32::MAX)) as u32);
}

fn settle(acc: &mut CycleAccum, slot: u32, first: u32, delta: i64) {
    if slot >= first {
        acc.settled_wh[(slot - first) as usize] += delta;
    } else {
        acc.backfill.push((slot, delta));
    }
}

#[cfg(test)]
#[path = "dataplane_tests.rs"]
mod tests;
