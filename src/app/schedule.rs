//! `olympus schedule install|remove|show`: `heal --once` run every few minutes by a systemd
//! timer or cron, written the way an operator would write them by hand.
//!
//! Owns: the unit files and the crontab line (their text, where they go, enabling them).
//! Must not: evaluate rules or run heal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::exit::Error;

/// What to schedule.
#[derive(Debug, Clone)]
pub struct Job {
    /// `olympus-heal-<rules file stem>` unless named.
    pub name: String,
    /// The olympus binary to run (absolute).
    pub exe: PathBuf,
    /// The rules file (absolute).
    pub rules: PathBuf,
    pub inventory: Vec<String>,
    /// Absolute: the switch `olympus lock` engages must be the one heal reads.
    pub state_dir: PathBuf,
    /// Where heal runs (ansible.cfg is found there, as when the operator ran it).
    pub workdir: PathBuf,
    pub every: Duration,
}

/// Where and how.
#[derive(Debug, Clone)]
pub enum Scheduler {
    /// Unit files in `dir`; `user`: `systemctl --user`; `enable`: daemon-reload and
    /// `enable --now` the timer.
    Systemd {
        dir: PathBuf,
        user: bool,
        enable: bool,
    },
    /// The invoking user's crontab (`crontab -`, which checks the line).
    CronUser,
    /// A file in `/etc/cron.d` (or the directory given), run as root.
    CronD { dir: PathBuf },
}

/// A job name from a rules file: `olympus-heal-<stem>`, only `[A-Za-z0-9_-]`.
pub fn default_name(rules: &Path) -> String {
    let stem = rules
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("olympus-heal-{clean}")
}

/// `--every` as the schedule both systemd's OnCalendar and cron can say exactly: minutes
/// dividing an hour, hours dividing a day, or a day. `(OnCalendar, cron fields)`.
pub fn calendar(every: Duration) -> Result<(String, String), Error> {
    let secs = every.as_secs();
    let bad = || {
        Error::BadInput(format!(
            "--every {}s: use minutes that divide an hour (1m, 2m, 5m, 10m, 15m, 20m, 30m), hours that divide a day (1h, 2h, 3h, 4h, 6h, 8h, 12h) or 1d",
            secs
        ))
    };
    if secs == 0 || !secs.is_multiple_of(60) {
        return Err(bad());
    }
    let minutes = secs / 60;
    if minutes < 60 && 60u64.is_multiple_of(minutes) {
        return Ok((
            format!("*-*-* *:00/{minutes}:00"),
            format!("*/{minutes} * * * *"),
        ));
    }
    if minutes.is_multiple_of(60) {
        let hours = minutes / 60;
        if hours < 24 && 24u64.is_multiple_of(hours) {
            return Ok((
                format!("*-*-* 00/{hours}:00:00"),
                format!("0 */{hours} * * *"),
            ));
        }
        if hours == 24 {
            return Ok(("*-*-* 00:00:00".into(), "0 0 * * *".into()));
        }
    }
    Err(bad())
}

fn args(job: &Job) -> Vec<String> {
    let mut a = vec![
        job.exe.display().to_string(),
        "heal".into(),
        job.rules.display().to_string(),
        "--once".into(),
    ];
    for i in &job.inventory {
        a.push("-i".into());
        a.push(i.clone());
    }
    a.push("--state-dir".into());
    a.push(job.state_dir.display().to_string());
    a.push("--log-format".into());
    a.push("json".into());
    a
}

