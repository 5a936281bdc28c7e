//! Scenario files: RON, loaded in two phases.
//!
//! 1. [`RawScenario`]: plain serde types that mirror the file, every struct with
//!    `deny_unknown_fields`, optional fields as `Option`s (RON's `implicit_some` is on, so
//!    `read_success: 0.9` works without `Some(..)`). Syntax and type errors come from here, with
//!    the position RON reports.
//! 2. [`Scenario`]: the validated, typed form, with units as types (`SimDuration`, dates) and
//!    defaults filled in. Every check names the field and, by locating it in the source text,
//!    its line and column.
//!
//! Command-line overrides (`--seed`, `--meters`, `--duration`) are applied to the raw form
//! before validation, so they are checked by the same rules.

use amirange_attackers::{AttackError, AttackSpec, Campaign, Context};
use amirange_sim::config::{INTERVAL, SimConfig};
use amirange_sim::field::FieldError;
use amirange_sim::hes::AccountSpec;
use amirange_sim::model::{ClassConsumption, CustomerClass};
use amirange_sim::operations::OperationsConfig;
use amirange_sim::profile::ProfileId;
use amirange_sim::security::{FirmwareImage, KeyModel};
use amirange_sim::time::{CivilDate, CivilDateTime, SimDuration, SimTime};
use amirange_topologies::{Area, AreaSpec, TopologyError};
use serde::{Deserialize, Serialize};

/// The scenario as written in the file.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename = "Scenario")]
pub struct RawScenario {
    /// Short name, used for the result folder.
    pub name: String,
    /// What the scenario is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The seed every random number derives from.
    pub seed: u64,
    /// Calendar start, `YYYY-MM-DDTHH:MM[:SS]`, on a quarter-hour.
    pub start: String,
    /// Simulated duration, e.g. `"1d"`, `"7d"`, `"36h"`.
    pub duration: String,
    /// How the grid and network are built.
    pub topology: RawTopology,
    /// Consumption model per class; defaults apply to what is left out.
    #[serde(default)]
    pub consumption: Option<RawConsumption>,
    /// Read cycles and deadlines; defaults apply to what is left out.
    #[serde(default)]
    pub metering: Option<RawMetering>,
    /// Public holidays (`YYYY-MM-DD`), which the profiles treat as Sundays.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Legitimate operations: `Off` (the default) or `Typical`.
    #[serde(default)]
    pub operations: Option<RawOperations>,
    /// Rates of the legitimate operations, each optional (typical values otherwise).
    #[serde(default)]
    pub operation_rates: Option<RawOperationRates>,
    /// The head-end system: accounts, fan-out rate, timeouts, retries.
    #[serde(default)]
    pub hes: Option<RawHes>,
    /// Meter security posture and relay behaviour.
    #[serde(default)]
    pub security: Option<RawSecurity>,
    /// MDM: tariffs and outage detection.
    #[serde(default)]
    pub mdm: Option<RawMdm>,
    /// Cold-load pickup after a feeder is restored.
    #[serde(default)]
    pub cold_load: Option<RawColdLoad>,
    /// The bulk system's frequency response and under-frequency load shedding.
    #[serde(default)]
    pub frequency: Option<RawFrequency>,
    /// The grid's technical losses and protection settings.
    #[serde(default)]
    pub grid: Option<RawGrid>,
    /// Defenses: a preset, or the HES's command policy, detectors, IDS rules, playbooks and
    /// restoration (see docs/defenses.md).
    #[serde(default)]
    pub defenses: Option<RawDefenses>,
    /// Whether a run also runs its baseline twin (the same scenario and seed without the
    /// attacks) and reports every measure as attack, baseline and difference (`paired.csv`).
    #[serde(default)]
    pub paired: Option<bool>,
    /// Extra per-meter files `amirange run` writes into the result folder, as `--export` does: `Readings` writes
    /// `readings.parquet`, every meter's 15-minute readings (see docs/results.md). `sweep`, `matrix` and `bench` write
    /// no result folder of the run and leave it out.
    #[serde(default)]
    pub export: Vec<Export>,
    /// Which field networks `Field` (or `run --export field`) captures: `(collectors: [0, 5])`, collector and
    /// cellular tower indices as `amirange topo describe` numbers them, and/or every collector in an `area`, optionally
    /// within a time window (`from`, `until`). A 1M-meter day of every field network would be tens of GB, so the choice
    /// is explicit.
    #[serde(default)]
    pub field_capture: Option<RawFieldCapture>,
    /// Scripted attacks (see `scenarios/attacks/`), each with an `id`, a start time and its own
    /// parameters.
    #[serde(default)]
    pub attacks: Vec<AttackSpec>,
}

/// An extra per-meter file a run writes into its result folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Export {
    /// `readings.parquet`: every meter's 15-minute true and reported energy, with its place in the grid and what
    /// attacks did to it.
    Readings,
    /// `traffic.pcapng`: the packets the network sensor behind the utility's firewall saw (the IDS's view), for
    /// Wireshark, tshark, Suricata or Zeek (see docs/traffic.md).
    Traffic,
    /// `flows.csv`: one row per flow of those packets, with features that need no payload, a Community ID and
    /// ground-truth labels (see docs/traffic.md).
    Flows,
    /// `field.pcapng` and `field-keys.csv`: the DLMS/COSEM exchanges on the field networks of the collectors
    /// `field_capture` names, ciphered as the meters cipher them, and the keys that decrypt them (see docs/traffic.md).
    Field,
}

/// The field networks a field capture covers, and when.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFieldCapture {
    /// Collector (or cellular tower) indices.
    #[serde(default)]
    pub collectors: Vec<u32>,
    /// Every collector (and tower) within `radius_m` of `center` too: `(center: Collector(0), radius_m: 2000)`.
    #[serde(default)]
    pub area: Option<RawCaptureArea>,
    /// Only packets from this time on (a time as an attack's `at` writes it, e.g. `"0d 06:00"`).
    #[serde(default)]
    pub from: Option<String>,
    /// Only packets before this time.
    #[serde(default)]
    pub until: Option<String>,
}

/// An area whose collectors a field capture covers.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCaptureArea {
    /// Its centre: `Collector(n)`, `Meter(n)` or `Point(x, y)` (m).
    pub center: amirange_attackers::targets::Place,
    /// Its radius, m (above 0, at most 100,000).
    pub radius_m: f32,
}

/// What a field capture covers, checked: collectors named and those of an area (resolved once
/// the network is built), and a time window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FieldCaptureSpec {
    /// Collector (or tower) indices named, sorted, each once.
    pub collectors: Vec<u32>,
    /// An area whose collectors are captured too: centre and radius, m.
    pub area: Option<(amirange_attackers::targets::Place, f32)>,
    /// Packets before this time are left out.
    pub from: Option<SimTime>,
    /// Packets at or after this time are left out.
    pub until: Option<SimTime>,
}

impl FieldCaptureSpec {
    /// Whether it names no collector and no area.
    pub fn is_empty(&self) -> bool {
        self.collectors.is_empty() && self.area.is_none()
    }

