//! Events (SPEC §15): derived from the table's stream by `publish-events`
//! (run here by the local poller on the emulator's real stream), read with
//! `GET /v1/events` — in order, each once, with who made the change.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tether::clock::Clock;
use tether::stream::local::Poller;
use tether_tests::{As, TestApp, TestResponse, id, idp, spawn_app, spawn_app_following_stream};

/// A poller running the purge and the publisher, as `make dev`'s worker does.
async fn follow(app: &TestApp) -> Poller {
    app.follow_stream(&[tether::purge::handler, tether::publisher::handler])
        .await
}

/// Every event of the organization, polling the stream until `count` are
/// published (or 15 s pass).
async fn events(app: &TestApp, poller: &mut Poller, count: usize) -> Vec<Value> {
    events_until(app, poller, |all| all.len() >= count).await
}

/// Every event of the organization, polling the stream until `done` holds
/// (or 15 s pass).
async fn events_until(
    app: &TestApp,
    poller: &mut Poller,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        poller.poll_once(&app.followers()).await.expect("poll");
        let all = all_events(app, None).await;
        if done(&all) || started.elapsed() > Duration::from_secs(15) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pages through `GET /v1/events` from the start (or `types`).
async fn all_events(app: &TestApp, types: Option<&str>) -> Vec<Value> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = String::from("limit=7");
        if let Some(after) = &after {
            query.push_str(&format!("&after={after}"));
        }
        if let Some(types) = types {
            query.push_str(&format!("&types={types}"));
        }
        let res = app
            .get(&format!("/v1/events?{query}"))
            .await
            .assert_status(200);
        let page = res.data().clone();
        after = Some(
            res.body["next_cursor"]
                .as_str()
                .expect("always a cursor")
                .to_owned(),
        );
        if page.is_empty() {
            return found;
        }
        found.extend(page);
    }
}

/// Publishes the events of every record of the table's stream from its
/// start, as `publish-events` would, asserting none failed.
async fn publish_the_stream(app: &TestApp) {
    let records = tether_tests::stream_changes(app).await;
    let failed = tether::events::handle(&app.app.store, &records, app.clock.now()).await;
    assert!(failed.is_empty());
}

/// The first of `events` of type `kind`.
fn first_of<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found = events.iter().find(|e| e["type"] == kind);
    found.unwrap_or_else(|| panic!("no {kind}: {:?}", summary(events)))
}

/// A policy that forbids creating tokens.
const NO_TOKENS: &str =
    "@id(\"p\") forbid (principal, action == Action::\"tokens.create\", resource);";

/// Links `user` to `provider` as `external_id` (the organization's link).
async fn link(app: &TestApp, user: &Value, provider: &Value, external_id: &str) -> TestResponse {
    let path = format!("/v1/users/{}/identities", id(user));
    let body = json!({"identity_provider_id": provider["id"], "external_id": external_id});
    app.post(&path, &body).await
}

/// The end user's own link of `provider` through SSO, as `subject`.
async fn link_by_sso(app: &TestApp, user: &Value, provider: &Value, subject: &str) -> TestResponse {
    let id_token = idp::id_token(subject, app.clock.now().unix_timestamp());
    let body = json!({"identity_provider_id": provider["id"], "id_token": id_token});
    let token = app.user_token(user);
    app.send_as("POST", "/v1/me/sso/link", As::Bearer(&token), Some(&body))
        .await
}

/// Unlinks the `identity` (as linked) from `user`.
async fn unlink(app: &TestApp, user: &Value, identity: &Value) -> TestResponse {
    let path = format!("/v1/users/{}/identities/{}", id(user), id(identity));
    app.delete(&path).await
}

