//! The capture (`traffic.pcapng`) against real tools: Suricata 7 run on it with the scenario's
//! rules raises exactly the built-in IDS's alerts, and tshark reads it without a malformed
//! packet. Both are external programs; CI installs them (Debian's suricata from
//! bookworm-backports, tshark) and sets `AMIRANGE_REQUIRE_SURICATA=1`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use amirange::scenario::{Overrides, Scenario};
use amirange_defenses::addresses::{ADDRESS_VARS, PORT_VARS};
use amirange_defenses::ids::{Ids, IdsAlert, RuleSet, Vars};
use amirange_defenses::presets::{DNP3_FROM_HES_RULE, MDM_OUTBOUND_RULE, MQTT_FLOOD_RULE};
use amirange_defenses::wire::Tap;
use amirange_sim::time::{CivilDateTime, SimTime};

/// Rules over every `type` and `track` the subset has, `detection_filter` both ways, rules
/// without `flow` (first packet of each direction only), `to_client`, `<>`, port ranges,
/// `seconds 0` and `count 0`, beside the presets' three.
const RULES: [&str; 14] = [
    r#"alert tcp any any -> $HES_NET 1883 (msg:"MQTT flood"; flow:to_server; threshold:type threshold, track by_src, count 10, seconds 60; sid:1;)"#,
    r#"alert tcp any any -> $HES_NET any (msg:"limit by_dst"; flow:to_server; threshold:type limit, track by_dst, count 3, seconds 30; sid:2;)"#,
    r#"alert tcp any any -> any any (msg:"both by_rule, no flow"; threshold:type both, track by_rule, count 5, seconds 10; sid:3;)"#,
    r#"alert tcp any any -> any any (msg:"df established"; flow:established,to_server; detection_filter:track by_src, count 2, seconds 5; sid:4;)"#,
    r#"alert tcp any any -> any any (msg:"by_both stateless"; flow:stateless; threshold:type threshold, track by_both, count 7, seconds 1; sid:5;)"#,
    r#"alert tcp any any -> any any (msg:"to_client limit by_rule"; flow:to_client; threshold:type limit, track by_rule, count 2, seconds 60; sid:6;)"#,
    r#"alert tcp $HES_NET any <> $SCADA_NET 20000 (msg:"bidirectional DNP3"; flow:established; threshold:type limit, track by_rule, count 1, seconds 600; sid:7;)"#,
    r#"alert tcp $MDM_NET any -> $EXTERNAL_NET 443 (msg:"MDM out"; flow:to_server; sid:8;)"#,
    r#"alert tcp $CORP_NET any -> $HES_NET 443 (msg:"corporate IT to the HES, no flow"; sid:9;)"#,
    r#"alert tcp any any -> any any (msg:"not established by_dst"; flow:not_established; threshold:type threshold, track by_dst, count 100, seconds 3; sid:10;)"#,
    r#"alert tcp any any -> any any (msg:"df by_dst"; flow:to_server; detection_filter:track by_dst, count 50, seconds 2; sid:11;)"#,
    r#"alert tcp any any -> any any (msg:"both count 1 seconds 0"; threshold:type both, track by_src, count 1, seconds 0; sid:12;)"#,
    r#"alert tcp any [49152:50000] -> any any (msg:"low ephemeral ports"; flow:to_server,not_established; threshold:type limit, track by_src, count 2, seconds 30; sid:13;)"#,
    r#"alert tcp any any <> $HES_NET 1883 (msg:"threshold count 0"; flow:to_server; threshold:type threshold, track by_both, count 0, seconds 5; sid:14;)"#,
];

