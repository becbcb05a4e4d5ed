//! Finishing a Spotify sign-in, the rules that need no network: what the public callback may hand
//! on to the page, and whether the signed-in caller may complete the sign-in a state names.
//!
//! Spotify's redirect to the callback carries no token of ours, so the callback cannot tell who is
//! at the browser. Were it to link the account the state names, anyone could send their own
//! authorize URL to someone who approved the app before (Spotify then shows no prompt) and get
//! that person's Spotify linked into their own account. So the callback only passes the code and
//! state to the page (in the URL fragment: never in server logs or a `Referer`), and the page
//! completes with its own token; [`may_complete`] then requires the state to have been issued to
//! that same user.

use super::oauth::encode;

/// A sign-in must come back within this long.
pub const STATE_TTL_SECS: i64 = 10 * 60;
/// Longest state accepted: ours are 64 hexadecimal characters.
pub const MAX_STATE_CHARS: usize = 128;
/// Longest code accepted: Spotify's are a few hundred characters.
pub const MAX_CODE_CHARS: usize = 2048;

/// Why a `code` or `state` value is refused before anything is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    Empty,
    TooLong,
    /// Outside RFC 6749's VSCHAR (printable ASCII and space).
    BadCharacter,
}

/// RFC 6749 (appendix A.11, A.12): `code` and `state` are `1*VSCHAR`, i.e. `%x20-7E`; and at most
/// `max_chars` long.
pub fn check_param(value: &str, max_chars: usize) -> Result<(), ParamError> {
    if value.is_empty() {
        Err(ParamError::Empty)
    } else if value.len() > max_chars {
        Err(ParamError::TooLong)
    } else if !value.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        Err(ParamError::BadCharacter)
    } else {
        Ok(())
    }
}

/// The fragment (without `#`) the callback sends the browser back with: `spotify_code` and
/// `spotify_state`, percent-encoded.
pub fn page_fragment(code: &str, state: &str) -> String {
    format!(
        "spotify_code={}&spotify_state={}",
        encode(code),
        encode(state)
    )
}

/// What the public callback does with Spotify's redirect. It never links anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome<'a> {
    /// Back to the page with `?spotify=error&reason=<reason>`, after using up `consume` (the
    /// state, when one came and could be ours), so the sign-in cannot be tried again.
    Refused {
        reason: &'static str,
        consume: Option<&'a str>,
    },
    /// Back to the page with the code and state in the fragment ([`page_fragment`]).
    ToPage { fragment: String },
}

/// The callback's rules. `error` (Spotify's, e.g. `access_denied`) wins; then a state and a code
/// are needed, of the right shape; only their shape is checked here, the state's owner and age
/// when the page completes the sign-in. Empty values count as missing.
pub fn callback_outcome<'a>(
    state: Option<&'a str>,
    code: Option<&str>,
    error: Option<&str>,
) -> CallbackOutcome<'a> {
    let state = state.filter(|s| !s.is_empty());
    let code = code.filter(|c| !c.is_empty());
    let consume = state.filter(|s| check_param(s, MAX_STATE_CHARS).is_ok());
    let refused = |reason| CallbackOutcome::Refused { reason, consume };
    if let Some(error) = error {
        return refused(if error == "access_denied" {
            "denied"
        } else {
            "refused"
        });
    }
    let Some(state) = state else {
        return refused("missing_state");
    };
    if consume.is_none() {
        return refused("invalid_state");
    }
    let Some(code) = code else {
        return refused("missing_code");
    };
    if check_param(code, MAX_CODE_CHARS).is_err() {
        return refused("invalid_code");
    }
    CallbackOutcome::ToPage {
        fragment: page_fragment(code, state),
    }
}

/// Why completing a sign-in is refused. The state is consumed whatever the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    /// Never issued, or already used (taking a state deletes it).
    Unknown,
    /// Issued to another user: their sign-in reached this user's browser. Nothing may be linked,
    /// to either of them.
    OtherUser,
    /// Issued to this user, but more than [`STATE_TTL_SECS`] ago.
    Expired,
}

/// The state as it was taken from the store: the user it was issued to and when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedState<'a> {
    pub user_id: &'a str,
    pub expires_at: i64,
}

