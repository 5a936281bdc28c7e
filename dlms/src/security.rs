//! Security suite 0 (IEC 62056-5-3, the Green Book's security chapter): AES-GCM-128 with
//! 12-byte tags over xDLMS APDUs, and HLS authentication by GMAC.
//!
//! A protected APDU is the security control byte, the 4-byte invocation counter, the
//! ciphertext and the tag. The nonce is the sender's 8-byte system title followed by the
//! invocation counter; the additional data is the security control byte and the
//! authentication key (and, when the APDU is authenticated but not encrypted, the plain APDU).

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes128;
use aes_gcm::{AesGcm, Nonce, Tag};

use crate::{DecodeError, Reader, put_length};

/// AES-GCM-128 with 96-bit nonces and 96-bit tags, as suite 0 uses it.
type Gcm = AesGcm<Aes128, U12, U12>;

/// Security control: authenticated.
pub const AUTHENTICATED: u8 = 0x10;
/// Security control: encrypted.
pub const ENCRYPTED: u8 = 0x20;
/// Bytes in a tag.
pub const TAG_LEN: usize = 12;

/// The glo-ciphering tag of an APDU tag (initiate request and response, GET, SET, ACTION and
/// their responses), if it has one.
pub fn glo_tag(plain_tag: u8) -> Option<u8> {
    Some(match plain_tag {
        0x01 => 0x21,
        0x08 => 0x28,
        0xC0 => 0xC8,
        0xC1 => 0xC9,
        0xC3 => 0xCB,
        0xC4 => 0xCC,
        0xC5 => 0xCD,
        0xC7 => 0xCF,
        _ => return None,
    })
}

/// The plain APDU tag a glo-ciphering tag protects.
pub fn plain_tag(glo_tag: u8) -> Option<u8> {
    [0x01, 0x08, 0xC0, 0xC1, 0xC3, 0xC4, 0xC5, 0xC7]
        .into_iter()
        .find(|&t| self::glo_tag(t) == Some(glo_tag))
}

/// The keys of a security context.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// The block cipher (encryption) key: global unicast, broadcast or dedicated.
    pub encryption: [u8; 16],
    /// The authentication key.
    pub authentication: [u8; 16],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never go to logs.
        f.write_str("Keys { .. }")
    }
}

/// Why a protected APDU was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// Not a well-formed protected APDU.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A security control byte this suite does not use (another suite, compression, keys).
    #[error("security control byte {0:#04x} is not suite 0 authenticated and/or encrypted")]
    Control(u8),
    /// The tag did not verify: a wrong key, or altered bytes.
    #[error("the authentication tag does not verify")]
    Tag,
}

/// A protected APDU's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The security control byte.
    pub control: u8,
    /// The sender's invocation counter.
    pub invocation_counter: u32,
    /// The plain APDU.
    pub apdu: Vec<u8>,
}

fn nonce(system_title: &[u8; 8], invocation_counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(system_title);
    iv[8..].copy_from_slice(&invocation_counter.to_be_bytes());
    iv
}

fn aad(control: u8, keys: &Keys, plain: Option<&[u8]>) -> Vec<u8> {
    let mut aad = vec![control];
    aad.extend_from_slice(&keys.authentication);
    if let Some(p) = plain {
        aad.extend_from_slice(p);
    }
    aad
}

