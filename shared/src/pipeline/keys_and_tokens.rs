//! The callers of one organization: its API keys (the organization API) and
//! its end users' access tokens (the user API). Both are admitted alike —
//! the organization read or cached, its bucket charged under its plan, the
//! decision foreseen during that write ([`super::overlap`]) — and differ
//! only in how they are identified ([`Member`]).

use super::admission::{Admission, Incoming};
use super::decision::{JudgedAt, authorize, resource_of};
use super::header::{Header, bearer};
use super::learned::Learned;
use super::overlap::{Foreseen, Speculated, Speculation, foresee};
use super::principal::{Authenticated, TokenHolder};
use super::tenant::{Loaded, charge_organization, key_with_organization, load_organization};
use crate::app::{App, Needs};
use crate::auth;
use crate::authz::{self, ReadPolicies};
use crate::endpoint::Credential;
use crate::error::ApiError;
use crate::freshness::{Current, FRESH, Fetched, Mark, Version};
use crate::ids::OrganizationId;
use crate::organizations::Organization;
use crate::tokens::TokenKeys;
use lambda_http::http::HeaderMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// An organization's request as admitted: its caller, the organization
/// acted for (current for this request), the owner's version as of its
/// limiter write, and the organization's policies when it read them itself.
#[derive(Debug)]
pub struct OrgAdmitted<P> {
    pub(super) principal: P,
    pub(super) organization: Organization,
    pub(super) current: Current,
    pub(super) policies: Option<ReadPolicies>,
}

/// API keys (`X-API-Key`): the organization API's callers.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys;

/// Access tokens (`Authorization: Bearer`), verified by signature with the
/// keys the function keeps: the user API's callers.
#[derive(Debug, Clone)]
pub struct AccessTokens(Arc<TokenKeys>);

/// A credential of an organization's caller: how its function keeps what
/// verifies it, and how a request's is identified.
pub trait Identify: Sized + Send + Sync + 'static {
    /// The credential.
    const CREDENTIAL: Credential;
    /// What the function loads to verify it.
    const NEEDS: Needs;
    /// The caller it identifies.
    type Member: Member;

    /// The verifier, from the function's state.
    fn keep(app: &App) -> Option<Self>;

    /// The caller the request's credential names, verified (against its
    /// path too, for a credential bound to a path's resource).
    fn identify(
        &self,
        request: &Incoming<'_>,
        mark: Mark,
    ) -> impl Future<Output = Result<Self::Member, ApiError>> + Send;
}

impl Identify for ApiKeys {
    const CREDENTIAL: Credential = Credential::ApiKey;
    const NEEDS: Needs = Needs::NONE;
    type Member = IdentifiedKey;

    fn keep(_: &App) -> Option<Self> {
        Some(Self)
    }

    async fn identify(
        &self,
        request: &Incoming<'_>,
        mark: Mark,
    ) -> Result<IdentifiedKey, ApiError> {
        identify_key(request.app, request.headers, mark).await
    }
}

impl Identify for AccessTokens {
    const CREDENTIAL: Credential = Credential::UserToken;
    const NEEDS: Needs = Needs::NONE.with_token_keys();
    type Member = TokenHolder;

    fn keep(app: &App) -> Option<Self> {
        app.tokens.clone().map(Self)
    }

    /// The holder of the request's access token, verified by its signature.
    async fn identify(&self, request: &Incoming<'_>, _: Mark) -> Result<TokenHolder, ApiError> {
        let token = bearer(request.headers).ok_or(ApiError::MissingCredentials)?;
        let now = request.app.clock.now().unix_timestamp();
        let claims = self
            .0
            .verify(token, now)
            .ok_or(ApiError::InvalidCredentials)?;
        Ok(TokenHolder {
            user: claims.sub,
            organization: claims.org,
            generation: claims.tgen,
        })
    }
}

impl<I: Identify> Admission for I {
    const CREDENTIAL: Credential = I::CREDENTIAL;
    const NEEDS: Needs = I::NEEDS;
    type Admitted = OrgAdmitted<<I::Member as Member>::Principal>;

    fn keep(app: &App) -> Option<Self> {
        <I as Identify>::keep(app)
    }

    fn authenticated(admitted: &Self::Admitted) -> Option<Authenticated> {
        Some(I::Member::authenticated(&admitted.principal))
    }

    async fn admit(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
        speculate: Option<Speculation<Self::Admitted>>,
    ) -> Result<(Self::Admitted, Option<Speculated>), ApiError> {
        let mark = request.app.versions.mark();
        let identified = self.identify(&request, mark).await;
        admit_identified(request, learned, identified, speculate, mark).await
    }

    async fn charge_malformed(
        &self,
        request: Incoming<'_>,
        learned: &mut Learned,
    ) -> Result<(), ApiError> {
        let mark = request.app.versions.mark();
        let identified = self.identify(&request, mark).await;
        charge_identified(request, learned, identified).await
    }
}

/// A caller of one organization, identified but not yet admitted.
pub trait Member: Send + Sync + Sized {
    /// The caller as the operation gets it.
    type Principal: Clone + Send + Sync + 'static;

