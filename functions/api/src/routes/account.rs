//! The signed-in user's overview, services and preferences; the page's start-up settings.

use serde_json::json;

use karaoke_shared::library::Preferences;

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate::{input_error, json_body};
use crate::views;

/// What the page needs before sign-in: which sign-in to offer.
pub fn config(_app: &App) -> Result<Reply, ApiError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let cognito = match (env("COGNITO_BASE_URL"), env("USER_POOL_CLIENT_ID")) {
        (Some(base), Some(client_id)) => json!({
            "domain": base,
            "client_id": client_id,
            "redirect_uri": env("PUBLIC_BASE_URL").unwrap_or_default(),
        }),
        _ => serde_json::Value::Null,
    };
    Ok(Reply::ok(json!({ "cognito": cognito })))
}

async fn services_view(app: &App, user_id: &str) -> Result<serde_json::Value, ApiError> {
    let lastfm = app.ctx.store.get_lastfm_service(user_id).await?;
    let spotify = app.ctx.store.get_spotify_service(user_id).await?;
    Ok(json!([
        match &lastfm {
            Some(s) => views::lastfm_service(s, None),
            None => json!({"service": "lastfm", "connected": false, "status": "not_connected"}),
        },
        match &spotify {
            Some(s) => views::spotify_service(s),
            None => json!({"service": "spotify", "connected": false, "status": "not_connected"}),
        },
    ]))
}

pub async fn services(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    Ok(Reply::ok(
        json!({"services": services_view(app, user_id).await?}),
    ))
}

pub async fn summary(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let store = &app.ctx.store;
    let lastfm = store.get_lastfm_service(user_id).await?;
    let spotify = store.get_spotify_service(user_id).await?;
    let known = store.known_songs(user_id).await?.len();
    let manual_artists = store.profile_counter(user_id, "manual_artists").await?;
    let last_sync = store.latest_job(user_id).await?;
    Ok(Reply::ok(json!({
        "counts": {
            "songs": {
                "lastfm": lastfm.as_ref().map_or(0, |s| s.track_count),
                "spotify": spotify.as_ref().map_or(0, |s| s.track_count),
                "manual": known,
            },
            "artists": {
                "lastfm": lastfm.as_ref().map_or(0, |s| s.artist_count),
                "spotify": spotify.as_ref().map_or(0, |s| s.artist_count),
                "manual": manual_artists,
                "quiz": 0,
            },
        },
        "services": services_view(app, user_id).await?,
        "last_sync": last_sync.map(|j| views::job(&j, call.now)),
    })))
}

pub async fn preferences(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let prefs = app.ctx.store.get_preferences(user_id).await?;
    Ok(Reply::ok(
        serde_json::to_value(prefs).expect("preferences serialise"),
    ))
}

pub async fn put_preferences(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let prefs: Preferences = json_body(call.body())?;
    let prefs = prefs
        .validated()
        .map_err(|e| input_error("invalid_preferences", e))?;
    app.ctx
        .store
        .put_preferences(user_id, &prefs, call.now)
        .await?;
    Ok(Reply::ok(
        serde_json::to_value(prefs).expect("preferences serialise"),
    ))
}
