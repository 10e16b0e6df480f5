//! The SCIM surface (SPEC §18): discovery, Users as end users, uniqueness
//! per directory, filters and pages, ETags, suspension from the next request,
//! deletion, and the surface's own credential, envelope and limiter.

use serde_json::{Value, json};
use tether_tests::scim::{CONTENT_TYPE, Directory, PATCH_OP, USER, assert_scim_error};
use tether_tests::{TestApp, id, spawn_app};

async fn mint(app: &TestApp, user_id: &str) -> tether_tests::TestResponse {
    app.request("POST", &format!("/v1/end-users/{user_id}/tokens"))
        .json(&json!({}))
        .send()
        .await
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.request("GET", "/v1/me")
        .bearer(token)
        .send()
        .await
        .status
}

#[tokio::test]
async fn discovery_describes_what_is_stored_in_scims_own_content_type() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let config = dir.get("/ServiceProviderConfig").await.assert_status(200);
    assert!(
        config
            .header("content-type")
            .is_some_and(|t| t.starts_with(CONTENT_TYPE))
    );
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], false);
    assert_eq!(config.body["filter"]["maxResults"], 100);
    assert_eq!(config.body["etag"]["supported"], true);
    let types = dir.get("/ResourceTypes").await.assert_status(200);
    let served: Vec<&str> = types.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        served,
        vec!["/Users", "/Groups"],
        "what is served is listed"
    );
    let user_type = dir.get("/ResourceTypes/User").await.assert_status(200);
    assert_eq!(user_type.body["endpoint"], "/Users");
    let schema = dir
        .get(&format!("/Schemas/{USER}"))
        .await
        .assert_status(200);
    let names: Vec<&str> = schema.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(
        names.contains(&"userName") && !names.contains(&"password"),
        "{names:?}"
    );
    assert_scim_error(&dir.get("/ResourceTypes/Nothing").await, 404, None);
    // A path no route serves, under the SCIM base: SCIM's own 404.
    for path in ["/Nothing", "/Users/a/b"] {
        assert_scim_error(&dir.get(path).await, 404, None);
    }
    // A served path with another method: 405 and what it serves.
    for (method, path, allow) in [
        ("POST", "/ServiceProviderConfig", "GET"),
        ("DELETE", "/Schemas", "GET"),
        ("PUT", "/Users", "GET, POST"),
        ("POST", "/Groups/x", "GET, PUT, PATCH, DELETE"),
    ] {
        let res = dir.request(method, path).send().await;
        assert_scim_error(&res, 405, None);
        assert_eq!(res.header("allow"), Some(allow), "{method} {path}");
    }
    // What the service provider does not support: 501 (RFC 7644 §3.12).
    for (method, path) in [
        ("POST", "/.search"),
        ("POST", "/Users/.search"),
        ("POST", "/Bulk"),
    ] {
        assert_scim_error(&dir.request(method, path).send().await, 501, None);
    }
    assert_scim_error(&dir.get("/Schemas/urn:nothing").await, 404, None);
}

#[tokio::test]
async fn a_scim_user_is_an_end_user_of_its_directory_and_keeps_no_password() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let body = json!({
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let created = dir.send("POST", "/Users", &body).await.assert_status(201);
    let user = &created.body;
    let user_id = id(user);
    assert_eq!(user["userName"], "test.user@okta.local");
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(user["meta"]["version"], "\"1\"");
    assert!(
        created
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/scim/v2/{}/Users/{user_id}", dir.id))),
        "{:?}",
        created.header("location")
    );
    assert!(user.get("password").is_none() && user.get("groups").is_none());
    let end_user = app
        .get(&format!("/v1/end-users/{user_id}"))
        .await
        .assert_status(200);
    assert_eq!(end_user.body["email"], "test.user@okta.local");
    assert_eq!(end_user.body["display_name"], "Test User");
    assert_eq!(end_user.body["external_id"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(
        end_user.body["directory"],
        json!({"directory_id": dir.id, "user_name": "test.user@okta.local", "active": true})
    );
    let got = dir
        .get(&format!("/Users/{user_id}"))
        .await
        .assert_status(200);
    assert_eq!(got.body, created.body);
    let table = format!("{:?}", crate::table_items(&app).await);
    assert!(!table.contains("1mz050nq"), "the password was stored");
    // An end user of the organization API is no user of the directory.
    let api_user = app.create_user(json!({"email": "api@example.com"})).await;
    assert_scim_error(
        &dir.get(&format!("/Users/{}", id(&api_user))).await,
        404,
        None,
    );
}

#[tokio::test]
async fn user_names_are_unique_per_directory_case_insensitively_even_in_parallel() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let bodies: Vec<Value> = (0..10)
        .map(|n| {
            let name = if n % 2 == 0 {
                "Ada@Example.com"
            } else {
                "ada@example.com"
            };
            json!({"schemas": [USER], "userName": name, "externalId": format!("x{n}")})
        })
        .collect();
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| dir.send("POST", "/Users", b))).await;
    assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1);
    for refused in answers.iter().filter(|r| r.status != 201) {
        assert_scim_error(refused, 409, Some("uniqueness"));
    }
    // externalId too, exactly.
    let taken = json!({"schemas": [USER], "userName": "other", "externalId": "x0"});
    let created = answers.iter().find(|r| r.status == 201).unwrap();
    let outcome = dir.send("POST", "/Users", &taken).await;
    if created.body["externalId"] == "x0" {
        assert_scim_error(&outcome, 409, Some("uniqueness"));
    } else {
        outcome.assert_status(201);
    }
    // Another directory is another namespace.
    let other = Directory::create(&app).await;
    other.create_user("ada@example.com").await;
    assert_eq!(
        dir.get("/Users").await.body["totalResults"],
        1 + u64::from(created.body["externalId"] != "x0")
    );
}

