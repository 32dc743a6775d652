//! `olympus heal RULES --once` and `olympus history` as library calls.
//!
//! Owns: one pass over a rules file — the heal lock (one heal acts at a time), actions left
//! `running` by a heal that died marked interrupted, every check's source read and its
//! decisions recorded with the actions they claim, the actions run as playbook runs limited
//! to their host (their values as data), their outcomes recorded, and the failed-action
//! budget that engages the kill switch; `--watch`, with leading and standing by when
//! controllers share the store (PostgreSQL); `--status`. Must not: decide (that is `heal::decide`) or print (the caller shows the
//! [`Pass`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::run::{KillSwitch, Listing, Ran, Report, RunRequest};
use super::setup::{Connection, Sources};
use crate::exit::{Error, Outcome};
use crate::heal::decide::{self, Budget, Firing};
use crate::heal::rules::{self, Check, Rules};
use crate::heal::source;
use crate::inventory::Inventory;
use crate::state::{self, DecisionRecord, EvaluationRecord, Store};
use crate::stop::Stop;

pub struct HealRequest {
    pub rules: PathBuf,
    pub sources: Sources,
    pub roles_path: Vec<PathBuf>,
    pub connection: Connection,
    pub store: Arc<dyn Store>,
    /// Decide and show, record and run nothing.
    pub dry_run: bool,
    /// Raised (SIGTERM), running actions stop and are recorded interrupted.
    pub stop: Stop,
    /// How often a running action reads the kill switch.
    pub lock_poll: Duration,
    /// Raise `stop` on SIGINT/SIGTERM.
    pub on_signals: bool,
    /// Handlers told of each action's end, of a blast radius exceeded and of the kill
    /// switch engaged by heal (never in a dry run).
    pub notify: super::notify::Notify,
}

