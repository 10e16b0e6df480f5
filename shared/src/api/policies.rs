//! The organization's own Cedar policies (SPEC §8): `PUT` and `GET /v1/policies`.

use crate::authz::{OrgPolicies, Policies, PolicyText, read_policies, replace_policies};
use crate::error::{ApiError, FieldErrors};
use crate::pipeline::{NoBody, OrgCtx, Reply};
use lambda_http::http::StatusCode;
use std::sync::Arc;

/// `PUT /v1/policies` → 200 `{policies, updated_at}`; 422 listing every
/// problem; 409 `limit_reached` beyond the organization's cap.
pub async fn put_policies(ctx: OrgCtx, body: PolicyText) -> Result<Reply, ApiError> {
    // Parsed here, once the caller is known to be allowed to write
    // policies: nobody else gets Cedar's parser run on their text (SPEC §8).
    let parsed = OrgPolicies::parse(&body.policies).map_err(|problems| {
        let mut errors = FieldErrors::new();
        for problem in problems {
            errors.push("policies", problem);
        }
        ApiError::Validation(errors)
    })?;
    let cap = ctx.organization.limits().caps.policies;
    if parsed.count() as u64 > cap {
        return Err(ApiError::LimitReached {
            limit: "policies",
            max: cap,
        });
    }
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
            updated_at: Some(updated_at),
        },
    )
}

/// `GET /v1/policies` → 200 `{policies, updated_at}` (empty text when none).
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
            updated_at,
        },
    )
}
