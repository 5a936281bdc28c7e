//! The field capture (`amirange run --export field`): `field.pcapng` read back packet by
//! packet, its DLMS/COSEM APDUs decrypted with `field-keys.csv` and held to the readings the
//! MDM took in, the same bytes on any thread count, and nothing in the run changed by it.

use std::collections::BTreeMap;
use std::path::Path;

use amirange_dlms::apdu::{Apdu, GetResult};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::security::{Keys, glo_unwrap, open};
use amirange_dlms::wrapper;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::common::{amirange, read};

/// One packet of the capture: time (ns since the epoch), link and IP addresses, the wrapper's
/// APDU and the packet's comment.
pub(crate) struct Packet {
    time_ns: u128,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    apdu: Vec<u8>,
    pub(crate) comment: Option<String>,
}

pub(crate) fn packets(path: &Path) -> Vec<Packet> {
    let bytes = read(path);
    let mut reader = PcapNgReader::new(bytes.as_slice()).expect("a pcapng file");
    let mut out = Vec::new();
    while let Some(block) = reader.next_block() {
        let Block::EnhancedPacket(p) = block.expect("a block") else {
            continue;
        };
        let d = &p.data;
        assert_eq!(&d[12..14], &[0x08, 0x00], "IPv4");
        assert_eq!(d[14], 0x45, "IPv4 without options");
        assert_eq!(d[23], 17, "UDP");
        assert_eq!(&d[34..38], &[0x0f, 0xdb, 0x0f, 0xdb], "ports 4059 to 4059");
        let frame = wrapper::decode_datagram(&d[42..], 65_535).expect("one wrapper frame per datagram");
        out.push(Packet {
            time_ns: p.timestamp.as_nanos(),
            src_mac: d[6..12].try_into().expect("6"),
            dst_mac: d[0..6].try_into().expect("6"),
            src: d[26..30].try_into().expect("4"),
            dst: d[30..34].try_into().expect("4"),
            apdu: frame.apdu,
            comment: p.options.iter().find_map(|o| match o {
                EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                _ => None,
            }),
        });
    }
    out
}

/// The key log: per meter, its keys and from when (ns since the epoch) they hold.
fn key_log(path: &Path) -> BTreeMap<u32, Vec<(u128, Keys)>> {
    let text = String::from_utf8(read(path)).expect("UTF-8");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("meter,system_title,from,encryption_key,authentication_key,security_suite")
    );
    let key = |hex: &str| -> [u8; 16] {
        let v: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        v.try_into().expect("16 bytes")
    };
    let mut log: BTreeMap<u32, Vec<(u128, Keys)>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 6, "{line}");
        assert_eq!(f[5], "0", "security suite 0");
        let meter: u32 = f[0].parse().expect("meter");
        assert_eq!(f[1], format!("414d52{:010x}", meter), "the meter's system title");
        let from = amirange_sim::time::CivilDateTime::parse(f[2])
            .expect("a time")
            .unix_seconds();
        log.entry(meter).or_default().push((
            from as u128 * 1_000_000_000,
            Keys {
                encryption: key(f[3]),
                authentication: key(f[4]),
            },
        ));
    }
    log
}

/// Meter index of a field-network address (10.64.0.0 + m + 1).
fn meter_of(ip: [u8; 4]) -> Option<u32> {
    (ip[0] == 10 && ip[1] >= 64 && ip[1] < 128).then(|| u32::from_be_bytes(ip) - u32::from_be_bytes([10, 64, 0, 1]))
}

/// (meter, interval start in ms) -> reported Wh, for intervals the MDM holds an actual read of.
fn actual_readings(folder: &Path) -> BTreeMap<(u32, i64), u64> {
    let reader = SerializedFileReader::try_from(folder.join("readings.parquet").as_path()).expect("a Parquet file");
    reader
        .get_row_iter(None)
        .expect("rows")
        .filter_map(|row| {
            let row = row.expect("a row");
            let estimated = row.get_bool(4).expect("estimated");
            (!estimated).then(|| {
                let wh = (row.get_double(3).expect("reported_kwh") * 1000.0).round() as u64;
                (
                    (
                        row.get_uint(0).expect("meter"),
                        row.get_timestamp_millis(1).expect("time"),
                    ),
                    wh,
                )
            })
        })
        .collect()
}

