//! The meter side, driven by frames a real client (Gurux, recorded in `gurux_vectors.rs`)
//! sent, and by our own encoder for what Gurux was not recorded doing.

use amirange_dlms::acse::{Aare, Aarq, AssociationResult, Conformance, Context, Diagnostic, InitiateRequest};
use amirange_dlms::apdu::{
    Apdu, AttributeDescriptor, GetResult, MethodDescriptor, ResultCode, SelectiveAccess, ServiceError,
};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::security::Keys;
use amirange_dlms::server::{
    Authentication, Caller, ClientPolicy, Closed, Connection, Device, DeviceSecurity, Devices, Limits, Objects, Rights,
};
use amirange_dlms::wrapper::{self, Addresses};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn keys() -> Keys {
    Keys {
        encryption: core::array::from_fn(|i| i as u8),
        authentication: core::array::from_fn(|i| 0xD0 + i as u8),
    }
}

/// A meter's objects as a test sees them: a register, a relay, a long attribute, and a log
/// of what was done by whom.
#[derive(Default)]
struct Meter {
    register_wh: u32,
    relay_open: bool,
    actions: Vec<(u16, i8)>,
}

impl Objects for Meter {
    fn get(&mut self, _: &Caller, a: &AttributeDescriptor, _: Option<&SelectiveAccess>) -> GetResult {
        match (a.class_id, a.instance, a.attribute) {
            (3, Obis::ACTIVE_ENERGY_IMPORT, 2) => GetResult::Data(Data::DoubleLongUnsigned(self.register_wh)),
            (70, Obis::DISCONNECT_CONTROL, 2) => GetResult::Data(Data::Boolean(!self.relay_open)),
            (7, Obis::LOAD_PROFILE, 2) => GetResult::Data(Data::Array(
                (0..300u32)
                    .map(|i| Data::Structure(vec![Data::DoubleLongUnsigned(i), Data::LongUnsigned(7)]))
                    .collect(),
            )),
            _ => GetResult::Error(ResultCode::OBJECT_UNDEFINED),
        }
    }

    fn set(&mut self, _: &Caller, _: &AttributeDescriptor, _: Option<&SelectiveAccess>, _: &Data) -> ResultCode {
        ResultCode::READ_WRITE_DENIED
    }

    fn action(&mut self, caller: &Caller, m: &MethodDescriptor, _: Option<&Data>) -> (ResultCode, Option<GetResult>) {
        if (m.class_id, m.instance) != (70, Obis::DISCONNECT_CONTROL) {
            return (ResultCode::OBJECT_UNDEFINED, None);
        }
        self.actions.push((caller.client, m.method));
        self.relay_open = m.method == 1;
        (ResultCode::SUCCESS, None)
    }
}

struct Fleet {
    security: DeviceSecurity,
    meter: Meter,
}

impl Devices for Fleet {
    fn device(&mut self, address: u16) -> Option<Device<'_>> {
        (address == 1).then_some(Device {
            security: &mut self.security,
            objects: &mut self.meter,
        })
    }

    fn physical(&mut self, network: u8, address: &[u8]) -> Option<Device<'_>> {
        (network == 0 && address == b"AMR00001").then_some(Device {
            security: &mut self.security,
            objects: &mut self.meter,
        })
    }
}

fn fleet() -> Fleet {
    Fleet {
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
                ClientPolicy {
                    address: 1,
                    authentication: Authentication::HlsGmac(keys()),
                    rights: Rights::Manage,
                },
            ],
        ),
        meter: Meter {
            register_wh: 123_456,
            ..Meter::default()
        },
    }
}

/// Sends `apdu` from `client` to device 1 and returns the one APDU answered.
fn exchange(conn: &mut Connection, fleet: &mut Fleet, client: u16, apdu: &[u8]) -> Vec<u8> {
    let frame = wrapper::encode_checked(
        Addresses {
            source: client,
            destination: 1,
        },
        apdu,
    )
    .expect("frames");
    let out = conn.receive(&frame, fleet, &mut || *b"P6wRJ21F").expect("stays open");
    let reply = wrapper::decode_datagram(&out, 65_535).expect("one frame back");
    assert_eq!(
        reply.addresses,
        Addresses {
            source: 1,
            destination: client
        }
    );
    reply.apdu
}

fn get(attribute: (u16, Obis, i8)) -> Vec<u8> {
    Apdu::GetRequest {
        invoke: 0xC1,
        attribute: AttributeDescriptor {
            class_id: attribute.0,
            instance: attribute.1,
            attribute: attribute.2,
        },
        access: None,
    }
    .to_bytes()
}

