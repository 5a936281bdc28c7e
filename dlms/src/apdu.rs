//! xDLMS services with logical-name referencing (IEC 62056-5-3): GET (normal, next block and
//! the answer with a data block), SET and ACTION (normal), and the exception response. Each
//! APDU is its tag byte, the service's choice byte and then A-XDR fields.

use crate::data::Data;
use crate::obis::Obis;
use crate::{DecodeError, Reader, put_length};

/// The tag of `get-request`.
pub const GET_REQUEST: u8 = 0xC0;
/// The tag of `set-request`.
pub const SET_REQUEST: u8 = 0xC1;
/// The tag of `action-request`.
pub const ACTION_REQUEST: u8 = 0xC3;
/// The tag of `get-response`.
pub const GET_RESPONSE: u8 = 0xC4;
/// The tag of `set-response`.
pub const SET_RESPONSE: u8 = 0xC5;
/// The tag of `action-response`.
pub const ACTION_RESPONSE: u8 = 0xC7;
/// The tag of `exception-response`.
pub const EXCEPTION_RESPONSE: u8 = 0xD8;

/// An attribute of a COSEM object: its interface class, logical name and attribute index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeDescriptor {
    /// The interface class (8 Clock, 3 Register, 7 Profile generic, 70 Disconnect control).
    pub class_id: u16,
    /// The object's logical name.
    pub instance: Obis,
    /// The attribute (1 is the logical name itself).
    pub attribute: i8,
}

/// A method of a COSEM object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodDescriptor {
    /// The interface class.
    pub class_id: u16,
    /// The object's logical name.
    pub instance: Obis,
    /// The method (for Disconnect control: 1 remote_disconnect, 2 remote_reconnect).
    pub method: i8,
}

/// Selective access to an attribute: a selector and its parameters (for a profile generic's
/// buffer, 1 is by range and 2 by entry).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveAccess {
    /// The access selector.
    pub selector: u8,
    /// Its parameters.
    pub parameters: Data,
}

/// The result code of a data access or an action (`Data-Access-Result`, `Action-Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResultCode(pub u8);

impl ResultCode {
    /// Success.
    pub const SUCCESS: ResultCode = ResultCode(0);
    /// Hardware fault.
    pub const HARDWARE_FAULT: ResultCode = ResultCode(1);
    /// Temporary failure (the meter cannot do it now).
    pub const TEMPORARY_FAILURE: ResultCode = ResultCode(2);
    /// Read or write denied by the association's access rights.
    pub const READ_WRITE_DENIED: ResultCode = ResultCode(3);
    /// No such object.
    pub const OBJECT_UNDEFINED: ResultCode = ResultCode(4);
    /// The object is not of the class asked for.
    pub const OBJECT_CLASS_INCONSISTENT: ResultCode = ResultCode(9);
    /// The object is not available.
    pub const OBJECT_UNAVAILABLE: ResultCode = ResultCode(11);
    /// A value of the wrong type.
    pub const TYPE_UNMATCHED: ResultCode = ResultCode(12);
    /// Access outside the allowed scope.
    pub const SCOPE_OF_ACCESS_VIOLATED: ResultCode = ResultCode(13);
    /// The data block asked for is not available.
    pub const DATA_BLOCK_UNAVAILABLE: ResultCode = ResultCode(14);
    /// A long GET was aborted.
    pub const LONG_GET_ABORTED: ResultCode = ResultCode(15);
    /// A next block was asked for with no long GET in progress.
    pub const NO_LONG_GET_IN_PROGRESS: ResultCode = ResultCode(16);
    /// The block number is not the one expected.
    pub const DATA_BLOCK_NUMBER_INVALID: ResultCode = ResultCode(19);
    /// Any other reason.
    pub const OTHER_REASON: ResultCode = ResultCode(250);
}

/// What a GET answers for one attribute: its value, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum GetResult {
    /// The value.
    Data(Data),
    /// Why there is no value.
    Error(ResultCode),
}

