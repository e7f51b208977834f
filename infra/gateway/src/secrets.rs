//! Secrets Manager, stood in for on the gateway's HTTP port (`POST /`,
//! `X-Amz-Target: secretsmanager.GetSecretValue`, the AWS JSON 1.1
//! protocol), so the functions read their secrets with the unchanged SDK
//! client, as on AWS: the push credentials (`push::SECRET_ID`) and the
//! page-token secret, which are kept in the data dir.
//!
//! Each request's signature is verified, and with IAM enforced the
//! signer's policy must allow `secretsmanager:GetSecretValue` on the
//! secret's ARN as the template names it (`!Ref PushCredentials`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::AppState;

/// The page-token secret's name here; it answers to the template's
/// logical id too (`…:secret:PageTokenSecret`, what `make watch` gives
/// the functions as `PAGE_TOKEN_SECRET_ARN`).
pub const PAGE_TOKEN_SECRET_ID: &str = "chat/page-token-secret";

/// The stack's secrets: the name each is served by, and the template's
/// logical id, by which a policy names it (and which names it here too).
const SECRETS: [(&str, &str); 2] = [
    (crate::push::SECRET_ID, "PushCredentials"),
    (PAGE_TOKEN_SECRET_ID, "PageTokenSecret"),
];

/// `POST /`: `GetSecretValue` of one of the stack's secrets.
pub async fn get_secret_value(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let aws_json = |status: StatusCode, body: Value| {
        (
            status,
            [("content-type", "application/x-amz-json-1.1")],
            body.to_string(),
        )
            .into_response()
    };
    let target = headers.get("x-amz-target").and_then(|t| t.to_str().ok());
    if target != Some("secretsmanager.GetSecretValue") {
        return aws_json(
            StatusCode::BAD_REQUEST,
            json!({ "__type": "InvalidAction", "message": "only GetSecretValue is served here" }),
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["SecretId"].as_str().unwrap_or_default();
    // By name or logical id, or by an ARN naming either.
    let asked = id.rsplit_once(":secret:").map_or(id, |(_, name)| name);
    let (name, logical_id) = SECRETS
        .into_iter()
        .find(|(name, logical_id)| asked == *name || asked == *logical_id)
        .unwrap_or((asked, asked));
    let request = crate::iam::Signed::arriving(&method, &uri, &headers, &body);
    let checked = match &state.iam {
        Some(guard) => guard.check_secret(request, logical_id),
        None => crate::iam::stack_key_only("secretsmanager", request),
    };
    if let Err(refused) = checked {
        return aws_json(
            StatusCode::BAD_REQUEST,
            json!({ "__type": refused.error_type(), "Message": refused.to_string() }),
        );
    }
    let value = match name {
        crate::push::SECRET_ID => state.push.credentials_secret().to_string(),
        PAGE_TOKEN_SECRET_ID => state.page_token_secret.clone(),
        _ => {
            return aws_json(
                StatusCode::BAD_REQUEST,
                json!({ "__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret." }),
            )
        }
    };
    aws_json(
        StatusCode::OK,
        json!({
            "ARN": format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}"),
            "Name": name,
            "SecretString": value,
            "VersionId": "local",
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 0,
        }),
    )
}
