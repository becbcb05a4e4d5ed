//! The Spotify client against the local stand-in (`infra/standins/spotify.py`), which each test
//! starts on a free port and stops when it ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use karaoke_shared::spotify::{
    authorize_url, ensure_fresh, exchange_code, exchange_code_pkce, http_client, new_pkce_verifier,
    pkce_challenge, refresh, with_fresh_token, Disposition, RetryPolicy, SpotifyClient,
    SpotifyConfig, SpotifyError, Tokens,
};
use serde_json::{json, Value};

const CLIENT_ID: &str = "t-client";
const CLIENT_SECRET: &str = "t-secret";
const REDIRECT_URI: &str = "http://127.0.0.1:3999/api/services/spotify/callback";
const DEMO: &str = "spotify-demo";

struct StandIn {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    base: String,
    admin: reqwest::Client,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StandIn {
    fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/standins/spotify.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--quiet", "--client-id", CLIENT_ID])
            .args([
                "--client-secret",
                CLIENT_SECRET,
                "--allow-insecure-redirects",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 infra/standins/spotify.py");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the stand-in's first line");
        let base = match line.split_once("listening on ") {
            Some((_, url)) => url.trim().to_string(),
            None => {
                let _ = child.kill();
                panic!("unexpected stand-in output: {line:?}");
            }
        };
        StandIn {
            child,
            _stdout: stdout,
            base,
            admin: reqwest::Client::new(),
        }
    }

    fn config(&self) -> SpotifyConfig {
        SpotifyConfig::new(CLIENT_ID, CLIENT_SECRET)
            .with_base_url(&self.base)
            .with_redirect_uri(REDIRECT_URI)
    }

    fn client(&self) -> SpotifyClient {
        SpotifyClient::new(self.config())
            .unwrap()
            .with_retry(RetryPolicy {
                base_delay: Duration::from_millis(20),
                ..RetryPolicy::default()
            })
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .admin
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .admin
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn configure(&self, body: Value) {
        self.post("/_admin/config", body).await;
    }

    /// `/authorize` as `user`, returning the code and the echoed state.
    async fn authorize(
        &self,
        config: &SpotifyConfig,
        user: &str,
        challenge: Option<&str>,
    ) -> (String, String) {
        let url = format!(
            "{}&standin_user={user}",
            authorize_url(config, "state-42/x", challenge)
        );
        let http = http_client(config).unwrap(); // follows no redirects
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        let location = reqwest::Url::parse(&location).unwrap();
        let get = |k: &str| {
            location
                .query_pairs()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(get("error"), None);
        (get("code").expect("code"), get("state").expect("state"))
    }

    /// The full authorization-code flow for `user`.
    async fn connect(&self, user: &str) -> Tokens {
        let config = self.config();
        let (code, state) = self.authorize(&config, user, None).await;
        assert_eq!(state, "state-42/x");
        let http = http_client(&config).unwrap();
        exchange_code(&http, &config, &code, now()).await.unwrap()
    }

    /// `/_admin/top`: (rank, id) of the items the API can serve, first occurrences only.
    async fn expected(&self, kind: &str, range: &str) -> Vec<(u32, String)> {
        let v = self
            .get(&format!(
                "/_admin/top?user={DEMO}&type={kind}&time_range={range}"
            ))
            .await;
        let reachable = v["reachable"].as_u64().unwrap() as u32;
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["duplicate_of"].is_null())
            .map(|i| {
                (
                    i["rank"].as_u64().unwrap() as u32,
                    i["id"].as_str().unwrap().to_string(),
                )
            })
            .filter(|(rank, _)| *rank <= reachable)
            .collect()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn authorization_code_flow_and_profile() {
    let s = StandIn::start();
    let config = s.config();
    let http = http_client(&config).unwrap();
    let (code, state) = s.authorize(&config, DEMO, None).await;
    assert_eq!(state, "state-42/x");
    let t0 = now();
    let tokens = exchange_code(&http, &config, &code, t0).await.unwrap();
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.has_scope("user-top-read"));
    assert_eq!(tokens.expires_at, t0 + 3600);
    assert!(!format!("{tokens:?}").contains(&tokens.access_token));

    // Codes are single-use.
    let again = exchange_code(&http, &config, &code, now())
        .await
        .unwrap_err();
    assert!(
        matches!(again, SpotifyError::Reauthorize { .. }),
        "{again:?}"
    );

    let profile = s.client().me(&tokens.access_token).await.unwrap();
    assert_eq!(profile.id, DEMO);
    assert_eq!(profile.display_name.as_deref(), Some("Demo Singer"));

    // A wrong client secret is our configuration problem, with 400 or 401.
    let (code, _) = s.authorize(&config, DEMO, None).await;
    let mut wrong = config.clone();
    wrong.client_secret = "not-the-secret".into();
    for status in [400, 401] {
        s.configure(json!({"invalid_client_status": status})).await;
        let e = exchange_code(&http, &wrong, &code, now())
            .await
            .unwrap_err();
        assert!(matches!(e, SpotifyError::Config(_)), "{e:?}");
        assert!(!e.to_string().contains("not-the-secret"));
        assert_eq!(e.disposition(), Disposition::Permanent);
    }
    // The failed exchanges did not consume the code.
    exchange_code(&http, &config, &code, now()).await.unwrap();
}

#[tokio::test]
async fn pkce_flow() {
    let s = StandIn::start();
    let config = s.config();
    let http = http_client(&config).unwrap();
    let verifier = new_pkce_verifier();
    let (code, _) = s
        .authorize(&config, "spotify-light", Some(&pkce_challenge(&verifier)))
        .await;
    let e = exchange_code_pkce(
        &http,
        &config,
        &code,
        "wrong-verifier-wrong-verifier-wrong-verifier",
        now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SpotifyError::Reauthorize { .. }), "{e:?}");
    let tokens = exchange_code_pkce(&http, &config, &code, &verifier, now())
        .await
        .unwrap();
    let me = s.client().me(&tokens.access_token).await.unwrap();
    assert_eq!(me.id, "spotify-light");
}

#[tokio::test]
async fn demo_user_top_lists_match_spotify_ranks() {
    let s = StandIn::start();
    let tokens = s.connect(DEMO).await;
    let client = s.client();

    let artists = client
        .top_artists(&tokens.access_token, "medium_term")
        .await
        .unwrap();
    // 75 items, #31 repeats #5: 74 distinct, ranks kept (no renumbering).
    assert_eq!(artists.len(), 74);
    assert!(artists.iter().all(|a| a.rank != 31));
    assert_eq!(artists.last().unwrap().rank, 75);
    assert_eq!(artists[4].rank, 5);
    assert_eq!(artists[4].name, "Ed Sheeran");
    let got: Vec<(u32, String)> = artists.iter().map(|a| (a.rank, a.id.clone())).collect();
    assert_eq!(got, s.expected("artists", "medium_term").await);
    assert!(artists.iter().all(|a| a.popularity.is_some()));
    assert!(artists.iter().all(|a| a.genres.is_some()));

    let long = client
        .top_artists(&tokens.access_token, "long_term")
        .await
        .unwrap();
    // 99 items reachable, #18 = #2 and #64 = #8.
    assert_eq!(long.len(), 97);
    assert_eq!(long.last().unwrap().rank, 99);
    let got: Vec<(u32, String)> = long.iter().map(|a| (a.rank, a.id.clone())).collect();
    assert_eq!(got, s.expected("artists", "long_term").await);

    let tracks = client
        .top_tracks(&tokens.access_token, "medium_term")
        .await
        .unwrap();
    assert_eq!(tracks.len(), 74);
    assert_eq!(tracks[3].name, "Don't Stop Me Now - Remastered 2011");
    assert!(tracks.iter().all(|t| t.rank != 42));
    let got: Vec<(u32, String)> = tracks.iter().map(|t| (t.rank, t.id.clone())).collect();
    assert_eq!(got, s.expected("tracks", "medium_term").await);
    assert!(tracks
        .iter()
        .all(|t| t.popularity.is_some() && t.duration_ms.is_some() && t.album.is_some()));
    assert!(tracks.iter().all(|t| !t.artists.is_empty()));

    let long_tracks = client
        .top_tracks(&tokens.access_token, "long_term")
        .await
        .unwrap();
    assert_eq!(long_tracks.len(), 97);
    assert_eq!(long_tracks[0].name, "Bohemian Rhapsody");
    let got: Vec<(u32, String)> = long_tracks.iter().map(|t| (t.rank, t.id.clone())).collect();
    assert_eq!(got, s.expected("tracks", "long_term").await);

    s.post("/_admin/stats/reset", json!({})).await;
    let short = client
        .top_tracks(&tokens.access_token, "short_term")
        .await
        .unwrap();
    assert!(short.is_empty());
    assert!(client
        .top_artists(&tokens.access_token, "short_term")
        .await
        .unwrap()
        .is_empty());
    // An empty first page needs no second request.
    let stats = s.get("/_admin/stats").await;
    assert_eq!(stats["by_path"]["/v1/me/top/tracks"], 1);
    assert_eq!(stats["by_path"]["/v1/me/top/artists"], 1);

    let e = client
        .top_tracks(&tokens.access_token, "forever")
        .await
        .unwrap_err();
    assert!(matches!(e, SpotifyError::InvalidTimeRange(_)));
}

#[tokio::test]
async fn light_user_lists_fit_in_one_page() {
    let s = StandIn::start();
    let tokens = s.connect("spotify-light").await;
    let client = s.client();
    s.post("/_admin/stats/reset", json!({})).await;
    let tracks = client
        .top_tracks(&tokens.access_token, "long_term")
        .await
        .unwrap();
    // 31 items, one duplicate.
    assert_eq!(tracks.len(), 30);
    let stats = s.get("/_admin/stats").await;
    assert_eq!(stats["by_path"]["/v1/me/top/tracks"], 1);
}

#[tokio::test]
async fn development_mode_drops_popularity_and_genres() {
    let s = StandIn::start();
    let tokens = s.connect(DEMO).await;
    s.configure(json!({"dev_mode": true})).await;
    let client = s.client();
    let artists = client
        .top_artists(&tokens.access_token, "medium_term")
        .await
        .unwrap();
    assert_eq!(artists.len(), 74);
    assert!(artists
        .iter()
        .all(|a| a.popularity.is_none() && a.genres.is_none()));
    let tracks = client
        .top_tracks(&tokens.access_token, "long_term")
        .await
        .unwrap();
    assert_eq!(tracks.len(), 97);
    assert!(tracks.iter().all(|t| t.popularity.is_none()));
    assert!(tracks.iter().all(|t| t.duration_ms.is_some()));
    let me = client.me(&tokens.access_token).await.unwrap();
    assert_eq!(me.id, DEMO);

    // A user missing from the app's allow-list gets a plain-text 403.
    s.configure(json!({"dev_allowlist": ["someone-else"]}))
        .await;
    let e = client
        .top_artists(&tokens.access_token, "medium_term")
        .await
        .unwrap_err();
    match &e {
        SpotifyError::Forbidden { message } => {
            assert_eq!(message, "User not registered in the Developer Dashboard")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.disposition(), Disposition::Permanent);
    assert!(e.user_message().contains("Development Mode"));
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies() {
    let s = StandIn::start();
    let config = s.config();
    let http = http_client(&config).unwrap();
    let first = s.connect(DEMO).await;
    let old_rt = first.refresh_token.clone().unwrap();

    let second = refresh(&http, &config, &old_rt, now()).await.unwrap();
    let new_rt = second.refresh_token.clone().expect("rotated");
    assert_ne!(new_rt, old_rt);
    assert_ne!(second.access_token, first.access_token);
    s.client().me(&second.access_token).await.unwrap();

    let e = refresh(&http, &config, &old_rt, now()).await.unwrap_err();
    assert!(e.needs_reconnect(), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Permanent);
    refresh(&http, &config, &new_rt, now()).await.unwrap();

    // Without rotation the response has no refresh token: ensure_fresh keeps the old one.
    s.configure(json!({"rotate_refresh": false})).await;
    let tokens = s.connect(DEMO).await;
    let rt = tokens.refresh_token.clone().unwrap();
    let raw = refresh(&http, &config, &rt, now()).await.unwrap();
    assert_eq!(raw.refresh_token, None);
    let later = tokens.expires_at; // due for a refresh at expiry time
    let (merged, changed) = ensure_fresh(&http, &config, &tokens, later).await.unwrap();
    assert!(changed);
    assert_eq!(merged.refresh_token.as_deref(), Some(rt.as_str()));
    assert_ne!(merged.access_token, tokens.access_token);
    assert_eq!(merged.expires_at, later + 3600);
    // Not due: untouched.
    let (same, changed) = ensure_fresh(&http, &config, &merged, now()).await.unwrap();
    assert!(!changed);
    assert_eq!(same, merged);
}

#[tokio::test]
async fn revoked_refresh_token_asks_for_reconnect() {
    let s = StandIn::start();
    let config = s.config();
    let http = http_client(&config).unwrap();
    let tokens = s.connect(DEMO).await;
    let v = s.post("/_admin/revoke", json!({"user": DEMO})).await;
    assert_eq!(v["revoked"], 1);
    let e = refresh(
        &http,
        &config,
        tokens.refresh_token.as_deref().unwrap(),
        now(),
    )
    .await
    .unwrap_err();
    match &e {
        SpotifyError::Reauthorize { reason } => assert_eq!(reason, "Refresh token revoked"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.user_message(),
        "Spotify asked us to reconnect your account. Connect Spotify again in Connected Services."
    );
    // ensure_fresh on expired tokens says the same.
    let e = ensure_fresh(&http, &config, &tokens, tokens.expires_at)
        .await
        .unwrap_err();
    assert!(e.needs_reconnect());
    // Issued access tokens keep working until they expire.
    s.client().me(&tokens.access_token).await.unwrap();

    // A refresh token past its lifetime is the same story.
    let tokens = s.connect(DEMO).await;
    s.post("/_admin/expire", json!({"user": DEMO, "refresh": true}))
        .await;
    let e = refresh(
        &http,
        &config,
        tokens.refresh_token.as_deref().unwrap(),
        now(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, SpotifyError::Reauthorize { reason } if reason == "Refresh token expired")
    );
}

#[tokio::test]
async fn expired_access_token_then_refresh() {
    let s = StandIn::start();
    let config = s.config();
    let http = http_client(&config).unwrap();
    let client = s.client();
    let tokens = s.connect(DEMO).await;
    let v = s.post("/_admin/expire", json!({"user": DEMO})).await;
    assert_eq!(v["expired_access_tokens"], 1);

    let e = client.me(&tokens.access_token).await.unwrap_err();
    match &e {
        SpotifyError::Unauthorized { message } => assert_eq!(message, "The access token expired"),
        other => panic!("{other:?}"),
    }
    assert!(e.is_unauthorized());

    // Our clock still says the token is fine: with_fresh_token refreshes on the 401 and retries.
    let out = with_fresh_token(&http, &config, &tokens, now(), |at| {
        let client = client.clone();
        async move { client.top_artists(&at, "medium_term").await }
    })
    .await;
    let new_tokens = out.new_tokens.expect("refreshed");
    assert_eq!(out.result.unwrap().len(), 74);
    assert_ne!(new_tokens.refresh_token, tokens.refresh_token);
    client.me(&new_tokens.access_token).await.unwrap();

    // A good token: no refresh, no new tokens.
    let out = with_fresh_token(&http, &config, &new_tokens, now(), |at| {
        let client = client.clone();
        async move { client.me(&at).await }
    })
    .await;
    assert!(out.new_tokens.is_none());
    assert_eq!(out.result.unwrap().id, DEMO);

    // The refresh itself fails (revoked): the error says reconnect.
    s.post("/_admin/expire", json!({"user": DEMO})).await;
    s.post("/_admin/revoke", json!({"user": DEMO})).await;
    let out = with_fresh_token(&http, &config, &new_tokens, now(), |at| {
        let client = client.clone();
        async move { client.me(&at).await }
    })
    .await;
    assert!(out.new_tokens.is_none());
    assert!(out.result.unwrap_err().needs_reconnect());
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let s = StandIn::start();
    let tokens = s.connect(DEMO).await;
    let client = s.client();
    s.configure(json!({"rate_limit_next": 2, "retry_after": 1}))
        .await;
    let started = Instant::now();
    let tracks = client
        .top_tracks(&tokens.access_token, "medium_term")
        .await
        .unwrap();
    assert_eq!(tracks.len(), 74);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.get("/_admin/stats").await["served_429"], 2);

    // Still limited after three waits: give up with RateLimited.
    s.configure(json!({"rate_limit_next": 10, "retry_after": 1}))
        .await;
    let e = client.me(&tokens.access_token).await.unwrap_err();
    match &e {
        SpotifyError::RateLimited { retry_after } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(1)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.disposition(), Disposition::Transient);
    // Four requests: the first and three retries (the counter drops before each 429 is sent).
    assert_eq!(s.get("/_admin/config").await["rate_limit_next"], 10 - 4);

    // A Retry-After beyond the 30 s cap is handed back at once.
    s.configure(json!({"rate_limit_next": 1, "retry_after": 3600}))
        .await;
    let started = Instant::now();
    let e = client.me(&tokens.access_token).await.unwrap_err();
    assert!(
        matches!(e, SpotifyError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3600))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let s = StandIn::start();
    let config = s.config();
    let http = http_client(&config).unwrap();
    let tokens = s.connect(DEMO).await;
    let client = s.client();

    s.configure(json!({"http5xx_next": 2})).await;
    let artists = client
        .top_artists(&tokens.access_token, "long_term")
        .await
        .unwrap();
    assert_eq!(artists.len(), 97);
    assert_eq!(s.get("/_admin/stats").await["served_5xx_injected"], 2);

    s.configure(json!({"http5xx_next": 5})).await;
    let e = client.me(&tokens.access_token).await.unwrap_err();
    assert!(
        matches!(
            e,
            SpotifyError::Http {
                status: 502 | 503,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.disposition(), Disposition::Transient);
    s.configure(json!({"http5xx_next": 0})).await;

    // The token endpoint too.
    s.configure(json!({"token_http5xx_next": 1})).await;
    let fresh = refresh(
        &http,
        &config,
        tokens.refresh_token.as_deref().unwrap(),
        now(),
    )
    .await
    .unwrap();
    assert!(fresh.refresh_token.is_some());
    s.configure(json!({"token_http5xx_next": 5})).await;
    let e = refresh(
        &http,
        &config,
        fresh.refresh_token.as_deref().unwrap(),
        now(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            SpotifyError::Http {
                status: 502 | 503,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.disposition(), Disposition::Transient);
}

#[tokio::test]
async fn unreachable_spotify_is_transient() {
    // Nothing listens on port 9.
    let config = SpotifyConfig::new(CLIENT_ID, CLIENT_SECRET)
        .with_base_url("http://127.0.0.1:9")
        .with_redirect_uri(REDIRECT_URI);
    let client = SpotifyClient::new(config.clone())
        .unwrap()
        .with_retry(RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        });
    let e = client.me("token").await.unwrap_err();
    assert!(matches!(e, SpotifyError::Transport(_)), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Transient);
    let http = http_client(&config).unwrap();
    let e = refresh(&http, &config, "rt", now()).await.unwrap_err();
    assert!(!e.to_string().contains(CLIENT_SECRET));
    assert_eq!(e.disposition(), Disposition::Transient);
}
