//! Values kept encrypted at rest (AES-256-GCM): the idempotent responses that
//! carry a secret, and webhook signing secrets. The sealed text is base64 of
//! nonce ‖ ciphertext ‖ tag, bound to `aad` (the item it lives in), so a
//! sealed value copied into another item does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Why a value could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key is not 32 bytes.
    #[error("an AES-256-GCM key is 32 bytes")]
    Key,
    /// The OS random source or the cipher failed.
    #[error("sealing failed")]
    Seal,
}

/// An AES-256-GCM key from 32 bytes.
pub fn key(bytes: &[u8]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::Key)
}

/// Seals `plain` for the item `aad` names.
pub fn seal(key: &LessSafeKey, aad: &str, plain: &[u8]) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| SealError::Seal)?;
    let mut sealed = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut sealed,
    )
    .map_err(|_| SealError::Seal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(BASE64.encode(out))
}

/// Opens what [`seal`] sealed for `aad`; `None` when the key, the item or
/// the text is not the one it was sealed with.
pub fn open(key: &LessSafeKey, aad: &str, sealed: &str) -> Option<Vec<u8>> {
    let bytes = BASE64.decode(sealed).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut rest = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut rest)
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_item() {
        let k = key(&[7; 32]).unwrap();
        let sealed = seal(&k, "item-a", b"whsec_secret").unwrap();
        assert!(!sealed.contains("whsec"));
        assert_eq!(
            open(&k, "item-a", &sealed).as_deref(),
            Some(&b"whsec_secret"[..])
        );
        assert_eq!(open(&k, "item-b", &sealed), None, "bound to its item");
        assert_eq!(open(&key(&[8; 32]).unwrap(), "item-a", &sealed), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open(&k, "item-a", &String::from_utf8(tampered).unwrap()),
            None
        );
        assert!(key(&[1; 16]).is_err());
    }
}
