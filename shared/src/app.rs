//! What a function keeps between invocations: built once per cold start and
//! shared by reference by every request.

use crate::auth::KeyCache;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::freshness::{VersionedCache, Versions};
use crate::ids::OrganizationId;
use crate::limits::Limiter;
use crate::organizations::Organization;
use crate::store::Store;
use std::sync::Arc;

/// The state of a warm function.
#[derive(Debug)]
pub struct App {
    /// Configuration from the environment.
    pub config: Config,
    /// The DynamoDB table.
    pub store: Store,
    /// API-key lookups (hits only). Every cache below is current at a version
    /// of its owner and checked against the version each request's limiter
    /// write returns ([`crate::freshness`]); `config.key_cache_ttl` only
    /// bounds how long an entry stays in memory.
    pub keys: KeyCache,
    /// Organization records (plans, limits).
    pub orgs: VersionedCache<OrganizationId, Organization>,
    /// The rate limiter's warm state.
    pub limiter: Limiter,
    /// The owners' versions this function's limiter writes returned.
    pub versions: Versions,
    /// Organizations' own Cedar policies (`None`: has none).
    pub policies: VersionedCache<OrganizationId, Option<Arc<crate::authz::OrgPolicies>>>,
    /// Service-token lookups, current at their service's version.
    pub service_tokens: crate::external_services::ServiceTokenCache,
    /// Warm cache of SCIM token lookups (hits only), as `keys`.
    pub directory_tokens: crate::directories::TokenCache,
    /// Services seen to exist (never deleted, so never stale).
    pub known_services: crate::external_services::KnownServices,
    /// Identity providers with their parsed key sets, for the SSO link.
    pub providers: crate::identity_providers::ProviderCache,
    /// The minute each API key's `last_used_at` was last recorded by this
    /// function: one write per key per minute at most.
    pub key_uses: crate::cache::TtlCache<crate::ids::ApiKeyId, crate::clock::Timestamp>,
    /// Organizations' rate-limit refusals this function has not written yet
    /// (the portal's Usage chart).
    pub refusals: crate::limits::refusals::Refusals,
    /// The access-token key, for the functions that mint or verify tokens.
    pub tokens: Option<Arc<crate::tokens::TokenKeys>>,
    /// The clock (injected in tests).
    pub clock: Arc<dyn Clock>,
    /// The guarded client for customers' URLs (SPEC §16), for the functions
    /// that fetch them: it knows the deployment's own host names.
    pub outbound: Option<Arc<crate::outbound::Outbound>>,
    /// The key webhook secrets are sealed with, for the functions that seal
    /// or sign.
    pub webhook_key: Option<Arc<crate::sealed::Keyring>>,
    /// The webhook delivery queue, for the functions that send a delivery
    /// themselves (a test ping, a manual retry).
    pub deliveries: Option<crate::queue::DeliveryQueue>,
    /// The key Idempotency-Key records are derived under, for the functions
    /// that take POSTs (SPEC §9).
    pub idempotency: Option<crate::idempotency::Secret>,
}

impl App {
    /// Assembles the state from its parts, without any deployment key or
    /// client a function loads only when its operation uses it.
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Self {
        let ttl = config.key_cache_ttl;
        Self {
            outbound: None,
            webhook_key: None,
            deliveries: None,
            idempotency: None,
            config,
            store,
            keys: VersionedCache::new(ttl),
            orgs: VersionedCache::new(ttl),
            limiter: Limiter::default(),
            versions: Versions::default(),
            policies: VersionedCache::new(ttl),
            service_tokens: VersionedCache::new(ttl),
            directory_tokens: VersionedCache::new(ttl),
            providers: VersionedCache::new(ttl),
            known_services: crate::cache::TtlCache::new(
                crate::external_services::KNOWN_SERVICE_TTL,
                crate::freshness::CACHE_CAPACITY,
            ),
            refusals: crate::limits::refusals::Refusals::default(),
            key_uses: crate::cache::TtlCache::new(
                std::time::Duration::from_secs(120),
                crate::freshness::CACHE_CAPACITY,
            ),
            tokens: None,
            clock,
        }
    }

