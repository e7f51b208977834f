//! What one socket or one subscription may cost (chat_realtime::caps), each
//! cap at its edge, over the WebSocket API: subscriptions per connection,
//! connections per user, one subscription per document, the document and
//! payload bounds, ids, pings before `connection_init`, and a subscriber
//! whose payloads would be too large to send.

use std::time::{Duration, Instant};

use chat_realtime::caps::{
    MAX_CONNECTIONS_PER_USER, MAX_DOCUMENT_ALIASES, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_FIELDS,
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
};
use chat_realtime::model::Subscription;
use chat_realtime::Connections;
use chat_tests::{convo, post, Stack, WsClient, WsEvent};
use serde_json::{json, Value};

use crate::realtime::watch_room;

/// A distinct valid document per `i`: the alias makes it another document.
fn user_doc(i: usize) -> String {
    format!("subscription {{ onCreateUser {{ id n{i}: username }} }}")
}

/// The `error` message for `id`, with its first error's type.
async fn refused(ws: &mut WsClient, id: &str) -> String {
    match ws.next().await {
        WsEvent::Message(m) if m["type"] == "error" && m["id"] == id => m["payload"][0]
            ["errorType"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        other => panic!("{id}: expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_holds_at_most_the_cap_of_subscriptions() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut ws = stack.ws(&alice).await;
    let cap = MAX_SUBSCRIPTIONS_PER_CONNECTION as usize;
    for i in 0..cap {
        ws.subscribe(&format!("s{i}"), &user_doc(i), json!({}))
            .await;
    }
    // A hundred subscribes take a while on DynamoDB Local.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(
        ws.next_within(Duration::from_secs(60)).await,
        WsEvent::Message(json!({ "type": "pong" }))
    );
    ws.subscribe("one-too-many", &user_doc(cap), json!({}))
        .await;
    assert_eq!(refused(&mut ws, "one-too-many").await, "LimitExceeded");
    // Completing one makes room for one.
    ws.send(json!({ "type": "complete", "id": "s0" })).await;
    ws.subscribe("again", &user_doc(cap), json!({})).await;
    ws.sync().await;
    ws.subscribe("and-again", &user_doc(cap + 1), json!({}))
        .await;
    assert_eq!(refused(&mut ws, "and-again").await, "LimitExceeded");
    // The connection still works, and each held subscription gets one push.
    stack.user("bob").await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..cap {
        match ws.next().await {
            WsEvent::Message(m) if m["type"] == "next" => {
                assert!(ids.insert(m["id"].as_str().unwrap().to_string()));
            }
            other => panic!("expected a push, got {other:?}"),
        }
    }
    assert!(ids.contains("again") && !ids.contains("s0"));
    assert_eq!(
        ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
}

#[tokio::test]
async fn the_same_document_twice_on_one_socket_is_one_subscription() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let mut ws = stack.ws(&alice).await;
    watch_room(&mut ws, "first", &room).await;
    // The same document and variables, keys in another order, under a new id:
    // the first id is completed and the subscription answers to the second.
    ws.subscribe(
        "second",
        "subscription onCreateMessage($messageConversationId: ID!) { onCreateMessage(messageConversationId: $messageConversationId) { id content authorId messageConversationId createdAt } }",
        json!({ "messageConversationId": room }),
    )
    .await;
    assert_eq!(
        ws.next().await,
        WsEvent::Message(json!({ "type": "complete", "id": "first" }))
    );
    let topic = format!("message:{room}");
    let rows = stack.running.connections.subscribers(&topic).await.unwrap();
    assert_eq!(rows.len(), 1, "one row for one document");
    post(&bob, &room, "once").await;
    match ws.next().await {
        WsEvent::Message(m) => {
            assert_eq!(m["id"], "second");
            assert_eq!(m["payload"]["data"]["onCreateMessage"]["content"], "once");
        }
        other => panic!("expected the message, got {other:?}"),
    }
    assert_eq!(
        ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
    // Completing the old id does nothing; completing the new one ends it.
    ws.send(json!({ "type": "complete", "id": "first" })).await;
    ws.sync().await;
    assert_eq!(
        stack
            .running
            .connections
            .subscribers(&topic)
            .await
            .unwrap()
            .len(),
        1
    );
    ws.send(json!({ "type": "complete", "id": "second" })).await;
    ws.sync().await;
    assert!(stack
        .running
        .connections
        .subscribers(&topic)
        .await
        .unwrap()
        .is_empty());
    // And the id can be used again.
    watch_room(&mut ws, "second", &room).await;
}

#[tokio::test]
async fn a_user_holds_at_most_the_cap_of_connections() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let mut open = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_USER {
        open.push(stack.ws(&alice).await);
    }
    let mut extra = stack.ws_connect(None, true).await.unwrap();
    extra
        .send(json!({ "type": "connection_init", "payload": { "authorization": alice.token } }))
        .await;
    assert_eq!(
        extra.next().await,
        WsEvent::Closed(4429, "Too many connections for this user".into())
    );
    // Another user is not affected.
    stack.ws(&bob).await;
    // Closing one makes room for one.
    open.pop().unwrap().close().await;
    let mut again = None;
    for _ in 0..50 {
        let mut ws = stack.ws_connect(None, true).await.unwrap();
        ws.send(json!({ "type": "connection_init", "payload": { "authorization": alice.token } }))
            .await;
        match ws.next().await {
            WsEvent::Message(m) if m["type"] == "connection_ack" => {
                again = Some(ws);
                break;
            }
            // The `$disconnect` may not have landed yet.
            WsEvent::Closed(4429, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("expected an ack, got {other:?}"),
        }
    }
    assert!(again.is_some(), "a closed connection frees its place");
}

#[tokio::test]
async fn documents_over_the_caps_are_refused_and_the_socket_stays_open() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "room", &[]).await;
    let mut ws = stack.ws(&alice).await;
    let message_doc = |selection: String| {
        format!("subscription($c: ID!) {{ onCreateMessage(messageConversationId: $c) {{ {selection} }} }}")
    };
    let vars = json!({ "c": room });

    // At the field and alias caps: accepted (the root field counts as one).
    let at_fields = message_doc(
        std::iter::repeat_n("id", MAX_DOCUMENT_FIELDS - 1)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let at_aliases = message_doc(
        (0..MAX_DOCUMENT_ALIASES)
            .map(|i| format!("a{i}: id"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    for (id, doc) in [("at-fields", &at_fields), ("at-aliases", &at_aliases)] {
        ws.subscribe(id, doc, vars.clone()).await;
    }
    ws.sync().await;

    let too_long = message_doc(format!("id {}", " ".repeat(MAX_DOCUMENT_BYTES)));
    let over_fields = message_doc(
        std::iter::repeat_n("id", MAX_DOCUMENT_FIELDS)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let over_aliases = message_doc(
        (0..=MAX_DOCUMENT_ALIASES)
            .map(|i| format!("a{i}: id"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    // Six copies of a 4,000-character content could pass 128 KB.
    let over_payload = message_doc(
        (0..6)
            .map(|i| format!("c{i}: content"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let fragments = format!(
        "{} fragment F0 on Message {{ id ...F1 ...F1 }} {}",
        message_doc("...F0".into()),
        (1..20)
            .map(|i| format!(
                "fragment F{i} on Message {{ id ...F{} ...F{} }}",
                i + 1,
                i + 1
            ))
            .chain(std::iter::once(
                "fragment F20 on Message { content }".to_string()
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (id, doc, variables) in [
        ("too-long", too_long, vars.clone()),
        ("over-fields", over_fields, vars.clone()),
        ("over-aliases", over_aliases, vars.clone()),
        ("over-payload", over_payload, vars.clone()),
        ("doubling-fragments", fragments, vars.clone()),
        ("empty-id", message_doc("id".into()), json!({ "c": "" })),
        (
            "long-id",
            message_doc("id".into()),
            json!({ "c": "c".repeat(3000) }),
        ),
        (
            "row-kind-id",
            message_doc("id".into()),
            json!({ "c": "USERNAME#alice" }),
        ),
    ] {
        let started = Instant::now();
        ws.subscribe(id, &doc, variables).await;
        assert_eq!(refused(&mut ws, id).await, "ValidationError", "{id}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{id} took {:?}",
            started.elapsed()
        );
    }
    // Links of someone else, by a malformed id: the same clear refusal.
    ws.subscribe(
        "bad-link",
        "subscription { onCreateConvoLink(convoLinkUserId: \"\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(refused(&mut ws, "bad-link").await, "ValidationError");
    ws.sync().await;
}

#[tokio::test]
async fn a_ping_before_connection_init_closes_with_4401() {
    let stack = Stack::start().await;
    let mut ws = stack.ws_connect(None, true).await.unwrap();
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(
        ws.next().await,
        WsEvent::Closed(4401, "Unauthorized".into())
    );
}

/// A subscription stored before the caps (written straight into the
/// Connections table, as an older version could have) whose payload would
/// exceed API Gateway's limit: it gets an `error` and is dropped, its
/// connection's other subscription still gets the message, and an unrelated
/// conversation's deliveries keep their speed while it is pushed to.
#[tokio::test]
async fn a_subscriber_whose_payload_is_too_large_is_dropped_and_stalls_no_one() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let quiet = convo(&carol, "quiet", &[]).await;
    let mut attacker = stack.ws(&bob).await;
    watch_room(&mut attacker, "normal", &room).await;
    let connection_id = stack.subscriber_connection(&room).await;
    // 2,200 aliases of `content`, as the probe sent (two ~26 KB documents).
    for (id, prefix) in [("huge-a", "a"), ("huge-b", "b")] {
        let selection: String = (0..2200).map(|i| format!("{prefix}{i}:content ")).collect();
        let query = format!(
            "subscription($c: ID!) {{ onCreateMessage(messageConversationId: $c) {{ {selection} }} }}"
        );
        let stored = stack
            .running
            .connections
            .put_subscription(&Subscription {
                connection_id: connection_id.clone(),
                id: id.into(),
                topic: format!("message:{room}"),
                query,
                operation_name: None,
                variables: json!({ "c": room }).as_object().unwrap().clone(),
                user_id: bob.id.clone(),
                token_expires_at: None,
            })
            .await
            .unwrap();
        assert_eq!(stored, chat_realtime::connections::Stored::Added);
    }
    let mut watcher = stack.ws(&carol).await;
    watch_room(&mut watcher, "quiet", &quiet).await;

    let (baseline, watcher) = latencies(&carol, &quiet, watcher, 20).await;

    // The stall: a 4,000-character message while the quiet room keeps talking.
    let big = "x".repeat(4000);
    let stall = async {
        post(&alice, &room, &big).await;
    };
    let (_, (during, _watcher)) = tokio::join!(stall, latencies(&carol, &quiet, watcher, 20));

    let mut errors = std::collections::BTreeSet::new();
    let mut delivered = Vec::new();
    for _ in 0..3 {
        match attacker.next().await {
            WsEvent::Message(m) if m["type"] == "error" => {
                assert_eq!(m["payload"][0]["errorType"], "PayloadTooLarge");
                errors.insert(m["id"].as_str().unwrap().to_string());
            }
            WsEvent::Message(m) if m["type"] == "next" => delivered.push(m),
            other => panic!("expected an error or the message, got {other:?}"),
        }
    }
    assert_eq!(
        errors,
        ["huge-a".to_string(), "huge-b".to_string()]
            .into_iter()
            .collect()
    );
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["id"], "normal");
    assert_eq!(
        delivered[0]["payload"]["data"]["onCreateMessage"]["content"],
        big.as_str()
    );
    // The dropped subscriptions are gone: the next message reaches only the normal one.
    post(&alice, &room, "small").await;
    match attacker.next().await {
        WsEvent::Message(m) => assert_eq!(m["id"], "normal"),
        other => panic!("expected the message, got {other:?}"),
    }
    assert_eq!(
        attacker.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
    let p99 = |v: &[Duration]| v[(v.len() * 99).div_ceil(100) - 1];
    let (base, stalled) = (p99(&baseline), p99(&during));
    // Within 2x of the baseline, with 50 ms for a shared machine's jitter.
    assert!(
        stalled <= base * 2 + Duration::from_millis(50),
        "p99 {stalled:?} during the stall against {base:?} before"
    );
}

/// Posts `n` messages to `room` one after another; returns each one's time
/// from posting to its arrival at `watcher`, sorted.
async fn latencies(
    author: &chat_tests::Client,
    room: &str,
    mut watcher: WsClient,
    n: usize,
) -> (Vec<Duration>, WsClient) {
    let mut took = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        post(author, room, &format!("q{i}")).await;
        match watcher.next().await {
            WsEvent::Message(m) if m["type"] == "next" => {}
            other => panic!("expected the quiet message, got {other:?}"),
        }
        took.push(started.elapsed());
    }
    took.sort();
    (took, watcher)
}

/// An idle connection (nothing pushed to it, nothing sent) whose token
/// expires is closed by the sweeper, with the same 4401 "Token expired".
#[tokio::test]
async fn the_sweeper_closes_an_idle_connection_once_its_token_expires() {
    let stack = Stack::start().await;
    let idp = &stack.running.idp;
    let mut claims = idp.claims_for("alice");
    let expires = jsonwebtoken::get_current_timestamp() + 1;
    claims.insert("exp".into(), json!(expires));
    let mut ws = stack.ws_connect(None, true).await.unwrap();
    ws.send(
        json!({ "type": "connection_init", "payload": { "authorization": idp.sign(&claims) } }),
    )
    .await;
    assert_eq!(
        ws.next().await,
        WsEvent::Message(json!({ "type": "connection_ack" }))
    );
    let bound = Duration::from_secs(1 + chat_auth::LEEWAY_SECS + 3);
    assert_eq!(
        ws.next_within(bound).await,
        WsEvent::Closed(4401, "Token expired".into())
    );
}

/// `@skip` and `@include` decide what is read: another user's
/// conversations under `@skip(if: true)` are neither refused nor read.
#[tokio::test]
async fn skipped_fields_are_not_read_or_refused() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    convo(&bob, "bob's", &[]).await;
    let query = "query($id: ID!, $skip: Boolean!) { getUser(id: $id) { id conversations @skip(if: $skip) { items { conversationId: convoLinkConversationId } } } }";
    let ask = |skip: bool| alice.send(query, json!({ "id": bob.id, "skip": skip }));
    let (skipped, _, requests_skipped) = stack.cost(ask(true)).await;
    assert_eq!(skipped, json!({ "data": { "getUser": { "id": bob.id } } }));
    let (asked, _, requests_asked) = stack.cost(ask(false)).await;
    assert_eq!(asked["errors"][0]["errorType"], "Unauthorized");
    assert_eq!(asked["data"]["getUser"]["conversations"], Value::Null);
    assert!(
        requests_skipped <= requests_asked,
        "{requests_skipped} > {requests_asked}"
    );
    // A connection of one's own, skipped: no Query for it.
    let own = "query($id: ID!, $skip: Boolean!) { getUser(id: $id) { id conversations @skip(if: $skip) { items { convoLinkConversationId } } } }";
    let (_, _, with) = stack
        .cost(alice.send(own, json!({ "id": alice.id, "skip": false })))
        .await;
    let (_, _, without) = stack
        .cost(alice.send(own, json!({ "id": alice.id, "skip": true })))
        .await;
    assert_eq!(without + 1, with, "skipping the connection saves its Query");
}
