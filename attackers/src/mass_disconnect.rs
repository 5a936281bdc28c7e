//! Mass remote disconnect through the HES.
//!
//! The attacker obtains a way to issue HES commands (see [`crate::access`]), then asks the HES
//! to open the relays of its targets, in requests of `batch` meters `spacing` apart. Everything
//! after the request is the real control plane: the HES authenticates and authorises it (a
//! phished password without the second factor is refused), fans it out at its send rate, the
//! commands queue on collectors' channels and cross mesh, PLC or cellular links, and each meter
//! opens its relay after its relay delay and any randomised delay. Customers lose supply as
//! their relays open; the supply measures attribute that to this attack.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::hes::{CommandKind, CommandRequest, Credential};
use amirange_sim::model::Cause;
use amirange_sim::time::{SimDuration, SimTime};

use crate::access::{self, Access, Held};
use crate::tags::{Stride, Tags, Technique};
use crate::targets::Targets;
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: unauthorised command messages that deny customers their supply.
pub const TAGS: Tags = Tags {
    kind: "mass-disconnect",
    nescor: &["AMI.1"],
    stride: Stride::DenialOfService,
    technique: Technique::UNAUTHORIZED_COMMAND_MESSAGE,
    related: &[
        Technique::SPEARPHISHING_ATTACHMENT,
        Technique::VALID_ACCOUNTS,
        Technique::EXPLOITATION_OF_REMOTE_SERVICES,
        Technique::LOSS_OF_AVAILABILITY,
    ],
};

/// What the attacker's requests ask the HES to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Order {
    /// Open the targets' relays, passed off as non-payment disconnects.
    Disconnect,
    /// Forged demand-response events: curtail the targets' load by `reduction` for `duration`.
    DemandResponse {
        /// Share of load shed.
        reduction: f32,
        /// How long.
        duration: SimDuration,
    },
}

crate::attack_spec! {
    /// A mass disconnect as the scenario writes it.
    pub struct Spec {
        /// How the attacker gets to issue HES commands: `Phishing`, `Insider` or `HesExploit` (below; `VendorRelease`
        /// is an error here).
        pub access: Access,
        /// The meters to disconnect (below).
        pub targets: Targets,
        /// Meters per request, at least 1; requests take the targets in ascending meter order.
        ///
        /// Default: all targets in one request.
        #[serde(default)]
        pub batch: Option<u32>,
        /// Time between requests; a request that would fall at or after the end of the run is not sent.
        ///
        /// Default: none: every request at once.
        #[serde(default)]
        pub spacing: Option<String>,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<MassDisconnect, FieldError> {
        self.check_order(index, ctx, Order::Disconnect)
    }

    /// Validates the spec for requests that carry `order`.
    pub(crate) fn check_order(&self, index: u8, ctx: &Context, order: Order) -> Result<MassDisconnect, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        let access = access::check_requests(&self.access, ctx, "commands")?;
        self.targets.check().map_err(|e| FieldError::new("targets", e))?;
        let batch = self.batch.unwrap_or(u32::MAX);
        if batch == 0 {
            return Err(FieldError::new("batch", "at least one meter per request"));
        }
        let spacing = match &self.spacing {
            Some(text) => when::duration("spacing", text, ctx.horizon)?,
            None => SimDuration::ZERO,
        };
        Ok(MassDisconnect {
            spec: self.clone(),
            order,
            k: index,
            chain: access::Chain::new(access, at),
            batch,
            spacing,
            targets: Vec::new(),
            next: 0,
            wake: None,
        })
    }
}

/// A mass disconnect at run time.
#[derive(Debug)]
pub struct MassDisconnect {
    spec: Spec,
    order: Order,
    k: u8,
    /// The way in to the HES, and the start after it.
    chain: access::Chain,
    batch: u32,
    spacing: SimDuration,
    targets: Vec<u32>,
    /// The next target to request.
    next: usize,
    wake: Option<SimTime>,
}

impl MassDisconnect {
    /// The audit records of this attack's requests.
    fn requests<'a>(&self, sim: &'a Sim) -> impl Iterator<Item = &'a amirange_sim::hes::AuditRecord> {
        let cause = Cause::Attack(self.k);
        sim.hes().audit.iter().filter(move |a| a.cause == cause)
    }

    /// Meters whose relay this attack's commands opened, ascending, and when the first opened.
    fn opened(&self, sim: &Sim) -> (Vec<u32>, Option<SimTime>) {
        let hes = sim.hes();
        let ids: Vec<u32> = self.requests(sim).map(|a| a.id).collect();
        let mut meters = Vec::new();
        let mut first: Option<SimTime> = None;
        if ids.is_empty() {
            return (meters, first);
        }
        for j in &hes.jobs {
            if let Some(t) = j.executed
                && ids.binary_search(&j.command).is_ok()
            {
                meters.push(j.meter);
                first = Some(first.map_or(t, |f| f.min(t)));
            }
        }
        meters.sort_unstable();
        meters.dedup();
        (meters, first)
    }
}

