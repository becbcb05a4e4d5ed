//! karaoke-sync's shared library: the domain rules, the Last.fm client, and DynamoDB/SQS storage
//! used by every Lambda function and command-line tool.

pub mod account;
pub mod auth;
pub mod aws;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod cursor;
pub mod lastfm;
pub mod library;
pub mod migrate;
pub mod normalize;
pub mod queue;
pub mod recommend;
pub mod runtime;
pub mod secrets;
pub mod spotify;
pub mod store;
pub mod sung;
pub mod sync;
pub mod telemetry;
