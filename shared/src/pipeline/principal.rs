//! Who the pipeline authenticated, as the decision, the Idempotency-Key's
//! scope and the writes' actor see it.

use crate::auth::ApiKeyPrincipal;
use crate::authz;
use crate::directories::DirectoryPrincipal;
use crate::external_services::ServicePrincipal;
use crate::idempotency;
use crate::ids::{EndUserId, OrganizationId, RequestId};
use crate::portal::PortalPrincipal;
use crate::store::actor::Actor;

/// Who the pipeline authenticated.
#[derive(Debug, Clone)]
pub enum Authenticated {
    /// An organization's API key.
    ApiKey(ApiKeyPrincipal),
    /// An end user with an access token.
    EndUser(TokenHolder),
    /// An external service with a service token.
    ExternalService(ServicePrincipal),
    /// A directory's SCIM client with the directory's token.
    Directory(DirectoryPrincipal),
    /// An IT admin's browser with a portal session.
    Portal(PortalPrincipal),
}

/// An end user as its access token names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHolder {
    /// The end user.
    pub user: EndUserId,
    /// Its organization.
    pub organization: OrganizationId,
    /// The token's generation ([`crate::tokens::AccessClaims::tgen`]).
    pub generation: u64,
}

impl Authenticated {
    /// Whose Idempotency-Keys the request's key is among (SPEC §9).
    pub fn idempotency_scope(&self) -> idempotency::Scope {
        match self {
            Self::ApiKey(key) => idempotency::Scope::api_key(key.api_key_id),
            Self::EndUser(holder) => idempotency::Scope::end_user(holder.organization, holder.user),
            Self::ExternalService(service) => idempotency::Scope::external_service(service.id),
            Self::Directory(directory) => idempotency::Scope::directory(directory.directory_id),
            Self::Portal(session) => idempotency::Scope::portal_session(session.id),
        }
    }

    /// As a Cedar principal.
    pub fn principal(&self) -> authz::Principal {
        match self {
            Self::ApiKey(key) => authz::Principal::ApiKey {
                id: key.api_key_id.to_string(),
                organization: key.organization_id,
                scope: key.scope,
            },
            Self::EndUser(holder) => authz::Principal::EndUser {
                id: holder.user,
                organization: holder.organization,
            },
            Self::ExternalService(service) => authz::Principal::ExternalService {
                id: service.id.to_string(),
                scopes: service.scopes.clone(),
            },
            Self::Directory(directory) => authz::Principal::Directory {
                id: directory.directory_id.to_string(),
                organization: directory.organization_id,
            },
            Self::Portal(session) => authz::Principal::PortalSession {
                id: session.id.to_string(),
                organization: session.organization_id,
                views: session.intent.views().iter().map(|v| v.name()).collect(),
            },
        }
    }

    /// The actor stamped on the operation's writes (SPEC §15).
    pub(super) fn actor(&self, request_id: RequestId) -> Actor {
        let (kind, id) = match self {
            Self::ApiKey(key) => ("api_key", key.api_key_id.to_string()),
            Self::EndUser(holder) => ("end_user", holder.user.to_string()),
            Self::ExternalService(service) => ("external_service", service.id.to_string()),
            Self::Directory(directory) => ("directory", directory.directory_id.to_string()),
            Self::Portal(session) => ("portal_session", session.id.to_string()),
        };
        Actor {
            kind,
            id,
            request: request_id.to_string(),
        }
    }
}
