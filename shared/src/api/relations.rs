//! Relations between external services and organizations (SPEC §11, seed
//! 002): the service's claim with a connect token and its organization list,
//! and the organization's removal of a relation.

use crate::App;
use crate::authz::{self, OrgPolicies};
use crate::error::ApiError;
use crate::external_services;
use crate::external_services::connect_tokens::{self, ConnectTokenRecord};
use crate::external_services::relations::{self, Attempt, ClaimBody, RelationRecord, check_token};
use crate::ids::{ExternalServiceId, OrganizationId, RelationId};
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, OrgCtx, Reply, ServiceCtx};
use crate::secrets::ConnectToken;
use crate::store;
use crate::wire::ServicePage;
use lambda_http::http::StatusCode;
use std::sync::Arc;

/// `POST /api/v1/external-services/{externalServiceId}/organization-relations/claim`.
#[tracing::instrument(name = "organization_relations.claim", skip_all)]
pub async fn claim(ctx: ServiceCtx, body: Json<ClaimBody>) -> Result<Reply, ApiError> {
    let service = ctx.service.id;
    let ClaimBody {
        connect_token: raw_token,
        external_organization_id: external_org,
    } = body.value;
    let secret = ConnectToken::parse(&raw_token).ok_or(ApiError::MalformedConnectToken)?;
    let now = ctx.app.clock.now();
    let (token, policies, service_name) = claim_reads(&ctx.app, &secret, service).await?;
    let token = check_token(token, service, now.unix_timestamp())?;
    // The organization may forbid this service (its policies, SPEC §8).
    ctx.authorize_for_organization(token.organization_id, policies.as_deref())?;

    let relation = RelationRecord::new(
        service,
        service_name.map(|n| n.to_string()),
        &token,
        external_org,
        now,
    );
    let relation = match relations::attempt(&ctx.app.store, &token, &relation, None, now).await? {
        Attempt::Done(relation) => *relation,
        Attempt::Exists(existing) => {
            let existing: RelationRecord = store::from_item(*existing)?;
            if existing.external_organization_id != relation.external_organization_id {
                return Err(ApiError::ExternalOrganizationIdMismatch);
            }
            match relations::attempt(&ctx.app.store, &token, &relation, Some(&existing), now)
                .await?
            {
                Attempt::Done(relation) => *relation,
                // Removed and re-created between the two writes: a race the caller can retry.
                Attempt::Exists(_) => return Err(ApiError::ExternalOrganizationIdMismatch),
            }
        }
    };
    Reply::json(StatusCode::OK, &relation.view())
}

/// What a claim reads before its transaction.
type ClaimReads = (
    Option<ConnectTokenRecord>,
    Option<Arc<OrgPolicies>>,
    Option<Arc<str>>,
);

/// The presented connect token, its organization's policies and — unless
/// this function has seen it — the claiming service's name (stamped on the
/// relation for its events): one `BatchGetItem` (the token names its
/// organization). Never the cached policies: this request is charged to the
/// service, whose bucket cannot tell whether they are current (SPEC §5).
async fn claim_reads(
    app: &App,
    secret: &ConnectToken,
    service: ExternalServiceId,
) -> Result<ClaimReads, ApiError> {
    let org = secret.organization();
    let mark = app.versions.mark();
    let known = external_services::known_name(app, service);
    let mut keys = vec![connect_tokens::secret_key(secret), authz::policies_key(org)];
    if known.is_none() {
        keys.push(external_services::record_key(service));
    }
    let mut items = store::get_items(&app.store, &keys).await?.into_iter();
    let token: Option<ConnectTokenRecord> =
        items.next().flatten().map(store::from_item).transpose()?;
    let policies = authz::remember_policy_item(app, org, mark, items.next().flatten().as_ref())?;
    let name = known.or_else(|| {
        external_services::remember_record(app, service, items.next().flatten().as_ref())
    });
    // The hash covers the organization part, so a stored token always names
    // the organization its text does; checked anyway, as the key it was read by.
    Ok((token.filter(|t| t.organization_id == org), policies, name))
}

/// `GET /api/v1/external-services/{externalServiceId}/organizations` →
/// `{data: [{organizationId, organizationName, relationId, externalOrganizationId, createdAt}], nextCursor}`.
#[tracing::instrument(name = "organizations.list", skip_all)]
pub async fn list_organizations(ctx: ServiceCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor("o1:", OrganizationId::parse)?;
    let (relations, more) =
        relations::of_service(&ctx.app.store, ctx.service.id, after, limit).await?;
    let next_cursor = more
        .then(|| {
            relations
                .last()
                .map(|r| encode_cursor("o1:", r.organization_id))
        })
        .flatten();
    let data = relations
        .iter()
        .map(RelationRecord::organization_view)
        .collect();
    Reply::json(StatusCode::OK, &ServicePage { data, next_cursor })
}

/// `GET /v1/external-service-relations` → a page of the organization's
/// relations with their services' names (stamped by the claim; for older
/// relations, remembered per function or one `BatchGetItem`).
#[tracing::instrument(name = "relations.list", skip_all)]
pub async fn list_relations(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor("r1:", parse_relation_cursor)?;
    let (relations, more) =
        relations::of_organization(&ctx.app.store, ctx.org, after, limit).await?;
    // Names stamped on the relations need no lookup.
    let mut services: Vec<_> = relations
        .iter()
        .filter(|r| r.external_service_name.is_none())
        .map(|r| r.external_service_id)
        .collect();
    services.sort_unstable();
    services.dedup();
    let names = crate::external_services::names(&ctx.app, &services).await?;
    let name_of = |id| {
        services
            .binary_search(&id)
            .ok()
            .and_then(|i| names.get(i))
            .and_then(|n| n.as_deref())
    };
    let next_cursor = more
        .then(|| {
            relations
                .last()
                .map(|r| encode_cursor("r1:", format!("{}.{}", r.external_service_id, r.id)))
        })
        .flatten();
    let data = relations
        .iter()
        .map(|r| r.organization_relation(name_of(r.external_service_id)))
        .collect();
    Reply::json(StatusCode::OK, &crate::wire::Page { data, next_cursor })
}

/// A relation cursor's `<service id>.<relation id>`.
fn parse_relation_cursor(
    text: &str,
) -> Result<(crate::ids::ExternalServiceId, RelationId), crate::ids::InvalidId> {
    let (service, relation) = text.split_once('.').unwrap_or((text, ""));
    Ok((
        crate::ids::ExternalServiceId::parse(service)?,
        RelationId::parse(relation)?,
    ))
}

/// `DELETE /v1/external-service-relations/{relation_id}` (admin) → 204: the
/// relation goes, its connect token becomes `consumed`, the external
/// organization id is free again, and the service loses access.
#[tracing::instrument(name = "relations.delete", skip_all)]
pub async fn delete_relation(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("relation_id", RelationId::parse)?;
    let not_found = || ApiError::NotFound {
        resource: "relation",
    };
    let relation = relations::find(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or_else(not_found)?;
    if relations::remove(&ctx.app.store, ctx.org, &relation, ctx.app.clock.now()).await? {
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    } else {
        Err(not_found())
    }
}
