//! The one request pipeline every function runs, in this order:
//! request id → path parameters → authenticate → rate limit (slot) →
//! authorize → body → operation → render → one log line.
//!
//! A panic or unexpected error anywhere becomes a 500 `internal_error` with
//! the request id and nothing internal in the body.

pub mod body;
mod metering;
mod numbers;
pub mod query;

pub use body::{FromBody, Json, JsonObject, NoBody, ParseBody};
pub use query::Query;

use crate::app::App;
use crate::auth::{self, ApiKeyPrincipal};
use crate::authz;
use crate::error::{ApiError, Surface};
use crate::external_services::{self, ServicePrincipal};
use crate::idempotency;
use crate::ids::{EndUserId, ExternalServiceId, InvalidId, OrganizationId, RequestId};
use crate::organizations::{self, Organization};
use crate::routes::{Credential, Endpoint};
use futures_util::FutureExt;
use lambda_http::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Content type of every JSON response (SPEC §3).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Who the pipeline authenticated.
#[derive(Debug, Clone)]
pub enum Authenticated {
    /// An organization's API key.
    ApiKey(ApiKeyPrincipal),
    /// An end user with an access token.
    EndUser {
        /// The end user.
        user: EndUserId,
        /// Its organization.
        organization: OrganizationId,
    },
    /// An external service with a service token.
    ExternalService(ServicePrincipal),
}

impl Authenticated {
    /// The organization every key of the request derives from (none for an
    /// external service: it acts across organizations it is related to).
    pub fn organization_id(&self) -> Option<OrganizationId> {
        match self {
            Self::ApiKey(key) => Some(key.organization_id),
            Self::EndUser { organization, .. } => Some(*organization),
            Self::ExternalService(_) => None,
        }
    }

    /// Whose Idempotency-Keys the request's key is among (SPEC §9).
    pub fn idempotency_scope(&self) -> idempotency::Scope {
        match self {
            Self::ApiKey(key) => idempotency::Scope::api_key(key.api_key_id),
            Self::EndUser { user, organization } => {
                idempotency::Scope::end_user(*organization, *user)
            }
            Self::ExternalService(service) => idempotency::Scope::external_service(service.id),
        }
    }

    /// As a Cedar principal.
    pub fn principal(&self) -> authz::Principal {
        match self {
            Self::ApiKey(key) => authz::Principal::ApiKey {
                id: key.api_key_id.to_string(),
                organization: key.organization_id,
                scope: key.scope,
            },
            Self::EndUser { user, organization } => authz::Principal::EndUser {
                id: *user,
                organization: *organization,
            },
            Self::ExternalService(service) => authz::Principal::ExternalService {
                id: service.id.to_string(),
                scopes: service.scopes.clone(),
            },
        }
    }
}

/// Everything an operation gets from the pipeline.
#[derive(Debug)]
pub struct Ctx {
    /// The warm function's state.
    pub app: Arc<App>,
    /// This request's id.
    pub request_id: RequestId,
    /// The authenticated caller (none on public endpoints).
    pub authenticated: Option<Authenticated>,
    /// The caller's organization record (plan, limits, counters), as cached.
    pub organization: Option<Organization>,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The query string.
    pub query: Query,
    /// The request's method.
    pub method: String,
    /// The request's path.
    pub path: String,
    /// The caller's address.
    pub source_ip: String,
    endpoint: &'static Endpoint,
    /// Path parameters, checked and in template order.
    path_params: Vec<(&'static str, String)>,
    /// The request's Idempotency-Key, claimed once the request is authorized.
    idempotency: Arc<KeySlot>,
}

/// A POST's Idempotency-Key between parsing and its claim: the pipeline claims
/// it right after authorization, or — for operations authorized after their
/// body — [`Ctx::authorize_identity`] does, so no refusal from before the
/// operation is ever stored or replayed (SPEC §9).
#[derive(Debug, Default)]
struct KeySlot {
    pending: std::sync::Mutex<Option<PendingKey>>,
    claim: std::sync::Mutex<Option<idempotency::Claim>>,
}

/// A key not yet claimed.
#[derive(Debug)]
struct PendingKey {
    scope: idempotency::Scope,
    key: idempotency::IdempotencyKey,
    fingerprint: String,
}

impl KeySlot {
    fn new(pending: Option<PendingKey>) -> Self {
        Self {
            pending: std::sync::Mutex::new(pending),
            claim: std::sync::Mutex::new(None),
        }
    }

