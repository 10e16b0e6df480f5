//! The second step of a rotation of the webhook key (docs/decisions.md,
//! "Webhooks"): with the new key first in the ring and the old ones after
//! it, every secret sealed under the key — webhook endpoints' signing
//! secrets and login connections' client secrets — is sealed again under
//! the new key, so the old ones can leave the ring. (Login attempts are
//! sealed under it too; they live ten minutes and are not resealed.)

use super::endpoints::{self, EndpointRecord};
use crate::ids::OrganizationId;
use crate::organizations::org_pk;
use crate::sealed::Keyring;
use crate::store::{self, Store, StoreError};

/// What [`reseal`] did for one organization.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Endpoints and login connections with a secret sealed under an older
    /// key of the ring.
    pub stale: usize,
    /// Of those, the ones this run sealed again (the rest were rolled —
    /// which seals under the current key — or deleted in between).
    pub resealed: usize,
    /// Endpoints with a secret no key of the ring opens (sealed under a key
    /// already removed): they cannot sign until the key is back in the ring.
    pub unopenable: usize,
}

/// Seals the organization's webhook secrets that are under an older key of
/// `ring` again under its current key. Safe beside live traffic and to run
/// any number of times: each write is conditioned on the sealed values it
/// replaces, and it changes nothing the API renders (no event).
pub async fn reseal(
    store: &Store,
    org: OrganizationId,
    ring: &Keyring,
) -> Result<Resealed, StoreError> {
    let mut report = Resealed::default();
    for endpoint in endpoints::all(store, org).await? {
        let aad = endpoint.aad();
        if std::iter::once(&endpoint.secret_sealed)
            .chain(&endpoint.previous_secret_sealed)
            .all(|sealed| ring.is_current(&aad, sealed))
        {
            continue;
        }
        report.stale += 1;
        let again = |sealed: &str| ring.open(&aad, sealed).map(|plain| ring.seal(&aad, &plain));
        let previous = endpoint.previous_secret_sealed.as_deref().map(again);
        let (Some(current), None | Some(Some(_))) = (again(&endpoint.secret_sealed), &previous)
        else {
            report.unopenable += 1;
            continue;
        };
        let sealing = |e| StoreError::Other {
            source: Box::new(e),
        };
        let current = current.map_err(sealing)?;
        let previous = previous.flatten().transpose().map_err(sealing)?;
        if replace(store, org, &endpoint, &current, previous.as_deref()).await? {
            report.resealed += 1;
        }
    }
    reseal_client_secrets(store, org, ring, &mut report).await?;
    Ok(report)
}

/// [`reseal`] for the organization's login connections' client secrets:
/// the provider's and its connection item's copy, checked apart and
/// written together (one transaction, each conditioned on the value it
/// replaces; the provider's revision raised, so a PATCH built from the old
/// value is built again).
async fn reseal_client_secrets(
    store: &Store,
    org: OrganizationId,
    ring: &Keyring,
    report: &mut Resealed,
) -> Result<(), StoreError> {
    use crate::identity_providers::{self, login::Connection, login::LoginRecord};
    use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
    let mut after = None;
    loop {
        let (page, more) = identity_providers::list(store, org, after, 100).await?;
        for provider in &page {
            let Some(login) = &provider.login else {
                continue;
            };
            let (pk, sk) = store::Record::item_key(provider).pair();
            let aad = LoginRecord::secret_aad(pk, sk);
            let copy: Option<Connection> =
                identity_providers::connection(store, provider.id).await?;
            let copy_sealed = copy.as_ref().map(|c| c.client_secret_sealed.as_str());
            if std::iter::once(login.client_secret_sealed.as_str())
                .chain(copy_sealed)
                .all(|sealed| ring.is_current(&aad, sealed))
            {
                continue;
            }
            report.stale += 1;
            let Some(plain) = ring.open(&aad, &login.client_secret_sealed) else {
                report.unopenable += 1;
                continue;
            };
            let again = ring.seal(&aad, &plain).map_err(|e| StoreError::Other {
                source: Box::new(e),
            })?;
            let update = |key: (String, String), path: &str, old: &str| {
                let mut update = Update::builder()
                    .table_name(store.table())
                    .key(store::PK, store::s(key.0))
                    .key(store::SK, store::s(key.1))
                    .condition_expression(format!("{path} = :old"))
                    .expression_attribute_values(":old", store::s(old))
                    .expression_attribute_values(":new", store::s(&again));
                update = if path.starts_with("login.") {
                    update
                        .update_expression(format!(
                            "SET {path} = :new, revision = if_not_exists(revision, :zero) + :one"
                        ))
                        .expression_attribute_values(":zero", store::n(0))
                        .expression_attribute_values(":one", store::n(1))
                } else {
                    update.update_expression(format!("SET {path} = :new"))
                };
                store::built(update.build()).map(|u| TransactWriteItem::builder().update(u).build())
            };
            let mut items = vec![update(
                (pk.to_owned(), sk.to_owned()),
                "login.client_secret_sealed",
                &login.client_secret_sealed,
            )?];
            if let Some(copy) = copy_sealed {
                items.push(update(
                    identity_providers::connection_key(provider.id),
                    "client_secret_sealed",
                    copy,
                )?);
            }
            match store::transact(store, items).await {
                Ok(()) => report.resealed += 1,
                // Changed since it was read (a PATCH, a roll): the next run
                // finds it as it is now.
                Err(StoreError::TransactionCanceled { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        after = page.last().map(|p| p.id);
        if !more || after.is_none() {
            return Ok(());
        }
    }
}
/// Writes `current` and `previous` over the sealed values `endpoint` was
/// read with; `false` when they changed since.
async fn replace(
    store: &Store,
    org: OrganizationId,
    endpoint: &EndpointRecord,
    current: &str,
    previous: Option<&str>,
) -> Result<bool, StoreError> {
    let update = store
        .update_item((org_pk(org), endpoints::endpoint_sk(endpoint.id)))
        .expression_attribute_values(":old", store::s(&endpoint.secret_sealed))
        .expression_attribute_values(":new", store::s(current));
    let update = match (&endpoint.previous_secret_sealed, previous) {
        (Some(old), Some(new)) => update
            .update_expression("SET secret_sealed = :new, previous_secret_sealed = :new_previous")
            .condition_expression("secret_sealed = :old AND previous_secret_sealed = :old_previous")
            .expression_attribute_values(":old_previous", store::s(old))
            .expression_attribute_values(":new_previous", store::s(new)),
        _ => update
            .update_expression("SET secret_sealed = :new")
            .condition_expression(
                "secret_sealed = :old AND attribute_not_exists(previous_secret_sealed)",
            ),
    };
    StoreError::applied(update.send().await)
}
