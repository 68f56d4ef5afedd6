//! The dashboard: a web UI of plain HTML, CSS and JavaScript modules (`crates/switchyard/dashboard/`,
//! no build step) embedded in the binary. It reads only the public API (`../api/...` relative to
//! the page), so it works under any `api.basePath`.
//!
//! In release builds the files are compiled into the binary; in debug builds `rust-embed` reads
//! them from the source folder at run time (edit, reload, no rebuild).

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use crate::http::body::{full, not_found, Body};

/// The UI's files.
#[derive(rust_embed::Embed)]
#[folder = "dashboard/"]
struct Assets;

/// Where the page may load things from: only its own origin (the UI and the API), plus `data:`
/// images. No inline scripts or styles: a string from the configuration that slipped into HTML
/// still could not run.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'";

/// Serves one dashboard asset. `rel` is the request path relative to `<basePath>/dashboard/`
/// without a leading slash ("" or "index.html" → index.html; "app.js", "css/x.css" ...).
/// Unknown files → 404 text/plain "404 page not found". Sets Content-Type by extension,
/// Cache-Control: no-cache for index.html, and X-Content-Type-Options: nosniff.
pub fn serve(rel: &str) -> Response<Body> {
    let Some(path) = normalize(rel) else {
        return not_found();
    };
    let Some(file) = Assets::get(path) else {
        return not_found();
    };
    let body = match file.data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    // The file names carry no version, so every file is revalidated: after an upgrade the browser
    // must not mix an old module with a new one.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// The embedded path for `rel`, or None for anything that could leave the folder or is not a
/// plain relative file path.
fn normalize(rel: &str) -> Option<&str> {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return Some("index.html");
    }
    if rel.contains('\\') || rel.contains('\0') || rel.contains('%') {
        return None;
    }
    if rel
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return None;
    }
    Some(rel)
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn body_of(resp: Response<Body>) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async { resp.into_body().collect().await.expect("body") })
            .to_bytes()
            .to_vec()
    }

    fn header<'a>(resp: &'a Response<Body>, name: &str) -> &'a str {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii"))
            .unwrap_or("")
    }

    fn text(rel: &str) -> String {
        let resp = serve(rel);
        assert_eq!(resp.status(), StatusCode::OK, "{rel}");
        String::from_utf8(body_of(resp)).expect("utf-8")
    }

    #[test]
    fn index_for_empty_path_and_by_name() {
        for rel in ["", "index.html", "/"] {
            let resp = serve(rel);
            assert_eq!(resp.status(), StatusCode::OK, "{rel:?}");
            assert_eq!(header(&resp, "content-type"), "text/html; charset=utf-8");
            assert_eq!(header(&resp, "cache-control"), "no-cache");
            assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
            assert!(header(&resp, "content-security-policy").contains("script-src 'self'"));
            let body = String::from_utf8(body_of(resp)).expect("utf-8");
            assert!(body.starts_with("<!doctype html>"), "{body}");
        }
    }

    #[test]
    fn content_types_by_extension() {
        let cases = [
            ("js/app.js", "text/javascript; charset=utf-8"),
            ("css/style.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ];
        for (rel, ct) in cases {
            let resp = serve(rel);
            assert_eq!(resp.status(), StatusCode::OK, "{rel}");
            assert_eq!(header(&resp, "content-type"), ct, "{rel}");
            assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        }
        assert_eq!(content_type("x.PNG"), "image/png");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn unknown_files_are_404_text() {
        for rel in ["nope.js", "js/", "js", "css/nope.css", "index.htm"] {
            let resp = serve(rel);
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{rel}");
            assert_eq!(header(&resp, "content-type"), "text/plain; charset=utf-8");
            assert_eq!(body_of(resp), b"404 page not found\n");
        }
    }

    #[test]
    fn path_traversal_is_rejected() {
        for rel in [
            "..",
            "../Cargo.toml",
            "../src/lib.rs",
            "js/../../Cargo.toml",
            "js/../index.html",
            "./index.html",
            "js//app.js",
            "..\\Cargo.toml",
            "%2e%2e/Cargo.toml",
            "..%2fCargo.toml",
            "index.html\0",
        ] {
            let resp = serve(rel);
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{rel:?}");
        }
    }

    /// Every file the page references (`src`/`href` in index.html, `import ... from` in the
    /// modules) is embedded: a missing one would be a 404 and a broken page.
    #[test]
    fn every_referenced_file_is_embedded() {
        let index = text("index.html");
        let mut refs = Vec::new();
        for attr in ["src=\"", "href=\""] {
            for part in index.split(attr).skip(1) {
                let target = part.split('"').next().unwrap_or("");
                if !target.starts_with('#') && !target.contains(':') {
                    refs.push(target.to_string());
                }
            }
        }
        assert!(refs.iter().any(|r| r == "js/app.js"), "{refs:?}");
        assert!(refs.iter().any(|r| r == "favicon.svg"), "{refs:?}");
        for r in &refs {
            assert_eq!(
                serve(r).status(),
                StatusCode::OK,
                "index.html references {r}"
            );
        }
        let modules: Vec<String> = Assets::iter()
            .filter(|p| p.ends_with(".js"))
            .map(|p| p.to_string())
            .collect();
        assert!(modules.len() >= 5, "{modules:?}");
        for module in &modules {
            let src = text(module);
            for part in src.split(" from '").skip(1) {
                let target = part.split('\'').next().unwrap_or("");
                let target = target.strip_prefix("./").expect("relative import");
                let dir = module.rsplit_once('/').map_or("", |(d, _)| d);
                let path = if dir.is_empty() {
                    target.to_string()
                } else {
                    format!("{dir}/{target}")
                };
                assert!(Assets::get(&path).is_some(), "{module} imports {path}");
            }
        }
    }

    /// Configuration strings (names, rules, errors) must reach the page as text. The UI never
    /// parses HTML from strings: keep it that way.
    #[test]
    fn no_html_parsing_sinks_in_the_ui() {
        for path in Assets::iter() {
            if !path.ends_with(".js") && !path.ends_with(".html") {
                continue;
            }
            // The SVG namespace is a name, not a request.
            let src = text(&path).replace("'http://www.w3.org/2000/svg'", "'svg-ns'");
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "javascript:",
                "http://",
                "https://",
            ] {
                assert!(!src.contains(sink), "{path} uses {sink}");
            }
        }
    }

    /// The UI uses relative API URLs only (it must work under `api.basePath`).
    #[test]
    fn api_urls_are_relative() {
        let api = text("js/api.js");
        assert!(api.contains("new URL('../api/', document.baseURI)"));
        for path in Assets::iter() {
            if path.ends_with(".js") {
                let src = text(&path);
                assert!(!src.contains("'/api"), "{path} uses an absolute /api URL");
                assert!(!src.contains("`/api"), "{path} uses an absolute /api URL");
                assert!(!src.contains("\"/api"), "{path} uses an absolute /api URL");
            }
        }
    }
}
