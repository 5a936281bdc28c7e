//! # amirange-attackers: the attack library
//!
//! Attacks that work through the simulated system, never numbers painted onto results. Each
//! attack has preconditions (a kill chain: credentials, a foothold, physical access, a channel),
//! acts over time only through `sim`'s public API (HES commands, interference, firmware offered
//! meter to meter, relays of meters it controls), and records ground truth for every step.
//!
//! ```text
//!  scenario file          validate (Context)        prepare (Sim built)        run
//!  attacks: [...] ──► AttackSpec ──► Box<dyn Attack> ──► targets resolved ──► Campaign, an actor of
//!                     (serde)        (times, odds,       times fixed,          sim::drive::step_to: the
//!                                     accounts checked)   first wake set        loop steps the engine to
//!                                                                                the next wake and wakes
//!                                                                                the attacks due then
//! ```
//!
//! ## Adding an attack kind: one module plus one line
//!
//! 1. Write the module `attackers/src/my_attack.rs`:
//!    - `pub const TAGS: Tags`: its kind name as result files write it, STRIDE category,
//!      ATT&CK for ICS technique and related techniques (a unit test checks every technique
//!      against the bundled matrix), and the NESCOR failure scenario ids it enacts (or none);
//!    - its scenario fields inside [`attack_spec!`], which adds the shared [`Header`] (`id`,
//!      `at`) and keeps the file format flat, with unknown fields refused;
//!    - `impl Spec { pub fn check(&self, index: u8, ctx: &Context) -> Result<MyAttack, FieldError> }`
//!      validating every field against the scenario (errors name the field);
//!    - a type implementing [`Attack`]: `next_wake`, `wake` and `report` (an [`Outcome`]), and
//!      `prepare` or `finish` only when it needs the built world or the end of the run.
//! 2. Add one line `MyAttack => my_attack,` (with a doc comment) to the `attack_kinds!`
//!    invocation below. The scenario enum [`AttackSpec`], its ids, start times, tags,
//!    [`ALL_TAGS`] and construction all follow from that line.
//!
//! That is all the code. To show and test it, add a scenario file under `scenarios/attacks/`
//! and the outcome it must reach in `tests/it/attacks.rs`
//! (`every_attack_file_runs_and_hits_what_it_targets` runs every file there and refuses an attack
//! id it has no expectation for), and unit tests in the module (see `mass_disconnect`'s).
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
#[cfg(test)]
mod testing;
pub mod theft;
pub mod when;

use amirange_sim::drive;
use amirange_sim::engine::{Sim, SimError};
use amirange_sim::hes::AccountSpec;
use amirange_sim::model::MAX_ATTACKS;
use amirange_sim::time::{CivilDateTime, SimTime};
use serde::{Deserialize, Serialize};

pub use tags::{Stride, Tags, Technique};

