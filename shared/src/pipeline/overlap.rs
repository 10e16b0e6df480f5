//! Where the pipeline overlaps work with the limiter's write, and why its
//! answers are still those of the order in [`super`].
//!
//! Every authenticated request waits one round trip for its limiter write
//! (SPEC §6). Four things run during it instead of after it, each pure or
//! discarded when the write refuses or outdates what it assumed:
//!
//! - **The decision** ([`foresee`]): Cedar's CPU, with the caller and the
//!   policies as cached. It stands when the write admits the request at a
//!   version no newer than theirs; otherwise it is taken again.
//! - **The body's parse** ([`parse_early`]): pure, and looked at only after
//!   the admission and the decision, where the order of refusals puts it.
//!   Only for a verified caller: an unknown key gets nothing parsed.
//! - **A read** ([`run`], [`Speculated`]): a GET's whole operation, judged
//!   by the caches as they are, started once the foreseen decision admits
//!   it (SPEC §4: a refused caller costs no read of the operation's). Its
//!   outcome stands when the write admits at a version no newer; otherwise
//!   it is discarded and the operation runs again.
//! - **A write's first reads** ([`ReadAhead`], [`Early`]): an operation may
//!   name the reads it starts from; sent beside the write once the body is
//!   parsed. The write itself follows the admission (a refused request
//!   writes nothing).
//!
//! A refused request discards what was read: its capacity is the price of
//! the saved round trip. Nothing is started while the caller's bucket was
//! last seen empty. `TETHER_READS_BESIDE_LIMITER=false` turns the reads off.

use super::body::FromBody;
use super::decision::{decide, resource_of};
use super::principal::Authenticated;
use super::reply::Reply;
use crate::app::App;
use crate::authz;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use lambda_http::http::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

/// An operation run beside the limiter's write, and the version it was
/// judged at: its outcome stands when the write admitted the request at a
/// version no newer (nothing the caches held had changed).
#[derive(Debug)]
pub struct Speculated {
    pub(super) version: crate::freshness::Version,
    /// What the operation answered.
    pub(super) outcome: Result<Reply, ApiError>,
}

/// An operation an admission may run beside its limiter's write, given the
/// admission it would get if nothing cached had changed.
pub type Speculation<A> = Box<dyn FnOnce(A) -> Reading<Result<Reply, ApiError>> + Send>;

/// Runs the guessed operation, if any, to its outcome.
pub(super) async fn run(
    guess: Option<(crate::freshness::Version, Reading<Result<Reply, ApiError>>)>,
) -> Option<Speculated> {
    let (version, operation) = guess?;
    Some(Speculated {
        version,
        outcome: operation.await,
    })
}

/// A decision taken while the request's limiter write is in flight, with the
/// caller and the policies as this function holds them:
/// its CPU runs during the round trip instead of after it. It stands when the
/// write admits the request at a version no newer than `version` — then the
/// caller and the policies are exactly those the decision after the write
/// would take — and is taken again otherwise.
#[derive(Debug)]
pub(super) struct Foreseen {
    /// The oldest version the caller and the policies were current at.
    version: crate::freshness::Version,
    outcome: Result<(), ApiError>,
}

