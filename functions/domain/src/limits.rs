//! Every input limit of the API, in one place. README.md and schema/TABLES.md
//! quote these numbers; the tests probe each at its edge.

use crate::error::{Error, Result};

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest conversation name, in characters.
pub const MAX_CONVO_NAME_CHARS: usize = 100;
/// Most members a conversation can have, the creator included. The member list
/// lives on the conversation item: 1,000 ids of at most 128 bytes stay far
/// inside DynamoDB's 400 KB item limit, and a message fans out to at most this
/// many members' connections.
pub const MAX_MEMBERS: usize = 1000;
/// Most members `createConvo` takes at once, the creator included. It keeps
/// `createConvo` inside one TransactWriteItems (1 + members actions, AWS allows
/// 100); `createConvoLink` adds the rest.
pub const MAX_INITIAL_MEMBERS: usize = 50;
/// Longest message, in characters (at most 4 bytes each, so a message with its
/// envelope stays well inside API Gateway's 32 KB WebSocket frame).
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest id accepted anywhere (user, conversation, client message id).
pub const MAX_ID_CHARS: usize = 128;
/// Largest page (`limit`, `first`).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Longest `nextToken` accepted.
pub const MAX_NEXT_TOKEN_CHARS: usize = 2048;

/// Most distinct reactions (emojis) on one message. With
/// [`MAX_REACTIONS_PER_USER`] and [`MAX_MEMBERS`] it bounds the reactions a
/// message row stores (at most 3,000 user ids, about 120 KB) inside
/// DynamoDB's 400 KB item limit.
pub const MAX_REACTION_KINDS: usize = 10;
/// Most reactions one user puts on one message.
pub const MAX_REACTIONS_PER_USER: usize = 3;
/// Longest reaction, in bytes: the longest emoji Unicode lists (a kiss of
/// two people with two skin tones, 35 bytes; a unit test holds it).
pub const MAX_REACTION_BYTES: usize = 35;

/// Largest inbox page: each entry costs two reads (its last message and
/// its unread count), so a page stays at most 42 requests.
pub const MAX_INBOX_PAGE: u32 = 20;
/// Unread counts are exact up to this; past it a client shows "99+".
pub const MAX_UNREAD_COUNT: usize = 99;
/// How often a conversation's activity is copied to its members' inboxes:
/// at its first message after this long a quiet spell (ms). So a
/// conversation costs at most one write per member per window, whatever
/// its message rate, and its place in the activity index is exact to
/// within it. An inbox page is then sorted by each entry's newest message,
/// which it reads anyway, so the order within a page is exact.
pub const ACTIVITY_WINDOW_MS: i64 = 10_000;

/// One typing signal per user per conversation per this long (ms): a
/// client sends one every few seconds while its user types, and the rest
/// are answered from memory, with no read or push.
pub const TYPING_INTERVAL_MS: i64 = 2_000;
/// How long (ms) a client shows a typing signal unless another comes: a
/// little over two intervals, so a steady typist's indicator never blinks.
pub const TYPING_SHOWN_MS: i64 = 5_000;
/// Presence changes go to the user's most recently active conversations,
/// at most this many: one Query of subscribers each.
pub const MAX_PRESENCE_CONVERSATIONS: usize = 200;

fn char_count(s: &str) -> usize {
    s.chars().count()
}

/// Usernames: 1 to 64 characters of letters, digits and `_ . - @ +` (what Cognito
/// allows for user names, emails included).
pub fn username(raw: &str) -> Result<String> {
    let n = char_count(raw);
    if n == 0 || n > MAX_USERNAME_CHARS {
        return Err(Error::validation(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} characters (got {n})"
        )));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '+')))
    {
        return Err(Error::validation(format!(
            "username may contain only letters, digits and _ . - @ + (found {bad:?})"
        )));
    }
    Ok(raw.to_string())
}

/// Conversation names: 1 to 100 characters, not blank, no control characters.
pub fn convo_name(raw: &str) -> Result<String> {
    let n = char_count(raw);
    if raw.trim().is_empty() || n > MAX_CONVO_NAME_CHARS {
        return Err(Error::validation(format!(
            "conversation name must be 1 to {MAX_CONVO_NAME_CHARS} characters and not blank (got {n})"
        )));
    }
    if raw.chars().any(char::is_control) {
        return Err(Error::validation(
            "conversation name may not contain control characters",
        ));
    }
    Ok(raw.to_string())
}

/// Message content: 1 to 4,000 characters, not blank.
pub fn content(raw: &str) -> Result<String> {
    let n = char_count(raw);
    if raw.trim().is_empty() || n > MAX_CONTENT_CHARS {
        return Err(Error::validation(format!(
            "content must be 1 to {MAX_CONTENT_CHARS} characters and not blank (got {n})"
        )));
    }
    Ok(raw.to_string())
}