/// Creates an API key named `name`, rolls it and revokes it, asserting each.
async fn create_roll_and_revoke_a_key(app: &TestApp, name: &str) {
    let key = app
        .post("/v1/api-keys", &json!({"name": name, "scopes": ["read"]}))
        .await;
    let key_path = format!("/v1/api-keys/{}", id(&key.assert_status(201).body));
    let roll = json!({"expires_in_seconds": 60});
    let rolled = app.post(&format!("{key_path}/roll"), &roll).await;
    assert_eq!(rolled.status, 201);
    assert_eq!(app.delete(&key_path).await.status, 204);
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["actor"]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_is_one_event_naming_who_made_it() {
    let app = spawn_app_following_stream().await;
    let mut poller = follow(&app).await;
    let provider = app.create_provider().await;
    let user = app
        .create_user(json!({"email": "ada@example.com", "metadata": {"a": 1}}))
        .await;
    let user_path = format!("/v1/end-users/{}", id(&user));
    assert_eq!(
        app.patch(&user_path, &json!({"metadata": {"a": 2}}))
            .await
            .status,
        200
    );
    let linked = link(&app, &user, &provider, "ada-1").await;
    assert_eq!(linked.status, 201);
    link_by_sso(&app, &user, &provider, "ada-sso")
        .await
        .assert_status(201);
    assert_eq!(unlink(&app, &user, &linked.body).await.status, 204);
    let revoke = app.post_empty(&format!("{user_path}/tokens/revoke")).await;
    assert_eq!(revoke.status, 204);
    app.put_policies(NO_TOKENS).await;
    create_roll_and_revoke_a_key(&app, "ci").await;
    // Before the purge, the events carry what changed.
    let before = events(&app, &mut poller, 12).await;
    let updated = first_of(&before, "end_user.updated");
    assert_eq!(updated["data"]["object"]["metadata"], json!({"a": 2}));
    assert_eq!(updated["data"]["previous"]["metadata"], json!({"a": 1}));
    assert_eq!(updated["actor"]["id"], app.admin_key_id.to_string());
    assert_eq!(app.delete(&user_path).await.status, 202);

    let expected = [
        ("identity_provider.created", "api_key"),
        ("end_user.created", "api_key"),
        ("end_user.updated", "api_key"),
        ("identity.linked", "api_key"),
        ("identity.linked", "end_user"),
        ("identity.unlinked", "api_key"),
        ("end_user.tokens_revoked", "api_key"),
        ("policies.updated", "api_key"),
        ("api_key.created", "api_key"),
        ("api_key.created", "api_key"),
        ("api_key.rolled", "api_key"),
        ("api_key.revoked", "api_key"),
        ("end_user.deleted", "api_key"),
        // The purge removes the remaining identity, then the end user.
        ("identity.unlinked", "system"),
        ("end_user.purged", "system"),
    ];
    let events = events(&app, &mut poller, expected.len()).await;
    let got = summary(&events);
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(t, a)| ((*t).to_owned(), (*a).to_owned()))
        .collect();
    // Ordered per resource, not across resources: compare as multisets and
    // check each resource's order below.
    let (mut sorted_got, mut sorted_want) = (got.clone(), want.clone());
    sorted_got.sort();
    sorted_want.sort();
    assert_eq!(sorted_got, sorted_want, "{got:#?}");
    want.retain(|(t, _)| t.starts_with("end_user."));
    let user_events: Vec<(String, String)> = got
        .iter()
        .filter(|(t, _)| t.starts_with("end_user."))
        .cloned()
        .collect();
    assert_eq!(
        user_events, want,
        "an end user's events in the order they happened"
    );

    let by_user = events
        .iter()
        .find(|e| e["type"] == "identity.linked" && e["actor"]["type"] == "end_user")
        .unwrap();
    assert_eq!(by_user["actor"]["id"], user["id"]);
    assert_eq!(by_user["data"]["object"]["linked_by"], "user");
    let purged = first_of(&events, "end_user.purged");
    assert_eq!(purged["actor"]["id"], Value::Null);
    for event in &events {
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(event["organization_id"], app.org_id.to_string());
    }
    // The purge took the end user's personal data out of every event of it.
    let user_id = user["id"].as_str().unwrap();
    let theirs: Vec<&Value> = events
        .iter()
        .filter(|e| {
            let object = &e["data"]["object"];
            object["id"] == user_id || object["user_id"] == user_id
        })
        .collect();
    assert_eq!(theirs.len(), 9, "{:?}", summary(&events));
    for event in theirs {
        let object = &event["data"]["object"];
        for field in ["email", "external_id", "external_email", "display_name"] {
            assert!(
                object.get(field).is_none_or(Value::is_null),
                "{field} in {event}"
            );
        }
        if let Some(metadata) = object.get("metadata") {
            assert_eq!(metadata, &json!({}), "{event}");
        }
        if let Some(previous) = event["data"].get("previous") {
            assert!(
                previous.get("metadata").is_none_or(|m| m == &json!({})),
                "{event}"
            );
        }
    }
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("ada@example.com")
    );
    // Never a secret, never a hash.
    let text = serde_json::to_string(&events).unwrap();
    for secret in ["tk_", "tst_", "tct_", "whsec_", "hash", &app.admin_key] {
        assert!(!text.contains(secret), "an event carries {secret}");
    }
}

