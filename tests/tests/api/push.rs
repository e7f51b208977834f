//! Push notifications end to end: devices registered over GraphQL, new
//! messages through the Messages stream to the notifier, and the pushes it
//! sends as the stack's APNs, FCM and Web Push stand-ins receive them
//! (`/local/push`). Who gets one, what it carries, coalescing, gone tokens,
//! a failing provider, and bad input.

use p256::pkcs8::DecodePrivateKey as _;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chat_domain::limits::{MAX_DEVICES, PUSH_INTERVAL_MS};
use chat_tests::{convo, post, Client, Stack, WsEvent};
use futures::StreamExt;
use serde_json::{json, Value};

const REGISTER: &str = "mutation($i: RegisterDeviceInput!) { registerDevice(input: $i) { id platform token appId createdAt } }";
const SETTINGS: &str =
    "query { pushSettings { devices { id platform token } dndUntil hideContent mentions } }";
const UPDATE: &str = "mutation($i: PushSettingsInput!) { updatePushSettings(input: $i) { dndUntil hideContent mentions devices { id } } }";
const LEVEL: &str = "mutation($c: ID!, $l: NotifyLevel!) { setConversationNotifications(conversationId: $c, level: $l) { conversationId level } }";

/// An APNs token of its own for each name (64 hex digits).
fn apns_token(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}")
}

async fn apns_device(who: &Client) -> String {
    let token = apns_token(&who.username);
    let out = who
        .ok(
            REGISTER,
            json!({ "i": { "platform": "APNS", "token": token, "appId": "com.example.chat" } }),
        )
        .await;
    assert_eq!(out["registerDevice"]["token"], token.as_str());
    token
}

async fn fcm_device(who: &Client) -> String {
    let token = format!("fcm-{}:APA91b{}", who.username, "x".repeat(140));
    who.ok(
        REGISTER,
        json!({ "i": { "platform": "FCM", "token": token } }),
    )
    .await;
    token
}