fn disconnect() -> Vec<u8> {
    Apdu::ActionRequest {
        invoke: 0xC1,
        method: MethodDescriptor {
            class_id: 70,
            instance: Obis::DISCONNECT_CONTROL,
            method: 1,
        },
        parameters: Some(Data::Integer(0)),
    }
    .to_bytes()
}

/// Gurux's HLS-GMAC AARQ and its answer to our challenge, fed to the meter side, get back
/// exactly the AARE and answer Gurux accepted (`gurux_vectors.rs`); a ciphered GET Gurux sent
/// earlier, replayed after them, is refused for its old invocation counter.
#[test]
fn the_meter_side_completes_the_recorded_hls_handshake_and_refuses_a_replay() {
    let mut fleet = fleet();
    let mut conn = Connection::new(Limits::default());
    let send = |conn: &mut Connection, fleet: &mut Fleet, frame: &str| {
        conn.receive(&hex(frame), fleet, &mut || *b"P6wRJ21F")
            .expect("stays open")
    };
    let aare = send(
        &mut conn,
        &mut fleet,
        "00010001000100576055a109060760857405080103a60a04084d4d4d0000bc614e8a0207808b0760857405080205ac0a80084b35366956616759be230421211f3001234567801212ff9d0558536867253843e146830127db113047b05492b9",
    );
    assert_eq!(
        aare,
        hex(
            "00010001000100636161a109060760857405080103a203020100a305a10302010ea40a0408414d52303030303188020780890760857405080205aa0a8008503677524a323146be230421281f3000000001510402c75647c0f023a74ba95413bb5fcc96a3fab6039d583dab"
        )
    );
    let answer = send(
        &mut conn,
        &mut fleet,
        "0001000100010033cb313001234569cb0a069de89de0d95b403fcc744f9cd8894bd4d1417f57fd0d4ba8c060a31e9c3a149a73c22530f46c1eb48a",
    );
    assert_eq!(
        answer,
        hex("000100010001002ccf2a30000000039d1918dd047246da418aa3099a2cb2b38e927f748a2cb0ed6013f8fe559bd1c4e65cec5132")
    );
    let replay = send(
        &mut conn,
        &mut fleet,
        "0001000100010020c81e3001234568887f56f92bbdfb413823bb59fe96b477fe1bd783e0fda128d9",
    );
    let replay = wrapper::decode_datagram(&replay, 1024).expect("a frame");
    assert_eq!(
        Apdu::from_bytes(&replay.apdu),
        Ok(Apdu::ExceptionResponse {
            state_error: 1,
            service_error: ServiceError::InvocationCounterError(0x0123_456A)
        })
    );
    // A meter that does not check counters (no frame counters in its posture, or downgraded)
    // answers the same replayed request.
    fleet.security.check_counters = false;
    let replay = send(
        &mut conn,
        &mut fleet,
        "0001000100010020c81e3001234568887f56f92bbdfb413823bb59fe96b477fe1bd783e0fda128d9",
    );
    let replay = wrapper::decode_datagram(&replay, 1024).expect("a frame");
    assert!(
        !matches!(Apdu::from_bytes(&replay.apdu), Ok(Apdu::ExceptionResponse { .. })),
        "answered, not refused: {:02X?}",
        replay.apdu
    );
}

