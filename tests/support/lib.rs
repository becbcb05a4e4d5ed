//! Test harness for integration tests against the local stack (`make up`): the deployed API,
//! the real DynamoDB/SQS emulator through the AWS SDK, and the Last.fm stand-in's admin API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `.local/stack.env`, written by `infra/deploy.py`, merged under the process environment.
pub fn stack_env() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/stack.env");
        let mut vars = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    if !k.trim().is_empty() && !k.trim_start().starts_with('#') {
                        vars.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
            }
        }
        for (k, v) in std::env::vars() {
            if vars.contains_key(&k) {
                vars.insert(k, v);
            }
        }
        // The AWS SDK reads these from the process environment.
        for key in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            if let Some(v) = vars.get(key) {
                std::env::set_var(key, v);
            }
        }
        vars
    })
}

pub fn var(name: &str) -> String {
    stack_env().get(name).cloned().unwrap_or_else(|| {
        panic!("{name} missing: run `make up` first (it writes .local/stack.env)")
    })
}

/// A user id no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_like()[..12])
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}{:04x}{:x}",
        t,
        N.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
    .chars()
    .rev()
    .collect()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The deployed API, called as one signed-in user (or anonymously).
#[derive(Clone)]
pub struct Api {
    base: String,
    auth: Auth,
    client: reqwest::Client,
}

#[derive(Clone)]
enum Auth {
    Anonymous,
    /// A user of the local pool with this `sub` (see `token_for`).
    User(String),
    Token(String),
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

/// An access token for `user_id` (its `sub`) as the local stack's Cognito issues them, signed
/// with the emulator's Cognito key (see `karaoke_local_auth::TokenMinter`): the gateway's JWT
/// authorizer checks it like any other.
pub async fn token_for(user_id: &str) -> String {
    static MINTER: tokio::sync::OnceCell<karaoke_local_auth::TokenMinter> =
        tokio::sync::OnceCell::const_new();
    let minter = MINTER
        .get_or_init(|| async {
            karaoke_local_auth::TokenMinter::new(
                &var("COGNITO_KEY_FILE"),
                &var("USER_POOL_ID"),
                var("USER_POOL_CLIENT_ID"),
                &var("AWS_REGION"),
                &var("AWS_ENDPOINT_URL"),
            )
            .await
            .unwrap_or_else(|e| panic!("local tokens: {e}"))
        })
        .await;
    minter.access_token(user_id, karaoke_shared::clock::now_secs(), 3600)
}

impl Api {
    pub fn anonymous() -> Self {
        Self {
            base: var("API_URL").trim_end_matches('/').to_string(),
            auth: Auth::Anonymous,
            client: http(),
        }
    }

    /// The user whose Cognito `sub` is `user_id`.
    pub fn as_user(user_id: &str) -> Self {
        Self {
            auth: Auth::User(user_id.to_string()),
            ..Self::anonymous()
        }
    }

    pub fn with_token(token: &str) -> Self {
        Self {
            auth: Auth::Token(token.to_string()),
            ..Self::anonymous()
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.raw(method, path, body.map(|b| b.to_string().into_bytes()))
            .await
    }

    pub async fn raw(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::Anonymous => {}
            Auth::User(user_id) => req = req.bearer_auth(token_for(user_id).await),
            Auth::Token(token) => req = req.bearer_auth(token),
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.expect("API reachable");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn connect_lastfm(&self, username: &str) -> Reply {
        self.call(
            Method::PUT,
            "/api/me/services/lastfm",
            Some(json!({"username": username})),
        )
        .await
    }

    /// Runs Spotify's sign-in as a browser would, through the Spotify stand-in (`deny`: the
    /// user refuses consent), for an authorize URL this user asked for. Returns the callback URL
    /// and where the callback sent the browser: the page with the code and state in its fragment
    /// (see [`handed_to_page`]), or `?spotify=error&reason=...`. Nothing is linked yet.
    pub async fn sign_in_spotify(&self, spotify_user: &str, deny: bool) -> (String, String) {
        let r = self.get("/api/me/services/spotify/connect").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let authorize = r.body["authorize_url"].as_str().unwrap().to_string();
        assert!(authorize.contains("scope=user-top-read"), "{authorize}");
        authorize_in_browser(&authorize, spotify_user, deny).await
    }

    /// What the page does with the code and state the callback handed it.
    pub async fn complete_spotify(&self, code: &str, state: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/me/services/spotify/complete",
            Some(json!({"code": code, "state": state})),
        )
        .await
    }

    /// Connects Spotify the whole way, as the page does: the sign-in, then the completion with
    /// the code and state from the fragment. Returns the completion's answer (the service).
    pub async fn connect_spotify(&self, spotify_user: &str) -> Value {
        let (_, page) = self.sign_in_spotify(spotify_user, false).await;
        let (code, state) =
            handed_to_page(&page).unwrap_or_else(|| panic!("no code for the page: {page}"));
        let r = self.complete_spotify(&code, &state).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["service"], "spotify", "{}", r.body);
        assert_eq!(r.body["connected"], true, "{}", r.body);
        r.body
    }

