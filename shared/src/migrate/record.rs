//! One line of the legacy `user_songs` export: parsing (tolerant of missing optional fields,
//! strict about types), validation, and what the record maps to (a [`Plan`]). Pure: no table, no
//! clock; every rule here is unit-tested.
//!
//! A line is rejected, with a reason naming the field, when it is not a JSON object, when a
//! field has the wrong JSON type (a number written as a string, a boolean as `"yes"`), when a
//! required field is missing (`id`, `user_id`, `source`; `artist` and `title` unless `song_id` is
//! a karaoke catalog id), when a value is out of range (negative numbers, ranks below 1,
//! popularity above 100, ratings above 5, timestamps before 1970 or after 2099), or when the
//! record carries nothing to migrate. `null` counts as absent; unknown fields are ignored.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::valid_user_id;
use crate::library::{clean_text, InputError, MAX_NAME_CHARS, MAX_NOTES_CHARS};
use crate::normalize::{fold, TrackIdentity};

/// Longest accepted legacy record id (it names the record's entry on every item it writes).
pub const MAX_LEGACY_ID_CHARS: usize = 256;
/// Longest accepted song id, in bytes (song ids become sort keys: `KNOWN#<id>`, `SUNG#<id>`).
pub const MAX_SONG_ID_BYTES: usize = 512;
/// Latest accepted timestamp: 2100-01-01T00:00:00Z (later values are typos or milliseconds).
pub const MAX_TIMESTAMP: i64 = 4_102_444_800;
/// Spotify popularity is 0-100.
pub const MAX_POPULARITY: u64 = 100;
/// Legacy ratings are 1-5 (0 meant "not rated").
pub const MAX_RATING: f64 = 5.0;

/// Where the older system got the record from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Spotify,
    Lastfm,
    Manual,
    KnownSongs,
    Quiz,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Spotify,
        Source::Lastfm,
        Source::Manual,
        Source::KnownSongs,
        Source::Quiz,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Spotify => "spotify",
            Source::Lastfm => "lastfm",
            Source::Manual => "manual",
            Source::KnownSongs => "known_songs",
            Source::Quiz => "quiz",
        }
    }

    /// Exact, lower-case names only.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Songs the user put in by hand (typed in, picked from the known-songs list, or answered
    /// in the quiz): they become known songs.
    pub fn is_hand_added(self) -> bool {
        matches!(self, Source::Manual | Source::KnownSongs | Source::Quiz)
    }
}

/// A legacy song id: a karaoke catalog id, or `"{source}:{normalized artist}:{normalized title}"`
/// for songs the old system could not match to the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SongId {
    Catalog(String),
    Composite(String),
}

