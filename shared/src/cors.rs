//! CORS for the endpoints browsers call (SPEC §10: the user API and the
//! JWKS) on local stacks. In AWS the HTTP API's `CorsConfiguration` answers
//! preflights and adds the headers (infra/template.yaml, `UserApi`), and
//! the functions leave `TETHER_CORS_ORIGINS` unset; `make dev`/`make test`
//! set it to `localhost`, and the functions do what API Gateway would.

use lambda_http::Body;
use lambda_http::http::{HeaderMap, HeaderValue, Response, StatusCode, header};

/// The request headers a browser may send.
pub const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key";
/// The response headers a browser's script may read.
pub const EXPOSED_HEADERS: &str = "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, \
                                   x-ratelimit-reset, retry-after, idempotent-replayed, etag";
/// How long a browser may cache a preflight, seconds.
pub const MAX_AGE_SECONDS: u32 = 600;

/// The origins allowed to call the browser endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Exact origins (`https://app.example.com`).
    pub origins: Vec<String>,
    /// `localhost` in the list: any `http(s)://localhost|127.0.0.1|[::1]:<port>`.
    pub any_localhost: bool,
}

impl CorsPolicy {
    /// Parses `TETHER_CORS_ORIGINS` (comma-separated origins, or `localhost`).
    pub fn parse(value: &str) -> Self {
        let mut policy = Self::default();
        for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "localhost" {
                policy.any_localhost = true;
            } else {
                policy.origins.push(origin.trim_end_matches('/').to_owned());
            }
        }
        policy
    }

    /// Whether `origin` (the `Origin` header) may call.
    pub fn allows(&self, origin: &str) -> bool {
        if self.origins.iter().any(|o| o == origin) {
            return true;
        }
        self.any_localhost
            && url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.path() == "/"
                    && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
            })
    }

    /// The allowed `Origin` of a request, if it has one.
    fn origin<'h>(&self, headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
        headers
            .get(header::ORIGIN)
            .filter(|o| o.to_str().is_ok_and(|o| self.allows(o)))
    }

    /// The answer to a preflight (`OPTIONS`) of an endpoint taking `method`: 204, with the
    /// CORS headers only for an allowed origin (else the browser refuses).
    pub fn preflight(&self, method: &str, headers: &HeaderMap) -> Response<Body> {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        if self.allow_origin(headers, out) {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            if let Ok(methods) = HeaderValue::from_str(&format!("{method}, OPTIONS")) {
                out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            out.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(MAX_AGE_SECONDS),
            );
        }
        response
    }

    /// Answers vary by origin; an allowed one is echoed. Whether it was.
    fn allow_origin(&self, request: &HeaderMap, out: &mut HeaderMap) -> bool {
        out.insert(header::VARY, HeaderValue::from_static("origin"));
        let Some(origin) = self.origin(request) else {
            return false;
        };
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        true
    }

    /// Adds the CORS headers of an actual request to its response.
    pub fn decorate(&self, request: &HeaderMap, response: &mut Response<Body>) {
        let out = response.headers_mut();
        if self.allow_origin(request, out) {
            out.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_means_any_local_origin_and_nothing_else() {
        let p = CorsPolicy::parse("localhost, https://app.example.com/");
        for ok in [
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:5173",
            "http://localhost",
            "https://app.example.com",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for no in [
            "https://localhost.evil.example",
            "http://evil.example",
            "https://app.example.com.evil.example",
            "null",
            "file://",
            "http://localhost:3000/path",
        ] {
            assert!(!p.allows(no), "{no}");
        }
        assert!(!CorsPolicy::parse("").allows("http://localhost:3000"));
    }
}
