//! `find`: files on the host chosen by name patterns, type, age, size and content, with
//! ansible-core's result (each file's stat fields, `matched`, `examined`). The host's `find`
//! lists every entry with its stat fields in one round trip; names, age and size are
//! decided here, in the order ansible-core walks (a directory's files, then its
//! directories); content (`contains`) and checksums take a second round trip for the files
//! still chosen.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::{ExecOutput, quote};

pub static SPEC: Spec = Spec {
    name: "find",
    summary: "Find files on the host by name pattern, type, age, size and content.",
    params: PARAMS,
    ..Spec::host::<Find>()
};

const PARAMS: &[Param] = &[
    param(
        "paths",
        &["name", "path"],
        "Required. list. Directories to search.",
    ),
    param(
        "patterns",
        &["pattern"],
        "list. Shell patterns (or regular expressions with `use_regex`) a base name must match; any one will do.",
    ),
    param(
        "excludes",
        &["exclude"],
        "list. Patterns whose matches are left out (with `patterns`).",
    ),
    param(
        "use_regex",
        &[],
        "bool, default no. Patterns are Python-style regular expressions matched at the start of the name.",
    ),
    param(
        "file_type",
        &[],
        "`file` (default), `directory`, `link` or `any`.",
    ),
    param(
        "recurse",
        &[],
        "bool, default no. Look in subdirectories too.",
    ),
    param(
        "depth",
        &[],
        "int. With `recurse`, how many levels down (1: the paths' own entries).",
    ),
    param(
        "hidden",
        &[],
        "bool, default no. Include names starting with a dot.",
    ),
    param(
        "follow",
        &[],
        "bool, default no. Follow symbolic links to directories.",
    ),
    param(
        "age",
        &[],
        "`N[smhdw]`: at least that old, or with `-` at most that old.",
    ),
    param(
        "age_stamp",
        &[],
        "`mtime` (default), `atime` or `ctime`: the time `age` compares.",
    ),
    param(
        "size",
        &[],
        "`N[bkmgt]`: at least that big, or with `-` at most that big (regular files).",
    ),
    param(
        "contains",
        &[],
        "A regular expression a line must match from its start (or anywhere in the file with `read_whole_file`); needs `grep -P` on the host.",
    ),
    param(
        "read_whole_file",
        &[],
        "bool, default no. `contains` searches the whole file.",
    ),
    param(
        "get_checksum",
        &[],
        "bool, default no. Return the SHA-1 of each regular file as `checksum`.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "name", alias = "path", deserialize_with = "args::list")]
    paths: Vec<String>,
    #[serde(default, alias = "pattern", deserialize_with = "args::list")]
    patterns: Vec<String>,
    #[serde(default, alias = "exclude", deserialize_with = "args::list")]
    excludes: Vec<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    use_regex: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    file_type: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    recurse: bool,
    #[serde(default, deserialize_with = "args::opt_number")]
    depth: Option<f64>,
    #[serde(default, deserialize_with = "args::boolean")]
    hidden: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    follow: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    age: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    age_stamp: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    size: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    contains: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    read_whole_file: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    get_checksum: bool,
}

pub struct Find;

/// A name test: a shell pattern (as Python's `fnmatch`) or a regular expression matched at
/// the start of the name (as Python's `re.match`).
fn matcher(p: &str, use_regex: bool) -> Result<regex::Regex, String> {
    let re = if use_regex {
        format!("^(?:{p})")
    } else {
        crate::fnmatch::translate(p)
    };
    regex::Regex::new(&re).map_err(|e| format!("pattern '{p}': {e}"))
}

/// `30d`, `-2h`: seconds, negative for "at most".
fn age_of(s: &str) -> Result<i64, String> {
    let s = s.trim().to_ascii_lowercase();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("failed to process age '{s}'"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 604800,
        _ => return Err(format!("failed to process age '{s}'")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("age '{s}' is too large"))
}

/// `10k`, `-1m`: bytes, negative for "at most".
fn size_of(s: &str) -> Result<i64, String> {
    let s = s.trim().to_ascii_lowercase();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("failed to process size '{s}'"))?;
    let mult: i64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("failed to process size '{s}'")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

/// The stat fields the listing gives per entry, in order.
const FIELDS: usize = 15;

impl Module for Find {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        for p in a.patterns.iter().chain(&a.excludes) {
            matcher(p, a.use_regex)?;
        }
        if let Some(t) = &a.file_type
            && !matches!(t.as_str(), "file" | "directory" | "link" | "any")
        {
            return Err(format!(
                "file_type must be file, directory, link or any; got '{t}'"
            ));
        }
        if let Some(s) = &a.age_stamp
            && !matches!(s.as_str(), "mtime" | "atime" | "ctime")
        {
            return Err(format!(
                "age_stamp must be mtime, atime or ctime; got '{s}'"
            ));
        }
        if let Some(age) = &a.age {
            age_of(age)?;
        }
        if let Some(size) = &a.size {
            size_of(size)?;
        }
        if let Some(d) = a.depth
            && !(d.fract() == 0.0 && (0.0..=4096.0).contains(&d))
        {
            return Err(format!(
                "depth must be a whole number from 0 to 4096, got {d}"
            ));
        }
        if a.paths.is_empty() {
            return Err("'paths' is required".into());
        }
        Ok(())
    }

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        // One level more than `depth`: ansible-core's walk lists (and counts) the entries
        // of the deepest directories it looks at.
        let maxdepth = match (a.recurse, a.depth) {
            (false, _) => Some(1),
            (true, Some(d)) => Some(d as u64 + 1),
            (true, None) => None,
        };
        let mut script = String::from("printf 'T\\0%s\\0' \"$(date +%s)\"\n");
        for p in &a.paths {
            // `~` is the login user's home, as ansible-core expands it; no trailing slash.
            let q = match p.strip_prefix('~') {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    format!("\"$HOME\"{}", quote(rest.trim_end_matches('/')))
                }
                _ if p.len() > 1 => quote(p.trim_end_matches('/')),
                _ => quote(p),
            };
            script.push_str(&format!(
                // An entry find cannot read or that vanishes mid-walk is skipped, as
                // ansible-core's os.walk skips it: find says which on stderr (in the C
                // locale's words) and the task goes on.
                "p={q}\nif [ -d \"$p\" ]; then printf 'D\\0%s\\0' \"$p\"; LC_ALL=C find {follow}\"$p\" -mindepth 1{max} -printf '%p\\0%y\\0%Y\\0%m\\0%U\\0%G\\0%s\\0%i\\0%D\\0%n\\0%A@\\0%T@\\0%C@\\0%u\\0%g\\0' || :; else printf 'S\\0%s\\0' \"$p\"; fi\n",
                follow = if a.follow { "-L " } else { "" },
                max = maxdepth.map(|m| format!(" -maxdepth {m}")).unwrap_or_default(),
            ));
        }
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out: ExecOutput| choose(a, out)),
        })
    }
}

