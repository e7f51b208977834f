//! Fan-out: C conversations with S subscribed members each, real
//! graphql-transport-ws clients, M messages per conversation posted through
//! `createMessage`. The same code drives the project and the peer.
//!
//! Each conversation has one sender that posts in a closed loop: a message,
//! then every subscriber's copy of it (or a 10 s timeout), then the next. So
//! a latency is one message's own delivery time, never time spent queued
//! behind earlier messages, and conversations run concurrently with each other.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{subscribe, Counters, Http, Receipt, Target};
use crate::setup::{post, User, World};
use crate::stats::{round, Summary};
use crate::{docs, Result};

/// How long a subscriber may take to receive a message before it counts as lost.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to listen after the last message for late or duplicate copies.
const DRAIN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Case {
    pub conversations: usize,
    /// Subscribed sockets per conversation.
    pub subscribers: usize,
    pub messages: usize,
    /// Sockets per member, as a member on several devices: a conversation
    /// has `subscribers / devices` members. Past `MAX_MEMBERS` sockets a
    /// case can only be measured this way (up to `MAX_CONNECTIONS_PER_USER`
    /// each).
    pub devices: usize,
}

impl Case {
    /// Members per conversation.
    pub fn members(&self) -> usize {
        self.subscribers / self.devices.max(1)
    }

    /// `C × S`, with the members when each has several sockets.
    pub fn label(&self) -> String {
        if self.devices > 1 {
            format!(
                "{} × {} ({} members × {} sockets)",
                self.conversations,
                self.subscribers,
                self.members(),
                self.devices
            )
        } else {
            format!("{} × {}", self.conversations, self.subscribers)
        }
    }
}

/// Conversations and their members, made once per case and used by both
/// sides. Each conversation's first member creates it and sends; every member,
/// the sender included (as on a second device), subscribes, `devices` times
/// each. A room's list holds one entry per socket, the sender first.
pub struct Rooms {
    pub rooms: Vec<(String, Vec<User>)>,
}

