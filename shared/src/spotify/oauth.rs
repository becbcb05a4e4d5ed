//! Spotify Accounts: the authorization-code flow (optionally with PKCE) and token refresh.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::config::SpotifyConfig;
use super::error::SpotifyError;

/// The only scope we ask for.
pub const SCOPE: &str = "user-top-read";

/// Access tokens live one hour when Spotify does not say otherwise.
const DEFAULT_EXPIRES_IN: i64 = 3600;

/// 5xx answers from `/api/token` are retried this many times in total (the code is not consumed
/// by a failed exchange); timeouts are not retried, since a refresh that did reach Spotify may
/// have rotated the refresh token already.
const TOKEN_ATTEMPTS: u32 = 3;
const TOKEN_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Tokens as granted by Spotify. Debug never prints the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    /// `None` when a refresh response carried no new refresh token: keep the old one (see
    /// [`super::session::ensure_fresh`], which merges it).
    pub refresh_token: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Space-separated granted scopes, when Spotify said.
    pub scope: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Tokens {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|x| x == scope))
    }
}

/// RFC 3986 percent-encoding of a query component (unreserved characters kept, space = `%20`).
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The URL to send the browser to. `state` must be checked on the callback. With a
/// `code_challenge` (PKCE S256, see [`pkce_challenge`]) the code must be exchanged with
/// [`exchange_code_pkce`]. Without a configured redirect URI the parameter is left out and
/// Spotify will refuse the request: set one with [`SpotifyConfig::with_redirect_uri`].
pub fn authorize_url(config: &SpotifyConfig, state: &str, code_challenge: Option<&str>) -> String {
    let mut params: Vec<(&str, &str)> =
        vec![("client_id", &config.client_id), ("response_type", "code")];
    match config.redirect_uri.as_deref() {
        Some(uri) => params.push(("redirect_uri", uri)),
        None => warn!("building a Spotify authorize URL without a redirect URI"),
    }
    params.push(("scope", SCOPE));
    params.push(("state", state));
    params.push(("show_dialog", "false"));
    if let Some(challenge) = code_challenge {
        params.push(("code_challenge_method", "S256"));
        params.push(("code_challenge", challenge));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{}?{}", config.authorize_endpoint(), query.join("&"))
}

/// A fresh PKCE code verifier (64 characters from the allowed alphabet).
pub fn new_pkce_verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The S256 challenge of a verifier: base64url(sha256(verifier)) without padding.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Exchanges an authorization code (client authenticated with HTTP Basic).
/// `invalid_grant` (code unknown, used, expired, redirect mismatch) → [`SpotifyError::Reauthorize`].
pub async fn exchange_code(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    code: &str,
    now: i64,
) -> Result<Tokens, SpotifyError> {
    let redirect_uri = config.require_redirect_uri()?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    token_request(http, config, &form, "authorization_code", now).await
}

/// Like [`exchange_code`], for a flow started with a `code_challenge`.
pub async fn exchange_code_pkce(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    code: &str,
    code_verifier: &str,
    now: i64,
) -> Result<Tokens, SpotifyError> {
    let redirect_uri = config.require_redirect_uri()?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
    ];
    token_request(http, config, &form, "authorization_code", now).await
}

/// Refreshes an access token. The result's `refresh_token` is `Some` when Spotify rotated it
/// (the old one is then dead: persist the new one) and `None` when the old one stays valid.
/// `invalid_grant` (revoked, expired, superseded) → [`SpotifyError::Reauthorize`].
pub async fn refresh(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    refresh_token: &str,
    now: i64,
) -> Result<Tokens, SpotifyError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token_request(http, config, &form, "refresh_token", now).await
}

