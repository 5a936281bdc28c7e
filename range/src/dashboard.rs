//! The dashboard: a small HTTP/1.1 server, meant for loopback, serving one self-contained page
//! and, to a team that presents its token, that team's view of the live exercise as JSON.
//!
//! ```text
//! GET /        the page (assets/dashboard.html: inline CSS and JS, nothing fetched elsewhere)
//! GET /state   with `Authorization: Bearer <token>`: {"team", "role", "exercise", "clock",
//!              "view"} (`exercise`: the exercise's name and description; `view`:
//!              `Published::view` of the team's role); 401 without a team's token
//! ```
//!
//! `HEAD` is answered like `GET`, without the body; any other method on these two paths is
//! `405`, any other path `404`. The page reads the token from its address's fragment
//! (`/#token=<percent-encoded token>`, or `/#<token>`), which browsers never send, and sends
//! it only in the `Authorization` header, so no request line or log can carry it. This server
//! logs nothing, and never puts anything of the request into an answer.
//!
//! Every connection carries one request and is closed after the answer (`Connection: close`).
//! The request head may be at most [`MAX_HEAD`] bytes (`431` beyond) and must arrive within
//! the read timeout ([`READ_TIMEOUT`]; `408` if it started, a silent close if nothing came);
//! bodies are never read. At most [`MAX_CONNECTIONS`] connections are served at once; one more
//! is answered `503` and closed. Every answer says `Cache-Control: no-store` and carries a
//! Content-Security-Policy that lets the page run its own inline script and style and reach
//! its own origin only.
//!
//! ```no_run
//! # async fn demo(exercise: std::sync::Arc<amirange_range::exercise::Exercise>,
//! #               published: std::sync::Arc<std::sync::RwLock<amirange_range::live::Published>>)
//! #               -> std::io::Result<()> {
//! use amirange_range::dashboard::Dashboard;
//! let dashboard = Dashboard::bind("127.0.0.1:8080".parse().expect("an address")).await?;
//! println!("dashboard: http://{}/", dashboard.local_addr()?);
//! dashboard
//!     .serve(exercise, published, async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use crate::exercise::Exercise;
use crate::live::Published;

/// The page served at `/`.
pub const PAGE: &str = include_str!("../assets/dashboard.html");

/// The largest request head (request line and headers, with the blank line), in bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// How long a client has, from connecting, to send its whole request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an answer may take to be written (a client that does not read is dropped).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// The Content-Security-Policy of every answer: the page's inline script and style, `data:`
/// images, requests to its own origin, and nothing else (no frames, no form posts, no base).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// After an answer, how long unread bytes of the request are drained before closing, so
/// that closing with them unread (which resets the connection) does not lose the answer.
const LINGER: Duration = Duration::from_millis(500);
/// The most bytes drained after an answer.
const LINGER_MAX: usize = 64 * 1024;
/// How long to back off when `accept` fails (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The answer to a connection over [`MAX_CONNECTIONS`], written without waiting.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
Content-Length: 27\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\
{\"error\":\"server too busy\"}";

/// A dashboard listening, not serving yet.
#[derive(Debug)]
pub struct Dashboard {
    listener: TcpListener,
    max_connections: usize,
    read_timeout: Duration,
}

/// What every connection's task shares.
struct Shared {
    exercise: Arc<Exercise>,
    published: Arc<RwLock<Published>>,
    read_timeout: Duration,
}

impl Dashboard {
    /// Listens on `addr` (port 0 picks a free one: see [`Dashboard::local_addr`]). The
    /// dashboard speaks plain HTTP: keep `addr` on loopback, or put TLS in front of it.
    pub async fn bind(addr: SocketAddr) -> io::Result<Dashboard> {
        Ok(Dashboard {
            listener: TcpListener::bind(addr).await?,
            max_connections: MAX_CONNECTIONS,
            read_timeout: READ_TIMEOUT,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, drops the connections still
    /// open and returns. Each team sees the view of its own role in `published`, read at
    /// every request.
    pub async fn serve(
        self,
        exercise: Arc<Exercise>,
        published: Arc<RwLock<Published>>,
        shutdown: impl Future<Output = ()>,
    ) {
        let shared = Arc::new(Shared {
            exercise,
            published,
            read_timeout: self.read_timeout,
        });
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                // Reap finished connections so the set does not grow.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _peer)) => match Arc::clone(&permits).try_acquire_owned() {
                        Ok(permit) => {
                            let shared = Arc::clone(&shared);
                            tasks.spawn(async move {
                                connection(stream, &shared).await;
                                drop(permit);
                            });
                        }
                        // Full: say so without waiting, and close.
                        Err(_) => {
                            let _ = stream.try_write(BUSY);
                        }
                    },
                    Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
                },
            }
        }
        tasks.shutdown().await;
    }
}

