//! Webhook deliveries (SPEC §15), end to end on real counterparts: a change
//! goes through the emulator's stream to `publish-events` (events, then the
//! fan-out of the log's inserts), through moto's SQS to `deliver-webhooks`,
//! and arrives at a receiver on loopback, where the Standard Webhooks
//! reference library (not ours) verifies it. Backoff, giving up and
//! disabling run on the injected clock.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tether::clock::Clock;
use tether::deliveries::{self, Job, SCHEDULE};
use tether::ids::{WebhookDeliveryId, WebhookEndpointId};
use tether::stream::local::Poller;
use tether_tests::receiver::{Received, Receiver};
use tether_tests::{As, TestApp, id, spawn_app, spawn_app_following_stream};

/// The stream functions and the delivery worker of one test's world.
struct Workers {
    poller: Poller,
    deliverer: deliveries::Deliverer,
}

impl Workers {
    async fn start(app: &TestApp) -> Self {
        let poller = app
            .follow_stream(&[tether::purge::handler, tether::publisher::handler])
            .await;
        Self {
            poller,
            deliverer: app.deliverer(),
        }
    }

    /// Follows the stream (events, then their fan-out) and delivers what is
    /// due, until `receiver` holds `count` deliveries or 15 s pass.
    async fn deliver(&mut self, app: &TestApp, receiver: &Receiver, count: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            self.poller.poll_once(&app.followers()).await.expect("poll");
            self.work(app).await;
            let got = receiver.received();
            if got.len() >= count || started.elapsed() > Duration::from_secs(15) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One round of the local SQS consumer ([`work_the_queue`]).
    async fn work(&self, app: &TestApp) -> usize {
        work_the_queue(app, &self.deliverer).await
    }

    /// The delivery worker's attempt of `job`, as the SQS message `message`:
    /// the wait before the next attempt, if any.
    async fn attempt(&self, job: &Job, message: &str) -> Option<Duration> {
        deliveries::attempt::attempt(&self.deliverer, job, message)
            .await
            .expect("attempt")
    }
}

/// One round of the local SQS consumer: receive, attempt with `deliverer`,
/// delete what needs nothing more. Returns how many messages it handled.
async fn work_the_queue(app: &TestApp, deliverer: &deliveries::Deliverer) -> usize {
    let queue = app.queue();
    let messages = queue.receive(Duration::ZERO).await.expect("receive");
    let again = deliveries::process(deliverer, &messages).await;
    for message in messages.iter().filter(|m| !again.contains(&m.id)) {
        queue.delete(&message.receipt).await.expect("delete");
    }
    messages.len()
}

/// A world whose one endpoint (`hook`) has a receiver answering `statuses`
/// in turn, with its workers and the job of the delivery of its first end
/// user's creation, taken off the queue to be attempted by hand.
async fn first_delivery(statuses: &[u16]) -> (TestApp, Receiver, Value, Workers, Job) {
    let app = spawn_app_following_stream().await;
    let receiver = Receiver::start(statuses).await;
    let (hook, _) = endpoint(&app, json!({"url": receiver.url})).await;
    let mut workers = Workers::start(&app).await;
    app.create_user(json!({})).await;
    let job = first_job(&app, &mut workers, &hook).await;
    (app, receiver, hook, workers, job)
}

/// The path of the endpoint `hook`'s test (a ping).
fn ping_path(hook: &Value) -> String {
    format!("/v1/webhook-endpoints/{}/test", id(hook))
}

async fn endpoint(app: &TestApp, body: Value) -> (Value, String) {
    let res = app
        .post("/v1/webhook-endpoints", &body)
        .await
        .assert_status(201);
    let secret = res.body["secret"].as_str().unwrap().to_owned();
    (res.body, secret)
}

async fn deliveries_of(app: &TestApp, endpoint: &Value) -> Vec<Value> {
    let res = app
        .get(&format!(
            "/v1/webhook-endpoints/{}/deliveries",
            id(endpoint)
        ))
        .await
        .assert_status(200);
    res.data().clone()
}

#[tokio::test]
async fn a_change_arrives_signed_as_the_event_and_the_reference_library_verifies_it() {
    let app = spawn_app_following_stream().await;
    let receiver = Receiver::start(&[]).await;
    let (hook, secret) = endpoint(&app, json!({"url": receiver.url})).await;
    let mut workers = Workers::start(&app).await;
    let user = app
        .create_user(json!({"email": "ada@example.com", "display_name": "Ada"}))
        .await;
    let got = workers.deliver(&app, &receiver, 1).await;
    assert_eq!(got.len(), 1, "one delivery");
    let delivery = &got[0];
    assert!(delivery.verifies(&secret), "{:?}", delivery.headers);
    let body = delivery.json();
    assert_eq!(body["type"], "end_user.created");
    assert_eq!(body["data"]["object"]["id"], user["id"]);
    assert_eq!(delivery.headers["webhook-id"], body["id"].as_str().unwrap());
    // The body is the event exactly as GET /v1/events serves it.
    let events = app.get("/v1/events").await;
    let logged = events
        .data()
        .iter()
        .find(|e| e["id"] == body["id"])
        .cloned();
    assert_eq!(logged, Some(body.clone()));
    // No secret of any kind rides along.
    let text = String::from_utf8_lossy(&delivery.body).to_string();
    for prefix in ["whsec_", "tk_", "tst_", "tct_"] {
        assert!(!text.contains(prefix), "{prefix} in {text}");
    }
    // The delivery log shows it, succeeded at the first attempt.
    let log = deliveries_of(&app, &hook).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["event_id"], body["id"]);
    assert_eq!(log[0]["attempts"][0]["status_code"], 200);
    assert_eq!(log[0]["next_attempt_at"], Value::Null);
    assert_eq!(workers.work(&app).await, 0, "nothing left on the queue");
}

