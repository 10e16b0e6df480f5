//! The bad-input corpus: every endpoint, fed malformed JSON, wrong
//! types, huge and deeply nested bodies, NUL bytes, unicode edge cases,
//! invalid UTF-8, wrong or missing content types, missing and duplicated
//! credentials. Never a 5xx; every 4xx is the JSON envelope with a request id
//! and leaves the table as it was.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tether::routes::{self, Credential, Endpoint};
use tether_tests::As;
use tether_tests::id;
use tether_tests::{TestApp, TestRequest, TestResponse, spawn_app};

type Snapshot = BTreeMap<(String, String), String>;

/// The table's items, but the counters every request may move (rate
/// buckets, idempotency records).
async fn snapshot(app: &TestApp) -> Snapshot {
    let items = crate::table_items(app).await;
    items
        .iter()
        .filter_map(|item| {
            let pk = item.get("PK").and_then(|v| v.as_s().ok())?.clone();
            let sk = item.get("SK").and_then(|v| v.as_s().ok())?.clone();
            // Rate buckets, idempotency records, and what the portal lists
            // of any request: a directory's latest SCIM requests, refusals.
            let moving = pk.starts_with("LIMIT#")
                || pk.starts_with("IDEMP#")
                || pk.starts_with("SCIMLOG#")
                || sk.starts_with("REFUSED#");
            let sorted: BTreeMap<&String, &AttributeValue> = item.iter().collect();
            (!moving).then(|| ((pk, sk), format!("{sorted:?}")))
        })
        .collect()
}

