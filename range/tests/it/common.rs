//! Shared by the range's loopback tests: a mock engine inside a real session and exercise
//! thread, and the QUIC server in front of it on 127.0.0.1 with a generated certificate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use amirange_range::exercise::Exercise;
use amirange_range::live::Live;
use amirange_range::messages::{Action, Role};
use amirange_range::server::{Server, ServerConfig};
use amirange_range::session::{Engine, Session};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::timeout;

/// The account no phish reaches: [`Mock`] refuses `phish` of it with "no such account".
pub const NOBODY: &str = "nobody";

/// An engine that does nothing but answer: `phish` of [`NOBODY`] is refused, any other phish
/// is accepted with what was asked, everything else accepted with `null`.
pub struct Mock {
    /// Simulated seconds since the start.
    pub now: u64,
    /// The run's end, simulated seconds.
    pub end: u64,
}

impl Mock {
    /// A day-long mock at its start.
    pub fn day() -> Mock {
        Mock { now: 0, end: 86_400 }
    }
}

impl Engine for Mock {
    fn query(&self, _: &amirange_range::messages::Query) -> Result<Value, String> {
        Err("the mock engine answers no query".into())
    }
    fn now_s(&self) -> u64 {
        self.now
    }
    fn end_s(&self) -> u64 {
        self.end
    }
    fn advance(&mut self, to_s: u64) -> Result<(), String> {
        self.now = to_s;
        Ok(())
    }
    fn apply(&mut self, team: &str, _role: Role, action: &Action) -> Result<Value, String> {
        match action {
            Action::Phish { account } if account == NOBODY => Err("no such account".into()),
            Action::Phish { account } => Ok(json!({"phished": account, "by": team})),
            _ => Ok(Value::Null),
        }
    }
    fn view(&self, role: Role) -> Value {
        json!({"role": role.name(), "now": self.now})
    }
    fn finish(&mut self) -> Result<Vec<u8>, String> {
        Ok(b"{}".to_vec())
    }
    fn setup(&self) -> Value {
        Value::Null
    }
}

/// The exercise file `text`, loaded as `file` with every token given in it.
pub fn exercise(file: &str, text: &str) -> Arc<Exercise> {
    Arc::new(Exercise::load(Path::new(file), text, |_| None).expect("a valid exercise"))
}

/// A running exercise (a day-long [`Mock`]) and its server.
pub struct Range {
    /// The server's address.
    pub addr: SocketAddr,
    /// Its certificate's pin.
    pub pin: String,
    /// The exercise's folder (its journal).
    pub dir: tempfile::TempDir,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    live: Live,
}

/// Starts `exercise` over a [`Mock`] in a temporary folder, with the server's configuration
/// changed by `tweak`.
pub async fn start(exercise: Arc<Exercise>, tweak: impl FnOnce(&mut ServerConfig)) -> Range {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let session = Session::new(Box::new(Mock::day()), &exercise.name, 60.0, 0.0);
    let live = Live::start(session, dir.path()).expect("the exercise starts");
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().expect("an address"));
    tweak(&mut cfg);
    let server = Server::bind(cfg, exercise, live.requests(), live.published())
        .await
        .expect("the server binds");
    let (addr, pin) = (server.local_addr, server.fingerprint.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Range {
        addr,
        pin,
        dir,
        stop,
        server,
        live,
    }
}

impl Range {
    /// Stops the server and the exercise; the exercise's folder, to read what it left.
    pub async fn stop(self) -> tempfile::TempDir {
        let _ = self.stop.send(());
        timeout(Duration::from_secs(5), self.server)
            .await
            .expect("the server stops in time")
            .expect("the server task ends cleanly");
        let live = self.live;
        timeout(Duration::from_secs(5), tokio::task::spawn_blocking(move || live.join()))
            .await
            .expect("the exercise stops in time")
            .expect("the exercise thread joins")
            .expect("the exercise ends cleanly");
        self.dir
    }

    /// Stops the server and the exercise; the journal's text.
    pub async fn stop_and_read_journal(self) -> String {
        let dir = self.stop().await;
        std::fs::read_to_string(dir.path().join("journal.jsonl")).expect("the journal")
    }
}
