//! `chat-bench`: the benchmarks behind `make bench` and `make bench-quick`.
//!
//! It starts the project's release gateway and the Apollo Server peer as
//! separate processes on loopback, drives both with the same clients and
//! documents, and writes JSON plus a markdown report.
//!
//! Layout:
//! - `procs`: the processes under test (gateway, peer);
//! - `cpu`: CPU time of processes and threads, from `/proc`;
//! - `client`: GraphQL over HTTP, tokens, counters, graphql-transport-ws subscribers;
//! - `setup`: users and conversations through the project's API;
//! - `fanout`: C conversations × S subscribers, against the peer;
//! - `sustained`: the same rooms under open-loop load, against the peer;
//! - `posts`: the CPU of one post (SDK, notifier) and one frame write, alone;
//! - `api`: every query and mutation at concurrency 1 and 32, with counted costs;
//! - `iam`: `createMessage` with the functions' IAM policies enforced and not;
//! - `profile`: where a project delivery's time goes, from the gateway's log;
//! - `growth`: history pages against length, getUser against conversations;
//! - `coldstart`: a cold-every-time Lambda Invoke endpoint and Runtime API;
//! - `report`: BENCHMARKS.md.

mod api;
mod client;
mod coldstart;
mod cpu;
mod docs;
mod fanout;
mod growth;
mod iam;
mod posts;
mod procs;
mod profile;
mod push;
mod report;
mod setup;
mod stats;
mod sustained;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Parser, Debug)]
#[command(about = "Benchmarks the local chat stack against an Apollo Server peer")]
struct Args {
    /// The smaller run (`make bench-quick`).
    #[arg(long)]
    quick: bool,
    /// Where the JSON results go.
    #[arg(long, default_value = "bench/results.json")]
    json: PathBuf,
    /// Where the markdown report goes.
    #[arg(long, default_value = "BENCHMARKS.md")]
    markdown: PathBuf,
    /// Runs one part only, for working on it: prints its figures and writes
    /// them to `target/bench/<part>.json`, leaving the report alone.
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// Leaves section 3 (cold start and footprint) out, for a machine that
    /// has not built every function's release binary (`make bench-build`)
    /// and arm64 artifact (`make build`); the report says it was left out.
    #[arg(long)]
    skip_cold_start: bool,
    /// With `--only fan-out`: only the cases with this many subscribers per
    /// conversation, and not the largest case again without the hand-off
    /// (e.g. to profile one case).
    #[arg(long, requires = "only")]
    subscribers: Option<usize>,
}

/// The parts `--only` can pick.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    FanOut,
    Sustained,
    /// `createMessage` at concurrency 32 as the stored messages grow.
    Writes,
    /// `createMessage` and delivery with offline members' devices, and
    /// the pushes' latency.
    Push,
    /// The CPU of one post and one frame write, alone.
    Posts,
    /// `createMessage` with the functions' IAM policies enforced and not.
    Iam,
}

