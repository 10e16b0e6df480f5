//! The context an operation takes names the credential it serves: an
//! organization-API operation takes [`OrgCtx`] (an API key of `org`, its
//! organization record), a user-API one [`UserCtx`] (`user` of `org`), an
//! external-service one [`ServiceCtx`], a public one [`Ctx`] itself. What
//! cannot be absent is not an `Option`. Each dereferences to [`Ctx`].

use super::context::{Authenticated, Ctx};
use crate::endpoint::Credential;
use crate::error::ApiError;
use crate::external_services::ServicePrincipal;
use crate::ids::{EndUserId, OrganizationId};
use crate::organizations::Organization;
use std::ops::Deref;

/// A context an operation can take.
pub trait Caller: Sized + Send + 'static {
    /// The credential it needs; `None`: any (public endpoints).
    const CREDENTIAL: Option<Credential>;

    /// Narrows the pipeline's context. Fails only when an endpoint takes
    /// another credential than its handler (`routes` tests that none does).
    fn from_ctx(ctx: Ctx) -> Result<Self, ApiError>;
}

impl Caller for Ctx {
    const CREDENTIAL: Option<Credential> = None;

    fn from_ctx(ctx: Ctx) -> Result<Self, ApiError> {
        Ok(ctx)
    }
}

fn mismatch(wanted: &str) -> ApiError {
    ApiError::internal(format!(
        "the endpoint's credential does not give the {wanted} its handler takes"
    ))
}

/// An organization-API request: authenticated with an API key.
#[derive(Debug)]
pub struct OrgCtx {
    ctx: Ctx,
    /// The key's organization: every key the request touches derives from it.
    pub org: OrganizationId,
    /// Its record (plan, limits), as the pipeline loaded it.
    pub organization: Organization,
}

impl Caller for OrgCtx {
    const CREDENTIAL: Option<Credential> = Some(Credential::ApiKey);

    fn from_ctx(mut ctx: Ctx) -> Result<Self, ApiError> {
        let org = match &ctx.authenticated {
            Some(Authenticated::ApiKey(key)) => key.organization_id,
            _ => return Err(mismatch("API key")),
        };
        let organization = ctx
            .organization
            .take()
            .ok_or_else(|| mismatch("organization record"))?;
        Ok(Self {
            ctx,
            org,
            organization,
        })
    }
}

impl Deref for OrgCtx {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

/// A user-API request: an end user with its access token.
#[derive(Debug)]
pub struct UserCtx {
    ctx: Ctx,
    /// The end user.
    pub user: EndUserId,
    /// Its organization.
    pub org: OrganizationId,
    /// The token's generation: the operation checks it against the end
    /// user's, which it reads anyway (SPEC §5, revocation).
    pub token_generation: u64,
}

impl Caller for UserCtx {
    const CREDENTIAL: Option<Credential> = Some(Credential::UserToken);

    fn from_ctx(ctx: Ctx) -> Result<Self, ApiError> {
        let (user, org, token_generation) = match &ctx.authenticated {
            Some(Authenticated::EndUser {
                user,
                organization,
                generation,
            }) => (*user, *organization, *generation),
            _ => return Err(mismatch("access token")),
        };
        Ok(Self {
            ctx,
            user,
            org,
            token_generation,
        })
    }
}

impl Deref for UserCtx {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

/// An external-service-API request: a service with its token.
#[derive(Debug)]
pub struct ServiceCtx {
    ctx: Ctx,
    /// The service (its path's, checked by the pipeline).
    pub service: ServicePrincipal,
}

impl Caller for ServiceCtx {
    const CREDENTIAL: Option<Credential> = Some(Credential::ServiceToken);

    fn from_ctx(ctx: Ctx) -> Result<Self, ApiError> {
        let service = match &ctx.authenticated {
            Some(Authenticated::ExternalService(service)) => service.clone(),
            _ => return Err(mismatch("service token")),
        };
        Ok(Self { ctx, service })
    }
}

impl Deref for ServiceCtx {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}
