//! The `cargo lambda watch` router in the workspace's `Cargo.toml`: every
//! method of a known path is listed, so the ones no function serves reach
//! `not-found`; a catch-all takes every other path.

use tether::routes::{self, Endpoint};

const BEGIN: &str = "# BEGIN generated router";
const END: &str = "# END generated router";
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The function serving `method` at `path` on the local stack: its
/// endpoint's, a browser endpoint's for a CORS preflight, else `not-found`.
fn serving(path: &str, method: &str) -> &'static str {
    let at = |e: &&Endpoint| e.path == path;
    let found = routes::ALL.iter().filter(at).find(|e| e.method == method);
    let preflight = || {
        routes::ALL
            .iter()
            .filter(at)
            .find(|e| method == "OPTIONS" && e.browser)
    };
    found
        .or_else(preflight)
        .map_or(routes::NOT_FOUND.function, |e| e.function)
}

/// `Cargo.toml` with its router region generated.
pub fn cargo_toml(current: &str) -> Result<String, String> {
    let mut paths: Vec<&str> = Vec::new();
    for endpoint in routes::ALL {
        if !paths.contains(&endpoint.path) {
            paths.push(endpoint.path);
        }
    }
    let mut body = String::from("[workspace.metadata.lambda.watch.router]\n");
    for path in paths {
        body.push_str(&format!("\"{path}\" = [\n"));
        for method in METHODS {
            body.push_str(&format!(
                "    {{ method = \"{method}\", function = \"{}\" }},\n",
                serving(path, method)
            ));
        }
        body.push_str("]\n");
    }
    body.push_str("\"/\" = \"not-found\"\n\"/{*path}\" = \"not-found\"\n");
    crate::replace_region(current, BEGIN, END, &body)
}
