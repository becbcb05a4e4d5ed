//! Songs the user has sung: the post-song survey ("How was it?"), its validation, and how a new
//! performance folds into the stored record. Pure: every rule here is unit-tested without a table.
//!
//! A record keeps every performance date it can (newest first, bounded), the number of times the
//! song was sung (never bounded), the latest survey and a bounded history of surveys, and the ids
//! of the last submissions applied, so that a retried submission is recognised and never counted
//! twice.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::library::{InputError, MAX_NOTES_CHARS};

/// Request ids remembered per song (the newest ones): a retry arrives within seconds, so the last
/// 50 submissions of one song are plenty.
pub const MAX_REQUEST_IDS: usize = 50;
/// Surveys kept per song, newest first (`times_sung` still counts every performance).
pub const MAX_HISTORY: usize = 50;
/// Performance dates kept per song, newest first.
pub const MAX_SUNG_DATES: usize = 500;
/// The oldest accepted performance date (2000-01-01T00:00:00Z).
pub const MIN_SUNG_AT: i64 = 946_684_800;
/// How far in the future a performance date may be (client clocks drift; time zones confuse).
pub const FUTURE_SLACK_SECS: i64 = 86_400;
pub const MAX_SONG_ID_CHARS: usize = 128;
pub const MAX_REQUEST_ID_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VocalRange {
    Comfortable,
    TooHigh,
    TooLow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crowd {
    LovedIt,
    LikedIt,
    Neutral,
    Flat,
}

macro_rules! stored_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The name used in requests, responses and stored items.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($name => Some(<$ty>::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

stored_names!(VocalRange { Comfortable => "comfortable", TooHigh => "too_high", TooLow => "too_low" });
stored_names!(Difficulty { Easy => "easy", Medium => "medium", Hard => "hard" });
stored_names!(Crowd { LovedIt => "loved_it", LikedIt => "liked_it", Neutral => "neutral", Flat => "flat" });

/// The body of `POST /api/me/sung-songs`. `sung_at` is Unix seconds or an RFC 3339 string and
/// defaults to the time of the request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SungSubmission {
    pub song_id: String,
    #[serde(default, deserialize_with = "unix_or_rfc3339")]
    pub sung_at: Option<i64>,
    pub rating: u8,
    #[serde(default)]
    pub would_sing_again: Option<bool>,
    #[serde(default)]
    pub vocal_range: Option<VocalRange>,
    #[serde(default)]
    pub difficulty: Option<Difficulty>,
    #[serde(default)]
    pub crowd_response: Option<Crowd>,
    #[serde(default)]
    pub notes: Option<String>,
    pub client_request_id: String,
}

fn unix_or_rfc3339<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(de)? {
        None => Ok(None),
        Some(Raw::Secs(s)) => Ok(Some(s)),
        Some(Raw::Text(t)) => chrono::DateTime::parse_from_rfc3339(t.trim())
            .map(|d| Some(d.timestamp()))
            .map_err(|_| {
                serde::de::Error::custom("sung_at must be Unix seconds or an RFC 3339 timestamp")
            }),
    }
}

/// One performance's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Survey {
    pub sung_at: i64,
    pub rating: u8,
    pub would_sing_again: Option<bool>,
    pub vocal_range: Option<VocalRange>,
    pub difficulty: Option<Difficulty>,
    pub crowd_response: Option<Crowd>,
    pub notes: Option<String>,
    /// When the survey was recorded (Unix seconds).
    pub recorded_at: i64,
}

impl Survey {
    /// The survey as the API shows it (timestamps in RFC 3339).
    pub fn view(&self) -> Value {
        json!({
            "sung_at": rfc3339(self.sung_at),
            "rating": self.rating,
            "would_sing_again": self.would_sing_again,
            "vocal_range": self.vocal_range,
            "difficulty": self.difficulty,
            "crowd_response": self.crowd_response,
            "notes": self.notes,
            "recorded_at": rfc3339(self.recorded_at),
        })
    }
}

