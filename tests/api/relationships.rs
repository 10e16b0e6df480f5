//! The sharded relationship counter (SPEC §7): a pro
//! organization's creations count in several items, the ceiling stays exact
//! under parallel creates and ceiling changes, and creations at the plan's
//! rate hold when AWS's transaction conflicts are put in front of the
//! emulator (`tether_tests::contention`).

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tether::organizations::{LimitOverrides, Plan};
use tether::relationships;
use tether_tests::contention::Contention;
use tether_tests::{TestApp, TestAppBuilder, UNLIMITED};

async fn pro(ceiling: u64, contention: Option<Arc<Contention>>) -> Arc<TestApp> {
    Arc::new(
        TestAppBuilder {
            plan: Plan::Pro,
            overrides: LimitOverrides {
                relationship_ceiling: Some(ceiling),
                ..UNLIMITED
            },
            contention,
            ..TestAppBuilder::default()
        }
        .spawn()
        .await,
    )
}

async fn counts(app: &TestApp) -> relationships::Counts {
    relationships::read(&app.app.store, app.org_id)
        .await
        .unwrap()
        .expect("the organization exists")
}

async fn set_ceiling(app: &TestApp, ceiling: u64) {
    let ceiling = LimitOverrides {
        relationship_ceiling: Some(ceiling),
        ..LimitOverrides::default()
    };
    app.override_limits(app.org_id, ceiling).await;
    // The pipeline's cached plan is current from the next second (SPEC §5).
    app.clock.advance(time::Duration::seconds(2));
}

/// Creates one end user: its status and, on a 403, the count it reported.
async fn create(app: &TestApp) -> (u16, Option<String>) {
    let res = app.post("/v1/end-users", &json!({})).await;
    if res.status == 403 {
        res.assert_error(403, "relationship_quota_exceeded");
    }
    let active = res
        .header("x-quota-relationships-active")
        .map(str::to_owned);
    (res.status, active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pro_organizations_counter_is_sharded_and_its_ceiling_exact_under_parallel_creates() {
    let app = pro(5, None).await;
    let creates: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { create(&app).await })
        })
        .collect();
    let mut created = 0;
    for task in creates {
        match task.await.unwrap() {
            (201, _) => created += 1,
            (403, active) => assert_eq!(active.as_deref(), Some("5"), "the exact count"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 5);
    let counts = counts(&app).await;
    assert_eq!(counts.total(), 5);
    assert_eq!(
        counts.organization.relationship_shards, 5,
        "one shard per 10 creations/s of the plan, at most the ceiling"
    );
    assert!(
        counts
            .shards
            .iter()
            .filter(|s| s.k > 0 && s.active > 0)
            .count()
            > 0,
        "creations counted outside the organization item: {:?}",
        counts.shards
    );
    assert_eq!(crate::org_items(&app, "USER#").await, 5, "no partial write");
    // Every user records the shard it counts in, and the shards agree.
    let mut per_shard = std::collections::HashMap::<u32, u64>::new();
    for user in app.get("/v1/end-users?limit=100").await.data() {
        let item = crate::stored_user(&app, user).await.unwrap();
        let shard = item
            .get("count_shard")
            .map_or(0, |n| n.as_n().unwrap().parse().unwrap());
        *per_shard.entry(shard).or_default() += 1;
    }
    for shard in &counts.shards {
        assert_eq!(
            per_shard.get(&shard.k).copied().unwrap_or(0),
            shard.active,
            "shard {}",
            shard.k
        );
    }
}

#[tokio::test]
async fn a_changed_ceiling_is_exact_from_the_next_request() {
    let app = pro(4, None).await;
    for _ in 0..4 {
        assert_eq!(create(&app).await.0, 201);
    }
    assert_eq!(create(&app).await, (403, Some("4".into())));
    // Raised: exactly four more, whatever shard each lands in.
    set_ceiling(&app, 8).await;
    for _ in 0..4 {
        assert_eq!(create(&app).await.0, 201);
    }
    assert_eq!(create(&app).await, (403, Some("8".into())));
    // Lowered below the count: nothing more, and the count stays exact.
    set_ceiling(&app, 6).await;
    assert_eq!(create(&app).await, (403, Some("8".into())));
    assert_eq!(counts(&app).await.total(), 8);
    // The organization as the pipeline reads it counts every shard.
    let org = tether::organizations::get_organization(&app.app.store, app.org_id).await;
    let org = relationships::counted(&app.app.store, org.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org.relationships_active, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creations_at_the_plans_rate_hold_under_awss_transaction_conflicts() {
    // Each transaction holds its items for 50 ms, five times AWS's
    // pessimistic figure (docs/limits.md), so that the emulator's own pace
    // still makes them meet: conflicts do happen, and none fails a request.
    let model = Contention::aws(Duration::from_millis(50));
    let app = pro(100_000, Some(model.clone())).await;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    // A loaded machine must not turn the plan's rate into bursts of the
    // ticks it missed.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        tick.tick().await;
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let res = app.post("/v1/end-users", &json!({})).await;
            (res.status, res.text, started.elapsed())
        }));
    }
    for task in tasks {
        let (status, text, took) = task.await.unwrap();
        assert_eq!(
            status, 201,
            "no creation fails for a conflict ({took:?}: {text})"
        );
    }
    assert!(
        model.conflicts.load(Ordering::Relaxed) > 0,
        "the model made transactions meet"
    );
    assert!(app.app.store.call_totals().conflicts > 0);
    assert_eq!(counts(&app).await.total(), 100);
    assert_eq!(crate::org_items(&app, "USER#").await, 100);
}
