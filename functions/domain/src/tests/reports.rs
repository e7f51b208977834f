use super::*;
use crate::messages::{MessageEdit, MessageRef};
use crate::page::PageRequest;
use crate::rates::RateLimits;
use crate::reports::{ReportReason, ReportStatus};

#[tokio::test]
async fn a_report_keeps_what_was_said_after_an_edit_and_a_delete_and_only_moderators_read_it() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let eve = user(&svc, "eve").await;
    let moderator = moderator(&svc, "mo").await;
    let id = room(&svc, &alice, &[&bob]).await;
    post(&svc, &bob, &id, "m1", "something nasty").await;
    let receipt = svc
        .report_message(
            &alice,
            &id,
            "m1",
            ReportReason::Harassment,
            Some("  again  "),
        )
        .await
        .unwrap();
    assert!(!receipt.duplicate);
    // The author edits, then deletes: the report keeps what Alice saw.
    let sel = MessageSel::default();
    let edit = MessageEdit {
        id: "m1".into(),
        conversation_id: id.clone(),
        content: "nice".into(),
    };
    svc.update_message(&bob, edit, &sel).await.unwrap();
    let target = MessageRef {
        id: "m1".into(),
        conversation_id: id.clone(),
    };
    svc.delete_message(&bob, target, &sel).await.unwrap();
    let open = svc
        .open_reports(&moderator, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    let report = &open.items[0];
    assert_eq!(report.id, receipt.report_id);
    assert_eq!(report.user_id, bob.id);
    assert_eq!(report.entries[0].snapshot.content, "something nasty");
    assert_eq!(report.entries[0].note.as_deref(), Some("again"));
    // Nobody else reads reports; outsiders cannot report what they cannot read.
    assert_eq!(
        kind(svc.open_reports(&alice, PageRequest::default()).await),
        ErrorKind::Unauthorized
    );
    let outsider = svc
        .report_message(&eve, &id, "m1", ReportReason::Spam, None)
        .await;
    assert_eq!(kind(outsider), ErrorKind::Unauthorized);
    let own = svc
        .report_message(&bob, &id, "m1", ReportReason::Spam, None)
        .await;
    assert_eq!(kind(own), ErrorKind::Validation);
    let missing = svc
        .report_message(&alice, &id, "nope", ReportReason::Spam, None)
        .await;
    assert_eq!(kind(missing), ErrorKind::NotFound);
}