#[tokio::test]
async fn filters_find_users_by_their_keys_and_pages_follow_start_index_and_count() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(id(&dir.create_user(&format!("u{n}@example.com")).await).to_owned());
    }
    let query = |filter: &str| format!("/Users?filter={}", urlencode(filter));
    for (filter, expected) in [
        (r#"userName eq "U3@EXAMPLE.com""#, Some(3)),
        (&format!(r#"id eq "{}""#, ids[1]) as &str, Some(1)),
        (
            r#"emails[type eq "work"].value eq "u2@example.com""#,
            Some(2),
        ),
        (r#"emails.value eq "u4@example.com""#, Some(4)),
        (
            r#"userName eq "u0@example.com" and active eq true"#,
            Some(0),
        ),
        (r#"userName eq "u0@example.com" and active eq false"#, None),
        (r#"userName eq "nobody@example.com""#, None),
    ] {
        let res = dir.get(&query(filter)).await.assert_status(200);
        let found: Vec<&str> = res.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = expected.map(|n| ids[n].as_str()).into_iter().collect();
        assert_eq!(found, want, "{filter}");
        assert_eq!(res.body["totalResults"], want.len(), "{filter}");
    }
    for unsupported in [
        r#"userName co "u""#,
        r#"userName eq "a" or userName eq "b""#,
        "active eq true",
        "userName eq u1",
    ] {
        assert_scim_error(
            &dir.get(&query(unsupported)).await,
            400,
            Some("invalidFilter"),
        );
    }
    let page = dir
        .get("/Users?startIndex=2&count=2")
        .await
        .assert_status(200);
    assert_eq!(page.body["totalResults"], 5);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    let listed: Vec<&str> = page.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[1].as_str(), ids[2].as_str()]);
    let none = dir.get("/Users?count=0").await.assert_status(200);
    assert_eq!(none.body["totalResults"], 5);
    assert_eq!(none.body["Resources"], json!([]));
    let projected = dir
        .get(&format!("/Users/{}?attributes=userName", ids[0]))
        .await
        .assert_status(200);
    assert_eq!(projected.body["userName"], "u0@example.com");
    assert!(projected.body.get("emails").is_none() && projected.body["id"] == ids[0].as_str());
    assert_scim_error(
        &dir.get("/Users?count=many").await,
        400,
        Some("invalidValue"),
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_token_is_the_directorys_alone_and_stops_at_once_when_rolled() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let user = dir.create_user("ada@example.com").await;
    let other = Directory::create(&app).await;
    // Another directory's token on this directory's path, none, a bad one.
    let foreign = app
        .request("GET", &format!("/scim/v2/{}/Users", dir.id))
        .bearer(&other.token)
        .send()
        .await;
    assert_scim_error(&foreign, 401, None);
    let none = app
        .request("GET", &format!("/scim/v2/{}/Users", dir.id))
        .no_key()
        .send()
        .await;
    assert_scim_error(&none, 401, None);
    // Another directory's user is not found with its own token.
    assert_scim_error(
        &other.get(&format!("/Users/{}", id(&user))).await,
        404,
        None,
    );
    assert_scim_error(
        &dir.get("/Users/010101001010101011001010101011").await,
        404,
        None,
    );
    // A warm function has the token cached: the roll stops it at once.
    let warm = app.cold_instance();
    let warm_get = |token: String| {
        let warm = &warm;
        let path = format!("/scim/v2/{}/Users", dir.id);
        async move { warm.request("GET", &path).bearer(&token).send().await }
    };
    warm_get(dir.token.clone()).await.assert_status(200);
    let rolled = app
        .post_empty(&format!("/v1/directories/{}/roll-token", dir.id))
        .await
        .assert_status(200);
    assert_scim_error(&warm_get(dir.token.clone()).await, 401, None);
    let new_token = rolled.body["bearer_token"].as_str().unwrap().to_owned();
    warm_get(new_token.clone()).await.assert_status(200);
    app.delete(&format!("/v1/directories/{}", dir.id))
        .await
        .assert_status(204);
    assert_scim_error(&warm_get(new_token).await, 401, None);
    // The directory's users stay end users of the organization.
    app.get(&format!("/v1/end-users/{}", id(&user)))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn suspension_applies_from_the_next_request_and_reactivation_restores_minting() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let user = dir.create_user("ada@example.com").await;
    let user_id = id(&user).to_owned();
    let minted = mint(&app, &user_id).await.assert_status(201);
    let before = minted.body["access_token"].as_str().unwrap().to_owned();
    let warm = app.cold_instance();
    assert_eq!(
        warm.request("GET", "/v1/me")
            .bearer(&before)
            .send()
            .await
            .status,
        200
    );
    // Okta's deactivation: a path-less replace.
    let suspended = dir
        .patch_user(
            &user_id,
            json!({"op": "replace", "value": {"active": false}}),
        )
        .await
        .assert_status(200);
    assert_eq!(suspended.body["active"], false);
    assert_eq!(
        warm.request("GET", "/v1/me")
            .bearer(&before)
            .send()
            .await
            .status,
        401
    );
    mint(&app, &user_id)
        .await
        .assert_error(409, "user_suspended");
    let shown = app.get(&format!("/v1/end-users/{user_id}")).await;
    assert_eq!(shown.body["directory"]["active"], false);
    // A PUT without `active` keeps the suspension.
    let put = json!({"schemas": [USER], "userName": "ada@example.com", "displayName": "Ada"});
    let replaced = dir
        .send("PUT", &format!("/Users/{user_id}"), &put)
        .await
        .assert_status(200);
    assert_eq!(replaced.body["active"], false);
    assert_eq!(replaced.body["displayName"], "Ada");
    mint(&app, &user_id)
        .await
        .assert_error(409, "user_suspended");
    // Entra's form: a capitalised op and a "True" string.
    dir.patch_user(
        &user_id,
        json!({"op": "Replace", "path": "active", "value": "True"}),
    )
    .await
    .assert_status(200);
    let after = mint(&app, &user_id).await.assert_status(201);
    let after = after.body["access_token"].as_str().unwrap();
    assert_eq!(me(&app, after).await, 200);
    assert_eq!(
        me(&app, &before).await,
        401,
        "tokens of before the suspension stay refused"
    );
}

#[tokio::test]
async fn if_match_is_part_of_the_write_and_one_of_ten_parallel_patches_wins() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let user_id = id(&dir.create_user("ada@example.com").await).to_owned();
    let path = format!("/Users/{user_id}");
    let body = |n: usize| json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": format!("v{n}")}]});
    let stale = dir
        .request("PATCH", &path)
        .header("If-Match", "\"7\"")
        .raw_body(CONTENT_TYPE, &body(0).to_string())
        .send()
        .await;
    assert_scim_error(&stale, 412, None);
    let bodies: Vec<String> = (0..10).map(|n| body(n).to_string()).collect();
    let answers = futures_util::future::join_all(bodies.iter().map(|b| {
        dir.request("PATCH", &path)
            .header("If-Match", "\"1\"")
            .raw_body(CONTENT_TYPE, b)
            .send()
    }))
    .await;
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 1);
    for refused in answers.iter().filter(|r| r.status != 200) {
        assert_scim_error(refused, 412, None);
    }
    let got = dir.get(&path).await.assert_status(200);
    assert_eq!(got.header("etag"), Some("\"2\""));
    // Without If-Match, parallel changes all land, one after the other.
    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| dir.request("PATCH", &path).raw_body(CONTENT_TYPE, b).send()),
    )
    .await;
    // Those that kept losing are asked to retry, as the identity provider does.
    for answer in &answers {
        match answer.status {
            200 => {}
            429 => assert!(answer.header("retry-after").is_some(), "{}", answer.text),
            _ => panic!("{}", answer.text),
        }
    }
    assert!(answers.iter().filter(|r| r.status == 200).count() >= 3);
}

