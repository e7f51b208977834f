//! A phone or an emulator on the network: the stack listens on every
//! interface and is told, by `--public-url`, the name devices reach it by.
//! Everything it hands out names that host (never 0.0.0.0), and a token
//! issued there is accepted there.

use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chat_tests::{convo, Stack};
use serde_json::{json, Value};

use crate::attachments::{put, ticket};

#[tokio::test]
async fn with_a_public_url_the_config_the_issuer_and_presigned_links_name_that_host() {
    // A free port for the HTTP listener, so the public URL can name it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let every = |port| SocketAddr::from(([0, 0, 0, 0], port));
    // This machine's address on its network, as a phone would call it
    // (connecting a UDP socket sends nothing); loopback if it has none.
    let host = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map_or_else(|| "localhost".to_string(), |ip| ip.to_string());
    let public = format!("http://{host}:{port}");
    let running = chat_gateway::start(chat_gateway::Config {
        http_addr: every(port),
        ws_addr: every(0),
        s3_addr: every(0),
        public_url: Some(public.clone()),
        table_prefix: format!("t{}-", ulid::Ulid::new()),
        web_dir: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../web").into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(running.base_url, public);
    assert!(
        running.ws_url.starts_with(&format!("ws://{host}:")),
        "{}",
        running.ws_url
    );
    assert!(
        running.s3_url.starts_with(&format!("http://{host}:")),
        "{}",
        running.s3_url
    );

    let stack = Stack {
        running,
        http: reqwest::Client::new(),
    };
    // The app's config, read through another address of this machine.
    let config: Value = stack
        .http
        .get(format!("http://127.0.0.1:{port}/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["graphql"], json!(format!("{public}/graphql")));
    assert_eq!(
        config["auth"]["tokenUrl"],
        json!(format!("{public}/auth/token"))
    );
    assert_eq!(
        config["realtime"],
        json!(format!("{}/", stack.running.ws_url))
    );

    // A token from the public address names it as issuer, and is accepted.
    let phone = stack.user("lan").await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(phone.token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], json!(public));
    let room = convo(&phone, "On the phone", &[]).await;
    // A photo from the phone goes straight to the bucket at the public host.
    let ticket = ticket(&phone, &room, "image/png", 10).await;
    let url = ticket["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/", stack.running.s3_url)),
        "{url}"
    );
    // And the bytes go there, signed as the ticket says.
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0];
    let status = put(&stack, &ticket, png.to_vec()).await;
    assert!((200..300).contains(&status), "{status}");
    stack.running.shutdown().await;
}
