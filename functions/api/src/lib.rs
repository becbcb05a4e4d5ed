//! The HTTP API (API Gateway HTTP API → Lambda): the My Data page's backend.

pub mod app;
pub mod assets;
pub mod error;
pub mod identity;
pub mod routes;
pub mod validate;
pub mod views;
