//! Helpers shared by the integration tests.

pub mod ansible;
pub mod booted;
pub mod fleet;
pub mod play;
pub mod postgres;
pub mod prometheus;
pub mod releases;
