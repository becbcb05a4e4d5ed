//! The legacy migration (`karaoke migrate-legacy`, docs/MIGRATION.md) against the local stack,
//! on generated exports of 12,000 records with every variant (infra/migrate/generate_export.py):
//! the counts per outcome, the rejected lines exactly, every user's songs as the store lists them
//! and the showcase user's through the API, a second run that changes nothing, a crash and resume
//! that ends where a single run does, a dry run that writes nothing, and legacy data yielding to
//! real syncs and to what the user added.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use karaoke_shared::catalog::matching::match_key;
use karaoke_shared::clock::rfc3339;
use karaoke_shared::migrate::{migrate_file, migrate_reader, MigrationReport, RunOptions};
use karaoke_shared::normalize::TrackIdentity;
use karaoke_shared::store::attr::{self, Item};
use karaoke_shared::store::library::SongRow;
use karaoke_shared::store::tracks::TrackWrite;
use karaoke_shared::store::Store;
use karaoke_shared::sync::aggregate::TrackState;
use karaoke_tests::{ensure_sample_catalog, stack_env, unique, var, Api};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const RECORDS: u64 = 12_000;
const BAD_EVERY: u64 = 97;
/// Stands in for missing dates (known songs without `created_at`), so that separate runs can be
/// compared item by item.
const NOW: i64 = 1_767_225_600;

async fn store() -> Store {
    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    Store::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME"))
}

/// A generated export and what migrating it must report (the generator's `--expect` file).
struct Export {
    path: PathBuf,
    prefix: String,
    expect: Value,
}

impl Drop for Export {
    fn drop(&mut self) {
        std::fs::remove_file(&self.path).ok();
    }
}

