//! `field.pcapng`: the field networks of chosen collectors as a radio sniffer beside each
//! collector would capture them, with DLMS/COSEM APDUs real tools decode, and
//! `field-keys.csv`, the keys that decrypt them.
//!
//! [`FieldCapture`] is an [`IntervalObserver`] that asks the engine to log every read attempt
//! through its collectors ([`Sim::read_log`]). At each read cycle's close it renders the
//! cycle's exchanges, each a UDP datagram between the collector (or cellular tower) and the
//! meter on the range's address plan, port 4059, carrying the DLMS/COSEM wrapper:
//!
//! - the collector's `get-request` for the load profile's buffer by range (the cycle's
//!   intervals), when it reaches the meter in its polling queue;
//! - the meter's `get-response`, answered by the same COSEM object model the live DLMS
//!   gateway serves ([`crate::cosem::EngineMeter`]), when the path's random round trip has
//!   passed; a request whose radio exchange was lost goes unanswered;
//! - ciphered with security suite 0 (`glo-get-request`/`glo-get-response`, authenticated and
//!   encrypted, AES-GCM-128) with the meter's keys and each side's own invocation counter, as
//!   in the field; a meter a protocol downgrade forced back to the legacy level answers in
//!   clear;
//! - a rogue concentrator the meter attached to relays the exchange: its frames carry the
//!   rogue's link address, and what it sends on is what its action says (nothing when it
//!   drops, the answer late when it delays, altered bytes when it alters).
//!
//! Collectors keep their associations open between cycles (no AARQ per read). Packets an
//! attack caused or shaped carry a pcapng comment naming the attack (`attack <id> <kind>`);
//! packets without one are benign. The file is streamed: packets are written once no later
//! exchange can precede them, in (time, collector, meter) order, so a run on any number of
//! threads writes the same bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use amirange_defenses::addresses;
use amirange_defenses::wire::{self, mac};
use amirange_dlms::apdu::{Apdu, AttributeDescriptor, GetResult, SelectiveAccess};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::server::{Caller, Objects, Rights};
use amirange_dlms::wrapper::{self, Addresses};
use amirange_sim::config::INTERVAL;
use amirange_sim::dataplane::ReadRecord;
use amirange_sim::engine::{IntervalClose, IntervalObserver, Sim};
use amirange_sim::hes::CommandKind;
use amirange_sim::model::Cause;
use amirange_sim::network::{Fate, Intercept, LossReason, NONE};
use amirange_sim::records::FieldEventKind;
use amirange_sim::time::SimTime;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};

use crate::cosem::{EngineMeter, date_time, meter_keys, meter_system_title};
use crate::scenario::Scenario;

/// The capture's file name in a result folder.
pub const FILE: &str = "field.pcapng";

/// The key log's file name in a result folder.
pub const KEYS_FILE: &str = "field-keys.csv";

/// The key log's columns.
pub const KEYS_HEADER: [&str; 6] = [
    "meter",
    "system_title",
    "from",
    "encryption_key",
    "authentication_key",
    "security_suite",
];

/// The invoke-id-and-priority byte of the collectors' requests (invoke id 1, confirmed, high
/// priority).
const INVOKE: u8 = 0xC1;

/// The client wPort collectors read with (the management client).
const CLIENT_WPORT: u16 = 1;

/// Authenticated and encrypted (security control of suite 0 with both bits).
const PROTECTION: u8 = amirange_dlms::security::AUTHENTICATED | amirange_dlms::security::ENCRYPTED;

/// The system title of collector (or tower) `c`: "AMC" and the index in five bytes.
pub fn collector_system_title(c: u32) -> [u8; 8] {
    let n = u64::from(c).to_be_bytes();
    [b'A', b'M', b'C', n[3], n[4], n[5], n[6], n[7]]
}

/// Checks that `network` has every collector in `collectors`.
pub fn check_collectors(collectors: &[u32], network: &amirange_sim::network::Network) -> Result<(), FieldError> {
    let n = network.collectors.len();
    match collectors.iter().find(|&&c| c as usize >= n) {
        Some(&collector) => Err(FieldError::NoCollector {
            collector,
            collectors: n,
        }),
        None => Ok(()),
    }
}