/// Declares the attack kinds, each as `Variant => module,`: the variant of [`AttackSpec`] that a
/// scenario file writes, and the module holding its `Spec` (with `check`) and its `TAGS`.
/// Everything that goes through every kind (the enum, [`ALL_TAGS`], the header, tags and
/// construction of a spec) is generated here, so no other list of kinds exists.
macro_rules! attack_kinds {
    ($($(#[$doc:meta])* $variant:ident => $module:ident,)+) => {
        /// An attack as a scenario's `attacks: [...]` list writes it.
        #[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
        pub enum AttackSpec {
            $($(#[$doc])* $variant($module::Spec),)+
        }

        /// Every attack kind's tags, in the order of [`AttackSpec`]'s variants.
        pub const ALL_TAGS: &[&Tags] = &[$(&$module::TAGS,)+];

        impl AttackSpec {
            /// The fields every attack has: its id and its start.
            pub fn header(&self) -> &Header {
                match self {
                    $(AttackSpec::$variant(spec) => &spec.header,)+
                }
            }

            /// The attack kind's tags.
            pub fn tags(&self) -> &'static Tags {
                match self {
                    $(AttackSpec::$variant(_) => &$module::TAGS,)+
                }
            }

            /// Validates the attack against the scenario and makes it ready to prepare; `index`
            /// is its position in the list.
            pub fn build(&self, index: u8, ctx: &Context) -> Result<Box<dyn Attack>, FieldError> {
                Ok(match self {
                    $(AttackSpec::$variant(spec) => Box::new(spec.check(index, ctx)?),)+
                })
            }
        }
    };
}

attack_kinds! {
    /// Disconnect many customers through the HES.
    MassDisconnect => mass_disconnect,
    /// Jam the RF mesh and cellular links in an area.
    Jamming => jamming,
    /// Install malicious firmware: pushed through the HES or spread meter to meter.
    RogueFirmware => rogue_firmware,
    /// Clone meters with a key extracted from one of them and report false readings.
    MeterCloning => cloning,
    /// Take energy past the meter by tampering with it or bypassing it.
    EnergyTheft => theft,
    /// Capture relay commands over the air and transmit them again later.
    Replay => replay,
    /// Fill the HES's send queue with junk requests.
    CommandFlood => command_flood,
    /// Move from the HES into distribution SCADA and switch feeders off.
    LateralMovement => lateral,
    /// Copy customers' interval data out of the MDM.
    DataExfiltration => exfiltration,
    /// Switch a botnet of home-area devices on and off at once.
    LoadSwitching => load_switching,
    /// Force meters in radio range back to a legacy security level.
    ProtocolDowngrade => downgrade,
    /// Put a rogue concentrator (base station) in the middle of the field network.
    RogueConcentrator => rogue_concentrator,
    /// Flood the HES front end or collectors' backhaul endpoints with connections.
    ConnectionFlood => connection_flood,
    /// Send forged demand-response events through the HES.
    DemandResponseForgery => demand_response,
}

/// The fields every attack spec starts with. In a scenario file they stand beside the kind's
/// own fields (`MassDisconnect(id: "md", at: "0d 18:00", access: ..)`); in code they are one
/// value, `spec.header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The attack's id (names it in results): letters, digits, `-` and `_`, unique in the
    /// scenario.
    pub id: String,
    /// When the attack starts (its main action; a kill chain may come earlier), as the file
    /// writes it: `"1d 18:00"`, `"0d peak"`, ...
    pub at: String,
}

/// Declares an attack kind's `Spec` as the scenario file writes it: the kind's own fields,
/// after the shared [`Header`].
///
/// The file format stays flat (`id`, `at` and the kind's fields side by side) without
/// `#[serde(flatten)]`, which buffers the map and so loses RON's variant-newtype unwrapping,
/// unknown-field refusal and the line and column of a bad field. Instead the macro also writes
/// a private `SpecInFile` mirror with every field in the file's order and unknown fields
/// denied; serde reads and writes the mirror and converts, so errors keep their position and
/// field name, and the serialized shape (the manifest's `attacks`) is unchanged.
#[macro_export]
macro_rules! attack_spec {
    (
        $(#[$meta:meta])*
        pub struct Spec {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(from = "SpecInFile", into = "SpecInFile")]
        pub struct Spec {
            /// The attack's id and start, which every kind has.
            pub header: $crate::Header,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        /// [`Spec`] as the file spells it: the header's fields first, then the kind's.
        #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, rename = "Spec")]
        struct SpecInFile {
            /// The attack's name in the results: letters, digits, `-` and `_`, unique in the list.
            id: String,
            /// When the attack starts: a time (see "Times" in docs/attacks.md).
            at: String,
            $($(#[$field_meta])* $field: $ty,)*
        }

        impl From<SpecInFile> for Spec {
            fn from(file: SpecInFile) -> Spec {
                Spec {
                    header: $crate::Header { id: file.id, at: file.at },
                    $($field: file.$field,)*
                }
            }
        }

        impl From<Spec> for SpecInFile {
            fn from(spec: Spec) -> SpecInFile {
                SpecInFile {
                    id: spec.header.id,
                    at: spec.header.at,
                    $($field: spec.$field,)*
                }
            }
        }
    };
}

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

pub use amirange_sim::field::FieldError;

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

impl AttackError {
    /// `error`, found in the attack at `index` with `id`.
    fn at(index: usize, id: &str, error: FieldError) -> AttackError {
        AttackError {
            index,
            id: id.to_owned(),
            field: error.field,
            message: error.message,
        }
    }
}

impl AttackSpec {
    /// The id the scenario gives the attack.
    pub fn id(&self) -> &str {
        &self.header().id
    }

    /// When it starts, as the file writes it.
    pub fn at(&self) -> &str {
        &self.header().at
    }
}

/// An attack at run time. The campaign keeps its id and tags (from its spec), so an attack
/// implements only what differs between kinds.
pub trait Attack: Send {
    /// Resolves what needs the built world (targets, peak times) and sets the first wake.
    /// Errors name a field inside the attack. By default there is nothing to resolve.
    fn prepare(&mut self, _sim: &mut Sim) -> Result<(), FieldError> {
        Ok(())
    }
    /// When it next wants to act, if ever.
    fn next_wake(&self) -> Option<SimTime>;
    /// Acts at `sim.now()` (its wake time): schedules inputs at or after now, records truth.
    /// Must move its next wake past now.
    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError>;
    /// At the end of the run: records the truth of effects it learns only by looking back.
    /// By default there are none.
    fn finish(&mut self, _sim: &mut Sim) {}
    /// What it did.
    fn report(&self, sim: &Sim) -> Outcome;
}

/// What one attack did, as its kind tells it; [`Campaign::reports`] adds its id and tags to
/// make the [`Report`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// When it started (its main action; the kill chain may come earlier).
    pub start: SimTime,
    /// Meters it aimed at.
    pub meters_targeted: u64,
    /// What it did, in one sentence for a person, or why it failed.
    pub result: Result<String, String>,
    /// Meters it took control of at some point, and whether some of that control lasts to the
    /// end of the run.
    pub control: Control,
    /// Customers' data it copied out of the utility.
    pub exposure: Exposure,
}

impl Outcome {
    /// An attack that started at `start`, aimed at `meters_targeted` meters, and did what
    /// `result` says (`Err` with the reason when it failed); it controlled no meter and exposed
    /// no data.
    pub fn new(start: SimTime, meters_targeted: u64, result: Result<String, String>) -> Outcome {
        Outcome {
            start,
            meters_targeted,
            result,
            control: Control::default(),
            exposure: Exposure::default(),
        }
    }

    /// The same, having controlled `meters` meters, some of them still at the end when
    /// `still_active`.
    pub fn with_control(mut self, meters: u64, still_active: bool) -> Outcome {
        self.control = Control {
            meters_compromised: meters,
            still_active,
        };
        self
    }

    /// The same, having copied out the data of `customers` customers, `households` of them
    /// households.
    pub fn with_exposure(mut self, customers: u64, households: u64) -> Outcome {
        self.exposure = Exposure {
            customers_exposed: customers,
            households_exposed: households,
        };
        self
    }
}

/// Meters an attack took control of (firmware, a downgraded or cloned meter, a tampered one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Control {
    /// Meters that ran its firmware (or that it otherwise took control of) at some point.
    pub meters_compromised: u64,
    /// Whether some of its effect lasts to the end of the run by its nature (meters still
    /// compromised), so that restoration cannot be timed.
    pub still_active: bool,
}

/// Customers' data an attack copied out of the utility (exfiltration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// Customers whose interval data it copied out of the utility.
    pub customers_exposed: u64,
    /// Households among them (occupancy can be inferred from quarter-hour data).
    pub households_exposed: u64,
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
    /// One sentence for a person: what it did (`failed: ..` and why, when it failed).
    pub summary: String,
    /// Customers' data it copied out of the utility.
    pub exposure: Exposure,
}

impl Report {
    /// The report of the attack `id` of the kind `tags` that had `outcome`.
    pub fn new(id: &str, tags: &'static Tags, outcome: Outcome) -> Report {
        let (succeeded, failure_reason, summary) = match outcome.result {
            Ok(summary) => (true, None, summary),
            Err(why) => (false, Some(why.clone()), format!("failed: {why}")),
        };
        Report {
            id: id.to_owned(),
            tags,
            start: outcome.start,
            succeeded,
            failure_reason,
            meters_targeted: outcome.meters_targeted,
            meters_compromised: outcome.control.meters_compromised,
            still_active: outcome.control.still_active,
            summary,
            exposure: outcome.exposure,
        }
    }
}

/// Every attack of a scenario: one [`drive::Actor`] that says when its next attack is due and
/// lets the attacks due act when woken. It never steps the engine itself except through
/// [`drive::step_to`].
pub struct Campaign {
    attacks: Vec<Entry>,
}

/// One attack of a campaign, with what its spec said of it.
struct Entry {
    /// The scenario's id for it.
    id: String,
    /// Its kind's tags.
    tags: &'static Tags,
    /// The attack.
    attack: Box<dyn Attack>,
}

impl Campaign {
    /// Validates `specs`; errors name the attack and the field.
    pub fn new(specs: &[AttackSpec], ctx: &Context) -> Result<Campaign, AttackError> {
        if specs.len() > MAX_ATTACKS {
            let message = format!("at most {MAX_ATTACKS} attacks per scenario");
            return Err(AttackError::at(
                MAX_ATTACKS,
                specs[MAX_ATTACKS].id(),
                FieldError::new("", message),
            ));
        }
        let mut attacks = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let id = spec.id();
            if id.trim().is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                let message = "use letters, digits, '-' and '_' only, and not nothing";
                return Err(AttackError::at(i, id, FieldError::new("id", message)));
            }
            if specs[..i].iter().any(|s| s.id() == id) {
                let message = format!("{id:?} is used by an earlier attack");
                return Err(AttackError::at(i, id, FieldError::new("id", message)));
            }
            let attack = spec.build(i as u8, ctx).map_err(|e| AttackError::at(i, id, e))?;
            attacks.push(Entry {
                id: id.to_owned(),
                tags: spec.tags(),
                attack,
            });
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
        for (i, entry) in self.attacks.iter_mut().enumerate() {
            entry
                .attack
                .prepare(sim)
                .map_err(|e| AttackError::at(i, &entry.id, e))?;
        }
        Ok(())
    }

    /// Adds an attack while the run is under way (a live exercise's red team), checks it
    /// against the scenario as [`Campaign::new`] would, and prepares it against the world as
    /// it is now: an `at` in the past is refused. Its index is the campaign's length before.
    pub fn add(&mut self, spec: &AttackSpec, ctx: &Context, sim: &mut Sim) -> Result<(), AttackError> {
        let index = self.attacks.len();
        let id = spec.id();
        let error = |field: &str, message: String| AttackError::at(index, id, FieldError::new(field, message));
        if index >= MAX_ATTACKS {
            return Err(error("", format!("at most {MAX_ATTACKS} attacks per run")));
        }
        if self.attacks.iter().any(|entry| entry.id == id) {
            return Err(error("id", format!("{id:?} is used by an earlier attack")));
        }
        let mut attack = spec
            .build(index as u8, ctx)
            .map_err(|e| AttackError::at(index, id, e))?;
        attack.prepare(sim).map_err(|e| AttackError::at(index, id, e))?;
        if attack.next_wake().is_some_and(|t| t < sim.now()) {
            return Err(error("at", "is in the past".into()));
        }
        self.attacks.push(Entry {
            id: id.to_owned(),
            tags: spec.tags(),
            attack,
        });
        Ok(())
    }

    /// The earliest wake of any attack.
    pub fn next_wake(&self) -> Option<SimTime> {
        self.attacks.iter().filter_map(|entry| entry.attack.next_wake()).min()
    }

    /// Lets every attack due at `at` act, in list order (the engine is at `at`). What they
    /// schedule at `at` itself applies with the engine's next step.
    pub fn wake_due(&mut self, sim: &mut Sim, at: SimTime) -> Result<(), SimError> {
        for entry in &mut self.attacks {
            if entry.attack.next_wake() == Some(at) {
                entry.attack.wake(sim)?;
            }
        }
        Ok(())
    }

    /// Steps the engine to `to` with this campaign alone and no defender, through the one loop
    /// that owns time ([`drive::step_to`], whose ordering contract applies); a run with its
    /// defender goes through the same loop from the runner.
    pub fn run_until(&mut self, sim: &mut Sim, to: SimTime) -> Result<(), SimError> {
        drive::step_to(sim, to, self, None)
    }

    /// Lets every attack record what it learns only at the end.
    pub fn finish(&mut self, sim: &mut Sim) {
        for entry in &mut self.attacks {
            entry.attack.finish(sim);
        }
    }

    /// What each attack did, in list order.
    pub fn reports(&self, sim: &Sim) -> Vec<Report> {
        self.attacks
            .iter()
            .map(|entry| Report::new(&entry.id, entry.tags, entry.attack.report(sim)))
            .collect()
    }
}

/// The campaign is one actor to the loop that owns time: it is due at its earliest attack's
/// wake, and waking it lets every attack due then act, in list order.
impl drive::Actor for Campaign {
    fn next_wake(&self) -> Option<SimTime> {
        Campaign::next_wake(self)
    }

    fn wake(&mut self, sim: &mut Sim, at: SimTime) -> Result<(), SimError> {
        self.wake_due(sim, at)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Access;
    use crate::targets::Targets;
    use crate::testing::{context, header};

    fn disconnect(id: &str, at: &str) -> AttackSpec {
        AttackSpec::MassDisconnect(mass_disconnect::Spec {
            header: header(id, at),
            access: Access::Insider {
                account: "ops-alice".into(),
            },
            targets: Targets::All,
            batch: None,
            spacing: None,
        })
    }

    /// A test attack: wakes at each of `wakes` in turn and schedules, for the present instant,
    /// a truth step of its own whose detail lists the truth steps applied when it woke.
    struct Noting {
        name: &'static str,
        wakes: Vec<SimTime>,
    }

    impl Attack for Noting {
        fn next_wake(&self) -> Option<SimTime> {
            self.wakes.last().copied()
        }

        fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
            let now = sim.now();
            self.wakes.pop();
            let applied: Vec<&str> = sim.records().truth.iter().map(|r| r.source.as_str()).collect();
            let step = amirange_sim::records::TruthRecord {
                time: now,
                source: self.name.into(),
                kind: "step".into(),
                detail: format!("saw {applied:?}"),
                meters: Vec::new(),
            };
            sim.schedule(now, amirange_sim::engine::Input::Truth(step))?;
            Ok(())
        }

        fn report(&self, _sim: &Sim) -> Outcome {
            Outcome::new(SimTime::ZERO, 0, Ok(String::new()))
        }
    }

    /// Two attacks due at the same instant act in list order, neither seeing what the other
    /// scheduled for that instant; both inputs have applied when the campaign's step ends.
    #[test]
    fn attacks_due_together_wake_in_list_order_before_their_inputs_apply() {
        let entry = |name: &'static str, wakes: &[u64]| Entry {
            id: name.into(),
            tags: &mass_disconnect::TAGS,
            attack: Box::new(Noting {
                name,
                wakes: wakes.iter().rev().map(|&t| SimTime(t)).collect(),
            }),
        };
        let mut campaign = Campaign {
            attacks: vec![entry("listed-first", &[7]), entry("listed-second", &[3, 7])],
        };
        let mut sim = crate::testing::sim(4);
        campaign.run_until(&mut sim, SimTime(10)).expect("runs");
        let steps: Vec<String> = sim
            .records()
            .truth
            .iter()
            .map(|r| format!("{} at {} {}", r.source, r.time.0, r.detail))
            .collect();
        assert_eq!(
            steps,
            [
                "listed-second at 3 saw []",
                "listed-first at 7 saw [\"listed-second\"]",
                "listed-second at 7 saw [\"listed-second\"]",
            ]
        );
        assert_eq!(campaign.next_wake(), None);
    }

    #[test]
    fn every_kind_is_listed_once_with_its_own_tags() {
        let mut kinds: Vec<&str> = ALL_TAGS.iter().map(|t| t.kind).collect();
        assert_eq!(kinds.len(), 14);
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), 14, "two kinds share a name");
        assert_eq!(disconnect("a", "0d 01:00").tags().kind, "mass-disconnect");
        assert_eq!(mass_disconnect::TAGS.nescor, ["AMI.1"]);
    }

    #[test]
    fn the_header_reads_the_shared_fields() {
        let spec = disconnect("md", "0d 01:00");
        assert_eq!((spec.id(), spec.at()), ("md", "0d 01:00"));
    }

    #[test]
    fn field_errors_name_the_attack_and_the_field() {
        let e = Campaign::new(&[disconnect("md", "9d 01:00")], &context())
            .err()
            .expect("refused");
        assert_eq!((e.index, e.id.as_str(), e.field.as_str()), (0, "md", "at"));
        let twice = [disconnect("md", "0d 01:00"), disconnect("md", "0d 02:00")];
        let e = Campaign::new(&twice, &context()).err().expect("refused");
        assert_eq!((e.index, e.field.as_str()), (1, "id"));
        assert_eq!(e.message, "\"md\" is used by an earlier attack");
        let bad_id = Campaign::new(&[disconnect("m d", "0d 01:00")], &context())
            .err()
            .expect("refused");
        assert_eq!(bad_id.field, "id");
    }

    #[test]
    fn a_field_error_nests_inside_its_parent() {
        let e = FieldError::new("access.at", "is in the past").inside("delivery");
        assert_eq!(e.field, "delivery.access.at");
        assert_eq!(e.to_string(), "field `delivery.access.at`: is in the past");
    }

    #[test]
    fn a_failed_outcome_reads_failed_and_why() {
        let report = Report::new(
            "x",
            &mass_disconnect::TAGS,
            Outcome::new(SimTime(5), 3, Err("no luck".into())),
        );
        assert!(!report.succeeded);
        assert_eq!(report.failure_reason.as_deref(), Some("no luck"));
        assert_eq!(report.summary, "failed: no luck");
        let done = Outcome::new(SimTime(5), 3, Ok("did it".into())).with_exposure(2, 1);
        let report = Report::new("x", &exfiltration::TAGS, done);
        assert!(report.succeeded && report.failure_reason.is_none());
        assert_eq!(
            (report.exposure.customers_exposed, report.exposure.households_exposed),
            (2, 1)
        );
    }
}
