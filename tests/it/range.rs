//! A live exercise on loopback, end to end: the QUIC server with the real engine, a red client
//! that steals a credential and disconnects a feeder, a blue client that is alerted and
//! freezes bulk commands; the scoreboard and metrics.json say so, and the journal replays to
//! the same metrics.json, byte for byte.

use std::sync::Arc;
use std::time::{Duration, Instant};

use amirange::live::{LiveEngine, Setup};
use amirange_range::client::{self, Client};
use amirange_range::exercise::Exercise;
use amirange_range::live::Live;
use amirange_range::messages::{Action, ServerMessage};
use amirange_range::server::{Server, ServerConfig};
use amirange_range::session::{Session, parse_journal, replay};
use serde_json::Value;

const RED: &str = "red-token-0123456789";
const BLUE: &str = "blue-token-0123456789";
const WHITE: &str = "white-token-0123456789";

/// The mass-disconnect exercise's scenario, shortened to two hours of the evening.
fn write_exercise(dir: &std::path::Path) -> Exercise {
    let root = env!("CARGO_MANIFEST_DIR");
    let scenario = std::fs::read_to_string(format!("{root}/scenarios/exercises/mass-disconnect.scenario.ron"))
        .expect("scenario")
        .replace("duration: \"8h\"", "duration: \"2h\"")
        .replace("2026-01-15T14:00:00", "2026-01-15T17:00:00");
    std::fs::write(dir.join("s.ron"), scenario).expect("write scenario");
    let text = format!(
        r#"Exercise(
            name: "loopback-disconnect",
            scenario: "s.ron",
            pace: 600.0,
            listen: "127.0.0.1:0",
            dashboard: "127.0.0.1:0",
            meters: 1500,
            teams: [
                (name: "red", role: Red, token: Given("{RED}")),
                (name: "blue", role: Blue, token: Given("{BLUE}")),
                (name: "white", role: White, token: Given("{WHITE}")),
            ],
            phishing: (success: 1.0),
        )"#
    );
    let path = dir.join("exercise.ron");
    std::fs::write(&path, &text).expect("write exercise");
    Exercise::load(&path, &text, |_| None).expect("a valid exercise")
}

async fn ask(client: &mut Client, action: Action) -> Value {
    match client.request(action.clone()).await.expect("an answer") {
        ServerMessage::Accepted { result, .. } => result,
        other => panic!("{} not accepted: {other:?}", action.name()),
    }
}