impl Export {
    fn generate(prefix: &str) -> Self {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("{prefix}.jsonl"));
        let expect_path = dir.join(format!("{prefix}.expected.json"));
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/migrate/generate_export.py");
        let status = std::process::Command::new("python3")
            .arg(&script)
            .args(["--records", &RECORDS.to_string(), "--seed", "1"])
            .args([
                "--bad-every",
                &BAD_EVERY.to_string(),
                "--user-prefix",
                prefix,
            ])
            .arg("--out")
            .arg(&path)
            .arg("--expect")
            .arg(&expect_path)
            .status()
            .expect("python3 runs the generator");
        assert!(status.success(), "generate_export.py failed");
        let expect = serde_json::from_str(&std::fs::read_to_string(&expect_path).unwrap()).unwrap();
        std::fs::remove_file(&expect_path).ok();
        Export {
            path,
            prefix: prefix.to_string(),
            expect,
        }
    }

    fn showcase_user(&self) -> String {
        self.expect["showcase"]["user"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self.expect["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_string())
            .collect();
        users.push(self.showcase_user());
        users
    }

    fn bad_lines(&self) -> Vec<(u64, String)> {
        self.expect["bad_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["line"].as_u64().unwrap(),
                    b["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn count(&self, path: &[&str]) -> u64 {
        let mut v = &self.expect;
        for p in path {
            v = &v[*p];
        }
        v.as_u64()
            .unwrap_or_else(|| panic!("{path:?} in the expectations"))
    }
}

fn options(name: &str) -> RunOptions {
    let mut o = RunOptions::new(name);
    o.now = Some(NOW);
    o
}

async fn run(store: &Store, export: &Export, options: &RunOptions, what: &str) -> MigrationReport {
    let started = Instant::now();
    let report = migrate_file(store, &export.path, options, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{what}: {} records in {secs:.1} s ({:.0} records/s): {} applied, {} unchanged, {} \
         superseded, {} rejected; {} items written, {} read and {} write requests",
        report.records,
        report.records as f64 / secs,
        report.applied,
        report.skipped_unchanged,
        report.superseded,
        report.rejected,
        report.items_written,
        report.requests_read,
        report.requests_written
    );
    assert_eq!(
        report.records,
        report.applied + report.skipped_unchanged + report.superseded + report.rejected,
        "{what}: every record has one outcome"
    );
    report
}

/// A first run over fresh users: every count as the generator says.
fn assert_first_run(report: &MigrationReport, export: &Export) {
    assert_eq!(report.records, RECORDS);
    assert_eq!(report.blank_lines, 0);
    let expected = export.bad_lines();
    assert_eq!(expected.len() as u64, RECORDS / BAD_EVERY);
    assert_eq!(report.rejected, expected.len() as u64);
    let lines: Vec<u64> = report.rejected_details.iter().map(|r| r.line).collect();
    let expected_lines: Vec<u64> = expected.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, expected_lines, "rejected line numbers");
    for (got, (line, reason)) in report.rejected_details.iter().zip(&expected) {
        assert!(
            got.reason.starts_with(reason.as_str()),
            "line {line}: {:?} should start with {reason:?}",
            got.reason
        );
    }
    assert_eq!(report.applied, export.count(&["applied"]));
    assert_eq!(report.skipped_unchanged, export.count(&["duplicates"]));
    assert_eq!(report.superseded, 0);
    assert_eq!(report.kept_newer, 0);
    assert_eq!(report.migrated_songs, export.count(&["parts", "row"]));
    assert_eq!(report.known_songs, export.count(&["parts", "known"]));
    assert_eq!(report.sung, export.count(&["parts", "sung"]));
    assert_eq!(report.notes_truncated, export.count(&["notes_truncated"]));
    assert!(!report.stopped_early);
}

/// Every item of a user's partition, in key order.
async fn partition(store: &Store, user: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", attr::s(format!("USER#{user}")))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query a partition");
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    items.sort_by_key(|i| attr::get_s(i, "sk").unwrap());
    items
}

async fn snapshot(store: &Store, users: &[String]) -> BTreeMap<String, Vec<Item>> {
    let mut all = BTreeMap::new();
    for user in users {
        all.insert(user.clone(), partition(store, user).await);
    }
    all
}

/// A snapshot with the export's prefix replaced (in every string and map key) and the write
/// counters left out, so that two exports of the same records for different users compare.
fn normalized(snapshot: &BTreeMap<String, Vec<Item>>, prefix: &str) -> BTreeMap<String, Vec<Item>> {
    fn value(v: &AttributeValue, prefix: &str) -> AttributeValue {
        match v {
            AttributeValue::S(s) => AttributeValue::S(s.replace(prefix, "P")),
            AttributeValue::M(m) => AttributeValue::M(
                m.iter()
                    .map(|(k, v)| (k.replace(prefix, "P"), value(v, prefix)))
                    .collect(),
            ),
            AttributeValue::L(l) => AttributeValue::L(l.iter().map(|v| value(v, prefix)).collect()),
            other => other.clone(),
        }
    }
    snapshot
        .iter()
        .map(|(user, items)| {
            let items = items
                .iter()
                .map(|item| {
                    item.iter()
                        .filter(|(k, _)| {
                            !["version", "legacy_rev", "legacy_version"].contains(&k.as_str())
                        })
                        .map(|(k, v)| (k.clone(), value(v, prefix)))
                        .collect()
                })
                .collect();
            (user.replace(prefix, "P"), items)
        })
        .collect()
}

/// What one user's song row must hold, computed from the export by the mapping's rules.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    /// Last.fm part: the sum of the real play counts (0 without any), the most syncs.
    lastfm: Option<(u64, u64)>,
    spotify_rank: Option<u32>,
    known: bool,
}

fn expected_rows(export: &Export) -> BTreeMap<(String, String), Expected> {
    let catalog_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/catalog/sample.csv"),
    )
    .unwrap();
    let catalog: HashMap<String, (String, String)> =
        karaoke_shared::catalog::csv::parse_str(&catalog_text)
            .unwrap()
            .into_iter()
            .map(|row| {
                let song = row.unwrap();
                (song.id, (song.artist, song.title))
            })
            .collect();
    let bad: BTreeSet<u64> = export.bad_lines().into_iter().map(|(l, _)| l).collect();
    let text = std::fs::read_to_string(&export.path).unwrap();
    let mut seen = BTreeSet::new();
    let mut rows: BTreeMap<(String, String), Expected> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if bad.contains(&(i as u64 + 1)) {
            continue;
        }
        let r: Value = serde_json::from_str(line).unwrap();
        let user = r["user_id"].as_str().unwrap().to_string();
        if !seen.insert((user.clone(), r["id"].as_str().unwrap().to_string())) {
            continue; // the same record twice
        }
        let (artist, title) = match (r["artist"].as_str(), r["title"].as_str()) {
            (Some(a), Some(t)) => (a.to_string(), t.to_string()),
            _ => catalog[r["song_id"].as_str().unwrap()].clone(),
        };
        let source = r["source"].as_str().unwrap();
        let rank = r["rank"].as_u64().map(|r| r as u32);
        let known =
            matches!(source, "manual" | "known_songs" | "quiz") || r["is_saved"] == json!(true);
        let shows = source == "lastfm" || (source == "spotify" && rank.is_some()) || known;
        if !shows {
            continue;
        }
        let key = TrackIdentity::of(&artist, &title).key();
        let row = rows.entry((user, key)).or_default();
        if source == "lastfm" {
            let (plays, syncs) = row.lastfm.unwrap_or((0, 0));
            let sync_count = r["sync_count"]
                .as_u64()
                .or(r["play_count"].as_u64())
                .unwrap_or(0);
            row.lastfm = Some((
                plays + r["playcount"].as_u64().unwrap_or(0),
                syncs.max(sync_count),
            ));
        }
        if source == "spotify" {
            if let Some(rank) = rank {
                row.spotify_rank = Some(row.spotify_rank.map_or(rank, |r| r.min(rank)));
            }
        }
        row.known |= known;
    }
    rows
}

