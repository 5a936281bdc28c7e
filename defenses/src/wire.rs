//! The wire at the network sensor: the engine's flow records rendered as the packets a sensor
//! behind the utility's firewall captures, in one order that the IDS and a capture file share.
//!
//! The engine records traffic as flow records ([`FlowRecord`]): so many connection attempts
//! from so many hosts over so many seconds, established or not. A [`Tap`] turns them into
//! [`Segment`]s, each a run of packets alike but for their times and ports, in the order a
//! sensor sees them: by time, then by record (the order the engine recorded them), then within
//! the record. The IDS observes each segment's [`Flow`]; `amirange run --export traffic` writes
//! the same packets, byte for byte, into `traffic.pcapng`, so Suricata reading the capture sees
//! exactly what the built-in IDS saw.
//!
//! # How a record becomes packets
//!
//! * Its connection attempts are spread over its seconds and hosts as evenly as they divide (the
//!   remainder spread over the cells of seconds and hosts at even intervals). Within a second the attempts of all its hosts
//!   are `1 s / n` apart, the first host's first; each attempt comes from the host's next
//!   ephemeral port (49152–65535, in turn for each host across records).
//! * An attempt that does not establish is one SYN (the server, refusing or overwhelmed, never
//!   answers).
//! * A record that established: its last attempt is a whole TCP session, the others SYNs. The
//!   session is the handshake (SYN, SYN-ACK, ACK), the application's exchange ([`exchange`]:
//!   MQTT CONNECT/CONNACK/PUBLISH/DISCONNECT on 1883, TLS application records on 443, a DNP3
//!   request and response on 20000, raw bytes elsewhere; the client sends the record's bytes),
//!   each segment acknowledged, and an orderly close (FIN, FIN, ACK). Half a round trip
//!   separates a packet from its answer: [`RTT_LAN_US`] inside the utility, [`RTT_WAN_US`] over
//!   a collector's backhaul or the internet.
//! * A UDP attempt is one datagram carrying the record's bytes.
//! * Attempts from outside hosts that the firewall had blocked when the record began are not
//!   seen (the sensor sits behind the firewall).
//!
//! The flow state each packet carries follows Suricata 7's flow engine: a SYN and its SYN-ACK
//! are each the first of their flow in their direction; the handshake's ACK is not yet
//! established; every later packet is.
//!
//! # Incremental reading
//!
//! Records arrive as the run goes, and a flood's minute is recorded after the uploads inside
//! it. A tap therefore releases only packets before a *horizon* the engine vouches for
//! ([`amirange_sim::engine::Sim::sensor_horizon`]): no record still to come has a packet before
//! it. Read up to the same horizon, a tap gives the same packets in the same order whether it
//! was read once at the end or a little at every look.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::Ipv4Addr;

use amirange_sim::records::{Endpoint, FlowRecord};

use crate::addresses;
use crate::ids::{EPHEMERAL, Flow, Proto};

/// Round trip inside the utility's networks (an assumption: a switched LAN of a few hops).
pub const RTT_LAN_US: u64 = 1_000;
/// Round trip over a collector's cellular backhaul or the internet (an assumption, of the order
/// of LTE's 30–60 ms user-plane round trip).
pub const RTT_WAN_US: u64 = 50_000;
/// The largest TCP payload in one packet (Ethernet's 1,500-byte MTU less 40 bytes of headers).
pub const MSS: usize = 1460;

/// TCP flags of a segment, as in the TCP header.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// A run of packets on the wire: what the IDS observes ([`Segment::flow`]) and what a capture
/// needs besides (flags, sequence numbers, payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The packets as the IDS sees them.
    pub flow: Flow,
    /// TCP flags ([`flags`]); 0 for UDP.
    pub flags: u8,
    /// The TCP sequence number (of the first packet; a run of SYNs numbers each from its own
    /// time and port, [`syn_seq`]).
    pub seq: u32,
    /// The TCP acknowledgement number.
    pub ack: u32,
    /// The payload (every packet of a run carries none).
    pub payload: Vec<u8>,
    /// Whether its packets end their flows: each packet of a run of attempts is a flow of its
    /// own; a session ends with its last packet.
    pub last: bool,
    /// The flow record it renders: its index in the run's flow records.
    pub record: usize,
}

