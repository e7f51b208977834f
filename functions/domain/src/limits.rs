//! Every input limit of the API, in one place. README.md and schema/TABLES.md
//! quote these numbers; the tests probe each at its edge.

use crate::error::{Error, Result};

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest conversation name, in characters.
pub const MAX_CONVO_NAME_CHARS: usize = 100;
/// Most members a conversation can have, the creator included. Membership
/// is one ConvoLinks row each; what grows with it is what a message costs:
/// its copy to the subscribed sockets (measured at 5,000 in BENCHMARKS.md),
/// the read of every other member's push row by the push function, and,
/// once per [`ACTIVITY_WINDOW_MS`], one inbox UpdateItem per member.
pub const MAX_MEMBERS: usize = 5000;
/// Members listed on the conversation item (`members`): all of them up to
/// this, the creator first, in the order they joined; past it, the first to
/// join, and the rest are read from ConvoLinks (`associated`). With at most
/// [`MAX_OWNERS`] owners beside them the item stays far inside DynamoDB's
/// 400 KB (1,100 ids of at most 128 bytes are about 145 KB; every write
/// reads it), and an inbox page of 20 conversations with their lists stays
/// about 3 MB, inside Lambda's 6 MB response.
pub const MAX_LISTED_MEMBERS: usize = 1000;
/// Most owners a conversation can have: they are listed on the
/// conversation item, which every write reads.
pub const MAX_OWNERS: usize = 100;
/// Most members `createConvo` takes at once, the creator included. It keeps
/// `createConvo` inside one TransactWriteItems (1 + members actions, AWS allows
/// 100); `createConvoLink` adds the rest.
pub const MAX_INITIAL_MEMBERS: usize = 50;
/// Longest message, in characters (at most 4 bytes each, so a message with its
/// envelope stays well inside API Gateway's 32 KB WebSocket frame).
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Characters in a report's note (`reportMessage`, `reportUser`).
pub const MAX_REPORT_NOTE_CHARS: usize = 500;
/// Reporters whose entries (reason, note, snapshot) a report keeps; later
/// ones are counted. 20 entries of a 4,000-character message and a note
/// stay inside DynamoDB's 400 KB item.
pub const MAX_REPORT_ENTRIES: usize = 20;
/// Reporters a report tells apart, so that each counts once; later ones
/// are counted without that check.
pub const MAX_REPORTERS: usize = 1_000;
/// Users one user may block. The list is one row that every read of
/// messages by its owner reads (100 entries are about 8 KB: two read units
/// strongly consistent), and a DynamoDB filter's `IN` takes 100 values.
pub const MAX_BLOCKED_USERS: usize = 100;
/// Longest suspension a moderator may set (`suspendUser`), in hours: a
/// year. Longer is a ban.
pub const MAX_SUSPENSION_HOURS: i64 = 24 * 366;
/// Characters in a moderator's reason for a suspension or ban.
pub const MAX_SANCTION_REASON_CHARS: usize = 500;
/// Longest id accepted anywhere (user, conversation, client message id).
pub const MAX_ID_CHARS: usize = 128;
/// Largest page (`limit`, `first`).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Longest `nextToken` accepted.
pub const MAX_NEXT_TOKEN_CHARS: usize = 2048;

