//! API latency and cost: every query and mutation through the GraphQL
//! endpoint, at concurrency 1 and 32, with the function invocations and
//! DynamoDB requests the gateway counted while they ran.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::{Http, Target};
use crate::setup::{post, User, World};
use crate::stats::{round, Summary};
use crate::{docs, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: &'static str,
    pub operation: &'static str,
    pub concurrency: usize,
    pub latency: Summary,
    pub ops_per_sec: f64,
    /// Counted by the gateway over the run; `None` for the peer.
    pub invocations_per_op: Option<f64>,
    pub dynamodb_per_op: Option<f64>,
}

/// Runs `op(i)` for i in 0..n, `concurrency` at a time; returns each call's
/// latency and the wall time of the whole run.
pub async fn measure<F, Fut, T>(
    n: usize,
    concurrency: usize,
    op: F,
) -> Result<(Vec<Duration>, Duration)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let latencies = stream::iter(0..n)
        .map(|i| {
            let op = &op;
            async move {
                let t = Instant::now();
                op(i).await?;
                Ok::<_, crate::Error>(t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok((latencies, start.elapsed()))
}

/// What the operations read and write, made before any timing starts.
/// The reads see the same data throughout: the reader is in 10
/// conversations of 6 members and 50 messages each; every write is the
/// writer's, in conversations of its own.
pub struct Fixture {
    pub reader: User,
    pub room: String,
    pub writer: User,
    pub writer_room: String,
    pub others: Vec<User>,
}

impl Fixture {
    pub async fn make(world: &World, others: Vec<User>) -> Result<Fixture> {
        let reader = world.user("api-reader").await?;
        let mut room = String::new();
        for r in 0..10 {
            room = world
                .conversation(&reader, &format!("api room {r}"), &others[..5])
                .await?;
            for i in 0..50 {
                world.post(&reader, &room, &format!("history {i}")).await?;
            }
        }
        let writer = world.user("api-writer").await?;
        let writer_room = world.conversation(&writer, "api writes", &[]).await?;
        Ok(Fixture {
            reader,
            room,
            writer,
            writer_room,
            others,
        })
    }
}

/// The nine operations, each at concurrency 1 and 32, on the project.
pub async fn run_all(
    world: &World,
    fixture: &Fixture,
    n1: usize,
    n32: usize,
) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    let url = &world.graphql_url;
    let http = &world.http;
    let reader = &fixture.reader;
    let writer = &fixture.writer;
    for (concurrency, n) in [(1, n1), (32, n32)] {
        // Inputs each call needs fresh: tokens for new users, rooms to join.
        let tokens: Vec<String> = stream::iter(0..n)
            .map(|i| async move {
                http.token(&world.base_url, &format!("new{concurrency}x{i:05}"))
                    .await
            })
            .buffered(32)
            .try_collect()
            .await?;
        let per_room = fixture.others.len().min(900);
        let mut rooms = Vec::new();
        for r in 0..n.div_ceil(per_room) {
            rooms.push(
                world
                    .conversation(writer, &format!("join {concurrency}/{r}"), &[])
                    .await?,
            );
        }
        let others = &fixture.others;
        let ops: Vec<(&'static str, Request<'_>)> = vec![
            (
                "createUser",
                op(move |i| {
                    (
                        tokens[i].clone(),
                        docs::CREATE_USER,
                        json!({ "username": format!("new{concurrency}x{i:05}") }),
                    )
                }),
            ),
            (
                "createConvo",
                op(move |i| {
                    (
                        writer.token.clone(),
                        docs::CREATE_CONVO,
                        json!({ "name": format!("room {i}"), "members": [others[i % others.len()].id] }),
                    )
                }),
            ),
            (
                "createConvoLink",
                op(move |i| {
                    (
                        writer.token.clone(),
                        docs::CREATE_CONVO_LINK,
                        json!({ "convoLinkConversationId": rooms[i / per_room], "convoLinkUserId": others[i % per_room].id }),
                    )
                }),
            ),
            (
                "createMessage",
                op(move |i| {
                    (
                        writer.token.clone(),
                        docs::CREATE_MESSAGE,
                        json!({ "content": format!("api {i}"), "messageConversationId": fixture.writer_room }),
                    )
                }),
            ),
            (
                "getUser",
                op(move |_| {
                    (
                        reader.token.clone(),
                        docs::GET_USER_AND_CONVERSATIONS,
                        json!({ "id": reader.id }),
                    )
                }),
            ),
            (
                "getConvo",
                op(move |_| {
                    (
                        reader.token.clone(),
                        docs::GET_CONVO,
                        json!({ "id": fixture.room }),
                    )
                }),
            ),
            (
                "listUsers",
                op(move |_| (reader.token.clone(), docs::LIST_USERS, json!({}))),
            ),
            (
                "me",
                op(move |_| (reader.token.clone(), docs::ME, json!({}))),
            ),
            (
                "allMessageConnection",
                op(move |_| {
                    (
                        reader.token.clone(),
                        docs::HISTORY,
                        json!({ "conversationId": fixture.room, "first": 20 }),
                    )
                }),
            ),
        ];
        for (name, request) in &ops {
            let before = http.counters(&world.base_url).await?;
            let (latencies, wall) = measure(n, concurrency, |i| {
                let (token, query, variables) = request(i);
                async move { http.gql(url, &token, query, variables).await }
            })
            .await?;
            let counted = http.counters(&world.base_url).await? - before;
            out.push(Outcome {
                target: "project",
                operation: name,
                concurrency,
                latency: Summary::of(&latencies),
                ops_per_sec: round(n as f64 / wall.as_secs_f64()),
                invocations_per_op: Some(round(counted.invocations as f64 / n as f64)),
                dynamodb_per_op: Some(round(counted.dynamodb as f64 / n as f64)),
            });
        }
    }
    Ok(out)
}

type Request<'a> = Box<dyn Fn(usize) -> (String, &'static str, Value) + 'a>;

fn op<'a>(f: impl Fn(usize) -> (String, &'static str, Value) + 'a) -> Request<'a> {
    Box::new(f)
}

/// `n` messages posted by `author` through `target`, `concurrency` at a time,
/// each with content `"{tag} {i}"` (the peer has no operation but this one).
pub async fn create_messages(
    http: &Http,
    target: &Target,
    author: &User,
    room: &str,
    concurrency: usize,
    n: usize,
    tag: &str,
) -> Result<Outcome> {
    let url = &target.graphql_url;
    let (latencies, wall) = measure(n, concurrency, |i| {
        let content = format!("{tag} {i}");
        async move { post(http, url, author, room, &content).await }
    })
    .await?;
    Ok(Outcome {
        target: target.name,
        operation: "createMessage",
        concurrency,
        latency: Summary::of(&latencies),
        ops_per_sec: round(n as f64 / wall.as_secs_f64()),
        invocations_per_op: None,
        dynamodb_per_op: None,
    })
}
