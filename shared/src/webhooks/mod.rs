//! Webhook deliveries (SPEC §15) follow the **Standard Webhooks**
//! specification, so any of its libraries verifies them: headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature`, the signature
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under the
//! endpoint's secret `whsec_<base64 key>` — two of them, space-separated,
//! while a rolled secret's predecessor still signs.
//!
//! The secret is the one secret Tether must be able to use, so it is stored
//! sealed ([`crate::sealed`]) under the deployment's webhook key, never in
//! plaintext and never only hashed: a reader of the table cannot sign.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::fmt;

/// The prefix of a webhook signing secret (SPEC §2).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a signing key (256 bits).
const KEY_BYTES: usize = 32;

/// An endpoint's signing secret, `whsec_<base64 key>`. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = vec![0u8; KEY_BYTES];
        getrandom::fill(&mut key)?;
        Ok(Self(key))
    }

    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Option<Self> {
        let key = BASE64.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?;
        (key.len() >= 24).then_some(Self(key))
    }

    /// The text shown once to the endpoint's owner.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The `v1,…` signature of a delivery.
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut context = hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", BASE64.encode(context.sign().as_ref()))
    }
}

/// The Standard Webhooks headers of a delivery: the message id (the event's,
/// the same on every attempt), the attempt's timestamp, and one signature
/// per secret that signs (the current one, and a rolled one's predecessor
/// during its overlap).
pub fn headers(
    secrets: &[&SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect();
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks reference library (not ours) verifies.
    fn verifies(secret: &SigningSecret, headers: &[(&'static str, String)], body: &[u8]) -> bool {
        let verifier = standardwebhooks::Webhook::new(&secret.expose()).expect("a whsec_ secret");
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        verifier.verify(body, &map).is_ok()
    }

    #[test]
    fn the_reference_library_verifies_our_deliveries() {
        let secret = SigningSecret::generate().unwrap();
        let body = br#"{"id":"evt_1","type":"end_user.created"}"#;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = headers(&[&secret], "evt_1", now, body);
        assert!(verifies(&secret, &signed, body));
        assert!(!verifies(&secret, &signed, b"{}"), "another body");
        let other = SigningSecret::generate().unwrap();
        assert!(!verifies(&other, &signed, body), "another secret");
    }

    #[test]
    fn during_a_roll_both_secrets_sign() {
        let (old, new) = (
            SigningSecret::generate().unwrap(),
            SigningSecret::generate().unwrap(),
        );
        let body = b"{}";
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = headers(&[&new, &old], "evt_2", now, body);
        assert_eq!(signed[2].1.split(' ').count(), 2);
        assert!(verifies(&new, &signed, body));
        assert!(verifies(&old, &signed, body));
    }

    #[test]
    fn secrets_round_trip_and_never_show_in_debug() {
        let secret = SigningSecret::generate().unwrap();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text), Some(secret.clone()));
        assert_eq!(format!("{secret:?}"), "SigningSecret(whsec_…)");
        assert_eq!(SigningSecret::parse("whsec_short"), None);
        assert_eq!(SigningSecret::parse("tk_abc"), None);
    }
}
