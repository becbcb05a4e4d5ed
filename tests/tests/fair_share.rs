//! Many listeners share one Last.fm budget: a job keeps only a few units on the queue at a time
//! (`Job::in_flight_cap`), so a light sync started during heavy backfills waits behind a few of
//! their units, not behind all of them, and a scheduled backfill gets fewer turns than one a
//! user asked for. Asserted on the order units are done in (counted on the stored jobs), never
//! on wall time; every job still ends with exact counts.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use karaoke_shared::clock::now_millis;
use karaoke_shared::queue::Queues;
use karaoke_shared::store::rate_gate::HORIZON;
use karaoke_shared::store::{keys, Store};
use karaoke_shared::sync::control::{request_scheduled_sync, SyncRequest};
use karaoke_shared::sync::job::{Job, IN_FLIGHT_INTERACTIVE};
use karaoke_tests::{assert_songs_match_truth, stack_env, unique, var, Api, Lastfm};
use reqwest::{Method, StatusCode};

/// The tests here measure how jobs share one rate gate: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stack() -> (Store, Queues) {
    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    (
        Store::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME")),
        Queues::new(
            aws_sdk_sqs::Client::new(&config),
            var("START_QUEUE_URL"),
            var("PAGE_QUEUE_URL"),
        ),
    )
}

/// A stand-in listener, connected to a new account of ours.
async fn listener(lastfm: &Lastfm, scrobbles: u64, seed: u64) -> (String, String, Api) {
    let name = format!("f{}", &unique("s")[2..12]);
    lastfm.create_user(&name, scrobbles, seed).await;
    let user_id = unique("fair");
    let api = Api::as_user(&user_id);
    let r = api.connect_lastfm(&name).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (name, user_id, api)
}

