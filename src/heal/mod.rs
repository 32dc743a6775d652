//! `olympus heal`: monitoring says what is wrong where, rules decide which playbook runs on
//! which hosts, guards keep automation from taking the fleet down.
//!
//! Owns: the rules file ([`rules`]), reading sources ([`source`]) and the decisions
//! ([`decide`]). Must not: run playbooks or keep state itself (the `app` layer runs the
//! actions through `app::run`, and `state` remembers).

pub mod decide;
pub mod rules;
pub mod source;