    /// The collectors it covers on `network`: those named and every collector within the area,
    /// sorted, each once; an error for a centre the network does not have.
    pub fn resolve(&self, network: &amirange_sim::network::Network) -> Result<Vec<u32>, String> {
        let mut out = self.collectors.clone();
        if let Some((center, radius)) = &self.area {
            let c = center.resolve(network)?;
            for (k, site) in network.collectors.iter().enumerate() {
                let (dx, dy) = (site.pos.x - c.x, site.pos.y - c.y);
                if dx * dx + dy * dy <= radius * radius {
                    out.push(k as u32);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Whether legitimate operations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum RawOperations {
    /// No background operations.
    Off,
    /// The typical background, with rates from `operation_rates`.
    Typical,
}

/// Rates of legitimate operations, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOperationRates {
    /// Non-payment disconnects per 1,000 residential and commercial customers per month.
    ///
    /// Allowed: 0 to 1,000.
    /// Default: `2.0`.
    #[serde(default)]
    pub nonpayment_per_1000_per_month: Option<f64>,
    /// Share of non-payment disconnects reconnected after payment.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.85`.
    #[serde(default)]
    pub reconnect_share: Option<f64>,
    /// Median time from the disconnect to the reconnect.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"2d"`.
    #[serde(default)]
    pub reconnect_median: Option<String>,
    /// Moves per 1,000 households per month: a move-out, and a move-in when the premise was left vacant.
    ///
    /// Allowed: 0 to 1,000.
    /// Default: `8.0`.
    #[serde(default)]
    pub moves_per_1000_per_month: Option<f64>,
    /// Share of move-outs that leave the premise vacant: disconnected until a move-in.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.3`.
    #[serde(default)]
    pub vacant_share: Option<f64>,
    /// Median vacancy.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"10d"`.
    #[serde(default)]
    pub vacancy_median: Option<String>,
    /// The firmware campaign: `(start: "1d", share_per_day: 0.05, version: "4.2.0", image_kb:
    /// 256)`, each optional; `firmware_campaign: false`-like switching off is `share_per_day: 0`.
    #[serde(default)]
    pub firmware_campaign: Option<RawCampaign>,
    /// Share of the fleet whose keys are rotated per night.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.01`.
    #[serde(default)]
    pub key_rotation_share_per_day: Option<f64>,
    /// Demand response.
    #[serde(default)]
    pub demand_response: Option<RawDemandResponse>,
    /// Communication-module failures per 1,000 meters per year.
    ///
    /// Allowed: 0 to 10,000.
    /// Default: `5.0`.
    #[serde(default)]
    pub meter_failures_per_1000_per_year: Option<f64>,
    /// Median time until a failed meter is replaced.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"3d"`.
    #[serde(default)]
    pub replacement_median: Option<String>,
    /// Damaging storms per year at any one place (storm centres fall over the area and a
    /// margin of one radius, so a larger area sees more storms, each over a smaller share).
    ///
    /// Allowed: 0 to 1,000.
    /// Default: `1.0`.
    #[serde(default)]
    pub storms_per_year_at_a_place: Option<f64>,
    /// Radius of a storm's footprint, km.
    ///
    /// Allowed: 0.1 to 1,000.
    /// Default: `15.0`.
    #[serde(default)]
    pub storm_radius_km: Option<f64>,
    /// Mean MV faults a storm causes per 100 km of line in its footprint.
    ///
    /// Allowed: 0 to 10,000.
    /// Default: `4.0`.
    #[serde(default)]
    pub storm_faults_per_100km: Option<f64>,
    /// MV line faults per 100 km of line per year outside storms.
    ///
    /// Allowed: 0 to 10,000.
    /// Default: `3.0`.
    #[serde(default)]
    pub mv_faults_per_100km_per_year: Option<f64>,
    /// Share of MV faults on a fused lateral (one to four transformers out); the rest trip the
    /// whole feeder.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.6`.
    #[serde(default)]
    pub lateral_share: Option<f64>,
    /// MV/LV transformer failures per 1,000 transformers per year.
    ///
    /// Allowed: 0 to 1,000.
    /// Default: `3.0`.
    #[serde(default)]
    pub transformer_failures_per_1000_per_year: Option<f64>,
    /// Customers (meters) per repair crew on duty; at least one crew.
    ///
    /// Allowed: 100 to 10,000,000.
    /// Default: `15000`.
    #[serde(default)]
    pub customers_per_crew: Option<u32>,
    /// Median time a crew needs on site to restore a tripped feeder by switching.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"1h"`.
    #[serde(default)]
    pub switching_median: Option<String>,
    /// Median time to replace a failed transformer once on site.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"6h"`.
    #[serde(default)]
    pub transformer_replacement_median: Option<String>,
    /// Median time a crew needs on site to repair a lateral and replace its fuse.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"3h"`.
    #[serde(default)]
    pub repair_median: Option<String>,
}

/// A firmware campaign, each field optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCampaign {
    /// When the first nightly wave goes out: the day of the run it falls on (whole days after the start), at 01:00.
    ///
    /// Allowed: a duration.
    /// Default: `"1d"`.
    #[serde(default)]
    pub start: Option<String>,
    /// Share of the fleet sent the new image per night; 0 turns the campaign off.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.05`.
    #[serde(default)]
    pub share_per_day: Option<f64>,
    /// Version of the new image.
    ///
    /// Allowed: not empty.
    /// Default: `"4.2.0"`.
    #[serde(default)]
    pub version: Option<String>,
    /// Size of the new image, KiB.
    ///
    /// Allowed: 1 to 65,536.
    /// Default: `256`.
    #[serde(default)]
    pub image_kb: Option<u32>,
}

/// Demand response, each field optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDemandResponse {
    /// Probability that a winter (December to February) or summer (June to August) workday has an event.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.3`.
    #[serde(default)]
    pub day_probability: Option<f64>,
    /// Share of households enrolled (drawn once per household).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.15`.
    #[serde(default)]
    pub enrolled_share: Option<f64>,
    /// Share of an enrolled premise's load shed during an event.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.3`.
    #[serde(default)]
    pub reduction: Option<f64>,
    /// Length of an event.
    ///
    /// Allowed: 1m to 365d.
    /// Default: `"2h"`.
    #[serde(default)]
    pub duration: Option<String>,
}

/// HES settings, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHes {
    /// Operator and service accounts: `name` (unique), `role`, `mfa` (whether a second factor is needed).
    ///
    /// Allowed: 1 to 1,000 accounts, names not empty.
    /// Default: `ops-alice` (`Operator`), `sup-bob` (`Supervisor`), `admin-carol` (`Administrator`), each with `mfa`,
    /// and `cis-integration` (`Integration`) without; given, the list replaces all four.
    #[serde(default)]
    pub accounts: Option<Vec<RawAccount>>,
    /// Messages per second the HES sends, over all collectors.
    ///
    /// Allowed: 0.1 to 100,000.
    /// Default: `100.0`.
    #[serde(default)]
    pub send_rate_per_s: Option<f64>,
    /// How long the HES waits for a command's acknowledgement before retrying.
    ///
    /// Allowed: 1s to 1d.
    /// Default: `"10m"`.
    #[serde(default)]
    pub command_timeout: Option<String>,
    /// How long it waits for a firmware transfer's acknowledgement.
    ///
    /// Allowed: 1s to 7d.
    /// Default: `"12h"`.
    #[serde(default)]
    pub firmware_timeout: Option<String>,
    /// Retries after a timeout before the HES gives up on a meter.
    ///
    /// Allowed: 0 to 10.
    /// Default: `2`.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Size of a command message (DLMS/COSEM action with security header), bytes.
    ///
    /// Allowed: 16 to 65,536.
    /// Default: `160`.
    #[serde(default)]
    pub command_bytes: Option<u32>,
    /// New connections a second the HES's front end (the broker and gateway that collectors and cellular meters connect
    /// to) accepts; a connection flood beyond that gets connections refused at random.
    ///
    /// Allowed: 1 to 1e9.
    /// Default: `2000.0`.
    #[serde(default)]
    pub front_end_connections_per_s: Option<f64>,
    /// The same for each collector's own backhaul endpoint.
    ///
    /// Allowed: 1 to 1e9.
    /// Default: `200.0`.
    #[serde(default)]
    pub collector_connections_per_s: Option<f64>,
    /// Wait before a refused connection is tried again.
    ///
    /// Allowed: 100ms to 10m.
    /// Default: `"10s"`.
    #[serde(default)]
    pub connect_retry: Option<String>,
    /// Tries before a collector gives up on a read cycle's upload (and the HES on a command's attempt).
    ///
    /// Allowed: 1 to 20.
    /// Default: `3`.
    #[serde(default)]
    pub connect_tries: Option<u32>,
    /// Most jobs (one per command and meter) the send queue holds; a request whose jobs would not fit is refused whole
    /// (`queue-full`).
    ///
    /// Allowed: 1 to 100,000,000.
    /// Default: `2000000`.
    #[serde(default)]
    pub queue_limit: Option<u32>,
}

/// One HES account.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// Login name.
    pub name: String,
    /// `Operator`, `Supervisor`, `Administrator` or `Integration`.
    pub role: amirange_sim::hes::Role,
    /// Whether a second factor is required.
    #[serde(default)]
    pub mfa: Option<bool>,
}

/// Key provisioning in a scenario file.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, schemars::JsonSchema)]
pub enum RawKeys {
    /// A key per meter.
    PerDevice,
    /// A key per group of `size` meters.
    SharedGroup {
        /// Meters per group.
        size: u32,
    },
}

/// Security settings, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    /// Key provisioning: a key per meter, or one per group of `size` consecutive meter numbers.
    ///
    /// Allowed: `PerDevice`, `SharedGroup(size: N)` with N at least 2.
    /// Default: `PerDevice`.
    #[serde(default)]
    pub keys: Option<RawKeys>,
    /// Meters verify an image's signature and reject an unsigned one.
    ///
    /// Default: `true`.
    #[serde(default)]
    pub verify_firmware: Option<bool>,
    /// Meters refuse a command whose frame counter is not above the last one they accepted (a replay).
    ///
    /// Default: `true`.
    #[serde(default)]
    pub frame_counters: Option<bool>,
    /// The HES's network is segmented from distribution SCADA: a foothold on the HES finds no path to the feeder
    /// breakers.
    ///
    /// Default: `true`.
    #[serde(default)]
    pub segmentation: Option<bool>,
    /// Meters authenticate the network they join, so they refuse a rogue concentrator (unless downgraded).
    ///
    /// Default: `true`.
    #[serde(default)]
    pub mutual_auth: Option<bool>,
    /// Share of meters (drawn per meter from the seed) that still accept the legacy security level, which a protocol
    /// downgrade forces them back to: no network or message authentication, no frame counters.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.0`.
    #[serde(default)]
    pub legacy_share: Option<f64>,
    /// The installed image: `version`, `signed`, `image_kb`.
    ///
    /// Allowed: `image_kb` above 0.
    #[serde(default)]
    pub firmware: Option<RawFirmware>,
    /// Time from a connect or disconnect command's arrival to the relay operating.
    ///
    /// Allowed: at most 1h.
    /// Default: `"2s"`.
    #[serde(default)]
    pub relay_delay: Option<String>,
    /// Largest extra delay before a connect or disconnect, drawn uniformly from zero; `"0s"` turns it off.
    ///
    /// Allowed: at most 1d.
    /// Default: `"0s"`.
    #[serde(default)]
    pub random_delay_max: Option<String>,
    /// Time from an image's arrival to it running (verification, reboot).
    ///
    /// Allowed: at most 6h.
    /// Default: `"60s"`.
    #[serde(default)]
    pub firmware_activation: Option<String>,
}

/// The installed firmware, each field optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFirmware {
    /// Version.
    ///
    /// Default: `"4.1.0"`.
    #[serde(default)]
    pub version: Option<String>,
    /// Whether it is signed.
    ///
    /// Default: `true`.
    #[serde(default)]
    pub signed: Option<bool>,
    /// Size, KiB.
    ///
    /// Allowed: above 0.
    /// Default: `256`.
    #[serde(default)]
    pub image_kb: Option<u32>,
}

/// MDM settings, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMdm {
    /// Time-of-use peak period, Monday to Friday, `(from, to)` hours, `to` exclusive.
    ///
    /// Allowed: `from` below `to`, `to` at most 24.
    /// Default: `(8, 20)`.
    #[serde(default)]
    pub peak_hours: Option<(u8, u8)>,
    /// Share of meters billed under time-of-use at the start (drawn per meter; the others are flat).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.25`.
    #[serde(default)]
    pub time_of_use_share: Option<f64>,
    /// Read cycles in a row a meter must miss before the MDM counts it silent.
    ///
    /// Allowed: 1 to 16.
    /// Default: `2`.
    #[serde(default)]
    pub silent_cycles: Option<u8>,
    /// Probability that a meter's last gasp gets out when it loses supply, given that its path works.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.7`.
    #[serde(default)]
    pub last_gasp_success: Option<f64>,
}

