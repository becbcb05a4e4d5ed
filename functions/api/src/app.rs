//! Routing and the request/response plumbing around the route handlers.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use tracing::{error, info};

use karaoke_shared::clock::now_secs;
use karaoke_shared::lastfm::LastfmClient;
use karaoke_shared::runtime::Context;
use karaoke_shared::store::rate_gate::DynamoRateGate;

use crate::error::ApiError;
use crate::routes;
use crate::routes::{account, library, services, sung};

pub struct App {
    pub ctx: Context,
    pub lastfm: LastfmClient<DynamoRateGate>,
    /// None when no Spotify app is configured for this deployment.
    pub spotify: Option<karaoke_shared::spotify::SpotifyClient>,
}

/// Everything the API serves. The OpenAPI test checks this list against docs/openapi.yaml.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/config"),
    ("GET", "/api/me/summary"),
    ("GET", "/api/me/services"),
    ("PUT", "/api/me/services/lastfm"),
    ("DELETE", "/api/me/services/lastfm"),
    ("DELETE", "/api/me/services/spotify"),
    ("GET", "/api/me/services/spotify/connect"),
    ("GET", "/api/services/spotify/callback"),
    ("POST", "/api/me/services/spotify/complete"),
    ("POST", "/api/me/sync"),
    ("GET", "/api/me/sync"),
    ("GET", "/api/me/songs"),
    ("GET", "/api/me/artists"),
    ("POST", "/api/me/artists"),
    ("DELETE", "/api/me/artists"),
    ("GET", "/api/me/top-tracks"),
    ("GET", "/api/me/known-songs"),
    ("POST", "/api/me/known-songs"),
    ("DELETE", "/api/me/known-songs"),
    ("GET", "/api/me/preferences"),
    ("PUT", "/api/me/preferences"),
    ("POST", "/api/me/sung-songs"),
    ("GET", "/api/me/sung-songs"),
    ("DELETE", "/api/me/sung-songs"),
    ("GET", "/api/me/recommendations"),
    ("GET", "/api/me"),
    ("DELETE", "/api/me"),
    ("GET", "/api/me/export"),
];

/// A parsed request handed to a route: who is asking and what they sent.
pub struct Call<'a> {
    pub req: &'a Request,
    pub user_id: Option<String>,
    pub now: i64,
}

impl Call<'_> {
    pub fn user(&self) -> Result<&str, ApiError> {
        self.user_id
            .as_deref()
            .ok_or_else(|| ApiError::Unauthorized("sign-in required".into()))
    }

    pub fn query(&self, name: &str) -> Option<String> {
        self.req
            .query_string_parameters_ref()
            .and_then(|q| q.first(name))
            .map(str::to_string)
    }

    pub fn body(&self) -> &[u8] {
        match self.req.body() {
            Body::Empty => &[],
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => &[],
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// Set for redirects (the Spotify sign-in callback sends the browser back to the page).
    pub location: Option<String>,
    /// `Retry-After` seconds, for a 429.
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self::with(StatusCode::OK, body)
    }

    pub fn with(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            location: None,
            retry_after: None,
        }
    }

    pub fn redirect(location: String) -> Self {
        Self {
            status: StatusCode::FOUND,
            body: Value::Null,
            location: Some(location),
            retry_after: None,
        }
    }
}

