use super::*;
use crate::graph::{ConvoSel, LinkSel};
use crate::model::MemberChangeKind;

#[tokio::test]
async fn members_add_members_idempotently_and_outsiders_cannot() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = LinkSel::default();
    assert_eq!(
        kind(
            svc.create_convo_link(&carol, &id, Some(&bob.id), &sel)
                .await
        ),
        ErrorKind::Unauthorized
    );
    let added = svc
        .create_convo_link(&alice, &id, Some(&bob.id), &sel)
        .await
        .unwrap();
    let again = svc
        .create_convo_link(&alice, &id, Some(&bob.id), &sel)
        .await
        .unwrap();
    assert_eq!(added.link, again.link);
    assert_eq!(
        kind(
            svc.create_convo_link(&alice, &id, Some("nobody"), &sel)
                .await
        ),
        ErrorKind::NotFound
    );
    let convo = svc
        .get_convo(&bob, &id, &ConvoSel::default())
        .await
        .unwrap();
    assert_eq!(
        convo.conversation.members,
        [alice.id.clone(), bob.id.clone()]
    );
}

#[tokio::test]
async fn an_owner_removes_a_member_who_loses_access_and_live_subscriptions() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[&bob, &carol]).await;
    // Only an owner, never an owner, never oneself.
    assert_eq!(
        kind(svc.remove_member(&bob, &id, &carol.id).await),
        ErrorKind::Unauthorized
    );
    assert_eq!(
        kind(svc.remove_member(&alice, &id, &alice.id).await),
        ErrorKind::Validation
    );
    let removed = svc.remove_member(&alice, &id, &carol.id).await.unwrap();
    assert_eq!(removed.kind, MemberChangeKind::Removed);
    assert_eq!(
        kind(svc.get_convo(&carol, &id, &ConvoSel::default()).await),
        ErrorKind::Unauthorized
    );
    let revoked = Published::Revoked {
        conversation_id: id.clone(),
        user_id: carol.id.clone(),
    };
    let log = published(&svc);
    assert!(log.contains(&Published::Member(removed.clone())), "{log:?}");
    assert_eq!(
        log.last(),
        Some(&revoked),
        "pushed, then her subscriptions end"
    );
    // A retry changes and pushes nothing, but ends any subscription left.
    let before = published(&svc).len();
    svc.remove_member(&alice, &id, &carol.id).await.unwrap();
    assert_eq!(published(&svc)[before..], [revoked]);
}

#[tokio::test]
async fn the_last_owner_promotes_someone_before_leaving() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let id = room(&svc, &alice, &[&bob]).await;
    assert_eq!(
        kind(svc.leave_convo(&alice, &id).await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(svc.promote_member(&bob, &id, &alice.id).await),
        ErrorKind::Unauthorized
    );
    svc.promote_member(&alice, &id, &bob.id).await.unwrap();
    let left = svc.leave_convo(&alice, &id).await.unwrap();
    assert_eq!(left.kind, MemberChangeKind::Left);
    let convo = svc
        .get_convo(&bob, &id, &ConvoSel::default())
        .await
        .unwrap()
        .conversation;
    assert_eq!(convo.members, [bob.id.as_str()]);
    assert_eq!(convo.owners, [bob.id.as_str()]);
    // Leaving again answers as if done.
    assert_eq!(
        svc.leave_convo(&alice, &id).await.unwrap().kind,
        MemberChangeKind::Left
    );
}
