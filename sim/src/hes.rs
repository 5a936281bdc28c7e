//! The head-end system (HES): operator accounts with roles and credentials, the command queue
//! and its fan-out to meters over the field network, acknowledgements, retries and timeouts,
//! the firmware repository and the audit log.
//!
//! ```text
//!  CommandRequest ──► authenticate (credential, MFA) ──► authorise (role) ──► audit log
//!                                                              │ accepted
//!                                   one job per target meter ◄─┘
//!  job: dispatch (HES send rate) ──► collector queue ──► field path ──► meter executes
//!        ▲                                                             (relay delay, random
//!        └──── retry on timeout (up to `retries`) ◄── ack (or silence) ◄── delay, activation)
//! ```
//!
//! Every request is audited, accepted or not, with the account that issued it. The cause that
//! moved someone to issue it (a legitimate operation, or an attack) is ground truth the HES does
//! not see; it is kept beside the audit record for the measures.

use crate::field::FieldError;
use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::model::Cause;
use crate::rng::{Purpose, Stream};
use crate::time::{SimDuration, SimTime};

/// What an account may do.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum Role {
    /// Day-to-day operations: connect, disconnect, on-demand reads.
    Operator,
    /// An operator who may also run demand response and change tariffs.
    Supervisor,
    /// May do everything, including firmware and key management.
    Administrator,
    /// A system account of an integration (billing, customer information system): connect,
    /// disconnect, reads and tariff changes, without MFA.
    Integration,
}

impl Role {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Administrator => "administrator",
            Role::Integration => "integration",
        }
    }

    /// Whether the role may issue a command of this kind.
    pub fn permits(self, kind: &CommandKind) -> bool {
        use CommandKind as K;
        match self {
            Role::Administrator => true,
            Role::Supervisor => !matches!(kind, K::FirmwareUpdate { .. } | K::KeyRotation),
            Role::Operator => matches!(kind, K::Connect | K::Disconnect | K::Read),
            Role::Integration => matches!(kind, K::Connect | K::Disconnect | K::Read | K::TariffChange { .. }),
        }
    }
}

/// An operator or service account as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSpec {
    /// Login name, unique.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether logging in needs a second factor besides the password.
    pub mfa: bool,
}

/// What a caller presents to the HES with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// The account (index into the configured accounts).
    pub account: u16,
    /// The password (a secret drawn from the seed per account).
    pub secret: u64,
    /// Whether the caller passed the second factor.
    pub second_factor: bool,
}

impl Credential {
    /// The account number of calls made from inside the HES process.
    pub const HES_PROCESS: u16 = u16::MAX;

    /// What code running inside the HES presents: no account, no password. The HES accepts it
    /// only while an attacker holds a foothold on it ([`Hes::foothold`]); the audit log records
    /// such requests under `(hes-process)`.
    pub fn hes_process() -> Credential {
        Credential {
            account: Credential::HES_PROCESS,
            secret: 0,
            second_factor: false,
        }
    }
}

/// A command the HES can send to meters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum CommandKind {
    /// Close the remote-disconnect relay.
    Connect,
    /// Open the remote-disconnect relay.
    Disconnect,
    /// Read the meter now (move-in/move-out, billing queries).
    Read,
    /// Transfer and install firmware image `image` (index into the repository).
    FirmwareUpdate {
        /// The image.
        image: u16,
    },
    /// Replace the meter's key with a new version.
    KeyRotation,
    /// Reduce the premise's load by `reduction` (share, 0 to 1) for `duration`.
    DemandResponse {
        /// Share of load shed.
        reduction: f32,
        /// How long.
        duration: SimDuration,
    },
    /// Switch the meter to tariff `tariff` (0 flat, 1 time-of-use).
    TariffChange {
        /// The tariff.
        tariff: u8,
    },
}

