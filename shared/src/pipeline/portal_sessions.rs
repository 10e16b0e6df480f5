//! Admin-portal sessions (SPEC §19): a browser with the session cookie its
//! one-time link set, admitted like any caller of one organization — its
//! bucket charged, Cedar deciding for a `PortalSession` — and ended with the
//! session's deletion or the minting API key's revocation, from the next
//! request: both are read on every request, strongly consistent, never
//! cached.

use super::admission::Incoming;
use super::keys_and_tokens::{Identify, Member};
use super::learned::Learned;
use super::principal::Authenticated;
use super::tenant::{Loaded, load_organization};
use crate::app::{App, Needs};
use crate::config::PublicBaseUrl;
use crate::endpoint::Credential;
use crate::error::ApiError;
use crate::freshness::{Current, FRESH, Mark, Version};
use crate::ids::OrganizationId;
use crate::portal::PortalPrincipal;
use crate::portal::links::{self, Presented, SESSION_PREFIX};
use lambda_http::http::HeaderMap;

/// The session cookie's name: `__Host-` prefixed over https (so only this
/// host, over TLS, with `Path=/`, can set it); a local stack over plain
/// http drops the prefix, which browsers refuse without `Secure`.
pub fn cookie_name(base: &PublicBaseUrl) -> &'static str {
    if base.is_https() {
        "__Host-tether_portal"
    } else {
        "tether_portal"
    }
}

/// The `Set-Cookie` value that starts a session: `HttpOnly`,
/// `SameSite=Strict` (no other site's page can send it along), one hour.
pub fn set_cookie(base: &PublicBaseUrl, value: &str) -> String {
    let secure = if base.is_https() { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        cookie_name(base),
        links::SESSION_SECONDS
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(base: &PublicBaseUrl) -> String {
    let secure = if base.is_https() { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}",
        cookie_name(base)
    )
}

/// The session cookie the browser sent, when it sent one, well formed. Two
/// of them (one tossed in by another page of the site) are none.
pub fn presented(headers: &HeaderMap, base: &PublicBaseUrl) -> Option<Presented> {
    let mut sent = crate::sso_login::browser::cookie_values(headers, cookie_name(base));
    match (sent.next(), sent.next()) {
        (Some(value), None) => Presented::parse(value, SESSION_PREFIX),
        _ => None,
    }
}

/// Portal sessions: an IT admin's browser.
#[derive(Debug, Clone, Copy)]
pub struct PortalSessions;

impl Identify for PortalSessions {
    const CREDENTIAL: Credential = Credential::PortalSession;
    const NEEDS: Needs = Needs::NONE;
    type Member = PortalPrincipal;

    fn keep(_: &App) -> Option<Self> {
        Some(Self)
    }

    /// The session the cookie names, live, and minted by a key that still
    /// authenticates.
    async fn identify(&self, request: &Incoming<'_>, _: Mark) -> Result<PortalPrincipal, ApiError> {
        let app = request.app;
        let cookie = presented(request.headers, &app.config.public_base_url)
            .ok_or(ApiError::MissingCredentials)?;
        let now = app.clock.now();
        let session = links::session(&app.store, &cookie, now)
            .await?
            .ok_or(ApiError::InvalidCredentials)?;
        let grant = session.grant;
        let key =
            crate::api_keys::find(&app.store, grant.organization_id, grant.api_key_id).await?;
        if !key.is_some_and(|k| k.live(now)) {
            return Err(ApiError::InvalidCredentials);
        }
        Ok(PortalPrincipal {
            organization_id: grant.organization_id,
            id: grant.id,
            intent: grant.intent,
            return_url: grant.return_url,
            csrf: cookie.csrf_token(),
        })
    }
}

impl Member for PortalPrincipal {
    type Principal = PortalPrincipal;

    fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    fn credential_id(&self) -> String {
        format!("portal:{}", self.id)
    }

    fn as_identified(&self) -> (PortalPrincipal, Version) {
        // Read by this request: nothing cached.
        (self.clone(), FRESH)
    }

    async fn organization(&mut self, app: &App) -> Result<Loaded, ApiError> {
        load_organization(app, self.organization_id).await
    }

    async fn record_use(&self, _: &App) {}

    async fn current(
        self,
        _: &App,
        _: Current,
        _: &str,
        _: &mut Learned,
    ) -> Result<PortalPrincipal, ApiError> {
        Ok(self)
    }

    fn authenticated(principal: &PortalPrincipal) -> Authenticated {
        Authenticated::Portal(principal.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PortalLinkId;
    use lambda_http::http::HeaderValue;

    #[test]
    fn over_https_the_cookie_is_host_prefixed_secure_and_strict() {
        let base = PublicBaseUrl::parse("https://api.example.com").unwrap();
        let cookie = set_cookie(&base, "v");
        assert_eq!(
            cookie,
            "__Host-tether_portal=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(clear_cookie(&base).contains("Max-Age=0"));
        let local = PublicBaseUrl::parse("http://127.0.0.1:9000").unwrap();
        assert!(set_cookie(&local, "v").starts_with("tether_portal=v;"));
        assert!(!set_cookie(&local, "v").contains("Secure"));
    }

    #[test]
    fn only_a_well_formed_session_cookie_of_ours_is_presented() {
        let base = PublicBaseUrl::parse("http://127.0.0.1:9000").unwrap();
        let id = PortalLinkId::generate();
        let value = format!("tps_{id}_{}", "a".repeat(43));
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            HeaderValue::from_str(&format!("other=1; tether_portal={value}")).unwrap(),
        );
        assert_eq!(presented(&headers, &base).map(|p| p.id), Some(id));
        let mut link = HeaderMap::new();
        let link_value = format!("tether_portal=tpl_{id}_{}", "a".repeat(43));
        link.append("cookie", HeaderValue::from_str(&link_value).unwrap());
        assert!(presented(&link, &base).is_none(), "a link is no session");
        let mut twice = HeaderMap::new();
        twice.append(
            "cookie",
            HeaderValue::from_str(&format!("tether_portal={value}")).unwrap(),
        );
        twice.append(
            "cookie",
            HeaderValue::from_str(&format!("tether_portal={value}")).unwrap(),
        );
        assert!(presented(&twice, &base).is_none(), "two cookies are none");
    }
}