/// The initial sequence number of a connection opened at `time_us` from `port`: fixed by
/// them, so that the same run gives the same capture.
pub fn syn_seq(time_us: u64, port: u16) -> u32 {
    let x = time_us.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::from(port) << 17);
    (x >> 32) as u32
}

/// Where an endpoint lives in the address plan.
pub fn address(e: Endpoint) -> Ipv4Addr {
    match e {
        Endpoint::HesFrontEnd => addresses::HES_FRONT_END,
        Endpoint::HesCommands => addresses::HES_COMMANDS,
        Endpoint::Mdm => addresses::MDM,
        Endpoint::Cis => addresses::CIS,
        Endpoint::ScadaMaster => addresses::SCADA_MASTER,
        Endpoint::Rtu(f) => addresses::rtu(f),
        Endpoint::Collector(c) => addresses::collector(c),
        Endpoint::Meter(m) => addresses::meter(m),
        Endpoint::Workstation(a) => addresses::workstation(a),
        Endpoint::Outside(n) => addresses::outside(n),
    }
}

/// Whether outside host `n` was blocked by the firewall at microsecond `at`.
pub type Blocked<'a> = &'a dyn Fn(u32, u64) -> bool;

/// The flow records seen so far, as packets in wire order.
#[derive(Debug, Default)]
pub struct Tap {
    /// Records admitted so far.
    admitted: usize,
    /// Each record's pending segments, by record index.
    cursors: BTreeMap<usize, Cursor>,
    /// Records with pending segments, by the time of their next packet and their index.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// The next ephemeral port of each client host.
    ports: BTreeMap<u32, u16>,
    /// Whether segments carry their payloads' bytes ([`Tap::new`]) or only their headers,
    /// sequence numbers included ([`Tap::headers`]).
    payloads: bool,
}

impl Tap {
    /// A tap that has seen nothing, whose segments carry their payloads (for a capture file).
    pub fn new() -> Tap {
        Tap {
            payloads: true,
            ..Tap::default()
        }
    }

    /// A tap whose segments carry no payload bytes, the rest the same as [`Tap::new`]'s: what
    /// the IDS reads (it matches headers), without copying every upload's bytes.
    pub fn headers() -> Tap {
        Tap::default()
    }

    /// Takes in the records not yet admitted (`records[self.admitted..]`), then calls `sink`
    /// with every segment before `horizon` (microseconds), in wire order.
    pub fn read(&mut self, records: &[FlowRecord], blocked: Blocked<'_>, horizon: u64, sink: &mut dyn FnMut(&Segment)) {
        // Records are admitted in the order the engine recorded them (their ports are given
        // then), keyed by their start, a lower bound of their first packet: their packets are
        // produced only once they come up, so memory holds the records in flight, not the run.
        for (index, record) in records.iter().enumerate().skip(self.admitted) {
            let cursor = Cursor::new(index, record, &mut self.ports, blocked, self.payloads);
            self.heap.push(Reverse((record.time.0, index)));
            self.cursors.insert(index, cursor);
        }
        self.admitted = self.admitted.max(records.len());
        while let Some(&Reverse((t, index))) = self.heap.peek() {
            if t >= horizon {
                break;
            }
            self.heap.pop();
            let Some(cursor) = self.cursors.get_mut(&index) else {
                continue;
            };
            match cursor.next_time() {
                None => {
                    self.cursors.remove(&index);
                    continue;
                }
                Some(next) if next > t => {
                    self.heap.push(Reverse((next, index)));
                    continue;
                }
                Some(_) => {}
            }
            // The segment's packets that come before the next record's next packet (ties go to
            // the earlier record) and before the horizon.
            let (bound, bound_index) = self.heap.peek().map_or((u64::MAX, usize::MAX), |r| r.0);
            let Some(mut seg) = cursor.pending.pop_front() else {
                continue;
            };
            let step = u64::from(seg.flow.step_us);
            let k = u64::from(seg.flow.count);
            let before = |limit: u64, inclusive: bool| -> u64 {
                // Packets j with t_j < limit (or <= when inclusive).
                let start = seg.flow.time_us;
                if start > limit || (start == limit && !inclusive) {
                    return 0;
                }
                if step == 0 {
                    return k;
                }
                let span = limit - start;
                let n = if inclusive {
                    span / step + 1
                } else {
                    span.div_ceil(step)
                };
                n.min(k)
            };
            let take = before(bound, index < bound_index).min(before(horizon, false));
            if take < k {
                let rest = Segment {
                    flow: Flow {
                        time_us: seg.flow.time_us + take * step,
                        src_port: seg.flow.port(take),
                        count: (k - take) as u32,
                        ..seg.flow
                    },
                    seq: 0,
                    ..seg.clone()
                };
                seg.flow.count = take as u32;
                cursor.pending.push_front(rest);
            }
            if take > 0 {
                sink(&seg);
            }
            match cursor.next_time() {
                Some(t) => self.heap.push(Reverse((t, index))),
                None => {
                    self.cursors.remove(&index);
                }
            }
        }
    }
}

