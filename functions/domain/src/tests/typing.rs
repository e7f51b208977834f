use super::*;

#[tokio::test]
async fn one_typing_signal_per_interval_goes_out_to_members_and_none_is_stored() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[&bob]).await;
    let before = published(&svc).len();
    assert!(svc.typing(&alice, &id).await.unwrap().sent);
    assert!(
        !svc.typing(&alice, &id).await.unwrap().sent,
        "within the interval"
    );
    assert!(
        svc.typing(&bob, &id).await.unwrap().sent,
        "another member's own"
    );
    let pushed: Vec<_> = published(&svc)[before..].to_vec();
    assert_eq!(pushed.len(), 2);
    assert!(pushed.iter().all(|p| matches!(p, Published::Typing(_))));
    assert_eq!(kind(svc.typing(&carol, &id).await), ErrorKind::Unauthorized);
    assert!(
        svc.store.change_log(&id).is_empty(),
        "nothing in the change log"
    );
}
