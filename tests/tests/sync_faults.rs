//! Last.fm misbehaving while the deployed stack syncs: random transient errors, bad gateways,
//! cut-off bodies and stalls must not change a single count; a page that never succeeds ends
//! the job `partial`, naming the page, with the other pages' songs shown meanwhile, and a
//! retry completes it.

use std::collections::BTreeMap;
use std::time::Duration;

use karaoke_shared::normalize::TrackIdentity;
use karaoke_tests::{assert_songs_match_truth, unique, var, Api, Lastfm};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Puts the stand-in back to normal even when an assertion fails part-way.
struct Calm;

impl Drop for Calm {
    fn drop(&mut self) {
        let url = format!("{}/_admin/config", var("LASTFM_ADMIN_URL"));
        let body = json!({"faults": {"error8": 0, "error11": 0, "error16": 0, "http5xx": 0, "truncated": 0, "stall": 0}}).to_string();
        let _ = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), {'Content-Type': 'application/json'}))",
                &url,
                &body,
            ])
            .status();
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

#[tokio::test]
async fn transient_faults_change_no_count() {
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
    assert_eq!(job["failed_pages"], json!([3]));
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
    assert!(
        job["errors"]
            .to_string()
            .contains("Page 3 of 4 of your scrobbles"),
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
