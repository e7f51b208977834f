//! API Gateway's WebSocket API, emulated: the WebSocket endpoint that turns
//! connections and frames into `$connect` / route / `$disconnect` events for
//! the connection function, and the `@connections` management API that
//! functions post to, with each request's SigV4 signature verified.
//!
//! As on AWS: routes are selected on `$request.body.type`; a `$connect` that
//! does not return 200 refuses the upgrade; frames over 32 KB and messages
//! over 128 KB close the connection (1009); idle connections close after
//! 10 minutes and every connection after 2 hours (both 1001); posting to a
//! closed connection gets 410 Gone. The limits are configurable.
//!
//! Stopping the gateway closes every connection with 1001 ("going away")
//! and delivers each `$disconnect`, as API Gateway does when it drops a
//! connection; [`WsState::disconnect_stale`] delivers the `$disconnect`s a
//! crashed gateway never sent.
//!
//! One extension: `DeleteConnection` honours `X-Close-Code` / `X-Close-Reason`
//! headers, which AWS ignores (it always closes with 1000), so that the
//! protocol's close codes can be tested end to end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use chat_realtime::notifier::{CLOSE_CODE_HEADER, CLOSE_REASON_HEADER};

use crate::resolvers::Function;

/// API Gateway's WebSocket limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub frame_bytes: usize,
    pub message_bytes: usize,
    pub idle_timeout: Duration,
    pub max_connection: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frame_bytes: 32 * 1024,
            message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection: Duration::from_secs(2 * 60 * 60),
        }
    }
}

enum Outbound {
    Text(String),
    Close(u16, String),
    /// Answer the client's close frame, which the socket has queued.
    CloseReply,
    /// Drop the TCP connection without a close frame or `$disconnect`.
    Vanish,
}

struct Live {
    tx: mpsc::UnboundedSender<Outbound>,
    connected_at: i64,
    last_active: Arc<AtomicI64>,
    source_ip: String,
    user_agent: String,
}

pub struct WsState {
    pub connection_fn: Function,
    /// The custom route keys (`$request.body.type` values), from the template;
    /// any other message goes to `$default`.
    pub routes: Vec<String>,
    pub limits: Limits,
    /// `requestContext.domainName`, e.g. `127.0.0.1:4001`.
    pub domain_name: String,
    pub stage: String,
    live: Mutex<HashMap<String, Live>>,
    /// Set while the gateway stops: new connections are refused.
    closing: AtomicBool,
    /// How many connections are being served, `$disconnect` included.
    serving: tokio::sync::watch::Sender<usize>,
    /// Who may call `@connections`: requests are signed (SigV4) as on AWS.
    guard: Option<Arc<crate::iam::Guard>>,
    /// Permits for the connection function's invocations
    /// ([`MAX_CONCURRENT_CONNECTION_EVENTS`]).
    running: tokio::sync::Semaphore,
}

/// Connection events (`$connect`, a message's route, `$disconnect`) whose
/// function runs at once; the others wait their turn. On AWS each is an
/// invocation of its own, up to the account's concurrency (1,000 by
/// default). Here they share one process: 5,000 sockets closing together
/// would otherwise each open a DynamoDB connection at once and run the
/// process out of file descriptors.
pub const MAX_CONCURRENT_CONNECTION_EVENTS: usize = 256;

/// Counts a connection as served until it is dropped.
struct Serving(Arc<WsState>);

impl Serving {
    fn new(state: Arc<WsState>) -> Self {
        state.serving.send_modify(|n| *n += 1);
        Serving(state)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serving.send_modify(|n| *n -= 1);
    }
}

impl WsState {
    pub fn new(
        connection_fn: Function,
        routes: Vec<String>,
        limits: Limits,
        domain_name: String,
        stage: String,
    ) -> Self {
        WsState {
            connection_fn,
            routes,
            limits,
            domain_name,
            stage,
            live: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            serving: tokio::sync::watch::channel(0).0,
            guard: None,
            running: tokio::sync::Semaphore::new(MAX_CONCURRENT_CONNECTION_EVENTS),
        }
    }

