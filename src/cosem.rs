//! A simulated meter's COSEM objects, backed by the engine: what a DLMS client reads from a
//! meter is the engine's state of that meter now, and a method it invokes becomes an engine
//! input at the engine's present (see [`amirange_dlms::server::Objects`]).
//!
//! | object | class | logical name | attributes | methods |
//! | --- | --- | --- | --- | --- |
//! | Association LN | 15 | 0.0.40.0.0.255 | 1, 2 object list | (HLS reply, in the server) |
//! | Device ID (serial) | 1 | 0.0.96.1.0.255 | 1, 2 | |
//! | Clock | 8 | 0.0.1.0.0.255 | 1, 2 time, 3 time zone, 4 status | |
//! | Active energy import | 3 | 1.0.1.8.0.255 | 1, 2 value (Wh), 3 scaler and unit | |
//! | Active energy import, rate 1 and rate 2 | 3 | 1.0.1.8.1.255, 1.0.1.8.2.255 | 1, 2 value (Wh, at the last interval's end), 3 scaler and unit | |
//! | Load profile | 7 | 1.0.99.1.0.255 | 1, 2 buffer (selective access by range), 3 capture objects, 4 capture period, 7 entries in use, 8 profile entries | |
//! | Disconnect control | 70 | 0.0.96.3.10.255 | 1, 2 output state, 3 control state, 4 control mode | 1 remote_disconnect, 2 remote_reconnect |
//! | Active firmware identifier | 1 | 1.0.0.2.0.255 | 1, 2 (the version the meter runs) | |
//! | Active firmware signature | 1 | 1.0.0.2.8.255 | 1, 2 (the image's hash, 8 bytes) | |
//! | Security setup | 64 | 0.0.43.0.0.255 | 1, 2 security policy, 3 security suite, 4 client system title, 5 server system title | |
//! | Image transfer | 18 | 0.0.44.0.0.255 | 1, 2 block size, 3 blocks status, 4 first missing block, 5 enabled, 6 status, 7 image to activate | 1 initiate, 2 block transfer, 3 verify, 4 activate ([`crate::image_transfer`]) |

use amirange_dlms::apdu::{AttributeDescriptor, GetResult, MethodDescriptor, ResultCode, SelectiveAccess};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::server::{Caller, Objects, Rights};
use amirange_sim::engine::{Input, Sim};
use amirange_sim::model::{Cause, LOAD_PROFILE_DEPTH, Relay};
use amirange_sim::records::TruthRecord;
use amirange_sim::time::{CivilDate, CivilDateTime, SimTime};

use crate::image_transfer::{IMAGE_TRANSFER, ImageTransfer};

/// The device ID object (the meter's serial number).
pub const DEVICE_ID: Obis = Obis([0, 0, 96, 1, 0, 255]);
/// Active energy import (+A) over the load profile's recording period.
pub const INTERVAL_ENERGY: Obis = Obis([1, 0, 1, 29, 0, 255]);
/// The active firmware identifier.
pub const FIRMWARE_ID: Obis = Obis([1, 0, 0, 2, 0, 255]);
/// The active firmware signature.
pub const FIRMWARE_SIGNATURE: Obis = Obis([1, 0, 0, 2, 8, 255]);
/// Active energy import in rate 1 (the utility's time-of-use peak).
pub const RATE_1: Obis = Obis([1, 0, 1, 8, 1, 255]);
/// Active energy import in rate 2 (outside the peak).
pub const RATE_2: Obis = Obis([1, 0, 1, 8, 2, 255]);
/// The security setup of the management association.
pub const SECURITY_SETUP: Obis = Obis([0, 0, 43, 0, 0, 255]);

/// The objects of every meter: (class, version, logical name, attributes, methods).
const OBJECTS: [(u16, u8, Obis, i8, i8); 12] = [
    (15, 1, Obis::CURRENT_ASSOCIATION, 2, 0),
    (1, 0, DEVICE_ID, 2, 0),
    (8, 0, Obis::CLOCK, 4, 0),
    (3, 0, Obis::ACTIVE_ENERGY_IMPORT, 3, 0),
    (3, 0, RATE_1, 3, 0),
    (3, 0, RATE_2, 3, 0),
    (7, 1, Obis::LOAD_PROFILE, 8, 0),
    (70, 0, Obis::DISCONNECT_CONTROL, 4, 2),
    (1, 0, FIRMWARE_ID, 2, 0),
    (1, 0, FIRMWARE_SIGNATURE, 2, 0),
    (64, 1, SECURITY_SETUP, 5, 0),
    (18, 0, IMAGE_TRANSFER, 7, 4),
];