impl SongId {
    /// An id that starts with a source name and a colon is composite; anything else is a
    /// catalog id.
    pub fn classify(id: &str) -> SongId {
        match id.split_once(':') {
            Some((prefix, _)) if Source::parse(prefix).is_some() => {
                SongId::Composite(id.to_string())
            }
            _ => SongId::Catalog(id.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SongId::Catalog(id) | SongId::Composite(id) => id,
        }
    }

    pub fn catalog_id(&self) -> Option<&str> {
        match self {
            SongId::Catalog(id) => Some(id),
            SongId::Composite(_) => None,
        }
    }
}

/// A composite id in the legacy shape, for a record that had none (our folding stands in for
/// the old normalisation). Too long for a key: the source and the track key instead.
pub fn composite_song_id(source: Source, artist: &str, title: &str) -> String {
    let id = format!("{}:{}:{}", source.as_str(), fold(artist), fold(title));
    if id.len() <= MAX_SONG_ID_BYTES {
        id
    } else {
        format!(
            "{}:{}",
            source.as_str(),
            TrackIdentity::of(artist, title).key()
        )
    }
}

/// One legacy `user_songs` record with typed fields (see `docs/MIGRATION.md`). Timestamps are
/// Unix seconds (the export may hold RFC 3339 text, naive ISO text read as UTC, or whole
/// seconds); text is trimmed, and blank text counts as absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyRecord {
    pub id: String,
    pub user_id: String,
    pub song_id: Option<String>,
    pub source: Source,
    /// The old name of `sync_count`: how many syncs saw the song (not a play count).
    pub play_count: Option<u64>,
    pub sync_count: Option<u64>,
    /// A real Last.fm play count, when the old system had one.
    pub playcount: Option<u64>,
    pub rank: Option<u32>,
    pub last_played_at: Option<i64>,
    pub is_saved: Option<bool>,
    pub times_sung: Option<u64>,
    pub last_sung_at: Option<i64>,
    pub average_rating: Option<f64>,
    pub notes: Option<String>,
    pub artist: Option<String>,
    pub title: Option<String>,
    pub has_karaoke_version: Option<bool>,
    pub spotify_popularity: Option<u32>,
    pub duration_ms: Option<u64>,
    pub explicit: Option<bool>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A line that could not be migrated, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What one valid record becomes. Every plan has a song (its names or its catalog id) and at
/// least one part: a Last.fm or Spotify part of the song row, a known song, or sung data.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Line of the export (1-based).
    pub line: u64,
    pub legacy_id: String,
    pub user_id: String,
    pub source: Source,
    pub song: SongRef,
    pub part: SongPart,
    /// Set for hand-added sources and for saved songs (a saved song is one the user knows).
    pub known: Option<KnownPart>,
    pub sung: Option<SungPart>,
    /// The record's notes, cleaned (see [`clean_notes`]); they go with the known song, and are
    /// otherwise kept on the song row's legacy entry.
    pub notes: Option<String>,
    /// The record's notes were longer than [`MAX_NOTES_CHARS`] and were cut.
    pub notes_truncated: bool,
    /// The record as read (kept on the song row's legacy entry).
    pub record: LegacyRecord,
}

/// How to find the song: its names, or (when the record has none) its catalog id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SongRef {
    pub song_id: Option<SongId>,
    pub artist: Option<String>,
    pub title: Option<String>,
}

impl SongRef {
    /// Both names, when the record has them.
    pub fn names(&self) -> Option<(&str, &str)> {
        Some((self.artist.as_deref()?, self.title.as_deref()?))
    }
}

