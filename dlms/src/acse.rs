//! Association control (ACSE, as DLMS profiles it in IEC 62056-5-3): the AARQ a client opens an
//! association with and the meter's AARE, in BER; and the xDLMS initiate request and response
//! they carry in their user information.

use crate::{DecodeError, Reader};

/// The tag of an AARQ.
pub const AARQ: u8 = 0x60;
/// The tag of an AARE.
pub const AARE: u8 = 0x61;
/// The tag of a release request.
pub const RLRQ: u8 = 0x62;
/// The tag of a release response.
pub const RLRE: u8 = 0x63;

/// The object identifier prefix of DLMS UA's application contexts (2.16.756.5.8.1).
const CONTEXT_OID: [u8; 6] = [0x60, 0x85, 0x74, 0x05, 0x08, 0x01];
/// The object identifier prefix of DLMS UA's authentication mechanisms (2.16.756.5.8.2).
const MECHANISM_OID: [u8; 6] = [0x60, 0x85, 0x74, 0x05, 0x08, 0x02];

/// The application context: logical-name referencing, with or without ciphered APDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Logical names, no ciphering (context 1).
    LogicalName,
    /// Logical names with ciphered APDUs (context 3).
    LogicalNameCiphered,
    /// Another context (short names, 2 and 4): not spoken here.
    Other(u8),
}

impl Context {
    fn code(self) -> u8 {
        match self {
            Context::LogicalName => 1,
            Context::LogicalNameCiphered => 3,
            Context::Other(c) => c,
        }
    }

    fn from_code(code: u8) -> Context {
        match code {
            1 => Context::LogicalName,
            3 => Context::LogicalNameCiphered,
            c => Context::Other(c),
        }
    }
}

/// An authentication mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Lowest-level security: a password (mechanism 1).
    Lowest,
    /// High-level security by GMAC over the partner's challenge (mechanism 5).
    HighGmac,
    /// Another mechanism (2 manufacturer, 3 MD5, 4 SHA-1, 6 SHA-256, 7 ECDSA): not spoken here.
    Other(u8),
}

impl Mechanism {
    fn code(self) -> u8 {
        match self {
            Mechanism::Lowest => 1,
            Mechanism::HighGmac => 5,
            Mechanism::Other(c) => c,
        }
    }

    fn from_code(code: u8) -> Mechanism {
        match code {
            1 => Mechanism::Lowest,
            5 => Mechanism::HighGmac,
            c => Mechanism::Other(c),
        }
    }
}

/// The xDLMS conformance block: which services an end proposes or the association allows, as
/// the 24 bits of the standard (bit 0 the most significant of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conformance(pub u32);

impl Conformance {
    /// Block transfer with GET.
    pub const BLOCK_TRANSFER_WITH_GET: Conformance = Conformance::bit(11);
    /// Selective access.
    pub const SELECTIVE_ACCESS: Conformance = Conformance::bit(21);
    /// GET.
    pub const GET: Conformance = Conformance::bit(19);
    /// SET.
    pub const SET: Conformance = Conformance::bit(20);
    /// ACTION.
    pub const ACTION: Conformance = Conformance::bit(23);

    /// The block with only bit `n` set.
    pub const fn bit(n: u32) -> Conformance {
        Conformance(1 << (23 - n))
    }

    /// The services of both blocks.
    pub fn and(self, other: Conformance) -> Conformance {
        Conformance(self.0 & other.0)
    }

    /// The services of either block.
    pub fn or(self, other: Conformance) -> Conformance {
        Conformance(self.0 | other.0)
    }

    /// Whether every service of `other` is in this block.
    pub fn contains(self, other: Conformance) -> bool {
        self.0 & other.0 == other.0
    }

