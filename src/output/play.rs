//! `olympus run`'s terminal output, in the shape of Ansible's default callback: banners,
//! `ok:`/`changed:`/`skipping:`/`fatal:` lines, and the PLAY RECAP.

use std::io::Write;
use std::sync::Mutex;

use serde_json::Value;

use crate::engine::events::{Counters, Event, HostOutcome, Reporter, Status};

const NO_LOG: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// Writes Ansible-style lines to a stream (stdout in the CLI).
pub struct TextReporter<W: Write + Send> {
    out: Mutex<W>,
    /// A live bar per task on stderr (terminals only).
    bar: Mutex<Option<TaskBar>>,
    progress: bool,
    color: bool,
    /// `-v` and more: show every result's data, not only debug's.
    verbose: u8,
    columns: usize,
}

/// The running task's bar and the hosts it still waits on.
struct TaskBar {
    pb: indicatif::ProgressBar,
    task: String,
    waiting: Vec<String>,
}

impl TaskBar {
    /// "TASK name · waiting on h3 (+2 more)"
    fn message(&self) -> String {
        let task: String = self.task.chars().take(50).collect();
        match self.waiting.split_first() {
            None => task,
            Some((first, [])) => format!("{task} · waiting on {first}"),
            Some((first, rest)) => {
                format!("{task} · waiting on {first} (+{} more)", rest.len())
            }
        }
    }
}

const GREEN: &str = "\x1b[0;32m";
const YELLOW: &str = "\x1b[0;33m";
const CYAN: &str = "\x1b[0;36m";
const RED: &str = "\x1b[0;31m";
const BRIGHT_RED: &str = "\x1b[1;31m";
const MAGENTA: &str = "\x1b[0;35m";
const RESET: &str = "\x1b[0m";

impl<W: Write + Send> TextReporter<W> {
    pub fn new(out: W, color: bool, verbose: u8) -> Self {
        TextReporter {
            out: Mutex::new(out),
            bar: Mutex::new(None),
            progress: false,
            color,
            verbose,
            // ansible-core's width without a terminal: max(79, width - 1); a banner line is
            // one longer (the space before the stars).
            columns: 79,
        }
    }

    /// Shows a live progress bar on stderr for each task (use when stderr is a terminal):
    /// hosts done of all, time taken, and the hosts still awaited.
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Banners as wide as a terminal `width` columns wide, as ansible-core draws them
    /// (`max(79, width - 1)`); 0 (not a terminal) keeps 79.
    pub fn with_width(mut self, width: usize) -> Self {
        self.columns = 79.max(width.saturating_sub(1));
        self
    }

    fn bar_start(&self, name: &str, hosts: usize, names: &[String]) {
        if !self.progress {
            return;
        }
        let pb = indicatif::ProgressBar::new(hosts as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:20}] {pos}/{len} {elapsed:>3} {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let bar = TaskBar {
            pb,
            task: name.to_string(),
            waiting: names.iter().take(hosts).cloned().collect(),
        };
        bar.pb.set_message(bar.message());
        bar.pb
            .enable_steady_tick(std::time::Duration::from_millis(120));
        if let Ok(mut b) = self.bar.lock()
            && let Some(old) = b.replace(bar)
        {
            old.pb.finish_and_clear();
        }
    }

    fn bar_tick(&self, host: &str) {
        if let Ok(mut b) = self.bar.lock()
            && let Some(bar) = b.as_mut()
        {
            if let Some(i) = bar.waiting.iter().position(|h| h == host) {
                bar.waiting.remove(i);
            }
            bar.pb.inc(1);
            bar.pb.set_message(bar.message());
        }
    }

    fn bar_clear(&self) {
        if let Ok(mut b) = self.bar.lock()
            && let Some(bar) = b.take()
        {
            bar.pb.finish_and_clear();
        }
    }

