//! The catch-all: every method and path that no endpoint serves gets the JSON
//! 404 envelope with a request id, like any other error.

use crate::error::ApiError;
use crate::pipeline::{Ctx, NoBody, Reply};

/// Answers 404 `not_found` for the request's method and path.
pub async fn not_found(ctx: Ctx, _: NoBody) -> Result<Reply, ApiError> {
    if let Some(answer) = crate::api::scim::unrouted(&ctx.method, &ctx.path) {
        return Err(answer);
    }
    Err(ApiError::RouteNotFound {
        method: ctx.method,
        path: ctx.path,
    })
}