impl App {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let now = now_secs();
        let method = req.method().clone();
        // The gateway's $default stage adds no prefix: the path is the route's path.
        let path = req.uri().path().trim_end_matches('/').to_string();
        let user_id = crate::identity::user_id(&req).ok();
        let call = Call {
            req: &req,
            user_id,
            now,
        };
        if method == Method::GET && !path.starts_with("/api") {
            if let Some(page) = crate::assets::serve(&path) {
                return page;
            }
        }
        let result = self.dispatch(&method, &path, &call).await;
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                if e.status().is_server_error() {
                    error!(%method, path, error = ?e, "request failed");
                }
                Reply {
                    retry_after: e.retry_after_secs(),
                    ..Reply::with(e.status(), e.body())
                }
            }
        };
        info!(%method, path, status = reply.status.as_u16(), "request");
        json_response(reply)
    }

    async fn dispatch(
        &self,
        method: &Method,
        path: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ApiError> {
        // Per-user routes refuse anonymous callers before anything else is looked at.
        if path.starts_with("/api/me") {
            let user_id = call.user()?;
            if path != "/api/me" {
                routes::my_data::refuse_while_erasing(self, user_id).await?;
            }
        }
        match (method.as_str(), path) {
            ("GET", "/api/health") => Ok(Reply::ok(serde_json::json!({"status": "ok"}))),
            ("GET", "/api/config") => account::config(self),
            ("GET", "/api/me/summary") => account::summary(self, call).await,
            ("GET", "/api/me/services") => account::services(self, call).await,
            ("PUT", "/api/me/services/lastfm") => services::connect_lastfm(self, call).await,
            ("DELETE", "/api/me/services/lastfm") => services::disconnect_lastfm(self, call).await,
            ("GET", "/api/me/services/spotify/connect") => {
                routes::spotify::connect(self, call).await
            }
            ("GET", "/api/services/spotify/callback") => {
                routes::spotify::callback(self, call).await
            }
            ("POST", "/api/me/services/spotify/complete") => {
                routes::spotify::complete(self, call).await
            }
            ("DELETE", "/api/me/services/spotify") => {
                services::disconnect_spotify(self, call).await
            }
            ("POST", "/api/me/sync") => routes::sync::start(self, call).await,
            ("GET", "/api/me/sync") => routes::sync::status(self, call).await,
            ("GET", "/api/me/songs") => library::songs(self, call).await,
            ("GET", "/api/me/artists") => library::artists(self, call).await,
            ("POST", "/api/me/artists") => library::add_artist(self, call).await,
            ("DELETE", "/api/me/artists") => library::remove_artist(self, call).await,
            ("GET", "/api/me/top-tracks") => library::top_tracks(self, call).await,
            ("GET", "/api/me/known-songs") => library::known_songs(self, call).await,
            ("POST", "/api/me/known-songs") => library::add_known_song(self, call).await,
            ("DELETE", "/api/me/known-songs") => library::remove_known_song(self, call).await,
            ("GET", "/api/me/preferences") => account::preferences(self, call).await,
            ("PUT", "/api/me/preferences") => account::put_preferences(self, call).await,
            ("POST", "/api/me/sung-songs") => sung::record(self, call).await,
            ("GET", "/api/me/sung-songs") => sung::list(self, call).await,
            ("DELETE", "/api/me/sung-songs") => sung::remove(self, call).await,
            ("GET", "/api/me/recommendations") => sung::recommendations(self, call).await,
            ("GET", "/api/me") => routes::my_data::status(self, call).await,
            ("DELETE", "/api/me") => routes::my_data::erase(self, call).await,
            ("GET", "/api/me/export") => routes::my_data::export(self, call).await,
            (m, p) => {
                if ROUTES.iter().any(|(_, rp)| *rp == p) {
                    Err(ApiError::MethodNotAllowed(m.to_string()))
                } else {
                    Err(ApiError::NotFound(format!("no route for {p}")))
                }
            }
        }
    }
}

fn json_response(reply: Reply) -> Response<Body> {
    if let Some(location) = reply.location {
        return Response::builder()
            .status(reply.status)
            .header("location", location)
            .header("cache-control", "no-store")
            .body(Body::Empty)
            .expect("redirect headers are valid");
    }
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    if let Some(secs) = reply.retry_after {
        response = response.header("retry-after", secs.to_string());
    }
    response
        .body(Body::Text(reply.body.to_string()))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert(r), "{r:?} twice");
        }
    }
}
