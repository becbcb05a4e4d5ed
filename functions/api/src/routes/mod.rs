pub mod account;
pub mod dev;
pub mod library;
pub mod services;
pub mod spotify;
pub mod sung;
pub mod sync;