/// DLMS's "deviation not specified" in a date-time.
const NO_DEVIATION: i16 = i16::MIN;

/// Meter `meter` of `sim`, as a DLMS client sees it. Methods that change the meter push
/// inputs onto `inputs`, for the caller to schedule at the engine's present; `source` names
/// who operates (the ground truth's source, e.g. `"dlms"` or a red team's attack id) and
/// `cause` what an open relay's interruption is booked to.
pub struct EngineMeter<'a> {
    /// The engine.
    pub sim: &'a Sim,
    /// The meter's index.
    pub meter: u32,
    /// Inputs its methods asked for, for the caller to take and schedule.
    pub inputs: Vec<Input>,
    /// Who operates, for the ground truth.
    pub source: String,
    /// What an interruption it causes is booked to.
    pub cause: Cause,
    /// Its image transfer (the caller keeps it between requests).
    pub transfer: ImageTransfer,
    /// Whether its image transfer may take a first block (the caller's limit on transfers
    /// holding blocks).
    pub may_start_transfer: bool,
}

/// Selective access to the load profile's buffer by range (selector 1) over its clock column,
/// from `from` to `to` (date-time octet strings), all columns.
pub fn by_range(from: Data, to: Data) -> SelectiveAccess {
    SelectiveAccess {
        selector: 1,
        parameters: Data::Structure(vec![
            Data::Structure(vec![
                Data::LongUnsigned(8),
                Data::OctetString(Obis::CLOCK.0.to_vec()),
                Data::Integer(2),
                Data::LongUnsigned(0),
            ]),
            from,
            to,
            Data::Array(Vec::new()),
        ]),
    }
}

/// The date-time octets of a civil time (local time of the scenario, deviation not
/// specified, clock status OK).
pub fn date_time(at: CivilDateTime) -> [u8; 12] {
    let date = at.date;
    let s = at.second_of_day;
    let year = (date.year.clamp(0, 0xFFFE) as u16).to_be_bytes();
    let deviation = NO_DEVIATION.to_be_bytes();
    [
        year[0],
        year[1],
        date.month,
        date.day,
        date.iso_weekday(),
        (s / 3600) as u8,
        ((s / 60) % 60) as u8,
        (s % 60) as u8,
        0,
        deviation[0],
        deviation[1],
        0,
    ]
}

/// The civil time a date-time's octets stand for (unspecified fields, 0xFF, as their
/// lowest value), if the date is a real one.
pub fn civil_of(octets: &[u8]) -> Option<CivilDateTime> {
    let [y0, y1, month, day, _, hour, minute, second, ..] = *octets else {
        return None;
    };
    let field = |v: u8| if v == 0xFF { 0 } else { u32::from(v) };
    let date = CivilDate::new(i32::from(u16::from_be_bytes([y0, y1])), month, day)?;
    let second_of_day = field(hour) * 3600 + field(minute) * 60 + field(second);
    (second_of_day < 86_400).then_some(CivilDateTime { date, second_of_day })
}

/// The simulated DLMS keys of meter `meter` (suite 0: encryption and authentication key):
/// those of its key group under the scenario's key model (one meter per group when every
/// meter has its own key) at its current key version, drawn from the run's seed. Not secret:
/// anyone with the scenario and seed can derive them, as a red team that cloned a meter of
/// the group holds them.
pub fn meter_keys(sim: &Sim, meter: u32) -> Option<amirange_dlms::security::Keys> {
    let fleet = sim.fleet();
    let group = *fleet.key_group.get(meter as usize)?;
    let version = *fleet.key_version.get(meter as usize)?;
    let mut stream = amirange_sim::rng::Stream::new(
        sim.config().seed,
        amirange_sim::rng::Purpose::DlmsKeys,
        u64::from(group),
        u64::from(version),
    );
    let mut key = || {
        let (a, b) = (stream.next_u64(), stream.next_u64());
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&a.to_be_bytes());
        k[8..].copy_from_slice(&b.to_be_bytes());
        k
    };
    Some(amirange_dlms::security::Keys {
        encryption: key(),
        authentication: key(),
    })
}

