//! What a function keeps between invocations: built once per cold start and
//! shared by reference by every request.

use crate::auth::KeyCache;
use crate::cache::TtlCache;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::ids::OrganizationId;
use crate::limits::Limiter;
use crate::organizations::Organization;
use crate::store::Store;
use std::sync::Arc;

/// How long a warm function uses an organization's policies before reading
/// them again: a `PUT /v1/policies` reaches every function within this.
pub const POLICY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// The state of a warm function.
#[derive(Debug)]
pub struct App {
    /// Configuration from the environment.
    pub config: Config,
    /// The DynamoDB table.
    pub store: Store,
    /// API-key lookups, cached for at most `config.key_cache_ttl`.
    pub keys: KeyCache,
    /// Organization records (plans, limits), cached like keys.
    pub orgs: TtlCache<OrganizationId, Organization>,
    /// The rate limiter's warm state.
    pub limiter: Limiter,
    /// Organizations' own Cedar policies (`None`: has none), cached briefly.
    pub policies: TtlCache<OrganizationId, Option<Arc<crate::authz::OrgPolicies>>>,
    /// Service-token lookups, cached like API keys.
    pub service_tokens: crate::external_services::ServiceTokenCache,
    /// Identity providers with their parsed key sets, for the SSO link.
    /// Providers cannot be changed once registered, so a warm function keeps
    /// what it read (hits only, like the key cache).
    pub providers: crate::identity_providers::ProviderCache,
    /// The access-token key, for the functions that mint or verify tokens.
    pub tokens: Option<crate::tokens::TokenKeys>,
    /// The clock (injected in tests).
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// Assembles the state from its parts.
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Self {
        let keys = KeyCache::new(config.key_cache_ttl, crate::auth::KEY_CACHE_CAPACITY);
        let orgs = TtlCache::new(config.key_cache_ttl, crate::auth::KEY_CACHE_CAPACITY);
        let policies = TtlCache::new(POLICY_CACHE_TTL, crate::auth::KEY_CACHE_CAPACITY);
        let config_ttl = config.key_cache_ttl;
        Self {
            config,
            store,
            keys,
            orgs,
            limiter: Limiter::default(),
            policies,
            service_tokens: TtlCache::new(config_ttl, crate::auth::KEY_CACHE_CAPACITY),
            providers: TtlCache::new(config_ttl, crate::auth::KEY_CACHE_CAPACITY),
            tokens: None,
            clock,
        }
    }

    /// Builds a function's state from the environment: the one cold-start
    /// initialisation. Only the functions that mint or verify access tokens
    /// (`token_keys`) load the signing key.
    pub async fn from_env(token_keys: bool) -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let sdk = Store::lambda_sdk_config(&config).await;
        let store = Store::from_sdk(&sdk, &config);
        if config.warm_up_connection {
            store.warm_up().await;
        }
        let mut app = Self::new(config, store, Arc::new(SystemClock));
        if token_keys {
            app.tokens = Some(crate::tokens::TokenKeys::load(&sdk).await?);
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
}
