//! Subscriptions over the WebSocket API with a Rust graphql-transport-ws
//! client: delivery, authorization, payload shape, protocol errors and
//! stale-connection cleanup.

use std::time::Duration;

use chat_realtime::Connections;
use chat_tests::{convo, post, Stack, WsClient, WsEvent};
use serde_json::{json, Value};

const ON_CREATE_MESSAGE: &str = "subscription onCreateMessage($messageConversationId: ID!) { onCreateMessage(messageConversationId: $messageConversationId) { id content authorId messageConversationId createdAt } }";
const ON_CREATE_USER: &str = "subscription OnCreateUser { onCreateUser { id username createdAt } }";

/// Waits (up to 2.5 s) until `topic` has `count` subscribers; returns how many it has.
async fn settle_subscribers(stack: &Stack, topic: &str, count: usize) -> usize {
    let mut now = usize::MAX;
    for _ in 0..50 {
        now = stack
            .running
            .connections
            .subscribers(topic)
            .await
            .unwrap()
            .len();
        if now == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    now
}

/// Subscribes `ws` to a conversation's new messages (Chatt's document) and
/// waits until the server has stored the subscription.
pub(crate) async fn watch_room(ws: &mut WsClient, id: &str, room: &str) {
    ws.subscribe(
        id,
        ON_CREATE_MESSAGE,
        json!({ "messageConversationId": room }),
    )
    .await;
    ws.sync().await;
}

fn next_payload(event: WsEvent, id: &str) -> Value {
    match event {
        WsEvent::Message(m) if m["type"] == "next" && m["id"] == id => m["payload"].clone(),
        other => panic!("expected next for {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn members_receive_every_message_once_in_order_and_no_one_else_does() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let eve = stack.user("eve").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let other = convo(&carol, "other", &[]).await;

    let mut alice_ws = stack.ws(&alice).await;
    let mut bob_ws = stack.ws(&bob).await;
    let mut carol_ws = stack.ws(&carol).await;
    let mut eve_ws = stack.ws(&eve).await;
    for ws in [&mut alice_ws, &mut bob_ws] {
        watch_room(ws, "room", &room).await;
    }
    watch_room(&mut carol_ws, "other", &other).await;

    // A non-member is refused with an error; the connection stays usable.
    eve_ws
        .subscribe(
            "spy",
            ON_CREATE_MESSAGE,
            json!({ "messageConversationId": room }),
        )
        .await;
    match eve_ws.next().await {
        WsEvent::Message(m) => {
            assert_eq!(m["type"], "error");
            assert_eq!(m["id"], "spy");
            assert_eq!(m["payload"][0]["errorType"], "Unauthorized");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    eve_ws.sync().await;

    let mut sent = Vec::new();
    for i in 0..20 {
        let author = if i % 2 == 0 { &alice } else { &bob };
        sent.push(post(author, &room, &format!("message {i}")).await);
    }
    for ws in [&mut alice_ws, &mut bob_ws] {
        let mut got = Vec::new();
        for _ in 0..20 {
            let payload = next_payload(ws.next().await, "room");
            let message = &payload["data"]["onCreateMessage"];
            assert_eq!(message["messageConversationId"], room.as_str());
            got.push(message["id"].as_str().unwrap().to_string());
        }
        assert_eq!(got, sent, "every message, once, in order");
        assert_eq!(
            ws.next_within(Duration::from_millis(300)).await,
            WsEvent::Silence,
            "no duplicates"
        );
    }
    // Carol, subscribed elsewhere, and Eve, refused, got nothing from the room.
    let marker = post(&carol, &other, "only for carol").await;
    let payload = next_payload(carol_ws.next().await, "other");
    assert_eq!(payload["data"]["onCreateMessage"]["id"], marker.as_str());
    assert_eq!(
        carol_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
    assert_eq!(
        eve_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
}

#[tokio::test]
async fn payloads_have_exactly_the_subscribed_shape() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "room", &[]).await;
    let mut ws = stack.ws(&alice).await;
    ws.subscribe(
        "s",
        "subscription($c: ID!) { msg: onCreateMessage(messageConversationId: $c) { __typename text: content ...Who } } fragment Who on Message { authorId }",
        json!({ "c": room }),
    )
    .await;
    ws.sync().await;
    post(&alice, &room, "shaped").await;
    let payload = next_payload(ws.next().await, "s");
    assert_eq!(
        payload,
        json!({ "data": { "msg": { "__typename": "Message", "text": "shaped", "authorId": alice.id } } })
    );
    // Key order follows the document.
    let keys: Vec<&String> = payload["data"]["msg"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["__typename", "text", "authorId"]);
}

#[tokio::test]
async fn new_users_and_own_links_are_pushed() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut ws = stack.ws(&alice).await;
    ws.subscribe("users", ON_CREATE_USER, json!({})).await;
    ws.subscribe(
        "links",
        "subscription($u: ID!) { onCreateConvoLink(convoLinkUserId: $u) { convoLinkConversationId } }",
        json!({ "u": alice.id }),
    )
    .await;
    // Someone else's links are not for alice.
    ws.subscribe(
        "theirs",
        "subscription($u: ID!) { onCreateConvoLink(convoLinkUserId: $u) { id } }",
        json!({ "u": "someone-else" }),
    )
    .await;
    // Alice's own sign-up may still be on its way through the stream when
    // she subscribes; whether it reaches her is a race this test ignores.
    let own_sign_up = |m: &Value| {
        m["id"] == "users" && m["payload"]["data"]["onCreateUser"]["id"] == alice.id.as_str()
    };
    match ws.next_skipping(own_sign_up).await {
        WsEvent::Message(m) => assert_eq!(
            (m["type"].as_str(), m["id"].as_str()),
            (Some("error"), Some("theirs"))
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(
        ws.next_skipping(own_sign_up).await,
        WsEvent::Message(json!({ "type": "pong" }))
    );

    let bob = stack.user("bob").await;
    let payload = next_payload(ws.next_skipping(own_sign_up).await, "users");
    assert_eq!(payload["data"]["onCreateUser"]["username"], "bob");
    assert_eq!(payload["data"]["onCreateUser"]["id"], bob.id.as_str());
    // A conversation bob starts with alice creates her link.
    let room = convo(&bob, "hi alice", &[&alice]).await;
    let payload = next_payload(ws.next().await, "links");
    assert_eq!(
        payload["data"]["onCreateConvoLink"]["convoLinkConversationId"],
        room.as_str()
    );
    assert_eq!(
        ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
}

#[tokio::test]
async fn complete_stops_delivery() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "room", &[]).await;
    let mut ws = stack.ws(&alice).await;
    watch_room(&mut ws, "s", &room).await;
    post(&alice, &room, "one").await;
    next_payload(ws.next().await, "s");
    ws.send(json!({ "type": "complete", "id": "s" })).await;
    ws.sync().await;
    post(&alice, &room, "two").await;
    assert_eq!(
        ws.next_within(Duration::from_millis(500)).await,
        WsEvent::Silence
    );
}

#[tokio::test]
async fn a_vanished_client_is_removed_on_410_and_the_others_still_get_messages() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let before: Vec<String> = stack.running.ws.connection_ids();
    let mut alice_ws = stack.ws(&alice).await;
    watch_room(&mut alice_ws, "s", &room).await;
    let alice_conn: String = stack
        .running
        .ws
        .connection_ids()
        .into_iter()
        .find(|id| !before.contains(id))
        .unwrap();
    let mut bob_ws = stack.ws(&bob).await;
    watch_room(&mut bob_ws, "s", &room).await;
    let topic = format!("message:{room}");
    assert_eq!(settle_subscribers(&stack, &topic, 2).await, 2);

    // Alice's phone drops off the network: no close, no $disconnect.
    assert!(stack.running.ws.vanish(&alice_conn));
    let id = post(&bob, &room, "anyone there?").await;
    let payload = next_payload(bob_ws.next().await, "s");
    assert_eq!(payload["data"]["onCreateMessage"]["id"], id.as_str());
    // The fan-out got 410 for alice and removed her subscription; the
    // sweeper, to which it handed the connection, removes that too.
    assert_eq!(settle_subscribers(&stack, &topic, 1).await, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while stack
        .running
        .connections
        .get_connection(&alice_conn)
        .await
        .unwrap()
        .is_some()
    {
        assert!(std::time::Instant::now() < deadline, "the connection stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Delivery goes on.
    post(&alice, &room, "back later").await;
    next_payload(bob_ws.next().await, "s");
}

#[tokio::test]
async fn disconnect_removes_the_connection_rows() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "room", &[]).await;
    let mut ws = stack.ws(&alice).await;
    watch_room(&mut ws, "s", &room).await;
    let topic = format!("message:{room}");
    assert_eq!(settle_subscribers(&stack, &topic, 1).await, 1);
    ws.close().await;
    assert_eq!(settle_subscribers(&stack, &topic, 0).await, 0);
}

#[tokio::test]
async fn protocol_violations_get_the_protocol_close_codes() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;

    // No graphql-transport-ws subprotocol: the upgrade is refused.
    let refused = stack.ws_connect(None, false).await;
    assert!(
        refused.is_err(),
        "upgrade without the subprotocol must fail"
    );

    // A bad token in connection_init: 4403.
    let mut ws = stack.ws_connect(None, true).await.unwrap();
    ws.send(json!({ "type": "connection_init", "payload": { "authorization": "not-a-token" } }))
        .await;
    assert_eq!(ws.next().await, WsEvent::Closed(4403, "Forbidden".into()));
    // No token at all: 4403.
    let mut ws = stack.ws_connect(None, true).await.unwrap();
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.next().await, WsEvent::Closed(4403, "Forbidden".into()));
    // A bad ?token=: 4403 at connection_init.
    let mut ws = stack.ws_connect(Some("garbage"), true).await.unwrap();
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.next().await, WsEvent::Closed(4403, "Forbidden".into()));
    // A good ?token= is enough.
    let mut ws = stack.ws_connect(Some(&alice.token), true).await.unwrap();
    ws.send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    assert_eq!(
        ws.next().await,
        WsEvent::Message(json!({ "type": "connection_ack" }))
    );
    // A second connection_init: 4429.
    ws.send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    assert_eq!(
        ws.next().await,
        WsEvent::Closed(4429, "Too many initialisation requests".into())
    );

    // Subscribing before connection_ack: 4401.
    let mut ws = stack.ws_connect(None, true).await.unwrap();
    ws.subscribe("s", ON_CREATE_USER, json!({})).await;
    assert_eq!(
        ws.next().await,
        WsEvent::Closed(4401, "Unauthorized".into())
    );

    // Invalid messages: 4400.
    for bad in [
        "not json",
        r#"{"type":"nope"}"#,
        r#"{"type":"subscribe","id":"1"}"#,
    ] {
        let mut ws = stack.ws(&alice).await;
        ws.send_text(bad.to_string()).await;
        match ws.next().await {
            WsEvent::Closed(4400, _) => {}
            other => panic!("{bad}: expected 4400, got {other:?}"),
        }
    }

    // A duplicate subscription id: 4409.
    let mut ws = stack.ws(&alice).await;
    ws.subscribe("same", ON_CREATE_USER, json!({})).await;
    ws.subscribe("same", ON_CREATE_USER, json!({})).await;
    assert_eq!(
        ws.next().await,
        WsEvent::Closed(4409, "Subscriber for same already exists".into())
    );

    // Invalid documents are refused with errors, and the connection stays open.
    let mut ws = stack.ws(&alice).await;
    for (id, query) in [
        ("q", "query { me { id } }"),
        ("bad", "subscription { onCreateMessage { id } }"),
        (
            "two",
            "subscription { onCreateUser { id } onCreateConvoLink(convoLinkUserId: \"x\") { id } }",
        ),
    ] {
        ws.subscribe(id, query, json!({})).await;
        match ws.next().await {
            WsEvent::Message(m) => {
                assert_eq!(m["type"], "error", "{id}");
                assert_eq!(m["id"], id);
                assert!(m["payload"][0]["message"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()));
            }
            other => panic!("{id}: expected an error, got {other:?}"),
        }
    }
    ws.sync().await;
    // ping/pong, with the payload echoed.
    ws.send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    assert_eq!(
        ws.next().await,
        WsEvent::Message(json!({ "type": "pong", "payload": { "n": 1 } }))
    );
}

#[tokio::test]
async fn a_connection_that_never_initialises_times_out() {
    // The test stack allows 2 s for connection_init.
    let stack = Stack::start().await;
    let mut ws = stack.ws_connect(None, true).await.unwrap();
    assert_eq!(
        ws.next_within(Duration::from_secs(6)).await,
        WsEvent::Closed(4408, "Connection initialisation timeout".into())
    );
}

#[tokio::test]
async fn oversized_frames_close_the_connection() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut ws = stack.ws(&alice).await;
    let big = json!({ "type": "ping", "payload": { "pad": "x".repeat(40 * 1024) } });
    ws.send(big).await;
    match ws.next().await {
        WsEvent::Closed(code, _) => assert!(code == 1009 || code == 1006, "{code}"),
        other => panic!("expected a close, got {other:?}"),
    }
}

/// As AppSync's real-time endpoint: a connection does not outlive its
/// token. After `exp` (and the verifier's leeway) the next push closes it
/// with 4401 "Token expired" instead of delivering, and a `subscribe` on it
/// is answered the same way; a client subscribes again, with a fresh token.
/// The sweeper, which would close both sockets first, is kept idle: the
/// writer closes the one it meets (an `@connections` DELETE its policy must
/// allow), and the other closes at its own `subscribe`.
#[tokio::test]
async fn a_socket_does_not_outlive_its_token() {
    let stack = Stack::start_with_idle_sweeper().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let doc = "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { content } }";
    // A short-lived token from the dev identity provider, as a client
    // would get one; it lasts 1 to 3600 s.
    let ask = |expires_in: Value| {
        stack
            .http
            .post(format!("{}/auth/token", stack.running.base_url))
            .json(&json!({ "username": "alice", "expiresIn": expires_in }))
            .send()
    };
    for bad in [json!(0), json!(3601), json!("soon")] {
        assert_eq!(ask(bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    let answer: Value = ask(json!(2)).await.unwrap().json().await.unwrap();
    assert_eq!(answer["expiresIn"], 2);
    let short = answer["token"].as_str().unwrap().to_string();
    // Its `exp` is at most this.
    let expires = jsonwebtoken::get_current_timestamp() + 2;
    let connect = || async {
        let mut ws = stack.ws_connect(None, true).await.unwrap();
        ws.send(json!({ "type": "connection_init", "payload": { "authorization": short } }))
            .await;
        assert_eq!(
            ws.next().await,
            WsEvent::Message(json!({ "type": "connection_ack" }))
        );
        ws
    };
    let mut pushed_to = connect().await;
    pushed_to.subscribe("room", doc, json!({ "c": room })).await;
    pushed_to.sync().await;
    let mut idle = connect().await;
    // Before expiry: delivered.
    post(&bob, &room, "in time").await;
    match pushed_to.next().await {
        WsEvent::Message(m) => assert_eq!(
            m["payload"]["data"]["onCreateMessage"]["content"],
            "in time"
        ),
        other => panic!("expected the message, got {other:?}"),
    }
    // After it: the next push closes the connection instead.
    let leeway = chat_auth::LEEWAY_SECS;
    let now = jsonwebtoken::get_current_timestamp();
    tokio::time::sleep(Duration::from_secs(expires + leeway + 1 - now)).await;
    post(&bob, &room, "too late").await;
    assert_eq!(
        pushed_to.next().await,
        WsEvent::Closed(4401, "Token expired".into())
    );
    // And a subscribe on a connection whose token has expired.
    idle.try_subscribe("late", doc, json!({ "c": room })).await;
    assert_eq!(
        idle.next().await,
        WsEvent::Closed(4401, "Token expired".into())
    );
}
