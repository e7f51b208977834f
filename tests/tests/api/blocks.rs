//! Blocks over HTTP and the WebSocket, on both engines: the blocker no
//! longer sees the blocked user's messages on any read path (history,
//! nested history, catch-up, inbox preview and unread count, live
//! delivery); the blocked user cannot start a conversation with the
//! blocker or add them, and is not told; only the blocker reads the list.

use std::time::Duration;

use chat_tests::{convo, post, Stack, WsEvent};
use serde_json::{json, Value};

const BLOCK: &str = "mutation($u: ID!) { blockUser(userId: $u) { userId blockedAt } }";
const UNBLOCK: &str = "mutation($u: ID!) { unblockUser(userId: $u) }";
const BLOCKED: &str = "query { blockedUsers { userId blockedAt } }";
const HISTORY: &str =
    "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { authorId content } } }";
const NESTED: &str =
    "query($c: ID!) { getConvo(id: $c) { messages(limit: 100) { items { authorId content } } } }";
const CHANGES: &str = "query($c: ID!, $a: String) { messageChanges(conversationId: $c, after: $a, limit: 100) { cursor items { message { authorId content } } } }";
const INBOX: &str =
    "query { inbox { items { conversationId unreadCount lastMessage { authorId content } } } }";
const ON_CREATE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { authorId content } }";
const CREATE_CONVO: &str =
    "mutation($m: [String!]!) { createConvo(input: {name: \"hi\", members: $m}) { id } }";
const ADD: &str = "mutation($c: ID!, $u: ID!) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { convoLinkUserId } }";

fn authors(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["authorId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_blocked_users_messages_are_absent_from_every_read_path_of_the_blocker() {
    let stack = Stack::start().await;
    let ann = stack.user("ann").await;
    let ben = stack.user("ben").await;
    let cat = stack.user("cat").await;
    let room = convo(&cat, "room", &[&ann, &ben]).await;
    post(&ben, &room, "before the block").await;
    let start = ann.ok(CHANGES, json!({ "c": room })).await["messageChanges"]["cursor"].clone();
    let mut ann_ws = stack.ws(&ann).await;
    ann_ws.subscribe("s", ON_CREATE, json!({ "c": room })).await;
    ann_ws.sync().await;

    let entry = ann.ok(BLOCK, json!({ "u": ben.id })).await["blockUser"].clone();
    assert_eq!(entry["userId"], ben.id.as_str());
    // Idempotent.
    let again = ann.ok(BLOCK, json!({ "u": ben.id })).await["blockUser"].clone();
    assert_eq!(again, entry);

    post(&ben, &room, "after the block").await;
    post(&cat, &room, "from cat").await;
    // Live: Cat's message comes, Ben's never does.
    match ann_ws.next_within(Duration::from_secs(10)).await {
        WsEvent::Message(m) => {
            assert_eq!(
                m["payload"]["data"]["onCreateMessage"]["content"], "from cat",
                "{m}"
            )
        }
        other => panic!("expected Cat's message, got {other:?}"),
    }
    // History, nested history and catch-up: only Cat's.
    let cat_only = vec![cat.id.clone()];
    let out = ann.ok(HISTORY, json!({ "c": room })).await;
    assert_eq!(authors(&out["allMessageConnection"]["messages"]), cat_only);
    let out = ann.ok(NESTED, json!({ "c": room })).await;
    assert_eq!(authors(&out["getConvo"]["messages"]["items"]), cat_only);
    let out = ann.ok(CHANGES, json!({ "c": room, "a": start })).await;
    let changed: Vec<Value> = out["messageChanges"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].clone())
        .collect();
    assert_eq!(authors(&Value::Array(changed)), cat_only);
    // Inbox: the preview is Cat's, and Ben's messages are not unread.
    let out = ann.ok(INBOX, json!({})).await;
    let item = &out["inbox"]["items"][0];
    assert_eq!(item["lastMessage"]["authorId"], cat.id.as_str(), "{out}");
    assert_eq!(item["unreadCount"], 1, "{out}");
    // Cat sees everything; Ben sees everything and is not told.
    let out = cat.ok(HISTORY, json!({ "c": room })).await;
    assert_eq!(authors(&out["allMessageConnection"]["messages"]).len(), 3);
    assert_eq!(ben.ok(BLOCKED, json!({})).await["blockedUsers"], json!([]));
    let listed = ann.ok(BLOCKED, json!({})).await;
    assert_eq!(listed["blockedUsers"], json!([entry]));

    // Unblocked: everything is back.
    assert_eq!(
        ann.ok(UNBLOCK, json!({ "u": ben.id })).await["unblockUser"],
        true
    );
    assert_eq!(
        ann.ok(UNBLOCK, json!({ "u": ben.id })).await["unblockUser"],
        false
    );
    let out = ann.ok(HISTORY, json!({ "c": room })).await;
    assert_eq!(authors(&out["allMessageConnection"]["messages"]).len(), 3);
}

#[tokio::test]
async fn a_blocked_user_cannot_start_a_conversation_with_the_blocker_or_add_them() {
    let stack = Stack::start().await;
    let ann = stack.user("ann").await;
    let ben = stack.user("ben").await;
    let cat = stack.user("cat").await;
    ann.ok(BLOCK, json!({ "u": ben.id })).await;
    let out = ben.send(CREATE_CONVO, json!({ "m": [ann.id] })).await;
    assert_eq!(out["errors"][0]["errorType"], "Unauthorized", "{out}");
    // The refusal does not say why.
    assert!(!out.to_string().contains("block"), "{out}");
    let room = convo(&ben, "room", &[&cat]).await;
    let out = ben.send(ADD, json!({ "c": room, "u": ann.id })).await;
    assert_eq!(out["errors"][0]["errorType"], "Unauthorized", "{out}");
    // Another member may add Ann, and Ann may start one with Ben.
    cat.ok(ADD, json!({ "c": room, "u": ann.id })).await;
    ann.ok(CREATE_CONVO, json!({ "m": [ben.id] })).await;
    // Edges: not oneself, not nobody.
    let out = ann.send(BLOCK, json!({ "u": ann.id })).await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError", "{out}");
    let out = ann.send(BLOCK, json!({ "u": "nobody" })).await;
    assert_eq!(out["errors"][0]["errorType"], "NotFound", "{out}");
}
