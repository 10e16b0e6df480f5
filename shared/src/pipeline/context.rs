//! What an operation gets from the pipeline: the authenticated caller and
//! the request ([`Ctx`]), and the Idempotency-Key until it is claimed.

use super::authorize::{JudgedAt, authorize, decide, resource_of};
use super::credentials::Header;
use super::path::{param, percent_decode};
use super::{Query, Reply};
use crate::app::App;
use crate::auth::ApiKeyPrincipal;
use crate::authz;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::external_services::ServicePrincipal;
use crate::idempotency;
use crate::ids::{EndUserId, InvalidId, OrganizationId, RequestId};
use crate::organizations::Organization;
use lambda_http::http::HeaderMap;
use std::sync::Arc;

/// Who the pipeline authenticated.
#[derive(Debug, Clone)]
pub enum Authenticated {
    /// An organization's API key.
    ApiKey(ApiKeyPrincipal),
    /// An end user with an access token.
    EndUser {
        /// The end user.
        user: EndUserId,
        /// Its organization.
        organization: OrganizationId,
        /// The token's generation ([`crate::tokens::AccessClaims::tgen`]).
        generation: u64,
    },
    /// An external service with a service token.
    ExternalService(ServicePrincipal),
}

impl Authenticated {
    /// The organization every key of the request derives from (none for an
    /// external service: it acts across organizations it is related to).
    pub fn organization_id(&self) -> Option<OrganizationId> {
        match self {
            Self::ApiKey(key) => Some(key.organization_id),
            Self::EndUser { organization, .. } => Some(*organization),
            Self::ExternalService(_) => None,
        }
    }

    /// Whose Idempotency-Keys the request's key is among (SPEC §9).
    pub fn idempotency_scope(&self) -> idempotency::Scope {
        match self {
            Self::ApiKey(key) => idempotency::Scope::api_key(key.api_key_id),
            Self::EndUser {
                user, organization, ..
            } => idempotency::Scope::end_user(*organization, *user),
            Self::ExternalService(service) => idempotency::Scope::external_service(service.id),
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
            Self::EndUser {
                user, organization, ..
            } => authz::Principal::EndUser {
                id: *user,
                organization: *organization,
            },
            Self::ExternalService(service) => authz::Principal::ExternalService {
                id: service.id.to_string(),
                scopes: service.scopes.clone(),
            },
        }
    }
}

/// Everything an operation gets from the pipeline.
#[derive(Debug)]
pub struct Ctx {
    /// The warm function's state.
    pub app: Arc<App>,
    /// This request's id.
    pub request_id: RequestId,
    /// The authenticated caller (none on public endpoints).
    pub authenticated: Option<Authenticated>,
    /// The organization acted for (plan, limits, counters), current for this request.
    pub organization: Option<Organization>,
    /// The owner's version as of this request's limiter write, for the
    /// caches an operation reads through ([`crate::freshness`]).
    pub current: Option<crate::freshness::Current>,
    /// The organization's policies, when the pipeline read them for this
    /// request (a function that had them in no cache).
    pub(super) policies: Option<authz::ReadPolicies>,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The query string.
    pub query: Query,
    /// The request's method.
    pub method: String,
    /// The request's path.
    pub path: String,
    /// The caller's address.
    pub source_ip: String,
    pub(super) endpoint: &'static Endpoint,
    /// Path parameters, checked and in template order.
    pub(super) path_params: Vec<(&'static str, String)>,
    /// The request's Idempotency-Key, claimed once the request is authorized.
    pub(super) idempotency: Arc<KeySlot>,
    /// What the endpoint's read-ahead brought, if it ran.
    pub(super) read_ahead: super::read_ahead::Slot,
}

/// A POST's Idempotency-Key between parsing and its claim: the pipeline claims
/// it right after authorization, or — for operations authorized after their
/// body — [`Ctx::authorize_identity`] does, so no refusal from before the
/// operation is ever stored or replayed (SPEC §9).
#[derive(Debug, Default)]
pub(super) struct KeySlot {
    pending: std::sync::Mutex<Option<PendingKey>>,
    claim: std::sync::Mutex<Option<idempotency::Claim>>,
}

/// A key not yet claimed.
#[derive(Debug)]
pub(super) struct PendingKey {
    pub(super) scope: idempotency::Scope,
    pub(super) key: idempotency::IdempotencyKey,
    pub(super) fingerprint: String,
}

impl KeySlot {
    pub(super) fn new(pending: Option<PendingKey>) -> Self {
        Self {
            pending: std::sync::Mutex::new(pending),
            claim: std::sync::Mutex::new(None),
        }
    }