/// Whether meter `meter` can be reached over the field network now: it has supply, its
/// radio or modem and its communication module work, it is not jammed, and it has a path to
/// a collector. A meter that cannot be reached answers nothing.
pub fn meter_reachable(sim: &Sim, meter: u32) -> bool {
    let i = meter as usize;
    let net = sim.net_state();
    let down = |v: &Vec<bool>| v.get(i).copied().unwrap_or(true);
    !down(&net.unpowered)
        && !down(&net.radio_down)
        && !down(&net.dark)
        && !down(&sim.fleet().failed)
        && net.jammed_by.get(i).is_some_and(|&by| by == 0)
        && net
            .paths
            .get(i)
            .is_some_and(|p| p.collector != amirange_sim::network::NONE)
}

/// The system title of meter `meter`: "AMR" and the meter index in five bytes, big-endian.
pub fn meter_system_title(meter: u32) -> [u8; 8] {
    let n = u64::from(meter).to_be_bytes();
    [b'A', b'M', b'R', n[3], n[4], n[5], n[6], n[7]]
}

impl EngineMeter<'_> {
    fn civil(&self, at: SimTime) -> CivilDateTime {
        self.sim.config().start.plus(at.since_start())
    }

    /// Seconds from the run's start to a civil time (negative before it).
    fn seconds_since_start(&self, at: CivilDateTime) -> i64 {
        at.unix_seconds() - self.sim.config().start.unix_seconds()
    }

    /// The load profile's entries now, oldest first: each interval's end and its energy, Wh.
    fn profile(&self) -> Vec<(CivilDateTime, u32)> {
        let Some(memory) = self.sim.load_profile_memory(self.meter) else {
            return Vec::new();
        };
        let until = memory.recorded_until;
        let from = until.saturating_sub(LOAD_PROFILE_DEPTH as u32);
        let interval = amirange_sim::config::INTERVAL.as_micros();
        (from..until)
            .map(|slot| {
                let end = SimTime(u64::from(slot + 1) * interval);
                (self.civil(end), memory.wh[slot as usize % LOAD_PROFILE_DEPTH])
            })
            .collect()
    }

    fn object_list() -> Data {
        Data::Array(
            OBJECTS
                .iter()
                .map(|&(class, version, name, attributes, methods)| {
                    // Every attribute read-only (access mode 1): nothing is writable yet.
                    let attribute_access = (1..=attributes)
                        .map(|a| Data::Structure(vec![Data::Integer(a), Data::Enum(1), Data::Null]))
                        .collect();
                    let method_access = (1..=methods)
                        .map(|m| Data::Structure(vec![Data::Integer(m), Data::Enum(1)]))
                        .collect();
                    Data::Structure(vec![
                        Data::LongUnsigned(class),
                        Data::Unsigned(version),
                        Data::OctetString(name.0.to_vec()),
                        Data::Structure(vec![Data::Array(attribute_access), Data::Array(method_access)]),
                    ])
                })
                .collect(),
        )
    }

    fn capture_objects() -> Data {
        let column = |class: u16, name: Obis| {
            Data::Structure(vec![
                Data::LongUnsigned(class),
                Data::OctetString(name.0.to_vec()),
                Data::Integer(2),
                Data::LongUnsigned(0),
            ])
        };
        Data::Array(vec![column(8, Obis::CLOCK), column(3, INTERVAL_ENERGY)])
    }

    /// The load profile's buffer, or the entries between two times when read by range
    /// (selector 1: the restricting object, from, to, selected columns).
    fn buffer(&self, access: Option<&SelectiveAccess>) -> GetResult {
        let mut entries = self.profile();
        if let Some(access) = access {
            let Data::Structure(parameters) = &access.parameters else {
                return GetResult::Error(ResultCode::TYPE_UNMATCHED);
            };
            if access.selector != 1 || parameters.len() < 3 {
                return GetResult::Error(ResultCode::OTHER_REASON);
            }
            let bound = |value: &Data| {
                match value {
                    Data::OctetString(b) => civil_of(b),
                    Data::DateTime(b) => civil_of(b),
                    _ => None,
                }
                .map(|c| self.seconds_since_start(c))
            };
            let (Some(from), Some(to)) = (bound(&parameters[1]), bound(&parameters[2])) else {
                return GetResult::Error(ResultCode::TYPE_UNMATCHED);
            };
            entries.retain(|(at, _)| (from..=to).contains(&self.seconds_since_start(*at)));
        }
        GetResult::Data(Data::Array(
            entries
                .into_iter()
                .map(|(at, wh)| {
                    Data::Structure(vec![
                        Data::OctetString(date_time(at).to_vec()),
                        Data::DoubleLongUnsigned(wh),
                    ])
                })
                .collect(),
        ))
    }
}

