//! The one request pipeline every function runs, in this order:
//! request id → path parameters → authenticate → rate limit →
//! authorize → body → Idempotency-Key → operation → render → one log line.
//! That is the order of the answers; some work overlaps the limiter's write
//! where it is pure or discarded when refused ([`overlap`]).
//!
//! A panic or unexpected error anywhere becomes a 500 `internal_error` with
//! the request id and nothing internal in the body.
//!
//! Read bottom-up: the request's parts ([`header`], [`path`], [`query`],
//! [`body`], [`numbers`]) and its answer ([`reply`]); who is calling
//! ([`principal`]) and what is learned on the way ([`learned`], [`metering`]);
//! the decision ([`decision`]) and the organization acted for ([`tenant`]);
//! the work overlapped with the limiter's write ([`overlap`]); the
//! admissions — [`admission`] (the kind of credential, and public
//! endpoints), [`keys_and_tokens`] (an organization's API keys and end
//! users), [`services`] (external services); what an operation gets
//! ([`context`], [`key_slot`], [`callers`], [`uses`]) and its signature
//! ([`operation`]). This file runs them in order and logs.

mod admission;
pub mod body;
mod callers;
mod context;
mod decision;
mod directory_tokens;
mod header;
mod key_slot;
mod keys_and_tokens;
mod learned;
mod metering;
mod numbers;
mod operation;
mod overlap;
mod path;
mod portal_sessions;
mod principal;
pub mod query;
mod reply;
mod services;
mod tenant;
mod uses;

pub use crate::app::Missing;
pub use crate::parse::{JsonObject, NoFields, ParseBody};
pub use body::{Fields, Form, FromBody, Json, NoBody, ScimBody};
pub use callers::{
    Caller, Decidable, Decided, OrgCtx, OrgSettings, PortalCtx, ScimCtx, ServiceCtx, Undecided,
    UserCtx,
};
pub use context::Ctx;
pub use header::Header;
pub use operation::{KeptFor, Operation, bind, keep, start};
pub use overlap::{Early, ReadAhead, Reading};
pub(crate) use path::param;
pub use portal_sessions::{clear_cookie, set_cookie};
pub use principal::{Authenticated, TokenHolder};
pub use query::Query;
pub use reply::{JSON_CONTENT_TYPE, REQUEST_ID_HEADER, Reply, SCIM_CONTENT_TYPE, render_error};
pub use uses::Uses;

use crate::app::App;
use crate::endpoint::{Credential, Endpoint};
use crate::error::{ApiError, Surface};
use crate::idempotency;
use crate::ids::RequestId;
use admission::{Admission, Incoming};
use futures_util::FutureExt;
use header::source_ip;
use key_slot::{KeySlot, PendingKey};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use learned::Learned;
use operation::AdmissionOf;
use overlap::admit_beside;
use path::path_parameters;
use reply::{render_reply, stamp};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Runs one request through the pipeline and renders the response. Never
/// fails: every outcome is an HTTP response with `X-Request-Id`.
pub async fn handle<O: Operation<A>, A>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    kept: Arc<KeptFor<O, A>>,
    req: Request,
    op: O,
) -> Response<Body> {
    let started = Instant::now();
    let store = app.store.clone();
    let calls_before = store.call_totals();
    store.take_slowest_call();
    let request_id = RequestId::generate();
    let span = tracing::info_span!("request", requestId = %request_id);
    let surface = endpoint.surface_for(req.uri().path());
    // The portal's errors are pages; so is the catch-all's under `/portal`.
    let pages = endpoint.portal
        || (endpoint.docs.success.is_none() && req.uri().path().starts_with("/portal"));
    async move {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let shared = Arc::clone(&app);
        let cors = app.config.cors.clone().filter(|_| endpoint.browser);
        if let Some(cors) = &cors
            && req.method() == lambda_http::http::Method::OPTIONS
        {
            return stamp(cors.preflight(endpoint.method, req.headers()), request_id);
        }
        let request_headers = cors.as_ref().map(|_| req.headers().clone());
        let mut learned = Learned::default();
        let outcome = AssertUnwindSafe(run(app, endpoint, kept, request_id, req, op, &mut learned))
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
        let limit_headers = learned.metering.headers(outcome.as_ref().err());
        // The error's code on the request line: a refusal is explained
        // without matching log lines by request id.
        let error = outcome.as_ref().err().map(|e| e.code_on(surface));
        let mut response = match outcome {
            Ok(reply) => render_reply(reply),
            Err(err) if pages => {
                log_error(&err);
                crate::portal::page::error_response(&err, &request_id.to_string())
            }
            Err(err) => {
                log_error(&err);
                render_error(&err, surface, request_id)
            }
        };
        response.headers_mut().extend(limit_headers);
        if let (Some(cors), Some(headers)) = (&cors, &request_headers) {
            cors.decorate(headers, &mut response);
        }
        if endpoint.page {
            use lambda_http::http::header::{
                CACHE_CONTROL, HeaderValue, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
            };
            let headers = response.headers_mut();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if !endpoint.portal {
                // The portal's pages say their own ([`crate::portal::page`]).
                headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            }
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        }
        let response = stamp(response, request_id);
        let caller = learned.caller;
        if surface == Surface::Scim {
            let answer = (response.status().as_u16(), error.map(str::to_owned));
            record_scim_request(&shared, &caller, (method.clone(), path), answer, request_id).await;
        }
        // Per request while a function serves one request at a time (Lambda);
        // concurrent requests sharing a store (tests) blur these figures.
        let calls = store.call_totals().since(&calls_before);
        tracing::info!(
            target: "tether::request",
            method = %method,
            route = endpoint.path,
            function = endpoint.function,
            status = response.status().as_u16(),
            error,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            organization_id = caller.organization_id.map(|id| id.to_string()),
            credential_id = caller.credential_id.as_deref(),
            dynamodb_calls = calls.calls,
            dynamodb_read_units = calls.read_units,
            dynamodb_write_units = calls.write_units(),
            dynamodb_ms = calls.busy_micros as f64 / 1000.0,
            dynamodb_slowest_ms = store.take_slowest_call().as_secs_f64() * 1000.0,
            "request completed"
        );
        response
    }
    .instrument(span)
    .await
}

