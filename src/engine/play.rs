//! Running playbooks: the play walker — plays, batches (`serial`), task lists, blocks with
//! rescue and always, includes, `meta`, handlers, tags, failure policy
//! (`max_fail_percentage`, `any_errors_fatal`), and the recap counters Ansible keeps.
//! One task on one host is `item.rs`; a host's variables `vars.rs`; loop items `loops.rs`;
//! connections and become `conns.rs`; what the command line lists `listing.rs`.
//!
//! Hosts run a task concurrently (at most `forks` at a time) over one connection each,
//! opened ahead of need when a batch starts and reused for the rest of the run. Before a
//! task's commands go out, hosts' variables, conditions and arguments are prepared on rayon's
//! threads (templating is the engine's CPU work); the tokio side only waits on hosts.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use indexmap::IndexSet;
use serde_json::Value;

use super::events::{Counters, Event, HostOutcome, Reporter, Status};
use crate::connection::{
    ConnectOptions, Connection, ConnectionError, Escalation, EscalationMethod, ExecRequest,
    HostDefaults, Target, Transport,
};
use crate::inventory::Inventory;
use crate::modules::meta::Action as MetaAction;
use crate::modules::registry::{Output, Step};
use crate::modules::{self, ModuleCtx, ModuleResult, Plan, Spec};
use crate::playbook::{Action, Common, Loop, Play, Playbook, Task};
use crate::stop::Stop;
use crate::template::{self, HostVars, Templar, TemplateVars};
use crate::yaml::Vars;

mod conns;
mod include;
mod inventory;
mod item;
mod listing;
mod loops;
mod reboot;
mod vars;

use conns::ConnSlot;
use item::{ItemError, Prepared};
pub use listing::{prompt_name, task_names};
use vars::{Facts, HostVarsProvider, InventoryVars, connection_settings};
pub use vars::{host_pattern, parse_extra_vars};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub extra_vars: Vars,
    pub limit: Option<Vec<String>>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub force_handlers: bool,
    pub start_at_task: Option<String>,
    pub connect: ConnectOptions,
    pub defaults: HostDefaults,
    /// `--become` and friends from the command line.
    pub escalation: Option<Escalation>,
    /// Connections that may be open at once (from the open-files limit); `None`: unchecked.
    pub connection_budget: Option<u64>,
    /// How many `-v` were given (`debug`'s `verbosity`).
    pub verbosity: u8,
    /// ansible.cfg `gathering = explicit`: a play gathers facts only when it says so.
    pub gather_explicit: bool,
    /// Raised (by the kill switch), no new task starts; running ones finish.
    pub halt: Option<crate::stop::Halt>,
    /// `--shard I/N`: each play works only on this shard's hosts of its pattern.
    pub shard: Option<crate::shard::Shard>,
}

/// How a play ended, for the plays after it.
enum PlayEnd {
    /// The next play runs.
    Next,
    /// Every host of a batch failed: no later play runs (ansible-core's "NO MORE HOSTS
    /// LEFT"); the run's exit code is that of its failures.
    NoHostsLeft,
    /// `any_errors_fatal` or `max_fail_percentage` stopped the play, and the run.
    Aborted,
}

/// What a run ended with.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub recap: BTreeMap<String, Counters>,
    /// A play was stopped by `any_errors_fatal` or `max_fail_percentage`.
    pub aborted: bool,
    /// The run was stopped by its stop switch (SIGINT/SIGTERM) before it finished.
    pub interrupted: bool,
    /// Why the run was halted at a task boundary (the kill switch), when it was.
    pub halted: Option<String>,
}

impl RunResult {
    /// What the run came to, the most serious first (as ansible-core's strategies pick):
    /// interrupted, a play stopped by `any_errors_fatal`/`max_fail_percentage`, a host
    /// unreachable, a host failed, ok. The exit code is [`crate::exit::code`]'s to decide.
    pub fn outcome(&self) -> crate::exit::Outcome {
        use crate::exit::Outcome;
        if self.interrupted {
            Outcome::Interrupted
        } else if self.halted.is_some() {
            Outcome::Halted
        } else if self.aborted {
            Outcome::Stopped
        } else if self.recap.values().any(|c| c.unreachable > 0) {
            Outcome::Unreachable
        } else if self.recap.values().any(|c| c.failed > 0) {
            Outcome::Failed
        } else {
            Outcome::Ok
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{origin}: {message}")]
    Task { origin: String, message: String },
    #[error("{0}")]
    Other(String),
    /// Every problem preflight found.
    #[error("{} problems:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<RunError>),
}

/// How deep `include_tasks` may nest. Deeper is refused with an error (a file that includes
/// itself would otherwise recurse until the process runs out of stack).
pub const MAX_INCLUDE_DEPTH: usize = 64;

tokio::task_local! {
    /// The include depth of the task list running in this task.
    static INCLUDE_DEPTH: usize;
}

/// Per-play state shared by the task runs.
struct PlayState<'p> {
    play: &'p Play,
    /// Play vars with vars_files merged.
    vars: Vars,
    /// Hosts of the current batch (`ansible_play_batch`).
    batch: Vec<String>,
    /// Hosts that failed or became unreachable in this play.
    failed: Mutex<BTreeSet<String>>,
    unreachable: Mutex<BTreeSet<String>>,
    /// Hosts `meta: end_host` ended.
    ended: Mutex<BTreeSet<String>>,
    /// Handlers each host was notified of.
    notified: Mutex<HashMap<String, IndexSet<String>>>,
    /// `meta: end_play` was reached.
    end_play: Mutex<bool>,
    /// The play was stopped by failure policy.
    aborted: Mutex<Option<String>>,
    /// `--start-at-task` has not been reached yet.
    skipping_to_start: Mutex<bool>,
    /// Handlers of roles included while the play runs (after the play's own).
    included_handlers: Mutex<Vec<Arc<Task>>>,
    /// Per host: defaults and vars of roles included with `public: true` (and defaults of
    /// roles imported by included files), seen by the tasks after them.
    exposed: Mutex<HashMap<String, include::Exposed>>,
}

/// Runs playbooks against an inventory.
pub struct Runner<'a> {
    opts: &'a RunOptions,
    reporter: &'a dyn Reporter,
    templar: Templar,
    facts: Arc<Facts>,
    /// One slot per host and login user: the open connection, or the failure of an opening
    /// started ahead of need (reported by the first task that asks, then retried).
    conns: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<ConnSlot>>>>,
    /// Inventory variables per host, shared with `hostvars`.
    inv_vars: Arc<InventoryVars>,
    /// Controller files modules send (copy sources, ...), read once per run.
    files: modules::ControllerFiles,
    /// Jobs started with `poll: 0`: what to make of their output (`async_status`).
    async_jobs: Arc<modules::async_status::AsyncJobs>,
    recap: Mutex<BTreeMap<String, Counters>>,
    playbook_dir: PathBuf,
    /// Hosts whose running work the stop switch cut short.
    interrupted_hosts: Mutex<BTreeSet<String>>,
}

