//! When an attack step happens, as a scenario file writes it.
//!
//! | written | means |
//! | --- | --- |
//! | `"1d 18:00"` | day 1 of the run (day 0 is the start date) at 18:00 on the clock |
//! | `"0d peak"` | the quarter-hour of day 0 with the highest expected fleet load |
//! | `"6h"`, `"2h30m"`, `"90m"` | that long after the scenario starts |
//! | `"2026-01-15T18:00"` | that calendar instant |

use crate::FieldError;
use amirange_sim::config::INTERVAL;
use amirange_sim::engine::Sim;
use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};

/// A parsed time, still to be resolved against the run where it depends on the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// A fixed instant.
    At(SimTime),
    /// The start of the quarter-hour with the highest expected load on day `day` of the run.
    Peak {
        /// Day of the run, 0 for the start date.
        day: u32,
    },
}

const DAY_US: u64 = 86_400_000_000;

/// Parses `text` for a run that starts at `start` and lasts `horizon`. The error says what is
/// accepted.
pub fn parse(text: &str, start: CivilDateTime, horizon: SimTime) -> Result<When, String> {
    let t = text.trim();
    let help = "write \"1d 18:00\" (day of the run and clock time), \"0d peak\", an offset such as \"6h\", \
                or a date and time such as \"2026-01-15T18:00\"";
    let start_sod_us = u64::from(start.second_of_day) * 1_000_000;
    let when = if let Some(day) = t.strip_suffix("peak") {
        let day = day.trim();
        let n: u32 = day
            .strip_suffix('d')
            .and_then(|d| d.trim().parse().ok())
            .ok_or_else(|| format!("cannot read {text:?}: {help}"))?;
        let day_start = u64::from(n).saturating_mul(DAY_US);
        if day_start.saturating_add(DAY_US) <= start_sod_us || day_start.saturating_sub(start_sod_us) >= horizon.0 {
            return Err(format!("day {n} is not within the run"));
        }
        When::Peak { day: n }
    } else if t.len() >= 10 && t.as_bytes()[4] == b'-' {
        let at = CivilDateTime::parse(t).ok_or_else(|| format!("cannot read {text:?}: {help}"))?;
        let days = at.date.days_since_epoch() - start.date.days_since_epoch();
        let us =
            days as i128 * i128::from(DAY_US) + i128::from(at.second_of_day) * 1_000_000 - i128::from(start_sod_us);
        if us < 0 {
            return Err(format!("{text:?} is before the scenario starts ({start})"));
        }
        When::At(SimTime(us as u64))
    } else if t.contains(':') {
        // Day of the run at a clock time.
        let (day, clock) = t
            .split_once(' ')
            .ok_or_else(|| format!("cannot read {text:?}: {help}"))?;
        let n: u64 = day
            .strip_suffix('d')
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("cannot read {text:?}: {help}"))?;
        let clock = SimDuration::parse(clock).map_err(|e| format!("cannot read {text:?}: {e}; {help}"))?;
        let us = n
            .checked_mul(DAY_US)
            .and_then(|d| d.checked_add(clock.as_micros()))
            .ok_or_else(|| format!("{text:?} is at or after the end of the run"))?;
        if us < start_sod_us {
            return Err(format!("{text:?} is before the scenario starts ({start})"));
        }
        When::At(SimTime(us - start_sod_us))
    } else {
        let d = SimDuration::parse(t).map_err(|e| format!("cannot read {text:?}: {e}; {help}"))?;
        When::At(SimTime(d.as_micros()))
    };
    if let When::At(at) = when
        && at >= horizon
    {
        return Err(format!("{text:?} is at or after the end of the run"));
    }
    Ok(when)
}

/// A field that must be an instant, not a peak (an `until`, a window's edge), within
/// `horizon`.
pub fn instant(field: &str, text: &str, start: CivilDateTime, horizon: SimTime) -> Result<SimTime, FieldError> {
    match parse(text, start, horizon) {
        Ok(When::At(t)) => Ok(t),
        Ok(When::Peak { .. }) => Err(FieldError::new(field, "must be a time, not a peak")),
        Err(e) => Err(FieldError::new(field, e)),
    }
}

/// An optional end (`until`) that must be an instant after `at` (checked here when `at` is an
/// instant too; attacks check a peak start once it is resolved).
pub fn end_after(
    field: &str,
    text: Option<&str>,
    at: When,
    start: CivilDateTime,
    horizon: SimTime,
) -> Result<Option<SimTime>, FieldError> {
    let Some(text) = text else { return Ok(None) };
    let end = instant(field, text, start, horizon)?;
    if let When::At(a) = at
        && end <= a
    {
        return Err(FieldError::new(field, "must be after `at`"));
    }
    Ok(Some(end))
}

/// A duration field (`spacing`, `hop_delay`, a burst's `on` or `off`): readable, and no longer
/// than the run, so that adding it to a time within the run cannot overflow.
pub fn duration(field: &str, text: &str, horizon: SimTime) -> Result<SimDuration, FieldError> {
    let d = SimDuration::parse(text).map_err(|e| FieldError::new(field, e.to_string()))?;
    if d.as_micros() > horizon.0 {
        return Err(FieldError::new(field, format!("{text:?} is longer than the run")));
    }
    Ok(d)
}

impl When {
    /// The instant, given the run (peaks are found from the fleet's expected load).
    pub fn resolve(self, sim: &Sim) -> SimTime {
        match self {
            When::At(t) => t,
            When::Peak { day } => {
                let start_sod = u64::from(sim.config().start.second_of_day) * 1_000_000;
                let interval = INTERVAL.as_micros();
                let from = (u64::from(day) * DAY_US).saturating_sub(start_sod).div_ceil(interval);
                let to = ((u64::from(day) + 1) * DAY_US - start_sod).div_ceil(interval);
                let last = sim.horizon().0 / interval;
                let slots = (from..to.min(last)).map(|s| s as u32);
                let mut best = (from as u32, f64::MIN);
                for s in slots {
                    let kw = sim.expected_kw(s);
                    if kw > best.1 {
                        best = (s, kw);
                    }
                }
                SimTime(u64::from(best.0) * interval)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(text: &str) -> CivilDateTime {
        CivilDateTime::parse(text).expect("valid")
    }

    #[test]
    fn forms_are_read_relative_to_the_start() {
        let midnight = start("2026-01-15T00:00");
        let horizon = SimTime(3 * DAY_US);
        let h = |h: u64| SimTime(h * 3_600_000_000);
        assert_eq!(parse("1d 18:00", midnight, horizon), Ok(When::At(h(42))));
        assert_eq!(parse("6h", midnight, horizon), Ok(When::At(h(6))));
        assert_eq!(parse("2026-01-16T06:00", midnight, horizon), Ok(When::At(h(30))));
        assert_eq!(parse("2d peak", midnight, horizon), Ok(When::Peak { day: 2 }));
        // A start at 06:00: "0d 18:00" is twelve hours in; "0d 05:00" is before the start.
        let six = start("2026-01-15T06:00");
        assert_eq!(parse("0d 18:00", six, horizon), Ok(When::At(h(12))));
        assert!(parse("0d 05:00", six, horizon).is_err());
        assert!(parse("2026-01-14T23:00", midnight, horizon).is_err());
        assert!(
            parse("3d 00:00", midnight, horizon)
                .expect_err("invalid")
                .contains("end of the run")
        );
        assert!(parse("5d peak", midnight, horizon).is_err());
        assert!(
            parse("tomorrow", midnight, horizon)
                .expect_err("invalid")
                .contains("1d 18:00")
        );
    }
}
