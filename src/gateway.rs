//! `amirange gateway`: a scenario run paced by the wall clock whose meters answer DLMS/COSEM
//! over TCP on loopback (the IEC 62056-47 wrapper), for testing head-end or MDM software, and
//! DLMS tools, against a simulated fleet.
//!
//! By default one port serves up to 65,535 meters, addressed by the wrapper's destination
//! wPort as a data concentrator addresses its meters (wPort `w` is meter `first + w - 1`), and
//! the gateway listens on as many consecutive ports as it takes to expose every meter from
//! `first_meter` on (16 for a city of a million). For small labs, [`Ports::PerMeter`] gives
//! each meter a port of its own, where it is wPort 1. Every meter accepts the public client
//! (16), the password client (17, with the gateway's password) and the HLS-GMAC client (1);
//! [`crate::face`] has the table. A connection's chunks of bytes past `frames_per_s` wait
//! (reading stops; nothing is refused).
//!
//! Every port takes the wrapper over UDP too, on the same port number: each datagram is one
//! frame (a datagram that is not exactly one valid frame is dropped), a client is known by its
//! address and port, and its protocol state is forgotten after [`UDP_IDLE`] of silence or when
//! [`UDP_PEERS`] others have spoken since.
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
pub use crate::face::{HLS_CLIENT, PASSWORD_CLIENT, PUBLIC_CLIENT, Window};
use crate::run::{RunError, Stepper};

/// Ports a gateway opens at most (a policy choice: 153 serve a fleet of ten million meters in
/// blocks, and a lab rarely gives more than a few dozen meters a port each).
pub const MAX_PORTS: usize = 1024;

/// A connection's chunks of bytes per second, by default. A policy choice: far above what a
/// head-end asks of one connection (the load benchmark's busiest connections sent about 130 a
/// second), while one client alone cannot take the engine's whole time.
pub const DEFAULT_FRAMES_PER_S: u32 = 1000;

/// A UDP client silent this long is forgotten (a policy choice, as a TCP connection's idle
/// time in the live range: a client that went away gives its state back).
pub const UDP_IDLE: Duration = Duration::from_secs(300);
/// UDP clients a port keeps state for at most; the one silent longest is forgotten first (a
/// policy choice: as many as TCP connections by default, so a flood of forged source
/// addresses only displaces the least active clients).
pub const UDP_PEERS: usize = 1024;

/// How the gateway lays its meters out on ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// Every meter from `first_meter` on, 65,535 a port (wPort `w` is the block's first meter
    /// plus `w - 1`), on consecutive ports from `listen`'s.
    Blocks,
    /// This many meters from `first_meter` on, each on a port of its own at wPort 1, on
    /// consecutive ports from `listen`'s.
    PerMeter(u32),
}

