//! The meter's side of DLMS, sans I/O: a [`Connection`] takes the bytes a client sent and
//! returns the bytes to send back, opening associations (no security, a password, or HLS by
//! GMAC with suite 0 ciphering), refusing replayed invocation counters, and passing GET, SET
//! and ACTION to the logical device's [`Objects`]. Long GET answers go in blocks.
//!
//! Time, randomness and the object model come from the caller: the challenges a meter sends
//! are drawn by the caller (so a seeded run stays reproducible), and what a GET reads or an
//! ACTION does is the [`Objects`] implementation's business (the engine's meters, for
//! amirange).

use crate::acse::{
    Aare, Aarq, AssociationResult, Conformance, Context, Diagnostic, InitiateRequest, InitiateResponse, Mechanism,
    RLRE, RLRQ,
};
use crate::apdu::{Apdu, AttributeDescriptor, GetResult, MethodDescriptor, ResultCode, SelectiveAccess, ServiceError};
use crate::data::Data;
use crate::obis::Obis;
use crate::security::{self, Keys};
use crate::wrapper::{self, Addresses, Decoder};

/// The services a meter offers (GET with blocks and selective access, SET, ACTION).
pub const METER_CONFORMANCE: Conformance = Conformance(
    Conformance::GET.0
        | Conformance::SET.0
        | Conformance::ACTION.0
        | Conformance::SELECTIVE_ACCESS.0
        | Conformance::BLOCK_TRANSFER_WITH_GET.0,
);

/// How a client address authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// No authentication (the public client).
    None,
    /// Lowest-level security: this password.
    Password(Vec<u8>),
    /// HLS by GMAC with suite 0 authenticated encryption under these keys (per device, or
    /// shared by a group of meters, as the scenario's security posture says).
    HlsGmac(Keys),
}

/// What an association may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rights {
    /// GET only.
    Read,
    /// GET, SET and ACTION.
    Manage,
}

/// One client address a logical device accepts, and on what terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPolicy {
    /// The client's wPort.
    pub address: u16,
    /// How it authenticates.
    pub authentication: Authentication,
    /// What it may do once associated.
    pub rights: Rights,
}

/// A logical device's security state: its system title, the clients it accepts, its own
/// invocation counter and the last counter it accepted from each client address.
#[derive(Debug, Clone)]
pub struct DeviceSecurity {
    /// The device's system title.
    pub system_title: [u8; 8],
    /// The clients it accepts.
    pub clients: Vec<ClientPolicy>,
    /// The counter of the next APDU it protects.
    pub invocation_counter: u32,
    /// Whether it refuses a ciphered request whose counter is not above the last it accepted
    /// from that client (a replay). A device that does not still records the highest.
    pub check_counters: bool,
    /// The highest counter accepted from each client address.
    last_accepted: Vec<(u16, u32)>,
}

impl DeviceSecurity {
    /// A device with no counters used yet.
    pub fn new(system_title: [u8; 8], clients: Vec<ClientPolicy>) -> DeviceSecurity {
        DeviceSecurity {
            system_title,
            clients,
            invocation_counter: 1,
            check_counters: true,
            last_accepted: Vec::new(),
        }
    }

    /// The highest invocation counter accepted from `client`, if any.
    pub fn last_accepted(&self, client: u16) -> Option<u32> {
        self.last_accepted.iter().find(|(c, _)| *c == client).map(|&(_, n)| n)
    }

    /// Accepts `counter` from `client` if it is above every counter accepted from it so far
    /// (or whatever it is, when the device does not check counters).
    fn accept_counter(&mut self, client: u16, counter: u32) -> bool {
        let check = self.check_counters;
        match self.last_accepted.iter_mut().find(|(c, _)| *c == client) {
            Some((_, last)) if counter <= *last => !check,
            Some((_, last)) => {
                *last = counter;
                true
            }
            None => {
                self.last_accepted.push((client, counter));
                true
            }
        }
    }

    fn next_counter(&mut self) -> u32 {
        let n = self.invocation_counter;
        self.invocation_counter = self.invocation_counter.wrapping_add(1);
        n
    }
}

/// Who is asking, for the object model's access decisions and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The client's wPort.
    pub client: u16,
    /// What its association may do.
    pub rights: Rights,
    /// The client's system title, for a ciphered association.
    pub system_title: Option<[u8; 8]>,
    /// The invocation counter of the request, for a ciphered association.
    pub invocation_counter: Option<u32>,
}