    fn paint(&self, color: &str, s: &str) -> String {
        if self.color {
            format!("{color}{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    fn write(&self, s: &str) {
        // Lines go out above the bar, which is redrawn below them.
        if let Ok(b) = self.bar.lock()
            && let Some(bar) = b.as_ref()
        {
            bar.pb.suspend(|| {
                if let Ok(mut o) = self.out.lock() {
                    let _ = o.write_all(s.as_bytes());
                    let _ = o.flush();
                }
            });
            return;
        }
        if let Ok(mut o) = self.out.lock() {
            let _ = o.write_all(s.as_bytes());
            let _ = o.flush();
        }
    }

    fn banner(&self, msg: &str) -> String {
        let stars = self.columns.saturating_sub(msg.chars().count()).max(3);
        format!("\n{msg} {}\n", "*".repeat(stars))
    }

    fn shown_result(&self, o: &HostOutcome) -> Value {
        if o.no_log {
            return serde_json::json!({"censored": NO_LOG, "changed": o.result.get("changed").cloned().unwrap_or(Value::Bool(false))});
        }
        let mut r = o.result.clone();
        if let Value::Object(m) = &mut r {
            // Loop results are shown item by item already.
            if o.looped && self.verbose == 0 {
                m.remove("results");
            }
        }
        r
    }

    fn host_line(&self, o: &HostOutcome, item_event: bool) -> String {
        let who = match &o.delegated {
            Some(d) => format!("[{} -> {d}]", o.host),
            None => format!("[{}]", o.host),
        };
        let item = o.item.as_ref().filter(|_| item_event).map(|i| {
            if o.no_log {
                "(item=None)".to_string()
            } else {
                format!("(item={i})")
            }
        });
        // The result as shown, built only for lines that show it (an ok line at the default
        // verbosity does not: this runs for every host and task).
        let result = || {
            let mut result = self.shown_result(o);
            if o.bare
                && let Value::Object(m) = &mut result
            {
                // debug shows its message, not the bookkeeping (as Ansible's callback does).
                m.remove("changed");
                m.remove("failed");
            }
            result
        };
        let show_data = self.verbose > 0 || o.always_show;
        let compact = || serde_json::to_string(&result()).unwrap_or_default();
        let pretty = || crate::inventory::render::to_python_json(&result());
        // A result's warnings (an output cut at the cap, ...) show whatever the verbosity,
        // as Ansible's callback shows `warnings`.
        let warnings: String = o
            .result
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|w| self.paint(MAGENTA, &format!("[WARNING]: {} {w}", o.host)) + "\n")
            .collect();
        let line = match o.status {
            Status::Failed => {
                let lead = if item.is_some() { "failed" } else { "fatal" };
                let head = match &item {
                    Some(i) => format!("{lead}: {who} {i} => {}", compact()),
                    None => format!("{lead}: {who}: FAILED! => {}", compact()),
                };
                let mut s = self.paint(RED, &head) + "\n";
                if o.ignored {
                    s.push_str(&self.paint(CYAN, "...ignoring"));
                    s.push('\n');
                }
                s
            }
            Status::Unreachable => {
                let head = format!("fatal: {who}: UNREACHABLE! => {}", compact());
                let mut s = self.paint(BRIGHT_RED, &head) + "\n";
                if o.ignored {
                    s.push_str(&self.paint(CYAN, "...ignoring"));
                    s.push('\n');
                }
                s
            }
            status => {
                let (lead, color) = match status {
                    Status::Changed => ("changed", YELLOW),
                    Status::Skipped => ("skipping", CYAN),
                    _ => ("ok", GREEN),
                };
                let mut head = format!("{lead}: {who}");
                if let Some(i) = &item {
                    head.push_str(&format!(" => {i}"));
                }
                if show_data && status != Status::Skipped {
                    head.push_str(" => ");
                    head.push_str(&pretty());
                }
                let mut s = String::new();
                if let Some(d) = o.result.get("diff").filter(|_| !o.no_log) {
                    s.push_str(&unified_diff(d, self.color));
                }
                s.push_str(&self.paint(color, &head));
                s.push('\n');
                s
            }
        };
        warnings + &line
    }
}

impl<W: Write + Send> Reporter for TextReporter<W> {
    fn event(&self, e: Event<'_>) {
        match e {
            Event::PlayStart { name, .. } => self.write(&self.banner(&format!("PLAY [{name}]"))),
            Event::NoHostsMatched { pattern } => {
                self.write(&self.paint(CYAN, &format!("skipping: no hosts matched '{pattern}'\n")))
            }
            Event::TaskStart {
                name,
                handler,
                hosts,
                origin,
                names,
            } => {
                self.bar_clear();
                let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
                let mut s = self.banner(&format!("{kind} [{name}]"));
                if self.verbose >= 2 {
                    s.push_str(&format!("task path: {origin}\n"));
                }
                self.write(&s);
                self.bar_start(name, hosts, names);
            }
            Event::Item(o) => self.write(&self.host_line(o, true)),
            Event::Included { file, hosts, item } => {
                let item = item.map(|i| format!(" => (item={i})")).unwrap_or_default();
                self.write(&self.paint(
                    CYAN,
                    &format!("included: {file} for {}{item}\n", hosts.join(", ")),
                ));
            }
            Event::Host(o) => {
                self.bar_tick(&o.host);
                // A looped task's host line only appears for failures (Ansible shows items).
                if o.looped && o.status != Status::Failed && o.status != Status::Unreachable {
                    return;
                }
                self.write(&self.host_line(o, false));
            }
            Event::NoMoreHosts => self.write(&self.banner("NO MORE HOSTS LEFT")),
            Event::PlayAborted { reason } => {
                self.write(&self.paint(RED, &format!("\nPLAY STOPPED: {reason}\n")))
            }
            Event::Interrupted { hosts } => {
                self.bar_clear();
                let mut s = self.paint(RED, "\nINTERRUPTED: the run was stopped by a signal");
                if hosts.is_empty() {
                    s.push_str(&self.paint(RED, "; no command was running\n"));
                } else {
                    s.push_str(&self.paint(
                        RED,
                        &format!("; commands stopped on: {}\n", hosts.join(", ")),
                    ));
                }
                self.write(&s);
            }
            Event::Halted { reason } => {
                self.bar_clear();
                self.write(&self.paint(
                    RED,
                    &format!(
                        "\nHALTED BY THE KILL SWITCH: {reason}\n(no task started after it; the running ones finished)\n"
                    ),
                ));
            }
            Event::Recap(recap) => {
                self.bar_clear();
                let mut s = self.banner("PLAY RECAP");
                for (host, c) in recap {
                    s.push_str(&recap_line(host, c, self.color));
                    s.push('\n');
                }
                s.push('\n');
                self.write(&s);
            }
        }
    }
}

/// `--diff` output: a unified diff of a file's before and after, like Ansible's.
fn unified_diff(d: &Value, color: bool) -> String {
    let before = d.get("before").and_then(Value::as_str).unwrap_or("");
    let after = d.get("after").and_then(Value::as_str).unwrap_or("");
    let bh = d.get("before_header").and_then(Value::as_str).unwrap_or("");
    let ah = d.get("after_header").and_then(Value::as_str).unwrap_or("");
    let diff = similar::TextDiff::from_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("before: {bh}"), &format!("after: {ah}"))
        .to_string();
    if !color {
        return format!("{text}\n");
    }
    let mut out = String::new();
    for line in text.lines() {
        let c = if line.starts_with('+') && !line.starts_with("+++") {
            GREEN
        } else if line.starts_with('-') && !line.starts_with("---") {
            RED
        } else if line.starts_with("@@") {
            CYAN
        } else {
            ""
        };
        if c.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&format!("{c}{line}{RESET}"));
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

/// One PLAY RECAP line, spaced exactly like Ansible's.
pub fn recap_line(host: &str, c: &Counters, color: bool) -> String {
    let field = |name: &str, n: u32, col: &str| {
        let f = format!("{name}={n:<4}");
        if color && n > 0 {
            format!("{col}{f}{RESET}")
        } else {
            f
        }
    };
    let host_col = if !color {
        None
    } else if c.failed > 0 || c.unreachable > 0 {
        Some(RED)
    } else if c.changed > 0 {
        Some(YELLOW)
    } else {
        Some(GREEN)
    };
    let h = match host_col {
        Some(col) => format!("{col}{host:<26}{RESET}"),
        None => format!("{host:<26}"),
    };
    format!(
        "{h} : {} {} {} {} {} {} {}",
        field("ok", c.ok, GREEN),
        field("changed", c.changed, YELLOW),
        field("unreachable", c.unreachable, BRIGHT_RED),
        field("failed", c.failed, RED),
        field("skipped", c.skipped, CYAN),
        field("rescued", c.rescued, GREEN),
        field("ignored", c.ignored, CYAN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recap_spacing_matches_ansible() {
        let c = Counters {
            ok: 2,
            changed: 1,
            ..Default::default()
        };
        assert_eq!(
            recap_line("localhost", &c, false),
            "localhost                  : ok=2    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   "
        );
    }

    #[test]
    fn lines_for_each_status() {
        let r = TextReporter::new(Vec::new(), false, 0);
        let mk = |status, result: Value| HostOutcome {
            host: "web1".into(),
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
        assert_eq!(
            r.host_line(
                &mk(Status::Changed, serde_json::json!({"changed": true})),
                false
            ),
            "changed: [web1]\n"
        );
        assert_eq!(
            r.host_line(&mk(Status::Skipped, serde_json::json!({})), false),
            "skipping: [web1]\n"
        );
        assert_eq!(
            r.host_line(
                &mk(
                    Status::Failed,
                    serde_json::json!({"failed": true, "msg": "boom"})
                ),
                false
            ),
            "fatal: [web1]: FAILED! => {\"failed\":true,\"msg\":\"boom\"}\n"
        );
        let mut o = mk(
            Status::Failed,
            serde_json::json!({"failed": true, "msg": "secret"}),
        );
        o.no_log = true;
        assert!(!r.host_line(&o, false).contains("secret"));
    }

    #[test]
    fn a_module_result_with_results_is_one_host_line() {
        // dnf's `results` are its own, not a loop's: the host line is printed.
        let r = TextReporter::new(Vec::new(), false, 0);
        let o = HostOutcome {
            host: "db1".into(),
            status: Status::Changed,
            ignored: false,
            result: serde_json::json!({"changed": true, "results": ["Installed: x-1-1.noarch"]}),
            item: None,
            no_log: false,
            delegated: None,
            always_show: false,
            bare: false,
            looped: false,
            timing: None,
        };
        r.event(Event::Host(&o));
        let looped = HostOutcome {
            looped: true,
            timing: None,
            ..o.clone()
        };
        r.event(Event::Host(&looped));
        let text = r
            .out
            .lock()
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap_or_default();
        assert_eq!(text.matches("changed: [db1]").count(), 1, "{text}");
    }
}

/// `--output json`: one JSON document for the whole run — plays, their tasks with each
/// host's status and result, and the recap. It is written as the run goes (each host's
/// result when it is reported), so memory does not grow with the length of the run; a run
/// that ends early (an error) still leaves a complete document, with `"complete": false`.
pub struct JsonReporter<W: Write + Send> {
    state: Mutex<JsonState<W>>,
}

struct JsonState<W: Write> {
    out: W,
    /// Where the writer is: which brackets are open.
    started: bool,
    in_play: bool,
    in_tasks: bool,
    in_task: bool,
    first_play: bool,
    first_task: bool,
    first_host: bool,
    done: bool,
    /// Set when the run was stopped by a signal: the hosts whose commands were stopped.
    interrupted: Option<Vec<String>>,
    /// Set when the kill switch halted the run: why.
    halted: Option<String>,
    /// When the open task started, and when its last host result came.
    task_clock: Option<(std::time::Instant, std::time::Instant)>,
    /// `--shard I/N`: written in every document, so `report merge` can tell a whole run.
    shard: Option<crate::shard::Shard>,
}

fn status_str(o: &HostOutcome) -> &'static str {
    match o.status {
        Status::Ok => "ok",
        Status::Changed => "changed",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
        Status::Unreachable => "unreachable",
    }
}

/// When a task started or a host's result arrived (RFC 3339, milliseconds), for the run
/// report's timeline.
fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl<W: Write> JsonState<W> {
    fn put(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.put("{\"plays\": [");
        }
    }

    fn close_task(&mut self) {
        if self.in_task {
            // The task's wall time: from its start to its last host's result.
            let took = self.task_clock.take().map_or(0.0, |(start, last)| {
                last.duration_since(start).as_secs_f64()
            });
            self.put(&format!("}}, \"duration\": {took:.3}}}"));
            self.in_task = false;
        }
    }

    fn close_tasks(&mut self) {
        self.close_task();
        if self.in_tasks {
            self.put("\n  ]");
            self.in_tasks = false;
        }
    }

    fn close_play(&mut self) {
        self.close_tasks();
        if self.in_play {
            self.put("}");
            self.in_play = false;
        }
    }

    /// Ready for the next playbook's document.
    fn reset(&mut self) {
        self.started = false;
        self.in_play = false;
        self.in_tasks = false;
        self.in_task = false;
        self.first_play = true;
        self.first_task = true;
        self.first_host = true;
        self.done = false;
        self.interrupted = None;
        self.halted = None;
    }

    fn finish(&mut self, recap: Option<&std::collections::BTreeMap<String, Counters>>) {
        if self.done {
            return;
        }
        self.done = true;
        self.start();
        self.close_play();
        self.put("\n],\n\"recap\": ");
        match recap {
            Some(r) => {
                let text = json(r);
                self.put(&text);
            }
            None => self.put("{},\n\"complete\": false"),
        }
        if let Some(hosts) = self.interrupted.take() {
            let text = json(&serde_json::json!({ "hosts": hosts }));
            self.put(&format!(",\n\"interrupted\": {text}"));
        }
        if let Some(reason) = self.halted.take() {
            let text = json(&serde_json::json!({ "reason": reason }));
            self.put(&format!(",\n\"halted\": {text}"));
        }
        if let Some(shard) = self.shard {
            let text = json(&shard);
            self.put(&format!(",\n\"shard\": {text}"));
        }
        self.put("}\n");
        let _ = self.out.flush();
    }
}

impl<W: Write + Send> JsonReporter<W> {
    pub fn new(out: W) -> Self {
        JsonReporter {
            state: Mutex::new(JsonState {
                out,
                started: false,
                in_play: false,
                in_tasks: false,
                in_task: false,
                first_play: true,
                first_task: true,
                first_host: true,
                done: false,
                interrupted: None,
                halted: None,
                task_clock: None,
                shard: None,
            }),
        }
    }

    /// Every document says it is shard `shard` of a sharded run.
    pub fn with_shard(self, shard: Option<crate::shard::Shard>) -> Self {
        if let Ok(mut st) = self.state.lock() {
            st.shard = shard;
        }
        self
    }
}

impl<W: Write + Send> Drop for JsonReporter<W> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.state.lock() {
            st.finish(None);
        }
    }
}

