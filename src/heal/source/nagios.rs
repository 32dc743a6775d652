//! A command read as a Nagios plugin: the exit status is the state (0 OK, 1 WARNING,
//! 2 CRITICAL, 3 or anything else UNKNOWN), the first line of output its text, and what
//! follows `|` its performance data (`'label'=value[UOM];[warn];[crit];[min];[max]`).

use serde_json::Value;

use super::Sample;
use crate::heal::rules::NagiosState;

/// The most characters of a plugin's text kept.
const MAX_TEXT: usize = 1000;

/// A host's plugin result: a sample when its state is one of `on`. Its value is the state
/// (`CRITICAL`); labels `state`, `code`, `output` (the first line's text) and
/// `perf_<label>` (each performance value, its unit in `perf_<label>_uom` when it has one).
pub fn read(host: &str, rc: Option<u32>, stdout: &[u8], on: &[NagiosState]) -> Option<Sample> {
    // Killed by a signal: no state; Nagios reads that as UNKNOWN.
    let state = rc.map_or(NagiosState::Unknown, NagiosState::of_exit);
    if !on.contains(&state) {
        return None;
    }
    let text = String::from_utf8_lossy(stdout);
    let (output, perf) = split(&text);
    let mut labels = vec![
        ("state".to_string(), state.as_str().to_string()),
        (
            "code".to_string(),
            rc.map_or_else(|| "signal".into(), |c| c.to_string()),
        ),
        (
            "output".to_string(),
            output.chars().take(MAX_TEXT).collect(),
        ),
    ];
    for p in perfdata(&perf) {
        if !p.uom.is_empty() {
            labels.push((format!("perf_{}_uom", p.label), p.uom));
        }
        labels.push((format!("perf_{}", p.label), p.value));
    }
    Some(Sample::on(host, Value::from(state.as_str()), labels))
}

/// The first line's text, and all performance data (the first line's after `|` and, in
/// a multi-line answer, everything after the next `|`).
fn split(text: &str) -> (String, String) {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let (output, mut perf) = match first.split_once('|') {
        Some((o, p)) => (o.trim().to_string(), p.trim().to_string()),
        None => (first.trim().to_string(), String::new()),
    };
    let rest: Vec<&str> = lines.collect();
    let rest = rest.join("\n");
    if let Some((_, more)) = rest.split_once('|') {
        perf.push(' ');
        perf.push_str(more);
    }
    (output, perf)
}

#[derive(Debug, PartialEq)]
struct Perf {
    label: String,
    value: String,
    uom: String,
}

/// Performance data items; an item that does not read is left out.
fn perfdata(text: &str) -> Vec<Perf> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        // The label: 'quoted, with '' for a quote' or up to '='.
        let (label, after) = if let Some(q) = rest.strip_prefix('\'') {
            let mut label = String::new();
            let mut chars = q.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, n)| *n) == Some('\'') {
                        label.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    label.push(c);
                }
            }
            match end {
                Some(e) => (label, &q[e..]),
                None => break,
            }
        } else {
            match rest.split_once('=') {
                Some((l, _)) if !l.contains(char::is_whitespace) => {
                    (l.to_string(), &rest[l.len()..])
                }
                _ => {
                    // Not an item: skip a word.
                    rest = rest
                        .split_once(char::is_whitespace)
                        .map_or("", |(_, r)| r)
                        .trim_start();
                    continue;
                }
            }
        };
        let Some(after) = after.strip_prefix('=') else {
            break;
        };
        let (item, next) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
        rest = next.trim_start();
        let value_uom = item.split(';').next().unwrap_or_default();
        let split_at = value_uom
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(value_uom.len());
        let (value, uom) = value_uom.split_at(split_at);
        if value.parse::<f64>().is_err() || label.is_empty() {
            continue;
        }
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        out.push(Perf {
            label,
            value: value.to_string(),
            uom: uom.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_fire_as_configured() {
        let crit = [NagiosState::Critical];
        assert!(read("h", Some(0), b"OK", &crit).is_none());
        assert!(read("h", Some(1), b"WARN", &crit).is_none());
        let s = read(
            "h",
            Some(2),
            b"DISK CRITICAL - free space: / 3% | /=97%;80;90;0;100 'inodes used'=12;;;\nlong\ntext\n| more=5s;1;2\n",
            &crit,
        )
        .expect("fires");
        assert_eq!(s.value, "CRITICAL");
        assert_eq!(s.labels["host"], "h");
        assert_eq!(s.labels["code"], "2");
        assert_eq!(s.labels["output"], "DISK CRITICAL - free space: / 3%");
        assert_eq!(s.labels["perf__"], "97");
        assert_eq!(s.labels["perf___uom"], "%");
        assert_eq!(s.labels["perf_inodes_used"], "12");
        assert_eq!(s.labels["perf_more"], "5");
        assert_eq!(s.labels["perf_more_uom"], "s");
        // Exit 7 and a signal are UNKNOWN.
        let unk = [NagiosState::Unknown];
        assert_eq!(
            read("h", Some(7), b"?", &unk).expect("fires").value,
            "UNKNOWN"
        );
        assert_eq!(
            read("h", None, b"", &unk).expect("fires").labels["code"],
            "signal"
        );
    }

    #[test]
    fn perfdata_that_does_not_read_is_left_out() {
        assert_eq!(
            perfdata("load1=0.5;1;2 junk 'it''s'=3 x=abc load5=1.25"),
            vec![
                Perf {
                    label: "load1".into(),
                    value: "0.5".into(),
                    uom: String::new()
                },
                Perf {
                    label: "it_s".into(),
                    value: "3".into(),
                    uom: String::new()
                },
                Perf {
                    label: "load5".into(),
                    value: "1.25".into(),
                    uom: String::new()
                },
            ]
        );
        assert!(perfdata("'unterminated=3").is_empty());
    }
}
