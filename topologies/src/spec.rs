//! Generator parameters as written in a topology file or a scenario: every field optional but
//! `kind` and `meters`, defaults chosen by the kind of area. [`AreaSpec::resolve`] checks them
//! and fills in the defaults.
//!
//! Defaults are assumptions unless a source is named: they describe a European-style grid
//! (BDEW profiles are German) with MV feeders and MV/LV transformer stations serving tens to
//! hundreds of premises each.

use amirange_sim::network::{BackhaulParams, CellularLinkParams, LinkParams, MeshLinkParams, PlcLinkParams};
use amirange_sim::time::SimDuration;
use serde::{Deserialize, Serialize};

use crate::TopologyError;

/// The kind of service area, which sets every default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AreaKind {
    /// A dense city: one settlement, blocks of flats and shops, large transformers.
    Urban,
    /// Suburbs and towns: one settlement, houses on streets, medium transformers.
    Suburban,
    /// Villages and farms spread over a large region, small pole transformers, more cellular.
    Rural,
}

/// A service area as written (`Area(kind: Urban, meters: 10_000, ...)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename = "Area")]
pub struct AreaSpec {
    /// Kind of area.
    ///
    /// Allowed: `Urban`, `Suburban`, `Rural`.
    pub kind: AreaKind,
    /// Meters, one per premise.
    ///
    /// Allowed: 1 to 100,000,000.
    pub meters: i64,
    /// Meters per km² inside settlements.
    ///
    /// Allowed: 1 to 100,000.
    /// Default: 3,000 / 900 / 400.
    #[serde(default)]
    pub density_per_km2: Option<f64>,
    /// Settlements (villages, towns).
    ///
    /// Allowed: 1 to 1,000,000 (capped at one per transformer).
    /// Default: 1 / 1 / one per 250 meters.
    #[serde(default)]
    pub settlements: Option<u32>,
    /// Meters per km² over the whole region.
    ///
    /// Allowed: 0.01 to 100,000, at most `density_per_km2`.
    /// Default: 3,000 / 900 / 25.
    #[serde(default)]
    pub region_density_per_km2: Option<f64>,
    /// Distance between parallel streets, m.
    ///
    /// Allowed: 10 to 10,000.
    /// Default: 80 / 110 / 150.
    #[serde(default)]
    pub street_spacing_m: Option<f64>,
    /// Meters behind one distribution transformer.
    ///
    /// Allowed: 1 to 5,000.
    /// Default: 180 / 80 / 30.
    #[serde(default)]
    pub meters_per_transformer: Option<u32>,
    /// Transformers on one MV feeder.
    ///
    /// Allowed: 1 to 1,000.
    /// Default: 15 / 20 / 25.
    #[serde(default)]
    pub transformers_per_feeder: Option<u32>,
    /// Feeders leaving one substation.
    ///
    /// Allowed: 1 to 200.
    /// Default: 12.
    #[serde(default)]
    pub feeders_per_substation: Option<u32>,
    /// Spread of meters per transformer: each transformer's share of the meters is drawn
    /// uniformly between 1 - spread and 1 + spread times the mean.
    ///
    /// Allowed: 0 to 0.9.
    /// Default: 0.3.
    #[serde(default)]
    pub meters_per_transformer_spread: Option<f64>,
    /// Spread of transformers per feeder: each feeder takes a number of transformers drawn
    /// uniformly between 1 - spread and 1 + spread times `transformers_per_feeder`.
    ///
    /// Allowed: 0 to 0.9.
    /// Default: 0.5.
    #[serde(default)]
    pub transformers_per_feeder_spread: Option<f64>,
    /// Share of premises per class.
    ///
    /// Allowed: shares, sum 1.
    /// Default: residential 0.9065 / 0.95 / 0.93, commercial 0.09 / 0.047 / 0.0665, industrial 0.0025 / 0.002 /
    /// 0.0025, critical 0.001.
    #[serde(default)]
    pub class_mix: Option<ClassMix>,
    /// Mean annual consumption of a premise per class, kWh (the scenario's
    /// `consumption.<class>.mean_annual_kwh` overrides it).
    ///
    /// Allowed: above 0, at most 1e9.
    /// Default: residential 2,500 / 3,200 / 3,600, commercial 30,000 / 30,000 / 25,000, industrial 400,000,
    /// critical 327,500.
    #[serde(default)]
    pub class_annual_kwh: Option<ClassAnnualKwh>,
    /// Share of critical premises per kind.
    ///
    /// Allowed: shares, sum 1.
    /// Default: hospital 0.05, water 0.45, emergency 0.5.
    #[serde(default)]
    pub facility_mix: Option<FacilityMix>,
    /// Share of meters per link kind.
    ///
    /// Allowed: shares, sum 1.
    /// Default: mesh 0.7 / 0.7 / 0.45, plc 0.2 / 0.2 / 0.25, cellular 0.1 / 0.1 / 0.3 (urban / suburban / rural where
    /// three values are given).
    #[serde(default)]
    pub link_shares: Option<LinkShares>,
    /// Share of mesh meters with a cellular modem too.
    ///
    /// Allowed: 0 to 1.
    /// Default: 0.05.
    #[serde(default)]
    pub cellular_fallback: Option<f64>,
    /// Mesh meters per mesh collector.
    ///
    /// Allowed: 1 to 100,000.
    /// Default: 1,000.
    #[serde(default)]
    pub meters_per_collector: Option<u32>,
    /// The RF mesh radio model.
    #[serde(default)]
    pub radio: Option<RadioSpec>,
    /// RF mesh link behaviour.
    #[serde(default)]
    pub mesh: Option<MeshSpec>,
    /// PLC channels.
    #[serde(default)]
    pub plc: Option<PlcSpec>,
    /// Cellular towers.
    #[serde(default)]
    pub cellular: Option<CellularSpec>,
    /// Collector-to-HES backhaul.
    #[serde(default)]
    pub backhaul: Option<BackhaulSpec>,
    /// Sizes of a read request and response, bytes.
    #[serde(default)]
    pub messages: Option<MessageSpec>,
}

