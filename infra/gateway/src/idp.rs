//! The dev identity provider: stands in for Cognito. It signs RS256 tokens
//! with Cognito's claims and serves its JWKS, so the same verifier that checks
//! Cognito tokens in production checks these.
//!
//! The same username always gets the same `sub` (a UUIDv5 of the username),
//! and the signing key is kept in the data directory, so tokens and user ids
//! survive a restart.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::AppState;

/// Token lifetime, as Cognito's default for id tokens.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;
/// The app client id put in `aud`.
pub const CLIENT_ID: &str = "local-dev-client";
/// Namespace of the username → `sub` mapping.
const SUB_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2b7e_93d4_4a5b_8e0f_5c1d_2a3b_4c5d);

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("could not generate or read the signing key")]
    Key(#[from] crate::dev_keys::KeyError),
    #[error("could not load the signing key")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

pub struct DevIdentityProvider {
    issuer: String,
    kid: String,
    encoding: EncodingKey,
    jwks: Value,
    public_pem: String,
}

/// `n` hex characters of randomness.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    crate::dev_keys::fill_random(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> u64 {
    u64::try_from(chat_realtime::clock::now_secs()).unwrap_or_default()
}

impl DevIdentityProvider {
    /// Loads the signing key from the data directory, or makes one.
    pub fn load_or_create(
        data_dir: Option<&PathBuf>,
        issuer: &str,
    ) -> Result<Self, crate::GatewayError> {
        let pem = crate::persisted(data_dir, "dev-idp-key.pem", || {
            Ok(crate::dev_keys::rsa_pem().map_err(IdpError::from)?)
        })?;
        Ok(Self::from_pem(&pem, issuer)?)
    }

    fn from_pem(pem: &str, issuer: &str) -> Result<Self, IdpError> {
        let key = crate::dev_keys::parse_pem(pem)?;
        let (n, e) = crate::dev_keys::public_parts(&key);
        let public_pem = crate::dev_keys::public_pem(&key)?;
        let kid: String = Sha256::digest(&n)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let jwks = json!({
            "keys": [{
                "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(&e),
            }]
        });
        Ok(DevIdentityProvider {
            issuer: issuer.to_string(),
            kid,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes())?,
            jwks,
            public_pem,
        })
    }

    /// The `sub` this provider gives `username`.
    pub fn sub_for(username: &str) -> String {
        uuid::Uuid::new_v5(&SUB_NAMESPACE, username.as_bytes()).to_string()
    }

    /// Cognito's id-token claims for `username`.
    pub fn claims_for(&self, username: &str) -> serde_json::Map<String, Value> {
        self.claims_lasting(username, TOKEN_LIFETIME_SECS)
    }

    /// The same claims, expiring `lifetime` seconds from now.
    fn claims_lasting(&self, username: &str, lifetime: u64) -> serde_json::Map<String, Value> {
        let now = now_secs();
        let claims = json!({
            "sub": Self::sub_for(username),
            "cognito:username": username,
            "token_use": "id",
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "auth_time": now,
            "iat": now,
            "exp": now + lifetime,
        });
        match claims {
            Value::Object(map) => map,
            _ => unreachable!("json! of an object is an object"),
        }
    }

    /// Signs any claims with this provider's key (tests use it to make expired
    /// or otherwise odd tokens).
    pub fn sign(&self, claims: &serde_json::Map<String, Value>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("RS256 signing with a valid key succeeds")
    }

    /// A fresh token for `username`.
    pub fn token_for(&self, username: &str) -> String {
        self.token_lasting(username, TOKEN_LIFETIME_SECS)
    }

    /// A fresh token for `username` that expires `lifetime` seconds from now.
    pub fn token_lasting(&self, username: &str, lifetime: u64) -> String {
        self.sign(&self.claims_lasting(username, lifetime))
    }

    /// A fresh token for `username` in Cognito `groups`.
    pub fn token_in_groups(&self, username: &str, lifetime: u64, groups: &[String]) -> String {
        let mut claims = self.claims_lasting(username, lifetime);
        if !groups.is_empty() {
            claims.insert("cognito:groups".into(), json!(groups));
        }
        self.sign(&claims)
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The verifying key as PEM: what anyone can make of the JWKS (tests
    /// use it to try an HS256 token keyed with it).
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    username: String,
    /// A shorter lifetime (seconds), to try what happens at expiry.
    expires_in: Option<u64>,
    /// Cognito groups the token says its user is in (`moderators`), as
    /// `cognito:groups`.
    #[serde(default)]
    groups: Vec<String>,
}

/// `POST /auth/token {"username": "alice"}` → `{"token": "<JWT>", ...}`.
pub async fn token_endpoint(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Response {
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "send a JSON body {\"username\": \"...\"}"})),
            )
                .into_response()
        }
    };
    if let Err(err) = chat_domain::limits::username(&request.username) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": err.client_message()})),
        )
            .into_response();
    }
    let lifetime = request.expires_in.unwrap_or(TOKEN_LIFETIME_SECS);
    if !(1..=TOKEN_LIFETIME_SECS).contains(&lifetime) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("expiresIn is 1 to {TOKEN_LIFETIME_SECS} seconds")})),
        )
            .into_response();
    }
    // Cognito's group names: 1 to 128 of letters, digits and `_ + = , . @ -`.
    let group_name = |g: &String| {
        (1..=128).contains(&g.len())
            && g.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    };
    if request.groups.len() > 10 || !request.groups.iter().all(group_name) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "groups: at most 10 Cognito group names"})),
        )
            .into_response();
    }
    Json(json!({
        "token": state.idp.token_in_groups(&request.username, lifetime, &request.groups),
        "sub": DevIdentityProvider::sub_for(&request.username),
        "username": request.username,
        "expiresIn": lifetime,
    }))
    .into_response()
}

/// `GET /.well-known/jwks.json`
pub async fn jwks_endpoint(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.idp.jwks().clone())
}
