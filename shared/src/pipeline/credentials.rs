//! Who is calling: the credential each endpoint takes, and the bucket a
//! request is charged to when it has none that is valid.

use super::Trace;
use super::authorize::{JudgedAt, authorize, foresee, resource_of};
use super::context::Authenticated;
use super::reply::Reply;
use super::services::admit_service;
use super::speculation::{Speculated, provisional};
use super::tenant::{Loaded, charge_organization, key_with_organization, load_organization};
use crate::app::App;
use crate::auth;
use crate::authz;
use crate::endpoint::{Credential, Endpoint};
use crate::error::ApiError;
use crate::external_services;
use crate::freshness::{Current, Mark};
use crate::ids::OrganizationId;
use crate::organizations::Organization;
use lambda_http::http::HeaderMap;
use lambda_http::request::RequestContext;

/// Who the pipeline let through, and what it learned on the way.
#[derive(Debug, Default)]
pub(super) struct Admitted {
    /// The caller (none on public endpoints).
    pub(super) authenticated: Option<Authenticated>,
    /// The organization acted for, current for this request.
    pub(super) organization: Option<Organization>,
    /// The owner's version as of this request's limiter write.
    pub(super) current: Option<Current>,
    /// The organization's policies, when this request read them itself.
    pub(super) policies: Option<authz::ReadPolicies>,
}

/// A credential as presented and looked up, before the limiter's write says
/// whether a cached record is still current.
#[derive(Debug)]
pub(super) enum Identified {
    /// An API key, with its organization when the same batch read it.
    ApiKey(auth::CheckedKey, Option<Box<Loaded>>),
    /// An access token (verified by signature; nothing cached).
    EndUser {
        /// The end user.
        user: crate::ids::EndUserId,
        /// Its organization.
        organization: OrganizationId,
        /// The token's generation.
        generation: u64,
    },
    /// A service token.
    Service(external_services::CheckedService),
}

impl Identified {
    fn organization_id(&self) -> Option<OrganizationId> {
        match self {
            Self::ApiKey(key, _) => Some(key.principal.organization_id),
            Self::EndUser { organization, .. } => Some(*organization),
            Self::Service(_) => None,
        }
    }

    /// The caller's organization: as read with the key, else as
    /// [`load_organization`] finds it.
    async fn organization(&mut self, app: &App) -> Result<Loaded, ApiError> {
        if let Self::ApiKey(_, loaded) = self
            && let Some(loaded) = loaded.take()
        {
            return Ok(*loaded);
        }
        let id = self
            .organization_id()
            .ok_or_else(|| ApiError::internal("no organization"))?;
        load_organization(app, id).await
    }
}