/// The collectors `scenario`'s field capture covers on `network` (named, and those of its
/// area), checked.
pub fn resolve_collectors(
    scenario: &Scenario,
    network: &amirange_sim::network::Network,
) -> Result<Vec<u32>, FieldError> {
    let collectors = scenario
        .field_capture
        .resolve(network)
        .map_err(|message| FieldError::Area { message })?;
    if collectors.is_empty() {
        return Err(FieldError::Area {
            message: "the area holds no collector: widen `radius_m` or move `center`".to_owned(),
        });
    }
    check_collectors(&collectors, network)?;
    Ok(collectors)
}

/// An error writing the field capture.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    /// A file could not be created, written or synced.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A collector index the network does not have.
    #[error("field capture: collector {collector} does not exist (the network has {collectors}: 0 to {last})", last = collectors.saturating_sub(1))]
    NoCollector {
        /// The index asked for.
        collector: u32,
        /// Collectors in the network.
        collectors: usize,
    },
    /// The area of `field_capture` does not resolve on the network.
    #[error("field_capture.area: {message}")]
    Area {
        /// Why.
        message: String,
    },
    /// The run ended before the capture was finished, or it was finished twice.
    #[error("{FILE} was already finished")]
    Finished,
}

/// What a field capture wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldStats {
    /// Packets written.
    pub packets: u64,
    /// Bytes of packet data (frames, without the file's block overhead).
    pub frame_bytes: u64,
    /// Read exchanges (requests), answered or not.
    pub exchanges: u64,
    /// Meters whose keys the key log holds.
    pub keyed_meters: u64,
    /// Time spent rendering and writing, during the run and at its end.
    pub render: Duration,
}

/// A packet waiting for its turn: written once no later exchange can precede it.
struct Pending {
    time_us: u64,
    /// Rendering order, the tie-break.
    order: u64,
    frame: Vec<u8>,
    /// The attack it belongs to, by code (0: benign).
    attack: u8,
}

/// The key log: per meter, the key version last written.
type KeyVersions = BTreeMap<u32, u16>;

struct State {
    writer: Option<PcapNgWriter<BufWriter<File>>>,
    keys: Option<csv::Writer<BufWriter<File>>>,
    path: PathBuf,
    keys_path: PathBuf,
    /// Microseconds from the Unix epoch to the run's start.
    epoch_us: u64,
    pending: Vec<Pending>,
    order: u64,
    /// Per meter: the meter's and its poller's invocation counters.
    counters: BTreeMap<u32, [u32; 2]>,
    key_versions: KeyVersions,
    /// Whether each collector is captured, by index (sized at the first close).
    watched: Vec<bool>,
    /// Messages of the run's records taken so far.
    next_message: usize,
    /// Messages taken whose command has not yet executed or given up, by index.
    waiting: Vec<usize>,
    /// Field events of the run's records rendered so far.
    next_event: usize,
    /// Relay commands as sent, by (meter, frame counter): what a replay sends again.
    relay_frames: BTreeMap<(u32, u32), Vec<u8>>,
    /// `attack <id> <kind>` by attack code - 1.
    attacks: Vec<String>,
    /// Packets timed outside `[from, until)` are left out, µs since the start.
    window: (u64, u64),
    stats: FieldStats,
    error: Option<FieldError>,
    checked: bool,
}

/// The field capture (see the module's documentation). Add it to the engine with
/// [`Sim::add_interval_observer`] before the run, and call [`FieldCapture::finish`] after it.
pub struct FieldCapture {
    collectors: Vec<u32>,
    state: Mutex<State>,
}

