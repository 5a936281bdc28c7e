//! Property tests: arbitrary bytes in any chunking never panic a decoder, and every value
//! encodes and decodes back to the same bytes.

use amirange_dlms::acse::{Aare, Aarq, InitiateRequest, InitiateResponse};
use amirange_dlms::apdu::{Apdu, AttributeDescriptor, GetResult, MethodDescriptor, ResultCode, SelectiveAccess};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_dlms::security::{self, Keys};
use amirange_dlms::server::{
    Authentication, Caller, ClientPolicy, Connection, Device, DeviceSecurity, Devices, Limits, Objects, Rights,
};
use amirange_dlms::wrapper::{self, Addresses, Decoder};
use proptest::prelude::*;

/// One logical device (wPort 1) with a public client, a password client and an HLS client,
/// whose objects answer every GET with a small value.
struct OneMeter {
    security: DeviceSecurity,
    objects: Answering,
}

struct Answering;

impl Objects for Answering {
    fn get(&mut self, _: &Caller, _: &AttributeDescriptor, _: Option<&SelectiveAccess>) -> GetResult {
        GetResult::Data(Data::Unsigned(1))
    }
    fn set(&mut self, _: &Caller, _: &AttributeDescriptor, _: Option<&SelectiveAccess>, _: &Data) -> ResultCode {
        ResultCode::SUCCESS
    }
    fn action(&mut self, _: &Caller, _: &MethodDescriptor, _: Option<&Data>) -> (ResultCode, Option<GetResult>) {
        (ResultCode::SUCCESS, None)
    }
}

impl OneMeter {
    fn new() -> OneMeter {
        let client = |address, authentication| ClientPolicy {
            address,
            authentication,
            rights: Rights::Manage,
        };
        OneMeter {
            security: DeviceSecurity::new(
                [1; 8],
                vec![
                    client(16, Authentication::None),
                    client(17, Authentication::Password(b"pw".to_vec())),
                    client(
                        1,
                        Authentication::HlsGmac(Keys {
                            encryption: [1; 16],
                            authentication: [2; 16],
                        }),
                    ),
                ],
            ),
            objects: Answering,
        }
    }
}

impl Devices for OneMeter {
    fn device(&mut self, address: u16) -> Option<Device<'_>> {
        (address == 1).then_some(Device {
            security: &mut self.security,
            objects: &mut self.objects,
        })
    }
}

fn data() -> impl Strategy<Value = Data> {
    let leaf = prop_oneof![
        Just(Data::Null),
        any::<bool>().prop_map(Data::Boolean),
        any::<i32>().prop_map(Data::DoubleLong),
        any::<u32>().prop_map(Data::DoubleLongUnsigned),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Data::OctetString),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Data::VisibleString),
        any::<i8>().prop_map(Data::Integer),
        any::<i16>().prop_map(Data::Long),
        any::<u8>().prop_map(Data::Unsigned),
        any::<u16>().prop_map(Data::LongUnsigned),
        any::<i64>().prop_map(Data::Long64),
        any::<u64>().prop_map(Data::Long64Unsigned),
        any::<u8>().prop_map(Data::Enum),
        any::<u32>().prop_map(|b| Data::Float32(f32::from_bits(b))),
        any::<u64>().prop_map(|b| Data::Float64(f64::from_bits(b))),
        any::<[u8; 12]>().prop_map(Data::DateTime),
        (0usize..40).prop_flat_map(|bits| {
            proptest::collection::vec(any::<u8>(), bits.div_ceil(8))
                .prop_map(move |bytes| Data::BitString { bits, bytes })
        }),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Data::Array),
            proptest::collection::vec(inner, 0..8).prop_map(Data::Structure),
        ]
    })
}

fn attribute() -> impl Strategy<Value = AttributeDescriptor> {
    (any::<u16>(), any::<[u8; 6]>(), any::<i8>()).prop_map(|(class_id, name, attribute)| AttributeDescriptor {
        class_id,
        instance: Obis(name),
        attribute,
    })
}

