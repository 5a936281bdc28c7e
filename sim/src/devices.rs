//! Devices behind the meter: rooftop PV, an electric-vehicle charger and a heat pump, each with
//! its own profile, owned by a share of each class's premises.
//!
//! - **PV** generates `kWp x clear-sky output x the day's clearness` at each quarter-hour, from
//!   the sun's elevation at the climate's latitude (declination and hour angle of the date and
//!   slot, local standard time, no equation of time) through the Haurwitz clear-sky irradiance,
//!   times [`PV_SYSTEM_FACTOR`]; the day's clearness is drawn per day, the same for every
//!   premise. Computed per slot in the profile table.
//! - **An EV charger** charges at [`EV_CHARGER_KW`] on a share [`EV_CHARGING_DAY_SHARE`] of days,
//!   from a start drawn between 17:00 and 21:45 until a daily energy drawn between
//!   [`EV_SESSION_KWH`] is met; drawn per (meter, day), so it needs no per-meter state.
//! - **A heat pump** takes `(hot water + space heat per heating degree-day x HDD) / COP` a day,
//!   spread evenly over the day. Computed per day in the profile table.
//!
//! The meter has one register, import only: each interval it records the premise's demand with
//! its heat pump and EV charging, less its PV output, and nothing when the PV output exceeds
//! that (self-consumption first; export is not registered and not fed back into the feeder).

use crate::model::ClassConsumption;
use crate::rng::{Purpose, Stream};
use crate::time::CivilDate;
use crate::weather::Climate;

/// Device flag: the premise has rooftop PV.
pub const PV: u8 = 1;
/// Device flag: the premise has an EV charger.
pub const EV_CHARGER: u8 = 2;
/// Device flag: the premise has a heat pump.
pub const HEAT_PUMP: u8 = 4;

/// Rated power of a home EV charger, kW: the common German three-phase 16 A wallbox (SimBench's
/// EV profiles use 3.7, 11 and 22 kW).
pub const EV_CHARGER_KW: f64 = 11.0;

/// Share of days an EV is charged at home (assumption).
pub const EV_CHARGING_DAY_SHARE: f64 = 0.5;

/// Energy of one day's charging session, kWh: uniform in this range (assumption: a mean of
/// 12.5 kWh on half the days gives about 2,300 kWh a year, some 12,000 km at 0.19 kWh/km).
pub const EV_SESSION_KWH: (f64, f64) = (5.0, 20.0);

/// Earliest start of a charging session, quarter-hour of the day (17:00), and how many
/// quarter-hours the start may fall after it (up to 21:45); a session of at most 20 kWh at
/// 11 kW ends before midnight.
pub const EV_START_SLOT: (u32, u32) = (68, 20);

/// Rooftop PV size, kWp: uniform in this range (Fraunhofer ISE: 5-10 kWp typical on
/// single-family houses).
pub const PV_KWP: (f64, f64) = (5.0, 10.0);

/// PV output per kWp per kW/m² of horizontal clear-sky irradiance: tilted-plane gain times
/// performance ratio (assumption: 1.1 x 0.85).
pub const PV_SYSTEM_FACTOR: f64 = 0.935;

/// A day's clearness (share of the clear-sky irradiance that arrives): uniform in this range
/// (assumption, calibrated so that a German kWp yields about 900 kWh a year; 897 for seed 9 in 2026).
pub const CLEARNESS: (f64, f64) = (0.1, 1.0);

/// A heat pump's hot water, kWh of heat a day (assumption: about 2,200 kWh a year for a
/// household).
pub const HEAT_PUMP_HOT_WATER_KWH: f64 = 6.0;

/// A heat pump's space heat per heating degree-day, kWh of heat (assumption: a single-family
/// house needing some 15,000 kWh of heat in a German year of about 2,100 K d below 15 °C).
pub const HEAT_PUMP_KWH_PER_DEGREE_DAY: f64 = 7.0;

/// A heat pump's coefficient of performance over the season (assumption: the order of
/// air-source seasonal performance factors measured in German field tests, about 3).
pub const HEAT_PUMP_COP: f64 = 3.0;

/// Draws which devices a premise of a class with `params` owns, and its PV size in tenths of
/// a kWp, from the premise's own device stream.
pub fn draw(seed: u64, idx: u32, params: &ClassConsumption) -> (u8, u8) {
    let mut stream = Stream::new(seed, Purpose::PremiseDevices, u64::from(idx), 0);
    let mut devices = 0;
    let pv = stream.uniform() < params.pv_share;
    let ev = stream.uniform() < params.ev_share;
    let heat_pump = stream.uniform() < params.heat_pump_share;
    let kwp = PV_KWP.0 + (PV_KWP.1 - PV_KWP.0) * stream.uniform();
    if pv {
        devices |= PV;
    }
    if ev {
        devices |= EV_CHARGER;
    }
    if heat_pump {
        devices |= HEAT_PUMP;
    }
    let tenths = if pv {
        (kwp * 10.0).round().clamp(1.0, 255.0) as u8
    } else {
        0
    };
    (devices, tenths)
}

