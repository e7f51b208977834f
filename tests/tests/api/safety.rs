//! Safety over HTTP and the WebSocket: the stack's word filter on create and
//! edit, refusing or masking, with the evasions it must see through.

use std::time::Duration;

use chat_domain::filter::{ContentFilter, FilterAction};
use chat_tests::{convo, Client, Stack, WsClient, WsEvent};
use serde_json::{json, Value};

const CREATE: &str = "mutation($id: ID, $c: String!, $cid: ID!) { createMessage(input: {id: $id, content: $c, messageConversationId: $cid}) { id content } }";
const EDIT: &str = "mutation($id: ID!, $cid: ID!, $c: String!) { updateMessage(input: {id: $id, messageConversationId: $cid, content: $c}) { id content } }";
const HISTORY: &str =
    "query($cid: ID!) { allMessageConnection(conversationId: $cid) { messages { id content } } }";
const ON_CREATE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id content } }";

const LIST: &str = "# the test stack's list\ndarn\nscam*, go away now";

fn pushed(event: WsEvent) -> Value {
    match event {
        WsEvent::Message(m) if m["type"] == "next" => {
            m["payload"]["data"]["onCreateMessage"].clone()
        }
        other => panic!("expected a push, got {other:?}"),
    }
}

/// Alice and Bob in a room, Bob subscribed to its new messages.
async fn room_with_listener(stack: &Stack) -> (Client, Client, String, WsClient) {
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let mut bob_ws = stack.ws(&bob).await;
    bob_ws.subscribe("s", ON_CREATE, json!({ "c": room })).await;
    bob_ws.sync().await;
    (alice, bob, room, bob_ws)
}

#[tokio::test]
async fn a_refused_message_is_a_validation_error_and_nothing_is_stored_or_pushed() {
    let stack =
        Stack::start_with_filter(ContentFilter::parse(LIST, FilterAction::Refuse).unwrap()).await;
    let (alice, _bob, room, mut bob_ws) = room_with_listener(&stack).await;

    // Each evasion is refused; the text around it does not matter.
    for evasion in [
        "darn",
        "oh DARN it",
        "ｄａｒｎ",
        "d\u{0430}rn",  // Cyrillic а
        "da\u{200B}rn", // a zero-width space
        "d\u{0336}a\u{0336}r\u{0336}n\u{0336}",
        "d a r n",
        "d.a.r.n",
        "daaaarn",
        "dárñ",
        "SCAMMERS here",
        "go, away   NOW",
    ] {
        let out = alice
            .send(CREATE, json!({ "id": null, "c": evasion, "cid": room }))
            .await;
        assert_eq!(
            out["errors"][0]["errorType"], "ValidationError",
            "{evasion:?}: {out}"
        );
        assert!(
            !out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("darn"),
            "the error does not quote the list: {out}"
        );
    }
    // Just short of a match: other words, parts of words, a phrase cut short.
    for clean in [
        "darned socks",
        "undarn",
        "d a r k",
        "go away",
        "scarab",
        "dam",
    ] {
        let out = alice
            .ok(CREATE, json!({ "id": null, "c": clean, "cid": room }))
            .await;
        assert_eq!(out["createMessage"]["content"], clean);
        assert_eq!(pushed(bob_ws.next().await)["content"], clean);
    }
    assert_eq!(
        bob_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence,
        "nothing refused was pushed"
    );
    let history = alice.ok(HISTORY, json!({ "cid": room })).await;
    let stored: Vec<&str> = history["allMessageConnection"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), 6, "{stored:?}");

    // A refused id is not used up, and an edit cannot bring a word in.
    let id = "client-1";
    let refused = alice
        .send(CREATE, json!({ "id": id, "c": "darn", "cid": room }))
        .await;
    assert_eq!(refused["errors"][0]["errorType"], "ValidationError");
    alice
        .ok(CREATE, json!({ "id": id, "c": "fine", "cid": room }))
        .await;
    let edit = alice
        .send(EDIT, json!({ "id": id, "cid": room, "c": "fine, d-a-r-n" }))
        .await;
    assert_eq!(edit["errors"][0]["errorType"], "ValidationError", "{edit}");
    let history = alice.ok(HISTORY, json!({ "cid": room })).await;
    assert_eq!(
        history["allMessageConnection"]["messages"][0]["content"],
        "fine"
    );
}

#[tokio::test]
async fn masking_stores_and_pushes_stars_in_place_of_the_words() {
    let stack =
        Stack::start_with_filter(ContentFilter::parse(LIST, FilterAction::Mask).unwrap()).await;
    let (alice, bob, room, mut bob_ws) = room_with_listener(&stack).await;

    let out = alice
        .ok(
            CREATE,
            json!({ "id": "m1", "c": "well d.a.r.n, those scammers", "cid": room }),
        )
        .await;
    assert_eq!(
        out["createMessage"]["content"],
        "well *******, those ********"
    );
    assert_eq!(
        pushed(bob_ws.next().await)["content"],
        "well *******, those ********"
    );
    // A retry returns what was stored.
    let retry = alice
        .ok(
            CREATE,
            json!({ "id": "m1", "c": "well d.a.r.n, those scammers", "cid": room }),
        )
        .await;
    assert_eq!(retry["createMessage"], out["createMessage"]);
    let edited = alice
        .ok(EDIT, json!({ "id": "m1", "cid": room, "c": "DARN" }))
        .await;
    assert_eq!(edited["updateMessage"]["content"], "****");
    let history = bob.ok(HISTORY, json!({ "cid": room })).await;
    assert_eq!(
        history["allMessageConnection"]["messages"][0]["content"],
        "****"
    );
    // A new conversation's name is masked as a message is; a new username
    // the list matches is refused.
    let named = alice
        .ok(
            "mutation { createConvo(input: {name: \"scam alerts\", members: []}) { name } }",
            json!({}),
        )
        .await;
    assert_eq!(named["createConvo"]["name"], "**** alerts");
    let scammer = stack.client("scammer").await;
    let out = scammer
        .send(
            "mutation { createUser(input: {username: \"scammer\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError", "{out}");
}