/// One connection: read the head, answer, close.
async fn connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let deadline = Instant::now() + shared.read_timeout;
    let answer = match timeout_at(deadline, read_head(&mut stream, &mut buf)).await {
        Ok(Ok(Head::Complete(len))) => match parse(&buf[..len]) {
            Ok(request) => respond(&request, shared),
            Err(status) => Answer::error(status),
        },
        Ok(Ok(Head::TooLarge)) => Answer::error(Status::HeaderTooLarge),
        // The client went away (or the connection failed): nobody to answer.
        Ok(Ok(Head::Closed) | Err(_)) => return,
        Err(_elapsed) if buf.is_empty() => return,
        Err(_elapsed) => Answer::error(Status::RequestTimeout),
    };
    if timeout(WRITE_TIMEOUT, stream.write_all(&answer.bytes)).await.is_err() {
        return;
    }
    // A lingering close: send FIN, then read what the client still sends (a body, the rest
    // of an oversized head) for a moment, so the answer is not lost to a reset.
    let _ = stream.shutdown().await;
    let _ = timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_MAX {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// How reading a request head ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// The head is the first `.0` bytes of the buffer (anything after is a body, ignored).
    Complete(usize),
    /// [`MAX_HEAD`] bytes came without the blank line that ends a head.
    TooLarge,
    /// The client closed before finishing its head.
    Closed,
}

/// Reads into `buf` until the head's end, at most [`MAX_HEAD`] bytes plus one read.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Head> {
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(buf) {
            return Ok(if end <= MAX_HEAD {
                Head::Complete(end)
            } else {
                Head::TooLarge
            });
        }
        if buf.len() >= MAX_HEAD {
            return Ok(Head::TooLarge);
        }
    }
}

/// Where the head ends (after its blank line), if it does: the first line feed followed by
/// an empty line (`\r\n` or a bare `\n`). Empty lines before the request line are skipped.
fn head_end(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let buf_from = &buf[start..];
    for (i, &b) in buf_from.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        match buf_from.get(i + 1..) {
            Some([b'\n', ..]) => return Some(start + i + 2),
            Some([b'\r', b'\n', ..]) => return Some(start + i + 3),
            _ => {}
        }
    }
    None
}

/// The statuses this server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    HeaderTooLarge,
    Internal,
    VersionNotSupported,
}

impl Status {
    fn code_and_reason(self) -> (u16, &'static str) {
        match self {
            Status::Ok => (200, "OK"),
            Status::BadRequest => (400, "Bad Request"),
            Status::Unauthorized => (401, "Unauthorized"),
            Status::NotFound => (404, "Not Found"),
            Status::MethodNotAllowed => (405, "Method Not Allowed"),
            Status::RequestTimeout => (408, "Request Timeout"),
            Status::HeaderTooLarge => (431, "Request Header Fields Too Large"),
            Status::Internal => (500, "Internal Server Error"),
            Status::VersionNotSupported => (505, "HTTP Version Not Supported"),
        }
    }

    /// The short error message of the JSON body.
    fn message(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::BadRequest => "malformed request",
            Status::Unauthorized => "a team token is needed",
            Status::NotFound => "no such page",
            Status::MethodNotAllowed => "only GET and HEAD are served",
            Status::RequestTimeout => "the request took too long",
            Status::HeaderTooLarge => "the request head is too large",
            Status::Internal => "the view could not be written",
            Status::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are served",
        }
    }
}

/// A parsed request: what routing needs, borrowed from the head.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    /// The path, without the query.
    path: &'a str,
    /// The `Authorization` header's value, if there is one.
    authorization: Option<&'a str>,
}

