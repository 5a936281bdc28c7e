//! The validated configuration the engine runs from. Scenario files are parsed and checked in
//! the `amirange` crate; by the time a [`SimConfig`] exists every value is in range, which
//! [`SimConfig::check`] asserts once more for callers that build one by hand.

use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::model::{ClassConsumption, CustomerClass, LinkKind, LinkReadModel};
use crate::profile::ProfileId;
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
    /// Probability that a collector's backhaul to the HES works in a read cycle.
    pub backhaul_success: f64,
    /// Consumption model per class, in [`CustomerClass::ALL`] order.
    pub classes: [ClassConsumption; 4],
    /// Read model per link kind, in [`LinkKind::ALL`] order.
    pub links: [LinkReadModel; 3],
    /// Public holidays, treated as Sundays by the profiles.
    pub holidays: Vec<CivilDate>,
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
    /// Default consumption parameters of a class.
    pub fn default_class(class: CustomerClass) -> ClassConsumption {
        match class {
            CustomerClass::Residential => ClassConsumption {
                profile: ProfileId::H0,
                mean_annual_kwh: 3_500.0,
                annual_sigma: 0.45,
                interval_noise_sigma: 0.55,
                max_shift_slots: 4,
            },
            CustomerClass::Commercial => ClassConsumption {
                profile: ProfileId::G0,
                mean_annual_kwh: 30_000.0,
                annual_sigma: 0.8,
                interval_noise_sigma: 0.25,
                max_shift_slots: 2,
            },
            CustomerClass::Industrial => ClassConsumption {
                profile: ProfileId::G1,
                mean_annual_kwh: 400_000.0,
                annual_sigma: 0.8,
                interval_noise_sigma: 0.15,
                max_shift_slots: 2,
            },
            CustomerClass::Critical => ClassConsumption {
                profile: ProfileId::G3,
                mean_annual_kwh: 800_000.0,
                annual_sigma: 0.5,
                interval_noise_sigma: 0.1,
                max_shift_slots: 1,
            },
        }
    }

    /// Default read model of a link kind.
    pub fn default_link(kind: LinkKind) -> LinkReadModel {
        match kind {
            LinkKind::Mesh => LinkReadModel {
                read_success: 0.985,
                latency_median: SimDuration::from_secs(3),
                latency_sigma: 0.7,
            },
            LinkKind::Plc => LinkReadModel {
                read_success: 0.96,
                latency_median: SimDuration::from_secs(12),
                latency_sigma: 0.9,
            },
            LinkKind::Cellular => LinkReadModel {
                read_success: 0.995,
                latency_median: SimDuration::from_millis(1_200),
                latency_sigma: 0.5,
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
            backhaul_success: 0.999,
            classes: CustomerClass::ALL.map(Self::default_class),
            links: LinkKind::ALL.map(Self::default_link),
            holidays: Vec::new(),
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

    /// Checks every value; the scenario loader has already done so with file positions.
    pub fn check(&self) -> Result<(), ConfigError> {
        let fail = |field: &str, reason: &str| {
            Err(ConfigError {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.horizon < INTERVAL || !self.horizon.as_micros().is_multiple_of(INTERVAL.as_micros()) {
            return fail("horizon", "must be a positive whole number of 15-minute intervals");
        }
        if self.horizon > SimDuration::from_days(3650) {
            return fail("horizon", "at most 3650 days");
        }
        if !self.start.second_of_day.is_multiple_of(900) {
            return fail("start", "must fall on a quarter-hour");
        }
        if !(1..=crate::model::LOAD_PROFILE_DEPTH as u32).contains(&self.read_cycle_intervals) {
            return fail("read_cycle", "must be 15m to 4h in steps of 15m");
        }
        if self.read_deadline == SimDuration::ZERO {
            return fail("read_deadline", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.backhaul_success) {
            return fail("backhaul_success", "must be a probability in [0, 1]");
        }
        for class in CustomerClass::ALL {
            let c = self.class(class);
            let name = class.name();
            if !(c.mean_annual_kwh.is_finite() && c.mean_annual_kwh > 0.0) {
                return fail(&format!("{name}.mean_annual_kwh"), "must be positive");
            }
            if !(0.0..=3.0).contains(&c.annual_sigma) {
                return fail(&format!("{name}.annual_sigma"), "must be in [0, 3]");
            }
            if !(0.0..=2.0).contains(&c.interval_noise_sigma) {
                return fail(&format!("{name}.interval_noise_sigma"), "must be in [0, 2]");
            }
            if c.max_shift_slots > 8 {
                return fail(&format!("{name}.max_shift_slots"), "at most 8 quarter-hours");
            }
        }
        for kind in LinkKind::ALL {
            let l = &self.links[kind.index()];
            let name = kind.name();
            if !(0.0..=1.0).contains(&l.read_success) {
                return fail(&format!("{name}.read_success"), "must be a probability in [0, 1]");
            }
            if l.latency_median == SimDuration::ZERO {
                return fail(&format!("{name}.latency_median"), "must be positive");
            }
            if !(0.0..=3.0).contains(&l.latency_sigma) {
                return fail(&format!("{name}.latency_sigma"), "must be in [0, 3]");
            }
        }
        Ok(())
    }
}
