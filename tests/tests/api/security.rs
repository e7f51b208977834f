//! Attacks that must fail: reading, posting to or joining someone else's
//! conversation, spoofing an author, forging page tokens and identity tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chat_tests::{convo, post, Stack, WsEvent};
use serde_json::{json, Value};

#[tokio::test]
async fn non_members_cannot_read_post_or_join() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let eve = stack.user("eve").await;
    let id = convo(&alice, "private", &[&bob]).await;
    post(&alice, &id, "secret").await;
    let v = json!({ "id": id });

    let reads = [
        "query($id: ID!) { getConvo(id: $id) { id name } }",
        "query($id: ID!) { getConvo(id: $id) { messages { items { content } } } }",
        "query($id: ID!) { getConvo(id: $id) { associated { items { convoLinkUserId } } } }",
        "query($id: ID!) { allMessageConnection(conversationId: $id) { messages { content } } }",
    ];
    for doc in reads {
        assert_eq!(
            eve.error_type(doc, v.clone()).await,
            "Unauthorized",
            "{doc}"
        );
        let out = eve.send(doc, v.clone()).await;
        assert!(!out.to_string().contains("secret"), "{out}");
    }
    // A member's conversation list is theirs alone.
    let links = "query($id: ID!) { getUser(id: $id) { conversations { items { id } } } }";
    assert_eq!(
        eve.error_type(links, json!({ "id": alice.id })).await,
        "Unauthorized"
    );
    // The profile itself is public (Chatt lists users to start conversations).
    let out = eve
        .ok(
            "query($id: ID!) { getUser(id: $id) { username } }",
            json!({ "id": alice.id }),
        )
        .await;
    assert_eq!(out["getUser"]["username"], "alice");

    // Posting.
    let send = "mutation($id: ID!) { createMessage(input: {content: \"hi\", messageConversationId: $id}) { id } }";
    assert_eq!(eve.error_type(send, v.clone()).await, "Unauthorized");
    // Joining, or adding an accomplice.
    let join = "mutation($id: ID!, $u: ID) { createConvoLink(input: {convoLinkConversationId: $id, convoLinkUserId: $u}) { id } }";
    assert_eq!(
        eve.error_type(join, json!({ "id": id, "u": eve.id })).await,
        "Unauthorized"
    );
    assert_eq!(
        eve.error_type(join, json!({ "id": id, "u": null })).await,
        "Unauthorized"
    );
    let mallory = stack.user("mallory").await;
    assert_eq!(
        eve.error_type(join, json!({ "id": id, "u": mallory.id }))
            .await,
        "Unauthorized"
    );

    // Nothing changed: two members, one message.
    let out = alice
        .ok(
            "query($id: ID!) { getConvo(id: $id) { members messages { items { content } } } }",
            v.clone(),
        )
        .await;
    assert_eq!(out["getConvo"]["members"], json!([alice.id, bob.id]));
    assert_eq!(
        out["getConvo"]["messages"]["items"],
        json!([{ "content": "secret" }])
    );
    // A conversation that does not exist looks the same as one you're not in.
    assert_eq!(
        eve.error_type(reads[0], json!({ "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ" }))
            .await,
        "Unauthorized"
    );
}

#[tokio::test]
async fn a_spoofed_author_id_is_rejected_and_nothing_is_stored() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let id = convo(&alice, "room", &[&bob]).await;
    let doc = "mutation($a: String, $id: ID!) { createMessage(input: {content: \"I am alice\", messageConversationId: $id, authorId: $a}) { id authorId } }";
    assert_eq!(
        bob.error_type(doc, json!({ "a": alice.id, "id": id }))
            .await,
        "Unauthorized"
    );
    let history = alice
        .ok(
            "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id } } }",
            json!({ "c": id }),
        )
        .await;
    assert_eq!(history["allMessageConnection"]["messages"], json!([]));
    // With his own id, or none, the author is bob.
    let out = bob.ok(doc, json!({ "a": bob.id, "id": id })).await;
    assert_eq!(out["createMessage"]["authorId"], bob.id.as_str());
}

