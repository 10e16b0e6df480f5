//! Authorization with Cedar (SPEC §8; `docs/authorization.md`).
//!
//! A built-in policy set expresses which scope each action needs; each
//! organization may add policies of its own, which may only `forbid`. Every
//! decision is one `Authorizer::is_authorized` over both sets. On Deny the
//! answer is 403 `policy_denied` when an organization policy determined it,
//! else `insufficient_scope`, with the `@notice` annotations of the
//! determining policies.

mod entities;
mod lex;
mod policies;
mod renames;

pub use policies::{
    OrgPolicies, Policies, PolicyText, ReadPolicies, organization_with_policies,
    organization_with_policies_and, policies_for, policies_in_hand, policies_key, read_policies,
    remember_policy_item, replace_policies, write_policies,
};

use crate::error::ApiError;
use crate::ids::{EndUserId, OrganizationId};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema,
};
use entities::{entity, entity_in, uid};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::OnceLock;

const SCHEMA: &str = include_str!("schema.cedarschema");
const BUILTIN: &str = include_str!("builtin.cedar");
/// Id prefix of built-in policies (from their `@id` annotations).
const BUILTIN_PREFIX: &str = "builtin.";
/// Id prefix of an organization's policies.
const ORG_PREFIX: &str = "org.";

/// The built-in policies, parsed once per cold start; the schema and its
/// validator, parsed on first use — by an upload of organization policies,
/// and by debug builds checking entities. Parsing the schema and validating
/// the built-in policies against it were most of a cold start's CPU
/// (`scripts/bench.sh cedar`); the built-in policies are validated by the
/// unit tests instead, at every change.
#[derive(Debug)]
pub struct Engine {
    builtin: PolicySet,
    authorizer: Authorizer,
    types: EntityTypes,
    checked: OnceLock<Checked>,
}

/// The schema and a validator of it.
#[derive(Debug)]
struct Checked {
    schema: Schema,
    validator: cedar_policy::Validator,
}

/// The entity type names, parsed once: `EntityTypeName::from_str` runs the
/// Cedar parser, and a decision needs up to five of them (docs/performance.md).
#[derive(Debug)]
struct EntityTypes {
    organization: EntityTypeName,
    api_key: EntityTypeName,
    end_user: EntityTypeName,
    external_service: EntityTypeName,
    directory: EntityTypeName,
    portal_session: EntityTypeName,
    group: EntityTypeName,
    action: EntityTypeName,
}

impl EntityTypes {
    fn new() -> Result<Self, BuiltinError> {
        let name = |n: &str| EntityTypeName::from_str(n).map_err(|e| BuiltinError(e.to_string()));
        Ok(Self {
            organization: name("Organization")?,
            api_key: name("ApiKey")?,
            end_user: name("EndUser")?,
            external_service: name("ExternalService")?,
            directory: name("Directory")?,
            portal_session: name("PortalSession")?,
            group: name("Group")?,
            action: name("Action")?,
        })
    }
}

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// Whether the engine is built (its first use waits for the build, which
/// starts on its own thread with the process).
pub fn engine_is_built() -> bool {
    ENGINE.get().is_some()
}

/// The engine of this process.
pub fn engine() -> &'static Engine {
    ENGINE.get_or_init(|| {
        Engine::new().expect("the built-in Cedar schema and policies are valid (unit-tested)")
    })
}

/// What is wrong with the built-in schema or policies (a bug, caught by tests).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("built-in Cedar definitions are invalid: {0}")]
pub struct BuiltinError(String);

impl Engine {
    fn new() -> Result<Self, BuiltinError> {
        let parsed = PolicySet::from_str(BUILTIN).map_err(|e| BuiltinError(e.to_string()))?;
        let mut builtin = PolicySet::new();
        for policy in parsed.policies() {
            let id = policy
                .annotation("id")
                .ok_or_else(|| BuiltinError("a built-in policy lacks @id".into()))?;
            builtin
                .add(policy.new_id(PolicyId::new(id)))
                .map_err(|e| BuiltinError(e.to_string()))?;
        }
        Ok(Self {
            builtin,
            authorizer: Authorizer::new(),
            types: EntityTypes::new()?,
            checked: OnceLock::new(),
        })
    }