async fn song_rows(store: &Store, user: &str) -> Vec<SongRow> {
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let (page, next) = store.song_rows(user, 200, start).await.unwrap();
        rows.extend(page);
        match next {
            Some(k) => start = Some(k),
            None => return rows,
        }
    }
}

/// Every user's "Songs You Know", as the store lists them for the API, against the export.
async fn assert_songs_match_export(store: &Store, export: &Export) {
    let expected = expected_rows(export);
    let mut total = 0;
    for user in export.users() {
        let rows = song_rows(store, &user).await;
        let got: BTreeMap<(String, String), Expected> = rows
            .iter()
            .map(|row| {
                (
                    (user.clone(), row.key.clone()),
                    Expected {
                        lastfm: row.lastfm.as_ref().map(|l| (l.playcount, l.sync_count)),
                        spotify_rank: row.spotify.as_ref().map(|s| s.rank),
                        known: row.known_song_id.is_some(),
                    },
                )
            })
            .collect();
        assert_eq!(got.len(), rows.len(), "{user}: a song listed twice");
        let want: BTreeMap<_, _> = expected
            .iter()
            .filter(|((u, _), _)| *u == user)
            .map(|(k, v)| (k.clone(), v))
            .collect();
        assert_eq!(got.len(), want.len(), "{user}: number of songs");
        for (key, row) in &got {
            assert_eq!(Some(&row), want.get(key), "{user}: song {}", key.1);
        }
        total += rows.len();
    }
    eprintln!("{total} song rows match the export");
}

