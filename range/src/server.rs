//! The range's QUIC server: TLS 1.3 with a certificate generated at start (clients pin its
//! SHA-256 fingerprint) or the operator's, ALPN [`ALPN`], and protocol version 1 on every
//! bidirectional stream (`range/PROTOCOL.md`).
//!
//! Each stream is its own session with the server: its first frame must be `hello` with a
//! team's token (within [`ServerConfig::hello_timeout`]); then `request`s, each answered
//! `accepted` or `refused` under its id. A `snapshot` is answered from the views the exercise
//! thread publishes ([`Published`]); every other action goes to the exercise thread through
//! its channel, and the answer comes back on a one-shot channel. A bad frame, a second
//! `hello`, or a message of the server's gets `error` and the stream is closed; a wrong token
//! gets `error` and the whole connection is closed. Nothing a peer sends makes the server
//! panic, and no task waits on another client: each stream writes its own answers, and the
//! exercise thread is only ever reached through its channel.
//!
//! # Fairness
//!
//! No team, and nobody without a token, can keep another team out:
//!
//! - A connection starts in a small pool of its own for connections that have not yet said a
//!   valid `hello` ([`ServerConfig::max_connections_without_hello`]), handshakes under way
//!   included. It must say one within twice [`ServerConfig::hello_timeout`] of its first
//!   packet, or it is closed. When the pool is full, a newcomer is let in and the oldest
//!   connection of the address holding the most of the pool is closed to make room, so a
//!   flood of silent connections from one address only ever displaces its own. While the pool
//!   is half full or more, a client must first prove it receives at its address (a QUIC Retry:
//!   one round trip, no state kept), so forged addresses cannot fill it.
//! - Its first valid `hello` moves the connection into its team's own slots
//!   ([`ServerConfig::max_connections_per_team`] for every team, reserved for it: no other
//!   team's connections count against them); a connection past them is refused with an
//!   `error` naming the cap, then closed ([`codes::CAPACITY`]). Nothing without a token can
//!   take a team's slot, and no team can take another's: white always gets in, and red cannot
//!   lock blue out.
//! - A connection that has said `hello` but sends no message for
//!   [`ServerConfig::idle_timeout`] is closed ([`codes::IDLE`]), even if QUIC keep-alives keep
//!   it open, so a held slot is given back.
//! - Requests are rate-limited per team ([`ServerConfig::max_requests_per_s`]): all of a
//!   team's connections and streams share one bucket, so opening more connections does not
//!   buy more requests.
//!
//! One line per connection, per team joining, per refusal and per error goes to standard
//! error, with the peer's address and the team's name; never a token.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::exercise::Exercise;
use crate::live::{Published, Request};
use crate::messages::{Action, ClientMessage, Role, ServerMessage};
use crate::protocol::{ALPN, DEFAULT_MAX_FRAME, Decoder, FrameError, VERSION, decode_body, encode};
use crate::session::Outcome;

/// Requests per second a team may make over all its connections together, by default (twice
/// as many in a burst). A policy choice: a team's players and tools (a `watch` asks once a
/// second) fit well within it, while a flood of refused requests stays small in the journal.
pub const DEFAULT_MAX_REQUESTS_PER_S: u32 = 20;
/// Connections that have not said a valid `hello` yet, handshakes under way included, by
/// default. A policy choice: an honest client passes through this pool in one round trip and a
/// `hello` (milliseconds), so 32 lets a whole class connect at the same moment, while the
/// state it keeps for strangers (32 TLS handshakes) stays negligible.
pub const DEFAULT_MAX_CONNECTIONS_WITHOUT_HELLO: usize = 32;
/// Connections one team may hold at once, by default; they are reserved for it. A policy
/// choice: a team of a dozen players, each with a watching tool open and a command or two under
/// way, fits; since no other team can take them, the cap only bounds what the server holds (32
/// connections per team of the exercise, plus the pool without `hello`, each a few kilobytes).
pub const DEFAULT_MAX_CONNECTIONS_PER_TEAM: usize = 32;
/// Bidirectional streams open at once on one connection, by default.
pub const DEFAULT_MAX_STREAMS: u32 = 8;
/// How long a new stream has to send its `hello`, by default; a new connection has twice this
/// from its first packet. A policy choice: a client sends `hello` as soon as its stream is
/// open, and 3 s covers several lost packets on a poor link, while a silent connection gives
/// its slot back within 6 s.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection that said `hello` may go without sending a message, by default,
/// before it is closed. A policy choice: a player's tool asks at least every few seconds while
/// in use (`watch` every second), so five minutes of silence means a forgotten session whose
/// slot is better given back; the client reconnects when it needs to.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest frame the server sends (a `snapshot` of a large exercise can be big); an answer
/// that would be longer is refused instead. Clients must accept frames this long.
pub const MAX_ANSWER_FRAME: usize = 16 * 1024 * 1024;
/// A connection silent this long at the QUIC level (no keep-alive either) is dropped.
const QUIC_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A stream whose peer reads nothing for this long while an answer waits is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an `error` for a wrong token or a full pool may take to be acknowledged before the
/// connection is closed anyway.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// QUIC application error codes the server closes streams and connections with.
pub mod codes {
    /// A normal end (the server is shutting down, or the client said `bye`).
    pub const DONE: u32 = 0;
    /// A stream closed after an `error`: a bad frame, no `hello` first, a second `hello`; or a
    /// connection closed for saying no valid `hello` in time.
    pub const PROTOCOL: u32 = 1;
    /// A connection closed after a wrong token.
    pub const UNAUTHORISED: u32 = 2;
    /// A connection refused for want of room: its team holds all the connections it may
    /// (after an `error` naming the cap), or it was the one closed to make room in the pool of
    /// connections without `hello`.
    pub const CAPACITY: u32 = 3;
    /// A connection closed because it sent no message for the idle timeout.
    pub const IDLE: u32 = 4;
}

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// A self-signed certificate made at start for `localhost` and the listening address;
    /// clients pin its fingerprint ([`Server::fingerprint`]).
    Generate,
    /// The operator's PEM files: the certificate chain (end-entity first) and its private key.
    Files {
        /// The certificate chain, PEM.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1), PEM.
        key: PathBuf,
    },
}

