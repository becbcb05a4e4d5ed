//! Connecting Spotify: the authorize URL with a single-use state bound to the user; the public
//! callback, which only hands Spotify's code and state to the page (in the URL fragment); and
//! the signed-in completion, which links the account only for the user the state was issued to
//! (see [`karaoke_shared::spotify::sign_in`] for why the callback itself may not).

use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use karaoke_shared::spotify::oauth::authorize_url;
use karaoke_shared::spotify::sign_in::{
    callback_outcome, may_complete, CallbackOutcome, IssuedState, StateRefusal, STATE_TTL_SECS,
};
use karaoke_shared::spotify::SpotifyClient;
use karaoke_shared::store::spotify::{SpotifyService, StoredTokens};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate::{json_body, spotify_code, spotify_state};
use crate::views;

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

/// Spotify's redirect. No token comes with it, so it links nothing: the code and state go on to
/// the page in the fragment, and the page completes the sign-in as its signed-in user. A refused
/// sign-in uses its state up (best effort: the completion would refuse a stale state anyway).
pub async fn callback(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let state = call.query("state");
    let code = call.query("code");
    let error = call.query("error");
    match callback_outcome(state.as_deref(), code.as_deref(), error.as_deref()) {
        CallbackOutcome::ToPage { fragment } => {
            Ok(Reply::redirect(format!("{}/#{fragment}", base_url())))
        }
        CallbackOutcome::Refused { reason, consume } => {
            let user_id = match consume {
                Some(state) => match app.ctx.store.take_oauth_state(state).await {
                    Ok(taken) => taken.map(|(user_id, _, _)| user_id),
                    Err(e) => {
                        warn!(error = %e, "could not use up a refused Spotify sign-in's state");
                        None
                    }
                },
                None => None,
            };
            info!(user_id, error, reason, "Spotify sign-in not granted");
            Ok(back(&format!("error&reason={reason}")))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    code: String,
    state: String,
}

/// The page, signed in, finishes the sign-in with the code and state the callback handed it.
/// The state is taken (so used up) first; the code is exchanged only when the state was issued
/// to this very user, and not expired.
pub async fn complete(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let body: Complete = json_body(call.body())?;
    let code = spotify_code(&body.code)?;
    let state = spotify_state(&body.state)?;
    let client = client(app)?;
    let taken = app.ctx.store.take_oauth_state(state).await?;
    let issued = taken
        .as_ref()
        .map(|(issued_to, _verifier, expires_at)| IssuedState {
            user_id: issued_to,
            expires_at: *expires_at,
        });
    if let Err(refusal) = may_complete(issued, user_id, call.now) {
        if refusal == StateRefusal::OtherUser {
            warn!(
                user_id,
                issued_to = issued.map(|i| i.user_id),
                "Spotify sign-in started from another account refused; nothing linked"
            );
        } else {
            info!(user_id, ?refusal, "Spotify sign-in not completed");
        }
        return Err(refusal.into());
    }
    let tokens = client.exchange_code(code, call.now).await.map_err(|e| {
        warn!(user_id, error = %e, "Spotify code exchange failed");
        ApiError::Upstream(
            "Spotify did not complete the sign-in, so nothing was linked; connect Spotify again"
                .into(),
        )
    })?;
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        warn!(user_id, "Spotify granted no refresh token");
        return Err(ApiError::Upstream(
            "Spotify granted no lasting access, so nothing was linked; connect Spotify again"
                .into(),
        ));
    };
    let profile = client.me(&tokens.access_token).await.map_err(|e| {
        warn!(user_id, error = %e, "Spotify profile lookup failed");
        ApiError::Upstream(
            "Spotify did not give us your profile, so nothing was linked; connect Spotify again"
                .into(),
        )
    })?;
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
        .put_spotify_connection(user_id, &service, &stored)
        .await?;
    info!(user_id, "Spotify connected");
    Ok(Reply::ok(views::spotify_service(&service)))
}
