//! Request bodies: size limit, content type, JSON syntax (400) and schema
//! (422) are told apart, and every DTO is parsed into domain types.

use crate::authz::PolicyText;
use crate::error::{ApiError, FieldErrors};
use crate::parse::{JsonObject, ParseBody};
use crate::wire::{SchemaFn, schema};
use lambda_http::http::HeaderMap;
use lambda_http::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// The largest body the API reads (SPEC §9).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A body type an operation takes.
pub trait FromBody: Sized + Send + 'static {
    /// The JSON body's schema in the OpenAPI document; `None` for no body.
    const SCHEMA: Option<SchemaFn>;

    /// Reads the body. Must be pure (no I/O, no state): the pipeline may call
    /// it while the admission's round trip is out, and looks at the outcome
    /// only after the admission and the decision.
    fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError>;
}

/// For operations that read no body (GET, DELETE): whatever is sent is ignored.
#[derive(Debug, Clone, Copy)]
pub struct NoBody;

impl FromBody for NoBody {
    const SCHEMA: Option<SchemaFn> = None;

    fn from_body(_: &HeaderMap, _: &[u8]) -> Result<Self, ApiError> {
        Ok(NoBody)
    }
}

/// A JSON body parsed into `T`. An empty body reads as `{}`: every field absent.
#[derive(Debug, Clone)]
pub struct Json<T> {
    /// The parsed DTO.
    pub value: T,
    /// Whether the body was empty or `{}`.
    pub empty: bool,
}

impl<T: ParseBody> FromBody for Json<T> {
    const SCHEMA: Option<SchemaFn> = Some(schema::<T>);

    fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        let members = parse_object(headers, body)?;
        let empty = members.is_empty();
        let mut object = JsonObject::new(members);
        let value = T::parse(&mut object);
        let value = object.finish(value)?;
        Ok(Self { value, empty })
    }
}

/// Reads a body as a JSON object's members: 413 when too large, 400
/// `invalid_json` when it is not JSON, not an object, or not declared as JSON.
pub fn parse_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if !is_json_content_type(headers) {
        return Err(ApiError::InvalidJson(
            "the body must be sent with Content-Type: application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(members)) => match super::numbers::first_inexact(body) {
            None => Ok(members),
            Some(field) => {
                let mut errors = FieldErrors::new();
                errors.push(
                    field,
                    "holds a number that cannot be stored exactly (more digits than a \
                     64-bit integer or float keeps); send it as a string",
                );
                Err(ApiError::Validation(errors))
            }
        },
        Ok(_) => Err(ApiError::InvalidJson("the body must be a JSON object")),
        Err(_) => Err(ApiError::InvalidJson("the body is not valid JSON")),
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or_default().trim();
    let charset_ok = value.split(';').skip(1).all(|param| {
        let mut kv = param.splitn(2, '=');
        let key = kv.next().unwrap_or_default().trim();
        let val = kv.next().unwrap_or_default().trim().trim_matches('"');
        !key.eq_ignore_ascii_case("charset") || val.eq_ignore_ascii_case("utf-8")
    });
    media_type.eq_ignore_ascii_case("application/json") && charset_ok
}

/// The largest body the SCIM surface reads: a group PATCH of 1,000 members
/// in the shape Okta sends (`value` and `display`) is about 100 KB.
pub const MAX_SCIM_BODY_BYTES: usize = 1024 * 1024;

/// A SCIM request's body (RFC 7644 §3.1): a JSON object sent as
/// `application/scim+json` or `application/json` (or with no type, as some
/// provisioning clients send it), parsed by the SCIM model, not here.
#[derive(Debug, Clone)]
pub struct ScimBody(pub Value);

impl FromBody for ScimBody {
    const SCHEMA: Option<SchemaFn> = None;

    fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        if body.len() > MAX_SCIM_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_SCIM_BODY_BYTES,
            });
        }
        let declared = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        if let Some(media_type) = declared
            && !matches!(
                media_type.as_str(),
                "application/scim+json" | "application/json"
            )
        {
            return Err(ApiError::InvalidJson(
                "the body must be sent as application/scim+json",
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(value @ Value::Object(_)) => Ok(Self(value)),
            Ok(_) => Err(ApiError::InvalidJson("the body must be a JSON object")),
            Err(_) => Err(ApiError::InvalidJson("the body is not valid JSON")),
        }
    }
}

