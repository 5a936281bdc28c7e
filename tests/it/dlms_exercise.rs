//! The meter-cloning exercise (scenarios/exercises/meter-cloning.ron) over real sockets: red
//! opens a meter through the range and reads its group key, a DLMS client that is not ours
//! (the Gurux library for Python, tests/gurux/red_disconnect.py) disconnects the group's
//! meters through red's DLMS port, blue's inventory-drift detector sees relays move that the
//! HES never commanded, and the journal replays the DLMS sessions to the same `metrics.json`,
//! byte for byte. Without the network: a meter outside the held group refuses the key, and
//! DLMS bytes reach nothing in an exercise without a DLMS face.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use amirange::live::{LiveEngine, Setup};
use amirange_range::dlms_port::{self, Shared};
use amirange_range::exercise::Exercise;
use amirange_range::live::{Channels, Published, Request};
use amirange_range::messages::{Action, Role};
use amirange_range::session::{Outcome, Session, parse_journal, replay};
use serde_json::Value;

use crate::gurux::{gurux_or_skip, gurux_script};

fn exercise(file: &str) -> Exercise {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/exercises")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("exercise file");
    Exercise::load(&path, &text, |_| None).expect("a valid exercise")
}

/// The exercise scaled down to 1,000 meters (four key groups of 250).
fn setup(file: &str) -> Setup {
    let mut setup = Setup::of(&exercise(file)).expect("setup");
    setup.meters = Some(1000);
    setup
}

/// Sends `action` as `team`'s and waits for the outcome.
fn ask(requests: &std::sync::mpsc::Sender<Request>, team: &str, role: Role, action: Action) -> Outcome {
    let (reply, answer) = tokio::sync::oneshot::channel();
    requests
        .send(Request {
            team: team.to_owned(),
            role,
            action,
            reply,
        })
        .expect("the exercise runs");
    answer.blocking_recv().expect("an answer").1
}

/// Polls `role`'s published view until `until` gives something (every 50 ms, for `secs` at
/// most).
fn wait_for<T>(
    published: &std::sync::RwLock<Published>,
    role: Role,
    secs: u64,
    until: impl Fn(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let view = published.read().expect("views").view(role);
        if let Some(found) = until(&view) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "never saw it in {}'s view: {view}",
            role.name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn red_clones_a_meter_and_disconnects_its_group_over_dlms_and_blue_sees_it() {
    if !gurux_or_skip() {
        return;
    }
    let mut ex = exercise("meter-cloning.ron");
    let dlms = ex.dlms.as_mut().expect("the exercise has a DLMS face");
    dlms.ports[0].listen = "127.0.0.1:0".parse().expect("an address");
    let setup = setup("meter-cloning.ron");
    let engine = LiveEngine::new(setup.clone()).expect("engine");
    let session = Session::new(Box::new(engine), &setup.exercise, 60.0, 0.0);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let channels = Channels::new();
    let requests = channels.requests();
    let published = channels.published();
    let live = channels.start(session, dir.path()).expect("the exercise starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let dlms = ex.dlms.clone().expect("a DLMS face");
    let port = rt
        .block_on(dlms_port::bind(&dlms))
        .expect("the DLMS port listens")
        .pop()
        .expect("one port");
    let addr = port.local_addr;
    let task = rt.spawn(port.serve(Shared {
        requests: requests.clone(),
        published: Arc::clone(&published),
        next_connection: Arc::new(AtomicU64::new(1)),
        frames_per_s: dlms.frames_per_s,
        max_connections: dlms.max_connections,
    }));

    // Red opens meter 500: the key is read at the next tick, and opens meters 500 to 749.
    let cloned = ask(&requests, "red", Role::Red, Action::Clone { meter: 500 });
    assert!(matches!(cloned, Outcome::Accepted { .. }), "{cloned:?}");
    let again = ask(&requests, "red", Role::Red, Action::Clone { meter: 500 });
    assert!(
        matches!(&again, Outcome::Refused { reason } if reason.contains("already opened meter 500")),
        "{again:?}"
    );
    let key = wait_for(&published, Role::Red, 10, |v| {
        let k = &v["view"]["keys"][0];
        (k["state"] == "held").then(|| k.clone())
    });
    assert_eq!(
        (key["opens_meters"].as_u64(), key["wport"].as_u64()),
        (Some(250), Some(501)),
        "{key}"
    );
    let hex_of = |field: &str| key[field].as_str().expect("a key").to_owned();

    // Meters 500 to 505 with the held key, and meter 100 of another group.
    let output = gurux_script("red_disconnect.py")
        .args([
            addr.ip().to_string(),
            addr.port().to_string(),
            hex_of("encryption_key"),
            hex_of("authentication_key"),
        ])
        .args(["501", "502", "503", "504", "505", "506", "101"])
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "red_disconnect.py failed:\n{text}");
    let disconnected = (501..=506)
        .filter(|w| text.contains(&format!("wport {w}: disconnected (error 0)")))
        .count();
    assert!(disconnected >= 5, "the held key opens its group:\n{text}");
    assert!(
        text.contains("wport 101: refused"),
        "another group's meter refuses it:\n{text}"
    );

    // Blue: relays moved that the HES never commanded.
    let faster = ask(
        &requests,
        "instructor",
        Role::White,
        Action::SetPace {
            sim_seconds_per_second: 1200.0,
        },
    );
    assert!(matches!(faster, Outcome::Accepted { .. }), "{faster:?}");
    let alert = wait_for(&published, Role::Blue, 30, |v| {
        v["view"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["detector"] == "inventory-drift")
            .cloned()
    });
    assert!(
        alert["message"]
            .as_str()
            .is_some_and(|m| m.contains("without a command from the HES")),
        "{alert}"
    );

    // To the end at full pace; then the journal replays to the same metrics.json.
    let fastest = ask(
        &requests,
        "instructor",
        Role::White,
        Action::SetPace {
            sim_seconds_per_second: 3600.0,
        },
    );
    assert!(matches!(fastest, Outcome::Accepted { .. }), "{fastest:?}");
    wait_for(&published, Role::White, 120, |v| {
        (v["clock"]["finished"] == true).then_some(())
    });
    task.abort();
    drop(rt);
    drop(requests);
    let ended = live.join().expect("the exercise ends");
    let metrics = ended.metrics.expect("the run reached its end");
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).expect("the journal");
    let dlms_lines = journal.lines().filter(|l| l.contains("\"dlms\"")).count();
    assert!(
        dlms_lines >= 6 * 3,
        "every chunk of bytes is journalled: {dlms_lines} lines"
    );
    let (header, lines) = parse_journal("journal.jsonl", &journal).expect("a journal");
    let replay_setup: Setup = serde_json::from_value(header.setup).expect("the setup");
    let engine = LiveEngine::new(replay_setup).expect("engine");
    let replayed = replay(Box::new(engine), &lines).expect("the journal replays");
    assert!(
        replayed == metrics,
        "the replay's metrics.json differs from the exercise's"
    );

    let m: Value = serde_json::from_slice(&metrics).expect("JSON");
    let attack = m["attacks"]
        .as_array()
        .expect("attacks")
        .iter()
        .find(|a| a["id"] == "red-clone-0")
        .expect("red's cloning is an attack of the run");
    assert_eq!(attack["detected"], true, "{attack}");
    let board = &m["exercise"]["scoreboard"];
    let points = |role: &str| {
        board["teams"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["role"] == role))
            .and_then(|t| t["points"].as_f64())
            .unwrap_or(0.0)
    };
    assert!(points("red") > 0.0 && points("blue") > 0.0, "{board}");
    assert_eq!(
        m["exercise"]["dlms_relay_operations"].as_u64(),
        Some(disconnected as u64)
    );
}

