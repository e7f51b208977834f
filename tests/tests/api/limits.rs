//! Every documented limit, probed at its edge: the last valid value passes,
//! the first invalid one gets a `ValidationError` (or `LimitExceeded`) and
//! changes nothing.

use chat_domain::limits::{
    MAX_CONTENT_CHARS, MAX_CONVO_NAME_CHARS, MAX_ID_CHARS, MAX_INITIAL_MEMBERS, MAX_LISTED_MEMBERS,
    MAX_MEMBERS, MAX_PAGE_SIZE, MAX_USERNAME_CHARS,
};
use chat_tests::{convo, Stack};
use serde_json::{json, Value};

const SEND: &str = "mutation($id: ID, $c: String!, $cid: ID!) { createMessage(input: {id: $id, content: $c, messageConversationId: $cid}) { id } }";
const CREATE: &str = "mutation($n: String!, $m: [String!]!) { createConvo(input: {name: $n, members: $m}) { id members } }";

#[tokio::test]
async fn content_name_and_id_limits() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let id = convo(&alice, "limits", &[]).await;

    // Content counts characters, not bytes.
    let max = "é".repeat(MAX_CONTENT_CHARS);
    alice.ok(SEND, json!({ "c": max, "cid": id })).await;
    let over = "é".repeat(MAX_CONTENT_CHARS + 1);
    assert_eq!(
        alice
            .error_type(SEND, json!({ "c": over, "cid": id }))
            .await,
        "ValidationError"
    );
    for blank in ["", "   ", "\n\t"] {
        assert_eq!(
            alice
                .error_type(SEND, json!({ "c": blank, "cid": id }))
                .await,
            "ValidationError"
        );
    }
    // Client message ids.
    let long_id = "i".repeat(MAX_ID_CHARS);
    alice
        .ok(SEND, json!({ "id": long_id, "c": "ok", "cid": id }))
        .await;
    let too_long = "i".repeat(MAX_ID_CHARS + 1);
    assert_eq!(
        alice
            .error_type(SEND, json!({ "id": too_long, "c": "x", "cid": id }))
            .await,
        "ValidationError"
    );
    assert_eq!(
        alice
            .error_type(SEND, json!({ "id": "has space", "c": "x", "cid": id }))
            .await,
        "ValidationError"
    );
    let count = alice
        .ok(
            "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id } } }",
            json!({ "c": id }),
        )
        .await;
    assert_eq!(
        count["allMessageConnection"]["messages"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "rejected input stored nothing"
    );

    // Conversation names.
    alice
        .ok(
            CREATE,
            json!({ "n": "n".repeat(MAX_CONVO_NAME_CHARS), "m": [] }),
        )
        .await;
    let long = "n".repeat(MAX_CONVO_NAME_CHARS + 1);
    assert_eq!(
        alice
            .error_type(CREATE, json!({ "n": long, "m": [] }))
            .await,
        "ValidationError"
    );
    assert_eq!(
        alice.error_type(CREATE, json!({ "n": " ", "m": [] })).await,
        "ValidationError"
    );

    // Usernames.
    let doc = "mutation($u: String!) { createUser(input: {username: $u}) { id } }";
    let long_name = "u".repeat(MAX_USERNAME_CHARS);
    stack
        .client(&long_name)
        .await
        .ok(doc, json!({ "u": long_name }))
        .await;
    let bob = stack.client("bob").await;
    let over = "u".repeat(MAX_USERNAME_CHARS + 1);
    assert_eq!(
        bob.error_type(doc, json!({ "u": over })).await,
        "ValidationError"
    );
    assert_eq!(
        bob.error_type(doc, json!({ "u": "bob smith" })).await,
        "ValidationError"
    );
    assert_eq!(
        bob.error_type(doc, json!({ "u": "" })).await,
        "ValidationError"
    );
}

#[tokio::test]
async fn page_size_limits() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let id = convo(&alice, "pages", &[]).await;
    let doc =
        "query($id: ID!, $n: Int) { getConvo(id: $id) { messages(limit: $n) { items { id } } } }";
    alice.ok(doc, json!({ "id": id, "n": MAX_PAGE_SIZE })).await;
    for bad in [0, -1, i64::from(MAX_PAGE_SIZE) + 1] {
        assert_eq!(
            alice.error_type(doc, json!({ "id": id, "n": bad })).await,
            "ValidationError",
            "{bad}"
        );
    }
    let history = "query($id: ID!, $n: Int) { allMessageConnection(conversationId: $id, first: $n) { messages { id } } }";
    alice
        .ok(history, json!({ "id": id, "n": MAX_PAGE_SIZE }))
        .await;
    assert_eq!(
        alice
            .error_type(history, json!({ "id": id, "n": MAX_PAGE_SIZE + 1 }))
            .await,
        "ValidationError"
    );
    let users = "query($n: Int) { listUsers(limit: $n) { items { id } } }";
    alice.ok(users, json!({ "n": MAX_PAGE_SIZE })).await;
    assert_eq!(
        alice
            .error_type(users, json!({ "n": MAX_PAGE_SIZE + 1 }))
            .await,
        "ValidationError"
    );
}