/// A logical device's COSEM objects.
pub trait Objects {
    /// Reads an attribute.
    fn get(&mut self, caller: &Caller, attribute: &AttributeDescriptor, access: Option<&SelectiveAccess>) -> GetResult;
    /// Writes an attribute.
    fn set(
        &mut self,
        caller: &Caller,
        attribute: &AttributeDescriptor,
        access: Option<&SelectiveAccess>,
        value: &Data,
    ) -> ResultCode;
    /// Invokes a method.
    fn action(
        &mut self,
        caller: &Caller,
        method: &MethodDescriptor,
        parameters: Option<&Data>,
    ) -> (ResultCode, Option<GetResult>);
}

/// A logical device as a connection sees it.
pub struct Device<'a> {
    /// Its security state.
    pub security: &'a mut DeviceSecurity,
    /// Its objects.
    pub objects: &'a mut dyn Objects,
}

/// Where a connection finds the logical device a frame is addressed to.
pub trait Devices {
    /// The device at wPort `address`, if there is one.
    fn device(&mut self, address: u16) -> Option<Device<'_>>;

    /// The device behind the gateway at physical address `address` of network `network`
    /// (the gateway protocol's `gateway-request`), if there is one; none by default.
    fn physical(&mut self, network: u8, address: &[u8]) -> Option<Device<'_>> {
        let _ = (network, address);
        None
    }
}

/// The gateway protocol's request: a client reaches a physical device behind a gateway (a
/// data concentrator) by network id and physical address, with the APDU after them.
pub const GATEWAY_REQUEST: u8 = 0xE6;
/// The gateway protocol's response, with the same network id and address.
pub const GATEWAY_RESPONSE: u8 = 0xE7;
/// The longest physical device address taken, bytes.
const MAX_PHYSICAL_ADDRESS: usize = 64;

/// A physical device behind the gateway: its network id and address.
type Physical = Option<(u8, Vec<u8>)>;

/// The network id, physical address and APDU of a `gateway-request`.
fn gateway_request(apdu: &[u8]) -> Result<(u8, Vec<u8>, &[u8]), crate::DecodeError> {
    let mut r = crate::Reader::new(apdu);
    r.u8("gateway-request tag")?;
    let network = r.u8("network id")?;
    let len = r.length("physical device address")?;
    if len == 0 || len > MAX_PHYSICAL_ADDRESS {
        return Err(crate::DecodeError::Malformed("physical device address length"));
    }
    let address = r.take(len, "physical device address")?.to_vec();
    let inner = r.take(r.remaining(), "APDU")?;
    Ok((network, address, inner))
}

/// Limits per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest APDU accepted (and the device's max receive PDU size).
    pub max_apdu: u16,
    /// Associations open at once on one connection.
    pub max_associations: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_apdu: 1024,
            max_associations: 4,
        }
    }
}

/// Why a connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Closed {
    /// The byte stream lost its framing (another wrapper version, a length over the limit).
    #[error("the wrapper framing broke: {0}")]
    Framing(crate::DecodeError),
    /// More associations than the limit.
    #[error("more than {0} associations on one connection")]
    TooManyAssociations(usize),
}

#[derive(Debug, Clone)]
enum State {
    /// HLS: the AARE went out with the device's challenge; the client's answer is due.
    AwaitingHls {
        challenge: Vec<u8>,
        client_challenge: Vec<u8>,
    },
    Open,
}

#[derive(Debug, Clone)]
struct Association {
    addresses: Addresses,
    /// The physical device behind the gateway it was opened with, if any.
    physical: Physical,
    rights: Rights,
    ciphered: Option<Ciphered>,
    state: State,
    /// The largest APDU the client takes.
    client_max_pdu: u16,
    /// The blocks of a long GET answer not sent yet: its raw bytes and the next block number.
    long_get: Option<(Vec<u8>, u32, u8)>,
}

impl Association {
    /// Whether it is the association of this route: these wrapper addresses and this physical
    /// device behind the gateway (or none).
    fn on(&self, addresses: Addresses, physical: &Physical) -> bool {
        self.addresses == addresses && self.physical == *physical
    }
}

