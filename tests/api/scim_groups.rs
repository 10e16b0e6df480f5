//! SCIM Groups (SPEC §18): a directory's groups of its own users, changed a
//! thousand members at a time with no half-change visible, readable through
//! the organization API, and left by a purged member.

use serde_json::{Value, json};
use tether_tests::scim::{Directory, PATCH_OP, assert_scim_error};
use tether_tests::{TestApp, id, spawn_app};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

async fn group(dir: &Directory<'_>, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({"schemas": [GROUP], "displayName": name, "members": members});
    dir.send("POST", "/Groups", &body)
        .await
        .assert_status(201)
        .body
}

async fn patch(dir: &Directory<'_>, group: &str, operations: Value) -> tether_tests::TestResponse {
    let body = json!({"schemas": [PATCH_OP], "Operations": operations});
    dir.send("PATCH", &format!("/Groups/{group}"), &body).await
}

fn member_values(group: &Value) -> Vec<String> {
    group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `n` users of `dir`, created `at_once` at a time.
async fn users(dir: &Directory<'_>, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}@example.com")).collect();
    for chunk in names.chunks(50) {
        let created =
            futures_util::future::join_all(chunk.iter().map(|n| dir.create_user(n))).await;
        ids.extend(created.iter().map(|u| id(u).to_owned()));
    }
    ids
}

#[tokio::test]
async fn a_group_holds_the_directorys_users_and_its_name_is_unique() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let ada = id(&dir.create_user("ada@example.com").await).to_owned();
    let other = Directory::create(&app).await;
    let foreign = id(&other.create_user("zed@example.com").await).to_owned();
    let api_user = app.create_user(json!({"email": "api@example.com"})).await;
    // Another directory's user, or the organization API's: refused, nothing
    // written; a value naming no end user is kept as sent.
    for stranger in [foreign.as_str(), id(&api_user)] {
        let body = json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": ada}, {"value": stranger}]});
        assert_scim_error(
            &dir.send("POST", "/Groups", &body).await,
            400,
            Some("invalidValue"),
        );
    }
    assert_eq!(dir.get("/Groups").await.body["totalResults"], 0);
    let created = group(&dir, "Engineering", &[&ada, "fake-member-id"]).await;
    assert_eq!(
        member_values(&created),
        vec![ada.clone(), "fake-member-id".to_owned()]
    );
    let sneak = patch(
        &dir,
        id(&created),
        json!([{"op": "add", "path": "members", "value": [{"value": foreign}]}]),
    )
    .await;
    assert_scim_error(&sneak, 400, Some("invalidValue"));
    let unchanged = dir.get(&format!("/Groups/{}", id(&created))).await;
    assert_eq!(unchanged.header("etag"), Some("\"1\""));
    assert_eq!(created["meta"]["resourceType"], "Group");
    // Members come back as sent: no `$ref` (a value may name no end user).
    assert_eq!(created["members"][0], json!({"value": ada}));
    let again = json!({"schemas": [GROUP], "displayName": "ENGINEERING"});
    assert_scim_error(
        &dir.send("POST", "/Groups", &again).await,
        409,
        Some("uniqueness"),
    );
    group(&other, "Engineering", &[]).await;
    // Filters by name (case-insensitively) and id; lists leave members out.
    let by_name = dir
        .get("/Groups?filter=displayName%20eq%20%22engineering%22&excludedAttributes=members")
        .await
        .assert_status(200);
    assert_eq!(by_name.body["totalResults"], 1);
    assert!(by_name.body["Resources"][0].get("members").is_none());
    let listed = dir.get("/Groups").await.assert_status(200);
    assert_eq!(listed.body["totalResults"], 1);
    assert!(listed.body["Resources"][0].get("members").is_none());
    let with_members = dir
        .get("/Groups?attributes=members")
        .await
        .assert_status(200);
    assert_eq!(
        member_values(&with_members.body["Resources"][0]),
        vec![ada.clone(), "fake-member-id".to_owned()]
    );
    // The organization API lists end users only.
    let members = app
        .get(&format!("/v1/groups/{}/members", id(&created)))
        .await
        .assert_status(200);
    assert_eq!(members.data().len(), 1);
    assert_eq!(members.data()[0]["end_user_id"], ada);
    assert_scim_error(
        &other.get(&format!("/Groups/{}", id(&created))).await,
        404,
        None,
    );
}

