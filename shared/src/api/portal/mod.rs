//! The admin portal (SPEC §19): the organization API's links, the link's
//! opening, and the pages an IT admin's session works in ([`views`]).

mod activity;
mod views;
mod webhooks;

pub use activity::{events, usage};
pub use views::{directory, directory_change, sso, sso_change, sso_test};
pub use webhooks::{webhooks, webhooks_change};

use crate::error::ApiError;
use crate::ids::PortalLinkId;
use crate::parse::{JsonObject, ParseBody};
use crate::pipeline::{Ctx, Form, NoBody, OrgCtx, PortalCtx, Reply};
use crate::portal::links::{self, Grant, Opened};
use crate::portal::page::{self, Chrome, MessagePage};
use crate::portal::{Intent, View};
use lambda_http::http::StatusCode;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use schemars::JsonSchema;
use serde::Serialize;

/// `POST /v1/portal-links`.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CreatePortalLinkRequest")]
pub struct CreateLink {
    /// What the IT admin is to set up: `sso`, `directory`, `webhooks`,
    /// `events`, or `all` (which also shows usage).
    #[schemars(with = "IntentName")]
    pub intent: Intent,
    /// The app's page the portal links back to (https; http only on
    /// loopback).
    #[schemars(length(min = 1, max = 2048))]
    pub return_url: Option<String>,
}

/// A portal intent.
#[derive(Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "PortalIntent")]
pub enum IntentName {
    /// Single sign-on.
    Sso,
    /// Directory sync.
    Directory,
    /// Webhooks.
    Webhooks,
    /// The event log.
    Events,
    /// Every view, usage included.
    All,
}

impl ParseBody for CreateLink {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let intent = object.required_string("intent", 16).and_then(|name| {
            let intent = Intent::parse(&name);
            if intent.is_none() {
                object.problem(
                    "intent",
                    "must be one of sso, directory, webhooks, events, all",
                );
            }
            intent
        });
        let return_url = object.optional_string("return_url", 2048).filter(|url| {
            let ok = url::Url::parse(url)
                .ok()
                .is_some_and(|u| crate::config::https_or_loopback_http(&u).is_ok());
            if !ok {
                object.problem("return_url", "must be an https URL (http only on loopback)");
            }
            ok
        });
        Some(Self {
            intent: intent?,
            return_url,
        })
    }
}

/// A portal link, as minted: the URL to send the IT admin to, once.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PortalLink")]
pub struct PortalLinkView {
    /// The link's id: `DELETE /v1/portal-links/{id}` ends it and the
    /// session it opened.
    pub id: PortalLinkId,
    /// The single-use URL (valid 5 minutes).
    pub url: String,
    /// What it opens.
    #[schemars(with = "IntentName")]
    pub intent: Intent,
    /// When it stops opening.
    pub expires_at: crate::clock::Timestamp,
}

/// `POST /v1/portal-links` → 201 `{id, url, intent, expires_at}`: a
/// single-use link, valid 5 minutes, to a portal session of the key's
/// organization for `intent`.
pub async fn create_link(
    ctx: OrgCtx,
    body: crate::pipeline::Json<CreateLink>,
) -> Result<Reply, ApiError> {
    let grant = Grant {
        id: PortalLinkId::generate(),
        organization_id: ctx.org,
        intent: body.value.intent,
        return_url: body.value.return_url,
        api_key_id: ctx.api_key_id,
    };
    let (record, token) = links::mint(&ctx.app.store, grant, ctx.app.clock.now()).await?;
    let base = &ctx.app.config.public_base_url;
    let view = PortalLinkView {
        id: record.grant.id,
        url: format!("{}/portal/open?token={token}", base.as_str()),
        intent: record.grant.intent,
        expires_at: record.expires_at(),
    };
    Reply::json(StatusCode::CREATED, &view)?.header(CACHE_CONTROL, "no-store")
}

