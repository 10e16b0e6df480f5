//! `publish-events`: follows the table's stream, derives the events of
//! every change of an organization's resources into its log
//! ([`crate::events`]), and sends each new logged event to the webhook
//! endpoints that want it ([`crate::deliveries::fan_out`]) — the log's own
//! inserts come back through the same stream.

use crate::stream::{Followers, StreamChange};

/// Publishes a batch; returns the sequence numbers to retry (from the
/// first change whose work failed: both steps are safe to repeat).
pub async fn handle(
    followers: &Followers,
    changes: &[StreamChange],
    now: time::OffsetDateTime,
) -> Vec<String> {
    let failed = crate::events::handle(&followers.store, changes, now).await;
    let Some(queue) = &followers.queue else {
        return failed;
    };
    match crate::deliveries::fan_out(&followers.store, queue, changes).await {
        Ok(_) => failed,
        Err(err) => {
            tracing::error!(error = %err, "sending webhook deliveries failed; the batch is retried");
            changes.iter().map(|c| c.sequence_number.clone()).collect()
        }
    }
}

/// [`handle`] as a stream handler, on the system clock.
pub fn handler<'a>(
    followers: &'a Followers,
    changes: &'a [StreamChange],
) -> futures_util::future::BoxFuture<'a, Vec<String>> {
    Box::pin(handle(followers, changes, time::OffsetDateTime::now_utc()))
}

/// The Lambda entry point of `publish-events`.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::stream::serve(handler).await
}
