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

/// A deployment key ring as configured: the base64 of one or more 32-byte
/// keys separated by commas or whitespace, the one in use first. `None`
/// when it holds none, or anything that is not such a key.
pub fn key_list(text: &str) -> Option<Vec<[u8; 32]>> {
    let keys = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| {
            BASE64
                .decode(part)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        })
        .collect::<Option<Vec<_>>>()?;
    (!keys.is_empty()).then_some(keys)
}

/// The keys one kind of sealed value is kept under: the current one seals,
/// every one opens. A rotation puts a new key first and keeps the old ones
/// until everything sealed with them is sealed again (`tetherctl
/// webhook-endpoint reseal`).
pub struct Keyring {
    current: LessSafeKey,
    older: Vec<LessSafeKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("older", &self.older.len())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A ring of one key.
    pub fn single(key: LessSafeKey) -> Self {
        Self {
            current: key,
            older: Vec::new(),
        }
    }

    /// Parses the base64 of one or more 32-byte keys separated by commas or
    /// whitespace, the sealing key first.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut keys = key_list(text).ok_or(SealError::Key)?.into_iter();
        let current = key(&keys.next().ok_or(SealError::Key)?)?;
        let older = keys.map(|k| key(&k)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { current, older })
    }

    /// Seals `plain` for the item `aad` under the current key.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<String, SealError> {
        seal(&self.current, aad, plain)
    }

    /// Opens `sealed` with whichever key of the ring sealed it.
    pub fn open(&self, aad: &str, sealed: &str) -> Option<Vec<u8>> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find_map(|k| open(k, aad, sealed))
    }

    /// Whether `sealed` is sealed under the current key.
    pub fn is_current(&self, aad: &str, sealed: &str) -> bool {
        open(&self.current, aad, sealed).is_some()
    }
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

    #[test]
    fn a_ring_seals_with_its_first_key_and_opens_with_any() {
        let (old, new) = (BASE64.encode([1u8; 32]), BASE64.encode([2u8; 32]));
        let before = Keyring::parse(&old).unwrap();
        let sealed_before = before.seal("item", b"s").unwrap();
        let rotated = Keyring::parse(&format!("{new}, {old}")).unwrap();
        assert_eq!(
            rotated.open("item", &sealed_before).as_deref(),
            Some(&b"s"[..])
        );
        assert!(!rotated.is_current("item", &sealed_before));
        let sealed_after = rotated.seal("item", b"s").unwrap();
        assert!(rotated.is_current("item", &sealed_after));
        assert_eq!(
            before.open("item", &sealed_after),
            None,
            "the old ring lacks the new key"
        );
        let after = Keyring::parse(&new).unwrap();
        assert_eq!(
            after.open("item", &sealed_before),
            None,
            "the old key retired"
        );
        assert_eq!(
            after.open("item", &sealed_after).as_deref(),
            Some(&b"s"[..])
        );
        for bad in ["", " , ", "c2hvcnQ=", &format!("{new},not base64")] {
            assert!(Keyring::parse(bad).is_err(), "{bad:?}");
        }
    }
}