#[tokio::test]
async fn okta_and_entra_member_patches_add_remove_and_replace() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let ids = users(&dir, "m", 3).await;
    let g = id(&group(&dir, "Sales", &[&ids[0]]).await).to_owned();
    // Okta: a remove by value filter and an add, in one request.
    let okta = patch(
        &dir,
        &g,
        json!([
            {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
            {"op": "add", "path": "members", "value": [{"value": ids[1], "display": "m1@example.com"}]}
        ]),
    )
    .await
    .assert_status(200);
    assert_eq!(member_values(&okta.body), vec![ids[1].clone()]);
    assert_eq!(okta.body["members"][0]["display"], "m1@example.com");
    // Entra: capitalised ops; a remove naming the members in `value`.
    patch(
        &dir,
        &g,
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ids[2]}]}]),
    )
    .await
    .assert_status(200);
    let removed = patch(
        &dir,
        &g,
        json!([{"op": "Remove", "path": "members", "value": [{"value": ids[1]}]}]),
    )
    .await
    .assert_status(200);
    assert_eq!(member_values(&removed.body), vec![ids[2].clone()]);
    // Okta's full push.
    let replaced = patch(
        &dir,
        &g,
        json!([{"op": "replace", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}]}]),
    )
    .await
    .assert_status(200);
    assert_eq!(
        member_values(&replaced.body),
        vec![ids[0].clone(), ids[1].clone()]
    );
    // Okta's rename: path-less, with the group's own id inside.
    let renamed = patch(
        &dir,
        &g,
        json!([{"op": "replace", "value": {"id": g, "displayName": "Sales EMEA"}}]),
    )
    .await
    .assert_status(200);
    assert_eq!(renamed.body["displayName"], "Sales EMEA");
    assert_eq!(renamed.header("etag"), Some("\"6\""), "one version a write");
}

#[tokio::test]
async fn a_thousand_member_patch_lands_whole_and_more_changes_are_refused() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let ids = users(&dir, "k", 1000).await;
    let g = id(&group(&dir, "Everyone", &[]).await).to_owned();
    let members: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
    let readers = async {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..30 {
            let got = app.get(&format!("/v1/groups/{g}")).await.assert_status(200);
            seen.insert(got.body["member_count"].as_u64().unwrap());
            tokio::task::yield_now().await;
        }
        seen
    };
    let add = patch(
        &dir,
        &g,
        json!([{"op": "add", "path": "members", "value": members}]),
    );
    let (seen, added) = tokio::join!(readers, add);
    added.assert_status(200);
    assert!(
        seen.iter().all(|n| *n == 0 || *n == 1000),
        "a reader saw part of the change: {seen:?}"
    );
    let got = dir.get(&format!("/Groups/{g}")).await.assert_status(200);
    assert_eq!(member_values(&got.body).len(), 1000);
    // 1,001 changes in one request: refused, nothing written.
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"value": tether::ids::EndUserId::generate().to_string()}))
        .collect();
    let refused = patch(
        &dir,
        &g,
        json!([{"op": "add", "path": "members", "value": too_many}]),
    )
    .await;
    assert_scim_error(&refused, 400, Some("invalidValue"));
    let after = dir.get(&format!("/Groups/{g}")).await.assert_status(200);
    assert_eq!(after.header("etag"), got.header("etag"));
    // All removed at once.
    let emptied = patch(&dir, &g, json!([{"op": "remove", "path": "members"}]))
        .await
        .assert_status(200);
    assert!(member_values(&emptied.body).is_empty());
}

#[tokio::test]
async fn parallel_member_patches_of_one_group_all_land_or_ask_to_retry() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let ids = users(&dir, "p", 10).await;
    let g = id(&group(&dir, "Busy", &[]).await).to_owned();
    let answers = futures_util::future::join_all(ids.iter().map(|user| {
        patch(
            &dir,
            &g,
            json!([{"op": "add", "path": "members", "value": [{"value": user}]}]),
        )
    }))
    .await;
    let mut landed = Vec::new();
    for (user, answer) in ids.iter().zip(&answers) {
        match answer.status {
            200 => landed.push(user.clone()),
            429 => assert!(answer.header("retry-after").is_some(), "{}", answer.text),
            _ => panic!("{}", answer.text),
        }
    }
    assert!(!landed.is_empty());
    let got = dir.get(&format!("/Groups/{g}")).await.assert_status(200);
    let mut members = member_values(&got.body);
    members.sort();
    landed.sort();
    assert_eq!(members, landed, "every 200 is in, nothing else");
}

