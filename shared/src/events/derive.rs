//! Which events one change of the table is (SPEC §15): read from the
//! stream record's old and new images, rendered as the API renders the
//! resource — never a secret, never a hash.

use super::NewEvent;
use crate::api_keys::ApiKeyEntry;
use crate::clock::Timestamp;
use crate::directories::DirectoryRecord;
use crate::end_users::EndUserRecord;
use crate::external_services::connect_tokens::ConnectTokenRecord;
use crate::external_services::relations::RelationRecord;
use crate::groups::GroupRecord;
use crate::identities::IdentityRecord;
use crate::identity_providers::ProviderRecord;
use crate::ids::OrganizationId;
use crate::sso_login::outcome::LoginRecord as SsoLoginRecord;
use crate::store::actor::Actor;
use crate::store::{self, Item, SK};
use crate::stream::StreamChange;
use crate::webhooks::endpoints::EndpointRecord;
use serde_json::{Map, Value, json};

/// The kind of item a sort key names, for the resources that have events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    EndUser,
    Identity,
    Provider,
    Policies,
    ApiKey,
    ConnectToken,
    Relation,
    WebhookEndpoint,
    SsoLogin,
    Directory,
    Group,
}

fn kind_of(item: &Item) -> Option<Kind> {
    let pk = store::get_s(item, store::PK)?;
    let sk = store::get_s(item, SK)?;
    if pk.starts_with("CTOKEN#") && sk == "CTOKEN" {
        return Some(Kind::ConnectToken);
    }
    if pk.starts_with("SVC#") && sk.starts_with("REL#ORG#") {
        return Some(Kind::Relation);
    }
    if !pk.starts_with("ORG#") {
        return None;
    }
    Some(match sk {
        _ if sk.starts_with("USER#") => Kind::EndUser,
        _ if sk.starts_with("IDENT#") => Kind::Identity,
        _ if sk.starts_with("IDP#") => Kind::Provider,
        "POLICIES" => Kind::Policies,
        _ if sk.starts_with("APIKEY#") => Kind::ApiKey,
        _ if sk.starts_with("WHE#") => Kind::WebhookEndpoint,
        _ if sk.starts_with("SSOLOGIN#") => Kind::SsoLogin,
        _ if sk.starts_with("DIR#") => Kind::Directory,
        _ if sk.starts_with("GROUP#") => Kind::Group,
        _ => return None,
    })
}

/// The actor of a change: the stamp of the new image when this change wrote
/// it (a new request id), the deletion marker's for a removal, else the
/// system (the purge, the operator, a write outside any request).
fn actor(change: &StreamChange, marker: Option<&Actor>) -> Actor {
    match (&change.new_image, &change.old_image) {
        (Some(new), old) => {
            let stamped = Actor::of(new);
            let before = old.as_ref().and_then(Actor::of);
            match stamped {
                Some(a) if before.as_ref().is_none_or(|b| b.request != a.request) => a,
                _ => Actor::system(),
            }
        }
        (None, _) => marker.cloned().unwrap_or_else(Actor::system),
    }
}

/// How many tokens confirmed a relation (its image's token list).
fn confirmations(image: Option<&Item>) -> usize {
    image
        .and_then(|item| item.get("confirming_token_hashes"))
        .and_then(|list| list.as_l().ok())
        .map_or(0, Vec::len)
}

/// The `(PK, SK)` whose deletion marker names the actor of a removal.
pub fn removed_key(change: &StreamChange) -> Option<(String, String)> {
    if change.new_image.is_some() {
        return None;
    }
    let old = change.old_image.as_ref()?;
    kind_of(old)?;
    Some((
        store::get_s(old, store::PK)?.to_owned(),
        store::get_s(old, SK)?.to_owned(),
    ))
}

fn render<T: serde::de::DeserializeOwned>(
    item: &Item,
    view: impl FnOnce(&T) -> Result<Value, serde_json::Error>,
) -> Option<Value> {
    let record: T = store::from_item(item.clone()).ok()?;
    view(&record).ok()
}

/// The object's members that `before` had with other values.
fn previous(before: &Value, after: &Value) -> Option<Value> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return None;
    };
    let changed: Map<String, Value> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v) && k.as_str() != "updated_at")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!changed.is_empty()).then_some(Value::Object(changed))
}