/// One record's segments still to come, produced a second at a time.
#[derive(Debug)]
struct Cursor {
    index: usize,
    record: FlowRecord,
    /// Per source host: blocked, and its first port for this record.
    hosts: Vec<(bool, u16)>,
    /// Connections of each source host already placed (for their ports).
    placed: Vec<u64>,
    /// The next second to produce.
    second: u64,
    pending: VecDeque<Segment>,
    /// Whether its segments carry payload bytes.
    payloads: bool,
}

impl Cursor {
    fn new(
        index: usize,
        record: &FlowRecord,
        ports: &mut BTreeMap<u32, u16>,
        blocked: Blocked<'_>,
        payloads: bool,
    ) -> Cursor {
        let sources = record.sources.max(1);
        let cells = u64::from(record.seconds.max(1)) * u64::from(sources);
        let base = record.connections / cells;
        let extra = record.connections % cells;
        let hosts = (0..sources)
            .map(|h| {
                let (ip, outside) = match record.src {
                    Endpoint::Outside(n) => (address(Endpoint::Outside(n + h)), Some(n + h)),
                    e => (address(e), None),
                };
                // Every cell of host h: seconds × (base + the remainder it gets).
                let mut total = base * u64::from(record.seconds.max(1));
                total += (0..u64::from(record.seconds.max(1)))
                    .filter(|s| gets_extra(s * u64::from(sources) + u64::from(h), extra, cells))
                    .count() as u64;
                let next = ports.entry(u32::from(ip)).or_insert(EPHEMERAL);
                let first = *next;
                *next = advance(first, total);
                let is_blocked = outside.is_some_and(|n| blocked(n, record.time.0));
                (is_blocked, first)
            })
            .collect();
        Cursor {
            index,
            record: record.clone(),
            hosts,
            placed: vec![0; sources as usize],
            second: 0,
            pending: VecDeque::new(),
            payloads,
        }
    }

    /// The time of the next packet, producing the next seconds as needed.
    fn next_time(&mut self) -> Option<u64> {
        while self.pending.is_empty() {
            if self.second >= u64::from(self.record.seconds.max(1)) {
                return None;
            }
            self.produce();
        }
        self.pending.front().map(|s| s.flow.time_us)
    }