#[derive(Debug, Clone)]
struct Ciphered {
    keys: Keys,
    client_title: [u8; 8],
}

/// One client connection's protocol state (TCP: a byte stream of wrapper frames).
#[derive(Debug)]
pub struct Connection {
    decoder: Decoder,
    limits: Limits,
    associations: Vec<Association>,
}

impl Connection {
    /// A new connection with the given limits.
    pub fn new(limits: Limits) -> Connection {
        Connection {
            decoder: Decoder::new(usize::from(limits.max_apdu)),
            limits,
            associations: Vec::new(),
        }
    }

    /// Takes bytes received and returns the bytes to send back. `challenge` draws the 8-byte
    /// challenge of a new HLS association. An error means the connection must be closed
    /// (what had been answered before it is lost with it).
    pub fn receive(
        &mut self,
        bytes: &[u8],
        devices: &mut dyn Devices,
        challenge: &mut dyn FnMut() -> [u8; 8],
    ) -> Result<Vec<u8>, Closed> {
        self.decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.decoder.next_frame().map_err(Closed::Framing)? {
            let reply = Addresses {
                source: frame.addresses.destination,
                destination: frame.addresses.source,
            };
            // Through the gateway, the physical address names the device (a malformed
            // gateway-request is dropped, as one for no device).
            let (physical, inner): (Physical, &[u8]) = if frame.apdu.first() == Some(&GATEWAY_REQUEST) {
                let Ok((network, address, inner)) = gateway_request(&frame.apdu) else {
                    continue;
                };
                (Some((network, address)), inner)
            } else {
                (None, &frame.apdu)
            };
            // A frame for no device, or one that needs no answer, gets none.
            let device = match &physical {
                Some((network, address)) => devices.physical(*network, address),
                None => devices.device(frame.addresses.destination),
            };
            let Some(mut device) = device else {
                continue;
            };
            if let Some(apdu) = self.handle(frame.addresses, &physical, inner, &mut device, challenge)? {
                let apdu = match &physical {
                    Some((network, address)) => {
                        let mut out = vec![GATEWAY_RESPONSE, *network];
                        crate::put_length(&mut out, address.len());
                        out.extend_from_slice(address);
                        out.extend_from_slice(&apdu);
                        out
                    }
                    None => apdu,
                };
                // An answer over 65,535 bytes cannot be framed; the blocks keep answers far
                // below that, so this only drops what cannot be sent.
                if let Ok(bytes) = wrapper::encode_checked(reply, &apdu) {
                    out.extend_from_slice(&bytes);
                }
            }
        }
        Ok(out)
    }

    fn handle(
        &mut self,
        addresses: Addresses,
        physical: &Physical,
        apdu: &[u8],
        device: &mut Device<'_>,
        challenge: &mut dyn FnMut() -> [u8; 8],
    ) -> Result<Option<Vec<u8>>, Closed> {
        let Some(&tag) = apdu.first() else {
            return Ok(None);
        };
        match tag {
            crate::acse::AARQ => self.associate(addresses, physical, apdu, device, challenge).map(Some),
            RLRQ => {
                self.associations.retain(|a| !a.on(addresses, physical));
                Ok(Some(vec![RLRE, 0x03, 0x80, 0x01, 0x00]))
            }
            _ => {
                let Some(index) = self.associations.iter().position(|a| a.on(addresses, physical)) else {
                    // No association: the service is not allowed.
                    return Ok(Some(exception(ServiceError::OperationNotPossible)));
                };
                Ok(Some(serve(&mut self.associations[index], apdu, device)))
            }
        }
    }

