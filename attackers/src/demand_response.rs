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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(account: &str, reduction: f32, duration: &str) -> Spec {
        Spec {
            header: header("dr", "0d 01:00"),
            access: Access::Insider {
                account: account.into(),
            },
            targets: Targets::All,
            reduction,
            duration: duration.into(),
            batch: None,
            spacing: None,
        }
    }

    #[test]
    fn a_forged_event_refuses_bad_reductions_short_events_and_vendor_releases() {
        let field = |spec: Spec| check(&AttackSpec::DemandResponseForgery(spec)).map_err(|e| e.field);
        assert_eq!(field(spec("sup-bob", 0.0, "1h")), Err("reduction".into()));
        assert_eq!(field(spec("sup-bob", 1.5, "1h")), Err("reduction".into()));
        assert_eq!(field(spec("sup-bob", 0.5, "30s")), Err("duration".into()));
        assert_eq!(field(spec("sup-bob", 0.5, "7h")), Err("duration".into()));
        let mut unbatched = spec("sup-bob", 0.5, "1h");
        unbatched.batch = Some(0);
        assert_eq!(field(unbatched), Err("batch".into()));
        let mut vendor = spec("sup-bob", 0.5, "1h");
        vendor.access = Access::VendorRelease;
        assert_eq!(field(vendor), Err("access".into()));
        assert_eq!(field(spec("nobody", 0.5, "1h")), Err("access.account".into()));
        assert_eq!(field(spec("sup-bob", 0.5, "1h")), Ok(()));
    }

    #[test]
    fn a_supervisor_curtails_every_premise_for_the_event() {
        let (sim, report) = run(AttackSpec::DemandResponseForgery(spec("sup-bob", 0.5, "1h")), 10);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "curtailed 10 of 10 targeted premises by 50% for 1h with forged demand-response events"
        );
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["insider", "demand-response-request", "load-curtailed"]);
        // The events shed load from 01:00 (interval 4) and end an hour later.
        let curtailed: Vec<bool> = sim
            .records()
            .intervals
            .iter()
            .map(|row| row.dr_curtailed_mwh > 0)
            .collect();
        assert!(curtailed[4] && curtailed[6], "{curtailed:?}");
        assert!(!curtailed[3] && !curtailed[9], "{curtailed:?}");
    }

    #[test]
    fn an_operator_may_not_send_demand_response_and_the_hes_refuses() {
        let (sim, report) = run(AttackSpec::DemandResponseForgery(spec("ops-alice", 0.5, "1h")), 10);
        assert!(!report.succeeded);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("the HES refused the request: not-permitted")
        );
        assert!(sim.records().intervals.iter().all(|row| row.dr_curtailed_mwh == 0));
    }
}
