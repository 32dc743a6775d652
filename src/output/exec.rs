//! How `olympus exec` shows its results: hosts with identical output folded into one block
//! headed by a compact host list (like clustershell's `dshbak -c`), one block per host with
//! `--no-fold`, or one JSON object per host per line with `--output json`.
//!
//! Command output is written as the raw bytes the host sent (text mode), so nothing is lost
//! or re-encoded; JSON carries text as UTF-8 and adds `stdout_base64`/`stderr_base64` when the
//! bytes are not valid UTF-8.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::engine::adhoc::{HostResult, Status};

/// A group of hosts whose results are identical.
#[derive(Debug)]
pub struct Block<'a> {
    pub hosts: Vec<&'a str>,
    pub result: &'a HostResult,
}

/// What must be equal for two hosts' results to fold together.
type FoldKey<'a> = (
    Status,
    Option<u32>,
    Option<&'a str>,
    &'a [u8],
    &'a [u8],
    Option<&'a str>,
);

fn fold_key(r: &HostResult) -> FoldKey<'_> {
    let (rc, sig, out, err) = match &r.output {
        Some(o) => (o.rc, o.signal.as_deref(), &o.stdout[..], &o.stderr[..]),
        None => (None, None, &[][..], &[][..]),
    };
    (r.status, rc, sig, out, err, r.error.as_deref())
}

/// Groups identical results, in the order each group's first host appears.
pub fn fold(results: &[HostResult]) -> Vec<Block<'_>> {
    let mut index: HashMap<_, usize> = HashMap::new();
    let mut blocks: Vec<Block<'_>> = Vec::new();
    for r in results {
        let key = fold_key(r);
        match index.get(&key) {
            Some(&i) => blocks[i].hosts.push(&r.host),
            None => {
                index.insert(key, blocks.len());
                blocks.push(Block {
                    hosts: vec![&r.host],
                    result: r,
                });
            }
        }
    }
    blocks
}

/// One block per host, in order.
pub fn unfolded(results: &[HostResult]) -> Vec<Block<'_>> {
    results
        .iter()
        .map(|r| Block {
            hosts: vec![&r.host],
            result: r,
        })
        .collect()
}

