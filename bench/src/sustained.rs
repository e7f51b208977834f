//! Sustained load, open loop: C conversations × S subscribed members, and M
//! messages posted by W writers that never wait for a delivery. Each writer
//! posts one message after another (so W are in flight at once); with more
//! rooms than writers, writer w takes rooms w, w + W, ... in turn, and with
//! fewer, several writers share a room.
//!
//! A closed loop (post, wait for every copy, post) hides a delivery queue
//! that grows without bound; here such a queue shows as latency that climbs
//! through the run and as a drain time after the last post.
//!
//! Reported: the post rate, delivery latency (sent → each receipt), the time
//! from the last post's answer to the last receipt (the backlog's drain), and
//! lost, duplicated and out-of-order copies. A copy is out of order when a
//! subscriber gets it after a later message of the same writer in the same
//! room: the order one sender's messages must keep.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::client::{Http, Receipt, Target};
use crate::fanout::{connect, warm_all, Rooms};
use crate::setup::post;
use crate::stats::{round, Summary};
use crate::Result;

/// How long after the last post the run waits for the backlog to drain.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);
/// Listening for late duplicates once every copy has arrived.
const QUIET: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Case {
    pub conversations: usize,
    pub subscribers: usize,
    pub messages: usize,
    pub writers: usize,
}

