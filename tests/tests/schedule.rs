//! The EventBridge schedule really firing in the emulator: a due user gets an incremental sync
//! from sync-start's scheduled pass, without anyone pressing "Sync now"; so does a user with
//! only Spotify connected.
//!
//! The deployed rule runs every 6 hours; the test turns it to every minute through the
//! EventBridge API (as an operator would) and puts it back afterwards. It lives in its own test
//! binary so no other test runs while the rule fires every minute.

use std::time::{Duration, Instant};

use karaoke_shared::store::keys;
use karaoke_tests::{assert_songs_match_truth, stack_env, unique, var, Api, Lastfm};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// EventBridge's JSON protocol, spoken directly: the test crate needs two calls, not an SDK.
async fn events(target: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/",
            var("AWS_ENDPOINT_URL").trim_end_matches('/')
        ))
        .header("X-Amz-Target", format!("AWSEvents.{target}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/events/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("emulator reachable");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "events {target}: {status} {body}");
    body
}

/// Sets the sync schedule's expression; returns the rule's name and its previous expression.
async fn set_schedule(expression: &str) -> (String, String) {
    let rules = events("ListRules", json!({})).await;
    let rule = rules["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"].as_str().unwrap_or("").contains("SyncStart"))
        .cloned()
        .expect("the stack's sync schedule rule");
    let name = rule["Name"].as_str().unwrap().to_string();
    events(
        "PutRule",
        json!({"Name": name, "ScheduleExpression": expression, "State": "ENABLED",
               "Description": rule["Description"]}),
    )
    .await;
    (
        name,
        rule["ScheduleExpression"].as_str().unwrap().to_string(),
    )
}

/// Moves a service's next due time to `due`, as the passing of time would.
async fn make_due(user_id: &str, service_sk: &str, due: i64) {
    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    aws_sdk_dynamodb::Client::new(&config)
        .update_item()
        .table_name(var("TABLE_NAME"))
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::user_pk(user_id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(service_sk.into()),
        )
        .update_expression("SET gsi2sk = :due")
        .condition_expression("attribute_exists(gsi2pk)")
        .expression_attribute_values(
            ":due",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::due_sort(due, user_id)),
        )
        .send()
        .await
        .expect("the service is on the schedule");
}

/// Waits for a job other than `previous` to end; None after `timeout`.
async fn next_job(api: &Api, previous: &Value, timeout: Duration) -> Result<Value, Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let job = api.get("/api/me/sync").await.body;
        if job["job_id"] != previous["job_id"] && job["status"] == "done" {
            return Ok(job);
        }
        if Instant::now() > deadline {
            return Err(job);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
async fn the_schedule_syncs_due_users_in_the_emulator() {
    let lastfm = Lastfm::new();
    let name = format!("t{}", &unique("u")[2..12]).replace('-', "_");
    lastfm.create_user(&name, 400, 41).await;
    let user_id = unique("sched");
    let api = Api::as_user(&user_id);
    assert_eq!(api.connect_lastfm(&name).await.status, StatusCode::OK);
    assert_eq!(api.start_sync().await.status, StatusCode::ACCEPTED);
    let first = api.wait_for_sync(Duration::from_secs(120)).await;
    assert_eq!(first["status"], "done", "{first}");

    let now = karaoke_shared::clock::now_secs();
    lastfm
        .add_scrobbles(
            &name,
            json!([{"artist": "Scheduled Artist", "title": "Heard Later", "uts": now - 30}]),
        )
        .await;
    // Synced a moment ago, so not due for 6 hours: move its due time to now, as time would.
    make_due(&user_id, keys::LASTFM_SERVICE_SK, now - 1).await;

    // A user with only Spotify connected is refreshed by the same schedule.
    let spotify_user_id = unique("sched-sp");
    let spotify_only = Api::as_user(&spotify_user_id);
    spotify_only.connect_spotify(&unique("sched-sp-user")).await;
    assert_eq!(spotify_only.start_sync().await.status, StatusCode::ACCEPTED);
    let spotify_first = spotify_only.wait_for_sync(Duration::from_secs(120)).await;
    assert_eq!(spotify_first["status"], "done", "{spotify_first}");
    make_due(&spotify_user_id, keys::SPOTIFY_SERVICE_SK, now - 1).await;

    let (rule, previous) = set_schedule("rate(1 minute)").await;
    let outcome = next_job(&api, &first, Duration::from_secs(200)).await;
    let spotify_outcome = next_job(&spotify_only, &spotify_first, Duration::from_secs(60)).await;
    events(
        "PutRule",
        json!({"Name": rule, "ScheduleExpression": previous, "State": "ENABLED"}),
    )
    .await;
    let job = outcome.unwrap_or_else(|job| panic!("no scheduled sync within 200 s: {job}"));
    let spotify_job = spotify_outcome
        .unwrap_or_else(|job| panic!("no scheduled sync of the Spotify-only user: {job}"));
    assert_eq!(spotify_job["lastfm_username"], "", "{spotify_job}");
    assert!(
        spotify_job["pages_total"].as_u64().unwrap() > 0,
        "{spotify_job}"
    );
    assert_eq!(job["kind"], "incremental", "{job}");
    let songs = api.all_songs().await;
    assert!(songs.iter().any(|s| s["title"] == "Heard Later"));
    assert_songs_match_truth(&songs, &lastfm.truth(&name).await);
}
