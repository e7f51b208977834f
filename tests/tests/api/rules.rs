//! The API's rules: identity, idempotency, atomicity, order and pagination.

use std::collections::HashSet;

use chat_tests::{convo, post, Stack};
use serde_json::{json, Value};

const CREATE_MESSAGE: &str = "mutation($id: ID, $c: String!, $cid: ID!) { createMessage(input: {id: $id, content: $c, messageConversationId: $cid}) { id content authorId } }";

#[tokio::test]
async fn create_user_is_idempotent_and_usernames_are_unique() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let doc =
        "mutation($u: String!) { createUser(input: {username: $u}) { id username createdAt } }";
    let first = alice
        .ok("{ me { id username createdAt } }", json!({}))
        .await;
    let again = alice.ok(doc, json!({ "u": "alice" })).await;
    assert_eq!(
        again["createUser"], first["me"],
        "a retry returns the same profile"
    );

    // Another user can't take the name, in any case.
    let mallory = stack.client("mallory").await;
    assert_eq!(
        mallory.error_type(doc, json!({ "u": "alice" })).await,
        "Conflict"
    );
    assert_eq!(
        mallory.error_type(doc, json!({ "u": "ALICE" })).await,
        "Conflict"
    );
    // Nor can alice rename herself through createUser.
    assert_eq!(
        alice.error_type(doc, json!({ "u": "alice2" })).await,
        "Conflict"
    );
    // The profile id is the token's subject, whatever is sent.
    let out = mallory.ok(doc, json!({ "u": "mallory" })).await;
    assert_eq!(out["createUser"]["id"], mallory.id.as_str());
    let users = alice
        .ok("{ listUsers { items { username } } }", json!({}))
        .await;
    assert_eq!(
        users["listUsers"]["items"],
        json!([{"username": "alice"}, {"username": "mallory"}])
    );
}

#[tokio::test]
async fn me_is_null_before_create_user() {
    let stack = Stack::start().await;
    let newcomer = stack.client("newcomer").await;
    assert_eq!(
        newcomer.ok("{ me { id } }", json!({})).await["me"],
        Value::Null
    );
}