/// Compacts host names: `web01,web02,web03,web07,db1` → `web[01-03,07],db1`. Names are
/// grouped on their last run of digits; zero-padded numbers keep their width.
pub fn compact_hosts(names: &[&str]) -> String {
    struct Group<'a> {
        prefix: &'a str,
        suffix: &'a str,
        /// (number, its digits as written)
        nums: Vec<(u64, &'a str)>,
    }
    enum Part<'a> {
        Plain(&'a str),
        Group(usize),
    }
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut parts: Vec<Part<'_>> = Vec::new();
    for name in names {
        let bytes = name.as_bytes();
        let parsed = bytes.iter().rposition(u8::is_ascii_digit).and_then(|e| {
            let start = bytes[..=e]
                .iter()
                .rposition(|b| !b.is_ascii_digit())
                .map_or(0, |p| p + 1);
            let digits = &name[start..=e];
            digits
                .parse::<u64>()
                .ok()
                .map(|n| (&name[..start], &name[e + 1..], n, digits))
        });
        match parsed {
            Some((prefix, suffix, n, digits)) => {
                match groups
                    .iter()
                    .position(|g| g.prefix == prefix && g.suffix == suffix)
                {
                    Some(i) => groups[i].nums.push((n, digits)),
                    None => {
                        parts.push(Part::Group(groups.len()));
                        groups.push(Group {
                            prefix,
                            suffix,
                            nums: vec![(n, digits)],
                        });
                    }
                }
            }
            None => parts.push(Part::Plain(name)),
        }
    }
    let mut out = Vec::new();
    for part in parts {
        let g = match part {
            Part::Plain(name) => {
                out.push(name.to_string());
                continue;
            }
            Part::Group(i) => &mut groups[i],
        };
        g.nums.sort_unstable();
        g.nums.dedup();
        if g.nums.len() == 1 {
            out.push(format!("{}{}{}", g.prefix, g.nums[0].1, g.suffix));
            continue;
        }
        // A range keeps going while numbers are consecutive and written at the range's width.
        let width = |d: &str| {
            if d.len() > 1 && d.starts_with('0') {
                d.len()
            } else {
                0
            }
        };
        let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
        for &(n, digits) in &g.nums {
            if let Some(last) = ranges.last_mut()
                && n == last.1 + 1
                && format!("{n:0w$}", w = last.2) == digits
            {
                last.1 = n;
                continue;
            }
            ranges.push((n, n, width(digits)));
        }
        let body: Vec<String> = ranges
            .iter()
            .map(|&(a, b, w)| {
                if a == b {
                    format!("{a:0w$}")
                } else {
                    format!("{a:0w$}-{b:0w$}")
                }
            })
            .collect();
        out.push(format!("{}[{}]{}", g.prefix, body.join(","), g.suffix));
    }
    out.join(",")
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Text blocks: a header line per block, then stdout as sent, then stderr under a marker.
pub fn render_text(blocks: &[Block<'_>], color: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for b in blocks {
        let r = b.result;
        let n = b.hosts.len();
        let mut head = format!(
            "==== {} ({n} host{})",
            compact_hosts(&b.hosts),
            if n == 1 { "" } else { "s" }
        );
        let (tone, what) = match (r.status, &r.output) {
            (Status::Unreachable, _) => (RED, "UNREACHABLE".to_string()),
            (_, Some(o)) => match (o.rc, &o.signal) {
                (Some(0), _) => (GREEN, "rc=0".to_string()),
                (Some(rc), _) => (RED, format!("rc={rc}")),
                (None, Some(sig)) => (RED, format!("killed by SIG{sig}")),
                (None, None) => (RED, "no exit status".to_string()),
            },
            (_, None) => (RED, "FAILED".to_string()),
        };
        if color {
            let _ = write!(head, " {BOLD}{tone}{what}{RESET}");
        } else {
            let _ = write!(head, " {what}");
        }
        head.push_str(" ====\n");
        out.extend_from_slice(head.as_bytes());
        if let Some(err) = &r.error {
            let line = if color {
                format!("{YELLOW}{err}{RESET}\n")
            } else {
                format!("{err}\n")
            };
            out.extend_from_slice(line.as_bytes());
        }
        if let Some(o) = &r.output {
            out.extend_from_slice(&o.stdout);
            if !o.stdout.is_empty() && !o.stdout.ends_with(b"\n") {
                out.push(b'\n');
            }
            if !o.stderr.is_empty() {
                out.extend_from_slice(b"---- stderr ----\n");
                out.extend_from_slice(&o.stderr);
                if !o.stderr.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            if o.truncated {
                out.extend_from_slice(
                    b"(output truncated: olympus keeps at most --output-cap bytes per stream, 4 MiB unless set)\n",
                );
            }
        }
    }
    out
}

fn text_fields(obj: &mut serde_json::Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            obj.insert(name.into(), Value::from(s));
        }
        Err(_) => {
            obj.insert(
                name.into(),
                Value::from(String::from_utf8_lossy(bytes).into_owned()),
            );
            obj.insert(
                format!("{name}_base64"),
                Value::from(data_encoding::BASE64.encode(bytes)),
            );
        }
    }
}

/// One JSON object per host, one per line (JSON Lines), in host order.
pub fn render_json(results: &[HostResult]) -> String {
    let mut s = String::new();
    for r in results {
        let mut obj = serde_json::Map::new();
        obj.insert("host".into(), Value::from(r.host.as_str()));
        obj.insert("status".into(), Value::from(r.status.as_str()));
        let o = r.output.as_ref();
        obj.insert("rc".into(), json!(o.and_then(|o| o.rc)));
        obj.insert("signal".into(), json!(o.and_then(|o| o.signal.clone())));
        text_fields(&mut obj, "stdout", o.map_or(&[][..], |o| &o.stdout));
        text_fields(&mut obj, "stderr", o.map_or(&[][..], |o| &o.stderr));
        obj.insert(
            "truncated".into(),
            Value::from(o.is_some_and(|o| o.truncated)),
        );
        obj.insert(
            "duration".into(),
            json!((r.duration.as_secs_f64() * 1000.0).round() / 1000.0),
        );
        obj.insert("error".into(), json!(r.error));
        s.push_str(&Value::Object(obj).to_string());
        s.push('\n');
    }
    s
}

