//! DynamoDB calls and consumed capacity per request of the rate limiter
//! (`docs/performance.md`). Runs against DynamoDB Local:
//!
//! ```sh
//! make bench-limiter
//! ```
//!
//! The clock is injected and advanced by a fixed step per request, so the
//! offered load is exact and the figures repeat run to run. A last table
//! floods a warm function with reads through the whole pipeline: what a
//! refusal costs now that reads run beside the limiter's write.

use std::sync::Arc;
use tether::App;
use tether::clock::{Clock, ManualClock};
use tether::config::Config;
use tether::ids::OrganizationId;
use tether::limits::{Owner, Policy, Rate};
use tether::organizations::{LimitOverrides, Plan};
use tether::store::{Store, schema};

struct Scenario {
    name: &'static str,
    policy: Policy,
    step_micros: i64,
    requests: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let store = Store::new(
        tether_tests::dynamodb_client().await,
        format!("bench-{}", ulid::Ulid::generate()).to_lowercase(),
    );
    schema::create_table(&store)
        .await
        .expect("create the bench table");
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = App::new(
        Config::from_lookup(|_| None).expect("config"),
        store,
        clock.clone(),
    );
    let pro = Rate {
        per_second: 100,
        burst: 200,
    };
    let scenarios = [
        Scenario {
            name: "steady, below the rate (50 rps on 100 rps)",
            policy: Policy {
                rate: pro,
                turn_ceiling: Some(1_000_000),
            },
            step_micros: 20_000,
            requests: 2_000,
        },
        Scenario {
            name: "busy, draining (111 rps on 100 rps)",
            policy: Policy {
                rate: pro,
                turn_ceiling: Some(1_000_000),
            },
            step_micros: 9_000,
            requests: 2_000,
        },
        Scenario {
            name: "flood (1,000 rps on 100 rps)",
            policy: Policy {
                rate: pro,
                turn_ceiling: Some(1_000_000),
            },
            step_micros: 1_000,
            requests: 2_000,
        },
        Scenario {
            name: "per-IP bucket, steady (2 rps on 5 rps)",
            policy: Policy {
                rate: Rate {
                    per_second: 5,
                    burst: 10,
                },
                turn_ceiling: None,
            },
            step_micros: 500_000,
            requests: 500,
        },
        Scenario {
            name: "sharded bucket (800 rps on 1,000 rps, 3 shards)",
            policy: Policy {
                rate: Rate {
                    per_second: 1_000,
                    burst: 2_000,
                },
                turn_ceiling: Some(10_000_000),
            },
            step_micros: 1_250,
            requests: 2_000,
        },
    ];
    println!(
        "{:<50} {:>9} {:>8} {:>14} {:>16} {:>15}",
        "scenario", "admitted", "refused", "calls/admit", "capacity/admit", "calls/refusal"
    );
    for scenario in scenarios {
        let owner = if scenario.policy.turn_ceiling.is_some() {
            Owner::Organization(OrganizationId::generate())
        } else {
            Owner::SourceIp(format!("198.51.100.{}", scenario.requests % 250))
        };
        // Warm-up: the first request of a cold function may guess wrong once.
        let _ = charge(&app, &owner, scenario.policy, clock.now()).await;
        let (mut admitted, mut refused) = (0u64, 0u64);
        let (mut admit_calls, mut admit_capacity, mut refusal_calls) = (0u64, 0.0f64, 0u64);
        for _ in 0..scenario.requests {
            clock.advance(time::Duration::microseconds(scenario.step_micros));
            let before = app.store.call_totals();
            let admitted_now = charge(&app, &owner, scenario.policy, clock.now()).await;
            let after = app.store.call_totals();
            if admitted_now {
                admitted += 1;
                admit_calls += after.calls - before.calls;
                admit_capacity += after.capacity_units - before.capacity_units;
            } else {
                refused += 1;
                refusal_calls += after.calls - before.calls;
            }
        }
        println!(
            "{:<50} {:>9} {:>8} {:>14} {:>16} {:>15}",
            scenario.name,
            admitted,
            refused,
            per(admit_calls as f64, admitted),
            per(admit_capacity, admitted),
            per(refusal_calls as f64, refused),
        );
    }
    reads_under_a_flood().await;
}

/// GETs of a warm function at 1,000 rps against a 100 rps (burst 200)
/// organization, through the pipeline: calls and read units per admitted and
/// per refused request.
async fn reads_under_a_flood() {
    let t = tether_tests::TestAppBuilder {
        plan: Plan::Pro,
        overrides: LimitOverrides {
            rate_limit: Some(100),
            burst: Some(200),
            ..tether_tests::UNLIMITED
        },
        ..tether_tests::TestAppBuilder::default()
    }
    .spawn()
    .await;
    let user = t.create_user(serde_json::json!({})).await;
    let path = format!("/v1/end-users/{}", user["id"].as_str().unwrap_or_default());
    assert_eq!(t.get(&path).await.status, 200, "warm-up");
    let store = &t.app.store;
    let (mut admitted, mut refused) = ((0u64, 0u64, 0.0f64), (0u64, 0u64, 0.0f64));
    for _ in 0..2_000 {
        t.clock.advance(time::Duration::milliseconds(1));
        let before = store.call_totals();
        let status = t.get(&path).await.status;
        let spent = store.call_totals().since(&before);
        let row = match status {
            200 => &mut admitted,
            429 => &mut refused,
            other => panic!("GET {path} answered {other}"),
        };
        row.0 += 1;
        row.1 += spent.calls;
        row.2 += spent.read_units;
    }
    println!(
        "\n{:<50} {:>9} {:>8} {:>14} {:>12} {:>15} {:>13}",
        "reads through the pipeline",
        "admitted",
        "refused",
        "calls/admit",
        "RCU/admit",
        "calls/refusal",
        "RCU/refusal"
    );
    println!(
        "{:<50} {:>9} {:>8} {:>14} {:>12} {:>15} {:>13}",
        "warm GET flood (1,000 rps on 100 rps, burst 200)",
        admitted.0,
        refused.0,
        per(admitted.1 as f64, admitted.0),
        per(admitted.2, admitted.0),
        per(refused.1 as f64, refused.0),
        per(refused.2, refused.0),
    );
}

/// `total` per one of `n`, or "-" when there were none.
fn per(total: f64, n: u64) -> String {
    if n == 0 {
        "-".to_owned()
    } else {
        format!("{:.3}", total / n as f64)
    }
}

/// Charges one request; whether it was admitted. An organization's charge is
/// held to the version its plan was read at, as the pipeline's warm path does.
async fn charge(
    app: &tether::App,
    owner: &Owner,
    policy: tether::limits::Policy,
    at: time::OffsetDateTime,
) -> bool {
    let limiter = &app.limiter;
    if matches!(owner, Owner::Organization(_)) {
        let read_at = tether::limits::CachedAt(0);
        limiter
            .admit(&app.store, owner, policy, read_at, at)
            .await
            .expect("admit")
            .is_ok()
    } else {
        let read_at = tether::limits::Unconditioned;
        limiter
            .admit(&app.store, owner, policy, read_at, at)
            .await
            .expect("admit")
            .is_ok()
    }
}
