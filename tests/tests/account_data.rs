//! "Your data, your control" through the deployed stack: the export holds everything we store
//! about a user (and no secrets), pages through it exactly once, stays with its owner; erasing
//! removes every item (also those outside the user's partition), within the request for a small
//! account and in the background for a large one or one that is syncing, after which a new
//! sign-in starts fresh.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use karaoke_shared::account::export::item_view;
use karaoke_shared::store::attr::Item;
use karaoke_shared::store::Store;
use karaoke_tests::{assert_songs_match_truth, ensure_sample_catalog, unique, var, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Every item the table holds about `user_id`: its partition, and its sign-in states (indexed
/// by user in gsi1) and scheduling entry (gsi2), which live under other partition keys.
async fn stored_items(store: &Store, user_id: &str) -> Vec<Item> {
    let db = store.client();
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = db
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{user_id}")))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    items
}

async fn oauth_states(store: &Store, user_id: &str) -> Vec<Item> {
    store
        .client()
        .query()
        .table_name(store.table())
        .index_name("gsi1")
        .key_condition_expression("gsi1pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("OAUTHUSER#{user_id}")))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

async fn due_entries(store: &Store, user_id: &str) -> usize {
    let out = store
        .client()
        .query()
        .table_name(store.table())
        .index_name("gsi2")
        .key_condition_expression("gsi2pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("DUE#lastfm".into()))
        .send()
        .await
        .unwrap();
    out.items
        .unwrap_or_default()
        .iter()
        .filter(|i| i.get("user_id") == Some(&AttributeValue::S(user_id.into())))
        .count()
}

async fn store() -> Store {
    karaoke_tests::stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    Store::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME"))
}

/// A sign-in that was started but never finished: leaves a state item outside the partition.
async fn start_spotify_sign_in(api: &Api) {
    let r = api.get("/api/me/services/spotify/connect").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn sync_to_done(api: &Api) -> Value {
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job = api.wait_for_sync(Duration::from_secs(240)).await;
    assert_eq!(job["status"], "done", "{job}");
    job
}

/// Every page of the user's export; checks the page size and that pages chain to the end.
async fn export_all(api: &Api, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/api/me/export?limit={limit}&cursor={c}"),
            None => format!("/api/me/export?limit={limit}"),
        };
        let r = api.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = r.body["items"].as_array().unwrap();
        assert!(
            page.len() <= limit,
            "page of {} > limit {limit}",
            page.len()
        );
        items.extend(page.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
    panic!("export never ended");
}

fn canonical(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(Value::to_string).collect();
    v.sort();
    v
}

fn entities(items: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts
            .entry(item["entity"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

/// Every key name anywhere in a JSON value, nested ones included.
fn key_names(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                key_names(v, out);
            }
        }
        Value::Array(list) => list.iter().for_each(|v| key_names(v, out)),
        _ => {}
    }
}

/// A user with every kind of data: Last.fm (tracks, top artists, loved), Spotify lists (with
/// `spotify_lists`; else Spotify is connected after the sync, so only its tokens are stored),
/// a manual artist, a known song, a sung song, preferences, and a finished job.
async fn full_user(scrobbles: u64, spotify_lists: bool) -> (String, Api, String) {
    ensure_sample_catalog().await;
    let user = unique("mine");
    let lastfm_user = format!("m{}", &unique("")[..10]);
    Lastfm::new().create_user(&lastfm_user, scrobbles, 7).await;
    let api = Api::as_user(&user);
    assert_eq!(
        api.connect_lastfm(&lastfm_user).await.status,
        StatusCode::OK
    );
    if spotify_lists {
        api.connect_spotify(&unique("sp-user")).await;
    }
    let prefs = api
        .call(
            Method::PUT,
            "/api/me/preferences",
            Some(json!({"decades": ["1980s"], "energy": "high", "genres": ["rock"]})),
        )
        .await;
    assert_eq!(prefs.status, StatusCode::OK, "{}", prefs.body);
    let artist = api
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "A Hand-Added Artist"})),
        )
        .await;
    assert!(artist.status.is_success(), "{}", artist.body);
    let known = api
        .call(
            Method::POST,
            "/api/me/known-songs",
            Some(json!({"song_id": "KS0002", "notes": "my warm-up"})),
        )
        .await;
    assert_eq!(known.status, StatusCode::CREATED, "{}", known.body);
    let sung = api
        .call(
            Method::POST,
            "/api/me/sung-songs",
            Some(json!({
                "song_id": "KS0001",
                "rating": 5,
                "notes": "encore",
                "client_request_id": unique("rid"),
            })),
        )
        .await;
    assert_eq!(sung.status, StatusCode::CREATED, "{}", sung.body);
    sync_to_done(&api).await;
    if !spotify_lists {
        api.connect_spotify(&unique("sp-user")).await;
    }
    (user, api, lastfm_user)
}

#[tokio::test]
async fn the_export_holds_every_kind_of_data_and_no_secret() {
    let store = store().await;
    let (user, api, _) = full_user(300, true).await;
    start_spotify_sign_in(&api).await;
    // Sweeps queued by the finished job may still touch items: let them land first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let exported = export_all(&api, 500).await;
    let kinds = entities(&exported);
    for kind in [
        "profile",
        "service",
        "job",
        "song",
        "artist",
        "loved_track",
        "top_item",
        "known_song",
        "sung_song",
        "preferences",
        "ledger_page",
    ] {
        assert!(
            kinds.contains_key(kind),
            "no {kind} in the export: {kinds:?}"
        );
    }
    assert_eq!(kinds["service"], 2, "Last.fm and Spotify: {kinds:?}");
    assert!(!kinds.contains_key("secret") && !kinds.contains_key("oauth_state"));
    let job = exported.iter().find(|i| i["entity"] == "job").unwrap();
    assert_eq!(job["status"], "done");
    assert!(job["done_units"].is_array(), "progress is exported: {job}");
    let prefs = exported
        .iter()
        .find(|i| i["entity"] == "preferences")
        .unwrap();
    assert_eq!(prefs["genres"], json!(["rock"]));
    let known = exported
        .iter()
        .find(|i| i["entity"] == "known_song")
        .unwrap();
    assert_eq!(known["notes"], "my warm-up");
    let ledger_rows: u64 = exported
        .iter()
        .filter(|i| i["entity"] == "ledger_page")
        .map(|i| {
            // An empty window (the last two weeks of an old history) is an empty page.
            let count = i["count"].as_u64().unwrap();
            let rows = i["rows"].as_str().unwrap_or_default();
            assert!(rows.len() > 10 || (count == 0 && rows == "[]"), "{i}");
            count
        })
        .sum();
    assert_eq!(ledger_rows, 300, "every stored scrobble row is exported");

    // The Spotify tokens and the pending sign-in's verifier are stored, and appear nowhere.
    let tokens = store.get_spotify_tokens(&user).await.unwrap().unwrap();
    let states = oauth_states(&store, &user).await;
    assert_eq!(states.len(), 1, "the unfinished sign-in left its state");
    // The state is what binds a callback to this user; our client keeps no PKCE verifier (it
    // has a client secret), so the state is the sign-in's secret to look for.
    let state = match &states[0]["pk"] {
        AttributeValue::S(pk) => pk.trim_start_matches("OAUTH#").to_string(),
        other => panic!("{other:?}"),
    };
    let text = serde_json::to_string(&exported).unwrap();
    for secret in [&tokens.access_token, &tokens.refresh_token, &state] {
        assert!(
            secret.len() >= 16,
            "a real secret to look for: {}",
            secret.len()
        );
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into the export"
        );
    }
    let mut names = BTreeSet::new();
    key_names(&Value::Array(exported.clone()), &mut names);
    for forbidden in [
        "access_token",
        "refresh_token",
        "verifier",
        "pk",
        "gsi1pk",
        "gsi2sk",
    ] {
        assert!(!names.contains(forbidden), "{forbidden} in the export");
    }

    // Paged with a small page: the same items, each exactly once.
    let paged = export_all(&api, 7).await;
    assert_eq!(canonical(&paged), canonical(&exported));
    let direct: Vec<Value> = stored_items(&store, &user)
        .await
        .iter()
        .filter_map(item_view)
        .collect();
    assert_eq!(canonical(&paged), canonical(&direct));
    let ids: BTreeSet<&str> = paged
        .iter()
        .map(|i| i["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), paged.len(), "an item was exported twice");
}

#[tokio::test]
async fn one_user_cannot_export_or_erase_another() {
    let store = store().await;
    let (owner, api_a, _) = full_user(60, true).await;
    let before = export_all(&api_a, 1000).await;
    let first = api_a.get("/api/me/export?limit=5").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();

    let b = Api::as_user(&unique("other"));
    let borrowed = b.get(&format!("/api/me/export?cursor={cursor}")).await;
    assert_eq!(
        borrowed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        borrowed.body
    );
    assert_eq!(borrowed.body["error"]["code"], "invalid_cursor");
    let theirs = b.get("/api/me/export").await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.body["items"], json!([]), "B sees none of A's data");
    let erased = b.call(Method::DELETE, "/api/me", None).await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    assert_eq!(erased.body["status"], "deleted");
    assert_eq!(
        canonical(&export_all(&api_a, 1000).await),
        canonical(&before),
        "B's erase left A's data alone"
    );
    assert!(!stored_items(&store, &owner).await.is_empty());

    let mut tampered = cursor.clone();
    tampered.insert(3, 'x');
    let r = api_a
        .get(&format!("/api/me/export?cursor={tampered}"))
        .await;
    assert_eq!(r.body["error"]["code"], "invalid_cursor", "{}", r.body);
    let r = api_a.get("/api/me/export?limit=0").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "invalid_limit");
    for (method, path) in [
        (Method::GET, "/api/me/export"),
        (Method::DELETE, "/api/me"),
        (Method::GET, "/api/me"),
    ] {
        let r = Api::anonymous().call(method, path, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn erasing_a_small_account_removes_everything_and_a_new_sign_in_starts_fresh() {
    let store = store().await;
    let (user, api, lastfm_user) = full_user(40, false).await;
    start_spotify_sign_in(&api).await;
    assert!(!oauth_states(&store, &user).await.is_empty());
    assert_eq!(due_entries(&store, &user).await, 1);

    let held = stored_items(&store, &user).await.len() + oauth_states(&store, &user).await.len();
    assert!(held <= 300, "{held} items: more than the inline limit");

    let r = api.call(Method::DELETE, "/api/me", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "deleted");
    assert_eq!(r.body["items_deleted"], held, "{}", r.body);

    assert_eq!(
        stored_items(&store, &user).await.len(),
        0,
        "nothing under USER#"
    );
    assert!(
        oauth_states(&store, &user).await.is_empty(),
        "sign-in states gone"
    );
    assert_eq!(due_entries(&store, &user).await, 0, "off the sync schedule");
    assert!(store.get_spotify_tokens(&user).await.unwrap().is_none());

    // Signing in again (a new token for the same user) starts from nothing.
    let again = Api::as_user(&user);
    assert_eq!(again.get("/api/me").await.body["status"], "active");
    assert_eq!(again.get("/api/me/export").await.body["items"], json!([]));
    assert!(again.all_songs().await.is_empty());
    assert!(again.all("artists").await.is_empty());
    assert_eq!(
        again.get("/api/me/known-songs").await.body["items"],
        json!([])
    );
    let services = again.get("/api/me/services").await.body;
    assert_eq!(services["services"][0]["connected"], false, "{services}");
    assert_eq!(services["services"][1]["connected"], false, "{services}");
    assert_eq!(
        again.get("/api/me/sync").await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        again.connect_lastfm(&lastfm_user).await.status,
        StatusCode::OK
    );
    let job = sync_to_done(&again).await;
    assert_eq!(job["kind"], "full", "a fresh account syncs from scratch");
    let truth = Lastfm::new().truth(&lastfm_user).await;
    assert_songs_match_truth(&again.all_songs().await, &truth);
}

/// Polls GET /api/me until the erase is over; returns the `items_deleted` values seen.
async fn wait_until_erased(api: &Api, timeout: Duration) -> Vec<u64> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let r = api.get("/api/me").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        match r.body["status"].as_str().unwrap() {
            "active" => return seen,
            "deleting" => seen.push(r.body["items_deleted"].as_u64().unwrap()),
            other => panic!("status {other}"),
        }
        assert!(Instant::now() < deadline, "erase still running: {}", r.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_large_account_is_erased_in_the_background() {
    let store = store().await;
    let (user, api, _) = full_user(1500, true).await;
    let before = stored_items(&store, &user).await.len();
    assert!(before > 300, "more items ({before}) than the inline limit");

    let r = api.call(Method::DELETE, "/api/me", None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["status"], "deleting");
    assert!(r.body["requested_at"].is_string());
    // Asking again reports on the same erase instead of starting another.
    let again = api.call(Method::DELETE, "/api/me", None).await;
    assert!(
        again.status == StatusCode::ACCEPTED || again.status == StatusCode::OK,
        "{}",
        again.body
    );
    assert_eq!(again.body["requested_at"], r.body["requested_at"]);

    let progress = wait_until_erased(&api, Duration::from_secs(120)).await;
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {progress:?}"
    );
    assert_eq!(stored_items(&store, &user).await.len(), 0);
    assert!(oauth_states(&store, &user).await.is_empty());
    assert_eq!(api.get("/api/me/export").await.body["items"], json!([]));
}

#[tokio::test]
async fn an_erase_during_a_sync_waits_for_it_and_nothing_comes_back() {
    let store = store().await;
    let (user, api, lastfm_user) = full_user(30, false).await;
    Lastfm::new()
        .add_scrobbles(
            &lastfm_user,
            json!([{"artist": "Late Band", "title": "Late Song", "uts": karaoke_shared::clock::now_secs() - 30}]),
        )
        .await;
    let started = api.start_sync().await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);

    // A sync holds the lock: even this small account is erased in the background, and only
    // after the sync's in-flight writes can no longer land.
    let r = api.call(Method::DELETE, "/api/me", None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let me = api.get("/api/me").await;
    assert_eq!(me.body["status"], "deleting", "{}", me.body);
    let songs = api.get("/api/me/songs").await;
    assert_eq!(songs.status, StatusCode::CONFLICT, "{}", songs.body);
    assert_eq!(songs.body["error"]["code"], "account_deleting");
    assert_eq!(songs.body["account"]["status"], "deleting");
    let sync = api.start_sync().await;
    assert_eq!(sync.status, StatusCode::CONFLICT, "{}", sync.body);
    assert_eq!(sync.body["error"]["code"], "account_deleting");
    let export = api.get("/api/me/export").await;
    assert_eq!(export.status, StatusCode::CONFLICT);

    wait_until_erased(&api, Duration::from_secs(120)).await;
    assert_eq!(stored_items(&store, &user).await.len(), 0);
    // Anything the interrupted sync still had queued finds no job and is dropped.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stored_items(&store, &user).await.len(), 0, "data came back");
}
