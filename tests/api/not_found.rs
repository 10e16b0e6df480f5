//! The catch-all: unknown paths and methods get the JSON 404 envelope.

use tether_tests::spawn_app;

#[tokio::test]
async fn unknown_paths_and_methods_get_the_json_404_with_a_request_id() {
    let app = spawn_app().await;
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/v2/end-users"),
        (
            "GET",
            "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/extra",
        ),
        ("PUT", "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"),
        ("POST", "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"),
        ("DELETE", "/v1/end-users"),
        ("OPTIONS", "/v1/end-users"),
    ] {
        let res = app.request(method, path).no_key().send().await;
        res.assert_error(404, "not_found");
        assert_eq!(res.body["details"]["resource"], "route", "{method} {path}");
    }
}