#[test]
fn dlms_bytes_reach_nothing_without_a_face_and_a_key_read_fails_with_the_odds() {
    // The mass-disconnect exercise exposes no DLMS face.
    let engine = LiveEngine::new(setup("mass-disconnect.ron")).expect("engine");
    let mut session = Session::new(Box::new(engine), "t", 60.0, 0.0);
    let bytes = Action::Dlms {
        connection: 1,
        bytes: "0001001000010000".into(),
    };
    let (_, refused) = session.handle("red", Role::Red, &bytes, 0.0);
    assert!(
        matches!(&refused, Outcome::Refused { reason } if reason.contains("no DLMS face")),
        "{refused:?}"
    );
    // Odds of 0: the key read fails at the next tick, and red's view says why.
    let mut failing = setup("meter-cloning.ron");
    failing.cloning.extraction = 0.0;
    let engine = LiveEngine::new(failing).expect("engine");
    let mut session = Session::new(Box::new(engine), "t", 60.0, 0.0);
    let (_, cloned) = session.handle("red", Role::Red, &Action::Clone { meter: 7 }, 0.0);
    assert!(matches!(cloned, Outcome::Accepted { .. }), "{cloned:?}");
    assert!(session.tick_due(1.0));
    session.tick(1.0).expect("tick");
    let view = session.view(Role::Red);
    let key = &view["keys"][0];
    assert_eq!(key["state"], "failed", "{view}");
    assert!(key.get("encryption_key").is_none(), "{view}");
    // A meter that does not exist cannot be opened; bad hexadecimal is refused before the engine.
    let (_, none) = session.handle("red", Role::Red, &Action::Clone { meter: 5000 }, 1.0);
    assert!(
        matches!(&none, Outcome::Refused { reason } if reason.contains("no meter 5000")),
        "{none:?}"
    );
    let odd = Action::Dlms {
        connection: 1,
        bytes: "0G".into(),
    };
    let (_, bad) = session.handle("red", Role::Red, &odd, 1.0);
    assert!(
        matches!(&bad, Outcome::Refused { reason } if reason.contains("hexadecimal")),
        "{bad:?}"
    );
}