impl CommandKind {
    /// Lower-case name used in result files.
    pub fn name(&self) -> &'static str {
        match self {
            CommandKind::Connect => "connect",
            CommandKind::Disconnect => "disconnect",
            CommandKind::Read => "read",
            CommandKind::FirmwareUpdate { .. } => "firmware-update",
            CommandKind::KeyRotation => "key-rotation",
            CommandKind::DemandResponse { .. } => "demand-response",
            CommandKind::TariffChange { .. } => "tariff-change",
        }
    }

    /// Index in [`CommandKind::NAMES`].
    pub const fn index(&self) -> usize {
        match self {
            CommandKind::Connect => 0,
            CommandKind::Disconnect => 1,
            CommandKind::Read => 2,
            CommandKind::FirmwareUpdate { .. } => 3,
            CommandKind::KeyRotation => 4,
            CommandKind::DemandResponse { .. } => 5,
            CommandKind::TariffChange { .. } => 6,
        }
    }

    /// Every kind's name, by index.
    pub const NAMES: [&'static str; 7] = [
        "connect",
        "disconnect",
        "read",
        "firmware-update",
        "key-rotation",
        "demand-response",
        "tariff-change",
    ];
}

/// A request to the HES: who asks (with what credential), what, to which meters, and why (ground
/// truth the HES does not see).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandRequest {
    /// The credential presented.
    pub credential: Credential,
    /// What to do.
    pub kind: CommandKind,
    /// Target meters.
    pub meters: Vec<u32>,
    /// Why it was issued (ground truth).
    pub cause: Cause,
    /// A short label of the work it belongs to, e.g. `"non-payment"` (shown in the audit log as
    /// the ticket reference).
    pub purpose: String,
    /// A second person's credential approving the request, where the policy asks for two
    /// (see [`crate::policy::CommandPolicy::two_person_above`]).
    pub approver: Option<Credential>,
}

/// Why the HES refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Refusal {
    /// No such account.
    UnknownAccount,
    /// The password is wrong.
    BadCredential,
    /// The account needs a second factor and none was given.
    SecondFactorMissing,
    /// The account's role does not allow this command.
    NotPermitted,
    /// The request names a firmware image the repository does not hold.
    UnknownImage,
    /// The send queue has no room for the request's jobs (`queue_limit`).
    QueueFull,
    /// The policy asks for a second person's approval and none valid came with the request.
    ApprovalMissing,
    /// A disconnect outside the policy's hours.
    OutsideWindow,
    /// A disconnect beyond the policy's rate limit for the account or for everyone.
    RateLimited,
    /// The account's credentials were revoked (a response to an alert).
    Revoked,
    /// Bulk commands are frozen (a response to an alert) and the request is above the size
    /// still allowed.
    Frozen,
    /// The HES is isolated from the networks (a response to an alert).
    Isolated,
}

impl Refusal {
    /// Lower-case description.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::UnknownAccount => "unknown-account",
            Refusal::BadCredential => "bad-credential",
            Refusal::SecondFactorMissing => "second-factor-missing",
            Refusal::NotPermitted => "not-permitted",
            Refusal::UnknownImage => "unknown-image",
            Refusal::QueueFull => "queue-full",
            Refusal::ApprovalMissing => "approval-missing",
            Refusal::OutsideWindow => "outside-window",
            Refusal::RateLimited => "rate-limited",
            Refusal::Revoked => "revoked",
            Refusal::Frozen => "frozen",
            Refusal::Isolated => "isolated",
        }
    }
}

/// One line of the audit log: a request and what the HES did with it, and then how its
/// fan-out went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// Command id, in order of arrival.
    pub id: u32,
    /// When the request arrived.
    pub time: SimTime,
    /// The account named by the credential (`"?"` when unknown).
    pub account: String,
    /// Its role, when the account exists.
    pub role: Option<Role>,
    /// What was asked.
    pub kind: CommandKind,
    /// Ticket reference.
    pub purpose: String,
    /// Ground truth: why it was issued.
    pub cause: Cause,
    /// Meters targeted.
    pub targets: u32,
    /// `None` when accepted, or why it was refused.
    pub refused: Option<Refusal>,
    /// Meters that acknowledged execution.
    pub acked: u32,
    /// Meters that executed it (whether or not the ack came back).
    pub executed: u32,
    /// Meters that rejected it (a firmware image failing verification, a stale frame counter).
    pub rejected: u32,
    /// Meters given up on after every retry timed out.
    pub failed: u32,
    /// Retries sent.
    pub retries: u32,
    /// When the last target acknowledged, was rejected or was given up on (at arrival for a
    /// refused request).
    pub finished: Option<SimTime>,
    /// The account that approved it, when the policy asked for a second person.
    pub approver: Option<String>,
    /// Critical facilities the policy dropped from a disconnect's targets.
    pub protected: u32,
    /// Whether it carries the HSM quorum's signature (every request authorised through the
    /// HES's normal path does; one issued from inside the HES does not).
    pub signed: bool,
}

