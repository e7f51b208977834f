//! The topic map, in both directions, in one place: which topic a
//! subscription field listens on ([`of_field`], at `subscribe`), and which
//! topic a change is pushed on with the value of each field it carries
//! ([`of_change`], at push time). A unit test holds the two together.
//!
//! Every conversation field shares the conversation's topic, so one Query
//! finds the subscribers of all of them.

use serde_json::{Map, Value};

use chat_domain::ports::Change;
use chat_domain::ChangeKind;

use crate::model::Topic;

/// The subscription fields, each with its topic's kind and the argument
/// that names the topic's id (`None`: a topic without one).
pub const FIELDS: [(&str, TopicKind, Option<&str>); 8] = [
    (
        "onCreateMessage",
        TopicKind::Messages,
        Some("messageConversationId"),
    ),
    (
        "onMessageChange",
        TopicKind::Messages,
        Some("conversationId"),
    ),
    (
        "onMemberChange",
        TopicKind::Messages,
        Some("conversationId"),
    ),
    ("onReadMarker", TopicKind::Messages, Some("conversationId")),
    ("onTyping", TopicKind::Messages, Some("conversationId")),
    ("onPresence", TopicKind::Messages, Some("conversationId")),
    ("onCreateUser", TopicKind::Users, None),
    (
        "onCreateConvoLink",
        TopicKind::LinksOf,
        Some("convoLinkUserId"),
    ),
];

/// A [`Topic`] without its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    Messages,
    Users,
    LinksOf,
}

impl TopicKind {
    pub fn of(topic: &Topic) -> Self {
        match topic {
            Topic::Messages { .. } => TopicKind::Messages,
            Topic::Users => TopicKind::Users,
            Topic::LinksOf { .. } => TopicKind::LinksOf,
        }
    }
}

/// The topic a subscription to `field` listens on, `None` for a field
/// that is not a subscription's; `id` reads (and checks) the argument that
/// names it.
pub fn of_field<E>(
    field: &str,
    id: impl Fn(&str) -> Result<String, E>,
) -> Option<Result<Topic, E>> {
    let (_, kind, arg) = FIELDS.iter().find(|(name, _, _)| *name == field)?;
    let id = match arg.map(id).transpose() {
        Ok(id) => id.unwrap_or_default(),
        Err(err) => return Some(Err(err)),
    };
    Some(Ok(match kind {
        TopicKind::Messages => Topic::Messages {
            conversation_id: id,
        },
        TopicKind::Users => Topic::Users,
        TopicKind::LinksOf => Topic::LinksOf { user_id: id },
    }))
}

/// What one change pushes on a topic, by the subscription field it is for:
/// a new message is `onCreateMessage`'s message and `onMessageChange`'s
/// change; an edit is only the latter. Each value is as the schema names
/// its fields.
pub type Payloads = Map<String, Value>;

/// One change to push: its values, and, when it carries a message, that
/// message's reactions, which each subscriber sees as their own (whether
/// they reacted), so a message with reactions is shaped per subscriber.
#[derive(Debug, Clone, Default)]
pub struct Push {
    pub values: Payloads,
    pub reactions: Option<Vec<chat_domain::Reaction>>,
    /// A user whose own subscriptions do not get it (a typing signal's
    /// sender).
    pub skip_user: Option<String>,
    /// Users who do not get it either: those who block a message's author.
    pub hidden_from: Vec<String>,
}

impl Push {
    /// Whether subscribers see it differently (a message with reactions).
    pub fn personal(&self) -> bool {
        self.reactions.as_ref().is_some_and(|r| !r.is_empty())
    }

    /// The values as `viewer` sees them: each message in them with its
    /// reactions (`Message.reactions`) for that viewer.
    pub fn values_for(&self, viewer: &str) -> Payloads {
        let Some(reactions) = &self.reactions else {
            return self.values.clone();
        };
        let views = serde_json::to_value(chat_domain::Reaction::views(reactions, viewer))
            .expect("reactions serialize");
        let mut values = self.values.clone();
        for (field, value) in values.iter_mut() {
            let message = match field.as_str() {
                "onCreateMessage" => Some(value),
                "onMessageChange" => value.get_mut("message"),
                _ => None,
            };
            if let Some(Value::Object(m)) = message {
                m.insert("reactions".into(), views.clone());
            }
        }
        values
    }
}

