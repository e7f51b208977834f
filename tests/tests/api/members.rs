//! Leaving and removal, with owners: who may do what, the last owner, the
//! pushes members see, and a removed member's access, live subscriptions
//! included, ending when the removal answers.

use std::time::Duration;

use chat_tests::{convo, post, Client, Stack, WsClient, WsEvent};
use serde_json::{json, Value};

const LEAVE: &str =
    "mutation($c: ID!) { leaveConvo(conversationId: $c) { kind conversationId userId by } }";
const REMOVE: &str = "mutation($c: ID!, $u: ID!) { removeMember(conversationId: $c, userId: $u) { kind conversationId userId by } }";
const PROMOTE: &str = "mutation($c: ID!, $u: ID!) { promoteMember(conversationId: $c, userId: $u) { kind conversationId userId by } }";
const ON_MEMBER_CHANGE: &str =
    "subscription($c: ID!) { onMemberChange(conversationId: $c) { kind userId by } }";
const ON_CREATE_MESSAGE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id content } }";
const ON_MESSAGE_CHANGE: &str =
    "subscription($c: ID!) { onMessageChange(conversationId: $c) { kind message { id } } }";

async fn owners(client: &Client, room: &str) -> Value {
    client
        .ok(
            "query($c: ID!) { getConvo(id: $c) { members owners } }",
            json!({ "c": room }),
        )
        .await["getConvo"]
        .clone()
}

fn error_type(out: &Value) -> &str {
    out["errors"][0]["errorType"].as_str().unwrap_or("none")
}

/// The next member change pushed to `ws` under `id`.
async fn member_change(ws: &mut WsClient, id: &str) -> Value {
    match ws.next().await {
        WsEvent::Message(m) if m["type"] == "next" && m["id"] == id => {
            m["payload"]["data"]["onMemberChange"].clone()
        }
        other => panic!("expected a member change, got {other:?}"),
    }
}

#[tokio::test]
async fn owners_remove_and_promote_members_do_not_and_members_see_it() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let dave = stack.user("dave").await;
    let eve = stack.user("eve").await;
    let room = convo(&alice, "room", &[&bob, &carol]).await;
    assert_eq!(
        owners(&bob, &room).await["owners"],
        json!([alice.id.as_str()])
    );
    let mut watcher = stack.ws(&bob).await;
    watcher
        .subscribe("members", ON_MEMBER_CHANGE, json!({ "c": room }))
        .await;
    watcher.sync().await;

    // A member who is not an owner can do neither; an outsider learns nothing.
    let vars = |u: &Client| json!({ "c": room, "u": u.id });
    assert_eq!(
        error_type(&bob.send(REMOVE, vars(&carol)).await),
        "Unauthorized"
    );
    assert_eq!(
        error_type(&bob.send(PROMOTE, vars(&carol)).await),
        "Unauthorized"
    );
    assert_eq!(
        error_type(&eve.send(REMOVE, vars(&carol)).await),
        "Unauthorized"
    );
    assert_eq!(
        error_type(&eve.send(PROMOTE, vars(&eve)).await),
        "Unauthorized"
    );
    // Bad ids, and removing oneself, are refused plainly.
    assert_eq!(
        error_type(&alice.send(REMOVE, json!({ "c": room, "u": "" })).await),
        "ValidationError"
    );
    assert_eq!(
        error_type(&alice.send(REMOVE, vars(&alice)).await),
        "ValidationError"
    );
    assert_eq!(
        error_type(&alice.send(PROMOTE, vars(&eve)).await),
        "NotFound"
    );

    // Joining is pushed too.
    alice
        .ok(
            "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }",
            json!({ "c": room, "u": dave.id }),
        )
        .await;
    assert_eq!(
        member_change(&mut watcher, "members").await,
        json!({ "kind": "JOINED", "userId": dave.id, "by": alice.id })
    );

    // The owner promotes Bob; promoting again changes and pushes nothing.
    let promoted = alice.ok(PROMOTE, vars(&bob)).await["promoteMember"].clone();
    assert_eq!(
        promoted,
        json!({ "kind": "PROMOTED", "conversationId": room, "userId": bob.id, "by": alice.id })
    );
    alice.ok(PROMOTE, vars(&bob)).await;
    assert_eq!(
        member_change(&mut watcher, "members").await,
        json!({ "kind": "PROMOTED", "userId": bob.id, "by": alice.id })
    );
    assert_eq!(
        owners(&bob, &room).await["owners"],
        json!([alice.id.as_str(), bob.id.as_str()])
    );
    // Owners cannot be removed, by another owner either.
    assert_eq!(
        error_type(&alice.send(REMOVE, vars(&bob)).await),
        "Unauthorized"
    );

    // Bob, now an owner, removes Carol; removing her again changes nothing.
    let removed = bob.ok(REMOVE, vars(&carol)).await["removeMember"].clone();
    assert_eq!(removed["kind"], "REMOVED");
    bob.ok(REMOVE, vars(&carol)).await;
    assert_eq!(
        member_change(&mut watcher, "members").await,
        json!({ "kind": "REMOVED", "userId": carol.id, "by": bob.id })
    );
    assert_eq!(
        owners(&alice, &room).await["members"],
        json!([alice.id.as_str(), bob.id.as_str(), dave.id.as_str()])
    );
    assert_eq!(
        watcher.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence,
        "retries pushed nothing"
    );
}

