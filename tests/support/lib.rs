//! Test support: `spawn_app` gives each test its own table in DynamoDB Local,
//! an organization with an admin key, and a client that sends real API
//! Gateway HTTP API (v2) events through the same pipeline as Lambda does.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use tether::App;
use tether::auth::Scope;
use tether::clock::{Clock, ManualClock, SystemClock};
use tether::config::Config;
use tether::external_services;
use tether::ids::OrganizationId;
use tether::organizations::{LimitOverrides, Organization, Plan};
use tether::routes::{self, Endpoint};
use tether::store::{Store, schema};

pub mod contention;
pub mod contract;
pub mod faults;
pub mod idp;
pub mod issuer;
pub mod oidc;
pub mod portal;
pub mod proxy;
pub mod receiver;
pub mod scim;
pub mod sdk_http;
pub mod sso;
pub mod tls;

/// The DynamoDB Local endpoint every test talks to (`make test` starts it).
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect(
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with `make test`, which starts DynamoDB Local",
    )
}

/// A client for DynamoDB Local with dummy credentials (no metadata probing).
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    dynamodb_client_at(&dynamodb_endpoint())
}

/// [`dynamodb_client`] for the DynamoDB-compatible server at `endpoint`.
pub fn dynamodb_client_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A DynamoDB Streams client for the emulator the suite runs on.
pub fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    streams_client_through(None)
}

/// [`streams_client`], its calls going through `http` when given (faults).
pub fn streams_client_through(
    http: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
) -> aws_sdk_dynamodbstreams::Client {
    streams_client_at(&dynamodb_endpoint(), http)
}

/// [`streams_client_through`] for the server at `endpoint`.
pub fn streams_client_at(
    endpoint: &str,
    http: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
) -> aws_sdk_dynamodbstreams::Client {
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"),
        ));
    if let Some(http) = http {
        sdk = sdk.http_client(http);
    }
    tether::stream::local::streams_client(&sdk.build(), Some(endpoint))
}

/// The SQS endpoint (moto's) every test's delivery queue lives in (`make
/// test` starts it).
pub fn sqs_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_SQS").expect(
        "AWS_ENDPOINT_URL_SQS is not set: run the suite with `make test`, which starts moto's SQS",
    )
}

