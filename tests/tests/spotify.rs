//! Spotify through the deployed stack and the Spotify stand-in: connect → callback → sync →
//! read; single-use, expiring state; token refresh and rotation; a revoked token; Development
//! Mode payloads; 429s at connect and in the middle of a sync; and the same artist merged
//! across Last.fm, Spotify and a manual entry.

use std::time::Duration;

use karaoke_tests::{unique, var, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// These tests change the stand-in's global settings (Development Mode, 429s): one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn spotify_admin() -> String {
    var("SPOTIFY_ADMIN_URL")
}

async fn admin(path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", spotify_admin()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}");
    r.json().await.unwrap()
}

async fn stats() -> Value {
    karaoke_tests::json_of(reqwest::Client::new().get(format!("{}/_admin/stats", spotify_admin())))
        .await
}

async fn config() -> Value {
    karaoke_tests::json_of(reqwest::Client::new().get(format!("{}/_admin/config", spotify_admin())))
        .await
}

/// Puts these settings back when dropped, even when an assertion failed part-way.
struct Restore(Value);

impl Drop for Restore {
    fn drop(&mut self) {
        let settings = self.0.clone();
        // A runtime of its own: `Drop` cannot await, and may run while the test's unwinds.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(admin("/_admin/config", settings))
        })
        .join();
    }
}

async fn connected(spotify_user: &str) -> Api {
    let api = Api::as_user(&unique("sp"));
    let (_, page) = api.sign_in_spotify(spotify_user, false).await;
    assert!(page.ends_with("/?spotify=connected"), "{page}");
    api
}

async fn sync(api: &Api) -> Value {
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    api.wait_for_sync(Duration::from_secs(240)).await
}

#[tokio::test]
async fn connect_callback_sync_and_read_top_lists() {
    let _serial = SERIAL.lock().await;
    let api = connected("spotify-demo").await;
    let services = api.get("/api/me/services").await.body;
    assert_eq!(services["services"][1]["connected"], true);
    assert_eq!(services["services"][1]["status"], "connected");
    assert!(
        !services.to_string().contains("token"),
        "no token ever leaves the API: {services}"
    );
    let job = sync(&api).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["pages_total"], 6, "six Spotify lists");
    let top = api.get("/api/me/top-tracks").await.body;
    let sizes: Vec<usize> = top["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["items"].as_array().unwrap().len())
        .collect();
    // short_term is empty for the demo user; duplicates inside a list are dropped.
    assert_eq!(sizes[0], 0, "{top}");
    assert!(
        sizes[1] >= 70 && sizes[1] < 75 && sizes[2] >= 95 && sizes[2] < 99,
        "{sizes:?}"
    );
    let songs = api.all("songs").await;
    assert!(!songs.is_empty());
    assert!(songs
        .iter()
        .all(|s| s["sources"] == json!(["spotify"]) && s["spotify_rank"].is_u64()));
    let ranks: Vec<u64> = songs
        .iter()
        .map(|s| s["spotify_rank"].as_u64().unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "best rank first");
    assert_eq!(songs[0]["spotify_rank"], 1);
    let artists = api.all("artists").await;
    assert!(artists.iter().all(|a| a["spotify_time_range"].is_string()));
    assert!(artists.iter().any(|a| a["spotify_popularity"].is_u64()));
    let summary = api.get("/api/me/summary").await.body;
    assert_eq!(
        summary["counts"]["songs"]["spotify"].as_u64().unwrap() as usize,
        songs.len()
    );
}