impl FieldCapture {
    /// A capture of `collectors`' field networks into `dir` (the files created or replaced).
    pub fn create(dir: &Path, scenario: &Scenario, collectors: &[u32]) -> Result<FieldCapture, FieldError> {
        let path = dir.join(FILE);
        let keys_path = dir.join(KEYS_FILE);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source: std::io::Error| FieldError::Io { path, source }
        };
        let file = File::create(&path).map_err(io(&path))?;
        let writer = begin(BufWriter::with_capacity(1 << 20, file), collectors).map_err(|e| pcap_error(e, &path))?;
        let keys_file = File::create(&keys_path).map_err(io(&keys_path))?;
        let mut keys = csv::Writer::from_writer(BufWriter::new(keys_file));
        keys.write_record(KEYS_HEADER).map_err(|e| csv_error(e, &keys_path))?;
        let attacks = scenario
            .attacks
            .iter()
            .map(|a| format!("attack {} {}", a.id(), a.tags().kind))
            .collect();
        let mut collectors = collectors.to_vec();
        collectors.sort_unstable();
        collectors.dedup();
        Ok(FieldCapture {
            collectors,
            state: Mutex::new(State {
                writer: Some(writer),
                keys: Some(keys),
                path,
                keys_path,
                epoch_us: u64::try_from(scenario.sim.start.unix_seconds()).unwrap_or(0) * 1_000_000,
                pending: Vec::new(),
                order: 0,
                counters: BTreeMap::new(),
                key_versions: BTreeMap::new(),
                watched: Vec::new(),
                next_message: 0,
                waiting: Vec::new(),
                next_event: 0,
                relay_frames: BTreeMap::new(),
                attacks,
                window: (
                    scenario.field_capture.from.map_or(0, |t| t.0),
                    scenario.field_capture.until.map_or(u64::MAX, |t| t.0),
                ),
                stats: FieldStats::default(),
                error: None,
                checked: false,
            }),
        })
    }

    /// Writes what is still pending and closes both files (synced).
    pub fn finish(&self) -> Result<FieldStats, FieldError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let started = std::time::Instant::now();
        state.flush_before(u64::MAX);
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        let (Some(writer), Some(keys)) = (state.writer.take(), state.keys.take()) else {
            return Err(FieldError::Finished);
        };
        let file = writer
            .into_inner()
            .into_inner()
            .map_err(|e| io_error(e.into_error(), &state.path))?;
        file.sync_all().map_err(|e| io_error(e, &state.path))?;
        let file = keys
            .into_inner()
            .map_err(|e| io_error(e.into_error(), &state.keys_path))?
            .into_inner()
            .map_err(|e| io_error(e.into_error(), &state.keys_path))?;
        file.sync_all().map_err(|e| io_error(e, &state.keys_path))?;
        state.stats.render += started.elapsed();
        Ok(state.stats)
    }
}

impl IntervalObserver for FieldCapture {
    fn interval_closed(&mut self, sim: &Sim, close: IntervalClose) {
        let collectors = &self.collectors;
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if state.error.is_some() || state.writer.is_none() {
            return;
        }
        if !state.checked {
            state.checked = true;
            if let Err(e) = check_collectors(collectors, sim.network()) {
                state.error = Some(e);
                return;
            }
            state.watched = vec![false; sim.network().collectors.len()];
            for &c in collectors {
                state.watched[c as usize] = true;
            }
        }
        let started = std::time::Instant::now();
        let close_us = u64::from(close.slot + 1) * INTERVAL.as_micros();
        state.commands(sim, close_us);
        state.field_events(sim);
        // Every exchange still to come starts at this close or later, but for commands on
        // their way whose execution is not known yet.
        let records = &sim.records().messages;
        let bound = state
            .waiting
            .iter()
            .map(|&k| command_time(&records[k]))
            .min()
            .unwrap_or(u64::MAX)
            .min(close_us);
        state.flush_before(bound);
        if !close.cycle_closed {
            state.stats.render += started.elapsed();
            return;
        }
        let cycle = sim.config().read_cycle_intervals;
        let first = (close.slot + 1).saturating_sub(cycle);
        let civil = |slot: u32| {
            sim.config()
                .start
                .plus(SimTime(u64::from(slot) * INTERVAL.as_micros()).since_start())
        };
        // The intervals of the cycle, by the ends of its first and last.
        let access = range(civil(first + 1), civil(close.slot + 1));
        // Meters' reads by collector, then meter: the order packets at one instant keep.
        let mut log: Vec<&ReadRecord> = sim.read_log().iter().collect();
        log.sort_by_key(|r| (r.collector, r.meter, r.fallback));
        for r in log {
            state.exchange(sim, close_us, r, &access);
        }
        state.stats.render += started.elapsed();
    }

    fn watches_reads(&self) -> &[u32] {
        &self.collectors
    }
}

