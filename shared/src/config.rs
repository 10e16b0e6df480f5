//! Configuration read once per cold start from the environment (SPEC §13).

use std::time::Duration;

/// The per-IP bucket's defaults (SPEC §6).
pub const SOURCE_IP_RATE: crate::gcra::Rate = crate::gcra::Rate {
    per_second: 5,
    burst: 10,
};

/// Everything a function needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TETHER_TABLE`: the single DynamoDB table (default `tether`).
    pub table: String,
    /// `AWS_ENDPOINT_URL_DYNAMODB`: a local DynamoDB-compatible endpoint; unset in AWS.
    pub dynamodb_endpoint: Option<String>,
    /// How long a warm Lambda trusts a cached API-key lookup (`TETHER_KEY_CACHE_SECONDS`, ≤ 60).
    pub key_cache_ttl: Duration,
    /// Per-attempt timeout of a DynamoDB call (`TETHER_DYNAMODB_ATTEMPT_TIMEOUT_MS`).
    pub dynamodb_attempt_timeout: Duration,
    /// Whole-operation timeout of a DynamoDB call, retries included (`TETHER_DYNAMODB_OPERATION_TIMEOUT_MS`).
    pub dynamodb_operation_timeout: Duration,
    /// Attempts per DynamoDB call, the first included (`TETHER_DYNAMODB_MAX_ATTEMPTS`).
    pub dynamodb_max_attempts: u32,
    /// The per-source-IP bucket (`TETHER_IP_RATE_LIMIT`, `TETHER_IP_BURST`; 5 rps, burst 10).
    pub source_ip_rate: crate::gcra::Rate,
    /// `TETHER_WARM_UP_CONNECTION=true`: open the DynamoDB connection (DNS,
    /// TCP, TLS) during INIT, so the first request does not pay for it.
    pub warm_up_connection: bool,
    /// `TETHER_READS_BESIDE_LIMITER` (default true): a warm GET runs its
    /// read while the limiter's write is in flight, and so does
    /// a write's read-ahead (the claim's). `false` makes every read wait for
    /// its admission first: the kill switch, and what `make bench` compares
    /// against.
    pub reads_beside_limiter: bool,
    /// `TETHER_TLS_ROOTS`: which certificate authorities the functions' HTTPS
    /// client trusts (default [`TlsRoots::Amazon`]).
    pub tls_roots: TlsRoots,
    /// Which customer URLs may be fetched (SPEC §16):
    /// `TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP=true` on local stacks only,
    /// `TETHER_OWN_HOSTNAMES` the API's own host names (comma-separated).
    pub outbound: crate::outbound::UrlPolicy,
    /// `TETHER_CORS_ORIGINS` (local stacks): the functions answer CORS for
    /// the browser endpoints themselves; unset in AWS, where the HTTP API does.
    pub cors: Option<crate::cors::CorsPolicy>,
    /// `TETHER_PUBLIC_BASE_URL`: the address browsers reach the API at
    /// (SPEC §17: the SSO callback an identity provider registers). https, or
    /// http to a loopback host on local stacks; default `http://127.0.0.1:9000`
    /// (`make dev`).
    pub public_base_url: PublicBaseUrl,
}

/// Whether `url` is https, or http to a loopback host (`localhost` or a
/// loopback address): what browsers may be sent to outside a local stack's
/// own machine only over TLS.
pub fn https_or_loopback_http(url: &url::Url) -> Result<(), &'static str> {
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("must have a host"),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https (http only to a loopback host)"),
    }
}

/// The API's public address, without a trailing slash: https, or http to a
/// loopback host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl(String);

impl PublicBaseUrl {
    /// The address if it is one, else why not.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let url = url::Url::parse(text.trim()).map_err(|_| "must be an absolute URL")?;
        https_or_loopback_http(&url)?;
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err("must be a plain base URL (no query, fragment or user)");
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// A login connection's own SSO callback, what its provider's
    /// administrator registers: one per connection, so a code one provider
    /// sends can never be taken for another's (the OAuth mix-up attack,
    /// RFC 9207 §1).
    pub fn sso_callback(&self, identity_provider_id: impl std::fmt::Display) -> String {
        format!("{}/v1/sso/callback/{identity_provider_id}", self.0)
    }

    /// The SCIM base URL of a directory: what an identity provider's
    /// administrator enters as the SCIM connector's base URL.
    pub fn scim_base(&self, directory_id: impl std::fmt::Display) -> String {
        format!("{}/scim/v2/{directory_id}", self.0)
    }

