//! Histories that move while we read them, through the deployed stack: phones upload offline
//! plays back-dated up to 14 days (Last.fm ignores older ones), users delete scrobbles, and an
//! incremental sync re-reads the trailing 15 days. Every check compares the songs we show with
//! the stand-in's ground truth (`/_admin/truth`), never with what our code wrote before.
//!
//! Changes *while a sync reads* are made by the stand-in itself (`schedule_edit`: applied just
//! before it serves the user's (N+1)-th `user.getRecentTracks` request from then on), so they
//! land between two pages of one job at a known point.

use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use karaoke_shared::clock::{now_millis, now_secs, rfc3339};
use karaoke_shared::normalize::TrackIdentity;
use karaoke_shared::queue::Queues;
use karaoke_shared::store::keys;
use karaoke_shared::store::Store;
use karaoke_shared::sync::control::{
    request_rebuild, request_sync_with, RebuildRequest, SyncRequest,
};
use karaoke_shared::sync::job::Unit;
use karaoke_shared::sync::messages::{StartMessage, WorkMessage};
use karaoke_tests::engine_harness::{Harness, KillSwitch};
use karaoke_tests::{assert_songs_match_truth, stack_env, unique, var, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DAY: i64 = 86_400;
/// An incremental sync (a few pages): generous for a loaded 2-core machine.
const SYNC_TIMEOUT: Duration = Duration::from_secs(600);
/// A full sync of up to 30,000 scrobbles on the debug build.
const FULL_SYNC_TIMEOUT: Duration = Duration::from_secs(1_500);
/// How long the sweep after a full sync or rebuild may take to drop the old generation's rows.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------
// Users

/// A stand-in user, deleted when the test ends, passed or not.
struct StandinUser {
    name: String,
}

impl StandinUser {
    async fn create(lastfm: &Lastfm, scrobbles: u64, seed: u64) -> Self {
        // Last.fm names: 2 to 15 characters, a letter first.
        let name = format!("mh{}", &unique("m")[2..12]).replace('-', "_");
        let created = lastfm.create_user(&name, scrobbles, seed).await;
        assert_eq!(created["total_scrobbles"], scrobbles, "{created}");
        Self { name }
    }
}

impl Drop for StandinUser {
    fn drop(&mut self) {
        // Blocking on purpose: Drop may run while a panic unwinds out of the runtime.
        let url = format!("{}/_admin/users", var("LASTFM_ADMIN_URL"));
        let body = json!({"name": self.name}).to_string();
        let _ = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), {'Content-Type': 'application/json'}, method='DELETE'))",
                &url,
                &body,
            ])
            .status();
    }
}

/// Erases our side of the account (200 when done, 202 while it continues in the background).
async fn erase_account(api: &Api) {
    let r = api.call(Method::DELETE, "/api/me", None).await;
    if !matches!(r.status, StatusCode::OK | StatusCode::ACCEPTED) {
        eprintln!("could not erase the test account: {} {}", r.status, r.body);
    }
}

async fn connect(api: &Api, name: &str) {
    let r = api.connect_lastfm(name).await;
    assert_eq!(r.status, StatusCode::OK, "connect {name}: {}", r.body);
}

// ---------------------------------------------------------------------------------------------
// Syncs

/// Requests a sync (`body`: the optional options) and waits for it to end `done`. A sync the
/// schedule started meanwhile (a new connection is due at once) answers 409: that one is let
/// finish and the request is made again.
async fn sync_now(api: &Api, body: Option<Value>, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout * 2;
    loop {
        let r = api.call(Method::POST, "/api/me/sync", body.clone()).await;
        if r.status == StatusCode::CONFLICT {
            eprintln!("a sync is running already ({}): waiting for it", r.body);
            api.wait_for_sync(timeout).await;
            assert!(Instant::now() < deadline, "the account never came free");
            continue;
        }
        assert_eq!(
            r.status,
            StatusCode::ACCEPTED,
            "POST /api/me/sync: {}",
            r.body
        );
        let job = api.wait_for_sync(timeout).await;
        assert_eq!(job["job_id"], r.body["job_id"], "{job}");
        assert_eq!(job["status"], "done", "{job}");
        return job;
    }
}

async fn full_sync(api: &Api) -> Value {
    let job = sync_now(api, None, FULL_SYNC_TIMEOUT).await;
    assert_eq!(job["kind"], "full", "{job}");
    job
}

async fn incremental_sync(api: &Api, body: Option<Value>) -> Value {
    let job = sync_now(api, body, SYNC_TIMEOUT).await;
    assert_eq!(job["kind"], "incremental", "{job}");
    job
}

/// A full re-sync from Last.fm through the API: disconnecting forgets the watermark and the
/// generation (the songs stay), so the next sync of the reconnected account is a full one.
async fn full_resync(api: &Api, name: &str) -> Value {
    let r = api
        .call(Method::DELETE, "/api/me/services/lastfm", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "disconnect: {}", r.body);
    connect(api, name).await;
    full_sync(api).await
}

/// Recomputes the counts from our stored archive, without Last.fm (`karaoke rebuild`).
async fn rebuild(api: &Api, user_id: &str) -> Value {
    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME"));
    let queues = Queues::new(
        aws_sdk_sqs::Client::new(&config),
        var("START_QUEUE_URL"),
        var("PAGE_QUEUE_URL"),
    );
    let started = request_rebuild(&store, &queues, user_id, now_millis())
        .await
        .unwrap();
    assert!(
        matches!(started, RebuildRequest::Started { .. }),
        "rebuild did not start: {started:?}"
    );
    let job = api.wait_for_sync(FULL_SYNC_TIMEOUT).await;
    assert_eq!(job["kind"], "rebuild", "{job}");
    assert_eq!(job["status"], "done", "{job}");
    job
}

/// Scrobbles added and removed by a job, over all its repaired windows.
fn repaired(job: &Value) -> (u64, u64) {
    job["repairs"]
        .as_array()
        .map(|rs| {
            rs.iter().fold((0, 0), |(a, r), w| {
                (
                    a + w["added"].as_u64().unwrap_or(0),
                    r + w["removed"].as_u64().unwrap_or(0),
                )
            })
        })
        .unwrap_or((0, 0))
}

fn recent_repair(job: &Value) -> &Value {
    job["repairs"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["window"] == "recent"))
        .unwrap_or_else(|| panic!("no repair of the recent window: {job}"))
}

