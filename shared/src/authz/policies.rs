//! An organization's own Cedar policies: `PUT /v1/policies` validates and
//! stores them, `GET /v1/policies` returns them, and every decision of that
//! organization adds them to the built-in set (cached per warm function).

use super::{ORG_PREFIX, engine};
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::ids::OrganizationId;
use crate::organizations::org_pk;
use crate::store::{self, Store, StoreError};
use cedar_policy::{Effect, PolicyId, PolicySet, ValidationMode};
use schemars::JsonSchema;
use serde::Serialize;
use std::str::FromStr;
use std::sync::Arc;

/// Sort key of an organization's policy item.
const POLICIES_SK: &str = "POLICIES";
/// The deepest nesting of brackets (`(`, `[`, `{`) and `if`s policy text
/// may have (SPEC §8): Cedar's parser and evaluator recurse per level, and
/// a debug build's 2 MiB thread overflows near 40 nested parentheses.
pub const MAX_NESTING: usize = 16;
/// The most operator characters (binary, unary, member access; `==`
/// counts two) one policy may hold: a chain is a tree as deep as it is
/// long, and dropping one of 16,000 overflows that same stack.
pub const MAX_OPERATORS: usize = 2_000;

/// An organization's parsed, validated policies.
#[derive(Debug, Clone)]
pub struct OrgPolicies {
    pub(super) set: PolicySet,
    /// The built-in policies plus these: what a decision evaluates.
    pub(super) combined: PolicySet,
    /// The text as written.
    pub text: String,
    /// Stored text that no longer parses at all: every decision but those
    /// beyond organization policies fails (an opaque 500, logged) until it
    /// is replaced — which the exempt `policies.write` can always do.
    pub(super) unloadable: bool,
}

impl OrgPolicies {
    /// Whether the policies may name groups: then a decision about an end
    /// user needs its groups (a read), which the others never pay for.
    pub fn names_groups(&self) -> bool {
        self.text.contains("Group")
    }
}

impl OrgPolicies {
    /// Parses and validates policy text: Cedar syntax, only `forbid`, no
    /// templates, and strict validation against the schema. Every problem is
    /// listed.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        Self::build(text, true)
    }

    /// Loads stored policy text for enforcement (SPEC §8): policies that no
    /// longer validate against the current schema are still enforced, and
    /// the problems logged; a `permit` (never accepted on upload) is left
    /// out, since only the scopes grant. Fails only when the text no longer
    /// parses at all.
    pub fn load(org: OrganizationId, text: &str) -> Result<Self, Vec<String>> {
        // Stored text almost always still validates: one strict build, whose
        // set is the one a lenient build gives (it admitted no permit and no
        // template). Only text that fails it is built again, leniently.
        let problems = match Self::build(text, true) {
            Ok(strict) => return Ok(strict),
            Err(problems) => problems,
        };
        Self::build(text, false).inspect(|_| {
            tracing::warn!(
                organization_id = %org,
                problems = ?problems,
                "stored policies no longer validate; enforced as written"
            );
        })
    }

    /// How many policies the set holds (capped per organization).
    pub fn count(&self) -> usize {
        self.set.policies().count()
    }

    /// Stored text that no longer parses: enforced as "deny all but the
    /// exempt actions" ([`OrgPolicies::unloadable`]).
    pub(super) fn unloadable(text: &str) -> Self {
        let builtin = engine().builtin().clone();
        Self {
            set: PolicySet::new(),
            combined: builtin,
            text: text.to_owned(),
            unloadable: true,
        }
    }

    fn build(written: &str, strict: bool) -> Result<Self, Vec<String>> {
        // Shape limits guard uploads; stored text was accepted by the
        // parser once and is enforced as written.
        if strict {
            shape(written)?;
        }
        let text = super::renames::current_names(written);
        let parsed = PolicySet::from_str(&text).map_err(|errors| {
            errors
                .to_string()
                .lines()
                .map(str::to_owned)
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
        })?;
        let mut problems = Vec::new();
        if strict && parsed.templates().next().is_some() {
            problems.push("policy templates are not supported".to_owned());
        }
        let mut set = PolicySet::new();
        for (index, policy) in parsed.policies().enumerate() {
            if policy.effect() == Effect::Permit {
                if strict {
                    problems.push(format!(
                        "policy {index}: organization policies may only forbid; scopes decide what is permitted"
                    ));
                }
                continue;
            }
            if let Err(e) = set.add(policy.new_id(PolicyId::new(format!("{ORG_PREFIX}{index}")))) {
                problems.push(e.to_string());
            }
        }
        if strict {
            let validation = engine().validator().validate(&set, ValidationMode::Strict);
            problems.extend(validation.validation_errors().map(|e| {
                let id = e.policy_id().to_string();
                let index = id.strip_prefix(ORG_PREFIX).unwrap_or(&id).to_owned();
                format!("policy {index}: {e}")
            }));
        }
        let mut combined = engine().builtin().clone();
        for policy in set.policies() {
            if let Err(e) = combined.add(policy.clone()) {
                problems.push(e.to_string());
            }
        }
        if problems.is_empty() {
            Ok(Self {
                set,
                combined,
                text: written.to_owned(),
                unloadable: false,
            })
        } else {
            Err(problems)
        }
    }
}

