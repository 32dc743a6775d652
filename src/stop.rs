//! A run's stop switch: raised once (by SIGINT/SIGTERM, or by a caller that wants a run to
//! end), seen by everything that waits.
//!
//! Owns: the switch and the ways to look at it — raised yet, or wait until it is.
//! Must not: decide what stopping means; the engine stops starting work, connections stop
//! their running commands, the caller decides the exit code.

use std::sync::Arc;

use tokio::sync::watch;

/// Cheap to clone; every clone sees the same switch.
#[derive(Clone, Debug)]
pub struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        Stop(Arc::new(watch::Sender::new(false)))
    }

    /// Raises the switch (again is harmless).
    pub fn raise(&self) {
        self.0.send_replace(true);
    }

    pub fn is_raised(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the switch is raised (at once if it already is).
    pub async fn raised(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Sleeps for `d`, or less when the switch is raised meanwhile; true when it slept fully.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.raised() => false,
        }
    }
}

/// Raises `stop` on the process's first SIGINT or SIGTERM; a second one exits at once with
/// code 99 (Ansible's user-interrupt code). Spawn it on the runtime that runs the work.
pub async fn on_signals(stop: Stop) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!(
            "cannot watch for SIGINT/SIGTERM: an interrupt will not stop remote commands"
        );
        return;
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        if stop.is_raised() {
            tracing::error!("{name} again: exiting at once");
            std::process::exit(99);
        }
        tracing::warn!(
            "{name}: stopping the run — running commands are being stopped; send it again to exit at once"
        );
        stop.raise();
    }
}

/// A run's halt switch, softer than [`Stop`]: raised (by the kill switch), no new task,
/// handler, batch or play starts, and what is running finishes. It carries why.
#[derive(Clone, Debug, Default)]
pub struct Halt(Arc<std::sync::OnceLock<String>>);

impl Halt {
    pub fn new() -> Halt {
        Halt::default()
    }

    /// Raises the switch with its reason (the first reason stays).
    pub fn raise(&self, why: impl Into<String>) {
        let _ = self.0.set(why.into());
    }

    /// Why it was raised, once it is.
    pub fn why(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Waits for the switch when there is one; never completes otherwise.
pub async fn raised(stop: Option<&Stop>) {
    match stop {
        Some(s) => s.raised().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_halt_keeps_its_first_reason() {
        let halt = Halt::new();
        let seen = halt.clone();
        assert_eq!(seen.why(), None);
        halt.raise("engaged by a");
        halt.raise("engaged by b");
        assert_eq!(seen.why(), Some("engaged by a"));
    }

    #[tokio::test]
    async fn raising_wakes_every_waiter_and_cuts_sleeps() {
        let stop = Stop::new();
        let other = stop.clone();
        let waiter = tokio::spawn(async move { other.raised().await });
        assert!(!stop.is_raised());
        stop.raise();
        waiter.await.expect("waiter");
        assert!(stop.is_raised());
        // Already raised: no wait.
        assert!(!stop.sleep(std::time::Duration::from_secs(3600)).await);
        stop.raised().await;
    }
}