/// The source's part of the song row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SongPart {
    /// A Last.fm record: the row's Last.fm part.
    Lastfm(LastfmPart),
    /// A Spotify record: the row's Spotify part when it has a rank (Spotify's part of a song
    /// is its rank).
    Spotify(SpotifyPart),
    /// Manual, known-songs and quiz records: only the known-song part.
    HandAdded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastfmPart {
    /// The real Last.fm play count, if the old system had one.
    pub playcount: Option<u64>,
    /// Syncs that saw the song: `sync_count`, else the old `play_count`, else 0.
    pub sync_count: u64,
    pub last_played_at: Option<i64>,
    /// When the old system first saw the song among the user's plays (`created_at`).
    pub first_seen_at: Option<i64>,
    /// Position in the old Last.fm top list (kept on the legacy entry; not shown).
    pub rank: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpotifyPart {
    pub rank: Option<u32>,
    pub popularity: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPart {
    /// When the song was added (`created_at`); absent: the first migration run's time.
    pub added_at: Option<i64>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SungPart {
    /// At least 1: a date or a rating says the song was sung.
    pub times_sung: u64,
    pub last_sung_at: Option<i64>,
    /// The legacy average (above 0; 0 meant "not rated").
    pub average_rating: Option<f64>,
}

/// Parses and maps one line. `text` is the line without its line break.
pub fn parse_line(line: u64, text: &str) -> Result<Plan, Rejection> {
    parse_record(text)
        .and_then(|record| plan(record, line))
        .map_err(|reason| Rejection { line, reason })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a bad value for a rejection reason.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn wrong_type(name: &str, expected: &str, v: &Value) -> String {
    format!(
        "{name}: expected {expected}, got {} ({})",
        kind(v),
        shown(v)
    )
}

/// Typed access to the fields of one record; `null` reads as absent.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn raw_string(&self, name: &str) -> Result<Option<&str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_type(name, "a string", v)),
        }
    }

    /// Trimmed, printable text of at most `max` characters; blank is absent.
    fn text(&self, name: &'static str, max: usize) -> Result<Option<String>, String> {
        let Some(raw) = self.raw_string(name)? else {
            return Ok(None);
        };
        match clean_text(name, raw, max) {
            Ok(t) => Ok(Some(t)),
            Err(InputError::Empty { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn required_text(&self, name: &'static str, max: usize) -> Result<String, String> {
        self.text(name, max)?
            .ok_or_else(|| format!("{name}: missing (required)"))
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong_type(name, "true or false", v)),
        }
    }

    /// A whole number, 0 or more.
    fn count(&self, name: &str) -> Result<Option<u64>, String> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let Value::Number(n) = v else {
            return Err(wrong_type(name, "a whole number", v));
        };
        if let Some(u) = n.as_u64() {
            return Ok(Some(u));
        }
        if n.as_i64().is_some() || n.as_f64().is_some_and(|f| f < 0.0) {
            return Err(format!("{name}: must not be negative (got {n})"));
        }
        Err(format!("{name}: expected a whole number, got {n}"))
    }

    fn small_count(&self, name: &str, min: u64, max: u64) -> Result<Option<u32>, String> {
        match self.count(name)? {
            None => Ok(None),
            Some(v) if v < min || v > max => {
                Err(format!("{name}: must be from {min} to {max} (got {v})"))
            }
            Some(v) => Ok(Some(v as u32)),
        }
    }

    fn rating(&self, name: &str) -> Result<Option<f64>, String> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let Some(f) = v.as_f64() else {
            return Err(wrong_type(name, "a number", v));
        };
        if f < 0.0 {
            return Err(format!("{name}: must not be negative (got {f})"));
        }
        if f > MAX_RATING {
            return Err(format!("{name}: must be at most {MAX_RATING} (got {f})"));
        }
        Ok(Some(f))
    }

    fn timestamp(&self, name: &str) -> Result<Option<i64>, String> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let secs = match v {
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(s), _) => s,
                (None, Some(_)) => i64::MAX,
                _ => {
                    return Err(format!(
                        "{name}: expected whole Unix seconds or an RFC 3339 timestamp, got {n}"
                    ))
                }
            },
            Value::String(s) => parse_time(s.trim()).ok_or_else(|| {
                format!(
                    "{name}: expected an RFC 3339 timestamp or Unix seconds, got {}",
                    shown(v)
                )
            })?,
            v => return Err(wrong_type(name, "an RFC 3339 timestamp or Unix seconds", v)),
        };
        if secs < 0 {
            return Err(format!("{name}: must not be negative (before 1970)"));
        }
        if secs > MAX_TIMESTAMP {
            return Err(format!(
                "{name}: after 2099 (milliseconds instead of seconds?)"
            ));
        }
        Ok(Some(secs))
    }
}

/// RFC 3339, or ISO 8601 without an offset (read as UTC), as Python's `isoformat()` writes it.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

/// Free text: line breaks kept (CRLF becomes LF), tabs become spaces, other control characters
/// dropped, trimmed; blank is absent. Longer than [`MAX_NOTES_CHARS`]: cut (second value true).
pub fn clean_notes(raw: &str) -> (Option<String>, bool) {
    let text: String = raw
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\t' || c == '\r' { ' ' } else { c })
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return (None, false);
    }
    if text.chars().count() > MAX_NOTES_CHARS {
        let cut: String = text.chars().take(MAX_NOTES_CHARS).collect();
        return (Some(cut.trim_end().to_string()), true);
    }
    (Some(text.to_string()), false)
}

