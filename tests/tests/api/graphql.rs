//! GraphQL as AppSync serves it: variables, aliases, fragments, `__typename`,
//! introspection, validation, and the error shape.

use chat_tests::{convo, post, Stack};
use serde_json::json;

#[tokio::test]
async fn aliases_fragments_typename_and_variables() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let id = convo(&alice, "room", &[]).await;
    post(&alice, &id, "one").await;
    post(&alice, &id, "two").await;
    let out = alice
        .ok(
            r#"query Room($id: ID!, $skipName: Boolean!) {
                 room: getConvo(id: $id) {
                   __typename
                   title: name @skip(if: $skipName)
                   ... on Conversation {
                     latest: messages(limit: 1, sortDirection: DESC) { items { text: content __typename } }
                   }
                 }
                 self: me { ...Handle }
               }
               fragment Handle on User { handle: username }"#,
            json!({ "id": id, "skipName": false }),
        )
        .await;
    assert_eq!(
        out,
        json!({
            "room": {
                "__typename": "Conversation",
                "title": "room",
                "latest": { "items": [{ "text": "two", "__typename": "Message" }] }
            },
            "self": { "handle": "alice" }
        })
    );
    // Only what was asked is returned, in the order asked.
    assert_eq!(
        out["room"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["__typename", "title", "latest"]
    );
    // AppSync does not pass a named fragment's content to the function, so
    // a connection inside one has arguments nobody can read: refused, by
    // name, rather than read with defaults it was not asked for.
    let hidden = alice
        .send(
            r#"query($id: ID!) { getConvo(id: $id) { id ...Latest } }
               fragment Latest on Conversation { messages(limit: 1) { items { id } } }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        hidden["errors"][0]["errorType"], "ValidationError",
        "{hidden}"
    );
    assert!(
        hidden["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("named fragment"),
        "{hidden}"
    );
    // The same field twice with different arguments cannot be one value.
    let conflicting = alice
        .send(
            r#"query($id: ID!) { getConvo(id: $id) {
                 asc: messages(limit: 1) { items { content } }
                 desc: messages(limit: 1, sortDirection: DESC) { items { content } } } }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        conflicting["errors"][0]["errorType"], "ValidationError",
        "{conflicting}"
    );
    assert!(conflicting["data"]["getConvo"].is_null(), "{conflicting}");
}

#[tokio::test]
async fn introspection_works() {
    let stack = Stack::start().await;
    let alice = stack.client("alice").await;
    let out = alice
        .ok(
            r#"{ __schema { queryType { name } mutationType { name } subscriptionType { name } }
                 __type(name: "Message") { fields { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(out["__schema"]["queryType"]["name"], "Query");
    assert_eq!(out["__schema"]["subscriptionType"]["name"], "Subscription");
    let fields: Vec<&str> = out["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"messageConversationId") && fields.contains(&"author"));
}

#[tokio::test]
async fn invalid_documents_get_validation_errors_without_invoking_anything() {
    let stack = Stack::start().await;
    let alice = stack.client("alice").await;
    let before = stack.running.invocations.total();
    for (doc, vars) in [
        ("{ nope }", json!({})),
        ("{ getConvo { id } }", json!({})),
        ("query($id: ID!) { getConvo(id: $id) { id } }", json!({})),
        (
            "query($n: Int) { listUsers(limit: $n) { items { id } } }",
            json!({ "n": "ten" }),
        ),
        ("{ me { id ", json!({})),
    ] {
        let out = alice.send(doc, vars).await;
        let err = &out["errors"][0];
        assert_eq!(err["errorType"], "ValidationError", "{doc}: {out}");
        assert!(err["message"].as_str().unwrap().len() > 5);
        assert!(out["data"].is_null());
    }
    let out = alice
        .send("subscription { onCreateUser { id } }", json!({}))
        .await;
    assert_eq!(out["errors"][0]["errorType"], "UnsupportedOperation");
    assert_eq!(stack.running.invocations.total(), before);
}

#[tokio::test]
async fn field_errors_have_appsync_shape_and_siblings_still_resolve() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let out = alice
        .send(
            "query {\n  me { username }\n  secret: getConvo(id: \"someone-elses\") { id }\n}",
            json!({}),
        )
        .await;
    assert_eq!(out["data"]["me"]["username"], "alice");
    assert!(out["data"]["secret"].is_null());
    let err = &out["errors"][0];
    assert_eq!(err["errorType"], "Unauthorized");
    assert_eq!(err["path"], json!(["secret"]));
    assert_eq!(err["locations"][0]["line"], 3);
    assert!(err["locations"][0]["column"].as_u64().unwrap() >= 3);
    assert!(err["locations"][0]["sourceName"].is_null());
    assert_eq!(err["message"], "you are not a member of this conversation");
    assert!(err.get("data").is_some() && err.get("errorInfo").is_some());
}

#[tokio::test]
async fn data_and_tokens_survive_a_restart() {
    if std::env::var(chat_tests::ENDPOINT_ENV).is_ok() {
        // The external engine keeps its own data; this is about the embedded file.
        return;
    }
    let dir = chat_tests::temp_dir("restart");
    let stack = Stack::start_with(Some(dir.clone()), Some(String::new())).await;
    // The issuer is the gateway's URL: restart on the same port, as `make dev` does.
    let addr = stack
        .running
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let alice = stack.user("alice").await;
    let id = convo(&alice, "kept", &[]).await;
    post(&alice, &id, "still here").await;
    let token = alice.token.clone();
    stack.running.shutdown().await;

    let stack = Stack::start_at(addr, Some(dir.clone()), Some(String::new())).await;
    let (status, out) = stack
        .post(
            Some(&token),
            json!({ "query": "query($id: ID!) { me { username } getConvo(id: $id) { messages { items { content } } } }", "variables": { "id": id } }),
        )
        .await;
    assert_eq!(status, 200, "the old token verifies: {out}");
    assert_eq!(out["data"]["me"]["username"], "alice");
    assert_eq!(
        out["data"]["getConvo"]["messages"]["items"][0]["content"],
        "still here"
    );
    stack.running.shutdown().await;
}
