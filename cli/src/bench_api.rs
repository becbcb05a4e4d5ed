//! `make bench-api`: a 50,000-track (and 5,000-artist) library, then the first and the
//! hundredth page of songs and artists, timed through the API and costed in DynamoDB reads.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, ReturnConsumedCapacity, WriteRequest};
use futures::stream::{self, StreamExt};
use karaoke_shared::library::sort_key;
use karaoke_shared::normalize::{artist_key, TrackIdentity};
use karaoke_shared::store::attr::{self, Item};
use karaoke_shared::store::keys;

use crate::stack::{env, CliResult, Session};

const TRACKS: usize = 50_000;
const ARTISTS: usize = 5_000;
const PAGE: u32 = 50;
const SAMPLES: usize = 40;

fn track_item(user: &str, i: usize) -> Item {
    let artist = format!("Bench Artist {}", i % ARTISTS);
    let title = format!("Bench Song {i}");
    let key = TrackIdentity::of(&artist, &title).key();
    // A long-tail library: a few songs played a lot, most played once or twice.
    let playcount = (100_000 / (i + 1)).max(1) as u64;
    Item::from([
        ("pk".to_string(), attr::s(keys::user_pk(user))),
        ("sk".to_string(), attr::s(keys::track_sk(&key))),
        ("entity".to_string(), attr::s("song")),
        ("track_key".to_string(), attr::s(&key)),
        ("artist".to_string(), attr::s(&artist)),
        ("title".to_string(), attr::s(&title)),
        ("playcount".to_string(), attr::n(playcount)),
        ("first_uts".to_string(), attr::n(1_300_000_000 + i as i64)),
        ("last_uts".to_string(), attr::n(1_700_000_000 + i as i64)),
        ("sync_count".to_string(), attr::n(1)),
        ("version".to_string(), attr::n(1)),
        ("gsi1pk".to_string(), attr::s(keys::songs_gsi_pk(user))),
        (
            "gsi1sk".to_string(),
            attr::s(keys::lastfm_song_sort(playcount, &key)),
        ),
    ])
}

fn artist_item(user: &str, i: usize) -> Item {
    let name = format!("Bench Artist {i}");
    let key = artist_key(&name);
    let playcount = (500_000 / (i + 1)).max(1) as u64;
    Item::from([
        ("pk".to_string(), attr::s(keys::user_pk(user))),
        ("sk".to_string(), attr::s(keys::artist_sk(&key))),
        ("entity".to_string(), attr::s("artist")),
        ("artist_key".to_string(), attr::s(&key)),
        ("name".to_string(), attr::s(&name)),
        ("lfm_playcount".to_string(), attr::n(playcount)),
        ("lfm_rank".to_string(), attr::n(i + 1)),
        ("version".to_string(), attr::n(1)),
        ("gsi1pk".to_string(), attr::s(keys::artists_gsi_pk(user))),
        (
            "gsi1sk".to_string(),
            attr::s(sort_key(Some(playcount), None, None, &key)),
        ),
    ])
}

async fn fill(db: &aws_sdk_dynamodb::Client, table: &str, items: Vec<Item>) -> CliResult<()> {
    let chunks: Vec<Vec<Item>> = items.chunks(25).map(|c| c.to_vec()).collect();
    let results: Vec<CliResult<()>> = stream::iter(chunks)
        .map(|chunk| async move {
            let mut pending: Vec<WriteRequest> = chunk
                .into_iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item))
                                .build()
                                .expect("item set"),
                        )
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let out = db
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "batch write: {}",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        )
                    })?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
            }
            Ok(())
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// p50 and p99 of `SAMPLES` requests for the same page.
async fn time_page(session: &Session, path: &str) -> CliResult<(f64, f64)> {
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let r = session.call(reqwest::Method::GET, path, None).await?;
        samples.push(t.elapsed());
        if r.status != 200 {
            return Err(format!("{path}: {}", r.body));
        }
    }
    samples.sort();
    Ok((percentile(&samples, 0.5), percentile(&samples, 0.99)))
}

/// Follows cursors to the hundredth page and returns its path.
async fn hundredth(session: &Session, list: &str) -> CliResult<String> {
    let mut path = format!("/api/me/{list}?limit={PAGE}");
    for _ in 1..100 {
        let r = session.call(reqwest::Method::GET, &path, None).await?;
        let cursor = r.body["next_cursor"]
            .as_str()
            .ok_or_else(|| format!("{list}: fewer than 100 pages"))?;
        path = format!("/api/me/{list}?limit={PAGE}&cursor={cursor}");
    }
    Ok(path)
}

/// What the same page costs DynamoDB: read capacity and items of the index query.
async fn read_units(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    gsi_pk: &str,
    start: Option<Item>,
) -> CliResult<(f64, usize, Option<Item>)> {
    let out = db
        .query()
        .table_name(table)
        .index_name("gsi1")
        .key_condition_expression("gsi1pk = :pk")
        .expression_attribute_values(":pk", attr::s(gsi_pk))
        .limit(PAGE as i32)
        .set_exclusive_start_key(start)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let units = out
        .consumed_capacity
        .and_then(|c| c.capacity_units)
        .unwrap_or(f64::NAN);
    Ok((
        units,
        out.items.map_or(0, |i| i.len()),
        out.last_evaluated_key,
    ))
}

pub async fn run() -> CliResult<()> {
    let user = format!("bench-api-{}", karaoke_shared::clock::now_millis());
    let config = karaoke_shared::aws::sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let table = env("TABLE_NAME")?;
    let started = Instant::now();
    fill(
        &db,
        &table,
        (0..TRACKS).map(|i| track_item(&user, i)).collect(),
    )
    .await?;
    fill(
        &db,
        &table,
        (0..ARTISTS).map(|i| artist_item(&user, i)).collect(),
    )
    .await?;
    println!(
        "filled {TRACKS} songs and {ARTISTS} artists in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let session = Session::sign_in(&user).await?;
    println!("| list | page | p50 ms | p99 ms | DynamoDB read units | items read |");
    println!("|---|---|---|---|---|---|");
    for (list, gsi_pk) in [
        ("songs", keys::songs_gsi_pk(&user)),
        ("artists", keys::artists_gsi_pk(&user)),
    ] {
        let first = format!("/api/me/{list}?limit={PAGE}");
        let deep = hundredth(&session, list).await?;
        let mut start = None;
        let mut costs = Vec::new();
        for page in 1..=100 {
            let (units, items, next) = read_units(&db, &table, &gsi_pk, start).await?;
            if page == 1 || page == 100 {
                costs.push((units, items));
            }
            start = next;
        }
        for ((label, path), (units, items)) in
            [("1st", &first), ("100th", &deep)].into_iter().zip(costs)
        {
            let (p50, p99) = time_page(&session, path).await?;
            println!("| {list} | {label} | {p50:.1} | {p99:.1} | {units:.1} | {items} |");
        }
    }
    Ok(())
}
