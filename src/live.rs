//! The engine of a live exercise (`amirange serve`, `amirange replay`): a run of the
//! exercise's scenario, stepped tick by tick by the range's session, that carries out the
//! players' actions through the same primitives scenarios use.
//!
//! - Red phishes through the attack library's access step ([`Access::Phishing`], drawn from
//!   its own random stream per attempt), and disconnects feeders with what the phish yielded
//!   ([`Access::Stolen`], a mass disconnect added to the campaign: the HES authenticates and
//!   authorises it like any other request). A jammer needs a place within reach of a meter.
//! - Blue acts through the defender: [`Defender::respond_now`] for the responses a playbook
//!   could order, [`Defender::set_threshold`] for detectors' thresholds. Without a `defenses`
//!   section there is nothing to act through, and blue's actions are refused.
//! - White injects feeder outages.
//!
//! Everything an action does is an engine input at the tick the session has reached, so the
//! journal replays it exactly ([`amirange_range::session::replay`]).
//!
//! Whatever the players send, the engine's work per request and per tick stays bounded: a
//! dispatch of crews is queued and the crews leave for at most [`CREW_VISITS_PER_TICK`]
//! transformers a tick (the queue is engine state, so the journal reproduces it); target lists
//! are deduplicated; the scoreboard is recomputed once a tick, not after every action; a request
//! that would do nothing new (crews already on their way, an account already revoked) is refused,
//! which changes nothing. The views list the newest [`VIEW_ACTIONS`] actions and
//! [`VIEW_INTERVALS`] intervals, so a snapshot stays small however long the exercise runs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use amirange_attackers::access::{self, Access, Held};
use amirange_attackers::rogue_firmware::{self, Delivery, PayloadSpec, Signing};
use amirange_attackers::targets::{Place, Targets};
use amirange_attackers::{AttackSpec, Context as AttackContext, Header, cloning, jamming, mass_disconnect};
use amirange_defenses::spec::Response;
use amirange_measures::round_to;
use amirange_measures::scoreboard::{FalseAction, Rules, Tally, customers_off_by_attacks, scoreboard};
use amirange_range::exercise::{Cloning, Exercise, Phishing, Scoring};
use amirange_range::messages::{Action, FirmwarePayload, Role};
use amirange_range::session::{Engine, TICK_S};
use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Input, Sim};
use amirange_sim::model::{Cause, LinkKind};
use amirange_sim::records::AlertSubject;
use amirange_sim::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::face::{Face, FaceConfig, Operator, Window};
use crate::metrics::Metrics;
use crate::run::Stepper;
use crate::scenario::{self, Overrides, Scenario};

/// A request naming more than this many meters is "bulk" while blue freezes bulk commands.
pub const BULK_METERS: u32 = 10;
/// How long an isolated HES takes to come back rebuilt.
pub const HES_REBUILD: SimDuration = SimDuration::from_hours(2);
/// The random stream red's phishing draws from (attack indices stay below 250).
const PHISH_STREAM: u8 = 255;
/// Alerts a view lists at most (the newest).
const VIEW_ALERTS: usize = 200;
/// Transformers blue's crews leave for per tick at most; a dispatch naming more waits in a
/// queue and is carried out over the next ticks. A policy choice that bounds the engine's work
/// per tick (each visit scans the fleet for the transformer's meters) whatever blue sends:
/// ten a simulated minute is more than a utility's dispatchers send out.
pub const CREW_VISITS_PER_TICK: usize = 10;
/// Blue's responses and red's attacks a view lists at most, the newest (the total is given
/// beside, `responses_total` and `attacks_total`): with subjects of at most
/// [`SUBJECT_CHARS`] characters, about 15 KiB of a view.
pub const VIEW_ACTIONS: usize = 50;
/// Intervals a view's timeline holds at most, the newest: a week of 15-minute intervals.
pub const VIEW_INTERVALS: usize = 672;
/// The longest subject a blue action keeps, characters.
pub const SUBJECT_CHARS: usize = 160;
/// Transformers a dispatch's subject names; the rest are counted.
const SUBJECT_TARGETS: usize = 10;
const MICROS: u64 = 1_000_000;

/// Why a live exercise's engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The exercise's scenario file could not be read.
    #[error("reading the exercise's scenario {path}")]
    ReadingScenario {
        /// The scenario file's path as the exercise names it.
        path: String,
        /// Why it could not be read.
        #[source]
        source: amirange_files::ReadError,
    },
    /// The scenario does not load (its text says where and why).
    #[error("{0}")]
    Scenario(scenario::ScenarioError),
    /// The scenario reads its topology from a file, which a journal cannot replay on its own.
    #[error(
        "{file}: field `topology`: a live exercise's scenario needs a preset or an inline topology \
         (its journal must replay on its own), not {topology}"
    )]
    TopologyFile {
        /// The scenario file's label.
        file: String,
        /// Where the scenario's topology comes from (its `topology_source`).
        topology: String,
    },
    /// The run could not be built.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
}

/// `error` followed by each of its causes, `: `-separated, as the binary prints errors.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// How to build the engine again: the journal's header holds it, so that a replay needs the
/// journal alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The exercise's name.
    pub exercise: String,
    /// The scenario file as the exercise named it (for messages, and a topology file beside it).
    pub scenario_file: String,
    /// The scenario's text.
    pub scenario: String,
    /// The fleet's size, if the exercise scales the scenario's.
    pub meters: Option<u64>,
    /// Red's phishing odds.
    pub phishing: Phishing,
    /// Whether red's pushed images carry a signature made with a leaked key.
    #[serde(default)]
    pub leaked_signing_key: bool,
    /// The scoreboard's rules.
    pub scoring: Scoring,
    /// Red's odds of reading an opened meter's keys.
    #[serde(default)]
    pub cloning: Cloning,
    /// The meter at wPort 1 of the meters' DLMS face, if the exercise exposes it.
    #[serde(default)]
    pub dlms_first_meter: Option<u32>,
}

impl Setup {
    /// The setup of `exercise`, reading its scenario file.
    pub fn of(exercise: &Exercise) -> Result<Setup, LiveError> {
        let scenario =
            crate::scenario::read_source(&exercise.scenario).map_err(|source| LiveError::ReadingScenario {
                path: exercise.scenario.display().to_string(),
                source,
            })?;
        Ok(Setup {
            exercise: exercise.name.clone(),
            scenario_file: exercise.scenario.display().to_string(),
            scenario,
            meters: exercise.meters,
            phishing: exercise.phishing,
            leaked_signing_key: exercise.leaked_signing_key,
            scoring: exercise.scoring,
            cloning: exercise.cloning,
            dlms_first_meter: exercise.dlms.as_ref().map(|d| d.first_meter),
        })
    }
}

/// A red attack added live.
#[derive(Debug, Clone, Serialize)]
struct RedAttack {
    team: String,
    id: String,
    kind: &'static str,
    at_s: u64,
}

