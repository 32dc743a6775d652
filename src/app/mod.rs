//! The commands as a library: each subcommand's work from a request to an
//! [`crate::exit::Outcome`], so that the CLI, and `heal` later, start runs the same way.
//!
//! Owns: putting a command together from its request (inventory, vault, connections,
//! reporters, the async runtime) and running it. Must not: parse the command line or ask
//! anything on a terminal (the caller answers prompts, through [`run::Prompter`]).

pub mod exec;
pub mod heal;
pub mod inventory;
pub mod lock;
pub mod notify;
pub mod report;
pub mod run;
pub mod schedule;
pub mod setup;

pub use crate::exit::{Error, Outcome};
