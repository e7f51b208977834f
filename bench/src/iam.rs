//! What enforcing the functions' IAM policies costs a request locally: the
//! same `createMessage` load on two gateways, one enforcing (the default)
//! and one started with `--no-iam`, in alternating rounds so that drift in
//! the machine's load falls on both alike. Enforcement adds, per DynamoDB
//! call, a SigV4 verification, the policy's evaluation and one more
//! loopback hop (the front before the engine).

use serde::Serialize;

use crate::api::{self, Outcome};
use crate::client::{Http, Target};
use crate::cpu::{micros_per, Meter};
use crate::procs::Gateway;
use crate::setup::World;
use crate::stats::{ratio, Summary};
use crate::Result;

/// One concurrency's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub concurrency: usize,
    pub enforced: Outcome,
    pub open: Outcome,
    /// Gateway CPU per `createMessage`, µs.
    pub enforced_cpu_us: f64,
    pub open_cpu_us: f64,
    /// Enforced ÷ not enforced.
    pub p50_ratio: f64,
    pub p99_ratio: f64,
    pub throughput_ratio: f64,
    pub cpu_ratio: f64,
}

/// Rounds per target at each concurrency, alternating.
const ROUNDS: usize = 4;

/// `createMessage` at concurrency 1 (`n1` messages) and 32 (`n32`), on a
/// gateway enforcing IAM and one not.
pub async fn run(
    root: &std::path::Path,
    work: &std::path::Path,
    http: &Http,
    n1: usize,
    n32: usize,
) -> Result<Vec<Comparison>> {
    let on = Gateway::start_enforcing(root, work, "gateway-iam-on").await?;
    let off = Gateway::start(root, work, "gateway-iam-off", &[]).await?;
    let mut sides = Vec::new();
    for (gateway, name) in [(&on, "enforced"), (&off, "not enforced")] {
        let world = World::new(http.clone(), &gateway.base_url);
        let author = world.user("iam-writer").await?;
        let room = world.conversation(&author, "iam", &[]).await?;
        // Warm: connections, caches and the engine's first pages.
        let target = gateway.target(name);
        api::create_messages(http, &target, &author, &room, 8, 200, "warm").await?;
        sides.push((gateway, target, author, room));
    }
    let mut out = Vec::new();
    for (concurrency, n) in [(1, n1), (32, n32)] {
        let per_round = (n / ROUNDS).max(1);
        let mut latencies: [Vec<std::time::Duration>; 2] = [Vec::new(), Vec::new()];
        let mut walls = [std::time::Duration::ZERO; 2];
        let mut cpu = [std::time::Duration::ZERO; 2];
        for round in 0..ROUNDS {
            for (side, (gateway, target, author, room)) in sides.iter().enumerate() {
                let meter = Meter::start(&[gateway.pid()])?;
                let (lat, wall) =
                    timed(http, target, author, room, concurrency, per_round, round).await?;
                cpu[side] += meter.used()?;
                latencies[side].extend(lat);
                walls[side] += wall;
            }
        }
        let outcome = |side: usize| Outcome {
            target: sides[side].1.name,
            operation: "createMessage",
            concurrency,
            latency: Summary::of(&latencies[side]),
            ops_per_sec: crate::stats::round(
                latencies[side].len() as f64 / walls[side].as_secs_f64(),
            ),
            invocations_per_op: None,
            dynamodb_per_op: None,
        };
        let (enforced, open) = (outcome(0), outcome(1));
        let count = per_round * ROUNDS;
        let (enforced_cpu_us, open_cpu_us) = (micros_per(cpu[0], count), micros_per(cpu[1], count));
        out.push(Comparison {
            concurrency,
            p50_ratio: ratio(enforced.latency.p50_ms, open.latency.p50_ms),
            p99_ratio: ratio(enforced.latency.p99_ms, open.latency.p99_ms),
            throughput_ratio: ratio(enforced.ops_per_sec, open.ops_per_sec),
            cpu_ratio: ratio(enforced_cpu_us, open_cpu_us),
            enforced_cpu_us,
            open_cpu_us,
            enforced,
            open,
        });
    }
    Ok(out)
}

async fn timed(
    http: &Http,
    target: &Target,
    author: &crate::setup::User,
    room: &str,
    concurrency: usize,
    n: usize,
    round: usize,
) -> Result<(Vec<std::time::Duration>, std::time::Duration)> {
    let url = &target.graphql_url;
    api::measure(n, concurrency, |i| {
        let content = format!("iam {concurrency}/{round}/{i}");
        async move { crate::setup::post(http, url, author, room, &content).await }
    })
    .await
}
