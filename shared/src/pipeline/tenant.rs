//! The organization a request acts for: read (from the warm cache, or — a
//! cold function — with its policies in one `BatchGetItem`) and charged
//! under its plan.

use super::Trace;
use super::metering::Charged;
use crate::app::App;
use crate::authz::{self, ReadPolicies};
use crate::error::ApiError;
use crate::freshness::{Current, Fetched, Mark};
use crate::ids::OrganizationId;
use crate::limits::Owner;
use crate::organizations::{self, Organization};

/// The organization of an authenticated caller, from the warm cache or the
/// table (strongly consistent; cached stamped with the version known before
/// the read). Read from the table, it comes with its policies and its
/// limiter bucket in the same `BatchGetItem`: the request's decision needs
/// the policies, which a function without the organization cached has no
/// current copy of either (one round trip where there were two). A caller
/// whose organization is gone has no valid credential.
pub(super) async fn load_organization(
    app: &App,
    id: OrganizationId,
) -> Result<(Fetched<Organization>, Option<ReadPolicies>), ApiError> {
    if let Some((stamp, org)) = app.orgs.get(&id) {
        let cached = Fetched {
            value: org,
            cached_at: Some(stamp),
        };
        return Ok((cached, None));
    }
    // Its limiter bucket comes in the same batch: the limiter's write has four
    // forms (idle or draining, same or new period) and a function that has
    // not seen the bucket would otherwise guess, and guess wrong whenever
    // the organization is busy — when cold starts happen.
    let bucket = Owner::Organization(id).partition_key();
    let (org, policies, state) = authz::organization_with_policies_and(
        app,
        id,
        Some((bucket.clone(), crate::limits::LIMIT_SK.to_owned())),
    )
    .await?;
    app.limiter.remember(&bucket, state.as_ref());
    let read = Fetched {
        value: org.ok_or(ApiError::InvalidCredentials)?,
        cached_at: None,
    };
    let policies = ReadPolicies {
        organization: id,
        policies,
    };
    Ok((read, Some(policies)))
}

/// Reads an organization from the table and caches it.
async fn read_organization(
    app: &App,
    id: OrganizationId,
    mark: Mark,
) -> Result<Organization, ApiError> {
    let org = organizations::get_organization(&app.store, id).await?;
    let org = crate::relationships::counted(&app.store, org)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    let owner = Owner::Organization(id).partition_key();
    app.orgs
        .put(id, app.versions.known_before(&owner, mark), org.clone());
    Ok(org)
}

/// Charges an organization's request under its plan as this function read
/// it. The limiter's write is conditioned on the organization's version the
/// record was read at: when the organization changed since (a plan, a key,
/// policies), nothing is counted, the record is read anew and the request
/// charged under the plan it has now — one extra read and write, once per
/// change and warm function. Returns the record and the request's version.
pub(super) async fn charge_organization(
    app: &App,
    organization: Fetched<Organization>,
    trace: &mut Trace,
) -> Result<(Organization, Current), ApiError> {
    let mut organization = organization;
    loop {
        let charged = trace
            .metering
            .charge_organization(app, &organization.value, organization.cached_at)
            .await?;
        match charged {
            Charged::Admitted(version) => {
                let current = Current {
                    version,
                    mark: app.versions.mark(),
                };
                return Ok((organization.value, current));
            }
            Charged::Outdated if organization.cached_at.is_some() => {
                let id = organization.value.id;
                organization = Fetched {
                    value: read_organization(app, id, app.versions.mark()).await?,
                    cached_at: None,
                };
            }
            Charged::Outdated => return Err(ApiError::internal("a fresh record was outdated")),
        }
    }
}