/// Most distinct reactions (emojis) on one message.
pub const MAX_REACTION_KINDS: usize = 10;
/// Most reactions on one message, all users and emojis together. The
/// message row keeps each reaction's users: by DynamoDB's size rules,
/// 2,500 ids of up to 128 bytes are about 325 KB, which leaves the rest of the largest message (its
/// content, mentions and attachments, about 30 KB) inside DynamoDB's
/// 400 KB item. So the reactions do not bound [`MAX_MEMBERS`].
pub const MAX_REACTIONS_PER_MESSAGE: usize = 2_500;
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
/// Devices per user: a phone, a tablet, a few browsers.
pub const MAX_DEVICES: usize = 10;
/// Distinct `@username`s of a message that are resolved; later ones are
/// plain text.
pub const MAX_MENTIONS: usize = 20;
/// A push's body: the content, cut to this many characters (and `…`).
pub const PUSH_BODY_CHARS: usize = 120;
/// At most one push per conversation per device in this interval: a busy
/// conversation rings once, and its later messages wait for the app.
pub const PUSH_INTERVAL_MS: i64 = 10_000;
/// A push's badge counts unread over the recipient's most recently active
/// conversations, at most this many (the inbox's first page), each to
/// [`MAX_UNREAD_COUNT`].
pub const BADGE_CONVERSATIONS: u32 = 20;
/// APNs device tokens: hex, 32 bytes today; Apple says they may grow.
pub const APNS_TOKEN_HEX: std::ops::RangeInclusive<usize> = 64..=200;
/// FCM registration tokens: about 160 characters today.
pub const FCM_TOKEN_CHARS: std::ops::RangeInclusive<usize> = 32..=4096;
/// A Web Push endpoint URL, at most.
pub const MAX_ENDPOINT_CHARS: usize = 2048;
/// An app or bundle id (APNs' topic), at most.
pub const MAX_APP_ID_CHARS: usize = 155;
/// Files on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// An upload's size, at most: signed into its presigned request as its
/// exact `Content-Length`, so S3 refuses any other body.
pub const MAX_UPLOAD_BYTES: u64 = 25 * 1024 * 1024;
/// An upload's file name (shown, never part of a key), at most.
pub const MAX_FILE_NAME_CHARS: usize = 100;
/// A download link, as budgeted in a live message's largest payload: a
/// presigned GET with a Lambda role's session token (about 1,200
/// characters encoded) and the file's ASCII name is under 2,000.
pub const MAX_LINK_CHARS: usize = 3000;
/// How long a presigned upload is good for.
pub const UPLOAD_URL_SECS: u64 = 300;
/// How long a download link is good for at most. Links are signed as of
/// the start of the current [`DOWNLOAD_URL_WINDOW_SECS`] window, so that
/// reads in one window hand out the same link (a client caches the file),
/// and each link works for 10 to 15 minutes after it is handed out: a
/// removed member's links stop within 15 minutes, and they get no new ones.
pub const DOWNLOAD_URL_SECS: u64 = 900;
/// See [`DOWNLOAD_URL_SECS`].
pub const DOWNLOAD_URL_WINDOW_SECS: u64 = 300;
/// Pixels of an image the processing decodes, at most (8,000 x 6,000):
/// about 192 MB as RGBA, which the processing function's 1,024 MB holds
/// with its thumbnail and re-encoding. Larger ones, and any decompression
/// bomb, are refused from their header, before any pixel is decoded.
pub const MAX_IMAGE_PIXELS: u64 = 48_000_000;
/// An image's side, at most, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Frames of an animated GIF times its pixels, at most.
pub const MAX_ANIMATION_PIXELS: u64 = 96_000_000;
/// A thumbnail's longer side.
pub const THUMBNAIL_SIDE: u32 = 320;
/// An upload never attached is removed this long after it was asked for.
pub const UNATTACHED_UPLOAD_SECS: i64 = 24 * 3600;

/// The push services a Web Push endpoint may be on (origins; `*.` matches
/// any subdomain). The server posts to a client's endpoint, so an
/// endpoint anywhere else is refused: it would let a client make the
/// server call any URL.
pub const WEB_PUSH_ORIGINS: &[&str] = &[
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://*.notify.windows.com",
];

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
    content_with(raw, false)
}

/// A report's note, trimmed: none, or up to [`MAX_REPORT_NOTE_CHARS`].
pub fn report_note(raw: Option<&str>) -> Result<Option<String>> {
    let Some(note) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let n = char_count(note);
    if n > MAX_REPORT_NOTE_CHARS || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::validation(format!(
            "a report's note is at most {MAX_REPORT_NOTE_CHARS} characters, without control characters (got {n})"
        )));
    }
    Ok(Some(note.to_string()))
}