    fn associate(
        &mut self,
        addresses: Addresses,
        physical: &Physical,
        apdu: &[u8],
        device: &mut Device<'_>,
        challenge: &mut dyn FnMut() -> [u8; 8],
    ) -> Result<Vec<u8>, Closed> {
        self.associations.retain(|a| !a.on(addresses, physical));
        let refuse = |context: Context, diagnostic: Diagnostic| {
            Aare {
                context,
                result: AssociationResult::RejectedPermanent,
                diagnostic,
                responding_ap_title: None,
                mechanism: None,
                responding_authentication: None,
                user_information: None,
            }
            .to_bytes()
        };
        let Ok(aarq) = Aarq::from_bytes(apdu) else {
            return Ok(refuse(Context::LogicalName, Diagnostic::NO_REASON));
        };
        let Some(policy) = device
            .security
            .clients
            .iter()
            .find(|p| p.address == addresses.source)
            .cloned()
        else {
            return Ok(refuse(aarq.context, Diagnostic::NO_REASON));
        };
        let wanted_context = match policy.authentication {
            Authentication::HlsGmac(_) => Context::LogicalNameCiphered,
            _ => Context::LogicalName,
        };
        if aarq.context != wanted_context {
            return Ok(refuse(aarq.context, Diagnostic::CONTEXT_NOT_SUPPORTED));
        }
        let (initiate_bytes, ciphered) = match &policy.authentication {
            Authentication::None | Authentication::Password(_) => {
                let expected = match &policy.authentication {
                    Authentication::Password(_) => Some(Mechanism::Lowest),
                    _ => None,
                };
                if aarq.mechanism != expected {
                    let why = if expected.is_some() {
                        Diagnostic::MECHANISM_REQUIRED
                    } else {
                        Diagnostic::MECHANISM_NOT_RECOGNISED
                    };
                    return Ok(refuse(aarq.context, why));
                }
                if let Authentication::Password(password) = &policy.authentication
                    && aarq.calling_authentication.as_deref() != Some(password.as_slice())
                {
                    return Ok(refuse(aarq.context, Diagnostic::AUTHENTICATION_FAILURE));
                }
                (aarq.user_information.clone(), None)
            }
            Authentication::HlsGmac(keys) => {
                if aarq.mechanism != Some(Mechanism::HighGmac) {
                    return Ok(refuse(aarq.context, Diagnostic::MECHANISM_NOT_RECOGNISED));
                }
                let Some(client_title) = aarq
                    .calling_ap_title
                    .as_deref()
                    .and_then(|t| <[u8; 8]>::try_from(t).ok())
                else {
                    return Ok(refuse(aarq.context, Diagnostic::NO_REASON));
                };
                let client_challenge = aarq.calling_authentication.clone().unwrap_or_default();
                if !(8..=64).contains(&client_challenge.len()) {
                    return Ok(refuse(aarq.context, Diagnostic::AUTHENTICATION_FAILURE));
                }
                // The initiate request is ciphered under the keys; its counter must be new.
                let opened = aarq
                    .user_information
                    .as_deref()
                    .and_then(|info| security::glo_unwrap(info).ok())
                    .filter(|(tag, _)| *tag == 0x21)
                    .and_then(|(_, protected)| security::open(keys, &client_title, protected).ok());
                let Some(opened) = opened else {
                    return Ok(refuse(aarq.context, Diagnostic::AUTHENTICATION_FAILURE));
                };
                if !device
                    .security
                    .accept_counter(addresses.source, opened.invocation_counter)
                {
                    return Ok(refuse(aarq.context, Diagnostic::AUTHENTICATION_FAILURE));
                }
                (
                    Some(opened.apdu),
                    Some((
                        Ciphered {
                            keys: keys.clone(),
                            client_title,
                        },
                        client_challenge,
                    )),
                )
            }
        };
        let Some(initiate) = initiate_bytes.and_then(|b| InitiateRequest::from_bytes(&b).ok()) else {
            return Ok(refuse(aarq.context, Diagnostic::NO_REASON));
        };
        if self.associations.len() >= self.limits.max_associations {
            return Err(Closed::TooManyAssociations(self.limits.max_associations));
        }
        let conformance = initiate.conformance.and(match policy.rights {
            Rights::Manage => METER_CONFORMANCE,
            Rights::Read => Conformance(METER_CONFORMANCE.0 & !(Conformance::SET.0 | Conformance::ACTION.0)),
        });
        let response = InitiateResponse {
            quality_of_service: None,
            version: 6,
            conformance,
            max_receive_pdu: self.limits.max_apdu,
            vaa_name: 7,
        }
        .to_bytes();
        let mut aare = Aare {
            context: aarq.context,
            result: AssociationResult::Accepted,
            diagnostic: Diagnostic::NULL,
            responding_ap_title: None,
            mechanism: aarq.mechanism,
            responding_authentication: None,
            user_information: Some(response.clone()),
        };
        let (state, ciphered) = match ciphered {
            None => (State::Open, None),
            Some((ciphered, client_challenge)) => {
                let ours = challenge().to_vec();
                let counter = device.security.next_counter();
                let title = device.security.system_title;
                let sealed = security::seal(&ciphered.keys, &title, 0x30, counter, &response).unwrap_or_default();
                aare.diagnostic = Diagnostic::AUTHENTICATION_REQUIRED;
                aare.responding_ap_title = Some(title.to_vec());
                aare.responding_authentication = Some(ours.clone());
                aare.user_information = Some(security::glo_wrap(0x28, &sealed));
                (
                    State::AwaitingHls {
                        challenge: ours,
                        client_challenge,
                    },
                    Some(ciphered),
                )
            }
        };
        self.associations.push(Association {
            addresses,
            physical: physical.clone(),
            rights: policy.rights,
            ciphered,
            state,
            client_max_pdu: initiate.max_receive_pdu.clamp(64, self.limits.max_apdu),
            long_get: None,
        });
        Ok(aare.to_bytes())
    }
}

