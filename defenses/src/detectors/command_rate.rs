//! Requests at the HES that the utility's work calendar does not explain, per account and for
//! the fleet, within a sliding window.

use std::collections::{BTreeMap, VecDeque};

use amirange_sim::hes::{CommandKind, Credential};
use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::{SimDuration, SimTime};

use super::{Alert, Detector, Look, Setting, setting};
use crate::context::PlannedRequest;
use crate::spec::DetectorKind;

/// The command-rate detector: its thresholds and the unplanned requests within its window.
#[derive(Debug)]
pub struct CommandRate {
    /// The sliding window.
    window: SimDuration,
    /// Most meters one account may name in unplanned requests within the window.
    account_meters: u32,
    /// Most unplanned requests one account may make within the window.
    account_requests: u32,
    /// Most meters all accounts together may name in unplanned requests within the window.
    fleet_meters: u32,
    /// Entries of the HES's audit log already read.
    audit_seen: usize,
    /// Planned requests already matched by one at the HES, counted.
    matched: BTreeMap<PlannedRequest, u32>,
    /// Per account: (time, meters named) of its unplanned requests.
    by_account: BTreeMap<u16, VecDeque<(SimTime, u32)>>,
    /// The same for all accounts together.
    fleet_window: VecDeque<(SimTime, u32)>,
}

/// A request the HES logged, as the detector weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// When.
    pub time: SimTime,
    /// The account's name.
    pub account: String,
    /// Its index among the HES's accounts ([`Credential::HES_PROCESS`] for none).
    pub account_index: u16,
    /// [`CommandKind::index`] of what it asked.
    pub kind: usize,
    /// Meters it named (those the HES protected included).
    pub meters: u32,
}

impl CommandRate {
    /// A command-rate detector with its window and thresholds, having seen nothing.
    pub fn new(window: SimDuration, account_meters: u32, account_requests: u32, fleet_meters: u32) -> CommandRate {
        CommandRate {
            window,
            account_meters,
            account_requests,
            fleet_meters,
            audit_seen: 0,
            matched: BTreeMap::new(),
            by_account: BTreeMap::new(),
            fleet_window: VecDeque::new(),
        }
    }

    /// Weighs one request logged at the HES, at `now`, against the calendar's count of such
    /// requests (`planned`): the alert it raises, if any.
    pub fn request(&mut self, now: SimTime, request: &Request, planned: u32) -> Option<Alert> {
        let key = (request.time, request.account_index, request.kind, request.meters);
        let matched = self.matched.entry(key).or_insert(0);
        if *matched < planned {
            *matched += 1;
            return None;
        }
        let window = self.window.as_micros();
        let q = self.by_account.entry(request.account_index).or_default();
        q.push_back((request.time, request.meters));
        while q.front().is_some_and(|&(t, _)| t.0 + window < now.0) {
            q.pop_front();
        }
        self.fleet_window.push_back((request.time, request.meters));
        while self.fleet_window.front().is_some_and(|&(t, _)| t.0 + window < now.0) {
            self.fleet_window.pop_front();
        }
        let named: u64 = q.iter().map(|&(_, m)| u64::from(m)).sum();
        let requests = q.len() as u64;
        let fleet: u64 = self.fleet_window.iter().map(|&(_, m)| u64::from(m)).sum();
        let what = CommandKind::NAMES.get(request.kind).copied().unwrap_or("?");
        let account = &request.account;
        let (account_meters, account_requests) = (u64::from(self.account_meters), u64::from(self.account_requests));
        if named > account_meters || requests > account_requests {
            let severity = if named >= 10 * account_meters || requests >= 10 * account_requests {
                Severity::High
            } else {
                Severity::Medium
            };
            Some(Alert::once(
                request.time,
                Self::KIND,
                severity,
                AlertSubject::Account(account.clone()),
                format!(
                    "{account}: {requests} unplanned request(s) naming {named} meter(s) within the window (last: {what})"
                ),
            ))
        } else if fleet > u64::from(self.fleet_meters) {
            Some(Alert::once(
                request.time,
                Self::KIND,
                Severity::Medium,
                AlertSubject::Fleet,
                format!("{fleet} meters named in unplanned requests within the window (last: {what} by {account})"),
            ))
        } else {
            None
        }
    }
}