/// The showcase user: one record per variant, checked through the API.
async fn assert_showcase(store: &Store, export: &Export) {
    let show = &export.expect["showcase"];
    let user = export.showcase_user();
    let api = Api::as_user(&user);
    let songs = api.all("songs").await;
    let by_key: HashMap<String, &Value> = songs
        .iter()
        .map(|s| {
            (
                TrackIdentity::of(s["artist"].as_str().unwrap(), s["title"].as_str().unwrap())
                    .key(),
                s,
            )
        })
        .collect();
    let expected = show["songs"].as_array().unwrap();
    assert_eq!(songs.len(), expected.len(), "showcase songs: {songs:#?}");
    for e in expected {
        let (artist, title) = (e["artist"].as_str().unwrap(), e["title"].as_str().unwrap());
        let song = by_key
            .get(&TrackIdentity::of(artist, title).key())
            .unwrap_or_else(|| panic!("{artist} - {title} is listed"));
        assert_eq!(song["sources"], e["sources"], "{artist} - {title}: {song}");
        if !e["playcount"].is_null() {
            assert_eq!(
                song["playcount"], e["playcount"],
                "{artist} - {title}: {song}"
            );
            assert_eq!(
                song["sync_count"], e["sync_count"],
                "{artist} - {title}: {song}"
            );
        } else {
            assert!(song["playcount"].is_null(), "{artist} - {title}: {song}");
            assert_eq!(song["sync_count"], 0);
        }
        if !e["spotify_rank"].is_null() {
            assert_eq!(song["spotify_rank"], e["spotify_rank"], "{song}");
            assert_eq!(song["spotify_time_range"], "medium_term", "{song}");
            assert_eq!(
                song.get("spotify_popularity"),
                e.get("spotify_popularity").filter(|p| !p.is_null()),
                "{song}"
            );
        } else {
            assert!(song.get("spotify_rank").is_none(), "{song}");
        }
        if let Some(id) = e.get("known_song_id") {
            assert_eq!(&song["known_song_id"], id, "{song}");
        }
        if e["known_song_in_catalog"] == json!(true) {
            // A composite id the catalog has: the catalog's id (its most common pick).
            let id = song["known_song_id"].as_str().unwrap();
            let entry = store
                .catalog_song_by_id(id)
                .await
                .unwrap()
                .expect("a catalog id");
            assert_eq!(
                match_key(&entry.artist, &entry.title),
                match_key(artist, title)
            );
        }
    }
    // The Queen record: a real count, syncs from `play_count`, dates from the record.
    let queen = by_key[&TrackIdentity::of("Queen", "Bohemian Rhapsody").key()];
    assert_eq!(queen["last_scrobbled_at"], "2024-03-01T10:00:00Z");
    assert_eq!(queen["first_scrobbled_at"], "2016-02-03T04:05:06Z");
    assert_eq!(queen["karaoke_available"], true);
    // Most played first.
    let plays: Vec<u64> = songs
        .iter()
        .filter_map(|s| s["playcount"].as_u64())
        .filter(|p| *p > 0)
        .collect();
    assert_eq!(plays, [312, 50, 20, 15]);

    let known = api.get("/api/me/known-songs").await;
    assert_eq!(known.status, StatusCode::OK);
    let items = known.body["items"].as_array().unwrap();
    let expected = show["known_songs"].as_array().unwrap();
    assert_eq!(items.len(), expected.len(), "{items:#?}");
    for e in expected {
        let item = match e["song_id"].as_str() {
            Some(id) => items.iter().find(|i| i["song_id"] == id),
            None => items
                .iter()
                .find(|i| i["artist"] == e["artist"] && i["title"] == e["title"]),
        }
        .unwrap_or_else(|| panic!("known song {e}"));
        let added = e["added_at"].as_i64().unwrap_or(NOW);
        assert_eq!(item["added_at"], rfc3339(added), "{item}");
        if let Some(notes) = e.get("notes") {
            assert_eq!(&item["notes"], notes);
        }
        if let Some(chars) = e["notes_chars"].as_u64() {
            assert_eq!(
                item["notes"].as_str().unwrap().chars().count() as u64,
                chars
            );
        }
    }

    // Sung records, for the sung-songs entity.
    let items = partition(store, &user).await;
    let sung: Vec<&Item> = items
        .iter()
        .filter(|i| attr::get_s(i, "sk").unwrap().starts_with("SUNG#"))
        .collect();
    let expected = show["sung"].as_array().unwrap();
    assert_eq!(sung.len(), expected.len());
    // The sung-songs code lists them: all in the sung list, the one rated 5 in "My Favorites".
    let (listed, _) = store.list_sung(&user, false, 50, None).await.unwrap();
    assert_eq!(listed.len(), expected.len());
    let (favorites, _) = store.list_sung(&user, true, 50, None).await.unwrap();
    let favorites: Vec<&str> = favorites.iter().map(|s| s.song_id.as_str()).collect();
    assert_eq!(favorites, ["KS0001"]);
    for e in expected {
        let item = sung
            .iter()
            .find(|i| match e["song_id"].as_str() {
                Some(id) => i["song_id"] == attr::s(id),
                None => i["artist"] == attr::s(e["artist"].as_str().unwrap()),
            })
            .unwrap_or_else(|| panic!("sung record {e}"));
        assert_eq!(item["source"], attr::s("legacy"));
        assert_eq!(
            item["times_sung"],
            attr::n(e["times_sung"].as_u64().unwrap())
        );
        assert_eq!(
            item["last_sung_at"],
            attr::n(e["last_sung_at"].as_i64().unwrap())
        );
        if let Some(r) = e["rating"].as_u64() {
            assert_eq!(item["rating"], attr::n(r));
            assert_eq!(
                item["average_rating"],
                attr::n(e["average_rating"].as_f64().unwrap())
            );
        }
        let read = karaoke_shared::sung::store::sung_from_item(item).unwrap();
        assert_eq!(read.times_sung, e["times_sung"].as_u64().unwrap());
        assert_eq!(read.source.as_deref(), Some("legacy"));
        let id = attr::get_s(item, "song_id").unwrap();
        let entry = store
            .catalog_song_by_id(&id)
            .await
            .unwrap()
            .expect("sung songs are catalog songs here");
        assert_eq!(
            match_key(&entry.artist, &entry.title),
            match_key(
                &attr::get_s(item, "artist").unwrap(),
                &attr::get_s(item, "title").unwrap()
            )
        );
    }
}

