//! `chat-gateway`: the whole chat stack on one machine. See `make dev`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use chat_gateway::{Backend, Config, Limits, RealtimeConfig, Runner};

/// Every request here runs the SDK's pipeline and an HTTP server on both
/// sides of a local hop, which allocate heavily from many threads at once.
/// Under sustained load glibc's malloc took a third of the gateway's time;
/// with mimalloc it posts half as much again to a 1,000-member conversation
/// (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the chat API locally: AppSync, Cognito and DynamoDB stand-ins in front
/// of the real resolver functions.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Where GraphQL, the token endpoint and the JWKS are served.
    #[arg(long, env = "CHAT_HTTP_ADDR", default_value = "127.0.0.1:4000")]
    http_addr: SocketAddr,
    /// Where the WebSocket API (graphql-transport-ws) and `@connections` are served.
    #[arg(long, env = "CHAT_WS_ADDR", default_value = "127.0.0.1:4001")]
    ws_addr: SocketAddr,
    /// Where the S3 API (the attachments' bucket, path-style) is served.
    #[arg(long, env = "CHAT_S3_ADDR", default_value = "127.0.0.1:4003")]
    s3_addr: SocketAddr,
    /// How phones and emulators on the network reach this machine's HTTP
    /// listener, e.g. http://192.168.1.20:4000 (listen on every interface
    /// too: --http-addr 0.0.0.0:4000 --ws-addr 0.0.0.0:4001 --s3-addr
    /// 0.0.0.0:4003). /config.json, the token issuer and presigned links
    /// name this host; the WebSocket and S3 APIs keep their own ports.
    #[arg(long, env = "CHAT_PUBLIC_URL")]
    public_url: Option<String>,
    /// How often the stream mappings poll an idle DynamoDB stream, in milliseconds.
    #[arg(long, default_value_t = 50)]
    stream_poll_ms: u64,
    /// How long a stream mapping retries a failing batch before it goes to
    /// `<data dir>/failed-records/` (default: the template's
    /// MaximumRecordAgeInSeconds, 3600).
    #[arg(long)]
    stream_max_record_age_secs: Option<u64>,
    /// Seconds a WebSocket client has to send connection_init.
    #[arg(long, default_value_t = 10)]
    init_timeout_secs: u64,
    /// API Gateway's idle timeout, in seconds.
    #[arg(long, default_value_t = 600)]
    idle_timeout_secs: u64,
    /// API Gateway's maximum connection duration, in seconds.
    #[arg(long, default_value_t = 7200)]
    max_connection_secs: u64,
    /// Use this DynamoDB endpoint (e.g. DynamoDB Local) instead of the embedded engine.
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb_endpoint: Option<String>,
    /// Keeps data, the dev signing key and the page-token secret here.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = ".local")]
    data_dir: PathBuf,
    /// Keep the embedded database in memory only (nothing survives a restart).
    #[arg(long)]
    in_memory: bool,
    /// Where the embedded DynamoDB engine is published (default: a free
    /// port): with IAM enforced, the front that checks each call listens
    /// there, and the engine on a port of its own.
    #[arg(
        long,
        env = "CHAT_EMBEDDED_DYNAMODB_ADDR",
        default_value = "127.0.0.1:0"
    )]
    embedded_dynamodb_addr: SocketAddr,
    /// Invoke every function through this Lambda Invoke API endpoint (e.g.
    /// `cargo lambda watch` on http://127.0.0.1:9000) instead of in-process.
    #[arg(long, env = "CHAT_LAMBDA_ENDPOINT")]
    lambda_endpoint: Option<String>,
    /// Subscribers a writer posts to itself before it hands the rest to the
    /// fan-out function in batches of as many (0: never hand off).
    #[arg(long, default_value_t = chat_realtime::relay::DEFAULT_RELAY_ABOVE)]
    relay_above: usize,
    /// The web client's directory, served at `/` (`none`: no web client).
    #[arg(long, env = "CHAT_WEB_DIR", default_value = "web")]
    web_dir: PathBuf,
    /// The word filter on messages: a file of entries, one per line (see
    /// docs/SAFETY.md, "Safety: the word filter"); `none`: no filter. Default:
    /// `infra/content-filter.txt` when there is one.
    #[arg(long, env = "CHAT_CONTENT_FILTER")]
    content_filter: Option<PathBuf>,
    /// What a filtered word does: `refuse` the message or `mask` the word.
    #[arg(long, env = "CONTENT_FILTER_ACTION", default_value = "refuse")]
    content_filter_action: chat_domain::filter::FilterAction,
    /// Messages per user per 10 seconds (0: no limit).
    #[arg(long, env = "MESSAGES_PER_10_SECONDS", default_value_t = chat_domain::rates::RateLimits::default().message_burst)]
    messages_per_10_seconds: u32,
    /// Messages per user per minute (0: no limit).
    #[arg(long, env = "MESSAGES_PER_MINUTE", default_value_t = chat_domain::rates::RateLimits::default().message_sustained)]
    messages_per_minute: u32,
    /// Conversations created per user per hour (0: no limit).
    #[arg(long, env = "CONVERSATIONS_PER_HOUR", default_value_t = chat_domain::rates::RateLimits::default().conversations_per_hour)]
    conversations_per_hour: u32,
    /// Users added to conversations per user per hour (0: no limit).
    #[arg(long, env = "INVITES_PER_HOUR", default_value_t = chat_domain::rates::RateLimits::default().invites_per_hour)]
    invites_per_hour: u32,
    /// Reports per user per hour (0: no limit).
    #[arg(long, env = "REPORTS_PER_HOUR", default_value_t = chat_domain::rates::RateLimits::default().reports_per_hour)]
    reports_per_hour: u32,
    /// Prefix for every table name.
    #[arg(long, env = "CHAT_TABLE_PREFIX", default_value = "")]
    table_prefix: String,
    /// Do not enforce the template's IAM policies on the functions'
    /// DynamoDB calls (they are enforced by default; see README, "What the
    /// local stack enforces").
    #[arg(long, env = "CHAT_NO_IAM")]
    no_iam: bool,
    /// Record which grants of the functions' policies their calls use, in
    /// this directory (see `--iam-unused`).
    #[arg(long, env = "CHAT_IAM_USAGE")]
    iam_usage: Option<PathBuf>,
    /// Write each function's key pair, as the environment file its Lambda
    /// role would give it (`<crate>.env`: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`), to this directory, and keep the keys' seed
    /// there: functions run apart (`make watch`) sign with them.
    #[arg(long, env = "CHAT_FUNCTION_CREDENTIALS")]
    function_credentials: Option<PathBuf>,
    /// Print, per function, the grants of its policy that no call
    /// recorded in this directory used, and exit.
    #[arg(long)]
    iam_unused: Option<PathBuf>,
}