#[tokio::test]
async fn a_partners_changes_are_events_too() {
    let app = spawn_app_following_stream().await;
    let (service, token) = app.create_service(&[]).await;
    let claimed = claim(&app, &service, &token, "crm-1").await;
    for subscription in ["FREE", "PRO"] {
        let res = put_subscription(&app, &service, &token, "crm-7", subscription).await;
        assert!(res.status == 201 || res.status == 200, "{}", res.text);
    }
    app.remove_relation(&claimed).await.assert_status(204);
    // Read from the stream's start rather than by the worker: moto streams
    // the writes of a cancelled transaction (the PUT's create attempt) and
    // then leaves a following iterator on a stale copy of the stream.
    publish_the_stream(&app).await;
    let events = all_events(&app, None).await;
    let changed = first_of(&events, "subscription.changed");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "subscription.changed")
            .count(),
        1
    );
    // The partnership's own life: token issued by the organization, claimed
    // by the service, relation removed by the organization.
    let partnership = [
        ("connect_token.created", "api_key"),
        ("connect_token.claimed", "external_service"),
        ("relation.created", "external_service"),
        ("relation.removed", "api_key"),
        ("connect_token.consumed", "api_key"),
    ];
    assert_actors(&events, &partnership);
    let created = first_of(&events, "connect_token.created");
    assert!(
        created["data"]["object"].get("token").is_none(),
        "never the token"
    );
    assert_eq!(changed["actor"]["type"], "external_service");
    assert_eq!(changed["actor"]["id"], service);
    assert_eq!(changed["data"]["object"]["subscription"], "pro");
    assert_eq!(changed["data"]["previous"]["subscription"], "free");
}

/// The service's claim of a new connect token of the organization for the
/// external organization `external`, which must answer 200; the relation.
async fn claim(app: &TestApp, service: &str, token: &str, external: &str) -> Value {
    let connect = app.create_connect_token(service).await;
    let res = app.claim_relation(service, token, &connect["token"], external);
    res.await.assert_status(200).body
}

/// Asserts that the first event of each type of `expected` was made by an
/// actor of the type paired with it.
fn assert_actors(events: &[Value], expected: &[(&str, &str)]) {
    for (kind, actor) in expected {
        let event = first_of(events, kind);
        assert_eq!(event["actor"]["type"], *actor, "{kind}");
    }
}

/// The service's `PUT` of its user `user`'s `subscription` in the
/// organization.
async fn put_subscription(
    app: &TestApp,
    service: &str,
    token: &str,
    user: &str,
    subscription: &str,
) -> TestResponse {
    let organization = format!(
        "/api/v1/external-services/{service}/organizations/{}",
        app.org_id
    );
    let body = json!({ "subscription": subscription });
    let path = format!("{organization}/users/{user}");
    app.send_as("PUT", &path, As::Bearer(token), Some(&body))
        .await
}

/// Stores the organization's relation with `service` as claims stored it
/// before they stamped the service's name.
async fn unstamp(app: &TestApp, service: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let store = &app.app.store;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("SVC#{service}")))
        .key("SK", AttributeValue::S(format!("REL#ORG#{}", app.org_id)))
        .update_expression("REMOVE external_service_name")
        .send()
        .await
        .expect("store the relation as before the stamp");
}

