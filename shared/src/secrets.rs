//! Secrets the functions need (the Last.fm API key, the Spotify client secret), read once at
//! cold start from SSM Parameter Store. The deployed template hands a function only the
//! parameters' names (`*_PARAMETER`), so no key sits in its configuration or its logs; where no
//! name is set (a test harness, `cargo lambda` by hand) the plain variable is used.

use std::fmt;

use aws_config::SdkConfig;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("could not read SSM parameter {name}: {reason}")]
    Read { name: String, reason: String },
    #[error("SSM parameter {name} has no value")]
    Empty { name: String },
}

/// Where one secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An SSM parameter, by name.
    Parameter(String),
    /// The value itself, from a plain environment variable.
    Plain(String),
    Unset,
}

/// The source of a secret: `<parameter_var>` names an SSM parameter and wins over the plain
/// `<plain_var>`. Blank values count as unset.
pub fn source(parameter: Option<String>, plain: Option<String>) -> Source {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    match (set(parameter), set(plain)) {
        (Some(name), _) => Source::Parameter(name.trim().to_string()),
        (None, Some(value)) => Source::Plain(value),
        (None, None) => Source::Unset,
    }
}

#[derive(Clone, Default)]
pub struct Secrets {
    pub lastfm_api_key: Option<String>,
    pub spotify_client_secret: Option<String>,
}

// Values must never reach a log line.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "<set>");
        f.debug_struct("Secrets")
            .field("lastfm_api_key", &shown(&self.lastfm_api_key))
            .field("spotify_client_secret", &shown(&self.spotify_client_secret))
            .finish()
    }
}

impl Secrets {
    /// Reads `LASTFM_API_KEY_PARAMETER` / `LASTFM_API_KEY` and
    /// `SPOTIFY_CLIENT_SECRET_PARAMETER` / `SPOTIFY_CLIENT_SECRET`.
    pub async fn load(sdk: &SdkConfig) -> Result<Self, SecretsError> {
        let env = |name: &str| std::env::var(name).ok();
        let lastfm = source(env("LASTFM_API_KEY_PARAMETER"), env("LASTFM_API_KEY"));
        let spotify = source(
            env("SPOTIFY_CLIENT_SECRET_PARAMETER"),
            env("SPOTIFY_CLIENT_SECRET"),
        );
        let ssm = aws_sdk_ssm::Client::new(sdk);
        Ok(Self {
            lastfm_api_key: resolve(&ssm, lastfm).await?,
            spotify_client_secret: resolve(&ssm, spotify).await?,
        })
    }
}

async fn resolve(
    ssm: &aws_sdk_ssm::Client,
    source: Source,
) -> Result<Option<String>, SecretsError> {
    let name = match source {
        Source::Unset => return Ok(None),
        Source::Plain(value) => return Ok(Some(value)),
        Source::Parameter(name) => name,
    };
    let out = ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SecretsError::Read {
            name: name.clone(),
            reason: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
        })?;
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| !v.trim().is_empty())
        .map(Some)
        .ok_or(SecretsError::Empty { name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn a_parameter_name_wins_over_a_plain_value() {
        assert_eq!(
            source(s("/karaoke-sync/lastfm-api-key"), s("plain")),
            Source::Parameter("/karaoke-sync/lastfm-api-key".into())
        );
        assert_eq!(source(None, s("plain")), Source::Plain("plain".into()));
        assert_eq!(source(s("  "), s("plain")), Source::Plain("plain".into()));
        assert_eq!(source(s(""), s(" ")), Source::Unset);
        assert_eq!(source(None, None), Source::Unset);
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let secrets = Secrets {
            lastfm_api_key: s("k3y-value"),
            spotify_client_secret: None,
        };
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("k3y-value"), "{shown}");
        assert!(shown.contains("<set>"), "{shown}");
    }
}
