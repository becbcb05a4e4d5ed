//! Last.fm misbehaving while the deployed stack syncs: random transient errors, bad gateways,
//! cut-off bodies and stalls must not change a single count; rate limiting (error 29) in the
//! middle of a sync is waited out; a page that never succeeds ends the job `partial`, naming
//! the page, with the other pages' songs shown meanwhile, and a retry completes it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use karaoke_shared::normalize::TrackIdentity;
use karaoke_tests::{assert_songs_match_truth, unique, var, Api, Lastfm};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Tests that change how the stand-in answers everyone (random faults, error 29) run one at a
/// time: each must know that what it sees is what it injected.
static GLOBAL_FAULTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Posts a config change to the stand-in without an async runtime (from `Drop`).
fn configure_blocking(config: Value) {
    let url = format!("{}/_admin/config", var("LASTFM_ADMIN_URL"));
    let _ = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), {'Content-Type': 'application/json'}))",
            &url,
            &config.to_string(),
        ])
        .status();
}

/// Puts the stand-in back to normal even when an assertion fails part-way.
struct Calm;

impl Drop for Calm {
    fn drop(&mut self) {
        configure_blocking(
            json!({"faults": {"error8": 0, "error11": 0, "error16": 0, "http5xx": 0, "truncated": 0, "stall": 0}}),
        );
    }
}

/// Takes back error 29s not served yet, even when an assertion fails part-way.
struct No29s;

impl Drop for No29s {
    fn drop(&mut self) {
        configure_blocking(json!({"error29_next": 0}));
    }
}

