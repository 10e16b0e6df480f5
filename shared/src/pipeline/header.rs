//! Request headers as the pipeline reads them: one value, none, or more
//! than one (which no one can trust); the bearer token; the source address.

use lambda_http::http::HeaderMap;
use lambda_http::request::RequestContext;

/// A request header as the pipeline reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent (or sent with a value that is not text).
    Absent,
    /// Sent once, as text.
    One(&'a str),
    /// Sent more than once: no one value can be trusted.
    Unusable,
}

impl<'a> Header<'a> {
    /// Reads `name` from `headers`.
    pub fn of(headers: &'a HeaderMap, name: &str) -> Self {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().map_or(Self::Absent, Self::One),
            (Some(_), Some(_)) => Self::Unusable,
            _ => Self::Absent,
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let Header::One(value) = Header::of(headers, "authorization") else {
        return None;
    };
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
pub(super) fn source_ip(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV2(v2) => v2.http.source_ip.clone(),
        #[allow(
            unreachable_patterns,
            reason = "other event sources when their features are enabled"
        )]
        _ => None,
    }
}