#[test]
fn red_steals_and_disconnects_blue_is_alerted_and_freezes_and_the_journal_replays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exercise = write_exercise(tmp.path());
    let setup = Setup::of(&exercise).expect("setup");
    let engine = LiveEngine::new(setup.clone()).expect("engine");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    let session = Session::new(Box::new(engine), &exercise.name, exercise.pace, 0.0);
    let live = Live::start(session, &out).expect("live");
    let exercise = Arc::new(exercise);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server = Server::bind(
            ServerConfig::new(exercise.listen),
            Arc::clone(&exercise),
            live.requests(),
            live.published(),
        )
        .await
        .expect("server");
        let (addr, pin) = (server.local_addr, server.fingerprint.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let mut red = client::connect(addr, &pin, RED, "test-red").await.expect("red joins");
        let mut blue = client::connect(addr, &pin, BLUE, "test-blue")
            .await
            .expect("blue joins");
        let mut white = client::connect(addr, &pin, WHITE, "test-white")
            .await
            .expect("white joins");

        // Red: steal the service account's password, then disconnect feeder 0 with it.
        let phished = ask(
            &mut red,
            Action::Phish {
                account: "cis-integration".into(),
            },
        )
        .await;
        assert_eq!(phished["phished"], Value::Bool(true), "{phished}");
        let attack = ask(
            &mut red,
            Action::Disconnect {
                account: "cis-integration".into(),
                feeders: vec![0],
            },
        )
        .await;
        assert!(attack["attack"].is_string(), "{attack}");

        // Blue watches its own view until an alert names the attack's traces.
        let started = Instant::now();
        let alert = loop {
            let snap = ask(&mut blue, Action::Snapshot {}).await;
            assert!(snap["view"].get("truth").is_none(), "blue never sees ground truth");
            if let Some(a) = snap["view"]["alerts"].as_array().and_then(|a| a.first()).cloned() {
                break a;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no alert reached blue");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(alert["detector"].is_string(), "{alert}");
        let frozen = ask(&mut blue, Action::FreezeBulk { minutes: 120 }).await;
        assert_eq!(frozen["done"], "freeze-bulk", "{frozen}");
        // Red tries again: the HES refuses the bulk request.
        ask(
            &mut red,
            Action::Disconnect {
                account: "cis-integration".into(),
                feeders: vec![0],
            },
        )
        .await;
        // White speeds the end up and waits for it.
        ask(
            &mut white,
            Action::SetPace {
                sim_seconds_per_second: 3600.0,
            },
        )
        .await;
        let started = Instant::now();
        loop {
            let snap = ask(&mut white, Action::Snapshot {}).await;
            if snap["clock"]["finished"] == Value::Bool(true) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the run did not end");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for c in [red, blue, white] {
            c.close().await;
        }
        let _ = stop.send(());
        serving.await.expect("the server stops");
    });
    drop(rt);
    let ended = live.join().expect("the exercise thread ends");
    let metrics = ended.metrics.expect("the run reached its end");
    assert_eq!(std::fs::read(out.join("metrics.json")).expect("metrics.json"), metrics);

    let m: Value = serde_json::from_slice(&metrics).expect("json");
    let red_attacks = m["exercise"]["red_attacks"].as_array().expect("red attacks");
    assert_eq!(red_attacks.len(), 2);
    let first = &m["attacks"][0];
    assert_eq!(first["succeeded"], Value::Bool(true), "{first}");
    assert!(first["detected"] == Value::Bool(true), "{first}");
    assert!(
        first["blast_radius"]["peak_customers_disconnected"]
            .as_u64()
            .expect("peak")
            > 0
    );
    let second = &m["attacks"][1];
    assert_eq!(
        second["succeeded"],
        Value::Bool(false),
        "the frozen HES refused it: {second}"
    );
    let board = &m["exercise"]["scoreboard"];
    let why: Vec<&str> = board["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["why"].as_str())
        .collect();
    assert!(why.iter().any(|w| w.contains("customer-hours")), "{board}");
    assert!(why.iter().any(|w| w.starts_with("detected ")), "{board}");
    assert!(why.iter().any(|w| w.contains("refused by the HES")), "{board}");
    assert!(
        !why.iter().any(|w| w.contains("false action")),
        "the freeze came after the attack: {board}"
    );
    for team in board["teams"].as_array().expect("teams") {
        assert!(team["points"].as_f64().expect("points") > 0.0, "{board}");
    }

    // The journal replays, without the network, to the same bytes.
    let text = std::fs::read_to_string(out.join("journal.jsonl")).expect("journal");
    let (header, entries) = parse_journal("journal.jsonl", &text).expect("a journal");
    let kinds: Vec<&str> = entries
        .iter()
        .filter_map(|l| l.request())
        .map(|e| e.action.name())
        .collect();
    assert_eq!(kinds, ["phish", "disconnect", "freeze-bulk", "disconnect", "set-pace"]);
    let again: Setup = serde_json::from_value(header.setup).expect("setup");
    assert_eq!(again, setup);
    let replayed = replay(Box::new(LiveEngine::new(again).expect("engine")), &entries).expect("replay");
    assert!(replayed == metrics, "the replay's metrics.json differs");
}

/// An exercise file beside a half-hour scenario of 300 meters, listening on `listen`.
fn write_short_exercise(dir: &std::path::Path, listen: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let scenario = std::fs::read_to_string(format!("{root}/scenarios/exercises/mass-disconnect.scenario.ron"))
        .expect("scenario")
        .replace("duration: \"8h\"", "duration: \"30min\"");
    std::fs::write(dir.join("s.ron"), scenario).expect("write scenario");
    let text = format!(
        r#"Exercise(
            name: "bind-twice",
            scenario: "s.ron",
            pace: 3600.0,
            listen: "{listen}",
            dashboard: "127.0.0.1:0",
            meters: 300,
            teams: [(name: "white", role: White, token: Given("{WHITE}"))],
        )"#
    );
    std::fs::write(dir.join("exercise.ron"), text).expect("write exercise");
}

#[test]
fn a_failed_bind_leaves_no_journal_and_a_retry_with_the_same_out_works() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("a port to take");
    let addr = taken.local_addr().expect("its address");
    write_short_exercise(tmp.path(), &addr.to_string());
    let serve = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_amirange"))
            .args(["serve", "exercise.ron", "--out", "out", "--exit-at-end"])
            .current_dir(tmp.path())
            .output()
            .expect("amirange runs")
    };
    let failed = serve();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
    let cause = std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string();
    let said = stderr.matches("(os error").count();
    assert_eq!(said, 1, "the cause is printed once ({cause}): {stderr}");
    assert!(
        !tmp.path().join("out").exists(),
        "a start that fails leaves nothing behind: {:?}",
        std::fs::read_dir(tmp.path().join("out")).map(|d| d.count())
    );
    drop(taken);
    write_short_exercise(tmp.path(), "127.0.0.1:0");
    let served = serve();
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(served.status.success(), "{stderr}");
    let journal = std::fs::read_to_string(tmp.path().join("out/journal.jsonl")).expect("the journal");
    let (header, lines) = parse_journal("journal.jsonl", &journal).expect("a journal");
    assert_eq!(header.exercise, "bind-twice");
    assert!(lines.is_empty(), "{journal}");
    assert!(tmp.path().join("out/metrics.json").is_file());
}