/// Defenses, each optional (off otherwise).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefenses {
    /// A defense preset (`none`, `typical-utility`, `hardened`): a whole posture at once. It
    /// overrides the security section's crypto settings and the accounts' MFA, and cannot be
    /// combined with the detection and policy fields below.
    #[serde(default)]
    pub preset: Option<String>,
    /// The HES's command policy.
    #[serde(default)]
    pub command_policy: Option<RawCommandPolicy>,
    /// How often the detectors look (`"1m"`).
    #[serde(default)]
    pub every: Option<String>,
    /// Anomaly detectors, e.g. `[CommandRate(window: "1h"), EnergyBalance()]`.
    #[serde(default)]
    pub detectors: Option<Vec<amirange_defenses::spec::DetectorSpec>>,
    /// IDS rules in Suricata syntax, one per string.
    #[serde(default)]
    pub ids_rules: Option<Vec<String>>,
    /// IDS variables beyond the address plan's.
    #[serde(default)]
    pub ids_vars: Option<std::collections::BTreeMap<String, String>>,
    /// Response playbooks.
    #[serde(default)]
    pub playbooks: Option<Vec<amirange_defenses::spec::PlaybookSpec>>,
    /// Restoration after containment.
    #[serde(default)]
    pub restoration: Option<amirange_defenses::spec::RestorationSpec>,
}

/// A rate limit: `(meters: 500, per: "1h")`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Meters.
    pub meters: u32,
    /// Window, e.g. `"1h"`.
    pub per: String,
}

/// The HES's command policy, each optional (off otherwise).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCommandPolicy {
    /// A disconnect request that would take the meters in the account's accepted disconnect requests within the last
    /// `per` above `meters` is refused whole (`rate-limited`); the window reaches back to the start of the run.
    ///
    /// Allowed: `meters` at least 1, `per` 1s to 30d.
    #[serde(default)]
    pub disconnect_limit_per_account: Option<RawRateLimit>,
    /// Like `disconnect_limit_per_account`, over the accepted disconnect requests of all accounts together.
    ///
    /// Allowed: `meters` at least 1, `per` 1s to 30d.
    #[serde(default)]
    pub disconnect_limit_global: Option<RawRateLimit>,
    /// A request for more meters than this needs `approver`: another account's credential (with its second factor),
    /// supervisor or administrator; without one it is refused (`approval-missing`). The utility's own operations always
    /// carry a colleague's approval; an attacker with one stolen account has none.
    ///
    /// Allowed: any count.
    #[serde(default)]
    pub two_person_above: Option<u32>,
    /// An approved request's jobs join the send queue this much later.
    ///
    /// Allowed: at most 1d.
    #[serde(default)]
    pub approval_latency: Option<String>,
    /// Disconnects outside `from` to `to` o'clock (local) are refused (`outside-window`).
    ///
    /// Allowed: `from < to <= 24`.
    #[serde(default)]
    pub disconnect_hours: Option<(u8, u8)>,
    /// Critical facilities are dropped from every disconnect request (counted in `audit.csv`'s `protected`).
    #[serde(default)]
    pub protect_critical: Option<bool>,
    /// Meters refuse a command without the HSM quorum's signature: every request authorised through the HES's normal
    /// path carries it, one made from inside the HES (a foothold) does not.
    #[serde(default)]
    pub hsm_quorum: Option<bool>,
}

/// The bulk system's frequency model, each optional (the interconnection's values otherwise).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFrequency {
    /// The interconnection whose defaults every other field starts from: `ContinentalEurope`, `GreatBritain` or
    /// `Ercot` (an ERCOT-like 60 Hz system). The fields below override single values.
    ///
    /// Default: `ContinentalEurope`.
    #[serde(default)]
    pub interconnection: Option<amirange_sim::frequency::Interconnection>,
    /// Nominal frequency, Hz; changing it moves the default UFLS stages and the LFSM-O threshold with it.
    ///
    /// Allowed: 50 or 60.
    /// Default: `50.0` (`60.0` for `Ercot`).
    #[serde(default)]
    pub nominal_hz: Option<f64>,
    /// Load of the interconnected system the area belongs to, MW; the area's share of it follows from the area's own
    /// expected peak.
    ///
    /// Allowed: above 0, at most 1e7, and at least the area's expected peak (checked when the run is prepared); not
    /// with `area_share`.
    /// Default: `150000.0` (`25000.0` for `GreatBritain`, `50000.0` for `Ercot`).
    #[serde(default)]
    pub system_mw: Option<f64>,
    /// Instead of `system_mw`: the area's share of the system's load; the system's load is the area's highest
    /// expected load over the run divided by it (an island grid, say).
    ///
    /// Allowed: above 0, at most 1; not with `system_mw`.
    /// Default: not given (the share follows from `system_mw`).
    #[serde(default)]
    pub area_share: Option<f64>,
    /// Inertia constant H of the system on its load, s.
    ///
    /// Allowed: 0.5 to 30.
    /// Default: `4.0` (`8.0` for `GreatBritain`, `5.0` for `Ercot`).
    #[serde(default)]
    pub inertia_s: Option<f64>,
    /// Droop R of the frequency containment reserve on the system's load, per unit: the per-unit frequency
    /// deviation over the per-unit change of output it calls for.
    ///
    /// Allowed: 0.01 to 0.5.
    /// Default: `0.2` (200 mHz of 50 Hz over an FCR of 2% of load; `0.189` for `GreatBritain`, `0.152` for `Ercot`).
    #[serde(default)]
    pub droop: Option<f64>,
    /// Frequency containment reserve held, as a share of the system's load; its output saturates there.
    ///
    /// Allowed: above 0, at most 1.
    /// Default: `0.02` (3,000 MW of 150 GW; `0.0528` for `GreatBritain`, `0.055` for `Ercot`).
    #[serde(default)]
    pub fcr_share: Option<f64>,
    /// Load self-regulation D: per-unit change of load per per-unit change of frequency.
    ///
    /// Allowed: 0 to 10.
    /// Default: `0.5` (1% of load per Hz at 50 Hz; `0.6` for `Ercot`).
    #[serde(default)]
    pub damping: Option<f64>,
    /// Time constant of the frequency containment reserve, s.
    ///
    /// Allowed: 0.2 to 60.
    /// Default: `6.0` (`2.0` for `GreatBritain`, `1.0` for `Ercot`).
    #[serde(default)]
    pub governor_s: Option<f64>,
    /// Time constant of automatic generation control, s.
    ///
    /// Allowed: 10 to 3,600.
    /// Default: `300.0`.
    #[serde(default)]
    pub agc_s: Option<f64>,
    /// LFSM-O threshold: above it, generation in limited frequency-sensitive mode reduces its output, Hz.
    ///
    /// Allowed: above nominal, within 3 Hz of it.
    /// Default: `50.2` (`50.4` for `GreatBritain`, `60.2` for `Ercot`).
    #[serde(default)]
    pub lfsm_o_hz: Option<f64>,
    /// LFSM-O droop, per unit of the participating generation's output.
    ///
    /// Allowed: 0.01 to 0.5.
    /// Default: `0.05` (`0.1` for `GreatBritain`).
    #[serde(default)]
    pub lfsm_o_droop: Option<f64>,
    /// Share of the system's generation that answers in LFSM-O; `0.0` turns the over-frequency response off.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.5`.
    #[serde(default)]
    pub lfsm_o_share: Option<f64>,
    /// Time constant of the LFSM-O response, s.
    ///
    /// Allowed: 0.2 to 60.
    /// Default: `2.0`.
    #[serde(default)]
    pub lfsm_o_s: Option<f64>,
    /// Under-frequency load-shedding stages `(below_hz, shed_share)`: a stage trips when frequency has stayed below
    /// `below_hz` for `ufls_delay`, and sheds `shed_share` of the system's load; `[]` for none. Left out, five stages
    /// of 10%: from 49.0 Hz down in 0.2 Hz steps at 50 Hz (from 48.8 Hz for `GreatBritain`), from 59.3 Hz down in
    /// 0.3 Hz steps at 60 Hz.
    ///
    /// Allowed: thresholds falling, below nominal and within 3 Hz of it; each share above 0, at most 1 in all.
    /// Default: five stages of 10% (above).
    #[serde(default)]
    pub ufls: Option<Vec<(f64, f64)>>,
    /// Operating time of a UFLS relay.
    ///
    /// Allowed: at most 60s.
    /// Default: `"200ms"`.
    #[serde(default)]
    pub ufls_delay: Option<String>,
    /// Time from the first stage's trip to operators restoring its feeders.
    ///
    /// Allowed: 1m to 1d.
    /// Default: `"30m"`.
    #[serde(default)]
    pub ufls_restore: Option<String>,
    /// Time between the restorations of successive stages: stage `s` (from 0) starts coming back `ufls_restore + s ×
    /// ufls_restore_spacing` after it tripped, in blocks of at most 0.5% of the system's load two minutes apart (a
    /// stage of 10% takes 40 minutes, so by default each stage follows the last).
    ///
    /// Allowed: at most 1h.
    /// Default: `"40m"`.
    #[serde(default)]
    pub ufls_restore_spacing: Option<String>,
}

/// The grid's settings, each section optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGrid {
    /// Technical losses of the distribution network below the feeder heads.
    #[serde(default)]
    pub losses: Option<RawLosses>,
    /// Protection of feeders and transformers against overload.
    #[serde(default)]
    pub protection: Option<RawProtection>,
}

/// Technical losses, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLosses {
    /// Transformer winding losses at rated load, as a share of the transformer's rating.
    ///
    /// Allowed: 0 to 0.1.
    /// Default: `0.012`.
    #[serde(default)]
    pub transformer_load_loss_at_rating: Option<f64>,
    /// Losses in the LV cables behind a transformer carrying its rated load, as a share of its rating.
    ///
    /// Allowed: 0 to 0.5.
    /// Default: `0.07`.
    #[serde(default)]
    pub lv_load_loss_at_rating: Option<f64>,
    /// Losses in a feeder's MV lines when it carries its rating, as a share of the rating.
    ///
    /// Allowed: 0 to 0.5.
    /// Default: `0.03`.
    #[serde(default)]
    pub mv_load_loss_at_rating: Option<f64>,
    /// Power factor of the load, relating kW to a transformer's kVA.
    ///
    /// Allowed: 0.5 to 1.
    /// Default: `0.95`.
    #[serde(default)]
    pub power_factor: Option<f64>,
}

