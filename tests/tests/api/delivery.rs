//! Delivery from the write path: the function that writes a row pushes it
//! before it returns, a retry never pushes twice, a writer that fails or dies
//! between its write and its posts, or finds nobody subscribed, leaves the
//! push to the client's retry,
//! the stream pushes only rows written outside the API, and subscribers can
//! place every message in the history's order.

use std::future::Future;
use std::time::Duration;

use chat_domain::graph::MessageSel;
use chat_domain::lease::PUSH_LEASE_MS;
use chat_domain::messages::NewMessage;
use chat_domain::ports::{Change, Publisher, Pushed};
use chat_domain::{Caller, ChatService, PageTokens};
use chat_realtime::notifier::{ApiGatewayNotifier, Notifier, NotifyError, POST_ATTEMPTS};
use chat_store::items::{MessageItem, MessageKey};
use chat_store::{DynamoStore, RequestCounter};
use chat_tests::{convo, post, Client, Stack, WsClient, WsEvent};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CREATE_WITH_ID: &str = "mutation($id: ID!, $c: ID!, $t: String!) { createMessage(input: {id: $id, content: $t, messageConversationId: $c}) { id seq } }";
const ON_CREATE_MESSAGE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id seq authorId } }";
const HISTORY: &str =
    "query($c: ID!) { getConvo(id: $c) { messages(limit: 100) { items { id seq } } } }";

