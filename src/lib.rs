//! olympus: agentless, Ansible-compatible fleet orchestration.
//!
//! The library is the product; `src/main.rs` is a thin command-line shell over it.
//! Data flows one way: parse → plan → execute → report.

pub mod app;
pub mod bounds;
pub mod config;
pub mod connection;
pub mod engine;
pub mod exit;
pub mod fnmatch;
pub mod heal;
pub mod inventory;
pub mod limits;
pub mod modules;
pub mod output;
pub mod playbook;
pub mod pyrepr;
pub mod shard;
pub mod state;
pub mod stop;
pub mod suggest;
pub mod template;
pub mod vault;
pub mod yaml;
