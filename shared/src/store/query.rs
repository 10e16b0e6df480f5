//! Queries: one partition by sort-key prefix, through the table's keys or
//! `GSI1`'s, a page at a time or all of it.

use super::{CAPACITY, Item, PK, SK, Store, StoreError, from_item, s, schema};
use std::collections::HashMap;

/// A query's refinement: what a caller adds (a filter, a projection).
type Refine<'a> = &'a (
        dyn Fn(
    aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder
            + Sync
    );

/// Every item of partition `pk` whose sort key begins with `prefix`, all
/// pages, strongly consistent; `refine` adds what a caller needs (a filter,
/// a projection).
pub async fn query_all(
    store: &Store,
    pk: &str,
    prefix: &str,
    refine: impl Fn(
        aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder
    + Sync,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (page, next) = query_stretch(store, pk, prefix, &refine, start).await?;
        items.extend(page);
        start = next;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// One response of [`query_all`]'s query (up to DynamoDB's 1 MB), from
/// `start`, and where the next one starts (`None`: done) — for a caller that
/// works through a large partition without holding all of it.
pub async fn query_stretch(
    store: &Store,
    pk: &str,
    prefix: &str,
    refine: Refine<'_>,
    start: Option<Item>,
) -> Result<(Vec<Item>, Option<Item>), StoreError> {
    let query = prefix_query(store, Keys::Table, pk, prefix)
        .consistent_read(true)
        .set_exclusive_start_key(start);
    let out = refine(query).send().await?;
    let next = out.last_evaluated_key.filter(|k| !k.is_empty());
    Ok((out.items.unwrap_or_default(), next))
}

/// Which keys a query reads by: the table's own, or `GSI1`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// `PK`, `SK`.
    Table,
    /// `GSI1PK`, `GSI1SK` (eventually consistent).
    Gsi1,
    /// `email_key`, `SK` (keys only, eventually consistent).
    Email,
    /// `external_id_key`, `SK` (keys only, eventually consistent).
    ExternalId,
}

/// A query of the items of partition `pk` whose sort key begins with `prefix`.
fn prefix_query(
    store: &Store,
    keys: Keys,
    pk: &str,
    prefix: &str,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    let query = store.client().query().table_name(store.table());
    let query = match keys {
        Keys::Table => query.key_condition_expression("PK = :pk AND begins_with(SK, :prefix)"),
        Keys::Gsi1 => query
            .index_name(schema::GSI1)
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)"),
        Keys::Email => query
            .index_name(schema::EMAIL_INDEX)
            .key_condition_expression("email_key = :pk AND begins_with(SK, :prefix)"),
        Keys::ExternalId => query
            .index_name(schema::EXTERNAL_ID_INDEX)
            .key_condition_expression("external_id_key = :pk AND begins_with(SK, :prefix)"),
    };
    query
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":prefix", s(prefix))
        .return_consumed_capacity(CAPACITY)
}

/// One page of a list: the items of partition `pk` whose sort key begins with
/// `prefix`, after the sort key `after`, oldest first — at most `limit`, and
/// whether more exist. DynamoDB stops a query at 1 MB; this goes on past
/// such a stop, so a page is never silently cut short (SPEC §9).
pub async fn query_page<T: serde::de::DeserializeOwned>(
    store: &Store,
    pk: &str,
    prefix: &str,
    after: Option<String>,
    limit: usize,
) -> Result<(Vec<T>, bool), StoreError> {
    records_page(store, pk, prefix, after, limit, true).await
}

/// [`query_page`] over any [`Keys`], resuming after the item whose full key
/// (the table's and the index's) is `start`.
pub async fn query_items_page(
    store: &Store,
    keys: Keys,
    pk: &str,
    prefix: &str,
    start: Option<Item>,
    limit: usize,
) -> Result<(Vec<Item>, bool), StoreError> {
    items_page(store, keys, pk, prefix, start, limit, true).await
}

/// The order of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending sort keys: oldest first for time-ordered ids.
    OldestFirst,
    /// Descending sort keys.
    NewestFirst,
}

/// [`query_page`] in `order`.
pub async fn query_page_in<T: serde::de::DeserializeOwned>(
    store: &Store,
    (pk, prefix): (&str, &str),
    after: Option<String>,
    limit: usize,
    order: Order,
) -> Result<(Vec<T>, bool), StoreError> {
    records_page(store, pk, prefix, after, limit, order == Order::OldestFirst).await
}

async fn records_page<T: serde::de::DeserializeOwned>(
    store: &Store,
    pk: &str,
    prefix: &str,
    after: Option<String>,
    limit: usize,
    forward: bool,
) -> Result<(Vec<T>, bool), StoreError> {
    let start = after.map(|sk| HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))]));
    let (items, more) = items_page(store, Keys::Table, pk, prefix, start, limit, forward).await?;
    let records = items
        .into_iter()
        .map(from_item)
        .collect::<Result<Vec<T>, _>>()?;
    Ok((records, more))
}

async fn items_page(
    store: &Store,
    keys: Keys,
    pk: &str,
    prefix: &str,
    mut start: Option<Item>,
    limit: usize,
    forward: bool,
) -> Result<(Vec<Item>, bool), StoreError> {
    let mut items: Vec<Item> = Vec::new();
    loop {
        // One extra item tells whether another page exists, so the last page
        // never hands out a cursor to an empty one.
        let wanted = limit + 1 - items.len();
        let out = prefix_query(store, keys, pk, prefix)
            .scan_index_forward(forward)
            .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key.filter(|k| !k.is_empty());
        if items.len() > limit {
            items.truncate(limit);
            return Ok((items, true));
        }
        if start.is_none() {
            return Ok((items, false));
        }
    }
}

/// The one item of the overloaded index `GSI1` with exactly these keys
/// (eventually consistent, as every GSI read).
pub async fn gsi1_item(store: &Store, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
    let out = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(schema::GSI1)
        .key_condition_expression("GSI1PK = :pk AND GSI1SK = :sk")
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":sk", s(sk))
        .return_consumed_capacity(CAPACITY)
        .send()
        .await?;
    Ok(out.items.unwrap_or_default().into_iter().next())
}
