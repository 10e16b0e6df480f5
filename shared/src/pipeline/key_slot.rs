//! A POST's Idempotency-Key between parsing and its claim (SPEC §9): the
//! pipeline claims it right after authorization — or, for an operation that
//! decides its action itself, the decision does
//! ([`super::callers::Undecided::decide`]) — so no refusal from before the
//! operation is ever stored or replayed.

use super::reply::Reply;
use crate::app::App;
use crate::error::ApiError;
use crate::idempotency;
use std::sync::{Mutex, PoisonError};

/// A key not yet claimed, with the deployment key its record is derived under.
pub(super) struct PendingKey {
    pub(super) secret: idempotency::Secret,
    pub(super) scope: idempotency::Scope,
    pub(super) key: idempotency::IdempotencyKey,
    pub(super) fingerprint: String,
}

/// The request's key: pending until claimed, then the claim until the
/// operation's outcome is recorded under it.
#[derive(Default)]
pub struct KeySlot {
    pending: Mutex<Option<PendingKey>>,
    claim: Mutex<Option<idempotency::Claim>>,
}

impl std::fmt::Debug for KeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySlot").finish_non_exhaustive()
    }
}

impl KeySlot {
    pub(super) fn new(pending: Option<PendingKey>) -> Self {
        Self {
            pending: Mutex::new(pending),
            claim: Mutex::new(None),
        }
    }

    /// Claims the pending key: the stored response when the same request
    /// already ran, else `None` and the operation runs.
    pub(super) async fn claim(&self, app: &App) -> Result<Option<Reply>, ApiError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(PendingKey {
            secret,
            scope,
            key,
            fingerprint,
        }) = pending
        else {
            return Ok(None);
        };
        let now = app.clock.now().unix_timestamp();
        match idempotency::begin(&app.store, &secret, &scope, &key, &fingerprint, now).await? {
            idempotency::Begin::Replay(stored) => Ok(Some(Reply::replay(stored))),
            idempotency::Begin::Run(claim) => {
                *self.claim.lock().unwrap_or_else(PoisonError::into_inner) = Some(claim);
                Ok(None)
            }
        }
    }

    pub(super) fn take_claim(&self) -> Option<idempotency::Claim> {
        self.claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}
