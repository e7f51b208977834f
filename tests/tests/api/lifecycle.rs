//! The stack across restarts, outages and stops, on both engines: stream
//! mappings resume from their checkpoints and outlast a database outage, a
//! stop delivers what was accepted and closes every connection properly, and
//! what a killed gateway left behind is cleaned at the next start.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_gateway::dynamo::WriteSignal;
use chat_gateway::failures::FailureLog;
use chat_gateway::resolvers::{Function, Invocations};
use chat_gateway::streams::Mapping;
use chat_gateway::{Backend, RealtimeConfig};
use chat_realtime::model::{ConnectedUser, ConnectionState, Subscription};
use chat_realtime::Connections;
use chat_store::{RequestCounter, TableNames};
use chat_tests::proxy::Proxy;
use chat_tests::{convo, temp_dir, Stack, WsClient, WsEvent};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::realtime::watch_room;

const ON_CREATE_USER: &str = "subscription OnCreateUser { onCreateUser { id username } }";

fn fresh_prefix() -> String {
    format!("t{}-", ulid::Ulid::new())
}

/// The id in a `next` message for subscription `id`.
fn next_id(event: WsEvent, id: &str) -> String {
    match event {
        WsEvent::Message(m) if m["type"] == "next" && m["id"] == id => {
            let data = &m["payload"]["data"];
            let row = data.as_object().and_then(|o| o.values().next()).unwrap();
            row["id"].as_str().unwrap().to_string()
        }
        other => panic!("expected next for {id}, got {other:?}"),
    }
}

