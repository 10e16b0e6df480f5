//! Hot items at scale: end-user creation at a pro
//! organization's full rate, against DynamoDB Local as it is and with AWS's
//! hot-item behaviour put in front of it (`tether_tests::contention`:
//! transaction conflicts on items held by a transaction in progress, and
//! 1,000 WCU/s per partition key).
//!
//! ```sh
//! make bench-hot                       # both scenarios, both worlds
//! make bench-hot ARGS="--hold-ms 33 --rate 30 --worlds one,aws"
//! ```
//!
//! - **steady**: `--rate` creations per second (100, open loop) for `--seconds` (30).
//! - **import**: `--users` creations by `--workers` (32) clients as fast as the plan lets
//!   them (a 429 waits 10 ms and tries again).
//!
//! Worlds (`--worlds local,one,aws`): DynamoDB Local as it is with a pro
//! organization (sharded counter); the AWS model with the counter in the
//! organization item alone (before the counter was sharded); the AWS model, sharded.
//!
//! Each row: requests answered 201, refused 429, failed otherwise (the
//! figure that must stay 0), transactions tried again after a conflict,
//! conflicts and throttles the model injected, latency of the 201s, the
//! creations per second achieved, and ρ = that rate × the hold: the
//! conflict pressure on one item, which for the same ρ is the same whatever
//! the emulator's own pace (AWS at 100 creations/s and a 10 ms hold: ρ = 1).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tether::organizations::{LimitOverrides, Plan};
use tether_tests::contention::Contention;
use tether_tests::{TestApp, TestAppBuilder};
use tokio::sync::Mutex;

#[derive(Default)]
struct Outcome {
    created: Vec<Duration>,
    refused: u64,
    failed: Vec<(u16, String)>,
}

struct Options {
    hold: Duration,
    rate: u64,
    seconds: u64,
    users: u64,
    workers: u64,
    worlds: String,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        hold: Duration::from_millis(10),
        rate: 100,
        seconds: 30,
        users: 10_000,
        workers: 32,
        worlds: "local,one,aws".to_owned(),
    };
    while let Some(arg) = args.next() {
        if arg == "--bench" {
            continue;
        }
        let value = args.next().unwrap_or_default();
        let number = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{arg} takes a number"))
        };
        match arg.as_str() {
            "--hold-ms" => options.hold = Duration::from_millis(number()),
            "--seconds" => options.seconds = number(),
            "--rate" => options.rate = number(),
            "--users" => options.users = number(),
            "--workers" => options.workers = number(),
            "--worlds" => options.worlds = value,
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

/// A pro organization at its plan's limits; `one_item` keeps its
/// relationship counter in the organization item alone (a free plan with the
/// pro plan's limits: how every organization counted before the counter was sharded).
async fn world(model: Option<Arc<Contention>>, one_item: bool) -> Arc<TestApp> {
    let pro = Plan::Pro.defaults();
    Arc::new(
        TestAppBuilder {
            plan: if one_item { Plan::Free } else { Plan::Pro },
            overrides: LimitOverrides {
                rate_limit: Some(pro.rate_limit),
                burst: Some(pro.burst),
                turn_ceiling: Some(pro.turn_ceiling),
                relationship_ceiling: Some(pro.relationship_ceiling),
                ..LimitOverrides::default()
            },
            real_clock: true,
            contention: model,
            ..TestAppBuilder::default()
        }
        .spawn()
        .await,
    )
}

async fn create(app: &TestApp, outcome: &Mutex<Outcome>) -> bool {
    let started = Instant::now();
    let res = app.post("/v1/end-users", &serde_json::json!({})).await;
    let took = started.elapsed();
    let mut outcome = outcome.lock().await;
    match res.status {
        201 => outcome.created.push(took),
        429 => {
            outcome.refused += 1;
            return false;
        }
        status => outcome.failed.push((status, res.body["code"].to_string())),
    }
    true
}

async fn steady(app: Arc<TestApp>, rate: u64, seconds: u64) -> (Outcome, Duration) {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for _ in 0..seconds * rate {
        tick.tick().await;
        let (app, outcome) = (app.clone(), outcome.clone());
        tasks.push(tokio::spawn(async move { create(&app, &outcome).await }));
    }
    for task in tasks {
        task.await.expect("a creation task");
    }
    let took = started.elapsed();
    (
        Arc::into_inner(outcome).expect("tasks done").into_inner(),
        took,
    )
}

async fn import(app: Arc<TestApp>, users: u64, workers: u64) -> (Outcome, Duration) {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let left = Arc::new(std::sync::atomic::AtomicU64::new(users));
    let started = Instant::now();
    let workers = (0..workers)
        .map(|_| {
            let (app, outcome, left) = (app.clone(), outcome.clone(), left.clone());
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    while !create(&app, &outcome).await {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            })
        })
        .collect::<Vec<_>>();
    for worker in workers {
        worker.await.expect("an import worker");
    }
    let took = started.elapsed();
    (
        Arc::into_inner(outcome).expect("workers done").into_inner(),
        took,
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at].as_secs_f64() * 1000.0
}

