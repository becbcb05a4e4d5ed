//! Exactly-once counting under the failures SQS and Lambda really produce: redelivery, the same
//! page on two workers at once, a worker that dies after writing part of a page, and a
//! finishing step that dies part-way through folding the pages into the tracks. The engine
//! is the production code against the real (emulated) DynamoDB and SQS; the test plays the
//! Lambda runtime so it can misbehave on purpose.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeSet;

use futures::future::join_all;
use karaoke_shared::store::keys;
use karaoke_shared::sync::control::{request_sync, SyncRequest};
use karaoke_shared::sync::job::Unit;
use karaoke_shared::sync::messages::{StartMessage, WorkMessage};
use karaoke_tests::engine_harness::{Harness, KillSwitch};
use karaoke_tests::{assert_songs_match_truth, unique, Api, Lastfm};

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Every message is handled twice, one after the other (SQS at-least-once delivery).
    Redeliver,
    /// Every message is handled by two workers at the same time.
    Concurrent,
    /// The first attempt at each scrobble page dies at a chosen point between two of its
    /// steps (the test checks it did, and what it left behind); the retry must finish it.
    CrashMidPage,
    /// Every attempt at a unit dies after more writes than the one before, until one
    /// finishes: the finishing step, which folds all pages into the tracks, dies part-way
    /// through that fold (the test checks it did) and is taken up again each time.
    CrashUntilDone,
}

/// Points between two steps of a scrobble page at which its first attempt dies, by the
/// writes made before (see `Engine::apply_scrobbles`, `Engine::settle`): nothing yet, the
/// ledger entry, the ledger entry and the count on the job, and for the page that completes
/// the scrobbles also the claim on the finishing step.
const BEFORE_LEDGER: u64 = 0;
const AFTER_LEDGER: u64 = 1;
const AFTER_COUNT: u64 = 2;
const AFTER_CLAIM: u64 = 3;

/// A page's ledger entry: its encoded rows and how many scrobbles they are.
async fn ledger_entry(h: &Harness, user: &str, job_id: &str, page: u32) -> Option<(String, u64)> {
    let item = h.raw_item(user, keys::ledger_sk(job_id, page)).await?;
    let rows = item["rows"].as_s().unwrap().clone();
    let count = item["count"].as_n().unwrap().parse().unwrap();
    Some((rows, count))
}

/// Which unit holds the job's finishing step, if any.
async fn finalize_claim(h: &Harness, user: &str, job_id: &str) -> Option<String> {
    let item = h
        .raw_item(user, keys::job_sk(job_id))
        .await
        .expect("job item");
    item.get("finalize_by").map(|v| v.as_s().unwrap().clone())
}

/// Whether the page is counted on the job.
async fn counted(h: &Harness, user: &str, job_id: &str, page: u32) -> bool {
    let job = h.store.get_job(user, job_id).await.unwrap().unwrap();
    job.done_pages.contains(&page)
}

