use super::*;
use crate::messages::MessageRef;
use crate::page::PageRequest;

#[tokio::test]
async fn the_inbox_lists_conversations_by_activity_with_previews_and_unread_counts() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let quiet = room(&svc, &alice, &[&bob]).await;
    let busy = room(&svc, &alice, &[&bob]).await;
    post(&svc, &alice, &quiet, "q1", "first").await;
    post(&svc, &alice, &busy, "b1", "one").await;
    post(&svc, &alice, &busy, "b2", "two").await;
    post(&svc, &bob, &busy, "b3", "mine").await;
    let sel = MessageSel::default();
    let inbox = svc.inbox(&bob, PageRequest::default(), &sel).await.unwrap();
    let rows: Vec<(&str, usize, Option<&str>)> = inbox
        .items
        .iter()
        .map(|e| {
            (
                e.conversation_id.as_str(),
                e.unread_count,
                e.last_message.as_ref().map(|m| m.message.id.as_str()),
            )
        })
        .collect();
    // Bob's own message reads up to it: nothing unread in the busy room.
    assert_eq!(
        rows,
        [
            (busy.as_str(), 0, Some("b3")),
            (quiet.as_str(), 1, Some("q1"))
        ]
    );
    let alice_view = svc
        .inbox(&alice, PageRequest::default(), &sel)
        .await
        .unwrap();
    assert_eq!(alice_view.items[0].unread_count, 1, "bob's message");
    // A deleted newest message is previewed as its tombstone, and unread no more.
    let target = MessageRef {
        id: "b3".into(),
        conversation_id: busy.clone(),
    };
    svc.delete_message(&bob, target, &sel).await.unwrap();
    let alice_view = svc
        .inbox(&alice, PageRequest::default(), &sel)
        .await
        .unwrap();
    let preview = alice_view.items[0].last_message.as_ref().unwrap();
    assert_eq!(preview.message.content, "");
    assert_eq!(alice_view.items[0].unread_count, 0);
    let page = PageRequest {
        limit: Some(crate::limits::MAX_INBOX_PAGE as i64 + 1),
        next_token: None,
    };
    assert_eq!(
        kind(svc.inbox(&alice, page, &sel).await),
        ErrorKind::Validation
    );
}
