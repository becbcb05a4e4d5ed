//! Text folding used to decide when two spellings name the same artist or track.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// Folds case, whitespace, Unicode compatibility forms and Latin accents.
///
/// Accents are dropped only from Latin letters: the same marks distinguish letters elsewhere
/// (Cyrillic й is not и, Japanese が is not か), and folding those would merge different words.
pub fn fold(text: &str) -> String {
    let mut base_is_latin = false;
    let decomposed = text.nfkc().nfd().filter(|&c| {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            return !base_is_latin;
        }
        base_is_latin = is_latin_letter(c);
        true
    });
    let recomposed: String = decomposed.nfc().collect::<String>().to_lowercase();
    recomposed.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || ('\u{c0}'..='\u{24f}').contains(&c)
        || ('\u{1e00}'..='\u{1eff}').contains(&c)
}

/// The identity of a track for aggregation: folded artist and folded title.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackIdentity {
    pub artist: String,
    pub title: String,
}

impl TrackIdentity {
    pub fn of(artist: &str, title: &str) -> Self {
        Self {
            artist: fold(artist),
            title: fold(title),
        }
    }

    /// A fixed-length key: names can be long enough to break DynamoDB's key size limits.
    pub fn key(&self) -> String {
        short_hash(&[&self.artist, &self.title])
    }
}

/// Key for an artist by folded name.
pub fn artist_key(name: &str) -> String {
    short_hash(&[&fold(name)])
}

fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator that folded text never contains keeps ("ab","c") apart from ("a","bc").
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_whitespace_and_accents() {
        assert_eq!(fold("  Beyoncé   Knowles "), "beyonce knowles");
        assert_eq!(fold("MOTÖRHEAD"), "motorhead");
        assert_eq!(fold("Sigur\tRós"), "sigur ros");
    }

    #[test]
    fn folds_compatibility_forms() {
        assert_eq!(fold("ＡＢＢＡ"), "abba");
        assert_eq!(fold("ﬁre"), "fire");
    }

    #[test]
    fn keeps_non_latin_marks_that_change_meaning() {
        assert_ne!(fold("が"), fold("か"));
        assert_eq!(fold("宇多田ヒカル"), "宇多田ヒカル");
        assert_eq!(fold("Мумий Тролль"), "мумий тролль");
        assert_ne!(fold("й"), fold("и"));
    }

    #[test]
    fn identity_keys_match_across_spellings_and_differ_across_tracks() {
        let a = TrackIdentity::of("Beyoncé", "Halo");
        let b = TrackIdentity::of("beyonce ", "HALO");
        let c = TrackIdentity::of("Beyoncé", "Halo (feat. Someone)");
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_eq!(a.key().len(), 32);
        assert_ne!(
            TrackIdentity::of("ab", "c").key(),
            TrackIdentity::of("a", "bc").key()
        );
    }
}