/// A day of the rogue-concentrator scenario on 1,500 meters, collector 0's field network
/// captured: the same bytes on 1 and 2 threads and the run's results unchanged by it; every
/// packet a wrapper frame between collector 0 and one of its meters, ciphered with suite 0 and
/// decrypted with the key log; every answer's intervals are what the MDM took in; the rogue's
/// relayed exchanges carry its link address and the attack's label, in its window only.
#[test]
fn the_field_capture_decrypts_to_the_readings_and_labels_the_rogue() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/attacks/rogue-concentrator-drop.ron");
    let scenario = scenario.to_str().expect("UTF-8 path");
    let base = ["run", scenario, "--meters", "1500", "-q", "--field-collectors", "0"];
    for (threads, export) in [
        ("1", Some("field,readings")),
        ("2", Some("field,readings")),
        ("2", None),
    ] {
        let out = format!("t{threads}-{}", if export.is_some() { "field" } else { "plain" });
        let mut args = base.to_vec();
        args.extend(["--threads", threads, "--out", &out]);
        if let Some(export) = export {
            args.extend(["--export", export]);
        }
        let o = amirange(&args, tmp.path());
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let folder = tmp.path().join("t1-field");
    for file in [amirange::field::FILE, amirange::field::KEYS_FILE] {
        assert!(
            read(&folder.join(file)) == read(&tmp.path().join("t2-field").join(file)),
            "{file} differs between 1 and 2 threads"
        );
    }
    for file in ["metrics.json", "alerts.csv", "truth.csv", "timeseries.csv"] {
        assert!(
            read(&folder.join(file)) == read(&tmp.path().join("t2-plain").join(file)),
            "{file} is the same with and without the capture"
        );
    }

    let keys = key_log(&folder.join(amirange::field::KEYS_FILE));
    let actual = actual_readings(&folder);
    let packets = packets(&folder.join(amirange::field::FILE));
    let collector = [10, 20, 0, 1];
    let collector_title = amirange::field::collector_system_title(0);
    let rogue_mac = [0x02, 0x00, 10, 63, 255, 1];
    // The rogue is on the air from 10:00 to 16:00 on 2026-01-15.
    let day_ns = 20_468u128 * 86_400 * 1_000_000_000;
    let hour_ns = 3_600 * 1_000_000_000u128;
    let (rogue_from, rogue_until) = (day_ns + 10 * hour_ns, day_ns + 16 * hour_ns + hour_ns / 4);
    let (mut requests, mut answers, mut checked, mut relayed, mut commands) = (0, 0, 0, 0, 0);
    let mut last = 0;
    for p in &packets {
        assert!(p.time_ns >= last, "in time order");
        last = p.time_ns;
        let (meter, from_collector) = if p.src == collector {
            (meter_of(p.dst).expect("to a meter"), true)
        } else {
            assert_eq!(p.dst, collector, "every exchange is collector 0's");
            (meter_of(p.src).expect("from a meter"), false)
        };
        let versions = keys
            .get(&meter)
            .unwrap_or_else(|| panic!("meter {meter} is in the key log"));
        // The keys in force: the last logged at or before the packet.
        let keys = &versions
            .iter()
            .rev()
            .find(|(from, _)| *from <= p.time_ns)
            .expect("keys logged before use")
            .1;
        let (tag, protected) = glo_unwrap(&p.apdu).expect("glo-ciphered");
        let title = if from_collector {
            collector_title
        } else {
            amirange::cosem::meter_system_title(meter)
        };
        let relayed_by_rogue = p.src_mac == rogue_mac || p.dst_mac == rogue_mac;
        if relayed_by_rogue {
            relayed += 1;
            assert_eq!(p.comment.as_deref(), Some("attack rogue-drop rogue-concentrator"));
            assert!(
                (rogue_from..rogue_until).contains(&p.time_ns),
                "a relay outside the rogue's window"
            );
        }
        let opened = open(keys, &title, protected).unwrap_or_else(|e| {
            panic!(
                "meter {meter}, from collector {from_collector}, at {}: {e:?} {:?}",
                p.time_ns, p.comment
            )
        });
        let apdu = Apdu::from_bytes(&opened.apdu).expect("an APDU");
        assert_eq!(Some(tag), amirange_dlms::security::glo_tag(opened.apdu[0]));
        match apdu {
            Apdu::GetRequest { attribute, access, .. } => {
                assert!(from_collector);
                assert_eq!(
                    (attribute.class_id, attribute.instance, attribute.attribute),
                    (7, Obis::LOAD_PROFILE, 2)
                );
                assert_eq!(access.map(|a| a.selector), Some(1), "by range");
                requests += 1;
            }
            Apdu::GetResponse {
                result: GetResult::Data(Data::Array(rows)),
                ..
            } => {
                assert!(!from_collector);
                answers += 1;
                if relayed_by_rogue {
                    continue;
                }
                for row in rows {
                    let Data::Structure(cols) = row else {
                        panic!("a row is a structure")
                    };
                    let (Data::OctetString(at), Data::DoubleLongUnsigned(wh)) = (&cols[0], &cols[1]) else {
                        panic!("clock and energy");
                    };
                    let end = amirange::cosem::civil_of(at).expect("a date-time");
                    let start_ms = (end.unix_seconds() - 900) * 1000;
                    if let Some(&reported) = actual.get(&(meter, start_ms)) {
                        assert_eq!(reported, u64::from(*wh), "meter {meter} at {end}");
                        checked += 1;
                    }
                }
            }
            // The utility's relay commands to the collector's meters, and the meters' answers.
            Apdu::ActionRequest { method, .. } => {
                assert!(from_collector);
                assert_eq!((method.class_id, method.instance), (70, Obis::DISCONNECT_CONTROL));
                commands += 1;
            }
            Apdu::ActionResponse { .. } => assert!(!from_collector),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(requests > 96 * 100, "{requests} requests");
    assert!(
        answers > requests / 2 && answers <= requests,
        "{answers} answers to {requests}"
    );
    assert!(checked > answers / 2, "{checked} intervals held to readings.parquet");
    assert!(relayed > 100, "{relayed} packets relayed by the rogue");
    assert!(commands > 0, "the day's non-payment disconnects and reconnects");
    assert!(
        packets
            .iter()
            .all(|p| p.comment.is_none() || p.src_mac == rogue_mac || p.dst_mac == rogue_mac),
        "only the rogue's packets are labelled"
    );
    if crate::traffic::tool_or_skip("tshark", "--version") {
        let o = std::process::Command::new("tshark")
            .args(["-r"])
            .arg(folder.join(amirange::field::FILE))
            .args(["-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"])
            .output()
            .expect("tshark runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            !text.contains("Malformed") && !text.contains("Bad checksum"),
            "tshark warns"
        );
        assert_eq!(text.lines().count(), packets.len());
    }
}

/// A downgrade and a replay on collector 0's field network: the radio's offers of the legacy
/// level are association requests without security, answered accepted by the legacy-capable
/// meters and refused by the others; every replayed command is, bit for bit, a command the
/// collector sent earlier that day, carried by the attacker's radio and labelled; the
/// downgraded meters that act on it answer in clear.
#[test]
fn downgrade_offers_and_replays_are_on_the_field_network_as_sent() {
    use amirange_dlms::acse::{Aare, AssociationResult};

    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/attacks/downgrade-replay.ron");
    let args = [
        "run",
        scenario.to_str().expect("UTF-8 path"),
        "--meters",
        "3000",
        "-q",
        "--export",
        "field",
        "--field-collectors",
        "0",
        "--out",
        "out",
    ];
    let o = amirange(&args, tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let packets = packets(&tmp.path().join("out").join(amirange::field::FILE));
    let radio = |k: u8| [10, 63, 255, k];
    let (mut accepted, mut refused, mut replays, mut answered) = (0, 0, 0, 0);
    for (i, p) in packets.iter().enumerate() {
        match p.comment.as_deref() {
            Some("attack downgrade-for-replay protocol-downgrade") => {
                if p.src == radio(1) {
                    assert_eq!(p.apdu[0], 0x60, "an AARQ");
                    continue;
                }
                assert_eq!(p.dst, radio(1));
                let aare = Aare::from_bytes(&p.apdu).expect("an AARE");
                match aare.result {
                    AssociationResult::Accepted => accepted += 1,
                    _ => refused += 1,
                }
            }
            Some("attack replay-downgraded replay") => {
                let radio_mac = [0x02, 0x00, 10, 63, 255, 2];
                if meter_of(p.src).is_some() {
                    assert_eq!(p.dst_mac, radio_mac, "answered to the attacker's radio");
                    // A downgraded meter acting on it: an action-response in clear.
                    assert_eq!(p.apdu[0], 0xC7);
                    answered += 1;
                    continue;
                }
                assert_eq!(p.src_mac, radio_mac, "sent by the attacker's radio");
                replays += 1;
                let original = packets[..i]
                    .iter()
                    .find(|q| q.apdu == p.apdu && q.dst == p.dst)
                    .expect("the replayed frame was sent before");
                assert!(original.comment.is_none(), "the original was the utility's own command");
                assert_eq!(original.src, [10, 20, 0, 1]);
                assert_eq!(p.apdu[0], 0xCB, "a glo-action-request");
            }
            Some(other) => panic!("unexpected label {other}"),
            None => {}
        }
    }
    assert!(accepted > 10 && refused > 10, "{accepted} accepted, {refused} refused");
    assert!(
        replays > 0 && answered > 0 && answered <= replays,
        "{replays} replays, {answered} acted on"
    );
}

/// A field capture needs its collectors named, refuses one the network does not have without
/// leaving a folder behind, writes a folder `--force` may replace, and `bench` measures it.
#[test]
fn field_capture_errors_and_bench() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--meters", "300", "-q", "--out", "out"];
        args.extend_from_slice(extra);
        amirange(&args, tmp.path())
    };
    let o = run(&["--export", "field"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--field-collectors 0"), "{err}");
    let o = run(&["--export", "field", "--field-collectors", "4000"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("collector 4000 does not exist"), "{err}");
    assert!(!tmp.path().join("out").exists(), "no folder is left behind");
    // A folder with a field capture is amirange's own: --force replaces it.
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["--export", "field", "--field-collectors", "0"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(tmp.path().join("out").join(amirange::field::KEYS_FILE).is_file());
    let o = amirange(
        &[
            "bench",
            "--meters",
            "300",
            "--export",
            "field",
            "--field-collectors",
            "0",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("field capture"))
        .expect("a field capture line");
    assert!(line.contains("packets") && line.contains("MB"), "{line}");
}

/// A field capture of an area and a time window: every collector within the radius (more than
/// one here), no packet outside the window; and a window or area that cannot hold is refused
/// naming its field.
#[test]
fn an_area_and_a_window_choose_what_is_captured() {
    let scenario = |capture: &str| {
        format!(
            r#"Scenario(
    name: "area",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "12h",
    topology: Preset("town-10k"),
    export: [Field],
    field_capture: {capture},
)"#
        )
    };
    let overrides = amirange::scenario::Overrides {
        meters: Some(3_000),
        ..amirange::scenario::Overrides::default()
    };
    let loaded = amirange::scenario::load(
        "area.ron",
        &scenario(r#"(area: (center: Collector(0), radius_m: 3000), from: "0d 06:00", until: "0d 08:00")"#),
        &overrides,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let network = amirange::run::generate(&loaded).expect("network");
    let collectors = amirange::field::resolve_collectors(&loaded, &network).expect("collectors");
    assert!(collectors.len() > 1 && collectors.contains(&0), "{collectors:?}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let capture = amirange::field::FieldCapture::create(tmp.path(), &loaded, &collectors).expect("capture");
    let finished = amirange::run::execute_observed(
        &loaded,
        network,
        std::time::Instant::now(),
        false,
        vec![Box::new(capture)],
        |_, _| {},
    )
    .expect("runs");
    let stats = finished
        .sim
        .interval_observer::<amirange::field::FieldCapture>()
        .expect("observer")
        .finish()
        .expect("written");
    let packets = packets(&tmp.path().join(amirange::field::FILE));
    assert_eq!(packets.len() as u64, stats.packets);
    let hour_ns = 3_600 * 1_000_000_000u128;
    let day_ns = 20_468u128 * 24 * hour_ns;
    assert!(
        packets
            .iter()
            .all(|p| (day_ns + 6 * hour_ns..day_ns + 8 * hour_ns).contains(&p.time_ns))
    );
    let mut pollers: Vec<[u8; 4]> = packets.iter().filter(|p| p.src[1] == 20).map(|p| p.src).collect();
    pollers.sort_unstable();
    pollers.dedup();
    assert_eq!(
        pollers.len(),
        collectors.len(),
        "every collector of the area polls in the window"
    );

    for (capture, field) in [
        (
            r#"(collectors: [0], from: "0d 08:00", until: "0d 06:00")"#,
            "field_capture.until",
        ),
        (
            r#"(area: (center: Collector(0), radius_m: 0))"#,
            "field_capture.area.radius_m",
        ),
        (r#"()"#, "field_capture"),
        (r#"(collectors: [0], until: "2d")"#, "field_capture.until"),
    ] {
        let e = amirange::scenario::load("area.ron", &scenario(capture), &overrides).expect_err(capture);
        assert!(e.to_string().contains(field), "{capture}: {e}");
    }
}

/// A bypass's meters: their answers carry the theft's label (what they report is not what the
/// premise took), the collectors' requests to them do not.
#[test]
fn falsified_answers_carry_their_attack() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/attacks/theft-bypass.ron");
    let args = [
        "run",
        scenario.to_str().expect("UTF-8 path"),
        "--meters",
        "2000",
        "-q",
        "--export",
        "field",
        "--field-collectors",
        "0,1,2,3,4,5",
        "--out",
        "out",
    ];
    let o = amirange(&args, tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let packets = packets(&tmp.path().join("out").join(amirange::field::FILE));
    let labelled: Vec<&Packet> = packets
        .iter()
        .filter(|p| p.comment.as_deref() == Some("attack theft-bypass energy-theft"))
        .collect();
    assert!(!labelled.is_empty(), "no answer labelled with the theft");
    assert!(
        labelled.iter().all(|p| meter_of(p.src).is_some()),
        "only the meters' answers"
    );
    assert!(
        packets
            .iter()
            .all(|p| p.comment.is_none() || p.comment == labelled[0].comment)
    );
}
