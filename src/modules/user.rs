//! `user`: a user account present (uid, primary and supplementary groups, comment, home,
//! shell, password hash) or absent, with `useradd`/`usermod`/`userdel` on the host, one
//! round trip, as ansible-core's `user` module decides and reports.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::group::id;
use super::registry::Spec;
use super::write::{report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "user",
    summary: "Make sure a user account exists with the given uid, groups, comment, home, shell and password hash, or does not.",
    params: PARAMS,
    ..Spec::host::<User>()
};

const PARAMS: &[Param] = &[
    param("name", &["user"], "Required. The account."),
    param("state", &[], "`present` (default) or `absent`."),
    param("uid", &[], "The user id."),
    param("group", &[], "The primary group (name or gid)."),
    param(
        "groups",
        &[],
        "Supplementary groups (a list or comma-separated); an empty list removes all.",
    ),
    param(
        "append",
        &[],
        "bool, default no. Add `groups` to the user's groups instead of setting them.",
    ),
    param("comment", &[], "The GECOS field."),
    param("home", &[], "The home directory."),
    param(
        "move_home",
        &[],
        "bool, default no. With a new `home`, move the old one there.",
    ),
    param("shell", &[], "The login shell."),
    param(
        "system",
        &[],
        "bool, default no. A new account is a system account.",
    ),
    param(
        "create_home",
        &["createhome"],
        "bool, default yes. Create the home directory of a new account.",
    ),
    param(
        "password",
        &[],
        "The password hash as `/etc/shadow` holds it (`!` locks). Never logged.",
    ),
    param("update_password", &[], "`always` (default) or `on_create`."),
    param(
        "remove",
        &[],
        "bool. With `absent`, remove the home directory and mail spool too.",
    ),
    param(
        "force",
        &[],
        "bool. With `absent`, remove the account even while it is logged in.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "user", deserialize_with = "args::text")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "id")]
    uid: Option<u32>,
    #[serde(default, deserialize_with = "args::opt_text")]
    group: Option<String>,
    #[serde(default, deserialize_with = "opt_list")]
    groups: Option<Vec<String>>,
    #[serde(default, deserialize_with = "args::boolean")]
    append: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    comment: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    home: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    move_home: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    shell: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    system: bool,
    #[serde(
        default = "args::yes",
        alias = "createhome",
        deserialize_with = "args::boolean"
    )]
    create_home: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    password: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    update_password: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    remove: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    force: bool,
}

fn opt_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    args::list(d).map(Some)
}

pub struct User;

impl Module for User {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("present" | "absent") => {}
            Some(s) => {
                return Err(format!(
                    "value of state must be one of: absent, present, got: {s}"
                ));
            }
        }
        match a.update_password.as_deref() {
            None | Some("always" | "on_create") => {}
            Some(s) => {
                return Err(format!(
                    "value of update_password must be one of: always, on_create, got: {s}"
                ));
            }
        }
        for v in [
            &a.name,
            a.comment.as_deref().unwrap_or(""),
            a.home.as_deref().unwrap_or(""),
            a.shell.as_deref().unwrap_or(""),
        ] {
            if v.contains([':', '\n']) {
                return Err(format!(
                    "'{v}' cannot hold ':' or a newline (it goes into /etc/passwd)"
                ));
            }
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let absent = a.state.as_deref() == Some("absent");
        let groups = a.groups.as_ref().map(|g| g.join(","));
        let opt = |v: &Option<String>| quote(v.as_deref().unwrap_or(""));
        let script = format!(
            "n={}\nabsent={}\ncheck={}\nwant_uid={}\nwant_group={}\nhas_groups={}\nwant_groups={}\nappend={}\ncomment_given={}\nwant_comment={}\nwant_home={}\nmove_home={}\nwant_shell={}\nsystem={}\ncreate_home={}\nhas_password={}\npw_always={}\nremove={}\nforce={}\n{SCRIPT}",
            quote(&a.name),
            u8::from(absent),
            u8::from(ctx.check_mode),
            a.uid.map(|u| u.to_string()).unwrap_or_default(),
            opt(&a.group),
            u8::from(groups.is_some()),
            opt(&groups),
            u8::from(a.append),
            u8::from(a.comment.is_some()),
            opt(&a.comment),
            opt(&a.home),
            u8::from(a.move_home),
            opt(&a.shell),
            u8::from(a.system),
            u8::from(a.create_home),
            u8::from(a.password.is_some()),
            u8::from(a.update_password.as_deref() != Some("on_create")),
            u8::from(a.remove),
            u8::from(a.force),
        );
        // The hash goes on standard input: a script's text can show in the host's process
        // list while it runs.
        let stdin = a
            .password
            .as_ref()
            .map(|p| bytes::Bytes::from(format!("{p}\n")));
        Ok(Plan::remote(script, stdin, move |out| {
            finish(&a, absent, groups, out)
        }))
    }
}

