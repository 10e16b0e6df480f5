//! Directories' SCIM tokens (`Authorization: Bearer scim_...`, SPEC §18):
//! a caller of one organization like an API key — the organization read or
//! cached, its bucket charged under its plan — bound to the directory its
//! path names.

use super::admission::Incoming;
use super::header::bearer;
use super::keys_and_tokens::{Identify, Member};
use super::learned::Learned;
use super::path::param;
use super::principal::Authenticated;
use super::tenant::{Loaded, load_organization};
use crate::app::{App, Needs};
use crate::auth;
use crate::directories::{DirectoryPrincipal, DirectoryTokenRecord};
use crate::endpoint::Credential;
use crate::error::ApiError;
use crate::freshness::{Current, FRESH, Mark, Version};
use crate::ids::{DirectoryId, OrganizationId};
use crate::secrets::DirectoryToken;

/// The path parameter naming the directory a SCIM request is for.
pub const DIRECTORY_PARAMETER: &str = "directory_id";

/// SCIM tokens: a directory's SCIM client.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryTokens;

/// A SCIM token, identified: its directory and how current its record is.
#[derive(Debug)]
pub struct IdentifiedDirectory {
    principal: DirectoryPrincipal,
    hash: [u8; 32],
    cached_at: Option<Version>,
}

impl Identify for DirectoryTokens {
    const CREDENTIAL: Credential = Credential::DirectoryToken;
    const NEEDS: Needs = Needs::NONE;
    type Member = IdentifiedDirectory;

    fn keep(_: &App) -> Option<Self> {
        Some(Self)
    }

    /// The token's directory, which must be the path's: another directory's
    /// token is as good as none (401, nothing said of either directory).
    async fn identify(
        &self,
        request: &Incoming<'_>,
        mark: Mark,
    ) -> Result<IdentifiedDirectory, ApiError> {
        let app = request.app;
        let presented = bearer(request.headers).ok_or(ApiError::MissingCredentials)?;
        let token = DirectoryToken::parse(presented).ok_or(ApiError::InvalidCredentials)?;
        let hash = token.hash();
        let now = app.clock.now();
        let fetched = auth::lookup::<DirectoryTokenRecord>(
            &app.store,
            &app.directory_tokens,
            &app.versions,
            mark,
            hash,
            now,
        )
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
        let record = fetched.value;
        let path_directory = param(request.path_params, DIRECTORY_PARAMETER)
            .and_then(|id| DirectoryId::parse(id).ok());
        if path_directory != Some(record.directory_id) {
            return Err(ApiError::InvalidCredentials);
        }
        Ok(IdentifiedDirectory {
            principal: DirectoryPrincipal {
                organization_id: record.organization_id,
                directory_id: record.directory_id,
            },
            hash,
            cached_at: fetched.cached_at,
        })
    }
}

impl Member for IdentifiedDirectory {
    type Principal = DirectoryPrincipal;

    fn organization_id(&self) -> OrganizationId {
        self.principal.organization_id
    }

    fn credential_id(&self) -> String {
        format!("directory:{}", self.principal.directory_id)
    }

    fn directory(&self) -> Option<DirectoryId> {
        Some(self.principal.directory_id)
    }

    fn as_identified(&self) -> (DirectoryPrincipal, Version) {
        (self.principal, self.cached_at.unwrap_or(FRESH))
    }

    async fn organization(&mut self, app: &App) -> Result<Loaded, ApiError> {
        load_organization(app, self.principal.organization_id).await
    }

    async fn record_use(&self, _: &App) {}

    /// Read again when the cached record is older than the organization's
    /// version: a rolled or deleted directory's token is 401 from the next
    /// request.
    async fn current(
        self,
        app: &App,
        current: Current,
        source_ip: &str,
        learned: &mut Learned,
    ) -> Result<DirectoryPrincipal, ApiError> {
        if self.cached_at.is_none_or(|stamp| stamp >= current.version) {
            return Ok(self.principal);
        }
        let record = auth::read::<DirectoryTokenRecord>(
            &app.store,
            &app.directory_tokens,
            &app.versions,
            current.mark,
            self.hash,
        )
        .await?
        .filter(|r| {
            r.organization_id == self.principal.organization_id
                && r.directory_id == self.principal.directory_id
        });
        match record {
            Some(_) => Ok(self.principal),
            None => Err(learned.metering.refuse_ended(app, source_ip).await),
        }
    }

    fn authenticated(principal: &DirectoryPrincipal) -> Authenticated {
        Authenticated::Directory(*principal)
    }
}
