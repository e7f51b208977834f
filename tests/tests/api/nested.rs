//! Every field the schema exposes resolves wherever it appears, with the
//! same authorization at every level, at a cost that grows with the depth of
//! a query and the connections it opens, never with the number of items.

use chat_tests::{convo, post, Client, Stack};
use serde_json::{json, Value};

/// Alice and Bob in "room", with a message from each.
async fn room(stack: &Stack) -> (Client, Client, String) {
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    post(&alice, &room, "from alice").await;
    post(&bob, &room, "from bob").await;
    (alice, bob, room)
}

fn items(value: &Value) -> &Vec<Value> {
    value["items"].as_array().expect("a page of items")
}

#[tokio::test]
async fn every_field_resolves_at_depth_two_three_and_four() {
    let stack = Stack::start().await;
    let (alice, bob, room) = room(&stack).await;

    // ChatQL's conversation list: `me { conversations }`.
    let me = alice
        .ok(
            "{ me { id conversations(limit: 10) { items { id conversation { id name } } } } }",
            json!({}),
        )
        .await;
    let links = items(&me["me"]["conversations"]);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["conversation"]["name"], "room");

    // A user's conversations, their messages with authors, and their members.
    let deep = alice
        .ok(
            "query($id: ID!) { getUser(id: $id) { conversations { items { conversation {
                 messages { items { content author { username } } }
                 associated { items { user { username } } }
               } } } } }",
            json!({ "id": alice.id }),
        )
        .await;
    let convo = &items(&deep["getUser"]["conversations"])[0]["conversation"];
    let messages: Vec<(&str, &str)> = items(&convo["messages"])
        .iter()
        .map(|m| {
            (
                m["content"].as_str().unwrap(),
                m["author"]["username"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(messages, [("from alice", "alice"), ("from bob", "bob")]);
    let mut members: Vec<&str> = items(&convo["associated"])
        .iter()
        .map(|l| l["user"]["username"].as_str().unwrap())
        .collect();
    members.sort();
    assert_eq!(members, ["alice", "bob"]);

    // Back up the graph: a message's conversation, its members' links' ends.
    let up = bob
        .ok(
            "query($id: ID!) { getConvo(id: $id) { messages(limit: 1) { items {
                 conversation { name associated { items { conversation { id } user { id } } } }
               } } } }",
            json!({ "id": room }),
        )
        .await;
    let conversation = &items(&up["getConvo"]["messages"])[0]["conversation"];
    assert_eq!(conversation["name"], "room");
    for link in items(&conversation["associated"]) {
        assert_eq!(link["conversation"]["id"], room.as_str());
        assert!(link["user"]["id"].is_string());
    }

    // Below what a mutation returns, and below ChatQL's history.
    let created = bob
        .ok(
            "mutation($c: ID!) { createMessage(input: {content: \"third\", messageConversationId: $c}) {
                 author { username conversations { items { convoLinkConversationId } } }
                 conversation { name messages(limit: 1, sortDirection: DESC) { items { content } } }
               } }",
            json!({ "c": room }),
        )
        .await;
    let created = &created["createMessage"];
    assert_eq!(created["author"]["username"], "bob");
    assert_eq!(
        items(&created["author"]["conversations"])[0]["convoLinkConversationId"],
        room.as_str()
    );
    assert_eq!(
        items(&created["conversation"]["messages"])[0]["content"],
        "third"
    );
    let history = alice
        .ok(
            "query($c: ID!) { allMessageConnection(conversationId: $c, first: 2) {
                 messages { content author { username } conversation { members } } } }",
            json!({ "c": room }),
        )
        .await;
    let latest = &history["allMessageConnection"]["messages"][0];
    assert_eq!(latest["content"], "third");
    assert_eq!(latest["author"]["username"], "bob");
    assert_eq!(
        latest["conversation"]["members"].as_array().unwrap().len(),
        2
    );
    let link = alice
        .ok(
            "mutation($c: ID!) { createConvoLink(input: {convoLinkConversationId: $c}) {
                 user { username } conversation { name messages(limit: 5) { items { id } } } } }",
            json!({ "c": room }),
        )
        .await;
    assert_eq!(link["createConvoLink"]["user"]["username"], "alice");
    assert_eq!(
        items(&link["createConvoLink"]["conversation"]["messages"]).len(),
        3
    );
    let created = alice
        .ok(
            "mutation($m: [String!]!) { createConvo(input: {name: \"new\", members: $m}) {
                 messages { items { id } } associated { items { user { username } } } } }",
            json!({ "m": [bob.id] }),
        )
        .await;
    assert!(items(&created["createConvo"]["messages"]).is_empty());
    assert_eq!(items(&created["createConvo"]["associated"]).len(), 2);
}

