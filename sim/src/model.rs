//! The AMI model's vocabulary and its ECS components: customer classes, link kinds, premises,
//! meters with their registers and load-profile memory, field links, and the MDM's per-meter
//! record.
//!
//! Components are small plain structs; state lives in enum and integer fields, never in marker
//! components that would move entities between archetypes when they flip.

use bevy_ecs::prelude::Component;
use serde::{Deserialize, Serialize};

use crate::profile::ProfileId;

/// The customer class of a premise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CustomerClass {
    /// Households.
    Residential,
    /// Shops, offices, small business.
    Commercial,
    /// Factories and workshops.
    Industrial,
    /// Hospitals, water and wastewater, emergency services: counted separately in every measure.
    Critical,
}

impl CustomerClass {
    /// Every class, in index order.
    pub const ALL: [CustomerClass; 4] = [
        CustomerClass::Residential,
        CustomerClass::Commercial,
        CustomerClass::Industrial,
        CustomerClass::Critical,
    ];
    /// Position in [`CustomerClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
    /// Lower-case name used in result files.
    pub fn name(self) -> &'static str {
        match self {
            CustomerClass::Residential => "residential",
            CustomerClass::Commercial => "commercial",
            CustomerClass::Industrial => "industrial",
            CustomerClass::Critical => "critical",
        }
    }
}

/// How a meter talks to its collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum LinkKind {
    /// RF mesh to a collector.
    Mesh,
    /// Powerline carrier to a concentrator at the transformer.
    Plc,
    /// Cellular, straight to a tower and on to the HES.
    Cellular,
}

impl LinkKind {
    /// Every link kind, in index order.
    pub const ALL: [LinkKind; 3] = [LinkKind::Mesh, LinkKind::Plc, LinkKind::Cellular];
    /// Position in [`LinkKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
    /// Lower-case name used in result files.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Mesh => "mesh",
            LinkKind::Plc => "plc",
            LinkKind::Cellular => "cellular",
        }
    }
}

/// Consumption model parameters of one customer class.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassConsumption {
    /// The BDEW profile that shapes the class's load (when `shape` is the standard profile).
    pub profile: ProfileId,
    /// What shapes the class's load: its BDEW `profile`, or the measured-style shape of
    /// interval-metered customers.
    pub shape: crate::interval_metering::LoadShape,
    /// Mean annual consumption per premise, kWh.
    pub mean_annual_kwh: f64,
    /// Spread of annual consumption between premises: sigma of a mean-preserving log-normal.
    pub annual_sigma: f64,
    /// Per-interval noise of one meter: sigma of a mean-one log-normal factor (the stationary
    /// spread of its log, whatever the persistence).
    pub interval_noise_sigma: f64,
    /// Persistence of one meter's noise from interval to interval: the lag-1 (15-minute)
    /// autocorrelation of the noise's log, an AR(1) process carried per meter (0 for
    /// independent draws, below 1).
    pub noise_persistence: f64,
    /// Spread of the premises' daily routines: each premise weights four activity periods of
    /// the day (night, morning, daytime, evening) by its own amount, drawn uniformly in
    /// `-spread..=spread` and mean zero over the fleet, which raises or lowers its load in that
    /// period against the class profile while keeping each day's energy (0 for every premise on
    /// the class profile, at most 1).
    pub activity_spread: f64,
    /// Largest shift of a premise's daily routine against the profile, in quarter-hours (each
    /// premise draws a shift uniformly in `-max..=max` once).
    pub max_shift_slots: u8,
    /// Share of the class's annual energy that is electric space heating, which follows the
    /// day's heating degree-days: a day colder than normal adds this share of the annual
    /// energy times its extra degree-days over the normal year's (0 to 0.9).
    pub heating_share: f64,
    /// Share of the class's annual energy that is electric cooling, which follows the day's
    /// cooling degree-days in the same way (0 to 0.9).
    pub cooling_share: f64,
    /// Share of the class's premises with rooftop PV (0 to 1; see [`crate::devices`]).
    pub pv_share: f64,
    /// Share of the class's premises with an EV charger (0 to 1).
    pub ev_share: f64,
    /// Share of the class's premises heated by a heat pump (0 to 1).
    pub heat_pump_share: f64,
}

/// Dense meter index, 0 to n_meters - 1, stable for the whole run.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeterIdx(pub u32);

