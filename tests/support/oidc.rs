//! A genuine OpenID Provider on loopback: `tests/oidc/server.mjs` runs panva's
//! `oidc-provider` (OpenID Certified; installed into `.local/oidc` by
//! `scripts/tools.sh`), and id_tokens come out of its authorization-code
//! flow — nothing here signs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The redirect URI its clients are registered with.
const REDIRECT_URI: &str = "http://127.0.0.1/cb";

/// A running provider; stopped when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    /// Its issuer identifier, `http://127.0.0.1:<port>`.
    pub issuer: String,
    port: u16,
    key_dir: PathBuf,
    child: Child,
    http: reqwest::Client,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.key_dir);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn spawn(port: u16, key_dir: &Path, generations: &str) -> Child {
    let module = root().join(".local/oidc/node_modules/oidc-provider/lib/index.js");
    assert!(
        module.exists(),
        "{} is missing: run scripts/tools.sh (make test does)",
        module.display()
    );
    // Its stderr is kept so that a provider that dies says why.
    let log = std::fs::File::create(key_dir.join("stderr.log")).expect("provider log");
    Command::new("node")
        .arg(root().join("tests/oidc/server.mjs"))
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_MODULE", module)
        .env("OIDC_KEY_DIR", key_dir)
        .env("OIDC_GENERATIONS", generations)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start node tests/oidc/server.mjs")
}

/// How long a provider may take to serve discovery. Node loading the
/// module and generating RSA keys on a CI machine whose two cores run the
/// whole suite took more than 10 s once.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// How often a provider that exited before serving is started again (its
/// port can be taken for a moment by another test's connection).
const START_TRIES: usize = 5;

impl OidcProvider {
    /// Starts the provider publishing key `generations` (comma-separated,
    /// the first signs), and waits until it serves its discovery document.
    pub async fn start(generations: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let key_dir = std::env::temp_dir().join(format!("tether-oidc-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&key_dir).expect("key dir");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        let mut provider = Self {
            issuer: format!("http://127.0.0.1:{port}"),
            port,
            child: spawn(port, &key_dir, generations),
            key_dir,
            http,
        };
        provider.ready(generations).await;
        provider
    }

    /// Restarts it publishing other key `generations` (a rotation).
    pub async fn rotate(&mut self, generations: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.port, &self.key_dir, generations);
        self.ready(generations).await;
    }

    /// Waits until the provider serves its discovery document, starting it
    /// again (same port, same keys) when it exited first.
    async fn ready(&mut self, generations: &str) {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        let mut exits = Vec::new();
        while tokio::time::Instant::now() < deadline {
            let probe = self.http.get(&url).timeout(Duration::from_secs(5));
            if let Ok(res) = probe.send().await
                && res.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self.key_dir.join("stderr.log")).unwrap_or_default();
                exits.push(format!("{status}: {log}"));
                assert!(
                    exits.len() < START_TRIES,
                    "the OpenID Provider on {} kept exiting: {exits:#?}",
                    self.issuer
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.child = spawn(self.port, &self.key_dir, generations);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the OpenID Provider did not serve on {} within {START_DEADLINE:?} (exits: {exits:#?})",
            self.issuer
        );
    }

    /// An id_token for `login` issued to `client` (`rs256`, `es256` or
    /// `eddsa`) through the authorization-code flow: authorization request,
    /// the (self-finishing) login interaction, the redirect with the code,
    /// and the token request.
    pub async fn id_token(&self, client: &str, login: &str, nonce: &str) -> String {
        let mut cookies: BTreeMap<String, String> = BTreeMap::new();
        let mut url = reqwest::Url::parse_with_params(
            &format!("{}/auth", self.issuer),
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
        let code = loop {
            let cookie = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let res = self
                .http
                .get(url.clone())
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
            let location = res
                .headers()
                .get("location")
                .unwrap_or_else(|| panic!("no redirect from {url}: {}", res.status()))
                .to_str()
                .expect("location");
            url = url.join(location).expect("redirect target");
            if url.as_str().starts_with(REDIRECT_URI) {
                break url
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no code in {url}"));
            }
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("client_id", client)
            .append_pair("client_secret", "secret")
            .finish();
        let body = self
            .http
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token request")
            .bytes()
            .await
            .expect("token response");
        let token: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
        token["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {token}"))
            .to_owned()
    }
}