/// A meter red opened for its keys, and what came of it.
#[derive(Debug, Clone)]
struct Opened {
    team: String,
    /// The cloning attack's id and index in the campaign.
    id: String,
    index: u8,
    meter: u32,
    /// The meter's key group (the meters its key opens).
    group: u32,
    keys: Keys,
}

/// What red holds of an opened meter.
#[derive(Debug, Clone)]
enum Keys {
    /// The extraction happens at the next tick.
    Pending,
    /// Read: the DLMS keys (hexadecimal) and how many meters they open.
    Held {
        encryption: String,
        authentication: String,
        opens: u64,
    },
    /// The extraction failed, and why.
    Failed(String),
}

/// A blue action carried out.
#[derive(Debug, Clone, Serialize)]
struct BlueAction {
    team: String,
    at_s: u64,
    action: &'static str,
    subject: String,
    /// Why it is a false action, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    false_action: Option<String>,
}

/// The mesh radios' places in squares of [`MeshIndex::CELL_M`], so that asking whether a jammer
/// reaches one looks at the squares around it, not at the whole fleet.
#[derive(Debug, Clone, Default)]
struct MeshIndex {
    cells: BTreeMap<(i64, i64), Vec<(f32, f32)>>,
}

impl MeshIndex {
    /// A square's side, metres.
    const CELL_M: f32 = 1000.0;

    fn cell(v: f32) -> i64 {
        // `as` saturates: a place far off the map lands in an edge square, which holds nothing.
        (v / Self::CELL_M).floor() as i64
    }

    fn new(meters: impl Iterator<Item = (f32, f32)>) -> MeshIndex {
        let mut cells: BTreeMap<(i64, i64), Vec<(f32, f32)>> = BTreeMap::new();
        for (x, y) in meters {
            cells.entry((Self::cell(x), Self::cell(y))).or_default().push((x, y));
        }
        MeshIndex { cells }
    }

    /// Whether a radio is within `r` metres of (`x`, `y`): the same test as over every meter,
    /// on the squares the circle's box touches (and one more around, for rounding).
    fn reaches(&self, x: f32, y: f32, r: f32) -> bool {
        let (x0, x1) = (Self::cell(x - r).saturating_sub(1), Self::cell(x + r).saturating_add(1));
        let (y0, y1) = (Self::cell(y - r).saturating_sub(1), Self::cell(y + r).saturating_add(1));
        (x0..=x1).any(|cx| {
            self.cells
                .range((cx, y0)..=(cx, y1))
                .any(|(_, places)| places.iter().any(|&(px, py)| (px - x).hypot(py - y) <= r))
        })
    }
}

/// A feeder on the map: where its meters are on average, and how many.
#[derive(Debug, Clone, Copy)]
struct FeederPlace {
    x: f64,
    y: f64,
    meters: u32,
    /// Its meters whose relay is open, kept from the relay events.
    open: u32,
}

enum State {
    Running(Box<Stepper>),
    Done(Box<Sim>, Box<Metrics>),
}

/// The live exercise's engine.
pub struct LiveEngine {
    setup: Setup,
    scenario: Scenario,
    ctx: AttackContext,
    /// Always `Some` outside `finish`.
    state: Option<State>,
    metrics_json: Option<Vec<u8>>,
    /// Per (red team, account): whether the stolen credential carries the second factor.
    held: BTreeMap<(String, String), bool>,
    phishes: u64,
    red: Vec<RedAttack>,
    blue: Vec<BlueAction>,
    feeders: Vec<FeederPlace>,
    bounds: [f64; 4],
    /// Where the mesh radios are, for red's jammers.
    mesh: MeshIndex,
    /// Per meter: whether its relay is open, from the relay events seen.
    relay_open: Vec<bool>,
    relays_seen: usize,
    scoreboard: Value,
    /// Until when blue's bulk freeze holds.
    frozen_until: Option<SimTime>,
    /// Whether blue isolated the HES (the defender isolates it once per run).
    isolated: bool,
    /// Accounts blue revoked.
    revoked: BTreeSet<String>,
    /// Whether blue ordered the rollback (it runs to the end once ordered).
    rolling_back: bool,
    /// Whether blue sent crews to the meters that no longer answer (they go on to the end).
    crews_out: bool,
    /// Transformers blue's crews are to leave for, in order ([`CREW_VISITS_PER_TICK`] a tick).
    crews: VecDeque<u32>,
    /// The same, for lookups.
    crews_queued: BTreeSet<u32>,
    /// Whether an action changed what the scoreboard counts since it was last computed.
    score_stale: bool,
    /// Whether some attack has begun (once true, always true).
    begun: bool,
    /// The meters' DLMS face, if the exercise exposes it.
    face: Option<Face>,
    /// Meters red opened for their keys, in order.
    opened: Vec<Opened>,
    /// Relay operations made through the DLMS face.
    dlms_relay_operations: u64,
    /// The meters red's DLMS ports reach.
    window: Window,
}

/// Red's DLMS requests' answers carry the meters' round trip, rounded to this many µs.
const ROUND_TRIP_US: u64 = 1_000;

impl LiveEngine {
    /// Builds the engine from `setup`.
    pub fn new(setup: Setup) -> Result<LiveEngine, LiveError> {
        let overrides = Overrides {
            meters: setup.meters.map(|m| m as i64),
            ..Overrides::default()
        };
        let scenario =
            scenario::load(&setup.scenario_file, &setup.scenario, &overrides).map_err(LiveError::Scenario)?;
        // The journal holds the scenario's text, not the files it names: a replay must not
        // depend on a file that may have changed.
        let raw = scenario::parse_raw(&setup.scenario_file, &setup.scenario).map_err(LiveError::Scenario)?;
        if matches!(raw.topology, scenario::RawTopology::File(_)) {
            return Err(LiveError::TopologyFile {
                file: setup.scenario_file.clone(),
                topology: scenario.topology_source.clone(),
            });
        }
        let network = crate::run::generate(&scenario)?;
        let stepper = Stepper::new(&scenario, network, false)?;
        let ctx = scenario.attack_context();
        let net = stepper.sim.network();
        let mut sums = vec![(0.0f64, 0.0f64, 0u32); net.feeders.len()];
        let mut bounds = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for m in &net.meters {
            let (x, y) = (f64::from(m.pos.x), f64::from(m.pos.y));
            let feeder = net.transformers.get(m.transformer as usize).map(|t| t.feeder);
            if let Some(s) = feeder.and_then(|f| sums.get_mut(f as usize)) {
                s.0 += x;
                s.1 += y;
                s.2 += 1;
            }
            bounds = [bounds[0].min(x), bounds[1].min(y), bounds[2].max(x), bounds[3].max(y)];
        }
        let feeders = sums
            .iter()
            .map(|&(x, y, n)| FeederPlace {
                x: x / f64::from(n.max(1)),
                y: y / f64::from(n.max(1)),
                meters: n,
                open: 0,
            })
            .collect();
        let n = stepper.sim.n_meters();
        let mesh = MeshIndex::new(
            net.meters
                .iter()
                .filter(|m| m.link == LinkKind::Mesh)
                .map(|m| (m.pos.x, m.pos.y)),
        );
        let mut engine = LiveEngine {
            setup,
            scenario,
            ctx,
            state: Some(State::Running(Box::new(stepper))),
            metrics_json: None,
            held: BTreeMap::new(),
            phishes: 0,
            red: Vec::new(),
            blue: Vec::new(),
            feeders,
            bounds,
            mesh,
            relay_open: vec![false; n],
            relays_seen: 0,
            scoreboard: Value::Null,
            frozen_until: None,
            isolated: false,
            revoked: BTreeSet::new(),
            rolling_back: false,
            crews_out: false,
            crews: VecDeque::new(),
            crews_queued: BTreeSet::new(),
            score_stale: false,
            begun: false,
            face: None,
            opened: Vec::new(),
            dlms_relay_operations: 0,
            window: Window { first: 0, meters: 0 },
        };
        if let Some(first) = engine.setup.dlms_first_meter {
            engine.window = Window {
                first,
                meters: (n as u32).saturating_sub(first).min(u32::from(u16::MAX)),
            };
        }
        engine.face = engine.setup.dlms_first_meter.map(|_| {
            Face::new(FaceConfig {
                // In an exercise the meters' keys are what red must obtain: no password client.
                password: None,
                // Exchanges are lost as the meters' paths would lose them.
                loss: true,
                limits: amirange_dlms::server::Limits::default(),
            })
        });
        engine.scoreboard = engine.score();
        Ok(engine)
    }