#[tokio::test]
async fn forged_or_foreign_next_tokens_are_refused() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let eve = stack.user("eve").await;
    let mine = convo(&alice, "mine", &[]).await;
    let other = convo(&alice, "other", &[]).await;
    let eves = convo(&eve, "eve's", &[]).await;
    for i in 0..3 {
        post(&alice, &mine, &format!("m{i}")).await;
        post(&alice, &other, &format!("o{i}")).await;
        post(&eve, &eves, &format!("e{i}")).await;
    }
    let page = "query($id: ID!, $t: String) { getConvo(id: $id) { messages(limit: 1, nextToken: $t) { items { content } nextToken } } }";
    let out = alice.ok(page, json!({ "id": mine, "t": null })).await;
    let token = out["getConvo"]["messages"]["nextToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        alice.ok(page, json!({ "id": mine, "t": token })).await["getConvo"]["messages"]["items"][0]
            ["content"]
            == "m1"
    );

    // Reused on another conversation (even one the caller may read).
    assert_eq!(
        alice
            .error_type(page, json!({ "id": other, "t": token }))
            .await,
        "ValidationError"
    );
    // Reused in the other direction or on the history query.
    let desc = "query($id: ID!, $t: String) { getConvo(id: $id) { messages(limit: 1, nextToken: $t, sortDirection: DESC) { items { id } } } }";
    assert_eq!(
        alice
            .error_type(desc, json!({ "id": mine, "t": token }))
            .await,
        "ValidationError"
    );
    let history = "query($id: ID!, $t: String) { allMessageConnection(conversationId: $id, after: $t) { messages { id } } }";
    assert_eq!(
        alice
            .error_type(history, json!({ "id": mine, "t": token }))
            .await,
        "ValidationError"
    );

    // Forged: the body re-pointed at eve's conversation, signature kept.
    let (body, sig) = token.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    claims["s"] = json!(format!("messages:{eves}:ASC"));
    let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    // Alice is not a member: refused before the token is even looked at.
    assert_eq!(
        alice
            .error_type(page, json!({ "id": eves, "t": forged }))
            .await,
        "Unauthorized"
    );
    assert_eq!(
        eve.error_type(page, json!({ "id": eves, "t": forged }))
            .await,
        "ValidationError"
    );
    for junk in ["", "x", "a.b", "not.base64!", &"A".repeat(3000)] {
        assert_eq!(
            alice
                .error_type(page, json!({ "id": mine, "t": junk }))
                .await,
            "ValidationError",
            "{junk:?}"
        );
    }
}

#[tokio::test]
async fn bad_identity_tokens_get_401() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let body = json!({ "query": "{ me { id } }" });
    let idp = &stack.running.idp;

    let (status, out) = stack.post(None, body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(out["errors"][0]["errorType"], "UnauthorizedException");

    // Expired.
    let mut claims = idp.claims_for("alice");
    let past = claims["iat"].as_u64().unwrap() - 7200;
    claims.insert("exp".into(), json!(past));
    let expired = idp.sign(&claims);
    let (status, out) = stack.post(Some(&expired), body.clone()).await;
    assert_eq!(status, 401);
    assert!(
        out["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{out}"
    );

    // Signed by another key that claims the same key id.
    let header = jsonwebtoken::decode_header(&alice.token).unwrap();
    let pem = chat_gateway::dev_keys::rsa_pem().unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&header, &idp.claims_for("alice"), &key).unwrap();
    // Another issuer, a refresh-style token, an edited payload, an unsigned token.
    let mut foreign = idp.claims_for("alice");
    foreign.insert(
        "iss".into(),
        json!("https://cognito-idp.us-east-1.amazonaws.com/someone-else"),
    );
    let mut wrong_use = idp.claims_for("alice");
    wrong_use.insert("token_use".into(), json!("refresh"));
    let parts: Vec<&str> = alice.token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("someone-else");
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    for (what, token) in [
        ("forged signature", forged),
        ("foreign issuer", idp.sign(&foreign)),
        ("wrong token_use", idp.sign(&wrong_use)),
        ("edited payload", edited),
        ("alg none", unsigned),
        ("garbage", "garbage".to_string()),
    ] {
        let (status, out) = stack.post(Some(&token), body.clone()).await;
        assert_eq!(status, 401, "{what}: {out}");
        assert_eq!(
            out["errors"][0]["errorType"], "UnauthorizedException",
            "{what}"
        );
        assert!(out.get("data").is_none(), "{what}");
    }

    // The real token works, with or without a Bearer prefix.
    let (status, out) = stack
        .post(Some(&format!("Bearer {}", alice.token)), body.clone())
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["data"]["me"]["id"], alice.id.as_str());
}

