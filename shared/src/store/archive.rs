//! The scrobble archive (`ARCH#<month>#<part>`), its index, the page ledger read back as a
//! whole, and the recorded diff of a re-read window. See sync::archive for the rules.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::attr::{self, Item};
use super::keys;
use super::ledger::{decode, encode};
use super::{Store, StoreError};
use crate::lastfm::Scrobble;
use crate::sync::archive::{chunk_rows, WindowDiff};

/// Rows per item stay under this many bytes (DynamoDB allows 400 KB per item).
const PART_BYTES: usize = 300_000;
/// Concurrent writes when a whole archive is written after a full sync.
const WRITE_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthInfo {
    /// Scrobbles in the month.
    pub n: u64,
    /// Items the month is stored in.
    pub parts: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveIndex {
    pub months: BTreeMap<String, MonthInfo>,
}

impl ArchiveIndex {
    pub fn total(&self) -> u64 {
        self.months.values().map(|m| m.n).sum()
    }
}

impl Store {
    pub(super) async fn query_prefix(
        &self,
        pk: String,
        prefix: String,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            self.metrics.read();
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", attr::s(&pk))
                .expression_attribute_values(":prefix", attr::s(&prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }

    pub async fn archive_index(&self, user_id: &str) -> Result<ArchiveIndex, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::ARCHIVE_INDEX_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.item else {
            return Ok(ArchiveIndex::default());
        };
        let months = serde_json::from_str(&attr::get_s(&item, "months")?)
            .map_err(|e| StoreError::Corrupt(format!("archive index: {e}")))?;
        Ok(ArchiveIndex { months })
    }

    pub async fn put_archive_index(
        &self,
        user_id: &str,
        index: &ArchiveIndex,
    ) -> Result<(), StoreError> {
        let months = serde_json::to_string(&index.months).expect("a map of numbers serialises");
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .item("pk", attr::s(keys::user_pk(user_id)))
            .item("sk", attr::s(keys::ARCHIVE_INDEX_SK))
            .item("entity", attr::s("scrobble_archive_index"))
            .item("months", attr::s(months))
            .item("scrobbles", attr::n(index.total()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// A month's scrobbles, newest first.
    /// One month of the archive in `parts` items (as the index says), read by key: a Query of
    /// the month's prefix would cost the local emulator a sort of the user's whole partition,
    /// and a reconciliation reads every month.
    pub async fn archive_month(
        &self,
        user_id: &str,
        month: &str,
        parts: usize,
    ) -> Result<Vec<Scrobble>, StoreError> {
        if parts == 0 {
            return Ok(Vec::new());
        }
        let wanted = (0..parts)
            .map(|part| {
                Item::from([
                    ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                    ("sk".to_string(), attr::s(keys::archive_sk(month, part))),
                ])
            })
            .collect();
        let mut items = self.batch_get(wanted).await?;
        // Part order is sort-key order.
        items.sort_by(|a, b| {
            let sk = |i: &Item| attr::get_s(i, "sk").unwrap_or_default();
            sk(a).cmp(&sk(b))
        });
        let mut rows = Vec::new();
        for item in &items {
            rows.extend(decode(&attr::get_s(item, "rows")?)?);
        }
        Ok(rows)
    }

    /// Replaces a month; parts the month no longer needs are deleted. Same rows, same items,
    /// so writing a month twice changes nothing.
    pub async fn write_archive_month(
        &self,
        user_id: &str,
        month: &str,
        rows: &[Scrobble],
        old_parts: usize,
    ) -> Result<MonthInfo, StoreError> {
        let chunks = chunk_rows(rows, PART_BYTES);
        for (part, chunk) in chunks.iter().enumerate() {
            self.metrics.write();
            self.db
                .put_item()
                .table_name(&self.table)
                .item("pk", attr::s(keys::user_pk(user_id)))
                .item("sk", attr::s(keys::archive_sk(month, part)))
                .item("entity", attr::s("scrobble_archive"))
                .item("month", attr::s(month))
                .item("rows", AttributeValue::S(encode(chunk)))
                .item("count", attr::n(chunk.len()))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        for part in chunks.len()..old_parts {
            self.delete_key(user_id, keys::archive_sk(month, part))
                .await?;
        }
        Ok(MonthInfo {
            n: rows.len() as u64,
            parts: chunks.len(),
        })
    }

    async fn delete_key(&self, user_id: &str, sk: String) -> Result<(), StoreError> {
        self.metrics.write();
        self.db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(sk))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Makes the archive exactly `months` (after a full sync): writes every month, drops
    /// months the old archive had and the new one does not, then the index.
    pub async fn replace_archive(
        &self,
        user_id: &str,
        months: BTreeMap<String, Vec<Scrobble>>,
    ) -> Result<ArchiveIndex, StoreError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let old = self.archive_index(user_id).await?;
        let written: Vec<(String, MonthInfo)> = stream::iter(months.iter())
            .map(|(month, rows)| {
                let old_parts = old.months.get(month).map_or(0, |m| m.parts);
                async move {
                    let info = self
                        .write_archive_month(user_id, month, rows, old_parts)
                        .await?;
                    Ok::<_, StoreError>((month.clone(), info))
                }
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        for (month, info) in &old.months {
            if !months.contains_key(month) {
                for part in 0..info.parts {
                    self.delete_key(user_id, keys::archive_sk(month, part))
                        .await?;
                }
            }
        }
        let index = ArchiveIndex {
            months: written.into_iter().collect(),
        };
        self.put_archive_index(user_id, &index).await?;
        Ok(index)
    }

    /// Ledger pages 1 to `pages` of a job, by page number (missing ones are absent).
    ///
    /// Read by key rather than by a `Query` of the `LEDGER#<job>#` prefix: the keys are known,
    /// and the local emulator sorts the user's whole partition (every track, artist and
    /// ledger page) for each page of a `Query`, which made this read minutes long for a
    /// 220,000-scrobble history.
    pub async fn ledger_pages(
        &self,
        user_id: &str,
        job_id: &str,
        pages: u32,
    ) -> Result<BTreeMap<u32, Vec<Scrobble>>, StoreError> {
        Ok(self
            .ledger_reads(user_id, job_id, pages)
            .await?
            .into_iter()
            .map(|(page, read)| (page, read.rows))
            .collect())
    }

    /// A job's ledger pages `1..=pages` with the totals Last.fm gave with them.
    pub async fn ledger_reads(
        &self,
        user_id: &str,
        job_id: &str,
        pages: u32,
    ) -> Result<BTreeMap<u32, crate::sync::reader::PageRead>, StoreError> {
        let keys = (1..=pages)
            .map(|page| {
                Item::from([
                    ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                    ("sk".to_string(), attr::s(keys::ledger_sk(job_id, page))),
                ])
            })
            .collect();
        let mut found = BTreeMap::new();
        for item in self.batch_get(keys).await? {
            let sk = attr::get_s(&item, "sk")?;
            let page: u32 = sk
                .rsplit('#')
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("ledger key {sk}")))?;
            found.insert(page, super::ledger::read_of(&item)?);
        }
        Ok(found)
    }

    /// The diff a job's window re-read found, once it has been recorded completely.
    pub async fn window_diff(
        &self,
        user_id: &str,
        job_id: &str,
    ) -> Result<Option<WindowDiff>, StoreError> {
        let marker = keys::window_diff_marker_sk(job_id);
        // Usually nothing is recorded yet: one read by key instead of a Query, which costs
        // the local emulator a sort of the user's whole partition.
        if self
            .get_item(keys::user_pk(user_id), marker.clone())
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let items = self
            .query_prefix(keys::user_pk(user_id), keys::window_diff_prefix(job_id))
            .await?;
        if !items
            .iter()
            .any(|i| attr::get_s(i, "sk").is_ok_and(|sk| sk == marker))
        {
            return Ok(None);
        }
        let mut diff = WindowDiff::default();
        for item in items.iter().filter(|i| item_has_rows(i)) {
            let rows = decode(&attr::get_s(item, "rows")?)?;
            match attr::get_s(item, "side")?.as_str() {
                "added" => diff.added.extend(rows),
                _ => diff.removed.extend(rows),
            }
        }
        Ok(Some(diff))
    }

    /// Records the diff: parts first, the marker last, so a reader sees all of it or none.
    pub async fn record_window_diff(
        &self,
        user_id: &str,
        job_id: &str,
        diff: &WindowDiff,
    ) -> Result<(), StoreError> {
        let parts = chunk_rows(&diff.added, PART_BYTES)
            .into_iter()
            .map(|c| ("added", c))
            .chain(
                chunk_rows(&diff.removed, PART_BYTES)
                    .into_iter()
                    .map(|c| ("removed", c)),
            );
        for (n, (side, rows)) in parts.enumerate() {
            self.metrics.write();
            self.db
                .put_item()
                .table_name(&self.table)
                .item("pk", attr::s(keys::user_pk(user_id)))
                .item("sk", attr::s(keys::window_diff_sk(job_id, n)))
                .item("entity", attr::s("window_diff"))
                .item("side", attr::s(side))
                .item("rows", AttributeValue::S(encode(&rows)))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .item("pk", attr::s(keys::user_pk(user_id)))
            .item("sk", attr::s(keys::window_diff_marker_sk(job_id)))
            .item("entity", attr::s("window_diff"))
            .item("added", attr::n(diff.added.len()))
            .item("removed", attr::n(diff.removed.len()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

fn item_has_rows(item: &Item) -> bool {
    item.contains_key("rows")
}
