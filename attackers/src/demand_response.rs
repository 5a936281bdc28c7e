//! Demand-response manipulation: forged demand-response events sent through the HES.
//!
//! With a way to issue HES commands (see [`crate::access`]; demand response needs a supervisor
//! or administrator account, or a foothold on the HES), the attacker sends demand-response
//! events to its targets: each premise sheds `reduction` of its load for `duration` from the
//! moment its meter executes the command, and takes it all back at once when the event ends.
//! The requests go through the real fan-out (send queue, collectors, links, relay delays), like
//! a mass disconnect's. Sent in one request at the peak, the curtailment is a sudden load drop
//! (frequency rises) and its end a synchronised rebound (frequency falls), which the engine's
//! frequency model measures; the premises lose the comfort or production the shed load served.

use crate::FieldError;
use crate::access::Access;
use crate::mass_disconnect::{self, MassDisconnect, Order};
use crate::tags::{Stride, Tags, Technique};
use crate::targets::Targets;
use crate::{Context, when};

/// Tags: unauthorised control messages that manipulate load.
pub const TAGS: Tags = Tags {
    kind: "demand-response-forgery",
    nescor: &[],
    stride: Stride::Spoofing,
    technique: Technique::MANIPULATION_OF_CONTROL,
    related: &[
        Technique::UNAUTHORIZED_COMMAND_MESSAGE,
        Technique::SPEARPHISHING_ATTACHMENT,
        Technique::VALID_ACCOUNTS,
        Technique::EXPLOITATION_OF_REMOTE_SERVICES,
    ],
};

crate::attack_spec! {
    /// Forged demand-response events as the scenario writes them.
    pub struct Spec {
        /// How the attacker gets to issue HES commands: `Phishing`, `Insider` or `HesExploit`.
        pub access: Access,
        /// Which premises to curtail.
        pub targets: Targets,
        /// Share of each premise's load shed: above 0, at most 1.
        pub reduction: f32,
        /// How long each event lasts: at least 1m.
        pub duration: String,
        /// Meters per request, at least 1.
        ///
        /// Default: all targets in one request.
        #[serde(default)]
        pub batch: Option<u32>,
        /// Time between requests.
        ///
        /// Default: none: every request at once.
        #[serde(default)]
        pub spacing: Option<String>,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<MassDisconnect, FieldError> {
        if !(self.reduction.is_finite() && self.reduction > 0.0 && self.reduction <= 1.0) {
            return Err(FieldError::new(
                "reduction",
                format!("must be above 0 and at most 1, not {}", self.reduction),
            ));
        }
        let duration = when::duration("duration", &self.duration, ctx.horizon)?;
        if duration.as_micros() < 60_000_000 {
            return Err(FieldError::new("duration", "at least 1m"));
        }
        let requests = mass_disconnect::Spec {
            header: self.header.clone(),
            access: self.access.clone(),
            targets: self.targets.clone(),
            batch: self.batch,
            spacing: self.spacing.clone(),
        };
        requests.check_order(
            index,
            ctx,
            Order::DemandResponse {
                reduction: self.reduction,
                duration,
            },
        )
    }
}
