use super::*;
use crate::graph::Nested;
use crate::page::PageRequest;

#[tokio::test]
async fn create_user_is_idempotent_and_usernames_are_unique_whatever_their_case() {
    let svc = service();
    let alice = caller("alice");
    let first = svc.create_user(&alice, "alice").await.unwrap();
    assert_eq!(svc.create_user(&alice, "alice").await.unwrap(), first);
    assert_eq!(
        kind(svc.create_user(&alice, "alicia").await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(svc.create_user(&caller("mallory"), "ALICE").await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(svc.create_user(&caller("bob"), "").await),
        ErrorKind::Validation
    );
    // Pushed once, as it was made.
    assert_eq!(published(&svc), [Published::User(first)]);
}

#[tokio::test]
async fn profiles_are_public_and_a_conversation_list_is_its_owners_alone() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    room(&svc, &alice, &[&bob]).await;
    let sel = with_conversations();
    let own = svc
        .get_user(&alice, &alice.id, &sel)
        .await
        .unwrap()
        .unwrap();
    match own.conversations {
        Some(Nested::Value(page)) => assert_eq!(page.items.len(), 1),
        other => panic!("expected her conversations, got {other:?}"),
    }
    let theirs = svc.get_user(&alice, &bob.id, &sel).await.unwrap().unwrap();
    assert_eq!(theirs.user.username, "bob");
    match theirs.conversations {
        Some(Nested::Refused(r)) => assert_eq!(r.error.error_type, "Unauthorized"),
        other => panic!("expected a refusal at the field, got {other:?}"),
    }
    assert!(svc
        .get_user(&alice, "nobody", &sel)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn me_is_null_before_create_user_and_users_page_by_username() {
    let svc = service();
    assert!(svc
        .me(&caller("zed"), &UserSel::default())
        .await
        .unwrap()
        .is_none());
    for name in ["carol", "alice", "bob"] {
        user(&svc, name).await;
    }
    let reader = caller("alice");
    let page = |token: Option<String>| PageRequest {
        limit: Some(2),
        next_token: token,
    };
    let first = svc
        .list_users(&reader, page(None), &UserSel::default())
        .await
        .unwrap();
    let names: Vec<&str> = first
        .items
        .iter()
        .map(|u| u.user.username.as_str())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let second = svc
        .list_users(&reader, page(first.next_token.clone()), &UserSel::default())
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].user.username, "carol");
    assert_eq!(
        kind(
            svc.list_users(&reader, page(Some("forged".into())), &UserSel::default())
                .await
        ),
        ErrorKind::Validation
    );
}