/// The result as ansible-core's `user` module reports it.
fn finish(
    a: &Args,
    absent: bool,
    groups: Option<String>,
    out: crate::connection::ExecOutput,
) -> ModuleResult {
    let rep = report(&out);
    if out.rc != Some(0) || rep.contains_key("error") {
        return script_failure(&out, &rep);
    }
    let mut r = ModuleResult::ok();
    r.changed = rep.get("changed").map(String::as_str) == Some("1");
    if rep.contains_key("check_exit") {
        return r;
    }
    let d = &mut r.data;
    d.insert("name".into(), Value::from(a.name.as_str()));
    if absent {
        d.insert("state".into(), Value::from("absent"));
        if r.changed {
            d.insert("force".into(), Value::Bool(a.force));
            d.insert("remove".into(), Value::Bool(a.remove));
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if !err.is_empty() {
                let lines: Vec<Value> = err.lines().map(Value::from).collect();
                d.insert("stderr".into(), Value::from(err));
                d.insert("stderr_lines".into(), Value::Array(lines));
            }
        }
        return r;
    }
    d.insert("state".into(), Value::from("present"));
    // From /etc/passwd after the change: name:x:uid:gid:comment:home:shell.
    let pw: Vec<&str> = rep
        .get("pw")
        .map(|p| p.split(':').collect())
        .unwrap_or_default();
    let field = |i: usize| pw.get(i).copied().unwrap_or("");
    let num = |i: usize| field(i).parse::<u64>().map_or(Value::Null, Value::from);
    d.insert("uid".into(), num(2));
    d.insert("group".into(), num(3));
    d.insert("comment".into(), Value::from(field(4)));
    d.insert("home".into(), Value::from(field(5)));
    d.insert("shell".into(), Value::from(field(6)));
    if let Some(g) = groups {
        d.insert("groups".into(), Value::from(g));
    }
    if a.password.is_some() {
        d.insert("password".into(), Value::from("NOT_LOGGING_PASSWORD"));
    }
    if rep.contains_key("created") {
        d.insert("create_home".into(), Value::Bool(a.create_home));
        d.insert("system".into(), Value::Bool(a.system));
    } else {
        d.insert("append".into(), Value::Bool(a.append));
        d.insert("move_home".into(), Value::Bool(a.move_home));
    }
    r
}

/// Creates, changes or removes the account; prints `changed`, `created`, `check_exit` and
/// the account's passwd line (`pw=`) afterwards. The password hash arrives on standard
/// input and goes to `chpasswd -e` the same way: never on a command line.
const SCRIPT: &str = r#"want_password=; if [ "$has_password" = 1 ]; then IFS= read -r want_password || true; fi
line=$(getent passwd "$n")
fail() { printf 'error=%s\n' "$(printf '%s' "$1" | tr '\n' ' ')"; exit 3; }
if [ "$absent" = 1 ]; then
  if [ -n "$line" ]; then
    echo changed=1
    if [ "$check" = 0 ]; then
      set --; [ "$remove" = 1 ] && set -- -r; [ "$force" = 1 ] && set -- "$@" -f
      userdel "$@" "$n" 2>&1 >/dev/null | cat >&2
    fi
  fi
  exit 0
