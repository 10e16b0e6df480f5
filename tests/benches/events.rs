//! What publishing events costs (issue 18, `docs/events.md`): DynamoDB calls
//! and capacity per event when `publish-events` handles a batch of stream
//! records, and per page of `GET /v1/events`. Runs in process against
//! DynamoDB Local's real stream:
//!
//! ```sh
//! make bench-events
//! ```

use serde_json::json;
use std::time::Instant;
use tether::clock::Clock;
use tether_tests::spawn_app;

const USERS: usize = 200;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let app = spawn_app().await;
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
}
