//! Unit tests of the error model.

use super::*;
use std::collections::HashSet;
use std::mem::discriminant;

#[test]
fn the_catalogue_has_every_variant_once() {
    let catalogue = ApiError::catalogue();
    let kinds: HashSet<_> = catalogue.iter().map(discriminant).collect();
    assert_eq!(kinds.len(), catalogue.len(), "a variant is listed twice");
    // Count the variants through the exhaustive match: every arm of
    // `surfaces` names variants; a variant missing from the catalogue
    // leaves its arm's variants short of this count.
    let arms = include_str!("catalogue.rs")
        .split("pub fn surfaces(&self)")
        .nth(1)
        .and_then(|rest| rest.split("/// One sample of every variant").next())
        .expect("the surfaces function")
        .matches("Self::")
        .count();
    assert_eq!(
        catalogue.len(),
        arms,
        "every variant of ApiError needs a sample"
    );
}

#[test]
fn validation_errors_list_every_field() {
    let mut fields = FieldErrors::new();
    fields.push("metadata", "must be an object");
    fields.push("nickname", "unknown field");
    let err = fields.into_result(|| ()).unwrap_err();
    assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = err.body(Surface::Organization, "01JD0000000000000000000000");
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["requestId"], "01JD0000000000000000000000");
    assert_eq!(body["details"]["fields"][0]["field"], "metadata");
    assert_eq!(body["details"]["fields"][1]["problem"], "unknown field");
}

#[test]
fn internal_errors_never_carry_their_cause() {
    let err = ApiError::internal("table tether-secret does not exist");
    let body = err
        .body(Surface::Organization, "01JD0000000000000000000000")
        .to_string();
    assert!(!body.contains("tether-secret"), "{body}");
    assert!(body.contains("internal_error"));
}

#[test]
fn external_surface_uses_its_own_envelope_and_names() {
    let body = ApiError::MissingCredentials.body(Surface::ExternalService, "R");
    assert_eq!(body["error"]["type"], "missing_api_token");
    assert_eq!(body["error"]["requestId"], "R");
    let mut fields = FieldErrors::new();
    fields.push("connectToken", "is required");
    let body = ApiError::Validation(fields).body(Surface::ExternalService, "R");
    assert_eq!(body["error"]["type"], "invalid_schema");
    assert_eq!(body["error"]["issues"][0]["path"][0], "connectToken");
}

#[test]
fn transient_store_errors_are_503() {
    let err: ApiError = StoreError::Throttled {
        source: "slow down".into(),
    }
    .into();
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    let err: ApiError = StoreError::Other {
        source: "no table".into(),
    }
    .into();
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn every_error_renders_on_the_scim_surface_with_a_string_status() {
    for err in ApiError::catalogue() {
        if !err.surfaces().contains(&Surface::Scim) {
            continue;
        }
        let status = err.status_on(Surface::Scim);
        let body = err.body(Surface::Scim, "01JDR9Q4T6XW3C2B8F5N7M0K1H");
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{err:?}"
        );
        assert_eq!(body["status"], status.as_u16().to_string(), "{err:?}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.ends_with("(request 01JDR9Q4T6XW3C2B8F5N7M0K1H)"),
            "{err:?}"
        );
        let members: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert!(
            members
                .iter()
                .all(|m| ["schemas", "status", "scimType", "detail"].contains(&m.as_str())),
            "{err:?}: {members:?}"
        );
        // RFC 7644 §3.12: every 400 says which kind it is.
        if status == StatusCode::BAD_REQUEST {
            assert!(body["scimType"].is_string(), "{err:?} needs a scimType");
        }
    }
    // SCIM clients probe with ids that are no UUIDs and expect 404.
    assert_eq!(
        ApiError::InvalidPathParameter("id").status_on(Surface::Scim),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ApiError::ScimUniqueness {
            attribute: "userName"
        }
        .body(Surface::Scim, "r")["scimType"],
        "uniqueness"
    );
}
