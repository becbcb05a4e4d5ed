//! Exactly-once counting under the failures SQS and Lambda really produce: redelivery, the same
//! page on two workers at once, a worker that dies after writing part of a page, and a
//! finishing step that dies part-way through folding the pages into the tracks. The engine
//! is the production code against the real (emulated) DynamoDB and SQS; the test plays the
//! Lambda runtime so it can misbehave on purpose.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use futures::future::join_all;
use karaoke_shared::sync::control::{request_sync, SyncRequest};
use karaoke_shared::sync::messages::{StartMessage, WorkMessage};
use karaoke_tests::engine_harness::Harness;
use karaoke_tests::{assert_songs_match_truth, unique, Api, Lastfm};
use std::sync::atomic::Ordering;

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Every message is handled twice, one after the other (SQS at-least-once delivery).
    Redeliver,
    /// Every message is handled by two workers at the same time.
    Concurrent,
    /// The first attempt at each page dies after a few writes; the retry must finish it.
    CrashMidPage,
    /// Every attempt at a unit dies after more writes than the one before, until one
    /// finishes: the finishing step, which folds all pages into the tracks, dies part-way
    /// through that fold (the test checks it did) and is taken up again each time.
    CrashUntilDone,
}

/// Runs one delivery of `message` and kills it once it has made `allowed` more DynamoDB
/// writes; returns whether it was killed (false: it finished first).
async fn killed_after_writes(
    h: &Harness,
    message: &WorkMessage,
    attempt: u32,
    allowed: u64,
) -> bool {
    let writes = &h.store.metrics.writes;
    let crash_at = writes.load(Ordering::Relaxed) + allowed;
    let watcher = async {
        while writes.load(Ordering::Relaxed) < crash_at {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    // Dropping the future mid-flight is what a killed process looks like.
    tokio::select! {
        r = h.engine.run(message.clone(), attempt) => { r.unwrap(); false }
        _ = watcher => true,
    }
}

async fn run_with(misbehaviour: Misbehaviour, scrobbles: u64, seed: u64) {
    let h = Harness::new().await;
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
    assert!(
        matches!(started, SyncRequest::Started { .. }),
        "{started:?}"
    );

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

    let truth = lastfm.truth(&name).await;
    let truth_tracks = truth["tracks"].as_array().unwrap().len();
    let mut folds_cut = 0;
    let mut idle_rounds = 0;
    let mut handled = 0;
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
                Misbehaviour::CrashMidPage => {
                    let allowed = 2 + (handled % 9) as u64;
                    killed_after_writes(&h, &message, d.receive_count, allowed).await;
                    h.engine.run(message, d.receive_count + 1).await.unwrap();
                }
                Misbehaviour::CrashUntilDone => {
                    let mut allowed = 3u64;
                    let mut attempt = d.receive_count;
                    while killed_after_writes(&h, &message, attempt, allowed).await {
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
    if matches!(misbehaviour, Misbehaviour::CrashUntilDone) {
        assert!(
            folds_cut > 0,
            "no attempt died with part of the tracks written"
        );
    }
    h.cleanup().await;
}

#[tokio::test]
async fn redelivered_messages_count_once() {
    run_with(Misbehaviour::Redeliver, 2_000, 21).await;
}

#[tokio::test]
async fn the_same_page_on_two_workers_at_once_counts_once() {
    run_with(Misbehaviour::Concurrent, 2_000, 22).await;
}

#[tokio::test]
async fn a_worker_dying_mid_page_loses_and_doubles_nothing() {
    run_with(Misbehaviour::CrashMidPage, 2_000, 23).await;
}

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
