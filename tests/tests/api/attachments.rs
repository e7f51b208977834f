//! Attachments end to end: a presigned upload straight to the S3 stand-in
//! over raw HTTP (as a browser sends it), the S3 event that processes it,
//! the message that carries it, links only members get, and every bad
//! input the storage or the API must refuse. The bucket is also read with
//! the unchanged `aws-sdk-s3`.

use std::io::Cursor;
use std::time::Duration;

use chat_domain::attachments::{file_key, thumbnail_key, upload_key};
use chat_tests::{convo, Client, Stack};
use serde_json::{json, Value};

const UPLOAD: &str = "mutation($i: CreateUploadInput!) { createUpload(input: $i) { id method url headers { name value } expiresAt maxBytes } }";
const POST: &str = "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id content attachments { id name state error width height url thumbnailUrl } } }";
const HISTORY: &str = "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id attachments { id state error width height size url thumbnailUrl } } } }";
const DELETE: &str = "mutation($i: DeleteMessageInput!) { deleteMessage(input: $i) { id deletedAt attachments { id } } }";

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The stack's bucket through the unchanged SDK, with the local keys.
async fn s3(stack: &Stack) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .endpoint_url(&stack.running.s3_url)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn exists(s3: &aws_sdk_s3::Client, key: &str) -> bool {
    s3.head_object()
        .bucket(chat_gateway::s3::BUCKET)
        .key(key)
        .send()
        .await
        .is_ok()
}

pub(crate) async fn ticket(who: &Client, room: &str, content_type: &str, size: usize) -> Value {
    who.ok(
        UPLOAD,
        json!({ "i": { "conversationId": room, "contentType": content_type, "size": size, "name": "photo.png" } }),
    )
    .await["createUpload"]
        .clone()
}

/// Sends `body` as the ticket says, as a browser's fetch would.
pub(crate) async fn put(stack: &Stack, ticket: &Value, body: Vec<u8>) -> u16 {
    let mut request = stack
        .http
        .put(ticket["url"].as_str().unwrap())
        .header("origin", "http://127.0.0.1:4000");
    for h in ticket["headers"].as_array().unwrap() {
        let name = h["name"].as_str().unwrap();
        // The client sets the length from the body, as browsers do.
        if name != "content-length" && name != "host" {
            request = request.header(name, h["value"].as_str().unwrap());
        }
    }
    request.body(body).send().await.unwrap().status().as_u16()
}

