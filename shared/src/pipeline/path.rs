//! Path parameters: from API Gateway's `pathParameters`, or matched against
//! the template; ids must be UUIDs, free-text parameters decoded text.

use crate::endpoint::Endpoint;
use crate::error::ApiError;
use lambda_http::{Request, RequestExt};

/// The raw value of the path parameter `name`.
pub(crate) fn param<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Path parameters from API Gateway's `pathParameters`, or — when the event has
/// none, as under `cargo lambda watch` — by matching the path to the template.
/// Every parameter that names an id must be a UUID (400 otherwise).
pub(super) fn path_parameters(
    endpoint: &'static Endpoint,
    req: &Request,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let from_gateway = req.path_parameters();
    let names: Vec<&'static str> = endpoint.parameter_names().collect();
    let params: Vec<(&'static str, String)> =
        if names.iter().all(|n| from_gateway.first(n).is_some()) {
            names
                .iter()
                .filter_map(|n| from_gateway.first(n).map(|v| (*n, v.to_owned())))
                .collect()
        } else {
            endpoint.match_path(req.uri().path()).unwrap_or_default()
        };
    // Greedy and declared free-text parameters are text; every other one is an id.
    for name in names
        .iter()
        .copied()
        .filter(|n| crate::endpoint::FREE_TEXT_PARAMETERS.contains(n))
    {
        let value = param(&params, name);
        if !value
            .and_then(percent_decode)
            .is_some_and(|v| !v.is_empty() && v.chars().count() <= 256 && !v.contains('\0'))
        {
            return Err(ApiError::InvalidPathParameter(name));
        }
    }
    for name in names
        .into_iter()
        .filter(|n| !n.ends_with('+') && !crate::endpoint::FREE_TEXT_PARAMETERS.contains(n))
    {
        let value = param(&params, name);
        if value.is_none_or(|v| crate::ids::EndUserId::parse(v).is_err()) {
            return Err(ApiError::InvalidPathParameter(name));
        }
    }
    Ok(params)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
pub(super) fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
