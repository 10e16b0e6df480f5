//! What an endpoint is: its route, credential, Cedar action, bound
//! operation and documentation. The declarations themselves are the route
//! table ([`crate::routes`]); the pipeline runs a request of one.

use crate::app::{App, Needs};
use crate::error::Surface;
use crate::wire::SchemaFn;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// How a caller proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `X-API-Key: tk_...`, for the organization API.
    ApiKey,
    /// `Authorization: Bearer <access token>`, for the user API.
    UserToken,
    /// `Authorization: Bearer tst_...`, for the external-service API.
    ServiceToken,
    /// `Authorization: Bearer scim_...`, a directory's SCIM client.
    DirectoryToken,
    /// The admin portal's session cookie (SPEC §19), an IT admin's browser.
    PortalSession,
    /// No credential (public endpoints and the not-found catch-all).
    None,
}

/// The response future of one request.
pub type Served = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A function's service of its endpoint: what its binary runs per request
/// and what the tests call — one binding, so they cannot disagree.
pub type Service = Box<dyn Fn(Request) -> Served + Send + Sync>;

/// Builds the service of an endpoint from a function's state, once (its
/// cold start): fails when the state lacks what the operation uses.
pub type Start = fn(Arc<App>, &'static Endpoint) -> Result<Service, crate::app::Missing>;

/// An operation bound for an endpoint ([`crate::pipeline::bind`]): how to
/// start serving it, and what its handler's types imply.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Builds a function's service.
    pub start: Start,
    /// The credential its context takes ([`crate::pipeline::Caller`]).
    pub credential: Credential,
    /// The schema of the body it parses ([`crate::pipeline::FromBody`]).
    pub body: Option<SchemaFn>,
    /// What its function loads at cold start: its credential's verifier and
    /// what it uses ([`crate::pipeline::Uses`]).
    pub needs: Needs,
    /// It decides its action itself, with its body
    /// ([`crate::pipeline::Undecided`]).
    pub decides_itself: bool,
}

/// A success an operation answers with: status, description, and the
/// response body's type (none for an empty body).
pub type Success = (u16, &'static str, Option<SchemaFn>);

/// What the OpenAPI document says about an operation beyond what its route,
/// credential and handler's types imply.
#[derive(Debug, Clone, Copy)]
pub struct Docs {
    /// One line.
    pub summary: &'static str,
    /// Whether the body may be omitted (an empty body reads as `{}`).
    pub body_optional: bool,
    /// The body may also be `text/plain` (Cedar policy text).
    pub text_body: bool,
    /// The success status (none for the not-found catch-all).
    pub success: Option<Success>,
    /// Other success statuses (a link that already existed: 200 beside 201).
    pub also: &'static [Success],
    /// Error statuses beyond those the route's shape implies.
    pub errors: &'static [u16],
    /// Takes `limit` and `cursor`.
    pub paginated: bool,
    /// Answers with `ETag` on success.
    pub etag: bool,
    /// A 201 carries `Location`.
    pub location: bool,
    /// Honours `If-Match`.
    pub if_match: bool,
    /// Query parameters of its own (besides `limit` and `cursor`).
    pub query: &'static [QueryParameter],
    /// An example request body (JSON, or Cedar text for a text body): the
    /// OpenAPI document's example and `events/<function>.json`'s body.
    pub example: Option<&'static str>,
    /// An example query string (without `?`).
    pub example_query: &'static str,
}

/// A query parameter an operation documents.
#[derive(Debug, Clone, Copy)]
pub struct QueryParameter {
    /// Its name.
    pub name: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// What it means.
    pub description: &'static str,
    /// A resource id (a UUID) rather than free text of 1 to 256 characters.
    pub id: bool,
}

impl Docs {
    /// An operation's summary, success and own error statuses.
    pub const fn new(summary: &'static str, success: Success, errors: &'static [u16]) -> Self {
        Self::of(summary, Some(success), errors)
    }

    /// A route that never succeeds (the not-found catch-all).
    pub const fn nothing(summary: &'static str, errors: &'static [u16]) -> Self {
        Self::of(summary, None, errors)
    }

    const fn of(summary: &'static str, success: Option<Success>, errors: &'static [u16]) -> Self {
        Self {
            summary,
            body_optional: false,
            text_body: false,
            success,
            also: &[],
            errors,
            paginated: false,
            etag: false,
            location: false,
            if_match: false,
            query: &[],
            example: None,
            example_query: "",
        }
    }

    /// Answers these successes too.
    pub const fn also(self, also: &'static [Success]) -> Self {
        Self { also, ..self }
    }

    /// Takes these query parameters.
    pub const fn query(self, query: &'static [QueryParameter]) -> Self {
        Self { query, ..self }
    }

    /// The body may be omitted.
    pub const fn optional_body(self) -> Self {
        Self {
            body_optional: true,
            ..self
        }
    }

    /// The body may also be `text/plain`.
    pub const fn text_body(self) -> Self {
        Self {
            text_body: true,
            ..self
        }
    }

    /// A list: `limit` and `cursor`.
    pub const fn paginated(self) -> Self {
        Self {
            paginated: true,
            ..self
        }
    }

    /// Successes carry `ETag`.
    pub const fn etag(self) -> Self {
        Self { etag: true, ..self }
    }

    /// A 201 carries `Location`.
    pub const fn location(self) -> Self {
        Self {
            location: true,
            ..self
        }
    }

    /// Honours `If-Match`.
    pub const fn if_match(self) -> Self {
        Self {
            if_match: true,
            ..self
        }
    }
}

/// What an operation does to the table beyond what every request of its
/// kind does — the limiter's write, an authenticated caller's reads, a
/// POST's Idempotency-Key record: its function's IAM policy is derived from
/// the two ([`Endpoint::dynamodb_actions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Touch {
    /// Reads items though it takes no credential (a public endpoint's own
    /// reads: the SSO flow's attempt, connection and organization).
    Read,
    /// Puts items (in a transaction or not; a deletion marker included).
    Put,
    /// Deletes items.
    Delete,
    /// Conditions a transaction on an item it does not write.
    ConditionCheck,
    /// Queries the table's secondary indexes.
    Indexes,
    /// Writes idempotent items in batches (`BatchWriteItem`).
    BatchWrite,
}