/// Songs counted from some of the pages: per track (by identity, since the newest spelling
/// may be on a page that is missing) no more than the truth, `scrobbles` in all, and fewer
/// than the whole history.
fn assert_songs_are_part_of_truth(songs: &[Value], truth: &Value, scrobbles: u64) {
    let identity = |v: &Value| {
        TrackIdentity::of(v["artist"].as_str().unwrap(), v["title"].as_str().unwrap()).key()
    };
    let truth: BTreeMap<String, u64> = truth["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (identity(t), t["playcount"].as_u64().unwrap()))
        .collect();
    let mut counted = 0;
    for song in songs.iter().filter(|s| !s["playcount"].is_null()) {
        let playcount = song["playcount"].as_u64().unwrap();
        let whole = truth
            .get(&identity(song))
            .unwrap_or_else(|| panic!("song not in the truth: {song}"));
        assert!(
            playcount <= *whole,
            "{song} counts more than its {whole} plays"
        );
        counted += playcount;
    }
    assert_eq!(counted, scrobbles, "songs of a partial sync");
    assert!(counted > 0 && counted < truth.values().sum::<u64>());
}

async fn connect(api: &Api, name: &str) {
    // getInfo itself may hit an injected fault; a person would press the button again.
    for _ in 0..8 {
        let r = api.connect_lastfm(name).await;
        if r.status == StatusCode::OK {
            return;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    }
    panic!("could not connect {name}");
}

/// Random transient errors, bad gateways, cut-off bodies and stalls on every kind of request
/// change no count: the job ends `done` with the ground truth.
#[tokio::test]
async fn transient_faults_change_no_count() {
    let _serial = GLOBAL_FAULTS.lock().await;
    let _calm = Calm;
    let lastfm = Lastfm::new();
    let name = format!("f{}", &unique("f")[2..12]);
    lastfm.create_user(&name, 2_000, 31).await;
    let before = lastfm.stats().await;
    lastfm
        .configure(json!({
            "faults": {"error8": 0.12, "error11": 0.05, "error16": 0.05, "http5xx": 0.05, "truncated": 0.06, "stall": 0.03},
            "stall_seconds": 6,
            "fault_seed": 4242
        }))
        .await;
    let api = Api::as_user(&unique("faults"));
    connect(&api, &name).await;
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let job = api.wait_for_sync(Duration::from_secs(420)).await;
    let after = lastfm.stats().await;
    let injected: u64 = after["errors_injected"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| v.as_u64().unwrap() - before["errors_injected"][k].as_u64().unwrap_or(0))
        .sum();
    assert!(injected > 0, "the run saw no faults at all: {after}");
    assert_eq!(job["status"], "done", "{job}");
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
}

/// A page that fails on every attempt ends the job `partial`, naming the page, with the other
/// pages' songs shown meanwhile; the next sync request resumes the job and completes it.
#[tokio::test]
async fn a_page_that_keeps_failing_ends_partial_then_a_retry_finishes_it() {
    let lastfm = Lastfm::new();
    let name = format!("p{}", &unique("p")[2..12]);
    lastfm.create_user(&name, 700, 32).await;
    lastfm
        .configure(json!({"failing_pages": {name.clone(): [3]}}))
        .await;
    let api = Api::as_user(&unique("partial"));
    connect(&api, &name).await;
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    // Five receives with growing back-off before SQS gives up on the page.
    let job = api.wait_for_sync(Duration::from_secs(400)).await;
    assert_eq!(job["status"], "partial", "{job}");
    // Last.fm's page 3 of the history is one page of the job; which one depends on how the
    // job splits the history into windows (a full sync reads its last two weeks apart).
    let failed = job["failed_pages"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{job}");
    let page = failed[0].as_u64().unwrap();
    assert!((3..=4).contains(&page), "{job}");
    // Everything but the failed page is counted; the finishing step waits for the resumed job,
    // since archiving a ledger with a hole in it would make later syncs see phantom deletions.
    assert_eq!(
        job["pages_done"].as_u64().unwrap() + 2,
        job["pages_total"].as_u64().unwrap(),
        "{job}"
    );
    // Meanwhile the pages it has are already songs: exactly their scrobbles, none twice.
    let truth = lastfm.truth(&name).await;
    assert_songs_are_part_of_truth(
        &api.all_songs().await,
        &truth,
        job["scrobbles_done"].as_u64().unwrap(),
    );
    // The job's units: its scrobble pages, one page each of top artists and loved tracks,
    // the finishing step.
    let scrobble_pages = job["pages_total"].as_u64().unwrap() - 3;
    assert!(
        job["errors"].to_string().contains(&format!(
            "Page {page} of {scrobble_pages} of your scrobbles"
        )),
        "{job}"
    );
    assert!(job["percent"].as_u64().unwrap() <= 100);

    lastfm
        .configure(json!({"failing_pages": {name.clone(): []}}))
        .await;
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["resumed"], true);
    assert_eq!(r.body["job_id"], job["job_id"], "the same job carries on");
    let done = api.wait_for_sync(Duration::from_secs(120)).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["failed_pages"], json!([]));
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
}

fn count(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// Rate limiting that starts in the middle of a sync is waited out: once some pages are in,
/// the stand-in answers error 29 to the next requests; at least some of them are this sync's
/// own (the stand-in's count of requests by user shows how many of those served while the
/// 29s lasted were anyone else's), yet the job ends `done`, no unit failed, and every count
/// equals the ground truth.
#[tokio::test]
async fn error_29_in_the_middle_of_a_sync_is_waited_out() {
    // Fewer than one unit's attempts (5 receives of 3 tries): rate limiting alone can fail
    // no unit for good, however the 29s fall.
    const ERRORS: u64 = 6;
    let _serial = GLOBAL_FAULTS.lock().await;
    let _restore = No29s;
    let lastfm = Lastfm::new();
    let name = format!("t{}", &unique("t")[2..12]);
    lastfm.create_user(&name, 5_000, 33).await;
    let api = Api::as_user(&unique("rate29"));
    connect(&api, &name).await;
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);

    // Wait until the sync is under way: some pages counted, most still to come.
    let deadline = Instant::now() + Duration::from_secs(120);
    let running = loop {
        let job = api.get("/api/me/sync").await.body;
        let done = job["pages_done"].as_u64().unwrap_or(0);
        if job["status"] == "running" && done >= 2 {
            break job;
        }
        assert!(
            matches!(job["status"].as_str(), Some("queued" | "running")),
            "the sync ended before the test could step in: {job}"
        );
        assert!(Instant::now() < deadline, "the sync did not start: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let before = lastfm.stats().await;
    lastfm.configure(json!({"error29_next": ERRORS})).await;
    let total = running["pages_total"].as_u64().unwrap();
    assert!(
        running["pages_done"].as_u64().unwrap() + 10 < total,
        "the 29s must meet a sync with pages to go: {running}"
    );

    // Until the last of them is served; then who the requests meanwhile were for.
    let deadline = Instant::now() + Duration::from_secs(60);
    let during = loop {
        let stats = lastfm.stats().await;
        if count(&stats, "/error29") >= count(&before, "/error29") + ERRORS {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "the error 29s were not all served: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mine = format!("/by_user/{}", name.to_lowercase());
    let ours = count(&during, &mine) - count(&before, &mine);
    let others = count(&during, "/requests") - count(&before, "/requests") - ours;
    assert!(
        ours > 0 && others < ERRORS,
        "the 29s must reach this sync: {ours} of its requests and {others} of others \
         were served while they lasted"
    );

    let job = api.wait_for_sync(Duration::from_secs(300)).await;
    let after = lastfm.stats().await;
    assert!(
        count(&after, "/by_error/29") >= count(&before, "/by_error/29") + ERRORS,
        "{after}"
    );
    let config = lastfm.configure(json!({})).await;
    assert_eq!(config["error29_next"], 0, "every 29 was served: {config}");
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["failed_pages"], json!([]), "{job}");
    assert_eq!(job["errors"], json!([]), "{job}");
    assert_eq!(job["scrobbles_done"], 5_000, "{job}");
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
}
