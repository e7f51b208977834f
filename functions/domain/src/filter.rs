//! The stack's word filter: a list of words, phrases and patterns that
//! messages may not carry, applied to `createMessage` and `updateMessage`,
//! and to new conversations' names (`createConvo`) and new usernames
//! (`createUser`, which refuses whatever the action).
//!
//! The list is the stack's own (docs/SAFETY.md, "Safety: the word filter"): the template's
//! `ContentFilter` parameter on AWS, `infra/content-filter.txt` locally,
//! both reaching the functions as `CONTENT_FILTER`. Its action is to refuse
//! the message with a `ValidationError` or to mask what matched with `*`.
//!
//! Matching is on a folded form of the text, so the trivial evasions fail:
//! - compatibility normalisation (NFKD: full-width and styled letters,
//!   ligatures) with combining marks dropped (`fück`, `f̶u̶c̶k̶`);
//! - case folding;
//! - Unicode's confusables (UTS #39 skeletons: Cyrillic `а`, Greek `ο`);
//! - characters that draw nothing (zero-width spaces and joiners, soft
//!   hyphens, variation selectors) inside a word;
//! - digits and symbols for letters (`0 1 3 4 5 7 @ $ !`) in a word that
//!   has letters; `i`, `l`, `1`, `|` and `!` are one letter, so `he11o`
//!   and `hello` fold alike;
//! - letters spelled out one at a time (`f u c k`, `f.u.c.k`);
//! - a letter stretched three or more times (`baaad`).
//!
//! A word matches a whole word of the text, never part of one, so the
//! Scunthorpe problem stays away; `*` at a word's start or end makes it a
//! pattern (`bad*` also matches `badly`). A phrase's words match
//! consecutive words.

use std::collections::HashSet;
use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use crate::error::{Error, Result};

/// What a match does to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterAction {
    /// The message is refused with a `ValidationError`; nothing is stored.
    #[default]
    Refuse,
    /// What matched is replaced with `*`, one per character; the rest of the
    /// message is stored as sent.
    Mask,
}

impl std::fmt::Display for FilterAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilterAction::Refuse => "refuse",
            FilterAction::Mask => "mask",
        })
    }
}

impl std::str::FromStr for FilterAction {
    type Err = FilterError;

    fn from_str(s: &str) -> std::result::Result<Self, FilterError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "refuse" => Ok(FilterAction::Refuse),
            "mask" => Ok(FilterAction::Mask),
            other => Err(FilterError::Action(other.to_string())),
        }
    }
}

/// A filter list that cannot be used: the stack refuses to start with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("the filter action must be `refuse` or `mask` (got `{0}`)")]
    Action(String),
    #[error("the filter list has {0} entries; at most {MAX_TERMS}")]
    TooMany(usize),
    #[error("filter entry `{0}` is longer than {MAX_TERM_CHARS} characters")]
    TooLong(String),
    #[error("filter entry `{0}` has no letter or digit to match")]
    Empty(String),
}

/// Entries in one list at most.
pub const MAX_TERMS: usize = 2_000;
/// Characters in one entry at most.
pub const MAX_TERM_CHARS: usize = 100;
/// Single characters joined into one word at most (`f u c k`).
const MAX_SPELLED: usize = 32;

/// One word of an entry, folded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    /// `*` before it: it may end a longer word.
    any_before: bool,
    /// `*` after it: it may start a longer word.
    any_after: bool,
}

impl Pattern {
    fn matches(&self, word: &str) -> bool {
        self.matches_exactly(word)
            || (stretched(word) && self.squeezed().matches_exactly(&squeeze(word)))
    }

    fn matches_exactly(&self, word: &str) -> bool {
        match (self.any_before, self.any_after) {
            (false, false) => word == self.text,
            (false, true) => word.starts_with(&self.text),
            (true, false) => word.ends_with(&self.text),
            (true, true) => word.contains(&self.text),
        }
    }