/// An SQS client for moto's server, with dummy credentials.
pub fn sqs_client() -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(sqs_endpoint())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Every record the test table's stream holds, oldest first per shard.
pub async fn stream_changes(app: &TestApp) -> Vec<tether::stream::StreamChange> {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let client = streams_client();
    let streams = client
        .list_streams()
        .table_name(app.app.store.table())
        .send()
        .await
        .expect("list streams");
    let arn = streams.streams()[0]
        .stream_arn()
        .expect("stream arn")
        .to_owned();
    let described = client
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("describe");
    let mut changes = Vec::new();
    for shard in described
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default()
    {
        let mut iterator = client
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator()
            .map(str::to_owned);
        // An open shard always hands out a next iterator, and an empty read
        // does not mean its end: stop after a few empty reads in a row.
        let mut empty = 0;
        while let Some(current) = iterator {
            let out = client
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .expect("records");
            if out.records().is_empty() {
                empty += 1;
                if empty == 5 {
                    break;
                }
            } else {
                empty = 0;
            }
            changes.extend(
                out.records()
                    .iter()
                    .filter_map(tether::stream::local::change_of),
            );
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
    }
    changes
}

/// One test's world: its table, its clock, an organization and its admin key.
#[derive(Debug)]
pub struct TestApp {
    /// The function state every request runs with.
    pub app: Arc<App>,
    /// The clock the app reads (starts at the real time).
    pub clock: Arc<ManualClock>,
    /// The organization created for the test.
    pub org_id: OrganizationId,
    /// Its admin-scoped key.
    pub admin_key: String,
    /// That key's id.
    pub admin_key_id: tether::ids::ApiKeyId,
}

/// Limits so high that no ordinary test meets them (the manual clock stands
/// still, so the burst is what counts); tests of the limiter set their own.
/// The rate stays at one shard's so that call counts are those of an
/// ordinary bucket.
pub const UNLIMITED: LimitOverrides = LimitOverrides {
    rate_limit: Some(tether::limits::SHARD_RATE),
    burst: Some(1_000_000),
    turn_ceiling: Some(1_000_000_000),
    relationship_ceiling: Some(1_000_000),
    webhook_endpoints_cap: Some(1_000),
    identity_providers_cap: Some(1_000),
    policies_cap: None,
    directories_cap: None,
};

/// The access-token keys every test app signs with (seed `[42; 32]`; the
/// bench passes the same seed to the function binaries).
pub fn token_keys() -> tether::tokens::TokenKeys {
    tether::tokens::TokenKeys::from_seed([42; 32], "tether")
}

/// The key every test app seals webhook secrets with.
pub fn webhook_key() -> tether::sealed::Keyring {
    tether::sealed::Keyring::single(tether::sealed::key(&[9; 32]).expect("a 32-byte key"))
}

/// Gives a test app every deployment key and the guarded outbound client
/// (a function loads only those its operation uses).
pub fn give_keys(app: &mut App) {
    app.tokens = Some(Arc::new(token_keys()));
    app.webhook_key = Some(Arc::new(webhook_key()));
    app.idempotency = Some(idempotency_secret());
    let outbound = tether::outbound::Outbound::new(app.config.outbound.clone());
    app.outbound = Some(Arc::new(outbound));
}

/// The key every test app derives Idempotency-Key records under.
pub fn idempotency_secret() -> tether::idempotency::Secret {
    tether::idempotency::Secret::from_bytes([11; 32])
}

/// `text` with its `%XX` escapes decoded (as API Gateway decodes query
/// values; a `+` stays a `+`).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates a fresh table and an organization that no limit gets in the way of.
pub async fn spawn_app() -> TestApp {
    TestAppBuilder::default().spawn().await
}

/// [`spawn_app`] with one blank end user, created through the API.
pub async fn spawn_app_with_user() -> (TestApp, Value) {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    (app, user)
}

/// [`spawn_app`], its table writing the stream the stream functions follow
/// (the others have none: see [`TestAppBuilder::stream`]).
pub async fn spawn_app_following_stream() -> TestApp {
    TestAppBuilder {
        stream: true,
        ..TestAppBuilder::default()
    }
    .spawn()
    .await
}

/// Creates a fresh table and an organization on `plan` with `overrides`.
pub async fn spawn_app_with(plan: Plan, overrides: LimitOverrides) -> TestApp {
    TestAppBuilder {
        plan,
        overrides,
        ..TestAppBuilder::default()
    }
    .spawn()
    .await
}

/// How a test's world is set up.
#[derive(Debug, Clone)]
pub struct TestAppBuilder {
    /// The organization's plan.
    pub plan: Plan,
    /// Its overrides ([`UNLIMITED`] by default).
    pub overrides: LimitOverrides,
    /// The per-IP bucket (unlimited by default).
    pub source_ip_rate: (u32, u32),
    /// Run on the system clock instead of a manual one (for real-time tests).
    pub real_clock: bool,
    /// Start the manual clock here instead of now.
    pub start_at: Option<time::OffsetDateTime>,
    /// Fetch customer URLs as a deployed stack does (https to public
    /// addresses only) instead of allowing loopback HTTP as local stacks do.
    pub deployed_outbound: bool,
    /// Put AWS's hot-item behaviour between the app and DynamoDB Local.
    pub contention: Option<Arc<contention::Contention>>,
    /// Lose answers of writes that landed, so the SDK retries them.
    pub lost_answers: Option<Arc<faults::LostAnswers>>,
    /// The table writes its stream, as every deployment's does; off unless a
    /// test follows it, since DynamoDB Local's calls on tables with a stream
    /// slow down as its stream state grows over the suite.
    pub stream: bool,
    /// Resolve customers' host names with this instead of the system.
    pub resolver: Option<tether::outbound::Resolver>,
    /// Another DynamoDB-compatible server than the suite's.
    pub dynamodb: Option<String>,
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        Self {
            plan: Plan::Free,
            overrides: UNLIMITED,
            source_ip_rate: (tether::limits::SHARD_RATE, 1_000_000),
            real_clock: false,
            start_at: None,
            deployed_outbound: false,
            contention: None,
            lost_answers: None,
            stream: false,
            resolver: None,
            dynamodb: None,
        }
    }
}

