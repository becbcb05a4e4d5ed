//! `karaoke rebuild`: recomputes users' Last.fm counts from their stored scrobble archive
//! (after the normalisation rules change, say), without asking Last.fm. Each rebuild is a job
//! run by the deployed workers; `--wait` follows them to the end.

use std::time::{Duration, Instant};

use karaoke_shared::queue::Queues;
use karaoke_shared::store::Store;
use karaoke_shared::sync::control::{request_rebuild, RebuildRequest};

use crate::progress::thousands;
use crate::stack::{env, CliResult};

const USAGE: &str = "usage: karaoke rebuild (--user USER_ID ... | --all) [--wait]";

pub async fn run(args: &[String]) -> CliResult<()> {
    let mut users = Vec::new();
    let mut all = false;
    let mut wait = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--user" => users.push(it.next().cloned().ok_or(USAGE)?),
            "--all" => all = true,
            "--wait" => wait = true,
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    // Exactly one of --user and --all.
    if users.is_empty() != all {
        return Err(USAGE.into());
    }
    let (db, sqs) = karaoke_shared::aws::clients().await;
    let store = Store::new(db, env("TABLE_NAME")?);
    let queues = Queues::new(sqs, env("START_QUEUE_URL")?, env("PAGE_QUEUE_URL")?);
    if all {
        // Every user with a Last.fm account, from the schedule's index (no table scan).
        users = store
            .users_due_for_lastfm(i64::MAX / 4, usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let mut jobs = Vec::new();
    for user in &users {
        let now = karaoke_shared::clock::now_millis();
        match request_rebuild(&store, &queues, user, now)
            .await
            .map_err(|e| e.to_string())?
        {
            RebuildRequest::Started {
                job_id,
                pages,
                scrobbles,
            } => {
                println!(
                    "{user}: rebuilding {} scrobbles in {pages} pages (job {job_id})",
                    thousands(scrobbles)
                );
                jobs.push((user.clone(), job_id));
            }
            RebuildRequest::Busy { job_id } => {
                println!("{user}: skipped, job {job_id} is running");
            }
            RebuildRequest::NothingToRebuild => {
                println!("{user}: skipped, no completed Last.fm sync to rebuild from");
            }
        }
    }
    if wait {
        for (user, job_id) in &jobs {
            loop {
                let job = store
                    .get_job(user, job_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("job {job_id} vanished"))?;
                if !job.status.is_active() {
                    println!(
                        "{user}: {} ({} tracks)",
                        job.status.as_str(),
                        job.tracks_added
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    println!(
        "{} rebuild(s) started in {:.1} s",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
