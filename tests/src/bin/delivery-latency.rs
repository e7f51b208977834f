//! Measures real-time delivery on the local stack: the time from
//! `createMessage` returning to each subscriber receiving the message, over
//! real WebSocket clients. Prints median, p99 and max, and counts lost and
//! duplicated deliveries. Usage: `delivery-latency [messages] [subscribers]`;
//! `CHAT_TEST_STREAM_POLL_MS` sets the stream poll interval (default 20).

use std::time::{Duration, Instant};

use chat_tests::{convo, Stack, WsEvent};
use serde_json::json;

const ON_CREATE_MESSAGE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id } }";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let subscribers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let stack = Stack::start().await;
    let sender = stack.user("sender").await;
    let mut members = Vec::new();
    for i in 0..subscribers {
        members.push(stack.user(&format!("member{i}")).await);
    }
    let refs: Vec<&chat_tests::Client> = members.iter().collect();
    let room = convo(&sender, "latency", &refs).await;
    let mut sockets = Vec::new();
    for m in &members {
        let mut ws = stack.ws(m).await;
        ws.subscribe("s", ON_CREATE_MESSAGE, json!({ "c": room }))
            .await;
        ws.sync().await;
        sockets.push(ws);
    }

    let send = "mutation($c: ID!, $t: String!) { createMessage(input: {content: $t, messageConversationId: $c}) { id } }";
    let mut latencies_ms = Vec::with_capacity(messages * subscribers);
    let (mut lost, mut duplicated) = (0usize, 0usize);
    for i in 0..messages {
        let out = sender
            .ok(send, json!({ "c": room, "t": format!("m{i}") }))
            .await;
        let returned = Instant::now();
        let id = out["createMessage"]["id"].as_str().unwrap().to_string();
        for ws in sockets.iter_mut() {
            match ws.next_within(Duration::from_secs(5)).await {
                WsEvent::Message(m)
                    if m["payload"]["data"]["onCreateMessage"]["id"] == id.as_str() =>
                {
                    latencies_ms.push(returned.elapsed().as_secs_f64() * 1000.0);
                }
                WsEvent::Message(_) => duplicated += 1,
                _ => lost += 1,
            }
        }
    }
    for ws in sockets.iter_mut() {
        if let WsEvent::Message(_) = ws.next_within(Duration::from_millis(500)).await {
            duplicated += 1;
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    println!(
        "{{\"messages\":{messages},\"subscribers\":{subscribers},\"deliveries\":{},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2},\"lost\":{lost},\"duplicated\":{duplicated},\"stream_poll_ms\":{}}}",
        latencies_ms.len(),
        percentile(&latencies_ms, 50.0),
        percentile(&latencies_ms, 99.0),
        latencies_ms.last().copied().unwrap_or_default(),
        chat_tests::stream_poll_ms(),
    );
    stack.running.shutdown().await;
}
