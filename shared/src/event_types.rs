//! The event catalogue's names (docs/events.md), a leaf module: the
//! resources that filter by event type (webhook endpoints) name them without
//! depending on the events that render those resources.

/// Every event type (SPEC §15) this version produces.
pub const TYPES: &[&str] = &[
    "end_user.created",
    "end_user.updated",
    "end_user.deleted",
    "end_user.purged",
    "end_user.tokens_revoked",
    "identity.linked",
    "identity.unlinked",
    "identity_provider.created",
    "identity_provider.updated",
    "identity_provider.deleted",
    "subscription.changed",
    "policies.updated",
    "api_key.created",
    "api_key.revoked",
    "api_key.rolled",
    "connect_token.created",
    "connect_token.cancelled",
    "connect_token.claimed",
    "connect_token.consumed",
    "relation.created",
    "relation.confirmed",
    "relation.removed",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.deleted",
    "webhook_endpoint.disabled",
    "sso.login_succeeded",
    "sso.login_failed",
    "directory.created",
    "directory.deleted",
    "directory.token_rolled",
];
