//! Meter data management beyond VEE: billing determinants, outage detection from last-gasp
//! messages and missing reads, and the per-feeder view of reported energy that theft and
//! anomaly analytics build on.
//!
//! Validation, estimation and editing run in the data plane (`dataplane::ingest_delivery`);
//! this module holds the MDM's configuration and the records it produces.

use crate::field::FieldError;
use serde::Serialize;

use crate::model::Cause;
use crate::time::SimTime;

/// MDM behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MdmConfig {
    /// Time-of-use peak period on workdays (Monday to Friday): from this hour...
    pub peak_from_hour: u8,
    /// ...to this hour (exclusive).
    pub peak_to_hour: u8,
    /// Share of meters billed under the time-of-use tariff at the start (the others are flat).
    pub time_of_use_share: f64,
    /// Read cycles a meter must miss in a row before the MDM suspects it has no supply.
    pub silent_cycles: u8,
    /// Probability that a meter's last-gasp message gets out when it loses supply (given that
    /// its path works at all): the capacitor's energy and a neighbourhood going dark at once
    /// limit it.
    pub last_gasp_success: f64,
}

impl MdmConfig {
    /// Typical values (assumptions): peak 08:00 to 20:00 on workdays, a quarter of meters on
    /// time-of-use, a meter silent for 2 cycles is suspect, 70% of last gasps get out.
    pub fn typical() -> MdmConfig {
        MdmConfig {
            peak_from_hour: 8,
            peak_to_hour: 20,
            time_of_use_share: 0.25,
            silent_cycles: 2,
            last_gasp_success: 0.7,
        }
    }

    /// Checks every value; field paths are relative to the MDM section.
    pub fn check(&self) -> Result<(), FieldError> {
        if self.peak_from_hour >= self.peak_to_hour || self.peak_to_hour > 24 {
            return Err(FieldError::new(
                "peak_hours",
                format!(
                    "must be a range of hours within 0..24, not {}..{}",
                    self.peak_from_hour, self.peak_to_hour
                ),
            ));
        }
        for (f, v) in [
            ("time_of_use_share", self.time_of_use_share),
            ("last_gasp_success", self.last_gasp_success),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FieldError::new(f, format!("must be between 0 and 1, not {v}")));
            }
        }
        if !(1..=16).contains(&self.silent_cycles) {
            return Err(FieldError::new("silent_cycles", "must be 1 to 16"));
        }
        Ok(())
    }
}

/// How the MDM learnt of an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Detection {
    /// A meter's last-gasp message arrived.
    LastGasp,
    /// Meters of the feeder went silent for the configured number of read cycles.
    MissingReads,
}

impl Detection {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Detection::LastGasp => "last-gasp",
            Detection::MissingReads => "missing-reads",
        }
    }
}

/// A feeder or transformer outage: what really happened (ground truth) and when the MDM noticed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutageRecord {
    /// The feeder.
    pub feeder: u32,
    /// The transformer, when only it went out (a transformer fault or a blown MV lateral fuse);
    /// `None` for the whole feeder.
    pub transformer: Option<u32>,
    /// Why it went out.
    pub cause: Cause,
    /// When it went out.
    pub start: SimTime,
    /// When it came back, if it did within the run.
    pub end: Option<SimTime>,
    /// Customers (meters) on the feeder.
    pub customers: u32,
    /// Critical facilities among them.
    pub critical: u32,
    /// Last-gasp messages that reached the HES.
    pub last_gasps: u32,
    /// When the MDM detected it, if it did.
    pub detected_at: Option<SimTime>,
    /// How.
    pub detected_by: Option<Detection>,
}
