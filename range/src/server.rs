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
//! One line per connection, per team joining, per refusal and per error goes to standard
//! error, with the peer's address and the team's name; never a token.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::exercise::Exercise;
use crate::live::{Published, Request};
use crate::messages::{Action, ClientMessage, Role, ServerMessage};
use crate::protocol::{ALPN, DEFAULT_MAX_FRAME, Decoder, FrameError, VERSION, decode_body, encode};
use crate::session::Outcome;

/// Requests per second a connection may make, by default (twice as many in a burst).
pub const DEFAULT_MAX_REQUESTS_PER_S: u32 = 20;
/// Connections open at once, by default (handshakes under way count).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Bidirectional streams open at once on one connection, by default.
pub const DEFAULT_MAX_STREAMS: u32 = 8;
/// How long a new stream has to send its `hello`, by default.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame the server sends (a `snapshot` of a large exercise can be big); an answer
/// that would be longer is refused instead. Clients must accept frames this long.
pub const MAX_ANSWER_FRAME: usize = 16 * 1024 * 1024;
/// A connection silent this long (no keep-alive either) is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The TLS handshake must be done within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream whose peer reads nothing for this long while an answer waits is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an `error` for a wrong token may take to be acknowledged before the connection is
/// closed anyway.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// QUIC application error codes the server closes streams and connections with.
pub mod codes {
    /// A normal end (the server is shutting down, or the client said `bye`).
    pub const DONE: u32 = 0;
    /// A stream closed after an `error`: a bad frame, no `hello` first, a second `hello`.
    pub const PROTOCOL: u32 = 1;
    /// A connection closed after a wrong token.
    pub const UNAUTHORISED: u32 = 2;
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

/// How the server runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Where to listen (UDP).
    pub listen: SocketAddr,
    /// The certificate.
    pub cert: CertSource,
    /// The longest frame accepted from a client, bytes (version byte and JSON).
    pub max_frame: usize,
    /// Requests per second one connection may make, on average; twice as many may come in a
    /// burst. Past that, requests are refused ("rate limit"). 0 turns the limit off.
    pub max_requests_per_s: u32,
    /// Connections open at once; more are refused at the handshake.
    pub max_connections: usize,
    /// Bidirectional streams open at once on one connection (QUIC flow control enforces it).
    pub max_streams: u32,
    /// How long a new stream has to send its `hello`.
    pub hello_timeout: Duration,
}

impl ServerConfig {
    /// The defaults, listening on `listen` with a generated certificate.
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            cert: CertSource::Generate,
            max_frame: DEFAULT_MAX_FRAME,
            max_requests_per_s: DEFAULT_MAX_REQUESTS_PER_S,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_streams: DEFAULT_MAX_STREAMS,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
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
    connections: Arc<Semaphore>,
    max_connections: usize,
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
            .max_idle_timeout(IDLE_TIMEOUT.try_into().ok());
        server_config.transport_config(Arc::new(transport));
        let endpoint = Endpoint::server(server_config, cfg.listen).map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let local_addr = endpoint.local_addr().map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            exercise,
            requests,
            published,
            max_frame: cfg.max_frame,
            max_requests_per_s: cfg.max_requests_per_s,
            hello_timeout: cfg.hello_timeout,
            connections: Arc::new(Semaphore::new(cfg.max_connections.min(Semaphore::MAX_PERMITS))),
            max_connections: cfg.max_connections,
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
    /// connection and each stream is a task of its own; none of them waits on another.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    match Arc::clone(&self.shared.connections).try_acquire_owned() {
                        Ok(permit) => {
                            connections.spawn(serve_connection(Arc::clone(&self.shared), incoming, permit));
                        }
                        Err(_) => {
                            log(format_args!(
                                "{}: connection refused: {} connections already open",
                                incoming.remote_address(),
                                self.shared.max_connections
                            ));
                            incoming.refuse();
                        }
                    }
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

/// One line to standard error.
fn log(args: std::fmt::Arguments<'_>) {
    eprintln!("amirange-range: {args}");
}

/// A token bucket: `rate` tokens a second, at most `burst` saved.
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

/// One connection, shared by its streams.
struct Conn {
    shared: Arc<Shared>,
    connection: Connection,
    peer: SocketAddr,
    bucket: Mutex<Bucket>,
    /// Whether some stream said a valid `hello`: a connection without one within the hello
    /// timeout is closed, so that it cannot hold a connection slot.
    welcomed: std::sync::atomic::AtomicBool,
}

async fn serve_connection(shared: Arc<Shared>, incoming: Incoming, permit: OwnedSemaphorePermit) {
    let peer = incoming.remote_address();
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            log(format_args!("{peer}: connection failed: {e}"));
            return;
        }
    };
    let connection = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            log(format_args!("{peer}: handshake failed: {e}"));
            return;
        }
        Err(_) => {
            log(format_args!("{peer}: handshake took too long"));
            return;
        }
    };
    log(format_args!("{peer}: connected"));
    let conn = Arc::new(Conn {
        bucket: Mutex::new(Bucket::new(shared.max_requests_per_s)),
        shared,
        connection,
        peer,
        welcomed: std::sync::atomic::AtomicBool::new(false),
    });
    // Twice a stream's: a stream without `hello` gets its error before the connection closes.
    let deadline = tokio::time::sleep(conn.shared.hello_timeout * 2);
    tokio::pin!(deadline);
    let mut checked = false;
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
            () = &mut deadline, if !checked => {
                checked = true;
                if !conn.welcomed.load(std::sync::atomic::Ordering::Relaxed) {
                    log(format_args!("{peer}: no `hello` in time; closing the connection"));
                    conn.connection
                        .close(VarInt::from_u32(codes::PROTOCOL), b"no hello in time");
                }
            }
        }
    };
    match why {
        quinn::ConnectionError::LocallyClosed => log(format_args!("{peer}: disconnected by the server")),
        why => log(format_args!("{peer}: disconnected ({why})")),
    }
    drop(permit);
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
    let Some(team) = c.shared.exercise.team_of(&token.0) else {
        log(format_args!("{peer}: error: unknown token; closing the connection"));
        fail(&mut send, &mut recv, "unknown token".to_owned()).await;
        // Let the `error` arrive before the connection closes.
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, send.stopped()).await;
        c.connection
            .close(VarInt::from_u32(codes::UNAUTHORISED), b"unknown token");
        return;
    };
    drop(token);
    let (name, role) = (team.name.clone(), team.role);
    if client.chars().count() > 64 {
        log(format_args!("{peer}: team {name}: error: client name too long"));
        let message = "`client` must be at most 64 characters".to_owned();
        return fail(&mut send, &mut recv, message).await;
    }
    log(format_args!(
        "{peer}: team {name} ({}) joined with client {client:?}",
        role.name()
    ));
    c.welcomed.store(true, std::sync::atomic::Ordering::Relaxed);
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
            Ok(Some(m)) => m,
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
                let mut frame = encode(&c.answer(&name, role, id, action).await);
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
    /// The answer to request `id`.
    async fn answer(&self, team: &str, role: Role, id: u64, action: Action) -> ServerMessage {
        let what = action.name();
        let (allowed, refusing) = {
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
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
                    "rate limit: at most {} requests a second (a burst of {})",
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
        let answer = if let Action::Snapshot {} = action {
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
