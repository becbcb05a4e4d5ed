//! Per-user limits on calls that spend something shared (Last.fm's request budget): a counter
//! per user and kind in a fixed window, one conditional write per call.

use super::attr;
use super::keys;
use super::{Store, StoreError};

/// At most `max` calls per `window_secs` per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub what: &'static str,
    pub max: u32,
    pub window_secs: i64,
}

/// Connecting Last.fm asks Last.fm about the name: five tries a minute is plenty for typos.
pub const CONNECT_LASTFM: Limit = Limit {
    what: "connect-lastfm",
    max: 5,
    window_secs: 60,
};

/// Whether a call is let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over the limit until the window ends, this many seconds from now.
    Refused {
        retry_after_secs: i64,
    },
}

/// Seconds until a window that began at `window_start` ends (at least one).
pub fn retry_after(limit: &Limit, window_start: i64, now: i64) -> i64 {
    (window_start + limit.window_secs - now).max(1)
}

impl Store {
    /// Counts one call of `limit.what` by the user, unless the user is over the limit.
    pub async fn admit(
        &self,
        user_id: &str,
        limit: &Limit,
        now: i64,
    ) -> Result<Admission, StoreError> {
        let edge = now - limit.window_secs;
        let update = |expression: &str, condition: &str| {
            self.metrics.write();
            self.db
                .update_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::limit_sk(limit.what)))
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_values(":edge", attr::n(edge))
                .expression_attribute_values(":expires", attr::n(now + 2 * limit.window_secs))
        };
        // Within the current window, while under the limit.
        let counted = update(
            "ADD calls :one SET expires_at = :expires",
            "window_start > :edge AND calls < :max",
        )
        .expression_attribute_values(":one", attr::n(1))
        .expression_attribute_values(":max", attr::n(limit.max))
        .send()
        .await
        .map_err(StoreError::from_sdk);
        match counted {
            Ok(_) => return Ok(Admission::Allowed),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        // No window, or an old one: start a new one with this call.
        let started = update(
            "SET window_start = :now, calls = :one, expires_at = :expires",
            "attribute_not_exists(window_start) OR window_start <= :edge",
        )
        .expression_attribute_values(":one", attr::n(1))
        .expression_attribute_values(":now", attr::n(now))
        .send()
        .await
        .map_err(StoreError::from_sdk);
        match started {
            Ok(_) => return Ok(Admission::Allowed),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        // A current window at its limit.
        self.metrics.read();
        let item = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::limit_sk(limit.what)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item
            .unwrap_or_default();
        let window_start = attr::get_n_opt(&item, "window_start")?.unwrap_or(now);
        Ok(Admission::Refused {
            retry_after_secs: retry_after(limit, window_start, now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_call_is_told_when_the_window_ends() {
        assert_eq!(retry_after(&CONNECT_LASTFM, 1_000, 1_010), 50);
        assert_eq!(
            retry_after(&CONNECT_LASTFM, 1_000, 1_060),
            1,
            "at least a second"
        );
    }
}
