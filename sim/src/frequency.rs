//! The aggregate frequency of the bulk power system the simulated area belongs to.
//!
//! One machine stands for every generator of the interconnection (the classic single-area
//! model): the swing equation with inertia `H`, load damping `D`, a first-order governor with
//! droop `R` and time constant `T_g`, and automatic generation control (AGC) that slowly
//! integrates the frequency error away. All quantities are per unit of the system's load
//! `system_mw` and of nominal frequency:
//!
//! ```text
//!   2H · dΔf/dt  = ΔPm + ΔPagc − ΔPload − D·Δf
//!   T_g · dΔPm/dt = −Δf / R − ΔPm
//!   dΔPagc/dt     = −Δf / (R · T_agc)
//! ```
//!
//! A sudden load increase ΔP first makes frequency fall at `ΔP / 2H` per second; the governors
//! arrest the fall at the nadir, frequency settles at `−ΔP / (D + 1/R)` and AGC then brings it
//! back to nominal over minutes. The model is linear, so without load shedding the deviation is
//! exactly proportional to the swing.
//!
//! Under-frequency load-shedding (UFLS) relays disconnect a share of the system's load in
//! stages, each when frequency falls below its threshold, after the relay's operating delay.
//! In the simulated area a stage opens the feeders assigned to it (a fixed, documented
//! assignment), and operators restore them after a fixed delay, stage after stage and in small
//! blocks.
//!
//! Only sudden, synchronised changes are swings here: relays operating, feeders tripping and
//! coming back, load switched at once, demand-response signals starting and ending. The slow
//! drift of load through the day is what dispatch and AGC follow, and is not modelled as a
//! disturbance. Steps are gathered over one second and the model advances in steps of
//! [`DT_S`] seconds.

use crate::field::FieldError;
use serde::Serialize;

use crate::time::{SimDuration, SimTime};

/// Integration step, seconds.
pub const DT_S: f64 = 0.02;
/// How often the model advances while the system is disturbed, µs (and how load steps are
/// gathered).
pub const TICK_US: u64 = 1_000_000;

/// Largest share of the system's load operators restore at once after UFLS.
pub const RESTORE_BLOCK_SHARE: f64 = 0.02;
/// Time between restored blocks.
pub const RESTORE_BLOCK_GAP: SimDuration = SimDuration::from_secs(60);

/// One under-frequency load-shedding stage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct UflsStage {
    /// The stage trips when frequency falls below this, Hz.
    pub below_hz: f64,
    /// Share of the system's load it disconnects, 0 to 1.
    pub shed_share: f64,
}

/// Parameters of the bulk system.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrequencyConfig {
    /// Nominal frequency, Hz (50 or 60).
    pub nominal_hz: f64,
    /// Load of the interconnection whose frequency the simulated area shares, MW; `None` sizes
    /// it from `area_share`.
    pub system_mw: Option<f64>,
    /// Without `system_mw`: the simulated area's share of the system's load, above 0 and at
    /// most 1; the system's load is the area's highest expected load over the run divided by
    /// it. Scales with the area, so a scaled-down run keeps the same swings in per unit.
    pub area_share: f64,
    /// Inertia constant `H` of the system, seconds (stored kinetic energy over rated power).
    pub inertia_s: f64,
    /// Governor droop `R`, per unit (0.05: a 5% frequency drop calls for full output).
    pub droop: f64,
    /// Load damping `D`: per-unit change of load per per-unit change of frequency.
    pub damping: f64,
    /// Governor and turbine time constant `T_g`, seconds.
    pub governor_s: f64,
    /// AGC time constant, seconds.
    pub agc_s: f64,
    /// UFLS stages, thresholds falling.
    pub ufls: Vec<UflsStage>,
    /// Operating time of a UFLS relay once frequency is below its threshold.
    pub ufls_delay: SimDuration,
    /// How long after a stage trips operators restore its feeders (the first stage's; see
    /// `ufls_restore_spacing`).
    pub ufls_restore: SimDuration,
    /// Time between the restorations of successive stages: stage `s` starts coming back
    /// `ufls_restore + s × ufls_restore_spacing` after it tripped, in blocks of at most
    /// [`RESTORE_BLOCK_SHARE`] of the system's load, [`RESTORE_BLOCK_GAP`] apart, so that
    /// restoring never trips a stage again.
    pub ufls_restore_spacing: SimDuration,
}