impl AuditRecord {
    /// Marks the request finished at `at` once every target is acknowledged, rejected or given
    /// up on.
    pub fn settle(&mut self, at: SimTime) {
        if self.acked + self.rejected + self.failed >= self.targets {
            self.finished = Some(at);
        }
    }
}

/// One meter's part of a command.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Job {
    /// The command.
    pub command: u32,
    /// The meter.
    pub meter: u32,
    /// Attempts sent so far.
    pub attempts: u8,
    /// When the first attempt left the HES.
    pub first_sent: SimTime,
    /// When the latest attempt left the HES.
    pub last_sent: SimTime,
    /// When the meter executed it (the first time, if it did).
    pub executed: Option<SimTime>,
    /// When the HES got the acknowledgement.
    pub acked: Option<SimTime>,
    /// Whether the meter refused it.
    pub rejected: bool,
    /// Whether the HES gave up on it.
    pub failed: bool,
    /// The attempt (if any, else 0) that reached the meter when it could not act on it (no
    /// supply, failed module): its acknowledgement never comes.
    pub lost_at_meter: u8,
    /// The current attempt's deadline while no timeout for it is on the engine's calendar
    /// (its acknowledgement is due in time, unless the meter cannot act on it).
    pub deadline: Option<SimTime>,
    /// The frame counter the meter accepted the command under, once it executed it (what a
    /// radio nearby could capture and replay).
    pub frame: u32,
    /// When it joined the send queue (the request's arrival, or later when a second person had
    /// to approve the request first).
    pub queued: SimTime,
}

/// HES behaviour.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HesConfig {
    /// Operator and service accounts.
    pub accounts: Vec<AccountSpec>,
    /// Messages per second the HES sends out (its fan-out rate over all collectors).
    pub send_rate_per_s: f64,
    /// Time the HES waits for a command's acknowledgement before retrying.
    pub command_timeout: SimDuration,
    /// Time it waits for a firmware transfer's acknowledgement.
    pub firmware_timeout: SimDuration,
    /// Retries after a timeout before the HES gives up on a meter.
    pub retries: u32,
    /// Size of a command message (DLMS/COSEM action with security header), bytes.
    pub command_bytes: u32,
    /// New connections per second the HES's front end (the MQTT broker and backhaul gateway
    /// collectors and cellular meters connect to) accepts; beyond that it refuses them.
    pub front_end_connections_per_s: f64,
    /// New connections per second a collector's own backhaul endpoint accepts.
    pub collector_connections_per_s: f64,
    /// How long a collector waits before trying a refused connection again.
    pub connect_retry: SimDuration,
    /// How many times it tries before giving up on the read cycle's upload (or the command).
    pub connect_tries: u32,
    /// Most jobs the send queue holds: a request whose jobs would not fit is refused whole
    /// (`queue-full`).
    pub queue_limit: u32,
    /// The command policy (rate limits, two-person approval, windows, protected facilities,
    /// HSM-quorum signatures); all off by default.
    pub policy: crate::policy::CommandPolicy,
}

impl HesConfig {
    /// Typical values (assumptions): four accounts, one per role, MFA for the people; a fan-out
    /// of 100 messages per second; 10-minute command and 12-hour firmware timeouts; two
    /// retries; 160-byte commands; a front end that accepts 2,000 new connections a second and
    /// collectors 200, with three tries 10 seconds apart; a send queue of up to two million
    /// jobs.
    pub fn typical() -> HesConfig {
        let account = |name: &str, role, mfa| AccountSpec {
            name: name.into(),
            role,
            mfa,
        };
        HesConfig {
            accounts: vec![
                account("ops-alice", Role::Operator, true),
                account("sup-bob", Role::Supervisor, true),
                account("admin-carol", Role::Administrator, true),
                account("cis-integration", Role::Integration, false),
            ],
            send_rate_per_s: 100.0,
            command_timeout: SimDuration::from_minutes(10),
            firmware_timeout: SimDuration::from_hours(12),
            retries: 2,
            command_bytes: 160,
            front_end_connections_per_s: 2000.0,
            collector_connections_per_s: 200.0,
            connect_retry: SimDuration::from_secs(10),
            connect_tries: 3,
            queue_limit: 2_000_000,
            policy: crate::policy::CommandPolicy::default(),
        }
    }

