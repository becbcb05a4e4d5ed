//! A user's Last.fm tracks (aggregated scrobbles).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};
use crate::sync::aggregate::TrackState;

/// A song item as the Last.fm sync sees it: its Last.fm part (absent when only other sources
/// know the song) and the item's version, shared by every source's writer.
#[derive(Debug, Clone, Default)]
pub struct StoredSong {
    pub lastfm: Option<TrackState>,
    pub version: u64,
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
        applied_ops: attr::get_ns(item, "applied_ops")?,
        entered_job: attr::get_s_opt(item, "entered_job")?.unwrap_or_default(),
        entered_op: attr::get_n_opt(item, "entered_op")?.unwrap_or(0),
        version: attr::get_n(item, "version")?,
    })
}

pub fn stored_from_item(item: &Item) -> Result<StoredSong, StoreError> {
    Ok(StoredSong {
        lastfm: if item.contains_key("playcount") {
            Some(from_item(item)?)
        } else {
            None
        },
        version: attr::get_n_opt(item, "version")?.unwrap_or(0),
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
            .iter()
            .map(|item| {
                let key = attr::get_s(item, "sk")?
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
            .as_ref()
            .map(stored_from_item)
            .transpose()?
            .unwrap_or_default())
    }

    /// Writes the Last.fm part of a song item if nobody wrote the item since version
    /// `t.version - 1` was read. Other sources' attributes on the item are left alone.
    pub async fn write_track(&self, user_id: &str, t: &TrackState) -> Result<(), StoreError> {
        let mut set = vec![
            ("entity", attr::s("song")),
            ("track_key", attr::s(&t.key)),
            ("artist", attr::s(&t.artist)),
            ("title", attr::s(&t.title)),
            ("playcount", attr::n(t.playcount)),
            ("first_uts", attr::n(t.first_uts)),
            ("last_uts", attr::n(t.last_uts)),
            ("display_order", attr::n(t.display_order)),
            ("sync_count", attr::n(t.sync_count)),
            ("generation", attr::s(&t.generation)),
            ("applied_job", attr::s(&t.applied_job)),
            ("applied_ops", attr::ns(t.applied_ops.iter().copied())),
            ("entered_job", attr::s(&t.entered_job)),
            ("entered_op", attr::n(t.entered_op)),
            ("version", attr::n(t.version)),
            ("gsi1pk", attr::s(keys::songs_gsi_pk(user_id))),
            (
                "gsi1sk",
                attr::s(keys::lastfm_song_sort(t.playcount, &t.key)),
            ),
        ];
        let mut remove = Vec::new();
        match &t.album {
            Some(album) => set.push(("album", attr::s(album))),
            None => remove.push("album"),
        }
        match t.loved {
            Some(loved) => set.push(("loved", AttributeValue::Bool(loved))),
            None => remove.push("loved"),
        }
        let mut expression = format!(
            "SET {}",
            set.iter()
                .map(|(name, _)| format!("#{name} = :{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !remove.is_empty() {
            expression.push_str(&format!(
                " REMOVE {}",
                remove
                    .iter()
                    .map(|n| format!("#{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut request = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::track_sk(&t.key)))
            .update_expression(expression);
        for (name, value) in set {
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        for name in remove {
            request = request.expression_attribute_names(format!("#{name}"), name);
        }
        request = if t.version <= 1 {
            request.condition_expression("attribute_not_exists(#version)")
        } else {
            request
                .condition_expression("#version = :expected")
                .expression_attribute_values(":expected", attr::n(t.version - 1))
        };
        self.metrics.write();
        request.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
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
