//! # amirange-sim: the engine and the AMI model
//!
//! This crate is the simulated world of amirange: simulated time and its civil calendar, the
//! control-plane event calendar, counter-based random streams, and a bevy_ecs world of meters,
//! collectors, the head-end system (HES) and meter data management (MDM), with the data-plane
//! system that advances it once per 15-minute metering interval.
//!
//! It must never know about files, sockets, the wall clock, threads it did not get from the
//! compute pool, scenario file formats, or the command line. Time is a parameter
//! ([`engine::Sim::step_until`], called for a run by the one loop in [`drive`], whose ordering
//! contract says what happens first at an instant); inputs come from outside
//! ([`engine::Sim::schedule`]); results leave as plain records ([`records::RunRecords`]). The
//! same configuration and seed give the same records whatever the number of threads.
//!
//! ```text
//!   time ─ calendar ─ rng          (foundations, no ECS)
//!     │        │        │
//!   profile ─ model ─ config       (the AMI vocabulary: classes, links, premises, meters)
//!              │
//!           network                (grid and field networks: routes, paths, queues, interference)
//!              │
//!          dataplane               (one ECS system per interval: consume, read, HES, MDM VEE)
//!              │
//!           engine                 (Sim: world + schedule + calendar, steppable)
//!              │
//!           drive                  (the one loop that steps the engine and wakes its actors)
//!              │
//!           records                (interval rows, counters, ground truth, alerts)
//! ```
//!
//! ```
//! use amirange_sim::prelude::*;
//!
//! let start = CivilDateTime::parse("2026-01-15T00:00").unwrap();
//! let config = SimConfig::with_defaults(7, start, SimDuration::from_hours(2));
//! let network = Network::small(LinkParams::typical(), (0..100).map(|_| (CustomerClass::Residential, LinkKind::Mesh)));
//! let mut sim = Sim::new(config, network).unwrap();
//! sim.schedule(SimTime(30 * 60 * 1_000_000), Input::SetRelay { meter: 3, relay: Relay::Open, cause: Cause::Operation }).unwrap();
//! sim.run_to_end().unwrap();
//! assert_eq!(sim.records().intervals.len(), 8);
//! assert_eq!(sim.records().intervals[7].customers_connected, 99);
//! ```

pub mod calendar;
pub mod config;
pub mod dataplane;
pub mod devices;
pub mod drive;
pub mod engine;
#[cfg(test)]
mod engine_tests;
pub mod field;
pub mod frequency;
pub mod grid;
pub mod hes;
pub mod interval_metering;
pub mod mdm;
pub mod model;
pub mod network;
pub mod operations;
pub mod policy;
pub mod probe;
pub mod profile;
pub mod records;
pub mod rng;
pub mod security;
pub mod time;
pub mod weather;
pub mod worst_moment;

/// The types a driver needs to build and step a simulation.
pub mod prelude {
    pub use crate::calendar::EventCalendar;
    pub use crate::config::{INTERVAL, SimConfig};
    pub use crate::engine::{Action, Input, Message, Sim, SimError};
    pub use crate::hes::{CommandKind, CommandRequest, Credential, Role};
    pub use crate::model::{Cause, ClassConsumption, CustomerClass, LinkKind, Relay};
    pub use crate::network::{Interference, LinkParams, Network, Point};
    pub use crate::profile::ProfileId;
    pub use crate::records::{
        AlertRecord, AlertSubject, Endpoint, FlowRecord, IntervalRow, LinkReadStats, RelayEvent, RunCounters,
        RunRecords, Severity, TruthRecord,
    };
    pub use crate::rng::{Purpose, Stream};
    pub use crate::time::{CivilDate, CivilDateTime, SimDuration, SimTime};
}