async fn press_sync(api: &Api) {
    let r = api.call(Method::POST, "/api/me/sync", None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

async fn job(store: &Store, user_id: &str) -> Job {
    store.latest_job(user_id).await.unwrap().expect("a job")
}

fn units_done(job: &Job) -> usize {
    job.done_pages.len() + job.failed_pages.len()
}

async fn wait_until(store: &Store, user_id: &str, what: &str, ok: impl Fn(&Job) -> bool) -> Job {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if let Some(j) = store.latest_job(user_id).await.unwrap() {
            if ok(&j) {
                return j;
            }
            assert!(
                !matches!(j.status.as_str(), "failed" | "partial"),
                "{user_id}: {j:?}"
            );
        }
        assert!(Instant::now() < deadline, "{user_id}: never {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A light listener presses "Sync now" while two 150-page backfills run, one a user asked for
/// and one the schedule started: the light sync is done while the backfills have done only a
/// few more units each, the backfill a user asked for gets more turns than the scheduled one,
/// and all three end exact.
#[tokio::test]
async fn a_light_sync_overtakes_backfills_and_the_schedule_waits_for_people() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let lastfm = Lastfm::new();
    let (store, queues) = stack().await;
    let (pressed_name, pressed, pressed_api) = listener(&lastfm, 30_000, 91).await;
    let (sched_name, scheduled, sched_api) = listener(&lastfm, 30_000, 92).await;
    press_sync(&pressed_api).await;
    let started = request_scheduled_sync(&store, &queues, &scheduled, now_millis(), 0)
        .await
        .unwrap();
    assert!(
        matches!(started, SyncRequest::Started { .. }),
        "{started:?}"
    );
    let busy = |j: &Job| j.status.as_str() == "running" && units_done(j) >= 10;
    wait_until(&store, &pressed, "busy", busy).await;
    wait_until(&store, &scheduled, "busy", busy).await;

    let (light_name, light, light_api) = listener(&lastfm, 600, 93).await;
    let (a0, b0) = (
        units_done(&job(&store, &pressed).await),
        units_done(&job(&store, &scheduled).await),
    );
    press_sync(&light_api).await;
    let light_job = wait_until(&store, &light, "done", |j| j.status.as_str() == "done").await;
    let (a1, b1) = (
        units_done(&job(&store, &pressed).await),
        units_done(&job(&store, &scheduled).await),
    );
    eprintln!(
        "light sync ({} units) done while the backfills did {} and {} units",
        light_job.plan.total(),
        a1 - a0,
        b1 - b0
    );
    // The light job reads in about four rounds (its first pages, the rest, the last two weeks,
    // the closing count), each behind at most the backfills' units in flight, plus whatever
    // they do while it counts; without the cap it waited behind all ~280 of their remaining
    // units.
    let bound = 10 * IN_FLIGHT_INTERACTIVE as usize;
    assert!(
        a1 - a0 <= bound,
        "the pressed backfill did {} units first",
        a1 - a0
    );
    assert!(
        b1 - b0 <= bound,
        "the scheduled backfill did {} units first",
        b1 - b0
    );
    let a_job = job(&store, &pressed).await;
    assert_eq!(
        a_job.status.as_str(),
        "running",
        "the backfill was still running"
    );

    // From here to the end of the pressed backfill, it gets more turns than the scheduled one.
    let a_done = wait_until(&store, &pressed, "done", |j| j.status.as_str() == "done").await;
    let b_then = units_done(&job(&store, &scheduled).await);
    let (a_units, b_units) = (units_done(&a_done) - a1, b_then - b1);
    eprintln!("then: pressed {a_units} units, scheduled {b_units}");
    // In-flight caps of 6 and 2: the scheduled backfill gets a third of the pressed one's
    // turns, give or take the units each has between two polls.
    assert!(
        2 * a_units >= 3 * b_units,
        "pressed {a_units} units, scheduled {b_units}"
    );
    wait_until(&store, &scheduled, "done", |j| j.status.as_str() == "done").await;

    for (name, api) in [
        (&pressed_name, &pressed_api),
        (&sched_name, &sched_api),
        (&light_name, &light_api),
    ] {
        let songs = api.all_songs().await;
        assert_songs_match_truth(&songs, &lastfm.truth(name).await);
        lastfm.delete_user(name).await;
    }
}

/// One user hammering "Connect Last.fm" (each try asks Last.fm) spends only a few of the shared
/// requests: past five a minute the API answers 429 with `Retry-After` without asking Last.fm,
/// the gate is never booked further ahead than its horizon, and another user's sync started
/// meanwhile finishes normally and exact.
#[tokio::test]
async fn a_flood_of_connects_from_one_user_spends_nobody_else_s_budget() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let lastfm = Lastfm::new();
    let (store, _) = stack().await;
    let flooder_id = unique("flood");
    let flooder = Api::as_user(&flooder_id);
    let (other_name, _, other_api) = listener(&lastfm, 600, 94).await;

    // Five tries a minute: the sixth is refused, and told when to come back.
    let http = reqwest::Client::new();
    let token = karaoke_tests::token_for(&flooder_id).await;
    for i in 1..=6 {
        let res = http
            .put(format!("{}/api/me/services/lastfm", var("API_URL")))
            .bearer_auth(&token)
            .json(&serde_json::json!({"username": "ab"}))
            .send()
            .await
            .unwrap();
        if i <= 5 {
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "try {i}: no such Last.fm user"
            );
            continue;
        }
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let after: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&after), "Retry-After: {after}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    }

    // Then two hundred at once, while another user syncs.
    let started = Instant::now();
    let body = || Some(serde_json::json!({"username": "ab"}));
    let flood = futures::future::join_all(
        (0..200).map(|_| flooder.call(Method::PUT, "/api/me/services/lastfm", body())),
    );
    let (answers, _) = tokio::join!(flood, press_sync(&other_api));
    let elapsed = started.elapsed();
    let refused = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    eprintln!("{refused} of 200 refused in {elapsed:.1?}");
    for r in &answers {
        assert!(
            [StatusCode::NOT_FOUND, StatusCode::TOO_MANY_REQUESTS].contains(&r.status),
            "{} {}",
            r.status,
            r.body
        );
    }
    // Every one while the minute lasts; a flood outlasting it gets five more through.
    let windows = 1 + elapsed.as_secs() as usize / 60;
    assert!(
        refused >= 200 - 5 * windows,
        "only {refused} of 200 refused"
    );

    // The gate: booked no further than its horizon (plus a slot) past now.
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(keys::RATE_PK.into()))
        .key("sk", AttributeValue::S(keys::RATE_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let next_ms: i64 = item["next_ms"].as_n().unwrap().parse().unwrap();
    let ahead = next_ms - now_millis();
    assert!(
        ahead <= HORIZON.as_millis() as i64 + 1_000,
        "the gate is booked {ahead} ms ahead"
    );

    // The other user's sync was not held up for good.
    let other = other_api.wait_for_sync(Duration::from_secs(300)).await;
    assert_eq!(other["status"], "done", "{other}");
    assert_songs_match_truth(
        &other_api.all_songs().await,
        &lastfm.truth(&other_name).await,
    );
    lastfm.delete_user(&other_name).await;
}