/// Protection settings, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProtection {
    /// Feeder overcurrent pickup, as a multiple of the feeder's rating; `inf` turns feeder protection off.
    ///
    /// Allowed: at least 1.
    /// Default: `1.5`.
    #[serde(default)]
    pub feeder_pickup: Option<f64>,
    /// Time multiplier of the IEC 60255-151 standard-inverse curve (3 s at twice the pickup at 0.3).
    ///
    /// Allowed: 0.01 to 10.
    /// Default: `0.3`.
    #[serde(default)]
    pub feeder_time_multiplier: Option<f64>,
    /// Multiplier on the pickup while a restored feeder's cold-load pickup lasts.
    ///
    /// Allowed: 1 to 10.
    /// Default: `2.0`.
    #[serde(default)]
    pub cold_load_pickup_multiplier: Option<f64>,
    /// Transformer thermal protection: the loading, as a multiple of the rating, whose sustained heating trips it; `inf` turns it off.
    ///
    /// Allowed: at least 1.
    /// Default: `1.5`.
    #[serde(default)]
    pub transformer_trip_loading: Option<f64>,
    /// Thermal time constant of a transformer's heating (oil).
    ///
    /// Allowed: 1m to 24h.
    /// Default: `"3h"`.
    #[serde(default)]
    pub transformer_time_constant: Option<String>,
    /// Time from a protection trip to a crew's reclosing by hand.
    ///
    /// Allowed: 1m to 7d.
    /// Default: `"1h"`.
    #[serde(default)]
    pub reclose_after: Option<String>,
}

/// Cold-load pickup, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawColdLoad {
    /// Extra load right after a restoration, as a share of normal load, after an outage of at least `full_after`.
    ///
    /// Allowed: 0 to 3.
    /// Default: `0.6`.
    #[serde(default)]
    pub extra: Option<f64>,
    /// Time constant of the decay back to normal load.
    ///
    /// Allowed: 1m to 12h.
    /// Default: `"1h"`.
    #[serde(default)]
    pub decay: Option<String>,
    /// Outage length from which the full `extra` applies (proportionally less for shorter ones).
    ///
    /// Allowed: at most 2d.
    /// Default: `"2h"`.
    #[serde(default)]
    pub full_after: Option<String>,
}

/// Topology choices.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum RawTopology {
    /// A built-in preset by name (`Preset("town-10k")`; see `amirange topo list`).
    Preset(String),
    /// A topology file (`File("my-area.ron")`), relative to the scenario file.
    File(String),
    /// Generator parameters written inline (`Area(kind: Urban, meters: 50_000, ...)`).
    Area(Box<AreaSpec>),
}

/// Consumption parameters per class, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConsumption {
    /// The climate whose weather (a daily mean temperature per date) drives electric heating
    /// and cooling: `Germany` (DWD normals 1991-2020) or `StLouis` (NOAA normals 1991-2020).
    ///
    /// Default: `Germany`.
    #[serde(default)]
    pub climate: Option<amirange_sim::weather::Climate>,
    /// Households.
    #[serde(default)]
    pub residential: Option<RawClass>,
    /// Commercial premises.
    #[serde(default)]
    pub commercial: Option<RawClass>,
    /// Industrial premises.
    #[serde(default)]
    pub industrial: Option<RawClass>,
    /// Critical facilities.
    #[serde(default)]
    pub critical: Option<RawClass>,
}

/// One class's consumption parameters, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClass {
    /// Standard load profile shaping the class's load: BDEW 1999 edition (`H0` household,
    /// `G0`..`G6` commercial, `L0`..`L2` agriculture), BDEW 2025 edition (`H25`, `G25`, `L25`),
    /// or `UsResidential`, a US household (NREL/OpenEI reference house, St. Louis).
    ///
    /// Allowed: `H0`, `G0`..`G6`, `L0`..`L2`, `H25`, `G25`, `L25`, `UsResidential`.
    /// Default: `H25` / `G25` / none / `G3` (residential, commercial, industrial, critical): industry
    /// is interval-metered and follows a measured-style shift-operation shape unless a profile is given.
    #[serde(default)]
    pub profile: Option<ProfileId>,
    /// Mean annual consumption per premise, kWh (also sizes transformers and feeders).
    ///
    /// Allowed: above 0, at most 1e9.
    /// Default: the topology's `class_annual_kwh` (for a suburb `3_200` / `30_000` / `400_000` / `327_500`:
    /// residential, commercial, industrial, critical).
    #[serde(default)]
    pub mean_annual_kwh: Option<f64>,
    /// Spread of annual consumption between premises (sigma of a mean-preserving log-normal).
    ///
    /// Allowed: 0 to 3.
    /// Default: `0.45` / `0.8` / `0.8` / `0.5` (residential, commercial, industrial, critical).
    #[serde(default)]
    pub annual_sigma: Option<f64>,
    /// One meter's noise from interval to interval (sigma of a mean-one log-normal factor).
    ///
    /// Allowed: 0 to 2.
    /// Default: `0.55` / `0.25` / `0.15` / `0.1` (residential, commercial, industrial, critical).
    #[serde(default)]
    pub interval_noise_sigma: Option<f64>,
    /// Persistence of one meter's noise from one 15-minute interval to the next (the lag-1
    /// autocorrelation of its log; 0 draws every interval afresh).
    ///
    /// Allowed: 0 to 0.999.
    /// Default: `0.7` / `0.8` / `0.8` / `0.8` (residential, commercial, industrial, critical).
    #[serde(default)]
    pub noise_persistence: Option<f64>,
    /// Spread of the premises' daily routines: how much each premise raises or lowers its night,
    /// morning, daytime and evening load against the class profile, keeping its daily energy
    /// (0 puts every premise on the class profile).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.3` / `0` / `0.6` / `0` (residential, commercial, industrial, critical).
    #[serde(default)]
    pub activity_spread: Option<f64>,
    /// Largest shift of a premise's routine against the profile.
    ///
    /// Allowed: 0m to 2h, steps of 15m.
    /// Default: `"1h"` / `"30m"` / `"30m"` / `"15m"` (residential, commercial, industrial, critical).
    #[serde(default)]
    pub max_shift: Option<String>,
    /// Share of the class's annual energy that is electric space heating, which follows the
    /// weather: a day colder than normal adds this share of the annual energy times its extra
    /// heating degree-days over the normal year's.
    ///
    /// Allowed: 0 to 0.9 (with `cooling_share`, at most 0.9).
    /// Default: `0.07` / `0` / `0` / `0` (residential, commercial, industrial, critical).
    #[serde(default)]
    pub heating_share: Option<f64>,
    /// Share of the class's annual energy that is electric cooling, which follows the cooling
    /// degree-days in the same way.
    ///
    /// Allowed: 0 to 0.9.
    /// Default: `0` each.
    #[serde(default)]
    pub cooling_share: Option<f64>,
    /// Share of the class's premises with rooftop PV (5-10 kWp; the meter registers import
    /// only, net of self-consumption). German households 2023: 0.12 (KfW).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0` each.
    #[serde(default)]
    pub pv_share: Option<f64>,
    /// Share of the class's premises with an 11 kW EV charger, charging in the evening.
    /// German households 2023: 0.06 (KfW).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0` each.
    #[serde(default)]
    pub ev_share: Option<f64>,
    /// Share of the class's premises heated by a heat pump, whose electricity follows the heating
    /// degree-days. German households 2023: 0.10 (KfW).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0` each.
    #[serde(default)]
    pub heat_pump_share: Option<f64>,
}

