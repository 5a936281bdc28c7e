//! `amirange gateway`: a scenario run paced by the wall clock whose meters answer DLMS/COSEM
//! over TCP on loopback (the IEC 62056-47 wrapper), for testing head-end or MDM software, and
//! DLMS tools, against a simulated fleet.
//!
//! One port serves up to 65,535 meters, addressed by the wrapper's destination wPort as a
//! data concentrator addresses its meters: wPort `w` is meter `first_meter + w - 1`. Every
//! meter accepts the public client (16), the password client (17, with the gateway's
//! password) and the HLS-GMAC client (1); [`crate::face`] has the table.
//!
//! The engine runs on the calling thread; connections are tokio tasks that hand their bytes
//! to it. Requests are answered at the engine's present, between steps; a remote disconnect
//! becomes an engine input at that instant. A meter the field network cannot reach now (no
//! supply, radio or module down, jammed, no path to a collector) answers nothing; one it
//! reaches answers after its path's latency (a request's round trip over its mesh hops, PLC
//! line or cellular link, drawn per exchange), in wall time at the gateway's pace.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use amirange_dlms::server::{Closed, Limits};
use amirange_sim::engine::Input;
use amirange_sim::model::Cause;
use amirange_sim::time::SimTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::face::{Face, FaceConfig, Operator};
pub use crate::face::{HLS_CLIENT, PASSWORD_CLIENT, PUBLIC_CLIENT};
use crate::run::{RunError, Stepper};

/// How a gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where to listen (loopback; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Simulated seconds per wall second.
    pub pace: f64,
    /// The password of client 17.
    pub password: Vec<u8>,
    /// The meter at wPort 1.
    pub first_meter: u32,
    /// Per-connection limits.
    pub limits: Limits,
    /// Connections open at once.
    pub max_connections: usize,
    /// Stop when the run reaches its end (otherwise the final state is served until stopped).
    pub exit_at_end: bool,
}

/// What a gateway did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayReport {
    /// Connections accepted.
    pub connections: u64,
    /// Frames' worth of bytes handed to the meters (requests).
    pub requests: u64,
    /// Engine inputs the meters' methods made (relay operations and their ground truth).
    pub inputs: u64,
    /// Relay operations among them.
    pub relay_operations: u64,
    /// The simulated time reached.
    pub reached: SimTime,
}

/// The engine side of a gateway: the run and the fleet's DLMS face.
pub struct Gateway {
    /// The run.
    pub stepper: Stepper,
    config: GatewayConfig,
    face: Face,
    report: GatewayReport,
}

/// An answer and how long the field network takes to carry it, in wall time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The bytes to send back.
    pub bytes: Vec<u8>,
    /// How long to wait before sending them.
    pub delay: Duration,
}

impl Gateway {
    /// A gateway over `stepper`.
    pub fn new(stepper: Stepper, config: GatewayConfig) -> Gateway {
        let face = Face::new(FaceConfig {
            password: Some(config.password.clone()),
            first_meter: config.first_meter,
            limits: config.limits,
        });
        Gateway {
            stepper,
            config,
            face,
            report: GatewayReport::default(),
        }
    }

    /// Takes bytes from connection `conn` and returns the answer; an error means the
    /// connection must be closed. Relay operations are scheduled at the engine's present.
    pub fn receive(&mut self, conn: u64, bytes: &[u8]) -> Result<Vec<u8>, Closed> {
        self.receive_delayed(conn, bytes).map(|answer| answer.bytes)
    }

    /// [`Gateway::receive`], with how long the field network takes to carry the exchange: the
    /// longest round trip of the meters the bytes addressed, each drawn over its current
    /// path, in wall time at the gateway's pace.
    pub fn receive_delayed(&mut self, conn: u64, bytes: &[u8]) -> Result<Answer, Closed> {
        self.report.requests += 1;
        let operator = |_| Operator {
            source: "dlms".to_owned(),
            cause: Cause::Operation,
        };
        let exchange = self.face.receive(&self.stepper.sim, conn, bytes, &operator);
        let delay = Duration::from_secs_f64(exchange.round_trip_us / 1e6 / self.config.pace.max(1e-3));
        let now = self.stepper.sim.now();
        for input in exchange.inputs {
            // The present is always schedulable; an input refused would be a bug to show.
            let relay = matches!(input, Input::SetRelay { .. });
            if self.stepper.sim.schedule(now, input).is_ok() {
                self.report.inputs += 1;
                self.report.relay_operations += u64::from(relay);
            }
        }
        exchange.answer.map(|bytes| Answer { bytes, delay })
    }

    /// Forgets connection `conn`.
    pub fn close(&mut self, conn: u64) {
        self.face.close(conn);
    }

    /// What the gateway did so far.
    pub fn report(&self) -> GatewayReport {
        GatewayReport {
            reached: self.stepper.sim.now(),
            ..self.report.clone()
        }
    }
}

