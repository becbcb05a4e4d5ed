//! Catalog items in the single table.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | catalog song | `CATALOG#<match_key>` | `SONG#<id>` | `entity`="catalog_song", `id`, `artist`, `title`, `brands` (list of strings), `brand_count` (N), `match_key` |
//! | import restart point | `CATALOG_IMPORT#<name>` | `PROGRESS` | `entity`="catalog_import", `name`, `line` (N), `imported` (N), `bad` (N), `file_bytes` (N), `complete` (BOOL), `updated_at` (N, unix s) |
//!
//! Songs that share a match key (the same song under several catalog ids) share a partition, so
//! one Query answers "is this song in the catalog, and how common a pick is it".

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::csv::CatalogSong;
use super::matching::match_key;
use crate::store::attr::{self, Item};
use crate::store::{Store, StoreError};

pub const CATALOG_PREFIX: &str = "CATALOG#";
pub const SONG_PREFIX: &str = "SONG#";
pub const IMPORT_PROGRESS_SK: &str = "PROGRESS";

/// Items per BatchWriteItem request (the DynamoDB maximum).
pub const BATCH_WRITE_ITEMS: usize = 25;
/// BatchWriteItem requests in flight at once within one `import_catalog_batch` call.
pub const BATCH_WRITE_CONCURRENCY: usize = 8;
/// Catalog queries in flight at once within one `find_catalog_matches` call.
pub const MATCH_QUERY_CONCURRENCY: usize = 16;
/// Rounds of retrying UnprocessedItems before giving up.
const MAX_UNPROCESSED_ROUNDS: u32 = 12;

pub fn catalog_pk(match_key: &str) -> String {
    format!("{CATALOG_PREFIX}{match_key}")
}

pub fn catalog_song_sk(id: &str) -> String {
    format!("{SONG_PREFIX}{id}")
}

pub fn import_progress_pk(name: &str) -> String {
    format!("CATALOG_IMPORT#{name}")
}

/// The catalog's answer for one match key: its most common pick.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogHit {
    pub song_id: String,
    pub brand_count: u32,
}

/// Where an import stopped: every row up to and including `line` is in the table.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImportCheckpoint {
    /// The first line of the last row handled (imported or reported bad).
    pub line: u64,
    /// Songs written so far by this import, over all its runs.
    pub imported: u64,
    /// Bad rows seen so far, over all runs.
    pub bad: u64,
    /// Size of the file being imported: a different size means a different file, so no resume.
    pub file_bytes: u64,
    pub complete: bool,
    pub updated_at: i64,
}

pub fn song_item(song: &CatalogSong) -> Item {
    let key = match_key(&song.artist, &song.title);
    let mut item = Item::new();
    item.insert("pk".into(), attr::s(catalog_pk(&key)));
    item.insert("sk".into(), attr::s(catalog_song_sk(&song.id)));
    item.insert("entity".into(), attr::s("catalog_song"));
    item.insert("id".into(), attr::s(&song.id));
    item.insert("artist".into(), attr::s(&song.artist));
    item.insert("title".into(), attr::s(&song.title));
    item.insert(
        "brands".into(),
        AttributeValue::L(song.brands.iter().map(attr::s).collect()),
    );
    item.insert("brand_count".into(), attr::n(song.brand_count));
    item.insert("match_key".into(), attr::s(key));
    // Also reachable by id ("add this song to my songs"), through the generic index.
    item.insert(
        "gsi1pk".into(),
        attr::s(crate::store::keys::catalog_id_gsi_pk(&song.id)),
    );
    item.insert("gsi1sk".into(), attr::s("SONG"));
    // And by artist, most common picks first, for recommendations.
    item.extend(crate::recommend::candidates::catalog_artist_index(
        &song.artist,
        song.brand_count,
        &song.id,
    ));
    item
}

/// One put per (pk, sk), the last row winning: a BatchWriteItem request must not name an item twice.
fn unique_items(songs: &[CatalogSong]) -> Vec<Item> {
    let mut seen = HashSet::new();
    let mut items: Vec<Item> = songs.iter().rev().map(song_item).collect();
    items.retain(|item| {
        let key = |name: &str| item[name].as_s().cloned().unwrap_or_default();
        seen.insert((key("pk"), key("sk")))
    });
    items.reverse();
    items
}

