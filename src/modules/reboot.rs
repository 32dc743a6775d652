//! `reboot`: the engine reboots the host and waits until it is back — its boot id changed
//! and a test command runs — as ansible-core's reboot action does (it is run by the engine,
//! which owns connections: see `engine/play/reboot.rs`). This file owns the arguments.

use std::time::Duration;

use serde::Deserialize;

use super::ModuleError;
use super::args::{self, Param, param};
use super::registry::{EngineArgs, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "reboot",
    summary: "Reboot the host and wait until it is back (its boot id changed and a test command runs).",
    params: PARAMS,
    ..Spec::engine::<Args>(Kind::Engine(Step::Reboot))
};

const PARAMS: &[Param] = &[
    param(
        "reboot_timeout",
        &["reboot_timeout_sec"],
        "Seconds to wait for the host to come back (each of the two checks), default 600.",
    ),
    param(
        "connect_timeout",
        &["connect_timeout_sec"],
        "Seconds one connection attempt may take while waiting (default: the run's).",
    ),
    param(
        "pre_reboot_delay",
        &["pre_reboot_delay_sec"],
        "Seconds before the reboot, given to shutdown in whole minutes, default 0.",
    ),
    param(
        "post_reboot_delay",
        &["post_reboot_delay_sec"],
        "Seconds to wait after the reboot command before checking, default 0.",
    ),
    param(
        "msg",
        &[],
        "Message shutdown shows to logged-in users, default `Reboot initiated by Ansible`.",
    ),
    param(
        "test_command",
        &[],
        "Command that must succeed once the host is back, default `whoami`.",
    ),
    param(
        "boot_time_command",
        &[],
        "Command whose output changes with each boot, default `cat /proc/sys/kernel/random/boot_id`.",
    ),
    param(
        "reboot_command",
        &[],
        "Command that reboots, default `shutdown -r <minutes> \"<msg>\"` (`reboot` on Alpine); a bare name is looked for in `search_paths`.",
    ),
    param(
        "search_paths",
        &[],
        "Directories to look for the reboot command in, default /sbin /bin /usr/sbin /usr/bin /usr/local/sbin.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(
        default,
        alias = "reboot_timeout_sec",
        deserialize_with = "args::opt_seconds"
    )]
    reboot_timeout: Option<Duration>,
    #[serde(
        default,
        alias = "connect_timeout_sec",
        deserialize_with = "args::opt_seconds"
    )]
    connect_timeout: Option<Duration>,
    #[serde(
        default,
        alias = "pre_reboot_delay_sec",
        deserialize_with = "args::opt_number"
    )]
    pre_reboot_delay: Option<f64>,
    #[serde(
        default,
        alias = "post_reboot_delay_sec",
        deserialize_with = "args::opt_number"
    )]
    post_reboot_delay: Option<f64>,
    #[serde(default, deserialize_with = "args::opt_text")]
    msg: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    test_command: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    boot_time_command: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    reboot_command: Option<String>,
    #[serde(default, deserialize_with = "args::list")]
    search_paths: Vec<String>,
}

impl EngineArgs for Args {
    fn check(&self) -> Result<(), String> {
        for (n, v) in [
            ("pre_reboot_delay", self.pre_reboot_delay),
            ("post_reboot_delay", self.post_reboot_delay),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v > 86_400.0) {
                return Err(format!("{n} must be a number of seconds up to a day"));
            }
        }
        Ok(())
    }
}

/// The rendered arguments, with ansible-core's defaults.
pub struct Rebooting {
    pub reboot_timeout: Duration,
    pub connect_timeout: Option<Duration>,
    /// Whole seconds, negative values made 0 (as ansible-core's `_check_delay`).
    pub pre_reboot_delay: u64,
    pub post_reboot_delay: u64,
    pub msg: String,
    pub test_command: String,
    pub boot_time_command: String,
    pub reboot_command: Option<String>,
    pub search_paths: Vec<String>,
}

pub fn rebooting(args: &Vars) -> Result<Rebooting, ModuleError> {
    let bad = |message| ModuleError::Args {
        module: SPEC.name,
        message,
    };
    let a = args::parse::<Args>(SPEC.params, args).map_err(bad)?;
    a.check().map_err(bad)?;
    let secs = |v: Option<f64>| v.map_or(0, |v| if v < 0.0 { 0 } else { v as u64 });
    Ok(Rebooting {
        reboot_timeout: a.reboot_timeout.unwrap_or(Duration::from_secs(600)),
        connect_timeout: a.connect_timeout.filter(|d| !d.is_zero()),
        pre_reboot_delay: secs(a.pre_reboot_delay),
        post_reboot_delay: secs(a.post_reboot_delay),
        msg: a
            .msg
            .unwrap_or_else(|| "Reboot initiated by Ansible".into()),
        test_command: a.test_command.unwrap_or_else(|| "whoami".into()),
        boot_time_command: a
            .boot_time_command
            .unwrap_or_else(|| "cat /proc/sys/kernel/random/boot_id".into()),
        reboot_command: a.reboot_command,
        search_paths: if a.search_paths.is_empty() {
            ["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            a.search_paths
        },
    })
}
