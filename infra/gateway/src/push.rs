//! The push services, stood in for on the gateway's HTTP port: what the
//! notifier calls on AWS, served here with the providers' own protocols, so
//! `chat-push` runs unchanged against them.
//!
//! - **Secrets Manager** (see `secrets`): the stack's dev push credentials,
//!   made on first start and kept in the data dir.
//! - **APNs** (`POST /3/device/{token}`, and `/apns-sandbox/3/device/...`
//!   for the sandbox), over HTTP/2 only, as APNs is; the provider token
//!   (ES256) is verified with the dev key.
//! - **FCM HTTP v1** (`POST /v1/projects/{project}/messages:send`) and the
//!   OAuth 2 token endpoint its service account calls
//!   (`POST /local/oauth2/token`, JWT bearer grant, verified).
//! - **A Web Push service** (`POST /local/webpush/{id}`): a browser's
//!   subscription endpoint; the VAPID signature is verified and the body,
//!   encrypted for the subscription, kept as it came.
//!
//! Every push received is recorded: `GET /local/push` lists them (each with
//! its headers and body), and `make dev`'s log has a line for each. A test
//! makes a token answer as gone, throttled or failing with `POST
//! /local/push/faults` (`{"token": ..., "fault": "gone" | "throttle" |
//! "fail" | null}`), and `DELETE /local/push` forgets what was received.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{AppState, GatewayError};

/// The secret's name in the stand-in (what `PUSH_CREDENTIALS_SECRET` says).
pub const SECRET_ID: &str = "chat/push-credentials";
const APNS_TEAM: &str = "LOCALTEAM1";
const APNS_KEY_ID: &str = "LOCALKEY01";
const FCM_PROJECT: &str = "local-chat";
const FCM_CLIENT: &str = "notifier@local-chat.iam.gserviceaccount.com";
/// APNs, FCM and Web Push all take 4096 bytes.
const MAX_BODY_BYTES: usize = 4096;

/// What a test can make a token answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The provider's "this token is gone".
    Gone,
    /// 429.
    Throttle,
    /// 5xx.
    Fail,
}

/// One push as a service received it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    /// `APNS`, `APNS_SANDBOX`, `FCM` or `WEB_PUSH`.
    pub platform: &'static str,
    /// The device token (APNs, FCM) or the subscription id (Web Push).
    pub token: String,
    /// Epoch milliseconds.
    pub at: i64,
    /// What the service answered.
    pub status: u16,
    /// The headers that carry meaning (collapse id, push type, topic...).
    pub headers: HashMap<String, String>,
    /// The JSON payload (APNs' body, FCM's `message`), or, for Web Push,
    /// the encrypted body in base64 (`bodyBase64`).
    pub payload: Value,
}

/// The dev credentials, and the keys that verify what they sign.
struct Keys {
    secret: String,
    apns: DecodingKey,
    fcm: DecodingKey,
    vapid: DecodingKey,
    vapid_public: String,
}

/// The stand-ins' state.
pub struct PushServices {
    keys: Keys,
    base_url: String,
    received: Mutex<Vec<Received>>,
    faults: Mutex<HashMap<String, Fault>>,
    access_tokens: Mutex<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    apns: String,
    fcm: String,
    vapid: String,
}

fn ec_key() -> Result<String, GatewayError> {
    Ok(crate::dev_keys::p256_pem()?)
}

fn rsa_key() -> Result<String, GatewayError> {
    Ok(crate::dev_keys::rsa_pem()?)
}

/// Made once per process when nothing is kept: tests start many stacks.
static EPHEMERAL: std::sync::OnceLock<Stored> = std::sync::OnceLock::new();

fn generate() -> Result<Stored, GatewayError> {
    Ok(Stored {
        apns: ec_key()?,
        fcm: rsa_key()?,
        vapid: ec_key()?,
    })
}

fn ec_public(pem: &str) -> Result<(DecodingKey, Vec<u8>), GatewayError> {
    let secret =
        p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| GatewayError::Push(e.to_string()))?;
    let public = secret.public_key();
    let spki = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| GatewayError::Push(e.to_string()))?;
    let key =
        DecodingKey::from_ec_pem(spki.as_bytes()).map_err(|e| GatewayError::Push(e.to_string()))?;
    Ok((key, public.to_sec1_bytes().to_vec()))
}

