//! # amirange-defenses: the defense library
//!
//! What a utility puts between an attacker and its customers, and how it notices one:
//! IDS rules with Suricata 7 threshold semantics over the simulated traffic ([`ids`], fed by
//! [`sensor`] with the packets [`wire`] renders), anomaly detectors over the telemetry a utility really sees ([`detectors`], one
//! type per detector), response playbooks ([`responses`], [`restoration`]), and defense
//! presets. The [`Defender`] ([`monitor`]) is the loop that runs them.
//!
//! Like `sim`, this crate does no I/O, reads no clock and holds no global state. It sees the
//! simulated world only through `sim`'s public API, and acts on it only through engine inputs
//! (an alert, a credential revoked, bulk commands frozen).

pub mod addresses;
pub mod context;
pub mod detectors;
pub mod ids;
pub mod monitor;
pub mod presets;
pub mod responses;
pub mod restoration;
pub mod sensor;
pub mod spec;
pub mod wire;

pub use monitor::{Defender, ResponseLog};
pub use spec::{Detection, DetectionSpec, SpecError};
