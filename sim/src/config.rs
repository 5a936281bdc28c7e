//! The validated configuration the engine runs from. Scenario files are parsed and checked in
//! the `amirange` crate; by the time a [`SimConfig`] exists every value is in range, which
//! [`SimConfig::check`] asserts once more for callers that build one by hand.

use crate::field::FieldError;
use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::grid::ColdLoadPickup;
use crate::hes::HesConfig;
use crate::interval_metering::LoadShape;
use crate::mdm::MdmConfig;
use crate::model::{ClassConsumption, CustomerClass};
use crate::profile::ProfileId;
use crate::security::SecurityConfig;
use crate::time::{CivilDate, CivilDateTime, SimDuration};

/// The metering interval: 15 minutes, the resolution of the BDEW profiles.
pub const INTERVAL: SimDuration = SimDuration::from_minutes(15);

/// Everything the engine needs to know about a run, validated.
#[derive(Resource, Clone, Debug, PartialEq, Serialize)]
pub struct SimConfig {
    /// The scenario seed; every random number derives from it.
    pub seed: u64,
    /// Calendar date and time of [`crate::time::SimTime::ZERO`]; must fall on a quarter-hour.
    pub start: CivilDateTime,
    /// How far ahead the engine prepares (profiles are tabulated up to here), at least one
    /// interval and a whole number of intervals.
    pub horizon: SimDuration,
    /// Collectors read their meters every this many intervals (1 to 16).
    pub read_cycle_intervals: u32,
    /// A read that takes longer than this misses the cycle and is retried at the next one.
    pub read_deadline: SimDuration,
    /// Consumption model per class, in [`CustomerClass::ALL`] order.
    pub classes: [ClassConsumption; 4],
    /// Public holidays, treated as Sundays by the profiles.
    pub holidays: Vec<CivilDate>,
    /// The head-end system: accounts, fan-out, timeouts, retries.
    pub hes: HesConfig,
    /// Meter security and relay behaviour.
    pub security: SecurityConfig,
    /// The MDM: tariffs, outage detection.
    pub mdm: MdmConfig,
    /// Cold-load pickup after a feeder is restored.
    pub cold_load: ColdLoadPickup,
    /// The bulk system's frequency response and under-frequency load shedding.
    pub frequency: crate::frequency::FrequencyConfig,
    /// The climate whose weather drives heating and cooling (see [`crate::weather`]).
    pub climate: crate::weather::Climate,
    /// Communication faults outside the radio physics (chronic non-communicators).
    pub comms: crate::network::CommsFaults,
    /// The grid's technical losses and protection settings.
    pub grid: crate::grid::GridConfig,
}

/// A [`SimConfig`] value out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid engine configuration: {field}: {reason}")]
pub struct ConfigError {
    /// The offending field.
    pub field: String,
    /// Why it is wrong.
    pub reason: String,
}

