//! The organization a request acts for: read (from the warm cache, or — a
//! cold function — with its policies in one `BatchGetItem`) and charged
//! under its plan.

use super::learned::Learned;
use crate::app::App;
use crate::auth;
use crate::authz::{self, ReadPolicies};
use crate::error::ApiError;
use crate::freshness::{Current, Fetched, Mark};
use crate::ids::OrganizationId;
use crate::limits::{CachedAt, Changed, Owner, Unconditioned};
use crate::organizations::{self, Organization};
use crate::store;

/// The organization of an authenticated caller, from the warm cache or the
/// table (strongly consistent; cached stamped with the version known before
/// the read). Read from the table, it comes with its policies and its
/// limiter bucket in the same `BatchGetItem`: the request's decision needs
/// the policies, which a function without the organization cached has no
/// current copy of either (one round trip where there were two). A caller
/// whose organization is gone has no valid credential.
pub(super) async fn load_organization(app: &App, id: OrganizationId) -> Result<Loaded, ApiError> {
    if let Some((stamp, org)) = app.orgs.get(&id) {
        let cached = Fetched {
            value: org,
            cached_at: Some(stamp),
        };
        return Ok((cached, None));
    }
    let (loaded, _) = read_organization_and(app, id, None).await?;
    Ok(loaded)
}

/// An organization as a request acts for it, and its policies when the
/// request read them itself.
pub(super) type Loaded = (Fetched<Organization>, Option<ReadPolicies>);

/// An API key that names its organization, presented to a function that has
/// neither the key nor the organization cached: the key's record comes in
/// the organization's `BatchGetItem` — one round trip where the key's
/// lookup, then the organization's batch, made two. `None` when that is not
/// the case (the caller looks the key up on its own).
pub(super) async fn key_with_organization(
    app: &App,
    secret: &auth::ApiKeySecret,
    tenant: Option<&str>,
    mark: Mark,
) -> Option<Result<(auth::CheckedKey, Loaded), ApiError>> {
    let id = secret.organization()?;
    let hash = secret.hash();
    if app.keys.holds(&hash) || app.orgs.holds(&id) {
        return None;
    }
    let read = async {
        let key = <auth::ApiKeyRecord as auth::HashedCredential>::key(&hash);
        let (loaded, record) = read_organization_and(app, id, Some(key)).await?;
        let record = record.map(store::from_item).transpose()?;
        let now = app.clock.now();
        let fetched = auth::found(&app.keys, &app.versions, mark, hash, record, now);
        Ok((auth::checked_key(secret, fetched, tenant)?, loaded))
    };
    Some(read.await)
}

/// Reads an organization, its policies, its limiter bucket and `also` in one
/// `BatchGetItem` (strongly consistent). The bucket is in it because the
/// limiter's write has four forms (idle or draining, same or new period) and
/// a function that has not seen the bucket would otherwise guess, and guess
/// wrong whenever the organization is busy — when cold starts happen.
async fn read_organization_and(
    app: &App,
    id: OrganizationId,
    also: Option<store::Key>,
) -> Result<(Loaded, Option<store::Item>), ApiError> {
    let bucket = Owner::Organization(id).partition_key();
    let bucket_key = (bucket.clone(), crate::limits::LIMIT_SK.to_owned());
    let (org, policies, [state, also]) =
        authz::organization_with_policies_and(app, id, [Some(bucket_key), also]).await?;
    app.limiter.remember(&bucket, state.as_ref());
    let read = Fetched {
        value: org.ok_or(ApiError::InvalidCredentials)?,
        cached_at: None,
    };
    let policies = ReadPolicies {
        organization: id,
        policies,
    };
    Ok(((read, Some(policies)), also))
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
/// it. A cached record's charge is held to the organization's version it was
/// read at: when the organization changed since (a plan, a key, policies),
/// nothing is counted, the record is read anew and the request charged
/// under the plan it has now — one extra read and write, once per change and
/// warm function. A record this request read is current: its charge is held
/// to nothing. Returns the record and the request's version.
pub(super) async fn charge_organization(
    app: &App,
    organization: Fetched<Organization>,
    learned: &mut Learned,
) -> Result<(Organization, Current), ApiError> {
    let current = |version| Current {
        version,
        mark: app.versions.mark(),
    };
    let organization = match organization.cached_at {
        Some(stamp) => {
            let charged = learned
                .metering
                .charge_organization(app, &organization.value, CachedAt(stamp))
                .await?;
            match charged {
                Ok(version) => return Ok((organization.value, current(version))),
                Err(Changed { .. }) => {
                    let id = organization.value.id;
                    read_organization(app, id, app.versions.mark()).await?
                }
            }
        }
        None => organization.value,
    };
    let charged = learned
        .metering
        .charge_organization(app, &organization, Unconditioned)
        .await?;
    let version = charged.unwrap_or_else(|never| match never {});
    Ok((organization, current(version)))
}
