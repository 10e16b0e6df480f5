//! The discovery documents (RFC 7644 §4), resource representations and
//! their entity tags.

use super::{Attribute, Mutability, ResourceKind, Returned, Schema, Type, Uniqueness};

use super::{RESOURCE_TYPE, SCHEMA, SERVICE_PROVIDER_CONFIG};

use serde_json::json;

use serde_json::{Map, Value};

/// The most resources one query returns (`filter.maxResults`).
pub const MAX_RESULTS: u64 = 100;

/// `/ServiceProviderConfig` (RFC 7643 §5), under the SCIM base URL.
pub fn service_provider_config(base_url: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The directory's scim_ bearer token",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

/// `/ResourceTypes` (RFC 7643 §6): User, with the enterprise extension, and
/// Group.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|kind| {
            let extensions: Vec<Value> = kind
                .extensions()
                .iter()
                .map(|schema| json!({"schema": schema.id, "required": false}))
                .collect();
            json!({
                "schemas": [RESOURCE_TYPE],
                "id": kind.name(),
                "name": kind.name(),
                "endpoint": kind.endpoint(),
                "description": kind.schema().description,
                "schema": kind.core_urn(),
                "schemaExtensions": extensions,
                "meta": {
                    "resourceType": "ResourceType",
                    "location": format!("{base_url}/ResourceTypes/{}", kind.name()),
                },
            })
        })
        .collect()
}

/// `/Schemas` (RFC 7643 §7): the core User, the enterprise extension and the
/// core Group, each with every characteristic of every declared attribute.
pub fn schemas(base_url: &str) -> Vec<Value> {
    [
        ResourceKind::User.schema(),
        &super::ENTERPRISE_USER_SCHEMA,
        ResourceKind::Group.schema(),
    ]
    .into_iter()
    .map(|schema| schema_document(schema, base_url))
    .collect()
}

fn schema_document(schema: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_document).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base_url}/Schemas/{}", schema.id),
        },
    })
}

fn attribute_document(attribute: &Attribute) -> Value {
    let mut doc = Map::new();
    doc.insert("name".into(), attribute.name.into());
    let data_type = match attribute.data_type {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::Complex => "complex",
        Type::Reference => "reference",
        Type::DateTime => "dateTime",
    };
    doc.insert("type".into(), data_type.into());
    doc.insert("multiValued".into(), attribute.multi_valued.into());
    doc.insert("description".into(), attribute.description.into());
    doc.insert("required".into(), attribute.required.into());
    doc.insert("caseExact".into(), attribute.case_exact.into());
    let mutability = match attribute.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    };
    doc.insert("mutability".into(), mutability.into());
    let returned = match attribute.returned {
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Default => "default",
        Returned::Request => "request",
    };
    doc.insert("returned".into(), returned.into());
    let uniqueness = match attribute.uniqueness {
        Uniqueness::None => "none",
        Uniqueness::Server => "server",
        Uniqueness::Global => "global",
    };
    doc.insert("uniqueness".into(), uniqueness.into());
    if !attribute.canonical_values.is_empty() {
        doc.insert("canonicalValues".into(), attribute.canonical_values.into());
    }
    if attribute.data_type == Type::Reference {
        doc.insert("referenceTypes".into(), attribute.reference_types.into());
    }
    if attribute.data_type == Type::Complex {
        let subs: Vec<Value> = attribute
            .sub_attributes
            .iter()
            .map(attribute_document)
            .collect();
        doc.insert("subAttributes".into(), subs.into());
    }
    Value::Object(doc)
}

/// A resource's metadata, kept by the store beside its canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it last changed (RFC 3339).
    pub last_modified: String,
    /// Its version, bumped by every write: the entity tag.
    pub version: u64,
    /// Its URL.
    pub location: String,
}

/// The full representation of a resource: `schemas` (the core URN, and the
/// enterprise URN when the canonical form holds that extension), `id`, the
/// canonical attributes and `meta`.
pub fn representation(kind: ResourceKind, id: &str, canonical: &Value, meta: &Meta) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::from(kind.core_urn())];
    let attributes = canonical.as_object();
    for extension in kind.extensions() {
        let present = attributes
            .and_then(|a| a.get(extension.id))
            .and_then(Value::as_object)
            .is_some_and(|e| !e.is_empty());
        if present {
            schemas.push(extension.id.into());
        }
    }
    out.insert("schemas".into(), schemas.into());
    out.insert("id".into(), id.into());
    for (name, value) in attributes.into_iter().flatten() {
        // The canonical form never holds these; a stray one must not shadow
        // the service's own.
        if matches!(name.as_str(), "schemas" | "id" | "meta") {
            continue;
        }
        // An extension is listed in `schemas` exactly when it is present.
        let empty_extension = value.as_object().is_none_or(Map::is_empty)
            && kind.extensions().iter().any(|e| e.id == name);
        if empty_extension {
            continue;
        }
        out.insert(name.clone(), value.clone());
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": meta.created,
            "lastModified": meta.last_modified,
            "version": etag(meta.version),
            "location": meta.location,
        }),
    );
    Value::Object(out)
}

/// The strong entity tag of a version: `"<n>"`, quotes included.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// An `If-Match` header, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// The versions listed; a tag that is not one of ours matches nothing and
    /// is left out.
    Versions(Vec<u64>),
}

impl IfMatch {
    /// Whether a resource at `version` satisfies the condition.
    pub fn matches(&self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&version),
        }
    }
}

/// Reads an `If-Match` header: `*`, or comma-separated strong (`"3"`) or weak
/// (`W/"3"`) entity tags. Weak tags are compared as strong ones: the version
/// is the whole state.
pub fn parse_if_match(header: &str) -> IfMatch {
    if header.trim() == "*" {
        return IfMatch::Any;
    }
    let versions = header
        .split(',')
        .filter_map(|tag| {
            let tag = tag.trim();
            let tag = tag
                .strip_prefix("W/")
                .or_else(|| tag.strip_prefix("w/"))
                .unwrap_or(tag);
            let tag = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(tag);
            // `u64::from_str` takes a leading `+`; an entity tag never has one.
            if tag.starts_with('+') {
                return None;
            }
            tag.parse().ok()
        })
        .collect();
    IfMatch::Versions(versions)
}
