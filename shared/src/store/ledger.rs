//! The page ledger: each fetched page is written once, before its counts are applied, so a
//! retry replays exactly the scrobbles the first attempt saw (even if Last.fm changed since).

use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};
use crate::lastfm::Scrobble;
use crate::sync::reader::PageRead;

/// Compact row: [uts, artist, title, album or "", loved: 1 / 0 / -1 unknown].
type Row = (i64, String, String, String, i8);

pub fn encode(scrobbles: &[Scrobble]) -> String {
    let rows: Vec<Row> = scrobbles
        .iter()
        .map(|s| {
            (
                s.uts,
                s.artist.clone(),
                s.title.clone(),
                s.album.clone().unwrap_or_default(),
                match s.loved {
                    Some(true) => 1,
                    Some(false) => 0,
                    None => -1,
                },
            )
        })
        .collect();
    serde_json::to_string(&rows).expect("rows of strings and numbers always serialise")
}

pub fn decode(text: &str) -> Result<Vec<Scrobble>, StoreError> {
    let rows: Vec<Row> =
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("ledger page: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|(uts, artist, title, album, loved)| Scrobble {
            artist,
            title,
            album: (!album.is_empty()).then_some(album),
            uts,
            loved: match loved {
                1 => Some(true),
                0 => Some(false),
                _ => None,
            },
        })
        .collect())
}

/// A ledger item as what Last.fm answered: its rows and the window's `total` with them.
pub(super) fn read_of(item: &Item) -> Result<PageRead, StoreError> {
    Ok(PageRead {
        rows: decode(&attr::get_s(item, "rows")?)?,
        total: attr::get_n_opt(item, "total")?,
    })
}

impl Store {
    pub async fn get_ledger_page(
        &self,
        user_id: &str,
        job_id: &str,
        page: u32,
    ) -> Result<Option<PageRead>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::ledger_sk(job_id, page)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(read_of).transpose()
    }

    /// Writes the page (or one of the finishing step's own reads) if no attempt wrote it
    /// before; returns what is now recorded.
    pub async fn record_ledger_page(
        &self,
        user_id: &str,
        job_id: &str,
        page: u32,
        read: PageRead,
    ) -> Result<PageRead, StoreError> {
        let mut item = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::ledger_sk(job_id, page))),
            ("entity".to_string(), attr::s("ledger_page")),
            ("rows".to_string(), AttributeValue::S(encode(&read.rows))),
            ("count".to_string(), attr::n(read.rows.len())),
        ]);
        if let Some(total) = read.total {
            item.insert("total".to_string(), attr::n(total));
        }
        self.metrics.write();
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(read),
            Err(StoreError::Conflict) => self
                .get_ledger_page(user_id, job_id, page)
                .await?
                .ok_or_else(|| StoreError::Corrupt("ledger page vanished".into())),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let scrobbles = vec![
            Scrobble {
                artist: "AC/DC".into(),
                title: "T.N.T.".into(),
                album: None,
                uts: 5,
                loved: Some(true),
            },
            Scrobble {
                artist: "宇多田ヒカル".into(),
                title: "\"First Love\"".into(),
                album: Some("x".into()),
                uts: 4,
                loved: None,
            },
        ];
        assert_eq!(decode(&encode(&scrobbles)).unwrap(), scrobbles);
        assert!(decode("[1,2").is_err());
    }
}
