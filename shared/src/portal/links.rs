//! Portal links and the sessions they open.
//!
//! Both live under `PK = PORTAL#<id>`: the link at `SK = LINK` (5 minutes),
//! the session it opens at `SK = SESSION` (1 hour), each holding only the
//! SHA-256 of its secret. Opening is one transaction — the link deleted
//! under the condition that its hash still matches and it has not expired,
//! the session put — so a link opens at most one session, however many
//! browsers race. Ending deletes the link first and then the session, so
//! no open can slip in between. A session lives as long as the API key
//! that minted it: each request reads the key's entry too.

use super::Intent;
use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, OrganizationId, PortalLinkId};
use crate::store::{self, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// How long a link may wait to be opened (SPEC §19).
pub const LINK_SECONDS: i64 = 5 * 60;
/// How long a session lasts (SPEC §19).
pub const SESSION_SECONDS: i64 = 60 * 60;
/// The prefix of a link's token.
pub const LINK_PREFIX: &str = "tpl_";
/// The prefix of a session's cookie value.
pub const SESSION_PREFIX: &str = "tps_";
/// The length of a secret: 32 random bytes, base64url without padding.
const SECRET_CHARS: usize = 43;

const LINK_SK: &str = "LINK";
const SESSION_SK: &str = "SESSION";

fn pk(id: PortalLinkId) -> String {
    format!("PORTAL#{id}")
}

/// A portal secret as presented: `<prefix><id>_<secret>`. The id finds the
/// item, the secret's hash must match it.
#[derive(Clone, PartialEq, Eq)]
pub struct Presented {
    /// The link's (and its session's) id.
    pub id: PortalLinkId,
    secret: String,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Presented({}_…)", self.id)
    }
}

impl Presented {
    fn generate(id: PortalLinkId) -> Result<Self, StoreError> {
        let secret = crate::sso_login::random_secret().map_err(|e| StoreError::Other {
            source: Box::new(e),
        })?;
        Ok(Self { id, secret })
    }

    /// Parses `text` of the form `<prefix><id>_<43 base64url characters>`.
    pub fn parse(text: &str, prefix: &str) -> Option<Self> {
        let rest = text.strip_prefix(prefix)?;
        let (id, secret) = (rest.get(..36)?, rest.get(36..)?.strip_prefix('_')?);
        let well_formed = secret.len() == SECRET_CHARS
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        let id = PortalLinkId::parse(id).ok()?;
        well_formed.then(|| Self {
            id,
            secret: secret.to_owned(),
        })
    }

    /// As sent: `<prefix><id>_<secret>`.
    pub fn render(&self, prefix: &str) -> String {
        format!("{prefix}{}_{}", self.id, self.secret)
    }

    fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether `stored` is this secret's hash (compared in constant time).
    fn matches(&self, stored: &str) -> bool {
        bool::from(self.hash().as_bytes().ct_eq(stored.as_bytes()))
    }

    /// The CSRF token of the session this secret opens: derived from the
    /// secret (so a page's token proves its session, and reveals nothing of
    /// the cookie), never stored.
    pub fn csrf_token(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"tether portal csrf\0");
        digest.update(self.secret.as_bytes());
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest.finalize(),
        )
    }
}

/// What a link and its session share.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The link's id (the session's too).
    pub id: PortalLinkId,
    /// The organization it opens.
    pub organization_id: OrganizationId,
    /// What it was minted for.
    pub intent: Intent,
    /// Where the portal's "back" link goes (the app).
    pub return_url: Option<String>,
    /// The API key that minted it: revoking the key ends the session.
    pub api_key_id: ApiKeyId,
}

/// A link or a session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// What it grants.
    #[serde(flatten)]
    pub grant: Grant,
    /// SHA-256 of its secret, hex.
    secret_hash: String,
    /// When it stops working (epoch seconds).
    pub expires_epoch: i64,
    /// TTL: DynamoDB removes it a day later.
    expires_at_epoch: i64,
    /// When it was made (minted, or opened).
    pub created_at: Timestamp,
}

impl store::Record for PortalRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

impl PortalRecord {
    fn new(grant: Grant, sk: &str, secret: &Presented, lifetime: i64, now: OffsetDateTime) -> Self {
        let expires_epoch = now.unix_timestamp() + lifetime;
        Self {
            key: store::ItemKey::new(pk(grant.id), sk),
            grant,
            secret_hash: secret.hash(),
            expires_epoch,
            expires_at_epoch: expires_epoch + 24 * 3600,
            created_at: Timestamp::from(now),
        }
    }

    /// When it stops working.
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from(
            OffsetDateTime::from_unix_timestamp(self.expires_epoch)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }
}

/// Mints a link for `grant`: its record and the token the URL carries.
pub async fn mint(
    store: &Store,
    grant: Grant,
    now: OffsetDateTime,
) -> Result<(PortalRecord, String), StoreError> {
    let secret = Presented::generate(grant.id)?;
    let record = PortalRecord::new(grant, LINK_SK, &secret, LINK_SECONDS, now);
    store::put_new(store, &record).await?;
    Ok((record, secret.render(LINK_PREFIX)))
}

