pub mod account;
pub mod library;
pub mod my_data;
pub mod services;
pub mod spotify;
pub mod sung;
pub mod sync;