/// One scrobble page under `CrashMidPage`: the first attempt dies at the chosen point and
/// leaves exactly that behind; the retry finishes the page, counting it once. Returns the
/// kill point used.
#[allow(clippy::too_many_arguments)]
async fn crash_page_then_retry(
    h: &Harness,
    kill: &KillSwitch,
    user: &str,
    job_id: &str,
    message: WorkMessage,
    page: u32,
    receive_count: u32,
    nth: usize,
) -> u64 {
    let job = || async { h.store.get_job(user, job_id).await.unwrap().unwrap() };
    let before = job().await;
    assert!(
        !before.done_pages.contains(&page),
        "page {page} counted already"
    );
    let completes_scrobbles =
        (1..=before.plan.scrobble_pages).all(|p| p == page || before.done_pages.contains(&p));
    let point = if completes_scrobbles {
        AFTER_CLAIM
    } else {
        [AFTER_LEDGER, AFTER_COUNT, BEFORE_LEDGER][nth % 3]
    };
    let died = kill.deliver(h, &message, receive_count, point).await;
    assert!(
        died.killed,
        "page {page}: the first attempt finished before dying after {point} writes: {died:?}"
    );
    assert_eq!(
        died.writes.len() as u64,
        point,
        "page {page}: writes made by the attempt that died: {died:?}"
    );

    // What the dead attempt left behind.
    let left = job().await;
    let ledger = ledger_entry(h, user, job_id, page).await;
    assert_eq!(left.status.as_str(), "running", "page {page}: {left:?}");
    assert_eq!(
        ledger.is_some(),
        point >= AFTER_LEDGER,
        "page {page}, died after {point} writes: ledger entry written?"
    );
    let counted = point >= AFTER_COUNT;
    assert_eq!(
        left.done_pages.contains(&page),
        counted,
        "page {page}, died after {point} writes: counted on the job? {left:?}"
    );
    let rows = ledger.as_ref().map_or(0, |(_, count)| *count);
    assert_eq!(
        left.scrobbles_done,
        before.scrobbles_done + if counted { rows } else { 0 },
        "page {page}, died after {point} writes"
    );
    let claimed = finalize_claim(h, user, job_id).await;
    if point == AFTER_CLAIM {
        assert!(left.scrobbles_done(), "{left:?}");
        assert_eq!(
            claimed,
            Some(page.to_string()),
            "the finishing step's claim"
        );
    } else {
        assert_eq!(
            claimed, None,
            "page {page}: nothing claimed the finishing step yet"
        );
    }
    // Songs come from the finishing step only: none yet, whatever died.
    let songs = Api::as_user(user).all_songs().await;
    assert!(
        songs.iter().all(|s| s["playcount"].is_null()),
        "songs counted before the finishing step ran"
    );

    // The redelivery finishes the page: counted once, from the same ledger entry.
    h.engine.run(message, receive_count + 1).await.unwrap();
    let after = job().await;
    let replayed = ledger_entry(h, user, job_id, page).await;
    let replayed = replayed.expect("the retry recorded the page");
    if let Some(ledger) = ledger {
        assert!(
            replayed == ledger,
            "page {page}: the retry replays the ledger"
        );
    }
    assert!(after.done_pages.contains(&page), "{after:?}");
    let expected_status = if completes_scrobbles {
        "done"
    } else {
        "running"
    };
    assert_eq!(after.status.as_str(), expected_status, "{after:?}");
    assert_eq!(
        after.scrobbles_done,
        before.scrobbles_done + replayed.1,
        "page {page} is counted once"
    );
    point
}