#[tokio::test]
async fn states_are_single_use_denials_are_reported_and_disconnect_forgets_tokens() {
    let _serial = SERIAL.lock().await;
    let api = Api::as_user(&unique("state"));
    let (callback, page) = api.sign_in_spotify(&unique("sp-user"), false).await;
    assert!(page.ends_with("?spotify=connected"), "{page}");
    let again = no_redirects().get(&callback).send().await.unwrap();
    assert!(
        location(&again).ends_with("?spotify=error&reason=invalid_state"),
        "reused state"
    );
    let (_, denied) = Api::as_user(&unique("deny"))
        .sign_in_spotify(&unique("sp-user"), true)
        .await;
    assert!(denied.ends_with("?spotify=error&reason=denied"), "{denied}");
    // A state older than ten minutes is refused even though it was never used.
    let config = karaoke_shared::aws::sdk_config().await;
    let store = karaoke_shared::store::Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        var("TABLE_NAME"),
    );
    let now = karaoke_shared::clock::now_secs();
    let old_state = unique("old-state");
    store
        .put_oauth_state(&old_state, &unique("someone"), "", now - 1)
        .await
        .unwrap();
    let url = format!(
        "{}/api/services/spotify/callback?state={old_state}&code=x",
        var("API_URL")
    );
    let r = no_redirects().get(&url).send().await.unwrap();
    assert!(
        location(&r).ends_with("reason=expired_state"),
        "{}",
        location(&r)
    );
    let forged = format!(
        "{}/api/services/spotify/callback?state=forged&code=x",
        var("API_URL")
    );
    let r = no_redirects().get(&forged).send().await.unwrap();
    assert!(location(&r).ends_with("reason=invalid_state"));
    assert_eq!(
        api.call(Method::DELETE, "/api/me/services/spotify", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/me/services").await.body["services"][1]["connected"],
        false
    );
    assert_eq!(
        api.call(Method::DELETE, "/api/me/services/spotify", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_rotated_refresh_token_kept() {
    let _serial = SERIAL.lock().await;
    let user = unique("sp-rot");
    let api = connected(&user).await;
    admin("/_admin/expire", json!({"user": user})).await;
    let job = sync(&api).await;
    assert_eq!(job["status"], "done", "{job}");
    // Again: works only if the rotated refresh token was stored.
    admin("/_admin/expire", json!({"user": user})).await;
    let job = sync(&api).await;
    assert_eq!(job["status"], "done", "{job}");
}

#[tokio::test]
async fn a_revoked_token_marks_the_service_for_reconnection() {
    let _serial = SERIAL.lock().await;
    let user = unique("sp-rev");
    let api = connected(&user).await;
    admin("/_admin/revoke", json!({"user": user})).await;
    admin("/_admin/expire", json!({"user": user})).await;
    let job = sync(&api).await;
    assert_eq!(job["status"], "partial", "{job}");
    assert!(
        job["errors"]
            .to_string()
            .to_lowercase()
            .contains("reconnect"),
        "{job}"
    );
    assert_eq!(
        api.get("/api/me/services").await.body["services"][1]["status"],
        "needs_reconnect"
    );
}

#[tokio::test]
async fn development_mode_payloads_and_429s_are_handled() {
    let _serial = SERIAL.lock().await;
    let _restore = Restore(json!({"dev_mode": false, "rate_limit_next": 0}));
    admin(
        "/_admin/config",
        json!({"dev_mode": true, "rate_limit_next": 3, "retry_after": 1}),
    )
    .await;
    let api = connected(&unique("sp-dev")).await;
    let job = sync(&api).await;
    admin(
        "/_admin/config",
        json!({"dev_mode": false, "rate_limit_next": 0}),
    )
    .await;
    assert_eq!(job["status"], "done", "{job}");
    let artists = api.all("artists").await;
    assert!(!artists.is_empty());
    assert!(
        artists
            .iter()
            .all(|a| a.get("spotify_popularity").is_none()),
        "no empty pill: the field is absent"
    );
    let top = api
        .get("/api/me/top-tracks?time_range=long_term")
        .await
        .body;
    assert!(top["lists"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("popularity").is_none()));
}

#[tokio::test]
async fn one_artist_from_three_sources_is_one_row() {
    let _serial = SERIAL.lock().await;
    let lastfm = Lastfm::new();
    let name = format!("m{}", &unique("m")[2..12]);
    lastfm.create_user(&name, 200, 61).await;
    let now = karaoke_shared::clock::now_secs();
    let plays: Vec<Value> = (0..30)
        .map(|i| json!({"artist": "Queen", "title": "Bohemian Rhapsody", "uts": now - 10_000 - i}))
        .collect();
    lastfm.add_scrobbles(&name, json!(plays)).await;
    let api = connected("spotify-demo").await;
    assert_eq!(api.connect_lastfm(&name).await.status, StatusCode::OK);
    assert_eq!(
        api.call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "queen"}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let job = sync(&api).await;
    assert_eq!(job["status"], "done", "{job}");
    let artists = api.all("artists").await;
    let queens: Vec<&Value> = artists
        .iter()
        .filter(|a| a["name"].as_str().unwrap().eq_ignore_ascii_case("queen"))
        .collect();
    assert_eq!(queens.len(), 1, "{queens:?}");
    let q = queens[0];
    assert_eq!(q["sources"], json!(["lastfm", "spotify", "manual"]));
    assert!(q["lastfm_playcount"].as_u64().unwrap() >= 30);
    assert!(q["spotify_rank"].is_u64() && q["spotify_time_range"].is_string());
    let songs = api.all("songs").await;
    let bohemian: Vec<&Value> = songs
        .iter()
        .filter(|s| s["title"] == "Bohemian Rhapsody")
        .collect();
    assert_eq!(
        bohemian.len(),
        1,
        "the Last.fm and Spotify song are one row"
    );
    assert_eq!(bohemian[0]["sources"], json!(["lastfm", "spotify"]));
    assert_eq!(bohemian[0]["playcount"], 30);
}

#[tokio::test]
async fn stored_tokens_never_carry_the_tables_ttl_attribute() {
    let _serial = SERIAL.lock().await;
    let user_id = unique("sp-ttl");
    let api = Api::as_user(&user_id);
    let (_, page) = api.sign_in_spotify(&unique("sp-ttl-user"), false).await;
    assert!(page.ends_with("/?spotify=connected"), "{page}");
    karaoke_tests::stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    let item = aws_sdk_dynamodb::Client::new(&config)
        .get_item()
        .table_name(var("TABLE_NAME"))
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user_id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("SECRET#spotify".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("tokens stored");
    // `expires_at` is the table's TTL attribute: on it, DynamoDB would delete the refresh token
    // an hour after connecting, when the access token expires.
    assert!(!item.contains_key("expires_at"), "{item:?}");
    assert!(item.contains_key("access_expires_at"));
}

/// The stand-in's current list, duplicates left out (we keep a track's first place).
async fn standin_top(user: &str, kind: &str, range: &str) -> Vec<Value> {
    let body = karaoke_tests::json_of(reqwest::Client::new().get(format!(
        "{}/_admin/top?user={user}&type={kind}&time_range={range}",
        spotify_admin()
    )))
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["duplicate_of"].is_null())
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_refresh_replaces_the_lists_and_what_left_them_loses_spotify() {
    let _serial = SERIAL.lock().await;
    let user = unique("sp-refresh");
    let totals = json!({"short_term": 20, "medium_term": 40, "long_term": 60});
    admin(
        "/_admin/users",
        json!({"id": user, "artists_total": totals, "tracks_total": totals, "duplicates": false}),
    )
    .await;
    let api = connected(&user).await;
    assert_eq!(sync(&api).await["status"], "done");
    let before = api.all("artists").await.len();

    // Spotify's view of the user changes: shorter lists, nothing in the last four weeks.
    let smaller = json!({"short_term": 0, "medium_term": 6, "long_term": 9});
    admin(
        "/_admin/users",
        json!({"id": user, "artists_total": smaller, "tracks_total": smaller, "short_term_empty": true, "duplicates": false}),
    )
    .await;
    let job = sync(&api).await;
    assert_eq!(job["status"], "done", "{job}");

    let ranges = ["short_term", "medium_term", "long_term"];
    let top = api.get("/api/me/top-tracks").await.body;
    let mut tracks_by_range = Vec::new();
    for (list, range) in top["lists"].as_array().unwrap().iter().zip(ranges) {
        let truth = standin_top(&user, "tracks", range).await;
        let ids: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["spotify_id"])
            .collect();
        let truth_ids: Vec<&Value> = truth.iter().map(|i| &i["id"]).collect();
        assert_eq!(ids, truth_ids, "{range}: the list as Spotify gives it now");
        tracks_by_range.push((range, truth));
    }
    assert!(tracks_by_range[0].1.is_empty());

    // Every row Spotify still knows carries a place from the new lists; the rest lost it.
    let mut artist_lists = Vec::new();
    for range in ranges {
        artist_lists.push((range, standin_top(&user, "artists", range).await));
    }
    let place_of = |lists: &[(&str, Vec<Value>)], range: &Value, rank: &Value| -> Option<String> {
        lists
            .iter()
            .find(|(r, _)| range == r)
            .and_then(|(_, items)| items.iter().find(|i| &i["rank"] == rank))
            .map(|i| i["name"].as_str().unwrap().to_lowercase())
    };
    let artists = api.all("artists").await;
    let with_spotify: Vec<&Value> = artists
        .iter()
        .filter(|a| !a["spotify_rank"].is_null())
        .collect();
    let distinct: std::collections::BTreeSet<String> = artist_lists
        .iter()
        .flat_map(|(_, items)| items.iter())
        .map(|i| i["name"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(with_spotify.len(), distinct.len(), "{with_spotify:?}");
    assert!(
        artists.len() < before,
        "artists that left every list are gone"
    );
    for a in &with_spotify {
        assert_eq!(
            place_of(&artist_lists, &a["spotify_time_range"], &a["spotify_rank"]),
            Some(a["name"].as_str().unwrap().to_lowercase()),
            "{a}"
        );
    }
    let songs = api.all("songs").await;
    let distinct_tracks: std::collections::BTreeSet<String> = tracks_by_range
        .iter()
        .flat_map(|(_, items)| items.iter())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        songs.len(),
        distinct_tracks.len(),
        "only tracks still listed"
    );
    for s in &songs {
        assert_eq!(
            place_of(
                &tracks_by_range,
                &s["spotify_time_range"],
                &s["spotify_rank"]
            ),
            Some(s["title"].as_str().unwrap().to_lowercase()),
            "{s}"
        );
    }
}

fn delta(after: &Value, before: &Value, pointer: &str) -> u64 {
    let at = |v: &Value| v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    at(after) - at(before)
}

/// Spotify rate limiting that reaches a running sync rather than the connect step: the 429s
/// (with `Retry-After`) are set only once the user is connected, so they fall on the sync's
/// list requests (nothing else asked the Web API meanwhile, or too little to have taken them
/// all); each is waited out, the job ends `done` with no unit failed, and all six lists are
/// Spotify's, complete and in order.
#[tokio::test]
async fn a_429_during_the_sync_is_waited_out_and_every_list_is_complete() {
    // More than one per list, fewer than a request waits out (3) times the six lists: each
    // is waited out in the worker, none fails for it.
    const LIMITED: u64 = 8;
    let _serial = SERIAL.lock().await;
    let user = unique("sp-429");
    // Lists longer than one request (50) in two of the ranges.
    let totals = json!({"short_term": 30, "medium_term": 80, "long_term": 99});
    admin(
        "/_admin/users",
        json!({"id": user, "artists_total": totals, "tracks_total": totals, "duplicates": false}),
    )
    .await;
    let api = connected(&user).await;
    let previous = config().await;
    let _restore = Restore(json!({"rate_limit_next": 0, "retry_after": previous["retry_after"]}));
    let before = stats().await;
    admin(
        "/_admin/config",
        json!({"rate_limit_next": LIMITED, "retry_after": 1}),
    )
    .await;
    let job = sync(&api).await;
    let after = stats().await;

    assert_eq!(config().await["rate_limit_next"], 0, "every 429 was served");
    let served = delta(&after, &before, "/served_429");
    assert!(served >= LIMITED, "429s served: {served}: {after}");
    // The 429s go to the first Web API requests after they were set: all of them to the
    // sync's list requests, but for as many other requests as there were meanwhile.
    let lists = delta(&after, &before, "/by_path/~1v1~1me~1top~1tracks")
        + delta(&after, &before, "/by_path/~1v1~1me~1top~1artists");
    let other = delta(&after, &before, "/by_path/~1v1~1me")
        + delta(&after, &before, "/by_path/~1v1~1(other)");
    assert!(
        other < LIMITED && lists >= 6 + LIMITED - other,
        "list requests {lists}, other Web API requests {other}: {after}"
    );
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["pages_total"], 6, "six Spotify lists: {job}");
    assert_eq!(job["failed_pages"], json!([]), "{job}");
    assert_eq!(job["errors"], json!([]), "{job}");

    // Every list as the stand-in has it now, in order.
    let ranges = ["short_term", "medium_term", "long_term"];
    let top = api.get("/api/me/top-tracks").await.body;
    let lists = top["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 3, "{top}");
    let mut tracks = Vec::new();
    for (list, range) in lists.iter().zip(ranges) {
        let truth = standin_top(&user, "tracks", range).await;
        let ids: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["spotify_id"])
            .collect();
        let truth_ids: Vec<&Value> = truth.iter().map(|i| &i["id"]).collect();
        assert!(!truth_ids.is_empty(), "{range}");
        assert_eq!(
            ids, truth_ids,
            "{range}: the whole list, in Spotify's order"
        );
        tracks.extend(truth);
    }
    let distinct_tracks: std::collections::BTreeSet<&str> =
        tracks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(api.all("songs").await.len(), distinct_tracks.len());
    let mut names = std::collections::BTreeSet::new();
    let mut place = std::collections::BTreeMap::new();
    for range in ranges {
        for a in standin_top(&user, "artists", range).await {
            let name = a["name"].as_str().unwrap().to_lowercase();
            place.insert(
                (range.to_string(), a["rank"].as_u64().unwrap()),
                name.clone(),
            );
            names.insert(name);
        }
    }
    let artists = api.all("artists").await;
    let ranked: Vec<&Value> = artists
        .iter()
        .filter(|a| !a["spotify_rank"].is_null())
        .collect();
    assert_eq!(ranked.len(), names.len(), "every artist of the lists, once");
    for a in ranked {
        let at = (
            a["spotify_time_range"].as_str().unwrap().to_string(),
            a["spotify_rank"].as_u64().unwrap(),
        );
        assert_eq!(
            place.get(&at),
            Some(&a["name"].as_str().unwrap().to_lowercase()),
            "{a}"
        );
    }
}