    /// Checks `@connections` calls against the callers' policies (`iam`):
    /// with a guard, each function's key is known and limited to what its
    /// policy grants; without, only the stack's key is accepted.
    pub fn with_guard(mut self, guard: Option<Arc<crate::iam::Guard>>) -> Self {
        self.guard = guard;
        self
    }

    /// Refuses new connections, closes every open one with 1001 ("going
    /// away") and waits, up to `limit`, until each one's `$disconnect` has
    /// run. Returns how many were still being served when `limit` ran out.
    pub async fn close_all(&self, limit: Duration) -> usize {
        self.closing.store(true, Ordering::SeqCst);
        let open: Vec<Live> = self
            .live
            .lock()
            .expect("live lock")
            .drain()
            .map(|(_, conn)| conn)
            .collect();
        for conn in &open {
            let _ = conn.tx.send(Outbound::Close(1001, "Going away".into()));
        }
        let mut serving = self.serving.subscribe();
        let _ = tokio::time::timeout(limit, serving.wait_for(|n| *n == 0)).await;
        let left = *serving.borrow();
        left
    }

    /// Delivers `$disconnect` for connections that the connection table
    /// still holds but that this gateway does not serve: what a gateway that
    /// was killed (SIGKILL, a crash) left behind. Returns how many.
    pub async fn disconnect_stale(&self, connection_ids: Vec<String>) -> usize {
        use futures::StreamExt;
        let stale: Vec<String> = {
            let live = self.live.lock().expect("live lock");
            connection_ids
                .into_iter()
                .filter(|id| !live.contains_key(id))
                .collect()
        };
        let count = stale.len();
        futures::stream::iter(stale)
            .map(|connection_id| async move {
                let mut context = self.context(
                    &connection_id,
                    "$disconnect",
                    "DISCONNECT",
                    chat_realtime::clock::now_ms(),
                    "127.0.0.1",
                    "",
                );
                context["disconnectStatusCode"] = json!(1006);
                context["disconnectReason"] = json!("Gateway restarted");
                self.invoke(json!({ "requestContext": context, "isBase64Encoded": false }))
                    .await;
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
        count
    }

    /// The ids of the open connections.
    pub fn connection_ids(&self) -> Vec<String> {
        self.live
            .lock()
            .expect("live lock")
            .keys()
            .cloned()
            .collect()
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.live.lock().expect("live lock").len()
    }

    /// Makes a connection vanish as a dropped mobile client can: the socket
    /// is gone, posts get 410, and no `$disconnect` is ever delivered (which
    /// API Gateway does not guarantee either). For tests of stale-connection
    /// cleanup.
    pub fn vanish(&self, connection_id: &str) -> bool {
        match self.live.lock().expect("live lock").remove(connection_id) {
            Some(conn) => conn.tx.send(Outbound::Vanish).is_ok(),
            None => false,
        }
    }
}

/// 16 letters and digits, as API Gateway's connection ids look.
fn new_connection_id() -> String {
    const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 62 letters and digits: a byte below 248 (4 × 62) maps to one evenly.
    let mut id = String::with_capacity(16);
    while id.len() < 16 {
        for byte in crate::dev_keys::random_bytes::<32>() {
            if byte < 248 && id.len() < 16 {
                id.push(char::from(ALPHANUMERIC[usize::from(byte % 62)]));
            }
        }
    }
    id
}

fn request_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

impl WsState {
    /// `requestContext` as API Gateway fills it.
    fn context(
        &self,
        connection_id: &str,
        route: &str,
        event_type: &str,
        connected_at: i64,
        source_ip: &str,
        user_agent: &str,
    ) -> Value {
        let now = chat_realtime::clock::now_ms();
        json!({
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "messageId": uuid::Uuid::new_v4().to_string(),
            "extendedRequestId": uuid::Uuid::new_v4().to_string(),
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTime": request_time(now),
            "requestTimeEpoch": now,
            "connectedAt": connected_at,
            "connectionId": connection_id,
            "domainName": self.domain_name,
            "stage": self.stage,
            "apiId": "local",
            "identity": { "sourceIp": source_ip, "userAgent": user_agent },
        })
    }

    async fn invoke(&self, event: Value) -> Option<Value> {
        let _running = self.running.acquire().await.ok()?;
        match self.connection_fn.invoke(event).await {
            Ok(v) => Some(v),
            Err(d) => {
                tracing::error!(error_type = %d.error_type, message = %d.error_message, "connection function failed");
                None
            }
        }
    }
}

/// `GET /` with an upgrade: the `$connect` route decides.
pub async fn upgrade(
    State(state): State<Arc<WsState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if state.closing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "Going away").into_response();
    }
    let connection_id = new_connection_id();
    let connected_at = chat_realtime::clock::now_ms();
    let source_ip = peer.ip().to_string();
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in &headers {
        let value = value.to_str().unwrap_or_default().to_string();
        single.insert(name.to_string(), json!(value));
        if let Some(values) = multi
            .entry(name.to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            values.push(json!(value));
        }
    }
    let query_multi: serde_json::Map<String, Value> =
        query.iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
    let event = json!({
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "multiValueQueryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query_multi) },
        "requestContext": state.context(&connection_id, "$connect", "CONNECT", connected_at, &source_ip, &user_agent),
        "isBase64Encoded": false,
    });
    let serving = Serving::new(state.clone());
    let Some(response) = state.invoke(event).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response();
    };
    let status = response["statusCode"].as_u64().unwrap_or(500) as u16;
    if status != 200 {
        let body = response["body"].as_str().unwrap_or("Forbidden").to_string();
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            body,
        )
            .into_response();
    }
    let protocol = response["headers"]
        .as_object()
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
        })
        .and_then(|(_, v)| v.as_str())
        .map(str::to_string);
    let mut ws = ws
        .max_frame_size(state.limits.frame_bytes)
        .max_message_size(state.limits.message_bytes);
    if let Some(p) = protocol {
        ws = ws.protocols([p]);
    }
    ws.on_upgrade(move |socket| async move {
        serve(
            state,
            socket,
            connection_id,
            connected_at,
            source_ip,
            user_agent,
        )
        .await;
        drop(serving);
    })
}

