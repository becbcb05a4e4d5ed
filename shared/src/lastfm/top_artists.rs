//! `user.getTopArtists`.

use serde::Deserialize;
use serde_json::Value;

use super::error::LastfmError;
use super::model::{flexible_u64, OneOrMany, PageAttr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopArtist {
    pub name: String,
    pub playcount: u64,
    pub rank: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopArtistsPage {
    pub page: u32,
    pub total_pages: u32,
    pub total: u64,
    pub artists: Vec<TopArtist>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    topartists: Body,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    artist: OneOrMany<RawTopArtist>,
    #[serde(rename = "@attr")]
    attr: Option<PageAttr>,
    #[serde(flatten)]
    inline: PageAttr,
}

#[derive(Debug, Deserialize)]
struct RawTopArtist {
    name: String,
    #[serde(default, deserialize_with = "flexible_u64")]
    playcount: u64,
    #[serde(rename = "@attr")]
    attr: Option<RankAttr>,
}

#[derive(Debug, Deserialize)]
struct RankAttr {
    #[serde(deserialize_with = "flexible_u64")]
    rank: u64,
}

pub fn parse_top_artists(value: Value) -> Result<TopArtistsPage, LastfmError> {
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| LastfmError::Malformed {
        detail: format!("unexpected topartists shape: {e}"),
    })?;
    let attr = envelope
        .topartists
        .attr
        .unwrap_or(envelope.topartists.inline);
    Ok(TopArtistsPage {
        page: attr.page as u32,
        total_pages: attr.total_pages as u32,
        total: attr.total,
        artists: envelope
            .topartists
            .artist
            .0
            .into_iter()
            .map(|a| TopArtist {
                name: a.name,
                playcount: a.playcount,
                rank: a.attr.map(|r| r.rank as u32).unwrap_or(0),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lastfm::model::parse_body;

    fn load(name: &str) -> TopArtistsPage {
        let path = format!(
            "{}/../tests/fixtures/lastfm/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        parse_top_artists(parse_body(&std::fs::read(path).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn reads_ranks_and_playcounts_through_a_byte_order_mark() {
        let page = load("inflatablefriends-UserGetTopArtistsMultiple.json");
        assert_eq!(page.artists[0].name, "Anathema");
        assert_eq!(page.artists[0].playcount, 5216);
        assert_eq!(page.artists[0].rank, 1);
        let single = load("inflatablefriends-UserGetTopArtistsSingle.json");
        assert_eq!(single.artists.len(), 1);
        assert_eq!(single.total_pages, 1124);
        let empty = load("inflatablefriends-UserGetTopArtistsEmpty.json");
        assert!(empty.artists.is_empty());
        assert_eq!(empty.total, 0);
    }
}
