//! DynamoDB for the local stack: the embedded engine (dynoxide, one SQLite
//! file) served over the real DynamoDB HTTP protocol, or any other endpoint
//! such as Amazon DynamoDB Local. Either way the functions talk to it through
//! the unchanged `aws-sdk-dynamodb` client.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, IdentityCache, Region, SharedCredentialsProvider,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use chat_store::RequestCounter;

use crate::GatewayError;

#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded engine; `path: None` keeps the data in memory.
    Embedded { path: Option<PathBuf> },
    /// Any DynamoDB endpoint, e.g. `http://127.0.0.1:8000` for DynamoDB Local.
    External { endpoint: String },
}

/// Starts the engine when embedded; returns the endpoint URL and the server task.
pub async fn start(
    backend: &Backend,
    addr: std::net::SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(String, Option<JoinHandle<()>>), GatewayError> {
    match backend {
        Backend::External { endpoint } => Ok((endpoint.clone(), None)),
        Backend::Embedded { path } => {
            let db = match path {
                Some(path) => dynoxide::Database::new(&path.to_string_lossy()),
                None => dynoxide::Database::memory(),
            }
            .map_err(|e| GatewayError::Embedded(e.to_string()))?;
            // SQLite's default in WAL mode syncs the log to disk at every
            // commit. `synchronous = NORMAL`, which the engine calls its normal
            // setting (`disable_bulk_loading` sets it), syncs only at
            // checkpoints: a commit survives the gateway being killed, and only
            // an OS crash or power loss can take the last ones back. For a
            // local stack that is the right trade: writes stop waiting on fsync.
            db.disable_bulk_loading()
                .map_err(|e| GatewayError::Embedded(e.to_string()))?;
            let upkeep = match path {
                Some(path) => Some(stream_upkeep(path.clone()).await?),
                None => None,
            };
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| GatewayError::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| GatewayError::Bind { addr, source })?;
            let served = serve_apart(listener, db, shutdown)?;
            let task = tokio::spawn(async move {
                served.await;
                if let Some(upkeep) = upkeep {
                    upkeep.abort();
                }
            });
            Ok((format!("http://{local}"), Some(task)))
        }
    }
}

/// Worker threads of the engine's own runtime.
const ENGINE_WORKERS: usize = 2;

/// Serves the engine on its own threads, with its own Tokio runtime, as if
/// it were a separate server. The engine answers each request on the thread
/// that reads it and waits on a lock for its storage; on the gateway's
/// runtime, a request waiting there would hold one of its workers, and every
/// WebSocket frame, post and resolver queued on that worker would wait with
/// it.
///
/// The returned future resolves once the server has stopped and the database
/// is closed. The engine stops at `shutdown`, or when that future is dropped
/// unfinished (the gateway's runtime went away without a shutdown), so a
/// gateway dropped in a test takes its engine with it.
fn serve_apart(
    listener: std::net::TcpListener,
    db: dynoxide::Database,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<impl Future<Output = ()> + Send + 'static, GatewayError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ENGINE_WORKERS)
        .thread_name("dynamodb")
        .enable_all()
        .build()
        .map_err(|e| GatewayError::Embedded(e.to_string()))?;
    let (owner, dropped) = tokio::sync::oneshot::channel::<()>();
    let (stopped, served) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dynamodb".into())
        .spawn(move || {
            runtime.block_on(async move {
                let stop = async move {
                    tokio::select! {
                        () = shutdown => {}
                        _ = dropped => {}
                    }
                };
                let result = match TcpListener::from_std(listener) {
                    Ok(listener) => dynoxide::server::serve_with_shutdown(listener, db, stop).await,
                    Err(err) => Err(err.to_string()),
                };
                if let Err(err) = result {
                    tracing::error!(error = %err, "embedded DynamoDB stopped");
                }
            });
            // Drops what the finished connections' tasks still hold (their
            // handles on the database), so SQLite is closed before anyone is
            // told the engine has stopped.
            drop(runtime);
            let _ = stopped.send(());
        })
        .map_err(|e| GatewayError::Embedded(e.to_string()))?;
    Ok(async move {
        let _owner = owner;
        // An error on the engine's thread ends it early, and drops the sender.
        let _ = served.await;
    })
}