/// Shares per customer class.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassMix {
    /// Households.
    pub residential: f64,
    /// Shops, offices.
    pub commercial: f64,
    /// Factories.
    pub industrial: f64,
    /// Hospitals, water, emergency services.
    pub critical: f64,
}

/// Mean annual consumption of a premise per customer class, kWh.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassAnnualKwh {
    /// Households, kWh/a.
    pub residential: f64,
    /// Shops, offices, kWh/a.
    pub commercial: f64,
    /// Factories, kWh/a.
    pub industrial: f64,
    /// Hospitals, water, emergency services (the mean over the facility mix), kWh/a.
    pub critical: f64,
}

/// Shares per critical facility kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityMix {
    /// Hospitals and clinics.
    pub hospital: f64,
    /// Water and wastewater.
    pub water: f64,
    /// Police, fire, ambulance.
    pub emergency: f64,
}

/// Shares per link technology.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkShares {
    /// RF mesh.
    pub mesh: f64,
    /// Powerline.
    pub plc: f64,
    /// Cellular.
    pub cellular: f64,
}

/// The RF mesh radio model: log-distance path loss with log-normal shadowing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RadioSpec {
    /// Meter transmit power, dBm.
    ///
    /// Allowed: -30 to 40.
    /// Default: 24.
    #[serde(default)]
    pub tx_power_dbm: Option<f64>,
    /// Receiver sensitivity (50% frame success), dBm.
    ///
    /// Allowed: -150 to 0.
    /// Default: -100.
    #[serde(default)]
    pub sensitivity_dbm: Option<f64>,
    /// Log-distance path-loss exponent.
    ///
    /// Allowed: 2 to 6.
    /// Default: 3.5 / 3.2 / 2.8.
    #[serde(default)]
    pub path_loss_exponent: Option<f64>,
    /// Sigma of log-normal shadowing, dB.
    ///
    /// Allowed: 0 to 20.
    /// Default: 8 / 7 / 6.
    #[serde(default)]
    pub shadowing_db: Option<f64>,
    /// Loss through walls and meter cabinets, dB.
    ///
    /// Allowed: 0 to 60.
    /// Default: 18 / 15 / 10.
    #[serde(default)]
    pub building_loss_db: Option<f64>,
    /// Extra gain of a collector's pole-mounted antenna, dB.
    ///
    /// Allowed: 0 to 30.
    /// Default: 6.
    #[serde(default)]
    pub collector_gain_db: Option<f64>,
    /// Links a meter chooses (a collector 8 times as many).
    ///
    /// Allowed: 1 to 64.
    /// Default: 10.
    #[serde(default)]
    pub max_neighbours: Option<u32>,
}