/// A relation's events carry it as `GET /v1/external-service-relations`
/// renders it, its service's name included: stamped by the claim, and
/// stamped again by a confirmation of a relation stored without it.
#[tokio::test]
async fn a_relations_events_render_it_as_the_organizations_list_does() {
    let app = spawn_app_following_stream().await;
    let (service, token) = app.create_service(&[]).await;
    let claim = || claim(&app, &service, &token, "crm-4");
    let relation = claim().await;
    let listed = || async {
        let res = app
            .get("/v1/external-service-relations")
            .await
            .assert_status(200);
        res.body["data"][0].clone()
    };
    let as_created = listed().await;
    assert_eq!(as_created["external_service_name"], "Test CRM");
    // A relation stored before the claim stamped names: the list looks the
    // name up, and the next confirmation stamps it.
    unstamp(&app, &service).await;
    assert_eq!(listed().await["external_service_name"], "Test CRM");
    claim().await;
    let as_confirmed = listed().await;
    app.remove_relation(&relation).await.assert_status(204);

    publish_the_stream(&app).await;
    let events = all_events(
        &app,
        Some("relation.created,relation.confirmed,relation.removed"),
    )
    .await;
    let object = |kind: &str| first_of(&events, kind)["data"]["object"].clone();
    assert_eq!(object("relation.created"), as_created);
    assert_eq!(object("relation.confirmed"), as_confirmed);
    assert_eq!(object("relation.removed"), as_confirmed);
}

/// A relation claimed before claims stamped names gets its service's name
/// from `tetherctl external-service stamp-relation-names`, and its events
/// carry it from then on; a second run finds nothing to do.
#[tokio::test]
async fn older_relations_get_their_services_name_stamped() {
    use tether::external_services::{list_services, stamp::stamp_relation_names};
    let app = spawn_app_following_stream().await;
    let (service, token) = app.create_service(&[]).await;
    let relation = claim(&app, &service, &token, "crm-5").await;
    let store = &app.app.store;
    unstamp(&app, &service).await;
    let record = list_services(store)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id.to_string() == service)
        .expect("the service");
    assert_eq!(stamp_relation_names(store, &record).await.unwrap(), (1, 1));
    assert_eq!(stamp_relation_names(store, &record).await.unwrap(), (0, 0));
    app.remove_relation(&relation).await.assert_status(204);

    publish_the_stream(&app).await;
    let events = all_events(&app, Some("relation.removed")).await;
    assert_eq!(events.len(), 1, "{:?}", summary(&events));
    assert_eq!(
        events[0]["data"]["object"]["external_service_name"],
        "Test CRM"
    );
}

#[tokio::test]
async fn a_redelivered_batch_publishes_nothing_twice() {
    let app = spawn_app_following_stream().await;
    let mut poller = follow(&app).await;
    app.create_user(json!({})).await;
    app.create_user(json!({})).await;
    let first = events(&app, &mut poller, 2).await;
    assert_eq!(first.len(), 2);
    // The same records again, as a retried Lambda batch delivers them.
    let records = tether_tests::stream_changes(&app).await;
    assert!(!records.is_empty());
    for _ in 0..2 {
        let failed = tether::events::handle(&app.app.store, &records, app.clock.now()).await;
        assert!(failed.is_empty());
    }
    // The records from before the poller started (the admin key) are
    // published now, once; nothing already published comes again.
    let again = all_events(&app, None).await;
    let mut ids: Vec<&str> = again.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(&again[..2], &first[..]);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), again.len(), "an event was published twice");
    assert_eq!(again.len(), 3, "{again:#?}");
}

#[tokio::test]
async fn consumers_filter_by_type_resume_from_any_cursor_and_see_only_their_organization() {
    let app = spawn_app_following_stream().await;
    let mut poller = follow(&app).await;
    for _ in 0..3 {
        let user = app.create_user(json!({})).await;
        app.patch(
            &format!("/v1/end-users/{}", id(&user)),
            &json!({"metadata": {"x": 1}}),
        )
        .await;
    }
    let all = events(&app, &mut poller, 6).await;
    assert_eq!(all.len(), 6);
    let created = all_events(&app, Some("end_user.created")).await;
    assert_eq!(created.len(), 3);
    assert!(created.iter().all(|e| e["type"] == "end_user.created"));

    // An empty page still hands out a cursor; resuming from it sees what
    // happens next and nothing before.
    let end = app.get("/v1/events?limit=100").await;
    let cursor = end.body["next_cursor"].as_str().unwrap().to_owned();
    let tail = app.get(&format!("/v1/events?after={cursor}")).await;
    assert_eq!(tail.body["data"], json!([]));
    assert_eq!(tail.body["next_cursor"], cursor.as_str());
    app.create_user(json!({})).await;
    events(&app, &mut poller, 7).await;
    let next = app.get(&format!("/v1/events?after={cursor}")).await;
    assert_eq!(next.data().len(), 1);
    assert_eq!(next.body["data"][0]["type"], "end_user.created");

    let (_, other_key) = app.create_org("Other").await;
    let theirs = app.get_as(&other_key, "/v1/events").await;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.body["data"], json!([]));
    let read_key = app.create_read_key().await;
    app.get_as(&read_key, "/v1/events")
        .await
        .assert_error(403, "insufficient_scope");
    for bad in [
        "after=nope",
        "types=end_user.exploded",
        "limit=0",
        "cursor=x",
    ] {
        app.get(&format!("/v1/events?{bad}"))
            .await
            .assert_error(400, "invalid_query_parameter");
    }
}

