//! A command flood against the HES: junk requests that fill its send queue.
//!
//! With a way to issue HES commands (see [`crate::access`]), the attacker submits on-demand read
//! requests for its targets, `requests_per_minute` of them from `at` to `until`. Each accepted
//! request becomes one job per meter in the HES's first-in-first-out send queue, which drains at
//! the HES's send rate. When the flood outpaces it, the queue grows, and the utility's own
//! commands (disconnects, reconnects, firmware waves, demand response) wait behind the junk:
//! the blast radius measures how long legitimate jobs waited in the queue while the flood's
//! jobs were in it. The reads themselves harm no meter.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::hes::{CommandKind, CommandRequest, Credential};
use amirange_sim::model::Cause;
use amirange_sim::time::SimTime;

use crate::access::{self, Access, Held};
use crate::tags::{Stride, Tags, Technique};
use crate::targets::Targets;
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: a denial of service against the head end.
pub const TAGS: Tags = Tags {
    kind: "command-flood",
    nescor: &[],
    stride: Stride::DenialOfService,
    technique: Technique::DENIAL_OF_SERVICE,
    related: &[
        Technique::SPEARPHISHING_ATTACHMENT,
        Technique::VALID_ACCOUNTS,
        Technique::BLOCK_COMMAND_MESSAGE,
    ],
};

crate::attack_spec! {
    /// A command flood as the scenario writes it.
    pub struct Spec {
        /// The flood's window (times, not peaks).
        pub until: String,
        /// `Phishing`, `Insider` or `HesExploit` (the role must permit reads: every role does).
        pub access: Access,
        /// The meters each request reads.
        pub targets: Targets,
        /// Above 0, at most 600.
        pub requests_per_minute: f64,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<CommandFlood, FieldError> {
        let time = |field: &str, text: &str| when::instant(field, text, ctx.start, ctx.horizon);
        let at = time("at", &self.header.at)?;
        let until = time("until", &self.until)?;
        if until <= at {
            return Err(FieldError::new("until", "must be after `at`"));
        }
        let access = access::check_requests(&self.access, ctx, "requests")?;
        self.targets.check().map_err(|e| FieldError::new("targets", e))?;
        if !(self.requests_per_minute.is_finite()
            && self.requests_per_minute > 0.0
            && self.requests_per_minute <= 600.0)
        {
            return Err(FieldError::new(
                "requests_per_minute",
                format!("must be above 0 and at most 600, not {}", self.requests_per_minute),
            ));
        }
        let gap_us = (60e6 / self.requests_per_minute).round().max(1.0) as u64;
        Ok(CommandFlood {
            spec: self.clone(),
            k: index,
            at,
            until,
            access,
            gap_us,
            targets: Vec::new(),
            held: None,
            wake: None,
            sent: 0,
        })
    }
}

/// A command flood at run time.
#[derive(Debug)]
pub struct CommandFlood {
    spec: Spec,
    k: u8,
    at: SimTime,
    until: SimTime,
    access: access::Plan,
    gap_us: u64,
    targets: Vec<u32>,
    held: Option<Held>,
    wake: Option<SimTime>,
    /// Requests submitted.
    sent: u64,
}

impl Attack for CommandFlood {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        self.targets = self.spec.targets.meters(sim, self.k, "targets")?;
        self.wake = Some(self.access.time(sim, self.at));
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        self.wake
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let Some(held) = &self.held else {
            let held = self.access.take(sim, self.k, &self.spec.header.id, now)?;
            let go = matches!(held, Held::Credential(_)) && !self.targets.is_empty();
            self.wake = go.then_some(self.at.max(now));
            if go {
                let who = match &held {
                    Held::Credential(c) if c.account == Credential::HES_PROCESS => "from inside the HES".to_owned(),
                    Held::Credential(c) => format!("as {}", sim.hes().config.accounts[usize::from(c.account)].name),
                    Held::Nothing(_) => String::new(),
                };
                let per_minute = self.spec.requests_per_minute;
                truth(
                    sim,
                    self.at.max(now),
                    &self.spec.header.id,
                    "flood-start",
                    format!(
                        "junk read requests for {} meters, {per_minute} a minute, {who} (T0814)",
                        self.targets.len()
                    ),
                    self.targets.clone(),
                );
            }
            self.held = Some(held);
            return Ok(());
        };
        let Held::Credential(credential) = *held else {
            self.wake = None;
            return Ok(());
        };
        if now >= self.until {
            truth(
                sim,
                now,
                &self.spec.header.id,
                "flood-end",
                format!("{} junk requests submitted", self.sent),
                Vec::new(),
            );
            self.wake = None;
            return Ok(());
        }
        sim.schedule(
            now,
            Input::Command(CommandRequest {
                credential,
                kind: CommandKind::Read,
                meters: self.targets.clone(),
                cause: Cause::Attack(self.k),
                purpose: "billing-read".into(),
                approver: None,
            }),
        )?;
        self.sent += 1;
        let next = SimTime(now.0 + self.gap_us).min(self.until);
        self.wake = (next <= sim.horizon()).then_some(next);
        Ok(())
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let cause = Cause::Attack(self.k);
        let hes = sim.hes();
        let accepted = hes
            .audit
            .iter()
            .filter(|a| a.cause == cause && a.refused.is_none())
            .count();
        let refused = hes.audit.iter().find(|a| a.cause == cause && a.refused.is_some());
        let failure_reason = (accepted == 0).then(|| match &self.held {
            None => "the attack had not started when the run ended".to_owned(),
            Some(Held::Nothing(why)) => why.clone(),
            Some(Held::Credential(_)) if self.targets.is_empty() => "the targets hold no meter".to_owned(),
            Some(Held::Credential(_)) => match refused.and_then(|a| a.refused) {
                Some(r) => format!("the HES refused the requests: {}", r.name()),
                None => "no request reached the HES before the run ended".to_owned(),
            },
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "{accepted} junk requests accepted, {} jobs queued at the HES",
                accepted as u64 * self.targets.len() as u64
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.at, self.targets.len() as u64, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(requests_per_minute: f64, until: &str) -> AttackSpec {
        AttackSpec::CommandFlood(Spec {
            header: header("flood", "0d 01:00"),
            until: until.into(),
            access: Access::Insider {
                account: "ops-alice".into(),
            },
            targets: Targets::All,
            requests_per_minute,
        })
    }

    #[test]
    fn a_command_flood_has_a_bounded_rate_and_ends_after_it_starts() {
        assert_eq!(
            check(&spec(0.0, "0d 02:00")).map_err(|e| e.field),
            Err("requests_per_minute".into())
        );
        assert_eq!(
            check(&spec(601.0, "0d 02:00")).map_err(|e| e.field),
            Err("requests_per_minute".into())
        );
        assert_eq!(check(&spec(10.0, "0d 00:30")).map_err(|e| e.field), Err("until".into()));
        assert_eq!(check(&spec(10.0, "0d 02:00")), Ok(()));
    }

    #[test]
    fn an_insider_flood_queues_junk_jobs_at_the_hes() {
        let (_, report) = run(spec(10.0, "0d 01:10"), 10);
        assert!(report.succeeded, "{report:?}");
        assert!(report.summary.contains("junk requests accepted"), "{}", report.summary);
    }
}
