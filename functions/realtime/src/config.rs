//! Cold-start setup for the real-time functions: configuration is read and
//! clients are built once per execution environment.

use std::time::Duration;

use aws_config::BehaviorVersion;

use chat_auth::Verifier;
use chat_store::{DynamoStore, TableNames};

use crate::connection::ConnectionService;
use crate::connections::DynamoConnections;
use crate::fanout::{FanOut, DEFAULT_CONCURRENCY};
use crate::liveness::Liveness;
use crate::notifier::ApiGatewayNotifier;
use crate::relay::{
    LambdaRelay, RelaySettings, DEFAULT_RELAY_ABOVE, RELAY_ABOVE_ENV, RELAY_FUNCTION_ENV,
};
use crate::sweeper::{Sweeper, DEFAULT_INIT_TIMEOUT};

pub type ConnectionTracker =
    ConnectionService<DynamoConnections, ApiGatewayNotifier, DynamoStore, FanOutService>;
pub type FanOutService = FanOut<DynamoConnections, ApiGatewayNotifier>;
pub type SweeperService =
    Sweeper<DynamoConnections, ApiGatewayNotifier, DynamoStore, FanOutService>;

/// The management endpoint of the WebSocket API, e.g.
/// `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`.
pub const MANAGEMENT_ENDPOINT_ENV: &str = "APIGW_MANAGEMENT_ENDPOINT";
/// The token issuer, e.g. `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
pub const ISSUER_ENV: &str = "COGNITO_ISSUER";
/// The app client tokens must be issued to (`aud` / `client_id`).
pub const CLIENT_ID_ENV: &str = "COGNITO_CLIENT_ID";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{0} must be a number")]
    NotANumber(&'static str),
    #[error("the management API's client could not be built")]
    Notifier(#[from] crate::notifier::NotifyError),
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| ConfigError::NotANumber(name)),
        Err(_) => Ok(default),
    }
}

struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    notifier: ApiGatewayNotifier,
    tables: TableNames,
    liveness: Liveness,
}

impl Clients {
    fn connections(&self) -> DynamoConnections {
        DynamoConnections::new(self.dynamodb.clone(), self.tables.connections.clone())
            .with_liveness(self.liveness)
    }

    /// What presence changes are pushed with.
    fn publisher(&self) -> FanOutService {
        FanOut::new(
            self.connections(),
            self.notifier.clone(),
            self.tables.clone(),
            DEFAULT_CONCURRENCY,
        )
    }
}

/// `LIVENESS_PROBE_SECS` (default 30) and `LIVENESS_LIMIT_SECS` (default
/// 60): see [`Liveness`].
fn liveness() -> Result<Liveness, ConfigError> {
    let default = Liveness::default();
    Ok(Liveness {
        probe: Duration::from_secs(number("LIVENESS_PROBE_SECS", default.probe.as_secs())?),
        limit: Duration::from_secs(number("LIVENESS_LIMIT_SECS", default.limit.as_secs())?),
    })
}

async fn clients() -> Result<Clients, ConfigError> {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    Ok(Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        notifier: ApiGatewayNotifier::for_endpoint(&sdk, &required(MANAGEMENT_ENDPOINT_ENV)?)?,
        tables: TableNames::from_env(),
        liveness: liveness()?,
    })
}

/// The connection-tracking service, from `CONNECTIONS_TABLE`, the chat table
/// names, `APIGW_MANAGEMENT_ENDPOINT`, `COGNITO_ISSUER` and `COGNITO_CLIENT_ID`.
pub async fn connection_from_env() -> Result<ConnectionTracker, ConfigError> {
    let issuer = required(ISSUER_ENV)?;
    let client_id = required(CLIENT_ID_ENV)?;
    let c = clients().await?;
    Ok(ConnectionService::new(
        c.connections(),
        c.notifier.clone(),
        DynamoStore::new(c.dynamodb.clone(), c.tables.clone()),
        c.publisher(),
        Verifier::new(issuer, client_id),
    ))
}

/// The fan-out, from `CONNECTIONS_TABLE`, the chat table names,
/// `APIGW_MANAGEMENT_ENDPOINT` and `FANOUT_CONCURRENCY` (default 64).
pub async fn fan_out_from_env() -> Result<FanOutService, ConfigError> {
    let concurrency = number("FANOUT_CONCURRENCY", DEFAULT_CONCURRENCY as u64)? as usize;
    let c = clients().await?;
    Ok(FanOut::new(
        DynamoConnections::new(c.dynamodb, c.tables.connections.clone()),
        c.notifier,
        c.tables,
        concurrency,
    ))
}

/// The fan-out a writer pushes with: as [`fan_out_from_env`], plus, when
/// `RELAY_FUNCTION` names the fan-out function, hand-offs to it above
/// `RELAY_ABOVE` subscribers (default 250).
pub async fn writer_fan_out_from_env(
    sdk: &aws_config::SdkConfig,
) -> Result<FanOutService, ConfigError> {
    let tables = TableNames::from_env();
    let fan_out = FanOut::new(
        DynamoConnections::new(
            aws_sdk_dynamodb::Client::new(sdk),
            tables.connections.clone(),
        ),
        ApiGatewayNotifier::for_endpoint(sdk, &required(MANAGEMENT_ENDPOINT_ENV)?)?,
        tables,
        DEFAULT_CONCURRENCY,
    );
    let Ok(function) = required(RELAY_FUNCTION_ENV) else {
        return Ok(fan_out);
    };
    let above = number(RELAY_ABOVE_ENV, DEFAULT_RELAY_ABOVE as u64)? as usize;
    Ok(fan_out.with_relay(RelaySettings {
        relay: LambdaRelay::new(aws_sdk_lambda::Client::new(sdk), function),
        above,
    }))
}

/// The sweeper, from `CONNECTIONS_TABLE`, the chat table names,
/// `APIGW_MANAGEMENT_ENDPOINT`, `CONNECTION_INIT_TIMEOUT_SECS` (default 10)
/// and the liveness intervals.
pub async fn sweeper_from_env() -> Result<SweeperService, ConfigError> {
    let timeout = number(
        "CONNECTION_INIT_TIMEOUT_SECS",
        DEFAULT_INIT_TIMEOUT.as_secs(),
    )?;
    let c = clients().await?;
    Ok(Sweeper::new(
        c.connections(),
        c.notifier.clone(),
        DynamoStore::new(c.dynamodb.clone(), c.tables.clone()),
        c.publisher(),
        Duration::from_secs(timeout),
        c.liveness,
    ))
}