    fn encode(self, out: &mut Vec<u8>) {
        // [APPLICATION 31] IMPLICIT BIT STRING (SIZE(24)): tag 5F 1F, length 4, no unused bits.
        out.extend_from_slice(&[0x5F, 0x1F, 0x04, 0x00]);
        out.extend_from_slice(&self.0.to_be_bytes()[1..]);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Conformance, DecodeError> {
        if r.array::<4>("conformance tag")? != [0x5F, 0x1F, 0x04, 0x00] {
            return Err(DecodeError::Malformed("conformance block"));
        }
        let [a, b, c] = r.array("conformance")?;
        Ok(Conformance(u32::from_be_bytes([0, a, b, c])))
    }
}

/// The xDLMS initiate request a client sends in its AARQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateRequest {
    /// A dedicated key for this association's ciphering, if any.
    pub dedicated_key: Option<Vec<u8>>,
    /// Whether the client wants answers (false: unconfirmed services only).
    pub response_allowed: bool,
    /// Proposed quality of service, if any.
    pub quality_of_service: Option<u8>,
    /// DLMS version (6).
    pub version: u8,
    /// The services proposed.
    pub conformance: Conformance,
    /// The largest APDU the client takes.
    pub max_receive_pdu: u16,
}

impl InitiateRequest {
    /// The tag of an initiate request.
    pub const TAG: u8 = 0x01;

    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![Self::TAG];
        match &self.dedicated_key {
            Some(key) => {
                out.extend_from_slice(&[1, key.len() as u8]);
                out.extend_from_slice(key);
            }
            None => out.push(0),
        }
        // DEFAULT TRUE: absent when true.
        if self.response_allowed {
            out.push(0);
        } else {
            out.extend_from_slice(&[1, 0]);
        }
        match self.quality_of_service {
            Some(q) => out.extend_from_slice(&[1, q]),
            None => out.push(0),
        }
        out.push(self.version);
        self.conformance.encode(&mut out);
        out.extend_from_slice(&self.max_receive_pdu.to_be_bytes());
        out
    }

    /// Decodes one that fills `bytes` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<InitiateRequest, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8("initiate request tag")? != Self::TAG {
            return Err(DecodeError::Malformed("initiate request tag"));
        }
        let dedicated_key = match r.u8("dedicated key present")? {
            0 => None,
            _ => {
                let n = usize::from(r.u8("dedicated key length")?);
                Some(r.take(n, "dedicated key")?.to_vec())
            }
        };
        let response_allowed = match r.u8("response allowed present")? {
            0 => true,
            _ => r.u8("response allowed")? != 0,
        };
        let quality_of_service = match r.u8("quality of service present")? {
            0 => None,
            _ => Some(r.u8("quality of service")?),
        };
        let request = InitiateRequest {
            dedicated_key,
            response_allowed,
            quality_of_service,
            version: r.u8("DLMS version")?,
            conformance: Conformance::decode(&mut r)?,
            max_receive_pdu: r.u16("client max receive PDU size")?,
        };
        r.finish()?;
        Ok(request)
    }
}

/// The xDLMS initiate response a meter sends in its AARE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateResponse {
    /// Negotiated quality of service, if any.
    pub quality_of_service: Option<u8>,
    /// DLMS version (6).
    pub version: u8,
    /// The services the association allows.
    pub conformance: Conformance,
    /// The largest APDU the meter takes.
    pub max_receive_pdu: u16,
    /// The VAA name (7 for logical-name referencing).
    pub vaa_name: u16,
}

