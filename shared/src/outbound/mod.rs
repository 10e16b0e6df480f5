//! Outbound HTTP to URLs customers give us (SPEC §16): issuers' discovery
//! documents and key sets now, webhook receivers later.
//!
//! A customer's URL is an attacker's way into our network (the instance
//! metadata at 169.254.169.254, a VPC's private services, our own API), so
//! every fetch goes through one client that:
//! - takes only `https://` (and, on a local stack switched by
//!   configuration, `http://` to loopback);
//! - resolves the host itself and connects only to addresses it checked
//!   (the [`GuardedResolver`] is the client's only resolver, so there is no
//!   second lookup an attacker's DNS could answer differently), refusing
//!   the whole name if any of its addresses is not public;
//! - checks an IP-literal host, and every redirect's target, the same way;
//! - gives a fetch 3 s in all and reads at most 64 KiB of body.

mod addresses;
mod post;

pub use addresses::is_public;
pub use post::ClientAuth;

use addresses::loopback_v4;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The whole time a fetch of a key set or discovery document may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The most body a fetch reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a webhook delivery may take, connection included (SPEC §16).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 3;

/// Which URLs a deployment may fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// `TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP=true` (local stacks only):
    /// `http://` to loopback, and loopback addresses, are allowed too.
    pub allow_loopback: bool,
    /// `TETHER_OWN_HOSTNAMES`: the deployment's own API host names, never
    /// fetched (lower case).
    pub own_hosts: Vec<String>,
    /// How host names are resolved (the system's resolver but in tests).
    pub resolver: Resolver,
}

/// Why a URL may not be fetched (422 `invalid_url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlRefused {
    /// Not an absolute URL with a host.
    #[error("is not an absolute URL")]
    Malformed,
    /// Not `https://` (or `http://` to loopback on a local stack).
    #[error("must be an https:// URL")]
    Scheme,
    /// `user:password@` in the URL.
    #[error("must not carry credentials")]
    Credentials,
    /// The deployment's own API, or a name that only means this machine.
    #[error("names a host that may not be fetched")]
    Host,
    /// The host is, or resolves to, an address that is not public.
    #[error("resolves to an address that is not public ({0})")]
    Address(IpAddr),
    /// The host does not resolve.
    #[error("does not resolve")]
    Unresolvable,
}

impl UrlPolicy {
    /// Parses `url` and checks what can be checked without DNS: scheme,
    /// credentials, host name, IP-literal address.
    pub fn parse(&self, url: &str) -> Result<Url, UrlRefused> {
        let parsed = Url::parse(url).map_err(|_| UrlRefused::Malformed)?;
        self.check(&parsed)?;
        Ok(parsed)
    }

    /// [`Self::parse`] for a parsed URL (a redirect's target).
    pub fn check(&self, url: &Url) -> Result<(), UrlRefused> {
        let host = url.host().ok_or(UrlRefused::Malformed)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::Credentials);
        }
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        let name = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        match url.scheme() {
            "https" => {}
            // Plain HTTP only to this machine, and only where configured.
            "http"
                if self.allow_loopback
                    && (name == "localhost" || literal.is_some_and(|ip| ip.is_loopback())) => {}
            _ => return Err(UrlRefused::Scheme),
        }
        if self.own_hosts.iter().any(|own| own == name) {
            return Err(UrlRefused::Host);
        }
        if let Some(ip) = literal {
            self.address(ip)?;
        } else if !self.allow_loopback && (name == "localhost" || name.ends_with(".localhost")) {
            return Err(UrlRefused::Host);
        }
        Ok(())
    }

    /// Checks one address a URL's host is or resolves to.
    pub fn address(&self, ip: IpAddr) -> Result<(), UrlRefused> {
        if is_public(ip) || (self.allow_loopback && loopback_v4(ip).is_loopback()) {
            Ok(())
        } else {
            Err(UrlRefused::Address(ip))
        }
    }

    /// Resolves the URL's host and checks every address (at registration of
    /// a URL nothing is fetched from yet).
    pub async fn resolve(&self, url: &Url) -> Result<(), UrlRefused> {
        self.check(url)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            resolve_checked(self, name).await?;
        }
        Ok(())
    }
}

/// How host names are resolved: the system's resolver, or (tests) another
/// lookup with the same contract, e.g. a DNS server that never answers.
#[derive(Clone, Default)]
pub struct Resolver(Option<Arc<LookupFn>>);

/// A name lookup: the addresses of a host name.
pub type LookupFn = dyn Fn(String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>
    + Send
    + Sync;

impl Resolver {
    /// Resolves with `lookup` instead of the system's resolver.
    pub fn with(lookup: Arc<LookupFn>) -> Self {
        Self(Some(lookup))
    }

    async fn lookup(&self, name: &str) -> std::io::Result<Vec<SocketAddr>> {
        match &self.0 {
            Some(lookup) => lookup(name.to_owned()).await,
            None => Ok(tokio::net::lookup_host((name, 0)).await?.collect()),
        }
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Resolver(custom)"
        } else {
            "Resolver(system)"
        })
    }
}