#[tokio::test]
async fn a_legacy_export_migrates_every_variant_once_and_a_dry_run_writes_nothing() {
    ensure_sample_catalog().await;
    let store = store().await;
    let export = Export::generate(&unique("mig"));
    let users = export.users();
    let name = unique("run");

    // A dry run reads and reports, and writes nothing (not even a restart point).
    let mut dry = options(&name);
    dry.dry_run = true;
    let report = run(&store, &export, &dry, "dry run").await;
    assert_first_run(&report, &export);
    assert!(report.dry_run);
    assert_eq!(report.requests_written, 0);
    let empty = snapshot(&store, &users).await;
    assert!(empty.values().all(Vec::is_empty), "a dry run wrote items");
    assert_eq!(store.get_migration_progress(&name).await.unwrap(), None);

    let first = run(&store, &export, &options(&name), "first run").await;
    assert_first_run(&first, &export);
    assert_eq!(
        first.items_written, report.items_written,
        "the dry run's prediction"
    );
    let progress = store.get_migration_progress(&name).await.unwrap().unwrap();
    assert!(progress.complete);
    assert_eq!(progress.line, RECORDS);
    assert_songs_match_export(&store, &export).await;
    assert_showcase(&store, &export).await;
    let after_first = snapshot(&store, &users).await;
    assert!(after_first.values().all(|items| !items.is_empty()));

    // Two random users through the API too (the showcase user was).
    for user in &users[..2] {
        let api_songs = Api::as_user(user).all("songs").await;
        let rows = song_rows(&store, user).await;
        assert_eq!(api_songs.len(), rows.len(), "{user}");
        for (song, row) in api_songs.iter().zip(&rows) {
            assert_eq!(song["title"], row.title.as_str());
            assert_eq!(
                song["playcount"],
                json!(row.lastfm.as_ref().map(|l| l.playcount))
            );
            assert_eq!(
                song["sync_count"],
                json!(row.lastfm.as_ref().map_or(0, |l| l.sync_count))
            );
        }
    }

    // Again: nothing changes, item for item (versions included).
    let second = run(&store, &export, &options(&name), "second run").await;
    assert_eq!(second.applied, 0);
    assert_eq!(second.items_written, 0);
    assert_eq!(
        second.skipped_unchanged,
        first.applied + first.skipped_unchanged
    );
    assert_eq!(second.rejected, first.rejected);
    assert_eq!(
        second.resumed_from_line, None,
        "a completed run starts over"
    );
    assert_eq!(
        (second.migrated_songs, second.known_songs, second.sung),
        (0, 0, 0)
    );
    let after_second = snapshot(&store, &users).await;
    assert_eq!(after_first, after_second, "the second run changed items");
}