/// What one pass did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pass {
    /// Another heal held the heal lock: this one did nothing.
    pub skipped: bool,
    pub dry_run: bool,
    /// Actions a heal that died left running, now recorded interrupted.
    pub stale_interrupted: u32,
    /// The kill switch as this pass found or left it.
    pub locked: Option<String>,
    /// The kill switch as heal engaged it in this pass (the failed-action budget spent).
    pub engaged: Option<String>,
    pub checks: Vec<CheckPass>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckPass {
    pub name: String,
    /// Why the source could not be read.
    pub error: Option<String>,
    pub decisions: Vec<DecisionRecord>,
    pub actions: Vec<ActionResult>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionResult {
    pub host: String,
    pub playbook: String,
    /// One of `state::ACTION_OUTCOMES` (never `running`).
    pub outcome: String,
    pub detail: String,
}

/// One pass over the rules. `Err` only when heal itself cannot work (rules, inventory or
/// state unusable); a source that cannot be read is in the [`Pass`].
pub fn once(req: &HealRequest) -> Result<Pass, Error> {
    pass(req, false)
}

/// One pass; `leading`: this process holds heal's lock already (a watching leader).
fn pass(req: &HealRequest, leading: bool) -> Result<Pass, Error> {
    let rules = Rules::load(&req.rules).map_err(|e| Error::BadInput(e.to_string()))?;
    let inv = req.sources.load()?;
    // Signals are watched once for the whole pass, whatever runs it starts.
    let signals = if req.on_signals {
        let rt = super::setup::runtime()?;
        rt.spawn(crate::stop::on_signals(req.stop.clone()));
        Some(rt)
    } else {
        None
    };
    let state_err = |e: state::StateError| Error::Internal(e.to_string());
    let mut pass = Pass {
        skipped: false,
        dry_run: req.dry_run,
        stale_interrupted: 0,
        locked: None,
        engaged: None,
        checks: Vec::new(),
    };
    let _held = if req.dry_run || leading {
        None
    } else {
        match req.store.try_heal_lock().map_err(state_err)? {
            Some(l) => Some(l),
            None => {
                tracing::warn!("another heal is acting on this state; this pass does nothing");
                pass.skipped = true;
                return Ok(pass);
            }
        }
    };
    if !req.dry_run {
        pass.stale_interrupted = req.store.interrupt_stale_actions().map_err(state_err)?;
        if pass.stale_interrupted > 0 {
            tracing::warn!(
                "{} action(s) left running by a heal that ended first are recorded interrupted (not retried)",
                pass.stale_interrupted
            );
        }
    }
    let now = jiff::Timestamp::now();
    let found_locked = req.store.lock().map_err(state_err)?;
    let mut budget = Budget {
        locked: found_locked.as_ref().map(|l| l.describe()),
        ..Budget::default()
    };
    if budget.locked.is_none() && !req.dry_run {
        budget.locked = spend_failures(&*req.store, &rules)?;
    }
    if let Some(max) = rules.guards.max_actions_per_hour {
        let hour_ago = now
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap_or(now);
        let started = req.store.actions_since(hour_ago).map_err(state_err)?;
        budget.actions_left = Some(max.saturating_sub(started));
    }
    let hosts = HostNames::of(&inv);
    let mut planned: Vec<(usize, i64, decide::Act, String)> = Vec::new();
    for (i, check) in rules.checks.iter().enumerate() {
        let mut cp = CheckPass {
            name: check.name.clone(),
            error: None,
            decisions: Vec::new(),
            actions: Vec::new(),
        };
        let before = req.store.streaks(&check.name).map_err(state_err)?;
        let mut record = EvaluationRecord {
            at: now,
            rule: check.name.clone(),
            ..EvaluationRecord::default()
        };
        match read_source(req, &inv, &hosts, check) {
            Err(e) => {
                tracing::error!("check {}: {e}", check.name);
                cp.error = Some(e.clone());
                record.error = Some(e);
                record.streaks = before;
            }
            Ok((firing, unknown)) => {
                let last = |h: &str| req.store.last_action(&check.name, h).ok().flatten();
                let mut o = decide::decide(check, &firing, &before, now, &last, &mut budget);
                for (host, why) in unknown {
                    tracing::warn!("check {}: {host}: {why}", check.name);
                    decide::unknown(&mut o, &before, &host, why);
                }
                record.decisions = o.decisions;
                record.streaks = o.streaks;
                // The actions are claimed (recorded running) with the evaluation that
                // decides them, in one transaction: an event is acted on once, even when
                // this controller loses the state between deciding and acting.
                record.claims = o
                    .acts
                    .iter()
                    .map(|a| state::Claim {
                        host: a.host.clone(),
                        playbook: check.action.what.describe(),
                    })
                    .collect();
                cp.decisions = record.decisions.clone();
                if !req.dry_run {
                    let recorded = req.store.record_evaluation(&record).map_err(state_err)?;
                    planned.extend(o.acts.into_iter().zip(recorded.actions).map(|(a, id)| {
                        let address = address_of(&inv, &a.host);
                        (i, id, a, address)
                    }));
                }
            }
        }
        if cp.error.is_some() && !req.dry_run {
            req.store.record_evaluation(&record).map_err(state_err)?;
        }
        pass.checks.push(cp);
    }
    // The actions: one playbook run per host, at once, each recorded before it starts.
    let results: Vec<(usize, ActionResult)> = std::thread::scope(|scope| {
        let handles: Vec<_> = planned
            .iter()
            .map(|(i, id, act, address)| {
                let check = &rules.checks[*i];
                let rules = &rules;
                scope.spawn(move || (*i, act_on(req, rules, check, *id, act, address)))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (i, r) in results {
        pass.checks[i].actions.push(r);
    }
    let left_locked = req.store.lock().map_err(state_err)?;
    pass.locked = left_locked.as_ref().map(|l| l.describe());
    if found_locked.is_none()
        && let Some(l) = left_locked.filter(|l| l.by.ends_with(HEAL_BY))
    {
        pass.engaged = Some(l.describe());
    }
    if !req.dry_run && !req.notify.is_empty() {
        for event in pass_events(&pass, now) {
            req.notify.send(&event);
        }
    }
    drop(signals);
    Ok(pass)
}

/// Hosts a per-host source could not probe, and why.
type Unknown = Vec<(String, String)>;

/// What `check`'s source says fires (hosts named), and the hosts a per-host source could
/// not probe, with why. `Err` when the source could not be read at all.
fn read_source(
    req: &HealRequest,
    inv: &Inventory,
    hosts: &HostNames,
    check: &Check,
) -> Result<(Vec<Firing>, Unknown), String> {
    let Some(pattern) = check.source.hosts() else {
        let samples = source::query(&check.source, check.timeout)?;
        let firing = samples
            .into_iter()
            .map(|s| {
                let label = s.labels.get(&check.hosts_from).cloned().unwrap_or_default();
                Firing {
                    host: hosts.find(&label),
                    label,
                    value: s.value,
                    labels: s.labels,
                }
            })
            .collect();
        return Ok((firing, Vec::new()));
    };
    let selection = inv
        .select(pattern, None)
        .map_err(|e| format!("hosts: {e}"))?;
    if selection.hosts.is_empty() {
        return Err(format!("hosts: '{pattern}' matches no inventory host"));
    }
    let names: Vec<String> = selection.hosts.iter().map(|h| h.name.clone()).collect();
    let answers: Vec<(String, Result<Option<source::Sample>, String>)> = match &check.source {
        rules::Source::Http {
            url,
            status,
            body,
            max_latency,
            ..
        } => {
            let body = body
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .map_err(|e| format!("body: {e}"))?;
            let expect = source::http::Expect {
                status,
                body: body.as_ref(),
                max_latency: *max_latency,
                timeout: check.timeout,
            };
            probe_urls(inv, &names, url, &expect, req.connection.forks)
        }
        other => {
            let Some((script, probe)) = source::HostProbe::of(other) else {
                return Err("this source is not read on hosts".into());
            };
            on_hosts(req, inv, &names, &script, check.timeout)?
                .into_iter()
                .map(|(host, answer)| {
                    let read = answer.and_then(|(rc, out, err)| probe.read(&host, rc, &out, &err));
                    (host, read)
                })
                .collect()
        }
    };
    let mut firing = Vec::new();
    let mut unknown = Vec::new();
    for (host, answer) in answers {
        match answer {
            Ok(Some(s)) => firing.push(Firing {
                host: Some(host.clone()),
                label: host,
                value: s.value,
                labels: s.labels,
            }),
            Ok(None) => {}
            Err(why) => unknown.push((host, why)),
        }
    }
    if firing.is_empty() && !unknown.is_empty() && unknown.len() == names.len() {
        let all: Vec<String> = unknown.iter().map(|(h, w)| format!("{h}: {w}")).collect();
        return Err(format!("no host could be probed: {}", all.join("; ")));
    }
    Ok((firing, unknown))
}

/// Each host's URL (a template of its inventory variables) probed, `forks` at a time.
fn probe_urls(
    inv: &Inventory,
    names: &[String],
    url: &str,
    expect: &source::http::Expect,
    forks: usize,
) -> Vec<(String, Result<Option<source::Sample>, String>)> {
    let templar = crate::template::Templar::new();
    let mut out = Vec::new();
    for chunk in names.chunks(forks.max(1)) {
        let done: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|host| {
                    let templar = &templar;
                    scope.spawn(move || {
                        let mut vars = inv.host_vars(host).unwrap_or_default();
                        vars.insert("inventory_hostname".into(), Value::from(host.clone()));
                        vars.entry("ansible_host".to_string())
                            .or_insert_with(|| Value::from(host.clone()));
                        let tv = Arc::new(crate::template::TemplateVars::new(vars));
                        let answer = templar
                            .render_text(url, &tv)
                            .map_err(|e| format!("http: {e}"))
                            .map(|u| source::http::probe(host, &u, expect));
                        (host.clone(), answer)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        out.extend(done);
    }
    out
}

/// A host's exit status, stdout and stderr, or why it gave none.
type HostAnswer = Result<(Option<u32>, Vec<u8>, Vec<u8>), String>;

/// `script` run on every host of `names` over SSH (one connection each, `forks` at once).
fn on_hosts(
    req: &HealRequest,
    inv: &Inventory,
    names: &[String],
    script: &str,
    timeout: Duration,
) -> Result<Vec<(String, HostAnswer)>, String> {
    let targets = crate::engine::targets(
        inv,
        names.iter().map(String::as_str),
        &req.connection.defaults,
        &req.connection.options,
    )
    .map_err(|e| e.to_string())?;
    let adhoc_req = crate::engine::adhoc::AdhocRequest {
        command: script.to_string(),
        forks: req.connection.forks,
        timeout: Some(timeout),
        escalation: None,
    };
    let mut opts = req.connection.options.clone();
    opts.stop = Some(req.stop.clone());
    let runtime = super::setup::runtime().map_err(|e| e.to_string())?;
    let results = runtime.block_on(crate::engine::adhoc::run(
        targets,
        &adhoc_req,
        &opts,
        |_| {},
    ));
    Ok(results
        .into_iter()
        .map(|r| {
            let answer = match (r.output, r.error) {
                (Some(o), _) => Ok((o.rc, o.stdout, o.stderr)),
                (None, Some(e)) => Err(format!("{}: {e}", r.status.as_str())),
                (None, None) => Err(r.status.as_str().to_string()),
            };
            (r.host, answer)
        })
        .collect())
}

/// Where a host is reached: its `ansible_host`, else its name.
fn address_of(inv: &Inventory, host: &str) -> String {
    match inv
        .host_vars(host)
        .and_then(|v| v.get("ansible_host").cloned())
    {
        Some(Value::String(a)) => a,
        _ => host.to_string(),
    }
}

/// How heal signs the kill switch it engages.
const HEAL_BY: &str = " (olympus heal)";

/// The events of a pass other than actions (each action's is sent as it ends): a blast
/// radius exceeded, per check, and the kill switch engaged by heal.
fn pass_events(pass: &Pass, at: jiff::Timestamp) -> Vec<Value> {
    let mut out = Vec::new();
    for c in &pass.checks {
        let over: Vec<&DecisionRecord> = c
            .decisions
            .iter()
            .filter(|d| d.decision == "max_hosts")
            .collect();
        if let Some(first) = over.first() {
            out.push(json!({
                "event": "max_hosts",
                "at": at.to_string(),
                "rule": c.name,
                "hosts": over.iter().map(|d| d.host.clone()).collect::<Vec<_>>(),
                "detail": first.detail,
            }));
        }
    }
    if let Some(why) = &pass.engaged {
        out.push(json!({
            "event": "kill_switch",
            "at": at.to_string(),
            "detail": format!("kill switch {why}"),
        }));
    }
    out
}

/// Engages the kill switch when failed actions reached `max_failed_actions`; why, when it
/// did.
fn spend_failures(store: &dyn Store, rules: &Rules) -> Result<Option<String>, Error> {
    let state_err = |e: state::StateError| Error::Internal(e.to_string());
    let Some(max) = rules.guards.max_failed_actions else {
        return Ok(None);
    };
    let failed = store.failed_actions_since_release().map_err(state_err)?;
    if failed < max {
        return Ok(None);
    }
    let reason = format!(
        "{failed} heal actions failed since the switch was last released (max_failed_actions {max} in {})",
        rules.path.display()
    );
    let by = format!("{}{HEAL_BY}", state::who());
    let lock = match store.engage(&by, &reason).map_err(state_err)? {
        state::Engaged::Now(l) | state::Engaged::Already(l) => l,
    };
    tracing::error!("kill switch {}", lock.describe());
    Ok(Some(lock.describe()))
}

/// Runs one action (claimed as `id`) and records how it ended; never fails (its failure is
/// its outcome).
fn act_on(
    req: &HealRequest,
    rules: &Rules,
    check: &Check,
    id: i64,
    act: &decide::Act,
    address: &str,
) -> ActionResult {
    let playbook = check.action.what.describe();
    let mut result = ActionResult {
        host: act.host.clone(),
        playbook: playbook.clone(),
        outcome: "error".into(),
        detail: String::new(),
    };
    tracing::info!("{}: running {playbook} on {}", check.name, act.host);
    let (outcome, detail) = match (action_vars(check, act), &check.action.what) {
        (Err(e), _) => ("error".to_string(), e),
        (Ok(mut vars), rules::Remedy::Exec { argv, timeout }) => {
            let mut event = json!({
                "event": "remediate",
                "at": jiff::Timestamp::now().to_string(),
                "rule": check.name,
                "host": act.host,
                "address": address,
                "value": act.value,
                "labels": act.labels,
            });
            vars.remove("heal");
            event["vars"] = Value::Object(vars.into_iter().collect());
            exec_outcome(super::notify::run(argv, &event, *timeout, Some(&req.stop)))
        }
        (Ok(data_vars), rules::Remedy::Playbook(playbook)) => {
            let run = super::run::run(
                RunRequest {
                    playbooks: vec![playbook.clone()],
                    sources: Sources {
                        inventory: req.sources.inventory.clone(),
                        limit: Some(act.host.clone()),
                    },
                    roles_path: req.roles_path.clone(),
                    gather_explicit: false,
                    listing: Listing::default(),
                    check: false,
                    diff: false,
                    extra_vars: Vec::new(),
                    data_vars,
                    tags: Vec::new(),
                    skip_tags: Vec::new(),
                    force_handlers: false,
                    start_at_task: None,
                    connection: req.connection.clone(),
                    report: Report::Silent,
                    junit: None,
                    report_html: None,
                    profile: false,
                    verbosity: 0,
                    stop: req.stop.clone(),
                    on_signals: false,
                    kill_switch: Some(KillSwitch {
                        store: req.store.clone(),
                        override_lock: false,
                        poll: req.lock_poll,
                    }),
                    shard: None,
                },
                None,
            );
            outcome_of(run)
        }
    };
    if let Err(e) = req.store.finish_action(id, &outcome, &detail) {
        tracing::error!("{}: the action's end cannot be recorded: {e}", check.name);
    }
    tracing::info!(
        "{}: {playbook} on {}: {outcome} {detail}",
        check.name,
        act.host
    );
    if matches!(outcome.as_str(), "failed" | "unreachable" | "error") {
        // The budget is spent as failures happen: the switch stops the others too.
        if let Err(e) = spend_failures(&*req.store, rules) {
            tracing::error!("{e}");
        }
    }
    if !req.notify.is_empty() {
        req.notify.send(&json!({
            "event": "action",
            "at": jiff::Timestamp::now().to_string(),
            "rule": check.name,
            "host": act.host,
            "address": address,
            "value": act.value,
            "labels": act.labels,
            "playbook": playbook,
            "outcome": outcome,
            "detail": detail,
        }));
    }
    result.outcome = outcome;
    result.detail = detail;
    result
}

/// The action's extra vars: its own (authored templates, rendered with the event's
/// `value`, `labels`, `host` and `rule` as data), and `heal` with the event itself.
fn action_vars(check: &Check, act: &decide::Act) -> Result<crate::yaml::Vars, String> {
    let mut tv = crate::template::TemplateVars::new(crate::yaml::Vars::new());
    let labels = json!(act.labels);
    tv.insert_data("value".into(), act.value.clone());
    tv.insert_data("labels".into(), labels.clone());
    tv.insert_data("host".into(), Value::from(act.host.clone()));
    tv.insert_data("rule".into(), Value::from(check.name.clone()));
    let tv = Arc::new(tv);
    let templar = crate::template::Templar::new();
    let mut out = crate::yaml::Vars::new();
    for (k, v) in &check.action.vars {
        let rendered = templar
            .render(v, &tv)
            .map_err(|e| format!("action vars: {k}: {e}"))?;
        out.insert(k.clone(), rendered);
    }
    out.insert(
        "heal".into(),
        json!({"rule": check.name, "host": act.host, "value": act.value, "labels": labels}),
    );
    Ok(out)
}

/// An exec action's outcome: `ok` on exit 0, `interrupted` when heal was stopped, else
/// `failed` with why.
fn exec_outcome(ran: Result<String, super::notify::Failure>) -> (String, String) {
    match ran {
        Ok(out) => ("ok".into(), out),
        Err(super::notify::Failure::Stopped) => ("interrupted".into(), "heal was stopped".into()),
        Err(super::notify::Failure::Other(e)) => ("failed".into(), e),
    }
}

fn outcome_of(run: Result<Ran, Error>) -> (String, String) {
    match run {
        Err(Error::Locked(why)) => ("halted".into(), why),
        Err(e) => ("error".into(), e.to_string()),
        Ok(ran) => {
            let what = match ran.outcome {
                Outcome::Ok => "ok",
                Outcome::Failed | Outcome::Stopped => "failed",
                Outcome::Unreachable => "unreachable",
                Outcome::Halted => "halted",
                Outcome::Interrupted => "interrupted",
            };
            let recap: Vec<String> = ran
                .recap
                .iter()
                .map(|(h, c)| {
                    format!(
                        "{h}: ok={} changed={} failed={} unreachable={}",
                        c.ok, c.changed, c.failed, c.unreachable
                    )
                })
                .collect();
            (what.into(), recap.join("; "))
        }
    }
}

/// Inventory hosts by what a monitoring label may call them: the name or `ansible_host`,
/// with `:port` taken off the label.
struct HostNames(BTreeMap<String, String>);

impl HostNames {
    fn of(inv: &Inventory) -> HostNames {
        let mut m = BTreeMap::new();
        for h in inv.hosts() {
            if let Some(Value::String(addr)) = inv
                .host_vars(&h.name)
                .and_then(|v| v.get("ansible_host").cloned())
            {
                m.entry(addr).or_insert_with(|| h.name.clone());
            }
        }
        // A name beats another host's ansible_host.
        for h in inv.hosts() {
            m.insert(h.name.clone(), h.name.clone());
        }
        HostNames(m)
    }

    fn find(&self, label: &str) -> Option<String> {
        let bare = strip_port(label);
        self.0.get(label).or_else(|| self.0.get(bare)).cloned()
    }
}

/// `db1:9104` → `db1`, `[::1]:9100` → `::1`, `10.0.0.1` as it is.
fn strip_port(label: &str) -> &str {
    if let Some(rest) = label.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match label.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => label,
    }
}

/// `olympus heal --status`: the controllers sharing the state, the leader first; text, or
/// one JSON object.
pub fn status(store: &dyn Store, json: bool) -> Result<String, Error> {
    let mut cs = store
        .controllers()
        .map_err(|e| Error::Internal(e.to_string()))?;
    cs.sort_by_key(|c| (!c.leading, c.name.clone()));
    if json {
        let v = json!({
            "state": store.location(),
            "shared": store.shared(),
            "leader": cs.iter().find(|c| c.leading).map(|c| c.name.clone()),
            "controllers": cs,
        });
        return Ok(format!("{v}\n"));
    }
    if !store.shared() {
        return Ok(format!(
            "state {}: one machine's (SQLite); heal's lock keeps two heals there from acting at once. Controllers on several machines need --state postgres://…\n",
            store.location()
        ));
    }
    let mut out = format!("state {}\n", store.location());
    if !cs.iter().any(|c| c.leading) {
        out.push_str("leader: none (no controller holds heal's lock now)\n");
    }
    for c in &cs {
        let what = if c.leading { "leader " } else { "standby" };
        out.push_str(&format!(
            "{what} {}  (seen {:.0}s ago)\n",
            c.name, c.seen_secs_ago
        ));
    }
    Ok(out)
}

/// `olympus history`: what heal and the kill switch did, oldest first.
pub fn history(
    store: &dyn Store,
    filter: &state::HistoryFilter,
) -> Result<Vec<state::HistoryEntry>, Error> {
    store
        .history(filter)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Why a watching heal starts a pass before its interval is up.
enum Wake {
    Hangup,
    Webhook(usize),
}

/// Leading or standing by, for controllers sharing a store (PostgreSQL): the leader holds
/// heal's lock between passes; the others try to take it every third of the lease.
struct Leadership<'a> {
    store: &'a dyn Store,
    me: String,
    held: Option<state::HealLock>,
    /// The role last logged, so a change is logged once.
    said: Option<bool>,
}

impl Leadership<'_> {
    /// Keeps or takes the lead; whether this controller leads now.
    fn refresh(&mut self) -> bool {
        if self.held.is_some() && !self.store.holds_heal_lock() {
            self.held = None;
            tracing::error!(
                "lost the state database with heal's lock: standing by until it can be taken again"
            );
        }
        if self.held.is_none() {
            match self.store.try_heal_lock() {
                Ok(Some(l)) => self.held = Some(l),
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}: standing by"),
            }
        }
        let leading = self.held.is_some();
        let role = if leading { "leader" } else { "standby" };
        if let Err(e) = self.store.heartbeat(&self.me, role) {
            tracing::debug!("heartbeat: {e}");
        }
        if self.said != Some(leading) {
            self.said = Some(leading);
            if leading {
                tracing::info!("leading: this controller ({}) acts", self.me);
            } else {
                let leader = self
                    .store
                    .controllers()
                    .ok()
                    .and_then(|cs| cs.into_iter().find(|c| c.leading))
                    .map_or_else(|| "another controller".to_string(), |c| c.name);
                tracing::info!("standing by: {leader} leads");
            }
        }
        leading
    }
}

/// `heal --watch`: a pass now and every `interval`, or at once on SIGHUP or a webhook POST
/// to `listen`; returns when SIGINT/SIGTERM (or `req.stop`) stops it, after the pass in
/// flight has recorded what it cut short. Each pass is given to `report`.
///
/// On a shared store (PostgreSQL) several controllers may watch the same rules: one leads
/// and runs the passes, holding heal's lock between them; the others stand by, reading no
/// source, and the first to take the lock after the leader is gone (or cut off for longer
/// than `lease`) leads, with a pass at once.
pub fn watch(
    req: &HealRequest,
    interval: Duration,
    lease: Duration,
    listen: Option<std::net::SocketAddr>,
    report: &mut dyn FnMut(&Pass),
) -> Result<Outcome, Error> {
    // A rules file that is wrong at start is an error; later, a pass logs it and waits.
    Rules::load(&req.rules).map_err(|e| Error::BadInput(e.to_string()))?;
    let (wake, woken) = std::sync::mpsc::channel::<Wake>();
    let rt = super::setup::runtime()?;
    rt.spawn(crate::stop::on_signals(req.stop.clone()));
    {
        let wake = wake.clone();
        rt.spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot watch for SIGHUP");
                return;
            };
            while hup.recv().await.is_some() {
                let _ = wake.send(Wake::Hangup);
            }
        });
    }
    if let Some(addr) = listen {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::BadInput(format!("--listen {addr}: {e}")))?;
        tracing::info!("accepting Alertmanager webhooks on http://{addr}/");
        std::thread::spawn(move || webhooks(listener, wake));
    }
    tracing::info!(
        "watching {} every {}s",
        req.rules.display(),
        interval.as_secs()
    );
    let shared = req.store.shared() && !req.dry_run;
    let mut lead = Leadership {
        store: &*req.store,
        me: format!("{} pid {}", state::who(), std::process::id()),
        held: None,
        said: None,
    };
    if shared {
        req.store.set_lease(lease);
        req.store.name_connection(&lead.me);
    }
    let beat = (lease / 3).max(Duration::from_secs(1));
    let mut rules_said: Option<String> = None;
    loop {
        if !shared {
            match once(req) {
                Ok(pass) => report(&pass),
                Err(e) => tracing::error!("this pass did nothing: {e}"),
            }
        } else if lead.refresh() {
            match pass(req, true) {
                Ok(pass) => report(&pass),
                Err(e) => tracing::error!("this pass did nothing: {e}"),
            }
        } else {
            // A standby reads the rules as the leader would, so a broken file on this
            // machine is said now, not when it takes over.
            let broken = Rules::load(&req.rules).err().map(|e| e.to_string());
            if broken != rules_said {
                match &broken {
                    Some(e) => tracing::error!("standing by with rules that do not load: {e}"),
                    None => tracing::info!("the rules load again"),
                }
                rules_said = broken;
            }
        }
        if req.stop.is_raised() {
            break;
        }
        let deadline = std::time::Instant::now() + interval;
        let mut next_beat = std::time::Instant::now() + beat;
        while !req.stop.is_raised() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if shared && std::time::Instant::now() >= next_beat {
                next_beat = std::time::Instant::now() + beat;
                let was = lead.held.is_some();
                if lead.refresh() && !was {
                    // Taken over: a pass now, not at the old leader's next interval.
                    break;
                }
            }
            match woken.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(Wake::Hangup) => {
                    tracing::info!("SIGHUP: a pass now, with the rules read again");
                    break;
                }
                Ok(Wake::Webhook(n)) => {
                    tracing::info!("webhook with {n} alert(s): a pass now");
                    break;
                }
                Err(_) => {}
            }
        }
        if req.stop.is_raised() {
            break;
        }
    }
    tracing::info!("stopped");
    Ok(Outcome::Ok)
}