/// Reads one JSON line into a typed record, checking every field's type and range.
pub fn parse_record(text: &str) -> Result<LegacyRecord, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(map) = &value else {
        return Err(format!("not a JSON object (got {})", kind(&value)));
    };
    let f = Fields(map);
    let id = f.required_text("id", MAX_LEGACY_ID_CHARS)?;
    let user_id = match f.raw_string("user_id")? {
        None => return Err("user_id: missing (required)".into()),
        Some(u) if valid_user_id(u) => u.to_string(),
        Some(u) => {
            return Err(format!(
                "user_id: {u:?} is not a valid user id (1-128 of A-Z a-z 0-9 . _ @ : -)"
            ))
        }
    };
    let source = match f.raw_string("source")? {
        None => return Err("source: missing (required)".into()),
        Some(s) => Source::parse(s).ok_or_else(|| {
            format!(
                "source: unknown source {s:?} (expected one of {})",
                Source::ALL.map(Source::as_str).join(", ")
            )
        })?,
    };
    let song_id = f.text("song_id", MAX_SONG_ID_BYTES)?;
    if let Some(s) = &song_id {
        if s.len() > MAX_SONG_ID_BYTES {
            return Err(format!("song_id: longer than {MAX_SONG_ID_BYTES} bytes"));
        }
    }
    let notes = f.raw_string("notes")?.map(str::to_string);
    Ok(LegacyRecord {
        id,
        user_id,
        song_id,
        source,
        play_count: f.count("play_count")?,
        sync_count: f.count("sync_count")?,
        playcount: f.count("playcount")?,
        rank: f.small_count("rank", 1, u64::from(u32::MAX))?,
        last_played_at: f.timestamp("last_played_at")?,
        is_saved: f.boolean("is_saved")?,
        times_sung: f.count("times_sung")?,
        last_sung_at: f.timestamp("last_sung_at")?,
        average_rating: f.rating("average_rating")?,
        notes,
        artist: f.text("artist", MAX_NAME_CHARS)?,
        title: f.text("title", MAX_NAME_CHARS)?,
        has_karaoke_version: f.boolean("has_karaoke_version")?,
        spotify_popularity: f.small_count("spotify_popularity", 0, MAX_POPULARITY)?,
        duration_ms: f.count("duration_ms")?,
        explicit: f.boolean("explicit")?,
        created_at: f.timestamp("created_at")?,
        updated_at: f.timestamp("updated_at")?,
    })
}