impl FrequencyConfig {
    /// Typical values of a large 50 Hz interconnection (assumptions): H 5 s, droop 5%, load
    /// damping 1, governors 8 s, AGC 5 minutes; UFLS in five stages of 10% of load from 49.0 Hz
    /// down to 48.2 Hz in 0.2 Hz steps, 200 ms relays (close to ENTSO-E's plan); the first
    /// stage's feeders restored 30 minutes after they tripped, each further stage 5 minutes
    /// later.
    pub fn typical() -> FrequencyConfig {
        FrequencyConfig {
            nominal_hz: 50.0,
            system_mw: None,
            area_share: 0.1,
            inertia_s: 5.0,
            droop: 0.05,
            damping: 1.0,
            governor_s: 8.0,
            agc_s: 300.0,
            ufls: FrequencyConfig::typical_ufls(50.0),
            ufls_delay: SimDuration::from_millis(200),
            ufls_restore: SimDuration::from_minutes(30),
            ufls_restore_spacing: SimDuration::from_minutes(5),
        }
    }

    /// Five UFLS stages of 10% of load for a `nominal_hz` system: from 49.0 Hz down in 0.2 Hz
    /// steps at 50 Hz, from 59.3 Hz down in 0.3 Hz steps at 60 Hz (close to North American
    /// practice).
    pub fn typical_ufls(nominal_hz: f64) -> Vec<UflsStage> {
        let (first, step) = if nominal_hz == 60.0 { (59.3, 0.3) } else { (49.0, 0.2) };
        (0..5)
            .map(|i| UflsStage {
                below_hz: first - step * f64::from(i),
                shed_share: 0.1,
            })
            .collect()
    }

    /// Checks every value; field paths are relative to the frequency section.
    pub fn check(&self) -> Result<(), FieldError> {
        let positive = |field: &str, v: f64, max: f64| {
            if v.is_finite() && v > 0.0 && v <= max {
                Ok(())
            } else {
                Err(FieldError::new(
                    field.to_owned(),
                    format!("must be above 0 and at most {max}, not {v}"),
                ))
            }
        };
        if !(self.nominal_hz == 50.0 || self.nominal_hz == 60.0) {
            return Err(FieldError::new(
                "nominal_hz",
                format!("must be 50 or 60, not {}", self.nominal_hz),
            ));
        }
        if let Some(mw) = self.system_mw {
            positive("system_mw", mw, 1e7)?;
        }
        positive("area_share", self.area_share, 1.0)?;
        let at_least = |field: &str, v: f64, min: f64| {
            if v >= min {
                Ok(())
            } else {
                Err(FieldError::new(
                    field.to_owned(),
                    format!("must be at least {min}, not {v}"),
                ))
            }
        };
        positive("inertia_s", self.inertia_s, 30.0)?;
        at_least("inertia_s", self.inertia_s, 0.5)?;
        positive("droop", self.droop, 0.5)?;
        at_least("droop", self.droop, 0.01)?;
        if !(self.damping.is_finite() && (0.0..=10.0).contains(&self.damping)) {
            return Err(FieldError::new(
                "damping",
                format!("must be between 0 and 10, not {}", self.damping),
            ));
        }
        positive("governor_s", self.governor_s, 60.0)?;
        at_least("governor_s", self.governor_s, 0.2)?;
        positive("agc_s", self.agc_s, 3600.0)?;
        at_least("agc_s", self.agc_s, 10.0)?;
        if self.ufls.len() > 32 {
            return Err(FieldError::new(
                "ufls",
                format!("at most 32 stages, not {}", self.ufls.len()),
            ));
        }
        let mut total = 0.0;
        let mut last = f64::INFINITY;
        for (i, s) in self.ufls.iter().enumerate() {
            let field = |f: &str| format!("ufls[{i}].{f}");
            if !(s.below_hz.is_finite() && s.below_hz < self.nominal_hz && s.below_hz > self.nominal_hz - 3.0) {
                return Err(FieldError::new(
                    field("below_hz"),
                    format!(
                        "must lie below {} Hz and above {} Hz (within 3 Hz of nominal), not {}",
                        self.nominal_hz,
                        self.nominal_hz - 3.0,
                        s.below_hz
                    ),
                ));
            }
            if s.below_hz >= last {
                return Err(FieldError::new(
                    field("below_hz"),
                    "stages must be listed with falling thresholds",
                ));
            }
            last = s.below_hz;
            if !(s.shed_share.is_finite() && s.shed_share > 0.0 && s.shed_share <= 1.0) {
                return Err(FieldError::new(
                    field("shed_share"),
                    format!("must be above 0 and at most 1, not {}", s.shed_share),
                ));
            }
            total += s.shed_share;
        }
        if total > 1.0 + 1e-9 {
            return Err(FieldError::new(
                "ufls",
                format!("the stages shed {total} of the load in all; at most 1"),
            ));
        }
        if self.ufls_delay > SimDuration::from_secs(60) {
            return Err(FieldError::new("ufls_delay", "at most 60s"));
        }
        if self.ufls_restore > SimDuration::from_days(1) || self.ufls_restore < SimDuration::from_secs(60) {
            return Err(FieldError::new("ufls_restore", "must be between 1m and 1d"));
        }
        if self.ufls_restore_spacing > SimDuration::from_hours(1) {
            return Err(FieldError::new("ufls_restore_spacing", "at most 1h"));
        }
        Ok(())
    }

