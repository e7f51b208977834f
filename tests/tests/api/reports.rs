//! Reports over HTTP on both engines: a member reports a message, anyone a
//! user; the snapshot outlives an edit and a delete; one user's repeats
//! count once; only a token in the `moderators` group reads and dismisses
//! them; reporting is rate-limited.

use chat_domain::rates::RateLimits;
use chat_tests::{convo, post, Stack};
use serde_json::{json, Value};

const REPORT_MESSAGE: &str = "mutation($c: ID!, $m: ID!, $r: ReportReason!, $n: String) { reportMessage(input: {messageConversationId: $c, messageId: $m, reason: $r, note: $n}) { reportId receivedAt duplicate } }";
const REPORT_USER: &str = "mutation($u: ID!, $r: ReportReason!, $n: String) { reportUser(input: {userId: $u, reason: $r, note: $n}) { reportId receivedAt duplicate } }";
const OPEN: &str = "query($l: Int, $t: String) { openReports(limit: $l, nextToken: $t) { items { id kind userId conversationId messageId status openedAt reporters entries { reporterId reason note reportedAt snapshot { content createdAt editedAt deletedAt attachments } } } nextToken } }";
const DISMISS: &str = "mutation($id: ID!) { dismissReport(reportId: $id) { id status resolvedBy resolvedAt reporters } }";