/// Maps a typed record to its plan (see the table in `docs/MIGRATION.md`).
pub fn plan(record: LegacyRecord, line: u64) -> Result<Plan, String> {
    let song_id = record.song_id.as_deref().map(SongId::classify);
    let has_names = record.artist.is_some() && record.title.is_some();
    if !has_names && !matches!(song_id, Some(SongId::Catalog(_))) {
        let missing = match (&record.artist, &record.title) {
            (None, None) => "artist and title",
            (None, Some(_)) => "artist",
            _ => "title",
        };
        return Err(format!(
            "{missing}: missing (required unless song_id is a karaoke catalog id)"
        ));
    }
    let (notes, notes_truncated) = match record.notes.as_deref() {
        Some(raw) => clean_notes(raw),
        None => (None, false),
    };
    let saved = record.is_saved == Some(true);
    let known = (record.source.is_hand_added() || saved).then(|| KnownPart {
        added_at: record.created_at,
        notes: notes.clone(),
    });
    let average_rating = record.average_rating.filter(|r| *r > 0.0);
    let sung_given = record.times_sung.unwrap_or(0);
    let sung =
        (sung_given > 0 || record.last_sung_at.is_some() || average_rating.is_some()).then(|| {
            SungPart {
                times_sung: sung_given.max(1),
                last_sung_at: record.last_sung_at,
                average_rating,
            }
        });
    let part = match record.source {
        Source::Lastfm => SongPart::Lastfm(LastfmPart {
            playcount: record.playcount,
            sync_count: record.sync_count.or(record.play_count).unwrap_or(0),
            last_played_at: record.last_played_at,
            first_seen_at: record.created_at,
            rank: record.rank,
        }),
        Source::Spotify => {
            if record.rank.is_none() && known.is_none() && sung.is_none() {
                return Err(
                    "rank: missing; a spotify record needs a rank (or is_saved, or sung \
                            data): nothing to migrate"
                        .into(),
                );
            }
            SongPart::Spotify(SpotifyPart {
                rank: record.rank,
                popularity: record.spotify_popularity,
            })
        }
        Source::Manual | Source::KnownSongs | Source::Quiz => SongPart::HandAdded,
    };
    let song = SongRef {
        song_id,
        artist: record.artist.clone().filter(|_| has_names),
        title: record.title.clone().filter(|_| has_names),
    };
    Ok(Plan {
        line,
        legacy_id: record.id.clone(),
        user_id: record.user_id.clone(),
        source: record.source,
        song,
        part,
        known,
        sung,
        notes,
        notes_truncated,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(v: Value) -> String {
        v.to_string()
    }

    fn base() -> Value {
        json!({
            "id": "r1",
            "user_id": "alice",
            "source": "lastfm",
            "artist": "Queen",
            "title": "Bohemian Rhapsody",
        })
    }

    fn with(changes: Value) -> String {
        let mut v = base();
        for (k, val) in changes.as_object().unwrap() {
            v[k] = val.clone();
        }
        line(v)
    }

    fn reason(text: &str) -> String {
        parse_line(7, text).unwrap_err().reason
    }

    fn ok(text: &str) -> Plan {
        parse_line(3, text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_full_lastfm_record_maps_every_field() {
        let p = ok(&with(json!({
            "song_id": "lastfm:queen:bohemian rhapsody",
            "play_count": 4,
            "playcount": 312,
            "rank": 12,
            "last_played_at": "2024-03-01T10:00:00Z",
            "created_at": "2019-05-02T08:30:00+02:00",
            "updated_at": 1_709_287_200,
            "is_saved": false,
            "has_karaoke_version": true,
            "spotify_popularity": 80,
            "duration_ms": 354_000,
            "explicit": false,
            "unknown_extra": {"x": 1},
        })));
        assert_eq!(p.line, 3);
        assert_eq!(p.legacy_id, "r1");
        assert_eq!(p.user_id, "alice");
        assert_eq!(p.source, Source::Lastfm);
        assert_eq!(
            p.song.song_id,
            Some(SongId::Composite("lastfm:queen:bohemian rhapsody".into()))
        );
        assert_eq!(p.song.names(), Some(("Queen", "Bohemian Rhapsody")));
        assert_eq!(
            p.part,
            SongPart::Lastfm(LastfmPart {
                playcount: Some(312),
                sync_count: 4,
                last_played_at: Some(1_709_287_200),
                first_seen_at: Some(1_556_778_600),
                rank: Some(12),
            })
        );
        assert_eq!(p.known, None);
        assert_eq!(p.sung, None);
        assert_eq!(p.record.spotify_popularity, Some(80));
        assert_eq!(p.record.duration_ms, Some(354_000));
        assert_eq!(p.record.has_karaoke_version, Some(true));
    }

    #[test]
    fn sync_count_comes_from_sync_count_then_play_count() {
        let part = |changes: Value| match ok(&with(changes)).part {
            SongPart::Lastfm(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(part(json!({"play_count": 3})).sync_count, 3);
        assert_eq!(part(json!({"sync_count": 5})).sync_count, 5);
        assert_eq!(
            part(json!({"sync_count": 5, "play_count": 2})).sync_count,
            5
        );
        let bare = part(json!({}));
        assert_eq!(bare.sync_count, 0);
        assert_eq!(bare.playcount, None, "no real count: none invented");
        assert_eq!(part(json!({"playcount": 0})).playcount, Some(0));
    }

    #[test]
    fn missing_optional_fields_and_nulls_are_absent() {
        let p = ok(&with(json!({
            "song_id": null, "playcount": null, "notes": null, "is_saved": null,
            "times_sung": null, "average_rating": null, "created_at": null,
        })));
        assert_eq!(p.song.song_id, None);
        assert_eq!(p.known, None);
        assert_eq!(p.sung, None);
        assert_eq!(p.record.created_at, None);
        // Blank text is absent too.
        let p = ok(&with(json!({"song_id": "  ", "notes": " \n "})));
        assert_eq!(p.song.song_id, None);
        assert_eq!(p.record.notes.as_deref(), Some(" \n "));
        assert!(!p.notes_truncated);
    }

    #[test]
    fn spotify_records_carry_rank_and_popularity() {
        let p = ok(&with(json!({
            "source": "spotify", "rank": 3, "spotify_popularity": 71,
        })));
        assert_eq!(
            p.part,
            SongPart::Spotify(SpotifyPart {
                rank: Some(3),
                popularity: Some(71)
            })
        );
        // Development Mode: no popularity.
        let p = ok(&with(json!({"source": "spotify", "rank": 50})));
        assert_eq!(
            p.part,
            SongPart::Spotify(SpotifyPart {
                rank: Some(50),
                popularity: None
            })
        );
        // Without a rank a Spotify record needs something else to migrate.
        let saved = ok(&with(json!({"source": "spotify", "is_saved": true})));
        assert_eq!(
            saved.part,
            SongPart::Spotify(SpotifyPart {
                rank: None,
                popularity: None
            })
        );
        assert!(saved.known.is_some());
        assert!(ok(&with(json!({"source": "spotify", "times_sung": 1})))
            .sung
            .is_some());
        assert!(reason(&with(json!({"source": "spotify"}))).contains("nothing to migrate"));
        assert!(reason(&with(json!({"source": "spotify", "rank": 0}))).starts_with("rank:"));
    }

    #[test]
    fn hand_added_sources_and_saved_songs_become_known_songs() {
        for source in ["manual", "known_songs", "quiz"] {
            let p = ok(&with(json!({
                "source": source, "notes": "  Great key\r\nfor me\t!  ", "created_at": 1_600_000_000,
            })));
            assert_eq!(p.part, SongPart::HandAdded, "{source}");
            assert_eq!(
                p.known,
                Some(KnownPart {
                    added_at: Some(1_600_000_000),
                    notes: Some("Great key\nfor me !".into())
                })
            );
        }
        let p = ok(&with(json!({"is_saved": true, "playcount": 9})));
        assert!(matches!(p.part, SongPart::Lastfm(_)));
        assert_eq!(
            p.known,
            Some(KnownPart {
                added_at: None,
                notes: None
            })
        );
        assert_eq!(ok(&with(json!({"is_saved": false}))).known, None);
    }

    #[test]
    fn catalog_ids_stand_in_for_missing_names() {
        let text = line(
            json!({"id": "k", "user_id": "bob", "source": "known_songs", "song_id": "KS0001"}),
        );
        let p = ok(&text);
        assert_eq!(p.song.song_id, Some(SongId::Catalog("KS0001".into())));
        assert_eq!(p.song.names(), None);
        // Half a name is no name: the catalog's are used.
        let p = ok(&line(
            json!({"id": "k", "user_id": "bob", "source": "quiz", "song_id": "KS0002", "artist": "Queen"}),
        ));
        assert_eq!(p.song.artist, None);
        // A composite id is not enough.
        let r = reason(&line(
            json!({"id": "k", "user_id": "bob", "source": "quiz", "song_id": "quiz:queen:x"}),
        ));
        assert!(r.starts_with("artist and title: missing"), "{r}");
        let r = reason(&line(
            json!({"id": "k", "user_id": "bob", "source": "lastfm", "artist": "Queen"}),
        ));
        assert!(r.starts_with("title: missing"), "{r}");
        let r = reason(&line(
            json!({"id": "k", "user_id": "bob", "source": "lastfm", "title": "X", "artist": "  "}),
        ));
        assert!(r.starts_with("artist: missing"), "{r}");
    }

    #[test]
    fn song_ids_are_classified_by_their_source_prefix() {
        assert_eq!(SongId::classify("KS0001"), SongId::Catalog("KS0001".into()));
        assert_eq!(SongId::classify("12345"), SongId::Catalog("12345".into()));
        assert_eq!(SongId::classify("ab:cd"), SongId::Catalog("ab:cd".into()));
        for source in Source::ALL {
            let id = format!("{}:artist:title", source.as_str());
            assert_eq!(SongId::classify(&id), SongId::Composite(id.clone()));
        }
        assert_eq!(
            composite_song_id(Source::Quiz, "Beyoncé", " Halo "),
            "quiz:beyonce:halo"
        );
        let long = composite_song_id(Source::Lastfm, &"x".repeat(400), &"y".repeat(400));
        assert!(
            long.starts_with("lastfm:") && long.len() == 7 + 32,
            "{long}"
        );
    }

    #[test]
    fn sung_data_is_gathered_and_implies_at_least_one_performance() {
        let p = ok(&with(json!({
            "times_sung": 3, "last_sung_at": "2023-06-01T21:00:00", "average_rating": 4.5,
        })));
        assert_eq!(
            p.sung,
            Some(SungPart {
                times_sung: 3,
                last_sung_at: Some(1_685_653_200),
                average_rating: Some(4.5)
            })
        );
        let p = ok(&with(json!({"last_sung_at": 1_600_000_000})));
        assert_eq!(p.sung.unwrap().times_sung, 1);
        let p = ok(&with(json!({"average_rating": 2})));
        assert_eq!(p.sung.unwrap().times_sung, 1);
        // Zeroes mean "never".
        assert_eq!(
            ok(&with(json!({"times_sung": 0, "average_rating": 0.0}))).sung,
            None
        );
    }

    #[test]
    fn unicode_names_and_long_notes() {
        let p = ok(&with(json!({
            "artist": "宇多田ヒカル", "title": "First Love", "source": "quiz",
            "notes": "é".repeat(600),
        })));
        assert_eq!(p.song.artist.as_deref(), Some("宇多田ヒカル"));
        let notes = p.known.unwrap().notes.unwrap();
        assert_eq!(notes.chars().count(), MAX_NOTES_CHARS);
        assert!(p.notes_truncated);
        let p = ok(&with(json!({"artist": "Кино", "title": "Группа крови"})));
        assert_eq!(p.song.names(), Some(("Кино", "Группа крови")));
    }

    #[test]
    fn timestamps_in_every_accepted_shape() {
        let at = |v: Value| ok(&with(json!({"created_at": v}))).record.created_at;
        assert_eq!(at(json!(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(at(json!("2023-11-14T22:13:20Z")), Some(1_700_000_000));
        assert_eq!(at(json!("2023-11-14T23:13:20+01:00")), Some(1_700_000_000));
        assert_eq!(at(json!("2023-11-14T22:13:20.123456")), Some(1_700_000_000));
        assert_eq!(at(json!("2023-11-14 22:13:20")), Some(1_700_000_000));
        assert_eq!(at(json!(0)), Some(0));
    }

    #[test]
    fn every_rejection_names_its_field() {
        let cases: Vec<(String, &str)> = vec![
            ("{\"id\": \"x\", ".into(), "invalid JSON"),
            ("".into(), "invalid JSON"),
            ("[1, 2]".into(), "not a JSON object (got an array)"),
            ("\"text\"".into(), "not a JSON object (got a string)"),
            (with(json!({"id": null})), "id: missing"),
            (
                with(json!({"id": 17})),
                "id: expected a string, got a number",
            ),
            (with(json!({"user_id": null})), "user_id: missing"),
            (
                with(json!({"user_id": "bad user!"})),
                "user_id: \"bad user!\" is not a valid user id",
            ),
            (
                with(json!({"user_id": ""})),
                "user_id: \"\" is not a valid user id",
            ),
            (with(json!({"user_id": 5})), "user_id: expected a string"),
            (with(json!({"source": null})), "source: missing"),
            (
                with(json!({"source": "deezer"})),
                "source: unknown source \"deezer\"",
            ),
            (with(json!({"source": "LastFM"})), "source: unknown source"),
            (
                with(json!({"play_count": "12"})),
                "play_count: expected a whole number, got a string (\"12\")",
            ),
            (
                with(json!({"play_count": -3})),
                "play_count: must not be negative (got -3)",
            ),
            (
                with(json!({"playcount": 2.5})),
                "playcount: expected a whole number, got 2.5",
            ),
            (
                with(json!({"playcount": -2.5})),
                "playcount: must not be negative",
            ),
            (
                with(json!({"sync_count": true})),
                "sync_count: expected a whole number, got a boolean",
            ),
            (
                with(json!({"times_sung": -1})),
                "times_sung: must not be negative",
            ),
            (
                with(json!({"duration_ms": [1]})),
                "duration_ms: expected a whole number, got an array",
            ),
            (with(json!({"rank": 0})), "rank: must be from 1 to"),
            (
                with(json!({"rank": 5_000_000_000u64})),
                "rank: must be from 1 to",
            ),
            (
                with(json!({"spotify_popularity": 101})),
                "spotify_popularity: must be from 0 to 100",
            ),
            (
                with(json!({"average_rating": 7})),
                "average_rating: must be at most 5",
            ),
            (
                with(json!({"average_rating": -1})),
                "average_rating: must not be negative",
            ),
            (
                with(json!({"average_rating": "4"})),
                "average_rating: expected a number",
            ),
            (
                with(json!({"is_saved": "yes"})),
                "is_saved: expected true or false, got a string",
            ),
            (
                with(json!({"explicit": 1})),
                "explicit: expected true or false",
            ),
            (
                with(json!({"last_played_at": "yesterday"})),
                "last_played_at: expected an RFC 3339 timestamp",
            ),
            (
                with(json!({"last_played_at": -5})),
                "last_played_at: must not be negative",
            ),
            (
                with(json!({"last_played_at": 1_700_000_000_000u64})),
                "last_played_at: after 2099",
            ),
            (
                with(json!({"last_sung_at": 1.5})),
                "last_sung_at: expected whole Unix seconds",
            ),
            (
                with(json!({"created_at": {"seconds": 1}})),
                "created_at: expected an RFC 3339 timestamp or Unix seconds, got an object",
            ),
            (with(json!({"artist": 3})), "artist: expected a string"),
            (
                with(json!({"title": "a\u{7}b"})),
                "title contains control characters",
            ),
            (
                with(json!({"artist": "x".repeat(513)})),
                "artist is longer than 512",
            ),
            (with(json!({"notes": false})), "notes: expected a string"),
            (
                with(json!({"song_id": "x".repeat(513)})),
                "song_id is longer than 512",
            ),
            (
                with(json!({"song_id": "é".repeat(300)})),
                "song_id: longer than 512 bytes",
            ),
            (
                with(json!({"id": "x".repeat(257)})),
                "id is longer than 256",
            ),
        ];
        for (text, expected) in cases {
            let r = reason(&text);
            assert!(
                r.starts_with(expected),
                "{text}\n  got: {r}\n  expected: {expected}"
            );
        }
        assert_eq!(
            parse_line(42, "nope").unwrap_err(),
            Rejection {
                line: 42,
                reason: "invalid JSON: expected ident at line 1 column 2".into()
            }
        );
    }
}