    /// The segments of the next second.
    fn produce(&mut self) {
        let r = self.record.clone();
        let s = self.second;
        self.second += 1;
        let seconds = u64::from(r.seconds.max(1));
        let sources = u64::from(r.sources.max(1));
        let cells = seconds * sources;
        let base = r.connections / cells;
        let extra = r.connections % cells;
        let count = |h: u64| base + u64::from(gets_extra(s * sources + h, extra, cells));
        let total: u64 = (0..sources).map(count).sum();
        if total == 0 {
            return;
        }
        let step = (1_000_000 / total).min(u64::from(u32::MAX));
        let t0 = r.time.0 + s * 1_000_000;
        let dst = address(r.dst);
        let last_second = s + 1 == seconds;
        let mut j = 0u64;
        for h in 0..sources {
            let c = count(h);
            if c == 0 {
                continue;
            }
            let (is_blocked, first_port) = self.hosts[h as usize];
            let port0 = advance(first_port, self.placed[h as usize]);
            self.placed[h as usize] += c;
            let start = t0 + j * step;
            j += c;
            if is_blocked {
                continue;
            }
            let src = match r.src {
                Endpoint::Outside(n) => address(Endpoint::Outside(n + h as u32)),
                e => address(e),
            };
            // The record's very last attempt is the session, when it established.
            let session = r.established && !r.udp && last_second && h + 1 == sources;
            let syns = if session { c - 1 } else { c };
            if syns > 0 {
                self.pending.push_back(Segment {
                    flow: Flow {
                        time_us: start,
                        step_us: step as u32,
                        proto: if r.udp { Proto::Udp } else { Proto::Tcp },
                        src,
                        src_port: port0,
                        dst,
                        dst_port: r.port,
                        next_port: true,
                        to_server: true,
                        established: false,
                        first: true,
                        count: syns as u32,
                    },
                    flags: if r.udp { 0 } else { flags::SYN },
                    seq: 0,
                    ack: 0,
                    payload: if r.udp && self.payloads {
                        vec![0; usize::try_from(r.bytes).unwrap_or(0).min(MSS)]
                    } else {
                        Vec::new()
                    },
                    last: true,
                    record: self.index,
                });
            }
            if session {
                let t = start + syns * step;
                let port = advance(port0, syns);
                for seg in session_segments(self.index, &r, t, (src, port, dst), self.payloads) {
                    self.pending.push_back(seg);
                }
            }
        }
        // A session runs past its second; runs never overlap it in a record (its attempts come
        // last), but keep the queue in time order all the same.
        self.pending.make_contiguous().sort_by_key(|s| s.flow.time_us);
    }
}

/// Whether cell `c` of `cells` gets one of the `extra` attempts left over when they do not
/// divide evenly: every `cells / extra`-th cell, so the leftovers spread over the span rather
/// than bunch in its first seconds.
fn gets_extra(c: u64, extra: u64, cells: u64) -> bool {
    let at = |c: u64| u128::from(c) * u128::from(extra) / u128::from(cells.max(1));
    at(c + 1) > at(c)
}

/// `port` advanced by `n` within the ephemeral range.
fn advance(port: u16, n: u64) -> u16 {
    let span = u64::from(u16::MAX - EPHEMERAL) + 1;
    EPHEMERAL + ((u64::from(port.saturating_sub(EPHEMERAL)) + n) % span) as u16
}

/// Half a round trip between two hosts, in microseconds.
fn half_rtt(a: Ipv4Addr, b: Ipv4Addr) -> u64 {
    let inside = |ip: Ipv4Addr| ip.octets()[0] == 10 && !(ip.octets()[1] == 20 || ip.octets()[1] >= 64);
    if inside(a) && inside(b) {
        RTT_LAN_US / 2
    } else {
        RTT_WAN_US / 2
    }
}

