//! Running playbooks: the linear strategy (every host finishes a task before the next),
//! batches (`serial`), failure policy (`max_fail_percentage`, `any_errors_fatal`), blocks
//! with rescue and always, loops, conditions, register, handlers, and the recap counters
//! Ansible keeps.
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
}

/// What a run ended with.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub recap: BTreeMap<String, Counters>,
    /// A play was stopped by `any_errors_fatal` or `max_fail_percentage`.
    pub aborted: bool,
    /// The run was stopped by its stop switch (SIGINT/SIGTERM) before it finished.
    pub interrupted: bool,
}

impl RunResult {
    /// One code, the most serious first (as ansible-core's strategies pick): 8 a play was
    /// stopped by `any_errors_fatal`/`max_fail_percentage`; 4 a host was unreachable; 2 a host
    /// failed; 0 ok.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            99
        } else if self.aborted {
            8
        } else if self.recap.values().any(|c| c.unreachable > 0) {
            4
        } else if self.recap.values().any(|c| c.failed > 0) {
            2
        } else {
            0
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{origin}: {message}")]
    Task { origin: String, message: String },
    #[error("{0}")]
    Other(String),
}

/// How deep `include_tasks` may nest. Deeper is refused with an error (a file that includes
/// itself would otherwise recurse until the process runs out of stack).
pub const MAX_INCLUDE_DEPTH: usize = 64;

tokio::task_local! {
    /// The include depth of the task list running in this task.
    static INCLUDE_DEPTH: usize;
}

/// Facts and registered variables of every host, shared with `hostvars`. Each keeps its
/// mark: registered results, gathered facts and `set_fact` values are data from hosts (never
/// rendered as templates); `include_vars` files are the author's.
/// A host's set is shared (`Arc`) by the variables of every task that runs meanwhile; a new
/// value copies the set only while such a task still holds it.
#[derive(Default)]
struct Facts(Mutex<HashMap<String, Arc<TemplateVars>>>);

impl Facts {
    fn get(&self, host: &str) -> Arc<TemplateVars> {
        self.0
            .lock()
            .map(|m| m.get(host).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Records a value that came from a host or from templating: data, never a template.
    fn set(&self, host: &str, key: &str, value: Value) {
        if let Ok(mut m) = self.0.lock() {
            Arc::make_mut(m.entry(host.to_string()).or_default())
                .insert_data(key.to_string(), value);
        }
    }

    /// Forgets the facts gathered on a host (`meta: clear_facts`): `ansible_facts` and the
    /// `ansible_*` variables.
    fn clear_gathered(&self, host: &str) {
        if let Ok(mut m) = self.0.lock()
            && let Some(vars) = m.get_mut(host)
        {
            let names: Vec<String> = vars
                .names()
                .into_iter()
                .filter(|n| n.starts_with("ansible_"))
                .map(str::to_string)
                .collect();
            let vars = Arc::make_mut(vars);
            for n in names {
                vars.remove_own(&n);
            }
        }
    }

    /// Records a value the author wrote (an `include_vars` file).
    fn set_authored(&self, host: &str, key: &str, value: Value) {
        if let Ok(mut m) = self.0.lock() {
            Arc::make_mut(m.entry(host.to_string()).or_default())
                .insert_authored(key.to_string(), value);
        }
    }
}

/// Inventory variables per host, merged from the host's groups once per run (the
/// inventory does not change during a run).
struct InventoryVars {
    inv: Arc<Inventory>,
    merged: std::sync::RwLock<HashMap<String, Arc<Vars>>>,
}

impl InventoryVars {
    fn get(&self, host: &str) -> Option<Arc<Vars>> {
        if let Ok(m) = self.merged.read()
            && let Some(v) = m.get(host)
        {
            return Some(v.clone());
        }
        let v = Arc::new(self.inv.host_vars(host)?);
        if let Ok(mut m) = self.merged.write() {
            m.insert(host.to_string(), v.clone());
        }
        Some(v)
    }
}

struct HostVarsProvider {
    inv: Arc<InventoryVars>,
    facts: Arc<Facts>,
}

impl HostVars for HostVarsProvider {
    fn get(&self, host: &str) -> Option<TemplateVars> {
        let mut v = TemplateVars::default();
        v.insert_data("inventory_hostname".into(), Value::from(host));
        v.push_below(self.facts.get(host));
        v.push_below(Arc::new(TemplateVars::new((*self.inv.get(host)?).clone())));
        Some(v)
    }

    fn names(&self) -> Vec<String> {
        self.inv.inv.hosts().map(|h| h.name.clone()).collect()
    }
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
    /// Bumped by `meta: clear_host_errors`, so task lists take failed hosts back.
    cleared: std::sync::atomic::AtomicU64,
}

type ConnSlot = Option<Result<Arc<Connection>, ConnectionError>>;

/// A host's share of a task, prepared before it runs (see [`Runner::prepare`]).
struct Prepared {
    host: String,
    vars: Arc<TemplateVars>,
    /// The loop's items, when the task loops.
    items: Option<Result<Vec<Value>, String>>,
    /// Conditions and arguments, when it does not.
    first: Option<Rendered>,
}

/// The outcome of rendering a task's conditions and arguments.
enum Rendered {
    /// A condition was false (skipped) or failed to evaluate.
    Stop(Status, Value),
    /// The arguments, rendered and without `omit`ted ones.
    Args(Result<Vars, String>),
}

/// Runs playbooks against an inventory.
pub struct Runner<'a> {
    inv: Arc<Inventory>,
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
        let inv_vars = Arc::new(InventoryVars {
            inv: inv.clone(),
            merged: std::sync::RwLock::new(HashMap::new()),
        });
        let templar = Templar::new().with_hostvars(Arc::new(HostVarsProvider {
            inv: inv_vars.clone(),
            facts: facts.clone(),
        }));
        let mut groups = serde_json::Map::new();
        for g in inv.groups() {
            let hosts: Vec<Value> = inv
                .group_hosts(&g.name)
                .into_iter()
                .map(Value::from)
                .collect();
            groups.insert(g.name.clone(), Value::Array(hosts));
        }
        let mut globals = Vars::new();
        globals.insert("groups".into(), Value::Object(groups));
        let templar = templar.with_globals(Arc::new(globals));
        Runner {
            inv,
            opts,
            reporter,
            templar,
            facts,
            conns: tokio::sync::Mutex::new(HashMap::new()),
            inv_vars,
            files: modules::ControllerFiles::default(),
            recap: Mutex::new(BTreeMap::new()),
            interrupted_hosts: Mutex::new(BTreeSet::new()),
            playbook_dir: playbook
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        }
    }