/// "50 hosts: 48 ok, 1 failed, 1 unreachable".
pub fn summary(results: &[HostResult]) -> String {
    let count = |s| results.iter().filter(|r| r.status == s).count();
    format!(
        "{} host{}: {} ok, {} failed, {} unreachable",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Unreachable)
    )
}

/// Exit status: 0 all ok; 4 some host unreachable; else 2 some command failed.
pub fn outcome(results: &[HostResult]) -> crate::exit::Outcome {
    use crate::exit::Outcome;
    if results.iter().any(|r| r.status == Status::Unreachable) {
        Outcome::Unreachable
    } else if results.iter().any(|r| r.status == Status::Failed) {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::connection::ExecOutput;

    fn res(host: &str, status: Status, rc: Option<u32>, out: &[u8]) -> HostResult {
        HostResult {
            host: host.into(),
            status,
            output: rc.map(|rc| ExecOutput {
                rc: Some(rc),
                stdout: out.to_vec(),
                ..Default::default()
            }),
            error: (status == Status::Unreachable).then(|| "connection refused".to_string()),
            duration: Duration::from_millis(12),
        }
    }

    #[test]
    fn compact_host_lists() {
        assert_eq!(
            compact_hosts(&["web01", "web02", "web03", "web07", "db1"]),
            "web[01-03,07],db1"
        );
        assert_eq!(compact_hosts(&["h9", "h10", "h11"]), "h[9-11]");
        assert_eq!(compact_hosts(&["a", "b"]), "a,b");
        assert_eq!(compact_hosts(&["r1.x", "r2.x", "r3.y"]), "r[1-2].x,r3.y");
        assert_eq!(compact_hosts(&["n1", "n1"]), "n1");
        assert_eq!(compact_hosts(&["10.0.0.1", "10.0.0.2"]), "10.0.0.[1-2]");
        assert_eq!(compact_hosts(&["h08", "h09", "h10", "h11"]), "h[08-11]");
        assert_eq!(compact_hosts(&["h8", "h09"]), "h[8,09]");
    }

    #[test]
    fn identical_results_fold_together() {
        let results = vec![
            res("h1", Status::Ok, Some(0), b"same\n"),
            res("h2", Status::Ok, Some(0), b"other\n"),
            res("h3", Status::Ok, Some(0), b"same\n"),
            res("h4", Status::Unreachable, None, b""),
        ];
        let blocks = fold(&results);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0].hosts, ["h1", "h3"]);
        let text = String::from_utf8(render_text(&blocks, false)).expect("utf8");
        assert_eq!(
            text,
            "==== h[1,3] (2 hosts) rc=0 ====\nsame\n==== h2 (1 host) rc=0 ====\nother\n==== h4 (1 host) UNREACHABLE ====\nconnection refused\n"
        );
        assert_eq!(outcome(&results), crate::exit::Outcome::Unreachable);
        assert_eq!(summary(&results), "4 hosts: 3 ok, 0 failed, 1 unreachable");
    }

    #[test]
    fn json_lines_keep_bytes() {
        let results = vec![res("h1", Status::Failed, Some(2), b"\xff\xfeok")];
        let line = render_json(&results);
        let v: Value = serde_json::from_str(line.trim()).expect("json");
        assert_eq!(v["rc"], 2);
        assert_eq!(v["status"], "failed");
        let raw = data_encoding::BASE64
            .decode(v["stdout_base64"].as_str().expect("b64").as_bytes())
            .expect("decode");
        assert_eq!(raw, b"\xff\xfeok");
        assert_eq!(outcome(&results), crate::exit::Outcome::Failed);
        let both = vec![
            res("h1", Status::Failed, Some(1), b""),
            res("h2", Status::Unreachable, None, b""),
        ];
        assert_eq!(
            outcome(&both),
            crate::exit::Outcome::Unreachable,
            "unreachable outranks failed"
        );
    }
}
