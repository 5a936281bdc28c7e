//! # amirange-attackers: the attack library
//!
//! Attacks that work through the simulated system, never numbers painted onto results. Each
//! attack has preconditions (a kill chain: credentials, a foothold, physical access, a channel),
//! acts over time only through `sim`'s public API (HES commands, interference, firmware offered
//! meter to meter, relays of meters it controls), and records ground truth for every step.
//!
//! ```text
//!  scenario file          validate (Context)        prepare (Sim built)        run
//!  attacks: [...] ──► AttackSpec ──► Box<dyn Attack> ──► targets resolved ──► Campaign::run_until:
//!                     (serde)        (times, odds,       times fixed,          step the engine to the
//!                                     accounts checked)   first wake set        next wake, let the
//!                                                                                attack act, repeat
//! ```
//!
//! Adding an attack is one module (its `Spec` with `check`, and a type implementing [`Attack`])
//! plus one variant of [`AttackSpec`] and one scenario file.
//!
//! Like `sim`, this crate does no I/O, reads no clock and holds no global state; its randomness
//! comes from `sim`'s counter-based streams under [`Purpose::Attack`], keyed by attack index,
//! so adding an attack never shifts what meters draw.
//!
//! [`Purpose::Attack`]: amirange_sim::rng::Purpose::Attack

pub mod access;
pub mod cloning;
pub mod command_flood;
pub mod connection_flood;
pub mod demand_response;
pub mod downgrade;
pub mod exfiltration;
pub mod jamming;
pub mod lateral;
pub mod load_switching;
pub mod mass_disconnect;
pub mod replay;
pub mod rogue_concentrator;
pub mod rogue_firmware;
pub mod tags;
pub mod targets;
pub mod theft;
pub mod when;

use amirange_sim::engine::{Sim, SimError};
use amirange_sim::hes::AccountSpec;
use amirange_sim::model::MAX_ATTACKS;
use amirange_sim::time::{CivilDateTime, SimTime};
use serde::{Deserialize, Serialize};

pub use tags::{Stride, Tags, Technique};

/// An attack as a scenario's `attacks: [...]` list writes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum AttackSpec {
    /// Disconnect many customers through the HES.
    MassDisconnect(mass_disconnect::Spec),
    /// Jam the RF mesh and cellular links in an area.
    Jamming(jamming::Spec),
    /// Install malicious firmware: pushed through the HES or spread meter to meter.
    RogueFirmware(rogue_firmware::Spec),
    /// Clone meters with a key extracted from one of them and report false readings.
    MeterCloning(cloning::Spec),
    /// Take energy past the meter by tampering with it or bypassing it.
    EnergyTheft(theft::Spec),
    /// Capture relay commands over the air and transmit them again later.
    Replay(replay::Spec),
    /// Fill the HES's send queue with junk requests.
    CommandFlood(command_flood::Spec),
    /// Move from the HES into distribution SCADA and switch feeders off.
    LateralMovement(lateral::Spec),
    /// Copy customers' interval data out of the MDM.
    DataExfiltration(exfiltration::Spec),
    /// Switch a botnet of home-area devices on and off at once.
    LoadSwitching(load_switching::Spec),
    /// Force meters in radio range back to a legacy security level.
    ProtocolDowngrade(downgrade::Spec),
    /// Put a rogue concentrator (base station) in the middle of the field network.
    RogueConcentrator(rogue_concentrator::Spec),
    /// Flood the HES front end or collectors' backhaul endpoints with connections.
    ConnectionFlood(connection_flood::Spec),
    /// Send forged demand-response events through the HES.
    DemandResponseForgery(demand_response::Spec),
}

/// Every attack kind's tags (for tests and documentation).
pub const ALL_TAGS: [&Tags; 14] = [
    &mass_disconnect::TAGS,
    &jamming::TAGS,
    &rogue_firmware::TAGS,
    &cloning::TAGS,
    &theft::TAGS,
    &replay::TAGS,
    &command_flood::TAGS,
    &lateral::TAGS,
    &exfiltration::TAGS,
    &load_switching::TAGS,
    &downgrade::TAGS,
    &rogue_concentrator::TAGS,
    &connection_flood::TAGS,
    &demand_response::TAGS,
];

/// What validation knows of the scenario: its calendar and the HES's accounts.
#[derive(Debug, Clone)]
pub struct Context {
    /// When the run starts.
    pub start: CivilDateTime,
    /// How long it lasts.
    pub horizon: SimTime,
    /// The HES's accounts.
    pub accounts: Vec<AccountSpec>,
}

