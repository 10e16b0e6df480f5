//! The asynchronous purge of deleted end users (SPEC §12): the stream handler
//! itself, and the local poller that feeds it from DynamoDB Local's stream.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tether::purge::{self, StreamChange};
use tether_tests::faults::FailingCalls;
use tether_tests::id;
use tether_tests::{TestApp, spawn_app, spawn_app_following_stream};

async fn user_item(
    app: &TestApp,
    user: &Value,
) -> std::collections::HashMap<String, AttributeValue> {
    crate::stored_user(app, user)
        .await
        .expect("the end user is stored")
}

async fn relationships(app: &TestApp) -> String {
    let org = crate::stored_item(app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    org["relationships_active"].as_n().unwrap().clone()
}

/// The stream record DynamoDB emits when `user` goes from `before` to its stored state.
fn change(
    sequence: &str,
    before: &std::collections::HashMap<String, AttributeValue>,
    after: &std::collections::HashMap<String, AttributeValue>,
) -> StreamChange {
    StreamChange {
        event_id: String::new(),
        sequence_number: sequence.into(),
        new_image: Some(after.clone()),
        old_image: Some(before.clone()),
    }
}

/// Deletes `user`, asserting 202; returns its path and the stream record
/// of the deletion, numbered `sequence`.
async fn delete_recorded(app: &TestApp, user: &Value, sequence: &str) -> (String, StreamChange) {
    let before = user_item(app, user).await;
    let path = format!("/v1/end-users/{}", id(user));
    assert_eq!(app.delete(&path).await.status, 202);
    let after = user_item(app, user).await;
    (path, change(sequence, &before, &after))
}

/// Creates an end user and deletes it, asserting 202; returns its path.
async fn delete_a_new_user(app: &TestApp) -> String {
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", id(&user));
    assert_eq!(app.delete(&path).await.status, 202);
    path
}

async fn linked_user(app: &TestApp, provider: &str, external_id: &str) -> Value {
    let user = app.create_user(json!({"email": "gone@example.com"})).await;
    app.post(
        &format!("/v1/users/{}/identities", id(&user)),
        &json!({"identity_provider_id": provider, "external_id": external_id}),
    )
    .await
    .assert_status(201);
    user
}

#[tokio::test]
async fn a_deleted_user_is_purged_once_however_often_the_record_comes() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = linked_user(&app, &provider, "ext-1").await;
    let _other = app.create_user(json!({})).await;
    assert_eq!(relationships(&app).await, "2");
    let (path, record) = delete_recorded(&app, &user, "100").await;
    assert!(
        purge::handle(&app.app.store, std::slice::from_ref(&record))
            .await
            .is_empty()
    );
    app.get(&path).await.assert_error(404, "not_found");
    app.get(&format!("/v1/users/{}/identities", id(&user)))
        .await
        .assert_error(404, "not_found");
    assert_eq!(relationships(&app).await, "1");

    // Streams deliver at least once: the same record again changes nothing.
    assert!(
        purge::handle(&app.app.store, &[record.clone(), record])
            .await
            .is_empty()
    );
    assert_eq!(relationships(&app).await, "1", "decremented once");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 1);
}

#[tokio::test]
async fn a_purged_users_identity_can_be_linked_again() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = linked_user(&app, &provider, "reusable").await;
    let (_, deletion) = delete_recorded(&app, &user, "1").await;

    let newcomer = app.create_user(json!({})).await;
    let path = format!("/v1/users/{}/identities", id(&newcomer));
    let body = json!({"identity_provider_id": provider, "external_id": "reusable"});
    app.post(&path, &body)
        .await
        .assert_error(409, "identity_already_linked");
    assert!(purge::handle(&app.app.store, &[deletion]).await.is_empty());
    app.post(&path, &body).await.assert_status(201);
}

