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

mod ciphered {
    //! Recorded from `GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None,
    //! InterfaceType.WRAPPER)` with security AUTHENTICATION_ENCRYPTION, system title
    //! 4D4D4D0000BC614E, block cipher key 000102…0F, authentication key D0D1…DF, invocation
    //! counter 0x01234567 and the client-to-server challenge "K56iVagY" (the Green Book's
    //! example keys; see `dlms/tests/vectors/record.py`).

    use super::hex;
    use amirange_dlms::acse::{Aarq, Conformance, Context, InitiateRequest, Mechanism};
    use amirange_dlms::apdu::{Apdu, AttributeDescriptor};
    use amirange_dlms::obis::Obis;
    use amirange_dlms::security::{self, Keys, SecurityError};
    use amirange_dlms::wrapper;

    const TITLE: [u8; 8] = [0x4D, 0x4D, 0x4D, 0x00, 0x00, 0xBC, 0x61, 0x4E];

    fn keys() -> Keys {
        Keys {
            encryption: core::array::from_fn(|i| i as u8),
            authentication: core::array::from_fn(|i| 0xD0 + i as u8),
        }
    }

    /// The APDU of a frame between client wPort 1 and the management logical device.
    fn apdu_of(frame: &str) -> Vec<u8> {
        let frame = wrapper::decode_datagram(&hex(frame), 1024).expect("a whole frame");
        assert_eq!((frame.addresses.source, frame.addresses.destination), (1, 1));
        frame.apdu
    }

    const AARQ_HLS: &str = "00010001000100576055a109060760857405080103a60a04084d4d4d0000bc614e8a0207808b0760857405080205ac0a80084b35366956616759be230421211f3001234567801212ff9d0558536867253843e146830127db113047b05492b9";

    /// The AARQ of an HLS-GMAC association with ciphering: the context, the client's system
    /// title, the mechanism, the challenge, and an initiate request that deciphers under the
    /// keys to what Gurux proposes; it encodes back to the same bytes.
    #[test]
    fn gurux_hls_gmac_aarq_deciphers() {
        let bytes = apdu_of(AARQ_HLS);
        let aarq = Aarq::from_bytes(&bytes).expect("an AARQ");
        assert_eq!(aarq.context, Context::LogicalNameCiphered);
        assert_eq!(aarq.calling_ap_title.as_deref(), Some(&TITLE[..]));
        assert_eq!(aarq.mechanism, Some(Mechanism::HighGmac));
        assert_eq!(aarq.calling_authentication.as_deref(), Some(&b"K56iVagY"[..]));
        assert_eq!(aarq.to_bytes(), bytes);
        let info = aarq.user_information.expect("user information");
        let (tag, protected) = security::glo_unwrap(&info).expect("glo-initiate-request");
        assert_eq!(tag, 0x21);
        let opened = security::open(&keys(), &TITLE, protected).expect("deciphers");
        assert_eq!((opened.control, opened.invocation_counter), (0x30, 0x0123_4567));
        let initiate = InitiateRequest::from_bytes(&opened.apdu).expect("an initiate request");
        assert_eq!(initiate.version, 6);
        assert!(initiate.response_allowed && initiate.dedicated_key.is_none());
        assert!(initiate.conformance.contains(Conformance::GET.or(Conformance::ACTION)));
        assert_eq!(initiate.to_bytes(), opened.apdu);
        // Sealing the same plain APDU under the same counter gives Gurux's bytes.
        assert_eq!(
            security::seal(&keys(), &TITLE, 0x30, 0x0123_4567, &opened.apdu).expect("seals"),
            protected
        );
    }