/// The stack's word filter list, when `make dev` runs from the project.
const DEFAULT_FILTER: &str = "infra/content-filter.txt";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours for a terminal only: a log redirected to a file, or one a
        // NO_COLOR environment asks for, is plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let args = Args::parse();
    if let Some(dir) = &args.iam_unused {
        return print_unused_grants(dir);
    }
    let backend = match (&args.dynamodb_endpoint, args.in_memory) {
        (Some(endpoint), _) => Backend::External {
            endpoint: endpoint.clone(),
        },
        (None, true) => Backend::Embedded { path: None },
        (None, false) => Backend::Embedded {
            path: Some(args.data_dir.join("chat.sqlite")),
        },
    };
    let storage = match &backend {
        Backend::External { endpoint } => format!("{endpoint} (external)"),
        Backend::Embedded { path: Some(p) } => format!("embedded, {}", p.display()),
        Backend::Embedded { path: None } => "embedded, in memory".to_string(),
    };
    let realtime = RealtimeConfig {
        limits: Limits {
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connection: Duration::from_secs(args.max_connection_secs),
            ..Limits::default()
        },
        stream_poll: Duration::from_millis(args.stream_poll_ms),
        max_record_age: args.stream_max_record_age_secs.map(Duration::from_secs),
        init_timeout: Duration::from_secs(args.init_timeout_secs),
        relay_above: (args.relay_above > 0).then_some(args.relay_above),
        ..RealtimeConfig::default()
    };
    let filter_file = match args.content_filter {
        Some(path) if path == std::path::Path::new("none") => None,
        Some(path) => Some(path),
        None => Some(PathBuf::from(DEFAULT_FILTER)).filter(|p| p.exists()),
    };
    let content_filter = match &filter_file {
        None => chat_domain::filter::ContentFilter::none(),
        Some(path) => {
            let list = std::fs::read_to_string(path)
                .map_err(|e| format!("the word filter {}: {e}", path.display()))?;
            chat_domain::filter::ContentFilter::parse(&list, args.content_filter_action)?
        }
    };
    let filter_line = match &filter_file {
        None => "none".to_string(),
        Some(path) => format!(
            "{} entries from {} ({})",
            content_filter.len(),
            path.display(),
            content_filter.action()
        ),
    };
    let running = chat_gateway::start(Config {
        http_addr: args.http_addr,
        ws_addr: args.ws_addr,
        s3_addr: args.s3_addr,
        public_url: args.public_url,
        link_lifetime: (
            chat_domain::limits::DOWNLOAD_URL_SECS,
            chat_domain::limits::DOWNLOAD_URL_WINDOW_SECS,
        ),
        backend,
        embedded_dynamodb_addr: args.embedded_dynamodb_addr,
        runner: match args.lambda_endpoint {
            Some(endpoint) => Runner::Remote { endpoint },
            None => Runner::InProcess,
        },
        table_prefix: args.table_prefix,
        enforce_iam: !args.no_iam,
        policies: None,
        iam_usage: args.iam_usage,
        function_credentials_dir: args.function_credentials,
        data_dir: Some(args.data_dir),
        realtime,
        web_dir: (args.web_dir != std::path::Path::new("none")).then_some(args.web_dir),
        content_filter: std::sync::Arc::new(content_filter),
        rate_limits: chat_domain::rates::RateLimits {
            message_burst: args.messages_per_10_seconds,
            message_sustained: args.messages_per_minute,
            conversations_per_hour: args.conversations_per_hour,
            invites_per_hour: args.invites_per_hour,
            reports_per_hour: args.reports_per_hour,
            ..Default::default()
        },
    })
    .await?;
    println!("chat stack ready (Ctrl-C stops it)");
    println!("  web app   open {}/", running.base_url);
    println!("  GraphQL   POST {}", running.graphql_url());
    println!(
        "  explorer  open {}  (GraphiQL, signed in as any user)",
        running.graphql_url()
    );
    println!(
        "  tokens    POST {}/auth/token  {{\"username\":\"alice\"}}",
        running.base_url
    );
    println!(
        "  JWKS      GET  {}/.well-known/jwks.json",
        running.base_url
    );
    println!("  stats     GET  {}/local/stats", running.base_url);
    println!(
        "  failed    GET  {}/local/failed-records  (replay: make replay)",
        running.base_url
    );
    println!(
        "  WebSocket {}  (subprotocol graphql-transport-ws)",
        running.ws_url
    );
    println!(
        "  @connections {}/@connections/{{connectionId}}",
        running.ws_url.replacen("ws://", "http://", 1)
    );
    println!("  DynamoDB  {} ({storage})", running.dynamodb_endpoint);
    println!(
        "  S3        {}/{}  (path-style; objects in {})",
        running.s3_url,
        chat_gateway::s3::BUCKET,
        running.s3_root.display()
    );
    println!("  filter    {filter_line}");

    if running.stale_connections > 0 {
        println!(
            "  disconnected {} WebSocket connection(s) left by an earlier run",
            running.stale_connections
        );
    }

    wait_for_stop().await;
    println!("stopping: delivering what the streams hold, then closing connections...");
    running.shutdown().await;
    println!("stopped");
    Ok(())
}

async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `--iam-unused`: each function's grants no recorded call used.
fn print_unused_grants(dir: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let template = chat_gateway::wiring::template_json(chat_gateway::wiring::TEMPLATE)?;
    let policies = chat_gateway::iam::template::function_policies(
        &template,
        &chat_gateway::iam::template::Locals::new(""),
    )?;
    let unused = chat_gateway::iam::usage::unused(dir, &policies)?;
    println!(
        "Grants no recorded call used ({} of {} functions have some):",
        unused.len(),
        policies.len()
    );
    for (function, grants) in &unused {
        println!("  {function}");
        for grant in grants {
            println!("    {grant}");
        }
    }
    Ok(())
}
