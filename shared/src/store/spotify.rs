//! The Spotify connection: a service item the API may show, and a separate secret item with the
//! OAuth tokens, which no read path of the API ever returns. Plus the single-use sign-in states.

use aws_sdk_dynamodb::types::ReturnValue;

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotifyService {
    pub spotify_user_id: String,
    pub display_name: Option<String>,
    pub connected_at: i64,
    /// "connected", or "needs_reconnect" once Spotify refused our refresh token.
    pub status: String,
    pub last_sync_at: Option<i64>,
    pub track_count: u64,
    pub artist_count: u64,
}

/// OAuth tokens as stored. Debug never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: i64,
    /// Bumped on every change, so concurrent refreshes can tell who won.
    pub version: u64,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn service_from_item(item: &Item) -> Result<SpotifyService, StoreError> {
    Ok(SpotifyService {
        spotify_user_id: attr::get_s(item, "spotify_user_id")?,
        display_name: attr::get_s_opt(item, "display_name")?,
        connected_at: attr::get_n(item, "connected_at")?,
        status: attr::get_s_opt(item, "status")?.unwrap_or_else(|| "connected".into()),
        last_sync_at: attr::get_n_opt(item, "last_sync_at")?,
        track_count: attr::get_n_opt(item, "track_count")?.unwrap_or(0),
        artist_count: attr::get_n_opt(item, "artist_count")?.unwrap_or(0),
    })
}

