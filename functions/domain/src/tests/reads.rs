use super::*;

#[tokio::test]
async fn a_read_marker_moves_forward_only_and_is_pushed_when_it_moves() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let id = room(&svc, &alice, &[&bob]).await;
    post(&svc, &alice, &id, "m1", "one").await;
    post(&svc, &alice, &id, "m2", "two").await;
    let pushed_reads = |svc: &Service| {
        published(svc)
            .into_iter()
            .filter(|p| matches!(p, Published::Read(_)))
            .count()
    };
    let at_two = svc.mark_read(&bob, &id, "m2").await.unwrap();
    assert_eq!(at_two.message_id, "m2");
    assert_eq!(pushed_reads(&svc), 1);
    // Back to an older message, or the same one: the marker stays, unpushed.
    assert_eq!(
        svc.mark_read(&bob, &id, "m1").await.unwrap().message_id,
        "m2"
    );
    assert_eq!(
        svc.mark_read(&bob, &id, "m2").await.unwrap().message_id,
        "m2"
    );
    assert_eq!(pushed_reads(&svc), 1);
    assert_eq!(
        kind(svc.mark_read(&bob, &id, "nope").await),
        ErrorKind::NotFound
    );
    let carol = user(&svc, "carol").await;
    assert_eq!(
        kind(svc.mark_read(&carol, &id, "m1").await),
        ErrorKind::Unauthorized
    );
}
