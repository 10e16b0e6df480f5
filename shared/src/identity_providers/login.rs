//! A provider as a login connection (SPEC §17): what the organization's
//! administrator configures with `PATCH /v1/identity-providers/{id}`
//! `{login: …}`, parsed so that a value that exists is valid.

use crate::clock::Timestamp;
use crate::parse::JsonObject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most redirect URIs a connection lists.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest redirect URI, in characters.
const REDIRECT_URI_MAX_CHARS: usize = 2048;
/// Longest client secret, in characters.
const CLIENT_SECRET_MAX_CHARS: usize = 512;

/// How Tether authenticates at the provider's token endpoint:
/// `client_secret_basic` (HTTP Basic over the form-encoded id and secret,
/// the OIDC default) or `client_secret_post` (both in the form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    // HTTP Basic with the form-encoded id and secret (the OIDC default).
    #[default]
    ClientSecretBasic,
    // `client_id` and `client_secret` in the token request's form.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The method's name as OAuth registers it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Who a sign-in without a linked identity becomes: `off` (nobody: only
/// linked identities sign in), `create` (a new end user with the identity),
/// `link_verified_email` (the one active end user whose email is the
/// id_token's verified one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provisioning {
    // Nobody: only identities already linked sign in.
    #[default]
    Off,
    // A new end user, created with the identity.
    Create,
    // The one active end user whose email is the id_token's verified one.
    LinkVerifiedEmail,
}

/// An app's URL the browser returns to, matched exactly: `https`, or
/// `http` to a loopback host; no user information, no fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// The URI if it is one a connection may list, else why not.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.chars().count() > REDIRECT_URI_MAX_CHARS {
            return Err("must be at most 2048 characters");
        }
        let url = url::Url::parse(text).map_err(|_| "must be an absolute URL")?;
        crate::config::https_or_loopback_http(&url)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not hold user information");
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment");
        }
        Ok(Self(text.to_owned()))
    }

    /// As registered (compared exactly, character for character).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `uri` is one of `registered`, character for character.
    pub fn listed(registered: &[Self], uri: &str) -> bool {
        registered.iter().any(|r| r.0 == uri)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.0
    }
}

/// The organization's client secret at the provider: write-only, sealed at
/// rest, never rendered.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(…)")
    }
}

impl ClientSecret {
    /// A secret of 1 to 512 visible characters, else why not.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.is_empty() {
            return Err("must not be empty");
        }
        if text.chars().count() > CLIENT_SECRET_MAX_CHARS {
            return Err("must be at most 512 characters");
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(text.to_owned()))
    }

    /// The secret itself, for sealing and for the token request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The `login` member of a PATCH: the connection as the caller wants it.
/// `client_secret` may be left out to keep the one stored.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(rename = "LoginConnectionRequest")]
pub struct LoginInput {
    /// Whether the provider signs end users in.
    pub enabled: bool,
    /// The client secret at the provider (write-only); absent: unchanged.
    #[schemars(with = "Option<String>", length(min = 1, max = CLIENT_SECRET_MAX_CHARS))]
    pub client_secret: Option<ClientSecret>,
    /// How Tether authenticates at the token endpoint.
    pub client_auth: ClientAuthMethod,
    /// The app's URLs the browser may return to, matched exactly.
    #[schemars(length(max = MAX_REDIRECT_URIS))]
    pub redirect_uris: Vec<RedirectUri>,
    /// Who a sign-in without a linked identity becomes.
    pub provisioning: Provisioning,
}

/// What a PATCH asks of the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginChange {
    /// `login: {…}`: configure it.
    Set(LoginInput),
    /// `login: null`: the provider is no login connection any more.
    Remove,
}