/// Whether `b` may be in a token (a method or header name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Parses a request head (its request line and headers), strictly: anything unusual is a 400.
fn parse(head: &[u8]) -> Result<Request<'_>, Status> {
    let text = std::str::from_utf8(head).map_err(|_| Status::BadRequest)?;
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let request_line = lines.next().ok_or(Status::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    if !is_token(method) {
        return Err(Status::BadRequest);
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(Status::VersionNotSupported),
        _ => return Err(Status::BadRequest),
    }
    if target.is_empty() || target.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(Status::BadRequest);
    }
    let path = request_path(target).ok_or(Status::BadRequest)?;
    let mut authorization = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        // Folded lines (obsolete) and whitespace before the colon are refused (RFC 9112).
        let (name, value) = line.split_once(':').ok_or(Status::BadRequest)?;
        if !is_token(name) {
            return Err(Status::BadRequest);
        }
        if value.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
            return Err(Status::BadRequest);
        }
        if name.eq_ignore_ascii_case("authorization") {
            // Two credentials: which one is meant? Neither.
            if authorization.is_some() {
                return Err(Status::BadRequest);
            }
            authorization = Some(value.trim_matches([' ', '\t']));
        }
    }
    Ok(Request {
        method,
        path,
        authorization,
    })
}

/// The path of a request target: origin form (`/state?x`), absolute form
/// (`http://host/state`) or `*`; `None` for anything else.
fn request_path(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(without_query(target));
    }
    if target == "*" {
        return Some(target);
    }
    let scheme_end = target.find("://")?;
    let scheme = &target[..scheme_end];
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    match rest.find(['/', '?', '#']) {
        Some(i) if rest[i..].starts_with('/') => Some(without_query(&rest[i..])),
        _ => Some("/"),
    }
}

/// `target` without its query (or fragment).
fn without_query(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or(target)
}

/// The bearer token of an `Authorization` value (scheme case-insensitive), if it is one.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim_matches([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An answer, ready to write.
struct Answer {
    bytes: Vec<u8>,
}

