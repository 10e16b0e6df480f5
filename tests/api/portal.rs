//! The admin portal (SPEC §19) through its routes: links that open once,
//! sessions that end when told, pages that carry their security headers and
//! escape what they show, forms that need the session's CSRF token, and
//! every view reaching nothing outside its organization and intent. The
//! browser's own run (headless Chromium) is tests/portal/browser.py.

use serde_json::json;
use tether::auth::Scope;
use tether::clock::Clock as _;
use tether_tests::portal::{Admin, input_value, mint, token_of};
use tether_tests::receiver::Receiver;
use tether_tests::scim::Directory;
use tether_tests::{TestResponse, id, spawn_app};

/// The headers every portal response carries.
#[track_caller]
fn assert_portal_headers(res: &TestResponse) {
    let csp = res.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("referrer-policy"), Some("same-origin"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert!(res.header("x-request-id").is_some());
}

/// A page: 200, HTML, the portal's headers, no inline script.
#[track_caller]
fn assert_page(res: &TestResponse) {
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_portal_headers(res);
    // Scripts only from this origin's file: no inline script, no handler.
    for inline in ["<script>", "onclick=", "onload=", "javascript:", "style=\""] {
        assert!(!res.text.contains(inline), "{inline} in {}", res.text);
    }
}

#[tokio::test]
async fn a_link_opens_one_session_once_with_a_strict_http_only_cookie() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/portal-links",
            &json!({"intent": "sso", "return_url": "https://app.example.com/settings"}),
        )
        .await
        .assert_status(201);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let link = res.body;
    assert_eq!(link["intent"], "sso");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(app.app.config.public_base_url.as_str()),
        "{url}"
    );
    assert!(url.contains("/portal/open?token=tpl_"), "{url}");
    let expires = tether::clock::Timestamp::from(app.clock.now() + time::Duration::minutes(5));
    assert_eq!(link["expires_at"], json!(expires));

    let mut admin = Admin::new(&app);
    let opened = admin.open(&token_of(&link)).await;
    assert_eq!(opened.status, 303, "{}", opened.text);
    assert_eq!(opened.header("location"), Some("/portal/sso"));
    let cookie = opened.header("set-cookie").unwrap();
    for part in ["Path=/", "Max-Age=3600", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(part), "{part} missing from {cookie}");
    }
    assert!(cookie.starts_with("tether_portal=tps_"), "{cookie}");
    assert_portal_headers(&opened);
    let page = admin.get("/portal/sso").await;
    assert_page(&page);
    assert!(page.text.contains("https://app.example.com/settings"));

    // The same link again, from this browser or another: a page, no session.
    for mut browser in [admin.clone(), Admin::new(&app)] {
        browser.cookies.clear();
        let again = browser.open(&token_of(&link)).await;
        assert_eq!(again.status, 410, "{}", again.text);
        assert!(again.header("set-cookie").is_none());
        assert_portal_headers(&again);
        assert!(again.text.contains("cannot be opened"), "{}", again.text);
    }
}

#[tokio::test]
async fn a_link_opened_by_ten_browsers_at_once_starts_one_session() {
    let app = spawn_app().await;
    let link = mint(&app, "all").await;
    let token = token_of(&link);
    let opens = (0..10).map(|_| {
        let token = token.clone();
        let app = &app;
        async move { Admin::new(app).open(&token).await.status }
    });
    let mut statuses = futures_util::future::join_all(opens).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410, 410, 410, 410, 410, 410, 410, 410, 410]);
}

#[tokio::test]
async fn links_expire_after_five_minutes_and_sessions_after_an_hour() {
    let app = spawn_app().await;
    let link = mint(&app, "sso").await;
    app.clock.advance(time::Duration::minutes(5));
    let late = Admin::new(&app).open(&token_of(&link)).await;
    assert_eq!(late.status, 410, "{}", late.text);

    let (mut admin, _) = Admin::signed_in(&app, "sso").await;
    app.clock.advance(time::Duration::minutes(59));
    assert_eq!(admin.get("/portal/sso").await.status, 200);
    app.clock.advance(time::Duration::seconds(60));
    let ended = admin.get("/portal/sso").await;
    assert_eq!(ended.status, 401, "{}", ended.text);
    assert!(ended.text.contains("Your portal session has ended"));
    assert_portal_headers(&ended);
}

