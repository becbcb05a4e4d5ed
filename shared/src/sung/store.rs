//! Sung songs in the single table.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | sung song | `USER#<user>` | `SUNG#<song id>` | `entity`="sung_song", `song_id`, `artist`, `title`, `brand_count` (N), `times_sung` (N), `last_sung_at` (N), `sung_at` (L of N, newest first, ≤ 500), `latest` (M: survey), `history` (L of M, newest first, ≤ 50), `rating` (N, the latest survey's), `would_sing_again` (BOOL, the latest survey's, absent when unanswered), `request_ids` (L of S, the last 50 applied), `created_at`, `updated_at` (N), `version` (N) |
//! | …in the sung list | `gsi1pk` = `SUNG#<user>` | `gsi1sk` = `<last_sung_at, 12 digits>#<song id>` | every sung song, read newest first |
//! | …in "My Favorites" | `gsi2pk` = `FAV#<user>` | `gsi2sk` = `<last_sung_at, 12 digits>#<song id>` | only while the song is a favourite (sparse: removed otherwise) |
//!
//! A survey map holds `sung_at`, `rating`, `recorded_at` (N) and, when answered,
//! `would_sing_again` (BOOL), `vocal_range`, `difficulty`, `crowd_response`, `notes` (S).
//!
//! Records written by the legacy migration (`times_sung`, `last_sung_at` as a number or an RFC 3339
//! string, `average_rating`, `source`="legacy", no version) are read as they are and extended by
//! the next performance; attributes this code does not know are kept.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::model::{
    apply, rating_from_average, sung_sort_key, Applied, Crowd, Difficulty, SungCatalogSong,
    SungSong, Survey, ValidSubmission, VocalRange,
};
use crate::store::attr::{self, Item};
use crate::store::keys::user_pk;
use crate::store::library::Change;
use crate::store::{Store, StoreError};

pub const SUNG_PREFIX: &str = "SUNG#";

pub fn sung_sk(song_id: &str) -> String {
    format!("{SUNG_PREFIX}{song_id}")
}

/// The sung list of one user (gsi1), newest first.
pub fn sung_gsi_pk(user_id: &str) -> String {
    format!("SUNG#{user_id}")
}

/// "My Favorites" of one user (gsi2), newest first.
pub fn favorites_gsi_pk(user_id: &str) -> String {
    format!("FAV#{user_id}")
}

/// BatchGetItem's maximum keys per request.
const BATCH_GET_KEYS: usize = 100;
const BATCH_GET_CONCURRENCY: usize = 4;
const MAX_UNPROCESSED_ROUNDS: u32 = 8;
const MAX_WRITE_ATTEMPTS: usize = 10;

/// What `record_sung` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The record as it now stands.
    pub song: SungSong,
    /// The submission had been applied before (a retry): nothing changed.
    pub duplicate: bool,
}

/// What a song list needs to say "Sung 3×, 5★", and what recommendations weigh.
#[derive(Debug, Clone, PartialEq)]
pub struct SungSummary {
    pub song_id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: Option<u32>,
    pub times_sung: u64,
    pub last_sung_at: Option<i64>,
    pub rating: Option<u8>,
    pub would_sing_again: Option<bool>,
    pub vocal_range: Option<VocalRange>,
    pub crowd_response: Option<Crowd>,
}

impl SungSummary {
    pub fn is_favorite(&self) -> bool {
        super::model::is_favorite(self.rating, self.would_sing_again)
    }
}

impl From<&SungSong> for SungSummary {
    fn from(s: &SungSong) -> Self {
        Self {
            song_id: s.song_id.clone(),
            artist: s.artist.clone(),
            title: s.title.clone(),
            brand_count: s.brand_count,
            times_sung: s.times_sung,
            last_sung_at: s.last_sung_at,
            rating: s.rating,
            would_sing_again: s.would_sing_again,
            vocal_range: s.latest.as_ref().and_then(|l| l.vocal_range),
            crowd_response: s.latest.as_ref().and_then(|l| l.crowd_response),
        }
    }
}