    /// Whether browsers reach it over TLS: the SSO cookie is then `Secure`
    /// and `__Host-` prefixed.
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The address itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `origin` (a browser's `Origin` header) is this address's
    /// origin: its scheme, host and port.
    pub fn same_origin(&self, origin: &str) -> bool {
        url::Url::parse(&self.0)
            .is_ok_and(|url| url.origin().ascii_serialization() == origin.trim())
    }
}

/// The root certificates the functions trust for their AWS calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsRoots {
    /// `amazon`: the five Amazon Trust Services roots compiled into the
    /// binary, which sign every AWS service endpoint. Nothing is read from
    /// disk, so the cold start skips parsing the system's ~140 authorities.
    Amazon,
    /// `system`: the operating system's store (for an HTTPS endpoint that is
    /// not AWS's, e.g. a DynamoDB-compatible server behind another CA).
    System,
}

/// Comma-separated host names, as compared: lower case, no trailing dot.
pub fn host_names(text: &str) -> Vec<String> {
    text.split(',')
        .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// The longest a revoked key may keep working in a warm Lambda.
pub const MAX_KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// A configuration variable that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("environment variable {name} is invalid: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table = lookup("TETHER_TABLE").unwrap_or_else(|| "tether".to_owned());
        if table.is_empty() {
            return Err(ConfigError {
                name: "TETHER_TABLE",
                problem: "must not be empty",
            });
        }
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError {
                    name,
                    problem: "must be a whole number",
                }),
            }
        };
        let positive = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            let value = number(name, u64::from(default))?;
            u32::try_from(value)
                .ok()
                .filter(|v| *v > 0)
                .ok_or(ConfigError {
                    name,
                    problem: "must be between 1 and 4294967295",
                })
        };
        let key_cache_ttl =
            Duration::from_secs(number("TETHER_KEY_CACHE_SECONDS", 60)?).min(MAX_KEY_CACHE_TTL);
        let max_attempts = number("TETHER_DYNAMODB_MAX_ATTEMPTS", 3)?;
        if max_attempts == 0 || max_attempts > 10 {
            return Err(ConfigError {
                name: "TETHER_DYNAMODB_MAX_ATTEMPTS",
                problem: "must be between 1 and 10",
            });
        }
        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            match lookup(name).as_deref() {
                None | Some("") => Ok(default),
                Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(_) => Err(ConfigError {
                    name,
                    problem: "must be true or false",
                }),
            }
        };
        let warm_up_connection = flag("TETHER_WARM_UP_CONNECTION", false)?;
        let reads_beside_limiter = flag("TETHER_READS_BESIDE_LIMITER", true)?;
        let tls_roots = match lookup("TETHER_TLS_ROOTS").as_deref() {
            None | Some("" | "amazon") => TlsRoots::Amazon,
            Some("system") => TlsRoots::System,
            Some(_) => {
                return Err(ConfigError {
                    name: "TETHER_TLS_ROOTS",
                    problem: "must be amazon or system",
                });
            }
        };
        let allow_loopback = flag("TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP", false)?;
        let own_hosts = host_names(&lookup("TETHER_OWN_HOSTNAMES").unwrap_or_default());
        let cors = lookup("TETHER_CORS_ORIGINS")
            .filter(|v| !v.trim().is_empty())
            .map(|v| crate::cors::CorsPolicy::parse(&v));
        let public_base_url = PublicBaseUrl::parse(
            lookup("TETHER_PUBLIC_BASE_URL")
                .filter(|v| !v.trim().is_empty())
                .as_deref()
                .unwrap_or("http://127.0.0.1:9000"),
        )
        .map_err(|problem| ConfigError {
            name: "TETHER_PUBLIC_BASE_URL",
            problem,
        })?;
        Ok(Self {
            public_base_url,
            cors,
            outbound: crate::outbound::UrlPolicy {
                allow_loopback,
                own_hosts,
                resolver: crate::outbound::Resolver::default(),
            },
            warm_up_connection,
            reads_beside_limiter,
            tls_roots,
            table,
            dynamodb_endpoint: lookup("AWS_ENDPOINT_URL_DYNAMODB").filter(|s| !s.is_empty()),
            key_cache_ttl,
            dynamodb_attempt_timeout: Duration::from_millis(number(
                "TETHER_DYNAMODB_ATTEMPT_TIMEOUT_MS",
                2_000,
            )?),
            dynamodb_operation_timeout: Duration::from_millis(number(
                "TETHER_DYNAMODB_OPERATION_TIMEOUT_MS",
                6_000,
            )?),
            dynamodb_max_attempts: max_attempts as u32,
            source_ip_rate: crate::gcra::Rate {
                per_second: positive("TETHER_IP_RATE_LIMIT", SOURCE_IP_RATE.per_second)?,
                burst: positive("TETHER_IP_BURST", SOURCE_IP_RATE.burst)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.table, "tether");
        assert_eq!(c.dynamodb_endpoint, None);
        assert_eq!(c.key_cache_ttl, Duration::from_secs(60));
        assert_eq!(c.dynamodb_max_attempts, 3);
    }

    #[test]
    fn key_cache_ttl_is_capped_at_sixty_seconds() {
        let c = config(&[("TETHER_KEY_CACHE_SECONDS", "600")]).unwrap();
        assert_eq!(c.key_cache_ttl, MAX_KEY_CACHE_TTL);
    }

    #[test]
    fn bad_numbers_are_reported_by_name() {
        let err = config(&[("TETHER_DYNAMODB_MAX_ATTEMPTS", "many")]).unwrap_err();
        assert_eq!(err.name, "TETHER_DYNAMODB_MAX_ATTEMPTS");
        assert!(config(&[("TETHER_DYNAMODB_MAX_ATTEMPTS", "0")]).is_err());
        assert!(config(&[("TETHER_TABLE", "")]).is_err());
    }

    /// A switch's value with `name` set to `value` (`None`: unset).
    fn switch(name: &str, value: Option<&str>, read: fn(&Config) -> bool) -> bool {
        let vars: Vec<(&str, &str)> = value.map(|v| (name, v)).into_iter().collect();
        read(&config(&vars).unwrap())
    }

    #[test]
    fn the_connection_warm_up_is_opt_in() {
        let name = "TETHER_WARM_UP_CONNECTION";
        let read = |c: &Config| c.warm_up_connection;
        assert!(!switch(name, None, read));
        assert!(switch(name, Some("true"), read));
        assert!(!switch(name, Some("0"), read));
        assert_eq!(config(&[(name, "yes")]).unwrap_err().name, name);
    }

    #[test]
    fn reads_beside_the_limiter_are_on_unless_switched_off() {
        let name = "TETHER_READS_BESIDE_LIMITER";
        let read = |c: &Config| c.reads_beside_limiter;
        assert!(switch(name, None, read));
        assert!(!switch(name, Some("false"), read));
        assert_eq!(config(&[(name, "off")]).unwrap_err().name, name);
    }

    #[test]
    fn amazon_roots_are_the_default_and_system_roots_are_a_choice() {
        assert_eq!(config(&[]).unwrap().tls_roots, TlsRoots::Amazon);
        assert_eq!(
            config(&[("TETHER_TLS_ROOTS", "system")]).unwrap().tls_roots,
            TlsRoots::System
        );
        let err = config(&[("TETHER_TLS_ROOTS", "mozilla")]).unwrap_err();
        assert_eq!(err.name, "TETHER_TLS_ROOTS");
    }

    #[test]
    fn loopback_http_is_off_unless_switched_on() {
        assert!(!config(&[]).unwrap().outbound.allow_loopback);
        let on = config(&[
            ("TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP", "true"),
            ("TETHER_OWN_HOSTNAMES", " API.Example.com., b.example "),
        ])
        .unwrap();
        assert!(on.outbound.allow_loopback);
        assert_eq!(on.outbound.own_hosts, ["api.example.com", "b.example"]);
        let err = config(&[("TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP", "yes")]).unwrap_err();
        assert_eq!(err.name, "TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP");
    }

    #[test]
    fn the_public_base_url_is_https_or_loopback_http() {
        let base = |v: &str| config(&[("TETHER_PUBLIC_BASE_URL", v)]).map(|c| c.public_base_url);
        assert_eq!(
            base("https://api.example.com/").unwrap().sso_callback("p1"),
            "https://api.example.com/v1/sso/callback/p1"
        );
        assert!(base("https://api.example.com").unwrap().is_https());
        assert!(!base("http://127.0.0.1:9000").unwrap().is_https());
        for bad in [
            "http://api.example.com",
            "ftp://x",
            "https://a.example/?q=1",
            "nope",
        ] {
            assert_eq!(
                base(bad).unwrap_err().name,
                "TETHER_PUBLIC_BASE_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_endpoint_means_aws() {
        let c = config(&[("AWS_ENDPOINT_URL_DYNAMODB", "")]).unwrap();
        assert_eq!(c.dynamodb_endpoint, None);
    }
}
