//! An operation's signature is its contract with the pipeline: its first
//! argument is the caller context it serves ([`Caller`]), its second the
//! body it parses ([`FromBody`]), an optional third what else it uses
//! ([`Uses`]). The route table binds it once ([`bind`]); the endpoint's
//! credential, its body's schema, what its function loads at cold start and
//! whether the operation decides its action itself all come from these
//! types, so a declaration cannot disagree with its handler.

use super::admission::Admission;
use super::body::FromBody;
use super::callers::Caller;
use super::reply::Reply;
use super::uses::Uses;
use crate::app::{App, Missing};
use crate::endpoint::{Bound, Endpoint, Served, Service};
use crate::error::ApiError;
use crate::idempotency;
use lambda_http::Request;
use std::future::Future;
use std::sync::Arc;

/// An operation: `async fn(<context>, <body>[, <uses>]) -> Result<Reply, ApiError>`.
pub trait Operation<Args>: Copy + Send + Sync + 'static {
    /// The context it takes.
    type Caller: Caller;
    /// The body it parses.
    type Body: FromBody;
    /// What else it uses (`()`: nothing).
    type Uses: Uses<Self::Body>;

    /// Runs it.
    fn call(
        self,
        caller: Self::Caller,
        body: Self::Body,
        uses: Self::Uses,
    ) -> impl Future<Output = Result<Reply, ApiError>> + Send;
}

impl<F, Fut, C, B> Operation<(C, B)> for F
where
    F: FnOnce(C, B) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
    C: Caller,
    B: FromBody,
{
    type Caller = C;
    type Body = B;
    type Uses = ();

    fn call(
        self,
        caller: C,
        body: B,
        (): (),
    ) -> impl Future<Output = Result<Reply, ApiError>> + Send {
        self(caller, body)
    }
}

impl<F, Fut, C, B, U> Operation<(C, B, U)> for F
where
    F: FnOnce(C, B, U) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
    C: Caller,
    B: FromBody,
    U: Uses<B>,
{
    type Caller = C;
    type Body = B;
    type Uses = U;

    fn call(
        self,
        caller: C,
        body: B,
        uses: U,
    ) -> impl Future<Output = Result<Reply, ApiError>> + Send {
        self(caller, body, uses)
    }
}

/// The admission an operation's context takes.
pub(super) type AdmissionOf<O, A> = <<O as Operation<A>>::Caller as Caller>::Admission;

/// What a function instance keeps for an operation from its cold start:
/// the credential's verifier, what the operation uses, and — when it takes
/// POSTs — the key Idempotency-Key records are derived under.
#[derive(Debug)]
pub struct Kept<V, U> {
    pub(super) admission: V,
    pub(super) uses: U,
    pub(super) idempotency: Option<idempotency::Secret>,
}

/// [`Kept`] for operation `O`.
pub type KeptFor<O, A> =
    Kept<AdmissionOf<O, A>, <<O as Operation<A>>::Uses as Uses<<O as Operation<A>>::Body>>::Kept>;

/// Binds an operation for the route table: what its types imply, and
/// `start`, which builds a function's service for it.
pub const fn bind<O: Operation<A>, A>(_: &O, start: crate::endpoint::Start) -> Bound {
    Bound {
        start,
        credential: <AdmissionOf<O, A> as Admission>::CREDENTIAL,
        body: <O::Body as FromBody>::SCHEMA,
        needs: <AdmissionOf<O, A> as Admission>::NEEDS.and(<O::Uses as Uses<O::Body>>::NEEDS),
        decides_itself: <O::Caller as Caller>::DECIDES_ITSELF,
    }
}

/// Takes from the function's state what `endpoint`'s operation `O` uses:
/// a function that lacks it does not start.
pub fn keep<O: Operation<A>, A>(
    app: &App,
    endpoint: &'static Endpoint,
) -> Result<Arc<KeptFor<O, A>>, Missing> {
    let missing = || Missing {
        function: endpoint.function,
        needs: endpoint.needs,
    };
    let idempotency = if endpoint.needs.idempotency_key {
        Some(app.idempotency.clone().ok_or_else(missing)?)
    } else {
        None
    };
    Ok(Arc::new(Kept {
        admission: AdmissionOf::<O, A>::keep(app).ok_or_else(missing)?,
        uses: <O::Uses as Uses<O::Body>>::keep(app).ok_or_else(missing)?,
        idempotency,
    }))
}

/// Serves one request with what the function keeps (`K`): the operation's
/// pipeline, boxed where its types are concrete (the route table's `op!`).
pub type Serve<K> = fn(Arc<App>, &'static Endpoint, Arc<K>, Request) -> Served;

/// Builds the service of `endpoint` for operation `op` from the function's
/// state ([`keep`]), serving each request with `serve`.
pub fn start<O: Operation<A>, A>(
    app: Arc<App>,
    endpoint: &'static Endpoint,
    _: O,
    serve: Serve<KeptFor<O, A>>,
) -> Result<Service, Missing> {
    let kept = keep::<O, A>(&app, endpoint)?;
    Ok(Box::new(move |req| {
        serve(Arc::clone(&app), endpoint, Arc::clone(&kept), req)
    }))
}