    /// The UFLS stage feeder `feeder` belongs to, if any: feeders are assigned by a fixed
    /// low-discrepancy sequence (the golden ratio), so that each stage holds close to its share
    /// of the feeders, spread over every substation, and the feeders beyond the stages' total
    /// share carry no UFLS relay.
    pub fn stage_of(&self, feeder: u32) -> Option<usize> {
        let h = (f64::from(feeder) * 0.618_033_988_749_895 + 0.5).fract();
        let mut cum = 0.0;
        for (s, stage) in self.ufls.iter().enumerate() {
            cum += stage.shed_share;
            if h < cum {
                return Some(s);
            }
        }
        None
    }
}

/// A disturbance from its first load step until frequency has settled back at nominal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrequencyEvent {
    /// When its first load step happened.
    pub start: SimTime,
    /// When frequency had settled again (`None` while it has not).
    pub end: Option<SimTime>,
    /// The cause with the largest share of its load steps, as a [`crate::model::Cause::code`].
    pub cause: u8,
    /// The largest net load step gathered within one second, by magnitude, MW (positive: more
    /// load, negative: less).
    pub largest_step_mw: f64,
    /// Lowest frequency, Hz.
    pub nadir_hz: f64,
    /// Highest frequency, Hz.
    pub peak_hz: f64,
    /// Largest rate of change of frequency, Hz/s (absolute).
    pub rocof_hz_s: f64,
    /// Load disconnected by UFLS relays across the system, MW.
    pub shed_mw: f64,
    /// UFLS stages that tripped.
    pub stages: Vec<u8>,
}

/// The model's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Frequency {
    config: FrequencyConfig,
    /// The system's load, MW.
    pub system_mw: f64,
    /// When the state was last advanced.
    t: SimTime,
    df: f64,
    pm: f64,
    agc: f64,
    /// Load change not yet balanced, per unit.
    load: f64,
    /// Load steps gathered for the next tick: per cause code, MW.
    pending: Vec<(u8, f64)>,
    /// Per stage: whether it has tripped (until its feeders are restored).
    tripped: Vec<bool>,
    /// Per stage: when frequency first went below its threshold in the current excursion.
    below_since: Vec<Option<SimTime>>,
    /// The disturbance in progress: its index in `events`, and per cause code the absolute MW
    /// of its steps.
    current: Option<(usize, Vec<(u8, f64)>)>,
    /// Every disturbance so far.
    pub events: Vec<FrequencyEvent>,
    /// Lowest and highest frequency per interval since the last [`Frequency::take_interval`].
    interval_range: (f64, f64),
}

/// What one tick asks of the engine: UFLS stages that tripped, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Trip {
    /// The stage.
    pub stage: usize,
    /// When its relays operated.
    pub at: SimTime,
    /// The cause of the disturbance, as a cause code.
    pub cause: u8,
}