impl TestAppBuilder {
    /// Creates the table, the organization and its admin key.
    pub async fn spawn(self) -> TestApp {
        let table = format!("t-{}", ulid::Ulid::generate().to_string().to_lowercase());
        let endpoint = self.dynamodb.clone().unwrap_or_else(dynamodb_endpoint);
        let mut client = dynamodb_client_at(&endpoint).config().to_builder();
        if self.contention.is_some() || self.lost_answers.is_some() {
            let mut http = aws_smithy_http_client::Builder::new().build_http();
            if let Some(model) = &self.contention {
                http = model.wrap(http);
            }
            if let Some(faults) = &self.lost_answers {
                http = faults.wrap(http);
            }
            client = client.http_client(http);
        }
        let store = Store::from_builder(client, table);
        let stream = if self.stream {
            schema::Stream::NewAndOldImages
        } else {
            schema::Stream::None
        };
        schema::create_table_with(&store, stream)
            .await
            .expect("create the test table");
        let clock = Arc::new(ManualClock::new(
            self.start_at.unwrap_or_else(time::OffsetDateTime::now_utc),
        ));
        let (ip_rate, ip_burst) = (
            self.source_ip_rate.0.to_string(),
            self.source_ip_rate.1.to_string(),
        );
        let loopback = (!self.deployed_outbound).to_string();
        let config = Config::from_lookup(|name| match name {
            "TETHER_IP_RATE_LIMIT" => Some(ip_rate.clone()),
            "TETHER_IP_BURST" => Some(ip_burst.clone()),
            "TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP" => Some(loopback.clone()),
            "TETHER_CORS_ORIGINS" => Some("localhost".to_owned()),
            _ => None,
        })
        .expect("test config");
        let mut config = config;
        if let Some(resolver) = self.resolver {
            config.outbound.resolver = resolver;
        }
        let app_clock: Arc<dyn Clock> = if self.real_clock {
            Arc::new(SystemClock)
        } else {
            clock.clone()
        };
        let queue = tether::queue::DeliveryQueue::create(sqs_client(), store.table())
            .await
            .expect("create the test delivery queue");
        let mut app = App::new(config, store, app_clock);
        give_keys(&mut app);
        app.deliveries = Some(queue);
        let app = Arc::new(app);
        let org = Organization::new("Test Org".into(), self.plan, self.overrides, clock.now());
        tether::relationships::put_organization(&app.store, &org)
            .await
            .expect("create the test organization");
        let mut test = TestApp {
            app,
            clock,
            org_id: org.id,
            admin_key: String::new(),
            admin_key_id: tether::ids::ApiKeyId::generate(),
        };
        (test.admin_key_id, test.admin_key) =
            test.create_key_with_id(org.id, &[Scope::Admin]).await;
        test
    }
}

impl TestApp {
    /// The test's delivery queue.
    pub fn queue(&self) -> &tether::queue::DeliveryQueue {
        self.app
            .deliveries
            .as_ref()
            .expect("every test app has a queue")
    }

    /// What the stream functions of this world work with.
    pub fn followers(&self) -> tether::stream::Followers {
        tether::stream::Followers {
            store: self.app.store.clone(),
            queue: self.app.deliveries.clone(),
        }
    }

    /// A local poller following this world's stream from now (the world of
    /// [`spawn_app_following_stream`]), running `handlers` on each batch.
    pub async fn follow_stream(
        &self,
        handlers: &[tether::stream::Handler],
    ) -> tether::stream::local::Poller {
        tether::stream::local::Poller::start(&self.app.store, streams_client(), handlers)
            .await
            .expect("the table has a stream")
    }

    /// The `deliver-webhooks` worker of this world, on its clock.
    pub fn deliverer(&self) -> tether::deliveries::Deliverer {
        tether::deliveries::Deliverer {
            store: self.app.store.clone(),
            key: webhook_key(),
            outbound: tether::outbound::Outbound::for_webhooks(self.app.config.outbound.clone()),
            queue: self.queue().clone(),
            clock: self.app.clock.clone(),
        }
    }

    /// The same world served by another instance of the function, as after a
    /// cold start: same table, clock and organization, empty warm caches.
    pub fn cold_instance(&self) -> TestApp {
        let store = Store::new(self.app.store.client().clone(), self.app.store.table());
        let mut app = App::new(self.app.config.clone(), store, self.app.clock.clone());
        give_keys(&mut app);
        app.deliveries = self.app.deliveries.clone();
        TestApp {
            app: Arc::new(app),
            clock: Arc::clone(&self.clock),
            org_id: self.org_id,
            admin_key: self.admin_key.clone(),
            admin_key_id: self.admin_key_id,
        }
    }

