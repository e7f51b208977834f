//! Cold start and footprint. A "cold Lambda" stands behind the gateway's
//! Lambda Invoke endpoint (`--lambda-endpoint`): every invocation starts a
//! fresh process of the function's release binary with its own minimal
//! Lambda Runtime API, as Lambda does for a new execution environment. It
//! measures, per invocation:
//! - exec → the function's first `GET /runtime/invocation/next` (its init:
//!   config read, clients built);
//! - exec → the response to that first event;
//! - the process's peak RSS (`VmHWM`) once it has answered.
//!
//! The events are the real ones the gateway sends for a chat session, so each
//! function does its real first-invocation work against the local DynamoDB.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::Result;

/// One cold invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub function: String,
    pub init_ms: f64,
    pub first_response_ms: f64,
    pub peak_rss_kib: u64,
    pub error: Option<String>,
}

/// The Invoke API endpoint that runs every invocation in a new process.
pub struct ColdLambda {
    pub endpoint: String,
    env: Arc<Mutex<Vec<(String, String)>>>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: watch::Sender<bool>,
}

#[derive(Clone)]
struct Shared {
    bin_dir: PathBuf,
    env: Arc<Mutex<Vec<(String, String)>>>,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl ColdLambda {
    /// Serves on a free port, running the binaries in `bin_dir`.
    pub async fn start(bin_dir: PathBuf) -> Result<ColdLambda> {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let env = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            bin_dir,
            env: env.clone(),
            samples: samples.clone(),
        };
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (stop, mut rx) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(ColdLambda {
            endpoint,
            env,
            samples,
            stop,
        })
    }

    /// What each function reads in production, pointed at the local stack.
    pub fn set_env(&self, env: Vec<(String, String)>) {
        *self.env.lock().expect("env lock") = env;
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().expect("samples lock").clone()
    }
}

impl Drop for ColdLambda {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// What the function's Runtime API saw.
struct Runtime {
    event: Bytes,
    first_next: Mutex<Option<Instant>>,
    result: Mutex<Option<oneshot::Sender<(bool, Bytes)>>>,
}

async fn invoke(State(shared): State<Shared>, Path(name): Path<String>, event: Bytes) -> Response {
    match cold_invoke(&shared, &name, event).await {
        Ok((sample, ok, body)) => {
            shared.samples.lock().expect("samples lock").push(sample);
            let mut headers = HeaderMap::new();
            headers.insert(
                "content-type",
                "application/json".parse().expect("a header"),
            );
            if !ok {
                headers.insert(
                    "x-amz-function-error",
                    "Unhandled".parse().expect("a header"),
                );
            }
            (StatusCode::OK, headers, body).into_response()
        }
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{{\"errorMessage\":{:?}}}", err.to_string()),
        )
            .into_response(),
    }
}

async fn cold_invoke(shared: &Shared, name: &str, event: Bytes) -> Result<(Sample, bool, Bytes)> {
    let (tx, rx) = oneshot::channel();
    let runtime = Arc::new(Runtime {
        event,
        first_next: Mutex::new(None),
        result: Mutex::new(Some(tx)),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let binary = shared.bin_dir.join(name);
    let env = shared.env.lock().expect("env lock").clone();
    let mut command = Command::new(&binary);
    command
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let exec = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let outcome = tokio::time::timeout(Duration::from_secs(30), rx).await;
    let answered = Instant::now();
    let peak_rss_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    server.abort();

    let first_next = *runtime.first_next.lock().expect("runtime lock");
    let (ok, body, error) = match outcome {
        Ok(Ok((ok, body))) => (ok, body, None),
        _ => (
            false,
            Bytes::from_static(b"{\"errorMessage\":\"no response within 30 s\"}"),
            Some("no response within 30 s".to_string()),
        ),
    };
    let error = error.or_else(|| (!ok).then(|| String::from_utf8_lossy(&body).into_owned()));
    let ms = |d: Duration| crate::stats::round(d.as_secs_f64() * 1e3);
    let sample = Sample {
        function: name.to_string(),
        init_ms: first_next.map_or(f64::NAN, |t| ms(t - exec)),
        first_response_ms: ms(answered - exec),
        peak_rss_kib,
        error,
    };
    Ok((sample, ok, body))
}

async fn next(State(runtime): State<Arc<Runtime>>) -> Response {
    let first = {
        let mut seen = runtime.first_next.lock().expect("runtime lock");
        let first = seen.is_none();
        if first {
            *seen = Some(Instant::now());
        }
        first
    };
    if !first {
        // One event per environment: the process is killed while it waits.
        return std::future::pending().await;
    }
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        headers.insert(k, v.parse().expect("a header value"));
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", "cold-start-0001".into());
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:cold".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    (StatusCode::OK, headers, runtime.event.clone()).into_response()
}

fn finish(runtime: &Runtime, ok: bool, body: Bytes) -> StatusCode {
    if let Some(tx) = runtime.result.lock().expect("runtime lock").take() {
        let _ = tx.send((ok, body));
    }
    StatusCode::ACCEPTED
}

async fn response(State(runtime): State<Arc<Runtime>>, body: Bytes) -> StatusCode {
    finish(&runtime, true, body)
}

async fn error(State(runtime): State<Arc<Runtime>>, body: Bytes) -> StatusCode {
    finish(&runtime, false, body)
}

/// `VmHWM` from /proc: the peak resident set size so far.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Per-function medians over the samples.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionFootprint {
    pub function: String,
    pub samples: usize,
    pub errors: usize,
    pub init_p50_ms: f64,
    pub first_response_p50_ms: f64,
    pub peak_rss_p50_kib: u64,
    pub x86_64_bytes: Option<u64>,
    pub arm64_bytes: Option<u64>,
}

pub fn summarize(
    samples: &[Sample],
    x86_dir: &std::path::Path,
    arm64_dir: &std::path::Path,
    functions: &[String],
) -> Vec<FunctionFootprint> {
    let mut by: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.function.as_str()).or_default().push(s);
    }
    functions
        .iter()
        .map(|f| {
            let all = by.get(f.as_str()).cloned().unwrap_or_default();
            let ok: Vec<&&Sample> = all.iter().filter(|s| s.error.is_none()).collect();
            let mut init: Vec<f64> = ok.iter().map(|s| s.init_ms).collect();
            let mut first: Vec<f64> = ok.iter().map(|s| s.first_response_ms).collect();
            let mut rss: Vec<f64> = ok.iter().map(|s| s.peak_rss_kib as f64).collect();
            let size = |p: PathBuf| std::fs::metadata(p).ok().map(|m| m.len());
            FunctionFootprint {
                function: f.clone(),
                samples: all.len(),
                errors: all.len() - ok.len(),
                init_p50_ms: crate::stats::Summary::of_ms(&mut init).p50_ms,
                first_response_p50_ms: crate::stats::Summary::of_ms(&mut first).p50_ms,
                peak_rss_p50_kib: crate::stats::Summary::of_ms(&mut rss).p50_ms as u64,
                x86_64_bytes: size(x86_dir.join(f)),
                arm64_bytes: size(arm64_dir.join(f).join("bootstrap")),
            }
        })
        .collect()
}

