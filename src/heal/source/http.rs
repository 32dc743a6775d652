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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A server that waits `delay` and then answers `status` with `body`, once.
    fn slow(delay: Duration, status: u16, body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/health", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            if let Some(Ok(mut s)) = listener.incoming().next() {
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(delay);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    fn expect(max_latency: Option<Duration>, timeout: Duration) -> Expect<'static> {
        Expect {
            status: &[],
            body: None,
            max_latency,
            timeout,
        }
    }

    #[test]
    fn slow_missing_and_timed_out_answers_fire() {
        let ok = slow(Duration::ZERO, 200, "ok");
        assert_eq!(probe("h", &ok, &expect(None, Duration::from_secs(5))), None);

        let url = slow(Duration::from_millis(700), 200, "ok");
        let s = probe(
            "h",
            &url,
            &expect(Some(Duration::from_millis(200)), Duration::from_secs(5)),
        )
        .expect("too slow");
        assert!(s.labels["reason"].starts_with("answered in"), "{s:?}");
        assert!(s.labels["latency_ms"].parse::<u64>().expect("ms") >= 700);
        assert_eq!(s.value, 200);

        let url = slow(Duration::from_secs(3), 200, "ok");
        let s = probe("h", &url, &expect(None, Duration::from_millis(300))).expect("timed out");
        assert!(s.labels["reason"].starts_with("no answer"), "{s:?}");
        assert_eq!(s.labels["status"], "");

        // Nothing listens there.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}/", l.local_addr().expect("addr"))
        };
        let s = probe("h", &closed, &expect(None, Duration::from_secs(2))).expect("refused");
        assert!(s.labels["reason"].starts_with("no answer"), "{s:?}");

        let url = slow(Duration::ZERO, 503, "down");
        let s = probe("h", &url, &expect(None, Duration::from_secs(5))).expect("503");
        assert_eq!(
            (s.value.clone(), s.labels["reason"].as_str()),
            (Value::from(503), "status 503")
        );
    }
}
