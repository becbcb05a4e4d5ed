//! JSON shapes the API returns. Built from domain values only: secrets never reach here.

use serde_json::{json, Value};

use karaoke_shared::catalog::store::CatalogHit;
use karaoke_shared::clock::rfc3339;
use karaoke_shared::store::attr::{self, Item};
use karaoke_shared::store::library::{ArtistRow, KnownSong, SongRow};
use karaoke_shared::store::spotify::SpotifyService;
use karaoke_shared::store::users::LastfmService;
use karaoke_shared::sung::SungSummary;
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
        "phase": job.phase(),
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
        "reconcile": job.reconcile,
        "repairs": job.repairs,
        "errors": errors,
    })
}

pub fn lastfm_service(service: &LastfmService, playcount: Option<u64>) -> Value {
    let mut v = json!({
        "service": "lastfm",
        "connected": true,
        "status": "connected",
        "username": service.username,
        "connected_at": rfc3339(service.connected_at),
        "last_sync_at": service.last_sync_at.map(rfc3339),
        "tracks": service.track_count,
    });
    if let Some(p) = playcount {
        v["profile_playcount"] = json!(p);
    }
    v
}

pub fn spotify_service(service: &SpotifyService) -> Value {
    json!({
        "service": "spotify",
        "connected": true,
        "status": service.status,
        "username": service.spotify_user_id,
        "display_name": service.display_name,
        "connected_at": rfc3339(service.connected_at),
        "last_sync_at": service.last_sync_at.map(rfc3339),
        "tracks": service.track_count,
        "artists": service.artist_count,
    })
}

/// Sources in a fixed order, so clients can compare lists.
fn sources(lastfm: bool, spotify: bool, manual: bool, quiz: bool) -> Vec<&'static str> {
    [
        (lastfm, "lastfm"),
        (spotify, "spotify"),
        (quiz, "quiz"),
        (manual, "manual"),
    ]
    .into_iter()
    .filter_map(|(has, name)| has.then_some(name))
    .collect()
}

/// `sung`: the user's record of singing this row's karaoke version, if any.
pub fn song(row: &SongRow, karaoke: Option<&CatalogHit>, sung: Option<&SungSummary>) -> Value {
    let mut v = json!({
        "artist": row.artist,
        "title": row.title,
        "album": row.album,
        "sources": sources(
            row.lastfm.is_some() || row.lastfm_loved,
            row.spotify.is_some(),
            row.known_song_id.is_some(),
            false
        ),
        "playcount": row.lastfm.as_ref().map(|l| l.playcount),
        "first_scrobbled_at": row.lastfm.as_ref().map(|l| rfc3339(l.first_uts)),
        "last_scrobbled_at": row.lastfm.as_ref().map(|l| rfc3339(l.last_uts)),
        "sync_count": row.lastfm.as_ref().map_or(0, |l| l.sync_count),
        "loved": row.loved,
        "karaoke_available": karaoke.is_some(),
        "karaoke_song_id": karaoke.map(|k| k.song_id.clone()),
    });
    if let Some(sp) = &row.spotify {
        v["spotify_rank"] = json!(sp.rank);
        v["spotify_time_range"] = json!(sp.time_range);
        if let Some(p) = sp.popularity {
            v["spotify_popularity"] = json!(p);
        }
    }
    if let Some(id) = &row.known_song_id {
        v["known_song_id"] = json!(id);
    }
    // Absent, not zero, for songs never sung: clients show "Sung 3×" only when it is there.
    if let Some(s) = sung {
        v["times_sung"] = json!(s.times_sung);
        v["last_sung_at"] = json!(s.last_sung_at.map(rfc3339));
        v["rating"] = json!(s.rating);
        v["would_sing_again"] = json!(s.would_sing_again);
        v["favorite"] = json!(s.is_favorite());
    }
    v
}

pub fn artist(row: &ArtistRow) -> Value {
    let mut v = json!({
        "name": row.name,
        "sources": sources(row.lastfm_playcount.is_some(), row.spotify.is_some(), row.manual_added_at.is_some(), row.quiz),
        "manual": row.manual_added_at.is_some(),
    });
    if let Some(p) = row.lastfm_playcount {
        v["lastfm_playcount"] = json!(p);
    }
    if let Some(r) = row.lastfm_rank {
        v["lastfm_rank"] = json!(r);
    }
    if let Some(sp) = &row.spotify {
        v["spotify_rank"] = json!(sp.rank);
        v["spotify_time_range"] = json!(sp.time_range);
        // Development Mode apps get no popularity: the field is absent, never zero.
        if let Some(p) = sp.popularity {
            v["spotify_popularity"] = json!(p);
        }
    }
    v
}

pub fn known_song(song: &KnownSong) -> Value {
    json!({
        "song_id": song.song_id,
        "artist": song.artist,
        "title": song.title,
        "notes": song.notes,
        "added_at": rfc3339(song.added_at),
    })
}

/// One entry of a source's ranked list, as stored by its sync.
pub fn top_track(item: &Item) -> Value {
    let text = |name: &str| attr::get_s_opt(item, name).ok().flatten();
    let number = |name: &str| attr::get_n_opt::<u64>(item, name).ok().flatten();
    let mut v = json!({
        "rank": number("rank"),
        "artist": text("artist"),
        "title": text("title"),
        "album": text("album"),
        "spotify_id": text("spotify_id"),
        "duration_ms": number("duration_ms"),
    });
    if let Some(p) = number("popularity") {
        v["popularity"] = json!(p);
    }
    v
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
            spotify: false,
            reconcile: false,
            windows: vec![],
            repairs: vec![],
            pages_total: Some(4),
            plan: karaoke_shared::sync::job::UnitPlan {
                scrobble_pages: 4,
                ..Default::default()
            },
            done_pages: [1].into(),
            failed_pages: Default::default(),
            folded_pages: Default::default(),
            prior_rows: None,
            scrobbles_total: 800,
            scrobbles_done: 200,
            tracks_added: 0,
            artists_total: 0,
            newest_uts: None,
            created_at: 0,
            started_at: Some(0),
            updated_at: 0,
            finished_at: None,
            errors: vec![],
            scheduled: false,
            units_sent: 0,
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