#[tokio::test]
async fn events_are_kept_thirty_days() {
    let app = spawn_app_following_stream().await;
    let mut poller = follow(&app).await;
    app.create_user(json!({})).await;
    assert_eq!(events(&app, &mut poller, 1).await.len(), 1);
    app.clock.advance(time::Duration::days(31));
    let page = app.get("/v1/events").await;
    assert_eq!(
        page.body["data"],
        json!([]),
        "expired, even before TTL removes it"
    );
}

/// Concurrent publishers (as several stream shards and retried batches)
/// append to one organization's log while a consumer pages and resumes:
/// it sees every event exactly once, in sequence order.
#[tokio::test]
async fn a_resuming_consumer_never_misses_or_repeats_under_concurrent_publishers() {
    use tether::events::{NewEvent, log};
    use tether::store::actor::Actor;
    let app = spawn_app().await;
    let now = app.clock.now();
    let event = |publisher: usize, n: usize| NewEvent {
        id: tether::events::event_id(&format!("record-{publisher}"), n),
        organization_id: app.org_id,
        kind: "end_user.created",
        created_at: tether::clock::Timestamp::from(now),
        actor: Actor::system(),
        data: json!({"object": {"publisher": publisher, "n": n}}),
        resource: format!("USER#{publisher}"),
        user_id: None,
    };
    const PUBLISHERS: usize = 6;
    const BATCHES: usize = 5;
    const PER_BATCH: usize = 4;
    let store = app.app.store.clone();
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let store = store.clone();
        let batches: Vec<Vec<NewEvent>> = (0..BATCHES)
            .map(|b| {
                (0..PER_BATCH)
                    .map(|i| event(publisher, b * PER_BATCH + i))
                    .collect()
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            for batch in batches {
                log::append(&store, &batch, now.unix_timestamp())
                    .await
                    .expect("append");
                // A retried batch: the same events again, published once.
                log::append(&store, &batch, now.unix_timestamp())
                    .await
                    .expect("append again");
            }
        }));
    }
    // The consumer pages as events arrive, resuming from its last cursor.
    let mut seen: Vec<String> = Vec::new();
    let mut after = String::new();
    let total = PUBLISHERS * BATCHES * PER_BATCH;
    // A missed event stalls the consumer for good; slow publishers (moto on
    // a loaded runner, with every append retried on the counter's
    // conflicts) only slow it down: the deadline is on progress.
    let mut progressed = Instant::now();
    while seen.len() < total {
        assert!(
            progressed.elapsed() < Duration::from_secs(60),
            "only {} of {total}, none new for 60 s",
            seen.len()
        );
        let query = if after.is_empty() {
            "limit=5".to_owned()
        } else {
            format!("limit=5&after={after}")
        };
        let page = app.get(&format!("/v1/events?{query}")).await;
        assert_eq!(page.status, 200);
        for e in page.data() {
            seen.push(e["id"].as_str().unwrap().to_owned());
            progressed = Instant::now();
        }
        after = page.body["next_cursor"].as_str().unwrap().to_owned();
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "an event came twice");
    assert_eq!(seen.len(), total);
    // Each publisher's events in the order it published them.
    let all = all_events(&app, None).await;
    for publisher in 0..PUBLISHERS {
        let ns: Vec<u64> = all
            .iter()
            .filter(|e| e["data"]["object"]["publisher"] == publisher)
            .map(|e| e["data"]["object"]["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, (0..(BATCHES * PER_BATCH) as u64).collect::<Vec<_>>());
    }
}

/// Every type of the catalogue (`tether::event_types::TYPES`) is produced
/// by the operation that causes it — a test that fails when a type is added
/// without its producer, or a producer stops producing.
#[tokio::test]
async fn every_type_of_the_catalogue_is_produced_by_its_operation() {
    use tether::webhooks::endpoints;
    let app = spawn_app_following_stream().await;
    // SSO sign-ins: one that succeeds, one that fails.
    let op = tether_tests::oidc::OidcProvider::start("g1").await;
    let creating = tether_tests::sso::connect(&app, &op, "rs256", "create").await;
    let closed = tether_tests::sso::connect(&app, &op, "es256", "off").await;
    let browser = || tether_tests::sso::Browser::new(&app, "198.51.100.7");
    let back = browser().sign_in(&op, &creating, "ivy", "").await;
    assert!(back.contains_key("code"), "{back:?}");
    let back = browser().sign_in(&op, &closed, "zed", "").await;
    assert_eq!(back["error"], "user_not_found");
    // Identity providers: created, updated, deleted.
    let provider = app.create_provider().await;
    let provider_path = format!("/v1/identity-providers/{}", id(&provider));
    app.patch(&provider_path, &json!({"name": "Renamed"}))
        .await
        .assert_status(200);
    let unused = app.create_provider_id().await;
    app.delete(&format!("/v1/identity-providers/{unused}"))
        .await
        .assert_status(204);
    // Connect tokens: one cancelled; a relation created, then confirmed
    // with a second token, then removed (consuming both).
    let (service, token) = app.create_service(&[]).await;
    let cancelled = app.create_connect_token(&service).await;
    let cancel_path = format!("/v1/connect-tokens/{}/cancel", id(&cancelled));
    app.post_empty(&cancel_path).await.assert_status(200);
    let claim = || claim(&app, &service, &token, "crm-9");
    let relation = claim().await;
    claim().await;
    // A partner's subscription change: the first PUT may create the user.
    for (subscription, answers) in [("PRO", &[200, 201][..]), ("FREE", &[200][..])] {
        let put = put_subscription(&app, &service, &token, "crm-u", subscription).await;
        assert!(answers.contains(&put.status), "{}", put.text);
    }
    app.remove_relation(&relation).await.assert_status(204);
    // End users and identities, by the organization and by the end user.
    let user = app.create_user(json!({"email": "cat@example.com"})).await;
    let user_path = format!("/v1/end-users/{}", id(&user));
    app.patch(&user_path, &json!({"metadata": {"k": 1}})).await;
    let linked = link(&app, &user, &provider, "cat-1")
        .await
        .assert_status(201);
    link_by_sso(&app, &user, &provider, "cat-sso")
        .await
        .assert_status(201);
    unlink(&app, &user, &linked.body).await;
    app.post_empty(&format!("{user_path}/tokens/revoke")).await;
    // Policies and API keys.
    app.put_policies(NO_TOKENS).await;
    create_roll_and_revoke_a_key(&app, "k").await;
    // Webhook endpoints: created, updated, disabled (by the delivery
    // worker's store call), deleted.
    let hook = app.create_webhook_endpoint("http://127.0.0.1:9/h").await;
    let hook_path = format!("/v1/webhook-endpoints/{}", id(&hook));
    app.patch(&hook_path, &json!({"description": "crm"})).await;
    let hook_id = tether::ids::WebhookEndpointId::parse(id(&hook)).unwrap();
    endpoints::mark_failing(&app.app.store, app.org_id, hook_id, 1)
        .await
        .unwrap();
    assert!(
        endpoints::disable(&app.app.store, app.org_id, hook_id, 1, app.clock.now())
            .await
            .unwrap()
    );
    app.delete(&hook_path).await;
    // Directories: created, token rolled, deleted.
    let directory = app
        .post("/v1/directories", &json!({"name": "Okta"}))
        .await
        .assert_status(201);
    let directory_path = format!("/v1/directories/{}", id(&directory.body));
    app.post_empty(&format!("{directory_path}/roll-token"))
        .await
        .assert_status(200);
    // A directory's user: suspended, then reactivated.
    let scim = tether_tests::scim::Directory::create(&app).await;
    let scim_user = id(&scim.create_user("scim@example.com").await).to_owned();
    for active in [false, true] {
        scim.patch_user(
            &scim_user,
            json!({"op": "replace", "value": {"active": active}}),
        )
        .await
        .assert_status(200);
    }
    // Its group: created with the user, renamed, the user removed, deleted.
    let group = scim
        .send(
            "POST",
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": scim_user}]}),
        )
        .await
        .assert_status(201);
    let group_path = format!("/Groups/{}", id(&group.body));
    for operation in [
        json!({"op": "replace", "path": "displayName", "value": "Engineering"}),
        json!({"op": "remove", "path": format!("members[value eq \"{scim_user}\"]")}),
    ] {
        let patch = json!({"schemas": [tether_tests::scim::PATCH_OP], "Operations": [operation]});
        scim.send("PATCH", &group_path, &patch)
            .await
            .assert_status(200);
    }
    assert_eq!(scim.request("DELETE", &group_path).send().await.status, 204);
    app.delete(&directory_path).await.assert_status(204);
    // The purge, last.
    assert_eq!(app.delete(&user_path).await.status, 202);
    let purge =
        tether::purge::handle(&app.app.store, &tether_tests::stream_changes(&app).await).await;
    assert!(purge.is_empty());

    publish_the_stream(&app).await;
    let events = all_events(&app, None).await;
    let produced: std::collections::BTreeSet<&str> =
        events.iter().filter_map(|e| e["type"].as_str()).collect();
    let catalogue: std::collections::BTreeSet<&str> =
        tether::event_types::TYPES.iter().copied().collect();
    assert_eq!(
        catalogue.difference(&produced).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "types never produced"
    );
    assert!(produced.is_subset(&catalogue), "{produced:?}");
    let actors = [
        ("relation.confirmed", "external_service"),
        ("connect_token.cancelled", "api_key"),
        ("identity_provider.updated", "api_key"),
        ("identity_provider.deleted", "api_key"),
        ("webhook_endpoint.disabled", "system"),
        ("end_user.purged", "system"),
        ("end_user.suspended", "directory"),
        ("end_user.reactivated", "directory"),
        ("directory.token_rolled", "api_key"),
    ];
    assert_actors(&events, &actors);
    let text = serde_json::to_string(&events).unwrap();
    for secret in ["tk_", "tst_", "tct_", "whsec_", "scim_", "hash"] {
        assert!(!text.contains(secret), "an event carries {secret}");
    }
}

/// SPEC §4: one page of a filtered log reads at most 1,000 log items. A
/// rare type behind 1,200 common events is not searched for in one request:
/// the first page is empty, its cursor past the 1,000 items read, and the
/// consumer that follows it finds the rare event — each event once.
#[tokio::test]
async fn a_filtered_page_reads_at_most_a_thousand_items_and_resumes_from_there() {
    use base64::Engine as _;
    use tether::events::{NewEvent, log};
    use tether::store::actor::Actor;
    let app = spawn_app().await;
    let now = app.clock.now();
    let event = |n: usize, kind: &'static str| NewEvent {
        id: tether::events::event_id("bulk", n),
        organization_id: app.org_id,
        kind,
        created_at: tether::clock::Timestamp::from(now),
        actor: Actor::system(),
        data: json!({"object": {"n": n}}),
        resource: format!("USER#{n}"),
        user_id: None,
    };
    let mut all: Vec<NewEvent> = (0..1_200).map(|n| event(n, "end_user.created")).collect();
    all.push(event(1_200, "api_key.revoked"));
    log::append(&app.app.store, &all, now.unix_timestamp())
        .await
        .unwrap();
    // Warm: the key and the organization are cached.
    assert_eq!(app.get("/v1/events?limit=1").await.status, 200);
    let before = app.app.store.call_totals();
    let first = app
        .get("/v1/events?types=api_key.revoked&limit=10")
        .await
        .assert_status(200);
    let read = app.app.store.call_totals().since(&before);
    assert_eq!(first.body["data"], json!([]));
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "ev1:1000");
    // The limiter's write and ten queries of 100 items.
    assert_eq!(read.calls, 11, "the limiter's write and ten queries");
    let next = app
        .get(&format!(
            "/v1/events?types=api_key.revoked&limit=10&after={cursor}"
        ))
        .await;
    let data = next.data();
    assert_eq!(data.len(), 1, "{}", next.text);
    assert_eq!(data[0]["type"], "api_key.revoked");
    // Unfiltered pages are bounded by their limit, as before.
    let page = app.get("/v1/events?limit=100").await;
    assert_eq!(page.data().len(), 100);
}

