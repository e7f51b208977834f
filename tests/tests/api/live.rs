//! Typing signals and presence: who receives them, what they cost, and a
//! client that vanishes without closing.

use std::time::Duration;

use chat_gateway::RealtimeConfig;
use chat_realtime::liveness::Liveness;
use chat_tests::{convo, post, Client, Stack, WsClient, WsEvent};
use serde_json::{json, Value};

const TYPING: &str =
    "mutation($c: ID!) { typing(conversationId: $c) { conversationId userId expiresAt sent } }";
const ON_TYPING: &str =
    "subscription($c: ID!) { onTyping(conversationId: $c) { conversationId userId expiresAt } }";
const ON_PRESENCE: &str =
    "subscription($c: ID!) { onPresence(conversationId: $c) { conversationId userId online lastSeenAt } }";
const PRESENCE_OF: &str = "query($id: ID!) { getUser(id: $id) { id online lastSeenAt } }";

async fn subscribed(stack: &Stack, who: &Client, doc: &str, room: &str) -> WsClient {
    let mut ws = stack.ws(who).await;
    ws.subscribe("s", doc, json!({ "c": room })).await;
    ws.sync().await;
    ws
}

fn next_payload(event: WsEvent, field: &str) -> Value {
    match event {
        WsEvent::Message(m) if m["type"] == "next" => m["payload"]["data"][field].clone(),
        other => panic!("expected a {field} push, got {other:?}"),
    }
}

async fn presence_of(asker: &Client, user: &Client) -> Value {
    asker.ok(PRESENCE_OF, json!({ "id": user.id })).await["getUser"].clone()
}

