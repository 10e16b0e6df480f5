//! `tetherctl`: the operator's tool (SPEC §13). Every command prints one JSON
//! object on stdout; errors go to stderr with a non-zero exit.

use clap::{Parser, Subcommand};
use serde_json::json;
use std::process::ExitCode;
mod lifecycle;

use tether::api_keys::{self, NewKey};
use tether::auth::Scope;
use tether::clock::{Clock, SystemClock};
use tether::config::Config;
use tether::external_services;
use tether::ids::OrganizationId;
use tether::organizations::{LimitOverrides, Organization, Plan};
use tether::purge;
use tether::store::{Store, schema};

#[derive(Debug, Parser)]
#[command(name = "tetherctl", version, about = "Operate a Tether deployment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The DynamoDB table.
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
    /// Organizations (tenants).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// API keys of organizations.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// External services (partner integrations).
    ExternalService {
        #[command(subcommand)]
        command: ExternalServiceCommand,
    },
    /// Local stacks only: follows the table's stream and runs the
    /// purge-end-user and publish-events handlers on it, and — when
    /// TETHER_DELIVERY_QUEUE_URL and the webhook key are set — the
    /// deliver-webhooks handler on the delivery queue, as the Lambda
    /// triggers do in AWS. Runs until stopped; prints one JSON line when it starts.
    StreamWorker {
        /// Milliseconds between polls.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
    /// End users.
    EndUser {
        #[command(subcommand)]
        command: EndUserCommand,
    },
    /// SCIM directories of organizations.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// Webhook endpoints.
    WebhookEndpoint {
        #[command(subcommand)]
        command: WebhookEndpointCommand,
    },
    /// An organization's Cedar policies: show them, or reset them to none
    /// (the way back from any policy, SPEC §8).
    Policies {
        #[command(subcommand)]
        command: PoliciesCommand,
    },
    /// Purges of deleted end users.
    Purge {
        #[command(subcommand)]
        command: PurgeCommand,
    },
    /// The webhook delivery queue.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Local stacks only: creates the queue if it does not exist (the SAM
    /// template creates it in AWS) and prints its URL.
    Create {
        /// The queue's name.
        #[arg(long, default_value = "tether-deliveries")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum EndUserCommand {
    /// Gives end users stored before the lookup indexes existed their
    /// lookup keys, so `GET /v1/end-users?email=` and `?external_id=` find
    /// them. Safe beside live traffic and to run again.
    AddLookupKeys {
        /// Only this organization (default: every organization).
        #[arg(long, value_parser = parse_org)]
        org: Option<OrganizationId>,
    },
}

#[derive(Debug, Subcommand)]
enum WebhookEndpointCommand {
    /// Seals the endpoints' signing secrets again under the first key of
    /// TETHER_WEBHOOK_KEY (or its parameter), the second step of a rotation
    /// of the webhook key. Safe beside live traffic and to run again; exits
    /// 1 when a secret opens with no key of the ring.
    Reseal {
        /// Only this organization (default: every organization).
        #[arg(long, value_parser = parse_org)]
        org: Option<OrganizationId>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DirectoryCommand {
    /// Lists an organization's directories (never their tokens).
    List {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
    /// Shows one directory (never its token).
    Show {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// The directory's id.
        #[arg(long, value_parser = parse_directory)]
        id: tether::ids::DirectoryId,
    },
    /// Replaces the directory's SCIM bearer token and prints the new one;
    /// the old one stops at once.
    RollToken {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// The directory's id.
        #[arg(long, value_parser = parse_directory)]
        id: tether::ids::DirectoryId,
    },
}

fn parse_directory(s: &str) -> Result<tether::ids::DirectoryId, String> {
    tether::ids::DirectoryId::parse(s).map_err(|_| format!("`{s}` is not a directory id"))
}

#[derive(Debug, Subcommand)]
enum PoliciesCommand {
    /// Prints the organization's policy text and when it was written.
    Show {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
    /// Removes every policy of the organization; applies from the next
    /// request of every warm function.
    Reset {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
}

#[derive(Debug, Subcommand)]
enum PurgeCommand {
    /// Re-drives end users stuck in `deleting` (local stacks and AWS alike).
    Retry {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// Only this end user.
        #[arg(long, value_parser = parse_user)]
        user: Option<tether::ids::EndUserId>,
    },
}

/// `org`, or every organization.
async fn organizations(
    store: &Store,
    org: Option<OrganizationId>,
) -> Result<Vec<OrganizationId>, String> {
    match org {
        Some(org) => Ok(vec![org]),
        None => Ok(tether::organizations::list_all(store)
            .await
            .map_err(describe)?
            .iter()
            .map(|o| o.id)
            .collect()),
    }
}

fn parse_user(s: &str) -> Result<tether::ids::EndUserId, String> {
    tether::ids::EndUserId::parse(s).map_err(|_| format!("`{s}` is not an end-user id"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExternalServiceCommand {
    /// Creates an external service and its service token (tst_...).
    Create {
        /// Display name (at most 200 characters).
        #[arg(long, value_parser = tether::names::parse_display_name)]
        name: String,
        /// Comma-separated scopes (default: all three).
        #[arg(long, value_delimiter = ',', value_parser = parse_service_scope)]
        scopes: Vec<String>,
    },
    /// Lists every external service.
    List,
    /// Issues a new token; the live ones end after the grace period.
    TokenRoll {
        /// The service's id.
        #[arg(long, value_parser = parse_service)]
        id: tether::ids::ExternalServiceId,
        /// Seconds the old tokens keep working (0 to 604800).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=604_800))]
        grace_seconds: i64,
    },
    /// Revokes every token of the service.
    TokenRevoke {
        /// The service's id.
        #[arg(long, value_parser = parse_service)]
        id: tether::ids::ExternalServiceId,
    },
    /// Stamps every service's name on its relations claimed before claims
    /// stamped it, so their events carry it. Safe beside traffic and to run again.
    StampRelationNames,
}

fn parse_service(s: &str) -> Result<tether::ids::ExternalServiceId, String> {
    tether::ids::ExternalServiceId::parse(s)
        .map_err(|_| format!("`{s}` is not an external-service id"))
}

fn parse_key(s: &str) -> Result<tether::ids::ApiKeyId, String> {
    tether::ids::ApiKeyId::parse(s).map_err(|_| format!("`{s}` is not an API key id"))
}

fn parse_service_scope(s: &str) -> Result<String, String> {
    let s = s.trim();
    if external_services::SERVICE_SCOPES.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "unknown scope `{s}` ({})",
            external_services::SERVICE_SCOPES.join(", ")
        ))
    }
}

#[derive(Debug, Subcommand)]
enum TableCommand {
    /// Creates the table with its index, TTL and stream (idempotent).
    Create,
}

/// Limits that override a plan's (`org create`, `org update`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct LimitArgs {
    /// Requests per second (overrides the plan).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
    /// Bucket size (overrides the plan).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    burst: Option<u32>,
    /// Turns per billing period (overrides the plan).
    #[arg(long)]
    turn_ceiling: Option<u64>,
    /// Active end users (overrides the plan).
    #[arg(long)]
    relationship_ceiling: Option<u64>,
    /// Webhook endpoints the organization may have (overrides the plan's 20).
    #[arg(long)]
    webhook_endpoints_cap: Option<u64>,
    /// Identity providers the organization may have (overrides the plan's 50).
    #[arg(long)]
    identity_providers_cap: Option<u64>,
    /// Cedar policies the organization may have (overrides the plan's 100).
    #[arg(long)]
    policies_cap: Option<u64>,
    /// SCIM directories the organization may have (overrides the plan's 5).
    #[arg(long)]
    directories_cap: Option<u64>,
}

impl From<LimitArgs> for LimitOverrides {
    fn from(a: LimitArgs) -> Self {
        Self {
            rate_limit: a.rate_limit,
            burst: a.burst,
            turn_ceiling: a.turn_ceiling,
            relationship_ceiling: a.relationship_ceiling,
            webhook_endpoints_cap: a.webhook_endpoints_cap,
            identity_providers_cap: a.identity_providers_cap,
            policies_cap: a.policies_cap,
            directories_cap: a.directories_cap,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Creates an organization and an admin-scoped API key for it.
    Create {
        /// Display name (at most 200 characters).
        #[arg(long, value_parser = tether::names::parse_display_name)]
        name: String,
        /// Billing plan: free or pro.
        #[arg(long, default_value = "free", value_parser = parse_plan)]
        plan: Plan,
        /// Limits that override the plan's.
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Lists every organization.
    List,
    /// Shows one organization: plan, effective limits, counters.
    Show {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        id: OrganizationId,
    },
    /// Changes name, plan or limits; applies from the next request.
    Update {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        id: OrganizationId,
        /// New display name (at most 200 characters).
        #[arg(long, value_parser = tether::names::parse_display_name)]
        name: Option<String>,
        /// New plan: free or pro.
        #[arg(long, value_parser = parse_plan)]
        plan: Option<Plan>,
        /// Limits that override the plan's.
        #[command(flatten)]
        limits: LimitArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Creates an API key for an existing organization.
    Create {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// Comma-separated scopes: read, read_write, admin.
        #[arg(long, value_delimiter = ',', value_parser = parse_scope, required = true)]
        scopes: Vec<Scope>,
    },
    /// Lists an organization's keys (never their secrets).
    List {
        /// The organization's id.
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
    /// Revokes a key (not the organization's last non-expiring admin key).
    Revoke {
        /// The key's id.
        #[arg(long, value_parser = parse_key)]
        id: tether::ids::ApiKeyId,
    },
    /// Issues a new key in its place; the old one ends after the grace period.
    Roll {
        /// The key's id.
        #[arg(long, value_parser = parse_key)]
        id: tether::ids::ApiKeyId,
        /// Seconds the old key keeps working (0 to 604800).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=604_800))]
        grace_seconds: i64,
    },
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    Plan::parse(s).ok_or_else(|| format!("unknown plan `{s}` (free, pro)"))
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s.trim()).ok_or_else(|| format!("unknown scope `{s}` (read, read_write, admin)"))
}

fn parse_org(s: &str) -> Result<OrganizationId, String> {
    OrganizationId::parse(s).map_err(|_| format!("`{s}` is not an organization id"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("tetherctl: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<serde_json::Value, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = Store::sdk_config(&config).await;
    let store = Store::from_sdk(&sdk, &config);
    let now = SystemClock.now();
    match command {
        Command::Table {
            command: TableCommand::Create,
        } => {
            let outcome = schema::create_table(&store).await.map_err(describe)?;
            Ok(
                json!({ "table": store.table(), "created": outcome == schema::TableCreation::Created }),
            )
        }
        Command::Org {
            command: OrgCommand::Create { name, plan, limits },
        } => {
            let org = Organization::new(name, plan, limits.into(), now);
            tether::relationships::put_organization(&store, &org)
                .await
                .map_err(describe)?;
            let key = NewKey::generate(org.id, vec![Scope::Admin], None, None, now)
                .map_err(|e| e.to_string())?;
            api_keys::create(&store, &key).await.map_err(describe)?;
            Ok(json!({ "organization_id": org.id, "api_key": key.secret.expose() }))
        }
        Command::Org { command } => lifecycle::org(&store, command).await,
        Command::Directory { command } => lifecycle::directory(&store, command, now).await,
        Command::ApiKey {
            command: ApiKeyCommand::Create { org, mut scopes },
        } => {
            scopes.sort();
            scopes.dedup();
            let key = NewKey::generate(org, scopes, None, None, now).map_err(|e| e.to_string())?;
            if !api_keys::create(&store, &key).await.map_err(describe)? {
                return Err(format!("organization {org} does not exist"));
            }
            Ok(json!({ "api_key_id": key.record.api_key_id, "api_key": key.secret.expose() }))
        }
        Command::ApiKey { command } => lifecycle::api_key(&store, command, now).await,
        Command::Policies {
            command: PoliciesCommand::Show { org },
        } => {
            let (text, updated_at) = match tether::authz::read_policies(&store, org)
                .await
                .map_err(describe)?
            {
                Some((text, at)) => (text, Some(at)),
                None => (String::new(), None),
            };
            Ok(json!({ "organization_id": org, "policies": text, "updated_at": updated_at }))
        }
        Command::Policies {
            command: PoliciesCommand::Reset { org },
        } => {
            let Some(updated_at) = tether::authz::write_policies(&store, org, "", now)
                .await
                .map_err(describe)?
            else {
                return Err(format!("organization {org} does not exist"));
            };
            Ok(json!({ "organization_id": org, "policies": "", "updated_at": updated_at }))
        }
        Command::Purge {
            command: PurgeCommand::Retry { org, user },
        } => {
            let report = purge::retry(&store, org, user).await.map_err(describe)?;
            let failed: Vec<_> = report
                .failed
                .iter()
                .map(|(user, error)| json!({ "user_id": user, "error": error }))
                .collect();
            let out = json!({
                "organization_id": org,
                "removed": report.removed,
                "already_gone": report.already_gone,
                "failed": failed,
            });
            if report.failed.is_empty() {
                Ok(out)
            } else {
                Err(out.to_string())
            }
        }
        Command::EndUser {
            command: EndUserCommand::AddLookupKeys { org },
        } => {
            let mut done = Vec::new();
            for org in organizations(&store, org).await? {
                let report = tether::end_users::reindex::add_lookup_keys(&store, org)
                    .await
                    .map_err(describe)?;
                done.push(json!({
                    "organization_id": org,
                    "missing": report.missing,
                    "indexed": report.indexed,
                }));
            }
            Ok(json!({ "organizations": done }))
        }
        Command::WebhookEndpoint {
            command: WebhookEndpointCommand::Reseal { org },
        } => {
            let ring = tether::webhooks::load_key(&sdk)
                .await
                .map_err(|e| format!("the webhook key: {e}"))?;
            let mut done = Vec::new();
            let mut unopenable = 0;
            for org in organizations(&store, org).await? {
                let report = tether::webhooks::reseal::reseal(&store, org, &ring)
                    .await
                    .map_err(describe)?;
                unopenable += report.unopenable;
                done.push(json!({
                    "organization_id": org,
                    "stale": report.stale,
                    "resealed": report.resealed,
                    "unopenable": report.unopenable,
                }));
            }
            let out = json!({ "organizations": done });
            if unopenable == 0 {
                Ok(out)
            } else {
                Err(out.to_string())
            }
        }
        Command::StreamWorker { interval_ms } => {
            use tether::stream::local;
            let client = local::streams_client(&sdk, config.dynamodb_endpoint.as_deref());
            let handlers: [tether::stream::Handler; 2] =
                [purge::handler, tether::publisher::handler];
            let poller = local::Poller::start(&store, client, &handlers)
                .await
                .map_err(describe)?;
            let queue = tether::queue::DeliveryQueue::from_env(&sdk);
            let deliverer = match &queue {
                Some(_) => Some(
                    tether::deliveries::Deliverer::from_env()
                        .await
                        .map_err(describe)?,
                ),
                None => None,
            };
            println!(
                "{}",
                json!({
                    "stream_worker": "following",
                    "table": store.table(),
                    "delivery_queue": queue.as_ref().map(|q| q.url()),
                })
            );
            tether::logging::init();
            let followers = tether::stream::Followers { store, queue };
            let interval = std::time::Duration::from_millis(interval_ms);
            let deliveries = async {
                match &deliverer {
                    Some(d) => d.run_local().await.map_err(describe),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                stopped = poller.run(&followers, interval) => stopped.map_err(describe)?,
                stopped = deliveries => stopped?,
            }
            Ok(json!({ "stream_worker": "stopped" }))
        }
        Command::Queue {
            command: QueueCommand::Create { name },
        } => {
            let queue =
                tether::queue::DeliveryQueue::create(tether::queue::SqsClient::new(&sdk), &name)
                    .await
                    .map_err(describe)?;
            Ok(json!({ "queue_url": queue.url() }))
        }
        Command::ExternalService {
            command: ExternalServiceCommand::Create { name, mut scopes },
        } => {
            if scopes.is_empty() {
                scopes = external_services::SERVICE_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
            }
            scopes.sort();
            scopes.dedup();
            let (service, token) = external_services::create_service(&store, name, scopes, now)
                .await
                .map_err(describe)?;
            Ok(json!({ "external_service_id": service.id, "token": token.expose() }))
        }
        Command::ExternalService { command } => {
            lifecycle::external_service(&store, command, now).await
        }
    }
}

/// The error and its causes, for the operator's terminal.
pub(crate) fn describe(err: impl std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