    /// Claims the pending key: the stored response when the same request
    /// already ran, else `None` and the operation runs.
    pub(super) async fn claim(&self, app: &App) -> Result<Option<Reply>, ApiError> {
        let pending = self.pending.lock().ok().and_then(|mut p| p.take());
        let Some(PendingKey {
            scope,
            key,
            fingerprint,
        }) = pending
        else {
            return Ok(None);
        };
        let now = app.clock.now().unix_timestamp();
        let secret = app
            .idempotency
            .as_ref()
            .ok_or_else(|| ApiError::internal("a function taking POSTs has no idempotency key"))?;
        match idempotency::begin(&app.store, secret, &scope, &key, &fingerprint, now).await? {
            idempotency::Begin::Replay(stored) => Ok(Some(Reply::replay(stored))),
            idempotency::Begin::Run(claim) => {
                if let Ok(mut slot) = self.claim.lock() {
                    *slot = Some(claim);
                }
                Ok(None)
            }
        }
    }

    pub(super) fn take_claim(&self) -> Option<idempotency::Claim> {
        self.claim.lock().ok().and_then(|mut c| c.take())
    }
}

impl Ctx {
    /// What the endpoint's read-ahead brought beside the admission, if it
    /// ran and brought a `T`; taken once.
    pub fn read_ahead<T: 'static>(&self) -> Option<T> {
        self.read_ahead.take()
    }

    /// A free-text path parameter, percent-decoded (checked by the pipeline).
    pub fn path_text(&self, name: &'static str) -> Result<String, ApiError> {
        param(&self.path_params, name)
            .and_then(percent_decode)
            .ok_or(ApiError::InvalidPathParameter(name))
    }

    /// Authorizes this endpoint's action on organization `org` with the
    /// policies the operation read for it: for an external service once it
    /// knows the organization (the claim reads them with the connect token).
    pub fn authorize_for_organization(
        &self,
        org: OrganizationId,
        policies: Option<&authz::OrgPolicies>,
    ) -> Result<(), ApiError> {
        let authenticated = self
            .authenticated
            .as_ref()
            .ok_or_else(|| ApiError::internal("authorization needs a credential"))?;
        decide(
            self.endpoint,
            authenticated,
            authz::Resource::Organization(org),
            &self.source_ip,
            None,
            policies,
        )
    }

    /// Decides the endpoint's action again, on the stored object the
    /// operation loaded: `stored` carries the organization read from the item,
    /// not the caller's (SPEC §8), so Cedar's built-in tenant rule is a real
    /// second check behind the keys derived from the caller. The first
    /// decision already applied the organization's policies to the same
    /// principal, action and context; this one asks the built-in rules. A
    /// denial means an item of another organization was loaded — a bug — and
    /// is answered as not found (another tenant's objects are never
    /// disclosed), and logged.
    pub fn check_stored(
        &self,
        stored: authz::Resource,
        resource: &'static str,
    ) -> Result<(), ApiError> {
        let Some(authenticated) = &self.authenticated else {
            return Ok(());
        };
        decide(
            self.endpoint,
            authenticated,
            stored,
            &self.source_ip,
            None,
            None,
        )
        .map_err(|err| {
            tracing::error!(
                error = %err,
                resource,
                "a stored item the caller's keys led to belongs to another organization"
            );
            ApiError::NotFound { resource }
        })
    }

    /// [`Self::check_stored`] for an organization-level object (a provider,
    /// an endpoint, a connect token, a relation) of `organization`.
    pub fn check_stored_in(
        &self,
        organization: OrganizationId,
        resource: &'static str,
    ) -> Result<(), ApiError> {
        self.check_stored(authz::Resource::Organization(organization), resource)
    }

    /// A path parameter that is an id, parsed (the pipeline already checked it).
    pub fn path_id<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Result<T, InvalidId>,
    ) -> Result<T, ApiError> {
        let raw = param(&self.path_params, name);
        raw.and_then(|v| parse(v).ok())
            .ok_or(ApiError::InvalidPathParameter(name))
    }

    /// A request header: absent, sent once, or unusable (sent twice).
    pub fn header(&self, name: &str) -> Header<'_> {
        Header::of(&self.headers, name)
    }

    /// Authorizes this endpoint's action with the identity being linked in
    /// the context: for the actions whose Cedar context needs the body
    /// (`identities.create`, `sso.link`), called right after parsing it.
    /// Then claims the request's Idempotency-Key: `Some(reply)` is the
    /// stored response of the same request, which the operation returns.
    pub async fn authorize_identity(
        &self,
        identity: &authz::IdentityContext,
    ) -> Result<Option<Reply>, ApiError> {
        let authenticated = self
            .authenticated
            .as_ref()
            .ok_or_else(|| ApiError::internal("identity authorization needs a credential"))?;
        let resource = resource_of(self.endpoint, authenticated, &self.path_params);
        let current = self
            .current
            .ok_or_else(|| ApiError::internal("identity authorization needs a version"))?;
        authorize(
            &self.app,
            self.endpoint,
            authenticated,
            resource,
            &self.source_ip,
            Some(identity),
            JudgedAt {
                current,
                policies: self.policies.as_ref(),
            },
        )
        .await?;
        self.idempotency.claim(&self.app).await
    }
}
