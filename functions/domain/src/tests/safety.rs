use super::*;
use crate::limits::MAX_BLOCKED_USERS;
use crate::messages::MessageEdit;
use crate::moderation::ModerationAction;
use crate::page::PageRequest;
use crate::reports::ReportReason;
use crate::standing::Sanction;

fn contents(page: &[MessageView]) -> Vec<&str> {
    page.iter().map(|m| m.message.content.as_str()).collect()
}

#[tokio::test]
async fn a_blocker_no_longer_sees_the_blocked_users_messages_anywhere_and_they_are_not_told() {
    let svc = service();
    let ann = user(&svc, "ann").await;
    let ben = user(&svc, "ben").await;
    let cat = user(&svc, "cat").await;
    let id = room(&svc, &ann, &[&ben, &cat]).await;
    post(&svc, &ben, &id, "b1", "before the block").await;
    post(&svc, &cat, &id, "c1", "from cat").await;
    let sel = MessageSel::default();
    let start = svc
        .message_changes(&ann, &id, None, None, &sel)
        .await
        .unwrap();
    let entry = svc.block_user(&ann, &ben.id).await.unwrap();
    assert_eq!(entry.user_id, ben.id);
    // Idempotent: the same entry again.
    assert_eq!(svc.block_user(&ann, &ben.id).await.unwrap(), entry);
    post(&svc, &ben, &id, "b2", "after the block").await;
    // Live: the push leaves Ann out, and only Ann.
    let pushed: Vec<Vec<String>> = published(&svc)
        .into_iter()
        .filter_map(|p| match p {
            Published::Message(m) if m.message.id == "b2" => Some(m.hidden_from),
            _ => None,
        })
        .collect();
    assert_eq!(pushed, vec![vec![ann.id.clone()]]);
    // History: Ben's messages, old and new, are gone for Ann only.
    let history = |who: Caller| {
        let svc = &svc;
        let id = id.clone();
        async move {
            svc.message_history(&who, &id, PageRequest::default(), &MessageSel::default())
                .await
                .unwrap()
                .items
        }
    };
    assert_eq!(contents(&history(ann.clone()).await), vec!["from cat"]);
    assert_eq!(contents(&history(cat.clone()).await).len(), 3);
    // Inbox: the preview skips Ben, and so does the unread count.
    let inbox = svc.inbox(&ann, PageRequest::default(), &sel).await.unwrap();
    let entry = &inbox.items[0];
    assert_eq!(
        entry
            .last_message
            .as_ref()
            .map(|m| m.message.content.as_str()),
        Some("from cat")
    );
    assert_eq!(entry.unread_count, 1);
    // Catch-up: no entry of Ben's.
    let changes = svc
        .message_changes(&ann, &id, Some(&start.cursor), Some(100), &sel)
        .await
        .unwrap();
    let authors: Vec<&str> = changes
        .items
        .iter()
        .map(|c| c.message.message.author_id.as_str())
        .collect();
    assert_eq!(authors, vec![cat.id.as_str()]);
    // An edit of Ben's is not pushed to Ann either.
    let edit = MessageEdit {
        id: "b2".into(),
        conversation_id: id.clone(),
        content: "edited".into(),
    };
    svc.update_message(&ben, edit, &sel).await.unwrap();
    let Some(Published::Message(edited)) = published(&svc).pop() else {
        panic!("the edit was not pushed");
    };
    assert_eq!(edited.hidden_from, vec![ann.id.clone()]);
    // Ben is not told: he reads Ann's list nowhere, and still sees her.
    post(&svc, &ann, &id, "a1", "from ann").await;
    assert!(contents(&history(ben.clone()).await).contains(&"from ann"));
    assert!(svc.blocked_users(&ben).await.unwrap().is_empty());
    // Unblocked: everything is back.
    assert!(svc.unblock_user(&ann, &ben.id).await.unwrap());
    assert!(!svc.unblock_user(&ann, &ben.id).await.unwrap());
    assert_eq!(contents(&history(ann.clone()).await).len(), 4);
}

#[tokio::test]
async fn a_blocked_user_cannot_start_a_conversation_with_the_blocker_or_add_them() {
    let svc = service();
    let ann = user(&svc, "ann").await;
    let ben = user(&svc, "ben").await;
    let cat = user(&svc, "cat").await;
    svc.block_user(&ann, &ben.id).await.unwrap();
    let refused = svc
        .create_convo(&ben, "hi", std::slice::from_ref(&ann.id))
        .await;
    assert_eq!(kind(refused), ErrorKind::Unauthorized);
    let id = room(&svc, &ben, &[&cat]).await;
    let refused = svc
        .create_convo_link(&ben, &id, Some(&ann.id), &Default::default())
        .await;
    assert_eq!(kind(refused), ErrorKind::Unauthorized);
    // Someone else may add Ann; Ann may start one with Ben.
    svc.create_convo_link(&cat, &id, Some(&ann.id), &Default::default())
        .await
        .unwrap();
    svc.create_convo(&ann, "mine", std::slice::from_ref(&ben.id))
        .await
        .unwrap();
}

