//! After the first full sync: incremental syncs through the deployed stack (late scrobbles
//! counted once, nothing new costs one request), reconciliation (deleted scrobbles lower the
//! counts) and rebuilding from the stored archive (equals a fresh full sync, no Last.fm).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use karaoke_shared::lastfm::RateGate;
use karaoke_shared::normalize::artist_key;
use karaoke_shared::queue::Queues;
use karaoke_shared::store::attr::Item;
use karaoke_shared::store::keys;
use karaoke_shared::store::Store;
use karaoke_shared::sync::control::{request_rebuild, RebuildRequest};
use karaoke_tests::{assert_songs_match_truth, stack_env, unique, var, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SYNC_TIMEOUT: Duration = Duration::from_secs(300);

fn standin_name() -> String {
    format!("t{}", &unique("u")[2..12]).replace('-', "_")
}

async fn full_sync(scrobbles: u64, seed: u64) -> (Api, String, String) {
    let lastfm = Lastfm::new();
    let name = standin_name();
    lastfm.create_user(&name, scrobbles, seed).await;
    let user_id = unique("inc");
    let api = Api::as_user(&user_id);
    assert_eq!(api.connect_lastfm(&name).await.status, StatusCode::OK);
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["kind"], "full");
    (api, name, user_id)
}

/// Last.fm requests the stand-in has answered for one user so far.
async fn requests_for(lastfm: &Lastfm, user: &str) -> u64 {
    lastfm.stats().await["by_user"][user.to_lowercase()]
        .as_u64()
        .unwrap_or(0)
}