/// Selective access by range over the load profile's clock column, `from` to `to`.
fn range(from: amirange_sim::time::CivilDateTime, to: amirange_sim::time::CivilDateTime) -> SelectiveAccess {
    crate::cosem::by_range(
        Data::OctetString(date_time(from).to_vec()),
        Data::OctetString(date_time(to).to_vec()),
    )
}

/// When a command's request is on the field network: its arrival at the meter, or (lost
/// there) when the HES sent it.
fn command_time(m: &amirange_sim::records::MessageRecord) -> u64 {
    match m.fate {
        Fate::Delivered { at, .. } => at.0,
        Fate::Lost(_) => m.sent.0,
    }
}

impl State {
    /// The captured collector meter `m` is on (its current path's, or its home collector when
    /// it has no path), if it is captured.
    fn collector_of(&self, sim: &Sim, m: u32) -> Option<u32> {
        let net = sim.net_state();
        let c = match net.paths.get(m as usize).map(|p| p.collector) {
            Some(c) if c != NONE => c,
            _ => net.home_collector.get(m as usize).copied()?,
        };
        self.watched.get(c as usize).copied().unwrap_or(false).then_some(c)
    }

    /// Takes the messages sent since the last close and renders the relay commands among
    /// them, each once its meter has executed it or will not.
    fn commands(&mut self, sim: &Sim, close_us: u64) {
        let records = &sim.records().messages;
        for (k, m) in records.iter().enumerate().skip(self.next_message) {
            let relay = m.job.is_some_and(|job| {
                let hes = sim.hes();
                let kind = hes.audit[hes.jobs[job as usize].command as usize].kind;
                matches!(kind, CommandKind::Connect | CommandKind::Disconnect)
            });
            let on_air = matches!(
                m.fate,
                Fate::Delivered { .. } | Fate::Lost(LossReason::Link | LossReason::Intercepted)
            );
            if relay && on_air && self.collector_of(sim, m.meter).is_some() {
                self.waiting.push(k);
            }
        }
        self.next_message = records.len();
        let security = &sim.config().security;
        let budget_us = (security.relay_delay + security.random_delay_max).as_micros();
        let waiting = std::mem::take(&mut self.waiting);
        for k in waiting {
            let m = &records[k];
            let job = &sim.hes().jobs[m.job.unwrap_or_default() as usize];
            let time = command_time(m);
            let executed = job.executed.filter(|t| (time..=time + budget_us).contains(&t.0));
            // Executed (or not) within the meter's delay budget, or lost on the way.
            let resolved =
                executed.is_some() || time + budget_us < close_us || !matches!(m.fate, Fate::Delivered { .. });
            if resolved {
                self.command(sim, m, executed.map(|t| t.0));
            } else {
                self.waiting.push(k);
            }
        }
    }

    /// Renders one relay command's request and, when the meter executed it (at `executed`)
    /// or refused it, its answer.
    fn command(&mut self, sim: &Sim, m: &amirange_sim::records::MessageRecord, executed: Option<u64>) {
        let Some(c) = self.collector_of(sim, m.meter) else {
            return;
        };
        let hes = sim.hes();
        let job = &hes.jobs[m.job.unwrap_or_default() as usize];
        let audit = &hes.audit[job.command as usize];
        let method = if matches!(audit.kind, CommandKind::Connect) {
            2
        } else {
            1
        };
        let attack = amirange_sim::model::attack_code(audit.cause.attack());
        let keys = self.keys_of(sim, m.meter, m.sent.0);
        // The frame counter the meter accepted it under, when this attempt is the one it
        // executed; otherwise the meter's next.
        let frame = match executed {
            Some(_) => job.frame,
            None => sim
                .fleet()
                .frame_counter
                .get(m.meter as usize)
                .copied()
                .unwrap_or(0)
                .wrapping_add(1),
        };
        let request = relay_request(keys.as_ref(), &collector_system_title(c), frame, method);
        if executed.is_some() {
            self.relay_frames.insert((m.meter, frame), request.clone());
        }
        let (collector, meter) = (
            (addresses::collector(c), CLIENT_WPORT),
            (addresses::meter(m.meter), wrapper::MANAGEMENT_DEVICE),
        );
        let time = command_time(m);
        self.datagram(time, collector, meter, &request, None, attack);
        let answer = match (executed, job.rejected) {
            (Some(at), _) => Some((at, amirange_dlms::apdu::ResultCode::SUCCESS)),
            (None, true) if matches!(m.fate, Fate::Delivered { .. }) => {
                Some((time, amirange_dlms::apdu::ResultCode::READ_WRITE_DENIED))
            }
            _ => None,
        };
        if let Some((at, result)) = answer {
            let bytes = self.meter_answer(m.meter, keys.as_ref(), result);
            self.datagram(at, meter, collector, &bytes, None, attack);
        }
    }

