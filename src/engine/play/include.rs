//! Dynamic includes: `include_tasks` and `include_role`. Each host decides for itself —
//! its `when`, its loop items, the file or role its variables name — and hosts that
//! include the same thing with the same item run it together, as ansible-core groups its
//! included files. The include's `when` and `tags` belong to the include alone; its other
//! keywords and `apply:` wrap the included tasks; loop variables are data.
//!
//! Owns: resolving an include per host and item, reporting the include's own result, the
//! handlers and the `public` variables an included role brings. Must not: parse files
//! (the playbook reader does), or run a module itself.

use super::*;
use crate::modules::include_role::{self, RoleRef};

/// Role variables a host keeps seeing after an include (`public: true`).
#[derive(Debug, Clone, Default)]
pub(in crate::engine) struct Exposed {
    pub(in crate::engine) defaults: Vars,
    pub(in crate::engine) vars: Vars,
}

/// What one host includes for one item.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Tasks(PathBuf),
    Role { role: RoleRef, public: bool },
}

/// Hosts that include the same target with the same item.
struct Group {
    target: Target,
    /// The loop variables bound for the included tasks (data, never templates).
    data: Vars,
    label: Option<String>,
    hosts: Vec<String>,
}

impl Runner<'_> {
    /// `include_tasks` and `include_role`, per host and loop item. A host whose include
    /// cannot be done (a missing file or role, a `when` or a name that fails to render)
    /// fails that task, as in Ansible; the others go on.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_include(
        &self,
        st: &PlayState<'_>,
        task: &Task,
        args: &Vars,
        hosts: &[String],
        chain: &[&Common],
        handler: bool,
        rescuable: bool,
    ) -> Result<BTreeSet<String>, RunError> {
        let Action::Module { module, .. } = &task.action else {
            return Ok(BTreeSet::new());
        };
        let is_role = module.step() == Some(Step::IncludeRole);
        let mut failed = BTreeSet::new();
        // The include task's own result on a host, reported and counted as Ansible does.
        let report = |h: &String, status: Status, result: Value, item: Option<String>| {
            let o = HostOutcome {
                host: h.clone(),
                status,
                ignored: false,
                result,
                item,
                no_log: false,
                delegated: None,
                always_show: false,
                bare: false,
                looped: task.loop_.is_some(),
                timing: None,
            };
            self.reporter.event(Event::Host(&o));
        };
        let fail = |h: &String, msg: String, failed: &mut BTreeSet<String>| {
            report(
                h,
                Status::Failed,
                serde_json::json!({"failed": true, "changed": false, "reason": msg, "msg": msg}),
                None,
            );
            self.count_failure(h, rescuable);
            failed.insert(h.clone());
        };
        let depth = INCLUDE_DEPTH.try_with(|d| *d).unwrap_or(0);
        if depth >= MAX_INCLUDE_DEPTH {
            let msg = format!(
                "{} nested more than {MAX_INCLUDE_DEPTH} deep: a file or role that includes itself without an end? (the last was included from {})",
                module.name, task.origin
            );
            for h in hosts {
                fail(h, msg.clone(), &mut failed);
            }
            return Ok(self.note_failed(st, failed));
        }
        // Arguments are read before any host: a bad one fails every host alike.
        let raw = if is_role {
            include_role::request(module, args).map(|_| Value::Null)
        } else {
            modules::include_tasks::file(args)
        };
        match raw {
            Ok(_) => {}
            Err(e) => {
                for h in hosts {
                    fail(h, e.to_string(), &mut failed);
                }
                return Ok(self.note_failed(st, failed));
            }
        }
        let lc = task.loop_control.clone().unwrap_or(Value::Null);
        let (loop_var, index_var) = super::loops::loop_names(task);
        let mut groups: Vec<Group> = Vec::new();
        'hosts: for h in hosts {
            let base = Arc::new(self.vars_for(st, h, chain));
            // One pass without a loop; one per item with one.
            let items: Vec<Option<(usize, Value)>> = match &task.loop_ {
                None => vec![None],
                Some(l) => match self.loop_items(l, task, &base) {
                    Ok(items) => items.into_iter().enumerate().map(Some).collect(),
                    Err(e) => {
                        fail(h, e, &mut failed);
                        continue;
                    }
                },
            };
            // The include's own result per item (one result, or a loop's `results`).
            let mut results: Vec<Value> = Vec::new();
            let mut any = false;
            let mut done: u32 = 0;
            for item in items {
                let mut data = Vars::new();
                let v = match &item {
                    None => base.clone(),
                    Some((i, value)) => {
                        data.insert(loop_var.clone(), value.clone());
                        if let Some(iv) = &index_var {
                            data.insert(iv.clone(), Value::from(*i));
                        }
                        data.insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                        let mut v = (*base).clone();
                        for (k, val) in &data {
                            v.insert_data(k.clone(), val.clone());
                        }
                        Arc::new(v)
                    }
                };
                let label = item.as_ref().map(|(_, value)| {
                    lc.get("label")
                        .and_then(|l| self.templar.render(l, &v).ok())
                        .map(|l| text(&l))
                        .unwrap_or_else(|| text(value))
                });
                let mut result = serde_json::Map::new();
                if item.is_some() {
                    for (k, val) in &data {
                        result.insert(k.clone(), val.clone());
                    }
                }
                let mut included = Ok(None);
                for w in chain.iter().flat_map(|c| c.when.iter()) {
                    match self.templar.condition(w, &v) {
                        Ok(true) => {}
                        Ok(false) => {
                            included = Ok(Some(w.clone()));
                            break;
                        }
                        Err(e) => {
                            included = Err(format!("The conditional check failed: {e}"));
                            break;
                        }
                    }
                }
                match included {
                    Ok(None) => {}
                    Ok(Some(w)) => {
                        result.insert("changed".into(), Value::Bool(false));
                        result.insert("skipped".into(), Value::Bool(true));
                        result.insert("skip_reason".into(), "Conditional result was False".into());
                        result.insert("false_condition".into(), w);
                        results.push(Value::Object(result));
                        continue;
                    }
                    Err(msg) => {
                        fail(h, msg, &mut failed);
                        continue 'hosts;
                    }
                }
                let rendered = self
                    .templar
                    .render(&Value::Object(args.clone()), &v)
                    .map_err(|e| e.to_string());
                let target = if is_role {
                    rendered.and_then(|r| match r {
                        Value::Object(m) => include_role::request(module, &m)
                            .map(|req| {
                                result.insert("include_args".into(), Value::Object(m));
                                Target::Role {
                                    role: req.role,
                                    public: req.public,
                                }
                            })
                            .map_err(|e| e.to_string()),
                        _ => Err("include_role needs arguments".into()),
                    })
                } else {
                    rendered.and_then(|r| {
                        let file =
                            modules::include_tasks::file(r.as_object().unwrap_or(&Vars::new()))
                                .map_err(|e| e.to_string())?;
                        let rel = text(&file);
                        let path = self.task_file(task, &rel)?;
                        result.insert("include".into(), Value::from(rel));
                        // What ansible-core reports: the arguments besides the file.
                        let mut rest = r.as_object().cloned().unwrap_or_default();
                        rest.shift_remove("_raw_params");
                        rest.shift_remove("file");
                        result.insert("include_args".into(), Value::Object(rest));
                        Ok(Target::Tasks(path))
                    })
                };
                let target = match target {
                    Ok(t) => t,
                    Err(msg) => {
                        fail(h, msg, &mut failed);
                        continue 'hosts;
                    }
                };
                any = true;
                done += 1;
                result.insert("changed".into(), Value::Bool(false));
                results.push(Value::Object(result));
                match groups
                    .iter_mut()
                    .find(|g| g.target == target && g.data == data)
                {
                    Some(g) => g.hosts.push(h.clone()),
                    None => groups.push(Group {
                        target,
                        data,
                        label,
                        hosts: vec![h.clone()],
                    }),
                }
            }
            let result = if task.loop_.is_some() {
                let mut r = serde_json::json!({"changed": false, "results": results});
                if any {
                    r["msg"] = Value::from("All items completed");
                } else {
                    r["skipped"] = Value::Bool(true);
                    r["skipped_reason"] = Value::from("No items in the list");
                }
                r
            } else {
                results
                    .pop()
                    .unwrap_or_else(|| serde_json::json!({"changed": false}))
            };
            if any {
                report(h, Status::Ok, result, None);
                // ansible-core counts an include once per item it included.
                self.count(h, |c| c.ok += done);
            } else {
                report(h, Status::Skipped, result, None);
                self.count(h, |c| c.skipped += 1);
            }
        }
        let base = st
            .play
            .origin
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        // ansible-core's "included: FILE for HOSTS" lines (a role by its name), all before
        // the first included task runs.
        for group in &groups {
            let shown = match &group.target {
                Target::Tasks(path) => path.to_string_lossy().into_owned(),
                Target::Role { role, .. } => role.name.clone(),
            };
            self.reporter.event(Event::Included {
                file: &shown,
                hosts: &group.hosts,
                item: group.label.as_deref(),
            });
        }
        for group in groups {
            let (tasks, extras) = match &group.target {
                Target::Tasks(path) => {
                    crate::playbook::load_tasks(path, &base, &st.play.roles_path)
                }
                Target::Role { role, .. } => crate::playbook::load_role(
                    &task.origin,
                    &base,
                    &st.play.roles_path,
                    role,
                    task.common.vars.clone(),
                )
                .map(|mut e| (std::mem::take(&mut e.tasks), e)),
            }
            .map_or_else(
                |e| (Err(e.to_string()), Default::default()),
                |(t, e)| (Ok(t), e),
            );
            // What sharding cannot honour fails the hosts that include it, before any of
            // its tasks runs (the static ones were refused before the run).
            let tasks = tasks.and_then(|t| {
                let refused = self
                    .opts
                    .shard
                    .map(|s| crate::shard::check_tasks(&t, s))
                    .unwrap_or_default();
                match refused.is_empty() {
                    true => Ok(t),
                    false => Err(refused
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")),
                }
            });
            let tasks = match tasks {
                Ok(t) => t,
                Err(msg) => {
                    for h in &group.hosts {
                        fail(h, msg.clone(), &mut failed);
                    }
                    continue;
                }
            };
            // Handlers the included role (or roles imported by the file) bring, seeing the
            // role's defaults; a role included again replaces its handlers' copies (the
            // latest include's variables), as the play knows a handler once.
            if let Ok(mut hs) = st.included_handlers.lock() {
                for mut h in extras.handlers {
                    let mut d = extras.defaults.clone();
                    d.extend(std::mem::take(&mut h.common.defaults));
                    h.common.defaults = d;
                    match hs
                        .iter_mut()
                        .find(|x| x.origin == h.origin && x.name == h.name)
                    {
                        Some(x) => *x = Arc::new(h),
                        None => hs.push(Arc::new(h)),
                    }
                }
            }
            let public = matches!(group.target, Target::Role { public: true, .. });
            let mut own_defaults = Vars::new();
            if public || matches!(group.target, Target::Tasks(_)) {
                // Exposed to the host's later tasks too (nothing kept when there is nothing:
                // every task's variables look here).
                let nothing = extras.defaults.is_empty() && (!public || extras.vars.is_empty());
                if !nothing && let Ok(mut ex) = st.exposed.lock() {
                    for h in &group.hosts {
                        let e = ex.entry(h.clone()).or_default();
                        for (k, v) in &extras.defaults {
                            e.defaults.insert(k.clone(), v.clone());
                        }
                        if public {
                            e.vars.extend(extras.vars.clone());
                        }
                    }
                }
            } else {
                own_defaults = extras.defaults;
            }
            // The include's own keywords (vars, become...) wrap the included tasks; its
            // `when` and `tags` were the include's alone, as with Ansible's dynamic includes.
            let own = Common {
                when: Vec::new(),
                tags: Vec::new(),
                defaults: own_defaults,
                data: group.data.clone(),
                ..task.common.clone()
            };
            let mut inner: Vec<&Common> = chain.to_vec();
            inner.pop();
            inner.push(&own);
            if let Some(apply) = &task.apply {
                inner.push(apply);
            }
            let f = INCLUDE_DEPTH
                .scope(
                    depth + 1,
                    self.run_list(st, &tasks, &group.hosts, &inner, handler, false),
                )
                .await?;
            failed.extend(f);
        }
        Ok(self.note_failed(st, failed))
    }

    /// The task file an `include_tasks` names: beside the including file, the playbook, or
    /// its `tasks/`.
    fn task_file(&self, task: &Task, rel: &str) -> Result<PathBuf, String> {
        let dir = task
            .origin
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        [
            dir.join(rel),
            self.playbook_dir.join(rel),
            self.playbook_dir.join("tasks").join(rel),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "Could not find or access '{rel}' (looked beside {} and in the playbook's directory and tasks/)",
                dir.display()
            )
        })
    }
}
