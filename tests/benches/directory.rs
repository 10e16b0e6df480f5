//! Directory sync at an enterprise's scale: a directory provisions its people
//! and groups through SCIM at a pro organization's rate (100 requests/s,
//! burst 200), as Okta does — a `userName` filter before each creation —
//! against DynamoDB Local as it is and with AWS's hot-item behaviour in front
//! of it (`tether_tests::contention`: transaction conflicts on items a
//! transaction holds, 1,000 WCU/s per partition key).
//!
//! ```sh
//! make bench-directory                                  # every scenario, both worlds
//! make bench-directory ARGS="--users 2000 --worlds local"
//! ```
//!
//! - **users**: `--users` (10,000) users, each `GET /Users?filter=userName eq` then
//!   `POST /Users`, by `--workers` (32) clients; a 429 waits its `Retry-After`.
//! - **groups**: `--groups` (100) groups, each `POST /Groups` then one `PATCH`
//!   adding `--members` (100) of the users.
//! - **group-hot**: `--hot` (1,000) `PATCH`es adding one member each to one
//!   group, by the same workers: the group item is the hot item.
//!
//! Each row: answers 2xx, 429 (each must carry `Retry-After`), failed
//! otherwise (must stay 0), transactions tried again after a conflict,
//! conflicts and throttles the model injected, p50/p99 of the 2xx, duration,
//! 2xx per second, and DynamoDB write units per item written (as the
//! emulator reports consumed capacity).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tether::organizations::{LimitOverrides, Plan};
use tether_tests::contention::Contention;
use tether_tests::scim::{Directory, PATCH_OP, USER};
use tether_tests::{TestApp, TestAppBuilder, TestResponse};
use tokio::sync::Mutex;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

#[derive(Default)]
struct Outcome {
    answered: Vec<Duration>,
    refused: u64,
    refused_without_retry_after: u64,
    failed: Vec<(u16, String)>,
}