    /// Claims the pending key: the stored response when the same request
    /// already ran, else `None` and the operation runs.
    async fn claim(&self, app: &App) -> Result<Option<Reply>, ApiError> {
        let pending = self.pending.lock().ok().and_then(|mut p| p.take());
        let Some(PendingKey {
            scope,
            key,
            fingerprint,
        }) = pending
        else {
            return Ok(None);
        };
        let now = app.clock.now().unix_timestamp();
        match idempotency::begin(&app.store, &scope, &key, &fingerprint, now).await? {
            idempotency::Begin::Replay(stored) => Ok(Some(Reply::replay(stored))),
            idempotency::Begin::Run(claim) => {
                if let Ok(mut slot) = self.claim.lock() {
                    *slot = Some(claim);
                }
                Ok(None)
            }
        }
    }

    fn take_claim(&self) -> Option<idempotency::Claim> {
        self.claim.lock().ok().and_then(|mut c| c.take())
    }
}

impl Ctx {
    /// The authenticated organization. Only authenticated operations call
    /// this, and the pipeline authenticated them before the call.
    pub fn organization_id(&self) -> Result<OrganizationId, ApiError> {
        self.authenticated
            .as_ref()
            .and_then(Authenticated::organization_id)
            .ok_or_else(|| ApiError::internal("operation needs an organization credential"))
    }

    /// The external service of an external-service-API request.
    pub fn external_service(&self) -> Result<&ServicePrincipal, ApiError> {
        match &self.authenticated {
            Some(Authenticated::ExternalService(service)) => Ok(service),
            _ => Err(ApiError::internal("operation needs a service token")),
        }
    }

    /// A free-text path parameter, percent-decoded (checked by the pipeline).
    pub fn path_text(&self, name: &'static str) -> Result<String, ApiError> {
        self.path_params
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| percent_decode(v))
            .ok_or(ApiError::InvalidPathParameter(name))
    }

    /// An organization's record, from the warm cache or the table.
    pub async fn load_organization(&self, id: OrganizationId) -> Result<Organization, ApiError> {
        load_organization(&self.app, id).await
    }

    /// Authorizes this endpoint's action on organization `org` with the
    /// policies the operation read for it: for an external service once it
    /// knows the organization (the claim reads them with the connect token).
    pub fn authorize_for_organization(
        &self,
        org: OrganizationId,
        policies: Option<&authz::OrgPolicies>,
    ) -> Result<(), ApiError> {
        let authenticated = self
            .authenticated
            .as_ref()
            .ok_or_else(|| ApiError::internal("authorization needs a credential"))?;
        decide(
            self.endpoint,
            authenticated,
            authz::Resource::Organization(org),
            &self.source_ip,
            None,
            policies,
        )
    }

    /// The end user of a user-API request.
    pub fn end_user_id(&self) -> Result<EndUserId, ApiError> {
        match &self.authenticated {
            Some(Authenticated::EndUser { user, .. }) => Ok(*user),
            _ => Err(ApiError::internal(
                "operation needs an access token but the endpoint takes none",
            )),
        }
    }

    /// A path parameter that is an id, parsed (the pipeline already checked it).
    pub fn path_id<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Result<T, InvalidId>,
    ) -> Result<T, ApiError> {
        let raw = self
            .path_params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str());
        raw.and_then(|v| parse(v).ok())
            .ok_or(ApiError::InvalidPathParameter(name))
    }

    /// A header's value, when it is present exactly once and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        single_header(&self.headers, name)
    }

    /// Authorizes this endpoint's action with the identity being linked in
    /// the context: for the actions whose Cedar context needs the body
    /// (`identities.create`, `sso.link`), called right after parsing it.
    /// Then claims the request's Idempotency-Key: `Some(reply)` is the
    /// stored response of the same request, which the operation returns.
    pub async fn authorize_identity(
        &self,
        identity: &authz::IdentityContext,
    ) -> Result<Option<Reply>, ApiError> {
        let authenticated = self
            .authenticated
            .as_ref()
            .ok_or_else(|| ApiError::internal("identity authorization needs a credential"))?;
        let resource = resource_of(self.endpoint, authenticated, &self.path_params);
        authorize(
            &self.app,
            self.endpoint,
            authenticated,
            resource,
            &self.source_ip,
            Some(identity),
        )
        .await?;
        self.idempotency.claim(&self.app).await
    }
}

