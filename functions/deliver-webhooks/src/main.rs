//! `deliver-webhooks` — triggered by the delivery queue (SQS): attempts each
//! webhook delivery and backs failures off with message visibility (SPEC §15).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tether::deliveries::serve().await
}
