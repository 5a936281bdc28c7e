//! The HES's command policy: the defenses a utility configures at the head end and at the meter
//! against commands it did not mean to send.
//!
//! ```text
//!  request ─► authenticate ─► role ─► two-person approval (above a size) ─► time-of-day window
//!          ─► disconnect rate limits (per account, global) ─► protected critical facilities
//!          ─► jobs (after the approval latency) ─► meter: HSM-quorum signature verified
//! ```
//!
//! Every check but the last runs inside the HES: code running in the HES process (a foothold,
//! [`crate::hes::Credential::hes_process`]) goes around them. The last runs in the meter: a
//! command the HES authorised through its normal path carries the signature of a quorum of
//! hardware security module officers; one issued from inside the HES by itself does not, and a
//! meter that verifies the signature refuses it.

use crate::field::FieldError;
use serde::Serialize;

use crate::time::SimDuration;

/// A limit on meters disconnected within a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Meters.
    pub meters: u32,
    /// Within this long.
    pub per: SimDuration,
}

/// The command policy; everything off by default.
#[derive(Clone, Debug, PartialEq, Default, Serialize)]
pub struct CommandPolicy {
    /// Most meters one account may disconnect within a sliding window.
    pub disconnect_limit_per_account: Option<RateLimit>,
    /// Most meters all accounts together may disconnect within a sliding window.
    pub disconnect_limit_global: Option<RateLimit>,
    /// Requests for more meters than this need a second person's approval: another account,
    /// supervisor or administrator, with its own credentials (and second factor).
    pub two_person_above: Option<u32>,
    /// Time the approval takes: an approved request's jobs start this much later.
    pub approval_latency: SimDuration,
    /// Disconnects are accepted only from `from` to `to` o'clock (local time, `to` excluded).
    pub disconnect_hours: Option<(u8, u8)>,
    /// Disconnects never reach critical facilities (hospitals, water, emergency services): the
    /// HES drops them from every request.
    pub protect_critical: bool,
    /// Meters verify an HSM-quorum signature on every command and refuse commands without one.
    pub hsm_quorum: bool,
}

impl CommandPolicy {
    /// Checks every value; field paths are relative to the policy.
    pub fn check(&self) -> Result<(), FieldError> {
        for (field, limit) in [
            ("disconnect_limit_per_account", self.disconnect_limit_per_account),
            ("disconnect_limit_global", self.disconnect_limit_global),
        ] {
            if let Some(l) = limit {
                if l.meters == 0 {
                    return Err(FieldError::new(format!("{field}.meters"), "at least 1"));
                }
                if l.per < SimDuration::from_secs(1) || l.per > SimDuration::from_days(30) {
                    return Err(FieldError::new(format!("{field}.per"), "must be between 1s and 30d"));
                }
            }
        }
        if self.approval_latency > SimDuration::from_days(1) {
            return Err(FieldError::new("approval_latency", "at most 1d"));
        }
        if let Some((from, to)) = self.disconnect_hours
            && !(from < to && to <= 24)
        {
            return Err(FieldError::new(
                "disconnect_hours",
                format!("must be (from, to) with from < to <= 24, not ({from}, {to})"),
            ));
        }
        Ok(())
    }
}