/// The sizes of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub fan_out: Vec<fanout::Case>,
    pub sustained: Vec<sustained::Case>,
    pub api_ops_at_1: usize,
    pub api_ops_at_32: usize,
    pub history_lengths: Vec<usize>,
    pub conversation_counts: Vec<usize>,
    pub cold_rounds: usize,
    pub write_rounds: usize,
    pub writes_per_round: usize,
    /// Messages of each kind in the push comparison.
    pub push_rounds: usize,
    /// Posts by each client in the one-post comparison (and ten times as
    /// many frames).
    pub posts: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let case = |conversations, subscribers, messages| fanout::Case {
            conversations,
            subscribers,
            messages,
            devices: 1,
        };
        let load = |conversations, subscribers, messages| sustained::Case {
            conversations,
            subscribers,
            messages,
            writers: 32,
        };
        if quick {
            Plan {
                quick,
                fan_out: vec![
                    case(1, 1, 40),
                    case(1, 10, 20),
                    case(1, 100, 10),
                    case(1, 1000, 3),
                    // MAX_MEMBERS members, each on one socket.
                    case(1, 5000, 2),
                    case(100, 10, 2),
                ],
                sustained: vec![load(50, 10, 2_000), load(1, 1000, 100)],
                api_ops_at_1: 40,
                api_ops_at_32: 320,
                history_lengths: vec![100, 1000],
                conversation_counts: vec![1, 10, 100],
                cold_rounds: 2,
                write_rounds: 3,
                writes_per_round: 500,
                push_rounds: 20,
                posts: 5_000,
            }
        } else {
            Plan {
                quick,
                fan_out: vec![
                    case(1, 1, 300),
                    case(1, 10, 200),
                    case(1, 100, 100),
                    case(1, 1000, 30),
                    // MAX_MEMBERS members, each on one socket.
                    case(1, 5000, 10),
                    case(100, 10, 10),
                ],
                sustained: vec![load(50, 10, 10_000), load(1, 1000, 500)],
                api_ops_at_1: 300,
                api_ops_at_32: 3200,
                history_lengths: vec![100, 1000, 10000],
                conversation_counts: vec![1, 10, 100, 1000],
                cold_rounds: 10,
                // The last round starts with 10,000 messages stored.
                write_rounds: 6,
                writes_per_round: 2000,
                push_rounds: 40,
                posts: 20_000,
            }
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Results {
    pub machine: report::Machine,
    pub plan: Plan,
    pub fan_out: Vec<fanout::Outcome>,
    /// The largest fan-out case again, on a gateway whose writers never hand
    /// off (`--relay-above 0`): what the hand-off changes.
    pub without_hand_off: Vec<fanout::Outcome>,
    pub sustained: Vec<sustained::Outcome>,
    /// Pushes to offline devices: what they cost `createMessage`.
    pub push: Option<push::Outcome>,
    /// The CPU of one post, by each client, and of one frame write.
    pub posts: Option<posts::Outcome>,
    pub api: Vec<api::Outcome>,
    /// `createMessage` on a gateway enforcing IAM and on one that does not.
    pub iam: Vec<iam::Comparison>,
    pub history: Vec<growth::HistoryPoint>,
    pub get_user: Vec<growth::GetUserPoint>,
    pub writes: Vec<growth::WritesPoint>,
    pub cold_start: Vec<coldstart::FunctionFootprint>,
    pub cold_samples: Vec<coldstart::Sample>,
    /// Section 3 was left out (`--skip-cold-start`).
    pub cold_start_skipped: bool,
    pub duration_s: f64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(err) = run(args).await {
        eprintln!("chat-bench: {err}");
        std::process::exit(1);
    }
}

fn say(what: &str, started: Instant) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

async fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let root = std::env::current_dir()?;
    if !root.join("bench/peer/server.mjs").exists() {
        return Err("run chat-bench from the repository root (make bench)".into());
    }
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let mut plan = Plan::new(args.quick);
    if let Some(subscribers) = args.subscribers {
        plan.fan_out.retain(|case| case.subscribers == subscribers);
        if plan.fan_out.is_empty() {
            return Err(format!("no fan-out case has {subscribers} subscribers").into());
        }
    }
    let http = client::Http::new();

    // One post and one frame, alone, on a machine nothing else loads yet.
    let mut posts = None;
    if args.only.is_none_or(|only| only == Part::Posts) {
        let outcome = posts::run(plan.posts).await?;
        say(
            &format!(
                "one post: SDK {} µs CPU ({} posts/s), notifier {} µs ({} posts/s), {}x; one frame write {} µs",
                outcome.sdk.cpu_us,
                outcome.sdk.per_sec,
                outcome.notifier.cpu_us,
                outcome.notifier.per_sec,
                outcome.notifier_to_sdk,
                outcome.frame.cpu_us
            ),
            started,
        );
        if args.only == Some(Part::Posts) {
            let path = work.join("posts.json");
            std::fs::write(&path, serde_json::to_string_pretty(&outcome)?)?;
            say(&format!("wrote {}", path.display()), started);
            return Ok(());
        }
        posts = Some(outcome);
    }

    if args.only == Some(Part::Iam) {
        let iam = iam::run(&root, &work, &http, plan.api_ops_at_1, plan.api_ops_at_32).await?;
        report_iam(&iam, started);
        let path = work.join("iam.json");
        std::fs::write(&path, serde_json::to_string_pretty(&iam)?)?;
        say(&format!("wrote {}", path.display()), started);
        return Ok(());
    }

    if args.only == Some(Part::Writes) {
        let writes = writes_on_fresh_stacks(&root, &work, &http, &plan).await?;
        let path = work.join("writes.json");
        std::fs::write(&path, serde_json::to_string_pretty(&writes)?)?;
        say(&format!("wrote {}", path.display()), started);
        return Ok(());
    }

    // The project (functions in-process, as `make dev` runs them) and the peer.
    let Stacks {
        gateway,
        peer,
        project,
        apollo,
        world,
    } = Stacks::start(&root, &work, "fan-out", &http).await?;
    say("gateway and peer are up", started);

    let pool_size = plan
        .fan_out
        .iter()
        .map(|c| c.conversations * c.members())
        .max()
        .unwrap_or(1);
    let pool = world.users("member", pool_size).await?;
    say(&format!("{pool_size} users made"), started);

    let wants = |part| args.only.is_none_or(|only| only == part);
    let mut fan_out = Vec::new();
    for &case in plan.fan_out.iter().filter(|_| wants(Part::FanOut)) {
        let rooms = fanout::Rooms::make(&world, case, &pool).await?;
        for target in [&project, &apollo] {
            let project = target.name == "project";
            let counters = project.then_some(gateway.base_url.as_str());
            let log = project.then_some(gateway.log.as_path());
            let outcome = fanout::run(&http, target, &rooms, case, counters, log).await?;
            say(
                &format!(
                    "fan-out C={} S={} M={} on {}: p50 {} ms, lost {}, duplicated {}",
                    case.conversations,
                    case.subscribers,
                    case.messages,
                    target.name,
                    outcome.latency.p50_ms,
                    outcome.lost,
                    outcome.duplicated
                ),
                started,
            );
            fan_out.push(outcome);
        }
    }

    // The largest case without the hand-off, on its own gateway and data.
    let mut without_hand_off = Vec::new();
    if let Some(&case) = plan
        .fan_out
        .iter()
        .filter(|_| wants(Part::FanOut) && args.subscribers.is_none())
        .max_by_key(|c| c.subscribers)
    {
        let gateway = procs::Gateway::start(
            &root,
            &work,
            "gateway-no-hand-off",
            &["--relay-above".into(), "0".into()],
        )
        .await?;
        let world = setup::World::new(http.clone(), &gateway.base_url);
        let pool = world
            .users("member", case.conversations * case.members())
            .await?;
        let rooms = fanout::Rooms::make(&world, case, &pool).await?;
        let target = gateway.target("project, no hand-off");
        let outcome =
            fanout::run(&http, &target, &rooms, case, Some(&gateway.base_url), None).await?;
        say(
            &format!(
                "fan-out C={} S={} without the hand-off: p50 {} ms, createMessage p50 {} ms",
                case.conversations,
                case.subscribers,
                outcome.latency.p50_ms,
                outcome.mutation.p50_ms
            ),
            started,
        );
        without_hand_off.push(outcome);
    }

    // Sustained, open-loop load on the same stacks and users.
    let mut sustained = Vec::new();
    for &case in plan.sustained.iter().filter(|_| wants(Part::Sustained)) {
        let rooms = fanout::Rooms::make(&world, case.fan_out(), &pool).await?;
        for target in [&project, &apollo] {
            let outcome = sustained::run(&http, target, &rooms, case).await?;
            say(
                &format!(
                    "sustained C={} S={} M={} on {}: {} posts/s, p50 {} ms, p99 {} ms, lost {}, duplicated {}, out of order {}",
                    case.conversations,
                    case.subscribers,
                    case.messages,
                    target.name,
                    outcome.posts_per_sec,
                    outcome.latency.p50_ms,
                    outcome.latency.p99_ms,
                    outcome.lost,
                    outcome.duplicated,
                    outcome.out_of_order
                ),
                started,
            );
            sustained.push(outcome);
        }
    }

    // Pushes, on a gateway of their own.
    let mut push = None;
    if wants(Part::Push) {
        let gateway = procs::Gateway::start(&root, &work, "gateway-push", &[]).await?;
        let target = gateway.target("project");
        let outcome = push::run(&http, &gateway.base_url, &target, plan.push_rounds).await?;
        say(
            &format!(
                "push: createMessage p50 {} ms with devices, {} ms without ({}x); delivery p50 {} / {} ms ({}x); push p50 {} ms, {} of {} recorded",
                outcome.with_devices.mutation.p50_ms,
                outcome.without_devices.mutation.p50_ms,
                outcome.mutation_ratio,
                outcome.with_devices.delivery.p50_ms,
                outcome.without_devices.delivery.p50_ms,
                outcome.delivery_ratio,
                outcome.push_latency.p50_ms,
                outcome.pushes_recorded,
                outcome.pushes_expected
            ),
            started,
        );
        push = Some(outcome);
    }

    drop(peer);
    drop(gateway);

    if let Some(only) = args.only {
        let name = clap::ValueEnum::to_possible_value(&only).ok_or("a part has a name")?;
        let path = work.join(format!("{}.json", name.get_name()));
        let figures = serde_json::json!({
            "fan_out": fan_out,
            "without_hand_off": without_hand_off,
            "sustained": sustained,
            "push": push,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
        say(&format!("wrote {}", path.display()), started);
        return Ok(());
    }

    // API and growth on a fresh database, so that nothing the fan-out wrote
    // weighs on them.
    let Stacks {
        gateway,
        peer,
        apollo,
        world,
        ..
    } = Stacks::start(&root, &work, "api", &http).await?;
    let others = world.users("other", plan.api_ops_at_32.min(900)).await?;
    let fixture = api::Fixture::make(&world, others).await?;
    let mut api_results =
        api::run_all(&world, &fixture, plan.api_ops_at_1, plan.api_ops_at_32).await?;
    for (concurrency, n) in [(1, plan.api_ops_at_1), (32, plan.api_ops_at_32)] {
        api_results.push(
            api::create_messages(
                &world.http,
                &apollo,
                &fixture.writer,
                &fixture.writer_room,
                concurrency,
                n,
                "apollo",
            )
            .await?,
        );
    }
    say("API latency measured", started);
    let iam = iam::run(&root, &work, &http, plan.api_ops_at_1, plan.api_ops_at_32).await?;
    report_iam(&iam, started);

    let history = growth::history(&world, &plan.history_lengths).await?;
    let get_user = growth::get_user(&world, &plan.conversation_counts).await?;
    drop(peer);
    drop(gateway);
    let writes = writes_on_fresh_stacks(&root, &work, &http, &plan).await?;
    say("growth curves measured", started);

    // Cold starts: the same gateway, every invocation in a fresh process.
    let (cold_start, cold_samples) = if args.skip_cold_start {
        (Vec::new(), Vec::new())
    } else {
        let functions = function_names(&root)?;
        let cold = coldstart::ColdLambda::start(root.join("target/release")).await?;
        let gateway = procs::Gateway::start(
            &root,
            &work,
            "cold",
            &["--lambda-endpoint".into(), cold.endpoint.clone()],
        )
        .await?;
        cold.set_env(vec![
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "local".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB".into(),
                gateway.dynamodb_endpoint.clone(),
            ),
            (
                "APIGW_MANAGEMENT_ENDPOINT".into(),
                format!("http://{}", gateway.ws_addr),
            ),
            ("COGNITO_ISSUER".into(), gateway.base_url.clone()),
            ("COGNITO_CLIENT_ID".into(), "local-dev-client".into()),
            // The secret comes from the Secrets Manager stand-in, as on AWS: a
            // cold start pays for its GetSecretValue.
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                gateway.base_url.clone(),
            ),
            (
                "PAGE_TOKEN_SECRET_ARN".into(),
                "chat/page-token-secret".into(),
            ),
        ]);
        let cold_world = setup::World::new(http.clone(), &gateway.base_url);
        let cold_target = gateway.target("project");
        for round in 0..plan.cold_rounds {
            coldstart::session(&cold_world, &cold_target, round).await?;
        }
        drop(gateway);
        let cold_samples = cold.samples();
        let cold_start = coldstart::summarize(
            &cold_samples,
            &root.join("target/release"),
            &root.join("target/lambda"),
            &functions,
        );
        say("cold starts measured", started);
        (cold_start, cold_samples)
    };

    let results = Results {
        machine: report::Machine::read(&root),
        plan,
        fan_out,
        without_hand_off,
        sustained,
        push,
        posts,
        api: api_results,
        iam,
        history,
        get_user,
        writes,
        cold_start,
        cold_samples,
        cold_start_skipped: args.skip_cold_start,
        duration_s: stats::round(started.elapsed().as_secs_f64()),
    };
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&results)?)?;
    std::fs::write(&args.markdown, report::markdown(&results))?;
    say(
        &format!(
            "wrote {} and {}",
            args.json.display(),
            args.markdown.display()
        ),
        started,
    );
    Ok(())
}

