//! Suspensions and bans over HTTP and the WebSocket, on both engines: a
//! barred user's every request is refused with `UserSuspended`, their open
//! sockets close with 4403 before the moderator's mutation returns, they
//! cannot connect again, and a ban holds under the same `sub` however they
//! sign in; only moderators act, and every action is in the audit log.

use std::time::Duration;

use chat_tests::{convo, post, Stack, WsEvent};
use serde_json::{json, Value};

const SUSPEND: &str = "mutation($u: ID!, $h: Int!, $r: String) { suspendUser(input: {userId: $u, hours: $h, reason: $r}) { userId banned suspendedUntil by at reason } }";
const BAN: &str = "mutation($u: ID!, $rep: ID) { banUser(input: {userId: $u, reportId: $rep}) { userId banned suspendedUntil } }";
const REINSTATE: &str = "mutation($u: ID!) { reinstateUser(userId: $u) { userId banned } }";
const AUDIT: &str = "query { auditLog { items { action userId until reason reportId } } }";
const ON_CREATE: &str =
    "subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { content } }";

/// One document per kind of request: each must be refused for a barred caller.
fn every_kind_of_request(room: &str, other: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("query { me { id } }", json!({})),
        ("query($c: ID!) { getConvo(id: $c) { id } }", json!({ "c": room })),
        ("query { listUsers { items { id } } }", json!({})),
        ("query { inbox { items { conversationId } } }", json!({})),
        ("query { blockedUsers { userId } }", json!({})),
        ("mutation { createUser(input: {username: \"again\"}) { id } }", json!({})),
        ("mutation($c: ID!) { createMessage(input: {content: \"hi\", messageConversationId: $c}) { id } }", json!({ "c": room })),
        ("mutation($m: [String!]!) { createConvo(input: {name: \"x\", members: $m}) { id } }", json!({ "m": [other] })),
        ("mutation($c: ID!) { typing(conversationId: $c) { userId } }", json!({ "c": room })),
        ("mutation($u: ID!) { blockUser(userId: $u) { userId } }", json!({ "u": other })),
        ("mutation($u: ID!) { reportUser(input: {userId: $u, reason: SPAM}) { reportId } }", json!({ "u": other })),
    ]
}

#[tokio::test]
async fn a_banned_user_is_refused_everywhere_and_their_sockets_close_before_the_ban_returns() {
    let stack = Stack::start().await;
    let ann = stack.user("ann").await;
    let ben = stack.user("ben").await;
    let mo = stack.moderator("mo").await;
    let room = convo(&ann, "room", &[&ben]).await;
    post(&ben, &room, "spam").await;
    let mut ben_ws = stack.ws(&ben).await;
    ben_ws.subscribe("s", ON_CREATE, json!({ "c": room })).await;
    ben_ws.sync().await;
    let receipt = ann
        .ok(
            "mutation($u: ID!) { reportUser(input: {userId: $u, reason: SPAM}) { reportId } }",
            json!({ "u": ben.id }),
        )
        .await["reportUser"]["reportId"]
        .clone();

    // Only moderators ban.
    let out = ann.send(BAN, json!({ "u": ben.id })).await;
    assert_eq!(out["errors"][0]["errorType"], "Unauthorized", "{out}");
    let banned = mo.ok(BAN, json!({ "u": ben.id, "rep": receipt })).await["banUser"].clone();
    assert_eq!(banned["banned"], true);
    assert_eq!(banned["suspendedUntil"], Value::Null);
    // Closed by the time banUser answered: the close frame is already there.
    match ben_ws.next_within(Duration::from_millis(500)).await {
        WsEvent::Closed(code, reason) => assert_eq!((code, reason.as_str()), (4403, "Forbidden")),
        other => panic!("expected the socket closed, got {other:?}"),
    }
    // Every request is refused, with what stands in errorInfo.
    for (doc, vars) in every_kind_of_request(&room, &ann.id) {
        let out = ben.send(doc, vars).await;
        assert_eq!(
            out["errors"][0]["errorType"], "UserSuspended",
            "{doc}: {out}"
        );
        assert_eq!(
            out["errors"][0]["errorInfo"]["banned"], true,
            "{doc}: {out}"
        );
    }
    // A fresh token for the same sub is refused too, and so is a socket.
    let fresh = stack.client("ben").await;
    let out = fresh.send("query { me { id } }", json!({})).await;
    assert_eq!(out["errors"][0]["errorType"], "UserSuspended", "{out}");
    let mut again = stack.ws_connect(None, true).await.unwrap();
    again
        .send(json!({ "type": "connection_init", "payload": { "authorization": fresh.token } }))
        .await;
    match again.next_within(Duration::from_secs(5)).await {
        WsEvent::Closed(code, _) => assert_eq!(code, 4403),
        other => panic!("expected the connection refused, got {other:?}"),
    }
    // The report is closed, and the log says who did what.
    let open = mo
        .ok("query { openReports { items { id } } }", json!({}))
        .await;
    assert_eq!(open["openReports"]["items"], json!([]));
    let log = mo.ok(AUDIT, json!({})).await;
    assert_eq!(log["auditLog"]["items"][0]["action"], "BAN_USER", "{log}");
    assert_eq!(log["auditLog"]["items"][0]["userId"], ben.id.as_str());
    assert_eq!(log["auditLog"]["items"][0]["reportId"], receipt);

    // Reinstated: Ben is back.
    let out = mo.ok(REINSTATE, json!({ "u": ben.id })).await;
    assert_eq!(out["reinstateUser"]["banned"], true);
    ben.ok("query { me { id } }", json!({})).await;
}

#[tokio::test]
async fn a_suspension_has_its_limits_and_refuses_until_it_ends() {
    let stack = Stack::start().await;
    let ben = stack.user("ben").await;
    let mo = stack.moderator("mo").await;
    for hours in [0, 8785] {
        let out = mo.send(SUSPEND, json!({ "u": ben.id, "h": hours })).await;
        assert_eq!(
            out["errors"][0]["errorType"], "ValidationError",
            "{hours}: {out}"
        );
    }
    let out = mo.send(SUSPEND, json!({ "u": mo.id, "h": 1 })).await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError", "{out}");
    let out = mo.send(SUSPEND, json!({ "u": "nobody", "h": 1 })).await;
    assert_eq!(out["errors"][0]["errorType"], "NotFound", "{out}");
    let long_reason = "x".repeat(501);
    let out = mo
        .send(SUSPEND, json!({ "u": ben.id, "h": 1, "r": long_reason }))
        .await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError", "{out}");
    let out = mo
        .ok(SUSPEND, json!({ "u": ben.id, "h": 8784, "r": "spam" }))
        .await;
    let until = out["suspendUser"]["suspendedUntil"].clone();
    assert_eq!(out["suspendUser"]["banned"], false);
    assert_eq!(out["suspendUser"]["by"], mo.id.as_str());
    let out = ben.send("query { me { id } }", json!({})).await;
    assert_eq!(out["errors"][0]["errorType"], "UserSuspended", "{out}");
    assert_eq!(
        out["errors"][0]["errorInfo"]["suspendedUntil"], until,
        "{out}"
    );
    assert!(out["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("suspended until"));
    let log = mo.ok(AUDIT, json!({})).await;
    assert_eq!(log["auditLog"]["items"][0]["action"], "SUSPEND_USER");
    assert_eq!(log["auditLog"]["items"][0]["until"], until);
    assert_eq!(log["auditLog"]["items"][0]["reason"], "spam");
}
