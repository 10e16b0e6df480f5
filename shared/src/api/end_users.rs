//! The end-user operations (SPEC §9), one per function.

use crate::end_users::store::{self, Change, WriteRefused};
use crate::end_users::{CreateEndUser, EndUserRecord, Status, UpdateEndUser};
use crate::error::ApiError;
use crate::ids::EndUserId;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Header, Json, NoBody, OrgCtx, Reply};
use crate::wire::Page;
use lambda_http::http::StatusCode;
use lambda_http::http::header::{ETAG, LOCATION};

const RESOURCE: &str = "end_user";
/// Cursor format version, so the encoding can change without breaking old cursors silently.
const CURSOR_PREFIX: &str = "u1:";

/// The end user as the resource of a Cedar decision: its organization as
/// stored.
fn stored(record: &EndUserRecord) -> crate::authz::Resource {
    crate::authz::Resource::EndUser {
        id: record.id,
        organization: record.organization_id,
    }
}

fn user_reply(status: StatusCode, record: &EndUserRecord) -> Result<Reply, ApiError> {
    Reply::json(status, &record.view())?.header(ETAG, &record.etag())
}

/// `POST /v1/end-users` → 201 with the end user.
pub async fn create(ctx: OrgCtx, body: Json<CreateEndUser>) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let ceiling = ctx.organization.limits().relationship_ceiling;
    let record = EndUserRecord::new(org, body.value, ctx.app.clock.now());
    if let Err(store::CreateRefused::AtCeiling(active)) =
        store::put_new(&ctx.app.store, &record, &ctx.organization).await?
    {
        return Err(ApiError::RelationshipQuotaExceeded {
            active,
            limit: ceiling,
        });
    }
    user_reply(StatusCode::CREATED, &record)?
        .header(LOCATION, &format!("/v1/end-users/{}", record.id))
}

/// `GET /v1/end-users/{user_id}` → 200 with `ETag`.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let id = ctx.path_id("user_id", EndUserId::parse)?;
    let record = store::get(&ctx.app.store, org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored(stored(&record), RESOURCE)?;
    user_reply(StatusCode::OK, &record)
}

/// `GET /v1/end-users?limit=&cursor=` → `{data, next_cursor}`, oldest first;
/// with `email=` (case-insensitive) or `external_id=` (exact), the end users
/// it names, through a keys-only index (SPEC §9 Lookups).
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    ctx.query
        .only(&["limit", "cursor", "email", "external_id"])?;
    let limit = ctx.query.page_limit()?;
    let lookup = lookup(&ctx)?;
    // Each listing has its own cursors: one cannot resume another.
    let tag = match &lookup {
        None => CURSOR_PREFIX,
        Some(store::Lookup::Email(_)) => "ue1:",
        Some(store::Lookup::ExternalId(_)) => "ux1:",
    };
    let after = ctx.query.cursor(tag, EndUserId::parse)?;
    let (records, more) = match &lookup {
        None => store::list(&ctx.app.store, org, after, limit).await?,
        Some(by) => store::lookup(&ctx.app.store, org, by, after, limit).await?,
    };
    let next_cursor = more
        .then(|| records.last().map(|r| encode_cursor(tag, r.id)))
        .flatten();
    let data = records.iter().map(EndUserRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// The lookup the query asks for: `email` or `external_id`, not both.
fn lookup(ctx: &OrgCtx) -> Result<Option<store::Lookup>, ApiError> {
    let bounded = |name: &'static str, max: usize| -> Result<Option<String>, ApiError> {
        match ctx.query.single(name)? {
            None => Ok(None),
            Some(v) if v.is_empty() || v.chars().count() > max => {
                Err(ApiError::InvalidQueryParameter {
                    name: name.into(),
                    problem: "must be 1 to 256 characters",
                })
            }
            Some(v) => Ok(Some(v.to_owned())),
        }
    };
    let email = bounded("email", crate::end_users::domain::EMAIL_MAX_CHARS)?;
    let external_id = bounded("external_id", crate::end_users::domain::TEXT_MAX_CHARS)?;
    match (email, external_id) {
        (Some(_), Some(_)) => Err(ApiError::InvalidQueryParameter {
            name: "external_id".into(),
            problem: "look up by email or by external_id, not both",
        }),
        (Some(email), None) => Ok(Some(store::Lookup::Email(email))),
        (None, Some(id)) => Ok(Some(store::Lookup::ExternalId(id))),
        (None, None) => Ok(None),
    }
}