/// The premise behind a meter and what drives its consumption.
#[derive(Component, Clone, Copy, Debug)]
pub struct Premise {
    /// Customer class.
    pub class: CustomerClass,
    /// Shift of the premise's routine against the class profile, quarter-hours.
    pub shift_slots: i8,
    /// Drawn annual consumption, kWh (the MDM also knows it, as the billing forecast).
    pub annual_kwh: f32,
    /// The premise's weight of each activity period of the day (night, morning, daytime,
    /// evening), in 127ths of the class's `activity_spread`.
    pub activity: [i8; crate::dataplane::ACTIVITY_PERIODS],
    /// The devices behind the meter: flags [`crate::devices::PV`],
    /// [`crate::devices::EV_CHARGER`], [`crate::devices::HEAT_PUMP`].
    pub devices: u8,
    /// Rooftop PV size, tenths of a kWp (0 without PV).
    pub pv_kwp_tenths: u8,
}

impl Premise {
    /// How the premise is metered and settled, from its annual consumption: interval-metered
    /// above 100,000 kWh/a, else on a standard load profile.
    pub fn metering(&self) -> crate::interval_metering::MeteringKind {
        crate::interval_metering::MeteringKind::of_annual_kwh(self.annual_kwh)
    }

    /// The premise's load group in the profile table: its class's, or the interval-metered
    /// commercial premises' own shape (see [`crate::interval_metering::load_group`]).
    #[inline]
    pub fn load_group(&self) -> usize {
        crate::interval_metering::load_group(self.class, self.annual_kwh)
    }
}

/// Relay position of a meter's remote-disconnect switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Relay {
    /// Supply on.
    Closed,
    /// Supply off.
    Open,
}

/// Why a customer is without supply (or a command was issued): every supply measure is
/// attributed to one cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cause {
    /// The utility's own legitimate operations (non-payment, move-out, demand response).
    Operation,
    /// A grid outage (storm damage, a feeder out) and its restoration.
    Outage,
    /// An attack: the index of the attack in the scenario's list (at most [`MAX_ATTACKS`]).
    Attack(u8),
}

/// Most attacks one run can tell apart (their index must fit a `Cause::Attack` and the
/// one-byte attack codes of the per-meter arrays).
pub const MAX_ATTACKS: usize = 250;

impl Cause {
    /// The three categories, in index order (`Attack(0)` stands for every attack).
    pub const ALL: [Cause; 3] = [Cause::Operation, Cause::Outage, Cause::Attack(0)];
    /// Position of the cause's category in [`Cause::ALL`].
    pub fn index(self) -> usize {
        match self {
            Cause::Operation => 0,
            Cause::Outage => 1,
            Cause::Attack(_) => 2,
        }
    }
    /// Lower-case name of the category, used in result files.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Operation => "operation",
            Cause::Outage => "outage",
            Cause::Attack(_) => "attack",
        }
    }
    /// The attack's index, for an attack.
    pub fn attack(self) -> Option<u8> {
        match self {
            Cause::Attack(k) => Some(k),
            _ => None,
        }
    }
    /// One byte per cause: 0 operation, 1 outage, 2 + k attack k.
    pub fn code(self) -> u8 {
        match self {
            Cause::Operation => 0,
            Cause::Outage => 1,
            Cause::Attack(k) => 2 + k.min(MAX_ATTACKS as u8),
        }
    }
    /// The cause of a [`Cause::code`].
    pub fn from_code(code: u8) -> Cause {
        match code {
            0 => Cause::Operation,
            1 => Cause::Outage,
            k => Cause::Attack(k - 2),
        }
    }
}

/// What the blast-radius map shows of a meter at one moment (ground truth). Off supply is
/// attributed as the data plane attributes it (the feeder's cause while the feeder is out, else
/// the relay's); a supplied meter shows the first of the other conditions that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeterCondition {
    /// Off supply because of an attack: its feeder is out because of one, or (feeder in) an
    /// attack opened its relay.
    OffAttack,
    /// Off supply because of an outage: its feeder or transformer is out (a storm, a fault),
    /// or (supplied) its relay opened after one.
    OffOutage,
    /// Off supply because of the utility: its feeder is switched out by operations (load
    /// shedding after a legitimate load step), or (feeder in) the utility opened its relay
    /// (non-payment, move-out).
    OffOperation,
    /// Supplied, but an attack holds it: it runs rogue firmware, was downgraded to the legacy
    /// security level, its register is skewed (bypass, clone, forged readings), or a botnet
    /// switches load at the premise or a forged demand-response event curtails it now.
    Compromised,
    /// Supplied and honest, but the MDM did not hear from it in the last read cycle (or its
    /// communication module failed).
    Unread,
    /// Supplied, honest and read.
    Normal,
}

