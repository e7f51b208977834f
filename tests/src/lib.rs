//! Test harness: starts the local stack in-process on free ports and talks to
//! it over HTTP, as any GraphQL client would.
//!
//! With `CHAT_TEST_DYNAMODB_ENDPOINT` set (to Amazon DynamoDB Local, say) every
//! stack uses that endpoint with its own table prefix; otherwise each stack
//! gets a fresh in-memory embedded engine. `make test` runs the suite both ways.
//!
//! # Layout
//!
//! - [`Stack`]: one running stack and an HTTP client for it.
//! - [`Client`]: a signed-in user (token and id) and their requests.
//! - [`WsClient`]: a graphql-transport-ws client over a real WebSocket.
//! - [`proxy`]: a TCP proxy that can cut a database off, for outage tests.

pub mod proxy;

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{json, Value};

use chat_domain::rates::RateLimits;
use chat_gateway::{Backend, Config, RealtimeConfig, Running};

pub use chat_gateway::DevIdentityProvider;

/// The environment variable naming an external DynamoDB endpoint for the suite.
pub const ENDPOINT_ENV: &str = "CHAT_TEST_DYNAMODB_ENDPOINT";

/// The stream mappings' poll interval for test stacks: `CHAT_TEST_STREAM_POLL_MS`,
/// default 20 ms (`make dev` uses 50 ms).
pub fn stream_poll_ms() -> u64 {
    std::env::var("CHAT_TEST_STREAM_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// The suite's database: `CHAT_TEST_DYNAMODB_ENDPOINT` when set, else the
/// embedded engine (in `data_dir`, or in memory).
pub fn backend(data_dir: Option<&std::path::PathBuf>) -> Backend {
    match std::env::var(ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.is_empty() => Backend::External { endpoint },
        _ => Backend::Embedded {
            path: data_dir.map(|d| d.join("chat.sqlite")),
        },
    }
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when the value is dropped: when the test ends, whether it
/// passed or panicked.
pub fn temp_dir(label: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("chat-{label}-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    TempDir(dir)
}

/// See [`temp_dir`]. Dereferences to its path.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::PathBuf;

    fn deref(&self) -> &std::path::PathBuf {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a test stack may set besides the defaults.
struct Tweaks {
    /// How long attachments' links last; `None`: the stack's default.
    link_secs: Option<u64>,
    content_filter: chat_domain::filter::ContentFilter,
    rate_limits: RateLimits,
    /// The template whose policies are enforced; `None`: infra/template.yaml.
    policies: Option<String>,
    /// How often the connection sweeper runs; `None`: the tests' 200 ms.
    sweep_interval: Option<std::time::Duration>,
}

impl Default for Tweaks {
    fn default() -> Self {
        Tweaks {
            link_secs: None,
            content_filter: Default::default(),
            rate_limits: counted_never_reached(),
            policies: None,
            sweep_interval: None,
        }
    }
}

/// A test stack's rate limits: every count is made, as on AWS (so request
/// counts are a deployed stack's), and no test that posts fast meets one.
pub fn counted_never_reached() -> RateLimits {
    RateLimits {
        message_burst: 1_000_000,
        message_sustained: 1_000_000,
        conversations_per_hour: 1_000_000,
        invites_per_hour: 1_000_000,
        reports_per_hour: 1_000_000,
        ..RateLimits::default()
    }
}

pub struct Stack {
    pub running: Running,
    pub http: reqwest::Client,
}

/// A signed-in user.
#[derive(Clone)]
pub struct Client {
    pub username: String,
    pub id: String,
    pub token: String,
    http: reqwest::Client,
    url: String,
}

impl Stack {
    /// A fresh stack on free ports, with its own data.
    pub async fn start() -> Stack {
        Self::start_with(None, None).await
    }

    /// A stack whose embedded database and keys live in `data_dir`.
    pub async fn start_with(data_dir: Option<std::path::PathBuf>, prefix: Option<String>) -> Stack {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), data_dir, prefix).await
    }

    /// A stack on `addr`.
    pub async fn start_at(
        addr: SocketAddr,
        data_dir: Option<std::path::PathBuf>,
        prefix: Option<String>,
    ) -> Stack {
        let backend = backend(data_dir.as_ref());
        Self::start_full(
            addr,
            backend,
            data_dir,
            prefix,
            RealtimeConfig::default(),
            Tweaks::default(),
        )
        .await
    }

    /// A fresh stack whose attachments' links last `secs` seconds.
    pub async fn start_with_links(secs: u64) -> Stack {
        Self::start_tweaked(Tweaks {
            link_secs: Some(secs),
            ..Tweaks::default()
        })
        .await
    }

    /// A fresh stack whose messages go through `filter`.
    pub async fn start_with_filter(filter: chat_domain::filter::ContentFilter) -> Stack {
        Self::start_tweaked(Tweaks {
            content_filter: filter,
            ..Tweaks::default()
        })
        .await
    }

    /// A fresh stack with these per-user rate limits.
    pub async fn start_with_rates(rate_limits: RateLimits) -> Stack {
        Self::start_tweaked(Tweaks {
            rate_limits,
            ..Tweaks::default()
        })
        .await
    }

    /// A stack that enforces the policies of `template` (YAML) instead of
    /// infra/template.yaml's.
    pub async fn start_with_policies(template: String) -> Stack {
        Self::start_tweaked(Tweaks {
            policies: Some(template),
            ..Tweaks::default()
        })
        .await
    }

    /// A stack whose connection sweeper waits an hour between runs, so
    /// what it would close (an expired token's socket) is left to the
    /// writers and to the socket's own next message.
    pub async fn start_with_idle_sweeper() -> Stack {
        Self::start_tweaked(Tweaks {
            sweep_interval: Some(std::time::Duration::from_secs(3600)),
            ..Tweaks::default()
        })
        .await
    }

    async fn start_tweaked(tweaks: Tweaks) -> Stack {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_full(
            addr,
            backend(None),
            None,
            None,
            RealtimeConfig::default(),
            tweaks,
        )
        .await
    }

    /// A stack on `backend`, with `realtime` settings over the test defaults.
    pub async fn start_on(
        backend: Backend,
        data_dir: Option<std::path::PathBuf>,
        prefix: Option<String>,
        realtime: RealtimeConfig,
    ) -> Stack {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_full(addr, backend, data_dir, prefix, realtime, Tweaks::default()).await
    }

    async fn start_full(
        addr: SocketAddr,
        backend: Backend,
        data_dir: Option<std::path::PathBuf>,
        prefix: Option<String>,
        realtime: RealtimeConfig,
        tweaks: Tweaks,
    ) -> Stack {
        // `CHAT_TEST_LOG=debug` (an EnvFilter) shows the stack's logs.
        if let Ok(filter) = std::env::var("CHAT_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let table_prefix = prefix.unwrap_or_else(|| format!("t{}-", ulid::Ulid::new()));
        let running = chat_gateway::start(Config {
            http_addr: addr,
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            s3_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            link_lifetime: match tweaks.link_secs {
                Some(secs) => (secs, 1),
                None => (
                    chat_domain::limits::DOWNLOAD_URL_SECS,
                    chat_domain::limits::DOWNLOAD_URL_WINDOW_SECS,
                ),
            },
            embedded_dynamodb_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            runner: chat_gateway::Runner::InProcess,
            backend,
            table_prefix,
            data_dir,
            realtime: RealtimeConfig {
                init_timeout: std::time::Duration::from_secs(2),
                sweep_interval: tweaks
                    .sweep_interval
                    .unwrap_or(std::time::Duration::from_millis(200)),
                stream_poll: std::time::Duration::from_millis(stream_poll_ms()),
                ..realtime
            },
            web_dir: None,
            content_filter: std::sync::Arc::new(tweaks.content_filter),
            rate_limits: tweaks.rate_limits,
            enforce_iam: true,
            policies: tweaks.policies,
            // `make integration` records the grants the suite uses, to list
            // those it never does.
            iam_usage: std::env::var_os("CHAT_IAM_USAGE").map(Into::into),
            function_credentials_dir: None,
        })
        .await
        .expect("the local stack starts");
        Stack {
            running,
            http: reqwest::Client::new(),
        }
    }

    pub fn graphql_url(&self) -> String {
        self.running.graphql_url()
    }

    /// A token from the dev identity provider, over HTTP.
    pub async fn token(&self, username: &str) -> String {
        let resp: Value = self
            .http
            .post(format!("{}/auth/token", self.running.base_url))
            .json(&json!({ "username": username }))
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        resp["token"].as_str().expect("a token").to_string()
    }

    /// A client for `username` whose token says it is in the `moderators`
    /// group, with a profile.
    pub async fn moderator(&self, username: &str) -> Client {
        let resp: Value = self
            .http
            .post(format!("{}/auth/token", self.running.base_url))
            .json(&json!({ "username": username, "groups": ["moderators"] }))
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        let client = Client {
            token: resp["token"].as_str().expect("a token").to_string(),
            ..self.client(username).await
        };
        client
            .ok(
                "mutation($u: String!) { createUser(input: {username: $u}) { id } }",
                json!({ "u": username }),
            )
            .await;
        client
    }

    /// A client for `username`, without a profile yet.
    pub async fn client(&self, username: &str) -> Client {
        let token = self.token(username).await;
        Client {
            username: username.to_string(),
            id: DevIdentityProvider::sub_for(username),
            token,
            http: self.http.clone(),
            url: self.graphql_url(),
        }
    }

    /// A client for `username` whose profile exists.
    pub async fn user(&self, username: &str) -> Client {
        let client = self.client(username).await;
        let out = client
            .ok(
                "mutation($u: String!) { createUser(input: {username: $u}) { id } }",
                json!({ "u": username }),
            )
            .await;
        assert_eq!(out["createUser"]["id"], client.id.as_str());
        client
    }

    /// A raw GraphQL POST with any Authorization header (or none).
    pub async fn post(&self, authorization: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.graphql_url()).json(&body);
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.expect("GraphQL request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The functions' store over the stack's tables, signed with the
    /// stack's key: for a test that writes a row the API cannot make.
    pub async fn store(&self) -> chat_store::DynamoStore {
        chat_store::DynamoStore::new(self.dynamodb().await, self.running.tables.clone())
    }

    /// A DynamoDB client of the stack's database, signed with the stack's
    /// key, outside the API and the store.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        chat_gateway::dynamo::client(
            &self.running.dynamodb_endpoint,
            chat_store::RequestCounter::default(),
            chat_gateway::dynamo::WriteSignal::default(),
        )
        .await
    }

    /// Adds new users to `conversation` (of which `owner` is a member)
    /// until it has `count` members: the user and link rows, written 25 at
    /// a time, then the conversation's list (while it has room) and count,
    /// for a test of a conversation larger than it needs to build one
    /// request at a time. Each row is marked pushed by its writer, as the
    /// API's are, so the stream's fan-out leaves them alone.
    pub async fn fill(&self, owner: &Client, conversation: &str, count: usize) {
        use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
        use chat_domain::limits::MAX_LISTED_MEMBERS;
        use chat_domain::ports::ConversationStore;
        use chat_store::items::{LinkItem, UserItem};
        use futures::{stream, StreamExt};
        let (link, convo) = self
            .store()
            .await
            .membership(&owner.id, conversation, true)
            .await
            .expect("membership read");
        assert!(link.is_some(), "{} is not a member", owner.id);
        let convo = convo.expect("the conversation");
        let now = chat_domain::clock::now();
        let pushed = Some(chat_domain::lease::push_lease());
        let users: Vec<chat_domain::User> = (convo.member_count..count)
            .map(|i| chat_domain::User {
                id: format!("{conversation}-seeded-{i:05}"),
                username: format!("seeded{i:05}{}", &conversation[20..]),
                created_at: now.clone(),
                updated_at: now.clone(),
                online: false,
                last_seen_at: None,
            })
            .collect();
        let tables = &self.running.tables;
        let put = |table: &str, item: HashMap<String, AttributeValue>| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            (
                table.to_string(),
                WriteRequest::builder().put_request(put).build(),
            )
        };
        let mut rows = Vec::new();
        for user in &users {
            let link = chat_domain::ConvoLink::new(conversation, &user.id, &now);
            let user = UserItem {
                push_until: pushed,
                ..UserItem::from(user)
            };
            let link = LinkItem {
                push_until: pushed,
                ..LinkItem::from(&link)
            };
            rows.push(put(&tables.users, serde_dynamo::to_item(user).unwrap()));
            rows.push(put(
                &tables.convo_links,
                serde_dynamo::to_item(link).unwrap(),
            ));
        }
        let db = &self.dynamodb().await;
        stream::iter(rows.chunks(25))
            .for_each_concurrent(4, |chunk| async move {
                let mut items: HashMap<String, Vec<WriteRequest>> = HashMap::new();
                for (table, request) in chunk {
                    items
                        .entry(table.clone())
                        .or_default()
                        .push(request.clone());
                }
                while !items.is_empty() {
                    let out = db
                        .batch_write_item()
                        .set_request_items(Some(items))
                        .send()
                        .await
                        .expect("seeded rows");
                    items = out.unprocessed_items.unwrap_or_default();
                }
            })
            .await;
        let room = MAX_LISTED_MEMBERS.saturating_sub(convo.members.len());
        let listed: Vec<&str> = users.iter().take(room).map(|u| u.id.as_str()).collect();
        let av = |v: serde_json::Value| serde_dynamo::to_attribute_value(v).unwrap();
        db.update_item()
            .table_name(&tables.conversations)
            .key("id", av(json!(conversation)))
            .update_expression(
                "SET members = list_append(members, :listed), memberCount = :count, rev = if_not_exists(rev, :zero) + :one",
            )
            .expression_attribute_values(":listed", av(json!(listed)))
            .expression_attribute_values(":count", av(json!(count)))
            .expression_attribute_values(":zero", av(json!(0)))
            .expression_attribute_values(":one", av(json!(1)))
            .send()
            .await
            .expect("the seeded conversation");
    }

    /// Function invocations and DynamoDB requests made while `f` ran.
    pub async fn cost<F, T>(&self, f: F) -> (T, u64, u64)
    where
        F: std::future::Future<Output = T>,
    {
        let (inv, ddb) = (
            self.running.invocations.total(),
            self.running.requests.total(),
        );
        let out = f.await;
        (
            out,
            self.running.invocations.total() - inv,
            self.running.requests.total() - ddb,
        )
    }

    /// The connection of the first subscriber to `room`'s new messages.
    pub async fn subscriber_connection(&self, room: &str) -> String {
        use chat_realtime::connections::Connections as _;
        self.running
            .connections
            .subscribers(&format!("message:{room}"))
            .await
            .expect("the subscribers read")
            .first()
            .expect("a subscriber")
            .connection_id
            .clone()
    }
}

impl Client {
    /// Sends a document; returns the whole response body.
    pub async fn send(&self, query: &str, variables: Value) -> Value {
        self.http
            .post(&self.url)
            .header("Authorization", &self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("GraphQL request")
            .json()
            .await
            .expect("GraphQL JSON")
    }

    /// Sends a document that must succeed; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let out = self.send(query, variables).await;
        assert!(out.get("errors").is_none(), "unexpected errors: {out:#}");
        out["data"].clone()
    }

    /// Sends a document that must fail; returns the first error's `errorType`
    /// after checking the error has AppSync's shape.
    pub async fn error_type(&self, query: &str, variables: Value) -> String {
        let out = self.send(query, variables).await;
        let err = &out["errors"][0];
        assert!(err.is_object(), "expected an error: {out:#}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message: {out:#}"
        );
        assert!(err["locations"].is_array(), "locations: {out:#}");
        assert!(err.get("path").is_some(), "path: {out:#}");
        assert!(
            !err["message"].as_str().unwrap().contains("Dynamo"),
            "leaks internals: {out:#}"
        );
        err["errorType"].as_str().expect("an errorType").to_string()
    }
}

/// Creates a conversation owned by `owner` with `members` (ids); returns its id.
pub async fn convo(owner: &Client, name: &str, members: &[&Client]) -> String {
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let out = owner
        .ok(
            "mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id } }",
            json!({ "n": name, "m": ids }),
        )
        .await;
    out["createConvo"]["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

/// Posts `content` as `author`; returns the message id.
pub async fn post(author: &Client, conversation_id: &str, content: &str) -> String {
    let out = author
        .ok(
            "mutation($c: String!, $cid: ID!) { createMessage(input: {content: $c, messageConversationId: $cid}) { id } }",
            json!({ "c": content, "cid": conversation_id }),
        )
        .await;
    out["createMessage"]["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

/// A graphql-transport-ws `subscribe` message.
fn subscribe_message(id: &str, query: &str, variables: Value) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
}

/// A WebSocket client speaking graphql-transport-ws to the stack.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What a WebSocket client saw next.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    Message(Value),
    Closed(u16, String),
    Silence,
}

impl Stack {
    /// Opens a WebSocket; `subprotocol: false` leaves graphql-transport-ws out.
    pub async fn ws_connect(
        &self,
        query_token: Option<&str>,
        subprotocol: bool,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = match query_token {
            Some(t) => format!("{}/?token={t}", self.running.ws_url),
            None => format!("{}/", self.running.ws_url),
        };
        let mut request = url.into_client_request()?;
        if subprotocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "graphql-transport-ws".parse().unwrap(),
            );
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { socket })
    }

    /// A connected, acknowledged client for `user`.
    pub async fn ws(&self, user: &Client) -> WsClient {
        let mut ws = self
            .ws_connect(None, true)
            .await
            .expect("WebSocket connects");
        ws.send(json!({ "type": "connection_init", "payload": { "authorization": user.token } }))
            .await;
        assert_eq!(
            ws.next().await,
            WsEvent::Message(json!({ "type": "connection_ack" }))
        );
        ws
    }
}

impl WsClient {
    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .expect("WebSocket send");
    }

    /// The next message or close, waiting up to 5 s.
    pub async fn next(&mut self) -> WsEvent {
        self.next_within(std::time::Duration::from_secs(5)).await
    }

    pub async fn next_within(&mut self, wait: std::time::Duration) -> WsEvent {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return WsEvent::Silence,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let message: Value = serde_json::from_str(&text).expect("server sends JSON");
                    // The sweeper's liveness ping: answered as every
                    // graphql-ws client does, and not shown to the test.
                    if message == json!({ "type": "ping" }) {
                        self.send_if_open(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return WsEvent::Message(message);
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame
                        .map(|f| WsEvent::Closed(f.code.into(), f.reason.to_string()))
                        .unwrap_or(WsEvent::Closed(1005, String::new()))
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return WsEvent::Closed(1006, e.to_string()),
                Ok(None) => return WsEvent::Closed(1006, "stream ended".into()),
            }
        }
    }

    /// The next event that `skip` does not match (for streams that may
    /// legitimately carry an event a test does not care about).
    pub async fn next_skipping(&mut self, skip: impl Fn(&Value) -> bool) -> WsEvent {
        loop {
            match self.next().await {
                WsEvent::Message(m) if skip(&m) => continue,
                other => return other,
            }
        }
    }

    /// Subscribes with `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(subscribe_message(id, query, variables)).await;
    }

    /// Subscribes with `id`, if the socket is still open: a server that
    /// closed it first has said why in its close frame.
    pub async fn try_subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send_if_open(subscribe_message(id, query, variables))
            .await;
    }

    /// Sends `message` unless the socket has closed; a close shows in what
    /// comes next.
    async fn send_if_open(&mut self, message: Value) {
        use futures::SinkExt;
        let text = message.to_string();
        let _ = self
            .socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await;
    }

    /// Waits until the server has handled everything sent so far (a ping
    /// round trip: routes are handled in order per connection).
    pub async fn sync(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        assert_eq!(
            self.next().await,
            WsEvent::Message(json!({ "type": "pong" }))
        );
    }

    /// Closes from the client side with a normal closure.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Closes from the client side with `code`; returns what the server
    /// answered (its close frame, or 1006 if it only dropped the socket).
    pub async fn close_with(mut self, code: u16) -> WsEvent {
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        let frame = CloseFrame {
            code: code.into(),
            reason: "bye".into(),
        };
        let _ = self.socket.close(Some(frame)).await;
        self.next().await
    }
}

/// The headers SigV4 adds to a `POST` of `body` to `url`, for `service` in
/// `us-east-1`, signed with `key` at `time` over `headers` (which the request
/// must carry as well): what an SDK sends, for tests that then change or
/// replay the request.
pub fn sigv4_headers(
    url: &str,
    service: &str,
    key: aws_credential_types::Credentials,
    time: std::time::SystemTime,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let identity: aws_smithy_runtime_api::client::identity::Identity = key.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(time)
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let signable = aws_sigv4::http_request::SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        aws_sigv4::http_request::SignableBody::Bytes(body),
    )
    .expect("a signable request");
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .expect("a signature")
        .into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}