fn row(
    name: &str,
    app: &TestApp,
    model: Option<&Contention>,
    mut outcome: Outcome,
    took: Duration,
    hold: Duration,
) {
    outcome.created.sort();
    let totals = app.app.store.call_totals();
    let injected = |f: fn(&Contention) -> u64| model.map_or("-".to_owned(), |m| f(m).to_string());
    let rate = outcome.created.len() as f64 / took.as_secs_f64();
    let load = model.map_or("-".to_owned(), |_| {
        format!("{:.2}", rate * hold.as_secs_f64())
    });
    println!(
        "{:<48} {:>7} {:>6} {:>6} {:>8} {:>9} {:>9} {:>8.1} {:>8.1} {:>7.1} {:>6}",
        name,
        outcome.created.len(),
        outcome.refused,
        outcome.failed.len(),
        totals.conflicts,
        injected(|m| m.conflicts.load(Ordering::Relaxed)),
        injected(|m| m.throttles.load(Ordering::Relaxed)),
        percentile(&outcome.created, 0.5),
        percentile(&outcome.created, 0.99),
        rate,
        load,
    );
    if let Some((status, code)) = outcome.failed.first() {
        println!("    first failure: {status} {code}");
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    println!(
        "hot items: pro organization (100 rps, burst 200); AWS model: hold {} ms, 1,000 WCU/s per partition key\n",
        options.hold.as_millis()
    );
    println!(
        "{:<44} {:>7} {:>6} {:>6} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6}",
        "scenario",
        "201",
        "429",
        "failed",
        "retried",
        "conflict",
        "throttle",
        "p50 ms",
        "p99 ms",
        "201/s",
        "ρ"
    );
    let worlds = [
        ("local", "DynamoDB Local, sharded", false, false),
        ("one", "AWS model, one counter item", true, true),
        ("aws", "AWS model, sharded", true, false),
    ];
    for (key, world_name, aws, one_item) in worlds {
        if !options.worlds.split(',').any(|w| w == key) {
            continue;
        }
        let model = aws.then(|| Contention::aws(options.hold));
        let app = world(model.clone(), one_item).await;
        let (outcome, took) = steady(app.clone(), options.rate, options.seconds).await;
        row(
            &format!(
                "steady {} rps × {} s, {world_name}",
                options.rate, options.seconds
            ),
            &app,
            model.as_deref(),
            outcome,
            took,
            options.hold,
        );
        let model = aws.then(|| Contention::aws(options.hold));
        let app = world(model.clone(), one_item).await;
        let (outcome, took) = import(app.clone(), options.users, options.workers).await;
        row(
            &format!("import {} users, {world_name}", options.users),
            &app,
            model.as_deref(),
            outcome,
            took,
            options.hold,
        );
    }
}