    fn squeezed(&self) -> Pattern {
        Pattern {
            text: squeeze(&self.text),
            ..self.clone()
        }
    }
}

/// The stack's list, folded once at a cold start.
#[derive(Debug, Clone, Default)]
pub struct ContentFilter {
    /// Entries that are one plain word, looked up at once; and the same
    /// words squeezed, for stretched words (see [`squeeze`]).
    words: HashSet<String>,
    squeezed: HashSet<String>,
    /// The rest: patterns, and phrases of words.
    entries: Vec<Vec<Pattern>>,
    /// How many entries the list has.
    len: usize,
    action: FilterAction,
}

/// A word of a text: its folded form and where it is in the text.
#[derive(Debug, Clone)]
struct Word {
    folded: String,
    span: Range<usize>,
}

impl ContentFilter {
    /// A filter that lets everything through.
    pub fn none() -> Self {
        ContentFilter::default()
    }

    /// Reads a list: entries separated by new lines or commas; blank lines
    /// and lines starting with `#` are skipped.
    pub fn parse(list: &str, action: FilterAction) -> std::result::Result<Self, FilterError> {
        let raw: Vec<&str> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if raw.len() > MAX_TERMS {
            return Err(FilterError::TooMany(raw.len()));
        }
        let (mut words, mut squeezed, mut entries) = (HashSet::new(), HashSet::new(), Vec::new());
        for &entry in &raw {
            if entry.chars().count() > MAX_TERM_CHARS {
                return Err(FilterError::TooLong(entry.to_string()));
            }
            let patterns: Vec<Pattern> = entry
                .split_whitespace()
                .filter_map(|w| {
                    let any_before = w.starts_with('*');
                    let any_after = w.len() > 1 && w.ends_with('*');
                    let text = fold_word(w.trim_matches('*'));
                    (!text.is_empty()).then_some(Pattern {
                        text,
                        any_before,
                        any_after,
                    })
                })
                .collect();
            match patterns.as_slice() {
                [] => return Err(FilterError::Empty(entry.to_string())),
                [word] if !word.any_before && !word.any_after => {
                    words.insert(word.text.clone());
                    squeezed.insert(squeeze(&word.text));
                }
                _ => entries.push(patterns),
            }
        }
        Ok(ContentFilter {
            words,
            squeezed,
            entries,
            len: raw.len(),
            action,
        })
    }

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether one word of a text matches an entry of one word.
    fn matches_word(&self, word: &str) -> bool {
        self.words.contains(word)
            || (stretched(word) && self.squeezed.contains(&squeeze(word)))
            || self
                .entries
                .iter()
                .any(|e| e.len() == 1 && e[0].matches(word))
    }

    pub fn action(&self) -> FilterAction {
        self.action
    }