#[tokio::test]
async fn the_last_owner_hands_over_before_leaving() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let out = alice.send(LEAVE, json!({ "c": room })).await;
    assert_eq!(error_type(&out), "Conflict", "{out}");
    // A member who is not an owner leaves freely.
    let solo = convo(&alice, "solo", &[&bob]).await;
    assert_eq!(
        bob.ok(LEAVE, json!({ "c": solo })).await["leaveConvo"]["kind"],
        "LEFT"
    );
    // Leaving again, or a conversation one was never in, answers the same.
    bob.ok(LEAVE, json!({ "c": solo })).await;
    let eve = stack.user("eve").await;
    eve.ok(LEAVE, json!({ "c": room })).await;
    // The sole member may leave, owner or not.
    alice.ok(LEAVE, json!({ "c": solo })).await;
    assert_eq!(
        error_type(
            &alice
                .send(
                    "query($c: ID!) { getConvo(id: $c) { id } }",
                    json!({ "c": solo })
                )
                .await
        ),
        "Unauthorized"
    );

    alice.ok(PROMOTE, json!({ "c": room, "u": bob.id })).await;
    let left = alice.ok(LEAVE, json!({ "c": room })).await["leaveConvo"].clone();
    assert_eq!(
        left,
        json!({ "kind": "LEFT", "conversationId": room, "userId": alice.id, "by": alice.id })
    );
    let now = owners(&bob, &room).await;
    assert_eq!(now["members"], json!([bob.id.as_str()]));
    assert_eq!(now["owners"], json!([bob.id.as_str()]));
}

