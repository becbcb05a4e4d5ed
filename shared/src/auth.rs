//! Locally issued HS256 tokens (`DEV_JWT_SECRET`). In AWS, API Gateway's JWT authorizer checks
//! Cognito tokens instead and this code only reads the verified `sub` claim.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("sign-in required")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token's subject is not a valid user id")]
    Subject,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// User ids become part of storage keys, so they are restricted to a safe alphabet.
pub fn valid_user_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
}

fn signature(secret: &str, signing_input: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub fn sign_token(secret: &str, user_id: &str, now: i64, ttl_secs: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = Claims {
        sub: user_id.to_string(),
        exp: now + ttl_secs,
        iat: Some(now),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    let input = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(signature(secret, &input));
    format!("{input}.{sig}")
}

/// Verifies an HS256 token and returns its subject (the user id).
pub fn verify_token(secret: &str, token: &str, now: i64) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(AuthError::Malformed)?;
    // Pinning the algorithm stops "alg": "none" and key-confusion tricks.
    if header.alg != "HS256" {
        return Err(AuthError::Algorithm);
    }
    let given = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| AuthError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&given).map_err(|_| AuthError::Signature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(AuthError::Malformed)?;
    if claims.exp <= now {
        return Err(AuthError::Expired);
    }
    if !valid_user_id(&claims.sub) {
        return Err(AuthError::Subject);
    }
    Ok(claims.sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_its_own_tokens_and_rejects_everything_else() {
        let t = sign_token("k", "alice", 100, 60);
        assert_eq!(verify_token("k", &t, 120), Ok("alice".into()));
        assert_eq!(verify_token("other", &t, 120), Err(AuthError::Signature));
        assert_eq!(verify_token("k", &t, 160), Err(AuthError::Expired));
        assert_eq!(verify_token("k", "a.b", 120), Err(AuthError::Malformed));
        let (head, rest) = t.split_once('.').unwrap();
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(
            verify_token("k", &format!("{none}.{rest}"), 120),
            Err(AuthError::Algorithm)
        );
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"bob","exp":999}"#);
        let sig = t.rsplit('.').next().unwrap();
        assert_eq!(
            verify_token("k", &format!("{head}.{forged_payload}.{sig}"), 120),
            Err(AuthError::Signature)
        );
        assert_eq!(
            verify_token("k", &sign_token("k", "a#b", 100, 60), 120),
            Err(AuthError::Subject)
        );
    }
}