/// `DELETE /v1/portal-links/{id}` → 204: the link stops opening and the
/// session it opened ends, from the next request; 404 when the
/// organization has neither.
pub async fn delete_link(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", PortalLinkId::parse)?;
    if !links::end(&ctx.app.store, ctx.org, id).await? {
        return Err(ApiError::NotFound {
            resource: "portal_link",
        });
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `GET /portal/open?token=tpl_…` → 303 to the session's first view with
/// its cookie; a link unknown, expired or already opened is a page saying
/// so (410), never a session.
pub async fn open(ctx: Ctx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["token"])?;
    let token = ctx.query.single("token")?.unwrap_or_default();
    let now = ctx.app.clock.now();
    match links::open(&ctx.app.store, token, now).await? {
        Opened::Session(session, secret) => {
            let first = session.grant.intent.views()[0];
            let base = &ctx.app.config.public_base_url;
            let cookie = crate::pipeline::set_cookie(base, &secret.render(links::SESSION_PREFIX));
            tracing::info!(
                target: "tether::portal",
                organization_id = %session.grant.organization_id,
                portal_session = %session.grant.id,
                intent = %session.grant.intent,
                "portal session opened"
            );
            Reply::empty(StatusCode::SEE_OTHER)
                .portal_headers()?
                .header(LOCATION, first.path())?
                .header(SET_COOKIE, &cookie)
        }
        Opened::Refused => message(
            &ctx,
            StatusCode::GONE,
            "This link cannot be opened",
            "Portal links work once and for five minutes. Ask your application for a new one.",
            Vec::new(),
            None,
        ),
    }
}

/// `GET /portal` → 303 to the session's first view.
pub async fn home(ctx: PortalCtx, _: NoBody) -> Result<Reply, ApiError> {
    let first = ctx.session.intent.views()[0];
    Reply::empty(StatusCode::SEE_OTHER)
        .portal_headers()?
        .header(LOCATION, first.path())
}

/// `POST /portal/sign-out` → the session ends and its cookie is cleared.
pub async fn sign_out(ctx: PortalCtx, form: Form) -> Result<Reply, ApiError> {
    ctx.fields(form)?;
    links::end_session(&ctx.app.store, ctx.org, ctx.session.id).await?;
    let cookie = crate::pipeline::clear_cookie(&ctx.app.config.public_base_url);
    let next = ctx
        .session
        .return_url
        .clone()
        .map(|url| (url, "Back to the app".to_owned()));
    message(
        &ctx,
        StatusCode::OK,
        "You are signed out",
        "This portal session has ended.",
        Vec::new(),
        next,
    )?
    .header(SET_COOKIE, &cookie)
}

/// `GET /portal/assets/{name}`: the stylesheet and the script, compiled in.
pub async fn asset(ctx: Ctx, _: NoBody) -> Result<Reply, ApiError> {
    let name = ctx.path_text("name")?;
    let (body, content_type) = match name.as_str() {
        "portal.css" => (page::STYLESHEET, "text/css; charset=utf-8"),
        "portal.js" => (page::SCRIPT, "text/javascript; charset=utf-8"),
        _ => {
            return Err(ApiError::NotFound {
                resource: "portal_asset",
            });
        }
    };
    Reply::text(StatusCode::OK, body.to_owned())
        .header(CONTENT_TYPE, content_type)?
        .header(CACHE_CONTROL, "public, max-age=300")?
        .header(
            lambda_http::http::HeaderName::from_static("x-content-type-options"),
            "nosniff",
        )
}

/// A page with a message.
fn message(
    ctx: &Ctx,
    status: StatusCode,
    title: &str,
    text: &str,
    details: Vec<(String, String)>,
    next: Option<(String, String)>,
) -> Result<Reply, ApiError> {
    Reply::page(
        status,
        &MessagePage {
            title: title.to_owned(),
            message: text.to_owned(),
            details,
            next,
            request_id: ctx.request_id.to_string(),
        },
    )
}

/// The chrome of `view` for the session of `ctx`.
fn chrome(ctx: &PortalCtx, view: View) -> Chrome {
    Chrome::new(
        view,
        ctx.session.intent.views(),
        ctx.organization.name.clone(),
        ctx.session.csrf.clone(),
        ctx.session.return_url.clone(),
    )
}
