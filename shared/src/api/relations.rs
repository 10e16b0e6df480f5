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
use crate::pipeline::{Early, Json, NoBody, OrgCtx, ReadAhead, Reading, Reply, ServiceCtx};
use crate::secrets::ConnectToken;
use crate::store;
use crate::wire::ServicePage;
use lambda_http::http::StatusCode;
use std::sync::Arc;

/// `POST /api/v1/external-services/{externalServiceId}/organization-relations/claim`.
pub async fn claim(
    ctx: ServiceCtx,
    body: Json<ClaimBody>,
    ahead: Early<ClaimItems>,
) -> Result<Reply, ApiError> {
    let service = ctx.service.id;
    let ClaimBody {
        connect_token: raw_token,
        external_organization_id: external_org,
    } = body.value;
    let secret = ConnectToken::parse(&raw_token).ok_or(ApiError::MalformedConnectToken)?;
    let now = ctx.app.clock.now();
    // Read beside the admission when the pipeline could, else now; a read
    // ahead that failed, or was not for this service and token, is made again.
    let items = match ahead.0 {
        Some(ahead) if ahead.usable_for(&secret, service) => ahead,
        _ => ClaimItems::read(&ctx.app, &secret, service).await,
    };
    let (token, policies, service_name) = items.into_reads(&ctx.app, &secret)?;
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

/// The claim's one `BatchGetItem`, as it came back: the presented connect
/// token, its organization's policies and — unless this function had seen
/// it — the claiming service's record (its name is stamped on the relation
/// for its events). The token names its organization. Never the cached
/// policies: this request is charged to the service, whose bucket cannot
/// tell whether they are current (SPEC §5).
#[derive(Debug)]
pub struct ClaimItems {
    /// The service it was read for (the path's: the admission proves the
    /// caller is that service before anything read is used).
    service: ExternalServiceId,
    /// The token's key it was read by.
    token_key: store::Key,
    /// When the read began, for the policies' cache.
    mark: crate::freshness::Mark,
    /// The service's name, when this function already had it.
    known_name: Option<Arc<str>>,
    items: Result<Vec<Option<store::Item>>, store::StoreError>,
}

impl ClaimItems {
    async fn read(app: &App, secret: &ConnectToken, service: ExternalServiceId) -> Self {
        let mark = app.versions.mark();
        let known_name = external_services::known_name(app, service);
        let token_key = connect_tokens::secret_key(secret);
        let mut keys = vec![
            token_key.clone(),
            authz::policies_key(secret.organization()),
        ];
        if known_name.is_none() {
            keys.push(external_services::record_key(service));
        }
        let items = store::get_items(&app.store, &keys).await;
        Self {
            service,
            token_key,
            mark,
            known_name,
            items,
        }
    }

    /// Whether they came back, for `service` and `secret`'s key.
    fn usable_for(&self, secret: &ConnectToken, service: ExternalServiceId) -> bool {
        self.items.is_ok()
            && self.service == service
            && self.token_key == connect_tokens::secret_key(secret)
    }

    /// The reads for `secret` (read by its key), caching the policies and
    /// the service's name — only now: the request was admitted.
    fn into_reads(self, app: &App, secret: &ConnectToken) -> Result<ClaimReads, ApiError> {
        let org = secret.organization();
        let mut items = self.items?.into_iter();
        let token: Option<ConnectTokenRecord> =
            items.next().flatten().map(store::from_item).transpose()?;
        let policies =
            authz::remember_policy_item(app, org, self.mark, items.next().flatten().as_ref())?;
        let name = self.known_name.or_else(|| {
            external_services::remember_record(app, self.service, items.next().flatten().as_ref())
        });
        // The hash covers the organization part, so a stored token always names
        // the organization its text does; checked anyway, as the key it was read by.
        Ok((token.filter(|t| t.organization_id == org), policies, name))
    }
}

/// The claim's read-ahead: its `BatchGetItem`, from the body's connect
/// token and the path's service, sent beside the service's limiter write —
/// unless the body holds no well-formed token or the service's bucket was
/// last seen empty (a refused claim would read for nothing). Nothing is
/// cached until the claim is admitted and runs.
impl ReadAhead<Json<ClaimBody>> for ClaimItems {
    fn start(
        app: &Arc<App>,
        body: &Json<ClaimBody>,
        path: &[(&'static str, String)],
    ) -> Option<Reading<Self>> {
        let secret = ConnectToken::parse(&body.value.connect_token)?;
        let service = crate::pipeline::param(path, "externalServiceId")
            .and_then(|value| ExternalServiceId::parse(value).ok())?;
        let owner = crate::limits::Owner::ExternalService(service);
        let policy = crate::limits::EXTERNAL_SERVICE_POLICY;
        if app.limiter.looks_exhausted(&owner, policy, app.clock.now()) {
            return None;
        }
        let app = Arc::clone(app);
        Some(Box::pin(async move {
            ClaimItems::read(&app, &secret, service).await
        }))
    }
}

/// `GET /api/v1/external-services/{externalServiceId}/organizations` →
/// `{data: [{organizationId, organizationName, relationId, externalOrganizationId, createdAt}], nextCursor}`.
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
pub async fn delete_relation(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("relation_id", RelationId::parse)?;
    let not_found = || ApiError::NotFound {
        resource: "relation",
    };
    let relation = relations::find(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or_else(not_found)?;
    ctx.check_stored_in(relation.organization_id, "relation")?;
    if relations::remove(&ctx.app.store, ctx.org, &relation, ctx.app.clock.now()).await? {
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    } else {
        Err(not_found())
    }
}
