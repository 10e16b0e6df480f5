//! Unit tests of the engine: built-in scopes, tenancy, organization policies.

use super::*;
use crate::auth::Scope;

fn key(scope: Scope, org: OrganizationId) -> Principal {
    Principal::ApiKey {
        id: "k".into(),
        organization: org,
        scope: Some(scope),
    }
}

fn ask<'a>(principal: &'a Principal, action: &'static str, resource: Resource) -> Question<'a> {
    Question {
        principal,
        action,
        resource,
        source_ip: "192.0.2.1",
        identity: None,
        groups: &[],
    }
}

/// The scope a 403 names comes from the built-in policies (SPEC §8's
/// table): every organization-API endpoint, a key one scope short.
#[test]
fn insufficient_scope_names_the_scope_the_builtin_policies_grant() {
    use crate::routes::{ALL, Credential};
    let org = OrganizationId::generate();
    let user = EndUserId::generate();
    let expected = |action: &str| match action {
        "end_users.read"
        | "end_users.list"
        | "identities.list"
        | "identities.lookup"
        | "identity_providers.list"
        | "identity_providers.read"
        | "groups.list"
        | "groups.read"
        | "end_users.groups" => "read",
        "end_users.create" | "end_users.update" | "end_users.delete" | "tokens.create"
        | "tokens.revoke" | "identities.create" | "identities.delete" | "sso.token" => "read_write",
        _ => "admin",
    };
    let read = key(Scope::Read, org);
    let none = Principal::ApiKey {
        id: "k".into(),
        organization: org,
        scope: None,
    };
    for endpoint in ALL.iter().filter(|e| e.credential == Credential::ApiKey) {
        let resource = if endpoint.acts_on_end_user() {
            Resource::EndUser {
                id: user,
                organization: org,
            }
        } else {
            Resource::Organization(org)
        };
        let identity = IdentityContext {
            identity_provider_id: "p".into(),
            external_id: "x".into(),
            external_email: None,
            external_username: None,
            external_email_verified: false,
        };
        let principal = if expected(endpoint.action) == "read" {
            &none
        } else {
            &read
        };
        let question = Question {
            identity: endpoint.decides_itself.then_some(&identity),
            ..ask(principal, endpoint.action, resource)
        };
        match engine().authorize(&question, None) {
            Err(ApiError::InsufficientScope { required, .. }) => {
                assert_eq!(required, expected(endpoint.action), "{}", endpoint.action)
            }
            other => panic!("{}: {other:?}", endpoint.action),
        }
    }
}

#[test]
fn builtin_definitions_parse_and_validate() {
    let engine = Engine::new().unwrap();
    assert_eq!(engine.builtin.policies().count(), 12);
    // Checked here, not at every cold start.
    engine.validate_builtin().unwrap();
}

#[test]
fn scopes_imply_lower_ones_and_nothing_more() {
    let org = OrganizationId::generate();
    let user = Resource::EndUser {
        id: EndUserId::generate(),
        organization: org,
    };
    let engine = engine();
    let read = key(Scope::Read, org);
    assert!(
        engine
            .authorize(&ask(&read, "end_users.read", user.clone()), None)
            .is_ok()
    );
    let err = engine
        .authorize(&ask(&read, "end_users.update", user.clone()), None)
        .unwrap_err();
    assert!(matches!(
        err,
        ApiError::InsufficientScope {
            required: "read_write",
            ..
        }
    ));
    let write = key(Scope::ReadWrite, org);
    assert!(
        engine
            .authorize(&ask(&write, "end_users.update", user.clone()), None)
            .is_ok()
    );
    assert!(
        engine
            .authorize(
                &ask(&write, "policies.write", Resource::Organization(org)),
                None
            )
            .is_err()
    );
    let admin = key(Scope::Admin, org);
    assert!(
        engine
            .authorize(
                &ask(&admin, "policies.write", Resource::Organization(org)),
                None
            )
            .is_ok()
    );
    assert!(
        engine
            .authorize(&ask(&admin, "end_users.read", user), None)
            .is_ok()
    );
}

