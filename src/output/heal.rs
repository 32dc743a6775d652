//! How a heal pass and the history read: one line per host decision or action, and JSON.
//!
//! Owns: the words. Must not: decide anything.

use crate::app::heal::Pass;
use crate::state::HistoryEntry;

/// One line per decision, actions with their outcome; then what was skipped or locked.
pub fn pass_text(p: &Pass) -> String {
    let mut out = String::new();
    if p.skipped {
        out.push_str("skipped: another heal is acting on this state\n");
        return out;
    }
    if p.stale_interrupted > 0 {
        out.push_str(&format!(
            "{} action(s) left running by a heal that ended first: recorded interrupted, not retried\n",
            p.stale_interrupted
        ));
    }
    let would = if p.dry_run { " (dry run: would)" } else { "" };
    for c in &p.checks {
        if let Some(e) = &c.error {
            out.push_str(&format!("{}: cannot evaluate: {e}\n", c.name));
        }
        if c.error.is_none() && c.decisions.is_empty() {
            out.push_str(&format!("{}: nothing fires\n", c.name));
        }
        for d in &c.decisions {
            let done = c
                .actions
                .iter()
                .find(|a| d.decision == "act" && a.host == d.host)
                .map(|a| {
                    if a.detail.is_empty() {
                        format!(" → {}", a.outcome)
                    } else {
                        format!(" → {} ({})", a.outcome, a.detail)
                    }
                })
                .unwrap_or_default();
            let tag = if d.decision == "act" { would } else { "" };
            out.push_str(&format!(
                "{}: {} [value {}]: {}{tag}: {}{done}\n",
                c.name, d.host, d.value, d.decision, d.detail
            ));
        }
    }
    if let Some(l) = &p.locked {
        out.push_str(&format!("kill switch {l}\n"));
    }
    out
}

/// `olympus history` lines: time, kind, rule, host, what, detail.
pub fn history_text(entries: &[HistoryEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let place = match (&e.rule, &e.host) {
            (Some(r), Some(h)) => format!("{r} {h}"),
            (Some(r), None) => r.clone(),
            (None, Some(h)) => h.clone(),
            (None, None) => "-".into(),
        };
        out.push_str(&format!(
            "{}  {:<8}  {place}  {}: {}\n",
            e.at, e.kind, e.what, e.detail
        ));
    }
    if entries.is_empty() {
        out.push_str("nothing recorded\n");
    }
    out
}