impl<W: Write + Send> Reporter for JsonReporter<W> {
    fn event(&self, e: Event<'_>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.done {
            // A playbook after the first: a document of its own.
            if !matches!(e, Event::PlayStart { .. }) {
                return;
            }
            st.reset();
        }
        match e {
            Event::PlayStart { name, hosts } => {
                st.start();
                st.close_play();
                let sep = if st.first_play { "\n" } else { ",\n" };
                st.first_play = false;
                let head = format!(
                    "{sep}{{\"name\": {}, \"hosts\": {}, \"tasks\": [",
                    json(&name),
                    json(&hosts)
                );
                st.put(&head);
                st.in_play = true;
                st.in_tasks = true;
                st.first_task = true;
            }
            Event::TaskStart {
                name,
                origin,
                handler,
                ..
            } => {
                if !st.in_tasks {
                    return;
                }
                st.close_task();
                let sep = if st.first_task { "\n  " } else { ",\n  " };
                st.first_task = false;
                let head = format!(
                    "{sep}{{\"name\": {}, \"origin\": {}, \"handler\": {handler}, \"start\": \"{}\", \"hosts\": {{",
                    json(&name),
                    json(&origin.to_string()),
                    now()
                );
                st.put(&head);
                st.in_task = true;
                st.first_host = true;
                let now = std::time::Instant::now();
                st.task_clock = Some((now, now));
            }
            Event::Host(o) => {
                if !st.in_task {
                    return;
                }
                let censored;
                let result = if o.no_log {
                    // As ansible-core registers it: the reason, and whether it changed.
                    censored = serde_json::json!({"censored": NO_LOG, "changed": o.result.get("changed").cloned().unwrap_or(Value::Bool(false))});
                    &censored
                } else {
                    &o.result
                };
                let sep = if st.first_host { "\n    " } else { ",\n    " };
                st.first_host = false;
                if let Some((_, last)) = &mut st.task_clock {
                    *last = std::time::Instant::now();
                }
                // When the task started on the host and how long it took there (seconds).
                let timing = o.timing.map_or(String::new(), |t| {
                    format!(
                        ", \"start\": \"{:.3}\", \"duration\": {:.3}",
                        jiff::Timestamp::try_from(t.start).unwrap_or_default(),
                        t.took.as_secs_f64()
                    )
                });
                let entry = format!(
                    "{sep}{}: {{\"status\": \"{}\", \"ignored\": {}{timing}, \"end\": \"{}\", \"result\": {}}}",
                    json(&o.host),
                    status_str(o),
                    o.ignored,
                    now(),
                    json(result)
                );
                st.put(&entry);
            }
            Event::PlayAborted { reason } => {
                if st.in_play {
                    st.close_tasks();
                    let text = format!(", \"aborted\": {}", json(&reason));
                    st.put(&text);
                }
            }
            Event::Interrupted { hosts } => st.interrupted = Some(hosts.to_vec()),
            Event::Halted { reason } => st.halted = Some(reason.to_string()),
            Event::Recap(recap) => st.finish(Some(recap)),
            Event::Item(_)
            | Event::Included { .. }
            | Event::NoHostsMatched { .. }
            | Event::NoMoreHosts => {}
        }
    }
}