impl InitiateResponse {
    /// The tag of an initiate response.
    pub const TAG: u8 = 0x08;

    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![Self::TAG];
        match self.quality_of_service {
            Some(q) => out.extend_from_slice(&[1, q]),
            None => out.push(0),
        }
        out.push(self.version);
        self.conformance.encode(&mut out);
        out.extend_from_slice(&self.max_receive_pdu.to_be_bytes());
        out.extend_from_slice(&self.vaa_name.to_be_bytes());
        out
    }

    /// Decodes one that fills `bytes` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<InitiateResponse, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8("initiate response tag")? != Self::TAG {
            return Err(DecodeError::Malformed("initiate response tag"));
        }
        let quality_of_service = match r.u8("quality of service present")? {
            0 => None,
            _ => Some(r.u8("quality of service")?),
        };
        let response = InitiateResponse {
            quality_of_service,
            version: r.u8("DLMS version")?,
            conformance: Conformance::decode(&mut r)?,
            max_receive_pdu: r.u16("server max receive PDU size")?,
            vaa_name: r.u16("VAA name")?,
        };
        r.finish()?;
        Ok(response)
    }
}

/// An association request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aarq {
    /// The application context asked for.
    pub context: Context,
    /// The client's system title (for ciphering), if given.
    pub calling_ap_title: Option<Vec<u8>>,
    /// The authentication mechanism, if any.
    pub mechanism: Option<Mechanism>,
    /// The password (lowest level) or the client's challenge (high level).
    pub calling_authentication: Option<Vec<u8>>,
    /// The user information: an initiate request, plain (tag 0x01) or ciphered (0x21).
    pub user_information: Option<Vec<u8>>,
}

/// The outcome of an association request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociationResult {
    /// Accepted (0).
    Accepted,
    /// Rejected, permanently (1).
    RejectedPermanent,
    /// Rejected, transiently (2).
    RejectedTransient,
}

/// Why an association was refused, or 0 (null) when it was not: `acse-service-user`
/// diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnostic(pub u8);

impl Diagnostic {
    /// No diagnostic.
    pub const NULL: Diagnostic = Diagnostic(0);
    /// No reason given.
    pub const NO_REASON: Diagnostic = Diagnostic(1);
    /// The application context is not supported.
    pub const CONTEXT_NOT_SUPPORTED: Diagnostic = Diagnostic(2);
    /// The authentication mechanism is not recognised.
    pub const MECHANISM_NOT_RECOGNISED: Diagnostic = Diagnostic(11);
    /// An authentication mechanism is required.
    pub const MECHANISM_REQUIRED: Diagnostic = Diagnostic(12);
    /// Authentication failed.
    pub const AUTHENTICATION_FAILURE: Diagnostic = Diagnostic(13);
    /// Authentication is required.
    pub const AUTHENTICATION_REQUIRED: Diagnostic = Diagnostic(14);
}

/// An association response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aare {
    /// The application context.
    pub context: Context,
    /// The outcome.
    pub result: AssociationResult,
    /// Why, as the ACSE service user says.
    pub diagnostic: Diagnostic,
    /// The meter's system title (for ciphering), if given.
    pub responding_ap_title: Option<Vec<u8>>,
    /// The authentication mechanism, if any.
    pub mechanism: Option<Mechanism>,
    /// The meter's challenge to the client (high level security).
    pub responding_authentication: Option<Vec<u8>>,
    /// The user information: an initiate response, plain (0x08) or ciphered (0x28), or a
    /// confirmed service error (0x0E).
    pub user_information: Option<Vec<u8>>,
}

/// Appends a BER definite length.
fn put_ber_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(len.min(0xFFFF) as u16).to_be_bytes());
    }
}

/// Appends `tag`, the length of `body` and `body`.
fn put_tlv(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    put_ber_length(out, body.len());
    out.extend_from_slice(body);
}

fn context_field(context: Context) -> Vec<u8> {
    let mut oid = vec![0x06, 0x07];
    oid.extend_from_slice(&CONTEXT_OID);
    oid.push(context.code());
    oid
}

fn mechanism_oid(mechanism: Mechanism) -> Vec<u8> {
    let mut oid = MECHANISM_OID.to_vec();
    oid.push(mechanism.code());
    oid
}

/// `[0] GraphicString` inside a constructed authentication value.
fn authentication_field(value: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_tlv(&mut body, 0x80, value);
    body
}

