//! The declared schemas (RFC 7643 §4) as static data, the URNs, and the
//! discovery documents and resource representations built from them.
//!
//! Only what is declared here is stored: anything else in a body is dropped
//! and named in the caller's `ignored` list.

mod attribute;
mod discovery;

pub use attribute::{Attribute, Mutability, Returned, Type, Uniqueness};

use attribute::{boolean, complex, date_time, reference, string};

pub use discovery::{IfMatch, Meta};

pub use discovery::MAX_RESULTS;

pub use discovery::{
    etag, parse_if_match, representation, resource_types, schemas, service_provider_config,
};

/// The core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// A PATCH request body.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// A list (query) response.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// An error response.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The service provider configuration document.
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// A resource type document.
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// A schema document.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The kinds of resource served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

impl ResourceKind {
    /// The URN of the kind's core schema.
    pub fn core_urn(self) -> &'static str {
        self.schema().id
    }

    /// The endpoint, relative to the SCIM base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    /// The resource type's name (`meta.resourceType`).
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The core schema.
    pub fn schema(self) -> &'static Schema {
        match self {
            Self::User => &USER_SCHEMA,
            Self::Group => &GROUP_SCHEMA,
        }
    }

    /// The schema extensions a resource of this kind may carry.
    pub fn extensions(self) -> &'static [&'static Schema] {
        match self {
            Self::User => USER_EXTENSIONS,
            Self::Group => &[],
        }
    }

    /// The attributes every resource has but no schema document lists
    /// (`id`, `meta`, and a User's read-only `groups`): never stored from a
    /// body.
    pub fn common(self) -> &'static [Attribute] {
        match self {
            Self::User => USER_COMMON,
            Self::Group => GROUP_COMMON,
        }
    }

    /// The core schema or an extension whose URN `text` starts with (any
    /// case), followed by the rest of `text` after the URN and its `:`
    /// (empty for the URN alone).
    pub fn split_urn(self, text: &str) -> Option<(&'static Schema, &str)> {
        std::iter::once(self.schema())
            .chain(self.extensions().iter().copied())
            .find_map(|schema| {
                let n = schema.id.len();
                let head = text.get(..n)?;
                if !head.eq_ignore_ascii_case(schema.id) {
                    return None;
                }
                let rest = text.get(n..)?;
                if rest.is_empty() {
                    Some((schema, rest))
                } else {
                    rest.strip_prefix(':').map(|rest| (schema, rest))
                }
            })
    }
}

/// A schema document's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    /// The URN.
    pub id: &'static str,
    /// The human name.
    pub name: &'static str,
    /// What the schema describes.
    pub description: &'static str,
    /// The declared attributes.
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The attribute named `name` (any case).
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        find(self.attributes, name)
    }
}

/// The attribute of `attributes` named `name`, compared without case.
pub fn find(attributes: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

const PRIMARY: Attribute = boolean("primary", "Whether this is the preferred value.");

const NAME: &[Attribute] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "The honorific prefix, e.g. 'Ms.'."),
    string("honorificSuffix", "The honorific suffix, e.g. 'III'."),
];

const EMAIL: &[Attribute] = &[
    string("value", "The email address."),
    string("display", "A human-readable name for the address."),
    string("type", "The address's function.").canonical(&["work", "home", "other"]),
    PRIMARY,
];

const PHONE: &[Attribute] = &[
    string("value", "The phone number."),
    string("display", "A human-readable form of the number."),
    string("type", "The number's function.")
        .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    PRIMARY,
];

const ADDRESS: &[Attribute] = &[
    string("formatted", "The full address, formatted for display."),
    string("streetAddress", "The street address."),
    string("locality", "The city or locality."),
    string("region", "The state or region."),
    string("postalCode", "The postal code."),
    string("country", "The country, as an ISO 3166-1 alpha-2 code."),
    string("type", "The address's function.").canonical(&["work", "home", "other"]),
    PRIMARY,
];

const USER_ATTRIBUTES: &[Attribute] = &[
    string("userName", "The unique identifier the user signs in with.")
        .needed()
        .unique(),
    complex("name", "The components of the user's name.").subs(NAME),
    string("displayName", "The name displayed to end users."),
    string("nickName", "The casual name."),
    reference("profileUrl", "The user's online profile.").refs(&["external"]),
    string("title", "The user's title, e.g. 'Vice President'."),
    string("userType", "The user's relation to the organization."),
    string(
        "preferredLanguage",
        "The preferred language (RFC 7231 §5.3.5).",
    ),
    string("locale", "The default location, for localization."),
    string("timezone", "The time zone, in the IANA database's form."),
    boolean("active", "Whether the user may sign in."),
    complex("emails", "The user's email addresses.")
        .multi()
        .subs(EMAIL),
    complex("phoneNumbers", "The user's phone numbers.")
        .multi()
        .subs(PHONE),
    complex("addresses", "The user's physical addresses.")
        .multi()
        .subs(ADDRESS),
    string("externalId", "The provisioning client's identifier.")
        .exact()
        .unique(),
];

const MANAGER: &[Attribute] = &[
    string("value", "The manager's id."),
    reference("$ref", "The manager's URI.").refs(&["User"]),
    string("displayName", "The manager's display name.").read_only(),
];

const ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    string(
        "employeeNumber",
        "The organization's identifier of the employee.",
    ),
    string("costCenter", "The cost center."),
    string("organization", "The organization."),
    string("division", "The division."),
    string("department", "The department."),
    complex("manager", "The user's manager.").subs(MANAGER),
];

const MEMBER: &[Attribute] = &[
    // Required here: a member is nothing without the id it names.
    string("value", "The member's id.")
        .needed()
        .exact()
        .immutable(),
    reference("$ref", "The member's URI.")
        .refs(&["User"])
        .read_only(),
    string("type", "The member's resource type.").canonical(&["User"]),
    string("display", "The member's display name."),
];

const GROUP_ATTRIBUTES: &[Attribute] = &[
    string("displayName", "The group's name.").needed().unique(),
    complex("members", "The group's members.")
        .multi()
        .subs(MEMBER),
    string("externalId", "The provisioning client's identifier.")
        .exact()
        .unique(),
];

const ID: Attribute = string("id", "The service's identifier of the resource.")
    .exact()
    .read_only()
    .always()
    .unique();

const META: Attribute = complex("meta", "The resource's metadata.")
    .read_only()
    .subs(&[
        string("resourceType", "The resource type.").read_only(),
        date_time("created", "When the resource was created.").read_only(),
        date_time("lastModified", "When the resource last changed.").read_only(),
        reference("location", "The resource's URI.").read_only(),
        string("version", "The resource's entity tag.")
            .exact()
            .read_only(),
    ]);

const GROUPS: Attribute = complex("groups", "The groups the user belongs to.")
    .multi()
    .read_only()
    .subs(&[
        string("value", "The group's id.").exact().read_only(),
        reference("$ref", "The group's URI.").read_only(),
        string("display", "The group's name.").read_only(),
        string("type", "How the user belongs.").read_only(),
    ]);

const USER_EXTENSIONS: &[&Schema] = &[&ENTERPRISE_USER_SCHEMA];

const USER_COMMON: &[Attribute] = &[ID, META, GROUPS];
const GROUP_COMMON: &[Attribute] = &[ID, META];

/// The core User schema.
pub static USER_SCHEMA: Schema = Schema {
    id: USER,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

/// The enterprise User extension.
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// The core Group schema.
pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

#[cfg(test)]
mod tests;