async fn sync_again(api: &Api, body: Option<Value>) -> Value {
    let r = api.call(Method::POST, "/api/me/sync", body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(job["status"], "done", "{job}");
    job
}

/// Every scrobble the stand-in lists for a user, read through its Last.fm API.
async fn scrobbles_of(user: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let gate = karaoke_tests::shared_rate_gate().await;
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        gate.acquire().await.unwrap();
        let body = karaoke_tests::json_of(client.get(var("LASTFM_API_URL")).query(&[
            ("method", "user.getrecenttracks"),
            ("user", user),
            ("api_key", "local-dev-key"),
            ("format", "json"),
            ("limit", "200"),
            ("page", &page.to_string()),
        ]))
        .await;
        if body.get("error").is_some() {
            // Error 29 all the same (a slot kept by a slow client): hold everyone back, as the
            // functions do.
            gate.back_off(Duration::from_secs(2)).await;
            continue;
        }
        let tracks = body["recenttracks"]["track"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        out.extend(tracks.into_iter().filter(|t| t["date"]["uts"].is_string()));
        let total: u64 = body["recenttracks"]["@attr"]["totalPages"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        if page >= total {
            return out;
        }
        page += 1;
    }
}

fn uts(scrobble: &Value) -> i64 {
    scrobble["date"]["uts"].as_str().unwrap().parse().unwrap()
}

async fn delete_scrobble(user: &str, scrobble: &Value) {
    let r = reqwest::Client::new()
        .delete(format!("{}/_admin/scrobbles", var("LASTFM_ADMIN_URL")))
        .json(&json!({
            "user": user,
            "uts": uts(scrobble),
            "artist": scrobble["artist"]["#text"],
            "title": scrobble["name"],
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Requests an incremental sync may make to read its trailing window whole: a chain answer
/// takes every row newer than its oldest second, so at least `PAGE_LIMIT - 1` new rows each
/// unless seconds are shared; one more for the last answer.
async fn window_reads(lastfm: &Lastfm, user: &str, from: i64) -> u64 {
    let rows = lastfm.list_scrobbles(user, Some(from), None).await.len() as u64;
    rows.div_ceil(199).max(1) + 1
}

/// Nothing new reads the trailing window and changes nothing, and starts no list refresh;
/// late scrobbles (one in a second another scrobble has) count once.
#[tokio::test]
async fn late_scrobbles_count_once_and_nothing_new_changes_nothing() {
    let lastfm = Lastfm::new();
    let (api, name, _) = full_sync(1_500, 31).await;
    let listed = scrobbles_of(&name).await;
    let newest = uts(&listed[0]);
    let trailing = newest + 1 - 15 * 86_400;

    // Nothing new: the window is read (it spans several pages, where a deletion and an upload
    // could hide behind an unchanged total) and nothing else.
    let before = requests_for(&lastfm, &name).await;
    let job = sync_again(&api, None).await;
    assert_eq!(job["kind"], "incremental");
    let spent = requests_for(&lastfm, &name).await - before;
    assert!(
        spent <= window_reads(&lastfm, &name, trailing).await,
        "{spent}: {job}"
    );
    assert_eq!(job["repairs"], json!([]));
    assert_eq!(job["pages_total"], 2, "no list refresh: {job}");
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);

    // New scrobbles, a late one (three days before the newest), and another track in a
    // second that already has a scrobble.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let shared_second = listed
        .iter()
        .map(uts)
        .find(|t| *t < newest - 86_400)
        .unwrap();
    lastfm
        .add_scrobbles(
            &name,
            json!([
                {"artist": "Queen", "title": "Late Night Song", "album": "Late", "uts": newest - 3 * 86_400},
                {"artist": "Queen", "title": "Same Second", "album": "S", "uts": shared_second},
                {"artist": "Björk", "title": "New One", "album": "N", "uts": now - 120},
                {"artist": "Björk", "title": "New One", "album": "N", "uts": now - 60},
                {"artist": &listed[0]["artist"]["#text"], "title": &listed[0]["name"], "uts": now - 30},
            ]),
        )
        .await;
    let before = requests_for(&lastfm, &name).await;
    let job = sync_again(&api, None).await;
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
    let recent = &job["repairs"][0];
    assert_eq!(recent["window"], "recent", "{job}");
    assert_eq!(recent["added"], 5, "{job}");
    assert_eq!(recent["removed"], 0, "{job}");
    // The trailing window's reads and one request per list unit (the artist and loved refresh
    // that new listening triggers); the window is not the whole history.
    let spent = requests_for(&lastfm, &name).await - before;
    let units = job["pages_total"].as_u64().unwrap();
    assert!(spent >= units - 1, "{spent}: {job}");
    assert!(
        spent <= units - 2 + window_reads(&lastfm, &name, trailing).await,
        "{spent}: {job}"
    );
    assert!(job["scrobbles_done"].as_u64().unwrap() < 1_500, "{job}");
    let late = api
        .all_songs()
        .await
        .into_iter()
        .find(|s| s["title"] == "Late Night Song")
        .expect("the late scrobble is counted");
    assert_eq!(late["playcount"], 1);

    // Syncing again re-reads the window, finds every scrobble counted, and changes nothing.
    let job = sync_again(&api, None).await;
    assert_eq!(job["repairs"], json!([]), "{job}");
    assert!(
        job["pages_total"].as_u64() <= Some(2),
        "no list refresh: {job}"
    );
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
}

/// An empty trailing window (a listener who stopped) costs one request when nothing is new.
#[tokio::test]
async fn nothing_new_in_a_quiet_window_costs_one_request() {
    let lastfm = Lastfm::new();
    let (api, name, _) = full_sync(150, 34).await;
    // A single page holds the whole window: that answer is the proof nothing changed.
    let before = requests_for(&lastfm, &name).await;
    let job = sync_again(&api, None).await;
    assert_eq!(requests_for(&lastfm, &name).await - before, 1, "{job}");
    assert_eq!(job["repairs"], json!([]));
}

#[tokio::test]
async fn deleted_scrobbles_lower_counts_after_reconciliation() {
    let lastfm = Lastfm::new();
    let (api, name, _) = full_sync(1_800, 32).await;
    let listed = scrobbles_of(&name).await;
    // One in the trailing window, two from years back (which only reconciliation finds).
    let old = listed.len() - 10;
    for s in [&listed[1], &listed[old], &listed[old + 5]] {
        delete_scrobble(&name, s).await;
    }
    let job = sync_again(&api, Some(json!({"reconcile": true}))).await;
    assert_eq!(job["reconcile"], true);
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
    let repairs = job["repairs"].as_array().unwrap();
    let removed: u64 = repairs.iter().map(|r| r["removed"].as_u64().unwrap()).sum();
    assert_eq!(removed, 3, "{job}");
    assert!(
        repairs.iter().any(|r| r["window"] != "recent"),
        "an old month was repaired: {job}"
    );
    // Once repaired, a second reconciliation finds nothing to do.
    let job = sync_again(&api, Some(json!({"reconcile": true}))).await;
    assert_eq!(job["repairs"], json!([]), "{job}");

    // Bad options are refused and start nothing.
    let r = api
        .call(
            Method::POST,
            "/api/me/sync",
            Some(json!({"reconcile": "yes"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reconcile"));
}

#[tokio::test]
async fn a_rebuild_equals_a_fresh_full_sync_without_asking_lastfm() {
    let lastfm = Lastfm::new();
    let (api, name, user_id) = full_sync(20_000, 33).await;
    let fresh = api.all_songs().await;
    assert_songs_match_truth(&fresh, &lastfm.truth(&name).await);

    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME"));
    let queues = Queues::new(
        aws_sdk_sqs::Client::new(&config),
        var("START_QUEUE_URL"),
        var("PAGE_QUEUE_URL"),
    );
    let before = requests_for(&lastfm, &name).await;
    let now = karaoke_shared::clock::now_millis();
    let started = request_rebuild(&store, &queues, &user_id, now)
        .await
        .unwrap();
    let RebuildRequest::Started {
        pages, scrobbles, ..
    } = started
    else {
        panic!("rebuild did not start: {started:?}");
    };
    assert_eq!((pages, scrobbles), (100, 20_000));
    let job = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(job["kind"], "rebuild");
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        requests_for(&lastfm, &name).await,
        before,
        "no Last.fm request"
    );

    let rebuilt = api.all_songs().await;
    assert_songs_match_truth(&rebuilt, &lastfm.truth(&name).await);
    let view = |songs: &[Value]| -> Vec<Value> {
        let mut rows: Vec<Value> = songs
            .iter()
            .filter(|s| !s["playcount"].is_null())
            .map(|s| {
                json!([
                    s["artist"],
                    s["title"],
                    s["album"],
                    s["playcount"],
                    s["first_scrobbled_at"],
                    s["last_scrobbled_at"],
                    s["loved"]
                ])
            })
            .collect();
        rows.sort_by_key(|r| r.to_string());
        rows
    };
    assert_eq!(view(&rebuilt), view(&fresh));
    // The summary's track count is the rebuilt generation's.
    let summary = api.get("/api/me/summary").await.body;
    assert_eq!(
        summary["counts"]["songs"]["lastfm"].as_u64(),
        Some(fresh.iter().filter(|s| !s["playcount"].is_null()).count() as u64),
        "{summary}"
    );
}

/// Every item of the user's partition under `prefix`, by sort key.
async fn items_under(user_id: &str, prefix: &str) -> BTreeMap<String, Item> {
    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let mut found = BTreeMap::new();
    let mut start = None;
    loop {
        let out = db
            .query()
            .table_name(var("TABLE_NAME"))
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items.unwrap_or_default() {
            let sk = item["sk"].as_s().unwrap().clone();
            found.insert(sk, item);
        }
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return found,
        }
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).map(|v| match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
        other => format!("{other:?}"),
    })
}

/// A track's artist and title as our rows tell tracks apart (a spelling in another case is the
/// same track; the row shows one of them).
fn folded_pair(track: &Value) -> (String, String) {
    let part = |name: &str| track[name].as_str().unwrap().to_lowercase();
    (part("artist"), part("title"))
}

/// What a refresh would write on an artist row: name, Last.fm playcount and rank.
fn lastfm_part(item: &Item) -> Vec<Option<String>> {
    ["name", "lfm_playcount", "lfm_rank"]
        .iter()
        .map(|a| text(item, a))
        .collect()
}

#[tokio::test]
async fn a_list_refresh_rewrites_only_what_changed_and_drops_what_left_the_lists() {
    let lastfm = Lastfm::new();
    let name = standin_name();
    lastfm.create_user(&name, 1_500, 41).await;
    let now = karaoke_shared::clock::now_secs();
    // An artist heard once, so that deleting that scrobble takes it off the top list.
    let once = json!({"artist": "Passing Fancy", "title": "Only Once", "uts": now - 600});
    lastfm.add_scrobbles(&name, json!([once])).await;
    let user_id = unique("lists");
    let api = Api::as_user(&user_id);
    assert_eq!(api.connect_lastfm(&name).await.status, StatusCode::OK);
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let full = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(full["status"], "done", "{full}");
    let artists_before = items_under(&user_id, keys::ARTIST_PREFIX).await;
    let loved_before = items_under(&user_id, keys::LOVED_PREFIX).await;
    assert!(artists_before.contains_key(&keys::artist_sk(&artist_key("Passing Fancy"))));

    // On Last.fm: the single scrobble goes, a new artist is heard twice, the oldest loved
    // track is unloved and a played, unloved track is loved.
    delete_scrobble(
        &name,
        &json!({"date": {"uts": once["uts"].to_string()}, "artist": {"#text": "Passing Fancy"}, "name": "Only Once"}),
    )
    .await;
    lastfm
        .add_scrobbles(
            &name,
            json!([
                {"artist": "Newcomer Band", "title": "First Hit", "uts": now - 120},
                {"artist": "Newcomer Band", "title": "First Hit", "uts": now - 60},
            ]),
        )
        .await;
    let truth_loved = lastfm.truth_loved(&name).await;
    let loved_tracks = truth_loved["tracks"].as_array().unwrap();
    let oldest = loved_tracks.last().unwrap();
    let (un_artist, un_title) = (
        oldest["artist"].as_str().unwrap(),
        oldest["title"].as_str().unwrap(),
    );
    lastfm.set_loved(&name, un_artist, un_title, false).await;
    let truth = lastfm.truth(&name).await;
    let newly = truth["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            !loved_tracks
                .iter()
                .any(|l| l["artist"] == t["artist"] && l["title"] == t["title"])
        })
        .unwrap();
    let (new_artist, new_title) = (
        newly["artist"].as_str().unwrap(),
        newly["title"].as_str().unwrap(),
    );
    lastfm.set_loved(&name, new_artist, new_title, true).await;

    let job = sync_again(&api, None).await;
    assert_eq!(job["kind"], "incremental");
    let job_id = job["job_id"].as_str().unwrap().to_string();

    // The sweep runs after the job ends: wait for it to take what left the lists.
    let loved_truth: BTreeSet<(String, String)> = lastfm.truth_loved(&name).await["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(folded_pair)
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let (artists, songs) = loop {
        let artists = api.all("artists").await;
        let songs = api.all("songs").await;
        let loved: BTreeSet<(String, String)> = songs
            .iter()
            .filter(|s| s["loved"] == true)
            .map(folded_pair)
            .collect();
        if !artists.iter().any(|a| a["name"] == "Passing Fancy") && loved == loved_truth {
            break (artists, songs);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never finished: still loved {:?}, not loved {:?}, artists {:?}",
            loved.difference(&loved_truth).collect::<Vec<_>>(),
            loved_truth.difference(&loved).collect::<Vec<_>>(),
            artists
                .iter()
                .filter(|a| a["name"] == "Passing Fancy")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // What the page shows is Last.fm's lists exactly.
    let truth_artists = lastfm.truth_artists(&name).await;
    let expected: BTreeMap<String, (Value, Value)> = truth_artists["artists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                (a["rank"].clone(), a["playcount"].clone()),
            )
        })
        .collect();
    let shown: BTreeMap<String, (Value, Value)> = artists
        .iter()
        .filter(|a| !a["lastfm_rank"].is_null())
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                (a["lastfm_rank"].clone(), a["lastfm_playcount"].clone()),
            )
        })
        .collect();
    assert_eq!(shown, expected);
    assert!(expected.contains_key("Newcomer Band"));
    let unloved = songs
        .iter()
        .find(|s| s["artist"] == un_artist && s["title"] == un_title);
    assert!(unloved.is_none_or(|s| s["loved"] == false), "{unloved:?}");

    // Only rows whose Last.fm part changed were written again; the rest keep the full
    // sync's stamp (and one write each was saved).
    let full_id = full["job_id"].as_str().unwrap();
    let artists_after = items_under(&user_id, keys::ARTIST_PREFIX).await;
    let (mut kept, mut rewritten) = (0, 0);
    for (sk, item) in &artists_after {
        let stamp = text(item, "lfm_job");
        match artists_before.get(sk) {
            Some(old) if lastfm_part(old) == lastfm_part(item) => {
                assert_eq!(stamp.as_deref(), Some(full_id), "{sk} rewritten unchanged");
                kept += 1;
            }
            _ => {
                assert_eq!(
                    stamp.as_deref(),
                    Some(job_id.as_str()),
                    "{sk} changed, not rewritten"
                );
                rewritten += 1;
            }
        }
    }
    assert!(!artists_after.contains_key(&keys::artist_sk(&artist_key("Passing Fancy"))));
    assert!(
        rewritten >= 1 && kept > 10 * rewritten,
        "kept {kept}, rewritten {rewritten}"
    );
    let loved_after = items_under(&user_id, keys::LOVED_PREFIX).await;
    assert_eq!(
        loved_after.len(),
        loved_before.len(),
        "one loved, one unloved"
    );
    let restamped: Vec<&String> = loved_after
        .iter()
        .filter(|(_, item)| text(item, "job").as_deref() != Some(full_id))
        .map(|(sk, _)| sk)
        .collect();
    assert_eq!(
        restamped.len(),
        1,
        "only the newly loved track is written: {restamped:?}"
    );
    assert_eq!(
        text(&loved_after[restamped[0]], "job").as_deref(),
        Some(job_id.as_str())
    );
}
