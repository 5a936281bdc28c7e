//! The kill chain to the head-end system: how an attacker comes to issue HES commands.
//!
//! Access is never assumed silently. Each way in is a step with its own time and odds, drawn
//! from the attack's own random stream and recorded as ground truth:
//!
//! | access | what the attacker ends up holding |
//! | --- | --- |
//! | `Phishing` | the account's password with probability `success`; if the account has MFA, the second factor too only with probability `mfa_bypass` (push fatigue, a real-time phishing proxy) |
//! | `Insider` | an employee's full credential, second factor included |
//! | `HesExploit` | with probability `success`, code running inside the HES: requests that skip authentication (the audit log shows `(hes-process)`) |
//! | `VendorRelease` | nothing: a vendor-signed image reaches the utility as a regular release and the utility's first administrator pushes it (supply chain; firmware only) |
//!
//! What the HES then does with the request (refuse a missing second factor, refuse a role that
//! may not push firmware) is the HES's own decision, made in `sim`.

use amirange_sim::engine::{Input, Sim};
use amirange_sim::hes::{Credential, Role};
use amirange_sim::records::TruthRecord;
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::Context;
use crate::FieldError;
use crate::when::{self, When};

/// How the attacker gets to issue HES commands.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum Access {
    /// Phish the holder of `account`.
    Phishing {
        /// The HES account (see the scenario's `hes.accounts`).
        account: String,
        /// Probability that the phish yields the password.
        success: f64,
        /// Probability of also getting past the second factor, if the account has one.
        #[serde(default)]
        mfa_bypass: f64,
        /// When the phish lands (default: one hour before the attack).
        #[serde(default)]
        at: Option<String>,
    },
    /// A malicious insider who holds `account` with its second factor.
    Insider {
        /// The HES account.
        account: String,
    },
    /// The password of `account`, and its second factor if `second_factor`, taken before
    /// (a live exercise's red team phished it earlier in the run, or a credential bought).
    Stolen {
        /// The HES account.
        account: String,
        /// Whether the attacker also holds the second factor.
        second_factor: bool,
    },
    /// Exploit a vulnerability of the HES to run code inside it.
    HesExploit {
        /// Probability that the exploit works.
        success: f64,
        /// When it is tried (default: one hour before the attack).
        #[serde(default)]
        at: Option<String>,
    },
    /// No access: the utility itself pushes the image as a vendor release (supply chain).
    VendorRelease,
}

/// What the kill chain obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// A credential to present (possibly without its second factor).
    Credential(Credential),
    /// Nothing usable; the reason, in words.
    Nothing(String),
}

/// The access step, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    access: Access,
    /// When the step happens, if the file says; otherwise one hour before the attack (or at the
    /// attack, for an insider or a vendor release).
    at: Option<When>,
}

/// A probability field: from 0 to 1.
pub fn probability(field: &str, p: f64) -> Result<f64, FieldError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(FieldError::new(
            field,
            format!("must be a probability from 0 to 1, not {p}"),
        ))
    }
}

/// Checks `access` against the scenario.
pub fn check(access: &Access, ctx: &Context) -> Result<Plan, FieldError> {
    let prob = |field: &str, p: f64| probability(field, p).map(|_| ());
    let account_known = |name: &str| {
        if ctx.accounts.iter().any(|a| a.name == name) {
            Ok(())
        } else {
            let names: Vec<&str> = ctx.accounts.iter().map(|a| a.name.as_str()).collect();
            Err(FieldError::new(
                "access.account",
                format!("unknown HES account {name:?}; accounts: {}", names.join(", ")),
            ))
        }
    };
    let step_time = |at: &Option<String>| -> Result<Option<When>, FieldError> {
        at.as_ref()
            .map(|text| when::parse(text, ctx.start, ctx.horizon).map_err(|e| FieldError::new("access.at", e)))
            .transpose()
    };
    let at = match access {
        Access::Phishing {
            account,
            success,
            mfa_bypass,
            at,
        } => {
            account_known(account)?;
            prob("access.success", *success)?;
            prob("access.mfa_bypass", *mfa_bypass)?;
            step_time(at)?
        }
        Access::Insider { account } | Access::Stolen { account, .. } => {
            account_known(account)?;
            None
        }
        Access::HesExploit { success, at } => {
            prob("access.success", *success)?;
            step_time(at)?
        }
        Access::VendorRelease => None,
    };
    Ok(Plan {
        access: access.clone(),
        at,
    })
}