async fn run_with(misbehaviour: Misbehaviour, scrobbles: u64, seed: u64) {
    let mut h = Harness::new().await;
    let kill = h.kill_switch();
    let lastfm = Lastfm::new();
    let name = format!("x{}", &unique("e")[2..12]);
    lastfm.create_user(&name, scrobbles, seed).await;
    let user = unique("once");
    let now = karaoke_shared::clock::now_secs();
    h.store.put_lastfm_service(&user, &name, now).await.unwrap();
    let started = request_sync(
        &h.store,
        &h.engine.queues,
        &user,
        karaoke_shared::clock::now_millis(),
        0,
    )
    .await
    .unwrap();
    let SyncRequest::Started { job_id, .. } = started else {
        panic!("sync did not start: {started:?}");
    };

    // The start message (also delivered according to the misbehaviour).
    let start = loop {
        let got = h.receive(&h.start_url).await;
        if let Some(d) = got.into_iter().next() {
            break d;
        }
    };
    let msg: StartMessage = serde_json::from_str(&start.body).unwrap();
    match misbehaviour {
        Misbehaviour::Concurrent => {
            let (a, b) = tokio::join!(
                h.engine.start_job(&msg.user_id, &msg.job_id, 1),
                h.engine.start_job(&msg.user_id, &msg.job_id, 1)
            );
            a.unwrap();
            b.unwrap();
        }
        _ => {
            h.engine
                .start_job(&msg.user_id, &msg.job_id, 1)
                .await
                .unwrap();
            h.engine
                .start_job(&msg.user_id, &msg.job_id, 2)
                .await
                .unwrap();
        }
    }
    h.delete(&h.start_url, &start.receipt).await;
    // The start applies the first pages itself; the rest come through the queue (twice here:
    // the second start resumes the job and queues its pending units again).
    let started = h.store.get_job(&user, &job_id).await.unwrap().unwrap();
    let queued_pages = (1..=started.plan.scrobble_pages)
        .filter(|p| !started.done_pages.contains(p))
        .count();

    let truth = lastfm.truth(&name).await;
    let truth_tracks = truth["tracks"].as_array().unwrap().len();
    let mut folds_cut = 0;
    let mut idle_rounds = 0;
    let mut handled = 0;
    // CrashMidPage: the points its pages died at, and how many pages died.
    let mut kill_points = BTreeSet::new();
    let mut pages_killed = 0;
    while idle_rounds < 3 {
        let batch = h.receive(&h.page_url).await;
        if batch.is_empty() {
            idle_rounds += 1;
            continue;
        }
        idle_rounds = 0;
        for d in &batch {
            let message: WorkMessage = serde_json::from_str(&d.body).unwrap();
            match misbehaviour {
                Misbehaviour::Redeliver => {
                    h.engine
                        .run(message.clone(), d.receive_count)
                        .await
                        .unwrap();
                    h.engine.run(message, d.receive_count + 1).await.unwrap();
                }
                Misbehaviour::Concurrent => {
                    let results = join_all([
                        h.engine.run(message.clone(), d.receive_count),
                        h.engine.run(message, d.receive_count),
                    ])
                    .await;
                    for r in results {
                        r.unwrap();
                    }
                }
                Misbehaviour::CrashMidPage => match message {
                    WorkMessage::Unit { unit, .. }
                        if matches!(Unit::from_id(unit), Unit::Scrobbles(_))
                            && !counted(&h, &user, &job_id, unit).await =>
                    {
                        let page = unit;
                        let point = crash_page_then_retry(
                            &h,
                            &kill,
                            &user,
                            &job_id,
                            message,
                            page,
                            d.receive_count,
                            pages_killed,
                        )
                        .await;
                        kill_points.insert(point);
                        pages_killed += 1;
                    }
                    // A page's second message (counted already: nothing to kill), the
                    // finishing-step unit, any sweep.
                    other => h.engine.run(other, d.receive_count).await.unwrap(),
                },
                Misbehaviour::CrashUntilDone => {
                    let mut allowed = 3u64;
                    let mut attempt = d.receive_count;
                    while kill.deliver(&h, &message, attempt, allowed).await.killed {
                        let job = h.store.latest_job(&user).await.unwrap().unwrap();
                        if job.status.as_str() == "running" && job.scrobbles_done() {
                            let songs = Api::as_user(&user).all_songs().await;
                            let counted =
                                songs.iter().filter(|s| !s["playcount"].is_null()).count();
                            if counted > 0 && counted < truth_tracks {
                                folds_cut += 1;
                            }
                        }
                        allowed += allowed / 2;
                        attempt += 1;
                    }
                }
            }
            h.delete(&h.page_url, &d.receipt).await;
            handled += 1;
        }
    }
    assert!(
        handled >= (scrobbles / 200) as usize - 1,
        "handled {handled} messages"
    );

    let job = h.store.latest_job(&user).await.unwrap().unwrap();
    assert_eq!(job.status.as_str(), "done", "{misbehaviour:?}: {job:?}");
    assert_eq!(job.scrobbles_done, scrobbles);
    let songs = Api::as_user(&user).all_songs().await;
    assert_songs_match_truth(&songs, &truth);
    if matches!(misbehaviour, Misbehaviour::CrashMidPage) {
        // Every page the start left to the queue died once.
        assert_eq!(pages_killed, queued_pages, "pages whose first attempt died");
        assert_eq!(
            kill_points,
            BTreeSet::from([BEFORE_LEDGER, AFTER_LEDGER, AFTER_COUNT, AFTER_CLAIM]),
            "kill points exercised"
        );
    }
    if matches!(misbehaviour, Misbehaviour::CrashUntilDone) {
        assert!(
            folds_cut > 0,
            "no attempt died with part of the tracks written"
        );
    }
    h.cleanup().await;
}

