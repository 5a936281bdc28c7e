//! Lateral movement from the HES into distribution SCADA, and feeders switched off from there.
//!
//! The attacker first needs code running inside the HES (`access: HesExploit(..)`). From there
//! it tries to reach distribution SCADA: where the networks are segmented
//! (`security.segmentation`, on by default) there is no path and the attack stops; where they
//! are not, the pivot works with probability `pivot`. With SCADA in hand, it opens the breakers
//! of its `feeders` at `at`: every premise on them loses supply whatever its relay says, their
//! meters send last gasps, and the mesh loses those radios. After `outage` (if given) it closes
//! them again; otherwise they stay open until the run ends.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::records::{Endpoint, FlowRecord};
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::time::{SimDuration, SimTime};

use crate::access::{self, Access, Held};
use crate::tags::{Stride, Tags, Technique};
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: remote services used to move from the HES into SCADA.
pub const TAGS: Tags = Tags {
    kind: "lateral-movement",
    nescor: &[],
    stride: Stride::ElevationOfPrivilege,
    technique: Technique::REMOTE_SERVICES,
    related: &[
        Technique::EXPLOITATION_OF_REMOTE_SERVICES,
        Technique::UNAUTHORIZED_COMMAND_MESSAGE,
        Technique::LOSS_OF_AVAILABILITY,
    ],
};

crate::attack_spec! {
    /// Lateral movement as the scenario writes it.
    pub struct Spec {
        /// `HesExploit(success: p, at: time)`.
        pub access: Access,
        /// Probability that the move into SCADA works where nothing blocks it.
        ///
        /// Default: `1.0`.
        #[serde(default)]
        pub pivot: Option<f64>,
        /// The feeders switched off (as `feeders.csv` numbers them).
        pub feeders: Vec<u32>,
        /// How long before the attacker closes the breakers again.
        ///
        /// Default: none: to the end.
        #[serde(default)]
        pub outage: Option<String>,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<LateralMovement, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        if !matches!(self.access, Access::HesExploit { .. }) {
            return Err(FieldError::new(
                "access",
                "lateral movement starts from code running inside the HES: use HesExploit(..)",
            ));
        }
        let access = access::check(&self.access, ctx)?;
        let pivot = self.pivot.unwrap_or(1.0);
        if !(pivot.is_finite() && (0.0..=1.0).contains(&pivot)) {
            return Err(FieldError::new(
                "pivot",
                format!("must be a probability from 0 to 1, not {pivot}"),
            ));
        }
        if self.feeders.is_empty() {
            return Err(FieldError::new("feeders", "name at least one feeder"));
        }
        let outage = self
            .outage
            .as_ref()
            .map(|text| when::duration("outage", text, ctx.horizon))
            .transpose()?;
        if outage == Some(SimDuration::ZERO) {
            return Err(FieldError::new("outage", "must be longer than zero"));
        }
        Ok(LateralMovement {
            spec: self.clone(),
            k: index,
            chain: access::Chain::new(access, at),
            pivot,
            outage,
            moved: None,
            wake: None,
        })
    }
}

/// Lateral movement at run time.
#[derive(Debug)]
pub struct LateralMovement {
    spec: Spec,
    k: u8,
    /// The way in to the HES, and the start after it.
    chain: access::Chain,
    pivot: f64,
    outage: Option<SimDuration>,
    /// Whether the move into SCADA worked, once tried; why not, if not.
    moved: Option<Result<(), String>>,
    wake: Option<SimTime>,
}

