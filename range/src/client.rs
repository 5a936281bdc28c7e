//! A client of the range: connects over QUIC, accepting exactly the server certificate whose
//! SHA-256 fingerprint is the pin it was given (printed by the server at start), says `hello`
//! with a team's token, and sends requests one at a time on that stream.
//!
//! ```no_run
//! # async fn f() -> Result<(), amirange_range::client::ClientError> {
//! use amirange_range::client::connect;
//! use amirange_range::messages::Action;
//! let addr = "127.0.0.1:4433".parse().expect("an address");
//! let mut red = connect(addr, "3b0c…(64 hex digits)", "the-red-team-token", "my-tool 0.1").await?;
//! let answer = red.request(Action::Phish { account: "ops".into() }).await?;
//! red.close().await;
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::messages::{Action, ClientMessage, Presented, Role, ServerMessage};
use crate::protocol::{ALPN, Decoder, encode};
use crate::server::{MAX_ANSWER_FRAME, codes};

/// How long the server has to answer `hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for its answer (the engine may be in the middle of a tick).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Keep-alives, so that an idle player is not dropped.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A server silent this long is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The pin given is not a fingerprint.
    #[error("the pin is not a SHA-256 fingerprint (64 hexadecimal digits, colons allowed): {0}")]
    BadPin(String),
    /// The server presented another certificate than the pinned one.
    #[error("the server's certificate does not match the pin")]
    PinMismatch,
    /// The connection could not be made, or broke.
    #[error("connection: {0}")]
    Connection(String),
    /// The server answered `error` (a wrong token, a bad frame): it closed the stream.
    #[error("refused: {0}")]
    Refused(String),
    /// The server sent something this client does not expect.
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("no answer from the server within {0} s")]
    Timeout(u64),
}

/// What the server said to `hello`.
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    /// The protocol version the server speaks.
    pub protocol: u8,
    /// The exercise's name.
    pub exercise: String,
    /// The team the token belongs to.
    pub team: String,
    /// Its role.
    pub role: Role,
    /// Simulated seconds since the exercise's start.
    pub sim_time_s: f64,
}

/// A connected, welcomed client.
pub struct Client {
    /// The server's answer to `hello`.
    pub welcome: Welcome,
    endpoint: Endpoint,
    connection: Connection,
    send: SendStream,
    recv: RecvStream,
    decoder: Decoder,
    buf: Vec<u8>,
    next_id: u64,
}

