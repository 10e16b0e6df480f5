//! SCIM 2.0 (RFC 7643, RFC 7644) as pure data: the declared schemas, resource
//! bodies parsed into their canonical form, the filter subset, PATCH and
//! projection. No I/O here: the directory store and the SCIM handlers use it.
//!
//! Every input is an untrusted HTTP body or query: nothing here may panic, so
//! the lints below refuse the constructs that can (tests opt out).
//! Values are kept verbatim; only attribute names are folded to the schema's
//! spelling.
#![warn(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

pub mod error;
pub mod filter;
pub mod patch;
pub mod path;
pub mod project;
pub mod resource;
pub mod schema;
mod syntax;

pub use error::Error;
pub use schema::ResourceKind;
