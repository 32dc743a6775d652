//! An HTTP check: a GET that should answer with a good status, a body that matches, in
//! time.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{MAX_ANSWER, Sample};

/// What a well answer is.
pub struct Expect<'a> {
    /// Statuses that are well (empty: any 2xx).
    pub status: &'a [u16],
    pub body: Option<&'a regex::Regex>,
    pub max_latency: Option<Duration>,
    pub timeout: Duration,
}

/// GETs `url` for `host`: a sample when the answer is not well. Its value is the status
/// (or the error when there was no answer); labels `url`, `status`, `latency_ms` and
/// `reason`.
pub fn probe(host: &str, url: &str, expect: &Expect) -> Option<Sample> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(expect.timeout))
            .http_status_as_error(false)
            .build(),
    );
    let started = Instant::now();
    let answer = agent.get(url).call().and_then(|mut a| {
        let status = a.status().as_u16();
        let body = a
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .lossy_utf8(true)
            .read_to_string()?;
        Ok((status, body))
    });
    let latency = started.elapsed();
    let labels = |status: String, reason: String| {
        [
            ("url".to_string(), url.to_string()),
            ("status".to_string(), status),
            ("latency_ms".to_string(), latency.as_millis().to_string()),
            ("reason".to_string(), reason),
        ]
    };
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => {
            let reason = format!("no answer: {e}");
            return Some(Sample::on(
                host,
                Value::from(reason.clone()),
                labels(String::new(), reason),
            ));
        }
    };
    let well_status = if expect.status.is_empty() {
        (200..300).contains(&status)
    } else {
        expect.status.contains(&status)
    };
    let reason = if !well_status {
        Some(format!("status {status}"))
    } else if expect.body.is_some_and(|re| !re.is_match(&body)) {
        Some(format!(
            "the body does not match {}",
            expect.body.map(|r| r.as_str()).unwrap_or_default()
        ))
    } else {
        expect
            .max_latency
            .filter(|max| latency > *max)
            .map(|max| format!("answered in {latency:.1?}, more than {max:?}"))
    };
    reason.map(|r| Sample::on(host, Value::from(status), labels(status.to_string(), r)))
}