/// RF mesh link behaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeshSpec {
    /// Median latency of a frame over one hop.
    ///
    /// Allowed: above 0, at most 1d.
    /// Default: `"80ms"`.
    #[serde(default)]
    pub hop_latency_median: Option<String>,
    /// Log-normal sigma of hop latency.
    ///
    /// Allowed: 0 to 3.
    /// Default: 0.6.
    #[serde(default)]
    pub hop_latency_sigma: Option<f64>,
    /// Radio data rate, bit/s.
    ///
    /// Allowed: above 0.
    /// Default: 50,000.
    #[serde(default)]
    pub bandwidth_bps: Option<f64>,
    /// Retransmissions per hop.
    ///
    /// Allowed: 0 to 15.
    /// Default: 3.
    #[serde(default)]
    pub mac_retries: Option<u32>,
    /// Links below this frame success are not used.
    ///
    /// Allowed: 0 to below 1.
    /// Default: 0.3.
    #[serde(default)]
    pub min_link_quality: Option<f64>,
    /// Longest route; meters further out are orphans.
    ///
    /// Allowed: 1 to 64.
    /// Default: 12.
    #[serde(default)]
    pub max_hops: Option<u32>,
    /// Time the mesh takes to re-form routes around a dead or jammed node.
    ///
    /// Allowed: above 0, at most 1d.
    /// Default: `"10m"`.
    #[serde(default)]
    pub route_repair_delay: Option<String>,
}

/// PLC channels, one per transformer with PLC.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlcSpec {
    /// Channel data rate, bit/s.
    ///
    /// Allowed: above 0.
    /// Default: 20,000.
    #[serde(default)]
    pub bandwidth_bps: Option<f64>,
    /// Median time per polled exchange.
    ///
    /// Allowed: above 0, at most 1d.
    /// Default: `"400ms"`.
    #[serde(default)]
    pub turnaround: Option<String>,
    /// Retransmissions.
    ///
    /// Allowed: 0 to 15.
    /// Default: 2.
    #[serde(default)]
    pub mac_retries: Option<u32>,
    /// Frame success at the transformer on the noisiest line.
    ///
    /// Allowed: 0 to 1, min at most max.
    /// Default: 0.8.
    #[serde(default)]
    pub quality_min: Option<f64>,
    /// Frame success at the transformer on the quietest line.
    ///
    /// Allowed: 0 to 1, min at most max.
    /// Default: 0.99.
    #[serde(default)]
    pub quality_max: Option<f64>,
    /// Distance from the transformer at which frame success halves, m.
    ///
    /// Allowed: 1 to 100,000.
    /// Default: 600 / 800 / 1,200.
    #[serde(default)]
    pub reach_m: Option<f64>,
}

/// Cellular towers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellularSpec {
    /// Distance between towers, m.
    ///
    /// Allowed: 50 to 100,000.
    /// Default: 1,000 / 2,500 / 8,000.
    #[serde(default)]
    pub tower_spacing_m: Option<f64>,
    /// Distance at which exchange success halves, m.
    ///
    /// Allowed: 50 to 100,000.
    /// Default: 2,000 / 4,000 / 12,000.
    #[serde(default)]
    pub range_m: Option<f64>,
    /// Median one-way latency through an idle tower.
    ///
    /// Allowed: above 0, at most 1d.
    /// Default: `"600ms"`.
    #[serde(default)]
    pub latency_median: Option<String>,
    /// Log-normal sigma of that latency.
    ///
    /// Allowed: 0 to 3.
    /// Default: 0.5.
    #[serde(default)]
    pub latency_sigma: Option<f64>,
    /// Metering messages per second one tower carries.
    ///
    /// Allowed: above 0.
    /// Default: 50.
    #[serde(default)]
    pub capacity_msgs_per_s: Option<f64>,
    /// Data rate of one meter's session, bit/s.
    ///
    /// Allowed: above 0.
    /// Default: 375,000.
    #[serde(default)]
    pub bandwidth_bps: Option<f64>,
}