    fn state(&self) -> &State {
        self.state.as_ref().expect("the state is only taken inside `finish`")
    }

    fn sim(&self) -> &Sim {
        match self.state() {
            State::Running(s) => &s.sim,
            State::Done(sim, _) => sim,
        }
    }

    fn now_us(&self) -> u64 {
        self.sim().now().0
    }

    fn running(&mut self) -> Result<&mut Stepper, String> {
        match self.state.as_mut() {
            Some(State::Running(s)) => Ok(s),
            _ => Err("the exercise is over".into()),
        }
    }

    /// Whether some attack (red's or the scenario's own) has begun by now (remembered once
    /// true: the records and the clock only grow).
    fn attack_begun(&mut self) -> bool {
        if !self.begun {
            self.begun = self.attack_begun_now();
        }
        self.begun
    }

    fn attack_begun_now(&self) -> bool {
        let sim = self.sim();
        let now = sim.now();
        let ids: BTreeSet<String> = match self.state() {
            State::Running(s) => s.campaign.reports(sim).into_iter().map(|r| r.id).collect(),
            State::Done(_, m) => m.attacks.iter().map(|a| a.id.clone()).collect(),
        };
        sim.records()
            .truth
            .iter()
            .any(|t| t.time <= now && ids.contains(&t.source))
    }

    /// Whether an attacker holds or used `account`.
    fn account_compromised(&self, account: &str) -> bool {
        self.held.keys().any(|(_, a)| a == account)
            || self
                .sim()
                .hes()
                .audit
                .iter()
                .any(|a| a.account == account && matches!(a.cause, Cause::Attack(_)))
    }

    fn red_action(&mut self, team: &str, action: &Action) -> Result<Value, String> {
        let now_s = self.now_us() / MICROS;
        let n = self.red.len();
        let id = format!("{}-{}-{n}", slug(team), action.name());
        match action {
            Action::Phish { account } => {
                let plan = access::check(
                    &Access::Phishing {
                        account: account.clone(),
                        success: self.setup.phishing.success,
                        mfa_bypass: self.setup.phishing.mfa_bypass,
                        at: None,
                    },
                    &self.ctx,
                )
                .map_err(|e| e.message)?;
                let nth = self.phishes;
                let source = format!("{}-phish-{nth}", slug(team));
                let stepper = self.running()?;
                let now = stepper.sim.now();
                let held = plan
                    .take_nth(&mut stepper.sim, PHISH_STREAM, nth, &source, now)
                    .map_err(|e| e.to_string())?;
                self.phishes += 1;
                Ok(match held {
                    Held::Credential(c) => {
                        // A later phish that misses the second factor does not lose one held.
                        let held = self.held.entry((team.to_owned(), account.clone())).or_insert(false);
                        *held |= c.second_factor;
                        json!({"phished": true, "account": account, "second_factor": c.second_factor})
                    }
                    Held::Nothing(reason) => json!({"phished": false, "account": account, "reason": reason}),
                })
            }
            Action::Disconnect { account, feeders } => {
                let Some(&second_factor) = self.held.get(&(team.to_owned(), account.clone())) else {
                    return Err(format!("your team holds no password of {account}: phish it first"));
                };
                let spec = AttackSpec::MassDisconnect(mass_disconnect::Spec {
                    header: Header {
                        id: id.clone(),
                        at: format!("{now_s}s"),
                    },
                    access: Access::Stolen {
                        account: account.clone(),
                        second_factor,
                    },
                    targets: Targets::Feeders(once_each(feeders)),
                    batch: None,
                    spacing: None,
                });
                self.add_attack(team, spec, "mass-disconnect", now_s)
            }
            Action::PushFirmware {
                account,
                feeders,
                payload,
            } => {
                let Some(&second_factor) = self.held.get(&(team.to_owned(), account.clone())) else {
                    return Err(format!(
                        "your team holds no password of {account}: phish it first (the HES's firmware update is the channel)"
                    ));
                };
                let end_s = self.sim().horizon().0 / MICROS;
                let payload = match payload {
                    FirmwarePayload::FalseReadings => PayloadSpec::FalseReadings { share: 0.5 },
                    FirmwarePayload::Brick => PayloadSpec::Brick,
                    FirmwarePayload::Disconnect => PayloadSpec::Disconnect {
                        at: format!("{}s", (now_s + 1800).min(end_s.saturating_sub(1))),
                    },
                };
                let spec = AttackSpec::RogueFirmware(rogue_firmware::Spec {
                    header: Header {
                        id: id.clone(),
                        at: format!("{now_s}s"),
                    },
                    delivery: Delivery::Push {
                        access: Access::Stolen {
                            account: account.clone(),
                            second_factor,
                        },
                        targets: Targets::Feeders(once_each(feeders)),
                    },
                    signing: if self.setup.leaked_signing_key {
                        Signing::LeakedKey
                    } else {
                        Signing::Unsigned
                    },
                    payload,
                    image_kb: None,
                });
                self.add_attack(team, spec, "rogue-firmware", now_s)
            }
            Action::Jam {
                x_m,
                y_m,
                radius_m,
                strength,
                minutes,
            } => {
                let (x, y, r) = (*x_m as f32, *y_m as f32, *radius_m as f32);
                if !self.mesh.reaches(x, y, r) {
                    return Err(format!(
                        "no mesh radio within {radius_m} m of ({x_m}, {y_m}): a jammer there reaches nothing"
                    ));
                }
                let end_s = self.sim().horizon().0 / MICROS;
                let until = (now_s + u64::from(*minutes) * 60).min(end_s);
                let spec = AttackSpec::Jamming(jamming::Spec {
                    header: Header {
                        id: id.clone(),
                        at: format!("{now_s}s"),
                    },
                    until: format!("{until}s"),
                    center: Place::Point(x, y),
                    radius_m: r,
                    strength: Some(*strength as f32),
                    schedule: Default::default(),
                    theft: None,
                });
                self.add_attack(team, spec, "jamming", now_s)
            }
            Action::Clone { meter } => self.open_meter(team, &id, *meter, now_s),
            Action::Dlms { connection, bytes } => self.dlms(team, *connection, bytes),
            Action::DlmsClosed { connection } => {
                let face = self.face.as_mut().ok_or(NO_FACE)?;
                if face.close(*connection) {
                    Ok(json!({}))
                } else {
                    Err(format!("DLMS connection {connection} holds nothing"))
                }
            }
            _ => Err(format!("`{}` is not a red action", action.name())),
        }
    }