    pub async fn start_sync(&self) -> Reply {
        self.call(Method::POST, "/api/me/sync", None).await
    }

    /// Polls the job until it ends (or `timeout`), returning its last view. Panics if percent
    /// ever goes backwards or above 100.
    pub async fn wait_for_sync(&self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last_percent = 0;
        loop {
            let r = self.get("/api/me/sync").await;
            assert_eq!(r.status, StatusCode::OK, "GET /api/me/sync: {}", r.body);
            let percent = r.body["percent"].as_u64().unwrap();
            assert!(percent <= 100, "percent {percent}");
            assert!(
                percent >= last_percent,
                "percent went from {last_percent} to {percent}"
            );
            last_percent = percent;
            let status = r.body["status"].as_str().unwrap().to_string();
            if !matches!(status.as_str(), "queued" | "running") {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "sync did not finish in {timeout:?}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Every song, following cursors; panics on a repeated item.
    pub async fn all_songs(&self) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/me/songs?limit=200&cursor={c}"),
                None => "/api/me/songs?limit=200".to_string(),
            };
            let r = self.get(&path).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            items.extend(r.body["items"].as_array().unwrap().iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
    }
}

/// A browser that does not follow redirects, to see each hop of a sign-in.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Where a redirect sends the browser.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// A browser opening `authorize` (whoever asked for it): the Spotify stand-in consents at once as
/// `spotify_user` (or refuses, `deny`) and sends it to the callback, which sends it on. Returns
/// the callback URL and the callback's `Location`.
pub async fn authorize_in_browser(
    authorize: &str,
    spotify_user: &str,
    deny: bool,
) -> (String, String) {
    let browser = no_redirects();
    let mut url = format!("{authorize}&standin_user={spotify_user}");
    if deny {
        url.push_str("&standin_deny=1");
    }
    let consent = browser.get(&url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND);
    let callback = location(&consent);
    let back = browser.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    (callback, location(&back))
}

/// The code and state the callback handed the page in the URL fragment
/// (`#spotify_code=...&spotify_state=...`), decoded; None when it sent no such fragment.
pub fn handed_to_page(page: &str) -> Option<(String, String)> {
    let url = reqwest::Url::parse(page).ok()?;
    let fragment = url.fragment()?;
    // The fragment is form-encoded like a query: read it as one.
    let pairs: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://x/?{fragment}"))
        .ok()?
        .query_pairs()
        .into_owned()
        .collect();
    Some((
        pairs.get("spotify_code")?.clone(),
        pairs.get("spotify_state")?.clone(),
    ))
}

/// The Last.fm stand-in's admin endpoints.
pub struct Lastfm {
    base: String,
    client: reqwest::Client,
}

impl Default for Lastfm {
    fn default() -> Self {
        Self::new()
    }
}

impl Lastfm {
    pub fn new() -> Self {
        Self {
            base: var("LASTFM_ADMIN_URL").trim_end_matches('/').to_string(),
            client: http(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("stand-in reachable");
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "stand-in {path}: {status} {body}");
        body
    }

    pub async fn create_user(&self, name: &str, scrobbles: u64, seed: u64) -> Value {
        self.send(
            Method::POST,
            "/_admin/users",
            Some(json!({"name": name, "scrobbles": scrobbles, "seed": seed})),
        )
        .await
    }

    pub async fn create_user_with(&self, spec: Value) -> Value {
        self.send(Method::POST, "/_admin/users", Some(spec)).await
    }

    pub async fn delete_user(&self, name: &str) -> Value {
        self.send(Method::DELETE, "/_admin/users", Some(json!({"name": name})))
            .await
    }

    pub async fn truth(&self, user: &str) -> Value {
        self.send(Method::GET, &format!("/_admin/truth?user={user}"), None)
            .await
    }

    pub async fn stats(&self) -> Value {
        self.send(Method::GET, "/_admin/stats", None).await
    }

    pub async fn configure(&self, config: Value) -> Value {
        self.send(Method::POST, "/_admin/config", Some(config))
            .await
    }
}

/// Asserts the API's played songs equal the stand-in's ground truth, track by track (rows known
/// only as loved tracks, never played, are checked by their own tests).
pub fn assert_songs_match_truth(songs: &[Value], truth: &Value) {
    let played: Vec<&Value> = songs.iter().filter(|s| !s["playcount"].is_null()).collect();
    let expected: BTreeMap<(String, String), &Value> = truth["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                (
                    t["artist"].as_str().unwrap().to_string(),
                    t["title"].as_str().unwrap().to_string(),
                ),
                t,
            )
        })
        .collect();
    let mut seen = BTreeMap::new();
    for song in played.iter().copied() {
        let key = (
            song["artist"].as_str().unwrap().to_string(),
            song["title"].as_str().unwrap().to_string(),
        );
        assert!(
            seen.insert(key.clone(), ()).is_none(),
            "song listed twice: {key:?}"
        );
        let t = expected
            .get(&key)
            .unwrap_or_else(|| panic!("song not in the truth: {song}"));
        assert_eq!(song["playcount"], t["playcount"], "playcount of {key:?}");
        let first = karaoke_shared::clock::rfc3339(t["first_uts"].as_i64().unwrap());
        let last = karaoke_shared::clock::rfc3339(t["last_uts"].as_i64().unwrap());
        assert_eq!(song["first_scrobbled_at"], json!(first), "first of {key:?}");
        assert_eq!(song["last_scrobbled_at"], json!(last), "last of {key:?}");
        let album = t["album"].as_str().filter(|a| !a.is_empty());
        assert_eq!(song["album"].as_str(), album, "album of {key:?}");
    }
    assert_eq!(seen.len(), expected.len(), "number of distinct tracks");
    let total: u64 = played
        .iter()
        .map(|s| s["playcount"].as_u64().unwrap())
        .sum();
    assert_eq!(
        total,
        truth["total_scrobbles"].as_u64().unwrap(),
        "total scrobbles"
    );
}

/// Songs must come most-played first.
pub fn assert_sorted_by_playcount(songs: &[Value]) {
    for pair in songs.windows(2) {
        assert!(
            pair[0]["playcount"].as_u64() >= pair[1]["playcount"].as_u64(),
            "out of order: {} before {}",
            pair[0],
            pair[1]
        );
    }
}

/// The deployed functions' Last.fm rate gate (one DynamoDB item), at the stack's rate. A test
/// that calls the stand-in's Last.fm API itself takes its slots here: a reader outside the
/// gate drains the stand-in's bucket under a concurrent sync, which then gets error 29.
pub async fn shared_rate_gate() -> karaoke_shared::store::rate_gate::DynamoRateGate {
    stack_env();
    let config = karaoke_shared::aws::sdk_config().await;
    let store = karaoke_shared::store::Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        var("TABLE_NAME"),
    );
    karaoke_shared::store::rate_gate::DynamoRateGate::new(store, stack_rate_limit())
}

