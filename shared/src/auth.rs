//! Who a caller is. API Gateway's JWT authorizer has checked the Cognito token (signature,
//! issuer, audience, expiry) before a per-user request reaches a function; the function reads
//! the verified `sub` claim and checks only that it can serve as a key.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("sign-in required")]
    Missing,
    #[error("the token's subject is not a valid user id")]
    Subject,
}

/// User ids become part of storage keys, so they are restricted to a safe alphabet.
pub fn valid_user_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
}

/// The caller's user id from the claims the gateway verified.
pub fn user_from_claims(sub: Option<&str>) -> Result<String, AuthError> {
    let sub = sub.ok_or(AuthError::Missing)?;
    if valid_user_id(sub) {
        Ok(sub.to_string())
    } else {
        Err(AuthError::Subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_subject_is_the_user_when_it_can_be_a_key() {
        let cognito_sub = "3c6a9f2e-81b1-7023-9d1e-4c5f0a7b2d11";
        assert_eq!(user_from_claims(Some(cognito_sub)), Ok(cognito_sub.into()));
        assert_eq!(user_from_claims(None), Err(AuthError::Missing));
        assert_eq!(user_from_claims(Some("a#b")), Err(AuthError::Subject));
        assert_eq!(user_from_claims(Some("")), Err(AuthError::Subject));
        assert_eq!(
            user_from_claims(Some(&"x".repeat(129))),
            Err(AuthError::Subject)
        );
    }
}
