//! `olympus exec` as a library call: one shell command on every host a pattern selects.
//!
//! Owns: selecting the hosts, running the command on them, and writing the results (text
//! blocks or JSON lines) with a summary. Must not: read the command line or a terminal.

use std::io::Write;
use std::time::Duration;

use super::setup::{self, Connection, Sources};
use crate::engine::adhoc::{self, AdhocRequest};
use crate::exit::{Error, Outcome};
use crate::output;
use crate::stop::Stop;

/// How the results are written.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    /// Blocks for people; identical results folded together unless `fold` is false.
    Text { color: bool, fold: bool },
    /// One JSON object per host per line.
    Json,
}

pub struct ExecRequest {
    /// Which hosts: a host pattern.
    pub pattern: String,
    /// The command, given to `/bin/sh -c` on each host.
    pub command: String,
    pub sources: Sources,
    pub connection: Connection,
    /// Give up on a host's command after this long.
    pub timeout: Option<Duration>,
    pub report: Report,
    /// Only list the hosts the pattern selects.
    pub list_hosts: bool,
    /// A progress display (a terminal's bar).
    pub progress: Option<std::sync::Arc<dyn Progress>>,
    /// Where the summary line goes: `true` to stderr (a terminal), else the log.
    pub summary_to_stderr: bool,
    pub stop: Stop,
    /// Raise `stop` on SIGINT/SIGTERM.
    pub on_signals: bool,
}

/// Told how far the command has got.
pub trait Progress: Send + Sync {
    /// The command starts on this many hosts.
    fn start(&self, hosts: usize);
    /// One more host finished.
    fn host_done(&self);
    /// Every host finished; the results are about to be written.
    fn finish(&self);
}

pub fn exec(req: ExecRequest) -> Result<Outcome, Error> {
    let inv = req.sources.load()?;
    let limit = req.sources.limit()?;
    let selection = inv
        .select(&req.pattern, limit.as_deref())
        .map_err(|e| Error::BadInput(e.to_string()))?;
    for p in &selection.unmatched {
        tracing::warn!("could not match host pattern '{p}', ignoring it");
    }
    if req.list_hosts {
        println!("  hosts ({}):", selection.hosts.len());
        for h in &selection.hosts {
            println!("    {}", h.name);
        }
        return Ok(Outcome::Ok);
    }
    if selection.hosts.is_empty() {
        tracing::warn!("no hosts matched '{}', nothing to do", req.pattern);
        return Ok(Outcome::Ok);
    }
    let names = selection.hosts.iter().map(|h| h.name.as_str());
    let targets = crate::engine::targets(
        &inv,
        names,
        &req.connection.defaults,
        &req.connection.options,
    )
    .map_err(|e| Error::BadInput(e.to_string()))?;
    let budget = crate::limits::raise_open_files();
    let forks = req.connection.forks;
    if forks.min(targets.len()) as u64 > budget {
        return Err(Error::BadInput(crate::limits::too_many(
            forks.min(targets.len()),
            budget,
            crate::limits::Need::Forks,
        )));
    }
    let adhoc_req = AdhocRequest {
        command: req.command.clone(),
        forks,
        timeout: req.timeout,
        escalation: req.connection.escalation.clone(),
    };
    let runtime = setup::runtime()?;
    // SIGINT/SIGTERM stop the remote commands too (see the stop module).
    let mut opts = req.connection.options.clone();
    opts.stop = Some(req.stop.clone());
    if req.on_signals {
        runtime.spawn(crate::stop::on_signals(req.stop.clone()));
    }
    if let Some(p) = &req.progress {
        p.start(targets.len());
    }
    let progress = req.progress.clone();
    let results = runtime.block_on(adhoc::run(targets, &adhoc_req, &opts, move |_| {
        if let Some(p) = &progress {
            p.host_done();
        }
    }));
    if let Some(p) = &req.progress {
        p.finish();
    }
    let mut out = std::io::stdout().lock();
    let written = match req.report {
        Report::Json => out.write_all(output::exec::render_json(&results).as_bytes()),
        Report::Text { color, fold } => {
            let blocks = if fold {
                output::exec::fold(&results)
            } else {
                output::exec::unfolded(&results)
            };
            out.write_all(&output::exec::render_text(&blocks, color))
        }
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| Error::Internal(format!("cannot write the results: {e}")))?;
    let summary = output::exec::summary(&results);
    if req.summary_to_stderr {
        eprintln!("{summary}");
    } else {
        tracing::info!("{summary}");
    }
    if req.stop.is_raised() {
        return Ok(Outcome::Interrupted);
    }
    Ok(output::exec::outcome(&results))
}
