//! Team tokens: generated from the operating system's randomness or given in the exercise
//! file, compared in constant time, and never shown by `Debug` or `Display` (so that no log
//! line can carry one).

use std::fmt;
use std::io::Read as _;

/// The fewest characters a token may have.
pub const MIN_TOKEN_LEN: usize = 16;

/// A team's secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// Why a token given in an exercise file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Too short to resist guessing.
    #[error("a token needs at least {MIN_TOKEN_LEN} characters, this one has {0}")]
    TooShort(usize),
    /// Holds a character that is not printable ASCII, or a space.
    #[error("a token may hold printable ASCII characters only, without spaces")]
    Characters,
    /// The system's randomness could not be read.
    #[error("cannot read the system's randomness: {0}")]
    Randomness(String),
}

impl Token {
    /// A token given by the operator.
    pub fn new(text: &str) -> Result<Token, TokenError> {
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Characters);
        }
        if text.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort(text.len()));
        }
        Ok(Token(text.to_owned()))
    }

    /// A fresh token: 128 bits from `/dev/urandom`, as 32 hexadecimal digits.
    pub fn generate() -> Result<Token, TokenError> {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| TokenError::Randomness(e.to_string()))?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Whether `presented` is this token. The time taken does not depend on where the two
    /// first differ, nor on the secret's length beyond the presented one's.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// The secret itself, to hand to its team once (at start, on the operator's terminal).
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Compares two byte strings in time that depends only on the presented one's length: every
/// byte is looked at, and the lengths are folded into the same accumulator.
fn constant_time_eq(secret: &[u8], presented: &[u8]) -> bool {
    let mut diff = (secret.len() ^ presented.len()) as u64;
    for (i, &p) in presented.iter().enumerate() {
        // Past the secret's end, compare against 0 (a presented byte is never 0 in a token
        // that matches, since the lengths then differ and `diff` is already set).
        let s = secret.get(i).copied().unwrap_or(0);
        diff |= u64::from(s ^ p);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves_and_never_print() {
        let t = Token::new("correct-horse-battery").expect("valid");
        assert!(t.matches("correct-horse-battery"));
        for wrong in [
            "",
            "correct-horse-batter",
            "correct-horse-battery!",
            "Correct-horse-battery",
            "x",
        ] {
            assert!(!t.matches(wrong), "{wrong:?}");
        }
        assert_eq!(format!("{t:?} {t}"), "Token(<redacted>) <redacted>");
    }

    #[test]
    fn weak_tokens_are_refused_and_generated_ones_are_fresh() {
        assert_eq!(Token::new("short"), Err(TokenError::TooShort(5)));
        assert_eq!(Token::new("has a space in it ok"), Err(TokenError::Characters));
        let (a, b) = (Token::generate().expect("random"), Token::generate().expect("random"));
        assert_eq!(a.reveal().len(), 32);
        assert!(a.reveal().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.matches(a.reveal()) && !a.matches(b.reveal()));
    }
}
