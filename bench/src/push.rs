//! What push notifications cost the path they must not slow: `createMessage`
//! and its live delivery in conversations whose 10 other members are offline
//! with two devices each (APNs and FCM), against the same conversations
//! whose members have no device, interleaved in one run on one gateway; and
//! each push's own latency, from `createMessage`'s answer to the stand-in
//! APNs or FCM service recording it (`/local/push`).
//!
//! Each round posts one message to a fresh conversation of each kind, so no
//! push is coalesced away: every round pushes to all 20 devices. Each
//! message waits until the notifier is done with the one before (see
//! [`settle`]).

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{self, Http, Receipt, Target};
use crate::docs;
use crate::setup::{User, World};
use crate::stats::{ratio, Summary};
use crate::Result;

const MEMBERS: usize = 10;
const REGISTER: &str = "mutation($i: RegisterDeviceInput!) { registerDevice(input: $i) { id } }";

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Sending `createMessage` to its answer.
    pub mutation: Summary,
    /// Sending `createMessage` to the listener's receipt.
    pub delivery: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub rounds: usize,
    pub members: usize,
    pub devices_per_member: usize,
    pub with_devices: Side,
    pub without_devices: Side,
    /// with / without, p50.
    pub mutation_ratio: f64,
    pub delivery_ratio: f64,
    /// `createMessage`'s answer to the push recorded, per device.
    pub push_latency: Summary,
    pub pushes_expected: usize,
    pub pushes_recorded: usize,
}

struct Room {
    id: String,
    listener: mpsc::UnboundedReceiver<Receipt>,
}

async fn room(
    world: &World,
    target: &Target,
    author: &User,
    members: &[User],
    listener: &User,
) -> Result<Room> {
    let mut everyone = members.to_vec();
    everyone.push(listener.clone());
    let id = world.conversation(author, "push bench", &everyone).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    client::subscribe(
        target,
        &listener.token,
        docs::ON_CREATE_MESSAGE,
        json!({ "messageConversationId": id }),
        0,
        tx,
    )
    .await?;
    Ok(Room { id, listener: rx })
}

