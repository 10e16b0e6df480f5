//! What an operation answers ([`Reply`]) and how every outcome is rendered:
//! JSON bodies, the error envelopes, the request id on every response.

use crate::error::{ApiError, Surface};
use crate::idempotency;
use crate::ids::RequestId;
use lambda_http::http::StatusCode;
use lambda_http::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use lambda_http::{Body, Response};
use serde::Serialize;

/// Content type of every JSON response (SPEC §3).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Content type of every SCIM response (RFC 7644 §8.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json; charset=utf-8";
/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A successful response of an operation.
#[derive(Debug)]
pub struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Option<Vec<u8>>,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(body).map_err(ApiError::internal)?;
        Ok(Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        })
    }

    /// A SCIM response (`application/scim+json`).
    pub fn scim(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        Self::json(status, body)?.header(CONTENT_TYPE, SCIM_CONTENT_TYPE)
    }

    /// A text response (the caller sets its `Content-Type`: HTML, CSS, …).
    pub fn text(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body: Some(body.into_bytes()),
            headers: Vec::new(),
        }
    }

    /// A page of the admin portal: HTML, with the portal's headers.
    pub fn page(status: StatusCode, page: &impl askama::Template) -> Result<Self, ApiError> {
        let html = page.render().map_err(ApiError::internal)?;
        Self::text(status, html)
            .portal_headers()?
            .header(CONTENT_TYPE, crate::portal::page::HTML)
    }

    /// Adds the admin portal's headers ([`crate::portal::page::security_headers`]):
    /// its pages and redirects.
    pub fn portal_headers(mut self) -> Result<Self, ApiError> {
        for (name, value) in crate::portal::page::security_headers() {
            self = self.header(name, value)?;
        }
        Ok(self)
    }

    /// A response without a body (204).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// A stored response, replayed byte for byte with `Idempotent-Replayed: true`.
    pub fn replay(stored: idempotency::StoredResponse) -> Self {
        let mut headers: Vec<(HeaderName, HeaderValue)> = stored
            .headers
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    HeaderName::from_bytes(n.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        headers.push((
            HeaderName::from_static(idempotency::REPLAYED_HEADER),
            HeaderValue::from_static("true"),
        ));
        Self {
            status: StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
            body: stored.body.map(String::into_bytes),
            headers,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Self, ApiError> {
        let value = HeaderValue::from_str(value).map_err(ApiError::internal)?;
        self.headers.push((name, value));
        Ok(self)
    }
}

pub(super) fn render_reply(reply: Reply) -> Response<Body> {
    let mut response = Response::new(match reply.body {
        Some(bytes) => Body::Text(String::from_utf8(bytes).unwrap_or_default()),
        None => Body::Empty,
    });
    *response.status_mut() = reply.status;
    if response.body() != &Body::Empty {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    }
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Renders an error in its surface's envelope.
pub fn render_error(err: &ApiError, surface: Surface, request_id: RequestId) -> Response<Body> {
    let body = err.body_text(surface, &request_id.to_string());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = err.status_on(surface);
    let content_type = match surface {
        Surface::Scim => SCIM_CONTENT_TYPE,
        Surface::Organization | Surface::ExternalService => JSON_CONTENT_TYPE,
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let ApiError::MethodNotAllowed { allow } = err {
        response.headers_mut().insert(
            lambda_http::http::header::ALLOW,
            HeaderValue::from_static(allow),
        );
    }
    response
}

pub(super) fn stamp(mut response: Response<Body>, request_id: RequestId) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