/// The ids of the `next` messages `ws` receives for subscription `sub`
/// until it has been silent for `quiet`.
async fn received(ws: &mut WsClient, sub: &str, quiet: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        match ws.next_within(quiet).await {
            WsEvent::Message(m) if m["type"] == "next" && m["id"] == sub => {
                got.push(m["payload"]["data"]["onCreateMessage"].clone())
            }
            WsEvent::Silence => return got,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn ids(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["id"].as_str().unwrap()).collect()
}

async fn history(client: &Client, room: &str) -> Vec<String> {
    let out = client.ok(HISTORY, json!({ "c": room })).await;
    out["getConvo"]["messages"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Alice and Bob in one room, both subscribed to it.
async fn room_with_subscribers(stack: &Stack) -> (Client, Client, String, WsClient, WsClient) {
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let (alice_ws, bob_ws) = subscribed(stack, &alice, &bob, &room).await;
    (alice, bob, room, alice_ws, bob_ws)
}

/// Alice's and Bob's sockets, each subscribed to the room's new messages.
async fn subscribed(
    stack: &Stack,
    alice: &Client,
    bob: &Client,
    room: &str,
) -> (WsClient, WsClient) {
    let mut alice_ws = stack.ws(alice).await;
    let mut bob_ws = stack.ws(bob).await;
    for ws in [&mut alice_ws, &mut bob_ws] {
        ws.subscribe("room", ON_CREATE_MESSAGE, json!({ "c": room }))
            .await;
        ws.sync().await;
    }
    (alice_ws, bob_ws)
}

/// Long enough for the stream to have pushed anything it was going to.
fn stream_window() -> Duration {
    Duration::from_millis(1_500)
}

#[tokio::test]
async fn a_retry_of_the_same_id_is_pushed_once() {
    let stack = Stack::start().await;
    let (alice, _bob, room, mut alice_ws, mut bob_ws) = room_with_subscribers(&stack).await;
    let vars = json!({ "id": "client-1", "c": room, "t": "hello" });
    let first = alice.ok(CREATE_WITH_ID, vars.clone()).await;
    // The answer comes after the push: it is already on its way.
    for _ in 0..3 {
        let again = alice.ok(CREATE_WITH_ID, vars.clone()).await;
        assert_eq!(again, first, "a retry returns the stored message");
    }
    for ws in [&mut alice_ws, &mut bob_ws] {
        let got = received(ws, "room", stream_window()).await;
        assert_eq!(
            ids(&got),
            ["client-1"],
            "once, and never again from the stream"
        );
    }
}

/// A publisher standing in for a writer that fails or dies after its write.
struct Broken<F>(fn() -> F);

impl<F> Publisher for Broken<F>
where
    F: Future<Output = chat_domain::error::Result<Pushed>> + Send,
{
    fn publish(
        &self,
        _change: Change<'_>,
    ) -> impl Future<Output = chat_domain::error::Result<Pushed>> + Send {
        (self.0)()
    }

    async fn revoke(
        &self,
        _conversation_id: &str,
        _user_id: &str,
    ) -> chat_domain::error::Result<usize> {
        Ok(0)
    }

    async fn disconnect(&self, _user_id: &str) -> chat_domain::error::Result<usize> {
        Ok(0)
    }
}

async fn lookup_fails() -> chat_domain::error::Result<Pushed> {
    Err(chat_domain::Error::push(std::io::Error::other(
        "subscribers unreadable",
    )))
}

async fn never_returns() -> chat_domain::error::Result<Pushed> {
    std::future::pending().await
}

/// The writer `createMessage` runs, over the stack's tables, with `publisher`.
async fn writer<P: Publisher>(stack: &Stack, publisher: P) -> ChatService<DynamoStore, P> {
    ChatService::new(
        stack.store().await,
        PageTokens::new(b"a page token secret for this writer only"),
    )
    .with_publisher(publisher)
}

fn message(id: &str, room: &str) -> NewMessage {
    NewMessage {
        id: Some(id.into()),
        content: "survives its writer".into(),
        conversation_id: room.into(),
        author_id: None,
        attachments: Vec::new(),
    }
}

/// Alice retries `m-1` twice; each subscriber gets it exactly once.
async fn retried_twice_pushed_once(alice: &Client, room: &str, sockets: [&mut WsClient; 2]) {
    let vars = json!({ "id": "m-1", "c": room, "t": "survives its writer" });
    alice.ok(CREATE_WITH_ID, vars.clone()).await;
    alice.ok(CREATE_WITH_ID, vars).await;
    for ws in sockets {
        assert_eq!(ids(&received(ws, "room", stream_window()).await), ["m-1"]);
    }
}

fn caller(client: &Client) -> Caller {
    Caller {
        id: client.id.clone(),
        username: client.username.clone(),
        groups: Vec::new(),
    }
}

#[tokio::test]
async fn a_writer_that_fails_before_posting_leaves_the_push_to_the_retry() {
    let stack = Stack::start().await;
    let (alice, bob, room, mut alice_ws, mut bob_ws) = room_with_subscribers(&stack).await;
    let failing = writer(&stack, Broken(lookup_fails)).await;
    let err = failing
        .create_message(
            &caller(&alice),
            message("m-1", &room),
            &MessageSel::default(),
        )
        .await
        .expect_err("the push failed");
    assert_eq!(err.kind(), chat_domain::ErrorKind::Internal);
    assert!(err.client_message().contains("retry with the same id"));

    // Stored, but nobody got it: not the writer, not the stream.
    assert_eq!(history(&bob, &room).await, ["m-1"]);
    for ws in [&mut alice_ws, &mut bob_ws] {
        assert!(received(ws, "room", stream_window()).await.is_empty());
    }
    // The writer handed its push back, so the client's retry pushes at once,
    // and only once.
    retried_twice_pushed_once(&alice, &room, [&mut alice_ws, &mut bob_ws]).await;
}

#[tokio::test]
async fn a_killed_writer_is_taken_over_once_its_hold_runs_out() {
    let stack = Stack::start().await;
    let (alice, bob, room, mut alice_ws, mut bob_ws) = room_with_subscribers(&stack).await;
    let dying = writer(&stack, Broken(never_returns)).await;
    let author = caller(&alice);
    let room_id = room.clone();
    let task = tokio::spawn(async move {
        dying
            .create_message(&author, message("m-1", &room_id), &MessageSel::default())
            .await
    });
    // Killed after its write, before any post.
    let written = tokio::time::Instant::now();
    while history(&bob, &room).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    for ws in [&mut alice_ws, &mut bob_ws] {
        assert!(received(ws, "room", stream_window()).await.is_empty());
    }

    // A retry while the dead writer's hold lasts cannot tell it from a live
    // one: it answers and pushes nothing, so a live writer is never doubled.
    // Once it has run out, the next retry takes the push over.
    taken_over_after_the_hold(&alice, &room, written, [&mut alice_ws, &mut bob_ws]).await;
}

/// Alice retries `m-1` while the hold that began by `written` lasts: nothing
/// is posted. Then, once it has run out, twice: each socket gets it once.
async fn taken_over_after_the_hold(
    alice: &Client,
    room: &str,
    written: tokio::time::Instant,
    [a, b]: [&mut WsClient; 2],
) {
    let vars = json!({ "id": "m-1", "c": room, "t": "survives its writer" });
    alice.ok(CREATE_WITH_ID, vars).await;
    for ws in [&mut *a, &mut *b] {
        assert!(received(ws, "room", Duration::from_millis(300))
            .await
            .is_empty());
    }
    let hold = Duration::from_millis(PUSH_LEASE_MS as u64);
    tokio::time::sleep_until(written + hold + Duration::from_millis(200)).await;
    retried_twice_pushed_once(alice, room, [a, b]).await;
}

/// The stored row of message `id`, read outside the API.
async fn stored(stack: &Stack, room: &str, id: &str) -> MessageItem {
    let key = serde_dynamo::to_item(MessageKey {
        message_conversation_id: room.into(),
        id: id.into(),
    })
    .unwrap();
    let out = stack
        .dynamodb()
        .await
        .get_item()
        .table_name(&stack.running.tables.messages)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .expect("read the message");
    serde_dynamo::from_item(out.item.expect("stored")).unwrap()
}

#[tokio::test]
async fn a_push_that_reached_nobody_is_left_to_a_late_retry_and_made_once() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let vars = json!({ "id": "m-1", "c": room, "t": "survives its writer" });
    alice.ok(CREATE_WITH_ID, vars).await;
    // Its hold started before the write: it ends before `written` + hold.
    let written = tokio::time::Instant::now();
    // Nobody was subscribed: nothing was posted, and nothing recorded.
    assert!(stored(&stack, &room, "m-1").await.push_until.is_some());

    let (mut alice_ws, mut bob_ws) = subscribed(&stack, &alice, &bob, &room).await;
    // Within the writer's hold a retry cannot tell it from a writer still
    // pushing, so it posts nothing. After it, a retry posts the message to
    // the subscribers it has now, a first copy for each, and records the
    // push: a later retry posts nothing.
    taken_over_after_the_hold(&alice, &room, written, [&mut alice_ws, &mut bob_ws]).await;
    assert_eq!(stored(&stack, &room, "m-1").await.push_until, None);
}

#[tokio::test]
async fn rows_written_outside_the_api_are_pushed_by_the_stream_once() {
    let stack = Stack::start().await;
    let (alice, bob, room, mut alice_ws, mut bob_ws) = room_with_subscribers(&stack).await;
    let api = post(&alice, &room, "through the API").await;
    // An import, a script, the console: no writer to push it.
    let client = stack.dynamodb().await;
    let item = MessageItem {
        message_conversation_id: room.clone(),
        id: "imported".into(),
        seq: chat_domain::clock::next_seq(),
        author_id: bob.id.clone(),
        content: "imported".into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
        edited_at: None,
        deleted_at: None,
        version: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
        removed_by_moderator: false,
        push_until: None,
    };
    client
        .put_item()
        .table_name(&stack.running.tables.messages)
        .set_item(Some(serde_dynamo::to_item(&item).unwrap()))
        .send()
        .await
        .expect("direct write");
    for ws in [&mut alice_ws, &mut bob_ws] {
        let got = received(ws, "room", Duration::from_millis(2_500)).await;
        assert_eq!(ids(&got), [api.as_str(), "imported"]);
    }
    // The mappings' filter (the template's FilterCriteria) kept every row the
    // API wrote from the stream function: it ran for the import alone.
    assert_eq!(fan_outs(&stack), 1);
}

#[tokio::test]
async fn every_subscriber_can_place_every_message_in_the_history_order() {
    let stack = Stack::start().await;
    let (alice, bob, room, mut alice_ws, mut bob_ws) = room_with_subscribers(&stack).await;
    // Two senders at once, each sending one message after another.
    let send = |author: Client, room: String| async move {
        let mut sent = Vec::new();
        for i in 0..15 {
            sent.push(post(&author, &room, &format!("{} {i}", author.username)).await);
        }
        sent
    };
    let (from_alice, from_bob) = tokio::join!(
        send(alice.clone(), room.clone()),
        send(bob.clone(), room.clone())
    );
    let order = history(&alice, &room).await;
    assert_eq!(order.len(), 30);
    for ws in [&mut alice_ws, &mut bob_ws] {
        let got = received(ws, "room", Duration::from_millis(500)).await;
        // Each sender's messages arrive in the order they were sent.
        for (sender, sent) in [(&alice, &from_alice), (&bob, &from_bob)] {
            let theirs: Vec<&str> = got
                .iter()
                .filter(|m| m["authorId"] == sender.id.as_str())
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            assert_eq!(&theirs, sent);
        }
        // Placed by the server's order key, they are the history.
        let mut placed: Vec<(String, String)> = got
            .iter()
            .map(|m| {
                let seq = m["seq"].as_str().expect("the payload carries seq");
                (seq.to_string(), m["id"].as_str().unwrap().to_string())
            })
            .collect();
        placed.sort();
        let placed: Vec<String> = placed.into_iter().map(|(_, id)| id).collect();
        assert_eq!(placed, order);
    }
}

/// A stack whose writers post to `above` subscribers themselves and hand the
/// rest to `function` (the fan-out, or one that does not exist).
async fn relaying_stack(above: usize, function: &str) -> Stack {
    Stack::start_on(
        chat_tests::backend(None),
        None,
        None,
        chat_gateway::RealtimeConfig {
            relay_above: Some(above),
            relay_function: function.into(),
            ..Default::default()
        },
    )
    .await
}

/// Alice and Bob in one room, with four subscribed sockets each.
async fn large_room(stack: &Stack) -> (Client, String, Vec<WsClient>) {
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let mut sockets = Vec::new();
    for user in [&alice, &bob, &alice, &bob, &alice, &bob, &alice, &bob] {
        let mut ws = stack.ws(user).await;
        ws.subscribe("room", ON_CREATE_MESSAGE, json!({ "c": room }))
            .await;
        ws.sync().await;
        sockets.push(ws);
    }
    (alice, room, sockets)
}

fn fan_outs(stack: &Stack) -> u64 {
    stack
        .running
        .realtime_invocations
        .snapshot()
        .get("fan-out")
        .copied()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_large_conversation_is_handed_to_the_fan_out_in_batches_and_posted_once() {
    // 8 subscribers, 3 posted by the writer: 5 handed off in batches of 3.
    let stack = relaying_stack(3, "fan-out").await;
    let (alice, room, mut sockets) = large_room(&stack).await;
    let vars = json!({ "id": "big-1", "c": room, "t": "to everyone" });
    alice.ok(CREATE_WITH_ID, vars.clone()).await;
    // A retry is not handed off again.
    alice.ok(CREATE_WITH_ID, vars).await;
    for ws in &mut sockets {
        assert_eq!(ids(&received(ws, "room", stream_window()).await), ["big-1"]);
    }
    // Two asynchronous invocations of the fan-out, through the Invoke API.
    assert_eq!(fan_outs(&stack), 2);
}

#[tokio::test]
async fn a_hand_off_lambda_refuses_is_posted_by_the_writer() {
    let stack = relaying_stack(3, "no-such-function").await;
    let (alice, room, mut sockets) = large_room(&stack).await;
    let id = post(&alice, &room, "to everyone").await;
    for ws in &mut sockets {
        assert_eq!(
            ids(&received(ws, "room", stream_window()).await),
            [id.as_str()]
        );
    }
    assert_eq!(fan_outs(&stack), 0);
}

#[tokio::test]
async fn the_invoke_api_answers_as_lambda_does() {
    let stack = Stack::start().await;
    let url = |name: &str| {
        format!(
            "{}/2015-03-31/functions/{name}/invocations",
            stack.running.base_url
        )
    };
    let stack_key = aws_credential_types::Credentials::new("local", "local", None, None, "test");
    let call = |name: &str, body: &str, event: bool| {
        let (url, body, key) = (url(name), body.to_string(), stack_key.clone());
        async move { signed_invoke(&url, &body, event, key).await }
    };
    let unsigned = reqwest::Client::new()
        .post(url("fan-out"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    let unknown = call("nope", "{}", false).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["x-amzn-errortype"],
        "ResourceNotFoundException"
    );
    let garbage = call("fan-out", "{", false).await;
    assert_eq!(garbage.status(), 400);
    // An empty relay batch, synchronously: the function's answer comes back.
    let batch = json!({ "relayTopic": "t", "payloads": [], "posts": [] }).to_string();
    let answer: Value = call("fan-out", &batch, false).await.json().await.unwrap();
    assert_eq!(answer["sent"], 0);
    let queued = call("fan-out", &batch, true).await;
    assert_eq!(queued.status(), 202);

    // A function's key invokes what its policy grants: create-message may
    // hand off to the fan-out; the inbox function may not.
    let key_of = |function: &str| {
        stack
            .running
            .iam
            .as_ref()
            .unwrap()
            .credentials_of(function)
            .unwrap()
    };
    let allowed = signed_invoke(&url("fan-out"), &batch, false, key_of("create-message")).await;
    assert_eq!(allowed.status(), 200);
    let refused = signed_invoke(&url("fan-out"), &batch, false, key_of("inbox")).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );
    let said: Value = refused.json().await.unwrap();
    assert!(
        said["message"]
            .as_str()
            .unwrap()
            .contains("lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:fan-out"),
        "{said}"
    );
}

/// A Lambda `Invoke` of `url`, SigV4-signed with `key` as the SDK signs it.
async fn signed_invoke(
    url: &str,
    body: &str,
    event: bool,
    key: aws_credential_types::Credentials,
) -> reqwest::Response {
    let kind = if event { "Event" } else { "RequestResponse" };
    let headers = [("x-amz-invocation-type", kind)];
    let signature = chat_tests::sigv4_headers(
        url,
        "lambda",
        key,
        std::time::SystemTime::now(),
        &headers,
        body.as_bytes(),
    );
    let mut request = reqwest::Client::new().post(url).body(body.to_string());
    for (name, value) in headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .chain(signature)
    {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

/// An HTTP server that answers each request with the next of `answers`
/// (status, `x-amzn-ErrorType`), then 200; returns its URL and a request count.
async fn scripted(
    answers: Vec<(u16, &'static str)>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, error) = answers.get(n).copied().unwrap_or((200, ""));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let body = if error.is_empty() {
                    String::new()
                } else {
                    format!("{{\"message\":\"{error}\"}}")
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nx-amzn-ErrorType: {error}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, count)
}

async fn notifier(url: &str) -> ApiGatewayNotifier {
    ApiGatewayNotifier::for_endpoint(&chat_gateway::dynamo::sdk_config(url).await, url)
        .expect("the notifier's client builds")
}

#[tokio::test]
async fn throttled_and_failed_posts_are_retried_and_gone_is_final() {
    let (url, count) = scripted(vec![
        (429, "LimitExceededException"),
        (500, "InternalServerErrorException"),
        (503, ""),
    ])
    .await;
    notifier(&url)
        .await
        .post("c1", b"{}".to_vec())
        .await
        .expect("delivered on the fourth attempt");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 4);

    let (url, count) = scripted(vec![(500, ""); 10]).await;
    let err = notifier(&url).await.post("c1", b"{}".to_vec()).await;
    assert!(
        matches!(err, Err(NotifyError::Refused { status: 500, .. })),
        "{err:?}"
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        POST_ATTEMPTS as usize
    );

    let (url, count) = scripted(vec![(410, "GoneException")]).await;
    let err = notifier(&url).await.post("c1", b"{}".to_vec()).await;
    assert!(matches!(err, Err(NotifyError::Gone)), "{err:?}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Within a push's window, a retry never starts after the window (the post
/// comes back `Late`, unsent, for a fresh read), and a post that was sent
/// and never answered is given the window's grace, then given up on
/// without being sent again: it may have landed.
#[tokio::test]
async fn within_a_window_no_attempt_starts_late_and_an_unanswered_post_is_not_sent_twice() {
    use chat_realtime::window::{Deadline, POST_GRACE};
    use std::sync::atomic::Ordering;
    // Throttled until the window is over: the first attempt only.
    let (url, count) = scripted(vec![(429, "LimitExceededException"); 10]).await;
    let now = chat_domain::clock::now_ms();
    let err = notifier(&url)
        .await
        .post_before("c1", b"{}".to_vec(), Deadline(now + 5))
        .await;
    assert!(matches!(err, Err(NotifyError::Late)), "{err:?}");
    assert!(
        count.load(Ordering::SeqCst) < POST_ATTEMPTS as usize,
        "no retry after the window"
    );
    // A window already over sends nothing.
    let (url, count) = scripted(vec![]).await;
    let err = notifier(&url)
        .await
        .post_before("c1", b"{}".to_vec(), Deadline(now - 1))
        .await;
    assert!(matches!(err, Err(NotifyError::Late)), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 0);

    // A server that reads the request and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let err = notifier(&url)
        .await
        .post_before(
            "c1",
            b"{}".to_vec(),
            Deadline(chat_domain::clock::now_ms() + 100),
        )
        .await;
    assert!(matches!(err, Err(NotifyError::Unanswered)), "{err:?}");
    assert!(started.elapsed() >= POST_GRACE, "given its grace");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "sent once");
}

/// A notifier whose every post is answered `delay` late: the post has
/// landed, but its push waits for the answer (a slow management API).
struct SlowAnswers<N> {
    inner: N,
    delay: Duration,
}

impl<N: Notifier> Notifier for SlowAnswers<N> {
    async fn post(&self, connection_id: &str, data: Vec<u8>) -> Result<(), NotifyError> {
        let result = self.inner.post(connection_id, data).await;
        tokio::time::sleep(self.delay).await;
        result
    }

    async fn close(
        &self,
        connection_id: &str,
        close: &chat_realtime::protocol::Close,
    ) -> Result<(), NotifyError> {
        self.inner.close(connection_id, close).await
    }
}

/// A push sends nothing later than its window after it read its
/// subscribers (`chat_realtime::window`): what it has not sent by then goes
/// after a fresh read, only to those still subscribed, and a post sent
/// within the window is given its grace to be answered. With one post at a
/// time, each answered 600 ms late, the third post of three falls past the
/// window: it still reaches a subscriber who stayed, and never one who
/// completed meanwhile.
#[tokio::test]
async fn a_post_past_its_window_goes_only_to_those_still_subscribed() {
    use chat_realtime::window::POST_WINDOW;
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let client = chat_gateway::dynamo::client(
        &stack.running.dynamodb_endpoint,
        RequestCounter::default(),
        chat_gateway::dynamo::WriteSignal::default(),
    )
    .await;
    let management = stack.running.ws_url.replacen("ws://", "http://", 1);
    let delay = POST_WINDOW * 6 / 10;
    let fan_out = chat_realtime::FanOut::new(
        chat_realtime::DynamoConnections::new(client, stack.running.tables.connections.clone()),
        SlowAnswers {
            inner: notifier(&management).await,
            delay,
        },
        stack.running.tables.clone(),
        1,
    );
    let message = |id: &str| {
        let (now, seq) = (chat_domain::clock::now(), chat_domain::clock::next_seq());
        chat_domain::MessageChange::created(&room, id, &alice.id, id, &seq, &now)
    };
    for stays in [true, false] {
        let mut sockets = Vec::new();
        for _ in 0..3 {
            let mut ws = stack.ws(&bob).await;
            ws.subscribe("s", ON_CREATE_MESSAGE, json!({ "c": room }))
                .await;
            ws.sync().await;
            sockets.push(ws);
        }
        let id = if stays {
            "to those who stay"
        } else {
            "to those who left"
        };
        let change = message(id);
        let push = fan_out.publish(Change::Message(&change));
        let leave = async {
            if !stays {
                // Within the first post: every subscription completes.
                tokio::time::sleep(delay / 3).await;
                for ws in &mut sockets {
                    ws.send(json!({ "type": "complete", "id": "s" })).await;
                }
            }
        };
        let (pushed, ()) = tokio::join!(push, leave);
        let pushed = pushed.unwrap();
        // The first post is answered in time; the second, sent within the
        // window, is answered after it, within the window's grace (sent, and
        // never sent again); the third waits for the fresh read.
        assert_eq!(pushed.failed, 0, "{pushed:?}");
        assert_eq!(pushed.sent, if stays { 3 } else { 2 }, "{pushed:?}");
        let mut got = 0;
        for ws in &mut sockets {
            match ws.next_within(Duration::from_millis(300)).await {
                WsEvent::Message(m) => {
                    assert_eq!(m["payload"]["data"]["onCreateMessage"]["id"], id, "{m}");
                    got += 1;
                }
                WsEvent::Silence => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, if stays { 3 } else { 2 }, "{id}");
        for ws in sockets {
            ws.close().await;
        }
    }
}
