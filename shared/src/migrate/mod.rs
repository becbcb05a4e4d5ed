//! The legacy migration (Phase C): imports the older system's `user_songs` records (an export of
//! JSON lines) into the new model. `docs/MIGRATION.md` has the same mapping with examples.
//!
//! * [`record`]: one line → a typed [`LegacyRecord`] → a [`Plan`] (pure; bad lines are rejected
//!   with their line number and a reason naming the field).
//! * [`apply`]: what a plan does to each item it touches, decided from the item read (pure), and
//!   the guarded writes.
//! * [`run`]: streaming a file chunk by chunk, the restart point, `--dry-run`, the report.
//!
//! # Mapping
//!
//! A record lands on the user's song row `USER#<user_id>` / `TRACK#<track key>` (the
//! `TrackIdentity` key of its artist and title, so it meets the row a real sync writes for the
//! same song), and, depending on what it says, on a known song `KNOWN#<song id>` and a sung
//! record `SUNG#<song id>`.
//!
//! | legacy field | new home |
//! |---|---|
//! | `id` | key of the record's entry in the `legacy` map of every item it writes (the per-record marker that makes re-runs change nothing) |
//! | `user_id` | the partition `USER#<user_id>` (must pass `auth::valid_user_id`) |
//! | `source = lastfm` | the row's Last.fm part (as the sync writes it, `generation = "legacy"`) |
//! | `source = spotify` | the row's Spotify part (`sp_*`) when the record has a rank |
//! | `source = manual / known_songs / quiz` | a known song, and the row's hand-added part (`known_song_id`, `known_added_at`) |
//! | `artist`, `title` | the row (`artist`, `title`, `track_key`); absent, a catalog `song_id`'s names stand in |
//! | `song_id` | id of the known song and sung record: a catalog id as is; a composite id (`source:artist:title`) or none becomes the catalog id when the catalog has the song (by match key), else stays (or is made) composite |
//! | `play_count` (old name: syncs that saw the song) | `sync_count` of the Last.fm part, when `sync_count` is absent |
//! | `sync_count` | `sync_count` of the Last.fm part (wins over `play_count`) |
//! | `playcount` (a real Last.fm count) | `playcount` of the Last.fm part; absent: 0 (no count is invented) |
//! | `last_played_at` | `last_uts` of the Last.fm part (else `created_at`) |
//! | `created_at` | `first_uts` of the Last.fm part (the earliest date the record proves), `added_at` of a known song |
//! | `rank` | Spotify: `sp_rank`, in time range `medium_term` (the old system kept none; Spotify's default); Last.fm: kept on the entry |
//! | `spotify_popularity` | Spotify: `sp_popularity` (absent stays absent); otherwise kept on the entry |
//! | `is_saved = true` | a known song (a saved song is one the user knows) |
//! | `notes` | the known song's `notes` (cut to 500 characters); otherwise kept on the entry |
//! | `times_sung`, `last_sung_at`, `average_rating` | a sung record: `times_sung` (at least 1), `last_sung_at`, `average_rating` and `rating` (rounded), `source = "legacy"`, no `version`, and the sung list's index attributes (`sung::store::sung_index_attributes`), for the sung-songs code to list and extend |
//! | `has_karaoke_version` | not migrated: "karaoke available" comes from the catalog at read time (kept on the entry) |
//! | `duration_ms`, `explicit`, `updated_at` | kept on the entry |
//!
//! Records meeting on one item combine: Last.fm play counts add up (spellings that fold to one
//! track, as a real sync counts them), `sync_count` is the largest, dates the widest; the best
//! Spotify rank wins; the earliest-added known song wins and notes are joined; the sung record
//! takes the largest `times_sung` and the latest `last_sung_at`.
//!
//! # Guarantees
//!
//! * Idempotent: every owned attribute is derived from the `legacy` map and SET, never added
//!   to; a record already applied writes nothing, so a second run changes nothing, not even a
//!   version.
//! * Never clobbers newer data: a part written by a real sync (a Last.fm part of a real
//!   generation, a Spotify part a refresh wrote) or by the user (a known song added through the
//!   API, a sung record extended by a survey) is left alone, and no legacy Last.fm (Spotify) part
//!   is written for a user whose Last.fm account has completed a full sync (whose Spotify lists
//!   were refreshed). A real sync later rebuilds a legacy Last.fm part's counts and carries its
//!   `sync_count` over (+1), and its sweep drops legacy parts Last.fm does not know.
//! * Resumable: a restart point per migration name, saved every chunk.
//! * Bad records are rejected with their line numbers and never stop the run.

pub mod apply;
pub mod record;
pub mod run;

pub use self::record::{parse_line, LegacyRecord, Plan, Rejection, Source};
pub use self::run::{
    migrate_file, migrate_reader, MigrationCheckpoint, MigrationProgress, MigrationReport,
    RunOptions,
};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot open the export {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("reading the export failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