/// A checked submission, ready to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubmission {
    pub song_id: String,
    pub client_request_id: String,
    pub survey: Survey,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InputError {
    InputError::Invalid {
        field,
        message: message.into(),
    }
}

impl SungSubmission {
    /// Checks every field (`now` is the request time, Unix seconds): the song id, a rating of 1 to
    /// 5, a performance date between 2000 and a day from now, notes of at most 500 characters
    /// (blank notes count as none; newlines are the only control characters allowed) and a client
    /// request id of 1-64 characters `[A-Za-z0-9_-]`.
    pub fn validate(self, now: i64) -> Result<ValidSubmission, InputError> {
        let song_id = crate::library::clean_text("song_id", &self.song_id, MAX_SONG_ID_CHARS)?;
        if !(1..=5).contains(&self.rating) {
            return Err(invalid("rating", "must be a whole number from 1 to 5"));
        }
        let sung_at = self.sung_at.unwrap_or(now);
        if sung_at < MIN_SUNG_AT {
            return Err(invalid("sung_at", "must not be before 2000-01-01"));
        }
        if sung_at > now + FUTURE_SLACK_SECS {
            return Err(invalid("sung_at", "must not be in the future"));
        }
        let notes = match self.notes.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > MAX_NOTES_CHARS => {
                return Err(InputError::TooLong {
                    field: "notes",
                    max: MAX_NOTES_CHARS,
                })
            }
            Some(n) if n.chars().any(|c| c.is_control() && c != '\n') => {
                return Err(InputError::Control { field: "notes" })
            }
            Some(n) => Some(n.to_string()),
        };
        let rid = &self.client_request_id;
        if rid.is_empty() {
            return Err(InputError::Empty {
                field: "client_request_id",
            });
        }
        if rid.len() > MAX_REQUEST_ID_CHARS {
            return Err(InputError::TooLong {
                field: "client_request_id",
                max: MAX_REQUEST_ID_CHARS,
            });
        }
        if !rid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "client_request_id",
                "only letters, digits, '_' and '-' are allowed",
            ));
        }
        Ok(ValidSubmission {
            song_id,
            client_request_id: self.client_request_id,
            survey: Survey {
                sung_at,
                rating: self.rating,
                would_sing_again: self.would_sing_again,
                vocal_range: self.vocal_range,
                difficulty: self.difficulty,
                crowd_response: self.crowd_response,
                notes,
                recorded_at: now,
            },
        })
    }
}

/// The catalog song a performance is recorded against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SungCatalogSong {
    pub id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: u32,
}

impl From<&crate::store::library::CatalogEntry> for SungCatalogSong {
    fn from(e: &crate::store::library::CatalogEntry) -> Self {
        Self {
            id: e.id.clone(),
            artist: e.artist.clone(),
            title: e.title.clone(),
            brand_count: e.brand_count,
        }
    }
}

/// A song the user has sung, as stored (`USER#<user>` / `SUNG#<song id>`).
#[derive(Debug, Clone, PartialEq)]
pub struct SungSong {
    pub song_id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: Option<u32>,
    /// Known performance dates, newest first (at most [`MAX_SUNG_DATES`]).
    pub sung_at: Vec<i64>,
    /// Every performance, including those whose dates were not kept (and legacy counts).
    pub times_sung: u64,
    pub last_sung_at: Option<i64>,
    /// The newest performance's survey (by `sung_at`); none for a legacy record never extended.
    pub latest: Option<Survey>,
    /// Surveys, newest first (at most [`MAX_HISTORY`]).
    pub history: Vec<Survey>,
    /// The latest survey's rating; for a legacy record, its average rating rounded.
    pub rating: Option<u8>,
    pub would_sing_again: Option<bool>,
    /// A legacy record's average rating, kept as migrated.
    pub legacy_average_rating: Option<f64>,
    /// `"legacy"` when the record came from the older system.
    pub source: Option<String>,
    /// Client request ids applied, oldest first (at most [`MAX_REQUEST_IDS`]).
    pub request_ids: Vec<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// Optimistic-concurrency version (0: never written by this code).
    pub version: u64,
}

