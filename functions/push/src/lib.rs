//! Sending push notifications: the [`Pusher`](chat_domain::Pusher) port
//! over each platform's own protocol, with no vendor SDK in between.
//!
//! - **APNs**: HTTP/2 `POST /3/device/<token>` with token auth (an ES256
//!   JWT from the team's `.p8` key), `apns-collapse-id` and `thread-id` per
//!   conversation. 410 `Unregistered` means the token is gone.
//! - **FCM HTTP v1**: `POST /v1/projects/<project>/messages:send` with an
//!   OAuth 2 access token from the service account (a JWT bearer grant).
//!   404, or `UNREGISTERED` in the error's details, means gone.
//! - **Web Push** (RFC 8030): the payload encrypted for the subscription
//!   (RFC 8291, `aes128gcm`, by `web-push-native`), VAPID-signed (RFC 8292),
//!   `Topic` per conversation. 404 or 410 means gone.
//!
//! Credentials are one JSON secret in Secrets Manager, read on the first
//! push of an execution environment and kept ([`credentials`]). Every
//! endpoint can be pointed elsewhere, which is how the local stack's
//! stand-ins receive the real requests.
//!
//! # Layout
//!
//! - [`credentials`]: the secret's shape, and loading it.
//! - [`payload`]: each platform's payload, within its size limit.
//! - [`apns`], [`fcm`], [`webpush`]: one sender per platform.
//! - [`PushService`]: the port, choosing the sender by the device's platform.

use std::sync::Arc;

use chat_domain::push::{Device, Notification, Platform, SendOutcome};
use tokio::sync::OnceCell;

pub mod apns;
pub mod credentials;
pub mod fcm;
pub mod payload;
pub mod webpush;

pub use credentials::{Credentials, CredentialsSource};

/// Where each platform's service is.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub apns: String,
    pub apns_sandbox: String,
    pub fcm: String,
    /// Origins a Web Push endpoint may be on, beyond the public push
    /// services (`chat_domain::limits::WEB_PUSH_ORIGINS`).
    pub web_push_origins: Vec<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            apns: "https://api.push.apple.com".into(),
            apns_sandbox: "https://api.sandbox.push.apple.com".into(),
            fcm: "https://fcm.googleapis.com".into(),
            web_push_origins: Vec::new(),
        }
    }
}

impl Endpoints {
    /// The defaults, overridden by `APNS_ENDPOINT`, `APNS_SANDBOX_ENDPOINT`,
    /// `FCM_ENDPOINT` and `WEB_PUSH_ORIGINS` (comma-separated).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let defaults = Endpoints::default();
        Endpoints {
            apns: var("APNS_ENDPOINT").unwrap_or(defaults.apns),
            apns_sandbox: var("APNS_SANDBOX_ENDPOINT").unwrap_or(defaults.apns_sandbox),
            fcm: var("FCM_ENDPOINT").unwrap_or(defaults.fcm),
            web_push_origins: var("WEB_PUSH_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// Why the senders could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the push credentials could not be read from Secrets Manager")]
    Secret(#[from] Box<aws_sdk_secretsmanager::Error>),
    #[error("the push credentials secret has no string value")]
    EmptySecret,
    #[error("the push credentials are not valid JSON of the expected shape")]
    Shape(#[from] serde_json::Error),
    #[error("a push credential's key is not a valid PEM key")]
    Key(#[from] jsonwebtoken::errors::Error),
    #[error("the VAPID key is not a P-256 private key")]
    Vapid(#[from] p256::pkcs8::Error),
    #[error("an HTTP client could not be built")]
    Client(#[from] reqwest::Error),
}

/// The senders, built from the credentials.
struct Senders {
    apns: Option<apns::Apns>,
    fcm: Option<fcm::Fcm>,
    webpush: Option<webpush::WebPush>,
}

/// The [`Pusher`](chat_domain::Pusher) over APNs, FCM and Web Push.
#[derive(Clone)]
pub struct PushService {
    inner: Arc<Inner>,
}

struct Inner {
    source: CredentialsSource,
    endpoints: Endpoints,
    http: reqwest::Client,
    senders: OnceCell<Senders>,
}

impl PushService {
    pub fn new(source: CredentialsSource, endpoints: Endpoints) -> Result<Self, PushError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(PushService {
            inner: Arc::new(Inner {
                source,
                endpoints,
                http,
                senders: OnceCell::new(),
            }),
        })
    }

    async fn senders(&self) -> Result<&Senders, PushError> {
        let inner = &self.inner;
        inner
            .senders
            .get_or_try_init(|| async {
                let creds = inner.source.load().await?;
                Ok::<_, PushError>(Senders {
                    apns: creds
                        .apns
                        .as_ref()
                        .map(|c| apns::Apns::new(c, &inner.endpoints))
                        .transpose()?,
                    fcm: creds
                        .fcm
                        .as_ref()
                        .map(|c| fcm::Fcm::new(c, &inner.endpoints, inner.http.clone()))
                        .transpose()?,
                    webpush: creds
                        .vapid
                        .as_ref()
                        .map(|c| webpush::WebPush::new(c, &inner.endpoints, inner.http.clone()))
                        .transpose()?,
                })
            })
            .await
    }
}

impl chat_domain::Pusher for PushService {
    async fn send(&self, device: &Device, notification: &Notification) -> SendOutcome {
        let senders = match self.senders().await {
            Ok(senders) => senders,
            Err(err) => {
                tracing::error!(error = %chat_domain::Chain(&err), "push credentials unavailable");
                return SendOutcome::Failed("push credentials unavailable".into());
            }
        };
        let unconfigured =
            |what: &str| SendOutcome::Skipped(format!("{what} has no credentials in this stack"));
        match device.platform {
            Platform::Apns | Platform::ApnsSandbox => match &senders.apns {
                Some(apns) => apns.send(device, notification).await,
                None => unconfigured("APNs"),
            },
            Platform::Fcm => match &senders.fcm {
                Some(fcm) => fcm.send(device, notification).await,
                None => unconfigured("FCM"),
            },
            Platform::WebPush => match &senders.webpush {
                Some(webpush) => webpush.send(device, notification).await,
                None => unconfigured("Web Push"),
            },
        }
    }
}

/// A response's outcome when it is not a success, by the service's rules
/// (`gone`: whether it says the token is gone).
pub(crate) fn refused(
    platform: &str,
    status: reqwest::StatusCode,
    gone: bool,
    reason: &str,
) -> SendOutcome {
    if gone {
        SendOutcome::Gone
    } else {
        SendOutcome::Failed(format!("{platform} answered {status}: {reason}"))
    }
}