    /// The limits a new connection to the HES meets (for connection floods).
    pub fn connect_limits(&self) -> crate::network::ConnectLimits {
        crate::network::ConnectLimits {
            front_per_s: self.front_end_connections_per_s,
            collector_per_s: self.collector_connections_per_s,
            tries: self.connect_tries,
        }
    }

    /// Checks every value; field paths are relative to the HES section.
    pub fn check(&self) -> Result<(), FieldError> {
        let fail = |f: &str, r: String| Err(FieldError::new(f.to_owned(), r));
        if self.accounts.is_empty() {
            return fail("accounts", "at least one account is needed".into());
        }
        if self.accounts.len() > 1000 {
            return fail("accounts", "at most 1000 accounts".into());
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if a.name.trim().is_empty() {
                return fail(&format!("accounts[{i}].name"), "must not be empty".into());
            }
            if self.accounts[..i].iter().any(|b| b.name == a.name) {
                return fail(&format!("accounts[{i}].name"), format!("{:?} is used twice", a.name));
            }
        }
        if !(self.send_rate_per_s.is_finite() && (0.1..=100_000.0).contains(&self.send_rate_per_s)) {
            return fail(
                "send_rate_per_s",
                format!("must be between 0.1 and 100000, not {}", self.send_rate_per_s),
            );
        }
        if self.command_timeout < SimDuration::from_secs(1) || self.command_timeout > SimDuration::from_days(1) {
            return fail("command_timeout", "must be between 1s and 1d".into());
        }
        if self.firmware_timeout < SimDuration::from_secs(1) || self.firmware_timeout > SimDuration::from_days(7) {
            return fail("firmware_timeout", "must be between 1s and 7d".into());
        }
        if self.retries > 10 {
            return fail("retries", format!("at most 10, not {}", self.retries));
        }
        for (field, v) in [
            ("front_end_connections_per_s", self.front_end_connections_per_s),
            ("collector_connections_per_s", self.collector_connections_per_s),
        ] {
            if !(v.is_finite() && (1.0..=1e9).contains(&v)) {
                return fail(field, format!("must be between 1 and 1e9, not {v}"));
            }
        }
        if self.connect_retry < SimDuration::from_millis(100) || self.connect_retry > SimDuration::from_minutes(10) {
            return fail("connect_retry", "must be between 100ms and 10m".into());
        }
        if !(1..=20).contains(&self.connect_tries) {
            return fail("connect_tries", format!("must be 1 to 20, not {}", self.connect_tries));
        }
        self.policy.check().map_err(|e| e.inside("policy"))?;
        if !(1..=100_000_000).contains(&self.queue_limit) {
            return fail(
                "queue_limit",
                format!("must be 1 to 100000000, not {}", self.queue_limit),
            );
        }
        if !(16..=65_536).contains(&self.command_bytes) {
            return fail(
                "command_bytes",
                format!("must be between 16 and 65536, not {}", self.command_bytes),
            );
        }
        Ok(())
    }
}

