//! How a caller is admitted: the credential an operation's context takes
//! ([`super::callers::Caller::Admission`]), what its function keeps to verify
//! it, and what an admission hands the operation. The implementations are
//! [`super::keys_and_tokens`] (an organization's API keys and its end users'
//! access tokens), [`super::services`] (external services' tokens) and
//! [`Public`] here.

use super::learned::Learned;
use super::overlap::{Speculated, Speculation};
use super::principal::Authenticated;
use crate::app::{App, Needs};
use crate::endpoint::{Credential, Endpoint};
use crate::error::ApiError;
use lambda_http::http::HeaderMap;
use std::future::Future;

/// A request as its admission sees it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The function's state.
    pub(super) app: &'a App,
    /// The endpoint called.
    pub(super) endpoint: &'static Endpoint,
    /// The request's headers.
    pub(super) headers: &'a HeaderMap,
    /// Its path parameters, checked.
    pub(super) path_params: &'a [(&'static str, String)],
    /// The caller's address.
    pub(super) source_ip: &'a str,
    /// The operation decides its action itself, once it has its body
    /// ([`super::callers::Undecided`]): the admission only authenticates
    /// and charges.
    pub(super) decides_itself: bool,
}

/// A kind of credential, and the admission of a request that presents it:
/// authenticate (401), charge its owner's bucket (429), make sure nothing it
/// was judged by is older than its owner's version (SPEC §5) and — unless
/// the operation decides itself — authorize the endpoint's action (403).
pub trait Admission: Sized + Send + Sync + 'static {
    /// The credential.
    const CREDENTIAL: Credential;
    /// What the function loads at cold start to verify it.
    const NEEDS: Needs;
    /// What an admitted request hands its operation's context.
    type Admitted: Send + 'static;

    /// The verifier, from the function's state; `None`: it lacks what
    /// [`Self::NEEDS`] names, and does not start.
    fn keep(app: &App) -> Option<Self>;

    /// The caller, as the decision and the Idempotency-Key's scope see it.
    fn authenticated(admitted: &Self::Admitted) -> Option<Authenticated>;

    /// Admits a request, running `speculate` — the operation, as a GET —
    /// beside the limiter's write when it can ([`super::overlap`]).
    fn admit(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
        speculate: Option<Speculation<Self::Admitted>>,
    ) -> impl Future<Output = Result<(Self::Admitted, Option<Speculated>), ApiError>>;

    /// Charges a request refused for its path before authentication (SPEC
    /// §6): to the owner of its credential when that is valid, else to its
    /// source IP.
    fn charge_malformed(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
    ) -> impl Future<Output = Result<(), ApiError>>;
}

/// No credential: public endpoints and the not-found catch-all, charged to
/// the source IP.
#[derive(Debug, Clone, Copy)]
pub struct Public;

impl Admission for Public {
    const CREDENTIAL: Credential = Credential::None;
    const NEEDS: Needs = Needs::NONE;
    type Admitted = ();

    fn keep(_: &App) -> Option<Self> {
        Some(Self)
    }

    fn authenticated((): &()) -> Option<Authenticated> {
        None
    }

    async fn admit(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
        _: Option<Speculation<()>>,
    ) -> Result<((), Option<Speculated>), ApiError> {
        self.charge_malformed(request, learned).await?;
        Ok(((), None))
    }

    async fn charge_malformed(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
    ) -> Result<(), ApiError> {
        learned
            .metering
            .charge_source_ip(request.app, request.source_ip.to_owned())
            .await
    }
}
