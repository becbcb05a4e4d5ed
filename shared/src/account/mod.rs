//! "Your data, your control": everything we hold about a user, exported page by page, and
//! erased on request (within the request for small accounts, in the background for large).
//!
//! Both walk the user's partition generically instead of listing entity types, so an item
//! kind added later is exported and erased without touching this module; secrets are kept out
//! of exports by a deny rule (`export::is_secret_item`, `export::is_secret_attribute`).

pub mod erase;
pub mod export;

use crate::cursor::CursorError;
use crate::queue::QueueError;
use crate::store::StoreError;
use crate::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A client's export cursor that is not one we signed for this user.
    #[error("export cursor is not valid for this account")]
    InvalidCursor,
    /// An erase message whose position cannot be read.
    #[error("erase cursor: {0}")]
    Cursor(#[from] CursorError),
}

/// The erase runs on the sync worker, whose messages fail with `SyncError`.
impl From<AccountError> for SyncError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(e) => SyncError::Store(e),
            AccountError::Queue(e) => SyncError::Queue(e),
            AccountError::InvalidCursor => SyncError::Cursor(CursorError::Invalid),
            AccountError::Cursor(e) => SyncError::Cursor(e),
        }
    }
}
