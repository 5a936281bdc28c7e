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

/// Red phishes the service account until it holds its password (odds of 0.9 a try).
fn phish_the_service_account(s: &mut Session) {
    let phish = || Action::Phish {
        account: "cis-integration".into(),
    };
    let phished = (0..6).any(|_| accepted(&act(s, "red", Role::Red, phish()))["phished"] == Value::Bool(true));
    assert!(phished, "six phishes at 0.9 all failed");
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

/// Blue's dispatch of crews to `n` transformers from `first` on (wrapping at `of`).
fn crews(first: u32, n: u32, of: u32) -> Action {
    Action::DispatchCrews {
        transformers: (0..n).map(|i| (first + i) % of).collect(),
    }
}

/// The fleet's transformers, as blue's refusal of one past the end says.
fn transformers_of(s: &mut Session) -> u32 {
    let o = act(
        s,
        "blue",
        Role::Blue,
        Action::DispatchCrews {
            transformers: vec![u32::MAX],
        },
    );
    let reason = refused(&o);
    reason
        .rsplit("there are ")
        .next()
        .and_then(|n| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{reason}"))
}

#[test]
fn a_journal_with_queued_crews_and_refusal_summaries_replays_byte_for_byte() {
    let setup = setup();
    let mut s = session(&setup);
    let n = transformers_of(&mut s);
    assert!(n > 10, "the fleet has {n} transformers");
    tick_to(&mut s, 3600);
    let o = act(&mut s, "blue", Role::Blue, crews(0, 250, n));
    let first = accepted(&o).clone();
    assert_eq!(first["queued"], u64::from(n.min(250)), "{first}");
    assert!(refused(&act(&mut s, "blue", Role::Blue, crews(0, 250, n))).contains("on their way"));
    // Red floods with what it may not do; the refusals are counted, not replayed.
    for i in 0..500 {
        act(&mut s, "red", Role::Red, crews(i, 3, n));
        act(
            &mut s,
            "red",
            Role::Red,
            Action::Phish {
                account: format!("nobody-{i}"),
            },
        );
    }
    tick_to(&mut s, 3600 + 600);
    let waiting = s.view(Role::Blue)["crews_waiting"].as_u64().expect("crews waiting");
    assert_eq!(
        waiting,
        u64::from(n.min(250)).saturating_sub(10 * 10),
        "ten transformers a tick"
    );
    // A dispatch that overlaps the queue adds only what is new.
    let o = act(&mut s, "blue", Role::Blue, crews(n - 5, 10, n));
    assert!(accepted(&o)["queued"].as_u64().is_some_and(|q| q >= 5), "{o:?}");
    accepted(&act(&mut s, "blue", Role::Blue, Action::RollbackFirmware {}));
    assert!(refused(&act(&mut s, "blue", Role::Blue, Action::RollbackFirmware {})).contains("under way"));
    tick_to(&mut s, 3600 + 3600);
    s.summarise_refusals();
    let metrics = s.run_out().expect("run to the end");
    let text = s.journal_unwritten().to_owned();
    let (header, lines) = parse_journal("journal.jsonl", &text).expect("journal");
    let summaries: u64 = lines
        .iter()
        .filter_map(|l| match l {
            amirange_range::session::Line::Refusals(r) => Some(r.count),
            amirange_range::session::Line::Request(_) => None,
        })
        .sum();
    assert!(summaries >= 1000, "the red flood is counted: {summaries}");
    assert!(lines.len() < 60, "{} lines for about 1,000 refusals", lines.len());
    let again: Setup = serde_json::from_value(header.setup).expect("setup");
    let replayed = replay(Box::new(LiveEngine::new(again).expect("engine")), &lines).expect("replay");
    assert!(replayed == metrics, "the replay's metrics.json differs");
    let m: Value = serde_json::from_slice(&metrics).expect("metrics.json");
    assert!(
        m["exercise"]["blue_actions"].as_array().is_some_and(|a| a.len() == 3),
        "{}",
        m["exercise"]
    );
}

/// A view as a `snapshot` answers it (the clock and the view), in bytes.
fn snapshot_bytes(s: &Session, role: Role) -> usize {
    serde_json::json!({ "clock": s.clock(), "view": s.view(role) })
        .to_string()
        .len()
}

#[test]
fn views_stay_bounded_after_thousands_of_responses() {
    let setup = setup();
    let mut s = session(&setup);
    let n = transformers_of(&mut s);
    tick_to(&mut s, 3600);
    accepted(&act(&mut s, "blue", Role::Blue, crews(0, 10, n)));
    let (blue_before, white_before) = (snapshot_bytes(&s, Role::Blue), snapshot_bytes(&s, Role::White));
    let mut accepted_n = 0;
    for i in 0..4000u32 {
        // Thresholds blue may change as often as it likes, and dispatches of long lists.
        let action = if i % 2 == 0 {
            Action::SetThreshold {
                detector: "command-rate".into(),
                field: "account_meters".into(),
                value: f64::from(20 + i),
            }
        } else {
            crews(i, 250, n)
        };
        if matches!(act(&mut s, "blue", Role::Blue, action), Outcome::Accepted { .. }) {
            accepted_n += 1;
        }
        if i % 400 == 0 {
            let next = s.clock().sim_time_s + 60;
            tick_to(&mut s, next);
        }
    }
    assert!(accepted_n >= 2000, "{accepted_n} responses");
    let (blue, white) = (snapshot_bytes(&s, Role::Blue), snapshot_bytes(&s, Role::White));
    eprintln!(
        "view after 4,000 requests ({accepted_n} responses): blue {blue} bytes (was {blue_before}), white {white} bytes (was {white_before})"
    );
    let view = s.view(Role::White);
    assert_eq!(view["responses"].as_array().map(Vec::len), Some(50), "the newest 50");
    assert_eq!(view["responses_total"], accepted_n + 1);
    // The responses add at most 50 of about 300 bytes; the rest does not grow with requests.
    assert!(
        blue <= blue_before + 50 * 300,
        "blue's view grew from {blue_before} to {blue}"
    );
    assert!(
        white <= white_before + 50 * 400,
        "white's view grew from {white_before} to {white}"
    );
    assert!(white < 256 * 1024, "white's view is {white} bytes");
}

#[test]
fn a_blue_flood_of_dispatch_crews_keeps_the_engine_within_a_tick_of_its_pace() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use amirange_range::live::{Live, Request};
    use amirange_range::session::TICK_S;

    // A fleet with at least 250 transformers, so that each dispatch names 250 different ones.
    let mut setup = setup();
    setup.meters = Some(20_000);
    let mut s = session(&setup);
    let n = transformers_of(&mut s);
    assert!(n >= 250, "{n} transformers");
    let tmp = tempfile::tempdir().expect("tempdir");
    let live = Live::start(s, tmp.path()).expect("the exercise starts");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let asked = std::sync::Arc::new(AtomicU64::new(0));
    // Fifty blue connections, each sending dispatch-crews with 250 transformers as fast as the
    // answers come.
    let flood: Vec<_> = (0..50u32)
        .map(|k| {
            let (requests, stop, asked) = (live.requests(), stop.clone(), asked.clone());
            std::thread::spawn(move || {
                let mut i = k;
                while !stop.load(Ordering::Relaxed) {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    let request = Request {
                        team: "blue".into(),
                        role: Role::Blue,
                        action: crews(i * 37, 250, n),
                        reply,
                    };
                    if requests.send(request).is_err() || answer.blocking_recv().is_err() {
                        return;
                    }
                    asked.fetch_add(1, Ordering::Relaxed);
                    i += 50;
                }
            })
        })
        .collect();
    // Benchmark-style: a few seconds of wall time at pace 60 (a tick a second).
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.join().expect("a flooding thread");
    }
    let wall = started.elapsed().as_secs_f64();
    let clock = live.published().read().expect("views").clock.expect("a clock");
    let ended = live.join().expect("the exercise ends");
    let requests = asked.load(Ordering::Relaxed);
    eprintln!(
        "blue flood: {requests} dispatch-crews in {wall:.1} s ({:.0} a second) at 20,000 meters ({n} transformers), pace 60: \
         the engine reached {} s, at most {:.1} simulated seconds behind",
        requests as f64 / wall,
        ended.clock.sim_time_s,
        clock.max_lag_s.max(ended.clock.max_lag_s)
    );
    assert!(requests > 100, "the flood ran: {requests} requests");
    assert!(
        ended.clock.sim_time_s >= 2 * TICK_S,
        "the engine moved: {:?}",
        ended.clock
    );
    assert!(
        ended.clock.max_lag_s < TICK_S as f64,
        "the engine fell {} simulated seconds behind",
        ended.clock.max_lag_s
    );
}