/// Ids: 1 to 128 characters of letters, digits and `_ - :`. Every id the
/// server makes (Cognito subs, ULIDs, link ids) fits, and so does a client UUID.
pub fn id(field: &str, raw: &str) -> Result<String> {
    let n = char_count(raw);
    if n == 0 || n > MAX_ID_CHARS {
        return Err(Error::validation(format!(
            "{field} must be 1 to {MAX_ID_CHARS} characters (got {n})"
        )));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
    {
        return Err(Error::validation(format!(
            "{field} may contain only ASCII letters, digits and _ - :"
        )));
    }
    Ok(raw.to_string())
}

/// A reaction: exactly one grapheme cluster (an emoji, with its skin tone,
/// gender or joiner sequence), at most 32 bytes, with no letter, digit,
/// ASCII character, space or control character: reactions are pictures, not
/// words.
pub fn reaction(raw: &str) -> Result<String> {
    // Unicode's own list (UTS #51's fully-qualified, minimally-qualified
    // and unqualified emoji, each skin tone included): lone format and
    // control characters (a zero-width joiner, a variation selector, a
    // direction override), skin-tone swatches and half flags are not on
    // it. Stored fully qualified, so "❤" and "❤️" are one reaction.
    let emoji = (raw.len() <= MAX_REACTION_BYTES)
        .then(|| emojis::get(raw))
        .flatten();
    match emoji {
        Some(emoji) => Ok(emoji.as_str().to_string()),
        None => Err(Error::validation(
            "a reaction is one emoji, as Unicode lists them (skin tones, flags, keycaps and joined sequences included)",
        )),
    }
}

/// Inbox page sizes: 1 to 20; absent means 20.
pub fn inbox_page_size(raw: Option<i64>) -> Result<u32> {
    match raw {
        None => Ok(MAX_INBOX_PAGE),
        Some(n) if (1..=i64::from(MAX_INBOX_PAGE)).contains(&n) => Ok(n as u32),
        Some(n) => Err(Error::validation(format!(
            "limit must be between 1 and {MAX_INBOX_PAGE} (got {n})"
        ))),
    }
}

/// Page sizes: 1 to 100; absent means 50.
pub fn page_size(field: &str, raw: Option<i64>) -> Result<u32> {
    match raw {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=i64::from(MAX_PAGE_SIZE)).contains(&n) => Ok(n as u32),
        Some(n) => Err(Error::validation(format!(
            "{field} must be between 1 and {MAX_PAGE_SIZE} (got {n})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_edges() {
        assert!(username("").is_err());
        assert!(username(&"a".repeat(MAX_USERNAME_CHARS)).is_ok());
        assert!(username(&"a".repeat(MAX_USERNAME_CHARS + 1)).is_err());
        assert!(username("alice@example.com").is_ok());
        assert!(username("al ice").is_err());
        assert!(username("al#ice").is_err());
    }

    #[test]
    fn name_and_content_edges() {
        assert!(convo_name(&"n".repeat(MAX_CONVO_NAME_CHARS)).is_ok());
        assert!(convo_name(&"n".repeat(MAX_CONVO_NAME_CHARS + 1)).is_err());
        assert!(convo_name("   ").is_err());
        assert!(convo_name("a\u{0}b").is_err());
        assert!(content(&"é".repeat(MAX_CONTENT_CHARS)).is_ok());
        assert!(content(&"é".repeat(MAX_CONTENT_CHARS + 1)).is_err());
        assert!(content("\n\t ").is_err());
    }

    #[test]
    fn reaction_edges() {
        for ok in [
            "👍",
            "❤️",
            "👍🏽",
            "👋🏿",
            "👨‍👩‍👧‍👦",
            "🧑🏻‍❤️‍💋‍🧑🏼",
            "🏳️‍🌈",
            "🇫🇷",
            "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
            "1️⃣",
            "#️⃣",
            "©️",
        ] {
            assert_eq!(reaction(ok).unwrap(), ok, "{ok}");
        }
        // Without its variation selector, an emoji is the same reaction.
        assert_eq!(reaction("❤").unwrap(), "❤️");
        for bad in [
            "",
            "a",
            "é",
            "1",
            "1\u{20e3}x",
            ":",
            " ",
            "★",
            "👍👍",
            "👍 ",
            "\u{0}",
            "ok",
            "\u{200b}",
            "\u{200d}",
            "\u{202e}",
            "\u{fe0f}",
            "\u{2060}",
            "🏽",
            "🇫",
            "👍\u{200b}",
            "\u{202e}👍",
            "👨\u{200d}",
        ] {
            assert!(reaction(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_longest_emoji_fits_the_byte_cap() {
        let longest = emojis::iter()
            .flat_map(|e| e.skin_tones().into_iter().flatten().chain([e]))
            .map(|e| e.as_str().len())
            .max()
            .unwrap();
        assert_eq!(longest, MAX_REACTION_BYTES);
    }

    #[test]
    fn id_and_page_edges() {
        assert!(id("id", &"x".repeat(MAX_ID_CHARS)).is_ok());
        assert!(id("id", &"x".repeat(MAX_ID_CHARS + 1)).is_err());
        assert!(id("id", "USERNAME#alice").is_err());
        assert!(id("id", "0b7ad4f4-8c2c-4c59-9c0e-5f8a1b2c3d4e").is_ok());
        assert_eq!(page_size("limit", None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size("limit", Some(100)).unwrap(), 100);
        assert!(page_size("limit", Some(101)).is_err());
        assert!(page_size("limit", Some(0)).is_err());
        assert!(page_size("limit", Some(-1)).is_err());
    }
}