#[tokio::test]
async fn a_crashed_migration_resumes_and_ends_where_a_single_run_does() {
    ensure_sample_catalog().await;
    let store = store().await;
    let once = Export::generate(&unique("mig-once"));
    let crashed = Export::generate(&unique("mig-crash"));

    let single = run(&store, &once, &options(&unique("run")), "single run").await;
    assert_first_run(&single, &once);

    // The first attempt dies after 5,555 records: the chunk in progress (records 5,501 on) is
    // written, but its restart point is not.
    let name = unique("run");
    let mut crash = options(&name);
    crash.max_records = Some(5_555);
    let first = run(&store, &crashed, &crash, "run stopped after 5,555 records").await;
    assert!(first.stopped_early);
    assert_eq!(first.records, 5_555);
    let checkpoint = store.get_migration_progress(&name).await.unwrap().unwrap();
    assert!(!checkpoint.complete);
    assert_eq!(checkpoint.line, 5_500);

    let second = run(&store, &crashed, &options(&name), "resumed run").await;
    assert_eq!(second.resumed_from_line, Some(5_500));
    assert_eq!(second.skipped_before_resume, 5_500);
    assert_eq!(second.records, RECORDS - 5_500);
    assert!(!second.stopped_early);
    assert!(
        store
            .get_migration_progress(&name)
            .await
            .unwrap()
            .unwrap()
            .complete
    );
    // Records applied before the crash are not applied twice.
    assert_eq!(first.applied + second.applied, single.applied);
    let redone = first.records
        - 5_500
        - first
            .rejected_details
            .iter()
            .filter(|r| r.line > 5_500)
            .count() as u64;
    assert_eq!(
        first.skipped_unchanged + second.skipped_unchanged,
        redone + single.skipped_unchanged
    );
    let mut rejected: Vec<u64> = first
        .rejected_details
        .iter()
        .chain(&second.rejected_details)
        .map(|r| r.line)
        .collect();
    rejected.sort_unstable();
    rejected.dedup();
    let expected: Vec<u64> = crashed.bad_lines().iter().map(|(l, _)| *l).collect();
    assert_eq!(rejected, expected);

    // Item for item, the same as a single run (write counters aside: the chunk that was
    // interrupted was written twice).
    let a = normalized(&snapshot(&store, &once.users()).await, &once.prefix);
    let b = normalized(&snapshot(&store, &crashed.users()).await, &crashed.prefix);
    assert_eq!(a.len(), b.len());
    for (user, items) in &a {
        assert_eq!(items.len(), b[user].len(), "{user}: number of items");
        assert_eq!(items, &b[user], "{user}");
    }
}

