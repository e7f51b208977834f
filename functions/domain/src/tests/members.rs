use super::*;
use crate::graph::{ConvoSel, LinkSel};
use crate::limits;
use crate::model::{Caller, MemberChangeKind};

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

/// Fills `room` (owned by `owner`) with new users through the store, as
/// `createConvoLink` adds them, until it has `count` members.
async fn fill(svc: &Service, owner: &Caller, room: &str, count: usize) {
    use crate::ports::ConversationStore;
    let mut have = convo_of(svc, owner, room).await.member_count;
    while have < count {
        let who = user(svc, &format!("filler{have:05}")).await;
        let link = crate::model::ConvoLink::new(room, &who.id, "2026-01-01T00:00:00.000Z");
        let added = svc
            .store
            .add_member(&owner.id, &link, limits::MAX_MEMBERS)
            .await
            .unwrap();
        assert_eq!(added, crate::ports::AddMemberOutcome::Added);
        have += 1;
    }
}

async fn convo_of(svc: &Service, who: &Caller, room: &str) -> crate::Conversation {
    svc.get_convo(who, room, &ConvoSel::default())
        .await
        .unwrap()
        .conversation
}

#[tokio::test]
async fn past_the_listed_members_a_member_is_one_in_every_rule() {
    let svc = service().with_rate_limits(crate::rates::RateLimits::off());
    let alice = user(&svc, "alice").await;
    let listed = user(&svc, "listed").await;
    let id = room(&svc, &alice, &[&listed]).await;
    fill(&svc, &alice, &id, limits::MAX_LISTED_MEMBERS).await;
    let (bob, carol, dave) = (
        user(&svc, "bob").await,
        user(&svc, "carol").await,
        user(&svc, "dave").await,
    );
    for who in [&bob, &carol, &dave] {
        svc.create_convo_link(&alice, &id, Some(&who.id), &LinkSel::default())
            .await
            .unwrap();
    }
    // The list is full; the count goes on. Bob reads as a member.
    let convo = convo_of(&svc, &bob, &id).await;
    assert_eq!(convo.members.len(), limits::MAX_LISTED_MEMBERS);
    assert_eq!(convo.member_count, limits::MAX_LISTED_MEMBERS + 3);
    assert!(!convo.members.contains(&bob.id) && !convo.lists_all());
    // He posts; naming Carol (unlisted) mentions her, and the inbox order
    // reaches his link.
    let posted = post(&svc, &bob, &id, "m1", "hi @carol and @nobody").await;
    assert_eq!(posted.message.mentions, [carol.id.as_str()]);
    let link = stored_links(&svc, &bob).await;
    assert_eq!(
        link[0].activity.as_deref(),
        Some(posted.message.seq.as_str())
    );
    // An edit resolves its mentions the same way.
    let edited = svc
        .update_message(
            &bob,
            crate::messages::MessageEdit {
                conversation_id: id.clone(),
                id: "m1".into(),
                content: "now @dave".into(),
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(edited.message.mentions, [dave.id.as_str()]);
    // An owner promotes him, and removes Carol; Dave leaves. Each counts.
    svc.promote_member(&alice, &id, &bob.id).await.unwrap();
    svc.remove_member(&alice, &id, &carol.id).await.unwrap();
    svc.leave_convo(&dave, &id).await.unwrap();
    assert_eq!(
        kind(svc.get_convo(&carol, &id, &ConvoSel::default()).await),
        ErrorKind::Unauthorized
    );
    let convo = convo_of(&svc, &bob, &id).await;
    assert_eq!(convo.owners, [alice.id.clone(), bob.id.clone()]);
    assert_eq!(convo.member_count, limits::MAX_LISTED_MEMBERS + 1);
    // Removing Carol again, or promoting her, finds no member.
    svc.remove_member(&alice, &id, &carol.id).await.unwrap();
    assert_eq!(
        kind(svc.promote_member(&alice, &id, &carol.id).await),
        ErrorKind::NotFound
    );
    // A listed member leaving frees a place on the list for the next.
    svc.leave_convo(&listed, &id).await.unwrap();
    svc.create_convo_link(&alice, &id, Some(&carol.id), &LinkSel::default())
        .await
        .unwrap();
    let convo = convo_of(&svc, &bob, &id).await;
    assert_eq!(convo.members.len(), limits::MAX_LISTED_MEMBERS);
    assert_eq!(convo.members.last(), Some(&carol.id));
    assert_eq!(convo.member_count, limits::MAX_LISTED_MEMBERS + 1);
}

#[tokio::test]
async fn a_conversation_takes_at_most_max_members_and_max_owners() {
    let svc = service().with_rate_limits(crate::rates::RateLimits::off());
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    fill(&svc, &alice, &id, limits::MAX_MEMBERS - 1).await;
    let (last, over) = (user(&svc, "last").await, user(&svc, "over").await);
    svc.create_convo_link(&alice, &id, Some(&last.id), &LinkSel::default())
        .await
        .unwrap();
    let full = svc
        .create_convo_link(&alice, &id, Some(&over.id), &LinkSel::default())
        .await;
    assert_eq!(kind(full), ErrorKind::LimitExceeded);
    assert_eq!(
        convo_of(&svc, &alice, &id).await.member_count,
        limits::MAX_MEMBERS
    );
    // A member already in is still confirmed, full or not.
    svc.create_convo_link(&alice, &id, Some(&last.id), &LinkSel::default())
        .await
        .unwrap();

    // Owners: the creator and MAX_OWNERS - 1 promoted, then no more.
    let convo = convo_of(&svc, &alice, &id).await;
    for member in &convo.members[1..limits::MAX_OWNERS] {
        svc.promote_member(&alice, &id, member).await.unwrap();
    }
    let one_more = &convo.members[limits::MAX_OWNERS];
    assert_eq!(
        kind(svc.promote_member(&alice, &id, one_more).await),
        ErrorKind::LimitExceeded
    );
    assert_eq!(
        convo_of(&svc, &alice, &id).await.owners.len(),
        limits::MAX_OWNERS
    );
}
