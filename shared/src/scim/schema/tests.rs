//! Unit tests of the declared schemas, discovery documents and entity tags.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use serde_json::json;

use serde_json::Value;

const BASE: &str = "https://api.example.com/scim/v2/dir_1";

fn schema_doc(urn: &str) -> Value {
    schemas(BASE).into_iter().find(|s| s["id"] == urn).unwrap()
}

fn attribute<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
}

fn names(doc: &Value) -> Vec<&str> {
    doc["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect()
}

#[test]
fn kinds_name_their_schema_and_endpoint() {
    assert_eq!(ResourceKind::User.core_urn(), USER);
    assert_eq!(ResourceKind::Group.core_urn(), GROUP);
    assert_eq!(ResourceKind::User.endpoint(), "/Users");
    assert_eq!(ResourceKind::Group.endpoint(), "/Groups");
    assert_eq!(ResourceKind::User.name(), "User");
    assert_eq!(ResourceKind::Group.name(), "Group");
    assert_eq!(ResourceKind::User.extensions()[0].id, ENTERPRISE_USER);
    assert!(ResourceKind::Group.extensions().is_empty());
}

#[test]
fn urns_split_from_qualified_names_in_any_case() {
    let user = ResourceKind::User;
    let (schema, rest) = user
        .split_urn("URN:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeeNumber")
        .unwrap();
    assert_eq!((schema.id, rest), (ENTERPRISE_USER, "employeeNumber"));
    assert_eq!(user.split_urn(ENTERPRISE_USER).unwrap().1, "");
    assert_eq!(
        user.split_urn(&format!("{USER}:userName")).unwrap().1,
        "userName"
    );
    assert!(user.split_urn(&format!("{USER}x")).is_none());
    assert!(user.split_urn(GROUP).is_none());
    assert!(ResourceKind::Group.split_urn(ENTERPRISE_USER).is_none());
    assert!(user.split_urn("urn:é").is_none());
}

#[test]
fn the_user_schema_declares_exactly_the_supported_attributes() {
    let doc = schema_doc(USER);
    assert_eq!(
        names(&doc),
        [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "emails",
            "phoneNumbers",
            "addresses",
            "externalId",
        ]
    );
    for absent in [
        "password",
        "groups",
        "ims",
        "photos",
        "entitlements",
        "roles",
        "x509Certificates",
        "id",
        "meta",
    ] {
        assert!(!names(&doc).contains(&absent), "{absent} is declared");
    }
    let user_name = attribute(&doc, "userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["type"], "string");
    assert_eq!(user_name["mutability"], "readWrite");
    assert_eq!(user_name["returned"], "default");
    assert_eq!(user_name["multiValued"], false);
    assert!(user_name["description"].is_string());
    assert_eq!(attribute(&doc, "externalId")["caseExact"], true);
    assert_eq!(attribute(&doc, "active")["type"], "boolean");
    let profile = attribute(&doc, "profileUrl");
    assert_eq!(profile["type"], "reference");
    assert_eq!(profile["referenceTypes"], json!(["external"]));
    let emails = attribute(&doc, "emails");
    assert_eq!(emails["multiValued"], true);
    let subs: Vec<&str> = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["value", "display", "type", "primary"]);
    let name_subs = attribute(&doc, "name")["subAttributes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(name_subs, 6);
    let address_subs = attribute(&doc, "addresses")["subAttributes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(address_subs, 8);
    assert_eq!(doc["meta"]["resourceType"], "Schema");
    assert_eq!(doc["meta"]["location"], format!("{BASE}/Schemas/{USER}"));
    assert_eq!(doc["schemas"], json!([SCHEMA]));
}

#[test]
fn the_enterprise_and_group_schemas_declare_their_attributes() {
    let enterprise = schema_doc(ENTERPRISE_USER);
    assert_eq!(
        names(&enterprise),
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager"
        ]
    );
    let manager = attribute(&enterprise, "manager");
    let display = manager["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "displayName")
        .unwrap();
    assert_eq!(display["mutability"], "readOnly");
    let group = schema_doc(GROUP);
    assert_eq!(names(&group), ["displayName", "members", "externalId"]);
    assert_eq!(attribute(&group, "displayName")["required"], true);
    assert_eq!(attribute(&group, "displayName")["uniqueness"], "server");
    let members = attribute(&group, "members");
    let sub = |name: &str| {
        members["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(sub("value")["mutability"], "immutable");
    assert_eq!(sub("$ref")["mutability"], "readOnly");
    assert_eq!(sub("$ref")["type"], "reference");
    assert_eq!(sub("type")["canonicalValues"], json!(["User"]));
    assert_eq!(schemas(BASE).len(), 3);
}

#[test]
fn service_provider_config_advertises_the_features() {
    let config = service_provider_config(BASE);
    assert_eq!(config["schemas"], json!([SERVICE_PROVIDER_CONFIG]));
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(
        config["bulk"],
        json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0})
    );
    assert_eq!(
        config["filter"],
        json!({"supported": true, "maxResults": 100})
    );
    assert_eq!(MAX_RESULTS, 100);
    assert_eq!(config["changePassword"]["supported"], false);
    assert_eq!(config["sort"]["supported"], false);
    assert_eq!(config["etag"]["supported"], true);
    let scheme = &config["authenticationSchemes"][0];
    assert_eq!(scheme["type"], "oauthbearertoken");
    assert_eq!(scheme["name"], "OAuth Bearer Token");
    assert_eq!(scheme["description"], "The directory's scim_ bearer token");
    assert_eq!(scheme["primary"], true);
    assert_eq!(config["meta"]["resourceType"], "ServiceProviderConfig");
    assert_eq!(
        config["meta"]["location"],
        format!("{BASE}/ServiceProviderConfig")
    );
}

#[test]
fn resource_types_list_user_with_its_extension_and_group() {
    let types = resource_types(BASE);
    assert_eq!(types.len(), 2);
    let user = &types[0];
    assert_eq!(user["id"], "User");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER);
    assert_eq!(
        user["schemaExtensions"],
        json!([{"schema": ENTERPRISE_USER, "required": false}])
    );
    assert_eq!(
        user["meta"]["location"],
        format!("{BASE}/ResourceTypes/User")
    );
    assert_eq!(user["meta"]["resourceType"], "ResourceType");
    let group = &types[1];
    assert_eq!(group["id"], "Group");
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schemaExtensions"], json!([]));
    assert_eq!(
        group["meta"]["location"],
        format!("{BASE}/ResourceTypes/Group")
    );
}

fn meta() -> Meta {
    Meta {
        created: "2026-01-01T00:00:00Z".into(),
        last_modified: "2026-01-02T00:00:00Z".into(),
        version: 7,
        location: format!("{BASE}/Users/u1"),
    }
}

#[test]
fn a_representation_carries_schemas_id_attributes_and_meta() {
    let canonical = json!({"userName": "bjensen", "active": true});
    let rep = representation(ResourceKind::User, "u1", &canonical, &meta());
    assert_eq!(
        rep,
        json!({
            "schemas": [USER],
            "id": "u1",
            "userName": "bjensen",
            "active": true,
            "meta": {
                "resourceType": "User",
                "created": "2026-01-01T00:00:00Z",
                "lastModified": "2026-01-02T00:00:00Z",
                "version": "\"7\"",
                "location": format!("{BASE}/Users/u1"),
            },
        })
    );
    let with_extension = json!({"userName": "b", ENTERPRISE_USER: {"employeeNumber": "1"}});
    let rep = representation(ResourceKind::User, "u1", &with_extension, &meta());
    assert_eq!(rep["schemas"], json!([USER, ENTERPRISE_USER]));
    assert_eq!(rep[ENTERPRISE_USER]["employeeNumber"], "1");
    let empty = json!({"userName": "b", ENTERPRISE_USER: {}});
    let rep = representation(ResourceKind::User, "u1", &empty, &meta());
    assert_eq!(rep["schemas"], json!([USER]));
    assert!(rep.get(ENTERPRISE_USER).is_none());
    let stray = json!({"displayName": "g", "id": "other", "meta": {}});
    let rep = representation(ResourceKind::Group, "g1", &stray, &meta());
    assert_eq!(rep["id"], "g1");
    assert_eq!(rep["meta"]["resourceType"], "Group");
    assert_eq!(rep["schemas"], json!([GROUP]));
}

#[test]
fn etags_are_strong_and_if_match_reads_strong_weak_and_star() {
    assert_eq!(etag(3), "\"3\"");
    assert_eq!(parse_if_match("*"), IfMatch::Any);
    assert_eq!(parse_if_match(" * "), IfMatch::Any);
    assert_eq!(parse_if_match("\"3\""), IfMatch::Versions(vec![3]));
    assert_eq!(parse_if_match("W/\"4\""), IfMatch::Versions(vec![4]));
    assert_eq!(
        parse_if_match("\"1\", W/\"2\" ,\"abc\", \"+5\", \"\""),
        IfMatch::Versions(vec![1, 2])
    );
    assert_eq!(
        parse_if_match(&etag(u64::MAX)),
        IfMatch::Versions(vec![u64::MAX])
    );
    assert_eq!(
        parse_if_match("\"99999999999999999999999\""),
        IfMatch::Versions(vec![])
    );
    assert!(parse_if_match("*").matches(12));
    assert!(parse_if_match("\"1\", \"2\"").matches(2));
    assert!(!parse_if_match("\"1\", \"2\"").matches(3));
    assert!(!parse_if_match("\"x\"").matches(0));
}
