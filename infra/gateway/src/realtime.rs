//! The real-time side of the local stack: the real-time functions and what
//! triggers them on AWS, emulated here: the WebSocket API (routes to
//! `ws-connection`), the stream event source mappings (to `fan-out`, and
//! the Messages stream to `notifier`), and the schedule (to
//! `connection-sweeper`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use chat_auth::Verifier;
use chat_realtime::sweeper::Sweeper;
use chat_realtime::{ApiGatewayNotifier, ConnectionService, DynamoConnections, FanOut};
use chat_store::{DynamoStore, RequestCounter, TableNames};

use crate::dynamo::WriteSignal;
use crate::failures::FailureLog;
use crate::resolvers::{in_process, Function, Invocations, Runner};
use crate::wiring::{Wiring, WiringError};
use crate::{dynamo, shutdown_signal, streams, ws, RealtimeConfig};

pub struct Setup<'a> {
    pub wiring: &'a Wiring,
    pub runner: &'a Runner,
    pub config: &'a RealtimeConfig,
    pub dynamodb_endpoint: &'a str,
    /// The functions' keys and policies (`iam`), when IAM is enforced.
    pub guard: Option<Arc<crate::iam::Guard>>,
    pub tables: &'a TableNames,
    /// The token issuer (the local identity provider's URL).
    pub issuer: &'a str,
    pub ws_listener: TcpListener,
    pub ws_addr: SocketAddr,
    /// Where the mappings keep their checkpoints (`streams/`).
    pub data_dir: Option<&'a PathBuf>,
    pub failures: Arc<FailureLog>,
    pub writes: &'a WriteSignal,
    /// The client of the WebSocket API's `@connections` endpoint.
    pub notifier: ApiGatewayNotifier,
    /// What the notifier function sends pushes with.
    pub pusher: chat_push::PushService,
    /// The attachments' bucket: pushes show a processed photo's thumbnail.
    pub media: &'a chat_media::S3Media,
    /// Stops the stream mappings (they drain first) and the schedule.
    pub stop_streams: &'a watch::Receiver<bool>,
    /// Stops the WebSocket server, after its connections are closed.
    pub stop_ws: &'a watch::Receiver<bool>,
}

pub struct Parts {
    pub ws: Arc<ws::WsState>,
    pub connections: DynamoConnections,
    pub requests: RequestCounter,
    pub invocations: Invocations,
    /// The functions the streams trigger, for replaying failed batches.
    pub stream_functions: std::collections::BTreeMap<String, Arc<Function>>,
    /// Connections a killed gateway left behind, disconnected at start.
    pub stale_connections: usize,
    /// The stream mappings and the schedule.
    pub stream_tasks: Vec<JoinHandle<()>>,
    pub ws_task: JoinHandle<()>,
}

/// The one function each real-time trigger may invoke: the gateway runs these
/// crates in-process, so the template must wire each trigger to its crate.
const CONNECTION_FN: &str = "ws-connection";
pub(crate) use crate::resolvers::FAN_OUT_FN;
const SWEEPER_FN: &str = "connection-sweeper";
pub(crate) const NOTIFIER_FN: &str = "notifier";