impl Plan {
    /// When the step happens for an attack that starts at `attack_at`.
    pub fn time(&self, sim: &Sim, attack_at: SimTime) -> SimTime {
        match (&self.at, &self.access) {
            (Some(w), _) => w.resolve(sim).min(attack_at),
            (None, Access::Insider { .. } | Access::Stolen { .. } | Access::VendorRelease) => attack_at,
            (None, _) => SimTime(attack_at.0.saturating_sub(SimDuration::from_hours(1).as_micros())),
        }
    }

    /// Takes the step at `now` unless `held` shows it was taken: stores what it obtained in
    /// `held` and returns `Some(whether it is a credential)`; `None` when it was taken before.
    pub fn take_once(
        &self,
        held: &mut Option<Held>,
        sim: &mut Sim,
        k: u8,
        source: &str,
        now: SimTime,
    ) -> Result<Option<bool>, amirange_sim::engine::SimError> {
        if held.is_some() {
            return Ok(None);
        }
        let got = self.take(sim, k, source, now)?;
        let credential = matches!(got, Held::Credential(_));
        *held = Some(got);
        Ok(Some(credential))
    }

    /// Whether the step is the supply-chain release.
    pub fn is_vendor_release(&self) -> bool {
        self.access == Access::VendorRelease
    }

    /// Takes the step at `now`: draws its odds from attack `k`'s stream, records the truth under
    /// `source`, and tells what the attacker holds.
    pub fn take(
        &self,
        sim: &mut Sim,
        k: u8,
        source: &str,
        now: SimTime,
    ) -> Result<Held, amirange_sim::engine::SimError> {
        self.take_nth(sim, k, u64::MAX, source, now)
    }

    /// [`Plan::take`] with the odds drawn from stream `nth` of attack `k` (a live exercise
    /// draws each of its phishing attempts from its own stream).
    pub fn take_nth(
        &self,
        sim: &mut Sim,
        k: u8,
        nth: u64,
        source: &str,
        now: SimTime,
    ) -> Result<Held, amirange_sim::engine::SimError> {
        let seed = sim.config().seed;
        let mut stream = Stream::new(seed, Purpose::Attack, u64::from(k), nth);
        let truth = |sim: &mut Sim, kind: &str, detail: String| {
            sim.record_truth(TruthRecord {
                time: now,
                source: source.to_owned(),
                kind: kind.to_owned(),
                detail,
                meters: Vec::new(),
            });
        };
        Ok(match &self.access {
            Access::Phishing {
                account,
                success,
                mfa_bypass,
                ..
            } => {
                let mfa = sim
                    .hes()
                    .config
                    .accounts
                    .iter()
                    .find(|a| &a.name == account)
                    .is_some_and(|a| a.mfa);
                if !stream.bernoulli(*success) {
                    truth(sim, "phishing", format!("phishing {account} failed (T0865)"));
                    return Ok(Held::Nothing(format!(
                        "the phishing of {account} did not yield a password (success probability {success})"
                    )));
                }
                let Some(mut credential) = sim.credential(account) else {
                    return Ok(Held::Nothing(format!("no account {account}")));
                };
                let second = !mfa || stream.bernoulli(*mfa_bypass);
                credential.second_factor = second;
                let detail = match (mfa, second) {
                    (false, _) => {
                        format!("phishing {account} yielded the password; the account has no MFA (T0865, T0859)")
                    }
                    (true, true) => format!("phishing {account} yielded the password and got past MFA (T0865, T0859)"),
                    (true, false) => {
                        format!("phishing {account} yielded the password but not the second factor (T0865)")
                    }
                };
                truth(sim, "phishing", detail);
                Held::Credential(credential)
            }
            Access::Insider { account } => {
                truth(sim, "insider", format!("an insider uses {account} (T0859)"));
                match sim.credential(account) {
                    Some(c) => Held::Credential(c),
                    None => Held::Nothing(format!("no account {account}")),
                }
            }
            Access::Stolen { account, second_factor } => {
                let factor = if *second_factor {
                    "with its second factor"
                } else {
                    "without its second factor"
                };
                truth(
                    sim,
                    "stolen-credential",
                    format!("uses the stolen password of {account} {factor} (T0859)"),
                );
                match sim.credential(account) {
                    Some(mut c) => {
                        c.second_factor = *second_factor;
                        Held::Credential(c)
                    }
                    None => Held::Nothing(format!("no account {account}")),
                }
            }
            Access::HesExploit { success, .. } => {
                if stream.bernoulli(*success) {
                    truth(sim, "hes-exploit", "code execution inside the HES (T0866)".into());
                    sim.schedule(now, Input::HesFoothold { attack: Some(k) })?;
                    Held::Credential(Credential::hes_process())
                } else {
                    truth(sim, "hes-exploit", "the HES exploit failed (T0866)".into());
                    Held::Nothing(format!(
                        "the exploit against the HES failed (success probability {success})"
                    ))
                }
            }
            Access::VendorRelease => {
                let admin = sim
                    .hes()
                    .config
                    .accounts
                    .iter()
                    .find(|a| a.role == Role::Administrator)
                    .map(|a| a.name.clone());
                match admin.and_then(|name| sim.credential(&name).map(|c| (name, c))) {
                    Some((name, c)) => {
                        truth(
                            sim,
                            "vendor-release",
                            format!("a vendor-signed malicious release reaches the utility; {name} pushes it (T0862)"),
                        );
                        Held::Credential(c)
                    }
                    None => {
                        truth(
                            sim,
                            "vendor-release",
                            "a vendor-signed malicious release reaches the utility, which has no administrator to push it (T0862)"
                                .into(),
                        );
                        Held::Nothing("the HES has no administrator account to push a release".into())
                    }
                }
            }
        })
    }
}