#[tokio::test]
async fn a_receiver_that_fails_then_succeeds_gets_the_same_webhook_id_after_the_first_backoff() {
    let app = spawn_app_following_stream().await;
    let receiver = Receiver::start(&[500]).await;
    let (hook, secret) = endpoint(&app, json!({"url": receiver.url})).await;
    let mut workers = Workers::start(&app).await;
    app.create_user(json!({})).await;
    let first = workers.deliver(&app, &receiver, 1).await;
    assert_eq!(first.len(), 1);
    let log = deliveries_of(&app, &hook).await;
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["attempts"][0]["status_code"], 500);
    let due = time::OffsetDateTime::parse(
        log[0]["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = due - app.clock.now();
    assert!(
        wait > time::Duration::seconds(4) && wait <= time::Duration::seconds(5),
        "the first step is 5 s: {wait}"
    );
    // SQS hides the message for the backoff: not received again at once.
    assert_eq!(workers.work(&app).await, 0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let both = workers.deliver(&app, &receiver, 2).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].headers["webhook-id"], both[1].headers["webhook-id"]);
    assert!(both[1].verifies(&secret));
    let log = deliveries_of(&app, &hook).await;
    assert_eq!(log[0]["status"], "succeeded");
    let codes: Vec<&Value> = log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(200)]);
}