impl Frequency {
    /// A system at nominal frequency with `system_mw` of load.
    pub fn new(config: FrequencyConfig, system_mw: f64) -> Frequency {
        let n = config.ufls.len();
        let f0 = config.nominal_hz;
        Frequency {
            config,
            system_mw,
            t: SimTime::ZERO,
            df: 0.0,
            pm: 0.0,
            agc: 0.0,
            load: 0.0,
            pending: Vec::new(),
            tripped: vec![false; n],
            below_since: vec![None; n],
            current: None,
            events: Vec::new(),
            interval_range: (f0, f0),
        }
    }

    /// The parameters.
    pub fn config(&self) -> &FrequencyConfig {
        &self.config
    }

    /// Frequency now (as of the last tick), Hz.
    pub fn hz(&self) -> f64 {
        self.config.nominal_hz * (1.0 + self.df)
    }

    /// Gathers a load step of `kw` (positive: more load) by `cause` for the next tick. Returns
    /// whether the model was at rest, so that the engine must schedule a tick.
    pub fn step(&mut self, kw: f64, cause: u8) -> bool {
        if kw == 0.0 || !kw.is_finite() {
            return false;
        }
        let idle = self.pending.is_empty() && self.current.is_none();
        match self.pending.iter_mut().find(|p| p.0 == cause) {
            Some(p) => p.1 += kw / 1000.0,
            None => self.pending.push((cause, kw / 1000.0)),
        }
        idle
    }

