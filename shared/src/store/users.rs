//! Per-user profile (holds the one-sync-at-a-time lock) and the Last.fm connection.

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};
use crate::sync::job::Job;
use crate::sync::job::JobKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastfmService {
    pub username: String,
    pub connected_at: i64,
    /// Newest scrobble already counted; incremental syncs start after it.
    pub watermark_uts: Option<i64>,
    /// The full sync whose counts are current.
    pub generation: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_job_id: Option<String>,
    /// Distinct tracks in the current generation.
    pub track_count: u64,
    /// Artists in the last refreshed top list.
    pub artist_count: u64,
    /// When every past window was last compared with Last.fm's totals.
    pub reconciled_at: Option<i64>,
}

fn service_from_item(item: &Item) -> Result<LastfmService, StoreError> {
    Ok(LastfmService {
        username: attr::get_s(item, "username")?,
        connected_at: attr::get_n(item, "connected_at")?,
        watermark_uts: attr::get_n_opt(item, "watermark_uts")?,
        generation: attr::get_s_opt(item, "generation")?,
        last_sync_at: attr::get_n_opt(item, "last_sync_at")?,
        last_job_id: attr::get_s_opt(item, "last_job_id")?,
        track_count: attr::get_n_opt(item, "track_count")?.unwrap_or(0),
        artist_count: attr::get_n_opt(item, "artist_count")?.unwrap_or(0),
        reconciled_at: attr::get_n_opt(item, "reconciled_at")?,
    })
}

/// Who holds a user's sync lock when we could not take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHeld {
    pub job_id: String,
}