/// `LASTFM_RATE_LIMIT` of the deployed stack.
pub fn stack_rate_limit() -> f64 {
    stack_env()
        .get("LASTFM_RATE_LIMIT")
        .and_then(|r| r.parse().ok())
        .unwrap_or(5.0)
}

/// The sync engine wired to the stack's table and the stand-in, but fed from queues the test
/// owns, so a test can deliver messages twice, concurrently, or crash a worker mid-page.
pub mod engine_harness {
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_sdk_dynamodb::config::interceptors::{
        BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
    };
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_sdk_dynamodb::error::BoxError;
    use karaoke_shared::sync::messages::WorkMessage;

    use aws_sdk_sqs::types::QueueAttributeName;
    use karaoke_shared::config::LastfmConfig;
    use karaoke_shared::lastfm::LastfmClient;
    use karaoke_shared::queue::Queues;
    use karaoke_shared::store::rate_gate::DynamoRateGate;
    use karaoke_shared::store::Store;
    use karaoke_shared::sync::engine::Engine;

    use super::{unique, var};

    /// DynamoDB operations that write.
    const WRITES: [&str; 5] = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ];

    /// Kills a worker on cue. The engine's DynamoDB client goes through it (as an SDK
    /// interceptor): armed with an allowance of `n` writes, the delivery dies as soon as its
    /// `n`th write is answered, or as it is about to send one more, whichever comes first; from
    /// then on every request it makes fails before it leaves. So exactly the writes it was
    /// allowed reach the table, however fast the test notices.
    #[derive(Debug, Default)]
    pub struct KillSwitch(Mutex<KillState>);

    #[derive(Debug, Default)]
    struct KillState {
        /// Writes the current delivery may make; None: the switch is off.
        allowed: Option<u64>,
        /// The writes it sent, by operation.
        sent: Vec<String>,
        /// How many of them were answered.
        answered: u64,
        dead: bool,
    }

    /// What became of one delivery run under the switch.
    #[derive(Debug)]
    pub struct Killed {
        /// It died (false: it finished, with fewer writes than it was allowed).
        pub killed: bool,
        /// The writes it made, by operation.
        pub writes: Vec<String>,
    }

    impl KillSwitch {
        fn is_dead(&self) -> bool {
            self.0.lock().unwrap().dead
        }

        fn die(state: &mut KillState) -> BoxError {
            state.dead = true;
            "killed by the test (worker died)".into()
        }

        /// Runs `work` (one worker's handling of something), killed once it has made
        /// `allowed` DynamoDB writes through the switch. An error of its own, not caused by
        /// the switch, fails the test.
        pub async fn run_until_killed<T, E: std::fmt::Display>(
            &self,
            allowed: u64,
            work: impl Future<Output = Result<T, E>>,
        ) -> Killed {
            *self.0.lock().unwrap() = KillState {
                allowed: Some(allowed),
                ..Default::default()
            };
            let watcher = async {
                while !self.is_dead() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            // Dropping the future mid-flight is what a killed process looks like.
            let finished = tokio::select! {
                r = work => Some(r),
                _ = watcher => None,
            };
            let state = std::mem::take(&mut *self.0.lock().unwrap());
            match finished {
                Some(Err(e)) if !state.dead => panic!("failed on its own: {e}"),
                _ => Killed {
                    killed: state.dead,
                    writes: state.sent,
                },
            }
        }

        /// One delivery of `message`, killed once it has made `allowed` writes.
        pub async fn deliver(
            &self,
            h: &Harness,
            message: &WorkMessage,
            attempt: u32,
            allowed: u64,
        ) -> Killed {
            self.run_until_killed(allowed, h.engine.run(message.clone(), attempt))
                .await
        }
    }

    #[derive(Debug, Clone)]
    struct Killer(Arc<KillSwitch>);

    /// Whether a finished request was a write (by its output or error type).
    fn is_write(context: &FinalizerInterceptorContextRef<'_>) -> bool {
        use aws_sdk_dynamodb::operation::{
            batch_write_item as bw, delete_item as d, put_item as p, transact_write_items as t,
            update_item as u,
        };
        match context.output_or_error() {
            Some(Ok(out)) => {
                out.downcast_ref::<p::PutItemOutput>().is_some()
                    || out.downcast_ref::<u::UpdateItemOutput>().is_some()
                    || out.downcast_ref::<d::DeleteItemOutput>().is_some()
                    || out.downcast_ref::<bw::BatchWriteItemOutput>().is_some()
                    || out.downcast_ref::<t::TransactWriteItemsOutput>().is_some()
            }
            Some(Err(e)) => e.as_operation_error().is_some_and(|e| {
                e.downcast_ref::<p::PutItemError>().is_some()
                    || e.downcast_ref::<u::UpdateItemError>().is_some()
                    || e.downcast_ref::<d::DeleteItemError>().is_some()
                    || e.downcast_ref::<bw::BatchWriteItemError>().is_some()
                    || e.downcast_ref::<t::TransactWriteItemsError>().is_some()
            }),
            None => false,
        }
    }

    impl Intercept for Killer {
        fn name(&self) -> &'static str {
            "KillSwitch"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let mut state = self.0 .0.lock().unwrap();
            if state.dead {
                return Err(KillSwitch::die(&mut state));
            }
            let Some(allowed) = state.allowed else {
                return Ok(());
            };
            let target = context.request().headers().get("x-amz-target");
            let op = target.and_then(|t| t.rsplit('.').next()).unwrap_or("");
            if !WRITES.contains(&op) {
                return Ok(());
            }
            if state.sent.len() as u64 >= allowed {
                return Err(KillSwitch::die(&mut state));
            }
            state.sent.push(op.to_string());
            Ok(())
        }

        fn read_after_execution(
            &self,
            context: &FinalizerInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let mut state = self.0 .0.lock().unwrap();
            if state.dead {
                return Err(KillSwitch::die(&mut state));
            }
            let Some(allowed) = state.allowed else {
                return Ok(());
            };
            if context.response().is_none() || !is_write(context) {
                return Ok(());
            }
            state.answered += 1;
            if state.answered >= allowed {
                // The write is in the table; the worker dies before it hears so.
                return Err(KillSwitch::die(&mut state));
            }
            Ok(())
        }
    }

    pub struct Harness {
        pub engine: Engine<DynamoRateGate>,
        pub store: Store,
        pub sqs: aws_sdk_sqs::Client,
        pub start_url: String,
        pub page_url: String,
    }

    pub struct Delivery {
        pub body: String,
        pub receipt: String,
        pub receive_count: u32,
    }

    impl Harness {
        pub async fn new() -> Self {
            super::stack_env();
            let config = karaoke_shared::aws::sdk_config().await;
            let db = aws_sdk_dynamodb::Client::new(&config);
            let sqs = aws_sdk_sqs::Client::new(&config);
            let mut urls = Vec::new();
            for kind in ["start", "page"] {
                let out = sqs
                    .create_queue()
                    .queue_name(unique(&format!("test-{kind}")))
                    .attributes(QueueAttributeName::VisibilityTimeout, "60")
                    .send()
                    .await
                    .expect("create test queue");
                urls.push(out.queue_url.unwrap());
            }
            let store = Store::new(db, var("TABLE_NAME"));
            let queues = Queues::new(sqs.clone(), &urls[0], &urls[1]);
            let rate = super::stack_rate_limit();
            let lastfm = LastfmClient::new(
                LastfmConfig {
                    api_url: var("LASTFM_API_URL"),
                    api_key: super::stack_env()
                        .get("LASTFM_API_KEY")
                        .cloned()
                        .unwrap_or_else(|| "local-dev-key".into()),
                    rate_limit: rate,
                    timeout: Duration::from_secs(20),
                },
                DynamoRateGate::new(store.clone(), rate),
            )
            .unwrap();
            let engine = Engine {
                store: store.clone(),
                queues,
                lastfm,
                spotify: None,
                max_receives: 5,
            };
            Harness {
                engine,
                store,
                sqs,
                start_url: urls[0].clone(),
                page_url: urls[1].clone(),
            }
        }

        /// Takes whatever is waiting on `queue_url` (up to 10), without deleting it.
        pub async fn receive(&self, queue_url: &str) -> Vec<Delivery> {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .expect("receive");
            out.messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| Delivery {
                    receive_count: m
                        .attributes
                        .as_ref()
                        .and_then(|a| {
                            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle.unwrap_or_default(),
                })
                .collect()
        }

        /// An item of the user's partition as stored (read consistently, bypassing the
        /// engine's types).
        pub async fn raw_item(
            &self,
            user: &str,
            sk: String,
        ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>
        {
            self.store
                .client()
                .get_item()
                .table_name(self.store.table())
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(
                        karaoke_shared::store::keys::user_pk(user),
                    ),
                )
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
        }

        pub async fn delete(&self, queue_url: &str, receipt: &str) {
            self.sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .expect("delete message");
        }

        /// Routes the engine's DynamoDB requests through a new kill switch (the test's own
        /// reads through `self.store` stay outside it) and returns the switch.
        pub fn kill_switch(&mut self) -> Arc<KillSwitch> {
            let kill = Arc::new(KillSwitch::default());
            let config = self
                .store
                .client()
                .config()
                .to_builder()
                .interceptor(Killer(kill.clone()))
                .build();
            self.engine.store = Store::new(
                aws_sdk_dynamodb::Client::from_conf(config),
                self.store.table(),
            );
            kill
        }

        pub async fn cleanup(&self) {
            for url in [&self.start_url, &self.page_url] {
                let _ = self.sqs.delete_queue().queue_url(url).send().await;
            }
        }
    }
}

