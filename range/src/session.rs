//! An exercise session: the engine paced by the wall clock, the players' requests turned into
//! timestamped engine inputs, and the journal that replays them.
//!
//! The engine moves in ticks of [`TICK_S`] simulated seconds, always the same ticks whatever
//! the pace, the pauses or the network: a request is carried out at the simulated time the
//! engine has reached (a tick boundary) and journalled with it. [`replay`] steps a fresh engine
//! over the same ticks and applies the journalled requests at the same boundaries, so a replay
//! is the same run, byte for byte. The wall clock only decides *when* the next tick is taken.
//!
//! The session writes no file: it produces the journal's text ([`Session::journal_unwritten`])
//! and keeps only a window of its recent lines; the exercise's thread ([`crate::live`]) writes
//! the text and says whether it could ([`Session::journal_written`],
//! [`Session::journal_failed`]). Refused requests change nothing, so they are counted and
//! journalled in summary ([`Refusals`], one line per team, action and reason every
//! [`REFUSALS_EVERY_S`] wall seconds) rather than one line each. The journal has a cap
//! ([`DEFAULT_JOURNAL_CAP`]): near it, or when the journal cannot be written, the session
//! pauses the clock and refuses every action it would have to journal, and white's view says
//! why (`journal` in [`Session::view`]); no action is carried out that could not be journalled.
//!
//! The engine itself is the root package's (`amirange serve` builds it from the exercise's
//! scenario); this crate sees it through [`Engine`], so the network never reaches the model.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::{Action, Role};

/// Simulated seconds per tick: the grid every request is carried out on.
pub const TICK_S: u64 = 60;

/// The version of the journal's format this amirange writes: 2 added the refusal summaries
/// ([`Refusals`]); version 1 journals (a line per refusal) are still read and replayed.
pub const JOURNAL_VERSION: u32 = 2;

/// The oldest journal version this amirange reads.
pub const OLDEST_JOURNAL_VERSION: u32 = 1;

/// The journal's size at which it stops taking actions, bytes (header included): 1 GiB.
///
/// A policy choice: large enough for an eight-hour exercise in which three teams act at the
/// per-team rate limit (20 requests a second) the whole time with entries of a few hundred
/// bytes (about 0.5 GB), small enough that a journal never fills a disk sized for results.
/// Refusals cost at most a few lines a second per team whatever their number, so they cannot
/// bring the journal to its cap in any realistic exercise. At the cap the exercise pauses and
/// white is told; white may resume it (the clock runs on and the run still reaches its end and
/// replays, but no more actions are accepted).
///
/// It is the most `amirange replay` reads ([`amirange_files::MAX_JOURNAL_BYTES`]), so every
/// journal the range writes can be replayed.
pub const DEFAULT_JOURNAL_CAP: u64 = amirange_files::MAX_JOURNAL_BYTES;

/// Room kept below the cap, bytes (1 MiB): engine actions are refused once the journal is
/// within this of its cap, so that the entry of an action carried out always fits (an entry
/// is its request, at most a frame of 64 KiB, and a short answer). White's clock actions may
/// use the room.
pub const JOURNAL_HEADROOM: u64 = 1 << 20;

/// Journal lines a session keeps in memory, the most recent (the rest is on disk only).
pub const JOURNAL_WINDOW: usize = 1024;

/// How often refusals are summarised into the journal, wall seconds (and when the exercise
/// stops): a line per team, action and reason at most this often, whatever the flood.
pub const REFUSALS_EVERY_S: f64 = 1.0;

/// Distinct (action, reason) pairs counted per team between two summaries; further ones are
/// counted together under the action [`SEVERAL`] (a flood whose reasons all differ, e.g. a
/// different out-of-range number in each, still costs a bounded number of lines).
pub const REFUSAL_KINDS: usize = 8;

/// The action name of a summary line that counts refusals of several kinds together.
pub const SEVERAL: &str = "(several)";

/// The longest reason a summary line keeps, characters (reasons quote what was sent).
pub const REASON_CHARS: usize = 200;

/// What a session needs of the simulation.
///
/// An action the engine refuses (`apply` returns `Err`) must leave it exactly as it was: the
/// journal counts refusals without replaying them.
pub trait Engine: Send {
    /// Simulated seconds since the start, always a multiple of [`TICK_S`].
    fn now_s(&self) -> u64;
    /// The end of the run, in simulated seconds.
    fn end_s(&self) -> u64;
    /// Steps to `to_s` (the next tick, or the end).
    fn advance(&mut self, to_s: u64) -> Result<(), String>;
    /// Carries out a player's engine action now: a red or blue action, or `inject-outage`.
    /// Returns what the player is told, or why it is refused (a precondition unmet, and then
    /// nothing changed).
    fn apply(&mut self, team: &str, role: Role, action: &Action) -> Result<Value, String>;
    /// The state as `role` may see it (`snapshot`); white's view includes the ground truth
    /// and the scoreboard.
    fn view(&self, role: Role) -> Value;
    /// Blue's investigation: what `query` asks of the engine's state now, changing nothing;
    /// why not when it cannot be answered (a meter that does not exist).
    fn query(&self, query: &crate::messages::Query) -> Result<Value, String>;
    /// After the end: the run's `metrics.json`, with the scoreboard.
    fn finish(&mut self) -> Result<Vec<u8>, String>;
    /// How to build this engine again, for the journal's header (opaque to the session).
    fn setup(&self) -> Value;
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Carried out; what the player was told.
    Accepted {
        /// The answer's payload.
        result: Value,
    },
    /// Refused, and why.
    Refused {
        /// The reason given to the player.
        reason: String,
    },
}

/// One journalled request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its place in the journal, from 0.
    pub seq: u64,
    /// The simulated second it was carried out (or refused) at.
    pub at_s: u64,
    /// The team that asked.
    pub team: String,
    /// Its role.
    pub role: Role,
    /// What it asked (target lists deduplicated, see [`deduplicated`]).
    pub action: Action,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The outcome of every request a [`Refusals`] line counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllRefused {
    /// Refused.
    #[default]
    Refused,
}

