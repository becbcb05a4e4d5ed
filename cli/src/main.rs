//! `karaoke`: local tooling around the stack (demo, benchmarks, imports).

mod bench;
mod bench_api;
mod catalog;
mod demo;
mod migrate;
mod progress;
mod rebuild;
mod stack;

use std::process::ExitCode;

const USAGE: &str = "usage: karaoke <command> [options]

commands:
  demo                 sync a demo user end to end with a progress bar (needs `make up`)
  bench-sync           sync the 219,625-scrobble user and print what it cost
      --latency-ms N   stand-in latency per request (default 500)
      --user NAME      stand-in user (default heavy)
      --label TEXT     name of this run in the printed table
  bench-api            fill a 50,000-song library; time its first and hundredth pages
  import-catalog FILE  load a karaoke catalog CSV (Id,Artist,Title,Brands) into the table
      --name NAME      restart point name (default: the file name)
      --dry-run        check the file without writing
  migrate-legacy FILE  import the old system's user_songs export (JSON lines) [--name NAME] [--dry-run]
  rebuild              recompute Last.fm counts from the stored scrobbles, without Last.fm
      --user USER_ID   this user (repeatable), or --all for every user; --wait to follow

environment: API_URL, USER_POOL_ID, USER_POOL_CLIENT_ID, PUBLIC_BASE_URL, LASTFM_ADMIN_URL, LASTFM_RATE_LIMIT (from .local/stack.env),
  DEMO_LASTFM_USER (default demo; a real username when LASTFM_API_URL points at Last.fm)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::run().await,
        Some("bench-sync") => bench::sync(&args[1..]).await,
        Some("import-catalog") => catalog::import(&args[1..]).await,
        Some("bench-api") => bench_api::run().await,
        Some("migrate-legacy") => migrate::run(&args[1..]).await,
        Some("rebuild") => rebuild::run(&args[1..]).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