#[tokio::test]
async fn links_are_minted_by_admin_keys_only_and_checked() {
    let app = spawn_app().await;
    let read_write = app.create_read_write_key().await;
    let res = app
        .request("POST", "/v1/portal-links")
        .key(&read_write)
        .json(&json!({"intent": "sso"}))
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    for (body, field) in [
        (json!({}), "intent"),
        (json!({"intent": "everything"}), "intent"),
        (
            json!({"intent": "sso", "return_url": "javascript:alert(1)"}),
            "return_url",
        ),
        (
            json!({"intent": "sso", "return_url": "http://app.example.com/"}),
            "return_url",
        ),
        (json!({"intent": "sso", "extra": 1}), "extra"),
    ] {
        let res = app.post("/v1/portal-links", &body).await.assert_status(422);
        assert_eq!(
            res.body["details"]["fields"][0]["field"], field,
            "{}",
            res.text
        );
    }
    // An Idempotency-Key replays the same link, which still opens once.
    let first = app
        .post_once("/v1/portal-links", "link-1", &json!({"intent": "webhooks"}))
        .await;
    let again = app
        .post_once("/v1/portal-links", "link-1", &json!({"intent": "webhooks"}))
        .await;
    assert_eq!(first.body, again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let mut admin = Admin::new(&app);
    assert_eq!(admin.open(&token_of(&first.body)).await.status, 303);
    assert_eq!(
        Admin::new(&app).open(&token_of(&again.body)).await.status,
        410
    );
    // Malformed and forged tokens open nothing.
    let forged = token_of(&first.body).replace("tpl_", "tps_");
    for token in ["", "tpl_", "tpl_x_y", forged.as_str()] {
        assert_eq!(Admin::new(&app).open(token).await.status, 410, "{token}");
    }
    let unknown = app.get("/portal/open?token=a&other=b").await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);
}

#[tokio::test]
async fn a_session_ends_when_deleted_signed_out_or_its_key_revoked() {
    let app = spawn_app().await;
    // Deleted by the app.
    let (mut admin, link) = Admin::signed_in(&app, "sso").await;
    assert_eq!(admin.get("/portal/sso").await.status, 200);
    app.delete(&format!("/v1/portal-links/{}", id(&link)))
        .await
        .assert_status(204);
    assert_eq!(admin.get("/portal/sso").await.status, 401);
    app.delete(&format!("/v1/portal-links/{}", id(&link)))
        .await
        .assert_status(404);
    // A link deleted before it is opened never opens.
    let unopened = mint(&app, "sso").await;
    app.delete(&format!("/v1/portal-links/{}", id(&unopened)))
        .await
        .assert_status(204);
    assert_eq!(
        Admin::new(&app).open(&token_of(&unopened)).await.status,
        410
    );

    // Signed out by the admin: the cookie cleared, the session gone.
    let (mut admin, _) = Admin::signed_in(&app, "sso").await;
    let page = admin.get("/portal/sso").await;
    let csrf = input_value(&page.text, "csrf").unwrap();
    let stolen = admin.clone();
    let out = admin.post_raw("/portal/sign-out", &[("csrf", &csrf)]).await;
    assert_page(&out);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let mut stolen = stolen;
    assert_eq!(
        stolen.get("/portal/sso").await.status,
        401,
        "a copied cookie is dead too"
    );

    // The minting key revoked: every session it minted ends.
    let (key_id, key) = app.create_key_of(Scope::Admin).await;
    let link = app
        .request("POST", "/v1/portal-links")
        .key(&key)
        .json(&json!({"intent": "all"}))
        .send()
        .await
        .assert_status(201)
        .body;
    let mut admin = Admin::new(&app);
    assert_eq!(admin.open(&token_of(&link)).await.status, 303);
    assert_eq!(admin.get("/portal/usage").await.status, 200);
    app.delete(&format!("/v1/api-keys/{key_id}"))
        .await
        .assert_status(204);
    assert_eq!(admin.get("/portal/usage").await.status, 401);
}

