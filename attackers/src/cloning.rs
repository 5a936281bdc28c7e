//! Meter cloning and false data injection with a key extracted from one meter.
//!
//! Someone with physical access opens one meter and reads its key over the debug port (JTAG or
//! UART), with probability `extraction`. The key unlocks what shares it: under per-device keys
//! that meter alone, under a shared group key every meter of the group (the fleet's key model
//! decides; see `security.keys`). With the key, the attacker's clone reports in the place of
//! every unlocked meter: its readings carry `reported_share` of the true consumption, lower
//! (theft, when `theft` is set, or data manipulation) or higher (inflated bills, corrupted
//! settlement). The feeder's true load does not change, so energy balance against SCADA can
//! see the gap.
//!
//! The forgery lasts until `until`, or for each meter until its key is rotated: the attacker
//! checks every hour, and a meter whose key changed can no longer be impersonated.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::security::KeyId;
use amirange_sim::time::{SimDuration, SimTime};

use crate::tags::{Stride, Tags, Technique};
use crate::when::{self, When};
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: spoofed reports under a stolen meter identity.
pub const TAGS: Tags = Tags {
    kind: "meter-cloning",
    nescor: &[],
    stride: Stride::Spoofing,
    technique: Technique::SPOOF_REPORTING_MESSAGE,
    related: &[
        Technique::DATA_FROM_LOCAL_SYSTEM,
        Technique::HARDCODED_CREDENTIALS,
        Technique::MANIPULATION_OF_VIEW,
        Technique::LOSS_OF_PRODUCTIVITY_AND_REVENUE,
    ],
};

crate::attack_spec! {
    /// Meter cloning as the scenario writes it.
    pub struct Spec {
        /// When the forgery stops: a time (not a peak) after the start and before the end of the run.
        ///
        /// Default: none: to the end.
        #[serde(default)]
        pub until: Option<String>,
        /// The meter opened for its key.
        pub meter: u32,
        /// Probability that reading the key works (hardened meters lower it); on failure the attack stops and says why.
        ///
        /// Default: `1.0`.
        #[serde(default)]
        pub extraction: Option<f64>,
        /// Share of the true consumption the forged readings carry: 0 to 10, not 1 (0.2 under-reports, 1.5 inflates).
        ///
        /// Default: none: the key is taken and nothing is forged (a live exercise's red team takes a key this way and uses
        /// it through the meters' DLMS face).
        #[serde(default)]
        pub reported_share: Option<f32>,
        /// Whether the customers profit: an under-reporting shortfall then counts as `kwh_stolen`; otherwise every gap,
        /// under or over, counts as `kwh_falsified`.
        ///
        /// Default: `false`.
        #[serde(default)]
        pub theft: bool,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<Cloning, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        let until = when::end_after("until", self.until.as_deref(), at, ctx.start, ctx.horizon)?;
        let extraction = crate::access::probability("extraction", self.extraction.unwrap_or(1.0))?;
        if let Some(share) = self.reported_share
            && (!(share.is_finite() && (0.0..=10.0).contains(&share)) || share == 1.0)
        {
            return Err(FieldError::new(
                "reported_share",
                format!(
                    "must be from 0 to 10 and not 1 (that reports the truth), not {}",
                    self.reported_share.unwrap_or_default()
                ),
            ));
        }
        Ok(Cloning {
            spec: self.clone(),
            k: index,
            at,
            until,
            extraction,
            start: SimTime::ZERO,
            key: None,
            unlocked: Vec::new(),
            active: Vec::new(),
            wake: None,
            failure: None,
        })
    }
}

/// Meter cloning at run time.
#[derive(Debug)]
pub struct Cloning {
    spec: Spec,
    k: u8,
    at: When,
    until: Option<SimTime>,
    extraction: f64,
    start: SimTime,
    /// The extracted key, once extracted.
    key: Option<KeyId>,
    /// Meters the key unlocked, ascending.
    unlocked: Vec<u32>,
    /// Per unlocked meter: whether the forgery still runs.
    active: Vec<bool>,
    wake: Option<SimTime>,
    failure: Option<String>,
}

impl Cloning {
    /// The next hourly check (or the end of the forgery, if sooner), within the run.
    fn next_check(&self, now: SimTime, horizon: SimTime) -> Option<SimTime> {
        let mut next = SimTime(now.0 + SimDuration::from_hours(1).as_micros());
        if let Some(u) = self.until {
            next = next.min(u);
        }
        (next <= horizon).then_some(next)
    }

    fn forge(&self, sim: &mut Sim, now: SimTime, meter: u32, share: f32) -> Result<(), SimError> {
        sim.schedule(
            now,
            Input::FalseData {
                meter,
                reported_share: share,
                cause: Cause::Attack(self.k),
                theft: self.spec.theft,
            },
        )
        .map(|_| ())
    }
}