/// The HES's state: accounts with their secrets, the send queue, the audit log and every job.
#[derive(Resource, Clone, Debug)]
pub struct Hes {
    /// Configuration.
    pub config: HesConfig,
    secrets: Vec<u64>,
    /// When the HES's sender is free again.
    pub send_free: SimTime,
    /// Audit log, one record per request, in arrival order.
    pub audit: Vec<AuditRecord>,
    /// Every job (one per accepted command and target meter), in creation order.
    pub jobs: Vec<Job>,
    /// The attack holding a foothold on the HES process, if one does.
    pub foothold: Option<u8>,
    /// Per account: whether its credentials are revoked.
    pub revoked: Vec<bool>,
    /// While bulk commands are frozen: the most meters a request may still name.
    pub frozen_above: Option<u32>,
    /// Jobs waiting for the sender, first in first out (new jobs and retries alike).
    pub queue: std::collections::VecDeque<u32>,
    /// Whether the sender's next send is on the engine's calendar.
    pub sending: bool,
    /// Disconnects accepted, for the policy's rate limits: (time, account, meters), oldest
    /// first, trimmed to the longest limit's window.
    pub disconnects: std::collections::VecDeque<(SimTime, u16, u32)>,
    /// Jobs of approved requests waiting out the approval latency before they join the queue
    /// (they count against `queue_limit` already).
    pub awaiting_release: usize,
    /// Whether the HES is isolated from the networks (a response).
    pub isolated: bool,
}

impl Hes {
    /// The HES with its accounts; each account's password derives from the seed.
    pub fn new(seed: u64, config: HesConfig) -> Hes {
        let n_accounts = config.accounts.len();
        let secrets = (0..n_accounts as u64)
            .map(|a| Stream::new(seed, Purpose::Credentials, a, 0).next_u64())
            .collect();
        Hes {
            config,
            secrets,
            send_free: SimTime::ZERO,
            audit: Vec::new(),
            jobs: Vec::new(),
            revoked: vec![false; n_accounts],
            frozen_above: None,
            foothold: None,
            queue: std::collections::VecDeque::new(),
            sending: false,
            disconnects: std::collections::VecDeque::new(),
            awaiting_release: 0,
            isolated: false,
        }
    }

    /// The full credential of account `name`, as its rightful holder has it (password and
    /// second factor).
    pub fn credential(&self, name: &str) -> Option<Credential> {
        let a = self.config.accounts.iter().position(|x| x.name == name)?;
        Some(Credential {
            account: a as u16,
            secret: self.secrets[a],
            second_factor: true,
        })
    }

    /// Checks a request's credential and role, then the command policy (two-person approval,
    /// disconnect hours, rate limits); `now` is the time and `hour` the local hour of day.
    /// Requests from inside the HES process skip everything but the foothold and the queue.
    pub fn authorise(&self, request: &CommandRequest, n_images: usize, now: SimTime, hour: u8) -> Result<(), Refusal> {
        let c = request.credential;
        let image_ok = match request.kind {
            CommandKind::FirmwareUpdate { image } => usize::from(image) < n_images,
            _ => true,
        };
        let fits = self.queue.len() + self.awaiting_release + request.meters.len() <= self.config.queue_limit as usize;
        if self.isolated {
            return Err(Refusal::Isolated);
        }
        if c.account == Credential::HES_PROCESS {
            if self.foothold.is_none() {
                return Err(Refusal::UnknownAccount);
            }
            if !image_ok {
                return Err(Refusal::UnknownImage);
            }
            return if fits { Ok(()) } else { Err(Refusal::QueueFull) };
        }
        self.authenticate(c)?;
        if self.revoked[usize::from(c.account)] {
            return Err(Refusal::Revoked);
        }
        if self.frozen_above.is_some_and(|n| request.meters.len() > n as usize) {
            return Err(Refusal::Frozen);
        }
        let account = &self.config.accounts[usize::from(c.account)];
        if !account.role.permits(&request.kind) {
            return Err(Refusal::NotPermitted);
        }
        if !image_ok {
            return Err(Refusal::UnknownImage);
        }
        let policy = &self.config.policy;
        if policy
            .two_person_above
            .is_some_and(|n| request.meters.len() > n as usize)
        {
            let approved = request.approver.is_some_and(|a| {
                a.account != c.account
                    && self.authenticate(a).is_ok()
                    && matches!(
                        self.config.accounts[usize::from(a.account)].role,
                        Role::Supervisor | Role::Administrator
                    )
            });
            if !approved {
                return Err(Refusal::ApprovalMissing);
            }
        }
        if request.kind == CommandKind::Disconnect {
            if let Some((from, to)) = policy.disconnect_hours
                && !(from..to).contains(&hour)
            {
                return Err(Refusal::OutsideWindow);
            }
            let n = request.meters.len() as u64;
            let within = |per: SimDuration, account: Option<u16>| -> u64 {
                // The window is (now - per, now]; near the start of the run, everything so far.
                let since = now.0.checked_sub(per.as_micros());
                self.disconnects
                    .iter()
                    .filter(|d| since.is_none_or(|s| d.0.0 > s) && account.is_none_or(|a| a == d.1))
                    .map(|d| u64::from(d.2))
                    .sum()
            };
            for (limit, account) in [
                (policy.disconnect_limit_per_account, Some(c.account)),
                (policy.disconnect_limit_global, None),
            ] {
                if let Some(l) = limit
                    && within(l.per, account) + n > u64::from(l.meters)
                {
                    return Err(Refusal::RateLimited);
                }
            }
        }
        if !fits {
            return Err(Refusal::QueueFull);
        }
        Ok(())
    }

