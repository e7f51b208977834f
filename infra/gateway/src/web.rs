//! The web client, served at `/` by `make dev`: the files of `web/` and,
//! under `/vendor/`, the few npm packages it imports (installed from
//! `web/package-lock.json`), plus `/config.json`, which tells the app where
//! this stack's endpoints are. The app itself is plain ES modules: nothing
//! is built.
//!
//! Every file goes out with the headers a production host would add
//! (docs/WEB-CLIENT.md): `X-Content-Type-Options: nosniff`, a
//! `Referrer-Policy`, and on the page a `Content-Security-Policy` that
//! allows this origin's scripts and, of inline script, only the import map,
//! by its hash; no page may frame it.

use std::path::{Component, Path, PathBuf};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The packages the app imports (its import map names them); nothing else
/// under `node_modules` is served.
/// The app's packages, and the query explorer's (GraphiQL over React).
const VENDORED: [&str; 7] = [
    "graphql-ws",
    "@urql/core",
    "wonka",
    "@0no-co/graphql.web",
    "graphiql",
    "react",
    "react-dom",
];

/// Where the app's files are, and what `/config.json` says.
#[derive(Debug, Clone)]
pub struct Web {
    dir: PathBuf,
    config: serde_json::Value,
    /// The origins the page talks to besides its own, as the policy lists
    /// them: GraphQL and the token endpoint (which `config.json` may name by
    /// another host), the WebSocket API, and S3 (uploads, photos).
    connect: String,
    /// Where its images come from besides its own origin: S3.
    images: String,
}

/// How much of the page's address other sites are told: the origin only.
const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

impl Web {
    /// The app in `dir`, pointed at this stack's endpoints.
    pub fn new(dir: PathBuf, base_url: &str, ws_url: &str, s3_url: &str) -> Self {
        Web {
            dir,
            config: serde_json::json!({
                "graphql": format!("{base_url}/graphql"),
                "realtime": format!("{ws_url}/"),
                "auth": { "kind": "dev", "tokenUrl": format!("{base_url}/auth/token") },
            }),
            connect: [base_url, ws_url, s3_url].join(" "),
            images: s3_url.into(),
        }
    }

    /// The page's policy: `import_map` is the text of its one inline script.
    fn content_security_policy(&self, import_map: Option<&str>) -> String {
        let hash = import_map
            .map(|text| {
                let digest = Sha256::digest(text.as_bytes());
                format!(
                    " 'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            })
            .unwrap_or_default();
        format!(
            "default-src 'self'; script-src 'self'{hash}; style-src 'self'; \
             img-src 'self' blob: data: {images}; font-src 'self' data:; connect-src 'self' {connect}; \
             worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
            images = self.images,
            connect = self.connect,
        )
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

    /// The query explorer's page (GraphiQL), served at `GET /graphql`.
    pub async fn explorer(&self) -> Option<Response> {
        self.get("/explorer.html").await
    }

    /// Serves a GET (or HEAD) of `path`: a file, `/config.json`, or `None`.
    pub async fn get(&self, path: &str) -> Option<Response> {
        let mut response = if path == "/config.json" {
            axum::Json(self.config.clone()).into_response()
        } else {
            self.file_response(path).await?
        };
        let headers = response.headers_mut();
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static(REFERRER_POLICY),
        );
        Some(response)
    }

    async fn file_response(&self, path: &str) -> Option<Response> {
        let file = self.file(path)?;
        let body = tokio::fs::read(&file).await.ok()?;
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js" | "mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("webmanifest") => "application/manifest+json",
            Some("json" | "map") => "application/json",
            _ => return None,
        };
        let policy = kind.starts_with("text/html").then(|| {
            let text = std::str::from_utf8(&body).ok();
            self.content_security_policy(text.and_then(import_map))
        });
        let mut response = (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response();
        if let Some(policy) = policy {
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&policy).ok()?,
            );
        }
        Some(response)
    }
}

/// The text of a page's import map, as the browser hashes it: everything
/// between `<script type="importmap">` and `</script>`.
fn import_map(html: &str) -> Option<&str> {
    const OPEN: &str = "<script type=\"importmap\">";
    let start = html.find(OPEN)? + OPEN.len();
    let len = html[start..].find("</script>")?;
    Some(&html[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_import_map_by_its_hash_and_no_framing() {
        let web = Web::new(PathBuf::from("/w"), "http://h:1", "ws://h:2", "http://h:3");
        let html = "<head><script type=\"importmap\">\n{\"imports\": {}}\n</script></head>";
        let text = import_map(html).unwrap();
        assert_eq!(text, "\n{\"imports\": {}}\n");
        let policy = web.content_security_policy(Some(text));
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text));
        assert!(policy.contains(&format!("script-src 'self' 'sha256-{digest}';")));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("connect-src 'self' http://h:1 ws://h:2 http://h:3;"));
        assert!(!policy.contains("unsafe-inline"));
    }

    #[test]
    fn serves_the_app_and_its_packages_and_nothing_else() {
        let web = Web::new(PathBuf::from("/w"), "http://h", "ws://h", "http://s");
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
