//! What travels on the queues. Messages carry ids only; the job item holds the details, so a
//! redelivered message always acts on the job's current state.

use serde::{Deserialize, Serialize};

/// On the start queue: begin or resume a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartMessage {
    pub user_id: String,
    pub job_id: String,
}

/// On the page queue: one unit of work of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkMessage {
    /// Fetch and apply one page of `user.getRecentTracks`.
    ScrobblePage {
        user_id: String,
        job_id: String,
        page: u32,
    },
    /// After a full sync, delete tracks left from an older generation, one batch at a time.
    Sweep {
        user_id: String,
        job_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_messages_round_trip_as_small_json() {
        let m = WorkMessage::ScrobblePage {
            user_id: "u1".into(),
            job_id: "j".into(),
            page: 7,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"scrobble_page","user_id":"u1","job_id":"j","page":7}"#
        );
        assert_eq!(serde_json::from_str::<WorkMessage>(&text).unwrap(), m);
        assert!(serde_json::from_str::<WorkMessage>(r#"{"kind":"nope"}"#).is_err());
    }
}
