//! The lifecycle commands (SPEC §13): organizations, API keys and service
//! tokens over their life. Every change goes through the same core
//! functions as the API, so it applies from the next request (SPEC §5).

use crate::{ApiKeyCommand, DirectoryCommand, ExternalServiceCommand, OrgCommand, describe};
use serde_json::{Value, json};
use tether::api_keys::{self, Outcome};
use tether::clock::Timestamp;
use tether::external_services;
use tether::organizations::{self, Changed, Organization};
use tether::store::Store;
use time::OffsetDateTime;

/// An organization as an operator sees it.
fn org_json(org: &Organization) -> Value {
    let limits = org.limits();
    json!({
        "organization_id": org.id,
        "name": org.name,
        "plan": org.plan.as_str(),
        "overrides": org.overrides,
        "limits": limits,
        "relationships_active": org.relationships_active,
        "admin_keys": org.admin_keys,
        "version": org.revision,
        "created_at": org.created_at,
    })
}

/// An organization with every shard of its relationship counter counted.
async fn counted(
    store: &Store,
    id: tether::ids::OrganizationId,
) -> Result<tether::organizations::Organization, String> {
    let org = organizations::get_organization(store, id)
        .await
        .map_err(describe)?;
    tether::relationships::counted(store, org)
        .await
        .map_err(describe)?
        .ok_or_else(|| format!("organization {id} does not exist"))
}

/// `org list|show|update`.
pub(crate) async fn org(store: &Store, command: OrgCommand) -> Result<Value, String> {
    match command {
        OrgCommand::Create { .. } => unreachable!("handled in run"),
        OrgCommand::List => {
            let mut all = Vec::new();
            for org in organizations::list_all(store).await.map_err(describe)? {
                let org = tether::relationships::counted(store, Some(org))
                    .await
                    .map_err(describe)?;
                all.extend(org.as_ref().map(org_json));
            }
            Ok(json!({ "organizations": all }))
        }
        OrgCommand::Show { id } => Ok(org_json(&counted(store, id).await?)),
        OrgCommand::Update {
            id,
            name,
            plan,
            limits,
        } => {
            let update = organizations::Update {
                name,
                plan,
                overrides: limits.into(),
            };
            match organizations::update(store, id, &update)
                .await
                .map_err(describe)?
            {
                Changed::Done { .. } => {}
                Changed::NoOrganization => return Err(format!("organization {id} does not exist")),
                other => return Err(format!("the update was refused: {other:?}")),
            }
            Ok(org_json(&counted(store, id).await?))
        }
    }
}

fn outcome<T>(id: tether::ids::ApiKeyId, outcome: Outcome<T>) -> Result<T, String> {
    match outcome {
        Outcome::Done(value) => Ok(value),
        Outcome::NotFound => Err(format!("API key {id} does not exist or has ended")),
        Outcome::LastAdminKey => Err(format!(
            "API key {id} is its organization's last non-expiring admin key: create or roll another first"
        )),
    }
}

/// `api-key list|revoke|roll`.
pub(crate) async fn api_key(
    store: &Store,
    command: ApiKeyCommand,
    now: OffsetDateTime,
) -> Result<Value, String> {
    let find = |id| async move {
        api_keys::find_any(store, id)
            .await
            .map_err(describe)?
            .filter(|entry| entry.live(now))
            .ok_or_else(|| format!("API key {id} does not exist or has ended"))
    };
    match command {
        ApiKeyCommand::Create { .. } => unreachable!("handled in run"),
        ApiKeyCommand::List { org } => {
            let mut keys = Vec::new();
            let mut after = None;
            loop {
                let (page, more) = api_keys::list(store, org, after, 100)
                    .await
                    .map_err(describe)?;
                after = page.last().map(|k| k.id);
                keys.extend(page);
                if !more {
                    break;
                }
            }
            let keys: Vec<Value> = keys.iter().map(|k| json!(k.view())).collect();
            Ok(json!({ "organization_id": org, "api_keys": keys }))
        }
        ApiKeyCommand::Revoke { id } => {
            let entry = find(id).await?;
            outcome(
                id,
                api_keys::revoke(store, &entry, None)
                    .await
                    .map_err(describe)?,
            )?;
            Ok(json!({ "api_key_id": id, "revoked": true }))
        }
        ApiKeyCommand::Roll { id, grace_seconds } => {
            let entry = find(id).await?;
            let grace = time::Duration::seconds(grace_seconds);
            let rolled = api_keys::roll(store, &entry, None, grace, now)
                .await
                .map_err(describe)?;
            let key = outcome(id, rolled)?;
            Ok(json!({
                "api_key_id": key.record.api_key_id,
                "api_key": key.secret.expose(),
                "replaces": id,
                "old_key_expires_at": Timestamp::from(now + grace),
            }))
        }
    }
}

