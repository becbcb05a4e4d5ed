//! Checks on client input. Pure functions, so every rule is unit-tested.

use serde::de::DeserializeOwned;

use karaoke_shared::spotify::sign_in::{check_param, ParamError, MAX_CODE_CHARS, MAX_STATE_CHARS};

use crate::error::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Last.fm's sign-up rules: 2-15 characters, a letter first, then letters, digits, `_` or `-`.
pub fn lastfm_username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let ok = (2..=15).contains(&name.chars().count())
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(ApiError::Unprocessable {
            code: "invalid_username",
            message: "a Last.fm username is 2 to 15 characters: a letter first, then letters, digits, '_' or '-'".into(),
        })
    }
}

pub fn limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// Parses a JSON body into `T`, refusing oversized, empty or malformed bodies with a reason.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(MAX_BODY_BYTES));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad("missing_body", "a JSON body is required"));
    }
    // The path names the offending field ("decades: invalid type ...").
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "invalid_json"
        } else {
            "invalid_body"
        };
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ApiError::bad(code, format!("request body: {at}{inner}"))
    })?;
    de.end()
        .map_err(|e| ApiError::bad("invalid_json", format!("request body: {e}")))?;
    Ok(value)
}

/// The `code` Spotify gave the page, as sent back to complete the sign-in.
pub fn spotify_code(raw: &str) -> Result<&str, ApiError> {
    oauth_param(raw, "code", MAX_CODE_CHARS, "missing_code", "invalid_code")
}

/// The `state` of the sign-in the page completes.
pub fn spotify_state(raw: &str) -> Result<&str, ApiError> {
    oauth_param(
        raw,
        "state",
        MAX_STATE_CHARS,
        "missing_state",
        "invalid_state",
    )
}

fn oauth_param<'a>(
    raw: &'a str,
    field: &str,
    max: usize,
    missing: &'static str,
    invalid: &'static str,
) -> Result<&'a str, ApiError> {
    check_param(raw, max).map(|()| raw).map_err(|e| match e {
        ParamError::Empty => ApiError::bad(missing, format!("{field} must not be empty")),
        ParamError::TooLong => {
            ApiError::bad(invalid, format!("{field} is longer than {max} characters"))
        }
        ParamError::BadCharacter => ApiError::bad(
            invalid,
            format!("{field} may hold only printable ASCII characters"),
        ),
    })
}

/// A domain validation failure as a 422 naming the field.
pub fn input_error(code: &'static str, e: karaoke_shared::library::InputError) -> ApiError {
    ApiError::Unprocessable {
        code,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        username: String,
    }

    #[test]
    fn usernames_follow_lastfm_rules() {
        assert_eq!(lastfm_username(" RJ ").unwrap(), "RJ");
        assert!(lastfm_username("gen_2000_7").is_ok());
        for bad in [
            "",
            "a",
            "1abc",
            "has space",
            "toolongusername12",
            "AC/DC",
            "é-name",
            "a\u{0}b",
        ] {
            assert!(lastfm_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some("200")).unwrap(), 200);
        for bad in ["0", "201", "-1", "ten", ""] {
            assert!(limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sign_in_values_are_present_printable_and_bounded() {
        let code = |r: Result<&str, ApiError>| match r {
            Err(ApiError::BadRequest { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(spotify_code("AQD-x_y").unwrap(), "AQD-x_y");
        assert_eq!(spotify_state(&"a".repeat(64)).unwrap(), "a".repeat(64));
        assert_eq!(code(spotify_code("")), "missing_code");
        assert_eq!(code(spotify_state("")), "missing_state");
        assert_eq!(
            code(spotify_code(&"a".repeat(MAX_CODE_CHARS + 1))),
            "invalid_code"
        );
        assert_eq!(
            code(spotify_state(&"a".repeat(MAX_STATE_CHARS + 1))),
            "invalid_state"
        );
        assert_eq!(code(spotify_state("a\nb")), "invalid_state");
        let e = spotify_code(&"a".repeat(MAX_CODE_CHARS + 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("code is longer than {MAX_CODE_CHARS} characters")
        );
    }

    #[test]
    fn bodies_are_checked() {
        let codes = |b: &[u8]| match json_body::<Body>(b) {
            Err(ApiError::BadRequest { code, .. }) => code,
            Err(ApiError::TooLarge(_)) => "too_large",
            other => panic!("{other:?}"),
        };
        assert_eq!(codes(b"{"), "invalid_json");
        assert_eq!(codes(b"  "), "missing_body");
        assert_eq!(codes(br#"{"username": 5}"#), "invalid_body");
        assert_eq!(codes(br#"{"username": "x", "extra": 1}"#), "invalid_body");
        assert_eq!(codes(&vec![b' '; MAX_BODY_BYTES + 1]), "too_large");
        assert!(json_body::<Body>(br#"{"username": "x"}"#).is_ok());
    }
}