/// Parses `login` out of a PATCH body: `None` when absent or invalid (its
/// problems recorded as `login.<member>`), else the change asked.
pub fn parse_login(object: &mut JsonObject) -> Option<Option<LoginChange>> {
    let members = match object.take("login") {
        None => return Some(None),
        Some(Value::Null) => return Some(Some(LoginChange::Remove)),
        Some(Value::Object(members)) => members,
        Some(_) => {
            object.problem("login", "must be an object or null");
            return None;
        }
    };
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut problem = |field: &str, text: String| problems.push((format!("login.{field}"), text));
    let known = |name: &str| members.get(name).cloned();
    let enabled = match known("enabled") {
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            problem("enabled", "must be a boolean".into());
            None
        }
        None => {
            problem("enabled", "is required".into());
            None
        }
    };
    let client_secret = match known("client_secret") {
        None => None,
        Some(Value::String(s)) => ClientSecret::parse(&s)
            .map_err(|p| problem("client_secret", p.into()))
            .ok(),
        Some(_) => {
            problem("client_secret", "must be a string".into());
            None
        }
    };
    let client_auth = match known("client_auth") {
        None => ClientAuthMethod::default(),
        Some(value) => serde_json::from_value(value).unwrap_or_else(|_| {
            problem(
                "client_auth",
                "must be client_secret_basic or client_secret_post".into(),
            );
            ClientAuthMethod::default()
        }),
    };
    let provisioning = match known("provisioning") {
        None => Provisioning::default(),
        Some(value) => serde_json::from_value(value).unwrap_or_else(|_| {
            problem(
                "provisioning",
                "must be off, create or link_verified_email".into(),
            );
            Provisioning::default()
        }),
    };
    let mut redirect_uris: Vec<RedirectUri> = Vec::new();
    match known("redirect_uris") {
        None => {}
        Some(Value::Array(items)) if items.len() > MAX_REDIRECT_URIS => {
            problem(
                "redirect_uris",
                format!("must list at most {MAX_REDIRECT_URIS} URLs"),
            );
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let parsed = item
                    .as_str()
                    .ok_or("must be a string")
                    .and_then(RedirectUri::parse);
                match parsed {
                    Ok(uri) if redirect_uris.contains(&uri) => {
                        problem(&format!("redirect_uris[{i}]"), "is listed twice".into());
                    }
                    Ok(uri) => redirect_uris.push(uri),
                    Err(p) => problem(&format!("redirect_uris[{i}]"), p.into()),
                }
            }
        }
        Some(_) => problem("redirect_uris", "must be an array of URLs".into()),
    }
    for name in members.keys() {
        if ![
            "enabled",
            "client_secret",
            "client_auth",
            "redirect_uris",
            "provisioning",
        ]
        .contains(&name.as_str())
        {
            problem(name, "is not a known field".into());
        }
    }
    if enabled == Some(true) && redirect_uris.is_empty() && problems.is_empty() {
        problems.push((
            "login.redirect_uris".into(),
            "must list at least one URL to enable login".into(),
        ));
    }
    let valid = problems.is_empty();
    for (field, text) in problems {
        object.problem(&field, text);
    }
    let enabled = enabled?;
    valid.then_some(Some(LoginChange::Set(LoginInput {
        enabled,
        client_secret,
        client_auth,
        redirect_uris,
        provisioning,
    })))
}

/// A login connection as its provider's item holds it (`login`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRecord {
    /// Whether the provider signs end users in.
    pub enabled: bool,
    /// How Tether authenticates at the token endpoint.
    pub client_auth: ClientAuthMethod,
    /// The app's URLs, matched exactly.
    pub redirect_uris: Vec<RedirectUri>,
    /// Who a sign-in without a linked identity becomes.
    pub provisioning: Provisioning,
    /// The client secret, sealed with the deployment key ([`Self::secret_aad`]).
    pub client_secret_sealed: String,
    /// The provider's authorization endpoint, discovered when configured.
    pub authorization_endpoint: String,
    /// The provider's token endpoint, discovered when configured.
    pub token_endpoint: String,
    /// Tether's callback as configured, for the provider's administrator.
    pub callback_url: String,
    /// When it was configured.
    pub configured_at: Timestamp,
}

impl LoginRecord {
    /// The sealing's associated data: the provider's key, so a sealed secret
    /// copied to another provider's item does not open.
    pub fn secret_aad(pk: &str, sk: &str) -> String {
        format!("{pk}|{sk}|client_secret")
    }

    /// The connection object.
    pub fn view(&self) -> LoginConnection<'_> {
        LoginConnection {
            enabled: self.enabled,
            client_auth: self.client_auth,
            redirect_uris: &self.redirect_uris,
            provisioning: self.provisioning,
            has_client_secret: !self.client_secret_sealed.is_empty(),
            callback_url: &self.callback_url,
        }
    }
}