    /// Red opens `meter` at its premise: a cloning attack that only takes the key, whose
    /// extraction happens at the next tick ([`LiveEngine::read_keys`]).
    fn open_meter(&mut self, team: &str, id: &str, meter: u32, now_s: u64) -> Result<Value, String> {
        let n = self.sim().n_meters();
        if meter as usize >= n {
            return Err(format!("there is no meter {meter}: the network has {n}"));
        }
        if self
            .opened
            .iter()
            .any(|o| o.team == team && o.meter == meter && !matches!(o.keys, Keys::Failed(_)))
        {
            return Err(format!("your team has already opened meter {meter}"));
        }
        let group = self.sim().fleet().key_group[meter as usize];
        let index = self.running()?.campaign.len();
        let spec = AttackSpec::MeterCloning(cloning::Spec {
            header: Header {
                id: id.to_owned(),
                at: format!("{now_s}s"),
            },
            until: None,
            meter,
            extraction: Some(self.setup.cloning.extraction),
            reported_share: None,
            theft: false,
        });
        self.add_attack(team, spec, "meter-cloning", now_s)?;
        self.opened.push(Opened {
            team: team.to_owned(),
            id: id.to_owned(),
            index: index as u8,
            meter,
            group,
            keys: Keys::Pending,
        });
        Ok(json!({
            "attack": id,
            "meter": meter,
            "keys": "read over the debug port at the next tick: `snapshot` lists them",
        }))
    }

    /// After a step: the keys of the meters opened and not yet read, from their attacks'
    /// reports once the extraction has happened.
    fn read_keys(&mut self) {
        if !self.opened.iter().any(|o| matches!(o.keys, Keys::Pending)) {
            return;
        }
        let Some(State::Running(stepper)) = &self.state else {
            return;
        };
        let sim = &stepper.sim;
        let reports = stepper.campaign.reports(sim);
        for o in self.opened.iter_mut().filter(|o| matches!(o.keys, Keys::Pending)) {
            let extracted = sim
                .records()
                .truth
                .iter()
                .any(|t| t.source == o.id && t.kind == "key-extraction");
            let Some(report) = reports.get(usize::from(o.index)).filter(|_| extracted) else {
                continue;
            };
            o.keys = match (report.succeeded, crate::cosem::meter_keys(sim, o.meter)) {
                (true, Some(keys)) => Keys::Held {
                    encryption: hex::encode_upper(keys.encryption),
                    authentication: hex::encode_upper(keys.authentication),
                    opens: report.meters_compromised,
                },
                _ => Keys::Failed(
                    report
                        .failure_reason
                        .clone()
                        .unwrap_or_else(|| "the key could not be read".to_owned()),
                ),
            };
        }
    }

    /// Bytes from red's DLMS client on `connection`, answered by the meters as they are now;
    /// a relay operation becomes an engine input now, booked to the cloning that gave the key
    /// that opens the meter.
    fn dlms(&mut self, team: &str, connection: u64, bytes: &str) -> Result<Value, String> {
        let data = hex::decode(bytes).map_err(|e| format!("`bytes`: {e}"))?;
        let (Some(face), Some(State::Running(stepper))) = (self.face.as_mut(), self.state.as_mut()) else {
            return Err(if self.face.is_none() {
                NO_FACE.to_owned()
            } else {
                "the exercise is over".to_owned()
            });
        };
        let opened = &self.opened;
        let groups = &stepper.sim.fleet().key_group;
        let operator = |meter: u32| {
            let group = groups.get(meter as usize).copied();
            let holds = |o: &&Opened| Some(o.group) == group && matches!(o.keys, Keys::Held { .. });
            opened
                .iter()
                .filter(|o| o.team == team)
                .find(holds)
                .or_else(|| opened.iter().find(holds))
                .map_or_else(
                    || Operator {
                        source: format!("{}-dlms", slug(team)),
                        cause: Cause::Operation,
                    },
                    |o| Operator {
                        source: o.id.clone(),
                        cause: Cause::Attack(o.index),
                    },
                )
        };
        let exchange = face.receive(&stepper.sim, connection, self.window, &data, &operator);
        let now = stepper.sim.now();
        for input in exchange.inputs {
            let relay = matches!(input, Input::SetRelay { .. });
            stepper.sim.schedule(now, input).map_err(|e| e.to_string())?;
            self.dlms_relay_operations += u64::from(relay);
        }
        let round_trip_us = (exchange.round_trip_us.max(0.0) as u64).div_ceil(ROUND_TRIP_US) * ROUND_TRIP_US;
        Ok(match exchange.answer {
            Ok(answer) => json!({ "bytes": hex::encode_upper(answer), "round_trip_us": round_trip_us }),
            Err(closed) => json!({ "bytes": "", "close": closed.to_string() }),
        })
    }