/// One open connection: frames in become route invocations, management-API
/// posts become frames out.
async fn serve(
    state: Arc<WsState>,
    socket: WebSocket,
    connection_id: String,
    connected_at: i64,
    source_ip: String,
    user_agent: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let last_active = Arc::new(AtomicI64::new(connected_at));
    if state.closing.load(Ordering::SeqCst) {
        // Upgraded while the gateway began to stop: it never goes live.
        let _ = tx.send(Outbound::Close(1001, "Going away".into()));
    }
    state.live.lock().expect("live lock").insert(
        connection_id.clone(),
        Live {
            tx: tx.clone(),
            connected_at,
            last_active: last_active.clone(),
            source_ip: source_ip.clone(),
            user_agent: user_agent.clone(),
        },
    );
    // Set when the server ends the connection: Some((code, reason)), with
    // code 0 for a vanished connection.
    let (closed_tx, mut closed_rx) = tokio::sync::watch::channel::<Option<(u16, String)>>(None);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Outbound::Text(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Outbound::Close(code, reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.clone().into(),
                        })))
                        .await;
                    let _ = closed_tx.send(Some((code, reason)));
                    break;
                }
                Outbound::CloseReply => {
                    // Writing after the peer's close is refused; closing the
                    // sink flushes the echo the socket queued (RFC 6455 5.5.1).
                    let _ = sink.close().await;
                    break;
                }
                Outbound::Vanish => {
                    let _ = closed_tx.send(Some((0, String::new())));
                    break;
                }
            }
        }
    });

    let max_deadline = tokio::time::Instant::now() + state.limits.max_connection;
    let (status, reason) = loop {
        let idle_deadline = tokio::time::Instant::now() + state.limits.idle_timeout;
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    last_active.store(chat_realtime::clock::now_ms(), Ordering::Relaxed);
                    let body = text.to_string();
                    let route = route_of(&state.routes, &body);
                    let event = json!({
                        "requestContext": state.context(&connection_id, route, "MESSAGE", connected_at, &source_ip, &user_agent),
                        "body": body,
                        "isBase64Encoded": false,
                    });
                    state.invoke(event).await;
                }
                Some(Ok(Message::Binary(bytes))) => {
                    last_active.store(chat_realtime::clock::now_ms(), Ordering::Relaxed);
                    let event = json!({
                        "requestContext": state.context(&connection_id, "$default", "MESSAGE", connected_at, &source_ip, &user_agent),
                        "body": base64::engine::general_purpose::STANDARD.encode(&bytes),
                        "isBase64Encoded": true,
                    });
                    state.invoke(event).await;
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = tx.send(Outbound::CloseReply);
                    break frame.map(|f| (f.code, f.reason.to_string())).unwrap_or((1005, String::new()));
                }
                Some(Ok(_)) => last_active.store(chat_realtime::clock::now_ms(), Ordering::Relaxed),
                Some(Err(err)) => {
                    let text = err.to_string();
                    if text.contains("too long") || text.contains("too big") {
                        let _ = tx.send(Outbound::Close(1009, "Message too big".into()));
                        break (1009, "Message too big".into());
                    }
                    break (1006, text);
                }
                None => break (1006, "Connection lost".into()),
            },
            changed = closed_rx.changed() => {
                match (changed, closed_rx.borrow().clone()) {
                    (Ok(()), Some((code, reason))) => break (code, reason),
                    (Ok(()), None) => {}
                    // The writer stopped: the client can no longer be written to.
                    (Err(_), _) => break (1006, "Connection lost".into()),
                }
            }
            _ = tokio::time::sleep_until(idle_deadline) => {
                let _ = tx.send(Outbound::Close(1001, "Going away".into()));
                break (1001, "Going away (idle timeout)".into());
            }
            _ = tokio::time::sleep_until(max_deadline) => {
                let _ = tx.send(Outbound::Close(1001, "Going away".into()));
                break (1001, "Going away (maximum connection duration)".into());
            }
        }
    };
    state.live.lock().expect("live lock").remove(&connection_id);
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    if status == 0 {
        // Vanished: the socket halves are dropped here, with no close frame
        // and no `$disconnect`.
        return;
    }
    let mut context = state.context(
        &connection_id,
        "$disconnect",
        "DISCONNECT",
        connected_at,
        &source_ip,
        &user_agent,
    );
    context["disconnectStatusCode"] = json!(status);
    context["disconnectReason"] = json!(reason);
    state
        .invoke(json!({ "requestContext": context, "isBase64Encoded": false }))
        .await;
}