/// Indexes and trims the engine's stream records now (see
/// [`crate::stream_records`]), then trims them every hour.
async fn stream_upkeep(path: PathBuf) -> Result<JoinHandle<()>, GatewayError> {
    let at = path.clone();
    let trimmed = tokio::task::spawn_blocking(move || crate::stream_records::prepare(&at))
        .await
        .map_err(|e| GatewayError::Embedded(e.to_string()))?
        .map_err(|e| GatewayError::Embedded(format!("stream records: {e}")))?;
    if trimmed > 0 {
        tracing::info!(
            records = trimmed,
            "trimmed stream records older than 24 hours"
        );
    }
    Ok(tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::stream_records::TRIM_EVERY).await;
            let at = path.clone();
            match tokio::task::spawn_blocking(move || crate::stream_records::trim(&at)).await {
                Ok(Ok(n)) => tracing::debug!(records = n, "trimmed stream records"),
                Ok(Err(err)) => tracing::warn!(error = %err, "could not trim stream records"),
                Err(_) => return,
            }
        }
    }))
}

fn is_loopback(endpoint: &str) -> bool {
    ["://127.", "://localhost", "://[::1]"]
        .iter()
        .any(|p| endpoint.contains(p))
}

/// SDK configuration for a local endpoint: the stack's own key for loopback
/// endpoints (the stand-ins accept it), the SDK's normal chain otherwise.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    if is_loopback(endpoint) {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(crate::sigv4::LOCAL_REGION))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                crate::sigv4::LOCAL_ACCESS_KEY,
                crate::sigv4::LOCAL_SECRET_KEY,
                None,
                None,
                "chat-gateway",
            )))
            .build()
    } else {
        aws_config::load_defaults(BehaviorVersion::latest()).await
    }
}

/// Tells the stream mappings that a write went through, so they read the
/// stream now instead of at their next idle poll: the in-process stand-in
/// for the push that DynamoDB Streams gives Lambda's pollers for free.
#[derive(Debug, Clone)]
pub struct WriteSignal(Arc<watch::Sender<u64>>);

impl Default for WriteSignal {
    fn default() -> Self {
        WriteSignal(Arc::new(watch::channel(0).0))
    }
}

impl WriteSignal {
    /// A receiver that sees every write from now on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    fn signal(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The operations that can add stream records.
const WRITES: [&str; 8] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// Marks a request as a write, between the hook that still sees the
/// request and the one that runs once its answer is in.
#[derive(Debug, Clone, Copy)]
struct IsWrite;

impl Storable for IsWrite {
    type Storer = StoreReplace<Self>;
}

impl Intercept for WriteSignal {
    fn name(&self) -> &'static str {
        "WriteSignal"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_write = chat_store::counter::operation_of(context.request())
            .is_some_and(|op| WRITES.contains(&op));
        if is_write {
            cfg.interceptor_state().store_put(IsWrite);
        }
        Ok(())
    }

    /// After the answer (the request itself is gone by then): the stream
    /// record exists once the write's answer is in.
    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<IsWrite>().is_some() {
            self.signal();
        }
        Ok(())
    }
}

/// A DynamoDB client for `endpoint` that counts every request it sends and
/// signals every write, signed with the stack's key.
pub async fn client(endpoint: &str, counter: RequestCounter, writes: WriteSignal) -> Client {
    functions_client(endpoint, counter, writes, None).await
}

/// [`client`] for the functions: with `credentials`, each request is signed
/// with the key of the function running it (`iam`). The provider is asked
/// every time, so nothing caches one function's key for the next.
pub async fn functions_client(
    endpoint: &str,
    counter: RequestCounter,
    writes: WriteSignal,
    credentials: Option<&crate::iam::FunctionCredentials>,
) -> Client {
    let sdk = functions_sdk_config(endpoint, credentials).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .interceptor(counter)
        .interceptor(writes);
    Client::from_conf(config.build())
}

/// [`sdk_config`] for the clients the functions share: with IAM enforced
/// (`credentials`), each call is signed as the function making it, so the
/// provider is asked on every call instead of once.
pub async fn functions_sdk_config(
    endpoint: &str,
    credentials: Option<&crate::iam::FunctionCredentials>,
) -> SdkConfig {
    let sdk = sdk_config(endpoint).await;
    match credentials {
        Some(credentials) => sdk
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
            .identity_cache(IdentityCache::no_cache())
            .build(),
        None => sdk,
    }
}

/// A DynamoDB Streams client for `endpoint` (the same endpoint serves both).
pub async fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let sdk = sdk_config(endpoint).await;
    let config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}