struct World {
    app: TestApp,
    params: BTreeMap<&'static str, String>,
    user_token: String,
    service_token: String,
    directory_token: String,
    portal_cookie: String,
    group: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = app
        .create_user(json!({"email": "corpus@example.com"}))
        .await;
    let user_id = id(&user).to_owned();
    let identity = app
        .post(
            &format!("/v1/users/{user_id}/identities"),
            &json!({"identity_provider_id": provider, "external_id": "corpus"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (service, service_token) = app.create_service(&[]).await;
    let claimed = app.create_connect_token(&service).await;
    let relation = app
        .send_as(
            "POST",
            &format!("/api/v1/external-services/{service}/organization-relations/claim"),
            As::Bearer(&service_token),
            Some(&json!({"connectToken": claimed["token"], "externalOrganizationId": "corpus"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending = app.create_connect_token(&service).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_token = app.user_token(&user);
    let directory = tether_tests::scim::Directory::create(&app).await;
    directory.create_user("corpus@example.com").await;
    let directory_token = directory.token.clone();
    let group_body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Corpus"});
    let group = id(&directory
        .send("POST", "/Groups", &group_body)
        .await
        .assert_status(201)
        .body)
    .to_owned();
    let (admin, _) = tether_tests::portal::Admin::signed_in(&app, "all").await;
    let portal_cookie = admin
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let params = BTreeMap::from([
        ("directory_id", directory.id.clone()),
        ("name", "User".to_owned()),
        ("urn", tether_tests::scim::USER.to_owned()),
        ("user_id", user_id),
        ("identity_id", identity),
        ("id", pending),
        ("relation_id", relation),
        (
            "delivery_id",
            tether::ids::WebhookDeliveryId::generate().to_string(),
        ),
        ("externalServiceId", service),
        ("organizationId", app.org_id.to_string()),
        ("externalUserId", "corpus-user".to_owned()),
    ]);
    World {
        app,
        params,
        user_token,
        service_token,
        directory_token,
        portal_cookie,
        group,
    }
}

impl World {
    fn path(&self, endpoint: &Endpoint) -> String {
        let mut path = endpoint.path.to_owned();
        for (name, value) in &self.params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        path
    }

    /// A request to `endpoint` with its proper credential.
    fn request(&self, endpoint: &Endpoint) -> TestRequest<'_> {
        self.request_to(endpoint, &self.path(endpoint))
    }

    /// [`Self::request`] to `path` (the endpoint's, with a query).
    fn request_to(&self, endpoint: &Endpoint, path: &str) -> TestRequest<'_> {
        let req = self.app.request(endpoint.method, path);
        match endpoint.credential {
            Credential::ApiKey => req,
            Credential::UserToken => req.bearer(&self.user_token),
            Credential::ServiceToken => req.bearer(&self.service_token),
            Credential::DirectoryToken => req.bearer(&self.directory_token),
            Credential::PortalSession => req.no_key().header("cookie", &self.portal_cookie),
            Credential::None => req.no_key(),
        }
    }
}

fn assert_clean(endpoint: &Endpoint, case: &str, res: &TestResponse) {
    let what = format!(
        "{} {} [{case}]: {} {}",
        endpoint.method, endpoint.path, res.status, res.text
    );
    assert!(res.status < 500, "a 5xx: {what}");
    let request_id = res
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id: {what}"));
    if res.status >= 400 && endpoint.surface == tether::error::Surface::Scim {
        // SCIM's envelope: the request id ends its `detail`.
        assert_eq!(
            res.header("content-type"),
            Some(tether::pipeline::SCIM_CONTENT_TYPE),
            "{what}"
        );
        let detail = res.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.ends_with(&format!("(request {request_id})")),
            "{what}"
        );
    } else if res.status >= 400 && endpoint.portal {
        // A page: the request id shown for support.
        assert_eq!(
            res.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{what}"
        );
        assert!(res.text.contains(request_id), "{what}");
    } else if res.status >= 400 {
        assert_eq!(
            res.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{what}"
        );
        let envelope_id = res
            .body
            .get("requestId")
            .or_else(|| res.body["error"].get("requestId"));
        assert_eq!(
            envelope_id.and_then(Value::as_str),
            Some(request_id),
            "{what}"
        );
    }
}

#[tokio::test]
async fn every_endpoint_refuses_bad_input_cleanly_and_changes_nothing() {
    let w = world().await;
    let deep = "[".repeat(300) + &"]".repeat(300);
    let huge = json!({"metadata": {"x": "y".repeat(70 * 1024)}}).to_string();
    let bodies: Vec<(&str, &str, String)> = vec![
        ("malformed JSON", "application/json", "{\"a\":".into()),
        ("wrong top-level type", "application/json", "[1,2,3]".into()),
        ("wrong field types", "application/json", r#"{"email":[],"metadata":"x","external_id":{},"subscription":7,"connectToken":false,"identity_provider_id":1}"#.into()),
        ("huge", "application/json", huge),
        ("deep nesting", "application/json", deep),
        ("NUL bytes", "application/json", "{\"email\":\"a\\u0000@b.co\",\"external_id\":\"\\u0000\"}".into()),
        ("lone surrogate", "application/json", r#"{"display_name":"\udc00"}"#.into()),
        ("unicode oddities", "application/json", "{\"display_name\":\"\u{202e}\u{fffd}\u{1f980}\",\"email\":\"\u{ff41}@b.co\"}".into()),
        ("wrong content type", "text/xml", "<a/>".into()),
        ("no content type", "", "{}".into()),
    ];
    for endpoint in routes::ALL {
        let mut before = snapshot(&w.app).await;
        for (case, content_type, body) in &bodies {
            let res = w
                .request(endpoint)
                .raw_body(content_type, body)
                .send()
                .await;
            assert_clean(endpoint, case, &res);
            let after = snapshot(&w.app).await;
            if res.status >= 400 {
                assert!(
                    after == before,
                    "{} {} [{case}] changed the table with a {}",
                    endpoint.method,
                    endpoint.path,
                    res.status
                );
            }
            // Some of these are valid for some endpoints (GET ignores bodies,
            // odd unicode is still text): those may change what they change.
            before = after;
        }
        let res = w
            .request(endpoint)
            .binary_body("application/json", b"{\"a\":\"\xff\xfe\"}")
            .send()
            .await;
        assert_clean(endpoint, "invalid UTF-8", &res);

        // Credentials: missing, and sent twice (API Gateway joins them with a comma).
        if endpoint.credential != Credential::None {
            let state = snapshot(&w.app).await;
            let missing = w
                .app
                .request(endpoint.method, &w.path(endpoint))
                .no_key()
                .json(&json!({}))
                .send()
                .await;
            assert_clean(endpoint, "no credential", &missing);
            assert_eq!(missing.status, 401, "{} {}", endpoint.method, endpoint.path);
            let doubled = match endpoint.credential {
                Credential::ApiKey => w.request(endpoint).header("x-api-key", &w.app.admin_key),
                Credential::UserToken => w
                    .request(endpoint)
                    .header("authorization", &format!("Bearer {}", w.user_token)),
                // Two session cookies (a cookie tossed beside ours): neither.
                Credential::PortalSession => w.request(endpoint).header("cookie", &w.portal_cookie),
                _ => w
                    .request(endpoint)
                    .header("authorization", &format!("Bearer {}", w.service_token)),
            };
            let doubled = doubled.json(&json!({})).send().await;
            assert_clean(endpoint, "credential twice", &doubled);
            assert_eq!(doubled.status, 401, "{} {}", endpoint.method, endpoint.path);
            assert!(
                snapshot(&w.app).await == state,
                "refused credentials changed the table"
            );
        }
    }
}

/// SPEC §4: a cursor, however crafted — numbers past `u64`, the end of the
/// number line, reversed ranges, another list's cursor, text that is no
/// cursor — is a 400 `invalid_query_parameter` or a valid page on every
/// list, never a 5xx (the suite runs debug builds: an overflow would panic).
#[tokio::test]
async fn crafted_cursors_are_a_400_or_a_page_on_every_list() {
    use base64::Engine as _;
    let mut w = world().await;
    let hook = w
        .app
        .create_webhook_endpoint("http://127.0.0.1:9/hooks")
        .await;
    let uuid = tether::ids::EndUserId::generate().to_string();
    let tags = [
        "u1:", "ue1:", "ux1:", "o1:", "r1:", "ev1:", "i1:", "k1:", "p1:", "w1:", "d1:", "g1:",
        "gm1:",
    ];
    let payloads = [
        "18446744073709551616".to_owned(),
        "340282366920938463463374607431768211456".to_owned(),
        "18446744073709551615".to_owned(),
        "18446744073709551614".to_owned(),
        "1844674407370955161".to_owned(),
        "-1".to_owned(),
        "0".to_owned(),
        String::new(),
        "ffffffff-ffff-ffff-ffff-ffffffffffff".to_owned(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
        format!("{uuid}.{uuid}"),
        format!("{uuid}."),
        "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned(),
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
        uuid.clone(),
    ];
    let mut cursors: Vec<String> = Vec::new();
    for tag in tags {
        for payload in &payloads {
            cursors.push(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tag}{payload}")),
            );
        }
    }
    cursors.extend(["!!", "%00", "dTE6", "=", &"A".repeat(2000)].map(str::to_owned));
    let lists: Vec<&Endpoint> = routes::ALL
        .iter()
        .filter(|e| e.method == "GET" && (e.docs.paginated || e.function == "list-events"))
        .collect();
    assert!(lists.len() >= 9, "every list: {}", lists.len());
    for endpoint in lists {
        let name = if endpoint.function == "list-events" {
            "after"
        } else {
            "cursor"
        };
        if endpoint.path.starts_with("/v1/groups/") {
            w.params.insert("id", w.group.clone());
        } else if endpoint.path.contains("{id}") {
            w.params.insert("id", id(&hook).to_owned());
        }
        let mut pages = 0;
        for cursor in &cursors {
            // A service's bucket is its own (50 rps): the test's clock moves on.
            w.app.clock.advance(time::Duration::milliseconds(100));
            let path = format!("{}?{name}={cursor}", w.path(endpoint));
            let res = w.request_to(endpoint, &path).send().await;
            assert_clean(endpoint, cursor, &res);
            match res.status {
                200 => {
                    pages += 1;
                    assert!(res.body["data"].is_array(), "{path}: {}", res.text);
                }
                400 => assert_eq!(
                    res.body["code"]
                        .as_str()
                        .or(res.body["error"]["type"].as_str()),
                    Some(if endpoint.credential == Credential::ServiceToken {
                        "invalid_schema"
                    } else {
                        "invalid_query_parameter"
                    }),
                    "{path}: {}",
                    res.text
                ),
                other => panic!("{path}: {other} {}", res.text),
            }
        }
        // Each list took its own well-formed cursors as pages.
        assert!(pages > 0, "{} never answered a page", endpoint.path);
    }
}