/// Several reporters at once (terminal lines and a JUnit file, say).
pub struct Tee<'a>(pub Vec<&'a dyn Reporter>);

impl Reporter for Tee<'_> {
    fn event(&self, e: Event<'_>) {
        for r in &self.0 {
            // Events are not Clone; rebuild the borrowed view for each reporter.
            r.event(match &e {
                Event::PlayStart { name, hosts } => Event::PlayStart { name, hosts },
                Event::NoHostsMatched { pattern } => Event::NoHostsMatched { pattern },
                Event::TaskStart {
                    name,
                    origin,
                    handler,
                    hosts,
                    names,
                } => Event::TaskStart {
                    name,
                    origin,
                    handler: *handler,
                    hosts: *hosts,
                    names,
                },
                Event::Included { file, hosts, item } => Event::Included {
                    file,
                    hosts,
                    item: *item,
                },
                Event::Item(o) => Event::Item(o),
                Event::Host(o) => Event::Host(o),
                Event::NoMoreHosts => Event::NoMoreHosts,
                Event::PlayAborted { reason } => Event::PlayAborted { reason },
                Event::Interrupted { hosts } => Event::Interrupted { hosts },
                Event::Halted { reason } => Event::Halted { reason },
                Event::Recap(r) => Event::Recap(r),
            });
        }
    }
}

