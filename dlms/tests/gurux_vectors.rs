//! Frames recorded once from a DLMS client that is not ours: the Gurux DLMS library for
//! Python (`gurux-dlms` 1.0.203, GPLv2, run as an external program only; see
//! `dlms/tests/vectors/record.py`), as `GXDLMSClient(True, client, 1, auth, password,
//! InterfaceType.WRAPPER)` framed them. Each is decoded here and must encode back to the same
//! bytes.

use amirange_dlms::apdu::{Apdu, AttributeDescriptor, MethodDescriptor};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::wrapper::{self, Addresses};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Unwraps a recorded frame, checking it was from the public client to the management
/// logical device.
fn unwrap(frame: &str) -> Vec<u8> {
    let frame = wrapper::decode_datagram(&hex(frame), 1024).expect("a whole frame");
    assert_eq!(
        frame.addresses,
        Addresses {
            source: 16,
            destination: 1
        }
    );
    frame.apdu
}

/// `client.read(GXDLMSClock("0.0.1.0.0.255"), 2)`: the clock's time.
#[test]
fn gurux_get_of_the_clock_time() {
    let apdu = unwrap("000100100001000dc001c100080000010000ff0200");
    let want = Apdu::GetRequest {
        invoke: 0xC1,
        attribute: AttributeDescriptor {
            class_id: 8,
            instance: Obis::CLOCK,
            attribute: 2,
        },
        access: None,
    };
    assert_eq!(Apdu::from_bytes(&apdu), Ok(want.clone()));
    assert_eq!(want.to_bytes(), apdu);
}

/// `client.read(GXDLMSRegister("1.0.1.8.0.255"), 2)`: the active energy register's value.
#[test]
fn gurux_get_of_the_energy_register() {
    let apdu = unwrap("000100100001000dc001c100030100010800ff0200");
    let want = Apdu::GetRequest {
        invoke: 0xC1,
        attribute: AttributeDescriptor {
            class_id: 3,
            instance: Obis::ACTIVE_ENERGY_IMPORT,
            attribute: 2,
        },
        access: None,
    };
    assert_eq!(Apdu::from_bytes(&apdu), Ok(want.clone()));
    assert_eq!(want.to_bytes(), apdu);
}

/// `client.method(GXDLMSDisconnectControl("0.0.96.3.10.255"), 1, 0, DataType.INT8)`:
/// remote_disconnect with its integer parameter 0.
#[test]
fn gurux_remote_disconnect() {
    let apdu = unwrap("000100100001000fc301c10046000060030aff01010f00");
    let want = Apdu::ActionRequest {
        invoke: 0xC1,
        method: MethodDescriptor {
            class_id: 70,
            instance: Obis::DISCONNECT_CONTROL,
            method: 1,
        },
        parameters: Some(Data::Integer(0)),
    };
    assert_eq!(Apdu::from_bytes(&apdu), Ok(want.clone()));
    assert_eq!(want.to_bytes(), apdu);
}
