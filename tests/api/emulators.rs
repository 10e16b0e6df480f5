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
