//! `tetherctl` end to end against DynamoDB Local: the JSON it prints (SPEC §13)
//! and what it stores.

use serde_json::Value;
use std::process::{Command, Output};

struct Ctl {
    table: String,
}

impl Ctl {
    fn new() -> Self {
        assert!(
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
            "run with `make test`, which starts DynamoDB Local"
        );
        let table = format!(
            "ctl-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        Self { table }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tetherctl"))
            .args(args)
            .env("TETHER_TABLE", &self.table)
            .env("AWS_REGION", "us-east-1")
            // The test harness's credentials: DynamoDB Local keeps one
            // database per access key, and the lifecycle test shares it.
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run tetherctl")
    }

    /// Asserts that `args` fail and print nothing on stdout.
    fn assert_fails(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// The array `field` of what `args` print (a list command's items).
    fn list(&self, args: &[&str], field: &str) -> Vec<Value> {
        let (_, listed) = self.json(args);
        listed[field].as_array().expect("a list").clone()
    }

    /// Creates the table and an organization named `name`; returns its id,
    /// its admin key, and a warm function of it acting with that key.
    async fn warm_organization(&self, name: &str) -> (String, String, tether_tests::TestApp) {
        self.json(&["table", "create"]);
        let (_, org) = self.json(&["org", "create", "--name", name]);
        let org_id = org["organization_id"].as_str().unwrap().to_owned();
        let key = org["api_key"].as_str().unwrap().to_owned();
        let id = tether::ids::OrganizationId::parse(&org_id).unwrap();
        let warm = tether_tests::TestApp::attach(&self.table, id, key.clone()).await;
        (org_id, key, warm)
    }

    fn json(&self, args: &[&str]) -> (String, Value) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "one JSON object on stdout: {text}");
        let value = serde_json::from_str(&text).unwrap();
        (text, value)
    }
}

/// An id no organization, key or service has.
const UNKNOWN: &str = "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162";

fn keys(text: &str) -> Vec<String> {
    // Key order as printed, not as a map sorts them.
    let value: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
    value.keys().cloned().collect()
}

#[test]
fn table_org_and_key_creation_print_exactly_the_documented_json() {
    let ctl = Ctl::new();
    let (_, created) = ctl.json(&["table", "create"]);
    assert_eq!(created["created"], true);
    let (_, again) = ctl.json(&["table", "create"]);
    assert_eq!(again["created"], false, "table create is idempotent");

    let (text, org) = ctl.json(&[
        "org",
        "create",
        "--name",
        "Acme",
        "--plan",
        "pro",
        "--rate-limit",
        "7",
        "--burst",
        "9",
        "--turn-ceiling",
        "100",
        "--relationship-ceiling",
        "5",
    ]);
    assert_eq!(keys(&text), ["organization_id", "api_key"]);
    let org_id = org["organization_id"].as_str().unwrap();
    assert_eq!(org_id.len(), 36);
    let admin_key = org["api_key"].as_str().unwrap();
    assert!(admin_key.starts_with("tk_") && admin_key.ends_with(&format!("_{org_id}")));
    assert_eq!(admin_key.len(), 3 + 48 + 1 + 36);

    let (text, key) = ctl.json(&[
        "api-key",
        "create",
        "--org",
        org_id,
        "--scopes",
        "read,read_write",
    ]);
    assert_eq!(keys(&text), ["api_key_id", "api_key"]);
    assert_ne!(key["api_key"], org["api_key"]);
}

#[test]
fn bad_arguments_fail_without_output() {
    let ctl = Ctl::new();
    ctl.json(&["table", "create"]);
    for args in [
        &["org", "create", "--name", "X", "--plan", "gold"][..],
        &["org", "create", "--name", "X", "--burst", "0"],
        &["org", "create", "--name", " "],
        &["api-key", "create", "--org", "nope", "--scopes", "read"],
        &["api-key", "create", "--org", UNKNOWN, "--scopes", "write"],
        &["api-key", "create", "--org", UNKNOWN, "--scopes", "read"],
    ] {
        ctl.assert_fails(args);
    }
}

