//! SSO login (SPEC §17): Tether runs the OpenID Connect authorization-code
//! flow with an organization's identity provider and hands the app a
//! one-time code for the signed-in end user.
//!
//! The flow's state lives in two kinds of items, each keyed by a hash and
//! each holding its secrets sealed ([`crate::sealed`]), so a table reader
//! learns nothing it could replay:
//!
//! - the login **attempt** ([`attempt`]): 10 minutes, single use, bound to
//!   the browser by a cookie, consumed by a conditional delete;
//! - the login **code** ([`code`]): 60 seconds, single use, of one
//!   organization, exchanged by a conditional update that also detects a
//!   reuse (which revokes what the first exchange issued).
//!
//! Every outcome leaves a login record ([`outcome`]) the event stream turns
//! into `sso.login_succeeded` or `sso.login_failed`.

pub mod attempt;
pub mod browser;
pub mod code;
pub mod outcome;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A fresh secret of 256 bits from the OS CSPRNG, base64url without padding
/// (43 characters): state, nonce, PKCE verifier, cookie, code.
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The hex SHA-256 of a secret: how the table keys or compares it.
pub fn hash_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `text` is a PKCE verifier or challenge (RFC 7636 §4.1): 43 to
/// 128 unreserved characters.
pub fn is_pkce_value(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Why a sign-in failed, as the app's `redirect_uri` hears it (SPEC §17)
/// and the `sso.login_failed` event records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The person declined at the provider, or the attempt expired.
    AccessDenied(&'static str),
    /// The provider's id_token failed a check (the reason is recorded, not sent).
    InvalidIdToken(&'static str),
    /// No end user to sign in.
    UserNotFound(&'static str),
    /// The end user's directory suspends it.
    UserSuspended,
    /// The organization's policies deny the sign-in.
    PolicyDenied,
    /// The provider or Tether failed.
    ServerError(&'static str),
    /// The app's `redirect_uri` left the connection during the sign-in: the
    /// browser is not sent back to it at all.
    RedirectUriRemoved,
}

impl Failure {
    /// The `error` the app receives.
    pub fn error(self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "access_denied",
            Self::InvalidIdToken(_) => "invalid_id_token",
            Self::UserNotFound(_) => "user_not_found",
            Self::UserSuspended => "user_suspended",
            Self::PolicyDenied => "policy_denied",
            Self::ServerError(_) | Self::RedirectUriRemoved => "server_error",
        }
    }

    /// The `error_description` the app receives: fixed text, never the
    /// provider's own words (nothing from the request is reflected).
    pub fn description(self) -> &'static str {
        match self {
            Self::AccessDenied("expired") => "the sign-in took longer than 10 minutes",
            Self::AccessDenied(_) => "the sign-in was declined at the identity provider",
            Self::InvalidIdToken(_) => "the identity provider's id_token failed verification",
            Self::UserNotFound(_) => "no end user may sign in with this identity",
            Self::UserSuspended => "the end user is suspended by its directory",
            Self::PolicyDenied => "the organization's policies deny this sign-in",
            Self::ServerError(_) | Self::RedirectUriRemoved => "the sign-in could not be completed",
        }
    }

    /// The reason the `sso.login_failed` event records.
    pub fn reason(self) -> &'static str {
        match self {
            Self::AccessDenied(reason)
            | Self::InvalidIdToken(reason)
            | Self::UserNotFound(reason)
            | Self::ServerError(reason) => reason,
            Self::PolicyDenied => "policy_denied",
            Self::UserSuspended => "user_suspended",
            Self::RedirectUriRemoved => "redirect_uri_removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_distinct() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(is_pkce_value(&a));
    }

    #[test]
    fn the_s256_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_values_are_43_to_128_unreserved_characters() {
        assert!(!is_pkce_value("short"));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
        assert!(is_pkce_value(&"a-._~".repeat(10)));
    }
}
