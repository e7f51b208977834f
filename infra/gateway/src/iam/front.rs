//! The DynamoDB endpoint the functions reach: checks each request with the
//! [`Guard`](super::Guard), then forwards it to the engine (embedded, or
//! DynamoDB Local) and relays the answer unchanged.
//!
//! Refusals are DynamoDB's: 400 with `application/x-amz-json-1.0` and a
//! `__type` of `com.amazon.coral.service#AccessDeniedException` (or the
//! signature's `InvalidSignatureException`, `UnrecognizedClientException`,
//! `MissingAuthenticationTokenException`, `IncompleteSignatureException`).
//!
//! Neither engine verifies signatures, and DynamoDB Local keeps a database
//! per access key unless told otherwise: so the forwarded request names the
//! stack's key, and every function sees the one database.

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{Guard, Refused};

/// DynamoDB's largest request.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Headers the engine's answer carries that the SDK reads.
const RELAYED: [&str; 3] = ["content-type", "x-amzn-requestid", "x-amz-crc32"];

struct Front {
    guard: Arc<Guard>,
    upstream: String,
    http: reqwest::Client,
}

/// Serves the front on `listener`, forwarding to `upstream`, until `shutdown`.
pub fn serve(
    listener: TcpListener,
    upstream: &str,
    guard: Arc<Guard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let front = Arc::new(Front {
        guard,
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(256)
            .build()
            .expect("a plain HTTP client builds"),
    });
    let app = Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(front);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %err, "the DynamoDB front stopped");
        }
    })
}

fn refusal(kind: &str, message_field: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "__type": format!("com.amazon.coral.service#{kind}"),
        message_field: message,
    });
    let mut response = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

/// The request's `Authorization` with the stack's key in its credential.
fn as_stack(authorization: &str) -> Option<String> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    let end = start + authorization[start..].find('/')?;
    Some(format!(
        "{}{}{}",
        &authorization[..start],
        crate::sigv4::LOCAL_ACCESS_KEY,
        &authorization[end..]
    ))
}

async fn handle(
    State(front): State<Arc<Front>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = super::Signed::arriving(&method, &uri, &headers, &body);
    if let Err(refused) = front.guard.check_dynamodb(request) {
        // DynamoDB capitalizes the message of an access denial only.
        let field = if matches!(refused, Refused::Denied { .. }) {
            "Message"
        } else {
            "message"
        };
        return refusal(refused.error_type(), field, &refused.to_string());
    }
    let url = format!(
        "{}{}",
        front.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = front.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name == "host" || name == "content-length" {
            continue;
        }
        if name == "authorization" {
            if let Some(stack) = value.to_str().ok().and_then(as_stack) {
                forward = forward.header(name, stack);
                continue;
            }
        }
        forward = forward.header(name, value);
    }
    let answer = match forward.send().await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::error!(error = %err, "the DynamoDB engine did not answer");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the DynamoDB engine did not answer",
            )
                .into_response();
        }
    };
    let status = answer.status();
    let mut relayed = HeaderMap::new();
    for name in RELAYED {
        if let Some(value) = answer.headers().get(name) {
            relayed.insert(name, value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => (status, relayed, bytes).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "the DynamoDB engine's answer broke off");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_credential_names_the_stacks_key_and_keeps_the_rest() {
        assert_eq!(
            as_stack("AWS4-HMAC-SHA256 Credential=local-inbox/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=ab").as_deref(),
            Some("AWS4-HMAC-SHA256 Credential=local/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=ab")
        );
        assert_eq!(as_stack("garbage"), None);
    }
}
