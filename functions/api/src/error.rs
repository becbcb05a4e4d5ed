//! The API's one error type: every failure becomes `{"error": {"code", "message"}}`.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use karaoke_shared::auth::AuthError;
use karaoke_shared::spotify::sign_in::{StateRefusal, STATE_TTL_SECS};
use karaoke_shared::store::StoreError;
use karaoke_shared::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but this is not the caller's to do.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        extra: Value,
    },
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Unavailable(String),
    /// Over a per-user limit, or Last.fm's shared budget is booked: try again after this long.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::TooLarge(_) => "body_too_large",
            ApiError::Upstream(_) => "upstream_error",
            ApiError::Unavailable(_) => "upstream_unavailable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Seconds for the `Retry-After` header, when the error has one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        // Extras (such as the running job's id) sit beside the error and inside it, so clients
        // reading either place find them.
        if let ApiError::Conflict {
            extra: Value::Object(extra),
            ..
        } = self
        {
            for (k, v) in extra {
                body[k] = v.clone();
                body["error"][k] = v.clone();
            }
        }
        body
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Unauthorized(e.to_string())
    }
}

/// A Spotify sign-in the caller may not complete. The state is used up either way.
impl From<StateRefusal> for ApiError {
    fn from(r: StateRefusal) -> Self {
        match r {
            StateRefusal::Unknown => ApiError::bad(
                "invalid_state",
                "this Spotify sign-in is unknown or was already used; connect Spotify again",
            ),
            StateRefusal::Expired => ApiError::bad(
                "expired_state",
                format!(
                    "this Spotify sign-in took longer than {} minutes; connect Spotify again",
                    STATE_TTL_SECS / 60
                ),
            ),
            StateRefusal::OtherUser => ApiError::Forbidden {
                code: "other_account",
                message:
                    "this Spotify sign-in was started from another account; nothing was linked"
                        .into(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_name_the_problem_and_carry_extras() {
        let e = ApiError::bad("invalid_limit", "limit must be between 1 and 200");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.body()["error"]["code"], "invalid_limit");
        let c = ApiError::Conflict {
            code: "sync_running",
            message: "a sync is already running".into(),
            extra: json!({"job_id": "j1"}),
        };
        assert_eq!(c.body()["job_id"], "j1");
        assert_eq!(c.body()["error"]["job_id"], "j1");
        assert_eq!(
            ApiError::Internal("secret detail".into()).body()["error"]["message"],
            "internal error"
        );
    }

    #[test]
    fn refused_sign_ins_say_why() {
        let other = ApiError::from(StateRefusal::OtherUser);
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        assert_eq!(other.body()["error"]["code"], "other_account");
        assert!(other.to_string().contains("another account"));
        assert!(other.to_string().contains("nothing was linked"));
        for (r, code) in [
            (StateRefusal::Unknown, "invalid_state"),
            (StateRefusal::Expired, "expired_state"),
        ] {
            let e = ApiError::from(r);
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert_eq!(e.body()["error"]["code"], code);
        }
    }
}