/// Collector-to-HES backhaul.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackhaulSpec {
    /// Probability that a collector's backhaul is up in a read cycle (and that a message crosses it).
    ///
    /// Allowed: 0 to 1.
    /// Default: 0.999.
    #[serde(default)]
    pub success: Option<f64>,
    /// Median collector-to-HES latency.
    ///
    /// Allowed: above 0, at most 1d.
    /// Default: `"80ms"`.
    #[serde(default)]
    pub latency_median: Option<String>,
    /// Log-normal sigma of that latency.
    ///
    /// Allowed: 0 to 3.
    /// Default: 0.4.
    #[serde(default)]
    pub latency_sigma: Option<f64>,
}

/// Message sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// Size of a read request, bytes.
    ///
    /// Allowed: at least 1.
    /// Default: 64.
    #[serde(default)]
    pub request_bytes: Option<u32>,
    /// Size of a read response, bytes.
    ///
    /// Allowed: at least 1.
    /// Default: 512.
    #[serde(default)]
    pub read_bytes: Option<u32>,
}

/// The radio model, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Radio {
    /// Transmit power, dBm.
    pub tx_power_dbm: f64,
    /// Sensitivity, dBm.
    pub sensitivity_dbm: f64,
    /// Path-loss exponent.
    pub path_loss_exponent: f64,
    /// Shadow fading sigma, dB.
    pub shadowing_db: f64,
    /// Building loss, dB.
    pub building_loss_db: f64,
    /// Collector antenna gain, dB.
    pub collector_gain_db: f64,
    /// Neighbour table size.
    pub max_neighbours: u32,
}

/// A service area with every parameter resolved and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Area {
    /// The kind of area.
    pub kind: AreaKind,
    /// Meters.
    pub meters: u64,
    /// Meters per km² in settlements.
    pub density_per_km2: f64,
    /// Settlements.
    pub settlements: u32,
    /// Meters per km² over the region.
    pub region_density_per_km2: f64,
    /// Street spacing, m.
    pub street_spacing_m: f64,
    /// Meters per transformer.
    pub meters_per_transformer: u32,
    /// Transformers per feeder.
    pub transformers_per_feeder: u32,
    /// Feeders per substation.
    pub feeders_per_substation: u32,
    /// Spread of meters per transformer (uniform, relative to the mean).
    pub meters_per_transformer_spread: f64,
    /// Spread of transformers per feeder (uniform, relative to `transformers_per_feeder`).
    pub transformers_per_feeder_spread: f64,
    /// Class shares in `CustomerClass::ALL` order.
    pub class_mix: [f64; 4],
    /// Mean annual consumption per premise, kWh, in `CustomerClass::ALL` order.
    pub class_annual_kwh: [f64; 4],
    /// Facility shares in `FacilityKind::ALL` order.
    pub facility_mix: [f64; 3],
    /// Link shares in `LinkKind::ALL` order.
    pub link_shares: [f64; 3],
    /// Share of mesh meters with a cellular fallback.
    pub cellular_fallback: f64,
    /// Mesh meters per collector.
    pub meters_per_collector: u32,
    /// Radio model.
    pub radio: Radio,
    /// PLC frame success range at the transformer, and reach in metres.
    pub plc_quality: (f64, f64, f64),
    /// Tower spacing and range, metres.
    pub towers: (f64, f64),
    /// Link behaviour handed to the engine.
    pub links: LinkParams,
}

/// Largest meter count a generator accepts.
pub const MAX_METERS: u64 = 100_000_000;

fn invalid<T>(field: &str, reason: impl Into<String>) -> Result<T, TopologyError> {
    Err(TopologyError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    })
}

fn duration(field: &str, text: &Option<String>, default: SimDuration) -> Result<SimDuration, TopologyError> {
    match text {
        None => Ok(default),
        Some(t) => SimDuration::parse(t).or_else(|e| invalid(field, e.to_string())),
    }
}

fn in_range(field: &str, v: f64, lo: f64, hi: f64) -> Result<f64, TopologyError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        invalid(field, format!("must be between {lo} and {hi}, not {v}"))
    }
}

fn count(field: &str, v: u32, lo: u32, hi: u32) -> Result<u32, TopologyError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        invalid(field, format!("must be {lo} to {hi}, not {v}"))
    }
}

