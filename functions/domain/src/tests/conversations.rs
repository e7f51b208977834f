use super::*;
use crate::graph::ConvoSel;
use crate::ConversationStore;

#[tokio::test]
async fn create_convo_includes_the_caller_and_links_every_member_at_once() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let ids = vec![bob.id.clone(), bob.id.clone(), alice.id.clone()];
    let (convo, links) = svc.create_convo(&alice, "room", &ids).await.unwrap();
    assert_eq!(convo.members, [alice.id.clone(), bob.id.clone()]);
    assert_eq!(convo.owners, [alice.id.as_str()]);
    assert_eq!(links.len(), 2);
    for who in [&alice, &bob] {
        let (link, _) = svc
            .store
            .membership(&who.id, &convo.id, false)
            .await
            .unwrap();
        assert!(link.is_some(), "{} is linked", who.username);
    }
}

#[tokio::test]
async fn create_convo_refuses_unknown_members_a_caller_without_profile_and_too_many() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let missing = vec!["nobody".to_string()];
    assert_eq!(
        kind(svc.create_convo(&alice, "room", &missing).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(svc.create_convo(&caller("ghost"), "room", &[]).await),
        ErrorKind::NotFound
    );
    let many: Vec<String> = (0..crate::limits::MAX_INITIAL_MEMBERS)
        .map(|i| format!("u{i}"))
        .collect();
    assert_eq!(
        kind(svc.create_convo(&alice, "room", &many).await),
        ErrorKind::Validation
    );
    assert_eq!(
        kind(svc.create_convo(&alice, "", &[]).await),
        ErrorKind::Validation
    );
    // Nothing half-made: no conversation was stored.
    assert!(stored_links(&svc, &alice).await.is_empty());
}

#[tokio::test]
async fn only_members_read_a_conversation_and_one_not_there_looks_the_same() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = ConvoSel::default();
    assert_eq!(
        svc.get_convo(&alice, &id, &sel)
            .await
            .unwrap()
            .conversation
            .id,
        id
    );
    let outsider = kind(svc.get_convo(&carol, &id, &sel).await);
    let nowhere = kind(svc.get_convo(&carol, "no-such-room", &sel).await);
    assert_eq!(outsider, ErrorKind::Unauthorized);
    assert_eq!(outsider, nowhere);
}