/// `PUT /v1/policies` takes Cedar text as `text/plain`, or `{"policies": "..."}`.
impl FromBody for PolicyText {
    const SCHEMA: Option<SchemaFn> = Some(schema::<Self>);

    fn from_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Self, ApiError> {
        let is_text = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/plain"));
        if is_text {
            if bytes.len() > MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                });
            }
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ApiError::InvalidJson("the policy text must be UTF-8"))?;
            return Ok(Self {
                policies: text.to_owned(),
            });
        }
        let mut members = parse_object(headers, bytes)?;
        let mut errors = FieldErrors::new();
        let text = match members.remove("policies") {
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                errors.push("policies", "must be a string of Cedar policies");
                None
            }
            None => {
                errors.push("policies", "is required");
                None
            }
        };
        for unknown in members.keys() {
            errors.push(unknown.clone(), "unknown field");
        }
        errors.into_result(|| Self {
            policies: text.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;
    use schemars::JsonSchema;

    fn json_headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[derive(Debug, JsonSchema)]
    struct Named {
        name: Option<String>,
    }

    impl ParseBody for Named {
        fn parse(object: &mut JsonObject) -> Option<Self> {
            Some(Self {
                name: object.optional_string("name", 5),
            })
        }
    }

    fn code(err: ApiError) -> &'static str {
        err.code()
    }

    #[test]
    fn empty_and_whitespace_bodies_are_empty_objects() {
        for body in [&b""[..], b"  \n", b"{}"] {
            let parsed = Json::<Named>::from_body(&json_headers("application/json"), body).unwrap();
            assert!(parsed.empty && parsed.value.name.is_none());
        }
    }

    #[test]
    fn content_type_must_be_json_when_there_is_a_body() {
        let ok = [
            "application/json",
            "Application/JSON; charset=UTF-8",
            "application/json;charset=\"utf-8\"",
        ];
        for ct in ok {
            assert!(
                Json::<Named>::from_body(&json_headers(ct), b"{}").is_ok(),
                "{ct}"
            );
        }
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
        ] {
            let err = Json::<Named>::from_body(&json_headers(ct), b"{}").unwrap_err();
            assert_eq!(code(err), "invalid_json", "{ct}");
        }
        let err = Json::<Named>::from_body(&HeaderMap::new(), b"{}").unwrap_err();
        assert_eq!(code(err), "invalid_json");
    }

    #[test]
    fn syntax_is_400_and_schema_is_422() {
        let h = json_headers("application/json");
        for body in [
            &b"{"[..],
            b"[]",
            b"\"x\"",
            b"null",
            b"{\"a\":1}{}",
            b"\xff\xfe",
        ] {
            let err = Json::<Named>::from_body(&h, body).unwrap_err();
            assert_eq!(err.status(), 400, "{body:?}");
        }
        let err = Json::<Named>::from_body(&h, br#"{"name": 3, "other": true}"#).unwrap_err();
        let ApiError::Validation(fields) = err else {
            panic!("expected a validation error")
        };
        let fields: Vec<_> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.problem.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![("name", "must be a string"), ("other", "unknown field")]
        );
        let err = Json::<Named>::from_body(&h, br#"{"name": "toolong"}"#).unwrap_err();
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn bodies_over_64_kib_are_413_before_parsing() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let err = Json::<Named>::from_body(&json_headers("application/json"), &body).unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn deep_nesting_is_rejected_not_a_stack_overflow() {
        let body = "[".repeat(60_000);
        let err = Json::<Named>::from_body(&json_headers("application/json"), body.as_bytes());
        assert!(err.is_err());
    }
}

/// An admin-portal form (`application/x-www-form-urlencoded`, as a browser
/// sends one): its fields are reached only through
/// [`super::PortalCtx::fields`], which checks the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Form(Vec<(String, String)>);

/// The field every portal form carries its session's CSRF token in.
pub const CSRF_FIELD: &str = "csrf";

impl FromBody for Form {
    const SCHEMA: Option<SchemaFn> = None;

    fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let is_form = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(ApiError::InvalidJson(
                "the body must be a form (application/x-www-form-urlencoded)",
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::InvalidJson("the form must be UTF-8"));
        }
        Ok(Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl Form {
    /// The fields, once the form's CSRF token is `csrf` (compared in
    /// constant time) and its origin acceptable.
    pub(super) fn checked(self, csrf: &str, origin_ok: bool) -> Result<Fields, ApiError> {
        use subtle::ConstantTimeEq;
        let mut sent = self.0.iter().filter(|(k, _)| k == CSRF_FIELD);
        let token_ok = match (sent.next(), sent.next()) {
            (Some((_, token)), None) => bool::from(token.as_bytes().ct_eq(csrf.as_bytes())),
            _ => false,
        };
        if !(token_ok && origin_ok) {
            return Err(ApiError::CsrfRejected);
        }
        Ok(Fields(self.0))
    }
}

/// The field a portal form carries its Idempotency-Key in.
pub const IDEMPOTENCY_FIELD: &str = "idempotency_key";

/// The Idempotency-Key a portal form carries, when it sends one once.
pub fn form_idempotency_key(body: &[u8]) -> Option<String> {
    let mut keys = url::form_urlencoded::parse(body).filter(|(k, _)| k == IDEMPOTENCY_FIELD);
    match (keys.next(), keys.next()) {
        (Some((_, key)), None) => Some(key.into_owned()),
        _ => None,
    }
}

/// A portal form's fields, its CSRF token checked.
#[derive(Debug, Clone)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The one value of `name`, trimmed; `None` when absent or empty. Sent
    /// twice, or longer than `max` characters, is a field error.
    pub fn text(&self, name: &'static str, max: usize, errors: &mut FieldErrors) -> Option<String> {
        let mut values = self.0.iter().filter(|(k, _)| k == name);
        let value = match (values.next(), values.next()) {
            (None, _) => return None,
            (Some(_), Some(_)) => {
                errors.push(name, "must be sent once");
                return None;
            }
            (Some((_, value)), None) => value.trim(),
        };
        if value.chars().count() > max {
            errors.push(name, format!("must be at most {max} characters"));
            return None;
        }
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Every value of `name` (checkboxes), trimmed, empty ones dropped.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod form_tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn form(body: &str) -> Result<Form, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Form::from_body(&headers, body.as_bytes())
    }

    #[test]
    fn a_form_opens_only_with_its_sessions_token_from_its_origin() {
        let good = form("csrf=abc&name=Acme+SSO&op=create").unwrap();
        let fields = good.clone().checked("abc", true).unwrap();
        let mut errors = FieldErrors::new();
        assert_eq!(
            fields.text("name", 100, &mut errors).as_deref(),
            Some("Acme SSO")
        );
        assert!(matches!(
            good.clone().checked("abd", true),
            Err(ApiError::CsrfRejected)
        ));
        assert!(matches!(
            good.checked("abc", false),
            Err(ApiError::CsrfRejected)
        ));
        let twice = form("csrf=abc&csrf=abc").unwrap();
        assert!(matches!(
            twice.checked("abc", true),
            Err(ApiError::CsrfRejected)
        ));
        let none = form("name=x").unwrap();
        assert!(matches!(
            none.checked("abc", true),
            Err(ApiError::CsrfRejected)
        ));
    }

    #[test]
    fn only_a_form_is_a_form() {
        let mut json = HeaderMap::new();
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(matches!(
            Form::from_body(&json, b"{}"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            form(&"a".repeat(MAX_BODY_BYTES + 1)),
            Err(ApiError::PayloadTooLarge { .. })
        ));
        let fields = form("x=%20%20&y=1&y=2").unwrap().checked("", true);
        assert!(
            fields.is_err(),
            "an empty token never matches: none was sent"
        );
    }
}