/// `04 len bytes`: an OCTET STRING inside a constructed field.
fn octet_string(value: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_tlv(&mut body, 0x04, value);
    body
}

impl Aarq {
    /// A client's request for an association without security (the public client's):
    /// logical names, no mechanism, proposing GET, SET, ACTION, selective access and GET
    /// blocks, taking APDUs up to `max_receive_pdu` bytes.
    pub fn without_security(max_receive_pdu: u16) -> Aarq {
        let initiate = InitiateRequest {
            dedicated_key: None,
            response_allowed: true,
            quality_of_service: None,
            version: 6,
            conformance: crate::server::METER_CONFORMANCE,
            max_receive_pdu,
        };
        Aarq {
            context: Context::LogicalName,
            calling_ap_title: None,
            mechanism: None,
            calling_authentication: None,
            user_information: Some(initiate.to_bytes()),
        }
    }

    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_tlv(&mut body, 0xA1, &context_field(self.context));
        if let Some(title) = &self.calling_ap_title {
            put_tlv(&mut body, 0xA6, &octet_string(title));
        }
        if let Some(mechanism) = self.mechanism {
            // sender-acse-requirements: the authentication functional unit.
            put_tlv(&mut body, 0x8A, &[0x07, 0x80]);
            put_tlv(&mut body, 0x8B, &mechanism_oid(mechanism));
        }
        if let Some(value) = &self.calling_authentication {
            put_tlv(&mut body, 0xAC, &authentication_field(value));
        }
        if let Some(info) = &self.user_information {
            put_tlv(&mut body, 0xBE, &octet_string(info));
        }
        let mut out = Vec::new();
        put_tlv(&mut out, AARQ, &body);
        out
    }

    /// Decodes one that fills `bytes` exactly. Fields this implementation does not use (the
    /// called titles and qualifiers, invocation ids, implementation information) are skipped.
    pub fn from_bytes(bytes: &[u8]) -> Result<Aarq, DecodeError> {
        let mut aarq = Aarq {
            context: Context::Other(0),
            calling_ap_title: None,
            mechanism: None,
            calling_authentication: None,
            user_information: None,
        };
        let mut seen_context = false;
        for (tag, value) in fields(bytes, AARQ)? {
            match tag {
                0xA1 => {
                    aarq.context = read_context(value)?;
                    seen_context = true;
                }
                0xA6 => aarq.calling_ap_title = Some(read_inner(value, 0x04, "calling AP title")?.to_vec()),
                0x8B => aarq.mechanism = Some(read_mechanism(value)?),
                0xAC => aarq.calling_authentication = Some(read_inner(value, 0x80, "authentication value")?.to_vec()),
                0xBE => aarq.user_information = Some(read_inner(value, 0x04, "user information")?.to_vec()),
                _ => {}
            }
        }
        if !seen_context {
            return Err(DecodeError::Malformed("AARQ without an application context"));
        }
        Ok(aarq)
    }
}

