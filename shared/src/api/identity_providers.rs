//! Identity providers of the organization (SPEC §9).

use crate::error::ApiError;
use crate::error::FieldErrors;
use crate::identity_providers::login::{LoginChange, LoginInput, LoginRecord};
use crate::identity_providers::{
    self, CreateProvider, KeySource, LoginUpdate, ProviderRecord, SourceInput, UpdateProvider, keys,
};
use crate::ids::IdentityProviderId;
use crate::outbound::Outbound;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, OrgCtx, OrgSettings, Reply};
use crate::sealed::Keyring;
use crate::store;
use crate::wire::Page;
use lambda_http::http::StatusCode;
use std::sync::Arc;

const RESOURCE: &str = "identity_provider";

/// `POST /v1/identity-providers` → 201 with the provider, its keys pinned
/// or fetched (422 `invalid_url`, `identity_provider_unreachable`).
pub async fn create(
    ctx: OrgCtx,
    body: Json<CreateProvider>,
    outbound: Arc<Outbound>,
) -> Result<Reply, ApiError> {
    let record = register(&ctx, body.value, &outbound).await?;
    Reply::json(StatusCode::CREATED, &record.view())
}

/// Registers a provider: its keys pinned or fetched, the organization's cap
/// held (also the admin portal's).
pub async fn register(
    ctx: &impl OrgSettings,
    mut input: CreateProvider,
    outbound: &Outbound,
) -> Result<ProviderRecord, ApiError> {
    let now = ctx.app.clock.now();
    let source = std::mem::replace(
        &mut input.source,
        identity_providers::SourceInput::Discovery,
    );
    let keys = keys::resolve(outbound, &input.issuer, source, now).await?;
    let record = ProviderRecord::new(ctx.org(), input, keys, now);
    if !identity_providers::put_new(&ctx.app.store, ctx.organization(), &record).await? {
        return Err(crate::caps::Capped::IdentityProviders.reached(ctx.organization()));
    }
    Ok(record)
}

/// The action a provider's `login` also needs (SPEC §17).
pub const CONFIGURE_LOGIN: &str = "sso_connections.configure";

/// `PATCH /v1/identity-providers/{id}` → 200 with the provider: `name`,
/// `client_id`, the key source (`jwks` pins, `jwks_uri` fetches) and the
/// login connection (`login`, which also needs `sso_connections.configure`);
/// warm functions use the change from their next request. `{}` changes
/// nothing.
pub async fn update(
    ctx: OrgCtx,
    body: Json<UpdateProvider>,
    (outbound, keyring): (Arc<Outbound>, Arc<Keyring>),
) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    let record = change(&ctx, id, &body.value, &outbound, &keyring).await?;
    Reply::json(StatusCode::OK, &record.view())
}

/// Changes provider `id` as `input` asks, over the revision it read (also
/// the admin portal's): the provider as it is afterwards.
pub async fn change(
    ctx: &impl OrgSettings,
    id: IdentityProviderId,
    input: &UpdateProvider,
    outbound: &Outbound,
    keyring: &Keyring,
) -> Result<ProviderRecord, ApiError> {
    if input.login.is_some() {
        ctx.authorize_also(CONFIGURE_LOGIN).await?;
    }
    let (store, now) = (&ctx.app.store, ctx.app.clock.now());
    // Built from the provider as read, written only over that revision: a
    // concurrent change makes it read and build again.
    for attempt in 0..WRITE_TRIES {
        if attempt > 0 {
            // Jittered, doubling from 5 ms: concurrent changes spread out.
            let ceiling = 5u64 << attempt.min(5);
            let jitter = (ulid::Ulid::generate().random() % u128::from(ceiling)) as u64;
            tokio::time::sleep(std::time::Duration::from_millis(ceiling / 2 + jitter)).await;
        }
        let current = identity_providers::get(store, ctx.org(), id)
            .await?
            .ok_or(ApiError::NotFound { resource: RESOURCE })?;
        ctx.check_stored_in(current.organization_id, RESOURCE)?;
        let Some(changes) = changes_of(ctx, &current, input, outbound, keyring, now).await? else {
            return Ok(current);
        };
        match identity_providers::update(store, ctx.organization(), id, &changes, now).await? {
            identity_providers::Updated::Done => {
                return identity_providers::get(store, ctx.org(), id)
                    .await?
                    .ok_or(ApiError::NotFound { resource: RESOURCE });
            }
            identity_providers::Updated::NotFound => {
                return Err(ApiError::NotFound { resource: RESOURCE });
            }
            identity_providers::Updated::Stale => {}
        }
    }
    Err(ApiError::ServiceUnavailable(
        "the identity provider kept changing; try again".into(),
    ))
}

/// How many times a PATCH is built when other changes keep coming first.
const WRITE_TRIES: usize = 10;

