//! Parsing of Last.fm JSON, tolerant of every shape the API has used over the years.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

use super::error::LastfmError;

/// One dated listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrobble {
    pub artist: String,
    pub title: String,
    pub album: Option<String>,
    pub uts: i64,
    pub loved: Option<bool>,
}

/// One page of `user.getRecentTracks`, with the now-playing item already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentTracksPage {
    pub page: u32,
    pub per_page: u32,
    pub total_pages: u32,
    pub total: u64,
    pub scrobbles: Vec<Scrobble>,
    /// Items without a date (now playing) that were skipped.
    pub undated: usize,
}

/// The parts of `user.getInfo` we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub playcount: u64,
    pub registered: Option<i64>,
}

/// Numbers arrive as strings ("12"), sometimes as numbers, sometimes empty.
pub(crate) fn flexible_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| de::Error::custom(format!("not a count: {n}"))),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("not a count: {s:?}"))),
        Value::Null => Ok(0),
        other => Err(de::Error::custom(format!("not a count: {other}"))),
    }
}

pub(crate) fn flexible_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| de::Error::custom(format!("not a timestamp: {n}"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("not a timestamp: {s:?}"))),
        other => Err(de::Error::custom(format!("not a timestamp: {other}"))),
    }
}

/// A page with a single item carries an object where an array is expected.
#[derive(Debug)]
pub(crate) struct OneOrMany<T>(pub(crate) Vec<T>);

// Derived Default would needlessly require `T: Default`.
impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape<T> {
            Many(Vec<T>),
            One(T),
        }
        Ok(match Shape::deserialize(d)? {
            Shape::Many(v) => OneOrMany(v),
            Shape::One(t) => OneOrMany(vec![t]),
        })
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct PageAttr {
    #[serde(default, deserialize_with = "flexible_u64")]
    pub(crate) page: u64,
    #[serde(default, rename = "perPage", deserialize_with = "flexible_u64")]
    pub(crate) per_page: u64,
    #[serde(default, rename = "totalPages", deserialize_with = "flexible_u64")]
    pub(crate) total_pages: u64,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub(crate) total: u64,
}

#[derive(Debug, Deserialize)]
struct RecentTracksEnvelope {
    recenttracks: RecentTracksBody,
}