/// A field of one attack that is wrong: its path inside the attack (e.g. `"access.success"`)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attack {index} ({id}), field `{field}`: {message}")]
pub struct AttackError {
    /// Position in the `attacks` list.
    pub index: usize,
    /// The attack's id.
    pub id: String,
    /// The field's path inside the attack.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl AttackSpec {
    /// The id the scenario gives the attack.
    pub fn id(&self) -> &str {
        match self {
            AttackSpec::MassDisconnect(s) => &s.id,
            AttackSpec::Jamming(s) => &s.id,
            AttackSpec::RogueFirmware(s) => &s.id,
            AttackSpec::MeterCloning(s) => &s.id,
            AttackSpec::EnergyTheft(s) => &s.id,
            AttackSpec::Replay(s) => &s.id,
            AttackSpec::CommandFlood(s) => &s.id,
            AttackSpec::LateralMovement(s) => &s.id,
            AttackSpec::DataExfiltration(s) => &s.id,
            AttackSpec::LoadSwitching(s) => &s.id,
            AttackSpec::ProtocolDowngrade(s) => &s.id,
            AttackSpec::RogueConcentrator(s) => &s.id,
            AttackSpec::ConnectionFlood(s) => &s.id,
            AttackSpec::DemandResponseForgery(s) => &s.id,
        }
    }

    /// When it starts, as the file writes it.
    pub fn at(&self) -> &str {
        match self {
            AttackSpec::MassDisconnect(s) => &s.at,
            AttackSpec::Jamming(s) => &s.at,
            AttackSpec::RogueFirmware(s) => &s.at,
            AttackSpec::MeterCloning(s) => &s.at,
            AttackSpec::EnergyTheft(s) => &s.at,
            AttackSpec::Replay(s) => &s.at,
            AttackSpec::CommandFlood(s) => &s.at,
            AttackSpec::LateralMovement(s) => &s.at,
            AttackSpec::DataExfiltration(s) => &s.at,
            AttackSpec::LoadSwitching(s) => &s.at,
            AttackSpec::ProtocolDowngrade(s) => &s.at,
            AttackSpec::RogueConcentrator(s) => &s.at,
            AttackSpec::ConnectionFlood(s) => &s.at,
            AttackSpec::DemandResponseForgery(s) => &s.at,
        }
    }