/// Four hours of a 2,000-meter town with uploads every 15 minutes, a five-minute connection
/// flood from four hosts, a phished operator's session, a pivot into SCADA (DNP3), an
/// exfiltration to the internet, and on collector 0's field network a replay of the phished
/// disconnects and a rogue concentrator (meters there check neither the network nor frame
/// counters).
fn scenario() -> Scenario {
    let rules: Vec<String> = rules().iter().map(|r| format!("{r:?}")).collect();
    let text = format!(
        r#"Scenario(
    name: "traffic",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "4h",
    topology: Preset("town-10k"),
    operations: Typical,
    security: (segmentation: false, mutual_auth: false, frame_counters: false),
    defenses: (ids_rules: [{}]),
    attacks: [
        ConnectionFlood(id: "flood", at: "0d 01:00", until: "0d 01:05", target: HesFrontEnd, connections_per_s: 40, sources: 4),
        MassDisconnect(id: "disc", at: "0d 01:30", access: Phishing(account: "cis-integration", success: 1.0, at: "0d 00:30"), targets: Feeders([0])),
        LateralMovement(id: "pivot", at: "0d 02:00", access: HesExploit(success: 1.0, at: "0d 00:40"), feeders: [0], outage: "30m"),
        DataExfiltration(id: "exfil", at: "0d 03:00", access: Phishing(account: "sup-bob", success: 1.0, mfa_bypass: 1.0, at: "0d 00:20"), targets: Class(Residential), window: "2h"),
        Replay(id: "replay", at: "0d 01:20", capture_until: "0d 02:00", replay_at: "0d 03:30", center: Collector(0), radius_m: 3000),
        RogueConcentrator(id: "rogue", at: "0d 02:30", until: "0d 03:30", center: Collector(0), radius_m: 500, action: Drop),
    ],
)"#,
        rules.join(", ")
    );
    let overrides = Overrides {
        meters: Some(2_000),
        ..Overrides::default()
    };
    amirange::scenario::load("traffic.ron", &text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

/// The test's rules and the presets' three.
fn rules() -> Vec<&'static str> {
    RULES
        .iter()
        .copied()
        .chain([MQTT_FLOOD_RULE, DNP3_FROM_HES_RULE, MDM_OUTBOUND_RULE])
        .collect()
}

/// Alerts keyed by (sid, second since the start, source, destination): how many.
type Alerts = BTreeMap<(u32, u64, Ipv4Addr, Ipv4Addr), u64>;

/// The Community IDs of Suricata's alerts, each with its source and destination.
type CommunityIds = Vec<(String, Ipv4Addr, u16, Ipv4Addr, u16)>;

/// Whether `program` runs; `false` (the test is skipped, and says so) when it does not, unless
/// `AMIRANGE_REQUIRE_SURICATA=1` (as in CI): then a panic.
pub(crate) fn tool_or_skip(program: &str, version_flag: &str) -> bool {
    let has = Command::new(program)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert_ne!(
            std::env::var("AMIRANGE_REQUIRE_SURICATA").as_deref(),
            Ok("1"),
            "AMIRANGE_REQUIRE_SURICATA=1 but `{program} {version_flag}` fails: install Debian's suricata (bookworm-backports) and tshark"
        );
        eprintln!("skipped: {program} is not installed");
    }
    has
}

/// Runs Suricata on `pcap` with `rules` and the range's address plan; its alerts.
fn suricata(pcap: &Path, rules: &str, dir: &Path, start: CivilDateTime) -> (Alerts, CommunityIds) {
    let rules_file = dir.join("range.rules");
    std::fs::write(&rules_file, rules).expect("rules written");
    let log = dir.join("suricata");
    std::fs::create_dir_all(&log).expect("log folder");
    let mut command = Command::new("suricata");
    command
        .arg("-r")
        .arg(pcap)
        .arg("-S")
        .arg(&rules_file)
        .arg("-l")
        .arg(&log)
        .args(["-k", "none", "--runmode", "single"])
        // The default suricata.yaml's second output is eve-log.
        .args(["--set", "outputs.1.eve-log.community-id=true"]);
    for (name, value) in ADDRESS_VARS {
        command.args(["--set", &format!("vars.address-groups.{name}={value}")]);
    }
    for (name, value) in PORT_VARS {
        command.args(["--set", &format!("vars.port-groups.{name}={value}")]);
    }
    let out = command.output().expect("suricata runs");
    assert!(
        out.status.success(),
        "suricata failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let eve = std::fs::read_to_string(log.join("eve.json")).expect("eve.json");
    let mut alerts = Alerts::new();
    let mut ids = CommunityIds::new();
    for line in eve.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("an EVE record");
        if event["event_type"] != "alert" {
            continue;
        }
        let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
        let timestamp = text("timestamp");
        let at = CivilDateTime::parse(timestamp.get(..19).expect("an EVE timestamp")).expect("a date and time");
        let second = at.unix_seconds() - start.unix_seconds();
        let sid = event["alert"]["signature_id"].as_u64().expect("a sid") as u32;
        let src: Ipv4Addr = text("src_ip").parse().expect("src_ip");
        let dst: Ipv4Addr = text("dest_ip").parse().expect("dest_ip");
        *alerts.entry((sid, second as u64, src, dst)).or_default() += 1;
        let port = |key: &str| event[key].as_u64().expect("a port") as u16;
        ids.push((text("community_id"), src, port("src_port"), dst, port("dest_port")));
    }
    (alerts, ids)
}