/// `PATCH /v1/end-users/{user_id}`: replaces `metadata` when sent; `{}` or an
/// empty body is a no-op returning the current record.
pub async fn update(ctx: OrgCtx, body: Json<UpdateEndUser>) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let id = ctx.path_id("user_id", EndUserId::parse)?;
    let if_match = match ctx.header("if-match") {
        Header::Absent => IfMatch::Any,
        Header::One(value) => IfMatch::parse(Some(value)),
        // Two preconditions: neither can be honoured alone; nothing matches.
        Header::Unusable => IfMatch::Versions(Vec::new()),
    };
    let Some(metadata) = body.value.metadata else {
        // Nothing to change: answer from the current record, with the same
        // rules a write would apply.
        let record = store::get(&ctx.app.store, org, id)
            .await?
            .ok_or(ApiError::NotFound { resource: RESOURCE })?;
        ctx.check_stored(stored(&record), RESOURCE)?;
        if record.status == Status::Deleting {
            return Err(ApiError::UserDeleting);
        }
        if !if_match.matches(record.version) {
            return Err(ApiError::PreconditionFailed);
        }
        return user_reply(StatusCode::OK, &record);
    };
    let change = Change::Metadata(metadata.to_json());
    let versions = if_match.versions();
    match store::update(
        &ctx.app.store,
        org,
        id,
        change,
        versions.as_deref(),
        ctx.app.clock.now(),
    )
    .await?
    {
        Ok(record) => {
            ctx.check_stored(stored(&record), RESOURCE)?;
            user_reply(StatusCode::OK, &record)
        }
        Err(WriteRefused::Missing) => Err(ApiError::NotFound { resource: RESOURCE }),
        Err(WriteRefused::Deleting(_)) => Err(ApiError::UserDeleting),
        Err(WriteRefused::VersionMismatch) => Err(ApiError::PreconditionFailed),
    }
}

/// `DELETE /v1/end-users/{user_id}` → 202 with status `deleting`; the purge is
/// asynchronous. Deleting a user already being deleted answers the same.
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let id = ctx.path_id("user_id", EndUserId::parse)?;
    match store::update(
        &ctx.app.store,
        org,
        id,
        Change::StartDeletion,
        None,
        ctx.app.clock.now(),
    )
    .await?
    {
        Ok(record) => {
            ctx.check_stored(stored(&record), RESOURCE)?;
            user_reply(StatusCode::ACCEPTED, &record)
        }
        Err(WriteRefused::Deleting(record)) => {
            ctx.check_stored(stored(&record), RESOURCE)?;
            user_reply(StatusCode::ACCEPTED, &record)
        }
        Err(WriteRefused::Missing | WriteRefused::VersionMismatch) => {
            Err(ApiError::NotFound { resource: RESOURCE })
        }
    }
}

/// The `If-Match` request header (RFC 9110 §13.1.1, strong comparison).
#[derive(Debug, PartialEq, Eq)]
enum IfMatch {
    /// Absent: no precondition.
    Any,
    /// `*`: the resource must exist.
    Exists,
    /// A list of strong ETags; weak or malformed ones never match.
    Versions(Vec<u64>),
}

impl IfMatch {
    fn parse(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::Any;
        };
        if header.trim() == "*" {
            return Self::Exists;
        }
        let versions = header
            .split(',')
            .filter_map(|tag| {
                tag.trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')?
                    .parse()
                    .ok()
            })
            .take(16)
            .collect();
        Self::Versions(versions)
    }

    fn matches(&self, version: u64) -> bool {
        match self {
            Self::Any | Self::Exists => true,
            Self::Versions(versions) => versions.contains(&version),
        }
    }

    /// The versions a write must find; version 0 never exists, so a header
    /// with no usable tag still makes the write fail its precondition.
    fn versions(&self) -> Option<Vec<u64>> {
        match self {
            Self::Any | Self::Exists => None,
            Self::Versions(v) if v.is_empty() => Some(vec![0]),
            Self::Versions(v) => Some(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_if_match_header_parses(header in ".{0,120}") {
            let parsed = IfMatch::parse(Some(&header));
            let _ = parsed.versions();
            let _ = parsed.matches(1);
        }
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert_eq!(IfMatch::parse(None), IfMatch::Any);
        assert_eq!(IfMatch::parse(Some(" * ")), IfMatch::Exists);
        assert_eq!(
            IfMatch::parse(Some("\"3\", W/\"4\", \"5\"")),
            IfMatch::Versions(vec![3, 5])
        );
        assert!(!IfMatch::parse(Some("W/\"4\"")).matches(4));
        assert_eq!(IfMatch::parse(Some("garbage")).versions(), Some(vec![0]));
        assert!(IfMatch::parse(Some("\"7\"")).matches(7));
    }
}
