//! MDM data exfiltration: customers' interval data leaves the utility.
//!
//! With an account that reaches the utility's operational data (see [`crate::access`]; the HES's
//! accounts are the utility's operations accounts), the attacker copies, at `at`, the interval
//! data the MDM holds for its targets over the preceding `window`, at the MDM's resolution of
//! 15 minutes. Nothing in the grid changes; the harm is the exposure: quarter-hour load
//! curves reveal when a household is home, asleep or away (occupancy inference), and a
//! business's hours. The blast radius counts the customers exposed, the residential ones among
//! them, and the resolution of what leaked.

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::CustomerClass;
use amirange_sim::records::{Endpoint, FlowRecord};
use amirange_sim::time::{SimDuration, SimTime};

use crate::access::{self, Access, Held};
use crate::tags::{Stride, Tags, Technique};
use crate::targets::Targets;
use crate::when;
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: operational information stolen from the utility's repositories.
pub const TAGS: Tags = Tags {
    kind: "data-exfiltration",
    nescor: &[],
    stride: Stride::InformationDisclosure,
    technique: Technique::THEFT_OF_OPERATIONAL_INFORMATION,
    related: &[
        Technique::DATA_FROM_INFORMATION_REPOSITORIES,
        Technique::SPEARPHISHING_ATTACHMENT,
        Technique::VALID_ACCOUNTS,
    ],
};

crate::attack_spec! {
    /// An exfiltration as the scenario writes it.
    pub struct Spec {
        /// `Phishing`, `Insider` or `HesExploit`.
        pub access: Access,
        /// Whose data.
        pub targets: Targets,
        /// How far back the copy reaches.
        ///
        /// Default: everything since the start.
        #[serde(default)]
        pub window: Option<String>,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<Exfiltration, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        let access = access::check_requests(&self.access, ctx, "data access")?;
        self.targets.check().map_err(|e| FieldError::new("targets", e))?;
        let window = self
            .window
            .as_ref()
            .map(|text| when::duration("window", text, ctx.horizon))
            .transpose()?;
        if window == Some(SimDuration::ZERO) {
            return Err(FieldError::new("window", "must be longer than zero"));
        }
        Ok(Exfiltration {
            spec: self.clone(),
            k: index,
            chain: access::Chain::new(access, at),
            window,
            targets: Vec::new(),
            wake: None,
            exposed: Vec::new(),
            residential: 0,
        })
    }
}

/// An exfiltration at run time.
#[derive(Debug)]
pub struct Exfiltration {
    spec: Spec,
    k: u8,
    /// The way in to the HES, and the start after it.
    chain: access::Chain,
    window: Option<SimDuration>,
    targets: Vec<u32>,
    wake: Option<SimTime>,
    /// Customers whose interval data was copied, ascending.
    exposed: Vec<u32>,
    /// How many of them are households.
    residential: u64,
}

impl Attack for Exfiltration {
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
        self.wake = None;
        // The MDM holds validated intervals up to `valued_until`; the copy reaches back over
        // the window.
        let from_slot = self.window.map_or(0, |w| {
            (now.0.saturating_sub(w.as_micros()) / INTERVAL.as_micros()) as u32
        });
        let net = sim.network();
        let mut exposed = Vec::new();
        let mut residential = 0u64;
        let mut intervals = 0u64;
        for &m in &self.targets {
            let Some(record) = sim.mdm_record(m) else { continue };
            if record.valued_until > from_slot {
                exposed.push(m);
                intervals += u64::from(record.valued_until - from_slot);
                residential += u64::from(net.meters[m as usize].class == CustomerClass::Residential);
            }
        }
        self.residential = residential;
        let detail = format!(
            "interval data of {} customers ({residential} households), {intervals} quarter-hour values, copied out of the MDM (T0882)",
            exposed.len()
        );
        truth(sim, now, &self.spec.header.id, "exfiltration", detail, exposed.clone());
        if !exposed.is_empty() {
            // The copy leaves the MDM for the attacker's server, as the network sensor sees it.
            sim.schedule(
                now,
                Input::Flow(FlowRecord {
                    time: now,
                    seconds: 0,
                    src: Endpoint::Mdm,
                    sources: 1,
                    dst: Endpoint::Outside(u32::from(self.k) * 10_000 + 5_000),
                    port: 443,
                    udp: false,
                    connections: 1,
                    established: true,
                    bytes: intervals * 8,
                    cause: amirange_sim::model::Cause::Attack(self.k),
                }),
            )?;
        }
        self.exposed = exposed;
        Ok(())
    }

    fn report(&self, _sim: &Sim) -> Outcome {
        let succeeded = !self.exposed.is_empty();
        let failure_reason = (!succeeded).then(|| match &self.chain.held {
            None => "the attack had not started when the run ended".to_owned(),
            Some(Held::Nothing(why)) => why.clone(),
            Some(Held::Credential(_)) if self.targets.is_empty() => "the targets hold no meter".to_owned(),
            Some(Held::Credential(_)) => "the MDM held no interval data of the targets yet".to_owned(),
        });
        let outcome = match failure_reason {
            None => Ok(format!(
                "copied the 15-minute interval data of {} customers ({} households: occupancy can be inferred)",
                self.exposed.len(),
                self.residential
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.chain.start, self.targets.len() as u64, outcome)
            .with_exposure(self.exposed.len() as u64, self.residential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run};

    fn spec(window: Option<&str>) -> AttackSpec {
        AttackSpec::DataExfiltration(Spec {
            header: header("exfil", "0d 04:00"),
            access: Access::Insider {
                account: "ops-alice".into(),
            },
            targets: Targets::All,
            window: window.map(str::to_owned),
        })
    }

    #[test]
    fn an_exfiltration_refuses_an_empty_window() {
        assert_eq!(check(&spec(Some("0s"))).map_err(|e| e.field), Err("window".into()));
        assert_eq!(check(&spec(Some("2h"))), Ok(()));
    }

    #[test]
    fn an_exfiltration_exposes_the_households_whose_data_the_mdm_holds() {
        let (_, report) = run(spec(None), 30);
        assert!(report.succeeded, "{report:?}");
        assert!(report.exposure.customers_exposed > 0);
        // Every meter of the test world is a household.
        assert_eq!(report.exposure.households_exposed, report.exposure.customers_exposed);
    }
}
