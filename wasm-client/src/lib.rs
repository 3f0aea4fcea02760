//! partup
pub mod progress;
pub mod retry;
pub mod slicing;
