//! Every threshold `set-threshold` may change, with its range and unit.
//!
//! @generated from the detectors' declarations (`amirange_defenses::detectors::TUNABLES`)
//! by `AMIRANGE_BLESS=1 cargo test -p amirange-defenses --test tunables`: do not edit.

use crate::messages::Tunable;

/// Every threshold `set-threshold` may change, with its range and unit, detector by
/// detector.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        detector: "command-rate",
        field: "account_meters",
        min: 1.0,
        max: 100000.0,
        whole: true,
        unit: "a whole number of meters per window",
    },
    Tunable {
        detector: "command-rate",
        field: "account_requests",
        min: 1.0,
        max: 10000.0,
        whole: true,
        unit: "a whole number of requests per window",
    },
    Tunable {
        detector: "command-rate",
        field: "fleet_meters",
        min: 1.0,
        max: 1000000.0,
        whole: true,
        unit: "a whole number of meters per window",
    },
    Tunable {
        detector: "consumption-baseline",
        field: "deviation",
        min: 0.001,
        max: 1.0,
        whole: false,
        unit: "a share of the expected load",
    },
    Tunable {
        detector: "consumption-baseline",
        field: "intervals",
        min: 1.0,
        max: 96.0,
        whole: true,
        unit: "a whole number of 15-minute intervals",
    },
    Tunable {
        detector: "zero-at-peak",
        field: "share",
        min: 0.001,
        max: 1.0,
        whole: false,
        unit: "a share of the fleet",
    },
    Tunable {
        detector: "zero-at-peak",
        field: "min_meters",
        min: 1.0,
        max: 100000.0,
        whole: true,
        unit: "a whole number of meters",
    },
    Tunable {
        detector: "energy-balance",
        field: "gap",
        min: 0.001,
        max: 1.0,
        whole: false,
        unit: "a share of a feeder's energy",
    },
    Tunable {
        detector: "energy-balance",
        field: "intervals",
        min: 1.0,
        max: 96.0,
        whole: true,
        unit: "a whole number of 15-minute intervals",
    },
    Tunable {
        detector: "energy-balance",
        field: "transformer_gap",
        min: 0.001,
        max: 1.0,
        whole: false,
        unit: "a share of a transformer's energy",
    },
    Tunable {
        detector: "missing-read-cluster",
        field: "share",
        min: 0.001,
        max: 1.0,
        whole: false,
        unit: "a share of a collector's reads",
    },
    Tunable {
        detector: "missing-read-cluster",
        field: "min_reads",
        min: 1.0,
        max: 100000.0,
        whole: true,
        unit: "a whole number of reads",
    },
    Tunable {
        detector: "missing-read-cluster",
        field: "fleet_share",
        min: 0.001,
        max: 1.0,
        whole: false,
        unit: "a share of the fleet's reads",
    },
    Tunable {
        detector: "frequency-excursion",
        field: "deviation_hz",
        min: 0.05,
        max: 2.5,
        whole: false,
        unit: "a deviation from nominal in Hz",
    },
];
