//! The pipeline's rate-limit step: charge the request to its owner's bucket
//! (SPEC §6), count its turn (§7), and render the headers of SPEC §3.

use crate::app::App;
use crate::error::ApiError;
use crate::limits::{Admission, Denial, Owner, Policy, ReadAt, Unconditioned, header_time};
use crate::organizations::Organization;
use lambda_http::http::HeaderValue;
use lambda_http::http::header::{HeaderName, RETRY_AFTER};

/// What the limiter step learned, for the response headers.
#[derive(Debug, Default)]
pub struct Metering {
    /// The bucket after this request (admitted or not).
    admission: Option<Admission>,
    /// The organization whose quotas apply.
    relationships: Option<(u64, u64)>,
}

impl Metering {
    /// Charges one request to `owner` under `policy` as read at `read_at`; a
    /// refusal is the 429 to answer. The owner's version the write returned
    /// is recorded for the warm caches ([`crate::freshness`]) and returned —
    /// or, when the owner changed since `read_at`, what the charge found.
    pub(super) async fn charge<R: ReadAt>(
        &mut self,
        app: &App,
        owner: Owner,
        policy: Policy,
        read_at: R,
    ) -> Result<Result<u64, R::Outdated>, ApiError> {
        let outcome = app
            .limiter
            .admit(&app.store, &owner, policy, read_at, app.clock.now())
            .await?;
        let version = match &outcome {
            Ok(a)
            | Err(Denial::RateLimited { state: a, .. } | Denial::TurnsExhausted { state: a, .. }) => {
                a.version
            }
            Err(Denial::Outdated(outdated)) => R::found(outdated),
        };
        if !matches!(owner, Owner::SourceIp(_)) {
            app.versions.record(&owner.partition_key(), version);
        }
        if let (
            Owner::Organization(org),
            Err(Denial::RateLimited { .. } | Denial::TurnsExhausted { .. }),
        ) = (&owner, &outcome)
        {
            count_refusal(app, *org).await;
        }
        match outcome {
            Ok(admission) => {
                self.admission = Some(admission);
                Ok(Ok(version))
            }
            Err(Denial::Outdated(outdated)) => Ok(Err(outdated)),
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
    pub(super) async fn charge_organization<R: ReadAt>(
        &mut self,
        app: &App,
        org: &Organization,
        read_at: R,
    ) -> Result<Result<u64, R::Outdated>, ApiError> {
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

    /// Charges an external service's request: its own bucket, no turns. The
    /// service's policy is configuration: nothing to hold it to.
    pub(super) async fn charge_external_service(
        &mut self,
        app: &App,
        id: crate::ids::ExternalServiceId,
    ) -> Result<u64, ApiError> {
        let policy = crate::limits::EXTERNAL_SERVICE_POLICY;
        let charged = self
            .charge(app, Owner::ExternalService(id), policy, Unconditioned)
            .await?;
        Ok(charged.unwrap_or_else(|never| match never {}))
    }

    /// Charges a request without valid credentials, or to a public endpoint.
    pub(super) async fn charge_source_ip(&mut self, app: &App, ip: String) -> Result<(), ApiError> {
        let policy = Policy {
            rate: app.config.source_ip_rate,
            turn_ceiling: None,
        };
        self.charge(app, Owner::SourceIp(ip), policy, Unconditioned)
            .await
            .map(drop)
    }

    /// A credential found ended by the check after the limiter's write: 401,
    /// and — like every request without valid credentials — charged to its
    /// source IP.
    pub(super) async fn refuse_ended(&mut self, app: &App, source_ip: &str) -> ApiError {
        match self.charge_source_ip(app, source_ip.to_owned()).await {
            Err(err) => err,
            Ok(()) => ApiError::InvalidCredentials,
        }
    }

    /// Charges the source IP for a request whose credential failed (guessing
    /// costs the guesser), and passes the identification on.
    pub(super) async fn charge_unverified<T>(
        &mut self,
        app: &App,
        identified: Result<T, ApiError>,
        source_ip: &str,
    ) -> Result<T, ApiError> {
        if identified
            .as_ref()
            .is_err_and(ApiError::is_credential_failure)
        {
            self.charge_source_ip(app, source_ip.to_owned()).await?;
        }
        identified
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

/// Counts an organization's refusal for its Usage chart: written beside this
/// refusal when the function has not written one for it within a second
/// ([`crate::limits::refusals::Refusals`]). A failed write loses the count,
/// never the answer.
async fn count_refusal(app: &App, org: crate::ids::OrganizationId) {
    if let Some(count) = app.refusals.count(org, std::time::Instant::now()) {
        let at = app.clock.now();
        if let Err(err) = crate::limits::refusals::record(&app.store, org, count, at).await {
            tracing::warn!(error = %err, "could not count a rate-limit refusal");
        }
    }
}
