//! BDEW standard load profiles, 1999 and 2025 editions: the reference shape of consumption per
//! customer class, period of the year and day type, in quarter-hours.
//!
//! The data is the product's own copy of `slp_1999.csv`, `h25.csv`, `g25.csv` and `l25.csv`
//! from the MIT-licensed Python package `demandlib` 0.2.2 (`bdew/bdew_data/`), itself the
//! public BDEW Standardlastprofile tables; see `sim/data/bdew/README.md`. The 1999 edition
//! (`H0`, `G0`..`G6`, `L0`..`L2`) has three periods (winter, summer, transition); the 2025
//! edition (`H25`, `G25`, `L25`, from measurements of 2018-2023) has one per calendar month.
//! Values are held as the average power in kW over a quarter-hour for a customer with 1,000 kWh
//! a year. The household profiles `H0` and `H25` are multiplied by the BDEW dynamisation factor
//! of the day of year (the 2025 household table is published undynamised, like the 1999 one:
//! its raw July days are larger than its January days, which only the factor turns round);
//! `G25` and `L25` are static, their seasons are in the monthly tables.
//!
//! One non-BDEW reference, `UsResidential`, makes a US-style area possible: the NREL/OpenEI
//! residential BASE load profile of St. Louis, Missouri, averaged per month and day type into
//! the 2025 edition's layout (`sim/data/us/README.md`, ODC-BY 1.0).
//!
//! [`ProfileCalendar`] adds what the raw table lacks: which day type a date is (with the
//! scenario's public holidays counted as Sundays) and a per-year normalisation, so that a
//! customer on any profile consumes exactly its annual energy over the calendar year.

use std::collections::BTreeMap;
use std::sync::OnceLock; // tidy: the load profile table, parsed once from constant data

use serde::{Deserialize, Serialize};

use crate::time::{CivilDate, DayType, Season};

/// Quarter-hours in a day.
pub const SLOTS_PER_DAY: usize = 96;

static SLP_1999_CSV: &str = include_str!("../data/bdew/slp_1999.csv");
static H25_CSV: &str = include_str!("../data/bdew/h25.csv");
static G25_CSV: &str = include_str!("../data/bdew/g25.csv");
static L25_CSV: &str = include_str!("../data/bdew/l25.csv");
static US_RESIDENTIAL_CSV: &str = include_str!("../data/us/openei-residential-st-louis.csv");

/// Profiles of the 1999 edition, in the column order of `slp_1999.csv`.
const EDITION_1999: usize = 11;

/// A BDEW standard load profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ProfileId {
    /// Household (dynamised).
    H0,
    /// Commercial, general.
    G0,
    /// Commercial, workdays 8-18 h.
    G1,
    /// Commercial, evening-heavy.
    G2,
    /// Commercial, continuous operation.
    G3,
    /// Shops and hairdressers.
    G4,
    /// Bakeries.
    G5,
    /// Weekend operation.
    G6,
    /// Agriculture, general.
    L0,
    /// Agriculture with dairy.
    L1,
    /// Other agriculture.
    L2,
    /// Household, 2025 edition (dynamised; monthly tables from measurements of 2018 and 2019).
    H25,
    /// Commercial, 2025 edition (static; monthly tables from measurements of 2022 and 2023).
    G25,
    /// Agriculture, 2025 edition (static; monthly tables derived from `L0`).
    L25,
    /// US residential reference (not BDEW): the NREL/OpenEI residential BASE load profile of a
    /// house with gas heating and electric cooling in St. Louis, Missouri (TMY3 weather),
    /// averaged per month and day type; static, with its summer cooling peak in the tables.
    UsResidential,
}

impl ProfileId {
    /// Every profile: the 1999 edition in table column order, the 2025 edition, then the
    /// non-BDEW references.
    pub const ALL: [ProfileId; 15] = [
        ProfileId::H0,
        ProfileId::G0,
        ProfileId::G1,
        ProfileId::G2,
        ProfileId::G3,
        ProfileId::G4,
        ProfileId::G5,
        ProfileId::G6,
        ProfileId::L0,
        ProfileId::L1,
        ProfileId::L2,
        ProfileId::H25,
        ProfileId::G25,
        ProfileId::L25,
        ProfileId::UsResidential,
    ];

    fn column(self) -> usize {
        self as usize
    }

