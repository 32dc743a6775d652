//! Reading a check's source: what it says is wrong, and where.
//!
//! Owns: the query of a monitoring system and the parsing of its answer into [`Sample`]s,
//! with a timeout and a size cap; for per-host sources, the script each host runs and the
//! reading of what it printed. Must not: connect to hosts (the caller runs [`HostProbe`]s
//! over its connections), map samples to hosts or decide anything. Everything read here is
//! data: it is never rendered as a template.

pub mod alertmanager;
pub mod graphite;
pub mod http;
pub mod log;
pub mod nagios;
pub mod prometheus;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::rules::{HOST_LABEL, Source};

/// One firing series: its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// A number when the source gave a finite one; else the text it gave (`NaN`, `+Inf`).
    pub value: Value,
}

impl Sample {
    /// A per-host source's sample about `host`.
    fn on(host: &str, value: Value, labels: impl IntoIterator<Item = (String, String)>) -> Sample {
        let mut labels: BTreeMap<String, String> = labels.into_iter().collect();
        labels.insert(HOST_LABEL.into(), host.to_string());
        Sample { labels, value }
    }
}

/// The most bytes of an answer read.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Asks a monitoring system's `source`; every sample it answers with. Per-host sources
/// (`source.hosts()` is `Some`) are read by their caller through [`http::probe`] and
/// [`HostProbe`].
pub fn query(source: &Source, timeout: Duration) -> Result<Vec<Sample>, String> {
    match source {
        Source::Prometheus { url, query } => prometheus::query(url, query, timeout),
        Source::Alertmanager { url, filter } => alertmanager::query(url, filter, timeout),
        Source::Graphite {
            url,
            target,
            from,
            above,
            below,
        } => graphite::query(url, target, from, *above, *below, timeout),
        Source::Http { .. } | Source::Command { .. } | Source::Log { .. } => {
            Err("a per-host source is read on its hosts, not queried".into())
        }
    }
}

/// What a per-host source runs on each host, and how its result is read.
pub enum HostProbe<'a> {
    Nagios(&'a [super::rules::NagiosState]),
    Count { above: u64 },
}

impl HostProbe<'_> {
    /// The `sh` script for each host, and how to read what it printed; `None` for a
    /// source that is not a command run on hosts.
    pub fn of(source: &Source) -> Option<(String, HostProbe<'_>)> {
        match source {
            Source::Command { command, on, .. } => Some((command.clone(), HostProbe::Nagios(on))),
            Source::Log {
                from,
                pattern,
                above,
                ..
            } => Some((
                log::script(from, pattern),
                HostProbe::Count { above: *above },
            )),
            _ => None,
        }
    }

    /// A host's answer: a sample when it fires, `None` when well, `Err` when the host's
    /// answer says nothing (the probe could not run).
    pub fn read(
        &self,
        host: &str,
        rc: Option<u32>,
        stdout: &[u8],
        stderr: &[u8],
    ) -> Result<Option<Sample>, String> {
        match self {
            HostProbe::Nagios(on) => Ok(nagios::read(host, rc, stdout, on)),
            HostProbe::Count { above } => log::read(host, rc, stdout, stderr, *above),
        }
    }
}

/// A GET of `endpoint` with `query`: the status and the body (at most [`MAX_ANSWER`]).
fn get(endpoint: &str, query: &[(&str, &str)], timeout: Duration) -> Result<(u16, String), String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build(),
    );
    let mut req = agent.get(endpoint);
    for (k, v) in query {
        req = req.query(k, v);
    }
    let mut answer = req.call().map_err(|e| format!("{endpoint}: {e}"))?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| format!("{endpoint}: {e}"))?;
    Ok((status, body))
}

/// A JSON object of labels as text (a label that is not a string reads as empty).
fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A number when `text` is a finite one (integral: an integer), else the text.
fn number(text: &str) -> Value {
    match text.trim().parse::<f64>() {
        Ok(f) => float(f).unwrap_or_else(|| Value::from(text)),
        _ => Value::from(text),
    }
}

/// A finite `f` as JSON (integral: an integer); `None` for NaN and infinities.
fn float(f: f64) -> Option<Value> {
    if !f.is_finite() {
        None
    } else if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(Value::from(f as i64))
    } else {
        Some(Value::from(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_answers_become_samples() {
        let s = prometheus::parse(
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"instance":"db1:9104","job":"mysql"},"value":[1.7e9,"301"]},
                {"metric":{"instance":"db2:9104"},"value":[1.7e9,"12.5"]},
                {"metric":{"instance":"db3:9104"},"value":[1.7e9,"NaN"]}]}}"#,
        )
        .expect("parsed");
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].labels["instance"], "db1:9104");
        assert_eq!(s[0].value, 301);
        assert_eq!(s[1].value, 12.5);
        assert_eq!(s[2].value, "NaN");
    }

    #[test]
    fn alerts_become_samples() {
        let s = alertmanager::parse(
            r#"[{"labels":{"alertname":"Lag","instance":"db1:9104"},"annotations":{"value":"412"}},
                {"labels":{"alertname":"Lag","instance":"db2:9104"},"annotations":{}}]"#,
        )
        .expect("parsed");
        assert_eq!(s[0].labels["instance"], "db1:9104");
        assert_eq!(
            (s[0].value.clone(), s[1].value.clone()),
            (Value::from(412), Value::from(1))
        );
        assert!(alertmanager::parse(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn errors_and_other_shapes_are_named() {
        for (body, want) in [
            ("<html>", "not JSON"),
            (
                r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
                "the query failed (bad_data): parse error at char 3",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                "answers a matrix",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#,
                "has no value",
            ),
        ] {
            let e = prometheus::parse(body).expect_err("refused");
            assert!(e.contains(want), "{e}");
        }
    }
}
