//! A-XDR `Data`: the values COSEM attributes hold and services carry, each a tag byte then
//! its encoding (big-endian integers, length-prefixed strings, counted arrays and
//! structures).

use crate::{DecodeError, Reader, put_length};

/// How deep arrays and structures may nest in decoded input.
pub const MAX_DEPTH: usize = 16;

/// A DLMS `Data` value.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `null-data` (tag 0).
    Null,
    /// `array` (1): elements of one type.
    Array(Vec<Data>),
    /// `structure` (2): elements of any types.
    Structure(Vec<Data>),
    /// `boolean` (3).
    Boolean(bool),
    /// `bit-string` (4): `bits` bits, most significant first, in `bytes`.
    BitString {
        /// Bits in the string.
        bits: usize,
        /// The bits, packed, the last byte padded with zeros.
        bytes: Vec<u8>,
    },
    /// `double-long` (5).
    DoubleLong(i32),
    /// `double-long-unsigned` (6).
    DoubleLongUnsigned(u32),
    /// `octet-string` (9).
    OctetString(Vec<u8>),
    /// `visible-string` (10).
    VisibleString(Vec<u8>),
    /// `utf8-string` (12), as bytes.
    Utf8String(Vec<u8>),
    /// `bcd` (13).
    Bcd(u8),
    /// `integer` (15).
    Integer(i8),
    /// `long` (16).
    Long(i16),
    /// `unsigned` (17).
    Unsigned(u8),
    /// `long-unsigned` (18).
    LongUnsigned(u16),
    /// `long64` (20).
    Long64(i64),
    /// `long64-unsigned` (21).
    Long64Unsigned(u64),
    /// `enum` (22).
    Enum(u8),
    /// `float32` (23).
    Float32(f32),
    /// `float64` (24).
    Float64(f64),
    /// `date-time` (25): the 12 octets of a COSEM date-time.
    DateTime([u8; 12]),
    /// `date` (26): 5 octets.
    Date([u8; 5]),
    /// `time` (27): 4 octets.
    Time([u8; 4]),
}

impl Data {
    /// The value's tag byte.
    pub fn tag(&self) -> u8 {
        match self {
            Data::Null => 0,
            Data::Array(_) => 1,
            Data::Structure(_) => 2,
            Data::Boolean(_) => 3,
            Data::BitString { .. } => 4,
            Data::DoubleLong(_) => 5,
            Data::DoubleLongUnsigned(_) => 6,
            Data::OctetString(_) => 9,
            Data::VisibleString(_) => 10,
            Data::Utf8String(_) => 12,
            Data::Bcd(_) => 13,
            Data::Integer(_) => 15,
            Data::Long(_) => 16,
            Data::Unsigned(_) => 17,
            Data::LongUnsigned(_) => 18,
            Data::Long64(_) => 20,
            Data::Long64Unsigned(_) => 21,
            Data::Enum(_) => 22,
            Data::Float32(_) => 23,
            Data::Float64(_) => 24,
            Data::DateTime(_) => 25,
            Data::Date(_) => 26,
            Data::Time(_) => 27,
        }
    }

