//! `uri`: an HTTP request made by the host (with its `curl`), and ansible-core's result:
//! the status, every response header (lower case, `-` as `_`), cookies, the body as
//! `content` and parsed `json`. Credentials and headers reach curl through a private
//! configuration file, never its command line (which other users of the host can read);
//! the request body arrives on the script's standard input.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::report;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "uri",
    summary: "Make an HTTP request from the host (with its curl) and return status, headers and body.",
    params: PARAMS,
    ..Spec::host::<Uri>()
};

const PARAMS: &[Param] = &[
    param("url", &[], "Required. http or https URL."),
    param(
        "method",
        &[],
        "GET (default), POST, PUT, DELETE, PATCH, HEAD, OPTIONS, or another verb.",
    ),
    param(
        "body",
        &[],
        "The request body: text, or with `body_format: json` any value (sent as JSON), with `form-urlencoded` a mapping or a list of pairs.",
    ),
    param(
        "body_format",
        &[],
        "`raw` (default), `json` or `form-urlencoded`; the last two set Content-Type unless `headers` does.",
    ),
    param("headers", &[], "Request headers, a mapping."),
    param(
        "status_code",
        &[],
        "list of int, default [200]. Statuses that are success; `-1` accepts any.",
    ),
    param(
        "return_content",
        &[],
        "bool, default no. Return the body as `content` (a JSON body is returned as `json` either way).",
    ),
    param(
        "url_username",
        &["user"],
        "User name for HTTP authentication.",
    ),
    param(
        "url_password",
        &["password"],
        "Password for HTTP authentication.",
    ),
    param(
        "force_basic_auth",
        &[],
        "bool, default no. Send Basic credentials with the first request, not only after the server asks.",
    ),
    param(
        "follow_redirects",
        &[],
        "`safe` (default: GET and HEAD only), `all`/`yes`, `none`/`no`, `urllib2` (as `safe`).",
    ),
    param("timeout", &[], "Seconds the request may take, default 30."),
    param(
        "validate_certs",
        &[],
        "bool, default yes. With no, TLS certificates are not checked.",
    ),
    param(
        "http_agent",
        &[],
        "User-Agent header, default `ansible-httpget`.",
    ),
    param(
        "creates",
        &[],
        "A path on the host; when it exists the request is not made.",
    ),
    param(
        "removes",
        &[],
        "A path on the host; when it does not exist the request is not made.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    url: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    method: Option<String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default, deserialize_with = "args::opt_text")]
    body_format: Option<String>,
    #[serde(default)]
    headers: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    status_code: Option<Value>,
    #[serde(default, deserialize_with = "args::boolean")]
    return_content: bool,
    #[serde(default, alias = "user", deserialize_with = "args::opt_text")]
    url_username: Option<String>,
    #[serde(default, alias = "password", deserialize_with = "args::opt_text")]
    url_password: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    force_basic_auth: bool,
    #[serde(default)]
    follow_redirects: Option<Value>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    timeout: Option<std::time::Duration>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    validate_certs: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    http_agent: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    removes: Option<String>,
}

pub struct Uri;

/// How redirects are followed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Follow {
    Safe,
    All,
    None,
}

fn follow_of(v: &Option<Value>) -> Result<Follow, String> {
    match v {
        None | Some(Value::Null) => Ok(Follow::Safe),
        Some(v) => match args::bool_of(v) {
            Some(true) => Ok(Follow::All),
            Some(false) => Ok(Follow::None),
            None => match v.as_str() {
                Some("safe" | "urllib2") => Ok(Follow::Safe),
                Some("all") => Ok(Follow::All),
                Some("none") => Ok(Follow::None),
                _ => Err(format!(
                    "follow_redirects must be one of safe, all, none, urllib2, yes, no; got {v}"
                )),
            },
        },
    }
}

fn statuses_of(v: &Option<Value>) -> Result<Vec<i64>, String> {
    let one = |v: &Value| -> Result<i64, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| format!("status_code {n} is not an integer")),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("status_code '{s}' is not an integer")),
            other => Err(format!("status_code {other} is not an integer")),
        }
    };
    match v {
        None | Some(Value::Null) => Ok(vec![200]),
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(Value::String(s)) if s.contains(',') => {
            s.split(',').map(|p| one(&Value::from(p.trim()))).collect()
        }
        Some(v) => Ok(vec![one(v)?]),
    }
}

