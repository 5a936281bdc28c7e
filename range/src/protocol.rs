//! The wire protocol of the live range, version 1: length-prefixed frames carrying one JSON
//! message each, on QUIC streams (ALPN [`ALPN`]). `range/PROTOCOL.md` documents it for clients
//! in other languages.
//!
//! A frame is a 4-byte big-endian length `n`, then `n` bytes: the protocol version (one byte,
//! [`VERSION`]) and a UTF-8 JSON object (`n - 1` bytes). A frame longer than the receiver's
//! limit, an unknown version, bytes that are not UTF-8 JSON, or JSON that is not a message of
//! the expected direction are errors: the receiver answers with an error message naming it
//! and closes the stream; it never panics.
//!
//! This module does no I/O: [`encode`] makes a frame, [`Decoder`] takes bytes as they arrive,
//! in any chunks, and gives whole frames.

use serde::{Deserialize, Serialize};

/// The protocol version carried in every frame.
pub const VERSION: u8 = 1;

/// The QUIC application protocol (ALPN) a client must offer.
pub const ALPN: &[u8] = b"amirange/1";

/// The default limit on a frame's length (version byte and JSON), bytes.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// Why bytes from a peer are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame announced is longer than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Its announced length.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// A frame of length 0 (no version byte).
    #[error("empty frame (no version byte)")]
    Empty,
    /// A version this receiver does not speak.
    #[error("protocol version {got} is not supported (this side speaks {VERSION})")]
    Version {
        /// The version in the frame.
        got: u8,
    },
    /// The body is not a message: not UTF-8 JSON, or not one of the messages expected.
    #[error("not a valid message: {0}")]
    Message(String),
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame ({have} of {want} bytes)")]
    Truncated {
        /// Bytes of the frame received.
        have: usize,
        /// Bytes the frame announced (with its 4-byte length).
        want: usize,
    },
}

/// Makes the frame of `message`.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing our own message types cannot fail: they hold no maps with non-string keys
    // and no values serde_json refuses.
    let json = serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec());
    let len = (json.len() + 1) as u32;
    let mut frame = Vec::with_capacity(json.len() + 5);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.push(VERSION);
    frame.extend_from_slice(&json);
    frame
}

/// Parses a frame's body (after its length) as a message of type `T`.
pub fn decode_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, FrameError> {
    let (&version, json) = body.split_first().ok_or(FrameError::Empty)?;
    if version != VERSION {
        return Err(FrameError::Version { got: version });
    }
    serde_json::from_slice(json).map_err(|e| FrameError::Message(e.to_string()))
}

/// Splits a byte stream into frame bodies, checking each length against a limit before
/// buffering it. Feed it what arrives with [`Decoder::push`] and take bodies with
/// [`Decoder::next_body`] (or messages with [`Decoder::next_message`]).
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max: usize,
    failed: bool,
}

impl Decoder {
    /// A decoder refusing frames longer than `max` bytes.
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            max,
            failed: false,
        }
    }

    /// Appends bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame's body (version byte and JSON), `None` until one has arrived. After
    /// an error the decoder stays failed: a stream that sent a bad frame is closed, since the
    /// frame boundaries after it cannot be trusted.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.failed {
            return Err(FrameError::Message("the stream already sent a bad frame".into()));
        }
        let rest = &self.buf[self.start..];
        let Some(head) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len == 0 {
            self.failed = true;
            return Err(FrameError::Empty);
        }
        if len > self.max {
            self.failed = true;
            return Err(FrameError::TooLong { len, max: self.max });
        }
        let Some(body) = rest.get(4..4 + len) else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start += 4 + len;
        // Keep the buffer from growing without bound on a long stream.
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(body))
    }

    /// The next whole frame as a message of type `T`.
    pub fn next_message<T: for<'de> Deserialize<'de>>(&mut self) -> Result<Option<T>, FrameError> {
        match self.next_body()? {
            None => Ok(None),
            Some(body) => decode_body(&body).map(Some).inspect_err(|_| self.failed = true),
        }
    }

    /// At the end of the stream: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        let rest = self.buf.len() - self.start;
        if rest == 0 {
            return Ok(());
        }
        let want = self.buf[self.start..]
            .get(..4)
            .map_or(4, |h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize + 4);
        Err(FrameError::Truncated { have: rest, want })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A small deterministic generator for the property tests (xorshift64*).
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn message(g: &mut Gen, i: u64) -> Value {
        let text: String = (0..g.below(40))
            .map(|_| char::from_u32(0x20 + g.below(0x2fff) as u32).unwrap_or('?'))
            .collect();
        json!({"type": "request", "id": i, "action": {"type": "phish", "account": text}})
    }

    #[test]
    fn frames_survive_any_chunking() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let messages: Vec<Value> = (0..1 + g.below(8)).map(|i| message(&mut g, i)).collect();
            let stream: Vec<u8> = messages.iter().flat_map(encode).collect();
            let mut d = Decoder::new(DEFAULT_MAX_FRAME);
            let mut got = Vec::new();
            let mut at = 0;
            while at < stream.len() {
                let n = 1 + g.below(12) as usize;
                let end = (at + n).min(stream.len());
                d.push(&stream[at..end]);
                at = end;
                while let Some(m) = d.next_message::<Value>().expect("valid frames") {
                    got.push(m);
                }
            }
            assert_eq!(got, messages);
            assert_eq!(d.buffered(), 0);
            d.finish().expect("ends on a frame boundary");
        }
    }

    #[test]
    fn garbage_is_refused_and_never_panics() {
        let mut g = Gen(42);
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..g.below(64)).map(|_| g.next() as u8).collect();
            let mut d = Decoder::new(256);
            d.push(&bytes);
            // Whatever comes out, it is an error or a body within the limit.
            for _ in 0..8 {
                match d.next_message::<Value>() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = d.finish();
        }
    }

    #[test]
    fn oversized_empty_wrong_version_and_truncated_frames_are_named() {
        let mut d = Decoder::new(100);
        d.push(&1000u32.to_be_bytes());
        assert_eq!(d.next_body(), Err(FrameError::TooLong { len: 1000, max: 100 }));
        assert!(d.next_body().is_err(), "a failed stream stays failed");

        let mut d = Decoder::new(100);
        d.push(&0u32.to_be_bytes());
        assert_eq!(d.next_body(), Err(FrameError::Empty));

        let mut frame = encode(&json!({"type": "bye"}));
        frame[4] = 9;
        let mut d = Decoder::new(100);
        d.push(&frame);
        assert_eq!(d.next_message::<Value>(), Err(FrameError::Version { got: 9 }));

        let mut d = Decoder::new(100);
        d.push(&[0, 0, 0, 5, VERSION, b'{']);
        assert_eq!(d.next_body(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated { have: 6, want: 9 }));

        let mut d = Decoder::new(100);
        d.push(&[0, 0, 0, 3, VERSION, b'{', b'x']);
        assert!(matches!(d.next_message::<Value>(), Err(FrameError::Message(_))));
    }

    #[test]
    fn the_frame_layout_is_as_documented() {
        let frame = encode(&json!({"type": "bye"}));
        assert_eq!(
            &frame[..4],
            &15u32.to_be_bytes(),
            "the version byte and 14 bytes of JSON"
        );
        assert_eq!(frame[4], 1);
        assert_eq!(&frame[5..], br#"{"type":"bye"}"#);
    }
}