/// One established TCP session of record `r` (at `record`), opened at `t` from `src:port` to
/// `dst`; with `payloads` false its segments carry no bytes (their sequence numbers still count
/// them).
fn session_segments(
    record: usize,
    r: &FlowRecord,
    t: u64,
    (src, port, dst): (Ipv4Addr, u16, Ipv4Addr),
    payloads: bool,
) -> Vec<Segment> {
    let half = half_rtt(src, dst);
    let mut out = Vec::new();
    let mut client_seq = syn_seq(t, port);
    let mut server_seq = syn_seq(t + half, r.port) ^ 0x5a5a_5a5a;
    let packet = |time_us: u64,
                  to_server: bool,
                  fl: u8,
                  seq: u32,
                  ack: u32,
                  payload: Vec<u8>,
                  established: bool,
                  first: bool| {
        let (s, sp, d, dp) = if to_server {
            (src, port, dst, r.port)
        } else {
            (dst, r.port, src, port)
        };
        Segment {
            flow: Flow {
                time_us,
                step_us: 0,
                proto: Proto::Tcp,
                src: s,
                src_port: sp,
                dst: d,
                dst_port: dp,
                next_port: false,
                to_server,
                established,
                first,
                count: 1,
            },
            flags: fl,
            seq,
            ack,
            payload,
            last: false,
            record,
        }
    };
    use flags::{ACK, FIN, PSH, SYN};
    out.push(packet(t, true, SYN, client_seq, 0, Vec::new(), false, true));
    client_seq = client_seq.wrapping_add(1);
    out.push(packet(
        t + half,
        false,
        SYN | ACK,
        server_seq,
        client_seq,
        Vec::new(),
        false,
        true,
    ));
    server_seq = server_seq.wrapping_add(1);
    let mut now = t + 2 * half;
    out.push(packet(now, true, ACK, client_seq, server_seq, Vec::new(), false, false));
    // The application's messages, each answered or acknowledged half a round trip later; a
    // segment from one side carries its next sequence number and acknowledges the other's.
    let mut seqs = [client_seq, server_seq];
    {
        let mut send = |out: &mut Vec<Segment>, time: u64, from_client: bool, fl: u8, payload: &[u8]| {
            let (mine, theirs) = if from_client { (0, 1) } else { (1, 0) };
            let len = payload.len() as u32;
            let payload = if payloads { payload.to_vec() } else { Vec::new() };
            out.push(packet(
                time,
                from_client,
                fl,
                seqs[mine],
                seqs[theirs],
                payload,
                true,
                false,
            ));
            seqs[mine] = seqs[mine].wrapping_add(len);
        };
        for (to_server, message) in exchange(r, src) {
            for (n, chunk) in message.chunks(MSS).enumerate() {
                // A long message is acknowledged every 16 segments (23 KiB), well inside the
                // receiver's window.
                if n > 0 && n % 16 == 0 {
                    now += half;
                    send(&mut out, now, !to_server, ACK, &[]);
                }
                now += 1;
                send(&mut out, now, to_server, PSH | ACK, chunk);
            }
            now += half;
            send(&mut out, now, !to_server, ACK, &[]);
        }
    }
    let [mut client_seq, mut server_seq] = seqs;
    // The client closes.
    now += 1;
    out.push(packet(
        now,
        true,
        FIN | ACK,
        client_seq,
        server_seq,
        Vec::new(),
        true,
        false,
    ));
    client_seq = client_seq.wrapping_add(1);
    now += half;
    out.push(packet(
        now,
        false,
        FIN | ACK,
        server_seq,
        client_seq,
        Vec::new(),
        true,
        false,
    ));
    server_seq = server_seq.wrapping_add(1);
    now += half;
    let mut close = packet(now, true, ACK, client_seq, server_seq, Vec::new(), true, false);
    close.last = true;
    out.push(close);
    out
}

/// The application's messages in a session of record `r`, in order: (from the client, bytes).
/// The client sends the record's bytes (at least the protocol's minimal exchange).
pub fn exchange(r: &FlowRecord, client: Ipv4Addr) -> Vec<(bool, Vec<u8>)> {
    let bytes = usize::try_from(r.bytes).unwrap_or(usize::MAX).min(64 << 20);
    match r.port {
        addresses::MQTT => {
            let id = format!("amirange-{client}");
            let topic = format!("ami/{client}/reads");
            let connect = mqtt::connect(&id);
            let disconnect = mqtt::disconnect();
            let fixed = connect.len() + disconnect.len() + mqtt::publish(&topic, 0).len();
            let publish = mqtt::publish(&topic, bytes.saturating_sub(fixed));
            vec![
                (true, connect),
                (false, mqtt::connack()),
                (true, publish),
                (true, disconnect),
            ]
        }
        addresses::HTTPS => {
            vec![
                (true, tls::application_data(bytes.max(64), r.time.0)),
                (false, tls::application_data(256, !r.time.0)),
            ]
        }
        addresses::DNP3 => vec![(true, dnp3::operate_request()), (false, dnp3::operate_response())],
        _ => vec![(true, vec![0; bytes.max(1)])],
    }
}

