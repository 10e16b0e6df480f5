//! Reads beside the limiter's write: a GET is run with the
//! caches as they are while its request's limiter write is in flight, so an
//! admitted read answers after one round trip of latency, not two. Its
//! outcome stands only if the write admits the request at a version no newer
//! than the one the caches were current at — otherwise it is discarded and
//! the operation runs again, judged afresh. A refused request discards it
//! too: the read's capacity is the price of the saved round trip.

use super::context::Authenticated;
use super::credentials::{Admitted, Identified};
use super::reply::Reply;
use crate::error::ApiError;
use crate::freshness::{Current, FRESH, Fetched, Mark};
use crate::organizations::Organization;

/// An operation run beside the limiter's write, and the version it was
/// judged at: its outcome stands when the write admitted the request at a
/// version no newer (nothing the caches held had changed).
pub(super) struct Speculated {
    pub(super) version: crate::freshness::Version,
    /// What the operation answered.
    pub(super) outcome: Result<Reply, ApiError>,
}

/// The admission a request would get if nothing cached had changed: the
/// caller and organization as cached, at the oldest version they were
/// current at — what the request read from the table itself is current
/// whatever the version ([`FRESH`]), so a cold function's read runs beside
/// the limiter too. `None` for a service (judged in `admit_service`).
pub(super) fn provisional(
    identified: &Identified,
    organization: &Fetched<Organization>,
    policies: Option<crate::authz::ReadPolicies>,
    mark: Mark,
) -> Option<(crate::freshness::Version, Admitted)> {
    let org_stamp = organization.cached_at.unwrap_or(FRESH);
    let (authenticated, version) = match identified {
        Identified::ApiKey(key, _) => (
            Authenticated::ApiKey(key.principal.clone()),
            org_stamp.min(key.cached_at.unwrap_or(FRESH)),
        ),
        Identified::EndUser {
            user,
            organization,
            generation,
        } => (
            Authenticated::EndUser {
                user: *user,
                organization: *organization,
                generation: *generation,
            },
            org_stamp,
        ),
        Identified::Service(_) => return None,
    };
    Some((
        version,
        Admitted {
            authenticated: Some(authenticated),
            organization: Some(organization.value.clone()),
            current: Some(Current { version, mark }),
            policies,
        },
    ))
}

/// Runs the guessed operation, if any, to its outcome.
pub(super) async fn run<Fut>(guess: Option<(crate::freshness::Version, Fut)>) -> Option<Speculated>
where
    Fut: std::future::Future<Output = Result<Reply, ApiError>>,
{
    let (version, operation) = guess?;
    Some(Speculated {
        version,
        outcome: operation.await,
    })
}
