//! A directory's SCIM client, as an identity provider's connector is: the
//! directory's base path and its `scim_` bearer token.

use crate::{TestApp, TestRequest, TestResponse};
use serde_json::{Value, json};

/// The SCIM content type an identity provider sends.
pub const CONTENT_TYPE: &str = "application/scim+json";
/// The core User schema's URN.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// A PATCH request's URN.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A directory of a test organization, seen from its SCIM client.
#[derive(Debug, Clone)]
pub struct Directory<'a> {
    app: &'a TestApp,
    /// The directory's id.
    pub id: String,
    /// Its bearer token.
    pub token: String,
}

impl<'a> Directory<'a> {
    /// Creates a directory with the app's admin key.
    pub async fn create(app: &'a TestApp) -> Self {
        let created = app
            .post("/v1/directories", &json!({"name": "Okta"}))
            .await
            .assert_status(201);
        Self {
            app,
            id: created.body["id"].as_str().expect("an id").to_owned(),
            token: created.body["bearer_token"]
                .as_str()
                .expect("a token")
                .to_owned(),
        }
    }

    /// A request to `path` under the directory's base, with its token.
    pub fn request(&self, method: &str, path: &str) -> TestRequest<'a> {
        self.app
            .request(method, &format!("/scim/v2/{}{path}", self.id))
            .bearer(&self.token)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path).send().await
    }

    /// `method path` with a SCIM JSON body.
    pub async fn send(&self, method: &str, path: &str, body: &Value) -> TestResponse {
        self.request(method, path)
            .raw_body(CONTENT_TYPE, &body.to_string())
            .send()
            .await
    }

    /// `POST /Users` of a minimal user named `user_name`; its resource.
    pub async fn create_user(&self, user_name: &str) -> Value {
        let body = json!({
            "schemas": [USER],
            "userName": user_name,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"primary": true, "value": user_name, "type": "work"}],
            "active": true
        });
        self.send("POST", "/Users", &body)
            .await
            .assert_status(201)
            .body
    }

    /// `PATCH /Users/{id}` with one operation.
    pub async fn patch_user(&self, id: &str, operation: Value) -> TestResponse {
        let body = json!({"schemas": [PATCH_OP], "Operations": [operation]});
        self.send("PATCH", &format!("/Users/{id}"), &body).await
    }
}

/// Asserts a SCIM error: its status (a string in the body too), its
/// `scimType` when given, the SCIM content type.
pub fn assert_scim_error(res: &TestResponse, status: u16, scim_type: Option<&str>) {
    assert_eq!(res.status, status, "{}", res.text);
    assert_eq!(
        res.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{}",
        res.text
    );
    assert_eq!(res.body["status"], status.to_string(), "{}", res.text);
    assert_eq!(
        res.body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{}",
        res.text
    );
    assert!(
        res.header("content-type")
            .is_some_and(|t| t.starts_with(CONTENT_TYPE)),
        "{:?}",
        res.header("content-type")
    );
}