    /// The meter's answer to an action, protected as the meter protects its APDUs.
    fn meter_answer(
        &mut self,
        m: u32,
        keys: Option<&amirange_dlms::security::Keys>,
        result: amirange_dlms::apdu::ResultCode,
    ) -> Vec<u8> {
        let ic = {
            let c = self.counters.entry(m).or_insert([0, 0]);
            c[0] = c[0].wrapping_add(1);
            c[0]
        };
        let answer = Apdu::ActionResponse {
            invoke: INVOKE,
            result,
            returned: None,
        }
        .to_bytes();
        protect(keys, &meter_system_title(m), ic, answer)
    }

    /// Meter `m`'s keys when it ciphers (not downgraded), logged in the key log.
    fn keys_of(&mut self, sim: &Sim, m: u32, at_us: u64) -> Option<amirange_dlms::security::Keys> {
        let ciphered = sim.fleet().downgraded_by.get(m as usize).is_some_and(|&by| by == 0);
        let keys = if ciphered { meter_keys(sim, m) } else { None };
        if let Some(keys) = &keys {
            self.log_keys(sim, at_us, m, keys);
        }
        keys
    }

    /// Renders the attacks' radio events recorded since the last close: replays, downgrade
    /// offers and forged commands at captured meters.
    fn field_events(&mut self, sim: &Sim) {
        let events = &sim.records().field_events;
        for e in &events[self.next_event..] {
            let Some(c) = self.collector_of(sim, e.meter) else {
                continue;
            };
            let radio = addresses::rogue_radio(e.attack);
            let meter = (addresses::meter(e.meter), wrapper::MANAGEMENT_DEVICE);
            let time = e.at.0;
            match e.what {
                FieldEventKind::Replay { frame, relay, accepted } => {
                    // The captured frame, sent again bit for bit by the attacker's radio.
                    let bytes = match self.relay_frames.get(&(e.meter, frame)) {
                        Some(bytes) => bytes.clone(),
                        None => {
                            let keys = self.keys_of(sim, e.meter, time);
                            let method = if relay == amirange_sim::model::Relay::Closed {
                                2
                            } else {
                                1
                            };
                            relay_request(keys.as_ref(), &collector_system_title(c), frame, method)
                        }
                    };
                    let collector = (addresses::collector(c), CLIENT_WPORT);
                    self.datagram(time, collector, meter, &bytes, Some((mac(radio), 0)), e.attack);
                    if accepted {
                        let keys = self.keys_of(sim, e.meter, time);
                        let answer =
                            self.meter_answer(e.meter, keys.as_ref(), amirange_dlms::apdu::ResultCode::SUCCESS);
                        self.datagram(time, meter, collector, &answer, Some((mac(radio), 1)), e.attack);
                    }
                }
                FieldEventKind::DowngradeOffer { accepted } => {
                    let offer = amirange_dlms::acse::Aarq::without_security(MAX_PDU).to_bytes();
                    let from = (radio, wrapper::PUBLIC_CLIENT);
                    self.datagram(time, from, meter, &offer, None, e.attack);
                    self.datagram(time, meter, from, &aare(accepted), None, e.attack);
                }
                FieldEventKind::Forged { accepted } => {
                    // The rogue has no keys: its command is in clear.
                    let from = (radio, CLIENT_WPORT);
                    let request = relay_request(None, &[0; 8], 0, 1);
                    self.datagram(time, from, meter, &request, None, e.attack);
                    if accepted {
                        let answer = self.meter_answer(e.meter, None, amirange_dlms::apdu::ResultCode::SUCCESS);
                        self.datagram(time, meter, from, &answer, None, e.attack);
                    }
                }
            }
        }
        self.next_event = events.len();
    }