#[test]
fn keys_never_act_on_another_organization() {
    let (mine, theirs) = (OrganizationId::generate(), OrganizationId::generate());
    let admin = key(Scope::Admin, mine);
    let foreign_user = Resource::EndUser {
        id: EndUserId::generate(),
        organization: theirs,
    };
    assert!(
        engine()
            .authorize(&ask(&admin, "end_users.read", foreign_user), None)
            .is_err()
    );
    assert!(
        engine()
            .authorize(
                &ask(&admin, "end_users.list", Resource::Organization(theirs)),
                None
            )
            .is_err()
    );
}

#[test]
fn end_users_act_only_on_themselves() {
    let org = OrganizationId::generate();
    let me = EndUserId::generate();
    let principal = Principal::EndUser {
        id: me,
        organization: org,
    };
    assert!(
        engine()
            .authorize(
                &ask(
                    &principal,
                    "me.read",
                    Resource::EndUser {
                        id: me,
                        organization: org
                    }
                ),
                None
            )
            .is_ok()
    );
    let other = Resource::EndUser {
        id: EndUserId::generate(),
        organization: org,
    };
    assert!(
        engine()
            .authorize(&ask(&principal, "me.read", other), None)
            .is_err()
    );
}

#[test]
fn organization_forbids_deny_with_their_notices() {
    let org = OrganizationId::generate();
    let policies = OrgPolicies::parse(
        r#"@notice("Only example.com addresses may be linked from this provider")
           forbid (principal, action == Action::"identities.create", resource)
           when { context.identity_provider_id == "p1" && !(context has external_email && context.external_email like "*@example.com") };"#,
    )
    .unwrap();
    let admin = key(Scope::Admin, org);
    let user = Resource::EndUser {
        id: EndUserId::generate(),
        organization: org,
    };
    let identity = |email: &str| IdentityContext {
        identity_provider_id: "p1".into(),
        external_id: "x".into(),
        external_email: Some(email.into()),
        external_username: None,
        external_email_verified: false,
    };
    let bad = identity("eve@evil.test");
    let question = Question {
        identity: Some(&bad),
        ..ask(&admin, "identities.create", user.clone())
    };
    let err = engine().authorize(&question, Some(&policies)).unwrap_err();
    let ApiError::PolicyDenied { notices } = err else {
        panic!("expected policy_denied, got {err:?}")
    };
    assert_eq!(
        notices,
        vec!["Only example.com addresses may be linked from this provider".to_owned()]
    );
    let good = identity("ada@example.com");
    let question = Question {
        identity: Some(&good),
        ..ask(&admin, "identities.create", user)
    };
    assert!(engine().authorize(&question, Some(&policies)).is_ok());
}

/// Release builds decide without the schema's action entities
/// ([`Engine::checked_against`]): the same decisions only while no action
/// is a member of another (`action in Action::"group"` would need them).
#[test]
fn the_schema_has_no_action_groups() {
    let schema = engine().schema();
    assert!(
        schema.actions().count() > 30,
        "the schema's actions are read"
    );
    let groups: Vec<_> = schema.action_groups().collect();
    assert!(
        groups.is_empty(),
        "action groups {groups:?}: decisions without the schema would differ"
    );
}

#[test]
fn an_end_user_is_in_its_groups_so_a_policy_can_require_one() {
    let org = OrganizationId::generate();
    let user = EndUserId::generate();
    let engineering = crate::ids::GroupId::generate();
    let text = format!(
        r#"@notice("only Engineering may link")
forbid (principal, action == Action::"sso.link", resource)
unless {{ principal in Group::"{engineering}" }};"#
    );
    let policies = OrgPolicies::parse(&text).expect("the policy validates against the schema");
    assert!(policies.names_groups());
    let principal = Principal::EndUser {
        id: user,
        organization: org,
    };
    let identity = IdentityContext::default();
    let question = |groups| Question {
        identity: Some(&identity),
        groups,
        ..ask(
            &principal,
            "sso.link",
            Resource::EndUser {
                id: user,
                organization: org,
            },
        )
    };
    let (member, other) = ([engineering], [crate::ids::GroupId::generate()]);
    assert!(
        engine()
            .authorize(&question(&member), Some(&policies))
            .is_ok()
    );
    assert!(matches!(
        engine().authorize(&question(&other), Some(&policies)),
        Err(ApiError::PolicyDenied { .. })
    ));
    assert!(engine().authorize(&question(&[]), Some(&policies)).is_err());
}
