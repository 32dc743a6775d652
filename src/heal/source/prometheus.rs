//! A Prometheus instant query (`/api/v1/query`).

use std::time::Duration;

use serde_json::Value;

use super::{Sample, get, labels_of};

pub fn query(url: &str, query: &str, timeout: Duration) -> Result<Vec<Sample>, String> {
    let endpoint = format!("{url}/api/v1/query");
    let (status, body) = get(&endpoint, &[("query", query)], timeout)?;
    parse(&body).map_err(|e| format!("{endpoint}: HTTP {status}: {e}"))
}

/// Prometheus's `/api/v1/query` answer: a vector's samples, or why there are none.
pub fn parse(body: &str) -> Result<Vec<Sample>, String> {
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
            let labels = labels_of(&r["metric"]);
            let text = r["value"][1]
                .as_str()
                .ok_or("a sample has no value [time, \"value\"]")?;
            Ok(Sample {
                labels,
                value: super::number(text),
            })
        })
        .collect()
}
