//! Rate limits and quotas (SPEC §3, §6, §7) through the API.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tether::organizations::{LimitOverrides, Plan};
use tether_tests::faults::LostAnswers;
use tether_tests::{TestApp, TestAppBuilder, TestResponse};
use time::macros::datetime;

fn header<'a>(res: &'a TestResponse, name: &str) -> &'a str {
    res.header(name)
        .unwrap_or_else(|| panic!("missing {name}: {:?}", res.headers))
}

/// Asserts each `(name, value)` header of `res`, in order.
fn assert_headers(res: &TestResponse, expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(header(res, name), *value, "{name}");
    }
}

async fn org_with(overrides: LimitOverrides, start: time::OffsetDateTime) -> TestApp {
    TestAppBuilder {
        plan: Plan::Free,
        overrides,
        start_at: Some(start),
        ..TestAppBuilder::default()
    }
    .spawn()
    .await
}

/// When the tests on a manual clock start, unless they need a month's end.
const START: time::OffsetDateTime = datetime!(2026-11-23 14:15:22 UTC);

/// No limit in the way but the bucket's `rate` and `burst`.
fn bucket(rate: u32, burst: u32) -> LimitOverrides {
    LimitOverrides {
        rate_limit: Some(rate),
        burst: Some(burst),
        ..tether_tests::UNLIMITED
    }
}

/// No limit in the way but the sharded bucket's `rate` (burst 1,000) and
/// the turn `ceiling`.
fn sharded_with_ceiling(rate: u32, ceiling: u64) -> LimitOverrides {
    LimitOverrides {
        turn_ceiling: Some(ceiling),
        ..bucket(rate, 1_000)
    }
}

/// An organization on the real clock with `overrides`.
async fn on_the_real_clock(overrides: LimitOverrides) -> TestApp {
    let builder = TestAppBuilder {
        overrides,
        real_clock: true,
        ..TestAppBuilder::default()
    };
    builder.spawn().await
}

/// A world whose per-address bucket is `(rate, burst)`.
async fn with_ip_bucket(source_ip_rate: (u32, u32)) -> TestApp {
    let builder = TestAppBuilder {
        source_ip_rate,
        start_at: Some(START),
        ..TestAppBuilder::default()
    };
    builder.spawn().await
}

/// `GET path` from the address `ip`, presenting the API key `key`, or none.
async fn get_from(app: &TestApp, ip: &str, path: &str, key: Option<&str>) -> TestResponse {
    let request = app.request("GET", path).source_ip(ip);
    let request = match key {
        Some(key) => request.key(key),
        None => request.no_key(),
    };
    request.send().await
}

/// The organization's stored limiter item: its turn period and its turns.
async fn turns_stored(app: &TestApp) -> (String, String) {
    let pk = format!("LIMIT#ORG#{}", app.org_id);
    let item = crate::stored_item(app, &pk, "LIMIT").await.unwrap();
    let period = item["period"].as_s().unwrap().clone();
    (period, item["turns"].as_n().unwrap().clone())
}

