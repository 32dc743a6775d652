//! The run report: one self-contained HTML page (no script, no request to anywhere) from a
//! run's JSON (`olympus run --output json`) and, for heal, its history: the recap, a
//! per-host timeline of tasks, the slowest tasks, every failure with its output, and the
//! evaluations and actions heal recorded.
//!
//! Owns: reading the run's JSON shape and writing the page. Must not: read files or state
//! (the caller hands both in). Everything shown is text from hosts and playbooks: all of it
//! is HTML-escaped, none of it is markup.

use std::fmt::Write as _;

use serde_json::Value;

use crate::state::HistoryEntry;

/// What a report is made of.
pub struct ReportInput<'a> {
    /// A run's JSON document, when the report covers a run.
    pub run: Option<&'a Value>,
    /// heal's history, when the report covers heal.
    pub history: Option<&'a [HistoryEntry]>,
    /// When the page was made (shown, so a printed report says how old it is).
    pub generated: jiff::Timestamp,
}

/// The run JSON is not one olympus wrote.
#[derive(Debug, thiserror::Error)]
#[error("not an olympus run report (olympus run --output json): {0}")]
pub struct NotARun(String);

/// One host's result for one task, placed in time.
struct Bar<'a> {
    play: &'a str,
    task: &'a str,
    origin: &'a str,
    host: &'a str,
    status: &'a str,
    ignored: bool,
    start: Option<jiff::Timestamp>,
    end: Option<jiff::Timestamp>,
    result: &'a Value,
}

fn time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn bars(run: &Value) -> Result<Vec<Bar<'_>>, NotARun> {
    let plays = run["plays"]
        .as_array()
        .ok_or_else(|| NotARun("it has no 'plays' list".into()))?;
    let mut out = Vec::new();
    for play in plays {
        let pname = play["name"].as_str().unwrap_or_default();
        for task in play["tasks"].as_array().into_iter().flatten() {
            let tname = task["name"].as_str().unwrap_or_default();
            let origin = task["origin"].as_str().unwrap_or_default();
            let start = time(&task["start"]);
            for (host, r) in task["hosts"].as_object().into_iter().flatten() {
                out.push(Bar {
                    play: pname,
                    task: tname,
                    origin,
                    host,
                    status: r["status"].as_str().unwrap_or("unknown"),
                    ignored: r["ignored"].as_bool().unwrap_or(false),
                    // The host's own start (runs since --output json records it), else
                    // the task's.
                    start: time(&r["start"]).or(start),
                    end: time(&r["end"]),
                    result: &r["result"],
                });
            }
        }
    }
    Ok(out)
}

/// Text made safe for HTML, in an element or an attribute.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn millis(from: jiff::Timestamp, to: jiff::Timestamp) -> i64 {
    to.as_millisecond() - from.as_millisecond()
}