/// Authenticates the caller, charges its bucket, makes sure nothing it was
/// judged by is older than its owner's version (SPEC §5) and authorizes the
/// endpoint's action (unless the operation does once it has its body).
pub(super) async fn admit<S, Fut>(
    app: &App,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    path_params: &[(&'static str, String)],
    source_ip: &str,
    trace: &mut Trace,
    speculate: Option<S>,
) -> Result<(Admitted, Option<Speculated>), ApiError>
where
    S: FnOnce(Admitted) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, ApiError>>,
{
    let mark = app.versions.mark();
    let identified = identify(app, endpoint.credential, headers, mark).await;
    if matches!(identified, Ok(Some(_))) {
        trace
            .verified
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    match charge_caller(app, identified, source_ip, trace).await? {
        None => Ok((Admitted::default(), None)),
        Some(Identified::Service(checked)) => {
            let speculate = speculate.map(|operation| (operation, mark));
            admit_service(
                app,
                endpoint,
                checked,
                path_params,
                source_ip,
                trace,
                speculate,
            )
            .await
        }
        Some(mut identified) => {
            let org_id = identified
                .organization_id()
                .ok_or_else(|| ApiError::internal("no organization"))?;
            trace.caller.organization_id = Some(org_id);
            trace.caller.credential_id = Some(match &identified {
                Identified::ApiKey(key, _) => key.principal.api_key_id.to_string(),
                Identified::EndUser { user, .. } => format!("user:{user}"),
                Identified::Service(service) => format!("service:{}", service.principal.id),
            });
            let (organization, policies) = identified.organization(app).await?;
            // A read runs beside the limiter's write, judged by the caches as
            // they are: kept only if the write admits it at a version
            // those caches were current at; not started when the bucket was
            // last seen empty.
            let exhausted = app.limiter.looks_exhausted(
                &crate::limits::Owner::Organization(org_id),
                organization.value.limiter_policy(),
                app.clock.now(),
            );
            // Wanted by a read run beside the write, or a decision taken during it.
            let wanted = speculate.is_some() || !endpoint.authorize_after_body;
            let provisional = (wanted && !exhausted)
                .then(|| provisional(&identified, &organization, policies.clone(), mark))
                .flatten();
            // The decision, too, is taken during the write with what is
            // cached: its CPU overlaps the round trip.
            let to_foresee = provisional
                .as_ref()
                .filter(|_| !endpoint.authorize_after_body)
                .and_then(|(version, admitted)| Some((*version, admitted.authenticated.clone()?)));
            let guess = speculate
                .zip(provisional)
                .map(|(operation, (version, provisional))| {
                    (version, Box::pin(operation(provisional)))
                });
            // The read beside the write starts only once the decision
            // foreseen for it admits (SPEC §4): a caller the scopes or the
            // policies refuse costs no read of the operation's.
            let foreseen_then_read = async {
                let foreseen = async {
                    let (version, authenticated) = to_foresee?;
                    // Let the calls just begun reach the wire before this CPU.
                    tokio::task::yield_now().await;
                    if !authz::engine_is_built() {
                        // A cold start: wait for the engine's build off this
                        // thread, so the handshakes go on meanwhile.
                        let _ = tokio::task::spawn_blocking(authz::engine).await;
                    }
                    foresee(
                        app,
                        endpoint,
                        &authenticated,
                        path_params,
                        source_ip,
                        version,
                        policies.as_ref(),
                    )
                }
                .await;
                let admits = foreseen
                    .as_ref()
                    .is_some_and(super::authorize::Foreseen::admits);
                let speculated = match guess {
                    Some(guess) if admits => super::speculation::run(Some(guess)).await,
                    _ => None,
                };
                (foreseen, speculated)
            };
            // `last_used_at` is written beside the limiter's write, not after it.
            let used = async {
                if let Identified::ApiKey(key, _) = &identified {
                    record_use(app, &key.principal).await;
                }
            };
            let (charged, (), (foreseen, speculated)) = tokio::join!(
                charge_organization(app, organization, trace),
                used,
                foreseen_then_read
            );
            let (organization, current) = charged?;
            let authenticated = match identified {
                Identified::ApiKey(key, _) => {
                    Authenticated::ApiKey(current_key(app, key, current, source_ip, trace).await?)
                }
                Identified::EndUser {
                    user,
                    organization,
                    generation,
                } => Authenticated::EndUser {
                    user,
                    organization,
                    generation,
                },
                Identified::Service(_) => return Err(ApiError::internal("not a service here")),
            };
            if let Some(decided) = foreseen.and_then(|foreseen| foreseen.at(current)) {
                decided?;
            } else if !endpoint.authorize_after_body {
                let resource = resource_of(endpoint, &authenticated, path_params);
                authorize(
                    app,
                    endpoint,
                    &authenticated,
                    resource,
                    source_ip,
                    None,
                    JudgedAt {
                        current,
                        policies: policies.as_ref(),
                    },
                )
                .await?;
            }
            let speculated = speculated.filter(|guess| current.version <= guess.version);
            Ok((
                Admitted {
                    authenticated: Some(authenticated),
                    organization: Some(organization),
                    current: Some(current),
                    policies,
                },
                speculated,
            ))
        }
    }
}

/// Records that `key` was used this minute (SPEC §5 `last_used_at`): at most
/// one conditional write per key and minute per warm function, and none when
/// another function already recorded the minute (the condition refuses it).
/// A failure only loses the mark; the request goes on.
async fn record_use(app: &App, key: &auth::ApiKeyPrincipal) {
    let now = app.clock.now();
    let minute = now
        .replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(now);
    let minute = crate::clock::format_timestamp(minute);
    if app.key_uses.get(&key.api_key_id).as_deref() == Some(minute.as_str()) {
        return;
    }
    match crate::api_keys::touch(&app.store, key.organization_id, key.api_key_id, &minute).await {
        Ok(()) => app.key_uses.put(key.api_key_id, minute),
        Err(err) => tracing::warn!(error = %err, "could not record an API key's last use"),
    }
}

/// The API key of a request, read again when the cached record is older than
/// the organization's version: a revoked, rolled-out or expired key is 401
/// from the first request after the change.
async fn current_key(
    app: &App,
    key: auth::CheckedKey,
    current: Current,
    source_ip: &str,
    trace: &mut Trace,
) -> Result<auth::ApiKeyPrincipal, ApiError> {
    if key.cached_at.is_none_or(|stamp| stamp >= current.version) {
        return Ok(key.principal);
    }
    let now = app.clock.now();
    let record = auth::read(&app.store, &app.keys, &app.versions, current.mark, key.hash)
        .await?
        .filter(|r| {
            !auth::HashedCredential::ended(r, now)
                && r.organization_id == key.principal.organization_id
        });
    match record {
        Some(record) => Ok(auth::ApiKeyPrincipal {
            organization_id: record.organization_id,
            api_key_id: record.api_key_id,
            scope: record.max_scope(),
        }),
        None => Err(refuse_ended(app, source_ip, trace).await),
    }
}

/// A credential found ended by the check after the limiter's write: 401,
/// and — like every request without valid credentials — charged to its source IP.
pub(super) async fn refuse_ended(app: &App, source_ip: &str, trace: &mut Trace) -> ApiError {
    match trace
        .metering
        .charge_source_ip(app, source_ip.to_owned())
        .await
    {
        Err(err) => err,
        Ok(()) => ApiError::InvalidCredentials,
    }
}

/// Charges a request refused for its path before authentication: to the
/// owner of its credential when that is valid, else to its source IP.
pub(super) async fn charge_malformed(
    app: &App,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    source_ip: &str,
    trace: &mut Trace,
) -> Result<(), ApiError> {
    let mark = app.versions.mark();
    let identified = identify(app, endpoint.credential, headers, mark).await;
    let identified = match charge_caller(app, identified, source_ip, trace).await {
        Ok(identified) => identified,
        // Already charged to the source IP; the path's 400 is the answer.
        Err(err) if err.is_credential_failure() => None,
        Err(err) => return Err(err),
    };
    match identified {
        Some(Identified::Service(service)) => trace
            .metering
            .charge_external_service(app, service.principal.id)
            .await
            .map(drop),
        Some(mut identified) => {
            let (organization, _) = identified.organization(app).await?;
            charge_organization(app, organization, trace)
                .await
                .map(drop)
        }
        None => Ok(()),
    }
}

/// Charges the source IP for a request without valid credentials — a public
/// endpoint's, or one whose credential failed (guessing costs the guesser) —
/// and passes the identification on.
pub(super) async fn charge_caller(
    app: &App,
    identified: Result<Option<Identified>, ApiError>,
    source_ip: &str,
    trace: &mut Trace,
) -> Result<Option<Identified>, ApiError> {
    if matches!(identified, Ok(None))
        || identified
            .as_ref()
            .is_err_and(ApiError::is_credential_failure)
    {
        trace
            .metering
            .charge_source_ip(app, source_ip.to_owned())
            .await?;
    }
    identified
}

/// Authenticates the credential the endpoint takes (`None` for public
/// endpoints).
pub(super) async fn identify(
    app: &App,
    credential: Credential,
    headers: &HeaderMap,
    mark: Mark,
) -> Result<Option<Identified>, ApiError> {
    match credential {
        Credential::None => Ok(None),
        Credential::ServiceToken => external_services::authenticate(app, mark, bearer(headers))
            .await
            .map(|service| Some(Identified::Service(service))),
        credential => authenticate(app, credential, headers, mark).await.map(Some),
    }
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
pub(super) fn source_ip(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV2(v2) => v2.http.source_ip.clone(),
        #[allow(
            unreachable_patterns,
            reason = "other event sources when their features are enabled"
        )]
        _ => None,
    }
}

/// Authenticates an API key or an access token.
async fn authenticate(
    app: &App,
    credential: Credential,
    headers: &HeaderMap,
    mark: Mark,
) -> Result<Identified, ApiError> {
    match credential {
        Credential::ApiKey => {
            let key = match Header::of(headers, "x-api-key") {
                Header::Absent => return Err(ApiError::MissingCredentials),
                Header::Unusable => return Err(ApiError::InvalidCredentials),
                Header::One(key) => key,
            };
            let tenant = match Header::of(headers, "x-tenant-id") {
                Header::Absent => None,
                Header::Unusable => return Err(ApiError::TenantMismatch),
                Header::One(tenant) => Some(tenant),
            };
            let secret =
                auth::ApiKeySecret::parse(key.trim()).ok_or(ApiError::InvalidCredentials)?;
            if let Some(read) = key_with_organization(app, &secret, tenant, mark).await {
                return read.map(|(key, loaded)| Identified::ApiKey(key, Some(Box::new(loaded))));
            }
            auth::authenticate_api_key(
                &app.store,
                &app.keys,
                &app.versions,
                mark,
                &secret,
                tenant,
                app.clock.now(),
            )
            .await
            .map(|key| Identified::ApiKey(key, None))
        }
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
            Ok(Identified::EndUser {
                user: claims.sub,
                organization: claims.org,
                generation: claims.tgen,
            })
        }
        Credential::ServiceToken | Credential::None => {
            Err(ApiError::internal("not authenticated here"))
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let Header::One(value) = Header::of(headers, "authorization") else {
        return None;
    };
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A request header as the pipeline reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent (or sent with a value that is not text).
    Absent,
    /// Sent once, as text.
    One(&'a str),
    /// Sent more than once: no one value can be trusted.
    Unusable,
}

impl<'a> Header<'a> {
    /// Reads `name` from `headers`.
    pub fn of(headers: &'a HeaderMap, name: &str) -> Self {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().map_or(Self::Absent, Self::One),
            (Some(_), Some(_)) => Self::Unusable,
            _ => Self::Absent,
        }
    }
}
