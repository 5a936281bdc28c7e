//! Simulated time: [`SimTime`] (microseconds since the scenario start), [`SimDuration`], and the
//! civil calendar ([`CivilDateTime`]) that tells season, weekday and hour for any instant.
//!
//! Nothing here reads the wall clock. The scenario fixes a calendar start; every instant is an
//! offset from it. Time zones and daylight saving are not modelled: the calendar is local
//! standard time, as in the BDEW profiles.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// Microseconds in one second.
pub const MICROS_PER_SECOND: u64 = 1_000_000;
/// Microseconds in one minute.
pub const MICROS_PER_MINUTE: u64 = 60 * MICROS_PER_SECOND;
/// Microseconds in one hour.
pub const MICROS_PER_HOUR: u64 = 60 * MICROS_PER_MINUTE;
/// Microseconds in one day.
pub const MICROS_PER_DAY: u64 = 24 * MICROS_PER_HOUR;

/// An instant of simulated time: microseconds since the scenario start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SimTime(pub u64);

/// A span of simulated time in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The scenario start.
    pub const ZERO: SimTime = SimTime(0);

    /// Microseconds since the scenario start.
    pub fn as_micros(self) -> u64 {
        self.0
    }

    /// The duration elapsed since the scenario start.
    pub fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);

    /// A duration of `n` microseconds.
    pub const fn from_micros(n: u64) -> Self {
        SimDuration(n)
    }
    /// A duration of `n` milliseconds.
    pub const fn from_millis(n: u64) -> Self {
        SimDuration(n * 1_000)
    }
    /// A duration of `n` seconds.
    pub const fn from_secs(n: u64) -> Self {
        SimDuration(n * MICROS_PER_SECOND)
    }
    /// A duration of `n` minutes.
    pub const fn from_minutes(n: u64) -> Self {
        SimDuration(n * MICROS_PER_MINUTE)
    }
    /// A duration of `n` hours.
    pub const fn from_hours(n: u64) -> Self {
        SimDuration(n * MICROS_PER_HOUR)
    }
    /// A duration of `n` days.
    pub const fn from_days(n: u64) -> Self {
        SimDuration(n * MICROS_PER_DAY)
    }
    /// Length in microseconds.
    pub fn as_micros(self) -> u64 {
        self.0
    }
    /// Length in seconds, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SECOND as f64
    }
    /// Length in hours, as a float.
    pub fn as_hours_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_HOUR as f64
    }

    /// Parses a duration such as `"15m"`, `"1d"`, `"2h30m"`, `"90s"`, `"1d 18:00"` or
    /// `"18:00:30"`. Units: `d`, `h`, `m`, `s`, `ms`, `us`. A trailing `HH:MM[:SS]` adds hours,
    /// minutes and seconds, so `"1d 18:00"` is the second day at 18:00 when used as an offset from
    /// a midnight start.
    pub fn parse(text: &str) -> Result<SimDuration, DurationParseError> {
        let err = |reason: &'static str| DurationParseError {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err("empty duration"));
        }
        let mut total: u64 = 0;
        for part in trimmed.split_whitespace() {
            if part.contains(':') {
                total = total
                    .checked_add(parse_clock(part).ok_or_else(|| err("expected HH:MM or HH:MM:SS"))?)
                    .ok_or_else(|| err("duration overflows"))?;
                continue;
            }
            let bytes = part.as_bytes();
            let mut pos = 0;
            while pos < bytes.len() {
                let digits_start = pos;
                while pos < bytes.len() && (bytes[pos].is_ascii_digit() || bytes[pos] == b'_') {
                    pos += 1;
                }
                if digits_start == pos {
                    return Err(err("expected a number before the unit"));
                }
                let number: u64 = part[digits_start..pos]
                    .replace('_', "")
                    .parse()
                    .map_err(|_| err("number too large"))?;
                let unit_start = pos;
                while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
                    pos += 1;
                }
                let unit = match &part[unit_start..pos] {
                    "d" => MICROS_PER_DAY,
                    "h" => MICROS_PER_HOUR,
                    "m" | "min" => MICROS_PER_MINUTE,
                    "s" => MICROS_PER_SECOND,
                    "ms" => 1_000,
                    "us" => 1,
                    "" => return Err(err("missing unit (use d, h, m, s, ms or us)")),
                    _ => return Err(err("unknown unit (use d, h, m, s, ms or us)")),
                };
                total = number
                    .checked_mul(unit)
                    .and_then(|v| total.checked_add(v))
                    .ok_or_else(|| err("duration overflows"))?;
            }
        }
        Ok(SimDuration(total))
    }
}