    /// Whether the BDEW dynamisation factor applies (to the household profiles `H0` and `H25`).
    pub fn is_dynamised(self) -> bool {
        matches!(self, ProfileId::H0 | ProfileId::H25)
    }

    /// Whether the profile has one table per calendar month (the 2025 edition and the US
    /// reference) rather than one per season (the 1999 edition).
    pub fn is_monthly(self) -> bool {
        self.column() >= EDITION_1999
    }

    /// The profile's table for `date`: its season (1999 edition) or its month.
    fn period(self, date: CivilDate) -> usize {
        if self.is_monthly() {
            usize::from(date.month.clamp(1, 12) - 1)
        } else {
            season_index(date.season())
        }
    }
}

/// One profile's values: `[period][day type][slot]` in kW per 1,000 kWh/a.
type Periods = Vec<[[f32; SLOTS_PER_DAY]; 3]>;

/// The raw tables, per profile in [`ProfileId::ALL`] order.
struct Table {
    values: Vec<Periods>,
}

fn season_index(season: Season) -> usize {
    match season {
        Season::Winter => 0,
        Season::Summer => 1,
        Season::Transition => 2,
    }
}

fn day_type_index(day: DayType) -> usize {
    match day {
        DayType::Workday => 0,
        DayType::Saturday => 1,
        DayType::Sunday => 2,
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new(); // tidy: constant data, parsed once
    TABLE.get_or_init(|| {
        let mut values = parse_table(SLP_1999_CSV);
        for csv in [H25_CSV, G25_CSV, L25_CSV, US_RESIDENTIAL_CSV] {
            values.push(parse_monthly_table(csv));
        }
        Table { values }
    })
}

/// Parses one embedded monthly table (the 2025 edition's layout, which the US reference
/// shares): a header row of months (German names, or numbers 1 to 12), a row of day types (`WT` working day, `SA` Saturday, `FT` Sunday or holiday), then 96 rows of
/// kWh per quarter-hour for an annual consumption of 1,000,000 kWh, which is
/// `4 / 1,000` kW per 1,000 kWh/a.
fn parse_monthly_table(csv: &str) -> Periods {
    let mut values = vec![[[f32::NAN; SLOTS_PER_DAY]; 3]; 12];
    let mut lines = csv.lines();
    let months: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let day_types: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    const MONTHS: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    let columns: Vec<Option<(usize, usize)>> = months
        .iter()
        .zip(&day_types)
        .map(|(m, d)| {
            let month = match MONTHS.iter().position(|name| name == m) {
                Some(month) => month,
                None => m.parse::<usize>().ok().filter(|n| (1..=12).contains(n))? - 1,
            };
            let day = match *d {
                "WT" => 0,
                "SA" => 1,
                "FT" => 2,
                _ => return None,
            };
            Some((month, day))
        })
        .collect();
    for (slot, line) in lines.take(SLOTS_PER_DAY).enumerate() {
        for (field, column) in line.split(',').zip(&columns) {
            if let Some((month, day)) = column {
                values[*month][*day][slot] = field.trim().parse::<f32>().unwrap_or(f32::NAN) * 0.004;
            }
        }
    }
    values
}

/// Parses the embedded CSV. The file is part of the build and checked by a unit test, so a
/// malformed row is a programming error rather than user input.
fn parse_table(csv: &str) -> Vec<Periods> {
    let mut values = vec![vec![[[0.0f32; SLOTS_PER_DAY]; 3]; 3]; EDITION_1999];
    let mut slot_counter: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 3 + EDITION_1999 {
            continue;
        }
        let season = match fields[1] {
            "winter" => 0,
            "summer" => 1,
            "transition" => 2,
            _ => continue,
        };
        let day_type = match fields[2] {
            "6" => 1,
            "7" => 2,
            // Weekdays 1 to 5 share one profile in the 1999 tables.
            _ => 0,
        };
        let counter = slot_counter.entry((season, fields[2])).or_insert(0);
        let slot = *counter % SLOTS_PER_DAY;
        *counter += 1;
        for (p, column) in values.iter_mut().enumerate() {
            let v: f32 = fields[3 + p].parse().unwrap_or(f32::NAN);
            column[season][day_type][slot] = v;
        }
    }
    values
}

