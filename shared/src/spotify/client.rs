//! HTTP client for the Spotify Web API: the profile and the user's top artists/tracks, waiting out
//! 429s and retrying 5xx with backoff.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{debug, warn};

use super::config::SpotifyConfig;
use super::error::SpotifyError;
use super::model::{
    combine_pages, parse_json, rank_items, validate_time_range, Artist, HasId, Paging, Profile,
    RawProfile, TopArtist, TopTrack, Track,
};
use super::oauth::{self, retry_after, snippet, transport_error, Tokens};

/// Items per request (Spotify's maximum).
pub const TOP_LIMIT: u32 = 50;
/// Offset of the second request. Spotify answers offsets ≥ 50 with an empty page, but
/// `offset=49&limit=50` serves items 50..=99 (item 50 repeated).
pub const SECOND_PAGE_OFFSET: u32 = 49;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total for 5xx answers, timeouts and connection failures.
    pub attempts: u32,
    /// First backoff after a 5xx; doubles each time.
    pub base_delay: Duration,
    /// 429s waited out before giving up with [`SpotifyError::RateLimited`].
    pub max_rate_limit_waits: u32,
    /// Longest `Retry-After` we sleep through. A longer one is returned at once as
    /// [`SpotifyError::RateLimited`] with Spotify's full value, for the caller to reschedule
    /// (sleeping 30 s and asking again when told to wait an hour is pointless).
    pub max_retry_after: Duration,
    /// Wait when a 429 has no usable `Retry-After`.
    pub default_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_rate_limit_waits: 3,
            max_retry_after: Duration::from_secs(30),
            default_retry_after: Duration::from_secs(1),
        }
    }
}

#[derive(Clone)]
pub struct SpotifyClient {
    http: reqwest::Client,
    config: SpotifyConfig,
    retry: RetryPolicy,
}

impl std::fmt::Debug for SpotifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpotifyClient")
            .field("config", &self.config)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The reqwest client every Spotify call should use: timeout, user agent, no redirects followed.
