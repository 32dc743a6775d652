//! `reboot` on one host, as ansible-core's reboot action runs it: read the boot id, find
//! and run the reboot command (a connection cut by the reboot counts as success), wait, then
//! until `reboot_timeout` try — on a new connection each time, with ansible-core's growing
//! pauses — until the boot id has changed, and the same for the test command.
//!
//! Owns: the reboot's steps and their messages. Must not: decide about other hosts.

use super::*;
use crate::connection::{ExecOutput, quote};

/// One command's answer, or why there was none.
type Answer = Result<ExecOutput, String>;

impl Runner<'_> {
    pub(super) async fn reboot(
        &self,
        host: &str,
        args: &Vars,
        chain: &[&Common],
        vars: &Arc<TemplateVars>,
        check: bool,
    ) -> Result<ModuleResult, ItemError> {
        let r = modules::reboot::rebooting(args).map_err(|e| ItemError::Failed(e.to_string()))?;
        let conn_vars = self.with_remote_user(Cow::Owned(connection_settings(vars)), chain, vars);
        let data = |changed: bool, elapsed: u64, rebooted: bool| {
            let mut m = ModuleResult {
                changed,
                ..ModuleResult::ok()
            };
            m.data.insert("elapsed".into(), Value::from(elapsed));
            m.data.insert("rebooted".into(), Value::Bool(rebooted));
            m
        };
        if conn_vars.get("ansible_connection").map(text).as_deref() == Some("local") {
            let mut m = data(false, 0, false);
            m.failed = true;
            m.msg =
                Some("Running reboot with local connection would reboot the control node.".into());
            return Ok(m);
        }
        if check {
            return Ok(data(true, 0, true));
        }
        let escalation = self.escalation(chain, vars);
        let run = |command: String, fresh: bool, timeout: Option<Duration>| {
            let conn_vars = &conn_vars;
            let escalation = &escalation;
            async move {
                if fresh {
                    self.forget_connections(host).await;
                }
                let conn = self
                    .connection(host, conn_vars)
                    .await
                    .map_err(|e| e.to_string())?;
                let exec = conn.exec(ExecRequest {
                    command: &command,
                    stdin: None,
                    escalation: escalation.as_ref(),
                    timeout,
                });
                match timeout {
                    Some(t) => tokio::time::timeout(t, exec)
                        .await
                        .map_err(|_| format!("no answer within {}s", t.as_secs()))?,
                    None => exec.await,
                }
                .map_err(|e| e.to_string())
            }
        };
        // The boot id, the host's distribution and where the reboot command is.
        let (bin, bin_args) = match &r.reboot_command {
            Some(c) => match c.split_once(' ') {
                Some((b, a)) => (b.to_string(), a.to_string()),
                None => (c.clone(), String::new()),
            },
            None => (String::new(), String::new()),
        };
        let query = format!(
            "e_f=$(mktemp) || exit 1; o=$(sh -c {cmd} 2>\"$e_f\"; echo \"x$?\"); echo \"bt_rc=${{o##*x}}\"; printf 'bt_out_b64='; printf '%s' \"${{o%x*}}\" | base64 -w0; echo; printf 'bt_err_b64='; base64 -w0 < \"$e_f\"; echo; rm -f \"$e_f\"\n\
             [ -r /etc/os-release ] && echo \"dist=$(. /etc/os-release && echo \"$ID\")\"\n\
             bin={bin}; [ -n \"$bin\" ] || case \"$(. /etc/os-release 2>/dev/null && echo \"$ID\")\" in alpine) bin=reboot;; *) bin=shutdown;; esac\n\
             case \"$bin\" in /*) echo \"shutdown=$bin\";; *) for p in {paths}; do if [ -e \"$p/$bin\" ] || [ -L \"$p/$bin\" ]; then echo \"shutdown=$p/$bin\"; break; fi; done;; esac\n\
             echo \"bin=$bin\"\n",
            cmd = quote(&r.boot_time_command),
            bin = quote(&bin),
            paths = r
                .search_paths
                .iter()
                .map(|p| quote(p))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = match run(query, false, None).await {
            Ok(o) => o,
            Err(e) => return Err(ItemError::Unreachable(e)),
        };
        let rep = report(&out);
        let b64 = |k: &str| {
            rep.get(k)
                .and_then(|v| data_encoding::BASE64.decode(v.as_bytes()).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        if rep.get("bt_rc").map(String::as_str) != Some("0") {
            let mut m = ModuleResult::failed(format!(
                "reboot: failed to get host boot time info, rc: {}, stdout: {}, stderr: {}",
                rep.get("bt_rc").cloned().unwrap_or_default(),
                b64("bt_out_b64"),
                b64("bt_err_b64")
            ));
            // ansible-core's own key (sic).
            m.data.insert("reboot".into(), Value::Bool(false));
            return Ok(m);
        }
        let previous = b64("bt_out_b64").trim().to_string();
        let Some(shutdown) = rep.get("shutdown").cloned() else {
            let paths: Vec<String> = r.search_paths.iter().map(|p| format!("'{p}'")).collect();
            return Ok(ModuleResult::failed(format!(
                "Task failed: Unable to find command \"{}\" in search paths: [{}]",
                rep.get("bin").cloned().unwrap_or_default(),
                paths.join(", ")
            )));
        };
        let command = if r.reboot_command.is_some() {
            format!("{shutdown} {bin_args}")
        } else if rep.get("dist").is_some_and(|d| d == "alpine") {
            format!("{shutdown} ")
        } else {
            format!(
                "{shutdown} -r {} {}",
                r.pre_reboot_delay / 60,
                quote(&r.msg)
            )
        };
        let reboot = run(command, false, None).await;
        let start = std::time::Instant::now();
        match reboot {
            Ok(o) if o.rc != Some(0) => {
                let mut m = data(false, start.elapsed().as_secs(), false);
                m.failed = true;
                m.msg = Some(format!(
                    "Reboot command failed. Error was: '{}, {}'",
                    String::from_utf8_lossy(&o.stdout).trim(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                return Ok(m);
            }
            // A connection the reboot cut is the reboot going as planned.
            _ => {}
        }
        if r.post_reboot_delay > 0 {
            self.wait(host, Duration::from_secs(r.post_reboot_delay))
                .await?;
        }
        let boot_check = |out: Answer| -> Result<(), String> {
            let o = out?;
            if o.rc != Some(0) {
                return Err(format!("failed to get host boot time info, rc: {:?}", o.rc));
            }
            let now = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if now.is_empty() || now == previous {
                return Err("boot time has not changed".into());
            }
            Ok(())
        };
        let test_check = |out: Answer| -> Result<(), String> {
            let o = out?;
            if o.rc != Some(0) {
                return Err(format!(
                    "Test command failed: {} {}",
                    String::from_utf8_lossy(&o.stderr),
                    String::from_utf8_lossy(&o.stdout)
                ));
            }
            Ok(())
        };
        for (what, cmd, check) in [
            (
                "last boot time check",
                format!("sh -c {}", quote(&r.boot_time_command)),
                &boot_check as &(dyn Fn(Answer) -> Result<(), String> + Sync),
            ),
            (
                "post-reboot test command",
                format!("sh -c {}", quote(&r.test_command)),
                &test_check,
            ),
        ] {
            let deadline = std::time::Instant::now() + r.reboot_timeout;
            let mut fails: u32 = 0;
            loop {
                if std::time::Instant::now() >= deadline {
                    let mut m = data(false, start.elapsed().as_secs(), true);
                    m.failed = true;
                    m.msg = Some(format!(
                        "Timed out waiting for {what} (timeout={})",
                        r.reboot_timeout.as_secs()
                    ));
                    return Ok(m);
                }
                let answer = run(cmd.clone(), true, r.connect_timeout).await;
                match check(answer) {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::debug!(host, "reboot: {what} fail '{e}'");
                        // ansible-core's pause: 2^n seconds (at most 12) and a random part.
                        let jitter = {
                            use ring::rand::SecureRandom;
                            let mut b = [0u8; 2];
                            let _ = ring::rand::SystemRandom::new().fill(&mut b);
                            u64::from(u16::from_le_bytes(b) % 1000)
                        };
                        let base = 2u64.saturating_pow(fails).min(12);
                        let pause = Duration::from_millis(base * 1000 + jitter);
                        let left = deadline.saturating_duration_since(std::time::Instant::now());
                        fails += 1;
                        self.wait(host, pause.min(left)).await?;
                    }
                }
            }
        }
        Ok(data(true, start.elapsed().as_secs(), true))
    }

    /// Drops the host's kept connections: the next command opens a new one (after a reboot
    /// the old one leads nowhere).
    pub(super) async fn forget_connections(&self, host: &str) {
        let prefix = format!("{host}\u{0}");
        self.conns
            .lock()
            .await
            .retain(|k, _| !k.starts_with(&prefix));
    }
}

/// `key=value` lines of a script's answer.
fn report(out: &ExecOutput) -> std::collections::HashMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