struct Options {
    hold: Duration,
    users: u64,
    groups: u64,
    members: u64,
    hot: u64,
    workers: u64,
    worlds: String,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        hold: Duration::from_millis(10),
        users: 10_000,
        groups: 100,
        members: 100,
        hot: 1_000,
        workers: 32,
        worlds: "local,aws".to_owned(),
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
            "--users" => options.users = number(),
            "--groups" => options.groups = number(),
            "--members" => options.members = number(),
            "--hot" => options.hot = number(),
            "--workers" => options.workers = number(),
            "--worlds" => options.worlds = value,
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

/// A pro organization at its plan's limits, with a real clock.
async fn world(model: Option<Arc<Contention>>) -> Arc<TestApp> {
    let pro = Plan::Pro.defaults();
    Arc::new(
        TestAppBuilder {
            plan: Plan::Pro,
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

/// Sends a request until it is answered other than 429, waiting each 429's
/// `Retry-After` as identity providers do; the answer.
async fn until_admitted<F, Fut>(outcome: &Mutex<Outcome>, send: F) -> TestResponse
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = TestResponse>,
{
    loop {
        let started = Instant::now();
        let res = send().await;
        let took = started.elapsed();
        let mut outcome = outcome.lock().await;
        match res.status {
            200..=299 => {
                outcome.answered.push(took);
                return res;
            }
            429 => {
                outcome.refused += 1;
                let wait = res
                    .header("retry-after")
                    .and_then(|s| s.parse::<u64>().ok());
                if wait.is_none() {
                    outcome.refused_without_retry_after += 1;
                }
                drop(outcome);
                // Jittered so the workers do not come back in step.
                let jitter = u64::from(ulid::Ulid::generate().random() as u16 % 250);
                tokio::time::sleep(Duration::from_millis(wait.unwrap_or(1) * 1000 + jitter)).await;
            }
            status => {
                outcome
                    .failed
                    .push((status, res.text.chars().take(200).collect()));
                return res;
            }
        }
    }
}

/// Runs `work(i)` for i in 0..n on `workers` workers.
async fn on_workers<F, Fut>(n: u64, workers: u64, work: F)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let work = Arc::new(work);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    work(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a worker");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at].as_secs_f64() * 1000.0
}

struct Measured<'a> {
    app: &'a TestApp,
    model: Option<&'a Contention>,
    before: tether::store::CallTotals,
}

impl<'a> Measured<'a> {
    fn start(app: &'a TestApp, model: Option<&'a Contention>) -> Self {
        Self {
            app,
            model,
            before: app.app.store.call_totals(),
        }
    }

    fn row(self, name: &str, outcome: Outcome, took: Duration, items: u64) {
        let mut answered = outcome.answered;
        answered.sort();
        let totals = self.app.app.store.call_totals().since(&self.before);
        let injected =
            |f: fn(&Contention) -> u64| self.model.map_or("-".to_owned(), |m| f(m).to_string());
        println!(
            "{:<44} {:>7} {:>6} {:>4} {:>6} {:>8} {:>8} {:>8} {:>8.1} {:>8.1} {:>7.1} {:>7.1} {:>6.2}",
            name,
            answered.len(),
            outcome.refused,
            outcome.refused_without_retry_after,
            outcome.failed.len(),
            totals.conflicts,
            injected(|m| m.conflicts.load(Ordering::Relaxed)),
            injected(|m| m.throttles.load(Ordering::Relaxed)),
            percentile(&answered, 0.5),
            percentile(&answered, 0.99),
            took.as_secs_f64(),
            answered.len() as f64 / took.as_secs_f64(),
            totals.write_units() / items.max(1) as f64,
        );
        if let Some((status, text)) = outcome.failed.first() {
            println!("    first failure: {status} {text}");
        }
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    println!(
        "directory sync: pro organization (100 rps, burst 200), {} workers; AWS model: hold {} ms, 1,000 WCU/s per partition key\n",
        options.workers,
        options.hold.as_millis()
    );
    println!(
        "{:<44} {:>7} {:>6} {:>4} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6}",
        "scenario",
        "2xx",
        "429",
        "!RA",
        "failed",
        "retried",
        "conflict",
        "throttle",
        "p50 ms",
        "p99 ms",
        "s",
        "2xx/s",
        "WCU/it"
    );
    for (key, world_name, aws) in [
        ("local", "DynamoDB Local", false),
        ("aws", "AWS model", true),
    ] {
        if !options.worlds.split(',').any(|w| w == key) {
            continue;
        }
        let model = aws.then(|| Contention::aws(options.hold));
        let app = world(model.clone()).await;
        let dir = Directory::create(&app).await;
        let (id, token) = (dir.id.clone(), dir.token.clone());
        // Users: Okta's filter, then the creation.
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let ids = Arc::new(Mutex::new(vec![String::new(); options.users as usize]));
        let measured = Measured::start(&app, model.as_deref());
        let started = Instant::now();
        {
            let (app, outcome, ids, id, token) = (
                app.clone(),
                outcome.clone(),
                ids.clone(),
                id.clone(),
                token.clone(),
            );
            on_workers(options.users, options.workers, move |i| {
                let (app, outcome, ids, id, token) =
                    (app.clone(), outcome.clone(), ids.clone(), id.clone(), token.clone());
                async move {
                    let name = format!("user{i}@example.com");
                    let base = format!("/scim/v2/{id}");
                    let filter = format!("{base}/Users?filter=userName%20eq%20%22user{i}%40example.com%22&startIndex=1&count=100");
                    until_admitted(&outcome, || app.request("GET", &filter).bearer(&token).send())
                        .await;
                    let body = serde_json::json!({
                        "schemas": [USER], "userName": name, "externalId": format!("00u{i}"),
                        "name": {"givenName": "User", "familyName": format!("{i}")},
                        "emails": [{"primary": true, "value": name, "type": "work"}],
                        "active": true
                    })
                    .to_string();
                    let created = until_admitted(&outcome, || {
                        app.request("POST", &format!("{base}/Users"))
                            .bearer(&token)
                            .raw_body("application/scim+json", &body)
                            .send()
                    })
                    .await;
                    if let Some(user) = created.body["id"].as_str() {
                        ids.lock().await[i as usize] = user.to_owned();
                    }
                }
            })
            .await;
        }
        let took = started.elapsed();
        let outcome = Arc::into_inner(outcome).expect("done").into_inner();
        measured.row(
            &format!("users: {} (filter + create), {world_name}", options.users),
            outcome,
            took,
            options.users,
        );
        let ids: Arc<Vec<String>> = Arc::new(ids.lock().await.clone());
        // Groups: created empty, then one PATCH adding their members.
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let measured = Measured::start(&app, model.as_deref());
        let started = Instant::now();
        {
            let (app, outcome, ids, id, token) = (
                app.clone(),
                outcome.clone(),
                ids.clone(),
                id.clone(),
                token.clone(),
            );
            let members = options.members;
            on_workers(options.groups, options.workers, move |g| {
                let (app, outcome, ids, id, token) =
                    (app.clone(), outcome.clone(), ids.clone(), id.clone(), token.clone());
                async move {
                    let base = format!("/scim/v2/{id}");
                    let body = serde_json::json!({"schemas": [GROUP], "displayName": format!("group {g}"), "members": []}).to_string();
                    let created = until_admitted(&outcome, || {
                        app.request("POST", &format!("{base}/Groups"))
                            .bearer(&token)
                            .raw_body("application/scim+json", &body)
                            .send()
                    })
                    .await;
                    let Some(group) = created.body["id"].as_str() else {
                        return;
                    };
                    let value: Vec<serde_json::Value> = (0..members)
                        .map(|m| {
                            let user = &ids[((g * members + m) as usize) % ids.len().max(1)];
                            serde_json::json!({"value": user})
                        })
                        .collect();
                    let patch = serde_json::json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": value}]}).to_string();
                    until_admitted(&outcome, || {
                        app.request("PATCH", &format!("{base}/Groups/{group}"))
                            .bearer(&token)
                            .raw_body("application/scim+json", &patch)
                            .send()
                    })
                    .await;
                }
            })
            .await;
        }
        let took = started.elapsed();
        let outcome = Arc::into_inner(outcome).expect("done").into_inner();
        measured.row(
            &format!(
                "groups: {} × {} members, {world_name}",
                options.groups, options.members
            ),
            outcome,
            took,
            options.groups * options.members,
        );
        // One hot group: one member added per PATCH.
        let hot_group = {
            let body = serde_json::json!({"schemas": [GROUP], "displayName": "hot", "members": []});
            let created = dir.send("POST", "/Groups", &body).await;
            created.body["id"].as_str().unwrap_or_default().to_owned()
        };
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let measured = Measured::start(&app, model.as_deref());
        let started = Instant::now();
        {
            let (app, outcome, ids, id, token) = (
                app.clone(),
                outcome.clone(),
                ids.clone(),
                id.clone(),
                token.clone(),
            );
            let hot_group = hot_group.clone();
            on_workers(options.hot, options.workers, move |i| {
                let (app, outcome, ids, id, token, hot_group) = (
                    app.clone(),
                    outcome.clone(),
                    ids.clone(),
                    id.clone(),
                    token.clone(),
                    hot_group.clone(),
                );
                async move {
                    let user = &ids[(i as usize) % ids.len().max(1)];
                    let patch = serde_json::json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]}).to_string();
                    until_admitted(&outcome, || {
                        app.request("PATCH", &format!("/scim/v2/{id}/Groups/{hot_group}"))
                            .bearer(&token)
                            .raw_body("application/scim+json", &patch)
                            .send()
                    })
                    .await;
                }
            })
            .await;
        }
        let took = started.elapsed();
        let outcome = Arc::into_inner(outcome).expect("done").into_inner();
        measured.row(
            &format!(
                "group-hot: {} one-member PATCHes, {world_name}",
                options.hot
            ),
            outcome,
            took,
            options.hot,
        );
    }
}