impl MeterCondition {
    /// Every condition, worst first.
    pub const ALL: [MeterCondition; 6] = [
        MeterCondition::OffAttack,
        MeterCondition::OffOutage,
        MeterCondition::OffOperation,
        MeterCondition::Compromised,
        MeterCondition::Unread,
        MeterCondition::Normal,
    ];

    /// Its name in result files.
    pub fn name(self) -> &'static str {
        match self {
            MeterCondition::OffAttack => "off-attack",
            MeterCondition::OffOutage => "off-outage",
            MeterCondition::OffOperation => "off-operation",
            MeterCondition::Compromised => "compromised",
            MeterCondition::Unread => "unread",
            MeterCondition::Normal => "normal",
        }
    }
}

/// A one-byte "which attack, if any" for dense per-meter arrays: 0 for none, `k + 1` for attack
/// `k`.
pub fn attack_code(attack: Option<u8>) -> u8 {
    attack.map_or(0, |k| k.saturating_add(1))
}

/// The metrological state of a meter: its register, relay and load-control state.
#[derive(Component, Clone, Copy, Debug)]
pub struct Meter {
    /// The true energy delivered through the meter since the run started, Wh (the display shows
    /// it truncated to whole Wh).
    pub register_wh: f64,
    /// Remote-disconnect relay.
    pub relay: Relay,
    /// Microseconds the relay has been open so far in the current interval, up to
    /// `relay_changed_at_us`.
    pub open_us_in_interval: u32,
    /// Offset into the current interval of the last relay change, microseconds.
    pub relay_changed_at_us: u32,
    /// Why the relay is open (meaningful while it is).
    pub relay_cause: Cause,
    /// Demand response: share of the premise's load kept while a reduction is active (1 when
    /// none is).
    pub dr_keep: f32,
    /// Demand response: when the active reduction started, µs since the run start.
    pub dr_from_us: u64,
    /// Demand response: when it ends, µs since the run start.
    pub dr_until_us: u64,
    /// Demand response: who sent the active event, as an attack code (0 for the utility).
    pub dr_by: u8,
    /// Share of the true consumption the meter's reports carry: 1 for an honest meter, less for
    /// one that is bypassed or runs firmware that under-reports, more or less for one whose
    /// readings are forged under its own key (the feeder's true load and SCADA do not change).
    pub register_share: f32,
    /// Who skews the register: 0 for no one, `k + 1` for attack `k` (see [`attack_code`]).
    pub skew_by: u8,
    /// Whether the skew is theft (the customer takes the energy: a bypass, or forged readings
    /// that under-report) rather than falsified data.
    pub skew_theft: bool,
    /// Load switched on at the premise from outside its normal pattern (a home-area device of a
    /// botnet), kW, while `extra_from_s..extra_until_s` lasts.
    pub extra_kw: f32,
    /// When the extra load started, seconds since the run start.
    pub extra_from_s: u32,
    /// When it stops, seconds since the run start.
    pub extra_until_s: u32,
    /// Whether the end of the extra load has been booked (so that it is booked once).
    pub extra_ended: bool,
    /// Who switched the extra load on: 0 for no attack, `k + 1` for attack `k` (see
    /// [`attack_code`]); protection trips it causes are booked to that attack.
    pub extra_by: u8,
}

impl Meter {
    /// A meter at rest: register at zero, relay closed, no demand response.
    pub fn new() -> Meter {
        Meter {
            register_wh: 0.0,
            relay: Relay::Closed,
            open_us_in_interval: 0,
            relay_changed_at_us: 0,
            relay_cause: Cause::Operation,
            dr_keep: 1.0,
            dr_from_us: 0,
            dr_until_us: 0,
            dr_by: 0,
            register_share: 1.0,
            skew_by: 0,
            skew_theft: false,
            extra_kw: 0.0,
            extra_from_s: 0,
            extra_until_s: 0,
            extra_ended: false,
            extra_by: 0,
        }
    }

    /// Whether the meter is in its everyday state: relay closed all through the interval so
    /// far, no demand response, no load switched on from outside, an honest register.
    #[inline]
    pub fn plain(&self) -> bool {
        self.relay == Relay::Closed
            && self.open_us_in_interval == 0
            && self.dr_keep >= 1.0
            && self.extra_kw == 0.0
            && self.register_share == 1.0
    }