/// The public client reads but may not operate the relay; the password client with the
/// right password may, with the wrong one it is refused; the relay opens once, by client 17.
#[test]
fn rights_follow_the_client_and_a_wrong_password_is_refused() {
    let mut fleet = fleet();
    let mut conn = Connection::new(Limits::default());
    let public = hex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff");
    let aare = Aare::from_bytes(&exchange(&mut conn, &mut fleet, 16, &public)).expect("an AARE");
    assert_eq!(
        (aare.result, aare.diagnostic),
        (AssociationResult::Accepted, Diagnostic::NULL)
    );
    let register = exchange(&mut conn, &mut fleet, 16, &get((3, Obis::ACTIVE_ENERGY_IMPORT, 2)));
    assert_eq!(
        Apdu::from_bytes(&register),
        Ok(Apdu::GetResponse {
            invoke: 0xC1,
            result: GetResult::Data(Data::DoubleLongUnsigned(123_456))
        })
    );
    let denied = exchange(&mut conn, &mut fleet, 16, &disconnect());
    assert!(matches!(
        Apdu::from_bytes(&denied),
        Ok(Apdu::ActionResponse {
            result: ResultCode::READ_WRITE_DENIED,
            ..
        })
    ));
    let low = hex(
        "6036a1090607608574050801018a0207808b0760857405080201ac0a80083132333435363738be10040e01000000065f1f0400401e5dffff",
    );
    let mut wrong = Aarq::from_bytes(&low).expect("an AARQ");
    wrong.calling_authentication = Some(b"87654321".to_vec());
    let refused = Aare::from_bytes(&exchange(&mut conn, &mut fleet, 17, &wrong.to_bytes())).expect("an AARE");
    assert_eq!(
        (refused.result, refused.diagnostic),
        (AssociationResult::RejectedPermanent, Diagnostic::AUTHENTICATION_FAILURE)
    );
    // Without an association, services are refused.
    assert!(matches!(
        Apdu::from_bytes(&exchange(&mut conn, &mut fleet, 17, &disconnect())),
        Ok(Apdu::ExceptionResponse { .. })
    ));
    let accepted = Aare::from_bytes(&exchange(&mut conn, &mut fleet, 17, &low)).expect("an AARE");
    assert_eq!(accepted.result, AssociationResult::Accepted);
    let done = exchange(&mut conn, &mut fleet, 17, &disconnect());
    assert!(matches!(
        Apdu::from_bytes(&done),
        Ok(Apdu::ActionResponse {
            result: ResultCode::SUCCESS,
            ..
        })
    ));
    assert_eq!(fleet.meter.actions, [(17, 1)]);
    assert!(fleet.meter.relay_open);
    // An HLS client that asks without ciphering, or an unknown client, is refused.
    let plain_for_hls = Aarq {
        context: Context::LogicalName,
        ..Aarq::from_bytes(&public).expect("an AARQ")
    };
    let refused = Aare::from_bytes(&exchange(&mut conn, &mut fleet, 1, &plain_for_hls.to_bytes())).expect("an AARE");
    assert_eq!(refused.diagnostic, Diagnostic::CONTEXT_NOT_SUPPORTED);
    let unknown = Aare::from_bytes(&exchange(&mut conn, &mut fleet, 99, &public)).expect("an AARE");
    assert_eq!(unknown.result, AssociationResult::RejectedPermanent);
}

