//! Configuration from the environment, with the real services as defaults.

use std::fmt;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

fn parsed<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

#[derive(Clone)]
pub struct LastfmConfig {
    pub api_url: String,
    pub api_key: String,
    /// Requests per second across every worker together.
    pub rate_limit: f64,
    pub timeout: Duration,
}

// The API key must never reach a log line.
impl fmt::Debug for LastfmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastfmConfig")
            .field("api_url", &self.api_url)
            .field("api_key", &"<redacted>")
            .field("rate_limit", &self.rate_limit)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LastfmConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let rate_limit: f64 = parsed("LASTFM_RATE_LIMIT", 5.0)?;
        if !(rate_limit > 0.0 && rate_limit.is_finite()) {
            return Err(ConfigError::Invalid {
                name: "LASTFM_RATE_LIMIT",
                reason: "must be a positive number of requests per second".into(),
            });
        }
        Ok(Self {
            api_url: var("LASTFM_API_URL")
                .unwrap_or_else(|| "https://ws.audioscrobbler.com/2.0/".to_string()),
            // Read from SSM at cold start when LASTFM_API_KEY_PARAMETER names it (crate::secrets).
            api_key: var("LASTFM_API_KEY").unwrap_or_default(),
            rate_limit,
            timeout: Duration::from_millis(parsed("LASTFM_TIMEOUT_MS", 20_000u64)?),
        })
    }
}

/// What every function needs to find its table and queues.
#[derive(Clone)]
pub struct AppConfig {
    pub table_name: String,
    pub page_queue_url: String,
    pub start_queue_url: String,
    pub lastfm: LastfmConfig,
    /// Receives of a page message before SQS moves it to the dead-letter queue.
    pub max_receives: u32,
    pub cursor_secret: String,
    pub erase: EraseSettings,
}

/// How an account erase runs (see docs/DATA-MODEL.md, "Export and erase").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseSettings {
    /// Accounts with at most this many items are erased within the request; larger ones in
    /// the background, so the request stays well inside the API's timeout.
    pub inline_max_items: u32,
    /// How long writes of a sync that was running when the erase began may still land: the
    /// longest timeout of a function that writes user data (sync-start's).
    pub settle_secs: i64,
}

impl Default for EraseSettings {
    fn default() -> Self {
        Self {
            inline_max_items: 300,
            settle_secs: 300,
        }
    }
}

impl EraseSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let settings = Self {
            inline_max_items: parsed("ERASE_INLINE_MAX_ITEMS", d.inline_max_items)?,
            settle_secs: parsed("ERASE_SETTLE_SECS", d.settle_secs)?,
        };
        if !(0..=900).contains(&settings.settle_secs) {
            // One delayed SQS message carries the wait, and SQS delays stop at 15 minutes.
            return Err(ConfigError::Invalid {
                name: "ERASE_SETTLE_SECS",
                reason: "must be from 0 to 900 seconds".into(),
            });
        }
        Ok(settings)
    }
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("table_name", &self.table_name)
            .field("page_queue_url", &self.page_queue_url)
            .field("start_queue_url", &self.start_queue_url)
            .field("lastfm", &self.lastfm)
            .field("max_receives", &self.max_receives)
            .field("erase", &self.erase)
            .finish()
    }
}

impl AppConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let cursor_secret = required("CURSOR_SECRET")?;
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            page_queue_url: required("PAGE_QUEUE_URL")?,
            start_queue_url: required("START_QUEUE_URL")?,
            lastfm: LastfmConfig::from_env()?,
            max_receives: parsed("MAX_RECEIVES", 5u32)?,
            cursor_secret,
            erase: EraseSettings::from_env()?,
        })
    }
}