impl Answer {
    /// An answer with `body` (left out, its length kept, when `head_only`).
    fn new(status: Status, content_type: &str, extra: &[(&str, &str)], body: &[u8], head_only: bool) -> Answer {
        let (code, reason) = status.code_and_reason();
        let mut head = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nContent-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n\
             X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
             X-Frame-Options: DENY\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in extra {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !head_only {
            bytes.extend_from_slice(body);
        }
        Answer { bytes }
    }

    /// A JSON answer.
    fn json(status: Status, extra: &[(&str, &str)], body: &[u8], head_only: bool) -> Answer {
        Answer::new(status, "application/json", extra, body, head_only)
    }

    /// An error with its short JSON message.
    fn error(status: Status) -> Answer {
        Answer::error_with(status, &[], false)
    }

    fn error_with(status: Status, extra: &[(&str, &str)], head_only: bool) -> Answer {
        let body = json!({ "error": status.message() }).to_string();
        Answer::json(status, extra, body.as_bytes(), head_only)
    }
}

/// Routes a parsed request.
fn respond(request: &Request<'_>, shared: &Shared) -> Answer {
    let known = matches!(request.path, "/" | "/state");
    if !known {
        return Answer::error(Status::NotFound);
    }
    let head_only = match request.method {
        "GET" => false,
        "HEAD" => true,
        _ => return Answer::error_with(Status::MethodNotAllowed, &[("Allow", "GET, HEAD")], false),
    };
    if request.path == "/" {
        return Answer::new(Status::Ok, "text/html; charset=utf-8", &[], PAGE.as_bytes(), head_only);
    }
    let team = request
        .authorization
        .and_then(bearer)
        .and_then(|token| shared.exercise.team_of(token));
    let Some(team) = team else {
        let challenge = if request.authorization.is_some() {
            r#"Bearer realm="amirange", error="invalid_token""#
        } else {
            r#"Bearer realm="amirange""#
        };
        return Answer::error_with(Status::Unauthorized, &[("WWW-Authenticate", challenge)], head_only);
    };
    // Clone the view under the lock, write it out after. A poisoned lock means a writer
    // panicked while holding it; the last whole view is still there.
    let mut state = shared
        .published
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .view(team.role);
    if let Value::Object(map) = &mut state {
        map.insert("team".into(), Value::String(team.name.clone()));
        map.insert("role".into(), Value::String(team.role.name().into()));
        // The exercise's name and the brief its file gives, shown above every team's view.
        map.insert(
            "exercise".into(),
            json!({ "name": shared.exercise.name, "description": shared.exercise.description }),
        );
    }
    match serde_json::to_vec(&state) {
        Ok(body) => Answer::json(Status::Ok, &[], &body, head_only),
        Err(_) => Answer::error_with(Status::Internal, &[], head_only),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio::sync::oneshot;

    use super::*;
    use crate::messages::Role;
    use crate::session::ClockState;

    const EXERCISE: &str = r#"Exercise(
    name: "dashboard-test",
    description: "Stop the evening disconnect.",
    scenario: "../attacks/mass-disconnect-peak.ron",
    teams: [
        (name: "red", role: Red),
        (name: "blue-team", role: Blue, token: Given("blue-team-token-0123")),
        (name: "instructor", role: White, token: Given("a-long-token-for-the-class")),
    ],
)"#;
    const BLUE: &str = "blue-team-token-0123";
    const WHITE: &str = "a-long-token-for-the-class";

    fn published() -> Published {
        Published {
            version: 3,
            clock: Some(ClockState {
                sim_time_s: 93_600,
                end_s: 172_800,
                pace: 60.0,
                paused: false,
                finished: false,
                max_lag_s: 0.0,
            }),
            red: json!({ "held": ["account-1"] }),
            blue: json!({
                "time": "2024-01-02 02:00",
                "timeline": { "t_s": [900, 1800], "load_kw": [10.5, 11.0] },
                "alerts": [{ "t_s": 900, "detector": "rate", "severity": "high", "subject": "F1", "count": 3 }],
            }),
            white: json!({ "truth": "white-eyes-only", "scoreboard": { "teams": [], "lines": [] } }),
        }
    }

    /// A dashboard on a free loopback port, with `adjust` applied before serving; its address,
    /// the sender that stops it and the task that serves it (it ends once the listener is
    /// closed).
    async fn start_serving(
        adjust: impl FnOnce(&mut Dashboard),
    ) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let exercise = Exercise::load(Path::new("ex.ron"), EXERCISE, |_| None).expect("the exercise loads");
        let mut dashboard = Dashboard::bind("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("binds");
        adjust(&mut dashboard);
        let addr = dashboard.local_addr().expect("an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving =
            tokio::spawn(
                dashboard.serve(Arc::new(exercise), Arc::new(RwLock::new(published())), async move {
                    let _ = stopped.await;
                }),
            );
        (addr, stop, serving)
    }

    /// A dashboard on a free loopback port, with `adjust` applied before serving; its address
    /// and the sender that stops it.
    async fn start_with(adjust: impl FnOnce(&mut Dashboard)) -> (SocketAddr, oneshot::Sender<()>) {
        let (addr, stop, _serving) = start_serving(adjust).await;
        (addr, stop)
    }

    async fn start() -> (SocketAddr, oneshot::Sender<()>) {
        start_with(|_| {}).await
    }

    /// An answer as a client reads it.
    #[derive(Debug)]
    struct Reply {
        status: u16,
        head: String,
        body: String,
    }

    impl Reply {
        /// The value of header `name` (case-insensitive).
        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    /// Sends `raw` on a fresh connection and reads the answer to the end.
    async fn send(addr: SocketAddr, raw: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        stream.write_all(raw).await.expect("writes");
        read_reply(&mut stream).await
    }

    async fn read_reply(stream: &mut TcpStream) -> Reply {
        let mut bytes = Vec::new();
        timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
            .await
            .expect("answers in time")
            .expect("reads");
        let text = String::from_utf8(bytes).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        Reply {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    fn get(path: &str, authorization: Option<&str>) -> Vec<u8> {
        let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n").into_bytes()
    }

    #[tokio::test]
    async fn the_page_is_served_whole_and_fetches_nothing_elsewhere() {
        let (addr, _stop) = start().await;
        let r = send(addr, &get("/", None)).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body, PAGE);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("content-security-policy"), Some(CONTENT_SECURITY_POLICY));
        assert_eq!(r.header("content-length"), Some(PAGE.len().to_string().as_str()));
        assert!(PAGE.starts_with("<!doctype html>"));
        // No URL to anywhere else (not even a comment that looks like one), nothing loaded
        // from a file, and data never written into the DOM as HTML.
        for banned in [
            "http:",
            "https:",
            "//",
            "src=",
            "@import",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
        ] {
            assert!(!PAGE.contains(banned), "the page holds {banned:?}");
        }
        // HEAD: the same head, no body.
        let h = send(addr, b"HEAD / HTTP/1.1\r\n\r\n").await;
        assert_eq!((h.status, h.body.as_str()), (200, ""));
        assert_eq!(h.header("content-length"), r.header("content-length"));
    }

    #[tokio::test]
    async fn state_needs_a_teams_token_and_shows_only_its_roles_view() {
        let (addr, _stop) = start().await;
        let wrong = "not-a-token-of-anyone-here";
        for auth in [
            None,
            Some(format!("Bearer {wrong}")),
            Some("Bearer ".to_owned()),
            Some(format!("Basic {BLUE}")),
            Some(BLUE.to_owned()),
            Some(format!("Bearer {BLUE}x")),
        ] {
            let r = send(addr, &get("/state", auth.as_deref())).await;
            assert_eq!(r.status, 401, "{auth:?}: {r:?}");
            assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
            let body: Value = serde_json::from_str(&r.body).expect("a JSON error");
            assert!(body["error"].is_string(), "{body}");
            assert!(!r.head.contains(wrong) && !r.body.contains(wrong), "never echoed");
            assert!(!r.body.contains("white-eyes-only") && !r.body.contains("load_kw"));
        }

        // Blue: its view, not white's; the scheme and header name in any case.
        let r = send(
            addr,
            format!("GET /state?x=1 HTTP/1.1\r\nhost: a\r\nAUTHORIZATION:   bearer {BLUE}  \r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
        assert!(r.body.contains(r#""role":"blue""#), "{}", r.body);
        let state: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(state["team"], "blue-team");
        assert_eq!(state["role"], "blue");
        assert_eq!(state["clock"]["sim_time_s"], 93_600);
        assert_eq!(state["view"], published().blue);
        assert_eq!(state["exercise"]["name"], "dashboard-test");
        assert_eq!(state["exercise"]["description"], "Stop the evening disconnect.");
        assert!(!r.body.contains("white-eyes-only") && !r.body.contains("scoreboard"));
        assert!(!r.head.contains(BLUE) && !r.body.contains(BLUE), "never echoed");

        // White sees its own.
        let r = send(addr, &get("/state", Some(&format!("Bearer {WHITE}")))).await;
        assert_eq!(r.status, 200, "{r:?}");
        let state: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(
            (state["role"].as_str(), state["team"].as_str()),
            (Some("white"), Some("instructor"))
        );
        assert_eq!(state["view"], published().white);
        assert_eq!(Role::White.name(), "white");
    }

    #[tokio::test]
    async fn bad_requests_get_4xx_and_never_a_panic() {
        let (addr, _stop) = start().await;
        // An oversized head, with or without its end.
        let big = "a".repeat(MAX_HEAD + 10);
        let r = send(addr, format!("GET / HTTP/1.1\r\nX-Big: {big}\r\n\r\n").as_bytes()).await;
        assert_eq!(r.status, 431, "{r:?}");
        let r = send(addr, format!("GET / HTTP/1.1\r\nX-Big: {big}").as_bytes()).await;
        assert_eq!(r.status, 431, "{r:?}");
        // Unknown paths, other methods.
        assert_eq!(send(addr, &get("/nope", None)).await.status, 404);
        assert_eq!(send(addr, &get("/state/", None)).await.status, 404);
        assert_eq!(send(addr, &get("/favicon.ico", None)).await.status, 404);
        let r = send(addr, b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").await;
        assert_eq!(r.status, 405, "{r:?}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        let r = send(
            addr,
            format!("DELETE /state HTTP/1.1\r\nAuthorization: Bearer {BLUE}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 405, "{r:?}");
        // Malformed heads.
        for raw in [
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A : b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\n\xff\xfe: x\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET state HTTP/1.1\r\n\r\n",
            b"GET /state HTTP/1.1\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n",
            b"\x00\x01\x02\r\n\r\n",
        ] {
            let r = send(addr, raw).await;
            assert_eq!(r.status, 400, "{:?}: {r:?}", String::from_utf8_lossy(raw));
        }
        assert_eq!(send(addr, b"GET / HTTP/2.0\r\n\r\n").await.status, 505);
        // Absolute form and bare line feeds are understood.
        assert_eq!(send(addr, b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n").await.status, 200);
        assert_eq!(send(addr, b"\r\nGET / HTTP/1.0\n\n").await.status, 200);
        // Still serving.
        assert_eq!(send(addr, &get("/", None)).await.status, 200);
    }

    /// A client that says nothing, or half a head, holds no one else up: another request is
    /// answered while both are still open and unanswered (their deadline is far off, so the
    /// order cannot depend on the machine's speed).
    #[tokio::test]
    async fn a_silent_client_does_not_hold_up_others() {
        let (addr, _stop) = start_with(|d| d.read_timeout = Duration::from_secs(60)).await;
        let silent = TcpStream::connect(addr).await.expect("connects");
        let mut partial = TcpStream::connect(addr).await.expect("connects");
        partial.write_all(b"GET / HT").await.expect("writes");
        let r = send(addr, &get("/", None)).await;
        assert_eq!(r.status, 200);
        // Both are still waiting: nothing to read yet, and not closed.
        let mut byte = [0u8; 1];
        for (name, stream) in [("silent", &silent), ("partial", &partial)] {
            match stream.try_read(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("the {name} client was answered first: {other:?}"),
            }
        }
    }

    /// Past the read deadline, a client with half a head is told it took too long and a
    /// silent one is just closed.
    #[tokio::test]
    async fn a_slow_client_is_timed_out() {
        let (addr, _stop) = start_with(|d| d.read_timeout = Duration::from_millis(300)).await;
        let mut silent = TcpStream::connect(addr).await.expect("connects");
        let mut partial = TcpStream::connect(addr).await.expect("connects");
        partial.write_all(b"GET / HT").await.expect("writes");
        assert_eq!(read_reply(&mut partial).await.status, 408);
        let mut rest = Vec::new();
        let n = timeout(Duration::from_secs(5), silent.read_to_end(&mut rest))
            .await
            .expect("closed after the timeout")
            .expect("reads");
        assert_eq!(n, 0);
    }

    /// Over the cap, a connection is told to retry; once the held ones close, requests are
    /// served again; after shutdown nothing listens. Each step waits for the event it needs,
    /// never for a length of time.
    #[tokio::test]
    async fn connections_over_the_cap_are_told_to_retry_and_shutdown_stops_serving() {
        let (addr, stop, serving) = start_serving(|d| d.max_connections = 2).await;
        // The server accepts in the order the connections completed (the listener's queue is
        // first in, first out) and takes a permit in the same step, so the first two hold
        // both permits before the third is accepted.
        let a = TcpStream::connect(addr).await.expect("connects");
        let b = TcpStream::connect(addr).await.expect("connects");
        let mut c = TcpStream::connect(addr).await.expect("connects");
        let r = read_reply(&mut c).await;
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
        assert!(serde_json::from_str::<Value>(&r.body).is_ok(), "{r:?}");
        // Closing them frees their permits as soon as the server reads the closes: ask until
        // it serves (each refusal is an immediate 503), within a generous deadline.
        drop((a, b));
        let served = timeout(Duration::from_secs(10), async {
            loop {
                let r = send(addr, &get("/", None)).await;
                if r.status == 200 {
                    break;
                }
                assert_eq!(r.status, 503, "{r:?}");
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(served.is_ok(), "served again once the held connections closed");
        stop.send(()).expect("the server runs");
        // The serving task ends after it has dropped its listener.
        timeout(Duration::from_secs(10), serving)
            .await
            .expect("stops in time")
            .expect("stops cleanly");
        assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
    }

    #[test]
    fn parsing_is_careful() {
        let p = parse(b"GET /state?token=x HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n").expect("parses");
        assert_eq!(
            p,
            Request {
                method: "GET",
                path: "/state",
                authorization: Some("Bearer abc"),
            }
        );
        assert_eq!(request_path("https://h:1/state?x"), Some("/state"));
        assert_eq!(request_path("http://h"), Some("/"));
        assert_eq!(request_path("http://h?x"), Some("/"));
        assert_eq!(request_path("ftp://h/"), None);
        assert_eq!(request_path("state"), None);
        assert_eq!(bearer("Bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER\tabc"), Some("abc"));
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer   "), None);
        assert_eq!(bearer("Token abc"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nbody"), Some(16));
        assert_eq!(head_end(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"), Some(22));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_end(b"\r\n\r\n"), None);

        // Any bytes at all: an answer or an error, never a panic.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"GET /stateHP1.: \r\n\t\xff\x00Bearer:?*";
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Some(end) = head_end(&bytes) {
                let _ = parse(&bytes[..end]);
            }
            let _ = parse(&bytes);
        }
    }
}