impl Aare {
    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_tlv(&mut body, 0xA1, &context_field(self.context));
        let result = match self.result {
            AssociationResult::Accepted => 0,
            AssociationResult::RejectedPermanent => 1,
            AssociationResult::RejectedTransient => 2,
        };
        put_tlv(&mut body, 0xA2, &[0x02, 0x01, result]);
        // result-source-diagnostic: acse-service-user [1] INTEGER.
        put_tlv(&mut body, 0xA3, &[0xA1, 0x03, 0x02, 0x01, self.diagnostic.0]);
        if let Some(title) = &self.responding_ap_title {
            put_tlv(&mut body, 0xA4, &octet_string(title));
        }
        if let Some(mechanism) = self.mechanism {
            put_tlv(&mut body, 0x88, &[0x07, 0x80]);
            put_tlv(&mut body, 0x89, &mechanism_oid(mechanism));
        }
        if let Some(value) = &self.responding_authentication {
            put_tlv(&mut body, 0xAA, &authentication_field(value));
        }
        if let Some(info) = &self.user_information {
            put_tlv(&mut body, 0xBE, &octet_string(info));
        }
        let mut out = Vec::new();
        put_tlv(&mut out, AARE, &body);
        out
    }

    /// Decodes one that fills `bytes` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Aare, DecodeError> {
        let mut aare = Aare {
            context: Context::Other(0),
            result: AssociationResult::RejectedPermanent,
            diagnostic: Diagnostic::NO_REASON,
            responding_ap_title: None,
            mechanism: None,
            responding_authentication: None,
            user_information: None,
        };
        let mut seen_result = false;
        for (tag, value) in fields(bytes, AARE)? {
            match tag {
                0xA1 => aare.context = read_context(value)?,
                0xA2 => {
                    aare.result = match read_inner(value, 0x02, "association result")? {
                        [0] => AssociationResult::Accepted,
                        [1] => AssociationResult::RejectedPermanent,
                        [2] => AssociationResult::RejectedTransient,
                        _ => return Err(DecodeError::Malformed("association result")),
                    };
                    seen_result = true;
                }
                0xA3 => {
                    let mut r = Reader::new(value);
                    r.u8("diagnostic source")?;
                    let inner_len = r.length("diagnostic length")?;
                    let inner = r.take(inner_len, "diagnostic")?;
                    if let [0x02, 0x01, d] = inner {
                        aare.diagnostic = Diagnostic(*d);
                    } else {
                        return Err(DecodeError::Malformed("result source diagnostic"));
                    }
                }
                0xA4 => aare.responding_ap_title = Some(read_inner(value, 0x04, "responding AP title")?.to_vec()),
                0x89 => aare.mechanism = Some(read_mechanism(value)?),
                0xAA => {
                    aare.responding_authentication = Some(read_inner(value, 0x80, "authentication value")?.to_vec())
                }
                0xBE => aare.user_information = Some(read_inner(value, 0x04, "user information")?.to_vec()),
                _ => {}
            }
        }
        if !seen_result {
            return Err(DecodeError::Malformed("AARE without a result"));
        }
        Ok(aare)
    }
}

/// The fields (tag, value) inside the outer TLV `outer` that fills `bytes` exactly.
fn fields(bytes: &[u8], outer: u8) -> Result<Vec<(u8, &[u8])>, DecodeError> {
    let mut r = Reader::new(bytes);
    let tag = r.u8("ACSE tag")?;
    if tag != outer {
        return Err(DecodeError::Unsupported {
            what: "ACSE tag",
            value: u32::from(tag),
        });
    }
    let len = r.length("ACSE length")?;
    let body = r.take(len, "ACSE body")?;
    r.finish()?;
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let tag = r.u8("field tag")?;
        let len = r.length("field length")?;
        out.push((tag, r.take(len, "field")?));
    }
    Ok(out)
}

/// The body of the single TLV with tag `tag` that fills `value`.
fn read_inner<'a>(value: &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], DecodeError> {
    let mut r = Reader::new(value);
    if r.u8(what)? != tag {
        return Err(DecodeError::Malformed(what));
    }
    let len = r.length(what)?;
    let inner = r.take(len, what)?;
    r.finish()?;
    Ok(inner)
}

fn read_context(value: &[u8]) -> Result<Context, DecodeError> {
    match read_inner(value, 0x06, "application context name")? {
        [prefix @ .., code] if prefix == CONTEXT_OID => Ok(Context::from_code(*code)),
        _ => Err(DecodeError::Malformed("application context name")),
    }
}

fn read_mechanism(value: &[u8]) -> Result<Mechanism, DecodeError> {
    match value {
        [prefix @ .., code] if prefix == MECHANISM_OID => Ok(Mechanism::from_code(*code)),
        _ => Err(DecodeError::Malformed("mechanism name")),
    }
}
