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
    /// Services seen to exist (never deleted, so never stale).
    pub known_services: crate::external_services::KnownServices,
    /// Identity providers with their parsed key sets, for the SSO link.
    pub providers: crate::identity_providers::ProviderCache,
    /// The minute each API key's `last_used_at` was last recorded by this
    /// function: one write per key per minute at most.
    pub key_uses: crate::cache::TtlCache<crate::ids::ApiKeyId, String>,
    /// The access-token key, for the functions that mint or verify tokens.
    pub tokens: Option<crate::tokens::TokenKeys>,
    /// The clock (injected in tests).
    pub clock: Arc<dyn Clock>,
    /// The guarded client for customers' URLs (SPEC §16), built on first use.
    pub outbound: crate::outbound::Outbound,
    /// The key webhook secrets are sealed with, for the functions that seal
    /// or sign.
    pub webhook_key: Option<crate::sealed::Keyring>,
    /// The webhook delivery queue, for the functions that send a delivery
    /// themselves (a test ping, a manual retry).
    pub deliveries: Option<crate::queue::DeliveryQueue>,
}

impl App {
    /// Assembles the state from its parts.
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Self {
        let ttl = config.key_cache_ttl;
        let outbound = crate::outbound::Outbound::new(config.outbound.clone());
        Self {
            outbound,
            webhook_key: None,
            deliveries: None,
            config,
            store,
            keys: VersionedCache::new(ttl),
            orgs: VersionedCache::new(ttl),
            limiter: Limiter::default(),
            versions: Versions::default(),
            policies: VersionedCache::new(ttl),
            service_tokens: VersionedCache::new(ttl),
            providers: VersionedCache::new(ttl),
            known_services: crate::cache::TtlCache::new(
                crate::external_services::KNOWN_SERVICE_TTL,
                crate::freshness::CACHE_CAPACITY,
            ),
            key_uses: crate::cache::TtlCache::new(
                std::time::Duration::from_secs(120),
                crate::freshness::CACHE_CAPACITY,
            ),
            tokens: None,
            clock,
        }
    }

    /// Builds a function's state from the environment: the one cold-start
    /// initialisation. Only the functions that mint or verify access tokens
    /// (`token_keys`) load the signing key.
    pub async fn from_env(
        token_keys: bool,
        webhook_key: bool,
        delivery_queue: bool,
    ) -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let sdk = Store::lambda_sdk_config(&config).await;
        let store = Store::from_sdk(&sdk, &config);
        if config.warm_up_connection {
            store.warm_up().await;
        }
        let roots = config.tls_roots;
        let mut app = Self::new(config, store, Arc::new(SystemClock));
        if token_keys {
            app.tokens = Some(crate::tokens::TokenKeys::load(&sdk, roots).await?);
        }
        if webhook_key {
            app.webhook_key = Some(crate::webhooks::load_key(&sdk, roots).await?);
        }
        if delivery_queue {
            app.deliveries =
                Some(crate::queue::DeliveryQueue::from_env(&sdk).ok_or(StartupError::NoQueue)?);
        }
        Ok(app)
    }
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
}