fn as_bool(
    v: &Option<Value>,
    templar: &Templar,
    vars: &Arc<TemplateVars>,
) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some(v) => templar
            .condition(v, vars)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

impl<'a> Runner<'a> {
    pub fn new(
        inv: Arc<Inventory>,
        opts: &'a RunOptions,
        reporter: &'a dyn Reporter,
        playbook: &Path,
    ) -> Self {
        let facts = Arc::new(Facts::default());
        let inv_vars = Arc::new(InventoryVars::new(inv));
        let templar = Templar::new().with_hostvars(Arc::new(HostVarsProvider {
            inv: inv_vars.clone(),
            facts: facts.clone(),
        }));
        Runner {
            opts,
            reporter,
            templar,
            facts,
            conns: tokio::sync::Mutex::new(HashMap::new()),
            inv_vars,
            files: modules::ControllerFiles::default(),
            async_jobs: Arc::default(),
            recap: Mutex::new(BTreeMap::new()),
            interrupted_hosts: Mutex::new(BTreeSet::new()),
            // Absolute, as ansible-core gives `playbook_dir` (`run site.yml` has an empty
            // parent, which would make "{{ playbook_dir }}/x" the root's /x).
            playbook_dir: {
                let dir = playbook
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
            },
        }
    }

    /// The run's stop switch was raised (SIGINT/SIGTERM): no new work starts.
    fn interrupted(&self) -> bool {
        self.opts.connect.stop.as_ref().is_some_and(Stop::is_raised)
    }

    /// Why the run's halt switch was raised (the kill switch), once it is.
    fn halted(&self) -> Option<&str> {
        self.opts.halt.as_ref().and_then(|h| h.why())
    }

    /// No new task, handler, batch or play starts: interrupted or halted. (What is running
    /// goes on when halted; [`Self::interrupted`] alone stops hosts not started yet.)
    fn at_an_end(&self) -> bool {
        self.interrupted() || self.halted().is_some()
    }

    /// Waits `d`, cut short when the run is stopped; an error then.
    async fn wait(&self, host: &str, d: Duration) -> Result<(), ItemError> {
        let slept = match &self.opts.connect.stop {
            Some(stop) => stop.sleep(d).await,
            None => {
                tokio::time::sleep(d).await;
                true
            }
        };
        if slept {
            Ok(())
        } else {
            self.mark_interrupted(host);
            Err(ItemError::Failed(ConnectionError::Interrupted.to_string()))
        }
    }

    fn mark_interrupted(&self, host: &str) {
        if let Ok(mut i) = self.interrupted_hosts.lock() {
            i.insert(host.to_string());
        }
    }

