//! `publish-events` — triggered by the table's DynamoDB Stream: turns every
//! change of an organization's resources into its events (SPEC §15).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tether::publisher::serve().await
}