impl PushServices {
    /// The stand-ins at `base_url`, with the credentials kept in
    /// `data_dir` (made on first start).
    pub fn load_or_create(
        data_dir: Option<&PathBuf>,
        base_url: &str,
    ) -> Result<Self, GatewayError> {
        let stored: Stored = match data_dir {
            Some(_) => {
                let text = crate::persisted(data_dir, "push-keys.json", || {
                    serde_json::to_string(&generate()?)
                        .map_err(|e| GatewayError::Push(e.to_string()))
                })?;
                serde_json::from_str(&text).map_err(|e| GatewayError::Push(e.to_string()))?
            }
            None => {
                let made = match EPHEMERAL.get() {
                    Some(made) => made,
                    None => {
                        let made = generate()?;
                        EPHEMERAL.get_or_init(|| made)
                    }
                };
                Stored {
                    apns: made.apns.clone(),
                    fcm: made.fcm.clone(),
                    vapid: made.vapid.clone(),
                }
            }
        };
        let (apns, _) = ec_public(&stored.apns)?;
        let (vapid, vapid_public) = ec_public(&stored.vapid)?;
        let fcm_public = crate::dev_keys::public_pem(&crate::dev_keys::parse_pem(&stored.fcm)?)?;
        let fcm = DecodingKey::from_rsa_pem(fcm_public.as_bytes())
            .map_err(|e| GatewayError::Push(e.to_string()))?;
        let secret = json!({
            "apns": { "teamId": APNS_TEAM, "keyId": APNS_KEY_ID, "privateKey": stored.apns },
            "fcm": {
                "type": "service_account",
                "project_id": FCM_PROJECT,
                "client_email": FCM_CLIENT,
                "private_key": stored.fcm,
                "token_uri": format!("{base_url}/local/oauth2/token"),
            },
            "vapid": { "privateKey": stored.vapid, "subject": "mailto:dev@localhost" },
        })
        .to_string();
        Ok(PushServices {
            keys: Keys {
                secret,
                apns,
                fcm,
                vapid,
                vapid_public: URL_SAFE_NO_PAD.encode(vapid_public),
            },
            base_url: base_url.to_string(),
            received: Mutex::new(Vec::new()),
            faults: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(Vec::new()),
        })
    }

    /// The push credentials secret's JSON, as Secrets Manager serves it.
    pub fn credentials_secret(&self) -> &str {
        &self.keys.secret
    }

    /// The VAPID public key a browser subscribes with (base64url).
    pub fn vapid_public_key(&self) -> &str {
        &self.keys.vapid_public
    }

    /// Where `chat-push` finds each service here.
    pub fn endpoints(&self) -> chat_push::Endpoints {
        chat_push::Endpoints {
            apns: self.base_url.clone(),
            apns_sandbox: format!("{}/apns-sandbox", self.base_url),
            fcm: self.base_url.clone(),
            web_push_origins: vec![self.base_url.clone()],
        }
    }

    /// Every push received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("push lock").clone()
    }

    /// Counts by platform and answer, for `/local/stats`.
    pub fn stats(&self) -> Value {
        let mut counts: HashMap<String, HashMap<&'static str, u64>> = HashMap::new();
        for r in self.received.lock().expect("push lock").iter() {
            let outcome = match r.status {
                200..=299 => "delivered",
                404 | 410 => "gone",
                429 => "throttled",
                _ => "failed",
            };
            *counts
                .entry(r.platform.to_string())
                .or_default()
                .entry(outcome)
                .or_default() += 1;
        }
        json!(counts)
    }

    fn fault(&self, token: &str) -> Option<Fault> {
        self.faults.lock().expect("push lock").get(token).copied()
    }

    fn record(&self, received: Received) {
        let title = received
            .payload
            .pointer("/aps/alert/title")
            .or(received.payload.pointer("/notification/title"))
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        tracing::info!(
            platform = received.platform,
            token = %received.token,
            status = received.status,
            title,
            "push received"
        );
        self.received.lock().expect("push lock").push(received);
    }
}

