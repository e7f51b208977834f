//! How cost grows with input: history pages against conversation length, and
//! getUser against the number of conversations a user is in. (Fan-out against
//! subscribers comes from the fan-out cases themselves.)

use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;

use crate::api::{create_messages, measure};
use crate::client::Target;
use crate::setup::World;
use crate::stats::{round, Summary};
use crate::{docs, Result};

/// Reads per point on a curve.
const READS: usize = 50;
/// Page size when walking a whole history (the API's maximum).
const PAGE: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub messages: usize,
    /// The newest page of 20 (ChatQL's first screen).
    pub first_page: Summary,
    pub first_page_dynamodb: f64,
    /// Every page of 100, newest to oldest, following nextToken.
    pub pages: usize,
    pub page: Summary,
    pub page_dynamodb: f64,
    pub whole_history_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GetUserPoint {
    pub conversations: usize,
    /// Links returned (Chatt's document asks for 100).
    pub returned: usize,
    pub latency: Summary,
    pub dynamodb_per_op: f64,
}

pub async fn history(world: &World, lengths: &[usize]) -> Result<Vec<HistoryPoint>> {
    let author = world.user("history-author").await?;
    let http = &world.http;
    let url = &world.graphql_url;
    let mut points = Vec::new();
    for &length in lengths {
        let room = world
            .conversation(&author, &format!("history of {length}"), &[])
            .await?;
        let (author, room_ref) = (&author, &room);
        stream::iter(0..length)
            .map(|i| async move { world.post(author, room_ref, &format!("message {i}")).await })
            .buffer_unordered(32)
            .try_collect::<Vec<_>>()
            .await?;

        let before = http.counters(&world.base_url).await?;
        let (first, _) = measure(READS, 1, |_| {
            http.gql(
                url,
                &author.token,
                docs::HISTORY,
                json!({ "conversationId": room_ref, "first": 20 }),
            )
        })
        .await?;
        let first_dynamodb = (http.counters(&world.base_url).await? - before).dynamodb;

        let before = http.counters(&world.base_url).await?;
        let start = std::time::Instant::now();
        let mut latencies = Vec::new();
        let mut after: Option<String> = None;
        let mut seen = 0;
        loop {
            let t = std::time::Instant::now();
            let out = http
                .gql(
                    url,
                    &author.token,
                    docs::HISTORY,
                    json!({ "conversationId": room_ref, "first": PAGE, "after": after }),
                )
                .await?;
            latencies.push(t.elapsed());
            let page = &out["allMessageConnection"];
            seen += page["messages"].as_array().map_or(0, Vec::len);
            match page["nextToken"].as_str() {
                Some(token) => after = Some(token.to_string()),
                None => break,
            }
        }
        let whole = start.elapsed();
        if seen != length {
            return Err(format!("history of {length} returned {seen} messages").into());
        }
        let pages_dynamodb = (http.counters(&world.base_url).await? - before).dynamodb;
        points.push(HistoryPoint {
            messages: length,
            first_page: Summary::of(&first),
            first_page_dynamodb: round(first_dynamodb as f64 / READS as f64),
            pages: latencies.len(),
            page: Summary::of(&latencies),
            page_dynamodb: round(pages_dynamodb as f64 / latencies.len() as f64),
            whole_history_ms: round(whole.as_secs_f64() * 1e3),
        });
    }
    Ok(points)
}

pub async fn get_user(world: &World, counts: &[usize]) -> Result<Vec<GetUserPoint>> {
    let http = &world.http;
    let url = &world.graphql_url;
    let mut points = Vec::new();
    for &count in counts {
        let user = world.user(&format!("joiner{count}")).await?;
        let user_ref = &user;
        stream::iter(0..count)
            .map(|i| async move {
                world
                    .conversation(user_ref, &format!("room {i} of {count}"), &[])
                    .await
            })
            .buffer_unordered(32)
            .try_collect::<Vec<_>>()
            .await?;
        let vars = json!({ "id": user.id });
        let out = http
            .gql(
                url,
                &user.token,
                docs::GET_USER_AND_CONVERSATIONS,
                vars.clone(),
            )
            .await?;
        let returned = out["getUser"]["conversations"]["items"]
            .as_array()
            .map_or(0, Vec::len);
        let before = http.counters(&world.base_url).await?;
        let (latencies, _) = measure(READS, 1, |_| {
            http.gql(
                url,
                &user_ref.token,
                docs::GET_USER_AND_CONVERSATIONS,
                vars.clone(),
            )
        })
        .await?;
        let dynamodb = (http.counters(&world.base_url).await? - before).dynamodb;
        points.push(GetUserPoint {
            conversations: count,
            returned,
            latency: Summary::of(&latencies),
            dynamodb_per_op: round(dynamodb as f64 / READS as f64),
        });
    }
    Ok(points)
}

#[derive(Debug, Clone, Serialize)]
pub struct WritesPoint {
    /// Messages each side had stored when the round started.
    pub stored_before: usize,
    pub project_ops_per_sec: f64,
    pub project: Summary,
    pub apollo_ops_per_sec: f64,
    pub apollo: Summary,
}

/// `createMessage` at concurrency 32 in rounds on a fresh database, the two
/// sides taking turns, to see whether write cost grows with what is stored.
pub async fn writes(
    world: &World,
    project: &Target,
    apollo: &Target,
    rounds: usize,
    per_round: usize,
) -> Result<Vec<WritesPoint>> {
    let author = world.user("bulk-author").await?;
    let room = world.conversation(&author, "bulk", &[]).await?;
    let mut points = Vec::new();
    for round in 0..rounds {
        let tag = format!("bulk {round}");
        let side =
            |target| create_messages(&world.http, target, &author, &room, 32, per_round, &tag);
        let p = side(project).await?;
        let a = side(apollo).await?;
        points.push(WritesPoint {
            stored_before: round * per_round,
            project_ops_per_sec: p.ops_per_sec,
            project: p.latency,
            apollo_ops_per_sec: a.ops_per_sec,
            apollo: a.latency,
        });
    }
    Ok(points)
}