impl Store {
    pub async fn get_lastfm_service(
        &self,
        user_id: &str,
    ) -> Result<Option<LastfmService>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::LASTFM_SERVICE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(service_from_item).transpose()
    }

    /// Connects a Last.fm account. A different account starts over (no watermark, no generation);
    /// the same account (any letter case) keeps its sync state.
    pub async fn put_lastfm_service(
        &self,
        user_id: &str,
        username: &str,
        now: i64,
    ) -> Result<LastfmService, StoreError> {
        let existing = self.get_lastfm_service(user_id).await?;
        let service = match existing {
            Some(mut same) if same.username.eq_ignore_ascii_case(username) => {
                same.username = username.to_string();
                same
            }
            _ => LastfmService {
                username: username.to_string(),
                connected_at: now,
                watermark_uts: None,
                generation: None,
                last_sync_at: None,
                last_job_id: None,
                track_count: 0,
                artist_count: 0,
                reconciled_at: None,
            },
        };
        let mut item = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::LASTFM_SERVICE_SK)),
            ("entity".to_string(), attr::s("service")),
            ("service".to_string(), attr::s("lastfm")),
            ("username".to_string(), attr::s(&service.username)),
            ("connected_at".to_string(), attr::n(service.connected_at)),
            ("user_id".to_string(), attr::s(user_id)),
            ("gsi2pk".to_string(), attr::s(keys::LASTFM_DUE_PK)),
            // Newly connected accounts are due at once; afterwards each sync sets the next time.
            (
                "gsi2sk".to_string(),
                attr::s(keys::due_sort(
                    service
                        .last_sync_at
                        .map_or(now, |t| t + crate::sync::schedule::interval_secs()),
                    user_id,
                )),
            ),
        ]);
        if let Some(w) = service.watermark_uts {
            item.insert("watermark_uts".into(), attr::n(w));
        }
        if let Some(g) = &service.generation {
            item.insert("generation".into(), attr::s(g));
        }
        if let Some(t) = service.last_sync_at {
            item.insert("last_sync_at".into(), attr::n(t));
        }
        if let Some(j) = &service.last_job_id {
            item.insert("last_job_id".into(), attr::s(j));
        }
        if let Some(t) = service.reconciled_at {
            item.insert("reconciled_at".into(), attr::n(t));
        }
        item.insert("track_count".into(), attr::n(service.track_count));
        item.insert("artist_count".into(), attr::n(service.artist_count));
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(service)
    }

    pub async fn delete_lastfm_service(&self, user_id: &str) -> Result<bool, StoreError> {
        self.metrics.write();
        let out = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::LASTFM_SERVICE_SK))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.attributes.is_some())
    }

    /// After a job ends well: move the watermark forward and, for a full sync, make its
    /// generation the current one. Skipped if the user has since connected another account.
    pub async fn record_lastfm_sync(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        let mut update = String::from("SET last_sync_at = :now, last_job_id = :job, gsi2sk = :due");
        let mut condition = String::from("username = :user");
        let mut request = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(&job.user_id)))
            .key("sk", attr::s(keys::LASTFM_SERVICE_SK))
            .expression_attribute_values(":now", attr::n(now))
            .expression_attribute_values(":job", attr::s(&job.job_id))
            .expression_attribute_values(":user", attr::s(&job.lastfm_user))
            .expression_attribute_values(
                ":due",
                attr::s(keys::due_sort(
                    now + crate::sync::schedule::next_sync_in(
                        crate::sync::schedule::interval_secs(),
                        job.newest_uts,
                        now,
                    ),
                    &job.user_id,
                )),
            );
        // A full sync whose closing count differed from Last.fm's (a scrobble deleted after
        // its page was read) leaves the next sync to reconcile.
        if (job.kind == JobKind::Full && job.repairs.is_empty()) || job.reconcile {
            update.push_str(", reconciled_at = :now");
        }
        if job.kind != JobKind::Incremental {
            update.push_str(", generation = :gen, track_count = :tracks");
            request = request.expression_attribute_values(":gen", attr::s(&job.generation));
        } else {
            update.push_str(", track_count = if_not_exists(track_count, :zero) + :tracks");
            request = request.expression_attribute_values(":zero", attr::n(0));
        }
        request = request.expression_attribute_values(":tracks", attr::n(job.tracks_added));
        if job.plan.artist_pages > 0 || job.kind == JobKind::Full {
            update.push_str(", artist_count = :artists");
            request = request.expression_attribute_values(":artists", attr::n(job.artists_total));
        }
        if let Some(newest) = job.newest_uts {
            update.push_str(", watermark_uts = :newest");
            condition
                .push_str(" AND (attribute_not_exists(watermark_uts) OR watermark_uts <= :newest)");
            request = request.expression_attribute_values(":newest", attr::n(newest));
        }
        self.metrics.write();
        match request
            .update_expression(update)
            .condition_expression(condition)
            .send()
            .await
            .map_err(StoreError::from_sdk)
        {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Users whose next Last.fm sync time has passed, oldest first.
    pub async fn users_due_for_lastfm(
        &self,
        now: i64,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.users_due(keys::LASTFM_DUE_PK, now, max).await
    }

    /// Users whose next sync time for one service (`keys::*_DUE_PK`) has passed, oldest first.
    pub async fn users_due(
        &self,
        partition: &str,
        now: i64,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut users = Vec::new();
        let mut start = None;
        loop {
            self.metrics.read();
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk AND gsi2sk < :until")
                .expression_attribute_values(":pk", attr::s(partition))
                .expression_attribute_values(":until", attr::s(keys::due_sort(now + 1, "")))
                .projection_expression("user_id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in out.items.unwrap_or_default() {
                users.push(attr::get_s(&item, "user_id")?);
                if users.len() >= max {
                    return Ok(users);
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(users),
            }
        }
    }

    /// Takes the user's sync lock for `job_id` until `lease_until`. `takeover` names a job whose
    /// lock may be taken over (it ended, or stalled) even though its lease has not run out.
    pub async fn acquire_sync_lock(
        &self,
        user_id: &str,
        job_id: &str,
        lease_until: i64,
        now: i64,
        takeover: Option<&str>,
    ) -> Result<Result<(), LockHeld>, StoreError> {
        let mut condition = String::from("attribute_not_exists(active_job) OR lock_until < :now");
        let mut request = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .update_expression(
                "SET active_job = :job, lock_until = :until, created_at = if_not_exists(created_at, :now)",
            )
            .expression_attribute_values(":job", attr::s(job_id))
            .expression_attribute_values(":until", attr::n(lease_until))
            .expression_attribute_values(":now", attr::n(now));
        if let Some(previous) = takeover {
            condition.push_str(" OR active_job = :previous OR active_job = :job");
            request = request.expression_attribute_values(":previous", attr::s(previous));
        } else {
            condition.push_str(" OR active_job = :job");
        }
        self.metrics.write();
        match request
            .condition_expression(condition)
            .send()
            .await
            .map_err(StoreError::from_sdk)
        {
            Ok(_) => Ok(Ok(())),
            Err(StoreError::Conflict) => {
                let holder = self.sync_lock_holder(user_id).await?;
                Ok(Err(LockHeld {
                    job_id: holder.unwrap_or_default(),
                }))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn sync_lock_holder(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        match out.item {
            Some(item) => attr::get_s_opt(&item, "active_job"),
            None => Ok(None),
        }
    }

    /// Releases the lock if `job_id` still holds it.
    pub async fn release_sync_lock(&self, user_id: &str, job_id: &str) -> Result<(), StoreError> {
        self.metrics.write();
        match self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .update_expression("REMOVE active_job, lock_until")
            .condition_expression("active_job = :job")
            .expression_attribute_values(":job", attr::s(job_id))
            .send()
            .await
            .map_err(StoreError::from_sdk)
        {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
