//! A user's Last.fm tracks (aggregated scrobbles).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{self, Item};
use super::keys;
use super::opset;
use super::{Store, StoreError};
use crate::sync::aggregate::TrackState;

/// A song item as the Last.fm sync sees it: its Last.fm part (absent when only other sources
/// know the song), the item's version, shared by every source's writer, and the item as read
/// (empty when there is none), which a write of the Last.fm part keeps the rest of.
#[derive(Debug, Clone, Default)]
pub struct StoredSong {
    pub lastfm: Option<TrackState>,
    pub version: u64,
    pub item: Item,
}

/// A new Last.fm part for a song, over the item it was merged from.
#[derive(Debug, Clone)]
pub struct TrackWrite {
    pub track: TrackState,
    pub base: Item,
}

pub fn from_item(item: &Item) -> Result<TrackState, StoreError> {
    Ok(TrackState {
        key: attr::get_s(item, "track_key")?,
        artist: attr::get_s(item, "artist")?,
        title: attr::get_s(item, "title")?,
        album: attr::get_s_opt(item, "album")?,
        loved: attr::get_bool_opt(item, "loved")?,
        playcount: attr::get_n(item, "playcount")?,
        first_uts: attr::get_n(item, "first_uts")?,
        last_uts: attr::get_n(item, "last_uts")?,
        display_order: attr::get_n(item, "display_order")?,
        sync_count: attr::get_n(item, "sync_count")?,
        generation: attr::get_s(item, "generation")?,
        applied_job: attr::get_s(item, "applied_job")?,
        applied_ops: opset::get(item, "applied_ops")?,
        entered_job: attr::get_s_opt(item, "entered_job")?.unwrap_or_default(),
        entered_op: attr::get_n_opt(item, "entered_op")?.unwrap_or(0),
        version: attr::get_n(item, "version")?,
    })
}

/// Takes the item by value: it is kept whole, as the base of the next write.
pub fn stored_from_item(item: Item) -> Result<StoredSong, StoreError> {
    Ok(StoredSong {
        lastfm: if item.contains_key("playcount") {
            Some(from_item(&item)?)
        } else {
            None
        },
        version: attr::get_n_opt(&item, "version")?.unwrap_or(0),
        item,
    })
}

impl Store {
    /// Reads many tracks at once (strongly consistent: these reads feed conditional writes).
    pub async fn get_tracks(
        &self,
        user_id: &str,
        track_keys: &[String],
    ) -> Result<HashMap<String, StoredSong>, StoreError> {
        let keys = track_keys
            .iter()
            .map(|k| {
                Item::from([
                    ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                    ("sk".to_string(), attr::s(keys::track_sk(k))),
                ])
            })
            .collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(|item| {
                let key = attr::get_s(&item, "sk")?
                    .trim_start_matches(keys::TRACK_PREFIX)
                    .to_string();
                Ok((key, stored_from_item(item)?))
            })
            .collect()
    }

