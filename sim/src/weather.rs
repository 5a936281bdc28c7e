//! The weather of the scenario's dates: a deterministic daily mean temperature for each date,
//! from a named climate's normal annual cycle plus a seeded day-to-day deviation, and the
//! heating and cooling degree-days that drive the weather-sensitive part of consumption.
//!
//! The normal temperature of a date is a cosine fit to the climate's monthly normals:
//! `T_n(t) = mean - amplitude cos(2 pi (t - coldest_day) / 365.25)`, with `t` the day of the
//! year. The deviation from it is an AR(1) process over days, `e_d = phi e_(d-1) +
//! sigma sqrt(1 - phi^2) z_d`, with `z_d` standard normal from the stream keyed by (seed,
//! [`Purpose::Weather`], day number). So that a date has the same temperature whatever day a
//! run starts on, the process for a date is run over the [`MEMORY_DAYS`] days before it,
//! starting from its stationary law; the weight left on older days (`phi^60`, below 2e-6 at
//! `phi = 0.8`) is negligible.
//!
//! Everything here is computed per day, never per meter or interval.

use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::rng::{Purpose, Stream};
use crate::time::CivilDate;

/// How many days before a date its temperature deviation depends on.
pub const MEMORY_DAYS: i64 = 60;

/// Standard deviation of the daily mean temperature's deviation from the normal, K
/// (assumption: the order of day-to-day anomalies of daily mean temperature in mid-latitude
/// climates, 2-4 K).
pub const DEVIATION_SIGMA_K: f64 = 3.0;

/// Lag-1 (day-to-day) autocorrelation of the deviation (assumption: weather regimes persist for
/// several days; the lag-1 autocorrelation of daily temperature anomalies is typically 0.7-0.85).
pub const DEVIATION_PERSISTENCE: f64 = 0.8;

/// A named climate whose normal annual temperature cycle drives heating and cooling.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Climate {
    /// Germany, area mean of the DWD 1991-2020 normals: annual mean 9.3 °C, January 0.9 °C,
    /// July 18.3 °C; heating degree-days below 15 °C (the German heating limit of VDI 4710 /
    /// the Gradtagzahl G20/15), cooling degree-days above 18.3 °C.
    #[default]
    Germany,
    /// St. Louis, Missouri (NOAA/NWS 1991-2020 normals at Lambert airport: annual mean 13.9 °C
    /// (57.1 °F), daily normal mean about 0 °C (32 °F) in late January, July 26.7 °C
    /// (80.0 °F)); heating and cooling degree-days around 18.3 °C (65 °F, the US convention).
    StLouis,
}

/// The parameters of a climate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClimateNormals {
    /// Annual mean of the daily mean temperature, °C.
    pub mean_c: f64,
    /// Half the difference between the warmest and the coldest normal daily mean, K.
    pub amplitude_k: f64,
    /// Day of the year of the coldest normal day.
    pub coldest_day: f64,
    /// Heating degree-days count the daily mean below this, °C.
    pub heating_base_c: f64,
    /// Cooling degree-days count the daily mean above this, °C.
    pub cooling_base_c: f64,
}

impl Climate {
    /// The climate's normals.
    pub fn normals(self) -> ClimateNormals {
        match self {
            // DWD area mean 1991-2020: January 0.9 °C, July 18.3 °C, year 9.3 °C.
            Climate::Germany => ClimateNormals {
                mean_c: 9.3,
                amplitude_k: 8.7,
                coldest_day: 15.0,
                heating_base_c: 15.0,
                cooling_base_c: 18.3,
            },
            // NOAA/NWS St. Louis 1991-2020: year 13.9 °C, January about 0.5 °C, July 26.7 °C.
            Climate::StLouis => ClimateNormals {
                mean_c: 13.9,
                amplitude_k: 13.1,
                coldest_day: 18.0,
                heating_base_c: 18.3,
                cooling_base_c: 18.3,
            },
        }
    }

    /// The normal daily mean temperature of `date`, °C.
    pub fn normal_c(self, date: CivilDate) -> f64 {
        let n = self.normals();
        let phase = 2.0 * std::f64::consts::PI * (f64::from(date.day_of_year()) - n.coldest_day) / 365.25;
        n.mean_c - n.amplitude_k * phase.cos()
    }

    /// The daily mean temperature of `date` in the run with seed `seed`, °C: the normal plus the
    /// seeded deviation.
    pub fn daily_mean_c(self, seed: u64, date: CivilDate) -> f64 {
        self.normal_c(date) + deviation_k(seed, date)
    }