#[tokio::test]
async fn member_limit() {
    use futures::{stream, StreamExt};
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    // createConvo: the caller counts, so MAX_INITIAL_MEMBERS - 1 others fit.
    let stack = &stack;
    let others: Vec<_> = stream::iter(0..MAX_INITIAL_MEMBERS + 2)
        .map(|i| async move { stack.user(&format!("member{i:04}")).await })
        .buffered(16)
        .collect()
        .await;
    let ids: Vec<&str> = others.iter().map(|c| c.id.as_str()).collect();
    let out = owner
        .ok(
            CREATE,
            json!({ "n": "room", "m": ids[..MAX_INITIAL_MEMBERS - 1] }),
        )
        .await;
    assert_eq!(
        out["createConvo"]["members"].as_array().unwrap().len(),
        MAX_INITIAL_MEMBERS
    );
    assert_eq!(
        owner
            .error_type(
                CREATE,
                json!({ "n": "over", "m": ids[..MAX_INITIAL_MEMBERS] })
            )
            .await,
        "ValidationError"
    );

    // Filled to one short of MAX_MEMBERS with the rows createConvoLink
    // writes, then createConvoLink adds the last...
    let room = out["createConvo"]["id"].as_str().unwrap().to_string();
    stack.fill(&owner, &room, MAX_MEMBERS - 1).await;
    let add = "mutation($c: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $c, convoLinkUserId: $u}) { id } }";
    owner
        .ok(add, json!({ "c": room, "u": ids[MAX_INITIAL_MEMBERS] }))
        .await;
    let get = "query($c: ID!) { getConvo(id: $c) { members memberCount owners } }";
    let members = owner.ok(get, json!({ "c": room })).await;
    assert_eq!(
        members["getConvo"]["members"].as_array().unwrap().len(),
        MAX_LISTED_MEMBERS
    );
    assert_eq!(members["getConvo"]["memberCount"], MAX_MEMBERS);
    // ...and refuses one more, adding nothing.
    assert_eq!(
        owner
            .error_type(add, json!({ "c": room, "u": ids[MAX_INITIAL_MEMBERS + 1] }))
            .await,
        "LimitExceeded"
    );
    let after = owner.ok(get, json!({ "c": room })).await;
    assert_eq!(after, members);
    // A member already in is still confirmed, full or not.
    owner.ok(add, json!({ "c": room, "u": ids[0] })).await;
    // `associated` pages through every member, listed or not.
    let page = "query($c: ID!, $t: String) { getConvo(id: $c) { associated(limit: 100, nextToken: $t) { items { convoLinkUserId } nextToken } } }";
    let mut everyone = std::collections::BTreeSet::new();
    let mut token = Value::Null;
    loop {
        let out = owner.ok(page, json!({ "c": room, "t": token })).await;
        let links = &out["getConvo"]["associated"];
        for item in links["items"].as_array().unwrap() {
            everyone.insert(item["convoLinkUserId"].as_str().unwrap().to_string());
        }
        token = links["nextToken"].clone();
        if token.is_null() {
            break;
        }
    }
    assert_eq!(everyone.len(), MAX_MEMBERS);
}