/// May `caller` complete the sign-in whose state was taken as `issued` (None: no such state)?
/// Only the user the state was issued to may, and only before it expires. Another user's state
/// is refused as such even when it has also expired: that is the answer that explains it.
pub fn may_complete(
    issued: Option<IssuedState<'_>>,
    caller: &str,
    now: i64,
) -> Result<(), StateRefusal> {
    let Some(issued) = issued else {
        return Err(StateRefusal::Unknown);
    };
    if issued.user_id != caller {
        return Err(StateRefusal::OtherUser);
    }
    if issued.expires_at < now {
        return Err(StateRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(user_id: &str, expires_at: i64) -> Option<IssuedState<'_>> {
        Some(IssuedState {
            user_id,
            expires_at,
        })
    }

    #[test]
    fn only_the_user_the_state_was_issued_to_may_complete_it() {
        assert_eq!(may_complete(issued("alice", 1_000), "alice", 1_000), Ok(()));
        assert_eq!(may_complete(issued("alice", 1_000), "alice", 400), Ok(()));
        assert_eq!(
            may_complete(issued("alice", 1_000), "bob", 400),
            Err(StateRefusal::OtherUser)
        );
        // Ids are compared exactly: no case folding, no trimming.
        for other in ["Alice", "alice ", "", "alic"] {
            assert_eq!(
                may_complete(issued("alice", 1_000), other, 400),
                Err(StateRefusal::OtherUser),
                "{other:?}"
            );
        }
    }

    #[test]
    fn unknown_and_expired_states_are_refused() {
        assert_eq!(may_complete(None, "alice", 400), Err(StateRefusal::Unknown));
        assert_eq!(
            may_complete(issued("alice", 1_000), "alice", 1_001),
            Err(StateRefusal::Expired)
        );
        // Another user's state says so even when it has expired too.
        assert_eq!(
            may_complete(issued("alice", 1_000), "bob", 5_000),
            Err(StateRefusal::OtherUser)
        );
    }

    #[test]
    fn params_are_printable_ascii_and_bounded() {
        assert_eq!(check_param("", 10), Err(ParamError::Empty));
        assert_eq!(check_param("abc", 3), Ok(()));
        assert_eq!(check_param("abcd", 3), Err(ParamError::TooLong));
        assert_eq!(check_param("AQD-_.~ +/=", 64), Ok(()));
        for bad in ["a\nb", "a\u{0}b", "é", "a\u{7f}", "tab\t"] {
            assert_eq!(
                check_param(bad, 64),
                Err(ParamError::BadCharacter),
                "{bad:?}"
            );
        }
        let ours = "0123456789abcdef".repeat(4);
        assert_eq!(check_param(&ours, MAX_STATE_CHARS), Ok(()));
    }

    #[test]
    fn the_callback_hands_code_and_state_to_the_page_and_links_nothing() {
        assert_eq!(
            callback_outcome(Some("st"), Some("AQD x"), None),
            CallbackOutcome::ToPage {
                fragment: "spotify_code=AQD%20x&spotify_state=st".into()
            }
        );
    }

    #[test]
    fn the_callback_refuses_with_a_reason_and_uses_the_state_up() {
        let refused = |reason, consume| CallbackOutcome::Refused { reason, consume };
        assert_eq!(
            callback_outcome(Some("st"), None, Some("access_denied")),
            refused("denied", Some("st"))
        );
        // Spotify's error wins even when a code came too.
        assert_eq!(
            callback_outcome(Some("st"), Some("c"), Some("invalid_scope")),
            refused("refused", Some("st"))
        );
        assert_eq!(
            callback_outcome(None, None, Some("access_denied")),
            refused("denied", None)
        );
        assert_eq!(
            callback_outcome(None, Some("c"), None),
            refused("missing_state", None)
        );
        assert_eq!(
            callback_outcome(Some(""), Some("c"), None),
            refused("missing_state", None)
        );
        assert_eq!(
            callback_outcome(Some("st"), None, None),
            refused("missing_code", Some("st"))
        );
        assert_eq!(
            callback_outcome(Some("st"), Some(""), None),
            refused("missing_code", Some("st"))
        );
        let long_code = "c".repeat(MAX_CODE_CHARS + 1);
        assert_eq!(
            callback_outcome(Some("st"), Some(&long_code), None),
            refused("invalid_code", Some("st"))
        );
        // A state that cannot be ours is not looked up at all.
        let long_state = "s".repeat(MAX_STATE_CHARS + 1);
        assert_eq!(
            callback_outcome(Some(&long_state), Some("c"), None),
            refused("invalid_state", None)
        );
        assert_eq!(
            callback_outcome(Some("a\nb"), Some("c"), None),
            refused("invalid_state", None)
        );
    }

    #[test]
    fn the_fragment_carries_both_values_encoded() {
        assert_eq!(
            page_fragment("AQD-x_y.z~", "0af9"),
            "spotify_code=AQD-x_y.z~&spotify_state=0af9"
        );
        assert_eq!(
            page_fragment("a b&c=d#e", "s/t?+%"),
            "spotify_code=a%20b%26c%3Dd%23e&spotify_state=s%2Ft%3F%2B%25"
        );
    }
}
