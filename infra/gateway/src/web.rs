//! The web client, served at `/` by `make dev`: the files of `web/` and,
//! under `/vendor/`, the few npm packages it imports (installed from
//! `web/package-lock.json`), plus `/config.json`, which tells the app where
//! this stack's endpoints are. The app itself is plain ES modules: nothing
//! is built.

use std::path::{Component, Path, PathBuf};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The packages the app imports (its import map names them); nothing else
/// under `node_modules` is served.
const VENDORED: [&str; 4] = ["graphql-ws", "@urql/core", "wonka", "@0no-co/graphql.web"];

/// Where the app's files are, and what `/config.json` says.
#[derive(Debug, Clone)]
pub struct Web {
    dir: PathBuf,
    config: serde_json::Value,
}

impl Web {
    /// The app in `dir`, pointed at this stack's endpoints.
    pub fn new(dir: PathBuf, base_url: &str, ws_url: &str) -> Self {
        Web {
            dir,
            config: serde_json::json!({
                "graphql": format!("{base_url}/graphql"),
                "realtime": format!("{ws_url}/"),
                "auth": { "kind": "dev", "tokenUrl": format!("{base_url}/auth/token") },
            }),
        }
    }

    /// `/config.json` also gives the VAPID key Web Push subscribes with.
    pub fn with_vapid_key(mut self, key: &str) -> Self {
        self.config["vapidPublicKey"] = serde_json::json!(key);
        self
    }

    /// The file a GET of `path` serves, if any.
    fn file(&self, path: &str) -> Option<PathBuf> {
        let path = path.trim_start_matches('/');
        let relative = Path::new(if path.is_empty() { "index.html" } else { path });
        // Only plain names: no `..`, no absolute paths, no hidden files.
        let plain = relative.components().all(|c| match c {
            Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
            _ => false,
        });
        if !plain {
            return None;
        }
        if let Ok(rest) = relative.strip_prefix("vendor") {
            let package = VENDORED
                .iter()
                .find(|p| rest.starts_with(p) && rest != Path::new(p))?;
            return Some(
                self.dir
                    .join("node_modules")
                    .join(package)
                    .join(rest.strip_prefix(package).ok()?),
            );
        }
        if relative.starts_with("node_modules") || relative.starts_with("test") {
            return None;
        }
        Some(self.dir.join(relative))
    }

    /// Serves a GET of `path`: a file, `/config.json`, or `None`.
    pub async fn get(&self, path: &str) -> Option<Response> {
        if path == "/config.json" {
            return Some(axum::Json(self.config.clone()).into_response());
        }
        let file = self.file(path)?;
        let body = tokio::fs::read(&file).await.ok()?;
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js" | "mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("json" | "map") => "application/json",
            _ => return None,
        };
        Some(
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_app_and_its_packages_and_nothing_else() {
        let web = Web::new(PathBuf::from("/w"), "http://h", "ws://h");
        assert_eq!(web.file("/"), Some(PathBuf::from("/w/index.html")));
        assert_eq!(web.file("/app.js"), Some(PathBuf::from("/w/app.js")));
        assert_eq!(
            web.file("/vendor/@urql/core/dist/urql-core.mjs"),
            Some(PathBuf::from(
                "/w/node_modules/@urql/core/dist/urql-core.mjs"
            ))
        );
        for refused in [
            "/../Cargo.toml",
            "/vendor/../../etc/passwd",
            "/vendor/left-pad/index.js",
            "/vendor/graphql-ws",
            "/node_modules/wonka/package.json",
            "/.env",
            "/test/browser.test.mjs",
        ] {
            assert_eq!(web.file(refused), None, "{refused}");
        }
    }
}