/// A job for the endpoint's delivery of its organization's first event.
async fn first_job(app: &TestApp, workers: &mut Workers, hook: &Value) -> Job {
    let started = Instant::now();
    loop {
        workers
            .poller
            .poll_once(&app.followers())
            .await
            .expect("poll");
        let messages = app.queue().receive(Duration::ZERO).await.expect("receive");
        if let Some(message) = messages.first() {
            let job: Job = serde_json::from_str(&message.body).unwrap();
            assert_eq!(job.endpoint.to_string(), id(hook));
            app.queue().delete(&message.receipt).await.unwrap();
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no job was sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failures_back_off_on_the_schedule_for_over_24_hours_then_the_delivery_fails() {
    let (app, receiver, hook, workers, job) = first_delivery(&[503; 8]).await;
    let started = app.clock.now();
    // The same message, received again each time its visibility ends.
    let mut waits = Vec::new();
    while let Some(wait) = workers.attempt(&job, "message-1").await {
        waits.push(wait);
        app.clock.advance(time::Duration::seconds(
            i64::try_from(wait.as_secs()).unwrap(),
        ));
    }
    assert_eq!(waits, SCHEDULE, "5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h");
    assert!(app.clock.now() - started >= time::Duration::hours(24));
    assert_eq!(receiver.received().len(), 8, "eight attempts");
    let ids: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "one webhook-id on every attempt");
    let log = deliveries_of(&app, &hook).await;
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 8);
    assert_eq!(log[0]["next_attempt_at"], Value::Null);
    // A duplicate message of the same delivery (a redelivered stream batch) does nothing.
    assert_eq!(workers.attempt(&job, "message-2").await, None);
    assert_eq!(receiver.received().len(), 8);
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_by_the_system_and_re_enabled_by_a_patch() {
    let (app, receiver, hook, mut workers, job) = first_delivery(&[500; 3]).await;
    // A failure starts the clock; a success stops it.
    let attempt = |message: &'static str| workers.attempt(&job, message);
    assert!(attempt("m").await.is_some());
    app.clock.advance(time::Duration::days(4));
    assert!(attempt("m").await.is_some(), "4 days: still enabled");
    app.clock
        .advance(time::Duration::days(1) + time::Duration::seconds(1));
    assert_eq!(
        attempt("m").await,
        None,
        "5 days: disabled, the delivery failed"
    );
    let got = app
        .get(&format!("/v1/webhook-endpoints/{}", id(&hook)))
        .await;
    assert_eq!(got.body["status"], "disabled");
    // Its event says so, made by the system.
    let started = Instant::now();
    let disabled = loop {
        workers.poller.poll_once(&app.followers()).await.unwrap();
        let events = app.get("/v1/events?types=webhook_endpoint.disabled").await;
        if let Some(event) = events.data().first() {
            break event.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no disabled event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(disabled["actor"]["type"], "system");
    assert_eq!(disabled["data"]["object"]["id"], hook["id"]);
    // A disabled endpoint gets no new deliveries.
    app.create_user(json!({})).await;
    for _ in 0..10 {
        workers.poller.poll_once(&app.followers()).await.unwrap();
    }
    let left = app.queue().receive(Duration::ZERO).await.unwrap();
    assert!(
        left.is_empty(),
        "nothing sent to a disabled endpoint: {left:?}"
    );
    // Re-enabled, it receives again (the receiver now answers 200).
    let patched = app
        .patch(
            &format!("/v1/webhook-endpoints/{}", id(&hook)),
            &json!({"status": "enabled"}),
        )
        .await;
    assert_eq!(patched.body["status"], "enabled", "{}", patched.text);
    let before = receiver.received().len();
    app.create_user(json!({})).await;
    // Its re-enabling (webhook_endpoint.updated) and the new user both arrive.
    let got = workers.deliver(&app, &receiver, before + 2).await;
    let types: Vec<Value> = got[before..]
        .iter()
        .map(|r| r.json()["type"].clone())
        .collect();
    assert!(types.contains(&json!("end_user.created")), "{types:?}");
    assert!(
        types.contains(&json!("webhook_endpoint.updated")),
        "{types:?}"
    );
}

#[tokio::test]
async fn a_success_resets_the_failure_clock() {
    let (app, _receiver, hook, workers, job) = first_delivery(&[500, 200, 500]).await;
    assert!(workers.attempt(&job, "m").await.is_some());
    app.clock.advance(time::Duration::days(4));
    assert_eq!(workers.attempt(&job, "m").await, None);
    // Another delivery fails two days later: 6 days after the first
    // failure, but only the first failure since the success.
    let ping = app.post_empty(&ping_path(&hook)).await;
    app.clock.advance(time::Duration::days(2));
    let job = Job {
        org: app.org_id,
        endpoint: WebhookEndpointId::parse(id(&hook)).unwrap(),
        delivery: WebhookDeliveryId::parse(id(&ping.body)).unwrap(),
        seq: None,
        manual: false,
    };
    assert!(workers.attempt(&job, "p").await.is_some());
    let got = app
        .get(&format!("/v1/webhook-endpoints/{}", id(&hook)))
        .await;
    assert_eq!(got.body["status"], "enabled");
}

#[tokio::test]
async fn a_ping_is_delivered_logged_and_retried_by_hand() {
    let app = spawn_app_following_stream().await;
    let receiver = Receiver::start(&[500]).await;
    // Subscribed to another type: a ping goes all the same.
    let (hook, secret) = endpoint(
        &app,
        json!({"url": receiver.url, "event_types": ["identity.linked"]}),
    )
    .await;
    let workers = Workers::start(&app).await;
    let ping = app.post_empty(&ping_path(&hook)).await.assert_status(202);
    assert_eq!(ping.body["event_type"], "ping");
    assert_eq!(ping.body["status"], "pending");
    while workers.work(&app).await == 0 {}
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].verifies(&secret));
    let body = got[0].json();
    assert_eq!(body["type"], "ping");
    assert_eq!(body["data"]["object"]["id"], hook["id"]);
    assert_eq!(body["actor"]["type"], "api_key");
    // The 500 left it pending for 5 s; a retry by hand attempts it now.
    let path = format!(
        "/v1/webhook-endpoints/{}/deliveries/{}/retry",
        id(&hook),
        id(&ping.body)
    );
    app.post_empty(&path).await.assert_status(202);
    let started = Instant::now();
    while receiver.received().len() < 2 {
        workers.work(&app).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the retry was not sent"
        );
    }
    let got = receiver.received();
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    let log = deliveries_of(&app, &hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 2);
    // The original message, shown again after its backoff, finds the
    // delivery done and sends nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    workers.work(&app).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn deliveries_follow_the_endpoints_event_types() {
    let app = spawn_app_following_stream().await;
    let (all, only_deleted) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    endpoint(&app, json!({"url": all.url})).await;
    endpoint(
        &app,
        json!({"url": only_deleted.url, "event_types": ["end_user.deleted"]}),
    )
    .await;
    let mut workers = Workers::start(&app).await;
    let user = app.create_user(json!({})).await;
    assert_eq!(
        app.delete(&format!("/v1/end-users/{}", id(&user)))
            .await
            .status,
        202
    );
    let got = workers.deliver(&app, &only_deleted, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "end_user.deleted");
    let everything = workers.deliver(&app, &all, 3).await;
    let types: Vec<String> = everything
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["end_user.created", "end_user.deleted", "end_user.purged"] {
        assert!(
            types.iter().any(|t| t == kind),
            "{kind} missing from {types:?}"
        );
    }
    assert_eq!(only_deleted.received().len(), 1);
}

#[tokio::test]
async fn a_delivery_still_queued_at_a_purge_carries_the_redacted_event() {
    let app = spawn_app_following_stream().await;
    let receiver = Receiver::start(&[]).await;
    let (hook, _) = endpoint(
        &app,
        json!({"url": receiver.url, "event_types": ["end_user.created"]}),
    )
    .await;
    let mut workers = Workers::start(&app).await;
    let user = app
        .create_user(json!({"email": "grace@example.com", "display_name": "Grace"}))
        .await;
    // Its delivery is queued, not yet attempted, when the user is purged.
    let job = first_job(&app, &mut workers, &hook).await;
    assert_eq!(
        app.delete(&format!("/v1/end-users/{}", id(&user)))
            .await
            .status,
        202
    );
    let started = Instant::now();
    loop {
        workers.poller.poll_once(&app.followers()).await.unwrap();
        let purged = app.get("/v1/events?types=end_user.purged").await;
        if !purged.data().is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "not purged");
    }
    deliveries::attempt::attempt(&workers.deliverer, &job, "m")
        .await
        .unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0].body).to_string();
    assert!(
        !text.contains("grace@example.com") && !text.contains("Grace"),
        "{text}"
    );
    assert_eq!(got[0].json()["data"]["object"]["email"], Value::Null);
}

