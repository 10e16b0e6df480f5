//! What the pipeline learns on the way that the response's headers and the
//! request's log line need, whatever the outcome.

use super::metering::Metering;
use crate::ids::OrganizationId;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What the request log line reports about the caller.
#[derive(Debug, Default)]
pub struct LoggedCaller {
    pub(super) organization_id: Option<OrganizationId>,
    pub(super) credential_id: Option<String>,
    /// The directory whose own token made a SCIM request.
    pub(super) directory: Option<crate::ids::DirectoryId>,
}

/// Learned on the way: the caller for the log, the limiter's outcome for the
/// headers, and whether the caller's credential was verified.
#[derive(Debug, Default)]
pub struct Learned {
    pub(super) caller: LoggedCaller,
    pub(super) metering: Metering,
    /// Set once the caller's credential is verified: only then is the body
    /// read before the admission is decided (an unknown key does not get
    /// a policy text parsed for it).
    pub(super) verified: Arc<AtomicBool>,
}
