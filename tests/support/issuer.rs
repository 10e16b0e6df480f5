//! A scriptable OpenID issuer on loopback for the key-cache tests: it serves
//! a discovery document and a key set, and can be told to rotate keys,
//! send a `Cache-Control` lifetime, fail, stall, redirect or answer too
//! much, counting every request. (The genuine provider the SSO tests also
//! run is `tests/oidc`; this one exists for the faults a real one will not
//! produce on demand.)

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the issuer answers.
#[derive(Debug, Clone)]
pub struct Script {
    /// The key set at `/jwks`.
    pub jwks: Value,
    /// `Cache-Control` of the key set, if any.
    pub cache_control: Option<String>,
    /// Status of every answer (200 unless failing).
    pub status: u16,
    /// Wait this long before answering.
    pub delay: Duration,
    /// The `issuer` the discovery document claims (its own by default).
    pub claimed_issuer: Option<String>,
    /// Answer `/jwks` with this body instead.
    pub raw_jwks: Option<Vec<u8>>,
    /// Answer `/jwks` with a redirect here.
    pub redirect_jwks: Option<String>,
}

/// A running issuer; stops when dropped.
#[derive(Debug)]
pub struct FakeIssuer {
    /// `http://127.0.0.1:<port>`: its issuer identifier.
    pub issuer: String,
    script: Arc<Mutex<Script>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeIssuer {
    /// Starts an issuer serving `jwks`.
    pub async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the issuer");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let script = Arc::new(Mutex::new(Script {
            jwks,
            cache_control: None,
            status: 200,
            delay: Duration::ZERO,
            claimed_issuer: None,
            raw_jwks: None,
            redirect_jwks: None,
        }));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (s, h, base) = (Arc::clone(&script), Arc::clone(&hits), issuer.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (s, h, base) = (Arc::clone(&s), Arc::clone(&h), base.clone());
                tokio::spawn(async move { serve(socket, s, h, base).await });
            }
        });
        Self {
            issuer,
            script,
            hits,
            task,
        }
    }

    /// Changes what it answers.
    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().expect("script"));
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Its key set's URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }
}

async fn serve(
    mut socket: tokio::net::TcpStream,
    script: Arc<Mutex<Script>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    base: String,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    *hits.lock().expect("hits").entry(path.clone()).or_default() += 1;
    let script = script.lock().expect("script").clone();
    tokio::time::sleep(script.delay).await;
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let body = match path.as_str() {
        "/.well-known/openid-configuration" => json!({
            "issuer": script.claimed_issuer.clone().unwrap_or_else(|| base.clone()),
            "jwks_uri": format!("{base}/jwks"),
            "authorization_endpoint": format!("{base}/auth"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        })
        .to_string()
        .into_bytes(),
        "/jwks" => {
            if let Some(cache_control) = &script.cache_control {
                headers.push(("Cache-Control".to_owned(), cache_control.clone()));
            }
            script
                .raw_jwks
                .clone()
                .unwrap_or_else(|| script.jwks.to_string().into_bytes())
        }
        _ => b"{}".to_vec(),
    };
    let status = match (&script.redirect_jwks, path.as_str()) {
        (Some(target), "/jwks") => {
            headers.push(("Location".to_owned(), target.clone()));
            302
        }
        _ if path.starts_with("/.well-known") || path == "/jwks" => script.status,
        _ => 404,
    };
    let mut response = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.write_all(&body).await;
    let _ = socket.shutdown().await;
}
