//! A red team's DLMS port in a live exercise: a TCP listener whose connections' bytes reach
//! the meters' DLMS face as the team's `dlms` actions, so that a real DLMS client (Gurux's, a
//! head-end's, the team's own) reads and operates the meters it holds keys for.
//!
//! Every chunk of bytes a connection sends goes through the exercise thread like any other
//! request: it is carried out at the tick the session has reached and journalled with its
//! answer, so the journal replays DLMS sessions byte for byte. The answer is written back after
//! the meters' round trip over the field network (which the engine draws), in wall time at the
//! exercise's pace; a meter the network cannot reach answers nothing. The port knows nothing
//! of DLMS itself: the engine frames, checks and answers.
//!
//! Limits (the exercise's `dlms` section): a connection's chunks past
//! [`crate::exercise::Dlms::frames_per_s`] wait (the port stops reading, so the client's
//! sends slow down; nothing is refused); a chunk is at most [`MAX_DLMS_CHUNK`] bytes; a port
//! holds [`crate::exercise::Dlms::max_connections`] connections and closes one more at once; a
//! connection silent for [`IDLE`] is closed. A refusal from the session (the exercise over, the
//! journal full) closes the connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

use crate::exercise::Dlms;
use crate::live::{Published, Request};
use crate::messages::{Action, MAX_DLMS_CHUNK, Role};
use crate::session::Outcome;

/// A connection that sends nothing for this long is closed (a policy choice, as the QUIC
/// server's idle timeout: a forgotten client gives its slot back).
pub const IDLE: Duration = Duration::from_secs(300);

/// A bound DLMS port, not yet serving.
pub struct Port {
    /// The team whose port it is.
    pub team: String,
    /// Where it listens.
    pub local_addr: SocketAddr,
    listener: TcpListener,
}

/// Binds every port of `dlms`; the first that cannot listen is named with its error.
pub async fn bind(dlms: &Dlms) -> Result<Vec<Port>, (SocketAddr, std::io::Error)> {
    let mut ports = Vec::with_capacity(dlms.ports.len());
    for p in &dlms.ports {
        let listener = TcpListener::bind(p.listen).await.map_err(|e| (p.listen, e))?;
        let local_addr = listener.local_addr().map_err(|e| (p.listen, e))?;
        ports.push(Port {
            team: p.team.clone(),
            local_addr,
            listener,
        });
    }
    Ok(ports)
}

/// What every connection of the ports shares.
#[derive(Clone)]
pub struct Shared {
    /// The exercise thread's requests.
    pub requests: Sender<Request>,
    /// The views and clock it publishes (for the pace).
    pub published: Arc<RwLock<Published>>,
    /// Connection numbers, shared by all ports so that none is used twice.
    pub next_connection: Arc<AtomicU64>,
    /// Chunks a connection may send per second.
    pub frames_per_s: u32,
    /// Connections a port holds at once.
    pub max_connections: usize,
}

impl Port {
    /// Serves the port until the task is dropped: every connection is a task of its own.
    pub async fn serve(self, shared: Shared) {
        let slots = Arc::new(Semaphore::new(shared.max_connections));
        loop {
            let Ok((socket, peer)) = self.listener.accept().await else {
                // A failed accept (out of descriptors) is retried after a pause.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                crate::server::log(format_args!(
                    "{peer}: DLMS port of team {}: closed at once: it holds {} connections",
                    self.team, shared.max_connections
                ));
                continue;
            };
            let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
            let (team, shared) = (self.team.clone(), shared.clone());
            tokio::spawn(async move {
                let _permit = permit;
                serve_connection(socket, peer, team, connection, shared).await;
            });
        }
    }
}

/// The wait before the next chunk, keeping one connection to `per_s` chunks a second with a
/// burst of as many (also the gateway's, `amirange gateway`).
#[derive(Debug, Clone)]
pub struct Pace {
    next: Instant,
    gap: Duration,
    burst: Duration,
}

impl Pace {
    /// A connection's pace, from now.
    pub fn new(per_s: u32) -> Pace {
        let gap = Duration::from_secs_f64(1.0 / f64::from(per_s.max(1)));
        let burst = gap * per_s.max(1);
        // A second's burst saved from the start.
        let now = Instant::now();
        Pace {
            next: now.checked_sub(burst).unwrap_or(now),
            gap,
            burst,
        }
    }