    /// The configuration of this world's DynamoDB client, to build another
    /// function's client from (another endpoint, retries, timeouts, faults).
    pub fn dynamodb_config(&self) -> aws_sdk_dynamodb::config::Builder {
        self.app.store.client().config().to_builder()
    }

    /// Another function of this world — its table and clock, every key —
    /// with the settings `config` and a DynamoDB client built from `client`.
    pub fn function_with(
        &self,
        config: Config,
        client: aws_sdk_dynamodb::config::Builder,
    ) -> Arc<App> {
        let store = Store::from_builder(client, self.app.store.table());
        let mut app = App::new(config, store, self.clock.clone());
        give_keys(&mut app);
        Arc::new(app)
    }

    /// The same world served by an instance whose access-token keys are
    /// `tokens` (a signing-key rotation in progress).
    pub fn cold_instance_with_tokens(&self, tokens: tether::tokens::TokenKeys) -> TestApp {
        let mut instance = self.cold_instance();
        let app = Arc::get_mut(&mut instance.app).expect("a new instance is not shared");
        app.tokens = Some(Arc::new(tokens));
        instance
    }

    /// A warm function of an existing table (made by `tetherctl`), acting
    /// for organization `org` with its admin `key`, on the system clock.
    pub async fn attach(table: &str, org: OrganizationId, key: String) -> TestApp {
        let store = Store::new(dynamodb_client().await, table.to_owned());
        let config = Config::from_lookup(|_| None).expect("default config");
        let mut app = App::new(config, store, Arc::new(SystemClock));
        give_keys(&mut app);
        TestApp {
            app: Arc::new(app),
            clock: Arc::new(ManualClock::new(time::OffsetDateTime::now_utc())),
            org_id: org,
            admin_key: key,
            admin_key_id: tether::ids::ApiKeyId::generate(),
        }
    }

    /// Creates another organization in the same table, with its admin key.
    pub async fn create_org(&self, name: &str) -> (OrganizationId, String) {
        let org = Organization::new(
            name.into(),
            Plan::Free,
            LimitOverrides::default(),
            self.clock.now(),
        );
        tether::relationships::put_organization(&self.app.store, &org)
            .await
            .expect("create organization");
        let key = self.create_key(org.id, &[Scope::Admin]).await;
        (org.id, key)
    }

    /// The test's organization as stored.
    pub async fn organization(&self) -> Organization {
        tether::organizations::get_organization(&self.app.store, self.org_id)
            .await
            .expect("read the organization")
            .expect("the organization exists")
    }

    /// Gives organization `org` the limit `overrides` (as `tetherctl org
    /// update` does), asserting the change committed.
    pub async fn override_limits(&self, org: OrganizationId, overrides: LimitOverrides) {
        let update = tether::organizations::Update {
            overrides,
            ..Default::default()
        };
        let changed = tether::organizations::update(&self.app.store, org, &update)
            .await
            .expect("update the organization");
        assert!(
            matches!(changed, tether::organizations::Changed::Done { .. }),
            "{changed:?}"
        );
    }

    /// A new API key of the test's organization with only the `read` scope.
    pub async fn create_read_key(&self) -> String {
        self.create_key(self.org_id, &[Scope::Read]).await
    }

    /// A new API key of the test's organization with the `read_write` scope.
    pub async fn create_read_write_key(&self) -> String {
        self.create_key(self.org_id, &[Scope::ReadWrite]).await
    }

    /// A new API key of the test's organization with `scope`; returns its
    /// id and secret.
    pub async fn create_key_of(&self, scope: Scope) -> (tether::ids::ApiKeyId, String) {
        self.create_key_with_id(self.org_id, &[scope]).await
    }

    /// Writes `item` straight to the test's table, as an earlier version of
    /// the code (or a hand) stored it.
    pub async fn put_raw_item(
        &self,
        item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) {
        let store = &self.app.store;
        let put = store.client().put_item().table_name(store.table());
        put.set_item(Some(item)).send().await.expect("put the item");
    }

    /// Creates an API key with `scopes` for `org`.
    pub async fn create_key(&self, org: OrganizationId, scopes: &[Scope]) -> String {
        self.create_key_with_id(org, scopes).await.1
    }

    /// Creates an API key with `scopes` for `org`; returns its id and secret.
    pub async fn create_key_with_id(
        &self,
        org: OrganizationId,
        scopes: &[Scope],
    ) -> (tether::ids::ApiKeyId, String) {
        let key =
            tether::api_keys::NewKey::generate(org, scopes.to_vec(), None, None, self.clock.now())
                .expect("random key");
        assert!(
            tether::api_keys::create(&self.app.store, &key)
                .await
                .expect("store key")
        );
        (key.record.api_key_id, key.secret.expose().to_owned())
    }