/// A JSON answer of the stack's `/local/...` endpoints.
async fn local(stack: &Stack, method: reqwest::Method, path: &str) -> Value {
    stack
        .http
        .request(method, format!("{}/local/{path}", stack.running.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Everything the stand-ins received, oldest first.
async fn received(stack: &Stack) -> Vec<Value> {
    let out = local(stack, reqwest::Method::GET, "push").await;
    out["received"].as_array().cloned().unwrap_or_default()
}

async fn to(stack: &Stack, token: &str) -> Vec<Value> {
    received(stack)
        .await
        .into_iter()
        .filter(|r| r["token"] == token)
        .collect()
}

/// Waits until `token` has received `n` pushes; returns them.
async fn wait_for(stack: &Stack, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let got = to(stack, token).await;
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{token} did not receive {n} pushes: {:#?}",
        received(stack).await
    );
}

/// Waits until the notifier has handled everything written so far: the
/// stream delivers in order, so once a marker message written now is
/// pushed, every earlier one was handled.
async fn settle(stack: &Stack, author: &Client) {
    let marker = stack
        .user(&format!(
            "m{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
        .await;
    let token = apns_device(&marker).await;
    let room = convo(author, "marker", &[&marker]).await;
    post(author, &room, "marker").await;
    wait_for(stack, &token, 1).await;
}

async fn fault(stack: &Stack, token: &str, fault: Value) {
    let status = stack
        .http
        .post(format!("{}/local/push/faults", stack.running.base_url))
        .json(&json!({ "token": token, "fault": fault }))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
}

async fn online(who: &Client, id: &str) {
    for _ in 0..100 {
        let out = who
            .ok(
                "query($id: ID!) { getUser(id: $id) { online } }",
                json!({ "id": id }),
            )
            .await;
        if out["getUser"]["online"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} never came online");
}

#[tokio::test]
async fn an_offline_member_gets_one_push_with_the_badge_and_a_connected_one_none() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let bob_token = apns_device(&bob).await;
    let carol_token = fcm_device(&carol).await;
    let alice_token = apns_device(&alice).await;
    let _carol_socket = stack.ws(&carol).await;
    online(&alice, &carol.id).await;

    // Bob has one unread elsewhere already.
    let other = convo(&alice, "other", &[&bob]).await;
    post(&alice, &other, "earlier").await;
    wait_for(&stack, &bob_token, 1).await;

    let room = convo(&alice, "Lunch", &[&bob, &carol]).await;
    let message = post(&alice, &room, "Pizza at noon?").await;
    let pushes = wait_for(&stack, &bob_token, 2).await;
    settle(&stack, &alice).await;
    let pushes_now = to(&stack, &bob_token).await;
    assert_eq!(
        pushes_now.len(),
        2,
        "exactly one push per message: {pushes_now:#?}"
    );
    let push = &pushes[1];
    assert_eq!(push["status"], 200);
    assert_eq!(push["headers"]["apns-topic"], "com.example.chat");
    assert_eq!(push["headers"]["apns-push-type"], "alert");
    let payload = &push["payload"];
    assert_eq!(payload["aps"]["alert"]["title"], "alice in Lunch");
    assert_eq!(payload["aps"]["alert"]["body"], "Pizza at noon?");
    assert_eq!(
        payload["aps"]["badge"], 2,
        "the unread of both conversations"
    );
    assert_eq!(payload["conversationId"], room.as_str());
    assert_eq!(payload["messageId"], message.as_str());
    // One collapse id and thread per conversation.
    assert_eq!(
        push["headers"]["apns-collapse-id"],
        payload["aps"]["thread-id"]
    );
    assert_ne!(
        push["headers"]["apns-collapse-id"],
        pushes[0]["headers"]["apns-collapse-id"]
    );
    // The connected member and the author got nothing.
    assert!(to(&stack, &carol_token).await.is_empty());
    assert!(to(&stack, &alice_token).await.is_empty());
    let stats = local(&stack, reqwest::Method::GET, "stats").await;
    assert!(
        stats["pushes"]["APNS"]["delivered"].as_u64().unwrap() >= 3,
        "{stats}"
    );
    assert!(
        stats["realtime"]["invocations"]["notifier"]
            .as_u64()
            .unwrap()
            >= 1,
        "{stats}"
    );
}

#[tokio::test]
async fn hidden_content_says_new_message_and_nothing_of_the_conversation() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let token = fcm_device(&bob).await;
    let out = bob
        .ok(UPDATE, json!({ "i": { "hideContent": true } }))
        .await;
    assert_eq!(out["updatePushSettings"]["hideContent"], true);
    assert_eq!(
        out["updatePushSettings"]["mentions"], true,
        "the rest stays"
    );
    let room = convo(&alice, "Secret plans", &[&bob]).await;
    let message = post(&alice, &room, "the code is 1234").await;
    let push = wait_for(&stack, &token, 1).await.remove(0);
    let message_json = push["payload"].to_string();
    for secret in ["Secret plans", "1234", "alice"] {
        assert!(!message_json.contains(secret), "{secret} in {message_json}");
    }
    assert_eq!(push["payload"]["notification"]["title"], "New message");
    assert!(push["payload"]["notification"].get("body").is_none());
    assert_eq!(push["payload"]["data"]["messageId"], message.as_str());
    assert_eq!(push["payload"]["data"]["badge"], "1");
}

#[tokio::test]
async fn levels_and_mentions_decide_who_hears_and_do_not_disturb_silences() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await; // NONE
    let carol = stack.user("carol").await; // MENTIONS
    let dave = stack.user("dave").await; // NONE, mentions off
    let erin = stack.user("erin").await; // ALL, in do-not-disturb
    let tokens: Vec<String> =
        futures::future::join_all([&bob, &carol, &dave, &erin].map(apns_device)).await;
    dave.ok(UPDATE, json!({ "i": { "mentions": false } })).await;
    erin.ok(
        UPDATE,
        json!({ "i": { "dndUntil": "2999-01-01T00:00:00Z" } }),
    )
    .await;
    let rooms = [
        convo(&alice, "one", &[&bob, &carol, &dave, &erin]).await,
        convo(&alice, "two", &[&bob, &carol, &dave, &erin]).await,
        convo(&alice, "three", &[&bob, &carol, &dave, &erin]).await,
    ];
    for room in &rooms {
        for (who, level) in [(&bob, "NONE"), (&carol, "MENTIONS"), (&dave, "NONE")] {
            let out = who.ok(LEVEL, json!({ "c": room, "l": level })).await;
            assert_eq!(out["setConversationNotifications"]["level"], level);
        }
    }
    // No mention: nobody here hears of it.
    post(&alice, &rooms[0], "plain").await;
    // A mention of everyone: bob and carol hear (bob through his mute),
    // dave turned mentions through a mute off, erin is in do-not-disturb.
    let out = alice
        .ok(
            "mutation($c: ID!) { createMessage(input: {content: \"@bob @Carol, @dave and @erin.\", messageConversationId: $c}) { mentions } }",
            json!({ "c": rooms[1] }),
        )
        .await;
    assert_eq!(
        out["createMessage"]["mentions"],
        json!([bob.id, carol.id, dave.id, erin.id])
    );
    settle(&stack, &alice).await;
    assert_eq!(
        to(&stack, &tokens[0]).await.len(),
        1,
        "bob: the mention only"
    );
    assert_eq!(
        to(&stack, &tokens[1]).await.len(),
        1,
        "carol: the mention only"
    );
    assert!(to(&stack, &tokens[2]).await.is_empty(), "dave");
    assert!(to(&stack, &tokens[3]).await.is_empty(), "erin");
    let bob_push = &to(&stack, &tokens[0]).await[0];
    assert_eq!(bob_push["payload"]["mention"], true);
    assert_eq!(
        bob_push["payload"]["aps"]["alert"]["title"],
        "alice mentioned you in two"
    );

    // Do-not-disturb ended: erin hears the next message.
    let out = erin.ok(UPDATE, json!({ "i": { "dndUntil": null } })).await;
    assert_eq!(out["updatePushSettings"]["dndUntil"], Value::Null);
    post(&alice, &rooms[2], "after the quiet").await;
    wait_for(&stack, &tokens[3], 1).await;
}

#[tokio::test]
async fn a_busy_conversation_rings_each_device_once_per_interval() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let bob_tokens = [apns_device(&bob).await, fcm_device(&bob).await];
    let carol_token = fcm_device(&carol).await;
    let room = convo(&alice, "busy", &[&bob, &carol]).await;
    // 50 messages at once, ten in flight at a time.
    let started = std::time::Instant::now();
    let texts: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
    futures::stream::iter(texts.iter().map(|t| post(&alice, &room, t)))
        .buffer_unordered(10)
        .collect::<Vec<_>>()
        .await;
    let window = started.elapsed();
    settle(&stack, &alice).await;
    // At most one push per device per PUSH_INTERVAL_MS (10 s), over the
    // window the 50 took (about a second here): one each.
    let allowed = 1 + (window.as_millis() / PUSH_INTERVAL_MS as u128) as usize;
    for token in bob_tokens.iter().chain([&carol_token]) {
        let pushes = to(&stack, token).await;
        assert!(
            (1..=allowed).contains(&pushes.len()),
            "{token}: {} pushes in {window:?}: {pushes:#?}",
            pushes.len()
        );
    }
}

#[tokio::test]
async fn a_gone_token_is_removed_and_never_pushed_to_again() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let token = apns_device(&bob).await;
    let web = fcm_device(&bob).await;
    fault(&stack, &token, json!("gone")).await;
    fault(&stack, &web, json!("gone")).await;
    let room = convo(&alice, "one", &[&bob]).await;
    post(&alice, &room, "hello").await;
    assert_eq!(wait_for(&stack, &token, 1).await[0]["status"], 410);
    assert_eq!(wait_for(&stack, &web, 1).await[0]["status"], 404);
    settle(&stack, &alice).await;
    let out = bob.ok(SETTINGS, json!({})).await;
    assert_eq!(out["pushSettings"]["devices"], json!([]), "{out}");
    let later = convo(&alice, "two", &[&bob]).await;
    post(&alice, &later, "again").await;
    settle(&stack, &alice).await;
    assert_eq!(to(&stack, &token).await.len(), 1);
    assert_eq!(to(&stack, &web).await.len(), 1);
}

#[tokio::test]
async fn a_failing_provider_is_retried_then_given_up_and_the_message_is_untouched() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let token = apns_device(&bob).await;
    fault(&stack, &token, json!("fail")).await;
    let room = convo(&alice, "one", &[&bob, &carol]).await;
    let mut socket = stack.ws(&carol).await;
    socket
        .subscribe(
            "1",
            "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id content } }",
            json!({ "c": room }),
        )
        .await;
    socket.sync().await;
    let message = post(&alice, &room, "still here").await;
    // Delivered live at once, whatever the provider does.
    match socket.next().await {
        WsEvent::Message(m) => assert_eq!(
            m["payload"]["data"]["onCreateMessage"]["id"],
            message.as_str()
        ),
        other => panic!("{other:?}"),
    }
    // The first try and the mapping's two retries.
    let tries = wait_for(&stack, &token, 3).await;
    assert!(tries.iter().all(|t| t["status"] == 500));
    let mut given_up = Vec::new();
    for _ in 0..100 {
        let out = local(&stack, reqwest::Method::GET, "failed-records").await;
        given_up = out["failedBatches"].as_array().cloned().unwrap_or_default();
        if !given_up.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(given_up.len(), 1, "{given_up:#?}");
    assert_eq!(given_up[0]["function"], "notifier");
    assert_eq!(to(&stack, &token).await.len(), 3, "no more tries");
    let history = bob
        .ok(
            "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id content } } }",
            json!({ "c": room }),
        )
        .await;
    assert_eq!(
        history["allMessageConnection"]["messages"],
        json!([{ "id": message, "content": "still here" }])
    );
    // Replayed once the provider is back: the push goes out.
    fault(&stack, &token, Value::Null).await;
    let replay: Value = stack
        .http
        .post(format!(
            "{}/local/failed-records/replay",
            stack.running.base_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replay["replayed"], 1, "{replay}");
    assert_eq!(wait_for(&stack, &token, 4).await[3]["status"], 200);
}

/// RFC 8291's decryption, written here from the RFC, apart from the crate
/// that encrypts: what a browser does with the message.
fn decrypt_web_push(body: &[u8], ua_secret: &p256::SecretKey, auth: &[u8]) -> Vec<u8> {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
    let id_len = body[20] as usize;
    assert_eq!(id_len, 65, "the key id is the sender's public key");
    let as_public = p256::PublicKey::from_sec1_bytes(&body[21..21 + id_len]).unwrap();
    let ciphertext = &body[21 + id_len..];
    assert!(ciphertext.len() <= record_size as usize, "one record");
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());
    let ua_public = ua_secret.public_key().to_sec1_bytes();
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(&ua_public);
    info.extend_from_slice(&as_public.to_sec1_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .unwrap();
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .unwrap();
    let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).unwrap();
    let mut plain = cipher
        .decrypt(aes_gcm::Nonce::from_slice(&nonce), ciphertext)
        .expect("the message decrypts with the subscription's keys");
    while plain.last() == Some(&0) {
        plain.pop();
    }
    assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
    plain
}

#[tokio::test]
async fn a_web_push_message_decrypts_with_the_subscriptions_keys() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let ua_secret =
        p256::SecretKey::from_pkcs8_pem(&chat_gateway::dev_keys::p256_pem().unwrap()).unwrap();
    let auth: [u8; 16] = chat_gateway::dev_keys::random_bytes();
    let id = ulid::Ulid::new().to_string();
    let endpoint = format!("{}/local/webpush/{id}", stack.running.base_url);
    let out = bob
        .ok(
            REGISTER,
            json!({ "i": {
                "platform": "WEB_PUSH",
                "endpoint": endpoint,
                "p256dh": URL_SAFE_NO_PAD.encode(ua_secret.public_key().to_sec1_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(auth),
            } }),
        )
        .await;
    assert_eq!(out["registerDevice"]["token"], endpoint.as_str());
    let room = convo(&alice, "Web", &[&bob]).await;
    let message = post(&alice, &room, "to the browser").await;
    let push = wait_for(&stack, &id, 1).await.remove(0);
    assert_eq!(push["status"], 201);
    assert_eq!(push["headers"]["content-encoding"], "aes128gcm");
    assert_eq!(push["headers"]["urgency"], "high");
    let body = STANDARD
        .decode(push["payload"]["bodyBase64"].as_str().unwrap())
        .unwrap();
    assert!(body.len() <= 4096);
    let plain: Value = serde_json::from_slice(&decrypt_web_push(&body, &ua_secret, &auth)).unwrap();
    assert_eq!(plain["title"], "alice in Web");
    assert_eq!(plain["body"], "to the browser");
    assert_eq!(plain["messageId"], message.as_str());
    assert_eq!(plain["conversationId"], room.as_str());
    assert_eq!(plain["badge"], 1);
    assert_eq!(
        push["headers"]["topic"], plain["tag"],
        "one Topic per conversation"
    );

    // Deleting it withdraws it under the same Topic.
    alice
        .ok(
            "mutation($c: ID!, $m: ID!) { deleteMessage(input: {messageConversationId: $c, id: $m}) { id } }",
            json!({ "c": room, "m": message }),
        )
        .await;
    let withdraw = wait_for(&stack, &id, 2).await.remove(1);
    let body = STANDARD
        .decode(withdraw["payload"]["bodyBase64"].as_str().unwrap())
        .unwrap();
    let plain: Value = serde_json::from_slice(&decrypt_web_push(&body, &ua_secret, &auth)).unwrap();
    assert_eq!(plain["kind"], "WITHDRAW");
    assert_eq!(plain["messageId"], message.as_str());
    assert_eq!(plain["body"], "");
    assert_eq!(withdraw["headers"]["topic"], push["headers"]["topic"]);
}

#[tokio::test]
async fn bad_devices_are_refused_and_store_nothing() {
    let stack = Stack::start().await;
    let bob = stack.user("bob").await;
    let key = URL_SAFE_NO_PAD.encode(
        p256::SecretKey::from_pkcs8_pem(&chat_gateway::dev_keys::p256_pem().unwrap())
            .unwrap()
            .public_key()
            .to_sec1_bytes(),
    );
    let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
    let bad = [
        json!({ "platform": "APNS", "token": "not-hex", "appId": "com.example.chat" }),
        json!({ "platform": "APNS", "token": "ab".repeat(31), "appId": "com.example.chat" }),
        json!({ "platform": "APNS", "token": apns_token("bob") }),
        json!({ "platform": "APNS_SANDBOX", "token": apns_token("bob"), "appId": "com example" }),
        json!({ "platform": "FCM", "token": "short" }),
        json!({ "platform": "FCM", "token": format!("{}<script>", "a".repeat(100)) }),
        json!({ "platform": "FCM" }),
        json!({ "platform": "WEB_PUSH", "endpoint": "https://evil.example/push", "p256dh": key, "auth": auth }),
        json!({ "platform": "WEB_PUSH", "endpoint": "https://user@fcm.googleapis.com/x", "p256dh": key, "auth": auth }),
        json!({ "platform": "WEB_PUSH", "endpoint": "http://fcm.googleapis.com/fcm/send/x", "p256dh": key, "auth": auth }),
        json!({ "platform": "WEB_PUSH", "endpoint": "https://fcm.googleapis.com/fcm/send/x", "p256dh": "AAAA", "auth": auth }),
        json!({ "platform": "WEB_PUSH", "endpoint": "https://fcm.googleapis.com/fcm/send/x", "p256dh": key, "auth": "short" }),
        json!({ "platform": "WEB_PUSH", "endpoint": "https://fcm.googleapis.com/fcm/send/x" }),
    ];
    for input in bad {
        assert_eq!(
            bob.error_type(REGISTER, json!({ "i": input })).await,
            "ValidationError",
            "{input}"
        );
    }
    let out = bob.ok(SETTINGS, json!({})).await;
    assert_eq!(out["pushSettings"]["devices"], json!([]));
    // A known push service, on a subdomain pattern, is fine.
    bob.ok(
        REGISTER,
        json!({ "i": { "platform": "WEB_PUSH", "endpoint": "https://wns2-by3p.notify.windows.com/w/?token=abc", "p256dh": key, "auth": auth } }),
    )
    .await;
    assert_eq!(
        bob.error_type(UPDATE, json!({ "i": { "dndUntil": "tomorrow" } }))
            .await,
        "ValidationError"
    );
}

#[tokio::test]
async fn devices_are_the_callers_own_up_to_the_maximum_and_a_token_follows_its_phone() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let mallory = stack.user("mallory").await;
    let token = apns_device(&bob).await;
    let bob_devices = bob.ok(SETTINGS, json!({})).await["pushSettings"]["devices"].clone();
    let device_id = bob_devices[0]["id"].as_str().unwrap().to_string();
    // Registering the same token again is the same device.
    apns_device(&bob).await;
    assert_eq!(
        bob.ok(SETTINGS, json!({})).await["pushSettings"]["devices"],
        bob_devices
    );

    // Nobody else sees or removes it.
    assert_eq!(
        mallory.ok(SETTINGS, json!({})).await["pushSettings"]["devices"],
        json!([])
    );
    assert_eq!(
        mallory
            .error_type(
                "mutation($id: ID!) { unregisterDevice(id: $id) }",
                json!({ "id": device_id })
            )
            .await,
        "NotFound"
    );
    assert_eq!(
        bob.ok(SETTINGS, json!({})).await["pushSettings"]["devices"],
        bob_devices
    );

    // The maximum, at its edge.
    for i in 1..MAX_DEVICES {
        bob.ok(
            REGISTER,
            json!({ "i": { "platform": "FCM", "token": format!("token-{i}-{}", "y".repeat(40)) } }),
        )
        .await;
    }
    assert_eq!(
        bob.error_type(
            REGISTER,
            json!({ "i": { "platform": "FCM", "token": format!("token-x-{}", "y".repeat(40)) } })
        )
        .await,
        "LimitExceeded"
    );
    let devices = bob.ok(SETTINGS, json!({})).await["pushSettings"]["devices"].clone();
    assert_eq!(devices.as_array().unwrap().len(), MAX_DEVICES);

    // The phone changes hands: mallory registers bob's token, and bob's
    // pushes no longer go to it.
    apns_device_with(&mallory, &token).await;
    let devices = bob.ok(SETTINGS, json!({})).await["pushSettings"]["devices"].clone();
    assert_eq!(devices.as_array().unwrap().len(), MAX_DEVICES - 1);
    assert!(!devices.to_string().contains(&token));
    let room = convo(&alice, "for bob", &[&bob]).await;
    post(&alice, &room, "bob only").await;
    settle(&stack, &alice).await;
    assert!(to(&stack, &token).await.is_empty());
    // Unregistering is the owner's.
    let out = bob
        .ok(
            "mutation($id: ID!) { unregisterDevice(id: $id) }",
            json!({ "id": devices[0]["id"] }),
        )
        .await;
    assert_eq!(out["unregisterDevice"], true);
}

