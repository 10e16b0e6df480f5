//! The organization's own Cedar policies (SPEC §8): `PUT` and `GET /v1/policies`.

use crate::authz::{OrgPolicies, Policies, PolicyText, read_policies, write_policies};
use crate::error::{ApiError, FieldErrors};
use crate::pipeline::{NoBody, OrgCtx, Reply};
use lambda_http::http::StatusCode;

/// `PUT /v1/policies` → 200 `{policies, updated_at}`; 422 listing every problem.
#[tracing::instrument(name = "policies.write", skip_all)]
pub async fn put_policies(ctx: OrgCtx, body: PolicyText) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let parsed = OrgPolicies::parse(&body.policies).map_err(|problems| {
        let mut errors = FieldErrors::new();
        for problem in problems {
            errors.push("policies", problem);
        }
        ApiError::Validation(errors)
    })?;
    // A change of the organization: every function's next request reads them (SPEC §5).
    let updated_at = write_policies(&ctx.app.store, org, &parsed.text, ctx.app.clock.now())
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
