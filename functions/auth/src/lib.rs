//! Verifies Cognito-style JWTs against a JWKS, for everything that takes a
//! token: the local AppSync stand-in and the WebSocket connection functions.
//! The same code checks real Cognito tokens in production and the local dev
//! identity provider's tokens; only the issuer URL differs.
//!
//! # Layout
//!
//! - [`Verifier`]: fetches and caches the issuer's JWKS, verifies RS256
//!   signatures, `iss`, `exp`, `nbf`, `iat`, `token_use`, and the app client
//!   (`aud` on id tokens, `client_id` on access tokens), and yields a
//!   [`VerifiedToken`]. The subject must be shaped as a user id
//!   (`chat_domain::limits::id`).
//! - [`AuthError`]: why a token was refused. Its messages are safe to show.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token was provided")]
    Missing,
    #[error("the token is malformed")]
    Malformed(#[source] jsonwebtoken::errors::Error),
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature or claims are invalid")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token is not an id or access token")]
    WrongUse,
    #[error("the token was issued to another app client")]
    WrongClient,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has no subject or username")]
    MissingClaims,
    #[error("the token's subject is not a user id")]
    BadSubject,
    #[error("could not fetch the issuer's signing keys")]
    Jwks(#[source] reqwest::Error),
}

/// The claims every accepted token has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub sub: String,
    /// `cognito:username` (id tokens) or `username` (access tokens).
    pub username: String,
    pub issuer: String,
    /// `exp`, in epoch seconds.
    pub expires_at: i64,
    /// Every claim, as AppSync passes them to resolvers.
    pub claims: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct StandardClaims {
    sub: Option<String>,
    #[serde(rename = "cognito:username")]
    cognito_username: Option<String>,
    username: Option<String>,
    token_use: Option<String>,
    exp: i64,
    /// The app client, on id tokens.
    aud: Option<Value>,
    /// The app client, on access tokens.
    client_id: Option<String>,
    iat: Option<u64>,
}

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// Keys are refetched at most this often when a token names an unknown `kid`,
/// so garbage tokens cannot turn the verifier into a JWKS request flood.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies tokens from one issuer, issued to one app client.
pub struct Verifier {
    issuer: String,
    client_id: String,
    jwks_url: String,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl Verifier {
    /// A verifier for tokens that `issuer` issued to the app client
    /// `client_id`; the issuer's keys are at `{issuer}/.well-known/jwks.json`
    /// (true of Cognito user pools and of the local identity provider).
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        let issuer = issuer.into().trim_end_matches('/').to_string();
        Verifier {
            client_id: client_id.into(),
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a default HTTP client builds"),
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
            }),
        }
    }

    /// Checks a token (a `Bearer ` prefix is accepted) and returns its identity.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let token = token.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into(),
            ));
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // The audience is checked below: Cognito puts the app client in
        // `aud` on id tokens but in `client_id` on access tokens.
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                _ => AuthError::Invalid(e),
            })?;
        let claims = data.claims;
        let standard: StandardClaims = serde_json::from_value(Value::Object(claims.clone()))
            .map_err(|_| AuthError::MissingClaims)?;
        let client = match standard.token_use.as_deref() {
            Some("id") => match &standard.aud {
                Some(Value::String(aud)) => Some(aud.as_str()),
                // One audience in a list is the same claim.
                Some(Value::Array(list)) if list.len() == 1 => list[0].as_str(),
                _ => None,
            },
            Some("access") => standard.client_id.as_deref(),
            _ => return Err(AuthError::WrongUse),
        };
        if client != Some(self.client_id.as_str()) {
            return Err(AuthError::WrongClient);
        }
        // Issued in the future (beyond the leeway): refused, as `nbf` is.
        if standard
            .iat
            .is_some_and(|iat| iat > jsonwebtoken::get_current_timestamp() + LEEWAY_SECS)
        {
            return Err(AuthError::NotYetValid);
        }
        let sub = standard
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::MissingClaims)?;
        // The subject becomes a key in the chat tables: one shaped like
        // anything but an id (`USERNAME#alice`, 3,000 characters) is refused
        // here, at the door, not found odd deep in a request.
        if chat_domain::limits::id("sub", &sub).is_err() {
            return Err(AuthError::BadSubject);
        }
        let username = standard
            .cognito_username
            .or(standard.username)
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::MissingClaims)?;
        Ok(VerifiedToken {
            sub,
            username,
            expires_at: standard.exp,
            issuer: self.issuer.clone(),
            claims,
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cache.read().await.keys.get(kid) {
            return Ok(key.clone());
        }
        let mut cache = self.cache.write().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        let stale = cache
            .fetched_at
            .is_none_or(|t| t.elapsed() >= MIN_REFRESH_INTERVAL);
        if stale {
            let set: JwkSet = self
                .http
                .get(&self.jwks_url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(AuthError::Jwks)?
                .json()
                .await
                .map_err(AuthError::Jwks)?;
            cache.keys = set
                .keys
                .iter()
                .filter_map(|jwk| {
                    let kid = jwk.common.key_id.clone()?;
                    DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
                })
                .collect();
            cache.fetched_at = Some(Instant::now());
        }
        cache.keys.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }
}
