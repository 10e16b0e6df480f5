//! The one request pipeline every function runs, in this order:
//! request id → path parameters → authenticate → rate limit (slot) →
//! authorize → body → Idempotency-Key → operation → render → one log line.
//! That is the order of the answers; the work overlaps where it is pure or
//! discarded when refused: a read runs beside the limiter's write, and the
//! decision and the body's parse are computed while that write is out.
//!
//! A panic or unexpected error anywhere becomes a 500 `internal_error` with
//! the request id and nothing internal in the body. One module per concern:
//! [`path`] parameters, [`credentials`] (who is calling, and which bucket
//! pays; [`services`] for external services), [`authorize`] (the Cedar decision), [`context`] (what an operation
//! gets), [`body`] and [`query`] parsing, [`metering`] (limits and quota
//! headers), [`reply`] (rendering), [`read_ahead`] (a write's first reads
//! beside its admission); this file runs them in order and logs.

mod authorize;
pub mod body;
mod callers;
mod context;
mod credentials;
mod metering;
mod numbers;
mod path;
pub mod query;
mod read_ahead;
mod reply;
mod services;
mod speculation;
mod tenant;

pub use crate::parse::{JsonObject, NoFields, ParseBody};
pub use body::{FromBody, Json, NoBody};
pub use callers::{Caller, OrgCtx, ServiceCtx, UserCtx};
pub use context::{Authenticated, Ctx};
pub use credentials::Header;
pub(crate) use path::param;
pub use query::Query;
pub use reply::{JSON_CONTENT_TYPE, REQUEST_ID_HEADER, Reply, render_error};

use crate::app::App;
use crate::endpoint::{Credential, Endpoint};
use crate::error::{ApiError, Surface};
use crate::idempotency;
use crate::ids::{OrganizationId, RequestId};
use context::{KeySlot, PendingKey};
use credentials::{Admitted, admit, charge_malformed, source_ip};
use futures_util::FutureExt;
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use path::path_parameters;
use reply::{render_reply, stamp};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Instant;
use tracing::Instrument;

/// What the request log line reports about the caller.
#[derive(Debug, Default)]
struct LoggedCaller {
    organization_id: Option<OrganizationId>,
    credential_id: Option<String>,
}

/// What the pipeline learns on the way that the response and the log need,
/// whatever the outcome.
#[derive(Debug, Default)]
struct Trace {
    caller: LoggedCaller,
    metering: metering::Metering,
    /// Set once the caller's credential is verified: only then is the body
    /// read before the admission is decided (an unknown key does not get
    /// a policy text parsed for it).
    verified: Arc<AtomicBool>,
}

