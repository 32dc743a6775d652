//! One task on one host: its conditions and arguments rendered (ahead, on rayon), its
//! loop, each item's module plan run over the host's connection, `retries`/`until`,
//! `changed_when`/`failed_when`, and the registered result.
//!
//! Owns: turning a task and a host into a [`HostOutcome`]. Must not: walk task lists,
//! count the recap or decide about other hosts (the play walker in `play.rs` does).

use super::*;

/// A host's share of a task, prepared before it runs (see [`Runner::prepare`]).
pub(super) struct Prepared {
    pub(super) host: String,
    pub(super) vars: Arc<TemplateVars>,
    /// The loop's items, when the task loops.
    pub(super) items: Option<Result<Vec<Value>, String>>,
    /// Conditions and arguments, when it does not.
    pub(super) first: Option<Rendered>,
}

/// The outcome of rendering a task's conditions and arguments.
pub(super) enum Rendered {
    /// A condition was false (skipped) or failed to evaluate.
    Stop(Status, Value),
    /// The arguments, rendered and without `omit`ted ones.
    Args(Result<Vars, String>),
}

/// Why a module run on a host gave no result.
pub(super) enum ItemError {
    Unreachable(String),
    Failed(String),
}

/// An async job's id, as ansible-core shapes it (`j` + digits + `.` + a process id).
fn job_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    format!(
        "j{}.{}",
        u64::from_le_bytes(b) % 1_000_000_000_000,
        std::process::id()
    )
}

