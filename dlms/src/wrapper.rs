//! The IEC 62056-47 wrapper: DLMS APDUs over TCP or UDP carry an 8-byte header of version
//! (always 1), source and destination wPort (the client's and the logical device's address)
//! and the APDU's length, all big-endian `u16`.

use crate::DecodeError;

/// Bytes in a wrapper header.
pub const HEADER_LEN: usize = 8;

/// The wrapper's version field.
pub const VERSION: u16 = 1;

/// The wPort of the public client (no security, reads only what the public association may).
pub const PUBLIC_CLIENT: u16 = 16;

/// The wPort of the management logical device of a meter.
pub const MANAGEMENT_DEVICE: u16 = 1;

/// One wrapper frame's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addresses {
    /// The sender's wPort.
    pub source: u16,
    /// The receiver's wPort.
    pub destination: u16,
}

/// A frame: its addresses and APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Who sent it, to whom.
    pub addresses: Addresses,
    /// The APDU it carries.
    pub apdu: Vec<u8>,
}

/// The frame carrying `apdu` from `addresses.source` to `addresses.destination`; an error
/// for an APDU longer than the header's 16-bit length can say.
pub fn encode_checked(addresses: Addresses, apdu: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let len = u16::try_from(apdu.len()).map_err(|_| DecodeError::TooLarge {
        what: "wrapper APDU length",
        value: apdu.len(),
        limit: usize::from(u16::MAX),
    })?;
    let mut out = Vec::with_capacity(HEADER_LEN + apdu.len());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&addresses.source.to_be_bytes());
    out.extend_from_slice(&addresses.destination.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(apdu);
    Ok(out)
}

/// A streaming decoder of wrapper frames from a byte stream (TCP): bytes go in as they come,
/// in any chunking; whole frames come out. A frame longer than the decoder's limit, or a
/// header with another version, is an error after which the connection should be closed (the
/// stream has lost its framing).
#[derive(Debug, Clone)]
pub struct Decoder {
    buffer: Vec<u8>,
    max_apdu: usize,
}

impl Decoder {
    /// A decoder that accepts APDUs of at most `max_apdu` bytes.
    pub fn new(max_apdu: usize) -> Decoder {
        Decoder {
            buffer: Vec::new(),
            max_apdu: max_apdu.min(usize::from(u16::MAX)),
        }
    }

    /// Takes in bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes held that do not make a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole frame, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if self.buffer.len() < HEADER_LEN {
            return Ok(None);
        }
        let word = |i: usize| u16::from_be_bytes([self.buffer[i], self.buffer[i + 1]]);
        let version = word(0);
        if version != VERSION {
            return Err(DecodeError::Unsupported {
                what: "wrapper version",
                value: u32::from(version),
            });
        }
        let addresses = Addresses {
            source: word(2),
            destination: word(4),
        };
        let len = usize::from(word(6));
        if len > self.max_apdu {
            return Err(DecodeError::TooLarge {
                what: "wrapper APDU length",
                value: len,
                limit: self.max_apdu,
            });
        }
        if self.buffer.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let apdu = self.buffer[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buffer.drain(..HEADER_LEN + len);
        Ok(Some(Frame { addresses, apdu }))
    }
}

/// Decodes one datagram (UDP) as exactly one frame.
pub fn decode_datagram(datagram: &[u8], max_apdu: usize) -> Result<Frame, DecodeError> {
    let mut decoder = Decoder::new(max_apdu);
    decoder.push(datagram);
    match decoder.next_frame()? {
        Some(frame) if decoder.buffered() == 0 => Ok(frame),
        Some(_) => Err(DecodeError::Trailing(decoder.buffered())),
        None => Err(DecodeError::Truncated {
            what: "wrapper frame",
            needed: (HEADER_LEN.max(datagram.len()) - datagram.len()).max(1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A GET of the clock as the Gurux client frames it (public client 16 to device 1) comes
    /// out whole whatever the chunking, and re-encodes to the same bytes.
    #[test]
    fn a_frame_survives_any_chunking_and_round_trips() {
        let bytes = hex("000100100001000dc001c100080000010000ff0200");
        for chunk in 1..bytes.len() {
            let mut decoder = Decoder::new(1024);
            let mut frames = Vec::new();
            for part in bytes.chunks(chunk) {
                decoder.push(part);
                while let Some(frame) = decoder.next_frame().expect("valid") {
                    frames.push(frame);
                }
            }
            assert_eq!(frames.len(), 1, "chunks of {chunk}");
            assert_eq!(
                frames[0].addresses,
                Addresses {
                    source: PUBLIC_CLIENT,
                    destination: MANAGEMENT_DEVICE
                }
            );
            assert_eq!(frames[0].apdu.len(), 13);
            assert_eq!(encode_checked(frames[0].addresses, &frames[0].apdu), Ok(bytes.clone()));
        }
    }

    /// Another version, or an APDU over the limit, is refused before its body arrives; a
    /// datagram must hold exactly one frame.
    #[test]
    fn bad_versions_long_frames_and_partial_datagrams_are_refused() {
        let mut decoder = Decoder::new(64);
        decoder.push(&hex("0002001000010001"));
        assert!(matches!(decoder.next_frame(), Err(DecodeError::Unsupported { .. })));
        let mut decoder = Decoder::new(64);
        decoder.push(&hex("000100100001ffff"));
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { value: 65535, .. })
        ));
        assert!(decode_datagram(&hex("0001001000010002c0"), 64).is_err());
        assert!(decode_datagram(&hex("0001001000010001c000"), 64).is_err());
        assert!(decode_datagram(&hex("0001001000010001c0"), 64).is_ok());
    }
}