impl SimConfig {
    /// Default consumption parameters of a class. Households and commercial premises follow
    /// the 2025 BDEW profiles (`H25`, `G25`), which German suppliers use since 2025 in place of
    /// `H0` and `G0` (BDEW, Standardlastprofile Strom 2025); critical facilities keep the 1999
    /// `G3` (continuous operation), which the 2025 edition does not replace, and industry is
    /// interval-metered on its own shift shape (below).
    /// The residential noise persistence (0.7)
    /// and activity spread (0.3, on `H25`; it was 0.5 on the more peaked `H0`) are calibrated so
    /// that single homes match the six SimBench
    /// household profiles over two winter weeks (`sim/data/simbench-household-stats.json`:
    /// lag-1 autocorrelation, peak-to-mean, load factor, daily autocorrelation, spread of
    /// shapes); the noise sigmas, the other classes' persistence (0.8) and their activity
    /// spread (0: every premise on the class profile) are assumptions. Electric space heating
    /// is 7% of German household electricity (night-storage heaters, AG Energiebilanzen's
    /// application balance for households: "7 bis 8 %"); German homes are hardly air-conditioned
    /// and the other classes' weather sensitivity is not modelled (assumptions: 0). No premise
    /// owns PV, an EV charger or a heat pump unless the scenario sets a share (the measured
    /// references the defaults are calibrated to are households without them).
    ///
    /// The mean annual consumptions are a suburb's (the topology's kind of area sets its own,
    /// see `class_annual_kwh` in the topology reference): a household 3,200 kWh/a (BDEW:
    /// 128 TWh over 41.5 million households is about 3,100 kWh/a, Verivox 2023 3,208 kWh/a); a
    /// commercial premise 30,000 kWh/a, an industrial one 400,000 kWh/a (interval-metered, above
    /// the 100,000 kWh/a of StromNZV section 12), a critical facility 327,500 kWh/a over the
    /// default facility mix (assumptions). Industry is interval-metered and runs in shifts: it
    /// follows the measured-style shift-operation shape
    /// ([`crate::interval_metering::LoadShape::ShiftOperation`]), each factory weighting its
    /// night, morning, daytime and evening by its own amount (activity spread 0.6: from a single
    /// day shift to three shifts; assumption), not a standard load profile. Commercial premises
    /// above the threshold leave `G25` for their own opening-hours shape
    /// ([`crate::interval_metering::LoadShape::OpeningHours`]).
    pub fn default_class(class: CustomerClass) -> ClassConsumption {
        match class {
            CustomerClass::Residential => ClassConsumption {
                profile: ProfileId::H25,
                shape: LoadShape::StandardProfile,
                mean_annual_kwh: 3_200.0,
                annual_sigma: 0.45,
                interval_noise_sigma: 0.55,
                noise_persistence: 0.7,
                activity_spread: 0.3,
                max_shift_slots: 4,
                heating_share: 0.07,
                cooling_share: 0.0,
                pv_share: 0.0,
                ev_share: 0.0,
                heat_pump_share: 0.0,
            },
            CustomerClass::Commercial => ClassConsumption {
                profile: ProfileId::G25,
                shape: LoadShape::StandardProfile,
                mean_annual_kwh: 30_000.0,
                annual_sigma: 0.8,
                interval_noise_sigma: 0.25,
                noise_persistence: 0.8,
                activity_spread: 0.0,
                max_shift_slots: 2,
                heating_share: 0.0,
                cooling_share: 0.0,
                pv_share: 0.0,
                ev_share: 0.0,
                heat_pump_share: 0.0,
            },
            CustomerClass::Industrial => ClassConsumption {
                profile: ProfileId::G3,
                shape: LoadShape::ShiftOperation,
                mean_annual_kwh: 400_000.0,
                annual_sigma: 0.8,
                interval_noise_sigma: 0.15,
                noise_persistence: 0.8,
                activity_spread: 0.6,
                max_shift_slots: 2,
                heating_share: 0.0,
                cooling_share: 0.0,
                pv_share: 0.0,
                ev_share: 0.0,
                heat_pump_share: 0.0,
            },
            CustomerClass::Critical => ClassConsumption {
                profile: ProfileId::G3,
                shape: LoadShape::StandardProfile,
                mean_annual_kwh: 327_500.0,
                annual_sigma: 0.5,
                interval_noise_sigma: 0.1,
                noise_persistence: 0.8,
                activity_spread: 0.0,
                max_shift_slots: 1,
                heating_share: 0.0,
                cooling_share: 0.0,
                pv_share: 0.0,
                ev_share: 0.0,
                heat_pump_share: 0.0,
            },
        }
    }

    /// A configuration with every default, for `seed`, starting at `start`, prepared for
    /// `horizon`.
    pub fn with_defaults(seed: u64, start: CivilDateTime, horizon: SimDuration) -> SimConfig {
        SimConfig {
            seed,
            start,
            horizon,
            read_cycle_intervals: 1,
            read_deadline: SimDuration::from_minutes(5),
            classes: CustomerClass::ALL.map(Self::default_class),
            holidays: Vec::new(),
            hes: HesConfig::typical(),
            security: SecurityConfig::typical(),
            mdm: MdmConfig::typical(),
            cold_load: ColdLoadPickup::typical(),
            frequency: crate::frequency::FrequencyConfig::typical(),
            climate: crate::weather::Climate::Germany,
            comms: crate::network::CommsFaults::typical(),
            grid: crate::grid::GridConfig::typical(),
        }
    }

