//! What each operation costs: function invocations and DynamoDB requests,
//! counted at the SDK (retries included). schema/TABLES.md states these
//! numbers; this test holds them. Every request first reads the caller's
//! standing (one GetItem: no suspension or ban bars them), and every read
//! of messages the caller's block list (one GetItem). The functions that write push what they
//! write: one Query on its topic's subscribers per new row, and for a
//! message that had a subscriber, one UpdateItem that records the push
//! done. A message's write is one TransactWriteItems with its change-log
//! entry; what a new message costs for the inbox is held by `inbox::an_inbox_page_and_a_message_cost_what_the_table_says`.

use chat_tests::{convo, post, Stack};
use serde_json::json;

#[tokio::test]
async fn invocations_and_dynamodb_requests_per_operation() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let id = convo(&alice, "room", &[&bob]).await;
    let start = alice
        .ok(
            "query($c: ID!) { messageChanges(conversationId: $c) { cursor } }",
            json!({ "c": id }),
        )
        .await["messageChanges"]["cursor"]
        .clone();
    for i in 0..3 {
        post(&alice, &id, &format!("a{i}")).await;
        post(&bob, &id, &format!("b{i}")).await;
    }
    let dave = stack.client("dave").await;
    let retried = "mutation($c: ID!) { createMessage(input: {id: \"retried\", content: \"x\", messageConversationId: $c}) { id } }";
    alice.ok(retried, json!({ "c": id })).await;
    let editable = "mutation($c: ID!) { createMessage(input: {id: \"editable\", content: \"x\", messageConversationId: $c}) { id } }";
    alice.ok(editable, json!({ "c": id })).await;
    let edit = "mutation($c: ID!) { updateMessage(input: {id: \"editable\", messageConversationId: $c, content: \"edited\"}) { version } }";
    let delete = "mutation($c: ID!) { deleteMessage(input: {id: \"editable\", messageConversationId: $c}) { version } }";

    let cases: Vec<(&str, &chat_tests::Client, &str, serde_json::Value, u64)> = vec![
        ("createUser (new)", &dave, "mutation { createUser(input: {username: \"dave\"}) { id } }", json!({}), 4),
        ("createUser (retry)", &dave, "mutation { createUser(input: {username: \"dave\"}) { id } }", json!({}), 2),
        ("createConvo", &alice, "mutation($m: [String!]!) { createConvo(input: {name: \"n\", members: $m}) { id } }", json!({ "m": [bob.id, carol.id] }), 9),
        ("createConvoLink", &alice, "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }", json!({ "c": id, "u": carol.id }), 6),
        ("createConvoLink + conversation", &alice, "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id conversation { name } } }", json!({ "c": id, "u": dave.id }), 7),
        ("createMessage (retry, same id)", &alice, retried, json!({ "c": id }), 5),
        ("getUser", &alice, "query($u: ID!) { getUser(id: $u) { username } }", json!({ "u": bob.id }), 2),
        ("getUser + conversations", &alice, "query($u: ID!) { getUser(id: $u) { conversations { items { id } } } }", json!({ "u": alice.id }), 3),
        ("getUser + conversations + names", &alice, "query($u: ID!) { getUser(id: $u) { conversations { items { conversation { name } } } } }", json!({ "u": alice.id }), 4),
        ("getConvo", &alice, "query($c: ID!) { getConvo(id: $c) { name } }", json!({ "c": id }), 2),
        ("getConvo + messages", &alice, "query($c: ID!) { getConvo(id: $c) { messages { items { content } } } }", json!({ "c": id }), 4),
        ("getConvo + messages + authors + links + users", &alice, "query($c: ID!) { getConvo(id: $c) { messages { items { author { username } } } associated { items { user { username } } } } }", json!({ "c": id }), 6),
        ("listUsers", &alice, "{ listUsers { items { username } } }", json!({}), 2),
        ("me", &alice, "{ me { username } }", json!({}), 2),
        ("allMessageConnection", &alice, "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id } } }", json!({ "c": id }), 4),
        ("updateMessage", &alice, edit, json!({ "c": id }), 5),
        ("updateMessage (retry, same content)", &alice, edit, json!({ "c": id }), 2),
        ("deleteMessage", &alice, delete, json!({ "c": id }), 5),
        ("deleteMessage (retry)", &alice, delete, json!({ "c": id }), 2),
        ("messageChanges (where to start)", &alice, "query($c: ID!) { messageChanges(conversationId: $c) { cursor } }", json!({ "c": id }), 2),
        ("messageChanges (a page)", &alice, "query($c: ID!, $a: String) { messageChanges(conversationId: $c, after: $a, limit: 100) { items { kind message { content } } } }", json!({ "c": id, "a": start }), 4),
        ("allMessageConnection + authors", &alice, "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { author { username } } } }", json!({ "c": id }), 5),
    ];
    for (name, client, doc, vars, expected_requests) in cases {
        let (_, invocations, requests) = stack.cost(client.ok(doc, vars)).await;
        assert_eq!(invocations, 1, "{name}: one function invocation");
        assert_eq!(requests, expected_requests, "{name}: DynamoDB requests");
    }

    // A message: GetItem (standing) + BatchGetItem + UpdateItem (the
    // author's rate count, beside it) + TransactWriteItems + Query
    // (subscribers) and Query (the author's blockers, beside it), and with anyone
    // subscribed, UpdateItem (the push done). The one before
    // claims the inbox window, so neither of these moves the inboxes.
    post(&alice, &id, "claims the window").await;
    let message = "mutation($c: ID!) { createMessage(input: {content: \"x\", messageConversationId: $c}) { id } }";
    let (_, _, requests) = stack.cost(alice.ok(message, json!({ "c": id }))).await;
    assert_eq!(requests, 6, "createMessage, nobody subscribed");
    let mut ws = stack.ws(&bob).await;
    crate::realtime::watch_room(&mut ws, "1", &id).await;
    // The first push to a document new to the function reads the topic's
    // subscribers again, whole (schema/TABLES.md, *Pushing*).
    let (_, _, requests) = stack.cost(alice.ok(message, json!({ "c": id }))).await;
    assert_eq!(
        requests, 8,
        "createMessage, a subscription new to the writer"
    );
    let (_, _, requests) = stack.cost(alice.ok(message, json!({ "c": id }))).await;
    assert_eq!(requests, 7, "createMessage, a subscriber");
    ws.close().await;
}

