//! The local gateway: runs the whole chat stack on one machine with no AWS
//! account. It stands in for AppSync (GraphQL over HTTP), Cognito (a dev
//! identity provider and its JWKS) and DynamoDB (an embedded engine), and
//! invokes the real resolver functions with the events AppSync would send.
//!
//! # Layout
//!
//! - [`Config`] and [`start`]: what to run and where; [`Running`] is the live
//!   stack (endpoints, counters, shutdown).
//! - [`dynamo`]: the embedded DynamoDB engine or an external endpoint, the SDK
//!   client every function shares, and table creation.
//! - [`idp`]: the dev identity provider: RS256 keys, tokens with Cognito's
//!   claims, and the JWKS.
//! - [`resolvers`]: the in-process invocation of each function's handler with
//!   the JSON event its trigger sends, and which function resolves which field.
//! - [`graphql`]: the AppSync stand-in: auth, validation, execution, and
//!   AppSync-shaped responses.
//! - [`realtime`]: the real-time functions and what triggers them.
//! - [`ws`]: the API Gateway WebSocket stand-in and its `@connections` API.
//! - [`sigv4`]: SigV4 signatures verified as AWS verifies them.
//! - [`iam`]: each function's own credentials, and its template policy
//!   enforced on every DynamoDB call.
//! - [`invoke`]: the Lambda `Invoke` API, through which a writer hands a
//!   large conversation's posts to the fan-out function.
//! - [`streams`]: the DynamoDB Streams event source mappings to the fan-out,
//!   with checkpoints in the data dir; [`failures`]: their on-failure
//!   destination and its replay; [`filters`]: their `FilterCriteria`.
//! - [`stream_records`]: indexes and 24-hour trimming for the embedded
//!   engine's stream records.
//! - [`push`]: the push services the notifier calls (Secrets Manager,
//!   APNs, FCM, a Web Push service), recording what they receive.
//! - [`s3`]: the S3 stand-in (attachments' bucket), its SigV4 checks, CORS
//!   and event notifications.
//! - [`web`]: the web client's files, served at `/`.
//!
//! # Stopping
//!
//! [`Running::shutdown`] stops in the order that loses nothing: the HTTP API
//! first (requests in flight finish), then the stream mappings (they deliver
//! what their streams already hold), then every WebSocket connection (1001,
//! and its `$disconnect` runs), and the database last.

pub mod dev_keys;
pub mod dynamo;
pub mod failures;
pub mod filters;
pub mod graphql;
pub mod iam;
pub mod idp;
pub mod invoke;
pub mod push;
pub mod realtime;
pub mod resolvers;
pub mod s3;
pub mod secrets;
pub mod sigv4;
pub mod stream_records;
pub mod streams;
pub mod urls;
pub mod web;
pub mod wiring;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use chat_auth::Verifier;
use chat_domain::{ChatService, PageTokens};
use chat_realtime::relay::{LambdaRelay, RelaySettings};
use chat_realtime::{ApiGatewayNotifier, DynamoConnections, FanOut};
use chat_store::{DynamoStore, RequestCounter, TableNames};

pub use chat_domain::Chain;
pub use dynamo::Backend;
pub use idp::DevIdentityProvider;
pub use resolvers::{Invocations, Resolvers, Runner};
pub use ws::Limits;