    /// Renders one read exchange of the cycle that closed at `close_us`.
    fn exchange(&mut self, sim: &Sim, close_us: u64, r: &ReadRecord, access: &SelectiveAccess) {
        let m = r.meter;
        let fleet = sim.fleet();
        let i = m as usize;
        let ciphered = fleet.downgraded_by.get(i).is_some_and(|&by| by == 0);
        let keys = if ciphered { meter_keys(sim, m) } else { None };
        if let Some(keys) = &keys {
            self.log_keys(sim, close_us, m, keys);
        }
        let poller = addresses::collector(r.collector);
        let meter = addresses::meter(m);
        let poller_title = collector_system_title(r.collector);
        let attribute = AttributeDescriptor {
            class_id: 7,
            instance: Obis::LOAD_PROFILE,
            attribute: 2,
        };
        let [meter_ic, poller_ic] = {
            let c = self.counters.entry(m).or_insert([0, 0]);
            c[1] = c[1].wrapping_add(1);
            if r.answer_us.is_some() {
                c[0] = c[0].wrapping_add(1);
            }
            *c
        };
        let request = Apdu::GetRequest {
            invoke: INVOKE,
            attribute,
            access: Some(access.clone()),
        }
        .to_bytes();
        let request = protect(keys.as_ref(), &poller_title, poller_ic, request);
        // A rogue concentrator relays the exchange: its link address is on the meter's side.
        let intercept = (r.rogue > 0)
            .then(|| sim.net_state().interception(i))
            .flatten()
            .map(|(_, mode)| mode);
        let rogue_mac = (r.rogue > 0).then(|| mac(addresses::rogue_radio(r.rogue)));
        // A request is the attack's when a rogue relays it or an attack kept its answer away.
        let attack = if r.rogue > 0 {
            r.rogue
        } else if r.answer_us.is_none() {
            r.attack
        } else {
            0
        };
        self.stats.exchanges += 1;
        let time = close_us + r.request_us;
        self.datagram(
            time,
            (poller, CLIENT_WPORT),
            (meter, wrapper::MANAGEMENT_DEVICE),
            &request,
            rogue_mac.map(|mac| (mac, 0)),
            attack,
        );
        let Some(answer_us) = r.answer_us else {
            return;
        };
        // An answer is the attack's when a rogue relays it, or when what it reports is falsified
        // (a bypass or clone skewing the register, the meter running an attack's firmware).
        let skew = sim.meter(m).map_or(0, |x| x.skew_by);
        let firmware = fleet.compromised_by.get(i).copied().unwrap_or(0);
        let attack = [r.rogue, skew, firmware].into_iter().find(|&a| a > 0).unwrap_or(0);
        let mut device = EngineMeter {
            sim,
            meter: m,
            inputs: Vec::new(),
            source: "field".to_owned(),
            cause: Cause::Operation,
            transfer: crate::image_transfer::ImageTransfer::default(),
            may_start_transfer: false,
        };
        let caller = Caller {
            client: CLIENT_WPORT,
            rights: Rights::Read,
            system_title: ciphered.then_some(poller_title),
            invocation_counter: ciphered.then_some(poller_ic),
        };
        let result = device.get(&caller, &attribute, Some(access));
        let answer = Apdu::GetResponse { invoke: INVOKE, result }.to_bytes();
        let answer = protect(keys.as_ref(), &meter_system_title(m), meter_ic, answer);
        let time = close_us + answer_us;
        let meter_end = (meter, wrapper::MANAGEMENT_DEVICE);
        let poller_end = (poller, CLIENT_WPORT);
        match (intercept, rogue_mac) {
            (Some(mode), Some(mac)) => {
                // The answer goes to the rogue, which sends on what its action says.
                self.datagram(time, meter_end, poller_end, &answer, Some((mac, 1)), attack);
                let forwarded = match mode {
                    Intercept::Drop | Intercept::Forge => None,
                    Intercept::Delay(d) => Some((time + d.as_micros(), answer)),
                    Intercept::Alter { reported_share } => Some((time, altered(&answer, ciphered, reported_share))),
                };
                if let Some((at, bytes)) = forwarded {
                    self.datagram(at, meter_end, poller_end, &bytes, Some((mac, 0)), attack);
                }
            }
            _ => self.datagram(time, meter_end, poller_end, &answer, None, attack),
        }
    }