#[tokio::test]
async fn another_organizations_link_cannot_be_ended_and_its_session_reaches_nothing_here() {
    let app = spawn_app().await;
    let (_, other_key) = app.create_org("Other").await;
    let theirs = app
        .request("POST", "/v1/portal-links")
        .key(&other_key)
        .json(&json!({"intent": "all"}))
        .send()
        .await
        .assert_status(201)
        .body;
    app.delete(&format!("/v1/portal-links/{}", id(&theirs)))
        .await
        .assert_status(404);
    let mut them = Admin::new(&app);
    assert_eq!(them.open(&token_of(&theirs)).await.status, 303);

    // Our organization's objects, named by their ids in the other's session.
    let hook = app.create_webhook_endpoint("http://127.0.0.1:9/x").await;
    let provider = app.create_provider().await;
    let directory = Directory::create(&app).await;
    let res = them
        .get(&format!("/portal/webhooks?endpoint={}", id(&hook)))
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert_portal_headers(&res);
    let res = them
        .get(&format!(
            "/portal/sso/test?identity_provider_id={}",
            id(&provider)
        ))
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    for (path, fields) in [
        (
            "/portal/webhooks",
            vec![("op", "roll"), ("endpoint_id", id(&hook))],
        ),
        (
            "/portal/webhooks",
            vec![("op", "test"), ("endpoint_id", id(&hook))],
        ),
        (
            "/portal/directory",
            vec![("op", "roll"), ("directory_id", directory.id.as_str())],
        ),
    ] {
        let res = them.submit(path, &fields).await;
        assert_eq!(res.status, 404, "{path} {fields:?}: {}", res.text);
    }
    // A form refused for another organization's id, sent again with its
    // key, is the same page again (replayed, not JSON).
    let page = them.get("/portal/webhooks").await;
    let csrf = input_value(&page.text, "csrf").unwrap();
    let key = input_value(&page.text, "idempotency_key").unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("op", "test"),
        ("endpoint_id", id(&hook)),
    ];
    let first = them.post_raw("/portal/webhooks", &fields).await;
    let again = them.post_raw("/portal/webhooks", &fields).await;
    assert_eq!((first.status, again.status), (404, 404));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        again.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_portal_headers(&again);
    // Nothing of ours shows on their pages.
    for path in ["/portal/webhooks", "/portal/sso", "/portal/directory"] {
        let page = them.get(path).await;
        assert!(
            !page.text.contains(id(&hook)) && !page.text.contains(&directory.id),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_session_opens_only_the_views_its_intent_names() {
    let app = spawn_app().await;
    let cases: [(&str, &[&str]); 5] = [
        ("sso", &["/portal/sso"]),
        ("directory", &["/portal/directory"]),
        ("webhooks", &["/portal/webhooks"]),
        ("events", &["/portal/events"]),
        (
            "all",
            &[
                "/portal/sso",
                "/portal/directory",
                "/portal/webhooks",
                "/portal/events",
                "/portal/usage",
            ],
        ),
    ];
    for (intent, allowed) in cases {
        let (mut admin, _) = Admin::signed_in(&app, intent).await;
        let home = admin.get("/portal").await;
        assert_eq!(home.status, 303);
        assert_eq!(home.header("location"), Some(allowed[0]));
        for view in [
            "/portal/sso",
            "/portal/directory",
            "/portal/webhooks",
            "/portal/events",
            "/portal/usage",
        ] {
            let res = admin.get(view).await;
            if allowed.contains(&view) {
                assert_page(&res);
                // The navigation names only what the session may open.
                for other in ["/portal/sso\"", "/portal/usage\""] {
                    let linked = res.text.contains(&format!("href=\"{other}"));
                    assert_eq!(
                        linked,
                        allowed.contains(&other.trim_end_matches('"')),
                        "{intent} {view} {other}"
                    );
                }
            } else {
                assert_eq!(res.status, 403, "{intent} {view}: {}", res.text);
                assert_portal_headers(&res);
            }
        }
        // Writes outside the intent are refused before they run.
        if !allowed.contains(&"/portal/directory") {
            let page = admin.get(allowed[0]).await;
            let csrf = input_value(&page.text, "csrf").unwrap();
            let res = admin
                .post_raw(
                    "/portal/directory",
                    &[("csrf", &csrf), ("op", "create"), ("name", "x")],
                )
                .await;
            assert_eq!(res.status, 403, "{intent}");
        }
    }
    // No session, or a link's token in the cookie: the ended-session page.
    let mut nobody = Admin::new(&app);
    assert_eq!(nobody.get("/portal/sso").await.status, 401);
    let link = mint(&app, "sso").await;
    nobody
        .cookies
        .insert("tether_portal".into(), token_of(&link));
    assert_eq!(nobody.get("/portal/sso").await.status, 401);
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_or_from_another_origin_changes_nothing() {
    let app = spawn_app().await;
    let (mut admin, _) = Admin::signed_in(&app, "directory").await;
    let page = admin.get("/portal/directory").await;
    let csrf = input_value(&page.text, "csrf").unwrap();
    let (_, other_link) = Admin::signed_in(&app, "directory").await;
    let _ = other_link;
    let mut other = Admin::new(&app);
    other.open(&token_of(&mint(&app, "directory").await)).await;
    let other_csrf = input_value(&other.get("/portal/directory").await.text, "csrf").unwrap();
    assert_ne!(csrf, other_csrf);
    for fields in [
        vec![("op", "create"), ("name", "a")],
        vec![("csrf", "x"), ("op", "create"), ("name", "a")],
        vec![
            ("csrf", other_csrf.as_str()),
            ("op", "create"),
            ("name", "a"),
        ],
        vec![
            ("csrf", csrf.as_str()),
            ("csrf", csrf.as_str()),
            ("op", "create"),
            ("name", "a"),
        ],
    ] {
        let res = admin.post_raw("/portal/directory", &fields).await;
        assert_eq!(res.status, 403, "{fields:?}: {}", res.text);
        assert!(res.text.contains("This form has expired"), "{}", res.text);
        assert_portal_headers(&res);
    }
    admin.origin = Some("https://evil.example".into());
    let res = admin
        .post_raw(
            "/portal/directory",
            &[("csrf", &csrf), ("op", "create"), ("name", "a")],
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    let listed = app.get("/v1/directories").await.assert_status(200);
    assert!(listed.data().is_empty(), "{}", listed.text);
    // Without an Origin header (older browsers), the token alone suffices.
    admin.origin = None;
    let res = admin
        .post_raw(
            "/portal/directory",
            &[("csrf", &csrf), ("op", "create"), ("name", "ok")],
        )
        .await;
    assert_page(&res);
}

#[tokio::test]
async fn malformed_portal_input_is_a_page_never_a_500() {
    let app = spawn_app().await;
    let (mut admin, _) = Admin::signed_in(&app, "all").await;
    let page = admin.get("/portal/webhooks").await;
    let csrf = input_value(&page.text, "csrf").unwrap();
    let json_body = admin
        .post_body(
            "/portal/webhooks",
            "application/json",
            &json!({"csrf": csrf, "op": "create"}).to_string(),
        )
        .await;
    assert_eq!(json_body.status, 400, "{}", json_body.text);
    assert_eq!(
        json_body.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for (path, fields, status) in [
        ("/portal/webhooks", vec![("op", "explode")], 422),
        (
            "/portal/webhooks",
            vec![("op", "roll"), ("endpoint_id", "not-an-id")],
            422,
        ),
        (
            "/portal/webhooks",
            vec![("op", "create"), ("url", "ftp://x")],
            422,
        ),
        ("/portal/directory", vec![("op", "create")], 422),
        (
            "/portal/directory",
            vec![("op", "create"), ("name", &"n".repeat(101))],
            422,
        ),
        ("/portal/sso", vec![("op", "register"), ("name", "x")], 422),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields.iter().copied());
        let res = admin.post_raw(path, &all).await;
        assert_eq!(res.status, status, "{path} {fields:?}: {}", res.text);
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        assert_portal_headers(&res);
    }
    for path in [
        "/portal/webhooks?endpoint=nope",
        "/portal/events?types=nope",
        "/portal/events?after=%%%",
        "/portal/sso?x=1",
        "/portal/sso/test?identity_provider_id=nope",
    ] {
        let res = admin.get(path).await;
        assert_eq!(res.status, 400, "{path}: {}", res.text);
        assert_portal_headers(&res);
    }
    // A path under /portal that is no page: a page saying so.
    let nothing = admin.get("/portal/nothing-here").await;
    assert_eq!(nothing.status, 404, "{}", nothing.text);
    assert_eq!(
        nothing.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_portal_headers(&nothing);
    let asset = admin.get("/portal/assets/../../etc/passwd").await;
    assert!(
        asset.status == 404 || asset.status == 400,
        "{}",
        asset.status
    );
    let css = admin.get("/portal/assets/portal.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let js = admin.get("/portal/assets/portal.js").await;
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
}

#[tokio::test]
async fn what_a_page_shows_is_escaped_so_a_provider_named_script_is_text() {
    let app = spawn_app().await;
    let name = "<script>alert('x')</script>";
    let created = app.create_provider().await;
    app.patch(
        &format!("/v1/identity-providers/{}", id(&created)),
        &json!({"name": name, "client_id": "c\"onmouseover=\"alert(1)"}),
    )
    .await
    .assert_status(200);
    let (mut admin, _) = Admin::signed_in(&app, "sso").await;
    let page = admin.get("/portal/sso").await;
    assert_page(&page);
    assert!(!page.text.contains(name), "{}", page.text);
    assert!(
        page.text
            .contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("c\"onmouseover"), "{}", page.text);
    // What a form sends back is escaped too.
    let (mut all, _) = Admin::signed_in(&app, "all").await;
    let res = all
        .submit(
            "/portal/sso",
            &[
                ("op", "register"),
                ("name", "</textarea><script>x</script>"),
                ("issuer", "not a url"),
            ],
        )
        .await;
    assert_eq!(res.status, 422, "{}", res.text);
    assert!(!res.text.contains("<script>x"), "{}", res.text);
    assert!(
        res.text.contains("&#60;/textarea&#62;&#60;script&#62;x"),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn a_directory_made_in_the_portal_shows_its_token_once_and_its_scim_requests() {
    let app = spawn_app().await;
    let (mut admin, _) = Admin::signed_in(&app, "directory").await;
    let res = admin
        .submit(
            "/portal/directory",
            &[("op", "create"), ("name", "Okta <employees>")],
        )
        .await;
    assert_page(&res);
    let token = res
        .text
        .split("id=\"revealed-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the token on the page")
        .to_owned();
    assert!(token.starts_with("scim_"), "{token}");
    let listed = app.get("/v1/directories").await.assert_status(200);
    let directory = &listed.data()[0];
    assert_eq!(directory["name"], "Okta <employees>");
    // Never again: not on the view, not in the table as sent.
    let page = admin.get("/portal/directory").await;
    assert!(!page.text.contains(&token[5..]), "{}", page.text);
    assert!(
        page.text
            .contains(directory["scim_base_url"].as_str().unwrap())
    );

    // The identity provider connects: its requests show, with their outcome.
    let scim = app
        .request(
            "GET",
            &format!(
                "/scim/v2/{}/Users?filter=userName%20eq%20%22ada%22",
                id(directory)
            ),
        )
        .bearer(&token)
        .send()
        .await;
    assert_eq!(scim.status, 200, "{}", scim.text);
    let unknown = tether::ids::EndUserId::generate();
    let bad = app
        .request(
            "GET",
            &format!("/scim/v2/{}/Users/{unknown}", id(directory)),
        )
        .bearer(&token)
        .send()
        .await;
    assert_eq!(bad.status, 404);
    // A stranger's guesses are not recorded.
    let stranger = app
        .request("GET", &format!("/scim/v2/{}/Users", id(directory)))
        .bearer("scim_0000000000000000000000000000000000000000000000000")
        .send()
        .await;
    assert_eq!(stranger.status, 401);
    let page = admin.get("/portal/directory").await;
    let requests = page
        .text
        .split("<h4>Latest SCIM requests</h4>")
        .nth(1)
        .unwrap();
    assert!(
        requests.contains(&format!("GET /scim/v2/{}/Users/{unknown}", id(directory))),
        "{requests}"
    );
    assert!(requests.contains("404 not_found"), "{requests}");
    assert!(
        requests.contains(&format!("GET /scim/v2/{}/Users</code>", id(directory))),
        "{requests}"
    );
    assert_eq!(requests.matches("<tr><td>").count(), 2, "{requests}");
    assert!(
        !requests.contains("ada"),
        "no query string is kept: {requests}"
    );

    // Rolled: the new token shows once, the old one stops.
    let rolled = admin
        .submit(
            "/portal/directory",
            &[("op", "roll"), ("directory_id", id(directory))],
        )
        .await;
    assert_page(&rolled);
    assert!(!rolled.text.contains(&token), "the old token is not shown");
    let old = app
        .request("GET", &format!("/scim/v2/{}/Users", id(directory)))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(old.status, 401);
}

#[tokio::test]
async fn a_form_sent_twice_runs_once_and_answers_the_same() {
    let app = spawn_app().await;
    let (mut admin, _) = Admin::signed_in(&app, "directory").await;
    let page = admin.get("/portal/directory").await;
    let csrf = input_value(&page.text, "csrf").unwrap();
    let key = input_value(&page.text, "idempotency_key").unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("op", "create"),
        ("name", "Once"),
    ];
    let first = admin.post_raw("/portal/directory", &fields).await;
    let second = admin.post_raw("/portal/directory", &fields).await;
    assert_page(&first);
    assert_eq!(second.status, 200);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.text, second.text);
    let listed = app.get("/v1/directories").await.assert_status(200);
    assert_eq!(listed.data().len(), 1, "{}", listed.text);
    // A new rendering's key is a new form.
    let again = admin
        .submit("/portal/directory", &[("op", "create"), ("name", "Twice")])
        .await;
    assert_page(&again);
    assert_eq!(app.get("/v1/directories").await.data().len(), 2);
}

#[tokio::test]
async fn a_webhook_endpoint_made_in_the_portal_gets_a_signed_test_and_shows_every_attempt() {
    let app = spawn_app().await;
    let receiver = Receiver::start(&[500, 200]).await;
    let (mut admin, _) = Admin::signed_in(&app, "webhooks").await;
    let created = admin
        .submit(
            "/portal/webhooks",
            &[
                ("op", "create"),
                ("url", receiver.url.as_str()),
                ("description", "Ops <team>"),
                ("event_types", "end_user.created"),
            ],
        )
        .await;
    assert_page(&created);
    let secret = created
        .text
        .split("id=\"revealed-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret on the page")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let endpoint = app.get("/v1/webhook-endpoints").await.data()[0].clone();
    assert_eq!(endpoint["event_types"], json!(["end_user.created"]));
    assert!(!admin.get("/portal/webhooks").await.text.contains(&secret));

    let path = format!("/portal/webhooks?endpoint={}", id(&endpoint));
    let tested = admin
        .submit(&path, &[("op", "test"), ("endpoint_id", id(&endpoint))])
        .await;
    assert_page(&tested);
    let deliverer = app.deliverer();
    for _ in 0..2 {
        let queue = app.queue();
        let messages = queue.receive(std::time::Duration::ZERO).await.unwrap();
        let again = tether::deliveries::process(&deliverer, &messages).await;
        for m in messages.iter().filter(|m| !again.contains(&m.id)) {
            queue.delete(&m.receipt).await.unwrap();
        }
        if receiver.received().len() == 1 {
            // The first attempt failed (500): retry it from the portal.
            let log = admin.get(&path).await;
            let delivery = input_value(&log.text, "delivery_id").expect("a delivery");
            let retried = admin
                .submit(
                    &path,
                    &[
                        ("op", "retry"),
                        ("endpoint_id", id(&endpoint)),
                        ("delivery_id", &delivery),
                    ],
                )
                .await;
            assert_page(&retried);
        }
    }
    let received = receiver.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(
        received.iter().all(|r| r.verifies(&secret)),
        "signed with the secret shown"
    );
    assert_eq!(received[1].json()["type"], "ping");
    let log = admin.get(&path).await;
    assert_page(&log);
    assert!(
        log.text.contains("<td>500</td>") && log.text.contains("<td>200</td>"),
        "{}",
        log.text
    );
    assert!(log.text.contains("succeeded"), "{}", log.text);
}

#[tokio::test]
async fn the_events_view_filters_by_type_and_pages() {
    let app = tether_tests::spawn_app_following_stream().await;
    let mut poller = app.follow_stream(&[tether::publisher::handler]).await;
    for i in 0..30 {
        app.create_user(json!({"email": format!("u{i}@example.com")}))
            .await;
    }
    app.create_webhook_endpoint("http://127.0.0.1:9/e").await;
    for _ in 0..20 {
        poller.poll_once(&app.followers()).await.unwrap();
    }
    let (mut admin, _) = Admin::signed_in(&app, "events").await;
    let first = admin.get("/portal/events").await;
    assert_page(&first);
    assert_eq!(
        first.text.matches("<code>end_user.created</code>").count(),
        25,
        "{}",
        first.text
    );
    let next = first
        .text
        .split("href=\"/portal/events?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page")
        .replace("&amp;", "&");
    let second = admin.get(&format!("/portal/events?{next}")).await;
    assert_page(&second);
    assert_eq!(
        second.text.matches("<code>end_user.created</code>").count(),
        5
    );
    let filtered = admin
        .get("/portal/events?types=webhook_endpoint.created")
        .await;
    assert_page(&filtered);
    assert_eq!(
        filtered
            .text
            .matches("<code>webhook_endpoint.created</code>")
            .count(),
        1
    );
    assert_eq!(
        filtered
            .text
            .matches("<code>end_user.created</code>")
            .count(),
        0
    );
    assert!(
        filtered
            .text
            .contains("value=\"webhook_endpoint.created\" checked")
    );
}

#[tokio::test]
async fn the_usage_view_charts_turns_relationships_and_refusals() {
    use tether::organizations::LimitOverrides;
    let app = tether_tests::spawn_app_with(
        tether::organizations::Plan::Free,
        LimitOverrides {
            rate_limit: Some(1),
            burst: Some(40),
            ..LimitOverrides::default()
        },
    )
    .await;
    for _ in 0..3 {
        app.create_user(json!({})).await;
    }
    let (mut admin, _) = Admin::signed_in(&app, "all").await;
    let mut refused = 0;
    for _ in 0..60 {
        if app.get("/v1/end-users").await.status == 429 {
            refused += 1;
        }
    }
    assert!(refused > 0);
    app.clock.advance(time::Duration::seconds(60));
    let usage = admin.get("/portal/usage").await;
    assert_page(&usage);
    assert!(
        usage.text.contains(" of 100 ("),
        "relationships: {}",
        usage.text
    );
    let turns: u64 = usage
        .text
        .split(" of 10000 (")
        .next()
        .and_then(|s| s.rsplit('>').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("the turns meter");
    assert!(
        turns >= 40,
        "the burst's 40 admitted requests are turns: {turns}"
    );
    assert!(
        usage.text.contains("<svg class=\"chart\""),
        "{}",
        usage.text
    );
    assert!(
        usage.text.contains("requests refused (429)"),
        "{}",
        usage.text
    );
    // One write per function and second: at least the first refusal counted.
    let counted: u64 = usage
        .text
        .split(" requests refused")
        .next()
        .and_then(|s| s.rsplit('>').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(counted >= 1 && counted <= refused, "{counted} of {refused}");
}

/// The SSO view's test sign-in: the SPEC §17 flow through a genuine OpenID
/// Provider's own login (panva's `oidc-provider`), back to a page with the
/// profile its id_token gave — and nobody signed in to the app.
#[tokio::test]
async fn a_test_sign_in_shows_the_providers_profile_and_signs_nobody_in() {
    use tether_tests::oidc::{OidcProvider, TETHER_CALLBACK};
    let op = OidcProvider::start("g1").await;
    let app = spawn_app().await;
    let provider = tether_tests::sso::connect(&app, &op, "rs256", "create").await;
    let (mut admin, _) = Admin::signed_in(&app, "sso").await;
    let start = admin
        .get(&format!(
            "/portal/sso/test?identity_provider_id={}",
            id(&provider)
        ))
        .await;
    assert_eq!(start.status, 302, "{}", start.text);
    let location = start.header("location").unwrap().to_owned();
    assert!(location.starts_with(&op.issuer), "{location}");
    assert!(
        admin.cookies.contains_key("tether_sso"),
        "the attempt is bound to this browser"
    );
    let back = op
        .sign_in(
            reqwest::Url::parse(&location).unwrap(),
            "grace",
            TETHER_CALLBACK,
            false,
        )
        .await;
    let page = admin
        .get(&format!(
            "{}?{}",
            back.path(),
            back.query().unwrap_or_default()
        ))
        .await;
    // The SSO callback's page (no form on it: `no-referrer`, as every page
    // of the SSO flow), with the portal's policy against script and framing.
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(
        page.text.contains("Test sign-in succeeded"),
        "{}",
        page.text
    );
    for shown in ["grace", op.issuer.as_str(), "Back to the portal"] {
        assert!(page.text.contains(shown), "{shown} not in {}", page.text);
    }
    // `provisioning: create`, yet nobody was created, linked or given a code.
    let users = app.get("/v1/end-users").await.assert_status(200);
    assert!(users.data().is_empty(), "{}", users.text);
    // The attempt was the test's: its callback does not run twice.
    let again = admin
        .get(&format!(
            "{}?{}",
            back.path(),
            back.query().unwrap_or_default()
        ))
        .await;
    assert_eq!(again.status, 400, "{}", again.text);
}
