//! Each platform's payload for a [`Notification`], within its limit.
//!
//! | platform | limit | what counts |
//! | --- | --- | --- |
//! | APNs | 4096 bytes | the JSON body |
//! | FCM | 4096 bytes | the message's `data` and `notification` |
//! | Web Push | 4096 bytes | the encrypted body: 86 bytes of header, 16 of tag and 1 of padding delimiter, so 3993 bytes of JSON |
//!
//! A notification's fields are bounded already (a body of
//! `PUSH_BODY_CHARS` characters, a conversation name of 100, a username
//! of 64, ids of 128), so the largest fits; should one not, its body is
//! cut further until it does, and the title after it.

use chat_domain::notify::cut;
use chat_domain::push::{Notification, NotificationKind};
use serde_json::{json, Value};

pub const APNS_MAX_BYTES: usize = 4096;
pub const FCM_MAX_BYTES: usize = 4096;
/// The largest encrypted Web Push message push services take (RFC 8030 says
/// at least 4096 must be accepted).
pub const WEB_PUSH_MAX_BYTES: usize = 4096;
/// What RFC 8291 adds to the plaintext in one `aes128gcm` record: the
/// header (salt 16, record size 4, key id length 1, key id 65), the tag
/// (16) and the padding delimiter (1).
pub const WEB_PUSH_OVERHEAD: usize = 86 + 16 + 1;

fn kind(n: &Notification) -> &'static str {
    match n.kind {
        NotificationKind::Message => "MESSAGE",
        NotificationKind::Withdraw => "WITHDRAW",
    }
}

/// Shrinks `n` until `size(n)` fits in `max`: its image link goes first,
/// then its body is cut, then its title.
fn fit(n: &Notification, max: usize, size: impl Fn(&Notification) -> usize) -> Notification {
    let mut n = n.clone();
    if size(&n) > max {
        n.image = None;
    }
    while size(&n) > max {
        let body = n.body.chars().count();
        let title = n.title.chars().count();
        if body > 1 {
            n.body = cut(&n.body, body / 2);
        } else if title > 1 {
            n.body.clear();
            n.title = cut(&n.title, title / 2);
        } else {
            break;
        }
    }
    n
}

/// The APNs request body, and whether it is an alert (else a background
/// push, which a withdraw is).
pub fn apns(n: &Notification) -> (Value, bool) {
    let build = |n: &Notification| {
        let mut aps = json!({ "badge": n.badge, "thread-id": n.collapse_id() });
        match n.kind {
            NotificationKind::Message => {
                let mut alert = json!({ "title": n.title });
                if !n.body.is_empty() {
                    alert["body"] = json!(n.body);
                }
                aps["alert"] = alert;
                aps["sound"] = json!("default");
                if n.image.is_some() {
                    // The app's notification service extension fetches it.
                    aps["mutable-content"] = json!(1);
                }
            }
            NotificationKind::Withdraw => aps["content-available"] = json!(1),
        }
        let mut body = json!({
            "aps": aps,
            "kind": kind(n),
            "conversationId": n.conversation_id,
            "messageId": n.message_id,
            "mention": n.mention,
        });
        if let Some(image) = &n.image {
            body["image"] = json!(image);
        }
        body
    };
    let fitted = fit(n, APNS_MAX_BYTES, |n| build(n).to_string().len());
    (build(&fitted), n.kind == NotificationKind::Message)
}

/// The FCM HTTP v1 `message` (without its `token`).
pub fn fcm(n: &Notification) -> Value {
    let build = |n: &Notification| {
        let collapse = n.collapse_id();
        let data = json!({
            "kind": kind(n),
            "conversationId": n.conversation_id,
            "messageId": n.message_id,
            "badge": n.badge.to_string(),
            "mention": n.mention.to_string(),
        });
        let mut message = json!({
            "data": data,
            "android": { "collapse_key": collapse, "priority": "high" },
        });
        if n.kind == NotificationKind::Message {
            let mut notification = json!({ "title": n.title });
            if !n.body.is_empty() {
                notification["body"] = json!(n.body);
            }
            if let Some(image) = &n.image {
                notification["image"] = json!(image);
            }
            message["notification"] = notification;
            message["android"]["notification"] =
                json!({ "tag": collapse, "notification_count": n.badge });
        } else {
            message["android"]["priority"] = json!("normal");
        }
        message
    };
    let fitted = fit(n, FCM_MAX_BYTES, |n| {
        let m = build(n);
        m["data"].to_string().len() + m["notification"].to_string().len()
    });
    build(&fitted)
}

