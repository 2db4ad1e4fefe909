//! The dashboard's two assets, embedded in the binary: htmx 4.0.1 (npm
//! `htmx.org`, BSD-0, vendored as shipped) and one stylesheet. Each is
//! served under a name that holds its content's hash, so it can be cached
//! for a year: a new build with a changed file has a new name.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderValue, StatusCode, header};

const HTMX: &[u8] = include_bytes!("../../assets/htmx-4.0.1.min.js");
const CSS: &[u8] = include_bytes!("../../assets/dashboard.css");

struct Asset {
    name: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

fn named(stem: &str, ext: &str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let hash = authgate_core::hash::hex(&authgate_core::hash::sha256(bytes));
    Asset {
        name: format!("{stem}.{}.{ext}", &hash[..16]),
        bytes,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        named("htmx-4.0.1", "js", HTMX, "text/javascript; charset=utf-8"),
        named("dashboard", "css", CSS, "text/css; charset=utf-8"),
    ]
});

/// The hashed name of htmx.
pub fn htmx() -> &'static str {
    &ASSETS[0].name
}

/// The hashed name of the stylesheet.
pub fn css() -> &'static str {
    &ASSETS[1].name
}

/// `GET /admin/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut resp = asset.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