/// One entry of the listing.
struct Entry {
    fields: Vec<String>,
}

impl Entry {
    fn path(&self) -> &str {
        &self.fields[0]
    }
    /// The entry's own type letter (`f`, `d`, `l`...).
    fn kind(&self) -> &str {
        &self.fields[1]
    }
    /// The type after following a link (decides whether the walk descends).
    fn walks_into(&self) -> bool {
        self.fields[2] == "d"
    }
    fn num(&self, i: usize) -> i64 {
        self.fields[i].parse().unwrap_or(0)
    }
    fn time(&self, i: usize) -> f64 {
        self.fields[i].parse().unwrap_or(0.0)
    }

    /// ansible-core's `statinfo`.
    fn stat(&self) -> Map<String, Value> {
        let mode = u32::from_str_radix(&self.fields[3], 8).unwrap_or(0);
        let kind = self.kind();
        let mut m = Map::new();
        m.insert("path".into(), Value::from(self.path()));
        m.insert("mode".into(), Value::from(format!("{mode:04o}")));
        for (k, t) in [
            ("isdir", "d"),
            ("ischr", "c"),
            ("isblk", "b"),
            ("isreg", "f"),
            ("isfifo", "p"),
            ("islnk", "l"),
            ("issock", "s"),
        ] {
            m.insert(k.into(), Value::Bool(kind == t));
        }
        for (k, i) in [
            ("uid", 4),
            ("gid", 5),
            ("size", 6),
            ("inode", 7),
            ("dev", 8),
            ("nlink", 9),
        ] {
            m.insert(k.into(), Value::from(self.num(i)));
        }
        for (k, i) in [("atime", 10), ("mtime", 11), ("ctime", 12)] {
            m.insert(k.into(), Value::from(self.time(i)));
        }
        m.insert("gr_name".into(), Value::from(self.fields[14].as_str()));
        m.insert("pw_name".into(), Value::from(self.fields[13].as_str()));
        for (k, b) in super::stat::PERMISSION_BITS {
            m.insert(k.into(), Value::Bool(mode & b != 0));
        }
        m
    }
}

