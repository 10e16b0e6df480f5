//! The context an operation takes names the credential it serves, and the
//! route table derives the endpoint's credential from it: an
//! organization-API operation takes [`OrgCtx`] (an API key of `org`, its
//! organization record), a user-API one [`UserCtx`] (`user` of `org`), an
//! external-service one [`ServiceCtx`], a public one [`Ctx`] itself. What
//! cannot be absent is not an `Option`. Each dereferences to [`Ctx`].
//!
//! An operation whose decision needs its body (the identity being linked)
//! takes [`Undecided`]: it has no way to the request's state but
//! [`Undecided::decide`], so it cannot act undecided.

use super::admission::{Admission, Public};
use super::context::{Ctx, Judged};
use super::directory_tokens::DirectoryTokens;
use super::key_slot::KeySlot;
use super::keys_and_tokens::{AccessTokens, ApiKeys, OrgAdmitted};
use super::portal_sessions::PortalSessions;
use super::principal::{Authenticated, TokenHolder};
use super::reply::Reply;
use super::services::{ServiceAdmitted, ServiceTokens};
use crate::authz;
use crate::error::ApiError;
use crate::external_services::ServicePrincipal;
use crate::freshness::Current;
use crate::ids::{EndUserId, OrganizationId};
use crate::organizations::Organization;
use crate::portal::PortalPrincipal;
use std::ops::Deref;
use std::sync::Arc;

/// A context an operation can take.
pub trait Caller: Sized + Send + 'static {
    /// How its caller is admitted (its credential).
    type Admission: Admission;
    /// The operation decides its action itself, once it has its body.
    const DECIDES_ITSELF: bool = false;

    /// The context of an admitted request.
    fn new(
        ctx: Ctx,
        admitted: <Self::Admission as Admission>::Admitted,
        slot: Arc<KeySlot>,
    ) -> Self;
}

impl Caller for Ctx {
    type Admission = Public;

    fn new(ctx: Ctx, (): (), _: Arc<KeySlot>) -> Self {
        ctx
    }
}

/// A context of an authenticated caller: the request and what it was judged by.
pub trait Decidable: Caller {
    /// The request, and what its admission was judged by.
    fn parts(&self) -> (&Ctx, &Judged);
}

/// The checks an authenticated operation makes on what it loaded.
macro_rules! authenticated_context {
    ($context:ty) => {
        impl Deref for $context {
            type Target = Ctx;

            fn deref(&self) -> &Ctx {
                &self.ctx
            }
        }

        impl Decidable for $context {
            fn parts(&self) -> (&Ctx, &Judged) {
                (&self.ctx, &self.judged)
            }
        }

        impl $context {
            /// Decides the endpoint's action again on the stored object the
            /// operation loaded ([`Judged::check_stored`]): another
            /// organization's is not found.
            pub fn check_stored(
                &self,
                stored: authz::Resource,
                resource: &'static str,
            ) -> Result<(), ApiError> {
                self.judged.check_stored(&self.ctx, stored, resource)
            }

            /// [`Self::check_stored`] for an organization-level object (a
            /// provider, an endpoint, a connect token, a relation) of
            /// `organization`.
            pub fn check_stored_in(
                &self,
                organization: OrganizationId,
                resource: &'static str,
            ) -> Result<(), ApiError> {
                self.check_stored(authz::Resource::Organization(organization), resource)
            }

            /// The owner's version as of this request's limiter write, for
            /// the caches an operation reads through ([`crate::freshness`]).
            pub fn current(&self) -> Current {
                self.judged.current
            }
        }
    };
}

/// An organization-API request: authenticated with an API key.
#[derive(Debug)]
pub struct OrgCtx {
    ctx: Ctx,
    judged: Judged,
    /// The key's organization: every key the request touches derives from it.
    pub org: OrganizationId,
    /// Its record (plan, limits), as the pipeline loaded it.
    pub organization: Organization,
    /// The key (what it mints, such as a portal link, names it).
    pub api_key_id: crate::ids::ApiKeyId,
}

impl Caller for OrgCtx {
    type Admission = ApiKeys;

    fn new(
        ctx: Ctx,
        admitted: OrgAdmitted<crate::auth::ApiKeyPrincipal>,
        slot: Arc<KeySlot>,
    ) -> Self {
        Self {
            org: admitted.principal.organization_id,
            organization: admitted.organization,
            api_key_id: admitted.principal.api_key_id,
            judged: Judged {
                authenticated: Authenticated::ApiKey(admitted.principal),
                current: admitted.current,
                policies: admitted.policies,
                slot,
            },
            ctx,
        }
    }
}

authenticated_context!(OrgCtx);

impl OrgCtx {
    /// Decides `action` — one the endpoint declares it also decides
    /// ([`crate::endpoint::Endpoint::also_actions`]) — on the same principal
    /// and resource as the endpoint's own, with the organization's policies:
    /// for a request that asks for what it guards.
    pub async fn authorize_also(&self, action: &'static str) -> Result<(), ApiError> {
        debug_assert!(self.ctx.endpoint.also_actions.contains(&action));
        self.judged.decide_also(&self.ctx, action).await
    }
}