#[tokio::test]
async fn create_convo_includes_the_caller_and_is_all_or_nothing() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let doc = "mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id members associated { items { convoLinkUserId } } } }";

    // The caller is added even when left out; duplicates collapse.
    let out = alice
        .ok(doc, json!({ "n": "x", "m": [bob.id, bob.id] }))
        .await;
    assert_eq!(out["createConvo"]["members"], json!([alice.id, bob.id]));
    // Every member's link, in the order getConvo lists them (by user id).
    let mut linked = [alice.id.clone(), bob.id.clone()];
    linked.sort();
    assert_eq!(
        out["createConvo"]["associated"]["items"],
        json!(linked
            .iter()
            .map(|id| json!({ "convoLinkUserId": id }))
            .collect::<Vec<_>>())
    );
    let convo_id = out["createConvo"]["id"].as_str().unwrap().to_string();
    let links =
        "query($id: ID!) { getUser(id: $id) { conversations { items { conversation { id } } } } }";
    for c in [&alice, &bob] {
        let out = c.ok(links, json!({ "id": c.id })).await;
        assert_eq!(
            out["getUser"]["conversations"]["items"],
            json!([{ "conversation": { "id": convo_id } }])
        );
    }

    // A missing member fails the whole request: no conversation, no links.
    let err = alice
        .error_type(doc, json!({ "n": "y", "m": [bob.id, "no-such-user"] }))
        .await;
    assert_eq!(err, "NotFound");
    for c in [&alice, &bob] {
        let out = c.ok(links, json!({ "id": c.id })).await;
        assert_eq!(
            out["getUser"]["conversations"]["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
    // A caller without a profile can't create one.
    let ghost = stack.client("ghost").await;
    assert_eq!(
        ghost.error_type(doc, json!({ "n": "z", "m": [] })).await,
        "NotFound"
    );
}

#[tokio::test]
async fn create_convo_link_adds_members_idempotently() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let id = convo(&alice, "room", &[&bob]).await;
    let doc = "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id createdAt user { username } } }";
    let first = bob.ok(doc, json!({ "c": id, "u": carol.id })).await;
    assert_eq!(first["createConvoLink"]["user"]["username"], "carol");
    let again = alice.ok(doc, json!({ "c": id, "u": carol.id })).await;
    assert_eq!(
        again["createConvoLink"], first["createConvoLink"],
        "adding twice returns the same link"
    );
    // With no user id, the caller confirms their own membership.
    let own = carol.ok(doc, json!({ "c": id, "u": null })).await;
    assert_eq!(own["createConvoLink"], first["createConvoLink"]);
    let members = carol
        .ok(
            "query($id: ID!) { getConvo(id: $id) { members } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        members["getConvo"]["members"],
        json!([alice.id, bob.id, carol.id])
    );
    assert_eq!(
        alice
            .error_type(doc, json!({ "c": id, "u": "nobody" }))
            .await,
        "NotFound"
    );
}

#[tokio::test]
async fn create_message_is_idempotent_on_the_client_id() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let id = convo(&alice, "room", &[&bob]).await;
    let client_id = "retry-me-1";
    let first = alice
        .ok(
            CREATE_MESSAGE,
            json!({ "id": client_id, "c": "once", "cid": id }),
        )
        .await;
    // An offline client retries, even with edited content: it gets the original.
    let (retry, invocations, _) = stack
        .cost(alice.ok(
            CREATE_MESSAGE,
            json!({ "id": client_id, "c": "twice", "cid": id }),
        ))
        .await;
    assert_eq!(retry, first);
    assert_eq!(invocations, 1);
    let history = alice
        .ok("query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id content } } }", json!({ "c": id }))
        .await;
    assert_eq!(
        history["allMessageConnection"]["messages"],
        json!([{ "id": client_id, "content": "once" }]),
        "nothing is stored twice"
    );
    // Someone else reusing the id does not get alice's message.
    assert_eq!(
        bob.error_type(
            CREATE_MESSAGE,
            json!({ "id": client_id, "c": "x", "cid": id })
        )
        .await,
        "Conflict"
    );
}