/// Reports: after the caller's standing, a reporter's request is its read,
/// its rate count and one write; a moderator's are one request each.
#[tokio::test]
async fn reports_cost_what_the_table_says() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let mo = stack.moderator("mo").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let id = post(&bob, &room, "reported").await;
    let cases = [
        // BatchGetItem (link, conversation, message) + UpdateItem (rate) + UpdateItem (the report).
        (&alice, "mutation($c: ID!, $m: ID!) { reportMessage(input: {messageConversationId: $c, messageId: $m, reason: SPAM}) { reportId } }", json!({ "c": room, "m": id }), 3),
        // GetItem (the user) + UpdateItem (rate) + UpdateItem (the report).
        (&alice, "mutation($u: ID!) { reportUser(input: {userId: $u, reason: SPAM}) { reportId } }", json!({ "u": bob.id }), 3),
        // Query (the open reports' index).
        (&mo, "{ openReports { items { id } } }", json!({}), 1),
        // TransactWriteItems (the report closed, the audit log's entry) + GetItem (the report).
        (&mo, "mutation($r: ID!) { dismissReport(reportId: $r) { id } }", json!({ "r": format!("user:{}", bob.id) }), 2),
        // BatchGetItem (conversation, message) + TransactWriteItems (the
        // tombstone, its change-log and audit-log entries) + Query
        // (subscribers) + Query (the author's blockers, who get no push).
        (&mo, "mutation($c: ID!, $m: ID!) { removeMessage(input: {id: $m, messageConversationId: $c}) { id } }", json!({ "c": room, "m": id }), 4),
        // Query (the audit log's index).
        (&mo, "{ auditLog { items { id } } }", json!({}), 1),
    ];
    for (client, doc, vars, expected) in cases {
        let (_, invocations, requests) = stack.cost(client.ok(doc, vars)).await;
        // Each one also reads the caller's standing first.
        assert_eq!((invocations, requests), (1, 1 + expected), "{doc}");
    }
}

/// `GET /local/stats` (what `make bench` reads) counts both sides: the query
/// and mutation functions, and the real-time ones.
#[tokio::test]
async fn local_stats_count_resolvers_and_realtime_functions() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "stats", &[]).await;
    let mut ws = stack.ws(&alice).await;
    crate::realtime::watch_room(&mut ws, "1", &room).await;
    let stats: serde_json::Value = reqwest::get(format!("{}/local/stats", stack.running.base_url))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON");
    assert_eq!(stats["invocations"]["create-user"], 1);
    assert_eq!(stats["invocations"]["create-convo"], 1);
    assert!(stats["dynamodbRequests"]["TransactWriteItems"].as_u64() >= Some(2));
    // $connect, connection_init, subscribe and ping.
    assert_eq!(stats["realtime"]["invocations"]["ws-connection"], 4);
    let realtime_requests: u64 = stats["realtime"]["dynamodbRequests"]
        .as_object()
        .expect("realtime request counts")
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    // The connection row, its initialisation and the subscription row.
    assert!(realtime_requests >= 3, "{stats}");
    ws.close().await;
}
