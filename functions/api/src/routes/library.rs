//! "Songs You Know", "Artists You Know", songs added by hand and ranked top lists: read page by
//! page in the order the store keeps them, so a page costs the same at any depth.

use std::collections::HashMap;

use lambda_http::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use karaoke_shared::catalog::matching::match_key;
use karaoke_shared::catalog::store::CatalogHit;
use karaoke_shared::cursor;
use karaoke_shared::library::{clean_text, valid_time_range, MAX_NAME_CHARS, MAX_NOTES_CHARS};
use karaoke_shared::normalize::{artist_key, TrackIdentity};
use karaoke_shared::store::attr::Item;
use karaoke_shared::store::library::{Change, KnownSong};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate::{self, input_error, json_body};
use crate::views;

fn start_key(
    app: &App,
    call: &Call<'_>,
    user_id: &str,
    list: &str,
) -> Result<Option<Item>, ApiError> {
    match call.query("cursor").filter(|c| !c.is_empty()) {
        Some(c) => cursor::verify(&app.ctx.config.cursor_secret, user_id, list, &c)
            .map(Some)
            .map_err(|_| ApiError::bad("invalid_cursor", "cursor is not valid for this list")),
        None => Ok(None),
    }
}

fn next_cursor(app: &App, user_id: &str, list: &str, next: Option<Item>) -> Value {
    match next {
        Some(k) => json!(cursor::sign(
            &app.ctx.config.cursor_secret,
            user_id,
            list,
            &k
        )),
        None => Value::Null,
    }
}

pub async fn songs(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let limit = validate::limit(call.query("limit").as_deref())?;
    let start = start_key(app, call, user_id, "songs")?;
    let (rows, next) = app.ctx.store.song_rows(user_id, limit, start).await?;
    let keys: Vec<String> = rows
        .iter()
        .map(|r| match_key(&r.artist, &r.title))
        .collect();
    let hits: HashMap<String, CatalogHit> = app.ctx.store.find_catalog_matches(&keys).await?;
    // A row's karaoke version is the song the user would have sung ("Sung 3×"): one BatchGetItem
    // for the page, whatever its depth.
    let row_song_ids: Vec<Option<&str>> = rows
        .iter()
        .zip(&keys)
        .map(|(row, key)| {
            hits.get(key)
                .map(|h| h.song_id.as_str())
                .or(row.known_song_id.as_deref())
        })
        .collect();
    let ids: Vec<String> = row_song_ids
        .iter()
        .flatten()
        .map(|s| s.to_string())
        .collect();
    let sung = app.ctx.store.get_sung_many(user_id, &ids).await?;
    let items: Vec<Value> = rows
        .iter()
        .zip(&keys)
        .zip(&row_song_ids)
        .map(|((row, key), id)| views::song(row, hits.get(key), id.and_then(|i| sung.get(i))))
        .collect();
    Ok(Reply::ok(
        json!({"items": items, "next_cursor": next_cursor(app, user_id, "songs", next)}),
    ))
}

