//! Interval-metered customers: the large premises whose every quarter-hour is measured and
//! settled, rather than estimated from a standard load profile, and the measured-style shape
//! their load follows.
//!
//! In Germany a customer taking more than 100,000 kWh a year is metered by registering
//! load-profile measurement (RLM); customers at or below it in the LV grid are settled on
//! standard load profiles (StromNZV section 12 (1)). [`MeteringKind`] tells the two apart by a
//! premise's drawn annual consumption, and [`LoadShape::ShiftOperation`] is the load of a
//! factory working in shifts, which a class of interval-metered customers follows in place of a
//! BDEW profile. Each premise varies that shape by its own activity weights (see
//! [`crate::model::ClassConsumption::activity_spread`]): a premise weighting the night up runs
//! a third shift, one weighting it down runs a single day shift.
//!
//! Commercial premises above the threshold (office blocks, supermarkets, department stores,
//! hotels) are interval-metered too and follow [`LoadShape::OpeningHours`] rather than the
//! class's standard profile, whatever that is; the standard-profile premises below it keep the
//! class's profile. They form a load group of their own ([`INTERVAL_METERED_COMMERCIAL`]) in
//! the data plane's profile table, with the activity spread
//! [`INTERVAL_METERED_COMMERCIAL_ACTIVITY_SPREAD`], so each business has its own base load,
//! opening and closing (weighting the night up is a supermarket's refrigeration or a server
//! room, weighting the evening up a shop open late), drawn once per premise from the activity
//! weights every premise already has: no per-meter state is added.

use serde::{Deserialize, Serialize};

use crate::model::{ClassConsumption, CustomerClass};
use crate::profile::{ProfileCalendar, SLOTS_PER_DAY};
use crate::time::{CivilDate, DayType};

/// Annual consumption above which a premise is interval-metered, kWh/a (StromNZV section 12
/// (1): standard load profiles for LV customers taking up to 100,000 kWh a year).
pub const INTERVAL_METERING_THRESHOLD_KWH: f32 = 100_000.0;

/// How a premise's consumption is metered and settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MeteringKind {
    /// Settled on a standard load profile (German SLP customers, at most 100,000 kWh/a).
    StandardLoadProfile,
    /// Every quarter-hour measured and settled (German RLM customers, above 100,000 kWh/a).
    IntervalMetered,
}

impl MeteringKind {
    /// The metering of a premise that takes `annual_kwh` a year.
    pub fn of_annual_kwh(annual_kwh: f32) -> MeteringKind {
        if annual_kwh > INTERVAL_METERING_THRESHOLD_KWH {
            MeteringKind::IntervalMetered
        } else {
            MeteringKind::StandardLoadProfile
        }
    }

    /// Lower-case name for result files.
    pub fn name(self) -> &'static str {
        match self {
            MeteringKind::StandardLoadProfile => "standard-load-profile",
            MeteringKind::IntervalMetered => "interval-metered",
        }
    }
}

/// What shapes a class's load over the day and the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadShape {
    /// The class's BDEW standard load profile (`profile`).
    StandardProfile,
    /// A factory in two-shift operation, as interval metering records it (assumption, no
    /// published measured profile at hand): full load 06:00-22:00 on workdays with a ramp of
    /// an hour at each end, 35% of it at night (compressed air, cooling, ventilation, standby
    /// machines); on Saturdays one shift 06:00-14:00 at 70%; on Sundays and holidays 30% all
    /// day. Normalised so that a full week averages 1,000 kWh a year.
    ShiftOperation,
    /// A large commercial building (office block, supermarket, department store) as interval
    /// metering records it (assumption, no published measured profile at hand; described by the
    /// load-shape parameters of Price, LBNL-3713E, 2010: near-base load, near-peak load,
    /// high-load start time and duration): full load 07:00-19:00 on workdays with a ramp of an
    /// hour before opening and after closing, a base load of 40% of it while closed (ventilation,
    /// refrigeration, IT, security lighting); on Saturdays open 08:00-16:00 at 60%; on Sundays and
    /// holidays the base load all day. Normalised so that a full week averages 1,000 kWh a
    /// year.
    OpeningHours,
}

/// Base load of a large commercial building while closed, as a share of its open-hours load
/// (assumption; see [`LoadShape::OpeningHours`]).
pub const OPENING_HOURS_BASE_SHARE: f64 = 0.4;

/// Activity spread of the interval-metered commercial premises: each weights the night,
/// morning, daytime and evening of the opening-hours shape by its own amount, uniform in
/// `-spread..=spread` (assumption: from a closed-at-night office with little base load to a
/// supermarket with refrigeration around the clock or a shop open late).
pub const INTERVAL_METERED_COMMERCIAL_ACTIVITY_SPREAD: f64 = 0.5;

/// Load groups of the data plane's profile table: one per customer class, in
/// [`CustomerClass::ALL`] order, and [`INTERVAL_METERED_COMMERCIAL`].
pub const LOAD_GROUPS: usize = 5;