impl Rooms {
    pub async fn make(world: &World, case: Case, pool: &[User]) -> Result<Rooms> {
        let mut rooms = Vec::new();
        for c in 0..case.conversations {
            let start = (c * case.members()) % pool.len();
            let members: Vec<User> = pool
                .iter()
                .cycle()
                .skip(start)
                .take(case.members())
                .cloned()
                .collect();
            let name = format!("fan-out {}x{} #{c}", case.conversations, case.subscribers);
            let id = world
                .conversation(&members[0], &name, &members[1..])
                .await?;
            let sockets = members
                .iter()
                .cycle()
                .take(case.subscribers)
                .cloned()
                .collect();
            rooms.push((id, sockets));
        }
        Ok(Rooms { rooms })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: &'static str,
    pub case: Case,
    pub expected: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// Mutation sent → each subscriber's receipt.
    pub latency: Summary,
    /// Mutation sent → the last subscriber's receipt, per message.
    pub last_delivery: Summary,
    /// Mutation sent → its answer (the project answers after its own posts,
    /// and after handing the rest of a large conversation off).
    pub mutation: Summary,
    pub deliveries_per_sec: f64,
    /// The project only: DynamoDB requests and function invocations per
    /// message during the measured phase, the write and its push together
    /// (connection setup excluded).
    pub dynamodb_per_message: Option<f64>,
    pub invocations_per_message: Option<f64>,
    /// The project only: where its pushes' time went.
    pub profile: Option<crate::profile::Profile>,
    /// CPU time of the serving processes over the measured phase (see
    /// [`Target::servers`]), and per copy delivered.
    pub server_cpu_ms: f64,
    pub cpu_per_delivery_us: f64,
}

struct Conversation {
    latencies: Vec<Duration>,
    last: Vec<Duration>,
    answers: Vec<Duration>,
    delivered: usize,
    duplicated: usize,
    first_send: Instant,
    last_receipt: Instant,
}

/// Runs one case against one target. `counters` is the project's gateway (to
/// count requests) or `None` for the peer; `log`, the gateway's log, whose
/// `delivery timing` lines for the measured messages make the profile.
pub async fn run(
    http: &Http,
    target: &Target,
    rooms: &Rooms,
    case: Case,
    counters: Option<&str>,
    log: Option<&std::path::Path>,
) -> Result<Outcome> {
    let (sockets, mut inboxes) = connect(target, rooms).await?;
    warm_all(http, target, rooms, &mut inboxes).await?;
    // After the warm-up, whose pushes reach part of the room at most.
    let mark = log.map(crate::profile::mark);

    let meter = crate::cpu::Meter::start(&target.servers)?;
    let before = match counters {
        Some(base) => Some(http.counters(base).await?),
        None => None,
    };
    let results: Vec<Conversation> =
        futures::future::try_join_all(rooms.rooms.iter().zip(inboxes.iter_mut()).enumerate().map(
            |(c, ((room, members), inbox))| {
                drive(
                    http,
                    target,
                    &members[0],
                    room,
                    c,
                    members.len(),
                    case.messages,
                    inbox,
                )
            },
        ))
        .await?;
    let cpu = meter.used()?;
    let after = match counters {
        Some(base) => Some(http.counters(base).await?),
        None => None,
    };
    for socket in sockets {
        socket.abort();
    }

    let expected = case.conversations * case.subscribers * case.messages;
    let delivered: usize = results.iter().map(|r| r.delivered).sum();
    let duplicated = results.iter().map(|r| r.duplicated).sum();
    let latencies: Vec<Duration> = results
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    let last: Vec<Duration> = results
        .iter()
        .flat_map(|r| r.last.iter().copied())
        .collect();
    let answers: Vec<Duration> = results
        .iter()
        .flat_map(|r| r.answers.iter().copied())
        .collect();
    let start = results
        .iter()
        .map(|r| r.first_send)
        .min()
        .ok_or("no conversations")?;
    let end = results
        .iter()
        .map(|r| r.last_receipt)
        .max()
        .ok_or("no conversations")?;
    let messages = (case.conversations * case.messages) as f64;
    let per_message = |f: fn(Counters) -> u64| {
        before
            .zip(after)
            .map(|(b, a)| round(f(a - b) as f64 / messages))
    };
    Ok(Outcome {
        target: target.name,
        case,
        expected,
        delivered,
        lost: expected - delivered,
        duplicated,
        latency: Summary::of(&latencies),
        last_delivery: Summary::of(&last),
        mutation: Summary::of(&answers),
        deliveries_per_sec: round(delivered as f64 / (end - start).as_secs_f64().max(1e-9)),
        dynamodb_per_message: per_message(|c| c.dynamodb + c.realtime_dynamodb),
        invocations_per_message: per_message(|c| c.invocations + c.realtime_invocations),
        profile: log
            .zip(mark)
            .and_then(|(log, mark)| crate::profile::since(log, mark)),
        server_cpu_ms: round(cpu.as_secs_f64() * 1e3),
        cpu_per_delivery_us: crate::cpu::micros_per(cpu, delivered),
    })
}

/// Every member of every room connects and subscribes, 32 at a time; one
/// inbox per room.
pub async fn connect(
    target: &Target,
    rooms: &Rooms,
) -> Result<(
    Vec<tokio::task::JoinHandle<()>>,
    Vec<mpsc::UnboundedReceiver<Receipt>>,
)> {
    let mut inboxes = Vec::new();
    let mut sockets = Vec::new();
    for (room, members) in &rooms.rooms {
        let (tx, rx) = mpsc::unbounded_channel::<Receipt>();
        let opened: Vec<_> = stream::iter(members.iter().enumerate())
            .map(|(i, m)| {
                let tx = tx.clone();
                async move {
                    subscribe(
                        target,
                        &m.token,
                        docs::ON_CREATE_MESSAGE,
                        json!({ "messageConversationId": room }),
                        i,
                        tx,
                    )
                    .await
                }
            })
            .buffer_unordered(32)
            .try_collect()
            .await?;
        sockets.extend(opened);
        inboxes.push(rx);
    }
    Ok((sockets, inboxes))
}

/// Posts until every subscriber has seen a message, so that measuring starts
/// with every subscription live on both sides.
pub async fn warm_all(
    http: &Http,
    target: &Target,
    rooms: &Rooms,
    inboxes: &mut [mpsc::UnboundedReceiver<Receipt>],
) -> Result<()> {
    futures::future::try_join_all(rooms.rooms.iter().zip(inboxes.iter_mut()).map(
        |((room, members), inbox)| warm_up(http, target, &members[0], room, members.len(), inbox),
    ))
    .await?;
    Ok(())
}

async fn warm_up(
    http: &Http,
    target: &Target,
    sender: &User,
    room: &str,
    subscribers: usize,
    inbox: &mut mpsc::UnboundedReceiver<Receipt>,
) -> Result<()> {
    let mut ready = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut k = 0;
    while ready.len() < subscribers {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: only {} of {subscribers} subscriptions live after 60 s",
                target.name,
                ready.len()
            )
            .into());
        }
        post(http, &target.graphql_url, sender, room, &format!("w:{k}")).await?;
        k += 1;
        let wait = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(Some(r)) = tokio::time::timeout_at(wait, inbox.recv()).await {
            ready.insert(r.subscriber);
        }
    }
    // Late warm-up copies must not count as duplicates of measured messages.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), inbox.recv()).await {}
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    http: &Http,
    target: &Target,
    sender: &User,
    room: &str,
    c: usize,
    subscribers: usize,
    messages: usize,
    inbox: &mut mpsc::UnboundedReceiver<Receipt>,
) -> Result<Conversation> {
    let mut seen = vec![false; messages * subscribers];
    let mut sent_at = Vec::with_capacity(messages);
    let mut out = Conversation {
        latencies: Vec::with_capacity(messages * subscribers),
        last: Vec::with_capacity(messages),
        answers: Vec::with_capacity(messages),
        delivered: 0,
        duplicated: 0,
        first_send: Instant::now(),
        last_receipt: Instant::now(),
    };
    let mut record = |r: Receipt, sent_at: &[Instant], out: &mut Conversation| -> Option<usize> {
        let i: usize = r.content.strip_prefix(&format!("b:{c}:"))?.parse().ok()?;
        let slot = i * subscribers + r.subscriber;
        if seen[slot] {
            out.duplicated += 1;
            return None;
        }
        seen[slot] = true;
        out.delivered += 1;
        out.latencies.push(r.at - sent_at[i]);
        out.last_receipt = out.last_receipt.max(r.at);
        Some(i)
    };
    for i in 0..messages {
        let t0 = Instant::now();
        sent_at.push(t0);
        if i == 0 {
            out.first_send = t0;
        }
        post(
            http,
            &target.graphql_url,
            sender,
            room,
            &format!("b:{c}:{i}"),
        )
        .await?;
        out.answers.push(t0.elapsed());
        let deadline = tokio::time::Instant::from_std(t0 + DELIVERY_TIMEOUT);
        let mut got = 0;
        let mut last = None;
        while got < subscribers {
            match tokio::time::timeout_at(deadline, inbox.recv()).await {
                Ok(Some(r)) => {
                    let at = r.at;
                    if record(r, &sent_at, &mut out) == Some(i) {
                        got += 1;
                        last = Some(at - t0);
                    }
                }
                _ => break,
            }
        }
        if got == subscribers {
            out.last.extend(last);
        }
    }
    while let Ok(Some(r)) = tokio::time::timeout(DRAIN, inbox.recv()).await {
        record(r, &sent_at, &mut out);
    }
    Ok(out)
}