/// MQTT 3.1.1 control packets (OASIS MQTT 3.1.1, section 3).
mod mqtt {
    fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let mut byte = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if n == 0 {
                break;
            }
        }
    }

    fn string(s: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        remaining_length(body.len(), &mut out);
        out.extend_from_slice(body);
        out
    }

    /// CONNECT with a clean session, keep-alive 60 s, no credentials.
    pub fn connect(client_id: &str) -> Vec<u8> {
        let mut body = Vec::new();
        string("MQTT", &mut body);
        body.extend_from_slice(&[4, 0x02, 0, 60]);
        string(client_id, &mut body);
        packet(0x10, &body)
    }

    /// CONNACK: accepted, no session present.
    pub fn connack() -> Vec<u8> {
        packet(0x20, &[0, 0])
    }

    /// PUBLISH at QoS 0 with `len` bytes of payload (zeros: the content is not modelled).
    pub fn publish(topic: &str, len: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(topic.len() + 2 + len);
        string(topic, &mut body);
        body.resize(body.len() + len, 0);
        packet(0x30, &body)
    }

    /// DISCONNECT.
    pub fn disconnect() -> Vec<u8> {
        packet(0xe0, &[])
    }
}

/// TLS 1.2 application-data records (RFC 5246, section 6.2): ciphertext as the sensor sees it.
mod tls {
    /// Records of `len` bytes of ciphertext in all, at most 16 KiB each, the bytes drawn from
    /// `seed` (they stand for ciphertext; their content is not modelled).
    pub fn application_data(len: usize, seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 5 * (len / 16384 + 1));
        let mut x = seed | 1;
        let mut left = len;
        while left > 0 {
            let n = left.min(16384);
            out.extend_from_slice(&[23, 3, 3]);
            out.extend_from_slice(&(n as u16).to_be_bytes());
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push((x >> 24) as u8);
            }
            left -= n;
        }
        out
    }
}

/// DNP3 (IEEE 1815) link frames: a master's DIRECT OPERATE of a control relay output block
/// (trip) and the outstation's echo.
mod dnp3 {
    /// CRC-16/DNP of `data`, as the link layer appends it (little-endian).
    fn crc(data: &[u8]) -> [u8; 2] {
        let mut c: u16 = 0;
        for &b in data {
            c ^= u16::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xA6BC } else { c >> 1 };
            }
        }
        (!c).to_le_bytes()
    }

    /// A link frame from `src` to `dst` with control byte `control` carrying `user` data.
    fn frame(control: u8, dst: u16, src: u16, user: &[u8]) -> Vec<u8> {
        let mut header = vec![0x05, 0x64, (5 + user.len()) as u8, control];
        header.extend_from_slice(&dst.to_le_bytes());
        header.extend_from_slice(&src.to_le_bytes());
        let mut out = header.clone();
        out.extend_from_slice(&crc(&header));
        for block in user.chunks(16) {
            out.extend_from_slice(block);
            out.extend_from_slice(&crc(block));
        }
        out
    }

    /// The application fragment: transport header (FIR, FIN, seq 0), application control,
    /// function, then group 12 variation 1 (CROB), qualifier 0x28 (one index), index 0, trip.
    fn fragment(app_control: u8, function: u8, iin: Option<[u8; 2]>) -> Vec<u8> {
        let mut out = vec![0xC0, app_control, function];
        if let Some(iin) = iin {
            out.extend_from_slice(&iin);
        }
        out.extend_from_slice(&[12, 1, 0x28, 1, 0, 0, 0]);
        // Control code: latch off / trip (0x81 pulse-on trip), count 1, on 100 ms, off 0, status 0.
        out.extend_from_slice(&[0x81, 1, 100, 0, 0, 0, 0, 0, 0, 0, 0]);
        out
    }

    /// The master's DIRECT OPERATE (function 5), from master 1 to outstation 10.
    pub fn operate_request() -> Vec<u8> {
        frame(0xC4, 10, 1, &fragment(0xC0, 0x05, None))
    }

    /// The outstation's RESPONSE (function 0x81) echoing the block, status success.
    pub fn operate_response() -> Vec<u8> {
        frame(0x44, 1, 10, &fragment(0xC0, 0x81, Some([0, 0])))
    }
}

/// The link address of a host on the range: locally administered, its IPv4 address in it.
pub fn mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// One UDP datagram as an Ethernet frame between two link addresses (checksums filled), or
/// `None` for a payload too large for IPv4.
pub fn udp_frame(
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut frame = Vec::with_capacity(42 + payload.len());
    etherparse::PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1)
        .write(&mut frame, payload)
        .ok()?;
    Some(frame)
}