/// The most bytes of one webhook request read.
const MAX_WEBHOOK: usize = 1024 * 1024;

/// Serves Alertmanager's webhook: every POST with a JSON body holding `alerts` wakes the
/// watcher (the pass then reads the sources; the body only says "now").
fn webhooks(listener: std::net::TcpListener, wake: std::sync::mpsc::Sender<Wake>) {
    use std::io::{Read, Write};
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        // Headers, then as much body as Content-Length says (capped).
        let (head_end, length) = loop {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => break (None, 0),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (Some(i + 4), length);
            }
            if buf.len() > MAX_WEBHOOK {
                break (None, 0);
            }
        };
        let answer = match head_end {
            Some(start) if length <= MAX_WEBHOOK => {
                while buf.len() < start + length {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let post = buf.starts_with(b"POST ");
                let body = buf
                    .get(start..(start + length).min(buf.len()))
                    .unwrap_or_default();
                let alerts = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v["alerts"].as_array().map(Vec::len));
                match (post, alerts) {
                    (true, Some(n)) => {
                        let _ = wake.send(Wake::Webhook(n));
                        "200 OK"
                    }
                    (false, _) => "405 Method Not Allowed",
                    (true, None) => "400 Bad Request",
                }
            }
            Some(_) => "413 Payload Too Large",
            None => "400 Bad Request",
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_off_labels() {
        assert_eq!(strip_port("db1:9104"), "db1");
        assert_eq!(strip_port("10.0.0.1:9100"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:9100"), "::1");
        assert_eq!(strip_port("db1"), "db1");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
    }
}
