//! Rogue firmware: an image with a malicious payload, pushed through a compromised update
//! channel or spread meter to meter by a worm.
//!
//! Delivery:
//! - `Push`: the attacker obtains HES access (see [`crate::access`]) and sends the image as a
//!   firmware update through the real fan-out (bulk transfer behind polling, activation delay,
//!   timeouts). The HES refuses roles that may not push firmware. `access: VendorRelease` is the
//!   supply-chain case: the utility's own administrator pushes the vendor's signed release.
//! - `Worm`: someone with physical access flashes the `entry` meters; every infected meter then
//!   sends the image to each of its mesh neighbours once, within `hop_delay` of its own
//!   infection, with probability `infection` per neighbour. Each transfer takes the image's
//!   airtime (its bits over the mesh rate) on the sending meter's collector's shared channel,
//!   one after another with the read cycles and other traffic there, so the worm's speed
//!   follows from image size, link rate and contention, and reads wait behind the images.
//!   Only meters with a mesh radio are reachable; meters that are down cannot send or receive,
//!   so the worm stops at the edge of the mesh it can reach.
//!
//! Signing decides what verification at the meter does: an `Unsigned` image is refused by every
//! meter that verifies signatures (`security.verify_firmware`), while an image signed with a
//! `LeakedKey` or `VendorSigned` passes.
//!
//! Payloads act from installation on, until another image replaces the rogue one:
//! `FalseReadings` (registers record only `share` of the consumption), `Brick` (the
//! communication module dies), `Flood` (junk frames fill the collector's channel every
//! interval), and `Disconnect` (at `at`, every meter still running the image opens its relay at
//! once: the coordinated disconnect).

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::hes::{CommandKind, CommandRequest};
use amirange_sim::model::{Cause, LinkKind, Relay};
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::security::{FirmwareImage, Payload};
use amirange_sim::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::access::{self, Access, Held};
use crate::tags::{Stride, Tags, Technique};
use crate::targets::Targets;
use crate::when::{self, When};
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: malicious system firmware on the meters.
pub const TAGS: Tags = Tags {
    kind: "rogue-firmware",
    nescor: &[],
    stride: Stride::Tampering,
    technique: Technique::SYSTEM_FIRMWARE,
    related: &[
        Technique::SUPPLY_CHAIN_COMPROMISE,
        Technique::SPEARPHISHING_ATTACHMENT,
        Technique::VALID_ACCOUNTS,
        Technique::EXPLOITATION_OF_REMOTE_SERVICES,
        Technique::SPOOF_REPORTING_MESSAGE,
        Technique::MANIPULATION_OF_CONTROL,
        Technique::DENIAL_OF_SERVICE,
        Technique::LOSS_OF_AVAILABILITY,
    ],
};

/// How the image reaches meters.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum Delivery {
    /// Through the HES's firmware update, to `targets`.
    Push {
        /// How the attacker gets to push (or `VendorRelease`).
        access: Access,
        /// The meters pushed to.
        targets: Targets,
    },
    /// Meter to meter over the mesh.
    Worm {
        /// Meters flashed by hand at the start (physical access).
        entry: Targets,
        /// Probability that one offer infects a neighbour, 0 to 1.
        infection: f64,
        /// Time from a meter's infection to its offers to its neighbours, e.g. `"5m"`.
        hop_delay: String,
    },
}

/// Whose signature the image carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Signing {
    /// None: meters that verify signatures refuse it.
    Unsigned,
    /// The vendor's signature, made with a signing key that leaked.
    LeakedKey,
    /// A genuine vendor signature on a malicious build (supply chain).
    VendorSigned,
}

/// What the image does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum PayloadSpec {
    /// Registers record only `share` of the true consumption.
    FalseReadings {
        /// Share recorded, 0 to 1.
        share: f32,
    },
    /// At `at`, every meter running the image opens its relay.
    Disconnect {
        /// When, like the attack's `at`.
        at: String,
    },
    /// `bytes_per_interval` junk bytes per meter every 15 minutes on the collector's channel.
    Flood {
        /// Bytes per meter per interval.
        bytes_per_interval: u32,
    },
    /// The communication module stops for good.
    Brick,
}