fn parse_clock(part: &str) -> Option<u64> {
    let fields: Vec<&str> = part.split(':').collect();
    if !(2..=3).contains(&fields.len()) {
        return None;
    }
    let hours: u64 = fields[0].parse().ok()?;
    let minutes: u64 = fields[1].parse().ok()?;
    let seconds: u64 = match fields.get(2) {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(hours * MICROS_PER_HOUR + minutes * MICROS_PER_MINUTE + seconds * MICROS_PER_SECOND)
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return write!(f, "0s");
        }
        for (unit, name) in [
            (MICROS_PER_DAY, "d"),
            (MICROS_PER_HOUR, "h"),
            (MICROS_PER_MINUTE, "m"),
            (MICROS_PER_SECOND, "s"),
            (1_000, "ms"),
            (1, "us"),
        ] {
            if rest >= unit {
                write!(f, "{}{}", rest / unit, name)?;
                rest %= unit;
            }
        }
        Ok(())
    }
}

/// A duration string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}")]
pub struct DurationParseError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0 + rhs.0)
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        self.0 += rhs.0;
    }
}
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, rhs: SimTime) -> SimDuration {
        SimDuration(self.0 - rhs.0)
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0 + rhs.0)
    }
}

/// A calendar date (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDate {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day: u8,
}

/// The day type the BDEW profiles distinguish. Public holidays count as [`DayType::Sunday`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DayType {
    /// Monday to Friday, not a holiday.
    Workday,
    /// Saturday, not a holiday.
    Saturday,
    /// Sunday or a public holiday.
    Sunday,
}

/// The BDEW season periods: winter 1 Nov - 20 Mar, summer 15 May - 14 Sep, transition otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Season {
    /// 1 November to 20 March.
    Winter,
    /// 15 May to 14 September.
    Summer,
    /// 21 March to 14 May and 15 September to 31 October.
    Transition,
}

