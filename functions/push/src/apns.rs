//! APNs over HTTP/2 with token auth.
//!
//! The provider token is an ES256 JWT (`kid`: the key id, `iss`: the team
//! id, `iat`), made at most every 50 minutes: Apple refuses one older than
//! an hour, and throttles one made more often than every 20 minutes.

use std::time::{Duration, Instant};

use chat_domain::push::{Device, Notification, Platform, SendOutcome};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::credentials::ApnsCredentials;
use crate::{payload, refused, Endpoints, PushError};

const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);
/// How long APNs keeps trying to deliver a push to an offline device.
const EXPIRY_SECS: i64 = 24 * 60 * 60;

pub struct Apns {
    team_id: String,
    key_id: String,
    key: EncodingKey,
    production: String,
    sandbox: String,
    /// HTTP/2 only: over TLS by ALPN, in the clear (a local stand-in) by
    /// prior knowledge.
    http: reqwest::Client,
    http_cleartext: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    reason: String,
}

impl Apns {
    pub fn new(creds: &ApnsCredentials, endpoints: &Endpoints) -> Result<Self, PushError> {
        let timeout = Duration::from_secs(10);
        Ok(Apns {
            team_id: creds.team_id.clone(),
            key_id: creds.key_id.clone(),
            key: EncodingKey::from_ec_pem(creds.private_key.as_bytes())?,
            production: endpoints.apns.trim_end_matches('/').to_string(),
            sandbox: endpoints.apns_sandbox.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().timeout(timeout).build()?,
            http_cleartext: reqwest::Client::builder()
                .http2_prior_knowledge()
                .timeout(timeout)
                .build()?,
            token: Mutex::new(None),
        })
    }

    async fn provider_token(&self) -> Result<String, jsonwebtoken::errors::Error> {
        let mut cached = self.token.lock().await;
        if let Some((token, made)) = cached.as_ref() {
            if made.elapsed() < TOKEN_LIFETIME {
                return Ok(token.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims =
            serde_json::json!({ "iss": self.team_id, "iat": chrono::Utc::now().timestamp() });
        let token = jsonwebtoken::encode(&header, &claims, &self.key)?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    pub async fn send(&self, device: &Device, notification: &Notification) -> SendOutcome {
        let token = match self.provider_token().await {
            Ok(token) => token,
            Err(err) => return SendOutcome::Failed(format!("APNs token not signed: {err}")),
        };
        let base = match device.platform {
            Platform::ApnsSandbox => &self.sandbox,
            _ => &self.production,
        };
        let http = if base.starts_with("http://") {
            &self.http_cleartext
        } else {
            &self.http
        };
        let (body, alert) = payload::apns(notification);
        let request = http
            .post(format!("{base}/3/device/{}", device.token))
            .version(reqwest::Version::HTTP_2)
            .bearer_auth(token)
            .header("apns-topic", device.app_id.as_deref().unwrap_or_default())
            .header("apns-push-type", if alert { "alert" } else { "background" })
            .header("apns-priority", if alert { "10" } else { "5" })
            .header("apns-collapse-id", notification.collapse_id())
            .header(
                "apns-expiration",
                (chrono::Utc::now().timestamp() + EXPIRY_SECS).to_string(),
            )
            .json(&body);
        match request.send().await {
            Ok(response) if response.status().is_success() => SendOutcome::Sent,
            Ok(response) => {
                let status = response.status();
                let reason = response
                    .json::<Refusal>()
                    .await
                    .map(|r| r.reason)
                    .unwrap_or_default();
                if reason == "ExpiredProviderToken" {
                    *self.token.lock().await = None;
                }
                let gone = status == reqwest::StatusCode::GONE;
                refused("APNs", status, gone, &reason)
            }
            Err(err) => SendOutcome::Failed(format!("APNs unreachable: {err}")),
        }
    }
}
