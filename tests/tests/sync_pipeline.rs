//! The deployed local stack end to end: API → start queue → sync-start → page queue →
//! sync-worker Lambdas → DynamoDB, checked against the Last.fm stand-in's ground truth.

use std::time::Duration;

use karaoke_tests::{assert_songs_match_truth, assert_sorted_by_playcount, unique, Api, Lastfm};
use reqwest::{Method, StatusCode};
use serde_json::json;

const SYNC_TIMEOUT: Duration = Duration::from_secs(240);

async fn synced_user(scrobbles: u64, seed: u64) -> (Api, String) {
    let lastfm = Lastfm::new();
    let name = format!("t{}", &unique("u")[2..12]).replace('-', "_");
    lastfm.create_user(&name, scrobbles, seed).await;
    let api = Api::as_user(&unique("user"));
    let r = api.connect_lastfm(&name).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    (api, name)
}

#[tokio::test]
async fn a_full_sync_counts_every_scrobble_exactly_once() {
    let lastfm = Lastfm::new();
    let before = lastfm.stats().await;
    let (api, name) = synced_user(2_000, 11).await;
    let job = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["percent"], 100);
    assert_eq!(job["pages_done"], job["pages_total"]);
    assert!(
        job["pages_total"].as_u64().unwrap() > 10,
        "scrobble pages plus artist and loved pages"
    );
    assert_eq!(job["scrobbles_done"], 2_000);
    assert_eq!(job["kind"], "full");
    assert!(job["finished_at"].is_string());
    let songs = api.all_songs().await;
    assert_songs_match_truth(&songs, &lastfm.truth(&name).await);
    assert_sorted_by_playcount(&songs);
    assert!(songs
        .iter()
        .filter(|s| !s["playcount"].is_null())
        .all(|s| s["sync_count"] == 1 && s["sources"] == json!(["lastfm"])));
    let after = lastfm.stats().await;
    assert_eq!(
        after["error29"], before["error29"],
        "the shared rate gate kept us under the limit"
    );

    // Nothing new: the next sync is incremental, reads the trailing window, finds nothing to
    // repair and changes no count.
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let again = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(again["status"], "done", "{again}");
    assert_eq!(again["kind"], "incremental");
    assert_eq!(again["repairs"], json!([]), "{again}");
    assert_songs_match_truth(&api.all_songs().await, &lastfm.truth(&name).await);
}

#[tokio::test]
async fn only_one_sync_per_user_at_a_time() {
    let (api, _) = synced_user(1_200, 12).await;
    let second = api.start_sync().await;
    let status = api.get("/api/me/sync").await.body;
    if status["status"] == "queued" || status["status"] == "running" {
        assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
        assert_eq!(second.body["error"]["code"], "sync_running");
        assert_eq!(second.body["job_id"], status["job_id"]);
    }
    let done = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(done["status"], "done");
    // Concurrent requests: exactly one of them may win.
    let user = unique("race");
    let racer = Api::as_user(&user);
    assert_eq!(
        racer.connect_lastfm("gen_600_3").await.status,
        StatusCode::OK
    );
    let replies = futures::future::join_all((0..5).map(|_| racer.start_sync())).await;
    let started = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (started, refused),
        (1, 4),
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    racer.wait_for_sync(SYNC_TIMEOUT).await;
}

#[tokio::test]
async fn a_private_profile_fails_with_a_message_the_user_can_act_on() {
    let api = Api::as_user(&unique("priv"));
    assert_eq!(api.connect_lastfm("private").await.status, StatusCode::OK);
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let job = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(job["status"], "failed", "{job}");
    let errors = job["errors"].to_string();
    assert!(errors.contains("private"), "{errors}");
    assert!(api.all_songs().await.is_empty());
}

