//! Paging cursors. A DynamoDB position is encoded compactly; cursors handed to clients are also
//! signed and bound to the user, so a tampered or borrowed cursor is rejected, not obeyed.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::attr::Item;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("cursor is not valid")]
    Invalid,
}

/// Keys hold strings and numbers only; the tag keeps which was which.
pub fn encode_key(key: &Item) -> String {
    let map: BTreeMap<&str, (char, &str)> = key
        .iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(s) => Some((k.as_str(), ('S', s.as_str()))),
            AttributeValue::N(n) => Some((k.as_str(), ('N', n.as_str()))),
            _ => None,
        })
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&map).expect("key serialises"))
}

pub fn decode_key(text: &str) -> Result<Item, CursorError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| CursorError::Invalid)?;
    let map: BTreeMap<String, (char, String)> =
        serde_json::from_slice(&bytes).map_err(|_| CursorError::Invalid)?;
    map.into_iter()
        .map(|(k, (tag, v))| match tag {
            'S' => Ok((k, AttributeValue::S(v))),
            'N' => Ok((k, AttributeValue::N(v))),
            _ => Err(CursorError::Invalid),
        })
        .collect()
}

fn mac(secret: &str, user_id: &str, list: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for part in [user_id, list, payload] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac
}

/// A client-facing cursor for `list` (e.g. "songs") of one user.
pub fn sign(secret: &str, user_id: &str, list: &str, key: &Item) -> String {
    let payload = encode_key(key);
    let tag = mac(secret, user_id, list, &payload).finalize().into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

pub fn verify(secret: &str, user_id: &str, list: &str, cursor: &str) -> Result<Item, CursorError> {
    let (payload, tag) = cursor.split_once('.').ok_or(CursorError::Invalid)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| CursorError::Invalid)?;
    mac(secret, user_id, list, payload)
        .verify_slice(&tag)
        .map_err(|_| CursorError::Invalid)?;
    decode_key(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Item {
        Item::from([
            ("pk".to_string(), AttributeValue::S("USER#a".into())),
            ("n".to_string(), AttributeValue::N("42".into())),
        ])
    }

    #[test]
    fn signed_cursors_round_trip_and_reject_tampering_and_other_users() {
        let c = sign("s3cret", "alice", "songs", &key());
        assert_eq!(verify("s3cret", "alice", "songs", &c).unwrap(), key());
        assert_eq!(
            verify("s3cret", "bob", "songs", &c),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            verify("s3cret", "alice", "artists", &c),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            verify("other", "alice", "songs", &c),
            Err(CursorError::Invalid)
        );
        let mut tampered = c.clone();
        tampered.replace_range(0..1, if c.starts_with('e') { "f" } else { "e" });
        assert_eq!(
            verify("s3cret", "alice", "songs", &tampered),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            verify("s3cret", "alice", "songs", "garbage"),
            Err(CursorError::Invalid)
        );
    }
}
