//! A one-line terminal progress bar fed by `GET /api/me/sync`.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::stack::{CliResult, Session};

pub fn render(job: &Value) -> String {
    let percent = job["percent"].as_u64().unwrap_or(0).min(100) as usize;
    let filled = percent * 30 / 100;
    let eta = match job["eta_seconds"].as_u64() {
        Some(s) => format!(" ETA {}:{:02}", s / 60, s % 60),
        None => String::new(),
    };
    format!(
        "[{}{}] {:>3}%  {}/{} pages  {} scrobbles{}",
        "#".repeat(filled),
        ".".repeat(30 - filled),
        percent,
        job["pages_done"].as_u64().unwrap_or(0),
        job["pages_total"]
            .as_u64()
            .map_or("?".to_string(), |t| t.to_string()),
        thousands(job["scrobbles_done"].as_u64().unwrap_or(0)),
        eta
    )
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Redraws the bar until the job ends; returns the final job.
pub async fn follow(session: &Session, poll: Duration) -> CliResult<Value> {
    let mut stdout = std::io::stdout();
    // A busy emulator can time the API out now and then; the sync goes on regardless, so a
    // few 5xx answers in a row are waited out rather than ending the watch.
    let mut unavailable = 0;
    loop {
        let r = session
            .call(reqwest::Method::GET, "/api/me/sync", None)
            .await?;
        if r.status >= 500 && unavailable < 10 {
            unavailable += 1;
            tokio::time::sleep(poll.max(Duration::from_secs(2))).await;
            continue;
        }
        unavailable = 0;
        if r.status != 200 {
            return Err(format!(
                "GET /api/me/sync answered {}: {}",
                r.status, r.body
            ));
        }
        let _ = write!(stdout, "\r{}\x1b[K", render(&r.body));
        let _ = stdout.flush();
        let status = r.body["status"].as_str().unwrap_or("");
        if !matches!(status, "queued" | "running") {
            let _ = writeln!(stdout);
            return Ok(r.body);
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_shows_percent_pages_scrobbles_and_eta() {
        let job = serde_json::json!({"percent": 50, "pages_done": 5, "pages_total": 10, "scrobbles_done": 1234, "eta_seconds": 75});
        let line = render(&job);
        assert!(
            line.starts_with(&format!("[{}{}]", "#".repeat(15), ".".repeat(15))),
            "{line}"
        );
        assert!(
            line.contains(" 50%  5/10 pages  1,234 scrobbles ETA 1:15"),
            "{line}"
        );
        assert_eq!(thousands(219_625), "219,625");
        assert_eq!(thousands(12), "12");
    }
}
