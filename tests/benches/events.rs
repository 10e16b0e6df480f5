//! What publishing events costs (`docs/events.md`): DynamoDB calls
//! and capacity per event when `publish-events` handles a batch of stream
//! records, and per page of `GET /v1/events`; what a webhook delivery costs;
//! and the delay from a change to its webhook at a receiver, through the
//! local workers `make dev` runs (stream poller every 500 ms, SQS consumer).
//! Runs in process against DynamoDB Local's real stream and moto's SQS:
//!
//! ```sh
//! make bench-events
//! ```

use serde_json::json;
use std::time::Instant;
use tether::clock::Clock;
use tether_tests::spawn_app_following_stream;

const USERS: usize = 200;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let app = spawn_app_following_stream().await;
    for n in 0..USERS {
        app.create_user(
            json!({"email": format!("u{n}@example.com"), "external_id": format!("x{n}")}),
        )
        .await;
    }
    // The end users' creations: one `end_user.created` each.
    let changes: Vec<_> = tether_tests::stream_changes(&app)
        .await
        .into_iter()
        .filter(|c| {
            c.old_image.is_none()
                && c.new_image
                    .as_ref()
                    .and_then(|i| tether::store::get_s(i, "SK"))
                    .is_some_and(|sk| sk.starts_with("USER#"))
        })
        .collect();
    let store = &app.app.store;
    println!(
        "| step | records | events | DynamoDB calls | capacity units | per event: calls / units | ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for batch in [1usize, 10, 45, 100] {
        // Fresh events each round: the log of another organization's copy
        // is not needed, so re-derive under new record ids.
        let records: Vec<_> = changes
            .iter()
            .take(batch)
            .cloned()
            .map(|mut c| {
                c.event_id = format!("{}-{batch}", c.event_id);
                c
            })
            .collect();
        let before = store.call_totals();
        let started = Instant::now();
        let failed = tether::events::handle(store, &records, app.clock.now()).await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        assert!(failed.is_empty());
        let spent = store.call_totals().since(&before);
        let events = records.len();
        println!(
            "| publish a batch | {} | {events} | {} | {:.1} | {:.2} / {:.2} | {took:.1} |",
            records.len(),
            spent.calls,
            spent.capacity_units,
            spent.calls as f64 / events as f64,
            spent.capacity_units / events as f64,
        );
    }
    let before = store.call_totals();
    let started = Instant::now();
    let page = app.get("/v1/events?limit=100").await;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let spent = store.call_totals().since(&before);
    let count = page.body["data"].as_array().map_or(0, Vec::len);
    println!(
        "| GET /v1/events?limit=100 (limiter included) | – | {count} | {} | {:.1} | {:.2} / {:.2} | {took:.1} |",
        spent.calls,
        spent.capacity_units,
        spent.calls as f64 / count as f64,
        spent.capacity_units / count as f64,
    );
    deliveries().await;
}

/// Per-delivery cost, and change → webhook delay through the local workers.
async fn deliveries() {
    use std::time::Duration;
    use tether_tests::receiver::Receiver;
    const CHANGES: usize = 100;
    let app = spawn_app_following_stream().await;
    let receiver = Receiver::start(&[]).await;
    let hook = app
        .post("/v1/webhook-endpoints", &json!({"url": receiver.url}))
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let poller = tether::stream::local::Poller::start(
        &app.app.store,
        tether_tests::streams_client(),
        &[tether::purge::handler, tether::publisher::handler],
    )
    .await
    .expect("stream");
    // The workers' own stores, so their calls are counted apart from the requests'.
    let worker_store =
        || tether::store::Store::new(app.app.store.client().clone(), app.app.store.table());
    let mut followers = app.followers();
    followers.store = worker_store();
    let mut deliverer = app.deliverer();
    deliverer.store = worker_store();
    let (publisher_stats, deliverer_stats) = (followers.store.clone(), deliverer.store.clone());
    tokio::spawn(async move { poller.run(&followers, Duration::from_millis(500)).await });
    tokio::spawn(async move { deliverer.run_local().await });
    // Changes spaced 100 ms apart; each one's delay runs from its response.
    let mut committed = std::collections::HashMap::new();
    for n in 0..CHANGES {
        let user = app
            .create_user(json!({"email": format!("d{n}@example.com")}))
            .await;
        committed.insert(user["id"].as_str().unwrap().to_owned(), Instant::now());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    while receiver.received().len() < CHANGES && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver.received();
    let mut delays: Vec<f64> = got
        .iter()
        .filter_map(|r| {
            let id = r.json()["data"]["object"]["id"].as_str()?.to_owned();
            Some(r.at.duration_since(*committed.get(&id)?).as_secs_f64() * 1000.0)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| delays[((delays.len() as f64 - 1.0) * q).round() as usize];
    let (published, delivered) = (publisher_stats.call_totals(), deliverer_stats.call_totals());
    let per_event = |calls: u64| calls as f64 / CHANGES as f64;
    println!();
    println!(
        "| deliveries | received | DynamoDB calls per event: publish-events (incl. fan-out) / deliver-webhooks | capacity units per event: publish / deliver | delay p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {CHANGES} changes, 1 endpoint, spaced 100 ms | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} | {:.0} | {:.0} |",
        delays.len(),
        per_event(published.calls),
        per_event(delivered.calls),
        published.capacity_units / CHANGES as f64,
        delivered.capacity_units / CHANGES as f64,
        at(0.5),
        at(0.99),
        at(1.0),
    );
}