#[tokio::test]
async fn blocking_has_its_limits_and_each_is_refused_clearly() {
    let svc = service();
    let ann = user(&svc, "ann").await;
    assert_eq!(
        kind(svc.block_user(&ann, &ann.id).await),
        ErrorKind::Validation
    );
    assert_eq!(
        kind(svc.block_user(&ann, "nobody").await),
        ErrorKind::NotFound
    );
    for i in 0..MAX_BLOCKED_USERS {
        let other = user(&svc, &format!("u{i}")).await;
        svc.block_user(&ann, &other.id).await.unwrap();
    }
    let one_more = user(&svc, "one-more").await;
    assert_eq!(
        kind(svc.block_user(&ann, &one_more.id).await),
        ErrorKind::LimitExceeded
    );
    let list = svc.blocked_users(&ann).await.unwrap();
    assert_eq!(list.len(), MAX_BLOCKED_USERS);
    svc.unblock_user(&ann, &list[0].user_id).await.unwrap();
    svc.block_user(&ann, &one_more.id).await.unwrap();
}

#[tokio::test]
async fn a_suspended_user_is_refused_until_it_ends_and_a_ban_until_lifted() {
    let svc = service();
    let mo = moderator(&svc, "mo").await;
    let ben = user(&svc, "ben").await;
    let ann = user(&svc, "ann").await;
    assert!(svc.admit(ben.clone()).await.is_ok());
    // Moderators only, never themselves, and within the limits.
    let refused = svc
        .sanction_user(&ann, &ben.id, Sanction::Ban, None, None)
        .await;
    assert_eq!(kind(refused), ErrorKind::Unauthorized);
    let refused = svc
        .sanction_user(&mo, &mo.id, Sanction::Ban, None, None)
        .await;
    assert_eq!(kind(refused), ErrorKind::Validation);
    for hours in [0, crate::limits::MAX_SUSPENSION_HOURS + 1] {
        let refused = svc
            .sanction_user(&mo, &ben.id, Sanction::Suspend { hours }, None, None)
            .await;
        assert_eq!(kind(refused), ErrorKind::Validation, "{hours} hours");
    }
    let standing = svc
        .sanction_user(
            &mo,
            &ben.id,
            Sanction::Suspend {
                hours: crate::limits::MAX_SUSPENSION_HOURS,
            },
            Some("spam"),
            None,
        )
        .await
        .unwrap();
    assert!(!standing.banned);
    let err = svc.admit(ben.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Suspended);
    assert_eq!(
        err.info().unwrap()["suspendedUntil"],
        serde_json::json!(standing.suspended_until)
    );
    assert!(published(&svc).contains(&Published::Disconnected(ben.id.clone())));
    // A ban replaces it; reinstating lifts it.
    svc.sanction_user(&mo, &ben.id, Sanction::Ban, None, None)
        .await
        .unwrap();
    let err = svc.admit(ben.clone()).await.unwrap_err();
    assert_eq!(err.info().unwrap()["banned"], true);
    assert!(svc.reinstate_user(&mo, &ben.id).await.unwrap().is_some());
    assert!(svc.admit(ben.clone()).await.is_ok());
    assert!(svc.reinstate_user(&mo, &ben.id).await.unwrap().is_none());
    // Every action is in the audit log, newest first.
    let log = svc.audit_log(&mo, PageRequest::default()).await.unwrap();
    let actions: Vec<ModerationAction> = log.items.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            ModerationAction::ReinstateUser,
            ModerationAction::ReinstateUser,
            ModerationAction::BanUser,
            ModerationAction::SuspendUser
        ]
    );
    assert_eq!(log.items[3].reason.as_deref(), Some("spam"));
}

#[tokio::test]
async fn a_past_suspension_bars_nobody() {
    let standing = crate::safety::Standing {
        user_id: "u".into(),
        banned: false,
        suspended_until: Some("2026-01-01T00:00:00.000Z".into()),
        by: "m".into(),
        at: "2025-12-01T00:00:00.000Z".into(),
        reason: None,
    };
    assert!(standing.bars("2025-12-31T23:59:59.999Z"));
    assert!(!standing.bars("2026-01-01T00:00:00.000Z"));
}

#[tokio::test]
async fn banning_from_a_report_closes_the_report_as_actioned() {
    let svc = service();
    let mo = moderator(&svc, "mo").await;
    let ann = user(&svc, "ann").await;
    let ben = user(&svc, "ben").await;
    let receipt = svc
        .report_user(&ann, &ben.id, ReportReason::Spam, None)
        .await
        .unwrap();
    let missing = svc
        .sanction_user(&mo, &ben.id, Sanction::Ban, None, Some("user:nobody"))
        .await;
    assert_eq!(kind(missing), ErrorKind::NotFound);
    svc.sanction_user(&mo, &ben.id, Sanction::Ban, None, Some(&receipt.report_id))
        .await
        .unwrap();
    let open = svc.open_reports(&mo, PageRequest::default()).await.unwrap();
    assert!(open.items.is_empty());
}