/// The raw BDEW value in kW per 1,000 kWh/a for a season, day type and quarter-hour, before
/// dynamisation. For a monthly profile the season stands for a month of it:
/// January (winter), July (summer) or April (transition); [`raw_kw_on`] takes the date.
pub fn raw_kw(profile: ProfileId, season: Season, day: DayType, slot: usize) -> f32 {
    let period = if profile.is_monthly() {
        match season {
            Season::Winter => 0,
            Season::Summer => 6,
            Season::Transition => 3,
        }
    } else {
        season_index(season)
    };
    table().values[profile.column()][period][day_type_index(day)][slot % SLOTS_PER_DAY]
}

/// The raw BDEW value in kW per 1,000 kWh/a on `date` (which selects the season or the month)
/// for day type `day` and quarter-hour `slot`, before dynamisation.
pub fn raw_kw_on(profile: ProfileId, date: CivilDate, day: DayType, slot: usize) -> f32 {
    table().values[profile.column()][profile.period(date)][day_type_index(day)][slot % SLOTS_PER_DAY]
}

/// The BDEW dynamisation factor for day of year `t` (1 to 366):
/// `F(t) = -3.92e-10 t^4 + 3.2e-7 t^3 - 7.02e-5 t^2 + 2.1e-3 t + 1.24`.
pub fn dynamisation_factor(day_of_year: u16) -> f64 {
    let t = f64::from(day_of_year);
    -3.92e-10 * t.powi(4) + 3.2e-7 * t.powi(3) - 7.02e-5 * t.powi(2) + 2.1e-3 * t + 1.24
}

/// Day types (with holidays) and per-year normalisation of the standard profiles.
#[derive(Debug, Clone, Default)]
pub struct ProfileCalendar {
    holidays: Vec<CivilDate>,
    /// `(profile, year)` -> factor that makes the profile's annual energy exactly 1,000 kWh.
    normalisation: BTreeMap<(ProfileId, i32), f64>,
}

impl ProfileCalendar {
    /// A calendar whose public holidays are `holidays` (treated as Sundays).
    pub fn new(mut holidays: Vec<CivilDate>) -> Self {
        holidays.sort();
        holidays.dedup();
        ProfileCalendar {
            holidays,
            normalisation: BTreeMap::new(),
        }
    }

    /// The day type of `date`.
    pub fn day_type(&self, date: CivilDate) -> DayType {
        if self.holidays.binary_search(&date).is_ok() {
            return DayType::Sunday;
        }
        match date.iso_weekday() {
            6 => DayType::Saturday,
            7 => DayType::Sunday,
            _ => DayType::Workday,
        }
    }

    /// The profile's power in kW for a customer with 1,000 kWh/a, on `date` in quarter-hour
    /// `slot`, dynamised and normalised so that the calendar year sums to exactly 1,000 kWh.
    pub fn kw_per_mwh_year(&mut self, profile: ProfileId, date: CivilDate, slot: usize) -> f64 {
        let norm = self.normalisation(profile, date.year);
        self.unnormalised_kw(profile, date, slot) * norm
    }

    fn unnormalised_kw(&self, profile: ProfileId, date: CivilDate, slot: usize) -> f64 {
        let raw = f64::from(raw_kw_on(profile, date, self.day_type(date), slot));
        if profile.is_dynamised() {
            raw * dynamisation_factor(date.day_of_year())
        } else {
            raw
        }
    }

