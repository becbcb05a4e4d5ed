//! Sign-in against the local stack's user pool, the same way the page signs in: the user
//! exists in Cognito (ministack's), the hosted sign-in takes their password and answers with an
//! authorization code, and the code (with its PKCE verifier) is exchanged for tokens. The tokens
//! are RS256, signed by the emulated Cognito, and the gateway checks them with the template's
//! JWT authorizer. Local only: nothing here is part of a deployed function.
//!
//! Cognito assigns each user's `sub` (the id every stored item is keyed by), as in AWS. Tests
//! that need to name their users get tokens from [`TokenMinter`] instead: an access token with
//! the claims the pool issues, for a `sub` of their choosing, signed with the emulator's own
//! Cognito key, so the gateway's authorizer checks it exactly as it checks a hosted sign-in's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Every local user's password (local only; it meets the template's password policy).
pub const LOCAL_PASSWORD: &str = "Karaoke-local-2026";

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("{0} is not set: run `make up` first (it writes .local/stack.env)")]
    Env(&'static str),
    #[error("{0:?} cannot be a local user id (1-128 of A-Z a-z 0-9 - _ . @ :)")]
    UserId(String),
    #[error("Cognito refused {action}: {reason}")]
    Cognito {
        action: &'static str,
        reason: String,
    },
    #[error("the hosted sign-in at {url} did not answer as expected: {reason}")]
    HostedSignIn { url: String, reason: String },
    #[error("the local Cognito key {path} could not be used: {reason}")]
    Key { path: String, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub expires_in: u64,
}

/// The local user pool, its app client and the page the client sends people back to.
pub struct LocalIssuer {
    pool_id: String,
    client_id: String,
    /// Where the hosted sign-in is served (the emulator's endpoint).
    base_url: String,
    /// The page: the app client's registered callback.
    callback: String,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    http: reqwest::Client,
}

/// Users created (and given their password) by this process, with their emails. Process-wide:
/// a test makes an issuer per sign-in (clients are tied to the runtime that made them).
static READY: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

fn env(name: &'static str) -> Result<String, SignInError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(SignInError::Env(name))
}

/// The email a local user signs in with (the pool's usernames are emails).
pub fn email_for(user_id: &str) -> String {
    let local: String = user_id
        .chars()
        .map(|c| match c {
            '@' => '.',
            ':' => '-',
            c => c,
        })
        .collect();
    format!("{}@karaoke.test", local.to_ascii_lowercase())
}

fn valid_user_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The `code` parameter of the redirect back to the page.
fn code_from(location: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "code").then(|| v.to_string())
    })
}

impl LocalIssuer {
    /// From `.local/stack.env`'s variables: USER_POOL_ID, USER_POOL_CLIENT_ID,
    /// AWS_ENDPOINT_URL and PUBLIC_BASE_URL.
    pub async fn from_env() -> Result<Self, SignInError> {
        Self::new(
            env("USER_POOL_ID")?,
            env("USER_POOL_CLIENT_ID")?,
            env("AWS_ENDPOINT_URL")?,
            env("PUBLIC_BASE_URL")?,
        )
        .await
    }

    /// `base_url`: where the hosted sign-in is served; `callback`: the page (the app client's
    /// registered callback URL).
    pub async fn new(
        pool_id: String,
        client_id: String,
        base_url: String,
        callback: String,
    ) -> Result<Self, SignInError> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SignInError::HostedSignIn {
                url: base_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            pool_id,
            client_id,
            base_url: base_url.trim_end_matches('/').to_string(),
            callback,
            cognito: aws_sdk_cognitoidentityprovider::Client::new(&config),
            http,
        })
    }

    /// Creates the user named `user_id` (email [`email_for`]) with [`LOCAL_PASSWORD`] unless
    /// this process did already; answers the email to sign in with.
    pub async fn ensure_user(&self, user_id: &str) -> Result<String, SignInError> {
        if !valid_user_id(user_id) {
            return Err(SignInError::UserId(user_id.to_string()));
        }
        if let Some(email) = READY.lock().unwrap().as_ref().and_then(|r| r.get(user_id)) {
            return Ok(email.clone());
        }
        let email = email_for(user_id);
        let attr = |name: &str, value: &str| {
            AttributeType::builder()
                .name(name)
                .value(value)
                .build()
                .expect("name is set")
        };
        let created = self
            .cognito
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(&email)
            .user_attributes(attr("email", &email))
            .user_attributes(attr("email_verified", "true"))
            .message_action(MessageActionType::Suppress)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("UsernameExistsException") => {}
            Err(e) => {
                return Err(SignInError::Cognito {
                    action: "AdminCreateUser",
                    reason: DisplayErrorContext(&e).to_string(),
                })
            }
        }
        self.cognito
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(&email)
            .password(LOCAL_PASSWORD)
            .permanent(true)
            .send()
            .await
            .map_err(|e| SignInError::Cognito {
                action: "AdminSetUserPassword",
                reason: DisplayErrorContext(&e).to_string(),
            })?;
        READY
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert(user_id.to_string(), email.clone());
        Ok(email)
    }

    /// Signs `user_id` in through the hosted sign-in, creating the user first if needed.
    pub async fn sign_in(&self, user_id: &str) -> Result<Tokens, SignInError> {
        let email = self.ensure_user(user_id).await?;
        let (verifier, challenge) = pkce();
        let state = uuid::Uuid::new_v4().simple().to_string();
        let login = format!("{}/login", self.base_url);
        let fail = |url: &str, reason: String| SignInError::HostedSignIn {
            url: url.to_string(),
            reason,
        };
        let res = self
            .http
            .post(&login)
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", self.callback.as_str()),
                ("scope", "openid email"),
                ("state", state.as_str()),
                ("response_type", "code"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("username", email.as_str()),
                ("password", LOCAL_PASSWORD),
            ])
            .send()
            .await
            .map_err(|e| fail(&login, e.to_string()))?;
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(code) = location.as_deref().and_then(code_from) else {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            return Err(fail(
                &login,
                format!(
                    "{status}, no code in the redirect: {}",
                    &body[..body.len().min(300)]
                ),
            ));
        };
        let token_url = format!("{}/oauth2/token", self.base_url);
        let res = self
            .http
            .post(&token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", self.client_id.as_str()),
                ("code", code.as_str()),
                ("redirect_uri", self.callback.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .map_err(|e| fail(&token_url, e.to_string()))?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(fail(&token_url, format!("{status}: {body}")));
        }
        serde_json::from_str(&body).map_err(|e| fail(&token_url, format!("{e}: {body}")))
    }
}