#[tokio::test]
async fn a_user_that_disappears_mid_history_fails_the_job_with_its_reason() {
    let lastfm = Lastfm::new();
    let name = format!("gone{}", &unique("x")[2..8]);
    lastfm.create_user(&name, 400, 5).await;
    let api = Api::as_user(&unique("gone"));
    assert_eq!(api.connect_lastfm(&name).await.status, StatusCode::OK);
    lastfm.delete_user(&name).await;
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let job = api.wait_for_sync(SYNC_TIMEOUT).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["errors"].to_string().contains("does not exist"),
        "{job}"
    );
    // The lock was released: a new request is accepted (and resumes the failed job).
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["resumed"], true);
    api.wait_for_sync(SYNC_TIMEOUT).await;
}

#[tokio::test]
async fn connecting_checks_the_username_with_lastfm() {
    let api = Api::as_user(&unique("conn"));
    let r = api.connect_lastfm("nobody_here_x").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nobody_here_x"));
    for bad in ["a", "AC/DC", "9lives", ""] {
        let r = api.connect_lastfm(bad).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
        assert_eq!(r.body["error"]["code"], "invalid_username");
    }
    let r = api
        .raw(
            Method::PUT,
            "/api/me/services/lastfm",
            Some(b"{nope".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "invalid_json");
    let r = api
        .call(
            Method::PUT,
            "/api/me/services/lastfm",
            Some(json!({"username": "demo", "admin": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = api
        .raw(
            Method::PUT,
            "/api/me/services/lastfm",
            Some(vec![b' '; 70_000]),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // None of that connected anything, so there is nothing to sync.
    let r = api.start_sync().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "no_service_connected");
    let ok = api.connect_lastfm("DEMO").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        ok.body["username"], "demo",
        "Last.fm's own spelling is stored"
    );
}

#[tokio::test]
async fn every_per_user_route_requires_sign_in() {
    let anon = Api::anonymous();
    // Tokens of every wrong kind (expired, other issuer, audience or key) are in
    // infra/tests/test_gateway.py, which can sign them.
    let garbage = Api::with_token("not.a.token");
    for client in [&anon, &garbage] {
        for (method, path) in [
            (Method::GET, "/api/me/songs"),
            (Method::GET, "/api/me/sync"),
            (Method::POST, "/api/me/sync"),
            (Method::PUT, "/api/me/services/lastfm"),
            (Method::DELETE, "/api/me/services/lastfm"),
        ] {
            let r = client
                .call(method.clone(), path, Some(json!({"username": "demo"})))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                r.body
            );
            // The gateway's own answer: the function never ran.
            assert_eq!(
                r.body,
                json!({"message": "Unauthorized"}),
                "{method} {path}"
            );
        }
    }
    assert_eq!(anon.get("/api/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn users_never_see_each_others_data_or_cursors() {
    let (alice, _) = synced_user(450, 13).await;
    alice.wait_for_sync(SYNC_TIMEOUT).await;
    let bob = Api::as_user(&unique("bob"));
    let r = bob.get("/api/me/songs").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(bob.get("/api/me/sync").await.status, StatusCode::NOT_FOUND);
    let page = alice.get("/api/me/songs?limit=5").await;
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("more than 5 songs")
        .to_string();
    let stolen = bob.get(&format!("/api/me/songs?cursor={cursor}")).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert_eq!(stolen.body["error"]["code"], "invalid_cursor");
    let mut tampered = cursor.clone();
    tampered.insert(3, 'x');
    assert_eq!(
        alice
            .get(&format!("/api/me/songs?cursor={tampered}"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        alice.get("/api/me/songs?limit=0").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        alice.get("/api/me/songs?limit=201").await.status,
        StatusCode::BAD_REQUEST
    );
    // Paging is gap- and duplicate-free.
    let all = alice.all_songs().await;
    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(c) => format!("/api/me/songs?limit=7&cursor={c}"),
            None => "/api/me/songs?limit=7".into(),
        };
        let r = alice.get(&path).await;
        paged.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => next = Some(c.into()),
            None => break,
        }
    }
    assert_eq!(paged, all);
}
