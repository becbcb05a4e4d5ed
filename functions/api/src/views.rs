//! JSON shapes the API returns. Built from domain values only: secrets never reach here.

use serde_json::{json, Value};

use karaoke_shared::clock::rfc3339;
use karaoke_shared::store::users::LastfmService;
use karaoke_shared::sync::aggregate::TrackState;
use karaoke_shared::sync::job::{Job, JobStatus};

pub fn job(job: &Job, now: i64) -> Value {
    // A job that stopped moving is shown as what it is for the user: unfinished, resumable.
    let stalled = job.is_stalled(now);
    let status = if stalled {
        JobStatus::Partial
    } else {
        job.status
    };
    let mut errors = job.errors.clone();
    if stalled {
        errors.push(
            "The sync stopped making progress. Press Sync to resume where it stopped.".into(),
        );
    }
    json!({
        "job_id": job.job_id,
        "kind": job.kind.as_str(),
        "status": status.as_str(),
        "phase": "Fetching your scrobbles",
        "lastfm_username": job.lastfm_user,
        "pages_total": job.pages_total,
        "pages_done": job.pages_done(),
        "failed_pages": job.failed_pages,
        "scrobbles_total": job.scrobbles_total,
        "scrobbles_done": job.scrobbles_done,
        "percent": job.percent(),
        "created_at": rfc3339(job.created_at),
        "started_at": job.started_at.map(rfc3339),
        "finished_at": job.finished_at.map(rfc3339),
        "duration_seconds": job.started_at.map(|s| job.finished_at.unwrap_or(now) - s),
        "eta_seconds": if stalled { None } else { job.eta_seconds(now) },
        "errors": errors,
    })
}

pub fn lastfm_service(service: &LastfmService, playcount: Option<u64>) -> Value {
    let mut v = json!({
        "service": "lastfm",
        "username": service.username,
        "connected_at": rfc3339(service.connected_at),
        "last_sync_at": service.last_sync_at.map(rfc3339),
    });
    if let Some(p) = playcount {
        v["profile_playcount"] = json!(p);
    }
    v
}

pub fn song(track: &TrackState) -> Value {
    json!({
        "artist": track.artist,
        "title": track.title,
        "album": track.album,
        "sources": ["lastfm"],
        "playcount": track.playcount,
        "first_scrobbled_at": rfc3339(track.first_uts),
        "last_scrobbled_at": rfc3339(track.last_uts),
        "sync_count": track.sync_count,
        "loved": track.loved.unwrap_or(false),
        "karaoke_available": false,
        "karaoke_song_id": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use karaoke_shared::lastfm::Window;
    use karaoke_shared::sync::job::JobKind;

    #[test]
    fn stalled_jobs_read_as_partial_with_a_way_forward() {
        let j = Job {
            user_id: "u".into(),
            job_id: "j".into(),
            kind: JobKind::Full,
            status: JobStatus::Running,
            lastfm_user: "rj".into(),
            generation: "j".into(),
            window: Window::default(),
            pages_total: Some(4),
            done_pages: [1].into(),
            failed_pages: Default::default(),
            scrobbles_total: 800,
            scrobbles_done: 200,
            newest_uts: None,
            created_at: 0,
            started_at: Some(0),
            updated_at: 0,
            finished_at: None,
            errors: vec![],
        };
        let fresh = job(&j, 10);
        assert_eq!(fresh["status"], "running");
        assert_eq!(fresh["percent"], 25);
        assert_eq!(fresh["eta_seconds"], 30);
        let stalled = job(&j, 100_000);
        assert_eq!(stalled["status"], "partial");
        assert!(stalled["errors"][0].as_str().unwrap().contains("resume"));
    }
}