/// `$request.body.type`, when it names a route; `$default` otherwise.
fn route_of<'r>(routes: &'r [String], body: &str) -> &'r str {
    let kind = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string));
    kind.and_then(|k| routes.iter().find(|r| **r == k))
        .map(String::as_str)
        .unwrap_or("$default")
}

fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        [("x-amzn-errortype", error_type)],
        axum::Json(json!({ "message": message })),
    )
        .into_response()
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `@connections` management API: `POST` (PostToConnection), `GET`
/// (GetConnection), `DELETE` (DeleteConnection), each signed with SigV4
/// for `execute-api`, or refused as API Gateway refuses it.
pub async fn management(
    State(state): State<Arc<WsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = percent_decode(uri.path());
    let connection_id = path
        .strip_prefix("/@connections/")
        .filter(|id| !id.is_empty() && !id.contains('/'));
    let request = crate::iam::Signed::arriving(&method, &uri, &headers, &body);
    let checked = match &state.guard {
        Some(guard) => guard.check_connections(request, connection_id.unwrap_or_default()),
        None => crate::iam::stack_key_only("execute-api", request),
    };
    if let Err(refused) = checked {
        tracing::warn!(%method, path = %uri.path(), error = %refused, "@connections request refused");
        return aws_error(
            StatusCode::FORBIDDEN,
            refused.error_type(),
            &refused.to_string(),
        );
    }
    let Some(connection_id) = connection_id else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            "No method found matching route",
        );
    };
    let gone = || aws_error(StatusCode::GONE, "GoneException", "The connection is gone");
    match method {
        Method::POST => {
            if body.len() > state.limits.message_bytes {
                return aws_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLargeException",
                    "Message too large",
                );
            }
            let live = state.live.lock().expect("live lock");
            let Some(conn) = live.get(connection_id) else {
                return gone();
            };
            let text = String::from_utf8_lossy(&body).to_string();
            if conn.tx.send(Outbound::Text(text)).is_err() {
                return gone();
            }
            StatusCode::OK.into_response()
        }
        Method::GET => {
            let live = state.live.lock().expect("live lock");
            let Some(conn) = live.get(connection_id) else {
                return gone();
            };
            axum::Json(json!({
                "ConnectedAt": iso(conn.connected_at),
                "Identity": { "SourceIp": conn.source_ip, "UserAgent": conn.user_agent },
                "LastActiveAt": iso(conn.last_active.load(Ordering::Relaxed)),
            }))
            .into_response()
        }
        Method::DELETE => {
            let Some(conn) = state.live.lock().expect("live lock").remove(connection_id) else {
                return gone();
            };
            let code = headers
                .get(CLOSE_CODE_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            let reason = headers
                .get(CLOSE_REASON_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .chars()
                .scan(0, |bytes, c| {
                    // A close frame's reason may be at most 123 bytes.
                    *bytes += c.len_utf8();
                    (*bytes <= 123).then_some(c)
                })
                .collect::<String>();
            let _ = conn.tx.send(Outbound::Close(code, reason));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => aws_error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            "No method found matching route",
        ),
    }
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A burst of connection events, as when thousands of sockets close at
    /// once: every one runs, never more than the cap at a time.
    #[tokio::test]
    async fn a_burst_of_connection_events_runs_at_most_the_cap_at_once() {
        #[derive(Default)]
        struct Meter {
            now: AtomicUsize,
            most: AtomicUsize,
            done: AtomicUsize,
        }
        let meter = Arc::new(Meter::default());
        let invoke: crate::resolvers::Invoke = {
            let meter = meter.clone();
            Box::new(move |_event| {
                let meter = meter.clone();
                Box::pin(async move {
                    let running = meter.now.fetch_add(1, Ordering::SeqCst) + 1;
                    meter.most.fetch_max(running, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    meter.now.fetch_sub(1, Ordering::SeqCst);
                    meter.done.fetch_add(1, Ordering::SeqCst);
                    Ok(json!({}))
                })
            })
        };
        let state = Arc::new(WsState::new(
            Function::new("connection", invoke, &Default::default()),
            Vec::new(),
            Limits::default(),
            "127.0.0.1".into(),
            "local".into(),
        ));
        let events = 4 * MAX_CONCURRENT_CONNECTION_EVENTS;
        let burst = (0..events).map(|_| {
            let state = state.clone();
            tokio::spawn(async move { state.invoke(json!({})).await })
        });
        for answered in futures::future::join_all(burst).await {
            assert_eq!(answered.unwrap(), Some(json!({})));
        }
        assert_eq!(meter.done.load(Ordering::SeqCst), events);
        assert_eq!(
            meter.most.load(Ordering::SeqCst),
            MAX_CONCURRENT_CONNECTION_EVENTS
        );
    }
}
