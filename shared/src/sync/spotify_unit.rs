//! A Spotify list as a unit of a sync job: fresh tokens (refreshed once for every concurrent
//! worker, however many race), the list fetched, each row's rank for that time range set, rows
//! that left the list cleared, and the list stored as given.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::{info, warn};

use super::engine::Engine;
use super::job::{Job, Unit, SPOTIFY_LISTS};
use super::SyncError;
use crate::clock::now_secs;
use crate::lastfm::{Disposition, RateGate};
use crate::normalize::{artist_key, TrackIdentity};
use crate::spotify::{SpotifyClient, SpotifyError};
use crate::store::spotify::StoredTokens;
use crate::store::spotify_lists::{ListEntry, ListKind};
use crate::store::Store;

/// Refresh this long before expiry, so a token never dies mid-list.
const REFRESH_MARGIN_SECS: i64 = 300;

/// Current tokens, refreshed when close to expiry (or `force`d after a 401). Concurrent callers
/// coordinate through the token item's version: the loser of a refresh race uses the winner's
/// tokens instead of reporting the (now superseded) refresh token as revoked.
pub async fn fresh_tokens(
    store: &Store,
    client: &SpotifyClient,
    user_id: &str,
    force: bool,
) -> Result<StoredTokens, SpotifyError> {
    let missing = || SpotifyError::Reauthorize {
        reason: "no Spotify tokens stored".into(),
    };
    let store_error = |e: crate::store::StoreError| SpotifyError::Transport(e.to_string());
    let mut stored = store
        .get_spotify_tokens(user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(missing)?;
    let first_version = stored.version;
    for _ in 0..4 {
        let now = now_secs();
        let someone_refreshed = stored.version != first_version;
        if someone_refreshed || (!force && stored.expires_at - REFRESH_MARGIN_SECS > now) {
            return Ok(stored);
        }
        match client.refresh(&stored.refresh_token, now).await {
            Ok(t) => {
                let next = StoredTokens {
                    access_token: t.access_token,
                    // Spotify may omit a new refresh token: the old one stays valid then.
                    refresh_token: t
                        .refresh_token
                        .unwrap_or_else(|| stored.refresh_token.clone()),
                    expires_at: t.expires_at,
                    version: stored.version + 1,
                };
                if store
                    .put_tokens(user_id, &next, Some(stored.version))
                    .await
                    .map_err(store_error)?
                {
                    return Ok(next);
                }
            }
            Err(e) if e.needs_reconnect() => {
                // Perhaps another worker rotated the token a moment ago and is still saving
                // the new one: give it a moment before concluding the user must reconnect.
                let mut rotated = false;
                for _ in 0..8 {
                    let latest = store
                        .get_spotify_tokens(user_id)
                        .await
                        .map_err(store_error)?
                        .ok_or_else(missing)?;
                    if latest.version != stored.version {
                        rotated = true;
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                if !rotated {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        stored = store
            .get_spotify_tokens(user_id)
            .await
            .map_err(store_error)?
            .ok_or_else(missing)?;
    }
    Ok(stored)
}

enum Fetched {
    Tracks(Vec<crate::spotify::TopTrack>),
    Artists(Vec<crate::spotify::TopArtist>),
}

async fn fetch(
    client: &SpotifyClient,
    kind: &str,
    range: &str,
    token: &str,
) -> Result<Fetched, SpotifyError> {
    Ok(match kind {
        "tracks" => Fetched::Tracks(client.top_tracks(token, range).await?),
        _ => Fetched::Artists(client.top_artists(token, range).await?),
    })
}

/// One row per key: two Spotify items that fold to the same song or artist keep the best rank.
fn entries(fetched: Fetched) -> (ListKind, Vec<ListEntry>) {
    let (kind, all): (ListKind, Vec<ListEntry>) = match fetched {
        Fetched::Tracks(tracks) => (
            ListKind::Tracks,
            tracks
                .into_iter()
                .map(|t| {
                    let artist = t.artists.first().cloned().unwrap_or_default();
                    ListEntry {
                        key: TrackIdentity::of(&artist, &t.name).key(),
                        rank: t.rank,
                        name: t.name,
                        artist: Some(artist),
                        album: t.album,
                        spotify_id: t.id,
                        duration_ms: t.duration_ms,
                        popularity: t.popularity,
                        genres: None,
                    }
                })
                .collect(),
        ),
        Fetched::Artists(artists) => (
            ListKind::Artists,
            artists
                .into_iter()
                .map(|a| ListEntry {
                    key: artist_key(&a.name),
                    rank: a.rank,
                    name: a.name,
                    artist: None,
                    album: None,
                    spotify_id: a.id,
                    duration_ms: None,
                    popularity: a.popularity,
                    genres: a.genres,
                })
                .collect(),
        ),
    };
    let mut best: BTreeMap<String, ListEntry> = BTreeMap::new();
    for e in all {
        match best.get(&e.key) {
            Some(kept) if kept.rank <= e.rank => {}
            _ => {
                best.insert(e.key.clone(), e);
            }
        }
    }
    let mut list: Vec<ListEntry> = best.into_values().collect();
    list.sort_by_key(|e| e.rank);
    (kind, list)
}

impl<G: RateGate> Engine<G> {
    pub(super) async fn run_spotify(
        &self,
        job: &Job,
        index: u32,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        let unit = Unit::Spotify(index);
        let (kind, range) = SPOTIFY_LISTS[index as usize % SPOTIFY_LISTS.len()];
        let Some(client) = &self.spotify else {
            let message = format!(
                "{} could not be fetched: Spotify is not configured here.",
                unit.describe(&job.plan)
            );
            return self.give_up(job, unit, &message).await;
        };
        let outcome = async {
            let tokens = fresh_tokens(&self.store, client, &job.user_id, false).await?;
            match fetch(client, kind, range, &tokens.access_token).await {
                Err(e) if e.is_unauthorized() => {
                    let tokens = fresh_tokens(&self.store, client, &job.user_id, true).await?;
                    fetch(client, kind, range, &tokens.access_token).await
                }
                other => other,
            }
        }
        .await;
        let fetched = match outcome {
            Ok(f) => f,
            Err(e) if e.needs_reconnect() => {
                warn!(job_id = %job.job_id, "Spotify refused our refresh token; the user must reconnect");
                self.store
                    .set_spotify_status(&job.user_id, "needs_reconnect")
                    .await?;
                let message = format!("{}: {}", unit.describe(&job.plan), e.user_message());
                return self.give_up(job, unit, &message).await;
            }
            Err(e)
                if e.disposition() == Disposition::Transient
                    && receive_count < self.max_receives =>
            {
                return Err(SyncError::Spotify(e));
            }
            Err(e) => {
                let message = format!(
                    "{} could not be fetched: {}",
                    unit.describe(&job.plan),
                    e.user_message()
                );
                self.give_up(job, unit, &message).await?;
                return if e.disposition() == Disposition::Transient {
                    Err(SyncError::Spotify(e))
                } else {
                    Ok(())
                };
            }
        };
        let (list_kind, list) = entries(fetched);
        let user = job.user_id.as_str();
        let previous = self.store.stored_list(user, list_kind, range).await?;
        stream::iter(list.iter())
            .map(|e| {
                self.store
                    .set_spotify_rank(user, list_kind, &e.key, range, Some(e))
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        let current: std::collections::BTreeSet<&str> =
            list.iter().map(|e| e.key.as_str()).collect();
        let gone: Vec<&String> = previous
            .values()
            .filter(|k| !current.contains(k.as_str()))
            .collect();
        stream::iter(gone.iter())
            .map(|k| self.store.set_spotify_rank(user, list_kind, k, range, None))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        self.store
            .replace_list(user, list_kind, range, &list, &previous)
            .await?;
        info!(job_id = %job.job_id, kind, range, items = list.len(), removed = gone.len(), "Spotify list stored");
        self.count_unit(job, unit, 0, Some(unit)).await
    }

    /// Settles a unit as failed, with a message for the user.
    async fn give_up(&self, job: &Job, unit: Unit, message: &str) -> Result<(), SyncError> {
        if let Some(updated) = self
            .store
            .mark_page_failed(job, unit.id(), message, now_secs())
            .await?
        {
            self.settle_public(updated, Some(unit)).await?;
        }
        Ok(())
    }
}
