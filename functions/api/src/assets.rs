//! The My Data page: three files embedded in the binary (no CDN, no build step). When
//! `ASSETS_DIR` is set (local development only) they are read from disk on each request instead,
//! so the page can be edited without redeploying.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
];

/// Only our own origin, plus the Cognito domain when sign-in goes through Cognito (the page
/// exchanges its authorization code there, with PKCE).
fn content_security_policy() -> String {
    let cognito = std::env::var("COGNITO_BASE_URL")
        .ok()
        .filter(|d| !d.is_empty())
        .map(|d| format!(" {}", d.trim_end_matches('/')))
        .unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         connect-src 'self'{cognito}; frame-ancestors 'none'"
    )
}

/// `path` is "/" or "/assets/<name>"; None when it names no asset.
pub fn serve(path: &str) -> Option<Response<Body>> {
    let name = match path {
        "" | "/" | "/index.html" => "index.html",
        p => p.strip_prefix("/assets/")?,
    };
    let (_, content_type, embedded) = FILES.iter().find(|(n, _, _)| *n == name)?;
    let body = std::env::var("ASSETS_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .and_then(|dir| std::fs::read_to_string(std::path::Path::new(&dir).join(name)).ok())
        .unwrap_or_else(|| embedded.to_string());
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", *content_type)
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", content_security_policy())
        .body(Body::Text(body))
        .expect("static headers are valid");
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_its_files_only() {
        assert!(serve("/").is_some());
        assert!(serve("").is_some());
        assert!(serve("/assets/app.js").is_some());
        assert!(serve("/assets/../Cargo.toml").is_none());
        assert!(serve("/assets/nope.js").is_none());
        let page = serve("/").unwrap();
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
    }
}
