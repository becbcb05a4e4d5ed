//! Deciding when a listened song is the same song as a karaoke catalog entry.
//!
//! Both sides go through the same steps, so a catalog row and a Last.fm/Spotify track meet on one
//! [`match_key`]. The steps, in order:
//!
//! 1. Apostrophe and quote characters (`' ’ ‘ ` ´ ʼ " “ ” „ « »`) are dropped: "Don’t" = "Dont".
//! 2. [`fold`]: NFKC, Latin accents dropped, lowercase, whitespace collapsed. Letters of other
//!    scripts keep their marks (Cyrillic й stays й, 宇多田ヒカル is unchanged).
//! 3. Noise is removed (titles: versions and featured artists; artists: featured artists).
//! 4. Punctuation becomes a space, except: `&` (and a ` + ` between spaces) becomes "and"; the dots
//!    of a dotted acronym are dropped ("R.E.M." = "REM", "L.A. Woman" = "LA Woman"). Letters,
//!    digits and combining marks of every script are kept. Whitespace is collapsed, so
//!    "AC/DC" = "AC DC" = "ac-dc" (all "ac dc"; "ACDC" stays a different spelling).
//! 5. Artists only: a leading "the " is dropped ("The Killers" = "Killers").
//!
//! Nothing is reduced to empty: if the cleaned text is empty the folded text is used instead.

use sha2::{Digest, Sha256};
use unicode_normalization::char::is_combining_mark;

use crate::normalize::fold;

/// A fixed-length (32 hex characters) key naming one catalog song across spellings.
pub fn match_key(artist: &str, title: &str) -> String {
    key_hash(&[&catalog_artist(artist), &catalog_title(title)])
}

/// The artist as the catalog compares it (see the module documentation).
pub fn catalog_artist(artist: &str) -> String {
    let folded = fold(&drop_quotes(artist));
    let stripped = cut_trailing_feature(&strip_brackets(&folded, Side::Artist), Side::Artist);
    let mut simple = simplify(&stripped);
    if let Some(rest) = simple.strip_prefix("the ") {
        simple = rest.to_string();
    }
    non_empty(simple, stripped)
}

/// The title as the catalog compares it (see the module documentation).
pub fn catalog_title(title: &str) -> String {
    let folded = fold(&drop_quotes(title));
    let mut current = folded;
    // Noise can be stacked ("Song (feat. X) - Live - Remastered 2011"): strip until nothing changes.
    loop {
        let next = cut_trailing_feature(
            &strip_dash_suffixes(&strip_brackets(&current, Side::Title)),
            Side::Title,
        );
        if next == current {
            break;
        }
        current = next;
    }
    let simple = simplify(&current);
    non_empty(simple, current)
}

fn non_empty(simple: String, folded: String) -> String {
    if simple.is_empty() {
        folded
    } else {
        simple
    }
}

fn key_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // Folded text never contains U+001F, so ("ab", "c") and ("a", "bc") stay apart.
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_quote(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}'
            | '\u{2018}'
            | '\u{201b}'
            | '`'
            | '\u{b4}'
            | '\u{2bc}'
            | '\u{2032}'
            | '"'
            | '\u{201c}'
            | '\u{201d}'
            | '\u{201e}'
            | '\u{ab}'
            | '\u{bb}'
    )
}

/// Before folding: NFKC would turn ´ into a space and a combining accent.
fn drop_quotes(text: &str) -> String {
    text.chars().filter(|&c| !is_quote(c)).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Artist,
    Title,
}

/// Words of folded text: runs of letters and digits.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

const FEATURE_WORDS: [&str; 3] = ["feat", "ft", "featuring"];