fn apdu() -> impl Strategy<Value = Apdu> {
    prop_oneof![
        (any::<u8>(), attribute(), proptest::option::of((any::<u8>(), data()))).prop_map(
            |(invoke, attribute, access)| {
                Apdu::GetRequest {
                    invoke,
                    attribute,
                    access: access.map(|(selector, parameters)| SelectiveAccess { selector, parameters }),
                }
            }
        ),
        (any::<u8>(), any::<u32>()).prop_map(|(invoke, block)| Apdu::GetRequestNext { invoke, block }),
        (any::<u8>(), data()).prop_map(|(invoke, d)| Apdu::GetResponse {
            invoke,
            result: GetResult::Data(d)
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(invoke, code)| Apdu::GetResponse {
            invoke,
            result: GetResult::Error(ResultCode(code))
        }),
        (
            any::<u8>(),
            any::<bool>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(invoke, last, block, raw)| Apdu::GetResponseBlock {
                invoke,
                last,
                block,
                result: Ok(raw)
            }),
        (any::<u8>(), attribute(), data()).prop_map(|(invoke, attribute, value)| Apdu::SetRequest {
            invoke,
            attribute,
            access: None,
            value
        }),
        (any::<u8>(), attribute(), proptest::option::of(data())).prop_map(|(invoke, a, parameters)| {
            Apdu::ActionRequest {
                invoke,
                method: MethodDescriptor {
                    class_id: a.class_id,
                    instance: a.instance,
                    method: a.attribute,
                },
                parameters,
            }
        }),
        (any::<u8>(), any::<u8>(), proptest::option::of(data())).prop_map(|(invoke, code, returned)| {
            Apdu::ActionResponse {
                invoke,
                result: ResultCode(code),
                returned: returned.map(GetResult::Data),
            }
        }),
    ]
}

proptest! {
    /// Any bytes: an APDU, a value or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Apdu::from_bytes(&bytes);
        let _ = Data::from_bytes(&bytes);
    }

    /// Any bytes as a protected APDU, an AARQ or an AARE: an error or a value, never a
    /// panic.
    #[test]
    fn arbitrary_protected_and_association_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let keys = Keys { encryption: [1; 16], authentication: [2; 16] };
        let _ = security::open(&keys, &[3; 8], &bytes);
        let _ = security::glo_unwrap(&bytes);
        let _ = security::check_gmac_answer(&keys, &[3; 8], b"challenge", &bytes);
        let _ = Aarq::from_bytes(&bytes);
        let _ = Aare::from_bytes(&bytes);
        let _ = InitiateRequest::from_bytes(&bytes);
        let _ = InitiateResponse::from_bytes(&bytes);
    }

    /// Any bytes in any chunking through the stream decoder: frames or an error, never a
    /// panic, and never more bytes held than were pushed.
    #[test]
    fn arbitrary_streams_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
        chunk in 1usize..64,
    ) {
        let mut decoder = Decoder::new(256);
        'stream: for part in bytes.chunks(chunk) {
            decoder.push(part);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => prop_assert!(frame.apdu.len() <= 256),
                    Ok(None) => break,
                    Err(_) => break 'stream,
                }
            }
        }
        prop_assert!(decoder.buffered() <= bytes.len());
    }

    /// Any bytes in any chunking into the meter side: answers or a close, never a panic; and
    /// well-framed garbage APDUs never close a connection (only an AARQ can, by opening more
    /// associations than the limit).
    #[test]
    fn the_meter_side_survives_arbitrary_input(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        apdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        chunk in 1usize..32,
    ) {
        let mut devices = OneMeter::new();
        let mut conn = Connection::new(Limits::default());
        for part in bytes.chunks(chunk) {
            if conn.receive(part, &mut devices, &mut || [7; 8]).is_err() {
                break;
            }
        }
        // Whole frames of arbitrary APDUs from the public client, then a real association.
        let mut conn = Connection::new(Limits::default());
        for apdu in &apdus {
            let frame = wrapper::encode_checked(Addresses { source: 16, destination: 1 }, apdu).expect("short");
            prop_assert!(conn.receive(&frame, &mut devices, &mut || [7; 8]).is_ok() || apdu.first() == Some(&0x60));
        }
    }

    /// Every value decodes from its encoding to a value with the same encoding.
    #[test]
    fn values_round_trip(value in data()) {
        let bytes = value.to_bytes();
        let back = Data::from_bytes(&bytes).expect("decodes");
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    /// Every APDU decodes from its encoding to an APDU with the same encoding.
    #[test]
    fn apdus_round_trip(apdu in apdu()) {
        let bytes = apdu.to_bytes();
        let back = Apdu::from_bytes(&bytes).expect("decodes");
        prop_assert_eq!(back.to_bytes(), bytes);
    }
}