/// SPEC §15: events about webhook endpoints carry the URL's scheme, host
/// and path — its query (where a receiver's token lives), fragment and
/// credentials removed — in the object and in `previous`, while the API
/// itself still shows the endpoint's whole URL to its admin.
#[tokio::test]
async fn webhook_endpoint_events_carry_the_url_without_its_query() {
    let app = spawn_app_following_stream().await;
    let mut poller = follow(&app).await;
    let url = "http://127.0.0.1:9/hooks?token=s3cret-one#frag";
    let created = app.create_webhook_endpoint(url).await;
    let path = format!("/v1/webhook-endpoints/{}", id(&created));
    app.patch(
        &path,
        &json!({"url": "http://127.0.0.1:9/other?token=s3cret-two"}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        app.get(&path).await.body["url"],
        "http://127.0.0.1:9/other?token=s3cret-two"
    );
    app.patch(&path, &json!({"description": "CRM"}))
        .await
        .assert_status(200);
    let all = events_until(&app, &mut poller, |all| {
        all.iter()
            .filter(|e| e["type"] == "webhook_endpoint.updated")
            .count()
            >= 2
    })
    .await;
    let description_only = all
        .iter()
        .filter(|e| e["type"] == "webhook_endpoint.updated")
        .nth(1)
        .unwrap();
    assert_eq!(
        description_only["data"]["previous"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["description"],
        "a previous without the URL that did not change"
    );
    let of = |kind: &str| all.iter().find(|e| e["type"] == kind).cloned().unwrap();
    let created = of("webhook_endpoint.created");
    assert_eq!(created["data"]["object"]["url"], "http://127.0.0.1:9/hooks");
    let updated = of("webhook_endpoint.updated");
    assert_eq!(updated["data"]["object"]["url"], "http://127.0.0.1:9/other");
    assert_eq!(
        updated["data"]["previous"]["url"],
        "http://127.0.0.1:9/hooks"
    );
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("s3cret"), "a token left in an event: {text}");
}

/// SPEC §15: a purge redacts the user's personal data in every earlier
/// event, including those published moments before it. The events here were
/// logged without an index entry — what an eventually consistent index
/// shows of events appended just before the purge — and are redacted all
/// the same: the purge finds them through the pointers the append wrote in
/// the same transaction, read strongly consistent.
#[tokio::test]
async fn a_purge_redacts_events_an_index_does_not_show_yet() {
    let app = spawn_app_following_stream().await;
    let mut poller = follow(&app).await;
    let user = app
        .create_user(
            json!({"email": "late@example.com", "display_name": "Late", "metadata": {"k": "v"}}),
        )
        .await;
    let path = format!("/v1/end-users/{}", id(&user));
    assert_eq!(
        app.patch(&path, &json!({"metadata": {"k": "w"}}))
            .await
            .status,
        200
    );
    let published = events_until(&app, &mut poller, |all| {
        all.iter().any(|e| e["type"] == "end_user.updated")
    })
    .await;
    // The user's event items, stripped of their index entries.
    let logged: Vec<_> = crate::table_items(&app)
        .await
        .into_iter()
        .filter(|i| {
            i["PK"].as_s().is_ok_and(|pk| pk.starts_with("EVENTS#"))
                && i.get("user_id")
                    .and_then(|u| u.as_s().ok())
                    .map(String::as_str)
                    == user["id"].as_str()
        })
        .collect();
    assert!(logged.len() >= 2, "{published:?}");
    for item in &logged {
        app.app
            .store
            .client()
            .update_item()
            .table_name(app.app.store.table())
            .key("PK", item["PK"].clone())
            .key("SK", item["SK"].clone())
            .update_expression("REMOVE external_id_key")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(app.delete(&path).await.status, 202);
    let all = events_until(&app, &mut poller, |all| {
        all.iter().any(|e| e["type"] == "end_user.purged")
    })
    .await;
    let text = serde_json::to_string(&all).unwrap();
    assert!(
        all.iter().any(|e| e["type"] == "end_user.purged"),
        "purged: {text}"
    );
    for personal in ["late@example.com", "Late", "\"w\"", "\"v\""] {
        assert!(!text.contains(personal), "{personal} left in {text}");
    }
}
