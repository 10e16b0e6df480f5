//! The callback's work once its attempt is taken: the provider's answer,
//! the code exchange at its token endpoint, the id_token, the end user
//! (linked, or provisioned), Cedar's `sso.login`, and the one transaction
//! that writes the code.

use crate::authz::{self, IdentityContext};
use crate::end_users::{self, EndUserRecord, Status};
use crate::identities::{self, IdentityRecord, LinkedBy};
use crate::identity_providers::login::{
    ClientAuthMethod, Connection, LoginRecord, Provisioning, RedirectUri,
};
use crate::identity_providers::{self, ProviderRecord, keys::VerifiedProvider};
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::outbound::{ClientAuth, Outbound};
use crate::pipeline::Ctx;
use crate::sealed::Keyring;
use crate::sso_login::Failure;
use crate::sso_login::attempt::Attempt;
use crate::sso_login::code::{self, Issued, Profile};
use crate::sso_login::outcome::LoginRecord as LoginOutcome;
use crate::store::{self, StoreError};

/// How long the provider's token endpoint took, and how much of it no
/// DynamoDB call overlapped.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TokenRequest {
    pub(super) took: std::time::Duration,
    pub(super) alone: std::time::Duration,
}

/// Which callback the provider sent the browser to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leg {
    /// The connection's own (`/v1/sso/callback/{id}`).
    Connection(IdentityProviderId),
    /// The shared one (`/v1/sso/callback`): `iss` required.
    Shared,
}

/// An internal error on the way: logged, the app hears `server_error`.
fn internal(err: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %err, "the sign-in failed inside Tether");
    Failure::ServerError("internal")
}