/// A SCIM request (SPEC §18): a directory's client with its token, the
/// directory its path names.
#[derive(Debug)]
pub struct ScimCtx {
    ctx: Ctx,
    judged: Judged,
    /// The directory's organization.
    pub org: OrganizationId,
    /// The directory (its path's, checked by the pipeline).
    pub directory: crate::ids::DirectoryId,
    /// The organization's record (plan, limits), as the pipeline loaded it.
    pub organization: Organization,
}

impl Caller for ScimCtx {
    type Admission = DirectoryTokens;

    fn new(
        ctx: Ctx,
        admitted: OrgAdmitted<crate::directories::DirectoryPrincipal>,
        slot: Arc<KeySlot>,
    ) -> Self {
        Self {
            org: admitted.principal.organization_id,
            directory: admitted.principal.directory_id,
            organization: admitted.organization,
            judged: Judged {
                authenticated: Authenticated::Directory(admitted.principal),
                current: admitted.current,
                policies: admitted.policies,
                slot,
            },
            ctx,
        }
    }
}

authenticated_context!(ScimCtx);

/// A caller changing an organization's settings — an admin API key or an
/// admin-portal session: the operations both offer (a provider, a
/// directory, a webhook endpoint) take it, so the two cannot drift apart.
pub trait OrgSettings: Deref<Target = Ctx> + Send + Sync {
    /// The organization acted for.
    fn org(&self) -> OrganizationId;

    /// Its record (plan, limits, caps).
    fn organization(&self) -> &Organization;

    /// Decides the request's action again on a stored object of
    /// `organization`: another organization's is not found.
    fn check_stored_in(
        &self,
        organization: OrganizationId,
        resource: &'static str,
    ) -> Result<(), ApiError>;

    /// Decides `action`, one the request also needs when it asks for what
    /// the action guards (a provider's `login`).
    fn authorize_also(
        &self,
        action: &'static str,
    ) -> impl std::future::Future<Output = Result<(), ApiError>> + Send;
}

impl OrgSettings for OrgCtx {
    fn org(&self) -> OrganizationId {
        self.org
    }

    fn organization(&self) -> &Organization {
        &self.organization
    }

    fn check_stored_in(
        &self,
        organization: OrganizationId,
        resource: &'static str,
    ) -> Result<(), ApiError> {
        OrgCtx::check_stored_in(self, organization, resource)
    }

    async fn authorize_also(&self, action: &'static str) -> Result<(), ApiError> {
        OrgCtx::authorize_also(self, action).await
    }
}

impl OrgSettings for PortalCtx {
    fn org(&self) -> OrganizationId {
        self.org
    }

    fn organization(&self) -> &Organization {
        &self.organization
    }

    fn check_stored_in(
        &self,
        organization: OrganizationId,
        resource: &'static str,
    ) -> Result<(), ApiError> {
        PortalCtx::check_stored_in(self, organization, resource)
    }

    /// The portal's own action (`portal.sso.configure`, …), decided for
    /// the request, is what guards each of its changes.
    async fn authorize_also(&self, _: &'static str) -> Result<(), ApiError> {
        Ok(())
    }
}

/// An admin-portal request (SPEC §19): an IT admin's browser with its
/// session, acting for the session's organization on the views its intent
/// opens.
#[derive(Debug)]
pub struct PortalCtx {
    ctx: Ctx,
    judged: Judged,
    /// The session's organization.
    pub org: OrganizationId,
    /// The session.
    pub session: PortalPrincipal,
    /// The organization's record (plan, limits), as the pipeline loaded it.
    pub organization: Organization,
}

impl Caller for PortalCtx {
    type Admission = PortalSessions;

    fn new(ctx: Ctx, admitted: OrgAdmitted<PortalPrincipal>, slot: Arc<KeySlot>) -> Self {
        Self {
            org: admitted.principal.organization_id,
            session: admitted.principal.clone(),
            organization: admitted.organization,
            judged: Judged {
                authenticated: Authenticated::Portal(admitted.principal),
                current: admitted.current,
                policies: admitted.policies,
                slot,
            },
            ctx,
        }
    }
}

authenticated_context!(PortalCtx);

impl PortalCtx {
    /// The fields of a form the session's page sent: only once its CSRF
    /// token is the session's and the browser, when it names the page's
    /// origin, names this deployment's — the only way to a form's fields,
    /// so no write can skip the check.
    pub fn fields(&self, form: super::body::Form) -> Result<super::body::Fields, ApiError> {
        let base = &self.ctx.app.config.public_base_url;
        let origin_ok = match self.ctx.header("origin") {
            super::header::Header::Absent => true,
            super::header::Header::One(origin) => base.same_origin(origin),
            super::header::Header::Unusable => false,
        };
        form.checked(&self.session.csrf, origin_ok)
    }
}

/// A user-API request: an end user with its access token.
#[derive(Debug)]
pub struct UserCtx {
    ctx: Ctx,
    judged: Judged,
    /// The end user.
    pub user: EndUserId,
    /// Its organization.
    pub org: OrganizationId,
    /// The token's generation: the operation checks it against the end
    /// user's, which it reads anyway (SPEC §5, revocation).
    pub token_generation: u64,
}