    /// Share of the premise's load kept over `[from, to)` (µs) by demand response.
    #[inline]
    pub fn dr_keep_share(&self, from: u64, to: u64) -> f64 {
        if self.dr_keep >= 1.0 || self.dr_until_us <= from || self.dr_from_us >= to {
            return 1.0;
        }
        let overlap = self.dr_until_us.min(to) - self.dr_from_us.max(from);
        1.0 - (1.0 - f64::from(self.dr_keep)) * overlap as f64 / (to - from) as f64
    }

    /// Energy of the extra switched load over `[from, to)` (µs), Wh.
    #[inline]
    pub fn extra_wh(&self, from: u64, to: u64) -> f64 {
        if self.extra_kw == 0.0 {
            return 0.0;
        }
        let (a, b) = (
            u64::from(self.extra_from_s) * 1_000_000,
            u64::from(self.extra_until_s) * 1_000_000,
        );
        let overlap = b.min(to).saturating_sub(a.max(from));
        // kW × µs / (3.6e6 µs per h / 1000 Wh per kWh) = Wh.
        f64::from(self.extra_kw) * overlap as f64 / 3.6e6
    }

    /// Whether the extra switched load is on at `at` (µs).
    #[inline]
    pub fn extra_on(&self, at: u64) -> bool {
        self.extra_kw != 0.0
            && u64::from(self.extra_from_s) * 1_000_000 <= at
            && at < u64::from(self.extra_until_s) * 1_000_000
    }
}

impl Default for Meter {
    fn default() -> Meter {
        Meter::new()
    }
}

/// How many unread intervals a meter's load-profile memory holds in this simulation. Real meters
/// keep weeks; the simulation keeps enough to backfill short outages and lets the MDM recover
/// longer gaps from the register (whose total is never lost).
pub const LOAD_PROFILE_DEPTH: usize = 16;

/// The meter's load-profile memory: interval energies not yet delivered to a collector.
#[derive(Component, Clone, Copy, Debug)]
pub struct LoadProfileMemory {
    /// Ring of interval energies in Wh, indexed by `slot % LOAD_PROFILE_DEPTH`.
    pub wh: [u32; LOAD_PROFILE_DEPTH],
    /// The newest recorded interval slot plus one (0 before the first interval closes).
    pub recorded_until: u32,
    /// Register reading at the end of the newest recorded interval, whole Wh.
    pub register_reading_wh: u64,
    /// The register split by the time-of-use rate of each recorded interval, whole Wh: index 0
    /// rate 1 (the utility's peak period), index 1 rate 2 (the rest). They sum to
    /// `register_reading_wh`.
    pub rate_wh: [u64; 2],
}

/// Where the meter sits in the grid (its link to the field network is in
/// [`crate::network::NetState`], because routes change at run time).
#[derive(Component, Clone, Copy, Debug)]
pub struct GridPlace {
    /// The feeder that supplies it (for feeder-head SCADA).
    pub feeder: u32,
    /// The distribution transformer that supplies it (for transformer energy balance).
    pub transformer: u32,
}

/// The MDM's record of one meter (stored beside the meter for locality; only MDM systems
/// touch it).
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct MdmRecord {
    /// All intervals before this slot have an actual (not estimated) value at the MDM.
    pub actual_until: u32,
    /// Intervals before this slot have a value at the MDM, actual or estimated.
    pub valued_until: u32,
    /// Register reading at `actual_until`, whole Wh.
    pub register_at_actual_wh: u64,
    /// Read cycles in a row in which the meter did not answer (outage and failure detection).
    pub missed_cycles: u8,
    /// The tariff the meter bills under (index into the MDM's tariffs; 0 is flat, 1 is
    /// time-of-use).
    pub tariff: u8,
    /// Billing determinant: energy of actual intervals in the tariff's peak periods, Wh.
    pub peak_wh: u64,
    /// Billing determinant: energy of actual intervals outside peak periods (all of it under a
    /// flat tariff), Wh.
    pub offpeak_wh: u64,
    /// Billing determinant: the largest actual 15-minute energy (maximum demand), Wh.
    pub max_interval_wh: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_switched_load_is_booked_in_watt_hours() {
        let mut meter = Meter::new();
        meter.extra_kw = 1.0;
        meter.extra_until_s = 3_600;
        // 1 kW for the whole hour is 1,000 Wh; for the half of a window it overlaps, 500 Wh.
        assert_eq!(meter.extra_wh(0, 3_600_000_000), 1_000.0);
        assert_eq!(meter.extra_wh(1_800_000_000, 5_400_000_000), 500.0);
        assert_eq!(meter.extra_wh(3_600_000_000, 7_200_000_000), 0.0);
    }
}
