//! The portal's SSO and Directory views (SPEC §19), and what every view's
//! forms share. Each view's GET renders it; its POST runs one of its forms
//! (`op`) through the same operations as the organization API
//! ([`crate::pipeline::OrgSettings`]) and renders the view again with what
//! happened — a secret made is shown on that page, once.

use super::chrome;
use crate::api::sso::{AppReturn, start_attempt};
use crate::api::{directories as directory_api, identity_providers as provider_api};
use crate::clock::Timestamp;
use crate::directories::{self, requests};
use crate::error::{ApiError, FieldErrors};
use crate::identity_providers::{self, CreateProvider, UpdateProvider};
use crate::ids::{DirectoryId, IdentityProviderId};
use crate::outbound::Outbound;
use crate::parse::{JsonObject, ParseBody};
use crate::pipeline::{Fields, Form, NoBody, PortalCtx, Reply};
use crate::portal::View;
use crate::portal::page::{
    Chrome, DirectoryPage, DirectoryRow, ProviderRow, Revealed, ScimRequestRow, SsoForm, SsoPage,
};
use crate::sealed::Keyring;
use lambda_http::http::StatusCode;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The most of anything a view lists (the caps keep an organization's
/// providers, directories and endpoints well under it).
const LISTED: usize = 100;
/// SCIM requests shown per directory.
const SCIM_REQUESTS: i32 = 10;

/// A form's operation: `op`, one of `known`.
pub(super) fn op<'a>(fields: &Fields, known: &[&'a str]) -> Result<&'a str, ApiError> {
    let mut errors = FieldErrors::new();
    let sent = fields.text("op", 32, &mut errors);
    known
        .iter()
        .find(|k| sent.as_deref() == Some(**k))
        .copied()
        .ok_or_else(|| {
            ApiError::Validation(FieldErrors::one("op", "is not an operation of this page"))
        })
}

/// An id field of a form: a malformed one is the form's problem (422).
pub(super) fn id_field<T>(
    fields: &Fields,
    name: &'static str,
    parse: fn(&str) -> Result<T, crate::ids::InvalidId>,
) -> Result<T, ApiError> {
    let mut errors = FieldErrors::new();
    fields
        .text(name, 64, &mut errors)
        .and_then(|v| parse(&v).ok())
        .ok_or_else(|| ApiError::Validation(FieldErrors::one(name, "must be an id")))
}

/// Parses `members` as the organization API would parse them as a body.
pub(super) fn parsed<T: ParseBody>(members: Map<String, Value>) -> Result<T, ApiError> {
    let mut object = JsonObject::new(members);
    let value = T::parse(&mut object);
    object.finish(value)
}

/// What a refused change says on its page: each field's problem, or the
/// error's message; `None` for a server error (the error page says it).
fn problems(err: &ApiError) -> Option<Vec<String>> {
    if err.status().is_server_error() {
        return None;
    }
    Some(match err {
        ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.problem))
            .collect(),
        other => vec![other.to_string()],
    })
}

/// The page again with a refused change's problems (its status), or the
/// error itself when it is the server's.
pub(super) fn refused(err: ApiError, chrome: &mut Chrome) -> Result<StatusCode, ApiError> {
    match problems(&err) {
        Some(problems) => {
            chrome.problems = problems;
            Ok(err.status())
        }
        None => Err(err),
    }
}

