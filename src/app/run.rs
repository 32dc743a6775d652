//! `olympus run` as a library call: a [`RunRequest`] (playbooks, inventory, options, how to
//! report, a [`Stop`] that cancels it) to an [`Outcome`].
//!
//! Owns: the run's steps — playbooks read and checked (every problem at once), the
//! listings (`--syntax-check`, `--list-hosts`, `--list-tasks`), `-e` and `vars_prompt`
//! answers, the hosts checked, the runner and its reporters. Must not: read the command
//! line or a terminal (prompts are the caller's [`Prompter`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::setup::{self, Connection, Sources};
use crate::engine::events::{Counters, Reporter};
use crate::engine::play::{self, RunOptions, Runner};
use crate::exit::{Error, Outcome};
use crate::output;
use crate::state::Store;
use crate::stop::{Halt, Stop};

/// How the run reports.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    /// Ansible-style lines on stdout; a live bar per task on stderr when `progress`;
    /// banners as wide as a terminal `width` columns wide (0: not a terminal, 79).
    Text {
        color: bool,
        progress: bool,
        width: usize,
    },
    /// One JSON document on stdout.
    Json,
    /// Nothing on stdout: the caller reads the [`Ran`] it gets back (a run started by code).
    Silent,
}

/// What a run came to: the outcome, and every host's recap counters over all its playbooks.
#[derive(Debug, Clone)]
pub struct Ran {
    pub outcome: Outcome,
    pub recap: BTreeMap<String, Counters>,
}

/// What to list instead of running.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listing {
    pub syntax_check: bool,
    pub hosts: bool,
    pub tasks: bool,
}

/// Everything a run needs.
pub struct RunRequest {
    pub playbooks: Vec<PathBuf>,
    pub sources: Sources,
    /// Where roles are looked for after `roles/` beside each playbook.
    pub roles_path: Vec<PathBuf>,
    /// ansible.cfg's `gathering = explicit`.
    pub gather_explicit: bool,
    pub listing: Listing,
    pub check: bool,
    pub diff: bool,
    /// `-e` values as written (`k=v`, YAML/JSON, `@FILE`).
    pub extra_vars: Vec<String>,
    /// Extra variables that are data, never rendered as templates (monitoring values given
    /// by `heal`); they outrank `extra_vars`.
    pub data_vars: crate::yaml::Vars,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub force_handlers: bool,
    pub start_at_task: Option<String>,
    pub connection: Connection,
    pub report: Report,
    /// Also write a JUnit XML report there.
    pub junit: Option<PathBuf>,
    /// Also write the run report (one HTML page) there when the run ends.
    pub report_html: Option<PathBuf>,
    /// After the recap, the slowest tasks and hosts (`--profile`): on stdout after text
    /// output, on stderr after JSON.
    pub profile: bool,
    /// `-v` count.
    pub verbosity: u8,
    /// Raised, the run stops (its remote commands too) and the outcome is `Interrupted`.
    pub stop: Stop,
    /// Raise `stop` on SIGINT/SIGTERM (a command line's run; not a run started by `heal`).
    pub on_signals: bool,
    /// The kill switch the run obeys; `None`: none.
    pub kill_switch: Option<KillSwitch>,
    /// `--shard I/N`: only this shard's hosts of each play (`crate::shard`).
    pub shard: Option<crate::shard::Shard>,
}

/// The kill switch a run obeys: engaged when the run starts, the run is refused
/// ([`Error::Locked`]) unless overridden; engaged while it runs, no task starts after the
/// store says so (the running ones finish) and the outcome is [`Outcome::Halted`].
pub struct KillSwitch {
    pub store: Arc<dyn Store>,
    /// `--override-lock`: run anyway (recorded in the store) and do not watch the lock.
    pub override_lock: bool,
    /// How often the store is read while the run goes on.
    pub poll: Duration,
}

/// One `vars_prompt` entry, for the caller to answer.
pub struct Prompt<'a> {
    pub name: &'a str,
    pub text: &'a str,
    pub private: bool,
    pub default: Option<&'a str>,
}