/// Refuses policy text whose shape would make Cedar recurse deeper than a
/// function's stack allows, before Cedar sees it: brackets and `if`s
/// nested deeper than [`MAX_NESTING`], or a policy with more than
/// [`MAX_OPERATORS`] operators. A lexical scan (strings and comments
/// skipped), linear in the text and recursion-free.
fn shape(text: &str) -> Result<(), Vec<String>> {
    use super::lex::{Kind, tokens};
    let mut problems = Vec::new();
    let (mut depth, mut deepest, mut operators, mut policy) = (0usize, 0usize, 0usize, 0usize);
    // `if`s open a level that their `else` branch's end closes; counted
    // as brackets that close with the policy's end (an over-estimate).
    let mut ifs = 0usize;
    let too_many = |operators: usize, policy: usize, problems: &mut Vec<String>| {
        if operators > MAX_OPERATORS {
            problems.push(format!(
                "policy {policy}: more than {MAX_OPERATORS} operators"
            ));
        }
    };
    for token in tokens(text) {
        match (token.kind, token.text) {
            (Kind::Punct, "(" | "[" | "{") => depth += 1,
            (Kind::Punct, ")" | "]" | "}") => depth = depth.saturating_sub(1),
            (Kind::Punct, ";") if depth == 0 => {
                too_many(operators, policy, &mut problems);
                (operators, ifs, policy) = (0, 0, policy + 1);
            }
            // Every operator byte counts (`==` twice): an over-estimate.
            (Kind::Punct, "." | "!" | "-" | "+" | "*" | "<" | ">" | "=" | "&" | "|") => {
                operators += 1;
            }
            (Kind::Ident, "if") => ifs += 1,
            (Kind::Ident, "in" | "has" | "like" | "is") => operators += 1,
            _ => {}
        }
        deepest = deepest.max(depth + ifs);
    }
    too_many(operators, policy, &mut problems);
    if deepest > MAX_NESTING {
        problems.push(format!(
            "nests brackets and `if`s {deepest} levels deep; at most {MAX_NESTING} are allowed"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// `PUT /v1/policies` body: Cedar text as `text/plain`, or `{"policies": "..."}`.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PutPoliciesRequest")]
pub struct PolicyText {
    /// Cedar policy text: `forbid` policies only.
    pub policies: String,
}

/// An organization's policies as the API renders them.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Policies")]
pub struct Policies<'a> {
    /// Cedar policy text; empty when none is set.
    pub policies: &'a str,
    /// When they were last written; null when never.
    pub updated_at: Option<Timestamp>,
}

/// The key of an organization's policy item (for a batched read).
pub fn policies_key(org: OrganizationId) -> store::Key {
    (org_pk(org), POLICIES_SK.to_owned())
}

/// A policy item's text and update time (its other attributes are its key
/// and who wrote it).
#[derive(Debug, serde::Deserialize)]
struct PolicyItem {
    text: String,
    updated_at: Timestamp,
}

/// The text of a policy item.
fn text_of(item: &store::Item) -> Option<String> {
    store::get_s(item, "text").map(str::to_owned)
}

/// Reads an organization's stored policy text and when it changed.
pub async fn read_policies(
    store: &Store,
    org: OrganizationId,
) -> Result<Option<(String, Timestamp)>, StoreError> {
    let out = store
        .get_item(policies_key(org))
        .consistent_read(true)
        .send()
        .await?;
    let item = out.item.map(store::from_item::<PolicyItem>).transpose()?;
    Ok(item.map(|item| (item.text, item.updated_at)))
}

/// Stores an organization's policy text (replacing the previous one), as a
/// change of the organization (SPEC §5): every warm function judges its next
/// request by the new text. `None` when there is no such organization.
pub async fn write_policies(
    store: &Store,
    org: OrganizationId,
    text: &str,
    now: time::OffsetDateTime,
) -> Result<Option<Timestamp>, StoreError> {
    Ok(commit_policies(store, org, None, text, now)
        .await?
        .map(|(updated_at, _)| updated_at))
}

/// Stores validated policies ([`write_policies`]) and keeps them as this
/// function's copy, current at the version their change committed: its
/// next request neither reads them back nor parses them again. A later
/// change has a higher version, so the copy is read again after it, as any.
/// The change starts from `organization` as the request holds it.
pub async fn replace_policies(
    app: &crate::App,
    organization: &crate::organizations::Organization,
    policies: Arc<OrgPolicies>,
    now: time::OffsetDateTime,
) -> Result<Option<Timestamp>, StoreError> {
    let org = organization.id;
    let committed =
        commit_policies(&app.store, org, Some(organization), &policies.text, now).await?;
    let Some((updated_at, version)) = committed else {
        return Ok(None);
    };
    app.policies.put(org, version, Some(policies));
    Ok(Some(updated_at))
}

/// The update time and the organization's new version, or `None`.
async fn commit_policies(
    store: &Store,
    org: OrganizationId,
    known: Option<&crate::organizations::Organization>,
    text: &str,
    now: time::OffsetDateTime,
) -> Result<Option<(Timestamp, crate::freshness::Version)>, StoreError> {
    let updated_at = Timestamp::from(now);
    let changed = crate::organizations::change_at(store, org, known, |_| {
        let put = store::built(
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(store.table())
                .set_item(Some(store::key_item(&policies_key(org))))
                .item("text", store::s(text))
                .item("updated_at", store::timestamp(updated_at))
                .build(),
        )?;
        Ok(crate::organizations::Edit {
            items: vec![
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(put)
                    .build(),
            ],
            ..Default::default()
        })
    })
    .await?;
    Ok(match changed {
        crate::organizations::Changed::Done { version } => Some((updated_at, version)),
        other => {
            tracing::warn!(?other, "policies not written");
            None
        }
    })
}

/// An organization's policies as one request read them from the table:
/// current for that request whatever the organization's version.
#[derive(Debug, Clone)]
pub struct ReadPolicies {
    /// Whose they are.
    pub organization: OrganizationId,
    /// The policies (`None`: the organization has none).
    pub policies: Option<Arc<OrgPolicies>>,
}

/// An organization's policies for a decision: those the request read itself
/// (`read`), else from the warm cache when current at the request's version,
/// else the table.
pub async fn policies_for(
    app: &crate::App,
    org: OrganizationId,
    at: crate::freshness::Current,
    read: Option<&ReadPolicies>,
) -> Result<Option<Arc<OrgPolicies>>, ApiError> {
    if let Some(in_hand) = policies_in_hand(app, org, at.version, read) {
        return Ok(in_hand);
    }
    let text = read_policies(&app.store, org).await?;
    remember_policies(app, org, at.mark, text.map(|(text, _)| text))
}

/// The policies [`policies_for`] would take at `version` without reading
/// the table: those the request read itself, else the warm cache's when
/// current at `version`. `None` when only a read would tell.
pub fn policies_in_hand(
    app: &crate::App,
    org: OrganizationId,
    version: crate::freshness::Version,
    read: Option<&ReadPolicies>,
) -> Option<Option<Arc<OrgPolicies>>> {
    match read.filter(|read| read.organization == org) {
        Some(read) => Some(read.policies.clone()),
        None => app.policies.current(&org, version),
    }
}

/// An organization's record and policies, read together in one
/// `BatchGetItem` (strongly consistent) and cached: for a request charged to
/// another owner (an external service), which cannot tell whether a cached
/// copy is current. The record is `None` when there is no such organization.
pub async fn organization_with_policies(
    app: &crate::App,
    org: OrganizationId,
) -> Result<
    (
        Option<crate::organizations::Organization>,
        Option<Arc<OrgPolicies>>,
    ),
    ApiError,
> {
    let (organization, policies, []) = organization_with_policies_and(app, org, []).await?;
    Ok((organization, policies))
}

/// [`organization_with_policies`], with up to `N` more items of the
/// caller's in the same `BatchGetItem` (a function that has nothing cached
/// reads its organization's limiter bucket, and maybe the API key, with
/// them), answered in the order asked.
pub async fn organization_with_policies_and<const N: usize>(
    app: &crate::App,
    org: OrganizationId,
    also: [Option<store::Key>; N],
) -> Result<
    (
        Option<crate::organizations::Organization>,
        Option<Arc<OrgPolicies>>,
        [Option<store::Item>; N],
    ),
    ApiError,
> {
    let mark = app.versions.mark();
    let mut keys = vec![
        (
            crate::organizations::org_pk(org),
            crate::organizations::ORG_SK.to_owned(),
        ),
        policies_key(org),
    ];
    let asked = also.each_ref().map(Option::is_some);
    keys.extend(also.into_iter().flatten());
    let mut items = store::get_items(&app.store, &keys).await?.into_iter();
    let organization = items.next().flatten();
    let policies = items.next().flatten();
    let also = asked.map(|asked| if asked { items.next().flatten() } else { None });
    let organization =
        crate::relationships::counted(&app.store, organization.map(store::from_item).transpose()?)
            .await?;
    let policies = remember_policy_item(app, org, mark, policies.as_ref())?;
    if let Some(record) = &organization {
        let owner = crate::limits::Owner::Organization(org).partition_key();
        app.orgs
            .put(org, app.versions.known_before(&owner, mark), record.clone());
    }
    Ok((organization, policies, also))
}

/// Parses and caches the policy item an operation read itself (in a batch
/// with other items, after `mark`). Stored text that no longer validates (a
/// schema change) is still enforced ([`OrgPolicies::load`]).
pub fn remember_policy_item(
    app: &crate::App,
    org: OrganizationId,
    mark: crate::freshness::Mark,
    item: Option<&store::Item>,
) -> Result<Option<Arc<OrgPolicies>>, ApiError> {
    remember_policies(app, org, mark, item.and_then(text_of))
}

fn remember_policies(
    app: &crate::App,
    org: OrganizationId,
    mark: crate::freshness::Mark,
    text: Option<String>,
) -> Result<Option<Arc<OrgPolicies>>, ApiError> {
    let kept = app.policies.get(&org).and_then(|(_, kept)| kept);
    let policies = match text {
        None => None,
        // Read again after a change that left them as they were (a plan, a
        // key): the parse is a function of the text alone, so the one held
        // is reused under the new stamp.
        Some(text) if kept.as_ref().is_some_and(|kept| kept.text == text) => kept,
        Some(text) => match OrgPolicies::load(org, &text) {
            Ok(p) => Some(Arc::new(p)),
            // Never decide without them: the organization's requests fail
            // (an opaque 500) until the text is replaced — by the admin's
            // `PUT /v1/policies`, which organization policies never decide.
            Err(problems) => {
                tracing::error!(
                    organization_id = %org,
                    problems = %problems.join("; "),
                    "stored policies no longer parse; every decision they take part in fails"
                );
                Some(Arc::new(OrgPolicies::unloadable(&text)))
            }
        },
    };
    let owner = crate::limits::Owner::Organization(org).partition_key();
    app.policies.put(
        org,
        app.versions.known_before(&owner, mark),
        policies.clone(),
    );
    Ok(policies)
}