    /// Heating and cooling degree-days of a day whose mean temperature is `t_c`, K·d.
    pub fn degree_days(self, t_c: f64) -> (f64, f64) {
        let n = self.normals();
        ((n.heating_base_c - t_c).max(0.0), (t_c - n.cooling_base_c).max(0.0))
    }

    /// The expected heating and cooling degree-days of `date` over the weather's spread (the
    /// normal's degree-days are not the expected ones where the normal lies near a base), K·d.
    pub fn normal_degree_days(self, date: CivilDate) -> (f64, f64) {
        let n = self.normals();
        let mu = self.normal_c(date);
        (
            expected_shortfall(n.heating_base_c - mu, DEVIATION_SIGMA_K),
            expected_shortfall(mu - n.cooling_base_c, DEVIATION_SIGMA_K),
        )
    }

    /// The expected heating and cooling degree-days of calendar year `year`, K·d.
    pub fn normal_degree_days_of_year(self, year: i32) -> (f64, f64) {
        let Some(jan1) = CivilDate::new(year, 1, 1) else {
            return (0.0, 0.0);
        };
        let first = jan1.days_since_epoch();
        (0..i64::from(jan1.days_in_year()))
            .map(|d| self.normal_degree_days(CivilDate::from_days_since_epoch(first + d)))
            .fold((0.0, 0.0), |(h, c), (dh, dc)| (h + dh, c + dc))
    }
}

/// `E[max(0, m + sigma Z)]` for a standard normal `Z`.
fn expected_shortfall(m: f64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return m.max(0.0);
    }
    let x = m / sigma;
    let density = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    m * crate::rng::normal_cdf(x) + sigma * density
}

/// The seeded deviation of `date`'s daily mean temperature from the normal, K.
pub fn deviation_k(seed: u64, date: CivilDate) -> f64 {
    let day = date.days_since_epoch();
    let z = |d: i64| -> f64 {
        let mut stream = Stream::new(seed, Purpose::Weather, d as u64, 0);
        StandardNormal.sample(&mut stream)
    };
    let phi = DEVIATION_PERSISTENCE;
    let innovation = DEVIATION_SIGMA_K * (1.0 - phi * phi).sqrt();
    let mut e = DEVIATION_SIGMA_K * z(day - MEMORY_DAYS);
    for d in day - MEMORY_DAYS + 1..=day {
        e = phi * e + innovation * z(d);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_cycle_matches_the_monthly_normals_and_the_weather_is_deterministic() {
        let mid = |m: u8| CivilDate::new(2026, m, 15).expect("valid");
        let germany = Climate::Germany;
        assert!(
            (germany.normal_c(mid(1)) - 0.6).abs() < 0.5,
            "{}",
            germany.normal_c(mid(1))
        );
        assert!(
            (germany.normal_c(mid(7)) - 18.0).abs() < 0.5,
            "{}",
            germany.normal_c(mid(7))
        );
        // Expected degree-days of a German year: the order of the published Gradtagzahlen
        // (about 3,000-3,500 K d below 15 °C counted from 20 °C; here counted from 15 °C).
        let (hdd, cdd) = germany.normal_degree_days_of_year(2026);
        assert!((1_700.0..2_600.0).contains(&hdd), "{hdd}");
        assert!((20.0..300.0).contains(&cdd), "{cdd}");
        let (hdd, cdd) = Climate::StLouis.normal_degree_days_of_year(2026);
        // NOAA St. Louis normals: about 4,500 °F d heating and 1,600 °F d cooling (÷ 1.8).
        assert!((2_000.0..3_000.0).contains(&hdd), "{hdd}");
        assert!((600.0..1_200.0).contains(&cdd), "{cdd}");
        // Same seed and date, same temperature; the deviation is centred with the set spread
        // and persists from day to day.
        let date = mid(1);
        assert_eq!(germany.daily_mean_c(3, date), germany.daily_mean_c(3, date));
        let first = date.days_since_epoch();
        let e: Vec<f64> = (0..3_000)
            .map(|d| deviation_k(3, CivilDate::from_days_since_epoch(first + d)))
            .collect();
        let n = e.len() as f64;
        let mean = e.iter().sum::<f64>() / n;
        let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let lag1 = e.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / (n - 1.0) / (sd * sd);
        assert!(mean.abs() < 0.5, "{mean}");
        assert!((sd - DEVIATION_SIGMA_K).abs() < 0.3, "{sd}");
        assert!((lag1 - DEVIATION_PERSISTENCE).abs() < 0.05, "{lag1}");
    }
}