/// A successful response of an operation.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Option<Vec<u8>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(body).map_err(ApiError::internal)?;
        Ok(Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        })
    }

    /// A response without a body (204).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// A stored response, replayed byte for byte with `Idempotent-Replayed: true`.
    pub fn replay(stored: idempotency::StoredResponse) -> Self {
        let mut headers: Vec<(HeaderName, HeaderValue)> = stored
            .headers
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    HeaderName::from_bytes(n.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        headers.push((
            HeaderName::from_static(idempotency::REPLAYED_HEADER),
            HeaderValue::from_static("true"),
        ));
        Self {
            status: StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
            body: stored.body.map(String::into_bytes),
            headers,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Self, ApiError> {
        let value = HeaderValue::from_str(value).map_err(ApiError::internal)?;
        self.headers.push((name, value));
        Ok(self)
    }
}

/// What the request log line reports about the caller.
#[derive(Debug, Default)]
struct Caller {
    organization_id: Option<OrganizationId>,
    credential_id: Option<String>,
}

/// What the pipeline learns on the way that the response and the log need,
/// whatever the outcome.
#[derive(Debug, Default)]
struct Trace {
    caller: Caller,
    metering: metering::Metering,
}

/// Runs one request through the pipeline and renders the response. Never
/// fails: every outcome is an HTTP response with `X-Request-Id`.
pub async fn handle<B, F, Fut>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    req: Request,
    op: F,
) -> Response<Body>
where
    B: FromBody,
    F: FnOnce(Ctx, B) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let started = Instant::now();
    let store = app.store.clone();
    let calls_before = store.call_totals();
    let request_id = RequestId::generate();
    let span = tracing::info_span!("request", requestId = %request_id);
    async move {
        let method = req.method().to_string();
        let mut trace = Trace::default();
        let outcome = AssertUnwindSafe(run(app, endpoint, request_id, req, op, &mut trace))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(ApiError::internal(format!("operation panicked: {what}")))
            });
        let limit_headers = trace.metering.headers(outcome.as_ref().err());
        let mut response = match outcome {
            Ok(reply) => render_reply(reply),
            Err(err) => {
                log_error(&err);
                render_error(&err, endpoint.surface, request_id)
            }
        };
        response.headers_mut().extend(limit_headers);
        let response = stamp(response, request_id);
        let caller = trace.caller;
        // Per request while a function serves one request at a time (Lambda);
        // concurrent requests sharing a store (tests) blur these figures.
        let calls = store.call_totals().since(&calls_before);
        tracing::info!(
            target: "tether::request",
            method = %method,
            route = endpoint.path,
            function = endpoint.function,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            organization_id = caller.organization_id.map(|id| id.to_string()),
            credential_id = caller.credential_id.as_deref(),
            dynamodb_calls = calls.calls,
            dynamodb_read_units = calls.read_units,
            dynamodb_write_units = calls.write_units(),
            dynamodb_ms = calls.busy_micros as f64 / 1000.0,
            "request completed"
        );
        response
    }
    .instrument(span)
    .await
}