    /// Its organization.
    fn organization_id(&self) -> OrganizationId;

    /// How the log line names it.
    fn credential_id(&self) -> String;

    /// The directory its credential is bound to (a SCIM token's), whose
    /// latest requests list this one.
    fn directory(&self) -> Option<crate::ids::DirectoryId> {
        None
    }

    /// The caller as identified, and the oldest version what identified it
    /// was current at ([`FRESH`]: read by this request).
    fn as_identified(&self) -> (Self::Principal, Version);

    /// The caller's organization.
    fn organization(&mut self, app: &App) -> impl Future<Output = Result<Loaded, ApiError>> + Send;

    /// Records the use of the credential, beside the limiter's write.
    fn record_use(&self, app: &App) -> impl Future<Output = ()> + Send;

    /// The caller as current at the request's version: read again when what
    /// identified it is older (a revoked key is 401 from the next request).
    fn current(
        self,
        app: &App,
        current: Current,
        source_ip: &str,
        learned: &mut Learned,
    ) -> impl Future<Output = Result<Self::Principal, ApiError>> + Send;

    /// As the decision sees it.
    fn authenticated(principal: &Self::Principal) -> Authenticated;
}

/// An API key, with its organization when the same batch read it.
#[derive(Debug)]
pub struct IdentifiedKey {
    key: auth::CheckedKey,
    loaded: Option<Box<Loaded>>,
}

impl Member for IdentifiedKey {
    type Principal = auth::ApiKeyPrincipal;

    fn organization_id(&self) -> OrganizationId {
        self.key.principal.organization_id
    }

    fn credential_id(&self) -> String {
        self.key.principal.api_key_id.to_string()
    }

    fn as_identified(&self) -> (auth::ApiKeyPrincipal, Version) {
        (
            self.key.principal.clone(),
            self.key.cached_at.unwrap_or(FRESH),
        )
    }

    async fn organization(&mut self, app: &App) -> Result<Loaded, ApiError> {
        match self.loaded.take() {
            Some(loaded) => Ok(*loaded),
            None => load_organization(app, self.organization_id()).await,
        }
    }

    async fn record_use(&self, app: &App) {
        record_use(app, &self.key.principal).await;
    }

    async fn current(
        self,
        app: &App,
        current: Current,
        source_ip: &str,
        learned: &mut Learned,
    ) -> Result<auth::ApiKeyPrincipal, ApiError> {
        current_key(app, self.key, current, source_ip, learned).await
    }

    fn authenticated(principal: &auth::ApiKeyPrincipal) -> Authenticated {
        Authenticated::ApiKey(principal.clone())
    }
}

impl Member for TokenHolder {
    type Principal = TokenHolder;

    fn organization_id(&self) -> OrganizationId {
        self.organization
    }

    fn credential_id(&self) -> String {
        format!("user:{}", self.user)
    }

    fn as_identified(&self) -> (TokenHolder, Version) {
        // Verified by signature: nothing cached.
        (*self, FRESH)
    }

    async fn organization(&mut self, app: &App) -> Result<Loaded, ApiError> {
        load_organization(app, self.organization).await
    }

    async fn record_use(&self, _: &App) {}

    async fn current(
        self,
        _: &App,
        _: Current,
        _: &str,
        _: &mut Learned,
    ) -> Result<TokenHolder, ApiError> {
        // Revocation is the operation's check of the token's generation
        // against the end user's, which it reads anyway (SPEC §5).
        Ok(self)
    }

    fn authenticated(principal: &TokenHolder) -> Authenticated {
        Authenticated::EndUser(*principal)
    }
}

/// Charges an identified caller (the source IP when it is not one) and
/// admits it.
async fn admit_identified<M: Member>(
    request: Incoming<'_>,
    learned: &mut Learned,
    identified: Result<M, ApiError>,
    speculate: Option<Speculation<OrgAdmitted<M::Principal>>>,
    mark: Mark,
) -> Result<(OrgAdmitted<M::Principal>, Option<Speculated>), ApiError> {
    if identified.is_ok() {
        learned.verified.store(true, Ordering::Relaxed);
    }
    let member = learned
        .metering
        .charge_unverified(request.app, identified, request.source_ip)
        .await?;
    admit_member(request, learned, member, speculate, mark).await
}

/// [`Admission::charge_malformed`] for an organization's caller.
async fn charge_identified<M: Member>(
    request: Incoming<'_>,
    learned: &mut Learned,
    identified: Result<M, ApiError>,
) -> Result<(), ApiError> {
    let app = request.app;
    let identified = learned
        .metering
        .charge_unverified(app, identified, request.source_ip)
        .await;
    match identified {
        Ok(mut member) => {
            let (organization, _) = member.organization(app).await?;
            charge_organization(app, organization, learned)
                .await
                .map(drop)
        }
        // Already charged to the source IP; the path's 400 is the answer.
        Err(err) if err.is_credential_failure() => Ok(()),
        Err(err) => Err(err),
    }
}

