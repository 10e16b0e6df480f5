//! What every operation gets from the pipeline: the request ([`Ctx`]), and —
//! for an authenticated caller — what its admission was judged by
//! ([`Judged`]), which the operation's own checks reuse.

use super::decision::{JudgedAt, authorize, decide, resource_of};
use super::header::Header;
use super::key_slot::KeySlot;
use super::path::{param, percent_decode};
use super::principal::Authenticated;
use super::query::Query;
use super::reply::Reply;
use crate::app::App;
use crate::authz;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::freshness::Current;
use crate::ids::{InvalidId, OrganizationId, RequestId};
use lambda_http::http::HeaderMap;
use std::sync::Arc;

/// The request, as every operation gets it.
#[derive(Debug)]
pub struct Ctx {
    /// The warm function's state.
    pub app: Arc<App>,
    /// This request's id.
    pub request_id: RequestId,
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
}

impl Ctx {
    /// A free-text path parameter, percent-decoded (checked by the pipeline).
    pub fn path_text(&self, name: &'static str) -> Result<String, ApiError> {
        param(&self.path_params, name)
            .and_then(percent_decode)
            .ok_or(ApiError::InvalidPathParameter(name))
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
}

/// What an authenticated request was judged by: its caller, the owner's
/// version as of its limiter write, the policies it read itself, and its
/// Idempotency-Key.
#[derive(Debug)]
pub struct Judged {
    pub(super) authenticated: Authenticated,
    pub(super) current: Current,
    pub(super) policies: Option<authz::ReadPolicies>,
    pub(super) slot: Arc<KeySlot>,
}

impl Judged {
    /// Decides the endpoint's action again, on the stored object the
    /// operation loaded: `stored` carries the organization read from the
    /// item, not the caller's (SPEC §8), so Cedar's built-in tenant rule is a
    /// real second check behind the keys derived from the caller. The first
    /// decision already applied the organization's policies to the same
    /// principal, action and context; this one asks the built-in rules. A
    /// denial means an item of another organization was loaded — a bug — and
    /// is answered as not found (another tenant's objects are never
    /// disclosed), and logged.
    pub(super) fn check_stored(
        &self,
        ctx: &Ctx,
        stored: authz::Resource,
        resource: &'static str,
    ) -> Result<(), ApiError> {
        decide(
            ctx.endpoint,
            &self.authenticated,
            stored,
            &ctx.source_ip,
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

    /// Decides another action of the endpoint's ([`Endpoint::also_actions`])
    /// as its own is decided: the same principal, resource and policies.
    pub(super) async fn decide_also(
        &self,
        ctx: &Ctx,
        action: &'static str,
    ) -> Result<(), ApiError> {
        let resource = resource_of(ctx.endpoint, &self.authenticated, &ctx.path_params);
        let at = JudgedAt {
            current: self.current,
            policies: self.policies.as_ref(),
        };
        super::decision::authorize_action(
            &ctx.app,
            action,
            &self.authenticated,
            resource,
            &ctx.source_ip,
            None,
            at,
        )
        .await
    }

    /// Decides the endpoint's action on organization `org` with the
    /// policies the operation read for it.
    pub(super) fn decide_on_organization(
        &self,
        ctx: &Ctx,
        org: OrganizationId,
        policies: Option<&authz::OrgPolicies>,
    ) -> Result<(), ApiError> {
        decide(
            ctx.endpoint,
            &self.authenticated,
            authz::Resource::Organization(org),
            &ctx.source_ip,
            None,
            policies,
        )
    }

    /// Decides the endpoint's action with the identity being linked in the
    /// Cedar context, then claims the request's Idempotency-Key: `Some` is
    /// the stored response of the same request.
    pub(super) async fn decide_identity(
        &self,
        ctx: &Ctx,
        identity: &authz::IdentityContext,
    ) -> Result<Option<Reply>, ApiError> {
        let resource = resource_of(ctx.endpoint, &self.authenticated, &ctx.path_params);
        authorize(
            &ctx.app,
            ctx.endpoint,
            &self.authenticated,
            resource,
            &ctx.source_ip,
            Some(identity),
            JudgedAt {
                current: self.current,
                policies: self.policies.as_ref(),
            },
        )
        .await?;
        self.slot.claim(&ctx.app).await
    }
}