/// The events of one change; `marker` is the actor a deletion marker names.
pub fn events(change: &StreamChange, marker: Option<&Actor>, now: Timestamp) -> Vec<NewEvent> {
    let Some(image) = change.new_image.as_ref().or(change.old_image.as_ref()) else {
        return Vec::new();
    };
    let Some(kind) = kind_of(image) else {
        return Vec::new();
    };
    let org = match kind {
        Kind::ConnectToken | Kind::Relation => store::get_s(image, "organization_id"),
        _ => store::get_s(image, store::PK).and_then(|pk| pk.strip_prefix("ORG#")),
    };
    let Some(org) = org.and_then(|id| OrganizationId::parse(id).ok()) else {
        return Vec::new();
    };
    let actor = actor(change, marker);
    let render_one = |item: &Item| -> Option<Value> {
        match kind {
            Kind::EndUser => render(item, |r: &EndUserRecord| serde_json::to_value(r.view())),
            Kind::Identity => render(item, |r: &IdentityRecord| serde_json::to_value(r.view())),
            Kind::Provider => render(item, |r: &ProviderRecord| serde_json::to_value(r.view())),
            Kind::ApiKey => render(item, |r: &ApiKeyEntry| serde_json::to_value(r.view())),
            Kind::ConnectToken => render(item, |r: &ConnectTokenRecord| {
                serde_json::to_value(r.view())
            }),
            Kind::WebhookEndpoint => {
                render(item, |r: &EndpointRecord| serde_json::to_value(r.view()))
            }
            // As the organization's list renders it, with the service's
            // name the claim stamped (null on a relation older than the
            // stamp and not confirmed since).
            Kind::Relation => render(item, |r: &RelationRecord| {
                serde_json::to_value(r.organization_relation(None))
            }),
            Kind::SsoLogin => render(item, |r: &SsoLoginRecord| serde_json::to_value(r.view())),
            Kind::Directory => render(item, |r: &DirectoryRecord| Ok(r.event_view())),
            Kind::Group => render(item, |r: &GroupRecord| serde_json::to_value(r.view())),
            Kind::Policies => Some(json!({
                "policies": store::get_s(item, "text").unwrap_or_default(),
                "updated_at": store::get_s(item, "updated_at"),
            })),
        }
    };
    let new = change.new_image.as_ref().and_then(render_one);
    let old = change.old_image.as_ref().and_then(render_one);
    // An image that is there but does not render (an item edited by hand,
    // a restore of another shape) publishes nothing: read as absent, it
    // would announce a creation or a deletion that never happened.
    if change.new_image.is_some() != new.is_some() || change.old_image.is_some() != old.is_some() {
        tracing::warn!(?kind, event_id = %change.event_id, "a stream image that does not render: no event");
        return Vec::new();
    }
    let user_id = image_user(kind, image);
    let resource = store::get_s(image, SK).unwrap_or_default().to_owned();
    let mut found: Vec<(&'static str, Value, Option<Value>)> = Vec::new();
    match (kind, &old, &new) {
        // A sign-in's record is written once, when it ends; it expires
        // without an event.
        (Kind::SsoLogin, None, Some(object)) => {
            let kind = if object["outcome"] == "succeeded" {
                "sso.login_succeeded"
            } else {
                "sso.login_failed"
            };
            found.push((kind, object.clone(), None));
        }
        (Kind::SsoLogin, _, _) => {}
        (Kind::Group, old_object, new_object) => {
            group_events(change, old_object.as_ref(), new_object.as_ref(), &mut found);
        }
        (_, None, Some(object)) => found.push((created(kind), object.clone(), None)),
        (Kind::EndUser, Some(object), None) => {
            found.push(("end_user.purged", object.clone(), None))
        }
        (Kind::Identity, Some(object), None) => {
            found.push(("identity.unlinked", object.clone(), None));
        }
        (Kind::Provider, Some(object), None) => {
            found.push(("identity_provider.deleted", object.clone(), None));
        }
        (Kind::ApiKey, Some(object), None) => found.push(("api_key.revoked", object.clone(), None)),
        (Kind::Relation, Some(object), None) => {
            found.push(("relation.removed", object.clone(), None))
        }
        (Kind::Directory, Some(object), None) => {
            found.push(("directory.deleted", object.clone(), None));
        }
        (Kind::Directory, Some(before), Some(after))
            if before["token_prefix"] != after["token_prefix"] =>
        {
            found.push((
                "directory.token_rolled",
                after.clone(),
                Some(json!({"token_prefix": before["token_prefix"]})),
            ));
        }
        (Kind::WebhookEndpoint, Some(object), None) => {
            found.push(("webhook_endpoint.deleted", object.clone(), None));
        }
        (Kind::WebhookEndpoint, Some(before), Some(after)) => {
            if before["status"] != "disabled" && after["status"] == "disabled" {
                found.push(("webhook_endpoint.disabled", after.clone(), None));
            } else if let Some(previous) = previous(before, after) {
                // A secret roll changes nothing the API shows.
                found.push(("webhook_endpoint.updated", after.clone(), Some(previous)));
            }
        }
        (Kind::ConnectToken, Some(before), Some(after)) if before["status"] != after["status"] => {
            let kind = match after["status"].as_str() {
                Some("cancelled") => "connect_token.cancelled",
                Some("claimed") => "connect_token.claimed",
                Some("consumed") => "connect_token.consumed",
                _ => "connect_token.updated",
            };
            found.push((
                kind,
                after.clone(),
                Some(json!({"status": before["status"]})),
            ));
        }
        // A confirmation appends its token to the relation: one more token
        // is one confirmation, however close in time to the last (the
        // rendered `updated_at` has whole seconds).
        (Kind::Relation, Some(_), Some(after))
            if confirmations(change.new_image.as_ref())
                > confirmations(change.old_image.as_ref()) =>
        {
            found.push(("relation.confirmed", after.clone(), None));
        }
        (Kind::EndUser, Some(before), Some(after)) => {
            let old_item = change.old_image.as_ref().unwrap_or(image);
            let new_item = change.new_image.as_ref().unwrap_or(image);
            let field = |item: &Item, name: &str| store::get_s(item, name).map(str::to_owned);
            let number = |item: &Item, name: &str| store::get_n::<u64>(item, name).unwrap_or(0);
            if field(old_item, "status").as_deref() != Some("deleting")
                && field(new_item, "status").as_deref() == Some("deleting")
            {
                found.push(("end_user.deleted", after.clone(), None));
            }
            // A directory's `active` (SPEC §18): its suspension moves the
            // token generation on too, which is that event, not another.
            let active = |object: &Value| object["directory"]["active"].as_bool();
            let suspended = active(before) != Some(false) && active(after) == Some(false);
            if suspended {
                found.push(("end_user.suspended", after.clone(), None));
            } else if active(before) == Some(false) && active(after) == Some(true) {
                found.push(("end_user.reactivated", after.clone(), None));
            }
            if !suspended
                && number(new_item, "token_generation") > number(old_item, "token_generation")
            {
                found.push(("end_user.tokens_revoked", after.clone(), None));
            }
            if before["subscription"] != after["subscription"]
                || before["externally_managed"] != after["externally_managed"]
            {
                found.push((
                    "subscription.changed",
                    after.clone(),
                    Some(json!({"subscription": before["subscription"], "externally_managed": before["externally_managed"]})),
                ));
            }
            // The organization's metadata, or what a directory writes.
            let mut changed = Map::new();
            for member in ["email", "display_name", "external_id", "metadata"] {
                if before[member] != after[member] {
                    changed.insert(member.to_owned(), before[member].clone());
                }
            }
            if before["directory"]["user_name"] != after["directory"]["user_name"] {
                changed.insert("directory".to_owned(), before["directory"].clone());
            }
            if !changed.is_empty() {
                found.push((
                    "end_user.updated",
                    after.clone(),
                    Some(Value::Object(changed)),
                ));
            }
        }
        (Kind::Provider, Some(before), Some(after)) => {
            // A key refresh or the delete's mark changes nothing the API shows
            // but `keys_fetched_at`.
            let mut shown_before = before.clone();
            let mut shown_after = after.clone();
            for v in [&mut shown_before, &mut shown_after] {
                if let Some(o) = v.as_object_mut() {
                    o.remove("keys_fetched_at");
                }
            }
            if shown_before != shown_after {
                found.push((
                    "identity_provider.updated",
                    after.clone(),
                    previous(&shown_before, &shown_after),
                ));
            }
        }
        (Kind::Policies, Some(before), Some(after)) if before["policies"] != after["policies"] => {
            found.push((
                "policies.updated",
                after.clone(),
                Some(json!({"policies": before["policies"]})),
            ));
        }
        // A roll gives the old key an expiry; `last_used_at` is no event.
        (Kind::ApiKey, Some(before), Some(after))
            if before["expires_at"] != after["expires_at"] =>
        {
            found.push((
                "api_key.rolled",
                after.clone(),
                Some(json!({"expires_at": before["expires_at"]})),
            ));
        }
        _ => {}
    }
    found
        .into_iter()
        .enumerate()
        .map(|(n, (kind, mut object, mut previous))| {
            if kind.starts_with("webhook_endpoint.") {
                // A URL may carry a token in its query (SPEC §15): events
                // show its scheme, host and path only.
                for part in std::iter::once(&mut object).chain(previous.as_mut()) {
                    if let Some(url) = part.get_mut("url") {
                        without_query(url);
                    }
                }
            }
            let mut data = json!({ "object": object });
            if let Some(previous) = previous {
                data["previous"] = previous;
            }
            NewEvent {
                id: super::event_id(&change.event_id, n),
                organization_id: org,
                kind,
                created_at: now,
                actor: actor.clone(),
                data,
                resource: resource.clone(),
                user_id: user_id.clone(),
            }
        })
        .collect()
}

/// A group's events: created, updated (its name or external id), deleted,
/// and one per member added or removed — `{group_id, end_user_id,
/// directory_id}`, no personal data.
fn group_events(
    change: &StreamChange,
    before: Option<&Value>,
    after: Option<&Value>,
    found: &mut Vec<(&'static str, Value, Option<Value>)>,
) {
    let members = |image: Option<&Item>| -> Vec<String> {
        image
            .and_then(|item| store::from_item::<GroupRecord>(item.clone()).ok())
            .map(|g| g.member_ids().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    };
    let (old, new) = (
        members(change.old_image.as_ref()),
        members(change.new_image.as_ref()),
    );
    match (before, after) {
        (None, Some(object)) => found.push(("group.created", object.clone(), None)),
        (Some(object), None) => found.push(("group.deleted", object.clone(), None)),
        (Some(before), Some(after)) => {
            let mut changed = Map::new();
            for member in ["display_name", "external_id"] {
                if before[member] != after[member] {
                    changed.insert(member.to_owned(), before[member].clone());
                }
            }
            if !changed.is_empty() {
                found.push(("group.updated", after.clone(), Some(Value::Object(changed))));
            }
        }
        (None, None) => return,
    }
    let Some(group) = after.or(before) else {
        return;
    };
    let membership = |user: &String| {
        json!({
            "group_id": group["id"],
            "end_user_id": user,
            "directory_id": group["directory_id"],
        })
    };
    for user in new.iter().filter(|u| !old.contains(u)) {
        found.push(("group.member_added", membership(user), None));
    }
    // A deleted group's members leave with it (its `group.deleted` says so).
    if after.is_some() {
        for user in old.iter().filter(|u| !new.contains(u)) {
            found.push(("group.member_removed", membership(user), None));
        }
    }
}

/// A URL with its query, fragment and credentials removed (absent or not
/// a URL: left as it is).
fn without_query(url: &mut Value) {
    let Some(text) = url.as_str() else {
        return;
    };
    if let Ok(mut parsed) = url::Url::parse(text) {
        let bare = parsed.query().is_none()
            && parsed.fragment().is_none()
            && parsed.username().is_empty()
            && parsed.password().is_none();
        if bare {
            return;
        }
        parsed.set_query(None);
        parsed.set_fragment(None);
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        *url = Value::String(parsed.to_string());
    }
}

fn created(kind: Kind) -> &'static str {
    match kind {
        Kind::EndUser => "end_user.created",
        Kind::Identity => "identity.linked",
        Kind::Provider => "identity_provider.created",
        Kind::Policies => "policies.updated",
        Kind::ApiKey => "api_key.created",
        Kind::ConnectToken => "connect_token.created",
        Kind::Relation => "relation.created",
        Kind::WebhookEndpoint => "webhook_endpoint.created",
        Kind::SsoLogin => "sso.login_succeeded",
        Kind::Directory => "directory.created",
        Kind::Group => "group.created",
    }
}

/// The end user whose personal data an event carries (redacted at purge).
fn image_user(kind: Kind, item: &Item) -> Option<String> {
    match kind {
        Kind::EndUser => store::get_s(item, "id").map(str::to_owned),
        Kind::Identity => store::get_s(item, "user_id").map(str::to_owned),
        Kind::SsoLogin => store::get_s(item, "end_user_id").map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::end_users::store::EndUserRecord;

    #[test]
    fn an_image_that_does_not_render_is_neither_a_creation_nor_a_deletion() {
        let org = OrganizationId::generate();
        let input = crate::end_users::CreateEndUser::default();
        let user = EndUserRecord::new(org, input, time::OffsetDateTime::now_utc());
        let good = store::to_item(&user).expect("an item");
        let mut bad = good.clone();
        bad.insert("created_at".into(), store::s("yesterday"));
        let change = |old: Option<&Item>, new: Option<&Item>| StreamChange {
            event_id: "e".into(),
            sequence_number: "1".into(),
            old_image: old.cloned(),
            new_image: new.cloned(),
        };
        let now = Timestamp::from(time::OffsetDateTime::now_utc());
        assert_eq!(events(&change(Some(&good), Some(&bad)), None, now).len(), 0);
        assert_eq!(events(&change(Some(&bad), Some(&good)), None, now).len(), 0);
        assert_eq!(events(&change(None, Some(&bad)), None, now).len(), 0);
        // The same change with images that render is an event.
        let created = events(&change(None, Some(&good)), None, now);
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].kind, "end_user.created");
    }
}