    /// Consumption parameters of `class`.
    pub fn class(&self, class: CustomerClass) -> &ClassConsumption {
        &self.classes[class.index()]
    }

    /// Number of intervals in the horizon.
    pub fn n_slots(&self) -> u32 {
        (self.horizon.as_micros() / INTERVAL.as_micros()) as u32
    }

    /// Checks every value. This is the one place where ranges are defined: the scenario loader
    /// converts units and then relies on it, mapping `field` (a path in this struct, such as
    /// `read_deadline` or `classes.residential.max_shift_slots`) back to the file.
    pub fn check(&self) -> Result<(), ConfigError> {
        let fail = |field: String, reason: String| Err(ConfigError { field, reason });
        let within = |field: String, v: f64, max: f64| {
            if (0.0..=max).contains(&v) {
                Ok(())
            } else {
                fail(field, format!("must be between 0 and {max}, not {v}"))
            }
        };
        if self.horizon < INTERVAL || !self.horizon.as_micros().is_multiple_of(INTERVAL.as_micros()) {
            return fail(
                "horizon".into(),
                "must be a positive whole number of 15-minute intervals".into(),
            );
        }
        if self.horizon > SimDuration::from_days(3650) {
            return fail("horizon".into(), "at most 3650d".into());
        }
        if !self.start.second_of_day.is_multiple_of(900) {
            return fail("start".into(), "must fall on a quarter-hour (e.g. 00:00, 06:15)".into());
        }
        if !(1..=crate::model::LOAD_PROFILE_DEPTH as u32).contains(&self.read_cycle_intervals) {
            return fail("read_cycle".into(), "must be 15m to 4h in steps of 15m".into());
        }
        if self.read_deadline == SimDuration::ZERO {
            return fail("read_deadline".into(), "must be longer than zero".into());
        }
        for class in CustomerClass::ALL {
            let c = self.class(class);
            let path = |f: &str| format!("classes.{}.{f}", class.name());
            let kwh = c.mean_annual_kwh;
            if !(kwh.is_finite() && kwh > 0.0 && kwh <= 1e9) {
                return fail(
                    path("mean_annual_kwh"),
                    format!("must be between 0 and 1e9 kWh, not {kwh}"),
                );
            }
            within(path("annual_sigma"), c.annual_sigma, 3.0)?;
            within(path("interval_noise_sigma"), c.interval_noise_sigma, 2.0)?;
            within(path("noise_persistence"), c.noise_persistence, 0.999)?;
            within(path("activity_spread"), c.activity_spread, 1.0)?;
            within(path("heating_share"), c.heating_share, 0.9)?;
            within(path("cooling_share"), c.cooling_share, 0.9)?;
            within(path("pv_share"), c.pv_share, 1.0)?;
            within(path("ev_share"), c.ev_share, 1.0)?;
            within(path("heat_pump_share"), c.heat_pump_share, 1.0)?;
            if c.heating_share + c.cooling_share > 0.9 {
                return fail(
                    path("cooling_share"),
                    "heating_share + cooling_share must be at most 0.9".into(),
                );
            }
            if i64::from(c.max_shift_slots) > crate::dataplane::MAX_SHIFT {
                return fail(path("max_shift_slots"), "must be 0m to 2h in steps of 15m".into());
            }
        }
        let prefixed = |section: &str, r: Result<(), FieldError>| {
            r.map_err(|e| ConfigError {
                field: format!("{section}.{}", e.field),
                reason: e.message,
            })
        };
        prefixed("hes", self.hes.check())?;
        prefixed("security", self.security.check())?;
        prefixed("mdm", self.mdm.check())?;
        prefixed("frequency", self.frequency.check())?;
        prefixed("comms", self.comms.check())?;
        prefixed("grid", self.grid.check())?;
        let c = &self.cold_load;
        within("cold_load.extra".into(), c.extra, 3.0)?;
        if c.decay < SimDuration::from_minutes(1) || c.decay > SimDuration::from_hours(12) {
            return fail("cold_load.decay".into(), "must be between 1m and 12h".into());
        }
        if c.full_after > SimDuration::from_days(2) {
            return fail("cold_load.full_after".into(), "at most 2d".into());
        }
        Ok(())
    }
}
