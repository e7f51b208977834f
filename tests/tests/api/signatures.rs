//! `@connections` verifies SigV4 as API Gateway does. Both clients that
//! post to it sign so that it verifies: the unchanged
//! `aws-sdk-apigatewaymanagement` client and the functions' own
//! [`ApiGatewayNotifier`]. A request unsigned, signed with a wrong secret
//! or an unknown key, tampered with after signing, or signed more than
//! five minutes ago is refused with API Gateway's 403, and nothing reaches
//! the socket.

use std::time::{Duration, SystemTime};

use aws_sdk_apigatewaymanagement::primitives::Blob;
use chat_realtime::notifier::{ApiGatewayNotifier, Notifier, NotifyError};
use chat_tests::*;
use serde_json::json;

use crate::realtime::watch_room;

/// A `next` frame for the subscription `w`, marked `n`.
fn frame(n: u32) -> Vec<u8> {
    json!({ "type": "next", "id": "w", "payload": { "data": { "marker": n } } })
        .to_string()
        .into_bytes()
}

async fn expect_frame(ws: &mut WsClient, n: u32) {
    match ws.next().await {
        WsEvent::Message(m) => assert_eq!(m["payload"]["data"]["marker"], n, "{m}"),
        other => panic!("expected frame {n}, got {other:?}"),
    }
}

fn config(access_key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(access_key, secret, None, None, "test"),
            ),
        )
        .build()
}

/// A POST of `body` to `url`, signed over `signed_body` at `time`.
async fn hand_signed(
    url: &str,
    signed_body: &[u8],
    body: &[u8],
    time: SystemTime,
) -> reqwest::Response {
    let key = aws_credential_types::Credentials::new("local", "local", None, None, "test");
    let signed = sigv4_headers(url, "execute-api", key, time, &[], signed_body);
    let mut request = reqwest::Client::new().post(url).body(body.to_vec());
    for (name, value) in signed {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        error_type,
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn both_clients_signatures_verify_and_unsigned_stale_or_tampered_posts_are_refused() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = convo(&alice, "room", &[]).await;
    let mut ws = stack.ws(&alice).await;
    watch_room(&mut ws, "w", &room).await;
    let connection_id = stack.subscriber_connection(&room).await;
    let endpoint = stack.running.ws_url.replacen("ws://", "http://", 1);
    let url = format!("{endpoint}/@connections/{connection_id}");

    // The SDK's signature verifies.
    let sdk = aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(&config("local", "local"))
            .endpoint_url(&endpoint)
            .build(),
    );
    sdk.post_to_connection()
        .connection_id(&connection_id)
        .data(Blob::new(frame(1)))
        .send()
        .await
        .expect("the SDK's signed post is accepted");
    expect_frame(&mut ws, 1).await;

    // So does the notifier's.
    let notifier = ApiGatewayNotifier::for_endpoint(&config("local", "local"), &endpoint).unwrap();
    notifier
        .post(&connection_id, frame(2))
        .await
        .expect("the notifier's signed post is accepted");
    expect_frame(&mut ws, 2).await;

    // Unsigned.
    let unsigned = reqwest::Client::new()
        .post(&url)
        .body(frame(3))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refusal(unsigned).await,
        (
            403,
            "MissingAuthenticationTokenException".into(),
            "Missing Authentication Token".into()
        )
    );

    // A wrong secret, and a key the service does not know.
    let wrong = ApiGatewayNotifier::for_endpoint(&config("local", "guessed"), &endpoint).unwrap();
    match wrong.post(&connection_id, frame(4)).await {
        Err(NotifyError::Refused {
            status: 403,
            error_type,
            message,
        }) => {
            assert_eq!(error_type, "InvalidSignatureException");
            assert!(
                message.starts_with("The request signature we calculated does not match"),
                "{message}"
            );
        }
        other => panic!("a wrong secret must be refused, got {other:?}"),
    }
    let stranger =
        ApiGatewayNotifier::for_endpoint(&config("AKIDSTRANGER", "local"), &endpoint).unwrap();
    match stranger.post(&connection_id, frame(5)).await {
        Err(NotifyError::Refused {
            status: 403,
            error_type,
            ..
        }) => {
            assert_eq!(error_type, "UnrecognizedClientException")
        }
        other => panic!("an unknown key must be refused, got {other:?}"),
    }
    // The SDK gets the same refusal, as its own error type.
    let err = aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(&config("local", "guessed"))
            .endpoint_url(&endpoint)
            .build(),
    )
    .post_to_connection()
    .connection_id(&connection_id)
    .data(Blob::new(frame(6)))
    .send()
    .await
    .expect_err("a wrong secret is refused to the SDK too");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));

    // Signed over one body, sent with another.
    let (status, error_type, _) =
        refusal(hand_signed(&url, &frame(7), &frame(70), SystemTime::now()).await).await;
    assert_eq!(
        (status, error_type.as_str()),
        (403, "InvalidSignatureException")
    );
    // Signed six minutes ago, and four (still current).
    let stale = SystemTime::now() - Duration::from_secs(6 * 60);
    let (status, error_type, message) =
        refusal(hand_signed(&url, &frame(8), &frame(8), stale).await).await;
    assert_eq!(
        (status, error_type.as_str()),
        (403, "InvalidSignatureException")
    );
    assert!(message.starts_with("Signature expired:"), "{message}");
    let recent = SystemTime::now() - Duration::from_secs(4 * 60);
    assert_eq!(
        hand_signed(&url, &frame(9), &frame(9), recent)
            .await
            .status()
            .as_u16(),
        200
    );
    // Only the accepted posts reached the socket: 9 is next, nothing else.
    expect_frame(&mut ws, 9).await;
    assert_eq!(
        ws.next_within(Duration::from_millis(300)).await,
        WsEvent::Silence
    );
}
