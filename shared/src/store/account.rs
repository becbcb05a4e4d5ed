//! Whole-account storage: every item of a user page by page (export, erase), the user's
//! sign-in states kept outside the partition, and the erase marker on the profile.

use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, ReturnValue, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};

/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;
/// Batches in flight at once while deleting.
const DELETE_CONCURRENCY: usize = 4;
const MAX_UNPROCESSED_ROUNDS: u32 = 8;

/// An erase under way, as recorded on the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseMarker {
    pub erase_id: String,
    pub requested_at: i64,
    pub updated_at: i64,
    pub items_deleted: u64,
    /// Writes of a sync that was running when the erase began can land until then; the erase
    /// finishes only with a pass over the partition that started after it.
    pub settle_after: Option<i64>,
    /// The settle time of the deployment that began the erase, for the worker to reuse.
    pub settle_secs: i64,
}

fn marker_from(item: &Item) -> Result<Option<EraseMarker>, StoreError> {
    let Some(erase_id) = attr::get_s_opt(item, "erase_id")? else {
        return Ok(None);
    };
    Ok(Some(EraseMarker {
        erase_id,
        requested_at: attr::get_n(item, "erase_requested_at")?,
        updated_at: attr::get_n_opt(item, "erase_updated_at")?.unwrap_or(0),
        items_deleted: attr::get_n_opt(item, "erase_deleted")?.unwrap_or(0),
        settle_after: attr::get_n_opt(item, "erase_settle_after")?,
        settle_secs: attr::get_n_opt(item, "erase_settle_secs")?.unwrap_or(0),
    }))
}

/// What the profile held when an erase was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseBegun {
    pub marker: EraseMarker,
    /// False when an earlier request had already begun this erase.
    pub new: bool,
    /// The sync lock holder at that moment and its lease (a job id, or an earlier erase).
    pub previous_lock: Option<(String, i64)>,
}

pub fn is_profile_key(key: &Item) -> bool {
    matches!(key.get("sk"), Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) if sk == keys::PROFILE_SK)
}