    /// Creates an API key of the form issued before keys named their
    /// organization (`tk_<48 hex>`); returns its id and secret.
    pub async fn create_older_form_key(
        &self,
        org: OrganizationId,
        scopes: &[Scope],
    ) -> (tether::ids::ApiKeyId, String) {
        let hex = || OrganizationId::generate().as_uuid().simple().to_string();
        let random = format!("{}{}", hex(), &hex()[..16]);
        let secret =
            tether::auth::ApiKeySecret::parse(&format!("tk_{random}")).expect("older form");
        assert_eq!(secret.organization(), None);
        let key = tether::api_keys::NewKey::with_secret(
            secret,
            org,
            scopes.to_vec(),
            None,
            None,
            self.clock.now(),
        );
        assert!(
            tether::api_keys::create(&self.app.store, &key)
                .await
                .expect("store key")
        );
        (key.record.api_key_id, key.secret.expose().to_owned())
    }

    /// An access token for `user` (a JSON end user), minted now.
    pub fn user_token(&self, user: &Value) -> String {
        let id = tether::ids::EndUserId::parse(user["id"].as_str().expect("an end user"))
            .expect("an end-user id");
        let org = tether::ids::OrganizationId::parse(
            user["organization_id"].as_str().expect("an end user"),
        )
        .expect("an org id");
        self.app
            .tokens
            .as_ref()
            .expect("test keys")
            .mint(org, id, 0, self.clock.now().unix_timestamp())
            .expect("mint")
    }

    /// The id of a new identity provider ([`TestApp::create_provider`]).
    pub async fn create_provider_id(&self) -> String {
        id(&self.create_provider().await).to_owned()
    }

    /// Registers the test identity provider ([`idp`]) with `POST
    /// /v1/identity-providers`, asserting 201; returns the provider.
    pub async fn create_provider(&self) -> Value {
        let res = self
            .request("POST", "/v1/identity-providers")
            .json(&idp::provider_body())
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.body
    }

    /// `POST /v1/webhook-endpoints` of `url` with the admin key.
    pub async fn post_webhook_endpoint(&self, url: &str) -> TestResponse {
        self.post("/v1/webhook-endpoints", &json!({ "url": url }))
            .await
    }

    /// [`TestApp::post_webhook_endpoint`], asserting 201; returns the
    /// endpoint (with its `secret`).
    pub async fn create_webhook_endpoint(&self, url: &str) -> Value {
        let res = self.post_webhook_endpoint(url).await;
        res.assert_status(201).body
    }

    /// Creates an external service with `scopes` (all three when empty);
    /// returns its id and token.
    pub async fn create_service(&self, scopes: &[&str]) -> (String, String) {
        let scopes: Vec<String> = if scopes.is_empty() {
            external_services::SERVICE_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            scopes.iter().map(|s| (*s).to_owned()).collect()
        };
        let (service, token) = external_services::create_service(
            &self.app.store,
            "Test CRM".into(),
            scopes,
            self.clock.now(),
        )
        .await
        .expect("create service");
        (service.id.to_string(), token.expose().to_owned())
    }

    /// `POST /v1/connect-tokens` for `service` as the organization's admin;
    /// returns the connect token object (with `token`).
    pub async fn create_connect_token(&self, service: &str) -> Value {
        self.create_connect_token_as(&self.admin_key, service).await
    }

    /// `POST /v1/connect-tokens` for `service` with the API key `key` (of
    /// another organization, say); returns the connect token object.
    pub async fn create_connect_token_as(&self, key: &str, service: &str) -> Value {
        let res = self
            .request("POST", "/v1/connect-tokens")
            .key(key)
            .json(&json!({"external_service_id": service}))
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.body
    }

    /// `POST /api/v1/external-services/{service}/organization-relations/claim`
    /// with the service's `token`: claims `connect_token` (the `token` of a
    /// connect token object, or any JSON) for the service's `external_org`.
    pub async fn claim_relation(
        &self,
        service: &str,
        token: &str,
        connect_token: &Value,
        external_org: &str,
    ) -> TestResponse {
        let path = format!("/api/v1/external-services/{service}/organization-relations/claim");
        let body = json!({"connectToken": connect_token, "externalOrganizationId": external_org});
        self.send_as("POST", &path, As::Bearer(token), Some(&body))
            .await
    }

