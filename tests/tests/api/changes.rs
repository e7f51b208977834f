//! Edit, delete, and the change log: `updateMessage` and `deleteMessage`
//! for the author, tombstones that keep their place, `onMessageChange`
//! pushes, and `messageChanges` catch-up that never misses a change, even
//! when writers race in one conversation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chat_domain::limits::{MAX_CONTENT_CHARS, MAX_PAGE_SIZE};
use chat_tests::{convo, Client, Stack, WsEvent};
use serde_json::{json, Value};

const MESSAGE_FIELDS: &str = "id content authorId seq editedAt deletedAt version";

fn post_doc() -> String {
    format!("mutation($c: ID!, $id: ID, $t: String!) {{ createMessage(input: {{id: $id, content: $t, messageConversationId: $c}}) {{ {MESSAGE_FIELDS} }} }}")
}

fn edit_doc() -> String {
    format!("mutation($c: ID!, $id: ID!, $t: String!) {{ updateMessage(input: {{id: $id, messageConversationId: $c, content: $t}}) {{ {MESSAGE_FIELDS} }} }}")
}

fn delete_doc() -> String {
    format!("mutation($c: ID!, $id: ID!) {{ deleteMessage(input: {{id: $id, messageConversationId: $c}}) {{ {MESSAGE_FIELDS} }} }}")
}

fn changes_doc() -> String {
    format!("query($c: ID!, $after: String, $limit: Int) {{ messageChanges(conversationId: $c, after: $after, limit: $limit) {{ cursor nextToken items {{ kind conversationId message {{ {MESSAGE_FIELDS} }} }} }} }}")
}

const ON_MESSAGE_CHANGE: &str = "subscription($c: ID!) { onMessageChange(conversationId: $c) { kind conversationId message { id content version editedAt deletedAt } } }";
const ON_CREATE_MESSAGE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id content } }";

async fn posted(author: &Client, room: &str, id: &str, text: &str) -> Value {
    author
        .ok(&post_doc(), json!({ "c": room, "id": id, "t": text }))
        .await["createMessage"]
        .clone()
}

async fn history(client: &Client, room: &str) -> Vec<Value> {
    let doc = format!("query($c: ID!) {{ getConvo(id: $c) {{ messages(limit: 100) {{ items {{ {MESSAGE_FIELDS} }} }} }} }}");
    client.ok(&doc, json!({ "c": room })).await["getConvo"]["messages"]["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn an_author_edits_and_deletes_in_place_and_no_one_else_can() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let first = posted(&alice, &room, "m1", "one").await;
    posted(&alice, &room, "m2", "twoo").await;
    posted(&bob, &room, "m3", "three").await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["editedAt"], Value::Null);

    let edit = |who: &Client, id: &str, text: &str| {
        let who = who.clone();
        let vars = json!({ "c": room, "id": id, "t": text });
        async move { who.send(&edit_doc(), vars).await }
    };
    let error_of = |out: Value| {
        out["errors"][0]["errorType"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    };
    // Someone else's message, a conversation one is not in, no such message.
    assert_eq!(error_of(edit(&bob, "m2", "hacked").await), "Unauthorized");
    assert_eq!(error_of(edit(&carol, "m2", "hacked").await), "Unauthorized");
    assert_eq!(error_of(edit(&alice, "nope", "x").await), "NotFound");
    // Content limits, at the edge.
    assert_eq!(error_of(edit(&alice, "m2", " ").await), "ValidationError");
    let too_long = "x".repeat(MAX_CONTENT_CHARS + 1);
    assert_eq!(
        error_of(edit(&alice, "m2", &too_long).await),
        "ValidationError"
    );
    let longest = "y".repeat(MAX_CONTENT_CHARS);
    let out = edit(&alice, "m2", &longest).await;
    assert_eq!(out["data"]["updateMessage"]["version"], 2, "{out}");

    let out = edit(&alice, "m2", "two").await;
    let edited = &out["data"]["updateMessage"];
    assert_eq!(edited["content"], "two");
    assert_eq!(edited["version"], 3);
    assert!(edited["editedAt"].is_string());
    // A retry of the same edit changes nothing.
    let again = edit(&alice, "m2", "two").await;
    assert_eq!(&again["data"]["updateMessage"], edited);

    // Same id, same place.
    let items = history(&bob, &room).await;
    let ids: Vec<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);
    assert_eq!(items[1]["content"], "two");

    // Delete: a tombstone in the same place.
    let delete = |who: &Client, id: &str| {
        let who = who.clone();
        let vars = json!({ "c": room, "id": id });
        async move { who.send(&delete_doc(), vars).await }
    };
    assert_eq!(error_of(delete(&bob, "m1").await), "Unauthorized");
    assert_eq!(error_of(delete(&carol, "m1").await), "Unauthorized");
    let out = delete(&alice, "m2").await;
    let tombstone = &out["data"]["deleteMessage"];
    assert_eq!(tombstone["content"], "");
    assert!(tombstone["deletedAt"].is_string());
    assert_eq!(tombstone["version"], 4);
    assert_eq!(
        &delete(&alice, "m2").await["data"]["deleteMessage"],
        tombstone
    );
    assert_eq!(error_of(edit(&alice, "m2", "back").await), "Conflict");

    // Pages neither skip nor repeat around a tombstone.
    let page_doc = "query($c: ID!, $t: String) { getConvo(id: $c) { messages(limit: 1, nextToken: $t) { items { id content } nextToken } } }";
    let mut token = Value::Null;
    let mut seen = Vec::new();
    loop {
        let out = bob.ok(page_doc, json!({ "c": room, "t": token })).await;
        let page = &out["getConvo"]["messages"];
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        token = page["nextToken"].clone();
        if token.is_null() {
            break;
        }
    }
    assert_eq!(seen, ["m1", "m2", "m3"]);
}