pub fn http_client(config: &SpotifyConfig) -> Result<reqwest::Client, SpotifyError> {
    reqwest::Client::builder()
        .timeout(config.timeout)
        .user_agent(concat!("karaoke-sync/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SpotifyError::Transport(e.without_url().to_string()))
}

impl SpotifyClient {
    pub fn new(config: SpotifyConfig) -> Result<Self, SpotifyError> {
        let http = http_client(&config)?;
        Ok(Self::with_http(http, config))
    }

    pub fn with_http(http: reqwest::Client, config: SpotifyConfig) -> Self {
        Self {
            http,
            config,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn config(&self) -> &SpotifyConfig {
        &self.config
    }

    /// [`oauth::exchange_code`] with this client's HTTP client and configuration.
    pub async fn exchange_code(&self, code: &str, now: i64) -> Result<Tokens, SpotifyError> {
        oauth::exchange_code(&self.http, &self.config, code, now).await
    }

    /// [`oauth::refresh`] with this client's HTTP client and configuration.
    pub async fn refresh(&self, refresh_token: &str, now: i64) -> Result<Tokens, SpotifyError> {
        oauth::refresh(&self.http, &self.config, refresh_token, now).await
    }

    /// `GET /v1/me`.
    pub async fn me(&self, access_token: &str) -> Result<Profile, SpotifyError> {
        let body = self.get(access_token, "/me", &[]).await?;
        parse_json::<RawProfile>(&body)?.into_profile()
    }

    /// The user's top artists for `time_range` (`short_term`, `medium_term`, `long_term`), up to
    /// ~99, ranked by position; duplicates dropped keeping the best rank (ranks are not
    /// renumbered, see [`rank_items`]).
    pub async fn top_artists(
        &self,
        access_token: &str,
        time_range: &str,
    ) -> Result<Vec<TopArtist>, SpotifyError> {
        let time_range = validate_time_range(time_range)?;
        let items = self
            .top::<Artist>(access_token, "artists", time_range)
            .await?;
        let (ranked, stats) = rank_items(items, Artist::into_top);
        debug!(
            kind = "artists",
            time_range,
            items = ranked.len(),
            duplicates = stats.duplicates,
            skipped = stats.skipped,
            "Spotify top list"
        );
        Ok(ranked)
    }

    /// The user's top tracks, like [`SpotifyClient::top_artists`].
    pub async fn top_tracks(
        &self,
        access_token: &str,
        time_range: &str,
    ) -> Result<Vec<TopTrack>, SpotifyError> {
        let time_range = validate_time_range(time_range)?;
        let items = self
            .top::<Track>(access_token, "tracks", time_range)
            .await?;
        let (ranked, stats) = rank_items(items, Track::into_top);
        debug!(
            kind = "tracks",
            time_range,
            items = ranked.len(),
            duplicates = stats.duplicates,
            skipped = stats.skipped,
            "Spotify top list"
        );
        Ok(ranked)
    }

    /// `offset=0&limit=50`, then, when that page was full and `total` says there is more,
    /// `offset=49&limit=50`.
    async fn top<T: DeserializeOwned + HasId>(
        &self,
        access_token: &str,
        kind: &str,
        time_range: &str,
    ) -> Result<Vec<(u32, T)>, SpotifyError> {
        let path = format!("/me/top/{kind}");
        let first: Paging<T> = self.top_page(access_token, &path, time_range, 0).await?;
        let full =
            first.items.len() >= TOP_LIMIT as usize && first.total.is_none_or(|t| t > TOP_LIMIT);
        let second = if full {
            Some(
                self.top_page(access_token, &path, time_range, SECOND_PAGE_OFFSET)
                    .await?,
            )
        } else {
            None
        };
        Ok(combine_pages(first, second, SECOND_PAGE_OFFSET))
    }

    async fn top_page<T: DeserializeOwned>(
        &self,
        access_token: &str,
        path: &str,
        time_range: &str,
        offset: u32,
    ) -> Result<Paging<T>, SpotifyError> {
        let limit = TOP_LIMIT.to_string();
        let offset = offset.to_string();
        let query = [
            ("time_range", time_range),
            ("limit", limit.as_str()),
            ("offset", offset.as_str()),
        ];
        let body = self.get(access_token, path, &query).await?;
        parse_json(&body)
    }

    /// One GET with the 429 / 5xx policy. Returns the body of a 2xx answer.
    async fn get(
        &self,
        access_token: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<u8>, SpotifyError> {
        let url = format!("{}{path}", self.config.api_url.trim_end_matches('/'));
        let mut failures = 0u32;
        let mut rate_waits = 0u32;
        loop {
            let err = match self.send_once(&url, access_token, query).await {
                Ok(Answer::Ok(body)) => return Ok(body),
                Ok(Answer::RateLimited(after)) => {
                    let wait = after.unwrap_or(self.retry.default_retry_after);
                    if rate_waits >= self.retry.max_rate_limit_waits
                        || wait > self.retry.max_retry_after
                    {
                        return Err(SpotifyError::RateLimited {
                            retry_after: Some(wait),
                        });
                    }
                    rate_waits += 1;
                    warn!(
                        path,
                        wait_ms = wait.as_millis() as u64,
                        waits = rate_waits,
                        "Spotify rate limit: waiting"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => e,
            };
            let retryable = match &err {
                SpotifyError::Http { status, .. } => *status >= 500,
                SpotifyError::Timeout(_) | SpotifyError::Transport(_) => true,
                _ => false,
            };
            failures += 1;
            if !retryable || failures >= self.retry.attempts {
                return Err(err);
            }
            let delay = self.retry.base_delay * 2u32.pow(failures - 1);
            warn!(path, attempt = failures, error = %err, delay_ms = delay.as_millis() as u64, "retrying Spotify request");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        url: &str,
        access_token: &str,
        query: &[(&str, &str)],
    ) -> Result<Answer, SpotifyError> {
        let response = self
            .http
            .get(url)
            .query(query)
            .bearer_auth(access_token)
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(|e| transport_error(e, self.config.timeout))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(e, self.config.timeout))?;
        debug!(status, bytes = body.len(), "Spotify Web API answered");
        match status {
            200..=299 => Ok(Answer::Ok(body.to_vec())),
            429 => Ok(Answer::RateLimited(after)),
            401 => Err(SpotifyError::Unauthorized {
                message: api_message(&body),
            }),
            403 => Err(SpotifyError::Forbidden {
                message: api_message(&body),
            }),
            _ => Err(SpotifyError::Http {
                status,
                message: api_message(&body),
            }),
        }
    }
}

enum Answer {
    Ok(Vec<u8>),
    RateLimited(Option<Duration>),
}

/// The message of a Web API error: `{"error":{"status":N,"message":"..."}}`, or the text of a
/// plain-text body (Development Mode's "User not registered in the Developer Dashboard").
pub(crate) fn api_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let msg = match v.get("error") {
            Some(Value::Object(o)) => o.get("message").and_then(Value::as_str),
            Some(Value::String(s)) => v
                .get("error_description")
                .and_then(Value::as_str)
                .or(Some(s.as_str())),
            _ => None,
        };
        if let Some(m) = msg {
            return m.to_string();
        }
    }
    snippet(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_bodies() {
        assert_eq!(
            api_message(b"{\n  \"error\" : {\n    \"status\" : 401,\n    \"message\" : \"The access token expired\"\n  }\n}"),
            "The access token expired"
        );
        assert_eq!(
            api_message(b"User not registered in the Developer Dashboard"),
            "User not registered in the Developer Dashboard"
        );
        assert_eq!(api_message(b""), "");
    }
}
