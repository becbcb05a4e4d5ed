use std::time::Duration;

/// Everything that can go wrong talking to Last.fm, classified by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum LastfmError {
    #[error("Last.fm error {code}: {message}")]
    Api { code: u32, message: String },
    #[error("Last.fm answered HTTP {status}")]
    Http { status: u16 },
    #[error("Last.fm did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach Last.fm: {0}")]
    Transport(String),
    #[error("Last.fm sent a response we could not read: {detail}")]
    Malformed { detail: String },
    #[error("rate limiter unavailable: {0}")]
    Gate(String),
    /// The shared rate gate is booked further ahead than this caller may wait.
    #[error("Last.fm's request budget is booked; retry after {retry_after:?}")]
    Busy { retry_after: std::time::Duration },
}

/// What a failure means for the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Worth trying again later (service hiccup, throttling, bad gateway, cut-off body).
    Transient,
    /// Trying again cannot help; the job should stop and tell the user.
    Permanent,
}

impl LastfmError {
    pub fn disposition(&self) -> Disposition {
        match self {
            // 6 unknown user / bad params, 10 bad key, 17 private profile, 26 suspended key,
            // and the other request-shape errors, never fix themselves.
            LastfmError::Api { code, .. } => match code {
                8 | 11 | 16 | 29 => Disposition::Transient,
                _ => Disposition::Permanent,
            },
            LastfmError::Http { status } if *status == 429 || *status >= 500 => {
                Disposition::Transient
            }
            LastfmError::Http { .. } => Disposition::Permanent,
            LastfmError::Timeout(_)
            | LastfmError::Transport(_)
            | LastfmError::Malformed { .. }
            | LastfmError::Gate(_)
            | LastfmError::Busy { .. } => Disposition::Transient,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self,
            LastfmError::Api { code: 29, .. } | LastfmError::Http { status: 429 }
        )
    }

    /// A sentence for the person whose sync this is.
    pub fn user_message(&self) -> String {
        match self {
            LastfmError::Api { code: 6, .. } => {
                "Last.fm says this user does not exist. Check the username in Connected Services."
                    .into()
            }
            LastfmError::Api { code: 17, .. } => {
                "This Last.fm profile is private. Turn off \"Hide recent listening\" in your Last.fm privacy settings, then sync again.".into()
            }
            LastfmError::Api { code: 10 | 26, .. } => {
                "Our Last.fm access is not working right now (API key rejected). We have been notified; please try again later.".into()
            }
            LastfmError::Api { code: 29, .. } | LastfmError::Http { status: 429 } => {
                "Last.fm asked us to slow down; we will keep retrying.".into()
            }
            LastfmError::Timeout(_) | LastfmError::Transport(_) => {
                "Last.fm did not respond in time.".into()
            }
            LastfmError::Malformed { .. } => "Last.fm sent an unreadable response.".into(),
            other => format!("Last.fm request failed ({other})."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_error_codes() {
        for code in [8, 11, 16, 29] {
            let e = LastfmError::Api {
                code,
                message: String::new(),
            };
            assert_eq!(e.disposition(), Disposition::Transient, "{code}");
        }
        for code in [6, 10, 17, 26] {
            let e = LastfmError::Api {
                code,
                message: String::new(),
            };
            assert_eq!(e.disposition(), Disposition::Permanent, "{code}");
        }
        assert_eq!(
            LastfmError::Http { status: 502 }.disposition(),
            Disposition::Transient
        );
        assert_eq!(
            LastfmError::Http { status: 404 }.disposition(),
            Disposition::Permanent
        );
        assert!(LastfmError::Api {
            code: 17,
            message: String::new()
        }
        .user_message()
        .contains("private"));
    }
}
