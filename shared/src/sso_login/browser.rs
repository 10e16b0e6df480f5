//! The cookie that binds a login attempt to the browser that started it
//! (SPEC §17): an attempt completes only in that browser, so a victim sent
//! an attacker's callback link (login CSRF) completes nothing.

use crate::config::PublicBaseUrl;
use lambda_http::http::HeaderMap;

/// How long the cookie lives: the attempt's lifetime.
pub const MAX_AGE_SECONDS: i64 = 600;

/// The binding cookie's name: `__Host-` prefixed (so only this host over
/// TLS can set it) when the API is served over https; a local stack over
/// plain http drops the prefix, which browsers refuse without `Secure`.
pub fn cookie_name(base: &PublicBaseUrl) -> &'static str {
    if base.is_https() {
        "__Host-tether_sso"
    } else {
        "tether_sso"
    }
}

/// The values of every cookie named `name` the browser sent, in order.
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(lambda_http::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The binding value the browser sent, when well formed (43 base64url
/// characters, as [`super::random_secret`] makes them).
pub fn binding_of(headers: &HeaderMap, base: &PublicBaseUrl) -> Option<String> {
    cookie_values(headers, cookie_name(base))
        .next()
        .map(str::to_owned)
        .filter(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

/// The `Set-Cookie` value that binds `value` to the browser.
pub fn set_cookie(base: &PublicBaseUrl, value: &str) -> String {
    let secure = if base.is_https() { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(base)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    #[test]
    fn over_https_the_cookie_is_host_prefixed_and_secure() {
        let base = PublicBaseUrl::parse("https://api.example.com").unwrap();
        let cookie = set_cookie(&base, "v");
        assert!(
            cookie.starts_with("__Host-tether_sso=v; Path=/;"),
            "{cookie}"
        );
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"));
        let local = PublicBaseUrl::parse("http://127.0.0.1:9000").unwrap();
        assert!(!set_cookie(&local, "v").contains("Secure"));
    }

    #[test]
    fn only_a_well_formed_value_of_our_cookie_binds() {
        let base = PublicBaseUrl::parse("http://127.0.0.1:9000").unwrap();
        let good = "a".repeat(43);
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            HeaderValue::from_str(&format!("other=1; tether_sso={good}")).unwrap(),
        );
        assert_eq!(binding_of(&headers, &base), Some(good));
        let mut bad = HeaderMap::new();
        bad.append("cookie", HeaderValue::from_static("tether_sso=short"));
        assert_eq!(binding_of(&bad, &base), None);
    }
}