/// How a gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where to listen (loopback): the first port; the others follow it (with port 0, each
    /// picks a free one).
    pub listen: SocketAddr,
    /// How the meters are laid out on ports.
    pub ports: Ports,
    /// A connection's chunks of bytes per second at most.
    pub frames_per_s: u32,
    /// Whether exchanges are lost as the meters' paths would lose them (see
    /// [`crate::face`]).
    pub loss: bool,
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
            loss: config.loss,
            limits: config.limits,
        });
        Gateway {
            stepper,
            config,
            face,
            report: GatewayReport::default(),
        }
    }

    /// The ports' windows on the fleet, in port order.
    pub fn windows(&self) -> Vec<Window> {
        let n = u32::try_from(self.stepper.sim.n_meters()).unwrap_or(u32::MAX);
        let first = self.config.first_meter;
        match self.config.ports {
            Ports::Blocks => Window::blocks(first, n),
            Ports::PerMeter(count) => (first..n.min(first.saturating_add(count)))
                .map(|m| Window { first: m, meters: 1 })
                .collect(),
        }
    }

    /// Takes bytes from connection `conn` of the first port and returns the answer; an error
    /// means the connection must be closed. Relay operations are scheduled at the engine's
    /// present.
    pub fn receive(&mut self, conn: u64, bytes: &[u8]) -> Result<Vec<u8>, Closed> {
        let window = self
            .windows()
            .first()
            .copied()
            .unwrap_or(Window { first: 0, meters: 0 });
        self.receive_delayed(conn, window, bytes).map(|answer| answer.bytes)
    }

    /// [`Gateway::receive`] on a port that exposes `window`, with how long the field network
    /// takes to carry the exchange: the longest round trip of the meters the bytes addressed,
    /// each drawn over its current path, in wall time at the gateway's pace.
    pub fn receive_delayed(&mut self, conn: u64, window: Window, bytes: &[u8]) -> Result<Answer, Closed> {
        self.report.requests += 1;
        let operator = |_| Operator {
            source: "dlms".to_owned(),
            cause: Cause::Operation,
        };
        let exchange = self.face.receive(&self.stepper.sim, conn, window, bytes, &operator);
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
        window: Window,
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
    /// The layout asks for more ports than a gateway opens, or for none.
    #[error("{0}")]
    Ports(String),
    /// The run failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The address of port `k` after `base` (every one on port 0 when `base`'s is 0).
fn port_after(base: SocketAddr, k: usize) -> Option<SocketAddr> {
    if base.port() == 0 {
        return Some(base);
    }
    let port = u16::try_from(usize::from(base.port()) + k).ok()?;
    Some(SocketAddr::new(base.ip(), port))
}

/// Runs `gateway` paced by the wall clock, serving DLMS on its ports, until `stop` is set or
/// (with `exit_at_end`) the run ends; returns it, with its run where it stopped. `ready` gets
/// each port bound with the meters it exposes, and `progress` the report now and then.
pub fn serve(
    mut gateway: Gateway,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(&[(SocketAddr, Window)]),
    mut progress: impl FnMut(&GatewayReport),
) -> Result<Gateway, GatewayError> {
    let listen = gateway.config.listen;
    let windows = gateway.windows();
    if windows.is_empty() {
        return Err(GatewayError::Ports(format!(
            "no meter to expose from meter {} (the run has {})",
            gateway.config.first_meter,
            gateway.stepper.sim.n_meters()
        )));
    }
    if windows.len() > MAX_PORTS {
        return Err(GatewayError::Ports(format!(
            "{} ports asked for: a gateway opens at most {MAX_PORTS}",
            windows.len()
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|source| GatewayError::Listen { addr: listen, source })?;
    let mut listeners = Vec::with_capacity(windows.len());
    for (k, window) in windows.iter().enumerate() {
        let addr = port_after(listen, k)
            .ok_or_else(|| GatewayError::Ports(format!("{} ports from {listen} run past port 65535", windows.len())))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|source| GatewayError::Listen { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| GatewayError::Listen { addr, source })?;
        // UDP on the very port TCP got.
        let udp = runtime
            .block_on(tokio::net::UdpSocket::bind(bound))
            .map_err(|source| GatewayError::Listen { addr: bound, source })?;
        listeners.push((listener, udp, bound, *window));
    }
    let (tx, rx) = mpsc::channel::<Request>();
    let slots = Arc::new(tokio::sync::Semaphore::new(gateway.config.max_connections));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let max_apdu = usize::from(gateway.config.limits.max_apdu);
    let bound: Vec<(SocketAddr, Window)> = listeners.iter().map(|(_, _, addr, w)| (*addr, *w)).collect();
    for (listener, udp, _, window) in listeners {
        let port = Arc::new(Port {
            window,
            tx: tx.clone(),
            slots: Arc::clone(&slots),
            next: Arc::clone(&next),
            max_apdu,
            frames_per_s: gateway.config.frames_per_s,
        });
        runtime.spawn(Arc::clone(&port).accept(listener));
        runtime.spawn(port.datagrams(udp));
    }
    drop(tx);
    ready(&bound);
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
                Ok(Request::Bytes {
                    conn,
                    window,
                    bytes,
                    reply,
                }) => {
                    let _ = reply.send(gateway.receive_delayed(conn, window, &bytes));
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
    /// The first port's address.
    pub addr: SocketAddr,
    /// Every port's address, with the meters it exposes.
    pub ports: Vec<(SocketAddr, Window)>,
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
                move |ports| {
                    let _ = ready_tx.send(ports.to_vec());
                },
                |_| {},
            )
        })
    };
    match ready_rx.recv() {
        Ok(ports) => Ok(Running {
            addr: ports[0].0,
            ports,
            stop,
            thread,
        }),
        // The sender went away without the ports: serve returned its error.
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(GatewayError::Listen {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                source: std::io::Error::other("the gateway stopped before it listened"),
            }),
        },
    }
}