async fn run<O: Operation<A>, A>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    kept: Arc<KeptFor<O, A>>,
    request_id: RequestId,
    req: Request,
    op: O,
    learned: &mut Learned,
) -> Result<Reply, ApiError> {
    let source_ip = req
        .request_context_ref()
        .and_then(source_ip)
        .unwrap_or_else(|| "unknown".to_owned());
    let decides_itself = <O::Caller as Caller>::DECIDES_ITSELF;
    let path_params = match path_parameters(endpoint, &req) {
        Ok(params) => params,
        Err(err) => {
            // Refused before authentication, yet charged like any request
            // (SPEC §6): so a flood of malformed paths is throttled too.
            let incoming = Incoming {
                app: &app,
                endpoint,
                headers: req.headers(),
                path_params: &[],
                source_ip: &source_ip,
                decides_itself,
            };
            kept.admission.charge_malformed(incoming, learned).await?;
            return Err(err);
        }
    };
    let query = Query::from_request(&req);
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let raw_body = body_bytes(&body);
    let parts = Parts {
        app: Arc::clone(&app),
        request_id,
        headers: parts.headers,
        query,
        method,
        path,
        source_ip,
        endpoint,
        path_params,
    };
    // A read (GET) with a caller runs beside the limiter's write instead of
    // after it ([`overlap`]); its outcome is kept only if the request is
    // admitted and authorized at a version its caches were current at.
    let speculate = (app.config.reads_beside_limiter
        && endpoint.method == "GET"
        && endpoint.credential != Credential::None)
        .then(|| {
            let parts = parts.clone();
            let kept = Arc::clone(&kept);
            // Owned and boxed: the admission's future is checked `Send` at
            // every lifetime, which a future borrowing the request is not.
            let raw_body: Arc<[u8]> = Arc::from(raw_body);
            let speculation: overlap::Speculation<_> = Box::new(move |admitted| {
                Box::pin(async move {
                    let body = O::Body::from_body(&parts.headers, &raw_body)?;
                    let caller = O::Caller::new(parts.into_ctx(), admitted, Arc::default());
                    let uses = <O::Uses as Uses<O::Body>>::extract(&kept.uses, None);
                    op.call(caller, body, uses)
                        .instrument(operation_span(endpoint))
                        .await
                })
            });
            speculation
        });
    let incoming = Incoming {
        app: &app,
        endpoint,
        headers: &parts.headers,
        path_params: &parts.path_params,
        source_ip: &parts.source_ip,
        decides_itself,
    };
    let verified = Arc::clone(&learned.verified);
    // The body is parsed, and the operation's reads sent, while the
    // admission's round trip is out; the body's outcome — a 400/413/422
    // included — is only looked at after the admission and the decision,
    // where SPEC's order of refusals puts it.
    let reads_ahead = app.config.reads_beside_limiter;
    let (admission, beside) = admit_beside(
        kept.admission.admit(incoming, learned, speculate),
        &verified,
        &parts.headers,
        raw_body,
        |body| {
            reads_ahead
                .then(|| <O::Uses as Uses<O::Body>>::read_ahead(&app, body, &parts.path_params))
                .flatten()
        },
    )
    .await;
    let (admitted, speculated) = admission?;
    if let Some(speculated) = speculated {
        return speculated.outcome;
    }
    let body = match beside.body {
        Some(body) => body?,
        None => O::Body::from_body(&parts.headers, raw_body)?,
    };

    // Idempotency-Key (SPEC §9): claimed once the request is authenticated,
    // rate limited, authorized and its body valid, so a retry of the same
    // POST by the same principal gets the first response back.
    let authenticated = AdmissionOf::<O, A>::authenticated(&admitted);
    let pending = idempotency_request(
        kept.idempotency.as_ref(),
        &parts.headers,
        endpoint
            .portal
            .then(|| body::form_idempotency_key(raw_body))
            .flatten(),
        authenticated.as_ref(),
        (&parts.method, &parts.path, raw_body),
    )?;
    let slot = Arc::new(KeySlot::new(pending));
    let store = app.store.clone();
    // Every write of the operation names who made it (SPEC §15).
    let actor = authenticated.map_or_else(crate::store::actor::Actor::system, |who| {
        who.actor(request_id)
    });
    let caller = O::Caller::new(parts.into_ctx(), admitted, Arc::clone(&slot));
    if !decides_itself && let Some(replay) = slot.claim(&app).await? {
        return Ok(replay);
    }
    let uses = <O::Uses as Uses<O::Body>>::extract(&kept.uses, beside.brought);
    let operation = op
        .call(caller, body, uses)
        .instrument(operation_span(endpoint));
    let outcome = crate::store::actor::scope(actor, operation).await;
    if let Some(claim) = slot.take_claim() {
        let answer = (endpoint.surface, endpoint.portal);
        record_outcome(&store, &claim, &outcome, answer, request_id).await;
    }
    outcome
}