/// What opening a link came to.
#[derive(Debug)]
pub enum Opened {
    /// A new session, and its cookie value.
    Session(Box<PortalRecord>, Presented),
    /// Unknown, expired, already opened or ended: nothing opened.
    Refused,
}

/// Opens the link `token` names: the link is consumed and a session begins,
/// in one transaction; a second open of the same link finds nothing.
pub async fn open(store: &Store, token: &str, now: OffsetDateTime) -> Result<Opened, StoreError> {
    let Some(presented) = Presented::parse(token, LINK_PREFIX) else {
        return Ok(Opened::Refused);
    };
    let link_key = (pk(presented.id), LINK_SK.to_owned());
    let Some(link) = store::get_consistent::<PortalRecord>(store, &link_key).await? else {
        return Ok(Opened::Refused);
    };
    if !presented.matches(&link.secret_hash) || link.expires_epoch <= now.unix_timestamp() {
        return Ok(Opened::Refused);
    }
    let secret = Presented::generate(presented.id)?;
    let session = PortalRecord::new(
        link.grant.clone(),
        SESSION_SK,
        &secret,
        SESSION_SECONDS,
        now,
    );
    use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
    let consume = store::built(
        Delete::builder()
            .table_name(store.table())
            .set_key(Some(store::key_item(&link_key)))
            .condition_expression("secret_hash = :hash AND expires_epoch > :now")
            .expression_attribute_values(":hash", store::s(&link.secret_hash))
            .expression_attribute_values(":now", store::n(now.unix_timestamp()))
            .build(),
    )?;
    let begin = store::built(
        Put::builder()
            .table_name(store.table())
            .set_item(Some(store::to_item(&session)?))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    let items = vec![
        TransactWriteItem::builder().delete(consume).build(),
        TransactWriteItem::builder().put(begin).build(),
    ];
    Ok(match store::transact_guarded(store, items).await? {
        true => Opened::Session(Box::new(session), secret),
        false => Opened::Refused,
    })
}

/// The live session a cookie value names, or `None` (unknown, wrong secret,
/// expired). Read strongly consistent: an ended session is refused from
/// the next request.
pub async fn session(
    store: &Store,
    cookie: &Presented,
    now: OffsetDateTime,
) -> Result<Option<PortalRecord>, StoreError> {
    let key = (pk(cookie.id), SESSION_SK.to_owned());
    let found = store::get_consistent::<PortalRecord>(store, &key).await?;
    Ok(found.filter(|s| cookie.matches(&s.secret_hash) && s.expires_epoch > now.unix_timestamp()))
}

/// Ends link `id` of `org` and the session it opened: `false` when the
/// organization has neither (another organization's id included).
pub async fn end(store: &Store, org: OrganizationId, id: PortalLinkId) -> Result<bool, StoreError> {
    // The link first: once it is gone no open can begin a session, so the
    // session deleted next is the last there will be.
    let link = delete(store, org, id, LINK_SK).await?;
    Ok(delete(store, org, id, SESSION_SK).await? | link)
}

/// Ends session `id` of `org` (its link was consumed when it opened):
/// `false` when there is none.
pub async fn end_session(
    store: &Store,
    org: OrganizationId,
    id: PortalLinkId,
) -> Result<bool, StoreError> {
    delete(store, org, id, SESSION_SK).await
}

/// Deletes the `sk` item of link `id` when it is `org`'s.
async fn delete(
    store: &Store,
    org: OrganizationId,
    id: PortalLinkId,
    sk: &str,
) -> Result<bool, StoreError> {
    let deleted = store
        .delete_item((pk(id), sk))
        .condition_expression("organization_id = :org")
        .expression_attribute_values(":org", store::s(org.to_string()))
        .send()
        .await;
    StoreError::applied(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presented_secret_parses_back_and_nothing_else_does() {
        let id = PortalLinkId::generate();
        let secret = Presented::generate(id).unwrap();
        let text = secret.render(LINK_PREFIX);
        assert_eq!(Presented::parse(&text, LINK_PREFIX), Some(secret.clone()));
        assert_eq!(Presented::parse(&text, SESSION_PREFIX), None);
        assert!(Presented::parse(&format!("{text}x"), LINK_PREFIX).is_none());
        assert!(Presented::parse(&text[..text.len() - 1], LINK_PREFIX).is_none());
        assert!(Presented::parse("tpl_", LINK_PREFIX).is_none());
        assert!(Presented::parse("tpl_é", LINK_PREFIX).is_none());
        let other = Presented::generate(id).unwrap();
        assert!(secret.matches(&secret.hash()));
        assert!(!other.matches(&secret.hash()));
        assert_ne!(secret.csrf_token(), other.csrf_token());
        assert!(!secret.csrf_token().contains(&secret.secret));
    }
}
