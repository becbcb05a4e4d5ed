//! Spotify settings from the environment, with the real services as defaults.

use std::fmt;
use std::time::Duration;

use super::error::SpotifyError;

pub const DEFAULT_API_URL: &str = "https://api.spotify.com/v1";
pub const DEFAULT_ACCOUNTS_URL: &str = "https://accounts.spotify.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct SpotifyConfig {
    /// Web API base, without a trailing slash (`https://api.spotify.com/v1`).
    pub api_url: String,
    /// Accounts service base, without a trailing slash (`https://accounts.spotify.com`).
    pub accounts_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Must match a URI registered with Spotify. `None` (SPOTIFY_REDIRECT_URI empty) lets the API
    /// derive it from the request: use [`SpotifyConfig::with_redirect_uri`] before building the
    /// authorize URL or exchanging a code.
    pub redirect_uri: Option<String>,
    pub timeout: Duration,
}

// The client secret must never reach a log line.
impl fmt::Debug for SpotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpotifyConfig")
            .field("api_url", &self.api_url)
            .field("accounts_url", &self.accounts_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn base_url(v: Option<String>, default: &str) -> String {
    v.unwrap_or_else(|| default.to_string())
        .trim_end_matches('/')
        .to_string()
}

impl SpotifyConfig {
    /// Reads `SPOTIFY_API_URL`, `SPOTIFY_ACCOUNTS_URL`, `SPOTIFY_CLIENT_ID`,
    /// `SPOTIFY_CLIENT_SECRET`, `SPOTIFY_REDIRECT_URI` and `SPOTIFY_TIMEOUT_MS` (default 20 s).
    /// Client id and secret are required ([`SpotifyError::Config`] otherwise).
    pub fn from_env() -> Result<Self, SpotifyError> {
        Self::from_env_with_secret(var("SPOTIFY_CLIENT_SECRET"))
    }

    /// As [`SpotifyConfig::from_env`], with the client secret read elsewhere (SSM, see
    /// `crate::secrets`).
    pub fn from_env_with_secret(client_secret: Option<String>) -> Result<Self, SpotifyError> {
        let client_id = var("SPOTIFY_CLIENT_ID").ok_or_else(|| {
            SpotifyError::Config("environment variable SPOTIFY_CLIENT_ID is required".into())
        })?;
        let client_secret = client_secret
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                SpotifyError::Config(
                    "the Spotify client secret is required (SPOTIFY_CLIENT_SECRET_PARAMETER)"
                        .into(),
                )
            })?;
        let timeout = match var("SPOTIFY_TIMEOUT_MS") {
            None => DEFAULT_TIMEOUT,
            Some(v) => Duration::from_millis(v.parse().map_err(|_| {
                SpotifyError::Config(format!(
                    "environment variable SPOTIFY_TIMEOUT_MS is invalid: {v:?}"
                ))
            })?),
        };
        Ok(Self {
            api_url: base_url(var("SPOTIFY_API_URL"), DEFAULT_API_URL),
            accounts_url: base_url(var("SPOTIFY_ACCOUNTS_URL"), DEFAULT_ACCOUNTS_URL),
            client_id,
            client_secret,
            redirect_uri: var("SPOTIFY_REDIRECT_URI"),
            timeout,
        })
    }

    /// A configuration against the real services (for tests and tools).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            accounts_url: DEFAULT_ACCOUNTS_URL.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uri: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// Points both services at one base (the stand-in serves `/authorize`, `/api/token` and `/v1`).
    pub fn with_base_url(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        self.accounts_url = base.to_string();
        self.api_url = format!("{base}/v1");
        self
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/api/token", self.accounts_url.trim_end_matches('/'))
    }

    pub(crate) fn authorize_endpoint(&self) -> String {
        format!("{}/authorize", self.accounts_url.trim_end_matches('/'))
    }

    pub(crate) fn require_redirect_uri(&self) -> Result<&str, SpotifyError> {
        self.redirect_uri.as_deref().ok_or_else(|| {
            SpotifyError::Config("no redirect URI (SPOTIFY_REDIRECT_URI) configured".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let c =
            SpotifyConfig::new("my-client", "super-secret-value").with_redirect_uri("https://x/cb");
        let s = format!("{c:?}");
        assert!(!s.contains("super-secret-value"), "{s}");
        assert!(s.contains("<redacted>"));
        assert!(s.contains("my-client"));
    }

    // The only test that touches SPOTIFY_* variables (nothing else in the crate reads them).
    #[test]
    fn from_env_requires_client_credentials() {
        let names = [
            "SPOTIFY_API_URL",
            "SPOTIFY_ACCOUNTS_URL",
            "SPOTIFY_CLIENT_ID",
            "SPOTIFY_CLIENT_SECRET",
            "SPOTIFY_REDIRECT_URI",
            "SPOTIFY_TIMEOUT_MS",
        ];
        for n in names {
            std::env::remove_var(n);
        }
        match SpotifyConfig::from_env() {
            Err(SpotifyError::Config(m)) => assert!(m.contains("SPOTIFY_CLIENT_ID")),
            other => panic!("{other:?}"),
        }
        std::env::set_var("SPOTIFY_CLIENT_ID", "cid");
        assert!(matches!(
            SpotifyConfig::from_env(),
            Err(SpotifyError::Config(m)) if m.contains("SPOTIFY_CLIENT_SECRET")
        ));
        std::env::set_var("SPOTIFY_CLIENT_SECRET", "sec");
        let c = SpotifyConfig::from_env().unwrap();
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.accounts_url, DEFAULT_ACCOUNTS_URL);
        assert_eq!(c.redirect_uri, None);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        std::env::set_var("SPOTIFY_ACCOUNTS_URL", "http://127.0.0.1:5057/");
        std::env::set_var("SPOTIFY_API_URL", "http://127.0.0.1:5057/v1");
        std::env::set_var("SPOTIFY_REDIRECT_URI", "http://127.0.0.1:3000/cb");
        let c = SpotifyConfig::from_env().unwrap();
        assert_eq!(c.accounts_url, "http://127.0.0.1:5057");
        assert_eq!(c.redirect_uri.as_deref(), Some("http://127.0.0.1:3000/cb"));
        for n in names {
            std::env::remove_var(n);
        }
    }

    #[test]
    fn base_url_trims_slashes() {
        let c = SpotifyConfig::new("a", "b").with_base_url("http://127.0.0.1:5057/");
        assert_eq!(c.accounts_url, "http://127.0.0.1:5057");
        assert_eq!(c.api_url, "http://127.0.0.1:5057/v1");
        assert_eq!(c.token_url(), "http://127.0.0.1:5057/api/token");
        assert_eq!(
            base_url(None, DEFAULT_API_URL),
            "https://api.spotify.com/v1"
        );
    }
}