impl Attack for Cloning {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        let n = sim.n_meters() as u32;
        if self.spec.meter >= n {
            return Err(FieldError::new(
                "meter",
                format!("there is no meter {}: the network has {n}", self.spec.meter),
            ));
        }
        self.start = self.at.resolve(sim);
        if self.until.is_some_and(|u| u <= self.start) {
            return Err(FieldError::new("until", "must be after the attack's start"));
        }
        self.wake = Some(self.start);
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        self.wake
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        let Some(key) = self.key else {
            // The extraction.
            let m = self.spec.meter;
            let seed = sim.config().seed;
            let ok = Stream::new(seed, Purpose::Attack, u64::from(self.k), u64::MAX - 2).bernoulli(self.extraction);
            if !ok {
                truth(
                    sim,
                    now,
                    &self.spec.header.id,
                    "key-extraction",
                    format!("reading meter {m}'s key over its debug port failed (T0893)"),
                    vec![m],
                );
                self.failure = Some(format!(
                    "extracting the key of meter {m} failed (probability {})",
                    self.extraction
                ));
                self.wake = None;
                return Ok(());
            }
            let key = sim.fleet().key_of(m);
            self.unlocked = sim.fleet().meters_sharing_key(m);
            self.active = vec![true; self.unlocked.len()];
            self.key = Some(key);
            truth(
                sim,
                now,
                &self.spec.header.id,
                "key-extraction",
                format!(
                    "meter {m}'s key read over its debug port; it unlocks {} meters (T0893, T0891)",
                    self.unlocked.len()
                ),
                self.unlocked.clone(),
            );
            let Some(share) = self.spec.reported_share else {
                // The key alone: nothing to forge, nothing to watch.
                self.active = vec![false; self.unlocked.len()];
                self.wake = None;
                return Ok(());
            };
            for &u in &self.unlocked.clone() {
                self.forge(sim, now, u, share)?;
            }
            truth(
                sim,
                now,
                &self.spec.header.id,
                "forged-readings",
                format!(
                    "a clone reports {:.0}% of the true consumption of {} meters (T0856)",
                    share * 100.0,
                    self.unlocked.len()
                ),
                self.unlocked.clone(),
            );
            self.wake = self.next_check(now, sim.horizon());
            return Ok(());
        };
        // Hourly: meters whose key was rotated can no longer be impersonated; at the end, the
        // forgery stops everywhere.
        let ending = self.until.is_some_and(|u| now >= u);
        let mut stopped = Vec::new();
        for (i, &m) in self.unlocked.iter().enumerate() {
            if self.active[i] && (ending || sim.fleet().key_of(m) != key) {
                stopped.push(m);
            }
        }
        for &m in &stopped {
            let i = self.unlocked.binary_search(&m).unwrap_or(0);
            self.active[i] = false;
            self.forge(sim, now, m, 1.0)?;
        }
        if !stopped.is_empty() {
            let why = if ending {
                "the forgery ends"
            } else {
                "their keys were rotated"
            };
            truth(
                sim,
                now,
                &self.spec.header.id,
                "forgery-stopped",
                format!("{} meters report honestly again: {why}", stopped.len()),
                stopped,
            );
        }
        self.wake = if ending || !self.active.iter().any(|&a| a) {
            None
        } else {
            self.next_check(now, sim.horizon())
        };
        Ok(())
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let succeeded = self.key.is_some() && !self.unlocked.is_empty();
        let failure_reason = if succeeded {
            None
        } else {
            Some(
                self.failure
                    .clone()
                    .unwrap_or_else(|| "the attack had not started when the run ended".to_owned()),
            )
        };
        let outcome = match (failure_reason, self.spec.reported_share) {
            (None, Some(share)) => Ok(format!(
                "cloned {} meters with meter {}'s key, reporting {:.0}% of their consumption{}",
                self.unlocked.len(),
                self.spec.meter,
                share * 100.0,
                if self.spec.theft { " (theft)" } else { "" }
            )),
            (None, None) => Ok(format!(
                "took meter {}'s key, which opens {} meters",
                self.spec.meter,
                self.unlocked.len()
            )),
            (Some(why), _) => Err(why),
        };
        // Taken alone, the key keeps its meters under control until it is rotated.
        let still_active = match (self.key, self.spec.reported_share) {
            (Some(key), None) => self.unlocked.iter().any(|&m| sim.fleet().key_of(m) == key),
            _ => self.active.iter().any(|&a| a),
        };
        Outcome::new(self.start, 1, outcome).with_control(self.unlocked.len() as u64, still_active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, context, header, run, run_in, sim, sim_with};
    use amirange_sim::records::AttackTick;
    use amirange_sim::security::KeyModel;

    fn spec(meter: u32, reported_share: f32, extraction: Option<f64>, until: Option<&str>) -> Spec {
        Spec {
            header: header("clone", "0d 01:00"),
            until: until.map(str::to_owned),
            meter,
            extraction,
            reported_share: Some(reported_share),
            theft: false,
        }
    }

