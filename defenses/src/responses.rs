//! The responses the playbooks (or a person) order, and the playbooks that order them. Each
//! response is carried out by its own function below, through engine inputs; the ones that
//! keep state keep it in their own type ([`HesIsolation`], [`Firewall`], and the
//! [`Restoration`] that `reconnect`, `rollback-firmware` and `dispatch-crews` switch on).

use std::collections::BTreeSet;

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::{SimDuration, SimTime};

use crate::addresses;
use crate::context::OperationalContext;
use crate::monitor::ResponseLog;
use crate::restoration::{Crews, Restoration};
use crate::spec::{AlertSource, Playbook, Response};

/// How far around a collector a crew with a direction finder searches for a jammer, metres.
const JAMMER_SEARCH_M: f32 = 3000.0;

/// A response ordered and still to be carried out.
#[derive(Debug, Clone)]
struct Pending {
    /// When it is due.
    at: SimTime,
    /// What.
    response: Response,
    /// What it is aimed at: the subject of the alert that triggered it, or what a person named.
    subject: Option<AlertSubject>,
}

/// The HES's isolation (`isolate-hes`): until when it is cut off, once ordered.
#[derive(Debug, Default)]
pub struct HesIsolation {
    /// When the rebuilt HES comes back (none before the first isolation).
    until: Option<SimTime>,
}

impl HesIsolation {
    /// Cuts the HES off at `now` for `rebuild`; only once per run.
    fn isolate(&mut self, sim: &mut Sim, now: SimTime, rebuild: SimDuration) -> Result<Option<String>, SimError> {
        if self.until.is_some() {
            return Ok(None);
        }
        let back = now + rebuild;
        self.until = Some(back);
        sim.schedule(now, Input::IsolateHes { isolated: true })?;
        if back < sim.horizon() {
            sim.schedule(back, Input::IsolateHes { isolated: false })?;
        }
        Ok(Some(format!("isolate-hes for {rebuild}")))
    }

    /// Whether restoration may work through the HES at `now`: not while it is cut off or
    /// still being rebuilt.
    fn trusted(&self, sim: &Sim, now: SimTime) -> bool {
        self.until.is_none_or(|t| t <= now) && !sim.hes().isolated
    }
}

/// The firewall in front of the network sensor (`block-source`): the outside hosts it blocks.
#[derive(Debug, Default)]
pub struct Firewall {
    /// Outside hosts blocked, by their number in the address plan.
    blocked: BTreeSet<u32>,
}

impl Firewall {
    /// Blocks the outside host `subject` names.
    fn block(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        subject: Option<&AlertSubject>,
    ) -> Result<Option<String>, SimError> {
        let Some(&AlertSubject::Host(address)) = subject else {
            return Ok(None);
        };
        let Some(first) = addresses::outside_host(address) else {
            return Ok(None);
        };
        self.blocked.insert(first);
        sim.schedule(now, Input::BlockHosts { first, count: 1 })?;
        Ok(Some("block-source".to_owned()))
    }

    /// The outside hosts blocked.
    pub fn blocked(&self) -> &BTreeSet<u32> {
        &self.blocked
    }
}

/// `freeze-bulk`: the HES refuses requests for more than `above` meters.
fn freeze_bulk(sim: &mut Sim, now: SimTime, above: u32) -> Result<Option<String>, SimError> {
    sim.schedule(now, Input::FreezeBulk { above: Some(above) })?;
    Ok(Some(format!("freeze-bulk above {above}")))
}

/// `revoke-account`: revokes the credentials of the HES account `subject` names.
fn revoke_account(sim: &mut Sim, now: SimTime, subject: Option<&AlertSubject>) -> Result<Option<String>, SimError> {
    let Some(AlertSubject::Account(account)) = subject else {
        return Ok(None);
    };
    if !sim.hes().config.accounts.iter().any(|a| a.name == *account) {
        return Ok(None);
    }
    sim.schedule(
        now,
        Input::RevokeCredential {
            account: account.clone(),
            revoked: true,
        },
    )?;
    Ok(Some("revoke-account".to_owned()))
}

/// `inspect-meters`: a crew inspects every meter of the transformer `subject` names.
fn inspect_meters(
    sim: &mut Sim,
    now: SimTime,
    subject: Option<&AlertSubject>,
    crews: &mut Crews,
    log: &mut ResponseLog,
) -> Result<Option<String>, SimError> {
    let Some(&AlertSubject::Transformer(t)) = subject else {
        return Ok(None);
    };
    let meters: Vec<u32> = (0..sim.n_meters() as u32)
        .filter(|&m| sim.network().meters[m as usize].transformer == t)
        .collect();
    let Some(done) = crews.book(now, sim.horizon(), log) else {
        return Ok(None);
    };
    for m in meters {
        sim.schedule(done, Input::Inspect { meter: m })?;
    }
    Ok(Some("inspect-meters".to_owned()))
}

