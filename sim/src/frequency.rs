//! The aggregate frequency of the bulk power system the simulated area belongs to.
//!
//! One machine stands for every generator of the interconnection (the classic single-area
//! model): the swing equation with inertia `H`, load self-regulation `D`, frequency containment
//! reserve (FCR) as a first-order governor with droop `R` and time constant `T_g` that saturates
//! at the reserve held, limited frequency-sensitive mode for over-frequency (LFSM-O: generation
//! that reduces its output above a threshold), and automatic generation control (AGC, the
//! automatic frequency restoration reserve) that slowly integrates the frequency error away.
//! All quantities are per unit of the system's load `system_mw` and of nominal frequency:
//!
//! ```text
//!   2H · dΔf/dt    = ΔPm + ΔPo + ΔPagc − ΔPload − D·Δf
//!   T_g · dΔPm/dt  = clamp(−Δf / R, ±FCR) − ΔPm
//!   T_o · dΔPo/dt  = −s_o · max(0, Δf − Δf_o) / R_o − ΔPo
//!   dΔPagc/dt      = −Δf · (D + 1/R) / T_agc
//! ```
//!
//! A sudden load increase ΔP first makes frequency fall at `ΔP / 2H` per second; the FCR
//! arrests the fall at the nadir, frequency settles at `−ΔP / (D + 1/R)` while the FCR is not
//! exhausted, and AGC then brings it back to nominal over minutes. Below the LFSM-O threshold
//! and within the FCR, the model is linear, so without load shedding the deviation is exactly
//! proportional to the swing.
//!
//! The defaults describe a named interconnection ([`Interconnection`]): Continental Europe
//! unless the scenario picks Great Britain or an ERCOT-like system; each value's source is in
//! the comments of [`FrequencyConfig::continental_europe`] and its siblings, and in
//! docs/parameters.md.
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

/// Largest share of the system's load operators restore at once after UFLS (assumption: a
/// quarter of the FCR of Continental Europe, so that a block never calls for more than the
/// reserve).
pub const RESTORE_BLOCK_SHARE: f64 = 0.005;
/// Time between restored blocks (assumption: long enough for AGC to take most of the last
/// block over, so that blocks do not pile up on the FCR).
pub const RESTORE_BLOCK_GAP: SimDuration = SimDuration::from_secs(120);

/// One under-frequency load-shedding stage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct UflsStage {
    /// The stage trips when frequency falls below this, Hz.
    pub below_hz: f64,
    /// Share of the system's load it disconnects, 0 to 1.
    pub shed_share: f64,
}

/// The interconnection whose frequency the simulated area shares: it picks every default of
/// [`FrequencyConfig`] at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub enum Interconnection {
    /// The synchronous area of Continental Europe (50 Hz): 3,000 MW reference incident, FCR
    /// fully activated at ±200 mHz within 30 s.
    ContinentalEurope,
    /// Great Britain (50 Hz): a small, low-inertia system whose response is fully activated at
    /// ±500 mHz within 10 s.
    GreatBritain,
    /// An ERCOT-like system (60 Hz): Texas's interconnection, with the NERC resource
    /// contingency criterion of 2,750 MW.
    Ercot,
}