/// The same claims as a real token, changed by `edit`, signed by the stack's
/// identity provider.
fn signed_with(stack: &Stack, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut claims = stack.running.idp.claims_for("alice");
    edit(&mut claims);
    stack.running.idp.sign(&claims)
}

#[tokio::test]
async fn tokens_for_another_client_forged_or_with_a_bad_claim_are_refused_on_http_and_websocket() {
    let stack = Stack::start().await;
    let now = jsonwebtoken::get_current_timestamp();
    let client = chat_gateway::idp::CLIENT_ID;
    // An access token for this app client: the client is in `client_id`.
    let access = |c: &mut serde_json::Map<String, Value>| {
        c.insert("token_use".into(), json!("access"));
        c.remove("aud");
        c.remove("cognito:username");
        c.insert("username".into(), json!("alice"));
        c.insert("client_id".into(), json!(client));
    };
    let good_access = signed_with(&stack, access);

    let mut hs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256.kid = jsonwebtoken::decode_header(&good_access).unwrap().kid;
    let hs256 = jsonwebtoken::encode(
        &hs256,
        &stack.running.idp.claims_for("alice"),
        &jsonwebtoken::EncodingKey::from_secret(stack.running.idp.public_key_pem().as_bytes()),
    )
    .unwrap();
    let mut unknown_kid = jsonwebtoken::decode_header(&good_access).unwrap();
    unknown_kid.kid = Some("not-a-key-of-this-pool".into());
    let other_pem = chat_gateway::dev_keys::rsa_pem().unwrap();
    let unknown_kid = jsonwebtoken::encode(
        &unknown_kid,
        &stack.running.idp.claims_for("alice"),
        &jsonwebtoken::EncodingKey::from_rsa_pem(other_pem.as_bytes()).unwrap(),
    )
    .unwrap();

    let refused: Vec<(&str, String)> = vec![
        (
            "another app client's id token",
            signed_with(&stack, |c| {
                c.insert("aud".into(), json!("another-client"));
            }),
        ),
        (
            "an id token without aud",
            signed_with(&stack, |c| {
                c.remove("aud");
            }),
        ),
        (
            "an id token carrying the client only as client_id",
            signed_with(&stack, |c| {
                c.remove("aud");
                c.insert("client_id".into(), json!(client));
            }),
        ),
        (
            "another app client's access token",
            signed_with(&stack, |c| {
                access(c);
                c.insert("client_id".into(), json!("another-client"));
            }),
        ),
        (
            "an access token without client_id",
            signed_with(&stack, |c| {
                access(c);
                c.remove("client_id");
            }),
        ),
        ("HS256 signed with the public key", hs256),
        ("an unknown kid", unknown_kid),
        (
            "not valid before a minute from now",
            signed_with(&stack, |c| {
                c.insert("nbf".into(), json!(now + 60));
            }),
        ),
        (
            "issued a minute from now",
            signed_with(&stack, |c| {
                c.insert("iat".into(), json!(now + 60));
            }),
        ),
        (
            "iat not a number",
            signed_with(&stack, |c| {
                c.insert("iat".into(), json!("yesterday"));
            }),
        ),
        (
            "no sub",
            signed_with(&stack, |c| {
                c.remove("sub");
            }),
        ),
        (
            "empty sub",
            signed_with(&stack, |c| {
                c.insert("sub".into(), json!(""));
            }),
        ),
        (
            "a sub that names another row kind",
            signed_with(&stack, |c| {
                c.insert("sub".into(), json!("USERNAME#alice"));
            }),
        ),
        (
            "a 3,000-character sub",
            signed_with(&stack, |c| {
                c.insert("sub".into(), json!("a".repeat(3000)));
            }),
        ),
        (
            "no username",
            signed_with(&stack, |c| {
                c.remove("cognito:username");
            }),
        ),
        (
            "no exp",
            signed_with(&stack, |c| {
                c.remove("exp");
            }),
        ),
        (
            "expired",
            signed_with(&stack, |c| {
                c.insert("exp".into(), json!(now - 60));
            }),
        ),
        (
            "no iss",
            signed_with(&stack, |c| {
                c.remove("iss");
            }),
        ),
        (
            "no token_use",
            signed_with(&stack, |c| {
                c.remove("token_use");
            }),
        ),
        (
            "a refresh token_use",
            signed_with(&stack, |c| {
                c.insert("token_use".into(), json!("refresh"));
            }),
        ),
        (
            "another issuer",
            signed_with(&stack, |c| {
                c.insert(
                    "iss".into(),
                    json!("https://cognito-idp.us-east-1.amazonaws.com/another-pool"),
                );
            }),
        ),
    ];
    let body = json!({ "query": "{ me { id } }" });
    for (what, token) in &refused {
        let (status, out) = stack.post(Some(token), body.clone()).await;
        assert_eq!(status, 401, "{what}: {out}");
        assert_eq!(
            out["errors"][0]["errorType"], "UnauthorizedException",
            "{what}"
        );
        let mut ws = stack.ws_connect(None, true).await.unwrap();
        ws.send(json!({ "type": "connection_init", "payload": { "authorization": token } }))
            .await;
        assert_eq!(
            ws.next().await,
            WsEvent::Closed(4403, "Forbidden".into()),
            "{what} on the WebSocket"
        );
    }

    // Within the leeway, and a good access token: accepted on both.
    let skewed = signed_with(&stack, |c| {
        c.insert("nbf".into(), json!(now + 2));
        c.insert("iat".into(), json!(now + 2));
    });
    for (what, token) in [
        ("a 2 s clock skew", skewed),
        ("an access token", good_access),
    ] {
        let (status, out) = stack.post(Some(&token), body.clone()).await;
        assert_eq!(status, 200, "{what}: {out}");
        let mut ws = stack.ws_connect(None, true).await.unwrap();
        ws.send(json!({ "type": "connection_init", "payload": { "authorization": token } }))
            .await;
        assert_eq!(
            ws.next().await,
            WsEvent::Message(json!({ "type": "connection_ack" })),
            "{what} on the WebSocket"
        );
    }
}

