//! "Songs you enjoy singing": performances recorded with a short survey ("How was it?"), the list
//! of sung songs newest first, and "My Favorites" (rated 4-5, or would sing again).
//!
//! * [`model`]: the survey, its validation, and how a performance folds into a record (pure).
//! * [`store`]: the items (`USER#<user>` / `SUNG#<song id>`, listed through gsi1 `SUNG#<user>`
//!   and, for favourites only, gsi2 `FAV#<user>`), idempotent recording, paging, batch reads.

pub mod model;
pub mod store;

pub use model::{
    is_favorite, Crowd, Difficulty, SungCatalogSong, SungSong, SungSubmission, Survey,
    ValidSubmission, VocalRange,
};
pub use store::{Recorded, SungSummary};
