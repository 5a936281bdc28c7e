//! Numbers for people: what the printed summaries, the matrix table and the reports show. The
//! result files keep full precision; only what a person reads goes through here.

/// `digits` (an unsigned whole number's digits) with a comma between thousands:
/// `"1234567"` -> `"1,234,567"`.
fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count with thousands grouped: `1234567` -> `"1,234,567"`.
pub fn group(n: u64) -> String {
    group_digits(&n.to_string())
}

/// A number with `places` decimals and thousands grouped: `(12345.678, 1)` -> `"12,345.7"`.
/// A negative number that rounds to zero loses its sign (`(-0.01, 1)` -> `"0.0"`).
pub fn decimal(x: f64, places: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let text = format!("{:.*}", places, x.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&group_digits(whole));
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A measure of any size: three significant digits below 100, whole numbers (grouped) above:
/// `95.764583` -> `"95.8"`, `0.012345` -> `"0.0123"`, `123456.7` -> `"123,457"`.
pub fn human(x: f64) -> String {
    let a = x.abs();
    let places = if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // Three significant digits below 1, at most six decimals.
        (2 - a.log10().floor() as i64).clamp(3, 6) as usize
    };
    decimal(x, places)
}

/// A measure as the reports show it: whole numbers grouped by thousands (`2,829,651`); a
/// fractional one (`fractional`: it was written with a decimal point) to four significant
/// digits and at most three decimals, trailing zeros dropped (`98.87`, `0.857`, `49.95`).
pub fn significant(x: f64, fractional: bool) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let decimals = if fractional && x != 0.0 {
        (3 - x.abs().log10().floor() as i32).clamp(0, 3) as usize
    } else {
        0
    };
    let text = format!("{:.*}", decimals, x.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let fraction = fraction.trim_end_matches('0');
    let grouped = group_digits(whole);
    let sign = if x < 0.0 && (grouped != "0" || !fraction.is_empty()) {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    }
}

/// A duration in the unit a person reads it in, for the run summary: seconds below a minute
/// and a half (`"45 s"`), minutes below an hour and a half (`"12 min"`), hours with one decimal
/// above (`"2.5 h"`).
pub fn duration_words(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 5400.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// A duration for a table column, switching units later than [`duration_words`] so that a
/// column of short times stays in one unit: seconds below two minutes (`"45 s"`), minutes
/// below two hours (`"100 min"`), hours with one decimal above (`"3.5 h"`).
pub fn duration_column(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_numbers_are_formatted_for_people() {
        assert_eq!(human(95.764583), "95.8");
        assert_eq!(human(0.012345), "0.0123");
        assert_eq!(human(123456.7), "123,457");
        assert_eq!(human(-1234.6), "-1,235");
        assert_eq!(human(0.0), "0");
        assert_eq!(decimal(12345.678, 1), "12,345.7");
        assert_eq!(decimal(-0.01, 1), "0.0");
        assert_eq!(decimal(999.96, 1), "1,000.0");
        assert_eq!(decimal(f64::NAN, 1), "NaN");
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(duration_words(45.0), "45 s");
        assert_eq!(duration_words(720.0), "12 min");
        assert_eq!(duration_words(9000.0), "2.5 h");
        assert_eq!(duration_column(100.0), "100 s");
        assert_eq!(duration_column(6000.0), "100 min");
        assert_eq!(duration_column(12_600.0), "3.5 h");
    }

    #[test]
    fn report_measures_keep_four_significant_digits_and_group_whole_numbers() {
        assert_eq!(significant(2_829_651.309_53, true), "2,829,651");
        assert_eq!(significant(98.871146, true), "98.87");
        assert_eq!(significant(0.857142, true), "0.857");
        assert_eq!(significant(-1234.6, true), "-1,235");
        assert_eq!(significant(0.0004, true), "0");
        assert_eq!(significant(-0.0001, true), "0");
        assert_eq!(significant(1_234_567.0, false), "1,234,567");
        assert_eq!(significant(0.0, true), "0");
    }
}
