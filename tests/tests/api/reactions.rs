//! Reactions: who may put them, what each viewer sees, the limits at their
//! edges, idempotent retries, pushes, and a page of messages with their
//! reactions at no request per message.

use std::time::Duration;

use chat_domain::limits::{MAX_REACTIONS_PER_USER, MAX_REACTION_KINDS};
use chat_tests::{convo, post, Client, Stack, WsEvent};
use serde_json::{json, Value};

const ADD: &str = "mutation($c: ID!, $m: ID!, $e: String!) { addReaction(input: {messageConversationId: $c, messageId: $m, emoji: $e}) { id version reactions { emoji count reacted } } }";
const REMOVE: &str = "mutation($c: ID!, $m: ID!, $e: String!) { removeReaction(input: {messageConversationId: $c, messageId: $m, emoji: $e}) { id version reactions { emoji count reacted } } }";
const EMOJIS: [&str; 11] = [
    "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋",
];

async fn react(who: &Client, doc: &str, room: &str, message: &str, emoji: &str) -> Value {
    who.send(doc, json!({ "c": room, "m": message, "e": emoji }))
        .await
}

fn error_type(out: &Value) -> &str {
    out["errors"][0]["errorType"].as_str().unwrap_or("none")
}

async fn reactions_seen_by(who: &Client, room: &str) -> Value {
    who.ok(
        "query($c: ID!) { getConvo(id: $c) { messages { items { reactions { emoji count reacted } } } } }",
        json!({ "c": room }),
    )
    .await["getConvo"]["messages"]["items"][0]["reactions"]
        .clone()
}

#[tokio::test]
async fn members_react_once_each_and_everyone_sees_counts_and_their_own() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let m = post(&alice, &room, "react to me").await;

    let out = react(&bob, ADD, &room, &m, "👍").await;
    assert_eq!(out["data"]["addReaction"]["version"], 2, "{out}");
    react(&alice, ADD, &room, &m, "👍").await;
    react(&alice, ADD, &room, &m, "❤️").await;
    // The same reaction again changes nothing.
    let again = react(&bob, ADD, &room, &m, "👍").await;
    assert_eq!(again["data"]["addReaction"]["version"], 4);
    assert_eq!(
        reactions_seen_by(&bob, &room).await,
        json!([
            { "emoji": "👍", "count": 2, "reacted": true },
            { "emoji": "❤️", "count": 1, "reacted": false },
        ])
    );
    assert_eq!(
        reactions_seen_by(&alice, &room).await,
        json!([
            { "emoji": "👍", "count": 2, "reacted": true },
            { "emoji": "❤️", "count": 1, "reacted": true },
        ])
    );
    // Taking one off, twice: once is enough.
    react(&bob, REMOVE, &room, &m, "👍").await;
    let out = react(&bob, REMOVE, &room, &m, "👍").await;
    assert_eq!(
        out["data"]["removeReaction"]["reactions"],
        json!([
            { "emoji": "👍", "count": 1, "reacted": false },
            { "emoji": "❤️", "count": 1, "reacted": false },
        ])
    );
    // The last one off a reaction removes it.
    react(&alice, REMOVE, &room, &m, "❤️").await;
    assert_eq!(
        reactions_seen_by(&alice, &room).await,
        json!([{ "emoji": "👍", "count": 1, "reacted": true }])
    );

    // Who and what may not.
    assert_eq!(
        error_type(&react(&carol, ADD, &room, &m, "👍").await),
        "Unauthorized"
    );
    assert_eq!(
        error_type(&react(&bob, ADD, &room, "nope", "👍").await),
        "NotFound"
    );
    for bad in ["", "a", "👍👍", "ok", " "] {
        assert_eq!(
            error_type(&react(&bob, ADD, &room, &m, bad).await),
            "ValidationError",
            "{bad:?}"
        );
    }
    // A tombstone takes none, and deleting clears them.
    alice
        .ok(
            "mutation($c: ID!, $m: ID!) { deleteMessage(input: {id: $m, messageConversationId: $c}) { id } }",
            json!({ "c": room, "m": m }),
        )
        .await;
    assert_eq!(reactions_seen_by(&bob, &room).await, json!([]));
    assert_eq!(
        error_type(&react(&bob, ADD, &room, &m, "👍").await),
        "Conflict"
    );
}