/// The reason in an exception response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceError {
    /// The operation is not possible.
    OperationNotPossible,
    /// The service is not supported.
    ServiceNotSupported,
    /// Any other reason.
    OtherReason,
    /// The PDU was too long.
    PduTooLong,
    /// A ciphered APDU failed to decipher or authenticate.
    DecipheringError,
    /// A ciphered APDU's invocation counter was not above the last one accepted; carries the
    /// lowest counter the meter would accept.
    InvocationCounterError(u32),
}

/// An xDLMS APDU of the services this crate speaks.
#[derive(Debug, Clone, PartialEq)]
pub enum Apdu {
    /// `get-request-normal`.
    GetRequest {
        /// Invoke id and priority.
        invoke: u8,
        /// What to read.
        attribute: AttributeDescriptor,
        /// Selective access, if any.
        access: Option<SelectiveAccess>,
    },
    /// `get-request-next`: the next block of a long answer.
    GetRequestNext {
        /// Invoke id and priority.
        invoke: u8,
        /// The number of the last block received.
        block: u32,
    },
    /// `get-response-normal`.
    GetResponse {
        /// Invoke id and priority.
        invoke: u8,
        /// The value or why not.
        result: GetResult,
    },
    /// `get-response-with-datablock`: one block of a long answer (the blocks' raw bytes
    /// joined are the `Data` encoding of the value).
    GetResponseBlock {
        /// Invoke id and priority.
        invoke: u8,
        /// Whether this is the last block.
        last: bool,
        /// The block's number, from 1.
        block: u32,
        /// The block's bytes, or why the long GET stopped.
        result: Result<Vec<u8>, ResultCode>,
    },
    /// `set-request-normal`.
    SetRequest {
        /// Invoke id and priority.
        invoke: u8,
        /// What to write.
        attribute: AttributeDescriptor,
        /// Selective access, if any.
        access: Option<SelectiveAccess>,
        /// The value.
        value: Data,
    },
    /// `set-response-normal`.
    SetResponse {
        /// Invoke id and priority.
        invoke: u8,
        /// The outcome.
        result: ResultCode,
    },
    /// `action-request-normal`.
    ActionRequest {
        /// Invoke id and priority.
        invoke: u8,
        /// The method.
        method: MethodDescriptor,
        /// Its parameters, if any.
        parameters: Option<Data>,
    },
    /// `action-response-normal`.
    ActionResponse {
        /// Invoke id and priority.
        invoke: u8,
        /// The outcome.
        result: ResultCode,
        /// What the method returned, if anything.
        returned: Option<GetResult>,
    },
    /// `exception-response`: the service was refused as a whole.
    ExceptionResponse {
        /// 1 service not allowed, 2 service unknown.
        state_error: u8,
        /// Why.
        service_error: ServiceError,
    },
}

