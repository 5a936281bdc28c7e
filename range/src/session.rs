//! An exercise session: the engine paced by the wall clock, the players' requests turned into
//! timestamped engine inputs, and the journal that replays them.
//!
//! The engine moves in ticks of [`TICK_S`] simulated seconds, always the same ticks whatever
//! the pace, the pauses or the network: a request is carried out at the simulated time the
//! engine has reached (a tick boundary) and journalled with it. [`replay`] steps a fresh engine
//! over the same ticks and applies the journalled requests at the same boundaries, so a replay
//! is the same run, byte for byte. The wall clock only decides *when* the next tick is taken.
//!
//! The engine itself is the root package's (`amirange serve` builds it from the exercise's
//! scenario); this crate sees it through [`Engine`], so the network never reaches the model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::{Action, Role};

/// Simulated seconds per tick: the grid every request is carried out on.
pub const TICK_S: u64 = 60;

/// The version of the journal's format.
pub const JOURNAL_VERSION: u32 = 1;

/// What a session needs of the simulation.
pub trait Engine: Send {
    /// Simulated seconds since the start, always a multiple of [`TICK_S`].
    fn now_s(&self) -> u64;
    /// The end of the run, in simulated seconds.
    fn end_s(&self) -> u64;
    /// Steps to `to_s` (the next tick, or the end).
    fn advance(&mut self, to_s: u64) -> Result<(), String>;
    /// Carries out a player's engine action now: a red or blue action, or `inject-outage`.
    /// Returns what the player is told, or why it is refused (a precondition unmet).
    fn apply(&mut self, team: &str, role: Role, action: &Action) -> Result<Value, String>;
    /// The state as `role` may see it (`snapshot`); white's view includes the ground truth
    /// and the scoreboard.
    fn view(&self, role: Role) -> Value;
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
    /// What it asked.
    pub action: Action,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
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
    matches!(action.role(), Some(Role::Red | Role::Blue)) || matches!(action, Action::InjectOutage { .. })
}