#[tokio::test]
async fn headers_carry_the_exact_bucket_state() {
    // The free plan: 10 rps, burst 20, 10,000 turns, 100 relationships.
    let app = org_with(LimitOverrides::default(), START).await;
    let first = app.get("/v1/end-users").await;
    assert_eq!(first.status, 200);
    assert_headers(
        &first,
        &[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "19"),
            ("x-ratelimit-reset", "2026-11-23T14:15:23Z"),
        ],
    );
    assert!(
        first.header("x-quota-turns-used").is_none(),
        "quota headers only on quota refusals"
    );

    for expected_remaining in (0..19).rev() {
        let res = app.get("/v1/end-users").await;
        assert_eq!(res.status, 200);
        assert_eq!(
            header(&res, "x-ratelimit-remaining"),
            expected_remaining.to_string()
        );
    }
    let unknown_user = "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162";
    let last = app.get(unknown_user).await;
    last.assert_error(429, "rate_limited");
    let bucket_and_quotas = [
        ("retry-after", "1"),
        ("x-ratelimit-limit", "10"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "2026-11-23T14:15:24Z"),
        ("x-quota-turns-used", "20"),
        ("x-quota-turns-limit", "10000"),
        ("x-quota-relationships-active", "0"),
        ("x-quota-relationships-limit", "100"),
        ("x-quota-reset", "2026-12-01T00:00:00Z"),
    ];
    assert_headers(&last, &bucket_and_quotas);

    // One second later ten tokens are back; this request takes one. Errors
    // after the limiter carry its headers.
    app.clock.advance(time::Duration::seconds(1));
    let later = app.get(unknown_user).await;
    later.assert_error(404, "not_found");
    assert_headers(
        &later,
        &[
            ("x-ratelimit-remaining", "9"),
            ("x-ratelimit-reset", "2026-11-23T14:15:25Z"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_callers_never_get_more_than_burst_plus_rate_times_elapsed() {
    let app = Arc::new(on_the_real_clock(bucket(5, 10)).await);
    let started = Instant::now();
    let run_for = Duration::from_secs(3);
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut caller = Tally::default();
                while started.elapsed() < run_for {
                    let sent = started.elapsed();
                    let res = app.get("/v1/end-users").await;
                    let answered = started.elapsed();
                    caller.first_answer = caller.first_answer.min(answered);
                    match res.status {
                        200 => caller.admitted += 1,
                        429 => {
                            assert_eq!(res.body["code"], "rate_limited");
                            assert!(res.header("retry-after").is_some());
                            caller.refused += 1;
                            caller.last_refused_sent = caller.last_refused_sent.max(sent);
                        }
                        other => panic!("unexpected {other}: {}", res.text),
                    }
                }
                caller
            })
        })
        .collect();
    let mut all = Tally::default();
    for caller in callers {
        let caller = caller.await.unwrap();
        all.admitted += caller.admitted;
        all.refused += caller.refused;
        all.first_answer = all.first_answer.min(caller.first_answer);
        all.last_refused_sent = all.last_refused_sent.max(caller.last_refused_sent);
    }
    let Tally {
        admitted, refused, ..
    } = all;
    let elapsed = started.elapsed().as_secs_f64();
    let bound = 10.0 + 5.0 * elapsed;
    // Contention must not starve the bucket either. A request refused at its
    // limiter's moment `e` found less than one token: the admissions before it
    // were at least `burst + rate × (e − bucket start) − 1`. `e` is no earlier
    // than the refused request was sent, and the bucket started no later than
    // the first answer arrived — so this floor holds however slow the machine
    // is (a fixed window does not: on a loaded CI runner a request takes over
    // a second, and the last limiter moment falls far before the window's end).
    let refill = (all.last_refused_sent.saturating_sub(all.first_answer)).as_secs_f64();
    let floor = 10.0 + 5.0 * refill - 1.0;
    println!(
        "admitted {admitted}, refused {refused} in {elapsed:.2} s (bound {bound:.1}, floor {floor:.1})"
    );
    assert!(
        f64::from(admitted) <= bound,
        "admitted {admitted} > {bound}"
    );
    assert!(refused > 0, "the load exceeded the rate");
    assert!(
        f64::from(admitted) >= floor.floor(),
        "admitted only {admitted}, floor {floor:.1}"
    );
}

/// One caller's count in the concurrent test, and the two moments its floor
/// is computed from.
struct Tally {
    admitted: u32,
    refused: u32,
    first_answer: Duration,
    last_refused_sent: Duration,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            admitted: 0,
            refused: 0,
            first_answer: Duration::MAX,
            last_refused_sent: Duration::ZERO,
        }
    }
}

#[tokio::test]
async fn a_steady_load_below_the_rate_is_not_under_admitted() {
    let app = on_the_real_clock(bucket(5, 2)).await;
    // 4 requests per second for 3 s, against 5 per second.
    let started = Instant::now();
    let (mut admitted, mut late) = (0, 0);
    for i in 0..12u32 {
        let due = started + Duration::from_millis(250) * i;
        tokio::time::sleep_until(due.into()).await;
        // On a loaded runner an answer can take longer than the schedule's
        // step; the requests after it then go out together, above the rate,
        // and a refusal of one of them is the limiter doing its job.
        let sent_late = Instant::now() > due + Duration::from_millis(100);
        match app.get("/v1/end-users").await.status {
            200 => admitted += 1,
            _ if sent_late => late += 1,
            _ => {}
        }
    }
    assert!(
        admitted + late >= 11,
        "only {admitted} of 12 admitted below the rate ({late} refused when sent late)"
    );
}