impl Case {
    pub fn fan_out(&self) -> crate::fanout::Case {
        crate::fanout::Case {
            conversations: self.conversations,
            subscribers: self.subscribers,
            messages: self.messages / self.conversations,
            devices: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: &'static str,
    pub case: Case,
    pub posts_per_sec: f64,
    /// How long each `createMessage` took to answer: on the project it
    /// includes the push to every subscriber, so this is what S costs a writer.
    pub post_latency: Summary,
    pub expected: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub out_of_order: usize,
    pub latency: Summary,
    pub deliveries_per_sec: f64,
    /// Last post answered → last copy received; `None` when copies were lost.
    pub drain_ms: Option<f64>,
    /// CPU time of the serving processes from the first post to the last
    /// copy (see `Target::servers`), and per copy delivered.
    pub server_cpu_ms: f64,
    pub cpu_per_delivery_us: f64,
}

/// (room, writer, the writer's n-th message in that room)
type Key = (usize, usize, usize);

fn content(key: Key) -> String {
    format!("s:{}:{}:{}", key.0, key.1, key.2)
}

fn parse(content: &str) -> Option<Key> {
    let mut parts = content.strip_prefix("s:")?.split(':');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// Which writer posts to which room, how many times, in what order.
fn schedule(case: Case) -> Vec<Vec<(usize, usize)>> {
    let per_room = case.messages / case.conversations;
    let mut plans = vec![Vec::new(); case.writers];
    if case.conversations >= case.writers {
        // Writer w takes rooms w, w + W, ..., interleaving them.
        for (w, plan) in plans.iter_mut().enumerate() {
            let rooms: Vec<usize> = (w..case.conversations).step_by(case.writers).collect();
            for i in 0..per_room {
                for &r in &rooms {
                    plan.push((r, i));
                }
            }
        }
    } else {
        // Several writers per room, the room's messages split between them.
        for i in 0..case.messages {
            let w = i % case.writers;
            let r = w % case.conversations;
            let n = plans[w].iter().filter(|(room, _)| *room == r).count();
            plans[w].push((r, n));
        }
    }
    plans
}

pub async fn run(http: &Http, target: &Target, rooms: &Rooms, case: Case) -> Result<Outcome> {
    let (sockets, mut inboxes) = connect(target, rooms).await?;
    warm_all(http, target, rooms, &mut inboxes).await?;

    // Every copy, as it arrives, with the room it came through.
    let (all_tx, mut all_rx) = mpsc::unbounded_channel::<(usize, Receipt)>();
    let forwarders: Vec<_> = inboxes
        .into_iter()
        .enumerate()
        .map(|(room, mut inbox)| {
            let tx = all_tx.clone();
            tokio::spawn(async move {
                while let Some(r) = inbox.recv().await {
                    if tx.send((room, r)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(all_tx);

    let plans = schedule(case);
    let sent: Arc<Mutex<HashMap<Key, Instant>>> = Arc::default();
    let answered: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let meter = crate::cpu::Meter::start(&target.servers)?;
    let started = Instant::now();
    let writers = plans.into_iter().enumerate().map(|(w, plan)| {
        let (sent, answered) = (sent.clone(), answered.clone());
        async move {
            for (room, i) in plan {
                let (room_id, members) = &rooms.rooms[room];
                let author = &members[w % members.len()];
                let key = (room, w, i);
                let t0 = Instant::now();
                sent.lock().expect("sent").insert(key, t0);
                post(http, &target.graphql_url, author, room_id, &content(key)).await?;
                answered.lock().expect("answered").push(t0.elapsed());
            }
            Result::Ok(())
        }
    });
    let posting = futures::future::try_join_all(writers);
    tokio::pin!(posting);

    let expected = case.fan_out().messages * case.conversations * case.subscribers;
    let mut receipts: Vec<(usize, Receipt)> = Vec::with_capacity(expected);
    let mut posted_at = None;
    loop {
        tokio::select! {
            done = &mut posting, if posted_at.is_none() => {
                done?;
                posted_at = Some(Instant::now());
            }
            got = all_rx.recv() => match got {
                Some(r) => receipts.push(r),
                None => break,
            },
            _ = tokio::time::sleep(QUIET), if posted_at.is_some() && receipts.len() >= expected => break,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(posted_at.unwrap_or(started) + DRAIN_LIMIT)), if posted_at.is_some() => break,
        }
    }
    let cpu = meter.used()?;
    let posted_at = posted_at.ok_or("posting never finished")?;
    for task in sockets.into_iter().chain(forwarders) {
        task.abort();
    }

    let post_latency = Summary::of(&answered.lock().expect("answered"));
    let sent = sent.lock().expect("sent");
    let mut seen: HashSet<(Key, usize)> = HashSet::new();
    let mut newest: HashMap<(usize, usize, usize), usize> = HashMap::new();
    let (mut duplicated, mut out_of_order) = (0, 0);
    let mut latencies = Vec::with_capacity(receipts.len());
    let mut last_receipt = started;
    for (room, r) in &receipts {
        let Some(key) = parse(&r.content) else {
            continue; // a late warm-up copy
        };
        if key.0 != *room {
            continue;
        }
        if !seen.insert((key, r.subscriber)) {
            duplicated += 1;
            continue;
        }
        let Some(at) = sent.get(&key) else { continue };
        latencies.push(r.at.saturating_duration_since(*at));
        last_receipt = last_receipt.max(r.at);
        let stream = (key.0, key.1, r.subscriber);
        match newest.get(&stream) {
            Some(&n) if n > key.2 => out_of_order += 1,
            _ => {
                newest.insert(stream, key.2);
            }
        }
    }
    let delivered = latencies.len();
    Ok(Outcome {
        target: target.name,
        case,
        posts_per_sec: round(sent.len() as f64 / (posted_at - started).as_secs_f64()),
        post_latency,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        duplicated,
        out_of_order,
        latency: Summary::of(&latencies),
        deliveries_per_sec: round(
            delivered as f64 / (last_receipt - started).as_secs_f64().max(1e-9),
        ),
        drain_ms: (delivered >= expected).then(|| {
            round(
                last_receipt
                    .saturating_duration_since(posted_at)
                    .as_secs_f64()
                    * 1e3,
            )
        }),
        server_cpu_ms: round(cpu.as_secs_f64() * 1e3),
        cpu_per_delivery_us: crate::cpu::micros_per(cpu, delivered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_planned_once_and_each_room_has_one_order_per_writer() {
        for case in [
            Case {
                conversations: 50,
                subscribers: 10,
                messages: 10_000,
                writers: 32,
            },
            Case {
                conversations: 1,
                subscribers: 1000,
                messages: 500,
                writers: 32,
            },
        ] {
            let plans = schedule(case);
            let total: usize = plans.iter().map(Vec::len).sum();
            assert_eq!(total, case.fan_out().messages * case.conversations);
            for plan in &plans {
                let mut next: HashMap<usize, usize> = HashMap::new();
                for &(room, i) in plan {
                    let n = next.entry(room).or_default();
                    assert_eq!(*n, i, "a writer numbers its messages per room in order");
                    *n += 1;
                }
            }
        }
    }
}