impl Apdu {
    /// The APDU's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Apdu::GetRequest {
                invoke,
                attribute,
                access,
            } => {
                out.extend_from_slice(&[GET_REQUEST, 1, *invoke]);
                put_attribute(&mut out, attribute);
                put_access(&mut out, access.as_ref());
            }
            Apdu::GetRequestNext { invoke, block } => {
                out.extend_from_slice(&[GET_REQUEST, 2, *invoke]);
                out.extend_from_slice(&block.to_be_bytes());
            }
            Apdu::GetResponse { invoke, result } => {
                out.extend_from_slice(&[GET_RESPONSE, 1, *invoke]);
                put_get_result(&mut out, result);
            }
            Apdu::GetResponseBlock {
                invoke,
                last,
                block,
                result,
            } => {
                out.extend_from_slice(&[GET_RESPONSE, 2, *invoke, u8::from(*last)]);
                out.extend_from_slice(&block.to_be_bytes());
                match result {
                    Ok(raw) => {
                        out.push(0);
                        put_length(&mut out, raw.len());
                        out.extend_from_slice(raw);
                    }
                    Err(code) => out.extend_from_slice(&[1, code.0]),
                }
            }
            Apdu::SetRequest {
                invoke,
                attribute,
                access,
                value,
            } => {
                out.extend_from_slice(&[SET_REQUEST, 1, *invoke]);
                put_attribute(&mut out, attribute);
                put_access(&mut out, access.as_ref());
                value.encode(&mut out);
            }
            Apdu::SetResponse { invoke, result } => out.extend_from_slice(&[SET_RESPONSE, 1, *invoke, result.0]),
            Apdu::ActionRequest {
                invoke,
                method,
                parameters,
            } => {
                out.extend_from_slice(&[ACTION_REQUEST, 1, *invoke]);
                out.extend_from_slice(&method.class_id.to_be_bytes());
                out.extend_from_slice(&method.instance.0);
                out.extend_from_slice(&method.method.to_be_bytes());
                match parameters {
                    Some(data) => {
                        out.push(1);
                        data.encode(&mut out);
                    }
                    None => out.push(0),
                }
            }
            Apdu::ActionResponse {
                invoke,
                result,
                returned,
            } => {
                out.extend_from_slice(&[ACTION_RESPONSE, 1, *invoke, result.0]);
                match returned {
                    Some(r) => {
                        out.push(1);
                        put_get_result(&mut out, r);
                    }
                    None => out.push(0),
                }
            }
            Apdu::ExceptionResponse {
                state_error,
                service_error,
            } => {
                out.extend_from_slice(&[EXCEPTION_RESPONSE, *state_error]);
                match service_error {
                    ServiceError::OperationNotPossible => out.push(1),
                    ServiceError::ServiceNotSupported => out.push(2),
                    ServiceError::OtherReason => out.push(3),
                    ServiceError::PduTooLong => out.push(4),
                    ServiceError::DecipheringError => out.push(5),
                    ServiceError::InvocationCounterError(n) => {
                        out.push(6);
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
        }
        out
    }

    /// Decodes one APDU that fills `bytes` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Apdu, DecodeError> {
        let mut r = Reader::new(bytes);
        let tag = r.u8("APDU tag")?;
        let apdu = if tag == EXCEPTION_RESPONSE {
            let state_error = r.u8("state error")?;
            let service_error = match r.u8("service error")? {
                1 => ServiceError::OperationNotPossible,
                2 => ServiceError::ServiceNotSupported,
                3 => ServiceError::OtherReason,
                4 => ServiceError::PduTooLong,
                5 => ServiceError::DecipheringError,
                6 => ServiceError::InvocationCounterError(r.u32("invocation counter")?),
                other => {
                    return Err(DecodeError::Unsupported {
                        what: "service error",
                        value: u32::from(other),
                    });
                }
            };
            Apdu::ExceptionResponse {
                state_error,
                service_error,
            }
        } else {
            let choice = r.u8("service choice")?;
            let invoke = r.u8("invoke id and priority")?;
            match (tag, choice) {
                (GET_REQUEST, 1) => Apdu::GetRequest {
                    invoke,
                    attribute: read_attribute(&mut r)?,
                    access: read_access(&mut r)?,
                },
                (GET_REQUEST, 2) => Apdu::GetRequestNext {
                    invoke,
                    block: r.u32("block number")?,
                },
                (GET_RESPONSE, 1) => Apdu::GetResponse {
                    invoke,
                    result: read_get_result(&mut r)?,
                },
                (GET_RESPONSE, 2) => {
                    // A-XDR BOOLEAN: any value but 0 is true.
                    let last = r.u8("last block")? != 0;
                    let block = r.u32("block number")?;
                    let result = match r.u8("block result")? {
                        0 => {
                            let n = r.length("raw data length")?;
                            Ok(r.take(n, "raw data")?.to_vec())
                        }
                        1 => Err(ResultCode(r.u8("data access result")?)),
                        other => {
                            return Err(DecodeError::Unsupported {
                                what: "block result",
                                value: u32::from(other),
                            });
                        }
                    };
                    Apdu::GetResponseBlock {
                        invoke,
                        last,
                        block,
                        result,
                    }
                }
                (SET_REQUEST, 1) => Apdu::SetRequest {
                    invoke,
                    attribute: read_attribute(&mut r)?,
                    access: read_access(&mut r)?,
                    value: Data::decode(&mut r)?,
                },
                (SET_RESPONSE, 1) => Apdu::SetResponse {
                    invoke,
                    result: ResultCode(r.u8("data access result")?),
                },
                (ACTION_REQUEST, 1) => Apdu::ActionRequest {
                    invoke,
                    method: MethodDescriptor {
                        class_id: r.u16("class id")?,
                        instance: Obis(r.array("logical name")?),
                        method: r.u8("method id")? as i8,
                    },
                    parameters: match read_bool(&mut r, "parameters present")? {
                        true => Some(Data::decode(&mut r)?),
                        false => None,
                    },
                },
                (ACTION_RESPONSE, 1) => Apdu::ActionResponse {
                    invoke,
                    result: ResultCode(r.u8("action result")?),
                    returned: match read_bool(&mut r, "return parameters present")? {
                        true => Some(read_get_result(&mut r)?),
                        false => None,
                    },
                },
                (GET_REQUEST | GET_RESPONSE | SET_REQUEST | SET_RESPONSE | ACTION_REQUEST | ACTION_RESPONSE, _) => {
                    return Err(DecodeError::Unsupported {
                        what: "service choice",
                        value: u32::from(choice),
                    });
                }
                _ => {
                    return Err(DecodeError::Unsupported {
                        what: "APDU tag",
                        value: u32::from(tag),
                    });
                }
            }
        };
        r.finish()?;
        Ok(apdu)
    }
}