    fn normalisation(&mut self, profile: ProfileId, year: i32) -> f64 {
        if let Some(&n) = self.normalisation.get(&(profile, year)) {
            return n;
        }
        let Some(jan1) = CivilDate::new(year, 1, 1) else {
            return 1.0;
        };
        let first = jan1.days_since_epoch();
        let mut kwh = 0.0;
        for d in 0..i64::from(jan1.days_in_year()) {
            let date = CivilDate::from_days_since_epoch(first + d);
            for slot in 0..SLOTS_PER_DAY {
                kwh += self.unnormalised_kw(profile, date, slot) * 0.25;
            }
        }
        let n = if kwh > 0.0 { 1000.0 / kwh } else { 1.0 };
        self.normalisation.insert((profile, year), n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_is_complete_and_matches_the_reference_mean() {
        let t = table();
        for p in ProfileId::ALL {
            let periods = &t.values[p.column()];
            assert_eq!(periods.len(), if p.is_monthly() { 12 } else { 3 }, "{p:?}");
            for period in periods {
                for day in period {
                    for (slot, &v) in day.iter().enumerate() {
                        assert!(v.is_finite() && v >= 0.0, "{p:?} {slot}: {v}");
                    }
                }
            }
        }
        // README: mean of h0 over all rows = 0.1142 kW (1,000 kWh / 8,760 h), weighting the
        // workday profile five times.
        let mut sum = 0.0;
        for s in [Season::Winter, Season::Summer, Season::Transition] {
            for (day, weight) in [
                (DayType::Workday, 5.0),
                (DayType::Saturday, 1.0),
                (DayType::Sunday, 1.0),
            ] {
                for slot in 0..SLOTS_PER_DAY {
                    sum += weight * f64::from(raw_kw(ProfileId::H0, s, day, slot));
                }
            }
        }
        let mean = sum / 2016.0;
        assert!((mean - 0.1142).abs() < 0.0005, "mean {mean}");
        // Spot values from the first rows of the file (summer, Monday).
        assert_eq!(raw_kw(ProfileId::H0, Season::Summer, DayType::Workday, 0), 0.08636);
        assert_eq!(raw_kw(ProfileId::G1, Season::Summer, DayType::Workday, 1), 0.02204);
        // The 2025 tables: kWh per quarter-hour per 1,000,000 kWh/a, as kW per 1,000 kWh/a
        // (first row: January Saturday, Sunday, working day; last column December working day).
        let jan = CivilDate::new(2026, 1, 15).expect("valid");
        assert_eq!(raw_kw_on(ProfileId::H25, jan, DayType::Saturday, 0), 22.152 * 0.004);
        assert_eq!(raw_kw_on(ProfileId::H25, jan, DayType::Workday, 0), 20.126 * 0.004);
        assert_eq!(raw_kw_on(ProfileId::G25, jan, DayType::Saturday, 0), 15.045 * 0.004);
        assert_eq!(raw_kw_on(ProfileId::L25, jan, DayType::Saturday, 0), 18.475 * 0.004);
        let dec = CivilDate::new(2026, 12, 15).expect("valid");
        assert_eq!(raw_kw_on(ProfileId::H25, dec, DayType::Workday, 0), 19.959 * 0.004);
        assert_eq!(
            raw_kw(ProfileId::H25, Season::Winter, DayType::Workday, 0),
            20.126 * 0.004
        );
        // The US reference: January working day, first quarter-hour; July peaks at 17:00.
        assert_eq!(
            raw_kw_on(ProfileId::UsResidential, jan, DayType::Workday, 0),
            19.755 * 0.004
        );
        let july = CivilDate::new(2026, 7, 15).expect("valid");
        let peak = (0..SLOTS_PER_DAY)
            .max_by(|&a, &b| {
                raw_kw_on(ProfileId::UsResidential, july, DayType::Workday, a).total_cmp(&raw_kw_on(
                    ProfileId::UsResidential,
                    july,
                    DayType::Workday,
                    b,
                ))
            })
            .unwrap_or_default();
        assert_eq!(peak / 4, 17);
    }

    #[test]
    fn dynamisation_and_normalisation_give_1000_kwh_a_year() {
        assert!((dynamisation_factor(1) - 1.2421).abs() < 0.001);
        assert!(dynamisation_factor(200) < 0.85);
        let mut cal = ProfileCalendar::new(vec![CivilDate::new(2026, 12, 25).expect("valid")]);
        assert_eq!(
            cal.day_type(CivilDate::new(2026, 12, 25).expect("valid")),
            DayType::Sunday
        );
        assert_eq!(
            cal.day_type(CivilDate::new(2026, 12, 26).expect("valid")),
            DayType::Saturday
        );
        for p in [
            ProfileId::H0,
            ProfileId::G0,
            ProfileId::G3,
            ProfileId::H25,
            ProfileId::G25,
            ProfileId::L25,
            ProfileId::UsResidential,
        ] {
            let jan1 = CivilDate::new(2026, 1, 1).expect("valid").days_since_epoch();
            let mut kwh = 0.0;
            for d in 0..365 {
                let date = CivilDate::from_days_since_epoch(jan1 + d);
                for slot in 0..SLOTS_PER_DAY {
                    kwh += cal.kw_per_mwh_year(p, date, slot) * 0.25;
                }
            }
            assert!((kwh - 1000.0).abs() < 1e-6, "{p:?}: {kwh}");
            // The normalisation only corrects rounding and calendar effects: a few percent.
            let n = cal.normalisation(p, 2026);
            assert!((0.95..1.05).contains(&n), "{p:?}: {n}");
        }
    }
}