/// The attributes a summary is read from (everything but the history and the request ids).
const SUMMARY_ATTRIBUTES: [&str; 12] = [
    "song_id",
    "artist",
    "title",
    "brand_count",
    "times_sung",
    "last_sung_at",
    "sung_at",
    "rating",
    "would_sing_again",
    "latest",
    "average_rating",
    "source",
];

/// A projection of `attributes` with every name aliased (some are reserved words).
pub(crate) fn projection(attributes: &[&str]) -> (String, HashMap<String, String>) {
    let names: HashMap<String, String> = attributes
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("#p{i}"), a.to_string()))
        .collect();
    let expr = (0..attributes.len())
        .map(|i| format!("#p{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    (expr, names)
}

fn corrupt(name: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("attribute {name}: {what}"))
}

/// A count that an older writer may have stored as "3" or "3.0".
fn lenient_count(item: &Item, name: &str) -> Result<Option<u64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse::<u64>()
            .ok()
            .or_else(|| v.parse::<f64>().ok().map(|f| f.max(0.0) as u64))
            .map(Some)
            .ok_or_else(|| corrupt(name, "not a count")),
        Some(_) => Err(corrupt(name, "not a number")),
    }
}

fn lenient_f64(item: &Item, name: &str) -> Result<Option<f64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse::<f64>()
            .map(Some)
            .map_err(|_| corrupt(name, "not a number")),
        Some(_) => Err(corrupt(name, "not a number")),
    }
}

/// A time as Unix seconds, or (legacy) an RFC 3339 string.
fn lenient_time(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse::<i64>()
            .ok()
            .or_else(|| v.parse::<f64>().ok().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| corrupt(name, "not a time")),
        Some(AttributeValue::S(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|d| Some(d.timestamp()))
            .map_err(|_| corrupt(name, "not an RFC 3339 time")),
        Some(_) => Err(corrupt(name, "not a time")),
    }
}

fn survey_from(value: &AttributeValue) -> Result<Survey, StoreError> {
    let AttributeValue::M(map) = value else {
        return Err(corrupt("survey", "not a map"));
    };
    let text = |name: &str| attr::get_s_opt(map, name);
    Ok(Survey {
        sung_at: attr::get_n(map, "sung_at")?,
        rating: attr::get_n(map, "rating")?,
        would_sing_again: attr::get_bool_opt(map, "would_sing_again")?,
        // Answers this version does not know read as unanswered.
        vocal_range: text("vocal_range")?.as_deref().and_then(VocalRange::parse),
        difficulty: text("difficulty")?.as_deref().and_then(Difficulty::parse),
        crowd_response: text("crowd_response")?.as_deref().and_then(Crowd::parse),
        notes: text("notes")?,
        recorded_at: attr::get_n_opt(map, "recorded_at")?.unwrap_or(0),
    })
}

fn survey_value(s: &Survey) -> AttributeValue {
    let mut map = Item::from([
        ("sung_at".to_string(), attr::n(s.sung_at)),
        ("rating".to_string(), attr::n(s.rating)),
        ("recorded_at".to_string(), attr::n(s.recorded_at)),
    ]);
    if let Some(w) = s.would_sing_again {
        map.insert("would_sing_again".into(), AttributeValue::Bool(w));
    }
    if let Some(v) = s.vocal_range {
        map.insert("vocal_range".into(), attr::s(v.as_str()));
    }
    if let Some(v) = s.difficulty {
        map.insert("difficulty".into(), attr::s(v.as_str()));
    }
    if let Some(v) = s.crowd_response {
        map.insert("crowd_response".into(), attr::s(v.as_str()));
    }
    if let Some(n) = &s.notes {
        map.insert("notes".into(), attr::s(n));
    }
    AttributeValue::M(map)
}

fn time_list(item: &Item, name: &str) -> Result<Vec<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::N(n) => n.parse().map_err(|_| corrupt(name, "bad time")),
                _ => Err(corrupt(name, "list member is not a number")),
            })
            .collect(),
        Some(_) => Err(corrupt(name, "not a list")),
    }
}

