//! The provisioning requests Okta's and Microsoft Entra ID's documentation
//! show, replayed byte for byte against the SCIM surface
//! (`tests/fixtures/scim`: each file names the page and commit it is from).
//!
//! A fixture is `METHOD target [HTTP/1.1]`, header lines, an empty line and
//! the body as documented; `#` lines before the request line are comments,
//! `{{name}}` is the id Tether gave a resource made earlier in the sequence.

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use tether_tests::scim::Directory;
use tether_tests::{TestApp, TestResponse, spawn_app};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A request as the documentation shows it.
#[derive(Debug)]
struct Fixture {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn fixture(name: &str) -> Fixture {
    let path = format!("{}/fixtures/scim/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The Postman fixtures are CRLF throughout, as the collection's bodies are.
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let (head, body) = match text.split_once(&format!("{eol}{eol}")) {
        Some((head, body)) => (head, Some(body.strip_suffix(eol).unwrap_or(body))),
        None => (text.strip_suffix(eol).unwrap_or(&text), None),
    };
    let mut lines = head.split(eol).filter(|l| !l.starts_with('#'));
    let request = lines
        .next()
        .unwrap_or_else(|| panic!("{name}: no request line"));
    let request = request.strip_suffix(" HTTP/1.1").unwrap_or(request);
    let (method, target) = request
        .split_once(' ')
        .unwrap_or_else(|| panic!("{name}: {request}"));
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("{name}: {l}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Fixture {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: body.map(str::to_owned),
    }
}

/// `target` as a client puts it on the wire: Entra's pages show queries
/// unencoded (spaces, quotes, brackets), which no request line can hold.
/// Escapes already there (Okta's) stay as they are.
fn on_the_wire(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for b in target.bytes() {
        match b {
            b' ' | b'"' | b'[' | b']' | b'<' | b'>' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`' => {
                out.push_str(&format!("%{b:02X}"))
            }
            b if !b.is_ascii() => out.push_str(&format!("%{b:02X}")),
            b => out.push(b as char),
        }
    }
    out
}

/// What a step sent and what came back.
struct Sent {
    step: String,
    request: String,
    res: TestResponse,
}

/// Replays fixtures against one directory, noting every departure from the
/// documents rather than stopping at the first: a sequence's later steps
/// say what else the server does differently.
struct Replay<'a> {
    app: &'a TestApp,
    dir: Directory<'a>,
    ids: HashMap<String, String>,
    failures: Vec<String>,
}

impl<'a> Replay<'a> {
    async fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            dir: Directory::create(app).await,
            ids: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// `text` with its `{{name}}`s filled in, or the first one unbound.
    fn fill(&self, text: &str) -> Result<String, String> {
        let mut out = text.to_owned();
        for (name, id) in &self.ids {
            out = out.replace(&format!("{{{{{name}}}}}"), id);
        }
        match out.find("{{") {
            Some(at) => Err(out[at..].split("}}").next().unwrap_or_default().to_owned() + "}}"),
            None => Ok(out),
        }
    }

    /// Sends fixture `name` with the directory's token in place of the
    /// documented credentials; `None` when an id it names was never given.
    async fn send(&mut self, name: &str) -> Option<Sent> {
        let fx = fixture(name);
        let filled = self
            .fill(&fx.target)
            .and_then(|t| Ok((t, fx.body.as_deref().map(|b| self.fill(b)).transpose()?)));
        let (target, body) = match filled {
            Ok(filled) => filled,
            Err(unbound) => {
                self.failures
                    .push(format!("{name}: not sent, {unbound} was never given"));
                return None;
            }
        };
        let target = on_the_wire(&target);
        let mut request = self.dir.request(&fx.method, &target);
        let mut content_type = "";
        for (header, value) in &fx.headers {
            if header.eq_ignore_ascii_case("authorization") {
                continue;
            }
            if header.eq_ignore_ascii_case("content-type") {
                content_type = value;
                continue;
            }
            request = request.header(header, value);
        }
        if let Some(body) = &body {
            // No documented Content-Type (Okta's pages show none): none sent.
            request = request.raw_body(content_type, body);
        }
        let res = request.send().await;
        let mut shown = format!("{} {target}", fx.method);
        if !content_type.is_empty() {
            shown.push_str(&format!("\n    Content-Type: {content_type}"));
        }
        if let Some(body) = &body {
            shown.push_str(&format!("\n    {}", body.replace('\n', "\n    ")));
        }
        Some(Sent {
            step: name.to_owned(),
            request: shown,
            res,
        })
    }

    /// Notes a departure unless `held`.
    fn check(&mut self, held: bool, what: impl FnOnce() -> String) {
        if !held {
            self.failures.push(what());
        }
    }

    /// The status, then each `(JSON pointer, value)` of the body; an absent
    /// member reads as `null`.
    fn expect(&mut self, sent: &Option<Sent>, status: u16, fields: &[(&str, Value)]) {
        let Some(sent) = sent else { return };
        let mut wrong = Vec::new();
        if sent.res.status != status {
            wrong.push(format!("status {} (expected {status})", sent.res.status));
        }
        for (pointer, expected) in fields {
            let got = sent.res.body.pointer(pointer).unwrap_or(&Value::Null);
            if got != expected {
                wrong.push(format!("{pointer} = {got} (expected {expected})"));
            }
        }
        if !wrong.is_empty() {
            self.failures.push(format!(
                "{}: {}\n  sent: {}\n  got: {} {}",
                sent.step,
                wrong.join("; "),
                sent.request,
                sent.res.status,
                sent.res.text
            ));
        }
    }

    /// Expects a SCIM error: its status as a number and as the body's string.
    fn expect_error(&mut self, sent: &Option<Sent>, status: u16, scim_type: Option<&str>) {
        self.expect(
            sent,
            status,
            &[
                (
                    "/schemas",
                    json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
                ),
                ("/status", json!(status.to_string())),
                ("/scimType", json!(scim_type)),
            ],
        );
    }

    /// The `members[].value` of a group's response, in order, are
    /// `expected` (no `members` reads as none).
    fn expect_members(&mut self, sent: &Option<Sent>, expected: &[&str]) {
        let Some(sent) = sent else { return };
        let got: Vec<&str> = sent.res.body["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["value"].as_str().unwrap_or("<no value>"))
            .collect();
        self.check(got == expected, || {
            format!(
                "{}: members {got:?} (expected {expected:?})\n  got: {} {}",
                sent.step, sent.res.status, sent.res.text
            )
        });
    }

    /// Keeps a write's `meta.version`, which its `ETag` must carry.
    fn note_version(&mut self, sent: &Option<Sent>, versions: &mut Vec<String>) {
        let Some(sent) = sent else { return };
        let Some(version) = sent.res.body["meta"]["version"].as_str() else {
            self.failures
                .push(format!("{}: no meta.version: {}", sent.step, sent.res.text));
            return;
        };
        let etag = sent.res.header("etag");
        self.check(etag == Some(version), || {
            format!("{}: ETag {etag:?}, meta.version {version}", sent.step)
        });
        versions.push(version.to_owned());
    }

    /// Through the organization API, `{{group1}}` holds `user` alone and
    /// `user` is in `{{group1}}` alone.
    async fn expect_organization_members(&mut self, user: &str) {
        let Some(group) = self.id("group1").map(str::to_owned) else {
            return;
        };
        let members = self.app.get(&format!("/v1/groups/{group}/members")).await;
        let listed: Vec<&str> = members.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["end_user_id"].as_str())
            .collect();
        self.check(members.status == 200 && listed == [user], || {
            format!(
                "GET /v1/groups/{group}/members (expected {user} alone): {} {}",
                members.status, members.text
            )
        });
        let groups = self.app.get(&format!("/v1/end-users/{user}/groups")).await;
        let listed: Vec<&str> = groups.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["id"].as_str())
            .collect();
        self.check(groups.status == 200 && listed == [group.as_str()], || {
            format!(
                "GET /v1/end-users/{user}/groups (expected {group} alone): {} {}",
                groups.status, groups.text
            )
        });
    }

    /// Binds `{{name}}` to the id the response gave.
    fn bind(&mut self, name: &str, sent: &Option<Sent>) {
        if let Some(id) = sent.as_ref().and_then(|s| s.res.body["id"].as_str()) {
            self.ids.insert(name.to_owned(), id.to_owned());
        }
    }

    fn id(&self, name: &str) -> Option<&str> {
        self.ids.get(name).map(String::as_str)
    }

    /// `POST /v1/end-users/{id}/tokens` on the organization API.
    async fn mint(&self, user: &str) -> TestResponse {
        self.app
            .request("POST", &format!("/v1/end-users/{user}/tokens"))
            .json(&json!({}))
            .send()
            .await
    }

    /// Mints an access token for `{{name}}`; `None` when refused.
    async fn token(&mut self, name: &str) -> Option<String> {
        let user = self.id(name)?.to_owned();
        let res = self.mint(&user).await;
        let token = res.body["access_token"].as_str().map(str::to_owned);
        self.check(res.status == 201 && token.is_some(), || {
            format!(
                "minting for {name} before suspension: {} {}",
                res.status, res.text
            )
        });
        token
    }

    /// A suspended user: its earlier token refused, no new one minted.
    async fn expect_suspended(&mut self, name: &str, before: Option<&str>) {
        let Some(user) = self.id(name).map(str::to_owned) else {
            return;
        };
        if let Some(token) = before {
            let me = self.app.request("GET", "/v1/me").bearer(token).send().await;
            self.check(me.status == 401, || {
                format!(
                    "{name}'s earlier token after suspension: {} {}",
                    me.status, me.text
                )
            });
        }
        let res = self.mint(&user).await;
        self.check(
            res.status == 409 && res.body["code"] == "user_suspended",
            || format!("minting for suspended {name}: {} {}", res.status, res.text),
        );
    }

    fn finish(self, sequence: &str) {
        assert!(
            self.failures.is_empty(),
            "{sequence}: {} departure(s) from the documents:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// Okta's user sequence, in the page's order; the replay holds `{{user1}}`
/// (deactivated, as the page leaves it) and the departures.
async fn okta_users(app: &TestApp) -> Replay<'_> {
    let mut okta = Replay::new(app).await;
    // Okta looks the user up by userName before creating it.
    let lookup = okta.send("okta/01-filter-user-by-username.http").await;
    okta.expect(
        &lookup,
        200,
        &[
            (
                "/schemas",
                json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]),
            ),
            ("/totalResults", json!(0)),
            ("/startIndex", json!(1)),
            ("/itemsPerPage", json!(0)),
            ("/Resources", json!([])),
        ],
    );
    let created = okta.send("okta/02-create-user.http").await;
    okta.expect(
        &created,
        201,
        &[
            ("/userName", json!("test.user@okta.local")),
            ("/active", json!(true)),
            ("/name/givenName", json!("Test")),
            ("/name/familyName", json!("User")),
            ("/emails/0/value", json!("test.user@okta.local")),
            ("/emails/0/primary", json!(true)),
            ("/displayName", json!("Test User")),
            ("/locale", json!("en-US")),
            ("/externalId", json!("00ujl29u0le5T6Aj10h7")),
            ("/meta/resourceType", json!("User")),
            ("/password", Value::Null),
        ],
    );
    okta.bind("user1", &created);
    let user1 = json!(okta.id("user1"));
    let before = okta.token("user1").await;
    let found = okta.send("okta/01-filter-user-by-username.http").await;
    okta.expect(
        &found,
        200,
        &[
            ("/totalResults", json!(1)),
            ("/itemsPerPage", json!(1)),
            ("/Resources/0/id", user1.clone()),
            ("/Resources/0/userName", json!("test.user@okta.local")),
        ],
    );
    // The page asks for a 409 error when the user to create exists.
    let again = okta
        .send("okta/03-create-user-with-custom-attributes.http")
        .await;
    okta.expect_error(&again, 409, Some("uniqueness"));
    let listed = okta.send("okta/04-list-users.http").await;
    okta.expect(
        &listed,
        200,
        &[
            ("/totalResults", json!(1)),
            ("/startIndex", json!(1)),
            ("/itemsPerPage", json!(1)),
            ("/Resources/0/id", user1.clone()),
        ],
    );
    let got = okta.send("okta/05-get-user.http").await;
    okta.expect(
        &got,
        200,
        &[
            ("/id", user1.clone()),
            ("/userName", json!("test.user@okta.local")),
            ("/active", json!(true)),
        ],
    );
    let replaced = okta.send("okta/06-replace-user.http").await;
    okta.expect(
        &replaced,
        200,
        &[
            ("/id", user1.clone()),
            ("/userName", json!("test.user@okta.local")),
            ("/name/givenName", json!("Another")),
            ("/name/middleName", json!("Excited")),
            ("/name/familyName", json!("User")),
            ("/emails/0/display", json!("test.user@okta.local")),
            ("/active", json!(true)),
        ],
    );
    let deactivated = okta.send("okta/07-deactivate-user.http").await;
    okta.expect(
        &deactivated,
        200,
        &[
            ("/id", user1.clone()),
            ("/active", json!(false)),
            ("/name/middleName", json!("Excited")),
        ],
    );
    okta.expect_suspended("user1", before.as_deref()).await;
    // Okta deletes no users: a deactivated one stays readable.
    let after = okta.send("okta/05-get-user.http").await;
    okta.expect(&after, 200, &[("/id", user1), ("/active", json!(false))]);
    okta
}

#[tokio::test]
async fn okta_provisioning_sequence_replays_as_documented() {
    let app = spawn_app().await;
    okta_users(&app).await.finish("Okta");
}

#[tokio::test]
async fn okta_group_push_replays_as_documented() {
    let app = spawn_app().await;
    // Group Push follows the user sequence: the members are its users.
    let mut okta = okta_users(&app).await;
    let Some(user1) = okta.id("user1").map(str::to_owned) else {
        okta.finish("Okta Group Push");
        return;
    };
    let mut versions = Vec::new();
    let created = okta.send("okta/groups/01-create-group.http").await;
    okta.expect(
        &created,
        201,
        &[
            ("/schemas", json!([GROUP])),
            ("/displayName", json!("Test SCIMv2")),
            ("/meta/resourceType", json!("Group")),
        ],
    );
    okta.expect_members(&created, &[]);
    okta.bind("group1", &created);
    okta.note_version(&created, &mut versions);
    let group1 = json!(okta.id("group1"));
    let listed = okta.send("okta/groups/02-list-groups.http").await;
    okta.expect(
        &listed,
        200,
        &[
            (
                "/schemas",
                json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]),
            ),
            ("/startIndex", json!(1)),
        ],
    );
    if let Some(sent) = &listed {
        let total = sent.res.body["totalResults"].as_u64().unwrap_or(0);
        okta.check(total >= 1, || {
            format!("{}: totalResults {total} (expected at least 1)", sent.step)
        });
    }
    let filtered = okta
        .send("okta/groups/03-filter-group-by-displayname.http")
        .await;
    okta.expect(
        &filtered,
        200,
        &[
            ("/totalResults", json!(1)),
            ("/Resources/0/id", group1.clone()),
            ("/Resources/0/displayName", json!("Test SCIMv2")),
        ],
    );
    let got = okta.send("okta/groups/04-get-group.http").await;
    okta.expect(
        &got,
        200,
        &[
            ("/id", group1.clone()),
            ("/displayName", json!("Test SCIMv2")),
        ],
    );
    // The page's rename names the group's own id in the value: a no-op.
    let renamed = okta.send("okta/groups/05-rename-group.http").await;
    okta.expect(
        &renamed,
        200,
        &[
            ("/id", group1.clone()),
            ("/displayName", json!("Test SCIMv2")),
        ],
    );
    okta.note_version(&renamed, &mut versions);
    // Removing 89bb1940-…, which the page never created, changes nothing.
    let updated = okta.send("okta/groups/06-update-members.http").await;
    okta.expect(
        &updated,
        200,
        &[
            ("/id", group1.clone()),
            ("/members/0/display", json!("test.user@okta.local")),
        ],
    );
    okta.expect_members(&updated, &[&user1]);
    okta.note_version(&updated, &mut versions);
    okta.expect_organization_members(&user1).await;
    // List entries leave `members` out unless `attributes` asks for them.
    let listed = okta.send("okta/groups/02-list-groups.http").await;
    okta.expect(
        &listed,
        200,
        &[
            ("/Resources/0/id", group1.clone()),
            ("/Resources/0/members", Value::Null),
        ],
    );
    let replaced = okta.send("okta/groups/07-replace-group.http").await;
    okta.expect(
        &replaced,
        200,
        &[
            ("/id", group1.clone()),
            ("/displayName", json!("Test SCIMv2")),
        ],
    );
    okta.expect_members(&replaced, &[&user1]);
    okta.note_version(&replaced, &mut versions);
    // 89bb1940-… names no end user: kept as sent (an inert reference), and
    // the organization API lists only end users.
    let members = okta.send("okta/groups/08-replace-members.http").await;
    okta.expect(&members, 200, &[("/id", group1)]);
    okta.expect_members(&members, &[&user1, "89bb1940-b905-4575-9e7f-6f887cfb368e"]);
    okta.note_version(&members, &mut versions);
    okta.expect_organization_members(&user1).await;
    let distinct: BTreeSet<&String> = versions.iter().collect();
    okta.check(distinct.len() == versions.len(), || {
        format!("meta.version did not move on every write: {versions:?}")
    });
    let deleted = okta.send("okta/groups/09-delete-group.http").await;
    okta.expect(&deleted, 204, &[]);
    let gone = okta.send("okta/groups/04-get-group.http").await;
    okta.expect_error(&gone, 404, None);
    okta.finish("Okta Group Push");
}

/// The leaf paths of a resource but its `id` and `meta`: what attributes it
/// holds, whatever their values.
fn shape(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(members) => {
            for (key, value) in members {
                if at.is_empty() && (key == "id" || key == "meta") {
                    continue;
                }
                shape(value, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                shape(item, &format!("{at}/{n}"), out);
            }
        }
        _ => {
            out.insert(at.to_owned());
        }
    }
}

/// One side of the SCIM compatibility page: a user created as the protocol
/// page shows, then disabled, given a nickName and several attributes.
async fn entra_compatibility_side(
    app: &TestApp,
    flag: &str,
    expected: &[(&str, Value)],
) -> (Vec<String>, Value) {
    let mut entra = Replay::new(app).await;
    let created = entra.send("entra/01-create-user.http").await;
    entra.expect(&created, 201, &[("/active", json!(true))]);
    entra.bind("user1", &created);
    let before = entra.token("user1").await;
    let dir = format!("entra/aadoptscim062020/{flag}");
    let disabled = entra.send(&format!("{dir}/01-disable-user.http")).await;
    entra.expect(&disabled, 200, &[("/active", json!(false))]);
    entra.expect_suspended("user1", before.as_deref()).await;
    let added = entra
        .send(&format!("{dir}/02-add-single-value-string.http"))
        .await;
    entra.expect(&added, 200, &[("/nickName", json!("Babs"))]);
    let replaced = entra
        .send(&format!("{dir}/03-replace-multiple-attributes.http"))
        .await;
    entra.expect(&replaced, 200, expected);
    let last = entra.send("entra/02-get-user.http").await;
    entra.expect(&last, 200, expected);
    let state = last.map(|s| s.res.body).unwrap_or_default();
    let failures = std::mem::take(&mut entra.failures)
        .into_iter()
        .map(|f| format!("[{flag}] {f}"))
        .collect();
    (failures, state)
}

#[tokio::test]
async fn entra_provisioning_sequence_replays_with_and_without_aadoptscim062020() {
    let app = spawn_app().await;
    // The protocol page's user operations, in its order.
    let mut entra = Replay::new(&app).await;
    let created = entra.send("entra/01-create-user.http").await;
    entra.expect(
        &created,
        201,
        &[
            (
                "/userName",
                json!("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"),
            ),
            ("/externalId", json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")),
            ("/active", json!(true)),
            (
                "/emails/0/value",
                json!("Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"),
            ),
            ("/emails/0/type", json!("work")),
            ("/emails/0/primary", json!(true)),
            ("/name/formatted", json!("givenName familyName")),
            ("/name/givenName", json!("givenName")),
            ("/name/familyName", json!("familyName")),
            ("/meta/resourceType", json!("User")),
            ("/roles", Value::Null),
        ],
    );
    entra.bind("user1", &created);
    let user1 = json!(entra.id("user1"));
    let before = entra.token("user1").await;
    let got = entra.send("entra/02-get-user.http").await;
    entra.expect(
        &got,
        200,
        &[
            ("/id", user1.clone()),
            (
                "/userName",
                json!("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"),
            ),
        ],
    );
    let missing = entra.send("entra/03-get-user-not-found.http").await;
    entra.expect_error(&missing, 404, None);
    let by_name = entra.send("entra/04-get-user-by-query.http").await;
    entra.expect(
        &by_name,
        200,
        &[
            (
                "/schemas",
                json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]),
            ),
            ("/totalResults", json!(1)),
            ("/startIndex", json!(1)),
            ("/Resources/0/id", user1.clone()),
            (
                "/Resources/0/externalId",
                json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"),
            ),
        ],
    );
    let nobody = entra
        .send("entra/05-get-user-by-query-zero-results.http")
        .await;
    entra.expect(
        &nobody,
        200,
        &[("/totalResults", json!(0)), ("/Resources", json!([]))],
    );
    let by_email = entra.send("entra/06-get-user-by-work-email.http").await;
    entra.expect(
        &by_email,
        200,
        &[("/totalResults", json!(0)), ("/Resources", json!([]))],
    );
    let multi = entra.send("entra/07-update-user-multi-valued.http").await;
    entra.expect(
        &multi,
        200,
        &[
            ("/id", user1.clone()),
            ("/emails/0/value", json!("updatedEmail@microsoft.com")),
            ("/emails/0/type", json!("work")),
            ("/emails/0/primary", json!(true)),
            ("/emails/1", Value::Null),
            ("/name/familyName", json!("updatedFamilyName")),
            ("/name/givenName", json!("givenName")),
        ],
    );
    let single = entra.send("entra/08-update-user-single-valued.http").await;
    entra.expect(
        &single,
        200,
        &[
            (
                "/userName",
                json!("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"),
            ),
            ("/emails/0/value", json!("updatedEmail@microsoft.com")),
        ],
    );
    // Example 5: the manager without its extension's URN, as a list of one.
    let manager = format!("/{ENTERPRISE}/manager/value");
    let managed = entra.send("entra/11-update-user-manager.http").await;
    entra.expect(
        &managed,
        200,
        &[
            ("/id", user1.clone()),
            (&manager, json!("00aa00aa-bb11-cc22-dd33-44ee44ee44ee")),
            ("/manager", Value::Null),
        ],
    );
    let stored = entra.send("entra/02-get-user.http").await;
    entra.expect(
        &stored,
        200,
        &[(&manager, json!("00aa00aa-bb11-cc22-dd33-44ee44ee44ee"))],
    );
    let disabled = entra.send("entra/09-disable-user.http").await;
    entra.expect(
        &disabled,
        200,
        &[("/id", user1.clone()), ("/active", json!(false))],
    );
    entra.expect_suspended("user1", before.as_deref()).await;
    let deleted = entra.send("entra/10-delete-user.http").await;
    entra.expect(&deleted, 204, &[]);
    let gone = entra.send("entra/02-get-user.http").await;
    entra.expect_error(&gone, 404, None);
    let mut failures = std::mem::take(&mut entra.failures);

    // The SCIM compatibility page: what Entra sends without the flag and with it.
    // Each side uses its own made-up values; the attributes they land in,
    // and the suspension, are the same.
    let without = [
        ("/active", json!(false)),
        ("/nickName", json!("Babs")),
        ("/displayName", json!("Pvlo")),
        ("/emails/0/value", json!("TestBcwqnm@test.microsoft.com")),
        ("/emails/0/type", json!("work")),
        ("/emails/1", Value::Null),
        ("/name/givenName", json!("Gtfd")),
        ("/name/familyName", json!("Pkqf")),
        ("/externalId", json!("Eqpj")),
        (
            &format!("/{ENTERPRISE}/employeeNumber") as &str,
            json!("Eqpj"),
        ),
    ];
    let with = [
        ("/active", json!(false)),
        ("/nickName", json!("Babs")),
        ("/displayName", json!("Bjfe")),
        ("/emails/0/value", json!("TestMhvaes@test.microsoft.com")),
        ("/emails/0/type", json!("work")),
        ("/emails/1", Value::Null),
        ("/name/givenName", json!("Kkom")),
        ("/name/familyName", json!("Unua")),
        // This side's body sets no externalId: the created one stays.
        ("/externalId", json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")),
        (
            &format!("/{ENTERPRISE}/employeeNumber") as &str,
            json!("Aklq"),
        ),
    ];
    let (more, old_state) = entra_compatibility_side(&app, "without-flag", &without).await;
    failures.extend(more);
    let (more, new_state) = entra_compatibility_side(&app, "with-flag", &with).await;
    failures.extend(more);
    let (mut old_shape, mut new_shape) = (BTreeSet::new(), BTreeSet::new());
    shape(&old_state, "", &mut old_shape);
    shape(&new_state, "", &mut new_shape);
    if old_shape != new_shape {
        failures.push(format!(
            "the two sides hold different attributes:\n  without the flag: {old_state}\n  with it: {new_state}"
        ));
    }
    entra.failures = failures;
    entra.finish("Entra");
}

/// A directory holding the protocol page's user (`{{user1}}`) and group
/// (`{{group1}}`, with that user as its member).
async fn entra_group_with_member(app: &TestApp) -> Replay<'_> {
    let mut entra = Replay::new(app).await;
    let user = entra.send("entra/01-create-user.http").await;
    entra.expect(&user, 201, &[]);
    entra.bind("user1", &user);
    let group = entra.send("entra/groups/01-create-group.http").await;
    entra.expect(&group, 201, &[]);
    entra.bind("group1", &group);
    let added = entra
        .send("entra/groups/05-update-group-add-members.http")
        .await;
    entra.expect(&added, 200, &[]);
    let user1 = entra.id("user1").unwrap_or_default().to_owned();
    entra.expect_members(&added, &[&user1]);
    entra
}

/// One side of the compatibility page's member removal; its failures and
/// what the group holds afterwards.
async fn entra_member_removal_side(app: &TestApp, flag: &str) -> (Vec<String>, Value) {
    let mut entra = entra_group_with_member(app).await;
    let removed = entra
        .send(&format!(
            "entra/groups/aadoptscim062020/{flag}/01-remove-member.http"
        ))
        .await;
    entra.expect(&removed, 200, &[("/displayName", json!("displayName"))]);
    entra.expect_members(&removed, &[]);
    if let Some(group) = entra.id("group1").map(str::to_owned) {
        let members = app.get(&format!("/v1/groups/{group}/members")).await;
        entra.check(
            members.status == 200 && members.body["data"] == json!([]),
            || {
                format!(
                    "GET /v1/groups/{group}/members after the removal: {} {}",
                    members.status, members.text
                )
            },
        );
    }
    let state = removed.map(|s| s.res.body).unwrap_or_default();
    let failures = std::mem::take(&mut entra.failures)
        .into_iter()
        .map(|f| format!("[{flag}] {f}"))
        .collect();
    (failures, state)
}

#[tokio::test]
async fn entra_group_provisioning_replays_with_and_without_aadoptscim062020() {
    let app = spawn_app().await;
    // The protocol page's group operations, in its order, after its user.
    // The page answers its PATCHes 204; Tether answers 200 with the group
    // (RFC 7644 §3.5.2 allows either).
    let mut entra = Replay::new(&app).await;
    let user = entra.send("entra/01-create-user.http").await;
    entra.expect(&user, 201, &[]);
    entra.bind("user1", &user);
    let user1 = entra.id("user1").unwrap_or_default().to_owned();
    let created = entra.send("entra/groups/01-create-group.http").await;
    entra.expect(
        &created,
        201,
        &[
            ("/schemas", json!([GROUP])),
            ("/externalId", json!("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")),
            ("/displayName", json!("displayName")),
            ("/meta/resourceType", json!("Group")),
        ],
    );
    // "Groups are created with an empty members list."
    entra.expect_members(&created, &[]);
    entra.bind("group1", &created);
    let group1 = json!(entra.id("group1"));
    let got = entra.send("entra/groups/02-get-group.http").await;
    entra.expect(
        &got,
        200,
        &[
            ("/id", group1.clone()),
            ("/externalId", json!("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")),
            ("/displayName", json!("displayName")),
            ("/members", Value::Null),
        ],
    );
    let by_name = entra
        .send("entra/groups/03-get-group-by-displayname.http")
        .await;
    entra.expect(
        &by_name,
        200,
        &[
            (
                "/schemas",
                json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]),
            ),
            ("/totalResults", json!(1)),
            ("/startIndex", json!(1)),
            ("/Resources/0/id", group1.clone()),
            ("/Resources/0/displayName", json!("displayName")),
            ("/Resources/0/members", Value::Null),
        ],
    );
    let renamed = entra
        .send("entra/groups/04-update-group-non-member-attributes.http")
        .await;
    entra.expect(
        &renamed,
        200,
        &[
            ("/id", group1.clone()),
            (
                "/displayName",
                json!("1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"),
            ),
        ],
    );
    let added = entra
        .send("entra/groups/05-update-group-add-members.http")
        .await;
    entra.expect(&added, 200, &[("/id", group1.clone())]);
    entra.expect_members(&added, &[&user1]);
    entra.expect_organization_members(&user1).await;
    let removed = entra
        .send("entra/groups/06-update-group-remove-members.http")
        .await;
    entra.expect(&removed, 200, &[("/id", group1.clone())]);
    entra.expect_members(&removed, &[]);
    let deleted = entra.send("entra/groups/07-delete-group.http").await;
    entra.expect(&deleted, 204, &[]);
    let gone = entra.send("entra/groups/02-get-group.http").await;
    entra.expect_error(&gone, 404, None);
    let mut failures = std::mem::take(&mut entra.failures);

    // The compatibility page's member removal without the flag and with it,
    // each from a group holding the member: the same group afterwards.
    let (more, old_state) = entra_member_removal_side(&app, "without-flag").await;
    failures.extend(more);
    let (more, new_state) = entra_member_removal_side(&app, "with-flag").await;
    failures.extend(more);
    let (mut old_shape, mut new_shape) = (BTreeSet::new(), BTreeSet::new());
    shape(&old_state, "", &mut old_shape);
    shape(&new_state, "", &mut new_shape);
    if old_shape != new_shape {
        failures.push(format!(
            "the two sides leave different groups:\n  without the flag: {old_state}\n  with it: {new_state}"
        ));
    }
    entra.failures = failures;
    entra.finish("Entra groups");
}

#[tokio::test]
async fn entra_postman_capitalised_attribute_names_are_accepted() {
    let app = spawn_app().await;
    let mut postman = Replay::new(&app).await;
    // The collection's "${__UUID}" is JMeter's syntax, which Postman sends
    // as it is: both its POSTs carry that one externalId, which Tether keeps
    // unique per directory. The user2 steps run in a directory of their own.
    let mut second = Replay::new(&app).await;
    let user1 = postman.send("entra/postman/01-post-user.http").await;
    postman.expect(
        &user1,
        201,
        &[
            ("/userName", json!("UserName123")),
            ("/active", json!(true)),
            ("/displayName", json!("BobIsAmazing")),
            ("/emails/0/value", json!("testing@bob.com")),
            ("/emails/0/primary", json!(true)),
            ("/emails/1/value", json!("testinghome@bob.com")),
            ("/emails/1/primary", json!(false)),
            ("/externalId", json!("${__UUID}")),
            ("/UserName", Value::Null),
            ("/Active", Value::Null),
            ("/DisplayName", Value::Null),
            ("/emails/0/Primary", Value::Null),
        ],
    );
    postman.bind("id1", &user1);
    if let Some(id) = postman.id("id1").map(str::to_owned) {
        // Stored under the canonical names: the end user reads them.
        let end_user = app.get(&format!("/v1/end-users/{id}")).await;
        postman.check(
            end_user.status == 200
                && end_user.body["email"] == "testing@bob.com"
                && end_user.body["display_name"] == "BobIsAmazing"
                && end_user.body["directory"]["user_name"] == "UserName123"
                && end_user.body["directory"]["active"] == true,
            || format!("the end user of id1: {} {}", end_user.status, end_user.text),
        );
        let minted = postman.mint(&id).await;
        postman.check(minted.status == 201, || {
            format!(
                "minting for id1 (\"Active\": true): {} {}",
                minted.status, minted.text
            )
        });
    }
    // Where the collection expects a second user, Tether answers 409: the
    // externalId is id1's. A deliberate difference.
    let taken = postman
        .send("entra/postman/02-post-enterprise-user.http")
        .await;
    postman.expect_error(&taken, 409, Some("uniqueness"));
    let user2 = second
        .send("entra/postman/02-post-enterprise-user.http")
        .await;
    second.expect(
        &user2,
        201,
        &[
            ("/userName", json!("UserName222")),
            ("/active", json!(true)),
            ("/displayName", json!("lennay")),
            ("/emails/0/primary", json!(true)),
            ("/externalId", json!("${__UUID}")),
            (&format!("/{ENTERPRISE}/department") as &str, json!("bob")),
            (
                &format!("/{ENTERPRISE}/manager/value") as &str,
                json!("SuzzyQ"),
            ),
        ],
    );
    second.bind("id2", &user2);
    let id1 = json!(postman.id("id1"));
    let id2 = json!(second.id("id2"));
    let got1 = postman.send("entra/postman/03-get-user1.http").await;
    postman.expect(
        &got1,
        200,
        &[("/id", id1.clone()), ("/userName", json!("UserName123"))],
    );
    let got2 = second.send("entra/postman/04-get-user2.http").await;
    second.expect(&got2, 200, &[("/id", id2.clone())]);
    let projected = postman
        .send("entra/postman/05-get-user-attributes.http")
        .await;
    postman.expect(&projected, 200, &[]);
    if let (Some(sent), Some(id)) = (&projected, postman.id("id1").map(str::to_owned)) {
        let text = sent.res.text.clone();
        postman.check(text.contains(&id), || {
            format!("{}: id1 not listed: {text}", sent.step)
        });
    }
    let patched = postman.send("entra/postman/06-patch-user1.http").await;
    postman.expect(&patched, 200, &[("/userName", json!("ryan3"))]);
    let checked = postman
        .send("entra/postman/07-get-user1-check-patch.http")
        .await;
    postman.expect(
        &checked,
        200,
        &[("/id", id1), ("/userName", json!("ryan3"))],
    );
    let replaced = second
        .send("entra/postman/08-user2-replace-test.http")
        .await;
    second.expect(
        &replaced,
        200,
        &[
            ("/userName", json!("UserNameReplace2")),
            ("/active", json!(true)),
            ("/displayName", json!("BobIsAmazing")),
            ("/name/formatted", json!("NewName")),
            ("/emails/0/value", json!("testing@bobREPLACE.com")),
            ("/emails/0/primary", json!(true)),
            ("/UserName", Value::Null),
        ],
    );
    let checked = second
        .send("entra/postman/09-get-user2-check-replace.http")
        .await;
    second.expect(
        &checked,
        200,
        &[("/id", id2), ("/name/formatted", json!("NewName"))],
    );
    let deleted1 = postman.send("entra/postman/10-delete-user1.http").await;
    postman.expect(&deleted1, 204, &[]);
    let deleted2 = second.send("entra/postman/11-delete-user2.http").await;
    second.expect(&deleted2, 204, &[]);
    for replay in [&mut postman, &mut second] {
        let all = replay.send("entra/postman/12-get-all-users.http").await;
        replay.expect(&all, 200, &[("/Resources", json!([]))]);
    }
    postman.failures.extend(
        std::mem::take(&mut second.failures)
            .into_iter()
            .map(|f| format!("[second directory] {f}")),
    );
    postman.finish("Postman");
}