crate::attack_spec! {
    /// Rogue firmware as the scenario writes it.
    pub struct Spec {
        /// `Push(access: .., targets: ..)`: through the HES's firmware update to the targets, with the access below
        /// (`VendorRelease` only with `signing: VendorSigned`); the transfer is the real one (bulk traffic behind
        /// polling, the activation delay, firmware timeouts). `Worm(entry: targets, infection: p, hop_delay: "5m")`:
        /// someone with physical access flashes the `entry` meters at `at`; each meter that installs the image sends
        /// it, within `hop_delay` (at least 1s) of its own infection, to each of its mesh neighbours not yet infected
        /// or sent a copy, with probability `infection` (0 to 1) per pair; each transfer holds the sender's collector's
        /// channel for the image's airtime, queued with the read cycles; only meters with a mesh radio are reached.
        pub delivery: Delivery,
        /// `Unsigned`: refused by every meter that verifies signatures (`security.verify_firmware`); `LeakedKey` (the
        /// vendor's signature, made with a key that leaked) and `VendorSigned` (a genuine signature on a malicious
        /// build) pass.
        pub signing: Signing,
        /// What the image does, below.
        pub payload: PayloadSpec,
        /// Image size, KiB: 1 to 16,384.
        ///
        /// Default: `256`.
        #[serde(default)]
        pub image_kb: Option<u32>,
    }
}

/// Something the attack does at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    Access,
    Start,
    Spread,
    Trigger,
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<RogueFirmware, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        let (access, hop_delay) = match &self.delivery {
            Delivery::Push { access, targets } => {
                if *access == Access::VendorRelease && self.signing != Signing::VendorSigned {
                    return Err(FieldError::new(
                        "signing",
                        "a vendor release carries the vendor's signature: use `signing: VendorSigned`",
                    ));
                }
                let plan = access::check(access, ctx).map_err(|e| e.inside("delivery"))?;
                targets.check().map_err(|e| FieldError::new("delivery.targets", e))?;
                (Some(plan), SimDuration::ZERO)
            }
            Delivery::Worm {
                entry,
                infection,
                hop_delay,
            } => {
                entry.check().map_err(|e| FieldError::new("delivery.entry", e))?;
                if !(infection.is_finite() && (0.0..=1.0).contains(infection)) {
                    return Err(FieldError::new(
                        "delivery.infection",
                        format!("must be a probability from 0 to 1, not {infection}"),
                    ));
                }
                let d = when::duration("delivery.hop_delay", hop_delay, ctx.horizon)?;
                if d < SimDuration::from_secs(1) {
                    return Err(FieldError::new("delivery.hop_delay", "at least 1s"));
                }
                (None, d)
            }
        };
        let payload = match &self.payload {
            PayloadSpec::FalseReadings { share } => {
                if !(0.0..=1.0).contains(share) {
                    return Err(FieldError::new("payload.share", "must be a share from 0 to 1"));
                }
                Payload::FalseReadings { share: *share }
            }
            PayloadSpec::Brick => Payload::Brick,
            PayloadSpec::Flood { bytes_per_interval } => {
                if *bytes_per_interval == 0 {
                    return Err(FieldError::new("payload.bytes_per_interval", "must be more than zero"));
                }
                Payload::Flood {
                    bytes_per_interval: *bytes_per_interval,
                }
            }
            PayloadSpec::Disconnect { .. } => Payload::None,
        };
        let trigger = match &self.payload {
            PayloadSpec::Disconnect { at: text } => {
                let t = when::parse(text, ctx.start, ctx.horizon).map_err(|e| FieldError::new("payload.at", e))?;
                if let (When::At(start), When::At(fire)) = (at, t)
                    && fire <= start
                {
                    return Err(FieldError::new("payload.at", "must be after the attack's `at`"));
                }
                Some(t)
            }
            _ => None,
        };
        let kb = self.image_kb.unwrap_or(256);
        if !(1..=16_384).contains(&kb) {
            return Err(FieldError::new(
                "image_kb",
                format!("must be from 1 to 16384, not {kb}"),
            ));
        }
        Ok(RogueFirmware {
            spec: self.clone(),
            k: index,
            at,
            access,
            hop_delay,
            payload,
            trigger,
            bytes: kb * 1024,
            image: 0,
            start: SimTime::ZERO,
            targets: Vec::new(),
            tasks: Vec::new(),
            held: None,
            infected: Vec::new(),
            pending: Vec::new(),
            offered: Vec::new(),
            frontier: Vec::new(),
            triggered: 0,
        })
    }
}