#[tokio::test]
async fn another_users_conversations_are_null_with_unauthorized_at_their_path() {
    let stack = Stack::start().await;
    let (alice, _bob, room) = room(&stack).await;
    let out = alice
        .send(
            "query($id: ID!) { getConvo(id: $id) { name messages { items { content
                 author { username conversations { items { id } } } } } } }",
            json!({ "id": room }),
        )
        .await;
    let messages = items(&out["data"]["getConvo"]["messages"]);
    // Alice's own: there.
    assert_eq!(messages[0]["author"]["username"], "alice");
    assert_eq!(items(&messages[0]["author"]["conversations"]).len(), 1);
    // Bob's: null, and the rest of his profile still answered.
    assert_eq!(messages[1]["author"]["username"], "bob");
    assert!(messages[1]["author"]["conversations"].is_null(), "{out:#}");
    let errors = out["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{out:#}");
    assert_eq!(errors[0]["errorType"], "Unauthorized");
    assert_eq!(
        errors[0]["path"],
        json!([
            "getConvo",
            "messages",
            "items",
            1,
            "author",
            "conversations"
        ])
    );
    // The same through listUsers: only the caller's own list is readable.
    let out = alice
        .send(
            "{ listUsers { items { username conversations { items { id } } } } }",
            json!({}),
        )
        .await;
    for (i, user) in items(&out["data"]["listUsers"]).iter().enumerate() {
        let denied = out["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == json!(["listUsers", "items", i, "conversations"]));
        if user["username"] == "alice" {
            assert!(user["conversations"].is_object() && !denied, "{out:#}");
        } else {
            assert!(user["conversations"].is_null() && denied, "{out:#}");
        }
    }
}

/// The domain's refusal and the projection that turns it into an error agree
/// on the key it travels under.
#[test]
fn a_refusal_travels_under_the_key_the_projection_reads() {
    let refusal = chat_domain::graph::Refusal::from(&chat_domain::Error::Unauthorized("no".into()));
    let json = serde_json::to_value(refusal).unwrap();
    assert!(json.get(chat_graphql::project::FIELD_ERROR_KEY).is_some());
    assert_eq!(
        chat_domain::graph::FIELD_ERROR_KEY,
        chat_graphql::project::FIELD_ERROR_KEY
    );
}

#[tokio::test]
async fn a_deep_query_costs_a_request_per_level_and_connection_not_per_item() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let rooms = [
        convo(&alice, "one", &[&bob]).await,
        convo(&alice, "two", &[&bob]).await,
        convo(&alice, "three", &[&bob]).await,
    ];
    let deep = "query($id: ID!) { getUser(id: $id) { conversations { items { conversation {
                  messages { items { author { username } } } } } } } }";
    let vars = json!({ "id": alice.id });
    let mut costs = Vec::new();
    for round in 0..2 {
        // More messages each round; the cost must not move.
        for room in &rooms {
            for i in 0..(2 + 3 * round) {
                let author = if i % 2 == 0 { &alice } else { &bob };
                post(author, room, &format!("m{round}.{i}")).await;
            }
        }
        let (out, invocations, requests) = stack.cost(alice.send(deep, vars.clone())).await;
        assert!(out.get("errors").is_none(), "{out:#}");
        costs.push((invocations, requests));
    }
    // The caller's standing; getUser: its GetItem; level 1, the Query on
    // alice's links; level 2, one BatchGetItem for the three conversations;
    // level 3, one Query per conversation's messages and, once, alice's
    // block list; level 4, one BatchGetItem for the authors.
    assert_eq!(costs, [(1, 1 + 1 + 1 + 1 + 3 + 1 + 1), (1, 9)]);
}

