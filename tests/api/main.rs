//! Black-box tests of the API: API Gateway events in, status/headers/body
//! out, then the stored state checked in DynamoDB Local.

mod api_keys;
mod auth;
mod bad_input;
mod consistency;
mod cors;
mod deliveries;
mod directories;
mod emulators;
mod end_users;
mod end_users_update;
mod event_log;
mod events;
mod external_services;
mod faults;
mod freshness;
mod idempotency;
mod identities;
mod isolation;
mod key_sources;
mod layers;
mod limits;
mod lists;
mod lookups;
mod malformed;
mod not_found;
mod oidc;
mod pipeline;
mod policies;
mod portal;
mod purge;
mod reads;
mod relationships;
mod scim_groups;
mod scim_idp_sequences;
mod scim_users;
mod ssm;
mod sso;
mod sso_connections;
mod sso_login;
mod user_api;
mod webhooks;

use tether_tests::id;

/// Reads an item straight from the test's table.
pub async fn stored_item(
    app: &tether_tests::TestApp,
    pk: &str,
    sk: &str,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    app.app
        .store
        .client()
        .get_item()
        .table_name(app.app.store.table())
        .key("PK", AttributeValue::S(pk.to_owned()))
        .key("SK", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("read the table")
        .item
}

/// The stored end-user item for `user` (a JSON end user).
pub async fn stored_user(
    app: &tether_tests::TestApp,
    user: &serde_json::Value,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let pk = format!("ORG#{}", user["organization_id"].as_str().unwrap());
    let sk = format!("USER#{}", id(user));
    stored_item(app, &pk, &sk).await
}

/// How many items of the test's organization partition have sort keys
/// starting with `prefix` (strongly consistent).
pub async fn org_items(app: &tether_tests::TestApp, prefix: &str) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let store = &app.app.store;
    let out = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("ORG#{}", app.org_id)))
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items().len()
}

/// Every item of the test's table (a strongly consistent scan, all pages).
pub async fn table_items(
    app: &tether_tests::TestApp,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let store = &app.app.store;
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the table");
        items.extend(out.items().iter().cloned());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}