/// Rogue firmware at run time.
#[derive(Debug)]
pub struct RogueFirmware {
    spec: Spec,
    k: u8,
    at: When,
    access: Option<access::Plan>,
    hop_delay: SimDuration,
    payload: Payload,
    trigger: Option<When>,
    bytes: u32,
    /// The image's index in the repository.
    image: u16,
    start: SimTime,
    /// Push targets, or the worm's entry meters.
    targets: Vec<u32>,
    /// What to do when, kept sorted by time.
    tasks: Vec<(SimTime, Task)>,
    held: Option<Held>,
    /// Worm: per meter, whether it is known infected.
    infected: Vec<bool>,
    /// Worm: meters sent the image (or flashed) that had not installed it at the last check.
    pending: Vec<u32>,
    /// Worm: per meter, whether an image transfer to it is pending (no meter is sent a second
    /// copy while one is on its way).
    offered: Vec<bool>,
    /// Worm: meters infected at the last check, whose offers are due.
    frontier: Vec<u32>,
    /// Meters whose relays the disconnect payload opened.
    triggered: u64,
}

impl RogueFirmware {
    fn add_task(&mut self, at: SimTime, task: Task, horizon: SimTime) {
        if at <= horizon {
            self.tasks.push((at, task));
            self.tasks.sort_unstable();
        }
    }

    fn code(&self) -> u8 {
        self.k.saturating_add(1)
    }

    /// Meters that installed the image through the HES: (meter, when).
    fn pushed(&self, sim: &Sim) -> Vec<(u32, SimTime)> {
        let cause = Cause::Attack(self.k);
        let hes = sim.hes();
        let ids: Vec<u32> = hes.audit.iter().filter(|a| a.cause == cause).map(|a| a.id).collect();
        if ids.is_empty() {
            return Vec::new();
        }
        hes.jobs
            .iter()
            .filter(|j| !j.rejected && ids.binary_search(&j.command).is_ok())
            .filter_map(|j| j.executed.map(|t| (j.meter, t)))
            .collect()
    }

    /// Worm: checks the pending transfers (an image takes its airtime on a shared channel,
    /// behind whatever is queued there, so it may arrive long after it was sent); the meters
    /// that installed it since the last check become the frontier, recorded as truth at this
    /// check (at most `hop_delay` after they were infected). The others stay pending.
    fn settle_pending(&mut self, sim: &mut Sim) {
        if self.pending.is_empty() {
            return;
        }
        let now = sim.now();
        let code = self.code();
        let fleet = sim.fleet();
        let (mut newly, still): (Vec<u32>, Vec<u32>) = self
            .pending
            .iter()
            .partition(|&&m| fleet.compromised_by[m as usize] == code);
        self.pending = still;
        newly.sort_unstable();
        newly.dedup();
        newly.retain(|&m| !self.infected[m as usize]);
        for &m in &newly {
            self.infected[m as usize] = true;
            if let Some(o) = self.offered.get_mut(m as usize) {
                *o = false;
            }
        }
        if !newly.is_empty() {
            let detail = format!("{} meters infected", newly.len());
            truth(sim, now, &self.spec.header.id, "infected", detail, newly.clone());
        }
        self.frontier = newly;
    }

