//! Load on `amirange gateway`: many concurrent DLMS associations over loopback and the GET
//! rate they get, while the engine keeps its pace. Not a criterion benchmark (a sustained
//! load, not a repeated function): run it with
//!
//! ```sh
//! cargo bench -p amirange-benches --bench dlms_load                 # 1,000 associations, 10 s, pace 60
//! cargo bench -p amirange-benches --bench dlms_load -- 2000 20 3600 # 2,000 associations, 20 s, pace 3,600
//! ```
//!
//! Every answer waits for its meter's round trip over the field network in wall time at the
//! pace, so at pace 60 the rate is bound by the network's latency and at 3,600 by the
//! gateway's own cost.
//!
//! Each association is a public client (16) on its own TCP connection to its own meter of a
//! 10,000-meter town (the quickstart), reading the energy register again and again; client
//! threads keep one request in flight per connection. It prints the GETs per second, the
//! slowest answer, and how far the engine's simulated time fell behind its pace.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use amirange::gateway::{Gateway, GatewayConfig, PUBLIC_CLIENT, spawn};
use amirange::run::{Stepper, generate};
use amirange::scenario::{Overrides, load};
use amirange_dlms::acse::{Aare, Aarq, AssociationResult};
use amirange_dlms::apdu::{Apdu, AttributeDescriptor};
use amirange_dlms::obis::Obis;
use amirange_dlms::server::Limits;
use amirange_dlms::wrapper::{self, Addresses, Decoder};

/// Client threads (each serves its share of the connections).
const CLIENT_THREADS: usize = 4;

struct Link {
    socket: TcpStream,
    decoder: Decoder,
    device: u16,
}

impl Link {
    fn send(&mut self, apdu: &[u8]) -> std::io::Result<()> {
        let frame = wrapper::encode_checked(
            Addresses {
                source: PUBLIC_CLIENT,
                destination: self.device,
            },
            apdu,
        )
        .map_err(std::io::Error::other)?;
        self.socket.write_all(&frame)
    }

    fn receive(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buf = [0u8; 2048];
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(std::io::Error::other)? {
                return Ok(frame.apdu);
            }
            let n = self.socket.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("closed"));
            }
            self.decoder.push(&buf[..n]);
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let associations = numbers.first().copied().unwrap_or(1_000) as usize;
    let seconds = numbers.get(1).copied().unwrap_or(10);
    // Answers wait for their path's round trip at this pace: at 60 a 3 s mesh round trip is
    // 50 ms of wall time; at 3,600 the gateway's own cost dominates.
    let pace = numbers.get(2).copied().unwrap_or(60) as f64;
    let scenario = load("quickstart", amirange::QUICKSTART, &Overrides::default()).expect("the quickstart loads");
    let network = generate(&scenario).expect("a network");
    let n_meters = network.meters.len();
    let mut stepper = Stepper::new(&scenario, network, false).expect("a run");
    stepper
        .step_to(amirange_sim::time::SimTime(6 * 3_600_000_000))
        .expect("steps to 06:00");
    let gateway = Gateway::new(
        stepper,
        GatewayConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            pace,
            password: b"00000000".to_vec(),
            first_meter: 0,
            ports: amirange::gateway::Ports::Blocks,
            frames_per_s: amirange::gateway::DEFAULT_FRAMES_PER_S,
            // Lossless: a lost exchange would leave its client waiting out a timeout, and this
            // measures what the gateway serves.
            loss: false,
            limits: Limits::default(),
            max_connections: associations + 16,
            exit_at_end: false,
        },
    );
    let running = spawn(gateway).expect("the gateway listens");
    let addr = running.addr;
    // Open and associate every connection, each with its own meter (the reachable ones).
    let opened = Instant::now();
    let aarq = Aarq::without_security(1024).to_bytes();
    let mut links = Vec::with_capacity(associations);
    let mut meter = 0usize;
    while links.len() < associations && meter < n_meters.min(65_535) {
        meter += 1;
        let mut link = Link {
            socket: TcpStream::connect(addr).expect("connects"),
            decoder: Decoder::new(65_535),
            device: meter as u16,
        };
        link.socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("a timeout");
        link.send(&aarq).expect("sends");
        // An unreachable meter answers nothing: its connection is dropped.
        if let Ok(answer) = link.receive()
            && Aare::from_bytes(&answer).is_ok_and(|a| a.result == AssociationResult::Accepted)
        {
            link.socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("a timeout");
            links.push(link);
        }
    }
    let open_s = opened.elapsed().as_secs_f64();
    let get = Apdu::GetRequest {
        invoke: 0xC1,
        attribute: AttributeDescriptor {
            class_id: 3,
            instance: Obis::ACTIVE_ENERGY_IMPORT,
            attribute: 2,
        },
        access: None,
    }
    .to_bytes();
    let sim_before = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let per_thread = links.len().div_ceil(CLIENT_THREADS).max(1);
    let mut groups: Vec<Vec<Link>> = Vec::new();
    while !links.is_empty() {
        let rest = links.split_off(per_thread.min(links.len()));
        groups.push(std::mem::replace(&mut links, rest));
    }
    let n_links: usize = groups.iter().map(Vec::len).sum();
    let results: Vec<(u64, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter_mut()
            .map(|group| {
                let get = &get;
                scope.spawn(move || {
                    let (mut done, mut slowest) = (0u64, Duration::ZERO);
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        for link in group.iter_mut() {
                            link.send(get).expect("sends");
                        }
                        for link in group.iter_mut() {
                            let answer = link.receive().expect("an answer");
                            assert!(matches!(Apdu::from_bytes(&answer), Ok(Apdu::GetResponse { .. })));
                            done += 1;
                        }
                        slowest = slowest.max(sent.elapsed());
                    }
                    (done, slowest)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread"))
            .collect()
    });
    let elapsed = sim_before.elapsed().as_secs_f64();
    let gateway = running.stop().expect("the gateway ran");
    let gets: u64 = results.iter().map(|r| r.0).sum();
    let slowest = results.iter().map(|r| r.1).max().unwrap_or_default();
    let report = gateway.report();
    let sim_s = report.reached.as_micros() as f64 / 1e6 - 6.0 * 3600.0;
    let wall_s = opened.elapsed().as_secs_f64();
    println!(
        "dlms_load: {n_links} associations open in {open_s:.2} s; {gets} GETs in {elapsed:.1} s = {:.0} GETs/s; \
         slowest round over a thread's connections {:.0} ms; engine at {:.0} s of simulated time after {:.1} s of wall time at pace {pace} ({:.0}% of its pace)",
        gets as f64 / elapsed,
        slowest.as_secs_f64() * 1e3,
        sim_s,
        wall_s,
        100.0 * sim_s / (wall_s * pace),
    );
}