/// Loads the shipped sample karaoke catalog (idempotent: re-importing rewrites the same items).
pub async fn ensure_sample_catalog() {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        stack_env();
        let config = karaoke_shared::aws::sdk_config().await;
        let store = karaoke_shared::store::Store::new(
            aws_sdk_dynamodb::Client::new(&config),
            var("TABLE_NAME"),
        );
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/catalog/sample.csv");
        let report = karaoke_shared::catalog::import::import_file(
            &store,
            &path,
            &unique("test-sample"),
            false,
            |_| {},
        )
        .await
        .expect("sample catalog imports");
        assert_eq!(report.bad_rows, 0);
    })
    .await;
}

impl Lastfm {
    /// Test setup: adds scrobbles at any `uts` (`force`), even ones Last.fm would ignore for being
    /// more than 14 days old, such as the past of a generated history.
    pub async fn add_scrobbles(&self, user: &str, scrobbles: Value) -> Value {
        self.send(
            Method::POST,
            "/_admin/scrobbles",
            Some(json!({"user": user, "scrobbles": scrobbles, "force": true})),
        )
        .await
    }

    /// Scrobbles as Last.fm accepts them: one dated more than 14 days ago or more than 300 s
    /// ahead is ignored. The reply holds `added` and `ignored`.
    pub async fn scrobble_live(&self, user: &str, scrobbles: Value) -> Value {
        self.send(
            Method::POST,
            "/_admin/scrobbles",
            Some(json!({"user": user, "scrobbles": scrobbles})),
        )
        .await
    }

