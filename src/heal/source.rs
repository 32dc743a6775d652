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
    }
}

fn prometheus(url: &str, query: &str) -> Result<Vec<Sample>, String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build(),
    );
    let endpoint = format!("{url}/api/v1/query");
    let mut answer = agent
        .get(&endpoint)
        .query("query", query)
        .call()
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = answer.status();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| format!("{endpoint}: {e}"))?;
    parse_prometheus(&body).map_err(|e| format!("{endpoint}: HTTP {}: {e}", status.as_u16()))
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
            let value = match text.parse::<f64>() {
                Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Value::from(f as i64)
                }
                Ok(f) if f.is_finite() => Value::from(f),
                _ => Value::from(text),
            };
            Ok(Sample { labels, value })
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