/// One row of `flows.csv`, the columns the tests read.
#[derive(Debug, serde::Deserialize)]
struct FlowRow {
    community_id: String,
    first_seen: String,
    src_ip: Ipv4Addr,
    src_port: u16,
    dst_ip: Ipv4Addr,
    dst_port: u16,
    fwd_packets: u64,
    bwd_packets: u64,
    label: String,
    category: String,
    specific_class: String,
    attack_id: String,
    technique: String,
    stride: String,
    kill_chain: String,
}

#[test]
fn suricata_raises_exactly_the_built_in_alerts_on_the_capture() {
    if !tool_or_skip("suricata", "-V") || !tool_or_skip("tshark", "-v") {
        return;
    }
    let scenario = scenario();
    let dir = tempfile::tempdir().expect("temporary folder");
    // Collector 0's field network, where the replay and the rogue act.
    let field = amirange::field::FieldCapture::create(dir.path(), &scenario, &[0]).expect("field capture");
    let network = amirange::run::generate(&scenario).expect("network");
    let finished = amirange::run::execute_observed(
        &scenario,
        network,
        std::time::Instant::now(),
        true,
        vec![Box::new(field)],
        |_, _| {},
    )
    .expect("runs");
    let capture = finished
        .sim
        .interval_observer::<amirange::field::FieldCapture>()
        .expect("observer");
    capture.finish().expect("field capture written");
    let field = crate::field::packets(&dir.path().join(amirange::field::FILE));
    for label in ["attack replay replay", "attack rogue rogue-concentrator"] {
        let n = field.iter().filter(|p| p.comment.as_deref() == Some(label)).count();
        assert!(n > 0, "no packet labelled {label:?} on collector 0's field network");
    }
    let pcap = dir.path().join(amirange::capture::FILE);
    let wanted = amirange::capture::Wanted {
        capture: true,
        flows: true,
        field: false,
    };
    let stats = amirange::capture::export(dir.path(), &scenario, &finished.sim, finished.sensor_horizon, wanted)
        .expect("capture written");
    assert!(stats.packets > 10_000, "{stats:?}");

    // The built-in IDS over the same packets, alert by alert.
    let text = rules().join("\n");
    let rules = RuleSet::parse(&text, &Vars::ami()).expect("rules parse");
    let mut ids = Ids::new(rules);
    let mut raw: Vec<IdsAlert> = Vec::new();
    let sim = &finished.sim;
    let blocked = |host: u32, at: u64| sim.outside_blocked(host, SimTime(at));
    Tap::new().read(&sim.records().flows, &blocked, finished.sensor_horizon.0, &mut |seg| {
        ids.observe(&seg.flow, &mut raw)
    });
    let mut built_in = Alerts::new();
    for a in &raw {
        *built_in.entry((a.sid, a.time_s, a.src, a.dst)).or_default() += u64::from(a.fired);
    }
    // The sensor raised the same alerts in the run (counted into its alerts' episodes).
    let mut per_sid: BTreeMap<u32, u64> = BTreeMap::new();
    for a in &raw {
        *per_sid.entry(a.sid).or_default() += u64::from(a.fired);
    }
    let mut raised: BTreeMap<u32, u64> = BTreeMap::new();
    for a in &sim.records().alerts {
        if let Some(sid) = a.detector.strip_prefix("ids:") {
            *raised.entry(sid.parse().expect("a sid")).or_default() += a.count;
        }
    }
    assert_eq!(raised, per_sid, "the run's IDS alerts");
    for sid in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 1000002, 1000010, 1000020] {
        assert!(per_sid.contains_key(&sid), "rule {sid} never alerted: {per_sid:?}");
    }

    let (suricata, community_ids) = suricata(&pcap, &format!("{text}\n"), dir.path(), scenario.sim.start);
    let total: u64 = suricata.values().sum();
    eprintln!(
        "{} packets, {} alerts from Suricata in {} groups; per rule: {per_sid:?}",
        stats.packets,
        total,
        suricata.len()
    );
    assert!(total > 1_000, "{total}");
    let differ: Vec<_> = built_in
        .keys()
        .chain(suricata.keys())
        .filter(|k| built_in.get(k) != suricata.get(k))
        .take(20)
        .map(|k| (k, built_in.get(k), suricata.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "{} built-in and {} Suricata alert groups; first differences (key, built-in, Suricata): {differ:?}",
        built_in.len(),
        suricata.len()
    );

    // The flow table: every packet in one flow, and every alert's Community ID (Suricata's)
    // that of a flow with its addresses and ports.
    let flows: Vec<FlowRow> = csv::Reader::from_path(dir.path().join(amirange::flows::FILE))
        .expect("flows.csv")
        .deserialize()
        .map(|r| r.expect("a flows.csv row"))
        .collect();
    assert_eq!(
        flows.iter().map(|f| f.fwd_packets + f.bwd_packets).sum::<u64>(),
        stats.packets
    );
    assert_eq!(flows.len() as u64, stats.flows[0] + stats.flows[1]);
    let by_id: BTreeMap<&str, &FlowRow> = flows.iter().map(|f| (f.community_id.as_str(), f)).collect();
    for (id, src, sp, dst, dp) in &community_ids {
        let flow = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("Suricata's community_id {id} ({src}:{sp} -> {dst}:{dp}) is no flow's"));
        let ends = [(flow.src_ip, flow.src_port), (flow.dst_ip, flow.dst_port)];
        assert!(
            ends.contains(&(*src, *sp)) && ends.contains(&(*dst, *dp)),
            "{id}: {flow:?}"
        );
    }
    labels_agree_with_truth(&scenario, &finished, &flows);

    // Suricata's eve.json scored as an outside detector: every attack detected when the built-in
    // IDS detected it, as soon.
    let eve = dir.path().join("suricata").join("eve.json");
    let rule_set = RuleSet::parse(&text, &Vars::ami()).expect("rules parse");
    let outside =
        amirange::outside_alerts::read(&eve, &finished.sim, &rule_set.rules).expect("eve.json reads as alerts");
    assert!(outside.iter().all(|a| a.detector.starts_with("suricata:")));
    let judged = amirange::detection::judge(&finished.sim, &finished.reports, &outside, Vec::new());
    for (attack, theirs) in finished.metrics.attacks.iter().zip(&judged.attacks) {
        assert_eq!(
            (attack.detected, attack.time_to_detect_s),
            (theirs.detected, theirs.time_to_detect_s),
            "{}: built-in {:?}, Suricata {theirs:?}",
            attack.id,
            attack.first_detector
        );
    }
    // Coalesced as the built-in alerts are: as many alerts per rule.
    for d in &judged.detectors {
        let sid = d.name.strip_prefix("suricata:").expect("a Suricata rule");
        let built_in = finished
            .metrics
            .detectors
            .iter()
            .find(|b| b.name == format!("ids:{sid}"))
            .unwrap_or_else(|| panic!("rule {sid} raised no built-in alert"));
        assert_eq!(
            (d.alerts, d.true_positives),
            (built_in.alerts, built_in.true_positives),
            "rule {sid}"
        );
    }

    // tshark reads every packet, and finds nothing malformed.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-q", "-z", "expert,warn"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !report.contains("Malformed") && !report.contains("Errors ("),
        "{report}"
    );
    assert!(!report.contains("Warns ("), "tshark warns: {report}");
}