/// `external-service list|token-roll|token-revoke|stamp-relation-names`.
pub(crate) async fn external_service(
    store: &Store,
    command: ExternalServiceCommand,
    now: OffsetDateTime,
) -> Result<Value, String> {
    match command {
        ExternalServiceCommand::Create { .. } => unreachable!("handled in run"),
        ExternalServiceCommand::List => {
            let services = external_services::list_services(store)
                .await
                .map_err(describe)?;
            let services: Vec<Value> = services
                .iter()
                .map(|s| json!({ "external_service_id": s.id, "name": s.name, "created_at": s.created_at }))
                .collect();
            Ok(json!({ "external_services": services }))
        }
        ExternalServiceCommand::TokenRoll { id, grace_seconds } => {
            let grace = time::Duration::seconds(grace_seconds);
            let token = external_services::roll_token(store, id, grace, now)
                .await
                .map_err(describe)?
                .ok_or_else(|| format!("external service {id} has no live token to roll"))?;
            Ok(json!({
                "external_service_id": id,
                "token": token.expose(),
                "old_tokens_expire_at": Timestamp::from(now + grace),
            }))
        }
        ExternalServiceCommand::StampRelationNames => {
            let mut done = Vec::new();
            for service in external_services::list_services(store)
                .await
                .map_err(describe)?
            {
                let (unnamed, stamped) =
                    external_services::stamp::stamp_relation_names(store, &service)
                        .await
                        .map_err(describe)?;
                done.push(json!({
                    "external_service_id": service.id,
                    "unnamed": unnamed,
                    "stamped": stamped,
                }));
            }
            Ok(json!({ "external_services": done }))
        }
        ExternalServiceCommand::TokenRevoke { id } => {
            let revoked = external_services::revoke_tokens(store, id, now)
                .await
                .map_err(describe)?;
            Ok(json!({ "external_service_id": id, "revoked_tokens": revoked }))
        }
    }
}

/// A directory as an operator sees it: never its token; its SCIM path
/// (the deployment's public base URL goes in front).
fn directory_json(directory: &tether::directories::DirectoryRecord) -> Value {
    let mut shown = directory.event_view();
    shown["scim_path"] = json!(format!("/scim/v2/{}", directory.id));
    shown
}

/// `directory list|show|roll-token`.
pub(crate) async fn directory(
    store: &Store,
    command: DirectoryCommand,
    now: OffsetDateTime,
) -> Result<Value, String> {
    use tether::directories;
    let found = |org, id| async move {
        directories::get(store, org, id)
            .await
            .map_err(describe)?
            .ok_or_else(|| format!("organization {org} has no directory {id}"))
    };
    match command {
        DirectoryCommand::List { org } => {
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let (page, more) = directories::list(store, org, after, 100)
                    .await
                    .map_err(describe)?;
                after = page.last().map(|d| d.id);
                all.extend(page.iter().map(directory_json));
                if !more {
                    break;
                }
            }
            Ok(json!({ "directories": all }))
        }
        DirectoryCommand::Show { org, id } => Ok(directory_json(&found(org, id).await?)),
        DirectoryCommand::RollToken { org, id } => {
            let current = found(org, id).await?;
            let (rolled, token) = directories::roll_token(store, &current, None, now)
                .await
                .map_err(describe)?
                .ok_or_else(|| format!("directory {id} changed meanwhile; run it again"))?;
            let mut shown = directory_json(&rolled);
            shown["bearer_token"] = json!(token.expose());
            Ok(shown)
        }
    }
}
