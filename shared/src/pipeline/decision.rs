//! One Cedar decision per request: the endpoint's action, on the resource
//! its path names, with the organization's own policies.

use super::path::param;
use super::principal::Authenticated;
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
        Authenticated::Directory(directory) => {
            authz::Resource::Organization(directory.organization_id)
        }
        Authenticated::Portal(session) => authz::Resource::Organization(session.organization_id),
        Authenticated::EndUser(holder) => authz::Resource::EndUser {
            id: holder.user,
            organization: holder.organization,
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
    authorize_action(
        app,
        endpoint.action,
        authenticated,
        resource,
        source_ip,
        identity,
        at,
    )
    .await
}

/// [`authorize`] for `action`: the endpoint's own, or one it also decides
/// ([`Endpoint::also_actions`]).
pub(super) async fn authorize_action(
    app: &App,
    action: &'static str,
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
    // The end user's groups, when a policy may name them.
    let groups = match (policies.as_deref(), end_user_of(authenticated, &resource)) {
        (Some(policies), Some((org, user))) if policies.names_groups() => {
            crate::groups::store::of_user(&app.store, org, user)
                .await?
                .iter()
                .map(|g| g.id)
                .collect()
        }
        _ => Vec::new(),
    };
    decide_action(
        action,
        authenticated,
        resource,
        source_ip,
        identity,
        policies.as_deref(),
        &groups,
    )
}

/// The end user a decision is about: its principal, else its resource.
pub(super) fn end_user_of(
    authenticated: &Authenticated,
    resource: &authz::Resource,
) -> Option<(OrganizationId, EndUserId)> {
    match (authenticated, resource) {
        (Authenticated::EndUser(holder), _) => Some((holder.organization, holder.user)),
        (
            _,
            authz::Resource::EndUser {
                id, organization, ..
            },
        ) => Some((*organization, *id)),
        _ => None,
    }
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
    decide_action(
        endpoint.action,
        authenticated,
        resource,
        source_ip,
        identity,
        policies,
        &[],
    )
}

/// [`decide`] for `action`.
fn decide_action(
    action: &'static str,
    authenticated: &Authenticated,
    resource: authz::Resource,
    source_ip: &str,
    identity: Option<&authz::IdentityContext>,
    policies: Option<&authz::OrgPolicies>,
    groups: &[crate::ids::GroupId],
) -> Result<(), ApiError> {
    let principal = authenticated.principal();
    let question = authz::Question {
        principal: &principal,
        action,
        resource,
        source_ip,
        identity,
        groups,
    };
    authz::engine().authorize(&question, policies)
}