/// An answer longer than the client takes comes in blocks that join to the value's
/// encoding; a wrong block number ends the long GET.
#[test]
fn a_long_answer_comes_in_blocks() {
    let mut fleet = fleet();
    let mut conn = Connection::new(Limits::default());
    let mut initiate = InitiateRequest::from_bytes(&hex("01000000065f1f0400401e5dffff")).expect("initiate");
    initiate.max_receive_pdu = 256;
    let aarq = Aarq {
        user_information: Some(initiate.to_bytes()),
        ..Aarq::from_bytes(&hex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")).expect("an AARQ")
    };
    let aare = Aare::from_bytes(&exchange(&mut conn, &mut fleet, 16, &aarq.to_bytes())).expect("an AARE");
    let allowed =
        amirange_dlms::acse::InitiateResponse::from_bytes(aare.user_information.as_deref().expect("initiate"))
            .expect("initiate response");
    assert!(allowed.conformance.contains(Conformance::BLOCK_TRANSFER_WITH_GET));
    assert!(
        !allowed.conformance.contains(Conformance::ACTION),
        "the public client may not operate"
    );
    let mut raw = Vec::new();
    let mut reply = exchange(&mut conn, &mut fleet, 16, &get((7, Obis::LOAD_PROFILE, 2)));
    let mut blocks = 0;
    loop {
        assert!(reply.len() <= 256, "block of {} bytes", reply.len());
        let Ok(Apdu::GetResponseBlock {
            last,
            block,
            result: Ok(part),
            ..
        }) = Apdu::from_bytes(&reply)
        else {
            panic!("not a block: {reply:02x?}");
        };
        blocks += 1;
        assert_eq!(block, blocks);
        raw.extend_from_slice(&part);
        if last {
            break;
        }
        let next = Apdu::GetRequestNext { invoke: 0xC1, block }.to_bytes();
        reply = exchange(&mut conn, &mut fleet, 16, &next);
    }
    assert!(blocks > 5);
    let GetResult::Data(want) = fleet.meter.get(
        &Caller {
            client: 16,
            rights: Rights::Read,
            system_title: None,
            invocation_counter: None,
        },
        &AttributeDescriptor {
            class_id: 7,
            instance: Obis::LOAD_PROFILE,
            attribute: 2,
        },
        None,
    ) else {
        panic!("the profile");
    };
    assert_eq!(raw, want.to_bytes());
    // A next block with no long GET in progress is an error block.
    let stray = exchange(
        &mut conn,
        &mut fleet,
        16,
        &Apdu::GetRequestNext { invoke: 0xC1, block: 1 }.to_bytes(),
    );
    assert!(matches!(
        Apdu::from_bytes(&stray),
        Ok(Apdu::GetResponseBlock {
            result: Err(ResultCode::NO_LONG_GET_IN_PROGRESS),
            ..
        })
    ));
}

/// A broken wrapper or more associations than the limit close the connection; garbage
/// APDUs get exception answers and leave it open.
#[test]
fn broken_framing_and_too_many_associations_close_garbage_does_not() {
    let mut fleet = fleet();
    let mut conn = Connection::new(Limits {
        max_apdu: 1024,
        max_associations: 1,
    });
    let garbage = exchange(&mut conn, &mut fleet, 16, &[0xC0, 0x09, 0xFF]);
    assert!(matches!(Apdu::from_bytes(&garbage), Ok(Apdu::ExceptionResponse { .. })));
    let public = hex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff");
    exchange(&mut conn, &mut fleet, 16, &public);
    let low = hex(
        "6036a1090607608574050801018a0207808b0760857405080201ac0a80083132333435363738be10040e01000000065f1f0400401e5dffff",
    );
    let frame = wrapper::encode_checked(
        Addresses {
            source: 17,
            destination: 1,
        },
        &low,
    )
    .expect("frames");
    assert_eq!(
        conn.receive(&frame, &mut fleet, &mut || [0; 8]),
        Err(Closed::TooManyAssociations(1))
    );
    let mut conn = Connection::new(Limits::default());
    assert!(matches!(
        conn.receive(&hex("0002001000010000"), &mut fleet, &mut || [0; 8]),
        Err(Closed::Framing(_))
    ));
}

/// Through the gateway protocol a client reaches the device by network id and physical
/// address, whatever the wrapper's wPort: the answer comes back in a gateway-response with the
/// same address, and the association is the gateway route's alone. A malformed or unknown
/// gateway-request gets no answer and the connection stays open.
#[test]
fn the_gateway_protocol_reaches_a_device_by_its_physical_address() {
    let mut fleet = fleet();
    let mut conn = Connection::new(Limits::default());
    let via = |apdu: &[u8]| {
        let mut out = vec![0xE6, 0x00, 0x08];
        out.extend_from_slice(b"AMR00001");
        out.extend_from_slice(apdu);
        out
    };
    let send = |conn: &mut Connection, fleet: &mut Fleet, apdu: &[u8]| {
        let frame = wrapper::encode_checked(
            Addresses {
                source: 16,
                destination: 99,
            },
            apdu,
        )
        .expect("frames");
        conn.receive(&frame, fleet, &mut || *b"P6wRJ21F").expect("stays open")
    };
    let answer = |out: Vec<u8>| {
        let reply = wrapper::decode_datagram(&out, 65_535).expect("one frame back");
        let (head, apdu) = reply.apdu.split_at(11);
        assert_eq!(head, [&[0xE7, 0x00, 0x08][..], b"AMR00001"].concat());
        apdu.to_vec()
    };
    // The public client's AARQ as Gurux frames it through a gateway (`vectors/record.py`,
    // "aarq through the gateway"): wPort 16 to 1, network 0, AMR00001.
    let gurux =
        hex("000100100001002ae60008414d523030303031601da109060760857405080101be10040e01000000065f1f0400401e5dffff");
    let out = conn
        .receive(&gurux, &mut fleet, &mut || *b"P6wRJ21F")
        .expect("stays open");
    let aare = Aare::from_bytes(&answer(out)).expect("an AARE");
    assert_eq!(aare.result, AssociationResult::Accepted);
    let aarq = Aarq::without_security(1024).to_bytes();
    let aare = Aare::from_bytes(&answer(send(&mut conn, &mut fleet, &via(&aarq)))).expect("an AARE");
    assert_eq!(aare.result, AssociationResult::Accepted);
    assert_eq!(
        Apdu::from_bytes(&answer(send(
            &mut conn,
            &mut fleet,
            &via(&get((3, Obis::ACTIVE_ENERGY_IMPORT, 2)))
        ))),
        Ok(Apdu::GetResponse {
            invoke: 0xC1,
            result: GetResult::Data(Data::DoubleLongUnsigned(123_456)),
        })
    );
    // The logical device at wPort 1 is another route: no association there.
    assert!(matches!(
        Apdu::from_bytes(&exchange(
            &mut conn,
            &mut fleet,
            16,
            &get((3, Obis::ACTIVE_ENERGY_IMPORT, 2))
        )),
        Ok(Apdu::ExceptionResponse { .. })
    ));
    // Another address, no address, a truncated request: nothing.
    let mut other = vec![0xE6, 0x00, 0x08];
    other.extend_from_slice(b"AMR00002");
    other.extend_from_slice(&aarq);
    assert!(send(&mut conn, &mut fleet, &other).is_empty());
    assert!(send(&mut conn, &mut fleet, &[0xE6, 0x00, 0x00, 0x60]).is_empty());
    assert!(send(&mut conn, &mut fleet, &[0xE6, 0x00, 0x20, 0x41]).is_empty());
}
