//! `make demo`: a demo user connected to Last.fm (the stand-in, or the real one) and synced.

use std::time::Duration;

use crate::progress::{follow, thousands};
use crate::stack::{CliResult, Session};

pub async fn run() -> CliResult<()> {
    let lastfm_user = std::env::var("DEMO_LASTFM_USER").unwrap_or_else(|_| "demo".into());
    let user_id = std::env::var("DEMO_USER_ID").unwrap_or_else(|_| "demo-user".into());
    let session = Session::sign_in(&user_id).await?;
    println!("Signed in as {user_id}; connecting Last.fm user {lastfm_user:?}...");
    let r = session
        .call(
            reqwest::Method::PUT,
            "/api/me/services/lastfm",
            Some(serde_json::json!({"username": lastfm_user})),
        )
        .await?;
    if r.status != 200 {
        return Err(format!(
            "connecting Last.fm failed ({}): {}",
            r.status, r.body
        ));
    }
    if let Some(p) = r.body["profile_playcount"].as_u64() {
        println!(
            "Last.fm says {} has {} plays.",
            r.body["username"].as_str().unwrap_or(""),
            thousands(p)
        );
    }
    let job_id = session.start_sync().await?;
    println!("Sync {job_id} started:");
    let job = follow(&session, Duration::from_millis(400)).await?;
    println!(
        "Sync {}: {} scrobbles in {} pages, {} s.",
        job["status"].as_str().unwrap_or("?"),
        thousands(job["scrobbles_done"].as_u64().unwrap_or(0)),
        job["pages_done"],
        job["duration_seconds"]
    );
    for e in job["errors"].as_array().into_iter().flatten() {
        println!("  note: {}", e.as_str().unwrap_or_default());
    }
    let songs = session
        .call(reqwest::Method::GET, "/api/me/songs?limit=10", None)
        .await?;
    println!("\nTop songs:");
    for (i, s) in songs.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        println!(
            "{:>3}. {} - {}  ({} plays)",
            i + 1,
            s["title"].as_str().unwrap_or(""),
            s["artist"].as_str().unwrap_or(""),
            thousands(s["playcount"].as_u64().unwrap_or(0))
        );
    }
    println!("\nMy Data page: {}/", session.base);
    println!(
        "Sign in with {} and the password {}",
        karaoke_local_auth::email_for(&user_id),
        karaoke_local_auth::LOCAL_PASSWORD
    );
    println!(
        "API: {}/api/me/songs with the token `cargo run -q -p karaoke-local-auth -- {user_id}` prints",
        session.base
    );
    Ok(())
}