    /// Worm: the frontier offers the image to its mesh neighbours.
    fn spread(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let seed = sim.config().seed;
        let Delivery::Worm { infection, .. } = self.spec.delivery else {
            return Ok(());
        };
        let net = sim.network();
        let n = net.meters.len() as u32;
        if self.offered.len() != n as usize {
            self.offered = vec![false; n as usize];
        }
        let mut offers = Vec::new();
        for &m in &self.frontier {
            for (u, _) in net.mesh.edges(m) {
                if u >= n
                    || self.infected[u as usize]
                    || self.offered[u as usize]
                    || net.meters[u as usize].link != LinkKind::Mesh
                {
                    continue;
                }
                let key = crate::targets::STREAM_WORM | (u64::from(m) << 28) | u64::from(u);
                if Stream::new(seed, Purpose::Attack, u64::from(self.k), key).bernoulli(infection) {
                    offers.push((m, u));
                    self.offered[u as usize] = true;
                }
            }
        }
        self.frontier.clear();
        for &(from, to) in &offers {
            sim.schedule(
                now,
                Input::PeerFirmware {
                    from,
                    to,
                    image: self.image,
                },
            )?;
            self.pending.push(to);
        }
        if !self.pending.is_empty() {
            self.add_task(SimTime(now.0 + self.hop_delay.as_micros()), Task::Spread, sim.horizon());
        }
        Ok(())
    }
}

impl RogueFirmware {
    /// Records how the attacker came by a signature the meters accept, if it has one.
    fn record_signing(&self, sim: &mut Sim, now: SimTime) {
        let detail = match self.spec.signing {
            Signing::Unsigned => return,
            Signing::LeakedKey => "the vendor's firmware signing key has leaked to the attacker",
            Signing::VendorSigned => "the vendor's build system signs the malicious image (T0862)",
        };
        let kind = match self.spec.signing {
            Signing::LeakedKey => "signing-key-leaked",
            _ => "vendor-signed-image",
        };
        truth(sim, now, &self.spec.header.id, kind, detail.to_owned(), Vec::new());
    }

    /// The start: push through the HES with what the kill chain obtained, or flash the worm's
    /// entry meters by hand.
    fn start_delivery(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        match self.held {
            Some(Held::Credential(_)) if self.targets.is_empty() => {}
            Some(Held::Credential(credential)) => {
                let signing = match self.spec.signing {
                    Signing::Unsigned => "unsigned",
                    Signing::LeakedKey => "signed with a leaked key",
                    Signing::VendorSigned => "vendor-signed",
                };
                truth(
                    sim,
                    now,
                    &self.spec.header.id,
                    "firmware-push",
                    format!(
                        "rogue image ({signing}) pushed to {} meters (T0857)",
                        self.targets.len()
                    ),
                    self.targets.clone(),
                );
                sim.schedule(
                    now,
                    Input::Command(CommandRequest {
                        credential,
                        kind: CommandKind::FirmwareUpdate { image: self.image },
                        meters: self.targets.clone(),
                        cause: Cause::Attack(self.k),
                        // Passed off as a routine firmware campaign.
                        purpose: "firmware-campaign".into(),
                        approver: None,
                    }),
                )?;
            }
            Some(Held::Nothing(_)) => {}
            None => {
                // The worm: flash the entry meters by hand.
                truth(
                    sim,
                    now,
                    &self.spec.header.id,
                    "local-flash",
                    format!(
                        "rogue image flashed by hand onto {} entry meters (physical access)",
                        self.targets.len()
                    ),
                    self.targets.clone(),
                );
                for &m in &self.targets {
                    sim.schedule(
                        now,
                        Input::LocalFirmware {
                            meter: m,
                            image: self.image,
                        },
                    )?;
                }
                self.pending = self.targets.clone();
                self.add_task(SimTime(now.0 + self.hop_delay.as_micros()), Task::Spread, sim.horizon());
            }
        }
        Ok(())
    }