/// A segment's packets as Ethernet frames (IPv4, TCP or UDP, checksums filled), each with its
/// time in microseconds: what a capture file holds.
pub fn frames(seg: &Segment, out: &mut dyn FnMut(u64, &[u8])) {
    let mut buf = Vec::with_capacity(64 + seg.payload.len());
    for j in 0..u64::from(seg.flow.count) {
        let p = seg.flow.packet(j);
        buf.clear();
        let builder =
            etherparse::PacketBuilder::ethernet2(mac(p.src), mac(p.dst)).ipv4(p.src.octets(), p.dst.octets(), 64);
        let written = match p.proto {
            Proto::Udp => builder.udp(p.src_port, p.dst_port).write(&mut buf, &seg.payload),
            Proto::Tcp => {
                let seq = if seg.flow.next_port {
                    syn_seq(p.time_us, p.src_port)
                } else {
                    seg.seq
                };
                let mut b = builder.tcp(p.src_port, p.dst_port, seq, 64240);
                if seg.flags & flags::SYN != 0 {
                    b = b.syn();
                }
                if seg.flags & flags::ACK != 0 {
                    b = b.ack(seg.ack);
                }
                if seg.flags & flags::PSH != 0 {
                    b = b.psh();
                }
                if seg.flags & flags::FIN != 0 {
                    b = b.fin();
                }
                if seg.flags & flags::RST != 0 {
                    b = b.rst();
                }
                b.write(&mut buf, &seg.payload)
            }
        };
        // Writing into a vector fails only on a payload too large for IPv4, which the session
        // rendering never produces (segments are at most MSS bytes).
        if written.is_ok() {
            out(p.time_us, &buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amirange_sim::model::Cause;
    use amirange_sim::time::SimTime;

    fn record(
        time_s: u64,
        seconds: u32,
        src: Endpoint,
        sources: u32,
        connections: u64,
        established: bool,
    ) -> FlowRecord {
        FlowRecord {
            time: SimTime(time_s * 1_000_000),
            seconds,
            src,
            sources,
            dst: Endpoint::HesFrontEnd,
            port: addresses::MQTT,
            udp: false,
            connections,
            established,
            bytes: 2_000,
            cause: Cause::Operation,
        }
    }

    /// Every packet, as (time, source, port, flags), read with `horizons` in turn.
    fn packets(records: &[FlowRecord], blocked: Blocked<'_>, horizons: &[u64]) -> Vec<(u64, Ipv4Addr, u16, u8)> {
        let mut tap = Tap::new();
        let mut out = Vec::new();
        for &h in horizons {
            tap.read(records, blocked, h, &mut |seg| {
                for j in 0..u64::from(seg.flow.count) {
                    let p = seg.flow.packet(j);
                    out.push((p.time_us, p.src, p.src_port, seg.flags));
                }
            });
        }
        out
    }

    /// A flood minute from three hosts, with two uploads inside it recorded before it: the
    /// packets come in time order, each attempt from its host's next port, and reading in steps
    /// (records arriving as the horizon moves) gives the same packets as reading once.
    #[test]
    fn packets_come_in_time_order_whatever_the_steps() {
        let records = [
            record(10, 0, Endpoint::Collector(1), 1, 3, true),
            record(30, 0, Endpoint::Collector(2), 1, 1, true),
            record(0, 60, Endpoint::Outside(0), 3, 600, false),
        ];
        let none = |_: u32, _: u64| false;
        let once = packets(&records, &none, &[u64::MAX]);
        let syns = once.iter().filter(|p| p.3 == flags::SYN).count();
        // 600 flood attempts, 2 refused tries and 2 sessions' SYNs.
        assert_eq!(syns, 604);
        assert!(once.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        // The first flood host's first second: 3 attempts (600 over 180 cells of seconds and
        // hosts, the 60 left over at every third cell from the third: here host 2's, every
        // second), from consecutive ports.
        let first: Vec<u16> = once
            .iter()
            .filter(|p| p.1 == addresses::outside(0) && p.0 < 1_000_000)
            .map(|p| p.2)
            .collect();
        assert_eq!(first, (EPHEMERAL..EPHEMERAL + 3).collect::<Vec<_>>());
        for second in [0, 30, 59] {
            let of = |host: u32| {
                once.iter()
                    .filter(|p| p.1 == addresses::outside(host) && p.0 / 1_000_000 == second)
                    .count()
            };
            assert_eq!(
                (of(0), of(1), of(2)),
                (3, 3, 4),
                "second {second}: the leftovers spread over the minute"
            );
        }
        // In steps: the flood's record arrives last, but the horizon held everything after its
        // start back until then.
        let mut tap = Tap::new();
        let mut stepped = Vec::new();
        let mut collect = |seg: &Segment| {
            for j in 0..u64::from(seg.flow.count) {
                let p = seg.flow.packet(j);
                stepped.push((p.time_us, p.src, p.src_port, seg.flags));
            }
        };
        tap.read(&records[..1], &none, 0, &mut collect);
        tap.read(&records[..2], &none, 0, &mut collect);
        tap.read(&records, &none, 45_000_000, &mut collect);
        tap.read(&records, &none, u64::MAX, &mut collect);
        assert_eq!(stepped, once);
    }

    /// A headers-only tap (the IDS's) gives the same segments as a full one (the capture's),
    /// sequence numbers included, without their payload bytes.
    #[test]
    fn a_headers_only_tap_differs_only_by_the_payloads() {
        let mut records = vec![
            record(5, 0, Endpoint::Collector(1), 1, 1, true),
            record(2, 3, Endpoint::Outside(0), 4, 200, false),
        ];
        records[0].bytes = 40_000;
        let read = |mut tap: Tap| {
            let mut segs = Vec::new();
            tap.read(&records, &|_, _| false, u64::MAX, &mut |s| segs.push(s.clone()));
            segs
        };
        let (full, headers) = (read(Tap::new()), read(Tap::headers()));
        assert_eq!(full.len(), headers.len());
        assert!(
            full.iter().any(|s| s.payload.len() > 1_000),
            "a full segment carries bytes"
        );
        assert!(headers.iter().all(|s| s.payload.is_empty()));
        for (f, h) in full.iter().zip(&headers) {
            let mut f = f.clone();
            f.payload.clear();
            assert_eq!(&f, h);
        }
    }

    /// Hosts the firewall had blocked when a record began are not seen; the others are.
    #[test]
    fn blocked_hosts_are_not_seen() {
        let records = [record(0, 2, Endpoint::Outside(0), 4, 80, false)];
        let blocked = |host: u32, _: u64| host == 1 || host == 2;
        let seen = packets(&records, &blocked, &[u64::MAX]);
        assert_eq!(seen.len(), 40);
        assert!(
            seen.iter()
                .all(|p| p.1 == addresses::outside(0) || p.1 == addresses::outside(3))
        );
    }

    /// A session's packets: handshake, MQTT messages with acknowledgements, close; its flow
    /// state as Suricata gives it.
    #[test]
    fn a_session_has_its_handshake_messages_and_close() {
        let records = [record(5, 0, Endpoint::Collector(1), 1, 1, true)];
        let mut segs = Vec::new();
        Tap::new().read(&records, &|_, _| false, u64::MAX, &mut |s| segs.push(s.clone()));
        let kinds: Vec<(bool, u8, bool, bool)> = segs
            .iter()
            .map(|s| (s.flow.to_server, s.flags, s.flow.established, s.flow.first))
            .collect();
        use flags::{ACK, FIN, PSH, SYN};
        assert_eq!(
            kinds[..3],
            [
                (true, SYN, false, true),
                (false, SYN | ACK, false, true),
                (true, ACK, false, false)
            ]
        );
        assert_eq!(kinds[3], (true, PSH | ACK, true, false), "CONNECT");
        assert_eq!(segs[3].payload[0], 0x10, "an MQTT CONNECT");
        assert_eq!(kinds.last(), Some(&(true, ACK, true, false)));
        assert!(segs.last().is_some_and(|s| s.last));
        assert!(kinds.contains(&(true, FIN | ACK, true, false)));
        assert!(segs.windows(2).all(|w| w[0].flow.time_us <= w[1].flow.time_us));
    }
}