/// `hunt-jammer`: a crew with a direction finder searches around the collector `subject`
/// names and switches off any jammer it finds.
fn hunt_jammer(
    sim: &mut Sim,
    now: SimTime,
    subject: Option<&AlertSubject>,
    crews: &mut Crews,
    log: &mut ResponseLog,
) -> Result<Option<String>, SimError> {
    let Some(&AlertSubject::Collector(c)) = subject else {
        return Ok(None);
    };
    let Some(site) = sim.network().collectors.get(c as usize) else {
        return Ok(None);
    };
    let center = site.pos;
    let Some(done) = crews.book(now, sim.horizon(), log) else {
        return Ok(None);
    };
    sim.schedule(
        done,
        Input::ClearInterference {
            center,
            radius_m: JAMMER_SEARCH_M,
        },
    )?;
    Ok(Some("hunt-jammer".to_owned()))
}

/// The playbooks, the responses they ordered, and the state responses keep.
pub struct Responses {
    /// The playbooks, in the scenario's order.
    playbooks: Vec<Playbook>,
    /// Responses ordered per (playbook, response, subject; none for responses that act once).
    fired: BTreeSet<(usize, usize, Option<AlertSubject>)>,
    /// Responses ordered and not yet carried out, in the order they were ordered.
    pending: Vec<Pending>,
    /// See [`HesIsolation`].
    isolation: HesIsolation,
    /// See [`Firewall`].
    pub firewall: Firewall,
    /// See [`Restoration`].
    pub restoration: Restoration,
}

impl Responses {
    /// The `playbooks` with `restoration`, nothing ordered yet.
    pub fn new(playbooks: Vec<Playbook>, restoration: Restoration) -> Responses {
        Responses {
            playbooks,
            fired: BTreeSet::new(),
            pending: Vec::new(),
            isolation: HesIsolation::default(),
            firewall: Firewall::default(),
            restoration,
        }
    }

    /// Orders the responses of every playbook an alert from `source` at `severity` about
    /// `subject`, raised at `time`, triggers: each playbook's delay later, once per playbook
    /// and response (and subject, for responses aimed at what the alert names), in playbook
    /// order.
    pub fn trigger(&mut self, time: SimTime, source: AlertSource, severity: Severity, subject: &AlertSubject) {
        for (i, p) in self.playbooks.iter().enumerate() {
            let hit = p.on.iter().any(|on| on.fires_on(source));
            if !hit || severity < p.severity {
                continue;
            }
            for (j, a) in p.actions.iter().enumerate() {
                let key = a.per_subject().then(|| subject.clone());
                if !self.fired.insert((i, j, key)) {
                    continue;
                }
                self.pending.push(Pending {
                    at: time + p.delay,
                    response: a.clone(),
                    subject: Some(subject.clone()),
                });
            }
        }
    }

    /// Orders `response` aimed at `subject` for `at`, outside any playbook.
    pub fn order(&mut self, at: SimTime, response: Response, subject: Option<AlertSubject>) {
        self.pending.push(Pending { at, response, subject });
    }

