//! The operations: what each endpoint does, over the HTTP pipeline
//! ([`crate::pipeline`]) and the aggregates' stores. The layer above the
//! domain: nothing below imports it; the route table binds its functions.

pub mod api_keys;
pub mod connect_tokens;
pub mod directories;
pub mod end_users;
pub mod events;
pub mod groups;
pub mod identities;
pub mod identity_providers;
pub mod policies;
pub mod portal;
pub mod relations;
pub mod scim;
pub mod service_users;
pub mod sso;
pub mod user;
pub mod webhooks;
