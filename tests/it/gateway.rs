//! `amirange gateway` over a real loopback socket: a client built from the `dlms` crate's
//! codecs associates with a simulated meter, reads it and disconnects it, and the engine
//! opens the relay.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use amirange::gateway::{Gateway, GatewayConfig, PASSWORD_CLIENT, PUBLIC_CLIENT, spawn};
use amirange::run::{Stepper, generate};
use amirange::scenario::{Overrides, load};
use amirange_dlms::acse::{Aare, Aarq, AssociationResult, Mechanism};
use amirange_dlms::apdu::{Apdu, AttributeDescriptor, GetResult, MethodDescriptor, ResultCode};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::server::Limits;
use amirange_dlms::wrapper::{self, Addresses, Decoder};
use amirange_sim::model::Relay;

use crate::gurux::{gurux_or_skip, gurux_script};

/// Sends one APDU from `client` to wPort `device` and reads the one frame answered.
fn exchange(socket: &mut TcpStream, client: u16, device: u16, apdu: &[u8]) -> Vec<u8> {
    let frame = wrapper::encode_checked(
        Addresses {
            source: client,
            destination: device,
        },
        apdu,
    )
    .expect("frames");
    socket.write_all(&frame).expect("sends");
    let mut decoder = Decoder::new(65_535);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(frame) = decoder.next_frame().expect("a valid answer") {
            assert_eq!(frame.addresses.destination, client);
            return frame.apdu;
        }
        let n = socket.read(&mut buf).expect("reads");
        assert!(n > 0, "the gateway closed the connection");
        decoder.push(&buf[..n]);
    }
}

/// A GET of the meter's serial number (the device ID object).
fn get_serial() -> Apdu {
    Apdu::GetRequest {
        invoke: 0xC1,
        attribute: AttributeDescriptor {
            class_id: 1,
            instance: amirange::cosem::DEVICE_ID,
            attribute: 2,
        },
        access: None,
    }
}

/// The quickstart's town cut to 200 meters, built and not yet stepped.
fn small_run() -> Stepper {
    let scenario = load(
        "quickstart",
        amirange::QUICKSTART,
        &Overrides {
            meters: Some(200),
            ..Overrides::default()
        },
    )
    .expect("the quickstart loads");
    let network = generate(&scenario).expect("a network");
    Stepper::new(&scenario, network, false).expect("a run")
}

/// A gateway on a free loopback port at `pace`, client 17's password `secret12`.
fn config(pace: f64) -> GatewayConfig {
    GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        pace,
        password: b"secret12".to_vec(),
        first_meter: 0,
        ports: amirange::gateway::Ports::Blocks,
        frames_per_s: amirange::gateway::DEFAULT_FRAMES_PER_S,
        loss: false,
        limits: Limits::default(),
        max_connections: 16,
        exit_at_end: false,
    }
}