#[tokio::test]
async fn other_changes_are_ignored() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let item = user_item(&app, &user).await;
    let created = StreamChange {
        event_id: String::new(),
        sequence_number: "1".into(),
        new_image: Some(item.clone()),
        old_image: None,
    };
    let patched = change("2", &item, &item);
    let removed = StreamChange {
        event_id: String::new(),
        sequence_number: "3".into(),
        new_image: None,
        old_image: Some(item),
    };
    assert!(
        purge::handle(&app.app.store, &[created, patched, removed])
            .await
            .is_empty()
    );
    assert_eq!(
        app.get(&format!("/v1/end-users/{}", id(&user)))
            .await
            .status,
        200
    );
    assert_eq!(relationships(&app).await, "1");
}

#[tokio::test]
async fn a_failing_purge_reports_its_record_for_retry() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let (_, seven) = delete_recorded(&app, &user, "7").await;
    let once = aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(1);
    let config = app.dynamodb_config().endpoint_url("http://127.0.0.1:9");
    let unreachable =
        tether::store::Store::from_builder(config.retry_config(once), app.app.store.table());
    let eight = StreamChange {
        sequence_number: "8".into(),
        ..seven.clone()
    };
    let records = [seven, eight];
    assert_eq!(
        purge::handle(&unreachable, &records).await,
        vec!["7".to_owned()],
        "the first failure stops the batch"
    );
    assert_eq!(relationships(&app).await, "1", "nothing partial");
}

#[tokio::test]
async fn the_sample_event_is_a_deletion_the_handler_recognises() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/purge-end-user.json"
    ))
    .unwrap();
    let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&text).unwrap();
    let changes = StreamChange::from_event(event);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].sequence_number, "111100000000012345678901");
    // Against an empty table it is a no-op success (the user is already gone).
    let app = spawn_app().await;
    assert!(purge::handle(&app.app.store, &changes).await.is_empty());
}

#[tokio::test]
async fn the_local_poller_purges_from_dynamodb_locals_stream() {
    let app = spawn_app_following_stream().await;
    let mut poller = app.follow_stream(&[purge::handler]).await;
    let path = delete_a_new_user(&app).await;
    let started = Instant::now();
    while app.get(&path).await.status != 404 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not purged within 10 s"
        );
        poller.poll_once(&app.followers()).await.expect("poll");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(relationships(&app).await, "0");
}

/// A stream description that fails (a Streams call timing out on a busy
/// emulator did) does not stop the poll: the shards already known are read.
#[tokio::test]
async fn a_failed_stream_description_still_reads_the_known_shards() {
    let app = spawn_app_following_stream().await;
    let faults = FailingCalls::of("DescribeStream");
    let http = faults.wrap(aws_smithy_http_client::Builder::new().build_http());
    let mut poller = tether::stream::local::Poller::start(
        &app.app.store,
        tether_tests::streams_client_through(Some(http)),
        &[purge::handler],
    )
    .await
    .expect("the table has a stream");
    faults.arm();
    let path = delete_a_new_user(&app).await;
    poll_until_gone(&mut poller, &app, &[path], Duration::from_secs(30)).await;
    assert!(
        faults.failed.load(Ordering::SeqCst) > 0,
        "no description failed"
    );
    assert_eq!(relationships(&app).await, "0");
}

/// Polls until every path answers 404, within `limit`.
async fn poll_until_gone(
    poller: &mut tether::stream::local::Poller,
    app: &TestApp,
    paths: &[String],
    limit: Duration,
) {
    let started = Instant::now();
    for path in paths {
        while app.get(path).await.status != 404 {
            assert!(
                started.elapsed() < limit,
                "{path} not purged within {limit:?}"
            );
            poller.poll_once(&app.followers()).await.expect("poll");
        }
    }
}