/// The callback's work once the attempt is taken: the provider's answer,
/// the code exchange, the id_token, the end user, the decision, the code.
pub(super) async fn sign_in(
    ctx: &Ctx,
    outbound: &Outbound,
    keyring: &Keyring,
    attempt: &Attempt,
    leg: Leg,
    token_request: &mut TokenRequest,
) -> Result<SignedIn, Failure> {
    let now = ctx.app.clock.now();
    // Another connection's callback: the provider that answered is not the
    // one the attempt went to, and its code goes nowhere.
    if let Leg::Connection(id) = leg
        && id != attempt.identity_provider_id
    {
        return Err(Failure::ServerError("wrong_callback"));
    }
    if attempt.expires_at <= now.unix_timestamp() {
        return Err(Failure::AccessDenied("expired"));
    }
    let query = &ctx.query;
    match query.single("error") {
        Ok(None) => {}
        Ok(Some("access_denied")) => return Err(Failure::AccessDenied("access_denied")),
        _ => return Err(Failure::ServerError("provider_error")),
    }
    let org = attempt.organization_id;
    let connection = &attempt.secrets.connection;
    // RFC 9207: a provider that names itself must be this one (mix-up); on
    // the shared callback it must name itself.
    match (query.single("iss"), leg) {
        (Ok(None), Leg::Connection(_)) => {}
        (Ok(Some(iss)), _) if iss == connection.issuer => {}
        (Ok(None), Leg::Shared) => return Err(Failure::ServerError("issuer_missing")),
        _ => return Err(Failure::ServerError("issuer_mismatch")),
    }
    let code = match query.single("code") {
        Ok(Some(code)) if !code.is_empty() && code.len() <= 2048 => code,
        _ => return Err(Failure::ServerError("no_code")),
    };
    // The code's exchange needs only the attempt: it runs beside the read
    // of the organization, its policies and the provider (its keys, and
    // whether it still signs in), which decide whether its answer is used.
    let started = std::time::Instant::now();
    let read = async {
        let read = authz::organization_with_policies_and(
            &ctx.app,
            org,
            [Some((
                crate::organizations::org_pk(org),
                identity_providers::provider_sk(attempt.identity_provider_id),
            ))],
        )
        .await;
        (read, started.elapsed())
    };
    let exchange = async {
        let exchanged = exchange_code(outbound, keyring, connection, code, attempt).await;
        (exchanged, started.elapsed())
    };
    let ((read, reading), (exchanged, asking)) = tokio::join!(read, exchange);
    // The provider's time, and the part of it no DynamoDB call overlapped,
    // apart on the sign-in's log line (the bench splits the callback into
    // DynamoDB's, the provider's and Tether's own time).
    *token_request = TokenRequest {
        took: asking,
        alone: asking.saturating_sub(reading),
    };
    let (organization, policies, [provider]) = read.map_err(internal)?;
    let organization = organization.ok_or(Failure::ServerError("connection_disabled"))?;
    let provider: ProviderRecord = provider
        .map(store::from_item)
        .transpose()
        .map_err(internal)?
        .ok_or(Failure::ServerError("connection_disabled"))?;
    let login = provider
        .login
        .clone()
        .filter(|l| l.enabled)
        .ok_or(Failure::ServerError("connection_disabled"))?;
    // The app's URL must still be the connection's (a portal's test returns
    // to the portal, which no connection lists).
    if !attempt.secrets.portal_test
        && !RedirectUri::listed(&login.redirect_uris, &attempt.secrets.redirect_uri)
    {
        return Err(Failure::RedirectUriRemoved);
    }
    let id_token = exchanged?;
    let verified = VerifiedProvider::new(provider.clone()).map_err(internal)?;
    let claims = crate::sso::verify_with_fresh_keys(
        &ctx.app.store,
        outbound,
        &verified,
        &id_token,
        now,
        Some(&attempt.secrets.nonce),
    )
    .await
    .map_err(internal)?
    .map_err(Failure::InvalidIdToken)?;
    let email_verified = claims.email_verified == Some(true);
    let profile = Profile {
        sub: claims.subject.clone(),
        email: claims.email.clone(),
        email_verified: claims.email_verified,
        name: claims.name.clone(),
        preferred_username: claims.username.clone(),
        issuer: provider.issuer.clone(),
    };
    if attempt.secrets.portal_test {
        return Ok(SignedIn::Tested(profile));
    }
    let resolved = resolve(ctx, org, provider.id, &login, &profile).await?;
    let user_id = resolved.user().id;
    let identity = match &resolved {
        Resolved::Linked(_, linked) => (**linked).clone(),
        _ => {
            let mut identity = IdentityRecord::new(
                org,
                user_id,
                provider.id,
                claims.subject.clone(),
                claims.username.clone(),
                claims.email.clone(),
                claims.name.clone(),
                LinkedBy::Sso,
                now,
            );
            identity.external_email_verified = email_verified;
            identity
        }
    };
    let context = IdentityContext {
        identity_provider_id: provider.id.to_string(),
        external_id: claims.subject.clone(),
        // Only a verified address can meet an email policy (SPEC §8).
        external_email: claims.email.clone().filter(|_| email_verified),
        external_username: claims.username.clone(),
        external_email_verified: email_verified,
    };
    let end_user = authz::Principal::EndUser {
        id: user_id,
        organization: org,
    };
    let groups: Vec<crate::ids::GroupId> = match policies.as_deref() {
        Some(policies) if policies.names_groups() => {
            crate::groups::store::of_user(&ctx.app.store, org, user_id)
                .await
                .map_err(internal)?
                .iter()
                .map(|g| g.id)
                .collect()
        }
        _ => Vec::new(),
    };
    authz::engine()
        .authorize(
            &authz::Question {
                principal: &end_user,
                action: "sso.login",
                resource: authz::Resource::EndUser {
                    id: user_id,
                    organization: org,
                },
                source_ip: &ctx.source_ip,
                identity: Some(&context),
                groups: &groups,
            },
            policies.as_deref(),
        )
        .map_err(|_| Failure::PolicyDenied)?;
    let code = code::generate().map_err(internal)?;
    let issued = Issued {
        end_user_id: user_id,
        identity_provider_id: provider.id,
        token_generation: resolved.user().token_generation,
        code_challenge: attempt.secrets.app_code_challenge.clone(),
        identity: identity.clone(),
        profile,
    };
    let record = LoginOutcome::succeeded(org, provider.id, user_id, identity.id, now);
    write_sign_in(
        ctx,
        &organization,
        &resolved,
        &identity,
        &code,
        &issued,
        &record,
    )
    .await?;
    Ok(SignedIn::Code(code))
}