    /// The schema and its validator, parsed at their first use.
    fn checked(&self) -> &Checked {
        self.checked.get_or_init(|| {
            let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA)
                .expect("the built-in Cedar schema is valid (unit-tested)");
            let validator = cedar_policy::Validator::new(schema.clone());
            Checked { schema, validator }
        })
    }

    /// Whether the built-in policies validate strictly against the schema
    /// (the unit tests ask; a function does not).
    pub fn validate_builtin(&self) -> Result<(), BuiltinError> {
        let validation = self
            .validator()
            .validate(&self.builtin, cedar_policy::ValidationMode::Strict);
        if validation.validation_passed() {
            return Ok(());
        }
        let errors: Vec<String> = validation
            .validation_errors()
            .map(ToString::to_string)
            .collect();
        Err(BuiltinError(errors.join("; ")))
    }

    fn checked_against(&self) -> Option<&Schema> {
        cfg!(debug_assertions).then(|| self.schema())
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.checked().schema
    }

    /// A validator of the schema.
    pub fn validator(&self) -> &cedar_policy::Validator {
        &self.checked().validator
    }

    pub(crate) fn builtin(&self) -> &PolicySet {
        &self.builtin
    }
}

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An organization's API key and its highest scope.
    ApiKey {
        /// The key's public id.
        id: String,
        /// Its organization.
        organization: OrganizationId,
        /// Its highest scope (lower ones are implied).
        scope: Option<crate::auth::Scope>,
    },
    /// An end user with an access token.
    EndUser {
        /// The end user.
        id: EndUserId,
        /// Its organization.
        organization: OrganizationId,
    },
    /// An external service with a service token.
    ExternalService {
        /// The service's id.
        id: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
    /// A directory's SCIM client.
    Directory {
        /// The directory's id.
        id: String,
        /// Its organization.
        organization: OrganizationId,
    },
    /// An IT admin's admin-portal session (SPEC §19).
    PortalSession {
        /// The session's id.
        id: String,
        /// Its organization.
        organization: OrganizationId,
        /// The views its intent opens (`sso`, `directory`, …).
        views: Vec<&'static str>,
    },
}

/// What is acted on.
#[derive(Debug, Clone)]
pub enum Resource {
    /// The organization itself.
    Organization(OrganizationId),
    /// One end user.
    EndUser {
        /// The end user.
        id: EndUserId,
        /// Its organization.
        organization: OrganizationId,
    },
    /// An external service (acting on its own relations).
    ExternalService(String),
}

/// The identity being linked (`identities.create`, `sso.link`).
#[derive(Debug, Clone, Default)]
pub struct IdentityContext {
    /// The identity provider's id.
    pub identity_provider_id: String,
    /// The subject at the provider.
    pub external_id: String,
    /// The email the provider asserts, when known.
    pub external_email: Option<String>,
    /// The username the provider asserts, when known.
    pub external_username: Option<String>,
    /// Whether the provider asserts the email is verified (false when unsaid).
    pub external_email_verified: bool,
}

/// One authorization question.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// Who.
    pub principal: &'a Principal,
    /// Which action (`end_users.update`, ...).
    pub action: &'static str,
    /// On what.
    pub resource: Resource,
    /// The caller's address.
    pub source_ip: &'a str,
    /// The identity being linked, for the two actions that link one.
    pub identity: Option<&'a IdentityContext>,
    /// The groups of the end user the question is about (its principal or
    /// resource): loaded only when the organization's policies name groups.
    pub groups: &'a [crate::ids::GroupId],
}

/// An API key's `policies.*` and `api_keys.*` actions: organization
/// policies never apply to them (SPEC §8), so whoever holds an admin key can
/// always undo a policy and revoke a key — a `forbid` on everything cannot
/// forbid its own repeal, and a stolen key cannot make itself unrevocable.
/// The built-in scope rules still decide them (admin only).
pub fn beyond_organization_policies(question: &Question<'_>) -> bool {
    matches!(question.principal, Principal::ApiKey { .. })
        && (question.action.starts_with("api_keys.")
            || matches!(question.action, "policies.read" | "policies.write"))
}

