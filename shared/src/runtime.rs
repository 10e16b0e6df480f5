//! The Lambda entry point shared by every function binary.

use crate::app::App;
use crate::endpoint::Endpoint;
use std::convert::Infallible;
use std::sync::Arc;

/// Initialises logging and the function's state once (the cold start), then
/// serves `endpoint` — its bound handler — until the runtime stops the process.
pub async fn serve(endpoint: &'static Endpoint) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    if endpoint.credential != crate::endpoint::Credential::None {
        // Parsing the built-in Cedar policies (the schema waits for its
        // first use) is on its own thread: it overlaps the rest of INIT and
        // the first request's DynamoDB round trips instead of following
        // them. A decision that comes first waits for it (`OnceLock`).
        std::thread::spawn(|| {
            crate::authz::engine();
        });
    }
    let app = Arc::new(App::from_env(endpoint.needs).await?);
    let service = (endpoint.start)(app, endpoint)?;
    lambda_http::run(lambda_http::service_fn(move |req| {
        let served = service(req);
        async move { Ok::<_, Infallible>(served.await) }
    }))
    .await
}
