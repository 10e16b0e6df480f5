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
    /// The clock (injected in tests).
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// Assembles the state from its parts.
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Self {
        let keys = KeyCache::new(config.key_cache_ttl, crate::auth::KEY_CACHE_CAPACITY);
        let orgs = TtlCache::new(config.key_cache_ttl, crate::auth::KEY_CACHE_CAPACITY);
        Self {
            config,
            store,
            keys,
            orgs,
            limiter: Limiter::default(),
            clock,
        }
    }

    /// Builds the state from the environment: the one cold-start initialisation.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        let store = Store::from_config(&config).await;
        Ok(Self::new(config, store, Arc::new(SystemClock)))
    }
}
