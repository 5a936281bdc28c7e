//! DLMS/COSEM for amirange's simulated meters, sans I/O in the style of quinn-proto: bytes in,
//! values and bytes out, time passed in as a parameter; no sockets, threads or clocks here.
//!
//! What is here so far, each from the public descriptions of the standards (IEC 62056-47 for
//! the wrapper, IEC 62056-6-2 / the DLMS UA Green Book for A-XDR and the xDLMS services):
//!
//! - [`wrapper`]: the 8-byte wrapper header over TCP and UDP, and a streaming decoder that
//!   takes bytes in any chunking and refuses frames over a length limit.
//! - [`data`]: the A-XDR `Data` type (every simple type, arrays and structures), with limits
//!   on nesting and element counts so that hostile bytes cost bounded work.
//! - [`obis`]: OBIS codes, the logical names of COSEM objects.
//! - [`apdu`]: the xDLMS GET (normal, next block, with data block), SET and ACTION services
//!   with logical-name referencing, and the exception response.
//! - [`acse`]: the AARQ and AARE that open an association (logical names, with or without
//!   ciphering; no security, a password, or HLS by GMAC) and the initiate request and response
//!   inside them.
//! - [`security`]: security suite 0, AES-GCM-128 over APDUs (authenticated, encrypted or
//!   both, in glo-ciphering) and the GMAC answers of HLS authentication.
//!
//! - [`server`]: the meter's side as a state machine: a [`server::Connection`] takes the
//!   bytes a client sent and returns the answer, opening associations per client address
//!   (none, password, HLS-GMAC), refusing replayed invocation counters, checking rights,
//!   splitting long GET answers into blocks, and passing GET, SET and ACTION to the caller's
//!   [`server::Objects`].
//!
//! The engine-backed meter objects and the gateway that puts this on a socket come next (see
//! `docs/dlms.md`). Every decoder returns an error for bad input and never panics; property
//! tests hold them to that over arbitrary bytes.

pub mod acse;
pub mod apdu;
pub mod data;
pub mod obis;
pub mod security;
pub mod server;
pub mod wrapper;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("truncated: {what} needs {needed} more bytes")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many more bytes it needed (at least).
        needed: usize,
    },
    /// A tag or value that this implementation does not know or accept.
    #[error("unsupported {what}: {value:#04x}")]
    Unsupported {
        /// What was being read.
        what: &'static str,
        /// The tag or value found.
        value: u32,
    },
    /// A length, count or nesting beyond the decoder's limits.
    #[error("{what} of {value} is beyond the limit of {limit}")]
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// The value found.
        value: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes left over after a complete value.
    #[error("{0} bytes left over after the APDU")]
    Trailing(usize),
    /// A value that is malformed in itself (a bad length form, a boolean that is neither).
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// A cursor over input bytes that reads big-endian integers and fails with
/// [`DecodeError::Truncated`] at the end instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                needed: n - self.remaining(),
            });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// An A-XDR length: one byte below 0x80, else `0x80 + n` followed by `n` (1 to 4) bytes
    /// of length, big-endian.
    pub fn length(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let first = self.u8(what)?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(DecodeError::Malformed("length form"));
        }
        let mut len = 0usize;
        for &b in self.take(n, what)? {
            len = (len << 8) | usize::from(b);
        }
        Ok(len)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Appends an A-XDR length (see [`Reader::length`]) in its shortest form.
pub fn put_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}
