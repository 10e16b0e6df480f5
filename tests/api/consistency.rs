//! One source of truth: the route table in `shared/src/routes/` must agree
//! with the function binaries, the `cargo lambda watch` router, the SAM
//! template and the published OpenAPI document (`events/` is checked in
//! events.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tether::routes;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn all_functions() -> BTreeSet<String> {
    routes::ALL
        .iter()
        .chain([&routes::NOT_FOUND])
        .map(|e| e.function.to_owned())
        .chain(routes::EVENT_FUNCTIONS.iter().map(|f| f.name.to_owned()))
        .collect()
}

#[test]
fn every_endpoint_has_a_function_binary_and_nothing_else_does() {
    let dirs: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(dirs, all_functions());
    for endpoint in routes::ALL.iter().chain([&routes::NOT_FOUND]) {
        let main = std::fs::read_to_string(
            root()
                .join("functions")
                .join(endpoint.function)
                .join("src/main.rs"),
        )
        .unwrap();
        // The binary serves exactly the endpoint named like it, through its
        // bound handler — the one the tests dispatch through.
        let constant = endpoint.function.to_uppercase().replace('-', "_");
        let served: Vec<&str> = main
            .match_indices("serve(&routes::")
            .map(|(at, m)| {
                let rest = &main[at + m.len()..];
                &rest[..rest.find(')').unwrap_or(rest.len())]
            })
            .collect();
        assert_eq!(served, [constant.as_str()], "{}", endpoint.function);
        assert!(
            main.lines().count() <= 12,
            "{}: main.rs stays a few lines",
            endpoint.function
        );
    }
}

#[test]
fn the_watch_router_matches_the_route_table() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut served = BTreeSet::new();
    for (path, entries) in router {
        match entries {
            toml::Value::String(function) => assert_eq!(function, "not-found", "{path}"),
            toml::Value::Array(entries) => {
                let template = path.clone();
                for entry in entries {
                    let method = entry["method"].as_str().unwrap();
                    let function = entry["function"].as_str().unwrap();
                    // Browser endpoints answer their own CORS preflights.
                    let expected = routes::ALL
                        .iter()
                        .find(|e| {
                            e.path == template
                                && (e.method == method || (method == "OPTIONS" && e.browser))
                        })
                        .map_or("not-found", |e| e.function);
                    assert_eq!(function, expected, "{method} {path}");
                    if function != "not-found" && method != "OPTIONS" {
                        served.insert((method.to_owned(), template.clone()));
                    }
                }
            }
            other => panic!("unexpected router entry {other:?}"),
        }
    }
    let expected: BTreeSet<_> = routes::ALL
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(served, expected, "every endpoint is routed, once");
    assert_eq!(
        router.get("/{*path}").and_then(|v| v.as_str()),
        Some("not-found"),
        "catch-all"
    );
}

/// The resource block of `function` in the template (up to the next resource).
fn function_block<'a>(template: &'a str, function: &str) -> &'a str {
    let binary = template
        .find(&format!("Binary: {function}\n"))
        .unwrap_or_else(|| panic!("{function} missing"));
    let start = template[..binary].rfind("\n  ").expect("a resource header");
    let end = template[binary..]
        .find("\n\n  ")
        .map_or(template.len(), |n| binary + n);
    &template[start..end]
}

/// Every POST takes `Idempotency-Key` (SPEC §9): its function claims the key
/// (PutItem), records the answer (UpdateItem) and gives the key up after a
/// 503 (DeleteItem) — in AWS a missing permission is a 500 on exactly the
/// retried requests the key exists for.
#[test]
fn every_post_function_may_claim_record_and_release_idempotency_keys() {
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    for endpoint in routes::ALL.iter().filter(|e| e.method == "POST") {
        let block = function_block(&template, endpoint.function);
        for action in [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ] {
            assert!(
                block.contains(action),
                "{} lacks {action} for Idempotency-Key",
                endpoint.function
            );
        }
    }
}

#[test]
fn the_template_declares_every_function_and_route() {
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    for endpoint in routes::ALL {
        assert!(
            template.contains(&format!("Binary: {}\n", endpoint.function)),
            "{} missing",
            endpoint.function
        );
        let path = if endpoint.path.contains('{') {
            format!("\"{}\"", endpoint.path)
        } else {
            endpoint.path.to_owned()
        };
        assert!(
            template.contains(&format!("Method: {}, Path: {} }}", endpoint.method, path)),
            "route {} {} missing from the template",
            endpoint.method,
            endpoint.path
        );
    }
    assert!(
        template.contains("Binary: not-found\n")
            && template.contains("Method: ANY, Path: $default")
    );
    let log_groups = template.matches("Type: AWS::Logs::LogGroup").count();
    assert_eq!(
        log_groups,
        all_functions().len(),
        "every function has a log group with retention"
    );
    let declared = template.matches("BuildMethod: rust-cargolambda").count();
    assert_eq!(
        declared,
        all_functions().len(),
        "one function per binary, no more"
    );
}

#[test]
fn a_deployed_stack_never_fetches_over_plain_http_or_from_loopback() {
    // SPEC §16: the local stacks' switch, set by scripts/lib.sh, is never
    // a variable of the template (a comment may name it).
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let set = template
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .any(|line| line.contains("TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP"));
    assert!(!set, "the template switches loopback HTTP on");
    let scripts = std::fs::read_to_string(root().join("scripts/lib.sh")).unwrap();
    assert!(scripts.contains("export TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP=true"));
}