#[test]
fn a_dlms_client_reads_and_disconnects_a_meter_through_the_gateway() {
    let stepper = small_run();
    let gateway = Gateway::new(stepper, config(60.0));
    let running = spawn(gateway).expect("the gateway listens");
    let addr = running.addr;
    let mut socket = TcpStream::connect(addr).expect("connects");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let meter = 7u32;
    let device = (meter + 1) as u16;
    let public = Aarq::without_security(u16::MAX);
    let aare = Aare::from_bytes(&exchange(&mut socket, PUBLIC_CLIENT, device, &public.to_bytes())).expect("an AARE");
    assert_eq!(aare.result, AssociationResult::Accepted);
    let get_relay = Apdu::GetRequest {
        invoke: 0xC1,
        attribute: AttributeDescriptor {
            class_id: 70,
            instance: Obis::DISCONNECT_CONTROL,
            attribute: 2,
        },
        access: None,
    };
    assert_eq!(
        Apdu::from_bytes(&exchange(&mut socket, PUBLIC_CLIENT, device, &get_relay.to_bytes())),
        Ok(Apdu::GetResponse {
            invoke: 0xC1,
            result: GetResult::Data(Data::Boolean(true))
        })
    );
    // A wrong password is refused; the right one may disconnect.
    let wrong = Aarq {
        mechanism: Some(Mechanism::Lowest),
        calling_authentication: Some(b"guess123".to_vec()),
        ..public.clone()
    };
    let refused =
        Aare::from_bytes(&exchange(&mut socket, PASSWORD_CLIENT, device, &wrong.to_bytes())).expect("an AARE");
    assert_eq!(refused.result, AssociationResult::RejectedPermanent);
    let right = Aarq {
        calling_authentication: Some(b"secret12".to_vec()),
        ..wrong
    };
    let accepted =
        Aare::from_bytes(&exchange(&mut socket, PASSWORD_CLIENT, device, &right.to_bytes())).expect("an AARE");
    assert_eq!(accepted.result, AssociationResult::Accepted);
    let disconnect = Apdu::ActionRequest {
        invoke: 0xC2,
        method: MethodDescriptor {
            class_id: 70,
            instance: Obis::DISCONNECT_CONTROL,
            method: 1,
        },
        parameters: Some(Data::Integer(0)),
    };
    assert!(matches!(
        Apdu::from_bytes(&exchange(&mut socket, PASSWORD_CLIENT, device, &disconnect.to_bytes())),
        Ok(Apdu::ActionResponse {
            result: ResultCode::SUCCESS,
            ..
        })
    ));
    // The engine applies it at its next step; the relay reads open over DLMS.
    let mut open = false;
    for _ in 0..100 {
        let reply = Apdu::from_bytes(&exchange(&mut socket, PUBLIC_CLIENT, device, &get_relay.to_bytes()));
        if reply
            == Ok(Apdu::GetResponse {
                invoke: 0xC1,
                result: GetResult::Data(Data::Boolean(false)),
            })
        {
            open = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(open, "the relay never read open");
    let gateway = running.stop().expect("the gateway ran");
    let report = gateway.report();
    assert_eq!(report.connections, 1);
    assert_eq!(report.inputs, 2, "the relay operation and its ground truth");
    assert_eq!(report.relay_operations, 1);
    assert_eq!(gateway.stepper.sim.meter(meter).expect("the meter").relay, Relay::Open);
    assert!(
        gateway
            .stepper
            .sim
            .records()
            .truth
            .iter()
            .any(|t| t.kind == "relay-open" && t.meters == [meter] && t.detail.contains("DLMS client 17"))
    );
}

/// Interoperability with a DLMS client that is not ours (tests/gurux/interop.py, the Gurux
/// library for Python run as an external program): with no security, a password and
/// HLS-GMAC with suite 0, and through the gateway protocol by serial number, it reads the
/// clock, the register and a range of the load profile
/// (equal to the engine's), operates remote_disconnect (the relay opens in the run, with
/// ground truth naming the client), and is refused with a wrong password, a wrong key and a
/// replayed ciphered frame. Skipped when Gurux is not installed, unless
/// `AMIRANGE_REQUIRE_GURUX=1` (as in CI, which installs it).
#[test]
fn the_gurux_client_reads_and_disconnects_through_the_gateway() {
    if !gurux_or_skip() {
        return;
    }
    let mut stepper = small_run();
    // Two hours in: eight intervals in the load profile; at pace 10 the next interval ends
    // 90 s of wall time later, long after the script is done.
    stepper
        .step_to(amirange_sim::time::SimTime(2 * 3_600_000_000))
        .expect("steps");
    let meter = 5u32;
    let keys = amirange::cosem::meter_keys(&stepper.sim, meter).expect("keys");
    let memory = stepper.sim.load_profile_memory(meter).expect("memory");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let gateway = Gateway::new(stepper, config(10.0));
    let running = spawn(gateway).expect("the gateway listens");
    let addr = running.addr;
    let output = gurux_script("interop.py")
        .args([
            addr.ip().to_string(),
            addr.port().to_string(),
            meter.to_string(),
            "secret12".to_owned(),
            hex(&amirange::cosem::meter_system_title(meter)),
            hex(&keys.encryption),
            hex(&keys.authentication),
        ])
        .output()
        .expect("python runs");
    let gateway = running.stop().expect("the gateway ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "interop.py failed:\n{text}");
    let sim = &gateway.stepper.sim;
    let register = sim.meter(meter).expect("the meter").register_wh as u64;
    let last_interval = memory.wh[7 % amirange_sim::model::LOAD_PROFILE_DEPTH];
    for line in [
        "public clock: 2026-01-15T02:".to_owned(),
        format!("public register: {register}"),
        format!("gateway register: {register}"),
        "public relay connected: True".to_owned(),
        "wrong password: refused".to_owned(),
        "low profile entries: 8".to_owned(),
        format!("low profile by range: 8 rows, last {last_interval} Wh"),
        format!("low profile last: {last_interval} Wh at 2026-01-15T02:00:00"),
        "low remote_disconnect: error 0".to_owned(),
        format!("hls register: {register}"),
        "hls replay: refused".to_owned(),
        "wrong key: refused".to_owned(),
        "interop: ok".to_owned(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    assert_eq!(sim.meter(meter).expect("the meter").relay, Relay::Open);
    assert!(
        sim.records()
            .truth
            .iter()
            .any(|t| t.kind == "relay-open" && t.meters == [meter] && t.detail.contains("DLMS client 17"))
    );
}

/// A meter whose radio is down answers nothing; its neighbour answers, late by its path's
/// round trip.
#[test]
fn a_meter_the_network_cannot_reach_answers_nothing() {
    let mut stepper = small_run();
    let down = 9u32;
    stepper
        .sim
        .schedule(
            amirange_sim::time::SimTime(60_000_000),
            amirange_sim::engine::Input::Radio { meter: down, up: false },
        )
        .expect("schedules");
    stepper
        .step_to(amirange_sim::time::SimTime(120_000_000))
        .expect("steps");
    assert!(!amirange::cosem::meter_reachable(&stepper.sim, down));
    let mut gateway = Gateway::new(stepper, config(1.0));
    let aarq = Aarq::without_security(u16::MAX).to_bytes();
    let frame = |meter: u32| {
        wrapper::encode_checked(
            Addresses {
                source: PUBLIC_CLIENT,
                destination: (meter + 1) as u16,
            },
            &aarq,
        )
        .expect("frames")
    };
    assert_eq!(gateway.receive(1, &frame(down)), Ok(Vec::new()));
    // A meter it reaches answers after its path's round trip (pace 1: simulated time is wall
    // time), within what a field network takes.
    let window = gateway.windows()[0];
    let answer = gateway
        .receive_delayed(2, window, &frame(down + 1))
        .expect("stays open");
    assert!(!answer.bytes.is_empty());
    assert!(
        answer.delay > Duration::from_millis(1) && answer.delay < Duration::from_secs(60),
        "{:?}",
        answer.delay
    );
}

/// For a lab, each meter on a port of its own: the meter is wPort 1 there and nothing else
/// answers; the ports follow one another.
#[test]
fn a_port_per_meter_serves_its_meter_at_wport_1_alone() {
    let mut config = config(60.0);
    config.first_meter = 10;
    config.ports = amirange::gateway::Ports::PerMeter(3);
    let gateway = Gateway::new(small_run(), config);
    let running = spawn(gateway).expect("the gateway listens");
    let windows: Vec<(u32, u32)> = running.ports.iter().map(|(_, w)| (w.first, w.meters)).collect();
    assert_eq!(windows, [(10, 1), (11, 1), (12, 1)]);
    let mut socket = TcpStream::connect(running.ports[1].0).expect("connects");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let public = Aarq::without_security(u16::MAX).to_bytes();
    let aare = Aare::from_bytes(&exchange(&mut socket, PUBLIC_CLIENT, 1, &public)).expect("an AARE");
    assert_eq!(aare.result, AssociationResult::Accepted);
    let serial = get_serial();
    let answer = Apdu::from_bytes(&exchange(&mut socket, PUBLIC_CLIENT, 1, &serial.to_bytes()));
    let Ok(Apdu::GetResponse {
        result: GetResult::Data(Data::VisibleString(serial)),
        ..
    }) = answer
    else {
        panic!("no serial number: {answer:?}");
    };
    assert_eq!(serial, b"AMR00000011", "meter 11's serial");
    // wPort 2 on meter 11's own port is no meter: nothing answers.
    let mut gateway = running.stop().expect("the gateway ran");
    let window = amirange::gateway::Window { first: 11, meters: 1 };
    let frame = wrapper::encode_checked(
        Addresses {
            source: PUBLIC_CLIENT,
            destination: 2,
        },
        &public,
    )
    .expect("frames");
    assert_eq!(
        gateway.receive_delayed(9, window, &frame).map(|a| a.bytes),
        Ok(Vec::new())
    );
}

/// With loss on, a meter answers an exchange as often as its path's round trip succeeds: each
/// way is lost with probability 1 - sqrt(success). Every answer that comes is whole.
#[test]
fn exchanges_are_lost_as_often_as_the_path_loses_them() {
    let stepper = small_run();
    // The reachable meter whose path loses the most.
    let sim = &stepper.sim;
    let meter = (0..sim.n_meters() as u32)
        .filter(|&m| amirange::cosem::meter_reachable(sim, m))
        .min_by(|&a, &b| {
            let s = |m: u32| sim.net_state().paths[m as usize].success;
            s(a).total_cmp(&s(b))
        })
        .expect("a reachable meter");
    let success = f64::from(stepper.sim.net_state().paths[meter as usize].success);
    assert!(
        success < 0.95,
        "meter {meter}'s path loses too little to tell: {success}"
    );
    let mut config = config(60.0);
    config.loss = true;
    let mut gateway = Gateway::new(stepper, config);
    let window = gateway.windows()[0];
    let frame = wrapper::encode_checked(
        Addresses {
            source: PUBLIC_CLIENT,
            destination: (meter + 1) as u16,
        },
        &Aarq::without_security(u16::MAX).to_bytes(),
    )
    .expect("frames");
    let tries = 2_000u32;
    let mut answered = 0u32;
    for conn in 0..u64::from(tries) {
        let answer = gateway.receive_delayed(conn, window, &frame).expect("stays open");
        if !answer.bytes.is_empty() {
            let aare = Aare::from_bytes(&answer.bytes[8..]).expect("a whole AARE");
            assert_eq!(aare.result, AssociationResult::Accepted);
            answered += 1;
        }
        gateway.close(conn);
    }
    let share = f64::from(answered) / f64::from(tries);
    // Four standard deviations of a binomial share, and at least half a percent.
    let tolerance = (4.0 * (success * (1.0 - success) / f64::from(tries)).sqrt()).max(0.005);
    assert!(
        (share - success).abs() <= tolerance,
        "meter {meter}: answered {share:.4} of exchanges, its path succeeds {success:.4}"
    );
}

/// The wrapper over UDP on the same port: a datagram is one frame and gets one back; a
/// datagram that is not a frame gets nothing, and the client's session goes on.
#[test]
fn a_udp_client_associates_and_reads_on_the_same_port() {
    let gateway = Gateway::new(small_run(), config(60.0));
    let running = spawn(gateway).expect("the gateway listens");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let meter = 7u32;
    let send = |apdu: &[u8]| {
        let frame = wrapper::encode_checked(
            Addresses {
                source: PUBLIC_CLIENT,
                destination: (meter + 1) as u16,
            },
            apdu,
        )
        .expect("frames");
        socket.send_to(&frame, running.addr).expect("sends");
    };
    let receive = || {
        let mut buf = [0u8; 4096];
        let (n, _) = socket.recv_from(&mut buf).expect("an answer");
        wrapper::decode_datagram(&buf[..n], 65_535).expect("one frame").apdu
    };
    socket.send_to(b"\x00\x01garbage", running.addr).expect("sends");
    send(&Aarq::without_security(u16::MAX).to_bytes());
    let aare = Aare::from_bytes(&receive()).expect("an AARE");
    assert_eq!(aare.result, AssociationResult::Accepted);
    let serial = get_serial();
    send(&serial.to_bytes());
    assert_eq!(
        Apdu::from_bytes(&receive()),
        Ok(Apdu::GetResponse {
            invoke: 0xC1,
            result: GetResult::Data(Data::VisibleString(b"AMR00000007".to_vec()))
        })
    );
    let gateway = running.stop().expect("the gateway ran");
    assert_eq!(gateway.report().connections, 1, "one UDP client");
}
