//! `flows.csv`: one row per flow of the capture (`traffic.pcapng`), with features that need no
//! payload and ground-truth labels, the table an intrusion-detection model trains on.
//!
//! A flow is one TCP connection (or UDP exchange) as `defenses::wire` renders it: each
//! unanswered attempt is a flow of one SYN, each session a flow of its handshake, messages and
//! close. Every flow comes from one flow record of the engine, made for one cause (an attack or
//! the utility's operations), so no flow mixes benign and attack packets at this capture point.
//! Rows come in the order flows end on the wire. The columns are [`HEADER`]; docs/traffic.md
//! explains each.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;

use amirange_defenses::ids::Proto;
use amirange_defenses::wire::{Segment, flags};
use amirange_sim::model::Cause;
use amirange_sim::records::FlowRecord;
use amirange_sim::time::{CivilDateTime, SimDuration};
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::scenario::Scenario;

/// The flow table's file name in a result folder.
pub const FILE: &str = "flows.csv";

/// The columns of `flows.csv`.
pub const HEADER: [&str; 34] = [
    "flow_id",
    "community_id",
    "first_seen",
    "last_seen",
    "duration_s",
    "protocol",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "established",
    "fwd_packets",
    "bwd_packets",
    "fwd_bytes",
    "bwd_bytes",
    "fwd_payload_bytes",
    "bwd_payload_bytes",
    "fwd_packet_len_max",
    "bwd_packet_len_max",
    "flow_iat_mean_s",
    "flow_iat_max_s",
    "syn_count",
    "fin_count",
    "rst_count",
    "psh_count",
    "ack_count",
    "label",
    "category",
    "specific_class",
    "attack_id",
    "technique",
    "technique_name",
    "stride",
    "kill_chain",
];

/// The Community ID v1 of a flow (corelight/community-id-spec, seed 0): `1:` and the base64 of
/// the SHA-1 of seed, the smaller endpoint's address, the other's, the protocol, a zero byte and
/// the two ports in the same order.
pub fn community_id(proto: u8, a: Ipv4Addr, a_port: u16, b: Ipv4Addr, b_port: u16) -> String {
    let ((a, ap), (b, bp)) = if (a, a_port) <= (b, b_port) {
        ((a, a_port), (b, b_port))
    } else {
        ((b, b_port), (a, a_port))
    };
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    h.update(a.octets());
    h.update(b.octets());
    h.update([proto, 0]);
    h.update(ap.to_be_bytes());
    h.update(bp.to_be_bytes());
    format!("1:{}", base64::engine::general_purpose::STANDARD.encode(h.finalize()))
}

/// What one attack's flows are labelled with.
#[derive(Debug, Clone)]
struct AttackLabel {
    id: String,
    category: &'static str,
    kind: &'static str,
    technique: &'static str,
    technique_name: &'static str,
    stride: &'static str,
    kill_chain: &'static str,
}

/// A flow being put together.
#[derive(Debug, Clone)]
struct Open {
    first_us: u64,
    last_us: u64,
    proto: Proto,
    client: (Ipv4Addr, u16),
    server: (Ipv4Addr, u16),
    established: bool,
    packets: [u64; 2],
    bytes: [u64; 2],
    payload: [u64; 2],
    max_len: [u64; 2],
    iat_max_us: u64,
    flag_counts: [u64; 5],
    cause: Cause,
}

/// Rows of `flows.csv`, written as the wire's segments arrive.
pub struct FlowTable<W: Write> {
    out: csv::Writer<W>,
    labels: Vec<AttackLabel>,
    start: CivilDateTime,
    open: BTreeMap<(u8, Ipv4Addr, u16, Ipv4Addr, u16), Open>,
    next_id: u64,
    /// One field's text, reused.
    buf: String,
    /// Flows written, benign and attack.
    pub counts: [u64; 2],
    /// Flows written per `specific_class` (`benign` or the attack kind).
    pub classes: BTreeMap<String, u64>,
}

