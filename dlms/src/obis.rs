//! OBIS codes (IEC 62056-6-1): the six-byte logical names of COSEM objects, written
//! `A.B.C.D.E.F` (for example `1.0.1.8.0.255`, active energy import, total).

use std::fmt;
use std::str::FromStr;

/// An OBIS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Obis(pub [u8; 6]);

impl Obis {
    /// The Clock object.
    pub const CLOCK: Obis = Obis([0, 0, 1, 0, 0, 255]);
    /// Active energy import (+A), total.
    pub const ACTIVE_ENERGY_IMPORT: Obis = Obis([1, 0, 1, 8, 0, 255]);
    /// The load profile with interval energy (profile generic, channel 1).
    pub const LOAD_PROFILE: Obis = Obis([1, 0, 99, 1, 0, 255]);
    /// Disconnect control.
    pub const DISCONNECT_CONTROL: Obis = Obis([0, 0, 96, 3, 10, 255]);
    /// The current association (logical-name referencing).
    pub const CURRENT_ASSOCIATION: Obis = Obis([0, 0, 40, 0, 0, 255]);
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}.{b}.{c}.{d}.{e}.{g}")
    }
}

/// Why text is not an OBIS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an OBIS code: expected six numbers 0 to 255 separated by dots, like 1.0.1.8.0.255")]
pub struct ObisError {
    /// The text given.
    pub text: String,
}

impl FromStr for Obis {
    type Err = ObisError;

    fn from_str(text: &str) -> Result<Obis, ObisError> {
        let error = || ObisError { text: text.to_owned() };
        let mut out = [0u8; 6];
        let mut parts = text.split('.');
        for byte in &mut out {
            *byte = parts.next().and_then(|p| p.parse().ok()).ok_or_else(error)?;
        }
        match parts.next() {
            None => Ok(Obis(out)),
            Some(_) => Err(error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obis_codes_read_and_print_as_six_numbers() {
        assert_eq!("1.0.1.8.0.255".parse(), Ok(Obis::ACTIVE_ENERGY_IMPORT));
        assert_eq!(Obis::DISCONNECT_CONTROL.to_string(), "0.0.96.3.10.255");
        for bad in [
            "",
            "1.0.1.8.0",
            "1.0.1.8.0.255.1",
            "1.0.1.8.0.256",
            "a.b.c.d.e.f",
            "1..1.8.0.255",
        ] {
            assert!(bad.parse::<Obis>().is_err(), "{bad:?}");
        }
    }
}