impl Engine {
    /// Decides `question` against the built-in policies and `org` policies
    /// — but for the actions that undo a policy or a key (SPEC §8, no
    /// self-lockout), which only the built-in policies decide.
    pub fn authorize(
        &self,
        question: &Question<'_>,
        org: Option<&OrgPolicies>,
    ) -> Result<(), ApiError> {
        let org = org.filter(|_| !beyond_organization_policies(question));
        if org.is_some_and(|org| org.unloadable) {
            return Err(ApiError::internal(
                "the organization's stored policies no longer parse",
            ));
        }
        let response = self.respond(question, org)?;
        // Cedar skips a policy whose evaluation fails (an extension
        // function's bad argument, an overflow, its recursion limit), and a
        // skipped `forbid` denies nothing: an organization's forbid that
        // fails is taken to apply — a failure never widens access.
        let failed: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                    (e.policy_id().to_string(), e.to_string())
                }
            })
            .inspect(|(id, error)| {
                tracing::warn!(policy = %id, error = %error, "a policy failed to evaluate; taken to forbid");
            })
            .map(|(id, _)| id)
            .collect();
        if !failed.is_empty() {
            return Err(self.failed_denial(&failed, org));
        }
        if response.decision() == Decision::Allow {
            return Ok(());
        }
        self.denial(question, org, &response)
    }

    /// The 403 for policies whose evaluation failed: each organization
    /// policy among them denies with its notice; a built-in one failing is
    /// a bug of ours (a 500).
    fn failed_denial(&self, failed: &[String], org: Option<&OrgPolicies>) -> ApiError {
        if failed.iter().any(|id| !id.starts_with(ORG_PREFIX)) {
            return ApiError::internal(format!("built-in policies failed: {}", failed.join(", ")));
        }
        let mut notices: Vec<String> = failed
            .iter()
            .filter_map(|id| {
                org.and_then(|o| o.set.annotation(&PolicyId::new(id.as_str()), "notice"))
                    .map(str::to_owned)
            })
            .collect();
        notices.sort();
        notices.dedup();
        ApiError::PolicyDenied { notices }
    }

    /// The lowest scope with which the built-in policies would allow the
    /// question's action — asked of Cedar, so `builtin.cedar` is the one
    /// source of which action needs which scope. Only computed for a 403.
    /// When none would (another rule decided), the highest of the family.
    fn granting_scope(&self, question: &Question<'_>) -> &'static str {
        let candidates: Vec<(&'static str, Principal)> = match question.principal {
            Principal::ApiKey {
                id, organization, ..
            } => [
                crate::auth::Scope::Read,
                crate::auth::Scope::ReadWrite,
                crate::auth::Scope::Admin,
            ]
            .into_iter()
            .map(|scope| {
                (
                    scope.as_str(),
                    Principal::ApiKey {
                        id: id.clone(),
                        organization: *organization,
                        scope: Some(scope),
                    },
                )
            })
            .collect(),
            Principal::ExternalService { id, .. } => crate::external_services::SERVICE_SCOPES
                .iter()
                .map(|scope| {
                    (
                        *scope,
                        Principal::ExternalService {
                            id: id.clone(),
                            scopes: vec![(*scope).to_owned()],
                        },
                    )
                })
                .collect(),
            Principal::EndUser { .. }
            | Principal::Directory { .. }
            | Principal::PortalSession { .. } => Vec::new(),
        };
        let fallback = candidates.last().map_or("none", |(name, _)| *name);
        candidates
            .iter()
            .find(|(_, principal)| {
                let asked = Question {
                    principal,
                    ..question.clone()
                };
                self.respond(&asked, None)
                    .is_ok_and(|r| r.decision() == Decision::Allow)
            })
            .map_or(fallback, |(name, _)| *name)
    }

    /// The entities of an end user's `groups` (added to `entities`), as its
    /// parents: so `principal in Group::"<id>"` reads as membership.
    fn groups(
        &self,
        groups: &[crate::ids::GroupId],
        org: &EntityUid,
        entities: &mut Vec<Entity>,
    ) -> Result<HashSet<EntityUid>, ApiError> {
        let mut parents = HashSet::new();
        for group in groups {
            let group = uid(&self.types.group, &group.to_string());
            entities.push(entity(
                group.clone(),
                vec![(
                    "organization",
                    RestrictedExpression::new_entity_uid(org.clone()),
                )],
            )?);
            parents.insert(group);
        }
        Ok(parents)
    }

    /// Evaluates `question` (no interpretation of the answer).
    fn respond(
        &self,
        question: &Question<'_>,
        org: Option<&OrgPolicies>,
    ) -> Result<cedar_policy::Response, ApiError> {
        let mut entities = Vec::new();
        let types = &self.types;
        let organization_uid = |id: OrganizationId| uid(&types.organization, &id.to_string());
        let principal = self.principal_entity(question, &mut entities)?;
        let resource = match &question.resource {
            Resource::Organization(id) => {
                let org = organization_uid(*id);
                if !entities.iter().any(|e| e.uid() == org) {
                    entities.push(entity(org.clone(), vec![])?);
                }
                org
            }
            Resource::EndUser { id, organization } => {
                let user = uid(&types.end_user, &id.to_string());
                let org = organization_uid(*organization);
                if !entities.iter().any(|e| e.uid() == org) {
                    entities.push(entity(org.clone(), vec![])?);
                }
                if !entities.iter().any(|e| e.uid() == user) {
                    let groups = self.groups(question.groups, &org, &mut entities)?;
                    entities.push(entity_in(
                        user.clone(),
                        vec![("organization", RestrictedExpression::new_entity_uid(org))],
                        groups,
                    )?);
                }
                user
            }
            Resource::ExternalService(id) => uid(&types.external_service, id),
        };
        let mut context = vec![(
            "source_ip".to_owned(),
            RestrictedExpression::new_string(question.source_ip.to_owned()),
        )];
        if let Some(identity) = question.identity {
            context.push((
                "identity_provider_id".into(),
                RestrictedExpression::new_string(identity.identity_provider_id.clone()),
            ));
            context.push((
                "external_id".into(),
                RestrictedExpression::new_string(identity.external_id.clone()),
            ));
            if let Some(email) = &identity.external_email {
                context.push((
                    "external_email".into(),
                    RestrictedExpression::new_string(email.clone()),
                ));
            }
            if let Some(username) = &identity.external_username {
                context.push((
                    "external_username".into(),
                    RestrictedExpression::new_string(username.clone()),
                ));
            }
            context.push((
                "external_email_verified".into(),
                RestrictedExpression::new_bool(identity.external_email_verified),
            ));
        }
        let context = Context::from_pairs(context).map_err(ApiError::internal)?;
        let action = uid(&types.action, question.action);
        let checked = self.checked_against();
        let request = Request::new(principal, action, resource, context, checked)
            .map_err(ApiError::internal)?;
        let entities = Entities::from_entities(entities, checked).map_err(ApiError::internal)?;

        let response = match org {
            // Built-in and organization policies together, merged once when
            // the organization's policies were parsed (not per decision).
            Some(org) if !org.set.is_empty() => {
                self.authorizer
                    .is_authorized(&request, &org.combined, &entities)
            }
            _ => self
                .authorizer
                .is_authorized(&request, &self.builtin, &entities),
        };
        Ok(response)
    }

    /// The 403 for a denied question: `policy_denied` with the notices when
    /// an organization policy decided, else `insufficient_scope`.
    fn denial(
        &self,
        question: &Question<'_>,
        org: Option<&OrgPolicies>,
        response: &cedar_policy::Response,
    ) -> Result<(), ApiError> {
        let determining: Vec<&PolicyId> = response.diagnostics().reason().collect();
        let mut notices: Vec<String> = determining
            .iter()
            .filter_map(|id| {
                let id_text: &str = id.as_ref();
                if id_text.starts_with(ORG_PREFIX) {
                    org.and_then(|o| o.set.annotation(id, "notice"))
                } else {
                    self.builtin.annotation(id, "notice")
                }
                .map(str::to_owned)
            })
            .collect();
        notices.sort();
        notices.dedup();
        let by_org = determining
            .iter()
            .any(|id| AsRef::<str>::as_ref(*id).starts_with(ORG_PREFIX));
        if by_org {
            Err(ApiError::PolicyDenied { notices })
        } else {
            debug_assert!(
                determining
                    .iter()
                    .all(|id| AsRef::<str>::as_ref(*id).starts_with(BUILTIN_PREFIX))
            );
            Err(ApiError::InsufficientScope {
                required: self.granting_scope(question),
                notices,
            })
        }
    }
}

#[cfg(test)]
mod tests;