/// Message content, which may be empty when the message has attachments.
pub fn content_with(raw: &str, attachments: bool) -> Result<String> {
    let n = char_count(raw);
    if attachments && raw.is_empty() {
        return Ok(String::new());
    }
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

/// A time the client sets (do-not-disturb's end): RFC 3339, stored as UTC
/// with milliseconds like every server time.
pub fn time(raw: &str) -> Result<String> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| crate::clock::time_at(t.timestamp_millis()))
        .map_err(|_| Error::validation("dndUntil must be an ISO 8601 time with its zone"))
}

fn base64url(field: &str, raw: &str, len: usize) -> Result<Vec<u8>> {
    use base64::Engine;
    let trimmed = raw.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
        .filter(|bytes| bytes.len() == len)
        .ok_or_else(|| Error::validation(format!("{field} must be {len} bytes, base64url")))
}

/// Whether a Web Push endpoint is on one of `origins` (`*.` matching any
/// subdomain), with no user info in its authority.
pub fn web_push_endpoint_allowed(endpoint: &str, origins: &[String]) -> bool {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    let origin = format!("{scheme}://{authority}");
    origins
        .iter()
        .any(|allowed| match allowed.split_once("://*.") {
            Some((allowed_scheme, suffix)) => {
                scheme == allowed_scheme
                    && authority
                        .strip_suffix(suffix)
                        .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
            }
            None => *allowed == origin,
        })
}

/// `registerDevice`'s input, checked for its platform: an APNs token is
/// hex and comes with the app's bundle id (its topic); an FCM token is
/// URL-safe characters; a Web Push subscription is an endpoint on a known
/// push service (`origins`) with its P-256 key (65 bytes) and auth secret
/// (16 bytes), base64url.
pub fn device(
    input: crate::devices::NewDevice,
    origins: &[String],
) -> Result<crate::devices::Device> {
    use crate::devices::{new_device, Platform};
    let app_id = input
        .app_id
        .map(|app| {
            let n = char_count(&app);
            if n == 0
                || n > MAX_APP_ID_CHARS
                || !app
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                Err(Error::validation(format!(
                    "appId must be 1 to {MAX_APP_ID_CHARS} ASCII letters, digits and . - _"
                )))
            } else {
                Ok(app)
            }
        })
        .transpose()?;
    let token = || {
        input
            .token
            .clone()
            .ok_or_else(|| Error::validation("token is required for this platform"))
    };
    match input.platform {
        Platform::Apns | Platform::ApnsSandbox => {
            let token = token()?.to_ascii_lowercase();
            if !APNS_TOKEN_HEX.contains(&token.len())
                || token.len() % 2 != 0
                || !token.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(Error::validation(format!(
                    "an APNs token is {} to {} hex digits",
                    APNS_TOKEN_HEX.start(),
                    APNS_TOKEN_HEX.end()
                )));
            }
            let Some(app_id) = app_id else {
                return Err(Error::validation(
                    "appId (the app's bundle id, APNs' topic) is required for APNs",
                ));
            };
            Ok(new_device(input.platform, token, Some(app_id), None))
        }
        Platform::Fcm => {
            let token = token()?;
            if !FCM_TOKEN_CHARS.contains(&token.len())
                || !token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
            {
                return Err(Error::validation(format!(
                    "an FCM token is {} to {} characters of letters, digits and _ - :",
                    FCM_TOKEN_CHARS.start(),
                    FCM_TOKEN_CHARS.end()
                )));
            }
            Ok(new_device(input.platform, token, app_id, None))
        }
        Platform::WebPush => {
            let (Some(endpoint), Some(p256dh), Some(auth)) =
                (input.endpoint, input.p256dh, input.auth)
            else {
                return Err(Error::validation(
                    "a Web Push device needs the subscription's endpoint, p256dh and auth",
                ));
            };
            if endpoint.len() > MAX_ENDPOINT_CHARS
                || endpoint
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
                || !web_push_endpoint_allowed(&endpoint, origins)
            {
                return Err(Error::validation(format!(
                    "endpoint must be a URL of at most {MAX_ENDPOINT_CHARS} characters on a known Web Push service"
                )));
            }
            let key = base64url("p256dh", &p256dh, 65)?;
            if key[0] != 4 {
                return Err(Error::validation(
                    "p256dh must be an uncompressed P-256 point",
                ));
            }
            base64url("auth", &auth, 16)?;
            Ok(new_device(
                input.platform,
                endpoint,
                app_id,
                Some((p256dh, auth)),
            ))
        }
    }
}