/// A searched path's entries in ansible-core's walk order: in each directory its
/// non-directories, then its directories, then the same inside each directory in turn.
fn walk_order(root: &str, entries: Vec<Entry>) -> Vec<Entry> {
    let mut children: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let parent = |p: &str| {
        p.rsplit_once('/')
            .map_or(String::new(), |(d, _)| d.to_string())
    };
    for (i, e) in entries.iter().enumerate() {
        children.entry(parent(e.path())).or_default().push(i);
    }
    let mut order = Vec::with_capacity(entries.len());
    let mut stack = vec![root.trim_end_matches('/').to_string()];
    if root == "/" {
        stack = vec![String::new()];
    }
    while let Some(dir) = stack.pop() {
        let Some(kids) = children.get(&dir) else {
            continue;
        };
        let (dirs, files): (Vec<usize>, Vec<usize>) =
            kids.iter().partition(|i| entries[**i].walks_into());
        order.extend(files.iter().copied());
        order.extend(dirs.iter().copied());
        for d in dirs.iter().rev() {
            stack.push(entries[*d].path().to_string());
        }
    }
    let mut slots: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

fn choose(a: Args, out: ExecOutput) -> Plan {
    if out.rc != Some(0) {
        return Plan::Done(ModuleResult::failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut tokens = text.split('\0').peekable();
    let mut now = 0f64;
    let mut roots: Vec<(String, Vec<Entry>)> = Vec::new();
    // What the walk could not read is listed, without a warning (ansible-core's os.walk
    // error handler); a path that is not a directory is warned of.
    let unreadable = walk_errors(&out.stderr);
    let mut skipped = Map::new();
    while let Some(t) = tokens.next() {
        match t {
            "T" => now = tokens.next().and_then(|n| n.parse().ok()).unwrap_or(0.0),
            "D" => roots.push((tokens.next().unwrap_or("").to_string(), Vec::new())),
            "S" => {
                let p = tokens.next().unwrap_or("").to_string();
                skipped.insert(p.clone(), Value::from(format!("'{p}' is not a directory")));
            }
            "" => {}
            first => {
                let mut fields = vec![first.to_string()];
                for _ in 1..FIELDS {
                    fields.push(tokens.next().unwrap_or("").to_string());
                }
                if let Some((_, list)) = roots.last_mut() {
                    list.push(Entry { fields });
                }
            }
        }
    }
    let file_type = a.file_type.clone().unwrap_or_else(|| "file".into());
    let compile = |ps: &[String]| -> Vec<regex::Regex> {
        ps.iter()
            .filter_map(|p| matcher(p, a.use_regex).ok())
            .collect()
    };
    let (patterns, excludes) = (compile(&a.patterns), compile(&a.excludes));
    // ansible-core's pfilter (its `patterns` default to every name).
    let names = |name: &str| -> bool {
        // No patterns: every name, less the excluded ones.
        (patterns.is_empty() || patterns.iter().any(|p| p.is_match(name)))
            && !excludes.iter().any(|e| e.is_match(name))
    };
    let age = a.age.as_deref().and_then(|s| age_of(s).ok());
    let stamp = match a.age_stamp.as_deref() {
        Some("atime") => 10,
        Some("ctime") => 12,
        _ => 11,
    };
    let ages = |e: &Entry| -> bool {
        match age {
            None => true,
            Some(x) if x >= 0 => now - e.time(stamp) >= x as f64,
            Some(x) => now - e.time(stamp) <= x.unsigned_abs() as f64,
        }
    };
    let size = a.size.as_deref().and_then(|s| size_of(s).ok());
    let sizes = |e: &Entry| -> bool {
        match size {
            None => true,
            Some(x) if x >= 0 => e.num(6) >= x,
            Some(x) => e.num(6) <= -x,
        }
    };
    let depth = a.depth.map(|d| d as usize).filter(|_| a.recurse);
    let mut examined = 0u64;
    let mut chosen: Vec<Entry> = Vec::new();
    for (root, entries) in roots {
        let root_slashes = root.trim_end_matches('/').matches('/').count();
        for e in walk_order(&root, entries) {
            examined += 1;
            let level = e.path().matches('/').count() - root_slashes;
            if depth.is_some_and(|d| level > d) {
                continue;
            }
            let name = e.path().rsplit('/').next().unwrap_or("");
            if name.starts_with('.') && !a.hidden {
                continue;
            }
            let keep = match (file_type.as_str(), e.kind()) {
                ("any", "f") => names(name) && ages(&e) && sizes(&e),
                ("any", _) => names(name) && ages(&e),
                ("directory", "d") | ("link", "l") => names(name) && ages(&e),
                ("file", "f") => names(name) && ages(&e) && sizes(&e),
                _ => false,
            };
            if keep {
                chosen.push(e);
            }
        }
    }
    let skipped_n = skipped.len();
    let finish = move |files: Vec<Value>| {
        let mut r = ModuleResult::ok();
        r.msg = Some(if skipped_n == 0 {
            "All paths examined".into()
        } else {
            "Not all paths examined, check warnings for details".into()
        });
        r.data.insert("matched".into(), Value::from(files.len()));
        r.data.insert("files".into(), Value::Array(files));
        r.data.insert("examined".into(), Value::from(examined));
        // ansible-core warns of each path it skipped.
        let warnings: Vec<Value> = skipped
            .iter()
            .map(|(p, why)| {
                Value::from(format!(
                    "Skipped '{p}' path due to this access issue: {}\n",
                    why.as_str().unwrap_or_default()
                ))
            })
            .collect();
        if !warnings.is_empty() {
            r.data.insert("warnings".into(), Value::Array(warnings));
        }
        let mut skipped = skipped;
        skipped.extend(unreadable);
        r.data
            .insert("skipped_paths".into(), Value::Object(skipped));
        r
    };
    let needs_content = a.contains.is_some() && file_type == "file";
    if !needs_content && !a.get_checksum {
        return Plan::Done(finish(
            chosen.iter().map(|e| Value::Object(e.stat())).collect(),
        ));
    }
    // Second round trip: content and checksums of the regular files chosen.
    let mut script = String::new();
    if let Some(c) = a.contains.as_ref().filter(|_| needs_content) {
        script.push_str("grep -P '' /dev/null 2>/dev/null; [ $? -le 1 ] || { echo 'contains needs grep -P (PCRE) on the host' >&2; exit 3; }\n");
        let pat = if a.read_whole_file {
            c.clone()
        } else {
            format!("^(?:{c})")
        };
        script.push_str(&format!("pat={}\n", quote(&pat)));
    }
    for (i, e) in chosen.iter().enumerate() {
        if e.kind() != "f" {
            continue;
        }
        let mut line = format!("f={}\n", quote(e.path()));
        if needs_content {
            let z = if a.read_whole_file { "z" } else { "" };
            line.push_str(&format!(
                "grep -qP{z} -e \"$pat\" -- \"$f\" 2>/dev/null && printf 'C{i}\\0'\n"
            ));
        }
        if a.get_checksum {
            line.push_str(&format!(
                "s=$(sha1sum < \"$f\" 2>/dev/null) && printf 'S{i}\\0%s\\0' \"${{s%% *}}\"\n"
            ));
        }
        script.push_str(&line);
    }
    let content = needs_content;
    Plan::remote(script, None, move |out| {
        if out.rc == Some(3) {
            return ModuleResult::failed(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut matched = std::collections::HashSet::new();
        let mut sums: BTreeMap<usize, String> = BTreeMap::new();
        let mut tokens = text.split('\0');
        while let Some(t) = tokens.next() {
            if let Some(i) = t.strip_prefix('C').and_then(|i| i.parse::<usize>().ok()) {
                matched.insert(i);
            } else if let Some(i) = t.strip_prefix('S').and_then(|i| i.parse::<usize>().ok()) {
                sums.insert(i, tokens.next().unwrap_or("").to_string());
            }
        }
        let files = chosen
            .iter()
            .enumerate()
            .filter(|(i, _)| !content || matched.contains(i))
            .map(|(i, e)| {
                let mut m = e.stat();
                if let Some(s) = sums.get(&i) {
                    m.insert("checksum".into(), Value::from(s.as_str()));
                }
                Value::Object(m)
            })
            .collect();
        finish(files)
    })
}

/// What GNU find said it could not read (`find: 'PATH': Permission denied`, in the C
/// locale), as ansible-core's `skipped_paths` words it (Python's OSError text).
fn walk_errors(stderr: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    for line in String::from_utf8_lossy(stderr).lines() {
        let Some(rest) = line.strip_prefix("find: '") else {
            continue;
        };
        let Some((path, why)) = rest.rsplit_once("': ") else {
            continue;
        };
        let errno = match why {
            "Operation not permitted" => "[Errno 1] ",
            "No such file or directory" => "[Errno 2] ",
            "Permission denied" => "[Errno 13] ",
            "Not a directory" => "[Errno 20] ",
            _ => "",
        };
        out.insert(
            path.to_string(),
            Value::from(format!("{errno}{why}: '{path}'")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_find_cannot_read_are_skipped_not_fatal() {
        let skipped = walk_errors(
            b"find: '/tmp/x/secret': Permission denied\nfind: '/tmp/x/gone': No such file or directory\nnoise\n",
        );
        assert_eq!(
            skipped.get("/tmp/x/secret"),
            Some(&Value::from(
                "[Errno 13] Permission denied: '/tmp/x/secret'"
            ))
        );
        assert_eq!(
            skipped.get("/tmp/x/gone"),
            Some(&Value::from(
                "[Errno 2] No such file or directory: '/tmp/x/gone'"
            ))
        );
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn shell_patterns_as_python_fnmatch() {
        let m = |p: &str, n: &str| matcher(p, false).unwrap().is_match(n);
        assert!(m("*.conf", "a.conf"));
        assert!(!m("*.conf", "a.conf.bak"));
        assert!(m("a?c", "abc"));
        assert!(m("[ab]*", "beta"));
        assert!(!m("[!ab]*", "beta"));
        assert!(m("a.c", "a.c"));
        assert!(!m("a.c", "abc"));
        assert!(m("[", "["));
    }

    #[test]
    fn regexes_match_at_the_start() {
        let m = |p: &str, n: &str| matcher(p, true).unwrap().is_match(n);
        assert!(m(r".*\.log", "x.log"));
        assert!(!m("log", "x.log"));
    }

    #[test]
    fn ages_and_sizes() {
        assert_eq!(age_of("2d").unwrap(), 172800);
        assert_eq!(age_of("-1w").unwrap(), -604800);
        assert_eq!(size_of("10k").unwrap(), 10240);
        assert!(size_of("9999999999999999t").is_err());
        assert!(age_of("x").is_err());
    }
}
