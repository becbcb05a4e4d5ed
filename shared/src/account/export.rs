//! The export: each stored item of the user as plain JSON, one DynamoDB Query page per
//! response, with a cursor signed for the user.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::AccountError;
use crate::cursor;
use crate::store::attr::Item;
use crate::store::Store;

/// Key and index attributes: how the table finds an item, not something we know about the user.
pub const PLUMBING: &[&str] = &["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"];

/// Whole items that exist only to hold credentials (Spotify tokens, sign-in PKCE verifiers).
const SECRET_ENTITIES: &[&str] = &["secret", "oauth_state"];
const SECRET_SK_PREFIXES: &[&str] = &["SECRET#"];

/// Attribute names that hold credentials wherever they appear, also inside nested maps. Matched
/// as parts of the lower-cased name, so `access_token`, `refresh_token`, `spotifySecret` or a
/// future `lastfm_session_key` never leave, even on an item kind this module has not heard of.
const SECRET_NAME_PARTS: &[&str] = &[
    "token",
    "secret",
    "verifier",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "credential",
    "session_key",
    "private_key",
];

/// The list name the export's cursors are bound to (see `cursor::sign`).
const CURSOR_LIST: &str = "export";

pub fn is_secret_attribute(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

pub fn is_secret_item(item: &Item) -> bool {
    string_attr(item, "entity").is_some_and(|e| SECRET_ENTITIES.contains(&e))
        || string_attr(item, "sk")
            .is_some_and(|sk| SECRET_SK_PREFIXES.iter().any(|p| sk.starts_with(p)))
        || string_attr(item, "pk").is_some_and(|pk| pk.starts_with("OAUTH#"))
}

/// The item's kind: its `entity` attribute, or for items written without one (the profile)
/// the sort key's first part, lower-cased ("PROFILE" → "profile").
pub fn entity_of(item: &Item) -> String {
    if let Some(entity) = string_attr(item, "entity") {
        return entity.to_string();
    }
    string_attr(item, "sk")
        .map(|sk| sk.split('#').next().unwrap_or(sk).to_ascii_lowercase())
        .unwrap_or_else(|| "unknown".into())
}

fn number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Value::Number(u.into());
    }
    // DynamoDB numbers have 38 digits; one JSON cannot hold as a float stays exact as text.
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) if n.to_string() == text => Value::Number(n),
        _ => Value::String(text.to_string()),
    }
}

/// A stored value as JSON, secret attributes of nested maps left out.
pub fn value_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => Value::Array(list.iter().map(value_json).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !is_secret_attribute(k))
                .map(|(k, v)| (k.clone(), value_json(v)))
                .collect(),
        ),
        AttributeValue::Ss(set) => {
            let mut set = set.clone();
            set.sort();
            Value::Array(set.into_iter().map(Value::String).collect())
        }
        AttributeValue::Ns(set) => {
            let mut values: Vec<Value> = set.iter().map(|n| number(n)).collect();
            values.sort_by(|a, b| {
                a.as_f64()
                    .partial_cmp(&b.as_f64())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            Value::Array(values)
        }
        AttributeValue::B(b) => Value::String(STANDARD.encode(b.as_ref())),
        AttributeValue::Bs(set) => Value::Array(
            set.iter()
                .map(|b| Value::String(STANDARD.encode(b.as_ref())))
                .collect(),
        ),
        // A value type added to DynamoDB after this was written: say so rather than guess.
        _ => Value::String("<unsupported value type>".into()),
    }
}