    /// Whether a tick is due (steps pending, or a disturbance in progress).
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || self.current.is_some()
    }

    /// Restores `part` of a stage's share of load (operators bring its feeders back block by
    /// block): the load returns as a step by `cause`; the stage is armed again with the `last`
    /// block. Returns whether the engine must schedule a tick.
    pub fn restore(&mut self, stage: usize, part: f64, last: bool, cause: u8) -> bool {
        let Some(s) = self.config.ufls.get(stage) else {
            return false;
        };
        if !self.tripped[stage] {
            return false;
        }
        if last {
            self.tripped[stage] = false;
            self.below_since[stage] = None;
        }
        let kw = s.shed_share * part * self.system_mw * 1000.0;
        self.step(kw, cause)
    }

    /// The integration step, seconds: [`DT_S`], or less where the parameters make the system
    /// fast (a tenth of its fastest time constant, and within the damping limit of its
    /// oscillation), so that explicit integration stays stable.
    fn dt_s(&self) -> f64 {
        let c = &self.config;
        let (h, r, d, tg) = (c.inertia_s, c.droop, c.damping, c.governor_s);
        let wn = ((d + 1.0 / r) / (2.0 * h * tg)).sqrt();
        let zeta = (2.0 * h + d * tg) / (2.0 * (2.0 * h * tg * (d + 1.0 / r)).sqrt());
        let fastest = tg.min(2.0 * h / d.max(1.0));
        DT_S.min(zeta / wn).min(0.1 * fastest).max(1e-4)
    }

    /// Advances the model from the last tick to `now`, with the steps gathered since applied at
    /// `now`, and integrates on to the next tick. Returns the UFLS trips (their times lie within
    /// the coming second) and whether another tick is needed.
    pub fn tick(&mut self, now: SimTime) -> (Vec<Trip>, bool) {
        let f0 = self.config.nominal_hz;
        // Apply the gathered steps.
        let pending = std::mem::take(&mut self.pending);
        let net_mw: f64 = pending.iter().map(|p| p.1).sum();
        if !pending.is_empty() {
            let event = match &mut self.current {
                Some((i, _)) => *i,
                None => {
                    self.events.push(FrequencyEvent {
                        start: SimTime(now.0.saturating_sub(TICK_US)),
                        end: None,
                        cause: 0,
                        largest_step_mw: 0.0,
                        nadir_hz: self.hz(),
                        peak_hz: self.hz(),
                        rocof_hz_s: 0.0,
                        shed_mw: 0.0,
                        stages: Vec::new(),
                    });
                    self.current = Some((self.events.len() - 1, Vec::new()));
                    self.events.len() - 1
                }
            };
            let e = &mut self.events[event];
            if net_mw.abs() > e.largest_step_mw.abs() {
                e.largest_step_mw = net_mw;
            }
            let shares = &mut self.current.as_mut().expect("just set").1;
            for (c, mw) in &pending {
                match shares.iter_mut().find(|s| s.0 == *c) {
                    Some(s) => s.1 += mw.abs(),
                    None => shares.push((*c, mw.abs())),
                }
            }
            let best = shares
                .iter()
                .fold((0u8, -1.0f64), |b, s| if s.1 > b.1 { (s.0, s.1) } else { b });
            self.events[event].cause = best.0;
            self.load += net_mw / self.system_mw;
        }
        let Some((event, _)) = self.current else {
            self.t = now;
            return (Vec::new(), false);
        };
        let cause = self.events[event].cause;
        let c = &self.config;
        let (h, r, d, tg, tagc) = (c.inertia_s, c.droop, c.damping, c.governor_s, c.agc_s);
        let steps = (TICK_US as f64 / 1e6 / self.dt_s()).ceil() as u64;
        let dt_us = TICK_US / steps;
        let dt = dt_us as f64 / 1e6;
        let mut trips = Vec::new();
        let mut t = now;
        for _ in 0..steps {
            let rocof = (self.pm + self.agc - self.load - d * self.df) / (2.0 * h);
            let dpm = (-self.df / r - self.pm) / tg;
            let dagc = -self.df / (r * tagc);
            self.df += rocof * dt;
            self.pm += dpm * dt;
            self.agc += dagc * dt;
            t = SimTime(t.0 + dt_us);
            let hz = f0 * (1.0 + self.df);
            let e = &mut self.events[event];
            e.nadir_hz = e.nadir_hz.min(hz);
            e.peak_hz = e.peak_hz.max(hz);
            e.rocof_hz_s = e.rocof_hz_s.max((rocof * f0).abs());
            self.interval_range.0 = self.interval_range.0.min(hz);
            self.interval_range.1 = self.interval_range.1.max(hz);
            for (s, stage) in self.config.ufls.iter().enumerate() {
                if self.tripped[s] {
                    continue;
                }
                if hz < stage.below_hz {
                    let since = *self.below_since[s].get_or_insert(t);
                    if t.0 >= since.0 + self.config.ufls_delay.as_micros() {
                        self.tripped[s] = true;
                        self.load -= stage.shed_share;
                        let e = &mut self.events[event];
                        e.shed_mw += stage.shed_share * self.system_mw;
                        e.stages.push(s as u8);
                        trips.push(Trip { stage: s, at: t, cause });
                    }
                } else {
                    self.below_since[s] = None;
                }
            }
        }
        self.t = t;
        // Settled: frequency within 1 mHz and the governors back at their set points; AGC has
        // taken the imbalance over, which becomes the new schedule.
        let settled = (self.df * f0).abs() < 1e-3 && self.pm.abs() < 1e-4 && (self.agc - self.load).abs() < 1e-4;
        if settled && self.pending.is_empty() {
            self.events[event].end = Some(t);
            self.current = None;
            // AGC has rescheduled generation for what is left: the new balance.
            self.load = 0.0;
            self.agc = 0.0;
            self.pm = 0.0;
            self.df = 0.0;
        }
        (trips, self.current.is_some())
    }

    /// The lowest and highest frequency since the last call, Hz; starts the next range at the
    /// present frequency.
    pub fn take_interval(&mut self) -> (f64, f64) {
        let hz = self.hz();
        std::mem::replace(&mut self.interval_range, (hz, hz))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of `mw` into a system of 10 GW, ticked until it settles; the event.
    fn swing(config: &FrequencyConfig, mw: f64) -> (FrequencyEvent, Vec<Trip>) {
        let mut f = Frequency::new(config.clone(), 10_000.0);
        assert!(f.step(mw * 1000.0, 2));
        let mut all = Vec::new();
        let mut t = SimTime(TICK_US);
        for _ in 0..7200 {
            let (trips, again) = f.tick(t);
            all.extend(trips);
            if !again {
                break;
            }
            t = SimTime(t.0 + TICK_US);
        }
        assert!(!f.busy(), "settles within two hours");
        (f.events[0].clone(), all)
    }

    #[test]
    fn deviation_is_proportional_to_the_swing_and_shaped_by_inertia_and_droop() {
        let c = FrequencyConfig::typical();
        let (small, _) = swing(&c, 100.0);
        let (double, _) = swing(&c, 200.0);
        let dev = |e: &FrequencyEvent| 50.0 - e.nadir_hz;
        assert!(dev(&small) > 0.01, "a 1% swing is felt: {}", small.nadir_hz);
        assert!((dev(&double) / dev(&small) - 2.0).abs() < 1e-6, "linear without UFLS");
        // Initial RoCoF is ΔP / 2H: 0.01 pu / 10 s = 0.001 pu/s = 0.05 Hz/s.
        assert!((small.rocof_hz_s - 0.05).abs() < 0.002, "rocof {}", small.rocof_hz_s);
        // More inertia: a shallower nadir; more droop (weaker governors): a deeper one.
        let heavy = FrequencyConfig {
            inertia_s: 10.0,
            ..c.clone()
        };
        assert!(dev(&swing(&heavy, 100.0).0) < dev(&small));
        let soft = FrequencyConfig {
            droop: 0.1,
            ..c.clone()
        };
        assert!(dev(&swing(&soft, 100.0).0) > dev(&small));
        // A load drop mirrors it upwards.
        let (drop, _) = swing(&c, -100.0);
        assert!((drop.peak_hz - 50.0 - dev(&small)).abs() < 1e-9);
        assert!(small.end.is_some() && small.shed_mw == 0.0 && small.stages.is_empty());
    }

    #[test]
    fn ufls_sheds_past_its_threshold_and_a_small_swing_does_not() {
        let c = FrequencyConfig::typical();
        let (small, trips) = swing(&c, 300.0);
        assert!(small.nadir_hz > 49.0 && trips.is_empty());
        let (large, trips) = swing(&c, 2_000.0);
        assert!(!trips.is_empty(), "a 20% swing trips UFLS (nadir {})", large.nadir_hz);
        assert_eq!(trips[0].stage, 0);
        assert!(large.shed_mw >= 1_000.0 && large.nadir_hz < 49.0);
        // Shedding arrests the fall: the nadir stays above the unshed linear estimate.
        let unshed = FrequencyConfig {
            ufls: Vec::new(),
            ..c.clone()
        };
        assert!(swing(&unshed, 2_000.0).0.nadir_hz < large.nadir_hz);
        assert!(trips.iter().all(|t| t.cause == 2));
    }

    /// After a deep swing trips several stages, restoring them stage after stage in blocks
    /// (as the engine does) never trips a stage again.
    #[test]
    fn restoring_in_blocks_does_not_trip_again() {
        let c = FrequencyConfig::typical();
        let mut f = Frequency::new(c.clone(), 10_000.0);
        f.step(3_500_000.0, 2);
        let mut tripped = Vec::new();
        let mut restores = Vec::new();
        let mut t = 1u64;
        while t < 4 * 3600 {
            // Restores due at this second: stage s from 1800 + 300 s, block b 60 s apart.
            for &(stage, at) in &tripped {
                for b in 0..5u64 {
                    if t == at + 1800 + 300 * stage as u64 + 60 * b {
                        f.restore(stage, 0.2, b == 4, 2);
                        restores.push(t);
                    }
                }
            }
            let (trips, _) = f.tick(SimTime(t * TICK_US));
            for trip in trips {
                assert!(restores.is_empty(), "a stage tripped again during restoration at {t} s");
                tripped.push((trip.stage, t));
            }
            t += 1;
        }
        assert!(tripped.len() >= 3, "{tripped:?}");
        assert_eq!(restores.len(), 5 * tripped.len());
        assert!(!f.busy(), "settled after restoration");
    }

    #[test]
    fn stages_hold_their_share_of_feeders() {
        let c = FrequencyConfig::typical();
        let mut n = [0usize; 6];
        for f in 0..10_000 {
            n[c.stage_of(f).unwrap_or(5)] += 1;
        }
        for &k in &n {
            assert!(
                (k as f64 / 10_000.0 - if k == n[5] { 0.5 } else { 0.1 }).abs() < 0.01,
                "{n:?}"
            );
        }
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let mut c = FrequencyConfig::typical();
        c.ufls[2].below_hz = 48.9;
        assert_eq!(c.check().expect_err("out of range").field, "ufls[2].below_hz");
        let c = FrequencyConfig {
            droop: 0.0,
            ..FrequencyConfig::typical()
        };
        assert_eq!(c.check().expect_err("out of range").field, "droop");
        assert!(FrequencyConfig::typical().check().is_ok());
    }
}
