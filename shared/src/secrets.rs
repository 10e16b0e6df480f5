//! Secrets handed to callers (SPEC §2): random (192 bits from the OS CSPRNG),
//! with a readable prefix, shown once, stored only as their SHA-256, never
//! logged (`Debug` is redacted).

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
                let mut bytes = [0u8; SECRET_BYTES];
                getrandom::fill(&mut bytes)?;
                Ok(Self(format!("{}{}", $prefix, hex::encode(bytes))))
            }

            /// Parses a presented secret: the prefix and exactly 48 lowercase
            /// hex digits. Anything else cannot be one, so it is rejected
            /// without a lookup.
            pub fn parse(s: &str) -> Option<Self> {
                let body = s.strip_prefix($prefix)?;
                let well_formed = body.len() == SECRET_BYTES * 2
                    && body.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                well_formed.then(|| Self(s.to_owned()))
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

secret!(
    /// An organization API key (`tk_...`).
    ApiKeySecret, API_KEY_PREFIX, "tk_"
);
secret!(
    /// An external service's token (`tst_...`).
    ServiceToken, SERVICE_TOKEN_PREFIX, "tst_"
);
secret!(
    /// A one-time connect token (`tct_...`).
    ConnectToken, CONNECT_TOKEN_PREFIX, "tct_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_hash_stably() {
        let key = ApiKeySecret::generate().unwrap();
        assert!(key.expose().starts_with("tk_"));
        assert_eq!(key.expose().len(), 3 + 48);
        assert_eq!(
            ApiKeySecret::parse(key.expose()).unwrap().hash(),
            key.hash()
        );
        assert_ne!(ApiKeySecret::generate().unwrap().hash(), key.hash());
        let token = ServiceToken::generate().unwrap();
        assert!(
            token.expose().starts_with("tst_") && ServiceToken::parse(token.expose()).is_some()
        );
        assert!(
            ApiKeySecret::parse(token.expose()).is_none(),
            "prefixes do not cross"
        );
        assert!(ConnectToken::parse(ConnectToken::generate().unwrap().expose()).is_some());
    }

    #[test]
    fn malformed_secrets_are_rejected_without_lookup() {
        let good = "tk_".to_owned() + &"ab".repeat(24);
        assert!(ApiKeySecret::parse(&good).is_some());
        for bad in [
            "",
            "tk_",
            &good[3..],
            &good.to_uppercase(),
            &format!("{good}0"),
            &good.replace("ab", "zz"),
            &format!("tst_{}", &good[3..]),
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let key = ConnectToken::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[4..]), "{shown}");
        assert!(shown.contains("tct_"));
    }
}
