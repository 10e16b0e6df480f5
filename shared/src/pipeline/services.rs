//! External services' tokens (SPEC §11): the token, its path's service, its
//! scope and its own bucket — the organization it acts on judged by what the
//! request reads, never by a cache.

use super::admission::{Admission, Incoming};
use super::decision::{decide, resource_of};
use super::header::bearer;
use super::learned::Learned;
use super::overlap::{Speculated, Speculation};
use super::path::param;
use super::principal::Authenticated;
use crate::app::{App, Needs};
use crate::auth;
use crate::authz;
use crate::endpoint::Credential;
use crate::error::ApiError;
use crate::external_services::{self, ServicePrincipal};
use crate::freshness::Current;
use crate::ids::ExternalServiceId;
use crate::organizations::Organization;
use std::sync::atomic::Ordering;

/// Service tokens (`Authorization: Bearer tst_...`): the external-service
/// API's callers.
#[derive(Debug, Clone, Copy)]
pub struct ServiceTokens;

/// An external service's request as admitted.
#[derive(Debug)]
pub struct ServiceAdmitted {
    pub(super) principal: ServicePrincipal,
    /// The organization its path names, read by this request.
    pub(super) organization: Option<Organization>,
    pub(super) current: Current,
}

impl Admission for ServiceTokens {
    const CREDENTIAL: Credential = Credential::ServiceToken;
    const NEEDS: Needs = Needs::NONE;
    type Admitted = ServiceAdmitted;

    fn keep(_: &App) -> Option<Self> {
        Some(Self)
    }

    fn authenticated(admitted: &ServiceAdmitted) -> Option<Authenticated> {
        Some(Authenticated::ExternalService(admitted.principal.clone()))
    }

    async fn admit(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
        speculate: Option<Speculation<Self::Admitted>>,
    ) -> Result<(ServiceAdmitted, Option<Speculated>), ApiError> {
        let app = request.app;
        let mark = app.versions.mark();
        let identified = external_services::authenticate(app, mark, bearer(request.headers)).await;
        if identified.is_ok() {
            learned.verified.store(true, Ordering::Relaxed);
        }
        let checked = learned
            .metering
            .charge_unverified(app, identified, request.source_ip)
            .await?;
        let speculate = speculate.map(|operation| (operation, mark));
        admit_service(request, checked, learned, speculate).await
    }

    async fn charge_malformed(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
    ) -> Result<(), ApiError> {
        let app = request.app;
        let mark = app.versions.mark();
        let identified = external_services::authenticate(app, mark, bearer(request.headers)).await;
        match learned
            .metering
            .charge_unverified(app, identified, request.source_ip)
            .await
        {
            Ok(service) => learned
                .metering
                .charge_external_service(app, service.principal.id)
                .await
                .map(drop),
            // Already charged to the source IP; the path's 400 is the answer.
            Err(err) if err.is_credential_failure() => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// An external service's request: SPEC §11's order — token (401), its
/// service (403), scope (403), rate limit. An operation on one organization
/// is judged by that organization's record and policies read in one
/// `BatchGetItem` while the service's limiter write is in flight: the
/// service's bucket carries no organization's version, so nothing of the
/// organization is taken from a cache.
/// A read of the service's own (its organizations) runs beside that write
/// when the token is cached, kept if the service's version is no
/// newer; its scope is decided during that write too.
async fn admit_service(
    request: Incoming<'_>,
    checked: external_services::CheckedService,
    learned: &mut Learned,
    speculate: Option<(Speculation<ServiceAdmitted>, crate::freshness::Mark)>,
) -> Result<(ServiceAdmitted, Option<Speculated>), ApiError> {
    let Incoming {
        app,
        endpoint,
        path_params,
        source_ip,
        ..
    } = request;
    let service_id = checked.principal.id;
    learned.caller.credential_id = Some(format!("service:{service_id}"));
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
                learned.metering.charge_external_service(app, service_id)
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
                    let provisional = ServiceAdmitted {
                        principal: checked.principal.clone(),
                        organization: None,
                        current: Current { version, mark },
                    };
                    Some((version, operation(provisional)))
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
                    Some(guess) if scope.is_ok() => super::overlap::run(Some(guess)).await,
                    _ => None,
                };
                (speculated, scope)
            };
            let (charged, (speculated, scope)) = tokio::join!(
                learned.metering.charge_external_service(app, service_id),
                scope_then_read
            );
            scope?;
            let version = charged?;
            if let Some(guess) = speculated.filter(|guess| version <= guess.version) {
                let admitted = ServiceAdmitted {
                    principal: checked.principal,
                    organization: None,
                    current: Current {
                        version,
                        mark: app.versions.mark(),
                    },
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
            return Err(learned.metering.refuse_ended(app, source_ip).await);
        };
        principal.scopes = record.scopes;
    }
    let admitted = ServiceAdmitted {
        principal,
        organization,
        current,
    };
    Ok((admitted, None))
}
