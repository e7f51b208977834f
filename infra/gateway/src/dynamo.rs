//! DynamoDB for the local stack: the embedded engine (dynoxide, one SQLite
//! file) served over the real DynamoDB HTTP protocol, or any other endpoint
//! such as Amazon DynamoDB Local. Either way the functions talk to it through
//! the unchanged `aws-sdk-dynamodb` client.

use std::future::Future;
use std::path::PathBuf;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
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

/// SDK configuration for a local endpoint: placeholder credentials for
/// loopback endpoints (emulators accept any), the SDK's normal chain otherwise.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    if is_loopback(endpoint) {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "local",
                "local",
                None,
                None,
                "chat-gateway",
            )))
            .build()
    } else {
        aws_config::load_defaults(BehaviorVersion::latest()).await
    }
}

/// A DynamoDB client for `endpoint` that counts every request it sends.
pub async fn client(endpoint: &str, counter: RequestCounter) -> Client {
    let sdk = sdk_config(endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .interceptor(counter)
        .build();
    Client::from_conf(config)
}

/// A DynamoDB Streams client for `endpoint` (the same endpoint serves both).
pub async fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let sdk = sdk_config(endpoint).await;
    let config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}