/// `user.getRecentTracks` requests the stand-in has served this user so far.
async fn recent_requests(lastfm: &Lastfm, name: &str) -> u64 {
    lastfm.edits(name).await["recent_tracks_requests"]
        .as_u64()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Comparing with the ground truth

fn identity(artist: &str, title: &str) -> String {
    TrackIdentity::of(artist, title).key()
}

fn identity_of(v: &Value) -> String {
    identity(v["artist"].as_str().unwrap(), v["title"].as_str().unwrap())
}

/// One track as counted: playcount, first and last play (RFC 3339), and how it is spelled.
#[derive(Debug, Clone, PartialEq)]
struct Tally {
    playcount: u64,
    first: String,
    last: String,
    label: String,
}

fn counted_tracks(songs: &[Value]) -> BTreeMap<String, Tally> {
    songs
        .iter()
        .filter(|s| !s["playcount"].is_null())
        .map(|s| {
            (
                identity_of(s),
                Tally {
                    playcount: s["playcount"].as_u64().unwrap(),
                    first: s["first_scrobbled_at"].as_str().unwrap_or("").to_string(),
                    last: s["last_scrobbled_at"].as_str().unwrap_or("").to_string(),
                    label: format!("{} - {}", s["artist"], s["title"]),
                },
            )
        })
        .collect()
}

fn truth_tracks(truth: &Value) -> BTreeMap<String, Tally> {
    truth["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                identity_of(t),
                Tally {
                    playcount: t["playcount"].as_u64().unwrap(),
                    first: rfc3339(t["first_uts"].as_i64().unwrap()),
                    last: rfc3339(t["last_uts"].as_i64().unwrap()),
                    label: format!("{} - {}", t["artist"], t["title"]),
                },
            )
        })
        .collect()
}

/// Every track whose playcount, first or last play differs from the truth, one line each (at
/// most 30 shown), after a summary line. Empty when they agree.
fn differences(songs: &[Value], truth: &Value) -> Vec<String> {
    let ours = counted_tracks(songs);
    let theirs = truth_tracks(truth);
    let keys: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let mut lines = Vec::new();
    for key in keys {
        let (a, b) = (ours.get(key), theirs.get(key));
        let same = match (a, b) {
            (Some(a), Some(b)) => {
                (a.playcount, &a.first, &a.last) == (b.playcount, &b.first, &b.last)
            }
            _ => false,
        };
        if !same {
            let show = |t: Option<&Tally>| {
                t.map_or("none".to_string(), |t| {
                    format!("{} plays, {} .. {}", t.playcount, t.first, t.last)
                })
            };
            let label = a.or(b).map(|t| t.label.clone()).unwrap_or_default();
            lines.push(format!("  {label}: counted {}, truth {}", show(a), show(b)));
        }
    }
    if lines.is_empty() {
        return lines;
    }
    let total: u64 = ours.values().map(|t| t.playcount).sum();
    let n = lines.len();
    lines.truncate(30);
    if n > 30 {
        lines.push(format!("  ... and {} more", n - 30));
    }
    lines.insert(
        0,
        format!(
            "{n} tracks differ; counted {total} scrobbles in {} tracks, truth {} in {}",
            ours.len(),
            truth["total_scrobbles"],
            theirs.len()
        ),
    );
    lines
}

/// The songs equal the truth: every track's playcount, first and last play (and spelling and
/// album, through `assert_songs_match_truth`), and their sum is the truth's total.
async fn assert_exact(api: &Api, lastfm: &Lastfm, name: &str, context: &str) -> Vec<Value> {
    let songs = api.all_songs().await;
    let truth = lastfm.truth(name).await;
    let diff = differences(&songs, &truth);
    assert!(
        diff.is_empty(),
        "{context}: the songs differ from the stand-in's truth:\n{}",
        diff.join("\n")
    );
    assert_songs_match_truth(&songs, &truth);
    songs
}

