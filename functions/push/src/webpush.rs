//! Web Push: the message encrypted for the subscription (RFC 8291), sent
//! to its endpoint with a VAPID signature (RFC 8292) and a `Topic`, under
//! which a push service still holding an undelivered message replaces it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chat_domain::push::{Device, Notification, NotificationKind, SendOutcome};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::DecodePrivateKey;

use crate::credentials::VapidCredentials;
use crate::{payload, refused, Endpoints, PushError};

/// How long a push service keeps an undelivered message (`TTL`).
const TTL_SECS: u64 = 24 * 60 * 60;
/// A VAPID signature's lifetime (RFC 8292 allows at most 24 h).
const VAPID_SECS: i64 = 12 * 60 * 60;

pub struct WebPush {
    key: EncodingKey,
    /// The VAPID public key, uncompressed and base64url (`k=`).
    public: String,
    subject: String,
    origins: Vec<String>,
    http: reqwest::Client,
}

impl WebPush {
    pub fn new(
        creds: &VapidCredentials,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> Result<Self, PushError> {
        let secret = p256::SecretKey::from_pkcs8_pem(&creds.private_key)?;
        let public = secret.public_key().to_sec1_bytes();
        let mut origins: Vec<String> = chat_domain::limits::WEB_PUSH_ORIGINS
            .iter()
            .map(|o| o.to_string())
            .collect();
        origins.extend(endpoints.web_push_origins.iter().cloned());
        Ok(WebPush {
            key: EncodingKey::from_ec_pem(creds.private_key.as_bytes())?,
            public: URL_SAFE_NO_PAD.encode(public),
            subject: creds.subject.clone(),
            origins,
            http,
        })
    }

    /// The VAPID public key (base64url): the `applicationServerKey` a
    /// browser subscribes with.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    pub async fn send(&self, device: &Device, notification: &Notification) -> SendOutcome {
        // Checked at registration too; checked again here, since the server
        // is about to call a URL a client gave.
        if !chat_domain::limits::web_push_endpoint_allowed(&device.token, &self.origins) {
            return SendOutcome::Gone;
        }
        let keys = device
            .p256dh
            .as_deref()
            .and_then(|k| URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')).ok())
            .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok());
        let auth = device
            .auth
            .as_deref()
            .and_then(|a| URL_SAFE_NO_PAD.decode(a.trim_end_matches('=')).ok())
            .filter(|a| a.len() == 16);
        let (Some(public), Some(auth)) = (keys, auth) else {
            return SendOutcome::Gone;
        };
        let auth = web_push_native::Auth::clone_from_slice(&auth);
        let body = match web_push_native::encrypt(payload::web_push(notification), &public, &auth) {
            Ok(body) => body,
            Err(err) => return SendOutcome::Failed(format!("Web Push not encrypted: {err}")),
        };
        let origin = origin_of(&device.token);
        let claims = serde_json::json!({
            "aud": origin,
            "exp": chrono::Utc::now().timestamp() + VAPID_SECS,
            "sub": self.subject,
        });
        let jwt = match jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key) {
            Ok(jwt) => jwt,
            Err(err) => return SendOutcome::Failed(format!("VAPID not signed: {err}")),
        };
        let urgency = match notification.kind {
            NotificationKind::Message => "high",
            NotificationKind::Withdraw => "normal",
        };
        let request = self
            .http
            .post(&device.token)
            .header("TTL", TTL_SECS.to_string())
            .header("Urgency", urgency)
            .header("Topic", notification.collapse_id())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", format!("vapid t={jwt}, k={}", self.public))
            .body(body);
        match request.send().await {
            Ok(response) if response.status().is_success() => SendOutcome::Sent,
            Ok(response) => {
                let status = response.status();
                let gone = matches!(status.as_u16(), 404 | 410);
                refused("Web Push", status, gone, "")
            }
            Err(err) => SendOutcome::Failed(format!("Web Push service unreachable: {err}")),
        }
    }
}

/// `scheme://host[:port]` of a URL (the VAPID audience).
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    format!("{scheme}://{authority}")
}
