//! Starting a sync and following its progress.

use lambda_http::http::StatusCode;
use serde_json::json;

use karaoke_shared::clock::now_millis;
use karaoke_shared::sync::control::{request_sync_with, SyncRequest};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::views;

/// The optional body of `POST /api/me/sync`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncOptions {
    /// Also compare every past window with Last.fm's totals and repair those that differ.
    #[serde(default)]
    reconcile: bool,
}

pub async fn start(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let body = call.req.body().as_ref();
    let options: SyncOptions = if body.iter().all(u8::is_ascii_whitespace) {
        SyncOptions::default()
    } else {
        crate::validate::json_body(body)?
    };
    let request = request_sync_with(
        &app.ctx.store,
        &app.ctx.queues,
        user_id,
        now_millis(),
        0,
        options.reconcile,
    );
    match request.await? {
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