/// The page-token secret is not a parameter or an environment variable on
/// AWS: each function reads it from Secrets Manager at cold start. The
/// stand-in serves it to the unchanged SDK client by name and by ARN, and
/// a secret that is not there is an error that keeps Secrets Manager's own.
#[tokio::test]
async fn the_page_token_secret_is_read_from_secrets_manager() {
    let stack = Stack::start().await;
    let sdk = chat_gateway::dynamo::sdk_config(&stack.running.base_url).await;
    let sdk = sdk
        .into_builder()
        .endpoint_url(stack.running.base_url.clone())
        .build();
    let id = chat_gateway::secrets::PAGE_TOKEN_SECRET_ID;
    let by_name = chat_lambda::config::read_page_token_secret(&sdk, id)
        .await
        .unwrap();
    assert!(by_name.len() >= chat_lambda::config::MIN_PAGE_TOKEN_SECRET);
    let arn = format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{id}");
    assert_eq!(
        chat_lambda::config::read_page_token_secret(&sdk, &arn)
            .await
            .unwrap(),
        by_name
    );
    let missing = chat_lambda::config::read_page_token_secret(&sdk, "chat/nothing-here")
        .await
        .unwrap_err();
    match missing {
        chat_lambda::config::ConfigError::SecretRead(e) => assert!(
            e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
}
