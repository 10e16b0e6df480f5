//! The Lambda entry point shared by every function binary.

use crate::app::App;
use crate::error::ApiError;
use crate::pipeline::{self, Ctx, FromBody, Reply};
use crate::routes::Endpoint;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

/// Initialises logging and the function's state once (the cold start), then
/// serves `endpoint` with `op` until the runtime stops the process.
pub async fn serve<B, F, Fut>(endpoint: &'static Endpoint, op: F) -> Result<(), lambda_http::Error>
where
    B: FromBody,
    F: FnOnce(Ctx, B) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    crate::logging::init();
    let app = Arc::new(App::from_env(endpoint).await?);
    lambda_http::run(lambda_http::service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(pipeline::handle(app, endpoint, req, op).await) }
    }))
    .await
}