fi
set_password() { printf '%s:%s\n' "$n" "$want_password" | chpasswd -e || fail "could not set the password of $n"; }
if [ -z "$line" ]; then
  echo changed=1
  if [ "$check" = 1 ]; then echo check_exit=1; exit 0; fi
  set --
  [ -n "$want_uid" ] && set -- "$@" -u "$want_uid"
  [ -n "$want_group" ] && set -- "$@" -g "$want_group"
  [ "$has_groups" = 1 ] && [ -n "$want_groups" ] && set -- "$@" -G "$want_groups"
  [ "$comment_given" = 1 ] && set -- "$@" -c "$want_comment"
  [ -n "$want_home" ] && set -- "$@" -d "$want_home"
  [ -n "$want_shell" ] && set -- "$@" -s "$want_shell"
  [ "$system" = 1 ] && set -- "$@" -r
  if [ "$create_home" = 1 ]; then set -- "$@" -m; else set -- "$@" -M; fi
  out=$(useradd "$@" "$n" 2>&1) || fail "$out"
  if [ "$has_password" = 1 ]; then set_password; fi
  echo created=1
else
  field() { printf '%s\n' "$line" | cut -d: -f"$1"; }
  uid=$(field 3); gid=$(field 4); gecos=$(field 5); home=$(field 6); shell=$(field 7)
  set --
  [ -n "$want_uid" ] && [ "$want_uid" != "$uid" ] && set -- "$@" -u "$want_uid"
  if [ -n "$want_group" ]; then
    g=$(getent group "$want_group" | cut -d: -f3)
    [ -n "$g" ] || fail "Group $want_group does not exist"
    [ "$g" = "$gid" ] || set -- "$@" -g "$want_group"
  fi
  if [ "$has_groups" = 1 ]; then
    # Groups that list the user as a member (its primary group too when it is listed),
    # as ansible-core compares them.
    have=,
    for g in $(getent group | awk -F: -v u="$n" '{ k = split($4, m, ","); for (i = 1; i <= k; i++) if (m[i] == u) print $1 }'); do have="$have$g,"; done
    missing=; extra=0
    for g in $(printf '%s' "$want_groups" | tr ',' ' '); do
      case "$have" in *",$g,"*) ;; *) missing="$missing${missing:+,}$g" ;; esac
    done
    for g in $(printf '%s' "$have" | tr ',' ' '); do
      case ",$want_groups," in *",$g,"*) ;; *) extra=1 ;; esac
    done
    if [ "$append" = 1 ]; then
      [ -z "$missing" ] || set -- "$@" -a -G "$missing"
    elif [ -n "$missing" ] || [ "$extra" = 1 ]; then
      set -- "$@" -G "$want_groups"
    fi
  fi
  [ "$comment_given" = 1 ] && [ "$want_comment" != "$gecos" ] && set -- "$@" -c "$want_comment"
  if [ -n "$want_home" ] && [ "$want_home" != "$home" ]; then
    set -- "$@" -d "$want_home"; [ "$move_home" = 1 ] && set -- "$@" -m
  fi
  [ -n "$want_shell" ] && [ "$want_shell" != "$shell" ] && set -- "$@" -s "$want_shell"
  pw_change=0
  if [ "$has_password" = 1 ] && [ "$pw_always" = 1 ]; then
    cur=$(getent shadow "$n" | cut -d: -f2)
    [ "$cur" = "$want_password" ] || pw_change=1
  fi
  if [ $# -gt 0 ] || [ "$pw_change" = 1 ]; then
    echo changed=1
    if [ "$check" = 0 ]; then
      if [ $# -gt 0 ]; then out=$(usermod "$@" "$n" 2>&1) || fail "$out"; fi
      if [ "$pw_change" = 1 ]; then set_password; fi
    fi
  fi
fi
echo "pw=$(getent passwd "$n")"
"#;
