//! Defense presets: three postures a utility might have, from nothing to hardened, each a full
//! set of crypto posture, operator-account, command-policy, detection and response settings.
//! A scenario names one with `defenses: (preset: "hardened")`; `amirange matrix` runs every
//! attack file against each.
//!
//! | | `none` | `typical-utility` | `hardened` |
//! | --- | --- | --- | --- |
//! | MFA for people | off | on | on |
//! | frame counters, signed firmware, mutual authentication | off | on | on |
//! | segmentation of HES and SCADA | off | on | on |
//! | random relay delay at the meter | none | none | up to 5 min |
//! | disconnect limits | none | 2,000 an hour per account | 200 an hour per account, 1,000 overall |
//! | two-person approval | none | none | above 100 meters, 10 min |
//! | protected critical facilities, HSM-quorum signatures | no | protected | both |
//! | detectors | none | command rate, missing-read clusters, feeder energy balance, firmware drift, frame counters | all ten, transformer meters |
//! | IDS rules | none | the MQTT connection-flood rule | also HES-to-SCADA DNP3, MDM to outside |
//! | playbooks | none | freeze and revoke on command rate, reconnect; block IDS sources | also isolate the HES, roll back firmware, crews for bricked meters, meter inspections on transformer imbalance, jammer hunts on missing-read clusters |

use amirange_sim::policy::{CommandPolicy, RateLimit};
use amirange_sim::records::Severity;
use amirange_sim::time::SimDuration;

use crate::spec::{DetectionSpec, DetectorSpec, PlaybookSpec, ResponseSpec, RestorationSpec};

/// The preset names.
pub const NAMES: [&str; 3] = ["none", "typical-utility", "hardened"];

/// The IDS rule from the range's seed: MQTT connection floods against the HES's front end.
pub const MQTT_FLOOD_RULE: &str = "alert tcp any any -> $HES_NET 1883 (msg:\"MQTT excessive connection attempts\"; flow:to_server,not_established; threshold:type threshold, track by_src, count 10, seconds 60; sid:1000002; rev:2;)";
/// HES zone talking DNP3 to SCADA: lateral movement across the segmentation.
pub const DNP3_FROM_HES_RULE: &str = "alert tcp $HES_NET any -> $SCADA_NET $DNP3_PORTS (msg:\"DNP3 from the HES zone into SCADA\"; flow:to_server; threshold:type limit, track by_src, count 1, seconds 3600; priority:1; sid:1000010; rev:1;)";
/// The MDM opening connections outside the utility: data leaving.
pub const MDM_OUTBOUND_RULE: &str = "alert tcp $MDM_NET any -> $EXTERNAL_NET any (msg:\"MDM connection to a host outside the utility\"; flow:to_server; threshold:type limit, track by_dst, count 1, seconds 3600; priority:1; sid:1000020; rev:1;)";

/// One posture.
#[derive(Debug, Clone)]
pub struct Preset {
    /// Its name.
    pub name: &'static str,
    /// Meters check frame counters.
    pub frame_counters: bool,
    /// Meters verify firmware signatures.
    pub verify_firmware: bool,
    /// Meters authenticate the network they join.
    pub mutual_auth: bool,
    /// The HES zone cannot reach SCADA.
    pub segmentation: bool,
    /// Largest random delay before a meter operates its relay.
    pub random_delay_max: SimDuration,
    /// People's accounts need a second factor (service accounts never have one).
    pub mfa: bool,
    /// The HES's command policy.
    pub policy: CommandPolicy,
    /// Detection and response.
    pub detection: DetectionSpec,
}

