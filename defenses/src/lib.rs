//! # amirange-defenses: the defense library
//!
//! What a utility puts between an attacker and its customers, and how it notices one:
//! IDS rules with Suricata 7 threshold semantics over the simulated flows ([`ids`]), anomaly
//! detectors over the telemetry a utility really sees, response playbooks, and defense presets.
//!
//! Like `sim`, this crate does no I/O, reads no clock and holds no global state. It sees the
//! simulated world only through `sim`'s public API, and acts on it only through engine inputs
//! (an alert, a credential revoked, bulk commands frozen).

pub mod addresses;
pub mod ids;
pub mod monitor;
pub mod presets;
pub mod spec;

pub use monitor::{Defender, ResponseLog};
pub use spec::{Detection, DetectionSpec, SpecError};