/// Refused requests of one team, counted: `count` requests for `action` refused for `reason`
/// since the previous summary. A journal line of its own (it has `count`), in the sequence
/// of entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusals {
    /// Its place in the journal, from 0 (shared with [`Entry`]).
    pub seq: u64,
    /// The simulated second the engine had reached when the summary was written (the
    /// refusals came at or before it, after the previous summary's).
    pub at_s: u64,
    /// The team that asked.
    pub team: String,
    /// Its role.
    pub role: Role,
    /// The refused action's name on the wire (`phish`), or [`SEVERAL`].
    pub action: String,
    /// Always `refused`: the field a reader of entries looks at.
    pub outcome: AllRefused,
    /// Why (at most [`REASON_CHARS`] characters; for [`SEVERAL`], a note).
    pub reason: String,
    /// How many requests, at least 1.
    pub count: u64,
}

/// One line of the journal after its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Line {
    /// Refusals, counted (journal version 2).
    Refusals(Refusals),
    /// A request carried out (in a version 1 journal, also each refusal).
    Request(Entry),
}

impl Line {
    /// Its place in the journal.
    pub fn seq(&self) -> u64 {
        match self {
            Line::Request(e) => e.seq,
            Line::Refusals(r) => r.seq,
        }
    }

    /// The simulated second it was written at.
    pub fn at_s(&self) -> u64 {
        match self {
            Line::Request(e) => e.at_s,
            Line::Refusals(r) => r.at_s,
        }
    }

    /// The request, if it is one.
    pub fn request(&self) -> Option<&Entry> {
        match self {
            Line::Request(e) => Some(e),
            Line::Refusals(_) => None,
        }
    }

    fn set_seq(&mut self, seq: u64) {
        match self {
            Line::Request(e) => e.seq = seq,
            Line::Refusals(r) => r.seq = seq,
        }
    }
}

/// The journal's first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`JOURNAL_VERSION`].
    pub journal: u32,
    /// The exercise's name.
    pub exercise: String,
    /// Simulated seconds per tick.
    pub tick_s: u64,
    /// How to build the engine (the root package's).
    pub setup: Value,
}

/// Whether `action` changes the engine (and so must be replayed).
pub fn drives_engine(action: &Action) -> bool {
    (matches!(action.role(), Some(Role::Red | Role::Blue)) && !matches!(action, Action::Query { .. }))
        || matches!(action, Action::InjectOutage { .. })
}

/// Whether `action` only reads.
fn reads_only(action: &Action) -> bool {
    matches!(
        action,
        Action::Snapshot {} | Action::GroundTruth {} | Action::Query { .. }
    )
}

/// `action` with its target lists deduplicated (each feeder or transformer kept where it first
/// appears): naming a target twice does no more than naming it once, and the journal keeps
/// the shorter form.
pub fn deduplicated(action: &Action) -> Cow<'_, Action> {
    let list = match action {
        Action::Disconnect { feeders, .. } | Action::PushFirmware { feeders, .. } => feeders,
        Action::DispatchCrews { transformers } => transformers,
        _ => return Cow::Borrowed(action),
    };
    let mut seen = BTreeSet::new();
    if list.iter().all(|t| seen.insert(*t)) {
        return Cow::Borrowed(action);
    }
    seen.clear();
    let mut owned = action.clone();
    if let Action::Disconnect { feeders: list, .. }
    | Action::PushFirmware { feeders: list, .. }
    | Action::DispatchCrews { transformers: list } = &mut owned
    {
        list.retain(|t| seen.insert(*t));
    }
    Cow::Owned(owned)
}

/// The clock: simulated time as the wall clock and the white team's controls say.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Clock {
    /// Simulated seconds per wall-clock second.
    pace: f64,
    paused: bool,
    /// Where the simulated clock stood at `wall_base`.
    sim_base: f64,
    /// Wall seconds of the last change.
    wall_base: f64,
}

impl Clock {
    fn due(&self, wall: f64) -> f64 {
        if self.paused {
            self.sim_base
        } else {
            self.sim_base + self.pace * (wall - self.wall_base).max(0.0)
        }
    }

    /// Re-bases at `wall`, the simulated clock held to at most `engine_s` ahead of the engine
    /// plus one tick (a change of pace does not make the clock jump).
    fn rebase(&mut self, wall: f64, engine_s: u64) {
        self.sim_base = self.due(wall).min((engine_s + TICK_S) as f64);
        self.wall_base = wall;
    }
}

/// Why the journal takes no more actions.
#[derive(Debug, Clone, PartialEq)]
enum Blocked {
    /// It is within [`JOURNAL_HEADROOM`] of its cap.
    Cap,
    /// It could not be written; why.
    Failed(String),
}

/// One team's refusals since the last summary.
#[derive(Debug, Clone)]
struct TeamTally {
    role: Role,
    /// Per action, per reason: how many.
    kinds: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// How many distinct (action, reason) pairs `kinds` holds.
    n_kinds: usize,
    /// Refusals past [`REFUSAL_KINDS`] pairs.
    several: u64,
}

/// The journal as the session produces it: text not yet written, a window of recent lines,
/// the refusals being counted.
#[derive(Debug)]
struct Ledger {
    next_seq: u64,
    /// Text produced and not yet confirmed written (the header first).
    unwritten: String,
    /// The most recent lines, at most [`JOURNAL_WINDOW`].
    window: VecDeque<Line>,
    /// Bytes produced so far, header included.
    bytes: u64,
    cap: u64,
    /// Requests refused so far.
    refused: u64,
    /// Refusals counted but not journalled (the journal was blocked).
    not_journalled: u64,
    tallies: BTreeMap<String, TeamTally>,
    /// Wall second of the first refusal counted since the last summary.
    tallied_since: Option<f64>,
    blocked: Option<Blocked>,
}

impl Ledger {
    fn new(header: &Header) -> Ledger {
        let unwritten = json_line(header);
        Ledger {
            next_seq: 0,
            bytes: unwritten.len() as u64,
            unwritten,
            window: VecDeque::new(),
            cap: DEFAULT_JOURNAL_CAP,
            refused: 0,
            not_journalled: 0,
            tallies: BTreeMap::new(),
            tallied_since: None,
            blocked: None,
        }
    }

    fn push(&mut self, mut line: Line) {
        line.set_seq(self.next_seq);
        self.next_seq += 1;
        let text = json_line(&line);
        self.bytes += text.len() as u64;
        self.unwritten.push_str(&text);
        if self.window.len() >= JOURNAL_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(line);
    }

    /// Whether an engine action's entry still fits below the cap.
    fn has_room(&self) -> bool {
        self.bytes.saturating_add(JOURNAL_HEADROOM) <= self.cap
    }