/// Metering parameters, each optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetering {
    /// How often collectors read their meters.
    ///
    /// Allowed: 15m to 4h, steps of 15m.
    /// Default: `"15m"`.
    #[serde(default)]
    pub read_cycle: Option<String>,
    /// A read whose latency exceeds this misses the cycle.
    ///
    /// Allowed: above 0.
    /// Default: `"5m"`.
    #[serde(default)]
    pub read_deadline: Option<String>,
    /// Share of each link kind's meters that are chronic non-communicators: each is dark
    /// (answers and relays nothing) for `dark_days`, then communicates for `lit_days`, in turn.
    ///
    /// Allowed: 0 to 1 per link kind.
    /// Default: `(mesh: 0.02, plc: 0.025, cellular: 0.02)` (assumption, see docs/parameters.md).
    #[serde(default)]
    pub chronic_share: Option<RawPerLinkKind>,
    /// Days a chronic non-communicator stays dark in each spell.
    ///
    /// Allowed: 1 to 60.
    /// Default: `4`.
    #[serde(default)]
    pub dark_days: Option<u32>,
    /// Days a chronic non-communicator communicates between its dark spells (0: dark for good).
    ///
    /// Allowed: 0 to 60.
    /// Default: `4`.
    #[serde(default)]
    pub lit_days: Option<u32>,
    /// Outages per collector and year (its power, radio or backhaul): while one lasts, none of
    /// its meters' reads or messages get through.
    ///
    /// Allowed: 0 to 365.
    /// Default: `4` (assumption).
    #[serde(default)]
    pub collector_outages_per_year: Option<f64>,
    /// Mean length of a collector outage (exponential, at most 48h).
    ///
    /// Allowed: 15m to 48h.
    /// Default: `"4h"` (assumption).
    #[serde(default)]
    pub collector_outage_mean: Option<String>,
    /// Share of days with weather that degrades radio over the whole area.
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.03` (assumption).
    #[serde(default)]
    pub weather_day_share: Option<f64>,
    /// On such a day, the share of their success RF reads and messages keep (PLC is wired).
    ///
    /// Allowed: 0 to 1.
    /// Default: `0.85` (assumption).
    #[serde(default)]
    pub weather_success: Option<f64>,
}

/// A value per link kind, each optional (unset ones keep their default).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPerLinkKind {
    /// RF mesh meters.
    #[serde(default)]
    pub mesh: Option<f64>,
    /// PLC meters.
    #[serde(default)]
    pub plc: Option<f64>,
    /// Cellular meters.
    #[serde(default)]
    pub cellular: Option<f64>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Simulated duration.
    pub duration: SimDuration,
    /// The topology generator's parameters, resolved.
    pub topology: Area,
    /// Where the topology came from: `preset town-10k`, a file path, or `inline`.
    pub topology_source: String,
    /// The engine configuration (seed, start, consumption, metering, HES, security, MDM).
    pub sim: SimConfig,
    /// Legitimate operations, when on.
    pub operations: Option<OperationsConfig>,
    /// Scripted attacks, validated (build them with [`Scenario::campaign`]).
    pub attacks: Vec<AttackSpec>,
    /// Whether a run also runs its baseline twin (see [`crate::paired`]).
    pub paired: bool,
    /// Extra per-meter files `amirange run` writes (as `--export` does), no name twice.
    pub export: Vec<Export>,
    /// What a field capture covers (empty when the scenario names nothing).
    pub field_capture: FieldCaptureSpec,
    /// The defense preset applied, if one was.
    pub preset: Option<String>,
    /// Detection and response as written (or set by the preset); checked when loaded, built
    /// with [`Scenario::detection`].
    pub detection: amirange_defenses::DetectionSpec,
}

impl Scenario {
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.sim.seed
    }
    /// Number of meters.
    pub fn meters(&self) -> u64 {
        self.topology.meters
    }
    /// Mean annual consumption per class, kWh (sizes transformers and feeders).
    pub fn class_kwh(&self) -> [f64; 4] {
        self.sim.classes.map(|c| c.mean_annual_kwh)
    }
    /// Number of 15-minute intervals.
    pub fn n_intervals(&self) -> u32 {
        self.sim.n_slots()
    }
    /// What attack validation knows of the scenario.
    pub fn attack_context(&self) -> Context {
        Context {
            start: self.sim.start,
            horizon: SimTime(self.duration.as_micros()),
            accounts: self.sim.hes.accounts.clone(),
        }
    }
    /// The scenario's attacks, ready to prepare against a built engine.
    pub fn campaign(&self) -> Result<Campaign, AttackError> {
        Campaign::new(&self.attacks, &self.attack_context())
    }

    /// Applies defense preset `name` (see [`amirange_defenses::presets`]): crypto posture,
    /// people's MFA, the command policy, detection and response, replacing the scenario's own.
    pub fn apply_preset(&mut self, name: &str) -> Result<(), FieldError> {
        let p = amirange_defenses::presets::preset(name).ok_or_else(|| {
            FieldError::new(
                "defenses.preset",
                format!(
                    "unknown preset {name:?}: one of {}",
                    amirange_defenses::presets::NAMES.join(", ")
                ),
            )
        })?;
        let s = &mut self.sim.security;
        s.frame_counters = p.frame_counters;
        s.verify_firmware = p.verify_firmware;
        s.mutual_auth = p.mutual_auth;
        s.segmentation = p.segmentation;
        s.random_delay_max = p.random_delay_max;
        for a in &mut self.sim.hes.accounts {
            if a.role != amirange_sim::hes::Role::Integration {
                a.mfa = p.mfa;
            }
        }
        self.sim.hes.policy = p.policy;
        detection(&p.detection, &self.sim)?;
        self.detection = p.detection;
        self.preset = Some(p.name.to_owned());
        Ok(())
    }

    /// Detection and response, checked; `None` when no detector, IDS rule or playbook is on.
    pub fn detection(&self) -> Result<Option<amirange_defenses::Detection>, FieldError> {
        detection(&self.detection, &self.sim)
    }
}

/// Checks detection and response against the HES's accounts; `None` when nothing is on.
fn detection(
    spec: &amirange_defenses::DetectionSpec,
    sim: &SimConfig,
) -> Result<Option<amirange_defenses::Detection>, FieldError> {
    if spec.detectors.is_empty() && spec.ids_rules.is_empty() && spec.playbooks.is_empty() {
        return Ok(None);
    }
    let accounts: Vec<String> = sim.hes.accounts.iter().map(|a| a.name.clone()).collect();
    spec.check(&accounts)
        .map(Some)
        .map_err(|e| FieldError::new(format!("defenses.{}", e.field), e.message))
}

/// Command-line values that replace the scenario's own.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--meters`.
    pub meters: Option<i64>,
    /// `--duration`.
    pub duration: Option<String>,
}

/// A scenario that could not be loaded: where (file, line, column), which field, and why.
pub type ScenarioError = amirange_files::SourceError;

/// Parses and validates a scenario from `source`, read from `file`. A topology `File(..)` is
/// read relative to the scenario file's folder (the working folder for the built-in
/// quickstart).
pub fn load(file: &str, source: &str, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    let raw = parse_raw(file, source)?;
    load_raw(file, source, raw, overrides)
}

/// Parses a scenario file into its raw form (for tools that change fields before validating,
/// such as sweeps). A text that does not open with `Scenario(` is refused without quoting it.
pub fn parse_raw(file: &str, source: &str) -> Result<RawScenario, ScenarioError> {
    amirange_files::check_opening(source, "Scenario", "scenario file").map_err(|message| ScenarioError {
        file: file.to_owned(),
        position: None,
        field: None,
        message,
    })?;
    parse_ron(file, source)
}

/// Reads the scenario file at `path` (a regular file of at most
/// [`amirange_files::MAX_SOURCE_BYTES`]).
pub fn read_source(path: &std::path::Path) -> Result<String, amirange_files::ReadError> {
    amirange_files::read_text(path, "scenario file", amirange_files::MAX_SOURCE_BYTES)
}

/// An error the scenario loader blamed on the command-line `flag` (`--meters`, `--duration`),
/// blamed instead on `field` of the file that set it (a sweep plan's or an exercise's own
/// `meters`); other errors are returned as they are.
pub fn blame_on_file(e: ScenarioError, flag: &str, file: &str, source: &str, field: &str) -> ScenarioError {
    if e.file == format!("command line {flag}") {
        amirange_files::field_error(file, source, field, e.message)
    } else {
        e
    }
}

/// Validates a raw scenario parsed from `source` (errors are located in it).
pub fn load_raw(
    file: &str,
    source: &str,
    mut raw: RawScenario,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let mut overridden: Vec<&str> = Vec::new();
    if let Some(seed) = overrides.seed {
        raw.seed = seed;
        overridden.push("seed");
    }
    if let Some(duration) = &overrides.duration {
        raw.duration = duration.clone();
        overridden.push("duration");
    }
    let blame = |path: String, message: String, overridden: &[&str]| {
        let flag = match path.as_str() {
            "topology.meters" => Some("--meters"),
            "duration" => Some("--duration"),
            "seed" => Some("--seed"),
            _ => None,
        }
        .filter(|_| overridden.contains(&path.as_str()));
        field_error(file, source, path, message, flag)
    };
    // The topology: a preset, a file, or inline; errors point into whichever text holds it.
    let (mut spec, origin, text) = match &raw.topology {
        RawTopology::Preset(name) => {
            let Some(text) = amirange_topologies::preset(name) else {
                let names: Vec<&str> = amirange_topologies::PRESETS.iter().map(|(n, _)| *n).collect();
                return Err(blame(
                    "topology".into(),
                    format!("unknown preset {name:?}; built-in presets: {}", names.join(", ")),
                    &overridden,
                ));
            };
            let label = format!("topologies/presets/{name}.ron");
            (parse_ron::<AreaSpec>(&label, text)?, label, Some(text.to_owned()))
        }
        RawTopology::File(path) => {
            let base = if file.starts_with('<') {
                std::path::PathBuf::new()
            } else {
                std::path::Path::new(file)
                    .parent()
                    .map(|p| p.to_path_buf())
                    .unwrap_or_default()
            };
            let full = base.join(path);
            let label = full.display().to_string();
            let text = amirange_files::read_text(&full, "topology file", amirange_files::MAX_SOURCE_BYTES)
                .map_err(|e| blame("topology".into(), e.to_string(), &overridden))?;
            // A file that is not a topology (a wrong path, `/etc/passwd`) is refused without
            // quoting it: RON's own error would echo its first word.
            amirange_files::check_opening(&text, "Area", "topology file")
                .map_err(|m| blame("topology".into(), format!("{label} is {m}"), &overridden))?;
            (parse_ron::<AreaSpec>(&label, &text)?, label, Some(text))
        }
        RawTopology::Area(spec) => ((**spec).clone(), "inline".to_owned(), None),
    };
    if let Some(meters) = overrides.meters {
        spec.meters = meters;
        overridden.push("topology.meters");
    }
    let topology = spec.resolve().map_err(|e| {
        let TopologyError::Invalid { field, reason } = e else {
            return blame("topology".into(), e.to_string(), &overridden);
        };
        let path = format!("topology.{field}");
        match &text {
            Some(text) if !overridden.contains(&path.as_str()) => field_error(&origin, text, field, reason, None),
            _ => blame(path, reason, &overridden),
        }
    })?;
    validate(raw, topology, origin).map_err(|e| blame(e.field, e.message, &overridden))
}

/// Parses a topology file's text (for `amirange topo`), with `meters` replacing its meter
/// count when given: errors name the file, line and field (or the `--meters` flag).
pub fn load_area(file: &str, source: &str, meters: Option<i64>) -> Result<Area, ScenarioError> {
    let mut spec: AreaSpec = parse_ron(file, source)?;
    if let Some(m) = meters {
        spec.meters = m;
    }
    spec.resolve().map_err(|e| {
        let (field, message) = match e {
            TopologyError::Invalid { field, reason } => (field, reason),
            other => (String::new(), other.to_string()),
        };
        let flag = (meters.is_some() && field == "meters").then_some("--meters");
        field_error(file, source, field, message, flag)
    })
}