#[tokio::test]
async fn repeated_bad_keys_from_one_ip_are_throttled() {
    let app = with_ip_bucket((5, 10)).await;
    let bad = format!("tk_{}", "f".repeat(48));
    let (users, ip) = ("/v1/end-users", "203.0.113.7");
    for i in 0..10 {
        let res = get_from(&app, ip, users, Some(&bad)).await;
        res.assert_error(401, "invalid_credentials");
        assert_eq!(header(&res, "x-ratelimit-limit"), "5");
        assert_eq!(header(&res, "x-ratelimit-remaining"), (9 - i).to_string());
    }
    let throttled = get_from(&app, ip, users, Some(&bad)).await;
    throttled.assert_error(429, "rate_limited");
    assert_eq!(header(&throttled, "retry-after"), "1");
    assert!(
        throttled.header("x-quota-turns-used").is_none(),
        "no organization, no quota to report"
    );
    let missing = get_from(&app, ip, users, None).await;
    missing.assert_error(429, "rate_limited");

    // Another address is unaffected, and a valid key is charged to its organization.
    let other = get_from(&app, "198.51.100.1", users, Some(&bad)).await;
    other.assert_error(401, "invalid_credentials");
    let valid = get_from(&app, ip, users, Some(&app.admin_key)).await;
    assert_eq!(valid.status, 200);

    // Unknown routes are public: charged to the address too.
    let route = get_from(&app, ip, "/nowhere", None).await;
    route.assert_error(429, "rate_limited");
}

#[tokio::test]
async fn a_charge_whose_answer_was_lost_is_not_counted_again_on_retry() {
    // The limiter's first write of each bucket lands in DynamoDB and its answer
    // is lost (a 500 after the commit); the SDK sends the same write again.
    for prefix in ["LIMIT#ORG#", "LIMIT#IP#"] {
        let lost = LostAnswers::of_updates(prefix, 1);
        let app = TestAppBuilder {
            // The free plan: 10 rps, burst 20; the address: 5 rps, burst 10.
            overrides: LimitOverrides::default(),
            source_ip_rate: (5, 10),
            lost_answers: Some(lost.clone()),
            ..TestAppBuilder::default()
        }
        .spawn()
        .await;
        let (first, second, burst) = if prefix == "LIMIT#ORG#" {
            (
                app.get("/v1/end-users").await,
                app.get("/v1/end-users").await,
                20,
            )
        } else {
            let bad = format!("tk_{}", "f".repeat(48));
            let send = || get_from(&app, "203.0.113.9", "/v1/end-users", Some(&bad));
            (send().await, send().await, 10)
        };
        assert_eq!(
            lost.lost.load(Ordering::SeqCst),
            1,
            "{prefix}: one answer lost"
        );
        // The manual clock stands still: each request takes exactly one token.
        for (n, res) in [(1, &first), (2, &second)] {
            assert_eq!(
                header(res, "x-ratelimit-remaining"),
                (burst - n).to_string(),
                "{prefix}: request {n} charged once"
            );
        }
    }
}

#[tokio::test]
async fn turns_run_out_and_come_back_at_the_period_boundary() {
    let overrides = LimitOverrides {
        turn_ceiling: Some(3),
        ..tether_tests::UNLIMITED
    };
    let app = org_with(overrides, datetime!(2026-11-30 23:59:00 UTC)).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/end-users").await.status, 200);
    }
    let out = app.post("/v1/end-users", &json!({})).await;
    out.assert_error(429, "turn_quota_exhausted");
    assert_headers(
        &out,
        &[
            // Until 2026-12-01T00:00:00Z.
            ("retry-after", "60"),
            ("x-quota-turns-used", "3"),
            ("x-quota-turns-limit", "3"),
            ("x-quota-reset", "2026-12-01T00:00:00Z"),
        ],
    );
    assert!(
        header(&out, "x-ratelimit-remaining")
            .parse::<u32>()
            .unwrap()
            > 0,
        "the bucket itself is not empty"
    );
    assert_eq!(
        stored_user_count(&app).await,
        0,
        "the refused POST created nothing"
    );
    let refused_again = app.get("/v1/end-users").await;
    refused_again.assert_error(429, "turn_quota_exhausted");
    assert_eq!(
        header(&refused_again, "x-quota-turns-used"),
        "3",
        "refusals are not turns"
    );

    app.clock.set(datetime!(2026-12-01 00:00:01 UTC));
    app.get("/v1/end-users").await.assert_status(200);
    assert_eq!(turns_stored(&app).await, ("2026-12".into(), "1".into()));
}

