//! What one delivery costs in CPU, measured alone: a `PostToConnection` by
//! the unchanged SDK client and by the functions' notifier, each against a
//! server that answers at once; and the WebSocket frame write that the
//! peer does instead of a post, which is also the least a delivery can cost
//! on this machine.
//!
//! Each side runs on a thread of its own (a current-thread runtime: its
//! HTTP connections' tasks run there too) and is charged that thread's CPU
//! time over `n` operations, 64 in flight for the posts. The server is on
//! other threads and is not charged.

use std::net::SocketAddr;
use std::time::Instant;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use chat_realtime::notifier::{ApiGatewayNotifier, Notifier};
use futures::{SinkExt, StreamExt};
use serde::Serialize;

use crate::cpu;
use crate::stats::{ratio, round};
use crate::Result;

/// Posts in flight at once, as the fan-out posts (`FANOUT_CONCURRENCY`).
const IN_FLIGHT: usize = chat_realtime::fanout::DEFAULT_CONCURRENCY;

/// A `next` message of Chatt's `onCreateMessage`, as a subscriber gets it.
const FRAME: &str = r#"{"type":"next","id":"7f9c2a1e-3b4d-4e5f-8a6b-1c2d3e4f5a6b","payload":{"data":{"onCreateMessage":{"__typename":"Message","id":"01JEXAMPLE0000000000000000","content":"On my way, ten minutes out. Want me to pick anything up?","conversationId":"01JEXAMPLECONVERSATION0000","createdAt":"2026-12-06T22:40:12.345Z","sender":"01JEXAMPLESENDER0000000000","isSent":true,"editedAt":null,"deletedAt":null,"reactions":[]}}}}"#;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Side {
    pub ops: usize,
    pub per_sec: f64,
    /// The side's thread's CPU time per operation.
    pub cpu_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub frame_bytes: usize,
    pub sdk: Side,
    pub notifier: Side,
    pub frame: Side,
    /// notifier ÷ SDK, CPU per post.
    pub notifier_to_sdk: f64,
}

/// Runs `work` on a thread of its own and charges it that thread's CPU.
fn on_own_thread<F, Fut>(ops: usize, work: F) -> Result<Side>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>>,
{
    std::thread::spawn(move || -> Result<Side> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (cpu0, t0) = (cpu::of_this_thread()?, Instant::now());
        runtime.block_on(work())?;
        let (cpu, wall) = (cpu::of_this_thread()? - cpu0, t0.elapsed());
        Ok(Side {
            ops,
            per_sec: round(ops as f64 / wall.as_secs_f64()),
            cpu_us: cpu::micros_per(cpu, ops),
        })
    })
    .join()
    .map_err(|_| "a measuring thread panicked")?
}

/// A management API that answers every post 200 at once.
async fn answering_server() -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::OK });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("local", "local", None, None, "bench"),
            ),
        )
        .build()
}

/// `n` posts, 64 at a time, after `n / 10` to warm the connections.
async fn post_many<F, Fut>(n: usize, post: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    futures::stream::iter(0..n)
        .map(&post)
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect()
}

pub async fn run(n: usize) -> Result<Outcome> {
    let addr = answering_server().await?;
    let endpoint = format!("http://{addr}");

    let url = endpoint.clone();
    let sdk = on_own_thread(n, move || async move {
        let client = aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&sdk_config())
                .endpoint_url(&url)
                .build(),
        );
        let post = |i: usize| {
            let client = client.clone();
            async move {
                client
                    .post_to_connection()
                    .connection_id(format!("c{i}"))
                    .data(Blob::new(FRAME.as_bytes().to_vec()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SDK post: {e}").into())
            }
        };
        post_many(n / 10, post).await?;
        post_many(n, post).await
    })?;

    let url = endpoint.clone();
    let notifier = on_own_thread(n, move || async move {
        let notifier = ApiGatewayNotifier::for_endpoint(&sdk_config(), &url)?;
        let post = |i: usize| {
            let notifier = notifier.clone();
            async move {
                notifier
                    .post(&format!("c{i}"), FRAME.as_bytes().to_vec())
                    .await
                    .map_err(|e| format!("notifier post: {e}").into())
            }
        };
        post_many(n / 10, post).await?;
        post_many(n, post).await
    })?;

    let frames = n * 10;
    Ok(Outcome {
        frame_bytes: FRAME.len(),
        notifier_to_sdk: ratio(notifier.cpu_us, sdk.cpu_us),
        sdk,
        notifier,
        frame: frame_writes(frames).await?,
    })
}

/// `n` text frames written by a WebSocket server to a client that reads
/// them all, each sent (one write) before the next; the server's thread is
/// charged.
async fn frame_writes(n: usize) -> Result<Side> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await?;
        let mut read = 0;
        while read < n {
            match socket.next().await {
                Some(Ok(m)) if m.is_text() => read += 1,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err("the writer closed early".into()),
            }
        }
        socket.close(None).await?;
        Result::Ok(())
    });
    let side = on_own_thread(n, move || async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stream, _) = listener.accept().await?;
        let mut socket = tokio_tungstenite::accept_async(stream).await?;
        // Each frame written on its own, as a server writes one message
        // to each of many sockets.
        for _ in 0..n {
            socket
                .send(tokio_tungstenite::tungstenite::Message::text(FRAME))
                .await?;
        }
        // Open until the reader, having read everything, closes.
        while let Some(Ok(_)) = socket.next().await {}
        Ok(())
    })?;
    reader.await??;
    Ok(side)
}
