//! `user.getLovedTracks`.

use serde::Deserialize;
use serde_json::Value;

use super::error::LastfmError;
use super::model::{OneOrMany, PageAttr, RawArtist, RawDate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovedTrack {
    pub artist: String,
    pub title: String,
    pub loved_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovedTracksPage {
    pub page: u32,
    pub total_pages: u32,
    pub total: u64,
    pub tracks: Vec<LovedTrack>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    lovedtracks: Body,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    track: OneOrMany<RawLoved>,
    #[serde(rename = "@attr")]
    attr: Option<PageAttr>,
    #[serde(flatten)]
    inline: PageAttr,
}

#[derive(Debug, Deserialize)]
struct RawLoved {
    artist: RawArtist,
    name: String,
    date: Option<RawDate>,
}

pub fn parse_loved_tracks(value: Value) -> Result<LovedTracksPage, LastfmError> {
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| LastfmError::Malformed {
        detail: format!("unexpected lovedtracks shape: {e}"),
    })?;
    let attr = envelope
        .lovedtracks
        .attr
        .unwrap_or(envelope.lovedtracks.inline);
    Ok(LovedTracksPage {
        page: attr.page as u32,
        total_pages: attr.total_pages as u32,
        total: attr.total,
        tracks: envelope
            .lovedtracks
            .track
            .0
            .into_iter()
            .map(|t| LovedTrack {
                artist: t.artist.into_name(),
                title: t.name,
                loved_at: t.date.map(|d| d.uts),
            })
            .collect(),
    })
}
