//! Sync jobs: the progress item every worker updates.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};
use crate::lastfm::Window;
use crate::sync::job::{Job, JobKind, JobStatus, PlannedWindow, Repair, UnitPlan};
use crate::sync::messages::SweepTarget;

/// What a job's start learned from the first pages, recorded once on the job.
#[derive(Debug, Clone, Copy)]
pub struct JobTotals<'a> {
    pub plan: UnitPlan,
    pub windows: &'a [PlannedWindow],
    pub scrobbles_total: u64,
    pub artists_total: u64,
    pub newest_uts: Option<i64>,
    /// See [`Job::prior_rows`].
    pub prior_rows: Option<&'a BTreeSet<SweepTarget>>,
}

fn json_attr<T: serde::de::DeserializeOwned + Default>(
    item: &Item,
    name: &str,
) -> Result<T, StoreError> {
    match attr::get_s_opt(item, name)? {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("job {name}: {e}")))
        }
        None => Ok(T::default()),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> AttributeValue {
    attr::s(serde_json::to_string(value).expect("plain data serialises"))
}

fn to_item(job: &Job) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), attr::s(keys::user_pk(&job.user_id)));
    item.insert("sk".into(), attr::s(keys::job_sk(&job.job_id)));
    item.insert("entity".into(), attr::s("job"));
    item.insert("job_id".into(), attr::s(&job.job_id));
    item.insert("kind".into(), attr::s(job.kind.as_str()));
    item.insert("status".into(), attr::s(job.status.as_str()));
    item.insert("lastfm_user".into(), attr::s(&job.lastfm_user));
    item.insert("generation".into(), attr::s(&job.generation));
    item.insert("spotify".into(), AttributeValue::Bool(job.spotify));
    if job.reconcile {
        item.insert("reconcile".into(), AttributeValue::Bool(true));
    }
    if job.scheduled {
        item.insert("scheduled".into(), AttributeValue::Bool(true));
    }
    if let Some(from) = job.window.from {
        item.insert("window_from".into(), attr::n(from));
    }
    if let Some(to) = job.window.to {
        item.insert("window_to".into(), attr::n(to));
    }
    item.insert("created_at".into(), attr::n(job.created_at));
    item.insert("updated_at".into(), attr::n(job.updated_at));
    item
}