impl EngineMeter<'_> {
    /// How the meter is reached now, in words: the way a request came.
    fn path(&self) -> String {
        use amirange_sim::network::Via;
        let Some(path) = self.sim.net_state().paths.get(self.meter as usize) else {
            return "by no known path".to_owned();
        };
        let over = match path.via {
            Via::Mesh => format!("over {} mesh hop(s)", path.hops),
            Via::Plc => "over PLC".to_owned(),
            Via::Cellular => "over cellular".to_owned(),
            Via::Fallback => "over its cellular fallback".to_owned(),
            Via::Orphan(why) => return format!("by no path ({})", why.describe()),
        };
        if path.collector == amirange_sim::network::NONE {
            over
        } else {
            format!("{over} through collector {}", path.collector)
        }
    }
}

impl Objects for EngineMeter<'_> {
    fn get(&mut self, caller: &Caller, a: &AttributeDescriptor, access: Option<&SelectiveAccess>) -> GetResult {
        let Some(&(class, ..)) = OBJECTS.iter().find(|o| o.2 == a.instance) else {
            return GetResult::Error(ResultCode::OBJECT_UNDEFINED);
        };
        if class != a.class_id {
            return GetResult::Error(ResultCode::OBJECT_CLASS_INCONSISTENT);
        }
        if a.attribute == 1 {
            return GetResult::Data(Data::OctetString(a.instance.0.to_vec()));
        }
        let Some(meter) = self.sim.meter(self.meter) else {
            return GetResult::Error(ResultCode::OBJECT_UNAVAILABLE);
        };
        let fleet = self.sim.fleet();
        let image = fleet
            .firmware
            .get(self.meter as usize)
            .and_then(|&f| fleet.images.get(usize::from(f)));
        let data = match (a.class_id, a.instance, a.attribute) {
            (15, _, 2) => Self::object_list(),
            (18, _, attribute) => return self.transfer.get(attribute),
            (1, DEVICE_ID, 2) => Data::VisibleString(format!("AMR{:08}", self.meter).into_bytes()),
            (1, FIRMWARE_ID, 2) => match image {
                Some(image) => Data::OctetString(image.version.clone().into_bytes()),
                None => return GetResult::Error(ResultCode::OBJECT_UNAVAILABLE),
            },
            (1, FIRMWARE_SIGNATURE, 2) => match image {
                Some(image) => Data::OctetString(image.hash.to_be_bytes().to_vec()),
                None => return GetResult::Error(ResultCode::OBJECT_UNAVAILABLE),
            },
            // Policy (version 1's bits): requests authenticated (2) and encrypted (3), responses
            // authenticated (5) and encrypted (6); suite 0; the client's and the meter's titles.
            (64, _, 2) => Data::Enum(0x6C),
            (64, _, 3) => Data::Enum(0),
            (64, _, 4) => Data::OctetString(caller.system_title.map(|t| t.to_vec()).unwrap_or_default()),
            (64, _, 5) => Data::OctetString(meter_system_title(self.meter).to_vec()),
            (8, _, 2) => Data::OctetString(date_time(self.civil(self.sim.now())).to_vec()),
            // The scenario's clock is local time with no offset given.
            (8, _, 3) => Data::Long(0),
            (8, _, 4) => Data::Unsigned(0),
            // The registers show whole Wh; a double-long-unsigned wraps after 4.29 GWh. The rate
            // registers advance when an interval closes, by the interval's rate.
            (3, RATE_1 | RATE_2, 2) => {
                let rates = self.sim.load_profile_memory(self.meter).map_or([0; 2], |m| m.rate_wh);
                Data::DoubleLongUnsigned(rates[usize::from(a.instance == RATE_2)] as u32)
            }
            (3, _, 2) => Data::DoubleLongUnsigned(meter.register_wh as u64 as u32),
            // Scaler 10^0, unit 30 (Wh).
            (3, _, 3) => Data::Structure(vec![Data::Integer(0), Data::Enum(30)]),
            (7, _, 2) => return self.buffer(access),
            (7, _, 3) => Self::capture_objects(),
            (7, _, 4) => Data::DoubleLongUnsigned(amirange_sim::config::INTERVAL.as_micros() as u32 / 1_000_000),
            (7, _, 7) => Data::DoubleLongUnsigned(self.profile().len() as u32),
            (7, _, 8) => Data::DoubleLongUnsigned(LOAD_PROFILE_DEPTH as u32),
            (70, _, 2) => Data::Boolean(meter.relay == Relay::Closed),
            (70, _, 3) => Data::Enum(u8::from(meter.relay == Relay::Closed)),
            // Mode 1: disconnect and reconnect remotely (and manually).
            (70, _, 4) => Data::Enum(1),
            _ => return GetResult::Error(ResultCode::OBJECT_UNDEFINED),
        };
        GetResult::Data(data)
    }

    fn set(&mut self, _: &Caller, a: &AttributeDescriptor, _: Option<&SelectiveAccess>, _: &Data) -> ResultCode {
        // Nothing is writable yet (the clock, the tariffs and the keys come with the gateway).
        if OBJECTS.iter().any(|o| o.2 == a.instance) {
            ResultCode::READ_WRITE_DENIED
        } else {
            ResultCode::OBJECT_UNDEFINED
        }
    }

    fn action(
        &mut self,
        caller: &Caller,
        m: &MethodDescriptor,
        parameters: Option<&Data>,
    ) -> (ResultCode, Option<GetResult>) {
        let object = (m.class_id, m.instance);
        if object != (70, Obis::DISCONNECT_CONTROL) && object != (18, IMAGE_TRANSFER) {
            return (ResultCode::OBJECT_UNDEFINED, None);
        }
        if caller.rights != Rights::Manage {
            return (ResultCode::READ_WRITE_DENIED, None);
        }
        if object == (18, IMAGE_TRANSFER) {
            let result = self.transfer.invoke(
                m.method,
                parameters,
                self.sim,
                self.meter,
                &self.source,
                self.cause,
                self.may_start_transfer,
                &mut self.inputs,
            );
            return (result, None);
        }
        let (relay, kind) = match m.method {
            1 => (Relay::Open, "relay-open"),
            2 => (Relay::Closed, "relay-close"),
            _ => return (ResultCode::OBJECT_UNDEFINED, None),
        };
        self.inputs.push(Input::SetRelay {
            meter: self.meter,
            relay,
            cause: self.cause,
        });
        let by = match (caller.system_title, caller.invocation_counter) {
            (Some(title), Some(n)) => format!(
                "by DLMS client {} (system title {}, invocation counter {n})",
                caller.client,
                title.iter().map(|b| format!("{b:02X}")).collect::<String>()
            ),
            _ => format!("by DLMS client {}", caller.client),
        };
        self.inputs.push(Input::Truth(TruthRecord {
            time: self.sim.now(),
            source: self.source.clone(),
            kind: kind.to_owned(),
            detail: format!(
                "remote_{} of meter {} {by}, {}",
                if m.method == 1 { "disconnect" } else { "reconnect" },
                self.meter,
                self.path()
            ),
            meters: vec![self.meter],
        }));
        (ResultCode::SUCCESS, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Stepper, generate};
    use crate::scenario::{Overrides, load};
    use amirange_dlms::acse::{Aare, Aarq, AssociationResult};
    use amirange_dlms::apdu::Apdu;
    use amirange_dlms::server::{Authentication, ClientPolicy, Connection, Device, DeviceSecurity, Devices, Limits};
    use amirange_dlms::wrapper::{self, Addresses};
    use amirange_sim::time::SimDuration;

    /// One engine meter behind wPort 1, with a public client (16) and a password client (17).
    struct Gate<'a> {
        security: DeviceSecurity,
        meter: EngineMeter<'a>,
    }

    impl Devices for Gate<'_> {
        fn device(&mut self, address: u16) -> Option<Device<'_>> {
            (address == 1).then_some(Device {
                security: &mut self.security,
                objects: &mut self.meter,
            })
        }
    }

    fn gate(sim: &Sim, meter: u32) -> Gate<'_> {
        Gate {
            security: DeviceSecurity::new(
                *b"AMR00001",
                vec![
                    ClientPolicy {
                        address: 16,
                        authentication: Authentication::None,
                        rights: Rights::Read,
                    },
                    ClientPolicy {
                        address: 17,
                        authentication: Authentication::Password(b"12345678".to_vec()),
                        rights: Rights::Manage,
                    },
                ],
            ),
            meter: EngineMeter {
                sim,
                meter,
                inputs: Vec::new(),
                source: "dlms".to_owned(),
                cause: Cause::Operation,
                transfer: ImageTransfer::default(),
                may_start_transfer: true,
            },
        }
    }

    fn ask(conn: &mut Connection, gate: &mut Gate<'_>, client: u16, apdu: &Apdu) -> Apdu {
        let reply = ask_bytes(conn, gate, client, &apdu.to_bytes());
        Apdu::from_bytes(&reply).expect("an APDU")
    }

    fn ask_bytes(conn: &mut Connection, gate: &mut Gate<'_>, client: u16, apdu: &[u8]) -> Vec<u8> {
        let frame = wrapper::encode_checked(
            Addresses {
                source: client,
                destination: 1,
            },
            apdu,
        )
        .expect("frames");
        let out = conn.receive(&frame, gate, &mut || [1; 8]).expect("stays open");
        wrapper::decode_datagram(&out, 65_535).expect("one frame").apdu
    }

    fn get(class_id: u16, instance: Obis, attribute: i8, access: Option<SelectiveAccess>) -> Apdu {
        Apdu::GetRequest {
            invoke: 0xC1,
            attribute: AttributeDescriptor {
                class_id,
                instance,
                attribute,
            },
            access,
        }
    }

    /// Read over DLMS, a meter shows the engine's register, relay, clock and load profile
    /// (the last intervals, by range too); a remote_disconnect by the password client becomes
    /// an engine input that opens the relay, with ground truth naming the client.
    #[test]
    fn a_meter_answers_from_the_engine_and_its_disconnect_opens_the_relay() {
        let scenario = load(
            "quickstart",
            crate::QUICKSTART,
            &Overrides {
                meters: Some(300),
                ..Overrides::default()
            },
        )
        .expect("the quickstart loads");
        let network = generate(&scenario).expect("a network");
        let mut stepper = Stepper::new(&scenario, network, false).expect("a run");
        let two_hours = SimTime(SimDuration::from_minutes(120).as_micros());
        stepper.step_to(two_hours).expect("steps");
        let meter = 5;
        let engine = stepper.sim.meter(meter).expect("meter 5");
        let memory = stepper.sim.load_profile_memory(meter).expect("its memory");
        let mut conn = Connection::new(Limits::default());
        let inputs = {
            let mut gate = gate(&stepper.sim, meter);
            let public = Aarq::without_security(1024);
            let aare = Aare::from_bytes(&ask_bytes(&mut conn, &mut gate, 16, &public.to_bytes())).expect("an AARE");
            assert_eq!(aare.result, AssociationResult::Accepted);
            let value = |apdu: Apdu| match apdu {
                Apdu::GetResponse {
                    result: GetResult::Data(d),
                    ..
                } => d,
                other => panic!("no value: {other:?}"),
            };
            assert_eq!(
                value(ask(
                    &mut conn,
                    &mut gate,
                    16,
                    &get(3, Obis::ACTIVE_ENERGY_IMPORT, 2, None)
                )),
                Data::DoubleLongUnsigned(engine.register_wh as u32)
            );
            // The rate registers, at the last interval's end, split the recorded reading.
            for (rate, obis) in [RATE_1, RATE_2].into_iter().enumerate() {
                assert_eq!(
                    value(ask(&mut conn, &mut gate, 16, &get(3, obis, 2, None))),
                    Data::DoubleLongUnsigned(memory.rate_wh[rate] as u32)
                );
            }
            assert_eq!(memory.rate_wh.iter().sum::<u64>(), memory.register_reading_wh);
            assert_eq!(
                value(ask(
                    &mut conn,
                    &mut gate,
                    16,
                    &get(70, Obis::DISCONNECT_CONTROL, 2, None)
                )),
                Data::Boolean(true)
            );
            let fleet = stepper.sim.fleet();
            let image = &fleet.images[usize::from(fleet.firmware[meter as usize])];
            assert_eq!(
                value(ask(&mut conn, &mut gate, 16, &get(1, FIRMWARE_ID, 2, None))),
                Data::OctetString(image.version.clone().into_bytes())
            );
            // 2026-01-15T02:00:00, a Thursday.
            assert_eq!(
                value(ask(&mut conn, &mut gate, 16, &get(8, Obis::CLOCK, 2, None))),
                Data::OctetString(vec![0x07, 0xEA, 1, 15, 4, 2, 0, 0, 0, 0x80, 0x00, 0])
            );
            let Data::Array(rows) = value(ask(&mut conn, &mut gate, 16, &get(7, Obis::LOAD_PROFILE, 2, None))) else {
                panic!("the buffer is an array");
            };
            assert_eq!(rows.len(), 8, "eight quarter-hours recorded in two hours");
            let last = Data::Structure(vec![
                Data::OctetString(vec![0x07, 0xEA, 1, 15, 4, 2, 0, 0, 0, 0x80, 0x00, 0]),
                Data::DoubleLongUnsigned(memory.wh[7 % LOAD_PROFILE_DEPTH]),
            ]);
            assert_eq!(rows[7], last);
            // By range: 01:30 to 02:00 holds the intervals ending 01:30, 01:45 and 02:00.
            let at = |h: u8, m: u8| Data::OctetString(vec![0x07, 0xEA, 1, 15, 0xFF, h, m, 0, 0xFF, 0x80, 0x00, 0xFF]);
            let range = super::by_range(at(1, 30), at(2, 0));
            let Data::Array(some) = value(ask(
                &mut conn,
                &mut gate,
                16,
                &get(7, Obis::LOAD_PROFILE, 2, Some(range)),
            )) else {
                panic!("the buffer is an array");
            };
            assert_eq!(some, rows[5..].to_vec());
            // The public client may not operate the relay; the password client may.
            let disconnect = Apdu::ActionRequest {
                invoke: 0xC1,
                method: MethodDescriptor {
                    class_id: 70,
                    instance: Obis::DISCONNECT_CONTROL,
                    method: 1,
                },
                parameters: Some(Data::Integer(0)),
            };
            assert!(matches!(
                ask(&mut conn, &mut gate, 16, &disconnect),
                Apdu::ActionResponse {
                    result: ResultCode::READ_WRITE_DENIED,
                    ..
                }
            ));
            let low = Aarq {
                mechanism: Some(amirange_dlms::acse::Mechanism::Lowest),
                calling_authentication: Some(b"12345678".to_vec()),
                ..public
            };
            ask_bytes(&mut conn, &mut gate, 17, &low.to_bytes());
            assert!(matches!(
                ask(&mut conn, &mut gate, 17, &disconnect),
                Apdu::ActionResponse {
                    result: ResultCode::SUCCESS,
                    ..
                }
            ));
            std::mem::take(&mut gate.meter.inputs)
        };
        assert_eq!(inputs.len(), 2);
        let now = stepper.sim.now();
        for input in inputs {
            stepper.sim.schedule(now, input).expect("the present is schedulable");
        }
        stepper
            .step_to(two_hours + SimDuration::from_minutes(1))
            .expect("steps");
        assert_eq!(stepper.sim.meter(meter).expect("meter 5").relay, Relay::Open);
        let truth = &stepper.sim.records().truth;
        let record = truth
            .iter()
            .find(|t| t.kind == "relay-open" && t.meters == [meter])
            .expect("the relay's ground truth");
        // Who sent it and the way it came.
        assert!(record.detail.contains("by DLMS client 17"), "{}", record.detail);
        assert!(
            record.detail.contains(" over ") || record.detail.contains("by no path"),
            "{}",
            record.detail
        );
    }
}
