//! Spotify: OAuth (authorization code + refresh) and the rules of finishing a sign-in, the user's
//! profile and top artists/tracks, and error classification. Only "top" lists exist on Spotify:
//! up to ~99 items per time range.

pub mod client;
pub mod config;
pub mod error;
pub mod model;
pub mod oauth;
pub mod session;
pub mod sign_in;

pub use client::{http_client, RetryPolicy, SpotifyClient, SECOND_PAGE_OFFSET, TOP_LIMIT};
pub use config::SpotifyConfig;
pub use error::{Disposition, SpotifyError};
pub use model::{validate_time_range, Profile, TopArtist, TopTrack, TIME_RANGES};
pub use oauth::{
    authorize_url, exchange_code, exchange_code_pkce, new_pkce_verifier, pkce_challenge, refresh,
    Tokens, SCOPE,
};
pub use session::{
    ensure_fresh, force_refresh, merge_refreshed, needs_refresh, with_fresh_token, Refreshed,
    REFRESH_MARGIN_SECS,
};