#[test]
fn the_published_openapi_document_is_the_route_table() {
    let text = std::fs::read_to_string(root().join("docs/openapi.json")).unwrap();
    let published: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        published == tether::openapi::document(),
        "docs/openapi.json is stale: run `make openapi`"
    );
    let mut operations = BTreeSet::new();
    for (path, item) in published["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.insert((
                method.to_uppercase(),
                path.clone(),
                operation["operationId"].as_str().unwrap().to_owned(),
            ));
        }
    }
    // The SCIM surface is described by its own discovery endpoints.
    let routes: BTreeSet<_> = routes::documented()
        .map(|e| {
            (
                e.method.to_owned(),
                e.path.to_owned(),
                e.function.to_owned(),
            )
        })
        .collect();
    assert!(routes::documented().count() < routes::ALL.len());
    assert_eq!(
        operations, routes,
        "one OpenAPI operation per route but SCIM's, named after its function"
    );
}

/// Every function with a credential reads its organization the way the
/// pipeline does, which in AWS needs more than `GetItem`: the organization
/// and its policies in one `BatchGetItem` (a cold function, a service's
/// request) and, for an organization whose relationship counter is sharded,
/// a `Query` of its shards. The emulators check no IAM, so without this test
/// a missing action is a 500 that only AWS shows — on a pro organization's
/// first request to a cold function.
#[test]
fn every_authenticated_function_may_read_an_organization_as_the_pipeline_does() {
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    for endpoint in routes::ALL
        .iter()
        .filter(|e| e.credential != tether::endpoint::Credential::None)
    {
        let block = function_block(&template, endpoint.function);
        for action in [
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
        ] {
            assert!(
                block.contains(action),
                "{} lacks {action}, which the pipeline's organization read needs",
                endpoint.function
            );
        }
    }
    // Creating an end user may query its organization's counter shards (a
    // full shard), and the purge uncounts one.
    for function in ["create-end-user", "purge-end-user"] {
        assert!(
            function_block(&template, function).contains("dynamodb:Query"),
            "{function} lacks dynamodb:Query for the relationship shards"
        );
    }
}

/// SPEC §16: the deployment's own API host names are refused by default,
/// from the template itself: it writes both APIs' execute-api names into
/// the parameter every function that fetches customers' URLs reads (by
/// name: the APIs depend on the functions), and lets them read it.
#[test]
fn the_template_itself_names_its_own_api_hosts_to_the_fetching_functions() {
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let name = "/tether/${Stage}/own-hostnames";
    let parameter = template
        .split("\n  OwnHostnamesParameter:\n")
        .nth(1)
        .expect("the template writes the own-hostnames parameter");
    let parameter = &parameter[..parameter.find("\n\n").unwrap_or(parameter.len())];
    for part in [
        format!("Name: !Sub \"{name}\""),
        "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}".to_owned(),
        "${UserApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}".to_owned(),
        "!Ref OwnHostnames".to_owned(),
    ] {
        assert!(parameter.contains(&part), "the parameter lacks {part}");
    }
    assert!(template.contains(&format!("TETHER_OWN_HOSTNAMES_PARAMETER: !Sub \"{name}\"")));
    let fetching = tether::routes::ALL
        .iter()
        .filter(|e| e.needs.own_hostnames)
        .map(|e| e.function)
        .chain(["deliver-webhooks"]);
    let mut count = 0;
    for function in fetching {
        count += 1;
        assert!(
            function_block(&template, function)
                .contains("parameter/tether/${Stage}/own-hostnames\""),
            "{function} cannot read the API's own host names"
        );
    }
    assert!(count >= 6);
}

/// SPEC §9: every function taking POSTs may read the idempotency key.
#[test]
fn every_post_function_may_read_the_idempotency_key() {
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    assert!(template.contains("TETHER_IDEMPOTENCY_KEY_PARAMETER: !Ref IdempotencyKeyParameter"));
    for endpoint in tether::routes::ALL.iter().filter(|e| e.method == "POST") {
        assert!(
            function_block(&template, endpoint.function)
                .contains("parameter${IdempotencyKeyParameter}\""),
            "{} cannot read the idempotency key",
            endpoint.function
        );
    }
}

/// docs/security.md (and the SSO guide's security table) names the test
/// behind every claim: each `file.rs::name` it names is a function of that
/// file (tests/api/ unless the path says otherwise), so a renamed or
/// removed test cannot leave a claim unbacked.
#[test]
fn every_test_docs_security_names_exists() {
    let doc = ["docs/security.md", "docs/sso.md"]
        .map(|doc| std::fs::read_to_string(root().join(doc)).unwrap())
        .join("\n");
    let mut named = 0;
    for span in doc.split('`').skip(1).step_by(2) {
        let Some((file, rest)) = span.split_once(".rs::") else {
            continue;
        };
        let path = if file.contains('/') {
            root().join(format!("{file}.rs"))
        } else {
            root().join(format!("tests/api/{file}.rs"))
        };
        let names = rest.split(", ").map(|n| n.trim_start_matches("`"));
        let source = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "docs/security.md names {}, which does not exist",
                path.display()
            )
        });
        for name in names {
            let name = name.split_whitespace().next().unwrap_or_default();
            assert!(
                source.contains(&format!("fn {name}(")),
                "docs/security.md names {file}.rs::{name}, which is not a function there"
            );
            named += 1;
        }
    }
    assert!(named >= 40, "only {named} tests named");
}

/// Every operation of the API reference has a description and a request
/// (when it takes a body) and response example, each valid against its
/// schema.
#[test]
fn every_operation_is_described_with_examples_its_schemas_accept() {
    let checked = tether_tests::contract::check_examples();
    assert!(checked >= 60, "{checked} examples");
}