    fn tally(&mut self, team: &str, role: Role, action: &'static str, reason: &str, wall: f64) {
        self.refused += 1;
        self.tallied_since.get_or_insert(wall);
        let t = self.tallies.entry(team.to_owned()).or_insert_with(|| TeamTally {
            role,
            kinds: BTreeMap::new(),
            n_kinds: 0,
            several: 0,
        });
        let reason = clip(reason, REASON_CHARS);
        if let Some(n) = t.kinds.get_mut(action).and_then(|r| r.get_mut(reason)) {
            *n += 1;
        } else if t.n_kinds < REFUSAL_KINDS {
            t.n_kinds += 1;
            t.kinds.entry(action).or_default().insert(reason.to_owned(), 1);
        } else {
            t.several += 1;
        }
    }

    /// Writes the refusals counted so far as summary lines at `at_s` (or only counts them,
    /// when the journal is blocked).
    fn summarise(&mut self, at_s: u64) {
        self.tallied_since = None;
        let tallies = std::mem::take(&mut self.tallies);
        let journalled = self.blocked.is_none() && self.has_room();
        for (team, t) in tallies {
            let several = (t.several > 0).then(|| {
                (
                    SEVERAL,
                    format!("refusals of further kinds (more than {REFUSAL_KINDS} kinds in one summary)"),
                    t.several,
                )
            });
            let kinds = t
                .kinds
                .into_iter()
                .flat_map(|(action, reasons)| reasons.into_iter().map(move |(reason, n)| (action, reason, n)));
            for (action, reason, count) in kinds.chain(several) {
                if !journalled {
                    self.not_journalled += count;
                    continue;
                }
                self.push(Line::Refusals(Refusals {
                    seq: 0,
                    at_s,
                    team: team.clone(),
                    role: t.role,
                    action: action.to_owned(),
                    outcome: AllRefused::Refused,
                    reason,
                    count,
                }));
            }
        }
    }
}

/// `text` cut to at most `chars` characters (on a character boundary).
fn clip(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The journal's state, for white's view and the server's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalState {
    /// Bytes produced so far, header included (written or waiting to be).
    pub bytes: u64,
    /// The cap, bytes.
    pub cap: u64,
    /// Bytes produced but not yet written.
    pub unwritten_bytes: u64,
    /// Lines after the header.
    pub lines: u64,
    /// Requests refused so far (journalled in summary).
    pub refused: u64,
    /// Refused requests counted but not journalled, because the journal was blocked.
    pub refusals_not_journalled: u64,
    /// Why the journal takes no more actions, if it does not (the exercise was paused then).
    pub blocked: Option<String>,
}

/// A live exercise: its engine, clock and journal.
pub struct Session {
    engine: Box<dyn Engine>,
    exercise: String,
    clock: Clock,
    ledger: Ledger,
    /// The longest the engine has been behind the clock, simulated seconds.
    max_lag_s: f64,
    /// White's broadcasts, the newest [`crate::messages::MESSAGES_KEPT`]: when (simulated
    /// seconds) and what.
    broadcasts: VecDeque<(u64, String)>,
}

/// The state of the clock, for views and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockState {
    /// Simulated seconds since the start the engine has reached.
    pub sim_time_s: u64,
    /// The end of the run.
    pub end_s: u64,
    /// Simulated seconds per wall second.
    pub pace: f64,
    /// Whether the white team paused it.
    pub paused: bool,
    /// Whether the run reached its end.
    pub finished: bool,
    /// The engine's largest lag behind the clock so far, simulated seconds.
    pub max_lag_s: f64,
}

impl Session {
    /// A session for `engine` at `pace`, its clock started at wall second `wall`. Its journal
    /// starts with the header ([`Session::journal_unwritten`]); its cap is
    /// [`DEFAULT_JOURNAL_CAP`].
    pub fn new(engine: Box<dyn Engine>, exercise: &str, pace: f64, wall: f64) -> Session {
        let sim_base = engine.now_s() as f64;
        let header = Header {
            journal: JOURNAL_VERSION,
            exercise: exercise.to_owned(),
            tick_s: TICK_S,
            setup: engine.setup(),
        };
        Session {
            engine,
            exercise: exercise.to_owned(),
            clock: Clock {
                pace,
                paused: false,
                sim_base,
                wall_base: wall,
            },
            ledger: Ledger::new(&header),
            max_lag_s: 0.0,
            broadcasts: VecDeque::new(),
        }
    }

    /// The same session with a journal cap of `cap_bytes` instead of [`DEFAULT_JOURNAL_CAP`].
    pub fn with_journal_cap(mut self, cap_bytes: u64) -> Session {
        self.ledger.cap = cap_bytes;
        self
    }

    /// The journal's header.
    pub fn header(&self) -> Header {
        Header {
            journal: JOURNAL_VERSION,
            exercise: self.exercise.clone(),
            tick_s: TICK_S,
            setup: self.engine.setup(),
        }
    }

    /// The most recent journal lines (at most [`JOURNAL_WINDOW`]; the journal's text holds
    /// them all).
    pub fn journal_window(&self) -> &VecDeque<Line> {
        &self.ledger.window
    }

    /// The journal's text not yet written: the header at first, then each line as it comes.
    pub fn journal_unwritten(&self) -> &str {
        &self.ledger.unwritten
    }

    /// Says that [`Session::journal_unwritten`] is written (and durable): the session drops it.
    pub fn journal_written(&mut self) {
        self.ledger.unwritten.clear();
    }

    /// Says that the journal could not be written (`why`, e.g. "No space left on device") at
    /// wall second `wall`: the clock pauses and every request that would need a journal line is
    /// refused until [`Session::journal_recovered`]. The unwritten text is kept.
    pub fn journal_failed(&mut self, why: &str, wall: f64) {
        self.ledger.blocked = Some(Blocked::Failed(why.to_owned()));
        self.pause_for_the_journal(wall);
    }

    /// Whether the journal takes no more actions (it reached its cap, or is failing).
    pub fn journal_blocked(&self) -> bool {
        self.ledger.blocked.is_some()
    }

    /// Whether the journal is failing ([`Session::journal_failed`] and not recovered).
    pub fn journal_failing(&self) -> bool {
        matches!(self.ledger.blocked, Some(Blocked::Failed(_)))
    }

