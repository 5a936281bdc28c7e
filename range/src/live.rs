//! The live exercise's own thread: it owns the [`Session`], takes ticks when the clock says,
//! answers requests between ticks, writes the journal as it grows, and publishes every role's
//! view for the network to read without waiting on the engine.
//!
//! Nothing here waits on a client: requests arrive on a channel and replies leave on one-shot
//! channels, so a slow or vanished client never stalls the simulation.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::messages::{Action, Role};
use crate::session::{ClockState, Outcome, Session, json_line};

/// How often views are published while the engine ticks, at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// The longest the thread sleeps without looking at its channel.
const MAX_WAIT: Duration = Duration::from_millis(100);

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
    /// White's view (ground truth and the scoreboard).
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

/// The running exercise: where to send requests and read views.
pub struct Live {
    requests: Sender<Request>,
    published: Arc<RwLock<Published>>,
    thread: JoinHandle<Result<Ended, String>>,
}

impl Live {
    /// Starts `session` on its own thread. The journal is appended to `dir/journal.jsonl` as
    /// it grows; `metrics.json` is written to `dir` when the run reaches its end. The thread
    /// ends when every [`Live::requests`] sender is dropped (after the end, or to stop early).
    pub fn start(session: Session, dir: &Path) -> Result<Live, String> {
        let journal_path = dir.join("journal.jsonl");
        let mut journal = File::options()
            .write(true)
            .create_new(true)
            .open(&journal_path)
            .map_err(|e| format!("cannot create {}: {e}", journal_path.display()))?;
        journal
            .write_all(json_line(&session.header()).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", journal_path.display()))?;
        let (tx, rx) = channel();
        let published = Arc::new(RwLock::new(Published::default()));
        let shared = Arc::clone(&published);
        let dir = dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("amirange-exercise".into())
            .spawn(move || drive(session, rx, shared, journal, dir))
            .map_err(|e| format!("cannot start the exercise thread: {e}"))?;
        Ok(Live {
            requests: tx,
            published,
            thread,
        })
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

fn drive(
    mut session: Session,
    rx: Receiver<Request>,
    shared: Arc<RwLock<Published>>,
    mut journal: File,
    dir: PathBuf,
) -> Result<Ended, String> {
    let origin = Instant::now();
    let wall = || origin.elapsed().as_secs_f64();
    let mut written = 0;
    let mut metrics = None;
    let mut last_publish = Instant::now();
    let mut waiting: Option<Request> = None;
    publish(&session, &shared);
    loop {
        // Requests first: they are carried out at the tick the engine has reached.
        let mut batch: Vec<Request> = waiting.take().into_iter().collect();
        let mut gone = false;
        loop {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        let mut changed = false;
        let mut answers = Vec::with_capacity(batch.len());
        for r in batch {
            let answer = session.handle(&r.team, r.role, &r.action, wall());
            // Refusals and reads change nothing worth publishing at once.
            changed |= matches!(answer.1, crate::session::Outcome::Accepted { .. })
                && !matches!(r.action, Action::Snapshot {} | Action::GroundTruth {});
            answers.push((r.reply, answer));
        }
        // The journal is on disk before any client hears its answer.
        if written < session.journal().len() {
            for e in &session.journal()[written..] {
                journal
                    .write_all(json_line(e).as_bytes())
                    .map_err(|e| format!("cannot write the journal: {e}"))?;
            }
            // On disk, not only in the page cache, before any client hears its answer.
            journal
                .sync_data()
                .map_err(|e| format!("cannot write the journal: {e}"))?;
            written = session.journal().len();
        }
        for (reply, answer) in answers {
            // The client may have left; its answer is journalled all the same.
            let _ = reply.send(answer);
        }
        if gone {
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
                write_atomically(&dir.join("metrics.json"), &m)?;
                metrics = Some(m);
                changed = true;
            }
        }
        if changed || last_publish.elapsed() >= PUBLISH_EVERY {
            publish(&session, &shared);
            last_publish = Instant::now();
        }
        if ticked {
            continue;
        }
        let wait = session
            .wait_s(wall())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map_or(MAX_WAIT, |d| d.min(MAX_WAIT));
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
