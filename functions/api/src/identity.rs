//! Who is calling. In AWS the HTTP API's JWT authorizer has verified the token and passes its
//! claims; locally (`DEV_JWT_SECRET` set) the function verifies an HS256 bearer token itself.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use karaoke_shared::auth::{valid_user_id, verify_token, AuthError};

pub fn user_id(req: &Request, dev_secret: Option<&str>, now: i64) -> Result<String, AuthError> {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(sub) = ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
        {
            return if valid_user_id(sub) {
                Ok(sub.clone())
            } else {
                Err(AuthError::Subject)
            };
        }
    }
    let secret = dev_secret.ok_or(AuthError::Missing)?;
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(AuthError::Malformed)?;
    verify_token(secret, token.trim(), now)
}
