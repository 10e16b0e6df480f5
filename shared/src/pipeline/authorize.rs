//! One Cedar decision per request: the endpoint's action, on the resource
//! its path names, with the organization's own policies.

use super::context::Authenticated;
use super::path::param;
use crate::app::App;
use crate::authz;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::ids::{EndUserId, OrganizationId};

/// What an endpoint acts on: the end user of its path, the caller itself on
/// the user API, else the organization.
pub(super) fn resource_of(
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    path_params: &[(&'static str, String)],
) -> authz::Resource {
    let param = |name: &str| param(path_params, name);
    match authenticated {
        Authenticated::ExternalService(service) => {
            match param("organizationId").and_then(|v| OrganizationId::parse(v).ok()) {
                Some(org) => authz::Resource::Organization(org),
                None => authz::Resource::ExternalService(service.id.to_string()),
            }
        }
        Authenticated::EndUser {
            user, organization, ..
        } => authz::Resource::EndUser {
            id: *user,
            organization: *organization,
        },
        Authenticated::ApiKey(key) => {
            let organization = key.organization_id;
            match param("user_id").and_then(|v| EndUserId::parse(v).ok()) {
                Some(user) if endpoint.acts_on_end_user() => authz::Resource::EndUser {
                    id: user,
                    organization,
                },
                _ => authz::Resource::Organization(organization),
            }
        }
    }
}

/// What a decision is judged at: the request's version, and the policies
/// the request read itself (current for it whatever that version).
#[derive(Debug, Clone, Copy)]
pub(super) struct JudgedAt<'a> {
    /// The owner's version as of the request's limiter write.
    pub(super) current: crate::freshness::Current,
    /// The organization's policies, when the request read them.
    pub(super) policies: Option<&'a authz::ReadPolicies>,
}

/// One Cedar decision for `endpoint`'s action, with the organization's own policies.
pub(super) async fn authorize(
    app: &App,
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    resource: authz::Resource,
    source_ip: &str,
    identity: Option<&authz::IdentityContext>,
    at: JudgedAt<'_>,
) -> Result<(), ApiError> {
    // The policies of the organization acted on.
    let org = match &resource {
        authz::Resource::Organization(org)
        | authz::Resource::EndUser {
            organization: org, ..
        } => Some(*org),
        authz::Resource::ExternalService(_) => None,
    };
    let policies = match org {
        Some(org) => authz::policies_for(app, org, at.current, at.policies).await?,
        None => None,
    };
    decide(
        endpoint,
        authenticated,
        resource,
        source_ip,
        identity,
        policies.as_deref(),
    )
}

/// A decision taken while the request's limiter write is in flight, with the
/// caller and the policies as this function holds them:
/// its CPU runs during the round trip instead of after it. It stands when the
/// write admits the request at a version no newer than `version` — then the
/// caller and the policies are exactly those the decision after the write
/// would take — and is taken again otherwise.
#[derive(Debug)]
pub(super) struct Foreseen {
    /// The oldest version the caller and the policies were current at.
    version: crate::freshness::Version,
    outcome: Result<(), ApiError>,
}

impl Foreseen {
    /// Whether the decision, as foreseen, admits the request.
    pub(super) fn admits(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The decision, if it holds at `current`.
    pub(super) fn at(self, current: crate::freshness::Current) -> Option<Result<(), ApiError>> {
        (current.version <= self.version).then_some(self.outcome)
    }
}

/// Decides `endpoint`'s action for `authenticated` as cached at `version`,
/// without reading anything: `None` when the policies are not in hand, or
/// the Cedar engine is still being built (a cold start: waiting for it here
/// would hold up the round trip's TLS handshakes on this thread).
pub(super) fn foresee(
    app: &App,
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    path_params: &[(&'static str, String)],
    source_ip: &str,
    version: crate::freshness::Version,
    read: Option<&authz::ReadPolicies>,
) -> Option<Foreseen> {
    if !authz::engine_is_built() {
        return None;
    }
    let resource = resource_of(endpoint, authenticated, path_params);
    let policies = match &resource {
        authz::Resource::Organization(org)
        | authz::Resource::EndUser {
            organization: org, ..
        } => authz::policies_in_hand(app, *org, version, read)?,
        authz::Resource::ExternalService(_) => None,
    };
    let outcome = decide(
        endpoint,
        authenticated,
        resource,
        source_ip,
        None,
        policies.as_deref(),
    );
    // Cached policies came only if current at `version`, hence at any
    // version the write may return that is no newer.
    Some(Foreseen { version, outcome })
}

/// The Cedar decision itself, with the policies already in hand.
pub(super) fn decide(
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    resource: authz::Resource,
    source_ip: &str,
    identity: Option<&authz::IdentityContext>,
    policies: Option<&authz::OrgPolicies>,
) -> Result<(), ApiError> {
    let principal = authenticated.principal();
    let question = authz::Question {
        principal: &principal,
        action: endpoint.action,
        resource,
        source_ip,
        identity,
    };
    authz::engine().authorize(&question, policies)
}