    pub async fn get_track(&self, user_id: &str, key: &str) -> Result<StoredSong, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::track_sk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out
            .item
            .map(stored_from_item)
            .transpose()?
            .unwrap_or_default())
    }

    /// Writes the Last.fm part of a song item if nobody wrote the item since version
    /// `w.track.version - 1` was read. Other sources' attributes, as read, are kept.
    pub async fn write_track(&self, user_id: &str, w: &TrackWrite) -> Result<(), StoreError> {
        let p = SongPut::of(user_id, w);
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(p.item))
            .condition_expression(p.condition)
            .expression_attribute_names("#version", "version")
            .set_expression_attribute_values(p.values)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Writes up to 100 tracks in one transaction, each with the same version check as
    /// [`Store::write_track`]: all or none. Returns the positions whose check failed (or that
    /// another transaction held): those must be re-read and merged again; an empty list means
    /// every track was written. One request instead of one per track is what lets a page land
    /// in a few round trips.
    pub async fn write_tracks(
        &self,
        user_id: &str,
        writes: &[TrackWrite],
    ) -> Result<Vec<usize>, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let items = writes
            .iter()
            .map(|w| {
                let p = SongPut::of(user_id, w);
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(p.item))
                    .condition_expression(p.condition)
                    .expression_attribute_names("#version", "version")
                    .set_expression_attribute_values(p.values)
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build())
                    .map_err(|e| StoreError::Dynamo(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.transact_checked(items).await
    }

    /// Tracks of a generation other than `keep`, a batch at a time (for the post-sync sweep).
    pub async fn stale_tracks(
        &self,
        user_id: &str,
        keep_generation: &str,
        start: Option<Item>,
    ) -> Result<(Vec<String>, Option<Item>), StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("attribute_exists(playcount) AND generation <> :keep")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", attr::s(keys::TRACK_PREFIX))
            .expression_attribute_values(":keep", attr::s(keep_generation))
            .projection_expression("track_key")
            .limit(500)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let stale = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| attr::get_s(i, "track_key"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stale, out.last_evaluated_key))
    }

    /// Drops the Last.fm part of a song left from an old generation: the whole item when no
    /// other source knows the song, otherwise only the Last.fm attributes.
    pub async fn delete_stale_track(
        &self,
        user_id: &str,
        key: &str,
        keep_generation: &str,
    ) -> Result<(), StoreError> {
        self.drop_lastfm_part(user_id, key, |item| {
            Ok(attr::get_s_opt(item, "generation")?.as_deref() != Some(keep_generation))
        })
        .await
        .map(|_| ())
    }

    /// Drops the Last.fm part of a song whose every scrobble was deleted on Last.fm. Returns
    /// whether it did.
    pub async fn drop_unplayed_track(&self, user_id: &str, key: &str) -> Result<bool, StoreError> {
        self.drop_lastfm_part(user_id, key, |item| {
            Ok(attr::get_n_opt::<u64>(item, "playcount")? == Some(0))
        })
        .await
    }

    /// Removes the Last.fm attributes (or the whole item when no other source knows the
    /// song) if `applies` says so for the item as read; retried on concurrent writes.
    async fn drop_lastfm_part(
        &self,
        user_id: &str,
        key: &str,
        applies: impl Fn(&Item) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        for _ in 0..10 {
            self.metrics.read();
            let out = self
                .db
                .get_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::track_sk(key)))
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let Some(item) = out.item else {
                return Ok(false);
            };
            if !item.contains_key("playcount") || !applies(&item)? {
                return Ok(false);
            }
            let version: u64 = attr::get_n_opt(&item, "version")?.unwrap_or(0);
            let row = crate::store::library::song_row(&item)?;
            let known_added: Option<i64> = attr::get_n_opt(&item, "known_added_at")?;
            let others = row.spotify.is_some() || row.known_song_id.is_some();
            self.metrics.write();
            let result = if others {
                let sort = crate::library::sort_key(None, row.spotify.as_ref(), known_added, key);
                self.db
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(keys::track_sk(key)))
                    .update_expression(
                        "REMOVE playcount, first_uts, last_uts, display_order, generation, \
                         applied_job, applied_ops, entered_job, entered_op, loved \
                         SET version = :next, gsi1sk = :gsk",
                    )
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", attr::n(version))
                    .expression_attribute_values(":next", attr::n(version + 1))
                    .expression_attribute_values(":gsk", attr::s(sort))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(StoreError::from_sdk)
            } else {
                self.db
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(keys::track_sk(key)))
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", attr::n(version))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(StoreError::from_sdk)
            };
            match result {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }
}

/// The optional attributes of a song item's Last.fm part: a write drops those the new part
/// lacks; it sets the others and keeps every attribute of the item as read besides.
const LASTFM_OPTIONAL: [&str; 2] = ["album", "loved"];

/// The version-checked put of a song item, usable alone or in a transaction.
///
/// A whole-item put over the item as read, rather than an update naming each attribute: the
/// version check already guarantees nobody wrote the item since it was read, so the two write
/// the same item, and a put is about half the work for the local emulator, which parses every
/// update expression of a transaction (see docs/PERFORMANCE.md). DynamoDB bills both alike.
struct SongPut {
    item: Item,
    condition: &'static str,
    values: Option<HashMap<String, AttributeValue>>,
}