#[derive(Debug, Deserialize)]
struct RecentTracksBody {
    #[serde(default)]
    track: OneOrMany<RawTrack>,
    #[serde(rename = "@attr")]
    attr: Option<PageAttr>,
    // Old empty responses put the attributes inline instead of under "@attr".
    #[serde(flatten)]
    inline: PageAttr,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawArtist {
    #[serde(rename = "#text")]
    text: Option<String>,
    name: Option<String>,
}

impl RawArtist {
    pub(crate) fn into_name(self) -> String {
        self.name.or(self.text).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct RawText {
    #[serde(rename = "#text")]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawDate {
    #[serde(deserialize_with = "flexible_i64")]
    pub(crate) uts: i64,
}

#[derive(Debug, Deserialize)]
struct RawTrack {
    artist: RawArtist,
    name: String,
    album: Option<RawText>,
    date: Option<RawDate>,
    loved: Option<String>,
}

impl RawTrack {
    fn into_scrobble(self) -> Option<Scrobble> {
        let uts = self.date?.uts;
        let artist = self.artist.into_name();
        let album = self
            .album
            .and_then(|a| a.text)
            .filter(|a| !a.trim().is_empty());
        Some(Scrobble {
            artist,
            title: self.name,
            album,
            uts,
            loved: self.loved.map(|l| l == "1"),
        })
    }
}

/// Strips the byte-order mark some responses start with, then reads JSON and surfaces API errors.
pub fn parse_body(body: &[u8]) -> Result<Value, LastfmError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let value: Value = serde_json::from_slice(body).map_err(|e| LastfmError::Malformed {
        detail: format!("invalid JSON: {e}"),
    })?;
    if let Some(code) = value.get("error") {
        let code = match code {
            Value::Number(n) => n.as_u64().unwrap_or(0) as u32,
            Value::String(s) => s.parse().unwrap_or(0),
            _ => 0,
        };
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string();
        return Err(LastfmError::Api { code, message });
    }
    Ok(value)
}

pub fn parse_recent_tracks(value: Value) -> Result<RecentTracksPage, LastfmError> {
    let envelope: RecentTracksEnvelope =
        serde_json::from_value(value).map_err(|e| LastfmError::Malformed {
            detail: format!("unexpected recenttracks shape: {e}"),
        })?;
    let body = envelope.recenttracks;
    let attr = body.attr.unwrap_or(body.inline);
    let raw = body.track.0;
    let items = raw.len();
    let scrobbles: Vec<Scrobble> = raw
        .into_iter()
        .filter_map(RawTrack::into_scrobble)
        .collect();
    Ok(RecentTracksPage {
        page: attr.page as u32,
        per_page: attr.per_page as u32,
        total_pages: attr.total_pages as u32,
        total: attr.total,
        undated: items - scrobbles.len(),
        scrobbles,
    })
}

#[derive(Debug, Deserialize)]
struct UserInfoEnvelope {
    user: RawUser,
}

#[derive(Debug, Deserialize)]
struct RawUser {
    name: String,
    #[serde(default, deserialize_with = "flexible_u64")]
    playcount: u64,
    registered: Option<RawRegistered>,
}

#[derive(Debug, Deserialize)]
struct RawRegistered {
    #[serde(deserialize_with = "flexible_i64")]
    unixtime: i64,
}

pub fn parse_user_info(value: Value) -> Result<UserInfo, LastfmError> {
    let envelope: UserInfoEnvelope =
        serde_json::from_value(value).map_err(|e| LastfmError::Malformed {
            detail: format!("unexpected user shape: {e}"),
        })?;
    Ok(UserInfo {
        name: envelope.user.name,
        playcount: envelope.user.playcount,
        registered: envelope.user.registered.map(|r| r.unixtime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../tests/fixtures/lastfm/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    fn recent(name: &str) -> RecentTracksPage {
        parse_recent_tracks(parse_body(&fixture(name)).unwrap()).unwrap()
    }

    #[test]
    fn reads_a_full_extended_page_and_skips_now_playing() {
        let page = recent("lmammino-recent_tracks_page.json");
        assert_eq!(page.total, 290_860);
        assert_eq!(page.total_pages, 1455);
        assert_eq!(page.per_page, 200);
        assert_eq!(page.page, 1);
        assert_eq!(page.scrobbles.len(), 200);
        assert_eq!(page.undated, 1);
        let first = &page.scrobbles[0];
        assert_eq!(first.artist, "Comete");
        assert_eq!(first.title, "CORNFLAKES");
        assert_eq!(first.album.as_deref(), Some("Solo cose belle"));
        assert_eq!(first.uts, 1_677_005_663);
        assert_eq!(first.loved, Some(false));
    }

    #[test]
    fn reads_plain_artist_shape() {
        let page = recent("inflatablefriends-UserGetRecentTracksMultiple.json");
        assert_eq!(page.scrobbles.len(), 20);
        assert_eq!(page.total, 76_526);
        assert_eq!(page.scrobbles[0].artist, "Santana");
        assert_eq!(page.scrobbles[0].title, "No One to Depend On");
        assert_eq!(page.scrobbles[0].loved, None);
    }

    #[test]
    fn reads_single_track_as_object() {
        let page = recent("inflatablefriends-UserGetRecentTracksSingle.json");
        assert_eq!(page.scrobbles.len(), 1);
        assert_eq!(page.scrobbles[0].artist, "Rick James");
        assert_eq!(page.scrobbles[0].uts, 1_419_070_612);
    }

    #[test]
    fn reads_extended_single_track() {
        let page = recent("inflatablefriends-UserGetRecentTracksExtended.json");
        assert_eq!(page.scrobbles.len(), 1);
        let s = &page.scrobbles[0];
        assert_eq!(s.artist, "Republika");
        assert_eq!(s.loved, Some(true));
        assert_eq!(s.album.as_deref(), Some("Koncerty w Trojce - Republika"));
    }

    #[test]
    fn reads_old_empty_shape_with_inline_attributes() {
        let page = recent("inflatablefriends-UserGetRecentTracksEmpty.json");
        assert!(page.scrobbles.is_empty());
        assert_eq!(page.total, 0);
        assert_eq!(page.total_pages, 0);
    }

    #[test]
    fn surfaces_api_errors() {
        let err =
            parse_body(&fixture("inflatablefriends-UserGetRecentTracksError.json")).unwrap_err();
        match err {
            LastfmError::Api { code, message } => {
                assert_eq!(code, 6);
                assert!(message.contains("[user]"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn now_playing_item_alone_is_skipped() {
        let item: Value =
            serde_json::from_slice(&fixture("lmammino-now_playing_track.json")).unwrap();
        let body = serde_json::json!({"recenttracks": {"track": item, "@attr": {"page": "1", "perPage": "1", "totalPages": "0", "total": "0"}}});
        let page = parse_recent_tracks(body).unwrap();
        assert!(page.scrobbles.is_empty());
        assert_eq!(page.undated, 1);
    }

    #[test]
    fn every_capture_parses_with_its_method() {
        let dir = format!("{}/../tests/fixtures/lastfm", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".json") {
                continue;
            }
            let body = fixture(&name);
            let parsed = parse_body(&body);
            if name.contains("Error") {
                assert!(matches!(parsed, Err(LastfmError::Api { .. })), "{name}");
            } else if name.contains("RecentTracks") || name.contains("recent_tracks") {
                parse_recent_tracks(parsed.unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
            } else if name.contains("LovedTracks") {
                super::super::loved::parse_loved_tracks(parsed.unwrap())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            } else if name.contains("TopArtists") {
                super::super::top_artists::parse_top_artists(parsed.unwrap())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            } else {
                // The single now-playing item is not a response; it is covered above.
                assert!(parsed.is_ok(), "{name}");
            }
            seen += 1;
        }
        assert_eq!(seen, 12);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [
            &b"{\"recenttracks\": {\"track\": ["[..],
            b"<html>502</html>",
            b"",
        ] {
            assert!(matches!(
                parse_body(body),
                Err(LastfmError::Malformed { .. })
            ));
        }
        let wrong = serde_json::json!({"recenttracks": {"track": [{"name": 5}]}});
        assert!(matches!(
            parse_recent_tracks(wrong),
            Err(LastfmError::Malformed { .. })
        ));
    }
}