impl Store {
    pub async fn get_spotify_service(
        &self,
        user_id: &str,
    ) -> Result<Option<SpotifyService>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::SPOTIFY_SERVICE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(service_from_item).transpose()
    }

    /// Stores a fresh connection: service item and tokens.
    pub async fn put_spotify_connection(
        &self,
        user_id: &str,
        service: &SpotifyService,
        tokens: &StoredTokens,
    ) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::SPOTIFY_SERVICE_SK)),
            ("entity".to_string(), attr::s("service")),
            ("service".to_string(), attr::s("spotify")),
            (
                "spotify_user_id".to_string(),
                attr::s(&service.spotify_user_id),
            ),
            ("connected_at".to_string(), attr::n(service.connected_at)),
            ("status".to_string(), attr::s("connected")),
            ("user_id".to_string(), attr::s(user_id)),
            ("gsi2pk".to_string(), attr::s(keys::SPOTIFY_DUE_PK)),
            // Due at once, as a new Last.fm account is; each finished sync sets the next time.
            (
                "gsi2sk".to_string(),
                attr::s(keys::due_sort(service.connected_at, user_id)),
            ),
        ]);
        if let Some(name) = &service.display_name {
            item.insert("display_name".into(), attr::s(name));
        }
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.put_tokens(user_id, tokens, None).await.map(|_| ())
    }

    pub async fn get_spotify_tokens(
        &self,
        user_id: &str,
    ) -> Result<Option<StoredTokens>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::SPOTIFY_SECRET_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        Ok(Some(StoredTokens {
            access_token: attr::get_s(&item, "access_token")?,
            refresh_token: attr::get_s(&item, "refresh_token")?,
            expires_at: attr::get_n(&item, "access_expires_at")?,
            version: attr::get_n_opt(&item, "version")?.unwrap_or(0),
        }))
    }

    /// Saves tokens if they are still at `expected_version` (None: unconditionally).
    /// Returns false when another refresh got there first.
    pub async fn put_tokens(
        &self,
        user_id: &str,
        tokens: &StoredTokens,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let item = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::SPOTIFY_SECRET_SK)),
            ("entity".to_string(), attr::s("secret")),
            ("access_token".to_string(), attr::s(&tokens.access_token)),
            ("refresh_token".to_string(), attr::s(&tokens.refresh_token)),
            // Not `expires_at`: that is the table's TTL attribute, and the refresh token must
            // outlive the access token's hour.
            ("access_expires_at".to_string(), attr::n(tokens.expires_at)),
            ("version".to_string(), attr::n(tokens.version)),
        ]);
        let mut request = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if let Some(v) = expected_version {
            request = request
                .condition_expression("version = :v")
                .expression_attribute_values(":v", attr::n(v));
        }
        self.metrics.write();
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn set_spotify_status(&self, user_id: &str, status: &str) -> Result<(), StoreError> {
        self.metrics.write();
        match self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::SPOTIFY_SERVICE_SK))
            // A connection that needs the user again leaves the schedule until they reconnect.
            .update_expression(if status == "connected" {
                "SET #status = :s"
            } else {
                "SET #status = :s REMOVE gsi2pk, gsi2sk"
            })
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":s", attr::s(status))
            .send()
            .await
            .map_err(StoreError::from_sdk)
        {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Records a finished Spotify refresh and, while the connection is usable, when the next
    /// one is due. A connection that needs the user again keeps its counts but stays off the
    /// schedule until they reconnect.
    pub async fn record_spotify_sync(
        &self,
        user_id: &str,
        tracks: u64,
        artists: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        let due = keys::due_sort(now + crate::sync::schedule::interval_secs(), user_id);
        let attempts = [
            (
                "SET last_sync_at = :now, track_count = :t, artist_count = :a, \
                 gsi2pk = :duepk, gsi2sk = :due, user_id = :user",
                "#status = :connected",
            ),
            (
                "SET last_sync_at = :now, track_count = :t, artist_count = :a",
                "attribute_exists(pk)",
            ),
        ];
        for (update, condition) in attempts {
            let mut request = self
                .db
                .update_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::SPOTIFY_SERVICE_SK))
                .update_expression(update)
                .condition_expression(condition)
                .expression_attribute_values(":now", attr::n(now))
                .expression_attribute_values(":t", attr::n(tracks))
                .expression_attribute_values(":a", attr::n(artists));
            if condition.contains(":connected") {
                request = request
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":connected", attr::s("connected"))
                    .expression_attribute_values(":duepk", attr::s(keys::SPOTIFY_DUE_PK))
                    .expression_attribute_values(":due", attr::s(&due))
                    .expression_attribute_values(":user", attr::s(user_id));
            }
            self.metrics.write();
            match request.send().await.map_err(StoreError::from_sdk) {
                Ok(_) => return Ok(()),
                // Not connected (try the counts alone), or disconnected meanwhile (nothing to do).
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Forgets the connection and its tokens (the synced lists stay until the user deletes them).
    pub async fn delete_spotify_connection(&self, user_id: &str) -> Result<bool, StoreError> {
        self.metrics.write();
        let out = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::SPOTIFY_SERVICE_SK))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.metrics.write();
        self.db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::SPOTIFY_SECRET_SK))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.attributes.is_some())
    }

    /// A sign-in state: single use, bound to the user, expiring (TTL cleans up the leftovers).
    pub async fn put_oauth_state(
        &self,
        state: &str,
        user_id: &str,
        verifier: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".to_string(), attr::s(keys::oauth_state_pk(state))),
            ("sk".to_string(), attr::s("STATE")),
            ("entity".to_string(), attr::s("oauth_state")),
            ("user_id".to_string(), attr::s(user_id)),
            (
                "gsi1pk".to_string(),
                attr::s(keys::oauth_states_gsi_pk(user_id)),
            ),
            ("gsi1sk".to_string(), attr::s(state)),
            ("verifier".to_string(), attr::s(verifier)),
            ("expires_at".to_string(), attr::n(expires_at)),
        ]);
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Consumes a state: returns (user_id, verifier, expires_at) once; None if unknown or used.
    pub async fn take_oauth_state(
        &self,
        state: &str,
    ) -> Result<Option<(String, String, i64)>, StoreError> {
        self.metrics.write();
        let out = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::oauth_state_pk(state)))
            .key("sk", attr::s("STATE"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.attributes else {
            return Ok(None);
        };
        Ok(Some((
            attr::get_s(&item, "user_id")?,
            attr::get_s(&item, "verifier")?,
            attr::get_n(&item, "expires_at")?,
        )))
    }
}
