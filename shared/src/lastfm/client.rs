//! HTTP client for the Last.fm API: rate-gated, retrying transient failures with backoff.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tracing::{debug, warn};

use super::error::{Disposition, LastfmError};
use super::loved::{parse_loved_tracks, LovedTracksPage};
use super::model::{parse_body, parse_recent_tracks, parse_user_info, RecentTracksPage, UserInfo};
use super::top_artists::{parse_top_artists, TopArtistsPage};
use crate::config::LastfmConfig;

/// Admission control shared by every caller of Last.fm (possibly across processes).
pub trait RateGate: Send + Sync {
    /// Waits until one more request may be sent.
    fn acquire(&self) -> impl Future<Output = Result<(), LastfmError>> + Send;
    /// Last.fm said "too many requests": hold everyone back for a while.
    fn back_off(&self, pause: Duration) -> impl Future<Output = ()> + Send;
}

/// A window of `user.getRecentTracks`: `from` inclusive, `to` exclusive (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub rate_limit_pause: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(400),
            rate_limit_pause: Duration::from_secs(2),
        }
    }
}

pub struct LastfmClient<G> {
    http: reqwest::Client,
    config: LastfmConfig,
    gate: G,
    retry: RetryPolicy,
    /// One request of this process at a time (see [`Self::send_once`]).
    in_flight: tokio::sync::Semaphore,
}

pub const PAGE_LIMIT: u32 = 200;
/// Top artists and loved tracks take up to 1,000 a page (recent tracks only 200): a heavy
/// user's 6,884 artists are 7 requests instead of 35, on every refresh.
pub const LIST_PAGE_LIMIT: u32 = 1000;

