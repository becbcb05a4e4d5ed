//! "Songs You Know", read page by page in the order the index keeps them.

use serde_json::json;

use karaoke_shared::cursor;

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate;
use crate::views;

pub async fn list(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let limit = validate::limit(call.query("limit").as_deref())?;
    let secret = &app.ctx.config.cursor_secret;
    let start =
        match call.query("cursor").filter(|c| !c.is_empty()) {
            Some(c) => Some(cursor::verify(secret, user_id, "songs", &c).map_err(|_| {
                ApiError::bad("invalid_cursor", "cursor is not valid for this list")
            })?),
            None => None,
        };
    let (tracks, next) = app.ctx.store.query_songs(user_id, limit, start).await?;
    let items: Vec<_> = tracks.iter().map(views::song).collect();
    let next_cursor = next.map(|k| cursor::sign(secret, user_id, "songs", &k));
    Ok(Reply::ok(
        json!({"items": items, "next_cursor": next_cursor}),
    ))
}
