//! # amirange-topologies: the grid and the field networks, generated
//!
//! A service area ([`spec::AreaSpec`], written in RON as `Area(kind: Urban, meters: 10_000, ..)`)
//! is resolved into an [`spec::Area`] with every default filled in, which
//! [`spec::Area::generate`] turns into a [`Network`] for a seed:
//!
//! ```text
//!   settlements ─► transformers on a spiral ─► premises along streets (class, facility)
//!        │                 │                          │
//!        │           feeders, substations      link technology: PLC per transformer,
//!        │           (ratings, losses)         mesh or cellular per meter, fallback modems
//!        │                                            │
//!        └──────────────► PLC concentrators, mesh collectors, cellular towers
//!                                                     │
//!                           RF neighbour graph (spatial hash, path loss + shadowing)
//! ```
//!
//! [`describe::Summary`] reports a network's structure (what `amirange topo describe` prints).
//! Presets for typical areas live in `topologies/presets/` ([`PRESETS`]).
//!
//! This crate must never do I/O or read the wall clock; it knows `sim`'s vocabulary and nothing
//! of scenario files or the command line.

pub mod describe;
pub mod generate;
pub mod radio;
pub mod spec;

pub use amirange_sim::network::Network;
pub use spec::{Area, AreaKind, AreaSpec};

/// A problem with a topology specification.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// A value out of range; `field` is its path as the topology file spells it.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `"radio.shadowing_db"`.
        field: String,
        /// Why it is wrong.
        reason: String,
    },
}

/// The built-in presets: name and RON text of each file in `topologies/presets/`.
pub const PRESETS: &[(&str, &str)] = &[
    ("town-10k", include_str!("../presets/town-10k.ron")),
    ("suburb-100k", include_str!("../presets/suburb-100k.ron")),
    ("city-1m", include_str!("../presets/city-1m.ron")),
    ("rural-50k", include_str!("../presets/rural-50k.ron")),
];

/// The text of preset `name`, if there is one.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