async fn run<B, F, Fut>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    request_id: RequestId,
    req: Request,
    op: F,
    trace: &mut Trace,
) -> Result<Reply, ApiError>
where
    B: FromBody,
    F: FnOnce(Ctx, B) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let source_ip = req
        .request_context_ref()
        .and_then(source_ip)
        .unwrap_or_else(|| "unknown".to_owned());
    let path_params = match path_parameters(endpoint, &req) {
        Ok(params) => params,
        Err(err) => {
            // Refused before authentication, yet charged like any request
            // (SPEC §6): so a flood of malformed paths is throttled too.
            charge_malformed(&app, endpoint, req.headers(), &source_ip, trace).await?;
            return Err(err);
        }
    };
    let query = Query::from_request(&req);
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let headers = parts.headers;

    let (authenticated, organization) = match endpoint.credential {
        Credential::None => {
            trace
                .metering
                .charge_source_ip(&app, source_ip.clone())
                .await?;
            (None, None)
        }
        Credential::ServiceToken => {
            // SPEC §11's order: token (401), its service (403), scope (403), rate limit.
            let service = match external_services::authenticate(
                &app.store,
                &app.service_tokens,
                bearer(&headers),
            )
            .await
            {
                Ok(service) => service,
                Err(err) if err.is_credential_failure() => {
                    trace
                        .metering
                        .charge_source_ip(&app, source_ip.clone())
                        .await?;
                    return Err(err);
                }
                Err(err) => return Err(err),
            };
            trace.caller.credential_id = Some(format!("service:{}", service.id));
            let path_service = path_params
                .iter()
                .find(|(n, _)| *n == "externalServiceId")
                .map(|(_, v)| v.as_str());
            if path_service.and_then(|v| ExternalServiceId::parse(v).ok()) != Some(service.id) {
                return Err(ApiError::ExternalServiceAccessDenied);
            }
            let service_id = service.id;
            let authenticated = Authenticated::ExternalService(service);
            let resource = resource_of(endpoint, &authenticated, &path_params);
            authorize(&app, endpoint, &authenticated, resource, &source_ip, None).await?;
            trace
                .metering
                .charge_external_service(&app, service_id)
                .await?;
            (Some(authenticated), None)
        }
        credential => {
            let authenticated = match authenticate(&app, credential, &headers).await {
                Ok(authenticated) => authenticated,
                Err(err) if err.is_credential_failure() => {
                    // Guessing credentials costs the guesser: charged to the source IP.
                    trace
                        .metering
                        .charge_source_ip(&app, source_ip.clone())
                        .await?;
                    return Err(err);
                }
                Err(err) => return Err(err),
            };
            let organization_id = authenticated
                .organization_id()
                .ok_or_else(|| ApiError::internal("no organization"))?;
            trace.caller.organization_id = Some(organization_id);
            trace.caller.credential_id = Some(match &authenticated {
                Authenticated::ApiKey(key) => key.api_key_id.to_string(),
                Authenticated::EndUser { user, .. } => format!("user:{user}"),
                Authenticated::ExternalService(service) => format!("service:{}", service.id),
            });
            let organization = load_organization(&app, organization_id).await?;
            trace
                .metering
                .charge_organization(&app, &organization)
                .await?;
            if !endpoint.authorize_after_body {
                let resource = resource_of(endpoint, &authenticated, &path_params);
                authorize(&app, endpoint, &authenticated, resource, &source_ip, None).await?;
            }
            (Some(authenticated), Some(organization))
        }
    };

    let raw_body = body_bytes(&body);
    let input = B::from_body(&headers, raw_body)?;

    // Idempotency-Key (SPEC §9): claimed once the request is authenticated,
    // rate limited, authorized and its body valid, so a retry of the same
    // POST by the same principal gets the first response back.
    let pending = idempotency_request(
        endpoint,
        &headers,
        authenticated.as_ref(),
        &method,
        &path,
        raw_body,
    )?;
    let slot = Arc::new(KeySlot::new(pending));
    if !endpoint.authorize_after_body
        && let Some(replay) = slot.claim(&app).await?
    {
        return Ok(replay);
    }
    let store = app.store.clone();
    let ctx = Ctx {
        app,
        request_id,
        authenticated,
        organization,
        headers,
        query,
        method,
        path,
        source_ip,
        endpoint,
        path_params,
        idempotency: Arc::clone(&slot),
    };
    let outcome = op(ctx, input).await;
    if let Some(claim) = slot.take_claim() {
        record_outcome(&store, &claim, &outcome, endpoint.surface, request_id).await;
    }
    outcome
}

/// Charges a request refused for its path before authentication: to the
/// owner of its credential when that is valid, else to its source IP.
async fn charge_malformed(
    app: &App,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    source_ip: &str,
    trace: &mut Trace,
) -> Result<(), ApiError> {
    let valid = match endpoint.credential {
        Credential::None => Err(ApiError::MissingCredentials),
        Credential::ServiceToken => {
            external_services::authenticate(&app.store, &app.service_tokens, bearer(headers))
                .await
                .map(Authenticated::ExternalService)
        }
        credential => authenticate(app, credential, headers).await,
    };
    match valid {
        Ok(Authenticated::ExternalService(service)) => {
            trace
                .metering
                .charge_external_service(app, service.id)
                .await
        }
        Ok(authenticated) => {
            let id = authenticated
                .organization_id()
                .ok_or_else(|| ApiError::internal("no organization"))?;
            let organization = load_organization(app, id).await?;
            trace.metering.charge_organization(app, &organization).await
        }
        Err(err) if err.is_credential_failure() || endpoint.credential == Credential::None => {
            trace
                .metering
                .charge_source_ip(app, source_ip.to_owned())
                .await
        }
        Err(err) => Err(err),
    }
}