#[tokio::test]
async fn every_change_is_pushed_on_one_subscription_and_chatt_sees_new_messages_only() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let mut ws = stack.ws(&bob).await;
    ws.subscribe("changes", ON_MESSAGE_CHANGE, json!({ "c": room }))
        .await;
    ws.subscribe("chatt", ON_CREATE_MESSAGE, json!({ "c": room }))
        .await;
    ws.sync().await;
    let mut outsider = stack.ws(&carol).await;
    outsider
        .subscribe("peek", ON_MESSAGE_CHANGE, json!({ "c": room }))
        .await;
    match outsider.next().await {
        WsEvent::Message(m) => {
            assert_eq!(m["type"], "error");
            assert_eq!(m["payload"][0]["errorType"], "Unauthorized");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    posted(&alice, &room, "m1", "hello").await;
    alice
        .ok(&edit_doc(), json!({ "c": room, "id": "m1", "t": "hello!" }))
        .await;
    alice
        .ok(&edit_doc(), json!({ "c": room, "id": "m1", "t": "hello!" }))
        .await;
    alice
        .ok(&delete_doc(), json!({ "c": room, "id": "m1" }))
        .await;

    let mut changes = Vec::new();
    let mut created = Vec::new();
    for _ in 0..4 {
        match ws.next().await {
            WsEvent::Message(m) if m["id"] == "changes" => {
                changes.push(m["payload"]["data"]["onMessageChange"].clone())
            }
            WsEvent::Message(m) if m["id"] == "chatt" => {
                created.push(m["payload"]["data"]["onCreateMessage"].clone())
            }
            other => panic!("expected a push, got {other:?}"),
        }
    }
    assert_eq!(created, [json!({ "id": "m1", "content": "hello" })]);
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CREATED", "EDITED", "DELETED"]);
    assert!(changes.iter().all(|c| c["conversationId"] == room.as_str()));
    let versions: Vec<i64> = changes
        .iter()
        .map(|c| c["message"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(changes[1]["message"]["content"], "hello!");
    assert_eq!(changes[2]["message"]["content"], "");
    assert!(changes[2]["message"]["deletedAt"].is_string());
    // The retried edit pushed nothing.
    assert_eq!(
        ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
}

/// Applies a page of changes to a client's state: the higher version wins.
fn apply(state: &mut BTreeMap<String, Value>, items: &[Value]) {
    for item in items {
        let message = &item["message"];
        let id = message["id"].as_str().unwrap().to_string();
        let newer = state
            .get(&id)
            .is_none_or(|old| old["version"].as_i64() < message["version"].as_i64());
        if newer {
            state.insert(id, message.clone());
        }
    }
}

/// Catches `client` up from `cursor`, page by page, as docs/REALTIME.md's
/// recipe says; returns the cursor to keep.
async fn catch_up(
    client: &Client,
    room: &str,
    cursor: &str,
    limit: i64,
    state: &mut BTreeMap<String, Value>,
) -> String {
    let mut after = cursor.to_string();
    loop {
        let out = client
            .ok(
                &changes_doc(),
                json!({ "c": room, "after": after, "limit": limit }),
            )
            .await;
        let page = &out["messageChanges"];
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        apply(state, items);
        match page["nextToken"].as_str() {
            Some(next) => after = next.to_string(),
            None => return page["cursor"].as_str().unwrap().to_string(),
        }
    }
}

fn by_id(messages: Vec<Value>) -> BTreeMap<String, Value> {
    messages
        .into_iter()
        .map(|m| (m["id"].as_str().unwrap().to_string(), m))
        .collect()
}

async fn start_cursor(client: &Client, room: &str) -> String {
    let start = client.ok(&changes_doc(), json!({ "c": room })).await["messageChanges"].clone();
    assert_eq!(start["items"], json!([]));
    assert_eq!(start["nextToken"], Value::Null);
    start["cursor"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn catching_up_from_a_cursor_gives_exactly_the_state_now() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob]).await;
    posted(&alice, &room, "early", "before bob looked").await;

    // Bob takes a cursor, then reads the history: his state at that cursor.
    let start = start_cursor(&bob, &room).await;
    let mut state = by_id(history(&bob, &room).await);

    // Bob goes away; the conversation goes on.
    for i in 0..5 {
        posted(&alice, &room, &format!("m{i}"), &format!("text {i}")).await;
    }
    for id in ["m1", "early"] {
        alice
            .ok(&edit_doc(), json!({ "c": room, "id": id, "t": "edited" }))
            .await;
    }
    alice
        .ok(&delete_doc(), json!({ "c": room, "id": "m3" }))
        .await;
    posted(&bob, &room, "from-another-device", "hi").await;

    let cursor = catch_up(&bob, &room, &start, 3, &mut state).await;
    let now = by_id(history(&bob, &room).await);
    assert_eq!(state, now, "caught up is the same as never away");
    // Catching up again changes nothing: what comes again is not newer.
    let before = state.clone();
    catch_up(&bob, &room, &cursor, 100, &mut state).await;
    assert_eq!(state, before);

    // Who may ask, and what.
    let error_type = |who: &Client, vars: Value| {
        let who = who.clone();
        async move { who.error_type(&changes_doc(), vars).await }
    };
    assert_eq!(
        error_type(&carol, json!({ "c": room, "after": start })).await,
        "Unauthorized"
    );
    for bad in [
        json!({ "c": room, "after": "not a cursor" }),
        json!({ "c": room, "after": format!("{start}:nope") }),
        json!({ "c": room, "after": start, "limit": 0 }),
        json!({ "c": room, "after": start, "limit": MAX_PAGE_SIZE + 1 }),
        json!({ "c": "", "after": start }),
    ] {
        assert_eq!(
            error_type(&bob, bad.clone()).await,
            "ValidationError",
            "{bad}"
        );
    }
}

/// A change that commits after a catch-up read past its key (a slow writer)
/// still comes in the next catch-up: the cursor stays behind every change
/// that could still commit.
#[tokio::test]
async fn a_change_that_commits_late_still_comes_in_the_next_catch_up() {
    use chat_domain::MessageStore;
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let start = start_cursor(&bob, &room).await;
    // A slow writer takes its key now...
    let slow_key = chat_domain::clock::next_seq();
    // ...a fast one posts after it, and Bob catches up past the fast one.
    posted(&alice, &room, "fast", "fast").await;
    let mut state = BTreeMap::new();
    let cursor = catch_up(&bob, &room, &start, 100, &mut state).await;
    assert!(state.contains_key("fast"));
    assert!(
        key_of(&cursor) < slow_key,
        "the cursor stays behind a change that may still commit"
    );
    // Then the slow write lands, with its older key.
    let now = chat_domain::clock::now();
    let slow =
        chat_domain::MessageChange::created(&room, "slow", &alice.id, "slow", &slow_key, &now);
    let store = stack.store().await;
    // Alice's read marker is on "fast", further than the slow message: the
    // write leaves it there, and stores the message all the same.
    store.put_message(&slow, 0).await.unwrap();
    let inbox = alice
        .ok("{ inbox { items { lastReadMessageId } } }", json!({}))
        .await;
    assert_eq!(inbox["inbox"]["items"][0]["lastReadMessageId"], "fast");
    catch_up(&bob, &room, &cursor, 100, &mut state).await;
    assert!(state.contains_key("slow"), "the late change is not missed");
}

/// Writers racing in one conversation, and a reader catching up while they
/// write: once they are done, one more catch-up from the reader's cursor
/// leaves it with every message, as the history has them.
#[tokio::test]
async fn racing_writers_and_a_reader_catching_up_miss_nothing() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    const WRITERS: usize = 6;
    const EACH: usize = 8;
    let start = start_cursor(&bob, &room).await;
    let writes = (0..WRITERS).map(|w| {
        let author = if w % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        let room = room.clone();
        async move {
            for i in 0..EACH {
                let id = format!("w{w}-{i}");
                posted(&author, &room, &id, "race").await;
                if i % 3 == 0 {
                    author
                        .ok(&edit_doc(), json!({ "c": room, "id": id, "t": "raced" }))
                        .await;
                }
            }
        }
    });
    let done = std::sync::atomic::AtomicBool::new(false);
    let reader = async {
        let mut state = BTreeMap::new();
        let mut cursor = start.clone();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            cursor = catch_up(&bob, &room, &cursor, 5, &mut state).await;
            if finished {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let writers = async {
        futures::future::join_all(writes).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (state, ()) = tokio::join!(reader, writers);
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..EACH).map(move |i| format!("w{w}-{i}")))
        .collect();
    assert_eq!(state.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(state, by_id(history(&alice, &room).await));
}

/// The key a cursor or token stands for, read from its signed body (a
/// test may look inside; a client cannot change it).
fn key_of(token: &str) -> String {
    use base64::Engine as _;
    let body = token.split_once('.').expect("a signed token").0;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    let claims: Value = serde_json::from_slice(&raw).unwrap();
    claims["k"]["from"].as_str().unwrap().to_string()
}

/// Fails if `text` appears anywhere in `value`.
fn assert_absent(value: &Value, text: &str, what: &str) {
    assert!(
        !value.to_string().contains(text),
        "{what} still shows {text:?}: {value:#}"
    );
}

/// A deleted message is gone from every read path: the history (both
/// queries), the inbox preview, and every entry the change log has of it
/// (its CREATED, EDITED and REACTED ones), from a cursor taken before the
/// delete and for a member added after it who follows docs/REALTIME.md's recipe.
/// An edit's earlier text is gone from the change log the same way.
#[tokio::test]
async fn what_is_deleted_or_edited_away_is_gone_from_every_read_path() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let dave = stack.user("dave").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let before = start_cursor(&bob, &room).await;
    posted(&alice, &room, "secret", "the secret text").await;
    alice
        .ok(
            &edit_doc(),
            json!({ "c": room, "id": "secret", "t": "the secret text, edited" }),
        )
        .await;
    bob.ok(
        "mutation($c: ID!) { addReaction(input: {messageConversationId: $c, messageId: \"secret\", emoji: \"👍\"}) { id } }",
        json!({ "c": room }),
    )
    .await;
    posted(&alice, &room, "typo", "the first draft").await;
    alice
        .ok(
            &edit_doc(),
            json!({ "c": room, "id": "typo", "t": "the final text" }),
        )
        .await;
    alice
        .ok(&delete_doc(), json!({ "c": room, "id": "secret" }))
        .await;

    let everything = |who: Client, after: Option<String>| {
        let room = room.clone();
        async move {
            let mut pages = Vec::new();
            let mut after = after;
            if after.is_none() {
                // docs/REALTIME.md's recipe for a first read: the cursor, then the history.
                after = Some(start_cursor(&who, &room).await);
            }
            loop {
                let out = who
                    .ok(
                        &changes_doc(),
                        json!({ "c": room, "after": after, "limit": 2 }),
                    )
                    .await;
                let page = out["messageChanges"].clone();
                pages.push(page.clone());
                match page["nextToken"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
            Value::Array(pages)
        }
    };
    // From a cursor taken before any of it.
    let log = everything(bob.clone(), Some(before.clone())).await;
    let entries: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["message"]["id"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("secret", "CREATED"),
            ("secret", "EDITED"),
            ("secret", "REACTED"),
            ("typo", "CREATED"),
            ("typo", "EDITED"),
            ("secret", "DELETED"),
        ]
    );
    for entry in entries.iter().filter(|e| e["message"]["id"] == "secret") {
        let message = &entry["message"];
        assert_eq!(message["content"], "", "{entry}");
        assert!(message["deletedAt"].is_string(), "{entry}");
        assert_eq!(message["version"], 4, "every entry reads the tombstone");
    }
    for entry in entries.iter().filter(|e| e["message"]["id"] == "typo") {
        assert_eq!(entry["message"]["content"], "the final text", "{entry}");
    }
    assert_absent(&log, "secret text", "the change log");
    assert_absent(&log, "first draft", "the change log");

    // A member added after the delete, by the recipe.
    alice
        .ok(
            "mutation($c: ID!, $u: ID!) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }",
            json!({ "c": room, "u": dave.id }),
        )
        .await;
    let late = everything(dave.clone(), None).await;
    assert_absent(&late, "secret text", "a late joiner's catch-up");
    let history_docs = [
        format!("query($c: ID!) {{ getConvo(id: $c) {{ messages {{ items {{ {MESSAGE_FIELDS} }} }} }} }}"),
        "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id content deletedAt } } }".to_string(),
    ];
    for doc in &history_docs {
        let out = dave.ok(doc, json!({ "c": room })).await;
        assert_absent(&out, "secret text", "the history");
        assert!(out.to_string().contains("the final text"), "{out}");
    }
    // The inbox preview, when the deleted message is the newest.
    alice
        .ok(&delete_doc(), json!({ "c": room, "id": "typo" }))
        .await;
    let inbox = dave
        .ok(
            "{ inbox { items { lastMessage { id content deletedAt } } } }",
            json!({}),
        )
        .await;
    assert_eq!(inbox["inbox"]["items"][0]["lastMessage"]["id"], "typo");
    assert_eq!(inbox["inbox"]["items"][0]["lastMessage"]["content"], "");
    assert_absent(&inbox, "final text", "the inbox");
    let log = everything(bob.clone(), Some(before)).await;
    assert_absent(&log, "final text", "the change log");
}

/// Cursors and page tokens of the change log are signed and scoped to
/// their conversation: another conversation's, a hand-made key, another
/// list's token, an edited or truncated one are each a `ValidationError`.
#[tokio::test]
async fn change_log_cursors_are_signed_and_belong_to_their_conversation() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let other = convo(&alice, "other", &[&bob]).await;
    let other_cursor = start_cursor(&bob, &other).await;
    let room_cursor = start_cursor(&bob, &room).await;
    for i in 0..3 {
        posted(&alice, &other, &format!("o{i}"), "other room").await;
        posted(&alice, &room, &format!("r{i}"), "this room").await;
    }
    let page = bob
        .ok(
            &changes_doc(),
            json!({ "c": other, "after": other_cursor, "limit": 1 }),
        )
        .await["messageChanges"]
        .clone();
    let other_next = page["nextToken"].as_str().unwrap().to_string();
    let history_token = bob
        .ok(
            "query($c: ID!) { getConvo(id: $c) { messages(limit: 1) { nextToken } } }",
            json!({ "c": room }),
        )
        .await["getConvo"]["messages"]["nextToken"]
        .as_str()
        .unwrap()
        .to_string();
    // The room's own cursor works, and the other room's key is inside the
    // other room's cursor: only the signature keeps it there.
    bob.ok(&changes_doc(), json!({ "c": room, "after": room_cursor }))
        .await;
    let (body, sig) = room_cursor.split_once('.').unwrap();
    let forged_body = {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&engine.decode(body).unwrap()).unwrap();
        claims["k"]["from"] = json!("00000000000000000000000000");
        engine.encode(claims.to_string())
    };
    for bad in [
        other_cursor.clone(),
        other_next,
        "00000000000000000000000000".to_string(),
        key_of(&room_cursor),
        format!("{forged_body}.{sig}"),
        room_cursor[..room_cursor.len() - 2].to_string(),
        history_token.clone(),
    ] {
        let out = bob
            .send(&changes_doc(), json!({ "c": room, "after": bad }))
            .await;
        assert_eq!(
            out["errors"][0]["errorType"], "ValidationError",
            "{bad}: {out}"
        );
        assert!(
            out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("cursor or nextToken that messageChanges returned"),
            "{out}"
        );
    }
    // Nor is a change-log cursor a history token.
    let out = bob
        .send(
            "query($c: ID!, $t: String) { getConvo(id: $c) { messages(nextToken: $t) { items { id } } } }",
            json!({ "c": room, "t": room_cursor }),
        )
        .await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError", "{out}");
}