    /// Checks a credential: the account exists, the password matches, and the second factor
    /// was passed where the account needs one.
    fn authenticate(&self, c: Credential) -> Result<(), Refusal> {
        let Some(account) = self.config.accounts.get(usize::from(c.account)) else {
            return Err(Refusal::UnknownAccount);
        };
        if self.secrets[usize::from(c.account)] != c.secret {
            return Err(Refusal::BadCredential);
        }
        if account.mfa && !c.second_factor {
            return Err(Refusal::SecondFactorMissing);
        }
        Ok(())
    }

    /// Books an accepted disconnect of `meters` meters by `account` for the rate limits, and
    /// forgets those older than the longest limit's window.
    pub fn book_disconnects(&mut self, now: SimTime, account: u16, meters: u32) {
        let policy = &self.config.policy;
        let longest = [policy.disconnect_limit_per_account, policy.disconnect_limit_global]
            .iter()
            .flatten()
            .map(|l| l.per.as_micros())
            .max();
        let Some(longest) = longest else {
            return;
        };
        self.disconnects.push_back((now, account, meters));
        if let Some(since) = now.0.checked_sub(longest) {
            while self.disconnects.front().is_some_and(|d| d.0.0 <= since) {
                self.disconnects.pop_front();
            }
        }
    }

    /// Drops every job waiting in the send queue (the HES is being isolated): each fails, and
    /// its request's audit record counts it.
    pub fn purge_queue(&mut self, now: SimTime) {
        let queued: Vec<u32> = self.queue.drain(..).collect();
        for job in queued {
            self.fail_jobs(job..job + 1, now);
        }
    }

    /// Marks jobs `jobs` failed without being sent (the HES is isolated).
    pub fn fail_jobs(&mut self, jobs: std::ops::Range<u32>, now: SimTime) {
        for job in jobs {
            let Some(j) = self.jobs.get_mut(job as usize) else {
                continue;
            };
            if j.failed || j.executed.is_some() {
                continue;
            }
            j.failed = true;
            let command = j.command as usize;
            if let Some(a) = self.audit.get_mut(command) {
                a.failed += 1;
                a.settle(now);
            }
        }
    }

    /// Queues `job` for the sender at `now`. Returns when the sender must next send, if it was
    /// idle (the caller puts that on its calendar).
    pub fn enqueue(&mut self, job: u32, now: SimTime) -> Option<SimTime> {
        if self.isolated {
            self.fail_jobs(job..job + 1, now);
            return None;
        }
        self.queue.push_back(job);
        if self.sending {
            return None;
        }
        self.sending = true;
        Some(self.send_free.max(now))
    }

    /// The sender's turn at `now`: the job to send now, and when the next turn is (if jobs are
    /// still waiting). One job per slot, at the send rate.
    pub fn send_next(&mut self, now: SimTime) -> (Option<u32>, Option<SimTime>) {
        let Some(job) = self.queue.pop_front() else {
            self.sending = false;
            return (None, None);
        };
        self.next_send_slot(now);
        let next = if self.queue.is_empty() {
            self.sending = false;
            None
        } else {
            Some(self.send_free)
        };
        (Some(job), next)
    }