/// One chat session through the gateway, so that every function runs once
/// (or more) on a cold start: sign-ups, a conversation, a subscription that
/// receives a message, the reads, and the disconnect.
pub async fn session(
    world: &crate::setup::World,
    target: &crate::client::Target,
    round: usize,
) -> Result<()> {
    use crate::docs;
    use serde_json::json;
    let http = &world.http;
    let url = &world.graphql_url;
    let a = world.user(&format!("cold-a{round}")).await?;
    let b = world.user(&format!("cold-b{round}")).await?;
    let c = world.user(&format!("cold-c{round}")).await?;
    http.gql(url, &a.token, docs::ME, json!({})).await?;
    let room = world
        .conversation(&a, "cold", std::slice::from_ref(&b))
        .await?;
    http.gql(
        url,
        &a.token,
        docs::CREATE_CONVO_LINK,
        json!({ "convoLinkConversationId": room, "convoLinkUserId": c.id }),
    )
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let socket = crate::client::subscribe(
        target,
        &b.token,
        docs::ON_CREATE_MESSAGE,
        json!({ "messageConversationId": room }),
        0,
        tx,
    )
    .await?;
    let mut delivered = false;
    for _ in 0..10 {
        world.post(&a, &room, "cold").await?;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await {
            delivered = true;
            break;
        }
    }
    socket.abort();
    if !delivered {
        return Err("the cold-start session never received its message".into());
    }
    http.gql(url, &a.token, docs::GET_CONVO, json!({ "id": room }))
        .await?;
    http.gql(
        url,
        &a.token,
        docs::GET_USER_AND_CONVERSATIONS,
        json!({ "id": a.id }),
    )
    .await?;
    http.gql(url, &a.token, docs::LIST_USERS, json!({})).await?;
    http.gql(
        url,
        &a.token,
        docs::HISTORY,
        json!({ "conversationId": room, "first": 20 }),
    )
    .await?;
    // Let `$disconnect` run before the next round.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}
