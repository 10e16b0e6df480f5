//! The portal's pages: askama templates (`shared/templates/portal/`,
//! compiled in and HTML-escaped by default), the two static assets, and
//! the headers every portal response carries.

use super::View;
use crate::error::ApiError;
use askama::Template;
use lambda_http::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use lambda_http::{Body, Response};

/// The portal's Content-Security-Policy: nothing but this origin's own
/// stylesheet and script, no inline script or style, forms only to this
/// origin, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The stylesheet, compiled in.
pub const STYLESHEET: &str = include_str!("../../assets/portal.css");
/// The script (progressive enhancement only: every page works without it).
pub const SCRIPT: &str = include_str!("../../assets/portal.js");

/// The headers every portal response carries, errors included.
pub fn security_headers() -> [(HeaderName, &'static str); 6] {
    [
        (HeaderName::from_static("content-security-policy"), CSP),
        (X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with a
        // form, which the CSRF check must refuse. Nothing leaves the origin.
        (REFERRER_POLICY, "same-origin"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ]
}

/// The content type of every page.
pub const HTML: &str = "text/html; charset=utf-8";

/// The response to an error on a portal route: a page, with the portal's
/// headers (the pipeline adds the request id and any `Retry-After`).
pub fn error_response(err: &ApiError, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::Text(error_page(err, request_id)));
    *response.status_mut() = err.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(HTML));
    for (name, value) in security_headers() {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// One entry of the navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Its label.
    pub label: &'static str,
    /// Its page.
    pub path: &'static str,
    /// The page shown.
    pub current: bool,
}

/// What every page of a session shows around its view.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The view's title.
    pub title: &'static str,
    /// The organization's name.
    pub organization: String,
    /// The views the session may open.
    pub nav: Vec<NavItem>,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// A fresh Idempotency-Key for this rendering's forms: a form sent twice
    /// (a double click, a reload) runs once and answers the same.
    pub form_key: String,
    /// Where "Back to the app" goes.
    pub return_url: Option<String>,
    /// What the last change did.
    pub notice: Option<String>,
    /// What went wrong with it, per field or as a whole.
    pub problems: Vec<String>,
}

impl Chrome {
    /// The chrome of `view` for a session of `views`.
    pub fn new(
        view: View,
        views: &[View],
        organization: String,
        csrf: String,
        return_url: Option<String>,
    ) -> Self {
        Self {
            title: view.label(),
            organization,
            nav: views
                .iter()
                .map(|v| NavItem {
                    label: v.label(),
                    path: v.path(),
                    current: *v == view,
                })
                .collect(),
            csrf,
            form_key: ulid::Ulid::generate().to_string(),
            return_url,
            notice: None,
            problems: Vec::new(),
        }
    }
}

/// A secret shown once: its label, value, and what to do with it.
#[derive(Debug, Clone)]
pub struct Revealed {
    /// What it is.
    pub label: String,
    /// The secret.
    pub value: String,
    /// Where it goes.
    pub hint: String,
}

/// A registered identity provider, as the SSO view lists it.
#[derive(Debug, Clone)]
pub struct ProviderRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its issuer.
    pub issuer: String,
    /// The client id at the provider.
    pub client_id: String,
    /// Whether it signs people in.
    pub login_enabled: bool,
    /// The callback to register at the provider.
    pub callback_url: Option<String>,
    /// The app's redirect URIs.
    pub redirect_uris: Vec<String>,
    /// How unknown people are provisioned.
    pub provisioning: Option<String>,
}

/// What the SSO form holds (sent back with its problems).
#[derive(Debug, Clone, Default)]
pub struct SsoForm {
    /// Display name.
    pub name: String,
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Redirect URIs, one per line.
    pub redirect_uris: String,
    /// `off`, `create`, `link_verified_email`.
    pub provisioning: String,
    /// `client_secret_basic`, `client_secret_post`.
    pub client_auth: String,
}

/// The SSO view.
#[derive(Debug, Template)]
#[template(path = "portal/sso.html")]
pub struct SsoPage {
    /// The chrome.
    pub chrome: Chrome,
    /// Registered providers.
    pub providers: Vec<ProviderRow>,
    /// The registration form.
    pub form: SsoForm,
    /// The callback shared by every connection (for providers that send `iss`).
    pub shared_callback: String,
}

/// A directory, as the Directory view lists it.
#[derive(Debug, Clone)]
pub struct DirectoryRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The SCIM base URL.
    pub scim_base_url: String,
    /// The token's first characters.
    pub token_prefix: String,
    /// When it was created.
    pub created_at: String,
    /// Its latest SCIM requests, newest first.
    pub requests: Vec<ScimRequestRow>,
}