    /// The coordinated disconnect: every meter still running the image opens its relay.
    fn trigger(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        let code = self.code();
        let fleet = sim.fleet();
        let state = sim.net_state();
        let meters: Vec<u32> = (0..sim.n_meters() as u32)
            .filter(|&m| {
                let i = m as usize;
                fleet.compromised_by[i] == code && !fleet.failed[i] && !state.unpowered[i]
            })
            .collect();
        self.triggered = meters.len() as u64;
        if meters.is_empty() {
            // Nothing runs the image: the timer fires nowhere.
            return Ok(());
        }
        for &m in &meters {
            sim.schedule(
                now,
                Input::SetRelay {
                    meter: m,
                    relay: Relay::Open,
                    cause: Cause::Attack(self.k),
                },
            )?;
        }
        truth(
            sim,
            now,
            &self.spec.header.id,
            "payload-disconnect",
            format!("{} infected meters open their relays at once (T0831)", meters.len()),
            meters,
        );
        Ok(())
    }
}

impl Attack for RogueFirmware {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        let seed = sim.config().seed;
        let (targets, field) = match &self.spec.delivery {
            Delivery::Push { targets, .. } => (targets, "delivery.targets"),
            Delivery::Worm { entry, .. } => (entry, "delivery.entry"),
        };
        self.targets = targets.meters(sim, self.k, field)?;
        self.image = sim.add_firmware_image(FirmwareImage {
            version: format!("rogue-{}", self.spec.header.id),
            hash: Stream::new(seed, Purpose::Attack, u64::from(self.k), u64::MAX - 1).next_u64(),
            signed: self.spec.signing != Signing::Unsigned,
            bytes: self.bytes,
            payload: self.payload,
            owner: Some(self.k),
        });
        self.start = self.at.resolve(sim);
        let horizon = sim.horizon();
        match &self.access {
            Some(plan) => {
                let t = plan.time(sim, self.start);
                self.add_task(t, Task::Access, horizon);
            }
            None => {
                self.infected = vec![false; sim.n_meters()];
                self.add_task(self.start, Task::Start, horizon);
            }
        }
        if let Some(trigger) = self.trigger {
            let t = trigger.resolve(sim);
            self.add_task(t, Task::Trigger, horizon);
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        self.tasks.first().map(|t| t.0)
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let Some(&(at, task)) = self.tasks.first() else {
            return Ok(());
        };
        debug_assert!(at == now);
        self.tasks.remove(0);
        match task {
            Task::Access => {
                if let Some(plan) = &self.access {
                    let held = plan.take(sim, self.k, &self.spec.header.id, now)?;
                    if matches!(held, Held::Credential(_)) {
                        let start = self.start.max(now);
                        self.add_task(start, Task::Start, sim.horizon());
                    }
                    self.held = Some(held);
                }
            }
            Task::Start => {
                self.record_signing(sim, now);
                self.start_delivery(sim, now)?;
            }
            Task::Spread => {
                self.settle_pending(sim);
                self.spread(sim)?;
            }
            Task::Trigger => self.trigger(sim, now)?,
        }
        Ok(())
    }