impl Caller for UserCtx {
    type Admission = AccessTokens;

    fn new(ctx: Ctx, admitted: OrgAdmitted<TokenHolder>, slot: Arc<KeySlot>) -> Self {
        let holder = admitted.principal;
        Self {
            user: holder.user,
            org: holder.organization,
            token_generation: holder.generation,
            judged: Judged {
                authenticated: Authenticated::EndUser(holder),
                current: admitted.current,
                policies: admitted.policies,
                slot,
            },
            ctx,
        }
    }
}

authenticated_context!(UserCtx);

/// An external-service-API request: a service with its token.
#[derive(Debug)]
pub struct ServiceCtx {
    ctx: Ctx,
    judged: Judged,
    /// The service (its path's, checked by the pipeline).
    pub service: ServicePrincipal,
    /// The organization its path names, as this request read it (plan,
    /// limits); `None` on the service's own routes.
    pub organization: Option<Organization>,
}

impl Caller for ServiceCtx {
    type Admission = ServiceTokens;

    fn new(ctx: Ctx, admitted: ServiceAdmitted, slot: Arc<KeySlot>) -> Self {
        Self {
            service: admitted.principal.clone(),
            organization: admitted.organization,
            judged: Judged {
                authenticated: Authenticated::ExternalService(admitted.principal),
                current: admitted.current,
                policies: None,
                slot,
            },
            ctx,
        }
    }
}

authenticated_context!(ServiceCtx);

impl ServiceCtx {
    /// Decides this endpoint's action on organization `org` with the
    /// policies the operation read for it: for a service once it knows the
    /// organization (the claim reads them with the connect token).
    pub fn authorize_for_organization(
        &self,
        org: OrganizationId,
        policies: Option<&authz::OrgPolicies>,
    ) -> Result<(), ApiError> {
        self.judged.decide_on_organization(&self.ctx, org, policies)
    }
}

/// A context before its decision: the caller is admitted and its body
/// parsed, and the endpoint's action is decided by [`Self::decide`] with
/// what the body names — the only way to the context inside.
///
/// ```
/// use tether::pipeline::{Decided, Json, NoFields, OrgCtx, Reply, Undecided};
/// # use tether::authz::IdentityContext;
/// async fn link(ctx: Undecided<OrgCtx>, _: Json<NoFields>) -> Result<Reply, tether::ApiError> {
///     # let identity = IdentityContext { identity_provider_id: String::new(), external_id: String::new(), external_email: None, external_username: None, external_email_verified: false };
///     let ctx = match ctx.decide(async |_: &OrgCtx| Ok((identity, ()))).await? {
///         Decided::Run(ctx, ()) => ctx,
///         Decided::Replay(_, replay) => return Ok(replay),
///     };
///     let _store = &ctx.app.store;
///     Ok(Reply::empty(lambda_http::http::StatusCode::NO_CONTENT))
/// }
/// ```
///
/// Forgetting the decision does not compile: nothing of the request is
/// reachable before it.
///
/// ```compile_fail,E0609
/// use tether::pipeline::{Json, NoFields, OrgCtx, Reply, Undecided};
/// async fn link(ctx: Undecided<OrgCtx>, _: Json<NoFields>) -> Result<Reply, tether::ApiError> {
///     let _store = &ctx.app.store;
///     Ok(Reply::empty(lambda_http::http::StatusCode::NO_CONTENT))
/// }
/// ```
#[derive(Debug)]
pub struct Undecided<C>(C);

impl<C: Decidable> Caller for Undecided<C> {
    type Admission = C::Admission;
    const DECIDES_ITSELF: bool = true;

    fn new(ctx: Ctx, admitted: <C::Admission as Admission>::Admitted, slot: Arc<KeySlot>) -> Self {
        Self(C::new(ctx, admitted, slot))
    }
}

/// What a decision let through: the operation runs with what its facts
/// brought, or the same request already ran and its response is replayed.
#[derive(Debug)]
pub enum Decided<C, T> {
    /// Allowed: run.
    Run(C, T),
    /// Allowed, and the same request (its Idempotency-Key) already ran.
    Replay(C, Reply),
}

impl<C: Decidable> Undecided<C> {
    /// Establishes the decision's facts with `facts` — which reads what it
    /// must (an identity provider, its keys) and returns the identity being
    /// linked, for the Cedar context, and what the operation goes on with —
    /// then decides the endpoint's action and claims the request's
    /// Idempotency-Key.
    pub async fn decide<T>(
        self,
        facts: impl AsyncFnOnce(&C) -> Result<(authz::IdentityContext, T), ApiError>,
    ) -> Result<Decided<C, T>, ApiError> {
        let caller = self.0;
        let (identity, value) = facts(&caller).await?;
        let (ctx, judged) = caller.parts();
        match judged.decide_identity(ctx, &identity).await? {
            Some(reply) => Ok(Decided::Replay(caller, reply)),
            None => Ok(Decided::Run(caller, value)),
        }
    }
}