/// Mints access tokens as the local user pool issues them, for any `sub`.
pub struct TokenMinter {
    key: rsa::pkcs1v15::SigningKey<Sha256>,
    kid: String,
    issuer: String,
    client_id: String,
}

impl TokenMinter {
    /// From `.local/stack.env`'s variables: COGNITO_KEY_FILE (the emulator's signing key),
    /// USER_POOL_ID, USER_POOL_CLIENT_ID, AWS_REGION and AWS_ENDPOINT_URL (for the pool's JWKS).
    pub async fn from_env() -> Result<Self, SignInError> {
        Self::new(
            &env("COGNITO_KEY_FILE")?,
            &env("USER_POOL_ID")?,
            env("USER_POOL_CLIENT_ID")?,
            &env("AWS_REGION")?,
            &env("AWS_ENDPOINT_URL")?,
        )
        .await
    }

    pub async fn new(
        key_file: &str,
        pool_id: &str,
        client_id: String,
        region: &str,
        endpoint: &str,
    ) -> Result<Self, SignInError> {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;

        let key_error = |reason: String| SignInError::Key {
            path: key_file.to_string(),
            reason,
        };
        // The pool's JWKS first: the emulator makes the pool's keys when it is first read. The
        // key's id is the one it publishes (matched by modulus).
        let url = format!(
            "{}/{pool_id}/.well-known/jwks.json",
            endpoint.trim_end_matches('/')
        );
        let fail = |reason: String| SignInError::HostedSignIn {
            url: url.clone(),
            reason,
        };
        let jwks: serde_json::Value = reqwest::get(&url)
            .await
            .map_err(|e| fail(e.to_string()))?
            .json()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let pem = std::fs::read_to_string(key_file).map_err(|e| key_error(e.to_string()))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| key_error(e.to_string()))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let kid = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["n"].as_str() == Some(n.as_str()))
            .and_then(|k| k["kid"].as_str())
            .ok_or_else(|| key_error(format!("not among the keys {url} publishes")))?
            .to_string();
        Ok(Self {
            key: rsa::pkcs1v15::SigningKey::new(key),
            kid,
            issuer: format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}"),
            client_id,
        })
    }

    /// An access token for `sub`, valid from `now` for `ttl_secs`, with the claims Cognito puts
    /// in one.
    pub fn access_token(&self, sub: &str, now: i64, ttl_secs: i64) -> String {
        use rsa::signature::{SignatureEncoding, Signer};

        let header = serde_json::json!({"kid": self.kid, "alg": "RS256"});
        let claims = serde_json::json!({
            "sub": sub,
            "iss": self.issuer,
            "client_id": self.client_id,
            "origin_jti": uuid::Uuid::new_v4().to_string(),
            "token_use": "access",
            "scope": "openid email",
            "auth_time": now,
            "iat": now,
            "exp": now + ttl_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
            "username": sub,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_valid_for_every_user_id() {
        assert_eq!(email_for("alice"), "alice@karaoke.test");
        assert_eq!(email_for("Fe-out-x:1@y"), "fe-out-x-1.y@karaoke.test");
    }

    #[test]
    fn the_code_is_read_from_the_redirect() {
        assert_eq!(
            code_from("http://x/page/?code=abc-123&state=s").as_deref(),
            Some("abc-123")
        );
        assert_eq!(code_from("http://x/page/?state=s&error=denied"), None);
    }

    #[test]
    fn the_challenge_is_the_verifiers_s256() {
        let (verifier, challenge) = pkce();
        assert!(verifier.len() >= 43);
        assert_eq!(
            challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        );
    }
}
