//! How a command ends: an [`Outcome`] when it did its work (whatever happened on the
//! hosts), an [`Error`] when it could not, and the one rule that turns either into the
//! process's exit code ([`code`]).
//!
//! Owns: the exit codes. Must not: print (the caller reports the error's text).

/// Everything went as asked.
pub const OK: i32 = 0;
/// An internal error: a bug in olympus or an environment problem it cannot name better.
pub const INTERNAL: i32 = 1;
/// A command or task failed on some host.
pub const FAILED: i32 = 2;
/// Bad input: a file that does not parse, an unknown option or pattern error.
pub const BAD_INPUT: i32 = 3;
/// Some host could not be reached (outranks FAILED).
pub const UNREACHABLE: i32 = 4;
/// A play was stopped by `any_errors_fatal` or `max_fail_percentage` (outranks both).
pub const STOPPED: i32 = 8;
/// The kill switch is engaged: the run was refused, or halted at a task boundary.
pub const HALTED: i32 = 5;
/// The run was interrupted (SIGINT/SIGTERM), as Ansible's user interrupt.
pub const INTERRUPTED: i32 = 99;

/// What a run or an ad-hoc command came to, most serious last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// A task or command failed on some host.
    Failed,
    /// Some host could not be reached.
    Unreachable,
    /// `max_fail_percentage` or `any_errors_fatal` stopped a play.
    Stopped,
    /// The kill switch halted the run at a task boundary.
    Halted,
    /// SIGINT or SIGTERM stopped the run.
    Interrupted,
}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input: a file, an option, a pattern, a password source.
    #[error("{0}")]
    BadInput(String),
    /// An environment problem or a bug.
    #[error("{0}")]
    Internal(String),
    /// The kill switch is engaged: the run was refused before any host was touched.
    #[error("{0}")]
    Locked(String),
}

/// The process's exit code for a command's result: the one place exit codes are decided.
pub fn code(result: &Result<Outcome, Error>) -> i32 {
    match result {
        Ok(Outcome::Ok) => OK,
        Ok(Outcome::Failed) => FAILED,
        Ok(Outcome::Unreachable) => UNREACHABLE,
        Ok(Outcome::Stopped) => STOPPED,
        Ok(Outcome::Halted) | Err(Error::Locked(_)) => HALTED,
        Ok(Outcome::Interrupted) => INTERRUPTED,
        Err(Error::BadInput(_)) => BAD_INPUT,
        Err(Error::Internal(_)) => INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_serious_outcome_wins() {
        let worst = [Outcome::Failed, Outcome::Unreachable, Outcome::Ok]
            .into_iter()
            .max();
        assert_eq!(worst, Some(Outcome::Unreachable));
        assert!(Outcome::Interrupted > Outcome::Halted);
        assert!(Outcome::Halted > Outcome::Stopped);
        assert_eq!(code(&Ok(Outcome::Halted)), 5);
        assert_eq!(code(&Err(Error::Locked("x".into()))), 5);
        assert_eq!(code(&Ok(Outcome::Stopped)), 8);
        assert_eq!(code(&Err(Error::BadInput("x".into()))), 3);
    }
}
