//! The C2SP tlog-tiles read API: `/checkpoint`, `/tile/<L>/<N>[.p/<W>]`,
//! `/tile/entries/<N>[.p/<W>]`.
//!
//! Hash tiles of level `L` are the stored hash chunks of tree level `8L` (see
//! `log::layout`), so a tile is one key read. Full tiles never change and are served with
//! immutable cache headers; partial tiles and the checkpoint change as the log grows.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::Shared;
use crate::core::hash::HASH_SIZE;
use crate::core::tiles::{encode_entry_bundle, parse_entry_bundle, TilePath, TILE_WIDTH};

/// Cache header of full tiles and bundles.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache header of partial tiles.
const SHORT: &str = "public, max-age=5";
/// Cache header of the checkpoint.
const CHECKPOINT_CACHE: &str = "no-cache, max-age=1";

fn bytes_response(body: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /checkpoint`: the latest signed checkpoint note.
pub async fn checkpoint(
    State(st): State<Shared>,
    cosigned: Option<axum::Extension<crate::witness::client::CosignedView>>,
) -> Result<Response, ApiError> {
    let cp = match cosigned {
        // With witnesses: the latest checkpoint published with its cosignatures.
        Some(v) => v
            .latest()
            .ok_or_else(|| ApiError::not_found("no checkpoint has been cosigned yet"))?,
        None => st
            .log
            .latest_checkpoint()
            .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?,
    };
    Ok(bytes_response(
        cp.note.clone(),
        "text/plain; charset=utf-8",
        CHECKPOINT_CACHE,
    ))
}

/// `GET /tile/...`: a hash tile or an entry bundle.
pub async fn tile(
    State(st): State<Shared>,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    let full_path = format!("tile/{rest}");
    let t = TilePath::parse(&full_path)
        .map_err(|e| ApiError::bad_request(format!("{full_path}: {e}")))?;
    let width = t.width() as usize;
    let full = width == TILE_WIDTH as usize;
    let cache = if full { IMMUTABLE } else { SHORT };
    let missing = || ApiError::not_found(format!("{full_path} does not exist (yet)"));
    match t.tree_level() {
        Some(tree_level) => {
            let chunk = st
                .log
                .hash_chunk(tree_level, t.index())?
                .ok_or_else(missing)?;
            let want = width * HASH_SIZE;
            if chunk.len() < want {
                return Err(missing());
            }
            // A full chunk is the full tile; a partial tile is its first W hashes.
            Ok(bytes_response(
                chunk[..want].to_vec(),
                "application/octet-stream",
                cache,
            ))
        }
        None => {
            let bundle = st.log.entry_bundle(t.index())?.ok_or_else(missing)?;
            let leaves = parse_entry_bundle(&bundle).map_err(|e| {
                ApiError::from(crate::log::LogError::Corrupt(format!(
                    "entry bundle {}: {e}",
                    t.index()
                )))
            })?;
            if leaves.len() < width {
                return Err(missing());
            }
            let body = if leaves.len() == width {
                bundle
            } else {
                encode_entry_bundle(&leaves[..width])
                    .map_err(|e| ApiError::from(crate::log::LogError::Internal(e.to_string())))?
            };
            Ok(bytes_response(body, "application/octet-stream", cache))
        }
    }
}