impl SongPut {
    fn of(user_id: &str, w: &TrackWrite) -> Self {
        let t = &w.track;
        let mut item = w.base.clone();
        for name in LASTFM_OPTIONAL {
            item.remove(name);
        }
        item.extend([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::track_sk(&t.key))),
            ("entity".to_string(), attr::s("song")),
            ("track_key".to_string(), attr::s(&t.key)),
            ("artist".to_string(), attr::s(&t.artist)),
            ("title".to_string(), attr::s(&t.title)),
            ("playcount".to_string(), attr::n(t.playcount)),
            ("first_uts".to_string(), attr::n(t.first_uts)),
            ("last_uts".to_string(), attr::n(t.last_uts)),
            ("display_order".to_string(), attr::n(t.display_order)),
            ("sync_count".to_string(), attr::n(t.sync_count)),
            ("generation".to_string(), attr::s(&t.generation)),
            ("applied_job".to_string(), attr::s(&t.applied_job)),
            ("applied_ops".to_string(), opset::encode(&t.applied_ops)),
            ("entered_job".to_string(), attr::s(&t.entered_job)),
            ("entered_op".to_string(), attr::n(t.entered_op)),
            ("version".to_string(), attr::n(t.version)),
            ("gsi1pk".to_string(), attr::s(keys::songs_gsi_pk(user_id))),
            (
                "gsi1sk".to_string(),
                attr::s(keys::lastfm_song_sort(t.playcount, &t.key)),
            ),
        ]);
        if let Some(album) = &t.album {
            item.insert("album".into(), attr::s(album));
        }
        if let Some(loved) = t.loved {
            item.insert("loved".into(), AttributeValue::Bool(loved));
        }
        let values = (t.version > 1)
            .then(|| HashMap::from([(":expected".to_string(), attr::n(t.version - 1))]));
        let condition = match values {
            Some(_) => "#version = :expected",
            None => "attribute_not_exists(#version)",
        };
        SongPut {
            item,
            condition,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn track(version: u64, album: Option<&str>, loved: Option<bool>) -> TrackState {
        TrackState {
            key: "queen\u{1f}bohemian rhapsody".into(),
            artist: "Queen".into(),
            title: "Bohemian Rhapsody".into(),
            album: album.map(Into::into),
            loved,
            playcount: 7,
            first_uts: 100,
            last_uts: 900,
            display_order: 9,
            sync_count: 1,
            generation: "g2".into(),
            applied_job: "j2".into(),
            applied_ops: BTreeSet::from([3]),
            entered_job: "j2".into(),
            entered_op: 3,
            version,
        }
    }

    #[test]
    fn a_put_keeps_other_sources_and_replaces_the_lastfm_part() {
        let base = Item::from([
            ("pk".to_string(), attr::s("USER#u")),
            ("sk".to_string(), attr::s("TRACK#old")),
            ("playcount".to_string(), attr::n(3)),
            ("album".to_string(), attr::s("Old album")),
            ("loved".to_string(), AttributeValue::Bool(true)),
            ("spotify_rank_long".to_string(), attr::n(4)),
            ("known_song_id".to_string(), attr::s("song-1")),
            ("version".to_string(), attr::n(4)),
        ]);
        let put = SongPut::of(
            "u",
            &TrackWrite {
                track: track(5, None, None),
                base,
            },
        );
        assert_eq!(attr::get_n::<u64>(&put.item, "playcount").unwrap(), 7);
        assert_eq!(attr::get_n::<u64>(&put.item, "version").unwrap(), 5);
        assert_eq!(
            attr::get_n::<u64>(&put.item, "spotify_rank_long").unwrap(),
            4
        );
        assert_eq!(attr::get_s(&put.item, "known_song_id").unwrap(), "song-1");
        // The new part has no album and no loved mark: the old ones must not survive.
        assert!(!put.item.contains_key("album"));
        assert!(!put.item.contains_key("loved"));
        assert_eq!(
            attr::get_s(&put.item, "sk").unwrap(),
            keys::track_sk("queen\u{1f}bohemian rhapsody")
        );
        assert_eq!(put.condition, "#version = :expected");
        assert_eq!(
            put.values.unwrap().get(":expected"),
            Some(&attr::n(4)),
            "the check is against the version that was read"
        );
    }

    #[test]
    fn a_first_write_requires_that_nobody_wrote_the_item() {
        let put = SongPut::of(
            "u",
            &TrackWrite {
                track: track(1, Some("A Night at the Opera"), Some(false)),
                base: Item::new(),
            },
        );
        assert_eq!(put.condition, "attribute_not_exists(#version)");
        assert!(put.values.is_none());
        assert_eq!(
            attr::get_s(&put.item, "album").unwrap(),
            "A Night at the Opera"
        );
        assert_eq!(put.item.get("loved"), Some(&AttributeValue::Bool(false)));
        assert_eq!(
            attr::get_s(&put.item, "gsi1pk").unwrap(),
            keys::songs_gsi_pk("u")
        );
        // Read back, the item is the track that was written.
        assert_eq!(
            from_item(&put.item).unwrap(),
            track(1, Some("A Night at the Opera"), Some(false))
        );
    }
}