async fn relationships_counter(app: &TestApp) -> u64 {
    let org = crate::stored_item(app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    org.get("relationships_active")
        .map_or(0, |v| v.as_n().unwrap().parse().unwrap())
}

async fn stored_user_count(app: &TestApp) -> usize {
    crate::org_items(app, "USER#").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relationship_ceiling_holds_under_twenty_parallel_creates() {
    let overrides = LimitOverrides {
        relationship_ceiling: Some(5),
        ..tether_tests::UNLIMITED
    };
    let app = Arc::new(
        TestAppBuilder {
            overrides,
            ..TestAppBuilder::default()
        }
        .spawn()
        .await,
    );
    let creates: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post("/v1/end-users", &json!({"external_id": format!("p{i}")}))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for create in creates {
        let res = create.await.unwrap();
        match res.status {
            201 => created += 1,
            _ => {
                res.assert_error(403, "relationship_quota_exceeded");
                assert_eq!(header(&res, "x-quota-relationships-active"), "5");
                assert_eq!(header(&res, "x-quota-relationships-limit"), "5");
                assert!(
                    res.header("x-quota-turns-used").is_some()
                        && res.header("x-quota-reset").is_some()
                );
                assert!(res.header("x-ratelimit-limit").is_some());
            }
        }
    }
    assert_eq!(created, 5);
    assert_eq!(relationships_counter(&app).await, 5);
    assert_eq!(
        stored_user_count(&app).await,
        5,
        "no partial write from the refused ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_counter_equals_the_real_count_after_concurrent_creates_and_deletes() {
    let app = Arc::new(tether_tests::spawn_app().await);
    let mut first = Vec::new();
    for _ in 0..6 {
        first.push(
            app.create_user(json!({})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut tasks = Vec::new();
    for id in first.iter().take(4) {
        let (app, path) = (app.clone(), format!("/v1/end-users/{id}"));
        tasks.push(tokio::spawn(async move { app.delete(&path).await.status }));
    }
    for _ in 0..10 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.request("POST", "/v1/end-users").send().await.status
        }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), 201 | 202));
    }
    // Deleting users count until they are purged (SPEC §7): 6 + 10 stored.
    assert_eq!(stored_user_count(&app).await, 16);
    assert_eq!(relationships_counter(&app).await, 16);
}

#[tokio::test]
async fn a_sharded_bucket_still_admits_exactly_its_burst() {
    // 800 rps is split over two items of 400 rps, burst 5 each.
    let app = org_with(bucket(800, 10), START).await;
    let mut admitted = 0;
    for _ in 0..30 {
        let res = app.get("/v1/end-users").await;
        match res.status {
            200 => {
                admitted += 1;
                assert_eq!(header(&res, "x-ratelimit-limit"), "800");
            }
            _ => res.assert_error(429, "rate_limited"),
        }
    }
    assert_eq!(
        admitted, 10,
        "no more than the burst, and no shard left unused"
    );
    let pk = format!("LIMIT#ORG#{}", app.org_id);
    assert!(crate::stored_item(&app, &pk, "LIMIT").await.is_some());
    assert!(
        crate::stored_item(&app, &format!("{pk}#1"), "LIMIT")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_warm_function_refuses_an_empty_source_ip_bucket_without_a_write() {
    let app = with_ip_bucket((1, 1)).await;
    let jwks = || get_from(&app, "203.0.113.9", "/.well-known/jwks.json", None);
    assert_eq!(jwks().await.status, 200);
    jwks().await.assert_error(429, "rate_limited");
    let before = app.app.store.call_totals();
    for _ in 0..5 {
        jwks().await.assert_error(429, "rate_limited");
    }
    assert_eq!(
        app.app.store.call_totals().calls,
        before.calls,
        "a flood from one address costs no DynamoDB write"
    );
}

/// An organization's refusals are decided by a write (a failed conditional
/// `UpdateItem`, 1 WCU), never from memory: that write returns the
/// organization's version, so a plan raised a moment ago admits the very
/// next request (SPEC §5).
#[tokio::test]
async fn an_organization_refusal_is_one_write_and_sees_a_raised_plan_at_once() {
    let app = org_with(bucket(1, 1), START).await;
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    let before = app.app.store.call_totals();
    for _ in 0..3 {
        app.get("/v1/end-users")
            .await
            .assert_error(429, "rate_limited");
    }
    // Each refusal: the failed limiter write, and — once a second per
    // function — the write that counts the refusals for the portal's Usage
    // chart (three refusals within a second: one). The function's last sight
    // of the bucket showed it empty, so no read was started beside the write
    // to be thrown away.
    let spent = app.app.store.call_totals().since(&before);
    assert_eq!((spent.calls, spent.read_units), (3 + 1, 0.0));
    let raised = LimitOverrides {
        rate_limit: Some(100),
        burst: Some(100),
        ..LimitOverrides::default()
    };
    app.override_limits(app.org_id, raised).await;
    // The same warm function, a second later: five at once are admitted under
    // the new plan, where the old one admitted one.
    app.clock.advance(time::Duration::seconds(1));
    for _ in 0..5 {
        let res = app.get("/v1/end-users").await.assert_status(200);
        assert_eq!(header(&res, "x-ratelimit-limit"), "100");
    }
}

/// The turn ceiling of a sharded bucket is exact: 800 rps shards the bucket
/// in two, and a ceiling of 1 or 6 admits exactly 1 or 6 turns.
#[tokio::test]
async fn a_sharded_bucket_keeps_its_turn_ceiling_exact() {
    for ceiling in [1_u64, 6] {
        let app = org_with(sharded_with_ceiling(800, ceiling), START).await;
        for turn in 1..=ceiling {
            let res = app.get("/v1/end-users").await;
            assert_eq!(res.status, 200, "turn {turn} of {ceiling}: {}", res.text);
        }
        // A cold function (no warm state) agrees.
        for instance in [app.cold_instance(), app.cold_instance()] {
            let refused = instance.request("GET", "/v1/end-users").send().await;
            refused.assert_error(429, "turn_quota_exhausted");
            assert_eq!(header(&refused, "x-quota-turns-used"), ceiling.to_string());
            assert_eq!(header(&refused, "x-quota-turns-limit"), ceiling.to_string());
        }
    }
}

/// Concurrent requests against a sharded bucket: never past the ceiling,
/// never refused before it.
#[tokio::test]
async fn concurrent_requests_meet_a_sharded_ceiling_exactly() {
    let app = Arc::new(org_with(sharded_with_ceiling(1_200, 7), START).await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = if i % 2 == 0 {
                Arc::clone(&app)
            } else {
                Arc::new(app.cold_instance())
            };
            tokio::spawn(async move { app.get("/v1/end-users").await.status })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(admitted, 7);
}

/// A burst below the shard count: never more than the burst at once.
#[tokio::test]
async fn a_burst_below_the_shard_count_is_exact() {
    let app = org_with(bucket(2_000, 3), START).await;
    let mut admitted = 0;
    for _ in 0..30 {
        if app.get("/v1/end-users").await.status == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);
}

/// A function whose clock lags behind a month boundary counts its turn in the
/// later period: the period never goes backwards.
#[tokio::test]
async fn the_turn_period_never_goes_backwards() {
    let app = org_with(tether_tests::UNLIMITED, datetime!(2026-11-30 23:59:59 UTC)).await;
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    app.clock.set(datetime!(2026-12-01 00:00:01 UTC));
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    let lagging = app.cold_instance();
    lagging.clock.set(datetime!(2026-11-30 23:59:59.500 UTC));
    let res = lagging.request("GET", "/v1/end-users").send().await;
    assert_eq!(res.status, 200);
    assert_eq!(turns_stored(&app).await, ("2026-12".into(), "2".into()));
}

/// SPEC §6: a request without valid credentials is charged to its source IP
/// whatever else is wrong with it — a malformed path id included.
#[tokio::test]
async fn malformed_paths_without_credentials_are_charged_to_the_source_ip() {
    let app = with_ip_bucket((5, 10)).await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let path = if i % 2 == 0 {
            "/v1/end-users/not-a-uuid"
        } else {
            "/api/v1/external-services/nope/organizations"
        };
        let res = get_from(&app, "198.51.100.7", path, None).await;
        assert!(res.header("x-ratelimit-limit").is_some(), "{}", res.text);
        statuses.push(res.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20);
    // Another address is unaffected; a valid key's malformed path is charged
    // to its organization, not to the address.
    let other = get_from(&app, "198.51.100.8", "/v1/end-users/abc", None).await;
    other.assert_error(400, "invalid_path_parameter");
    let admin = Some(app.admin_key.as_str());
    let keyed = get_from(&app, "198.51.100.7", "/v1/end-users/abc", admin).await;
    keyed.assert_error(400, "invalid_path_parameter");
    assert_eq!(
        header(&keyed, "x-ratelimit-limit"),
        tether::limits::SHARD_RATE.to_string()
    );
}
