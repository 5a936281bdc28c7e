//! The live exercise's own thread: it owns the [`Session`], takes ticks when the clock says,
//! answers requests between ticks, writes the journal as it grows, and publishes every role's
//! view for the network to read without waiting on the engine.
//!
//! Nothing here waits on a client: requests arrive on a channel and replies leave on one-shot
//! channels, so a slow or vanished client never stalls the simulation.
//!
//! The journal is written as the session produces it ([`Session::journal_unwritten`]) and made
//! durable before any client hears an answer that depends on it. When it cannot be written
//! (a full disk), the thread does not end: the session pauses the exercise and takes no more
//! actions, white's view says why, the server's log says so once, the answers that wait on the
//! unwritten lines are held, and the thread tries again every [`RETRY_EVERY`] and whenever
//! white asks to resume. The network binds before anything is written: [`Channels`] are what
//! the server needs, and [`Channels::start`] creates the journal.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::messages::{Action, Role};
use crate::session::{ClockState, Outcome, Session};

/// How often views are published while the engine ticks, at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// The shortest time between two publishes after changes (a flood of accepted actions does
/// not rebuild every view after each one).
const PUBLISH_GAP: Duration = Duration::from_millis(50);
/// The longest the thread sleeps without looking at its channel.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// Requests handled between two looks at the clock (so that a flood cannot hold a tick up).
const MAX_BATCH: usize = 256;
/// How often a journal that could not be written is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What the network may read at any time: the clock and each role's view at the last publish.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Published {
    /// Incremented at every publish.
    pub version: u64,
    /// The clock.
    pub clock: Option<ClockState>,
    /// Red's view.
    pub red: Value,
    /// Blue's view.
    pub blue: Value,
    /// White's view (ground truth, the scoreboard and the journal's state).
    pub white: Value,
}

impl Published {
    /// The view of `role`, with the clock.
    pub fn view(&self, role: Role) -> Value {
        let view = match role {
            Role::Red => &self.red,
            Role::Blue => &self.blue,
            Role::White => &self.white,
        };
        serde_json::json!({ "clock": self.clock, "view": view })
    }
}

/// A request for the session, with where to send its answer.
pub struct Request {
    /// The team asking.
    pub team: String,
    /// Its role.
    pub role: Role,
    /// What it asks.
    pub action: Action,
    /// The answer: the simulated second it was carried out at, and the outcome. The
    /// receiver may have gone (its client left); the session does not mind.
    pub reply: tokio::sync::oneshot::Sender<(u64, Outcome)>,
}

/// How the exercise ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// The run's `metrics.json`, if it reached its end.
    pub metrics: Option<Vec<u8>>,
    /// The clock at the end.
    pub clock: ClockState,
}

/// Where the journal's text goes.
pub trait JournalStore: Send {
    /// Writes `bytes` at byte `offset` (all before it was written already) and makes them
    /// durable. On an error, what was written past `offset` may be there or not: the next call
    /// writes from `offset` again.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()>;
}

impl JournalStore for File {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let written = self
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.write_all(bytes))
            .and_then(|()| self.sync_data());
        if written.is_err() {
            // A torn line would be read as the journal's end after a crash; better none.
            let _ = self.set_len(offset);
        }
        written
    }
}

/// The channels of an exercise not started yet: the server binds to them first, so that a
/// start that fails (a port in use) writes nothing; then [`Channels::start`].
pub struct Channels {
    requests: Sender<Request>,
    incoming: Receiver<Request>,
    published: Arc<RwLock<Published>>,
}

impl Default for Channels {
    fn default() -> Channels {
        Channels::new()
    }
}

impl Channels {
    /// New channels; views are empty until the exercise starts.
    pub fn new() -> Channels {
        let (requests, incoming) = channel();
        Channels {
            requests,
            incoming,
            published: Arc::new(RwLock::new(Published::default())),
        }
    }

    /// Where to send requests (clone it for each connection).
    pub fn requests(&self) -> Sender<Request> {
        self.requests.clone()
    }

    /// The views, updated by the exercise's thread once it runs.
    pub fn published(&self) -> Arc<RwLock<Published>> {
        Arc::clone(&self.published)
    }