/// Pages through a list with `next`, returning every id seen, in order.
async fn drain<F, Fut>(mut next: F) -> Vec<String>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = (Vec<String>, Option<String>)>,
{
    let mut seen = Vec::new();
    let mut token = None;
    for _ in 0..100 {
        let (ids, next_token) = next(token).await;
        seen.extend(ids);
        match next_token {
            Some(t) => token = Some(t),
            None => return seen,
        }
    }
    panic!("pagination did not end");
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_never_skip_or_repeat_in_either_order() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let id = convo(&alice, "busy", &[]).await;
    let mut sent = Vec::new();
    for i in 0..23 {
        // Client ids that sort opposite to time, to prove order is the server's.
        let cid = format!("m{:03}", 999 - i);
        alice
            .ok(
                CREATE_MESSAGE,
                json!({ "id": cid, "c": format!("n{i}"), "cid": id }),
            )
            .await;
        sent.push(cid);
    }
    let asc = drain(|token| {
        let alice = alice.clone();
        let id = id.clone();
        async move {
            let out = alice
                .ok(
                    "query($id: ID!, $t: String) { getConvo(id: $id) { messages(limit: 5, nextToken: $t) { items { id } nextToken } } }",
                    json!({ "id": id, "t": token }),
                )
                .await;
            let page = &out["getConvo"]["messages"];
            (ids(&page["items"]), page["nextToken"].as_str().map(str::to_string))
        }
    })
    .await;
    assert_eq!(asc, sent);

    let desc = drain(|token| {
        let alice = alice.clone();
        let id = id.clone();
        async move {
            let out = alice
                .ok(
                    "query($id: ID!, $t: String) { getConvo(id: $id) { messages(limit: 4, nextToken: $t, sortDirection: DESC) { items { id } nextToken } } }",
                    json!({ "id": id, "t": token }),
                )
                .await;
            let page = &out["getConvo"]["messages"];
            (ids(&page["items"]), page["nextToken"].as_str().map(str::to_string))
        }
    })
    .await;
    let mut reversed = sent.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);

    // ChatQL's history: newest first, `first` at a time.
    let history = drain(|token| {
        let alice = alice.clone();
        let id = id.clone();
        async move {
            let out = alice
                .ok(
                    "query($id: ID!, $a: String) { allMessageConnection(conversationId: $id, first: 6, after: $a) { messages { id } nextToken } }",
                    json!({ "id": id, "a": token }),
                )
                .await;
            let page = &out["allMessageConnection"];
            (ids(&page["messages"]), page["nextToken"].as_str().map(str::to_string))
        }
    })
    .await;
    assert_eq!(history, reversed);
    assert_eq!(history.iter().collect::<HashSet<_>>().len(), 23);

    // Messages posted between pages appear at the end, never in between.
    let out = alice
        .ok(
            "query($id: ID!) { getConvo(id: $id) { messages(limit: 20) { nextToken } } }",
            json!({ "id": id }),
        )
        .await;
    let token = out["getConvo"]["messages"]["nextToken"]
        .as_str()
        .unwrap()
        .to_string();
    let late = post(&alice, &id, "late").await;
    let out = alice
        .ok(
            "query($id: ID!, $t: String) { getConvo(id: $id) { messages(limit: 20, nextToken: $t) { items { id } nextToken } } }",
            json!({ "id": id, "t": token }),
        )
        .await;
    let mut rest: Vec<String> = sent[20..].to_vec();
    rest.push(late);
    assert_eq!(ids(&out["getConvo"]["messages"]["items"]), rest);
}

#[tokio::test]
async fn list_users_pages_by_username() {
    let stack = Stack::start().await;
    let mut names = Vec::new();
    for i in 0..7 {
        let name = format!("user{i}");
        stack.user(&name).await;
        names.push(name);
    }
    let reader = stack.client("user0").await;
    let got = drain(|token| {
        let reader = reader.clone();
        async move {
            let out = reader
                .ok(
                    "query($t: String) { listUsers(limit: 3, nextToken: $t) { items { username } nextToken } }",
                    json!({ "t": token }),
                )
                .await;
            let page = &out["listUsers"];
            let names = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string())
                .collect();
            (names, page["nextToken"].as_str().map(str::to_string))
        }
    })
    .await;
    assert_eq!(got, names);
}

#[tokio::test]
async fn nested_fields_resolve_with_batch_reads() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let id = convo(&alice, "room", &[&bob]).await;
    post(&alice, &id, "from alice").await;
    post(&bob, &id, "from bob").await;
    let out = bob
        .ok(
            "query($id: ID!) { getConvo(id: $id) { messages { items { content author { username } conversation { name } } } associated { items { user { username } conversation { id } } } } }",
            json!({ "id": id }),
        )
        .await;
    let convo = &out["getConvo"];
    assert_eq!(
        convo["messages"]["items"],
        json!([
            { "content": "from alice", "author": { "username": "alice" }, "conversation": { "name": "room" } },
            { "content": "from bob", "author": { "username": "bob" }, "conversation": { "name": "room" } }
        ])
    );
    // Links are ordered by user id; compare as a set.
    let mut links = convo["associated"]["items"].as_array().unwrap().clone();
    links.sort_by_key(|l| l["user"]["username"].as_str().unwrap().to_string());
    assert_eq!(
        links,
        [
            json!({ "user": { "username": "alice" }, "conversation": { "id": id } }),
            json!({ "user": { "username": "bob" }, "conversation": { "id": id } })
        ]
    );
}
