//! What the identity providers' key cache costs a `POST /v1/me/sso/link`
//! (`docs/performance.md`): DynamoDB calls, issuer fetches and
//! latency of a link with a cold key cache (a new function: the keys come
//! with the provider's one read), a warm one, a `kid` the cache lacks
//! (claim, fetch, store), and a bogus `kid` inside the refetch interval.
//! Runs in process against DynamoDB Local and a loopback issuer:
//!
//! ```sh
//! make bench-sso
//! ```

use serde_json::json;
use std::time::Instant;
use tether::clock::Clock;
use tether_tests::issuer::FakeIssuer;
use tether_tests::{As, TestApp, idp, spawn_app};

const CLIENT: &str = "bench";
const RUNS: usize = 60;

struct Figures {
    calls: Vec<u64>,
    fetches: Vec<usize>,
    micros: Vec<u128>,
    statuses: Vec<u16>,
}

impl Figures {
    fn new() -> Self {
        Self {
            calls: vec![],
            fetches: vec![],
            micros: vec![],
            statuses: vec![],
        }
    }

    /// One link's outcome `(status, calls, µs)` and the key-set fetches it caused.
    fn record(&mut self, (status, calls, micros): (u16, u64, u128), fetches: usize) {
        self.statuses.push(status);
        self.calls.push(calls);
        self.micros.push(micros);
        self.fetches.push(fetches);
    }

    /// Links with `id_token` as the end user of `user_token` through
    /// `instance`, and records the outcome and the fetches `issuer` saw.
    async fn measure(
        &mut self,
        instance: &TestApp,
        issuer: &FakeIssuer,
        provider: &str,
        id_token: &str,
        user_token: &str,
    ) {
        let fetched = issuer.hits("/jwks");
        let outcome = link(instance, provider, id_token, user_token).await;
        self.record(outcome, issuer.hits("/jwks") - fetched);
    }

    fn print(&mut self, name: &str) {
        self.micros.sort_unstable();
        let p = |q: f64| self.micros[((self.micros.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
        let fetches = self.fetches.iter().sum::<usize>() as f64 / self.fetches.len() as f64;
        let mut statuses = self.statuses.clone();
        statuses.dedup();
        println!(
            "| {name} | {statuses:?} | {:.1} | {fetches:.1} | {:.2} | {:.2} |",
            mean(&self.calls),
            p(0.5),
            p(0.99)
        );
    }
}

async fn link(app: &TestApp, provider: &str, token: &str, user_token: &str) -> (u16, u64, u128) {
    let before = app.app.store.call_totals();
    let started = Instant::now();
    let res = app
        .send_as(
            "POST",
            "/v1/me/sso/link",
            As::Bearer(user_token),
            Some(&json!({"identity_provider_id": provider, "id_token": token})),
        )
        .await;
    let micros = started.elapsed().as_micros();
    (
        res.status,
        app.app.store.call_totals().since(&before).calls,
        micros,
    )
}

fn token(app: &TestApp, issuer: &FakeIssuer, seed: u8, kid: &str, sub: &str) -> String {
    let mut claims = idp::claims(sub, app.clock.now().unix_timestamp());
    claims["iss"] = json!(issuer.issuer);
    claims["aud"] = json!(CLIENT);
    idp::sign_ed(seed, kid, &claims)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let app = spawn_app().await;
    let issuer = FakeIssuer::start(json!({"keys": [idp::ed_jwk(1, "k1")]})).await;
    let res = app
        .post(
            "/v1/identity-providers",
            &json!({"name": "b", "issuer": issuer.issuer, "client_id": CLIENT}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let provider = res.body["id"].as_str().unwrap().to_owned();
    let user = app.create_user(json!({})).await;
    let user_token = app.user_token(&user);
    println!("| link | status | DynamoDB calls | issuer fetches | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");

    let scenario = |_: &str| Figures::new();
    let mut cold = scenario("cold");
    for n in 0..RUNS {
        // A new function: empty caches; the provider's read brings its keys.
        let instance = app.cold_instance();
        let id_token = token(&app, &issuer, 1, "k1", &format!("c{n}"));
        cold.measure(&instance, &issuer, &provider, &id_token, &user_token)
            .await;
    }
    cold.print("cold key cache (new function)");

    let mut warm = scenario("warm");
    let instance = app.cold_instance();
    link(
        &instance,
        &provider,
        &token(&app, &issuer, 1, "k1", "w"),
        &user_token,
    )
    .await;
    for n in 0..RUNS {
        let id_token = token(&app, &issuer, 1, "k1", &format!("w{n}"));
        warm.measure(&instance, &issuer, &provider, &id_token, &user_token)
            .await;
    }
    warm.print("warm key cache");

    let mut rotated = scenario("rotated");
    for n in 0..RUNS {
        // The issuer rotates to a key no cache has; a minute has passed.
        let seed = 10 + n as u8;
        let kid = format!("r{n}");
        issuer
            .script(|s| s.jwks = json!({"keys": [idp::ed_jwk(seed, &kid), idp::ed_jwk(1, "k1")]}));
        app.clock.advance(time::Duration::seconds(61));
        let user_token = app.user_token(&user);
        let id_token = token(&app, &issuer, seed, &kid, &format!("r{n}"));
        rotated
            .measure(&instance, &issuer, &provider, &id_token, &user_token)
            .await;
    }
    rotated.print("unknown kid, refetch allowed (claim + fetch + store)");

    let user_token = app.user_token(&user);
    let mut bogus = scenario("bogus");
    for n in 0..RUNS {
        let id_token = token(&app, &issuer, 200, &format!("bogus{n}"), "x");
        bogus
            .measure(&instance, &issuer, &provider, &id_token, &user_token)
            .await;
    }
    bogus.print("unknown kid within the minute (claim lost, no fetch)");
}