/// How the server runs. Every limit is a policy choice; the defaults (the `DEFAULT_*`
/// constants) say why they are what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Where to listen (UDP).
    pub listen: SocketAddr,
    /// The certificate.
    pub cert: CertSource,
    /// The longest frame accepted from a client, bytes (version byte and JSON).
    pub max_frame: usize,
    /// Requests per second one team may make over all its connections and streams together, on
    /// average; twice as many may come in a burst. Past that, requests are refused ("rate
    /// limit"). 0 turns the limit off.
    pub max_requests_per_s: u32,
    /// Connections that have not said a valid `hello` yet, handshakes under way included (at
    /// least 1). When full, the oldest connection of the address holding the most of them is
    /// closed to let a newcomer in.
    pub max_connections_without_hello: usize,
    /// Connections one team may hold at once, reserved for it (a connection counts for the
    /// team of its first valid `hello`).
    pub max_connections_per_team: usize,
    /// Bidirectional streams open at once on one connection (QUIC flow control enforces it).
    pub max_streams: u32,
    /// How long a new stream has to send its `hello`; a new connection has twice this from its
    /// first packet (the handshake included) to say a valid one on some stream.
    pub hello_timeout: Duration,
    /// How long a connection that said `hello` may go without sending any message (keep-alives
    /// do not count) before it is closed with [`codes::IDLE`].
    pub idle_timeout: Duration,
}