#[tokio::test]
async fn typing_reaches_the_other_members_only_once_per_interval_and_is_never_stored() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let start = bob
        .ok(
            "query($c: ID!) { messageChanges(conversationId: $c) { cursor } }",
            json!({ "c": room }),
        )
        .await["messageChanges"]["cursor"]
        .clone();
    let mut alice_ws = subscribed(&stack, &alice, ON_TYPING, &room).await;
    let mut bob_ws = subscribed(&stack, &bob, ON_TYPING, &room).await;

    // A signal that goes out: one read (the caller's standing), one read
    // (membership), one Query (the subscribers), and no write, so nothing
    // reaches a stream.
    let (out, invocations, requests) = stack.cost(alice.ok(TYPING, json!({ "c": room }))).await;
    let typing = &out["typing"];
    assert_eq!(typing["sent"], true, "{out}");
    assert_eq!(typing["userId"], alice.id.as_str());
    assert_eq!((invocations, requests), (1, 3));
    let seen = next_payload(bob_ws.next().await, "onTyping");
    assert_eq!(seen["userId"], alice.id.as_str());
    assert_eq!(seen["conversationId"], room.as_str());
    assert_eq!(seen["expiresAt"], typing["expiresAt"]);
    // The sender's own subscription gets nothing.
    assert_eq!(
        alice_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );

    // Within the interval: answered from memory after the caller's standing,
    // with no other request and no push.
    let (again, _, requests) = stack.cost(alice.ok(TYPING, json!({ "c": room }))).await;
    assert_eq!(again["typing"]["sent"], false);
    assert_eq!(requests, 1);
    assert_eq!(
        bob_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
    // Another member's signal is their own.
    assert_eq!(
        bob.ok(TYPING, json!({ "c": room })).await["typing"]["sent"],
        true
    );
    let seen = next_payload(alice_ws.next().await, "onTyping");
    assert_eq!(seen["userId"], bob.id.as_str());

    // After the interval, the next one goes out.
    tokio::time::sleep(Duration::from_millis(
        chat_domain::limits::TYPING_INTERVAL_MS as u64,
    ))
    .await;
    assert_eq!(
        alice.ok(TYPING, json!({ "c": room })).await["typing"]["sent"],
        true
    );
    next_payload(bob_ws.next().await, "onTyping");

    // Members only: a signal, and a subscription.
    assert_eq!(
        carol.error_type(TYPING, json!({ "c": room })).await,
        "Unauthorized"
    );
    let mut carol_ws = stack.ws(&carol).await;
    carol_ws
        .subscribe("s", ON_TYPING, json!({ "c": room }))
        .await;
    match carol_ws.next().await {
        WsEvent::Message(m) => {
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(m["payload"][0]["errorType"], "Unauthorized", "{m}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Nothing of it in the history or the change log.
    let history = bob
        .ok(
            "query($c: ID!) { getConvo(id: $c) { messages { items { id } } } }",
            json!({ "c": room }),
        )
        .await;
    assert_eq!(history["getConvo"]["messages"]["items"], json!([]));
    let changes = bob
        .ok(
            "query($c: ID!, $a: String) { messageChanges(conversationId: $c, after: $a) { items { kind } } }",
            json!({ "c": room, "a": start }),
        )
        .await;
    assert_eq!(changes["messageChanges"]["items"], json!([]), "{changes}");
}

#[tokio::test]
async fn presence_follows_connections_and_reaches_only_those_who_share_a_conversation() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let dave = stack.user("dave").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let elsewhere = convo(&carol, "elsewhere", &[&dave]).await;
    let mut bob_ws = subscribed(&stack, &bob, ON_PRESENCE, &room).await;
    let mut carol_ws = subscribed(&stack, &carol, ON_PRESENCE, &elsewhere).await;

    let before = presence_of(&bob, &alice).await;
    assert_eq!(before["online"], false);
    assert_eq!(before["lastSeenAt"], Value::Null);

    // Alice comes online: Bob, who shares a room with her, sees it; Carol
    // does not.
    let first = stack.ws(&alice).await;
    let seen = next_payload(bob_ws.next().await, "onPresence");
    assert_eq!(seen["userId"], alice.id.as_str());
    assert_eq!(seen["online"], true);
    assert_eq!(seen["conversationId"], room.as_str());
    assert!(seen["lastSeenAt"].is_string());
    assert_eq!(presence_of(&carol, &alice).await["online"], true);
    assert_eq!(
        carol_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );

    // A second device changes nothing; closing one of two neither.
    let second = stack.ws(&alice).await;
    first.close().await;
    assert_eq!(
        bob_ws.next_within(Duration::from_millis(500)).await,
        WsEvent::Silence
    );
    assert_eq!(presence_of(&bob, &alice).await["online"], true);

    // The last one closing takes her offline.
    second.close().await;
    let seen = next_payload(bob_ws.next().await, "onPresence");
    assert_eq!(
        (&seen["userId"], &seen["online"]),
        (&json!(alice.id), &json!(false))
    );
    let after = presence_of(&bob, &alice).await;
    assert_eq!(after["online"], false);
    assert!(after["lastSeenAt"].as_str() >= before["lastSeenAt"].as_str());
    assert!(after["lastSeenAt"].is_string());

    // Presence subscriptions are for members only.
    let mut dave_ws = stack.ws(&dave).await;
    dave_ws
        .subscribe("s", ON_PRESENCE, json!({ "c": room }))
        .await;
    match dave_ws.next().await {
        WsEvent::Message(m) => assert_eq!(m["payload"][0]["errorType"], "Unauthorized", "{m}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_that_vanishes_without_closing_goes_offline_within_the_liveness_limit() {
    let liveness = Liveness {
        probe: Duration::from_secs(1),
        limit: Duration::from_secs(2),
    };
    let stack = Stack::start_on(
        chat_tests::backend(None),
        None,
        None,
        RealtimeConfig {
            liveness,
            ..Default::default()
        },
    )
    .await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let mut bob_ws = subscribed(&stack, &bob, ON_PRESENCE, &room).await;

    // Before the connection, so before the server saw it last.
    let connecting = std::time::Instant::now();
    let vanished = stack.ws(&alice).await;
    let seen = next_payload(bob_ws.next().await, "onPresence");
    assert_eq!(seen["online"], true);

    // Alice's socket stays open and is never read again: no close, no
    // `$disconnect`, no pong. Bob's client answers the pings, and stays.
    let seen = next_payload(
        bob_ws.next_within(Duration::from_secs(15)).await,
        "onPresence",
    );
    assert_eq!(
        (&seen["userId"], &seen["online"]),
        (&json!(alice.id), &json!(false))
    );
    let offline_after = connecting.elapsed();
    assert!(
        offline_after >= liveness.limit,
        "offline after {offline_after:?}, before the limit"
    );
    assert_eq!(presence_of(&bob, &alice).await["online"], false);
    // Bob, who answered, is still online and still receives.
    assert_eq!(presence_of(&alice, &bob).await["online"], true);
    post(&alice, &room, "still there?").await;
    drop(vanished);
}
