//! Every route of the My Data API through the deployed stack: happy paths, bad input (a 4xx
//! naming the problem, and nothing written), and two users who never see each other's data.

use std::time::Duration;

use karaoke_tests::{ensure_sample_catalog, unique, var, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn signed_in() -> Api {
    Api::as_user(&unique("api"))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn config_and_health_need_no_sign_in() {
    let anon = Api::anonymous();
    let r = anon.get("/api/config").await;
    assert_eq!(r.status, StatusCode::OK);
    let cognito = &r.body["cognito"];
    assert_eq!(
        cognito["client_id"],
        var("USER_POOL_CLIENT_ID"),
        "{}",
        r.body
    );
    assert_eq!(
        cognito["redirect_uri"],
        var("PUBLIC_BASE_URL"),
        "{}",
        r.body
    );
    assert!(r.body.get("dev_sign_in").is_none(), "{}", r.body);
    assert_eq!(anon.get("/api/health").await.body["status"], "ok");
    // Not routed at all: the gateway answers, whoever asks.
    for path in ["/api/nothing-here", "/api/dev/sign-in", "/anything"] {
        let missing = anon.get(path).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.body, json!({"message": "Not Found"}), "{path}");
    }
    let signed = signed_in().await;
    let missing = signed.get("/api/me/nothing-here").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&missing.body), "not_found");
    let wrong = signed_in()
        .await
        .call(Method::PATCH, "/api/me/songs", None)
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn manual_artists_are_added_once_listed_and_removed() {
    let api = signed_in().await;
    let r = api
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "  Beyoncé "})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"name": "Beyoncé", "sources": ["manual"], "manual": true})
    );
    let again = api
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "beyonce"})),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "same artist by folded name: {}",
        again.body
    );
    api.call(
        Method::POST,
        "/api/me/artists",
        Some(json!({"name": "AC/DC"})),
    )
    .await;
    let list = api.get("/api/me/artists").await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Beyoncé", "AC/DC"],
        "manual artists in the order they were added"
    );
    assert_eq!(
        api.get("/api/me/summary").await.body["counts"]["artists"]["manual"],
        2
    );

    for (body, status, expected) in [
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        (
            json!({"name": "x".repeat(513)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        (
            json!({"name": "bad\u{1}name"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        (json!({"name": 5}), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            json!({"name": "Queen", "rank": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (json!([]), StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let r = api
            .call(Method::POST, "/api/me/artists", Some(body.clone()))
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(code(&r.body), expected, "{body}");
    }
    assert_eq!(
        api.get("/api/me/artists").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing written"
    );

    let r = api
        .call(Method::DELETE, "/api/me/artists?name=AC%2FDC", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .call(Method::DELETE, "/api/me/artists?name=AC%2FDC", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.call(Method::DELETE, "/api/me/artists", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get("/api/me/summary").await.body["counts"]["artists"]["manual"],
        1
    );
}

#[tokio::test]
async fn known_songs_come_from_the_catalog_and_show_in_songs_you_know() {
    ensure_sample_catalog().await;
    let api = signed_in().await;
    let r = api
        .call(
            Method::POST,
            "/api/me/known-songs",
            Some(json!({"song_id": "KS0001", "notes": "warm-up"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["artist"], "Queen");
    let again = api
        .call(
            Method::POST,
            "/api/me/known-songs",
            Some(json!({"song_id": "KS0001", "notes": "opener"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let list = api.get("/api/me/known-songs").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["notes"], "opener");
    let songs = api.get("/api/me/songs").await;
    let row = &songs.body["items"][0];
    assert_eq!(row["sources"], json!(["manual"]));
    assert_eq!(row["karaoke_available"], true);
    assert_eq!(row["karaoke_song_id"], "KS0001");
    assert_eq!(row["playcount"], Value::Null);

    for (body, status) in [
        (json!({"song_id": "NOPE-404"}), StatusCode::NOT_FOUND),
        (
            json!({"song_id": "KS0002", "notes": "n".repeat(501)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"song_id": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"id": "KS0002"}), StatusCode::BAD_REQUEST),
    ] {
        let r = api
            .call(Method::POST, "/api/me/known-songs", Some(body.clone()))
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
    assert_eq!(
        api.get("/api/me/known-songs").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        api.call(Method::DELETE, "/api/me/known-songs?song_id=KS0001", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.call(Method::DELETE, "/api/me/known-songs?song_id=KS0001", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/me/songs").await.body["items"],
        json!([]),
        "the row went with the last source"
    );
}

#[tokio::test]
async fn preferences_are_validated_before_anything_is_saved() {
    let api = signed_in().await;
    let r = api.get("/api/me/preferences").await;
    assert_eq!(r.body, json!({"decades": [], "energy": null, "genres": []}));
    let good =
        json!({"decades": ["1990s", "1980s"], "energy": "high", "genres": ["Rock", " pop "]});
    let r = api
        .call(Method::PUT, "/api/me/preferences", Some(good))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"decades": ["1980s", "1990s"], "energy": "high", "genres": ["Rock", "pop"]})
    );
    for (bad, field) in [
        (json!({"decades": ["1890s"]}), "decades"),
        (json!({"energy": "loud"}), "energy"),
        (json!({"genres": ["x\u{7}"]}), "genres"),
        (json!({"mood": "happy"}), "mood"),
        (json!({"decades": "1990s"}), "decades"),
    ] {
        let r = api
            .call(Method::PUT, "/api/me/preferences", Some(bad.clone()))
            .await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(field),
            "{bad}: {}",
            r.body
        );
    }
    assert_eq!(
        api.get("/api/me/preferences").await.body["energy"],
        "high",
        "bad input changed nothing"
    );
}

#[tokio::test]
async fn top_tracks_validate_their_filters() {
    let api = signed_in().await;
    let r = api.get("/api/me/top-tracks").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["lists"].as_array().unwrap().len(), 3);
    assert_eq!(
        api.get("/api/me/top-tracks?time_range=forever")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/api/me/top-tracks?source=myspace").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn synced_songs_are_matched_to_the_karaoke_catalog_and_counted() {
    ensure_sample_catalog().await;
    let lastfm = Lastfm::new();
    let name = format!("k{}", &unique("k")[2..12]);
    lastfm.create_user(&name, 300, 41).await;
    let now = karaoke_shared::clock::now_secs();
    lastfm
        .add_scrobbles(
            &name,
            json!([
                {"artist": "Queen", "title": "Don't Stop Me Now - Remastered 2011", "uts": now - 4000},
                {"artist": "Queen", "title": "Don't Stop Me Now - Remastered 2011", "uts": now - 3000},
                {"artist": "Beyonce", "title": "Halo", "uts": now - 2000},
            ]),
        )
        .await;
    let api = signed_in().await;
    assert_eq!(api.connect_lastfm(&name).await.status, StatusCode::OK);
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let job = api.wait_for_sync(Duration::from_secs(120)).await;
    assert_eq!(job["status"], "done");
    let songs = api.all_songs().await;
    let find = |title: &str| {
        songs
            .iter()
            .find(|s| s["title"] == title)
            .unwrap_or_else(|| panic!("{title} missing"))
    };
    let dsmn = find("Don't Stop Me Now - Remastered 2011");
    assert_eq!(dsmn["karaoke_available"], true, "{dsmn}");
    assert_eq!(dsmn["playcount"], 2);
    let halo = find("Halo");
    assert_eq!(
        halo["karaoke_available"], true,
        "Beyonce matches Beyoncé: {halo}"
    );
    let truth = lastfm.truth(&name).await;
    let summary = api.get("/api/me/summary").await.body;
    assert_eq!(
        summary["counts"]["songs"]["lastfm"],
        truth["tracks"].as_array().unwrap().len()
    );
    assert_eq!(summary["last_sync"]["status"], "done");
    let services = api.get("/api/me/services").await.body;
    assert_eq!(services["services"][0]["username"], json!(name));

    // Disconnecting stops future syncs; what was synced stays until the user deletes it.
    assert_eq!(
        api.call(Method::DELETE, "/api/me/services/lastfm", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/me/services").await.body["services"][0]["connected"],
        false
    );
    assert_eq!(api.start_sync().await.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.all_songs().await.len(), songs.len());
    assert_eq!(
        api.call(Method::DELETE, "/api/me/services/lastfm", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn one_user_can_never_read_or_change_anothers_data() {
    ensure_sample_catalog().await;
    let alice = signed_in().await;
    let bob = signed_in().await;
    alice
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "Queen"})),
        )
        .await;
    alice
        .call(
            Method::POST,
            "/api/me/known-songs",
            Some(json!({"song_id": "KS0002"})),
        )
        .await;
    alice
        .call(
            Method::PUT,
            "/api/me/preferences",
            Some(json!({"energy": "chill"})),
        )
        .await;
    alice.connect_lastfm("demo").await;

    assert_eq!(bob.get("/api/me/artists").await.body["items"], json!([]));
    assert_eq!(
        bob.get("/api/me/known-songs").await.body["items"],
        json!([])
    );
    assert_eq!(bob.get("/api/me/songs").await.body["items"], json!([]));
    assert_eq!(
        bob.get("/api/me/preferences").await.body["energy"],
        Value::Null
    );
    assert_eq!(
        bob.get("/api/me/services").await.body["services"][0]["connected"],
        false
    );
    let summary = bob.get("/api/me/summary").await.body;
    assert_eq!(summary["counts"]["artists"]["manual"], 0);
    assert_eq!(summary["last_sync"], Value::Null);
    // Bob's deletes never reach Alice's rows.
    assert_eq!(
        bob.call(Method::DELETE, "/api/me/artists?name=Queen", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.call(Method::DELETE, "/api/me/known-songs?song_id=KS0002", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.call(Method::DELETE, "/api/me/services/lastfm", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice.get("/api/me/artists").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        alice.get("/api/me/known-songs").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        alice.get("/api/me/services").await.body["services"][0]["connected"],
        true
    );
    // Alice's cursor is no use to Bob.
    alice
        .call(
            Method::POST,
            "/api/me/artists",
            Some(json!({"name": "ABBA"})),
        )
        .await;
    let page = alice.get("/api/me/artists?limit=1").await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    assert_eq!(
        bob.get(&format!("/api/me/artists?cursor={cursor}"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        alice
            .get(&format!("/api/me/songs?cursor={cursor}"))
            .await
            .status,
        StatusCode::BAD_REQUEST,
        "cursors are bound to their list"
    );
}

#[tokio::test]
async fn every_me_route_refuses_anonymous_callers() {
    let anon = Api::anonymous();
    for (method, path) in api::app::ROUTES {
        if !path.starts_with("/api/me") {
            continue;
        }
        let r = anon
            .call(
                Method::from_bytes(method.as_bytes()).unwrap(),
                path,
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        // Refused by the gateway's authorizer, before the function.
        assert_eq!(
            r.body,
            json!({"message": "Unauthorized"}),
            "{method} {path}"
        );
    }
}

/// The API binary the stack runs (and `sam build` packages) has no developer sign-in: no route,
/// no HS256 verification, no secret to configure it. Only the Cognito claims the gateway
/// verified identify a caller.
#[test]
fn the_api_binary_has_no_developer_sign_in() {
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let binaries: Vec<_> = ["debug", "release"]
        .iter()
        .map(|profile| target.join(profile).join("api"))
        .filter(|p| p.is_file())
        .collect();
    assert!(!binaries.is_empty(), "build the api binary first (make up)");
    for binary in binaries {
        let bytes = std::fs::read(&binary).unwrap();
        for needle in ["/api/dev/sign-in", "DEV_JWT_SECRET", "HS256"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} contains {needle:?}",
                binary.display()
            );
        }
    }
}