/// The flow table's labels against ground truth: every attack of the scenario that crosses the
/// sensor has flows labelled with it, with its kind, technique, STRIDE category and tactics;
/// none begins before the attack's first step in `truth`; a flow's endpoints are the attack's
/// (the flood's botnet to the HES front end, the exfiltration from the MDM, the pivot from the
/// HES command server, the phished request from a workstation); and every other flow is benign:
/// a collector's upload or an operator's request from a workstation.
fn labels_agree_with_truth(scenario: &Scenario, finished: &amirange::run::Finished, flows: &[FlowRow]) {
    let truth = &finished.sim.records().truth;
    for (k, attack) in scenario.attacks.iter().enumerate() {
        let id = &attack.header().id;
        let tags = attack.tags();
        let mine: Vec<&FlowRow> = flows.iter().filter(|f| &f.attack_id == id).collect();
        // Attacks on the field network cross no sensor behind the firewall.
        if matches!(tags.kind, "replay" | "rogue-concentrator") {
            assert!(mine.is_empty(), "{id} has flows behind the firewall");
            continue;
        }
        assert!(!mine.is_empty(), "no flow labelled {id}");
        let first_truth = truth
            .iter()
            .filter(|t| t.source == *id)
            .map(|t| scenario.sim.start.plus(t.time.since_start()).to_string())
            .min()
            .unwrap_or_else(|| panic!("{id} has no truth"));
        for f in &mine {
            assert_eq!(
                (
                    f.label.as_str(),
                    f.specific_class.as_str(),
                    f.technique.as_str(),
                    f.stride.as_str()
                ),
                ("attack", tags.kind, tags.technique.id, tags.stride.name()),
                "{f:?}"
            );
            assert!(!f.category.is_empty() && !f.kill_chain.is_empty(), "{f:?}");
            assert!(
                f.first_seen.as_str() >= first_truth.as_str(),
                "{id} ({k}): {f:?} before {first_truth}"
            );
            let ok = match tags.kind {
                "connection-flood" => {
                    amirange_defenses::addresses::outside_host(f.src_ip).is_some()
                        && f.dst_ip == amirange_defenses::addresses::HES_FRONT_END
                }
                "data-exfiltration" => f.src_ip == amirange_defenses::addresses::MDM,
                "lateral-movement" => f.src_ip == amirange_defenses::addresses::HES_COMMANDS,
                "mass-disconnect" => f.dst_ip == amirange_defenses::addresses::HES_COMMANDS,
                other => panic!("no endpoints known for {other}"),
            };
            assert!(ok, "{id}: {f:?}");
        }
    }
    for f in flows.iter().filter(|f| f.attack_id.is_empty()) {
        assert_eq!((f.label.as_str(), f.category.as_str()), ("benign", "benign"), "{f:?}");
        let upload = f.dst_port == amirange_defenses::addresses::MQTT && f.src_ip.octets()[..2] == [10, 20];
        let operator = f.dst_ip == amirange_defenses::addresses::HES_COMMANDS && f.src_ip.octets()[..3] == [10, 1, 1];
        assert!(upload || operator, "{f:?}");
    }
}