    fn count(&self, host: &str, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut r) = self.recap.lock() {
            f(r.entry(host.to_string()).or_default());
        }
    }

    /// Runs every play of the playbook, then reports the recap.
    pub async fn run(&self, pb: &Playbook) -> Result<RunResult, RunError> {
        let mut aborted = false;
        // Hosts that failed or were unreachable leave the rest of the run, as in Ansible.
        let mut gone: BTreeSet<String> = BTreeSet::new();
        for play in &pb.plays {
            if self.at_an_end() {
                break;
            }
            let (end, out) = self.run_play(play, &gone).await?;
            gone.extend(out);
            match end {
                PlayEnd::Next => {}
                PlayEnd::NoHostsLeft => break,
                PlayEnd::Aborted => {
                    aborted = true;
                    break;
                }
            }
        }
        let slots: Vec<_> = self.conns.lock().await.values().cloned().collect();
        futures::future::join_all(slots.iter().map(|slot| async move {
            if let Some(Ok(conn)) = &*slot.lock().await {
                conn.close().await;
            }
        }))
        .await;
        let recap = self.recap.lock().map(|r| r.clone()).unwrap_or_default();
        let interrupted = self.interrupted();
        let halted = self.halted().map(str::to_string);
        if let (Some(reason), false) = (&halted, interrupted) {
            self.reporter.event(Event::Halted { reason });
        }
        if interrupted {
            let hosts: Vec<String> = self
                .interrupted_hosts
                .lock()
                .map(|i| i.iter().cloned().collect())
                .unwrap_or_default();
            self.reporter.event(Event::Interrupted { hosts: &hosts });
        }
        self.reporter.event(Event::Recap(&recap));
        Ok(RunResult {
            recap,
            aborted,
            interrupted,
            halted,
        })
    }

    /// The hosts the play's pattern selects, in the play's order, those that failed or were
    /// unreachable earlier in the run included (ansible-core sizes batches with them).
    fn play_hosts(&self, play: &Play) -> Result<Vec<String>, RunError> {
        let pattern = host_pattern(&self.templar, play, &self.opts.extra_vars)?;
        let inv = self.inv_vars.inventory();
        let sel = inv
            .select(&pattern, self.opts.limit.as_deref())
            .map_err(|e| RunError::Task {
                origin: play.origin.to_string(),
                message: e.to_string(),
            })?;
        for p in &sel.unmatched {
            tracing::warn!("could not match host pattern '{p}', ignoring it");
        }
        let mut hosts: Vec<String> = sel
            .hosts
            .iter()
            .filter(|h| self.opts.shard.is_none_or(|s| s.holds(&h.name)))
            .map(|h| h.name.clone())
            .collect();
        match play.order.as_deref() {
            Some("sorted") => hosts.sort(),
            Some("reverse_sorted") => {
                hosts.sort();
                hosts.reverse();
            }
            Some("reverse_inventory") => hosts.reverse(),
            Some("shuffle") => {
                // A cheap shuffle: order by a hash of the name and the time.
                let seed = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                hosts.sort_by_key(|h| {
                    h.bytes().fold(u64::from(seed), |a, b| {
                        a.wrapping_mul(31).wrapping_add(u64::from(b))
                    })
                });
            }
            _ => {}
        }
        Ok(hosts)
    }

    /// `serial` as batch sizes: an int, "30%", or a list of them (the last repeats).
    fn batches(&self, play: &Play, hosts: &[String]) -> Result<Vec<Vec<String>>, RunError> {
        let Some(serial) = &play.serial else {
            return Ok(vec![hosts.to_vec()]);
        };
        let vars = Arc::new(TemplateVars::new(self.opts.extra_vars.clone()));
        let serial = self
            .templar
            .render(serial, &vars)
            .map_err(|e| RunError::Task {
                origin: play.origin.to_string(),
                message: e.to_string(),
            })?;
        let specs: Vec<Value> = match serial {
            Value::Array(a) => a,
            other => vec![other],
        };
        let total = hosts.len();
        let size_of = |v: &Value| -> Result<usize, RunError> {
            let n = match v {
                Value::Number(n) => n.as_u64().map(|n| n as usize),
                Value::String(s) => match s.trim().strip_suffix('%') {
                    Some(p) => p
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .map(|p| ((total as f64) * p / 100.0) as usize),
                    None => s.trim().parse().ok(),
                },
                _ => None,
            };
            n.map(|n| n.max(1)).ok_or_else(|| RunError::Task {
                origin: play.origin.to_string(),
                message: format!(
                    "serial must be a number, a percentage or a list of them, got {v}"
                ),
            })
        };
        let mut out = Vec::new();
        let mut i = 0;
        let mut spec_i = 0;
        while i < total {
            let spec = specs
                .get(spec_i.min(specs.len().saturating_sub(1)))
                .cloned()
                .unwrap_or(Value::from(total));
            let n = if spec == 0 { total } else { size_of(&spec)? };
            out.push(hosts[i..(i + n).min(total)].to_vec());
            i += n;
            spec_i += 1;
        }
        if out.is_empty() {
            out.push(Vec::new());
        }
        Ok(out)
    }

    /// The play's name as shown: a template rendered with the play's vars and the extra
    /// vars (as ansible-core does: `PLAY [{{ target | default('fleet') }}]` shows `fleet`);
    /// something undefined there is an error, as it is in ansible-core. No name: the
    /// host pattern.
    fn play_name(&self, play: &Play) -> Result<String, RunError> {
        let Some(name) = &play.name else {
            return Ok(play.hosts.clone());
        };
        if !(name.contains("{{") || name.contains("{%")) {
            return Ok(name.clone());
        }
        let mut scope = play.common.vars.clone();
        scope.extend(self.opts.extra_vars.clone());
        self.templar
            .render_text(name, &Arc::new(TemplateVars::new(scope)))
            .map_err(|e| RunError::Task {
                origin: play.origin.to_string(),
                message: format!("Error processing keyword 'name': {e}"),
            })
    }

    /// Runs one play; returns whether the run must stop, and the hosts that left it.
    async fn run_play(
        &self,
        play: &Play,
        gone: &BTreeSet<String>,
    ) -> Result<(PlayEnd, BTreeSet<String>), RunError> {
        let name = self.play_name(play)?;
        let all_hosts = self.play_hosts(play)?;
        let hosts: Vec<String> = all_hosts
            .iter()
            .filter(|h| !gone.contains(*h))
            .cloned()
            .collect();
        self.reporter.event(Event::PlayStart {
            name: &name,
            hosts: &hosts,
        });
        if hosts.is_empty() {
            self.reporter.event(Event::NoHostsMatched {
                pattern: &play.hosts,
            });
            return Ok((PlayEnd::Next, BTreeSet::new()));
        }
        // vars_prompt answers come from the command line (the CLI asks on a terminal).
        for entry in &play.vars_prompt {
            let name = prompt_name(entry).unwrap_or_default();
            if !self.opts.extra_vars.contains_key(&name) {
                return Err(RunError::Task {
                    origin: play.origin.to_string(),
                    message: format!(
                        "vars_prompt '{name}' needs an answer: run on a terminal, or pass it with -e {name}=..."
                    ),
                });
            }
        }
        // vars_files: relative to the play's file; an entry that is a list is the first of
        // its files that exists. An entry that needs a host's variables (the inventory's,
        // `inventory_hostname`) is read per host when its batch starts.
        let mut vars = play.common.vars.clone();
        let base = play
            .origin
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.playbook_dir.clone());
        let mut per_host: Vec<&Value> = Vec::new();
        for f in &play.vars_files {
            let mut scope = vars.clone();
            scope.extend(self.opts.extra_vars.clone());
            match self.vars_file(play, &base, f, &Arc::new(TemplateVars::new(scope))) {
                Ok(m) => vars.extend(m),
                Err(VarsFileError::NeedsHost) => per_host.push(f),
                Err(VarsFileError::Failed(e)) => return Err(e),
            }
        }
        // Every host of a play keeps its connection open for the whole run.
        if let Some(budget) = self.opts.connection_budget
            && hosts.len() as u64 > budget
        {
            return Err(RunError::Other(crate::limits::too_many(
                hosts.len(),
                budget,
                crate::limits::Need::PlayHosts,
            )));
        }
        let mut left = BTreeSet::new();
        // Batches are cut from every host the pattern selects, as ansible-core cuts them;
        // hosts gone earlier in the run then leave their batch.
        let batches = self.batches(play, &all_hosts)?;
        for full_batch in batches {
            let batch: Vec<String> = full_batch
                .iter()
                .filter(|h| !gone.contains(*h))
                .cloned()
                .collect();
            if batch.is_empty() && !full_batch.is_empty() {
                continue;
            }
            let st = PlayState {
                play,
                vars: vars.clone(),
                batch: batch.clone(),
                failed: Mutex::new(BTreeSet::new()),
                unreachable: Mutex::new(BTreeSet::new()),
                ended: Mutex::new(BTreeSet::new()),
                notified: Mutex::new(HashMap::new()),
                end_play: Mutex::new(false),
                aborted: Mutex::new(None),
                skipping_to_start: Mutex::new(self.opts.start_at_task.is_some()),
                included_handlers: Mutex::new(Vec::new()),
                exposed: Mutex::new(HashMap::new()),
            };
            for h in &batch {
                self.count(h, |_| {});
            }
            for f in &per_host {
                for h in &batch {
                    let v = Arc::new(self.vars_for(&st, h, &[&play.common]));
                    let m = match self.vars_file(play, &base, f, &v) {
                        Ok(m) => m,
                        Err(VarsFileError::Failed(e)) => return Err(e),
                        Err(VarsFileError::NeedsHost) => {
                            return Err(RunError::Task {
                                origin: play.origin.to_string(),
                                message: format!(
                                    "vars_files entry {} names a variable {h} does not have",
                                    text(f)
                                ),
                            });
                        }
                    };
                    if let Ok(mut ex) = st.exposed.lock() {
                        ex.entry(h.clone()).or_default().vars.extend(m);
                    }
                }
            }
            // The play's host lists, shared by every host's templates (not copied per host).
            let list =
                |hs: &[String]| Value::Array(hs.iter().map(|h| Value::from(h.as_str())).collect());
            let mut play_globals = Vars::new();
            play_globals.insert("ansible_play_batch".into(), list(&batch));
            play_globals.insert("play_hosts".into(), list(&batch));
            play_globals.insert("ansible_play_hosts".into(), list(&batch));
            play_globals.insert("ansible_play_hosts_all".into(), list(&all_hosts));
            play_globals.insert("groups".into(), groups_of(&self.inv_vars.inventory()));
            // The ansible-core version olympus follows, for roles that check it.
            play_globals.insert(
                "ansible_version".into(),
                serde_json::json!({"full": "2.19.0", "major": 2, "minor": 19, "revision": 0, "string": "2.19.0"}),
            );
            self.templar.set_play_globals(play_globals);
            self.run_batch(&st).await?;
            if self.at_an_end() {
                return Ok((PlayEnd::Next, left));
            }
            let failed = st.failed.lock().map(|f| f.clone()).unwrap_or_default();
            let unreachable = st.unreachable.lock().map(|f| f.clone()).unwrap_or_default();
            left.extend(failed.iter().cloned());
            left.extend(unreachable.iter().cloned());
            if let Some(reason) = st.aborted.lock().ok().and_then(|a| a.clone()) {
                self.reporter.event(Event::PlayAborted { reason: &reason });
                return Ok((PlayEnd::Aborted, left));
            }
            if st.end_play.lock().map(|e| *e).unwrap_or(false) {
                break;
            }
            // A batch where every host failed in this batch ends the playbook, as in
            // ansible-core: the rest of this play's batches and every later play are not
            // run. A host of the batch that was gone before it counts as not failed here.
            if !full_batch.is_empty()
                && full_batch
                    .iter()
                    .all(|h| failed.contains(h) || unreachable.contains(h))
            {
                self.reporter.event(Event::NoMoreHosts);
                return Ok((PlayEnd::NoHostsLeft, left));
            }
        }
        Ok((PlayEnd::Next, left))
    }

    fn active(&self, st: &PlayState<'_>, hosts: &[String]) -> Vec<String> {
        let failed = st.failed.lock().map(|f| f.clone()).unwrap_or_default();
        let unreachable = st.unreachable.lock().map(|f| f.clone()).unwrap_or_default();
        let ended = st.ended.lock().map(|f| f.clone()).unwrap_or_default();
        hosts
            .iter()
            .filter(|h| !failed.contains(*h) && !unreachable.contains(*h) && !ended.contains(*h))
            .cloned()
            .collect()
    }

    /// Runs a batch's tasks while its connections open in the background.
    async fn run_batch(&self, st: &PlayState<'_>) -> Result<(), RunError> {
        let work = std::pin::pin!(self.run_batch_tasks(st));
        let ahead = std::pin::pin!(self.preconnect(st));
        match futures::future::select(work, ahead).await {
            futures::future::Either::Left((done, _)) => done,
            futures::future::Either::Right(((), work)) => work.await,
        }
    }

    async fn run_batch_tasks(&self, st: &PlayState<'_>) -> Result<(), RunError> {
        let play = st.play;
        let gather = match &play.gather_facts {
            None => !self.opts.gather_explicit,
            Some(v) => self
                .templar
                .condition(v, &Arc::new(TemplateVars::new(st.vars.clone())))
                .map_err(|e| RunError::Task {
                    origin: play.origin.to_string(),
                    message: e.to_string(),
                })?,
        };
        if gather {
            let task = gather_task(play);
            self.run_list(
                st,
                std::slice::from_ref(&task),
                &st.batch,
                &[&play.common],
                false,
                false,
            )
            .await?;
        }
        let free = match &play.strategy_template {
            None => play.strategy == crate::playbook::Strategy::Free,
            Some(t) => {
                let mut v = st.vars.clone();
                v.extend(self.opts.extra_vars.clone());
                let got = self
                    .templar
                    .render_text(t, &Arc::new(TemplateVars::new(v)))
                    .map_err(|e| RunError::Task {
                        origin: play.origin.to_string(),
                        message: format!("strategy: {e}"),
                    })?;
                match got.trim() {
                    "linear" => false,
                    "free" => true,
                    other => {
                        return Err(RunError::Task {
                            origin: play.origin.to_string(),
                            message: format!(
                                "strategy '{other}' (from '{t}') is not supported; olympus has 'linear' and 'free'"
                            ),
                        });
                    }
                }
            }
        };
        // Roles run after pre_tasks (and their handlers), before tasks, in one section.
        let mut main: Vec<Task> = play.role_tasks.clone();
        main.extend(play.tasks.iter().cloned());
        for section in [&play.pre_tasks, &main, &play.post_tasks] {
            if self.stopped(st) {
                break;
            }
            let hosts = self.active(st, &st.batch);
            if free {
                // free: every host goes through the tasks at its own pace.
                let chain = [&play.common];
                let results: Vec<Result<BTreeSet<String>, RunError>> = futures::stream::iter(hosts)
                    .map(|h: String| {
                        let chain = &chain;
                        async move {
                            let one = [h];
                            self.run_list(st, section, &one, chain, false, false).await
                        }
                    })
                    .buffer_unordered(self.opts.forks.max(1))
                    .collect()
                    .await;
                for r in results {
                    r?;
                }
            } else {
                self.run_list(st, section, &hosts, &[&play.common], false, false)
                    .await?;
            }
            self.flush_handlers(st).await?;
        }
        if self.opts.force_handlers
            || as_bool(
                &play.force_handlers,
                &self.templar,
                &Arc::new(TemplateVars::new(st.vars.clone())),
            )
            .ok()
            .flatten()
            .unwrap_or(false)
        {
            // With force_handlers, failed hosts still run the handlers they were notified of;
            // they stay failed afterwards.
            let failed = st
                .failed
                .lock()
                .map(|mut f| std::mem::take(&mut *f))
                .unwrap_or_default();
            let res = self.flush_handlers_for(st, &st.batch).await;
            if let Ok(mut f) = st.failed.lock() {
                f.extend(failed);
            }
            res?;
        }
        Ok(())
    }

    /// One `vars_files` entry read with `vars`: a file, or the first existing of a list.
    fn vars_file(
        &self,
        play: &Play,
        base: &Path,
        entry: &Value,
        vars: &Arc<TemplateVars>,
    ) -> Result<Vars, VarsFileError> {
        let fail = |message: String| {
            VarsFileError::Failed(RunError::Task {
                origin: play.origin.to_string(),
                message,
            })
        };
        let names: Vec<&Value> = match entry {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut tried = Vec::new();
        for n in names {
            let rel = match self.templar.render(n, vars) {
                Ok(v) => text(&v),
                Err(e) if e.to_string().contains("undefined") => {
                    return Err(VarsFileError::NeedsHost);
                }
                Err(e) => return Err(fail(format!("vars_files: {e}"))),
            };
            let path = base.join(&rel);
            if !path.is_file() {
                tried.push(path.display().to_string());
                continue;
            }
            let loaded =
                crate::yaml::load_file(&path).map_err(|e| fail(format!("vars_files: {e}")))?;
            return match loaded.to_value() {
                Value::Object(m) => Ok(m),
                Value::Null => Ok(Vars::new()),
                _ => Err(fail(format!(
                    "vars_files entry {} must hold a mapping",
                    path.display()
                ))),
            };
        }
        Err(fail(format!(
            "vars_files: no file found (looked for {})",
            tried.join(", ")
        )))
    }

    fn stopped(&self, st: &PlayState<'_>) -> bool {
        self.at_an_end()
            || st.end_play.lock().map(|e| *e).unwrap_or(false)
            || st.aborted.lock().map(|a| a.is_some()).unwrap_or(false)
    }

    async fn flush_handlers(&self, st: &PlayState<'_>) -> Result<(), RunError> {
        let hosts = self.active(st, &st.batch);
        self.flush_handlers_for(st, &hosts).await
    }

    async fn flush_handlers_for(
        &self,
        st: &PlayState<'_>,
        hosts: &[String],
    ) -> Result<(), RunError> {
        // Handlers run in definition order, each once per notified host; those of included
        // roles after the play's.
        let included: Vec<Arc<Task>> = st
            .included_handlers
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        // A topic (`listen`) runs every handler listening to it: it is cleared once they all
        // have had their turn, not by the first.
        let mut heard: Vec<(String, String)> = Vec::new();
        for handler in st.play.handlers.iter().chain(included.iter().map(|h| &**h)) {
            if self.at_an_end() {
                break;
            }
            let hname = handler.name.clone().unwrap_or_default();
            let targets: Vec<String> = {
                let Ok(mut n) = st.notified.lock() else { break };
                hosts
                    .iter()
                    .filter(|h| {
                        n.get_mut(*h).is_some_and(|set| {
                            let topics: Vec<&String> =
                                handler.listen.iter().filter(|l| set.contains(*l)).collect();
                            let hit = set.contains(&hname) || !topics.is_empty();
                            if hit {
                                set.shift_remove(&hname);
                                heard.extend(topics.into_iter().map(|l| ((*h).clone(), l.clone())));
                            }
                            hit
                        })
                    })
                    .cloned()
                    .collect()
            };
            if targets.is_empty() {
                continue;
            }
            self.run_list(
                st,
                std::slice::from_ref(handler),
                &targets,
                &[&st.play.common],
                true,
                false,
            )
            .await?;
        }
        if let Ok(mut n) = st.notified.lock() {
            for (host, topic) in heard {
                if let Some(set) = n.get_mut(&host) {
                    set.shift_remove(&topic);
                }
            }
        }
        Ok(())
    }

    /// Runs tasks on hosts in order; returns the hosts that failed (and were not rescued).
    /// `rescuable`: an enclosing block has a `rescue`, so a failure here counts as rescued
    /// (Ansible's `is_any_block_rescuing`), not as failed.
    fn run_list<'s>(
        &'s self,
        st: &'s PlayState<'s>,
        tasks: &'s [Task],
        hosts: &'s [String],
        chain: &'s [&'s Common],
        handler: bool,
        rescuable: bool,
    ) -> futures::future::BoxFuture<'s, Result<BTreeSet<String>, RunError>> {
        Box::pin(async move {
            let mut active: Vec<String> = hosts.to_vec();
            let mut failed_here: BTreeSet<String> = BTreeSet::new();
            for task in tasks {
                if self.stopped(st) {
                    break;
                }
                active = self.active(st, &active);
                active.retain(|h| !failed_here.contains(h));
                if active.is_empty() {
                    break;
                }
                let mut sub_chain: Vec<&Common> = chain.to_vec();
                sub_chain.push(&task.common);
                let failed = match &task.action {
                    Action::Block {
                        block,
                        rescue,
                        always,
                    } => {
                        if !self.tags_allow(&sub_chain) && !has_tagged_children(task) {
                            continue;
                        }
                        self.run_block(
                            st,
                            (block, rescue, always),
                            &active,
                            &sub_chain,
                            handler,
                            rescuable,
                        )
                        .await?
                    }
                    Action::Module { .. } => {
                        self.run_task(st, task, &active, &sub_chain, handler, rescuable)
                            .await?
                    }
                };
                if rescuable && !failed.is_empty() {
                    // In a block that can rescue, failure policy waits for the rescue. With
                    // any_errors_fatal, one host's failure sends every host of the block to
                    // it, as ansible-core does.
                    let vars = Arc::new(TemplateVars::new(st.vars.clone()));
                    let fatal = self
                        .flag(&sub_chain, |c| &c.any_errors_fatal, &vars, false)
                        .unwrap_or(false);
                    failed_here.extend(failed);
                    if fatal {
                        failed_here.extend(active.iter().cloned());
                        break;
                    }
                    continue;
                }
                failed_here.extend(failed);
                self.check_failure_policy(st, &sub_chain);
            }
            Ok(failed_here)
        })
    }

    /// A block: its tasks (failures rescuable when it has a `rescue`), the rescue for hosts
    /// that failed, then `always` for every host that entered it. A block's `when` and other
    /// keywords apply to every task in it (they are in `chain`).
    async fn run_block(
        &self,
        st: &PlayState<'_>,
        (block, rescue, always): (&[Task], &[Task], &[Task]),
        entered: &[String],
        chain: &[&Common],
        handler: bool,
        rescuable: bool,
    ) -> Result<BTreeSet<String>, RunError> {
        let failed = self
            .run_list(
                st,
                block,
                entered,
                chain,
                handler,
                rescuable || !rescue.is_empty(),
            )
            .await?;
        let mut still_failed = failed.clone();
        if !rescue.is_empty() && !failed.is_empty() {
            let rescue_hosts: Vec<String> = entered
                .iter()
                .filter(|h| failed.contains(*h))
                .cloned()
                .collect();
            // Rescued hosts are back in the play.
            if let Ok(mut f) = st.failed.lock() {
                for h in &rescue_hosts {
                    f.remove(h);
                }
            }
            still_failed = self
                .run_list(st, rescue, &rescue_hosts, chain, handler, rescuable)
                .await?;
        }
        if !always.is_empty() {
            // `always` runs for hosts that failed too.
            if let Ok(mut f) = st.failed.lock() {
                for h in &still_failed {
                    f.remove(h);
                }
            }
            let af = self
                .run_list(st, always, entered, chain, handler, rescuable)
                .await?;
            still_failed.extend(af);
        }
        if let Ok(mut f) = st.failed.lock() {
            f.extend(still_failed.iter().cloned());
        }
        Ok(still_failed)
    }

    fn check_failure_policy(&self, st: &PlayState<'_>, chain: &[&Common]) {
        let failed = st.failed.lock().map(|f| f.len()).unwrap_or(0);
        let unreachable = st.unreachable.lock().map(|f| f.len()).unwrap_or(0);
        let bad = failed + unreachable;
        if bad == 0 {
            return;
        }
        let vars = Arc::new(TemplateVars::new(st.vars.clone()));
        let fatal = self
            .flag(chain, |c| &c.any_errors_fatal, &vars, false)
            .unwrap_or(false);
        if fatal && failed > 0 {
            if let Ok(mut a) = st.aborted.lock() {
                a.get_or_insert_with(|| "any_errors_fatal: a host failed".into());
            }
            return;
        }
        if let Some(mfp) = &st.play.max_fail_percentage {
            let pct = match mfp {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
                _ => None,
            }
            .unwrap_or(100.0);
            let size = st.batch.len().max(1) as f64;
            if (bad as f64) / size * 100.0 > pct
                && let Ok(mut a) = st.aborted.lock()
            {
                a.get_or_insert_with(|| {
                    format!(
                        "max_fail_percentage {pct}% exceeded ({bad} of {} hosts failed)",
                        st.batch.len()
                    )
                });
            }
        }
    }

    fn tags_allow(&self, chain: &[&Common]) -> bool {
        let tags: HashSet<&str> = chain
            .iter()
            .flat_map(|c| c.tags.iter().map(String::as_str))
            .collect();
        tags_selected(&tags, &self.opts.tags, &self.opts.skip_tags)
    }

    /// Runs one module task on `hosts`; returns those that failed.
    async fn run_task(
        &self,
        st: &PlayState<'_>,
        task: &Task,
        hosts: &[String],
        chain: &[&Common],
        handler: bool,
        rescuable: bool,
    ) -> Result<BTreeSet<String>, RunError> {
        // A notified handler runs whatever --tags says, as in ansible-core.
        if !handler && !self.tags_allow(chain) {
            return Ok(BTreeSet::new());
        }
        let name = task.display_name();
        if let Ok(mut skipping) = st.skipping_to_start.lock()
            && *skipping
        {
            if self.opts.start_at_task.as_deref() == Some(name.as_str()) {
                *skipping = false;
            } else {
                return Ok(BTreeSet::new());
            }
        }
        let Action::Module { module, args } = &task.action else {
            return Ok(BTreeSet::new());
        };
        // Render the task name with the first host's variables, as Ansible does.
        let shown = match hosts.first() {
            Some(h) if template::is_template(&name) => {
                let v = Arc::new(self.vars_for(st, h, chain));
                self.templar.render_text(&name, &v).unwrap_or(name.clone())
            }
            _ => name.clone(),
        };
        // A role's task is shown as `role : task`, as Ansible names it.
        let shown = match chain
            .iter()
            .rev()
            .find_map(|c| c.vars.get("role_name").and_then(Value::as_str))
        {
            Some(role) => format!("{role} : {shown}"),
            None => shown,
        };
        self.reporter.event(Event::TaskStart {
            name: &shown,
            origin: &task.origin,
            handler,
            hosts: hosts.len(),
            names: hosts,
        });
        match module.step() {
            Some(Step::Meta) => return self.run_meta(st, task, args, hosts, chain).await,
            Some(Step::IncludeTasks) | Some(Step::IncludeRole) => {
                return self
                    .run_include(st, task, args, hosts, chain, handler, rescuable)
                    .await;
            }
            Some(
                Step::IncludeVars
                | Step::GroupBy
                | Step::AddHost
                | Step::WaitForConnection
                | Step::Reboot,
            )
            | None => {}
        }
        let run_once = chain
            .iter()
            .rev()
            .find_map(|c| c.run_once.as_ref())
            .map(|v| {
                self.templar
                    .condition(v, &Arc::new(TemplateVars::new(st.vars.clone())))
                    .unwrap_or(false)
            })
            .unwrap_or(false);
        // add_host runs once for the batch, as ansible-core bypasses the host loop for it.
        let run_once = run_once || module.step() == Some(Step::AddHost);
        let targets: Vec<String> = if run_once {
            hosts.iter().take(1).cloned().collect()
        } else {
            hosts.to_vec()
        };
        let forks = self.opts.forks.max(1);
        // Hosts' variables, conditions and arguments are rendered on rayon's threads, a
        // chunk of hosts at a time, while earlier hosts' commands are in flight.
        let chunk = forks.clamp(8, 256);
        let chunks: Vec<Vec<String>> = targets.chunks(chunk).map(<[String]>::to_vec).collect();
        // Each host's result is reported and counted the moment it finishes, then dropped
        // (unless registered): memory stays bounded by forks, not by hosts.
        let mut outcomes = std::pin::pin!(
            futures::stream::iter(chunks)
                .take_while(|_| std::future::ready(!self.interrupted()))
                .map(|hosts: Vec<String>| {
                    futures::stream::iter(self.prepare(st, task, &hosts, chain))
                })
                .flatten()
                .map(|p: Prepared| async move {
                    // Once the run is stopped, hosts not started yet are left alone.
                    if self.interrupted() {
                        return None;
                    }
                    let h = p.host.clone();
                    Some((h, self.run_on_host(task, chain, p).await))
                })
                .buffer_unordered(forks)
                .filter_map(std::future::ready)
        );
        let mut failed = BTreeSet::new();
        while let Some((h, o)) = outcomes.next().await {
            let h = &h;
            let o = &o;
            if run_once && let Some(reg) = &task.register {
                // run_once: the registered result applies to every host of the batch; only
                // the host it ran on is reported and counted, as in Ansible.
                for other in hosts.iter().filter(|x| *x != h) {
                    self.facts.set(other, reg, o.result.clone());
                }
            }
            self.reporter.event(Event::Host(o));
            match o.status {
                Status::Failed if o.ignored => {
                    // An ignored failure counts as ok (and changed, if it changed).
                    let changed = o
                        .result
                        .get("changed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    self.count(h, |c| {
                        c.ok += 1;
                        c.ignored += 1;
                        if changed {
                            c.changed += 1;
                        }
                    });
                }
                Status::Failed => {
                    self.count_failure(h, rescuable);
                    failed.insert(h.clone());
                }
                Status::Unreachable if o.ignored => self.count(h, |c| {
                    c.ok += 1;
                    c.ignored += 1;
                }),
                Status::Unreachable => {
                    self.count(h, |c| c.unreachable += 1);
                    if let Ok(mut u) = st.unreachable.lock() {
                        u.insert(h.clone());
                    }
                }
                Status::Skipped => self.count(h, |c| c.skipped += 1),
                Status::Ok => self.count(h, |c| c.ok += 1),
                Status::Changed => {
                    self.count(h, |c| {
                        c.ok += 1;
                        c.changed += 1;
                    });
                    if !task.notify.is_empty()
                        && let Ok(mut n) = st.notified.lock()
                    {
                        let set = n.entry(h.clone()).or_default();
                        for name in &task.notify {
                            set.insert(name.clone());
                        }
                    }
                }
            }
        }
        if run_once && !failed.is_empty() {
            // A failed run_once task fails every host.
            failed.extend(hosts.iter().cloned());
        }
        if let Ok(mut f) = st.failed.lock() {
            f.extend(failed.iter().cloned());
        }
        Ok(failed)
    }

    /// Counts a host's failed task: `rescued` inside a block that rescues, else `failed`.
    fn count_failure(&self, host: &str, rescuable: bool) {
        self.count(host, |c| {
            if rescuable {
                c.rescued += 1;
            } else {
                c.failed += 1;
            }
        });
    }

    /// Records hosts that failed in this play (they leave it) and gives them back.
    fn note_failed(&self, st: &PlayState<'_>, failed: BTreeSet<String>) -> BTreeSet<String> {
        if let Ok(mut f) = st.failed.lock() {
            f.extend(failed.iter().cloned());
        }
        failed
    }

    async fn run_meta(
        &self,
        st: &PlayState<'_>,
        task: &Task,
        args: &Vars,
        hosts: &[String],
        chain: &[&Common],
    ) -> Result<BTreeSet<String>, RunError> {
        let action = modules::meta::action(args).map_err(|e| RunError::Task {
            origin: task.origin.to_string(),
            message: e.to_string(),
        })?;
        let when_ok = |h: &str| -> bool {
            let v = Arc::new(self.vars_for(st, h, chain));
            chain
                .iter()
                .flat_map(|c| c.when.iter())
                .all(|w| self.templar.condition(w, &v).unwrap_or(false))
        };
        match action {
            MetaAction::FlushHandlers => self.flush_handlers(st).await?,
            MetaAction::EndPlay => {
                if hosts.iter().any(|h| when_ok(h))
                    && let Ok(mut e) = st.end_play.lock()
                {
                    *e = true;
                }
            }
            MetaAction::EndHost => {
                for h in hosts {
                    if when_ok(h)
                        && let Ok(mut e) = st.ended.lock()
                    {
                        e.insert(h.clone());
                    }
                }
            }
            MetaAction::ClearHostErrors => {
                // As ansible-core: failed and unreachable hosts are done with this play
                // (their run of it ended with the failure) but no longer failed: later
                // plays take them again.
                let mut back: Vec<String> = Vec::new();
                if let Ok(mut f) = st.failed.lock() {
                    back.extend(std::mem::take(&mut *f));
                }
                if let Ok(mut u) = st.unreachable.lock() {
                    back.extend(std::mem::take(&mut *u));
                }
                if let Ok(mut e) = st.ended.lock() {
                    e.extend(back);
                }
            }
            MetaAction::ClearFacts => {
                for h in hosts.iter().filter(|h| when_ok(h)) {
                    self.facts.clear_gathered(h);
                }
            }
            MetaAction::ResetConnection => {
                // The next task opens a new connection (a new login sees new groups).
                let mut conns = self.conns.lock().await;
                for h in hosts.iter().filter(|h| when_ok(h)) {
                    let prefix = format!("{h}\u{0}");
                    conns.retain(|k, _| !k.starts_with(&prefix));
                }
            }
            MetaAction::Noop => {}
        }
        Ok(BTreeSet::new())
    }
}