fn exception(error: ServiceError) -> Vec<u8> {
    Apdu::ExceptionResponse {
        state_error: 1,
        service_error: error,
    }
    .to_bytes()
}

/// Serves one APDU on an association.
fn serve(association: &mut Association, apdu: &[u8], device: &mut Device<'_>) -> Vec<u8> {
    // Unwrap a ciphered request: the association's keys, the client's title, a new counter.
    let (plain, counter) = match &association.ciphered {
        None => (apdu.to_vec(), None),
        Some(ciphered) => {
            let Ok((_, protected)) = security::glo_unwrap(apdu) else {
                return exception(ServiceError::ServiceNotSupported);
            };
            let Ok(opened) = security::open(&ciphered.keys, &ciphered.client_title, protected) else {
                return exception(ServiceError::DecipheringError);
            };
            if !device
                .security
                .accept_counter(association.addresses.source, opened.invocation_counter)
            {
                let expected = device
                    .security
                    .last_accepted(association.addresses.source)
                    .map_or(0, |n| n.wrapping_add(1));
                return exception(ServiceError::InvocationCounterError(expected));
            }
            (opened.apdu, Some(opened.invocation_counter))
        }
    };
    let Ok(request) = Apdu::from_bytes(&plain) else {
        return exception(ServiceError::ServiceNotSupported);
    };
    let caller = Caller {
        client: association.addresses.source,
        rights: association.rights,
        system_title: association.ciphered.as_ref().map(|c| c.client_title),
        invocation_counter: counter,
    };
    let answer = match (&association.state, request) {
        (
            State::AwaitingHls {
                challenge,
                client_challenge,
            },
            Apdu::ActionRequest {
                invoke,
                method,
                parameters,
            },
        ) if method.class_id == 15 && method.instance == Obis::CURRENT_ASSOCIATION && method.method == 1 => {
            let (Some(ciphered), Some(Data::OctetString(answer))) = (&association.ciphered, parameters) else {
                return exception(ServiceError::OperationNotPossible);
            };
            // The answer is fresh because the challenge was: its own counter needs no check
            // (the APDU that carried it passed the counter check above).
            let accepted =
                security::check_gmac_answer(&ciphered.keys, &ciphered.client_title, challenge, &answer).is_some();
            if !accepted {
                Apdu::ActionResponse {
                    invoke,
                    result: ResultCode::OTHER_REASON,
                    returned: None,
                }
            } else {
                let n = device.security.next_counter();
                let ours = security::gmac_answer(&ciphered.keys, &device.security.system_title, n, client_challenge);
                association.state = State::Open;
                Apdu::ActionResponse {
                    invoke,
                    result: ResultCode::SUCCESS,
                    returned: Some(GetResult::Data(Data::OctetString(ours))),
                }
            }
        }
        (State::AwaitingHls { .. }, _) => return exception(ServiceError::OperationNotPossible),
        (State::Open, request) => answer_open(association, request, &caller, device),
    };
    seal_answer(association, device, answer)
}

