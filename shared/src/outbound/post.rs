//! What Tether POSTs to customers' URLs: webhook deliveries (JSON, their
//! answer's status only) and the token request of the authorization-code
//! flow (RFC 6749 §4.1.3: a form carrying the client's credentials, so it
//! follows no redirect, its JSON answer read within the usual limits).

use super::{FetchError, Fetched, Outbound};
use url::Url;

impl Outbound {
    /// POSTs `body` as JSON with `headers` and returns the answer's status
    /// (its body is not read): checked, within the time limit.
    pub async fn post_json(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<u16, FetchError> {
        self.policy.check(url).map_err(FetchError::Refused)?;
        let client = self.client()?;
        let mut request = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let send = async { request.send().await.map_err(FetchError::from_client) };
        let response = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| FetchError::Timeout)??;
        Ok(response.status().as_u16())
    }
}

/// How a client authenticates at an authorization server's token endpoint
/// (RFC 6749 §2.3.1; OpenID Connect Core §9).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum ClientAuth<'a> {
    /// `client_secret_basic`: HTTP Basic over the form-encoded id and secret.
    Basic {
        /// The client id.
        id: &'a str,
        /// The client secret.
        secret: &'a str,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post {
        /// The client id.
        id: &'a str,
        /// The client secret.
        secret: &'a str,
    },
}

impl std::fmt::Debug for ClientAuth<'_> {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (method, id) = match self {
            Self::Basic { id, .. } => ("client_secret_basic", id),
            Self::Post { id, .. } => ("client_secret_post", id),
        };
        f.debug_struct(method)
            .field("id", id)
            .finish_non_exhaustive()
    }
}

impl ClientAuth<'_> {
    /// The `Authorization` header of `client_secret_basic`: each part
    /// form-encoded before the two are joined by `:` (RFC 6749 §2.3.1), so
    /// a secret holding `:` or `%` reaches the server as it is.
    fn basic_header(id: &str, secret: &str) -> String {
        use base64::Engine as _;
        let encode =
            |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(id), encode(secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

impl Outbound {
    /// POSTs `form` (`application/x-www-form-urlencoded`) to a token
    /// endpoint, authenticated as `auth`, and reads its JSON answer:
    /// checked, within the time and size limits, and following no redirect
    /// (the request carries the client's credentials). A status other than
    /// 2xx is [`FetchError::Status`]; its body is not read. `form` holds the
    /// grant's parameters only: `client_id` and `client_secret` come from
    /// `auth` (sent twice, a provider may refuse the request).
    pub async fn post_form(
        &self,
        url: &Url,
        auth: ClientAuth<'_>,
        form: &[(&str, &str)],
    ) -> Result<Fetched, FetchError> {
        self.policy.check(url).map_err(FetchError::Refused)?;
        let client = self.client_in(&self.unredirected, false)?;
        // The form is encoded apart: its serializer is not `Send`, and the
        // request is awaited.
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        let mut request = client
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        match auth {
            ClientAuth::Basic { id, secret } => {
                let mut value =
                    reqwest::header::HeaderValue::from_str(&ClientAuth::basic_header(id, secret))
                        .map_err(|e| FetchError::Connect(e.to_string()))?;
                // Kept out of any debug rendering of the request.
                value.set_sensitive(true);
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            ClientAuth::Post { id, secret } => {
                pairs.push(("client_id", id));
                pairs.push(("client_secret", secret));
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let request = request.body(body);
        self.answer_of(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        use base64::Engine as _;
        let header = ClientAuth::basic_header("app one", "s3:c%r+t/é");
        let encoded = header.strip_prefix("Basic ").expect("Basic scheme");
        let pair = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(
            String::from_utf8(pair).expect("ASCII"),
            "app+one:s3%3Ac%25r%2Bt%2F%C3%A9"
        );
        let auth = ClientAuth::Basic {
            id: "app",
            secret: "hunter2",
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