/// Python's `urllib.parse.quote_plus`.
fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => crate::pyrepr::str_of(other),
    }
}

/// The request body and the Content-Type it implies.
fn body_of(a: &Args) -> Result<(Option<Vec<u8>>, Option<&'static str>), String> {
    let Some(body) = a.body.as_ref().filter(|b| !b.is_null()) else {
        return Ok((None, None));
    };
    match a.body_format.as_deref().unwrap_or("raw") {
        "raw" => Ok((Some(text_of(body).into_bytes()), None)),
        "json" => {
            let text = match body {
                Value::String(s) => s.clone(),
                other => crate::template::python_json(other),
            };
            Ok((Some(text.into_bytes()), Some("application/json")))
        }
        "form-urlencoded" => {
            let pairs: Vec<(String, String)> = match body {
                Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
                Value::Array(items) => items
                    .iter()
                    .map(|p| match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => Ok((text_of(k), text_of(v))),
                        _ => {
                            Err("a form-urlencoded body list holds [name, value] pairs".to_string())
                        }
                    })
                    .collect::<Result<_, _>>()?,
                Value::String(s) => {
                    return Ok((
                        Some(s.clone().into_bytes()),
                        Some("application/x-www-form-urlencoded"),
                    ));
                }
                other => {
                    return Err(format!(
                        "a form-urlencoded body must be a mapping or a list of pairs, got {other}"
                    ));
                }
            };
            let text = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
                .collect::<Vec<_>>()
                .join("&");
            Ok((
                Some(text.into_bytes()),
                Some("application/x-www-form-urlencoded"),
            ))
        }
        other => Err(format!(
            "body_format must be raw, json or form-urlencoded; got '{other}'"
        )),
    }
}

/// A value for curl's configuration file: quoted, with `\` and `"` escaped.
fn config_value(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Module for Uri {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        follow_of(&a.follow_redirects)?;
        statuses_of(&a.status_code)?;
        body_of(a)?;
        if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
            return Err(format!(
                "url '{}' must start with http:// or https://",
                a.url
            ));
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        if ctx.check_mode {
            // As ansible-core: uri does not run in check mode.
            let mut r = ModuleResult::ok();
            r.skipped = true;
            r.msg = Some("remote module (uri) does not support check mode".into());
            return Ok(Plan::Done(r));
        }
        let method = a
            .method
            .clone()
            .unwrap_or_else(|| "GET".into())
            .to_uppercase();
        let follow = follow_of(&a.follow_redirects)?;
        let statuses = statuses_of(&a.status_code)?;
        let (body, implied_type) = body_of(&a)?;
        let mut config = String::new();
        let mut has_type = false;
        for (k, v) in a.headers.iter().flatten() {
            has_type |= k.eq_ignore_ascii_case("content-type");
            config.push_str(&format!(
                "header = {}\n",
                config_value(&format!("{k}: {}", text_of(v)))
            ));
        }
        if let (false, Some(t)) = (has_type, implied_type) {
            config.push_str(&format!(
                "header = {}\n",
                config_value(&format!("Content-Type: {t}"))
            ));
        }
        if let Some(u) = &a.url_username {
            let cred = format!("{u}:{}", a.url_password.as_deref().unwrap_or(""));
            config.push_str(&format!("user = {}\n", config_value(&cred)));
            if !a.force_basic_auth {
                // Credentials only once the server asks, as urllib does.
                config.push_str("anyauth\n");
            }
        }
        config.push_str(&format!(
            "user-agent = {}\n",
            config_value(a.http_agent.as_deref().unwrap_or("ansible-httpget"))
        ));
        let follows = match follow {
            Follow::All => true,
            Follow::Safe => matches!(method.as_str(), "GET" | "HEAD"),
            Follow::None => false,
        };
        let mut opts = vec![
            "-sS".to_string(),
            "-X".into(),
            method.clone(),
            "--max-time".into(),
            a.timeout.map_or(30, |d| d.as_secs().max(1)).to_string(),
        ];
        if method == "HEAD" {
            opts[1] = "-I".into();
            opts.remove(2);
        }
        if follows {
            opts.extend(["-L".into(), "--max-redirs".into(), "10".into()]);
        }
        if !a.validate_certs {
            opts.push("-k".into());
        }
        if body.is_some() {
            opts.extend(["--data-binary".into(), "@-".into()]);
        }
        let opts: String = opts.iter().map(|o| format!(" {}", quote(o))).collect();
        let script = format!(
            "url={url}\ncreates={creates}\nremoves={removes}\n{SCRIPT_GUARDS}w=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$w\"' EXIT\n(umask 077; printf '%s' {config} > \"$w/cfg\") || exit 1\n{stdin}curl -K \"$w/cfg\"{opts} -o \"$w/body\" -D \"$w/head\" -w '%{{http_code}} %{{num_redirects}} %{{time_total}} %{{url_effective}}' -- \"$url\" > \"$w/info\" 2> \"$w/err\" {input}; rc=$?\n{head}{SCRIPT_REPORT}",
            url = quote(&a.url),
            creates = quote(a.creates.as_deref().unwrap_or("")),
            removes = quote(a.removes.as_deref().unwrap_or("")),
            config = quote(&config),
            stdin = "command -v curl >/dev/null 2>&1 || { echo 'error=uri needs curl on the host'; exit 0; }\n",
            input = if body.is_some() { "" } else { "< /dev/null" },
            // A HEAD answer has no body (curl writes the headers in its place).
            head = if method == "HEAD" {
                ": > \"$w/body\"\n"
            } else {
                ""
            },
        );
        let return_content = a.return_content;
        let url = a.url;
        Ok(Plan::remote(script, body.map(Into::into), move |out| {
            finish(&url, &statuses, return_content, &out)
        }))
    }
}