    /// A ciphered GET of the clock (glo-get-request, the next invocation counter) deciphers to
    /// the plain GET, and sealing that gives the same bytes; an altered byte or a wrong key
    /// fails the tag.
    #[test]
    fn gurux_glo_get_request_deciphers_and_tampering_fails() {
        let bytes = apdu_of("0001000100010020c81e3001234568887f56f92bbdfb413823bb59fe96b477fe1bd783e0fda128d9");
        let (tag, protected) = security::glo_unwrap(&bytes).expect("glo-get-request");
        assert_eq!(tag, 0xC8);
        let opened = security::open(&keys(), &TITLE, protected).expect("deciphers");
        assert_eq!(opened.invocation_counter, 0x0123_4568);
        assert_eq!(
            Apdu::from_bytes(&opened.apdu),
            Ok(Apdu::GetRequest {
                invoke: 0xC1,
                attribute: AttributeDescriptor {
                    class_id: 8,
                    instance: Obis::CLOCK,
                    attribute: 2
                },
                access: None
            })
        );
        assert_eq!(
            security::seal(&keys(), &TITLE, 0x30, 0x0123_4568, &opened.apdu).expect("seals"),
            protected
        );
        for i in 0..protected.len() {
            let mut altered = protected.to_vec();
            altered[i] ^= 0x01;
            assert!(security::open(&keys(), &TITLE, &altered).is_err(), "byte {i} altered");
        }
        let mut wrong = keys();
        wrong.authentication[0] ^= 1;
        assert_eq!(security::open(&wrong, &TITLE, protected), Err(SecurityError::Tag));
    }

    /// Authenticated-only and encrypted-only APDUs open to what was sealed; a GMAC answer
    /// checks under the right keys and title only.
    #[test]
    fn every_protection_round_trips_and_gmac_answers_check() {
        let plain = hex("c001c100080000010000ff0200");
        for control in [0x10, 0x20, 0x30] {
            let sealed = security::seal(&keys(), &TITLE, control, 7, &plain).expect("seals");
            let opened = security::open(&keys(), &TITLE, &sealed).expect("opens");
            assert_eq!(
                (opened.control, opened.invocation_counter, opened.apdu),
                (control, 7, plain.clone())
            );
        }
        assert!(security::seal(&keys(), &TITLE, 0x31, 7, &plain).is_err());
        let answer = security::gmac_answer(&keys(), &TITLE, 9, b"P6wRJ21F");
        assert_eq!(answer.len(), 17);
        assert_eq!(
            security::check_gmac_answer(&keys(), &TITLE, b"P6wRJ21F", &answer),
            Some(9)
        );
        assert_eq!(security::check_gmac_answer(&keys(), &TITLE, b"P6wRJ21G", &answer), None);
        let mut other = TITLE;
        other[7] ^= 1;
        assert_eq!(security::check_gmac_answer(&keys(), &other, b"P6wRJ21F", &answer), None);
    }

    /// Our AARE to the HLS-GMAC AARQ above (meter system title "AMR00001", its challenge
    /// "P6wRJ21F", a glo-initiate-response sealed with invocation counter 1) and our ACTION
    /// response with `f(CtoS)` (computed with counter 2, sealed with counter 3: one counter
    /// per use of the key, as Gurux does on its side): `record.py` feeds both to the Gurux
    /// client, which accepted them; these bytes hold the encoder to what it accepted.
    const OUR_AARE: &str = "00010001000100636161a109060760857405080103a203020100a305a10302010ea40a0408414d52303030303188020780890760857405080205aa0a8008503677524a323146be230421281f3000000001510402c75647c0f023a74ba95413bb5fcc96a3fab6039d583dab";
    const OUR_HLS_ANSWER: &str =
        "000100010001002ccf2a30000000039d1918dd047246da418aa3099a2cb2b38e927f748a2cb0ed6013f8fe559bd1c4e65cec5132";
    /// Gurux's reply to our challenge: a glo-action-request of the association's
    /// reply_to_HLS_authentication with its `f(StoC)`.
    const GURUX_HLS_REPLY: &str = "0001000100010033cb313001234569cb0a069de89de0d95b403fcc744f9cd8894bd4d1417f57fd0d4ba8c060a31e9c3a149a73c22530f46c1eb48a";