    /// Carries out the responses due at `now`, in the order they were ordered; each one carried
    /// out is logged (one whose subject is not of the kind it needs is dropped).
    pub fn carry_out_due(&mut self, sim: &mut Sim, now: SimTime, log: &mut ResponseLog) -> Result<(), SimError> {
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.at <= now);
        self.pending = later;
        for p in due {
            let subject = p.subject.as_ref();
            let done = match p.response {
                Response::FreezeBulk(above) => freeze_bulk(sim, now, above)?,
                Response::RevokeAccount => revoke_account(sim, now, subject)?,
                Response::IsolateHes(rebuild) => self.isolation.isolate(sim, now, rebuild)?,
                Response::RollbackFirmware => {
                    self.restoration.rolling_back = true;
                    Some("rollback-firmware".to_owned())
                }
                Response::Reconnect => {
                    self.restoration.reconnecting = true;
                    Some("reconnect".to_owned())
                }
                Response::DispatchCrews => {
                    self.restoration.crews_out = true;
                    Some("dispatch-crews".to_owned())
                }
                Response::BlockSource => self.firewall.block(sim, now, subject)?,
                Response::InspectMeters => inspect_meters(sim, now, subject, &mut self.restoration.crews, log)?,
                Response::HuntJammer => hunt_jammer(sim, now, subject, &mut self.restoration.crews, log)?,
            };
            if let Some(name) = done {
                log.actions.push((now, name, p.subject));
            }
        }
        Ok(())
    }

    /// Restoration under way at `now` (see [`Restoration::restore`]).
    pub fn restore(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        context: &mut OperationalContext,
        log: &mut ResponseLog,
    ) -> Result<(), SimError> {
        let trusted = self.isolation.trusted(sim, now);
        self.restoration.restore(sim, now, trusted, context, log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::tests::{accounts, small_sim};
    use crate::spec::{DetectionSpec, DetectorKind, PlaybookSpec, ResponseSpec};

    fn playbook(on: &[&str], delay: &str, actions: Vec<ResponseSpec>) -> PlaybookSpec {
        PlaybookSpec {
            on: on.iter().map(|&s| s.to_owned()).collect(),
            severity: Severity::Medium,
            delay: delay.into(),
            actions,
        }
    }

    /// Playbooks order their responses in playbook and response order, each once (once per
    /// subject for those aimed at what the alert names), and responses are carried out in the
    /// order they were ordered once due.
    #[test]
    fn responses_are_carried_out_in_the_order_ordered_once_due() {
        let mut sim = small_sim();
        let detection = DetectionSpec {
            playbooks: vec![
                playbook(
                    &["command-rate"],
                    "10m",
                    vec![ResponseSpec::RevokeAccount, ResponseSpec::FreezeBulk(10)],
                ),
                playbook(&["ids", "command-rate"], "0s", vec![ResponseSpec::FreezeBulk(3)]),
            ],
            ..DetectionSpec::default()
        }
        .check(&accounts(&sim))
        .expect("valid");
        let restoration = Restoration::new(detection.restoration, detection.every, sim.n_meters(), false);
        let mut responses = Responses::new(detection.playbooks, restoration);
        let minute = |m: u64| SimTime(m * 60_000_000);
        let source = AlertSource::Detector(DetectorKind::CommandRate);
        let alice = AlertSubject::Account("ops-alice".into());
        let bob = AlertSubject::Account("sup-bob".into());
        responses.trigger(minute(1), source, Severity::Medium, &alice);
        responses.trigger(minute(2), source, Severity::High, &bob);
        responses.trigger(
            minute(3),
            source,
            Severity::Low,
            &AlertSubject::Account("admin-carol".into()),
        );
        responses.trigger(
            minute(3),
            AlertSource::Detector(DetectorKind::ZeroAtPeak),
            Severity::High,
            &alice,
        );
        let mut log = ResponseLog::default();
        responses
            .carry_out_due(&mut sim, minute(5), &mut log)
            .expect("scheduled");
        let names = |log: &ResponseLog| -> Vec<(u64, String, Option<AlertSubject>)> {
            log.actions
                .iter()
                .map(|(t, n, s)| (t.0 / 60_000_000, n.clone(), s.clone()))
                .collect()
        };
        assert_eq!(
            names(&log),
            [(5, "freeze-bulk above 3".to_owned(), Some(alice.clone()))]
        );
        responses
            .carry_out_due(&mut sim, minute(20), &mut log)
            .expect("scheduled");
        assert_eq!(
            names(&log)[1..],
            [
                (20, "revoke-account".to_owned(), Some(alice.clone())),
                (20, "freeze-bulk above 10".to_owned(), Some(alice)),
                (20, "revoke-account".to_owned(), Some(bob)),
            ]
        );
        responses
            .carry_out_due(&mut sim, minute(60), &mut log)
            .expect("nothing left");
        assert_eq!(log.actions.len(), 4);
    }

    /// The HES is isolated once per run, and restoration does not trust it until it is back.
    #[test]
    fn the_hes_is_isolated_once_and_untrusted_until_rebuilt() {
        let mut sim = small_sim();
        let mut isolation = HesIsolation::default();
        let now = SimTime(60_000_000);
        let rebuild = SimDuration::from_hours(4);
        assert!(isolation.trusted(&sim, now));
        let done = isolation.isolate(&mut sim, now, rebuild).expect("scheduled");
        assert_eq!(done.as_deref(), Some("isolate-hes for 4h"));
        assert_eq!(isolation.isolate(&mut sim, now, rebuild).expect("nothing"), None);
        assert!(!isolation.trusted(&sim, now + SimDuration::from_hours(1)));
    }

    /// The firewall blocks the outside host an alert names, and nothing inside the utility.
    #[test]
    fn the_firewall_blocks_outside_hosts_only() {
        let mut sim = small_sim();
        let mut firewall = Firewall::default();
        let now = SimTime(60_000_000);
        let inside = AlertSubject::Host(addresses::HES_FRONT_END);
        assert_eq!(firewall.block(&mut sim, now, Some(&inside)).expect("nothing"), None);
        assert_eq!(firewall.block(&mut sim, now, None).expect("nothing"), None);
        let outside = AlertSubject::Host(addresses::outside(7));
        let done = firewall.block(&mut sim, now, Some(&outside)).expect("scheduled");
        assert_eq!(done.as_deref(), Some("block-source"));
        assert_eq!(firewall.blocked(), &BTreeSet::from([7]));
    }
}