#[tokio::test]
async fn chatqls_message_fields_read_as_the_same_values() {
    let stack = Stack::start().await;
    let (alice, bob, room) = room(&stack).await;
    let out = alice
        .ok(
            "query($c: ID!) { allMessageConnection(conversationId: $c) {
                 messages { id conversationId sender isSent messageConversationId authorId } } }",
            json!({ "c": room }),
        )
        .await;
    let messages = out["allMessageConnection"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    for m in messages {
        assert_eq!(m["conversationId"], m["messageConversationId"]);
        assert_eq!(m["sender"], m["authorId"]);
        assert_eq!(m["isSent"], true);
    }
    assert_eq!(messages[0]["sender"], bob.id.as_str());
}

/// Every scalar field of each type, for the queries below.
const USER: &str = "id username createdAt updatedAt";
const CONVO: &str = "id name members createdAt updatedAt";
const MESSAGE: &str = "id authorId content messageConversationId seq createdAt updatedAt conversationId sender isSent";
const LINK: &str = "id convoLinkUserId convoLinkConversationId createdAt updatedAt";
/// A message's report, every field that is set once it is dismissed.
const REPORT: &str = "id kind userId conversationId messageId status openedAt reporters resolvedBy resolvedAt entries { reporterId reason note reportedAt snapshot { content createdAt } }";

/// Fails with the path of the first `null` in `value`.
fn assert_no_nulls(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty list at {path}");
            for (i, item) in items.iter().enumerate() {
                assert_no_nulls(item, &format!("{path}.{i}"));
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                assert_no_nulls(field, &format!("{path}.{name}"));
            }
        }
        _ => {}
    }
}

/// Every field of every type, as a member reads it under each root field,
/// at depths 2 to 8: nothing comes back null.
#[tokio::test]
async fn every_schema_field_answers_under_every_root_with_no_silent_null() {
    let stack = Stack::start().await;
    let (alice, _bob, room) = room(&stack).await;
    let link_below = format!(
        "{LINK} user {{ {USER} }} conversation {{ {CONVO} messages {{ items {{ {MESSAGE} author {{ {USER} }} conversation {{ {CONVO} }} }} }} associated {{ items {{ {LINK} user {{ {USER} }} }} }} }}"
    );
    let documents = [
        format!("query($c: ID!) {{ getConvo(id: $c) {{ {CONVO} messages {{ items {{ {MESSAGE} author {{ {USER} }} conversation {{ {CONVO} associated {{ items {{ {LINK} }} }} }} }} }} associated {{ items {{ {link_below} }} }} }} }}"),
        format!("query($u: ID!) {{ getUser(id: $u) {{ {USER} conversations {{ items {{ {link_below} }} }} }} }}"),
        format!("{{ me {{ {USER} conversations {{ items {{ {link_below} }} }} }} }}"),
        format!("{{ listUsers {{ items {{ {USER} }} }} }}"),
        format!("query($c: ID!) {{ allMessageConnection(conversationId: $c) {{ messages {{ {MESSAGE} author {{ {USER} }} conversation {{ {CONVO} messages {{ items {{ {MESSAGE} }} }} }} }} }} }}"),
        format!("mutation($c: ID!) {{ createMessage(input: {{content: \"more\", messageConversationId: $c}}) {{ {MESSAGE} author {{ {USER} conversations {{ items {{ {link_below} }} }} }} conversation {{ {CONVO} }} }} }}"),
        format!("mutation($c: ID!) {{ createConvoLink(input: {{convoLinkConversationId: $c}}) {{ {link_below} }} }}"),
    ];
    for document in documents {
        let mut vars = serde_json::Map::new();
        if document.contains("$c") {
            vars.insert("c".into(), json!(room));
        }
        if document.contains("$u") {
            vars.insert("u".into(), json!(alice.id));
        }
        let out = alice.ok(&document, Value::Object(vars)).await;
        assert_no_nulls(&out, "data");
    }
}