impl PartialEq for Resolver {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Resolver {}

/// Resolves `name` and returns its addresses if every one is allowed.
/// Resolution counts inside the fetch's time (SPEC §16): a DNS server that
/// answers slowly cannot hold a request past [`FETCH_TIMEOUT`].
async fn resolve_checked(policy: &UrlPolicy, name: &str) -> Result<Vec<SocketAddr>, UrlRefused> {
    let addrs: Vec<SocketAddr> = tokio::time::timeout(FETCH_TIMEOUT, policy.resolver.lookup(name))
        .await
        .map_err(|_| UrlRefused::Unresolvable)?
        .map_err(|_| UrlRefused::Unresolvable)?;
    if addrs.is_empty() {
        return Err(UrlRefused::Unresolvable);
    }
    // One bad address refuses the name: a client that tried them in turn
    // would reach it.
    for addr in &addrs {
        policy.address(addr.ip())?;
    }
    Ok(addrs)
}

/// The client's only resolver: what it returns is what gets connected to.
#[derive(Debug)]
struct GuardedResolver(Arc<UrlPolicy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let addrs = resolve_checked(&policy, name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Why a fetch failed: `details.reason` of 422 `identity_provider_unreachable`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL, or a redirect's target, is not allowed.
    #[error("the URL is not allowed: {0}")]
    Refused(UrlRefused),
    /// No answer within the time limit.
    #[error("no response within {FETCH_TIMEOUT:?}")]
    Timeout,
    /// No connection, TLS failure, too many redirects.
    #[error("could not connect: {0}")]
    Connect(String),
    /// A status other than 2xx.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// A body over [`MAX_BODY_BYTES`].
    #[error("the response is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The body is not the document expected.
    #[error("invalid document: {0}")]
    InvalidDocument(String),
}

impl FetchError {
    /// The machine-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(_) => "url_not_allowed",
            Self::Timeout => "timeout",
            Self::Connect(_) => "connection_failed",
            Self::Status(_) => "http_status",
            Self::TooLarge => "too_large",
            Self::InvalidDocument(_) => "invalid_document",
        }
    }

    /// A refusal found anywhere in a client error's chain (the resolver's
    /// or the redirect policy's), else a connection failure.
    fn from_client(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<UrlRefused>() {
                return Self::Refused(refused.clone());
            }
            source = e.source();
        }
        Self::Connect(err.without_url().to_string())
    }
}

/// A fetched body and how long it may be cached.
pub struct Fetched {
    /// At most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` (or `s-maxage`), seconds; `Some(0)` for
    /// `no-store`/`no-cache`.
    pub max_age: Option<u64>,
}

impl std::fmt::Debug for Fetched {
    // A token endpoint's answer holds tokens: only its size is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("body_bytes", &self.body.len())
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// The guarded client, built on first use (most functions never fetch).
#[derive(Debug)]
pub struct Outbound {
    pub(super) policy: Arc<UrlPolicy>,
    client: OnceLock<reqwest::Client>,
    /// For requests that carry credentials: no redirect is followed.
    pub(super) unredirected: OnceLock<reqwest::Client>,
    pub(super) timeout: Duration,
    /// Webhook deliveries follow no redirect: a 3xx is a failed attempt.
    follow_redirects: bool,
}

impl Outbound {
    /// A client that fetches under `policy` within [`FETCH_TIMEOUT`].
    pub fn new(policy: UrlPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            client: OnceLock::new(),
            unredirected: OnceLock::new(),
            timeout: FETCH_TIMEOUT,
            follow_redirects: true,
        }
    }

    /// The client that delivers webhooks under `policy`: within
    /// [`WEBHOOK_TIMEOUT`], no redirect followed (a POST must not turn into
    /// a GET elsewhere, and the receiver's URL is the one registered).
    pub fn for_webhooks(policy: UrlPolicy) -> Self {
        Self {
            timeout: WEBHOOK_TIMEOUT,
            follow_redirects: false,
            ..Self::new(policy)
        }
    }