/// One operation of the API, served by one Lambda function.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The function (and binary) name, e.g. `update-end-user`.
    pub function: &'static str,
    /// The HTTP method.
    pub method: &'static str,
    /// The path template, `{name}` for parameters (API Gateway syntax).
    pub path: &'static str,
    /// The credential the endpoint takes (its handler's context's).
    pub credential: Credential,
    /// The Cedar action it performs (SPEC §8); empty for public endpoints.
    pub action: &'static str,
    /// Its operation decides its action itself, once it has its body (the
    /// Cedar context names the identity being linked).
    pub decides_itself: bool,
    /// What its function loads at cold start: what its handler's types
    /// need, and the idempotency key when it takes POSTs.
    pub needs: Needs,
    /// The error envelope it answers with.
    pub surface: Surface,
    /// Builds a function's service of it.
    pub start: Start,
    /// The schema of the body its handler parses (from the handler's type).
    pub body: Option<SchemaFn>,
    /// Its documentation.
    pub docs: Docs,
    /// Browsers call it cross-origin: it answers CORS preflights for the
    /// configured origins (SPEC §10: the user API and the JWKS).
    pub browser: bool,
    /// What its operation does to the table beyond the pipeline ([`Touch`]).
    pub touches: &'static [Touch],
    /// The lowest scope of an API key that may call it (the built-in Cedar
    /// policies are generated from it); `None` for other credentials.
    pub scope: Option<crate::auth::Scope>,
    /// Besides the resource its path names, its action is decided on the
    /// organization the request turns out to concern (a claim: the
    /// organization of the connect token).
    pub decided_on_organization_too: bool,
    /// Actions its operation also decides, on the same principal and
    /// resource, when the request asks for what they guard (a provider's
    /// `login` needs `sso_connections.configure`).
    pub also_actions: &'static [&'static str],
    /// A public endpoint whose operation decides its action for the end
    /// user it signs in, with the identity in the context (`sso.login`).
    pub decides_for_end_user: bool,
    /// A page a browser navigates to: every response, errors included,
    /// carries `Cache-Control: no-store` and `Referrer-Policy: no-referrer`.
    pub page: bool,
    /// A page of the admin portal (SPEC §19): a page whose errors are HTML
    /// too, and whose every response carries the portal's
    /// Content-Security-Policy and framing refusal.
    pub portal: bool,
}

/// Endpoints are the same when they serve the same route.
impl PartialEq for Endpoint {
    fn eq(&self, other: &Self) -> bool {
        (self.function, self.method, self.path) == (other.function, other.method, other.path)
    }
}

impl Eq for Endpoint {}

impl Endpoint {
    /// The endpoint of `function` serving `route` with operation `bound`.
    pub const fn new(
        function: &'static str,
        route: (&'static str, &'static str),
        action: &'static str,
        bound: Bound,
        docs: Docs,
    ) -> Self {
        let takes_posts = matches!(route.0.as_bytes(), b"POST");
        Self {
            function,
            method: route.0,
            path: route.1,
            credential: bound.credential,
            action,
            decides_itself: bound.decides_itself,
            needs: if takes_posts {
                bound.needs.with_idempotency_key()
            } else {
                bound.needs
            },
            surface: match bound.credential {
                Credential::ServiceToken => Surface::ExternalService,
                Credential::DirectoryToken => Surface::Scim,
                _ => Surface::Organization,
            },
            start: bound.start,
            body: bound.body,
            docs,
            browser: false,
            touches: &[],
            scope: None,
            decided_on_organization_too: false,
            also_actions: &[],
            decides_for_end_user: false,
            page: false,
            portal: false,
        }
    }