/// The `@username`s in a message's content, lowercased, each once, in
/// order, at most [`MAX_MENTIONS`]. An `@` starts one after a space, a
/// line's start or punctuation (so an email address is not one); the name
/// runs over username characters, without a trailing `.` or `-`.
pub fn mentioned_usernames(content: &str) -> Vec<String> {
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+');
    let mut found: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    let mut chars = content.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts = c == '@' && previous.is_none_or(|p| !is_name(p) && p != '@');
        previous = Some(c);
        if !starts {
            continue;
        }
        let start = at + 1;
        let mut end = start;
        while let Some(&(i, n)) = chars.peek() {
            if !is_name(n) {
                break;
            }
            end = i + n.len_utf8();
            previous = Some(n);
            chars.next();
        }
        let name = content[start..end].trim_end_matches(['.', '-']);
        if name.is_empty() || char_count(name) > MAX_USERNAME_CHARS {
            continue;
        }
        let name = name.to_lowercase();
        if !found.contains(&name) {
            found.push(name);
            if found.len() == MAX_MENTIONS {
                break;
            }
        }
    }
    found
}

/// `createUpload`'s file: a type of [`crate::attachments::FILE_TYPES`], a
/// size of 1 byte to [`MAX_UPLOAD_BYTES`], and a name of 1 to
/// [`MAX_FILE_NAME_CHARS`] characters with no control character or path.
pub fn upload(
    content_type: &str,
    size: i64,
    name: &str,
) -> Result<(&'static crate::attachments::FileType, u64, String)> {
    let Some(file_type) = crate::attachments::file_type(content_type) else {
        let allowed: Vec<&str> = crate::attachments::FILE_TYPES
            .iter()
            .map(|t| t.mime)
            .collect();
        return Err(Error::validation(format!(
            "contentType must be one of {}",
            allowed.join(", ")
        )));
    };
    let size = u64::try_from(size).unwrap_or(0);
    if size == 0 || size > MAX_UPLOAD_BYTES {
        return Err(Error::validation(format!(
            "size must be 1 to {MAX_UPLOAD_BYTES} bytes"
        )));
    }
    let n = char_count(name);
    if name.trim().is_empty()
        || n > MAX_FILE_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(Error::validation(format!(
            "name must be 1 to {MAX_FILE_NAME_CHARS} characters, without / \\ or control characters"
        )));
    }
    Ok((file_type, size, name.to_string()))
}

/// A message's attachments: at most [`MAX_ATTACHMENTS`] upload ids, each
/// once.
pub fn attachments(raw: &[String]) -> Result<Vec<String>> {
    if raw.len() > MAX_ATTACHMENTS {
        return Err(Error::validation(format!(
            "a message may have at most {MAX_ATTACHMENTS} attachments (got {})",
            raw.len()
        )));
    }
    let mut ids = Vec::with_capacity(raw.len());
    for id in raw {
        let id = self::id("attachments", id)?;
        if ids.contains(&id) {
            return Err(Error::validation(format!("attachment {id} is given twice")));
        }
        ids.push(id);
    }
    Ok(ids)
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