/// What a completed sign-in gives.
#[derive(Debug)]
pub(crate) enum SignedIn {
    /// The app's one-time code.
    Code(String),
    /// A portal's test: the profile the provider's id_token gave.
    Tested(Profile),
}

/// The code exchange at the provider's token endpoint: its id_token.
async fn exchange_code(
    outbound: &Outbound,
    keyring: &Keyring,
    connection: &Connection,
    code: &str,
    attempt: &Attempt,
) -> Result<String, Failure> {
    let aad = LoginRecord::secret_aad(
        &crate::organizations::org_pk(connection.organization_id),
        &identity_providers::provider_sk(connection.identity_provider_id),
    );
    let secret = keyring
        .open(&aad, &connection.client_secret_sealed)
        .and_then(|plain| String::from_utf8(plain).ok())
        .ok_or_else(|| internal("the client secret does not open with the deployment key"))?;
    let auth = match connection.client_auth {
        ClientAuthMethod::ClientSecretBasic => ClientAuth::Basic {
            id: &connection.client_id,
            secret: &secret,
        },
        ClientAuthMethod::ClientSecretPost => ClientAuth::Post {
            id: &connection.client_id,
            secret: &secret,
        },
    };
    let token_endpoint = url::Url::parse(&connection.token_endpoint).map_err(internal)?;
    let answer = outbound
        .post_form(
            &token_endpoint,
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &connection.callback_url),
                ("code_verifier", &attempt.secrets.code_verifier),
            ],
        )
        .await
        .map_err(|err| {
            tracing::info!(
                reason = err.reason(),
                "the provider's token endpoint failed"
            );
            Failure::ServerError("token_request")
        })?;
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|_| Failure::ServerError("token_response"))?;
    body.get("id_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| t.len() <= crate::sso::ID_TOKEN_MAX_CHARS)
        .map(str::to_owned)
        .ok_or(Failure::ServerError("token_response"))
}

/// Who signs in.
#[derive(Debug)]
enum Resolved {
    /// The end user the identity is already linked to.
    Linked(EndUserRecord, Box<IdentityRecord>),
    /// The one active end user with the verified email, to link.
    ByEmail(EndUserRecord),
    /// A new end user, to create with the identity.
    New(EndUserRecord),
}

impl Resolved {
    fn user(&self) -> &EndUserRecord {
        match self {
            Self::Linked(user, _) | Self::ByEmail(user) | Self::New(user) => user,
        }
    }
}

/// Resolves the end user (reads only): the linked identity's, else by the
/// connection's provisioning.
async fn resolve(
    ctx: &Ctx,
    org: OrganizationId,
    provider: IdentityProviderId,
    login: &LoginRecord,
    profile: &Profile,
) -> Result<Resolved, Failure> {
    let store = &ctx.app.store;
    let linked = identities::store::find_by_pair(store, org, provider, &profile.sub)
        .await
        .map_err(internal)?;
    if let Some(linked) = linked {
        let user = end_users::find(store, org, linked.user_id)
            .await
            .map_err(internal)?
            .filter(|u| u.status == Status::Active)
            .ok_or(Failure::UserNotFound("user_inactive"))?;
        if user.is_suspended() {
            return Err(Failure::UserSuspended);
        }
        return Ok(Resolved::Linked(user, Box::new(linked)));
    }
    match login.provisioning {
        Provisioning::Off => Err(Failure::UserNotFound("no_identity")),
        Provisioning::LinkVerifiedEmail => {
            let email = profile
                .email
                .clone()
                .filter(|_| profile.email_verified == Some(true))
                .ok_or(Failure::UserNotFound("email_not_verified"))?;
            let (found, more) = end_users::store::lookup(
                store,
                org,
                &end_users::store::Lookup::Email(email),
                None,
                10,
            )
            .await
            .map_err(internal)?;
            let mut active = found.into_iter().filter(|u| u.status == Status::Active);
            match (active.next(), active.next()) {
                // More addresses than one page: not provably the only one.
                (Some(_), None) if more => Err(Failure::UserNotFound("several_users_with_email")),
                (Some(only), None) if only.is_suspended() => Err(Failure::UserSuspended),
                (Some(only), None) => Ok(Resolved::ByEmail(only)),
                (None, _) => Err(Failure::UserNotFound("no_user_with_email")),
                (Some(_), Some(_)) => Err(Failure::UserNotFound("several_users_with_email")),
            }
        }
        Provisioning::Create => {
            let verified = profile.email_verified == Some(true);
            // An unverified address never becomes the user's: it could
            // later make someone else's identity match by email.
            let email = profile
                .email
                .clone()
                .filter(|_| verified)
                .and_then(|e| end_users::Email::parse(e).ok());
            let input = end_users::CreateEndUser {
                email,
                display_name: profile
                    .name
                    .clone()
                    .filter(|n| n.chars().count() <= end_users::domain::TEXT_MAX_CHARS),
                ..Default::default()
            };
            Ok(Resolved::New(EndUserRecord::new(
                org,
                input,
                ctx.app.clock.now(),
            )))
        }
    }
}