    /// Adds meter `m`'s keys to the key log when it first appears or its keys changed.
    fn log_keys(&mut self, sim: &Sim, close_us: u64, m: u32, keys: &amirange_dlms::security::Keys) {
        let version = sim.fleet().key_version.get(m as usize).copied().unwrap_or(0);
        if self.key_versions.get(&m) == Some(&version) {
            return;
        }
        let fresh = self.key_versions.insert(m, version).is_none();
        self.stats.keyed_meters += u64::from(fresh);
        let from = sim.config().start.plus(SimTime(close_us).since_start());
        let Some(out) = self.keys.as_mut() else {
            return;
        };
        let record = [
            m.to_string(),
            hex(&meter_system_title(m)),
            from.to_string(),
            hex(&keys.encryption),
            hex(&keys.authentication),
            "0".to_owned(),
        ];
        if let Err(e) = out.write_record(&record) {
            self.error = Some(csv_error(e, &self.keys_path));
        }
    }

    /// Queues one UDP datagram of `wrapper` frames from `src` to `dst` at `time_us`. `relay`
    /// puts a rogue's link address on one side: `(mac, 0)` as the sender, `(mac, 1)` as the
    /// receiver.
    fn datagram(
        &mut self,
        time_us: u64,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        apdu: &[u8],
        relay: Option<([u8; 6], u8)>,
        attack: u8,
    ) {
        if !(self.window.0..self.window.1).contains(&time_us) {
            return;
        }
        let addresses = Addresses {
            source: src.1,
            destination: dst.1,
        };
        // APDUs of one load-profile read are far below the wrapper's 65,535-byte limit.
        let Ok(payload) = wrapper::encode_checked(addresses, apdu) else {
            return;
        };
        let mut src_mac = mac(src.0);
        let mut dst_mac = mac(dst.0);
        match relay {
            Some((m, 0)) => src_mac = m,
            Some((m, _)) => dst_mac = m,
            None => {}
        }
        let Some(frame) = wire::udp_frame(
            (src_mac, dst_mac),
            (src.0, addresses::DLMS),
            (dst.0, addresses::DLMS),
            &payload,
        ) else {
            return;
        };
        self.order += 1;
        self.pending.push(Pending {
            time_us,
            order: self.order,
            frame,
            attack,
        });
    }

    /// Writes the pending packets timed before `until_us`, in time order.
    fn flush_before(&mut self, until_us: u64) {
        self.pending.sort_unstable_by_key(|p| (p.time_us, p.order));
        let n = self.pending.partition_point(|p| p.time_us < until_us);
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        for p in self.pending.drain(..n) {
            if self.error.is_some() {
                continue;
            }
            let comment = (p.attack > 0)
                .then(|| self.attacks.get(usize::from(p.attack - 1)))
                .flatten()
                .map(|label| EnhancedPacketOption::Comment(Cow::Owned(label.clone())));
            let block = EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_micros(self.epoch_us + p.time_us),
                original_len: p.frame.len() as u32,
                data: Cow::Borrowed(&p.frame),
                options: comment.into_iter().collect(),
            };
            match writer.write_pcapng_block(block) {
                Ok(_) => {
                    self.stats.packets += 1;
                    self.stats.frame_bytes += p.frame.len() as u64;
                }
                Err(e) => self.error = Some(pcap_error(e, &self.path)),
            }
        }
    }
}

/// The largest APDU a meter takes, as its association offers (the gateway's).
const MAX_PDU: u16 = 1024;

/// A remote disconnect (`method` 1) or reconnect (2) of the disconnect control object, as
/// sent under frame counter `frame` by the holder of `title`.
fn relay_request(keys: Option<&amirange_dlms::security::Keys>, title: &[u8; 8], frame: u32, method: i8) -> Vec<u8> {
    let apdu = Apdu::ActionRequest {
        invoke: INVOKE,
        method: amirange_dlms::apdu::MethodDescriptor {
            class_id: 70,
            instance: Obis::DISCONNECT_CONTROL,
            method,
        },
        parameters: Some(Data::Integer(0)),
    }
    .to_bytes();
    protect(keys, title, frame, apdu)
}