impl Attack for LateralMovement {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        let n = sim.network().feeders.len();
        if let Some(&f) = self.spec.feeders.iter().find(|&&f| f as usize >= n) {
            return Err(FieldError::new(
                "feeders",
                format!("there is no feeder {f}: the network has {n}"),
            ));
        }
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
        if self.moved.is_none() {
            // The pivot, then the breakers.
            let segmented = sim.config().security.segmentation;
            let seed = sim.config().seed;
            let ok =
                !segmented && Stream::new(seed, Purpose::Attack, u64::from(self.k), u64::MAX - 3).bernoulli(self.pivot);
            let detail = if segmented {
                "no path from the HES to distribution SCADA: the networks are segmented".to_owned()
            } else if ok {
                "from the HES into distribution SCADA (T0886)".to_owned()
            } else {
                format!("the move into SCADA failed (probability {})", self.pivot)
            };
            truth(sim, now, &self.spec.header.id, "pivot", detail.clone(), Vec::new());
            // The pivot's connection from the HES zone to the SCADA master (dropped at the
            // firewall when the networks are segmented), as the network sensor sees it.
            sim.schedule(now, dnp3(self.k, now, Endpoint::ScadaMaster, !segmented))?;
            if !ok {
                self.moved = Some(Err(detail));
                self.wake = None;
                return Ok(());
            }
            self.moved = Some(Ok(()));
            let mut meters = Vec::new();
            for &f in &self.spec.feeders {
                meters.extend_from_slice(sim.grid().meters_of(f));
                sim.schedule(now, dnp3(self.k, now, Endpoint::Rtu(f), true))?;
                sim.schedule(
                    now,
                    Input::FeederSupply {
                        feeder: f,
                        energized: false,
                        cause: Cause::Attack(self.k),
                    },
                )?;
            }
            meters.sort_unstable();
            truth(
                sim,
                now,
                &self.spec.header.id,
                "feeders-opened",
                format!(
                    "breakers of {} feeders opened from SCADA: {} premises without supply (T0855)",
                    self.spec.feeders.len(),
                    meters.len()
                ),
                meters,
            );
            self.wake = self
                .outage
                .map(|d| SimTime(now.0.saturating_add(d.as_micros())))
                .filter(|&t| t < sim.horizon());
            return Ok(());
        }
        // The attacker closes the breakers again.
        for &f in &self.spec.feeders {
            sim.schedule(
                now,
                Input::FeederSupply {
                    feeder: f,
                    energized: true,
                    cause: Cause::Attack(self.k),
                },
            )?;
        }
        truth(
            sim,
            now,
            &self.spec.header.id,
            "feeders-closed",
            "the attacker closes the breakers again".into(),
            Vec::new(),
        );
        self.wake = None;
        Ok(())
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let moved = matches!(self.moved, Some(Ok(())));
        let failure_reason = (!moved).then(|| match (&self.chain.held, &self.moved) {
            (Some(Held::Nothing(why)), _) => why.clone(),
            (_, Some(Err(why))) => why.clone(),
            _ => "the attack had not started when the run ended".to_owned(),
        });
        let customers: usize = self.spec.feeders.iter().map(|&f| sim.grid().meters_of(f).len()).sum();
        let outcome = match failure_reason {
            None => Ok(format!(
                "moved from the HES into SCADA and switched off {} feeders ({customers} premises)",
                self.spec.feeders.len()
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.chain.start, customers as u64, outcome)
    }
}

/// A DNP3 session of attack `k` from the HES's command server to `to` at `now`.
fn dnp3(k: u8, now: SimTime, to: Endpoint, established: bool) -> Input {
    Input::Flow(FlowRecord {
        time: now,
        seconds: 0,
        src: Endpoint::HesCommands,
        sources: 1,
        dst: to,
        port: 20000,
        udp: false,
        connections: 1,
        established,
        bytes: 300,
        cause: Cause::Attack(k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(access: Access, feeders: Vec<u32>) -> AttackSpec {
        AttackSpec::LateralMovement(Spec {
            header: header("pivot", "0d 02:00"),
            access,
            pivot: None,
            feeders,
            outage: None,
        })
    }

    fn exploit() -> Access {
        Access::HesExploit { success: 1.0, at: None }
    }

    #[test]
    fn lateral_movement_starts_inside_the_hes_and_names_feeders() {
        let insider = Access::Insider {
            account: "ops-alice".into(),
        };
        assert_eq!(
            check(&spec(insider, vec![0])).map_err(|e| e.field),
            Err("access".into())
        );
        assert_eq!(
            check(&spec(exploit(), Vec::new())).map_err(|e| e.field),
            Err("feeders".into())
        );
        assert_eq!(check(&spec(exploit(), vec![0])), Ok(()));
    }

    #[test]
    fn lateral_movement_is_stopped_where_the_hes_and_scada_are_segmented() {
        // The default engine configuration segments the HES's network from SCADA's.
        let (sim, report) = run(spec(exploit(), vec![0]), 12);
        assert!(!report.succeeded, "{report:?}");
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("no path from the HES to distribution SCADA: the networks are segmented")
        );
        assert_eq!(report.meters_targeted, 12);
        let last = sim.records().intervals.last().expect("intervals");
        assert_eq!(last.customers_connected, 12, "the feeder stays on");
    }
}