    /// Starts `session` on its own thread. The journal is created as `dir/journal.jsonl`
    /// (never over an existing one) and written as it grows; `metrics.json` is written to
    /// `dir` when the run reaches its end.
    pub fn start(self, session: Session, dir: &Path) -> Result<Live, String> {
        let journal_path = dir.join("journal.jsonl");
        let journal = File::options()
            .write(true)
            .create_new(true)
            .open(&journal_path)
            .map_err(|e| format!("cannot create {}: {e}", journal_path.display()))?;
        self.start_with(session, Box::new(journal), dir)
            .map_err(|e| format!("{}: {e}", journal_path.display()))
    }

    /// Starts `session` on its own thread with its journal written to `journal` (from its
    /// first byte); `metrics.json` is written to `dir`. The header must be written at once,
    /// or the exercise does not start.
    pub fn start_with(
        self,
        mut session: Session,
        mut journal: Box<dyn JournalStore>,
        dir: &Path,
    ) -> Result<Live, String> {
        let header = session.journal_unwritten().len() as u64;
        journal
            .write_at(0, session.journal_unwritten().as_bytes())
            .map_err(|e| format!("cannot write the journal's header: {e}"))?;
        session.journal_written();
        let Channels {
            requests,
            incoming,
            published,
        } = self;
        let shared = Arc::clone(&published);
        let dir = dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("amirange-exercise".into())
            .spawn(move || {
                let journal = Journal {
                    store: journal,
                    durable: header,
                };
                drive(session, incoming, shared, journal, dir)
            })
            .map_err(|e| format!("cannot start the exercise thread: {e}"))?;
        Ok(Live {
            requests,
            published,
            thread,
        })
    }
}

/// The running exercise: where to send requests and read views.
pub struct Live {
    requests: Sender<Request>,
    published: Arc<RwLock<Published>>,
    thread: JoinHandle<Result<Ended, String>>,
}

impl Live {
    /// Starts `session` on its own thread with new [`Channels`] (see [`Channels::start`]).
    /// The thread ends when every [`Live::requests`] sender is dropped (after the end, or to
    /// stop early).
    pub fn start(session: Session, dir: &Path) -> Result<Live, String> {
        Channels::new().start(session, dir)
    }

    /// Where to send requests (clone it for each connection).
    pub fn requests(&self) -> Sender<Request> {
        self.requests.clone()
    }

    /// The views, updated by the exercise's thread.
    pub fn published(&self) -> Arc<RwLock<Published>> {
        Arc::clone(&self.published)
    }

    /// Whether the exercise's thread has ended (after an error, or once every sender is
    /// gone); [`Live::join`] then says why.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Drops this handle's sender and waits for the thread (it ends once every other sender
    /// is dropped too).
    pub fn join(self) -> Result<Ended, String> {
        drop(self.requests);
        self.thread
            .join()
            .map_err(|_| "the exercise thread panicked".to_owned())?
    }
}

/// One line to standard error, as the server's log has them.
fn log(args: std::fmt::Arguments<'_>) {
    eprintln!("amirange-range: {args}");
}

/// The journal's store and how much of it is durable.
struct Journal {
    store: Box<dyn JournalStore>,
    /// Bytes written and durable.
    durable: u64,
}

impl Journal {
    /// Writes what the session has not written yet.
    fn flush(&mut self, session: &mut Session) -> std::io::Result<()> {
        let text = session.journal_unwritten();
        if text.is_empty() {
            return Ok(());
        }
        self.store.write_at(self.durable, text.as_bytes())?;
        self.durable += text.len() as u64;
        session.journal_written();
        Ok(())
    }
}

fn publish(session: &Session, shared: &RwLock<Published>) {
    let next = Published {
        version: 0,
        clock: Some(session.clock()),
        red: session.view(Role::Red),
        blue: session.view(Role::Blue),
        white: session.view(Role::White),
    };
    // A poisoned lock means a reader panicked while holding it; the data is still whole.
    let mut p = shared.write().unwrap_or_else(|e| e.into_inner());
    let version = p.version + 1;
    *p = Published { version, ..next };
}

type Answer = (tokio::sync::oneshot::Sender<(u64, Outcome)>, (u64, Outcome));

fn send_all(answers: impl IntoIterator<Item = Answer>) {
    for (reply, answer) in answers {
        // The client may have left; its answer is journalled all the same.
        let _ = reply.send(answer);
    }
}