    /// The next time the sender can put a message on the wire at or after `now`; books it.
    pub fn next_send_slot(&mut self, now: SimTime) -> SimTime {
        let at = self.send_free.max(now);
        let gap = (1e6 / self.config.send_rate_per_s).round().max(1.0) as u64;
        self.send_free = SimTime(at.0 + gap);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(credential: Credential, kind: CommandKind) -> CommandRequest {
        CommandRequest {
            credential,
            kind,
            meters: vec![1],
            cause: Cause::Operation,
            purpose: "test".into(),
            approver: None,
        }
    }

    /// Disconnects booked at the very start of the run count against the limit (the window
    /// reaches back to the start), and drop out of it once `per` has passed.
    #[test]
    fn rate_limits_count_from_the_start_of_the_run() {
        let mut config = HesConfig::typical();
        config.policy.disconnect_limit_per_account = Some(crate::policy::RateLimit {
            meters: 10,
            per: SimDuration::from_hours(1),
        });
        let mut hes = Hes::new(7, config);
        let ops = hes.credential("ops-alice").expect("account");
        hes.book_disconnects(SimTime::ZERO, ops.account, 10);
        let one = request(ops, CommandKind::Disconnect);
        let t = |s: u64| SimTime(s * 1_000_000);
        assert_eq!(hes.authorise(&one, 1, t(0), 12), Err(Refusal::RateLimited));
        assert_eq!(hes.authorise(&one, 1, t(3599), 12), Err(Refusal::RateLimited));
        assert_eq!(hes.authorise(&one, 1, t(3600), 12), Ok(()));
    }

    #[test]
    fn roles_credentials_and_mfa_are_enforced() {
        let hes = Hes::new(7, HesConfig::typical());
        let ops = hes.credential("ops-alice").expect("account");
        let admin = hes.credential("admin-carol").expect("account");
        let cis = hes.credential("cis-integration").expect("account");
        assert_eq!(
            hes.authorise(&request(ops, CommandKind::Disconnect), 1, SimTime::ZERO, 12),
            Ok(())
        );
        assert_eq!(
            hes.authorise(
                &request(ops, CommandKind::FirmwareUpdate { image: 0 }),
                1,
                SimTime::ZERO,
                12
            ),
            Err(Refusal::NotPermitted)
        );
        assert_eq!(
            hes.authorise(
                &request(admin, CommandKind::FirmwareUpdate { image: 0 }),
                1,
                SimTime::ZERO,
                12
            ),
            Ok(())
        );
        assert_eq!(
            hes.authorise(
                &request(admin, CommandKind::FirmwareUpdate { image: 3 }),
                1,
                SimTime::ZERO,
                12
            ),
            Err(Refusal::UnknownImage)
        );
        let mut stolen = ops;
        stolen.second_factor = false;
        assert_eq!(
            hes.authorise(&request(stolen, CommandKind::Disconnect), 1, SimTime::ZERO, 12),
            Err(Refusal::SecondFactorMissing)
        );
        let mut cis_without = cis;
        cis_without.second_factor = false;
        assert_eq!(
            hes.authorise(&request(cis_without, CommandKind::Disconnect), 1, SimTime::ZERO, 12),
            Ok(()),
            "service accounts have no MFA"
        );
        let mut guessed = ops;
        guessed.secret ^= 1;
        assert_eq!(
            hes.authorise(&request(guessed, CommandKind::Disconnect), 1, SimTime::ZERO, 12),
            Err(Refusal::BadCredential)
        );
        let mut nobody = ops;
        nobody.account = 99;
        assert_eq!(
            hes.authorise(&request(nobody, CommandKind::Read), 1, SimTime::ZERO, 12),
            Err(Refusal::UnknownAccount)
        );
        assert_ne!(Hes::new(8, HesConfig::typical()).credential("ops-alice"), Some(ops));
    }

    #[test]
    fn the_sender_paces_messages() {
        let mut hes = Hes::new(1, HesConfig::typical());
        let t0 = hes.next_send_slot(SimTime(1_000));
        let t1 = hes.next_send_slot(SimTime(1_000));
        assert_eq!((t0.0, t1.0), (1_000, 11_000));
        assert_eq!(hes.next_send_slot(SimTime(50_000)).0, 50_000);
    }
}
