//! Tether core: the domain, the request pipeline and DynamoDB access shared by
//! every Lambda function of the API.
//!
//! Each function binary is `runtime::serve(&routes::X)`: one
//! [`routes::Endpoint`] declares the route, its handler and its documentation
//! ([`runtime::serve`]); everything else — request ids,
//! authentication, authorization, body parsing, error envelopes, logging — is
//! the one [`pipeline`] in this crate.

pub mod api;
pub mod api_keys;
pub mod app;
pub mod auth;
pub mod authz;
pub mod cache;
pub mod caps;
pub mod clock;
pub mod config;
pub mod cors;
pub mod deliveries;
pub mod directories;
pub mod end_users;
pub mod endpoint;
pub mod error;
pub mod event_types;
pub mod events;
pub mod external_services;
pub mod freshness;
mod fuzz;
pub mod gcra;
pub mod groups;
pub mod idempotency;
pub mod identities;
pub mod identity_providers;
pub mod ids;
pub mod limits;
pub mod logging;
pub mod names;
pub mod not_found;
pub mod openapi;
pub mod organizations;
pub mod outbound;
pub mod parse;
pub mod pipeline;
pub mod portal;
pub mod publisher;
pub mod purge;
pub mod queue;
pub mod relationships;
pub mod routes;
pub mod runtime;
pub mod scim;
pub mod sealed;
pub mod secrets;
pub mod ssm;
pub mod sso;
pub mod sso_login;
pub mod store;
pub mod stream;
pub mod tokens;
pub mod webhooks;
pub mod wire;

pub use app::App;
pub use error::ApiError;