fn items(page: &Value) -> Vec<Value> {
    page["openReports"]["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_reported_message_keeps_what_was_said_for_moderators_only() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let eve = stack.user("eve").await;
    let mo = stack.moderator("mo").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let id = post(&bob, &room, "something nasty").await;

    let v = json!({ "c": room, "m": id, "r": "HARASSMENT", "n": " not the first time " });
    let receipt = alice.ok(REPORT_MESSAGE, v.clone()).await["reportMessage"].clone();
    assert_eq!(receipt["duplicate"], false);
    assert!(receipt["reportId"].as_str().unwrap().contains(&id));
    // Her second report is received and counts once.
    let again = alice
        .ok(REPORT_MESSAGE, json!({ "c": room, "m": id, "r": "SPAM" }))
        .await;
    assert_eq!(again["reportMessage"]["duplicate"], true);
    assert_eq!(again["reportMessage"]["reportId"], receipt["reportId"]);

    // Bob edits, then deletes it: the report keeps what Alice saw.
    let edit = "mutation($c: ID!, $m: ID!) { updateMessage(input: {id: $m, messageConversationId: $c, content: \"nice\"}) { id } }";
    bob.ok(edit, json!({ "c": room, "m": id })).await;
    let delete = "mutation($c: ID!, $m: ID!) { deleteMessage(input: {id: $m, messageConversationId: $c}) { id } }";
    bob.ok(delete, json!({ "c": room, "m": id })).await;

    let open = items(&mo.ok(OPEN, json!({})).await);
    assert_eq!(open.len(), 1, "{open:?}");
    let report = &open[0];
    assert_eq!(report["id"], receipt["reportId"]);
    assert_eq!(report["kind"], "MESSAGE");
    assert_eq!(report["userId"], bob.id.as_str());
    assert_eq!(report["conversationId"], room.as_str());
    assert_eq!(report["reporters"], 1);
    let entry = &report["entries"][0];
    assert_eq!(entry["reporterId"], alice.id.as_str());
    assert_eq!(entry["reason"], "HARASSMENT");
    assert_eq!(entry["note"], "not the first time");
    assert_eq!(entry["snapshot"]["content"], "something nasty");
    assert_eq!(entry["snapshot"]["deletedAt"], Value::Null);

    // Nobody else reads or dismisses reports, and the reported text is
    // nowhere in what they get.
    for who in [&alice, &bob, &eve] {
        let out = who.send(OPEN, json!({})).await;
        assert_eq!(out["errors"][0]["errorType"], "Unauthorized", "{out}");
        assert!(!out.to_string().contains("something nasty"));
        let out = who
            .send(DISMISS, json!({ "id": receipt["reportId"] }))
            .await;
        assert_eq!(out["errors"][0]["errorType"], "Unauthorized", "{out}");
    }
    // A forged group claim is a forged token: refused before anything runs.
    let mut claims = stack.running.idp.claims_for("eve");
    claims.insert("cognito:groups".into(), json!(["moderators"]));
    let forged = {
        let mut token = stack.running.idp.sign(&claims);
        token.push('x');
        token
    };
    let (status, body) = stack.post(Some(&forged), json!({ "query": OPEN })).await;
    assert_eq!(status, 401, "{body}");

    // An outsider cannot report what they cannot read, nor anyone their own.
    let out = eve
        .send(REPORT_MESSAGE, json!({ "c": room, "m": id, "r": "SPAM" }))
        .await;
    assert_eq!(out["errors"][0]["errorType"], "Unauthorized");
    let own = post(&alice, &room, "mine").await;
    let out = alice
        .send(REPORT_MESSAGE, json!({ "c": room, "m": own, "r": "SPAM" }))
        .await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError");
    let out = alice
        .send(
            REPORT_MESSAGE,
            json!({ "c": room, "m": "nope", "r": "SPAM" }),
        )
        .await;
    assert_eq!(out["errors"][0]["errorType"], "NotFound");
    let out = alice
        .send(REPORT_MESSAGE, json!({ "c": room, "m": id, "r": "BORED" }))
        .await;
    assert!(out["errors"][0].is_object(), "a reason off the list: {out}");

    // Dismissed: out of the open list, with who did it.
    let dismissed =
        mo.ok(DISMISS, json!({ "id": receipt["reportId"] })).await["dismissReport"].clone();
    assert_eq!(dismissed["status"], "DISMISSED");
    assert_eq!(dismissed["resolvedBy"], mo.id.as_str());
    assert!(items(&mo.ok(OPEN, json!({})).await).is_empty());
    let out = mo.send(DISMISS, json!({ "id": "user:nobody" })).await;
    assert_eq!(out["errors"][0]["errorType"], "NotFound");
}

#[tokio::test]
async fn users_are_reported_once_per_reporter_paged_for_moderators_and_reporting_is_rate_limited() {
    let stack = Stack::start_with_rates(RateLimits {
        reports_per_hour: 3,
        ..RateLimits::off()
    })
    .await;
    let alice = stack.user("alice").await;
    let carol = stack.user("carol").await;
    let mo = stack.moderator("mo").await;
    let mut targets = Vec::new();
    for name in ["t1", "t2", "t3"] {
        targets.push(stack.user(name).await);
    }
    for t in &targets {
        let out = alice
            .ok(REPORT_USER, json!({ "u": t.id, "r": "SPAM" }))
            .await;
        assert_eq!(out["reportUser"]["duplicate"], false);
    }
    // Her fourth report of the hour is refused, with when to try again.
    let over = alice
        .send(REPORT_USER, json!({ "u": targets[0].id, "r": "HATE" }))
        .await;
    assert_eq!(over["errors"][0]["errorType"], "RateLimited", "{over}");
    assert!(
        over["errors"][0]["errorInfo"]["retryAfterSeconds"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Carol's report of the same user joins Alice's.
    let long = "n".repeat(chat_domain::limits::MAX_REPORT_NOTE_CHARS);
    carol
        .ok(
            REPORT_USER,
            json!({ "u": targets[0].id, "r": "IMPERSONATION", "n": long }),
        )
        .await;
    let too_long = "n".repeat(chat_domain::limits::MAX_REPORT_NOTE_CHARS + 1);
    let out = carol
        .send(
            REPORT_USER,
            json!({ "u": targets[1].id, "r": "SPAM", "n": too_long }),
        )
        .await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError");
    let out = carol
        .send(REPORT_USER, json!({ "u": carol.id, "r": "SPAM" }))
        .await;
    assert_eq!(
        out["errors"][0]["errorType"], "ValidationError",
        "not oneself"
    );

    // Two pages of two, oldest first, three reports in all.
    let first = mo.ok(OPEN, json!({ "l": 2 })).await;
    let token = first["openReports"]["nextToken"].clone();
    assert!(token.is_string());
    let second = mo.ok(OPEN, json!({ "l": 2, "t": token })).await;
    let all: Vec<Value> = [items(&first), items(&second)].concat();
    let users: Vec<&str> = all.iter().map(|r| r["userId"].as_str().unwrap()).collect();
    assert_eq!(
        users,
        [
            targets[0].id.as_str(),
            targets[1].id.as_str(),
            targets[2].id.as_str()
        ]
    );
    assert_eq!(all[0]["reporters"], 2);
    assert_eq!(all[0]["entries"][1]["reason"], "IMPERSONATION");
    assert_eq!(all[0]["entries"][0]["snapshot"]["content"], "t1");
    // A page token is the moderators' list's own.
    let out = mo
        .send(
            "query($c: ID!, $t: String) { allMessageConnection(conversationId: $c, after: $t) { nextToken } }",
            json!({ "c": convo(&mo, "x", &[]).await, "t": token }),
        )
        .await;
    assert_eq!(out["errors"][0]["errorType"], "ValidationError", "{out}");
}

const ON_CHANGE: &str = "subscription($c: ID!) { onMessageChange(conversationId: $c) { kind message { id content deletedAt removedByModerator } } }";
const REMOVE: &str = "mutation($c: ID!, $m: ID!, $r: ID) { removeMessage(input: {id: $m, messageConversationId: $c}, reportId: $r) { id content deletedAt removedByModerator } }";
const AUDIT: &str = "query($l: Int, $t: String) { auditLog(limit: $l, nextToken: $t) { items { id at moderatorId action reportId userId conversationId messageId } nextToken } }";

#[tokio::test]
async fn a_moderator_removes_a_reported_message_live_and_the_audit_log_keeps_every_action() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let mo = stack.moderator("mo").await;
    let room = convo(&alice, "room", &[&bob]).await;
    let spam = post(&bob, &room, "buy my stuff").await;
    let other = post(&bob, &room, "hello").await;
    let report = alice
        .ok(REPORT_MESSAGE, json!({ "c": room, "m": spam, "r": "SPAM" }))
        .await["reportMessage"]["reportId"]
        .clone();
    alice
        .ok(REPORT_USER, json!({ "u": bob.id, "r": "SPAM" }))
        .await;
    let mut alice_ws = stack.ws(&alice).await;
    alice_ws
        .subscribe("c", ON_CHANGE, json!({ "c": room }))
        .await;
    alice_ws.sync().await;

    // Members cannot remove others' messages this way.
    let out = alice.send(REMOVE, json!({ "c": room, "m": other })).await;
    assert_eq!(out["errors"][0]["errorType"], "Unauthorized", "{out}");
    // The moderator, who is no member, removes the reported one.
    let removed = mo
        .ok(REMOVE, json!({ "c": room, "m": spam, "r": report }))
        .await["removeMessage"]
        .clone();
    assert_eq!(removed["removedByModerator"], true);
    assert_eq!(removed["content"], "");
    assert!(removed["deletedAt"].is_string());
    // Alice sees it go, live, as a delete that says who.
    let pushed = loop {
        match alice_ws.next().await {
            chat_tests::WsEvent::Message(m) if m["type"] == "next" => {
                break m["payload"]["data"]["onMessageChange"].clone()
            }
            chat_tests::WsEvent::Message(_) => continue,
            other => panic!("expected the removal, got {other:?}"),
        }
    };
    assert_eq!(pushed["kind"], "DELETED");
    assert_eq!(pushed["message"]["id"], spam.as_str());
    assert_eq!(pushed["message"]["removedByModerator"], true);
    // The history keeps the tombstone; the report is closed as actioned.
    let history = alice
        .ok(
            "query($c: ID!) { allMessageConnection(conversationId: $c) { messages { id content removedByModerator } } }",
            json!({ "c": room }),
        )
        .await;
    let messages = history["allMessageConnection"]["messages"]
        .as_array()
        .unwrap()
        .clone();
    let tomb = messages.iter().find(|m| m["id"] == spam.as_str()).unwrap();
    assert_eq!(
        (
            tomb["content"].as_str(),
            tomb["removedByModerator"].as_bool()
        ),
        (Some(""), Some(true))
    );
    let open = items(&mo.ok(OPEN, json!({})).await);
    assert_eq!(open.len(), 1, "only the user report is left: {open:?}");
    assert_eq!(open[0]["kind"], "USER");
    // A removal naming a report that does not exist changes nothing.
    let out = mo
        .send(REMOVE, json!({ "c": room, "m": other, "r": "user:nobody" }))
        .await;
    assert_eq!(out["errors"][0]["errorType"], "NotFound", "{out}");
    // Dismissing the other report; then the log, newest first, two a page.
    mo.ok(DISMISS, json!({ "id": open[0]["id"] })).await;
    let first = mo.ok(AUDIT, json!({ "l": 1 })).await;
    let newest = &first["auditLog"]["items"][0];
    assert_eq!(newest["action"], "DISMISS_REPORT");
    assert_eq!(newest["moderatorId"], mo.id.as_str());
    let second = mo
        .ok(
            AUDIT,
            json!({ "l": 1, "t": first["auditLog"]["nextToken"] }),
        )
        .await;
    let older = &second["auditLog"]["items"][0];
    assert_eq!(older["action"], "REMOVE_MESSAGE");
    assert_eq!(older["messageId"], spam.as_str());
    assert_eq!(older["userId"], bob.id.as_str());
    assert_eq!(older["reportId"], report);
    let rest = mo
        .ok(
            AUDIT,
            json!({ "l": 5, "t": second["auditLog"]["nextToken"] }),
        )
        .await;
    assert!(
        rest["auditLog"]["items"].as_array().unwrap().is_empty(),
        "{rest}"
    );
    for who in [&alice, &bob] {
        let out = who.send(AUDIT, json!({})).await;
        assert_eq!(out["errors"][0]["errorType"], "Unauthorized");
    }
    alice_ws.close().await;
}