/// Validates an access that must carry requests to the HES (`what` they carry, e.g.
/// `"commands"`): a vendor release, which carries only firmware, is refused.
pub fn check_requests(access: &Access, ctx: &Context, what: &str) -> Result<Plan, FieldError> {
    if *access == Access::VendorRelease {
        let message = format!("a vendor release carries firmware, not {what}; use Phishing, Insider or HesExploit");
        return Err(FieldError::new("access", message));
    }
    check(access, ctx)
}

/// An attack's way in to the HES and the start of its main action after it: the access step
/// comes first (at its own time), then the action at `start` if the step gave a credential.
#[derive(Debug)]
pub struct Chain {
    /// The access step.
    plan: Plan,
    /// When the main action starts, as written.
    at: When,
    /// When the main action starts, once prepared.
    pub start: SimTime,
    /// What the access step obtained, once it ran.
    pub held: Option<Held>,
}

impl Chain {
    /// The chain of `plan`, then the main action at `at`.
    pub fn new(plan: Plan, at: When) -> Chain {
        Chain {
            plan,
            at,
            start: SimTime::ZERO,
            held: None,
        }
    }

    /// Fixes the start against the built world and returns the first wake: the access step's.
    pub fn prepare(&mut self, sim: &Sim) -> SimTime {
        self.start = self.at.resolve(sim);
        self.plan.time(sim, self.start)
    }

