//! Spotify through the deployed stack and the Spotify stand-in: connect → callback (which hands
//! the code and state to the page, in the fragment) → complete as the signed-in user → sync →
//! read; single-use, expiring state, which only its own user may complete (a sign-in started
//! from another account links nothing); token refresh and rotation; a revoked token;
//! Development Mode payloads; 429s at connect and in the middle of a sync; and the same artist
//! merged across Last.fm, Spotify and a manual entry.

use std::time::Duration;

use karaoke_shared::store::keys;
use karaoke_tests::{
    authorize_in_browser, handed_to_page, location, no_redirects, unique, var, Api, Lastfm,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// These tests change the stand-in's global settings (Development Mode, 429s): one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    api.connect_spotify(spotify_user).await;
    api
}

async fn store() -> karaoke_shared::store::Store {
    karaoke_tests::stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    karaoke_shared::store::Store::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME"))
}

/// One item of the table, read directly.
async fn item(pk: String, sk: &str) -> Option<karaoke_shared::store::attr::Item> {
    karaoke_tests::stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    aws_sdk_dynamodb::Client::new(&config)
        .get_item()
        .table_name(var("TABLE_NAME"))
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn spotify_connected(api: &Api) -> bool {
    let services = api.get("/api/me/services").await.body;
    assert_eq!(services["services"][1]["service"], "spotify", "{services}");
    services["services"][1]["connected"] == true
}

async fn sync(api: &Api) -> Value {
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    api.wait_for_sync(Duration::from_secs(240)).await
}

#[tokio::test]
async fn connect_callback_complete_sync_and_read_top_lists() {
    let _serial = SERIAL.lock().await;
    let api = Api::as_user(&unique("sp"));
    let (_, page) = api.sign_in_spotify("spotify-demo", false).await;
    // The callback links nothing: it sends the browser to the page with the code and state in
    // the fragment (never the query, so neither reaches a server log or a Referer).
    let (code, state) = handed_to_page(&page).unwrap_or_else(|| panic!("{page}"));
    let landing = reqwest::Url::parse(&page).unwrap();
    assert_eq!(landing.query(), None, "{page}");
    assert!(!code.is_empty() && !state.is_empty());
    assert!(
        !spotify_connected(&api).await,
        "nothing linked by the callback"
    );
    let done = api.complete_spotify(&code, &state).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["service"], "spotify");
    assert_eq!(done.body["connected"], true);
    assert_eq!(done.body["status"], "connected");
    assert_eq!(done.body["username"], "spotify-demo");
    assert!(!done.body.to_string().contains("token"), "{}", done.body);
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
    let user = unique("state");
    let api = Api::as_user(&user);
    let (callback, page) = api.sign_in_spotify(&unique("sp-user"), false).await;
    let (code, state) = handed_to_page(&page).unwrap_or_else(|| panic!("{page}"));
    let done = api.complete_spotify(&code, &state).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    // The state is used up: completing again is refused.
    let again = api.complete_spotify(&code, &state).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_eq!(again.body["error"]["code"], "invalid_state", "reused state");
    // The callback cannot tell: it only hands the values over again.
    let replay = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(
        handed_to_page(&location(&replay)),
        Some((code.clone(), state.clone()))
    );

    // A denial comes back as today, and its state is used up.
    let denier = Api::as_user(&unique("deny"));
    let (denied_callback, denied) = denier.sign_in_spotify(&unique("sp-user"), true).await;
    assert!(denied.ends_with("?spotify=error&reason=denied"), "{denied}");
    let denied_state = reqwest::Url::parse(&denied_callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("Spotify echoes the state");
    let r = denier.complete_spotify("x", &denied_state).await;
    assert_eq!(r.body["error"]["code"], "invalid_state", "{}", r.body);

    // A state older than ten minutes is refused even though it was never used.
    let now = karaoke_shared::clock::now_secs();
    let old_state = unique("old-state");
    store()
        .await
        .put_oauth_state(&old_state, &user, "", now - 1)
        .await
        .unwrap();
    let r = api.complete_spotify("x", &old_state).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "expired_state", "{}", r.body);
    assert!(item(keys::oauth_state_pk(&old_state), "STATE")
        .await
        .is_none());
    let r = api.complete_spotify("x", "forged").await;
    assert_eq!(r.body["error"]["code"], "invalid_state", "{}", r.body);

    // The callback's own refusals.
    let base = var("API_URL");
    let base = base.trim_end_matches('/');
    let callback_to = |q: &str| format!("{base}/api/services/spotify/callback?{q}");
    let r = no_redirects()
        .get(callback_to("code=x"))
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).ends_with("?spotify=error&reason=missing_state"),
        "{}",
        location(&r)
    );
    let unfinished = unique("unfinished");
    store()
        .await
        .put_oauth_state(&unfinished, &user, "", now + 600)
        .await
        .unwrap();
    let r = no_redirects()
        .get(callback_to(&format!("state={unfinished}")))
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).ends_with("?spotify=error&reason=missing_code"),
        "{}",
        location(&r)
    );
    assert!(
        item(keys::oauth_state_pk(&unfinished), "STATE")
            .await
            .is_none(),
        "a refused sign-in's state is used up"
    );
    // Values travel percent-encoded in the fragment.
    let r = no_redirects()
        .get(callback_to("state=a%2Bb%20c&code=x%26y%3Dz"))
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).ends_with("/#spotify_code=x%26y%3Dz&spotify_state=a%2Bb%20c"),
        "{}",
        location(&r)
    );

    // The completion's body is checked before any state is looked at.
    for (body, code) in [
        (json!({}), "invalid_body"),
        (json!({"code": "x"}), "invalid_body"),
        (
            json!({"code": "x", "state": "s", "extra": 1}),
            "invalid_body",
        ),
        (json!({"code": "", "state": "s"}), "missing_code"),
        (json!({"code": "x", "state": ""}), "missing_state"),
        (
            json!({"code": "x", "state": "s".repeat(129)}),
            "invalid_state",
        ),
        (
            json!({"code": "x".repeat(2049), "state": "s"}),
            "invalid_code",
        ),
        (json!({"code": "x\n", "state": "s"}), "invalid_code"),
    ] {
        let r = api
            .call(
                Method::POST,
                "/api/me/services/spotify/complete",
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], code, "{body}: {}", r.body);
    }

    assert_eq!(
        api.call(Method::DELETE, "/api/me/services/spotify", None)
            .await
            .status,
        StatusCode::OK
    );
    assert!(!spotify_connected(&api).await);
    assert_eq!(
        api.call(Method::DELETE, "/api/me/services/spotify", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// The attack the completion step exists for: an attacker asks for an authorize URL and gets a
/// victim who approved the app before (Spotify shows no prompt then) to open it. The victim's
/// browser comes back to the page with a code for the victim's Spotify and the attacker's state;
/// the victim's page completes it as the victim. That is refused: nothing is linked to either
/// account, and the state is used up, so the attacker cannot complete it afterwards either.
#[tokio::test]
async fn a_sign_in_started_from_another_account_links_nothing() {
    let _serial = SERIAL.lock().await;
    let attacker_id = unique("sp-attacker");
    let victim_id = unique("sp-victim");
    let attacker = Api::as_user(&attacker_id);
    let victim = Api::as_user(&victim_id);
    let r = attacker.get("/api/me/services/spotify/connect").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let authorize = r.body["authorize_url"].as_str().unwrap().to_string();

    // The victim's browser: Spotify consents at once as the victim's Spotify account.
    let (_, page) = authorize_in_browser(&authorize, &unique("sp-victim-user"), false).await;
    let (code, state) = handed_to_page(&page).unwrap_or_else(|| panic!("{page}"));
    let r = victim.complete_spotify(&code, &state).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "other_account", "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("another account") && message.contains("nothing was linked"),
        "{message}"
    );

    // Nothing linked, to anyone; the state is gone.
    assert!(item(keys::oauth_state_pk(&state), "STATE").await.is_none());
    for (api, id) in [(&attacker, &attacker_id), (&victim, &victim_id)] {
        assert!(!spotify_connected(api).await, "{id}");
        assert!(
            item(keys::user_pk(id), keys::SPOTIFY_SECRET_SK)
                .await
                .is_none(),
            "no tokens stored for {id}"
        );
    }
    // The attacker cannot finish it with the same values either.
    let r = attacker.complete_spotify(&code, &state).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid_state", "{}", r.body);
    for api in [&attacker, &victim] {
        assert!(!spotify_connected(api).await);
    }
    // The victim can still connect their own Spotify, through their own sign-in.
    victim.connect_spotify(&unique("sp-victim-user")).await;
    assert!(spotify_connected(&victim).await);
    assert!(!spotify_connected(&attacker).await);
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
    api.connect_spotify(&unique("sp-ttl-user")).await;
    let item = item(keys::user_pk(&user_id), keys::SPOTIFY_SECRET_SK)
        .await
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