pub async fn start(setup: Setup<'_>) -> Result<Parts, WiringError> {
    let Setup {
        wiring,
        runner,
        config,
        dynamodb_endpoint,
        guard,
        tables,
        issuer,
        ws_listener,
        ws_addr,
        data_dir,
        failures,
        writes,
        notifier,
        pusher,
        media,
        stop_streams,
        stop_ws,
    } = setup;
    // The routes, streams and schedule come from the template.
    if let Some((route, name)) = wiring
        .routes
        .iter()
        .find(|(_, name)| *name != CONNECTION_FN)
    {
        return Err(WiringError::new(format!(
            "route {route} goes to {name}; the gateway serves routes with {CONNECTION_FN}"
        )));
    }
    let routes: Vec<String> = wiring
        .routes
        .keys()
        .filter(|r| !r.starts_with('$'))
        .cloned()
        .collect();
    if let Some(m) = wiring
        .mappings
        .iter()
        .find(|m| m.function != FAN_OUT_FN && m.function != NOTIFIER_FN)
    {
        return Err(WiringError::new(format!(
            "{} reads streams; the gateway runs only {FAN_OUT_FN} and {NOTIFIER_FN} on them",
            m.function
        )));
    }
    let scheduled = wiring.scheduled.iter().any(|name| name == SWEEPER_FN);
    let requests = RequestCounter::default();
    let invocations = Invocations::default();
    let client = dynamo::functions_client(
        dynamodb_endpoint,
        requests.clone(),
        writes.clone(),
        guard.as_ref().map(|g| g.credentials()).as_ref(),
    )
    .await;
    let connections = DynamoConnections::new(client.clone(), tables.connections.clone())
        .with_liveness(config.liveness);
    // What the connection routes and the sweeper push presence with.
    let presence_publisher = || {
        FanOut::new(
            connections.clone(),
            notifier.clone(),
            tables.clone(),
            config.fan_out_concurrency,
        )
    };

    let connection_service = Arc::new(ConnectionService::new(
        connections.clone(),
        notifier.clone(),
        DynamoStore::new(client.clone(), tables.clone()),
        presence_publisher(),
        Verifier::new(issuer, crate::idp::CLIENT_ID),
    ));
    let fan_out = Arc::new(FanOut::new(
        connections.clone(),
        notifier.clone(),
        tables.clone(),
        config.fan_out_concurrency,
    ));
    let sweeper = Arc::new(Sweeper::new(
        connections.clone(),
        notifier.clone(),
        DynamoStore::new(client.clone(), tables.clone()),
        presence_publisher(),
        config.init_timeout,
        config.liveness,
    ));
    let connection_fn = in_process!(
        invocations,
        "ws-connection",
        connection_service,
        ws_connection
    );
    let fan_out_fn = Arc::new(in_process!(invocations, "fan-out", fan_out, fan_out));
    let notifier_service = Arc::new(
        chat_domain::notify::Notifier::new(
            DynamoStore::new(client.clone(), tables.clone()),
            pusher,
        )
        .with_media(Arc::new(media.clone())),
    );
    let notifier_fn = Arc::new(in_process!(
        invocations,
        "notifier",
        notifier_service,
        notifier
    ));
    let sweeper_fn: Function = in_process!(
        invocations,
        "connection-sweeper",
        sweeper,
        connection_sweeper
    );
    let (connection_fn, fan_out_fn, notifier_fn, sweeper_fn) = match runner {
        Runner::InProcess => (connection_fn, fan_out_fn, notifier_fn, sweeper_fn),
        Runner::Remote { endpoint } => {
            let http = reqwest::Client::new();
            let remote = |name| Function::remote(name, endpoint, http.clone(), &invocations);
            (
                remote(CONNECTION_FN),
                Arc::new(remote(FAN_OUT_FN)),
                Arc::new(remote(NOTIFIER_FN)),
                remote(SWEEPER_FN),
            )
        }
    };
    let stream_functions: std::collections::BTreeMap<String, Arc<Function>> = [
        (FAN_OUT_FN.to_string(), fan_out_fn.clone()),
        (NOTIFIER_FN.to_string(), notifier_fn.clone()),
    ]
    .into();

    let ws_state = Arc::new(
        ws::WsState::new(
            connection_fn,
            routes,
            config.limits.clone(),
            ws_addr.to_string(),
            String::new(),
        )
        .with_guard(guard),
    );
    let app = Router::new()
        .route("/", get(ws::upgrade))
        .fallback(ws::management)
        .with_state(ws_state.clone());
    let stop = shutdown_signal(stop_ws);
    let ws_task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(err) = axum::serve(ws_listener, service)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %chat_domain::Chain(&err), "WebSocket server failed");
        }
    });

    // A gateway that was killed never delivered its connections'
    // `$disconnect`s; API Gateway would have, so they are delivered now.
    let stale_connections = match connections.all_connection_ids().await {
        Ok(ids) => ws_state.disconnect_stale(ids).await,
        Err(err) => {
            tracing::warn!(error = %chat_domain::Chain(&err), "could not list leftover connections");
            0
        }
    };
    if stale_connections > 0 {
        tracing::info!(
            connections = stale_connections,
            "disconnected the connections a stopped gateway left behind"
        );
    }

    let streams_client = dynamo::streams_client(dynamodb_endpoint).await;
    let mut stream_tasks = Vec::new();
    for declared in &wiring.mappings {
        let logical = &declared.table;
        let spec = chat_store::tables::ALL
            .iter()
            .find(|s| s.logical == logical.as_str())
            .ok_or_else(|| WiringError::new(format!("stream of unknown table {logical}")))?;
        let max_record_age = config.max_record_age.unwrap_or_else(|| {
            Duration::from_secs(
                declared
                    .max_record_age_secs
                    .unwrap_or(streams::DEFAULT_MAX_RECORD_AGE_SECS),
            )
        });
        let mapping = streams::Mapping {
            table: tables.name_of(spec).to_string(),
            streams: streams_client.clone(),
            dynamodb: client.clone(),
            function: stream_functions[&declared.function].clone(),
            poll_interval: config.stream_poll,
            max_record_age,
            max_retry_attempts: declared.max_retry_attempts,
            checkpoints: data_dir.map(|d| d.join("streams")),
            failures: failures.clone(),
            filter: declared.filter.clone(),
            writes: writes.clone(),
        };
        stream_tasks.push(tokio::spawn(mapping.run(stop_streams.clone())));
    }

    let every = config.sweep_interval;
    let mut stop = stop_streams.clone();
    if scheduled {
        let schedule_ws = ws_state.clone();
        stream_tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // Only connections open now can be pending: with none, the
            // sweep has nothing to find, and an idle stack stays idle.
            if schedule_ws.open_connections() == 0 {
                continue;
            }
            // What an EventBridge schedule sends.
            let event = serde_json::json!({ "source": "aws.events", "detail-type": "Scheduled Event", "detail": {} });
            if let Err(d) = sweeper_fn.invoke(event).await {
                tracing::warn!(error_type = %d.error_type, message = %d.error_message, "sweeper failed");
            }
        }
    }));
    }

    Ok(Parts {
        ws: ws_state,
        connections,
        requests,
        invocations,
        stream_functions,
        stale_connections,
        stream_tasks,
        ws_task,
    })
}