/// An error about `field`: blamed on the command-line `flag` that set it, or located in
/// `source` (read from `file`) by its key path.
fn field_error(file: &str, source: &str, field: String, message: String, flag: Option<&str>) -> ScenarioError {
    if let Some(flag) = flag {
        return ScenarioError {
            file: format!("command line {flag}"),
            position: None,
            field: Some(field),
            message,
        };
    }
    amirange_files::field_error(file, source, &field, message)
}

/// Parses RON `source` with the scenario's extensions (`implicit_some`, unwrapped newtype
/// variants); a byte-order mark is skipped and errors are located (see [`amirange_files`]).
fn parse_ron<T: serde::de::DeserializeOwned>(file: &str, source: &str) -> Result<T, ScenarioError> {
    let options = ron::Options::default().with_default_extension(
        ron::extensions::Extensions::IMPLICIT_SOME | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
    );
    amirange_files::parse_ron(file, source, options)
}

type Invalid = FieldError;

fn invalid<T>(path: &str, message: impl Into<String>) -> Result<T, Invalid> {
    Err(FieldError::new(path.to_owned(), message))
}

/// A field capture as written, checked: something to capture, an area of sensible size, a
/// window within the run whose end is after its start.
fn field_capture(
    raw: RawFieldCapture,
    start: CivilDateTime,
    duration: SimDuration,
) -> Result<FieldCaptureSpec, Invalid> {
    let horizon = SimTime(duration.as_micros());
    let instant = |field: &str, text: &Option<String>| -> Result<Option<SimTime>, Invalid> {
        let Some(text) = text else { return Ok(None) };
        amirange_attackers::when::instant(&format!("field_capture.{field}"), text, start, horizon)
            .map(Some)
            .map_err(|e| FieldError::new(e.field, e.message))
    };
    let from = instant("from", &raw.from)?;
    let until = instant("until", &raw.until)?;
    if let (Some(f), Some(u)) = (from, until)
        && u <= f
    {
        return invalid("field_capture.until", "must be after `from`");
    }
    let area = match raw.area {
        Some(a) if !(a.radius_m > 0.0 && a.radius_m <= 100_000.0) => {
            return invalid("field_capture.area.radius_m", "must be above 0 and at most 100,000 m");
        }
        Some(a) => Some((a.center, a.radius_m)),
        None => None,
    };
    let mut collectors = raw.collectors;
    collectors.sort_unstable();
    collectors.dedup();
    if collectors.is_empty() && area.is_none() {
        return invalid(
            "field_capture",
            "name collectors or an area, e.g. `field_capture: (collectors: [0])` or `(area: (center: Collector(0), radius_m: 2000))`",
        );
    }
    Ok(FieldCaptureSpec {
        collectors,
        area,
        from,
        until,
    })
}

fn duration_field(path: &str, text: &str) -> Result<SimDuration, Invalid> {
    SimDuration::parse(text).map_err(|e| FieldError::new(path, e.to_string()))
}

/// A duration that must be a whole number of 15-minute intervals, as a count of intervals.
fn whole_intervals(path: &str, text: &str) -> Result<u32, Invalid> {
    let d = duration_field(path, text)?;
    if !d.as_micros().is_multiple_of(INTERVAL.as_micros()) {
        return invalid(path, "must be a whole number of 15-minute intervals");
    }
    Ok((d.as_micros() / INTERVAL.as_micros()).min(u64::from(u32::MAX)) as u32)
}

/// Maps a field path of the engine's `SimConfig` to where the scenario file sets it.
fn scenario_path(config_field: &str) -> String {
    if let Some(rest) = config_field.strip_prefix("classes.") {
        return format!("consumption.{}", rest.replace("max_shift_slots", "max_shift"));
    }
    if ["read_cycle", "read_deadline"].contains(&config_field) {
        return format!("metering.{config_field}");
    }
    if let Some(rest) = config_field.strip_prefix("comms.") {
        return format!(
            "metering.{}",
            rest.replace("collector_outage_mean_h", "collector_outage_mean")
        );
    }
    if let Some(rest) = config_field.strip_prefix("security.") {
        return match rest {
            "keys.size" => "security.keys.size".to_owned(),
            "firmware.image_kb" => "security.firmware.image_kb".to_owned(),
            other => format!("security.{other}"),
        };
    }
    if let Some(rest) = config_field.strip_prefix("hes.policy.") {
        return format!("defenses.command_policy.{rest}");
    }
    match config_field {
        "horizon" => "duration".to_owned(),
        "mdm.peak_hours" => "mdm.peak_hours".to_owned(),
        other => other.to_owned(),
    }
}