fn finish(
    url: &str,
    statuses: &[i64],
    return_content: bool,
    out: &crate::connection::ExecOutput,
) -> ModuleResult {
    let rep = report(out);
    if let Some(s) = rep.get("skip") {
        // What ansible-core returns for creates/removes: ok, the reason as stdout.
        let mut r = ModuleResult::ok();
        r.data.insert("stdout".into(), Value::from(s.as_str()));
        r.data.insert(
            "stdout_lines".into(),
            Value::Array(vec![Value::from(s.as_str())]),
        );
        return r;
    }
    if let Some(e) = rep.get("error") {
        return ModuleResult::failed(e.clone());
    }
    if out.rc != Some(0) {
        return super::write::script_failure(out, &rep);
    }
    let b64 = |k: &str| -> Vec<u8> {
        rep.get(k)
            .and_then(|v| data_encoding::BASE64.decode(v.as_bytes()).ok())
            .unwrap_or_default()
    };
    let info = String::from_utf8_lossy(&b64("info")).into_owned();
    let mut parts = info.splitn(4, ' ');
    let code: i64 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let redirects: u64 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let elapsed: f64 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0.0);
    let effective = parts
        .next()
        .filter(|u| !u.is_empty())
        .unwrap_or(url)
        .to_string();
    let curl_rc: i64 = rep.get("rc").and_then(|c| c.parse().ok()).unwrap_or(-1);
    let mut r = ModuleResult::ok();
    let accept = |s: i64| statuses.contains(&s) || statuses.contains(&-1);
    let listed = format!(
        "[{}]",
        statuses
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    r.data
        .insert("redirected".into(), Value::Bool(redirects > 0));
    r.data.insert("elapsed".into(), Value::from(elapsed as u64));
    r.data.insert("url".into(), Value::from(effective.as_str()));
    if curl_rc != 0 || code == 0 {
        // No answer: ansible-core reports status -1 and urllib's reason.
        let err = String::from_utf8_lossy(&b64("err")).trim().to_string();
        let reason = match curl_rc {
            7 => "<urlopen error [Errno 111] Connection refused>".to_string(),
            28 => "<urlopen error timed out>".to_string(),
            6 => "<urlopen error [Errno -2] Name or service not known>".to_string(),
            _ => format!("<urlopen error {}>", err.trim_start_matches("curl: ")),
        };
        r.data.insert("status".into(), Value::from(-1));
        r.msg = Some(format!(
            "Status code was -1 and not {listed}: Request failed: {reason}"
        ));
        r.failed = !accept(-1);
        return r;
    }
    // The last response's headers (earlier ones belong to redirects).
    let head = String::from_utf8_lossy(&b64("head")).into_owned();
    let block = head
        .replace("\r\n", "\n")
        .split("\n\n")
        .filter(|b| b.starts_with("HTTP/"))
        .last()
        .unwrap_or_default()
        .to_string();
    let mut lines = block.lines();
    let status_line = lines.next().unwrap_or_default();
    let reason = status_line
        .splitn(3, ' ')
        .nth(2)
        .unwrap_or("")
        .trim()
        .to_string();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = serde_json::Map::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase().replace('-', "_"), v.trim());
        if k == "set_cookie"
            && let Some((name, value)) = v.split(';').next().and_then(|c| c.split_once('='))
        {
            cookies.insert(name.trim().to_string(), Value::from(value.trim()));
        }
        headers
            .entry(k)
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(v);
            })
            .or_insert_with(|| v.to_string());
    }
    if let Some(loc) = headers.get_mut("location")
        && loc.starts_with('/')
    {
        // Made absolute, as ansible-core does.
        let origin: String = effective
            .splitn(4, '/')
            .take(3)
            .collect::<Vec<_>>()
            .join("/");
        *loc = format!("{origin}{loc}");
    }
    let body = String::from_utf8_lossy(&b64("body")).into_owned();
    let content_type = headers.get("content_type").cloned().unwrap_or_default();
    for (k, v) in &headers {
        r.data.insert(k.clone(), Value::from(v.as_str()));
    }
    r.data.insert("status".into(), Value::from(code));
    // urllib answers 2xx (and redirects it followed); anything else is its HTTPError.
    let http_error = !(200..300).contains(&code);
    if http_error {
        r.msg = Some(format!("HTTP Error {code}: {reason}"));
        if accept(code) {
            r.data.insert("body".into(), Value::from(body.as_str()));
        }
    } else {
        r.msg = Some(format!(
            "OK ({} bytes)",
            headers
                .get("content_length")
                .map_or("unknown", String::as_str)
        ));
        let cookie_string = cookies
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ");
        r.data.insert("cookies".into(), Value::Object(cookies));
        r.data
            .insert("cookies_string".into(), Value::from(cookie_string));
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let is_json = matches!(
            mime,
            "application/json" | "application/javascript" | "text/json"
        ) || mime.ends_with("+json");
        if is_json && let Ok(js) = serde_json::from_str::<Value>(&body) {
            r.data.insert("json".into(), js);
        }
    }
    if return_content {
        r.data.insert("content".into(), Value::from(body));
    }
    if !accept(code) {
        r.failed = true;
        r.msg = Some(format!(
            "Status code was {code} and not {listed}: {}",
            r.msg.clone().unwrap_or_default()
        ));
    }
    r
}

