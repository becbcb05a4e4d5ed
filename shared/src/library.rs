//! "Artists You Know" and "Songs You Know": how each source's facts combine into one row, and
//! the order rows are kept in by the store ("how well the user knows it": Last.fm playcount,
//! then Spotify rank, then what the user added by hand).

use serde::{Deserialize, Serialize};

/// Spotify's three windows, in the order a rank in them says most about the user.
pub const TIME_RANGES: [&str; 3] = ["long_term", "medium_term", "short_term"];

pub fn valid_time_range(range: &str) -> bool {
    TIME_RANGES.contains(&range)
}

/// Spotify's part of a row: the best rank seen across the lists, and its list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotifyRank {
    pub rank: u32,
    pub time_range: String,
    pub popularity: Option<u32>,
}

/// Sort key inside a user's list index. Rows that share a tier sort by their value, then by
/// key so paging is stable.
pub fn sort_key(
    lastfm_playcount: Option<u64>,
    spotify: Option<&SpotifyRank>,
    manual_added_at: Option<i64>,
    key: &str,
) -> String {
    sort_key_with_loved(lastfm_playcount, spotify, false, manual_added_at, key)
}

/// As [`sort_key`], for rows that may be known only as a loved track (loved on Last.fm, never
/// played): those come after Spotify's ranks and before what the user added by hand.
pub fn sort_key_with_loved(
    lastfm_playcount: Option<u64>,
    spotify: Option<&SpotifyRank>,
    loved: bool,
    manual_added_at: Option<i64>,
    key: &str,
) -> String {
    if let Some(playcount) = lastfm_playcount.filter(|p| *p > 0) {
        let inverted = 999_999_999_999u64.saturating_sub(playcount);
        return format!("a#{inverted:012}#{key}");
    }
    if let Some(s) = spotify {
        let range_order = TIME_RANGES
            .iter()
            .position(|r| *r == s.time_range)
            .unwrap_or(TIME_RANGES.len());
        return format!("b#{:06}#{range_order}#{key}", s.rank);
    }
    if loved {
        // "bz" sorts after every "b#…" and before "c#…".
        return format!("bz#{key}");
    }
    let added = manual_added_at.unwrap_or(0);
    format!("c#{added:012}#{key}")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains control characters")]
    Control { field: &'static str },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

pub const MAX_NAME_CHARS: usize = 512;
pub const MAX_NOTES_CHARS: usize = 500;

/// A human-entered name (artist, genre): trimmed, non-empty, bounded, printable.
pub fn clean_text(field: &'static str, raw: &str, max: usize) -> Result<String, InputError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(InputError::Empty { field });
    }
    if text.chars().count() > max {
        return Err(InputError::TooLong { field, max });
    }
    if text.chars().any(char::is_control) {
        return Err(InputError::Control { field });
    }
    Ok(text.to_string())
}

pub const DECADES: [&str; 8] = [
    "1950s", "1960s", "1970s", "1980s", "1990s", "2000s", "2010s", "2020s",
];
pub const ENERGIES: [&str; 3] = ["chill", "medium", "high"];
pub const MAX_GENRES: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    pub decades: Vec<String>,
    #[serde(default)]
    pub energy: Option<String>,
    #[serde(default)]
    pub genres: Vec<String>,
}

impl Preferences {
    /// Checks every field and returns the cleaned value (deduplicated, decades in order).
    pub fn validated(self) -> Result<Self, InputError> {
        let mut decades = Vec::new();
        for d in &self.decades {
            if !DECADES.contains(&d.as_str()) {
                return Err(InputError::Invalid {
                    field: "decades",
                    message: format!("{d:?} is not one of {}", DECADES.join(", ")),
                });
            }
        }
        for d in DECADES {
            if self.decades.iter().any(|x| x == d) {
                decades.push(d.to_string());
            }
        }
        if let Some(e) = &self.energy {
            if !ENERGIES.contains(&e.as_str()) {
                return Err(InputError::Invalid {
                    field: "energy",
                    message: format!("{e:?} is not one of {}", ENERGIES.join(", ")),
                });
            }
        }
        if self.genres.len() > MAX_GENRES {
            return Err(InputError::Invalid {
                field: "genres",
                message: format!("at most {MAX_GENRES} genres"),
            });
        }
        let mut genres: Vec<String> = Vec::new();
        for g in &self.genres {
            let g = clean_text("genres", g, 40)?;
            if !genres.iter().any(|x| x.eq_ignore_ascii_case(&g)) {
                genres.push(g);
            }
        }
        Ok(Self {
            decades,
            energy: self.energy,
            genres,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(rank: u32, range: &str) -> SpotifyRank {
        SpotifyRank {
            rank,
            time_range: range.into(),
            popularity: None,
        }
    }

    #[test]
    fn lastfm_plays_outrank_spotify_ranks_which_outrank_manual_entries() {
        let mut keys = [
            sort_key(None, None, Some(5), "manual"),
            sort_key(None, Some(&sp(2, "medium_term")), None, "sp2"),
            sort_key(Some(3), Some(&sp(1, "long_term")), None, "lf3"),
            sort_key(Some(900), None, Some(1), "lf900"),
            sort_key(None, Some(&sp(1, "short_term")), None, "sp1"),
            sort_key(Some(0), Some(&sp(7, "long_term")), None, "zero-plays"),
        ];
        keys.sort();
        let order: Vec<&str> = keys.iter().map(|k| k.rsplit('#').next().unwrap()).collect();
        assert_eq!(
            order,
            ["lf900", "lf3", "sp1", "sp2", "zero-plays", "manual"]
        );
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(clean_text("name", "  Queen ", 512).unwrap(), "Queen");
        assert_eq!(
            clean_text("name", " ", 512),
            Err(InputError::Empty { field: "name" })
        );
        assert!(matches!(
            clean_text("name", &"x".repeat(513), 512),
            Err(InputError::TooLong { .. })
        ));
        assert!(matches!(
            clean_text("name", "a\u{7}b", 512),
            Err(InputError::Control { .. })
        ));
        assert!(clean_text("name", "Beyoncé 宇多田", 512).is_ok());
    }

    #[test]
    fn preferences_are_validated_and_tidied() {
        let p = Preferences {
            decades: vec!["1990s".into(), "1970s".into(), "1990s".into()],
            energy: Some("high".into()),
            genres: vec![" Rock ".into(), "rock".into(), "Pop".into()],
        }
        .validated()
        .unwrap();
        assert_eq!(p.decades, ["1970s", "1990s"]);
        assert_eq!(p.genres, ["Rock", "Pop"]);
        let bad = Preferences {
            decades: vec!["1890s".into()],
            ..Default::default()
        };
        assert!(matches!(
            bad.validated(),
            Err(InputError::Invalid {
                field: "decades",
                ..
            })
        ));
        let bad = Preferences {
            energy: Some("loud".into()),
            ..Default::default()
        };
        assert!(matches!(
            bad.validated(),
            Err(InputError::Invalid {
                field: "energy",
                ..
            })
        ));
        let bad = Preferences {
            genres: vec!["x".into(); 21],
            ..Default::default()
        };
        assert!(bad.validated().is_err());
    }
}