/// Every mutation root, with every field its type has below it: nothing
/// comes back null without an error, the same as under the queries.
#[tokio::test]
async fn every_mutation_root_answers_its_nested_fields_with_no_silent_null() {
    let stack = Stack::start().await;
    let (alice, bob, room) = room(&stack).await;
    let carol = stack.user("carol").await;
    let link_below = format!(
        "{LINK} user {{ {USER} }} conversation {{ {CONVO} messages {{ items {{ {MESSAGE} author {{ {USER} }} }} }} associated {{ items {{ {LINK} user {{ {USER} }} }} }} }}"
    );
    // Only the caller's own conversation list is theirs to read.
    let message_below = format!(
        "{MESSAGE} version author {{ {USER} }} conversation {{ {CONVO} owners messages {{ items {{ {MESSAGE} }} }} associated {{ items {{ {LINK} }} }} }}"
    );
    // By then the caller is also in a conversation with no messages yet.
    let own_message_below = format!(
        "{message_below} author {{ conversations {{ items {{ {LINK} user {{ {USER} }} conversation {{ {CONVO} associated {{ items {{ {LINK} }} }} }} }} }} }}"
    );
    let reactions = "reactions { emoji count reacted }";
    let kept = chat_tests::post(&alice, &room, "kept").await;
    let edited = chat_tests::post(&alice, &room, "to edit").await;
    let deleted = chat_tests::post(&alice, &room, "to delete").await;
    let reported = chat_tests::post(&alice, &room, "to report").await;
    let mo = stack.moderator("mo").await;
    let dan = stack.user("dan").await;
    let member_change = "kind conversationId userId by";
    let device_token = "ab".repeat(32);
    // (document, variables, the caller): each a valid call, in order.
    let calls: Vec<(String, Value, &Client)> = vec![
        (
            format!("mutation {{ createUser(input: {{username: \"alice\"}}) {{ {USER} online conversations {{ items {{ {link_below} }} }} }} }}"),
            json!({}),
            &alice,
        ),
        (
            format!("mutation($m: [String!]!) {{ createConvo(input: {{name: \"new\", members: $m}}) {{ {CONVO} owners associated {{ items {{ {LINK} user {{ {USER} }} conversation {{ {CONVO} }} }} }} }} }}"),
            json!({ "m": [bob.id] }),
            &alice,
        ),
        (
            format!("mutation($c: ID!, $u: ID!) {{ createConvoLink(input: {{convoLinkConversationId: $c, convoLinkUserId: $u}}) {{ {link_below} }} }}"),
            json!({ "c": room, "u": carol.id }),
            &alice,
        ),
        (
            format!("mutation($c: ID!) {{ createMessage(input: {{content: \"more\", messageConversationId: $c}}) {{ {own_message_below} }} }}"),
            json!({ "c": room }),
            &alice,
        ),
        (
            format!("mutation($c: ID!, $m: ID!) {{ updateMessage(input: {{id: $m, messageConversationId: $c, content: \"edited\"}}) {{ {message_below} editedAt }} }}"),
            json!({ "c": room, "m": edited }),
            &alice,
        ),
        (
            format!("mutation($c: ID!, $m: ID!) {{ deleteMessage(input: {{id: $m, messageConversationId: $c}}) {{ {message_below} deletedAt }} }}"),
            json!({ "c": room, "m": deleted }),
            &alice,
        ),
        (
            format!("mutation($c: ID!, $m: ID!) {{ addReaction(input: {{messageConversationId: $c, messageId: $m, emoji: \"👍\"}}) {{ {message_below} {reactions} }} }}"),
            json!({ "c": room, "m": kept }),
            &bob,
        ),
        (
            format!("mutation($c: ID!, $m: ID!) {{ addReaction(input: {{messageConversationId: $c, messageId: $m, emoji: \"🎉\"}}) {{ {MESSAGE} }} }}"),
            json!({ "c": room, "m": kept }),
            &bob,
        ),
        (
            format!("mutation($c: ID!, $m: ID!) {{ removeReaction(input: {{messageConversationId: $c, messageId: $m, emoji: \"👍\"}}) {{ {message_below} {reactions} }} }}"),
            json!({ "c": room, "m": kept }),
            &bob,
        ),
        (
            "mutation($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { conversationId userId messageId seq } }".to_string(),
            json!({ "c": room, "m": kept }),
            &bob,
        ),
        (
            "mutation($c: ID!) { typing(conversationId: $c) { conversationId userId expiresAt sent } }".to_string(),
            json!({ "c": room }),
            &bob,
        ),
        (
            "mutation($c: ID!) { createUpload(input: {conversationId: $c, contentType: \"image/png\", size: 10, name: \"a.png\"}) { id method url headers { name value } expiresAt maxBytes } }".to_string(),
            json!({ "c": room }),
            &bob,
        ),
        (
            "mutation($t: String!) { registerDevice(input: {platform: APNS, token: $t, appId: \"com.example.chat\"}) { id platform token appId createdAt } }".to_string(),
            json!({ "t": device_token }),
            &bob,
        ),
        (
            "mutation { updatePushSettings(input: {dndUntil: \"2999-01-01T00:00:00Z\", hideContent: true}) { dndUntil hideContent mentions devices { id platform token appId createdAt } } }".to_string(),
            json!({}),
            &bob,
        ),
        (
            "mutation($id: ID!) { unregisterDevice(id: $id) }".to_string(),
            json!({ "id": chat_domain::push::device_id(chat_domain::push::Platform::Apns, &device_token) }),
            &bob,
        ),
        (
            "mutation($c: ID!) { setConversationNotifications(conversationId: $c, level: MENTIONS) { conversationId level } }".to_string(),
            json!({ "c": room }),
            &bob,
        ),
        (
            "mutation($c: ID!, $m: ID!) { reportMessage(input: {messageConversationId: $c, messageId: $m, reason: SPAM, note: \"n\"}) { reportId receivedAt duplicate } }".to_string(),
            json!({ "c": room, "m": reported }),
            &bob,
        ),
        (
            "mutation($u: ID!) { reportUser(input: {userId: $u, reason: HATE}) { reportId receivedAt duplicate } }".to_string(),
            json!({ "u": alice.id }),
            &bob,
        ),
        (
            format!("mutation($r: ID!) {{ dismissReport(reportId: $r) {{ {REPORT} }} }}"),
            json!({ "r": format!("message:{room}:{reported}") }),
            &mo,
        ),
        (
            format!("mutation($c: ID!, $m: ID!, $r: ID!) {{ removeMessage(input: {{id: $m, messageConversationId: $c}}, reportId: $r) {{ {MESSAGE} deletedAt removedByModerator version }} }}"),
            json!({ "c": room, "m": reported, "r": format!("user:{}", alice.id) }),
            &mo,
        ),
        (
            format!("mutation($c: ID!, $u: ID!) {{ promoteMember(conversationId: $c, userId: $u) {{ {member_change} }} }}"),
            json!({ "c": room, "u": bob.id }),
            &alice,
        ),
        (
            format!("mutation($c: ID!, $u: ID!) {{ removeMember(conversationId: $c, userId: $u) {{ {member_change} }} }}"),
            json!({ "c": room, "u": carol.id }),
            &alice,
        ),
        (
            format!("mutation($c: ID!) {{ leaveConvo(conversationId: $c) {{ {member_change} }} }}"),
            json!({ "c": room }),
            &bob,
        ),
        (
            "mutation($u: ID!) { blockUser(userId: $u) { userId blockedAt } }".to_string(),
            json!({ "u": dan.id }),
            &bob,
        ),
        (
            "mutation($u: ID!) { unblockUser(userId: $u) }".to_string(),
            json!({ "u": dan.id }),
            &bob,
        ),
        (
            "mutation($u: ID!) { suspendUser(input: {userId: $u, hours: 1, reason: \"r\"}) { userId banned suspendedUntil by at reason } }".to_string(),
            json!({ "u": dan.id }),
            &mo,
        ),
        // A ban has no end: its suspendedUntil is null by design.
        (
            "mutation($u: ID!) { banUser(input: {userId: $u, reason: \"r\"}) { userId banned by at reason } }".to_string(),
            json!({ "u": dan.id }),
            &mo,
        ),
        (
            "mutation($u: ID!) { reinstateUser(userId: $u) { userId banned by at reason } }".to_string(),
            json!({ "u": dan.id }),
            &mo,
        ),
    ];
    let roots: std::collections::BTreeSet<String> = calls
        .iter()
        .map(|(doc, _, _)| {
            let after = doc.split_once('{').unwrap().1.trim_start();
            after.split(['(', ' ']).next().unwrap().to_string()
        })
        .collect();
    let schema = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/schema.graphql"
    ))
    .unwrap();
    let mutation = schema
        .split_once("type Mutation")
        .unwrap()
        .1
        .split_once('}')
        .unwrap()
        .0;
    let declared: std::collections::BTreeSet<String> = mutation
        .lines()
        .filter_map(|l| l.trim().split_once('(').map(|(name, _)| name.to_string()))
        .filter(|name| !name.starts_with('"'))
        .collect();
    assert_eq!(roots, declared, "every mutation root is called here");
    for (document, vars, caller) in calls {
        let out = caller.ok(&document, vars).await;
        assert_no_nulls(&out, &format!("data ({document})"));
    }
}