/// The scope, key and fingerprint of a POST that carries `Idempotency-Key`.
fn idempotency_request(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    authenticated: Option<&Authenticated>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<PendingKey>, ApiError> {
    if endpoint.method != "POST" {
        return Ok(None);
    }
    // Present but unusable (repeated, not text, too long) is an error, not "absent".
    let mut values = headers.get_all(idempotency::HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let value = if values.next().is_none() {
        first.to_str().ok()
    } else {
        None
    };
    let key = value
        .and_then(idempotency::IdempotencyKey::parse)
        .ok_or_else(|| {
            let mut errors = crate::error::FieldErrors::new();
            errors.push(
                "Idempotency-Key",
                "must be 1 to 255 printable ASCII characters",
            );
            ApiError::Validation(errors)
        })?;
    // Keys are per principal: no two principals share a stored response.
    let Some(authenticated) = authenticated else {
        return Ok(None);
    };
    Ok(Some(PendingKey {
        scope: authenticated.idempotency_scope(),
        key,
        fingerprint: idempotency::fingerprint(method, path, body),
    }))
}

/// Stores the operation's response for replays — successes and errors alike,
/// 500s included (as Stripe does: a retry must not run twice what may have
/// half-run) — except 503, which tells the client to retry: the key is
/// released so the retry runs.
async fn record_outcome(
    store: &crate::store::Store,
    claim: &idempotency::Claim,
    outcome: &Result<Reply, ApiError>,
    surface: Surface,
    request_id: RequestId,
) {
    let stored = match outcome {
        Ok(reply) => idempotency::StoredResponse {
            status: reply.status.as_u16(),
            body: reply
                .body
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            headers: reply
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        },
        Err(err) if err.status_on(surface) == StatusCode::SERVICE_UNAVAILABLE => {
            if let Err(e) = idempotency::release(store, claim).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
            return;
        }
        Err(err) => idempotency::StoredResponse {
            status: err.status_on(surface).as_u16(),
            body: Some(err.body(surface, &request_id.to_string()).to_string()),
            headers: Vec::new(),
        },
    };
    if let Err(e) = idempotency::finish(store, claim, &stored).await {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
}

/// The organization of an authenticated key, from the warm cache or the table.
/// A key whose organization is gone is not a valid credential.
async fn load_organization(app: &App, id: OrganizationId) -> Result<Organization, ApiError> {
    if let Some(org) = app.orgs.get(&id) {
        return Ok(org);
    }
    let org = organizations::get_organization(&app.store, id)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    app.orgs.put(id, org.clone());
    Ok(org)
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
fn source_ip(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV2(v2) => v2.http.source_ip.clone(),
        #[allow(
            unreachable_patterns,
            reason = "other event sources when their features are enabled"
        )]
        _ => None,
    }
}

/// Authenticates the credential the endpoint takes.
async fn authenticate(
    app: &App,
    credential: Credential,
    headers: &HeaderMap,
) -> Result<Authenticated, ApiError> {
    match credential {
        Credential::ApiKey => auth::authenticate_api_key(
            &app.store,
            &app.keys,
            single_header(headers, "x-api-key"),
            single_header(headers, "x-tenant-id"),
        )
        .await
        .map(Authenticated::ApiKey),
        Credential::UserToken => {
            let keys = app
                .tokens
                .as_ref()
                .ok_or_else(|| ApiError::internal("this function has no token key"))?;
            let token = bearer(headers).ok_or(ApiError::MissingCredentials)?;
            let now = app.clock.now().unix_timestamp();
            let claims = keys
                .verify(token, now)
                .ok_or(ApiError::InvalidCredentials)?;
            Ok(Authenticated::EndUser {
                user: claims.sub,
                organization: claims.org,
            })
        }
        Credential::ServiceToken | Credential::None => {
            Err(ApiError::internal("not authenticated here"))
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = single_header(headers, "authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// What an endpoint acts on: the end user of its path, the caller itself on
/// the user API, else the organization.
fn resource_of(
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    path_params: &[(&'static str, String)],
) -> authz::Resource {
    let param = |name: &str| {
        path_params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    match authenticated {
        Authenticated::ExternalService(service) => {
            match param("organizationId").and_then(|v| OrganizationId::parse(v).ok()) {
                Some(org) => authz::Resource::Organization(org),
                None => authz::Resource::ExternalService(service.id.to_string()),
            }
        }
        Authenticated::EndUser { user, organization } => authz::Resource::EndUser {
            id: *user,
            organization: *organization,
        },
        Authenticated::ApiKey(key) => {
            let organization = key.organization_id;
            match param("user_id").and_then(|v| EndUserId::parse(v).ok()) {
                Some(user) if endpoint.acts_on_end_user() => authz::Resource::EndUser {
                    id: user,
                    organization,
                },
                _ => authz::Resource::Organization(organization),
            }
        }
    }
}

/// One Cedar decision for `endpoint`'s action, with the organization's own policies.
async fn authorize(
    app: &App,
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    resource: authz::Resource,
    source_ip: &str,
    identity: Option<&authz::IdentityContext>,
) -> Result<(), ApiError> {
    // The policies of the organization acted on.
    let org = match &resource {
        authz::Resource::Organization(org)
        | authz::Resource::EndUser {
            organization: org, ..
        } => Some(*org),
        authz::Resource::ExternalService(_) => None,
    };
    let policies = match org {
        Some(org) => authz::policies_for(app, org).await?,
        None => None,
    };
    decide(
        endpoint,
        authenticated,
        resource,
        source_ip,
        identity,
        policies.as_deref(),
    )
}

/// The Cedar decision itself, with the policies already in hand.
fn decide(
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    resource: authz::Resource,
    source_ip: &str,
    identity: Option<&authz::IdentityContext>,
    policies: Option<&authz::OrgPolicies>,
) -> Result<(), ApiError> {
    let principal = authenticated.principal();
    let question = authz::Question {
        principal: &principal,
        action: endpoint.action,
        resource,
        source_ip,
        identity,
    };
    authz::engine().authorize(&question, policies)
}

/// Path parameters from API Gateway's `pathParameters`, or — when the event has
/// none, as under `cargo lambda watch` — by matching the path to the template.
/// Every parameter that names an id must be a UUID (400 otherwise).
fn path_parameters(
    endpoint: &'static Endpoint,
    req: &Request,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let from_gateway = req.path_parameters();
    let names: Vec<&'static str> = endpoint.parameter_names().collect();
    let params: Vec<(&'static str, String)> =
        if names.iter().all(|n| from_gateway.first(n).is_some()) {
            names
                .iter()
                .filter_map(|n| from_gateway.first(n).map(|v| (*n, v.to_owned())))
                .collect()
        } else {
            endpoint.match_path(req.uri().path()).unwrap_or_default()
        };
    // Greedy and declared free-text parameters are text; every other one is an id.
    for name in names
        .iter()
        .copied()
        .filter(|n| crate::routes::FREE_TEXT_PARAMETERS.contains(n))
    {
        let value = params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str());
        if !value
            .and_then(percent_decode)
            .is_some_and(|v| !v.is_empty() && v.chars().count() <= 256 && !v.contains('\0'))
        {
            return Err(ApiError::InvalidPathParameter(name));
        }
    }
    for name in names
        .into_iter()
        .filter(|n| !n.ends_with('+') && !crate::routes::FREE_TEXT_PARAMETERS.contains(n))
    {
        let value = params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str());
        if value.is_none_or(|v| crate::ids::EndUserId::parse(v).is_err()) {
            return Err(ApiError::InvalidPathParameter(name));
        }
    }
    Ok(params)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // `Body` is non-exhaustive; any future variant is treated as empty.
        #[allow(unreachable_patterns, reason = "lambda_http may add body variants")]
        _ => &[],
    }
}

/// A header present exactly once with a text value; duplicated or binary
/// values count as absent-and-invalid to the callers that need them.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        (Some(_), Some(_)) => Some(""),
        _ => None,
    }
}

fn render_reply(reply: Reply) -> Response<Body> {
    let mut response = Response::new(match reply.body {
        Some(bytes) => Body::Text(String::from_utf8(bytes).unwrap_or_default()),
        None => Body::Empty,
    });
    *response.status_mut() = reply.status;
    if response.body() != &Body::Empty {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    }
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Renders an error in its surface's envelope.
pub fn render_error(err: &ApiError, surface: Surface, request_id: RequestId) -> Response<Body> {
    let body = err.body(surface, &request_id.to_string()).to_string();
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = err.status_on(surface);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

fn stamp(mut response: Response<Body>, request_id: RequestId) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Logs a 5xx with its cause chain; 4xx are the client's and only counted in
/// the request line.
fn log_error(err: &ApiError) {
    if err.status().is_server_error() {
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        tracing::error!(code = err.code(), error = %err, causes = %causes.join(": "), "request failed");
    }
}
