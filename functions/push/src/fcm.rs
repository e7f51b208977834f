//! FCM HTTP v1, authorised with an OAuth 2 access token the service
//! account's key obtains (RFC 7523 JWT bearer grant), kept until a minute
//! before it expires.

use std::time::{Duration, Instant};

use chat_domain::push::{Device, Notification, SendOutcome};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::credentials::FcmCredentials;
use crate::{payload, refused, Endpoints, PushError};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

pub struct Fcm {
    project_id: String,
    client_email: String,
    key: EncodingKey,
    token_uri: String,
    endpoint: String,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
    #[serde(default = "an_hour")]
    expires_in: u64,
}

fn an_hour() -> u64 {
    3600
}

impl Fcm {
    pub fn new(
        creds: &FcmCredentials,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> Result<Self, PushError> {
        Ok(Fcm {
            project_id: creds.project_id.clone(),
            client_email: creds.client_email.clone(),
            key: EncodingKey::from_rsa_pem(creds.private_key.as_bytes())?,
            token_uri: creds.token_uri.clone(),
            endpoint: endpoints.fcm.trim_end_matches('/').to_string(),
            http,
            token: Mutex::new(None),
        })
    }

    async fn access_token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| format!("FCM assertion not signed: {e}"))?;
        let response = self
            .http
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("FCM token endpoint unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("FCM token endpoint answered {}", response.status()));
        }
        let token: AccessToken = response
            .json()
            .await
            .map_err(|e| format!("FCM token endpoint's answer unreadable: {e}"))?;
        let until = Instant::now() + Duration::from_secs(token.expires_in.saturating_sub(60));
        *cached = Some((token.access_token.clone(), until));
        Ok(token.access_token)
    }

    pub async fn send(&self, device: &Device, notification: &Notification) -> SendOutcome {
        let token = match self.access_token().await {
            Ok(token) => token,
            Err(why) => return SendOutcome::Failed(why),
        };
        let mut message = payload::fcm(notification);
        message["token"] = json!(device.token);
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.endpoint, self.project_id
        );
        let request = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "message": message }));
        match request.send().await {
            Ok(response) if response.status().is_success() => SendOutcome::Sent,
            Ok(response) => {
                let status = response.status();
                if status == reqwest::StatusCode::UNAUTHORIZED {
                    *self.token.lock().await = None;
                }
                let error: Value = response.json().await.unwrap_or_default();
                let unregistered = error["error"]["details"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["errorCode"] == "UNREGISTERED");
                let gone = status == reqwest::StatusCode::NOT_FOUND || unregistered;
                let reason = error["error"]["status"].as_str().unwrap_or_default();
                refused("FCM", status, gone, reason)
            }
            Err(err) => SendOutcome::Failed(format!("FCM unreachable: {err}")),
        }
    }
}