    /// `DELETE /v1/external-service-relations/{id}` of `relation` (as listed
    /// or claimed) with the admin key.
    pub async fn remove_relation(&self, relation: &Value) -> TestResponse {
        let path = format!("/v1/external-service-relations/{}", id(relation));
        self.delete(&path).await
    }

    /// Starts a request.
    pub fn request(&self, method: &str, path: &str) -> TestRequest<'_> {
        TestRequest {
            app: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            path_parameters: None,
            key: Some(self.admin_key.clone()),
            source_ip: "127.0.0.1".to_owned(),
        }
    }

    /// `GET path` with the admin key.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path).send().await
    }

    /// `GET path` presenting the API key `key` instead of the admin's.
    pub async fn get_as(&self, key: &str, path: &str) -> TestResponse {
        self.send_as("GET", path, As::Key(key), None).await
    }

    /// `GET path` presenting `Authorization: Bearer token` (an end user's
    /// access token, a service's token) and no API key.
    pub async fn get_with_token(&self, token: &str, path: &str) -> TestResponse {
        self.send_as("GET", path, As::Bearer(token), None).await
    }

    /// `DELETE path` with the admin key.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.request("DELETE", path).send().await
    }

    /// Follows `next_cursor` through `GET path?limit=…` with the admin key,
    /// asserting each page answers 200 with at most `limit` items; returns
    /// the ids seen, in order, and the number of pages.
    pub async fn walk_pages(&self, path: &str, limit: usize) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit={limit}&cursor={c}"),
                None => format!("{path}?limit={limit}"),
            };
            let res = self.get(&url).await.assert_status(200);
            pages += 1;
            let data = res.body["data"].as_array().unwrap();
            assert!(data.len() <= limit);
            ids.extend(data.iter().map(|d| id(d).to_owned()));
            match &res.body["next_cursor"] {
                Value::String(next) => cursor = Some(next.clone()),
                Value::Null => return (ids, pages),
                other => panic!("next_cursor {other}"),
            }
            assert!(pages < 100, "runaway pagination");
        }
    }

    /// `POST path` with a JSON body and the admin key.
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.request("POST", path).json(body).send().await
    }

    /// `method path` presenting `credential` instead of the admin key, with
    /// an optional JSON body.
    pub async fn send_as(
        &self,
        method: &str,
        path: &str,
        credential: As<'_>,
        body: Option<&Value>,
    ) -> TestResponse {
        let request = self.request(method, path);
        let request = match credential {
            As::Key(key) => request.key(key),
            As::Bearer(token) => request.bearer(token),
        };
        match body {
            Some(body) => request.json(body).send().await,
            None => request.send().await,
        }
    }

    /// `POST path` with the empty JSON object `{}` (an action on a resource:
    /// cancel, roll, test, revoke) and the admin key.
    pub async fn post_empty(&self, path: &str) -> TestResponse {
        self.post(path, &json!({})).await
    }

    /// `method path` with the admin key and `body` as given, of
    /// `content_type`.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> TestResponse {
        let request = self.request(method, path);
        request.raw_body(content_type, body).send().await
    }

    /// `POST path` with a JSON body, an `Idempotency-Key` and the admin key.
    pub async fn post_once(&self, path: &str, key: &str, body: &Value) -> TestResponse {
        self.request("POST", path)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
    }

    /// `PATCH path` with a JSON body and the admin key.
    pub async fn patch(&self, path: &str, body: &Value) -> TestResponse {
        self.request("PATCH", path).json(body).send().await
    }

    /// `PUT /v1/policies` with Cedar `text` and the admin key, asserting 200.
    pub async fn put_policies(&self, text: &str) {
        self.put_policies_as(&self.admin_key, text)
            .await
            .assert_status(200);
    }

    /// `PUT /v1/policies` with Cedar `text` (`text/plain`) and the API key
    /// `key`.
    pub async fn put_policies_as(&self, key: &str, text: &str) -> TestResponse {
        let request = self.request("PUT", "/v1/policies").key(key);
        request.raw_body("text/plain", text).send().await
    }

    /// `POST /v1/end-users` with `body`, asserting 201; returns the end user.
    pub async fn create_user(&self, body: Value) -> Value {
        let res = self
            .request("POST", "/v1/end-users")
            .json(&body)
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        res.body
    }

    /// [`TestApp::create_user`] of a user with only an `email`.
    pub async fn create_user_with_email(&self, email: &str) -> Value {
        self.create_user(json!({ "email": email })).await
    }

    /// Sends a raw API Gateway v2 event, routed as API Gateway would.
    pub async fn send_event(&self, event: &Value) -> TestResponse {
        let req = lambda_http::request::from_str(&event.to_string())
            .expect("a valid API Gateway v2 event");
        let method = event["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let path = event["rawPath"].as_str().unwrap_or_default().to_owned();
        // As the local router does: a browser endpoint answers its preflights.
        let endpoint = routes::route(&method, &path).or_else(|| {
            (method == "OPTIONS")
                .then(|| {
                    routes::ALL
                        .iter()
                        .find(|e| e.browser && e.match_path(&path).is_some())
                })
                .flatten()
        });
        // Boxed: a test awaits dozens of requests, and unboxed each test's
        // future would hold the largest handler's state inline — too big for a
        // debug-build thread stack.
        let response =
            TestResponse::from(Box::pin(dispatch(Arc::clone(&self.app), endpoint, req)).await);
        if let Some(endpoint) = endpoint.filter(|_| method != "OPTIONS") {
            contract::check(endpoint, &response);
        }
        response
    }
}

