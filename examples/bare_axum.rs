//! A bare axum server that accepts a POST and answers 201 with a small JSON body, doing
//! nothing else: the reference `tools/bench-http` measures `tlog serve` against, on the same
//! machine in the same run.
//!
//! `cargo run --example bare_axum -- 127.0.0.1:18081`

use axum::routing::post;
use axum::Router;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let app = Router::new().route(
        "/v1/events",
        post(|body: axum::body::Bytes| async move {
            (
                axum::http::StatusCode::CREATED,
                format!("{{\"index\":0,\"bytes\":{}}}", body.len()),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("bare axum on http://{addr}/");
    axum::serve(listener, app).await.expect("serve");
}