    /// Says that the journal is written again: actions are taken again (the clock stays paused
    /// until white resumes it).
    pub fn journal_recovered(&mut self) {
        if self.journal_failing() {
            self.ledger.blocked = (!self.ledger.has_room()).then_some(Blocked::Cap);
        }
    }

    /// The journal's state.
    pub fn journal_state(&self) -> JournalState {
        let l = &self.ledger;
        let blocked = l.blocked.as_ref().map(|b| match b {
            Blocked::Cap => format!(
                "the journal reached its cap ({} of {} bytes): the exercise was paused and takes no more actions \
                 (white may resume the clock; `amirange replay` replays the journal)",
                l.bytes, l.cap
            ),
            Blocked::Failed(why) => format!(
                "the journal cannot be written ({why}): the exercise is paused and takes no actions until it can \
                 (free space, then resume)"
            ),
        });
        JournalState {
            bytes: l.bytes,
            cap: l.cap,
            unwritten_bytes: l.unwritten.len() as u64,
            lines: l.next_seq,
            refused: l.refused,
            refusals_not_journalled: l.not_journalled,
            blocked,
        }
    }

    /// Writes the refusals counted so far as summary lines if [`REFUSALS_EVERY_S`] passed
    /// since the first of them (call it from time to time).
    pub fn poll(&mut self, wall: f64) {
        if self
            .ledger
            .tallied_since
            .is_some_and(|since| wall - since >= REFUSALS_EVERY_S)
        {
            self.summarise_refusals();
        }
    }

    /// Writes the refusals counted so far as summary lines now (when the exercise stops).
    pub fn summarise_refusals(&mut self) {
        if self.ledger.tallied_since.is_some() {
            // On the tick grid even after a run whose end is off it.
            let now = self.engine.now_s();
            self.ledger.summarise(now - now % TICK_S);
        }
    }

    fn pause_for_the_journal(&mut self, wall: f64) {
        if !self.clock.paused {
            self.clock.rebase(wall, self.engine.now_s());
            self.clock.paused = true;
        }
    }

    /// The clock's state.
    pub fn clock(&self) -> ClockState {
        ClockState {
            sim_time_s: self.engine.now_s(),
            end_s: self.engine.end_s(),
            pace: self.clock.pace,
            paused: self.clock.paused,
            finished: self.finished(),
            max_lag_s: self.max_lag_s,
        }
    }

    /// Whether the run reached its end.
    pub fn finished(&self) -> bool {
        self.engine.now_s() >= self.engine.end_s()
    }

    /// The state as `role` sees it, with white's broadcasts (`messages`, oldest first);
    /// white's also holds the journal's state (`journal`).
    pub fn view(&self, role: Role) -> Value {
        let mut view = self.engine.view(role);
        if let Value::Object(fields) = &mut view {
            let messages: Vec<Value> = self
                .broadcasts
                .iter()
                .map(|(at_s, message)| serde_json::json!({ "at_s": at_s, "message": message }))
                .collect();
            fields.insert("messages".to_owned(), Value::Array(messages));
            if role == Role::White {
                fields.insert(
                    "journal".to_owned(),
                    serde_json::to_value(self.journal_state()).unwrap_or(Value::Null),
                );
            }
        }
        view
    }

    /// Whether the clock says the next tick is due at wall second `wall`.
    pub fn tick_due(&self, wall: f64) -> bool {
        !self.finished() && self.clock.due(wall) >= self.next_tick() as f64
    }

    /// Wall seconds from `wall` until the next tick is due, if the clock runs.
    pub fn wait_s(&self, wall: f64) -> Option<f64> {
        if self.finished() || self.clock.paused {
            return None;
        }
        let ahead = self.next_tick() as f64 - self.clock.due(wall);
        Some((ahead / self.clock.pace).max(0.0))
    }

    fn next_tick(&self) -> u64 {
        (self.engine.now_s() + TICK_S).min(self.engine.end_s())
    }

    /// Takes one tick, noting how far behind the clock the engine was.
    pub fn tick(&mut self, wall: f64) -> Result<(), String> {
        if self.finished() {
            return Ok(());
        }
        let lag = self.clock.due(wall) - self.engine.now_s() as f64 - TICK_S as f64;
        self.max_lag_s = self.max_lag_s.max(lag);
        let to = self.next_tick();
        self.engine.advance(to)
    }

    /// Answers `team`'s request at wall second `wall`: the clock's actions here, reads from the
    /// engine's views, engine actions carried out now (target lists deduplicated). Every
    /// request that changes something is journalled as it is carried out; refusals are counted
    /// and journalled in summary ([`Session::poll`]).
    pub fn handle(&mut self, team: &str, role: Role, action: &Action, wall: f64) -> (u64, Outcome) {
        let at_s = self.engine.now_s();
        let (outcome, journalled) = match action.check(role) {
            Err(reason) => (Outcome::Refused { reason }, None),
            Ok(()) => {
                let action = deduplicated(action);
                let outcome = self.carry_out(team, role, &action, wall);
                let journalled = matches!(outcome, Outcome::Accepted { .. }) && !reads_only(&action);
                (outcome, journalled.then(|| action.into_owned()))
            }
        };
        match (&outcome, journalled) {
            (Outcome::Refused { reason }, _) => {
                self.ledger.tally(team, role, action.name(), reason, wall);
                self.poll(wall);
            }
            (Outcome::Accepted { .. }, Some(action)) => {
                self.ledger.push(Line::Request(Entry {
                    seq: 0,
                    at_s,
                    team: team.to_owned(),
                    role,
                    action,
                    outcome: outcome.clone(),
                }));
                if !self.ledger.has_room() && self.ledger.blocked.is_none() {
                    self.ledger.blocked = Some(Blocked::Cap);
                    self.pause_for_the_journal(wall);
                }
            }
            (Outcome::Accepted { .. }, None) => {}
        }
        (at_s, outcome)
    }

    /// Why the journal cannot take `action`'s line now, if it cannot (pausing the exercise
    /// when the journal has just reached its cap).
    fn journal_refuses(&mut self, action: &Action, wall: f64) -> Option<String> {
        if let Some(Blocked::Failed(why)) = &self.ledger.blocked {
            return Some(format!(
                "the journal cannot be written ({why}): the exercise is paused and takes no actions until it can"
            ));
        }
        let cap = self.ledger.cap;
        if !drives_engine(action) {
            // White's clock actions may use the room kept below the cap.
            return (self.ledger.bytes >= cap).then(|| format!("the journal is full (its cap is {cap} bytes)"));
        }
        if self.ledger.has_room() {
            return None;
        }
        if self.ledger.blocked.is_none() {
            self.ledger.blocked = Some(Blocked::Cap);
            self.pause_for_the_journal(wall);
        }
        Some(format!(
            "the journal is full (its cap is {cap} bytes): no more actions are taken in this exercise"
        ))
    }