/// One port's accepting side.
struct Port {
    window: Window,
    tx: mpsc::Sender<Request>,
    /// The connection slots, shared by every port.
    slots: Arc<tokio::sync::Semaphore>,
    /// Connection numbers, shared by every port.
    next: Arc<std::sync::atomic::AtomicU64>,
    max_apdu: usize,
    frames_per_s: u32,
}

impl Port {
    /// Takes datagrams, each one frame, and hands them to the engine as their client's bytes
    /// (at most `frames_per_s` a second per client: past it they are dropped, as a busy
    /// concentrator's would be); every answer is sent back on a task of its own after its
    /// round trip, so a slow meter holds up no one else.
    async fn datagrams(self: Arc<Port>, socket: tokio::net::UdpSocket) {
        struct Peer {
            conn: u64,
            last: Instant,
            pace: amirange_range::dlms_port::Pace,
        }
        let socket = Arc::new(socket);
        // tidy: not a model crate; keyed lookups only, never iterated for output.
        let mut peers: std::collections::HashMap<SocketAddr, Peer> = std::collections::HashMap::new();
        let mut buf = vec![0u8; self.max_apdu + 64];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let datagram = &buf[..n];
            if amirange_dlms::wrapper::decode_datagram(datagram, self.max_apdu).is_err() {
                continue;
            }
            let now = Instant::now();
            // Forget the silent, and the least recently heard when too many have spoken.
            if !peers.contains_key(&peer) && peers.len() >= UDP_PEERS {
                let mut forget: Vec<(Instant, SocketAddr)> = peers
                    .iter()
                    .filter(|(_, p)| now.duration_since(p.last) >= UDP_IDLE)
                    .map(|(a, p)| (p.last, *a))
                    .collect();
                if forget.is_empty() {
                    forget.extend(peers.iter().map(|(a, p)| (p.last, *a)).min());
                }
                for (_, addr) in forget {
                    if let Some(p) = peers.remove(&addr) {
                        let _ = self.tx.send(Request::Closed(p.conn));
                    }
                }
            }
            let entry = peers.entry(peer).or_insert_with(|| {
                let _ = self.tx.send(Request::Opened);
                Peer {
                    conn: self.next.fetch_add(1, Ordering::Relaxed),
                    last: now,
                    pace: amirange_range::dlms_port::Pace::new(self.frames_per_s),
                }
            });
            if now.duration_since(entry.last) >= UDP_IDLE {
                // Silent too long: a new session.
                let _ = self.tx.send(Request::Closed(entry.conn));
                entry.conn = self.next.fetch_add(1, Ordering::Relaxed);
            }
            entry.last = now;
            if !entry.pace.try_take(now) {
                continue;
            }
            let (reply, answer) = tokio::sync::oneshot::channel();
            let request = Request::Bytes {
                conn: entry.conn,
                window: self.window,
                bytes: datagram.to_vec(),
                reply,
            };
            if self.tx.send(request).is_err() {
                return;
            }
            let socket = Arc::clone(&socket);
            tokio::spawn(async move {
                if let Ok(Ok(answer)) = answer.await
                    && !answer.bytes.is_empty()
                {
                    tokio::time::sleep(answer.delay).await;
                    let _ = socket.send_to(&answer.bytes, peer).await;
                }
            });
        }
    }

    /// Accepts connections, each a task that hands its bytes to the engine (at most
    /// `frames_per_s` chunks a second) and writes back the answers, within the connection
    /// slots.
    async fn accept(self: Arc<Port>, listener: tokio::net::TcpListener) {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Over the limit, a connection is closed at once.
            let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
                continue;
            };
            let conn = self.next.fetch_add(1, Ordering::Relaxed);
            let tx = self.tx.clone();
            if tx.send(Request::Opened).is_err() {
                return;
            }
            let (window, max_apdu, frames_per_s) = (self.window, self.max_apdu, self.frames_per_s);
            tokio::spawn(async move {
                let _permit = permit;
                let _ = socket.set_nodelay(true);
                let mut pace = amirange_range::dlms_port::Pace::new(frames_per_s);
                let mut buf = vec![0u8; max_apdu + 8];
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let wait = pace.wait(Instant::now());
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    let request = Request::Bytes {
                        conn,
                        window,
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
}