#[tokio::test]
async fn delivery_endpoints_refuse_bad_ids_other_organizations_and_read_keys() {
    let app = spawn_app().await;
    let (hook, _) = endpoint(&app, json!({"url": "http://127.0.0.1:9/hook"})).await;
    let ping = app.post_empty(&ping_path(&hook)).await;
    assert_eq!(ping.status, 202);
    let (_, other_key) = app.create_org("Other").await;
    let paths = [
        ("POST", ping_path(&hook)),
        (
            "GET",
            format!("/v1/webhook-endpoints/{}/deliveries", id(&hook)),
        ),
        (
            "POST",
            format!(
                "/v1/webhook-endpoints/{}/deliveries/{}/retry",
                id(&hook),
                id(&ping.body)
            ),
        ),
    ];
    let read = app.create_read_key().await;
    for (key, status, code) in [
        (&other_key, 404, "not_found"),
        (&read, 403, "insufficient_scope"),
    ] {
        for (method, path) in &paths {
            let body = (*method == "POST").then(|| json!({}));
            let res = app.send_as(method, path, As::Key(key), body.as_ref());
            res.await.assert_error(status, code);
        }
    }
    app.get("/v1/webhook-endpoints/nope/deliveries")
        .await
        .assert_error(400, "invalid_path_parameter");
    app.post_empty(&format!(
        "/v1/webhook-endpoints/{}/deliveries/nope/retry",
        id(&hook)
    ))
    .await
    .assert_error(400, "invalid_path_parameter");
    app.post_empty(&format!(
        "/v1/webhook-endpoints/{}/deliveries/{}/retry",
        id(&hook),
        WebhookDeliveryId::generate()
    ))
    .await
    .assert_error(404, "not_found");
    app.post(&ping_path(&hook), &json!({"x": 1}))
        .await
        .assert_error(422, "validation_failed");
    // A replayed test (same Idempotency-Key) is the same ping, sent once.
    let (ping, nothing) = (ping_path(&hook), json!({}));
    let ping_once = || app.post_once(&ping, "ping-1", &nothing);
    let first = ping_once().await;
    let again = ping_once().await;
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(deliveries_of(&app, &hook).await.len(), 2);
}

