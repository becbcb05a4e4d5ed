//! Local sign-in: exists only when `DEV_JWT_SECRET` is set (never in a real deployment).

use serde::Deserialize;
use serde_json::json;

use karaoke_shared::auth::{sign_token, valid_user_id};

use crate::app::{App, Call, Reply};
use crate::error::ApiError;
use crate::validate::json_body;

const TOKEN_TTL_SECS: i64 = 12 * 60 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    user_id: String,
}

pub fn sign_in(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let Some(secret) = app.ctx.config.dev_jwt_secret.as_deref() else {
        return Err(ApiError::NotFound("no route for /api/dev/sign-in".into()));
    };
    let body: SignIn = json_body(call.body())?;
    if !valid_user_id(&body.user_id) {
        return Err(ApiError::Unprocessable {
            code: "invalid_user_id",
            message: "user_id must be 1-128 characters: letters, digits, '-', '_', '.', '@' or ':'"
                .into(),
        });
    }
    Ok(Reply::ok(json!({
        "token": sign_token(secret, &body.user_id, call.now, TOKEN_TTL_SECS),
        "user_id": body.user_id,
        "expires_in": TOKEN_TTL_SECS,
    })))
}