/// A meter's answer to an association request without security: accepted at the legacy
/// level, or refused because it requires authentication.
fn aare(accepted: bool) -> Vec<u8> {
    use amirange_dlms::acse::{Aare, AssociationResult, Context, Diagnostic, InitiateResponse};
    let user_information = accepted.then(|| {
        InitiateResponse {
            quality_of_service: None,
            version: 6,
            conformance: amirange_dlms::server::METER_CONFORMANCE,
            max_receive_pdu: MAX_PDU,
            vaa_name: 7,
        }
        .to_bytes()
    });
    Aare {
        context: Context::LogicalName,
        result: if accepted {
            AssociationResult::Accepted
        } else {
            AssociationResult::RejectedPermanent
        },
        diagnostic: if accepted {
            Diagnostic::NULL
        } else {
            Diagnostic::AUTHENTICATION_REQUIRED
        },
        responding_ap_title: None,
        mechanism: None,
        responding_authentication: None,
        user_information,
    }
    .to_bytes()
}

/// `apdu` as sent: glo-ciphered under `keys` by the holder of `title` with counter `ic`, or
/// in clear without keys.
fn protect(keys: Option<&amirange_dlms::security::Keys>, title: &[u8; 8], ic: u32, apdu: Vec<u8>) -> Vec<u8> {
    let Some(keys) = keys else {
        return apdu;
    };
    let glo = apdu.first().and_then(|&tag| amirange_dlms::security::glo_tag(tag));
    match (glo, amirange_dlms::security::seal(keys, title, PROTECTION, ic, &apdu)) {
        (Some(glo), Ok(sealed)) => amirange_dlms::security::glo_wrap(glo, &sealed),
        _ => apdu,
    }
}

/// An answer a rogue concentrator altered: in clear, every interval's energy scaled by
/// `share`; ciphered, it cannot read it and flips bits, so the tag no longer verifies.
fn altered(answer: &[u8], ciphered: bool, share: f32) -> Vec<u8> {
    if ciphered {
        let mut bytes = answer.to_vec();
        if let Some(last) = bytes.last_mut() {
            *last ^= 0xFF;
        }
        return bytes;
    }
    match Apdu::from_bytes(answer) {
        Ok(Apdu::GetResponse {
            invoke,
            result: GetResult::Data(Data::Array(rows)),
        }) => {
            let rows = rows
                .into_iter()
                .map(|row| match row {
                    Data::Structure(mut cols) => {
                        if let Some(Data::DoubleLongUnsigned(wh)) = cols.get_mut(1) {
                            *wh = (f64::from(*wh) * f64::from(share)).round() as u32;
                        }
                        Data::Structure(cols)
                    }
                    other => other,
                })
                .collect();
            Apdu::GetResponse {
                invoke,
                result: GetResult::Data(Data::Array(rows)),
            }
            .to_bytes()
        }
        _ => answer.to_vec(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(source: std::io::Error, path: &Path) -> FieldError {
    FieldError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn pcap_error(e: pcap_file::PcapError, path: &Path) -> FieldError {
    io_error(
        match e {
            pcap_file::PcapError::IoError(e) => e,
            other => std::io::Error::other(other),
        },
        path,
    )
}

fn csv_error(e: csv::Error, path: &Path) -> FieldError {
    io_error(std::io::Error::other(e), path)
}

/// A pcapng writer on `out` with its section header and the sniffers' interface written (all
/// collectors' field networks on one interface, merged).
fn begin<W: Write>(out: W, collectors: &[u32]) -> Result<PcapNgWriter<W>, pcap_file::PcapError> {
    let names: Vec<String> = collectors.iter().map(|c| c.to_string()).collect();
    crate::capture::begin_pcapng(
        out,
        "field",
        format!(
            "amirange radio sniffers beside collectors {} (DLMS/COSEM wrapper over UDP 4059)",
            names.join(", ")
        ),
    )
}