    /// Whether a chunk that arrived at `now` may go now (it then counts; one that may not,
    /// does not).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let earliest = now.checked_sub(self.burst).unwrap_or(now);
        self.next = self.next.max(earliest);
        if self.next <= now {
            self.next += self.gap;
            true
        } else {
            false
        }
    }

    /// How long to wait before the chunk that arrived at `now` may go.
    pub fn wait(&mut self, now: Instant) -> Duration {
        // Saved-up time is capped at a second's burst.
        let earliest = now.checked_sub(self.burst).unwrap_or(now);
        self.next = self.next.max(earliest);
        let wait = self.next.saturating_duration_since(now);
        self.next += self.gap;
        wait
    }
}

async fn serve_connection(mut socket: TcpStream, peer: SocketAddr, team: String, connection: u64, shared: Shared) {
    crate::server::log(format_args!(
        "{peer}: DLMS port of team {team}: connection {connection} opened"
    ));
    let _ = socket.set_nodelay(true);
    let mut buf = vec![0u8; MAX_DLMS_CHUNK];
    let mut pace = Pace::new(shared.frames_per_s);
    let mut sent = false;
    let why = loop {
        let n = match tokio::time::timeout(IDLE, socket.read(&mut buf)).await {
            Err(_) => break format!("silent for {} s", IDLE.as_secs()),
            Ok(Ok(0)) => break "closed by the client".to_owned(),
            Ok(Err(e)) => break format!("read failed: {e}"),
            Ok(Ok(n)) => n,
        };
        let wait = pace.wait(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let action = Action::Dlms {
            connection,
            bytes: hex::encode_upper(&buf[..n]),
        };
        let Some(outcome) = ask(&shared, &team, action).await else {
            break "the exercise has ended".to_owned();
        };
        sent = true;
        let result = match outcome {
            Outcome::Accepted { result } => result,
            Outcome::Refused { reason } => break format!("refused: {reason}"),
        };
        let answer = result
            .get("bytes")
            .and_then(|b| b.as_str())
            .and_then(|b| hex::decode(b).ok())
            .unwrap_or_default();
        if !answer.is_empty() {
            // The field network's round trip, in wall time at the exercise's pace.
            let round_trip_us = result.get("round_trip_us").and_then(|v| v.as_f64()).unwrap_or(0.0);
            let pace = {
                let p = shared.published.read().unwrap_or_else(PoisonError::into_inner);
                p.clock.map_or(1.0, |c| c.pace)
            };
            let delay = round_trip_us / 1e6 / pace.max(crate::messages::MIN_PACE);
            tokio::time::sleep(Duration::from_secs_f64(delay.min(60.0))).await;
            if let Err(e) = socket.write_all(&answer).await {
                break format!("write failed: {e}");
            }
        }
        if let Some(close) = result.get("close").and_then(|c| c.as_str()) {
            break format!("closed by the meters: {close}");
        }
    };
    if sent {
        // The engine forgets the connection's protocol state (journalled, so a replay does too).
        let _ = ask(&shared, &team, Action::DlmsClosed { connection }).await;
    }
    crate::server::log(format_args!(
        "{peer}: DLMS port of team {team}: connection {connection} ended: {why}"
    ));
}

/// Hands `action` to the exercise thread as `team`'s and waits for its outcome (`None` once
/// the thread has ended).
async fn ask(shared: &Shared, team: &str, action: Action) -> Option<Outcome> {
    let (reply, answer) = oneshot::channel();
    let request = Request {
        team: team.to_owned(),
        role: Role::Red,
        action,
        reply,
    };
    shared.requests.send(request).ok()?;
    answer.await.ok().map(|(_, outcome)| outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_allows_a_second_of_burst_then_the_rate() {
        let mut pace = Pace::new(10);
        let start = Instant::now();
        // After a quiet while, a second's worth of chunks goes at once with the present one;
        // then each waits a tenth of a second more.
        let later = start + Duration::from_secs(5);
        for _ in 0..11 {
            assert_eq!(pace.wait(later), Duration::ZERO);
        }
        assert_eq!(pace.wait(later), Duration::from_millis(100));
        assert_eq!(pace.wait(later), Duration::from_millis(200));
        // Taking without waiting: a chunk that may not go does not count.
        let mut pace = Pace::new(10);
        let later = start + Duration::from_secs(5);
        assert_eq!((0..20).filter(|_| pace.try_take(later)).count(), 11);
        assert!(!pace.try_take(later + Duration::from_millis(99)));
        assert!(pace.try_take(later + Duration::from_millis(100)));
    }
}
