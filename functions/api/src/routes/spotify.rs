//! Connecting Spotify: the authorize URL with a single-use state bound to the user, and the
//! callback that checks the state, exchanges the code and sends the browser back to the page.

use serde_json::json;
use tracing::{info, warn};

use karaoke_shared::spotify::oauth::authorize_url;
use karaoke_shared::spotify::SpotifyClient;
use karaoke_shared::store::spotify::{SpotifyService, StoredTokens};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;

/// A sign-in must come back within this long.
const STATE_TTL_SECS: i64 = 10 * 60;
const CALLBACK_PATH: &str = "/api/services/spotify/callback";

fn base_url() -> String {
    std::env::var("PUBLIC_BASE_URL")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string()
}

/// The configured client, with the redirect URI derived from the public URL when not set.
fn client(app: &App) -> Result<SpotifyClient, ApiError> {
    let configured = app.spotify.as_ref().ok_or_else(|| {
        ApiError::Unavailable("Spotify is not configured for this service".into())
    })?;
    let mut config = configured.config().clone();
    if config.redirect_uri.is_none() {
        config = config.with_redirect_uri(format!("{}{CALLBACK_PATH}", base_url()));
    }
    Ok(SpotifyClient::with_http(configured.http().clone(), config))
}

pub async fn connect(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let client = client(app)?;
    let state = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    app.ctx
        .store
        .put_oauth_state(&state, user_id, "", call.now + STATE_TTL_SECS)
        .await?;
    Ok(Reply::ok(json!({
        "authorize_url": authorize_url(client.config(), &state, None),
        "expires_in": STATE_TTL_SECS,
    })))
}

/// Back to the page, with the outcome in the query string for the page to show.
fn back(outcome: &str) -> Reply {
    Reply::redirect(format!("{}/?spotify={outcome}", base_url()))
}

pub async fn callback(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let Some(state) = call.query("state").filter(|s| !s.is_empty()) else {
        return Ok(back("error&reason=missing_state"));
    };
    // Taking the state deletes it: a second use finds nothing.
    let Some((user_id, _verifier, expires_at)) = app.ctx.store.take_oauth_state(&state).await?
    else {
        return Ok(back("error&reason=invalid_state"));
    };
    if expires_at < call.now {
        return Ok(back("error&reason=expired_state"));
    }
    if let Some(error) = call.query("error") {
        info!(user_id, error, "Spotify sign-in not granted");
        let reason = if error == "access_denied" {
            "denied"
        } else {
            "refused"
        };
        return Ok(back(&format!("error&reason={reason}")));
    }
    let Some(code) = call.query("code").filter(|c| !c.is_empty()) else {
        return Ok(back("error&reason=missing_code"));
    };
    let client = client(app)?;
    let tokens = match client.exchange_code(&code, call.now).await {
        Ok(t) => t,
        Err(e) => {
            warn!(user_id, error = %e, "Spotify code exchange failed");
            return Ok(back("error&reason=exchange_failed"));
        }
    };
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        return Ok(back("error&reason=exchange_failed"));
    };
    let profile = match client.me(&tokens.access_token).await {
        Ok(p) => p,
        Err(e) => {
            warn!(user_id, error = %e, "Spotify profile lookup failed");
            return Ok(back("error&reason=exchange_failed"));
        }
    };
    let service = SpotifyService {
        spotify_user_id: profile.id,
        display_name: profile.display_name,
        connected_at: call.now,
        status: "connected".into(),
        last_sync_at: None,
        track_count: 0,
        artist_count: 0,
    };
    let stored = StoredTokens {
        access_token: tokens.access_token,
        refresh_token,
        expires_at: tokens.expires_at,
        version: 1,
    };
    app.ctx
        .store
        .put_spotify_connection(&user_id, &service, &stored)
        .await?;
    info!(user_id, "Spotify connected");
    Ok(back("connected"))
}