#[tokio::test]
async fn reactions_per_user_and_per_message_are_capped_at_their_edges() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let dave = stack.user("dave").await;
    let eve = stack.user("eve").await;
    let room = convo(&alice, "room", &[&bob, &carol, &dave, &eve]).await;
    let m = post(&alice, &room, "cap me").await;
    // One user: at most MAX_REACTIONS_PER_USER.
    for emoji in &EMOJIS[..MAX_REACTIONS_PER_USER] {
        assert_eq!(
            error_type(&react(&bob, ADD, &room, &m, emoji).await),
            "none"
        );
    }
    let over = EMOJIS[MAX_REACTIONS_PER_USER];
    assert_eq!(
        error_type(&react(&bob, ADD, &room, &m, over).await),
        "LimitExceeded"
    );
    // One message: at most MAX_REACTION_KINDS different ones, from anyone.
    let users = [&alice, &carol, &dave, &eve];
    let mut kinds = MAX_REACTIONS_PER_USER;
    for (i, emoji) in EMOJIS[MAX_REACTIONS_PER_USER..MAX_REACTION_KINDS]
        .iter()
        .enumerate()
    {
        let who = users[i / MAX_REACTIONS_PER_USER];
        assert_eq!(error_type(&react(who, ADD, &room, &m, emoji).await), "none");
        kinds += 1;
    }
    assert_eq!(kinds, MAX_REACTION_KINDS);
    let out = react(&eve, ADD, &room, &m, EMOJIS[MAX_REACTION_KINDS]).await;
    assert_eq!(error_type(&out), "LimitExceeded", "{out}");
    // An existing one can still be added to.
    assert_eq!(
        error_type(&react(&eve, ADD, &room, &m, EMOJIS[0]).await),
        "none"
    );
}

#[tokio::test]
async fn reactions_are_pushed_as_each_subscriber_sees_them() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let doc = "subscription($c: ID!) { onMessageChange(conversationId: $c) { kind message { id version reactions { emoji count reacted } } } }";
    let mut alice_ws = stack.ws(&alice).await;
    let mut bob_ws = stack.ws(&bob).await;
    for ws in [&mut alice_ws, &mut bob_ws] {
        ws.subscribe("changes", doc, json!({ "c": room })).await;
        ws.sync().await;
    }
    let m = post(&alice, &room, "hi").await;
    react(&bob, ADD, &room, &m, "👍").await;
    let next = |event: WsEvent| match event {
        WsEvent::Message(m) if m["type"] == "next" => {
            m["payload"]["data"]["onMessageChange"].clone()
        }
        other => panic!("expected a change, got {other:?}"),
    };
    for (ws, reacted) in [(&mut alice_ws, false), (&mut bob_ws, true)] {
        let created = next(ws.next().await);
        assert_eq!(created["kind"], "CREATED");
        assert_eq!(created["message"]["reactions"], json!([]));
        let reacted_to = next(ws.next().await);
        assert_eq!(reacted_to["kind"], "REACTED");
        assert_eq!(reacted_to["message"]["version"], 2);
        assert_eq!(
            reacted_to["message"]["reactions"],
            json!([{ "emoji": "👍", "count": 1, "reacted": reacted }])
        );
    }
    // A repeated reaction pushes nothing.
    react(&bob, ADD, &room, &m, "👍").await;
    assert_eq!(
        bob_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
}