/// A login connection as the sign-in flow needs it, kept in an item of its
/// own (`SSOCONN#<provider id>` / `SSOCONN`) while it is enabled, written in
/// the transaction that changes its provider: the browser's authorize
/// request names only the provider, and reads this item alone. An attempt
/// carries a copy, so the callback asks the provider's token endpoint
/// without waiting for a read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// The organization.
    pub organization_id: crate::ids::OrganizationId,
    /// The provider.
    pub identity_provider_id: crate::ids::IdentityProviderId,
    /// Its issuer.
    pub issuer: String,
    /// The organization's client id at it.
    pub client_id: String,
    /// How Tether authenticates at its token endpoint.
    pub client_auth: ClientAuthMethod,
    /// The client secret, sealed bound to the provider's item
    /// ([`LoginRecord::secret_aad`]).
    pub client_secret_sealed: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// Tether's callback for it.
    pub callback_url: String,
    /// The app's URLs, matched exactly.
    pub redirect_uris: Vec<RedirectUri>,
}

impl Connection {
    /// Whether the app's `redirect_uri` is one of the registered ones.
    pub fn allows_redirect(&self, redirect_uri: &str) -> bool {
        RedirectUri::listed(&self.redirect_uris, redirect_uri)
    }
}

/// A provider's login connection (SPEC §17); the client secret is never shown.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LoginConnection")]
pub struct LoginConnection<'a> {
    /// Whether the provider signs end users in.
    pub enabled: bool,
    /// How Tether authenticates at the token endpoint.
    pub client_auth: ClientAuthMethod,
    /// The app's URLs the browser may return to, matched exactly.
    #[schemars(with = "Vec<String>")]
    pub redirect_uris: &'a [RedirectUri],
    /// Who a sign-in without a linked identity becomes.
    pub provisioning: Provisioning,
    /// A client secret is stored (it is never returned).
    pub has_client_secret: bool,
    /// Tether's callback, for the provider's administrator to register.
    pub callback_url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> (Option<Option<LoginChange>>, Vec<String>) {
        let Value::Object(members) = json!({ "login": body }) else {
            unreachable!("an object")
        };
        let mut object = JsonObject::new(members);
        let parsed = parse_login(&mut object);
        let fields = match object.finish(Some(())) {
            Ok(()) => Vec::new(),
            Err(crate::error::ApiError::Validation(errors)) => {
                errors.iter().map(|e| e.field.clone()).collect()
            }
            Err(other) => panic!("{other:?}"),
        };
        (parsed, fields)
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragment_or_user() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=a",
            "http://127.0.0.1:9200/callback",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "ftp://app.example.com/cb",
            "https://app.example.com/cb#x",
            "https://user:pw@app.example.com/cb",
            "/relative",
            "javascript:alert(1)",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_connection_parses_with_its_defaults_and_never_shows_its_secret() {
        let (parsed, problems) = parse(json!({
            "enabled": true,
            "client_secret": "s3cret",
            "redirect_uris": ["https://app.example.com/cb"],
        }));
        assert!(problems.is_empty(), "{problems:?}");
        let Some(Some(LoginChange::Set(login))) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(login.client_auth, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(login.provisioning, Provisioning::Off);
        assert!(!format!("{login:?}").contains("s3cret"));
        assert_eq!(parse(Value::Null).0, Some(Some(LoginChange::Remove)));
    }

    #[test]
    fn every_bad_member_is_named() {
        let (parsed, problems) = parse(json!({
            "enabled": "yes",
            "client_secret": "",
            "client_auth": "private_key_jwt",
            "provisioning": "invite",
            "redirect_uris": ["http://app.example.com/cb", "https://a.example/cb", "https://a.example/cb"],
            "extra": 1,
        }));
        assert_eq!(parsed, None);
        for field in [
            "login.enabled",
            "login.client_secret",
            "login.client_auth",
            "login.provisioning",
            "login.redirect_uris[0]",
            "login.redirect_uris[2]",
            "login.extra",
        ] {
            assert!(problems.iter().any(|p| p == field), "{field}: {problems:?}");
        }
        let too_many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        let (_, problems) = parse(json!({"enabled": false, "redirect_uris": too_many}));
        assert_eq!(problems, vec!["login.redirect_uris".to_owned()]);
        let (_, problems) = parse(json!({"enabled": true}));
        assert_eq!(problems, vec!["login.redirect_uris".to_owned()]);
    }
}