fn answer_open(association: &mut Association, request: Apdu, caller: &Caller, device: &mut Device<'_>) -> Apdu {
    match request {
        Apdu::GetRequest {
            invoke,
            attribute,
            access,
        } => {
            association.long_get = None;
            let result = device.objects.get(caller, &attribute, access.as_ref());
            let whole = Apdu::GetResponse { invoke, result };
            // Room for the answer once wrapped and, in a ciphered association, protected.
            let room = usize::from(association.client_max_pdu).saturating_sub(if association.ciphered.is_some() {
                1 + 3 + 5 + security::TAG_LEN
            } else {
                0
            });
            let bytes = whole.to_bytes();
            if bytes.len() <= room {
                return whole;
            }
            let GetResponseParts::Data(raw) = GetResponseParts::of(whole) else {
                return Apdu::GetResponse {
                    invoke,
                    result: GetResult::Error(ResultCode::OTHER_REASON),
                };
            };
            association.long_get = Some((raw, 1, invoke));
            next_block(association, room)
        }
        Apdu::GetRequestNext { invoke, block } => {
            let room = usize::from(association.client_max_pdu).saturating_sub(if association.ciphered.is_some() {
                1 + 3 + 5 + security::TAG_LEN
            } else {
                0
            });
            match &association.long_get {
                Some((_, next, _)) if *next == block + 1 => next_block(association, room),
                Some(_) => {
                    association.long_get = None;
                    Apdu::GetResponseBlock {
                        invoke,
                        last: true,
                        block,
                        result: Err(ResultCode::DATA_BLOCK_NUMBER_INVALID),
                    }
                }
                None => Apdu::GetResponseBlock {
                    invoke,
                    last: true,
                    block,
                    result: Err(ResultCode::NO_LONG_GET_IN_PROGRESS),
                },
            }
        }
        Apdu::SetRequest {
            invoke,
            attribute,
            access,
            value,
        } => Apdu::SetResponse {
            invoke,
            result: if association.rights == Rights::Manage {
                device.objects.set(caller, &attribute, access.as_ref(), &value)
            } else {
                ResultCode::READ_WRITE_DENIED
            },
        },
        Apdu::ActionRequest {
            invoke,
            method,
            parameters,
        } => {
            let (result, returned) = if association.rights == Rights::Manage {
                device.objects.action(caller, &method, parameters.as_ref())
            } else {
                (ResultCode::READ_WRITE_DENIED, None)
            };
            Apdu::ActionResponse {
                invoke,
                result,
                returned,
            }
        }
        _ => Apdu::ExceptionResponse {
            state_error: 2,
            service_error: ServiceError::ServiceNotSupported,
        },
    }
}

/// A GET answer's `Data` as raw bytes, for splitting into blocks.
enum GetResponseParts {
    Data(Vec<u8>),
    Other,
}

impl GetResponseParts {
    fn of(apdu: Apdu) -> GetResponseParts {
        match apdu {
            Apdu::GetResponse {
                result: GetResult::Data(data),
                ..
            } => GetResponseParts::Data(data.to_bytes()),
            _ => GetResponseParts::Other,
        }
    }
}

/// The next block of the long GET in progress, of at most `room` bytes as an APDU.
fn next_block(association: &mut Association, room: usize) -> Apdu {
    let Some((raw, block, invoke)) = association.long_get.take() else {
        return Apdu::ExceptionResponse {
            state_error: 1,
            service_error: ServiceError::OperationNotPossible,
        };
    };
    // Tag, choice, invoke, last, block number, result choice, length (up to 3 bytes).
    let chunk = room.saturating_sub(4 + 4 + 1 + 3).max(16);
    let (this, rest) = raw.split_at(chunk.min(raw.len()));
    let last = rest.is_empty();
    let apdu = Apdu::GetResponseBlock {
        invoke,
        last,
        block,
        result: Ok(this.to_vec()),
    };
    if !last {
        association.long_get = Some((rest.to_vec(), block + 1, invoke));
    }
    apdu
}

/// The answer as sent: protected under the association's keys with the device's next
/// counter when the association is ciphered.
fn seal_answer(association: &Association, device: &mut Device<'_>, answer: Apdu) -> Vec<u8> {
    let plain = answer.to_bytes();
    let Some(ciphered) = &association.ciphered else {
        return plain;
    };
    let Some(glo) = plain.first().and_then(|&t| security::glo_tag(t)) else {
        // An exception response goes in clear.
        return plain;
    };
    let counter = device.security.next_counter();
    match security::seal(&ciphered.keys, &device.security.system_title, 0x30, counter, &plain) {
        Ok(sealed) => security::glo_wrap(glo, &sealed),
        Err(_) => exception(ServiceError::OtherReason),
    }
}
