//! The organization's own Cedar policies (SPEC §8): `PUT` and `GET /v1/policies`.

use crate::authz::{OrgPolicies, Policies, read_policies, replace_policies};
use crate::error::ApiError;
use crate::pipeline::{NoBody, OrgCtx, Reply};
use lambda_http::http::StatusCode;
use std::sync::Arc;

/// `PUT /v1/policies` → 200 `{policies, updated_at}`; 422 listing every problem.
#[tracing::instrument(name = "policies.write", skip_all)]
pub async fn put_policies(ctx: OrgCtx, parsed: OrgPolicies) -> Result<Reply, ApiError> {
    // A change of the organization: every other function's next request
    // reads them (SPEC §5); this one keeps what it parsed.
    let parsed = Arc::new(parsed);
    let now = ctx.app.clock.now();
    let updated_at = replace_policies(&ctx.app, &ctx.organization, Arc::clone(&parsed), now)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    Reply::json(
        StatusCode::OK,
        &Policies {
            policies: &parsed.text,
            updated_at: Some(&updated_at),
        },
    )
}

/// `GET /v1/policies` → 200 `{policies, updated_at}` (empty text when none).
#[tracing::instrument(name = "policies.read", skip_all)]
pub async fn show_policies(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let (text, updated_at) = match read_policies(&ctx.app.store, org).await? {
        Some((text, at)) => (text, Some(at)),
        None => (String::new(), None),
    };
    Reply::json(
        StatusCode::OK,
        &Policies {
            policies: &text,
            updated_at: updated_at.as_deref(),
        },
    )
}
