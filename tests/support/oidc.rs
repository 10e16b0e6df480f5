//! Genuine OpenID Providers on loopback, two implementations nobody here
//! wrote: `tests/oidc/server.mjs` runs panva's `oidc-provider` (node;
//! installed into `.local/oidc`), `tests/oidc/idpy_op.py` IdentityPython's
//! `idpyoidc` (Python; `.venv-idpy`), both OpenID Certified and installed by
//! `scripts/tools.sh`. id_tokens come out of their authorization-code flow,
//! through their sign-in (panva's own login and consent pages; idpyoidc's
//! password check behind the harness's form) — nothing here signs them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Which provider runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// panva's `oidc-provider` (`tests/oidc/server.mjs`).
    Panva,
    /// IdentityPython's `idpyoidc` (`tests/oidc/idpy_op.py`).
    Idpy,
}

impl Implementation {
    /// Its authorization endpoint's path.
    fn authorize_path(self) -> &'static str {
        match self {
            Self::Panva => "/auth",
            Self::Idpy => "/authorization",
        }
    }

    /// The secret of its `<alg>-basic` clients. panva's holds characters
    /// Basic must form-encode; idpyoidc does not form-decode Basic
    /// credentials (RFC 6749 §2.3.1), so its secret needs no encoding.
    pub fn basic_secret(self) -> &'static str {
        match self {
            Self::Panva => "s3:c%r+t/~&=",
            Self::Idpy => "basic-secret_1.x",
        }
    }

    /// What its login page's field `name` is filled in with for `login`.
    fn fill(self, name: &str, login: &str) -> Option<String> {
        match (self, name) {
            (Self::Panva, "login") | (Self::Idpy, "username") => Some(login.to_owned()),
            // panva's development login takes any password.
            (Self::Panva, "password") => Some("any password".to_owned()),
            (Self::Idpy, "password") => Some(format!("pw-{login}")),
            _ => None,
        }
    }
}

/// The redirect URI its clients are registered with.
const REDIRECT_URI: &str = "http://127.0.0.1/cb";

/// Tether's SSO callbacks in the tests (under the default public base
/// URL): the shared one every client is registered with, which a
/// connection's own (`…/callback/<id>`) extends.
pub const TETHER_CALLBACK: &str = "http://127.0.0.1:9000/v1/sso/callback";

/// A running provider; stopped when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    /// Its issuer identifier, `http://127.0.0.1:<port>`.
    pub issuer: String,
    /// Which implementation it is.
    pub implementation: Implementation,
    log_dir: PathBuf,
    child: Child,
    http: reqwest::Client,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.log_dir);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// How long one start may take to print that it listens. Node loading the
/// module and generating RSA keys on a CI machine whose two cores run the
/// whole suite took more than 10 s once; a start that is still silent
/// after this is killed and made again rather than waited on.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How many starts are made before the provider is declared broken.
const START_TRIES: usize = 3;

/// Starts node once: the child, and the line it printed when it listened
/// (`None` when it exited or stayed silent past [`START_DEADLINE`]).
async fn spawn(
    implementation: Implementation,
    log: &Path,
    generations: &str,
) -> (Child, Option<String>) {
    let (program, needed) = match implementation {
        Implementation::Panva => (
            "node".into(),
            root().join(".local/oidc/node_modules/oidc-provider/lib/index.js"),
        ),
        Implementation::Idpy => {
            let python = root().join(".venv-idpy/bin/python3");
            (python.clone(), python)
        }
    };
    assert!(
        needed.exists(),
        "{} is missing: run scripts/tools.sh (make test does)",
        needed.display()
    );
    // Its stderr is kept so that a provider that fails says why.
    let stderr = std::fs::File::create(log).expect("provider log");
    let mut command = Command::new::<PathBuf>(program);
    match implementation {
        Implementation::Panva => command
            .arg(root().join("tests/oidc/server.mjs"))
            .env("OIDC_MODULE", needed)
            .env("OIDC_GENERATIONS", generations)
            .env("OIDC_CALLBACK", TETHER_CALLBACK),
        Implementation::Idpy => command
            .arg(root().join("tests/oidc/idpy_op.py"))
            .env("IDPY_CALLBACK", format!("{REDIRECT_URI},{TETHER_CALLBACK}")),
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start the OpenID Provider");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The first line announces the issuer; the rest is drained so that the
    // provider never blocks on (or dies of) a full or closed pipe.
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = tokio::time::timeout(START_DEADLINE, rx)
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|line| line.trim().strip_prefix("listening ").map(str::to_owned));
    (child, line)
}