#[tokio::test]
async fn legacy_data_yields_to_real_syncs_and_to_what_the_user_added() {
    ensure_sample_catalog().await;
    let store = store().await;
    let user = unique("mig-real");
    let synced = unique("mig-synced");

    // A real Last.fm sync already counted Bohemian Rhapsody.
    let key = TrackIdentity::of("Queen", "Bohemian Rhapsody").key();
    let real = TrackState {
        key: key.clone(),
        artist: "Queen".into(),
        title: "Bohemian Rhapsody".into(),
        album: Some("A Night at the Opera".into()),
        loved: None,
        playcount: 700,
        first_uts: 1_300_000_000,
        last_uts: 1_700_000_000,
        display_order: 1,
        sync_count: 1,
        generation: "job-real".into(),
        applied_job: "job-real".into(),
        applied_ops: [1].into(),
        entered_job: "job-real".into(),
        entered_op: 1,
        version: 1,
    };
    store
        .write_track(
            &user,
            &TrackWrite {
                track: real,
                base: Default::default(),
            },
        )
        .await
        .unwrap();
    // The user added Don't Stop Me Now by hand.
    let api = Api::as_user(&user);
    let added = api
        .call(
            Method::POST,
            "/api/me/known-songs",
            Some(json!({"song_id": "KS0002", "notes": "mine"})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    // The other user's Last.fm account has finished a full sync, and Spotify was refreshed.
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", attr::s(format!("USER#{synced}")))
        .item("sk", attr::s("SERVICE#lastfm"))
        .item("username", attr::s("someone"))
        .item("connected_at", attr::n(1_700_000_000))
        .item("generation", attr::s("job-real"))
        .send()
        .await
        .unwrap();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", attr::s(format!("USER#{synced}")))
        .item("sk", attr::s("SERVICE#spotify"))
        .item("spotify_user_id", attr::s("someone"))
        .item("connected_at", attr::n(1_700_000_000))
        .item("last_sync_at", attr::n(1_700_000_100))
        .send()
        .await
        .unwrap();

    let lines = [
        json!({"id": "a", "user_id": user, "source": "lastfm", "artist": "Queen", "title": "Bohemian Rhapsody", "playcount": 42, "play_count": 3}),
        json!({"id": "b", "user_id": user, "source": "manual", "song_id": "KS0002", "notes": "legacy", "created_at": 5}),
        json!({"id": "c", "user_id": user, "source": "lastfm", "artist": "ABBA", "title": "Waterloo", "playcount": 9, "play_count": 2}),
        json!({"id": "d", "user_id": synced, "source": "lastfm", "artist": "Queen", "title": "Bohemian Rhapsody", "playcount": 42}),
        json!({"id": "e", "user_id": synced, "source": "quiz", "song_id": "KS0010", "created_at": 1_500_000_000}),
        json!({"id": "f", "user_id": synced, "source": "spotify", "artist": "Taylor Swift", "title": "Anti-Hero", "rank": 4}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let name = unique("run");
    let migrate = || async {
        migrate_reader(
            &store,
            text.as_bytes(),
            text.len() as u64,
            &options(&name),
            |_| {},
        )
        .await
        .unwrap()
    };
    let first = migrate().await;
    assert_eq!(
        (first.applied, first.superseded, first.kept_newer),
        (2, 4, 4)
    );
    let second = migrate().await;
    assert_eq!(
        (second.applied, second.superseded, second.skipped_unchanged),
        (0, 4, 2)
    );

    let songs = api.all("songs").await;
    let find = |title: &str| songs.iter().find(|s| s["title"] == title).unwrap().clone();
    let queen = find("Bohemian Rhapsody");
    assert_eq!(
        (queen["playcount"].as_u64(), queen["sync_count"].as_u64()),
        (Some(700), Some(1))
    );
    assert_eq!(queen["album"], "A Night at the Opera");
    let waterloo = find("Waterloo");
    assert_eq!(
        (
            waterloo["playcount"].as_u64(),
            waterloo["sync_count"].as_u64()
        ),
        (Some(9), Some(2))
    );
    assert_eq!(find("Don't Stop Me Now")["sources"], json!(["manual"]));
    let known = api.get("/api/me/known-songs").await.body;
    assert_eq!(known["items"].as_array().unwrap().len(), 1);
    assert_eq!(known["items"][0]["notes"], "mine");

    // The synced user gets the quiz song, and no legacy Last.fm counts or Spotify ranks.
    let items = partition(&store, &synced).await;
    let sks: Vec<String> = items
        .iter()
        .map(|i| attr::get_s(i, "sk").unwrap())
        .collect();
    assert!(!sks.contains(&format!("TRACK#{key}")), "{sks:?}");
    assert!(sks.contains(&"KNOWN#KS0010".to_string()), "{sks:?}");
    let anti_hero = TrackIdentity::of("Taylor Swift", "Anti-Hero").key();
    assert!(!sks.contains(&format!("TRACK#{anti_hero}")), "{sks:?}");
}
