//! Identifiers (SPEC §2): resource ids are UUID v7, rendered lowercase and
//! hyphenated and accepted in any letter case; request ids are ULIDs.

use std::fmt;
use uuid::Uuid;

/// A string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID")]
#[non_exhaustive]
pub struct InvalidId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7).
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses a UUID in any letter case, hyphenated (the only form the API renders).
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                // `Uuid::try_parse` also takes braced, URN and simple forms; an id
                // has exactly one spelling on the wire, modulo case.
                if s.len() != 36 {
                    return Err(InvalidId);
                }
                Uuid::try_parse(s).map(Self).map_err(|_| InvalidId)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// An organization (tenant).
    OrganizationId
);
uuid_id!(
    /// An end user of an organization.
    EndUserId
);
uuid_id!(
    /// An API key (its public id, not the secret).
    ApiKeyId
);
uuid_id!(
    /// An identity provider of an organization.
    IdentityProviderId
);
uuid_id!(
    /// An external identity linked to an end user.
    IdentityId
);
uuid_id!(
    /// An external service (partner integration).
    ExternalServiceId
);
uuid_id!(
    /// A one-time connect token (its public id, not the secret).
    ConnectTokenId
);
uuid_id!(
    /// A relation between an external service and an organization.
    RelationId
);
uuid_id!(
    /// A webhook endpoint of an organization.
    WebhookEndpointId
);
uuid_id!(
    /// A directory of an organization: one SCIM client's view of its people.
    DirectoryId
);
uuid_id!(
    /// A group of an organization's end users, as a directory provisions it.
    GroupId
);
uuid_id!(
    /// One delivery of one event to one webhook endpoint.
    WebhookDeliveryId
);
uuid_id!(
    /// An admin-portal link, and the session it opens (one id for both).
    PortalLinkId
);

impl WebhookDeliveryId {
    /// The delivery of an event to an endpoint: a UUID v7 of the event's
    /// time whose random bits come from `seed` (the event and the endpoint),
    /// so a redelivered stream record names the same delivery again.
    pub fn derived(unix_millis: u64, seed: &[u8]) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(seed);
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
    }
}

/// The id of one request: a ULID, stamped on the response and every log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(ulid::Ulid);

impl RequestId {
    /// A new request id.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_in_any_case_and_render_lowercase() {
        let id = EndUserId::parse("0192F0C5-7B7A-7C3E-9A4B-1D2E3F405162").unwrap();
        assert_eq!(id.to_string(), "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162");
        assert_eq!(EndUserId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn only_the_hyphenated_form_is_an_id() {
        for bad in [
            "",
            "abc",
            "0192f0c57b7a7c3e9a4b1d2e3f405162",
            "{0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162}",
            "urn:uuid:0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162",
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f40516g",
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f40516\u{0}",
        ] {
            assert_eq!(EndUserId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_v7_and_ordered() {
        let a = OrganizationId::generate();
        let b = OrganizationId::generate();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn request_ids_are_26_char_ulids() {
        let id = RequestId::generate().to_string();
        assert_eq!(id.len(), 26);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
