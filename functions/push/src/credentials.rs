//! The push credentials: one JSON secret, as each provider hands them out.
//!
//! ```json
//! {
//!   "apns":  { "teamId": "ABCDE12345", "keyId": "KEY1234567", "privateKey": "-----BEGIN PRIVATE KEY-----\n..." },
//!   "fcm":   { "project_id": "...", "client_email": "...", "private_key": "-----BEGIN PRIVATE KEY-----\n...", "token_uri": "https://oauth2.googleapis.com/token" },
//!   "vapid": { "privateKey": "-----BEGIN PRIVATE KEY-----\n...", "subject": "mailto:ops@example.com" }
//! }
//! ```
//!
//! `apns.privateKey` is the `.p8` file Apple gives for token auth; `fcm` is
//! the Firebase service account's JSON file as it is; `vapid.privateKey`
//! a P-256 key in PKCS#8 PEM. A platform left out is not sent to (its
//! pushes are skipped, not retried).

use serde::Deserialize;

use crate::PushError;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    pub apns: Option<ApnsCredentials>,
    pub fcm: Option<FcmCredentials>,
    pub vapid: Option<VapidCredentials>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApnsCredentials {
    pub team_id: String,
    pub key_id: String,
    pub private_key: String,
}

/// A Google service account file (its other fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct FcmCredentials {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default = "google_token_uri")]
    pub token_uri: String,
}

fn google_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VapidCredentials {
    pub private_key: String,
    /// A `mailto:` or `https:` contact for the push services.
    pub subject: String,
}

/// Where the credentials come from.
#[derive(Clone)]
pub enum CredentialsSource {
    /// A Secrets Manager secret (its name or ARN).
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
    /// Given as they are (tests).
    Given(Credentials),
}

impl CredentialsSource {
    /// The secret named by `PUSH_CREDENTIALS_SECRET`, through the SDK's
    /// usual configuration (`AWS_ENDPOINT_URL_SECRETS_MANAGER` included).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Self {
        CredentialsSource::SecretsManager {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id: std::env::var("PUSH_CREDENTIALS_SECRET").unwrap_or_default(),
        }
    }

    pub async fn load(&self) -> Result<Credentials, PushError> {
        match self {
            CredentialsSource::Given(creds) => Ok(creds.clone()),
            CredentialsSource::SecretsManager { client, secret_id } => {
                let out = client
                    .get_secret_value()
                    .secret_id(secret_id)
                    .send()
                    .await
                    .map_err(|e| Box::new(aws_sdk_secretsmanager::Error::from(e)))?;
                let text = out.secret_string().ok_or(PushError::EmptySecret)?;
                Ok(serde_json::from_str(text)?)
            }
        }
    }
}