/// Protects `apdu` under `keys` as the sender with `system_title` and `invocation_counter`:
/// returns security control, counter, ciphertext (or the plain APDU when only authenticated)
/// and tag. `control` is [`AUTHENTICATED`], [`ENCRYPTED`] or both.
pub fn seal(
    keys: &Keys,
    system_title: &[u8; 8],
    control: u8,
    invocation_counter: u32,
    apdu: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    if control & !(AUTHENTICATED | ENCRYPTED) != 0 || control == 0 {
        return Err(SecurityError::Control(control));
    }
    let gcm = Gcm::new(&keys.encryption.into());
    let iv = nonce(system_title, invocation_counter);
    let mut out = vec![control];
    out.extend_from_slice(&invocation_counter.to_be_bytes());
    let encrypted = control & ENCRYPTED != 0;
    let authenticated = control & AUTHENTICATED != 0;
    let mut body = apdu.to_vec();
    let tag = if encrypted {
        let aad = if authenticated {
            aad(control, keys, None)
        } else {
            Vec::new()
        };
        let tag = gcm
            .encrypt_in_place_detached(Nonce::from_slice(&iv), &aad, &mut body)
            .map_err(|_| SecurityError::Tag)?;
        authenticated.then_some(tag)
    } else {
        let tag = gcm
            .encrypt_in_place_detached(Nonce::from_slice(&iv), &aad(control, keys, Some(apdu)), &mut [])
            .map_err(|_| SecurityError::Tag)?;
        Some(tag)
    };
    out.extend_from_slice(&body);
    if let Some(tag) = tag {
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Opens a protected APDU (security control, counter, ciphertext, tag) sent by the holder of
/// `system_title`, verifying its tag.
pub fn open(keys: &Keys, system_title: &[u8; 8], protected: &[u8]) -> Result<Opened, SecurityError> {
    let mut r = Reader::new(protected);
    let control = r.u8("security control")?;
    if control & !(AUTHENTICATED | ENCRYPTED) != 0 || control == 0 {
        return Err(SecurityError::Control(control));
    }
    let invocation_counter = r.u32("invocation counter")?;
    let authenticated = control & AUTHENTICATED != 0;
    let tag_len = if authenticated { TAG_LEN } else { 0 };
    let body_len = r
        .remaining()
        .checked_sub(tag_len)
        .ok_or_else(|| DecodeError::Truncated {
            what: "authentication tag",
            needed: tag_len - r.remaining(),
        })?;
    let mut body = r.take(body_len, "ciphertext")?.to_vec();
    let tag = r.take(r.remaining(), "authentication tag")?;
    let gcm = Gcm::new(&keys.encryption.into());
    let iv = nonce(system_title, invocation_counter);
    if control & ENCRYPTED != 0 {
        if authenticated {
            gcm.decrypt_in_place_detached(
                Nonce::from_slice(&iv),
                &aad(control, keys, None),
                &mut body,
                Tag::from_slice(tag),
            )
            .map_err(|_| SecurityError::Tag)?;
        } else {
            // Encrypted without authentication: GCM's keystream alone (the tag is not sent, so
            // compute it and drop it).
            let _ = gcm
                .encrypt_in_place_detached(Nonce::from_slice(&iv), &[], &mut body)
                .map_err(|_| SecurityError::Tag)?;
        }
    } else {
        gcm.decrypt_in_place_detached(
            Nonce::from_slice(&iv),
            &aad(control, keys, Some(&body)),
            &mut [],
            Tag::from_slice(tag),
        )
        .map_err(|_| SecurityError::Tag)?;
    }
    Ok(Opened {
        control,
        invocation_counter,
        apdu: body,
    })
}

/// Wraps a protected APDU in its glo-ciphering tag and length.
pub fn glo_wrap(glo_tag: u8, protected: &[u8]) -> Vec<u8> {
    let mut out = vec![glo_tag];
    put_length(&mut out, protected.len());
    out.extend_from_slice(protected);
    out
}

/// The glo-ciphering tag and protected bytes of a glo-ciphered APDU that fills `bytes`.
pub fn glo_unwrap(bytes: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let mut r = Reader::new(bytes);
    let tag = r.u8("glo-ciphering tag")?;
    if plain_tag(tag).is_none() {
        return Err(DecodeError::Unsupported {
            what: "glo-ciphering tag",
            value: u32::from(tag),
        });
    }
    let len = r.length("glo-ciphering length")?;
    let protected = r.take(len, "glo-ciphered APDU")?;
    r.finish()?;
    Ok((tag, protected))
}

/// HLS by GMAC (mechanism 5): the answer `f(challenge)` the holder of `system_title` gives to
/// its partner's `challenge`: security control 0x10, its invocation counter and the GMAC tag
/// of security control, authentication key and challenge.
pub fn gmac_answer(keys: &Keys, system_title: &[u8; 8], invocation_counter: u32, challenge: &[u8]) -> Vec<u8> {
    let gcm = Gcm::new(&keys.encryption.into());
    let iv = nonce(system_title, invocation_counter);
    let mut out = vec![AUTHENTICATED];
    out.extend_from_slice(&invocation_counter.to_be_bytes());
    let mut data = aad(AUTHENTICATED, keys, None);
    data.extend_from_slice(challenge);
    // Encrypting nothing cannot fail: GCM's limits are on the plaintext's length.
    if let Ok(tag) = gcm.encrypt_in_place_detached(Nonce::from_slice(&iv), &data, &mut []) {
        out.extend_from_slice(&tag);
    }
    out
}

/// Whether `answer` is the right [`gmac_answer`] of the holder of `system_title` to
/// `challenge` (compared by GCM's own tag check, in constant time). Returns the counter it
/// used, for the caller's replay check.
pub fn check_gmac_answer(keys: &Keys, system_title: &[u8; 8], challenge: &[u8], answer: &[u8]) -> Option<u32> {
    let mut r = Reader::new(answer);
    if r.u8("security control").ok()? != AUTHENTICATED {
        return None;
    }
    let invocation_counter = r.u32("invocation counter").ok()?;
    let tag = r.take(TAG_LEN, "tag").ok()?;
    r.finish().ok()?;
    let gcm = Gcm::new(&keys.encryption.into());
    let iv = nonce(system_title, invocation_counter);
    let mut data = aad(AUTHENTICATED, keys, None);
    data.extend_from_slice(challenge);
    gcm.decrypt_in_place_detached(Nonce::from_slice(&iv), &data, &mut [], Tag::from_slice(tag))
        .ok()
        .map(|()| invocation_counter)
}