fn report_iam(iam: &[iam::Comparison], started: Instant) {
    for c in iam {
        say(
            &format!(
                "IAM at c={}: p50 {} ms enforced, {} ms not ({}x); CPU {} µs vs {} µs per createMessage ({}x)",
                c.concurrency,
                c.enforced.latency.p50_ms,
                c.open.latency.p50_ms,
                c.p50_ratio,
                c.enforced_cpu_us,
                c.open_cpu_us,
                c.cpu_ratio
            ),
            started,
        );
    }
}

/// A fresh project gateway (its own database) and a peer on its DynamoDB.
struct Stacks {
    gateway: procs::Gateway,
    peer: procs::Peer,
    project: client::Target,
    apollo: client::Target,
    world: setup::World,
}

impl Stacks {
    async fn start(
        root: &std::path::Path,
        work: &std::path::Path,
        name: &str,
        http: &client::Http,
    ) -> Result<Stacks> {
        let gateway = procs::Gateway::start(root, work, &format!("gateway-{name}"), &[]).await?;
        let peer = procs::Peer::start(root, work, &gateway).await?;
        let project = gateway.target("project");
        let apollo = peer.target();
        let world = setup::World::new(http.clone(), &gateway.base_url);
        Ok(Stacks {
            gateway,
            peer,
            project,
            apollo,
            world,
        })
    }
}

/// `createMessage` as the stored messages grow, on a project and a peer of
/// their own, so that nothing written before weighs on them.
async fn writes_on_fresh_stacks(
    root: &std::path::Path,
    work: &std::path::Path,
    http: &client::Http,
    plan: &Plan,
) -> Result<Vec<growth::WritesPoint>> {
    let stacks = Stacks::start(root, work, "writes", http).await?;
    growth::writes(
        &stacks.world,
        &stacks.project,
        &stacks.apollo,
        plan.write_rounds,
        plan.writes_per_round,
    )
    .await
}

/// Every function crate (a directory under `functions/` with a `main.rs`).
fn function_names(root: &std::path::Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("functions"))? {
        let path = entry?.path();
        if path.join("src/main.rs").exists() {
            names.push(
                path.file_name()
                    .ok_or("a function dir")?
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    names.sort();
    Ok(names)
}
