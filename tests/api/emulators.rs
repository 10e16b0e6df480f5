//! What the suite relies on from the DynamoDB it runs on, checked on both
//! emulators: neither an emulator's upgrade nor our patch of moto
//! (scripts/moto_server.py, which undoes cancelled transactions itself) can
//! change it unseen.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use tether_tests::spawn_app_following_stream;

fn key(pk: &str) -> [(String, AttributeValue); 2] {
    [
        ("PK".to_owned(), AttributeValue::S(pk.to_owned())),
        ("SK".to_owned(), AttributeValue::S("EMULATOR".to_owned())),
    ]
}

/// A transaction cancelled by its last item leaves nothing of the items
/// before it — not the update, not the new item, not a stream record.
#[tokio::test]
async fn a_cancelled_transaction_leaves_no_write_and_no_stream_record() {
    let app = spawn_app_following_stream().await;
    let (client, table) = (app.app.store.client(), app.app.store.table());
    let mut poller =
        tether::stream::local::Poller::start(&app.app.store, tether_tests::streams_client(), &[])
            .await
            .expect("the table has a stream");
    let put = |pk: &str| {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(
                key(pk)
                    .into_iter()
                    .chain([("v".to_owned(), AttributeValue::N("1".into()))])
                    .collect(),
            ))
            .send()
    };
    put("EMU#a").await.expect("put a");
    let cancelled = client
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(table)
                        .set_key(Some(key("EMU#a").into_iter().collect()))
                        .update_expression("SET v = :two")
                        .expression_attribute_values(":two", AttributeValue::N("2".into()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(key("EMU#b").into_iter().collect()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(table)
                        .set_key(Some(key("EMU#c").into_iter().collect()))
                        .condition_expression("attribute_exists(PK)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await;
    let refused = cancelled.expect_err("the condition check fails");
    assert!(
        refused
            .as_service_error()
            .is_some_and(|e| e.is_transaction_canceled_exception()),
        "{refused:?}"
    );
    put("EMU#c").await.expect("put c");

    let read = |pk: &'static str| async move {
        client
            .get_item()
            .table_name(table)
            .set_key(Some(key(pk).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .expect("get")
            .item
    };
    let a = read("EMU#a").await.expect("a is still there");
    assert_eq!(
        a["v"],
        AttributeValue::N("1".into()),
        "the update was undone"
    );
    assert!(read("EMU#b").await.is_none(), "the put was undone");
    assert!(read("EMU#c").await.is_some());

    // Exactly the two puts' records: none for the cancelled items.
    let started = Instant::now();
    while poller.stats().records < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            poller.stats()
        );
        poller.poll_once(&app.followers()).await.expect("poll");
    }
    poller.poll_once(&app.followers()).await.expect("poll");
    assert_eq!(poller.stats().records, 2, "{:?}", poller.stats());
}

/// A moto server as PyPI ships its newest release — none of our patches
/// (`MOTO=stock scripts/moto.sh`) — stopped when dropped.
struct StockMoto {
    pid: String,
    url: String,
}

impl StockMoto {
    fn start() -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = std::process::Command::new(root.join("scripts/moto.sh"))
            .env("MOTO", "stock")
            .output()
            .expect("run scripts/moto.sh");
        assert!(
            out.status.success(),
            "MOTO=stock scripts/moto.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8(out.stdout).expect("PID PORT");
        let (pid, port) = printed.trim().split_once(' ').expect("PID PORT");
        Self {
            pid: pid.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for StockMoto {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}

/// `make dev`'s stream worker on moto as PyPI ships it: when moto undoes a
/// cancelled transaction it replaces the table's stream, and an iterator of
/// the old one reads nothing ever again. The worker re-acquires a silent
/// shard's iterator after the last record it handled, so purges and events
/// go on after a cancelled transaction (here: one identity linked to a
/// second user).
#[tokio::test]
async fn the_stream_worker_follows_stock_moto_past_a_cancelled_transaction() {
    use serde_json::json;
    use tether_tests::id;
    let moto = StockMoto::start();
    let app = tether_tests::TestAppBuilder {
        stream: true,
        dynamodb: Some(moto.url.clone()),
        ..tether_tests::TestAppBuilder::default()
    }
    .spawn()
    .await;
    let mut poller = tether::stream::local::Poller::start(
        &app.app.store,
        tether_tests::streams_client_at(&moto.url, None),
        &[tether::purge::handler, tether::publisher::handler],
    )
    .await
    .expect("the table has a stream")
    .quiet_after(Duration::from_millis(300));
    let purge = |user: serde_json::Value| {
        let app = &app;
        async move {
            let path = format!("/v1/end-users/{}", id(&user));
            assert_eq!(app.delete(&path).await.status, 202);
            path
        }
    };
    let until_purged = async |path: &str, poller: &mut tether::stream::local::Poller| -> bool {
        let started = Instant::now();
        loop {
            poller.poll_once(&app.followers()).await.expect("poll");
            if app.get(path).await.status == 404 {
                return true;
            }
            if started.elapsed() > Duration::from_secs(15) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let first = app.create_user(json!({"email": "first@example.com"})).await;
    let path = purge(first).await;
    assert!(until_purged(&path, &mut poller).await, "the first purge");
    // A transaction moto cancels: the pair already belongs to another user.
    let provider = app.create_provider_id().await;
    let (owner, other) = (
        app.create_user(json!({})).await,
        app.create_user(json!({"email": "other@example.com"})).await,
    );
    let pair = json!({"identity_provider_id": provider, "external_id": "shared"});
    let link = |user: &serde_json::Value| format!("/v1/users/{}/identities", id(user));
    assert_eq!(app.post(&link(&owner), &pair).await.status, 201);
    app.post(&link(&other), &pair)
        .await
        .assert_error(409, "identity_already_linked");
    // Every later change still reaches the worker.
    let path = purge(other.clone()).await;
    assert!(
        until_purged(&path, &mut poller).await,
        "purged after moto replaced its stream ({:?})",
        poller.stats()
    );
    // And its purge's own record becomes an event.
    let started = Instant::now();
    loop {
        poller.poll_once(&app.followers()).await.expect("poll");
        let events = app.get("/v1/events?types=end_user.purged&limit=100").await;
        let published = events
            .data()
            .iter()
            .any(|e| e["data"]["object"]["id"] == other["id"]);
        if published {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the purge's event published: {}",
            events.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