/// "My Favorites": rated 4-5, or the user would sing it again.
pub fn is_favorite(rating: Option<u8>, would_sing_again: Option<bool>) -> bool {
    rating.is_some_and(|r| r >= 4) || would_sing_again == Some(true)
}

/// A legacy average (possibly fractional) as a 1-5 rating.
pub fn rating_from_average(average: f64) -> Option<u8> {
    average
        .is_finite()
        .then(|| average.round().clamp(1.0, 5.0) as u8)
        .filter(|_| average > 0.0)
}

impl SungSong {
    pub fn is_favorite(&self) -> bool {
        is_favorite(self.rating, self.would_sing_again)
    }

    fn empty(song: &SungCatalogSong) -> Self {
        Self {
            song_id: song.id.clone(),
            artist: song.artist.clone(),
            title: song.title.clone(),
            brand_count: Some(song.brand_count),
            sung_at: Vec::new(),
            times_sung: 0,
            last_sung_at: None,
            latest: None,
            history: Vec::new(),
            rating: None,
            would_sing_again: None,
            legacy_average_rating: None,
            source: None,
            request_ids: Vec::new(),
            created_at: None,
            updated_at: None,
            version: 0,
        }
    }

    /// The record as the API shows it (timestamps in RFC 3339).
    pub fn view(&self) -> Value {
        json!({
            "song_id": self.song_id,
            "artist": self.artist,
            "title": self.title,
            "times_sung": self.times_sung,
            "last_sung_at": self.last_sung_at.map(rfc3339),
            "sung_at": self.sung_at.iter().map(|t| rfc3339(*t)).collect::<Vec<_>>(),
            "rating": self.rating,
            "would_sing_again": self.would_sing_again,
            "favorite": self.is_favorite(),
            "latest": self.latest.as_ref().map(Survey::view),
            "history": self.history.iter().map(Survey::view).collect::<Vec<_>>(),
            "source": self.source,
        })
    }
}

/// What a submission does to a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The submission's request id was applied before: nothing changes.
    Duplicate,
    /// The record after the submission (its `version` is still the one read).
    Updated(Box<SungSong>),
}

/// Folds one performance into the record read from the table (`None`: first performance). A
/// legacy record (dates and counts only) is extended: its count goes on, its last date is kept
/// among the dates.
pub fn apply(
    existing: Option<SungSong>,
    song: &SungCatalogSong,
    submission: &ValidSubmission,
    now: i64,
) -> Applied {
    let mut record = existing.unwrap_or_else(|| SungSong::empty(song));
    if record
        .request_ids
        .iter()
        .any(|r| r == &submission.client_request_id)
    {
        return Applied::Duplicate;
    }
    // The catalog's spelling is the one shown.
    record.artist = song.artist.clone();
    record.title = song.title.clone();
    record.brand_count = Some(song.brand_count);

    let survey = &submission.survey;
    if record.sung_at.is_empty() {
        if let Some(last) = record.last_sung_at {
            record.sung_at.push(last);
        }
    }
    record.sung_at.push(survey.sung_at);
    record.sung_at.sort_unstable_by(|a, b| b.cmp(a));
    record.sung_at.truncate(MAX_SUNG_DATES);
    record.times_sung += 1;
    record.last_sung_at = Some(record.last_sung_at.unwrap_or(i64::MIN).max(survey.sung_at));

    // Newest performance first; of two surveys of the same moment, the one recorded last.
    record.history.insert(0, survey.clone());
    record.history.sort_by_key(|s| std::cmp::Reverse(s.sung_at));
    record.history.truncate(MAX_HISTORY);
    record.latest = record.history.first().cloned();
    if let Some(latest) = &record.latest {
        record.rating = Some(latest.rating);
        record.would_sing_again = latest.would_sing_again;
    }

    record
        .request_ids
        .push(submission.client_request_id.clone());
    let excess = record.request_ids.len().saturating_sub(MAX_REQUEST_IDS);
    record.request_ids.drain(..excess);

    record.created_at.get_or_insert(now);
    record.updated_at = Some(now);
    Applied::Updated(Box::new(record))
}

