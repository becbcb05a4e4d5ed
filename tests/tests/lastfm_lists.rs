//! Every artist of Last.fm's top list (all pages, never stopping at 50 or 1,000) and every
//! loved track, through the deployed stack, against the stand-in's ground truth.

use std::collections::BTreeMap;
use std::time::Duration;

use karaoke_tests::{unique, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn synced(lastfm_user: &str) -> (Api, Value) {
    let api = Api::as_user(&unique("lists"));
    let r = api.connect_lastfm(lastfm_user).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let job = api.wait_for_sync(Duration::from_secs(400)).await;
    assert_eq!(job["status"], "done", "{job}");
    (api, job)
}

fn assert_artists_match(artists: &[Value], truth: &Value) {
    let expected: BTreeMap<&str, &Value> = truth["artists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a))
        .collect();
    let lastfm: Vec<&Value> = artists
        .iter()
        .filter(|a| !a["lastfm_rank"].is_null())
        .collect();
    assert_eq!(lastfm.len(), expected.len(), "every artist of every page");
    for a in &lastfm {
        let t = expected[a["name"].as_str().unwrap()];
        assert_eq!(a["lastfm_rank"], t["rank"], "{a}");
        assert_eq!(a["lastfm_playcount"], t["playcount"], "{a}");
        assert!(a["sources"].as_array().unwrap().contains(&json!("lastfm")));
    }
    for pair in lastfm.windows(2) {
        assert!(pair[0]["lastfm_playcount"].as_u64() >= pair[1]["lastfm_playcount"].as_u64());
    }
}

#[tokio::test]
async fn more_than_a_thousand_artists_are_all_stored_with_their_ranks() {
    let lastfm = Lastfm::new();
    let (api, job) = synced("artists_3500").await;
    assert!(
        job["pages_total"].as_u64().unwrap() >= 4 + 53,
        "4 artist pages of 1,000 plus scrobble pages: {job}"
    );
    let artists = api.all("artists").await;
    assert_artists_match(&artists, &lastfm.truth_artists("artists_3500").await);
    let summary = api.get("/api/me/summary").await.body;
    assert_eq!(summary["counts"]["artists"]["lastfm"], 3500);
}

#[tokio::test]
async fn artist_list_edges_zero_one_and_page_boundaries() {
    let lastfm = Lastfm::new();
    for (user, count) in [
        ("artists_0", 0),
        ("artists_1", 1),
        ("artists_999", 999),
        ("artists_1000", 1000),
        ("artists_1001", 1001),
    ] {
        let (api, _) = synced(user).await;
        let artists = api.all("artists").await;
        assert_eq!(artists.len(), count, "{user}");
        assert_artists_match(&artists, &lastfm.truth_artists(user).await);
    }
}

#[tokio::test]
async fn loved_tracks_are_marked_and_never_played_ones_still_show() {
    let lastfm = Lastfm::new();
    let name = format!("l{}", &unique("l")[2..12]);
    lastfm.create_user(&name, 1_500, 51).await;
    let (api, _) = synced(&name).await;
    let songs = api.all("songs").await;
    let truth = lastfm.truth_loved(&name).await;
    let loved: Vec<&Value> = songs.iter().filter(|s| s["loved"] == true).collect();
    assert_eq!(
        loved.len() as u64,
        truth["total"].as_u64().unwrap(),
        "every loved track is marked"
    );
    let never_played: Vec<&Value> = truth["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["scrobbled"] == false)
        .collect();
    assert!(!never_played.is_empty());
    for t in never_played {
        let row = songs
            .iter()
            .find(|s| s["title"] == t["title"] && s["artist"] == t["artist"])
            .unwrap_or_else(|| panic!("loved, never played, missing: {t}"));
        assert_eq!(row["sources"], json!(["lastfm"]));
        assert_eq!(row["playcount"], Value::Null);
        assert_eq!(row["loved"], true);
    }
    // Played songs come first, loved-only ones after them.
    let first_unplayed = songs.iter().position(|s| s["playcount"].is_null()).unwrap();
    assert!(songs[first_unplayed..]
        .iter()
        .all(|s| s["playcount"].is_null()));
}

#[tokio::test]
async fn a_hand_added_artist_merges_with_last_fm_into_one_row() {
    let lastfm = Lastfm::new();
    let (api, _) = synced("artists_199").await;
    let truth = lastfm.truth_artists("artists_199").await;
    let top = truth["artists"][0]["name"].as_str().unwrap().to_string();
    let r = api
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": top.to_uppercase()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let artists = api.all("artists").await;
    assert_eq!(artists.len(), 199, "merged by folded name, not a new row");
    let row = artists.iter().find(|a| a["name"] == json!(top)).unwrap();
    assert_eq!(row["sources"], json!(["lastfm", "manual"]));
    assert_eq!(row["manual"], true);
    assert_eq!(row["lastfm_rank"], 1);
    // Removing the hand-added mark keeps the Last.fm row.
    let r = api
        .call(
            Method::DELETE,
            &format!("/api/me/artists?name={}", karaoke_tests::query_escape(&top)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let row = api
        .all("artists")
        .await
        .into_iter()
        .find(|a| a["name"] == json!(top))
        .unwrap();
    assert_eq!(row["sources"], json!(["lastfm"]));
}