fn header_map(headers: &HeaderMap, names: &[&str]) -> HashMap<String, String> {
    names
        .iter()
        .filter_map(|n| Some((n.to_string(), headers.get(*n)?.to_str().ok()?.to_string())))
        .collect()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("bearer ")
        .or_else(|| {
            headers
                .get("authorization")?
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")
        })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn apns_refusal(status: StatusCode, reason: &str) -> Response {
    (
        status,
        Json(json!({ "reason": reason, "timestamp": now_ms() })),
    )
        .into_response()
}

async fn apns(
    state: &AppState,
    platform: &'static str,
    token: String,
    version: Version,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let push = &state.push;
    let answer = (|| {
        if version != Version::HTTP_2 {
            return (StatusCode::HTTP_VERSION_NOT_SUPPORTED, None);
        }
        let Some(jwt) = bearer(&headers) else {
            return (StatusCode::FORBIDDEN, Some("MissingProviderToken"));
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims = ["iat".to_string(), "iss".to_string()].into();
        validation.validate_exp = false;
        validation.set_issuer(&[APNS_TEAM]);
        let verified = jsonwebtoken::decode_header(jwt)
            .ok()
            .filter(|h| h.kid.as_deref() == Some(APNS_KEY_ID))
            .and_then(|_| jsonwebtoken::decode::<Value>(jwt, &push.keys.apns, &validation).ok());
        if verified.is_none() {
            return (StatusCode::FORBIDDEN, Some("InvalidProviderToken"));
        }
        if headers.get("apns-topic").is_none_or(|t| t.is_empty()) {
            return (StatusCode::BAD_REQUEST, Some("MissingTopic"));
        }
        if body.len() > MAX_BODY_BYTES {
            return (StatusCode::PAYLOAD_TOO_LARGE, Some("PayloadTooLarge"));
        }
        if serde_json::from_slice::<Value>(&body).is_err() {
            return (StatusCode::BAD_REQUEST, Some("PayloadEmpty"));
        }
        match push.fault(&token) {
            Some(Fault::Gone) => (StatusCode::GONE, Some("Unregistered")),
            Some(Fault::Throttle) => (StatusCode::TOO_MANY_REQUESTS, Some("TooManyRequests")),
            Some(Fault::Fail) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("InternalServerError"),
            ),
            None => (StatusCode::OK, None),
        }
    })();
    push.record(Received {
        platform,
        token,
        at: now_ms(),
        status: answer.0.as_u16(),
        headers: header_map(
            &headers,
            &[
                "apns-topic",
                "apns-push-type",
                "apns-priority",
                "apns-collapse-id",
                "apns-expiration",
            ],
        ),
        payload: serde_json::from_slice(&body).unwrap_or_default(),
    });
    match answer {
        (StatusCode::OK, _) => (
            StatusCode::OK,
            [("apns-id", uuid::Uuid::new_v4().to_string())],
        )
            .into_response(),
        (status, Some(reason)) => apns_refusal(status, reason),
        (status, None) => status.into_response(),
    }
}

/// `POST /3/device/{token}`: APNs (production).
pub async fn apns_production(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    apns(&state, "APNS", token, version, headers, body).await
}

/// `POST /apns-sandbox/3/device/{token}`: APNs' development environment.
pub async fn apns_sandbox(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    apns(&state, "APNS_SANDBOX", token, version, headers, body).await
}

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    assertion: String,
}

/// `POST /local/oauth2/token`: Google's OAuth 2 token endpoint, for the
/// FCM service account's JWT bearer grant.
pub async fn oauth_token(
    State(state): State<Arc<AppState>>,
    axum::Form(request): axum::Form<TokenRequest>,
) -> Response {
    let push = &state.push;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}/local/oauth2/token", push.base_url)]);
    validation.set_issuer(&[FCM_CLIENT]);
    let granted = request.grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        && jsonwebtoken::decode::<Value>(&request.assertion, &push.keys.fcm, &validation)
            .is_ok_and(|t| {
                t.claims["scope"]
                    .as_str()
                    .is_some_and(|s| s.contains("firebase.messaging"))
            });
    if !granted {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": "invalid_grant", "error_description": "Invalid JWT Signature." }),
            ),
        )
            .into_response();
    }
    let token = format!("ya29.local-{}", uuid::Uuid::new_v4().simple());
    push.access_tokens
        .lock()
        .expect("push lock")
        .push(token.clone());
    Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

fn fcm_error(status: StatusCode, code: &str, error_code: Option<&str>) -> Response {
    let mut error = json!({ "code": status.as_u16(), "message": code, "status": code });
    if let Some(error_code) = error_code {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": error_code,
        }]);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// `POST /v1/projects/{project}/messages:send`: FCM HTTP v1.