/// The attachment as the history shows it, once processing is done.
async fn processed(who: &Client, room: &str, message: &str) -> Value {
    for _ in 0..200 {
        let out = who.ok(HISTORY, json!({ "c": room })).await;
        let m = out["allMessageConnection"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message)
            .cloned()
            .unwrap();
        if m["attachments"][0]["state"] != "PENDING" {
            return m["attachments"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the upload was never processed");
}

#[tokio::test]
async fn a_photo_goes_straight_to_the_bucket_is_processed_and_only_members_read_it() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let carol = stack.user("carol").await;
    let room = convo(&alice, "photos", &[&bob]).await;
    let bytes = png(640, 320);

    assert_eq!(
        carol
            .error_type(
                UPLOAD,
                json!({ "i": { "conversationId": room, "contentType": "image/png", "size": 10, "name": "x.png" } })
            )
            .await,
        "Unauthorized"
    );

    let t = ticket(&alice, &room, "image/png", bytes.len()).await;
    assert_eq!(t["method"], "PUT");
    let id = t["id"].as_str().unwrap().to_string();
    let names: Vec<&str> = t["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"content-type"), "{names:?}");
    assert!(
        t["url"].as_str().unwrap().contains("content-length"),
        "the length is signed: {}",
        t["url"]
    );
    assert_eq!(put(&stack, &t, bytes.clone()).await, 200);

    let posted = alice
        .ok(
            POST,
            json!({ "i": { "id": "m-photo", "content": "", "messageConversationId": room, "attachments": [id] } }),
        )
        .await;
    assert_eq!(posted["createMessage"]["attachments"][0]["id"], id.as_str());

    let a = processed(&bob, &room, "m-photo").await;
    assert_eq!(a["state"], "READY", "{a:#}");
    assert_eq!(
        (a["width"].as_u64(), a["height"].as_u64()),
        (Some(640), Some(320))
    );
    let file = stack
        .http
        .get(a["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status().as_u16(), 200);
    let file = file.bytes().await.unwrap();
    let decoded = image::load_from_memory(&file).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (640, 320));
    let thumb = stack
        .http
        .get(a["thumbnailUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 160));

    // What the bucket holds, read with the unchanged SDK: the file and
    // its thumbnail; the bytes as sent are gone.
    let s3 = s3(&stack).await;
    assert!(exists(&s3, &file_key(&room, &id)).await);
    assert!(exists(&s3, &thumbnail_key(&room, &id)).await);
    assert!(!exists(&s3, &upload_key(&room, &id)).await);

    // Carol is no member: no history, so no link.
    assert_eq!(
        carol.error_type(HISTORY, json!({ "c": room })).await,
        "Unauthorized"
    );

    // A link with one character of its signature changed is refused.
    let url = a["url"].as_str().unwrap();
    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &url[at..at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{}{}", &url[..at], flipped, &url[at + 1..]);
    let refused = stack.http.get(&tampered).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);

    // Deleting the message deletes its files.
    let deleted = alice
        .ok(
            DELETE,
            json!({ "i": { "id": "m-photo", "messageConversationId": room } }),
        )
        .await;
    assert_eq!(deleted["deleteMessage"]["attachments"], json!([]));
    assert!(!exists(&s3, &file_key(&room, &id)).await);
    assert!(!exists(&s3, &thumbnail_key(&room, &id)).await);
    assert_eq!(
        stack
            .http
            .get(a["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn the_storage_and_the_api_refuse_what_an_upload_may_not_be() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "files", &[&bob]).await;
    let other = convo(&alice, "elsewhere", &[]).await;
    let s3 = s3(&stack).await;
    let bytes = png(20, 20);

    // A type not allowed, and a size over the limit: no ticket.
    for (content_type, size) in [("image/svg+xml", 100), ("image/png", 26_214_401)] {
        assert_eq!(
            alice
                .error_type(
                    UPLOAD,
                    json!({ "i": { "conversationId": room, "contentType": content_type, "size": size, "name": "a" } })
                )
                .await,
            "ValidationError"
        );
    }

    // One byte more than signed, or another type: refused by the storage.
    let t = ticket(&alice, &room, "image/png", bytes.len()).await;
    let key = upload_key(&room, t["id"].as_str().unwrap());
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(put(&stack, &t, longer).await, 403);
    let mut retyped = t.clone();
    for h in retyped["headers"].as_array_mut().unwrap() {
        if h["name"] == "content-type" {
            h["value"] = json!("text/html");
        }
    }
    assert_eq!(put(&stack, &retyped, bytes.clone()).await, 403);
    // The same ticket aimed at a key of another conversation: the key is
    // signed, so the storage refuses it.
    let mut elsewhere = t.clone();
    elsewhere["url"] = json!(t["url"].as_str().unwrap().replace(&room, &other));
    assert_eq!(put(&stack, &elsewhere, bytes.clone()).await, 403);
    assert!(!exists(&s3, &upload_key(&other, t["id"].as_str().unwrap())).await);
    assert!(!exists(&s3, &key).await, "nothing was stored");

    // An expired presigned PUT, made by the unchanged SDK.
    let expired = s3
        .put_object()
        .bucket(chat_gateway::s3::BUCKET)
        .key(&key)
        .content_type("image/png")
        .content_length(bytes.len() as i64)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::builder()
                .start_time(std::time::SystemTime::now() - Duration::from_secs(120))
                .expires_in(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let sent = stack
        .http
        .put(expired.uri())
        .header("content-type", "image/png")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 403);
    assert!(!exists(&s3, &key).await);

    // An executable named photo.png: sent, then refused on attach.
    let exe =
        b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0 this program cannot be run in DOS mode".to_vec();
    let t_exe = ticket(&alice, &room, "image/png", exe.len()).await;
    assert_eq!(put(&stack, &t_exe, exe).await, 200);
    let attach = |id: &str, room: &str, msg: &str| json!({ "i": { "id": msg, "content": "", "messageConversationId": room, "attachments": [id] } });
    assert_eq!(
        alice
            .error_type(POST, attach(t_exe["id"].as_str().unwrap(), &room, "m-exe"))
            .await,
        "ValidationError"
    );

    // A good upload: not Bob's to attach, not for another conversation.
    let t_ok = ticket(&alice, &room, "image/png", bytes.len()).await;
    assert_eq!(put(&stack, &t_ok, bytes).await, 200);
    let id = t_ok["id"].as_str().unwrap();
    assert_eq!(
        bob.error_type(POST, attach(id, &room, "m-bob")).await,
        "ValidationError"
    );
    assert_eq!(
        alice.error_type(POST, attach(id, &other, "m-other")).await,
        "ValidationError"
    );

    // Attached once; a retry of the same message is the same message, and
    // another message cannot take it.
    let first = alice.ok(POST, attach(id, &room, "m-1")).await;
    let again = alice.ok(POST, attach(id, &room, "m-1")).await;
    assert_eq!(first["createMessage"]["id"], again["createMessage"]["id"]);
    assert_eq!(
        alice.error_type(POST, attach(id, &room, "m-2")).await,
        "Conflict"
    );
    let a = processed(&alice, &room, "m-1").await;
    assert_eq!(a["state"], "READY");
    let history = alice.ok(HISTORY, json!({ "c": room })).await;
    let ids: Vec<&Value> = history["allMessageConnection"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, vec![&json!("m-1")], "one message, however often sent");
}

const ON_CHANGE: &str = "subscription($c: ID!) { onMessageChange(conversationId: $c) { kind message { id version attachments { id state url thumbnailUrl } } } }";

/// Uploads `bytes` as a PNG to `room` and posts them as message `id`.
async fn post_png(stack: &Stack, who: &Client, room: &str, id: &str, bytes: Vec<u8>) -> String {
    let t = ticket(who, room, "image/png", bytes.len()).await;
    assert_eq!(put(stack, &t, bytes).await, 200);
    let upload = t["id"].as_str().unwrap().to_string();
    who.ok(
        POST,
        json!({ "i": { "id": id, "content": "", "messageConversationId": room, "attachments": [upload] } }),
    )
    .await;
    upload
}

#[tokio::test]
async fn subscribers_get_the_message_again_when_its_photo_is_processed() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "live", &[&bob]).await;
    let mut ws = stack.ws(&bob).await;
    ws.subscribe("changes", ON_CHANGE, json!({ "c": room }))
        .await;
    ws.sync().await;
    // A first message shows the subscription is live before the photo.
    chat_tests::post(&alice, &room, "first").await;
    match ws.next().await {
        chat_tests::WsEvent::Message(m) => {
            assert_eq!(m["payload"]["data"]["onMessageChange"]["kind"], "CREATED")
        }
        other => panic!("expected the first message, got {other:?}"),
    }

    post_png(&stack, &alice, &room, "m-live", png(100, 50)).await;
    let mut kinds = Vec::new();
    let ready = loop {
        match ws.next().await {
            chat_tests::WsEvent::Message(m) if m["id"] == "changes" => {
                let change = m["payload"]["data"]["onMessageChange"].clone();
                kinds.push(change["kind"].as_str().unwrap().to_string());
                if change["message"]["attachments"][0]["state"] == "READY" {
                    break change;
                }
            }
            other => panic!("expected a change, got {other:?}"),
        }
    };
    // The post with its photo still processing, then the processing's
    // change; or, when processing ended before the post, the post ready.
    assert!(
        kinds == ["CREATED", "PROCESSED"] || kinds == ["CREATED"],
        "{kinds:?}"
    );
    let a = &ready["message"]["attachments"][0];
    assert_eq!(a["state"], "READY");
    let thumb = stack
        .http
        .get(a["thumbnailUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status().as_u16(), 200);
}

#[tokio::test]
async fn a_removed_members_links_stop_working_when_they_expire() {
    let stack = Stack::start_with_links(2).await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let room = convo(&alice, "private", &[&bob]).await;
    post_png(&stack, &alice, &room, "m-1", png(30, 30)).await;
    let a = processed(&bob, &room, "m-1").await;
    let url = a["url"].as_str().unwrap().to_string();
    assert_eq!(
        stack.http.get(&url).send().await.unwrap().status().as_u16(),
        200
    );

    alice
        .ok(
            "mutation($c: ID!, $u: ID!) { removeMember(conversationId: $c, userId: $u) { kind } }",
            json!({ "c": room, "u": bob.id }),
        )
        .await;
    // No new link for Bob, and the one he has runs out.
    assert_eq!(
        bob.error_type(HISTORY, json!({ "c": room })).await,
        "Unauthorized"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.http.get(&url).send().await.unwrap().status().as_u16(),
        403
    );
    // Alice, a member, gets a fresh one that works.
    let fresh = processed(&alice, &room, "m-1").await;
    let fresh = fresh["url"].as_str().unwrap();
    assert_ne!(fresh, url);
    assert_eq!(
        stack
            .http
            .get(fresh)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

/// A PNG whose header claims 40,000 x 40,000 pixels (6.4 GB as RGBA) in a
/// few dozen bytes, its header's CRC made right.
fn bomb() -> Vec<u8> {
    let mut png = png(1, 1);
    png[16..20].copy_from_slice(&40_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&40_000u32.to_be_bytes());
    let mut crc = !0u32;
    for b in &png[12..29] {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    png[29..33].copy_from_slice(&(!crc).to_be_bytes());
    png
}

#[tokio::test]
async fn a_decompression_bomb_fails_its_attachment_and_nothing_of_it_is_kept() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "bombs", &[]).await;
    let bytes = bomb();
    let t = ticket(&alice, &room, "image/png", bytes.len()).await;
    assert_eq!(put(&stack, &t, bytes).await, 200);
    let upload = t["id"].as_str().unwrap().to_string();
    let out = alice
        .send(
            POST,
            json!({ "i": { "id": "m-bomb", "content": "", "messageConversationId": room, "attachments": [upload] } }),
        )
        .await;
    // Processed before the post: the post is refused, with the reason;
    // after: the message shows the attachment failed, with the reason.
    let why = match out.get("errors") {
        Some(errors) => {
            assert_eq!(errors[0]["errorType"], "ValidationError", "{out:#}");
            errors[0]["message"].as_str().unwrap().to_string()
        }
        None => {
            let a = processed(&alice, &room, "m-bomb").await;
            assert_eq!(a["state"], "FAILED");
            assert_eq!(a["url"], Value::Null);
            a["error"].as_str().unwrap().to_string()
        }
    };
    assert!(why.contains("pixels"), "{why}");
    let s3 = s3(&stack).await;
    for key in [
        upload_key(&room, &upload),
        file_key(&room, &upload),
        thumbnail_key(&room, &upload),
    ] {
        assert!(!exists(&s3, &key).await, "{key}");
    }
}

#[tokio::test]
async fn the_sweeper_removes_uploads_never_attached_a_day_on_and_keeps_the_rest() {
    use chat_domain::{ChatService, PageTokens};
    use chat_store::{DynamoStore, RequestCounter};
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "sweep", &[]).await;
    let kept = post_png(&stack, &alice, &room, "m-kept", png(10, 10)).await;
    processed(&alice, &room, "m-kept").await;
    let bytes = png(12, 12);
    let left = ticket(&alice, &room, "image/png", bytes.len()).await;
    assert_eq!(put(&stack, &left, bytes).await, 200);
    let left = left["id"].as_str().unwrap().to_string();
    let s3 = s3(&stack).await;
    // Processed, never attached: its file waits for the sweeper.
    for _ in 0..100 {
        if exists(&s3, &file_key(&room, &left)).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exists(&s3, &file_key(&room, &left)).await);

    // The sweeper's use-case over the stack's own table and bucket, signed
    // as the upload-sweeper function: its policy must allow every call.
    let credentials = stack.running.iam.as_ref().unwrap().credentials();
    let dynamodb = chat_gateway::dynamo::functions_client(
        &stack.running.dynamodb_endpoint,
        RequestCounter::default(),
        Default::default(),
        Some(&credentials),
    )
    .await;
    let sweeper_s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(
            &chat_gateway::dynamo::functions_sdk_config(&stack.running.s3_url, Some(&credentials))
                .await,
        )
        .endpoint_url(&stack.running.s3_url)
        .force_path_style(true)
        .build(),
    );
    let sweeper = ChatService::new(
        DynamoStore::new(dynamodb, stack.running.tables.clone()),
        PageTokens::new(b"the sweeper's own page token secret"),
    )
    .with_media(std::sync::Arc::new(chat_media::S3Media::new(
        sweeper_s3,
        chat_gateway::s3::BUCKET,
    )));
    let sweep =
        |at| chat_gateway::iam::as_function("upload-sweeper", sweeper.sweep_uploads(at, 100));
    let now = chat_domain::clock::now_ms();
    assert_eq!(sweep(now).await.unwrap(), 0, "not a day yet");
    let day = chat_domain::limits::UNATTACHED_UPLOAD_SECS * 1000;
    assert_eq!(sweep(now + day + 1000).await.unwrap(), 1);
    assert!(!exists(&s3, &file_key(&room, &left)).await);
    assert!(!exists(&s3, &thumbnail_key(&room, &left)).await);
    assert!(exists(&s3, &file_key(&room, &kept)).await, "attached: kept");
}

#[tokio::test]
async fn an_offline_members_push_shows_the_processed_photo() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let token = format!("{:0<64}", "b0b");
    bob.ok(
        "mutation($t: String!) { registerDevice(input: {platform: APNS, token: $t, appId: \"com.example.chat\"}) { id } }",
        json!({ "t": token }),
    )
    .await;
    let room = convo(&alice, "trip", &[&bob]).await;
    // Uploaded, and processed before it is posted (as when its sender
    // writes a caption meanwhile).
    let bytes = png(200, 100);
    let t = ticket(&alice, &room, "image/png", bytes.len()).await;
    assert_eq!(put(&stack, &t, bytes).await, 200);
    let id = t["id"].as_str().unwrap().to_string();
    let s3 = s3(&stack).await;
    for _ in 0..200 {
        if exists(&s3, &thumbnail_key(&room, &id)).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice
        .ok(
            POST,
            json!({ "i": { "id": "m-trip", "content": "", "messageConversationId": room, "attachments": [id] } }),
        )
        .await;
    let push = 'found: {
        for _ in 0..200 {
            let got: Value = stack
                .http
                .get(format!("{}/local/push", stack.running.base_url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(p) = got["received"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["token"] == token.as_str())
            {
                break 'found p.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bob's phone got no push");
    };
    let payload = &push["payload"];
    assert_eq!(payload["aps"]["alert"]["body"], "Photo");
    assert_eq!(payload["aps"]["mutable-content"], 1);
    let image = payload["image"].as_str().expect("the thumbnail's link");
    let thumb = stack.http.get(image).send().await.unwrap();
    assert_eq!(thumb.status().as_u16(), 200);
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (thumb.width(), thumb.height()),
        (200, 100),
        "never blown up"
    );
}