/// SPEC §15: one organization's failing fan-out never holds up another's.
/// Organization A's endpoint item is unreadable (a poison item), B's is
/// fine; their events reach the publisher in one stream batch. B's delivery
/// goes out, the batch is not handed back for a retry (which would re-drive
/// every organization in it), and A's fan-out is left on the queue for A
/// alone — delivered once A's item is readable again.
#[tokio::test]
async fn a_failing_organizations_fan_out_is_retried_alone_and_the_others_deliver() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = spawn_app_following_stream().await;
    let (org_b, key_b) = app.create_org("B").await;
    let (receiver_a, receiver_b) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let (hook_a, _) = endpoint(&app, json!({"url": receiver_a.url})).await;
    app.send_as(
        "POST",
        "/v1/webhook-endpoints",
        As::Key(&key_b),
        Some(&json!({"url": receiver_b.url})),
    )
    .await
    .assert_status(201);
    // Poison A's endpoint: its event types are no longer a list.
    let key = |hook: &Value, org: &str| {
        [
            ("PK".to_owned(), AttributeValue::S(format!("ORG#{org}"))),
            (
                "SK".to_owned(),
                AttributeValue::S(format!("WHE#{}", id(hook))),
            ),
        ]
    };
    let set_types = |value: AttributeValue| {
        let app = &app;
        let [pk, sk] = key(&hook_a, &app.org_id.to_string());
        async move {
            app.app
                .store
                .client()
                .update_item()
                .table_name(app.app.store.table())
                .key(pk.0, pk.1)
                .key(sk.0, sk.1)
                .update_expression("SET event_types = :t")
                .expression_attribute_values(":t", value)
                .send()
                .await
                .unwrap();
        }
    };
    set_types(AttributeValue::N("7".into())).await;
    app.create_user(json!({"email": "a@a.example"})).await;
    app.send_as(
        "POST",
        "/v1/end-users",
        As::Key(&key_b),
        Some(&json!({"email": "b@b.example"})),
    )
    .await;
    let followers = app.followers();
    let now = time::OffsetDateTime::now_utc();
    // The changes become events; then the events' inserts, of both
    // organizations in one batch, are fanned out.
    let changes = tether_tests::stream_changes(&app).await;
    assert_eq!(
        tether::publisher::handle(&followers, &changes, now).await,
        Vec::<String>::new()
    );
    let seen: std::collections::HashSet<String> =
        changes.iter().map(|c| c.event_id.clone()).collect();
    let inserts: Vec<_> = tether_tests::stream_changes(&app)
        .await
        .into_iter()
        .filter(|c| !seen.contains(&c.event_id))
        .collect();
    let orgs_in_batch: std::collections::HashSet<String> = inserts
        .iter()
        .filter_map(|c| tether::store::get_s(c.new_image.as_ref()?, "PK").map(str::to_owned))
        .filter(|pk| pk.starts_with("EVENTS#"))
        .collect();
    assert_eq!(
        orgs_in_batch.len(),
        2,
        "both organizations' events in the batch"
    );
    assert_eq!(
        tether::publisher::handle(&followers, &inserts, now).await,
        Vec::<String>::new(),
        "the batch is not handed back for one organization's failure"
    );
    let deliverer = app.deliverer();
    let work = || work_the_queue(&app, &deliverer);
    let types = |got: &[Received]| -> Vec<String> {
        got.iter()
            .map(|d| d.json()["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let has_user = |got: &[Received]| types(got).iter().any(|t| t == "end_user.created");
    let started = Instant::now();
    while !has_user(&receiver_b.received()) && started.elapsed() < Duration::from_secs(10) {
        work().await;
    }
    // Asserts `got` holds an end user's creation, and only `org`'s events.
    let assert_delivered = |got: &[Received], org: String, what: &str| {
        assert!(has_user(got), "{what}: {:?}", types(got));
        assert!(got.iter().all(|d| d.json()["organization_id"] == org));
    };
    let got_b = receiver_b.received();
    assert_delivered(&got_b, org_b.to_string(), "B's deliveries went out");
    assert!(receiver_a.received().is_empty());
    // A's item readable again: A's fan-out, retried for A alone, delivers.
    set_types(AttributeValue::L(Vec::new())).await;
    let started = Instant::now();
    while !has_user(&receiver_a.received()) && started.elapsed() < Duration::from_secs(20) {
        work().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got_a = receiver_a.received();
    let after_retry = "A's deliveries, after their retry";
    assert_delivered(&got_a, app.org_id.to_string(), after_retry);
    assert_eq!(
        receiver_b.received().len(),
        got_b.len(),
        "nothing sent to B twice"
    );
}
