//! Secrets Manager, stood in for on the gateway's HTTP port (`POST /`,
//! `X-Amz-Target: secretsmanager.GetSecretValue`, the AWS JSON 1.1
//! protocol), so the functions read their secrets with the unchanged SDK
//! client, as on AWS: the push credentials (`push::SECRET_ID`) and the
//! page-token secret, which are kept in the data dir.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::AppState;

/// The page-token secret's name here (what `PAGE_TOKEN_SECRET_ARN` says
/// under `make watch`).
pub const PAGE_TOKEN_SECRET_ID: &str = "chat/page-token-secret";

/// `POST /`: `GetSecretValue` of one of the stack's secrets.
pub async fn get_secret_value(
    State(state): State<Arc<AppState>>,
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
    // By name or by the ARN this stand-in gives it.
    let name = id.rsplit_once(":secret:").map_or(id, |(_, name)| name);
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