    /// At a wake of attack `k` (`source` in ground truth): takes the access step if it has not
    /// been taken, and then returns `Some` of the next wake (the start if the step gave a
    /// credential, never otherwise); `None` when the step was taken before and the main action
    /// is due.
    pub fn take_access(
        &mut self,
        sim: &mut Sim,
        k: u8,
        source: &str,
    ) -> Result<Option<Option<SimTime>>, amirange_sim::engine::SimError> {
        let now = sim.now();
        let taken = self.plan.take_once(&mut self.held, sim, k, source, now)?;
        Ok(taken.map(|credential| credential.then_some(self.start.max(now))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{context, sim};

    fn phishing(account: &str, success: f64, mfa_bypass: f64, at: Option<&str>) -> Access {
        Access::Phishing {
            account: account.into(),
            success,
            mfa_bypass,
            at: at.map(str::to_owned),
        }
    }

    fn hours(h: u64) -> SimTime {
        SimTime(SimDuration::from_hours(h).as_micros())
    }

    #[test]
    fn access_names_an_unknown_account_odd_odds_and_a_bad_time() {
        let field = |access: &Access| check(access, &context()).map(|_| ()).map_err(|e| e.field);
        let e = check(&phishing("mallory", 0.5, 0.0, None), &context()).expect_err("unknown account");
        assert_eq!(e.field, "access.account");
        assert_eq!(
            e.message,
            "unknown HES account \"mallory\"; accounts: ops-alice, sup-bob, admin-carol, cis-integration"
        );
        assert_eq!(
            field(&phishing("ops-alice", 1.5, 0.0, None)),
            Err("access.success".into())
        );
        assert_eq!(
            field(&phishing("ops-alice", 0.5, -0.1, None)),
            Err("access.mfa_bypass".into())
        );
        assert_eq!(
            field(&phishing("ops-alice", 0.5, 0.0, Some("9d 00:00"))),
            Err("access.at".into())
        );
        let exploit = Access::HesExploit {
            success: f64::NAN,
            at: None,
        };
        assert_eq!(field(&exploit), Err("access.success".into()));
        assert_eq!(field(&Access::VendorRelease), Ok(()));
        let e = check_requests(&Access::VendorRelease, &context(), "commands").expect_err("no commands");
        assert_eq!(e.field, "access");
    }

    #[test]
    fn the_step_comes_an_hour_early_unless_it_is_an_insider_or_written() {
        let sim = sim(1);
        let plan = |access: Access| check(&access, &context()).expect("valid");
        assert_eq!(
            plan(phishing("ops-alice", 0.5, 0.0, None)).time(&sim, hours(3)),
            hours(2)
        );
        let insider = Access::Insider {
            account: "ops-alice".into(),
        };
        assert_eq!(plan(insider).time(&sim, hours(3)), hours(3));
        // A written time counts, but never after the attack it leads to.
        assert_eq!(
            plan(phishing("ops-alice", 0.5, 0.0, Some("1h"))).time(&sim, hours(3)),
            hours(1)
        );
        assert_eq!(
            plan(phishing("ops-alice", 0.5, 0.0, Some("5h"))).time(&sim, hours(3)),
            hours(3)
        );
    }

    #[test]
    fn a_phish_without_the_second_factor_yields_a_password_only_and_records_it() {
        let mut sim = sim(1);
        let plan = check(&phishing("ops-alice", 1.0, 0.0, None), &context()).expect("valid");
        let held = plan.take(&mut sim, 0, "phish", hours(1)).expect("takes");
        // ops-alice has MFA, and the bypass never works: the password alone.
        let full = sim.credential("ops-alice").expect("typical account");
        assert!(full.second_factor);
        let password_only = Credential {
            second_factor: false,
            ..full
        };
        assert_eq!(held, Held::Credential(password_only));
        let truth = &sim.records().truth;
        assert_eq!(truth.len(), 1);
        assert_eq!(
            (truth[0].source.as_str(), truth[0].kind.as_str()),
            ("phish", "phishing")
        );
        assert_eq!(
            truth[0].detail,
            "phishing ops-alice yielded the password but not the second factor (T0865)"
        );
        let failed = check(&phishing("ops-alice", 0.0, 0.0, None), &context()).expect("valid");
        assert_eq!(
            failed.take(&mut sim, 0, "phish", hours(1)).expect("takes"),
            Held::Nothing("the phishing of ops-alice did not yield a password (success probability 0)".into())
        );
    }

    #[test]
    fn a_chain_takes_its_step_once_then_starts_only_with_a_credential() {
        let mut sim = sim(1);
        let exploit = |success: f64| {
            let plan = check(&Access::HesExploit { success, at: None }, &context()).expect("valid");
            Chain::new(plan, When::At(hours(2)))
        };
        let mut foothold = exploit(1.0);
        assert_eq!(foothold.prepare(&sim), hours(1), "the exploit comes an hour early");
        sim.step_until(hours(1)).expect("runs");
        assert_eq!(
            foothold.take_access(&mut sim, 0, "x").expect("takes"),
            Some(Some(hours(2)))
        );
        assert_eq!(foothold.held, Some(Held::Credential(Credential::hes_process())));
        assert_eq!(
            foothold.take_access(&mut sim, 0, "x").expect("takes"),
            None,
            "taken once"
        );
        sim.step_until(hours(2)).expect("runs");
        assert_eq!(
            sim.hes().foothold,
            Some(0),
            "the exploit left code running inside the HES"
        );
        let mut missed = exploit(0.0);
        missed.prepare(&sim);
        assert_eq!(missed.take_access(&mut sim, 1, "y").expect("takes"), Some(None));
        assert!(matches!(missed.held, Some(Held::Nothing(_))));
    }
}