/// Reads `ws` until it closes; returns the message ids it got and the close.
async fn read_until_closed(mut ws: WsClient, wait: Duration) -> (Vec<String>, WsEvent) {
    let mut ids = Vec::new();
    loop {
        match ws.next_within(wait).await {
            WsEvent::Message(m) if m["type"] == "next" => ids.push(
                m["payload"]["data"]["onCreateMessage"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
            WsEvent::Message(other) => panic!("unexpected {other}"),
            closed => return (ids, closed),
        }
    }
}

#[tokio::test]
async fn after_a_restart_new_rows_are_pushed_and_old_ones_never_again() {
    let dir = temp_dir("restart");
    let prefix = fresh_prefix();
    let stack = Stack::start_with(Some(dir.clone()), Some(prefix.clone())).await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let mut ws = stack.ws(&bob).await;
    watch_room(&mut ws, "room", &room).await;
    let first = chat_tests::post(&alice, &room, "before the restart").await;
    assert_eq!(next_id(ws.next().await, "room"), first);
    stack.running.shutdown().await;
    assert!(matches!(ws.next().await, WsEvent::Closed(1001, _)));

    // Every table's stream now holds records from before the restart.
    let stack = Stack::start_with(Some(dir.clone()), Some(prefix)).await;
    assert_eq!(stack.running.stale_connections, 0);
    let alice = stack.client("alice").await;
    let bob = stack.client("bob").await;
    let mut ws = stack.ws(&bob).await;
    ws.subscribe("users", ON_CREATE_USER, json!({})).await;
    watch_room(&mut ws, "room", &room).await;
    let started = Instant::now();
    let carol = stack.user("carol").await;
    assert_eq!(next_id(ws.next().await, "users"), carol.id);
    eprintln!(
        "first push after the restart: {:?} after the write",
        started.elapsed()
    );
    let second = chat_tests::post(&alice, &room, "after the restart").await;
    assert_eq!(next_id(ws.next().await, "room"), second);
    // Nothing from before the restart comes again.
    assert_eq!(
        ws.next_within(Duration::from_millis(1500)).await,
        WsEvent::Silence
    );
    stack.running.shutdown().await;
}

/// A database for a mapping test: the embedded engine on a file in `dir`
/// (which can be stopped and reopened), or the suite's external endpoint.
struct Engine {
    endpoint: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Engine {
    async fn start(dir: &std::path::Path) -> Engine {
        let backend = chat_tests::backend(Some(&dir.to_path_buf()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (endpoint, task) = chat_gateway::dynamo::start(
            &backend,
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            async move {
                let _ = rx.await;
            },
        )
        .await
        .expect("the engine starts");
        Engine {
            endpoint,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A stand-in fan-out that records the user ids it is given, and fails
/// every invocation while `failing` is set.
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    function: Arc<Function>,
}

impl Recorder {
    fn new() -> Recorder {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let failing: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let function = Function::local("fan-out", &Invocations::default(), {
            let (seen, failing) = (seen.clone(), failing.clone());
            move |event: Value| {
                let (seen, failing) = (seen.clone(), failing.clone());
                Box::pin(async move {
                    if failing.load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(lambda_runtime::Diagnostic {
                            error_type: "ConnectionStoreError".into(),
                            error_message: "the database is down".into(),
                        });
                    }
                    for record in event["Records"].as_array().into_iter().flatten() {
                        let id = record["dynamodb"]["Keys"]["id"]["S"].as_str().unwrap();
                        seen.lock().unwrap().push(id.to_string());
                    }
                    Ok(json!({ "batchItemFailures": [] }))
                })
            }
        });
        Recorder {
            seen,
            failing,
            function: Arc::new(function),
        }
    }

    fn fail(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, expected: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.seen().len() < expected.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(self.seen(), expected);
    }
}

/// What the mapping tests share: a data dir, a table prefix, the stand-in
/// fan-out and the on-failure destination.
struct Setup {
    dir: chat_tests::TempDir,
    prefix: String,
    recorder: Recorder,
    failures: Arc<FailureLog>,
}

impl Setup {
    fn new(label: &str) -> Setup {
        let dir = temp_dir(label);
        let failures = Arc::new(FailureLog::new(Some(&dir)));
        Setup {
            dir,
            prefix: fresh_prefix(),
            recorder: Recorder::new(),
            failures,
        }
    }
}

/// One Users-table mapping against `endpoint`, and a client that writes there.
struct MappingRig {
    users: aws_sdk_dynamodb::Client,
    table: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl MappingRig {
    async fn start(setup: &Setup, endpoint: &str, max_record_age: Duration) -> MappingRig {
        let Setup {
            dir,
            prefix,
            recorder,
            failures,
        } = setup;
        let writes = WriteSignal::default();
        let client =
            chat_gateway::dynamo::client(endpoint, RequestCounter::default(), writes.clone()).await;
        let tables = TableNames::with_prefix(prefix);
        chat_store::tables::create_tables(&client, &tables)
            .await
            .unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let mapping = Mapping {
            table: tables.users.clone(),
            streams: chat_gateway::dynamo::streams_client(endpoint).await,
            dynamodb: client.clone(),
            function: recorder.function.clone(),
            poll_interval: Duration::from_millis(20),
            max_record_age,
            max_retry_attempts: None,
            checkpoints: Some(dir.join("streams")),
            failures: failures.clone(),
            filter: chat_gateway::wiring::wiring()
                .unwrap()
                .mappings
                .iter()
                .find(|m| m.function == "fan-out" && m.table == "Users")
                .unwrap()
                .filter
                .clone(),
            writes,
        };
        let task = tokio::spawn(mapping.run(stop_rx));
        // Wait until the mapping has taken its position (its checkpoint is written).
        let checkpoint = dir.join("streams").join(format!("{}.json", tables.users));
        for _ in 0..200 {
            if checkpoint.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(checkpoint.exists(), "the mapping saves its position");
        MappingRig {
            users: client,
            table: tables.users,
            stop,
            task,
        }
    }

    async fn put(&self, ids: &[&str]) {
        put_users(&self.users, &self.table, ids).await;
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
    }
}

async fn put_users(client: &aws_sdk_dynamodb::Client, table: &str, ids: &[&str]) {
    for id in ids {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(
                serde_dynamo::to_item(json!({ "id": id, "username": id })).unwrap(),
            ))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_mapping_resumes_after_its_checkpoint_across_restarts() {
    let setup = Setup::new("checkpoint");
    let Setup {
        dir,
        prefix,
        recorder,
        failures,
    } = &setup;
    let engine = Engine::start(dir).await;
    let age = Duration::from_secs(3600);

    // Rows from before the mapping existed are not delivered (LATEST).
    let client = chat_gateway::dynamo::client(
        &engine.endpoint,
        RequestCounter::default(),
        WriteSignal::default(),
    )
    .await;
    let tables = TableNames::with_prefix(prefix);
    chat_store::tables::create_tables(&client, &tables)
        .await
        .unwrap();
    put_users(&client, &tables.users, &["u0", "u1"]).await;
    let rig = MappingRig::start(&setup, &engine.endpoint, age).await;
    rig.put(&["u2", "u3", "u4"]).await;
    recorder.wait_for(&["u2", "u3", "u4"]).await;
    rig.stop().await;

    // Written while no mapping runs, then the engine itself restarts: the
    // embedded engine now reports its shard with an EndingSequenceNumber.
    put_users(&client, &tables.users, &["u5", "u6"]).await;
    engine.stop().await;
    let engine = Engine::start(dir).await;

    let rig = MappingRig::start(&setup, &engine.endpoint, age).await;
    recorder.wait_for(&["u2", "u3", "u4", "u5", "u6"]).await;
    rig.put(&["u7"]).await;
    recorder
        .wait_for(&["u2", "u3", "u4", "u5", "u6", "u7"])
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.seen().len(), 6, "nothing is delivered twice");
    rig.stop().await;
    engine.stop().await;
    assert!(failures.list().unwrap().is_empty());
}

#[tokio::test]
async fn a_mapping_killed_after_rows_its_filter_drops_drops_them_again_and_sends_nothing_twice() {
    let setup = Setup::new("filtered");
    let Setup {
        dir,
        recorder,
        failures,
        ..
    } = &setup;
    let engine = Engine::start(dir).await;
    let age = Duration::from_secs(3600);
    let rig = MappingRig::start(&setup, &engine.endpoint, age).await;
    rig.put(&["u1"]).await;
    recorder.wait_for(&["u1"]).await;
    // Rows the API writes carry `pushUntil`, which the fan-out's filter
    // drops: read, passed over without an invocation, their position not
    // saved yet.
    for id in ["m1", "m2", "m3"] {
        rig.users
            .put_item()
            .table_name(&rig.table)
            .set_item(Some(
                serde_dynamo::to_item(json!({ "id": id, "username": id, "pushUntil": 1 })).unwrap(),
            ))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Killed, not stopped: it saves nothing on the way out.
    rig.task.abort();
    let _ = rig.task.await;

    let rig = MappingRig::start(&setup, &engine.endpoint, age).await;
    rig.put(&["u2"]).await;
    recorder.wait_for(&["u1", "u2"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        recorder.seen(),
        ["u1", "u2"],
        "the dropped rows are dropped again, and nothing is delivered twice"
    );
    rig.stop().await;
    engine.stop().await;
    assert!(failures.list().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_batch_is_retried_past_the_old_window_then_sent_to_the_destination() {
    let setup = Setup::new("retries");
    let Setup {
        dir,
        recorder,
        failures,
        ..
    } = &setup;
    let engine = Engine::start(dir).await;

    // An outage longer than the old five quick retries (about 3 s): the
    // batch waits, in order, and is delivered once when it ends.
    let rig = MappingRig::start(&setup, &engine.endpoint, Duration::from_secs(3600)).await;
    recorder.fail(true);
    rig.put(&["a", "b", "c"]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(recorder.seen().is_empty());
    recorder.fail(false);
    recorder.wait_for(&["a", "b", "c"]).await;
    rig.stop().await;

    // Past the maximum record age the batch goes to the on-failure
    // destination, a file a developer can replay.
    let rig = MappingRig::start(&setup, &engine.endpoint, Duration::from_secs(2)).await;
    recorder.fail(true);
    rig.put(&["d"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while failures.list().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = failures.list().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].records, 1);
    assert!(dir
        .join("failed-records")
        .join(format!("{}.json", kept[0].id))
        .exists());
    // The shard moved on: a later row is delivered once the fan-out works.
    recorder.fail(false);
    rig.put(&["e"]).await;
    recorder.wait_for(&["a", "b", "c", "e"]).await;
    let functions = [("fan-out".to_string(), recorder.function.clone())].into();
    let report = failures.replay(&functions).await.unwrap();
    assert_eq!((report.replayed, report.remaining), (1, 0));
    assert_eq!(recorder.seen(), ["a", "b", "c", "e", "d"]);
    assert!(failures.list().unwrap().is_empty());
    rig.stop().await;
    engine.stop().await;
}

/// How long the outage test cuts the database off:
/// `CHAT_TEST_OUTAGE_SECS`, default 8 (longer than the old retry window).
fn outage() -> Duration {
    Duration::from_secs(
        std::env::var("CHAT_TEST_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8),
    )
}

#[tokio::test]
async fn a_database_outage_loses_no_delivery() {
    // The database behind a proxy that the test takes down, while four
    // writers keep posting.
    let dir = temp_dir("outage");
    let engine = Engine::start(&dir).await;
    let target = engine
        .endpoint
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let stack = Stack::start_on(
        Backend::External {
            endpoint: proxy.url(),
        },
        Some(dir.clone()),
        None,
        RealtimeConfig::default(),
    )
    .await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    // An offline member with a phone: the notifier waits the outage out.
    let dora = stack.user("dora").await;
    let phone = "d0".repeat(32);
    dora.ok(
        "mutation($t: String!) { registerDevice(input: {platform: APNS, token: $t, appId: \"com.example.chat\"}) { id } }",
        json!({ "t": phone }),
    )
    .await;
    let room = convo(&alice, "room", &[&bob, &dora]).await;
    let mut ws = stack.ws(&bob).await;
    watch_room(&mut ws, "room", &room).await;

    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let outage = outage();
    let until = Instant::now() + outage + Duration::from_secs(4);
    let mut writers = Vec::new();
    for w in 0..4 {
        let (alice, room, accepted) = (alice.clone(), room.clone(), accepted.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                let out = alice
                    .send(
                        "mutation($c: String!, $cid: ID!) { createMessage(input: {content: $c, messageConversationId: $cid}) { id } }",
                        json!({ "c": format!("w{w} #{n}"), "cid": room }),
                    )
                    .await;
                match out["data"]["createMessage"]["id"].as_str() {
                    Some(id) => accepted.lock().unwrap().push(id.to_string()),
                    None => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_outage = accepted.lock().unwrap().len();
    proxy.down();
    tokio::time::sleep(outage).await;
    proxy.up();
    let back = Instant::now();
    for writer in writers {
        writer.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(before_outage > 0 && accepted.len() > before_outage);

    let mut received: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !accepted.iter().all(|id| received.contains(id)) {
        match ws.next_within(Duration::from_secs(5)).await {
            WsEvent::Message(m) if m["type"] == "next" => received.push(
                m["payload"]["data"]["onCreateMessage"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
            WsEvent::Silence => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let recovered = back.elapsed();
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|id| !received.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} accepted never delivered",
        missing.len(),
        accepted.len()
    );
    let mut unique = received.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        received.len(),
        "a message was delivered twice"
    );
    eprintln!(
        "outage {outage:?}: {} accepted ({before_outage} before it), {} delivered, {} lost, {} twice; all delivered {recovered:?} after the database came back",
        accepted.len(),
        received.len(),
        missing.len(),
        received.len() - unique.len()
    );
    assert!(stack.running.failures.list().unwrap().is_empty());
    // Dora's phone heard of the conversation, at most once per 10 s.
    let pushed: Value = stack
        .http
        .get(format!("{}/local/push", stack.running.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let to_phone: Vec<&Value> = pushed["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["token"] == phone.as_str())
        .collect();
    assert!(!to_phone.is_empty() && to_phone.len() <= 3, "{to_phone:#?}");
    assert!(to_phone.iter().all(|r| r["status"] == 200
        && accepted.contains(&r["payload"]["messageId"].as_str().unwrap().to_string())));
    stack.running.shutdown().await;
    engine.stop().await;
}

#[tokio::test]
async fn a_stop_delivers_what_was_accepted_then_closes_every_connection_with_1001() {
    let dir = temp_dir("stop");
    let prefix = fresh_prefix();
    let stack = Stack::start_with(Some(dir.clone()), Some(prefix.clone())).await;
    let alice = stack.user("alice").await;
    let mut members = Vec::new();
    for i in 0..9 {
        members.push(stack.user(&format!("member{i}")).await);
    }
    let refs: Vec<&chat_tests::Client> = members.iter().collect();
    let room = convo(&alice, "room", &refs).await;
    members.push(alice.clone());
    // 100 open clients: ten connections for each of the ten members.
    let mut readers = Vec::new();
    for member in &members {
        for _ in 0..10 {
            let mut ws = stack.ws(member).await;
            watch_room(&mut ws, "room", &room).await;
            readers.push(tokio::spawn(read_until_closed(ws, Duration::from_secs(60))));
        }
    }
    let mut posted = Vec::new();
    for i in 0..20 {
        posted.push(chat_tests::post(&alice, &room, &format!("last words {i}")).await);
    }
    let started = Instant::now();
    stack.running.shutdown().await;
    let stopping = started.elapsed();
    for reader in readers {
        let (ids, closed) = reader.await.unwrap();
        assert_eq!(ids, posted, "every accepted message, once, in order");
        assert!(matches!(closed, WsEvent::Closed(1001, _)), "{closed:?}");
    }
    eprintln!("stopped with 100 open clients in {stopping:?}");
    // A functional bound, not a benchmark: the stop is bounded by its stages.
    assert!(
        stopping < Duration::from_secs(15),
        "stopping took {stopping:?}"
    );

    // Every `$disconnect` ran: the next start finds no rows to clean.
    let stack = Stack::start_with(Some(dir.clone()), Some(prefix)).await;
    assert_eq!(stack.running.stale_connections, 0);
    assert!(stack
        .running
        .connections
        .all_connection_ids()
        .await
        .unwrap()
        .is_empty());
    stack.running.shutdown().await;
}

#[tokio::test]
async fn rows_a_killed_gateway_left_are_cleaned_at_the_next_start() {
    let dir = temp_dir("crash");
    let prefix = fresh_prefix();
    let stack = Stack::start_with(Some(dir.clone()), Some(prefix.clone())).await;
    // What a gateway killed with SIGKILL leaves: rows of connections that no
    // longer exist, whose `$disconnect` never ran.
    let user = ConnectedUser {
        id: "ghost".into(),
        username: "ghost".into(),
        token_expires_at: i64::MAX / 2,
    };
    for i in 0..3 {
        let connection_id = format!("ghost{i}");
        let connections = &stack.running.connections;
        connected(connections, &connection_id, &user.id).await;
        connections
            .put_subscription(&Subscription {
                connection_id,
                id: "s".into(),
                topic: "user".into(),
                query: ON_CREATE_USER.into(),
                operation_name: None,
                variables: Default::default(),
                user_id: user.id.clone(),
                token_expires_at: Some(user.token_expires_at),
            })
            .await
            .unwrap();
    }
    stack.running.shutdown().await;

    let stack = Stack::start_with(Some(dir.clone()), Some(prefix)).await;
    assert_eq!(stack.running.stale_connections, 3);
    assert!(stack
        .running
        .connections
        .all_connection_ids()
        .await
        .unwrap()
        .is_empty());
    assert!(stack
        .running
        .connections
        .subscribers("user")
        .await
        .unwrap()
        .is_empty());
    stack.running.shutdown().await;
}

#[tokio::test]
async fn a_client_close_gets_its_close_reply_and_its_rows_go() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut ws = stack.ws(&alice).await;
    ws.subscribe("users", ON_CREATE_USER, json!({})).await;
    ws.sync().await;
    assert_eq!(
        stack
            .running
            .connections
            .subscribers("user")
            .await
            .unwrap()
            .len(),
        1
    );
    let reply = ws.close_with(1000).await;
    assert!(matches!(reply, WsEvent::Closed(1000, _)), "{reply:?}");
    let mut rows = usize::MAX;
    for _ in 0..100 {
        rows = stack
            .running
            .connections
            .all_connection_ids()
            .await
            .unwrap()
            .len();
        if rows == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows, 0, "$disconnect removed the connection's rows");
}

/// Stores connection `id` as `user`'s, initialised, straight through `store`.
async fn connected(store: &chat_realtime::DynamoConnections, id: &str, user: &str) {
    store
        .put_connection(&ConnectionState {
            connection_id: id.into(),
            connected_at: chat_realtime::clock::now_ms(),
            user: None,
            query_user: None,
            query_token_rejected: false,
            seen_at: 0,
        })
        .await
        .unwrap();
    let user = ConnectedUser {
        id: user.into(),
        username: user.into(),
        token_expires_at: i64::MAX / 2,
    };
    assert!(store.acknowledge(id, &user).await.unwrap());
}

/// Tables made by an earlier version are brought up to date at start: an
/// index the Connections table lacks is added (and backfilled), so data kept
/// under `.local/` keeps working after an upgrade.
///
/// That data is the embedded engine's, so this runs there. DynamoDB Local
/// adds an index quickly when it is fresh, but after a full test run's
/// hundreds of tables it took more than ten minutes, which says nothing
/// about this code.
#[tokio::test]
async fn a_start_adds_the_indexes_an_older_table_lacks() {
    if matches!(chat_tests::backend(None), Backend::External { .. }) {
        return;
    }
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let stack = Stack::start().await;
    let client = chat_gateway::dynamo::client(
        &stack.running.dynamodb_endpoint,
        RequestCounter::default(),
        WriteSignal::default(),
    )
    .await;
    // The Connections table as it was before `byUser`, with a row in it.
    let tables = TableNames::with_prefix(&fresh_prefix());
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let index = |name: &str, hash: &str, range: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key(range, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&tables.connections)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("connectionId", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .set_attribute_definitions(Some(
            ["connectionId", "sk", "topic", "pendingPk", "pendingSince"]
                .map(attr)
                .to_vec(),
        ))
        .global_secondary_indexes(index("byTopic", "topic", "connectionId"))
        .global_secondary_indexes(index("pending", "pendingPk", "pendingSince"))
        .send()
        .await
        .unwrap();
    let old = chat_realtime::DynamoConnections::new(client.clone(), tables.connections.clone());
    connected(&old, "before-the-upgrade", "u1").await;

    chat_store::tables::create_tables(&client, &tables)
        .await
        .unwrap();
    let out = client
        .describe_table()
        .table_name(&tables.connections)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = out
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|ix| ix.index_name().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["byTopic", "byUser", "pending"]);
    // Backfilled: the row written before the index is counted by it.
    let mut counted = 0;
    for _ in 0..100 {
        counted = old.user_connections("u1").await.unwrap();
        if counted == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted, 1);
}

/// The embedded engine serves on threads of its own. A gateway whose runtime
/// goes away without a shutdown (a test that ends early, an embedder that
/// drops it) must take its engine with it: the engine's port closes.
#[test]
fn a_gateway_dropped_without_a_shutdown_stops_its_engine() {
    if std::env::var(chat_tests::ENDPOINT_ENV).is_ok() {
        // An external engine is not the gateway's to stop.
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = runtime.block_on(async {
        let stack = Stack::start().await;
        let endpoint = stack.running.dynamodb_endpoint.clone();
        // Never shut down, never dropped: only the runtime's end stops it.
        std::mem::forget(stack);
        endpoint
    });
    let addr = endpoint.trim_start_matches("http://").to_string();
    assert!(
        std::net::TcpStream::connect(&addr).is_ok(),
        "the engine serves while its gateway runs"
    );
    drop(runtime);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the engine still listens on {addr} after its gateway was dropped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A push reads its subscribers without their documents, and takes each
/// document from those its environment has read before (a document's key is
/// its hash). Every read gives each subscription its own document, id, user
/// and token expiry, whether the documents are new to the reader, all
/// known, or some of each; an id a subscription moved to shows at once.
/// A read is one Query, two when a topic the reader knows has a document
/// new to it.
#[tokio::test]
async fn subscribers_carry_their_own_documents_read_once() {
    let stack = Stack::start().await;
    let counter = RequestCounter::default();
    let client = chat_gateway::dynamo::client(
        &stack.running.dynamodb_endpoint,
        counter.clone(),
        WriteSignal::default(),
    )
    .await;
    // Reads `topic`'s subscribers with `store`: them, sorted, and how many
    // requests that took.
    let read = |store: chat_realtime::DynamoConnections, topic: String| {
        let counter = counter.clone();
        async move {
            let before = counter.total();
            let mut subs = store.subscribers(&topic).await.unwrap();
            subs.sort_by(|a, b| (&a.connection_id, &a.id).cmp(&(&b.connection_id, &b.id)));
            (subs, counter.total() - before)
        }
    };
    let store = || {
        chat_realtime::DynamoConnections::new(
            client.clone(),
            stack.running.tables.connections.clone(),
        )
    };
    let writer = store();
    let topic = format!("message:{}", ulid::Ulid::new());
    let subscription =
        |connection: &str, id: &str, query: &str, user: &str, exp: i64| Subscription {
            connection_id: connection.into(),
            id: id.into(),
            topic: topic.clone(),
            query: query.into(),
            operation_name: None,
            variables: serde_json::Map::from_iter([("conversationId".into(), json!(topic))]),
            user_id: user.into(),
            token_expires_at: Some(exp),
        };
    for (connection, user) in [("c1", "u1"), ("c2", "u2"), ("c3", "u3")] {
        connected(&writer, connection, user).await;
    }
    let first = "subscription { onCreateMessage(conversationId: $conversationId) { id } }";
    let second = "subscription { onCreateMessage(conversationId: $conversationId) { id content } }";
    let reader = store();

    let mut expected = vec![subscription("c1", "a", first, "u1", 100)];
    writer.put_subscription(&expected[0]).await.unwrap();
    // A topic new to the reader: read whole, in one Query.
    assert_eq!(
        read(reader.clone(), topic.clone()).await,
        (expected.clone(), 1)
    );
    // Known: read without documents, in one Query.
    assert_eq!(
        read(reader.clone(), topic.clone()).await,
        (expected.clone(), 1)
    );

    // The same document on another socket, and a new one on a third.
    expected.push(subscription("c2", "b", first, "u2", 200));
    expected.push(subscription("c3", "c", second, "u3", 300));
    for s in &expected[1..] {
        writer.put_subscription(s).await.unwrap();
    }
    // A document new to the reader: the Query again, whole; then one.
    assert_eq!(
        read(reader.clone(), topic.clone()).await,
        (expected.clone(), 2)
    );
    assert_eq!(
        read(reader.clone(), topic.clone()).await,
        (expected.clone(), 1)
    );
    // A reader that has seen none of them agrees.
    assert_eq!(read(store(), topic.clone()).await, (expected.clone(), 1));

    // The same document subscribed again under a new id: the row answers
    // to it, and a reader that knows the document sees the new id.
    let renamed = subscription("c1", "a2", first, "u1", 100);
    assert_eq!(
        writer.put_subscription(&renamed).await.unwrap(),
        chat_realtime::connections::Stored::Replaced { old_id: "a".into() }
    );
    expected[0] = renamed;
    assert_eq!(
        read(reader.clone(), topic.clone()).await,
        (expected.clone(), 1)
    );

    // Gone from the topic once removed.
    writer.delete_subscription("c2", "b").await.unwrap();
    expected.remove(1);
    assert_eq!(
        read(reader.clone(), topic.clone()).await,
        (expected.clone(), 1)
    );
}