fn from_item(user_id: &str, item: &Item) -> Result<Job, StoreError> {
    let status = attr::get_s(item, "status")?;
    let kind = attr::get_s(item, "kind")?;
    Ok(Job {
        user_id: user_id.to_string(),
        job_id: attr::get_s(item, "job_id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("job kind {kind}")))?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("job status {status}")))?,
        lastfm_user: attr::get_s(item, "lastfm_user")?,
        generation: attr::get_s(item, "generation")?,
        window: Window {
            from: attr::get_n_opt(item, "window_from")?,
            to: attr::get_n_opt(item, "window_to")?,
        },
        spotify: attr::get_bool_opt(item, "spotify")?.unwrap_or(false),
        reconcile: attr::get_bool_opt(item, "reconcile")?.unwrap_or(false),
        windows: json_attr(item, "windows")?,
        repairs: json_attr(item, "repairs")?,
        pages_total: attr::get_n_opt(item, "pages_total")?,
        plan: UnitPlan {
            scrobble_pages: attr::get_n_opt(item, "scrobble_pages")?.unwrap_or(0),
            artist_pages: attr::get_n_opt(item, "artist_pages")?.unwrap_or(0),
            loved_pages: attr::get_n_opt(item, "loved_pages")?.unwrap_or(0),
            spotify_lists: attr::get_n_opt(item, "spotify_lists")?.unwrap_or(0),
            finalize: attr::get_n_opt(item, "finalize")?.unwrap_or(0),
        },
        // `done_pages` (a number set) is where jobs from before `done_units` counted.
        done_pages: &attr::get_ns(item, "done_pages")? | &attr::get_ns(item, "done_units")?,
        failed_pages: attr::get_ns(item, "failed_pages")?,
        folded_pages: attr::get_ns(item, "folded_pages")?,
        prior_rows: json_attr(item, "prior_rows")?,
        scrobbles_total: attr::get_n_opt(item, "scrobbles_total")?.unwrap_or(0),
        scrobbles_done: attr::get_n_opt(item, "scrobbles_done")?.unwrap_or(0),
        tracks_added: attr::get_n_opt(item, "tracks_added")?.unwrap_or(0),
        artists_total: attr::get_n_opt(item, "artists_total")?.unwrap_or(0),
        newest_uts: attr::get_n_opt(item, "newest_uts")?,
        created_at: attr::get_n(item, "created_at")?,
        started_at: attr::get_n_opt(item, "started_at")?,
        updated_at: attr::get_n(item, "updated_at")?,
        finished_at: attr::get_n_opt(item, "finished_at")?,
        errors: attr::get_string_list(item, "errors")?,
        scheduled: attr::get_bool_opt(item, "scheduled")?.unwrap_or(false),
        units_sent: attr::get_n_opt(item, "units_sent")?.unwrap_or(0),
    })
}

fn message_list(message: &str) -> AttributeValue {
    AttributeValue::L(vec![attr::s(message)])
}

impl Store {
    /// Writes a new job and points the profile's `latest_job` at it, in one transaction, so
    /// that [`Store::latest_job`] can find it with two key reads. A Query over the user's
    /// partition would do on DynamoDB, but the local emulator sorts the whole partition (every
    /// track of a 200,000-scrobble user) for each one, and the sync progress is polled each second.
    pub async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(job)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        let pointer = Update::builder()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(&job.user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .update_expression("SET latest_job = :job")
            .expression_attribute_values(":job", attr::s(&job.job_id))
            .build()
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        self.metrics.write();
        let sent = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(pointer).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e))
                    if e.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Err(StoreError::Conflict)
                }
                _ => Err(StoreError::from_sdk(err)),
            },
        }
    }

    pub async fn get_job(&self, user_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::job_sk(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(|i| from_item(user_id, i)).transpose()
    }

    /// The user's most recent job: the one the profile points at, or (for a profile written
    /// before the pointer existed, or a pointer whose job is gone) the last `JOB#` item.
    pub async fn latest_job(&self, user_id: &str) -> Result<Option<Job>, StoreError> {
        self.metrics.read();
        let profile = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::PROFILE_SK))
            .projection_expression("latest_job")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let pointer = match profile.item.as_ref() {
            Some(item) => attr::get_s_opt(item, "latest_job")?,
            None => None,
        };
        if let Some(job_id) = pointer {
            if let Some(job) = self.get_job(user_id, &job_id).await? {
                return Ok(Some(job));
            }
        }
        self.last_job_item(user_id).await
    }

    async fn last_job_item(&self, user_id: &str) -> Result<Option<Job>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", attr::s(keys::JOB_PREFIX))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.items
            .unwrap_or_default()
            .first()
            .map(|i| from_item(user_id, i))
            .transpose()
    }

    async fn update_job(
        &self,
        job: &Job,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Job, StoreError> {
        let mut request = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(&job.user_id)))
            .key("sk", attr::s(keys::job_sk(&job.job_id)))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .return_values(ReturnValue::AllNew);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        self.metrics.write();
        let out = request.send().await.map_err(StoreError::from_sdk)?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::Corrupt("update returned no job".into()))?;
        from_item(&job.user_id, &item)
    }

    /// Which of the kinds of rows a sweep removes the user has at all (see
    /// [`Job::prior_rows`]). One key-only read of at most one item per kind.
    pub async fn rows_present(&self, user_id: &str) -> Result<BTreeSet<SweepTarget>, StoreError> {
        let mut present = BTreeSet::new();
        for (target, prefix) in [
            (SweepTarget::Tracks, keys::TRACK_PREFIX),
            (SweepTarget::LastfmArtists, keys::ARTIST_PREFIX),
            (SweepTarget::Loved, keys::LOVED_PREFIX),
        ] {
            self.metrics.read();
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
                .expression_attribute_values(":prefix", attr::s(prefix))
                .projection_expression("sk")
                .limit(1)
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            if out.count > 0 {
                present.insert(target);
            }
        }
        Ok(present)
    }

    /// Records what the first pages told us. Idempotent: a retried start keeps the first answer.
    pub async fn set_job_totals(
        &self,
        job: &Job,
        totals: &JobTotals<'_>,
        now: i64,
    ) -> Result<Job, StoreError> {
        let JobTotals {
            plan,
            windows,
            scrobbles_total,
            artists_total,
            newest_uts,
            prior_rows,
        } = *totals;
        let mut update = String::from(
            "SET pages_total = if_not_exists(pages_total, :pages), \
             scrobble_pages = if_not_exists(scrobble_pages, :sp), \
             artist_pages = if_not_exists(artist_pages, :ap), \
             loved_pages = if_not_exists(loved_pages, :lp), \
             spotify_lists = if_not_exists(spotify_lists, :sl), \
             finalize = if_not_exists(finalize, :fin), \
             windows = if_not_exists(windows, :windows), \
             scrobbles_total = if_not_exists(scrobbles_total, :scrobbles), \
             artists_total = if_not_exists(artists_total, :artists), \
             started_at = if_not_exists(started_at, :now), #status = :running, updated_at = :now",
        );
        let mut values = vec![
            (":pages", attr::n(plan.total())),
            (":sp", attr::n(plan.scrobble_pages)),
            (":ap", attr::n(plan.artist_pages)),
            (":lp", attr::n(plan.loved_pages)),
            (":sl", attr::n(plan.spotify_lists)),
            (":fin", attr::n(plan.finalize)),
            (":windows", to_json(&windows)),
            (":scrobbles", attr::n(scrobbles_total)),
            (":artists", attr::n(artists_total)),
            (":now", attr::n(now)),
            (":running", attr::s("running")),
            (":queued", attr::s("queued")),
        ];
        if let Some(newest) = newest_uts {
            update.push_str(", newest_uts = if_not_exists(newest_uts, :newest)");
            values.push((":newest", attr::n(newest)));
        }
        if let Some(prior) = prior_rows {
            update.push_str(", prior_rows = if_not_exists(prior_rows, :prior)");
            values.push((":prior", to_json(prior)));
        }
        self.update_job(job, &update, "#status IN (:queued, :running)", values)
            .await
    }

    pub async fn mark_job_running(&self, job: &Job, now: i64) -> Result<Job, StoreError> {
        self.update_job(
            job,
            "SET #status = :running, started_at = if_not_exists(started_at, :now), updated_at = :now",
            "#status IN (:queued, :running)",
            vec![
                (":running", attr::s("running")),
                (":queued", attr::s("queued")),
                (":now", attr::n(now)),
            ],
        )
        .await
    }

    /// Counts a page once. Returns None when it had already been counted (or the job ended).
    pub async fn mark_page_done(
        &self,
        job: &Job,
        page: u32,
        scrobbles: u64,
        tracks_added: i64,
        now: i64,
    ) -> Result<Option<Job>, StoreError> {
        let result = self
            .update_job(
                job,
                "ADD done_units :unit, scrobbles_done :scrobbles, tracks_added :added \
                 SET updated_at = :now DELETE failed_pages :page",
                "(attribute_not_exists(done_units) OR NOT contains(done_units, :u)) \
                 AND (attribute_not_exists(done_pages) OR NOT contains(done_pages, :n)) \
                 AND #status = :running",
                vec![
                    (":unit", attr::ss_u32([page])),
                    (":u", attr::s(page.to_string())),
                    (":page", attr::ns([page])),
                    (":n", attr::n(page)),
                    (":scrobbles", attr::n(scrobbles)),
                    (":added", attr::n(tracks_added)),
                    (":now", attr::n(now)),
                    (":running", attr::s("running")),
                ],
            )
            .await;
        match result {
            Ok(job) => Ok(Some(job)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records that the job's units up to `sent` (of its queue order) have been sent. Only
    /// moves forward: of two workers topping the job up at once, the further one stands.
    pub async fn record_units_sent(&self, job: &Job, sent: u32) -> Result<(), StoreError> {
        let result = self
            .update_job(
                job,
                "SET units_sent = :sent",
                "(attribute_not_exists(units_sent) OR units_sent < :sent) AND #status = :running",
                vec![(":sent", attr::n(sent)), (":running", attr::s("running"))],
            )
            .await;
        match result {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Claims the job's finishing step for `claimer` until `now + lease_secs`. True when the
    /// caller may run it: nobody holds it, the holder's lease ran out, or the holder is the same
    /// unit (a redelivered message taking over from the attempt that died).
    pub async fn claim_finalize(
        &self,
        job: &Job,
        claimer: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_job(
                job,
                "SET finalize_by = :me, finalize_until = :until",
                "#status = :running AND (attribute_not_exists(finalize_until) \
                 OR finalize_until < :now OR finalize_by = :me)",
                vec![
                    (":me", attr::s(claimer)),
                    (":until", attr::n(now + lease_secs)),
                    (":now", attr::n(now)),
                    (":running", attr::s("running")),
                ],
            )
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records which scrobble pages a job about to end partial counts into the tracks now
    /// (see [`Job::pages_to_fold_early`]). Written once: when another worker recorded them
    /// first, its set is the one to fold. None when the job is no longer running.
    pub async fn set_folded_pages(
        &self,
        job: &Job,
        pages: &BTreeSet<u32>,
    ) -> Result<Option<Job>, StoreError> {
        let result = self
            .update_job(
                job,
                "SET folded_pages = :pages",
                "attribute_not_exists(folded_pages) AND #status = :running",
                vec![
                    (":pages", attr::ns(pages.iter().copied())),
                    (":running", attr::s("running")),
                ],
            )
            .await;
        match result {
            Ok(job) => Ok(Some(job)),
            Err(StoreError::Conflict) => Ok(self
                .get_job(&job.user_id, &job.job_id)
                .await?
                .filter(|j| j.status == JobStatus::Running && !j.folded_pages.is_empty())),
            Err(e) => Err(e),
        }
    }

    /// What the finishing step found; written before it is counted, the same every time.
    pub async fn set_job_repairs(&self, job: &Job, repairs: &[Repair]) -> Result<(), StoreError> {
        match self
            .update_job(
                job,
                "SET repairs = :repairs",
                "#status = :running",
                vec![
                    (":repairs", to_json(&repairs)),
                    (":running", attr::s("running")),
                ],
            )
            .await
        {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Records a page that exhausted its retries. Returns None if it was already settled.
    pub async fn mark_page_failed(
        &self,
        job: &Job,
        page: u32,
        message: &str,
        now: i64,
    ) -> Result<Option<Job>, StoreError> {
        let result = self
            .update_job(
                job,
                "ADD failed_pages :page SET updated_at = :now, errors = list_append(if_not_exists(errors, :empty), :msg)",
                "(attribute_not_exists(done_units) OR NOT contains(done_units, :u)) \
                 AND (attribute_not_exists(done_pages) OR NOT contains(done_pages, :n)) \
                 AND (attribute_not_exists(failed_pages) OR NOT contains(failed_pages, :n)) AND #status = :running",
                vec![
                    (":u", attr::s(page.to_string())),
                    (":page", attr::ns([page])),
                    (":n", attr::n(page)),
                    (":now", attr::n(now)),
                    (":empty", AttributeValue::L(vec![])),
                    (":msg", message_list(message)),
                    (":running", attr::s("running")),
                ],
            )
            .await;
        match result {
            Ok(job) => Ok(Some(job)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ends a running job (done or partial). Returns None if another worker ended it first.
    pub async fn finish_job(
        &self,
        job: &Job,
        status: JobStatus,
        now: i64,
    ) -> Result<Option<Job>, StoreError> {
        let result = self
            .update_job(
                job,
                "SET #status = :status, finished_at = :now, updated_at = :now",
                "#status = :running",
                vec![
                    (":status", attr::s(status.as_str())),
                    (":now", attr::n(now)),
                    (":running", attr::s("running")),
                ],
            )
            .await;
        match result {
            Ok(job) => Ok(Some(job)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stops a job for good with a message for the user. None if it had already ended.
    pub async fn fail_job(
        &self,
        job: &Job,
        message: &str,
        now: i64,
    ) -> Result<Option<Job>, StoreError> {
        let result = self
            .update_job(
                job,
                "SET #status = :failed, finished_at = :now, updated_at = :now, \
                 errors = list_append(if_not_exists(errors, :empty), :msg)",
                "#status IN (:queued, :running)",
                vec![
                    (":failed", attr::s("failed")),
                    (":queued", attr::s("queued")),
                    (":running", attr::s("running")),
                    (":now", attr::n(now)),
                    (":empty", AttributeValue::L(vec![])),
                    (":msg", message_list(message)),
                ],
            )
            .await;
        match result {
            Ok(job) => Ok(Some(job)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Puts an ended (partial, failed or stalled) job back in the queue, keeping its finished pages.
    pub async fn reopen_job(&self, job: &Job, spotify: bool, now: i64) -> Result<Job, StoreError> {
        self.update_job(
            job,
            "SET #status = :queued, updated_at = :now, spotify = :spotify, \
             errors = list_append(if_not_exists(errors, :empty), :msg) \
             REMOVE failed_pages, finished_at, finalize_by, finalize_until",
            "#status = :was",
            vec![
                (":queued", attr::s("queued")),
                (":was", attr::s(job.status.as_str())),
                (":spotify", AttributeValue::Bool(spotify)),
                (":now", attr::n(now)),
                (":empty", AttributeValue::L(vec![])),
                (
                    ":msg",
                    message_list("Resumed: fetching the pages that were not finished."),
                ),
            ],
        )
        .await
    }
}