    /// What attack 0 did over the run, summed over intervals from `from_slot` on.
    fn ticks(sim: &Sim, from_slot: u32) -> AttackTick {
        let mut sum = AttackTick::default();
        for (_, _, tick) in sim
            .records()
            .attack_ticks
            .iter()
            .filter(|t| t.1 == 0 && t.0 >= from_slot)
        {
            sum.merge(tick);
        }
        sum
    }

    #[test]
    fn a_clone_refuses_the_truth_odd_odds_and_a_missing_meter() {
        let field = |spec: Spec| check(&AttackSpec::MeterCloning(spec)).map_err(|e| e.field);
        assert_eq!(field(spec(3, 1.0, None, None)), Err("reported_share".into()));
        assert_eq!(field(spec(3, 10.5, None, None)), Err("reported_share".into()));
        assert_eq!(field(spec(3, f32::NAN, None, None)), Err("reported_share".into()));
        assert_eq!(field(spec(3, 0.2, Some(1.5), None)), Err("extraction".into()));
        assert_eq!(field(spec(3, 0.2, None, Some("0d 00:30"))), Err("until".into()));
        assert_eq!(field(spec(3, 0.2, Some(0.5), Some("0d 02:00"))), Ok(()));
        let mut attack = spec(99, 0.2, None, None).check(0, &context()).expect("valid");
        let e = attack.prepare(&mut sim(10)).expect_err("no meter 99");
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("meter", "there is no meter 99: the network has 10")
        );
    }

    #[test]
    fn a_per_device_key_unlocks_one_meter_whose_shortfall_is_stolen() {
        let mut theft = spec(3, 0.2, None, None);
        theft.theft = true;
        let (sim, report) = run(AttackSpec::MeterCloning(theft), 10);
        assert!(report.succeeded, "{report:?}");
        assert_eq!(
            report.summary,
            "cloned 1 meters with meter 3's key, reporting 20% of their consumption (theft)"
        );
        assert_eq!(
            (report.meters_targeted, report.meters_compromised, report.still_active),
            (1, 1, true)
        );
        let forged = sim.records().truth.iter().find(|t| t.kind == "forged-readings");
        assert_eq!(forged.map(|t| t.meters.clone()), Some(vec![3]));
        let done = ticks(&sim, 0);
        assert!(done.stolen_mwh > 0, "{done:?}");
        assert_eq!(done.falsified_mwh, 0, "a theft's shortfall is stolen, not falsified");
    }

    #[test]
    fn a_shared_key_unlocks_its_group_until_the_forgery_ends() {
        let grouped = sim_with(10, |config| config.security.keys = KeyModel::SharedGroup { size: 4 });
        let inflate = spec(5, 1.5, None, Some("0d 03:00"));
        let (sim, report) = run_in(AttackSpec::MeterCloning(inflate), grouped);
        assert!(report.succeeded, "{report:?}");
        assert_eq!((report.meters_compromised, report.still_active), (4, false));
        let truth: Vec<(&str, u64, Vec<u32>)> = sim
            .records()
            .truth
            .iter()
            .map(|t| (t.kind.as_str(), t.time.0 / 3_600_000_000, t.meters.clone()))
            .collect();
        let group = vec![4, 5, 6, 7];
        assert_eq!(
            truth,
            [
                ("key-extraction", 1, group.clone()),
                ("forged-readings", 1, group.clone()),
                ("forgery-stopped", 3, group),
            ]
        );
        assert!(ticks(&sim, 0).falsified_mwh > 0);
        // 03:00 starts interval 12: from then on the meters report honestly.
        assert_eq!(ticks(&sim, 12).falsified_mwh, 0);
    }

    #[test]
    fn a_key_taken_alone_forges_nothing_and_holds_its_group_until_rotated() {
        let grouped = sim_with(10, |config| config.security.keys = KeyModel::SharedGroup { size: 4 });
        let mut key_only = spec(5, 1.5, None, None);
        key_only.reported_share = None;
        let (sim, report) = run_in(AttackSpec::MeterCloning(key_only), grouped);
        assert!(report.succeeded, "{report:?}");
        assert_eq!((report.meters_compromised, report.still_active), (4, true));
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["key-extraction"]);
        let done = ticks(&sim, 0);
        assert_eq!((done.falsified_mwh, done.stolen_mwh), (0, 0), "{done:?}");
    }

    #[test]
    fn a_failed_key_extraction_stops_the_attack_and_says_why() {
        let (sim, report) = run(AttackSpec::MeterCloning(spec(3, 0.2, Some(0.0), None)), 10);
        assert!(!report.succeeded);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("extracting the key of meter 3 failed (probability 0)")
        );
        assert_eq!(report.meters_compromised, 0);
        assert_eq!(ticks(&sim, 0), AttackTick::default());
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["key-extraction"]);
    }
}
