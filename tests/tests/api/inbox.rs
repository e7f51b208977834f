//! The inbox: conversations by last activity with their newest message and
//! the caller's unread count, read markers that only move forward and are
//! pushed, and what each costs.

use std::time::Duration;

use chat_domain::limits::MAX_UNREAD_COUNT;
use chat_tests::{convo, post, Client, Stack, WsEvent};
use serde_json::{json, Value};

const INBOX: &str = "query($l: Int, $t: String) { inbox(limit: $l, nextToken: $t) { nextToken items { conversationId name members unreadCount moreUnread lastReadMessageId lastMessage { id content deletedAt author { username } } } } }";
const MARK: &str = "mutation($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { conversationId userId messageId seq } }";

async fn inbox(client: &Client) -> Vec<Value> {
    client.ok(INBOX, json!({})).await["inbox"]["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["conversationId"].as_str().unwrap().to_string())
        .collect()
}

fn entry<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["conversationId"] == id)
        .expect("in the inbox")
}

#[tokio::test]
async fn the_inbox_is_ordered_by_activity_with_previews_and_unread_counts() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let a = convo(&alice, "a", &[&bob]).await;
    let b = convo(&bob, "b", &[&alice]).await;
    let c = convo(&alice, "c", &[&carol]).await;
    // Newest first: the last one joined is on top; none has a message yet.
    let items = inbox(&alice).await;
    assert_eq!(ids(&items), [c.clone(), b.clone(), a.clone()]);
    assert!(items
        .iter()
        .all(|i| i["lastMessage"].is_null() && i["unreadCount"] == 0));
    assert_eq!(entry(&items, &b)["name"], "b");
    assert_eq!(
        entry(&items, &b)["members"],
        json!([bob.id.as_str(), alice.id.as_str()])
    );
    assert!(
        inbox(&carol).await.len() == 1,
        "only one's own conversations"
    );

    // Activity moves a conversation up.
    for i in 0..3 {
        post(&bob, &a, &format!("a{i}")).await;
    }
    let items = inbox(&alice).await;
    assert_eq!(ids(&items), [a.clone(), c.clone(), b.clone()]);
    let top = &items[0];
    assert_eq!(top["unreadCount"], 3);
    assert_eq!(top["moreUnread"], false);
    assert_eq!(top["lastMessage"]["content"], "a2");
    assert_eq!(top["lastMessage"]["author"]["username"], "bob");
    // The author has read what they posted.
    assert_eq!(entry(&inbox(&bob).await, &a)["unreadCount"], 0);

    post(&carol, &c, "c0").await;
    assert_eq!(ids(&inbox(&alice).await), [c.clone(), a.clone(), b.clone()]);

    // One's own message is not unread, and reads up to it.
    post(&alice, &a, "mine").await;
    let items = inbox(&alice).await;
    assert_eq!(entry(&items, &a)["unreadCount"], 0);
    assert_eq!(entry(&items, &a)["lastMessage"]["content"], "mine");
    assert_eq!(entry(&inbox(&bob).await, &a)["unreadCount"], 1);

    // A deleted message is not unread; the preview is its tombstone.
    let gone = post(&carol, &c, "to delete").await;
    carol
        .ok(
            "mutation($c: ID!, $m: ID!) { deleteMessage(input: {id: $m, messageConversationId: $c}) { id } }",
            json!({ "c": c, "m": gone }),
        )
        .await;
    let items = inbox(&alice).await;
    assert_eq!(
        entry(&items, &c)["unreadCount"],
        1,
        "c0; the tombstone does not count"
    );
    assert!(entry(&items, &c)["lastMessage"]["deletedAt"].is_string());

    // Pages of at most 20, resumed by nextToken, never skip or repeat.
    let first = alice.ok(INBOX, json!({ "l": 2 })).await["inbox"].clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let rest = alice
        .ok(INBOX, json!({ "l": 2, "t": first["nextToken"] }))
        .await["inbox"]
        .clone();
    let mut all = ids(first["items"].as_array().unwrap());
    all.extend(ids(rest["items"].as_array().unwrap()));
    all.sort();
    let mut expected = vec![a.clone(), b.clone(), c.clone()];
    expected.sort();
    assert_eq!(all, expected);
    for bad in [
        json!({ "l": 0 }),
        json!({ "l": 21 }),
        json!({ "t": "forged" }),
    ] {
        assert_eq!(
            alice.error_type(INBOX, bad.clone()).await,
            "ValidationError",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn read_markers_move_forward_only_are_idempotent_and_pushed() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let sent: Vec<String> = {
        let mut sent = Vec::new();
        for i in 0..3 {
            sent.push(post(&bob, &room, &format!("m{i}")).await);
        }
        sent
    };
    // Alice's other device and Bob watch the room's read markers.
    let doc = "subscription($c: ID!) { onReadMarker(conversationId: $c) { userId messageId } }";
    let mut bob_ws = stack.ws(&bob).await;
    let mut alice_phone = stack.ws(&alice).await;
    for ws in [&mut bob_ws, &mut alice_phone] {
        ws.subscribe("read", doc, json!({ "c": room })).await;
        ws.sync().await;
    }

    let marked = alice.ok(MARK, json!({ "c": room, "m": sent[1] })).await["markRead"].clone();
    assert_eq!(marked["messageId"], sent[1].as_str());
    assert_eq!(marked["userId"], alice.id.as_str());
    for ws in [&mut bob_ws, &mut alice_phone] {
        match ws.next().await {
            WsEvent::Message(m) => assert_eq!(
                m["payload"]["data"]["onReadMarker"],
                json!({ "userId": alice.id, "messageId": sent[1] })
            ),
            other => panic!("expected the marker, got {other:?}"),
        }
    }
    let items = inbox(&alice).await;
    assert_eq!(items[0]["unreadCount"], 1);
    assert_eq!(items[0]["lastReadMessageId"], sent[1].as_str());

    // Backwards, or the same again: no change, no push; the marker as it stands.
    for m in [&sent[0], &sent[1]] {
        let out = alice.ok(MARK, json!({ "c": room, "m": m })).await["markRead"].clone();
        assert_eq!(out["messageId"], sent[1].as_str());
    }
    assert_eq!(
        bob_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
    assert_eq!(inbox(&alice).await[0]["unreadCount"], 1);

    // Who may, and what.
    assert_eq!(
        carol
            .error_type(MARK, json!({ "c": room, "m": sent[2] }))
            .await,
        "Unauthorized"
    );
    assert_eq!(
        alice
            .error_type(MARK, json!({ "c": room, "m": "nope" }))
            .await,
        "NotFound"
    );
    assert_eq!(
        alice.error_type(MARK, json!({ "c": room, "m": "" })).await,
        "ValidationError"
    );
}

#[tokio::test]
async fn unread_counts_stop_at_the_cap() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    for i in 0..MAX_UNREAD_COUNT {
        post(&bob, &room, &format!("m{i}")).await;
    }
    let items = inbox(&alice).await;
    assert_eq!(items[0]["unreadCount"], MAX_UNREAD_COUNT);
    assert_eq!(items[0]["moreUnread"], false);
    post(&bob, &room, "one more").await;
    let items = inbox(&alice).await;
    assert_eq!(items[0]["unreadCount"], MAX_UNREAD_COUNT);
    assert_eq!(items[0]["moreUnread"], true);
}

#[tokio::test]
async fn an_inbox_page_and_a_message_cost_what_the_table_says() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob, &carol]).await;
    let doc = "mutation($c: ID!) { createMessage(input: {content: \"x\", messageConversationId: $c}) { id } }";
    // The first message after a quiet spell moves the room up in its three
    // members' inboxes: BatchGetItem + TransactWriteItems + Query
    // (subscribers) + UpdateItem (push done) + UpdateItem (the window's
    // claim) + 3 UpdateItems (the links) + UpdateItem (the author's marker).
    let (_, _, first) = stack.cost(alice.ok(doc, json!({ "c": room }))).await;
    assert_eq!(first, 9);
    // The next, within the window: the claim fails, no link is written.
    let (_, _, next) = stack.cost(alice.ok(doc, json!({ "c": room }))).await;
    assert_eq!(next, 6);
    convo(&alice, "two", &[&bob]).await;
    convo(&alice, "three", &[&bob]).await;
    // Query (links by activity) + BatchGetItem (conversations) + 2 per
    // conversation (its newest message, its unread count) + BatchGetItem
    // (the previews' authors, which INBOX selects).
    let (_, invocations, page) = stack.cost(alice.ok(INBOX, json!({}))).await;
    assert_eq!(invocations, 1);
    assert_eq!(page, 2 + 2 * 3 + 1);
    // BatchGetItem (link, conversation, message) + UpdateItem + Query (subscribers).
    let last = post(&bob, &room, "read me").await;
    let (_, _, mark) = stack
        .cost(alice.ok(MARK, json!({ "c": room, "m": last })))
        .await;
    assert_eq!(mark, 3);
}
