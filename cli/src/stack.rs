//! Talking to the running local stack as a signed-in user.

use std::time::Duration;

use serde_json::Value;

pub type CliResult<T> = Result<T, String>;

pub fn env(name: &str) -> CliResult<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run `make up` (or `make demo`)"))
}

pub struct Session {
    pub base: String,
    token: String,
    http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Session {
    /// Signs in through the local stack's Cognito (hosted sign-in + PKCE, as the page does);
    /// the user is created first, with `user_id` as its Cognito `sub`.
    pub async fn sign_in(user_id: &str) -> CliResult<Self> {
        let base = env("API_URL")?.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let issuer = karaoke_local_auth::LocalIssuer::from_env()
            .await
            .map_err(|e| e.to_string())?;
        let token = issuer
            .sign_in(user_id)
            .await
            .map_err(|e| format!("sign-in as {user_id} failed: {e}"))?
            .access_token;
        Ok(Self { base, token, http })
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> CliResult<Reply> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    /// Starts a sync, or follows the one already running. A 5xx (the API timed out on a busy
    /// emulator) is asked again: if the first try did start a job, the next answer is 409 with
    /// its id, so a retry never starts two.
    pub async fn start_sync(&self) -> CliResult<String> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let r = self
                .call(reqwest::Method::POST, "/api/me/sync", None)
                .await?;
            match r.status {
                202 | 409 => return Ok(r.body["job_id"].as_str().unwrap_or_default().to_string()),
                500..=599 if attempts < 10 => {
                    eprintln!("starting the sync: {} {}; asking again", r.status, r.body);
                    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                }
                _ => return Err(format!("could not start the sync: {}", r.body)),
            }
        }
    }
}

/// The Last.fm stand-in's admin API (absent when pointed at the real Last.fm).
pub struct StandIn {
    base: String,
    http: reqwest::Client,
}

impl StandIn {
    pub fn from_env() -> CliResult<Self> {
        Ok(Self {
            base: env("LASTFM_ADMIN_URL")?.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        })
    }

    pub async fn get(&self, path: &str) -> CliResult<Value> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        res.json().await.map_err(|e| e.to_string())
    }

    pub async fn post(&self, path: &str, body: Value) -> CliResult<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        res.json().await.map_err(|e| e.to_string())
    }
}