    /// Its operation also decides these actions when asked for what they guard.
    pub const fn also_deciding(self, also_actions: &'static [&'static str]) -> Self {
        Self {
            also_actions,
            ..self
        }
    }

    /// A public endpoint deciding its action for the end user it signs in.
    pub const fn deciding_for_end_user(self) -> Self {
        Self {
            decides_for_end_user: true,
            ..self
        }
    }

    /// A page browsers navigate to (no-store, no-referrer on every response).
    pub const fn page(self) -> Self {
        Self { page: true, ..self }
    }

    /// A page of the admin portal: HTML errors, the portal's headers.
    pub const fn portal(self) -> Self {
        Self {
            page: true,
            portal: true,
            ..self
        }
    }

    /// An example request: its body (JSON, or Cedar text) and query string.
    pub const fn example(mut self, body: Option<&'static str>, query: &'static str) -> Self {
        self.docs.example = body;
        self.docs.example_query = query;
        self
    }

    /// An API key needs at least `scope` to call it.
    pub const fn needing(self, scope: crate::auth::Scope) -> Self {
        Self {
            scope: Some(scope),
            ..self
        }
    }

    /// Its action is also decided on the organization the request concerns.
    pub const fn decided_on_organization_too(self) -> Self {
        Self {
            decided_on_organization_too: true,
            ..self
        }
    }

    /// Its operation touches the table in these ways beyond the pipeline.
    pub const fn touching(self, touches: &'static [Touch]) -> Self {
        Self { touches, ..self }
    }

    /// Browsers call it cross-origin (CORS, SPEC §10).
    pub const fn for_browsers(self) -> Self {
        Self {
            browser: true,
            ..self
        }
    }
}

impl Endpoint {
    /// The envelope its answer to `path` takes: its surface's, but the
    /// not-found catch-all answers a SCIM client in SCIM's (RFC 7644 §3.12).
    pub fn surface_for(&self, path: &str) -> Surface {
        if self.docs.success.is_none() && path.starts_with("/scim/") {
            Surface::Scim
        } else {
            self.surface
        }
    }
}

/// Path parameters that are free text rather than ids.
pub const FREE_TEXT_PARAMETERS: &[&str] = &["externalUserId", "name", "urn"];

impl Endpoint {
    /// Matches a concrete path against the template, returning the parameters
    /// (raw, undecoded) in template order.
    pub fn match_path(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut params = Vec::new();
        let mut actual = path.split('/');
        for expected in self.path.split('/') {
            let segment = actual.next()?;
            match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    if segment.is_empty() {
                        return None;
                    }
                    params.push((name, segment.to_owned()));
                }
                None if expected == segment => {}
                None => return None,
            }
        }
        actual.next().is_none().then_some(params)
    }

    /// The names of the path parameters, in order.
    pub fn parameter_names(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
    }

    /// Whether the endpoint acts on the end user named in its path.
    pub fn acts_on_end_user(&self) -> bool {
        self.path.contains("{user_id}")
    }

    /// The DynamoDB actions its function may call (its IAM policy): the
    /// limiter's `UpdateItem` for every request (refusals are counted with
    /// one too); an authenticated caller's reads (`GetItem`, `BatchGetItem`,
    /// `Query`); a SCIM request's entry in its directory's log (`PutItem`);
    /// a POST's Idempotency-Key record (`PutItem`, `DeleteItem`, and
    /// `ConditionCheckItem` during a key rotation); and what the operation
    /// declares ([`Touch`]).
    pub fn dynamodb_actions(&self) -> Vec<&'static str> {
        let mut actions = vec!["dynamodb:UpdateItem"];
        if self.credential == Credential::DirectoryToken {
            actions.push("dynamodb:PutItem");
        }
        if self.credential != Credential::None {
            actions.extend([
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
            ]);
        }
        if self.method == "POST" {
            actions.extend([
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
            ]);
        }
        for touch in self.touches {
            actions.extend(match touch {
                Touch::Read => &[
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                ][..],
                Touch::Put => &["dynamodb:PutItem"][..],
                Touch::Delete => &["dynamodb:DeleteItem"],
                Touch::ConditionCheck => &["dynamodb:ConditionCheckItem"],
                Touch::Indexes => &["dynamodb:Query"],
                Touch::BatchWrite => &["dynamodb:BatchWriteItem"],
            });
        }
        actions.sort_unstable();
        actions.dedup();
        actions
    }

    /// Whether its function queries the table's secondary indexes.
    pub fn reads_indexes(&self) -> bool {
        self.touches.contains(&Touch::Indexes)
    }
}