    /// The run's stop switch was raised (SIGINT/SIGTERM): no new work starts.
    fn interrupted(&self) -> bool {
        self.opts.connect.stop.as_ref().is_some_and(Stop::is_raised)
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
            if self.interrupted() {
                break;
            }
            let (stop, out) = self.run_play(play, &gone).await?;
            gone.extend(out);
            if stop {
                aborted = true;
                break;
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
        })
    }

    fn play_hosts(&self, play: &Play, gone: &BTreeSet<String>) -> Result<Vec<String>, RunError> {
        let pattern = host_pattern(&self.templar, play, &self.opts.extra_vars)?;
        let sel = self
            .inv
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
            .map(|h| h.name.clone())
            .filter(|h| !gone.contains(h))
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

    /// Runs one play; returns whether the run must stop, and the hosts that left it.
    async fn run_play(
        &self,
        play: &Play,
        gone: &BTreeSet<String>,
    ) -> Result<(bool, BTreeSet<String>), RunError> {
        let name = play.name.clone().unwrap_or_else(|| play.hosts.clone());
        let hosts = self.play_hosts(play, gone)?;
        self.reporter.event(Event::PlayStart {
            name: &name,
            hosts: &hosts,
        });
        if hosts.is_empty() {
            self.reporter.event(Event::NoHostsMatched {
                pattern: &play.hosts,
            });
            return Ok((false, BTreeSet::new()));
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
        let mut vars = play.common.vars.clone();
        for f in &play.vars_files {
            let rel = self
                .templar
                .render(f, &Arc::new(TemplateVars::new(vars.clone())))
                .map(|v| text(&v))
                .map_err(|e| RunError::Task {
                    origin: play.origin.to_string(),
                    message: e.to_string(),
                })?;
            let path = self.playbook_dir.join(&rel);
            let loaded = crate::yaml::load_file(&path).map_err(|e| RunError::Task {
                origin: play.origin.to_string(),
                message: format!("vars_files: {e}"),
            })?;
            match loaded.to_value() {
                Value::Object(m) => vars.extend(m),
                Value::Null => {}
                _ => {
                    return Err(RunError::Task {
                        origin: play.origin.to_string(),
                        message: format!("vars_files entry {} must hold a mapping", path.display()),
                    });
                }
            }
        }
        // Every host of a play keeps its connection open for the whole run.
        if let Some(budget) = self.opts.connection_budget
            && hosts.len() as u64 > budget
        {
            return Err(RunError::Other(crate::limits::too_many(
                hosts.len(),
                budget,
            )));
        }
        let mut left = BTreeSet::new();
        let batches = self.batches(play, &hosts)?;
        for batch in batches {
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
                cleared: std::sync::atomic::AtomicU64::new(0),
            };
            for h in &batch {
                self.count(h, |_| {});
            }
            // The play's host lists, shared by every host's templates (not copied per host).
            let list =
                |hs: &[String]| Value::Array(hs.iter().map(|h| Value::from(h.as_str())).collect());
            let mut play_globals = Vars::new();
            play_globals.insert("ansible_play_batch".into(), list(&batch));
            play_globals.insert("play_hosts".into(), list(&batch));
            play_globals.insert("ansible_play_hosts".into(), list(&batch));
            play_globals.insert("ansible_play_hosts_all".into(), list(&hosts));
            self.templar.set_play_globals(play_globals);
            self.run_batch(&st).await?;
            if self.interrupted() {
                return Ok((false, left));
            }
            let failed = st.failed.lock().map(|f| f.clone()).unwrap_or_default();
            let unreachable = st.unreachable.lock().map(|f| f.clone()).unwrap_or_default();
            left.extend(failed.iter().cloned());
            left.extend(unreachable.iter().cloned());
            if let Some(reason) = st.aborted.lock().ok().and_then(|a| a.clone()) {
                self.reporter.event(Event::PlayAborted { reason: &reason });
                return Ok((true, left));
            }
            if st.end_play.lock().map(|e| *e).unwrap_or(false) {
                break;
            }
            // A batch where every host failed stops the play, as in Ansible.
            if !batch.is_empty()
                && batch
                    .iter()
                    .all(|h| failed.contains(h) || unreachable.contains(h))
            {
                self.reporter.event(Event::NoMoreHosts);
                return Ok((false, left));
            }
        }
        Ok((false, left))
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
            None => true,
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
        // Roles run after pre_tasks (and their handlers), before tasks, in one section.
        let mut main: Vec<Task> = play.role_tasks.clone();
        main.extend(play.tasks.iter().cloned());
        for section in [&play.pre_tasks, &main, &play.post_tasks] {
            if self.stopped(st) {
                break;
            }
            let hosts = self.active(st, &st.batch);
            if play.strategy == crate::playbook::Strategy::Free {
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

    fn stopped(&self, st: &PlayState<'_>) -> bool {
        self.interrupted()
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
        // Handlers run in definition order, each once per notified host.
        for handler in &st.play.handlers {
            if self.interrupted() {
                break;
            }
            let hname = handler.name.clone().unwrap_or_default();
            let targets: Vec<String> = {
                let Ok(mut n) = st.notified.lock() else { break };
                hosts
                    .iter()
                    .filter(|h| {
                        n.get_mut(*h).is_some_and(|set| {
                            let hit = set.contains(&hname)
                                || handler.listen.iter().any(|l| set.contains(l));
                            if hit {
                                set.shift_remove(&hname);
                                for l in &handler.listen {
                                    set.shift_remove(l);
                                }
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
            let mut epoch = st.cleared.load(std::sync::atomic::Ordering::SeqCst);
            for task in tasks {
                if self.stopped(st) {
                    break;
                }
                let now = st.cleared.load(std::sync::atomic::Ordering::SeqCst);
                if now != epoch {
                    // clear_host_errors: failed hosts are back for the rest of the list.
                    epoch = now;
                    failed_here.clear();
                    active = hosts.to_vec();
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
        if !self.opts.skip_tags.is_empty()
            && (self
                .opts
                .skip_tags
                .iter()
                .any(|t| tags.contains(t.as_str()))
                || (self.opts.skip_tags.iter().any(|t| t == "all")))
        {
            return false;
        }
        if tags.contains("never") && !self.opts.tags.iter().any(|t| tags.contains(t.as_str())) {
            return false;
        }
        if self.opts.tags.is_empty() || self.opts.tags.iter().any(|t| t == "all") {
            return true;
        }
        if tags.contains("always") {
            return true;
        }
        self.opts.tags.iter().any(|t| {
            tags.contains(t.as_str())
                || (t == "tagged" && !tags.is_empty())
                || (t == "untagged" && tags.is_empty())
        })
    }

    /// Variables for a task on a host, lowest precedence first.
    fn vars_for(&self, st: &PlayState<'_>, host: &str, chain: &[&Common]) -> TemplateVars {
        let mut v = st.play.role_defaults.clone();
        let copy = |v: &mut Vars, from: &Vars| {
            for (k, val) in from {
                v.insert(k.clone(), val.clone());
            }
        };
        copy(&mut v, &self.inventory_vars(host));
        copy(&mut v, &st.vars);
        for c in chain.iter().skip(1) {
            copy(&mut v, &c.vars);
        }
        // Layers, highest first: -e and the engine's own variables; the host's facts and
        // registered results (shared, not copied); what the author wrote for this task.
        let authored = Arc::new(TemplateVars::new(v));
        let mut v = TemplateVars::default();
        v.push_below(self.facts.get(host));
        v.push_below(authored);
        for (k, val) in &self.opts.extra_vars {
            v.insert_authored(k.clone(), val.clone());
        }
        // The engine's own variables are data.
        let h = self.inv.host(host);
        v.insert_data("inventory_hostname".into(), Value::from(host));
        v.insert_data(
            "inventory_hostname_short".into(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        if let Some(h) = h {
            let names: Vec<Value> = h
                .group_names()
                .filter(|g| *g != "all" && *g != "ungrouped")
                .map(Value::from)
                .collect();
            v.insert_data("group_names".into(), Value::Array(names));
        }
        v.insert_data(
            "playbook_dir".into(),
            Value::from(self.playbook_dir.to_string_lossy().into_owned()),
        );
        v.insert_data("ansible_check_mode".into(), Value::Bool(self.opts.check));
        v.insert_data("ansible_diff_mode".into(), Value::Bool(self.opts.diff));
        v.insert_data("ansible_forks".into(), Value::from(self.opts.forks));
        v.insert_data("omit".into(), Value::from(template::OMIT));
        v
    }

    /// The innermost setting of a boolean keyword along the chain (task over block over
    /// play), rendered; `on_error` when it does not render to a boolean.
    fn flag(
        &self,
        chain: &[&Common],
        pick: fn(&Common) -> &Option<Value>,
        vars: &Arc<TemplateVars>,
        on_error: bool,
    ) -> Option<bool> {
        chain
            .iter()
            .rev()
            .find_map(|c| pick(c).as_ref())
            .map(|v| self.templar.condition(v, vars).unwrap_or(on_error))
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
        if !self.tags_allow(chain) {
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
        self.reporter.event(Event::TaskStart {
            name: &shown,
            origin: &task.origin,
            handler,
            hosts: hosts.len(),
        });
        match module.step() {
            Some(Step::Meta) => return self.run_meta(st, task, args, hosts, chain).await,
            Some(Step::IncludeTasks) => {
                return self
                    .run_include(st, task, args, hosts, chain, handler)
                    .await;
            }
            Some(Step::IncludeVars) | None => {}
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
                    self.count(h, |c| {
                        if rescuable {
                            c.rescued += 1;
                        } else {
                            c.failed += 1;
                        }
                    });
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

    /// `include_tasks`: each host's file name is rendered with its variables (and its `when`
    /// decides whether it includes at all); hosts including the same file run it together.
    async fn run_include(
        &self,
        st: &PlayState<'_>,
        task: &Task,
        args: &Vars,
        hosts: &[String],
        chain: &[&Common],
        handler: bool,
    ) -> Result<BTreeSet<String>, RunError> {
        let err = |message: String| RunError::Task {
            origin: task.origin.to_string(),
            message,
        };
        let depth = INCLUDE_DEPTH.try_with(|d| *d).unwrap_or(0);
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(err(format!(
                "include_tasks nested more than {MAX_INCLUDE_DEPTH} deep: a task file that includes itself without an end? (the last was included from here)"
            )));
        }
        let raw = modules::include_tasks::file(args).map_err(|e| err(e.to_string()))?;
        let mut groups: Vec<(PathBuf, Vec<String>)> = Vec::new();
        for h in hosts {
            let v = Arc::new(self.vars_for(st, h, chain));
            let mut included = true;
            for w in chain.iter().flat_map(|c| c.when.iter()) {
                if !self
                    .templar
                    .condition(w, &v)
                    .map_err(|e| err(e.to_string()))?
                {
                    included = false;
                }
            }
            if !included {
                self.count(h, |c| c.skipped += 1);
                continue;
            }
            let rel = text(
                &self
                    .templar
                    .render(&raw, &v)
                    .map_err(|e| err(e.to_string()))?,
            );
            let dir = task
                .origin
                .file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let path = [
                dir.join(&rel),
                self.playbook_dir.join(&rel),
                self.playbook_dir.join("tasks").join(&rel),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| err(format!("included task file '{rel}' not found")))?;
            match groups.iter_mut().find(|(p, _)| *p == path) {
                Some((_, hs)) => hs.push(h.clone()),
                None => groups.push((path, vec![h.clone()])),
            }
        }
        let mut failed = BTreeSet::new();
        for (path, group) in groups {
            let tasks =
                crate::playbook::load_tasks(&path).map_err(|e| RunError::Other(e.to_string()))?;
            let shown = path.to_string_lossy().into_owned();
            self.reporter.event(Event::Included {
                file: &shown,
                hosts: &group,
            });
            // The include's own keywords (vars, tags...) wrap the included tasks; its `when`
            // decided the include only, as with Ansible's dynamic includes.
            let own = Common {
                when: Vec::new(),
                ..task.common.clone()
            };
            let mut inner: Vec<&Common> = chain.to_vec();
            inner.pop();
            inner.push(&own);
            let f = INCLUDE_DEPTH
                .scope(
                    depth + 1,
                    self.run_list(st, &tasks, &group, &inner, handler, false),
                )
                .await?;
            failed.extend(f);
        }
        Ok(failed)
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
                if let Ok(mut f) = st.failed.lock() {
                    f.clear();
                }
                st.cleared.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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

    /// The connection to `host` for these variables: one per host and login user, opened
    /// on first need (or ahead of it by [`Self::preconnect`]) and kept for the run.
    async fn connection(
        &self,
        host: &str,
        vars: &Vars,
    ) -> Result<Arc<Connection>, ConnectionError> {
        self.open_slot(host, vars, false).await
    }

    async fn open_slot(
        &self,
        host: &str,
        vars: &Vars,
        ahead: bool,
    ) -> Result<Arc<Connection>, ConnectionError> {
        let key = format!(
            "{host}\u{0}{}",
            vars.get("ansible_user").map(text).unwrap_or_default()
        );
        let slot = self.conns.lock().await.entry(key).or_default().clone();
        // Callers for the same host wait here while one of them opens the connection.
        let mut slot = slot.lock().await;
        match slot.take() {
            Some(Ok(c)) => {
                *slot = Some(Ok(c.clone()));
                return Ok(c);
            }
            // An opening ahead of need failed: the first task to ask reports it, rather than
            // waiting out a second timeout; the next one tries again.
            Some(Err(e)) if !ahead => return Err(e),
            Some(Err(_)) | None => {}
        }
        let opened = match Target::resolve_with(host, vars, &self.opts.defaults, &self.opts.connect)
        {
            Ok(target) => Connection::open(&target, &self.opts.connect)
                .await
                .map(Arc::new),
            Err(e) => Err(ConnectionError::Config(e.to_string())),
        };
        match opened {
            Ok(c) => {
                *slot = Some(Ok(c.clone()));
                Ok(c)
            }
            Err(e) if ahead => {
                *slot = Some(Err(e));
                Err(ConnectionError::Config(
                    "opening ahead of need failed".into(),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Opens the connections of a batch's hosts (at most `forks` at a time) while the
    /// engine prepares and runs the first tasks, so that connection set-up overlaps the
    /// work instead of preceding it.
    async fn preconnect(&self, st: &PlayState<'_>) {
        let chain = [&st.play.common];
        futures::stream::iter(st.batch.iter())
            .map(|h| {
                let chain = &chain;
                async move {
                    let vars = self.connection_vars(st, h, chain);
                    if vars.get("ansible_connection").map(text).as_deref() != Some("local") {
                        let _ = self.open_slot(h, &vars, true).await;
                    }
                }
            })
            .buffer_unordered(self.opts.forks.max(1))
            .collect::<Vec<()>>()
            .await;
    }

    /// The variables a host's connection is made with: its own, plus the play's
    /// `remote_user` where the inventory sets no `ansible_user`.
    fn connection_vars(&self, st: &PlayState<'_>, host: &str, chain: &[&Common]) -> Vars {
        let vars = Arc::new(self.vars_for(st, host, chain));
        self.with_remote_user(Cow::Owned(connection_settings(&vars)), chain, &vars)
            .into_owned()
    }

    /// A play or task `remote_user` applies where the inventory sets no `ansible_user`.
    fn with_remote_user<'v>(
        &self,
        mut conn_vars: Cow<'v, Vars>,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
    ) -> Cow<'v, Vars> {
        if !conn_vars.contains_key("ansible_user")
            && let Some(u) = chain.iter().rev().find_map(|c| c.remote_user.as_ref())
            && let Ok(u) = self.templar.render(u, vars)
        {
            conn_vars
                .to_mut()
                .insert("ansible_user".into(), Value::from(text(&u)));
        }
        conn_vars
    }

    /// A host's inventory variables (groups merged in Ansible's order), computed once per run.
    fn inventory_vars(&self, host: &str) -> Arc<Vars> {
        self.inv_vars.get(host).unwrap_or_default()
    }

    /// The escalation in force for a task: task/block/play keywords, else --become, else
    /// the host's ansible_become* variables.
    fn escalation(&self, chain: &[&Common], vars: &Arc<TemplateVars>) -> Option<Escalation> {
        let pick = |f: fn(&Common) -> &Option<Value>| chain.iter().rev().find_map(|c| f(c).clone());
        let become_ = pick(|c| &c.become_)
            .map(|v| self.templar.condition(&v, vars).unwrap_or(false))
            .or(self.opts.escalation.as_ref().map(|_| true))
            .or_else(|| vars.get("ansible_become").map(template::ansible_bool))
            .unwrap_or(false);
        if !become_ {
            return None;
        }
        let user = pick(|c| &c.become_user)
            .and_then(|v| self.templar.render(&v, vars).ok())
            .map(|v| text(&v))
            .or_else(|| self.opts.escalation.as_ref().map(|e| e.user.clone()))
            .or_else(|| vars.get("ansible_become_user").map(text))
            .unwrap_or_else(|| "root".into());
        let method = pick(|c| &c.become_method)
            .map(|v| text(&v))
            .or_else(|| vars.get("ansible_become_method").map(text));
        let method = match method.as_deref() {
            Some("su") => EscalationMethod::Su,
            Some(_) | None => self
                .opts
                .escalation
                .as_ref()
                .map(|e| e.method.clone())
                .unwrap_or_default(),
        };
        let password = vars
            .get("ansible_become_password")
            .or_else(|| vars.get("ansible_become_pass"))
            .and_then(|v| self.templar.render(v, vars).ok())
            .map(|v| crate::connection::Secret::new(text(&v)))
            .or_else(|| self.opts.connect.become_password.clone());
        Some(Escalation {
            method,
            user,
            password,
        })
    }

    /// Items a task loops over, rendered with the host's variables.
    fn loop_items(&self, l: &Loop, vars: &Arc<TemplateVars>) -> Result<Vec<Value>, String> {
        let render = |v: &Value| -> Result<Value, String> {
            match v {
                Value::String(s) if !template::is_template(s) => {
                    self.templar.eval(s, vars).map_err(|e| e.to_string())
                }
                other => self.templar.render(other, vars).map_err(|e| e.to_string()),
            }
        };
        let list = |v: Value| -> Result<Vec<Value>, String> {
            match v {
                Value::Array(a) => Ok(a),
                Value::Null => Ok(Vec::new()),
                other => Err(format!("loop needs a list, got {other}")),
            }
        };
        match l {
            Loop::Items(v) => list(render(v)?),
            Loop::WithItems { items, flatten } => {
                let rendered = match items {
                    Value::Array(a) => Value::Array(
                        a.iter()
                            .map(|i| self.templar.render(i, vars).map_err(|e| e.to_string()))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    other => render(other)?,
                };
                let items = list(rendered)?;
                if !flatten {
                    return Ok(items);
                }
                Ok(items
                    .into_iter()
                    .flat_map(|i| match i {
                        Value::Array(inner) => inner,
                        other => vec![other],
                    })
                    .collect())
            }
            Loop::WithDict(v) => match render(v)? {
                Value::Object(m) => Ok(m
                    .into_iter()
                    .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                    .collect()),
                other => Err(format!("with_dict needs a mapping, got {other}")),
            },
            Loop::WithSequence(v) => {
                let spec = text(&self.templar.render(v, vars).map_err(|e| e.to_string())?);
                sequence(&spec)
            }
            Loop::WithFileglob(v) => {
                let patterns = match self.templar.render(v, vars).map_err(|e| e.to_string())? {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                let mut out = Vec::new();
                for p in patterns {
                    out.extend(
                        fileglob(&self.playbook_dir, &text(&p))
                            .into_iter()
                            .map(Value::from),
                    );
                }
                Ok(out)
            }
        }
    }

    /// What each host needs before its task can run, computed for many hosts at once on
    /// rayon's threads (templating is the engine's CPU work): its variables, and the task's
    /// loop items, or for a task without a loop its conditions and rendered arguments.
    fn prepare(
        &self,
        st: &PlayState<'_>,
        task: &Task,
        hosts: &[String],
        chain: &[&Common],
    ) -> Vec<Prepared> {
        use rayon::prelude::*;
        hosts
            .par_iter()
            .map(|h| {
                let vars = Arc::new(self.vars_for(st, h, chain));
                let (items, first) = match &task.loop_ {
                    Some(l) => (Some(self.loop_items(l, &vars)), None),
                    None => (None, Some(self.render_item(task, chain, &vars))),
                };
                Prepared {
                    host: h.clone(),
                    vars,
                    items,
                    first,
                }
            })
            .collect()
    }

    /// A task's conditions and then its arguments for one host (one loop item), rendered.
    fn render_item(&self, task: &Task, chain: &[&Common], vars: &Arc<TemplateVars>) -> Rendered {
        for c in chain {
            for w in &c.when {
                match self.templar.condition(w, vars) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Rendered::Stop(
                            Status::Skipped,
                            serde_json::json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False", "false_condition": w}),
                        );
                    }
                    Err(e) => {
                        return Rendered::Stop(
                            Status::Failed,
                            serde_json::json!({"failed": true, "changed": false, "msg": format!(
                                "The conditional check '{}' failed: {e}",
                                text(w)
                            )}),
                        );
                    }
                }
            }
        }
        let Action::Module { args, .. } = &task.action else {
            return Rendered::Stop(
                Status::Failed,
                serde_json::json!({"failed": true, "changed": false, "msg": "not a module"}),
            );
        };
        let rendered = self
            .templar
            .render(&Value::Object(args.clone()), vars)
            .map_err(|e| e.to_string())
            .map(|v| match v {
                Value::Object(mut m) => {
                    template::strip_omitted(&mut m);
                    m
                }
                _ => Vars::new(),
            });
        Rendered::Args(rendered)
    }

    async fn run_on_host(&self, task: &Task, chain: &[&Common], prepared: Prepared) -> HostOutcome {
        let Prepared {
            host,
            vars: base,
            items,
            first,
        } = prepared;
        let host = host.as_str();
        let no_log = self
            .flag(chain, |c| &c.no_log, &base, true)
            .unwrap_or(false);
        let ignore_errors = self
            .flag(chain, |c| &c.ignore_errors, &base, false)
            .unwrap_or(false);
        let ignore_unreachable = self
            .flag(chain, |c| &c.ignore_unreachable, &base, false)
            .unwrap_or(false);
        let outcome = |status, result: Value, item: Option<String>| HostOutcome {
            host: host.to_string(),
            status,
            ignored: (status == Status::Failed && ignore_errors)
                || (status == Status::Unreachable && ignore_unreachable),
            result,
            item,
            no_log,
            delegated: None,
            always_show: false,
            bare: false,
        };
        let fail = |msg: String| {
            outcome(
                Status::Failed,
                serde_json::json!({"failed": true, "changed": false, "msg": msg}),
                None,
            )
        };

        let mut out = if let Some(l) = &task.loop_ {
            // Conditions are evaluated per item when the task loops.
            let items = match items.unwrap_or_else(|| self.loop_items(l, &base)) {
                Ok(i) => i,
                Err(e) => return fail(e),
            };
            let lc = task.loop_control.clone().unwrap_or(Value::Null);
            let loop_var = lc
                .get("loop_var")
                .and_then(Value::as_str)
                .unwrap_or("item")
                .to_string();
            let index_var = lc
                .get("index_var")
                .and_then(Value::as_str)
                .map(str::to_string);
            let pause = match lc.get("pause") {
                None | Some(Value::Null) => Duration::ZERO,
                Some(p) => match self
                    .templar
                    .render(p, &base)
                    .map_err(|e| e.to_string())
                    .and_then(|p| crate::bounds::seconds("loop_control pause", &p))
                {
                    Ok(d) => d,
                    Err(e) => return fail(e),
                },
            };
            let mut results = Vec::new();
            let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
            let (mut always_show, mut bare) = (false, false);
            for (i, item) in items.iter().enumerate() {
                if self.interrupted() {
                    return fail(ConnectionError::Interrupted.to_string());
                }
                if i > 0
                    && !pause.is_zero()
                    && let Err(ItemError::Failed(e)) = self.wait(host, pause).await
                {
                    return fail(e);
                }
                let mut v = (*base).clone();
                v.insert_data(loop_var.clone(), item.clone());
                if let Some(iv) = &index_var {
                    v.insert_data(iv.clone(), Value::from(i));
                }
                v.insert_data("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                let v = Arc::new(v);
                let label = lc
                    .get("label")
                    .and_then(|l| self.templar.render(l, &v).ok())
                    .map(|l| text(&l))
                    .unwrap_or_else(|| crate::pyrepr::str_of(item));
                let mut o = self.run_item(task, host, chain, &v, None).await;
                o.item = Some(label);
                if let Value::Object(m) = &mut o.result {
                    m.insert(loop_var.clone(), item.clone());
                    m.insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                }
                o.no_log = no_log;
                if o.status == Status::Unreachable {
                    o.ignored = ignore_unreachable;
                    return o;
                }
                self.reporter.event(Event::Item(&o));
                always_show |= o.always_show;
                bare |= o.bare;
                any_changed |= o.status == Status::Changed;
                any_failed |= o.status == Status::Failed;
                all_skipped &= o.status == Status::Skipped;
                results.push(o.result);
            }
            let status = if any_failed {
                Status::Failed
            } else if all_skipped {
                Status::Skipped
            } else if any_changed {
                Status::Changed
            } else {
                Status::Ok
            };
            let mut agg = serde_json::json!({"changed": any_changed, "results": results});
            if any_failed {
                agg["failed"] = Value::Bool(true);
                agg["msg"] = Value::from("One or more items failed");
            }
            if all_skipped {
                agg["skipped"] = Value::Bool(true);
                if items.is_empty() {
                    agg["skipped_reason"] = Value::from("No items in the list");
                }
            }
            let mut o = outcome(status, agg, None);
            o.always_show = always_show;
            o.bare = bare;
            o
        } else {
            let mut o = self.run_item(task, host, chain, &base, first).await;
            o.no_log = no_log;
            o
        };
        out.ignored = (out.status == Status::Failed && ignore_errors)
            || (out.status == Status::Unreachable && ignore_unreachable);
        if let Some(reg) = &task.register {
            self.facts.set(host, reg, out.result.clone());
        }
        out
    }

    /// One run of a task (one loop item): when, args, module, until, changed/failed_when.
    async fn run_item(
        &self,
        task: &Task,
        host: &str,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
        rendered: Option<Rendered>,
    ) -> HostOutcome {
        let mk = |status, result| HostOutcome {
            host: host.to_string(),
            status,
            ignored: false,
            result,
            item: None,
            no_log: false,
            delegated: None,
            always_show: false,
            bare: false,
        };
        let failed_msg = |msg: String| {
            mk(
                Status::Failed,
                serde_json::json!({"failed": true, "changed": false, "msg": msg}),
            )
        };
        let args = match rendered.unwrap_or_else(|| self.render_item(task, chain, vars)) {
            Rendered::Stop(status, result) => return mk(status, result),
            Rendered::Args(a) => a,
        };
        let Action::Module { module, .. } = &task.action else {
            return failed_msg("not a module".into());
        };
        let module: &'static Spec = module;
        let number = |v: &Option<Value>, what: &str, default: Value| -> Result<Value, String> {
            match v {
                None => Ok(default),
                Some(v) => self
                    .templar
                    .render(v, vars)
                    .map_err(|e| format!("{what}: {e}")),
            }
        };
        let retries = match number(&task.retries, "retries", Value::from(3))
            .and_then(|r| crate::bounds::count("retries", &r))
        {
            Ok(r) => r,
            Err(e) => return failed_msg(e),
        };
        let delay = match number(&task.delay, "delay", Value::from(5))
            .and_then(|d| crate::bounds::seconds("delay", &d))
        {
            Ok(d) => d,
            Err(e) => return failed_msg(e),
        };
        let attempts = if task.until.is_some() { retries + 1 } else { 1 };
        let mut last = failed_msg("task did not run".into());
        let mut delegated_to: Option<String> = None;
        // (always shown, shown bare) of the last result.
        let mut shown = (false, false);
        for attempt in 1..=attempts {
            let (status, mut result) = match self
                .run_module(task, module, &args, host, chain, vars)
                .await
            {
                Ok((r, delegated)) => {
                    delegated_to = delegated.filter(|d| d != host);
                    let status = if r.failed {
                        Status::Failed
                    } else if r.skipped {
                        Status::Skipped
                    } else if r.changed {
                        Status::Changed
                    } else {
                        Status::Ok
                    };
                    if module.step() == Some(Step::IncludeVars) {
                        // A vars file is the author's: its templates render when used.
                        for (k, v) in &r.facts {
                            self.facts.set_authored(host, k, v.clone());
                        }
                    } else {
                        // Results of templating and facts from the host are data.
                        for (k, v) in &r.facts {
                            self.facts.set(host, k, v.clone());
                        }
                    }
                    shown = (r.verbose_always, module.bare_result);
                    (status, r.to_register())
                }
                Err(ItemError::Unreachable(e)) => {
                    return mk(
                        Status::Unreachable,
                        serde_json::json!({"unreachable": true, "changed": false, "msg": e}),
                    );
                }
                Err(ItemError::Failed(e)) => (
                    Status::Failed,
                    serde_json::json!({"failed": true, "changed": false, "msg": e}),
                ),
            };
            let mut status = status;
            // changed_when / failed_when see the result under the register name.
            if task.changed_when.is_some() || task.failed_when.is_some() || task.until.is_some() {
                let mut v = (**vars).clone();
                if let Some(reg) = &task.register {
                    v.insert_data(reg.clone(), result.clone());
                }
                let v = Arc::new(v);
                if let Some(cw) = &task.changed_when {
                    match self.templar.condition(cw, &v) {
                        Ok(c) => {
                            result["changed"] = Value::Bool(c);
                            if status != Status::Failed && status != Status::Skipped {
                                status = if c { Status::Changed } else { Status::Ok };
                            }
                        }
                        Err(e) => return failed_msg(format!("changed_when: {e}")),
                    }
                }
                if let Some(fw) = &task.failed_when {
                    match self.templar.condition(fw, &v) {
                        Ok(f) => {
                            result["failed"] = Value::Bool(f);
                            if f {
                                status = Status::Failed;
                            } else if status == Status::Failed {
                                status = if result["changed"].as_bool().unwrap_or(false) {
                                    Status::Changed
                                } else {
                                    Status::Ok
                                };
                            }
                        }
                        Err(e) => return failed_msg(format!("failed_when: {e}")),
                    }
                }
                if let Some(u) = &task.until {
                    result["attempts"] = Value::from(attempt);
                    // An `until` that cannot be evaluated (an undefined variable) fails the
                    // task with the reason, instead of retrying as if it were false.
                    let done = match self.templar.condition(u, &v) {
                        Ok(d) => d,
                        Err(e) => return failed_msg(format!("until: {e}")),
                    };
                    if !done && attempt < attempts {
                        if let Err(ItemError::Failed(e)) = self.wait(host, delay).await {
                            return failed_msg(e);
                        }
                        last = mk(status, result);
                        continue;
                    }
                    if !done {
                        status = Status::Failed;
                        result["failed"] = Value::Bool(true);
                        result["msg"] = Value::from(format!(
                            "Retried {retries} times; 'until' never became true"
                        ));
                    }
                }
            }
            last = mk(status, result);
            last.delegated = delegated_to;
            (last.always_show, last.bare) = shown;
            break;
        }
        last
    }

    async fn run_module(
        &self,
        task: &Task,
        module: &'static Spec,
        args: &Result<Vars, String>,
        host: &str,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
    ) -> Result<(ModuleResult, Option<String>), ItemError> {
        let args = args.as_ref().map_err(|e| ItemError::Failed(e.clone()))?;
        let check = self
            .flag(chain, |c| &c.check_mode, vars, false)
            .unwrap_or(self.opts.check);
        let diff = self
            .flag(chain, |c| &c.diff, vars, false)
            .unwrap_or(self.opts.diff);
        if module.step() == Some(Step::IncludeVars) {
            return self.include_vars(args).map(|r| (r, None));
        }
        let ctx = ModuleCtx {
            check_mode: check,
            diff,
            verbosity: self.opts.verbosity,
            templar: &self.templar,
            vars,
            files: &self.files,
        };
        // An argument the module cannot use is the author's to fix: say where the task is.
        let plan = modules::plan(module, args, &ctx)
            .map_err(|e| ItemError::Failed(format!("{e} (task at {})", task.origin)))?;
        let plan = match plan {
            Plan::Done(r) => return Ok((r, None)),
            Plan::Wait(d, r) => {
                self.wait(host, d).await?;
                return Ok((r, None));
            }
            remote => remote,
        };
        let delegate = chain
            .iter()
            .rev()
            .find_map(|c| c.delegate_to.as_ref())
            .map(|d| self.templar.render(d, vars).map(|v| text(&v)))
            .transpose()
            .map_err(|e| ItemError::Failed(e.to_string()))?;
        let (conn_host, conn_vars) = match &delegate {
            Some(d) if d != host => (d.as_str(), Cow::Owned((*self.inventory_vars(d)).clone())),
            _ => (host, Cow::Owned(connection_settings(vars))),
        };
        let conn_vars = self.with_remote_user(conn_vars, chain, vars);
        let conn = self
            .connection(conn_host, &conn_vars)
            .await
            .map_err(|e| ItemError::Unreachable(e.to_string()))?;
        let escalation = self.escalation(chain, vars);
        let timeout = chain
            .iter()
            .rev()
            .find_map(|c| c.timeout.as_ref())
            .map(|t| {
                self.templar
                    .render(t, vars)
                    .map_err(|e| e.to_string())
                    .and_then(|t| crate::bounds::seconds("timeout", &t))
            })
            .transpose()
            .map_err(ItemError::Failed)?
            .filter(|d| !d.is_zero());
        let env = chain
            .iter()
            .filter_map(|c| c.environment.as_ref())
            .filter_map(|e| self.templar.render(e, vars).ok())
            .fold(Vars::new(), |mut acc, e| {
                if let Value::Object(m) = e {
                    acc.extend(m);
                }
                acc
            });
        let mut prelude = String::new();
        for (k, v) in &env {
            if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                prelude.push_str(&format!(
                    "export {k}={}\n",
                    crate::connection::quote(&text(v))
                ));
            }
        }
        let mut plan = plan;
        let mut cut = false;
        loop {
            match plan {
                Plan::Done(r) => return Ok((self.cut_output(module, r, cut), delegate)),
                Plan::Wait(d, r) => {
                    self.wait(host, d).await?;
                    return Ok((r, delegate));
                }
                Plan::Remote {
                    script,
                    stdin,
                    then,
                } => {
                    let full = format!("{prelude}{script}");
                    let out = conn
                        .exec(ExecRequest {
                            command: &full,
                            stdin: stdin.as_deref(),
                            escalation: escalation.as_ref(),
                            timeout,
                        })
                        .await;
                    match out {
                        Ok(o) => {
                            cut |= o.truncated;
                            plan = then(o);
                        }
                        Err(e) if e.is_unreachable() => {
                            return Err(ItemError::Unreachable(e.to_string()));
                        }
                        Err(e) => {
                            if matches!(e, ConnectionError::Interrupted) {
                                self.mark_interrupted(host);
                            }
                            return Err(ItemError::Failed(e.to_string()));
                        }
                    }
                }
            }
        }
    }

    /// A result built from output cut at `--output-cap`. Command-like modules say so
    /// (`truncated`, and a warning shown with the result); any other module's result would
    /// be wrong without saying so (a slurped or fetched file cut short), so it fails.
    fn cut_output(&self, module: &Spec, mut r: ModuleResult, cut: bool) -> ModuleResult {
        if !cut {
            return r;
        }
        let cap = self.opts.connect.output_cap;
        if module.output == Output::Command {
            r.data.insert("truncated".into(), Value::Bool(true));
            let warning = Value::from(format!(
                "output cut: only the first {cap} bytes of each stream were kept (--output-cap)"
            ));
            match r.data.get_mut("warnings") {
                Some(Value::Array(w)) => w.push(warning),
                _ => {
                    r.data
                        .insert("warnings".into(), Value::Array(vec![warning]));
                }
            }
            r
        } else {
            ModuleResult::failed(format!(
                "the host's answer was longer than the {cap}-byte cap per stream, so the result would be incomplete; raise --output-cap"
            ))
        }
    }

    fn include_vars(&self, args: &Vars) -> Result<ModuleResult, ItemError> {
        let (rel, name) =
            modules::include_vars::parse(args).map_err(|e| ItemError::Failed(e.to_string()))?;
        let path = self.playbook_dir.join(&rel);
        let path = if path.exists() {
            path
        } else {
            self.playbook_dir.join("vars").join(&rel)
        };
        let node = crate::yaml::load_file(&path).map_err(|e| ItemError::Failed(e.to_string()))?;
        let mut r = ModuleResult::ok();
        match node.to_value() {
            Value::Object(m) => {
                if let Some(name) = name {
                    r.facts.insert(name, Value::Object(m.clone()));
                } else {
                    r.facts = m.clone();
                }
                r.data.insert("ansible_facts".into(), Value::Object(m));
            }
            Value::Null => {}
            _ => {
                return Err(ItemError::Failed(format!(
                    "{} must hold a mapping",
                    path.display()
                )));
            }
        }
        Ok(r)
    }
}

enum ItemError {
    Unreachable(String),
    Failed(String),
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
        common: Common {
            tags: vec!["always".into()],
            ..Common::default()
        },
    }
}

/// `with_sequence`: `start=1 end=5 stride=1 format=web%02d` or `count=3`, or `1-5`.
fn sequence(spec: &str) -> Result<Vec<Value>, String> {
    let (mut start, mut end, mut stride, mut format, mut count) =
        (1i64, None, 1i64, "%d".to_string(), None);
    for word in spec.split_whitespace() {
        if let Some((k, v)) = word.split_once('=') {
            let num = || {
                v.parse::<i64>()
                    .map_err(|_| format!("with_sequence: bad number '{v}'"))
            };
            match k {
                "start" => start = num()?,
                "end" => end = Some(num()?),
                "stride" => stride = num()?,
                "count" => count = Some(num()?),
                "format" => format = v.to_string(),
                other => return Err(format!("with_sequence: unknown option '{other}'")),
            }
        } else if let Some((a, b)) = word.split_once('-') {
            start = a
                .parse()
                .map_err(|_| format!("with_sequence: bad range '{word}'"))?;
            end = Some(
                b.parse()
                    .map_err(|_| format!("with_sequence: bad range '{word}'"))?,
            );
        }
    }
    let end = match (end, count) {
        (Some(e), _) => e,
        (None, Some(c)) => start + (c - 1) * stride,
        (None, None) => return Err("with_sequence needs 'end' or 'count'".into()),
    };
    if stride == 0 {
        return Err("with_sequence: stride cannot be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(printf_int(&format, i)));
        i += stride;
        if out.len() > 1_000_000 {
            return Err("with_sequence: too many items".into());
        }
    }
    Ok(out)
}

/// Enough of printf for sequence formats: `%d`, `%02d`, `%x`, `%o` inside other text.
fn printf_int(fmt: &str, n: i64) -> String {
    let Some(p) = fmt.find('%') else {
        return fmt.to_string();
    };
    let rest = &fmt[p + 1..];
    let spec_end = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (flags, conv) = (
        &rest[..spec_end],
        rest[spec_end..].chars().next().unwrap_or('d'),
    );
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let zero = flags.starts_with('0');
    let body = match conv {
        'x' => format!("{n:x}"),
        'X' => format!("{n:X}"),
        'o' => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!(
        "{}{}{}",
        &fmt[..p],
        padded,
        &rest[(spec_end + 1).min(rest.len())..]
    )
}

/// `with_fileglob`: files (not directories) matching a pattern, relative to the playbook.
fn fileglob(base: &Path, pattern: &str) -> Vec<String> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let (dir, file_pat) = match (full.parent(), full.file_name()) {
        (Some(d), Some(f)) => (d.to_path_buf(), f.to_string_lossy().into_owned()),
        _ => return Vec::new(),
    };
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter(|e| {
                    crate::connection::known_hosts::wildcard_match_case(
                        &file_pat,
                        &e.file_name().to_string_lossy(),
                    )
                })
                .map(|e| e.path().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The variable a `vars_prompt` entry sets.
/// The variables a connection is made from (`ansible_*`), merged out of a task's layers.
fn connection_settings(vars: &TemplateVars) -> Vars {
    vars.flatten_matching(|k| k.starts_with("ansible_"))
}

/// A play's host pattern with extra vars rendered in (`hosts: "{{ target }}"`). A pattern that
/// is empty once rendered is refused: an empty pattern would otherwise select every host.
pub fn host_pattern(templar: &Templar, play: &Play, extra_vars: &Vars) -> Result<String, RunError> {
    let pattern = templar
        .render(
            &Value::from(play.hosts.as_str()),
            &Arc::new(TemplateVars::new(extra_vars.clone())),
        )
        .map(|v| text(&v))
        .map_err(|e| RunError::Task {
            origin: play.origin.to_string(),
            message: e.to_string(),
        })?;
    if pattern.split(',').all(|p| p.trim().is_empty()) {
        return Err(RunError::Task {
            origin: play.origin.to_string(),
            message: format!(
                "the play's host list '{}' rendered empty: refusing to guess which hosts were meant",
                play.hosts
            ),
        });
    }
    Ok(pattern)
}

pub fn prompt_name(entry: &Value) -> Option<String> {
    entry
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `-e`: `key=value ...`, a YAML/JSON mapping, or `@file`.
pub fn parse_extra_vars(s: &str) -> Result<Vars, String> {
    let s = s.trim();
    if let Some(file) = s.strip_prefix('@') {
        let node = crate::yaml::load_file(Path::new(file)).map_err(|e| e.to_string())?;
        return match node.to_value() {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Vars::new()),
            _ => Err(format!("{file}: extra vars must be a mapping")),
        };
    }
    if s.starts_with('{') {
        let node = crate::yaml::parse_str(s, Path::new("<-e>")).map_err(|e| e.to_string())?;
        return match node.to_value() {
            Value::Object(m) => Ok(m),
            _ => Err("extra vars must be a mapping".into()),
        };
    }
    let mut out = Vars::new();
    for word in crate::playbook::split_args(s)? {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("extra var '{word}' is not key=value"));
        };
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.to_string(), Value::from(v));
    }
    Ok(out)
}

/// Every task of a play, flattened, for `--list-tasks`.
pub fn task_names(tasks: &[Task], out: &mut Vec<(String, Vec<String>)>) {
    for t in tasks {
        match &t.action {
            Action::Module { .. } => out.push((t.display_name(), t.common.tags.clone())),
            Action::Block {
                block,
                rescue,
                always,
            } => {
                task_names(block, out);
                task_names(rescue, out);
                task_names(always, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences() {
        assert_eq!(
            sequence("start=1 end=3").unwrap(),
            vec![Value::from("1"), Value::from("2"), Value::from("3")]
        );
        assert_eq!(
            sequence("count=2 format=web%02d").unwrap(),
            vec![Value::from("web01"), Value::from("web02")]
        );
        assert_eq!(sequence("0-6 stride=3").unwrap().len(), 3);
        assert!(sequence("start=1").is_err());
    }

    #[test]
    fn exit_codes() {
        let mut r = RunResult::default();
        assert_eq!(r.exit_code(), 0);
        r.recap.insert(
            "a".into(),
            Counters {
                failed: 1,
                ..Default::default()
            },
        );
        assert_eq!(r.exit_code(), 2);
        r.recap.insert(
            "b".into(),
            Counters {
                unreachable: 1,
                ..Default::default()
            },
        );
        assert_eq!(r.exit_code(), 4, "unreachable outranks failed");
        r.aborted = true;
        assert_eq!(r.exit_code(), 8, "a stopped play outranks both");
    }
}