#[tokio::test]
async fn one_users_repeated_reports_count_once_and_a_dismissed_report_opens_again() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let moderator = moderator(&svc, "mo").await;
    let first = svc
        .report_user(&alice, &bob.id, ReportReason::Spam, None)
        .await
        .unwrap();
    let again = svc
        .report_user(&alice, &bob.id, ReportReason::Hate, Some("more"))
        .await
        .unwrap();
    assert!(again.duplicate && !first.duplicate);
    assert_eq!(again.report_id, first.report_id);
    svc.report_user(&carol, &bob.id, ReportReason::Impersonation, None)
        .await
        .unwrap();
    let open = svc
        .open_reports(&moderator, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    assert_eq!(
        open.items[0].reporters, 2,
        "Alice's second report counted once"
    );
    let reasons: Vec<ReportReason> = open.items[0].entries.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, [ReportReason::Spam, ReportReason::Impersonation]);
    assert_eq!(open.items[0].entries[0].snapshot.content, "bob");
    // Dismissed: out of the open list, and who did it is kept.
    let dismissed = svc
        .dismiss_report(&moderator, &first.report_id)
        .await
        .unwrap();
    assert_eq!(dismissed.status, ReportStatus::Dismissed);
    assert_eq!(
        dismissed.resolved_by.as_deref(),
        Some(moderator.id.as_str())
    );
    assert!(svc
        .open_reports(&moderator, PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        kind(svc.dismiss_report(&alice, &first.report_id).await),
        ErrorKind::Unauthorized
    );
    assert_eq!(
        kind(svc.dismiss_report(&moderator, "user:nobody").await),
        ErrorKind::NotFound
    );
    // A new reporter opens it again.
    let dave = user(&svc, "dave").await;
    svc.report_user(&dave, &bob.id, ReportReason::Other, None)
        .await
        .unwrap();
    assert_eq!(
        svc.open_reports(&moderator, PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // Bad input.
    assert_eq!(
        kind(
            svc.report_user(&alice, &alice.id, ReportReason::Spam, None)
                .await
        ),
        ErrorKind::Validation
    );
    let long = "x".repeat(crate::limits::MAX_REPORT_NOTE_CHARS + 1);
    assert_eq!(
        kind(
            svc.report_user(&carol, &alice.id, ReportReason::Spam, Some(&long))
                .await
        ),
        ErrorKind::Validation
    );
    let edge = "x".repeat(crate::limits::MAX_REPORT_NOTE_CHARS);
    svc.report_user(&carol, &alice.id, ReportReason::Spam, Some(&edge))
        .await
        .unwrap();
    assert_eq!(
        kind(
            svc.report_user(&carol, "nobody", ReportReason::Spam, None)
                .await
        ),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn reporting_is_rate_limited_per_user() {
    let svc = service().with_rate_limits(RateLimits {
        reports_per_hour: 2,
        ..RateLimits::off()
    });
    let alice = user(&svc, "alice").await;
    let targets = [
        user(&svc, "b").await,
        user(&svc, "c").await,
        user(&svc, "d").await,
    ];
    for t in &targets[..2] {
        svc.report_user(&alice, &t.id, ReportReason::Spam, None)
            .await
            .unwrap();
    }
    let over = svc
        .report_user(&alice, &targets[2].id, ReportReason::Spam, None)
        .await;
    assert_eq!(kind(over), ErrorKind::RateLimited);
}

#[tokio::test]
async fn a_moderator_removes_a_message_anywhere_closing_its_report_and_every_action_is_logged() {
    use crate::reports::ModerationAction;
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let moderator = moderator(&svc, "mo").await;
    let id = room(&svc, &alice, &[&bob]).await;
    post(&svc, &bob, &id, "m1", "spam spam").await;
    post(&svc, &bob, &id, "m2", "more spam").await;
    let receipt = svc
        .report_message(&alice, &id, "m1", ReportReason::Spam, None)
        .await
        .unwrap();
    let sel = MessageSel::default();
    let target = |m: &str| MessageRef {
        id: m.into(),
        conversation_id: id.clone(),
    };
    // Only moderators remove; a member, even the conversation's owner, cannot.
    let refused = svc.remove_message(&alice, target("m1"), None, &sel).await;
    assert_eq!(kind(refused), ErrorKind::Unauthorized);
    let before = published(&svc).len();
    let removed = svc
        .remove_message(&moderator, target("m1"), Some(&receipt.report_id), &sel)
        .await
        .unwrap();
    assert!(removed.message.removed_by_moderator);
    assert!(removed.message.deleted_at.is_some() && removed.message.content.is_empty());
    assert_eq!(published(&svc).len(), before + 1, "pushed as a delete");
    // Again: nothing changes, nothing more is pushed or logged.
    svc.remove_message(&moderator, target("m1"), None, &sel)
        .await
        .unwrap();
    assert_eq!(published(&svc).len(), before + 1);
    // The members' history shows the tombstone.
    let history = svc
        .message_history(&alice, &id, Default::default(), &sel)
        .await
        .unwrap();
    let m1 = history.items.iter().find(|v| v.message.id == "m1").unwrap();
    assert!(m1.message.removed_by_moderator && m1.message.content.is_empty());
    // The report is closed as actioned; a missing report refuses the removal.
    assert!(svc
        .open_reports(&moderator, PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
    svc.dismiss_report(&moderator, &format!("user:{}", bob.id))
        .await
        .unwrap_err();
    // The log, newest first: the removal (a failed dismissal logs nothing).
    let log = svc
        .audit_log(&moderator, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1, "{:?}", log.items);
    let entry = &log.items[0];
    assert_eq!(entry.action, ModerationAction::RemoveMessage);
    assert_eq!(entry.moderator_id, moderator.id);
    assert_eq!(entry.user_id.as_deref(), Some(bob.id.as_str()));
    assert_eq!(entry.report_id.as_deref(), Some(receipt.report_id.as_str()));
    assert_eq!(
        kind(svc.audit_log(&alice, PageRequest::default()).await),
        ErrorKind::Unauthorized
    );
    let bad = svc
        .remove_message(&moderator, target("m2"), Some("nonsense"), &sel)
        .await;
    assert_eq!(kind(bad), ErrorKind::Validation);
}