/// `run --export traffic,flows` through the real binary: `traffic.pcapng` and `flows.csv` in
/// the result folder, the same bytes on 1 and 2 threads, packets in time order from the scenario's start (2026-01-15,
/// the quickstart's, taken as UTC) with nanosecond timestamps, every other file as without it.
#[test]
fn the_capture_is_the_same_on_any_thread_count_and_in_time_order() {
    use pcap_file::pcapng::{Block, PcapNgReader};

    let tmp = tempfile::tempdir().expect("temp dir");
    let base = ["run", "--meters", "300", "--duration", "1d", "-q"];
    for (threads, export) in [("1", Some("traffic,flows")), ("2", Some("traffic,flows")), ("2", None)] {
        let out = format!("t{threads}-{}", if export.is_some() { "traffic" } else { "plain" });
        let mut args = base.to_vec();
        args.extend(["--threads", threads, "--out", &out]);
        if let Some(export) = export {
            args.extend(["--export", export]);
        }
        let o = crate::common::amirange(&args, tmp.path());
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let folder = tmp.path().join("t1-traffic");
    let bytes = crate::common::read(&folder.join(amirange::capture::FILE));
    for file in [amirange::capture::FILE, amirange::flows::FILE] {
        assert!(
            crate::common::read(&folder.join(file)) == crate::common::read(&tmp.path().join("t2-traffic").join(file)),
            "{file} differs between 1 and 2 threads"
        );
    }
    for file in ["metrics.json", "alerts.csv", "truth.csv"] {
        assert!(
            crate::common::read(&folder.join(file)) == crate::common::read(&tmp.path().join("t2-plain").join(file)),
            "{file} is the same with and without the export"
        );
    }
    assert!(!tmp.path().join("t2-plain").join(amirange::capture::FILE).exists());
    assert!(!tmp.path().join("t2-plain").join(amirange::flows::FILE).exists());

    let mut reader = PcapNgReader::new(bytes.as_slice()).expect("a pcapng file");
    let start_ns = 20_468u128 * 86_400 * 1_000_000_000;
    let (mut packets, mut last, mut resolution) = (0u64, 0u128, None);
    while let Some(block) = reader.next_block() {
        match block.expect("a block") {
            Block::InterfaceDescription(idb) => {
                resolution = idb.options.iter().find_map(|o| match o {
                    pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption::IfTsResol(r) => {
                        Some(*r)
                    }
                    _ => None,
                });
            }
            Block::EnhancedPacket(p) => {
                let t = p.timestamp.as_nanos();
                assert!(t >= last, "packet {packets} goes back in time");
                assert!(t >= start_ns && t < start_ns + 86_400 * 1_000_000_000, "{t}");
                assert_eq!(p.original_len as usize, p.data.len());
                last = t;
                packets += 1;
            }
            _ => {}
        }
    }
    assert_eq!(
        resolution,
        Some(9),
        "timestamps in nanoseconds, as pcap-file writes them"
    );
    // Every read cycle's uploads (96 cycles of at least one collector), each a session of more
    // than ten packets, and the phished operator's request.
    assert!(packets > 96 * 10, "{packets}");
}

/// EVE lines as `score` reads them: only alert events, times converted from their offset to
/// the capture's UTC, one rule's alerts about one source coalesced within the hour, and a
/// malformed line refused with its line and field.
#[test]
fn eve_alerts_read_with_their_offsets_coalesced_and_errors_located() {
    let overrides = Overrides {
        meters: Some(300),
        ..Overrides::default()
    };
    let scenario =
        amirange::scenario::load("q.ron", amirange::QUICKSTART, &overrides).unwrap_or_else(|e| panic!("{e}"));
    let finished = amirange::run::execute(&scenario, |_, _| {}).expect("runs");
    let line = |time: &str, sid: u32, src: &str| {
        format!(
            r#"{{"timestamp":"{time}","event_type":"alert","src_ip":"{src}","src_port":49152,"dest_ip":"10.10.0.10","dest_port":1883,"proto":"TCP","alert":{{"signature_id":{sid},"signature":"x","severity":1}}}}"#
        )
    };
    let text = [
        r#"{"timestamp":"2026-01-15T00:00:01.000000+0000","event_type":"stats"}"#.to_owned(),
        line("2026-01-15T02:00:00.250000+0100", 7, "203.0.113.9"),
        line("2026-01-15T01:30:00.000000+0000", 7, "203.0.113.9"),
        line("2026-01-15T01:30:00.000000+0000", 7, "203.0.113.10"),
        line("2026-01-15T04:00:00.000000+0000", 7, "203.0.113.9"),
    ]
    .join("\n");
    let alerts = amirange::outside_alerts::parse("eve.json", &text, &finished.sim, &[]).expect("reads");
    let summary: Vec<(u64, &str, String, u64)> = alerts
        .iter()
        .map(|a| (a.time.0, a.detector.as_str(), a.subject.to_string(), a.count))
        .collect();
    assert_eq!(
        summary,
        [
            (3_600_250_000, "suricata:7", "203.0.113.9".to_owned(), 2),
            (5_400_000_000, "suricata:7", "203.0.113.10".to_owned(), 1),
            (14_400_000_000, "suricata:7", "203.0.113.9".to_owned(), 1),
        ]
    );
    let bad = [
        line("2026-01-15T01:00:00+0000", 7, "203.0.113.9"),
        line("yesterday", 7, "203.0.113.9"),
    ]
    .join("\n");
    let e = amirange::outside_alerts::parse("eve.json", &bad, &finished.sim, &[]).expect_err("refused");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.to_string().contains("field `timestamp`"), "{e}");
    let late = line("2026-01-16T00:00:01.000000+0000", 7, "203.0.113.9");
    let e = amirange::outside_alerts::parse("eve.json", &late, &finished.sim, &[]).expect_err("after the run");
    assert!(e.to_string().contains("after the run's end"), "{e}");
}
