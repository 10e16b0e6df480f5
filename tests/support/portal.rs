//! An IT admin's browser in the admin portal (SPEC §19): Tether's portal
//! routes dispatched in process as API Gateway hands them over, with a
//! cookie jar (the portal's session and the SSO attempt's binding), the
//! CSRF token and form key read from each page as a browser submits them.

use crate::{TestApp, TestResponse};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Mints a portal link for `intent` with the test's admin key: its JSON.
pub async fn mint(app: &TestApp, intent: &str) -> Value {
    app.post("/v1/portal-links", &json!({ "intent": intent }))
        .await
        .assert_status(201)
        .body
}

/// The `token` of a link's URL.
pub fn token_of(link: &Value) -> String {
    let url = link["url"].as_str().expect("a url");
    url::Url::parse(url)
        .expect("an absolute url")
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("a token")
}

/// The value of `<input … name="{name}" value="…">` in a page (the first).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// A browser: its cookies for Tether, its address.
#[derive(Debug, Clone)]
pub struct Admin<'a> {
    app: &'a TestApp,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    /// The source address.
    pub ip: String,
    /// The `Origin` its forms send (`None`: none, as some browsers on GET).
    pub origin: Option<String>,
}

impl<'a> Admin<'a> {
    /// A browser without cookies.
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
            ip: "203.0.113.50".to_owned(),
            origin: Some(
                app.app
                    .config
                    .public_base_url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            ),
        }
    }

    /// A browser that opened a new link for `intent`.
    pub async fn signed_in(app: &'a TestApp, intent: &str) -> (Self, Value) {
        let link = mint(app, intent).await;
        let mut admin = Self::new(app);
        let opened = admin.open(&token_of(&link)).await;
        assert_eq!(opened.status, 303, "{}", opened.text);
        (admin, link)
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &TestResponse) {
        if let Some(set) = res.header("set-cookie") {
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    /// `GET path_and_query` with the cookies; keeps a cookie set.
    pub async fn get(&mut self, path_and_query: &str) -> TestResponse {
        let mut request = self
            .app
            .request("GET", path_and_query)
            .no_key()
            .source_ip(&self.ip);
        if !self.cookies.is_empty() {
            request = request.header("cookie", &self.cookie_header());
        }
        let res = request.send().await;
        self.keep(&res);
        res
    }

    /// Opens the link `token`.
    pub async fn open(&mut self, token: &str) -> TestResponse {
        let query: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        self.get(&format!("/portal/open?token={query}")).await
    }

    /// Posts `fields` to `path` as a form, as sent.
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.post_body(path, "application/x-www-form-urlencoded", &body)
            .await
    }

    /// Posts `body` as `content_type` to `path`, with the cookies and origin.
    pub async fn post_body(&mut self, path: &str, content_type: &str, body: &str) -> TestResponse {
        let mut request = self
            .app
            .request("POST", path)
            .no_key()
            .source_ip(&self.ip)
            .raw_body(content_type, body);
        if !self.cookies.is_empty() {
            request = request.header("cookie", &self.cookie_header());
        }
        if let Some(origin) = &self.origin {
            request = request.header("origin", origin);
        }
        let res = request.send().await;
        self.keep(&res);
        res
    }

    /// Submits a form of page `path` as a browser would: the page's CSRF
    /// token and form key, then `fields`.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let page = self.get(path.split('#').next().unwrap_or(path)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let csrf = input_value(&page.text, "csrf").expect("a CSRF token");
        let key = input_value(&page.text, "idempotency_key").expect("a form key");
        let mut all = vec![("csrf", csrf.as_str()), ("idempotency_key", key.as_str())];
        all.extend_from_slice(fields);
        let target = path.split('?').next().unwrap_or(path);
        self.post_raw(target, &all).await
    }
}