    /// The raw scrobbles (`{artist, title, album, uts}`), newest first in the API's order, within
    /// `from` (inclusive) and `to` (exclusive).
    pub async fn list_scrobbles(
        &self,
        user: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Vec<Value> {
        let mut path = format!("/_admin/scrobbles?user={}", query_escape(user));
        if let Some(f) = from {
            path.push_str(&format!("&from={f}"));
        }
        if let Some(t) = to {
            path.push_str(&format!("&to={t}"));
        }
        let body = self.send(Method::GET, &path, None).await;
        body["scrobbles"].as_array().cloned().unwrap_or_default()
    }

    /// Removes one exact match per `{uts, artist, title}`; the reply holds `deleted` and `missing`.
    pub async fn delete_scrobbles(&self, user: &str, scrobbles: Value) -> Value {
        self.send(
            Method::DELETE,
            "/_admin/scrobbles",
            Some(json!({"user": user, "scrobbles": scrobbles})),
        )
        .await
    }

    /// Queues an edit (`{after_requests, add?, delete?, force?}`) applied just before the user's
    /// (after_requests + 1)-th recent-tracks request from now on.
    pub async fn schedule_edit(&self, user: &str, spec: Value) -> Value {
        let mut body = spec;
        body["user"] = json!(user);
        self.send(Method::POST, "/_admin/edits", Some(body)).await
    }

    /// `{user, recent_tracks_requests, pending, applied}` of the user's scheduled edits.
    pub async fn edits(&self, user: &str) -> Value {
        self.send(
            Method::GET,
            &format!("/_admin/edits?user={}", query_escape(user)),
            None,
        )
        .await
    }
}

impl Lastfm {
    pub async fn truth_artists(&self, user: &str) -> Value {
        self.send(
            Method::GET,
            &format!("/_admin/truth/artists?user={user}"),
            None,
        )
        .await
    }