/// Reads a sung-song item (a full one, or a projection without history and request ids).
pub fn sung_from_item(item: &Item) -> Result<SungSong, StoreError> {
    let latest = item.get("latest").map(survey_from).transpose()?;
    let history = match item.get("history") {
        None | Some(AttributeValue::Null(_)) => Vec::new(),
        Some(AttributeValue::L(values)) => {
            values.iter().map(survey_from).collect::<Result<_, _>>()?
        }
        Some(_) => return Err(corrupt("history", "not a list")),
    };
    let average = lenient_f64(item, "average_rating")?;
    let rating = match attr::get_n_opt::<u8>(item, "rating")? {
        Some(r) => Some(r),
        None => latest
            .as_ref()
            .map(|l| l.rating)
            .or_else(|| average.and_then(rating_from_average)),
    };
    let mut sung_at = time_list(item, "sung_at")?;
    sung_at.sort_unstable_by(|a, b| b.cmp(a));
    let last_sung_at = lenient_time(item, "last_sung_at")?.or(sung_at.first().copied());
    Ok(SungSong {
        song_id: attr::get_s(item, "song_id")?,
        artist: attr::get_s_opt(item, "artist")?.unwrap_or_default(),
        title: attr::get_s_opt(item, "title")?.unwrap_or_default(),
        brand_count: lenient_count(item, "brand_count")?.map(|b| b.min(u32::MAX as u64) as u32),
        times_sung: lenient_count(item, "times_sung")?
            .unwrap_or(0)
            .max(sung_at.len() as u64),
        sung_at,
        last_sung_at,
        would_sing_again: match item.get("would_sing_again") {
            Some(_) => attr::get_bool_opt(item, "would_sing_again")?,
            None => latest.as_ref().and_then(|l| l.would_sing_again),
        },
        latest,
        history,
        rating,
        legacy_average_rating: average,
        source: attr::get_s_opt(item, "source")?,
        request_ids: attr::get_string_list(item, "request_ids")?,
        created_at: attr::get_n_opt(item, "created_at")?,
        updated_at: attr::get_n_opt(item, "updated_at")?,
        version: attr::get_n_opt(item, "version")?.unwrap_or(0),
    })
}