fn validate(raw: RawScenario, topology: Area, topology_source: String) -> Result<Scenario, Invalid> {
    if raw.name.trim().is_empty() {
        return invalid("name", "must not be empty");
    }
    if !raw
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return invalid(
            "name",
            "use letters, digits, '-' and '_' only (it names the result folder)",
        );
    }
    let start = CivilDateTime::parse(&raw.start)
        .ok_or_else(|| FieldError::new("start", format!("expected YYYY-MM-DDTHH:MM[:SS], got {:?}", raw.start)))?;
    let duration = duration_field("duration", &raw.duration)?;
    if duration == SimDuration::ZERO {
        return invalid("duration", "must be longer than zero");
    }

    let mut sim = SimConfig::with_defaults(raw.seed, start, duration);
    // The kind of area sets each class's mean consumption unless the scenario does.
    for class in CustomerClass::ALL {
        sim.classes[class.index()].mean_annual_kwh = topology.class_annual_kwh[class.index()];
    }
    let consumption = raw.consumption.unwrap_or_default();
    if let Some(climate) = consumption.climate {
        sim.climate = climate;
    }
    for (class, given) in [
        (CustomerClass::Residential, consumption.residential),
        (CustomerClass::Commercial, consumption.commercial),
        (CustomerClass::Industrial, consumption.industrial),
        (CustomerClass::Critical, consumption.critical),
    ] {
        let Some(given) = given else { continue };
        let path = |f: &str| format!("consumption.{}.{f}", class.name());
        let c: &mut ClassConsumption = &mut sim.classes[class.index()];
        if let Some(p) = given.profile {
            c.profile = p;
            c.shape = amirange_sim::interval_metering::LoadShape::StandardProfile;
        }
        c.mean_annual_kwh = given.mean_annual_kwh.unwrap_or(c.mean_annual_kwh);
        c.annual_sigma = given.annual_sigma.unwrap_or(c.annual_sigma);
        c.interval_noise_sigma = given.interval_noise_sigma.unwrap_or(c.interval_noise_sigma);
        c.noise_persistence = given.noise_persistence.unwrap_or(c.noise_persistence);
        c.activity_spread = given.activity_spread.unwrap_or(c.activity_spread);
        c.heating_share = given.heating_share.unwrap_or(c.heating_share);
        c.cooling_share = given.cooling_share.unwrap_or(c.cooling_share);
        c.pv_share = given.pv_share.unwrap_or(c.pv_share);
        c.ev_share = given.ev_share.unwrap_or(c.ev_share);
        c.heat_pump_share = given.heat_pump_share.unwrap_or(c.heat_pump_share);
        if let Some(text) = given.max_shift {
            c.max_shift_slots = whole_intervals(&path("max_shift"), &text)?.min(u32::from(u8::MAX)) as u8;
        }
    }

    let metering = raw.metering.unwrap_or_default();
    if let Some(text) = metering.read_cycle {
        sim.read_cycle_intervals = whole_intervals("metering.read_cycle", &text)?;
    }
    if let Some(text) = metering.read_deadline {
        sim.read_deadline = duration_field("metering.read_deadline", &text)?;
    }
    if let Some(share) = metering.chronic_share {
        for (i, value) in [share.mesh, share.plc, share.cellular].into_iter().enumerate() {
            if let Some(v) = value {
                sim.comms.chronic_share[i] = v;
            }
        }
    }
    if let Some(days) = metering.dark_days {
        sim.comms.dark_days = days;
    }
    if let Some(days) = metering.lit_days {
        sim.comms.lit_days = days;
    }
    if let Some(rate) = metering.collector_outages_per_year {
        sim.comms.collector_outages_per_year = rate;
    }
    if let Some(text) = metering.collector_outage_mean {
        let d = duration_field("metering.collector_outage_mean", &text)?;
        sim.comms.collector_outage_mean_h = d.as_micros() as f64 / 3.6e9;
    }
    if let Some(share) = metering.weather_day_share {
        sim.comms.weather_day_share = share;
    }
    if let Some(share) = metering.weather_success {
        sim.comms.weather_success = share;
    }
    for text in &raw.holidays {
        let date = CivilDate::parse(text)
            .ok_or_else(|| FieldError::new("holidays", format!("expected YYYY-MM-DD, got {text:?}")))?;
        sim.holidays.push(date);
    }
    control_plane(&mut sim, raw.hes, raw.security, raw.mdm, raw.cold_load)?;
    let defenses = raw.defenses.unwrap_or_default();
    let preset = defenses.preset.clone();
    if preset.is_some() {
        let given = [
            ("command_policy", defenses.command_policy.is_some()),
            ("every", defenses.every.is_some()),
            ("detectors", defenses.detectors.is_some()),
            ("ids_rules", defenses.ids_rules.is_some()),
            ("ids_vars", defenses.ids_vars.is_some()),
            ("playbooks", defenses.playbooks.is_some()),
            ("restoration", defenses.restoration.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            return invalid(
                &format!("defenses.{field}"),
                "a preset sets the whole posture: remove the preset, or this field",
            );
        }
    }
    let detection_spec = amirange_defenses::DetectionSpec {
        every: defenses.every,
        detectors: defenses.detectors.unwrap_or_default(),
        ids_rules: defenses.ids_rules.unwrap_or_default(),
        ids_vars: defenses.ids_vars.unwrap_or_default(),
        playbooks: defenses.playbooks.unwrap_or_default(),
        restoration: defenses.restoration,
    };
    if let Some(p) = defenses.command_policy {
        let c = &mut sim.hes.policy;
        let limit =
            |field: &str, raw: Option<RawRateLimit>| -> Result<Option<amirange_sim::policy::RateLimit>, Invalid> {
                raw.map(|r| {
                    Ok(amirange_sim::policy::RateLimit {
                        meters: r.meters,
                        per: duration_field(&format!("defenses.command_policy.{field}.per"), &r.per)?,
                    })
                })
                .transpose()
            };
        c.disconnect_limit_per_account = limit("disconnect_limit_per_account", p.disconnect_limit_per_account)?;
        c.disconnect_limit_global = limit("disconnect_limit_global", p.disconnect_limit_global)?;
        c.two_person_above = p.two_person_above;
        set_duration(
            &mut c.approval_latency,
            "defenses.command_policy.approval_latency",
            p.approval_latency,
        )?;
        c.disconnect_hours = p.disconnect_hours;
        c.protect_critical = p.protect_critical.unwrap_or(false);
        c.hsm_quorum = p.hsm_quorum.unwrap_or(false);
    }
    if let Some(f) = raw.frequency {
        let c = &mut sim.frequency;
        *c = amirange_sim::frequency::FrequencyConfig::of(f.interconnection.unwrap_or(c.interconnection));
        if let Some(hz) = f.nominal_hz {
            // The default stages and the LFSM-O threshold follow the nominal frequency.
            c.set_nominal_hz(hz);
        }
        match (f.system_mw, f.area_share) {
            (Some(_), Some(_)) => {
                return invalid(
                    "frequency.area_share",
                    "give the system's load (system_mw) or the area's share of it (area_share), not both",
                );
            }
            (Some(mw), None) => c.system_mw = Some(mw),
            (None, Some(share)) => {
                c.system_mw = None;
                c.area_share = Some(share);
            }
            (None, None) => {}
        }
        c.inertia_s = f.inertia_s.unwrap_or(c.inertia_s);
        c.droop = f.droop.unwrap_or(c.droop);
        c.fcr_share = f.fcr_share.unwrap_or(c.fcr_share);
        c.damping = f.damping.unwrap_or(c.damping);
        c.governor_s = f.governor_s.unwrap_or(c.governor_s);
        c.agc_s = f.agc_s.unwrap_or(c.agc_s);
        c.lfsm_o_hz = f.lfsm_o_hz.unwrap_or(c.lfsm_o_hz);
        c.lfsm_o_droop = f.lfsm_o_droop.unwrap_or(c.lfsm_o_droop);
        c.lfsm_o_share = f.lfsm_o_share.unwrap_or(c.lfsm_o_share);
        c.lfsm_o_s = f.lfsm_o_s.unwrap_or(c.lfsm_o_s);
        if let Some(stages) = f.ufls {
            c.ufls = stages
                .into_iter()
                .map(|(below_hz, shed_share)| amirange_sim::frequency::UflsStage { below_hz, shed_share })
                .collect();
        }
        set_duration(&mut c.ufls_delay, "frequency.ufls_delay", f.ufls_delay)?;
        set_duration(&mut c.ufls_restore, "frequency.ufls_restore", f.ufls_restore)?;
        set_duration(
            &mut c.ufls_restore_spacing,
            "frequency.ufls_restore_spacing",
            f.ufls_restore_spacing,
        )?;
    }
    if let Some(g) = raw.grid {
        if let Some(l) = g.losses {
            let c = &mut sim.grid.losses;
            c.transformer_load_loss_at_rating = l
                .transformer_load_loss_at_rating
                .unwrap_or(c.transformer_load_loss_at_rating);
            c.lv_load_loss_at_rating = l.lv_load_loss_at_rating.unwrap_or(c.lv_load_loss_at_rating);
            c.mv_load_loss_at_rating = l.mv_load_loss_at_rating.unwrap_or(c.mv_load_loss_at_rating);
            c.power_factor = l.power_factor.unwrap_or(c.power_factor);
        }
        if let Some(p) = g.protection {
            let c = &mut sim.grid.protection;
            c.feeder_pickup = p.feeder_pickup.unwrap_or(c.feeder_pickup);
            c.feeder_time_multiplier = p.feeder_time_multiplier.unwrap_or(c.feeder_time_multiplier);
            c.cold_load_pickup_multiplier = p.cold_load_pickup_multiplier.unwrap_or(c.cold_load_pickup_multiplier);
            c.transformer_trip_loading = p.transformer_trip_loading.unwrap_or(c.transformer_trip_loading);
            set_duration(
                &mut c.transformer_time_constant,
                "grid.protection.transformer_time_constant",
                p.transformer_time_constant,
            )?;
            set_duration(&mut c.reclose_after, "grid.protection.reclose_after", p.reclose_after)?;
        }
    }
    // Ranges are the engine's to define; name the field as the scenario file spells it.
    sim.check()
        .map_err(|e| FieldError::new(scenario_path(&e.field), e.reason))?;
    let operations = match (raw.operations.unwrap_or(RawOperations::Off), raw.operation_rates) {
        (RawOperations::Off, Some(_)) => {
            return invalid(
                "operation_rates",
                "rates are given but `operations` is Off; set `operations: Typical`",
            );
        }
        (RawOperations::Off, None) => None,
        (RawOperations::Typical, rates) => {
            let ops = operation_rates(rates.unwrap_or_default())?;
            ops.check().map_err(|e| e.inside("operation_rates"))?;
            Some(ops)
        }
    };
    let field_capture = match raw.field_capture {
        Some(capture) => field_capture(capture, sim.start, duration)?,
        None => FieldCaptureSpec::default(),
    };
    if raw.export.contains(&Export::Field) && field_capture.is_empty() {
        return invalid(
            "export",
            "`Field` captures the field networks of the collectors `field_capture` names; add e.g. \
             `field_capture: (collectors: [0])`",
        );
    }
    let scenario = Scenario {
        name: raw.name,
        description: raw.description,
        duration,
        topology,
        topology_source,
        sim,
        operations,
        attacks: raw.attacks,
        paired: raw.paired.unwrap_or(false),
        export: {
            let mut export = raw.export;
            export.sort();
            export.dedup();
            export
        },
        field_capture,
        preset: None,
        detection: detection_spec,
    };
    let mut scenario = scenario;
    scenario.detection()?;
    if let Some(name) = preset {
        scenario.apply_preset(&name)?;
        scenario
            .sim
            .check()
            .map_err(|e| FieldError::new(scenario_path(&e.field), e.reason))?;
    }
    scenario.campaign().map_err(|e| attack_path(&e))?;
    Ok(scenario)
}

/// An attack error found while preparing the run (a target that the generated network does not
/// have), located in the scenario file it came from.
pub fn attack_error(file: &str, source: &str, e: &AttackError) -> ScenarioError {
    let FieldError { field, message } = attack_path(e);
    field_error(file, source, field, message, None)
}

/// Where an attack's error lies in the scenario file: `attacks[i].field`.
pub fn attack_path(e: &AttackError) -> Invalid {
    let field = if e.field.is_empty() {
        format!("attacks[{}]", e.index)
    } else {
        format!("attacks[{}].{}", e.index, e.field)
    };
    FieldError::new(field, format!("attack {:?}: {}", e.id, e.message))
}

/// Replaces `value` with the parsed duration at `path` when the file gives one.
fn set_duration(value: &mut SimDuration, path: &str, text: Option<String>) -> Result<(), Invalid> {
    if let Some(text) = text {
        *value = duration_field(path, &text)?;
    }
    Ok(())
}

fn operation_rates(r: RawOperationRates) -> Result<OperationsConfig, Invalid> {
    let mut o = OperationsConfig::typical();
    let p = |f: &str| format!("operation_rates.{f}");
    o.nonpayment_per_1000_per_month = r
        .nonpayment_per_1000_per_month
        .unwrap_or(o.nonpayment_per_1000_per_month);
    o.reconnect_share = r.reconnect_share.unwrap_or(o.reconnect_share);
    set_duration(&mut o.reconnect_median, &p("reconnect_median"), r.reconnect_median)?;
    o.moves_per_1000_per_month = r.moves_per_1000_per_month.unwrap_or(o.moves_per_1000_per_month);
    o.vacant_share = r.vacant_share.unwrap_or(o.vacant_share);
    set_duration(&mut o.vacancy_median, &p("vacancy_median"), r.vacancy_median)?;
    if let (Some(c), Some(raw)) = (o.firmware.as_mut(), r.firmware_campaign) {
        set_duration(&mut c.start, &p("firmware_campaign.start"), raw.start)?;
        c.share_per_day = raw.share_per_day.unwrap_or(c.share_per_day);
        c.version = raw.version.unwrap_or_else(|| c.version.clone());
        c.image_kb = raw.image_kb.unwrap_or(c.image_kb);
    }
    if o.firmware.as_ref().is_some_and(|c| c.share_per_day == 0.0) {
        o.firmware = None;
    }
    o.key_rotation_share_per_day = r.key_rotation_share_per_day.unwrap_or(o.key_rotation_share_per_day);
    if let Some(d) = r.demand_response {
        let dr = &mut o.demand_response;
        dr.day_probability = d.day_probability.unwrap_or(dr.day_probability);
        dr.enrolled_share = d.enrolled_share.unwrap_or(dr.enrolled_share);
        dr.reduction = d.reduction.unwrap_or(dr.reduction);
        set_duration(&mut dr.duration, &p("demand_response.duration"), d.duration)?;
    }
    o.meter_failures_per_1000_per_year = r
        .meter_failures_per_1000_per_year
        .unwrap_or(o.meter_failures_per_1000_per_year);
    set_duration(
        &mut o.replacement_median,
        &p("replacement_median"),
        r.replacement_median,
    )?;
    o.storms_per_year_at_a_place = r.storms_per_year_at_a_place.unwrap_or(o.storms_per_year_at_a_place);
    o.storm_radius_km = r.storm_radius_km.unwrap_or(o.storm_radius_km);
    o.storm_faults_per_100km = r.storm_faults_per_100km.unwrap_or(o.storm_faults_per_100km);
    o.mv_faults_per_100km_per_year = r.mv_faults_per_100km_per_year.unwrap_or(o.mv_faults_per_100km_per_year);
    o.lateral_share = r.lateral_share.unwrap_or(o.lateral_share);
    o.transformer_failures_per_1000_per_year = r
        .transformer_failures_per_1000_per_year
        .unwrap_or(o.transformer_failures_per_1000_per_year);
    o.customers_per_crew = r.customers_per_crew.unwrap_or(o.customers_per_crew);
    set_duration(&mut o.repair_median, &p("repair_median"), r.repair_median)?;
    set_duration(&mut o.switching_median, &p("switching_median"), r.switching_median)?;
    set_duration(
        &mut o.transformer_replacement_median,
        &p("transformer_replacement_median"),
        r.transformer_replacement_median,
    )?;
    Ok(o)
}

