//! Connections and privilege escalation for the play walker: one connection per host and
//! login user, opened on first need or ahead of it, kept for the run; `become` settings
//! resolved from the task's keywords, the inventory and the command line.
//!
//! Owns: the connection pool's slots and what `become*` resolves to. Must not: decide what
//! runs on a connection.

use super::*;

pub(super) type ConnSlot = Option<Result<Arc<Connection>, ConnectionError>>;

impl Runner<'_> {
    /// The connection to `host` for these variables: one per host and login user, opened
    /// on first need (or ahead of it by [`Self::preconnect`]) and kept for the run.
    pub(super) async fn connection(
        &self,
        host: &str,
        vars: &Vars,
    ) -> Result<Arc<Connection>, ConnectionError> {
        self.open_slot(host, vars, false).await
    }

    pub(super) async fn open_slot(
        &self,
        host: &str,
        vars: &Vars,
        ahead: bool,
    ) -> Result<Arc<Connection>, ConnectionError> {
        let key = format!(
            "{host}\u{0}{}\u{0}{}",
            vars.get("ansible_user").map(text).unwrap_or_default(),
            vars.get("ansible_connection").map(text).unwrap_or_default()
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
    pub(super) async fn preconnect(&self, st: &PlayState<'_>) {
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
    pub(super) fn connection_vars(
        &self,
        st: &PlayState<'_>,
        host: &str,
        chain: &[&Common],
    ) -> Vars {
        let vars = Arc::new(self.vars_for(st, host, chain));
        self.with_remote_user(Cow::Owned(connection_settings(&vars)), chain, &vars)
            .into_owned()
    }

    /// A play or task `remote_user` applies where the inventory sets no `ansible_user`.
    pub(super) fn with_remote_user<'v>(
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
        // The `connection:` keyword wins over the host's ansible_connection, as in Ansible.
        if let Some(c) = chain.iter().rev().find_map(|c| c.connection.as_ref())
            && let Ok(c) = self.templar.render(c, vars)
        {
            let c = match text(&c).as_str() {
                "paramiko" | "smart" => "ssh".to_string(),
                other => other.to_string(),
            };
            conn_vars
                .to_mut()
                .insert("ansible_connection".into(), Value::from(c));
        }
        conn_vars
    }

    /// The escalation in force for a task: task/block/play keywords, else --become, else
    /// the host's ansible_become* variables.
    pub(super) fn escalation(
        &self,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
    ) -> Option<Escalation> {
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

    /// `wait_for_connection`: a new connection to the host and one command on it, tried
    /// until both work or the timeout passes.
    pub(super) async fn wait_for_connection(
        &self,
        host: &str,
        args: &Vars,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
        check: bool,
    ) -> Result<ModuleResult, ItemError> {
        let w = modules::wait_for_connection::waiting(args)
            .map_err(|e| ItemError::Failed(e.to_string()))?;
        if check {
            let mut r = ModuleResult::ok();
            r.skipped = true;
            return Ok(r);
        }
        let conn_vars = self.with_remote_user(Cow::Owned(connection_settings(vars)), chain, vars);
        let start = std::time::Instant::now();
        self.wait(host, w.delay).await?;
        let escalation = self.escalation(chain, vars);
        loop {
            // A new connection each try: the one kept may be to the host before it rebooted.
            self.forget_connections(host).await;
            let attempt = async {
                let conn = self.connection(host, &conn_vars).await?;
                conn.exec(ExecRequest {
                    command: "echo pong",
                    stdin: None,
                    escalation: escalation.as_ref(),
                    timeout: Some(w.connect_timeout),
                })
                .await
            };
            let last = match tokio::time::timeout(w.connect_timeout, attempt).await {
                Ok(Ok(out)) if out.rc == Some(0) => {
                    let mut r = ModuleResult::ok();
                    r.data
                        .insert("elapsed".into(), Value::from(start.elapsed().as_secs()));
                    return Ok(r);
                }
                Ok(Ok(out)) => format!(
                    "the test command exited {:?}: {}",
                    out.rc,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {}s", w.connect_timeout.as_secs()),
            };
            if start.elapsed() + w.sleep > w.timeout {
                let mut r =
                    ModuleResult::failed(format!("timed out waiting for ping module test: {last}"));
                r.data
                    .insert("elapsed".into(), Value::from(start.elapsed().as_secs()));
                return Ok(r);
            }
            self.wait(host, w.sleep).await?;
        }
    }
}