/// The span of an operation, named by its declaration: its Cedar action and
/// its function (not a copy of either beside the handler).
fn operation_span(endpoint: &Endpoint) -> tracing::Span {
    tracing::info_span!(
        "operation",
        action = endpoint.action,
        function = endpoint.function
    )
}

/// What a request brings to its operation's context.
#[derive(Clone)]
struct Parts {
    app: Arc<App>,
    request_id: RequestId,
    headers: HeaderMap,
    query: Query,
    method: String,
    path: String,
    source_ip: String,
    endpoint: &'static Endpoint,
    path_params: Vec<(&'static str, String)>,
}

impl Parts {
    fn into_ctx(self) -> Ctx {
        Ctx {
            app: self.app,
            request_id: self.request_id,
            headers: self.headers,
            query: self.query,
            method: self.method,
            path: self.path,
            source_ip: self.source_ip,
            endpoint: self.endpoint,
            path_params: self.path_params,
        }
    }
}

/// The scope, key and fingerprint of a POST that carries `Idempotency-Key`.
/// `secret` is the key records are derived under, kept by the functions
/// that take POSTs (`None`: this one does not).
/// A portal form's key (`from_form`) stands for the header: a form sent
/// twice — a double click, a reload — runs once and answers the same.
fn idempotency_request(
    secret: Option<&idempotency::Secret>,
    headers: &HeaderMap,
    from_form: Option<String>,
    authenticated: Option<&Authenticated>,
    (method, path, body): (&str, &str, &[u8]),
) -> Result<Option<PendingKey>, ApiError> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    // Present but unusable (repeated, not text, too long) is an error, not "absent".
    let mut values = headers.get_all(idempotency::HEADER).iter();
    let value = match (values.next(), &from_form) {
        (None, None) => return Ok(None),
        (None, Some(form_key)) => Some(form_key.as_str()),
        (Some(first), _) if values.next().is_none() => first.to_str().ok(),
        (Some(_), _) => None,
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
        secret: secret.clone(),
        scope: authenticated.idempotency_scope(),
        key,
        fingerprint: idempotency::fingerprint(method, path, body),
    }))
}

/// Stores the operation's response for replays — successes and errors alike,
/// 500s included (as Stripe does: a retry must not run twice what may have
/// half-run) — except 503, which tells the client to retry: the key is
/// released so the retry runs.
/// A portal form's error is stored as its page, so a replay is a page too.
async fn record_outcome(
    store: &crate::store::Store,
    claim: &idempotency::Claim,
    outcome: &Result<Reply, ApiError>,
    (surface, page): (Surface, bool),
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
        Err(err) if page => {
            let shown = crate::portal::page::error_response(err, &request_id.to_string());
            idempotency::StoredResponse {
                status: shown.status().as_u16(),
                body: match shown.body() {
                    Body::Text(text) => Some(text.clone()),
                    _ => None,
                },
                headers: shown
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            v.to_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            }
        }
        Err(err) => idempotency::StoredResponse {
            status: err.status_on(surface).as_u16(),
            body: Some(err.body_text(surface, &request_id.to_string())),
            headers: Vec::new(),
        },
    };
    if let Err(e) = idempotency::finish(store, claim, &stored).await {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
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

/// Records a SCIM request of a directory whose own token made it, for the
/// admin portal ([`crate::directories::requests`]). A failed write loses
/// the entry, never the answer.
async fn record_scim_request(
    app: &App,
    caller: &learned::LoggedCaller,
    request: (String, String),
    answer: (u16, Option<String>),
    request_id: RequestId,
) {
    let Some(directory) = caller.directory else {
        return;
    };
    use crate::directories::requests::{ScimRequest, record};
    let entry = ScimRequest::new(directory, request_id, request, answer, app.clock.now());
    if let Err(err) = record(&app.store, &entry).await {
        tracing::warn!(error = %err, "could not record a SCIM request");
    }
}