fn put_attribute(out: &mut Vec<u8>, a: &AttributeDescriptor) {
    out.extend_from_slice(&a.class_id.to_be_bytes());
    out.extend_from_slice(&a.instance.0);
    out.extend_from_slice(&a.attribute.to_be_bytes());
}

fn put_access(out: &mut Vec<u8>, access: Option<&SelectiveAccess>) {
    match access {
        Some(a) => {
            out.extend_from_slice(&[1, a.selector]);
            a.parameters.encode(out);
        }
        None => out.push(0),
    }
}

fn put_get_result(out: &mut Vec<u8>, result: &GetResult) {
    match result {
        GetResult::Data(data) => {
            out.push(0);
            data.encode(out);
        }
        GetResult::Error(code) => out.extend_from_slice(&[1, code.0]),
    }
}

fn read_attribute(r: &mut Reader<'_>) -> Result<AttributeDescriptor, DecodeError> {
    Ok(AttributeDescriptor {
        class_id: r.u16("class id")?,
        instance: Obis(r.array("logical name")?),
        attribute: r.u8("attribute id")? as i8,
    })
}

fn read_access(r: &mut Reader<'_>) -> Result<Option<SelectiveAccess>, DecodeError> {
    Ok(match read_bool(r, "access selection present")? {
        true => Some(SelectiveAccess {
            selector: r.u8("access selector")?,
            parameters: Data::decode(r)?,
        }),
        false => None,
    })
}

fn read_get_result(r: &mut Reader<'_>) -> Result<GetResult, DecodeError> {
    match r.u8("get result")? {
        0 => Ok(GetResult::Data(Data::decode(r)?)),
        1 => Ok(GetResult::Error(ResultCode(r.u8("data access result")?))),
        other => Err(DecodeError::Unsupported {
            what: "get result",
            value: u32::from(other),
        }),
    }
}

/// An A-XDR boolean or OPTIONAL marker: 0 or 1 (other values are malformed here, where a
/// stray byte would shift every field after it).
fn read_bool(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Malformed(what)),
    }
}
