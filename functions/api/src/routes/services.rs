//! Connecting and disconnecting Last.fm.

use lambda_http::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tracing::info;

use karaoke_shared::lastfm::{Disposition, LastfmError};
use karaoke_shared::store::limits::{self, Admission};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate::{json_body, lastfm_username};
use crate::views;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Connect {
    username: String,
}

pub async fn connect_lastfm(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let body: Connect = json_body(call.body())?;
    let username = lastfm_username(&body.username)?;
    // Each try asks Last.fm, whose budget everyone shares.
    if let Admission::Refused { retry_after_secs } = app
        .ctx
        .store
        .admit(user_id, &limits::CONNECT_LASTFM, call.now)
        .await?
    {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many tries to connect Last.fm (at most {} a minute); try again in {retry_after_secs} s",
                limits::CONNECT_LASTFM.max
            ),
            retry_after_secs: retry_after_secs as u64,
        });
    }
    let info = app.lastfm.user_info(&username).await.map_err(|e| match e {
        LastfmError::Api { code: 6, .. } => {
            ApiError::NotFound(format!("Last.fm has no user named {username:?}"))
        }
        LastfmError::Busy { retry_after } => ApiError::TooManyRequests {
            message: "Last.fm is busy with other listeners' syncs; please try again in a moment"
                .into(),
            retry_after_secs: retry_after.as_secs().max(1),
        },
        e if e.disposition() == Disposition::Transient => {
            ApiError::Unavailable("Last.fm is not answering right now; please try again".into())
        }
        e => ApiError::Upstream(e.user_message()),
    })?;
    // Last.fm's own spelling of the name, so later API calls and the page show it right.
    let service = app
        .ctx
        .store
        .put_lastfm_service(user_id, &info.name, call.now)
        .await?;
    info!(user_id, "Last.fm connected");
    Ok(Reply::ok(views::lastfm_service(
        &service,
        Some(info.playcount),
    )))
}

pub async fn disconnect_lastfm(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    if app.ctx.store.delete_lastfm_service(user_id).await? {
        Ok(Reply::with(
            StatusCode::OK,
            json!({"service": "lastfm", "connected": false, "data_kept": true}),
        ))
    } else {
        Err(ApiError::NotFound("Last.fm is not connected".into()))
    }
}

pub async fn disconnect_spotify(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    if app.ctx.store.delete_spotify_connection(user_id).await? {
        info!(user_id, "Spotify disconnected");
        Ok(Reply::ok(
            json!({"service": "spotify", "connected": false, "data_kept": true}),
        ))
    } else {
        Err(ApiError::NotFound("Spotify is not connected".into()))
    }
}
