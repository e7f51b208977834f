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
    // Within a page the order is exact at every message.
    post(&bob, &b, "b0").await;
    post(&bob, &a, "a3").await;
    assert_eq!(ids(&inbox(&alice).await), [a.clone(), b.clone(), c.clone()]);
    post(&carol, &c, "c1").await;
    assert_eq!(ids(&inbox(&alice).await), [c.clone(), a.clone(), b.clone()]);

    // One's own message is not unread, and reads up to it.
    post(&alice, &a, "mine").await;
    let items = inbox(&alice).await;
    assert_eq!(entry(&items, &a)["unreadCount"], 0);
    assert_eq!(entry(&items, &a)["lastMessage"]["content"], "mine");
    assert_eq!(entry(&inbox(&bob).await, &a)["unreadCount"], 1);
    assert_eq!(entry(&inbox(&alice).await, &a)["unreadCount"], 0);

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
        2,
        "c0 and c1; the tombstone does not count"
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
    // The first message of a window moves the conversation up in its three
    // members' inboxes: GetItem (the author's standing) + BatchGetItem
    // (membership + conversation) + UpdateItem (the author's rate count) +
    // TransactWriteItems (the message, its change-log entry, the author's
    // read marker) + Query (subscribers; nobody is, so there is no push to
    // record done) + Query (the author's blockers) + UpdateItem (the
    // window's claim) + 3 UpdateItems (the links).
    let (_, _, first) = stack.cost(alice.ok(doc, json!({ "c": room }))).await;
    assert_eq!(first, 10);
    // The next ones within the window: the conversation as read shows the
    // window claimed, so no claim and no link.
    for _ in 0..2 {
        let (_, _, requests) = stack.cost(alice.ok(doc, json!({ "c": room }))).await;
        assert_eq!(requests, 6);
    }
    convo(&alice, "two", &[&bob]).await;
    convo(&alice, "three", &[&bob]).await;
    // GetItem (standing) + Query (links by activity) + GetItem (the block
    // list, beside it) + BatchGetItem (conversations) + 2 per conversation
    // (its newest message, its unread count) + BatchGetItem (the previews'
    // authors, which INBOX selects).
    let (_, invocations, page) = stack.cost(alice.ok(INBOX, json!({}))).await;
    assert_eq!(invocations, 1);
    assert_eq!(page, 1 + 3 + 2 * 3 + 1);
    // GetItem (standing) + BatchGetItem (link, conversation, message) +
    // UpdateItem + Query (subscribers).
    let last = post(&bob, &room, "read me").await;
    let (_, _, mark) = stack
        .cost(alice.ok(MARK, json!({ "c": room, "m": last })))
        .await;
    assert_eq!(mark, 4);
}

/// A conversation moves up in its members' activity index at its first
/// message after a quiet spell: N writes per window, whatever its message
/// rate. A page is ordered by the newest messages it reads, so it is exact
/// whatever the index says; only across pages is the order exact to within
/// the window.
#[tokio::test]
async fn a_conversation_moves_up_once_per_window_and_a_page_is_exact() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(stack.user(&format!("member{i}")).await);
    }
    let refs: Vec<&Client> = others.iter().collect();
    let big = convo(&alice, "big", &refs).await;
    let small = convo(&alice, "small", &[&others[0]]).await;
    let members = refs.len() as u64 + 1;
    let doc = "mutation($c: ID!) { createMessage(input: {content: \"x\", messageConversationId: $c}) { id } }";
    // The first: + UpdateItem (the window's claim) + one per member (with
    // nobody subscribed, a message alone is 6).
    let (_, _, first) = stack.cost(alice.ok(doc, json!({ "c": big }))).await;
    assert_eq!(first, 6 + 1 + members);
    assert_eq!(ids(&inbox(&alice).await), [big.clone(), small.clone()]);
    post(&alice, &small, "small").await;
    assert_eq!(ids(&inbox(&alice).await), [small.clone(), big.clone()]);
    // The next, within the window: no claim and no link moves, so the
    // index keeps the big conversation below the small one for up to
    // 10 s ...
    let (_, _, next) = stack.cost(alice.ok(doc, json!({ "c": big }))).await;
    assert_eq!(next, 6);
    let page = |t: Value| {
        let alice = &alice;
        async move { alice.ok(INBOX, json!({ "l": 1, "t": t })).await["inbox"].clone() }
    };
    let one = page(Value::Null).await;
    assert_eq!(ids(one["items"].as_array().unwrap()), [small.as_str()]);
    let two = page(one["nextToken"].clone()).await;
    assert_eq!(ids(two["items"].as_array().unwrap()), [big.as_str()]);
    // ... but a page that holds both orders them by their newest messages.
    assert_eq!(ids(&inbox(&alice).await), [big.clone(), small.clone()]);
    // Previews and counts are exact whatever the order.
    let items = inbox(&others[1]).await;
    assert_eq!(entry(&items, &big)["unreadCount"], 2);
}
