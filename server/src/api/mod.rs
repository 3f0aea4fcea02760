//! The HTTP endpoints, one file each, plus `request_body.rs` for reading bodies within SPEC.md's
//! limits. Handlers validate input, call the `Store`, and answer SPEC.md's JSON; they know nothing of
//! where bytes are kept.

pub mod demo_page;
pub mod drain;
pub mod health;
pub mod list_parts;
pub mod objects;
pub mod request_body;
pub mod upload_abort;
pub mod upload_complete;
pub mod upload_init;
pub mod upload_part;
