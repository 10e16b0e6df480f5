//! Secrets handed to callers (SPEC §2): random (192 bits from the OS CSPRNG),
//! with a readable prefix, shown once, stored only as their SHA-256, never
//! logged (`Debug` is redacted).

use crate::ids::OrganizationId;
use sha2::{Digest, Sha256};
use std::fmt;

/// Random bytes in a secret.
const SECRET_BYTES: usize = 24;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident, $prefix_const:ident, $prefix:literal) => {
        /// The prefix of this kind of secret.
        pub const $prefix_const: &str = $prefix;

        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(", $prefix, "…)"))
            }
        }

        impl $name {
            /// A new random secret.
            pub fn generate() -> Result<Self, getrandom::Error> {
                Ok(Self(format!("{}{}", $prefix, random_hex()?)))
            }

            /// Parses a presented secret: the prefix and exactly 48 lowercase
            /// hex digits. Anything else cannot be one, so it is rejected
            /// without a lookup.
            pub fn parse(s: &str) -> Option<Self> {
                let body = s.strip_prefix($prefix)?;
                is_secret_hex(body).then(|| Self(s.to_owned()))
            }

            /// The secret as shown once to its owner.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// SHA-256 of the secret: the only form stored.
            pub fn hash(&self) -> [u8; 32] {
                Sha256::digest(self.0.as_bytes()).into()
            }
        }
    };
}

/// The prefix of organization API keys.
pub const API_KEY_PREFIX: &str = "tk_";

/// An organization API key: `tk_<48 hex>_<organization id>`, or `tk_<48 hex>`
/// as keys were issued before they named their organization.
///
/// Naming the organization lets a function with nothing cached read the key,
/// its organization, the policies and the limiter bucket in one round trip
/// (docs/performance.md). The random part comes first, so a key's `prefix`
/// (SPEC §5: the first 8 characters after `tk_`) still tells keys apart. As
/// with connect tokens, the id is no secret to the key's holder and cannot
/// be altered: the hash covers the whole text.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret {
    text: String,
    organization: Option<OrganizationId>,
    /// Its SHA-256, taken once: every lookup of the key is by it.
    hash: [u8; 32],
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.organization {
            Some(org) => write!(f, "ApiKeySecret(tk_…_{org})"),
            None => f.write_str("ApiKeySecret(tk_…)"),
        }
    }
}

impl ApiKeySecret {
    /// A new random key of `organization`.
    pub fn generate(organization: OrganizationId) -> Result<Self, getrandom::Error> {
        let text = format!("{API_KEY_PREFIX}{}_{organization}", random_hex()?);
        Ok(Self::new(text, Some(organization)))
    }

    fn new(text: String, organization: Option<OrganizationId>) -> Self {
        let hash = Sha256::digest(text.as_bytes()).into();
        Self {
            text,
            organization,
            hash,
        }
    }

    /// Parses a presented key: the prefix, exactly 48 lowercase hex digits,
    /// and — keys issued since they name it — `_` and the organization's id
    /// as the API renders it (lowercase, hyphenated). Anything else cannot be
    /// one, so it is rejected without a lookup.
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(API_KEY_PREFIX)?;
        let (secret, organization) = match body.split_once('_') {
            None => (body, None),
            Some((secret, named)) => (secret, Some(organization_named(named)?)),
        };
        is_secret_hex(secret).then(|| Self::new(s.to_owned(), organization))
    }

    /// The organization the key names (`None` for a key of the older form).
    pub fn organization(&self) -> Option<OrganizationId> {
        self.organization
    }

    /// The first 8 characters after `tk_`: enough to recognise a key.
    pub fn prefix(&self) -> &str {
        &self.text[API_KEY_PREFIX.len()..][..8]
    }

    /// The key as shown once to its owner.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the whole key: the only form stored.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

secret!(
    /// An external service's token (`tst_...`).
    ServiceToken, SERVICE_TOKEN_PREFIX, "tst_"
);
secret!(
    /// A directory's SCIM bearer token (`scim_...`).
    DirectoryToken, DIRECTORY_TOKEN_PREFIX, "scim_"
);
/// The prefix of connect tokens.
pub const CONNECT_TOKEN_PREFIX: &str = "tct_";

/// A one-time connect token: `tct_<issuing organization's id>_<48 hex>`.
///
/// It names its organization so that the claim can read the token and that
/// organization's policies in one round trip (docs/performance.md). The id is
/// no secret — the claimant learns it from the claim — and it cannot be
/// altered: the hash covers the whole text, so another id finds no token.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectToken {
    text: String,
    organization: OrganizationId,
}

impl fmt::Debug for ConnectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectToken(tct_{}_…)", self.organization)
    }
}

impl ConnectToken {
    /// A new random token issued by `organization`.
    pub fn generate(organization: OrganizationId) -> Result<Self, getrandom::Error> {
        Ok(Self {
            text: format!("{CONNECT_TOKEN_PREFIX}{organization}_{}", random_hex()?),
            organization,
        })
    }

