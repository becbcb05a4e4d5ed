//! Sung songs, "My Favorites" and recommendations through the deployed API: validation (a 4xx
//! naming the field, and nothing written), idempotent retries, the favourites list, delete,
//! recommendations with filters and cursor paging, "Sung 3×" on Songs You Know, and two users
//! who never see each other's performances.

use std::collections::HashSet;

use futures::future::join_all;
use karaoke_tests::{ensure_sample_catalog, unique, Api};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

async fn signed_in() -> Api {
    ensure_sample_catalog().await;
    Api::as_user(&unique("sung"))
}

fn now() -> i64 {
    karaoke_shared::clock::now_secs()
}

async fn sing(api: &Api, body: Value) -> karaoke_tests::Reply {
    api.call(Method::POST, "/api/me/sung-songs", Some(body))
        .await
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items}"))
        .iter()
        .map(|i| i["song_id"].as_str().unwrap().to_string())
        .collect()
}

async fn sung_list(api: &Api, query: &str) -> Vec<String> {
    let r = api.get(&format!("/api/me/sung-songs{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    ids(&r.body["items"])
}

#[tokio::test]
async fn bad_surveys_are_refused_naming_the_field_and_change_nothing() {
    let api = signed_in().await;
    let ok = json!({"song_id": "KS0001", "rating": 4, "client_request_id": "ok-1"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            with("rating", json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rating",
            "rating",
        ),
        (
            with("rating", json!(6)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rating",
            "rating",
        ),
        (
            with("rating", json!("5")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "rating",
        ),
        (
            with("rating", json!(4.5)),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "rating",
        ),
        (
            without("rating"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "rating",
        ),
        (
            with("notes", json!("n".repeat(501))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_notes",
            "notes",
        ),
        (
            with("notes", json!("bell\u{7}")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_notes",
            "notes",
        ),
        (
            with("sung_at", json!("1999-12-31T23:00:00Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sung_at",
            "sung_at",
        ),
        (
            with("sung_at", json!(now() + 3 * 86_400)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sung_at",
            "sung_at",
        ),
        (
            with("sung_at", json!("last tuesday")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "sung_at",
        ),
        (
            with("vocal_range", json!("way_too_high")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "vocal_range",
        ),
        (
            with("difficulty", json!("insane")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "difficulty",
        ),
        (
            with("crowd_response", json!("wild")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "crowd_response",
        ),
        (
            with("would_sing_again", json!("yes")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "would_sing_again",
        ),
        (
            with("mood", json!("happy")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "mood",
        ),
        (
            with("client_request_id", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_client_request_id",
            "client_request_id",
        ),
        (
            with("client_request_id", json!("has space")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_client_request_id",
            "client_request_id",
        ),
        (
            with("client_request_id", json!("r".repeat(65))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_client_request_id",
            "client_request_id",
        ),
        (
            without("client_request_id"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "client_request_id",
        ),
        (
            with("song_id", json!("  ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_song_id",
            "song_id",
        ),
        (
            with("song_id", json!("NO-SUCH-SONG")),
            StatusCode::NOT_FOUND,
            "not_found",
            "song_id",
        ),
        (
            without("song_id"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "song_id",
        ),
    ];
    for (body, status, expected, field) in cases {
        let r = sing(&api, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(code(&r.body), expected, "{body}: {}", r.body);
        assert!(
            message(&r.body).contains(field),
            "the message names {field}: {}",
            r.body
        );
    }
    let raw = api
        .raw(
            Method::POST,
            "/api/me/sung-songs",
            Some(b"{\"song_id\":".to_vec()),
        )
        .await;
    assert_eq!(
        (raw.status, code(&raw.body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let empty = api
        .raw(Method::POST, "/api/me/sung-songs", Some(Vec::new()))
        .await;
    assert_eq!(
        (empty.status, code(&empty.body)),
        (StatusCode::BAD_REQUEST, "missing_body")
    );
    assert!(
        sung_list(&api, "").await.is_empty(),
        "nothing recorded by refused submissions"
    );

    for (query, expected) in [
        ("?favorites=maybe", "invalid_favorites"),
        ("?limit=0", "invalid_limit"),
        ("?limit=201", "invalid_limit"),
        ("?cursor=not-a-cursor", "invalid_cursor"),
    ] {
        let r = api.get(&format!("/api/me/sung-songs{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert_eq!(code(&r.body), expected, "{query}");
    }
    let no_id = api.call(Method::DELETE, "/api/me/sung-songs", None).await;
    assert_eq!(
        (no_id.status, code(&no_id.body)),
        (StatusCode::BAD_REQUEST, "missing_song_id")
    );

    // The limits themselves are accepted.
    let edge = sing(
        &api,
        json!({
            "song_id": " KS0001 ", "rating": 5, "client_request_id": "A-z_0-9x".repeat(8),
            "notes": "n".repeat(500), "sung_at": "2000-01-01T00:00:00Z",
        }),
    )
    .await;
    assert_eq!(edge.status, StatusCode::CREATED, "{}", edge.body);
    assert_eq!(edge.body["song_id"], "KS0001");
    assert_eq!(edge.body["sung_at"], json!(["2000-01-01T00:00:00Z"]));
}

#[tokio::test]
async fn a_performance_is_recorded_with_its_survey_and_retries_count_once() {
    let api = signed_in().await;
    let t1 = now() - 7200;
    let first = json!({
        "song_id": "KS0017", "sung_at": t1, "rating": 4, "would_sing_again": true,
        "vocal_range": "comfortable", "difficulty": "medium", "crowd_response": "loved_it",
        "notes": "  Key down one.\nGreat crowd  ", "client_request_id": "perf-1",
    });
    let r = sing(&api, first.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["duplicate"], false);
    assert_eq!(
        (b["artist"].as_str(), b["title"].as_str()),
        (Some("Journey"), Some("Don't Stop Believin'"))
    );
    assert_eq!(b["brand_count"], 6);
    assert_eq!(b["times_sung"], 1);
    assert_eq!(b["favorite"], true);
    let latest = &b["latest"];
    assert_eq!(latest["rating"], 4);
    assert_eq!(latest["vocal_range"], "comfortable");
    assert_eq!(latest["difficulty"], "medium");
    assert_eq!(latest["crowd_response"], "loved_it");
    assert_eq!(latest["notes"], "Key down one.\nGreat crowd");
    assert_eq!(
        latest["sung_at"],
        karaoke_shared::clock::rfc3339(t1).as_str()
    );

    // The client did not hear back and sends the same submission again, several times at once.
    let retries = join_all((0..4).map(|_| sing(&api, first.clone()))).await;
    for r in &retries {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["duplicate"], true);
        assert_eq!(r.body["times_sung"], 1);
    }

    // Eight new performances sent at once all count, once each.
    let t2 = now() - 60;
    let encore = join_all((0..8).map(|i| {
        let api = api.clone();
        async move {
            sing(
                &api,
                json!({"song_id": "KS0017", "sung_at": t2 - i, "rating": 2,
                       "vocal_range": "too_high", "client_request_id": format!("perf-2-{i}")}),
            )
            .await
        }
    }))
    .await;
    assert!(
        encore.iter().all(|r| r.status == StatusCode::CREATED),
        "{:?}",
        encore.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let list = api.get("/api/me/sung-songs").await.body;
    let row = &list["items"][0];
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(row["times_sung"], 9);
    assert_eq!(row["sung_at"].as_array().unwrap().len(), 9);
    assert_eq!(row["history"].as_array().unwrap().len(), 9);
    assert_eq!(
        row["latest"]["sung_at"],
        karaoke_shared::clock::rfc3339(t2).as_str(),
        "the latest survey is the newest performance"
    );
    assert_eq!(row["rating"], 2);
    assert_eq!(row["latest"]["vocal_range"], "too_high");
    assert_eq!(
        row["history"][8]["notes"], "Key down one.\nGreat crowd",
        "the first survey is kept in the history"
    );
    assert_eq!(
        row["favorite"], false,
        "the latest survey decides: rated 2, would sing again unanswered"
    );

    // A retry of the very first submission, long after, still counts nothing.
    let late = sing(&api, first).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(late.body["times_sung"], 9);
}

#[tokio::test]
async fn my_favorites_are_the_songs_rated_4_5_or_to_sing_again_newest_first() {
    let api = signed_in().await;
    let t = now() - 10_000;
    for (i, (song, rating, again)) in [
        ("KS0010", 5, None),
        ("KS0011", 2, Some(true)),
        ("KS0012", 3, None),
        ("KS0013", 4, None),
        ("KS0014", 3, Some(false)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = json!({"song_id": song, "rating": rating, "sung_at": t + i as i64 * 100,
                              "client_request_id": format!("fav-{i}")});
        if let Some(a) = again {
            body["would_sing_again"] = json!(a);
        }
        let r = sing(&api, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert_eq!(
        sung_list(&api, "").await,
        ["KS0014", "KS0013", "KS0012", "KS0011", "KS0010"]
    );
    assert_eq!(
        sung_list(&api, "?favorites=true").await,
        ["KS0013", "KS0011", "KS0010"]
    );

    // Sung again and rated lower: no longer a favourite. Rated higher: becomes one.
    sing(
        &api,
        json!({"song_id": "KS0013", "rating": 1, "client_request_id": "fav-5"}),
    )
    .await;
    sing(
        &api,
        json!({"song_id": "KS0012", "rating": 3, "would_sing_again": true, "client_request_id": "fav-6"}),
    )
    .await;
    assert_eq!(
        sung_list(&api, "?favorites=true").await,
        ["KS0012", "KS0011", "KS0010"],
        "the most recently sung favourite first"
    );
    assert_eq!(sung_list(&api, "?favorites=false").await.len(), 5);

    // Paging the favourites by cursor, one at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/me/sung-songs?favorites=true&limit=1&cursor={c}"),
            None => "/api/me/sung-songs?favorites=true&limit=1".into(),
        };
        let r = api.get(&q).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["favorites"], true);
        seen.extend(ids(&r.body["items"]));
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                let wrong_list = api.get(&format!("/api/me/sung-songs?cursor={c}")).await;
                assert_eq!(
                    wrong_list.status,
                    StatusCode::BAD_REQUEST,
                    "a favourites cursor is refused on the full list"
                );
                cursor = Some(c.to_string());
            }
            None => break,
        }
        assert!(seen.len() <= 3, "paging does not end: {seen:?}");
    }
    assert_eq!(seen, ["KS0012", "KS0011", "KS0010"]);

    // Deleting one removes it from both lists; deleting it again is a 404.
    let del = api
        .call(Method::DELETE, "/api/me/sung-songs?song_id=KS0011", None)
        .await;
    assert_eq!(del.status, StatusCode::OK, "{}", del.body);
    assert_eq!(del.body, json!({"song_id": "KS0011", "removed": true}));
    let again = api
        .call(Method::DELETE, "/api/me/sung-songs?song_id=KS0011", None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(message(&again.body).contains("KS0011"));
    assert_eq!(
        sung_list(&api, "?favorites=true").await,
        ["KS0012", "KS0010"]
    );
    assert!(!sung_list(&api, "").await.contains(&"KS0011".to_string()));
}

#[tokio::test]
async fn songs_you_know_say_how_often_a_song_was_sung() {
    let api = signed_in().await;
    for id in ["KS0018", "KS0019"] {
        let r = api
            .call(
                Method::POST,
                "/api/me/known-songs",
                Some(json!({"song_id": id})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let row = |songs: &Value, title: &str| -> Value {
        songs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"] == title)
            .unwrap_or_else(|| panic!("{title} not in {songs}"))
            .clone()
    };
    let before = api.get("/api/me/songs").await.body;
    let prayer = row(&before, "Livin' on a Prayer");
    assert_eq!(prayer["karaoke_song_id"], "KS0018");
    assert!(
        prayer.get("times_sung").is_none(),
        "never sung: no count at all: {prayer}"
    );

    for (i, rating) in [3, 5, 4].into_iter().enumerate() {
        let r = sing(
            &api,
            json!({"song_id": "KS0018", "rating": rating, "sung_at": now() - 1000 + i as i64,
                   "client_request_id": format!("syk-{i}")}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let after = api.get("/api/me/songs").await.body;
    let prayer = row(&after, "Livin' on a Prayer");
    assert_eq!(prayer["times_sung"], 3);
    assert_eq!(prayer["rating"], 4, "the latest survey's rating");
    assert_eq!(prayer["favorite"], true);
    assert!(prayer["last_sung_at"].is_string());
    assert!(row(&after, "It's My Life").get("times_sung").is_none());

    // Paging still works with the counts on, one row per page.
    let first = api.get("/api/me/songs?limit=1").await.body;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = api
        .get(&format!("/api/me/songs?limit=1&cursor={cursor}"))
        .await
        .body;
    let titles: HashSet<&str> = [&first, &second]
        .iter()
        .map(|p| p["items"][0]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2);
}

async fn recommendations(api: &Api, query: &str) -> Value {
    let r = api.get(&format!("/api/me/recommendations{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    r.body
}

/// Every recommendation for `filter`, following cursors `limit` at a time.
async fn all_recommendations(api: &Api, filter: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("?filter={filter}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = recommendations(api, &q).await;
        assert_eq!(page["filter"], filter);
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert_eq!(page["total"].as_u64().unwrap() as usize, items.len());
                return items;
            }
        }
        assert!(items.len() < 1000, "paging does not end");
    }
}

fn reason_texts(item: &Value) -> Vec<String> {
    item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn recommendations_are_explained_filtered_and_paged() {
    let api = signed_in().await;
    assert_eq!(
        recommendations(&api, "").await["items"],
        json!([]),
        "no listening data, nothing sung: nothing to recommend"
    );
    api.call(
        Method::POST,
        "/api/me/artists",
        Some(json!({"name": "Queen"})),
    )
    .await;
    api.call(
        Method::POST,
        "/api/me/known-songs",
        Some(json!({"song_id": "KS0003"})),
    )
    .await;
    for (song, rating, range, rid) in [
        ("KS0001", 5, "comfortable", "rec-1"),
        ("KS0004", 1, "too_high", "rec-2"),
    ] {
        let r = sing(
            &api,
            json!({"song_id": song, "rating": rating, "vocal_range": range, "client_request_id": rid}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }

    let all = all_recommendations(&api, "all", 200).await;
    let order = ids(&Value::Array(all.clone()));
    let pos = |id: &str| {
        order
            .iter()
            .position(|x| x == id)
            .unwrap_or_else(|| panic!("{id} not in {order:?}"))
    };
    assert_eq!(order.len(), order.iter().collect::<HashSet<_>>().len());
    // A known artist's songs come before everyone else's; the one rated 1 and too high drops
    // below the other Queen songs.
    let queen: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, r)| r["artist"] == "Queen")
        .map(|(i, _)| i)
        .collect();
    assert!(queen.len() >= 8, "{order:?}");
    let first_other = all
        .iter()
        .position(|r| !r["artist"].as_str().unwrap().contains("Queen"));
    if let Some(first_other) = first_other {
        for id in ["KS0001", "KS0002", "KS0003", "KS0005"] {
            assert!(
                pos(id) < first_other,
                "{id} before other artists: {order:?}"
            );
        }
    }
    for id in ["KS0002", "KS0003", "KS0005", "KS0006", "KS0007", "KS0008"] {
        assert!(pos("KS0004") > pos(id), "rated 1, too high: below {id}");
    }
    let scores: Vec<f64> = all.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    let favourite = &all[pos("KS0001")];
    let texts = reason_texts(favourite);
    assert!(
        texts.contains(&"You added Queen to your artists".to_string()),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("5★")), "{texts:?}");
    assert_eq!(favourite["sung"]["times_sung"], 1);
    assert_eq!(favourite["sung"]["favorite"], true);
    let dropped = reason_texts(&all[pos("KS0004")]);
    assert!(
        dropped.contains(&"You found it too high".to_string()),
        "{dropped:?}"
    );
    assert_eq!(all[pos("KS0003")]["known"], true);
    assert!(
        reason_texts(&all[pos("KS0003")]).contains(&"It's in your songs".to_string()),
        "{:?}",
        reason_texts(&all[pos("KS0003")])
    );
    for r in &all {
        let points: f64 = r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["points"].as_f64().unwrap())
            .sum();
        assert!(
            (points - r["score"].as_f64().unwrap()).abs() < 0.3,
            "the reasons add up to the score: {r}"
        );
    }

    // Paging three at a time gives the same list.
    let paged = all_recommendations(&api, "all", 3).await;
    assert_eq!(ids(&Value::Array(paged)), order);

    assert_eq!(
        ids(&Value::Array(
            all_recommendations(&api, "favorites", 50).await
        )),
        ["KS0001"]
    );
    let new = ids(&Value::Array(all_recommendations(&api, "new", 50).await));
    assert!(!new.contains(&"KS0001".to_string()) && !new.contains(&"KS0004".to_string()));
    assert_eq!(new.len(), order.len() - 2);
    assert_eq!(
        ids(&Value::Array(all_recommendations(&api, "known", 50).await)),
        ["KS0003"]
    );

    // Cursors are bound to the user and the filter, and cannot be edited.
    let first = recommendations(&api, "?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = recommendations(&api, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second["items"]), order[2..4]);
    let other = Api::as_user(&unique("sung"));
    let mut tampered = cursor.clone();
    tampered.replace_range(..1, if cursor.starts_with('e') { "f" } else { "e" });
    for (who, query, why) in [
        (
            &api,
            format!("?filter=new&cursor={cursor}"),
            "another filter",
        ),
        (&other, format!("?cursor={cursor}"), "another user"),
        (&api, format!("?cursor={tampered}"), "edited"),
        (
            &api,
            format!(
                "?cursor={}",
                first["next_cursor"].as_str().unwrap().replace('.', "")
            ),
            "malformed",
        ),
    ] {
        let r = who.get(&format!("/api/me/recommendations{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{why}: {}", r.body);
        assert_eq!(code(&r.body), "invalid_cursor", "{why}");
    }
    for (query, expected) in [
        ("?filter=popular", "invalid_filter"),
        ("?limit=0", "invalid_limit"),
        ("?limit=lots", "invalid_limit"),
    ] {
        let r = api.get(&format!("/api/me/recommendations{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert_eq!(code(&r.body), expected, "{query}");
    }
    let bad = api.get("/api/me/recommendations?filter=popular").await;
    assert!(message(&bad.body).contains("filter"), "{}", bad.body);
}

#[tokio::test]
async fn one_users_performances_are_never_anothers() {
    let alice = signed_in().await;
    let bob = Api::as_user(&unique("sung"));
    let body = json!({"song_id": "KS0020", "rating": 5, "client_request_id": "shared-id"});
    assert_eq!(sing(&alice, body.clone()).await.status, StatusCode::CREATED);
    alice
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "Queen"})),
        )
        .await;

    assert!(sung_list(&bob, "").await.is_empty());
    assert!(sung_list(&bob, "?favorites=true").await.is_empty());
    assert_eq!(
        recommendations(&bob, "").await["items"],
        json!([]),
        "Alice's artists and favourites do not reach Bob"
    );
    let del = bob
        .call(Method::DELETE, "/api/me/sung-songs?song_id=KS0020", None)
        .await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);

    // The same client request id from another user is another performance.
    let bobs = sing(&bob, body).await;
    assert_eq!(bobs.status, StatusCode::CREATED, "{}", bobs.body);
    assert_eq!(bobs.body["times_sung"], 1);

    // A cursor of Alice's list is refused for Bob.
    sing(
        &alice,
        json!({"song_id": "KS0021", "rating": 4, "client_request_id": "a-2"}),
    )
    .await;
    let page = alice.get("/api/me/sung-songs?limit=1").await.body;
    let cursor = page["next_cursor"].as_str().unwrap();
    let stolen = bob
        .get(&format!("/api/me/sung-songs?cursor={cursor}"))
        .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);

    let alices = alice.get("/api/me/sung-songs").await.body;
    assert_eq!(ids(&alices["items"]), ["KS0021", "KS0020"]);
    assert_eq!(alices["items"][1]["times_sung"], 1);
    assert!(recommendations(&alice, "").await["items"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
}