pub(super) fn time(at: Timestamp) -> String {
    at.to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

// ---- SSO ------------------------------------------------------------------

async fn sso_page(ctx: &PortalCtx, chrome: Chrome, form: SsoForm) -> Result<SsoPage, ApiError> {
    let (providers, _) = identity_providers::list(&ctx.app.store, ctx.org, None, LISTED).await?;
    let providers = providers
        .iter()
        .map(|p| {
            let login = p.login.as_ref();
            ProviderRow {
                id: p.id.to_string(),
                name: p.name.clone(),
                issuer: p.issuer.clone(),
                client_id: p.client_id.clone(),
                login_enabled: login.is_some_and(|l| l.enabled),
                callback_url: login.map(|l| l.callback_url.clone()),
                redirect_uris: login
                    .map(|l| {
                        l.redirect_uris
                            .iter()
                            .map(|u| u.as_str().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                provisioning: login.and_then(|l| {
                    serde_json::to_value(l.provisioning)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                }),
            }
        })
        .collect();
    let base = ctx.app.config.public_base_url.as_str();
    Ok(SsoPage {
        chrome,
        providers,
        form,
        shared_callback: format!("{base}/v1/sso/callback"),
    })
}

/// `GET /portal/sso`: the organization's providers and the registration form.
pub async fn sso(ctx: PortalCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&[])?;
    let page = sso_page(&ctx, chrome(&ctx, View::Sso), SsoForm::default()).await?;
    Reply::page(StatusCode::OK, &page)
}

/// `POST /portal/sso` (`op=register`): a provider registered by issuer,
/// client id and secret, with its login connection (redirect URIs,
/// provisioning) — both checked before either is written; a connection the
/// issuer cannot serve removes the provider again.
pub async fn sso_change(
    ctx: PortalCtx,
    form: Form,
    (outbound, keyring): (Arc<Outbound>, Arc<Keyring>),
) -> Result<Reply, ApiError> {
    let fields = ctx.fields(form)?;
    op(&fields, &["register"])?;
    let mut errors = FieldErrors::new();
    let mut text =
        |name: &'static str, max: usize| fields.text(name, max, &mut errors).unwrap_or_default();
    let form = SsoForm {
        name: text("name", 100),
        issuer: text("issuer", 2048),
        client_id: text("client_id", 512),
        redirect_uris: text("redirect_uris", 20_000),
        provisioning: text("provisioning", 32),
        client_auth: text("client_auth", 32),
    };
    let secret = text("client_secret", 4096);
    let mut chrome = chrome(&ctx, View::Sso);
    let required = [
        ("name", &form.name),
        ("issuer", &form.issuer),
        ("client_id", &form.client_id),
        ("client_secret", &secret),
        ("redirect_uris", &form.redirect_uris),
    ];
    for (field, value) in required {
        if value.is_empty() {
            errors.push(field, "is required");
        }
    }
    let registered = async {
        errors.into_result(|| ())?;
        let create: CreateProvider = parsed(Map::from_iter([
            ("name".to_owned(), json!(form.name)),
            ("issuer".to_owned(), json!(form.issuer)),
            ("client_id".to_owned(), json!(form.client_id)),
        ]))?;
        let uris: Vec<&str> = form
            .redirect_uris
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let login: UpdateProvider = parsed(Map::from_iter([(
            "login".to_owned(),
            json!({
                "enabled": true,
                "client_secret": secret,
                "client_auth": if form.client_auth.is_empty() { "client_secret_basic" } else { &form.client_auth },
                "redirect_uris": uris,
                "provisioning": if form.provisioning.is_empty() { "create" } else { &form.provisioning },
            }),
        )]))?;
        let provider = provider_api::register(&ctx, create, &outbound).await?;
        match provider_api::change(&ctx, provider.id, &login, &outbound, &keyring).await {
            Ok(provider) => Ok(provider),
            Err(err) => {
                // Registered and configured together, or neither.
                if let Err(undo) =
                    identity_providers::delete(&ctx.app.store, &ctx.organization, provider.id).await
                {
                    tracing::error!(error = %undo, "a provider whose connection failed stayed");
                }
                Err(err)
            }
        }
    }
    .await;
    let (status, form) = match registered {
        Ok(provider) => {
            chrome.notice = Some(format!(
                "Registered {}. Add its callback URL at your identity provider, then run a test sign-in.",
                provider.name
            ));
            (StatusCode::OK, SsoForm::default())
        }
        Err(err) => (refused(err, &mut chrome)?, form),
    };
    Reply::page(status, &sso_page(&ctx, chrome, form).await?)
}

/// `GET /portal/sso/test?identity_provider_id=`: a test sign-in (SPEC §17)
/// with the organization's login connection — the callback shows the
/// profile it got and signs nobody in.
pub async fn sso_test(ctx: PortalCtx, _: NoBody, keyring: Arc<Keyring>) -> Result<Reply, ApiError> {
    ctx.query.only(&["identity_provider_id"])?;
    let id = ctx
        .query
        .single("identity_provider_id")?
        .and_then(|id| IdentityProviderId::parse(id).ok())
        .ok_or_else(|| ApiError::InvalidQueryParameter {
            name: "identity_provider_id".into(),
            problem: "must be an identity provider id",
        })?;
    let not_found = || ApiError::NotFound {
        resource: "identity_provider",
    };
    let connection = identity_providers::connection(&ctx.app.store, id)
        .await?
        .ok_or_else(not_found)?;
    ctx.check_stored_in(connection.organization_id, "identity_provider")?;
    let back = AppReturn {
        redirect_uri: format!(
            "{}{}",
            ctx.app.config.public_base_url.as_str(),
            View::Sso.path()
        ),
        state: None,
    };
    start_attempt(&ctx, &keyring, connection, &back, None, None, true).await
}

// ---- Directory --------------------------------------------------------------

async fn directory_page(
    ctx: &PortalCtx,
    chrome: Chrome,
    revealed: Option<Revealed>,
    name: String,
) -> Result<DirectoryPage, ApiError> {
    let store = &ctx.app.store;
    let (records, _) = directories::list(store, ctx.org, None, LISTED).await?;
    let logs = futures_util::future::try_join_all(
        records
            .iter()
            .map(|r| requests::latest(store, r.id, SCIM_REQUESTS)),
    )
    .await?;
    let base = &ctx.app.config.public_base_url;
    let directories = records
        .iter()
        .zip(logs)
        .map(|(record, log)| DirectoryRow {
            id: record.id.to_string(),
            name: record.name.clone(),
            scim_base_url: base.scim_base(record.id),
            token_prefix: record.token_prefix.clone(),
            created_at: time(record.created_at),
            requests: log
                .into_iter()
                .map(|r| ScimRequestRow {
                    at: time(r.at),
                    request: format!("{} {}", r.method, r.path),
                    status: r.status,
                    error: r.error,
                })
                .collect(),
        })
        .collect();
    Ok(DirectoryPage {
        chrome,
        directories,
        revealed,
        name,
    })
}

/// `GET /portal/directory`: the directories, their SCIM URLs and latest
/// requests, and the creation form.
pub async fn directory(ctx: PortalCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&[])?;
    let page = directory_page(&ctx, chrome(&ctx, View::Directory), None, String::new()).await?;
    Reply::page(StatusCode::OK, &page)
}

/// `POST /portal/directory`: `op=create` (`name`) or `op=roll`
/// (`directory_id`); the token made is shown once.
pub async fn directory_change(ctx: PortalCtx, form: Form) -> Result<Reply, ApiError> {
    let fields = ctx.fields(form)?;
    let mut chrome = chrome(&ctx, View::Directory);
    let mut errors = FieldErrors::new();
    let name = fields.text("name", 100, &mut errors).unwrap_or_default();
    let done = match op(&fields, &["create", "roll"])? {
        "create" if name.is_empty() && errors.is_empty() => Err(ApiError::Validation(
            FieldErrors::one("name", "is required"),
        )),
        "create" => match errors.into_result(|| ()) {
            Ok(()) => directory_api::open(&ctx, name.clone()).await,
            Err(err) => Err(err),
        },
        _ => {
            let id = id_field(&fields, "directory_id", DirectoryId::parse)?;
            directory_api::roll(&ctx, id).await
        }
    };
    let (status, revealed, name) = match done {
        Ok((record, token)) => {
            chrome.notice = Some(format!("Directory {} is ready.", record.name));
            let revealed = Revealed {
                label: format!("SCIM token of {}", record.name),
                value: token.expose().to_owned(),
                hint: "Enter it as the bearer token of your identity provider's SCIM connector, with the SCIM base URL below. The previous token, if any, no longer works.".to_owned(),
            };
            (StatusCode::OK, Some(revealed), String::new())
        }
        Err(err) => (refused(err, &mut chrome)?, None, name),
    };
    Reply::page(status, &directory_page(&ctx, chrome, revealed, name).await?)
}