impl<W: Write> FlowTable<W> {
    /// A table for `scenario`'s run, its header written to `out`.
    pub fn new(out: W, scenario: &Scenario) -> csv::Result<FlowTable<W>> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(HEADER)?;
        let labels = scenario
            .attacks
            .iter()
            .map(|a| {
                let tags = a.tags();
                AttackLabel {
                    id: a.header().id.clone(),
                    category: category(tags.stride),
                    kind: tags.kind,
                    technique: tags.technique.id,
                    technique_name: tags.technique.name,
                    stride: tags.stride.name(),
                    kill_chain: amirange_attackers::tags::technique_tactics(tags.technique.id).unwrap_or(""),
                }
            })
            .collect();
        Ok(FlowTable {
            out,
            labels,
            start: scenario.sim.start,
            open: BTreeMap::new(),
            next_id: 0,
            buf: String::new(),
            classes: BTreeMap::new(),
            counts: [0, 0],
        })
    }

    /// Takes in one segment of the wire (of `records`, the run's flow records).
    pub fn segment(&mut self, seg: &Segment, records: &[FlowRecord]) -> csv::Result<()> {
        let cause = records.get(seg.record).map_or(Cause::Operation, |r| r.cause);
        let f = &seg.flow;
        let header = match f.proto {
            Proto::Tcp => 40,
            Proto::Udp => 28,
        };
        let length = header + seg.payload.len() as u64;
        for j in 0..u64::from(f.count) {
            let p = f.packet(j);
            if f.next_port && seg.last {
                // Each packet of a run of attempts is a whole flow: no need to keep it open.
                let mut flag_counts = [0; 5];
                for (i, bit) in [flags::SYN, flags::FIN, flags::RST, flags::PSH, flags::ACK]
                    .into_iter()
                    .enumerate()
                {
                    flag_counts[i] = u64::from(seg.flags & bit != 0);
                }
                let way = usize::from(!p.to_server);
                let one = |v: u64| {
                    let mut a = [0; 2];
                    a[way] = v;
                    a
                };
                let flow = Open {
                    first_us: p.time_us,
                    last_us: p.time_us,
                    proto: p.proto,
                    client: (p.src, p.src_port),
                    server: (p.dst, p.dst_port),
                    established: p.established,
                    packets: one(1),
                    bytes: one(length),
                    payload: one(seg.payload.len() as u64),
                    max_len: one(length),
                    iat_max_us: 0,
                    flag_counts,
                    cause,
                };
                self.write(&flow)?;
                continue;
            }
            let (client, server) = if p.to_server {
                ((p.src, p.src_port), (p.dst, p.dst_port))
            } else {
                ((p.dst, p.dst_port), (p.src, p.src_port))
            };
            let key = (u8::from(p.proto == Proto::Udp), client.0, client.1, server.0, server.1);
            let way = usize::from(!p.to_server);
            let flow = self.open.entry(key).or_insert_with(|| Open {
                first_us: p.time_us,
                last_us: p.time_us,
                proto: p.proto,
                client,
                server,
                established: false,
                packets: [0; 2],
                bytes: [0; 2],
                payload: [0; 2],
                max_len: [0; 2],
                iat_max_us: 0,
                flag_counts: [0; 5],
                cause,
            });
            if flow.packets[0] + flow.packets[1] > 0 {
                flow.iat_max_us = flow.iat_max_us.max(p.time_us - flow.last_us);
            }
            flow.last_us = p.time_us;
            flow.established |= p.established;
            flow.packets[way] += 1;
            flow.bytes[way] += length;
            flow.payload[way] += seg.payload.len() as u64;
            flow.max_len[way] = flow.max_len[way].max(length);
            for (i, bit) in [flags::SYN, flags::FIN, flags::RST, flags::PSH, flags::ACK]
                .into_iter()
                .enumerate()
            {
                flow.flag_counts[i] += u64::from(seg.flags & bit != 0);
            }
            if seg.last
                && let Some(done) = self.open.remove(&key)
            {
                self.write(&done)?;
            }
        }
        Ok(())
    }

    /// Writes the flows still open (none, when every session closed before the horizon) and
    /// gives the writer back.
    pub fn finish(mut self) -> Result<W, csv::Error> {
        let open = std::mem::take(&mut self.open);
        let mut rest: Vec<Open> = open.into_values().collect();
        rest.sort_by_key(|f| (f.last_us, f.first_us, f.client, f.server));
        for f in &rest {
            self.write(f)?;
        }
        self.out.into_inner().map_err(|e| e.into_error().into())
    }

    fn write(&mut self, f: &Open) -> csv::Result<()> {
        use std::fmt::Write as _;
        let id = self.next_id;
        self.next_id += 1;
        let proto: u8 = match f.proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        };
        let label = match f.cause {
            Cause::Attack(k) => self.labels.get(usize::from(k)),
            _ => None,
        };
        self.counts[usize::from(label.is_some())] += 1;
        let class = label.map_or("benign", |l| l.kind);
        match self.classes.get_mut(class) {
            Some(n) => *n += 1,
            None => {
                self.classes.insert(class.to_owned(), 1);
            }
        }
        let packets = f.packets[0] + f.packets[1];
        let duration = f.last_us - f.first_us;
        let iat_mean_us = if packets > 1 {
            duration as f64 / (packets - 1) as f64
        } else {
            0.0
        };
        let start = self.start;
        let out = &mut self.out;
        let buf = &mut self.buf;
        // Each field is formatted into one reused buffer: a flood writes millions of rows.
        let mut field = |args: std::fmt::Arguments<'_>| -> csv::Result<()> {
            buf.clear();
            // Formatting into a String cannot fail.
            let _ = buf.write_fmt(args);
            out.write_field(buf.as_bytes())
        };
        let time = |us: u64| {
            (
                start.plus(SimDuration::from_micros(us - us % 1_000_000)),
                us % 1_000_000,
            )
        };
        let (first, first_frac) = time(f.first_us);
        let (last, last_frac) = time(f.last_us);
        field(format_args!("{id}"))?;
        field(format_args!(
            "{}",
            community_id(proto, f.client.0, f.client.1, f.server.0, f.server.1)
        ))?;
        field(format_args!("{first}.{first_frac:06}"))?;
        field(format_args!("{last}.{last_frac:06}"))?;
        field(format_args!("{}.{:06}", duration / 1_000_000, duration % 1_000_000))?;
        field(format_args!("{proto}"))?;
        field(format_args!("{}", f.client.0))?;
        field(format_args!("{}", f.client.1))?;
        field(format_args!("{}", f.server.0))?;
        field(format_args!("{}", f.server.1))?;
        field(format_args!("{}", f.established))?;
        for n in [
            f.packets[0],
            f.packets[1],
            f.bytes[0],
            f.bytes[1],
            f.payload[0],
            f.payload[1],
            f.max_len[0],
            f.max_len[1],
        ] {
            field(format_args!("{n}"))?;
        }
        field(format_args!("{:.6}", iat_mean_us / 1e6))?;
        field(format_args!(
            "{}.{:06}",
            f.iat_max_us / 1_000_000,
            f.iat_max_us % 1_000_000
        ))?;
        for n in f.flag_counts {
            field(format_args!("{n}"))?;
        }
        match label {
            Some(l) => {
                for text in [
                    "attack",
                    l.category,
                    l.kind,
                    l.id.as_str(),
                    l.technique,
                    l.technique_name,
                    l.stride,
                    l.kill_chain,
                ] {
                    out.write_field(text)?;
                }
            }
            None => {
                for text in ["benign", "benign", "benign", "", "", "", "", ""] {
                    out.write_field(text)?;
                }
            }
        }
        out.write_record(None::<&[u8]>)
    }
}

/// The intrusion-detection category of an attack of this STRIDE category (the names CIC-style
/// datasets use where there is one).
fn category(stride: amirange_attackers::tags::Stride) -> &'static str {
    use amirange_attackers::tags::Stride;
    match stride {
        Stride::Spoofing => "Spoofing",
        Stride::Tampering => "Tampering",
        Stride::Repudiation => "Repudiation",
        Stride::InformationDisclosure => "Exfiltration",
        Stride::DenialOfService => "DoS",
        Stride::ElevationOfPrivilege => "Privilege escalation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's own examples (community-id-spec's baseline for tcp.pcap): a flow and its
    /// reverse have the same id.
    #[test]
    fn community_id_matches_the_spec_baseline() {
        let a: Ipv4Addr = "128.232.110.120".parse().expect("address");
        let b: Ipv4Addr = "66.35.250.204".parse().expect("address");
        assert_eq!(community_id(6, a, 34855, b, 80), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(6, b, 80, a, 34855), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }
}