    fn carry_out(&mut self, team: &str, role: Role, action: &Action, wall: f64) -> Outcome {
        let accepted = |result: Value| Outcome::Accepted { result };
        let refused = |reason: &str| Outcome::Refused {
            reason: reason.to_owned(),
        };
        if let Action::Query { query } = action {
            return match self.engine.query(query) {
                Ok(result) => accepted(result),
                Err(reason) => Outcome::Refused { reason },
            };
        }
        if reads_only(action) {
            return accepted(self.view(role));
        }
        if drives_engine(action) && self.finished() {
            return refused("the exercise is over");
        }
        if let Some(reason) = self.journal_refuses(action, wall) {
            return Outcome::Refused { reason };
        }
        let engine_s = self.engine.now_s();
        match action {
            Action::Pause {} if self.clock.paused => refused("the exercise is already paused"),
            Action::Pause {} => {
                self.clock.rebase(wall, engine_s);
                self.clock.paused = true;
                accepted(Value::Null)
            }
            Action::Resume {} if !self.clock.paused => refused("the exercise is not paused"),
            Action::Resume {} => {
                self.clock.wall_base = wall;
                self.clock.paused = false;
                accepted(Value::Null)
            }
            Action::SetPace { sim_seconds_per_second } => {
                self.clock.rebase(wall, engine_s);
                self.clock.pace = *sim_seconds_per_second;
                accepted(Value::Null)
            }
            Action::Broadcast { message } => {
                if self.broadcasts.len() == crate::messages::MESSAGES_KEPT {
                    self.broadcasts.pop_front();
                }
                self.broadcasts.push_back((engine_s, message.clone()));
                accepted(Value::Null)
            }
            _ => match self.engine.apply(team, role, action) {
                Ok(result) => accepted(result),
                Err(reason) => Outcome::Refused { reason },
            },
        }
    }

    /// Steps the engine to the end without the clock (after the last player left, or for
    /// tests), then returns `metrics.json`.
    pub fn run_out(&mut self) -> Result<Vec<u8>, String> {
        while !self.finished() {
            let to = self.next_tick();
            self.engine.advance(to)?;
        }
        self.engine.finish()
    }

    /// `metrics.json`, once the run reached its end.
    pub fn finish(&mut self) -> Result<Vec<u8>, String> {
        if !self.finished() {
            return Err("the run has not reached its end".into());
        }
        self.engine.finish()
    }
}

/// Writes a journal as JSON lines: the header, then one line each.
pub fn journal_text<'a>(header: &Header, lines: impl IntoIterator<Item = &'a Line>) -> String {
    let mut out = json_line(header);
    for l in lines {
        out.push_str(&json_line(l));
    }
    out
}

/// One value as a line of JSON.
pub fn json_line<T: Serialize>(value: &T) -> String {
    // Journal types hold strings, numbers and JSON values only: serialising cannot fail.
    let mut s = serde_json::to_string(value).unwrap_or_default();
    s.push('\n');
    s
}

/// A journal that cannot be read: the line and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct JournalError {
    /// The journal's file name.
    pub file: String,
    /// Its line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads a journal written by a session (a journal cut short by a crash reads as far as it
/// goes), of version [`OLDEST_JOURNAL_VERSION`] to [`JOURNAL_VERSION`].
pub fn parse_journal(file: &str, text: &str) -> Result<(Header, Vec<Line>), JournalError> {
    let error = |line: usize, message: String| JournalError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or_else(|| error(1, "empty journal".into()))?;
    let header: Header = serde_json::from_str(first).map_err(|e| error(1, format!("not a journal header: {e}")))?;
    if !(OLDEST_JOURNAL_VERSION..=JOURNAL_VERSION).contains(&header.journal) {
        return Err(error(
            1,
            format!(
                "journal version {} (this amirange reads {OLDEST_JOURNAL_VERSION} to {JOURNAL_VERSION})",
                header.journal
            ),
        ));
    }
    if header.tick_s != TICK_S {
        return Err(error(
            1,
            format!("tick_s {} (this amirange steps {TICK_S})", header.tick_s),
        ));
    }
    let mut out: Vec<Line> = Vec::new();
    // A crash mid-write leaves the last line unterminated: the journal reads up to it.
    let torn = (!text.ends_with('\n')).then(|| text.lines().count());
    for (i, l) in lines {
        let value: Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) if torn == Some(i + 1) => break,
            Err(e) => return Err(error(i + 1, format!("not a journal line: {e}"))),
        };
        // A summary of refusals is the line with a `count`.
        let line = if value.get("count").is_some() {
            if header.journal < 2 {
                return Err(error(
                    i + 1,
                    "a summary of refusals in a version 1 journal (summaries came with version 2)".into(),
                ));
            }
            let r: Refusals =
                serde_json::from_value(value).map_err(|e| error(i + 1, format!("not a summary of refusals: {e}")))?;
            if r.count == 0 {
                return Err(error(i + 1, "a summary of refusals must count at least 1".into()));
            }
            Line::Refusals(r)
        } else {
            Line::Request(serde_json::from_value(value).map_err(|e| error(i + 1, format!("not a journal entry: {e}")))?)
        };
        if line.seq() != out.len() as u64 {
            return Err(error(
                i + 1,
                format!("entry {} where {} was expected", line.seq(), out.len()),
            ));
        }
        if !line.at_s().is_multiple_of(TICK_S) || out.last().is_some_and(|p| p.at_s() > line.at_s()) {
            return Err(error(
                i + 1,
                format!("at_s {} is off the tick grid or goes back in time", line.at_s()),
            ));
        }
        out.push(line);
    }
    Ok((header, out))
}