/// Every message handled twice in a row changes no count: the final tracks equal the
/// stand-in's ground truth, track by track.
#[tokio::test]
async fn redelivered_messages_count_once() {
    run_with(Misbehaviour::Redeliver, 2_000, 21).await;
}

/// Every message handled by two workers at the same time changes no count either.
#[tokio::test]
async fn the_same_page_on_two_workers_at_once_counts_once() {
    run_with(Misbehaviour::Concurrent, 2_000, 22).await;
}

/// The first attempt at every scrobble page really dies, at points that vary from page to
/// page: before its ledger write, after it, after the page is counted on the job, and (the
/// page that completes the scrobbles) after claiming the finishing step. Each time the table
/// shows exactly what that point implies, the redelivery finishes the page counting it once,
/// and the final tracks equal the ground truth track by track.
#[tokio::test]
async fn a_worker_dying_mid_page_loses_and_doubles_nothing() {
    run_with(Misbehaviour::CrashMidPage, 2_000, 23).await;
}

/// Attempts that die after more and more writes, until one finishes: some die part-way
/// through the finishing step's fold (checked), and the tracks still equal the ground truth.
#[tokio::test]
async fn a_finishing_step_dying_mid_fold_loses_and_doubles_nothing() {
    run_with(Misbehaviour::CrashUntilDone, 4_000, 25).await;
}

/// The finishing step of a big history takes minutes; every unit that lands after the last
/// scrobble page would otherwise run it at the same time. One unit holds it; the same unit's
/// redelivery may take it over, another only once the lease ran out.
#[tokio::test]
async fn one_unit_at_a_time_holds_the_finishing_step() {
    let h = Harness::new().await;
    let lastfm = Lastfm::new();
    let name = format!("x{}", &unique("f")[2..12]);
    lastfm.create_user(&name, 2_000, 24).await;
    let user = unique("claim");
    let now = karaoke_shared::clock::now_secs();
    h.store.put_lastfm_service(&user, &name, now).await.unwrap();
    let SyncRequest::Started { job_id, .. } = request_sync(
        &h.store,
        &h.engine.queues,
        &user,
        karaoke_shared::clock::now_millis(),
        0,
    )
    .await
    .unwrap() else {
        panic!("sync did not start");
    };
    h.engine.start_job(&user, &job_id, 1).await.unwrap();

    // The job is found through the profile's pointer, and without it through the query.
    let job = h.store.latest_job(&user).await.unwrap().unwrap();
    assert_eq!(job.job_id, job_id);
    assert_eq!(job.status.as_str(), "running");
    h.store
        .client()
        .update_item()
        .table_name(h.store.table())
        .key("pk", AttributeValue::S(format!("USER#{user}")))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("REMOVE latest_job")
        .send()
        .await
        .unwrap();
    let found = h.store.latest_job(&user).await.unwrap().unwrap();
    assert_eq!(found.job_id, job_id);

    let claim = |who: &'static str, at: i64| {
        let (store, job) = (h.store.clone(), job.clone());
        async move { store.claim_finalize(&job, who, at, 360).await.unwrap() }
    };
    assert!(claim("7", now).await, "a free step is claimed");
    assert!(!claim("9", now + 10).await, "another unit waits");
    assert!(
        claim("7", now + 20).await,
        "the same unit's redelivery takes over"
    );
    assert!(
        !claim("9", now + 300).await,
        "the renewed lease still holds"
    );
    assert!(claim("9", now + 400).await, "a lease that ran out is free");
    h.cleanup().await;
}