    /// The byte ranges of `text` that match an entry, in order, not
    /// overlapping.
    pub fn find(&self, text: &str) -> Vec<Range<usize>> {
        if self.is_empty() {
            return Vec::new();
        }
        let words = words(text);
        let mut found: Vec<Range<usize>> = Vec::new();
        for i in 0..words.len() {
            if self.matches_word(&words[i].folded) {
                found.push(words[i].span.clone());
            }
            for entry in self.entries.iter().filter(|e| e.len() > 1) {
                let Some(window) = words.get(i..i + entry.len()) else {
                    continue;
                };
                if entry.iter().zip(window).all(|(p, w)| p.matches(&w.folded)) {
                    found.push(window[0].span.start..window[entry.len() - 1].span.end);
                }
            }
        }
        // Letters spelled out one by one: every run of two or more
        // one-letter words, read as one word.
        let mut i = 0;
        while i < words.len() {
            let mut j = i;
            while j < words.len() && j - i < MAX_SPELLED && words[j].folded.chars().count() == 1 {
                j += 1;
            }
            for start in i..j {
                for end in start + 2..=j {
                    let joined: String = words[start..end]
                        .iter()
                        .map(|w| w.folded.as_str())
                        .collect();
                    if self.matches_word(&joined) {
                        found.push(words[start].span.start..words[end - 1].span.end);
                    }
                }
            }
            i = j.max(i + 1);
        }
        found.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
        for r in found {
            match merged.last_mut() {
                Some(last) if r.start < last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }

    /// The text to store: as sent when nothing matches; with what matched
    /// masked, or refused, when something does.
    pub fn apply(&self, text: &str) -> Result<String> {
        let found = self.find(text);
        if found.is_empty() {
            return Ok(text.to_string());
        }
        match self.action {
            FilterAction::Refuse => Err(Error::validation(
                "this message has words this chat does not allow".to_string(),
            )),
            FilterAction::Mask => Ok(mask(text, &found)),
        }
    }
}

/// `text` with every character in `ranges` that is not a space made `*`,
/// and those that draw nothing dropped.
fn mask(text: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut next = ranges.iter().peekable();
    for (at, c) in text.char_indices() {
        while next.peek().is_some_and(|r| r.end <= at) {
            next.next();
        }
        let inside = next.peek().is_some_and(|r| r.contains(&at));
        if !inside || c.is_whitespace() {
            out.push(c);
        } else if !invisible(c) {
            out.push('*');
        }
    }
    out
}

/// Characters that draw nothing, or only change the one before them: they
/// neither end a word nor count in it.
fn invisible(c: char) -> bool {
    is_combining_mark(c)
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
}

/// Symbols that stand for a letter inside a word (`sh!t`, `@ss` is not
/// one: a word starts with a letter or a digit).
fn letter_symbol(c: char) -> Option<char> {
    match c {
        '@' => Some('a'),
        '$' => Some('s'),
        '!' | '|' => Some('i'),
        _ => None,
    }
}

/// Digits that stand for a letter in a word that has letters.
fn letter_digit(c: char) -> Option<char> {
    match c {
        '0' => Some('o'),
        '1' => Some('i'),
        '3' => Some('e'),
        '4' => Some('a'),
        '5' => Some('s'),
        '7' => Some('t'),
        _ => None,
    }
}

/// One character's folded form: compatibility-decomposed, without marks,
/// lower case; a character still outside ASCII then takes its
/// confusables' prototype, in lower case. ASCII letters are left as they
/// are: the skeletons map some of them onto others (`m` is `rn`), which
/// would make ordinary words match.
fn fold_char(c: char, out: &mut String) {
    let mut base = String::new();
    decompose_compatible(c, |d| {
        if !is_combining_mark(d) {
            base.extend(d.to_lowercase());
        }
    });
    if base.is_ascii() {
        out.push_str(&base);
        return;
    }
    for s in unicode_security::confusable_detection::skeleton(&base) {
        if !is_combining_mark(s) {
            out.extend(s.to_lowercase());
        }
    }
}

/// A word being read.
struct Reading {
    start: usize,
    /// The end of its last letter or digit (and what draws nothing after it).
    end: usize,
    /// Folded letters and digits, and symbols as they are.
    raw: String,
    /// Whether it has a letter (so its digits stand for letters).
    letters: bool,
    /// Whether it ends with a symbol so far.
    after_symbol: bool,
}

/// The words of `text`, folded (see the module's header).
fn words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current: Option<Reading> = None;
    let mut folded = String::new();
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        if invisible(c) {
            if let Some(word) = current.as_mut().filter(|w| !w.after_symbol) {
                word.end = end;
            }
            continue;
        }
        folded.clear();
        fold_char(c, &mut folded);
        if folded.chars().any(char::is_alphanumeric) {
            let word = current.get_or_insert_with(|| Reading {
                start: at,
                end: at,
                raw: String::new(),
                letters: false,
                after_symbol: false,
            });
            word.end = end;
            word.raw.push_str(&folded);
            word.letters |= c.is_alphabetic();
            word.after_symbol = false;
        } else if let (Some(word), Some(_)) = (current.as_mut(), letter_symbol(c)) {
            word.raw.push(c);
            word.after_symbol = true;
        } else if let Some(word) = current.take() {
            words.extend(finish(word));
        }
    }
    if let Some(word) = current.take() {
        words.extend(finish(word));
    }
    words
}