impl Attack for MassDisconnect {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.targets = self.spec.targets.meters(sim, self.k, "targets")?;
        self.wake = Some(self.chain.prepare(sim));
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        self.wake
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        if let Some(wake) = self.chain.take_access(sim, self.k, &self.spec.header.id)? {
            self.wake = wake;
            return Ok(());
        }
        let now = sim.now();
        let Some(Held::Credential(credential)) = self.chain.held else {
            self.wake = None;
            return Ok(());
        };
        if self.targets.is_empty() {
            self.wake = None;
            return Ok(());
        }
        loop {
            let end = (self.next + self.batch as usize).min(self.targets.len());
            let meters = self.targets[self.next..end].to_vec();
            self.next = end;
            let who = if credential.account == Credential::HES_PROCESS {
                "from inside the HES".to_owned()
            } else {
                let name = &sim.hes().config.accounts[usize::from(credential.account)].name;
                format!("as {name}")
            };
            // The attacker passes its requests off as routine work.
            let (step, what, kind, purpose) = match self.order {
                Order::Disconnect => (
                    "disconnect-request",
                    "disconnect",
                    CommandKind::Disconnect,
                    "non-payment",
                ),
                Order::DemandResponse { reduction, duration } => (
                    "demand-response-request",
                    "forged demand-response",
                    CommandKind::DemandResponse { reduction, duration },
                    "demand-response",
                ),
            };
            truth(
                sim,
                now,
                &self.spec.header.id,
                step,
                format!("{what} request for {} meters {who} (T0855)", meters.len()),
                meters.clone(),
            );
            sim.schedule(
                now,
                Input::Command(CommandRequest {
                    credential,
                    kind,
                    meters,
                    cause: Cause::Attack(self.k),
                    purpose: purpose.into(),
                    approver: None,
                }),
            )?;
            if self.next >= self.targets.len() {
                self.wake = None;
                return Ok(());
            }
            if self.spacing > SimDuration::ZERO {
                self.wake = Some(SimTime(now.0 + self.spacing.as_micros())).filter(|&t| t < sim.horizon());
                return Ok(());
            }
        }
    }

    fn finish(&mut self, sim: &mut Sim) {
        let (meters, first) = self.opened(sim);
        if let Some(first) = first {
            let n = meters.len();
            let (step, detail) = match self.order {
                Order::Disconnect => (
                    "relays-opened",
                    format!("{n} meters opened their relays on the attack's commands (T0826)"),
                ),
                Order::DemandResponse { .. } => (
                    "load-curtailed",
                    format!("{n} premises curtailed their load on the forged events (T0831)"),
                ),
            };
            truth(sim, first, &self.spec.header.id, step, detail, meters);
        }
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let (opened, _) = self.opened(sim);
        let requests: Vec<_> = self.requests(sim).collect();
        let refused: Vec<&str> = requests.iter().filter_map(|a| a.refused.map(|r| r.name())).collect();
        let failure_reason = if !opened.is_empty() {
            None
        } else {
            Some(match &self.chain.held {
                None => "the attack had not started when the run ended".to_owned(),
                Some(Held::Nothing(why)) => why.clone(),
                Some(Held::Credential(_)) if self.targets.is_empty() => "the targets hold no meter".into(),
                Some(Held::Credential(_)) if requests.is_empty() => {
                    "no request reached the HES before the run ended".into()
                }
                Some(Held::Credential(_)) if refused.len() == requests.len() => {
                    format!("the HES refused the request: {}", refused[0])
                }
                Some(Held::Credential(_)) if requests.iter().all(|a| a.targets == 0) => {
                    "every target was a protected critical facility (the command policy dropped them)".into()
                }
                Some(Held::Credential(_))
                    if requests.iter().map(|a| a.rejected).sum::<u32>() > 0
                        && requests.iter().all(|a| a.refused.is_some() || !a.signed) =>
                {
                    "the meters rejected every command: it lacked the HSM quorum's signature".into()
                }
                Some(Held::Credential(_)) => "no meter executed a command before the run ended".into(),
            })
        };
        let outcome = match (failure_reason, self.order) {
            (None, Order::Disconnect) => Ok(format!(
                "opened {} of {} targeted relays through the HES",
                opened.len(),
                self.targets.len()
            )),
            (None, Order::DemandResponse { reduction, duration }) => Ok(format!(
                "curtailed {} of {} targeted premises by {:.0}% for {duration} with forged demand-response events",
                opened.len(),
                self.targets.len(),
                reduction * 100.0
            )),
            (Some(why), _) => Err(why),
        };
        Outcome::new(self.chain.start, self.targets.len() as u64, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(access: Access, batch: Option<u32>) -> AttackSpec {
        AttackSpec::MassDisconnect(Spec {
            header: header("md", "0d 01:00"),
            access,
            targets: Targets::All,
            batch,
            spacing: None,
        })
    }

    fn insider() -> Access {
        Access::Insider {
            account: "ops-alice".into(),
        }
    }

    #[test]
    fn a_disconnect_refuses_empty_batches_and_vendor_releases() {
        assert_eq!(
            check(&spec(insider(), Some(0))).map_err(|e| e.field),
            Err("batch".into())
        );
        let e = check(&spec(Access::VendorRelease, None)).expect_err("refused");
        assert_eq!(e.field, "access");
        assert!(e.message.contains("carries firmware"), "{e}");
        assert_eq!(check(&spec(insider(), Some(10))), Ok(()));
    }

    #[test]
    fn an_insider_disconnect_opens_relays_through_the_hes() {
        let (sim, report) = run(spec(insider(), None), 40);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(report.meters_targeted, 40);
        let last = sim.records().intervals.last().expect("intervals");
        assert!(
            last.customers_connected < 40,
            "customers still connected: {}",
            last.customers_connected
        );
        assert!(sim.records().truth.iter().any(|t| t.kind == "relays-opened"));
    }
}