impl OidcProvider {
    /// Starts panva's provider publishing key `generations`
    /// (comma-separated, the first signs) on a port of its own, and waits
    /// until it serves its discovery document.
    pub async fn start(generations: &str) -> Self {
        Self::start_as(Implementation::Panva, generations).await
    }

    /// Starts idpyoidc's provider (RSA, EC P-256 and Ed25519 keys of its
    /// own) on a port of its own, and waits until it serves its discovery
    /// document.
    pub async fn start_idpy() -> Self {
        Self::start_as(Implementation::Idpy, "").await
    }

    async fn start_as(implementation: Implementation, generations: &str) -> Self {
        let log_dir = std::env::temp_dir().join(format!("tether-oidc-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log = log_dir.join("stderr.log");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        let mut failures = Vec::new();
        for _ in 0..START_TRIES {
            let (mut child, issuer) = spawn(implementation, &log, generations).await;
            if let Some(issuer) = issuer {
                let provider = Self {
                    issuer,
                    implementation,
                    log_dir: log_dir.clone(),
                    child,
                    http: http.clone(),
                };
                provider.serves().await;
                return provider;
            }
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            failures.push(format!("{status}: {stderr}"));
        }
        panic!(
            "the OpenID Provider did not listen within {START_DEADLINE:?} in {START_TRIES} starts: {failures:#?}"
        );
    }

    /// Publishes other key `generations` (a rotation) behind the same
    /// issuer: the provider is rebuilt in place, nothing rebinds.
    pub async fn rotate(&mut self, generations: &str) {
        assert_eq!(
            self.implementation,
            Implementation::Panva,
            "only panva's rotates"
        );
        let res = self
            .http
            .post(format!("{}/_rotate?generations={generations}", self.issuer))
            .send()
            .await
            .expect("rotation request");
        assert_eq!(res.status(), 204, "rotation to {generations}");
        self.serves().await;
    }

    /// Registers `redirect_uri` with every client, as the provider's
    /// administrator registers a login connection's callback.
    pub async fn register_redirect_uri(&self, redirect_uri: &str) {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/_register", self.issuer),
            &[("redirect_uri", redirect_uri)],
        )
        .expect("URL");
        let res = self
            .http
            .post(url)
            .send()
            .await
            .expect("registration request");
        assert_eq!(res.status(), 204, "registering {redirect_uri}");
    }

    /// Asserts that it serves its discovery document.
    async fn serves(&self) {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let res = self
            .http
            .get(&url)
            .timeout(START_DEADLINE)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(res.status().is_success(), "{url}: {}", res.status());
    }

    /// An id_token for `login` issued to `client` (`rs256`, `es256` or
    /// `eddsa`, each also as `<alg>-basic`) through the authorization-code
    /// flow: [`Self::code`], then the token request.
    pub async fn id_token(&self, client: &str, login: &str, nonce: &str) -> String {
        let code = self.code(client, login, nonce).await;
        let body = self
            .exchange(client, &code)
            .await
            .unwrap_or_else(|err| panic!("token request of {client}: {err}"))
            .body;
        let token: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
        token["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {token}"))
            .to_owned()
    }

    /// The provider's token request for `code`, made by Tether's outbound
    /// client ([`tether::outbound::Outbound::post_form`], the request the
    /// coming SSO login makes) with the method `client` is registered with.
    pub async fn exchange(
        &self,
        client: &str,
        code: &str,
    ) -> Result<tether::outbound::Fetched, tether::outbound::FetchError> {
        use tether::outbound::ClientAuth;
        let auth = if client.ends_with("-basic") {
            ClientAuth::Basic {
                id: client,
                secret: self.implementation.basic_secret(),
            }
        } else {
            ClientAuth::Post {
                id: client,
                secret: "secret",
            }
        };
        self.exchange_with(code, auth).await
    }