/// Admits an identified caller of an organization: its organization's
/// bucket charged, the decision foreseen — and a GET run — during that
/// write, and everything it was judged by checked against the version the
/// write returned.
async fn admit_member<M: Member>(
    request: Incoming<'_>,
    learned: &mut Learned,
    mut member: M,
    speculate: Option<Speculation<OrgAdmitted<M::Principal>>>,
    mark: Mark,
) -> Result<(OrgAdmitted<M::Principal>, Option<Speculated>), ApiError> {
    let Incoming {
        app,
        endpoint,
        path_params,
        source_ip,
        decides_itself,
        ..
    } = request;
    let org_id = member.organization_id();
    learned.caller.organization_id = Some(org_id);
    learned.caller.credential_id = Some(member.credential_id());
    learned.caller.directory = member.directory();
    let (organization, policies) = member.organization(app).await?;
    // Not started when the bucket was last seen empty.
    let exhausted = app.limiter.looks_exhausted(
        &crate::limits::Owner::Organization(org_id),
        organization.value.limiter_policy(),
        app.clock.now(),
    );
    // Wanted by a read run beside the write, or a decision taken during it.
    let wanted = speculate.is_some() || !decides_itself;
    let provisional =
        (wanted && !exhausted).then(|| provisional(&member, &organization, policies.clone(), mark));
    let to_foresee = provisional
        .as_ref()
        .filter(|_| !decides_itself)
        .map(|(version, admitted)| (*version, M::authenticated(&admitted.principal)));
    let guess = speculate
        .zip(provisional)
        .map(|(operation, (version, provisional))| (version, operation(provisional)));
    // The read beside the write starts only once the decision foreseen for
    // it admits (SPEC §4): a caller the scopes or the policies refuse costs
    // no read of the operation's.
    let foreseen_then_read = async {
        let foreseen = async {
            let (version, authenticated) = to_foresee?;
            // Let the calls just begun reach the wire before this CPU.
            tokio::task::yield_now().await;
            if !authz::engine_is_built() {
                // A cold start: wait for the engine's build off this thread,
                // so the handshakes go on meanwhile.
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
        let speculated = match guess {
            Some(guess) if foreseen.as_ref().is_some_and(Foreseen::admits) => {
                super::overlap::run(Some(guess)).await
            }
            _ => None,
        };
        (foreseen, speculated)
    };
    // `last_used_at` is written beside the limiter's write, not after it.
    let (charged, (), (foreseen, speculated)) = tokio::join!(
        charge_organization(app, organization, learned),
        member.record_use(app),
        foreseen_then_read
    );
    let (organization, current) = charged?;
    let principal = member.current(app, current, source_ip, learned).await?;
    if let Some(decided) = foreseen.and_then(|foreseen| foreseen.at(current)) {
        decided?;
    } else if !decides_itself {
        let authenticated = M::authenticated(&principal);
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
    let admitted = OrgAdmitted {
        principal,
        organization,
        current,
        policies,
    };
    Ok((admitted, speculated))
}

/// The admission a request would get if nothing cached had changed: the
/// caller and organization as cached, at the oldest version they were
/// current at — what the request read from the table itself is current
/// whatever the version ([`FRESH`]), so a cold function's read runs beside
/// the limiter too.
fn provisional<M: Member>(
    member: &M,
    organization: &Fetched<Organization>,
    policies: Option<ReadPolicies>,
    mark: Mark,
) -> (Version, OrgAdmitted<M::Principal>) {
    let (principal, identified_at) = member.as_identified();
    let version = organization.cached_at.unwrap_or(FRESH).min(identified_at);
    let admitted = OrgAdmitted {
        principal,
        organization: organization.value.clone(),
        current: Current { version, mark },
        policies,
    };
    (version, admitted)
}

/// Records that `key` was used this minute (SPEC §5 `last_used_at`): at most
/// one conditional write per key and minute per warm function, and none when
/// another function already recorded the minute (the condition refuses it).
/// A failure only loses the mark; the request goes on.
async fn record_use(app: &App, key: &auth::ApiKeyPrincipal) {
    let now = app.clock.now();
    let minute = crate::clock::Timestamp::from(now.truncate_to_minute());
    if app.key_uses.get(&key.api_key_id) == Some(minute) {
        return;
    }
    match crate::api_keys::touch(&app.store, key.organization_id, key.api_key_id, minute).await {
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
    learned: &mut Learned,
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
        None => Err(learned.metering.refuse_ended(app, source_ip).await),
    }
}

/// Authenticates `X-API-Key` (and `X-Tenant-ID`, when sent).
async fn identify_key(
    app: &App,
    headers: &HeaderMap,
    mark: Mark,
) -> Result<IdentifiedKey, ApiError> {
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
    let secret = auth::ApiKeySecret::parse(key.trim()).ok_or(ApiError::InvalidCredentials)?;
    if let Some(read) = key_with_organization(app, &secret, tenant, mark).await {
        return read.map(|(key, loaded)| IdentifiedKey {
            key,
            loaded: Some(Box::new(loaded)),
        });
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
    .map(|key| IdentifiedKey { key, loaded: None })
}
