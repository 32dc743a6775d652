//! Reading a check's source: what it says is wrong, and where.
//!
//! Owns: the query and the parsing of its answer into [`Sample`]s, with a timeout and a
//! size cap. Must not: map samples to hosts or decide anything. Everything read here is
//! data: it is never rendered as a template.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::rules::Source;

/// One firing series: its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// A number when the source gave a finite one; else the text it gave (`NaN`, `+Inf`).
    pub value: Value,
}

/// How long one query may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// The most bytes of an answer read.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Asks `source`; every sample it answers with.
pub fn query(source: &Source) -> Result<Vec<Sample>, String> {
    match source {
        Source::Prometheus { url, query } => prometheus(url, query),
        Source::Alertmanager { url, filter } => alertmanager(url, filter),
    }
}

fn get(endpoint: &str, query: &[(&str, &str)]) -> Result<(u16, String), String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
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

fn alertmanager(url: &str, filter: &[String]) -> Result<Vec<Sample>, String> {
    let endpoint = format!("{url}/api/v2/alerts");
    let mut query: Vec<(&str, &str)> = vec![
        ("active", "true"),
        ("silenced", "false"),
        ("inhibited", "false"),
    ];
    query.extend(filter.iter().map(|f| ("filter", f.as_str())));
    let (status, body) = get(&endpoint, &query)?;
    if status != 200 {
        return Err(format!(
            "{endpoint}: HTTP {status}: {}",
            body.chars().take(300).collect::<String>().trim()
        ));
    }
    parse_alertmanager(&body).map_err(|e| format!("{endpoint}: {e}"))
}

/// Alertmanager's `/api/v2/alerts` answer: one sample per alert, its labels; its value the
/// `value` annotation when it has one (a number when it reads as one), else 1.
pub fn parse_alertmanager(body: &str) -> Result<Vec<Sample>, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let Some(alerts) = doc.as_array() else {
        return Err("the answer is not a list of alerts".into());
    };
    Ok(alerts
        .iter()
        .map(|a| {
            let labels = a["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let value = match a["annotations"]["value"].as_str() {
                Some(t) => number(t),
                None => Value::from(1),
            };
            Sample { labels, value }
        })
        .collect())
}

/// A number when `text` is a finite one (integral: an integer), else the text.
fn number(text: &str) -> Value {
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
        Ok(f) if f.is_finite() => Value::from(f),
        _ => Value::from(text),
    }
}

fn prometheus(url: &str, query: &str) -> Result<Vec<Sample>, String> {
    let endpoint = format!("{url}/api/v1/query");
    let (status, body) = get(&endpoint, &[("query", query)])?;
    parse_prometheus(&body).map_err(|e| format!("{endpoint}: HTTP {status}: {e}"))
}

/// Prometheus's `/api/v1/query` answer: a vector's samples, or why there are none.
pub fn parse_prometheus(body: &str) -> Result<Vec<Sample>, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if doc["status"] != "success" {
        let kind = doc["errorType"].as_str().unwrap_or("unknown");
        let text = doc["error"].as_str().unwrap_or("no error text");
        return Err(format!("the query failed ({kind}): {text}"));
    }
    let data = &doc["data"];
    match data["resultType"].as_str() {
        Some("vector") => {}
        Some(other) => {
            return Err(format!(
                "the query answers a {other}; heal needs an instant vector (one sample per series)"
            ));
        }
        None => return Err("the answer has no data.resultType".into()),
    }
    let Some(results) = data["result"].as_array() else {
        return Err("the answer has no data.result list".into());
    };
    results
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let text = r["value"][1]
                .as_str()
                .ok_or("a sample has no value [time, \"value\"]")?;
            Ok(Sample {
                labels,
                value: number(text),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_answers_become_samples() {
        let s = parse_prometheus(
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
        let s = parse_alertmanager(
            r#"[{"labels":{"alertname":"Lag","instance":"db1:9104"},"annotations":{"value":"412"}},
                {"labels":{"alertname":"Lag","instance":"db2:9104"},"annotations":{}}]"#,
        )
        .expect("parsed");
        assert_eq!(s[0].labels["instance"], "db1:9104");
        assert_eq!(
            (s[0].value.clone(), s[1].value.clone()),
            (Value::from(412), Value::from(1))
        );
        assert!(parse_alertmanager(r#"{"a":1}"#).is_err());
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
            let e = parse_prometheus(body).expect_err("refused");
            assert!(e.contains(want), "{e}");
        }
    }
}