#[tokio::test]
async fn a_deleted_user_is_gone_from_scim_and_its_user_name_free_at_once() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let user_id = id(&dir.create_user("ada@example.com").await).to_owned();
    let path = format!("/Users/{user_id}");
    let deleted = dir.request("DELETE", &path).send().await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_scim_error(&dir.get(&path).await, 404, None);
    assert_scim_error(&dir.request("DELETE", &path).send().await, 404, None);
    let shown = app.get(&format!("/v1/end-users/{user_id}")).await;
    assert_eq!(shown.body["status"], "deleting");
    let again = dir.create_user("ada@example.com").await;
    assert_ne!(id(&again), user_id);
    assert_eq!(dir.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn bad_scim_bodies_are_400s_with_their_scim_type_and_write_nothing() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let user_id = id(&dir.create_user("ada@example.com").await).to_owned();
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("POST", "/Users".into(), r#"{"not": "a scim resource"}"#.into(), "invalidSyntax"),
        ("POST", "/Users".into(), "{".into(), "invalidSyntax"),
        ("POST", "/Users".into(), json!({"schemas": [USER]}).to_string(), "invalidValue"),
        ("POST", "/Users".into(), json!({"schemas": [USER], "userName": 5}).to_string(), "invalidValue"),
        ("PATCH", format!("/Users/{user_id}"), json!({"schemas": [PATCH_OP], "Operations": [{"op": "explode", "path": "displayName"}]}).to_string(), "invalidValue"),
        ("PATCH", format!("/Users/{user_id}"), json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]}).to_string(), "noTarget"),
        ("PATCH", format!("/Users/{user_id}"), json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]}).to_string(), "invalidPath"),
        ("PUT", format!("/Users/{user_id}"), json!({"schemas": [USER], "id": "another", "userName": "x"}).to_string(), "mutability"),
    ];
    for (method, path, body, scim_type) in cases {
        let res = dir
            .request(method, &path)
            .raw_body(CONTENT_TYPE, &body)
            .send()
            .await;
        assert_scim_error(&res, 400, Some(scim_type));
    }
    let wrong_type = dir
        .request("POST", "/Users")
        .raw_body("text/plain", "userName=ada")
        .send()
        .await;
    assert_scim_error(&wrong_type, 400, Some("invalidSyntax"));
    let got = dir
        .get(&format!("/Users/{user_id}"))
        .await
        .assert_status(200);
    assert_eq!(got.header("etag"), Some("\"1\""), "nothing was written");
    // An attribute the schemas do not declare is dropped, as on creation
    // (identity providers send their own), and named in the log line.
    let undeclared = dir
        .patch_user(
            &user_id,
            json!({"op": "replace", "path": "roles", "value": [{"value": "x"}]}),
        )
        .await
        .assert_status(200);
    assert!(undeclared.body.get("roles").is_none());
    assert_eq!(dir.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn scim_requests_are_charged_to_the_organization_and_refused_with_retry_after() {
    let app = tether_tests::spawn_app_with(
        tether::organizations::Plan::Free,
        tether::organizations::LimitOverrides {
            burst: Some(4),
            relationship_ceiling: Some(1),
            ..tether_tests::UNLIMITED
        },
    )
    .await;
    let dir = Directory::create(&app).await;
    dir.create_user("one@example.com").await;
    let over = json!({"schemas": [USER], "userName": "two@example.com"});
    assert_scim_error(&dir.send("POST", "/Users", &over).await, 403, None);
    let mut refused = None;
    for _ in 0..10 {
        let res = dir.get("/ServiceProviderConfig").await;
        if res.status == 429 {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("the organization's bucket ran out");
    assert_scim_error(&refused, 429, None);
    assert!(refused.header("retry-after").is_some());
    // The organization API shares the bucket.
    assert_eq!(app.get("/v1/end-users").await.status, 429);
}

/// The catch-all's table of SCIM paths is the route table's: every SCIM
/// route's method is among its path's, and every method a path lists is a
/// route.
#[test]
fn the_catch_alls_scim_paths_are_the_route_tables() {
    use tether::api::scim::PATHS;
    let scim: Vec<_> = tether::routes::ALL
        .iter()
        .filter(|e| e.path.starts_with("/scim/v2/{directory_id}/"))
        .collect();
    let shape = |path: &str| -> Vec<String> {
        path.trim_start_matches("/scim/v2/{directory_id}/")
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "*".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    for (segments, allow) in PATHS {
        let mut routed: Vec<&str> = scim
            .iter()
            .filter(|e| shape(e.path) == *segments)
            .map(|e| e.method)
            .collect();
        let mut listed: Vec<&str> = allow.split(", ").collect();
        routed.sort();
        listed.sort();
        assert_eq!(routed, listed, "{segments:?}");
    }
    for endpoint in &scim {
        assert!(
            PATHS
                .iter()
                .any(|(segments, _)| shape(endpoint.path) == *segments),
            "{} is not in the catch-all's table",
            endpoint.path
        );
    }
}