/// One SCIM request a directory received.
#[derive(Debug, Clone)]
pub struct ScimRequestRow {
    /// When.
    pub at: String,
    /// Method and path.
    pub request: String,
    /// The status answered.
    pub status: u16,
    /// The error's code, if it failed.
    pub error: Option<String>,
}

/// The Directory view.
#[derive(Debug, Template)]
#[template(path = "portal/directory.html")]
pub struct DirectoryPage {
    /// The chrome.
    pub chrome: Chrome,
    /// The organization's directories.
    pub directories: Vec<DirectoryRow>,
    /// A token just made, shown this once.
    pub revealed: Option<Revealed>,
    /// The name field, sent back with its problems.
    pub name: String,
}

/// An endpoint, as the Webhooks view lists it.
#[derive(Debug, Clone)]
pub struct EndpointRow {
    /// Its id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// `enabled`, `disabled`, …
    pub status: String,
    /// The event types it receives (empty: all).
    pub event_types: String,
    /// Its note.
    pub description: String,
    /// The one whose deliveries are shown.
    pub selected: bool,
}

/// One delivery of the log.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    /// Its id.
    pub id: String,
    /// The event's type.
    pub event_type: String,
    /// The event's id.
    pub event_id: String,
    /// `pending`, `succeeded`, `failed`.
    pub status: String,
    /// When it was made.
    pub created_at: String,
    /// Every attempt.
    pub attempts: Vec<AttemptRow>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    /// When.
    pub at: String,
    /// The endpoint's status code, if it answered.
    pub status_code: String,
    /// What went wrong.
    pub error: String,
    /// How long it took.
    pub duration_ms: u64,
}

/// The Webhooks view.
#[derive(Debug, Template)]
#[template(path = "portal/webhooks.html")]
pub struct WebhooksPage {
    /// The chrome.
    pub chrome: Chrome,
    /// The organization's endpoints.
    pub endpoints: Vec<EndpointRow>,
    /// A secret just made, shown this once.
    pub revealed: Option<Revealed>,
    /// The endpoint whose deliveries are shown, and its log.
    pub deliveries: Option<(EndpointRow, Vec<DeliveryRow>)>,
    /// The event types an endpoint may choose.
    pub event_types: &'static [&'static str],
    /// The URL field, sent back with its problems.
    pub url: String,
    /// The description field, likewise.
    pub description: String,
}

/// One event of the timeline.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Its id.
    pub id: String,
    /// Its type.
    pub kind: String,
    /// When.
    pub at: String,
    /// Who: `api_key 0192…`.
    pub actor: String,
    /// The object's id, when it has one.
    pub object: String,
}

/// An event-type filter's checkbox.
#[derive(Debug, Clone)]
pub struct TypeFilter {
    /// The type.
    pub name: &'static str,
    /// Checked.
    pub checked: bool,
}

/// The Events view.
#[derive(Debug, Template)]
#[template(path = "portal/events.html")]
pub struct EventsPage {
    /// The chrome.
    pub chrome: Chrome,
    /// The page of events, oldest first.
    pub events: Vec<EventRow>,
    /// The type filters.
    pub filters: Vec<TypeFilter>,
    /// The next page's query string, when there is more.
    pub next: Option<String>,
}

/// One bar of the refusals chart (SVG coordinates computed here).
#[derive(Debug, Clone)]
pub struct Bar {
    /// The hour's label.
    pub label: String,
    /// Refusals in it.
    pub refused: u64,
    /// x of the bar.
    pub x: u32,
    /// y of its top.
    pub y: u32,
    /// Its height.
    pub height: u32,
}

/// A quota: what is used of what the plan allows.
#[derive(Debug, Clone)]
pub struct Meter {
    /// What it counts.
    pub label: &'static str,
    /// Used.
    pub used: u64,
    /// Allowed.
    pub ceiling: u64,
    /// Used, in percent (0–100, for the meter's width).
    pub percent: u64,
}

/// The Usage view.
#[derive(Debug, Template)]
#[template(path = "portal/usage.html")]
pub struct UsagePage {
    /// The chrome.
    pub chrome: Chrome,
    /// The plan's name.
    pub plan: String,
    /// Turns and relationships.
    pub meters: Vec<Meter>,
    /// Refusals per hour, oldest first.
    pub bars: Vec<Bar>,
    /// The most refusals in one hour (the chart's scale).
    pub peak: u64,
    /// Refusals in the last 24 hours.
    pub total: u64,
}

