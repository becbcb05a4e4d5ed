//! Syncing a user's listening history: the pure rules and the pipeline built from them.

pub mod aggregate;
pub mod archive;
mod backoff;
pub mod control;
pub mod engine;
mod finalize;
pub mod job;
pub mod messages;
pub mod reader;
pub mod schedule;
pub mod spotify_unit;

use crate::cursor::CursorError;
use crate::lastfm::LastfmError;
use crate::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Lastfm(#[from] LastfmError),
    #[error(transparent)]
    Spotify(#[from] crate::spotify::SpotifyError),
    #[error("sweep cursor: {0}")]
    Cursor(#[from] CursorError),
}
