//! The pipeline's rate-limit step: charge the request to its owner's bucket
//! (SPEC §6), count its turn (§7), and render the headers of SPEC §3.

use crate::app::App;
use crate::error::ApiError;
use crate::limits::{Admission, Denial, Owner, Policy, header_time};
use crate::organizations::Organization;
use lambda_http::http::HeaderValue;
use lambda_http::http::header::{HeaderName, RETRY_AFTER};

/// A charge that was judged or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Charged {
    /// Admitted; the owner's version.
    Admitted(u64),
    /// Not judged: the owner changed since its policy was read.
    Outdated,
}

/// What the limiter step learned, for the response headers.
#[derive(Debug, Default)]
pub(super) struct Metering {
    /// The bucket after this request (admitted or not).
    admission: Option<Admission>,
    /// The organization whose quotas apply.
    relationships: Option<(u64, u64)>,
}

impl Metering {
    /// Charges one request to `owner` under `policy` as read at the owner's
    /// version `read_at`; a refusal is the 429 to answer. The owner's version
    /// the write returned is recorded for the warm caches
    /// ([`crate::freshness`]) and returned, or [`Charged::Outdated`].
    pub(super) async fn charge(
        &mut self,
        app: &App,
        owner: Owner,
        policy: Policy,
        read_at: Option<u64>,
    ) -> Result<Charged, ApiError> {
        let outcome = app
            .limiter
            .admit(&app.store, &owner, policy, read_at, app.clock.now())
            .await?;
        let version = match &outcome {
            Ok(a)
            | Err(Denial::RateLimited { state: a, .. } | Denial::TurnsExhausted { state: a, .. }) => {
                a.version
            }
            Err(Denial::Outdated { version }) => *version,
        };
        if !matches!(owner, Owner::SourceIp(_)) {
            app.versions.record(&owner.partition_key(), version);
        }
        match outcome {
            Ok(admission) => {
                self.admission = Some(admission);
                Ok(Charged::Admitted(version))
            }
            Err(Denial::Outdated { .. }) => Ok(Charged::Outdated),
            Err(Denial::RateLimited { state, retry_after }) => {
                self.admission = Some(state);
                Err(ApiError::RateLimited { retry_after })
            }
            Err(Denial::TurnsExhausted { state, retry_after }) => {
                self.admission = Some(state);
                Err(ApiError::TurnQuotaExhausted { retry_after })
            }
        }
    }

    /// Charges an organization's request: its plan's rate, burst and turns,
    /// as read at its version `read_at`.
    pub(super) async fn charge_organization(
        &mut self,
        app: &App,
        org: &Organization,
        read_at: Option<u64>,
    ) -> Result<Charged, ApiError> {
        let limits = org.limits();
        self.relationships = Some((org.relationships_active, limits.relationship_ceiling));
        self.charge(
            app,
            Owner::Organization(org.id),
            org.limiter_policy(),
            read_at,
        )
        .await
    }

    /// Charges an external service's request: its own bucket, no turns.
    pub(super) async fn charge_external_service(
        &mut self,
        app: &App,
        id: crate::ids::ExternalServiceId,
    ) -> Result<u64, ApiError> {
        let policy = crate::limits::EXTERNAL_SERVICE_POLICY;
        // The service's policy is configuration: nothing to hold it to.
        match self
            .charge(app, Owner::ExternalService(id), policy, None)
            .await?
        {
            Charged::Admitted(version) => Ok(version),
            Charged::Outdated => Err(ApiError::internal("an unconditioned charge was outdated")),
        }
    }

    /// Charges a request without valid credentials, or to a public endpoint.
    pub(super) async fn charge_source_ip(&mut self, app: &App, ip: String) -> Result<(), ApiError> {
        let policy = Policy {
            rate: app.config.source_ip_rate,
            turn_ceiling: None,
        };
        self.charge(app, Owner::SourceIp(ip), policy, None)
            .await
            .map(drop)
    }

    /// The headers for a response with outcome `error` (None: success).
    pub(super) fn headers(&self, error: Option<&ApiError>) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        let mut push = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.push((HeaderName::from_static(name), value));
            }
        };
        let Some(admission) = self.admission else {
            return headers;
        };
        push("x-ratelimit-limit", admission.rate.per_second.to_string());
        push("x-ratelimit-remaining", admission.remaining.to_string());
        push("x-ratelimit-reset", header_time(admission.reset_at));
        let quota_error = match error {
            Some(
                ApiError::RateLimited { retry_after }
                | ApiError::TurnQuotaExhausted { retry_after },
            ) => {
                push(RETRY_AFTER.as_str(), retry_after.to_string());
                true
            }
            Some(ApiError::RelationshipQuotaExceeded { .. }) => true,
            _ => false,
        };
        // Quota headers go with quota refusals, and only for owners that have
        // quotas: a per-IP bucket has no organization to report on. An
        // external service has no turns; its relationship refusals still
        // report the organization's relationships.
        if !quota_error {
            return headers;
        }
        let relationships = match error {
            Some(ApiError::RelationshipQuotaExceeded { active, limit }) => Some((*active, *limit)),
            _ => self.relationships,
        };
        if let Some(turns) = admission.turns {
            push("x-quota-turns-used", turns.used.to_string());
            push("x-quota-turns-limit", turns.ceiling.to_string());
        }
        if let Some((active, ceiling)) = relationships {
            push("x-quota-relationships-active", active.to_string());
            push("x-quota-relationships-limit", ceiling.to_string());
        }
        let reset = admission.turns.map_or_else(
            || crate::limits::Period::of(admission.reset_at).next_start(),
            |t| t.resets_at,
        );
        if admission.turns.is_some() || relationships.is_some() {
            push("x-quota-reset", header_time(reset));
        }
        headers
    }
}