/// Re-runs a journalled exercise on a fresh `engine`, without the network: the same ticks, the
/// engine actions applied at the same simulated seconds. Returns `metrics.json`; an action
/// whose outcome differs from the journal's is an error (the journal and the engine disagree).
/// Summaries of refusals replay as nothing (a refusal changes nothing); the refusals a version
/// 1 journal holds one by one are applied and must be refused again.
pub fn replay(engine: Box<dyn Engine>, lines: &[Line]) -> Result<Vec<u8>, String> {
    let mut session = Session::new(engine, "replay", 1.0, 0.0);
    for e in lines
        .iter()
        .filter_map(Line::request)
        .filter(|e| drives_engine(&e.action))
    {
        if e.at_s > session.engine.end_s() {
            return Err(format!("entry {}: at_s {} is after the end of the run", e.seq, e.at_s));
        }
        while session.engine.now_s() < e.at_s {
            let to = session.next_tick();
            session.engine.advance(to)?;
        }
        let outcome = match e.action.check(e.role) {
            Err(reason) => Outcome::Refused { reason },
            Ok(()) if session.finished() => Outcome::Refused {
                reason: "the exercise is over".into(),
            },
            Ok(()) => match session.engine.apply(&e.team, e.role, &e.action) {
                Ok(result) => Outcome::Accepted { result },
                Err(reason) => Outcome::Refused { reason },
            },
        };
        if outcome != e.outcome {
            return Err(format!(
                "entry {} ({} by {} at {} s): the journal says {:?}, the replay {:?}",
                e.seq,
                e.action.name(),
                e.team,
                e.at_s,
                e.outcome,
                outcome
            ));
        }
    }
    session.run_out()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that counts: red `phish` adds to a tally that ends up in `metrics.json`.
    struct Counter {
        now: u64,
        end: u64,
        tally: Vec<(u64, String)>,
    }

    impl Engine for Counter {
        fn query(&self, _: &crate::messages::Query) -> Result<Value, String> {
            Err("this test engine answers no query".into())
        }
        fn now_s(&self) -> u64 {
            self.now
        }
        fn end_s(&self) -> u64 {
            self.end
        }
        fn advance(&mut self, to_s: u64) -> Result<(), String> {
            assert!(to_s > self.now && to_s <= self.end);
            self.now = to_s;
            Ok(())
        }
        fn apply(&mut self, team: &str, _role: Role, action: &Action) -> Result<Value, String> {
            match action {
                Action::Phish { account } if account == "nobody" => Err("no such account".into()),
                _ => {
                    self.tally.push((self.now, format!("{team}:{}", action.name())));
                    Ok(Value::from(self.tally.len()))
                }
            }
        }
        fn view(&self, role: Role) -> Value {
            serde_json::json!({"role": role.name(), "now": self.now})
        }
        fn finish(&mut self) -> Result<Vec<u8>, String> {
            serde_json::to_vec(&self.tally).map_err(|e| e.to_string())
        }
        fn setup(&self) -> Value {
            Value::from(self.end)
        }
    }

    fn counter(end: u64) -> Box<dyn Engine> {
        Box::new(Counter {
            now: 0,
            end,
            tally: Vec::new(),
        })
    }

    fn phish(account: &str) -> Action {
        Action::Phish {
            account: account.into(),
        }
    }

    /// White's broadcasts show in every role's view, the newest twenty, oldest first; they
    /// are journalled but change nothing a replay checks; a message out of bounds is refused.
    #[test]
    fn broadcasts_reach_every_view_and_keep_the_newest_twenty() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        let say = |s: &mut Session, m: &str| {
            s.handle("white", Role::White, &Action::Broadcast { message: m.to_owned() }, 0.0)
                .1
        };
        assert_eq!(
            say(&mut s, "storm warning: feeders 3 and 4"),
            Outcome::Accepted { result: Value::Null }
        );
        for role in [Role::Red, Role::Blue, Role::White] {
            assert_eq!(
                s.view(role)["messages"],
                serde_json::json!([{"at_s": 0, "message": "storm warning: feeders 3 and 4"}]),
                "{role:?}"
            );
        }
        assert!(s.journal_unwritten().contains("\"broadcast\""), "journalled");
        for k in 0..25 {
            say(&mut s, &format!("message {k}"));
        }
        let messages = s.view(Role::Blue)["messages"].as_array().cloned().unwrap_or_default();
        assert_eq!(messages.len(), crate::messages::MESSAGES_KEPT);
        assert_eq!(messages[19]["message"], "message 24");
        assert!(matches!(say(&mut s, ""), Outcome::Refused { .. }));
        assert!(matches!(say(&mut s, &"x".repeat(501)), Outcome::Refused { .. }));
        let (_, o) = s.handle("blue", Role::Blue, &Action::Broadcast { message: "hi".into() }, 0.0);
        assert!(
            matches!(o, Outcome::Refused { ref reason } if reason.contains("white action")),
            "{o:?}"
        );
    }

    #[test]
    fn the_clock_paces_ticks_and_white_controls_it() {
        let mut s = Session::new(counter(3600), "t", 60.0, 0.0);
        assert!(!s.tick_due(0.5), "half a tick of wall time at 60 s/s");
        assert!(s.tick_due(1.0));
        s.tick(1.0).expect("tick");
        assert_eq!(s.clock().sim_time_s, 60);
        assert_eq!(s.wait_s(1.5), Some(0.5));
        let (_, o) = s.handle("w", Role::White, &Action::Pause {}, 1.5);
        assert_eq!(o, Outcome::Accepted { result: Value::Null });
        assert!(!s.tick_due(100.0), "paused");
        assert_eq!(s.wait_s(100.0), None);
        let (_, o) = s.handle("w", Role::White, &Action::Pause {}, 100.0);
        assert!(matches!(o, Outcome::Refused { .. }));
        s.handle("w", Role::White, &Action::Resume {}, 100.0);
        // 30 simulated seconds were banked before the pause; 30 more are due at 100.5.
        assert!(!s.tick_due(100.4));
        assert!(s.tick_due(100.5));
        s.handle(
            "w",
            Role::White,
            &Action::SetPace {
                sim_seconds_per_second: 600.0,
            },
            100.5,
        );
        assert!(s.tick_due(100.5), "the clock keeps what it had when the pace changed");
        s.tick(100.5).expect("tick");
        assert!(s.tick_due(100.7) && !s.tick_due(100.55));
    }

    /// The journal's lines in `s` so far, parsed back from its text.
    fn lines_of(s: &Session) -> Vec<Line> {
        parse_journal("j", s.journal_unwritten()).expect("a journal").1
    }

    #[test]
    fn refusals_are_journalled_in_summary_and_reads_are_not() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        let (_, o) = s.handle("blue", Role::Blue, &phish("ops"), 0.0);
        assert!(matches!(o, Outcome::Refused { ref reason } if reason.contains("red action")));
        let (_, o) = s.handle("red", Role::Red, &Action::GroundTruth {}, 0.0);
        assert!(matches!(o, Outcome::Refused { .. }));
        let (_, o) = s.handle("red", Role::Red, &Action::Snapshot {}, 0.0);
        assert_eq!(
            o,
            Outcome::Accepted {
                result: serde_json::json!({"role": "red", "now": 0, "messages": []})
            }
        );
        let (_, o) = s.handle("red", Role::Red, &phish("nobody"), 0.0);
        assert_eq!(
            o,
            Outcome::Refused {
                reason: "no such account".into()
            }
        );
        s.handle("red", Role::Red, &phish("nobody"), 0.5);
        s.handle("red", Role::Red, &phish("ops"), 0.5);
        assert_eq!(
            lines_of(&s).len(),
            1,
            "refusals wait for their summary: {:?}",
            lines_of(&s)
        );
        s.poll(1.0);
        let lines = lines_of(&s);
        let summary: Vec<(String, &str, &str, u64)> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Refusals(r) => Some((r.team.clone(), r.action.as_str(), r.reason.as_str(), r.count)),
                Line::Request(_) => None,
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "blue".to_owned(),
                    "phish",
                    "`phish` is a red action; this token is blue's",
                    1
                ),
                (
                    "red".to_owned(),
                    "ground-truth",
                    "`ground-truth` is a white action; this token is red's",
                    1
                ),
                ("red".to_owned(), "phish", "no such account", 2),
            ]
        );
        assert_eq!(
            lines[0].request().map(|e| e.action.name()),
            Some("phish"),
            "the accepted phish"
        );
        assert_eq!(s.journal_state().refused, 4);
    }

    #[test]
    fn a_red_flood_of_refused_requests_grows_the_journal_by_a_bounded_amount() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        let before = s.journal_unwritten().len();
        let n: u32 = 10_000;
        let mut one_line_each = 0;
        for i in 0..n {
            // Ten seconds of a flood, of several kinds, some with a reason of their own each.
            let wall = f64::from(i) / f64::from(n) * 10.0;
            let action = match i % 4 {
                0 => phish("nobody"),
                1 => Action::FreezeBulk { minutes: 5 },
                2 => Action::GroundTruth {},
                _ => Action::Jam {
                    x_m: 0.0,
                    y_m: 0.0,
                    radius_m: 6000.0 + f64::from(i),
                    strength: 1.0,
                    minutes: 5,
                },
            };
            let (at_s, outcome) = s.handle("red", Role::Red, &action, wall);
            assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
            // What a line per refusal (journal version 1) would have cost.
            one_line_each += json_line(&Entry {
                seq: u64::from(i),
                at_s,
                team: "red".into(),
                role: Role::Red,
                action,
                outcome,
            })
            .len();
        }
        s.summarise_refusals();
        let grown = s.journal_unwritten().len() - before;
        // Ten summaries at most (one a wall second), each at most REFUSAL_KINDS + 1 lines.
        let bound = 10 * (REFUSAL_KINDS + 1) * 400;
        assert!(grown <= bound, "{grown} bytes for {n} refusals (bound {bound})");
        let per_refusal = grown as f64 / f64::from(n);
        let before_per_refusal = one_line_each as f64 / f64::from(n);
        eprintln!(
            "journal bytes per refused request: {before_per_refusal:.1} one line each, {per_refusal:.2} in summary"
        );
        assert!(per_refusal < 4.0, "{per_refusal} bytes per refusal");
        let counted: u64 = lines_of(&s)
            .iter()
            .filter_map(|l| match l {
                Line::Refusals(r) => Some(r.count),
                Line::Request(_) => None,
            })
            .sum();
        assert_eq!(counted, u64::from(n), "every refusal is counted");
        assert!(
            lines_of(&s)
                .iter()
                .any(|l| matches!(l, Line::Refusals(r) if r.action == SEVERAL)),
            "reasons that all differ are counted together past {REFUSAL_KINDS} kinds"
        );
    }

    #[test]
    fn the_journal_cap_pauses_the_exercise_and_tells_white() {
        let header_bytes = Session::new(counter(600), "t", 60.0, 0.0).journal_unwritten().len() as u64;
        let cap = header_bytes + JOURNAL_HEADROOM + 300;
        let mut s = Session::new(counter(600), "t", 60.0, 0.0).with_journal_cap(cap);
        let mut accepted = 0;
        let refusal = loop {
            match s.handle("red", Role::Red, &phish("ops"), 0.5).1 {
                Outcome::Accepted { .. } => accepted += 1,
                Outcome::Refused { reason } => break reason,
            }
            assert!(accepted < 100, "the cap never stopped the phishes");
        };
        assert!(accepted > 0);
        assert!(refusal.contains("the journal is full"), "{refusal}");
        assert!(s.clock().paused, "the exercise paused");
        let white = s.view(Role::White);
        let why = white["journal"]["blocked"].as_str().expect("white is told why");
        assert!(why.contains("reached its cap"), "{white}");
        assert!(
            s.view(Role::Blue).get("journal").is_none(),
            "only white sees the journal"
        );
        // White may resume the clock; the run goes on, and no more actions are taken.
        let (_, o) = s.handle("w", Role::White, &Action::Resume {}, 1.0);
        assert_eq!(o, Outcome::Accepted { result: Value::Null });
        assert!(s.tick_due(2.0));
        s.tick(2.0).expect("tick");
        assert!(matches!(
            s.handle("red", Role::Red, &phish("ops"), 2.0).1,
            Outcome::Refused { .. }
        ));
        // Every line is within the cap, and the journal replays.
        s.summarise_refusals();
        assert!(s.journal_unwritten().len() as u64 <= cap);
        let metrics = s.run_out().expect("run out");
        assert_eq!(replay(counter(600), &lines_of(&s)).expect("replay"), metrics);
    }

    #[test]
    fn a_journal_that_cannot_be_written_pauses_the_exercise_until_it_can() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        s.journal_written();
        s.handle("red", Role::Red, &phish("ops"), 0.5);
        let unwritten = s.journal_unwritten().to_owned();
        assert!(unwritten.contains("\"phish\""));
        s.journal_failed("No space left on device (os error 28)", 0.5);
        assert!(s.clock().paused && s.journal_failing());
        assert_eq!(s.journal_unwritten(), unwritten, "nothing unwritten is lost");
        let white = s.view(Role::White);
        assert!(
            white["journal"]["blocked"]
                .as_str()
                .is_some_and(|w| w.contains("No space left on device")),
            "{white}"
        );
        let (_, o) = s.handle("red", Role::Red, &phish("ops"), 1.0);
        assert!(
            matches!(&o, Outcome::Refused { reason } if reason.contains("cannot be written")),
            "an action that cannot be journalled is not carried out: {o:?}"
        );
        let (_, o) = s.handle("w", Role::White, &Action::Resume {}, 1.0);
        assert!(matches!(o, Outcome::Refused { .. }), "{o:?}");
        s.journal_written();
        s.journal_recovered();
        assert!(s.view(Role::White)["journal"]["blocked"].is_null());
        let (_, o) = s.handle("w", Role::White, &Action::Resume {}, 2.0);
        assert_eq!(o, Outcome::Accepted { result: Value::Null });
        assert!(matches!(
            s.handle("red", Role::Red, &phish("ops"), 2.0).1,
            Outcome::Accepted { .. }
        ));
    }

    #[test]
    fn the_session_keeps_a_window_of_the_journal_not_all_of_it() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        for _ in 0..3 * JOURNAL_WINDOW {
            s.handle("red", Role::Red, &phish("ops"), 0.0);
            s.journal_written();
        }
        assert_eq!(s.journal_window().len(), JOURNAL_WINDOW);
        assert_eq!(
            s.journal_window().back().map(Line::seq),
            Some(3 * JOURNAL_WINDOW as u64 - 1)
        );
        assert!(s.journal_unwritten().is_empty());
    }

    #[test]
    fn target_lists_are_deduplicated_before_they_are_journalled() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        let crews = Action::DispatchCrews {
            transformers: vec![3, 1, 3, 3, 2, 1],
        };
        s.handle("blue", Role::Blue, &crews, 0.0);
        let lines = lines_of(&s);
        assert_eq!(
            lines[0].request().map(|e| &e.action),
            Some(&Action::DispatchCrews {
                transformers: vec![3, 1, 2]
            })
        );
        let disconnect = Action::Disconnect {
            account: "a".into(),
            feeders: vec![0, 1],
        };
        assert!(matches!(deduplicated(&disconnect), Cow::Borrowed(_)));
    }

    #[test]
    fn a_journal_replays_to_the_same_metrics_and_a_forged_one_is_caught() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        s.tick(1.0).expect("tick");
        s.handle("red", Role::Red, &phish("ops"), 1.0);
        s.handle("w", Role::White, &Action::Pause {}, 1.0);
        s.tick(2.0).expect("ticks while due");
        s.handle("w", Role::White, &Action::Resume {}, 2.0);
        for w in 2..20 {
            if s.tick_due(f64::from(w)) {
                s.tick(f64::from(w)).expect("tick");
            }
        }
        s.handle("blue", Role::Blue, &Action::RollbackFirmware {}, 20.0);
        s.handle("red", Role::Red, &phish("nobody"), 20.0);
        s.poll(22.0);
        let metrics = s.run_out().expect("run out");
        let text = s.journal_unwritten().to_owned();
        let (header, entries) = parse_journal("j.jsonl", &text).expect("parse");
        assert_eq!(header, s.header());
        assert_eq!(journal_text(&header, &entries), text);
        assert!(matches!(entries.last(), Some(Line::Refusals(r)) if r.count == 1));
        assert_eq!(replay(counter(600), &entries).expect("replay"), metrics);
        // The tally holds the simulated seconds, so applying at another tick would differ.
        assert!(String::from_utf8_lossy(&metrics).contains("[60,\"red:phish\"]"));

        let mut forged = entries.clone();
        if let Line::Request(e) = &mut forged[0] {
            e.outcome = Outcome::Accepted { result: Value::from(7) };
        }
        let err = replay(counter(600), &forged).expect_err("diverges");
        assert!(err.contains("entry 0"), "{err}");
    }

    #[test]
    fn a_version_1_journal_with_a_line_per_refusal_still_replays() {
        let v1 = r#"{"journal":1,"exercise":"t","tick_s":60,"setup":600}
{"seq":0,"at_s":60,"team":"red","role":"red","action":{"action":"phish","account":"ops"},"outcome":"accepted","result":1}
{"seq":1,"at_s":60,"team":"red","role":"red","action":{"action":"phish","account":"nobody"},"outcome":"refused","reason":"no such account"}
{"seq":2,"at_s":120,"team":"blue","role":"blue","action":{"action":"phish","account":"ops"},"outcome":"refused","reason":"`phish` is a red action; this token is blue's"}
"#;
        let (header, lines) = parse_journal("v1.jsonl", v1).expect("a version 1 journal");
        assert_eq!(header.journal, 1);
        let metrics = replay(counter(600), &lines).expect("replays");
        assert_eq!(String::from_utf8_lossy(&metrics), "[[60,\"red:phish\"]]");
        let summary = r#"{"seq":3,"at_s":120,"team":"red","role":"red","action":"phish","outcome":"refused","reason":"x","count":2}"#;
        let e = parse_journal("v1.jsonl", &format!("{v1}{summary}\n")).expect_err("no summaries in version 1");
        assert_eq!(e.line, 5);
        let v2 = v1.replacen("\"journal\":1", "\"journal\":2", 1);
        let (_, lines) = parse_journal("v2.jsonl", &format!("{v2}{summary}\n")).expect("a version 2 journal");
        assert!(matches!(&lines[3], Line::Refusals(r) if r.count == 2));
        let zero = summary.replace("\"count\":2", "\"count\":0");
        let e = parse_journal("v2.jsonl", &format!("{v2}{zero}\n")).expect_err("a count of 0");
        assert!(e.message.contains("at least 1"), "{e}");
    }

    #[test]
    fn bad_journals_name_the_line() {
        let good = journal_text(
            &Header {
                journal: JOURNAL_VERSION,
                exercise: "x".into(),
                tick_s: TICK_S,
                setup: Value::Null,
            },
            &[],
        );
        assert!(parse_journal("j", &good).is_ok());
        let e = parse_journal("j", "").expect_err("empty");
        assert_eq!(e.line, 1);
        let bad = format!("{good}\n{{\"seq\":3}}\n");
        let e = parse_journal("j", &bad).expect_err("bad entry");
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("j:3: "), "{e}");
    }
}
