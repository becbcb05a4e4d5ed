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
    /// Do one unit of a job (see `job::Unit`: a page of scrobbles, of top artists, of loved
    /// tracks, or one Spotify list).
    Unit {
        user_id: String,
        job_id: String,
        unit: u32,
    },
    /// After a job, remove what its refresh no longer contains, one batch at a time.
    Sweep {
        user_id: String,
        job_id: String,
        target: SweepTarget,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    /// Erase a user's account, a batch of pages per message (see `account::erase`).
    Erase {
        user_id: String,
        erase_id: String,
        /// Passes over the user's partition so far, this one included.
        pass: u32,
        /// When this pass began; None: it begins with this message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepTarget {
    /// Tracks of an older generation (after a full sync).
    Tracks,
    /// Artists that left Last.fm's top list.
    LastfmArtists,
    /// Tracks no longer loved.
    Loved,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_messages_round_trip_as_small_json() {
        let m = WorkMessage::Unit {
            user_id: "u1".into(),
            job_id: "j".into(),
            unit: 7,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"unit","user_id":"u1","job_id":"j","unit":7}"#
        );
        assert_eq!(serde_json::from_str::<WorkMessage>(&text).unwrap(), m);
        let sweep = WorkMessage::Sweep {
            user_id: "u1".into(),
            job_id: "j".into(),
            target: SweepTarget::LastfmArtists,
            cursor: None,
        };
        let text = serde_json::to_string(&sweep).unwrap();
        assert!(text.contains(r#""target":"lastfm_artists""#), "{text}");
        assert_eq!(serde_json::from_str::<WorkMessage>(&text).unwrap(), sweep);
        assert!(serde_json::from_str::<WorkMessage>(r#"{"kind":"nope"}"#).is_err());
        let erase: WorkMessage =
            serde_json::from_str(r#"{"kind":"erase","user_id":"u1","erase_id":"e","pass":1}"#)
                .unwrap();
        assert_eq!(
            erase,
            WorkMessage::Erase {
                user_id: "u1".into(),
                erase_id: "e".into(),
                pass: 1,
                started_at: None,
                cursor: None,
            }
        );
    }
}
