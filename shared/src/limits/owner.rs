//! Who a request is charged to, and where its bucket lives.

use crate::ids::OrganizationId;

/// Who a request is charged to (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An organization: API-key and user-token requests.
    Organization(OrganizationId),
    /// An external service (service-token requests; no turns).
    ExternalService(crate::ids::ExternalServiceId),
    /// A request without valid credentials, or to a public endpoint.
    SourceIp(String),
}

impl Owner {
    /// Whether the owner's limits and credentials can change (organizations,
    /// services): its refusals are always decided by a write, which returns
    /// its current version. A source IP's limits are configuration, so a
    /// function may refuse it from memory without a write.
    pub(super) fn versioned(&self) -> bool {
        !matches!(self, Self::SourceIp(_))
    }

    /// The bucket's partition key (shard 0), which also names the owner's
    /// version in [`crate::freshness::Versions`].
    pub fn partition_key(&self) -> String {
        match self {
            Self::Organization(id) => format!("LIMIT#ORG#{id}"),
            Self::ExternalService(id) => format!("LIMIT#SVC#{id}"),
            Self::SourceIp(ip) => format!("LIMIT#IP#{ip}"),
        }
    }
}
