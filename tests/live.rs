//! The live exercise's engine without the network: red's and blue's actions become engine
//! inputs with their preconditions, the scoreboard follows the rules, and the journal replays
//! to the same `metrics.json`, byte for byte.

use std::path::Path;

use amirange::live::{LiveEngine, Setup};
use amirange_range::exercise::Exercise;
use amirange_range::messages::{Action, Role};
use amirange_range::session::{Outcome, Session, parse_journal, replay};
use serde_json::Value;

fn exercise(file: &str) -> Exercise {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/exercises")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("exercise file");
    Exercise::load(&path, &text, |_| None).expect("a valid exercise")
}

/// The mass-disconnect exercise scaled down to 1,500 meters.
fn setup() -> Setup {
    let mut setup = Setup::of(&exercise("mass-disconnect.ron")).expect("setup");
    setup.meters = Some(1500);
    setup
}

fn session(setup: &Setup) -> Session {
    let engine = LiveEngine::new(setup.clone()).expect("engine");
    Session::new(Box::new(engine), &setup.exercise, 60.0, 0.0)
}

/// Ticks until `sim_s` (wall time is made up: one wall second per tick at pace 60).
fn tick_to(s: &mut Session, sim_s: u64) {
    while s.clock().sim_time_s < sim_s {
        let wall = (s.clock().sim_time_s / 60 + 1) as f64;
        assert!(s.tick_due(wall));
        s.tick(wall).expect("tick");
    }
}

fn act(s: &mut Session, team: &str, role: Role, action: Action) -> Outcome {
    let wall = (s.clock().sim_time_s / 60) as f64;
    s.handle(team, role, &action, wall).1
}

/// Red's disconnect of feeder 0 with the service account.
fn disconnect() -> Action {
    Action::Disconnect {
        account: "cis-integration".into(),
        feeders: vec![0],
    }
}

fn accepted(o: &Outcome) -> &Value {
    match o {
        Outcome::Accepted { result } => result,
        Outcome::Refused { reason } => panic!("refused: {reason}"),
    }
}

fn refused(o: &Outcome) -> &str {
    match o {
        Outcome::Refused { reason } => reason,
        Outcome::Accepted { result } => panic!("accepted: {result}"),
    }
}