/// A word read: symbols at its end are punctuation (`hello!`), digits
/// stand for letters when it has letters, and `l` is `i`.
fn finish(word: Reading) -> Option<Word> {
    let folded: String = word
        .raw
        .trim_end_matches(|c| letter_symbol(c).is_some())
        .chars()
        .map(|c| {
            let c = letter_symbol(c).unwrap_or(c);
            let c = if word.letters {
                letter_digit(c).unwrap_or(c)
            } else {
                c
            };
            if c == 'l' {
                'i'
            } else {
                c
            }
        })
        .collect();
    (!folded.is_empty()).then_some(Word {
        folded,
        span: word.start..word.end,
    })
}

/// An entry's word, folded as the text's words are.
fn fold_word(w: &str) -> String {
    words(w).into_iter().map(|w| w.folded).collect()
}

/// A letter written three or more times in a row.
fn stretched(word: &str) -> bool {
    let chars: Vec<char> = word.chars().collect();
    chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2])
}

/// `word` with each run of one letter written once.
fn squeeze(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &str) -> ContentFilter {
        ContentFilter::parse(entries, FilterAction::Mask).unwrap()
    }

    fn hits(filter: &ContentFilter, text: &str) -> Vec<String> {
        filter
            .find(text)
            .into_iter()
            .map(|r| text[r].to_string())
            .collect()
    }

    #[test]
    fn whole_words_match_and_parts_of_words_do_not() {
        let f = list("darn, heck");
        // UTS #39 makes `m` a confusable of `rn`; between ASCII letters
        // that is not an evasion.
        assert!(hits(&f, "dam").is_empty());
        assert_eq!(hits(&f, "well darn it"), ["darn"]);
        assert_eq!(hits(&f, "Darn! HECK."), ["Darn", "HECK"]);
        assert!(hits(&f, "darnedest heckle undarn").is_empty());
        assert!(hits(&f, "").is_empty());
    }

    #[test]
    fn case_width_marks_and_styled_letters_fold_away() {
        let f = list("darn");
        for evasion in [
            "DaRn",
            "ｄａｒｎ",                             // full width
            "𝐝𝐚𝐫𝐧",                                 // mathematical bold
            "dárñ",                                 // precomposed accents
            "da\u{0301}rn",                         // a combining accent
            "d\u{0336}a\u{0336}r\u{0336}n\u{0336}", // strike-through marks
        ] {
            assert_eq!(hits(&f, evasion), [evasion], "{evasion}");
        }
    }

    #[test]
    fn confusables_from_other_scripts_fold_to_latin() {
        let f = list("darn");
        // Cyrillic а (U+0430) and ԁ (U+0501).
        for evasion in ["d\u{0430}rn", "\u{0501}arn", "\u{0501}\u{0430}rn"] {
            assert_eq!(hits(&f, evasion), [evasion], "{evasion}");
        }
    }

    #[test]
    fn invisible_characters_inside_a_word_do_not_split_it() {
        let f = list("darn");
        for evasion in [
            "da\u{200B}rn",
            "d\u{00AD}arn",
            "dar\u{2060}n",
            "d\u{FE0F}arn",
        ] {
            assert_eq!(hits(&f, evasion).len(), 1, "{evasion:?}");
        }
    }

    #[test]
    fn digits_and_symbols_for_letters_only_in_words_with_letters() {
        let f = list("hello, sit, 1337");
        assert_eq!(hits(&f, "h3ll0 there"), ["h3ll0"]);
        assert_eq!(hits(&f, "he11o"), ["he11o"]);
        assert_eq!(hits(&f, "s!t"), ["s!t"]);
        assert_eq!(
            hits(&f, "$1t"),
            Vec::<String>::new(),
            "a word starts with a letter or digit"
        );
        assert_eq!(hits(&f, "5it down"), ["5it"]);
        // A number alone is a number: 1337 matches itself, not `ieet`.
        assert_eq!(hits(&f, "1337"), ["1337"]);
        assert!(hits(&f, "2024 was 5 years").is_empty());
        // Punctuation after a word is not part of it.
        assert_eq!(hits(&f, "hello!"), ["hello"]);
    }

    #[test]
    fn letters_spelled_out_one_by_one_are_one_word() {
        let f = list("darn");
        assert_eq!(hits(&f, "d a r n"), ["d a r n"]);
        assert_eq!(hits(&f, "oh d.a.r.n it"), ["d.a.r.n"]);
        assert_eq!(hits(&f, "a d-a-r-n"), ["d-a-r-n"]);
        assert!(hits(&f, "d a r k n").is_empty());
    }

    #[test]
    fn stretched_letters_match_and_ordinary_doubles_do_not() {
        let f = list("bad, god");
        assert_eq!(hits(&f, "baaaad"), ["baaaad"]);
        assert_eq!(hits(&f, "baaadddd"), ["baaadddd"]);
        assert!(
            hits(&f, "good").is_empty(),
            "a double letter is a word's own"
        );
    }

    #[test]
    fn stars_make_patterns_and_phrases_match_consecutive_words() {
        let f = list("scam*, *coin, go away now");
        assert_eq!(hits(&f, "scammers"), ["scammers"]);
        assert_eq!(hits(&f, "buy shitcoin"), ["shitcoin"]);
        assert!(hits(&f, "coins").is_empty());
        assert_eq!(hits(&f, "please GO  away, now"), ["GO  away, now"]);
        assert!(hits(&f, "go away").is_empty());
    }

    #[test]
    fn masking_keeps_the_rest_and_the_spaces() {
        let f = list("darn");
        assert_eq!(f.apply("oh darn it").unwrap(), "oh **** it");
        assert_eq!(f.apply("d a r n!").unwrap(), "* * * *!");
        assert_eq!(f.apply("da\u{200B}rn").unwrap(), "****");
        assert_eq!(f.apply("fine").unwrap(), "fine");
    }

    #[test]
    fn refusing_is_a_validation_error() {
        let f = ContentFilter::parse("darn", FilterAction::Refuse).unwrap();
        let err = f.apply("darn").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
        assert_eq!(f.apply("dandy").unwrap(), "dandy");
    }

    #[test]
    fn a_list_is_checked_when_it_is_read() {
        assert_eq!(
            ContentFilter::parse("# a comment\n\nx, y\nz", FilterAction::Mask)
                .unwrap()
                .len(),
            3
        );
        assert!(matches!(
            ContentFilter::parse("***", FilterAction::Mask),
            Err(FilterError::Empty(_))
        ));
        assert!(matches!(
            ContentFilter::parse(&"a".repeat(MAX_TERM_CHARS + 1), FilterAction::Mask),
            Err(FilterError::TooLong(_))
        ));
        assert!(ContentFilter::parse(&"a".repeat(MAX_TERM_CHARS), FilterAction::Mask).is_ok());
        let many = vec!["w"; MAX_TERMS + 1].join(",");
        assert_eq!(
            ContentFilter::parse(&many, FilterAction::Mask).unwrap_err(),
            FilterError::TooMany(MAX_TERMS + 1)
        );
        assert_eq!("MASK".parse::<FilterAction>().unwrap(), FilterAction::Mask);
        assert_eq!("".parse::<FilterAction>().unwrap(), FilterAction::Refuse);
        assert!("drop".parse::<FilterAction>().is_err());
        assert!(ContentFilter::none().find("anything").is_empty());
    }
}