    fn add_attack(&mut self, team: &str, spec: AttackSpec, kind: &'static str, at_s: u64) -> Result<Value, String> {
        let id = spec.id().to_owned();
        let ctx = self.ctx.clone();
        let stepper = self.running()?;
        stepper.campaign.add(&spec, &ctx, &mut stepper.sim).map_err(|e| {
            if e.field.is_empty() {
                e.message
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })?;
        self.red.push(RedAttack {
            team: team.to_owned(),
            id: id.clone(),
            kind,
            at_s,
        });
        Ok(json!({ "attack": id }))
    }

    fn blue_action(&mut self, team: &str, action: &Action) -> Result<Value, String> {
        let now_s = self.now_us() / MICROS;
        // Every refusal below comes before anything changes: a refusal is journalled in
        // summary only, and must leave the engine as it was.
        let mut extra = None;
        let (name, subject, false_action) = match action {
            Action::FreezeBulk { minutes } => {
                let now = self.sim().now();
                if let Some(until) = self.frozen_until.filter(|&t| t > now) {
                    return Err(format!(
                        "bulk commands are frozen already, until {} s",
                        until.0 / MICROS
                    ));
                }
                defender(self.running()?)?;
                let no_attack = (!self.attack_begun()).then(|| "no attack had begun".to_owned());
                let back = now + SimDuration::from_minutes(u64::from(*minutes));
                let (d, sim) = defender(self.running()?)?;
                d.respond_now(sim, Response::FreezeBulk(BULK_METERS), None)
                    .map_err(|e| e.to_string())?;
                if back < sim.horizon() {
                    sim.schedule(back, Input::FreezeBulk { above: None })
                        .map_err(|e| e.to_string())?;
                }
                self.frozen_until = Some(back);
                (
                    "freeze-bulk",
                    format!("above {BULK_METERS} meters for {minutes} min"),
                    no_attack,
                )
            }
            Action::RevokeAccount { account } => {
                if !self.ctx.accounts.iter().any(|a| &a.name == account) {
                    return Err(format!("no HES account {account}"));
                }
                if self.revoked.contains(account) {
                    return Err(format!("{account} is revoked already"));
                }
                defender(self.running()?)?;
                let innocent =
                    (!self.account_compromised(account)).then(|| format!("no attacker held or used {account}"));
                let (d, sim) = defender(self.running()?)?;
                d.respond_now(
                    sim,
                    Response::RevokeAccount,
                    Some(AlertSubject::Account(account.clone())),
                )
                .map_err(|e| e.to_string())?;
                self.revoked.insert(account.clone());
                ("revoke-account", account.clone(), innocent)
            }
            Action::IsolateHes {} => {
                if self.isolated {
                    return Err("the HES was isolated once already in this exercise".into());
                }
                defender(self.running()?)?;
                let no_attack = (!self.attack_begun()).then(|| "no attack had begun".to_owned());
                let (d, sim) = defender(self.running()?)?;
                d.respond_now(sim, Response::IsolateHes(HES_REBUILD), None)
                    .map_err(|e| e.to_string())?;
                self.isolated = true;
                ("isolate-hes", format!("rebuilt after {HES_REBUILD}"), no_attack)
            }
            Action::RollbackFirmware {} => {
                if self.rolling_back {
                    return Err("the rollback is under way already (it goes on to the end of the exercise)".into());
                }
                let (d, sim) = defender(self.running()?)?;
                d.respond_now(sim, Response::RollbackFirmware, None)
                    .map_err(|e| e.to_string())?;
                self.rolling_back = true;
                ("rollback-firmware", String::new(), None)
            }
            Action::DispatchCrews { transformers } if transformers.is_empty() => {
                if self.crews_out {
                    return Err(
                        "crews visit the meters that no longer answer already (they go on to the end of the exercise)"
                            .into(),
                    );
                }
                let (d, sim) = defender(self.running()?)?;
                d.respond_now(sim, Response::DispatchCrews, None)
                    .map_err(|e| e.to_string())?;
                self.crews_out = true;
                ("dispatch-crews", "to meters that no longer answer".to_owned(), None)
            }
            Action::DispatchCrews { transformers } => {
                let n = self.sim().network().transformers.len();
                if let Some(t) = transformers.iter().find(|&&t| t as usize >= n) {
                    return Err(format!("no transformer {t} (there are {n})"));
                }
                defender(self.running()?)?;
                let transformers = once_each(transformers);
                let new: Vec<u32> = transformers
                    .iter()
                    .copied()
                    .filter(|t| !self.crews_queued.contains(t))
                    .collect();
                if new.is_empty() {
                    return Err(format!(
                        "crews are on their way to all of these transformers already ({} transformers wait for a crew)",
                        self.crews.len()
                    ));
                }
                // The crews leave at the next ticks, CREW_VISITS_PER_TICK a tick, in this order.
                self.crews_queued.extend(new.iter().copied());
                self.crews.extend(new.iter().copied());
                extra = Some(json!({ "queued": new.len(), "waiting": self.crews.len() }));
                ("dispatch-crews", targets_subject("transformers", &transformers), None)
            }
            Action::SetThreshold { detector, field, value } => {
                let (d, _) = defender(self.running()?)?;
                d.set_threshold(detector, field, *value).map_err(|e| e.to_string())?;
                ("set-threshold", format!("{detector}.{field} = {value}"), None)
            }
            _ => return Err(format!("`{}` is not a blue action", action.name())),
        };
        let subject = clip(&subject, SUBJECT_CHARS);
        // Whether it was a false action is ground truth: white's view and the scoreboard say so,
        // blue's answer does not.
        let mut result = json!({ "done": name, "subject": subject });
        if let (Some(Value::Object(more)), Value::Object(fields)) = (extra, &mut result) {
            fields.extend(more);
        }
        self.blue.push(BlueAction {
            team: team.to_owned(),
            at_s: now_s,
            action: name,
            subject,
            false_action,
        });
        Ok(result)
    }

    /// Sends crews to the next transformers of the queue, [`CREW_VISITS_PER_TICK`] at most:
    /// each crew inspects the transformer's meters and hunts a jammer around the collector
    /// closest to it.
    fn send_crews(&mut self) -> Result<(), String> {
        for _ in 0..CREW_VISITS_PER_TICK {
            let Some(t) = self.crews.pop_front() else {
                break;
            };
            self.crews_queued.remove(&t);
            let (d, sim) = defender(self.running()?)?;
            d.respond_now(sim, Response::InspectMeters, Some(AlertSubject::Transformer(t)))
                .map_err(|e| e.to_string())?;
            let net = sim.network();
            let Some(at) = net.transformers.get(t as usize).map(|t| t.pos) else {
                continue;
            };
            let closest = (0..net.collectors.len()).min_by(|&a, &b| {
                let d = |c: usize| {
                    let p = net.collectors[c].pos;
                    (p.x - at.x).hypot(p.y - at.y)
                };
                d(a).total_cmp(&d(b))
            });
            if let Some(c) = closest {
                d.respond_now(sim, Response::HuntJammer, Some(AlertSubject::Collector(c as u32)))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn inject_outage(&mut self, feeder: u32, minutes: u32) -> Result<Value, String> {
        let n = self.sim().network().feeders.len();
        if feeder as usize >= n {
            return Err(format!("no feeder {feeder} (there are {n})"));
        }
        let stepper = self.running()?;
        let sim = &mut stepper.sim;
        let now = sim.now();
        sim.schedule(
            now,
            Input::FeederSupply {
                feeder,
                energized: false,
                cause: Cause::Outage,
            },
        )
        .map_err(|e| e.to_string())?;
        let back = now + SimDuration::from_minutes(u64::from(minutes));
        if back < sim.horizon() {
            sim.schedule(
                back,
                Input::FeederSupply {
                    feeder,
                    energized: true,
                    cause: Cause::Outage,
                },
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(json!({ "feeder": feeder, "minutes": minutes }))
    }

    /// The scoreboard from the run so far, by the exercise's rules.
    fn score(&self) -> Value {
        let rules = &self.setup.scoring;
        let sim = self.sim();
        // Detection: each attack's first true alert, as the run's measures match them.
        let detections: Vec<(String, Option<f64>)> = match self.state() {
            State::Running(s) => {
                let reports = s.campaign.reports(sim);
                let scored = crate::detection::score(sim, &reports, s.defender.as_ref(), None);
                reports
                    .into_iter()
                    .map(|r| r.id)
                    .zip(scored.attacks.iter().map(|a| a.time_to_detect_s))
                    .collect()
            }
            State::Done(_, m) => m.attacks.iter().map(|a| (a.id.clone(), a.time_to_detect_s)).collect(),
        };
        let false_actions = self
            .blue
            .iter()
            .filter_map(|b| {
                Some(FalseAction {
                    team: b.team.clone(),
                    action: b.action.to_owned(),
                    at_s: b.at_s,
                    why: b.false_action.clone()?,
                })
            })
            .collect();
        let tally = Tally::of(sim.records(), &sim.hes().audit, detections, false_actions);
        let rules = Rules {
            red_per_customer_hour: rules.red_per_customer_hour,
            red_per_critical_hour: rules.red_per_critical_hour,
            blue_detection: rules.blue_detection,
            detection_window_h: rules.detection_window_h,
            blue_per_meter_refused: rules.blue_per_meter_refused,
            false_action: rules.false_action,
        };
        serde_json::to_value(scoreboard(&rules, &tally)).unwrap_or(Value::Null)
    }

    fn timeline(&self, truth: bool) -> Value {
        let all = &self.sim().records().intervals;
        // The newest VIEW_INTERVALS: interval i of `all` is `first + i`.
        let first = all.len().saturating_sub(VIEW_INTERVALS);
        let records = &all[first..];
        let n_feeders = self.feeders.len();
        let scada = &self.sim().records().scada_kw;
        let t_s: Vec<u64> = records
            .iter()
            .map(|r| (u64::from(r.slot) + 1) * INTERVAL.as_micros() / MICROS)
            .collect();
        let load_kw: Vec<f64> = (first..all.len())
            .map(|i| {
                scada
                    .get(i * n_feeders..(i + 1) * n_feeders)
                    .map_or(0.0, |s| s.iter().map(|&k| f64::from(k)).sum::<f64>().round())
            })
            .collect();
        let reads: Vec<f64> = records
            .iter()
            .map(|r| {
                let expected = r.reads_on_time + r.reads_missing;
                if expected == 0 {
                    100.0
                } else {
                    round_to(100.0 * r.reads_on_time as f64 / expected as f64, 2)
                }
            })
            .collect();
        let mut t = json!({ "t_s": t_s, "load_kw": load_kw, "reads_on_time_pct": reads });
        if truth {
            t["customers_connected"] = json!(records.iter().map(|r| r.customers_connected).collect::<Vec<_>>());
            t["customers_off_by_attack"] = json!(records.iter().map(customers_off_by_attacks).collect::<Vec<_>>());
        }
        t
    }

    fn alerts(&self) -> Value {
        let alerts = &self.sim().records().alerts;
        let from = alerts.len().saturating_sub(VIEW_ALERTS);
        Value::Array(
            alerts[from..]
                .iter()
                .map(|a| {
                    json!({
                        "t_s": a.time.0 / MICROS,
                        "detector": a.detector,
                        "severity": format!("{:?}", a.severity).to_lowercase(),
                        "subject": a.subject,
                        "count": a.count,
                        "message": a.message,
                    })
                })
                .collect(),
        )
    }

    fn map(&self, truth: bool) -> Value {
        let sim = self.sim();
        let grid = sim.grid();
        let feeders: Vec<Value> = self
            .feeders
            .iter()
            .enumerate()
            .map(|(f, p)| {
                let mut v = json!({ "id": f, "x": p.x.round(), "y": p.y.round(), "meters": p.meters });
                if truth {
                    let off = if grid.feeders.get(f).is_some_and(|s| !s.energized) {
                        p.meters
                    } else {
                        p.open
                    };
                    v["off"] = json!(off);
                }
                v
            })
            .collect();
        let mut map = json!({ "bounds": self.bounds.map(f64::round), "feeders": feeders });
        if truth {
            map["jammers"] = Value::Array(
                sim.net_state()
                    .interference
                    .iter()
                    .map(|placed| {
                        let a = &placed.area;
                        json!({ "x": a.center.x, "y": a.center.y, "radius_m": a.radius_m, "on": placed.on })
                    })
                    .collect(),
            );
        }
        map
    }

    /// An opened meter as red's view lists it.
    fn key_view(&self, o: &Opened) -> Value {
        let mut v = json!({ "team": o.team, "meter": o.meter, "attack": o.id });
        match &o.keys {
            Keys::Pending => v["state"] = json!("pending"),
            Keys::Failed(why) => {
                v["state"] = json!("failed");
                v["reason"] = json!(why);
            }
            Keys::Held {
                encryption,
                authentication,
                opens,
            } => {
                v["state"] = json!("held");
                v["encryption_key"] = json!(encryption);
                v["authentication_key"] = json!(authentication);
                v["opens_meters"] = json!(opens);
                if self.face.is_some()
                    && let Some(w) = self.window.wport(o.meter)
                {
                    v["wport"] = json!(w);
                }
            }
        }
        v
    }

    fn clock_text(&self) -> String {
        let start = self.sim().config().start;
        start.plus(SimDuration::from_micros(self.now_us())).to_string()
    }
}

/// The defender and the engine it acts on.
fn defender(stepper: &mut Stepper) -> Result<(&mut amirange_defenses::monitor::Defender, &mut Sim), String> {
    let d = stepper
        .defender
        .as_mut()
        .ok_or_else(|| "this exercise's scenario has no `defenses`: blue has nothing to act through".to_owned())?;
    Ok((d, &mut stepper.sim))
}

/// `list` with each value once, where it first appears.
fn once_each(list: &[u32]) -> Vec<u32> {
    let mut seen = BTreeSet::new();
    list.iter().copied().filter(|t| seen.insert(*t)).collect()
}

/// "to transformers [0, 1]", naming [`SUBJECT_TARGETS`] at most and counting the rest.
fn targets_subject(what: &str, list: &[u32]) -> String {
    let named = &list[..list.len().min(SUBJECT_TARGETS)];
    let more = list.len() - named.len();
    if more == 0 {
        format!("to {what} {named:?}")
    } else {
        format!("to {what} {named:?} and {more} more")
    }
}

/// `text` cut to at most `chars` characters.
fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The newest `n` of `items`.
fn newest<T>(items: &[T], n: usize) -> &[T] {
    &items[items.len().saturating_sub(n)..]
}

/// A team's name as an attack id may hold it.
fn slug(team: &str) -> String {
    let s: String = team
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "team".into() } else { s }
}

impl Engine for LiveEngine {
    fn query(&self, query: &amirange_range::messages::Query) -> Result<Value, String> {
        use amirange_range::messages::{QUERY_PAGE, Query};
        let sim = self.sim();
        let at = |t: amirange_sim::time::SimTime| sim.config().start.plus(t.since_start()).to_string();
        // Newest first: page `page` of `rows` (oldest first), with how many there are.
        let page = |rows: Vec<Value>, page: u32| -> Value {
            let total = rows.len();
            let skip = (page as usize).saturating_mul(QUERY_PAGE);
            let shown: Vec<Value> = rows.into_iter().rev().skip(skip).take(QUERY_PAGE).collect();
            json!({ "page": page, "per_page": QUERY_PAGE, "total": total, "rows": shown })
        };
        match query {
            Query::Audit { account, page: p } => {
                let rows = sim
                    .hes()
                    .audit
                    .iter()
                    .filter(|a| account.as_ref().is_none_or(|x| *x == a.account))
                    .map(|a| {
                        json!({
                            "time": at(a.time),
                            "account": a.account,
                            "kind": a.kind.name(),
                            "purpose": a.purpose,
                            "targets": a.targets,
                            "refused": a.refused.map(|r| r.name()),
                            "executed": a.executed,
                            "acked": a.acked,
                            "failed": a.failed,
                        })
                    })
                    .collect();
                Ok(json!({ "of": "audit", "result": page(rows, *p) }))
            }
            Query::Events { meter, page: p } => {
                let rows = sim
                    .records()
                    .relay_events
                    .iter()
                    .filter(|e| meter.is_none_or(|m| m == e.meter))
                    .map(|e| json!({ "time": at(e.time), "meter": e.meter, "relay": if e.open { "opened" } else { "closed" } }))
                    .collect();
                Ok(json!({ "of": "events", "result": page(rows, *p) }))
            }
            Query::Census {} => {
                let fleet = sim.fleet();
                let mut per_image = vec![0u64; fleet.images.len()];
                let (mut silent, mut legacy) = (0u64, 0u64);
                for ((&image, &failed), &by) in fleet.firmware.iter().zip(&fleet.failed).zip(&fleet.downgraded_by) {
                    if failed {
                        silent += 1;
                        continue;
                    }
                    if let Some(n) = per_image.get_mut(usize::from(image)) {
                        *n += 1;
                    }
                    legacy += u64::from(by > 0);
                }
                let images: Vec<Value> = per_image
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| json!({ "version": fleet.images[i].version, "meters": n }))
                    .collect();
                Ok(
                    json!({ "of": "census", "result": { "images": images, "not_answering": silent, "legacy_level": legacy } }),
                )
            }
            Query::Meter { meter } => {
                let m = *meter;
                let site = sim.network().meters.get(m as usize).ok_or_else(|| {
                    format!(
                        "there is no meter {m}: the meters are 0 to {}",
                        sim.n_meters().saturating_sub(1)
                    )
                })?;
                let fleet = sim.fleet();
                let i = m as usize;
                let transformer = site.transformer;
                let feeder = sim.network().transformers.get(transformer as usize).map(|t| t.feeder);
                let relay = sim.meter(m).map(|x| format!("{:?}", x.relay).to_lowercase());
                let reads: Vec<Value> = sim
                    .load_profile_memory(m)
                    .map(|memory| {
                        let until = memory.recorded_until;
                        let from = until.saturating_sub(amirange_sim::model::LOAD_PROFILE_DEPTH as u32);
                        (from..until)
                            .map(|slot| {
                                let end = amirange_sim::time::SimTime(u64::from(slot + 1) * INTERVAL.as_micros());
                                json!({ "end": at(end), "wh": memory.wh[slot as usize % amirange_sim::model::LOAD_PROFILE_DEPTH] })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(json!({ "of": "meter", "result": {
                    "meter": m,
                    "class": site.class.name(),
                    "link": site.link.name(),
                    "feeder": feeder,
                    "transformer": transformer,
                    "relay": relay,
                    "firmware": fleet.images.get(usize::from(fleet.firmware[i])).map(|img| img.version.clone()),
                    "answering": !fleet.failed[i],
                    "legacy_level": fleet.downgraded_by[i] > 0,
                    "reads": reads,
                }}))
            }
            Query::Flows { host, page: p } => {
                let host: Option<std::net::Ipv4Addr> = host.as_deref().and_then(|h| h.parse().ok());
                let rows = sim
                    .records()
                    .flows
                    .iter()
                    .filter(|f| f.time.0 < self.now_us())
                    .map(|f| {
                        (
                            f,
                            amirange_defenses::wire::address(f.src),
                            amirange_defenses::wire::address(f.dst),
                        )
                    })
                    .filter(|(_, src, dst)| host.is_none_or(|h| h == *src || h == *dst))
                    .map(|(f, src, dst)| {
                        json!({
                            "time": at(f.time),
                            "seconds": f.seconds,
                            "src": src.to_string(),
                            "sources": f.sources,
                            "dst": dst.to_string(),
                            "port": f.port,
                            "proto": if f.udp { "udp" } else { "tcp" },
                            "connections": f.connections,
                            "established": f.established,
                            "bytes": f.bytes,
                        })
                    })
                    .collect();
                Ok(json!({ "of": "flows", "result": page(rows, *p) }))
            }
        }
    }

    fn now_s(&self) -> u64 {
        self.now_us() / MICROS
    }

    fn end_s(&self) -> u64 {
        self.sim().horizon().0 / MICROS
    }

    fn advance(&mut self, to_s: u64) -> Result<(), String> {
        let before = self.now_us();
        // The crews dispatched so far leave now, at the tick the dispatch was carried out at
        // or after, a bounded number a tick.
        if !self.crews.is_empty() {
            self.send_crews()?;
        }
        self.running()?
            .step_to(SimTime(to_s * MICROS))
            .map_err(|e| with_causes(&e))?;
        let Some(State::Running(stepper)) = &self.state else {
            return Err("the exercise is over".into());
        };
        // Per-feeder open relays, kept up to date here so that a view never scans the fleet.
        let net = stepper.sim.network();
        let events = &stepper.sim.records().relay_events;
        for e in &events[self.relays_seen..] {
            let Some(was) = self.relay_open.get_mut(e.meter as usize) else {
                continue;
            };
            if *was == e.open {
                continue;
            }
            *was = e.open;
            let feeder = net.transformers[net.meters[e.meter as usize].transformer as usize].feeder;
            if let Some(p) = self.feeders.get_mut(feeder as usize) {
                p.open = if e.open { p.open + 1 } else { p.open.saturating_sub(1) };
            }
        }
        self.relays_seen = events.len();
        self.read_keys();
        let interval = INTERVAL.as_micros();
        if self.score_stale || before / interval != (to_s * MICROS) / interval {
            self.scoreboard = self.score();
            self.score_stale = false;
        }
        Ok(())
    }

    fn apply(&mut self, team: &str, role: Role, action: &Action) -> Result<Value, String> {
        let result = match (role, action) {
            (Role::Red, _) => self.red_action(team, action),
            (Role::Blue, _) => self.blue_action(team, action),
            (Role::White, Action::InjectOutage { feeder, minutes }) => self.inject_outage(*feeder, *minutes),
            _ => Err(format!("`{}` does not act on the engine", action.name())),
        };
        // Scoring looks at the whole run so far: once a tick, not after every action.
        self.score_stale |= result.is_ok();
        result
    }

    fn view(&self, role: Role) -> Value {
        let time = self.clock_text();
        match role {
            Role::Red => {
                let held: Vec<Value> = self
                    .held
                    .iter()
                    .map(|((team, account), mfa)| json!({"team": team, "account": account, "second_factor": mfa}))
                    .collect();
                let keys: Vec<Value> = self.opened.iter().map(|o| self.key_view(o)).collect();
                json!({
                    "time": time,
                    "accounts": self.ctx.accounts.iter().map(|a| &a.name).collect::<Vec<_>>(),
                    "feeders": self.feeders.len(),
                    "meters": self.sim().n_meters(),
                    "bounds": self.bounds.map(f64::round),
                    "held": held,
                    "keys": keys,
                    "dlms": self.setup.dlms_first_meter.map(|first| json!({
                        "first_meter": first,
                        "wports": format!("wPort w is meter {first} + w - 1 (w from 1 to {})", self.window.meters),
                        "gateway": "any meter through the DLMS gateway protocol: network 0, physical address AMR and the meter's index in 8 digits",
                        "clients": [
                            {"wport": crate::face::PUBLIC_CLIENT, "authentication": "none", "may": "read"},
                            {"wport": crate::face::HLS_CLIENT, "authentication": "HLS-GMAC, security suite 0, with a held key", "may": "read, operate the relay"},
                        ],
                    })),
                    "attacks": newest(&self.red, VIEW_ACTIONS),
                    "attacks_total": self.red.len(),
                })
            }
            Role::Blue => json!({
                "time": time,
                "timeline": self.timeline(false),
                "alerts": self.alerts(),
                "map": self.map(false),
                "responses": newest(&self.blue, VIEW_ACTIONS)
                    .iter()
                    .map(|b| json!({"team": b.team, "at_s": b.at_s, "action": b.action, "subject": b.subject}))
                    .collect::<Vec<_>>(),
                "responses_total": self.blue.len(),
                "crews_waiting": self.crews.len(),
            }),
            Role::White => {
                let truth: Vec<Value> = self
                    .sim()
                    .records()
                    .truth
                    .iter()
                    .rev()
                    .take(VIEW_ALERTS)
                    .map(|t| json!({"t_s": t.time.0 / MICROS, "source": t.source, "kind": t.kind, "detail": t.detail}))
                    .collect();
                json!({
                    "time": time,
                    "timeline": self.timeline(true),
                    "alerts": self.alerts(),
                    "map": self.map(true),
                    "scoreboard": self.scoreboard,
                    "attacks": newest(&self.red, VIEW_ACTIONS),
                    "attacks_total": self.red.len(),
                    "responses": newest(&self.blue, VIEW_ACTIONS),
                    "responses_total": self.blue.len(),
                    "crews_waiting": self.crews.len(),
                    "truth": truth,
                })
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, String> {
        if let Some(m) = &self.metrics_json {
            return Ok(m.clone());
        }
        if !matches!(self.state, Some(State::Running(_))) {
            return Err("the exercise has already finished".into());
        }
        let Some(State::Running(stepper)) = self.state.take() else {
            return Err("the exercise has already finished".into());
        };
        let (sim, metrics, _map) = stepper.finish(&self.scenario);
        self.state = Some(State::Done(Box::new(sim), Box::new(metrics)));
        self.scoreboard = self.score();
        let State::Done(_, metrics) = self.state() else {
            return Err("the exercise has already finished".into());
        };
        let mut value = serde_json::to_value(metrics).map_err(|e| e.to_string())?;
        value["exercise"] = json!({
            "name": self.setup.exercise,
            "scoreboard": self.scoreboard,
            "red_attacks": self.red,
            "blue_actions": self.blue,
            "phishes": self.phishes,
            "dlms_relay_operations": self.dlms_relay_operations,
        });
        let mut bytes = serde_json::to_vec_pretty(&value).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        self.metrics_json = Some(bytes.clone());
        Ok(bytes)
    }

    fn setup(&self) -> Value {
        serde_json::to_value(&self.setup).unwrap_or(Value::Null)
    }
}

/// Why a DLMS action is refused in an exercise without the meters' DLMS face.
const NO_FACE: &str = "this exercise exposes no DLMS face (its file has no `dlms` section)";

/// The tick the live session steps by, in microseconds (for callers sizing progress).
pub const TICK_US: u64 = TICK_S * MICROS;

#[cfg(test)]
mod tests {
    use super::*;

    /// The live range checks `set-threshold` against its own table before the defender sees
    /// it; that table must be the one the detectors declare, field for field.
    #[test]
    fn the_range_tunables_are_the_ones_the_detectors_declare() {
        let range = amirange_range::messages::TUNABLES;
        let detectors = amirange_defenses::spec::TUNABLES;
        assert_eq!(range.len(), detectors.len());
        for (r, d) in range.iter().zip(detectors) {
            assert_eq!(
                (r.detector, r.field, r.min, r.max, r.whole, r.unit),
                (d.detector.name(), d.field, d.min, d.max, d.whole, d.unit)
            );
        }
    }

    #[test]
    fn the_jammer_reach_index_agrees_with_a_scan_of_every_meter() {
        // A fixed scatter of places (a small linear congruential sequence), some in a cluster.
        let mut state: u64 = 12_345;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) * 20_000.0 - 10_000.0
        };
        let places: Vec<(f32, f32)> = (0..2_000).map(|_| (next(), next() / 4.0)).collect();
        let index = MeshIndex::new(places.iter().copied());
        let scan = |x: f32, y: f32, r: f32| places.iter().any(|&(px, py)| (px - x).hypot(py - y) <= r);
        for _ in 0..2_000 {
            let (x, y, r) = (next() * 1.5, next(), (next() + 10_000.0) / 4.0 + 0.5);
            assert_eq!(index.reaches(x, y, r), scan(x, y, r), "at ({x}, {y}) within {r} m");
        }
        // A place exactly on a radio, and places far off the map.
        let (px, py) = places[7];
        assert!(index.reaches(px, py, 0.001));
        assert!(!index.reaches(3.0e38, -3.0e38, 5000.0));
        assert!(!index.reaches(f32::INFINITY, 0.0, 5000.0));
    }
}
