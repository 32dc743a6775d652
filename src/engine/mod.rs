//! Running work on many hosts: concurrency limits (forks), and later strategies, batches
//! (`serial`) and failure policy.
//!
//! Owns: deciding what runs where and when, and collecting results. Must not: print
//! (it reports progress through callbacks) or know how a connection is made.

pub mod adhoc;