/// A credential a request presents instead of the admin key.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    /// `X-API-Key`.
    Key(&'a str),
    /// `Authorization: Bearer`.
    Bearer(&'a str),
}

/// The `id` of a resource the API returned.
pub fn id(resource: &Value) -> &str {
    resource["id"].as_str().expect("an id")
}

/// Runs a request through the function that serves `endpoint` (the catch-all
/// when none does): its bound handler, the same one its binary serves.
pub async fn dispatch(
    app: Arc<App>,
    endpoint: Option<&'static Endpoint>,
    req: Request,
) -> Response<Body> {
    let endpoint = endpoint.unwrap_or(&routes::NOT_FOUND);
    let service = (endpoint.start)(app, endpoint).expect("a test app has every key");
    service(req).await
}

/// A request being built.
#[derive(Debug)]
pub struct TestRequest<'a> {
    app: &'a TestApp,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    path_parameters: Option<Value>,
    key: Option<String>,
    source_ip: String,
}

impl TestRequest<'_> {
    /// Sends `key` as `X-API-Key` instead of the organization's admin key.
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Sends `Authorization: Bearer <token>` and no API key (the user API).
    pub fn bearer(mut self, token: &str) -> Self {
        self.key = None;
        self.headers
            .push(("authorization".into(), format!("Bearer {token}")));
        self
    }

    /// Sends no `X-API-Key`.
    pub fn no_key(mut self) -> Self {
        self.key = None;
        self
    }

    /// Sends from `ip` (`requestContext.http.sourceIp`).
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.source_ip = ip.to_owned();
        self
    }

    /// Adds a header (repeat to duplicate it).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_lowercase(), value.to_owned()));
        self
    }

    /// A JSON body with its content type.
    pub fn json(self, body: &Value) -> Self {
        self.raw_body("application/json", &body.to_string())
    }

    /// A body as given, with `content_type` (none when empty).
    pub fn raw_body(mut self, content_type: &str, body: &str) -> Self {
        if !content_type.is_empty() {
            self.headers
                .push(("content-type".into(), content_type.to_owned()));
        }
        self.body = Some(body.to_owned());
        self
    }

    /// A body of raw bytes, sent base64-encoded as API Gateway does for binary.
    pub fn binary_body(mut self, content_type: &str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        self.headers
            .push(("content-type".into(), content_type.to_owned()));
        self.body = Some(format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ));
        self
    }

    /// Overrides the event's `pathParameters` (as API Gateway would fill them).
    pub fn path_parameters(mut self, params: Value) -> Self {
        self.path_parameters = Some(params);
        self
    }

    /// The API Gateway HTTP API (payload 2.0) event for this request.
    pub fn event(&self) -> Value {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let endpoint = routes::route(&self.method, path);
        let mut headers = serde_json::Map::new();
        let mut all = self.headers.clone();
        if let Some(key) = &self.key {
            all.push(("x-api-key".into(), key.clone()));
        }
        // API Gateway (payload 2.0) moves the Cookie header into `cookies`.
        let cookies: Vec<Value> = all
            .iter()
            .filter(|(name, _)| name == "cookie")
            .flat_map(|(_, value)| value.split("; "))
            .map(|c| Value::String(c.to_owned()))
            .collect();
        all.retain(|(name, _)| name != "cookie");
        for (name, value) in all {
            // API Gateway joins repeated headers with commas.
            let joined = match headers.get(&name).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{value}"),
                None => value,
            };
            headers.insert(name, Value::String(joined));
        }
        let mut query_params = serde_json::Map::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // API Gateway hands the functions percent-decoded values.
            let v = percent_decoded(v);
            let joined = match query_params.get(k).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{v}"),
                None => v,
            };
            query_params.insert(k.to_owned(), Value::String(joined));
        }
        let route_key = endpoint.map_or("$default".to_owned(), |e| {
            format!("{} {}", e.method, e.path)
        });
        let path_parameters = self.path_parameters.clone().unwrap_or_else(|| {
            let params = endpoint
                .and_then(|e| e.match_path(path))
                .unwrap_or_default();
            Value::Object(
                params
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v)))
                    .collect(),
            )
        });
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "tether",
                "domainName": "localhost",
                "domainPrefix": "tether",
                "http": { "method": self.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": self.source_ip, "userAgent": "tests" },
                "requestId": "test",
                "routeKey": route_key,
                "stage": "$default",
                "time": "23/Nov/2026:14:15:22 +0000",
                "timeEpoch": 1_795_443_322_000_i64
            },
            "isBase64Encoded": false
        });
        if !query_params.is_empty() {
            event["queryStringParameters"] = Value::Object(query_params);
        }
        if !cookies.is_empty() {
            event["cookies"] = Value::Array(cookies);
        }
        if path_parameters.as_object().is_some_and(|m| !m.is_empty()) {
            event["pathParameters"] = path_parameters;
        }
        if let Some(body) = &self.body {
            match body.strip_prefix("base64:") {
                Some(encoded) => {
                    event["body"] = Value::String(encoded.to_owned());
                    event["isBase64Encoded"] = Value::Bool(true);
                }
                None => event["body"] = Value::String(body.clone()),
            }
        }
        event
    }

    /// Sends the request to `app` (another function of the world: see
    /// [`TestApp::function_with`]), routed as API Gateway would; its answer
    /// is not checked against the contract (faults answer what it does not
    /// list).
    pub async fn send_via(self, app: &Arc<App>) -> TestResponse {
        let event = self.event();
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let endpoint = routes::route(&self.method, self.path.split('?').next().unwrap());
        dispatch(Arc::clone(app), endpoint, request).await.into()
    }

    /// Sends the request and collects the response.
    pub async fn send(self) -> TestResponse {
        let event = self.event();
        self.app.send_event(&event).await
    }
}

