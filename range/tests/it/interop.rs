//! A QUIC client that is not ours, Python's aioquic (`tests/interop.py`), against the server:
//! no hello, a wrong token, then a welcome and a snapshot. Skipped (with a note) when aioquic
//! is not installed, unless `AMIRANGE_REQUIRE_AIOQUIC=1` (as in CI), which makes that a
//! failure.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amirange_range::exercise::Exercise;
use amirange_range::live::Live;
use amirange_range::server::{Server, ServerConfig};
use amirange_range::session::Session;

const RED: &str = "red-team-token-0123456789";

const EXERCISE: &str = r#"Exercise(
    name: "interop",
    scenario: "no-such-scenario.ron",
    teams: [
        (name: "red", role: Red, token: Given("red-team-token-0123456789")),
        (name: "instructor", role: White, token: Given("white-team-token-0123456789")),
    ],
)"#;

fn has_aioquic() -> bool {
    Command::new("python3")
        .args(["-c", "import aioquic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `interop.py` and returns its exit code and output, killing it after a minute.
fn run_script(addr: &str, token: &str, pin: &str) -> (Option<i32>, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args([addr, token, pin])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("waits").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("its output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn aioquic_speaks_to_the_server() {
    if !has_aioquic() {
        assert_ne!(
            std::env::var("AMIRANGE_REQUIRE_AIOQUIC").as_deref(),
            Ok("1"),
            "AMIRANGE_REQUIRE_AIOQUIC=1 but `python3 -c 'import aioquic'` fails: install aioquic (pip install aioquic)"
        );
        eprintln!("skipped: Python's aioquic is not installed (pip install aioquic to run this test)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let session = Session::new(Box::new(crate::common::Mock::day()), "interop", 60.0, 0.0);
    let live = Live::start(session, dir.path()).expect("the exercise starts");
    let exercise = Arc::new(Exercise::load(Path::new("interop.ron"), EXERCISE, |_| None).expect("valid"));
    let (code, output) = runtime.block_on(async {
        let cfg = ServerConfig::new("127.0.0.1:0".parse().expect("an address"));
        let server = Server::bind(cfg, exercise, live.requests(), live.published())
            .await
            .expect("the server binds");
        let (addr, pin) = (server.local_addr.to_string(), server.fingerprint.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let result = tokio::task::spawn_blocking(move || run_script(&addr, RED, &pin))
            .await
            .expect("the script's thread");
        let _ = stop.send(());
        served.await.expect("the server stops");
        result
    });
    drop(runtime);
    live.join().expect("the exercise ends");
    eprintln!("{output}");
    assert_eq!(code, Some(0), "interop.py failed:\n{output}");
    for line in [
        "request before hello -> error",
        "wrong token -> error 'unknown token'",
        "hello -> welcome to 'interop' as 'red' (red)",
        "snapshot -> accepted",
        "interop: ok",
    ] {
        assert!(output.contains(line), "missing {line:?} in:\n{output}");
    }
}