impl Runner<'_> {
    /// What each host needs before its task can run, computed for many hosts at once on
    /// rayon's threads (templating is the engine's CPU work): its variables, and the task's
    /// loop items, or for a task without a loop its conditions and rendered arguments.
    pub(super) fn prepare(
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
                    Some(l) => (Some(self.loop_items(l, task, &vars)), None),
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
    pub(super) fn render_item(
        &self,
        task: &Task,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
    ) -> Rendered {
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
        let Action::Module { args, module } = &task.action else {
            return Rendered::Stop(
                Status::Failed,
                serde_json::json!({"failed": true, "changed": false, "msg": "not a module"}),
            );
        };
        // `module_defaults` from the play down to the task (the innermost wins), under the
        // task's own arguments.
        let mut merged = Vars::new();
        for c in chain {
            let Some(d) = &c.module_defaults else {
                continue;
            };
            let maps: Vec<&Vars> = match d {
                Value::Object(m) => vec![m],
                Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
                _ => Vec::new(),
            };
            for m in maps {
                for (name, a) in m {
                    if !modules::registry::find(name).is_some_and(|s| std::ptr::eq(s, *module)) {
                        continue;
                    }
                    // A module's defaults may be one template giving the mapping.
                    let a = match a {
                        Value::String(t) if template::is_template(t) => {
                            match self.templar.render(a, vars) {
                                Ok(v) => v,
                                Err(e) => {
                                    return Rendered::Args(Err(format!(
                                        "module_defaults for '{name}': {e}"
                                    )));
                                }
                            }
                        }
                        other => other.clone(),
                    };
                    if let Value::Object(a) = a {
                        merged.extend(a);
                    }
                }
            }
        }
        let args: Cow<'_, Vars> = if merged.is_empty() {
            Cow::Borrowed(args)
        } else {
            merged.extend(args.clone());
            Cow::Owned(merged)
        };
        // Each argument on its own, so that a failure names it as ansible-core does.
        let mut rendered = Vars::new();
        for (k, v) in args.iter() {
            let key = if template::is_template(k) {
                match self.templar.render(&Value::from(k.as_str()), vars) {
                    Ok(v) => text(&v),
                    Err(e) => return Rendered::Args(Err(e.to_string())),
                }
            } else {
                k.clone()
            };
            match self.templar.render(v, vars) {
                Ok(v) => {
                    rendered.insert(key, v);
                }
                Err(e) => {
                    let message = match &e {
                        template::TemplateError::Render { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    return Rendered::Args(Err(format!(
                        "Task failed: Finalization of task args for '{}.{}' failed: Error while resolving value for '{k}': {message}",
                        module.namespace, module.name
                    )));
                }
            }
        }
        template::strip_omitted(&mut rendered);
        Rendered::Args(Ok(rendered))
    }

    /// Runs the task on one host. A task with `no_log` anywhere in its chain (whatever its
    /// value) keeps its commands out of `-vvv`'s log.
    pub(super) async fn run_on_host(
        &self,
        task: &Task,
        chain: &[&Common],
        prepared: Prepared,
    ) -> HostOutcome {
        let hide = chain.iter().any(|c| c.no_log.is_some());
        let start = std::time::SystemTime::now();
        let clock = std::time::Instant::now();
        let mut o = crate::connection::HIDE_COMMANDS
            .scope(hide, self.run_on_host_shown(task, chain, prepared))
            .await;
        o.timing = Some(crate::engine::events::Timing {
            start,
            took: clock.elapsed(),
        });
        o
    }

    async fn run_on_host_shown(
        &self,
        task: &Task,
        chain: &[&Common],
        prepared: Prepared,
    ) -> HostOutcome {
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
            looped: false,
            timing: None,
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
            let items = match items.unwrap_or_else(|| self.loop_items(l, task, &base)) {
                Ok(i) => i,
                Err(e) => return fail(e),
            };
            let lc = task.loop_control.clone().unwrap_or(Value::Null);
            let (loop_var, index_var) = super::loops::loop_names(task);
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
            let extended = lc
                .get("extended")
                .is_some_and(crate::template::ansible_bool);
            let mut results = Vec::new();
            let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
            let (mut always_show, mut bare) = (false, false);
            // Facts an item sets (`set_fact` in a loop) are seen by the items after it.
            let mut base = (*base).clone();
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
                let mut v = base.clone();
                v.insert_data(loop_var.clone(), item.clone());
                if let Some(iv) = &index_var {
                    v.insert_data(iv.clone(), Value::from(i));
                }
                // `ansible_loop` (loop_control.extended), as ansible-core gives it: no
                // `previtem` on the first item, no `nextitem` on the last.
                let ansible_loop = extended.then(|| {
                    let n = items.len();
                    let mut l = serde_json::json!({
                        "allitems": items, "index": i + 1, "index0": i,
                        "revindex": n - i, "revindex0": n - i - 1,
                        "first": i == 0, "last": i + 1 == n, "length": n,
                    });
                    if i > 0 {
                        l["previtem"] = items[i - 1].clone();
                    }
                    if let Some(next) = items.get(i + 1) {
                        l["nextitem"] = next.clone();
                    }
                    l
                });
                if let Some(l) = &ansible_loop {
                    v.insert_data("ansible_loop".into(), l.clone());
                }
                v.insert_data("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                let v = Arc::new(v);
                let label = lc
                    .get("label")
                    .and_then(|l| self.templar.render(l, &v).ok())
                    .map(|l| text(&l))
                    .unwrap_or_else(|| crate::pyrepr::str_of(item));
                let mut o = self.run_item(task, host, chain, &v, None).await;
                if let Some(Value::Object(facts)) = o.result.get("ansible_facts") {
                    let authored = matches!(&task.action, Action::Module { module, .. }
                        if module.step() == Some(modules::registry::Step::IncludeVars));
                    for (k, val) in facts {
                        if authored {
                            base.insert_authored(k.clone(), val.clone());
                        } else {
                            base.insert_data(k.clone(), val.clone());
                        }
                    }
                }
                o.item = Some(label);
                if let Value::Object(m) = &mut o.result {
                    m.insert(loop_var.clone(), item.clone());
                    m.insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                    if let Some(l) = ansible_loop {
                        m.insert("ansible_loop".into(), l);
                    }
                }
                o.no_log |= no_log;
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
            } else if !all_skipped {
                agg["msg"] = Value::from("All items completed");
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
            o.looped = true;
            o
        } else {
            let mut o = self.run_item(task, host, chain, &base, first).await;
            o.no_log |= no_log;
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
    pub(super) async fn run_item(
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
            looped: false,
            timing: None,
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
        let mut hide = false;
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
                    hide = r.no_log;
                    (status, r.into_register())
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
                            result["failed_when_result"] = Value::Bool(f);
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
            last.no_log = hide;
            break;
        }
        last
    }

    pub(super) async fn run_module(
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
        match module.step() {
            Some(Step::IncludeVars) => {
                return self.include_vars(task, args, vars).map(|r| (r, None));
            }
            Some(Step::GroupBy) => return self.group_by(host, args).map(|r| (r, None)),
            Some(Step::AddHost) => return self.add_host(args).map(|r| (r, None)),
            // Boxed (as the commands below): their state is large (russh's), and inline it
            // would be part of every task's future on every host, held for each host in
            // flight and moved as the engine queues it.
            Some(Step::Reboot) => {
                return Box::pin(self.reboot(host, args, chain, vars, check))
                    .await
                    .map(|r| (r, None));
            }
            Some(Step::WaitForConnection) => {
                return Box::pin(self.wait_for_connection(host, args, chain, vars, check))
                    .await
                    .map(|r| (r, None));
            }
            _ => {}
        }
        let ctx = ModuleCtx {
            check_mode: check,
            diff,
            verbosity: self.opts.verbosity,
            templar: &self.templar,
            vars,
            files: &self.files,
            host,
            jobs: &self.async_jobs,
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
        // `async: N` (with a poll above 0): the task may run N seconds, as ansible-core's
        // async wrapper lets it, then fails.
        let async_limit = task
            .async_
            .as_ref()
            .map(|a| {
                self.templar
                    .render(a, vars)
                    .map_err(|e| e.to_string())
                    .and_then(|a| crate::bounds::seconds("async", &a))
            })
            .transpose()
            .map_err(ItemError::Failed)?
            .filter(|d| !d.is_zero());
        // `poll: 0`: the module's first step starts detached on the host; `async_status`
        // reads it back.
        let background = match (&task.poll, async_limit) {
            (Some(p), Some(_)) => {
                let p = self
                    .templar
                    .render(p, vars)
                    .map_err(|e| ItemError::Failed(e.to_string()))?;
                crate::bounds::seconds("poll", &p).is_ok_and(|d| d.is_zero())
            }
            _ => false,
        };
        if async_limit.is_some() && !module.supports_async {
            return Err(ItemError::Failed(format!(
                "This action ({}) does not support async.",
                module.name
            )));
        }
        let timeout = if background {
            timeout
        } else {
            async_limit.or(timeout)
        };
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
                Plan::Done(r) => {
                    let mut r = self.cut_output(module, r, cut);
                    if async_limit.is_some() && !background {
                        // What ansible-core's async wrapper adds (its results file is not
                        // made: olympus keeps the result in memory).
                        r.data
                            .insert("ansible_job_id".into(), Value::from(job_id()));
                        r.data.insert("started".into(), Value::Bool(true));
                        r.data.insert("finished".into(), Value::Bool(true));
                    }
                    return Ok((r, delegate));
                }
                Plan::Wait(d, r) => {
                    self.wait(host, d).await?;
                    return Ok((r, delegate));
                }
                Plan::Remote {
                    script,
                    stdin,
                    then,
                } if background => {
                    let jid = job_id();
                    let limit = async_limit.map_or(0, |d| d.as_secs());
                    let start = modules::async_status::start_script(
                        &jid,
                        &format!("{prelude}{script}"),
                        stdin.as_deref(),
                        limit,
                    );
                    let out = Box::pin(conn.exec(ExecRequest {
                        command: &start,
                        stdin: None,
                        escalation: escalation.as_ref(),
                        timeout,
                    }))
                    .await
                    .map_err(|e| {
                        if e.is_unreachable() {
                            ItemError::Unreachable(e.to_string())
                        } else {
                            ItemError::Failed(e.to_string())
                        }
                    })?;
                    let text = String::from_utf8_lossy(&out.stdout).into_owned();
                    let Some(file) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("results_file="))
                        .filter(|_| out.success())
                    else {
                        return Err(ItemError::Failed(format!(
                            "could not start the job in the background: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        )));
                    };
                    self.async_jobs.keep(host, &jid, then);
                    return Ok((modules::async_status::started(&jid, file), delegate));
                }
                Plan::Remote {
                    script,
                    stdin,
                    then,
                } => {
                    let full = format!("{prelude}{script}");
                    let out = Box::pin(conn.exec(ExecRequest {
                        command: &full,
                        stdin: stdin.as_deref(),
                        escalation: escalation.as_ref(),
                        timeout,
                    }))
                    .await;
                    match out {
                        Ok(o) => {
                            cut |= o.truncated;
                            plan = then(o);
                        }
                        Err(e) if e.is_unreachable() => {
                            return Err(ItemError::Unreachable(e.to_string()));
                        }
                        Err(ConnectionError::Timeout(_)) if let Some(limit) = async_limit => {
                            let mut r = ModuleResult::failed(format!(
                                "async task did not complete within the requested time - {}s",
                                limit.as_secs()
                            ));
                            r.data.insert(
                                "async_result".into(),
                                serde_json::json!({
                                    "ansible_job_id": job_id(), "finished": false, "started": true,
                                    "stdout": "", "stdout_lines": [], "stderr": "", "stderr_lines": [],
                                }),
                            );
                            return Ok((r, delegate));
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
    pub(super) fn cut_output(&self, module: &Spec, mut r: ModuleResult, cut: bool) -> ModuleResult {
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

    pub(super) fn include_vars(
        &self,
        task: &Task,
        args: &Vars,
        vars: &Arc<TemplateVars>,
    ) -> Result<ModuleResult, ItemError> {
        let (rel, name) =
            modules::include_vars::parse(args).map_err(|e| ItemError::Failed(e.to_string()))?;
        let path = self
            .find_file(task, vars, "vars", &rel)
            .map_err(ItemError::Failed)?;
        let node = crate::yaml::load_file(&path).map_err(|e| ItemError::Failed(e.to_string()))?;
        let mut r = ModuleResult::ok();
        // A vaulted file's values are not shown, as ansible-core hides them.
        r.no_log = std::fs::read(&path)
            .map(|b| crate::vault::is_vault(&b))
            .unwrap_or(false);
        match node.to_value() {
            Value::Object(m) => {
                if let Some(name) = name {
                    r.facts.insert(name, Value::Object(m.clone()));
                } else {
                    r.facts = m.clone();
                }
                r.data.insert("ansible_facts".into(), Value::Object(m));
                r.data.insert(
                    "ansible_included_var_files".into(),
                    Value::from(vec![path.to_string_lossy().into_owned()]),
                );
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

    /// A file a task names (`include_vars`, ...), looked up as Ansible does: in the role's
    /// `subdir` and the role, beside the task's file, then in the playbook's `subdir` and
    /// the playbook's directory. An absolute path is taken as it is.
    pub(super) fn find_file(
        &self,
        task: &Task,
        vars: &Arc<TemplateVars>,
        subdir: &str,
        rel: &str,
    ) -> Result<PathBuf, String> {
        if Path::new(rel).is_absolute() {
            return Ok(PathBuf::from(rel));
        }
        let mut bases: Vec<PathBuf> = Vec::new();
        if let Some(role) = vars.get("role_path").and_then(Value::as_str) {
            bases.push(PathBuf::from(role));
        }
        if let Some(dir) = task.origin.file.parent() {
            bases.push(dir.to_path_buf());
            // A role's task file sits in `tasks/`: its role is one up.
            if dir.file_name().is_some_and(|n| n == "tasks")
                && let Some(up) = dir.parent()
            {
                bases.push(up.to_path_buf());
            }
        }
        bases.push(self.playbook_dir.clone());
        let mut looked = Vec::new();
        for b in &bases {
            for c in [b.join(subdir).join(rel), b.join(rel)] {
                if c.is_file() {
                    return Ok(c);
                }
                if !looked.contains(&c) {
                    looked.push(c);
                }
            }
        }
        let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
        Err(format!(
            "could not find '{rel}' (looked in: {})",
            looked.join(", ")
        ))
    }
}