/// The preset called `name`.
pub fn preset(name: &str) -> Option<Preset> {
    match name {
        "none" => Some(Preset {
            name: "none",
            frame_counters: false,
            verify_firmware: false,
            mutual_auth: false,
            segmentation: false,
            random_delay_max: SimDuration::ZERO,
            mfa: false,
            policy: CommandPolicy::default(),
            detection: DetectionSpec::default(),
        }),
        "typical-utility" => Some(Preset {
            name: "typical-utility",
            frame_counters: true,
            verify_firmware: true,
            mutual_auth: true,
            segmentation: true,
            random_delay_max: SimDuration::ZERO,
            mfa: true,
            policy: CommandPolicy {
                disconnect_limit_per_account: Some(RateLimit {
                    meters: 2000,
                    per: SimDuration::from_hours(1),
                }),
                protect_critical: true,
                ..CommandPolicy::default()
            },
            detection: DetectionSpec {
                every: None,
                detectors: vec![
                    DetectorSpec::CommandRate {
                        window: "1h".into(),
                        account_meters: 200,
                        account_requests: 60,
                        fleet_meters: 1000,
                    },
                    DetectorSpec::MissingReadCluster {
                        share: 0.4,
                        min_reads: 20,
                        fleet_share: 0.3,
                    },
                    DetectorSpec::EnergyBalance {
                        gap: 0.08,
                        intervals: 4,
                        transformer_meters: false,
                        transformer_gap: 0.15,
                    },
                    DetectorSpec::FirmwareDrift {},
                    DetectorSpec::FrameCounter {},
                ],
                ids_rules: vec![MQTT_FLOOD_RULE.into()],
                ids_vars: Default::default(),
                playbooks: vec![
                    PlaybookSpec {
                        on: vec!["command-rate".into()],
                        severity: Severity::High,
                        delay: "15m".into(),
                        actions: vec![
                            ResponseSpec::FreezeBulk(50),
                            ResponseSpec::RevokeAccount,
                            ResponseSpec::Reconnect,
                        ],
                    },
                    PlaybookSpec {
                        on: vec!["ids".into()],
                        severity: Severity::Medium,
                        delay: "30m".into(),
                        actions: vec![ResponseSpec::BlockSource],
                    },
                ],
                restoration: Some(RestorationSpec::default()),
            },
        }),
        "hardened" => Some(Preset {
            name: "hardened",
            frame_counters: true,
            verify_firmware: true,
            mutual_auth: true,
            segmentation: true,
            random_delay_max: SimDuration::from_minutes(5),
            mfa: true,
            policy: CommandPolicy {
                disconnect_limit_per_account: Some(RateLimit {
                    meters: 200,
                    per: SimDuration::from_hours(1),
                }),
                disconnect_limit_global: Some(RateLimit {
                    meters: 1000,
                    per: SimDuration::from_hours(1),
                }),
                two_person_above: Some(100),
                approval_latency: SimDuration::from_minutes(10),
                disconnect_hours: None,
                protect_critical: true,
                hsm_quorum: true,
            },
            detection: DetectionSpec {
                every: None,
                detectors: vec![
                    DetectorSpec::CommandRate {
                        window: "1h".into(),
                        account_meters: 50,
                        account_requests: 30,
                        fleet_meters: 200,
                    },
                    DetectorSpec::ConsumptionBaseline {
                        deviation: 0.25,
                        intervals: 2,
                    },
                    DetectorSpec::ZeroAtPeak {
                        share: 0.005,
                        min_meters: 10,
                    },
                    DetectorSpec::EnergyBalance {
                        gap: 0.08,
                        intervals: 4,
                        transformer_meters: true,
                        transformer_gap: 0.05,
                    },
                    DetectorSpec::MissingReadCluster {
                        share: 0.4,
                        min_reads: 20,
                        fleet_share: 0.3,
                    },
                    DetectorSpec::FirmwareDrift {},
                    DetectorSpec::FrameCounter {},
                    DetectorSpec::UnknownDevice {},
                    DetectorSpec::InventoryDrift {},
                    DetectorSpec::FrequencyExcursion { deviation_hz: 0.2 },
                ],
                ids_rules: vec![
                    MQTT_FLOOD_RULE.into(),
                    DNP3_FROM_HES_RULE.into(),
                    MDM_OUTBOUND_RULE.into(),
                ],
                ids_vars: Default::default(),
                playbooks: vec![
                    PlaybookSpec {
                        on: vec!["command-rate".into()],
                        severity: Severity::Medium,
                        delay: "5m".into(),
                        actions: vec![
                            ResponseSpec::FreezeBulk(10),
                            ResponseSpec::RevokeAccount,
                            ResponseSpec::Reconnect,
                        ],
                    },
                    PlaybookSpec {
                        on: vec!["inventory-drift".into(), "ids:1000010".into()],
                        severity: Severity::High,
                        delay: "10m".into(),
                        actions: vec![ResponseSpec::IsolateHes("4h".into()), ResponseSpec::Reconnect],
                    },
                    PlaybookSpec {
                        on: vec!["firmware-drift".into()],
                        severity: Severity::High,
                        delay: "30m".into(),
                        actions: vec![ResponseSpec::RollbackFirmware, ResponseSpec::DispatchCrews],
                    },
                    PlaybookSpec {
                        on: vec!["ids".into()],
                        severity: Severity::Medium,
                        delay: "5m".into(),
                        actions: vec![ResponseSpec::BlockSource],
                    },
                    PlaybookSpec {
                        on: vec!["energy-balance".into()],
                        severity: Severity::Medium,
                        delay: "1h".into(),
                        actions: vec![ResponseSpec::InspectMeters],
                    },
                    PlaybookSpec {
                        on: vec!["missing-read-cluster".into()],
                        severity: Severity::Medium,
                        delay: "30m".into(),
                        actions: vec![ResponseSpec::HuntJammer],
                    },
                ],
                restoration: Some(RestorationSpec::default()),
            },
        }),
        _ => None,
    }
}
