//! DynamoDB for the local stack: the embedded engine (dynoxide, one SQLite
//! file) served over the real DynamoDB HTTP protocol, or any other endpoint
//! such as Amazon DynamoDB Local. Either way the functions talk to it through
//! the unchanged `aws-sdk-dynamodb` client.

use std::future::Future;
use std::path::PathBuf;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use tokio::net::TcpListener;
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
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| GatewayError::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| GatewayError::Bind { addr, source })?;
            let task = tokio::spawn(async move {
                if let Err(err) =
                    dynoxide::server::serve_with_shutdown(listener, db, shutdown).await
                {
                    tracing::error!(error = %err, "embedded DynamoDB stopped");
                }
            });
            Ok((format!("http://{local}"), Some(task)))
        }
    }
}

fn is_loopback(endpoint: &str) -> bool {
    ["://127.", "://localhost", "://[::1]"]
        .iter()
        .any(|p| endpoint.contains(p))
}

/// The one SDK client the local stack shares, counting every request it sends.
/// Loopback endpoints get placeholder credentials (emulators accept any);
/// others use the SDK's normal credential chain.
pub async fn client(endpoint: &str, counter: RequestCounter) -> Client {
    let mut config = if is_loopback(endpoint) {
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "chat-gateway",
            ))
    } else {
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        aws_sdk_dynamodb::config::Builder::from(&sdk)
    };
    config = config.endpoint_url(endpoint).interceptor(counter);
    Client::from_conf(config.build())
}
