//! The QUIC server and client on loopback: a small mock engine inside a real session and
//! exercise thread, the server on 127.0.0.1 with a generated certificate, and clients that
//! behave and that do not.

use crate::common::Range;

use std::sync::Arc;
use std::time::{Duration, Instant};

use amirange_range::client::{self, ClientError};
use amirange_range::exercise::Exercise;
use amirange_range::messages::{Action, Role, ServerMessage};
use amirange_range::protocol::{Decoder, encode};
use amirange_range::server::{self, CertSource, Server, ServerConfig, ServerError};
use quinn::{Connection, Endpoint, RecvStream, SendStream};
use serde_json::{Value, json};
use tokio::time::timeout;

const RED: &str = "red-team-token-0123456789";
const BLUE: &str = "blue-team-token-0123456789";
const WHITE: &str = "white-team-token-0123456789";

const EXERCISE: &str = r#"Exercise(
    name: "loopback",
    scenario: "no-such-scenario.ron",
    teams: [
        (name: "red", role: Red, token: Given("red-team-token-0123456789")),
        (name: "blue", role: Blue, token: Given("blue-team-token-0123456789")),
        (name: "instructor", role: White, token: Given("white-team-token-0123456789")),
    ],
)"#;

fn exercise() -> Arc<Exercise> {
    crate::common::exercise("loopback.ron", EXERCISE)
}

async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Range {
    crate::common::start(exercise(), tweak).await
}

impl Range {
    async fn client(&self, token: &str) -> client::Client {
        client::connect(self.addr, &self.pin, token, "loopback-test")
            .await
            .expect("connects")
    }

    async fn raw(&self) -> (Endpoint, Connection) {
        client::dial(self.addr, &self.pin).await.expect("dials")
    }
}

/// Everything the server sends on a stream until it finishes it.
async fn answers(recv: &mut RecvStream) -> Vec<ServerMessage> {
    let bytes = timeout(Duration::from_secs(5), recv.read_to_end(1 << 20))
        .await
        .expect("the server finishes the stream in time")
        .expect("the stream ends cleanly");
    let mut d = Decoder::new(1 << 20);
    d.push(&bytes);
    let mut out = Vec::new();
    while let Some(m) = d
        .next_message::<ServerMessage>()
        .expect("the server's frames are valid")
    {
        out.push(m);
    }
    d.finish().expect("the server ends on a frame boundary");
    out
}

async fn open(conn: &Connection) -> (SendStream, RecvStream) {
    timeout(Duration::from_secs(5), conn.open_bi())
        .await
        .expect("a stream in time")
        .expect("a stream")
}

fn hello(token: &str) -> Vec<u8> {
    encode(&json!({"type": "hello", "token": token, "client": "raw"}))
}

fn error_of(messages: &[ServerMessage]) -> &str {
    match messages {
        [.., ServerMessage::Error { message }] => message,
        other => panic!("expected an error last, got {other:?}"),
    }
}

