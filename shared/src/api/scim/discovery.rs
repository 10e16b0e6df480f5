//! Discovery (RFC 7644 §4): what this service provider supports, exactly —
//! the documents are built from the schemas the resources are parsed by.

use super::{SERVED, base, list_reply};
use crate::error::ApiError;
use crate::pipeline::{NoBody, Reply, ScimCtx};
use crate::scim::schema;
use lambda_http::http::StatusCode;
use serde_json::Value;

/// `GET /ServiceProviderConfig`.
pub async fn service_provider_config(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    Reply::scim(
        StatusCode::OK,
        &schema::service_provider_config(&base(&ctx)),
    )
}

/// `GET /ResourceTypes`.
pub async fn resource_types(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let all = served(schema::resource_types(&base(&ctx)), "schema");
    list_reply(all.len(), 1, all)
}

/// `GET /ResourceTypes/{name}`.
pub async fn resource_type(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let name = ctx.path_text("name")?;
    let all = served(schema::resource_types(&base(&ctx)), "schema");
    one(all, "id", &name, "resource_type")
}

/// `GET /Schemas`.
pub async fn schemas(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let all = served(schema::schemas(&base(&ctx)), "id");
    list_reply(all.len(), 1, all)
}

/// `GET /Schemas/{urn}`.
pub async fn schema(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let urn = ctx.path_text("urn")?;
    let all = served(schema::schemas(&base(&ctx)), "id");
    one(all, "id", &urn, "schema")
}

/// The documents of the served resource types: those whose `urn_member`
/// names a served type's schema or one of its extensions.
fn served(documents: Vec<Value>, urn_member: &str) -> Vec<Value> {
    documents
        .into_iter()
        .filter(|d| {
            let urn = d
                .get(urn_member)
                .and_then(Value::as_str)
                .unwrap_or_default();
            SERVED
                .iter()
                .any(|kind| kind.core_urn() == urn || kind.extensions().iter().any(|e| e.id == urn))
        })
        .collect()
}

/// The document of `documents` whose `key` is `value`, or 404.
fn one(
    documents: Vec<Value>,
    key: &str,
    value: &str,
    resource: &'static str,
) -> Result<Reply, ApiError> {
    let found = documents
        .into_iter()
        .find(|d| d.get(key).and_then(Value::as_str) == Some(value))
        .ok_or(ApiError::NotFound { resource })?;
    Reply::scim(StatusCode::OK, &found)
}