    /// Builds a function's state from the environment: the one cold-start
    /// initialisation. Each deployment key is loaded only by the functions
    /// that use it.
    pub async fn from_env(needs: Needs) -> Result<Self, StartupError> {
        let mut config = Config::from_env()?;
        let sdk = Store::lambda_sdk_config(&config).await;
        if needs.own_hostnames {
            load_own_hostnames(&sdk, &mut config, &crate::tokens::env_var).await?;
        }
        let store = Store::from_sdk(&sdk, &config);
        if config.warm_up_connection {
            store.warm_up().await;
        }
        let mut app = Self::new(config, store, Arc::new(SystemClock));
        if needs.own_hostnames {
            let outbound = crate::outbound::Outbound::new(app.config.outbound.clone());
            app.outbound = Some(Arc::new(outbound));
        }
        // Each key is its own SSM read in AWS: read side by side, a cold
        // start waits for the slowest, not for their sum.
        let (tokens, webhook_key, idempotency) = tokio::try_join!(
            async {
                Ok::<_, StartupError>(match needs.token_keys {
                    true => Some(Arc::new(crate::tokens::TokenKeys::load(&sdk).await?)),
                    false => None,
                })
            },
            async {
                Ok::<_, StartupError>(match needs.webhook_key {
                    true => Some(Arc::new(crate::webhooks::load_key(&sdk).await?)),
                    false => None,
                })
            },
            async {
                Ok::<_, StartupError>(match needs.idempotency_key {
                    true => Some(crate::idempotency::load_secret(&sdk).await?),
                    false => None,
                })
            },
        )?;
        (app.tokens, app.webhook_key, app.idempotency) = (tokens, webhook_key, idempotency);
        if needs.delivery_queue {
            app.deliveries =
                Some(crate::queue::DeliveryQueue::from_env(&sdk).ok_or(StartupError::NoQueue)?);
        }
        Ok(app)
    }
}

/// What a function loads at its cold start beyond the table: the route
/// table derives it from the types of the endpoint's handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The access-token keys (it mints or verifies tokens).
    pub token_keys: bool,
    /// The webhook keyring (it seals or signs webhook secrets).
    pub webhook_key: bool,
    /// The delivery queue (it sends deliveries).
    pub delivery_queue: bool,
    /// The idempotency key (it takes POSTs).
    pub idempotency_key: bool,
    /// The deployment's own host names (it fetches customers' URLs).
    pub own_hostnames: bool,
}

impl Needs {
    /// Nothing beyond the table.
    pub const NONE: Self = Self {
        token_keys: false,
        webhook_key: false,
        delivery_queue: false,
        idempotency_key: false,
        own_hostnames: false,
    };

    /// Also the access-token keys.
    pub const fn with_token_keys(self) -> Self {
        Self {
            token_keys: true,
            ..self
        }
    }

    /// Also the webhook keyring.
    pub const fn with_webhook_key(self) -> Self {
        Self {
            webhook_key: true,
            ..self
        }
    }

    /// Also the delivery queue.
    pub const fn with_delivery_queue(self) -> Self {
        Self {
            delivery_queue: true,
            ..self
        }
    }

    /// Also the idempotency key.
    pub const fn with_idempotency_key(self) -> Self {
        Self {
            idempotency_key: true,
            ..self
        }
    }

    /// Also the deployment's own host names (and the guarded client).
    pub const fn with_own_hostnames(self) -> Self {
        Self {
            own_hostnames: true,
            ..self
        }
    }

    /// Both.
    pub const fn and(self, other: Self) -> Self {
        Self {
            token_keys: self.token_keys || other.token_keys,
            webhook_key: self.webhook_key || other.webhook_key,
            delivery_queue: self.delivery_queue || other.delivery_queue,
            idempotency_key: self.idempotency_key || other.idempotency_key,
            own_hostnames: self.own_hostnames || other.own_hostnames,
        }
    }
}

/// Adds the deployment's own API host names to those never fetched (SPEC
/// §16): `TETHER_OWN_HOSTNAMES` (read with the configuration) and, in AWS,
/// the parameter `TETHER_OWN_HOSTNAMES_PARAMETER` names, which the template
/// itself writes with both APIs' `execute-api` host names and any custom
/// domain — so they are refused without an operator having to remember.
pub async fn load_own_hostnames(
    sdk: &aws_config::SdkConfig,
    config: &mut Config,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(), crate::tokens::KeyError> {
    let Some(parameter) = lookup("TETHER_OWN_HOSTNAMES_PARAMETER") else {
        return Ok(());
    };
    let text = crate::ssm::Parameters::new(sdk)
        .secure_string(&parameter)
        .await
        .map_err(crate::tokens::KeyError::Ssm)?;
    config
        .outbound
        .own_hosts
        .extend(crate::config::host_names(&text));
    Ok(())
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A configuration variable is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The token signing key could not be loaded.
    #[error(transparent)]
    TokenKey(#[from] crate::tokens::KeyError),
    /// The function delivers webhooks and `TETHER_DELIVERY_QUEUE_URL` is unset.
    #[error("TETHER_DELIVERY_QUEUE_URL is not set")]
    NoQueue,
    /// The state lacks what the endpoint's operation uses.
    #[error(transparent)]
    Missing(#[from] Missing),
}

/// Why a function cannot serve its endpoint: its state lacks what the
/// operation's signature names (a deployment key was not loaded).
#[derive(Debug, thiserror::Error)]
#[error("{function} lacks what its operation uses ({needs:?})")]
pub struct Missing {
    /// The function.
    pub function: &'static str,
    /// What it needs.
    pub needs: Needs,
}