/// `--junit FILE`: one testsuite per play, one testcase per task and host, written (atomically)
/// when the run ends, for CI systems.
pub struct JunitReporter {
    path: std::path::PathBuf,
    state: Mutex<JunitState>,
}

#[derive(Default)]
struct JunitState {
    /// (play name, cases)
    suites: Vec<(String, Vec<JunitCase>)>,
    task: String,
}

struct JunitCase {
    name: String,
    status: Status,
    ignored: bool,
    message: String,
}

impl JunitReporter {
    pub fn new(path: std::path::PathBuf) -> Self {
        JunitReporter {
            path,
            state: Mutex::new(JunitState::default()),
        }
    }

    fn render(st: &JunitState) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .chars()
                .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                .collect::<String>()
        };
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
        for (play, cases) in &st.suites {
            let failures = cases
                .iter()
                .filter(|c| c.status == Status::Failed && !c.ignored)
                .count();
            let errors = cases
                .iter()
                .filter(|c| c.status == Status::Unreachable)
                .count();
            let skipped = cases.iter().filter(|c| c.status == Status::Skipped).count();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n",
                esc(play),
                cases.len()
            ));
            for c in cases {
                out.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    esc(play),
                    esc(&c.name)
                ));
                match c.status {
                    Status::Failed if !c.ignored => out.push_str(&format!(
                        ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                        esc(&c.message)
                    )),
                    Status::Unreachable => out.push_str(&format!(
                        ">\n      <error message=\"{}\"/>\n    </testcase>\n",
                        esc(&c.message)
                    )),
                    Status::Skipped => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
                    _ => out.push_str("/>\n"),
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

impl Reporter for JunitReporter {
    fn event(&self, e: Event<'_>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match e {
            Event::PlayStart { name, .. } => st.suites.push((name.to_string(), Vec::new())),
            Event::TaskStart { name, .. } => st.task = name.to_string(),
            Event::Host(o) => {
                let name = format!("[{}] {}", o.host, st.task);
                let message = if o.no_log {
                    NO_LOG.to_string()
                } else {
                    o.result
                        .get("msg")
                        .map(|m| {
                            m.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| m.to_string())
                        })
                        .unwrap_or_default()
                };
                if let Some((_, cases)) = st.suites.last_mut() {
                    cases.push(JunitCase {
                        name,
                        status: o.status,
                        ignored: o.ignored,
                        message,
                    });
                }
            }
            Event::Recap(_) => {
                let xml = Self::render(&st);
                let tmp = self
                    .path
                    .with_extension(format!("tmp.{}", std::process::id()));
                let ok = std::fs::write(&tmp, xml).and_then(|()| std::fs::rename(&tmp, &self.path));
                if let Err(e) = ok {
                    tracing::error!("cannot write the JUnit report {}: {e}", self.path.display());
                }
            }
            _ => {}
        }
    }
}