impl Foreseen {
    /// Whether the decision, as foreseen, admits the request.
    pub(super) fn admits(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The decision, if it holds at `current`.
    pub(super) fn at(self, current: crate::freshness::Current) -> Option<Result<(), ApiError>> {
        (current.version <= self.version).then_some(self.outcome)
    }
}

/// Decides `endpoint`'s action for `authenticated` as cached at `version`,
/// without reading anything: `None` when the policies are not in hand, or
/// the Cedar engine is still being built (a cold start: waiting for it here
/// would hold up the round trip's TLS handshakes on this thread).
pub(super) fn foresee(
    app: &App,
    endpoint: &Endpoint,
    authenticated: &Authenticated,
    path_params: &[(&'static str, String)],
    source_ip: &str,
    version: crate::freshness::Version,
    read: Option<&authz::ReadPolicies>,
) -> Option<Foreseen> {
    if !authz::engine_is_built() {
        return None;
    }
    let resource = resource_of(endpoint, authenticated, path_params);
    let policies = match &resource {
        authz::Resource::Organization(org)
        | authz::Resource::EndUser {
            organization: org, ..
        } => authz::policies_in_hand(app, *org, version, read)?,
        authz::Resource::ExternalService(_) => None,
    };
    // Policies naming groups need the end user's, a read: decided after the
    // limiter's write, not foreseen.
    if policies
        .as_deref()
        .is_some_and(authz::OrgPolicies::names_groups)
        && super::decision::end_user_of(authenticated, &resource).is_some()
    {
        return None;
    }
    let outcome = decide(
        endpoint,
        authenticated,
        resource,
        source_ip,
        None,
        policies.as_deref(),
    );
    // Cached policies came only if current at `version`, hence at any
    // version the write may return that is no newer.
    Some(Foreseen { version, outcome })
}

/// What ran beside the admission: the body, if it was parsed early, and
/// what the operation's reads brought, if they were sent.
pub(super) struct Beside<B, R> {
    pub(super) body: Option<Result<B, ApiError>>,
    pub(super) brought: Option<R>,
}

/// Runs the admission; while its round trip is out, parses the body and
/// starts the operation's reads (`read_ahead`, given the parsed body).
pub(super) async fn admit_beside<A, B, R>(
    admitting: A,
    verified: &AtomicBool,
    headers: &HeaderMap,
    raw_body: &[u8],
    read_ahead: impl FnOnce(&B) -> Option<Reading<R>>,
) -> (A::Output, Beside<B, R>)
where
    A: Future,
    B: FromBody,
{
    let mut admitting = std::pin::pin!(admitting);
    // Polled once by hand: when it is already decided, nothing is read early.
    let first = std::future::poll_fn(|cx| Poll::Ready(admitting.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(admission) => (
            admission,
            Beside {
                body: None,
                brought: None,
            },
        ),
        Poll::Pending => {
            let early = parse_early::<B>(verified.load(Ordering::Relaxed), headers, raw_body).await;
            let reading = early
                .as_ref()
                .and_then(|parsed| parsed.as_ref().ok())
                .and_then(read_ahead);
            let (admission, brought) =
                tokio::join!(admitting, futures_util::future::OptionFuture::from(reading));
            (
                admission,
                Beside {
                    body: early,
                    brought,
                },
            )
        }
    }
}

/// Reads the body while the admission is out, after yielding once so the
/// calls just begun reach the wire first (on Lambda's one thread, the SDK's
/// connection tasks run only when this task yields). `None` — read after the
/// admission — when there is no body to read; when the caller's credential
/// is not verified yet (an unknown or forged key costs no parse: a policy
/// text's is milliseconds); or while the Cedar engine is still being built
/// on its own thread (a policy body is validated by it, and waiting for the
/// build here would hold up a cold start's handshakes). A verified caller
/// refused a 429 or 403 had its body read for nothing: at most
/// [`super::body::MAX_BODY_BYTES`], charged to its own bucket.
async fn parse_early<B: FromBody>(
    verified: bool,
    headers: &HeaderMap,
    raw_body: &[u8],
) -> Option<Result<B, ApiError>> {
    if B::SCHEMA.is_none() || !verified || !authz::engine_is_built() {
        return None;
    }
    tokio::task::yield_now().await;
    Some(B::from_body(headers, raw_body))
}

/// Reads started beside the admission.
pub type Reading<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The reads an operation starts from, when its body and path name them:
/// what an operation taking [`Early<Self>`] gets brought.
pub trait ReadAhead<B>: Sized + Send + 'static {
    /// The reads for `body` and the path's parameters; `None` when there are
    /// none to make (a body naming nothing readable, a bucket seen empty).
    fn start(app: &Arc<App>, body: &B, path: &[(&'static str, String)]) -> Option<Reading<Self>>;
}

/// What an operation's reads brought beside its admission — `None` when
/// they were not sent early, and the operation reads itself.
#[derive(Debug)]
pub struct Early<T>(pub Option<T>);