/// A page with a message only: a refused link, an ended session, an error,
/// a test sign-in's result.
#[derive(Debug, Template)]
#[template(path = "portal/message.html")]
pub struct MessagePage {
    /// The title.
    pub title: String,
    /// What happened.
    pub message: String,
    /// Fields to show (a test sign-in's profile).
    pub details: Vec<(String, String)>,
    /// Where to go next.
    pub next: Option<(String, String)>,
    /// The request id, for support.
    pub request_id: String,
}

/// The bars of `hours` in a chart `height` pixels high, `width` wide.
pub fn bars(hours: &[super::usage::Hour], width: u32, height: u32) -> (Vec<Bar>, u64) {
    let peak = hours.iter().map(|h| h.refused).max().unwrap_or(0);
    let slot = width / u32::try_from(hours.len().max(1)).unwrap_or(1);
    let bars = hours
        .iter()
        .enumerate()
        .map(|(i, hour)| {
            let bar = hour
                .refused
                .saturating_mul(u64::from(height))
                .checked_div(peak)
                .map_or(0, |bar| u32::try_from(bar).unwrap_or(height));
            Bar {
                label: hour.label.clone(),
                refused: hour.refused,
                x: u32::try_from(i).unwrap_or(0) * slot + 2,
                y: height - bar,
                height: bar,
            }
        })
        .collect();
    (bars, peak)
}

/// A quota's meter.
pub fn meter(label: &'static str, used: u64, ceiling: u64) -> Meter {
    let percent = used
        .saturating_mul(100)
        .checked_div(ceiling)
        .map_or(100, |p| p.min(100));
    Meter {
        label,
        used,
        ceiling,
        percent,
    }
}

/// The HTML page of an error on a portal route.
pub fn error_page(err: &ApiError, request_id: &str) -> String {
    let status = err.status();
    let (title, message, next) = match err {
        ApiError::MissingCredentials | ApiError::InvalidCredentials => (
            "Your portal session has ended".to_owned(),
            "Portal sessions last an hour and end when your application revokes them. \
             Ask your application for a new link."
                .to_owned(),
            None,
        ),
        ApiError::CsrfRejected => (
            "This form has expired".to_owned(),
            err.to_string(),
            Some(("/portal".to_owned(), "Back to the portal".to_owned())),
        ),
        ApiError::PolicyDenied { .. } | ApiError::InsufficientScope { .. } => (
            "Not part of this session".to_owned(),
            "The link this session was opened with does not include this page.".to_owned(),
            Some(("/portal".to_owned(), "Back to the portal".to_owned())),
        ),
        _ if status.is_server_error() => (
            "Something went wrong".to_owned(),
            "Tether could not complete this request. Try again in a moment.".to_owned(),
            Some(("/portal".to_owned(), "Back to the portal".to_owned())),
        ),
        _ => (
            status.canonical_reason().unwrap_or("Error").to_owned(),
            err.to_string(),
            Some(("/portal".to_owned(), "Back to the portal".to_owned())),
        ),
    };
    let page = MessagePage {
        title,
        message,
        details: Vec::new(),
        next,
        request_id: request_id.to_owned(),
    };
    page.render()
        .unwrap_or_else(|_| format!("Error (request {request_id})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_hour_and_an_empty_day_draws_nothing() {
        let hours = |counts: &[u64]| -> Vec<super::super::usage::Hour> {
            counts
                .iter()
                .map(|&refused| super::super::usage::Hour {
                    label: "00:00".into(),
                    refused,
                })
                .collect()
        };
        let (bars, peak) = bars(&hours(&[0, 5, 10]), 300, 100);
        assert_eq!(peak, 10);
        assert_eq!(
            bars.iter().map(|b| b.height).collect::<Vec<_>>(),
            [0, 50, 100]
        );
        assert!(bars.iter().all(|b| b.y + b.height == 100));
        let (empty, peak) = super::bars(&hours(&[0, 0]), 300, 100);
        assert_eq!(peak, 0);
        assert!(empty.iter().all(|b| b.height == 0));
        assert_eq!(meter("t", 5, 0).percent, 100);
        assert_eq!(meter("t", 250, 1000).percent, 25);
        assert_eq!(meter("t", 2000, 1000).percent, 100);
    }

    #[test]
    fn what_a_page_shows_is_escaped() {
        let page = MessagePage {
            title: "<script>alert(1)</script>".into(),
            message: "a & b".into(),
            details: vec![("name".into(), "\"><img src=x onerror=alert(1)>".into())],
            next: None,
            request_id: "r".into(),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(!html.contains("<img src=x"));
    }
}
