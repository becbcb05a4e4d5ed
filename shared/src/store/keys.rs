//! Key layout of the single table (see docs/DATA-MODEL.md).

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub const PROFILE_SK: &str = "PROFILE";
pub const LASTFM_SERVICE_SK: &str = "SERVICE#lastfm";
pub const SPOTIFY_SERVICE_SK: &str = "SERVICE#spotify";
/// Tokens live apart from the service item so that no read of the service can leak them.
pub const SPOTIFY_SECRET_SK: &str = "SECRET#spotify";

pub fn oauth_state_pk(state: &str) -> String {
    format!("OAUTH#{state}")
}

/// Sign-in states live outside the user's partition (the callback knows only the state), so
/// they are also indexed by user: erasing an account must be able to find them.
pub fn oauth_states_gsi_pk(user_id: &str) -> String {
    format!("OAUTHUSER#{user_id}")
}

/// The value of the profile's `active_job` while an erase holds the sync lock; no job id has
/// this shape, so no sync can take the lock over as "its own".
pub fn erase_lock(erase_id: &str) -> String {
    format!("ERASE#{erase_id}")
}

pub fn job_sk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

pub const JOB_PREFIX: &str = "JOB#";

pub fn track_sk(key: &str) -> String {
    format!("TRACK#{key}")
}

pub const TRACK_PREFIX: &str = "TRACK#";

pub fn ledger_sk(job_id: &str, page: u32) -> String {
    format!("LEDGER#{job_id}#{page:06}")
}

/// One part of one month of the scrobble archive (a month too big for one item spans parts).
pub fn archive_sk(month: &str, part: usize) -> String {
    format!("ARCH#{month}#{part:02}")
}

pub const ARCHIVE_PREFIX: &str = "ARCH#";
/// Which months the archive holds, with their scrobble and part counts.
pub const ARCHIVE_INDEX_SK: &str = "ARCHIVE";

/// The keys one page of a Last.fm list (`artists`, `loved`) held in one refresh: the refresh
/// rewrites only rows that changed, so the sweep needs this to tell unchanged rows from gone ones.
pub fn list_seen_sk(job_id: &str, list: &str, page: u32) -> String {
    format!("SEEN#{job_id}#{list}#{page:06}")
}

pub fn list_seen_prefix(job_id: &str, list: &str) -> String {
    format!("SEEN#{job_id}#{list}#")
}

/// The change a window re-read found, recorded once before it is applied (see sync::finalize).
pub fn window_diff_prefix(job_id: &str) -> String {
    format!("WDIFF#{job_id}#")
}

pub fn window_diff_sk(job_id: &str, part: usize) -> String {
    format!("WDIFF#{job_id}#P{part:03}")
}

pub fn window_diff_marker_sk(job_id: &str) -> String {
    format!("WDIFF#{job_id}#M")
}

/// The "Songs You Know" index partition of one user.
pub fn songs_gsi_pk(user_id: &str) -> String {
    format!("SONGS#{user_id}")
}

/// Sort key in the songs index for a song Last.fm has plays of (see `library::sort_key`).
pub fn lastfm_song_sort(playcount: u64, key: &str) -> String {
    crate::library::sort_key(Some(playcount), None, None, key)
}

pub fn artist_sk(key: &str) -> String {
    format!("ARTIST#{key}")
}

pub const ARTIST_PREFIX: &str = "ARTIST#";

/// The "Artists You Know" index partition of one user.
pub fn artists_gsi_pk(user_id: &str) -> String {
    format!("ARTISTS#{user_id}")
}

pub fn known_sk(song_id: &str) -> String {
    format!("KNOWN#{song_id}")
}

pub const KNOWN_PREFIX: &str = "KNOWN#";

pub fn loved_sk(track_key: &str) -> String {
    format!("LOVED#{track_key}")
}

pub const LOVED_PREFIX: &str = "LOVED#";
pub const PREFS_SK: &str = "PREFS";

pub fn top_sk(source: &str, time_range: &str, rank: u32) -> String {
    format!("TOP#{source}#{time_range}#{rank:04}")
}

pub fn top_prefix(source: &str, time_range: &str) -> String {
    format!("TOP#{source}#{time_range}#")
}

/// The index partition of connected Last.fm accounts, sorted by when each is next due.
pub const LASTFM_DUE_PK: &str = "DUE#lastfm";
/// The same for connected Spotify accounts, so that a user with only Spotify is refreshed too.
pub const SPOTIFY_DUE_PK: &str = "DUE#spotify";

pub fn due_sort(due: i64, user_id: &str) -> String {
    format!("{due:012}#{user_id}")
}

pub const RATE_PK: &str = "RATE#lastfm";
pub const RATE_SK: &str = "RATE";

/// Catalog songs are also indexed by their id, for "add this song" by id.
pub fn catalog_id_gsi_pk(id: &str) -> String {
    format!("CATALOGID#{id}")
}

/// A per-user limit's counter (`LIMIT#<what>`), in the user's partition.
pub fn limit_sk(what: &str) -> String {
    format!("LIMIT#{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn song_sort_keys_put_bigger_playcounts_first() {
        let mut keys = [
            lastfm_song_sort(3, "k1"),
            lastfm_song_sort(1200, "k2"),
            lastfm_song_sort(40, "k3"),
        ];
        keys.sort();
        assert!(keys[0].ends_with("k2") && keys[1].ends_with("k3") && keys[2].ends_with("k1"));
        assert_eq!(ledger_sk("j", 7), "LEDGER#j#000007");
    }
}