/// An item as the user sees it in the export: `entity`, `record_id` (the sort key: for some
/// kinds, such as Spotify's ranked lists, the only place the list and time range are kept),
/// then every attribute except the table's plumbing and secrets. None for items that are
/// secrets as a whole.
pub fn item_view(item: &Item) -> Option<Value> {
    if is_secret_item(item) {
        return None;
    }
    let mut attributes: Vec<(&String, &AttributeValue)> = item
        .iter()
        .filter(|(k, _)| {
            !PLUMBING.contains(&k.as_str())
                && !["entity", "record_id"].contains(&k.as_str())
                && !is_secret_attribute(k)
        })
        .collect();
    attributes.sort_by(|a, b| a.0.cmp(b.0));
    let mut view = Map::new();
    view.insert("entity".into(), Value::String(entity_of(item)));
    if let Some(sk) = string_attr(item, "sk") {
        view.insert("record_id".into(), Value::String(sk.to_string()));
    }
    for (k, v) in attributes {
        view.insert(k.clone(), value_json(v));
    }
    Some(Value::Object(view))
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub items: Vec<Value>,
    /// Where the next page starts, signed for this user; None on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the user's export: `limit` stored items (fewer after secrets are left out, and
/// DynamoDB stops a page at 1 MB), continuing after `cursor`.
pub async fn export_page(
    store: &Store,
    cursor_secret: &str,
    user_id: &str,
    limit: i32,
    cursor: Option<&str>,
) -> Result<ExportPage, AccountError> {
    let start = cursor
        .map(|c| {
            cursor::verify(cursor_secret, user_id, CURSOR_LIST, c)
                .map_err(|_| AccountError::InvalidCursor)
        })
        .transpose()?;
    let (items, next) = store.user_items_page(user_id, limit, start).await?;
    Ok(ExportPage {
        items: items.iter().filter_map(item_view).collect(),
        next_cursor: next.map(|k| cursor::sign(cursor_secret, user_id, CURSOR_LIST, &k)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::attr;
    use serde_json::json;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn token_and_sign_in_state_items_are_never_exported() {
        let tokens = item(&[
            ("pk", attr::s("USER#u")),
            ("sk", attr::s("SECRET#spotify")),
            ("entity", attr::s("secret")),
            ("access_token", attr::s("AT")),
            ("refresh_token", attr::s("RT")),
            ("expires_at", attr::n(5)),
        ]);
        assert_eq!(item_view(&tokens), None);
        // The same secret under a new sort key, or under a new entity name, stays out too.
        let mut renamed = tokens.clone();
        renamed.insert("sk".into(), attr::s("SECRET#lastfm"));
        renamed.remove("entity");
        assert_eq!(item_view(&renamed), None);
        let state = item(&[
            ("pk", attr::s("OAUTH#abc")),
            ("sk", attr::s("STATE")),
            ("entity", attr::s("oauth_state")),
            ("user_id", attr::s("u")),
            ("verifier", attr::s("V")),
        ]);
        assert_eq!(item_view(&state), None);
        assert!(is_secret_item(&item(&[("pk", attr::s("OAUTH#x"))])));
        assert!(!is_secret_item(&item(&[
            ("pk", attr::s("USER#u")),
            ("sk", attr::s("SERVICE#spotify")),
            ("entity", attr::s("service")),
        ])));
    }

    #[test]
    fn secret_attributes_are_dropped_from_any_item_and_nested_maps() {
        for name in [
            "access_token",
            "refresh_token",
            "Token",
            "client_secret",
            "pkce_verifier",
            "password",
            "lastfm_session_key",
            "api_key",
            "apiKey",
            "credentials",
        ] {
            assert!(is_secret_attribute(name), "{name}");
        }
        for name in [
            "username",
            "status",
            "connected_at",
            "spotify_user_id",
            "title",
            "notes",
        ] {
            assert!(!is_secret_attribute(name), "{name}");
        }
        let future_kind = item(&[
            ("pk", attr::s("USER#u")),
            ("sk", attr::s("SERVICE#deezer")),
            ("entity", attr::s("service")),
            ("username", attr::s("me")),
            ("oauth_token", attr::s("LEAK1")),
            (
                "details",
                AttributeValue::M(
                    [
                        ("refresh_token".to_string(), attr::s("LEAK2")),
                        ("country".to_string(), attr::s("SE")),
                    ]
                    .into(),
                ),
            ),
        ]);
        let view = item_view(&future_kind).unwrap();
        assert_eq!(
            view,
            json!({
                "entity": "service",
                "record_id": "SERVICE#deezer",
                "username": "me",
                "details": {"country": "SE"},
            })
        );
        assert!(!view.to_string().contains("LEAK"));
    }

    #[test]
    fn items_become_plain_json_without_key_plumbing() {
        let song = item(&[
            ("pk", attr::s("USER#u")),
            ("sk", attr::s("TRACK#k1")),
            ("gsi1pk", attr::s("SONGS#u")),
            ("gsi1sk", attr::s("a#1#k1")),
            ("entity", attr::s("song")),
            ("artist", attr::s("Björk")),
            ("playcount", attr::n(12)),
            ("ratio", attr::n("0.5")),
            ("huge", attr::n("123456789012345678901234567890")),
            ("lfm_loved", AttributeValue::Bool(true)),
            ("album", AttributeValue::Null(true)),
            ("applied_ops", attr::ns([3, 1, 2])),
            ("tags", AttributeValue::Ss(vec!["b".into(), "a".into()])),
            (
                "rows",
                AttributeValue::L(vec![AttributeValue::L(vec![
                    attr::n(1700000000),
                    attr::s("A"),
                ])]),
            ),
        ]);
        assert_eq!(
            item_view(&song).unwrap(),
            json!({
                "entity": "song",
                "record_id": "TRACK#k1",
                "album": null,
                "applied_ops": [1, 2, 3],
                "artist": "Björk",
                "huge": "123456789012345678901234567890",
                "lfm_loved": true,
                "playcount": 12,
                "ratio": 0.5,
                "rows": [[1700000000, "A"]],
                "tags": ["a", "b"],
            })
        );
    }

    #[test]
    fn items_without_an_entity_are_named_by_their_sort_key() {
        let profile = item(&[
            ("pk", attr::s("USER#u")),
            ("sk", attr::s("PROFILE")),
            ("manual_artists", attr::n(2)),
        ]);
        assert_eq!(
            item_view(&profile).unwrap(),
            json!({"entity": "profile", "record_id": "PROFILE", "manual_artists": 2})
        );
        let odd = item(&[("pk", attr::s("USER#u")), ("sk", attr::s("NEWKIND#x#y"))]);
        assert_eq!(entity_of(&odd), "newkind");
    }
}