impl<G: RateGate> LastfmClient<G> {
    pub fn new(config: LastfmConfig, gate: G) -> Result<Self, LastfmError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("karaoke-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LastfmError::Transport(e.without_url().to_string()))?;
        Ok(Self {
            http,
            config,
            gate,
            retry: RetryPolicy::default(),
            in_flight: tokio::sync::Semaphore::new(1),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn gate(&self) -> &G {
        &self.gate
    }

    pub async fn recent_tracks(
        &self,
        user: &str,
        page: u32,
        window: Window,
    ) -> Result<RecentTracksPage, LastfmError> {
        let mut params = vec![
            ("method", "user.getrecenttracks".to_string()),
            ("user", user.to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("page", page.max(1).to_string()),
            ("extended", "1".to_string()),
        ];
        if let Some(from) = window.from {
            params.push(("from", from.to_string()));
        }
        if let Some(to) = window.to {
            params.push(("to", to.to_string()));
        }
        self.call(&params, parse_recent_tracks).await
    }

    /// How many scrobbles Last.fm has in a window: one smallest-possible page, for its `total`.
    pub async fn window_total(&self, user: &str, window: Window) -> Result<u64, LastfmError> {
        let mut params = vec![
            ("method", "user.getrecenttracks".to_string()),
            ("user", user.to_string()),
            ("limit", "1".to_string()),
            ("page", "1".to_string()),
        ];
        if let Some(from) = window.from {
            params.push(("from", from.to_string()));
        }
        if let Some(to) = window.to {
            params.push(("to", to.to_string()));
        }
        Ok(self.call(&params, parse_recent_tracks).await?.total)
    }

    pub async fn user_info(&self, user: &str) -> Result<UserInfo, LastfmError> {
        let params = [
            ("method", "user.getinfo".to_string()),
            ("user", user.to_string()),
        ];
        self.call(&params, parse_user_info).await
    }

    pub async fn top_artists(&self, user: &str, page: u32) -> Result<TopArtistsPage, LastfmError> {
        let params = [
            ("method", "user.gettopartists".to_string()),
            ("user", user.to_string()),
            ("period", "overall".to_string()),
            ("limit", LIST_PAGE_LIMIT.to_string()),
            ("page", page.max(1).to_string()),
        ];
        self.call(&params, parse_top_artists).await
    }

    pub async fn loved_tracks(
        &self,
        user: &str,
        page: u32,
    ) -> Result<LovedTracksPage, LastfmError> {
        let params = [
            ("method", "user.getlovedtracks".to_string()),
            ("user", user.to_string()),
            ("limit", LIST_PAGE_LIMIT.to_string()),
            ("page", page.max(1).to_string()),
        ];
        self.call(&params, parse_loved_tracks).await
    }

    async fn call<T>(
        &self,
        params: &[(&str, String)],
        parse: fn(Value) -> Result<T, LastfmError>,
    ) -> Result<T, LastfmError> {
        let method = params[0].1.as_str();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.send_once(params).await {
                Ok(value) => parse(value),
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if err.disposition() == Disposition::Permanent || attempt >= self.retry.attempts {
                return Err(err);
            }
            let delay = if err.is_rate_limited() {
                self.gate.back_off(self.retry.rate_limit_pause).await;
                self.retry.rate_limit_pause
            } else {
                self.retry.base_delay * 2u32.pow(attempt - 1)
            };
            warn!(method, attempt, error = %err, delay_ms = delay.as_millis() as u64, "retrying Last.fm request");
            tokio::time::sleep(delay).await;
        }
    }

    /// The gate spaces requests at the rate, but a server that stalls (or a client starved of
    /// CPU) can see every request waiting on its slot arrive at once; Last.fm and the stand-in
    /// allow a burst of about one second's worth. So a process sends one request at a time, and
    /// reserves its slot only when it is next: all workers together have at most one request
    /// each in flight, as when an invocation took a single page, though it now runs ten.
    async fn send_once(&self, params: &[(&str, String)]) -> Result<Value, LastfmError> {
        let _turn = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| LastfmError::Gate(e.to_string()))?;
        self.gate.acquire().await?;
        let mut query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query.push(("api_key", self.config.api_key.as_str()));
        query.push(("format", "json"));
        let response = self
            .http
            .get(&self.config.api_url)
            .query(&query)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        debug!(method = %params[0].1, status, bytes = body.len(), "Last.fm answered");
        // The body decides: Last.fm sends its errors with almost any status, including 200.
        match parse_body(&body) {
            Ok(value) => Ok(value),
            Err(LastfmError::Malformed { .. }) if status >= 400 => {
                Err(LastfmError::Http { status })
            }
            Err(e) => Err(e),
        }
    }

    /// reqwest's errors print the URL, and the URL carries the API key: drop it.
    fn transport_error(&self, e: reqwest::Error) -> LastfmError {
        if e.is_timeout() {
            LastfmError::Timeout(self.config.timeout)
        } else if e.is_decode() || e.is_body() {
            LastfmError::Malformed {
                detail: e.without_url().to_string(),
            }
        } else {
            LastfmError::Transport(e.without_url().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::store::rate_gate::LocalRateGate;

    /// A Last.fm that answers every request "user not found" (permanent: no retries) after
    /// 50 ms, and records the most requests it was ever serving at once.
    async fn slow_lastfm() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/2.0/", listener.local_addr().unwrap());
        let peak = Arc::new(AtomicUsize::new(0));
        let serving = Arc::new(AtomicUsize::new(0));
        let seen = peak.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (peak, serving) = (peak.clone(), serving.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let now = serving.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    serving.fetch_sub(1, Ordering::SeqCst);
                    let body = r#"{"error":6,"message":"User not found"}"#;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_process_has_one_request_in_flight_however_many_callers() {
        let (api_url, peak) = slow_lastfm().await;
        let client = LastfmClient::new(
            LastfmConfig {
                api_url,
                api_key: "k".into(),
                rate_limit: 1000.0,
                timeout: Duration::from_secs(5),
            },
            LocalRateGate::new(1000.0),
        )
        .unwrap();
        let answers = futures::future::join_all((0..5).map(|_| client.user_info("nobody"))).await;
        assert!(answers.iter().all(|a| a.is_err()), "every call is answered");
        assert_eq!(peak.load(Ordering::SeqCst), 1, "requests overlapped");
    }
}