/// What a PATCH changes, built from the provider as `current` holds it;
/// `None` when it changes nothing.
async fn changes_of(
    ctx: &impl OrgSettings,
    current: &ProviderRecord,
    input: &UpdateProvider,
    outbound: &Outbound,
    keyring: &Keyring,
    now: time::OffsetDateTime,
) -> Result<Option<identity_providers::Changes>, ApiError> {
    // A live connection's client id and keys decide who signs in: changing
    // them configures the connection too.
    if input.login.is_none()
        && current.login.is_some()
        && (input.client_id.is_some() || input.source.is_some())
    {
        ctx.authorize_also(CONFIGURE_LOGIN).await?;
    }
    if input.name.is_none()
        && input.client_id.is_none()
        && input.source.is_none()
        && input.login.is_none()
    {
        return Ok(None);
    }
    let pinned_after = match &input.source {
        Some(source) => matches!(source, SourceInput::Pinned(_)),
        None => current.key_source == KeySource::Pinned,
    };
    let login = match &input.login {
        None if pinned_after && current.login.is_some() => {
            return Err(ApiError::Validation(FieldErrors::one(
                "jwks",
                "a login connection's keys come from its issuer: remove `login` first",
            )));
        }
        None => None,
        Some(LoginChange::Remove) => Some(LoginUpdate::Remove),
        Some(LoginChange::Set(_)) if pinned_after => {
            return Err(ApiError::Validation(FieldErrors::one(
                "login",
                "a provider with pinned keys cannot be a login connection: its issuer must serve OpenID discovery",
            )));
        }
        Some(LoginChange::Set(login)) => Some(LoginUpdate::Set(
            configure_login(ctx, current, login.clone(), outbound, keyring).await?,
        )),
    };
    let keys = match &input.source {
        Some(source) => Some(keys::resolve(outbound, &current.issuer, source.clone(), now).await?),
        None => None,
    };
    // The connection item follows the provider as it will be.
    let connection = (login.is_some() || input.client_id.is_some()).then(|| {
        let mut after = current.clone();
        if let Some(client_id) = &input.client_id {
            after.client_id.clone_from(client_id);
        }
        match &login {
            Some(LoginUpdate::Set(record)) => after.login = Some(record.clone()),
            Some(LoginUpdate::Remove) => after.login = None,
            None => {}
        }
        after.connection()
    });
    Ok(Some(identity_providers::Changes {
        name: input.name.clone(),
        client_id: input.client_id.clone(),
        keys,
        login,
        connection,
        seen_revision: current.revision,
    }))
}

/// The login connection a PATCH asks for: its endpoints discovered from the
/// issuer, its secret sealed (or the stored one kept).
async fn configure_login(
    ctx: &impl OrgSettings,
    current: &ProviderRecord,
    login: LoginInput,
    outbound: &Outbound,
    keyring: &Keyring,
) -> Result<LoginRecord, ApiError> {
    let (pk, sk) = store::Record::item_key(current).pair();
    let client_secret_sealed = match &login.client_secret {
        Some(secret) => keyring
            .seal(&LoginRecord::secret_aad(pk, sk), secret.expose().as_bytes())
            .map_err(ApiError::internal)?,
        None => current
            .login
            .as_ref()
            .map(|stored| stored.client_secret_sealed.clone())
            .filter(|sealed| !sealed.is_empty())
            .ok_or_else(|| {
                ApiError::Validation(FieldErrors::one(
                    "login.client_secret",
                    "is required until one is stored",
                ))
            })?,
    };
    let endpoints =
        keys::discover_login(outbound, &current.issuer, login.client_auth.as_str()).await?;
    Ok(LoginRecord {
        enabled: login.enabled,
        client_auth: login.client_auth,
        redirect_uris: login.redirect_uris,
        provisioning: login.provisioning,
        client_secret_sealed,
        authorization_endpoint: endpoints.authorization_endpoint.to_string(),
        token_endpoint: endpoints.token_endpoint.to_string(),
        callback_url: ctx.app.config.public_base_url.sso_callback(current.id),
        configured_at: ctx.app.clock.now().into(),
    })
}

/// `GET /v1/identity-providers` → `{data, next_cursor}`, oldest first.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor("p1:", IdentityProviderId::parse)?;
    let (providers, more) = identity_providers::list(&ctx.app.store, ctx.org, after, limit).await?;
    let next_cursor = more
        .then(|| providers.last().map(|p| encode_cursor("p1:", p.id)))
        .flatten();
    let data = providers.iter().map(ProviderRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `DELETE /v1/identity-providers/{id}` → 204, or 409
/// `identity_provider_in_use` while identities use it.
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    match identity_providers::delete(&ctx.app.store, &ctx.organization, id).await? {
        identity_providers::Deleted::Done => Ok(Reply::empty(StatusCode::NO_CONTENT)),
        identity_providers::Deleted::InUse => Err(ApiError::IdentityProviderInUse),
        identity_providers::Deleted::NotFound => Err(ApiError::NotFound { resource: RESOURCE }),
    }
}

/// `GET /v1/identity-providers/{id}` → the provider (read scope), or 404.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    let provider = identity_providers::get(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(provider.organization_id, RESOURCE)?;
    Reply::json(StatusCode::OK, &provider.view())
}