/// Largest GraphQL request body accepted (AppSync's own limit is far above any
/// valid request of this API).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where GraphQL, the token endpoint and the JWKS are served.
    pub http_addr: SocketAddr,
    /// Where the WebSocket API and its `@connections` API are served.
    pub ws_addr: SocketAddr,
    /// Where the S3 API (the attachments' bucket) is served.
    pub s3_addr: SocketAddr,
    /// What devices on the network call this machine, when it listens on
    /// every interface: `http://192.168.1.20:4000` (see [`urls::Urls`]).
    pub public_url: Option<String>,
    /// How long attachments' download links are good for, in seconds, and
    /// the window they are signed as of (the template's functions use
    /// `chat_domain::limits`' 900 and 300).
    pub link_lifetime: (u64, u64),
    pub backend: Backend,
    /// Where the embedded DynamoDB engine listens (port 0: any free port).
    pub embedded_dynamodb_addr: SocketAddr,
    /// How functions run: in this process, or behind a Lambda Invoke API.
    pub runner: Runner,
    /// Prefixed to every table name (for sharing one DynamoDB between stacks).
    pub table_prefix: String,
    /// Where the dev signing key and the page-token secret are kept; `None`
    /// makes fresh ones for this run only.
    pub data_dir: Option<PathBuf>,
    pub realtime: RealtimeConfig,
    /// The web client's directory (`web/`), served at `/`; `None`: no app.
    pub web_dir: Option<PathBuf>,
    /// The word filter the message functions apply (`CONTENT_FILTER` on
    /// AWS; `infra/content-filter.txt` for `make dev`).
    pub content_filter: Arc<chat_domain::filter::ContentFilter>,
    /// Per-user rate limits (the functions' defaults unless set).
    pub rate_limits: chat_domain::rates::RateLimits,
    /// Each function signs with its own key, and its template policy is
    /// enforced on its DynamoDB calls (see [`iam`]); off, every call goes
    /// straight to the engine with the stack's key.
    pub enforce_iam: bool,
    /// The template whose functions' policies are enforced, as YAML;
    /// `None`: infra/template.yaml (built in). Tests narrow a policy here.
    pub policies: Option<String>,
    /// Where the grants the functions' calls use are recorded
    /// (`iam::usage`); `None`: not recorded.
    pub iam_usage: Option<PathBuf>,
    /// Where each function's key pair is written as an environment file,
    /// for functions run apart (`make watch`); the keys' seed is kept
    /// there too.
    pub function_credentials_dir: Option<PathBuf>,
}

/// A GET or HEAD the routes do not know: a file of the web client, if it
/// has one (a HEAD gets its headers, no body); anything else gets the API's
/// 404.
async fn web_or_not_found(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        if let Some(web) = &state.web {
            if let Some(response) = web.get(uri.path()).await {
                return response;
            }
        }
    }
    graphql::not_found().await
}

