//! The karaoke catalog: which songs can be sung, and how common a pick each one is.
//!
//! * [`matching`]: the match key shared by catalog rows and listened tracks.
//! * [`csv`]: the catalog file (`Id,Artist,Title,Brands`), parsed row by row; bad rows are
//!   reported with their line numbers and never stop a file.
//! * [`store`]: DynamoDB items (one per catalog song, partitioned by match key) and the importer's
//!   restart point.
//! * [`import`]: the resumable, idempotent importer used by the command-line tool.

pub mod csv;
pub mod import;
pub mod matching;
pub mod store;

pub use self::csv::{CatalogReader, CatalogRow, CatalogSong, RowError};
pub use self::import::{import_file, import_reader, ImportProgress, ImportReport};
pub use self::matching::{catalog_artist, catalog_title, match_key};
pub use self::store::{CatalogHit, ImportCheckpoint};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot open catalog file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("reading the catalog failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("catalog header: {0}")]
    Header(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
