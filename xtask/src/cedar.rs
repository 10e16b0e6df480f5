//! The Cedar action list: every endpoint's action declared in the schema
//! with the principal, resource and context its pipeline builds, and the
//! built-in scope policies listing each API-key action under the scope its
//! declaration needs.

use tether::auth::Scope;
use tether::routes::{self, Credential, Endpoint};

const ACTIONS_BEGIN: &str = "// BEGIN generated actions";
const ACTIONS_END: &str = "// END generated actions";
const SCOPES_BEGIN: &str = "// BEGIN generated scopes";
const SCOPES_END: &str = "// END generated scopes";

/// What a decision of `endpoint` is about: principal, resources, and whether
/// its context holds the identity being linked.
fn shape(endpoint: &Endpoint) -> Option<(&'static str, Vec<&'static str>, bool)> {
    let has = |name: &str| endpoint.parameter_names().any(|p| p == name);
    let (principal, mut resources) = match endpoint.credential {
        Credential::ApiKey if endpoint.acts_on_end_user() => ("ApiKey", vec!["EndUser"]),
        Credential::ApiKey => ("ApiKey", vec!["Organization"]),
        Credential::UserToken => ("EndUser", vec!["EndUser"]),
        Credential::ServiceToken if has("organizationId") => {
            ("ExternalService", vec!["Organization"])
        }
        Credential::ServiceToken => ("ExternalService", vec!["ExternalService"]),
        Credential::DirectoryToken => ("Directory", vec!["Organization"]),
        Credential::PortalSession => ("PortalSession", vec!["Organization"]),
        // A public endpoint deciding for the end user it signs in.
        Credential::None if endpoint.decides_for_end_user => ("EndUser", vec!["EndUser"]),
        Credential::None => return None,
    };
    if endpoint.decided_on_organization_too && !resources.contains(&"Organization") {
        resources.push("Organization");
    }
    Some((
        principal,
        resources,
        endpoint.decides_itself || endpoint.decides_for_end_user,
    ))
}

fn quoted_list(actions: &[&str], indent: &str, per_line: usize, prefix: &str) -> String {
    actions
        .chunks(per_line)
        .map(|chunk| {
            let line: Vec<String> = chunk.iter().map(|a| format!("{prefix}\"{a}\"")).collect();
            format!("{indent}{}", line.join(", "))
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

/// An action's shape: its principal, its resources, whether its context
/// names an identity.
type Shape = (&'static str, Vec<&'static str>, bool);

/// The schema with its action list generated.
pub fn schema(current: &str) -> Result<String, String> {
    let mut groups: Vec<(Shape, Vec<&str>)> = Vec::new();
    for endpoint in routes::ALL {
        let Some(key) = shape(endpoint) else {
            continue;
        };
        let group = match groups.iter().position(|(k, _)| *k == key) {
            Some(at) => &mut groups[at].1,
            None => {
                groups.push((key, Vec::new()));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        for action in std::iter::once(&endpoint.action).chain(endpoint.also_actions) {
            if !group.contains(action) {
                group.push(action);
            }
        }
    }
    let mut body = String::new();
    for ((principal, resources, identity), actions) in groups {
        let context = if identity {
            "{\n            source_ip: String,\n            identity_provider_id: String,\n            external_id: String,\n            external_email?: String,\n            external_username?: String,\n            external_email_verified: Bool,\n        }"
        } else {
            "{ source_ip: String }"
        };
        body.push_str(&format!(
            "action {}\n    appliesTo {{\n        principal: [{principal}],\n        resource: [{}],\n        context: {context},\n    }};\n\n",
            quoted_list(&actions, "", 3, "").replace(",\n", ",\n       "),
            resources.join(", ")
        ));
    }
    let body = format!("{}\n", body.trim_end_matches('\n'));
    crate::replace_region(current, ACTIONS_BEGIN, ACTIONS_END, &body)
}

/// The built-in policies with their scope rules generated.
pub fn builtin(current: &str) -> Result<String, String> {
    let mut body = String::new();
    for scope in [Scope::Read, Scope::ReadWrite, Scope::Admin] {
        let actions: Vec<&str> = routes::ALL
            .iter()
            .filter(|e| e.scope == Some(scope))
            .flat_map(|e| std::iter::once(&e.action).chain(e.also_actions).copied())
            .fold(Vec::new(), |mut all, action| {
                if !all.contains(&action) {
                    all.push(action);
                }
                all
            });
        let name = scope.as_str();
        body.push_str(&format!(
            "@id(\"builtin.{name}\")\npermit (\n    principal is ApiKey,\n    action in [\n{}\n    ],\n    resource\n)\nwhen {{ principal.scopes.contains(\"{name}\") }};\n\n",
            quoted_list(&actions, "        ", 3, "Action::")
        ));
    }
    let body = format!("{}\n", body.trim_end_matches('\n'));
    crate::replace_region(current, SCOPES_BEGIN, SCOPES_END, &body)
}