fn seconds(ms: i64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.2em .7em;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td,tr.unreachable td{background:#fde2e2}
pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em;white-space:pre-wrap}
.failure{border-left:4px solid #c62828;padding-left:1em;margin:1em 0}
.ok{fill:#43a047}.changed{fill:#f9a825}.failed{fill:#c62828}.unreachable{fill:#6a1b1b}
.skipped{fill:#9e9e9e}.ignored{fill:#ef9a9a}.unknown{fill:#607d8b}
.legend span{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}
.outcome-failed{color:#c62828}.outcome-ok{color:#2e7d32}";

/// The page.
pub fn html(input: &ReportInput) -> Result<String, NotARun> {
    let mut page = String::new();
    let title = if input.run.is_some() {
        "olympus run report"
    } else {
        "olympus heal report"
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<p>Made {}.</p>\n",
        esc(&input.generated.to_string())
    );
    if let Some(run) = input.run {
        run_sections(&mut page, run)?;
    }
    if let Some(h) = input.history {
        history_section(&mut page, h);
    }
    page.push_str("</body></html>\n");
    Ok(page)
}

fn run_sections(page: &mut String, run: &Value) -> Result<(), NotARun> {
    let bars = bars(run)?;
    let recap = run["recap"].as_object().cloned().unwrap_or_default();
    let failed_hosts = recap
        .values()
        .filter(|c| c["failed"].as_u64().unwrap_or(0) + c["unreachable"].as_u64().unwrap_or(0) > 0)
        .count();
    let (class, outcome) = if run["halted"].is_object() {
        ("outcome-failed", "halted by the kill switch".to_string())
    } else if run["interrupted"].is_object() {
        ("outcome-failed", "interrupted".to_string())
    } else if failed_hosts > 0 {
        (
            "outcome-failed",
            format!("{failed_hosts} of {} hosts failed", recap.len()),
        )
    } else {
        ("outcome-ok", format!("all {} hosts ok", recap.len()))
    };
    let starts = bars.iter().filter_map(|b| b.start);
    let ends = bars.iter().filter_map(|b| b.end);
    let (first, last) = (starts.min(), ends.max());
    let took = match (first, last) {
        (Some(a), Some(b)) => format!(", in {}", seconds(millis(a, b))),
        _ => String::new(),
    };
    let plays: Vec<String> = run["plays"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| esc(p["name"].as_str().unwrap_or_default()))
        .collect();
    let _ = writeln!(
        page,
        "<p id=\"outcome\" class=\"{class}\"><strong>{}</strong>{took}. Plays: {}.</p>",
        esc(&outcome),
        plays.join(", ")
    );

    // Recap.
    page.push_str("<h2>Recap</h2>\n<table id=\"recap\"><tr><th>host</th><th>ok</th><th>changed</th><th>unreachable</th><th>failed</th><th>skipped</th><th>rescued</th><th>ignored</th></tr>\n");
    for (host, c) in &recap {
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        let row = if n("unreachable") > 0 {
            "unreachable"
        } else if n("failed") > 0 {
            "failed"
        } else {
            "ok"
        };
        let _ = write!(page, "<tr class=\"{row}\"><td>{}</td>", esc(host));
        for k in [
            "ok",
            "changed",
            "unreachable",
            "failed",
            "skipped",
            "rescued",
            "ignored",
        ] {
            let _ = write!(page, "<td class=\"n\">{}</td>", n(k));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");

    // Timeline: a row per host, a bar per task from its start to the host's result.
    if let (Some(first), Some(last)) = (first, last) {
        timeline(page, &bars, &recap, first, last);
    }

    // Slowest tasks: from the task's start to its last host's result.
    let mut tasks: Vec<(&str, &str, &str, i64, usize)> = Vec::new();
    for b in &bars {
        let (Some(s), Some(e)) = (b.start, b.end) else {
            continue;
        };
        let ms = millis(s, e);
        match tasks
            .iter_mut()
            .find(|t| t.0 == b.play && t.1 == b.task && t.2 == b.origin)
        {
            Some(t) => {
                t.3 = t.3.max(ms);
                t.4 += 1;
            }
            None => tasks.push((b.play, b.task, b.origin, ms, 1)),
        }
    }
    tasks.sort_by_key(|t| std::cmp::Reverse(t.3));
    page.push_str("<h2>Slowest tasks</h2>\n<table id=\"slowest\"><tr><th>task</th><th>where</th><th>hosts</th><th>took</th></tr>\n");
    for (_, task, origin, ms, hosts) in tasks.iter().take(10) {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{hosts}</td><td class=\"n\">{}</td></tr>",
            esc(task),
            esc(origin),
            seconds(*ms)
        );
    }
    page.push_str("</table>\n");

    // Failures, with what the host said.
    let failures: Vec<&Bar> = bars
        .iter()
        .filter(|b| matches!(b.status, "failed" | "unreachable"))
        .collect();
    let _ = writeln!(page, "<h2>Failures ({})</h2>", failures.len());
    if failures.is_empty() {
        page.push_str("<p>None.</p>\n");
    }
    for b in failures {
        let ignored = if b.ignored { " (ignored)" } else { "" };
        let _ = write!(
            page,
            "<div class=\"failure\"><h3>{}: {}{ignored}</h3><p>{} — play {}</p>",
            esc(b.host),
            esc(b.task),
            esc(b.origin),
            esc(b.play)
        );
        for key in ["msg", "stdout", "stderr"] {
            let text = match &b.result[key] {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Null => continue,
                Value::String(_) => continue,
                other => other.to_string(),
            };
            let _ = write!(page, "<p>{key}:</p><pre>{}</pre>", esc(&text));
        }
        if let Some(rc) = b.result["rc"].as_i64() {
            let _ = write!(page, "<p>rc: {rc}</p>");
        }
        page.push_str("</div>\n");
    }
    Ok(())
}

fn timeline(
    page: &mut String,
    bars: &[Bar],
    recap: &serde_json::Map<String, Value>,
    first: jiff::Timestamp,
    last: jiff::Timestamp,
) {
    const LABEL: i64 = 160;
    const WIDTH: i64 = 900;
    const ROW: i64 = 22;
    let span = millis(first, last).max(1);
    let hosts: Vec<&String> = recap.keys().collect();
    let height = ROW * hosts.len() as i64 + 30;
    page.push_str("<h2>Timeline</h2>\n<p class=\"legend\">");
    for s in [
        "ok",
        "changed",
        "failed",
        "unreachable",
        "skipped",
        "ignored",
    ] {
        let _ = write!(
            page,
            "<span><svg width=\"12\" height=\"12\"><rect class=\"{s}\" width=\"12\" height=\"12\"/></svg></span>{s}"
        );
    }
    page.push_str("</p>\n");
    let _ = writeln!(
        page,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"tasks per host over time\">",
        LABEL + WIDTH + 10
    );
    for (i, h) in hosts.iter().enumerate() {
        let y = i as i64 * ROW;
        let _ = writeln!(
            page,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 15,
            esc(h)
        );
    }
    for b in bars {
        let (Some(s), Some(e)) = (b.start, b.end) else {
            continue;
        };
        let Some(row) = hosts.iter().position(|h| h.as_str() == b.host) else {
            continue;
        };
        let x = LABEL + millis(first, s) * WIDTH / span;
        let w = (millis(s, e) * WIDTH / span).max(2);
        let class = if b.ignored { "ignored" } else { b.status };
        let _ = writeln!(
            page,
            "<rect class=\"{}\" data-host=\"{}\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{}\"><title>{} — {}: {} ({})</title></rect>",
            esc(class),
            esc(b.host),
            row as i64 * ROW + 3,
            ROW - 6,
            esc(b.host),
            esc(b.task),
            esc(b.status),
            seconds(millis(s, e))
        );
    }
    let axis = hosts.len() as i64 * ROW + 20;
    let _ = writeln!(
        page,
        "<text x=\"{LABEL}\" y=\"{axis}\" font-size=\"11\">0 s</text><text x=\"{}\" y=\"{axis}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n</svg>",
        LABEL + WIDTH,
        seconds(span)
    );
}

fn history_section(page: &mut String, history: &[HistoryEntry]) {
    let _ = writeln!(
        page,
        "<h2>heal: evaluations and actions ({})</h2>",
        history.len()
    );
    if history.is_empty() {
        page.push_str("<p>Nothing recorded.</p>\n");
        return;
    }
    page.push_str("<table id=\"history\"><tr><th>when</th><th>kind</th><th>rule</th><th>host</th><th>what</th><th>detail</th></tr>\n");
    for e in history {
        let row = match e.what.as_str() {
            "failed" | "unreachable" | "error" | "interrupted" | "halted" | "engaged" => "failed",
            _ => "ok",
        };
        let _ = writeln!(
            page,
            "<tr class=\"{row}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.at.to_string()),
            esc(&e.kind),
            esc(e.rule.as_deref().unwrap_or("")),
            esc(e.host.as_deref().unwrap_or("")),
            esc(&e.what),
            esc(&e.detail)
        );
    }
    page.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Value {
        serde_json::json!({
            "plays": [{"name": "deploy <web>", "hosts": ["a", "b"], "tasks": [
                {"name": "t1", "origin": "pb.yml:3:7", "handler": false, "start": "2026-01-01T00:00:00.000Z", "hosts": {
                    "a": {"status": "ok", "ignored": false, "end": "2026-01-01T00:00:01.000Z", "result": {}},
                    "b": {"status": "failed", "ignored": false, "end": "2026-01-01T00:00:03.000Z",
                          "result": {"msg": "<script>alert(1)</script>", "stdout": "a & b", "rc": 2}}}}]}],
            "recap": {"a": {"ok": 1, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 0, "rescued": 0, "ignored": 0},
                      "b": {"ok": 0, "changed": 0, "unreachable": 0, "failed": 1, "skipped": 0, "rescued": 0, "ignored": 0}}
        })
    }

    #[test]
    fn the_page_escapes_everything_a_host_or_playbook_said() {
        let r = run();
        let page = html(&ReportInput {
            run: Some(&r),
            history: None,
            generated: jiff::Timestamp::UNIX_EPOCH,
        })
        .expect("page");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("deploy &lt;web&gt;"));
        assert!(page.contains("a &amp; b"));
        assert!(page.contains("1 of 2 hosts failed"));
        assert!(page.contains(", in 3.00 s"));
        // b's bar ends at the right edge of the timeline: 160 + 900 * 3/3.
        assert!(
            page.contains("data-host=\"b\" x=\"160\" y=\"25\" width=\"900\""),
            "{page}"
        );
        assert!(matches!(
            html(&ReportInput {
                run: Some(&serde_json::json!({"x": 1})),
                history: None,
                generated: jiff::Timestamp::UNIX_EPOCH,
            }),
            Err(NotARun(_))
        ));
    }
}
