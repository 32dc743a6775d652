//! `olympus run --profile`: after the recap, the slowest tasks (wall time, from a task's start
//! to its last host's result) and the hosts that spent the most time in tasks — what Ansible
//! users install the `profile_tasks` callback for, laid out the same way.
//!
//! Owns: collecting those times from the engine's events and printing the two tables.
//! Must not: decide anything about the run; it only listens.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::events::{Event, Reporter};

/// How many tasks and hosts are listed (profile_tasks' default task limit).
const LIMIT: usize = 20;

pub struct ProfileReporter<W: Write + Send> {
    state: Mutex<State<W>>,
}

struct State<W> {
    out: W,
    /// Tasks in the order they ran: name, where it is written, wall time.
    tasks: Vec<(String, String, Duration)>,
    /// The open task: when it started, and its last host result.
    open: Option<(Instant, Instant)>,
    /// Per host: time spent in tasks, and how many.
    hosts: BTreeMap<String, (Duration, u32)>,
}

impl<W: Write + Send> ProfileReporter<W> {
    pub fn new(out: W) -> Self {
        ProfileReporter {
            state: Mutex::new(State {
                out,
                tasks: Vec::new(),
                open: None,
                hosts: BTreeMap::new(),
            }),
        }
    }
}

impl<W: Write> State<W> {
    fn close(&mut self) {
        if let (Some((start, last)), Some(t)) = (self.open.take(), self.tasks.last_mut()) {
            t.2 = last.duration_since(start);
        }
    }

    fn print(&mut self) {
        self.close();
        let mut tasks: Vec<&(String, String, Duration)> = self.tasks.iter().collect();
        // Slowest first; among equals, the order they ran.
        tasks.sort_by_key(|t| std::cmp::Reverse(t.2));
        let mut text = String::from("\n");
        text.push_str(&title("TASKS BY TIME"));
        for (name, origin, took) in tasks.into_iter().take(LIMIT) {
            text.push_str(&line(&format!("{name} ({origin})"), *took));
        }
        let mut hosts: Vec<(&String, &(Duration, u32))> = self.hosts.iter().collect();
        hosts.sort_by_key(|h| std::cmp::Reverse(h.1.0));
        text.push('\n');
        text.push_str(&title("HOSTS BY TIME"));
        for (host, (took, n)) in hosts.into_iter().take(LIMIT) {
            let tasks = if *n == 1 { "task" } else { "tasks" };
            text.push_str(&line(&format!("{host} ({n} {tasks})"), *took));
        }
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

fn title(t: &str) -> String {
    format!("{t} {}\n", "*".repeat(79usize.saturating_sub(t.len() + 1)))
}

/// `label ------ 1.23s`, 79 columns wide when the label leaves room.
fn line(label: &str, took: Duration) -> String {
    let secs = format!("{:.2}s", took.as_secs_f64());
    let dashes = 79usize.saturating_sub(label.chars().count() + secs.len() + 2);
    format!("{label} {} {secs}\n", "-".repeat(dashes.max(3)))
}

impl<W: Write + Send> Reporter for ProfileReporter<W> {
    fn event(&self, e: Event<'_>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match e {
            Event::TaskStart { name, origin, .. } => {
                st.close();
                st.tasks
                    .push((name.to_string(), origin.to_string(), Duration::ZERO));
                let now = Instant::now();
                st.open = Some((now, now));
            }
            Event::Host(o) => {
                if let Some((_, last)) = &mut st.open {
                    *last = Instant::now();
                }
                if let Some(t) = o.timing {
                    let entry = st.hosts.entry(o.host.clone()).or_default();
                    entry.0 += t.took;
                    entry.1 += 1;
                }
            }
            Event::PlayStart { .. } => st.close(),
            Event::Recap(_) => st.print(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_as_wide_as_profile_tasks_draws_them() {
        let l = line(
            "app : Unpack (roles/app/tasks/main.yml:35)",
            Duration::from_millis(2412),
        );
        assert_eq!(l.trim_end().chars().count(), 79, "{l}");
        assert!(l.ends_with(" 2.41s\n"), "{l}");
        let long = "x".repeat(100);
        assert!(line(&long, Duration::ZERO).contains(" --- 0.00s"));
        assert_eq!(title("TASKS BY TIME").trim_end().len(), 79);
    }
}
