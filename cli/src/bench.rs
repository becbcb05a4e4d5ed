//! `make bench-sync`: a full sync of the heavy stand-in user through the local stack, and what
//! it cost. Numbers are printed (and go in docs/PERFORMANCE.md); nothing here asserts timing.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::progress::{follow, thousands};
use crate::stack::{env, CliResult, Session, StandIn};

struct Options {
    latency_ms: u64,
    user: String,
    label: String,
    /// Change the history while the full sync reads it (uploads and deletions), on a copy of
    /// the user made for the run.
    moving: bool,
}

fn parse(args: &[String]) -> CliResult<Options> {
    let mut o = Options {
        latency_ms: 500,
        user: "heavy".into(),
        label: String::new(),
        moving: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--latency-ms" => o.latency_ms = value()?.parse().map_err(|_| "bad --latency-ms")?,
            "--user" => o.user = value()?,
            "--label" => o.label = value()?,
            "--moving" => o.moving = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn count(stats: &Value, method: &str) -> u64 {
    stats["by_method"][method].as_u64().unwrap_or(0)
}

#[derive(Default, Debug)]
struct WorkerUsage {
    invocations: u64,
    reads: u64,
    writes: u64,
    cpu_ms: u64,
    peak_rss_kb: u64,
}

/// Sums the per-invocation usage lines the worker and sync-start log (see runtime::Meter).
fn lambda_usage(since_secs: u64) -> WorkerUsage {
    let mut usage = WorkerUsage::default();
    for function in ["sync-worker", "sync-start"] {
        let out = Command::new("python3")
            .args([
                "infra/lambda_logs.py",
                "-f",
                function,
                "--since",
                &since_secs.to_string(),
            ])
            .output();
        let Ok(out) = out else { continue };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(start) = line.find('{') else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(&line[start..]) else {
                continue;
            };
            let f = &v["fields"];
            if f["message"] != "invocation usage" {
                continue;
            }
            usage.invocations += 1;
            usage.reads += f["dynamo_reads"].as_u64().unwrap_or(0);
            usage.writes += f["dynamo_writes"].as_u64().unwrap_or(0);
            usage.cpu_ms += f["cpu_ms"].as_u64().unwrap_or(0);
            usage.peak_rss_kb = usage
                .peak_rss_kb
                .max(f["peak_rss_kb"].as_u64().unwrap_or(0));
        }
    }
    usage
}

pub async fn sync(args: &[String]) -> CliResult<()> {
    let o = parse(args)?;
    let rate: f64 = env("LASTFM_RATE_LIMIT")?
        .parse()
        .map_err(|_| "bad LASTFM_RATE_LIMIT")?;
    let standin = StandIn::from_env()?;
    let previous = standin.get("/_admin/config").await?;
    standin
        .post(
            "/_admin/config",
            json!({"latency_ms": o.latency_ms, "rate_limit": rate}),
        )
        .await?;
    // The incremental row runs at the same setting as the full sync; the stand-in gets its
    // own setting back whatever happened.
    let outcome = if o.moving {
        moving_history(&standin, &o, rate).await
    } else {
        full_then_incremental(&standin, &o, rate).await
    };
    let restored = standin
        .post(
            "/_admin/config",
            json!({"latency_ms": previous["latency_ms"], "rate_limit": previous["rate_limit"]}),
        )
        .await;
    outcome?;
    restored.map(|_| ())
}

async fn full_then_incremental(standin: &StandIn, o: &Options, rate: f64) -> CliResult<()> {
    let (session, job, wall, before, after) = first_sync(standin, &o.user).await?;
    // Give the log pipeline a moment to take the last invocations' lines.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let usage = lambda_usage(wall as u64 + 30);

    let pages = job["pages_total"].as_u64().unwrap_or(0);
    let scrobbles = job["scrobbles_done"].as_u64().unwrap_or(0).max(1);
    let requests = count(&after, "user.getrecenttracks") - count(&before, "user.getrecenttracks");
    let info_requests = count(&after, "user.getinfo") - count(&before, "user.getinfo");
    let e29 = after["error29"].as_u64().unwrap_or(0) - before["error29"].as_u64().unwrap_or(0);
    let bound = pages as f64 / rate;
    println!("\nstatus: {}  errors: {}", job["status"], job["errors"]);
    println!("| run | scrobbles | pages | latency | rate | wall s | bound s | ratio | Last.fm requests | error 29 | DynamoDB writes/scrobble | reads/scrobble | worker CPU ms/page | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} ms | {} /s | {:.1} | {:.1} | {:.2} | {} (+{} getInfo) | {} | {:.3} | {:.3} | {:.1} | {:.1} |",
        if o.label.is_empty() { &o.user } else { &o.label },
        thousands(scrobbles),
        pages,
        o.latency_ms,
        rate,
        wall,
        bound,
        wall / bound.max(0.001),
        requests,
        info_requests,
        e29,
        usage.writes as f64 / scrobbles as f64,
        usage.reads as f64 / scrobbles as f64,
        usage.cpu_ms as f64 / pages.max(1) as f64,
        usage.peak_rss_kb as f64 / 1024.0,
    );
    if usage.invocations == 0 {
        println!("(no usage lines found in the Lambda logs; worker columns are empty)");
    }
    // The wall above is when this client saw "done". On the local stack that can lag the
    // job's own end by seconds: the sweeps queued at "done" take the single-threaded
    // emulator before the next status request is answered.
    if let Some(job_secs) = job_seconds(&job) {
        println!(
            "job's own time (created -> finished, whole seconds): {job_secs} s, {:.2}x the bound",
            job_secs as f64 / bound.max(0.001)
        );
    }
    incremental(standin, &session, o).await
}

/// A full sync of a copy of the user while its history changes: at three points of the read,
/// a phone uploads 10 plays made offline (back-dated 1-13 days) and the listener deletes 5
/// old scrobbles; then one "Sync now". Prints what the changes cost in Last.fm requests and
/// whether the counts came out exact (the stand-in's truth against the stored total).
async fn moving_history(standin: &StandIn, o: &Options, rate: f64) -> CliResult<()> {
    let source = standin
        .get(&format!("/_admin/truth?user={}", o.user))
        .await?;
    let scrobbles = source["total_scrobbles"].as_u64().unwrap_or(0);
    let copy = format!(
        "moving{}",
        karaoke_shared::clock::now_millis() % 1_000_000_000
    );
    let spec = standin.get("/_admin/users").await?;
    let seed = spec["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["name"] == o.user.as_str()))
        .map_or(1, |u| u["seed"].as_u64().unwrap_or(1));
    standin
        .post(
            "/_admin/users",
            json!({"name": copy, "scrobbles": scrobbles, "seed": seed}),
        )
        .await?;
    let now = karaoke_shared::clock::now_secs();
    let total = scrobbles as usize;
    let pages = total.div_ceil(200);
    for (n, at) in [pages / 5, pages / 2, pages * 4 / 5]
        .into_iter()
        .enumerate()
    {
        let uploads: Vec<Value> = (0..10)
            .map(|i| {
                let back = (1 + (n * 10 + i) % 13) as i64 * 86_400;
                json!({"artist": "Offline Artist", "title": format!("Offline Song {n}-{i}"), "uts": now - back})
            })
            .collect();
        // Old scrobbles, spread over the history below the pages read so far.
        let mut deletions = Vec::new();
        for k in 0..5 {
            let offset = total * (60 + 7 * k + n) / 100;
            let listed = standin
                .get(&format!(
                    "/_admin/scrobbles?user={copy}&offset={offset}&limit=1"
                ))
                .await?;
            if let Some(s) = listed["scrobbles"].get(0) {
                deletions
                    .push(json!({"uts": s["uts"], "artist": s["artist"], "title": s["title"]}));
            }
        }
        standin
            .post(
                "/_admin/edits",
                json!({"user": copy, "after_requests": at, "add": uploads, "delete": deletions}),
            )
            .await?;
    }
    let label = format!("{} (history changing)", o.label);
    let (session, job, wall, before, after) = first_sync(standin, &copy).await?;
    let edits = standin.get(&format!("/_admin/edits?user={copy}")).await?;
    let units = job["pages_total"].as_u64().unwrap_or(0);
    let requests = count(&after, "user.getrecenttracks") - count(&before, "user.getrecenttracks");
    let lists = count(&after, "user.gettopartists") - count(&before, "user.gettopartists")
        + count(&after, "user.getlovedtracks")
        - count(&before, "user.getlovedtracks");
    let planned = units.saturating_sub(1 + lists);
    let e29 = after["error29"].as_u64().unwrap_or(0) - before["error29"].as_u64().unwrap_or(0);
    let bound = units as f64 / rate;
    println!(
        "
status: {}  repairs: {}",
        job["status"], job["repairs"]
    );
    println!("edits applied during the sync: {}", edits["applied"]);
    println!("| run | scrobbles | units | wall s | bound s | ratio | recent-tracks requests | planned pages | finishing step's reads (chain, spans read again, closing count) | error 29 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} |",
        label,
        thousands(scrobbles),
        units,
        wall,
        bound,
        wall / bound.max(0.001),
        requests,
        planned,
        requests.saturating_sub(planned),
        e29,
    );
    let before = standin.get("/_admin/stats").await?;
    let started = Instant::now();
    session.start_sync().await?;
    let again = follow(&session, Duration::from_millis(500)).await?;
    let wall = started.elapsed().as_secs_f64();
    let after = standin.get("/_admin/stats").await?;
    let truth = standin.get(&format!("/_admin/truth?user={copy}")).await?;
    println!(
        "\"Sync now\" after it: status {}, {:.1} s, {} recent-tracks requests, repairs {}",
        again["status"],
        wall,
        count(&after, "user.getrecenttracks") - count(&before, "user.getrecenttracks"),
        again["repairs"]
    );
    println!(
        "the stand-in's history now: {} scrobbles (the copy, {copy}, stays in the stand-in until it restarts)",
        truth["total_scrobbles"]
    );
    Ok(())
}

/// Signs in a new user, connects `lastfm_user` and follows its first sync to the end; returns
/// the session, the finished job, the wall time and the stand-in's stats before and after.
async fn first_sync(
    standin: &StandIn,
    lastfm_user: &str,
) -> CliResult<(Session, Value, f64, Value, Value)> {
    let before = standin.get("/_admin/stats").await?;
    let user_id = format!("bench-{}", karaoke_shared::clock::now_millis());
    let session = Session::sign_in(&user_id).await?;
    let r = session
        .call(
            reqwest::Method::PUT,
            "/api/me/services/lastfm",
            Some(json!({"username": lastfm_user})),
        )
        .await?;
    if r.status != 200 {
        return Err(format!("connect failed: {}", r.body));
    }
    let started = Instant::now();
    session.start_sync().await?;
    let job = follow(&session, Duration::from_secs(1)).await?;
    let wall = started.elapsed().as_secs_f64();
    let after = standin.get("/_admin/stats").await?;
    Ok((session, job, wall, before, after))
}

/// Seconds from the job's creation to its end, from its own timestamps.
fn job_seconds(job: &Value) -> Option<i64> {
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(job[field].as_str()?)
            .ok()
            .map(|t| t.timestamp())
    };
    Some(at("finished_at")? - at("created_at")?)
}

/// The everyday case after the first sync: 10 new scrobbles, then "Sync now".
async fn incremental(standin: &StandIn, session: &Session, o: &Options) -> CliResult<()> {
    let now = karaoke_shared::clock::now_secs();
    let fresh: Vec<Value> = (0..10)
        .map(|i| json!({"artist": "Bench Artist", "title": format!("New Song {i}"), "uts": now - 100 + i}))
        .collect();
    standin
        .post(
            "/_admin/scrobbles",
            json!({"user": o.user, "scrobbles": fresh}),
        )
        .await?;
    // The full sync's sweeps run after its job ends; measure from a quiet queue so the row
    // counts only the incremental's own work.
    let waited = wait_for_quiet_queue(Duration::from_secs(900)).await?;
    println!("\nfull sync's follow-up work (sweeps) done {waited:.0} s after it reported done");
    let user_key = o.user.to_lowercase();
    let before = standin.get("/_admin/stats").await?;
    let started = Instant::now();
    session.start_sync().await?;
    let job = follow(session, Duration::from_millis(200)).await?;
    let wall = started.elapsed().as_secs_f64();
    let after = standin.get("/_admin/stats").await?;
    // Its own sweeps are part of its cost.
    let follow_up = wait_for_quiet_queue(Duration::from_secs(900)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let usage = lambda_usage(started.elapsed().as_secs() + 5);
    let requests = after["by_user"][&user_key].as_u64().unwrap_or(0)
        - before["by_user"][&user_key].as_u64().unwrap_or(0);
    println!(
        "\nincremental sync after 10 new scrobbles: status {}, repairs {}",
        job["status"], job["repairs"]
    );
    println!("| run | new scrobbles | units | Last.fm requests | wall s | sweeps after, s | DynamoDB writes | reads |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} incremental | 10 | {} | {} | {:.1} | {:.1} | {} | {} |",
        if o.label.is_empty() {
            &o.user
        } else {
            &o.label
        },
        job["pages_total"],
        requests,
        wall,
        follow_up,
        usage.writes,
        usage.reads
    );
    Ok(())
}

/// Waits until the page queue holds no message, visible, in flight or delayed (three quiet
/// looks in a row); returns how long that took. A queue still busy at `limit` is reported, and
/// the bench goes on with that noted.
async fn wait_for_quiet_queue(limit: Duration) -> CliResult<f64> {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let config = karaoke_shared::aws::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = env("PAGE_QUEUE_URL")?;
    let started = Instant::now();
    let mut quiet = 0;
    while started.elapsed() < limit {
        let out = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(Name::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| format!("reading the page queue: {e}"))?;
        let waiting: u64 = out
            .attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        quiet = if waiting == 0 { quiet + 1 } else { 0 };
        if quiet >= 3 {
            return Ok(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "(the page queue was still busy after {} s)",
        limit.as_secs()
    );
    Ok(started.elapsed().as_secs_f64())
}