/// One word as systemd reads `ExecStart=`: double-quoted, `\` and `"` escaped, `%`
/// (specifiers) and `$` (variables) doubled.
fn systemd_word(w: &str) -> String {
    let mut s = String::from("\"");
    for c in w.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '%' => s.push_str("%%"),
            '$' => s.push_str("$$"),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The service and the timer.
pub fn systemd_units(job: &Job) -> Result<(String, String), Error> {
    let (on_calendar, _) = calendar(job.every)?;
    let exec: Vec<String> = args(job).iter().map(|w| systemd_word(w)).collect();
    // Spread many controllers' runs a little, never more than a tenth of the period.
    let delay = (job.every.as_secs() / 10).clamp(1, 300);
    let service = format!(
        "# Written by `olympus schedule install`; `olympus schedule remove` deletes it.\n\
         [Unit]\n\
         Description=olympus heal {rules}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         WorkingDirectory={workdir}\n\
         ExecStart={exec}\n",
        rules = job.rules.display(),
        // Not a command line: unquoted (spaces are fine), only specifiers escaped.
        workdir = job.workdir.display().to_string().replace('%', "%%"),
        exec = exec.join(" "),
    );
    let timer = format!(
        "# Written by `olympus schedule install`; `olympus schedule remove` deletes it.\n\
         [Unit]\n\
         Description=olympus heal {rules} every {every}s\n\
         \n\
         [Timer]\n\
         OnCalendar={on_calendar}\n\
         RandomizedDelaySec={delay}\n\
         Persistent=true\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        rules = job.rules.display(),
        every = job.every.as_secs(),
    );
    Ok((service, timer))
}

/// The marker line above the job in a crontab.
fn cron_marker(name: &str) -> String {
    format!("# olympus schedule: {name}")
}

/// The crontab line: `flock -n` so a slow pass is never overlapped, `%` escaped (cron
/// turns it into a newline), output to syslog. `user`: the field /etc/cron.d needs.
pub fn cron_line(job: &Job, user: Option<&str>) -> Result<String, Error> {
    let (_, fields) = calendar(job.every)?;
    let q = |w: &str| {
        shlex::try_quote(w)
            .map(|s| s.replace('%', "\\%"))
            .map_err(|_| Error::BadInput(format!("cannot quote {w:?} for cron")))
    };
    let lock = job.state_dir.join(format!("{}.cron.lock", job.name));
    let mut words = vec![q(&job.workdir.display().to_string())?];
    words.insert(0, "cd".into());
    let run: Vec<String> = args(job).iter().map(|w| q(w)).collect::<Result<_, _>>()?;
    let user = user.map(|u| format!("{u} ")).unwrap_or_default();
    Ok(format!(
        "{fields} {user}{} && flock -n {} {} 2>&1 | logger -t {}",
        words.join(" "),
        q(&lock.display().to_string())?,
        run.join(" "),
        job.name
    ))
}

fn run(cmd: &mut Command, input: Option<&str>) -> Result<String, Error> {
    use std::io::Write;
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Internal(format!("{shown}: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| Error::Internal(format!("{shown}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Internal(format!("{shown}: {e}")))?;
    if !out.status.success() {
        return Err(Error::Internal(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The invoking user's crontab (empty when there is none).
fn crontab() -> Result<String, Error> {
    let out = Command::new("crontab")
        .arg("-l")
        .output()
        .map_err(|e| Error::Internal(format!("crontab -l: {e}")))?;
    // "no crontab for USER" is exit 1 with nothing on stdout.
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `text` without `name`'s marker and the line after it.
fn without(text: &str, name: &str) -> String {
    let marker = cron_marker(name);
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if skip {
            skip = false;
            continue;
        }
        if line == marker {
            skip = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes `text` to `path` atomically (a temporary file beside it, then rename).
fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("olympus-tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))
}

/// The state directory exists before cron's `flock` needs a file in it.
fn cron_lock_dir(job: &Job) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&job.state_dir)
        .map_err(|e| Error::Internal(format!("{}: {e}", job.state_dir.display())))
}

/// Installs `job`; what was done, for people.
pub fn install(job: &Job, how: &Scheduler) -> Result<String, Error> {
    match how {
        Scheduler::Systemd { dir, user, enable } => {
            let (service, timer) = systemd_units(job)?;
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Internal(format!("{}: {e}", dir.display())))?;
            let svc = dir.join(format!("{}.service", job.name));
            let tmr = dir.join(format!("{}.timer", job.name));
            write_file(&svc, &service)?;
            write_file(&tmr, &timer)?;
            let ctl = |args: &[&str]| {
                let mut c = Command::new("systemctl");
                if *user {
                    c.arg("--user");
                }
                c.args(args);
                c
            };
            let timer_name = format!("{}.timer", job.name);
            let mut said = format!("wrote {} and {}\n", svc.display(), tmr.display());
            if *enable {
                run(&mut ctl(&["daemon-reload"]), None)?;
                run(&mut ctl(&["enable", "--now", &timer_name]), None)?;
                said.push_str(&format!("enabled and started {timer_name}\n"));
            } else {
                let u = if *user { " --user" } else { "" };
                said.push_str(&format!(
                    "enable it with: systemctl{u} daemon-reload && systemctl{u} enable --now {timer_name}\n"
                ));
            }
            Ok(said)
        }
        Scheduler::CronUser => {
            cron_lock_dir(job)?;
            let current = without(&crontab()?, &job.name);
            let text = format!(
                "{current}{}\n{}\n",
                cron_marker(&job.name),
                cron_line(job, None)?
            );
            run(Command::new("crontab").arg("-"), Some(&text))?;
            Ok(format!("added {} to your crontab\n", job.name))
        }
        Scheduler::CronD { dir } => {
            cron_lock_dir(job)?;
            let path = dir.join(&job.name);
            let text = format!(
                "# Written by `olympus schedule install`; `olympus schedule remove` deletes it.\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{}\n{}\n",
                cron_marker(&job.name),
                cron_line(job, Some("root"))?
            );
            write_file(&path, &text)?;
            Ok(format!("wrote {}\n", path.display()))
        }
    }
}

/// Removes the job named `name`; what was done.
pub fn remove(name: &str, how: &Scheduler) -> Result<String, Error> {
    match how {
        Scheduler::Systemd { dir, user, enable } => {
            let timer_name = format!("{name}.timer");
            if *enable {
                let mut c = Command::new("systemctl");
                if *user {
                    c.arg("--user");
                }
                // A timer that was never enabled is not an error here.
                let _ = run(c.args(["disable", "--now", &timer_name]), None);
            }
            let mut said = String::new();
            for f in [format!("{name}.service"), timer_name] {
                let p = dir.join(&f);
                if p.exists() {
                    std::fs::remove_file(&p)
                        .map_err(|e| Error::Internal(format!("{}: {e}", p.display())))?;
                    said.push_str(&format!("removed {}\n", p.display()));
                }
            }
            if said.is_empty() {
                said = format!("no {name} units in {}\n", dir.display());
            }
            Ok(said)
        }
        Scheduler::CronUser => {
            let current = crontab()?;
            let left = without(&current, name);
            if left == current || (current.is_empty() && left.is_empty()) {
                return Ok(format!("{name} is not in your crontab\n"));
            }
            run(Command::new("crontab").arg("-"), Some(&left))?;
            Ok(format!("removed {name} from your crontab\n"))
        }
        Scheduler::CronD { dir } => {
            let p = dir.join(name);
            if !p.exists() {
                return Ok(format!("no {}\n", p.display()));
            }
            std::fs::remove_file(&p)
                .map_err(|e| Error::Internal(format!("{}: {e}", p.display())))?;
            Ok(format!("removed {}\n", p.display()))
        }
    }
}

/// What is installed there: each olympus job's schedule and command.
pub fn show(how: &Scheduler) -> Result<String, Error> {
    let mut out = String::new();
    match how {
        Scheduler::Systemd { dir, .. } => {
            let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            names.sort();
            for p in names {
                let file = p.file_name().map(|f| f.to_string_lossy().into_owned());
                let Some(file) = file else { continue };
                if !(file.starts_with("olympus-heal") && file.ends_with(".timer")) {
                    continue;
                }
                let timer = std::fs::read_to_string(&p).unwrap_or_default();
                let service =
                    std::fs::read_to_string(p.with_extension("service")).unwrap_or_default();
                let pick = |text: &str, key: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(key).map(str::to_string))
                        .unwrap_or_default()
                };
                out.push_str(&format!(
                    "{file}: {} — {}\n",
                    pick(&timer, "OnCalendar="),
                    pick(&service, "ExecStart=")
                ));
            }
        }
        Scheduler::CronUser => {
            let tab = crontab()?;
            let mut lines = tab.lines();
            while let Some(l) = lines.next() {
                if let Some(name) = l.strip_prefix("# olympus schedule: ") {
                    out.push_str(&format!("{name}: {}\n", lines.next().unwrap_or_default()));
                }
            }
        }
        Scheduler::CronD { dir } => {
            let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            names.sort();
            for p in names {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let mut lines = text.lines();
                while let Some(l) = lines.next() {
                    if let Some(name) = l.strip_prefix("# olympus schedule: ") {
                        out.push_str(&format!("{name}: {}\n", lines.next().unwrap_or_default()));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        out.push_str("nothing scheduled\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_becomes_a_calendar_both_can_say() {
        let c = |s: u64| calendar(Duration::from_secs(s)).map_err(|e| e.to_string());
        assert_eq!(c(300), Ok(("*-*-* *:00/5:00".into(), "*/5 * * * *".into())));
        assert_eq!(
            c(7200),
            Ok(("*-*-* 00/2:00:00".into(), "0 */2 * * *".into()))
        );
        assert_eq!(c(86400), Ok(("*-*-* 00:00:00".into(), "0 0 * * *".into())));
        for bad in [0, 90, 7 * 60, 5 * 3600, 2 * 86400] {
            assert!(c(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn words_are_quoted_for_systemd_and_cron() {
        assert_eq!(systemd_word(r#"/a b/%n$x"q\"#), r#""/a b/%%n$$x\"q\\""#);
        let job = Job {
            name: "olympus-heal-x".into(),
            exe: "/usr/bin/olympus".into(),
            rules: "/etc/heal/50% rules.yml".into(),
            inventory: vec!["/etc/inv".into()],
            state_dir: "/var/lib/olympus".into(),
            workdir: "/etc/heal".into(),
            every: Duration::from_secs(300),
        };
        let line = cron_line(&job, None).expect("line");
        assert!(
            line.starts_with("*/5 * * * * cd /etc/heal && flock -n /var/lib/olympus/olympus-heal-x.cron.lock /usr/bin/olympus heal '/etc/heal/50\\% rules.yml' --once"),
            "{line}"
        );
    }
}