fn phish(account: &str) -> Action {
    Action::Phish {
        account: account.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_action_is_accepted_and_journalled() {
    let range = start(|_| {}).await;
    assert_eq!(range.pin.len(), 64);
    assert!(
        range
            .pin
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let mut red = range.client(RED).await;
    assert_eq!(red.welcome.team, "red");
    assert_eq!(red.welcome.role, Role::Red);
    assert_eq!(red.welcome.exercise, "loopback");
    assert_eq!(red.welcome.protocol, 1);

    let answer = red.request(phish("ops")).await.expect("an answer");
    let ServerMessage::Accepted { id: 1, result, .. } = answer else {
        panic!("accepted as request 1: {answer:?}");
    };
    assert_eq!(result, json!({"phished": "ops", "by": "red"}));
    let answer = red.request(phish("nobody")).await.expect("an answer");
    assert_eq!(
        answer,
        ServerMessage::Refused {
            id: 2,
            reason: "no such account".into()
        }
    );
    let answer = red.request(Action::Snapshot {}).await.expect("an answer");
    let ServerMessage::Accepted { id: 3, result, .. } = answer else {
        panic!("a snapshot: {answer:?}");
    };
    assert_eq!(result["view"]["role"], "red", "red's own view: {result}");
    assert!(result["clock"]["sim_time_s"].is_u64(), "with the clock: {result}");
    red.close().await;

    // The exercise thread writes the journal just after it answers.
    let path = range.dir.path().join("journal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !std::fs::read_to_string(&path)
        .unwrap_or_default()
        .contains("no such account")
    {
        assert!(Instant::now() < deadline, "the journal shows the requests");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let journal = range.stop_and_read_journal().await;
    let entries: Vec<Value> = journal
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(entries.len(), 2, "the phishes, not the snapshot: {journal}");
    assert_eq!(entries[0]["team"], "red");
    assert_eq!(entries[0]["action"], json!({"action": "phish", "account": "ops"}));
    assert_eq!(entries[0]["outcome"], "accepted");
    assert_eq!(entries[1]["outcome"], "refused");
    assert!(!journal.contains(RED), "no token in the journal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_before_hello_gets_an_error() {
    let range = start(|_| {}).await;
    let (_endpoint, conn) = range.raw().await;
    let (mut send, mut recv) = open(&conn).await;
    let request = encode(&json!({"type": "request", "id": 1, "action": {"action": "snapshot"}}));
    send.write_all(&request).await.expect("sends");
    let got = answers(&mut recv).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        error_of(&got),
        "the first message on a stream must be `hello`, not `request`"
    );
    // Only that stream closed: the connection still serves.
    let (mut send, mut recv) = open(&conn).await;
    send.write_all(&hello(BLUE)).await.expect("sends");
    send.finish().expect("finishes");
    let got = answers(&mut recv).await;
    assert!(
        matches!(got.as_slice(), [ServerMessage::Welcome { role: Role::Blue, .. }]),
        "{got:?}"
    );
    range.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_gets_an_error_and_nothing_else() {
    let range = start(|_| {}).await;
    let (_endpoint, conn) = range.raw().await;
    let (mut send, mut recv) = open(&conn).await;
    send.write_all(&hello("not-a-team-token-0123456789"))
        .await
        .expect("sends");
    let got = answers(&mut recv).await;
    assert_eq!(
        got,
        [ServerMessage::Error {
            message: "unknown token".into()
        }]
    );
    let closed = timeout(Duration::from_secs(5), conn.closed())
        .await
        .expect("the server closes the connection");
    let quinn::ConnectionError::ApplicationClosed(close) = closed else {
        panic!("closed by the application: {closed}");
    };
    assert_eq!(close.error_code, quinn::VarInt::from_u32(server::codes::UNAUTHORISED));

    // The same through the client, and a missing token too.
    let e = client::connect(range.addr, &range.pin, "not-a-team-token-0123456789", "t")
        .await
        .err()
        .expect("refused");
    assert_eq!(e, ClientError::Refused("unknown token".into()));
    assert_eq!(e.to_string(), "refused: unknown token");
    let e = client::connect(range.addr, &range.pin, "", "t")
        .await
        .err()
        .expect("refused");
    assert_eq!(e, ClientError::Refused("unknown token".into()));
    let (_endpoint, conn) = range.raw().await;
    let (mut send, mut recv) = open(&conn).await;
    send.write_all(&encode(&json!({"type": "hello", "client": "no token"})))
        .await
        .expect("sends");
    let got = answers(&mut recv).await;
    assert!(error_of(&got).contains("missing field `token`"), "{got:?}");
    range.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_is_refused_the_others_actions() {
    let range = start(|_| {}).await;
    let mut blue = range.client(BLUE).await;
    let answer = blue.request(phish("ops")).await.expect("an answer");
    let ServerMessage::Refused { id: 1, reason } = answer else {
        panic!("refused: {answer:?}");
    };
    assert_eq!(reason, "`phish` is a red action; this token is blue's");
    let answer = blue
        .request(Action::FreezeBulk { minutes: 30 })
        .await
        .expect("an answer");
    assert!(matches!(answer, ServerMessage::Accepted { id: 2, .. }), "{answer:?}");

    let mut red = range.client(RED).await;
    let answer = red.request(Action::GroundTruth {}).await.expect("an answer");
    let ServerMessage::Refused { reason, .. } = answer else {
        panic!("refused: {answer:?}");
    };
    assert!(reason.contains("white action"), "{reason}");

    let mut white = range.client(WHITE).await;
    assert_eq!(white.welcome.team, "instructor");
    let answer = white.request(Action::GroundTruth {}).await.expect("an answer");
    let ServerMessage::Accepted { result, .. } = answer else {
        panic!("accepted: {answer:?}");
    };
    assert_eq!(result["role"], "white");
    // An out-of-range value is refused with its field.
    let answer = white
        .request(Action::SetPace {
            sim_seconds_per_second: 1e9,
        })
        .await
        .expect("an answer");
    assert!(
        matches!(&answer, ServerMessage::Refused { reason, .. } if reason.contains("sim_seconds_per_second")),
        "{answer:?}"
    );
    for c in [blue, red, white] {
        c.close().await;
    }
    let journal = range.stop_and_read_journal().await;
    assert!(
        journal.contains("`phish` is a red action"),
        "refusals are journalled: {journal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_fails_to_connect() {
    let range = start(|_| {}).await;
    let wrong = "00".repeat(32);
    let e = client::connect(range.addr, &wrong, RED, "t")
        .await
        .err()
        .expect("refused");
    assert_eq!(e, ClientError::PinMismatch);
    assert_eq!(e.to_string(), "the server's certificate does not match the pin");
    let e = client::connect(range.addr, "not-a-pin", RED, "t")
        .await
        .err()
        .expect("refused");
    assert!(matches!(e, ClientError::BadPin(_)), "{e}");
    // The right pin, with colons and in capitals, is the same pin.
    let loud: Vec<String> = range
        .pin
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).to_uppercase())
        .collect();
    let red = client::connect(range.addr, &loud.join(":"), RED, "t")
        .await
        .expect("connects");
    red.close().await;
    range.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_an_error_and_the_server_keeps_serving() {
    let range = start(|_| {}).await;
    // A client connected before the faults, still served after them.
    let mut white = range.client(WHITE).await;
    let (_endpoint, conn) = range.raw().await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            (1u32 << 20).to_be_bytes().to_vec(),
            "frame of 1048576 bytes exceeds the limit of 65536 bytes",
        ),
        (vec![0, 0, 0, 0], "empty frame"),
        (vec![0, 0, 0, 3, 9, b'{', b'}'], "protocol version 9 is not supported"),
        (vec![0, 0, 0, 5, 1, b'n', b'o', b'p', b'e'], "not a valid message"),
        (
            encode(&json!({"type": "welcome", "protocol": 1})),
            "`welcome` is a message from the server, not from a client",
        ),
        (hello(RED), "a second `hello` on this stream"),
        (vec![0, 0, 0, 9, 1, b'{'], "the stream ended inside a frame"),
    ];
    for (bytes, expected) in cases {
        let (mut send, mut recv) = open(&conn).await;
        send.write_all(&hello(RED)).await.expect("sends");
        send.write_all(&bytes).await.expect("sends");
        if expected.contains("ended inside") {
            send.finish().expect("finishes");
        }
        let got = answers(&mut recv).await;
        assert!(matches!(got.first(), Some(ServerMessage::Welcome { .. })), "{got:?}");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(error_of(&got).contains(expected), "{got:?} (expected {expected})");
    }
    // A faulty first frame: an error, and the stream closes.
    let (mut send, mut recv) = open(&conn).await;
    send.write_all(&[0, 0, 0, 2, 1, b'[']).await.expect("sends");
    let got = answers(&mut recv).await;
    assert!(error_of(&got).starts_with("not a valid message"), "{got:?}");

    let answer = white.request(Action::Snapshot {}).await.expect("still served");
    assert!(matches!(answer, ServerMessage::Accepted { .. }), "{answer:?}");
    let mut red = range.client(RED).await;
    assert!(matches!(
        red.request(Action::Snapshot {}).await,
        Ok(ServerMessage::Accepted { .. })
    ));
    red.close().await;
    white.close().await;
    range.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_refuses() {
    let range = start(|c| c.max_requests_per_s = 5).await;
    let mut red = range.client(RED).await;
    let mut accepted = 0;
    let mut limited = 0;
    let began = Instant::now();
    for _ in 0..30 {
        match red.request(Action::Snapshot {}).await.expect("an answer") {
            ServerMessage::Accepted { .. } => accepted += 1,
            ServerMessage::Refused { reason, .. } => {
                assert!(reason.starts_with("rate limit"), "{reason}");
                limited += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // A burst of 10, then 5 a second (however slowly this machine sent them).
    let most = 10 + (began.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert!((10..=most).contains(&accepted), "{accepted} accepted, at most {most}");
    assert!(limited > 0);
    assert_eq!(accepted + limited, 30);
    // Another team has its own bucket.
    let mut blue = range.client(BLUE).await;
    assert!(matches!(
        blue.request(Action::Snapshot {}).await,
        Ok(ServerMessage::Accepted { .. })
    ));
    red.close().await;
    blue.close().await;
    range.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_closed_and_limits_hold() {
    let range = start(|c| {
        c.hello_timeout = Duration::from_millis(200);
        c.max_connections_per_team = 1;
        c.max_streams = 2;
    })
    .await;
    let (_endpoint0, conn0) = range.raw().await;
    // Half a frame, then nothing.
    let (mut send, mut recv) = open(&conn0).await;
    send.write_all(&[0, 0]).await.expect("sends");
    let got = answers(&mut recv).await;
    assert_eq!(error_of(&got), "no `hello` within 0.2 s");
    // A connection that never said a valid `hello` does not keep its slot.
    let closed = timeout(Duration::from_secs(5), conn0.closed())
        .await
        .expect("the server closes a connection without hello");
    assert!(closed.to_string().contains("no hello in time"), "{closed}");

    // Two streams at once per connection: a third waits for one of them to close.
    let (_endpoint, conn) = range.raw().await;
    let (mut s1, mut r1) = open(&conn).await;
    s1.write_all(&hello(RED)).await.expect("sends");
    let (mut s2, mut r2) = open(&conn).await;
    s2.write_all(&hello(RED)).await.expect("sends");
    let mut d = Decoder::new(1 << 16);
    let mut buf = [0u8; 1024];
    for r in [&mut r1, &mut r2] {
        let n = timeout(Duration::from_secs(5), r.read(&mut buf))
            .await
            .expect("in time")
            .expect("reads")
            .expect("bytes");
        d.push(&buf[..n]);
        assert!(matches!(
            d.next_message::<ServerMessage>(),
            Ok(Some(ServerMessage::Welcome { .. }))
        ));
    }
    assert!(
        timeout(Duration::from_millis(300), conn.open_bi()).await.is_err(),
        "a third stream waits"
    );

    // One connection per team (red's above, and white's): a second red one is refused.
    let _second = client::connect(range.addr, &range.pin, WHITE, "t")
        .await
        .expect("a second connection");
    let e = client::connect(range.addr, &range.pin, RED, "t")
        .await
        .err()
        .expect("refused");
    assert!(matches!(e, ClientError::Refused(_)), "{e}");
    assert!(e.to_string().contains("already has 1 connection open"), "{e}");
    range.stop().await;
}

/// Base64 (RFC 4648, with padding), for writing PEM.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("ASCII"))
        .collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_certificate_files_are_served_and_pinned() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let certified = rcgen::generate_simple_self_signed(vec!["range.example".to_owned()]).expect("a certificate");
    let der = certified.cert.der().to_vec();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", &der)).expect("writes");
    std::fs::write(&key, pem("PRIVATE KEY", &certified.signing_key.serialize_der())).expect("writes");
    let range = start(|c| {
        c.cert = CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }
    })
    .await;
    assert_eq!(range.pin, server::fingerprint(&der));
    let red = range.client(RED).await;
    red.close().await;
    range.stop().await;

    // Files that are missing or hold the wrong thing are named.
    let (tx, _rx) = std::sync::mpsc::channel();
    let published = Arc::default();
    for (c, k, expected) in [
        (dir.path().join("nope.pem"), key.clone(), "nope.pem"),
        (key.clone(), key.clone(), "no certificate"),
        (cert.clone(), cert.clone(), "no private key"),
    ] {
        let mut cfg = ServerConfig::new("127.0.0.1:0".parse().expect("an address"));
        cfg.cert = CertSource::Files { cert: c, key: k };
        let e = Server::bind(cfg, exercise(), tx.clone(), Arc::clone(&published))
            .await
            .err()
            .expect("refused");
        assert!(matches!(e, ServerError::Certificate(_)), "{e}");
        assert!(e.to_string().contains(expected), "{e} (expected {expected})");
    }
}