/// Parameters of the bulk system. Every dynamic parameter is per unit of the system's load
/// (`system_mw`), so a system sized differently (with `system_mw` or `area_share`) keeps the
/// same stiffness in per unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrequencyConfig {
    /// The interconnection the defaults describe.
    pub interconnection: Interconnection,
    /// Nominal frequency, Hz (50 or 60).
    pub nominal_hz: f64,
    /// Load of the interconnection whose frequency the simulated area shares, MW; the area's
    /// share of it follows from the area's own load. `None` when `area_share` sizes it.
    pub system_mw: Option<f64>,
    /// Instead of `system_mw`: the simulated area's share of the system's load, above 0 and at
    /// most 1; the system's load is the area's highest expected load over the run divided by
    /// it (for an island grid, or a run that wants the swings of a larger share). Scales with
    /// the area, so a scaled-down run keeps the same swings in per unit.
    pub area_share: Option<f64>,
    /// Inertia constant `H` of the system on its load, seconds (stored kinetic energy of the
    /// synchronised machines over `system_mw`).
    pub inertia_s: f64,
    /// Droop `R` of the frequency containment reserve on the system's load, per unit: the
    /// per-unit frequency deviation over the per-unit change of output it calls for (0.2 with
    /// an FCR of 2% of load fully activated at 200 mHz of 50 Hz).
    pub droop: f64,
    /// Frequency containment reserve held, share of the system's load: the FCR's output
    /// saturates there (it is fully activated at `droop × fcr_share × nominal_hz` of deviation).
    pub fcr_share: f64,
    /// Load self-regulation `D`: per-unit change of load per per-unit change of frequency
    /// (0.5 is 1% of load per Hz at 50 Hz).
    pub damping: f64,
    /// Time constant `T_g` of the FCR (governors and turbines, or inverters), seconds.
    pub governor_s: f64,
    /// AGC (automatic frequency restoration reserve) time constant, seconds: AGC takes an
    /// imbalance over from the FCR with this time constant.
    pub agc_s: f64,
    /// LFSM-O: frequency above which generation in limited frequency-sensitive mode reduces its
    /// output, Hz.
    pub lfsm_o_hz: f64,
    /// LFSM-O droop, per unit of the participating generation's output (0.05: output falls by
    /// its whole value over 5% of nominal frequency above the threshold).
    pub lfsm_o_droop: f64,
    /// Share of the system's generation (its load) that answers in LFSM-O, 0 to 1; 0 turns
    /// the over-frequency response off.
    pub lfsm_o_share: f64,
    /// Time constant of the LFSM-O response, seconds.
    pub lfsm_o_s: f64,
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
    /// The defaults: Continental Europe.
    pub fn typical() -> FrequencyConfig {
        FrequencyConfig::continental_europe()
    }

    /// The defaults of `interconnection`.
    pub fn of(interconnection: Interconnection) -> FrequencyConfig {
        match interconnection {
            Interconnection::ContinentalEurope => FrequencyConfig::continental_europe(),
            Interconnection::GreatBritain => FrequencyConfig::great_britain(),
            Interconnection::Ercot => FrequencyConfig::ercot(),
        }
    }

    /// Continental Europe. A loss of the 3,000 MW reference incident settles (before AGC) at
    /// 3,000 MW / (15,000 + 1,500) MW/Hz = 182 mHz below nominal, the UCTE handbook's 180 mHz
    /// quasi-steady deviation, with its nadir above 49.2 Hz (800 mHz, SO GL Annex III).
    pub fn continental_europe() -> FrequencyConfig {
        // System load 150 GW: assumption, the low-load case for which the UCTE Operation
        // Handbook (Policy 1) set the 180 mHz quasi-steady deviation with 1%/Hz
        // self-regulation (3,000 / (15,000 + 0.01 × 150,000) = 0.182 Hz).
        let system_mw = 150_000.0;
        // FCR: 3,000 MW (SO GL Art. 153(2)(b)(i), the reference incident), fully activated at
        // ±200 mHz (SO GL Annex V): 15,000 MW/Hz.
        let fcr_share = 3_000.0 / system_mw;
        FrequencyConfig {
            interconnection: Interconnection::ContinentalEurope,
            // SO GL Art. 127(2).
            nominal_hz: 50.0,
            system_mw: Some(system_mw),
            area_share: None,
            // Assumption: H 4 s on 150 GW, 600 GW·s of kinetic energy, within the 2-6 s
            // planning range of ENTSO-E's inertia reports (summer low load).
            inertia_s: 4.0,
            // Derived: 200 mHz / 50 Hz over the FCR's 2% of load.
            droop: (0.2 / 50.0) / fcr_share,
            fcr_share,
            // UCTE Operation Handbook, Policy 1: self-regulation of load 1%/Hz, × 50 Hz.
            damping: 0.01 * 50.0,
            // Full activation within 30 s, half within 15 s (SO GL Annex V): assumption, a
            // first-order lag of 6 s, 92% activated at 15 s and 99% at 30 s.
            governor_s: 6.0,
            // AGC takes the imbalance over 95% within three time constants: the 15 minutes SO GL
            // Annex III gives Continental Europe to restore frequency.
            agc_s: 300.0,
            // RfG Art. 13(2) and the Austrian NC RfG-Anforderungs-V § 5(1) no. 3 defaults:
            // threshold 50.2 Hz, droop 5%.
            lfsm_o_hz: 50.2,
            lfsm_o_droop: 0.05,
            // Assumption: half the generation in service answers in LFSM-O (RfG-compliant
            // modules and retrofitted PV; not must-run or legacy units).
            lfsm_o_share: 0.5,
            // Assumption: the RfG asks for an initial delay of at most 2 s; a 2 s lag.
            lfsm_o_s: 2.0,
            ufls: FrequencyConfig::typical_ufls(50.0),
            // UFLS relays, restoration: assumptions (close to ENTSO-E's defence plan); a stage of
            // 10% comes back in 20 blocks 2 minutes apart, so each stage follows the last.
            ufls_delay: SimDuration::from_millis(200),
            ufls_restore: SimDuration::from_minutes(30),
            ufls_restore_spacing: SimDuration::from_minutes(40),
        }
    }

    /// Great Britain: response sized to the 1,320 MW normal infeed loss, fully activated at
    /// ±500 mHz.
    pub fn great_britain() -> FrequencyConfig {
        // Assumption: 25 GW of transmission demand (between GB's summer minimum and winter
        // peak).
        let system_mw = 25_000.0;
        // National Grid ESO (SQSS): normal infeed loss 1,320 MW; response held to cover it
        // (assumption), fully activated at ±500 mHz (SO GL Annex V).
        let fcr_share = 1_320.0 / system_mw;
        FrequencyConfig {
            interconnection: Interconnection::GreatBritain,
            nominal_hz: 50.0,
            system_mw: Some(system_mw),
            area_share: None,
            // National Grid ESO data portal: outturn inertia typically 200 GVA·s; on 25 GW, 8 s.
            inertia_s: 200_000.0 / system_mw,
            droop: (0.5 / 50.0) / fcr_share,
            fcr_share,
            // Assumption: 1%/Hz as in Continental Europe.
            damping: 0.01 * 50.0,
            // Assumption: GB's response is dominated by fast services (full activation within
            // 10 s, SO GL Annex V; Dynamic Containment within 1 s): a 2 s lag.
            governor_s: 2.0,
            agc_s: 300.0,
            // Assumption: the GB Grid Code's LFSM-O setting, 50.4 Hz and 10% (within the RfG's
            // 50.2-50.5 Hz and 2-12%; not retrieved).
            lfsm_o_hz: 50.4,
            lfsm_o_droop: 0.1,
            lfsm_o_share: 0.5,
            lfsm_o_s: 2.0,
            // Low-frequency demand disconnection from 48.8 Hz (National Grid ESO, 9 August
            // 2019 report); the further stages 0.2 Hz apart are an assumption.
            ufls: (0..5)
                .map(|i| UflsStage {
                    below_hz: 48.8 - 0.2 * f64::from(i),
                    shed_share: 0.1,
                })
                .collect(),
            ufls_delay: SimDuration::from_millis(200),
            ufls_restore: SimDuration::from_minutes(30),
            ufls_restore_spacing: SimDuration::from_minutes(40),
        }
    }

    /// An ERCOT-like 60 Hz system: response sized to the 2,750 MW resource contingency
    /// criterion.
    pub fn ercot() -> FrequencyConfig {
        // Assumption: 50 GW of load (between ERCOT's minimum and summer peak).
        let system_mw = 50_000.0;
        // NERC Frequency Response Annual Analysis: resource contingency criterion 2,750 MW;
        // responsive reserve held to cover it, fully activated at 0.5 Hz (5,500 MW/Hz, above
        // the NERC interconnection frequency response obligation of 381-525 MW/0.1 Hz):
        // assumption.
        let fcr_share = 2_750.0 / system_mw;
        FrequencyConfig {
            interconnection: Interconnection::Ercot,
            nominal_hz: 60.0,
            system_mw: Some(system_mw),
            area_share: None,
            // Assumption: 250 GW·s of kinetic energy (ERCOT's critical inertia is about
            // 100 GW·s); on 50 GW, 5 s.
            inertia_s: 250_000.0 / system_mw,
            droop: (0.5 / 60.0) / fcr_share,
            fcr_share,
            // Assumption: 1%/Hz, × 60 Hz.
            damping: 0.01 * 60.0,
            // Assumption: responsive reserve largely from batteries and load resources that
            // answer within a second or so: a 1 s lag.
            governor_s: 1.0,
            agc_s: 300.0,
            // Assumption: generation reduces its output above 60.2 Hz at 5% droop, as LFSM-O.
            lfsm_o_hz: 60.2,
            lfsm_o_droop: 0.05,
            lfsm_o_share: 0.5,
            lfsm_o_s: 2.0,
            // First stage at 59.3 Hz (NERC, Texas); the further stages 0.3 Hz apart are an
            // assumption.
            ufls: FrequencyConfig::typical_ufls(60.0),
            ufls_delay: SimDuration::from_millis(200),
            ufls_restore: SimDuration::from_minutes(30),
            ufls_restore_spacing: SimDuration::from_minutes(40),
        }
    }

    /// Sets the nominal frequency, moving the defaults that follow it: the UFLS stages become
    /// [`FrequencyConfig::typical_ufls`] and the LFSM-O threshold keeps its distance above
    /// nominal. Nothing changes when `nominal_hz` is already the nominal frequency.
    pub fn set_nominal_hz(&mut self, nominal_hz: f64) {
        if nominal_hz == self.nominal_hz {
            return;
        }
        self.lfsm_o_hz += nominal_hz - self.nominal_hz;
        // Self-regulation is a share of load per Hz: its per-unit value follows the nominal.
        self.damping *= nominal_hz / self.nominal_hz;
        self.ufls = FrequencyConfig::typical_ufls(nominal_hz);
        self.nominal_hz = nominal_hz;
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
        match (self.system_mw, self.area_share) {
            (Some(mw), None) => positive("system_mw", mw, 1e7)?,
            (None, Some(share)) => positive("area_share", share, 1.0)?,
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "area_share",
                    "give the system's load (system_mw) or the area's share of it (area_share), not both",
                ));
            }
            (None, None) => {
                return Err(FieldError::new(
                    "system_mw",
                    "give the system's load (system_mw) or the area's share of it (area_share)",
                ));
            }
        }
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
        positive("fcr_share", self.fcr_share, 1.0)?;
        positive("governor_s", self.governor_s, 60.0)?;
        at_least("governor_s", self.governor_s, 0.2)?;
        positive("agc_s", self.agc_s, 3600.0)?;
        at_least("agc_s", self.agc_s, 10.0)?;
        if !(self.lfsm_o_hz.is_finite() && self.lfsm_o_hz > self.nominal_hz && self.lfsm_o_hz < self.nominal_hz + 3.0) {
            return Err(FieldError::new(
                "lfsm_o_hz",
                format!(
                    "must lie above {} Hz and below {} Hz (within 3 Hz of nominal), not {}",
                    self.nominal_hz,
                    self.nominal_hz + 3.0,
                    self.lfsm_o_hz
                ),
            ));
        }
        positive("lfsm_o_droop", self.lfsm_o_droop, 0.5)?;
        at_least("lfsm_o_droop", self.lfsm_o_droop, 0.01)?;
        if !(self.lfsm_o_share.is_finite() && (0.0..=1.0).contains(&self.lfsm_o_share)) {
            return Err(FieldError::new(
                "lfsm_o_share",
                format!("must be between 0 and 1, not {}", self.lfsm_o_share),
            ));
        }
        positive("lfsm_o_s", self.lfsm_o_s, 60.0)?;
        at_least("lfsm_o_s", self.lfsm_o_s, 0.2)?;
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
    /// LFSM-O output change, per unit.
    po: f64,
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
            po: 0.0,
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
    /// fast (a tenth of its fastest time constant, and a fifth of the period of its fastest
    /// oscillation), so that explicit integration stays stable.
    fn dt_s(&self) -> f64 {
        let c = &self.config;
        let (h, r, d, tg) = (c.inertia_s, c.droop, c.damping, c.governor_s);
        let lfsm_gain = c.lfsm_o_share / c.lfsm_o_droop;
        let wn_governor = ((d + 1.0 / r) / (2.0 * h * tg)).sqrt();
        let wn_lfsm = ((d + lfsm_gain) / (2.0 * h * c.lfsm_o_s)).sqrt();
        let fastest = tg.min(c.lfsm_o_s).min(2.0 * h / (d + 1.0 / r + lfsm_gain).max(1.0));
        DT_S.min(0.2 / wn_governor.max(wn_lfsm)).min(0.1 * fastest).max(1e-4)
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
        let (fcr, lfsm_gain, to) = (c.fcr_share, c.lfsm_o_share / c.lfsm_o_droop, c.lfsm_o_s);
        let lfsm_from = (c.lfsm_o_hz - f0) / f0;
        let steps = (TICK_US as f64 / 1e6 / self.dt_s()).ceil() as u64;
        let dt_us = TICK_US / steps;
        let dt = dt_us as f64 / 1e6;
        let mut trips = Vec::new();
        let mut t = now;
        for _ in 0..steps {
            let rocof = (self.pm + self.po + self.agc - self.load - d * self.df) / (2.0 * h);
            // The FCR answers in proportion to the deviation until it is exhausted.
            let dpm = ((-self.df / r).clamp(-fcr, fcr) - self.pm) / tg;
            // LFSM-O: generation reduces its output above the threshold.
            let dpo = (-lfsm_gain * (self.df - lfsm_from).max(0.0) - self.po) / to;
            // AGC takes the imbalance over with time constant `T_agc` (in the quasi-steady
            // state, `−Δf · (D + 1/R)` is the imbalance not yet taken over).
            let dagc = -self.df * (d + 1.0 / r) / tagc;
            self.df += rocof * dt;
            self.pm += dpm * dt;
            self.po += dpo * dt;
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
        // Settled: frequency within 1 mHz and the FCR and LFSM-O back at their set points
        // (within 1 MW, or 1e-4 of the system's load if that is less); AGC has taken the
        // imbalance over, which becomes the new schedule.
        let tolerance = (1.0 / self.system_mw).min(1e-4);
        let settled = (self.df * f0).abs() < 1e-3
            && self.pm.abs() < tolerance
            && self.po.abs() < tolerance
            && (self.agc - self.load).abs() < tolerance;
        if settled && self.pending.is_empty() {
            self.events[event].end = Some(t);
            self.current = None;
            // AGC has rescheduled generation for what is left: the new balance.
            self.load = 0.0;
            self.agc = 0.0;
            self.pm = 0.0;
            self.po = 0.0;
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
        // A quarter and half a percent of the system's load: within the FCR and below the
        // LFSM-O threshold either way.
        let (small, _) = swing(&c, 25.0);
        let (double, _) = swing(&c, 50.0);
        let dev = |e: &FrequencyEvent| 50.0 - e.nadir_hz;
        assert!(dev(&small) > 0.01, "a 0.25% swing is felt: {}", small.nadir_hz);
        assert!((dev(&double) / dev(&small) - 2.0).abs() < 1e-6, "linear without UFLS");
        // Initial RoCoF is ΔP / 2H: 0.0025 pu / 8 s = 0.0003125 pu/s = 0.015625 Hz/s.
        assert!(
            (small.rocof_hz_s - 0.015625).abs() < 0.001,
            "rocof {}",
            small.rocof_hz_s
        );
        // More inertia: a shallower nadir; more droop (weaker FCR): a deeper one.
        let heavy = FrequencyConfig {
            inertia_s: 8.0,
            ..c.clone()
        };
        assert!(dev(&swing(&heavy, 25.0).0) < dev(&small));
        let soft = FrequencyConfig {
            droop: 0.4,
            ..c.clone()
        };
        assert!(dev(&swing(&soft, 25.0).0) > dev(&small));
        // A load drop mirrors it upwards.
        let (drop, _) = swing(&c, -25.0);
        assert!((drop.peak_hz - 50.0 - dev(&small)).abs() < 1e-9);
        assert!(small.end.is_some() && small.shed_mw == 0.0 && small.stages.is_empty());
    }

    /// Past the reserve held, the FCR gives no more: frequency falls until self-regulation
    /// balances the rest.
    #[test]
    fn the_fcr_is_exhausted_at_its_share_of_load() {
        let c = FrequencyConfig {
            ufls: Vec::new(),
            agc_s: 3600.0,
            ..FrequencyConfig::typical()
        };
        // A 3% loss against 2% of FCR and 0.5 pu of self-regulation: 1% / 0.5 = 2% = 1 Hz
        // below nominal once the FCR is exhausted (AGC slowed down to an hour, which still
        // takes a tenth of the 1% over in the minute: up to 0.15 Hz), where an FCR without limit
        // would hold 3% / 5.5 = 273 mHz.
        let after_a_minute = |c: FrequencyConfig| {
            let mut f = Frequency::new(c, 10_000.0);
            f.step(300_000.0, 2);
            for s in 1..=60 {
                f.tick(SimTime(s * TICK_US));
            }
            f.hz()
        };
        let limited = after_a_minute(c.clone());
        assert!(limited > 48.95 && limited < 49.15, "{limited}");
        let unlimited = after_a_minute(FrequencyConfig { fcr_share: 1.0, ..c });
        assert!((unlimited - (50.0 - 0.273)).abs() < 0.01, "{unlimited}");
    }

    /// LFSM-O limits an over-frequency excursion that the FCR alone cannot: a load drop of 4%
    /// of the system (twice the FCR) rises far above 51 Hz without it and stays within half a
    /// hertz with it.
    #[test]
    fn lfsm_o_caps_an_over_frequency_excursion() {
        let c = FrequencyConfig::typical();
        let (with, _) = swing(&c, -400.0);
        let without = FrequencyConfig {
            lfsm_o_share: 0.0,
            ..c.clone()
        };
        let (without, _) = swing(&without, -400.0);
        assert!(with.peak_hz < 50.5, "{}", with.peak_hz);
        assert!(without.peak_hz > 51.0, "{}", without.peak_hz);
        // Below its threshold it does nothing: a 1% drop peaks the same way with or without.
        let quiet = FrequencyConfig {
            lfsm_o_share: 0.0,
            ..c.clone()
        };
        assert!((swing(&c, -50.0).0.peak_hz - swing(&quiet, -50.0).0.peak_hz).abs() < 1e-12);
    }

    #[test]
    fn ufls_sheds_past_its_threshold_and_a_small_swing_does_not() {
        let c = FrequencyConfig::typical();
        let (small, trips) = swing(&c, 200.0);
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

    /// Each interconnection's defaults pass the checks, and its largest credible loss leaves
    /// frequency above its first UFLS stage.
    #[test]
    fn every_interconnection_rides_through_its_largest_loss() {
        for (interconnection, loss_mw) in [
            (Interconnection::ContinentalEurope, 3_000.0),
            (Interconnection::GreatBritain, 1_320.0),
            (Interconnection::Ercot, 2_750.0),
        ] {
            let c = FrequencyConfig::of(interconnection);
            assert_eq!(c.check(), Ok(()), "{interconnection:?}");
            let system_mw = c.system_mw.expect("sized");
            let mut f = Frequency::new(c.clone(), system_mw);
            f.step(loss_mw * 1000.0, 2);
            let mut trips = Vec::new();
            for s in 1..=120 {
                trips.extend(f.tick(SimTime(s * TICK_US)).0);
            }
            let nadir = f.events[0].nadir_hz;
            assert!(
                trips.is_empty() && nadir > c.ufls[0].below_hz,
                "{interconnection:?}: {nadir}"
            );
        }
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
        while t < 6 * 3600 {
            // Restores due at this second: stage s from 1800 + 2400 s, block b 120 s apart.
            for &(stage, at) in &tripped {
                for b in 0..20u64 {
                    if t == at + 1800 + 2400 * stage as u64 + 120 * b {
                        f.restore(stage, 0.05, b == 19, 2);
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
        assert_eq!(restores.len(), 20 * tripped.len());
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
        let c = FrequencyConfig {
            area_share: Some(0.1),
            ..FrequencyConfig::typical()
        };
        assert_eq!(c.check().expect_err("both").field, "area_share");
        let c = FrequencyConfig {
            lfsm_o_hz: 49.9,
            ..FrequencyConfig::typical()
        };
        assert_eq!(c.check().expect_err("below nominal").field, "lfsm_o_hz");
        assert!(FrequencyConfig::typical().check().is_ok());
    }
}