#[tokio::test]
async fn oversized_requests_are_refused_before_any_work() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let before = stack.running.invocations.total();
    let huge = "x".repeat(chat_gateway::MAX_REQUEST_BYTES + 1);
    let resp = stack
        .http
        .post(stack.graphql_url())
        .header("Authorization", &alice.token)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"query\":\"{{ me {{ id }} }}\",\"variables\":{{\"pad\":\"{huge}\"}}}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // AppSync's error shape, and the connection is closed, not left half-read.
    assert_eq!(resp.headers()["connection"], "close");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["errorType"], "PayloadTooLargeException");
    assert_eq!(stack.running.invocations.total(), before);

    // A keep-alive client goes on after each refusal: no request ever meets
    // a socket the server dropped.
    for round in 0..30 {
        let refused = stack
            .http
            .post(stack.graphql_url())
            .header("Authorization", &alice.token)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .expect("the refusal arrives");
        assert_eq!(refused.status().as_u16(), 413);
        let ok = alice.send("{ me { id } }", json!({})).await;
        assert_eq!(ok["data"]["me"]["id"], alice.id.as_str(), "round {round}");
    }

    // A body with no declared length is read up to the limit, then refused
    // the same way, and the server ends the connection after its answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = stack.running.base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        alice.token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = "x".repeat(64 * 1024);
    let mut answer = Vec::new();
    for _ in 0..40 {
        let frame = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        if socket.write_all(frame.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the server ends the connection");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("payloadtoolargeexception"), "{answer}");
}

#[tokio::test]
async fn other_paths_and_methods_get_appsync_errors() {
    let stack = Stack::start().await;
    let get = stack.http.get(stack.graphql_url()).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let body: serde_json::Value = get.json().await.unwrap();
    assert_eq!(body["errors"][0]["errorType"], "MethodNotAllowedException");
    let missing = stack
        .http
        .post(format!("{}/nothing-here", stack.running.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["errors"][0]["errorType"], "NotFoundException");
}

/// A page of another origin calls `/graphql` as it calls AppSync: the
/// preflight allows what it asks to send, and every answer, an error's
/// too, may be read by any origin. The token, not the origin, authorizes.
#[tokio::test]
async fn graphql_answers_pages_of_any_origin_as_appsync_does() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let preflight = stack
        .http
        .request(reqwest::Method::OPTIONS, stack.graphql_url())
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 200);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization,content-type"
    );
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(h["access-control-max-age"], "172800");
    // Asked for something that is not a header name: the usual list.
    let odd = stack
        .http
        .request(reqwest::Method::OPTIONS, stack.graphql_url())
        .header(
            "access-control-request-headers",
            "authorization, not a name;",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        odd.headers()["access-control-allow-headers"],
        "authorization,content-type,x-api-key,x-amz-date,x-amz-security-token,x-amz-user-agent"
    );
    for (doc, auth) in [
        ("{ me { id } }", Some(alice.token.as_str())),
        ("{ me { id } }", None),
    ] {
        let mut req = stack
            .http
            .post(stack.graphql_url())
            .header("origin", "http://localhost:5173")
            .json(&serde_json::json!({ "query": doc }));
        if let Some(token) = auth {
            req = req.header("authorization", token);
        }
        let answer = req.send().await.unwrap();
        assert_eq!(answer.headers()["access-control-allow-origin"], "*");
        assert!(answer.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-amzn-ErrorType"));
    }
}

/// `{ a0: me { id } a1: me { id } ... }` with `n` aliases.
fn aliases_of_me(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("a{i}: me {{ id }}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

/// A query `depth` field levels deep: getUser, then conversations → items →
/// conversation → messages → items → author → conversations → ... as needed.
fn query_of_depth(depth: usize) -> String {
    let path = [
        "conversations",
        "items",
        "conversation",
        "messages",
        "items",
        "author",
    ];
    // getUser and the closing `id` are two of the levels.
    let mut open = String::from("query($id: ID!) { getUser(id: $id) {");
    for i in 0..depth - 2 {
        open.push_str(&format!(" {} {{", path[i % path.len()]));
    }
    open.push_str(" id");
    open.push_str(&" }".repeat(depth));
    open
}

#[tokio::test]
async fn query_depth_and_resolver_count_are_limited_before_any_function_runs() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let limits = chat_gateway::wiring::wiring().unwrap().cost_limits;
    let resolvers = limits.resolver_count.unwrap();
    let depth = limits.query_depth.unwrap();

    // At the resolver limit: one invocation per alias.
    let (out, invocations, _) = stack
        .cost(alice.send(&aliases_of_me(resolvers), json!({})))
        .await;
    assert!(out.get("errors").is_none(), "{out:#}");
    assert_eq!(invocations, resolvers as u64);
    // One past it, and 2,000: refused, nothing invoked, nothing read.
    for n in [resolvers + 1, 2_000] {
        let (kind, invocations, requests) = stack
            .cost(alice.error_type(&aliases_of_me(n), json!({})))
            .await;
        assert_eq!(kind, "ResolverCountLimitExceeded");
        assert_eq!((invocations, requests), (0, 0), "{n} aliases");
    }
    // A repeated field is one resolver, however often it is written.
    let repeated = format!("{{ {} }}", "me { id } ".repeat(resolvers + 5));
    assert!(alice
        .send(&repeated, json!({}))
        .await
        .get("errors")
        .is_none());

    // At the depth limit, and one past it.
    let vars = json!({ "id": alice.id });
    let at = alice.send(&query_of_depth(depth), vars.clone()).await;
    assert!(at.get("errors").is_none(), "{at:#}");
    let (kind, invocations, requests) = stack
        .cost(alice.error_type(&query_of_depth(depth + 1), vars))
        .await;
    assert_eq!(kind, "QueryDepthLimitExceeded");
    assert_eq!((invocations, requests), (0, 0));
}