/// A response, decoded.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, lowercase names (the last value of each).
    pub headers: std::collections::HashMap<String, String>,
    /// The body parsed as JSON (`Null` when empty).
    pub body: Value,
    /// The raw body.
    pub text: String,
}

impl From<Response<Body>> for TestResponse {
    fn from(res: Response<Body>) -> Self {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = match res.body() {
            Body::Empty => String::new(),
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        let is_text = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/"));
        let body = if text.is_empty() || is_text {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        Self {
            status,
            headers,
            body,
            text,
        }
    }
}

impl TestResponse {
    /// The items of a list page (its `data`).
    pub fn data(&self) -> &Vec<Value> {
        self.body["data"].as_array().expect("a list page")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Asserts the status (the body shown when it differs); returns the
    /// response for the checks that follow.
    #[track_caller]
    pub fn assert_status(self, status: u16) -> Self {
        assert_eq!(self.status, status, "{}", self.text);
        self
    }

    /// Asserts the external-service error envelope (`{"error": {"type",
    /// "message", "requestId"}}`, SPEC §11): status, type, a message, and the
    /// request id in both the header and the body.
    #[track_caller]
    pub fn assert_service_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["error"]["type"], kind, "{}", self.text);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(
            self.body["error"]["requestId"],
            self.header("x-request-id").expect("X-Request-Id")
        );
        assert!(
            self.body.get("code").is_none(),
            "not the organization envelope"
        );
    }

    /// Asserts the documented error envelope: status, code, and the request id
    /// in both the header and the body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["code"], code, "{}", self.text);
        let request_id = self
            .header("x-request-id")
            .expect("X-Request-Id on every response");
        assert_eq!(self.body["requestId"], request_id);
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    }
}
