//! A browser signing in through Tether's SSO login (SPEC §17): Tether's
//! endpoints are dispatched in process, as API Gateway would hand them the
//! request (the cookie in the event's `cookies`); the provider's pages are
//! a genuine OpenID Provider's on loopback ([`crate::oidc`]), filled in
//! over HTTP.

use crate::oidc::{Implementation, OidcProvider, TETHER_CALLBACK};
use crate::{TestApp, TestResponse};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The app's URL the browser returns to in the tests.
pub const APP: &str = "https://app.example.com/callback";

/// The secret the provider's `client` authenticates with.
pub fn client_secret(op: &OidcProvider, client: &str) -> &'static str {
    if client.ends_with("-basic") {
        op.implementation.basic_secret()
    } else {
        "secret"
    }
}

/// Registers `op` (by issuer) for `client` and makes it a login connection
/// with `provisioning`, the client's own token-endpoint method and [`APP`]
/// as the redirect URI: the provider object.
pub async fn connect(app: &TestApp, op: &OidcProvider, client: &str, provisioning: &str) -> Value {
    let created = app
        .post(
            "/v1/identity-providers",
            &json!({"name": format!("SSO {client}"), "issuer": op.issuer, "client_id": client}),
        )
        .await
        .assert_status(201);
    let method = if client.ends_with("-basic") {
        "client_secret_basic"
    } else {
        "client_secret_post"
    };
    let path = format!(
        "/v1/identity-providers/{}",
        created.body["id"].as_str().unwrap()
    );
    let connected = app
        .patch(
            &path,
            &json!({"login": {
                "enabled": true,
                "client_secret": client_secret(op, client),
                "client_auth": method,
                "redirect_uris": [APP],
                "provisioning": provisioning,
            }}),
        )
        .await
        .assert_status(200)
        .body;
    // The provider's administrator registers the connection's callback.
    op.register_redirect_uri(connected["login"]["callback_url"].as_str().unwrap())
        .await;
    connected
}

/// The query of a URL (or of a `Location`) as a map.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One browser: its cookie for Tether, its address.
#[derive(Debug, Clone)]
pub struct Browser<'a> {
    app: &'a TestApp,
    /// The `name=value` of Tether's binding cookie, once set.
    pub cookie: Option<String>,
    /// The source address its requests come from.
    pub ip: String,
}

impl<'a> Browser<'a> {
    /// A fresh browser (no cookie) at `ip`.
    pub fn new(app: &'a TestApp, ip: &str) -> Self {
        Self {
            app,
            cookie: None,
            ip: ip.to_owned(),
        }
    }

    /// `GET {path}` at Tether with this browser's cookie; keeps a cookie
    /// Tether sets.
    pub async fn get(&mut self, path_and_query: &str) -> TestResponse {
        let mut request = self
            .app
            .request("GET", path_and_query)
            .no_key()
            .source_ip(&self.ip);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let res = request.send().await;
        if let Some(set) = res.header("set-cookie") {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        res
    }

    /// The authorize request with `query` (no leading `?`).
    pub async fn authorize(&mut self, query: &str) -> TestResponse {
        self.get(&format!("/v1/sso/authorize?{query}")).await
    }

    /// The provider's leg from the authorize response's `Location`: `login`
    /// signs in (or declines, `abort`) up to the redirect to Tether's
    /// callback, whose URL is returned.
    pub async fn at_provider(
        &self,
        op: &OidcProvider,
        location: &str,
        login: &str,
        abort: bool,
    ) -> url::Url {
        let start = reqwest::Url::parse(location).expect("the provider's URL");
        op.sign_in(start, login, TETHER_CALLBACK, abort).await
    }

    /// Tether's callback at `url` (the provider's redirect).
    pub async fn callback(&mut self, url: &url::Url) -> TestResponse {
        let query = url.query().unwrap_or_default().to_owned();
        self.get(&format!("{}?{query}", url.path())).await
    }

    /// The whole sign-in of `login` through `provider` (a login connection)
    /// with `extra` authorize parameters: the app's URL the browser ends at.
    pub async fn sign_in(
        &mut self,
        op: &OidcProvider,
        provider: &Value,
        login: &str,
        extra: &str,
    ) -> HashMap<String, String> {
        let id = provider["id"].as_str().expect("provider id");
        let query = format!(
            "identity_provider_id={id}&redirect_uri={}&state=app-state{extra}",
            encode(APP)
        );
        let res = self.authorize(&query).await;
        assert_eq!(res.status, 302, "authorize: {}", res.text);
        let location = res.header("location").expect("Location").to_owned();
        let back = self.at_provider(op, &location, login, false).await;
        let res = self.callback(&back).await;
        assert_eq!(res.status, 302, "callback: {}", res.text);
        let to = res.header("location").expect("Location");
        assert!(to.starts_with(APP), "{to}");
        query_of(to)
    }
}

/// `text` percent-encoded for a query value.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Exchanges `code` at `POST /v1/sso/token` with the test's admin key.
pub async fn exchange(app: &TestApp, code: &str) -> TestResponse {
    app.post("/v1/sso/token", &json!({ "code": code })).await
}

/// Whether `implementation` lets a person decline at its login page.
pub fn can_abort(implementation: Implementation) -> bool {
    implementation == Implementation::Panva
}