/// The real-time side's settings.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// API Gateway's WebSocket limits.
    pub limits: Limits,
    /// How often the stream mappings poll an idle stream.
    pub stream_poll: Duration,
    /// How long a client has to send `connection_init`.
    pub init_timeout: Duration,
    /// How often the sweeper runs.
    pub sweep_interval: Duration,
    /// When the sweeper pings a silent connection, and when it closes it.
    pub liveness: chat_realtime::liveness::Liveness,
    /// Posts in flight at once per stream record.
    pub fan_out_concurrency: usize,
    /// How long a stream mapping retries a failing batch before it goes to
    /// the on-failure destination; `None`: the template's
    /// `MaximumRecordAgeInSeconds`.
    pub max_record_age: Option<Duration>,
    /// Subscribers a writer posts to itself before it hands the rest to the
    /// fan-out function (`chat_realtime::relay`); `None`: never.
    pub relay_above: Option<usize>,
    /// The function name the writers hand off to (the fan-out's, unless a
    /// test wants a refused hand-off).
    pub relay_function: String,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            limits: Limits::default(),
            stream_poll: Duration::from_millis(50),
            init_timeout: chat_realtime::sweeper::DEFAULT_INIT_TIMEOUT,
            sweep_interval: Duration::from_secs(1),
            liveness: chat_realtime::liveness::Liveness::default(),
            fan_out_concurrency: chat_realtime::fanout::DEFAULT_CONCURRENCY,
            max_record_age: None,
            relay_above: Some(chat_realtime::relay::DEFAULT_RELAY_ABOVE),
            relay_function: realtime::FAN_OUT_FN.to_string(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 4000)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 4001)),
            s3_addr: SocketAddr::from(([127, 0, 0, 1], 4003)),
            public_url: None,
            link_lifetime: (
                chat_domain::limits::DOWNLOAD_URL_SECS,
                chat_domain::limits::DOWNLOAD_URL_WINDOW_SECS,
            ),
            backend: Backend::Embedded { path: None },
            embedded_dynamodb_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            runner: Runner::InProcess,
            table_prefix: String::new(),
            data_dir: None,
            realtime: RealtimeConfig::default(),
            web_dir: None,
            content_filter: Arc::default(),
            rate_limits: Default::default(),
            enforce_iam: true,
            policies: None,
            iam_usage: None,
            function_credentials_dir: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("could not bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("could not prepare the data directory")]
    DataDir(#[source] std::io::Error),
    #[error("the embedded DynamoDB engine failed to start: {0}")]
    Embedded(String),
    #[error("could not create the tables")]
    Tables(#[from] chat_store::StoreError),
    #[error("the dev identity provider failed")]
    Idp(#[from] idp::IdpError),
    #[error("the wiring cannot be built")]
    Wiring(#[from] wiring::WiringError),
    #[error("a function's policy cannot be enforced locally")]
    Policy(#[from] iam::policy::PolicyError),
    #[error("the push services' dev credentials failed: {0}")]
    Push(String),
    #[error(transparent)]
    PublicUrl(#[from] urls::PublicUrlError),
    #[error("the push services' dev RSA key failed")]
    PushKey(#[from] dev_keys::KeyError),
    #[error("the management API's client could not be built")]
    Notifier(#[from] chat_realtime::NotifyError),
}

/// State shared by every request.
pub struct AppState {
    pub verifier: Verifier,
    pub idp: Arc<DevIdentityProvider>,
    pub resolvers: Resolvers,
    pub requests: RequestCounter,
    pub realtime_invocations: Invocations,
    pub realtime_requests: RequestCounter,
    /// The stream mappings' on-failure destination, and what replays it.
    pub failures: Arc<failures::FailureLog>,
    /// The functions the streams trigger, by name (replays go to them).
    pub stream_functions: std::collections::BTreeMap<String, Arc<resolvers::Function>>,
    /// The push services' stand-ins.
    pub push: Arc<push::PushServices>,
    /// The API's `QueryDepthLimit` and `ResolverCountLimit` (the template's).
    pub cost_limits: chat_graphql::cost::CostLimits,
    /// Invocations through the Lambda Invoke API running at once.
    pub invoke_concurrency: Arc<tokio::sync::Semaphore>,
    /// The web client, when there is one to serve.
    pub web: Option<web::Web>,
    /// What signs `nextToken`s and cursors, for functions that read it
    /// from the Secrets Manager stand-in (`make watch`).
    pub page_token_secret: String,
    /// The functions' keys and policies, when IAM is enforced.
    pub iam: Option<Arc<iam::Guard>>,
}

/// The running stack.
pub struct Running {
    /// e.g. `http://127.0.0.1:4000`
    pub base_url: String,
    /// e.g. `ws://127.0.0.1:4001`
    pub ws_url: String,
    /// e.g. `http://127.0.0.1:4003` (path-style; bucket [`s3::BUCKET`])
    pub s3_url: String,
    /// Where the S3 stand-in keeps its objects.
    pub s3_root: PathBuf,
    /// The DynamoDB endpoint the functions call: with IAM enforced, the
    /// front that checks each call; the stack's own key passes it.
    pub dynamodb_endpoint: String,
    /// The functions' identities and policies, when IAM is enforced.
    pub iam: Option<Arc<iam::Guard>>,
    pub tables: TableNames,
    /// DynamoDB requests of the query and mutation functions.
    pub requests: RequestCounter,
    /// DynamoDB requests of the real-time functions (connections, fan-out).
    pub realtime_requests: RequestCounter,
    /// Invocations of the real-time functions.
    pub realtime_invocations: Invocations,
    /// The connection store the real-time functions use.
    pub connections: DynamoConnections,
    pub ws: Arc<ws::WsState>,
    pub invocations: Invocations,
    pub idp: Arc<DevIdentityProvider>,
    /// The stream mappings' on-failure destination.
    pub failures: Arc<failures::FailureLog>,
    /// Connections a killed gateway had left in the table, disconnected at start.
    pub stale_connections: usize,
    http: Stage,
    streams: Stage,
    websocket: Stage,
    database: Stage,
    _s3_scratch: Option<Scratch>,
}

/// A directory that goes with the stack: the S3 stand-in's objects when
/// the rows naming them are kept for this run only. Removed on drop, so a
/// stack a test drops without [`Running::shutdown`] leaves nothing behind.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One step of stopping: a signal and the tasks that end on it.
struct Stage {
    name: &'static str,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Stage {
    /// Signals the stage's tasks and waits for them, up to [`STAGE_LIMIT`].
    async fn stop(self) {
        let _ = self.stop.send(true);
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(STAGE_LIMIT, all).await.is_err() {
            tracing::warn!(stage = self.name, "stopping timed out");
        }
    }
}

/// How long stopping waits for each stage's tasks (the stream mappings
/// bound their own drain to [`streams::DRAIN_LIMIT`]).
const STAGE_LIMIT: Duration = Duration::from_secs(7);
/// How long stopping waits for the WebSocket connections' `$disconnect`s:
/// each also updates its user's presence, and a user going offline is
/// pushed to connections that are closing too.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

impl Running {
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base_url)
    }

    /// Stops everything, in the order described in the crate's docs, in a
    /// few seconds whatever the number of connections.
    pub async fn shutdown(self) {
        self.http.stop().await;
        self.streams.stop().await;
        let left = self.ws.close_all(CLOSE_LIMIT).await;
        if left > 0 {
            tracing::warn!(
                connections = left,
                "connections still closing; their rows go at the next start"
            );
        }
        self.websocket.stop().await;
        self.database.stop().await;
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), GatewayError> {
    let bind_error = |source| GatewayError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

pub(crate) fn shutdown_signal(
    rx: &watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Reads `name` from the data dir, or makes it with `make` and keeps it there.
pub(crate) fn persisted(
    data_dir: Option<&PathBuf>,
    name: &str,
    make: impl FnOnce() -> Result<String, GatewayError>,
) -> Result<String, GatewayError> {
    let Some(dir) = data_dir else { return make() };
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing);
    }
    let value = make()?;
    std::fs::write(&path, &value).map_err(GatewayError::DataDir)?;
    Ok(value)
}

/// Starts the stack and returns once it serves requests.
pub async fn start(config: Config) -> Result<Running, GatewayError> {
    for dir in [&config.data_dir, &config.function_credentials_dir]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(dir).map_err(GatewayError::DataDir)?;
    }
    let (stop_http, stop_http_rx) = watch::channel(false);
    let (stop_streams, stop_streams_rx) = watch::channel(false);
    let (stop_ws, stop_ws_rx) = watch::channel(false);
    let (stop_db, stop_db_rx) = watch::channel(false);

    // With IAM enforced, the functions reach the engine through the front
    // that checks each call against the caller's policy: the front takes
    // the address the engine is published at, and the engine a private one.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let (dynamodb_endpoint, engine) = dynamo::start(
        &config.backend,
        if config.enforce_iam {
            loopback
        } else {
            config.embedded_dynamodb_addr
        },
        shutdown_signal(&stop_db_rx),
    )
    .await?;
    let (dynamodb_endpoint, credentials, iam) = if config.enforce_iam {
        let template = config.policies.as_deref().unwrap_or(wiring::TEMPLATE);
        let usage = match &config.iam_usage {
            Some(dir) => Some(iam::usage::Usage::create(dir).map_err(GatewayError::DataDir)?),
            None => None,
        };
        // The same seed, the same keys: links a function presigned stay
        // good across restarts, and functions under `make watch` started
        // by an earlier run still sign with a key the stack knows.
        let seed = persisted(
            config
                .function_credentials_dir
                .as_ref()
                .or(config.data_dir.as_ref()),
            "iam-seed",
            || Ok(idp::random_hex(32)),
        )?;
        let guard = Arc::new(iam::Guard::recording(
            &wiring::template_json(template)?,
            wiring::wiring()?,
            &config.table_prefix,
            &seed,
            usage,
        )?);
        let front_addr = match config.backend {
            Backend::Embedded { .. } => config.embedded_dynamodb_addr,
            Backend::External { .. } => loopback,
        };
        let (front_listener, front_addr) = bind(front_addr).await?;
        let credentials = guard.credentials();
        iam::front::serve(
            front_listener,
            &dynamodb_endpoint,
            guard.clone(),
            shutdown_signal(&stop_db_rx),
        );
        (
            format!("http://{front_addr}"),
            Some(credentials),
            Some(guard),
        )
    } else {
        (dynamodb_endpoint, None, None)
    };
    // Functions run apart (`make watch`) start with the key their file
    // gives: their own, or without enforcement the stack's, the only one
    // accepted then.
    if let Some(dir) = &config.function_credentials_dir {
        match &iam {
            Some(guard) => iam::write_credential_files(guard.function_keys(), dir),
            None => iam::write_credential_files(
                wiring::wiring()?
                    .functions
                    .iter()
                    .map(|f| (f.as_str(), iam::stack_credentials())),
                dir,
            ),
        }
        .map_err(GatewayError::DataDir)?;
    }
    let requests = RequestCounter::default();
    let writes = dynamo::WriteSignal::default();
    let client = dynamo::functions_client(
        &dynamodb_endpoint,
        requests.clone(),
        writes.clone(),
        credentials.as_ref(),
    )
    .await;
    let tables = TableNames::with_prefix(&config.table_prefix);
    chat_store::tables::create_tables(&client, &tables).await?;

    let (listener, addr) = bind(config.http_addr).await?;
    let (ws_listener, ws_addr) = bind(config.ws_addr).await?;
    let (s3_listener, s3_addr) = bind(config.s3_addr).await?;
    let urls = urls::Urls::new(config.public_url.as_deref(), addr, ws_addr, s3_addr)?;
    // What devices are told (and the token issuer); the process calls
    // itself at `urls.local_*`.
    let base_url = urls.http.clone();
    let local_url = urls.local_http.clone();

    let secret = persisted(config.data_dir.as_ref(), "page-token-secret", || {
        Ok(idp::random_hex(32))
    })?;
    // The functions that write post to subscribers through the WebSocket
    // API's `@connections` endpoint, as on AWS.
    let management_url = urls.local_ws.replacen("ws://", "http://", 1);
    // With IAM enforced, each post is signed as the function making it.
    let notifier = match &credentials {
        Some(credentials) => ApiGatewayNotifier::for_endpoint_per_caller(
            &dynamo::functions_sdk_config(&management_url, Some(credentials)).await,
            &management_url,
        )?,
        None => ApiGatewayNotifier::for_endpoint(
            &dynamo::sdk_config(&management_url).await,
            &management_url,
        )?,
    };
    let mut publisher = FanOut::new(
        DynamoConnections::new(client.clone(), tables.connections.clone()),
        notifier.clone(),
        tables.clone(),
        config.realtime.fan_out_concurrency,
    );
    // A large conversation's posts beyond the threshold go to the fan-out
    // function through the Lambda Invoke API served below, as on AWS.
    if let Some(above) = config.realtime.relay_above {
        publisher = publisher.with_relay(RelaySettings {
            relay: LambdaRelay::for_endpoint(
                // Each hand-off is signed as the writer making it.
                &dynamo::functions_sdk_config(&local_url, credentials.as_ref()).await,
                &local_url,
                &config.realtime.relay_function,
            ),
            above,
        });
    }
    // The attachments' bucket: the S3 stand-in, and the functions' client
    // of it, addressed by path as a local endpoint must be.
    // Presigned links are made for the address devices reach.
    let s3_url = urls.s3.clone();
    // Objects live as long as the rows that name them: beside a database
    // kept on disk, or for this run only beside one kept in memory.
    let (s3_root, s3_scratch) = match (&config.data_dir, &config.backend) {
        (Some(dir), backend) if !matches!(backend, Backend::Embedded { path: None }) => {
            (dir.join("s3"), None)
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("chat-s3-{}", uuid::Uuid::new_v4()));
            (dir.clone(), Some(Scratch(dir)))
        }
    };
    let media = chat_media::S3Media::new(
        aws_sdk_s3::Client::from_conf(
            // The stand-in's keys, whatever host the links name (a LAN
            // address is not loopback, and would otherwise ask the SDK's
            // chain for real credentials): each function's, with IAM
            // enforced, so a link carries its signer's permissions.
            aws_sdk_s3::config::Builder::from(
                &dynamo::functions_sdk_config(&local_url, credentials.as_ref()).await,
            )
            .endpoint_url(&s3_url)
            .force_path_style(true)
            .build(),
        ),
        s3::BUCKET,
    );
    // Web Push subscriptions may point at this stack's push service.
    let origins = || [base_url.clone(), local_url.clone()];
    let services = resolvers::Services {
        reader: Arc::new(
            ChatService::new(
                DynamoStore::new(client.clone(), tables.clone()),
                PageTokens::new(secret.as_bytes()),
            )
            .with_web_push_origins(origins())
            .with_media(Arc::new(media.clone()))
            .with_link_lifetime(config.link_lifetime.0, config.link_lifetime.1)
            .with_filter(config.content_filter.clone())
            .with_rate_limits(config.rate_limits),
        ),
        writer: Arc::new(
            ChatService::new(
                DynamoStore::new(client, tables.clone()),
                PageTokens::new(secret.as_bytes()),
            )
            .with_publisher(publisher)
            .with_web_push_origins(origins())
            .with_media(Arc::new(media.clone()))
            .with_link_lifetime(config.link_lifetime.0, config.link_lifetime.1)
            .with_filter(config.content_filter.clone())
            .with_rate_limits(config.rate_limits),
        ),
    };

    let push = Arc::new(push::PushServices::load_or_create(
        config.data_dir.as_ref(),
        &local_url,
    )?);
    // The notifier reads its credentials from the Secrets Manager stand-in
    // and calls the providers' stand-ins, all served below, as on AWS.
    let pusher = chat_push::PushService::new(
        chat_push::CredentialsSource::SecretsManager {
            client: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(
                    &dynamo::functions_sdk_config(&local_url, credentials.as_ref()).await,
                )
                .endpoint_url(&local_url)
                .build(),
            ),
            secret_id: push::SECRET_ID.to_string(),
        },
        push.endpoints(),
    )
    .map_err(|e| GatewayError::Push(Chain(&e).to_string()))?;
    let invocations = Invocations::default();
    let wiring = wiring::wiring()?;
    let (s3_routes, upload_sweeper) =
        resolvers::media_functions(wiring, &config.runner, &services, &media, &invocations);
    let (_, s3_task) = s3::serve(
        s3_listener,
        &s3_root,
        s3_routes,
        iam.clone(),
        shutdown_signal(&stop_http_rx),
    )
    .map_err(GatewayError::DataDir)?;
    // The upload sweeper's schedule (the template's `rate(1 hour)`).
    let sweeper_task = {
        let mut stop = stop_http_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let event = serde_json::json!({ "source": "aws.events", "detail-type": "Scheduled Event", "detail": {} });
                if let Err(d) = upload_sweeper.invoke(event).await {
                    tracing::warn!(error_type = %d.error_type, message = %d.error_message, "upload sweeper failed");
                }
            }
        })
    };
    let resolvers = Resolvers::new(wiring, &config.runner, services, &invocations)?;
    let idp = Arc::new(DevIdentityProvider::load_or_create(
        config.data_dir.as_ref(),
        &base_url,
    )?);
    let failures = Arc::new(failures::FailureLog::new(config.data_dir.as_ref()));
    // The real-time side starts first so that `/local/stats` can count it too.
    let realtime = realtime::start(realtime::Setup {
        wiring,
        runner: &config.runner,
        config: &config.realtime,
        dynamodb_endpoint: &dynamodb_endpoint,
        guard: iam.clone(),
        tables: &tables,
        issuer: &base_url,
        ws_listener,
        ws_addr,
        data_dir: config.data_dir.as_ref(),
        failures: failures.clone(),
        writes: &writes,
        notifier,
        pusher,
        media: &media,
        stop_streams: &stop_streams_rx,
        stop_ws: &stop_ws_rx,
    })
    .await?;

    let state = Arc::new(AppState {
        verifier: Verifier::new(base_url.clone(), idp::CLIENT_ID),
        idp: idp.clone(),
        resolvers,
        requests: requests.clone(),
        realtime_invocations: realtime.invocations.clone(),
        realtime_requests: realtime.requests.clone(),
        failures: failures.clone(),
        stream_functions: realtime.stream_functions.clone(),
        push: push.clone(),
        cost_limits: wiring.cost_limits,
        invoke_concurrency: invoke::concurrency(),
        web: config.web_dir.clone().map(|dir| {
            web::Web::new(dir, &base_url, &urls.ws, &s3_url).with_vapid_key(push.vapid_public_key())
        }),
        page_token_secret: secret.clone(),
        iam: iam.clone(),
    });

    let app = Router::new()
        .route(
            "/graphql",
            post(graphql::handle)
                .get(graphql::explorer)
                .options(graphql::preflight)
                .fallback(graphql::method_not_allowed)
                .layer(axum::middleware::map_response(graphql::cors)),
        )
        // A front end on another origin signs in locally as it calls
        // /graphql (Cognito's own endpoints answer any origin too).
        .route(
            "/auth/token",
            post(idp::token_endpoint)
                .options(graphql::preflight)
                .layer(axum::middleware::map_response(graphql::cors)),
        )
        .route("/.well-known/jwks.json", get(idp::jwks_endpoint))
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route("/local/stats", get(graphql::stats))
        .route("/", post(secrets::get_secret_value).get(web_or_not_found))
        .route("/3/device/{token}", post(push::apns_production))
        .route("/apns-sandbox/3/device/{token}", post(push::apns_sandbox))
        .route("/v1/projects/{project}/{action}", post(push::fcm_send))
        .route("/local/oauth2/token", post(push::oauth_token))
        .route("/local/webpush/{id}", post(push::web_push))
        .route("/local/push", get(push::received).delete(push::forget))
        .route("/local/push/faults", post(push::set_fault))
        .route("/local/failed-records", get(graphql::failed_records))
        .route(
            "/local/failed-records/replay",
            post(graphql::replay_failed_records),
        )
        .fallback(web_or_not_found)
        .with_state(state);
    let stop = shutdown_signal(&stop_http_rx);
    let http_task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %Chain(&err), "HTTP server failed");
        }
    });

    Ok(Running {
        base_url,
        ws_url: urls.ws.clone(),
        s3_url,
        s3_root,
        dynamodb_endpoint,
        iam,
        tables,
        requests,
        realtime_requests: realtime.requests,
        realtime_invocations: realtime.invocations,
        connections: realtime.connections,
        ws: realtime.ws,
        invocations,
        idp,
        failures,
        stale_connections: realtime.stale_connections,
        _s3_scratch: s3_scratch,
        http: Stage {
            name: "http",
            stop: stop_http,
            tasks: vec![http_task, s3_task, sweeper_task],
        },
        streams: Stage {
            name: "streams",
            stop: stop_streams,
            tasks: realtime.stream_tasks,
        },
        websocket: Stage {
            name: "websocket",
            stop: stop_ws,
            tasks: vec![realtime.ws_task],
        },
        database: Stage {
            name: "database",
            stop: stop_db,
            tasks: engine.into_iter().collect(),
        },
    })
}
