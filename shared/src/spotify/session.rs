//! Keeping a user's tokens usable: refresh shortly before expiry, refresh once on a 401, and never
//! lose a rotated refresh token.

use std::future::Future;

use super::config::SpotifyConfig;
use super::error::SpotifyError;
use super::oauth::{self, Tokens};

/// Refresh this long before the access token expires.
pub const REFRESH_MARGIN_SECS: i64 = 300;

/// True when the access token expires within [`REFRESH_MARGIN_SECS`] (or already has).
pub fn needs_refresh(tokens: &Tokens, now: i64) -> bool {
    now >= tokens.expires_at - REFRESH_MARGIN_SECS
}

/// A refresh response merged into the tokens it replaces: a missing refresh token (no rotation)
/// keeps the old one, a missing scope keeps the old scope.
pub fn merge_refreshed(old: &Tokens, new: Tokens) -> Tokens {
    Tokens {
        refresh_token: new.refresh_token.or_else(|| old.refresh_token.clone()),
        scope: new.scope.or_else(|| old.scope.clone()),
        ..new
    }
}

/// Refreshes now, whatever the expiry says (after a 401), merging as [`merge_refreshed`].
/// Without a refresh token → [`SpotifyError::Reauthorize`].
pub async fn force_refresh(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    tokens: &Tokens,
    now: i64,
) -> Result<Tokens, SpotifyError> {
    let refresh_token =
        tokens
            .refresh_token
            .as_deref()
            .ok_or_else(|| SpotifyError::Reauthorize {
                reason: "no refresh token stored".into(),
            })?;
    let fresh = oauth::refresh(http, config, refresh_token, now).await?;
    Ok(merge_refreshed(tokens, fresh))
}

/// Returns tokens good for at least [`REFRESH_MARGIN_SECS`] and whether they changed (then the
/// caller must persist them: with rotation the old refresh token is already dead).
pub async fn ensure_fresh(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    tokens: &Tokens,
    now: i64,
) -> Result<(Tokens, bool), SpotifyError> {
    if !needs_refresh(tokens, now) {
        return Ok((tokens.clone(), false));
    }
    Ok((force_refresh(http, config, tokens, now).await?, true))
}

/// The outcome of [`with_fresh_token`]. Persist `new_tokens` (when `Some`) BEFORE looking at
/// `result`: a refresh may have succeeded even though the call then failed.
#[derive(Debug)]
pub struct Refreshed<T> {
    pub result: Result<T, SpotifyError>,
    pub new_tokens: Option<Tokens>,
}

/// Runs `call` with a fresh access token: refreshes first when the token is (nearly) expired, and
/// on a 401 refreshes once and retries once (unless it had just refreshed).
pub async fn with_fresh_token<T, F, Fut>(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    tokens: &Tokens,
    now: i64,
    mut call: F,
) -> Refreshed<T>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, SpotifyError>>,
{
    let (current, changed) = match ensure_fresh(http, config, tokens, now).await {
        Ok(v) => v,
        Err(e) => {
            return Refreshed {
                result: Err(e),
                new_tokens: None,
            }
        }
    };
    let new_tokens = changed.then(|| current.clone());
    match call(current.access_token.clone()).await {
        Err(SpotifyError::Unauthorized { .. }) if !changed => {
            tracing::debug!("Spotify access token refused; refreshing once");
            match force_refresh(http, config, &current, now).await {
                Ok(fresh) => Refreshed {
                    result: call(fresh.access_token.clone()).await,
                    new_tokens: Some(fresh),
                },
                Err(e) => Refreshed {
                    result: Err(e),
                    new_tokens,
                },
            }
        }
        result => Refreshed { result, new_tokens },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(expires_at: i64) -> Tokens {
        Tokens {
            access_token: "a".into(),
            refresh_token: Some("r-old".into()),
            expires_at,
            scope: Some("user-top-read".into()),
        }
    }

    #[test]
    fn refreshes_five_minutes_early() {
        let t = tokens(10_000);
        assert!(!needs_refresh(&t, 10_000 - 301));
        assert!(needs_refresh(&t, 10_000 - 300));
        assert!(needs_refresh(&t, 20_000));
    }

    #[test]
    fn merge_keeps_old_refresh_token_when_not_rotated() {
        let old = tokens(0);
        let new = Tokens {
            access_token: "b".into(),
            refresh_token: None,
            expires_at: 3600,
            scope: None,
        };
        let m = merge_refreshed(&old, new);
        assert_eq!(m.access_token, "b");
        assert_eq!(m.refresh_token.as_deref(), Some("r-old"));
        assert_eq!(m.scope.as_deref(), Some("user-top-read"));
        let rotated = Tokens {
            access_token: "c".into(),
            refresh_token: Some("r-new".into()),
            expires_at: 3600,
            scope: None,
        };
        assert_eq!(
            merge_refreshed(&old, rotated).refresh_token.as_deref(),
            Some("r-new")
        );
    }

    #[tokio::test]
    async fn fresh_tokens_are_not_refreshed() {
        // No server at all: a refresh attempt would fail.
        let config = SpotifyConfig::new("c", "s").with_base_url("http://127.0.0.1:9");
        let http = reqwest::Client::new();
        let t = tokens(100_000);
        let (same, changed) = ensure_fresh(&http, &config, &t, 1_000).await.unwrap();
        assert!(!changed);
        assert_eq!(same, t);
        let mut no_refresh = tokens(0);
        no_refresh.refresh_token = None;
        assert!(matches!(
            ensure_fresh(&http, &config, &no_refresh, 1_000).await,
            Err(SpotifyError::Reauthorize { .. })
        ));
    }
}
