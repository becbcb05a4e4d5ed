//! Songs the user has sung ("How was it?"), "My Favorites", and recommendations. The rules live
//! in `karaoke_shared::sung` and `karaoke_shared::recommend`; these handlers only parse, look the
//! catalog song up, and shape the answer.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use karaoke_shared::cursor;
use karaoke_shared::library::InputError;
use karaoke_shared::recommend::{self, Filter};
use karaoke_shared::store::attr::Item;
use karaoke_shared::store::library::Change;
use karaoke_shared::sung::{SungCatalogSong, SungSong, SungSubmission};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate::{self, json_body};

/// A survey rule broken, as a 422 whose code names the field (`invalid_rating`, …).
fn survey_error(e: InputError) -> ApiError {
    let field = match &e {
        InputError::Empty { field }
        | InputError::TooLong { field, .. }
        | InputError::Control { field }
        | InputError::Invalid { field, .. } => *field,
    };
    let code = match field {
        "song_id" => "invalid_song_id",
        "rating" => "invalid_rating",
        "sung_at" => "invalid_sung_at",
        "notes" => "invalid_notes",
        "client_request_id" => "invalid_client_request_id",
        _ => "invalid_body",
    };
    ApiError::Unprocessable {
        code,
        message: e.to_string(),
    }
}

pub async fn record(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let submission: SungSubmission = json_body(call.body())?;
    let valid = submission.validate(call.now).map_err(survey_error)?;
    let Some(catalog) = app.ctx.store.catalog_song_by_id(&valid.song_id).await? else {
        return Err(ApiError::NotFound(format!(
            "song_id: no karaoke song with id {:?}",
            valid.song_id
        )));
    };
    let recorded = app
        .ctx
        .store
        .record_sung(user_id, &SungCatalogSong::from(&catalog), &valid, call.now)
        .await?;
    // A retry is answered like the first time, but says it changed nothing.
    let status = if recorded.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut body = recorded.song.view();
    body["duplicate"] = json!(recorded.duplicate);
    body["brand_count"] = json!(catalog.brand_count);
    Ok(Reply::with(status, body))
}

fn favorites_flag(raw: Option<&str>) -> Result<bool, ApiError> {
    match raw.map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::bad(
            "invalid_favorites",
            "favorites must be true or false",
        )),
    }
}

/// The list a cursor is bound to: a favourites cursor holds gsi2 keys, useless on the full list.
fn list_name(favorites: bool) -> &'static str {
    if favorites {
        "sung:favorites"
    } else {
        "sung"
    }
}

fn sung_row(song: &SungSong) -> Value {
    let mut v = song.view();
    v["brand_count"] = json!(song.brand_count);
    v
}

pub async fn list(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let favorites = favorites_flag(call.query("favorites").as_deref())?;
    let limit = validate::limit(call.query("limit").as_deref())?;
    let secret = &app.ctx.config.cursor_secret;
    let list = list_name(favorites);
    let start: Option<Item> =
        match call.query("cursor").filter(|c| !c.is_empty()) {
            Some(c) => Some(cursor::verify(secret, user_id, list, &c).map_err(|_| {
                ApiError::bad("invalid_cursor", "cursor is not valid for this list")
            })?),
            None => None,
        };
    let (songs, next) = app
        .ctx
        .store
        .list_sung(user_id, favorites, limit, start)
        .await?;
    let next_cursor = match next {
        Some(k) => json!(cursor::sign(secret, user_id, list, &k)),
        None => Value::Null,
    };
    Ok(Reply::ok(json!({
        "favorites": favorites,
        "items": songs.iter().map(sung_row).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn remove(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let song_id = call
        .query("song_id")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::bad("missing_song_id", "the song_id query parameter is required")
        })?;
    match app.ctx.store.delete_sung(user_id, &song_id).await? {
        Change::Made => Ok(Reply::ok(json!({"song_id": song_id, "removed": true}))),
        Change::AlreadySo => Err(ApiError::NotFound(format!(
            "song_id: {song_id:?} is not among the songs you have sung"
        ))),
    }
}

pub async fn recommendations(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let filter = Filter::parse(call.query("filter").as_deref())
        .map_err(|e| ApiError::bad("invalid_filter", e.to_string()))?;
    let limit = validate::limit(call.query("limit").as_deref())?;
    let secret = &app.ctx.config.cursor_secret;
    let offset = match call.query("cursor").filter(|c| !c.is_empty()) {
        Some(c) => recommend::verify_cursor(secret, user_id, filter, &c).map_err(|_| {
            ApiError::bad(
                "invalid_cursor",
                "cursor is not valid for this user and filter",
            )
        })?,
        None => 0,
    };
    let page = app
        .ctx
        .store
        .recommendations(user_id, filter, offset, limit as usize)
        .await?;
    let next_cursor = match page.next_offset {
        Some(o) => json!(recommend::sign_cursor(secret, user_id, filter, o)),
        None => Value::Null,
    };
    Ok(Reply::ok(json!({
        "filter": filter.as_str(),
        "items": page.items,
        "total": page.total,
        "next_cursor": next_cursor,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_errors_name_their_field() {
        let code = |e: InputError| match survey_error(e) {
            ApiError::Unprocessable { code, message } => (code, message),
            other => panic!("{other:?}"),
        };
        let (c, m) = code(InputError::Invalid {
            field: "rating",
            message: "must be a whole number from 1 to 5".into(),
        });
        assert_eq!(c, "invalid_rating");
        assert!(m.starts_with("rating"), "{m}");
        assert_eq!(
            code(InputError::TooLong {
                field: "notes",
                max: 500
            })
            .0,
            "invalid_notes"
        );
        assert_eq!(
            code(InputError::Empty {
                field: "client_request_id"
            })
            .0,
            "invalid_client_request_id"
        );
    }

    #[test]
    fn favorites_flag_is_strict() {
        assert!(!favorites_flag(None).unwrap());
        assert!(favorites_flag(Some("true")).unwrap());
        assert!(favorites_flag(Some("1")).unwrap());
        assert!(!favorites_flag(Some("false")).unwrap());
        for bad in ["yes", "TRUE!", "2"] {
            assert!(favorites_flag(Some(bad)).is_err(), "{bad}");
        }
        assert_ne!(list_name(true), list_name(false));
    }
}