/// A message from a connection task to the engine.
enum Request {
    Bytes {
        conn: u64,
        bytes: Vec<u8>,
        reply: tokio::sync::oneshot::Sender<Result<Answer, Closed>>,
    },
    Closed(u64),
    Opened,
}

/// Why a gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The socket.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The run failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Runs `gateway` paced by the wall clock, serving DLMS on `config.listen`, until `stop` is
/// set or (with `exit_at_end`) the run ends; returns it, with its run where it stopped.
/// `ready` gets the address bound (for port 0) and `progress` the report now and then.
pub fn serve(
    mut gateway: Gateway,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(SocketAddr),
    mut progress: impl FnMut(&GatewayReport),
) -> Result<Gateway, GatewayError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|source| GatewayError::Listen {
            addr: gateway.config.listen,
            source,
        })?;
    let listen = gateway.config.listen;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|source| GatewayError::Listen { addr: listen, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| GatewayError::Listen { addr: listen, source })?;
    let (tx, rx) = mpsc::channel::<Request>();
    let slots = Arc::new(tokio::sync::Semaphore::new(gateway.config.max_connections));
    let max_apdu = usize::from(gateway.config.limits.max_apdu);
    runtime.spawn(accept(listener, tx, slots, max_apdu));
    ready(bound);
    let horizon = SimTime(gateway.stepper.sim.config().horizon.as_micros());
    let pace = gateway.config.pace;
    let started = Instant::now();
    let start_sim = gateway.stepper.sim.now();
    let mut last_progress = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Answer what came in for up to 20 ms, then step the engine to the wall clock.
        let until = Instant::now() + Duration::from_millis(20);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(Request::Bytes { conn, bytes, reply }) => {
                    let _ = reply.send(gateway.receive_delayed(conn, &bytes));
                }
                Ok(Request::Closed(conn)) => gateway.close(conn),
                Ok(Request::Opened) => gateway.report.connections += 1,
                Err(_) => break,
            }
        }
        let target_us = start_sim.as_micros() as f64 + started.elapsed().as_secs_f64() * pace * 1e6;
        let target = SimTime((target_us as u64).min(horizon.as_micros()));
        if target > gateway.stepper.sim.now() {
            gateway.stepper.step_to(target)?;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            progress(&gateway.report());
            last_progress = Instant::now();
        }
        if gateway.config.exit_at_end && gateway.stepper.sim.now() >= horizon {
            break;
        }
    }
    runtime.shutdown_background();
    Ok(gateway)
}

/// A gateway serving on a thread of its own ([`spawn`]).
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Gateway, GatewayError>>,
}

impl Running {
    /// Stops it and returns it, with its run where it stopped.
    pub fn stop(self) -> Result<Gateway, GatewayError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| {
            Err(GatewayError::Listen {
                addr: self.addr,
                source: std::io::Error::other("the gateway's thread panicked"),
            })
        })
    }
}

/// Starts [`serve`] on a thread of its own and returns once it listens (or failed to).
pub fn spawn(gateway: Gateway) -> Result<Running, GatewayError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            serve(
                gateway,
                stop,
                move |addr| {
                    let _ = ready_tx.send(addr);
                },
                |_| {},
            )
        })
    };
    match ready_rx.recv() {
        Ok(addr) => Ok(Running { addr, stop, thread }),
        // The sender went away without an address: serve returned its error.
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(GatewayError::Listen {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                source: std::io::Error::other("the gateway stopped before it listened"),
            }),
        },
    }
}

/// Accepts connections, each a task that hands its bytes to the engine and writes back the
/// answers, within the connection slots.
async fn accept(
    listener: tokio::net::TcpListener,
    tx: mpsc::Sender<Request>,
    slots: Arc<tokio::sync::Semaphore>,
    max_apdu: usize,
) {
    let mut next = 0u64;
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        // Over the limit, a connection is closed at once.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        next += 1;
        let conn = next;
        let tx = tx.clone();
        if tx.send(Request::Opened).is_err() {
            return;
        }
        tokio::spawn(async move {
            let _permit = permit;
            let mut buf = vec![0u8; max_apdu + 8];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (reply, answer) = tokio::sync::oneshot::channel();
                let request = Request::Bytes {
                    conn,
                    bytes: buf[..n].to_vec(),
                    reply,
                };
                if tx.send(request).is_err() {
                    break;
                }
                match answer.await {
                    Ok(Ok(answer)) => {
                        if !answer.bytes.is_empty() {
                            // The field network's round trip, at the gateway's pace.
                            tokio::time::sleep(answer.delay).await;
                            if socket.write_all(&answer.bytes).await.is_err() {
                                break;
                            }
                        }
                    }
                    _ => break,
                }
            }
            let _ = tx.send(Request::Closed(conn));
        });
    }
}