/// Every role's snapshot of a running exercise, after red's disconnect and blue's freeze, reads
/// as tables: the clock first, the sections of the role, red's attack and blue's response
/// listed, and no raw float anywhere.
#[test]
fn snapshots_print_as_tables_for_every_role() {
    let setup = setup();
    let mut s = session(&setup);
    tick_to(&mut s, 3600);
    phish_the_service_account(&mut s);
    let attack = accepted(&act(&mut s, "red", Role::Red, disconnect()))["attack"]
        .as_str()
        .expect("attack id")
        .to_owned();
    accepted(&act(&mut s, "blue", Role::Blue, Action::FreezeBulk { minutes: 60 }));
    tick_to(&mut s, 7200);
    for (role, sections) in [
        (
            Role::Red,
            vec![
                "credentials held:",
                "keys from opened meters:",
                "attacks (",
                attack.as_str(),
            ],
        ),
        (Role::Blue, vec!["alerts:", "responses (1 newest of 1):"]),
        (
            Role::White,
            vec![
                "scoreboard:",
                "alerts:",
                "responses (1 newest of 1):",
                attack.as_str(),
                "ground truth (newest):",
            ],
        ),
    ] {
        let snapshot = serde_json::json!({ "clock": s.clock(), "view": s.view(role) });
        let text = amirange::live_text::view_text(role, &snapshot);
        assert!(text.lines().next().is_some_and(|l| l.contains(" · pace ")), "{text}");
        for section in sections {
            assert!(text.contains(section), "{role:?} lacks {section}: {text}");
        }
        assert!(
            !text
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .any(|w| w.split('.').nth(1).is_some_and(|d| d.len() > 2)),
            "a number with more than two decimals: {text}"
        );
    }
}

