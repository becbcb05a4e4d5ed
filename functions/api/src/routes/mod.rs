pub mod dev;
pub mod services;
pub mod songs;
pub mod sync;
