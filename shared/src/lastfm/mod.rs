//! The Last.fm API: client, response parsing, error classification.

pub mod client;
pub mod error;
pub mod loved;
pub mod model;
pub mod top_artists;

pub use client::{LastfmClient, RateGate, RetryPolicy, Window, LIST_PAGE_LIMIT, PAGE_LIMIT};
pub use error::{Disposition, LastfmError};
pub use model::{RecentTracksPage, Scrobble, UserInfo};