/// The load group of the commercial premises above [`INTERVAL_METERING_THRESHOLD_KWH`], which
/// follow [`LoadShape::OpeningHours`].
pub const INTERVAL_METERED_COMMERCIAL: usize = 4;

/// The load group of a premise of `class` taking `annual_kwh` a year: its class's, or
/// [`INTERVAL_METERED_COMMERCIAL`] for an interval-metered commercial premise.
#[inline]
pub fn load_group(class: CustomerClass, annual_kwh: f32) -> usize {
    if class == CustomerClass::Commercial && annual_kwh > INTERVAL_METERING_THRESHOLD_KWH {
        INTERVAL_METERED_COMMERCIAL
    } else {
        class.index()
    }
}

/// The consumption parameters of each load group: the classes' own, and for
/// [`INTERVAL_METERED_COMMERCIAL`] the commercial class's on the opening-hours shape with its
/// own activity spread.
pub fn load_group_parameters(classes: &[ClassConsumption; 4]) -> [ClassConsumption; LOAD_GROUPS] {
    std::array::from_fn(|g| {
        if g == INTERVAL_METERED_COMMERCIAL {
            ClassConsumption {
                shape: LoadShape::OpeningHours,
                activity_spread: INTERVAL_METERED_COMMERCIAL_ACTIVITY_SPREAD,
                ..classes[CustomerClass::Commercial.index()]
            }
        } else {
            classes[g]
        }
    })
}

/// The customer class of load group `group`.
pub fn load_group_class(group: usize) -> CustomerClass {
    if group == INTERVAL_METERED_COMMERCIAL {
        CustomerClass::Commercial
    } else {
        CustomerClass::ALL[group]
    }
}

/// A measured-style week: a level while closed, and on workdays and Saturdays an opening
/// with a ramp of an hour up from `opens` and another down from `closes` (full load 1).
struct WeekShape {
    closed: f64,
    workday: Opening,
    saturday: Opening,
    /// The level all day on Sundays and holidays.
    sunday: f64,
}

/// A day's opening: the hours the ramps start at, and the level between them.
struct Opening {
    opens: f64,
    closes: f64,
    level: f64,
}

/// [`LoadShape::ShiftOperation`]: 35% at night, two shifts on workdays, one at 70% on Saturdays,
/// 30% on Sundays.
const SHIFT_OPERATION: WeekShape = WeekShape {
    closed: 0.35,
    workday: Opening {
        opens: 5.0,
        closes: 21.0,
        level: 1.0,
    },
    saturday: Opening {
        opens: 5.0,
        closes: 13.0,
        level: 0.7,
    },
    sunday: 0.3,
};

/// [`LoadShape::OpeningHours`]: the base load while closed, open 07:00-19:00 on workdays and
/// 08:00-16:00 at 60% on Saturdays.
const OPENING_HOURS: WeekShape = WeekShape {
    closed: OPENING_HOURS_BASE_SHARE,
    workday: Opening {
        opens: 6.0,
        closes: 19.0,
        level: 1.0,
    },
    saturday: Opening {
        opens: 7.0,
        closes: 16.0,
        level: 0.6,
    },
    sunday: OPENING_HOURS_BASE_SHARE,
};

impl WeekShape {
    /// Relative load on a day type at quarter-hour `slot`, before normalisation.
    fn level(&self, day: DayType, slot: usize) -> f64 {
        let open = match day {
            DayType::Workday => &self.workday,
            DayType::Saturday => &self.saturday,
            DayType::Sunday => return self.sunday,
        };
        let hour = slot as f64 / 4.0;
        // A ramp of an hour from `level_from` to `level_to` starting at `at`.
        let ramp = |at: f64, level_from: f64, level_to: f64| {
            let t = (hour - at).clamp(0.0, 1.0);
            level_from + (level_to - level_from) * t
        };
        if hour < open.opens + 1.0 {
            ramp(open.opens, self.closed, open.level)
        } else {
            ramp(open.closes, open.level, self.closed)
        }
    }

    /// Mean relative level over a week of five workdays, a Saturday and a Sunday.
    fn week_mean(&self) -> f64 {
        let day_sum = |day: DayType| (0..SLOTS_PER_DAY).map(|s| self.level(day, s)).sum::<f64>();
        (5.0 * day_sum(DayType::Workday) + day_sum(DayType::Saturday) + day_sum(DayType::Sunday))
            / (7.0 * SLOTS_PER_DAY as f64)
    }
}