    /// Parses a presented token: the prefix, an organization id as the API
    /// renders it (lowercase, hyphenated), `_`, and 48 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(CONNECT_TOKEN_PREFIX)?;
        let (organization, secret) = body.split_once('_')?;
        let id = organization_named(organization)?;
        is_secret_hex(secret).then(|| Self {
            text: s.to_owned(),
            organization: id,
        })
    }

    /// The organization that issued the token.
    pub fn organization(&self) -> OrganizationId {
        self.organization
    }

    /// The token as shown once to the organization.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the whole token: the only form stored.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }
}

/// The random part of a new secret: 192 bits from the OS, in lowercase hex.
fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The organization a secret names, spelled exactly as the API renders its
/// id (lowercase, hyphenated): one spelling, so one text per secret.
fn organization_named(s: &str) -> Option<OrganizationId> {
    let id = OrganizationId::parse(s).ok()?;
    (id.to_string() == s).then_some(id)
}

/// Exactly the random part of a secret: 48 lowercase hex digits.
fn is_secret_hex(s: &str) -> bool {
    s.len() == SECRET_BYTES * 2
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_hash_stably() {
        let org = OrganizationId::generate();
        let key = ApiKeySecret::generate(org).unwrap();
        assert!(key.expose().starts_with("tk_"));
        assert_eq!(key.expose().len(), 3 + 48 + 1 + 36);
        let parsed = ApiKeySecret::parse(key.expose()).unwrap();
        assert_eq!(parsed.hash(), key.hash());
        assert_eq!(parsed.organization(), Some(org));
        assert_eq!(parsed.prefix(), &key.expose()[3..11]);
        assert!(parsed.prefix().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(ApiKeySecret::generate(org).unwrap().hash(), key.hash());
        let token = ServiceToken::generate().unwrap();
        assert!(
            token.expose().starts_with("tst_") && ServiceToken::parse(token.expose()).is_some()
        );
        assert!(
            ApiKeySecret::parse(token.expose()).is_none(),
            "prefixes do not cross"
        );
        let org = OrganizationId::generate();
        let connect = ConnectToken::generate(org).unwrap();
        assert_eq!(connect.expose().len(), 4 + 36 + 1 + 48);
        assert_eq!(
            ConnectToken::parse(connect.expose())
                .unwrap()
                .organization(),
            org
        );
    }

    #[test]
    fn connect_tokens_name_their_organization_in_exactly_one_spelling() {
        let org = OrganizationId::generate();
        let good = format!("tct_{org}_{}", "ab".repeat(24));
        assert!(ConnectToken::parse(&good).is_some());
        for bad in [
            format!("tct_{}", "ab".repeat(24)),
            format!("tct_{}_{}", org.to_string().to_uppercase(), "ab".repeat(24)),
            format!("tct_{}_{}", org.as_uuid().simple(), "ab".repeat(24)),
            format!("tct_{org}{}", "ab".repeat(24)),
            format!("tct_{org}_{}", "ab".repeat(23)),
            format!("tct_{org}_{}", "AB".repeat(24)),
            format!("tst_{org}_{}", "ab".repeat(24)),
            format!("tct_not-an-id_{}", "ab".repeat(24)),
        ] {
            assert!(ConnectToken::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn malformed_secrets_are_rejected_without_lookup() {
        let good = "tk_".to_owned() + &"ab".repeat(24);
        let older = ApiKeySecret::parse(&good).expect("keys issued before still parse");
        assert_eq!(older.organization(), None);
        assert_eq!(older.prefix(), "abababab");
        let org = OrganizationId::generate();
        let named = format!("{good}_{org}");
        assert_eq!(
            ApiKeySecret::parse(&named).unwrap().organization(),
            Some(org)
        );
        for bad in [
            "",
            "tk_",
            &good[3..],
            &good.to_uppercase(),
            &format!("{good}0"),
            &good.replace("ab", "zz"),
            &format!("tst_{}", &good[3..]),
            &format!("{good}_"),
            &format!("{good}_{}", org.to_string().to_uppercase()),
            &format!("{good}_{}", org.as_uuid().simple()),
            &format!("{good}_{org}_"),
            &format!("{good}{org}"),
            &format!("tk_{org}_{}", "ab".repeat(24)),
            &format!("tk_{}_{org}", "ab".repeat(23)),
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let org = OrganizationId::generate();
        let api_key = ApiKeySecret::generate(org).unwrap();
        let shown = format!("{api_key:?}");
        assert!(!shown.contains(&api_key.expose()[3..51]), "{shown}");
        assert!(shown.contains(&org.to_string()));
        let key = ConnectToken::generate(OrganizationId::generate()).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[41..]), "{shown}");
        assert!(shown.contains("tct_"));
    }
}