fn has_tagged_children(task: &Task) -> bool {
    match &task.action {
        Action::Block {
            block,
            rescue,
            always,
        } => block
            .iter()
            .chain(rescue)
            .chain(always)
            .any(|t| !t.common.tags.is_empty() || has_tagged_children(t)),
        Action::Module { .. } => false,
    }
}

/// The implicit "Gathering Facts" task.
/// Why a `vars_files` entry was not read.
enum VarsFileError {
    /// It names a variable only a host has: read per host.
    NeedsHost,
    Failed(RunError),
}

/// Whether a task with these tags (its own and inherited) runs under `--tags`/`--skip-tags`,
/// as ansible-core decides (`always`, `never`, `tagged`, `untagged`, `all`).
pub fn tags_selected(tags: &HashSet<&str>, only: &[String], skip: &[String]) -> bool {
    if !skip.is_empty()
        && (skip.iter().any(|t| tags.contains(t.as_str())) || skip.iter().any(|t| t == "all"))
    {
        return false;
    }
    if tags.contains("never") && !only.iter().any(|t| tags.contains(t.as_str())) {
        return false;
    }
    if only.is_empty() || only.iter().any(|t| t == "all") {
        return true;
    }
    if tags.contains("always") {
        return true;
    }
    only.iter().any(|t| {
        tags.contains(t.as_str())
            || (t == "tagged" && !tags.is_empty())
            || (t == "untagged" && tags.is_empty())
    })
}