/// From the moment a removal answers, the removed member can no longer
/// read, post or subscribe, and the subscriptions they hold on an open
/// socket stop receiving: each gets an `error`, and nothing after it.
#[tokio::test]
async fn a_removed_member_loses_access_and_live_subscriptions_at_once() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob, &carol]).await;
    let other = convo(&carol, "carol's other room", &[&alice]).await;
    let mut carol_ws = stack.ws(&carol).await;
    for (id, doc, c) in [
        ("new", ON_CREATE_MESSAGE, &room),
        ("changes", ON_MESSAGE_CHANGE, &room),
        ("members", ON_MEMBER_CHANGE, &room),
        ("elsewhere", ON_CREATE_MESSAGE, &other),
    ] {
        carol_ws.subscribe(id, doc, json!({ "c": c })).await;
    }
    carol_ws.sync().await;
    post(&alice, &room, "before").await;
    for _ in 0..2 {
        assert!(matches!(carol_ws.next().await, WsEvent::Message(m) if m["type"] == "next"));
    }

    alice.ok(REMOVE, json!({ "c": room, "u": carol.id })).await;
    // Told of her removal, then each subscription to the room ends.
    let mut ended = std::collections::BTreeSet::new();
    let mut told = false;
    for _ in 0..4 {
        match carol_ws.next().await {
            WsEvent::Message(m) if m["type"] == "next" && m["id"] == "members" => {
                assert_eq!(m["payload"]["data"]["onMemberChange"]["kind"], "REMOVED");
                told = true;
            }
            WsEvent::Message(m) if m["type"] == "error" => {
                assert_eq!(m["payload"][0]["errorType"], "Unauthorized");
                ended.insert(m["id"].as_str().unwrap().to_string());
            }
            other => panic!("expected the removal and the ends, got {other:?}"),
        }
    }
    assert!(told);
    assert_eq!(
        ended,
        ["changes", "members", "new"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    // Nothing more from the room; the other conversation still arrives.
    post(&alice, &room, "after").await;
    post(&alice, &other, "elsewhere").await;
    match carol_ws.next().await {
        WsEvent::Message(m) => {
            assert_eq!(m["id"], "elsewhere");
            assert_eq!(
                m["payload"]["data"]["onCreateMessage"]["content"],
                "elsewhere"
            );
        }
        other => panic!("expected the other room's message, got {other:?}"),
    }
    assert_eq!(
        carol_ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );

    // No read, no post, no subscribe, no catch-up.
    for (doc, vars) in [
        ("query($c: ID!) { getConvo(id: $c) { id } }", json!({ "c": room })),
        ("mutation($c: ID!) { createMessage(input: {content: \"x\", messageConversationId: $c}) { id } }", json!({ "c": room })),
        ("query($c: ID!) { messageChanges(conversationId: $c) { cursor } }", json!({ "c": room })),
        ("query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id } } }", json!({ "c": room })),
    ] {
        assert_eq!(error_type(&carol.send(doc, vars).await), "Unauthorized", "{doc}");
    }
    carol_ws
        .subscribe("again", ON_CREATE_MESSAGE, json!({ "c": room }))
        .await;
    match carol_ws.next().await {
        WsEvent::Message(m) => {
            assert_eq!(m["type"], "error");
            assert_eq!(m["payload"][0]["errorType"], "Unauthorized");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nor change anything in it: mark, react, edit her own old message.
    let before = chat_tests::post(&alice, &room, "still there").await;
    for (doc, vars) in [
        ("mutation($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { seq } }", json!({ "c": room, "m": before })),
        ("mutation($c: ID!, $m: ID!) { addReaction(input: {messageConversationId: $c, messageId: $m, emoji: \"👍\"}) { id } }", json!({ "c": room, "m": before })),
        ("mutation($c: ID!, $m: ID!) { updateMessage(input: {id: $m, messageConversationId: $c, content: \"x\"}) { id } }", json!({ "c": room, "m": before })),
    ] {
        assert_eq!(error_type(&carol.send(doc, vars).await), "Unauthorized", "{doc}");
    }
    // Her own conversation list no longer has it.
    let list = carol
        .ok(
            "query($u: ID!) { getUser(id: $u) { conversations { items { convoLinkConversationId } } } }",
            json!({ "u": carol.id }),
        )
        .await;
    assert_eq!(
        list["getUser"]["conversations"]["items"],
        json!([{ "convoLinkConversationId": other }])
    );
}

#[tokio::test]
async fn membership_changes_cost_what_the_table_says() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[&bob, &carol]).await;
    for (name, client, doc, vars, expected) in [
        // BatchGetItem + TransactWriteItems + Query (the change's subscribers).
        (
            "promoteMember",
            &alice,
            PROMOTE,
            json!({ "c": room, "u": bob.id }),
            3,
        ),
        (
            "promoteMember (retry)",
            &alice,
            PROMOTE,
            json!({ "c": room, "u": bob.id }),
            1,
        ),
        // + Query (the removed member's subscriptions, to end them).
        (
            "removeMember",
            &alice,
            REMOVE,
            json!({ "c": room, "u": carol.id }),
            4,
        ),
        (
            "removeMember (retry)",
            &alice,
            REMOVE,
            json!({ "c": room, "u": carol.id }),
            2,
        ),
        ("leaveConvo", &alice, LEAVE, json!({ "c": room }), 4),
        ("leaveConvo (retry)", &alice, LEAVE, json!({ "c": room }), 2),
    ] {
        let (_, invocations, requests) = stack.cost(client.ok(doc, vars)).await;
        assert_eq!(invocations, 1, "{name}");
        // Each one also reads the caller's standing first.
        assert_eq!(requests, 1 + expected, "{name}: DynamoDB requests");
    }
}

/// A removal races members who keep posting: the removed member's socket,
/// read frame by frame, gets each subscription's `error` and never a `next`
/// for that id after it, not even for messages whose `createMessage` was
/// already in flight when the removal committed. The members who stay get
/// every message.
#[tokio::test]
async fn nothing_follows_the_error_of_a_removed_members_subscription_while_others_post() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let writers = [alice.clone(), bob.clone(), carol.clone()];
    for round in 0..3 {
        let dave = stack.user(&format!("dave{round}")).await;
        let room = convo(&alice, &format!("race {round}"), &[&bob, &carol, &dave]).await;
        let mut dave_ws = stack.ws(&dave).await;
        let mut bob_ws = stack.ws(&bob).await;
        for ws in [&mut dave_ws, &mut bob_ws] {
            ws.subscribe("new", ON_CREATE_MESSAGE, json!({ "c": room }))
                .await;
            ws.subscribe("changes", ON_MESSAGE_CHANGE, json!({ "c": room }))
                .await;
            ws.sync().await;
        }
        let stop = AtomicBool::new(false);
        let posted = AtomicUsize::new(0);
        let posting = writers.iter().map(|author| {
            let (room, stop, posted) = (&room, &stop, &posted);
            async move {
                while !stop.load(Ordering::SeqCst) {
                    post(author, room, "in flight").await;
                    posted.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let remove = async {
            // Let the writers get going, so that posts are in flight.
            while posted.load(Ordering::SeqCst) < 6 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            alice.ok(REMOVE, json!({ "c": room, "u": dave.id })).await;
            // And keep going a while after the removal answered.
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.store(true, Ordering::SeqCst);
        };
        tokio::join!(futures::future::join_all(posting), remove);

        let mut ended = std::collections::BTreeSet::new();
        let mut nexts_before_end = 0;
        loop {
            match dave_ws.next_within(Duration::from_millis(500)).await {
                WsEvent::Silence => break,
                WsEvent::Message(m) if m["type"] == "error" => {
                    assert_eq!(m["payload"][0]["errorType"], "Unauthorized", "{m}");
                    let id = m["id"].as_str().unwrap().to_string();
                    assert!(ended.insert(id), "a second error for one id: {m}");
                }
                WsEvent::Message(m) if m["type"] == "next" => {
                    let id = m["id"].as_str().unwrap();
                    assert!(
                        !ended.contains(id),
                        "round {round}: a next after the error of {id:?}: {m}"
                    );
                    nexts_before_end += 1;
                }
                other => panic!("unexpected on the removed member's socket: {other:?}"),
            }
        }
        assert_eq!(
            ended,
            ["changes", "new"].map(String::from).into_iter().collect(),
            "round {round}"
        );
        assert!(nexts_before_end > 0, "dave got messages while a member");
        // Bob, who stays, got every message on both subscriptions.
        let total = posted.load(Ordering::SeqCst);
        let mut bob_got = 0;
        while let WsEvent::Message(m) = bob_ws.next_within(Duration::from_millis(500)).await {
            assert_eq!(m["type"], "next", "{m}");
            bob_got += 1;
        }
        assert_eq!(bob_got, 2 * total, "round {round}");
    }
}

#[tokio::test]
async fn a_member_past_the_listed_thousand_is_a_member_in_every_way() {
    use chat_domain::limits::MAX_LISTED_MEMBERS;
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "room", &[]).await;
    stack.fill(&alice, &room, MAX_LISTED_MEMBERS).await;
    let add = "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }";
    for who in [&bob, &carol] {
        alice.ok(add, json!({ "c": room, "u": who.id })).await;
    }
    // The list is full: Bob is counted, not listed, and reads as a member.
    let read = "query($c: ID!) { getConvo(id: $c) { members memberCount messages(limit: 5) { items { id } } } }";
    let convo = bob.ok(read, json!({ "c": room })).await["getConvo"].clone();
    assert_eq!(convo["memberCount"], MAX_LISTED_MEMBERS + 2);
    let listed = convo["members"].as_array().unwrap();
    assert_eq!(listed.len(), MAX_LISTED_MEMBERS);
    assert!(!listed.contains(&json!(bob.id)));
    // He posts to it; naming Carol, who is not listed either, mentions her.
    let sent = bob
        .ok(
            "mutation($c: ID!) { createMessage(input: {content: \"hi @carol\", messageConversationId: $c}) { id mentions } }",
            json!({ "c": room }),
        )
        .await;
    assert_eq!(sent["createMessage"]["mentions"], json!([carol.id]));
    let id = sent["createMessage"]["id"].clone();
    let edited = bob
        .ok(
            "mutation($c: ID!, $m: ID!) { updateMessage(input: {id: $m, messageConversationId: $c, content: \"now @carol\"}) { mentions } }",
            json!({ "c": room, "m": id }),
        )
        .await;
    assert_eq!(edited["updateMessage"]["mentions"], json!([carol.id]));
    // An owner promotes Carol, who is not listed either.
    alice.ok(PROMOTE, json!({ "c": room, "u": carol.id })).await;
    let owners = owners(&alice, &room).await;
    assert_eq!(owners["owners"], json!([alice.id, carol.id]));
    // He hears the room live, then, removed, his subscription ends. His
    // socket is read while each request is under way: the test client
    // answers the stack's pings only as it reads, and each of these
    // requests works through a thousand members.
    let mut bob_ws = stack.ws(&bob).await;
    bob_ws
        .subscribe("new", ON_CREATE_MESSAGE, json!({ "c": room }))
        .await;
    bob_ws.sync().await;
    let (_, heard) = tokio::join!(
        post(&alice, &room, "to everyone"),
        next_of_kind(&mut bob_ws, "next")
    );
    assert_eq!(
        heard["payload"]["data"]["onCreateMessage"]["content"],
        "to everyone"
    );
    let (_, ended) = tokio::join!(
        alice.ok(REMOVE, json!({ "c": room, "u": bob.id })),
        next_of_kind(&mut bob_ws, "error")
    );
    assert_eq!(ended["payload"][0]["errorType"], "Unauthorized");
    // His access ends with it; Carol leaves.
    assert_eq!(
        error_type(&bob.send(read, json!({ "c": room })).await),
        "Unauthorized"
    );
    carol.ok(LEAVE, json!({ "c": room })).await;
    let convo = alice.ok(read, json!({ "c": room })).await["getConvo"].clone();
    assert_eq!(convo["memberCount"], MAX_LISTED_MEMBERS);
}

#[tokio::test]
async fn a_conversation_stored_before_its_member_count_gains_one_as_it_changes() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let dave = stack.user("dave").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let old = convo(&alice, "old", &[&bob, &carol]).await;
    // As stored before member counts: its list was every member.
    let db = stack.dynamodb().await;
    for id in [&room, &old] {
        db.update_item()
            .table_name(&stack.running.tables.conversations)
            .key(
                "id",
                aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
            )
            .update_expression("REMOVE memberCount")
            .send()
            .await
            .expect("an item as stored before");
    }
    let read = "query($c: ID!) { getConvo(id: $c) { members memberCount } }";
    assert_eq!(
        alice.ok(read, json!({ "c": room })).await["getConvo"]["memberCount"],
        2
    );
    // Adding a member counts from the list; so does a member leaving.
    let add = "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }";
    alice.ok(add, json!({ "c": room, "u": dave.id })).await;
    let convo = alice.ok(read, json!({ "c": room })).await["getConvo"].clone();
    assert_eq!(convo["memberCount"], 3);
    assert_eq!(convo["members"], json!([alice.id, bob.id, dave.id]));
    carol.ok(LEAVE, json!({ "c": old })).await;
    let convo = alice.ok(read, json!({ "c": old })).await["getConvo"].clone();
    assert_eq!(convo["memberCount"], 2);
    alice.ok(add, json!({ "c": old, "u": dave.id })).await;
    let convo = alice.ok(read, json!({ "c": old })).await["getConvo"].clone();
    assert_eq!(convo["memberCount"], 3);
    assert_eq!(convo["members"], json!([alice.id, bob.id, dave.id]));
}

/// The next message of `kind` (`next`, `error`) on `ws`, waiting up to two
/// minutes and skipping others of kind `next`.
async fn next_of_kind(ws: &mut WsClient, kind: &str) -> Value {
    for _ in 0..24 {
        match ws.next().await {
            WsEvent::Message(m) if m["type"] == kind => return m,
            WsEvent::Message(m) if m["type"] == "next" => continue,
            WsEvent::Silence => continue,
            other => panic!("expected a {kind}, got {other:?}"),
        }
    }
    panic!("no {kind} in two minutes");
}