impl ServerConfig {
    /// The defaults, listening on `listen` with a generated certificate.
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            cert: CertSource::Generate,
            max_frame: DEFAULT_MAX_FRAME,
            max_requests_per_s: DEFAULT_MAX_REQUESTS_PER_S,
            max_connections_without_hello: DEFAULT_MAX_CONNECTIONS_WITHOUT_HELLO,
            max_connections_per_team: DEFAULT_MAX_CONNECTIONS_PER_TEAM,
            max_streams: DEFAULT_MAX_STREAMS,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The certificate could not be made or read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// TLS refused the certificate or key.
    #[error("TLS: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The SHA-256 fingerprint of a DER certificate, as clients pin it: 64 lowercase hexadecimal
/// digits, no colons.
pub fn fingerprint(cert_der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, cert_der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    /// The address it listens on (with the port the system chose, if 0 was asked for).
    pub local_addr: SocketAddr,
    /// The SHA-256 fingerprint of its certificate ([`fingerprint`]), for clients to pin.
    pub fingerprint: String,
    endpoint: Endpoint,
    shared: Arc<Shared>,
}

/// What every connection reads.
struct Shared {
    exercise: Arc<Exercise>,
    requests: Sender<Request>,
    published: Arc<RwLock<Published>>,
    max_frame: usize,
    max_requests_per_s: u32,
    hello_timeout: Duration,
    idle_timeout: Duration,
    /// The connection slots.
    pools: Arc<Pools>,
    /// One rate-limit bucket per team, in the order of the exercise's teams.
    buckets: Vec<Mutex<Bucket>>,
}

impl Server {
    /// Makes or reads the certificate and binds the UDP socket. `requests` and `published`
    /// are the running exercise's ([`crate::live::Live::requests`],
    /// [`crate::live::Live::published`]). Call from within a Tokio runtime.
    pub async fn bind(
        cfg: ServerConfig,
        exercise: Arc<Exercise>,
        requests: Sender<Request>,
        published: Arc<RwLock<Published>>,
    ) -> Result<Server, ServerError> {
        let (chain, key) = match &cfg.cert {
            CertSource::Generate => generate_cert(cfg.listen.ip())?,
            CertSource::Files { cert, key } => read_cert(cert, key)?,
        };
        let fingerprint = chain.first().map(|c| fingerprint(c)).unwrap_or_default();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = QuicServerConfig::try_from(tls).map_err(|e| ServerError::Tls(e.to_string()))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(cfg.max_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .datagram_receive_buffer_size(None)
            .max_idle_timeout(QUIC_IDLE_TIMEOUT.try_into().ok());
        server_config.transport_config(Arc::new(transport));
        let endpoint = Endpoint::server(server_config, cfg.listen).map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let local_addr = endpoint.local_addr().map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let pools = Arc::new(Pools::new(&cfg, exercise.teams.len()));
        let buckets = exercise
            .teams
            .iter()
            .map(|_| Mutex::new(Bucket::new(cfg.max_requests_per_s)))
            .collect();
        let shared = Arc::new(Shared {
            exercise,
            requests,
            published,
            max_frame: cfg.max_frame,
            max_requests_per_s: cfg.max_requests_per_s,
            hello_timeout: cfg.hello_timeout,
            idle_timeout: cfg.idle_timeout,
            pools,
            buckets,
        });
        Ok(Server {
            local_addr,
            fingerprint,
            endpoint,
            shared,
        })
    }

    /// Serves until `shutdown` completes (or the endpoint fails), then closes every connection
    /// (application code [`codes::DONE`]) and waits briefly for the closes to be sent. Each
    /// connection and each stream is a task of its own; none of them waits on another. Every
    /// new connection enters the pool of connections without `hello` (see the module's
    /// "Fairness").
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let pools = &self.shared.pools;
                    if pools.under_pressure() && !incoming.remote_address_validated() && incoming.may_retry() {
                        // A QUIC Retry costs the server no state: only a client that receives
                        // at its address comes back, validated, so forged addresses cannot
                        // crowd the pool.
                        if let Err(e) = incoming.retry() {
                            e.into_incoming().ignore();
                        }
                        continue;
                    }
                    let (slot, evicted) = pools.wait(incoming.remote_address().ip());
                    connections.spawn(serve_connection(Arc::clone(&self.shared), incoming, slot, evicted));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        self.endpoint
            .close(VarInt::from_u32(codes::DONE), b"the server is shutting down");
        // The connections see the close and end; any still running after a second is aborted.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        connections.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// A self-signed certificate for `localhost` and `ip` (unless unspecified), with its key.
fn generate_cert(ip: IpAddr) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
    let mut names = vec!["localhost".to_owned()];
    if !ip.is_unspecified() {
        // rcgen makes a name that parses as an address an IP address entry.
        names.push(ip.to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServerError::Certificate(format!("cannot generate one: {e}")))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    Ok((vec![certified.cert.der().clone()], key))
}

/// The operator's certificate chain and key, from PEM files.
fn read_cert(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
    let fault = |path: &std::path::Path, e: &dyn std::fmt::Display| {
        ServerError::Certificate(format!("{}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fault(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fault(cert, &e))?;
    if chain.is_empty() {
        return Err(fault(cert, &"no certificate (PEM `CERTIFICATE`) in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => fault(key, &"no private key (PEM) in the file"),
        e => fault(key, &e),
    })?;
    Ok((chain, key))
}

/// The most lines the server writes to standard error in one second.
///
/// Why this value: a person reads the log as it scrolls, and twenty lines a second is already
/// more than that; a flood of connections or refused requests (thousands a second) would
/// otherwise grow a redirected log as fast as the flood, and fill its disk. What is left out is
/// counted and said in one line.
pub const MAX_LOG_LINES_PER_S: u32 = 20;

/// The log's current one-second window: when it began, lines written, lines left out.
struct LogWindow {
    start: Option<Instant>,
    written: u32,
    left_out: u64,
}

impl LogWindow {
    /// Whether a line at `now` is written, and how many lines the window that just closed left
    /// out (to be said first), if any.
    fn admit(&mut self, now: Instant) -> (bool, Option<u64>) {
        let mut closed = None;
        if self
            .start
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1))
        {
            if self.left_out > 0 {
                closed = Some(self.left_out);
            }
            *self = LogWindow {
                start: Some(now),
                written: 0,
                left_out: 0,
            };
        }
        if self.written < MAX_LOG_LINES_PER_S {
            self.written += 1;
            (true, closed)
        } else {
            self.left_out += 1;
            (false, closed)
        }
    }
}

/// The server's log window, shared by every connection's task.
static LOG: std::sync::Mutex<LogWindow> = std::sync::Mutex::new(LogWindow {
    start: None,
    written: 0,
    left_out: 0,
});

/// One line to standard error, at most [`MAX_LOG_LINES_PER_S`] a second (shared with the
/// DLMS ports).
pub(crate) fn log(args: std::fmt::Arguments<'_>) {
    let (write, left_out) = LOG.lock().unwrap_or_else(|e| e.into_inner()).admit(Instant::now());
    if let Some(n) = left_out {
        eprintln!(
            "amirange-range: ({n} more lines left out in one second: the log shows at most {MAX_LOG_LINES_PER_S} a second)"
        );
    }
    if write {
        eprintln!("amirange-range: {args}");
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved. One per team.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    /// Requests refused since the last one let through (only the first is logged).
    refusing: u64,
}

impl Bucket {
    fn new(per_s: u32) -> Bucket {
        let rate = f64::from(per_s);
        Bucket {
            tokens: 2.0 * rate,
            rate,
            burst: 2.0 * rate,
            last: Instant::now(),
            refusing: 0,
        }
    }

    /// Whether one more request may go now.
    fn take(&mut self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Locks `m`, carrying on past a panic elsewhere (the data are counters and buckets, always
/// consistent between two statements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connection slots: one pool for connections that have not said a valid `hello`, and each
/// team's own for those that have.
struct Pools {
    /// The most connections without `hello` (at least 1).
    without_hello: usize,
    /// The most connections per team.
    per_team: usize,
    state: Mutex<PoolState>,
}

/// What [`Pools`] holds now.
struct PoolState {
    /// The number the next connection without `hello` gets (so the smallest is the oldest).
    next: u64,
    /// The connections without `hello`, oldest first.
    waiting: BTreeMap<u64, Waiting>,
    /// Connections held per team, in the order of the exercise's teams.
    per_team: Vec<usize>,
}

/// Where a connection comes from, for sharing the pool without `hello`: its IPv4 address, or
/// its IPv6 address's /64 network (one host commonly holds a whole /64, so single IPv6
/// addresses would let one flood pass for many).
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// A connection without `hello`.
struct Waiting {
    /// Where it comes from ([`source_of`]).
    ip: IpAddr,
    /// Told when the connection must give its slot up to a newcomer.
    evict: oneshot::Sender<()>,
}

impl Pools {
    fn new(cfg: &ServerConfig, teams: usize) -> Pools {
        Pools {
            without_hello: cfg.max_connections_without_hello.max(1),
            per_team: cfg.max_connections_per_team,
            state: Mutex::new(PoolState {
                next: 0,
                waiting: BTreeMap::new(),
                per_team: vec![0; teams],
            }),
        }
    }

    /// Whether the pool of connections without `hello` is half full or more.
    fn under_pressure(&self) -> bool {
        lock(&self.state).waiting.len() * 2 >= self.without_hello
    }

    /// A slot in the pool of connections without `hello` for a connection from `ip`, and what
    /// tells it to give the slot up. When the pool is full, the oldest connection of the source
    /// ([`source_of`]) holding the most slots is told to go (it may be this source's own
    /// oldest): a flood from one source displaces only itself.
    fn wait(self: &Arc<Pools>, ip: IpAddr) -> (WaitingSlot, oneshot::Receiver<()>) {
        let mut state = lock(&self.state);
        while state.waiting.len() >= self.without_hello {
            let mut held: HashMap<IpAddr, usize> = HashMap::new();
            for w in state.waiting.values() {
                *held.entry(w.ip).or_default() += 1;
            }
            let most = held.values().copied().max().unwrap_or(0);
            let victim = state
                .waiting
                .iter()
                .find(|(_, w)| held.get(&w.ip) == Some(&most))
                .map(|(&seq, _)| seq);
            let Some(victim) = victim.and_then(|seq| state.waiting.remove(&seq)) else {
                break;
            };
            let _ = victim.evict.send(());
        }
        let seq = state.next;
        state.next += 1;
        let (evict, evicted) = oneshot::channel();
        state.waiting.insert(
            seq,
            Waiting {
                ip: source_of(ip),
                evict,
            },
        );
        let slot = WaitingSlot {
            pools: Arc::clone(self),
            seq,
        };
        (slot, evicted)
    }

    /// One of team number `team`'s own slots (the team is called `name`), or why not: the
    /// team holds all it may.
    fn admit(self: &Arc<Pools>, team: usize, name: &str) -> Result<TeamSlot, String> {
        let mut state = lock(&self.state);
        let Some(held) = state.per_team.get_mut(team) else {
            return Err(format!("team {name} is not in the exercise"));
        };
        if *held >= self.per_team {
            let cap = self.per_team;
            let s = if cap == 1 { "" } else { "s" };
            return Err(format!(
                "team {name} already has {cap} connection{s} open, the most one team may have: close one first"
            ));
        }
        *held += 1;
        Ok(TeamSlot {
            pools: Arc::clone(self),
            team,
        })
    }
}

/// A connection's slot in the pool of connections without `hello`; given back when dropped
/// (unless a newcomer took it already).
struct WaitingSlot {
    pools: Arc<Pools>,
    seq: u64,
}

impl Drop for WaitingSlot {
    fn drop(&mut self) {
        lock(&self.pools.state).waiting.remove(&self.seq);
    }
}

/// One of a team's own slots; given back when dropped.
struct TeamSlot {
    pools: Arc<Pools>,
    team: usize,
}

impl Drop for TeamSlot {
    fn drop(&mut self) {
        let mut state = lock(&self.pools.state);
        if let Some(n) = state.per_team.get_mut(self.team) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Which slot a connection holds.
#[expect(
    dead_code,
    reason = "the slots are held for their Drop, which gives them back; nothing reads them"
)]
enum Slot {
    /// Not yet a valid `hello`.
    Waiting(WaitingSlot),
    /// Its team's.
    Team(TeamSlot),
    /// None: the connection has ended.
    Released,
}

/// One connection, shared by its streams.
struct Conn {
    shared: Arc<Shared>,
    connection: Connection,
    peer: SocketAddr,
    /// The slot it holds: a connection without a valid `hello` within the deadline is closed,
    /// so that it cannot hold a slot for long.
    slot: Mutex<Slot>,
    /// Whether some stream said a valid `hello` and the connection got its team's slot.
    welcomed: AtomicBool,
    /// Told when `welcomed` becomes true (the idle deadline then replaces the `hello` one).
    welcome: tokio::sync::Notify,
    /// When a stream last received a message, or sent an answer (for the idle timeout).
    last_active: Mutex<tokio::time::Instant>,
}

impl Conn {
    /// Notes that the connection is in use now.
    fn touch(&self) {
        *lock(&self.last_active) = tokio::time::Instant::now();
    }

    /// Moves the connection into one of team number `team`'s slots, unless it holds one
    /// already; or why not.
    fn admit(&self, team: usize, name: &str) -> Result<(), String> {
        let mut slot = lock(&self.slot);
        match &*slot {
            Slot::Team(_) => Ok(()),
            Slot::Released => Err("the connection is closing".to_owned()),
            Slot::Waiting(_) => {
                let taken = self.shared.pools.admit(team, name)?;
                // Dropping the waiting slot gives it back.
                *slot = Slot::Team(taken);
                self.welcomed.store(true, Ordering::SeqCst);
                self.touch();
                self.welcome.notify_one();
                Ok(())
            }
        }
    }
}

/// Closes `connection` with `code` and `reason` (which its peer sees).
fn close(connection: &Connection, code: u32, reason: &str) {
    connection.close(VarInt::from_u32(code), reason.as_bytes());
}

async fn serve_connection(
    shared: Arc<Shared>,
    incoming: Incoming,
    slot: WaitingSlot,
    mut evicted: oneshot::Receiver<()>,
) {
    let peer = incoming.remote_address();
    // Twice a stream's: a stream without `hello` gets its error before the connection closes.
    let hello_by = tokio::time::Instant::now() + shared.hello_timeout * 2;
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            log(format_args!("{peer}: connection failed: {e}"));
            return;
        }
    };
    let connection = tokio::select! {
        handshake = tokio::time::timeout_at(hello_by, connecting) => match handshake {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                log(format_args!("{peer}: handshake failed: {e}"));
                return;
            }
            Err(_) => {
                log(format_args!("{peer}: handshake took too long"));
                return;
            }
        },
        Ok(()) = &mut evicted => {
            // Dropping the handshake under way ends it.
            log(format_args!("{peer}: handshake dropped to make room for a newer connection"));
            return;
        }
    };
    log(format_args!("{peer}: connected"));
    let conn = Arc::new(Conn {
        shared,
        connection,
        peer,
        slot: Mutex::new(Slot::Waiting(slot)),
        welcomed: AtomicBool::new(false),
        welcome: tokio::sync::Notify::new(),
        last_active: Mutex::new(tokio::time::Instant::now()),
    });
    // First the `hello` deadline; once welcomed, the idle deadline, pushed on by activity.
    let deadline = tokio::time::sleep_until(hello_by);
    tokio::pin!(deadline);
    let mut watching_eviction = true;
    let mut watching_welcome = true;
    let mut closing = false;
    // The streams end with the connection: dropping the set aborts any still running.
    let mut streams = JoinSet::new();
    let why = loop {
        tokio::select! {
            stream = conn.connection.accept_bi() => match stream {
                Ok((send, recv)) => {
                    streams.spawn(serve_stream(Arc::clone(&conn), send, recv));
                }
                Err(e) => break e,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            () = conn.welcome.notified(), if watching_welcome => {
                watching_welcome = false;
                deadline.as_mut().reset(*lock(&conn.last_active) + conn.shared.idle_timeout);
            }
            told = &mut evicted, if watching_eviction => {
                watching_eviction = false;
                // An error only means the slot was given back (the connection was welcomed).
                if told.is_ok() && !conn.welcomed.load(Ordering::SeqCst) && !closing {
                    closing = true;
                    log(format_args!("{peer}: no `hello` yet; closed to make room for a newer connection"));
                    close(
                        &conn.connection,
                        codes::CAPACITY,
                        "too many connections without hello: this one was closed to make room",
                    );
                }
            }
            () = &mut deadline, if !closing => {
                if !conn.welcomed.load(Ordering::SeqCst) {
                    closing = true;
                    log(format_args!("{peer}: no `hello` in time; closing the connection"));
                    close(&conn.connection, codes::PROTOCOL, "no hello in time");
                } else {
                    let idle_until = *lock(&conn.last_active) + conn.shared.idle_timeout;
                    if tokio::time::Instant::now() >= idle_until {
                        closing = true;
                        let secs = conn.shared.idle_timeout.as_secs_f64();
                        log(format_args!("{peer}: idle for {secs} s; closing the connection"));
                        close(&conn.connection, codes::IDLE, &format!("idle: no request for {secs} s"));
                    } else {
                        deadline.as_mut().reset(idle_until);
                    }
                }
            }
        }
    };
    match why {
        quinn::ConnectionError::LocallyClosed => log(format_args!("{peer}: disconnected by the server")),
        why => log(format_args!("{peer}: disconnected ({why})")),
    }
    // Give the slot back now, not when the last stream task lets go of the connection.
    *lock(&conn.slot) = Slot::Released;
}

/// Why reading a stream stopped.
enum Fault {
    /// The peer broke the protocol: answer `error` with this and close the stream.
    Bad(String),
    /// The stream or connection is gone: nothing to answer.
    Gone,
}

/// Reads the next message; `Ok(None)` when the peer finished the stream on a frame boundary.
async fn next_message(
    recv: &mut RecvStream,
    dec: &mut Decoder,
    buf: &mut [u8],
) -> Result<Option<ClientMessage>, Fault> {
    loop {
        if let Some(body) = dec.next_body().map_err(|e| Fault::Bad(e.to_string()))? {
            return parse(&body).map(Some).map_err(Fault::Bad);
        }
        match recv.read(buf).await {
            Ok(Some(n)) => dec.push(buf.get(..n).unwrap_or_default()),
            Ok(None) => {
                dec.finish().map_err(|e| Fault::Bad(e.to_string()))?;
                return Ok(None);
            }
            Err(_) => return Err(Fault::Gone),
        }
    }
}

/// A frame's body as a client's message, or the fault to name.
fn parse(body: &[u8]) -> Result<ClientMessage, String> {
    match decode_body::<ClientMessage>(body) {
        Ok(m) => Ok(m),
        Err(FrameError::Message(why)) => {
            let kind = decode_body::<Value>(body)
                .ok()
                .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
            match kind.as_deref() {
                Some(t @ ("welcome" | "accepted" | "refused" | "error")) => {
                    Err(format!("`{t}` is a message from the server, not from a client"))
                }
                _ => Err(FrameError::Message(why).to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Sends one message; `false` if the stream is gone or the peer does not read.
async fn send_message(send: &mut SendStream, message: &ServerMessage) -> bool {
    send_frame(send, &encode(message)).await
}

/// Sends one frame; `false` if the stream is gone or the peer does not read.
async fn send_frame(send: &mut SendStream, frame: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, send.write_all(frame)).await,
        Ok(Ok(()))
    )
}

/// Answers `error` and closes the stream both ways.
async fn fail(send: &mut SendStream, recv: &mut RecvStream, message: String) {
    let _ = send_message(send, &ServerMessage::Error { message }).await;
    let _ = send.finish();
    let _ = recv.stop(VarInt::from_u32(codes::PROTOCOL));
}

async fn serve_stream(c: Arc<Conn>, mut send: SendStream, mut recv: RecvStream) {
    let peer = c.peer;
    let mut dec = Decoder::new(c.shared.max_frame);
    let mut buf = vec![0u8; 16 * 1024];
    let first = tokio::time::timeout(c.shared.hello_timeout, next_message(&mut recv, &mut dec, &mut buf)).await;
    let (token, client) = match first {
        Ok(Ok(Some(ClientMessage::Hello { token, client }))) => (token, client),
        Ok(Ok(None | Some(ClientMessage::Bye {}))) => {
            let _ = send.finish();
            return;
        }
        Ok(Err(Fault::Gone)) => return,
        Ok(Ok(Some(ClientMessage::Request { .. }))) => {
            log(format_args!("{peer}: error: a request before hello"));
            let message = "the first message on a stream must be `hello`, not `request`".to_owned();
            return fail(&mut send, &mut recv, message).await;
        }
        Ok(Err(Fault::Bad(message))) => {
            // The details may quote what the peer sent (which could be a token): not logged.
            log(format_args!("{peer}: error: a bad frame before hello"));
            return fail(&mut send, &mut recv, message).await;
        }
        Err(_) => {
            let secs = c.shared.hello_timeout.as_secs_f64();
            log(format_args!("{peer}: error: no hello within {secs} s"));
            return fail(&mut send, &mut recv, format!("no `hello` within {secs} s")).await;
        }
    };
    let teams = &c.shared.exercise.teams;
    let found = c
        .shared
        .exercise
        .team_of(&token.0)
        .and_then(|t| teams.iter().position(|u| std::ptr::eq(u, t)).map(|i| (i, t)));
    let Some((team_index, team)) = found else {
        log(format_args!("{peer}: error: unknown token; closing the connection"));
        fail(&mut send, &mut recv, "unknown token".to_owned()).await;
        // Let the `error` arrive before the connection closes.
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, send.stopped()).await;
        close(&c.connection, codes::UNAUTHORISED, "unknown token");
        return;
    };
    drop(token);
    let (name, role) = (team.name.clone(), team.role);
    if client.chars().count() > 64 {
        log(format_args!("{peer}: team {name}: error: client name too long"));
        let message = "`client` must be at most 64 characters".to_owned();
        return fail(&mut send, &mut recv, message).await;
    }
    if let Err(why) = c.admit(team_index, &name) {
        log(format_args!(
            "{peer}: team {name}: refused: {why}; closing the connection"
        ));
        fail(&mut send, &mut recv, why.clone()).await;
        // Let the `error` arrive before the connection closes.
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, send.stopped()).await;
        close(&c.connection, codes::CAPACITY, &why);
        return;
    }
    log(format_args!(
        "{peer}: team {name} ({}) joined with client {client:?}",
        role.name()
    ));
    c.touch();
    let welcome = ServerMessage::Welcome {
        protocol: VERSION,
        exercise: c.shared.exercise.name.clone(),
        team: name.clone(),
        role,
        sim_time_s: sim_time_s(&c.shared.published),
    };
    if !send_message(&mut send, &welcome).await {
        return;
    }
    loop {
        let message = match next_message(&mut recv, &mut dec, &mut buf).await {
            Ok(Some(m)) => {
                c.touch();
                m
            }
            Ok(None) | Err(Fault::Gone) => {
                let _ = send.finish();
                log(format_args!("{peer}: team {name} left"));
                return;
            }
            Err(Fault::Bad(message)) => {
                // Only the kind of fault: serde's text may quote what the peer sent.
                let kind = message.split(':').next().unwrap_or("a bad frame");
                log(format_args!("{peer}: team {name}: error: {kind}"));
                return fail(&mut send, &mut recv, message).await;
            }
        };
        match message {
            ClientMessage::Request { id, action } => {
                let what = action.name();
                let mut frame = encode(&c.answer(team_index, &name, role, id, action).await);
                // Keep every frame within what clients are told to accept.
                if frame.len() > MAX_ANSWER_FRAME {
                    let len = frame.len();
                    log(format_args!(
                        "{peer}: team {name}: `{what}`: answer too large ({len} bytes)"
                    ));
                    frame = encode(&ServerMessage::Refused {
                        id,
                        reason: format!(
                            "the answer is too large to send ({len} bytes; the limit is {MAX_ANSWER_FRAME})"
                        ),
                    });
                }
                if !send_frame(&mut send, &frame).await {
                    log(format_args!("{peer}: team {name}: the stream stopped taking answers"));
                    let _ = send.reset(VarInt::from_u32(codes::PROTOCOL));
                    return;
                }
                // A slow answer does not count as silence.
                c.touch();
            }
            ClientMessage::Bye {} => {
                let _ = send.finish();
                log(format_args!("{peer}: team {name} said bye"));
                return;
            }
            ClientMessage::Hello { .. } => {
                log(format_args!("{peer}: team {name}: error: a second hello"));
                let message = "a second `hello` on this stream".to_owned();
                return fail(&mut send, &mut recv, message).await;
            }
        }
    }
}

/// Simulated seconds the exercise has reached, from the last publish.
fn sim_time_s(published: &RwLock<Published>) -> f64 {
    let p = published.read().unwrap_or_else(PoisonError::into_inner);
    p.clock.map_or(0.0, |c| c.sim_time_s as f64)
}

impl Conn {
    /// The answer to request `id` of team number `team_index` (called `team`).
    async fn answer(&self, team_index: usize, team: &str, role: Role, id: u64, action: Action) -> ServerMessage {
        let what = action.name();
        let (allowed, refusing) = {
            // Every connection of the team draws on the same bucket.
            let Some(bucket) = self.shared.buckets.get(team_index) else {
                return ServerMessage::Refused {
                    id,
                    reason: "no such team".to_owned(),
                };
            };
            let mut bucket = lock(bucket);
            let allowed = bucket.take(Instant::now());
            let refusing = bucket.refusing;
            bucket.refusing = if allowed { 0 } else { refusing + 1 };
            (allowed, refusing)
        };
        if !allowed {
            // One line per flood, not one per request.
            if refusing == 0 {
                log(format_args!(
                    "{}: team {team}: refused `{what}`: rate limit (refusals not logged until it lifts)",
                    self.peer
                ));
            }
            return ServerMessage::Refused {
                id,
                reason: format!(
                    "rate limit: at most {} requests a second for team {team}, all its connections together (a burst of {})",
                    self.shared.max_requests_per_s,
                    2 * u64::from(self.shared.max_requests_per_s)
                ),
            };
        }
        if refusing > 0 {
            log(format_args!(
                "{}: team {team}: the rate limit lifted after {refusing} refusals",
                self.peer
            ));
        }
        let answer = if let Action::Dlms { .. } | Action::DlmsClosed { .. } = action {
            ServerMessage::Refused {
                id,
                reason: "DLMS bytes come over the team's DLMS port (TCP), from a DLMS client".to_owned(),
            }
        } else if let Action::Snapshot {} = action {
            let p = self.shared.published.read().unwrap_or_else(PoisonError::into_inner);
            ServerMessage::Accepted {
                id,
                at_s: p.clock.map_or(0.0, |c| c.sim_time_s as f64),
                result: p.view(role),
            }
        } else {
            self.through_exercise(team, role, id, action).await
        };
        if let ServerMessage::Refused { reason, .. } = &answer {
            log(format_args!("{}: team {team}: refused `{what}`: {reason}", self.peer));
        }
        answer
    }

    /// Hands the request to the exercise thread and waits for its answer.
    async fn through_exercise(&self, team: &str, role: Role, id: u64, action: Action) -> ServerMessage {
        let ended = || ServerMessage::Refused {
            id,
            reason: "the exercise has ended".to_owned(),
        };
        let (reply, answer) = oneshot::channel();
        let request = Request {
            team: team.to_owned(),
            role,
            action,
            reply,
        };
        if self.shared.requests.send(request).is_err() {
            return ended();
        }
        match answer.await {
            Ok((at_s, Outcome::Accepted { result })) => ServerMessage::Accepted {
                id,
                at_s: at_s as f64,
                result,
            },
            Ok((_, Outcome::Refused { reason })) => ServerMessage::Refused { id, reason },
            Err(_) => ended(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_flood_of_log_lines_is_cut_to_the_limit_and_counted() {
        let t0 = Instant::now();
        let mut window = LogWindow {
            start: None,
            written: 0,
            left_out: 0,
        };
        let written = (0..5_000)
            .filter(|i| window.admit(t0 + Duration::from_micros(*i)).0)
            .count();
        assert_eq!(written, MAX_LOG_LINES_PER_S as usize);
        // The next second's first line is written, after a line that counts what was left out.
        assert_eq!(
            window.admit(t0 + Duration::from_secs(1)),
            (true, Some(5_000 - u64::from(MAX_LOG_LINES_PER_S)))
        );
        assert_eq!(window.admit(t0 + Duration::from_millis(1_500)), (true, None));
    }

    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut b = Bucket::new(10);
        let t0 = b.last;
        let burst = (0..100).filter(|_| b.take(t0)).count();
        assert_eq!(burst, 20, "twice the rate in a burst");
        assert!(!b.take(t0 + Duration::from_millis(50)), "half a token");
        assert!(b.take(t0 + Duration::from_millis(100)), "one token after 0.1 s");
        assert!(!b.take(t0 + Duration::from_millis(100)));
        let mut off = Bucket::new(0);
        assert!((0..1000).all(|_| off.take(t0)), "0 turns the limit off");
    }

    fn pools_with(tweak: impl FnOnce(&mut ServerConfig)) -> Arc<Pools> {
        let mut cfg = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        tweak(&mut cfg);
        Arc::new(Pools::new(&cfg, 3))
    }

    #[test]
    fn a_full_pool_without_hello_closes_the_oldest_of_the_busiest_address() {
        let pools = pools_with(|c| c.max_connections_without_hello = 4);
        let (a, b, c) = (
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
            IpAddr::from([10, 0, 0, 3]),
        );
        let mut held: Vec<_> = [a, b, a, a].into_iter().map(|ip| pools.wait(ip)).collect();
        assert!(pools.under_pressure());
        // A newcomer from elsewhere displaces the busiest address's oldest, not b's.
        held.push(pools.wait(c));
        let told: Vec<bool> = held.iter_mut().map(|(_, rx)| rx.try_recv().is_ok()).collect();
        assert_eq!(told, [true, false, false, false, false]);
        // The flooding address keeps displacing only its own.
        for _ in 0..10 {
            held.push(pools.wait(a));
        }
        let b_or_c_told = held
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| [1, 4].contains(i))
            .any(|(_, (_, rx))| rx.try_recv().is_ok());
        assert!(!b_or_c_told, "b and c keep their slots");
        assert_eq!(lock(&pools.state).waiting.len(), 4);
        // Slots given back leave the pool.
        drop(held);
        assert_eq!(lock(&pools.state).waiting.len(), 0);
        assert!(!pools.under_pressure());
    }

    #[test]
    fn an_ipv6_network_is_one_source() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("an address");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("an address");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("an address");
        assert_eq!(source_of(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn every_team_has_its_own_slots_and_no_more() {
        let pools = pools_with(|c| c.max_connections_per_team = 2);
        let first = pools.admit(0, "red").expect("room");
        let _second = pools.admit(0, "red").expect("room");
        let e = pools.admit(0, "red").err().expect("at the cap");
        assert_eq!(
            e,
            "team red already has 2 connections open, the most one team may have: close one first"
        );
        // Red at its cap keeps no one else out.
        let _blue = pools.admit(1, "blue").expect("blue's own");
        let white = pools.admit(2, "instructor").expect("white's own");
        let _white = pools.admit(2, "instructor").expect("white's own");
        assert!(pools.admit(2, "instructor").is_err());
        drop(white);
        let _white = pools.admit(2, "instructor").expect("given back");
        drop(first);
        let _red = pools.admit(0, "red").expect("given back");
        let e = pools.admit(3, "nobody").err().expect("no such team");
        assert_eq!(e, "team nobody is not in the exercise");
        let one = pools_with(|c| c.max_connections_per_team = 1);
        let _only = one.admit(1, "blue").expect("room");
        let e = one.admit(1, "blue").err().expect("at the cap");
        assert!(e.contains("already has 1 connection open"), "{e}");
    }

    #[test]
    fn server_messages_and_garbage_are_named() {
        let frame = |json: &str| {
            let mut body = vec![VERSION];
            body.extend_from_slice(json.as_bytes());
            body
        };
        let e = parse(&frame(r#"{"type":"welcome","protocol":1}"#)).expect_err("a server's message");
        assert_eq!(e, "`welcome` is a message from the server, not from a client");
        let e = parse(&frame("nope")).expect_err("garbage");
        assert!(e.starts_with("not a valid message"), "{e}");
        let e = parse(&[9, b'{', b'}']).expect_err("version");
        assert!(e.contains("version 9"), "{e}");
        assert!(matches!(parse(&frame(r#"{"type":"bye"}"#)), Ok(ClientMessage::Bye {})));
    }

    #[test]
    fn fingerprints_are_lowercase_hex_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(
            fingerprint(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
