//! Property-based fuzzing of everything that parses untrusted input:
//! request bodies into every DTO, secrets and tokens, ids, cursors, paths,
//! metadata, id_tokens and access tokens. Stable Rust has no libFuzzer
//! (cargo fuzz needs nightly), so proptest generates the inputs; each property
//! is "never panics, and every refusal is a 4xx". Failures proptest finds are
//! kept in `proptest-regressions/` and replayed first on every run; the
//! `CORPUS` below keeps the hand-picked nasty inputs.

#![cfg(test)]

use crate::authz::{OrgPolicies, PolicyText};
use crate::end_users::{CreateEndUser, Metadata, UpdateEndUser};
use crate::error::ApiError;
use crate::external_services::connect_tokens::CreateConnectToken;
use crate::identities::LinkIdentity;
use crate::identity_providers::CreateProvider;
use crate::pipeline::NoFields;
use crate::pipeline::{FromBody, Json};
use crate::routes::{self, ALL};
use crate::secrets::{ApiKeySecret, ConnectToken, ServiceToken};
use crate::sso::SsoLink;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::Value;

/// Hand-kept inputs that once were, or could be, trouble.
const CORPUS: &[&[u8]] = &[
    b"",
    b"{}",
    b"null",
    b"[]",
    b"{\"metadata\":{}}",
    b"{\"metadata\":null}",
    b"{\"email\":\"\\u0000@x\"}",
    b"{\"a\":\"\\ud800\"}",
    b"{\"a\":1e999}",
    b"{\"a\":-0}",
    b"{\"a\":18446744073709551616}",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b"{\"__proto__\":{}}",
    b"{\"a\":1,\"a\":2}",
    b"{\"external_id\":\"\xf0\x9f\xa6\x80\"}",
    b"{\"subscription\":\"PRO\\u0000\"}",
    b"{\"connectToken\":\"tct_\",\"externalOrganizationId\":\"\"}",
    b"{\"expires_in_seconds\":9223372036854775808}",
    b"{\"policies\":\"forbid(principal,action,resource) when { 1 };\"}",
];

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// Every body type, fed `bytes`: never a panic, every refusal a 4xx.
fn all_bodies_accept_or_refuse(bytes: &[u8]) -> Result<(), TestCaseError> {
    let headers = json_headers();
    fn check<T: FromBody>(headers: &HeaderMap, bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Err(err) = T::from_body(headers, bytes) {
            prop_assert!(
                err.status().is_client_error(),
                "{err:?} for {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        Ok(())
    }
    check::<Json<CreateEndUser>>(&headers, bytes)?;
    check::<Json<UpdateEndUser>>(&headers, bytes)?;
    check::<Json<LinkIdentity>>(&headers, bytes)?;
    check::<Json<CreateProvider>>(&headers, bytes)?;
    check::<Json<crate::identity_providers::UpdateProvider>>(&headers, bytes)?;
    check::<Json<SsoLink>>(&headers, bytes)?;
    check::<Json<CreateConnectToken>>(&headers, bytes)?;
    check::<Json<NoFields>>(&headers, bytes)?;
    check::<Json<crate::external_services::relations::ClaimBody>>(&headers, bytes)?;
    check::<Json<crate::external_services::PutUserForFuzzing>>(&headers, bytes)?;
    check::<PolicyText>(&headers, bytes)?;
    let mut text = HeaderMap::new();
    text.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    check::<PolicyText>(&text, bytes)?;
    // Whatever text reaches the policy parser is refused or accepted, never
    // a panic or a stack overflow.
    if let Ok(text) = PolicyText::from_body(&text, bytes) {
        let _ = OrgPolicies::parse(&text.policies);
    }
    Ok(())
}

/// Arbitrary JSON, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("email".to_owned()),
                    Just("metadata".to_owned()),
                    Just("external_id".to_owned()),
                    Just("identity_provider_id".to_owned()),
                    Just("subscription".to_owned()),
                    Just("connectToken".to_owned()),
                    ".{0,12}".prop_map(|s| s)
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_break_a_body_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        all_bodies_accept_or_refuse(&bytes)?;
    }

    #[test]
    fn arbitrary_json_never_breaks_a_body_parser(value in json_value()) {
        all_bodies_accept_or_refuse(value.to_string().as_bytes())?;
        if let Value::Object(_) = &value {
            // The same object as every DTO's `metadata`, and as metadata itself.
            let wrapped = serde_json::json!({ "metadata": value.clone() });
            all_bodies_accept_or_refuse(wrapped.to_string().as_bytes())?;
        }
        let _ = Metadata::parse(value);
    }

    #[test]
    fn secret_parsers_accept_exactly_their_form(s in ".{0,100}", tail in "[0-9a-f]{48}") {
        let parsed = [
            ApiKeySecret::parse(&s).map(|k| k.expose().to_owned()),
            ServiceToken::parse(&s).map(|k| k.expose().to_owned()),
            ConnectToken::parse(&s).map(|k| k.expose().to_owned()),
        ];
        for exposed in parsed.into_iter().flatten() {
            prop_assert_eq!(exposed, s.clone());
        }
        let org = crate::ids::OrganizationId::generate();
        for key in [format!("tk_{tail}"), format!("tk_{tail}_{org}")] {
            prop_assert!(ApiKeySecret::parse(&key).is_some());
            prop_assert!(ServiceToken::parse(&key).is_none() && ConnectToken::parse(&key).is_none());
        }
        let _ = crate::idempotency::IdempotencyKey::parse(&s);
        let _ = crate::ids::EndUserId::parse(&s);
    }

    #[test]
    fn tokens_of_any_shape_are_refused_not_crashed_on(s in ".{0,300}", parts in prop::collection::vec("[A-Za-z0-9_-]{0,60}", 0..5)) {
        let keys = crate::tokens::TokenKeys::from_seed([3; 32], "tether");
        let dotted = parts.join(".");
        prop_assert!(keys.verify(&s, 0).is_none());
        prop_assert!(keys.verify(&dotted, 0).is_none());
        let provider = test_provider();
        let jwks = provider.jwks().expect("the fixture key set");
        prop_assert!(crate::sso::verify_id_token(&s, &provider, &jwks, 0, None).is_err());
        prop_assert!(crate::sso::verify_id_token(&dotted, &provider, &jwks, 0, None).is_err());
    }

    #[test]
    fn any_method_and_path_routes_or_falls_through(method in "[A-Z]{0,8}", path in "(/[a-zA-Z0-9%{}._+-]{0,40}){0,8}") {
        if let Some(endpoint) = routes::route(&method, &path) {
            prop_assert!(ALL.contains(endpoint));
            prop_assert!(endpoint.match_path(&path).is_some());
        }
        for endpoint in ALL {
            let _ = endpoint.match_path(&path);
        }
    }
}

fn test_provider() -> crate::identity_providers::ProviderRecord {
    serde_json::from_value(serde_json::json!({
        "PK": "ORG#x", "SK": "IDP#y",
        "id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162",
        "organization_id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405163",
        "name": "p", "issuer": "https://i", "client_id": "c",
        "jwks_json": include_str!("../../tests/fixtures/idp-jwks.json"),
        "created_at": "2026-01-01T00:00:00Z"
    }))
    .expect("a provider record")
}

#[test]
fn the_kept_corpus_is_refused_or_accepted_cleanly() {
    for input in CORPUS {
        all_bodies_accept_or_refuse(input).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn errors_of_every_parser_stay_client_errors() {
    // A sanity check on the property itself: a known bad body is a 4xx.
    let err = Json::<CreateEndUser>::from_body(&json_headers(), b"{").unwrap_err();
    assert!(matches!(err, ApiError::InvalidJson(_)));
}