/// Runs one request through the pipeline and renders the response. Never
/// fails: every outcome is an HTTP response with `X-Request-Id`.
pub async fn handle<C, B, F, Fut>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    req: Request,
    op: F,
) -> Response<Body>
where
    C: Caller,
    B: FromBody,
    F: FnOnce(C, B) -> Fut + Copy,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let started = Instant::now();
    let store = app.store.clone();
    let calls_before = store.call_totals();
    store.take_slowest_call();
    let request_id = RequestId::generate();
    let span = tracing::info_span!("request", requestId = %request_id);
    async move {
        let method = req.method().to_string();
        let cors = app.config.cors.clone().filter(|_| endpoint.browser);
        if let Some(cors) = &cors
            && req.method() == lambda_http::http::Method::OPTIONS
        {
            return stamp(cors.preflight(endpoint.method, req.headers()), request_id);
        }
        let request_headers = cors.as_ref().map(|_| req.headers().clone());
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
        // The error's code on the request line: a refusal is explained
        // without matching log lines by request id.
        let error = outcome.as_ref().err().map(|e| e.code_on(endpoint.surface));
        let mut response = match outcome {
            Ok(reply) => render_reply(reply),
            Err(err) => {
                log_error(&err);
                render_error(&err, endpoint.surface, request_id)
            }
        };
        response.headers_mut().extend(limit_headers);
        if let (Some(cors), Some(headers)) = (&cors, &request_headers) {
            cors.decorate(headers, &mut response);
        }
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

async fn run<C, B, F, Fut>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    request_id: RequestId,
    req: Request,
    op: F,
    trace: &mut Trace,
) -> Result<Reply, ApiError>
where
    C: Caller,
    B: FromBody,
    F: FnOnce(C, B) -> Fut + Copy,
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

    let raw_body = body_bytes(&body);
    // A read (GET) with a caller runs beside the limiter's write instead of
    // after it: one round trip of latency instead of two. Its
    // outcome is kept only if the request is admitted and authorized at a
    // version its caches were current at; otherwise it is run again below.
    let parts = Parts {
        app: Arc::clone(&app),
        request_id,
        headers,
        query,
        method,
        path,
        source_ip,
        endpoint,
        path_params,
    };
    let speculate = (app.config.reads_beside_limiter
        && endpoint.method == "GET"
        && endpoint.credential != Credential::None)
        .then(|| {
            let parts = parts.clone();
            move |admitted: Admitted| async move {
                let input = B::from_body(&parts.headers, raw_body)?;
                let ctx =
                    C::from_ctx(parts.into_ctx(admitted, Arc::new(KeySlot::new(None)), None))?;
                op(ctx, input).instrument(operation_span(endpoint)).await
            }
        });
    // The body is read while the admission's round trip is out: it is pure,
    // and its outcome — a 400/413/422 included — is only looked at after the
    // admission and the decision, where SPEC's order of refusals puts it.
    let verified = Arc::clone(&trace.verified);
    let (admitted, speculated, early_input, ahead) = {
        let admitting = admit(
            &app,
            endpoint,
            &parts.headers,
            &parts.path_params,
            &parts.source_ip,
            trace,
            speculate,
        );
        let mut admitting = std::pin::pin!(admitting);
        // Polled once by hand: when it is already decided, nothing is read early.
        let first = std::future::poll_fn(|cx| Poll::Ready(admitting.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(admission) => {
                let (admitted, speculated) = admission?;
                (admitted, speculated, None, None)
            }
            Poll::Pending => {
                let verified = verified.load(Ordering::Relaxed);
                let early = parse_early::<B>(verified, &parts.headers, raw_body).await;
                // A body read early may start the operation's reads too
                // (not with the kill switch of reads beside the limiter).
                let reading = endpoint
                    .read_ahead
                    .filter(|_| app.config.reads_beside_limiter)
                    .zip(early.as_ref().and_then(|e| e.as_ref().ok()))
                    .and_then(|(hook, input)| hook(&app, input, &parts.path_params));
                let (admission, brought) =
                    tokio::join!(admitting, futures_util::future::OptionFuture::from(reading));
                let (admitted, speculated) = admission?;
                (admitted, speculated, early, brought)
            }
        }
    };
    if let Some(speculated) = speculated {
        return speculated.outcome;
    }

    let input = match early_input {
        Some(input) => input?,
        None => B::from_body(&parts.headers, raw_body)?,
    };

    // Idempotency-Key (SPEC §9): claimed once the request is authenticated,
    // rate limited, authorized and its body valid, so a retry of the same
    // POST by the same principal gets the first response back.
    let authenticated = admitted.authenticated.as_ref();
    let pending = idempotency_request(
        endpoint,
        &parts.headers,
        authenticated,
        &parts.method,
        &parts.path,
        raw_body,
    )?;
    let slot = Arc::new(KeySlot::new(pending));
    let store = app.store.clone();
    let actor = actor_of(authenticated, request_id);
    let ctx = C::from_ctx(parts.into_ctx(admitted, Arc::clone(&slot), ahead))?;
    if !endpoint.authorize_after_body
        && let Some(replay) = slot.claim(&app).await?
    {
        return Ok(replay);
    }
    // Every write of the operation names who made it (SPEC §15).
    let outcome =
        crate::store::actor::scope(actor, op(ctx, input).instrument(operation_span(endpoint)))
            .await;
    if let Some(claim) = slot.take_claim() {
        record_outcome(&store, &claim, &outcome, endpoint.surface, request_id).await;
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

/// Reads the body while the admission is out, after yielding once so the
/// calls just begun reach the wire first (on Lambda's one thread, the SDK's
/// connection tasks run only when this task yields). `None` — read after the
/// admission, as before — when there is no body to read; when the caller's
/// credential is not verified yet (an unknown or forged key costs no parse:
/// a policy text's is milliseconds); or while the Cedar engine is still
/// being built on its own thread (a policy body is validated by it, and
/// waiting for the build here would hold up a cold start's handshakes).
/// A verified caller refused a 429 or 403 had its body read for nothing: at
/// most [`body::MAX_BODY_BYTES`], charged to its own bucket.
async fn parse_early<B: FromBody>(
    verified: bool,
    headers: &HeaderMap,
    raw_body: &[u8],
) -> Option<Result<B, ApiError>> {
    if B::SCHEMA.is_none() || !verified || !crate::authz::engine_is_built() {
        return None;
    }
    tokio::task::yield_now().await;
    Some(B::from_body(headers, raw_body))
}

/// What a request brings to its operation's context besides its admission.
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
    fn into_ctx(
        self,
        admitted: Admitted,
        idempotency: Arc<KeySlot>,
        ahead: Option<crate::endpoint::Brought>,
    ) -> Ctx {
        Ctx {
            app: self.app,
            request_id: self.request_id,
            authenticated: admitted.authenticated,
            organization: admitted.organization,
            current: admitted.current,
            policies: admitted.policies,
            headers: self.headers,
            query: self.query,
            method: self.method,
            path: self.path,
            source_ip: self.source_ip,
            endpoint: self.endpoint,
            path_params: self.path_params,
            idempotency,
            read_ahead: read_ahead::Slot::new(ahead),
        }
    }
}

/// The actor stamped on the operation's writes: its authenticated principal
/// (public endpoints change nothing).
fn actor_of(
    authenticated: Option<&Authenticated>,
    request_id: RequestId,
) -> crate::store::actor::Actor {
    let (kind, id) = match authenticated {
        Some(Authenticated::ApiKey(key)) => ("api_key", key.api_key_id.to_string()),
        Some(Authenticated::EndUser { user, .. }) => ("end_user", user.to_string()),
        Some(Authenticated::ExternalService(service)) => {
            ("external_service", service.id.to_string())
        }
        None => return crate::store::actor::Actor::system(),
    };
    crate::store::actor::Actor {
        kind,
        id,
        request: request_id.to_string(),
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
