use std::time::Duration;

pub use crate::lastfm::Disposition;

/// Everything that can go wrong talking to Spotify (Accounts or Web API), classified by what the
/// caller should do. No variant ever carries a token, a code or the client secret.
#[derive(Debug, thiserror::Error)]
pub enum SpotifyError {
    /// Our side is misconfigured: client id/secret missing or rejected (`invalid_client`), no
    /// redirect URI. Nothing the user can fix.
    #[error("Spotify configuration problem: {0}")]
    Config(String),
    /// The accounts service answered `invalid_grant`: the refresh token was revoked, expired or
    /// superseded by rotation, or the authorization code is unknown, used or expired. The user must
    /// connect Spotify again.
    #[error("Spotify refused the grant: {reason}")]
    Reauthorize { reason: String },
    /// The Web API answered 401 (access token expired or unknown). Refresh once and retry.
    #[error("Spotify rejected the access token: {message}")]
    Unauthorized { message: String },
    /// The Web API answered 403: missing scope, or (Development Mode) a user who is not on the
    /// app's allow-list. The body may be plain text.
    #[error("Spotify refused access: {message}")]
    Forbidden { message: String },
    /// 429, after the client's own waits were used up (or at once from the accounts service).
    #[error("Spotify rate limit (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other error status (5xx after retries, 400, 404, ...).
    #[error("Spotify answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// The accounts service refused the request for another reason (`invalid_request`,
    /// `unsupported_grant_type`, ...).
    #[error("Spotify token request failed: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Token {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("invalid Spotify time range {0:?} (expected short_term, medium_term or long_term)")]
    InvalidTimeRange(String),
    #[error("Spotify did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach Spotify: {0}")]
    Transport(String),
    #[error("Spotify sent a response we could not read: {detail}")]
    Malformed { detail: String },
}

impl SpotifyError {
    pub fn disposition(&self) -> Disposition {
        match self {
            SpotifyError::RateLimited { .. }
            | SpotifyError::Timeout(_)
            | SpotifyError::Transport(_)
            | SpotifyError::Malformed { .. } => Disposition::Transient,
            SpotifyError::Http { status, .. } if *status >= 500 || *status == 429 => {
                Disposition::Transient
            }
            SpotifyError::Token { status, .. } if *status >= 500 => Disposition::Transient,
            // Unauthorized is permanent *as a final outcome*: the caller has its one refresh +
            // retry (see `session::with_fresh_token`); a 401 after that will not fix itself.
            SpotifyError::Config(_)
            | SpotifyError::Reauthorize { .. }
            | SpotifyError::Unauthorized { .. }
            | SpotifyError::Forbidden { .. }
            | SpotifyError::Http { .. }
            | SpotifyError::Token { .. }
            | SpotifyError::InvalidTimeRange(_) => Disposition::Permanent,
        }
    }

    /// The user has to connect Spotify again (mark the service "needs reconnect").
    pub fn needs_reconnect(&self) -> bool {
        matches!(self, SpotifyError::Reauthorize { .. })
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(self, SpotifyError::Unauthorized { .. })
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self,
            SpotifyError::RateLimited { .. } | SpotifyError::Http { status: 429, .. }
        )
    }

    /// A sentence for the person whose account this is.
    pub fn user_message(&self) -> String {
        match self {
            SpotifyError::Reauthorize { .. } => {
                "Spotify asked us to reconnect your account. Connect Spotify again in Connected Services.".into()
            }
            SpotifyError::Unauthorized { .. } => {
                "Spotify did not accept our access to your account. If this keeps happening, connect Spotify again.".into()
            }
            SpotifyError::Forbidden { message } if message.contains("not registered") => {
                "This app is still in Spotify's Development Mode and your Spotify account is not on its list of test users.".into()
            }
            SpotifyError::Forbidden { message } if message.to_lowercase().contains("scope") => {
                "Spotify did not give us access to your top artists and tracks. Connect Spotify again and allow access.".into()
            }
            SpotifyError::Forbidden { .. } => "Spotify refused access to your listening data.".into(),
            SpotifyError::RateLimited { .. } | SpotifyError::Http { status: 429, .. } => {
                "Spotify asked us to slow down; we will try again shortly.".into()
            }
            SpotifyError::Config(_) => {
                "Our Spotify connection is not set up correctly. We have been notified; please try again later.".into()
            }
            SpotifyError::Http { status, .. } | SpotifyError::Token { status, .. }
                if *status >= 500 =>
            {
                "Spotify is having problems right now; we will try again.".into()
            }
            SpotifyError::Timeout(_) | SpotifyError::Transport(_) => {
                "Spotify did not respond in time.".into()
            }
            SpotifyError::Malformed { .. } => "Spotify sent an unreadable response.".into(),
            SpotifyError::Token { .. } => {
                "Spotify could not complete the sign-in. Please try connecting again.".into()
            }
            other => format!("Spotify request failed ({other})."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        let transient = [
            SpotifyError::RateLimited { retry_after: None },
            SpotifyError::Http {
                status: 503,
                message: String::new(),
            },
            SpotifyError::Timeout(Duration::from_secs(1)),
            SpotifyError::Transport("reset".into()),
        ];
        for e in transient {
            assert_eq!(e.disposition(), Disposition::Transient, "{e}");
        }
        let permanent = [
            SpotifyError::Reauthorize {
                reason: "Refresh token revoked".into(),
            },
            SpotifyError::Config("Invalid client".into()),
            SpotifyError::Forbidden {
                message: "User not registered in the Developer Dashboard".into(),
            },
            SpotifyError::Http {
                status: 404,
                message: String::new(),
            },
            SpotifyError::InvalidTimeRange("forever".into()),
        ];
        for e in permanent {
            assert_eq!(e.disposition(), Disposition::Permanent, "{e}");
        }
    }

    #[test]
    fn messages_for_people() {
        let e = SpotifyError::Reauthorize {
            reason: "Refresh token revoked".into(),
        };
        assert!(e.needs_reconnect());
        assert!(e.user_message().contains("reconnect your account"));
        let e = SpotifyError::Forbidden {
            message: "User not registered in the Developer Dashboard".into(),
        };
        assert!(e.user_message().contains("Development Mode"));
        let e = SpotifyError::Token {
            status: 400,
            error: "invalid_request".into(),
            description: Some("code must be supplied".into()),
        };
        assert_eq!(
            e.to_string(),
            "Spotify token request failed: invalid_request (code must be supplied)"
        );
    }
}