#[test]
fn purge_retry_reports_what_it_re_drove() {
    let ctl = Ctl::new();
    ctl.json(&["table", "create"]);
    let (_, org) = ctl.json(&["org", "create", "--name", "Acme"]);
    let org_id = org["organization_id"].as_str().unwrap();
    let (text, report) = ctl.json(&["purge", "retry", "--org", org_id]);
    assert_eq!(
        keys(&text),
        ["organization_id", "removed", "already_gone", "failed"]
    );
    assert_eq!(report["removed"], serde_json::json!([]));
    let user = UNKNOWN;
    let (_, one) = ctl.json(&["purge", "retry", "--org", org_id, "--user", user]);
    assert_eq!(one["already_gone"], serde_json::json!([user]));
    for args in [
        &["purge", "retry", "--org", "nope"][..],
        &["purge", "retry", "--org", org_id, "--user", "x"],
        &["purge", "retry"],
    ] {
        ctl.assert_fails(args);
    }
}

/// SPEC §13 lifecycle commands, and SPEC §5: every change an operator makes
/// reaches a warm function's very next request.
#[tokio::test]
async fn lifecycle_commands_apply_from_the_next_request_of_a_warm_function() {
    use serde_json::json;
    let ctl = Ctl::new();
    let (org_id, first_key, warm) = ctl.warm_organization("Acme").await;
    let org_id = org_id.as_str();
    let read = |key: String| {
        let warm = &warm;
        async move { warm.get_as(&key, "/v1/end-users").await }
    };
    let warmed = read(first_key.clone()).await;
    assert_eq!(warmed.status, 200, "warm: {}", warmed.text);

    // org list / show / update
    let listed = ctl.list(&["org", "list"], "organizations");
    assert!(listed.iter().any(|o| o["organization_id"] == org_id));
    let (_, shown) = ctl.json(&["org", "show", "--id", org_id]);
    assert_eq!(shown["plan"], "free");
    assert_eq!(shown["limits"]["rate_limit"], 10);
    let (_, updated) = ctl.json(&[
        "org",
        "update",
        "--id",
        org_id,
        "--plan",
        "pro",
        "--rate-limit",
        "1",
        "--burst",
        "1",
    ]);
    assert_eq!(updated["plan"], "pro");
    assert_eq!(updated["limits"]["rate_limit"], 1);
    assert_eq!(updated["limits"]["webhook_endpoints"], 20, "the plan's cap");
    let (_, capped) = ctl.json(&[
        "org",
        "update",
        "--id",
        org_id,
        "--webhook-endpoints-cap",
        "25",
        "--identity-providers-cap",
        "60",
        "--policies-cap",
        "150",
    ]);
    assert_eq!(capped["limits"]["webhook_endpoints"], 25);
    assert_eq!(capped["limits"]["identity_providers"], 60);
    assert_eq!(capped["limits"]["policies"], 150);
    assert_eq!(
        updated["limits"]["turn_ceiling"], 1_000_000,
        "the pro plan's"
    );
    let first = read(first_key.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.headers["x-ratelimit-limit"], "1",
        "the new limit at once"
    );
    let second = read(first_key.clone()).await;
    assert_eq!(second.status, 429, "{}", second.text);
    ctl.json(&[
        "org",
        "update",
        "--id",
        org_id,
        "--rate-limit",
        "100",
        "--burst",
        "100",
    ]);

    // api-key list / revoke / roll
    let (_, made) = ctl.json(&["api-key", "create", "--org", org_id, "--scopes", "admin"]);
    let second_key = made["api_key"].as_str().unwrap().to_owned();
    let keys = ctl.list(&["api-key", "list", "--org", org_id], "api_keys");
    assert_eq!(keys.len(), 2);
    assert!(
        !serde_json::to_string(&keys).unwrap().contains("tk_"),
        "no secrets"
    );
    let first_id = keys.iter().find(|k| k["id"] != made["api_key_id"]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(read(first_key.clone()).await.status, 200);
    ctl.json(&["api-key", "revoke", "--id", &first_id]);
    let refused = read(first_key.clone()).await;
    assert_eq!(refused.status, 401, "revoked: {}", refused.text);
    let second_id = made["api_key_id"].as_str().unwrap();
    let last = ctl.run(&["api-key", "revoke", "--id", second_id]);
    assert!(!last.status.success() && last.stdout.is_empty());
    assert!(String::from_utf8_lossy(&last.stderr).contains("last non-expiring admin key"));
    assert_eq!(read(second_key.clone()).await.status, 200);
    let (_, rolled) = ctl.json(&["api-key", "roll", "--id", second_id, "--grace-seconds", "0"]);
    let third_key = rolled["api_key"].as_str().unwrap().to_owned();
    assert_eq!(read(second_key).await.status, 401, "rolled without grace");
    assert_eq!(read(third_key.clone()).await.status, 200);

    // external-service list / token-roll / token-revoke
    let (_, service) = ctl.json(&["external-service", "create", "--name", "CRM"]);
    let service_id = service["external_service_id"].as_str().unwrap();
    let token = service["token"].as_str().unwrap().to_owned();
    let services = ctl.list(&["external-service", "list"], "external_services");
    assert!(
        services
            .iter()
            .any(|s| s["external_service_id"] == service_id && s["name"] == "CRM")
    );
    let orgs = format!("/api/v1/external-services/{service_id}/organizations");
    let call = async |token: &str| warm.get_with_token(token, &orgs).await.status;
    assert_eq!(call(&token).await, 200, "warm");
    let (_, new) = ctl.json(&[
        "external-service",
        "token-roll",
        "--id",
        service_id,
        "--grace-seconds",
        "3600",
    ]);
    let new_token = new["token"].as_str().unwrap().to_owned();
    assert_eq!(call(&token).await, 200, "in its grace period");
    assert_eq!(call(&new_token).await, 200);
    let (_, revoked) = ctl.json(&["external-service", "token-revoke", "--id", service_id]);
    assert_eq!(revoked["revoked_tokens"], json!(2));
    assert_eq!(call(&token).await, 401);
    assert_eq!(call(&new_token).await, 401);
    for args in [
        &["org", "show", "--id", UNKNOWN][..],
        &["org", "update", "--id", org_id, "--plan", "gold"],
        &["api-key", "revoke", "--id", "nope"],
        &[
            "api-key",
            "roll",
            "--id",
            second_id,
            "--grace-seconds",
            "604801",
        ],
        &["external-service", "token-roll", "--id", UNKNOWN],
    ] {
        ctl.assert_fails(args);
    }
}

/// SPEC §8: an operator sees an organization's policies and resets them —
/// the way back even from a policy that forbids everything — and the reset
/// applies from a warm function's next request.
#[tokio::test]
async fn policies_show_and_reset_undo_any_policy_from_the_next_request() {
    let ctl = Ctl::new();
    let (org, _, warm) = ctl.warm_organization("Locked").await;
    let everything = "forbid (principal, action, resource);";
    warm.put_policies(everything).await;
    warm.get("/v1/end-users")
        .await
        .assert_error(403, "policy_denied");
    let (_, shown) = ctl.json(&["policies", "show", "--org", &org]);
    assert_eq!(shown["policies"], everything);
    assert!(shown["updated_at"].is_string());
    let (_, reset) = ctl.json(&["policies", "reset", "--org", &org]);
    assert_eq!(reset["policies"], "");
    assert_eq!(warm.get("/v1/end-users").await.status, 200, "at once");
    let (_, shown) = ctl.json(&["policies", "show", "--org", &org]);
    assert_eq!(shown["policies"], "");
    let missing = tether::ids::OrganizationId::generate().to_string();
    ctl.assert_fails(&["policies", "reset", "--org", &missing]);
}

#[tokio::test]
async fn directories_are_listed_shown_and_rolled_without_their_tokens() {
    let ctl = Ctl::new();
    let (org, _, warm) = ctl.warm_organization("Directories").await;
    let created = warm
        .post("/v1/directories", &serde_json::json!({"name": "Okta"}))
        .await
        .assert_status(201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let token = created.body["bearer_token"].as_str().unwrap().to_owned();
    let listed = ctl.list(&["directory", "list", "--org", &org], "directories");
    assert_eq!(listed.len(), 1);
    let (_, shown) = ctl.json(&["directory", "show", "--org", &org, "--id", &id]);
    for one in [&listed[0], &shown] {
        assert_eq!(one["id"], created.body["id"]);
        assert_eq!(one["scim_path"], format!("/scim/v2/{id}"));
        assert!(!one.to_string().contains(&token[5..]), "{one}");
    }
    let (_, rolled) = ctl.json(&["directory", "roll-token", "--org", &org, "--id", &id]);
    let new_token = rolled["bearer_token"].as_str().unwrap();
    assert!(new_token.starts_with("scim_") && new_token != token);
    let got = warm.get(&format!("/v1/directories/{id}")).await;
    assert_eq!(got.body["token_prefix"], new_token[5..13]);
    let other = tether::ids::DirectoryId::generate().to_string();
    ctl.assert_fails(&["directory", "show", "--org", &org, "--id", &other]);
    ctl.assert_fails(&["directory", "show", "--org", &org, "--id", "nope"]);
}
