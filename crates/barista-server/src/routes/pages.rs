//! The web pages: the customer's order page (`/s/{shop}`), the barista's
//! board (`/s/{shop}/board`) and the operator's shops (`/admin`), plain HTML, CSS and JavaScript compiled into the
//! binary (no build step, nothing fetched at run time). The pages speak only
//! the public API, as any other client does.

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::PathOf;
use crate::respond::none_match;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Every page and asset: the strictest policy the pages work under. No inline
/// script or style, nothing from another origin, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; media-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// An asset of `crates/barista-server/assets/`, compiled in.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../../assets/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("customer.html", "text/html; charset=utf-8"),
    asset!("board.html", "text/html; charset=utf-8"),
    asset!("barista.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("customer.js", "text/javascript; charset=utf-8"),
    asset!("board.js", "text/javascript; charset=utf-8"),
    asset!("admin.html", "text/html; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Each asset's strong ETag, computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body.as_bytes());
                format!("\"{}\"", crate::secret::hex(&digest[..12]))
            })
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| a.name == asset.name)
        .expect("an asset of the table");
    &tags[index]
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = HeaderValue::from_static(etag(asset));
    let mut response = if none_match(request.get(header::IF_NONE_MATCH), &tag) {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(axum::body::Body::from(asset.body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, tag);
    // Revalidated on every load: a new binary's pages are picked up at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The files `GET /assets/{file}` serves (the pages themselves have their own routes).
pub fn served_assets() -> Vec<&'static str> {
    ASSETS
        .iter()
        .map(|a| a.name)
        .filter(|name| !name.ends_with(".html"))
        .collect()
}

fn named(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `GET /s/{shop}`: the customer's page (404 for a shop that does not exist).
pub async fn customer_page(_: ShopAccess, headers: HeaderMap) -> Response {
    serve(named("customer.html").expect("the page"), &headers)
}

/// `GET /s/{shop}/board`: the barista's board.
pub async fn board_page(_: ShopAccess, headers: HeaderMap) -> Response {
    serve(named("board.html").expect("the page"), &headers)
}

/// `GET /admin`: the operator's page (it asks for the admin token and speaks
/// the admin routes; the page itself holds nothing secret).
pub async fn admin_page(headers: HeaderMap) -> Response {
    serve(named("admin.html").expect("the page"), &headers)
}

/// `GET /favicon.ico`: the pages' icon (an SVG, which browsers take from any
/// path; the pages name it as `/assets/favicon.svg`), for the clients that ask
/// for it where it traditionally is.
pub async fn favicon(headers: HeaderMap) -> Response {
    serve(named("favicon.svg").expect("the icon"), &headers)
}

/// `GET /assets/{file}`: the pages' scripts and style.
pub async fn asset(PathOf(file): PathOf<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    named(&file)
        .filter(|a| !a.name.ends_with(".html"))
        .map(|a| serve(a, &headers))
        .ok_or_else(|| ApiError::not_found(format!("no asset `{file}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_load_only_their_own_assets_and_no_inline_script_or_style() {
        for page in ASSETS.iter().filter(|a| a.name.ends_with(".html")) {
            let body = page.body;
            assert!(!body.contains("<script>"), "{}: inline script", page.name);
            assert!(!body.contains("style="), "{}: inline style", page.name);
            assert!(!body.contains("<style"), "{}: inline style", page.name);
            let handler = body.split(" on").skip(1).any(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!handler, "{}: an inline event handler", page.name);
            for src in body
                .split("src=\"")
                .skip(1)
                .chain(body.split("href=\"").skip(1))
            {
                let url = &src[..src.find('"').unwrap()];
                if let Some(name) = url.strip_prefix("/assets/") {
                    assert!(
                        named(name).is_some(),
                        "{}: {url} is not an asset",
                        page.name
                    );
                } else {
                    assert!(
                        !url.contains("//"),
                        "{}: {url} is another origin",
                        page.name
                    );
                }
            }
        }
        for script in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            assert!(
                !script.body.contains("innerHTML"),
                "{}: text only",
                script.name
            );
            assert!(!script.body.contains("eval("), "{}", script.name);
        }
    }
}