pub async fn fcm_send(
    State(state): State<Arc<AppState>>,
    Path((project, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let push = &state.push;
    if action != "messages:send" || project != FCM_PROJECT {
        return fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", None);
    }
    let authorised = bearer(&headers).is_some_and(|t| {
        push.access_tokens
            .lock()
            .expect("push lock")
            .iter()
            .any(|k| k == t)
    });
    if !authorised {
        return fcm_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let message = request["message"].clone();
    let token = message["token"].as_str().unwrap_or_default().to_string();
    let size = message["data"].to_string().len() + message["notification"].to_string().len();
    let (status, code, error_code) = if token.is_empty() {
        (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", None)
    } else if size > MAX_BODY_BYTES {
        (
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
        )
    } else {
        match push.fault(&token) {
            Some(Fault::Gone) => (StatusCode::NOT_FOUND, "NOT_FOUND", Some("UNREGISTERED")),
            Some(Fault::Throttle) => (
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                Some("QUOTA_EXCEEDED"),
            ),
            Some(Fault::Fail) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                Some("UNAVAILABLE"),
            ),
            None => (StatusCode::OK, "", None),
        }
    };
    push.record(Received {
        platform: "FCM",
        token,
        at: now_ms(),
        status: status.as_u16(),
        headers: HashMap::new(),
        payload: message,
    });
    if status.is_success() {
        Json(json!({ "name": format!("projects/{FCM_PROJECT}/messages/{}", uuid::Uuid::new_v4().simple()) }))
            .into_response()
    } else {
        fcm_error(status, code, error_code)
    }
}

/// `POST /local/webpush/{id}`: a push service's subscription endpoint.
pub async fn web_push(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let push = &state.push;
    let vapid = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("vapid "))
        .map(|v| {
            let part = |name: &str| {
                v.split(',')
                    .map(str::trim)
                    .find_map(|p| p.strip_prefix(name))
                    .unwrap_or_default()
                    .to_string()
            };
            (part("t="), part("k="))
        });
    let status = (|| {
        let Some((jwt, key)) = vapid else {
            return StatusCode::UNAUTHORIZED;
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[push.base_url.as_str()]);
        validation.required_spec_claims =
            ["exp".to_string(), "aud".to_string(), "sub".to_string()].into();
        if key != push.keys.vapid_public
            || jsonwebtoken::decode::<Value>(&jwt, &push.keys.vapid, &validation).is_err()
        {
            return StatusCode::FORBIDDEN;
        }
        if headers.get("ttl").is_none()
            || headers
                .get("content-encoding")
                .and_then(|v| v.to_str().ok())
                != Some("aes128gcm")
        {
            return StatusCode::BAD_REQUEST;
        }
        if body.len() > MAX_BODY_BYTES {
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        match push.fault(&id) {
            Some(Fault::Gone) => StatusCode::GONE,
            Some(Fault::Throttle) => StatusCode::TOO_MANY_REQUESTS,
            Some(Fault::Fail) => StatusCode::INTERNAL_SERVER_ERROR,
            None => StatusCode::CREATED,
        }
    })();
    push.record(Received {
        platform: "WEB_PUSH",
        token: id.clone(),
        at: now_ms(),
        status: status.as_u16(),
        headers: header_map(&headers, &["ttl", "urgency", "topic", "content-encoding"]),
        payload: json!({ "bodyBase64": STANDARD.encode(&body) }),
    });
    if status == StatusCode::CREATED {
        (
            status,
            [(
                "location",
                format!(
                    "{}/local/webpush/{id}/messages/{}",
                    push.base_url,
                    uuid::Uuid::new_v4().simple()
                ),
            )],
        )
            .into_response()
    } else {
        status.into_response()
    }
}

/// `GET /local/push`: every push received, oldest first.
pub async fn received(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "received": state.push.received() }))
}

/// `DELETE /local/push`: forgets what was received.
pub async fn forget(State(state): State<Arc<AppState>>) -> StatusCode {
    state.push.received.lock().expect("push lock").clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct FaultRequest {
    token: String,
    fault: Option<Fault>,
}

/// `POST /local/push/faults`: makes a token answer as gone, throttled or
/// failing (`fault: null` clears it).
pub async fn set_fault(
    State(state): State<Arc<AppState>>,
    Json(request): Json<FaultRequest>,
) -> StatusCode {
    let mut faults = state.push.faults.lock().expect("push lock");
    match request.fault {
        Some(fault) => faults.insert(request.token, fault),
        None => faults.remove(&request.token),
    };
    StatusCode::NO_CONTENT
}
