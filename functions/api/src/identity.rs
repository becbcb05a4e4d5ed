//! Who is calling: the `sub` claim API Gateway's JWT authorizer verified and passed on. There
//! is no other way in: a request without verified claims is anonymous.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use karaoke_shared::auth::{user_from_claims, AuthError};

pub fn user_id(req: &Request) -> Result<String, AuthError> {
    let sub = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            .map(String::as_str),
        _ => None,
    };
    user_from_claims(sub)
}
