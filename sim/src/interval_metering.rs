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

use serde::{Deserialize, Serialize};

use crate::model::ClassConsumption;
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
}

/// Relative load of the shift-operation shape on a day type at quarter-hour `slot`, before
/// normalisation (full load 1).
fn shift_operation_level(day: DayType, slot: usize) -> f64 {
    const NIGHT: f64 = 0.35;
    let hour = slot as f64 / 4.0;
    // A ramp of an hour from `level_from` to `level_to` starting at `at`.
    let ramp = |at: f64, level_from: f64, level_to: f64| {
        let t = ((hour - at) / 1.0).clamp(0.0, 1.0);
        level_from + (level_to - level_from) * t
    };
    match day {
        DayType::Workday => {
            if hour < 12.0 {
                ramp(5.0, NIGHT, 1.0)
            } else {
                ramp(21.0, 1.0, NIGHT)
            }
        }
        DayType::Saturday => {
            if hour < 10.0 {
                ramp(5.0, NIGHT, 0.7)
            } else {
                ramp(13.0, 0.7, NIGHT)
            }
        }
        DayType::Sunday => 0.3,
    }
}

/// Mean relative level of the shift-operation shape over a week of five workdays, a Saturday
/// and a Sunday.
fn shift_operation_week_mean() -> f64 {
    let day_sum = |day: DayType| (0..SLOTS_PER_DAY).map(|s| shift_operation_level(day, s)).sum::<f64>();
    (5.0 * day_sum(DayType::Workday) + day_sum(DayType::Saturday) + day_sum(DayType::Sunday))
        / (7.0 * SLOTS_PER_DAY as f64)
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
    match class.shape {
        LoadShape::StandardProfile => calendar.kw_per_mwh_year(class.profile, date, slot),
        LoadShape::ShiftOperation => {
            let mean_kw = 1_000.0 / 8_760.0;
            mean_kw * shift_operation_level(calendar.day_type(date), slot) / shift_operation_week_mean()
        }
    }
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
}