/// `creates`/`removes`: the request is not made.
const SCRIPT_GUARDS: &str = r#"if [ -n "$creates" ] && [ -e "$creates" ]; then echo "skip=skipped, since '$creates' exists"; exit 0; fi
if [ -n "$removes" ] && [ ! -e "$removes" ]; then echo "skip=skipped, since '$removes' does not exist"; exit 0; fi
"#;

/// What the request gave, for the controller to read.
const SCRIPT_REPORT: &str = r#"echo "rc=$rc"
echo "info=$(base64 -w0 < "$w/info")"
[ -f "$w/head" ] && echo "head=$(base64 -w0 < "$w/head")"
[ -f "$w/body" ] && echo "body=$(base64 -w0 < "$w/body")"
echo "err=$(base64 -w0 < "$w/err")"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded_as_python_does() {
        assert_eq!(quote_plus("1 2"), "1+2");
        assert_eq!(quote_plus("x&y/é"), "x%26y%2F%C3%A9");
    }

    #[test]
    fn config_values_are_quoted() {
        assert_eq!(config_value(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn status_lists() {
        assert_eq!(statuses_of(&None).unwrap(), vec![200]);
        assert_eq!(
            statuses_of(&Some(serde_json::json!("200, 201"))).unwrap(),
            vec![200, 201]
        );
        assert!(statuses_of(&Some(serde_json::json!(["x"]))).is_err());
    }
}
