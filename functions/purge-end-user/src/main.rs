//! `purge-end-user` — triggered by the table's DynamoDB Stream: purges end
//! users that entered `deleting` (SPEC §12).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tether::purge::serve().await
}