    /// The attack kind's tags.
    pub fn tags(&self) -> &'static Tags {
        match self {
            AttackSpec::MassDisconnect(_) => &mass_disconnect::TAGS,
            AttackSpec::Jamming(_) => &jamming::TAGS,
            AttackSpec::RogueFirmware(_) => &rogue_firmware::TAGS,
            AttackSpec::MeterCloning(_) => &cloning::TAGS,
            AttackSpec::EnergyTheft(_) => &theft::TAGS,
            AttackSpec::Replay(_) => &replay::TAGS,
            AttackSpec::CommandFlood(_) => &command_flood::TAGS,
            AttackSpec::LateralMovement(_) => &lateral::TAGS,
            AttackSpec::DataExfiltration(_) => &exfiltration::TAGS,
            AttackSpec::LoadSwitching(_) => &load_switching::TAGS,
            AttackSpec::ProtocolDowngrade(_) => &downgrade::TAGS,
            AttackSpec::RogueConcentrator(_) => &rogue_concentrator::TAGS,
            AttackSpec::ConnectionFlood(_) => &connection_flood::TAGS,
            AttackSpec::DemandResponseForgery(_) => &demand_response::TAGS,
        }
    }

    /// Validates the attack against the scenario and makes it ready to prepare; `index` is its
    /// position in the list.
    pub fn build(&self, index: u8, ctx: &Context) -> Result<Box<dyn Attack>, (String, String)> {
        Ok(match self {
            AttackSpec::MassDisconnect(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::Jamming(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::RogueFirmware(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::MeterCloning(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::EnergyTheft(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::Replay(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::CommandFlood(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::LateralMovement(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::DataExfiltration(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::LoadSwitching(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::ProtocolDowngrade(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::RogueConcentrator(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::ConnectionFlood(s) => Box::new(s.check(index, ctx)?),
            AttackSpec::DemandResponseForgery(s) => Box::new(s.check(index, ctx)?),
        })
    }
}

/// An attack at run time.
pub trait Attack: Send {
    /// The scenario's id for it.
    fn id(&self) -> &str;
    /// Its kind's tags.
    fn tags(&self) -> &'static Tags;
    /// Resolves what needs the built world (targets, peak times) and sets the first wake.
    /// Errors name a field inside the attack.
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), (String, String)>;
    /// When it next wants to act, if ever.
    fn next_wake(&self) -> Option<SimTime>;
    /// Acts at `sim.now()` (its wake time): schedules inputs at or after now, records truth.
    /// Must move its next wake past now.
    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError>;
    /// At the end of the run: records the truth of effects it learns only by looking back.
    fn finish(&mut self, sim: &mut Sim);
    /// What it did.
    fn report(&self, sim: &Sim) -> Report;
}

/// What an attack did, beside the supply and data measures the engine keeps per attack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's id.
    pub id: String,
    /// The kind's tags.
    pub tags: &'static Tags,
    /// When it started (its main action; the kill chain may come earlier).
    pub start: SimTime,
    /// Whether it reached its objective on at least one meter.
    pub succeeded: bool,
    /// Why not, when it did not.
    pub failure_reason: Option<String>,
    /// Meters it aimed at.
    pub meters_targeted: u64,
    /// Meters that ran its firmware (or that it otherwise took control of) at some point.
    pub meters_compromised: u64,
    /// Whether some of its effect lasts to the end of the run by its nature (meters still
    /// compromised), so that restoration cannot be timed.
    pub still_active: bool,
    /// One sentence for a person: what it did.
    pub summary: String,
    /// Customers whose interval data it copied out of the utility.
    pub customers_exposed: u64,
    /// Households among them (occupancy can be inferred from quarter-hour data).
    pub households_exposed: u64,
}

/// Every attack of a scenario, driving the engine between their wakes.
pub struct Campaign {
    attacks: Vec<Box<dyn Attack>>,
}

impl Campaign {
    /// Validates `specs`; errors name the attack and the field.
    pub fn new(specs: &[AttackSpec], ctx: &Context) -> Result<Campaign, AttackError> {
        if specs.len() > MAX_ATTACKS {
            return Err(AttackError {
                index: MAX_ATTACKS,
                id: specs[MAX_ATTACKS].id().to_owned(),
                field: String::new(),
                message: format!("at most {MAX_ATTACKS} attacks per scenario"),
            });
        }
        let mut attacks = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let error = |field: String, message: String| AttackError {
                index: i,
                id: spec.id().to_owned(),
                field,
                message,
            };
            let id = spec.id();
            if id.trim().is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(error(
                    "id".into(),
                    "use letters, digits, '-' and '_' only, and not nothing".into(),
                ));
            }
            if specs[..i].iter().any(|s| s.id() == id) {
                return Err(error("id".into(), format!("{id:?} is used by an earlier attack")));
            }
            attacks.push(spec.build(i as u8, ctx).map_err(|(f, m)| error(f, m))?);
        }
        Ok(Campaign { attacks })
    }

    /// No attacks.
    pub fn none() -> Campaign {
        Campaign { attacks: Vec::new() }
    }

    /// Number of attacks.
    pub fn len(&self) -> usize {
        self.attacks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.attacks.is_empty()
    }

    /// Prepares every attack against the built world.
    pub fn prepare(&mut self, sim: &mut Sim) -> Result<(), AttackError> {
        for (i, a) in self.attacks.iter_mut().enumerate() {
            a.prepare(sim).map_err(|(field, message)| AttackError {
                index: i,
                id: a.id().to_owned(),
                field,
                message,
            })?;
        }
        Ok(())
    }

    /// Adds an attack while the run is under way (a live exercise's red team), checks it
    /// against the scenario as [`Campaign::new`] would, and prepares it against the world as
    /// it is now: an `at` in the past is refused. Its index is the campaign's length before.
    pub fn add(&mut self, spec: &AttackSpec, ctx: &Context, sim: &mut Sim) -> Result<(), AttackError> {
        let index = self.attacks.len();
        let error = |field: String, message: String| AttackError {
            index,
            id: spec.id().to_owned(),
            field,
            message,
        };
        if index >= MAX_ATTACKS {
            return Err(error(String::new(), format!("at most {MAX_ATTACKS} attacks per run")));
        }
        if self.attacks.iter().any(|a| a.id() == spec.id()) {
            return Err(error(
                "id".into(),
                format!("{:?} is used by an earlier attack", spec.id()),
            ));
        }
        let mut attack = spec.build(index as u8, ctx).map_err(|(f, m)| error(f, m))?;
        attack.prepare(sim).map_err(|(f, m)| error(f, m))?;
        if attack.next_wake().is_some_and(|t| t < sim.now()) {
            return Err(error("at".into(), "is in the past".into()));
        }
        self.attacks.push(attack);
        Ok(())
    }

    /// The earliest wake of any attack.
    pub fn next_wake(&self) -> Option<SimTime> {
        self.attacks.iter().filter_map(|a| a.next_wake()).min()
    }

    /// Steps the engine to `to`, letting every attack act at its wakes on the way (in list
    /// order when two wake at the same instant).
    pub fn run_until(&mut self, sim: &mut Sim, to: SimTime) -> Result<(), SimError> {
        while let Some(t) = self.next_wake().filter(|&t| t <= to) {
            sim.step_until(t)?;
            for a in &mut self.attacks {
                if a.next_wake() == Some(t) {
                    a.wake(sim)?;
                }
            }
        }
        sim.step_until(to)
    }

    /// Lets every attack record what it learns only at the end.
    pub fn finish(&mut self, sim: &mut Sim) {
        for a in &mut self.attacks {
            a.finish(sim);
        }
    }

    /// What each attack did, in list order.
    pub fn reports(&self, sim: &Sim) -> Vec<Report> {
        self.attacks.iter().map(|a| a.report(sim)).collect()
    }
}

/// The truth record of one attack step.
pub(crate) fn truth(sim: &mut Sim, at: SimTime, source: &str, kind: &str, detail: String, meters: Vec<u32>) {
    sim.record_truth(amirange_sim::records::TruthRecord {
        time: at,
        source: source.to_owned(),
        kind: kind.to_owned(),
        detail,
        meters,
    });
}
