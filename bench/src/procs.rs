//! The processes under test: the project's gateway (release build) and the
//! Apollo Server peer, each on free loopback ports, logging to the work dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Target;
use crate::Result;

/// A child process, killed when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn spawn(command: &mut Command, log: &Path) -> Result<Proc> {
        let out = std::fs::File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        Ok(Proc { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `url` answers an HTTP request (any status).
async fn wait_until_serving(url: &str, what: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{what} did not start serving {url} within 60 s").into())
}

/// The project's local stack: `target/release/chat-gateway`.
pub struct Gateway {
    pub base_url: String,
    /// `127.0.0.1:port` of the WebSocket API and `@connections`.
    pub ws_addr: String,
    pub ws_url: String,
    pub dynamodb_endpoint: String,
    /// Its log file.
    pub log: PathBuf,
    /// Stops the gateway when dropped.
    _proc: Proc,
}

/// A rate cap no benchmark reaches.
const UNREACHED: &str = "1000000";

impl Gateway {
    /// Starts the gateway with a fresh data dir under `work`; `extra` adds
    /// flags. It does not enforce the functions' IAM policies: on AWS that
    /// is AWS's work, not the functions', so the comparisons leave the local
    /// stand-in's cost out (the `iam` part measures it).
    pub async fn start(root: &Path, work: &Path, name: &str, extra: &[String]) -> Result<Gateway> {
        Self::spawn(root, work, name, extra, false).await
    }

    /// [`Gateway::start`] enforcing the functions' IAM policies, as `make
    /// dev` runs it.
    pub async fn start_enforcing(root: &Path, work: &Path, name: &str) -> Result<Gateway> {
        Self::spawn(root, work, name, &[], true).await
    }

    async fn spawn(
        root: &Path,
        work: &Path,
        name: &str,
        extra: &[String],
        enforce_iam: bool,
    ) -> Result<Gateway> {
        let (http, ws, dynamodb) = (free_port()?, free_port()?, free_port()?);
        let data_dir: PathBuf = work.join(name);
        let _ = std::fs::remove_dir_all(&data_dir);
        // `CHAT_BENCH_GATEWAY` runs another build, e.g. one with symbols for a profiler.
        let binary = std::env::var_os("CHAT_BENCH_GATEWAY")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/chat-gateway"));
        let mut command = Command::new(binary);
        command
            .args(["--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--ws-addr", &format!("127.0.0.1:{ws}")])
            .args(["--embedded-dynamodb-addr", &format!("127.0.0.1:{dynamodb}")])
            .args(["--s3-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            // Each user's rate counts are made, as a deployed stack makes
            // them, with caps no benchmark's users reach.
            .args([
                "--messages-per-10-seconds",
                UNREACHED,
                "--messages-per-minute",
                UNREACHED,
            ])
            .args([
                "--conversations-per-hour",
                UNREACHED,
                "--invites-per-hour",
                UNREACHED,
            ])
            .args(if enforce_iam {
                &[][..]
            } else {
                &["--no-iam"][..]
            })
            .args(extra)
            // Warnings, and one timing line per push (see `profile`);
            // `CHAT_BENCH_GATEWAY_LOG` sets another filter.
            .env(
                "RUST_LOG",
                std::env::var("CHAT_BENCH_GATEWAY_LOG")
                    .unwrap_or_else(|_| crate::profile::GATEWAY_LOG.into()),
            );
        let log = work.join(format!("{name}.log"));
        let proc = Proc::spawn(&mut command, &log)?;
        let base_url = format!("http://127.0.0.1:{http}");
        wait_until_serving(&format!("{base_url}/.well-known/jwks.json"), "chat-gateway").await?;
        Ok(Gateway {
            base_url,
            ws_addr: format!("127.0.0.1:{ws}"),
            ws_url: format!("ws://127.0.0.1:{ws}/"),
            dynamodb_endpoint: format!("http://127.0.0.1:{dynamodb}"),
            log,
            _proc: proc,
        })
    }
}

impl Gateway {
    /// This gateway as a target for the scenarios, under `name`.
    pub fn target(&self, name: &'static str) -> Target {
        Target {
            name,
            graphql_url: format!("{}/graphql", self.base_url),
            ws_url: self.ws_url.clone(),
            servers: vec![self.pid()],
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self._proc.pid()
    }
}

/// The peer: `node bench/peer/server.mjs`, against the gateway's DynamoDB
/// endpoint and identity provider.
pub struct Peer {
    pub graphql_url: String,
    pub ws_url: String,
    /// The peer's process, then the gateway's, whose DynamoDB it writes to.
    servers: Vec<u32>,
    /// Stops the peer when dropped.
    _proc: Proc,
}

impl Peer {
    pub async fn start(root: &Path, work: &Path, gateway: &Gateway) -> Result<Peer> {
        let port = free_port()?;
        let mut command = Command::new("node");
        command
            .arg(root.join("bench/peer/server.mjs"))
            .env("PEER_PORT", port.to_string())
            .env("ISSUER", &gateway.base_url)
            .env("DYNAMODB_ENDPOINT", &gateway.dynamodb_endpoint)
            .env("NODE_ENV", "production");
        let proc = Proc::spawn(&mut command, &work.join(format!("peer-{port}.log")))?;
        let graphql_url = format!("http://127.0.0.1:{port}/graphql");
        wait_until_serving(&graphql_url, "the Apollo Server peer").await?;
        Ok(Peer {
            ws_url: format!("ws://127.0.0.1:{port}/graphql"),
            graphql_url,
            servers: vec![proc.pid(), gateway.pid()],
            _proc: proc,
        })
    }
}

impl Peer {
    pub fn target(&self) -> Target {
        Target {
            name: "apollo",
            graphql_url: self.graphql_url.clone(),
            ws_url: self.ws_url.clone(),
            servers: self.servers.clone(),
        }
    }
}
