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
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run tetherctl")
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
    assert!(admin_key.starts_with("tk_") && admin_key.len() == 51);

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
        &[
            "api-key",
            "create",
            "--org",
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162",
            "--scopes",
            "write",
        ],
        &[
            "api-key",
            "create",
            "--org",
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162",
            "--scopes",
            "read",
        ],
    ] {
        let out = ctl.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {}",
            String::from_utf8_lossy(&out.stdout)
        );
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
    let user = "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162";
    let (_, one) = ctl.json(&["purge", "retry", "--org", org_id, "--user", user]);
    assert_eq!(one["already_gone"], serde_json::json!([user]));
    for args in [
        &["purge", "retry", "--org", "nope"][..],
        &["purge", "retry", "--org", org_id, "--user", "x"],
        &["purge", "retry"],
    ] {
        let out = ctl.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty());
    }
}