async fn token_request(
    http: &reqwest::Client,
    config: &SpotifyConfig,
    form: &[(&str, &str)],
    grant: &'static str,
    now: i64,
) -> Result<Tokens, SpotifyError> {
    let url = config.token_url();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = http
            .post(&url)
            .basic_auth(&config.client_id, Some(&config.client_secret))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .timeout(config.timeout)
            .send()
            .await
            .map_err(|e| transport_error(e, config.timeout))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(e, config.timeout))?;
        debug!(
            grant,
            status,
            bytes = body.len(),
            "Spotify accounts answered"
        );
        let result = parse_token_response(status, retry_after, &body, now);
        match result {
            Err(SpotifyError::Http { status, .. }) if status >= 500 && attempt < TOKEN_ATTEMPTS => {
                let delay = TOKEN_RETRY_DELAY * 2u32.pow(attempt - 1);
                warn!(
                    grant,
                    status,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "retrying Spotify token request"
                );
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// reqwest's errors can print URLs; drop them (and never include request bodies).
pub(crate) fn transport_error(e: reqwest::Error, timeout: Duration) -> SpotifyError {
    if e.is_timeout() {
        SpotifyError::Timeout(timeout)
    } else if e.is_decode() || e.is_body() {
        SpotifyError::Malformed {
            detail: e.without_url().to_string(),
        }
    } else {
        SpotifyError::Transport(e.without_url().to_string())
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `{"error": "invalid_grant", "error_description": "..."}`, or the Web API's
/// `{"error": {"status": N, "message": "..."}}` shape, or anything else.
fn token_error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let description = v
        .get("error_description")
        .and_then(Value::as_str)
        .map(str::to_string);
    match v.get("error") {
        Some(Value::String(e)) => (Some(e.clone()), description),
        Some(Value::Object(o)) => (
            None,
            o.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(description),
        ),
        _ => (None, description),
    }
}

/// Classifies an `/api/token` answer. Pure, for tests.
pub fn parse_token_response(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    now: i64,
) -> Result<Tokens, SpotifyError> {
    if (200..300).contains(&status) {
        let t: TokenResponse =
            serde_json::from_slice(body).map_err(|e| SpotifyError::Malformed {
                detail: format!("token response: {e}"),
            })?;
        let access_token =
            t.access_token
                .filter(|s| !s.is_empty())
                .ok_or_else(|| SpotifyError::Malformed {
                    detail: "token response without access_token".into(),
                })?;
        return Ok(Tokens {
            access_token,
            refresh_token: t.refresh_token.filter(|s| !s.is_empty()),
            expires_at: now + t.expires_in.unwrap_or(DEFAULT_EXPIRES_IN).max(0),
            scope: t.scope,
        });
    }
    let (error, description) = token_error_fields(body);
    match error.as_deref() {
        Some("invalid_grant") => {
            return Err(SpotifyError::Reauthorize {
                reason: description.unwrap_or_else(|| "invalid_grant".into()),
            })
        }
        Some("invalid_client") => {
            return Err(SpotifyError::Config(format!(
                "Spotify rejected our client credentials ({})",
                description.as_deref().unwrap_or("invalid_client")
            )))
        }
        _ => {}
    }
    if status == 429 {
        return Err(SpotifyError::RateLimited { retry_after });
    }
    if status >= 500 {
        return Err(SpotifyError::Http {
            status,
            message: description.unwrap_or_else(|| "accounts service error".into()),
        });
    }
    match error {
        Some(error) => Err(SpotifyError::Token {
            status,
            error,
            description,
        }),
        None => Err(SpotifyError::Http {
            status,
            message: description.unwrap_or_else(|| snippet(body)),
        }),
    }
}

/// A short, printable excerpt of a body for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SpotifyConfig {
        SpotifyConfig::new("client id/1", "s3cr3t")
            .with_base_url("http://127.0.0.1:5057")
            .with_redirect_uri("http://127.0.0.1:3000/api/services/spotify/callback?x=1&y=a b")
    }

    #[test]
    fn authorize_url_is_encoded() {
        let url = authorize_url(&config(), "st@te/+=&?", None);
        assert_eq!(
            url,
            "http://127.0.0.1:5057/authorize?client_id=client%20id%2F1&response_type=code\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fapi%2Fservices%2Fspotify%2Fcallback%3Fx%3D1%26y%3Da%20b\
             &scope=user-top-read&state=st%40te%2F%2B%3D%26%3F&show_dialog=false"
        );
        let parsed = reqwest::Url::parse(&url).unwrap();
        let pairs: std::collections::HashMap<String, String> =
            parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs["state"], "st@te/+=&?");
        assert_eq!(pairs["client_id"], "client id/1");
        assert_eq!(
            pairs["redirect_uri"],
            "http://127.0.0.1:3000/api/services/spotify/callback?x=1&y=a b"
        );
        assert!(!url.contains("s3cr3t"));
    }

    #[test]
    fn authorize_url_with_pkce() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = pkce_challenge(verifier);
        // RFC 7636 appendix B.
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let url = authorize_url(&config(), "s", Some(&challenge));
        assert!(url.ends_with(
            "&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        let v = new_pkce_verifier();
        assert!(v.len() >= 43 && v.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn token_success() {
        let body = br#"{"access_token":"BQx","token_type":"Bearer","expires_in":3600,"refresh_token":"AQy","scope":"user-top-read"}"#;
        let t = parse_token_response(200, None, body, 1_000).unwrap();
        assert_eq!(t.access_token, "BQx");
        assert_eq!(t.refresh_token.as_deref(), Some("AQy"));
        assert_eq!(t.expires_at, 4_600);
        assert!(t.has_scope("user-top-read"));
        // A refresh without rotation: no refresh_token key.
        let body = br#"{"access_token":"BQz","token_type":"Bearer","expires_in":3600,"scope":"user-top-read"}"#;
        let t = parse_token_response(200, None, body, 0).unwrap();
        assert_eq!(t.refresh_token, None);
        assert!(matches!(
            parse_token_response(200, None, br#"{"token_type":"Bearer"}"#, 0),
            Err(SpotifyError::Malformed { .. })
        ));
    }

    #[test]
    fn token_error_classification() {
        for d in [
            "Invalid refresh token",
            "Refresh token revoked",
            "Refresh token expired",
            "Invalid authorization code",
        ] {
            let body = format!(r#"{{"error":"invalid_grant","error_description":"{d}"}}"#);
            match parse_token_response(400, None, body.as_bytes(), 0) {
                Err(SpotifyError::Reauthorize { reason }) => assert_eq!(reason, d),
                other => panic!("{other:?}"),
            }
        }
        for status in [400, 401] {
            let body = br#"{"error":"invalid_client","error_description":"Invalid client secret"}"#;
            assert!(matches!(
                parse_token_response(status, None, body, 0),
                Err(SpotifyError::Config(_))
            ));
        }
        match parse_token_response(429, Some(Duration::from_secs(7)), b"", 0) {
            Err(SpotifyError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)))
            }
            other => panic!("{other:?}"),
        }
        let e = parse_token_response(
            503,
            None,
            b"<html>Service temporarily unavailable</html>",
            0,
        )
        .unwrap_err();
        assert!(matches!(e, SpotifyError::Http { status: 503, .. }));
        assert_eq!(e.disposition(), super::super::Disposition::Transient);
        let e = parse_token_response(
            400,
            None,
            br#"{"error":"unsupported_grant_type","error_description":"grant_type parameter is missing"}"#,
            0,
        )
        .unwrap_err();
        assert!(
            matches!(e, SpotifyError::Token { status: 400, ref error, .. } if error == "unsupported_grant_type")
        );
        assert_eq!(e.disposition(), super::super::Disposition::Permanent);
    }

    #[test]
    fn tokens_debug_is_redacted() {
        let t = Tokens {
            access_token: "BQsecret-access".into(),
            refresh_token: Some("AQsecret-refresh".into()),
            expires_at: 42,
            scope: Some("user-top-read".into()),
        };
        let s = format!("{t:?}");
        assert!(!s.contains("secret"), "{s}");
        assert!(s.contains("42") && s.contains("user-top-read"));
    }
}