#[test]
fn red_disconnects_blue_contains_and_the_journal_replays() {
    let setup = setup();
    let mut s = session(&setup);
    tick_to(&mut s, 3600);
    // Without the password first, nothing.
    let o = act(&mut s, "red", Role::Red, disconnect());
    assert!(refused(&o).contains("phish it first"));
    // A phish is drawn from its own stream; with odds of 0.9 a few tries are enough.
    let mut phished = false;
    for _ in 0..6 {
        let o = act(
            &mut s,
            "red",
            Role::Red,
            Action::Phish {
                account: "cis-integration".into(),
            },
        );
        if accepted(&o)["phished"] == Value::Bool(true) {
            phished = true;
            break;
        }
    }
    assert!(phished, "six phishes at 0.9 all failed");
    let o = act(&mut s, "red", Role::Red, disconnect());
    let attack = accepted(&o)["attack"].as_str().expect("attack id").to_owned();
    tick_to(&mut s, 3600 + 1800);
    let view = s.view(Role::White);
    let off: u64 = view["timeline"]["customers_off_by_attack"]
        .as_array()
        .expect("series")
        .iter()
        .map(|v| v.as_u64().expect("count"))
        .max()
        .expect("intervals");
    assert!(off > 0, "the disconnect took customers off supply");
    assert!(
        view["map"]["feeders"][0]["off"].as_u64().is_some_and(|n| n > 0),
        "white's map counts feeder 0's open relays: {}",
        view["map"]["feeders"][0]
    );
    assert!(
        s.view(Role::Blue).get("truth").is_none()
            && s.view(Role::Blue)["timeline"].get("customers_connected").is_none(),
        "blue sees telemetry, not ground truth"
    );
    // Blue answers: a freeze, a revocation of the stolen account, and one of an innocent one.
    accepted(&act(&mut s, "blue", Role::Blue, Action::FreezeBulk { minutes: 60 }));
    let o = act(
        &mut s,
        "blue",
        Role::Blue,
        Action::RevokeAccount {
            account: "cis-integration".into(),
        },
    );
    assert!(
        accepted(&o).get("false_action").is_none(),
        "blue is not told what only truth knows"
    );
    let o = act(
        &mut s,
        "blue",
        Role::Blue,
        Action::RevokeAccount {
            account: "ops-alice".into(),
        },
    );
    accepted(&o);
    let responses = s.view(Role::White)["responses"].clone();
    let falses: Vec<&Value> = responses
        .as_array()
        .expect("responses")
        .iter()
        .filter(|r| r.get("false_action").is_some())
        .collect();
    assert_eq!(falses.len(), 1, "only revoking ops-alice was false: {responses}");
    assert_eq!(falses[0]["subject"], "ops-alice");
    let blue_view = s.view(Role::Blue).to_string();
    assert!(
        !blue_view.contains("false_action") && !blue_view.contains("no attacker"),
        "{blue_view}"
    );
    // A second disconnect with the revoked account is refused by the HES: contained.
    tick_to(&mut s, 3600 + 2400);
    accepted(&act(&mut s, "red", Role::Red, disconnect()));
    let o = act(
        &mut s,
        "blue",
        Role::Blue,
        Action::SetThreshold {
            detector: "command-rate".into(),
            field: "account_meters".into(),
            value: 50.5,
        },
    );
    assert!(refused(&o).contains("whole number"));
    accepted(&act(
        &mut s,
        "blue",
        Role::Blue,
        Action::SetThreshold {
            detector: "command-rate".into(),
            field: "account_meters".into(),
            value: 50.0,
        },
    ));
    let o = act(
        &mut s,
        "red",
        Role::Red,
        Action::Jam {
            x_m: -1e6,
            y_m: -1e6,
            radius_m: 100.0,
            strength: 1.0,
            minutes: 10,
        },
    );
    assert!(refused(&o).contains("reaches nothing"));
    let o = act(
        &mut s,
        "blue",
        Role::Blue,
        Action::SetThreshold {
            detector: "command-rate".into(),
            field: "account_meters".into(),
            value: 0.0,
        },
    );
    assert!(refused(&o).contains("at least 1"), "the scenario's own checks apply");
    assert!(refused(&act(&mut s, "blue", Role::Blue, Action::FreezeBulk { minutes: 5 })).contains("frozen already"));
    // Every other action, so that the replay below covers them all.
    let bounds = s.view(Role::Red)["bounds"].clone();
    let mid = |i: usize, j: usize| (bounds[i].as_f64().expect("bound") + bounds[j].as_f64().expect("bound")) / 2.0;
    let (x_m, y_m) = (mid(0, 2), mid(1, 3));
    accepted(&act(
        &mut s,
        "red",
        Role::Red,
        Action::Jam {
            x_m,
            y_m,
            radius_m: 400.0,
            strength: 0.7,
            minutes: 30,
        },
    ));
    tick_to(&mut s, 3600 + 3000);
    assert!(
        s.view(Role::White)["map"]["jammers"]
            .as_array()
            .is_some_and(|j| j.len() == 1),
        "white sees the jammer"
    );
    accepted(&act(
        &mut s,
        "instructor",
        Role::White,
        Action::InjectOutage { feeder: 0, minutes: 20 },
    ));
    let push = |account: &str| Action::PushFirmware {
        account: account.into(),
        feeders: vec![0],
        payload: amirange_range::messages::FirmwarePayload::Brick,
    };
    assert!(refused(&act(&mut s, "red", Role::Red, push("admin-carol"))).contains("phish it first"));
    // The service account's password is a channel; whether the HES lets it update firmware,
    // and whether meters take an unsigned image, the engine decides.
    let o = act(&mut s, "red", Role::Red, push("cis-integration"));
    assert!(accepted(&o)["attack"].is_string());
    accepted(&act(
        &mut s,
        "blue",
        Role::Blue,
        Action::DispatchCrews {
            transformers: vec![0, 1],
        },
    ));
    accepted(&act(
        &mut s,
        "blue",
        Role::Blue,
        Action::DispatchCrews { transformers: vec![] },
    ));
    accepted(&act(&mut s, "blue", Role::Blue, Action::RollbackFirmware {}));
    accepted(&act(&mut s, "blue", Role::Blue, Action::IsolateHes {}));
    assert!(refused(&act(&mut s, "blue", Role::Blue, Action::IsolateHes {})).contains("once already"));
    let o = act(
        &mut s,
        "blue",
        Role::Blue,
        Action::DispatchCrews {
            transformers: vec![1_000_000],
        },
    );
    assert!(refused(&o).contains("no transformer"));
    let metrics = s.run_out().expect("run to the end");
    let m: Value = serde_json::from_slice(&metrics).expect("metrics.json");
    let attacks = m["attacks"].as_array().expect("attacks");
    let first = attacks
        .iter()
        .find(|a| a["id"] == attack.as_str())
        .expect("red's attack measured");
    assert_eq!(first["succeeded"], Value::Bool(true));
    assert!(
        first["blast_radius"]["peak_customers_disconnected"]
            .as_u64()
            .expect("peak")
            > 0
    );
    assert!(m["control_plane"].is_object());
    let board = &m["exercise"]["scoreboard"];
    let points = |team: &str| {
        board["teams"]
            .as_array()
            .expect("teams")
            .iter()
            .find(|t| t["team"] == team)
            .and_then(|t| t["points"].as_f64())
            .expect("points")
    };
    assert!(points("red") > 0.0, "{board}");
    let lines = board["lines"].as_array().expect("lines");
    assert!(
        lines.iter().any(|l| l["why"]
            .as_str()
            .is_some_and(|w| w.contains("false action: revoke-account"))),
        "{board}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["why"].as_str().is_some_and(|w| w.contains("refused by the HES"))),
        "the second disconnect, refused, counts for blue: {board}"
    );

    // The journal replays to the same bytes.
    s.summarise_refusals();
    let text = s.journal_unwritten().to_owned();
    let (header, entries) = parse_journal("journal.jsonl", &text).expect("journal");
    let again: Setup = serde_json::from_value(header.setup).expect("setup");
    assert_eq!(again, setup);
    let replayed = replay(Box::new(LiveEngine::new(again).expect("engine")), &entries).expect("replay");
    assert!(replayed == metrics, "the replay's metrics.json differs");
}

#[test]
fn every_exercise_file_loads_and_builds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/exercises");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/exercises") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !name.ends_with(".ron") || name.ends_with(".scenario.ron") {
            continue;
        }
        let mut setup = Setup::of(&exercise(&name)).expect("setup");
        setup.meters = Some(300);
        let mut s = session(&setup);
        tick_to(&mut s, 600);
        for role in [Role::Red, Role::Blue, Role::White] {
            assert!(s.view(role)["time"].is_string(), "{name}: {role:?}'s view");
        }
        n += 1;
    }
    assert!(n >= 3, "one exercise per headline attack at least, found {n}");
}