    fn finish(&mut self, sim: &mut Sim) {
        self.settle_pending(sim);
        let pushed = self.pushed(sim);
        if !pushed.is_empty() {
            let first = pushed.iter().map(|p| p.1).min().unwrap_or(self.start);
            let mut meters: Vec<u32> = pushed.iter().map(|p| p.0).collect();
            meters.sort_unstable();
            meters.dedup();
            let detail = format!("{} meters installed the rogue image", meters.len());
            truth(sim, first, &self.spec.header.id, "installed", detail, meters);
        }
        // Entry meters flashed by hand count as infected too (settled with the first offers).
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let fleet = sim.fleet();
        let compromised_ever = match self.spec.delivery {
            Delivery::Push { .. } => {
                let mut m: Vec<u32> = self.pushed(sim).into_iter().map(|p| p.0).collect();
                m.sort_unstable();
                m.dedup();
                m.len() as u64
            }
            Delivery::Worm { .. } => self.infected.iter().filter(|&&i| i).count() as u64,
        };
        let still = fleet.compromised(self.k) as u64;
        let compromised = compromised_ever.max(still);
        let mut refusing: Vec<u32> = fleet
            .refused_images
            .iter()
            .filter(|r| r.1 == self.image)
            .map(|r| r.0)
            .collect();
        refusing.sort_unstable();
        refusing.dedup();
        let refused = refusing.len();
        // A timed disconnect succeeds only if it fired on some meter.
        let fired = !matches!(self.spec.payload, PayloadSpec::Disconnect { .. }) || self.triggered > 0;
        let failure_reason = if compromised > 0 && !fired {
            Some(format!(
                "{compromised} meters ran the image, but none still did, with supply and a working module, when the disconnect was due"
            ))
        } else {
            None
        };
        let failure_reason = failure_reason.or_else(|| (compromised == 0).then(|| match &self.held {
            Some(Held::Nothing(why)) => why.clone(),
            _ if refused > 0 => format!(
                "{refused} meters refused the image: its signature did not verify (signed firmware with verification at the meter)"
            ),
            Some(Held::Credential(_)) if self.targets.is_empty() => "the targets hold no meter".to_owned(),
            Some(Held::Credential(_)) => {
                let cause = Cause::Attack(self.k);
                match sim.hes().audit.iter().find(|a| a.cause == cause) {
                    Some(a) if a.refused.is_some() => {
                        format!("the HES refused the push: {}", a.refused.map_or("", |r| r.name()))
                    }
                    Some(_) => "no meter installed the image before the run ended".to_owned(),
                    None => "the push had not reached the HES when the run ended".to_owned(),
                }
            }
            None if self.targets.is_empty() => "the targets hold no meter".to_owned(),
            None => "no meter installed the image before the run ended".to_owned(),
        }));
        let payload = match &self.spec.payload {
            PayloadSpec::FalseReadings { share } => format!("under-reporting to {:.0}%", share * 100.0),
            PayloadSpec::Disconnect { .. } => format!("a coordinated disconnect of {} meters", self.triggered),
            PayloadSpec::Flood { .. } => "flooding their collectors".to_owned(),
            PayloadSpec::Brick => "bricked".to_owned(),
        };
        let outcome = match failure_reason {
            None => Ok(format!(
                "compromised {compromised} meters ({payload}); {refused} refused the image"
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.start, self.targets.len() as u64, outcome).with_control(compromised, still > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn push(account: &str) -> Delivery {
        Delivery::Push {
            access: Access::Insider {
                account: account.into(),
            },
            targets: Targets::Meters(vec![0, 1, 2, 3]),
        }
    }

    fn spec(delivery: Delivery, signing: Signing, payload: PayloadSpec) -> Spec {
        Spec {
            header: header("fw", "0d 01:00"),
            delivery,
            signing,
            payload,
            image_kb: Some(4),
        }
    }

    fn under_report() -> PayloadSpec {
        PayloadSpec::FalseReadings { share: 0.5 }
    }

    #[test]
    fn rogue_firmware_names_the_bad_field_inside_its_delivery_and_payload() {
        let field = |spec: Spec| check(&AttackSpec::RogueFirmware(spec)).map_err(|e| e.field);
        let vendor = Delivery::Push {
            access: Access::VendorRelease,
            targets: Targets::All,
        };
        assert_eq!(
            field(spec(vendor.clone(), Signing::Unsigned, under_report())),
            Err("signing".into())
        );
        assert_eq!(field(spec(vendor, Signing::VendorSigned, under_report())), Ok(()));
        let phish = Delivery::Push {
            access: Access::Phishing {
                account: "admin-carol".into(),
                success: 2.0,
                mfa_bypass: 0.0,
                at: None,
            },
            targets: Targets::All,
        };
        assert_eq!(
            field(spec(phish, Signing::LeakedKey, under_report())),
            Err("delivery.access.success".into())
        );
        let worm = |infection: f64, hop_delay: &str| Delivery::Worm {
            entry: Targets::Meters(vec![0]),
            infection,
            hop_delay: hop_delay.into(),
        };
        assert_eq!(
            field(spec(worm(1.5, "5m"), Signing::LeakedKey, under_report())),
            Err("delivery.infection".into())
        );
        assert_eq!(
            field(spec(worm(0.5, "500ms"), Signing::LeakedKey, under_report())),
            Err("delivery.hop_delay".into())
        );
        let early = PayloadSpec::Disconnect { at: "0d 00:30".into() };
        assert_eq!(
            field(spec(push("admin-carol"), Signing::LeakedKey, early)),
            Err("payload.at".into())
        );
        let mute = PayloadSpec::Flood { bytes_per_interval: 0 };
        assert_eq!(
            field(spec(push("admin-carol"), Signing::LeakedKey, mute)),
            Err("payload.bytes_per_interval".into())
        );
        let mut huge = spec(push("admin-carol"), Signing::LeakedKey, PayloadSpec::Brick);
        huge.image_kb = Some(20_000);
        assert_eq!(field(huge), Err("image_kb".into()));
    }

    #[test]
    fn an_administrator_pushes_a_signed_image_that_the_targets_install() {
        let leaked = spec(push("admin-carol"), Signing::LeakedKey, under_report());
        let (sim, report) = run(AttackSpec::RogueFirmware(leaked), 8);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "compromised 4 meters (under-reporting to 50%); 0 refused the image"
        );
        assert_eq!(
            (report.meters_targeted, report.meters_compromised, report.still_active),
            (4, 4, true)
        );
        assert_eq!(sim.fleet().compromised_by, [1, 1, 1, 1, 0, 0, 0, 0]);
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["insider", "signing-key-leaked", "firmware-push", "installed"]);
    }

    #[test]
    fn meters_that_verify_signatures_refuse_an_unsigned_image() {
        let unsigned = spec(push("admin-carol"), Signing::Unsigned, under_report());
        let (sim, report) = run(AttackSpec::RogueFirmware(unsigned), 8);
        assert!(!report.succeeded);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some(
                "4 meters refused the image: its signature did not verify (signed firmware with verification at the meter)"
            )
        );
        assert_eq!(sim.fleet().compromised(0), 0);
        // An operator may not push firmware at all: the HES refuses the request.
        let operator = spec(push("ops-alice"), Signing::LeakedKey, under_report());
        let (_, report) = run(AttackSpec::RogueFirmware(operator), 8);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("the HES refused the push: not-permitted")
        );
    }

    #[test]
    fn a_worm_flashed_by_hand_opens_its_meters_relays_when_the_payload_fires() {
        let worm = Delivery::Worm {
            entry: Targets::Meters(vec![2, 5]),
            infection: 1.0,
            hop_delay: "5m".into(),
        };
        let payload = PayloadSpec::Disconnect { at: "0d 03:00".into() };
        let (sim, report) = run(AttackSpec::RogueFirmware(spec(worm, Signing::LeakedKey, payload)), 8);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "compromised 2 meters (a coordinated disconnect of 2 meters); 0 refused the image"
        );
        let fired = sim.records().truth.iter().find(|t| t.kind == "payload-disconnect");
        assert_eq!(
            fired.map(|t| (t.time.0 / 3_600_000_000, t.meters.clone())),
            Some((3, vec![2, 5]))
        );
        let last = sim.records().intervals.last().expect("intervals");
        assert_eq!(last.customers_connected, 6);
    }
}
