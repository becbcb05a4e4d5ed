//! A user's Last.fm tracks (aggregated scrobbles).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};
use crate::sync::aggregate::TrackState;

fn to_item(user_id: &str, t: &TrackState) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), attr::s(keys::user_pk(user_id)));
    item.insert("sk".into(), attr::s(keys::track_sk(&t.key)));
    item.insert("entity".into(), attr::s("lastfm_track"));
    item.insert("track_key".into(), attr::s(&t.key));
    item.insert("artist".into(), attr::s(&t.artist));
    item.insert("title".into(), attr::s(&t.title));
    if let Some(album) = &t.album {
        item.insert("album".into(), attr::s(album));
    }
    if let Some(loved) = t.loved {
        item.insert("loved".into(), AttributeValue::Bool(loved));
    }
    item.insert("playcount".into(), attr::n(t.playcount));
    item.insert("first_uts".into(), attr::n(t.first_uts));
    item.insert("last_uts".into(), attr::n(t.last_uts));
    item.insert("display_order".into(), attr::n(t.display_order));
    item.insert("sync_count".into(), attr::n(t.sync_count));
    item.insert("generation".into(), attr::s(&t.generation));
    item.insert("applied_job".into(), attr::s(&t.applied_job));
    item.insert(
        "applied_ops".into(),
        attr::ns(t.applied_ops.iter().copied()),
    );
    item.insert("version".into(), attr::n(t.version));
    item.insert("gsi1pk".into(), attr::s(keys::songs_gsi_pk(user_id)));
    item.insert(
        "gsi1sk".into(),
        attr::s(keys::lastfm_song_sort(t.playcount, &t.key)),
    );
    item
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
        version: attr::get_n(item, "version")?,
    })
}

impl Store {
    /// Reads many tracks at once (strongly consistent: these reads feed conditional writes).
    pub async fn get_tracks(
        &self,
        user_id: &str,
        track_keys: &[String],
    ) -> Result<HashMap<String, TrackState>, StoreError> {
        let mut found = HashMap::new();
        for chunk in track_keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|k| {
                    Item::from([
                        ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                        ("sk".to_string(), attr::s(keys::track_sk(k))),
                    ])
                })
                .collect();
            let mut rounds = 0;
            while !pending.is_empty() {
                rounds += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
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
                for item in out
                    .responses
                    .as_ref()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let t = from_item(item)?;
                    found.insert(t.key.clone(), t);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    // DynamoDB hands back what it could not serve under load; wait, then ask again.
                    tokio::time::sleep(std::time::Duration::from_millis(20 << rounds.min(6))).await;
                }
            }
        }
        Ok(found)
    }

    pub async fn get_track(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<TrackState>, StoreError> {
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
        out.item.as_ref().map(from_item).transpose()
    }

    /// Writes a track if nobody else wrote it since `state.version - 1` was read.
    pub async fn write_track(&self, user_id: &str, state: &TrackState) -> Result<(), StoreError> {
        let mut request = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(user_id, state)));
        request = if state.version <= 1 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", attr::n(state.version - 1))
        };
        self.metrics.write();
        request.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// One page of "Songs You Know" from the index, most played first.
    pub async fn query_songs(
        &self,
        user_id: &str,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<TrackState>, Option<Item>), StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", attr::s(keys::songs_gsi_pk(user_id)))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let items = out
            .items
            .unwrap_or_default()
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, out.last_evaluated_key))
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
            .filter_expression("generation <> :keep")
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

    /// Deletes a track only if it still belongs to an old generation.
    pub async fn delete_stale_track(
        &self,
        user_id: &str,
        key: &str,
        keep_generation: &str,
    ) -> Result<(), StoreError> {
        self.metrics.write();
        let result = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::track_sk(key)))
            .condition_expression("generation <> :keep")
            .expression_attribute_values(":keep", attr::s(keep_generation))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