    /// The token request for `code`, authenticated as `auth`.
    pub async fn exchange_with(
        &self,
        code: &str,
        auth: tether::outbound::ClientAuth<'_>,
    ) -> Result<tether::outbound::Fetched, tether::outbound::FetchError> {
        use tether::outbound::{Outbound, UrlPolicy};
        let outbound = Outbound::new(UrlPolicy {
            allow_loopback: true,
            ..UrlPolicy::default()
        });
        let token_endpoint = url::Url::parse(&format!("{}/token", self.issuer)).expect("URL");
        outbound
            .post_form(
                &token_endpoint,
                auth,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT_URI),
                ],
            )
            .await
    }

    /// An authorization code for `login` issued to `client`: the
    /// authorization request, then the provider's own login and consent
    /// pages filled in over HTTP as a browser would (its cookies kept, each
    /// form posted with its hidden fields), up to the redirect with the code.
    pub async fn code(&self, client: &str, login: &str, nonce: &str) -> String {
        let start = reqwest::Url::parse_with_params(
            &format!("{}{}", self.issuer, self.implementation.authorize_path()),
            &[
                ("client_id", client),
                ("response_type", "code"),
                ("scope", "openid email profile"),
                ("redirect_uri", REDIRECT_URI),
                ("nonce", nonce),
                ("state", "s"),
                ("login_hint", login),
            ],
        )
        .expect("authorization URL");
        let back = self.sign_in(start, login, REDIRECT_URI, false).await;
        back.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {back}"))
    }

    /// Signs `login` in from `start` (an authorization request of any
    /// client) as a browser would — the provider's own pages filled in, its
    /// cookies kept — up to the redirect to a URL beginning with `until`,
    /// which is returned. `abort`: the person declines at the login page
    /// instead (panva's `/interaction/<uid>/abort`).
    pub async fn sign_in(
        &self,
        start: reqwest::Url,
        login: &str,
        until: &str,
        abort: bool,
    ) -> reqwest::Url {
        let mut cookies: BTreeMap<String, String> = BTreeMap::new();
        let (mut url, mut form): (reqwest::Url, Option<String>) = (start, None);
        for _ in 0..20 {
            let cookie = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let request = match form.take() {
                Some(body) => self
                    .http
                    .post(url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
                None => self.http.get(url.clone()),
            };
            let res = request
                .header("cookie", cookie)
                .send()
                .await
                .expect("authorization step");
            for value in res.headers().get_all("set-cookie") {
                let pair = value
                    .to_str()
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    cookies.insert(name.to_owned(), value.to_owned());
                }
            }
            if let Some(location) = res.headers().get("location") {
                url = url
                    .join(location.to_str().expect("location"))
                    .expect("redirect target");
                if url.as_str().starts_with(until) {
                    return url;
                }
                continue;
            }
            let status = res.status();
            let page = res.text().await.expect("page");
            if abort && self.implementation == Implementation::Panva {
                url = url
                    .join(&format!("{}/abort", url.path()))
                    .expect("abort URL");
                continue;
            }
            let (action, mut fields) =
                form_of(&page).unwrap_or_else(|| panic!("{status} without a form at {url}"));
            for (name, value) in &mut fields {
                if let Some(filled) = self.implementation.fill(name, login) {
                    *value = filled;
                }
            }
            url = url.join(&action).expect("form action");
            form = Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&fields)
                    .finish(),
            );
        }
        panic!("no redirect to {until} after 20 steps")
    }
}

/// The first form of `page`: its action and its inputs' names and values.
fn form_of(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &page[page.find("<form")?..];
    let form = &form[..form.find("</form>")?];
    let action = attribute(&form[..form.find('>')?], "action")?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>')?];
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect();
    Some((action, fields))
}

/// The value of `name="…"` in `tag`, HTML entities of URLs undone.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\""),
    )
}