fn shares<const N: usize>(field: &str, s: [f64; N]) -> Result<[f64; N], TopologyError> {
    if s.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return invalid(field, "shares must be non-negative numbers");
    }
    let sum: f64 = s.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return invalid(field, format!("shares must sum to 1, not {sum}"));
    }
    Ok(s)
}

impl AreaSpec {
    /// An area of `kind` with `meters` meters and every other value left to its default.
    pub fn new(kind: AreaKind, meters: u64) -> AreaSpec {
        AreaSpec {
            kind,
            meters: meters.min(i64::MAX as u64) as i64,
            density_per_km2: None,
            settlements: None,
            region_density_per_km2: None,
            street_spacing_m: None,
            meters_per_transformer: None,
            transformers_per_feeder: None,
            feeders_per_substation: None,
            meters_per_transformer_spread: None,
            transformers_per_feeder_spread: None,
            class_mix: None,
            class_annual_kwh: None,
            facility_mix: None,
            link_shares: None,
            cellular_fallback: None,
            meters_per_collector: None,
            radio: None,
            mesh: None,
            plc: None,
            cellular: None,
            backhaul: None,
            messages: None,
        }
    }

    /// Checks every value and fills in the defaults of the area's kind. Errors name the field
    /// as the file spells it (`radio.shadowing_db`).
    pub fn resolve(&self) -> Result<Area, TopologyError> {
        use AreaKind::*;
        let k = self.kind;
        let pick = |urban: f64, suburban: f64, rural: f64| match k {
            Urban => urban,
            Suburban => suburban,
            Rural => rural,
        };
        if self.meters < 1 || self.meters as u64 > MAX_METERS {
            return invalid("meters", format!("must be 1 to {MAX_METERS}, not {}", self.meters));
        }
        let meters = self.meters as u64;
        let density = in_range(
            "density_per_km2",
            self.density_per_km2.unwrap_or(pick(3_000.0, 900.0, 400.0)),
            1.0,
            100_000.0,
        )?;
        // Rural: one village per ~250 meters (assumption); towns and cities are one settlement.
        let default_settlements = if k == Rural { (meters / 250).max(1) as u32 } else { 1 };
        let settlements = count(
            "settlements",
            self.settlements.unwrap_or(default_settlements),
            1,
            1_000_000,
        )?;
        let region_density = in_range(
            "region_density_per_km2",
            self.region_density_per_km2.unwrap_or(pick(3_000.0, 900.0, 25.0)),
            0.01,
            100_000.0,
        )?;
        if region_density > density {
            return invalid("region_density_per_km2", "cannot exceed density_per_km2");
        }
        let street_spacing_m = in_range(
            "street_spacing_m",
            self.street_spacing_m.unwrap_or(pick(80.0, 110.0, 150.0)),
            10.0,
            10_000.0,
        )?;
        // German local grids: about 500,000 MV/LV stations for about 50 million meters, i.e.
        // around 100 meters per transformer on average (rounded public figures); the split by
        // area kind is an assumption.
        let meters_per_transformer = count(
            "meters_per_transformer",
            self.meters_per_transformer.unwrap_or(pick(180.0, 80.0, 30.0) as u32),
            1,
            5_000,
        )?;
        let transformers_per_feeder = count(
            "transformers_per_feeder",
            self.transformers_per_feeder.unwrap_or(pick(15.0, 20.0, 25.0) as u32),
            1,
            1_000,
        )?;
        let feeders_per_substation = count(
            "feeders_per_substation",
            self.feeders_per_substation.unwrap_or(12),
            1,
            200,
        )?;
        // SimBench's German LV networks hold a median of 92 households (p90 102, a tail of small
        // rural ones) and its MV feeders run a median of 7.3 km (p90 14.3 km): transformers
        // vary less than feeders (the spreads are an assumption in line with these).
        let meters_per_transformer_spread = in_range(
            "meters_per_transformer_spread",
            self.meters_per_transformer_spread.unwrap_or(0.3),
            0.0,
            0.9,
        )?;
        let transformers_per_feeder_spread = in_range(
            "transformers_per_feeder_spread",
            self.transformers_per_feeder_spread.unwrap_or(0.5),
            0.0,
            0.9,
        )?;
        // Class mixes and consumption per kind of area: see "Service areas and customers" in
        // docs/parameters.md for the source of every number. In short: households from BDEW's
        // consumption per household size (1 person 1,900 ... 5+ persons 5,430 kWh/a, national
        // mean about 3,100), smaller in a city of flats, larger in houses on the land
        // (assumption on the household sizes); about 9 non-household customers per 100 meters
        // nationally (BDEW: GHD uses about as much as households), fewer in a suburb; large
        // industry mostly sits on the HV grid, so a distribution area keeps a few MV/LV
        // factories (assumption). The suburb's energy comes out about 54% residential, 25%
        // commercial, 14% industrial and 6% critical, and its winter workday peaks in the
        // evening like a residential area's.
        let class_mix = shares(
            "class_mix",
            self.class_mix
                .map(|m| [m.residential, m.commercial, m.industrial, m.critical])
                .unwrap_or([
                    pick(0.9065, 0.95, 0.93),
                    pick(0.09, 0.047, 0.0665),
                    pick(0.0025, 0.002, 0.0025),
                    0.001,
                ]),
        )?;
        let class_annual_kwh = self
            .class_annual_kwh
            .map(|m| [m.residential, m.commercial, m.industrial, m.critical])
            .unwrap_or([
                pick(2_500.0, 3_200.0, 3_600.0),
                pick(30_000.0, 30_000.0, 25_000.0),
                400_000.0,
                amirange_sim::network::CRITICAL_MEAN_ANNUAL_KWH,
            ]);
        for (kwh, name) in class_annual_kwh
            .iter()
            .zip(["residential", "commercial", "industrial", "critical"])
        {
            if !(kwh.is_finite() && *kwh > 0.0 && *kwh <= 1e9) {
                return invalid(
                    &format!("class_annual_kwh.{name}"),
                    format!("must be above 0 and at most 1e9 kWh, not {kwh}"),
                );
            }
        }
        let facility_mix = shares(
            "facility_mix",
            self.facility_mix
                .map(|m| [m.hospital, m.water, m.emergency])
                .unwrap_or(amirange_sim::network::DEFAULT_FACILITY_MIX),
        )?;
        let link_shares = shares(
            "link_shares",
            self.link_shares.map(|m| [m.mesh, m.plc, m.cellular]).unwrap_or([
                pick(0.7, 0.7, 0.45),
                pick(0.2, 0.2, 0.25),
                pick(0.1, 0.1, 0.3),
            ]),
        )?;
        let cellular_fallback = in_range("cellular_fallback", self.cellular_fallback.unwrap_or(0.05), 0.0, 1.0)?;
        let meters_per_collector = count(
            "meters_per_collector",
            self.meters_per_collector.unwrap_or(1_000),
            1,
            100_000,
        )?;
        let r = self.radio.unwrap_or_default();
        // 900 MHz ISM meters transmit up to 1 W (30 dBm); path-loss exponents of 2.7 to 3.5 for
        // rural to urban clutter and 6-8 dB shadowing are textbook values (e.g. Rappaport,
        // Wireless Communications); the rest are assumptions.
        let radio = Radio {
            tx_power_dbm: in_range("radio.tx_power_dbm", r.tx_power_dbm.unwrap_or(24.0), -30.0, 40.0)?,
            sensitivity_dbm: in_range(
                "radio.sensitivity_dbm",
                r.sensitivity_dbm.unwrap_or(-100.0),
                -150.0,
                0.0,
            )?,
            path_loss_exponent: in_range(
                "radio.path_loss_exponent",
                r.path_loss_exponent.unwrap_or(pick(3.5, 3.2, 2.8)),
                2.0,
                6.0,
            )?,
            shadowing_db: in_range(
                "radio.shadowing_db",
                r.shadowing_db.unwrap_or(pick(8.0, 7.0, 6.0)),
                0.0,
                20.0,
            )?,
            building_loss_db: in_range(
                "radio.building_loss_db",
                r.building_loss_db.unwrap_or(pick(18.0, 15.0, 10.0)),
                0.0,
                60.0,
            )?,
            collector_gain_db: in_range("radio.collector_gain_db", r.collector_gain_db.unwrap_or(6.0), 0.0, 30.0)?,
            max_neighbours: count("radio.max_neighbours", r.max_neighbours.unwrap_or(10), 1, 64)?,
        };
        let typical = LinkParams::typical();
        let m = self.mesh.clone().unwrap_or_default();
        let mesh = MeshLinkParams {
            hop_latency_median: duration(
                "mesh.hop_latency_median",
                &m.hop_latency_median,
                typical.mesh.hop_latency_median,
            )?,
            hop_latency_sigma: m.hop_latency_sigma.unwrap_or(typical.mesh.hop_latency_sigma),
            bandwidth_bps: m.bandwidth_bps.unwrap_or(typical.mesh.bandwidth_bps),
            mac_retries: m.mac_retries.unwrap_or(typical.mesh.mac_retries),
            min_link_quality: m.min_link_quality.unwrap_or(typical.mesh.min_link_quality),
            max_hops: m.max_hops.unwrap_or(typical.mesh.max_hops),
            route_repair_delay: duration(
                "mesh.route_repair_delay",
                &m.route_repair_delay,
                typical.mesh.route_repair_delay,
            )?,
        };
        let p = self.plc.clone().unwrap_or_default();
        let plc = PlcLinkParams {
            bandwidth_bps: p.bandwidth_bps.unwrap_or(typical.plc.bandwidth_bps),
            turnaround: duration("plc.turnaround", &p.turnaround, typical.plc.turnaround)?,
            mac_retries: p.mac_retries.unwrap_or(typical.plc.mac_retries),
        };
        let plc_quality = (
            in_range("plc.quality_min", p.quality_min.unwrap_or(0.8), 0.0, 1.0)?,
            in_range("plc.quality_max", p.quality_max.unwrap_or(0.99), 0.0, 1.0)?,
            in_range(
                "plc.reach_m",
                p.reach_m.unwrap_or(pick(600.0, 800.0, 1_200.0)),
                1.0,
                100_000.0,
            )?,
        );
        if plc_quality.0 > plc_quality.1 {
            return invalid("plc.quality_min", "cannot exceed plc.quality_max");
        }
        let c = self.cellular.clone().unwrap_or_default();
        let cellular = CellularLinkParams {
            latency_median: duration(
                "cellular.latency_median",
                &c.latency_median,
                typical.cellular.latency_median,
            )?,
            latency_sigma: c.latency_sigma.unwrap_or(typical.cellular.latency_sigma),
            capacity_msgs_per_s: c.capacity_msgs_per_s.unwrap_or(typical.cellular.capacity_msgs_per_s),
            bandwidth_bps: c.bandwidth_bps.unwrap_or(typical.cellular.bandwidth_bps),
        };
        let towers = (
            in_range(
                "cellular.tower_spacing_m",
                c.tower_spacing_m.unwrap_or(pick(1_000.0, 2_500.0, 8_000.0)),
                50.0,
                100_000.0,
            )?,
            in_range(
                "cellular.range_m",
                c.range_m.unwrap_or(pick(2_000.0, 4_000.0, 12_000.0)),
                50.0,
                100_000.0,
            )?,
        );
        let b = self.backhaul.clone().unwrap_or_default();
        let backhaul = BackhaulParams {
            success: b.success.unwrap_or(typical.backhaul.success),
            latency_median: duration(
                "backhaul.latency_median",
                &b.latency_median,
                typical.backhaul.latency_median,
            )?,
            latency_sigma: b.latency_sigma.unwrap_or(typical.backhaul.latency_sigma),
        };
        let msg = self.messages.unwrap_or_default();
        let links = LinkParams {
            mesh,
            plc,
            cellular,
            backhaul,
            request_bytes: msg.request_bytes.unwrap_or(typical.request_bytes),
            read_bytes: msg.read_bytes.unwrap_or(typical.read_bytes),
        };
        links.check().map_err(|e| TopologyError::Invalid {
            field: if e.field == "read_bytes" {
                "messages".to_owned()
            } else {
                e.field
            },
            reason: e.reason,
        })?;
        Ok(Area {
            kind: k,
            meters,
            density_per_km2: density,
            settlements: settlements.min(meters.div_ceil(u64::from(meters_per_transformer)) as u32),
            region_density_per_km2: region_density,
            street_spacing_m,
            meters_per_transformer,
            transformers_per_feeder,
            feeders_per_substation,
            meters_per_transformer_spread,
            transformers_per_feeder_spread,
            class_mix,
            class_annual_kwh,
            facility_mix,
            link_shares,
            cellular_fallback,
            meters_per_collector,
            radio,
            plc_quality,
            towers,
            links,
        })
    }
}