impl CivilDate {
    /// A date, checked for range.
    pub fn new(year: i32, month: u8, day: u8) -> Option<CivilDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(CivilDate { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<CivilDate> {
        let mut it = text.trim().split('-');
        let year = it.next()?.parse().ok()?;
        let month = it.next()?.parse().ok()?;
        let day = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        CivilDate::new(year, month, day)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> CivilDate {
        let z = days + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        CivilDate {
            year: (y + i64::from(m <= 2)) as i32,
            month: m,
            day: d,
        }
    }

    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    pub fn iso_weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (4).
        ((self.days_since_epoch() + 3).rem_euclid(7) + 1) as u8
    }

    /// Day of the year, 1 for 1 January.
    pub fn day_of_year(self) -> u16 {
        let jan1 = CivilDate {
            year: self.year,
            month: 1,
            day: 1,
        };
        (self.days_since_epoch() - jan1.days_since_epoch() + 1) as u16
    }

    /// The BDEW season period of this date.
    pub fn season(self) -> Season {
        let md = (self.month, self.day);
        if md >= (11, 1) || md <= (3, 20) {
            Season::Winter
        } else if ((5, 15)..=(9, 14)).contains(&md) {
            Season::Summer
        } else {
            Season::Transition
        }
    }

    /// Number of days in this date's year.
    pub fn days_in_year(self) -> u16 {
        if is_leap(self.year) { 366 } else { 365 }
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A local calendar date and time of day, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDateTime {
    /// The date.
    pub date: CivilDate,
    /// Seconds since midnight, 0 to 86,399.
    pub second_of_day: u32,
}

impl CivilDateTime {
    /// Parses `YYYY-MM-DDTHH:MM[:SS]` or `YYYY-MM-DD` (midnight).
    pub fn parse(text: &str) -> Option<CivilDateTime> {
        let text = text.trim();
        let (date_part, time_part) = match text.split_once(['T', ' ']) {
            Some((d, t)) => (d, Some(t)),
            None => (text, None),
        };
        let date = CivilDate::parse(date_part)?;
        let second_of_day = match time_part {
            Some(t) => (parse_clock(t)? / MICROS_PER_SECOND) as u32,
            None => 0,
        };
        Some(CivilDateTime { date, second_of_day })
    }

    /// Seconds since 1970-01-01T00:00:00, the civil time taken as UTC (negative before).
    pub fn unix_seconds(self) -> i64 {
        self.date.days_since_epoch() * 86_400 + i64::from(self.second_of_day)
    }

    /// The instant `offset` after this one.
    pub fn plus(self, offset: SimDuration) -> CivilDateTime {
        let total_secs = u64::from(self.second_of_day) + offset.0 / MICROS_PER_SECOND;
        let days = (total_secs / 86_400) as i64;
        CivilDateTime {
            date: CivilDate::from_days_since_epoch(self.date.days_since_epoch() + days),
            second_of_day: (total_secs % 86_400) as u32,
        }
    }
}

impl fmt::Display for CivilDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.second_of_day;
        write!(f, "{}T{:02}:{:02}:{:02}", self.date, s / 3600, (s / 60) % 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_form() {
        let cases = [
            ("15m", SimDuration::from_minutes(15)),
            ("1d", SimDuration::from_days(1)),
            ("2h30m", SimDuration::from_minutes(150)),
            ("90s", SimDuration::from_secs(90)),
            ("1d 18:00", SimDuration::from_hours(42)),
            ("18:00:30", SimDuration::from_secs(18 * 3600 + 30)),
            ("250ms", SimDuration::from_micros(250_000)),
            ("1_000us", SimDuration::from_micros(1000)),
        ];
        for (text, expected) in cases {
            assert_eq!(SimDuration::parse(text), Ok(expected), "{text}");
        }
        for bad in ["", "15", "m", "3x", "25:00", "1d 18", "-1d"] {
            assert!(SimDuration::parse(bad).is_err(), "{bad} should not parse");
        }
        assert_eq!(SimDuration::from_minutes(150).to_string(), "2h30m");
    }

    #[test]
    fn calendar_arithmetic_matches_known_dates() {
        let d = CivilDate::new(2026, 1, 15).expect("valid");
        assert_eq!(d.iso_weekday(), 4, "2026-01-15 is a Thursday");
        assert_eq!(d.day_of_year(), 15);
        assert_eq!(d.season(), Season::Winter);
        let leap = CivilDate::new(2024, 12, 31).expect("valid");
        assert_eq!(leap.day_of_year(), 366);
        assert_eq!(
            CivilDate::from_days_since_epoch(leap.days_since_epoch() + 1).to_string(),
            "2025-01-01"
        );
        assert_eq!(CivilDate::new(2026, 7, 1).expect("valid").season(), Season::Summer);
        assert_eq!(CivilDate::new(2026, 4, 1).expect("valid").season(), Season::Transition);
        assert!(CivilDate::new(2026, 2, 29).is_none());
        let start = CivilDateTime::parse("2026-01-15T00:00:00").expect("valid");
        assert_eq!(
            start.plus(SimDuration::from_hours(42)).to_string(),
            "2026-01-16T18:00:00"
        );
        assert!(CivilDateTime::parse("2026-13-01").is_none());
    }
}
