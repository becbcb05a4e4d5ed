//! Starting a sync and following its progress.

use lambda_http::http::StatusCode;
use serde_json::json;

use karaoke_shared::clock::now_millis;
use karaoke_shared::sync::control::{request_sync, SyncRequest};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::views;

pub async fn start(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    match request_sync(&app.ctx.store, &app.ctx.queues, user_id, now_millis(), 0).await? {
        SyncRequest::Started { job_id, resumed } => Ok(Reply::with(
            StatusCode::ACCEPTED,
            json!({"job_id": job_id, "resumed": resumed}),
        )),
        SyncRequest::Busy { job_id } => Err(ApiError::Conflict {
            code: "sync_running",
            message: "a sync is already running for this account".into(),
            extra: json!({"job_id": job_id}),
        }),
        SyncRequest::NotConnected => Err(ApiError::bad(
            "no_service_connected",
            "connect Last.fm before syncing",
        )),
    }
}

pub async fn status(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    match app.ctx.store.latest_job(user_id).await? {
        Some(job) => Ok(Reply::ok(views::job(&job, call.now))),
        None => Err(ApiError::NotFound("no sync has run yet".into())),
    }
}