/// The topic of a change and its GraphQL values, by subscription field.
pub fn of_change(change: Change<'_>) -> Result<(Topic, Push), serde_json::Error> {
    let mut values = Payloads::new();
    let mut reactions = None;
    let mut skip_user = None;
    let mut hidden_from = Vec::new();
    let topic = match change {
        Change::Message(m) => {
            reactions = Some(m.message.reactions.clone());
            hidden_from = m.hidden_from.clone();
            if m.kind == ChangeKind::Created {
                values.insert("onCreateMessage".into(), serde_json::to_value(&m.message)?);
            }
            values.insert("onMessageChange".into(), serde_json::to_value(m)?);
            Topic::Messages {
                conversation_id: m.conversation_id.clone(),
            }
        }
        Change::Read(r) => {
            values.insert("onReadMarker".into(), serde_json::to_value(r)?);
            Topic::Messages {
                conversation_id: r.conversation_id.clone(),
            }
        }
        Change::Member(m) => {
            values.insert("onMemberChange".into(), serde_json::to_value(m)?);
            Topic::Messages {
                conversation_id: m.conversation_id.clone(),
            }
        }
        Change::User(u) => {
            values.insert("onCreateUser".into(), serde_json::to_value(u)?);
            Topic::Users
        }
        Change::Link(l) => {
            values.insert("onCreateConvoLink".into(), serde_json::to_value(l)?);
            Topic::LinksOf {
                user_id: l.convo_link_user_id.clone(),
            }
        }
        Change::Typing(t) => {
            values.insert("onTyping".into(), serde_json::to_value(t)?);
            skip_user = Some(t.user_id.clone());
            Topic::Messages {
                conversation_id: t.conversation_id.clone(),
            }
        }
        Change::Presence(p) => {
            values.insert("onPresence".into(), serde_json::to_value(p)?);
            Topic::Messages {
                conversation_id: p.conversation_id.clone(),
            }
        }
    };
    Ok((
        topic,
        Push {
            values,
            reactions,
            skip_user,
            hidden_from,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    /// Each change is pushed on the topic its fields are subscribed on.
    #[test]
    fn every_field_a_change_carries_listens_on_the_topic_it_is_pushed_on() {
        let message: chat_domain::Message = json(serde_json::json!({
            "id": "m", "messageConversationId": "c", "authorId": "u", "content": "x",
            "seq": "s", "createdAt": "t", "updatedAt": "t", "version": 1
        }));
        let change = chat_domain::MessageChange {
            kind: ChangeKind::Created,
            conversation_id: "c".into(),
            key: "k".into(),
            message,
            hidden_from: Vec::new(),
        };
        let user: chat_domain::User = json(serde_json::json!({
            "id": "u", "username": "n", "createdAt": "t", "updatedAt": "t"
        }));
        let link = chat_domain::ConvoLink::new("c", "u", "t");
        let read: chat_domain::ReadMarker = json(serde_json::json!({
            "conversationId": "c", "userId": "u", "messageId": "m", "seq": "s"
        }));
        let member: chat_domain::MemberChange = json(serde_json::json!({
            "kind": "JOINED", "conversationId": "c", "userId": "u", "by": "u"
        }));
        let typing: chat_domain::Typing = json(serde_json::json!({
            "conversationId": "c", "userId": "u", "expiresAt": "t", "sent": true
        }));
        let presence: chat_domain::Presence = json(serde_json::json!({
            "conversationId": "c", "userId": "u", "online": true, "lastSeenAt": "t"
        }));
        let mut carried = std::collections::BTreeSet::new();
        for change in [
            Change::Message(&change),
            Change::User(&user),
            Change::Link(&link),
            Change::Read(&read),
            Change::Member(&member),
            Change::Typing(&typing),
            Change::Presence(&presence),
        ] {
            let (topic, push) = of_change(change).unwrap();
            for field in push.values.keys() {
                let subscribed = of_field(field, |_| Ok::<_, ()>("c".into()));
                let subscribed = subscribed.unwrap_or_else(|| panic!("{field} is a field"));
                let subscribed = subscribed.unwrap();
                assert_eq!(TopicKind::of(&subscribed), TopicKind::of(&topic), "{field}");
                carried.insert(field.clone());
            }
        }
        let fields: std::collections::BTreeSet<String> =
            FIELDS.iter().map(|(f, _, _)| f.to_string()).collect();
        assert_eq!(carried, fields, "every field is carried by some change");
    }
}