fn drive(
    mut session: Session,
    rx: Receiver<Request>,
    shared: Arc<RwLock<Published>>,
    mut journal: Journal,
    dir: PathBuf,
) -> Result<Ended, String> {
    let origin = Instant::now();
    let wall = || origin.elapsed().as_secs_f64();
    let mut metrics = None;
    let mut last_publish = Instant::now();
    let mut dirty = false;
    let mut waiting: Option<Request> = None;
    // Answers that wait for the journal to be written (it failed).
    let mut held: Vec<Answer> = Vec::new();
    let mut last_try = Instant::now();
    // Whether the log said the journal is blocked (it says so once each time).
    let mut told_blocked = false;
    publish(&session, &shared);
    loop {
        // Requests first: they are carried out at the tick the engine has reached.
        let mut batch: Vec<Request> = waiting.take().into_iter().collect();
        let mut gone = false;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        // A journal that failed is tried again from time to time, and before white resumes.
        let resuming = batch
            .iter()
            .any(|r| r.role == Role::White && matches!(r.action, Action::Resume {}));
        if session.journal_failing() && (resuming || last_try.elapsed() >= RETRY_EVERY) {
            last_try = Instant::now();
            if journal.flush(&mut session).is_ok() {
                session.journal_recovered();
                log(format_args!(
                    "the journal is written again ({} bytes); the exercise stays paused until white resumes it",
                    journal.durable
                ));
                send_all(held.drain(..));
                dirty = true;
            }
        }
        let mut answers = Vec::with_capacity(batch.len());
        for r in batch {
            let answer = session.handle(&r.team, r.role, &r.action, wall());
            // Refusals and reads change nothing worth publishing at once.
            dirty |= matches!(answer.1, Outcome::Accepted { .. })
                && !matches!(
                    r.action,
                    Action::Snapshot {} | Action::GroundTruth {} | Action::Query { .. }
                );
            answers.push((r.reply, answer));
        }
        session.poll(wall());
        if gone {
            session.summarise_refusals();
        }
        if session.journal_failing() {
            // Only refusals and reads were answered: nothing they say waits on the journal.
            send_all(answers);
        } else {
            // On disk, not only in the page cache, before any client hears its answer.
            match journal.flush(&mut session) {
                Ok(()) => send_all(answers),
                Err(e) => {
                    let why = e.to_string();
                    session.journal_failed(&why, wall());
                    last_try = Instant::now();
                    log(format_args!(
                        "cannot write the journal ({why}): the exercise is paused and takes no actions until it \
                         can; {} bytes wait to be written (retried every {} s and when white resumes)",
                        session.journal_unwritten().len(),
                        RETRY_EVERY.as_secs()
                    ));
                    held.extend(answers);
                    dirty = true;
                }
            }
        }
        let blocked = session.journal_blocked();
        if blocked && !told_blocked && !session.journal_failing() {
            let why = session.journal_state().blocked.unwrap_or_default();
            log(format_args!("{why}"));
        }
        told_blocked = blocked;
        if gone {
            if session.journal_failing() {
                log(format_args!(
                    "the exercise stops with {} bytes of its journal unwritten; their requests were never answered",
                    session.journal_unwritten().len()
                ));
            }
            publish(&session, &shared);
            return Ok(Ended {
                metrics,
                clock: session.clock(),
            });
        }
        let ticked = session.tick_due(wall());
        if ticked {
            session.tick(wall())?;
            if session.finished() && metrics.is_none() {
                let m = session.finish()?;
                if let Err(e) = write_atomically(&dir.join("metrics.json"), &m) {
                    // The journal holds the run: `amirange replay` writes it again.
                    log(format_args!("{e} (`amirange replay` of the journal writes it again)"));
                }
                metrics = Some(m);
                dirty = true;
            }
        }
        let since = last_publish.elapsed();
        if (dirty && since >= PUBLISH_GAP) || since >= PUBLISH_EVERY {
            publish(&session, &shared);
            last_publish = Instant::now();
            dirty = false;
        }
        if ticked {
            continue;
        }
        let wait = session
            .wait_s(wall())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map_or(MAX_WAIT, |d| d.min(MAX_WAIT));
        let wait = if dirty { wait.min(PUBLISH_GAP) } else { wait };
        match rx.recv_timeout(wait) {
            Ok(r) => waiting = Some(r),
            // A disconnected channel is seen by `try_recv` at the top of the loop.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so that a reader
/// never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;
    use tokio::sync::oneshot;

    use super::*;
    use crate::session::Engine;

    /// An engine that accepts everything and counts what it carried out.
    struct Tally {
        now: u64,
        done: u64,
    }

    impl Engine for Tally {
        fn query(&self, _: &crate::messages::Query) -> Result<Value, String> {
            Err("this test engine answers no query".into())
        }
        fn now_s(&self) -> u64 {
            self.now
        }
        fn end_s(&self) -> u64 {
            86_400
        }
        fn advance(&mut self, to_s: u64) -> Result<(), String> {
            self.now = to_s;
            Ok(())
        }
        fn apply(&mut self, _team: &str, _role: Role, _action: &Action) -> Result<Value, String> {
            self.done += 1;
            Ok(Value::from(self.done))
        }
        fn view(&self, _role: Role) -> Value {
            json!({ "done": self.done })
        }
        fn finish(&mut self) -> Result<Vec<u8>, String> {
            Ok(self.done.to_string().into_bytes())
        }
        fn setup(&self) -> Value {
            Value::Null
        }
    }

    /// A journal in memory whose disk can be made full.
    #[derive(Clone, Default)]
    struct Disk(Arc<Mutex<(Vec<u8>, bool)>>);

    impl Disk {
        fn set_full(&self, full: bool) {
            self.0.lock().expect("disk").1 = full;
        }
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("disk").0).into_owned()
        }
    }

    impl JournalStore for Disk {
        fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
            let mut disk = self.0.lock().expect("disk");
            let offset = usize::try_from(offset).expect("small");
            disk.0.truncate(offset);
            if disk.1 {
                // Half of it went in before the disk was full.
                disk.0.extend_from_slice(&bytes[..bytes.len() / 2]);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device",
                ));
            }
            disk.0.extend_from_slice(bytes);
            Ok(())
        }
    }

    fn ask(live: &Live, team: &str, role: Role, action: Action) -> oneshot::Receiver<(u64, Outcome)> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            team: team.into(),
            role,
            action,
            reply,
        };
        live.requests().send(request).expect("the exercise runs");
        answer
    }

    /// Polls white's published view until `until` holds of it (every 20 ms, for 5 s at most).
    fn white_until(live: &Live, until: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let view = live.published().read().expect("views").view(Role::White);
            if until(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "white never saw it: {view}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_full_disk_pauses_the_exercise_tells_white_and_loses_no_accepted_action() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let disk = Disk::default();
        let session = Session::new(Box::new(Tally { now: 0, done: 0 }), "t", 60.0, 0.0);
        let live = Channels::new()
            .start_with(session, Box::new(disk.clone()), dir.path())
            .expect("starts");
        disk.set_full(true);
        let phish = || Action::Phish { account: "ops".into() };
        let mut first = ask(&live, "red", Role::Red, phish());
        let view = white_until(&live, |v| v["view"]["journal"]["blocked"].is_string());
        let why = view["view"]["journal"]["blocked"].as_str().unwrap_or_default();
        assert!(why.contains("No space left on device"), "{view}");
        assert_eq!(view["clock"]["paused"], true, "the exercise paused: {view}");
        assert!(
            first.try_recv().is_err(),
            "no answer before the journal holds the action"
        );
        assert!(!live.is_finished(), "the exercise goes on");
        let refused = ask(&live, "red", Role::Red, phish())
            .blocking_recv()
            .expect("an answer");
        assert!(
            matches!(&refused.1, Outcome::Refused { reason } if reason.contains("cannot be written")),
            "{refused:?}"
        );
        let refused = ask(&live, "w", Role::White, Action::Resume {})
            .blocking_recv()
            .expect("an answer");
        assert!(matches!(refused.1, Outcome::Refused { .. }), "{refused:?}");
        // Space is freed: white resumes, the journal is written, the held answer arrives.
        disk.set_full(false);
        let resumed = ask(&live, "w", Role::White, Action::Resume {})
            .blocking_recv()
            .expect("an answer");
        assert_eq!(resumed.1, Outcome::Accepted { result: Value::Null });
        let first = first.blocking_recv().expect("the held answer");
        assert_eq!(first.1, Outcome::Accepted { result: Value::from(1) });
        let ended = live.join().expect("ends cleanly");
        assert_eq!(ended.metrics, None);
        let text = disk.text();
        let (_, lines) = crate::session::parse_journal("j", &text).expect("a whole journal");
        let kinds: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.request())
            .map(|e| e.action.name())
            .collect();
        assert_eq!(kinds, ["phish", "resume"], "{text}");
        assert!(
            text.contains("cannot be written"),
            "the refusals are summarised: {text}"
        );
    }

    #[test]
    fn the_journal_cap_pauses_the_exercise_and_white_sees_why() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let session = Session::new(Box::new(Tally { now: 0, done: 0 }), "t", 60.0, 0.0);
        let cap = session.journal_unwritten().len() as u64 + crate::session::JOURNAL_HEADROOM + 500;
        let live = Live::start(session.with_journal_cap(cap), dir.path()).expect("starts");
        let phish = || Action::Phish { account: "ops".into() };
        let mut accepted = 0;
        let reason = loop {
            match ask(&live, "red", Role::Red, phish())
                .blocking_recv()
                .expect("an answer")
                .1
            {
                Outcome::Accepted { .. } => accepted += 1,
                Outcome::Refused { reason } => break reason,
            }
            assert!(accepted < 100, "the cap never stopped the phishes");
        };
        assert!(reason.contains("journal is full"), "{reason}");
        let view = white_until(&live, |v| v["view"]["journal"]["blocked"].is_string());
        assert!(
            view["view"]["journal"]["blocked"]
                .as_str()
                .is_some_and(|w| w.contains("reached its cap")),
            "{view}"
        );
        assert_eq!(view["clock"]["paused"], true, "{view}");
        let red = live.published().read().expect("views").view(Role::Red);
        assert!(red["view"].get("journal").is_none(), "only white is told: {red}");
        live.join().expect("ends cleanly");
        let on_disk = std::fs::metadata(dir.path().join("journal.jsonl"))
            .expect("the journal")
            .len();
        assert!(on_disk <= cap, "{on_disk} bytes on disk, the cap is {cap}");
    }

    #[test]
    fn a_red_flood_of_refused_requests_grows_the_journal_on_disk_by_a_bounded_amount() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let session = Session::new(Box::new(Tally { now: 0, done: 0 }), "t", 60.0, 0.0);
        let header = session.journal_unwritten().len() as u64;
        let live = Live::start(session, dir.path()).expect("starts");
        let started = Instant::now();
        let n = 10_000u32;
        // Ten clients' worth of requests in flight at once, of kinds red may not ask for, some
        // with a reason of their own each.
        let mut waiting = Vec::new();
        for i in 0..n {
            let action = match i % 3 {
                0 => Action::FreezeBulk { minutes: 5 },
                1 => Action::GroundTruth {},
                _ => Action::Jam {
                    x_m: 0.0,
                    y_m: 0.0,
                    radius_m: 6000.0 + f64::from(i),
                    strength: 1.0,
                    minutes: 5,
                },
            };
            waiting.push(ask(&live, "red", Role::Red, action));
            if waiting.len() == 10 {
                for w in waiting.drain(..) {
                    let (_, outcome) = w.blocking_recv().expect("an answer");
                    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
                }
            }
        }
        live.join().expect("ends cleanly");
        let seconds = started.elapsed().as_secs_f64();
        let grown = std::fs::metadata(dir.path().join("journal.jsonl"))
            .expect("the journal")
            .len()
            - header;
        // A summary a wall second at most (and one at the end), each at most REFUSAL_KINDS + 1
        // lines of a few hundred bytes, whatever the number of refusals.
        let summaries = seconds.ceil() as u64 + 1;
        let bound = summaries * (crate::session::REFUSAL_KINDS as u64 + 1) * 300;
        assert!(
            grown <= bound,
            "{grown} bytes for {n} refusals in {seconds:.1} s (bound {bound})"
        );
        assert!(grown < u64::from(n), "{grown} bytes for {n} refusals");
        let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).expect("the journal");
        let (_, lines) = crate::session::parse_journal("j", &text).expect("a journal");
        let counted: u64 = lines
            .iter()
            .map(|l| match l {
                crate::session::Line::Refusals(r) => r.count,
                crate::session::Line::Request(_) => 0,
            })
            .sum();
        assert_eq!(counted, u64::from(n), "every refusal is counted");
    }
}