/// Answers `vars_prompt` entries `-e` does not (on a terminal; `None`: no answer).
pub trait Prompter {
    fn ask(&self, prompt: &Prompt<'_>) -> Option<String>;
}

/// Runs the playbooks of `req`, in order (a stopped or interrupted one ends the run).
pub fn run(req: RunRequest, prompter: Option<&dyn Prompter>) -> Result<Ran, Error> {
    // Every problem of every playbook is reported at once: what the parser refused and
    // what preflight finds in the rest.
    let mut books = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for p in &req.playbooks {
        match crate::playbook::load_partial(p, &req.roles_path) {
            Ok((pb, errors)) => {
                problems.extend(errors.iter().map(ToString::to_string));
                if let Err(e) = crate::engine::preflight::check(&pb) {
                    match e {
                        play::RunError::Many(all) => {
                            problems.extend(all.iter().map(ToString::to_string))
                        }
                        one => problems.push(one.to_string()),
                    }
                }
                books.push(pb);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some(shard) = req.shard {
        problems.extend(
            crate::shard::check(&books, shard)
                .iter()
                .map(ToString::to_string),
        );
    }
    match problems.len() {
        0 => {}
        1 => return Err(Error::BadInput(problems.remove(0))),
        n => {
            return Err(Error::BadInput(format!(
                "{n} problems:\n{}",
                problems.join("\n")
            )));
        }
    }
    if req.listing.syntax_check {
        for p in &req.playbooks {
            println!("playbook: {}", p.display());
        }
        return Ok(Ran::listed());
    }
    let inv = Arc::new(req.sources.load()?);
    let limit = req.sources.limit()?;
    let mut extra_vars = crate::yaml::Vars::new();
    for e in &req.extra_vars {
        let v =
            play::parse_extra_vars(e).map_err(|err| Error::BadInput(format!("-e {e}: {err}")))?;
        extra_vars.extend(v);
    }
    for (k, v) in &req.data_vars {
        let mut v = v.clone();
        crate::yaml::unsafe_value(&mut v);
        extra_vars.insert(k.clone(), v);
    }
    // vars_prompt: the caller asks, unless -e already answers.
    if let Some(prompter) = prompter {
        for pb in &books {
            for p in &pb.plays {
                for entry in &p.vars_prompt {
                    let Some(name) = play::prompt_name(entry) else {
                        continue;
                    };
                    if extra_vars.contains_key(&name) {
                        continue;
                    }
                    let text = |k: &str| {
                        entry.get(k).map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        })
                    };
                    let shown = text("prompt").unwrap_or_else(|| name.clone());
                    let private = entry
                        .get("private")
                        .map(crate::template::ansible_bool)
                        .unwrap_or(true);
                    let default = text("default");
                    let answer = prompter.ask(&Prompt {
                        name: &name,
                        text: &shown,
                        private,
                        default: default.as_deref(),
                    });
                    let answer = match (answer, default) {
                        (Some(a), Some(d)) if a.is_empty() => d,
                        (Some(a), _) => a,
                        (None, Some(d)) => d,
                        (None, None) => String::new(),
                    };
                    extra_vars.insert(name, Value::from(answer));
                }
            }
        }
    }
    if req.listing.hosts || req.listing.tasks {
        return list(&req, &books, &inv, &extra_vars, limit.as_deref()).map(|()| Ran::listed());
    }
    crate::engine::targets::check(&inv, &books, &extra_vars, limit.as_deref())
        .map_err(|e| Error::BadInput(e.to_string()))?;
    let halt = match &req.kill_switch {
        Some(ks) => obey(ks, &req.playbooks)?,
        None => None,
    };
    let mut connect = req.connection.options.clone();
    connect.stop = Some(req.stop.clone());
    let opts = RunOptions {
        check: req.check,
        diff: req.diff,
        forks: req.connection.forks,
        extra_vars,
        limit,
        tags: req.tags.clone(),
        skip_tags: req.skip_tags.clone(),
        force_handlers: req.force_handlers,
        start_at_task: req.start_at_task.clone(),
        connect,
        defaults: req.connection.defaults.clone(),
        escalation: req.connection.escalation.clone(),
        connection_budget: Some(crate::limits::raise_open_files()),
        verbosity: req.verbosity,
        gather_explicit: req.gather_explicit,
        halt: halt.clone(),
        shard: req.shard,
    };
    let runtime = setup::runtime()?;
    let text_reporter;
    let json_reporter;
    let reporter: &dyn Reporter = match req.report {
        Report::Text {
            color,
            progress,
            width,
        } => {
            text_reporter =
                output::play::TextReporter::new(std::io::stdout(), color, req.verbosity)
                    .with_progress(progress)
                    .with_width(width);
            &text_reporter
        }
        Report::Json => {
            json_reporter =
                output::play::JsonReporter::new(std::io::stdout()).with_shard(req.shard);
            &json_reporter
        }
        Report::Silent => &crate::engine::events::Silent,
    };
    let junit = req.junit.clone().map(output::play::JunitReporter::new);
    // The report page is made from the same JSON `--output json` writes, kept in memory.
    let recorded = SharedBuf::default();
    let recorder = req
        .report_html
        .as_ref()
        .map(|_| output::play::JsonReporter::new(recorded.clone()));
    let profile: Option<output::profile::ProfileReporter<Box<dyn std::io::Write + Send>>> =
        req.profile.then(|| {
            let out: Box<dyn std::io::Write + Send> = match req.report {
                Report::Text { .. } => Box::new(std::io::stdout()),
                Report::Json | Report::Silent => Box::new(std::io::stderr()),
            };
            output::profile::ProfileReporter::new(out)
        });
    let mut all: Vec<&dyn Reporter> = vec![reporter];
    if let Some(p) = &profile {
        all.push(p);
    }
    if let Some(j) = &junit {
        all.push(j);
    }
    if let Some(r) = &recorder {
        all.push(r);
    }
    let tee = output::play::Tee(all);
    let reporter: &dyn Reporter = &tee;
    if req.on_signals {
        runtime.spawn(crate::stop::on_signals(req.stop.clone()));
    }
    if let (Some(halt), Some(ks)) = (halt, &req.kill_switch) {
        runtime.spawn(watch(ks.store.clone(), ks.poll, halt, req.stop.clone()));
    }
    let mut ran = Ran::listed();
    for pb in &books {
        let runner = Runner::new(inv.clone(), &opts, reporter, &pb.path);
        let result = runtime
            .block_on(runner.run(pb))
            .map_err(|e| Error::BadInput(e.to_string()))?;
        ran.outcome = ran.outcome.max(result.outcome());
        for (host, c) in &result.recap {
            ran.recap.entry(host.clone()).or_default().add(c);
        }
        if result.aborted || result.interrupted {
            break;
        }
    }
    drop(tee);
    // Dropped, the recorder ends a document cut short too.
    drop(recorder);
    if let Some(out) = &req.report_html {
        let run = super::report::merge(&recorded.take())?;
        super::report::write(out, Some(&run), None)?;
    }
    Ok(ran)
}

/// A `Write` whose bytes the caller takes afterwards (the run report's JSON).
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Refuses the run when the kill switch is engaged, unless overridden (then recorded); the
/// halt switch to watch the lock with, when it is to be watched.
fn obey(ks: &KillSwitch, playbooks: &[PathBuf]) -> Result<Option<Halt>, Error> {
    let state = |e: crate::state::StateError| {
        Error::Locked(format!(
            "cannot read the kill switch, so nothing runs: {e}\n  hint: --state-dir or OLYMPUS_STATE_DIR names another state directory"
        ))
    };
    let held = ks.store.lock().map_err(state)?;
    if ks.override_lock {
        if let Some(lock) = held {
            let books: Vec<String> = playbooks.iter().map(|p| p.display().to_string()).collect();
            ks.store
                .record_override(&crate::state::who(), &format!("run {}", books.join(" ")))
                .map_err(state)?;
            tracing::warn!(
                "the kill switch is {}; running anyway (--override-lock, recorded)",
                lock.describe()
            );
        }
        return Ok(None);
    }
    match held {
        Some(lock) => Err(Error::Locked(format!(
            "the kill switch is {}; nothing was run\n  hint: `olympus unlock` releases it, or `olympus run --override-lock` runs anyway (recorded)",
            lock.describe()
        ))),
        None => Ok(Some(Halt::new())),
    }
}

/// Reads the lock every `poll` until the run ends; engaged (or unreadable: a kill switch
/// fails closed), raises `halt` with why.
async fn watch(store: Arc<dyn Store>, poll: Duration, halt: Halt, stop: Stop) {
    while stop.sleep(poll).await {
        let s = store.clone();
        let why = match tokio::task::spawn_blocking(move || s.lock()).await {
            Ok(Ok(None)) => continue,
            Ok(Ok(Some(lock))) => lock.describe(),
            Ok(Err(e)) => format!("the kill switch cannot be read: {e}"),
            Err(e) => format!("the kill switch cannot be read: {e}"),
        };
        tracing::warn!("halting the run: {why}");
        halt.raise(why);
        return;
    }
}

impl Ran {
    /// A listing's result: nothing ran.
    fn listed() -> Ran {
        Ran {
            outcome: Outcome::Ok,
            recap: BTreeMap::new(),
        }
    }
}

/// `--list-hosts` / `--list-tasks`, as ansible-playbook prints them.
fn list(
    req: &RunRequest,
    books: &[crate::playbook::Playbook],
    inv: &crate::inventory::Inventory,
    extra_vars: &crate::yaml::Vars,
    limit: Option<&[String]>,
) -> Result<(), Error> {
    for pb in books {
        println!("\nplaybook: {}", pb.path.display());
        for (i, p) in pb.plays.iter().enumerate() {
            let name = p.name.clone().unwrap_or_else(|| p.hosts.clone());
            println!(
                "\n  play #{} ({}): {name}\tTAGS: [{}]",
                i + 1,
                p.hosts,
                p.common.tags.join(", ")
            );
            if req.listing.hosts {
                let pattern = play::host_pattern(&crate::template::Templar::new(), p, extra_vars)
                    .map_err(|e| Error::BadInput(e.to_string()))?;
                let mut sel = inv
                    .select(&pattern, limit)
                    .map_err(|e| Error::BadInput(e.to_string()))?;
                if let Some(shard) = req.shard {
                    sel.hosts.retain(|h| shard.holds(&h.name));
                }
                println!("    hosts ({}):", sel.hosts.len());
                for h in &sel.hosts {
                    println!("      {}", h.name);
                }
            }
            if req.listing.tasks {
                println!("    tasks:");
                for (n, tags) in play::task_names(p, &req.tags, &req.skip_tags) {
                    println!("      {n}\tTAGS: [{}]", tags.join(", "));
                }
            }
        }
    }
    Ok(())
}