/// As `assert_exact`, after the sweep that follows a full sync or rebuild has had time to drop
/// the previous generation's rows.
async fn assert_exact_after_sweep(
    api: &Api,
    lastfm: &Lastfm,
    name: &str,
    context: &str,
) -> Vec<Value> {
    let deadline = Instant::now() + SWEEP_TIMEOUT;
    loop {
        let songs = api.all_songs().await;
        let truth = lastfm.truth(name).await;
        if differences(&songs, &truth).is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_exact(api, lastfm, name, context).await
}

/// Nothing counted twice: each track at most the plays it has now plus those deleted since the
/// sync began (a sync may have read a scrobble before it was deleted, never twice).
fn assert_nothing_doubled(songs: &[Value], truth: &Value, deleted: &[Value], context: &str) {
    let theirs = truth_tracks(truth);
    let mut allowance: BTreeMap<String, u64> = BTreeMap::new();
    for d in deleted {
        *allowance.entry(identity_of(d)).or_default() += 1;
    }
    let mut over = Vec::new();
    let mut over_truth = 0;
    for (key, t) in counted_tracks(songs) {
        let now = theirs.get(&key).map_or(0, |b| b.playcount);
        let most = now + allowance.get(&key).copied().unwrap_or(0);
        if t.playcount > now {
            over_truth += 1;
        }
        if t.playcount > most {
            over.push(format!(
                "  {}: counted {}, truth {now}, deleted meanwhile {}",
                t.label,
                t.playcount,
                most - now
            ));
        }
    }
    assert!(
        over.is_empty(),
        "{context}: {} tracks counted more plays than ever existed:\n{}",
        over.len(),
        over.join("\n")
    );
    if over_truth > 0 {
        eprintln!(
            "{context}: {over_truth} tracks still count a scrobble deleted while the sync read"
        );
    }
}

fn song_view(songs: &[Value]) -> Vec<String> {
    let mut rows: Vec<String> = songs
        .iter()
        .filter(|s| !s["playcount"].is_null())
        .map(|s| {
            json!([
                s["artist"],
                s["title"],
                s["album"],
                s["playcount"],
                s["first_scrobbled_at"],
                s["last_scrobbled_at"]
            ])
            .to_string()
        })
        .collect();
    rows.sort();
    rows
}

fn sum_of_playcounts(songs: &[Value]) -> u64 {
    songs.iter().filter_map(|s| s["playcount"].as_u64()).sum()
}

// ---------------------------------------------------------------------------------------------
// Scrobbles

fn play(artist: &str, title: &str, album: &str, uts: i64) -> Value {
    json!({"artist": artist, "title": title, "album": album, "uts": uts})
}

/// The same track played again at `uts`, spelled exactly as `scrobble` (a listed one).
fn again(scrobble: &Value, uts: i64) -> Value {
    play(
        scrobble["artist"].as_str().unwrap(),
        scrobble["title"].as_str().unwrap(),
        scrobble["album"].as_str().unwrap_or(""),
        uts,
    )
}

fn uts(scrobble: &Value) -> i64 {
    scrobble["uts"].as_i64().unwrap()
}

fn deletion(scrobble: &Value) -> Value {
    json!({"uts": uts(scrobble), "artist": scrobble["artist"], "title": scrobble["title"]})
}

/// Artists and titles for new tracks, chosen not to fold into any generated track's identity
/// (checked against the truth by `assert_new_to`).
const ARTISTS: &[&str] = &[
    "Queen",
    "Björk",
    "Sigur Rós",
    "Beyoncé",
    "AC/DC",
    "Florence + the Machine",
    "Daft Punk",
    "Mötley Crüe",
    "ABBA",
    "Röyksopp",
    "Janelle Monáe",
    "The Weeknd",
];
const TITLES: &[&str] = &[
    "Offline on the Train",
    "Back-dated Blues",
    "Airplane Mode",
    "Late Upload",
    "Sync Now",
    "Fourteen Days",
    "Café Wi-Fi",
    "Tunnel Vision (Live)",
    "Flight Mode Forever",
    "No Signal",
    "Batterie faible",
    "Roaming Charges",
];

/// New track `i`: artist and title from the lists above, album on most.
fn new_track(i: usize) -> (String, String, String) {
    let artist = ARTISTS[i % ARTISTS.len()];
    let title = TITLES[(i / ARTISTS.len() + i) % TITLES.len()];
    let title = if i >= ARTISTS.len() * TITLES.len() {
        format!("{title} #{}", i / (ARTISTS.len() * TITLES.len()))
    } else {
        title.to_string()
    };
    let album = if i % 4 == 3 {
        String::new()
    } else {
        format!("{title} (Single)")
    };
    (artist.to_string(), title, album)
}

fn new_play(i: usize, uts: i64) -> Value {
    let (a, t, al) = new_track(i);
    play(&a, &t, &al, uts)
}

/// The new tracks must be new: no generated track folds to the same identity (else the truth,
/// which tells tracks apart by exact spelling, would count them apart).
fn assert_new_to(truth: &Value, plays: &[Value]) {
    let known: BTreeSet<String> = truth["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(identity_of)
        .collect();
    for p in plays {
        assert!(
            !known.contains(&identity_of(p)),
            "{p} folds into a generated track: choose another name"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Two incremental syncs in a row keep the late plays: after a full sync, 25 plays of the last
/// half hour and 5 back-dated 3 to 7 days (one of an already counted track, two of one track in
/// the same second) are counted by the first "Sync now", which reports exactly 30 added; the
/// second "Sync now" re-reads the same trailing window and neither drops nor doubles any of
/// them (8,030 in all, nothing removed); a third, with nothing new, changes nothing.
#[tokio::test]
async fn two_incremental_syncs_in_a_row_keep_late_plays() {
    let lastfm = Lastfm::new();
    let user = StandinUser::create(&lastfm, 8_000, 71).await;
    let name = user.name.clone();
    let api = Api::as_user(&unique("moving1"));
    connect(&api, &name).await;
    let started = Instant::now();
    let job = full_sync(&api).await;
    eprintln!(
        "full sync of 8,000: {:.0?}, {} pages",
        started.elapsed(),
        job["pages_total"]
    );
    assert_exact(&api, &lastfm, &name, "after the full sync").await;

    // 30 plays as phones upload them: 25 of the last half hour, 5 from 3 to 7 days ago.
    let now = now_secs();
    let listed = lastfm.list_scrobbles(&name, None, None).await;
    assert_eq!(listed.len(), 8_000);
    let existing = listed
        .iter()
        .find(|s| !s["album"].as_str().unwrap_or("").is_empty())
        .unwrap();
    let mut plays = Vec::new();
    // Two plays of one track in the same second, and another track in that second too.
    let same_second = now - 1_500;
    plays.push(new_play(0, same_second));
    plays.push(new_play(0, same_second));
    plays.push(new_play(1, same_second));
    // One more play of a track the full sync already counted, spelled as Last.fm lists it.
    plays.push(again(existing, now - 1_200));
    // 21 more of the last half hour, by varied artists, some tracks played twice.
    for k in 0..21 {
        plays.push(new_play(2 + k % 15, now - 1_790 + 80 * k as i64));
    }
    let new_ones: Vec<Value> = plays
        .iter()
        .filter(|p| p["title"] != existing["title"] || p["artist"] != existing["artist"])
        .cloned()
        .collect();
    // 5 back-dated: 3, 4, 5, 6 and 7 days ago.
    for d in 3..=7 {
        plays.push(new_play(17 + d as usize, now - d * DAY - 3_600 * d));
    }
    assert_eq!(plays.len(), 30);
    assert_new_to(&lastfm.truth(&name).await, &new_ones);
    let r = lastfm.scrobble_live(&name, json!(plays)).await;
    assert_eq!((&r["added"], &r["ignored"]), (&json!(30), &json!(0)), "{r}");
    assert_eq!(r["total_scrobbles"], 8_030, "{r}");

    // First "Sync now": the 30 are counted once, and the job says so.
    let started = Instant::now();
    let first = incremental_sync(&api, None).await;
    eprintln!(
        "first sync now: {:.0?}: {}",
        started.elapsed(),
        first["repairs"]
    );
    let songs = api.all_songs().await;
    let truth = lastfm.truth(&name).await;
    let diff = differences(&songs, &truth);
    let recent = recent_repair(&first);
    assert_eq!(
        (&recent["added"], &recent["removed"]),
        (&json!(30), &json!(0)),
        "first sync now: {first}\n{}",
        diff.join("\n")
    );
    assert_exact(&api, &lastfm, &name, "after the first sync now").await;

    // Second "Sync now": the same window again; every late play stays counted, once.
    let started = Instant::now();
    let second = incremental_sync(&api, None).await;
    eprintln!(
        "second sync now: {:.0?}: {}",
        started.elapsed(),
        second["repairs"]
    );
    let songs = api.all_songs().await;
    let truth = lastfm.truth(&name).await;
    let diff = differences(&songs, &truth);
    let (added, removed) = repaired(&second);
    assert_eq!(
        removed,
        0,
        "the second sync now removed scrobbles: {}\n{}",
        second["repairs"],
        diff.join("\n")
    );
    assert_eq!(added, 0, "the second sync now added: {second}");
    assert_eq!(truth["total_scrobbles"], 8_030);
    assert_eq!(
        sum_of_playcounts(&songs),
        8_030,
        "sum of playcounts after the second sync now\n{}",
        diff.join("\n")
    );
    let songs = assert_exact(&api, &lastfm, &name, "after the second sync now").await;

    // A third with nothing new changes nothing.
    let before = lastfm.stats().await["by_user"][name.to_lowercase()]
        .as_u64()
        .unwrap_or(0);
    let third = incremental_sync(&api, None).await;
    let spent = lastfm.stats().await["by_user"][name.to_lowercase()]
        .as_u64()
        .unwrap_or(0)
        - before;
    eprintln!(
        "third sync now: {spent} Last.fm requests, repairs {}",
        third["repairs"]
    );
    assert_eq!(repaired(&third), (0, 0), "{third}");
    let after = assert_exact(&api, &lastfm, &name, "after the third sync now").await;
    assert_eq!(
        song_view(&after),
        song_view(&songs),
        "the third sync changed songs"
    );
    erase_account(&api).await;
}

/// A full sync of a history that changes under it is exact after one more sync: while the full
/// sync of 30,000 scrobbles reads (after its 20th, 60th and 100th page requests), 30 offline
/// plays back-dated 1 to 13 days are uploaded, 10 scrobbles from years back are deleted, and a
/// play back-dated 20 days is offered and ignored. The full sync alone counts no scrobble twice
/// (pages shifting under it must not repeat or skip one); one "Sync now" after it makes every
/// track equal the truth, 30,020 scrobbles in all.
#[tokio::test]
async fn a_full_sync_of_a_history_changing_under_it_is_exact_after_one_more_sync() {
    let lastfm = Lastfm::new();
    let user = StandinUser::create(&lastfm, 30_000, 72).await;
    let name = user.name.clone();
    let api = Api::as_user(&unique("moving2"));
    connect(&api, &name).await;

    let now = now_secs();
    let listed = lastfm.list_scrobbles(&name, None, None).await;
    assert_eq!(listed.len(), 30_000);
    // 10 scrobbles from years back, of 10 tracks, among the oldest 400 (the last two pages of
    // a sync that reads newest first, so likely still unread when they go).
    let mut deleted: Vec<Value> = Vec::new();
    let mut tracks = BTreeSet::new();
    for s in listed[listed.len() - 400..].iter().step_by(13) {
        if deleted.len() < 10 && tracks.insert(identity_of(s)) {
            deleted.push(s.clone());
        }
    }
    assert_eq!(deleted.len(), 10);
    for s in &deleted {
        assert!(uts(s) < now - 365 * DAY, "not years back: {s}");
    }
    // 30 offline plays back-dated 1 to 13 days: new tracks, and 5 plays of counted ones.
    let late: Vec<Value> = (0..30)
        .map(|k| {
            let d = 1 + (k * 7) % 13;
            let at = now - d * DAY - 600 * k;
            if k % 6 == 5 {
                again(&listed[(k as usize) * 101], at)
            } else {
                new_play(k as usize, at)
            }
        })
        .collect();
    let new_ones: Vec<Value> = late
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 6 != 5)
        .map(|(_, p)| p.clone())
        .collect();
    assert_new_to(&lastfm.truth(&name).await, &new_ones);
    let too_late = new_play(40, now - 20 * DAY);

    // The edits land while the full sync reads.
    let before = recent_requests(&lastfm, &name).await;
    let schedule = [
        (20, late[0..10].to_vec(), deleted[0..5].to_vec()),
        (
            60,
            [&late[10..20], &[too_late.clone()][..]].concat(),
            deleted[5..10].to_vec(),
        ),
        (100, late[20..30].to_vec(), vec![]),
    ];
    for (after, add, delete) in &schedule {
        let deletes: Vec<Value> = delete.iter().map(deletion).collect();
        lastfm
            .schedule_edit(
                &name,
                json!({"after_requests": after, "add": add, "delete": deletes}),
            )
            .await;
    }
    let started = Instant::now();
    let job = full_sync(&api).await;
    let requests = recent_requests(&lastfm, &name).await - before;
    eprintln!(
        "full sync of 30,000 with edits: {:.0?}, {} pages, {requests} recent-tracks requests",
        started.elapsed(),
        job["pages_total"]
    );

    // Every edit was applied during the sync (none is pending; each before the sync's last
    // request), and applied as Last.fm would: the play 20 days back ignored.
    let edits = lastfm.edits(&name).await;
    assert_eq!(
        edits["pending"],
        json!([]),
        "an edit landed after the sync: {edits}"
    );
    let applied = edits["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 3, "{edits}");
    for (a, (after, _, _)) in applied.iter().zip(&schedule) {
        let at = a["at_request"].as_u64().unwrap() - before;
        assert_eq!(at, after + 1, "{edits}");
        assert!(at < requests, "the sync read no page after edit {a}");
    }
    let total = |field: &str| -> u64 { applied.iter().map(|a| a[field].as_u64().unwrap()).sum() };
    assert_eq!(
        (
            total("added"),
            total("ignored"),
            total("deleted"),
            total("missing")
        ),
        (30, 1, 10, 0),
        "{edits}"
    );
    let truth = lastfm.truth(&name).await;
    assert_eq!(truth["total_scrobbles"], 30_020);

    // The full sync alone: whatever it read, no scrobble twice.
    let songs = api.all_songs().await;
    let diff = differences(&songs, &truth);
    eprintln!(
        "after the full sync alone: {} counted{}",
        sum_of_playcounts(&songs),
        diff.first().map(|d| format!("; {d}")).unwrap_or_default()
    );
    assert_nothing_doubled(&songs, &truth, &deleted, "after the full sync alone");

    // One "Sync now": exact.
    let started = Instant::now();
    let again_job = incremental_sync(&api, None).await;
    eprintln!(
        "sync now: {:.0?}, repairs {}",
        started.elapsed(),
        again_job["repairs"]
    );
    let songs = assert_exact(&api, &lastfm, &name, "after the full sync and one sync now").await;
    assert_eq!(sum_of_playcounts(&songs), 30_020);
    erase_account(&api).await;
}

/// A small deterministic PRNG (splitmix64), so a failing run can be replayed from its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Workers that misbehave

/// What the test's own workers did to the messages they took.
#[derive(Debug, Default)]
struct Faults {
    clean: u64,
    /// Handled twice in a row (SQS delivering a message again).
    redelivered: u64,
    /// Handled by two workers at the same time.
    concurrent: u64,
    /// Of the workers running at once, those that failed on their own (a conditional write
    /// lost to the other), so that the message was delivered again.
    concurrent_failed: u64,
    /// Died after some of their writes (checked: the kill switch fired), then delivered again.
    killed: u64,
    /// Of those, finishing steps.
    killed_finishing: u64,
    /// Of those, job starts.
    killed_starts: u64,
}

/// One message as the test's workers take it.
#[derive(Debug)]
enum Work {
    Start(StartMessage),
    Unit(WorkMessage),
}

impl Work {
    fn label(&self) -> String {
        match self {
            Work::Start(m) => format!("start {}", m.job_id),
            Work::Unit(WorkMessage::Unit { unit, .. }) => format!("unit {unit}"),
            Work::Unit(other) => format!("{other:?}"),
        }
    }

    /// The user and job it works on.
    fn job(&self) -> Option<(&str, &str)> {
        match self {
            Work::Start(m) => Some((&m.user_id, &m.job_id)),
            Work::Unit(WorkMessage::Unit {
                user_id, job_id, ..
            }) => Some((user_id, job_id)),
            Work::Unit(_) => None,
        }
    }
}

/// The production sync engine, run by the test from queues it owns (the stack's table, rate
/// gate and stand-in), each message delivered well or badly at random: once, twice in a row, by
/// two workers at once, or killed after a random number of its DynamoDB writes and delivered
/// again.
struct FaultyWorkers {
    h: Harness,
    kill: Arc<KillSwitch>,
    rng: SplitMix64,
    faults: Faults,
}

impl FaultyWorkers {
    async fn new(seed: u64) -> Self {
        let mut h = Harness::new().await;
        let kill = h.kill_switch();
        FaultyWorkers {
            h,
            kill,
            rng: SplitMix64(seed ^ 0x5EED_FA17),
            faults: Faults::default(),
        }
    }

    /// Whether a delivery that died left the finishing step claimed and unfinished (it died
    /// in the middle of it), read from the job item as stored.
    async fn died_finishing(&self, work: &Work) -> bool {
        let Some((user_id, job_id)) = work.job() else {
            return false;
        };
        let item = self
            .h
            .raw_item(user_id, keys::job_sk(job_id))
            .await
            .unwrap_or_default();
        let finalize = Unit::Finalize.id().to_string();
        let finished = item
            .get("done_units")
            .and_then(|v| v.as_ns().ok())
            .is_some_and(|done| done.contains(&finalize));
        item.contains_key("finalize_by") && !finished
    }

    /// One worker's handling of `work`.
    async fn once(&self, work: &Work, attempt: u32) -> Result<(), String> {
        // Boxed: the engine's futures are large, and nested in the test's own they overflow
        // the test thread's stack.
        let result = match work {
            Work::Start(m) => {
                Box::pin(self.h.engine.start_job(&m.user_id, &m.job_id, attempt)).await
            }
            Work::Unit(m) => Box::pin(self.h.engine.run(m.clone(), attempt)).await,
        };
        result.map_err(|e| e.to_string())
    }

    async fn deliver(&mut self, work: Work, receive_count: u32) {
        let kind = self.rng.below(100);
        if std::env::var_os("MOVING_HISTORY_TRACE").is_some() {
            eprintln!("  deliver {} (fault roll {kind})", work.label());
        }
        match kind {
            0..=39 => {
                self.once(&work, receive_count).await.unwrap();
                self.faults.clean += 1;
            }
            40..=59 => {
                self.once(&work, receive_count).await.unwrap();
                self.once(&work, receive_count + 1).await.unwrap();
                self.faults.redelivered += 1;
            }
            60..=74 => {
                let (a, b) = tokio::join!(
                    self.once(&work, receive_count),
                    self.once(&work, receive_count)
                );
                // One of two workers at once may lose a conditional write and fail: SQS then
                // delivers the message again, and that delivery must finish it.
                for failed in [a, b].into_iter().filter_map(Result::err) {
                    eprintln!(
                        "  one of two workers failed ({failed}) on {work:?}: delivered again"
                    );
                    self.faults.concurrent_failed += 1;
                    self.once(&work, receive_count + 1).await.unwrap();
                }
                self.faults.concurrent += 1;
            }
            _ => {
                // Any delivery may run the finishing step (the one that completes the
                // scrobbles claims it), which writes far more than a page does.
                let allowed = self.rng.below(40);
                let died = self
                    .kill
                    .run_until_killed(allowed, self.once(&work, receive_count))
                    .await;
                if std::env::var_os("MOVING_HISTORY_TRACE").is_some() {
                    eprintln!(
                        "    allowed {allowed}: killed {} after {:?}",
                        died.killed, died.writes
                    );
                }
                if died.killed {
                    assert!(
                        died.writes.len() as u64 <= allowed,
                        "the dead worker wrote past its allowance: {died:?}"
                    );
                    self.faults.killed += 1;
                    self.faults.killed_finishing += u64::from(self.died_finishing(&work).await);
                    self.faults.killed_starts += u64::from(matches!(work, Work::Start(_)));
                    self.once(&work, receive_count + 1).await.unwrap();
                } else {
                    self.faults.clean += 1;
                }
            }
        }
    }

    /// Handles `job_id`'s messages until it has ended and nothing is left on the queues (the
    /// sweeps a finished job sends included).
    async fn drive(&mut self, user_id: &str, job_id: &str) {
        let deadline = Instant::now() + FULL_SYNC_TIMEOUT;
        let mut idle = 0;
        while idle < 2 {
            assert!(
                Instant::now() < deadline,
                "job {job_id} did not end in {FULL_SYNC_TIMEOUT:?}"
            );
            let job = self
                .h
                .store
                .get_job(user_id, job_id)
                .await
                .unwrap()
                .unwrap();
            // A rebuild is "running" before its start message is taken: both queues, always.
            let mut batch = Vec::new();
            for queue in [self.h.start_url.clone(), self.h.page_url.clone()] {
                for d in self.h.receive(&queue).await {
                    batch.push((queue.clone(), d));
                }
            }
            if batch.is_empty() {
                if !job.status.is_active() {
                    idle += 1;
                }
                continue;
            }
            idle = 0;
            for (queue, d) in batch {
                let work = if queue == self.h.start_url {
                    Work::Start(serde_json::from_str(&d.body).unwrap())
                } else {
                    Work::Unit(serde_json::from_str(&d.body).unwrap())
                };
                self.deliver(work, d.receive_count).await;
                self.h.delete(&queue, &d.receipt).await;
            }
        }
    }

    /// A sync requested as "Sync now" does (`reconcile`: with the option set), run by these
    /// workers; answers the job as `GET /api/me/sync` shows it. A sync running already (the
    /// schedule's, on the stack's workers) is let finish first.
    async fn sync(&mut self, api: &Api, user_id: &str, reconcile: bool) -> Value {
        let job_id = loop {
            let requested = request_sync_with(
                &self.h.store,
                &self.h.engine.queues,
                user_id,
                now_millis(),
                0,
                reconcile,
            )
            .await
            .unwrap();
            match requested {
                SyncRequest::Started { job_id, .. } => break job_id,
                SyncRequest::Busy { .. } => {
                    api.wait_for_sync(SYNC_TIMEOUT).await;
                }
                SyncRequest::NotConnected => panic!("{user_id}: Last.fm not connected"),
            }
        };
        self.drive(user_id, &job_id).await;
        self.finished(api, &job_id).await
    }

    /// A rebuild from our archive (`karaoke rebuild`), run by these workers.
    async fn rebuild(&mut self, api: &Api, user_id: &str) -> Value {
        let requested =
            request_rebuild(&self.h.store, &self.h.engine.queues, user_id, now_millis())
                .await
                .unwrap();
        let RebuildRequest::Started { job_id, .. } = requested else {
            panic!("rebuild did not start: {requested:?}");
        };
        self.drive(user_id, &job_id).await;
        let job = self.finished(api, &job_id).await;
        assert_eq!(job["kind"], "rebuild", "{job}");
        job
    }

    async fn finished(&self, api: &Api, job_id: &str) -> Value {
        let job = api.get("/api/me/sync").await.body;
        assert_eq!(job["job_id"], job_id, "{job}");
        assert_eq!(job["status"], "done", "{job}");
        job
    }
}

/// A step's syncs, through the stack or through the faulty workers.
struct Syncs {
    api: Api,
    user_id: String,
    workers: FaultyWorkers,
}

impl Syncs {
    /// An incremental "Sync now" (`reconcile`: with the option).
    async fn incremental(&mut self, reconcile: bool, on_workers: bool) -> Value {
        let job = if on_workers {
            Box::pin(self.workers.sync(&self.api, &self.user_id, reconcile)).await
        } else {
            incremental_sync(&self.api, reconcile.then(|| json!({"reconcile": true}))).await
        };
        assert_eq!(job["kind"], "incremental", "{job}");
        if reconcile {
            assert_eq!(job["reconcile"], true, "{job}");
        }
        job
    }

    async fn full_resync(&mut self, name: &str, on_workers: bool) -> Value {
        if !on_workers {
            return full_resync(&self.api, name).await;
        }
        let r = self
            .api
            .call(Method::DELETE, "/api/me/services/lastfm", None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "disconnect: {}", r.body);
        connect(&self.api, name).await;
        let job = Box::pin(self.workers.sync(&self.api, &self.user_id, false)).await;
        assert_eq!(job["kind"], "full", "{job}");
        job
    }

    async fn rebuild(&mut self, on_workers: bool) -> Value {
        if on_workers {
            Box::pin(self.workers.rebuild(&self.api, &self.user_id)).await
        } else {
            rebuild(&self.api, &self.user_id).await
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Incremental,
    Reconcile,
    FullResync,
    Rebuild,
}

/// One random step's changes to the history, before its sync.
#[derive(Default)]
struct Changes {
    live: Vec<Value>,
    ignored: u64,
    deletes: Vec<Value>,
    /// Deleted scrobbles older than the trailing window: only a reconciliation or a full sync
    /// sees those.
    old_deleted: bool,
    /// Scrobbles whose deletion is scheduled to land during the sync.
    during_deletes: Vec<Value>,
    during_adds: Vec<Value>,
    during_ignored: u64,
    notes: Vec<String>,
}

/// A seeded random history stays exact through twenty-odd steps: live new plays, plays
/// back-dated 1 to 14 days (and some more than 14, which Last.fm ignores), deletions of recent
/// and of years-old scrobbles, two plays of a track in the same second, edits that land while a
/// sync reads; each step followed by an incremental sync, now and then a reconciliation, a full
/// re-sync (reconnecting the account) or a rebuild from our archive. Most syncs run on the
/// test's faulty workers (`FaultyWorkers`: messages redelivered, handled twice at once, or killed
/// after a random number of writes, finishing steps and job starts included), the rest on the
/// stack's own. After each step every track's playcount, first and last play equal the truth
/// and the sum equals its total (after one more sync when an edit landed under the step's sync,
/// which may have read past it).
/// `MOVING_HISTORY_SEED` replays a run; `MOVING_HISTORY_STEPS` changes the number of steps.
#[tokio::test]
async fn a_seeded_random_history_stays_exact_through_twenty_steps() {
    let seed = std::env::var("MOVING_HISTORY_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| now_millis() as u64);
    let steps: u32 = std::env::var("MOVING_HISTORY_STEPS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(22)
        .max(20);
    eprintln!("MOVING_HISTORY_SEED={seed} ({steps} steps)");
    let mut rng = SplitMix64(seed);

    let lastfm = Lastfm::new();
    let user = StandinUser::create(&lastfm, 3_000, 1 + rng.below(1_000)).await;
    let name = user.name.clone();
    let user_id = unique("moving3");
    let mut syncs = Syncs {
        api: Api::as_user(&user_id),
        user_id: user_id.clone(),
        workers: FaultyWorkers::new(seed).await,
    };
    let api = Api::as_user(&user_id);
    connect(&api, &name).await;
    let started = Instant::now();
    full_sync(&api).await;
    assert_exact(&api, &lastfm, &name, "after the first full sync").await;
    eprintln!("first full sync and check: {:.0?}", started.elapsed());
    assert_new_to(
        &lastfm.truth(&name).await,
        &(0..ARTISTS.len() * TITLES.len())
            .map(|i| new_play(i, 0))
            .collect::<Vec<_>>(),
    );
    let generated = lastfm.list_scrobbles(&name, None, None).await;

    let mut used = [false; 4];
    let (mut full_on_workers, mut used_full) = (false, false);
    for step in 1..=steps {
        let t0 = Instant::now();
        let now = now_secs();
        let recent_from = now - 14 * DAY + 3_600;
        let recent = lastfm.list_scrobbles(&name, Some(recent_from), None).await;
        let old = lastfm
            .list_scrobbles(&name, None, Some(now - 16 * DAY))
            .await;
        let mut ch = Changes::default();
        // Scrobbles chosen for deletion in this step, by (uts, position in its listing): two
        // plays of one track in one second are two scrobbles.
        let mut taken: BTreeSet<(i64, usize)> = BTreeSet::new();
        let mut take = |rng: &mut SplitMix64, from: &[Value]| -> Option<Value> {
            for _ in 0..10 {
                if from.is_empty() {
                    return None;
                }
                let i = rng.below(from.len() as u64) as usize;
                if taken.insert((uts(&from[i]), i)) {
                    return Some(from[i].clone());
                }
            }
            None
        };
        // A track to play: mostly one of the new ones, sometimes a generated one as listed.
        let track_at = |rng: &mut SplitMix64, at: i64| -> Value {
            if rng.chance(25) {
                again(rng.pick(&generated), at)
            } else {
                new_play(rng.below(40) as usize, at)
            }
        };
        for _ in 0..1 + rng.below(3) {
            match rng.below(6) {
                0 => {
                    let k = 1 + rng.below(6);
                    for _ in 0..k {
                        let at = now - rng.between(5, 3_600);
                        ch.live.push(track_at(&mut rng, at));
                    }
                    ch.notes.push(format!("{k} new plays"));
                }
                1 => {
                    let k = 1 + rng.below(4);
                    for _ in 0..k {
                        let at = now - rng.between(DAY, 14 * DAY - 3_600);
                        ch.live.push(track_at(&mut rng, at));
                    }
                    let late = if rng.chance(50) { 1 + rng.below(2) } else { 0 };
                    for _ in 0..late {
                        let at = now - rng.between(15 * DAY, 60 * DAY);
                        ch.live.push(track_at(&mut rng, at));
                    }
                    ch.ignored += late;
                    ch.notes
                        .push(format!("{k} back-dated plays, {late} too old to count"));
                }
                2 => {
                    let k = 1 + rng.below(2);
                    let mut n = 0;
                    for _ in 0..k {
                        if let Some(s) = take(&mut rng, &recent) {
                            ch.deletes.push(s);
                            n += 1;
                        }
                    }
                    ch.notes.push(format!("{n} recent deleted"));
                }
                3 => {
                    let k = 1 + rng.below(3);
                    for _ in 0..k {
                        if let Some(s) = take(&mut rng, &old) {
                            ch.deletes.push(s);
                        }
                    }
                    ch.old_deleted = true;
                    ch.notes.push(format!("{k} old deleted"));
                }
                4 => {
                    let at = now - rng.between(5, 7 * DAY);
                    let p = track_at(&mut rng, at);
                    ch.live.push(p.clone());
                    ch.live.push(p);
                    if rng.chance(50) {
                        ch.live.push(new_play(40 + rng.below(8) as usize, at));
                    }
                    ch.notes.push("two plays in one second".into());
                }
                _ => {
                    let (adds, deletes) = (ch.during_adds.len(), ch.during_deletes.len());
                    let k = 1 + rng.below(3);
                    for _ in 0..k {
                        let at = if rng.chance(50) {
                            now - rng.between(5, 3_600)
                        } else {
                            now - rng.between(DAY, 13 * DAY)
                        };
                        ch.during_adds.push(track_at(&mut rng, at));
                    }
                    if rng.chance(30) {
                        let at = now - rng.between(15 * DAY, 30 * DAY);
                        ch.during_adds.push(track_at(&mut rng, at));
                        ch.during_ignored += 1;
                    }
                    if rng.chance(60) {
                        if let Some(s) = take(&mut rng, &recent) {
                            ch.during_deletes.push(s);
                        }
                    }
                    ch.notes.push(format!(
                        "{} plays and {} deletions during the sync",
                        ch.during_adds.len() - adds,
                        ch.during_deletes.len() - deletes
                    ));
                }
            }
        }

        // Apply the changes as Last.fm would receive them.
        if !ch.deletes.is_empty() {
            let r = lastfm
                .delete_scrobbles(
                    &name,
                    json!(ch.deletes.iter().map(deletion).collect::<Vec<_>>()),
                )
                .await;
            assert_eq!(
                (&r["deleted"], &r["missing"]),
                (&json!(ch.deletes.len()), &json!(0)),
                "step {step}: {r}"
            );
        }
        if !ch.live.is_empty() {
            let r = lastfm.scrobble_live(&name, json!(ch.live)).await;
            assert_eq!(
                (&r["added"], &r["ignored"]),
                (
                    &json!(ch.live.len() as u64 - ch.ignored),
                    &json!(ch.ignored)
                ),
                "step {step}: {r}"
            );
        }

        // The step's sync.
        let mut kind = match rng.below(100) {
            0..=7 => Kind::FullResync,
            8..=21 => Kind::Reconcile,
            22..=28 => Kind::Rebuild,
            _ => Kind::Incremental,
        };
        for (at, k) in [
            (6, Kind::Reconcile),
            (11, Kind::FullResync),
            (15, Kind::Rebuild),
        ] {
            if step == at && !used[k as usize] {
                kind = k;
            }
        }
        // Every kind runs at least once: the last steps take the kinds not run yet.
        let missing: Vec<Kind> = [
            Kind::FullResync,
            Kind::Reconcile,
            Kind::Rebuild,
            Kind::Incremental,
        ]
        .into_iter()
        .filter(|k| !used[*k as usize])
        .collect();
        if steps - step < missing.len() as u32 {
            kind = missing[0];
        }
        // Old deletions are found only by reconciling; a rebuild's sync before it reconciles.
        if ch.old_deleted && kind == Kind::Incremental {
            kind = Kind::Reconcile;
        }
        used[kind as usize] = true;
        let during = !ch.during_adds.is_empty() || !ch.during_deletes.is_empty();
        let mut edit_id = None;
        if during {
            let after = match kind {
                Kind::FullResync => rng.below(8),
                Kind::Reconcile => rng.below(3),
                _ => 0,
            };
            let e = lastfm
                .schedule_edit(
                    &name,
                    json!({
                        "after_requests": after,
                        "add": ch.during_adds,
                        "delete": ch.during_deletes.iter().map(deletion).collect::<Vec<_>>(),
                    }),
                )
                .await;
            edit_id = Some(e["id"].clone());
            ch.notes.push(format!("edit after {after} requests"));
        }
        eprintln!(
            "step {step}: {:?}; {}",
            kind,
            if ch.notes.is_empty() {
                "no change".to_string()
            } else {
                ch.notes.join(", ")
            }
        );

        // Most syncs run on the test's faulty workers, the others on the stack's own; the
        // first full re-sync always on the faulty ones.
        let on_workers =
            rng.chance(60) || (kind == Kind::FullResync && !full_on_workers && !used_full);
        full_on_workers |= on_workers && kind == Kind::FullResync;
        used_full |= kind == Kind::FullResync;
        let mut from = recent_requests(&lastfm, &name).await;
        let job = match kind {
            Kind::Incremental => syncs.incremental(false, on_workers).await,
            Kind::Rebuild => syncs.incremental(ch.old_deleted, on_workers).await,
            Kind::Reconcile => syncs.incremental(true, on_workers).await,
            Kind::FullResync => syncs.full_resync(&name, on_workers).await,
        };
        let mut jobs = vec![job];
        // An edit that landed under the sync may have been read past: one more sync settles it
        // (and one that has not landed yet lands in the next).
        for round in 0.. {
            let edits = lastfm.edits(&name).await;
            let to = edits["recent_tracks_requests"].as_u64().unwrap();
            let landed: Vec<&Value> = edits["applied"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| (from + 1..=to).contains(&a["at_request"].as_u64().unwrap()))
                .collect();
            let pending = !edits["pending"].as_array().unwrap().is_empty();
            if !pending && landed.is_empty() {
                break;
            }
            assert!(round < 4, "step {step}: the edits never settled: {edits}");
            if !landed.is_empty() {
                let songs = api.all_songs().await;
                let truth = lastfm.truth(&name).await;
                // Allowed: what was deleted in this step (a full re-sync's old rows stay until
                // the sweep after it).
                let gone = [&ch.deletes[..], &ch.during_deletes[..]].concat();
                assert_nothing_doubled(
                    &songs,
                    &truth,
                    &gone,
                    &format!("step {step}, the sync an edit landed under"),
                );
            }
            from = to;
            let on_workers = rng.chance(60);
            jobs.push(syncs.incremental(false, on_workers).await);
        }
        if let Some(id) = edit_id {
            let edits = lastfm.edits(&name).await;
            let a = edits["applied"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == id)
                .unwrap_or_else(|| panic!("step {step}: edit {id} not applied: {edits}"))
                .clone();
            let adds = ch.during_adds.len() as u64;
            assert_eq!(
                [&a["added"], &a["ignored"], &a["deleted"], &a["missing"]],
                [
                    &json!(adds - ch.during_ignored),
                    &json!(ch.during_ignored),
                    &json!(ch.during_deletes.len()),
                    &json!(0)
                ],
                "step {step}: {a}"
            );
        }
        let context = format!(
            "step {step} ({kind:?}, seed {seed}), jobs {}",
            jobs.iter()
                .map(|j| format!("{} {}", j["kind"], j["repairs"]))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if kind == Kind::FullResync {
            assert_exact_after_sweep(&api, &lastfm, &name, &context).await;
        } else {
            assert_exact(&api, &lastfm, &name, &context).await;
        }
        if kind == Kind::Rebuild {
            syncs.rebuild(on_workers).await;
            assert_exact_after_sweep(&api, &lastfm, &name, &format!("{context}, rebuilt")).await;
        }
        eprintln!("step {step}: exact after {:.0?}", t0.elapsed());
    }
    assert!(
        used.iter().all(|u| *u),
        "every kind of sync ran: {used:?} (seed {seed})"
    );
    let faults = &syncs.workers.faults;
    eprintln!("the faulty workers: {faults:?}");
    assert!(full_on_workers, "no full sync ran on the faulty workers");
    assert!(
        faults.redelivered > 0
            && faults.concurrent > 0
            && faults.killed_finishing > 0
            && faults.killed > faults.killed_finishing,
        "every kind of fault happened: {faults:?} (seed {seed})"
    );
    syncs.workers.h.cleanup().await;
    erase_account(&api).await;
}

/// Several listeners sync at once, each history changing while it is read (uploads back-dated
/// 1-13 days, deletions across the history): every one is exact after its full sync plus one
/// reconciling "Sync now", and nobody's counts leak into another's.
#[tokio::test]
async fn listeners_syncing_at_once_each_stay_exact_while_their_histories_change() {
    let lastfm = Lastfm::new();
    let mut users = Vec::new();
    for (i, seed) in [(0u64, 81u64), (1, 82), (2, 83)] {
        let user = StandinUser::create(&lastfm, 2_000 + 700 * i, seed).await;
        let api = Api::as_user(&unique("moving4"));
        connect(&api, &user.name).await;
        let now = now_secs();
        let listed = lastfm.list_scrobbles(&user.name, None, None).await;
        let deletes: Vec<Value> = listed
            .iter()
            .skip(300)
            .step_by(450)
            .take(4)
            .map(deletion)
            .collect();
        let adds: Vec<Value> = (0..6)
            .map(|k| new_play(k + 10 * i as usize, now - (1 + k as i64 * 2) * DAY))
            .collect();
        lastfm
            .schedule_edit(
                &user.name,
                json!({"after_requests": 2 + 2 * i, "add": adds, "delete": deletes}),
            )
            .await;
        users.push((user, api));
    }
    join_all(users.iter().map(|(_, api)| full_sync(api))).await;
    for (user, api) in &users {
        let edits = lastfm.edits(&user.name).await;
        assert_eq!(edits["pending"], json!([]), "{edits}");
        incremental_sync(api, Some(json!({"reconcile": true}))).await;
        assert_exact(
            api,
            &lastfm,
            &user.name,
            &format!("{} after one more sync", user.name),
        )
        .await;
    }
}