/// Parses a pin: 64 hexadecimal digits, in either case, colons allowed between them.
pub fn parse_pin(pin: &str) -> Result<[u8; 32], ClientError> {
    let digits: Vec<u8> = pin.bytes().filter(|&b| b != b':').collect();
    let bad = || ClientError::BadPin(format!("{:?}", pin.chars().take(100).collect::<String>()));
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| bad())?;
        *o = u8::from_str_radix(text, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Accepts exactly the certificate whose SHA-256 is the pin; its handshake signatures are
/// checked with the ring provider's algorithms.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
    /// Set when the server presented another certificate (to name the failure).
    mismatched: Arc<AtomicBool>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == self.pin.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            self.mismatched.store(true, Ordering::SeqCst);
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered; this is here for the trait's sake.
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Opens a QUIC connection to `server` (ALPN `amirange/1`) that accepts only the certificate
/// pinned by `pin`. The lower layer of [`connect`], for tools that speak frames themselves.
pub async fn dial(server: SocketAddr, pin: &str) -> Result<(Endpoint, Connection), ClientError> {
    let pin = parse_pin(pin)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mismatched = Arc::new(AtomicBool::new(false));
    let verifier = PinVerifier {
        pin,
        algorithms: provider.signature_verification_algorithms,
        mismatched: Arc::clone(&mismatched),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Connection(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| ClientError::Connection(format!("TLS: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(IDLE_TIMEOUT.try_into().ok());
    config.transport_config(Arc::new(transport));
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let endpoint =
        Endpoint::client(local).map_err(|e| ClientError::Connection(format!("cannot open a UDP socket: {e}")))?;
    // The name is not checked (the pin is); it only has to be a valid one.
    let connecting = endpoint
        .connect_with(config, server, "localhost")
        .map_err(|e| ClientError::Connection(format!("{server}: {e}")))?;
    match connecting.await {
        Ok(connection) => Ok((endpoint, connection)),
        Err(_) if mismatched.load(Ordering::SeqCst) => Err(ClientError::PinMismatch),
        Err(e) => Err(ClientError::Connection(format!("{server}: {e}"))),
    }
}

/// Connects to `server`, accepting only the certificate pinned by `pin`, and says `hello` with
/// `token` as `client_name` (at most 64 characters) on a new stream.
pub async fn connect(server: SocketAddr, pin: &str, token: &str, client_name: &str) -> Result<Client, ClientError> {
    let (endpoint, connection) = dial(server, pin).await?;
    let (send, recv) = connection
        .open_bi()
        .await
        .map_err(|e| ClientError::Connection(e.to_string()))?;
    let mut client = Client {
        welcome: Welcome {
            protocol: 0,
            exercise: String::new(),
            team: String::new(),
            role: Role::Red,
            sim_time_s: 0.0,
        },
        endpoint,
        connection,
        send,
        recv,
        decoder: Decoder::new(MAX_ANSWER_FRAME),
        buf: vec![0; 16 * 1024],
        next_id: 1,
    };
    let hello = ClientMessage::Hello {
        token: Presented(token.to_owned()),
        client: client_name.to_owned(),
    };
    match client.exchange(&hello, WELCOME_TIMEOUT).await? {
        ServerMessage::Welcome {
            protocol,
            exercise,
            team,
            role,
            sim_time_s,
        } => {
            client.welcome = Welcome {
                protocol,
                exercise,
                team,
                role,
                sim_time_s,
            };
            Ok(client)
        }
        other => Err(ClientError::Protocol(format!(
            "`{}` where `welcome` was expected",
            kind(&other)
        ))),
    }
}

/// A server message's type.
fn kind(message: &ServerMessage) -> &'static str {
    match message {
        ServerMessage::Welcome { .. } => "welcome",
        ServerMessage::Accepted { .. } => "accepted",
        ServerMessage::Refused { .. } => "refused",
        ServerMessage::Error { .. } => "error",
    }
}

impl Client {
    /// Asks for `action` under the next id (1, 2, …) and returns the answer: `accepted` or
    /// `refused`. An `error` from the server is [`ClientError::Refused`].
    pub async fn request(&mut self, action: Action) -> Result<ServerMessage, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let answer = self
            .exchange(&ClientMessage::Request { id, action }, ANSWER_TIMEOUT)
            .await?;
        match answer {
            ServerMessage::Accepted { id: got, .. } | ServerMessage::Refused { id: got, .. } if got == id => Ok(answer),
            ServerMessage::Accepted { id: got, .. } | ServerMessage::Refused { id: got, .. } => Err(
                ClientError::Protocol(format!("an answer to request {got} where {id} was expected")),
            ),
            other => Err(ClientError::Protocol(format!(
                "`{}` in answer to a request",
                kind(&other)
            ))),
        }
    }

    /// Says `bye` and closes the connection.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.send.write_all(&encode(&ClientMessage::Bye {})),
        )
        .await;
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.send.stopped()).await;
        self.connection.close(VarInt::from_u32(codes::DONE), b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }

    /// A broken connection, named by the server's reason for closing it when it gave one
    /// (e.g. "idle: no request for 300 s (code 4)"), else by `e`.
    fn lost(&self, e: &dyn std::fmt::Display) -> ClientError {
        match self.connection.close_reason() {
            Some(why @ quinn::ConnectionError::ApplicationClosed(_)) => ClientError::Connection(why.to_string()),
            _ => ClientError::Connection(e.to_string()),
        }
    }

    /// Sends `message` and reads one answer; `error` becomes [`ClientError::Refused`].
    async fn exchange(&mut self, message: &ClientMessage, within: Duration) -> Result<ServerMessage, ClientError> {
        if let Err(e) = self.send.write_all(&encode(message)).await {
            return Err(self.lost(&e));
        }
        let answer = tokio::time::timeout(within, self.read_message())
            .await
            .map_err(|_| ClientError::Timeout(within.as_secs()))??;
        match answer {
            ServerMessage::Error { message } => Err(ClientError::Refused(message)),
            other => Ok(other),
        }
    }

    /// The next message from the server.
    async fn read_message(&mut self) -> Result<ServerMessage, ClientError> {
        loop {
            if let Some(m) = self
                .decoder
                .next_message::<ServerMessage>()
                .map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                return Ok(m);
            }
            match self.recv.read(&mut self.buf).await {
                Ok(Some(n)) => self.decoder.push(self.buf.get(..n).unwrap_or_default()),
                Ok(None) => {
                    return Err(ClientError::Connection("the server closed the stream".into()));
                }
                Err(e) => return Err(self.lost(&e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons_and_bad_ones_are_named() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let pin = parse_pin(hex).expect("plain");
        assert_eq!(pin[0], 0xe3);
        let colons: Vec<String> = pin.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_pin(&colons.join(":")), Ok(pin));
        for bad in ["", "e3b0", &hex.replace('e', "g"), &format!("{hex}00"), &"é".repeat(32)] {
            let e = parse_pin(bad).expect_err(bad);
            assert!(e.to_string().starts_with("the pin is not a SHA-256 fingerprint"), "{e}");
        }
    }
}