/// Version labels that are noise as a whole, in brackets or after " - ".
const VERSION_LABELS: [&str; 21] = [
    "radio edit",
    "radio version",
    "radio mix",
    "single version",
    "single edit",
    "album version",
    "original mix",
    "explicit",
    "explicit version",
    "clean",
    "clean version",
    "clean edit",
    "mono",
    "stereo",
    "mono version",
    "stereo version",
    "mono mix",
    "stereo mix",
    "remastered",
    // Taylor Swift's re-recordings are the same song to a karaoke singer.
    "taylors version",
    "from the vault",
];

fn is_version_noise(ws: &[&str]) -> bool {
    ws.iter().any(|w| w.starts_with("remaster"))
        || ws.first() == Some(&"live")
        || VERSION_LABELS.contains(&ws.join(" ").as_str())
}

/// Whether the inside of a bracket group is noise.
fn is_bracket_noise(inner: &str, side: Side) -> bool {
    let ws = words(inner);
    let Some(&first) = ws.first() else {
        return true; // "()" or "( - )": nothing worth keeping
    };
    if FEATURE_WORDS.contains(&first) || first == "with" {
        return true;
    }
    side == Side::Title && is_version_noise(&ws)
}

/// The byte index of the bracket closing the one opened at `open`, counting nesting.
fn matching_close(bytes: &[u8], open: usize) -> Option<usize> {
    let (opener, closer) = match bytes[open] {
        b'(' => (b'(', b')'),
        _ => (b'[', b']'),
    };
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if b == opener {
            depth += 1;
        } else if b == closer {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Removes noise groups in `(…)` or `[…]`, except one that starts the text: "(I Can't Get No)
/// Satisfaction" keeps its brackets. Unbalanced brackets are left alone.
fn strip_brackets(text: &str, side: Side) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'(' || bytes[i] == b'[' {
            if let Some(close) = matching_close(bytes, i) {
                let before = &text[..i];
                if !before.trim().is_empty() && is_bracket_noise(&text[i + 1..close], side) {
                    out.push_str(&text[copied..i]);
                    out.push(' ');
                    copied = close + 1;
                }
                i = close + 1;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    collapse(&out)
}

const DASHES: [&str; 3] = [" - ", " \u{2013} ", " \u{2014} "];

/// The byte index and length of the last spaced dash.
fn last_dash(text: &str) -> Option<(usize, usize)> {
    DASHES
        .iter()
        .filter_map(|d| text.rfind(d).map(|at| (at, d.len())))
        .max_by_key(|&(at, _)| at)
}

/// Removes trailing " - Remastered 2011", " - Live at …", " - Radio Edit" and the like.
fn strip_dash_suffixes(text: &str) -> String {
    let mut current = text;
    while let Some((at, len)) = last_dash(current) {
        let (head, tail) = (&current[..at], &current[at + len..]);
        let ws = words(tail);
        let noise = ws.first().is_some_and(|w| FEATURE_WORDS.contains(w)) || is_version_noise(&ws);
        if head.trim().is_empty() || ws.is_empty() || !noise {
            break;
        }
        current = head;
    }
    collapse(current)
}

/// Cuts " feat. X", " ft. X", " featuring X" (and, for artists, " with X") when text remains
/// before it and a name follows it.
fn cut_trailing_feature(text: &str, side: Side) -> String {
    const TITLE_MARKERS: [&str; 7] = [
        "feat. ",
        "feat.",
        "feat ",
        "ft. ",
        "ft.",
        "ft ",
        "featuring ",
    ];
    for (at, _) in text.match_indices(' ') {
        if text[..at].trim().is_empty() {
            continue;
        }
        let rest = &text[at + 1..];
        let marked = TITLE_MARKERS
            .iter()
            .chain(if side == Side::Artist {
                &["with "][..]
            } else {
                &[][..]
            })
            .any(|m| {
                rest.len() > m.len() && rest.starts_with(m) && !rest[m.len()..].trim().is_empty()
            });
        if marked {
            return collapse(&text[..at]);
        }
    }
    text.to_string()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Punctuation to spaces, `&` to "and", acronym dots dropped, whitespace collapsed.
fn simplify(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut last_kept = false; // whether the previous output char is a letter, digit or mark
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        if is_quote(c) {
            continue;
        }
        if c.is_alphanumeric() {
            out.push(c);
            last_kept = true;
            continue;
        }
        if is_combining_mark(c) {
            // A mark belongs to the letter before it; one left after a space is debris.
            if last_kept {
                out.push(c);
            }
            continue;
        }
        last_kept = false;
        let spaced = |ch: Option<char>| ch.is_none_or(char::is_whitespace);
        if c == '&' || (c == '+' && spaced(prev) && spaced(next)) {
            out.push_str(" and ");
        } else if c == '.' && is_acronym_dot(&chars, i) {
            // "r.e.m" → "rem": nothing pushed
        } else {
            out.push(' ');
        }
    }
    collapse(&out)
}

/// A dot between two single letters of a dotted acronym: "r.e.m.", "l.a. woman", "p.s. i".
fn is_acronym_dot(chars: &[char], i: usize) -> bool {
    let letter = |j: Option<usize>| {
        j.and_then(|j| chars.get(j))
            .is_some_and(|c| c.is_alphabetic())
    };
    let single = i < 2 || !chars[i - 2].is_alphanumeric();
    letter(i.checked_sub(1)) && single && letter(Some(i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_title(a: &str, b: &str) {
        assert_eq!(catalog_title(a), catalog_title(b), "{a:?} vs {b:?}");
    }

    fn same_artist(a: &str, b: &str) {
        assert_eq!(catalog_artist(a), catalog_artist(b), "{a:?} vs {b:?}");
    }

    #[test]
    fn accents_are_folded_for_latin_letters() {
        assert_eq!(match_key("Beyoncé", "Halo"), match_key("Beyonce", "Halo"));
        assert_eq!(match_key("Beyoncé", "Halo"), match_key("BEYONCE", " halo "));
        assert_eq!(catalog_artist("Motörhead"), "motorhead");
        same_artist("Mötley Crüe", "Motley Crue");
        same_artist("Sigur Rós", "Sigur Ros");
        same_title("Déjà Vu", "Deja Vu");
        // Decomposed input (NFD) and compatibility forms fold the same way.
        same_artist("Beyonce\u{301}", "Beyoncé");
        same_artist("ＡＢＢＡ", "ABBA");
    }

    #[test]
    fn other_scripts_are_kept() {
        assert_eq!(catalog_artist("宇多田ヒカル"), "宇多田ヒカル");
        assert_eq!(catalog_title("First Love"), "first love");
        assert_eq!(catalog_title("花束を君に"), "花束を君に");
        assert_eq!(catalog_artist("Мумий Тролль"), "мумий тролль");
        assert_eq!(catalog_title("Дельфины"), "дельфины");
        assert_ne!(catalog_title("Мой"), catalog_title("Мои"));
        assert_eq!(catalog_title("Мой"), "мой");
        assert_ne!(catalog_title("が"), catalog_title("か"));
        assert_eq!(catalog_artist("방탄소년단"), "방탄소년단");
        // Devanagari vowel signs are combining marks: they must survive.
        assert_eq!(catalog_title("नमस्ते"), "नमस्ते");
        // Japanese punctuation is punctuation, the prolonged sound mark is a letter.
        assert_eq!(catalog_title("ラブ・ストーリー"), "ラブ ストーリー");
        // The old system's bug: non-ASCII letters were replaced by spaces.
        assert_ne!(catalog_artist("宇多田ヒカル"), catalog_artist("ヒカル"));
        assert_ne!(
            match_key("宇多田ヒカル", "First Love"),
            match_key("", "First Love")
        );
    }

    #[test]
    fn remaster_and_version_noise_is_removed() {
        let plain = catalog_title("Don't Stop Me Now");
        assert_eq!(plain, "dont stop me now");
        for noisy in [
            "Don't Stop Me Now (Remastered 2011)",
            "Don't Stop Me Now - Remastered 2011",
            "Don't Stop Me Now - 2011 Remaster",
            "Don't Stop Me Now - Remastered",
            "Don't Stop Me Now (Remastered)",
            "Don't Stop Me Now [Remastered]",
            "Don't Stop Me Now (2011 Remaster)",
            "Don't Stop Me Now (Remaster)",
            "Don't Stop Me Now (Remastered 2011 Version)",
            "Don't Stop Me Now - 2001 Digital Remaster",
            "Don't Stop Me Now (Live)",
            "Don't Stop Me Now (Live at Wembley '86)",
            "Don't Stop Me Now - Live",
            "Don't Stop Me Now - Live at Wembley Stadium, 1986",
            "Don't Stop Me Now (Radio Edit)",
            "Don't Stop Me Now - Radio Edit",
            "Don't Stop Me Now (Single Version)",
            "Don't Stop Me Now - Single Version",
            "Don't Stop Me Now (Album Version)",
            "Don't Stop Me Now - Album Version",
            "Don't Stop Me Now (Original Mix)",
            "Don't Stop Me Now - Original Mix",
            "Don't Stop Me Now - Mono",
            "Don't Stop Me Now - Stereo",
            "Don't Stop Me Now (Explicit)",
            "Don't Stop Me Now (Clean)",
            "Don't Stop Me Now [Explicit]",
            "DON'T STOP ME NOW (REMASTERED 2011)",
            "Don’t Stop Me Now – Remastered 2011",
            "Don't Stop Me Now — Live",
            "Don't Stop Me Now （Remastered 2011）",
        ] {
            assert_eq!(catalog_title(noisy), plain, "{noisy:?}");
        }
    }

    #[test]
    fn repeated_noise_is_removed() {
        let plain = catalog_title("Bohemian Rhapsody");
        for noisy in [
            "Bohemian Rhapsody (Live) (Remastered)",
            "Bohemian Rhapsody - Live - Remastered 2011",
            "Bohemian Rhapsody (feat. Someone) - Remastered 2011",
            "Bohemian Rhapsody - Remastered 2011 (Explicit)",
            "Bohemian Rhapsody feat. Someone - Remastered",
            "Bohemian Rhapsody [Live] [Radio Edit] (Clean)",
            "Bohemian Rhapsody (Live (Remastered))",
        ] {
            assert_eq!(catalog_title(noisy), plain, "{noisy:?}");
        }
    }

    #[test]
    fn featured_artists_are_removed_from_titles() {
        let plain = catalog_title("Crazy in Love");
        for noisy in [
            "Crazy in Love (feat. Jay-Z)",
            "Crazy in Love (Feat. JAY-Z)",
            "Crazy in Love [feat. Jay-Z]",
            "Crazy in Love [feat Jay-Z]",
            "Crazy in Love (ft. Jay-Z)",
            "Crazy in Love (ft Jay-Z)",
            "Crazy in Love (featuring Jay-Z)",
            "Crazy in Love (with Jay-Z)",
            "Crazy in Love feat. Jay-Z",
            "Crazy in Love ft. Jay-Z",
            "Crazy in Love featuring Jay-Z",
            "Crazy in Love - feat. Jay-Z",
        ] {
            assert_eq!(catalog_title(noisy), plain, "{noisy:?}");
        }
        // Not a feature: "with" in a title is part of it, outside brackets.
        assert_eq!(catalog_title("Dancing with Myself"), "dancing with myself");
        assert_eq!(
            catalog_title("I Wanna Dance with Somebody (Who Loves Me)"),
            "i wanna dance with somebody who loves me"
        );
    }

    #[test]
    fn meaningful_brackets_and_dashes_are_kept() {
        assert_eq!(
            catalog_title("(I Can't Get No) Satisfaction"),
            "i cant get no satisfaction"
        );
        assert_eq!(
            catalog_title("Single Ladies (Put a Ring on It)"),
            "single ladies put a ring on it"
        );
        assert_ne!(
            catalog_title("Single Ladies (Put a Ring on It)"),
            catalog_title("Single Ladies")
        );
        assert_eq!(catalog_title("Hey Jude - Acoustic"), "hey jude acoustic");
        assert_eq!(catalog_title("Song (Remix)"), "song remix");
        assert_eq!(catalog_title("Song (Acoustic)"), "song acoustic");
        // Unbalanced brackets are left alone (then punctuation goes).
        assert_eq!(catalog_title("Song (Live"), "song live");
        // A dash inside a word is not a version separator.
        assert_eq!(catalog_title("Live-Evil"), "live evil");
    }

    #[test]
    fn titles_that_are_only_noise_are_never_empty() {
        assert_eq!(catalog_title("(Live)"), "live");
        assert_eq!(catalog_title("[Remastered]"), "remastered");
        assert_eq!(catalog_title("Remastered"), "remastered");
        assert_eq!(catalog_title("(Radio Edit) (Explicit)"), "radio edit");
        assert_eq!(catalog_title(" - Remastered 2011"), "remastered 2011");
        assert_eq!(catalog_title("Live"), "live");
        assert_eq!(catalog_title("feat. Someone"), "feat someone");
        assert_eq!(catalog_title("?"), "?");
        assert_eq!(catalog_title("..."), "...");
        assert_eq!(catalog_title("!!! (Live)"), "!!!");
        assert_eq!(catalog_title(""), "");
        assert_eq!(match_key("A", "").len(), 32);
    }

    #[test]
    fn featured_artists_are_removed_from_artists() {
        let plain = catalog_artist("Beyoncé");
        for noisy in [
            "Beyoncé feat. Jay-Z",
            "Beyoncé feat Jay-Z",
            "Beyoncé ft. Jay-Z",
            "Beyoncé ft Jay-Z",
            "Beyoncé featuring Jay-Z",
            "Beyoncé with Jay-Z",
            "Beyoncé (feat. Jay-Z)",
            "BEYONCE FEAT. JAY Z",
        ] {
            assert_eq!(catalog_artist(noisy), plain, "{noisy:?}");
        }
        // Only when something remains, and only as a separate word.
        assert_eq!(catalog_artist("Little Feat"), "little feat");
        assert_eq!(catalog_artist("With Confidence"), "with confidence");
        assert_eq!(catalog_artist("Featuring"), "featuring");
        assert_eq!(catalog_artist("Beyoncé feat."), "beyonce feat");
        assert_eq!(catalog_artist("Daft Punk"), "daft punk");
    }

    #[test]
    fn leading_the_and_ampersands() {
        same_artist("The Killers", "Killers");
        same_artist("the killers", "KILLERS");
        same_artist("Simon & Garfunkel", "Simon and Garfunkel");
        same_artist("Earth, Wind & Fire", "Earth Wind and Fire");
        same_artist("The Mamas & the Papas", "Mamas and The Papas");
        same_artist("Florence + the Machine", "Florence and the Machine");
        same_title("Rock & Roll All Nite", "Rock and Roll All Nite");
        assert_eq!(catalog_artist("The The"), "the");
        assert_eq!(catalog_artist("The"), "the");
        assert_eq!(catalog_artist("Theatre of Tragedy"), "theatre of tragedy");
        // "the" inside a title is kept.
        assert_ne!(
            catalog_title("The Final Countdown"),
            catalog_title("Final Countdown")
        );
        // A plus inside a word is punctuation.
        assert_eq!(catalog_title("1+1"), "1 1");
    }

    #[test]
    fn apostrophes_quotes_and_punctuation() {
        same_title("Don't Stop Believin'", "Dont Stop Believin");
        same_title("Don’t Stop Believin’", "Don't Stop Believin'");
        same_title("Don`t Stop Believin´", "Dont Stop Believin");
        same_title("Livin' on a Prayer", "Livin On A Prayer");
        same_artist("Guns N' Roses", "Guns N Roses");
        same_artist("Guns 'N' Roses", "Guns N Roses");
        same_title("Sweet Child O' Mine", "Sweet Child O Mine");
        same_title("...Baby One More Time", "Baby One More Time");
        same_title("Mr. Brightside", "Mr Brightside");
        same_title("Hello, Goodbye!", "Hello Goodbye");
        same_title("Let It Go \"From Frozen\"", "Let It Go From Frozen");
        // AC/DC: a slash is punctuation, so it is a space.
        assert_eq!(catalog_artist("AC/DC"), "ac dc");
        same_artist("AC/DC", "AC-DC");
        same_artist("AC/DC", "ac dc");
        assert_ne!(catalog_artist("AC/DC"), catalog_artist("ACDC"));
        // Dotted acronyms lose their dots.
        same_artist("R.E.M.", "REM");
        same_title("Y.M.C.A.", "YMCA");
        same_title("L.A. Woman", "LA Woman");
        same_title("P.S. I Love You", "PS I Love You");
        assert_eq!(catalog_title("Version 2.0"), "version 2 0");
        // Symbols inside names.
        assert_eq!(catalog_artist("P!nk"), "p nk");
        assert_eq!(catalog_artist("Ke$ha"), "ke ha");
        assert_eq!(catalog_artist("!!!"), "!!!");
        assert_eq!(catalog_artist("Sunn O)))"), "sunn o");
        // A stray accent after a space (NFKC of ¨) is dropped, not kept as a letter.
        assert_eq!(catalog_title("Hello \u{a8}World"), "hello world");
    }

    #[test]
    fn keys_are_fixed_length_and_separate_fields() {
        let k = match_key("Queen", "Bohemian Rhapsody");
        assert_eq!(k.len(), 32);
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(match_key("ab", "c"), match_key("a", "bc"));
        assert_ne!(
            match_key("Queen", "Bohemian Rhapsody"),
            match_key("Queen", "Somebody to Love")
        );
        assert_eq!(
            match_key("Queen", "Bohemian Rhapsody"),
            match_key("QUEEN", "Bohemian Rhapsody - Remastered 2011")
        );
        let long = "x".repeat(5000);
        assert_eq!(match_key(&long, &long).len(), 32);
    }

    #[test]
    fn re_recordings_and_collaborations_from_streaming_services() {
        same_title("Shake It Off (Taylor's Version)", "Shake It Off");
        same_title(
            "Mr. Perfectly Fine (Taylor’s Version) (From The Vault)",
            "Mr Perfectly Fine",
        );
        same_title("Señorita (with Camila Cabello)", "Senorita");
        same_artist("Santana feat. Rob Thomas", "Santana");
        same_artist("Mark Ronson feat. Bruno Mars", "Mark Ronson");
        // Two credited artists stay two artists: "&" is part of the name.
        assert_eq!(catalog_artist("Beyoncé & Jay-Z"), "beyonce and jay z");
    }

    #[test]
    fn catalog_examples_from_the_issue() {
        assert_eq!(match_key("Beyoncé", "Halo"), match_key("Beyonce", "Halo"));
        assert_eq!(
            match_key("Queen", "Don't Stop Me Now (Remastered 2011)"),
            match_key("Queen", "Don't Stop Me Now")
        );
        assert_eq!(
            match_key("Journey", "Don't Stop Believin' - 2022 Remaster"),
            match_key("Journey", "Don't Stop Believin'")
        );
        assert_eq!(
            match_key("The Killers", "Mr. Brightside"),
            match_key("Killers", "Mr Brightside")
        );
        assert_eq!(
            match_key("Beyoncé feat. Jay-Z", "Crazy In Love (feat. Jay-Z)"),
            match_key("Beyoncé", "Crazy in Love")
        );
        assert_eq!(
            match_key("Britney Spears", "...Baby One More Time"),
            match_key("Britney Spears", "Baby One More Time")
        );
    }
}