/// kW per 1,000 kWh/a of a class on `date` at quarter-hour `slot`: its BDEW profile from the
/// calendar, or its measured-style shape. This is where the data plane's profile table picks a
/// class's load shape.
pub fn class_kw_per_mwh_year(
    calendar: &mut ProfileCalendar,
    class: &ClassConsumption,
    date: CivilDate,
    slot: usize,
) -> f64 {
    let shape = match class.shape {
        LoadShape::StandardProfile => return calendar.kw_per_mwh_year(class.profile, date, slot),
        LoadShape::ShiftOperation => &SHIFT_OPERATION,
        LoadShape::OpeningHours => &OPENING_HOURS,
    };
    let mean_kw = 1_000.0 / 8_760.0;
    mean_kw * shape.level(calendar.day_type(date), slot) / shape.week_mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::model::CustomerClass;

    #[test]
    fn the_threshold_splits_standard_profile_from_interval_metered_customers() {
        assert_eq!(MeteringKind::of_annual_kwh(3_200.0), MeteringKind::StandardLoadProfile);
        assert_eq!(
            MeteringKind::of_annual_kwh(100_000.0),
            MeteringKind::StandardLoadProfile
        );
        assert_eq!(MeteringKind::of_annual_kwh(100_001.0), MeteringKind::IntervalMetered);
    }

    #[test]
    fn a_week_of_shift_operation_averages_a_thousand_kwh_a_year_and_rests_on_sundays() {
        let mut calendar = ProfileCalendar::new(Vec::new());
        let mut class = SimConfig::default_class(CustomerClass::Industrial);
        class.shape = LoadShape::ShiftOperation;
        // 2026-01-12 is a Monday.
        let monday = CivilDate::new(2026, 1, 12).expect("a date");
        let mut week_kwh = 0.0;
        let mut day_kwh = [0.0; 7];
        for d in 0..7 {
            let date = CivilDate::from_days_since_epoch(monday.days_since_epoch() + d);
            for s in 0..SLOTS_PER_DAY {
                let kwh = class_kw_per_mwh_year(&mut calendar, &class, date, s) * 0.25;
                week_kwh += kwh;
                day_kwh[d as usize] += kwh;
            }
        }
        let year_kwh = week_kwh * 365.0 / 7.0;
        assert!((year_kwh - 1_000.0).abs() < 1.0, "{year_kwh}");
        assert!(
            day_kwh[0] > 2.4 * day_kwh[6],
            "workday {} Sunday {}",
            day_kwh[0],
            day_kwh[6]
        );
        assert!(day_kwh[5] > day_kwh[6] && day_kwh[5] < day_kwh[0]);
    }

    /// The opening-hours shape of large commercial premises: a week averages 1,000 kWh a year;
    /// on a workday the open hours take 2.5 times the night's base load; Saturday lies between
    /// a workday and a Sunday, which stays at the base load all day.
    #[test]
    fn a_week_of_opening_hours_averages_a_thousand_kwh_a_year_with_a_base_load_at_night() {
        let mut calendar = ProfileCalendar::new(Vec::new());
        let groups = load_group_parameters(
            &SimConfig::with_defaults(
                1,
                crate::time::CivilDateTime::parse("2026-01-12").expect("a date"),
                crate::time::SimDuration::from_days(1),
            )
            .classes,
        );
        let class = groups[INTERVAL_METERED_COMMERCIAL];
        assert_eq!(class.shape, LoadShape::OpeningHours);
        let monday = CivilDate::new(2026, 1, 12).expect("a date");
        let mut kw = |d: i64, s: usize| {
            let date = CivilDate::from_days_since_epoch(monday.days_since_epoch() + d);
            class_kw_per_mwh_year(&mut calendar, &class, date, s)
        };
        let mut week_kwh = 0.0;
        let mut day_kwh = [0.0; 7];
        for d in 0..7 {
            for s in 0..SLOTS_PER_DAY {
                let kwh = kw(d, s) * 0.25;
                week_kwh += kwh;
                day_kwh[d as usize] += kwh;
            }
        }
        let year_kwh = week_kwh * 365.0 / 7.0;
        assert!((year_kwh - 1_000.0).abs() < 1.0, "{year_kwh}");
        // Monday 12:00 against Monday 03:00 and Sunday 12:00.
        let (noon, night, sunday) = (kw(0, 48), kw(0, 12), kw(6, 48));
        assert!(
            (noon / night - 1.0 / OPENING_HOURS_BASE_SHARE).abs() < 1e-9,
            "{noon} {night}"
        );
        assert!((sunday - night).abs() < 1e-12);
        assert!(day_kwh[5] > day_kwh[6] && day_kwh[5] < day_kwh[0]);
    }

    #[test]
    fn only_commercial_premises_above_the_threshold_form_their_own_load_group() {
        assert_eq!(
            load_group(CustomerClass::Commercial, 30_000.0),
            CustomerClass::Commercial.index()
        );
        assert_eq!(
            load_group(CustomerClass::Commercial, 250_000.0),
            INTERVAL_METERED_COMMERCIAL
        );
        assert_eq!(
            load_group(CustomerClass::Industrial, 250_000.0),
            CustomerClass::Industrial.index()
        );
        assert_eq!(
            load_group(CustomerClass::Critical, 2_000_000.0),
            CustomerClass::Critical.index()
        );
        for group in 0..LOAD_GROUPS {
            let class = load_group_class(group);
            assert!(group == INTERVAL_METERED_COMMERCIAL || class.index() == group);
        }
    }
}