/// The list-index attributes of a sung song: always in the sung list, in "My Favorites" only while
/// a favourite. `None` values are attributes to remove. Also for the legacy migration, so that the
/// records it writes show in the lists.
pub fn sung_index_attributes(
    user_id: &str,
    song_id: &str,
    last_sung_at: i64,
    favorite: bool,
) -> [(&'static str, Option<AttributeValue>); 4] {
    let sort = sung_sort_key(last_sung_at, song_id);
    [
        ("gsi1pk", Some(attr::s(sung_gsi_pk(user_id)))),
        ("gsi1sk", Some(attr::s(&sort))),
        (
            "gsi2pk",
            favorite.then(|| attr::s(favorites_gsi_pk(user_id))),
        ),
        ("gsi2sk", favorite.then(|| attr::s(&sort))),
    ]
}

/// The record written over `base` (the item as read, so attributes this code does not own, such as
/// a legacy `average_rating` or `notes`, stay).
fn record_item(user_id: &str, song: &SungSong, base: Option<Item>) -> Item {
    let mut item = base.unwrap_or_default();
    let mut set = |name: &str, value: Option<AttributeValue>| match value {
        Some(v) => {
            item.insert(name.to_string(), v);
        }
        None => {
            item.remove(name);
        }
    };
    set("pk", Some(attr::s(user_pk(user_id))));
    set("sk", Some(attr::s(sung_sk(&song.song_id))));
    set("entity", Some(attr::s("sung_song")));
    set("song_id", Some(attr::s(&song.song_id)));
    set("artist", Some(attr::s(&song.artist)));
    set("title", Some(attr::s(&song.title)));
    set("brand_count", song.brand_count.map(attr::n));
    set("times_sung", Some(attr::n(song.times_sung)));
    set("last_sung_at", song.last_sung_at.map(attr::n));
    set(
        "sung_at",
        Some(AttributeValue::L(
            song.sung_at.iter().map(attr::n).collect(),
        )),
    );
    set("latest", song.latest.as_ref().map(survey_value));
    set(
        "history",
        Some(AttributeValue::L(
            song.history.iter().map(survey_value).collect(),
        )),
    );
    set("rating", song.rating.map(attr::n));
    set(
        "would_sing_again",
        song.would_sing_again.map(AttributeValue::Bool),
    );
    set(
        "request_ids",
        Some(AttributeValue::L(
            song.request_ids.iter().map(attr::s).collect(),
        )),
    );
    set("created_at", song.created_at.map(attr::n));
    set("updated_at", song.updated_at.map(attr::n));
    set("version", Some(attr::n(song.version + 1)));
    for (name, value) in sung_index_attributes(
        user_id,
        &song.song_id,
        song.last_sung_at.unwrap_or(0),
        song.is_favorite(),
    ) {
        set(name, value);
    }
    item
}

impl Store {
    async fn get_sung_item(
        &self,
        user_id: &str,
        song_id: &str,
    ) -> Result<Option<Item>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(user_pk(user_id)))
            .key("sk", attr::s(sung_sk(song_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item)
    }

    /// One sung song, in full.
    pub async fn get_sung(
        &self,
        user_id: &str,
        song_id: &str,
    ) -> Result<Option<SungSong>, StoreError> {
        self.get_sung_item(user_id, song_id)
            .await?
            .as_ref()
            .map(sung_from_item)
            .transpose()
    }

    /// Records a performance of `song` (the catalog song `submission.song_id` names). Idempotent
    /// on the submission's client request id: a retry returns the record with `duplicate` set and
    /// changes nothing. A version-checked read-modify-write, retried on a concurrent change; the
    /// write also requires the request id to be absent.
    pub async fn record_sung(
        &self,
        user_id: &str,
        song: &SungCatalogSong,
        submission: &ValidSubmission,
        now: i64,
    ) -> Result<Recorded, StoreError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let raw = self.get_sung_item(user_id, &song.id).await?;
            let existing = raw.as_ref().map(sung_from_item).transpose()?;
            let version = existing.as_ref().map_or(0, |e| e.version);
            let record = match apply(existing.clone(), song, submission, now) {
                Applied::Duplicate => {
                    return Ok(Recorded {
                        song: existing.expect("a duplicate has a record"),
                        duplicate: true,
                    })
                }
                Applied::Updated(record) => *record,
            };
            let item = record_item(user_id, &record, raw);
            let request = self
                .db
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(if version == 0 {
                    "attribute_not_exists(version) AND NOT contains(request_ids, :rid)"
                } else {
                    "version = :version AND NOT contains(request_ids, :rid)"
                })
                .expression_attribute_values(":rid", attr::s(&submission.client_request_id));
            let request = if version == 0 {
                request
            } else {
                request.expression_attribute_values(":version", attr::n(version))
            };
            self.metrics.write();
            match request.send().await.map_err(StoreError::from_sdk) {
                Ok(_) => {
                    return Ok(Recorded {
                        song: SungSong {
                            version: version + 1,
                            ..record
                        },
                        duplicate: false,
                    })
                }
                // Someone else wrote first (perhaps this very submission): read again.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// A page of sung songs, most recently sung first; `favorites_only` reads "My Favorites".
    /// `start` is the previous page's returned position.
    pub async fn list_sung(
        &self,
        user_id: &str,
        favorites_only: bool,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<SungSong>, Option<Item>), StoreError> {
        let (index, pk_name, pk) = if favorites_only {
            ("gsi2", "gsi2pk", favorites_gsi_pk(user_id))
        } else {
            ("gsi1", "gsi1pk", sung_gsi_pk(user_id))
        };
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", attr::s(pk))
            .scan_index_forward(false)
            .limit(limit.max(1) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let songs = out
            .items
            .unwrap_or_default()
            .iter()
            .map(sung_from_item)
            .collect::<Result<_, _>>()?;
        Ok((songs, out.last_evaluated_key))
    }

    /// Summaries of the first `limit` favourites, most recently sung first (no history read).
    pub(crate) async fn favorite_summaries(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SungSummary>, StoreError> {
        let (expr, names) = projection(&SUMMARY_ATTRIBUTES);
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", attr::s(favorites_gsi_pk(user_id)))
            .projection_expression(expr)
            .set_expression_attribute_names(Some(names))
            .scan_index_forward(false)
            .limit(limit.max(1) as i32)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| sung_from_item(i).map(|s| SungSummary::from(&s)))
            .collect()
    }

    /// Removes a sung song; `AlreadySo` when there was none.
    pub async fn delete_sung(&self, user_id: &str, song_id: &str) -> Result<Change, StoreError> {
        self.metrics.write();
        let out = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(user_pk(user_id)))
            .key("sk", attr::s(sung_sk(song_id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(if out.attributes.is_some_and(|a| !a.is_empty()) {
            Change::Made
        } else {
            Change::AlreadySo
        })
    }

    /// Which of `song_ids` the user has sung, with how often and how it went (for "Sung 3×"
    /// on song lists). BatchGetItem, 100 keys a request; ids not sung are absent from the map.
    pub async fn get_sung_many(
        &self,
        user_id: &str,
        song_ids: &[String],
    ) -> Result<HashMap<String, SungSummary>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<(String, String)> = song_ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .map(|id| (user_pk(user_id), sung_sk(id)))
            .collect();
        let items = self
            .batch_get_items(keys, Some(&SUMMARY_ATTRIBUTES))
            .await?;
        items
            .iter()
            .map(|i| sung_from_item(i).map(|s| (s.song_id.clone(), SungSummary::from(&s))))
            .collect()
    }

    /// Reads items by key, 100 a request (a few requests at once), retrying unprocessed keys.
    /// Missing items are simply absent. Each request counts as one read.
    pub(crate) async fn batch_get_items(
        &self,
        keys: Vec<(String, String)>,
        attributes: Option<&[&str]>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut unique = std::collections::HashSet::new();
        let keys: Vec<Item> = keys
            .into_iter()
            .filter(|k| unique.insert(k.clone()))
            .map(|(pk, sk)| Item::from([("pk".into(), attr::s(pk)), ("sk".into(), attr::s(sk))]))
            .collect();
        let chunks: Vec<Vec<Item>> = keys.chunks(BATCH_GET_KEYS).map(<[Item]>::to_vec).collect();
        let pages: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk, attributes))
            .buffer_unordered(BATCH_GET_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(
        &self,
        mut pending: Vec<Item>,
        attributes: Option<&[&str]>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut round = 0;
        while !pending.is_empty() {
            if round == MAX_UNPROCESSED_ROUNDS {
                return Err(StoreError::Dynamo(format!(
                    "{} keys still unprocessed after {round} BatchGetItem attempts",
                    pending.len()
                )));
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(25 << round.min(6))).await;
            }
            round += 1;
            let mut request = KeysAndAttributes::builder().set_keys(Some(pending));
            if let Some(attributes) = attributes {
                let (expr, names) = projection(attributes);
                request = request
                    .projection_expression(expr)
                    .set_expression_attribute_names(Some(names));
            }
            let request = request
                .build()
                .map_err(|e| StoreError::Dynamo(e.to_string()))?;
            self.metrics.read();
            let out = self
                .db
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sung::model::SungSubmission;

    const NOW: i64 = 1_767_225_600;

    fn catalog() -> SungCatalogSong {
        SungCatalogSong {
            id: "KS0001".into(),
            artist: "Queen".into(),
            title: "Bohemian Rhapsody".into(),
            brand_count: 6,
        }
    }

    fn record(rating: u8, would: Option<bool>, vocal: Option<VocalRange>) -> SungSong {
        let s = SungSubmission {
            song_id: "KS0001".into(),
            sung_at: Some(NOW - 10),
            rating,
            would_sing_again: would,
            vocal_range: vocal,
            difficulty: Some(Difficulty::Medium),
            crowd_response: Some(Crowd::LikedIt),
            notes: Some("warm up first".into()),
            client_request_id: "rid-1".into(),
        }
        .validate(NOW)
        .unwrap();
        match apply(None, &catalog(), &s, NOW) {
            Applied::Updated(r) => *r,
            Applied::Duplicate => unreachable!(),
        }
    }

    #[test]
    fn items_round_trip_and_carry_the_index_keys() {
        let r = record(5, Some(true), Some(VocalRange::TooHigh));
        let item = record_item("u1", &r, None);
        assert_eq!(item["pk"], attr::s("USER#u1"));
        assert_eq!(item["sk"], attr::s("SUNG#KS0001"));
        assert_eq!(item["gsi1pk"], attr::s("SUNG#u1"));
        assert_eq!(item["gsi1sk"], attr::s(format!("{:012}#KS0001", NOW - 10)));
        assert_eq!(item["gsi2pk"], attr::s("FAV#u1"));
        assert_eq!(item["gsi2sk"], item["gsi1sk"]);
        assert_eq!(item["version"], attr::n(1));
        let back = sung_from_item(&item).unwrap();
        assert_eq!(back, SungSong { version: 1, ..r });
        let summary = SungSummary::from(&back);
        assert_eq!(summary.vocal_range, Some(VocalRange::TooHigh));
        assert!(summary.is_favorite());
    }

    #[test]
    fn the_favorites_entry_goes_when_no_longer_a_favorite() {
        let fav = record(5, None, None);
        let item = record_item("u1", &fav, None);
        assert!(item.contains_key("gsi2pk"));
        let not_fav = record(3, Some(false), None);
        let item = record_item("u1", &not_fav, Some(item));
        assert!(!item.contains_key("gsi2pk") && !item.contains_key("gsi2sk"));
        assert_eq!(item["would_sing_again"], AttributeValue::Bool(false));
        let unanswered = record(2, None, None);
        let item = record_item("u1", &unanswered, Some(item));
        assert!(!item.contains_key("would_sing_again"));
    }

    #[test]
    fn legacy_items_are_read_and_their_extra_attributes_kept() {
        let legacy = Item::from([
            ("pk".to_string(), attr::s("USER#u1")),
            (
                "sk".to_string(),
                attr::s("SUNG#lastfm:queen:bohemian rhapsody"),
            ),
            (
                "song_id".to_string(),
                attr::s("lastfm:queen:bohemian rhapsody"),
            ),
            ("times_sung".to_string(), attr::n("3.0")),
            ("last_sung_at".to_string(), attr::s("2024-05-01T20:00:00Z")),
            ("average_rating".to_string(), attr::n(4.5)),
            ("source".to_string(), attr::s("legacy")),
            ("notes".to_string(), attr::s("old notes")),
        ]);
        let r = sung_from_item(&legacy).unwrap();
        assert_eq!(r.times_sung, 3);
        assert_eq!(r.last_sung_at, Some(1_714_593_600));
        assert_eq!(r.rating, Some(5));
        assert_eq!(r.version, 0);
        assert!(r.latest.is_none() && r.history.is_empty() && r.sung_at.is_empty());
        assert!(r.is_favorite());
        let item = record_item("u1", &r, Some(legacy));
        assert_eq!(item["notes"], attr::s("old notes"));
        assert_eq!(item["average_rating"], attr::n(4.5));
        assert_eq!(
            item["gsi1sk"],
            attr::s("001714593600#lastfm:queen:bohemian rhapsody")
        );
    }

    #[test]
    fn projections_alias_every_name() {
        let (expr, names) = projection(&["title", "source"]);
        assert_eq!(expr, "#p0, #p1");
        assert_eq!(names["#p0"], "title");
        assert_eq!(names["#p1"], "source");
    }
}