/// The index sort key of a record: when it was last sung (12 digits), then its id.
pub fn sung_sort_key(last_sung_at: i64, song_id: &str) -> String {
    format!("{:012}#{song_id}", last_sung_at.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01

    fn submission(rid: &str, sung_at: Option<i64>, rating: u8) -> SungSubmission {
        SungSubmission {
            song_id: "KS0001".into(),
            sung_at,
            rating,
            would_sing_again: None,
            vocal_range: None,
            difficulty: None,
            crowd_response: None,
            notes: None,
            client_request_id: rid.into(),
        }
    }

    fn song() -> SungCatalogSong {
        SungCatalogSong {
            id: "KS0001".into(),
            artist: "Queen".into(),
            title: "Bohemian Rhapsody".into(),
            brand_count: 6,
        }
    }

    fn updated(a: Applied) -> SungSong {
        match a {
            Applied::Updated(s) => *s,
            Applied::Duplicate => panic!("expected an update"),
        }
    }

    #[test]
    fn parses_the_survey_with_snake_case_answers() {
        let s: SungSubmission = serde_json::from_value(json!({
            "song_id": "KS0001",
            "rating": 4,
            "would_sing_again": true,
            "vocal_range": "too_high",
            "difficulty": "hard",
            "crowd_response": "loved_it",
            "notes": "Great for warming up",
            "client_request_id": "abc-123_X",
        }))
        .unwrap();
        assert_eq!(s.vocal_range, Some(VocalRange::TooHigh));
        assert_eq!(s.difficulty, Some(Difficulty::Hard));
        assert_eq!(s.crowd_response, Some(Crowd::LovedIt));
        assert_eq!(s.sung_at, None);
        let v = s.validate(NOW).unwrap();
        assert_eq!(v.survey.sung_at, NOW);
        assert_eq!(v.survey.notes.as_deref(), Some("Great for warming up"));
        assert_eq!(VocalRange::parse("too_low"), Some(VocalRange::TooLow));
        assert_eq!(Crowd::Flat.as_str(), "flat");
        assert_eq!(Difficulty::parse("extreme"), None);
    }

    #[test]
    fn sung_at_is_unix_seconds_or_rfc3339() {
        let body = |at: Value| {
            serde_json::from_value::<SungSubmission>(json!({
                "song_id": "KS1", "rating": 3, "client_request_id": "r", "sung_at": at
            }))
        };
        assert_eq!(
            body(json!(1_700_000_000)).unwrap().sung_at,
            Some(1_700_000_000)
        );
        assert_eq!(
            body(json!("2023-11-14T22:13:20Z")).unwrap().sung_at,
            Some(1_700_000_000)
        );
        assert_eq!(
            body(json!("2023-11-14T23:13:20+01:00")).unwrap().sung_at,
            Some(1_700_000_000)
        );
        assert_eq!(body(Value::Null).unwrap().sung_at, None);
        assert!(body(json!("yesterday")).is_err());
    }

    #[test]
    fn unknown_fields_and_answers_are_refused() {
        let parse = |v: Value| serde_json::from_value::<SungSubmission>(v);
        assert!(
            parse(json!({"song_id": "a", "rating": 3, "client_request_id": "r", "x": 1})).is_err()
        );
        assert!(parse(json!({"song_id": "a", "rating": 3, "client_request_id": "r", "vocal_range": "way_too_high"})).is_err());
        assert!(parse(json!({"song_id": "a", "rating": 3, "client_request_id": "r", "crowd_response": "LovedIt"})).is_err());
        assert!(
            parse(json!({"song_id": "a", "client_request_id": "r"})).is_err(),
            "rating is required"
        );
        assert!(
            parse(json!({"song_id": "a", "rating": 3})).is_err(),
            "request id is required"
        );
        assert!(parse(json!({"song_id": "a", "rating": 300, "client_request_id": "r"})).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: SungSubmission| match s.validate(NOW) {
            Err(InputError::Invalid { field, .. })
            | Err(InputError::Empty { field })
            | Err(InputError::TooLong { field, .. })
            | Err(InputError::Control { field }) => field,
            Ok(_) => "ok",
        };
        assert_eq!(field(submission("r", None, 0)), "rating");
        assert_eq!(field(submission("r", None, 6)), "rating");
        for r in 1..=5 {
            assert_eq!(field(submission("r", None, r)), "ok");
        }
        assert_eq!(field(submission("", None, 3)), "client_request_id");
        assert_eq!(
            field(submission(&"x".repeat(65), None, 3)),
            "client_request_id"
        );
        assert_eq!(field(submission(&"x".repeat(64), None, 3)), "ok");
        assert_eq!(field(submission("a b", None, 3)), "client_request_id");
        assert_eq!(field(submission("a#b", None, 3)), "client_request_id");
        assert_eq!(field(submission("r", Some(MIN_SUNG_AT - 1), 3)), "sung_at");
        assert_eq!(
            field(submission("r", Some(NOW + FUTURE_SLACK_SECS + 1), 3)),
            "sung_at"
        );
        assert_eq!(field(submission("r", Some(NOW - 3600), 3)), "ok");
        let mut s = submission("r", None, 3);
        s.song_id = "  ".into();
        assert_eq!(field(s), "song_id");
        let mut s = submission("r", None, 3);
        s.song_id = "x".repeat(129);
        assert_eq!(field(s), "song_id");
    }

    #[test]
    fn notes_are_bounded_and_printable_but_may_span_lines() {
        let with = |notes: &str| {
            let mut s = submission("r", None, 3);
            s.notes = Some(notes.into());
            s.validate(NOW)
        };
        assert_eq!(
            with("line one\nline two").unwrap().survey.notes.as_deref(),
            Some("line one\nline two")
        );
        assert_eq!(with("   ").unwrap().survey.notes, None);
        assert!(with(&"é".repeat(500)).is_ok());
        assert_eq!(
            with(&"é".repeat(501)),
            Err(InputError::TooLong {
                field: "notes",
                max: 500
            })
        );
        assert_eq!(
            with("tab\there"),
            Err(InputError::Control { field: "notes" })
        );
        assert_eq!(
            with("bell\u{7}"),
            Err(InputError::Control { field: "notes" })
        );
    }

    #[test]
    fn repeated_performances_append_and_count_and_keep_the_latest_survey() {
        let first = submission("r1", Some(NOW - 7200), 3).validate(NOW).unwrap();
        let mut second = submission("r2", Some(NOW - 60), 5);
        second.would_sing_again = Some(true);
        second.vocal_range = Some(VocalRange::Comfortable);
        let second = second.validate(NOW).unwrap();

        let a = updated(apply(None, &song(), &first, NOW));
        assert_eq!(a.times_sung, 1);
        assert_eq!(a.sung_at, [NOW - 7200]);
        assert_eq!(a.rating, Some(3));
        assert!(!a.is_favorite());
        assert_eq!(a.created_at, Some(NOW));

        let b = updated(apply(Some(a.clone()), &song(), &second, NOW + 5));
        assert_eq!(b.times_sung, 2);
        assert_eq!(b.sung_at, [NOW - 60, NOW - 7200]);
        assert_eq!(b.last_sung_at, Some(NOW - 60));
        assert_eq!(b.latest.as_ref().unwrap().rating, 5);
        assert_eq!(b.history.len(), 2);
        assert_eq!(b.history[1].rating, 3);
        assert_eq!(b.rating, Some(5));
        assert_eq!(b.would_sing_again, Some(true));
        assert!(b.is_favorite());
        assert_eq!(b.request_ids, ["r1", "r2"]);
        assert_eq!(b.created_at, Some(NOW));
        assert_eq!(b.updated_at, Some(NOW + 5));

        // A retry of either submission changes nothing.
        assert_eq!(
            apply(Some(b.clone()), &song(), &first, NOW + 9),
            Applied::Duplicate
        );
        assert_eq!(
            apply(Some(b.clone()), &song(), &second, NOW + 9),
            Applied::Duplicate
        );
    }

    #[test]
    fn a_backdated_performance_counts_but_does_not_become_the_latest() {
        let recent = submission("new", Some(NOW - 60), 2).validate(NOW).unwrap();
        let old = submission("old", Some(NOW - 86_400 * 30), 5)
            .validate(NOW)
            .unwrap();
        let a = updated(apply(None, &song(), &recent, NOW));
        let b = updated(apply(Some(a), &song(), &old, NOW));
        assert_eq!(b.times_sung, 2);
        assert_eq!(b.last_sung_at, Some(NOW - 60));
        assert_eq!(b.rating, Some(2));
        assert_eq!(b.history[0].rating, 2);
        assert_eq!(b.history[1].rating, 5);
    }

    #[test]
    fn request_ids_history_and_dates_are_bounded() {
        let mut record: Option<SungSong> = None;
        for i in 0..(MAX_SUNG_DATES as i64 + 20) {
            let s = submission(&format!("r{i}"), Some(NOW - 100_000 + i), 4)
                .validate(NOW)
                .unwrap();
            record = Some(updated(apply(record, &song(), &s, NOW)));
        }
        let r = record.unwrap();
        assert_eq!(r.times_sung, MAX_SUNG_DATES as u64 + 20);
        assert_eq!(r.sung_at.len(), MAX_SUNG_DATES);
        assert_eq!(r.history.len(), MAX_HISTORY);
        assert_eq!(r.request_ids.len(), MAX_REQUEST_IDS);
        assert_eq!(
            r.request_ids.last().unwrap(),
            &format!("r{}", MAX_SUNG_DATES + 19)
        );
        assert_eq!(r.sung_at[0], NOW - 100_000 + MAX_SUNG_DATES as i64 + 19);
        assert!(r.sung_at.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn legacy_records_are_extended() {
        let legacy = SungSong {
            sung_at: Vec::new(),
            times_sung: 4,
            last_sung_at: Some(NOW - 86_400 * 400),
            rating: rating_from_average(4.4),
            legacy_average_rating: Some(4.4),
            source: Some("legacy".into()),
            brand_count: None,
            ..SungSong::empty(&song())
        };
        assert!(legacy.is_favorite());
        let s = submission("r", None, 2).validate(NOW).unwrap();
        let r = updated(apply(Some(legacy), &song(), &s, NOW));
        assert_eq!(r.times_sung, 5);
        assert_eq!(r.sung_at, [NOW, NOW - 86_400 * 400]);
        assert_eq!(r.last_sung_at, Some(NOW));
        assert_eq!(r.rating, Some(2));
        assert_eq!(r.legacy_average_rating, Some(4.4));
        assert_eq!(r.source.as_deref(), Some("legacy"));
        assert_eq!(r.brand_count, Some(6));
        assert!(!r.is_favorite());
    }

    #[test]
    fn favorites_are_rated_four_or_five_or_would_sing_again() {
        assert!(is_favorite(Some(4), None));
        assert!(is_favorite(Some(5), Some(false)));
        assert!(is_favorite(Some(1), Some(true)));
        assert!(!is_favorite(Some(3), None));
        assert!(!is_favorite(Some(3), Some(false)));
        assert!(!is_favorite(None, None));
        assert_eq!(rating_from_average(3.5), Some(4));
        assert_eq!(rating_from_average(0.0), None);
        assert_eq!(rating_from_average(9.0), Some(5));
        assert_eq!(rating_from_average(f64::NAN), None);
    }

    #[test]
    fn sort_keys_order_by_time() {
        assert_eq!(sung_sort_key(1_700_000_000, "KS1"), "001700000000#KS1");
        assert!(sung_sort_key(99, "z") < sung_sort_key(100, "a"));
    }

    #[test]
    fn views_use_rfc3339() {
        let s = submission("r", Some(1_700_000_000), 5)
            .validate(NOW)
            .unwrap();
        let r = updated(apply(None, &song(), &s, NOW));
        let v = r.view();
        assert_eq!(v["sung_at"], json!(["2023-11-14T22:13:20Z"]));
        assert_eq!(v["latest"]["rating"], 5);
        assert_eq!(v["favorite"], true);
        assert!(v.get("request_ids").is_none());
    }
}