async fn org_groups(app: &TestApp, path: &str) -> Vec<String> {
    app.get(path)
        .await
        .assert_status(200)
        .data()
        .iter()
        .map(|g| {
            g["id"]
                .as_str()
                .or(g["end_user_id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn groups_are_readable_through_the_organization_api_and_left_by_a_purged_member() {
    let app = tether_tests::spawn_app_following_stream().await;
    let dir = Directory::create(&app).await;
    let ids = users(&dir, "o", 3).await;
    let a = id(&group(&dir, "A", &[&ids[0], &ids[1]]).await).to_owned();
    let b = id(&group(&dir, "B", &[&ids[1]]).await).to_owned();
    assert_eq!(
        org_groups(&app, "/v1/groups").await,
        vec![a.clone(), b.clone()]
    );
    let got = app.get(&format!("/v1/groups/{a}")).await.assert_status(200);
    assert_eq!(got.body["display_name"], "A");
    assert_eq!(got.body["member_count"], 2);
    assert_eq!(got.body["directory_id"], dir.id);
    let first = app
        .get(&format!("/v1/groups/{a}/members?limit=1"))
        .await
        .assert_status(200);
    assert_eq!(first.data()[0]["end_user_id"], ids[0]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/v1/groups/{a}/members?limit=1&cursor={cursor}"))
        .await
        .assert_status(200);
    assert_eq!(second.data()[0]["end_user_id"], ids[1]);
    assert!(second.body["next_cursor"].is_null());
    let mut of_user = org_groups(&app, &format!("/v1/end-users/{}/groups", ids[1])).await;
    of_user.sort();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(of_user, both);
    // Removed from a group: gone from its list at once.
    patch(&dir, &b, json!([{"op": "remove", "path": "members"}]))
        .await
        .assert_status(200);
    assert_eq!(
        org_groups(&app, &format!("/v1/end-users/{}/groups", ids[1])).await,
        vec![a.clone()]
    );
    // Another organization sees none of it.
    let (_, other_key) = app.create_org("Org B").await;
    app.get_as(&other_key, &format!("/v1/groups/{a}"))
        .await
        .assert_error(404, "not_found");
    app.get_as(&other_key, &format!("/v1/groups/{a}/members"))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        app.get_as(&other_key, "/v1/groups").await.body["data"],
        json!([])
    );
    // Deleted through SCIM and purged: it leaves its groups.
    let deleted = dir
        .request("DELETE", &format!("/Users/{}", ids[0]))
        .send()
        .await;
    assert_eq!(deleted.status, 204);
    let failures =
        tether::purge::handle(&app.app.store, &tether_tests::stream_changes(&app).await).await;
    assert!(failures.is_empty(), "{failures:?}");
    let after = dir.get(&format!("/Groups/{a}")).await.assert_status(200);
    assert_eq!(member_values(&after.body), vec![ids[1].clone()]);
    // A deleted group is gone from both APIs; its members stay.
    assert_eq!(
        dir.request("DELETE", &format!("/Groups/{a}"))
            .send()
            .await
            .status,
        204
    );
    assert_scim_error(&dir.get(&format!("/Groups/{a}")).await, 404, None);
    app.get(&format!("/v1/groups/{a}"))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/v1/end-users/{}", ids[1]))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_policy_can_require_a_group_and_a_removal_applies_from_the_next_request() {
    let app = spawn_app().await;
    let dir = Directory::create(&app).await;
    let scim_user = dir.create_user("ada@example.com").await;
    let user_id = id(&scim_user).to_owned();
    let engineering = id(&group(&dir, "Engineering", &[&user_id]).await).to_owned();
    let provider = app.create_provider().await;
    app.put_policies(&format!(
        r#"@notice("only Engineering links SSO identities")
forbid (principal, action == Action::"sso.link", resource)
unless {{ principal in Group::"{engineering}" }};"#
    ))
    .await;
    let end_user = app
        .get(&format!("/v1/end-users/{user_id}"))
        .await
        .assert_status(200)
        .body;
    let token = app.user_token(&end_user);
    let link = |subject: &'static str| {
        let id_token = tether_tests::idp::id_token(
            subject,
            tether::clock::Clock::now(&*app.clock).unix_timestamp(),
        );
        let body = json!({"identity_provider_id": provider["id"], "id_token": id_token});
        let token = token.clone();
        let app = &app;
        async move {
            app.request("POST", "/v1/me/sso/link")
                .bearer(&token)
                .json(&body)
                .send()
                .await
        }
    };
    link("ada-1").await.assert_status(201);
    patch(
        &dir,
        &engineering,
        json!([{"op": "remove", "path": "members"}]),
    )
    .await
    .assert_status(200);
    let refused = link("ada-2").await;
    refused.assert_error(403, "policy_denied");
    assert_eq!(
        refused.body["notices"],
        json!(["only Engineering links SSO identities"])
    );
    // The same policy, the organization API's link of another user outside
    // the group: not an sso.link, not refused.
    let other = dir.create_user("bob@example.com").await;
    app.post(
        &format!("/v1/users/{}/identities", id(&other)),
        &json!({"identity_provider_id": provider["id"], "external_id": "bob-1"}),
    )
    .await
    .assert_status(201);
}