    /// Loves (`true`) or unloves a track on the stand-in, as the user would on the site.
    pub async fn set_loved(&self, user: &str, artist: &str, title: &str, loved: bool) -> Value {
        let method = if loved { Method::POST } else { Method::DELETE };
        self.send(
            method,
            "/_admin/loved",
            Some(json!({"user": user, "artist": artist, "title": title})),
        )
        .await
    }

    pub async fn truth_loved(&self, user: &str) -> Value {
        self.send(
            Method::GET,
            &format!("/_admin/truth/loved?user={user}"),
            None,
        )
        .await
    }
}

impl Api {
    /// Every row of a cursor-paged list (`songs` or `artists`).
    pub async fn all(&self, list: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/me/{list}?limit=200&cursor={c}"),
                None => format!("/api/me/{list}?limit=200"),
            };
            let r = self.get(&path).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            items.extend(r.body["items"].as_array().unwrap().iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
    }
}

/// Sends a request and reads its JSON body, whatever the status (the caller looks at it).
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("server reachable")
        .json()
        .await
        .expect("a JSON body")
}

/// Percent-encodes a query parameter value (names such as "AC/DC" or "Florence & the Machine").
pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fragment_the_callback_hands_over_is_read_back_decoded() {
        assert_eq!(
            handed_to_page(
                "http://127.0.0.1:4566/x/#spotify_code=x%26y%3Dz&spotify_state=a%2Bb%20c"
            ),
            Some(("x&y=z".into(), "a+b c".into()))
        );
        assert_eq!(
            handed_to_page("http://h/?spotify=error&reason=denied"),
            None
        );
        assert_eq!(handed_to_page("http://h/#spotify_state=s"), None);
    }
}