/// The worker never loses its place: hundreds of stream records, and
/// iterators lost (expired) halfway, every deleted user is purged.
#[tokio::test]
async fn the_local_poller_keeps_its_place_through_hundreds_of_records_and_lost_iterators() {
    let app = spawn_app_following_stream().await;
    let mut poller = app.follow_stream(&[purge::handler]).await;
    let mut paths = Vec::new();
    for round in 0..2 {
        let mut round_paths = Vec::new();
        for _ in 0..60 {
            let user = app.create_user(json!({})).await;
            round_paths.push(format!("/v1/end-users/{}", id(&user)));
        }
        for path in &round_paths {
            assert_eq!(app.delete(path).await.status, 202);
        }
        poll_until_gone(&mut poller, &app, &round_paths, Duration::from_secs(60)).await;
        paths.extend(round_paths);
        if round == 0 {
            poller.lose_iterators();
        }
    }
    assert!(poller.stats().records >= 240, "{:?}", poller.stats());
    assert!(poller.stats().reacquired >= 1, "{:?}", poller.stats());
    assert_eq!(relationships(&app).await, "0");
}

/// A batch that keeps failing is retried a bounded number of times, then
/// passed over (logged) so the records after it are purged; `purge retry`
/// re-drives the user left in `deleting`.
#[tokio::test]
async fn a_batch_that_keeps_failing_is_passed_over_and_purge_retry_re_drives_it() {
    let app = spawn_app_following_stream().await;
    // A purge that cannot succeed: its store names a table that is not there.
    let broken = tether::store::Store::new(app.app.store.client().clone(), "no-such-table");
    let mut poller = app.follow_stream(&[purge::handler]).await;
    let stuck_path = delete_a_new_user(&app).await;
    let started = Instant::now();
    while poller.stats().given_up == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            poller.stats()
        );
        poller
            .poll_once(&tether::stream::Followers::from(broken.clone()))
            .await
            .expect("poll");
    }
    // The worker moved on: a later deletion is purged; the first stays deleting.
    let next_path = delete_a_new_user(&app).await;
    poll_until_gone(&mut poller, &app, &[next_path], Duration::from_secs(20)).await;
    assert_eq!(app.get(&stuck_path).await.body["status"], "deleting");
    // The operator re-drives it.
    let report = purge::retry(&app.app.store, app.org_id, None)
        .await
        .unwrap();
    assert_eq!(report.removed.len(), 1, "{report:?}");
    assert!(report.failed.is_empty());
    assert_eq!(app.get(&stuck_path).await.status, 404);
    assert_eq!(relationships(&app).await, "0");
}

#[tokio::test]
async fn a_purge_uncounts_the_shard_its_user_was_counted_in() {
    let app = tether_tests::TestAppBuilder {
        plan: tether::organizations::Plan::Pro,
        ..tether_tests::TestAppBuilder::default()
    }
    .spawn()
    .await;
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(app.create_user(json!({})).await);
    }
    let mut counted_outside = None;
    for user in &users {
        let item = user_item(&app, user).await;
        if let Some(k) = item.get("count_shard") {
            counted_outside = Some((user.clone(), k.as_n().unwrap().parse::<u32>().unwrap()));
        }
    }
    // Ten shards: six users all in the organization item has odds of 1e-6.
    let (user, k) = counted_outside.expect("a user counted in a shard item");
    let shard_active = |counts: &tether::relationships::Counts| {
        counts.shards.iter().find(|s| s.k == k).unwrap().active
    };
    let read = || tether::relationships::read(&app.app.store, app.org_id);
    let before_counts = read().await.unwrap().unwrap();
    assert_eq!(before_counts.total(), 6);

    let (_, record) = delete_recorded(&app, &user, "7").await;
    assert!(
        purge::handle(&app.app.store, &[record.clone(), record])
            .await
            .is_empty()
    );
    let after_counts = read().await.unwrap().unwrap();
    assert_eq!(after_counts.total(), 5, "decremented once");
    assert_eq!(
        shard_active(&after_counts),
        shard_active(&before_counts) - 1
    );
}
