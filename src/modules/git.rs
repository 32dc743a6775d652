//! `git`: a checkout of a repository at a branch, tag or commit on the host, with its
//! `git`, decided and done in one script the way ansible-core's module goes: clone when
//! there is no repository, else refuse (or with `force`, reset) local changes, point the
//! remote at `repo`, fetch, and switch to `version`; `before`/`after` are the commits.
//! Nothing prompts: a repository that wants a password fails instead of waiting.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::report;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "git",
    summary: "Check out a git repository on the host at a branch, tag or commit.",
    params: PARAMS,
    ..Spec::host::<Git>()
};

const PARAMS: &[Param] = &[
    param(
        "repo",
        &["name"],
        "Required. The repository's URL (or a path on the host).",
    ),
    param("dest", &[], "Required. The directory to check out into."),
    param(
        "version",
        &[],
        "A branch, tag or full commit id, default `HEAD` (the remote's default branch).",
    ),
    param("remote", &[], "The remote's name, default `origin`."),
    param(
        "force",
        &[],
        "bool, default no. Discard local changes to tracked files instead of failing.",
    ),
    param(
        "update",
        &[],
        "bool, default yes. With no, an existing checkout is left as it is.",
    ),
    param(
        "clone",
        &[],
        "bool, default yes. With no, a missing checkout is not made (the remote's commit is reported).",
    ),
    param("depth", &[], "int. A shallow clone of this many commits."),
    param(
        "bare",
        &[],
        "bool, default no. A bare repository (no working tree).",
    ),
    param(
        "recursive",
        &[],
        "bool, default yes. Update submodules too.",
    ),
    param(
        "accept_hostkey",
        &[],
        "bool, default no. Accept an unknown SSH host key of the repository's server.",
    ),
    param(
        "accept_newhostkey",
        &[],
        "bool, default no. Accept a new (never a changed) SSH host key.",
    ),
    param(
        "key_file",
        &[],
        "An SSH private key on the host to fetch with.",
    ),
    param("ssh_opts", &[], "More options for ssh, as git runs it."),
    param(
        "umask",
        &[],
        "Octal umask for the files made (a quoted string, as `'0022'`).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "name", deserialize_with = "args::text")]
    repo: String,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    version: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    remote: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    force: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    update: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    clone: bool,
    #[serde(default, deserialize_with = "args::opt_number")]
    depth: Option<f64>,
    #[serde(default, deserialize_with = "args::boolean")]
    bare: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    recursive: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    accept_hostkey: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    accept_newhostkey: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    key_file: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    ssh_opts: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    umask: Option<String>,
}

pub struct Git;

impl Module for Git {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if let Some(d) = a.depth
            && !(d.fract() == 0.0 && (1.0..=1_000_000.0).contains(&d))
        {
            return Err(format!("depth must be a whole number of commits, got {d}"));
        }
        if let Some(u) = &a.umask
            && (u.is_empty() || !u.chars().all(|c| ('0'..='7').contains(&c)))
        {
            return Err("umask must be an octal integer".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut ssh = a.ssh_opts.clone().unwrap_or_default();
        let strict = ssh.contains("StrictHostKeyChecking");
        if a.accept_hostkey && !strict {
            ssh.push_str(" -o StrictHostKeyChecking=no");
        } else if a.accept_newhostkey && !strict {
            ssh.push_str(" -o StrictHostKeyChecking=accept-new");
        }
        if let Some(k) = &a.key_file {
            ssh.push_str(&format!(" -i {} -o IdentitiesOnly=yes", quote(k)));
        }
        // A path is a file:// URL, as ansible-core makes it (shallow clones need it).
        let repo = if a.repo.starts_with('/') {
            format!("file://{}", a.repo)
        } else {
            a.repo.clone()
        };
        let mut s = format!(
            "repo={}\ndest={}\nversion={}\nremote={}\nforce={}\nupdate={}\nclone={}\ndepth={}\nbare={}\nrecursive={}\ncheck={}\nssh_opts={}\numask_={}\n",
            quote(&repo),
            quote(a.dest.trim_end_matches('/')),
            quote(a.version.as_deref().unwrap_or("HEAD")),
            quote(a.remote.as_deref().unwrap_or("origin")),
            u8::from(a.force),
            u8::from(a.update),
            u8::from(a.clone),
            a.depth.map(|d| (d as u64).to_string()).unwrap_or_default(),
            u8::from(a.bare),
            u8::from(a.recursive),
            u8::from(ctx.check_mode),
            quote(ssh.trim()),
            quote(a.umask.as_deref().unwrap_or("")),
        );
        s.push_str(SCRIPT);
        Ok(Plan::remote(s, None, move |out| {
            let rep = report(&out);
            let sha = |k: &str| {
                rep.get(k)
                    .filter(|v| !v.is_empty())
                    .map_or(Value::Null, |v| Value::from(v.as_str()))
            };
            let mut r = ModuleResult::ok();
            r.data.insert("before".into(), sha("before"));
            if rep.contains_key("after") {
                r.data.insert("after".into(), sha("after"));
            }
            if let Some(u) = rep.get("remote_url_changed") {
                r.data
                    .insert("remote_url_changed".into(), Value::Bool(u == "1"));
            }
            if let Some(e) = rep.get("error") {
                r.failed = true;
                if e != "1" {
                    r.msg = Some(e.clone());
                    return r;
                }
                // A git command failed: reported as ansible-core reports a failed command.
                let rc = rep
                    .get("rc")
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(-1);
                let cmd = super::write::report_text(&rep, "cmd")
                    .trim_end()
                    .to_string();
                let (out, err) = (
                    super::write::report_text(&rep, "out"),
                    super::write::report_text(&rep, "err"),
                );
                super::write::command_failure(&mut r, cmd, rc, out, err);
                if r.msg.as_deref() == Some("") {
                    r.msg = Some("git failed".into());
                }
                return r;
            }
            if out.rc != Some(0) {
                return super::write::script_failure(&out, &rep);
            }
            r.changed = rep.get("changed").map(String::as_str) == Some("1");
            if let Some(m) = rep.get("msg") {
                r.msg = Some(m.clone());
            }
            r
        }))
    }
}

/// Clone, or refuse/reset local changes, set the remote, fetch and switch. Reports
/// `before`, `after`, `changed`, `remote_url_changed`, or `error` with the failing git
/// command's output (`out`/`err`, base64).
const SCRIPT: &str = r#"export GIT_TERMINAL_PROMPT=0 LANG=C LC_ALL=C LC_MESSAGES=C LC_CTYPE=C
command -v git >/dev/null 2>&1 || { echo 'error=git is not installed on the host'; exit 0; }
[ -n "$ssh_opts" ] && export GIT_SSH_COMMAND="ssh $ssh_opts"
[ -n "$umask_" ] && umask "$umask_"
w=$(mktemp -d) || exit 1
trap 'rm -rf -- "$w"' EXIT
# Runs git; on failure reports the command's output and stops.
gitp=$(command -v git)
g() {
  git "$@" > "$w/out" 2> "$w/err"; rc=$?
  [ $rc = 0 ] && return 0
  echo "error=1"; echo "rc=$rc"
  echo "cmd=$(printf '%s ' "$gitp" "$@" | base64 -w0)"
  echo "out=$(base64 -w0 < "$w/out")"; echo "err=$(base64 -w0 < "$w/err")"
  exit 0
}
# Sets $h: the commit the remote has for $version (a commit id is taken as given).
remote_head() {
  src=$1
  if [ "$version" = HEAD ]; then git ls-remote "$src" HEAD > "$w/ls" 2> "$w/err" || { echo "error=Failed to read the remote: $(head -c 300 "$w/err" | tr '\n' ' ')"; exit 0; }
  else git ls-remote "$src" "refs/heads/$version" "refs/tags/$version" "refs/tags/$version^{}" > "$w/ls" 2> "$w/err" || { echo "error=Failed to read the remote: $(head -c 300 "$w/err" | tr '\n' ' ')"; exit 0; }
  fi
  h=$(grep -F "refs/tags/$version^{}" "$w/ls" | cut -f1 | head -n1)
  [ -n "$h" ] || h=$(cut -f1 "$w/ls" | head -n1)
  [ -n "$h" ] || h=$version
}
if [ "$bare" = 1 ]; then cfg="$dest/config"; else cfg="$dest/.git/config"; fi
echo before=
if [ ! -e "$cfg" ]; then
  if [ "$check" = 1 ] || [ "$clone" = 0 ]; then remote_head "$repo"; echo "after=$h"; echo changed=1; exit 0; fi
  branch=
  if [ -n "$depth" ] && [ "$version" != HEAD ] && git ls-remote --exit-code "$repo" "refs/heads/$version" "refs/tags/$version" > /dev/null 2>&1; then
    branch=1
  fi
  # As ansible-core, the remote is asked first: an unreachable one fails here.
  g ls-remote "$repo" -h "refs/heads/$version"
  mkdir -p -- "$(dirname -- "$dest")"
  set -- clone --origin "$remote"
  [ "$bare" = 1 ] && set -- "$@" --bare
  if [ -n "$depth" ]; then
    set -- "$@" --depth "$depth"
    [ -n "$branch" ] && set -- "$@" --branch "$version"
  fi
  g "$@" -- "$repo" "$dest"
  echo changed=1
else
  cd "$dest" || exit 1
  before=$(git rev-parse HEAD 2>/dev/null)
  echo "before=$before"
  if [ "$update" = 0 ]; then echo "after=$before"; exit 0; fi
  mods=0
  if [ "$bare" = 0 ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then mods=1; fi
  if [ $mods = 1 ]; then
    if [ "$force" = 0 ]; then echo "error=Local modifications exist in the destination: $dest (force=no)."; exit 0; fi
    if [ "$check" = 0 ]; then g reset --hard HEAD; echo "msg=Local modifications exist in the destination: $dest"; fi
  fi
  cur=$(git ls-remote --get-url "$remote" 2>/dev/null)
  url_changed=0
  if [ -n "$cur" ] && [ "$cur" != "$repo" ] && [ "${cur%/}" != "${repo%/}" ]; then url_changed=1; fi
  if [ "$check" = 1 ]; then
    echo "remote_url_changed=$url_changed"
    remote_head "$remote"
    echo "after=$h"
    if [ "$h" != "$before" ] || [ $url_changed = 1 ]; then echo changed=1; fi
    exit 0
  fi
  if [ $url_changed = 1 ] || [ -z "$cur" ]; then
    if git remote | grep -qxF -- "$remote"; then g remote set-url "$remote" "$repo"; else g remote add "$remote" "$repo"; fi
    [ -n "$cur" ] || url_changed=1
  fi
  echo "remote_url_changed=$url_changed"
  set -- fetch --tags --force
  [ -n "$depth" ] && set -- "$@" --depth "$depth"
  g "$@" "$remote" "+refs/heads/*:refs/remotes/$remote/*"
fi
cd "$dest" || exit 1
if [ "$bare" = 0 ]; then
  if [ "$version" = HEAD ]; then
    b=$(git symbolic-ref --short "refs/remotes/$remote/HEAD" 2>/dev/null); b=${b#"$remote"/}
    [ -n "$b" ] || b=$(git ls-remote --symref "$remote" HEAD 2>/dev/null | sed -n 's|^ref: refs/heads/\(.*\)\tHEAD$|\1|p')
    g checkout --force "$b"
    g reset --hard "$remote/$b" --
  elif git rev-parse --verify -q "refs/remotes/$remote/$version" > /dev/null; then
    if git rev-parse --verify -q "refs/heads/$version" > /dev/null; then
      g checkout --force "$version"
      g reset --hard "$remote/$version"
    else
      g checkout --track -b "$version" "$remote/$version"
    fi
  else
    if ! git rev-parse --verify -q "$version^{commit}" > /dev/null && [ -n "$depth" ]; then
      g fetch --depth "$depth" "$remote" "$version"
    fi
    g checkout --force "$version"
  fi
  if [ "$recursive" = 1 ] && [ -f .gitmodules ]; then g submodule update --init --recursive; fi
fi
after=$(git rev-parse HEAD)
echo "after=$after"
[ "$after" != "$before" ] && echo changed=1
[ "${mods:-0}" = 1 ] && echo changed=1
[ "${url_changed:-0}" = 1 ] && [ -n "$before" ] && echo changed=1
exit 0
"#;