/// Blue investigates as a SOC would: the audit log names the phished account's disconnect, the
/// meters' events show relays opening, the census counts every meter once, a meter shows its
/// last reads, the sensor's flows page newest first; nothing of it is journalled or changes the
/// run; a meter or host that does not exist is refused; the answers print as tables.
#[test]
fn blue_queries_the_audit_log_events_census_meters_and_flows() {
    use amirange_range::messages::Query;
    let setup = setup();
    let mut s = session(&setup);
    tick_to(&mut s, 3600);
    phish_the_service_account(&mut s);
    accepted(&act(&mut s, "red", Role::Red, disconnect()));
    tick_to(&mut s, 3600 + 1800);
    let journal_before = s.journal_unwritten().to_owned();
    let ask = |s: &mut Session, query: Query| accepted(&act(s, "blue", Role::Blue, Action::Query { query })).clone();

    let audit = ask(
        &mut s,
        Query::Audit {
            account: Some("cis-integration".into()),
            page: 0,
        },
    );
    let rows = audit["result"]["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["kind"] == "disconnect" && r["targets"] == 1500),
        "{audit}"
    );
    assert!(rows.iter().all(|r| r["account"] == "cis-integration"));
    assert!(audit.to_string().find("cause").is_none(), "no ground truth: {audit}");
    let events = ask(&mut s, Query::Events { meter: None, page: 0 });
    assert_eq!(
        events["result"]["rows"].as_array().map(Vec::len),
        Some(20),
        "a full page"
    );
    assert!(events["result"]["total"].as_u64().is_some_and(|n| n > 20));
    let older = ask(&mut s, Query::Events { meter: None, page: 1 });
    assert!(
        older["result"]["rows"][0]["time"].as_str() <= events["result"]["rows"][19]["time"].as_str(),
        "newest first"
    );
    let census = ask(&mut s, Query::Census {});
    let counted: u64 = census["result"]["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["meters"].as_u64().unwrap_or(0))
        .sum::<u64>()
        + census["result"]["not_answering"].as_u64().unwrap_or(0);
    assert_eq!(counted, 1500, "{census}");
    let meter = ask(&mut s, Query::Meter { meter: 7 });
    // The intervals recorded so far, at most the 16 a meter keeps; the relay opened in the last.
    let reads = meter["result"]["reads"].as_array().expect("reads");
    assert!((6..=16).contains(&reads.len()), "{meter}");
    assert_eq!(reads.last().map(|r| &r["wh"]), Some(&Value::from(0)), "{meter}");
    assert_eq!(meter["result"]["relay"], "open", "the disconnect opened it: {meter}");
    let flows = ask(
        &mut s,
        Query::Flows {
            host: Some("10.10.0.10".into()),
            page: 0,
        },
    );
    assert!(flows["result"]["total"].as_u64().is_some_and(|n| n > 0), "{flows}");
    assert!(
        flows["result"]["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|f| f["src"] == "10.10.0.10" || f["dst"] == "10.10.0.10")
    );
    assert_eq!(s.journal_unwritten(), journal_before, "queries are not journalled");

    assert!(
        refused(&act(
            &mut s,
            "blue",
            Role::Blue,
            Action::Query {
                query: Query::Meter { meter: 99_999 }
            }
        ))
        .contains("no meter 99999")
    );
    assert!(
        refused(&act(
            &mut s,
            "blue",
            Role::Blue,
            Action::Query {
                query: Query::Flows {
                    host: Some("hes".into()),
                    page: 0
                }
            }
        ))
        .contains("IPv4")
    );
    assert!(
        refused(&act(
            &mut s,
            "red",
            Role::Red,
            Action::Query {
                query: Query::Census {}
            }
        ))
        .contains("blue action")
    );

    for answer in [&audit, &events, &census, &meter, &flows] {
        let text = amirange::live_text::query_text(answer);
        assert!(!text.contains("{\""), "a table, not JSON: {text}");
    }
    let text = amirange::live_text::query_text(&events);
    assert!(text.contains("relay events: 1 to 20 of "), "{text}");
    let text = amirange::live_text::query_text(&meter);
    assert!(text.starts_with("meter 7: ") && text.contains("relay open"), "{text}");
}