/// The most common pick among songs sharing a key: most brands, then the smallest id.
fn better(a: &CatalogHit, b: &CatalogHit) -> bool {
    (a.brand_count, std::cmp::Reverse(&a.song_id)) > (b.brand_count, std::cmp::Reverse(&b.song_id))
}

impl Store {
    /// Writes catalog songs (PutItem semantics: writing a row again changes nothing).
    /// Returns how many items were written once rows naming the same item are merged.
    pub async fn import_catalog_batch(&self, songs: &[CatalogSong]) -> Result<u64, StoreError> {
        let items = unique_items(songs);
        let written = items.len() as u64;
        let requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| StoreError::Dynamo(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batches: Vec<Vec<WriteRequest>> = requests
            .chunks(BATCH_WRITE_ITEMS)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        stream::iter(batches)
            .map(|batch| self.write_catalog_batch(batch))
            .buffer_unordered(BATCH_WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(written)
    }

    async fn write_catalog_batch(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut round = 0;
        while !pending.is_empty() {
            if round == MAX_UNPROCESSED_ROUNDS {
                return Err(StoreError::Dynamo(format!(
                    "{} catalog items still unprocessed after {round} attempts",
                    pending.len()
                )));
            }
            if round > 0 {
                // DynamoDB hands back what it could not take under load: wait longer each time.
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

    pub async fn get_import_progress(
        &self,
        name: &str,
    ) -> Result<Option<ImportCheckpoint>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(import_progress_pk(name)))
            .key("sk", attr::s(IMPORT_PROGRESS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        Ok(Some(ImportCheckpoint {
            line: attr::get_n(&item, "line")?,
            imported: attr::get_n(&item, "imported")?,
            bad: attr::get_n_opt(&item, "bad")?.unwrap_or(0),
            file_bytes: attr::get_n(&item, "file_bytes")?,
            complete: attr::get_bool_opt(&item, "complete")?.unwrap_or(false),
            updated_at: attr::get_n_opt(&item, "updated_at")?.unwrap_or(0),
        }))
    }

    pub async fn set_import_progress(
        &self,
        name: &str,
        checkpoint: &ImportCheckpoint,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".to_string(), attr::s(import_progress_pk(name))),
            ("sk".to_string(), attr::s(IMPORT_PROGRESS_SK)),
            ("entity".to_string(), attr::s("catalog_import")),
            ("name".to_string(), attr::s(name)),
            ("line".to_string(), attr::n(checkpoint.line)),
            ("imported".to_string(), attr::n(checkpoint.imported)),
            ("bad".to_string(), attr::n(checkpoint.bad)),
            ("file_bytes".to_string(), attr::n(checkpoint.file_bytes)),
            (
                "complete".to_string(),
                AttributeValue::Bool(checkpoint.complete),
            ),
            ("updated_at".to_string(), attr::n(checkpoint.updated_at)),
        ]);
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Forgets an import's restart point: its next run starts at the first row.
    pub async fn clear_import_progress(&self, name: &str) -> Result<(), StoreError> {
        self.metrics.write();
        self.db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(import_progress_pk(name)))
            .key("sk", attr::s(IMPORT_PROGRESS_SK))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// For each match key (see [`match_key`]) in the catalog, its most common pick.
    /// Keys not in the catalog are absent from the map.
    pub async fn find_catalog_matches(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CatalogHit>, StoreError> {
        let mut seen = HashSet::new();
        // Owned keys: borrowed ones make the future's lifetimes too general to be Send.
        let unique: Vec<String> = keys.iter().filter(|k| seen.insert(*k)).cloned().collect();
        let hits: Vec<(String, Option<CatalogHit>)> = stream::iter(unique)
            .map(|key| async move {
                let hit = self.best_catalog_song(&key).await?;
                Ok::<_, StoreError>((key, hit))
            })
            .buffer_unordered(MATCH_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(hits
            .into_iter()
            .filter_map(|(key, hit)| hit.map(|h| (key, h)))
            .collect())
    }

    /// The best song of one match-key partition. Partitions hold a handful of items (catalog
    /// duplicates of one song), so this reads them all, a small page at a time.
    async fn best_catalog_song(&self, key: &str) -> Result<Option<CatalogHit>, StoreError> {
        let mut best: Option<CatalogHit> = None;
        let mut start = None;
        loop {
            self.metrics.read();
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", attr::s(catalog_pk(key)))
                .projection_expression("#id, brand_count")
                .expression_attribute_names("#id", "id")
                .limit(25)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in out.items.unwrap_or_default() {
                let hit = CatalogHit {
                    song_id: attr::get_s(&item, "id")?,
                    brand_count: attr::get_n_opt(&item, "brand_count")?.unwrap_or(0),
                };
                if best.as_ref().is_none_or(|b| better(&hit, b)) {
                    best = Some(hit);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(best);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(id: &str, artist: &str, title: &str, brands: &[&str]) -> CatalogSong {
        CatalogSong {
            line: 2,
            id: id.into(),
            artist: artist.into(),
            title: title.into(),
            brands: brands.iter().map(|b| b.to_string()).collect(),
            brand_count: brands.len() as u32,
        }
    }

    #[test]
    fn item_layout() {
        let item = song_item(&song("KS0001", "Beyoncé", "Halo", &["Zoom", "Sunfly"]));
        let key = match_key("Beyonce", "Halo");
        assert_eq!(item["pk"], attr::s(format!("CATALOG#{key}")));
        assert_eq!(item["sk"], attr::s("SONG#KS0001"));
        assert_eq!(item["id"], attr::s("KS0001"));
        assert_eq!(item["artist"], attr::s("Beyoncé"));
        assert_eq!(item["title"], attr::s("Halo"));
        assert_eq!(
            item["brands"],
            AttributeValue::L(vec![attr::s("Zoom"), attr::s("Sunfly")])
        );
        assert_eq!(item["brand_count"], attr::n(2));
        assert_eq!(item["match_key"], attr::s(key));
        assert_eq!(import_progress_pk("main"), "CATALOG_IMPORT#main");
    }

    #[test]
    fn duplicate_rows_become_one_put_and_the_last_wins() {
        let items = unique_items(&[
            song("A", "Queen", "Bohemian Rhapsody", &["Zoom"]),
            song("B", "Queen", "Somebody to Love", &["Zoom"]),
            song("A", "QUEEN", "Bohemian Rhapsody", &["Zoom", "Sunfly"]),
            song("A", "Queen", "Another One Bites the Dust", &["Zoom"]),
        ]);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["sk"], attr::s("SONG#B"));
        assert_eq!(items[1]["brand_count"], attr::n(2));
        assert_eq!(items[2]["title"], attr::s("Another One Bites the Dust"));
    }

    #[test]
    fn best_hit_has_most_brands_then_smallest_id() {
        let hit = |id: &str, n: u32| CatalogHit {
            song_id: id.into(),
            brand_count: n,
        };
        assert!(better(&hit("B", 3), &hit("A", 2)));
        assert!(!better(&hit("A", 2), &hit("B", 3)));
        assert!(better(&hit("A", 2), &hit("B", 2)));
        assert!(!better(&hit("B", 2), &hit("A", 2)));
        assert!(!better(&hit("A", 2), &hit("A", 2)));
    }

    /// Runs `body` against a fresh table that is deleted afterwards, or skips without DynamoDB.
    async fn with_test_table<F, Fut>(body: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        use futures::FutureExt;

        if std::env::var("AWS_ENDPOINT_URL").is_err() {
            eprintln!("AWS_ENDPOINT_URL is not set: skipped");
            return;
        }
        let db = aws_sdk_dynamodb::Client::new(&crate::aws::sdk_config().await);
        let table = format!("catalog-test-{}", uuid::Uuid::new_v4().simple());
        let attr_def = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        db.create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr_def("pk"))
            .attribute_definitions(attr_def("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send()
            .await
            .expect("create the test table");
        let store = Store::new(db.clone(), &table);
        let outcome = std::panic::AssertUnwindSafe(body(store))
            .catch_unwind()
            .await;
        db.delete_table().table_name(&table).send().await.ok();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// `set -a; . .local/stack.env; set +a; cargo test -p karaoke-shared catalog -- --ignored`
    #[tokio::test]
    async fn catalog_round_trip_against_dynamodb() {
        // Runs against the local stack (`make test` loads its endpoint); never against real AWS.
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "AWS_ENDPOINT_URL is not set: run this under `make test` (the local stack)"
        );
        with_test_table(|store| async move { round_trip(&store).await }).await;
    }

    async fn count_songs(store: &Store) -> usize {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = store
                .db
                .scan()
                .table_name(&store.table)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", attr::s(CATALOG_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            count += out.items.unwrap_or_default().len();
            start = out.last_evaluated_key;
            if start.is_none() {
                return count;
            }
        }
    }

    async fn round_trip(store: &Store) {
        use crate::catalog::import::import_file;

        let sample = include_str!("../../../infra/catalog/sample.csv");
        let mut text = sample.to_string();
        for i in 1..=1000 {
            text.push_str(&format!("K{i:04},Artist {i},Title {i},Zoom\n"));
        }
        text.push_str("KSX1,Beyonce,Halo - Remastered,Zoom\n"); // fewer brands than KS0043
        text.push_str("KS0000A,BEYONCÉ,Halo (Live),Zoom;Sunfly;SBI;Legends;Party Tyme\n"); // a tie, smaller id
        text.push_str("KSBAD,No Title\n");
        let good = sample.lines().count() - 1 + 1000 + 2;
        let path = std::env::temp_dir().join(format!("catalog-it-{}.csv", uuid::Uuid::new_v4()));
        std::fs::write(&path, &text).unwrap();
        let size = text.len() as u64;

        // A full import.
        let mut chunks = 0;
        let report = import_file(store, &path, "it", false, |_| chunks += 1)
            .await
            .unwrap();
        assert_eq!(report.imported as usize, good);
        assert_eq!(report.bad_rows, 1);
        assert_eq!(report.skipped_bad[0].line, text.lines().count() as u64);
        assert_eq!(report.resumed_from_line, None);
        assert_eq!(chunks, 3); // two chunks of 500, then the end
        assert_eq!(count_songs(store).await, good);
        let done = store.get_import_progress("it").await.unwrap().unwrap();
        assert!(done.complete);
        assert_eq!(done.imported as usize, good);
        assert_eq!(done.file_bytes, size);

        // Again: a completed import starts over, and writing the same rows changes nothing.
        let again = import_file(store, &path, "it", false, |_| {})
            .await
            .unwrap();
        assert_eq!(again.resumed_from_line, None);
        assert_eq!(again.imported as usize, good);
        assert_eq!(count_songs(store).await, good);

        // Interrupted after line 700: the next run resumes after it.
        let checkpoint = ImportCheckpoint {
            line: 700,
            imported: 699,
            file_bytes: size,
            ..ImportCheckpoint::default()
        };
        store.set_import_progress("it", &checkpoint).await.unwrap();
        let resumed = import_file(store, &path, "it", false, |_| {})
            .await
            .unwrap();
        assert_eq!(resumed.resumed_from_line, Some(700));
        assert_eq!(resumed.skipped_before_resume, 699);
        assert_eq!(resumed.imported as usize, good - 699);
        assert_eq!(resumed.imported_total as usize, good);
        assert_eq!(count_songs(store).await, good);

        // A file of another size is another file: no resume.
        let other = ImportCheckpoint {
            file_bytes: size + 1,
            ..checkpoint
        };
        store.set_import_progress("it", &other).await.unwrap();
        let fresh = import_file(store, &path, "it", false, |_| {})
            .await
            .unwrap();
        assert_eq!(fresh.resumed_from_line, None);
        store.clear_import_progress("it").await.unwrap();
        assert_eq!(store.get_import_progress("it").await.unwrap(), None);
        std::fs::remove_file(&path).ok();

        // Lookups: the most common pick, ties to the smallest id; unknown keys are absent.
        let halo = match_key("Beyoncé", "Halo");
        let keys = vec![
            halo.clone(),
            match_key("Queen", "Bohemian Rhapsody - Remastered 2011"),
            match_key("Nobody", "Nothing"),
            halo.clone(),
        ];
        let found = store.find_catalog_matches(&keys).await.unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[&halo],
            CatalogHit {
                song_id: "KS0000A".into(),
                brand_count: 5
            }
        );
        assert_eq!(found[&keys[1]].song_id, "KS0001");
        assert_eq!(found[&keys[1]].brand_count, 6);
        let many: Vec<String> = (1..=1000)
            .map(|i| match_key(&format!("Artist {i}"), &format!("Title {i}")))
            .collect();
        let found = store.find_catalog_matches(&many).await.unwrap();
        assert_eq!(found.len(), 1000);
        assert_eq!(found[&many[41]].song_id, "K0042");

        // Duplicate rows in one batch are merged rather than rejected.
        let dup = song("DUP", "Dup", "Licate", &["Zoom"]);
        let written = store
            .import_catalog_batch(&[dup.clone(), dup.clone(), dup])
            .await
            .unwrap();
        assert_eq!(written, 1);
    }
}