async fn apns_device_with(who: &Client, token: &str) {
    who.ok(
        REGISTER,
        json!({ "i": { "platform": "APNS", "token": token, "appId": "com.example.chat" } }),
    )
    .await;
}

#[tokio::test]
async fn a_mention_of_a_non_member_is_plain_text_and_says_nothing_of_who_exists() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let dave = stack.user("dave").await;
    let dave_token = apns_device(&dave).await;
    let room = convo(&alice, "private", &[&bob]).await;
    let mention = |text: &'static str| {
        let alice = alice.clone();
        let room = room.clone();
        async move {
            alice
                .ok(
                    "mutation($t: String!, $c: ID!) { createMessage(input: {content: $t, messageConversationId: $c}) { mentions } }",
                    json!({ "t": text, "c": room }),
                )
                .await["createMessage"]["mentions"]
                .clone()
        }
    };
    // A user who exists and is no member, and one who does not exist, read
    // the same; the author's own name and an email address are no mention.
    assert_eq!(mention("hi @dave").await, json!([]));
    assert_eq!(mention("hi @nobody").await, json!([]));
    assert_eq!(mention("me @alice, mail bob@example.com").await, json!([]));
    assert_eq!(mention("@BOB!").await, json!([bob.id]));
    settle(&stack, &alice).await;
    assert!(to(&stack, &dave_token).await.is_empty());
    // An edit resolves them again.
    let id = post(&alice, &room, "hey @bob").await;
    let out = alice
        .ok(
            "mutation($c: ID!, $m: ID!) { updateMessage(input: {messageConversationId: $c, id: $m, content: \"hey all\"}) { mentions } }",
            json!({ "c": room, "m": id }),
        )
        .await;
    assert_eq!(out["updateMessage"]["mentions"], json!([]));
    assert_eq!(
        alice
            .error_type(LEVEL, json!({ "c": "not-my-room", "l": "NONE" }))
            .await,
        "Unauthorized"
    );
}