/// Writes the sign-in in one transaction: the code and its record, with the
/// end user checked (or created and counted) and the identity linked.
async fn write_sign_in(
    ctx: &Ctx,
    organization: &crate::organizations::Organization,
    resolved: &Resolved,
    identity: &IdentityRecord,
    code: &str,
    issued: &Issued,
    record: &LoginOutcome,
) -> Result<(), Failure> {
    let store = &ctx.app.store;
    let now = ctx.app.clock.now().unix_timestamp();
    let org = organization.id;
    let ours = || -> Result<Vec<_>, StoreError> {
        Ok(vec![
            code::put(store, org, code, issued, now)?,
            record.put(store)?,
        ])
    };
    match resolved {
        Resolved::New(user) => {
            let outcome = crate::relationships::create_counted(store, organization, |slot| {
                let mut user = user.clone();
                user.count_shard = slot;
                let mut items = vec![end_users::store::put_new_item(store, &user)?];
                let [_, pair, put] = identities::store::identity_items(store, identity)?;
                items.extend([
                    still_signs_in(store, org, identity.identity_provider_id)?,
                    pair,
                    put,
                ]);
                items.extend(ours()?);
                Ok(items)
            })
            .await
            .map_err(internal)?;
            match outcome {
                Ok(()) => Ok(()),
                Err(crate::relationships::Refused::AtCeiling(_)) => {
                    Err(Failure::ServerError("relationship_quota_exceeded"))
                }
                // The identity was linked by a concurrent sign-in.
                Err(crate::relationships::Refused::Other(_)) => {
                    Err(Failure::ServerError("concurrent_sign_in"))
                }
            }
        }
        Resolved::Linked(user, _) | Resolved::ByEmail(user) => {
            let mut items = vec![end_users::store::still_active(store, user).map_err(internal)?];
            if matches!(resolved, Resolved::ByEmail(_)) {
                let [_, pair, put] =
                    identities::store::identity_items(store, identity).map_err(internal)?;
                items.extend([pair, put]);
            }
            items
                .push(still_signs_in(store, org, identity.identity_provider_id).map_err(internal)?);
            items.extend(ours().map_err(internal)?);
            match store::transact(store, items).await {
                Ok(()) => Ok(()),
                Err(StoreError::TransactionCanceled { .. }) => {
                    Err(Failure::UserNotFound("user_changed"))
                }
                Err(err) => Err(internal(err)),
            }
        }
    }
}

/// A transaction's check that the connection still signs in: the provider
/// exists, is not being deleted, and its login is enabled (a change racing
/// the callback wins over it).
fn still_signs_in(
    store: &store::Store,
    org: OrganizationId,
    provider: IdentityProviderId,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
    let check = store::built(
        ConditionCheck::builder()
            .table_name(store.table())
            .key(store::PK, store::s(crate::organizations::org_pk(org)))
            .key(
                store::SK,
                store::s(identity_providers::provider_sk(provider)),
            )
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(#status) AND login.enabled = :yes",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":yes",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
            .build(),
    )?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}