    /// Appends the value's encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            Data::Null => {}
            Data::Array(items) | Data::Structure(items) => {
                put_length(out, items.len());
                for item in items {
                    item.encode(out);
                }
            }
            Data::Boolean(b) => out.push(u8::from(*b)),
            Data::BitString { bits, bytes } => {
                put_length(out, *bits);
                out.extend_from_slice(bytes);
            }
            Data::DoubleLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DoubleLongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
                put_length(out, b.len());
                out.extend_from_slice(b);
            }
            Data::Bcd(v) | Data::Unsigned(v) | Data::Enum(v) => out.push(*v),
            Data::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::LongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DateTime(b) => out.extend_from_slice(b),
            Data::Date(b) => out.extend_from_slice(b),
            Data::Time(b) => out.extend_from_slice(b),
        }
    }

    /// The value's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads one value.
    pub fn decode(reader: &mut Reader<'_>) -> Result<Data, DecodeError> {
        Data::decode_at(reader, 0)
    }

    /// Decodes exactly one value from `bytes`, nothing left over.
    pub fn from_bytes(bytes: &[u8]) -> Result<Data, DecodeError> {
        let mut reader = Reader::new(bytes);
        let data = Data::decode(&mut reader)?;
        reader.finish()?;
        Ok(data)
    }

    fn decode_at(r: &mut Reader<'_>, depth: usize) -> Result<Data, DecodeError> {
        let tag = r.u8("data tag")?;
        Ok(match tag {
            0 => Data::Null,
            1 | 2 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooLarge {
                        what: "nesting of arrays and structures",
                        value: depth + 1,
                        limit: MAX_DEPTH,
                    });
                }
                let n = r.length("element count")?;
                // Every element takes at least one byte: a count beyond what is left is a
                // lie, and refused before anything is allocated for it.
                if n > r.remaining() {
                    return Err(DecodeError::Truncated {
                        what: "array or structure elements",
                        needed: n - r.remaining(),
                    });
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Data::decode_at(r, depth + 1)?);
                }
                if tag == 1 {
                    Data::Array(items)
                } else {
                    Data::Structure(items)
                }
            }
            3 => match r.u8("boolean")? {
                0 => Data::Boolean(false),
                _ => Data::Boolean(true),
            },
            4 => {
                let bits = r.length("bit-string length")?;
                let bytes = r.take(bits.div_ceil(8), "bit-string")?.to_vec();
                Data::BitString { bits, bytes }
            }
            5 => Data::DoubleLong(r.u32("double-long")? as i32),
            6 => Data::DoubleLongUnsigned(r.u32("double-long-unsigned")?),
            9 | 10 | 12 => {
                let n = r.length("string length")?;
                let bytes = r.take(n, "string")?.to_vec();
                match tag {
                    9 => Data::OctetString(bytes),
                    10 => Data::VisibleString(bytes),
                    _ => Data::Utf8String(bytes),
                }
            }
            13 => Data::Bcd(r.u8("bcd")?),
            15 => Data::Integer(r.u8("integer")? as i8),
            16 => Data::Long(r.u16("long")? as i16),
            17 => Data::Unsigned(r.u8("unsigned")?),
            18 => Data::LongUnsigned(r.u16("long-unsigned")?),
            20 => Data::Long64(r.u64("long64")? as i64),
            21 => Data::Long64Unsigned(r.u64("long64-unsigned")?),
            22 => Data::Enum(r.u8("enum")?),
            23 => Data::Float32(f32::from_bits(r.u32("float32")?)),
            24 => Data::Float64(f64::from_bits(r.u64("float64")?)),
            25 => Data::DateTime(r.array("date-time")?),
            26 => Data::Date(r.array("date")?),
            27 => Data::Time(r.array("time")?),
            other => {
                return Err(DecodeError::Unsupported {
                    what: "data tag",
                    value: u32::from(other),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings as the Green Book spells them: a structure of a long-unsigned class id, an
    /// octet-string name and an integer.
    #[test]
    fn values_encode_as_the_standard_spells_them() {
        let value = Data::Structure(vec![
            Data::LongUnsigned(8),
            Data::OctetString(vec![0, 0, 1, 0, 0, 255]),
            Data::Integer(2),
        ]);
        let bytes = value.to_bytes();
        assert_eq!(bytes, [2, 3, 18, 0, 8, 9, 6, 0, 0, 1, 0, 0, 255, 15, 2]);
        assert_eq!(Data::from_bytes(&bytes), Ok(value));
        // Long lengths take the 0x81 / 0x82 forms.
        let long = Data::OctetString(vec![7; 300]);
        assert_eq!(&long.to_bytes()[..4], &[9, 0x82, 0x01, 0x2c]);
        assert_eq!(Data::from_bytes(&long.to_bytes()), Ok(long));
        assert_eq!(Data::OctetString(vec![1; 200]).to_bytes()[..3], [9, 0x81, 200]);
    }

    /// Lies about counts, nesting beyond the limit, unknown tags and leftovers are errors.
    #[test]
    fn hostile_values_are_refused() {
        assert!(matches!(
            Data::from_bytes(&[1, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut deep = [1u8, 1].repeat(MAX_DEPTH + 1);
        deep.push(0);
        assert!(matches!(Data::from_bytes(&deep), Err(DecodeError::TooLarge { .. })));
        assert!(matches!(
            Data::from_bytes(&[19, 0]),
            Err(DecodeError::Unsupported { .. })
        ));
        assert!(matches!(Data::from_bytes(&[17, 1, 0]), Err(DecodeError::Trailing(1))));
        assert!(matches!(
            Data::from_bytes(&[0x09, 0x80]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
