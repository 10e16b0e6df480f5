//! The SCIM 2.0 surface (SPEC §18, RFC 7644): a directory's identity
//! provider provisions the organization's people. Every route is one more
//! endpoint of the pipeline — the directory's token, the organization's
//! limiter and turns, Cedar, the request's log line — answering in SCIM's
//! own envelope and content type.

pub mod discovery;
pub mod groups;
pub mod users;

use crate::error::ApiError;
use crate::pipeline::{Reply, ScimCtx};
use crate::scim::{self, ResourceKind, schema};
use lambda_http::http::StatusCode;
use lambda_http::http::header::ETAG;
use serde_json::{Value, json};

/// The resource types this service provider serves: discovery lists these
/// and no other.
pub const SERVED: &[ResourceKind] = &[ResourceKind::User, ResourceKind::Group];

/// The methods each SCIM path serves, by its segments after the directory's
/// base (`*` is any one segment): what the catch-all answers a request no
/// route serves with — 405 and `Allow` for a served path, 501 for what the
/// service provider does not support (RFC 7644 §3.12). A test holds it to
/// the route table.
pub const PATHS: &[(&[&str], &str)] = &[
    (&["ServiceProviderConfig"], "GET"),
    (&["ResourceTypes"], "GET"),
    (&["ResourceTypes", "*"], "GET"),
    (&["Schemas"], "GET"),
    (&["Schemas", "*"], "GET"),
    (&["Users"], "GET, POST"),
    (&["Users", "*"], "GET, PUT, PATCH, DELETE"),
    (&["Groups"], "GET, POST"),
    (&["Groups", "*"], "GET, PUT, PATCH, DELETE"),
];

/// What the catch-all answers `method path` under `/scim/v2/<directory>/`:
/// 501 for `/.search` and `/Bulk`, 405 for a served path, none otherwise.
pub fn unrouted(method: &str, path: &str) -> Option<ApiError> {
    let rest = path.strip_prefix("/scim/v2/")?;
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    if matches!(segments.last(), Some(&".search")) || segments == ["Bulk"] {
        return Some(ApiError::NotImplemented);
    }
    let (_, allow) = PATHS.iter().find(|(shape, _)| {
        shape.len() == segments.len()
            && shape
                .iter()
                .zip(&segments)
                .all(|(s, actual)| *s == "*" && !actual.is_empty() || s == actual)
    })?;
    (!allow.split(", ").any(|m| m == method)).then_some(ApiError::MethodNotAllowed { allow })
}

/// Page size when `count` is absent, and the largest (RFC 7644 §3.4.2.4).
pub const MAX_RESULTS: usize = 100;

impl From<scim::Error> for ApiError {
    fn from(err: scim::Error) -> Self {
        Self::ScimInvalid {
            scim_type: err.scim_type(),
            detail: err.detail().to_owned(),
        }
    }
}

/// The directory's SCIM base URL.
fn base(ctx: &ScimCtx) -> String {
    ctx.app.config.public_base_url.scim_base(ctx.directory)
}

/// A query parameter given once (a repeated one is a 400 `invalidValue`);
/// unknown parameters are ignored, as SCIM clients add their own.
fn param<'a>(ctx: &'a ScimCtx, name: &str) -> Result<Option<&'a str>, ApiError> {
    ctx.query.single(name)
}

/// `attributes` / `excludedAttributes` applied to one representation.
fn projected(ctx: &ScimCtx, kind: ResourceKind, resource: &Value) -> Result<Value, ApiError> {
    let attributes = param(ctx, "attributes")?;
    let excluded = param(ctx, "excludedAttributes")?;
    Ok(scim::project::project(
        kind, resource, attributes, excluded,
    )?)
}

/// One resource, projected, with its `ETag`.
fn resource_reply(
    ctx: &ScimCtx,
    status: StatusCode,
    kind: ResourceKind,
    resource: &Value,
    version: u64,
) -> Result<Reply, ApiError> {
    Reply::scim(status, &projected(ctx, kind, resource)?)?.header(ETAG, &schema::etag(version))
}

