//! The HTTP layer under the endpoints: shared state, who calls (upload tokens), request ids and
//! error bodies, reading and draining request bodies within SPEC.md's limits, CORS, the demo page
//! and health, and the serve loop (connections, timeouts, shutdown). It knows no endpoint; `api/` uses it, and `router.rs` puts both together.

pub mod auth;
pub mod body;
pub mod client_address;
pub mod cors;
pub mod drain;
pub mod health;
pub mod public_origin;
pub mod request_id;
pub mod serve;
mod state;
pub mod static_files;

pub use state::AppState;