    /// The policy URLs are checked against.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    pub(super) fn client(&self) -> Result<&reqwest::Client, FetchError> {
        self.client_in(&self.client, self.follow_redirects)
    }

    /// The client kept in `slot`, built on first use; it follows checked
    /// redirects when `follow`.
    pub(super) fn client_in<'a>(
        &self,
        slot: &'a OnceLock<reqwest::Client>,
        follow: bool,
    ) -> Result<&'a reqwest::Client, FetchError> {
        if let Some(client) = slot.get() {
            return Ok(client);
        }
        let policy = Arc::clone(&self.policy);
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if !follow {
                return attempt.stop();
            }
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if let Err(refused) = policy.check(attempt.url()) {
                attempt.error(refused)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(Arc::new(GuardedResolver(Arc::clone(&self.policy))))
            .https_only(!self.policy.allow_loopback)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("Tether/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Connect(e.to_string()))?;
        Ok(slot.get_or_init(|| client))
    }

    /// GETs `url` as JSON: checked, within the time and size limits.
    pub async fn get_json(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.policy.check(url).map_err(FetchError::Refused)?;
        let client = self.client()?;
        self.answer_of(
            client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .await
    }

    /// Sends `request` and reads its 2xx answer: within the time limit,
    /// sending and reading together, and [`read_capped`]'s size limit.
    pub(super) async fn answer_of(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, FetchError> {
        let exchange = async {
            let response = request.send().await.map_err(FetchError::from_client)?;
            if !response.status().is_success() {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            read_capped(response).await
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}

/// A response's body, at most [`MAX_BODY_BYTES`], with its cache lifetime.
async fn read_capped(mut response: reqwest::Response) -> Result<Fetched, FetchError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let max_age = response
        .headers()
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::from_client)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// The freshness lifetime one `Cache-Control` header gives, if any.
fn max_age(header: &str) -> Option<u64> {
    let mut found = None;
    for directive in header.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(0),
            "s-maxage" => return value.trim_matches('"').parse().ok(),
            "max-age" => found = value.trim_matches('"').parse().ok(),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed() -> UrlPolicy {
        UrlPolicy {
            allow_loopback: false,
            own_hosts: vec!["api.tether.example".into()],
            resolver: Resolver::default(),
        }
    }

    fn local() -> UrlPolicy {
        UrlPolicy {
            allow_loopback: true,
            own_hosts: vec![],
            resolver: Resolver::default(),
        }
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::a9fe:a9fe",
            // Every IANA special-purpose block (SPEC §16), public-looking
            // embeddings of public IPv4 addresses included.
            "192.0.0.9",
            "192.0.0.170",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.175.48.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "240.0.0.1",
            "0.1.2.3",
            "100.127.255.255",
            "2002:808:808::1",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:1::1",
            "2001:4:112::1",
            "2001:20::1",
            "64:ff9b::808:808",
            "64:ff9b:1::808:808",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
            "::808:808",
            "100::1",
            "5f00::1",
            "3fff::1",
            "3fff:fff::1",
            "2620:4f:8000::1",
            "fec0::1",
            "4000::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(deployed().address(ip).is_err(), "{ip} must be refused");
        }
        for ip in [
            "8.8.8.8",
            "142.250.74.46",
            "2606:4700::1111",
            "20.190.128.1",
            "2001:4860:4860::8888",
            "2620:4f:8001::1",
            "3ffe::1",
            "198.20.0.1",
            "100.128.0.1",
            "223.255.255.255",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(deployed().address(ip), Ok(()), "{ip} is public");
        }
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        let p = deployed();
        assert!(p.parse("https://accounts.google.com").is_ok());
        assert_eq!(
            p.parse("http://accounts.google.com"),
            Err(UrlRefused::Scheme)
        );
        assert_eq!(p.parse("ftp://example.com"), Err(UrlRefused::Scheme));
        assert_eq!(p.parse("not a url"), Err(UrlRefused::Malformed));
        assert_eq!(
            p.parse("https://u:p@example.com"),
            Err(UrlRefused::Credentials)
        );
        assert_eq!(
            p.parse("https://API.tether.example/x"),
            Err(UrlRefused::Host)
        );
        assert_eq!(p.parse("https://localhost/x"), Err(UrlRefused::Host));
        // Decimal and hex spellings of an address are still that address.
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://2852039166/",
            "https://0xA9FEA9FE/",
        ] {
            assert!(matches!(p.parse(url), Err(UrlRefused::Address(_))), "{url}");
        }
    }

    #[test]
    fn a_local_stack_allows_http_to_loopback_only() {
        let p = local();
        assert!(p.parse("http://127.0.0.1:8080/jwks").is_ok());
        assert!(p.parse("http://localhost:8080/").is_ok());
        assert_eq!(p.parse("http://example.com/"), Err(UrlRefused::Scheme));
        assert!(matches!(
            p.parse("http://10.0.0.1/"),
            Err(UrlRefused::Scheme)
        ));
        assert!(matches!(
            p.parse("https://10.0.0.1/"),
            Err(UrlRefused::Address(_))
        ));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        let refused = resolve_checked(&deployed(), "localhost").await;
        assert!(matches!(refused, Err(UrlRefused::Address(ip)) if ip.is_loopback()));
        assert!(resolve_checked(&local(), "localhost").await.is_ok());
        let unknown = resolve_checked(&deployed(), "no-such-host.invalid").await;
        assert_eq!(unknown, Err(UrlRefused::Unresolvable));
    }

    #[test]
    fn cache_lifetimes_come_from_cache_control() {
        assert_eq!(max_age("public, max-age=21600"), Some(21600));
        assert_eq!(max_age("max-age=60, s-maxage=600"), Some(600));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