/// A `ListResponse` of `resources` (already projected).
fn list_reply(total: usize, start_index: usize, resources: Vec<Value>) -> Result<Reply, ApiError> {
    Reply::scim(
        StatusCode::OK,
        &json!({
            "schemas": [schema::LIST_RESPONSE],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// `startIndex` (1-based; below 1 reads as 1) and `count` (0 to 100; below 0
/// reads as 0, above 100 as 100), RFC 7644 §3.4.2.4.
fn paging(ctx: &ScimCtx) -> Result<(usize, usize), ApiError> {
    let number = |name: &'static str, default: i64| -> Result<i64, ApiError> {
        match param(ctx, name)? {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|_| ApiError::ScimInvalid {
                    scim_type: "invalidValue",
                    detail: format!("{name} must be an integer"),
                }),
        }
    };
    let start = number("startIndex", 1)?.max(1);
    let count = number("count", MAX_RESULTS as i64)?.clamp(0, MAX_RESULTS as i64);
    Ok((
        usize::try_from(start).unwrap_or(1),
        usize::try_from(count).unwrap_or(0),
    ))
}

/// Tries of a write that keeps losing to others.
const WRITE_TRIES: usize = 5;

/// A write's refusal that may only mean another write came first.
pub(super) trait Refusal {
    /// Whether the resource moved since it was read.
    fn moved(&self) -> bool;
}

/// Why a try of a write failed: the request's own error, or the store's.
pub(super) enum Failed {
    /// An answer for the client (a bad change, a missing resource).
    Api(ApiError),
    /// The store's failure, which may be a write lost to another.
    Store(crate::store::StoreError),
}

impl From<ApiError> for Failed {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<crate::store::StoreError> for Failed {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Store(err)
    }
}

/// Writes the resource `read` finds — `If-Match` checked against its
/// `version`, then `write` conditioned on the version read — until it
/// lands: again, after a jittered, growing moment, when another write came
/// first (unless the client sent `If-Match`: its 412 is its own); 429 with
/// `Retry-After` when it keeps losing — the identity provider's own retry,
/// never a 5xx.
pub(super) async fn write_current<C, T, R, Read, Write>(
    ctx: &ScimCtx,
    read: impl Fn() -> Read,
    version: impl Fn(&C) -> u64,
    write: impl Fn(C) -> Write,
    refused: impl Fn(R) -> ApiError,
) -> Result<T, ApiError>
where
    R: Refusal,
    Read: std::future::Future<Output = Result<C, ApiError>>,
    Write: std::future::Future<Output = Result<Result<T, R>, Failed>>,
{
    let condition = if_match(ctx)?;
    for attempt in 0..WRITE_TRIES {
        if attempt > 0 {
            let full = 10u64 << attempt.min(4);
            let jitter = u64::from(ulid::Ulid::generate().random() as u16) % (full / 2 + 1);
            tokio::time::sleep(std::time::Duration::from_millis(full / 2 + jitter)).await;
        }
        let current = read().await?;
        if condition
            .as_ref()
            .is_some_and(|c| !c.matches(version(&current)))
        {
            return Err(ApiError::PreconditionFailed);
        }
        match write(current).await {
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(refusal)) if refusal.moved() && condition.is_none() => {}
            Ok(Err(refusal)) => return Err(refused(refusal)),
            Err(Failed::Store(err)) if err.is_transient() => {}
            Err(Failed::Store(err)) => return Err(err.into()),
            Err(Failed::Api(err)) => return Err(err),
        }
    }
    Err(ApiError::RateLimited { retry_after: 1 })
}

/// The `If-Match` header, if sent.
fn if_match(ctx: &ScimCtx) -> Result<Option<schema::IfMatch>, ApiError> {
    match ctx.header("if-match") {
        crate::pipeline::Header::Absent => Ok(None),
        crate::pipeline::Header::One(value) => Ok(Some(schema::parse_if_match(value))),
        crate::pipeline::Header::Unusable => Err(ApiError::PreconditionFailed),
    }
}