impl Detector for CommandRate {
    const KIND: DetectorKind = DetectorKind::CommandRate;
    const TUNABLES: &'static [Setting<Self>] = &[
        setting!(account_meters, 1.0, 100_000.0, whole: true, "a whole number of meters per window"),
        setting!(account_requests, 1.0, 10_000.0, whole: true, "a whole number of requests per window"),
        setting!(fleet_meters, 1.0, 1_000_000.0, whole: true, "a whole number of meters per window"),
    ];

    /// New requests in the HES's audit log.
    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let hes = look.sim.hes();
        let fresh = hes.audit.get(self.audit_seen..).unwrap_or_default();
        self.audit_seen = hes.audit.len();
        for a in fresh {
            let index = hes.config.accounts.iter().position(|x| x.name == a.account);
            let request = Request {
                time: a.time,
                account: a.account.clone(),
                account_index: index.map_or(Credential::HES_PROCESS, |i| i as u16),
                kind: a.kind.index(),
                meters: a.targets + a.protected,
            };
            let key = (request.time, request.account_index, request.kind, request.meters);
            let planned = look.context.planned(&key);
            alerts.extend(self.request(look.now, &request, planned));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;

    fn request(minute: u64, account: &str, meters: u32) -> Request {
        Request {
            time: SimTime(minute * 60_000_000),
            account: account.into(),
            account_index: 1,
            kind: CommandKind::Disconnect.index(),
            meters,
        }
    }

    fn detector() -> CommandRate {
        CommandRate::new(SimDuration::from_hours(1), 100, 60, 500)
    }

    #[test]
    fn raises_on_an_account_past_its_meters_and_stays_quiet_below() {
        let mut d = detector();
        let now = SimTime(60 * 60_000_000);
        assert_eq!(d.request(now, &request(1, "ops-alice", 60), 0), None);
        assert_eq!(
            d.request(now, &request(2, "ops-alice", 40), 0),
            None,
            "100 is not past 100"
        );
        let alert = d.request(now, &request(3, "ops-alice", 1), 0).expect("101 meters");
        assert_eq!(alert.subject, AlertSubject::Account("ops-alice".into()));
        assert_eq!(alert.severity, Severity::Medium);
        assert_eq!(alert.time, SimTime(3 * 60_000_000));
        // Ten times the threshold is high.
        let high = d.request(now, &request(4, "ops-alice", 900), 0).expect("1001 meters");
        assert_eq!(high.severity, Severity::High);
    }

    #[test]
    fn planned_requests_are_no_anomaly_and_each_plan_matches_once() {
        let mut d = detector();
        let now = SimTime(60 * 60_000_000);
        let big = request(1, "ops-alice", 5000);
        assert_eq!(d.request(now, &big, 1), None, "on the calendar");
        assert!(
            d.request(now, &big, 1).is_some(),
            "the same request a second time is not"
        );
    }

    #[test]
    fn the_window_forgets_old_requests_and_the_fleet_counts_all_accounts() {
        let mut d = detector();
        assert_eq!(d.request(SimTime(3_600_000_000), &request(1, "ops-alice", 90), 0), None);
        // Two hours later the first request left the window.
        assert_eq!(
            d.request(SimTime(7_200_000_000 + 120_000_000), &request(122, "ops-alice", 90), 0),
            None
        );
        let mut fleet = detector();
        let now = SimTime(10 * 60_000_000);
        for (i, account) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let mut r = request(i as u64, account, 100);
            r.account_index = i as u16;
            assert_eq!(fleet.request(now, &r, 0), None);
        }
        let mut r = request(6, "f", 1);
        r.account_index = 9;
        let alert = fleet.request(now, &r, 0).expect("501 meters across accounts");
        assert_eq!(alert.subject, AlertSubject::Fleet);
    }

    #[test]
    fn its_thresholds_are_tunable_within_their_ranges_only() {
        let mut d = detector();
        d.set_threshold("account_meters", 10.0).expect("in range");
        assert_eq!(d.threshold("account_meters"), Some(10.0));
        assert!(d.request(SimTime(0), &request(0, "x", 11), 0).is_some());
        for (field, value) in [("account_meters", 0.0), ("account_meters", 10.5), ("fleet_meters", 2e6)] {
            assert!(d.set_threshold(field, value).is_err(), "{field} = {value}");
        }
        assert_eq!(
            d.set_threshold("window", 60.0).expect_err("not tunable").to_string(),
            "`command-rate` has no tunable field `window` (it has: account_meters, account_requests, fleet_meters)"
        );
        assert_eq!(d.threshold("account_meters"), Some(10.0), "nothing changed");
    }
}