pub async fn artists(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let limit = validate::limit(call.query("limit").as_deref())?;
    let start = start_key(app, call, user_id, "artists")?;
    let (rows, next) = app.ctx.store.artist_rows(user_id, limit, start).await?;
    let items: Vec<Value> = rows.iter().map(views::artist).collect();
    Ok(Reply::ok(
        json!({"items": items, "next_cursor": next_cursor(app, user_id, "artists", next)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewArtist {
    name: String,
}

pub async fn add_artist(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let body: NewArtist = json_body(call.body())?;
    let name = clean_text("name", &body.name, MAX_NAME_CHARS)
        .map_err(|e| input_error("invalid_name", e))?;
    let key = artist_key(&name);
    let change = app
        .ctx
        .store
        .add_manual_artist(user_id, &key, &name, call.now)
        .await?;
    let row = app
        .ctx
        .store
        .get_artist(user_id, &key)
        .await?
        .ok_or_else(|| ApiError::Internal("artist vanished after adding".into()))?;
    let status = match change {
        Change::Made => StatusCode::CREATED,
        Change::AlreadySo => StatusCode::OK,
    };
    Ok(Reply::with(status, views::artist(&row)))
}

pub async fn remove_artist(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let raw = call
        .query("name")
        .ok_or_else(|| ApiError::bad("missing_name", "the name query parameter is required"))?;
    let name =
        clean_text("name", &raw, MAX_NAME_CHARS).map_err(|e| input_error("invalid_name", e))?;
    match app
        .ctx
        .store
        .remove_manual_artist(user_id, &artist_key(&name))
        .await?
    {
        Change::Made => Ok(Reply::ok(json!({"name": name, "removed": true}))),
        Change::AlreadySo => Err(ApiError::NotFound(format!(
            "{name:?} is not an artist you added by hand"
        ))),
    }
}

pub async fn top_tracks(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let source = call.query("source").unwrap_or_else(|| "spotify".into());
    if source != "spotify" {
        return Err(ApiError::bad(
            "invalid_source",
            "source must be \"spotify\"",
        ));
    }
    let ranges: Vec<String> = match call.query("time_range") {
        Some(r) if valid_time_range(&r) => vec![r],
        Some(_) => {
            return Err(ApiError::bad(
                "invalid_time_range",
                "time_range must be short_term, medium_term or long_term",
            ))
        }
        None => ["short_term", "medium_term", "long_term"]
            .map(String::from)
            .to_vec(),
    };
    let mut lists = Vec::new();
    for range in ranges {
        let items = app.ctx.store.top_tracks(user_id, &source, &range).await?;
        lists.push(json!({
            "source": source,
            "time_range": range,
            "items": items.iter().map(views::top_track).collect::<Vec<_>>(),
        }));
    }
    Ok(Reply::ok(json!({"lists": lists})))
}

pub async fn known_songs(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let songs = app.ctx.store.known_songs(user_id).await?;
    Ok(Reply::ok(
        json!({"items": songs.iter().map(views::known_song).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKnownSong {
    song_id: String,
    #[serde(default)]
    notes: Option<String>,
}

pub async fn add_known_song(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let body: NewKnownSong = json_body(call.body())?;
    let song_id =
        clean_text("song_id", &body.song_id, 128).map_err(|e| input_error("invalid_song_id", e))?;
    let notes = match body
        .notes
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(n) if n.chars().count() > MAX_NOTES_CHARS => {
            return Err(ApiError::Unprocessable {
                code: "invalid_notes",
                message: format!("notes are longer than {MAX_NOTES_CHARS} characters"),
            })
        }
        Some(n) if n.chars().any(|c| c.is_control() && c != '\n') => {
            return Err(ApiError::Unprocessable {
                code: "invalid_notes",
                message: "notes contain control characters".into(),
            })
        }
        other => other.map(str::to_string),
    };
    let Some(catalog) = app.ctx.store.catalog_song_by_id(&song_id).await? else {
        return Err(ApiError::NotFound(format!(
            "no karaoke song with id {song_id:?}"
        )));
    };
    let song = KnownSong {
        song_id: catalog.id.clone(),
        artist: catalog.artist.clone(),
        title: catalog.title.clone(),
        notes,
        added_at: call.now,
    };
    let track_key = TrackIdentity::of(&song.artist, &song.title).key();
    let change = app
        .ctx
        .store
        .put_known_song(user_id, &song, &track_key)
        .await?;
    let status = match change {
        Change::Made => StatusCode::CREATED,
        Change::AlreadySo => StatusCode::OK,
    };
    Ok(Reply::with(status, views::known_song(&song)))
}

pub async fn remove_known_song(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let song_id = call.query("song_id").ok_or_else(|| {
        ApiError::bad("missing_song_id", "the song_id query parameter is required")
    })?;
    match app.ctx.store.delete_known_song(user_id, &song_id).await? {
        Change::Made => Ok(Reply::ok(json!({"song_id": song_id, "removed": true}))),
        Change::AlreadySo => Err(ApiError::NotFound(format!(
            "{song_id:?} is not in your songs"
        ))),
    }
}