/// The Web Push message's plaintext: JSON for the service worker.
pub fn web_push(n: &Notification) -> Vec<u8> {
    let build = |n: &Notification| {
        json!({
            "kind": kind(n),
            "conversationId": n.conversation_id,
            "messageId": n.message_id,
            "title": n.title,
            "body": n.body,
            "badge": n.badge,
            "mention": n.mention,
            "tag": n.collapse_id(),
            "image": n.image,
        })
        .to_string()
    };
    let max = WEB_PUSH_MAX_BYTES - WEB_PUSH_OVERHEAD;
    build(&fit(n, max, |n| build(n).len())).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_domain::limits::{
        MAX_CONVO_NAME_CHARS, MAX_ID_CHARS, MAX_USERNAME_CHARS, PUSH_BODY_CHARS,
    };

    /// The largest notification the notifier can make: every field at its
    /// limit, in characters of four bytes, and JSON escapes where they
    /// cost most.
    fn largest() -> Notification {
        let wide = |n: usize| "𝄞".repeat(n);
        Notification {
            kind: NotificationKind::Message,
            conversation_id: "c".repeat(MAX_ID_CHARS),
            message_id: "m".repeat(MAX_ID_CHARS),
            title: format!(
                "{} mentioned you in {}",
                wide(MAX_USERNAME_CHARS),
                wide(MAX_CONVO_NAME_CHARS)
            ),
            body: cut(&"\u{1}".repeat(PUSH_BODY_CHARS * 2), PUSH_BODY_CHARS),
            badge: u32::MAX,
            mention: true,
            image: None,
        }
    }

    #[test]
    fn the_largest_notification_fits_every_platform_whole() {
        let n = largest();
        let (body, alert) = apns(&n);
        assert!(alert);
        assert!(body.to_string().len() <= APNS_MAX_BYTES);
        assert_eq!(body["aps"]["alert"]["body"], n.body, "nothing was cut");
        let message = fcm(&n);
        let counted = message["data"].to_string().len() + message["notification"].to_string().len();
        assert!(counted <= FCM_MAX_BYTES);
        assert_eq!(message["notification"]["title"], n.title);
        let plain = web_push(&n);
        assert!(plain.len() + WEB_PUSH_OVERHEAD <= WEB_PUSH_MAX_BYTES);
        let back: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(back["body"], n.body);
    }

    #[test]
    fn a_notification_past_a_limit_is_cut_to_it_and_keeps_its_ids() {
        // Beyond what the notifier makes: the encoders still keep the limit.
        let mut n = largest();
        n.body = "\u{1}".repeat(3000);
        let (body, _) = apns(&n);
        let len = body.to_string().len();
        assert!(len <= APNS_MAX_BYTES, "{len}");
        assert!(len > APNS_MAX_BYTES / 2, "cut no more than needed: {len}");
        assert_eq!(body["messageId"], n.message_id);
        let message = fcm(&n);
        assert!(
            message["data"].to_string().len() + message["notification"].to_string().len()
                <= FCM_MAX_BYTES
        );
        assert_eq!(message["data"]["conversationId"], n.conversation_id);
        let plain = web_push(&n);
        assert!(
            plain.len() + WEB_PUSH_OVERHEAD <= WEB_PUSH_MAX_BYTES,
            "{}",
            plain.len()
        );
    }

    /// A photo's link rides along when it fits beside the text; a link
    /// that would not is left out, and the text stays whole.
    #[test]
    fn a_photos_link_goes_when_it_fits_and_the_text_comes_first() {
        let link = format!(
            "https://bucket.s3.amazonaws.com/media/c/u/thumb?{}",
            "x".repeat(1500)
        );
        let n = Notification {
            title: "alice in room".into(),
            body: "Photo".into(),
            image: Some(link.clone()),
            ..largest()
        };
        let (body, _) = apns(&n);
        assert_eq!(body["image"], link.as_str());
        assert_eq!(body["aps"]["mutable-content"], 1);
        assert_eq!(fcm(&n)["notification"]["image"], link.as_str());
        let plain: Value = serde_json::from_slice(&web_push(&n)).unwrap();
        assert_eq!(plain["image"], link.as_str());

        let too_long = Notification {
            image: Some("x".repeat(chat_domain::limits::MAX_LINK_CHARS + 2000)),
            ..largest()
        };
        let (body, _) = apns(&too_long);
        assert!(body.get("image").is_none());
        assert_eq!(
            body["aps"]["alert"]["body"],
            largest().body,
            "the text is whole"
        );
        assert!(body["aps"].get("mutable-content").is_none());
    }

    #[test]
    fn a_withdraw_is_silent_and_collapses_onto_the_conversation() {
        let n = Notification {
            kind: NotificationKind::Withdraw,
            title: String::new(),
            body: String::new(),
            ..largest()
        };
        let (body, alert) = apns(&n);
        assert!(!alert);
        assert_eq!(body["aps"]["content-available"], 1);
        assert!(body["aps"].get("alert").is_none());
        assert_eq!(body["aps"]["thread-id"], largest().collapse_id());
        let message = fcm(&n);
        assert!(message.get("notification").is_none());
        assert_eq!(message["android"]["collapse_key"], largest().collapse_id());
    }
}
