//! Chatt's client documents, sent byte for byte.

use chat_tests::Stack;
use serde_json::json;

const CREATE_USER: &str = "mutation($username: String!) { createUser(input: { username: $username }) { id username createdAt } }";
const CREATE_CONVO: &str = "mutation CreateConvo($name: String!, $members: [String!]!) { createConvo(input: { name: $name, members: $members }) { id name members } }";
const CREATE_CONVO_LINK: &str = "mutation CreateConvoLink($convoLinkConversationId: ID!, $convoLinkUserId: ID) { createConvoLink(input: { convoLinkConversationId: $convoLinkConversationId, convoLinkUserId: $convoLinkUserId }) { id convoLinkUserId convoLinkConversationId conversation { id name } } }";
const CREATE_MESSAGE: &str = "mutation CreateMessage($createdAt: String, $id: ID, $authorId: String, $content: String!, $messageConversationId: ID!) { createMessage(input: { createdAt: $createdAt, id: $id, content: $content, messageConversationId: $messageConversationId, authorId: $authorId }) { id content authorId messageConversationId createdAt } }";
const GET_USER: &str = "query getUser($id: ID!) { getUser(id: $id) { id username } }";
const GET_USER_AND_CONVERSATIONS: &str = "query getUserAndConversations($id:ID!) { getUser(id:$id) { id username conversations(limit: 100) { items { id conversation { id name } } } } }";
const GET_CONVO: &str = "query getConvo($id: ID!) { getConvo(id:$id) { id name members messages(limit: 100) { items { id content authorId messageConversationId createdAt } } createdAt updatedAt } }";
const LIST_USERS: &str = "query listUsers { listUsers { items { id username createdAt } } }";

#[tokio::test]
async fn chatt_documents_work_unchanged() {
    let stack = Stack::start().await;
    let alice = stack.client("alice").await;
    let bob = stack.client("bob").await;
    let carol = stack.client("carol").await;

    for c in [&alice, &bob, &carol] {
        let out = c.ok(CREATE_USER, json!({ "username": c.username })).await;
        assert_eq!(out["createUser"]["id"], c.id.as_str());
        assert_eq!(out["createUser"]["username"], c.username.as_str());
        assert!(out["createUser"]["createdAt"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
    }

    let out = alice
        .ok(
            CREATE_CONVO,
            json!({ "name": "alice & bob", "members": [bob.id] }),
        )
        .await;
    let convo = &out["createConvo"];
    let convo_id = convo["id"].as_str().unwrap().to_string();
    assert_eq!(convo["name"], "alice & bob");
    assert_eq!(convo["members"], json!([alice.id, bob.id]));

    // Bob, a member, adds Carol.
    let out = bob
        .ok(
            CREATE_CONVO_LINK,
            json!({ "convoLinkConversationId": convo_id, "convoLinkUserId": carol.id }),
        )
        .await;
    let link = &out["createConvoLink"];
    assert_eq!(link["convoLinkUserId"], carol.id.as_str());
    assert_eq!(link["convoLinkConversationId"], convo_id.as_str());
    assert_eq!(
        link["conversation"],
        json!({ "id": convo_id, "name": "alice & bob" })
    );

    // Chatt sends its own id, createdAt and authorId.
    let client_id = "5c0b5a4e-0d59-4cf5-a5d3-0ad6e3f6b7a1";
    let out = alice
        .ok(
            CREATE_MESSAGE,
            json!({
                "id": client_id, "content": "hello bob", "messageConversationId": convo_id,
                "authorId": alice.id, "createdAt": "2019-01-01T00:00:00.000Z"
            }),
        )
        .await;
    let msg = &out["createMessage"];
    assert_eq!(msg["id"], client_id);
    assert_eq!(msg["content"], "hello bob");
    assert_eq!(msg["authorId"], alice.id.as_str());
    assert_eq!(msg["messageConversationId"], convo_id.as_str());
    assert_ne!(
        msg["createdAt"], "2019-01-01T00:00:00.000Z",
        "the server stamps time"
    );
    let out = bob
        .ok(
            CREATE_MESSAGE,
            json!({ "content": "hi alice", "messageConversationId": convo_id }),
        )
        .await;
    let bob_msg_id = out["createMessage"]["id"].as_str().unwrap().to_string();

    let out = carol.ok(GET_USER, json!({ "id": alice.id })).await;
    assert_eq!(
        out["getUser"],
        json!({ "id": alice.id, "username": "alice" })
    );

    let out = carol
        .ok(GET_USER_AND_CONVERSATIONS, json!({ "id": carol.id }))
        .await;
    assert_eq!(
        out["getUser"]["conversations"]["items"],
        json!([{ "id": format!("{convo_id}:{}", carol.id), "conversation": { "id": convo_id, "name": "alice & bob" } }])
    );

    let out = carol.ok(GET_CONVO, json!({ "id": convo_id })).await;
    let got = &out["getConvo"];
    assert_eq!(got["id"], convo_id.as_str());
    assert_eq!(got["members"], json!([alice.id, bob.id, carol.id]));
    let items = got["messages"]["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [client_id, bob_msg_id.as_str()]);
    assert_eq!(items[0]["content"], "hello bob");
    assert!(got["createdAt"].is_string() && got["updatedAt"].is_string());

    let out = alice.ok(LIST_USERS, json!({})).await;
    let names: Vec<&str> = out["listUsers"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);

    stack.running.shutdown().await;
}