/// The `groups` variable: every group's hosts, in inventory order.
fn groups_of(inv: &Inventory) -> Value {
    let mut groups = serde_json::Map::new();
    for g in inv.groups() {
        let hosts: Vec<Value> = inv
            .group_hosts(&g.name)
            .into_iter()
            .map(Value::from)
            .collect();
        groups.insert(g.name.clone(), Value::Array(hosts));
    }
    Value::Object(groups)
}

fn gather_task(play: &Play) -> Task {
    Task {
        origin: play.origin.clone(),
        name: Some("Gathering Facts".into()),
        action: Action::Module {
            module: &modules::setup::SPEC,
            args: Vars::new(),
        },
        loop_: None,
        loop_control: None,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        until: None,
        retries: None,
        delay: None,
        apply: None,
        async_: None,
        poll: None,
        common: Common {
            tags: vec!["always".into()],
            ..Common::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let mut r = RunResult::default();
        use crate::exit::Outcome;
        assert_eq!(r.outcome(), Outcome::Ok);
        r.recap.insert(
            "a".into(),
            Counters {
                failed: 1,
                ..Default::default()
            },
        );
        assert_eq!(r.outcome(), Outcome::Failed);
        r.recap.insert(
            "b".into(),
            Counters {
                unreachable: 1,
                ..Default::default()
            },
        );
        assert_eq!(
            r.outcome(),
            Outcome::Unreachable,
            "unreachable outranks failed"
        );
        r.aborted = true;
        assert_eq!(
            r.outcome(),
            Outcome::Stopped,
            "a stopped play outranks both"
        );
    }
}