#[tokio::test]
async fn a_page_of_messages_brings_its_reactions_at_no_request_per_message() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    for i in 0..100 {
        let m = post(&alice, &room, &format!("m{i}")).await;
        if i % 10 == 0 {
            react(&bob, ADD, &room, &m, "👍").await;
        }
    }
    let page = "query($c: ID!) { getConvo(id: $c) { messages(limit: 100) { items { id reactions { emoji count reacted } } } } }";
    let (out, invocations, requests) = stack.cost(bob.ok(page, json!({ "c": room }))).await;
    let items = out["getConvo"]["messages"]["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 100);
    assert_eq!(
        items
            .iter()
            .filter(|m| m["reactions"] == json!([{ "emoji": "👍", "count": 1, "reacted": true }]))
            .count(),
        10
    );
    assert_eq!(invocations, 1);
    // GetItem (the reader's standing) + BatchGetItem (membership and
    // conversation) + Query (the page) + GetItem (the reader's block list).
    assert_eq!(requests, 4);
    // Reacting: the same GetItem, then BatchGetItem + TransactWriteItems +
    // Query (subscribers) + Query (the author's blockers, beside it); a
    // repeat, the reads only.
    let m = items[1]["id"].as_str().unwrap().to_string();
    let (_, _, requests) = stack.cost(react(&bob, ADD, &room, &m, "🎉")).await;
    assert_eq!(requests, 5);
    let (_, _, requests) = stack.cost(react(&bob, ADD, &room, &m, "🎉")).await;
    assert_eq!(requests, 2);
}

/// A message of the longest content, with the most mentions, that users
/// with ids as long as Cognito's (36 characters) have reacted to one short of
/// the cap: the last reaction it takes is written, and the next is
/// `LimitExceeded`. (With ids of the 128-character limit the row fits by
/// DynamoDB's documented size rules, about 350 KB, and the embedded engine
/// takes it; DynamoDB Local counts such an item as larger than 400 KB.)
#[tokio::test]
async fn a_message_takes_at_most_max_reactions_in_all() {
    use chat_domain::limits::{MAX_CONTENT_CHARS, MAX_MENTIONS, MAX_REACTIONS_PER_MESSAGE};
    use chat_domain::MessageStore;
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob, &carol]).await;
    let longest = |i: usize| format!("{i:0>36}");
    let emojis = &EMOJIS[..MAX_REACTIONS_PER_USER];
    let fans = (MAX_REACTIONS_PER_MESSAGE - 1) / emojis.len();
    assert_eq!(fans * emojis.len(), MAX_REACTIONS_PER_MESSAGE - 1);
    let seq = chat_domain::clock::next_seq();
    let content = "𝄞".repeat(MAX_CONTENT_CHARS);
    let mut change = chat_domain::MessageChange::created(
        &room,
        "m1",
        &alice.id,
        &content,
        &seq,
        &chat_domain::clock::now(),
    );
    change.message.mentions = (0..MAX_MENTIONS).map(longest).collect();
    change.message.reactions = emojis
        .iter()
        .map(|emoji| chat_domain::Reaction {
            emoji: emoji.to_string(),
            users: (0..fans).map(longest).collect(),
        })
        .collect();
    let store = stack.store().await;
    store.put_message(&change, 0).await.unwrap();

    let out = react(&bob, ADD, &room, "m1", EMOJIS[0]).await;
    assert_eq!(error_type(&out), "none", "{out}");
    let total: u64 = out["data"]["addReaction"]["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, MAX_REACTIONS_PER_MESSAGE as u64);
    let out = react(&carol, ADD, &room, "m1", EMOJIS[0]).await;
    assert_eq!(error_type(&out), "LimitExceeded", "{out}");
    // Taking one off makes room for another.
    let out = react(&bob, REMOVE, &room, "m1", EMOJIS[0]).await;
    assert_eq!(error_type(&out), "none", "{out}");
    let out = react(&carol, ADD, &room, "m1", EMOJIS[1]).await;
    assert_eq!(error_type(&out), "none", "{out}");
    assert_eq!(
        reactions_seen_by(&carol, &room).await[1],
        json!({ "emoji": EMOJIS[1], "count": fans + 1, "reacted": true })
    );
}
