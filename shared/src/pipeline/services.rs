//! An external service's admission (SPEC §11): its token, its path's
//! service, its scope and its own bucket — the organization it acts on
//! judged by what the request reads, never by a cache.

use super::Trace;
use super::authorize::{decide, resource_of};
use super::context::Authenticated;
use super::credentials::{Admitted, refuse_ended};
use super::path::param;
use super::reply::Reply;
use super::speculation::Speculated;
use crate::app::App;
use crate::auth;
use crate::authz;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::external_services;
use crate::freshness::Current;
use crate::ids::ExternalServiceId;

/// An external service's request: SPEC §11's order — token (401), its
/// service (403), scope (403), rate limit. An operation on one organization
/// is judged by that organization's record and policies read in one
/// `BatchGetItem` while the service's limiter write is in flight: the
/// service's bucket carries no organization's version, so nothing of the
/// organization is taken from a cache.
/// A read of the service's own (its organizations) runs beside that write
/// when the token is cached, kept if the service's version is no
/// newer; its scope is decided during that write too.
pub(super) async fn admit_service<S, Fut>(
    app: &App,
    endpoint: &Endpoint,
    checked: external_services::CheckedService,
    path_params: &[(&'static str, String)],
    source_ip: &str,
    trace: &mut Trace,
    speculate: Option<(S, crate::freshness::Mark)>,
) -> Result<(Admitted, Option<Speculated>), ApiError>
where
    S: FnOnce(Admitted) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, ApiError>>,
{
    let service_id = checked.principal.id;
    trace.caller.credential_id = Some(format!("service:{service_id}"));
    let path_service = param(path_params, "externalServiceId");
    if path_service.and_then(|v| ExternalServiceId::parse(v).ok()) != Some(service_id) {
        return Err(ApiError::ExternalServiceAccessDenied);
    }
    let authenticated = Authenticated::ExternalService(checked.principal.clone());
    let resource = resource_of(endpoint, &authenticated, path_params);
    let (organization, charged) = match resource {
        authz::Resource::Organization(org) => {
            let (state, charged) = tokio::join!(
                authz::organization_with_policies(app, org),
                trace.metering.charge_external_service(app, service_id)
            );
            let (organization, policies) = state?;
            let organization = organization.ok_or(ApiError::OrganizationAccessDenied)?;
            decide(
                endpoint,
                &authenticated,
                resource,
                source_ip,
                None,
                policies.as_deref(),
            )?;
            (Some(organization), charged)
        }
        _ => {
            let owner = crate::limits::Owner::ExternalService(service_id);
            let policy = crate::limits::EXTERNAL_SERVICE_POLICY;
            let exhausted = app.limiter.looks_exhausted(&owner, policy, app.clock.now());
            let guess = speculate
                .filter(|_| !exhausted)
                .and_then(|(operation, mark)| {
                    let version = checked.cached_at?;
                    let provisional = Admitted {
                        authenticated: Some(authenticated.clone()),
                        organization: None,
                        current: Some(Current { version, mark }),
                        policies: None,
                    };
                    Some((version, Box::pin(operation(provisional))))
                });
            // The scope is decided while the write is out (its CPU overlaps
            // the round trip) and answered first: SPEC §11 puts scope (403)
            // before rate limit (429); the request is charged either way, as
            // every authenticated request is (SPEC §6). The read beside the
            // write starts only once the scope admits it (SPEC §4).
            let scope_then_read = async {
                tokio::task::yield_now().await;
                let scope = decide(endpoint, &authenticated, resource, source_ip, None, None);
                let speculated = match guess {
                    Some(guess) if scope.is_ok() => super::speculation::run(Some(guess)).await,
                    _ => None,
                };
                (speculated, scope)
            };
            let (charged, (speculated, scope)) = tokio::join!(
                trace.metering.charge_external_service(app, service_id),
                scope_then_read
            );
            scope?;
            let version = charged?;
            if let Some(guess) = speculated.filter(|guess| version <= guess.version) {
                let admitted = Admitted {
                    authenticated: Some(authenticated),
                    organization: None,
                    current: Some(Current {
                        version,
                        mark: app.versions.mark(),
                    }),
                    policies: None,
                };
                return Ok((admitted, Some(guess)));
            }
            (None, Ok(version))
        }
    };
    let version = charged?;
    let current = Current {
        version,
        mark: app.versions.mark(),
    };
    let mut principal = checked.principal;
    if checked.cached_at.is_some_and(|stamp| stamp < version) {
        // The service changed since this function cached its token: read it again.
        let now = app.clock.now();
        let record = auth::read(
            &app.store,
            &app.service_tokens,
            &app.versions,
            current.mark,
            checked.hash,
        )
        .await?
        .filter(|r| !auth::HashedCredential::ended(r, now));
        let Some(record) = record else {
            return Err(refuse_ended(app, source_ip, trace).await);
        };
        principal.scopes = record.scopes;
    }
    let admitted = Admitted {
        authenticated: Some(Authenticated::ExternalService(principal)),
        organization,
        current: Some(current),
        policies: None,
    };
    Ok((admitted, None))
}