/// Fills the engine's HES, security, MDM and cold-load settings from the file's sections.
fn control_plane(
    sim: &mut SimConfig,
    hes: Option<RawHes>,
    security: Option<RawSecurity>,
    mdm: Option<RawMdm>,
    cold_load: Option<RawColdLoad>,
) -> Result<(), Invalid> {
    if let Some(h) = hes {
        let c = &mut sim.hes;
        if let Some(accounts) = h.accounts {
            c.accounts = accounts
                .into_iter()
                .map(|a| AccountSpec {
                    name: a.name,
                    role: a.role,
                    mfa: a.mfa.unwrap_or(true),
                })
                .collect();
        }
        c.send_rate_per_s = h.send_rate_per_s.unwrap_or(c.send_rate_per_s);
        set_duration(&mut c.command_timeout, "hes.command_timeout", h.command_timeout)?;
        set_duration(&mut c.firmware_timeout, "hes.firmware_timeout", h.firmware_timeout)?;
        c.retries = h.retries.unwrap_or(c.retries);
        c.command_bytes = h.command_bytes.unwrap_or(c.command_bytes);
        c.front_end_connections_per_s = h.front_end_connections_per_s.unwrap_or(c.front_end_connections_per_s);
        c.collector_connections_per_s = h.collector_connections_per_s.unwrap_or(c.collector_connections_per_s);
        set_duration(&mut c.connect_retry, "hes.connect_retry", h.connect_retry)?;
        c.connect_tries = h.connect_tries.unwrap_or(c.connect_tries);
        c.queue_limit = h.queue_limit.unwrap_or(c.queue_limit);
    }
    if let Some(s) = security {
        let c = &mut sim.security;
        if let Some(keys) = s.keys {
            c.keys = match keys {
                RawKeys::PerDevice => KeyModel::PerDevice,
                RawKeys::SharedGroup { size } => KeyModel::SharedGroup { size },
            };
        }
        c.verify_firmware = s.verify_firmware.unwrap_or(c.verify_firmware);
        c.frame_counters = s.frame_counters.unwrap_or(c.frame_counters);
        c.segmentation = s.segmentation.unwrap_or(c.segmentation);
        c.mutual_auth = s.mutual_auth.unwrap_or(c.mutual_auth);
        c.legacy_share = s.legacy_share.unwrap_or(c.legacy_share);
        if let Some(f) = s.firmware {
            let image: &mut FirmwareImage = &mut c.installed;
            image.version = f.version.unwrap_or_else(|| image.version.clone());
            image.signed = f.signed.unwrap_or(image.signed);
            if let Some(kb) = f.image_kb {
                image.bytes = kb.saturating_mul(1024);
            }
        }
        set_duration(&mut c.relay_delay, "security.relay_delay", s.relay_delay)?;
        set_duration(&mut c.random_delay_max, "security.random_delay_max", s.random_delay_max)?;
        set_duration(
            &mut c.firmware_activation,
            "security.firmware_activation",
            s.firmware_activation,
        )?;
    }
    if let Some(m) = mdm {
        let c = &mut sim.mdm;
        if let Some((from, to)) = m.peak_hours {
            c.peak_from_hour = from;
            c.peak_to_hour = to;
        }
        c.time_of_use_share = m.time_of_use_share.unwrap_or(c.time_of_use_share);
        c.silent_cycles = m.silent_cycles.unwrap_or(c.silent_cycles);
        c.last_gasp_success = m.last_gasp_success.unwrap_or(c.last_gasp_success);
    }
    if let Some(l) = cold_load {
        let c = &mut sim.cold_load;
        c.extra = l.extra.unwrap_or(c.extra);
        set_duration(&mut c.decay, "cold_load.decay", l.decay)?;
        set_duration(&mut c.full_after, "cold_load.full_after", l.full_after)?;
    }
    Ok(())
}

pub use amirange_files::locate;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"// a comment with meters: in it
Scenario(
    name: "t",
    seed: 1,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Area(
        kind: Suburban,
        meters: 100,
    ),
    metering: (read_deadline: "4m"),
)
"#;

    fn check(source: &str, expected: &str) {
        let err = load("s.ron", source, &Overrides::default()).expect_err("should fail");
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn a_minimal_scenario_gets_defaults() {
        let s = load("s.ron", GOOD, &Overrides::default()).expect("valid");
        assert_eq!(s.meters(), 100);
        assert_eq!(s.n_intervals(), 96);
        assert_eq!(s.sim.read_deadline, SimDuration::from_minutes(4));
        assert_eq!(s.topology.meters_per_transformer, 80, "suburban default");
        assert_eq!(s.topology_source, "inline");
    }

    #[test]
    fn a_scenario_sets_the_noise_persistence_and_routine_spread_of_a_class() {
        let with = |fields: &str| {
            GOOD.replace(
                "metering:",
                &format!("consumption: (residential: ({fields})),\n    metering:"),
            )
        };
        let s = load(
            "s.ron",
            &with("noise_persistence: 0.2, activity_spread: 0.9"),
            &Overrides::default(),
        )
        .expect("valid");
        let residential = &s.sim.classes[CustomerClass::Residential.index()];
        assert_eq!(residential.noise_persistence, 0.2);
        assert_eq!(residential.activity_spread, 0.9);
        let err = load("s.ron", &with("noise_persistence: 1.5"), &Overrides::default()).expect_err("out of range");
        assert_eq!(
            err.field.as_deref(),
            Some("consumption.residential.noise_persistence"),
            "{err}"
        );
        let err = load("s.ron", &with("activity_spread: -0.1"), &Overrides::default()).expect_err("out of range");
        assert_eq!(
            err.field.as_deref(),
            Some("consumption.residential.activity_spread"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_file_line_column_and_field() {
        check(
            &GOOD.replace("meters: 100", "meters: -5"),
            "s.ron:9:9: field `topology.meters`: must be 1 to 100000000, not -5",
        );
        check(
            &GOOD.replace("\"1d\"", "\"0s\""),
            "s.ron:6:5: field `duration`: must be longer than zero",
        );
        check(
            &GOOD.replace("meters: 100,", "meters: 100, radio: (shadowing_db: 40),"),
            "s.ron:9:30: field `topology.radio.shadowing_db`: must be between 0 and 20, not 40",
        );
        check(
            &GOOD.replace(
                "Area(\n        kind: Suburban,\n        meters: 100,\n    )",
                "Preset(\"city-10m\")",
            ),
            "s.ron:7:5: field `topology`: unknown preset \"city-10m\"; built-in presets: town-10k, suburb-100k, city-1m, rural-50k",
        );
        let unknown = load(
            "s.ron",
            &GOOD.replace("seed: 1,", "seed: 1,\n    sede: 2,"),
            &Overrides::default(),
        )
        .expect_err("unknown field");
        assert_eq!(unknown.position.map(|p| p.0), Some(5));
        assert_eq!(unknown.field.as_deref(), Some("sede"));
        assert!(unknown.message.contains("unknown field `sede`"), "{unknown}");
        let syntax =
            load("s.ron", &GOOD.replace("seed: 1,", "seed: 1,,"), &Overrides::default()).expect_err("syntax error");
        assert_eq!(syntax.position.map(|p| p.0), Some(4));
        assert_eq!(syntax.field.as_deref(), Some("seed"));
    }

    #[test]
    fn overrides_are_validated_and_blamed_on_the_flag() {
        let o = Overrides {
            meters: Some(0),
            ..Overrides::default()
        };
        let err = load("s.ron", GOOD, &o).expect_err("zero meters");
        assert_eq!(
            err.to_string(),
            "command line --meters: field `topology.meters`: must be 1 to 100000000, not 0"
        );
        let o = Overrides {
            seed: Some(9),
            meters: Some(5),
            duration: Some("2h".into()),
        };
        let s = load("s.ron", GOOD, &o).expect("valid");
        assert_eq!((s.seed(), s.meters(), s.n_intervals()), (9, 5, 8));
    }

    #[test]
    fn presets_and_topology_files_blame_their_own_lines() {
        let preset = GOOD.replace(
            "Area(\n        kind: Suburban,\n        meters: 100,\n    )",
            "Preset(\"town-10k\")",
        );
        let s = load("s.ron", &preset, &Overrides::default()).expect("preset loads");
        assert_eq!(s.meters(), 10_000);
        assert_eq!(s.topology_source, "topologies/presets/town-10k.ron");
        let dir = tempfile::tempdir().expect("temp dir");
        let area = dir.path().join("area.ron");
        std::fs::write(
            &area,
            "Area(\n  kind: Rural,\n  meters: 500,\n  cellular_fallback: 2.0,\n)\n",
        )
        .expect("write");
        let scenario = dir.path().join("s.ron");
        let text = GOOD.replace(
            "Area(\n        kind: Suburban,\n        meters: 100,\n    )",
            "File(\"area.ron\")",
        );
        let err = load(&scenario.display().to_string(), &text, &Overrides::default()).expect_err("bad file");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:4:3: field `cellular_fallback`: must be between 0 and 1, not 2",
                area.display()
            )
        );
        let missing = text.replace("area.ron", "nowhere.ron");
        let err = load(&scenario.display().to_string(), &missing, &Overrides::default()).expect_err("missing");
        assert!(
            err.to_string().contains("field `topology`: cannot read topology file"),
            "{err}"
        );
    }

    #[test]
    fn locate_skips_comments_and_strings() {
        assert_eq!(locate(GOOD, &["topology", "meters"]), Some((9, 9)));
        assert_eq!(locate("a: \"b: c\", b: 1", &["b"]), Some((1, 12)));
    }
}