    /// The whole HLS-GMAC handshake against Gurux: our AARE and answer encode to the bytes
    /// Gurux accepted, and Gurux's `f(StoC)` checks under our GMAC.
    #[test]
    fn hls_gmac_handshake_with_gurux() {
        use amirange_dlms::acse::{Aare, AssociationResult, Diagnostic, InitiateResponse};
        use amirange_dlms::apdu::{GetResult, MethodDescriptor, ResultCode};
        use amirange_dlms::data::Data;
        let server_title = *b"AMR00001";
        let initiate = InitiateResponse {
            quality_of_service: None,
            version: 6,
            conformance: Conformance::GET
                .or(Conformance::SET)
                .or(Conformance::ACTION)
                .or(Conformance::SELECTIVE_ACCESS)
                .or(Conformance::BLOCK_TRANSFER_WITH_GET),
            max_receive_pdu: 1024,
            vaa_name: 7,
        };
        let sealed = security::seal(&keys(), &server_title, 0x30, 1, &initiate.to_bytes()).expect("seals");
        let aare = Aare {
            context: Context::LogicalNameCiphered,
            result: AssociationResult::Accepted,
            diagnostic: Diagnostic::AUTHENTICATION_REQUIRED,
            responding_ap_title: Some(server_title.to_vec()),
            mechanism: Some(Mechanism::HighGmac),
            responding_authentication: Some(b"P6wRJ21F".to_vec()),
            user_information: Some(security::glo_wrap(0x28, &sealed)),
        };
        assert_eq!(aare.to_bytes(), apdu_of(OUR_AARE));
        assert_eq!(Aare::from_bytes(&aare.to_bytes()), Ok(aare));
        // Gurux's answer to our challenge.
        let reply = apdu_of(GURUX_HLS_REPLY);
        let (tag, protected) = security::glo_unwrap(&reply).expect("glo-action-request");
        assert_eq!(tag, 0xCB);
        let opened = security::open(&keys(), &TITLE, protected).expect("deciphers");
        let Ok(Apdu::ActionRequest {
            invoke,
            method,
            parameters: Some(Data::OctetString(answer)),
        }) = Apdu::from_bytes(&opened.apdu)
        else {
            panic!("not reply_to_HLS_authentication with an answer");
        };
        assert_eq!(
            method,
            MethodDescriptor {
                class_id: 15,
                instance: Obis::CURRENT_ASSOCIATION,
                method: 1
            }
        );
        assert_eq!(
            security::check_gmac_answer(&keys(), &TITLE, b"P6wRJ21F", &answer),
            Some(0x0123_4568)
        );
        assert_eq!(security::check_gmac_answer(&keys(), &TITLE, b"P6wRJ21G", &answer), None);
        // Our answer to Gurux's challenge "K56iVagY".
        let response = Apdu::ActionResponse {
            invoke,
            result: ResultCode::SUCCESS,
            returned: Some(GetResult::Data(Data::OctetString(security::gmac_answer(
                &keys(),
                &server_title,
                2,
                b"K56iVagY",
            )))),
        };
        let sealed = security::seal(&keys(), &server_title, 0x30, 3, &response.to_bytes()).expect("seals");
        assert_eq!(security::glo_wrap(0xCF, &sealed), apdu_of(OUR_HLS_ANSWER));
    }

    /// The AARQs without security (public client) and with a password, as Gurux sends them.
    #[test]
    fn gurux_aarqs_without_security_and_with_a_password() {
        let none = hex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff");
        let aarq = Aarq::from_bytes(&none).expect("an AARQ");
        assert_eq!((aarq.context, aarq.mechanism), (Context::LogicalName, None));
        assert_eq!(aarq.to_bytes(), none);
        let low = hex(
            "6036a1090607608574050801018a0207808b0760857405080201ac0a80083132333435363738be10040e01000000065f1f0400401e5dffff",
        );
        let aarq = Aarq::from_bytes(&low).expect("an AARQ");
        assert_eq!(aarq.mechanism, Some(Mechanism::Lowest));
        assert_eq!(aarq.calling_authentication.as_deref(), Some(&b"12345678"[..]));
        let initiate = InitiateRequest::from_bytes(aarq.user_information.as_deref().expect("initiate")).expect("plain");
        assert_eq!(initiate.max_receive_pdu, 0xFFFF);
        assert_eq!(aarq.to_bytes(), low);
    }
}