/// Whether `action` only reads.
fn reads_only(action: &Action) -> bool {
    matches!(action, Action::Snapshot {} | Action::GroundTruth {})
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

/// A live exercise: its engine, clock and journal.
pub struct Session {
    engine: Box<dyn Engine>,
    exercise: String,
    clock: Clock,
    journal: Vec<Entry>,
    /// The longest the engine has been behind the clock, simulated seconds.
    max_lag_s: f64,
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
    /// A session for `engine` at `pace`, its clock started at wall second `wall`.
    pub fn new(engine: Box<dyn Engine>, exercise: &str, pace: f64, wall: f64) -> Session {
        let sim_base = engine.now_s() as f64;
        Session {
            engine,
            exercise: exercise.to_owned(),
            clock: Clock {
                pace,
                paused: false,
                sim_base,
                wall_base: wall,
            },
            journal: Vec::new(),
            max_lag_s: 0.0,
        }
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

    /// Every request journalled so far.
    pub fn journal(&self) -> &[Entry] {
        &self.journal
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

    /// The state as `role` sees it.
    pub fn view(&self, role: Role) -> Value {
        self.engine.view(role)
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
    /// engine's views, engine actions carried out now. Every request that changes something,
    /// and every refusal, is journalled.
    pub fn handle(&mut self, team: &str, role: Role, action: &Action, wall: f64) -> (u64, Outcome) {
        let at_s = self.engine.now_s();
        let outcome = match action.check(role) {
            Err(reason) => Outcome::Refused { reason },
            Ok(()) => self.carry_out(team, role, action, wall),
        };
        let journalled = matches!(outcome, Outcome::Refused { .. }) || !reads_only(action);
        if journalled {
            self.journal.push(Entry {
                seq: self.journal.len() as u64,
                at_s,
                team: team.to_owned(),
                role,
                action: action.clone(),
                outcome: outcome.clone(),
            });
        }
        (at_s, outcome)
    }

    fn carry_out(&mut self, team: &str, role: Role, action: &Action, wall: f64) -> Outcome {
        let accepted = |result: Value| Outcome::Accepted { result };
        let refused = |reason: &str| Outcome::Refused {
            reason: reason.to_owned(),
        };
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
            Action::Snapshot {} | Action::GroundTruth {} => accepted(self.engine.view(role)),
            _ if self.finished() => refused("the exercise is over"),
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

/// Writes the journal as JSON lines: the header, then one entry per line.
pub fn journal_text(header: &Header, entries: &[Entry]) -> String {
    let mut out = json_line(header);
    for e in entries {
        out.push_str(&json_line(e));
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

/// Reads a journal written by [`journal_text`] (a journal cut short by a crash reads as far as
/// it goes).
pub fn parse_journal(file: &str, text: &str) -> Result<(Header, Vec<Entry>), JournalError> {
    let error = |line: usize, message: String| JournalError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or_else(|| error(1, "empty journal".into()))?;
    let header: Header = serde_json::from_str(first).map_err(|e| error(1, format!("not a journal header: {e}")))?;
    if header.journal != JOURNAL_VERSION {
        return Err(error(
            1,
            format!(
                "journal version {} (this amirange reads {JOURNAL_VERSION})",
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
    let mut entries: Vec<Entry> = Vec::new();
    // A crash mid-write leaves the last line unterminated: the journal reads up to it.
    let torn = (!text.ends_with('\n')).then(|| text.lines().count());
    for (i, l) in lines {
        let e: Entry = match serde_json::from_str(l) {
            Ok(e) => e,
            Err(_) if torn == Some(i + 1) => break,
            Err(e) => return Err(error(i + 1, format!("not a journal entry: {e}"))),
        };
        if e.seq != entries.len() as u64 {
            return Err(error(
                i + 1,
                format!("entry {} where {} was expected", e.seq, entries.len()),
            ));
        }
        if !e.at_s.is_multiple_of(TICK_S) || entries.last().is_some_and(|p| p.at_s > e.at_s) {
            return Err(error(
                i + 1,
                format!("at_s {} is off the tick grid or goes back in time", e.at_s),
            ));
        }
        entries.push(e);
    }
    Ok((header, entries))
}

/// Re-runs a journalled exercise on a fresh `engine`, without the network: the same ticks, the
/// engine actions applied at the same simulated seconds. Returns `metrics.json`; an action
/// whose outcome differs from the journal's is an error (the journal and the engine disagree).
pub fn replay(engine: Box<dyn Engine>, entries: &[Entry]) -> Result<Vec<u8>, String> {
    let mut session = Session::new(engine, "replay", 1.0, 0.0);
    for e in entries.iter().filter(|e| drives_engine(&e.action)) {
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

    #[test]
    fn refusals_are_journalled_and_reads_are_not() {
        let mut s = Session::new(counter(600), "t", 60.0, 0.0);
        let (_, o) = s.handle("blue", Role::Blue, &phish("ops"), 0.0);
        assert!(matches!(o, Outcome::Refused { ref reason } if reason.contains("red action")));
        let (_, o) = s.handle("red", Role::Red, &Action::GroundTruth {}, 0.0);
        assert!(matches!(o, Outcome::Refused { .. }));
        let (_, o) = s.handle("red", Role::Red, &Action::Snapshot {}, 0.0);
        assert_eq!(
            o,
            Outcome::Accepted {
                result: serde_json::json!({"role": "red", "now": 0})
            }
        );
        let (_, o) = s.handle("red", Role::Red, &phish("nobody"), 0.0);
        assert_eq!(
            o,
            Outcome::Refused {
                reason: "no such account".into()
            }
        );
        let journalled: Vec<&str> = s.journal().iter().map(|e| e.action.name()).collect();
        assert_eq!(journalled, ["phish", "ground-truth", "phish"]);
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
        let metrics = s.run_out().expect("run out");
        let text = journal_text(&s.header(), s.journal());
        let (header, entries) = parse_journal("j.jsonl", &text).expect("parse");
        assert_eq!(header, s.header());
        assert_eq!(entries, s.journal());
        assert_eq!(replay(counter(600), &entries).expect("replay"), metrics);
        // The tally holds the simulated seconds, so applying at another tick would differ.
        assert!(String::from_utf8_lossy(&metrics).contains("[60,\"red:phish\"]"));

        let mut forged = entries.clone();
        forged[0].outcome = Outcome::Accepted { result: Value::from(7) };
        let err = replay(counter(600), &forged).expect_err("diverges");
        assert!(err.contains("entry 0"), "{err}");
    }

    #[test]
    fn bad_journals_name_the_line() {
        let good = journal_text(
            &Header {
                journal: 1,
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
