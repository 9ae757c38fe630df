//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of the JSON API (`spec/api.md`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The OpenAPI document, kept beside the code it describes.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    let mut r = OPENAPI_JSON.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