impl Store {
    /// One Query page of the user's partition, whole items, in key order.
    pub async fn user_items_page(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .limit(limit)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// One Query page of the user's partition, keys only (what a delete needs).
    pub async fn user_keys_page(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        self.user_keys_query(user_id, None, limit, start).await
    }

    /// Keys of the user's sync jobs (all of them: a user has few).
    pub async fn user_job_keys(&self, user_id: &str) -> Result<Vec<Item>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self
                .user_keys_query(user_id, Some(keys::JOB_PREFIX), 1000, start)
                .await?;
            keys.extend(page);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(keys),
            }
        }
    }

    async fn user_keys_query(
        &self,
        user_id: &str,
        prefix: Option<&str>,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        self.metrics.read();
        let mut request = self
            .db
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .projection_expression("pk, sk")
            .limit(limit)
            .consistent_read(true)
            .set_exclusive_start_key(start);
        request = match prefix {
            Some(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", attr::s(prefix)),
            None => request.key_condition_expression("pk = :pk"),
        };
        let out = request.send().await.map_err(StoreError::from_sdk)?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// Keys of the user's Spotify sign-in states (they live under their own partition key).
    pub async fn user_oauth_state_keys(&self, user_id: &str) -> Result<Vec<Item>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            self.metrics.read();
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", attr::s(keys::oauth_states_gsi_pk(user_id)))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            keys.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Deletes items by key (pk, sk), 25 per request, several requests at once.
    pub async fn delete_keys(&self, item_keys: &[Item]) -> Result<(), StoreError> {
        // Owned batches: a stream over borrowed chunks is not `Send` for every lifetime, which
        // the API's handler future must be.
        let batches = item_keys
            .chunks(BATCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|key| {
                        let only_key: Item = key
                            .iter()
                            .filter(|(k, _)| *k == "pk" || *k == "sk")
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        DeleteRequest::builder()
                            .set_key(Some(only_key))
                            .build()
                            .map(|d| WriteRequest::builder().delete_request(d).build())
                            .map_err(|e| StoreError::Dynamo(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        stream::iter(batches)
            .map(|batch| self.write_batch(batch))
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_batch(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut round = 0;
        while !pending.is_empty() {
            if round == MAX_UNPROCESSED_ROUNDS {
                return Err(StoreError::Dynamo(format!(
                    "{} deletes still unprocessed after {round} attempts",
                    pending.len()
                )));
            }
            if round > 0 {
                // Unprocessed items mean the table is throttling us: back off harder each time.
                let delay = (25u64 << round.min(7)).min(2_000);
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            round += 1;
            self.metrics.write();
            let out = self
                .db
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
        }
        Ok(())
    }

    /// Marks the account as being erased and takes the sync lock for the erase in the same
    /// write, whoever held it: a running sync loses it (its own release is conditional and
    /// becomes a no-op) and no new sync can take it. A request for an erase already under way
    /// gets that erase's marker back instead.
    pub async fn begin_erase(
        &self,
        user_id: &str,
        erase_id: &str,
        now: i64,
        lock_until: i64,
        settle_secs: i64,
    ) -> Result<EraseBegun, StoreError> {
        for _ in 0..3 {
            self.metrics.write();
            let result = self
                .db
                .update_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::PROFILE_SK))
                .update_expression(
                    "SET erase_id = :id, erase_requested_at = :now, erase_updated_at = :now, \
                     erase_deleted = :zero, erase_settle_secs = :settle, active_job = :lock, lock_until = :until, \
                     created_at = if_not_exists(created_at, :now)",
                )
                .condition_expression("attribute_not_exists(erase_id)")
                .expression_attribute_values(":id", attr::s(erase_id))
                .expression_attribute_values(":now", attr::n(now))
                .expression_attribute_values(":zero", attr::n(0))
                .expression_attribute_values(":settle", attr::n(settle_secs))
                .expression_attribute_values(":lock", attr::s(keys::erase_lock(erase_id)))
                .expression_attribute_values(":until", attr::n(lock_until))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(StoreError::from_sdk);
            match result {
                Ok(out) => {
                    let old = out.attributes.unwrap_or_default();
                    let previous_lock = match attr::get_s_opt(&old, "active_job")? {
                        Some(holder) => {
                            Some((holder, attr::get_n_opt(&old, "lock_until")?.unwrap_or(0)))
                        }
                        None => None,
                    };
                    return Ok(EraseBegun {
                        marker: EraseMarker {
                            erase_id: erase_id.to_string(),
                            requested_at: now,
                            updated_at: now,
                            items_deleted: 0,
                            settle_after: None,
                            settle_secs,
                        },
                        new: true,
                        previous_lock,
                    });
                }
                Err(StoreError::Conflict) => {
                    // Another request began the erase; it may also have finished since, in
                    // which case this request begins a new one.
                    if let Some(marker) = self.erase_marker(user_id).await? {
                        return Ok(EraseBegun {
                            marker,
                            new: false,
                            previous_lock: None,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    pub async fn erase_marker(&self, user_id: &str) -> Result<Option<EraseMarker>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .projection_expression(
                "erase_id, erase_requested_at, erase_updated_at, erase_deleted, erase_settle_after, \
                 erase_settle_secs",
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        match out.item {
            Some(item) => marker_from(&item),
            None => Ok(None),
        }
    }

    /// Counts deleted items on the marker (and sets when the erase may finish). Conflict when
    /// the marker is gone or belongs to another erase.
    pub async fn record_erase_progress(
        &self,
        user_id: &str,
        erase_id: &str,
        deleted: u64,
        settle_after: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut update = String::from("SET erase_updated_at = :now ADD erase_deleted :n");
        let mut request = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .condition_expression("erase_id = :id")
            .expression_attribute_values(":id", attr::s(erase_id))
            .expression_attribute_values(":now", attr::n(now))
            .expression_attribute_values(":n", attr::n(deleted));
        if let Some(at) = settle_after {
            update = String::from(
                "SET erase_updated_at = :now, erase_settle_after = :settle ADD erase_deleted :n",
            );
            request = request.expression_attribute_values(":settle", attr::n(at));
        }
        self.metrics.write();
        request
            .update_expression(update)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The last step of an erase: the profile, with the marker and the lock on it. Returns
    /// false when another erase owns the marker (or it is already gone).
    pub async fn finish_erase(&self, user_id: &str, erase_id: &str) -> Result<bool, StoreError> {
        self.metrics.write();
        match self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .condition_expression("erase_id = :id")
            .expression_attribute_values(":id", attr::s(erase_id))
            .send()
            .await
            .map_err(StoreError::from_sdk)
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
