//! Per-user rate limits over HTTP, at their edges, on both engines: the
//! count is the store's, so every function instance sees it.

use std::time::Duration;

use chat_domain::rates::{RateLimits, HOUR_MS};
use chat_tests::{convo, Client, Stack};
use serde_json::{json, Value};

const CREATE: &str = "mutation($c: String!, $cid: ID!) { createMessage(input: {content: $c, messageConversationId: $cid}) { id } }";
const HISTORY: &str =
    "query($cid: ID!) { allMessageConnection(conversationId: $cid, first: 100) { messages { id } } }";
const NEW_CONVO: &str =
    "mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id } }";
const ADD: &str = "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }";

fn now_ms() -> i64 {
    chat_domain::clock::now_ms()
}

/// Sleeps until the next `window_ms` window unless `need_ms` is left of this one.
async fn room_in_window(window_ms: i64, need_ms: i64) {
    let left = window_ms - now_ms().rem_euclid(window_ms);
    if left < need_ms {
        tokio::time::sleep(Duration::from_millis(left as u64 + 50)).await;
    }
}

/// Sleeps until `at_ms` into the current `window_ms` window.
async fn into_window(window_ms: i64, at_ms: i64) {
    let into = now_ms().rem_euclid(window_ms);
    if into < at_ms {
        tokio::time::sleep(Duration::from_millis((at_ms - into) as u64 + 50)).await;
    }
}

/// The `retryAfterSeconds` of a refusal that must be `RateLimited`.
fn retry_after(out: &Value) -> u64 {
    let err = &out["errors"][0];
    assert_eq!(err["errorType"], "RateLimited", "{out:#}");
    assert!(
        err["message"].as_str().unwrap().contains("try again in"),
        "{out:#}"
    );
    assert!(
        out["data"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_null),
        "{out:#}"
    );
    err["errorInfo"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds")
}

async fn stored(reader: &Client, room: &str) -> usize {
    reader.ok(HISTORY, json!({ "cid": room })).await["allMessageConnection"]["messages"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn messages_meet_the_burst_cap_then_the_sustained_cap_and_go_through_after() {
    // 3 per 2-second slot, 5 per 6-second window.
    let stack = Stack::start_with_rates(RateLimits::off().with_messages(3, 2_000, 5, 6_000)).await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    // On an engine loaded by the rest of the suite, a slot's four requests
    // may not all be answered within it: such a try proves nothing, and the
    // next window tries again, in a room of its own.
    for _ in 0..3 {
        let room = convo(&alice, "room", &[&bob]).await;
        if burst_then_window(&alice, &bob, &room).await {
            return;
        }
    }
    panic!("three windows in a row too slow for a slot's four requests");
}

/// The burst cap, then the window's, in one 6-second window of `room`;
/// `false` if the first slot ended before its four requests were answered.
async fn burst_then_window(alice: &Client, bob: &Client, room: &str) -> bool {
    room_in_window(6_000, 5_900).await;
    let slot_ends = (now_ms() / 2_000 + 1) * 2_000;
    for i in 0..3 {
        alice
            .ok(CREATE, json!({ "c": format!("m{i}"), "cid": room }))
            .await;
    }
    let over = alice.send(CREATE, json!({ "c": "m3", "cid": room })).await;
    if now_ms() >= slot_ends {
        return false;
    }
    assert!(
        (1..=2).contains(&retry_after(&over)),
        "the slot's end: {over}"
    );
    // Bob's count is his own.
    bob.ok(CREATE, json!({ "c": "b0", "cid": room })).await;
    // The next slot takes two more, then the window is full.
    into_window(6_000, 2_000).await;
    alice.ok(CREATE, json!({ "c": "m3", "cid": room })).await;
    alice.ok(CREATE, json!({ "c": "m4", "cid": room })).await;
    let over = alice.send(CREATE, json!({ "c": "m5", "cid": room })).await;
    assert!(
        (3..=4).contains(&retry_after(&over)),
        "the window's end: {over}"
    );
    assert_eq!(stored(bob, room).await, 6, "nothing refused was stored");
    // Once the window turns, the same message goes through.
    room_in_window(6_000, 6_000).await;
    alice.ok(CREATE, json!({ "c": "m5", "cid": room })).await;
    assert_eq!(stored(bob, room).await, 7);
    true
}

#[tokio::test]
async fn conversations_and_invites_meet_their_hourly_caps() {
    let stack = Stack::start_with_rates(RateLimits {
        conversations_per_hour: 2,
        invites_per_hour: 3,
        ..RateLimits::off()
    })
    .await;
    room_in_window(HOUR_MS, 20_000).await;
    let alice = stack.user("alice").await;
    let mut others = Vec::new();
    for name in ["b", "c", "d", "e"] {
        others.push(stack.user(name).await);
    }
    let ids = |n: usize| others[..n].iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    // More people at once than an hour's invites can never go.
    let big = alice
        .send(NEW_CONVO, json!({ "n": "big", "m": ids(4) }))
        .await;
    assert_eq!(big["errors"][0]["errorType"], "ValidationError", "{big}");
    let room = alice
        .ok(NEW_CONVO, json!({ "n": "one", "m": ids(2) }))
        .await["createConvo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    alice.ok(ADD, json!({ "c": room, "u": others[2].id })).await;
    // The fourth invite of the hour is refused; nobody is added.
    let over = alice
        .send(ADD, json!({ "c": room, "u": others[3].id }))
        .await;
    assert!((1..=3600).contains(&retry_after(&over)));
    let members = alice
        .ok(
            "query($c: ID!) { getConvo(id: $c) { members } }",
            json!({ "c": room }),
        )
        .await;
    assert_eq!(members["getConvo"]["members"].as_array().unwrap().len(), 4);
    // Confirming one's own membership invites nobody.
    alice.ok(ADD, json!({ "c": room, "u": null })).await;
    // Conversations: the third of the hour is refused, and not made.
    alice.ok(NEW_CONVO, json!({ "n": "two", "m": [] })).await;
    let over = alice
        .send(NEW_CONVO, json!({ "n": "three", "m": [] }))
        .await;
    assert!((1..=3600).contains(&retry_after(&over)));
    let mine = alice
        .ok(
            "query($u: ID!) { getUser(id: $u) { conversations { items { id } } } }",
            json!({ "u": alice.id }),
        )
        .await;
    assert_eq!(
        mine["getUser"]["conversations"]["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Others are not held by Alice's counts.
    let bob = &others[0];
    bob.ok(NEW_CONVO, json!({ "n": "bob's", "m": [others[1].id] }))
        .await;
}