/// Latitude and longitude of a climate's reference place, degrees, and the longitude of its
/// standard time's meridian.
fn place(climate: Climate) -> (f64, f64, f64) {
    match climate {
        // Central Germany (Kassel); CET = UTC+1.
        Climate::Germany => (51.3, 9.5, 15.0),
        // St. Louis; CST = UTC-6.
        Climate::StLouis => (38.6, -90.2, -90.0),
    }
}

/// PV output of one kWp at the middle of quarter-hour `slot_of_day` of `date` under a clear
/// sky, kW.
pub fn clear_sky_kw_per_kwp(climate: Climate, date: CivilDate, slot_of_day: usize) -> f64 {
    let (latitude, longitude, meridian) = place(climate);
    let n = f64::from(date.day_of_year());
    let declination = (23.44f64).to_radians() * (2.0 * std::f64::consts::PI * (284.0 + n) / 365.0).sin();
    let clock_hours = (slot_of_day as f64 + 0.5) / 4.0;
    let solar_hours = clock_hours + (longitude - meridian) / 15.0;
    let hour_angle = (15.0 * (solar_hours - 12.0)).to_radians();
    let phi = latitude.to_radians();
    let sin_elevation = phi.sin() * declination.sin() + phi.cos() * declination.cos() * hour_angle.cos();
    if sin_elevation <= 0.0 {
        return 0.0;
    }
    // Haurwitz clear-sky global horizontal irradiance, W/m².
    let ghi = 1098.0 * sin_elevation * (-0.057 / sin_elevation).exp();
    ghi / 1000.0 * PV_SYSTEM_FACTOR
}

/// The day's clearness in the run with seed `seed`: the same for every premise.
pub fn clearness(seed: u64, date: CivilDate) -> f64 {
    let mut stream = Stream::new(seed, Purpose::Weather, date.days_since_epoch() as u64, 1);
    CLEARNESS.0 + (CLEARNESS.1 - CLEARNESS.0) * stream.uniform()
}

/// A heat pump's electricity on a day with `heating_degree_days`, kWh.
pub fn heat_pump_kwh(heating_degree_days: f64) -> f64 {
    (HEAT_PUMP_HOT_WATER_KWH + HEAT_PUMP_KWH_PER_DEGREE_DAY * heating_degree_days) / HEAT_PUMP_COP
}

/// An EV charger's energy in quarter-hour `slot_of_day` of day `day` (days since the epoch) for
/// meter `meter`, Wh.
#[inline]
pub fn ev_wh(seed: u64, meter: u32, day: i64, slot_of_day: u32) -> f64 {
    if slot_of_day < EV_START_SLOT.0 {
        return 0.0;
    }
    let mut stream = Stream::new(seed, Purpose::EvCharging, u64::from(meter), day as u64);
    if stream.uniform() >= EV_CHARGING_DAY_SHARE {
        return 0.0;
    }
    let start = EV_START_SLOT.0 + stream.below(u64::from(EV_START_SLOT.1)) as u32;
    let kwh = EV_SESSION_KWH.0 + (EV_SESSION_KWH.1 - EV_SESSION_KWH.0) * stream.uniform();
    if slot_of_day < start {
        return 0.0;
    }
    let per_slot_kwh = EV_CHARGER_KW * 0.25;
    let done_kwh = f64::from(slot_of_day - start) * per_slot_kwh;
    (kwh - done_kwh).clamp(0.0, per_slot_kwh) * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_yields_a_german_year_and_follows_the_sun() {
        let jan1 = CivilDate::new(2026, 1, 1).expect("valid").days_since_epoch();
        let mut kwh = 0.0;
        for d in 0..365 {
            let date = CivilDate::from_days_since_epoch(jan1 + d);
            let k = clearness(9, date);
            kwh += (0..96)
                .map(|s| clear_sky_kw_per_kwp(Climate::Germany, date, s) * k * 0.25)
                .sum::<f64>();
        }
        // Fraunhofer ISE: 900-1,000 kWh per kWp a year is typical in Germany.
        assert!((850.0..1_100.0).contains(&kwh), "{kwh} kWh/kWp");
        let june = CivilDate::new(2026, 6, 21).expect("valid");
        assert_eq!(clear_sky_kw_per_kwp(Climate::Germany, june, 8), 0.0, "02:00");
        let noon = clear_sky_kw_per_kwp(Climate::Germany, june, 49);
        assert!((0.7..1.0).contains(&noon), "{noon}");
        // A charging session: 11 kW until its energy is met, between 17:00 and midnight.
        let day = june.days_since_epoch();
        let mut sessions = 0;
        for meter in 0..200 {
            let wh: Vec<f64> = (0..96).map(|s| ev_wh(1, meter, day, s)).collect();
            let total: f64 = wh.iter().sum();
            assert!(wh[..68].iter().all(|&w| w == 0.0));
            assert!(wh.iter().all(|&w| w <= 2750.0 + 1e-9));
            if total > 0.0 {
                sessions += 1;
                assert!((5_000.0 - 1e-6..=20_000.0 + 1e-6).contains(&total), "{total}");
            }
        }
        assert!((70..130).contains(&sessions), "{sessions}");
        assert!((heat_pump_kwh(15.0) - 37.0).abs() < 0.01);
        // The device fields fit in what was the premise's padding: no bytes added per meter.
        assert_eq!(std::mem::size_of::<crate::model::Premise>(), 12);
    }
}
