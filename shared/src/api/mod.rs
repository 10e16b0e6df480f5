//! The operations: what each endpoint does, over the HTTP pipeline
//! ([`crate::pipeline`]) and the aggregates' stores. The layer above the
//! domain: nothing below imports it; the route table binds its functions.

pub mod end_users;
pub mod identities;
pub mod identity_providers;
pub mod user;
