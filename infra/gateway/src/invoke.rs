//! The Lambda `Invoke` API, for the functions that invoke other functions:
//! a writer hands a large conversation's posts to the fan-out function (see
//! `chat_realtime::relay`).
//!
//! `POST /2015-03-31/functions/{name}/invocations`, as Lambda serves it:
//! - `X-Amz-Invocation-Type: Event` queues the invocation and answers 202
//!   at once; the function runs in the background.
//! - `RequestResponse` (the default) answers 200 with the function's result,
//!   or its error document with `X-Amz-Function-Error: Unhandled`.
//! - An unknown function is a 404 `ResourceNotFoundException`; a body that
//!   is not JSON, a 400 `InvalidRequestContentException`.
//! - Every call is signed (SigV4 for `lambda`), and a function's key may
//!   invoke only what its policy grants (`iam`): otherwise a 403.
//!
//! Only the functions something invokes directly are served: the fan-out.
//!
//! As a Lambda function has a concurrency limit, at most
//! [`MAX_CONCURRENT_INVOCATIONS`] invocations run at once here; one more is
//! throttled with a 429 `TooManyRequestsException`, as Lambda throttles (a
//! writer then posts that batch itself). Without the limit, a burst of large
//! conversations' batches, all in this one process, would open connections
//! to the `@connections` endpoint until the process ran out of files.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::AppState;

/// Invocations of a served function running at once.
pub const MAX_CONCURRENT_INVOCATIONS: usize = 16;

/// The permits behind [`MAX_CONCURRENT_INVOCATIONS`].
pub fn concurrency() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_INVOCATIONS))
}

/// The header Lambda's Invoke API takes the invocation type from.
const INVOCATION_TYPE: &str = "x-amz-invocation-type";

fn error(status: StatusCode, kind: &'static str, message: String) -> Response {
    let mut response = (
        status,
        axum::Json(json!({ "Type": "User", "message": message })),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    response
}

pub async fn invoke(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Signed, and allowed by the caller's policy, before anything else.
    let request = crate::iam::Signed::arriving(&method, &uri, &headers, &body);
    let checked = match &state.iam {
        Some(guard) => guard.check_invoke(request, &name),
        None => crate::iam::stack_key_only("lambda", request),
    };
    if let Err(refused) = checked {
        tracing::warn!(function = %name, error = %refused, "Invoke refused");
        return error(
            StatusCode::FORBIDDEN,
            refused.error_type(),
            refused.to_string(),
        );
    }
    let Some(function) = state
        .stream_functions
        .get(crate::realtime::FAN_OUT_FN)
        .filter(|f| f.name == name)
        .cloned()
    else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {name}"),
        );
    };
    let event: Value = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {err}"),
            )
        }
    };
    let Ok(permit) = state.invoke_concurrency.clone().try_acquire_owned() else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate Exceeded.".into(),
        );
    };
    match headers.get(INVOCATION_TYPE).and_then(|v| v.to_str().ok()) {
        Some("Event") => {
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(d) = function.invoke(event).await {
                    tracing::warn!(function = function.name, error_type = %d.error_type, message = %d.error_message, "asynchronous invocation failed");
                }
            });
            StatusCode::ACCEPTED.into_response()
        }
        Some("RequestResponse") | None => match function.invoke(event).await {
            Ok(result) => axum::Json(result).into_response(),
            Err(d) => {
                let mut response = axum::Json(
                    json!({ "errorType": d.error_type, "errorMessage": d.error_message }),
                )
                .into_response();
                response.headers_mut().insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
                response
            }
        },
        Some(other) => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!("Unsupported invocation type: {other}"),
        ),
    }
}