/// Posts to `room`; the mutation's and the delivery's latency, the
/// message's id, and when (epoch ms) the answer came.
async fn measure(
    world: &World,
    author: &User,
    room: &mut Room,
    content: &str,
) -> Result<(Duration, Duration, String, i64)> {
    let sent = Instant::now();
    let out = world
        .http
        .gql(
            &world.graphql_url,
            &author.token,
            "mutation($c: String!, $m: ID!) { createMessage(input: {content: $c, messageConversationId: $m}) { id } }",
            json!({ "c": content, "m": room.id }),
        )
        .await?;
    let answered = sent.elapsed();
    let answered_at = epoch_ms();
    let id = out["createMessage"]["id"]
        .as_str()
        .ok_or("no id")?
        .to_string();
    let delivered = loop {
        let receipt = tokio::time::timeout(Duration::from_secs(10), room.listener.recv())
            .await?
            .ok_or("the listener's socket closed")?;
        if receipt.content == content {
            break receipt.at.duration_since(sent);
        }
    };
    Ok((answered, delivered, id, answered_at))
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn received(http: &reqwest::Client, base_url: &str) -> Result<Vec<Value>> {
    let out: Value = http
        .get(format!("{base_url}/local/push"))
        .send()
        .await?
        .json()
        .await?;
    Ok(out["received"].as_array().cloned().unwrap_or_default())
}

/// The notifier's invocations and the pushes delivered so far.
async fn progress(http: &reqwest::Client, base_url: &str) -> Result<(u64, u64)> {
    let stats: Value = http
        .get(format!("{base_url}/local/stats"))
        .send()
        .await?
        .json()
        .await?;
    let delivered = ["APNS", "FCM"]
        .iter()
        .filter_map(|p| stats["pushes"][p]["delivered"].as_u64())
        .sum();
    Ok((
        stats["realtime"]["invocations"]["notifier"]
            .as_u64()
            .unwrap_or(0),
        delivered,
    ))
}

async fn notifier_invocations(http: &reqwest::Client, base_url: &str) -> Result<u64> {
    Ok(progress(http, base_url).await?.0)
}

/// Waits until the notifier has been invoked once more than `invoked`
/// times and the stand-ins hold `pushes` pushes, then a little more for it
/// to finish (a count moves as an invocation starts); the count now.
async fn settle(
    http: &reqwest::Client,
    base_url: &str,
    invoked: u64,
    pushes: usize,
) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (now, delivered) = progress(http, base_url).await?;
        if now > invoked && delivered as usize >= pushes {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(now);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the notifier did not finish: {now} invocations, {pushes} pushes expected"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn message_of(record: &Value) -> Option<&str> {
    record["payload"]["messageId"]
        .as_str()
        .or(record["payload"]["data"]["messageId"].as_str())
}

pub async fn run(http: &Http, base_url: &str, target: &Target, rounds: usize) -> Result<Outcome> {
    let world = World::new(http.clone(), base_url);
    let author = world.user("push-author").await?;
    let pushed = world.users("pushed", MEMBERS).await?;
    let quiet = world.users("quiet", MEMBERS).await?;
    try_join_all(pushed.iter().enumerate().map(|(i, user)| {
        let world = &world;
        async move {
            let apns = format!("{:064x}", i + 1);
            let fcm = format!("bench-{i}:{}", "f".repeat(150));
            for input in [
                json!({ "platform": "APNS", "token": apns, "appId": "com.example.bench" }),
                json!({ "platform": "FCM", "token": fcm }),
            ] {
                world
                    .http
                    .gql(
                        &world.graphql_url,
                        &user.token,
                        REGISTER,
                        json!({ "i": input }),
                    )
                    .await?;
            }
            Ok::<_, crate::Error>(())
        }
    }))
    .await?;
    let listeners = world.users("push-listener", 2 * rounds).await?;
    let mut with_rooms = Vec::with_capacity(rounds);
    let mut without_rooms = Vec::with_capacity(rounds);
    for r in 0..rounds {
        with_rooms.push(room(&world, target, &author, &pushed, &listeners[2 * r]).await?);
        without_rooms.push(room(&world, target, &author, &quiet, &listeners[2 * r + 1]).await?);
    }
    // Subscriptions are in place a moment after they are sent.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let plain = reqwest::Client::new();
    let (mut with_m, mut with_d, mut without_m, mut without_d) = (vec![], vec![], vec![], vec![]);
    let mut answers = Vec::new();
    let mut invoked = notifier_invocations(&plain, base_url).await?;
    for r in 0..rounds {
        // Alternate which goes first, so neither side always follows the other.
        for first in [r % 2 == 0, r % 2 != 0] {
            if first {
                let (m, d, id, at) =
                    measure(&world, &author, &mut with_rooms[r], &format!("with {r}")).await?;
                with_m.push(m);
                with_d.push(d);
                answers.push((id, at));
            } else {
                let (m, d, _, _) = measure(
                    &world,
                    &author,
                    &mut without_rooms[r],
                    &format!("without {r}"),
                )
                .await?;
                without_m.push(m);
                without_d.push(d);
            }
            // Locally the notifier shares this machine's two cores with
            // the writer, as it does not on AWS (its own Lambda): the next
            // message waits until it is done with this one, so each side's
            // figures are its own and a push's latency holds no queue.
            invoked = settle(&plain, base_url, invoked, answers.len() * MEMBERS * 2).await?;
        }
    }

    let expected = rounds * MEMBERS * 2;
    let records = received(&plain, base_url).await?;
    let mut latencies: Vec<f64> = records
        .iter()
        .filter_map(|rec| {
            let (_, answered) = answers
                .iter()
                .find(|(id, _)| Some(id.as_str()) == message_of(rec))?;
            Some((rec["at"].as_i64()? - answered) as f64)
        })
        .collect();
    let with_devices = Side {
        mutation: Summary::of(&with_m),
        delivery: Summary::of(&with_d),
    };
    let without_devices = Side {
        mutation: Summary::of(&without_m),
        delivery: Summary::of(&without_d),
    };
    Ok(Outcome {
        rounds,
        members: MEMBERS,
        devices_per_member: 2,
        mutation_ratio: ratio(
            with_devices.mutation.p50_ms,
            without_devices.mutation.p50_ms,
        ),
        delivery_ratio: ratio(
            with_devices.delivery.p50_ms,
            without_devices.delivery.p50_ms,
        ),
        with_devices,
        without_devices,
        push_latency: Summary::of_ms(&mut latencies),
        pushes_expected: expected,
        pushes_recorded: records.len(),
    })
}
