//! `GET /healthz`: 200 once the server is ready (the store is open and the socket listening).

use axum::Json;
use serde_json::{Value, json};

pub async fn handle() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
