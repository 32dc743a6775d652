//! The `olympus` command: a thin clap shell over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use olympus::app::exec::{ExecRequest, Report as ExecReport};
use olympus::app::heal::HealRequest;
use olympus::app::inventory::{InventoryRequest, View};
use olympus::app::lock::Action;
use olympus::app::run::{KillSwitch, Listing, Prompt, Prompter, Report as RunReport, RunRequest};
use olympus::app::schedule::Scheduler;
use olympus::app::setup::{Connection, DEFAULT_FORKS, Sources};
use olympus::connection::{
    ConnectOptions, Escalation, EscalationMethod, HostDefaults, HostKeyChecking, Secret,
};
use olympus::exit::{Error, Outcome};
use olympus::output::{self, ColorChoice};

#[derive(Parser, Debug)]
#[command(
    name = "olympus",
    version,
    about = "Agentless, Ansible-compatible fleet orchestration in one fast binary",
    long_about = "olympus reads Ansible inventories and playbooks and runs them over SSH on many \
hosts at once. Managed hosts need only sh and coreutils.",
    after_help = "Examples:
  olympus inventory -i inventory/ --graph
  olympus inventory -i hosts.ini --list --limit 'web:&prod'
  olympus completions bash > /etc/bash_completion.d/olympus

  olympus lock --reason 'incident 42'   # the kill switch; olympus unlock releases it

Exit codes: 0 ok, 1 internal error, 3 bad input (a file that does not parse, a bad option or pattern),
5 the kill switch is engaged; `run` adds its own (olympus run --help)."
)]
struct Cli {
    /// More output: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less output: only errors.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
    /// Colour: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    /// Log format on stderr: text for people, json for unattended runs [default: text;
    /// for heal, json when stderr is not a terminal].
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run playbooks against the inventory.
    #[command(after_help = "Examples:
  olympus run playbooks/site.yml -i inventory/ -l web
  olympus run playbooks/hello.yml            # against the implicit localhost
  olympus run site.yml -i hosts.ini --check --diff -e version=1.2.3

Exit codes: 0 ok; 2 a host failed; 4 a host was unreachable; 8 a play was stopped by
max_fail_percentage or any_errors_fatal; 5 the kill switch is engaged (the run was refused,
or halted at a task boundary); 99 interrupted (the most serious one is given: 99, 5, 8, 4,
2); 3 bad input (playbook, inventory, option); 1 internal error.")]
    Run(RunArgs),
    /// Run one shell command on every host a pattern selects.
    #[command(after_help = "Examples:
  olympus exec all -i inventory/ -- uptime
  olympus exec 'web:&prod' -i hosts.ini -f 100 -- systemctl is-active nginx
  olympus exec db -i hosts.ini --become -K -- 'journalctl -u postgresql -n 5'
  olympus exec all -i hosts.ini --output json -- df -h / > df.jsonl

Hosts with identical output are shown once, under a compact host list (web[01-20]).
Exit codes: 0 all ok; 2 a command failed on some host; 4 some host was unreachable (4 wins
when both happened); 3 bad input (inventory, pattern or option).")]
    Exec(ExecArgs),
    /// Show the inventory as ansible-inventory does: --list, --host or --graph.
    #[command(after_help = "Examples:
  olympus inventory -i inventory/ --list
  olympus inventory -i hosts.ini --host web01
  olympus inventory -i hosts.ini --graph web --vars
  olympus inventory -i web1,web2:2222, --list")]
    Inventory(InventoryArgs),
    /// Engage the kill switch: no `run` starts, and runs in progress stop at their next task.
    #[command(after_help = "Examples:
  olympus lock --reason 'replication incident, hands off db'
  olympus lock --status
  olympus lock --status --output json

The switch is kept in the state directory (--state-dir, OLYMPUS_STATE_DIR, else
$XDG_STATE_HOME/olympus or ~/.local/state/olympus): every olympus that must obey it has to
use the same one. `olympus unlock` releases it.")]
    Lock(LockArgs),
    /// Release the kill switch.
    Unlock(UnlockArgs),
    /// Read monitoring, decide which playbook runs on which hosts, run it (docs/heal.md).
    #[command(after_help = "Examples:
  olympus heal rules.yml --once -i inventory/            # from cron or a systemd timer
  olympus heal rules.yml --once -i inventory/ --dry-run  # what would run, and why
  olympus history --since 1d --rule mysql-replication-lag

Exit codes: 0 the pass did its job (whether or not it acted, and whatever the actions came
to: see `olympus history`); 1 a check's source could not be read; 3 bad input (rules,
inventory, option).")]
    Heal(HealArgs),
    /// Show what heal and the kill switch did, oldest first.
    History(HistoryArgs),
    /// Write the run report: one self-contained HTML page (recap, a timeline of tasks per
    /// host, the slowest tasks, every failure with its output, heal's history).
    #[command(after_help = "Examples:
  olympus run site.yml --output json > run.json; olympus report run.json --html run.html
  olympus run site.yml --report run.html          # the same, in one step
  olympus report --history --since 1d --html heal.html
  olympus report merge shard-*.json               # one recap and exit code for a sharded run
  olympus report merge shard-*.json --output json > run.json")]
    Report(ReportArgs),
    /// Run `heal --once` every few minutes from a systemd timer or cron.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  olympus completions bash > ~/.local/share/bash-completion/completions/olympus
  olympus completions zsh > ~/.zfunc/_olympus
  olympus completions fish > ~/.config/fish/completions/olympus.fish")]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff), or write one per subcommand into DIR.
    #[command(after_help = "Examples:
  olympus man | man -l -
  olympus man --dir /usr/local/share/man/man1   # olympus.1, olympus-run.1, ...")]
    Man {
        /// Write olympus.1 and olympus-SUBCOMMAND.1 here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
struct InventorySources {
    /// Inventory source: a file, a directory, or a comma-separated host list ('web1,web2,').
    /// May be given several times. Without it, only the implicit localhost exists.
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE")]
    inventory: Vec<String>,
    /// Narrow the hosts further with a pattern; '@FILE' reads patterns from a file.
    #[arg(short = 'l', long, value_name = "PATTERN")]
    limit: Option<String>,
    /// File holding the vault password (an executable file prints it). May be given
    /// several times [default: vault_password_file in ansible.cfg].
    #[arg(long = "vault-password-file", value_name = "FILE")]
    vault_password_file: Vec<PathBuf>,
    /// A vault password for a vault id: ID@FILE, ID@prompt, FILE or prompt. May be given
    /// several times.
    #[arg(long = "vault-id", value_name = "[ID@]SOURCE")]
    vault_id: Vec<String>,
    /// Ask for the vault password on the terminal.
    #[arg(short = 'J', long)]
    ask_vault_pass: bool,
}

impl InventorySources {
    /// ansible.cfg's (or ANSIBLE_INVENTORY's) inventory, when -i is not given.
    fn apply(&mut self, cfg: &olympus::config::AnsibleConfig) {
        if self.inventory.is_empty() {
            self.inventory = cfg.inventory.clone();
        }
        // As ansible-core: the configured file is used beside --vault-id and
        // --ask-vault-pass, unless --vault-password-file names others.
        if self.vault_password_file.is_empty() {
            self.vault_password_file
                .extend(cfg.vault_password_file.clone());
        }
    }

    /// The inventory sources and `--limit`, for the library.
    fn sources(&self) -> Sources {
        Sources {
            inventory: self.inventory.clone(),
            limit: self.limit.clone(),
        }
    }

    /// The vault passwords the options give, for every file read after this.
    fn install_vault(&self) -> Result<(), Error> {
        let mut sources: Vec<(Option<String>, String)> = self
            .vault_password_file
            .iter()
            .map(|f| (None, f.to_string_lossy().into_owned()))
            .collect();
        for v in &self.vault_id {
            match v.split_once('@') {
                Some((id, src)) => sources.push((Some(id.to_string()), src.to_string())),
                None => sources.push((None, v.clone())),
            }
        }
        if self.ask_vault_pass {
            sources.push((None, "prompt".into()));
        }
        let mut passwords = Vec::new();
        for (id, src) in sources {
            if src == "prompt" {
                let label = id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
                let secret = rpassword::prompt_password(format!("Vault password{label}: "))
                    .map_err(|e| {
                        Error::BadInput(format!("cannot ask for the vault password ({e}); without a terminal, use --vault-password-file"))
                    })?;
                passwords.push(olympus::vault::Password::new(id, secret.into_bytes()));
            } else {
                passwords.push(
                    olympus::vault::Password::from_file(id, std::path::Path::new(&src))
                        .map_err(|e| Error::BadInput(e.to_string()))?,
                );
            }
        }
        olympus::vault::set_passwords(passwords);
        Ok(())
    }
}

impl ConnectionArgs {
    /// ansible.cfg and ANSIBLE_* settings, for what the command line does not give.
    fn apply(&mut self, cfg: &olympus::config::AnsibleConfig) {
        self.forks = self.forks.or(cfg.forks);
        self.user = self.user.take().or_else(|| cfg.remote_user.clone());
        self.private_key = self
            .private_key
            .take()
            .or_else(|| cfg.private_key_file.clone());
        self.connect_timeout = self.connect_timeout.or(cfg.timeout);
        if self.host_key_checking.is_none() {
            self.host_key_checking = cfg.host_key_checking.map(|on| {
                if on {
                    HostKeyCheckingArg::Strict
                } else {
                    HostKeyCheckingArg::Off
                }
            });
        }
        self.become_ |= cfg.become_ == Some(true);
        self.become_user = self.become_user.take().or_else(|| cfg.become_user.clone());
        if self.become_method.is_none() {
            self.become_method = match cfg.become_method.as_deref() {
                Some("su") => Some(BecomeMethod::Su),
                Some("sudo") => Some(BecomeMethod::Sudo),
                _ => None,
            };
        }
        self.ask_become_pass |= cfg.become_ask_pass == Some(true);
    }
}

/// Where olympus keeps its state (the kill switch).
#[derive(Args, Debug)]
struct StateArgs {
    /// The state directory [default: $XDG_STATE_HOME/olympus, else ~/.local/state/olympus].
    #[arg(long, value_name = "DIR", env = "OLYMPUS_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Keep the state (kill switch, heal's lock, evaluations, cooldowns, history) in
    /// PostgreSQL instead, shared by every olympus given the same URL; wins over
    /// --state-dir (docs/scale-out.md).
    #[arg(
        long = "state",
        value_name = "URL",
        env = "OLYMPUS_STATE_URL",
        hide_env_values = true
    )]
    state_url: Option<String>,
}

impl StateArgs {
    fn open(&self) -> Result<std::sync::Arc<dyn olympus::state::Store>, Error> {
        olympus::app::lock::open(self.state_url.as_deref(), self.state_dir.as_deref())
    }
}

#[derive(Args, Debug)]
struct LockArgs {
    /// Why (required to engage): shown to everyone the switch stops.
    #[arg(long, value_name = "TEXT", required_unless_present = "status")]
    reason: Option<String>,
    /// Only show whether the switch is engaged, by whom, when and why.
    #[arg(long, conflicts_with = "reason")]
    status: bool,
    #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
    output: ExecOutputFormat,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args, Debug)]
struct HealArgs {
    /// The rules file (docs/heal.md).
    #[arg(required_unless_present = "status")]
    rules: Option<PathBuf>,
    /// Show the controllers sharing the state (--state postgres://…): which one leads and
    /// which stand by.
    #[arg(long, conflicts_with_all = ["once", "watch"])]
    status: bool,
    /// With --watch on a shared state (--state postgres://…): how long a leader cut off
    /// from the database keeps the lead before another takes over (standbys try every
    /// third of it).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15s",
        requires = "watch"
    )]
    lease: String,
    /// Evaluate every check once, act, and exit (for cron and systemd timers).
    #[arg(long)]
    once: bool,
    /// Run as a service: a pass every --interval (and at once on an Alertmanager webhook
    /// POST to --listen); SIGHUP starts a pass now (rules are re-read every pass); SIGTERM
    /// stops, recording any action it cuts short as interrupted.
    #[arg(long, conflicts_with = "once")]
    watch: bool,
    /// With --watch: time between passes.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        requires = "watch"
    )]
    interval: String,
    /// With --watch: accept Alertmanager webhook POSTs on ADDR (e.g. 127.0.0.1:9095); each
    /// starts a pass at once.
    #[arg(long, value_name = "ADDR", requires = "watch")]
    listen: Option<std::net::SocketAddr>,
    /// Decide and show what would run and why; record and run nothing. Per-host sources
    /// (command, log, journal) still run their probes on the hosts.
    #[arg(long)]
    dry_run: bool,
    /// Run PROGRAM for each event (an action's end, max_hosts exceeded, the kill switch
    /// engaged by heal): the event as JSON on stdin and as OLYMPUS_* variables. Repeatable.
    #[arg(long, value_name = "PROGRAM")]
    notify_exec: Vec<std::path::PathBuf>,
    /// POST each event's JSON to URL (a chat or paging webhook). Repeatable.
    #[arg(long, value_name = "URL")]
    notify_url: Vec<String>,
    #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
    output: ExecOutputFormat,
    /// Look for roles in DIR too (as `run --roles-path`).
    #[arg(long = "roles-path", value_name = "DIR")]
    roles_path: Vec<String>,
    #[command(flatten)]
    sources: InventorySources,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Write (and enable) a systemd service and timer, or a crontab line, that run
    /// `olympus heal RULES --once`.
    #[command(after_help = "Examples:
  olympus schedule install heal/rules.yml -i inventory/ --every 5m            # systemd, system-wide
  olympus schedule install heal/rules.yml -i inventory/ --every 1m --user     # systemd --user
  olympus schedule install heal/rules.yml -i inventory/ --every 5m --cron     # /etc/cron.d
  olympus schedule install heal/rules.yml --every 5m --unit-dir ./units       # write only

The job runs in the current directory (ansible.cfg is found as now) with this state directory,
so `olympus lock` here stops it.")]
    Install(ScheduleInstallArgs),
    /// Remove what `schedule install` wrote for RULES (or --name).
    Remove(ScheduleRemoveArgs),
    /// Show olympus's scheduled jobs.
    Show(ScheduleWhere),
}

#[derive(Args, Debug)]
struct ScheduleWhere {
    /// A systemd timer [default when systemd runs].
    #[arg(long, conflicts_with = "cron")]
    systemd: bool,
    /// cron: /etc/cron.d, or your crontab with --user [default without systemd].
    #[arg(long)]
    cron: bool,
    /// Your own: `systemctl --user` units or your crontab.
    #[arg(long)]
    user: bool,
    /// Write the systemd units into DIR and enable nothing.
    #[arg(long, value_name = "DIR", conflicts_with = "cron")]
    unit_dir: Option<PathBuf>,
    /// The cron.d directory [default: /etc/cron.d].
    #[arg(long, value_name = "DIR", conflicts_with = "systemd")]
    cron_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ScheduleInstallArgs {
    /// The rules file.
    rules: PathBuf,
    /// How often: minutes dividing an hour (5m), hours dividing a day (2h), or 1d.
    #[arg(long, value_name = "DURATION")]
    every: String,
    /// Inventory sources for heal (as `-i`); ansible.cfg's applies too.
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE")]
    inventory: Vec<String>,
    /// The job's name [default: olympus-heal-<rules file name>].
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    place: ScheduleWhere,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args, Debug)]
struct ScheduleRemoveArgs {
    /// The rules file the job was installed for.
    #[arg(required_unless_present = "name")]
    rules: Option<PathBuf>,
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    place: ScheduleWhere,
}

#[derive(Args, Debug)]
struct HistoryArgs {
    /// Only what happened in this last stretch of time (30m, 12h, 1d).
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// Only this check.
    #[arg(long, value_name = "NAME")]
    rule: Option<String>,
    /// Only this host.
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
    output: ExecOutputFormat,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ReportArgs {
    #[command(subcommand)]
    command: Option<ReportCommand>,
    /// A run's JSON (`olympus run --output json`; `-` reads stdin).
    #[arg(value_name = "RUN_JSON", required_unless_present = "history")]
    run: Option<PathBuf>,
    /// Where the page is written.
    #[arg(long, value_name = "FILE", required = true)]
    html: Option<PathBuf>,
    /// Add heal's evaluations and actions (from the state directory).
    #[arg(long)]
    history: bool,
    /// With --history: only this last stretch of time (30m, 12h, 1d).
    #[arg(long, value_name = "DURATION", requires = "history")]
    since: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Join the `--output json` of every shard of an `olympus run --shard I/N`: print one
    /// PLAY RECAP (or, with --output json, one run's JSON) and exit as the whole run would.
    #[command(
        after_help = "Exit codes: those of `olympus run` for the whole run (0 ok, 2 a host failed, 4 a
host unreachable, 5 halted by the kill switch, 99 interrupted); 3 when the files are not
every shard of one run, each once (a shard missing, twice, unfinished, or a host in two)."
    )]
    Merge {
        /// Each shard's JSON, one file per shard, all N of them (`-` reads stdin).
        #[arg(value_name = "SHARD_JSON", required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
        output: ExecOutputFormat,
    },
}

#[derive(Args, Debug)]
struct UnlockArgs {
    #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
    output: ExecOutputFormat,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Playbook files to run, in order.
    #[arg(required = true)]
    playbooks: Vec<PathBuf>,
    #[command(flatten)]
    sources: InventorySources,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Change nothing; report what would change.
    #[arg(short = 'C', long)]
    check: bool,
    /// Show the differences files would get.
    #[arg(short = 'D', long)]
    diff: bool,
    /// Extra variables (highest precedence): key=value ..., a YAML/JSON mapping, or @FILE.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    extra_vars: Vec<String>,
    /// Only run tasks with these tags (comma-separated).
    #[arg(short = 't', long, value_delimiter = ',', value_name = "TAGS")]
    tags: Vec<String>,
    /// Skip tasks with these tags (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    skip_tags: Vec<String>,
    /// Run notified handlers even on hosts that failed.
    #[arg(long)]
    force_handlers: bool,
    /// Start at the task with this name.
    #[arg(long, value_name = "NAME")]
    start_at_task: Option<String>,
    /// Only list the hosts each play would run on.
    #[arg(long)]
    list_hosts: bool,
    /// Only list the tasks each play would run.
    #[arg(long)]
    list_tasks: bool,
    /// Only check the playbooks' syntax.
    #[arg(long)]
    syntax_check: bool,
    /// text: Ansible-style lines; json: one JSON document for the run, printed at the end.
    #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
    output: ExecOutputFormat,
    /// Also write a JUnit XML report to FILE (one testcase per task and host).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write the run report to FILE when the run ends: one self-contained HTML page
    /// (see `olympus report`).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// After the recap, list the slowest tasks and the hosts that spent the most time in
    /// tasks (what Ansible's profile_tasks callback shows; on stderr with --output json).
    #[arg(long)]
    profile: bool,
    /// Run only shard I of N (1 <= I <= N): each play works on a fixed share of its hosts,
    /// chosen by a hash of each host's name, so N runs (a CI matrix, a Kubernetes Indexed
    /// Job) cover every host once; `olympus report merge` joins their --output json.
    /// run_once, any_errors_fatal, max_fail_percentage and serial as a number are refused
    /// (docs/scale-out.md).
    #[arg(long, value_name = "I/N")]
    shard: Option<olympus::shard::Shard>,
    /// Look for roles in DIR too, after `roles/` beside the playbook and before
    /// roles_path in ansible.cfg (ANSIBLE_ROLES_PATH). May be given several times; a
    /// colon-separated list is split.
    #[arg(long = "roles-path", value_name = "DIR")]
    roles_path: Vec<String>,
    /// Run even though the kill switch is engaged (recorded in the state), and do not stop
    /// when it is engaged during the run.
    #[arg(long)]
    override_lock: bool,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum HostKeyCheckingArg {
    /// Refuse unknown and changed host keys (the default).
    Strict,
    /// Record unknown host keys; refuse changed ones.
    AcceptNew,
    /// Accept any host key (unsafe).
    Off,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BecomeMethod {
    Sudo,
    Su,
}

/// How to reach hosts; the inventory's ansible_* variables win over -u and --private-key.
#[derive(Args, Debug)]
struct ConnectionArgs {
    /// Hosts worked on at once [default: 50, or forks in ansible.cfg].
    #[arg(short = 'f', long, value_name = "N")]
    forks: Option<usize>,
    /// Log in as USER where the inventory sets no ansible_user.
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Private key file where the inventory sets no ansible_ssh_private_key_file.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// Read and record host keys in FILE instead of ~/.ssh/known_hosts.
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// What to do with unknown host keys [default: strict, or StrictHostKeyChecking from ssh_config].
    #[arg(long, value_enum)]
    host_key_checking: Option<HostKeyCheckingArg>,
    /// OpenSSH client config to honour [default: ~/.ssh/config].
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Bytes kept of each command's stdout and of its stderr, per host (K, M and G
    /// suffixes; 64K to 1G). The rest is dropped and the result is marked as cut, so memory
    /// stays bounded by forks × this cap whatever hosts print.
    #[arg(long, default_value = "4M", value_name = "SIZE", value_parser = parse_size)]
    output_cap: usize,
    /// Seconds to wait for a connection (TCP, handshake and authentication) [default: 10,
    /// or timeout in ansible.cfg].
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<u64>,
    /// Open a new SSH session for every command instead of feeding commands to one
    /// persistent remote shell per host (slower; for hosts where that shell misbehaves).
    #[arg(long)]
    no_persistent_shell: bool,
    /// Ask for the SSH password (also used as the passphrase of encrypted keys).
    /// Unattended: set OLYMPUS_PASSWORD / OLYMPUS_KEY_PASSPHRASE instead.
    #[arg(short = 'k', long)]
    ask_pass: bool,
    /// Ask for the become (sudo/su) password. Unattended: set OLYMPUS_BECOME_PASSWORD.
    #[arg(short = 'K', long)]
    ask_become_pass: bool,
    /// Run as another user (root by default) through sudo or su.
    #[arg(short = 'b', long = "become")]
    become_: bool,
    /// The user to become [default: root].
    #[arg(long, value_name = "USER")]
    become_user: Option<String>,
    /// How to become [default: sudo].
    #[arg(long, value_enum)]
    become_method: Option<BecomeMethod>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExecOutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// Which hosts: a host pattern such as 'all', 'web:&prod' or '~db\d+'.
    pattern: String,
    #[command(flatten)]
    sources: InventorySources,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Give up on a host's command after SECS seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// One block per host instead of folding identical results together.
    #[arg(long)]
    no_fold: bool,
    /// text: folded blocks for people; json: one JSON object per host per line.
    #[arg(long, value_enum, default_value_t = ExecOutputFormat::Text)]
    output: ExecOutputFormat,
    /// Only list the hosts the pattern selects.
    #[arg(long)]
    list_hosts: bool,
    /// The command to run, after '--' (given to /bin/sh -c on each host).
    #[arg(last = true, required_unless_present = "list_hosts")]
    command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("view").required(true).args(["list", "host", "graph"]))]
struct InventoryArgs {
    #[command(flatten)]
    sources: InventorySources,
    /// Every group and host, with variables, as JSON (like ansible-inventory --list).
    #[arg(long)]
    list: bool,
    /// One host's variables as JSON.
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// The group tree, from GROUP (default all).
    #[arg(long, value_name = "GROUP", num_args = 0..=1, default_missing_value = "all")]
    graph: Option<String>,
    /// With --graph: show variables too.
    #[arg(long)]
    vars: bool,
    /// With --list/--host: variables where they are defined, not merged per host.
    #[arg(long)]
    export: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; usage errors are bad input (exit 3).
            let result = if e.use_stderr() {
                Err(Error::BadInput(String::new()))
            } else {
                Ok(Outcome::Ok)
            };
            let _ = e.print();
            return exit_with(&result);
        }
    };
    let color = match cli.color {
        Color::Auto => ColorChoice::Auto,
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
    };
    let verbosity =
        i8::try_from(cli.verbose).unwrap_or(i8::MAX) - i8::try_from(cli.quiet).unwrap_or(i8::MAX);
    // heal runs unattended: what it does is logged (info) and, off a terminal, as JSON lines.
    let healing = matches!(cli.command, Command::Heal(_));
    let verbosity = if healing && cli.quiet == 0 {
        verbosity.max(1)
    } else {
        verbosity
    };
    let json = match cli.log_format {
        Some(f) => matches!(f, LogFormat::Json),
        None => healing && !std::io::stderr().is_terminal(),
    };
    output::init_logging(verbosity, color, json);
    let result = match cli.command {
        Command::Completions { shell } => cmd_completions(shell),
        Command::Man { dir } => cmd_man(dir.as_deref()),
        command => ansible_config().and_then(|config| match command {
            Command::Inventory(mut args) => {
                args.sources.apply(&config);
                cmd_inventory(args)
            }
            Command::Run(mut args) => {
                args.sources.apply(&config);
                args.connection.apply(&config);
                cmd_run(args, cli.verbose, color, config)
            }
            Command::Exec(mut args) => {
                args.sources.apply(&config);
                args.connection.apply(&config);
                cmd_exec(args, cli.quiet > 0, color)
            }
            Command::Lock(args) => {
                let action = match args.reason {
                    Some(reason) if !args.status => Action::Engage { reason },
                    _ => Action::Status,
                };
                cmd_lock(&action, &args.state, args.output)
            }
            Command::Unlock(args) => cmd_lock(&Action::Release, &args.state, args.output),
            Command::Heal(mut args) => {
                args.sources.apply(&config);
                args.connection.apply(&config);
                cmd_heal(args, &config)
            }
            Command::History(args) => cmd_history(args),
            Command::Report(args) => cmd_report(args, color),
            Command::Schedule(cmd) => cmd_schedule(cmd),
            Command::Completions { .. } | Command::Man { .. } => Ok(Outcome::Ok),
        }),
    };
    if let Err(e) = &result {
        let text = e.to_string();
        if !text.is_empty() {
            eprintln!("error: {text}");
        }
    }
    exit_with(&result)
}

/// The process's exit status: [`olympus::exit::code`] decides.
fn exit_with(result: &Result<Outcome, Error>) -> ExitCode {
    ExitCode::from(u8::try_from(olympus::exit::code(result)).unwrap_or(1))
}

/// The ansible.cfg ansible-core would read (and `ANSIBLE_*`).
fn ansible_config() -> Result<olympus::config::AnsibleConfig, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let c = olympus::config::load(&|k| std::env::var(k).ok(), &cwd, home.as_deref())
        .map_err(|e| Error::BadInput(e.to_string()))?;
    if let Some(f) = &c.file {
        tracing::info!("using {}", f.display());
    }
    for w in &c.warnings {
        tracing::warn!("{w}");
    }
    Ok(c)
}

fn cmd_inventory(args: InventoryArgs) -> Result<Outcome, Error> {
    args.sources.install_vault()?;
    let view = if args.list {
        View::List
    } else if let Some(host) = &args.host {
        View::Host(host.clone())
    } else if let Some(group) = &args.graph {
        View::Graph {
            group: group.clone(),
            vars: args.vars,
        }
    } else {
        return Err(Error::BadInput("give --list, --host or --graph".into()));
    };
    let text = olympus::app::inventory::show(&InventoryRequest {
        sources: args.sources.sources(),
        view,
        export: args.export,
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Error::Internal(format!("cannot write: {e}")))?;
    Ok(Outcome::Ok)
}

/// `--become` and friends, with the become password already read.
fn escalation_from(args: &ConnectionArgs, password: Option<Secret>) -> Option<Escalation> {
    args.become_.then(|| Escalation {
        method: match args.become_method {
            Some(BecomeMethod::Su) => EscalationMethod::Su,
            _ => EscalationMethod::Sudo,
        },
        user: args.become_user.clone().unwrap_or_else(|| "root".into()),
        password,
    })
}

/// Reads a secret: from the terminal when asked to (`ask`), else from an environment variable.
/// A password from the environment variable `env`, else asked for when `ask` (-k/-K): a
/// cron job or CI step that sets the variable never waits for a terminal.
fn secret(ask: bool, prompt: &str, env: &str) -> Result<Option<Secret>, Error> {
    if let Some(v) = std::env::var(env).ok().filter(|v| !v.is_empty()) {
        return Ok(Some(Secret::new(v)));
    }
    if ask {
        return rpassword::prompt_password(prompt)
            .map(|p| Some(Secret::new(p)))
            .map_err(|e| {
                Error::BadInput(format!(
                    "cannot ask for a password ({e}); without a terminal, set {env}"
                ))
            });
    }
    Ok(None)
}

/// `--output-cap`: a byte count with an optional K/M/G suffix (powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s
        .trim()
        .trim_end_matches(['B', 'b'])
        .trim_end_matches(['i']);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 512K, 4M, 1G)"))?;
    let bytes = n.saturating_mul(mult);
    if !(64 << 10..=1 << 30).contains(&bytes) {
        return Err(format!("'{s}' is out of range: from 64K to 1G"));
    }
    usize::try_from(bytes).map_err(|e| e.to_string())
}

/// How to reach hosts: the options, with the passwords asked for (or read from the
/// environment) here.
fn connection(args: &ConnectionArgs) -> Result<Connection, Error> {
    let ssh_config = olympus::app::setup::ssh_config_from(args.ssh_config.as_deref())?;
    let password = secret(args.ask_pass, "SSH password: ", "OLYMPUS_PASSWORD")?;
    let key_passphrase = match std::env::var("OLYMPUS_KEY_PASSPHRASE") {
        Ok(p) if !p.is_empty() => Some(Secret::new(p)),
        _ => password.clone(),
    };
    let options = ConnectOptions {
        known_hosts: args.known_hosts.clone(),
        host_key_checking: args.host_key_checking.map(|h| match h {
            HostKeyCheckingArg::Strict => HostKeyChecking::Strict,
            HostKeyCheckingArg::AcceptNew => HostKeyChecking::AcceptNew,
            HostKeyCheckingArg::Off => HostKeyChecking::Off,
        }),
        ssh_config,
        connect_timeout: Duration::from_secs(args.connect_timeout.unwrap_or(10).max(1)),
        key_passphrase,
        password,
        become_password: secret(
            args.ask_become_pass,
            "BECOME password: ",
            "OLYMPUS_BECOME_PASSWORD",
        )?,
        persistent_shell: !args.no_persistent_shell,
        output_cap: args.output_cap,
        ..ConnectOptions::default()
    };
    let escalation = escalation_from(args, options.become_password.clone());
    Ok(Connection {
        options,
        defaults: HostDefaults {
            user: args.user.clone(),
            private_key: args.private_key.clone(),
        },
        escalation,
        forks: args.forks.unwrap_or(DEFAULT_FORKS),
    })
}

/// exec's progress bar on a terminal.
struct Bar(ProgressBar);

impl olympus::app::exec::Progress for Bar {
    fn start(&self, hosts: usize) {
        self.0.set_length(hosts as u64);
        self.0.set_style(
            ProgressStyle::with_template("{spinner} exec {bar:30} {pos}/{len} hosts {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.0.enable_steady_tick(Duration::from_millis(100));
    }

    fn host_done(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn cmd_exec(args: ExecArgs, quiet: bool, color: ColorChoice) -> Result<Outcome, Error> {
    args.sources.install_vault()?;
    let terminal = !quiet && std::io::stderr().is_terminal();
    let progress: Option<std::sync::Arc<dyn olympus::app::exec::Progress>> =
        terminal.then(|| std::sync::Arc::new(Bar(ProgressBar::new(0))) as _);
    let report = match args.output {
        ExecOutputFormat::Json => ExecReport::Json,
        ExecOutputFormat::Text => ExecReport::Text {
            color: color.for_stdout(),
            fold: !args.no_fold,
        },
    };
    // Hosts are listed before any password is asked for.
    let connection = if args.list_hosts {
        Connection::for_listing()
    } else {
        connection(&args.connection)?
    };
    olympus::app::exec::exec(ExecRequest {
        pattern: args.pattern.clone(),
        command: args.command.join(" "),
        sources: args.sources.sources(),
        connection,
        timeout: args.timeout.map(Duration::from_secs),
        report,
        list_hosts: args.list_hosts,
        progress,
        summary_to_stderr: terminal,
        stop: olympus::stop::Stop::new(),
        on_signals: true,
    })
}

/// vars_prompt answers asked on the terminal.
struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask(&self, p: &Prompt<'_>) -> Option<String> {
        let shown = match p.default {
            Some(d) if !p.private => format!("{} [{d}]: ", p.text),
            _ => format!("{}: ", p.text),
        };
        if p.private {
            rpassword::prompt_password(&shown).ok()
        } else {
            eprint!("{shown}");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .ok()
                .map(|_| line.trim_end_matches(['\n', '\r']).to_string())
        }
    }
}

fn cmd_run(
    args: RunArgs,
    verbose: u8,
    color: ColorChoice,
    config: olympus::config::AnsibleConfig,
) -> Result<Outcome, Error> {
    // Vaulted playbook files and values are read with these passwords.
    args.sources.install_vault()?;
    let listing = Listing {
        syntax_check: args.syntax_check,
        hosts: args.list_hosts,
        tasks: args.list_tasks,
    };
    // Listings and syntax checks ask for no connection password.
    let connection = if listing.syntax_check || listing.hosts || listing.tasks {
        Connection::for_listing()
    } else {
        connection(&args.connection)?
    };
    // The kill switch is read from the state only when hosts are to be touched.
    let kill_switch = if listing.syntax_check || listing.hosts || listing.tasks {
        None
    } else {
        Some(KillSwitch {
            // Fails closed: a run that cannot read the switch does not start.
            store: args.state.open().map_err(|e| {
                Error::Locked(format!("cannot read the kill switch, so nothing runs: {e}"))
            })?,
            override_lock: args.override_lock,
            poll: Duration::from_secs(1),
        })
    };
    let mut roles_path = split_roles_path(&args.roles_path);
    roles_path.extend(config.roles_path.iter().cloned());
    let req = RunRequest {
        playbooks: args.playbooks.clone(),
        sources: args.sources.sources(),
        roles_path,
        gather_explicit: config.gathering.as_deref() == Some("explicit"),
        listing,
        check: args.check,
        diff: args.diff,
        extra_vars: args.extra_vars.clone(),
        data_vars: Default::default(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        force_handlers: args.force_handlers,
        start_at_task: args.start_at_task.clone(),
        connection,
        report: match args.output {
            ExecOutputFormat::Text => RunReport::Text {
                color: color.for_stdout(),
                // The bar goes to stderr, so it shows while stdout is piped to a file too.
                progress: std::io::stderr().is_terminal(),
                width: terminal_size::terminal_size_of(std::io::stdout())
                    .map_or(0, |(w, _)| usize::from(w.0)),
            },
            ExecOutputFormat::Json => RunReport::Json,
        },
        junit: args.junit.clone(),
        report_html: args.report.clone(),
        profile: args.profile,
        verbosity: verbose,
        stop: olympus::stop::Stop::new(),
        on_signals: true,
        kill_switch,
        shard: args.shard,
    };
    let prompter = std::io::stdin().is_terminal().then_some(&TerminalPrompter);
    olympus::app::run::run(req, prompter.map(|p| p as &dyn Prompter)).map(|ran| ran.outcome)
}

fn cmd_lock(
    action: &Action,
    state: &StateArgs,
    output: ExecOutputFormat,
) -> Result<Outcome, Error> {
    let store = state.open()?;
    let by = olympus::state::who();
    let json = matches!(output, ExecOutputFormat::Json);
    print!("{}", olympus::app::lock::act(&*store, action, &by, json)?);
    Ok(Outcome::Ok)
}

fn cmd_heal(args: HealArgs, config: &olympus::config::AnsibleConfig) -> Result<Outcome, Error> {
    if args.status {
        let store = args.state.open()?;
        return olympus::app::heal::status(&*store, matches!(args.output, ExecOutputFormat::Json))
            .map(|text| {
                print!("{text}");
                Outcome::Ok
            });
    }
    if !args.once && !args.watch {
        return Err(Error::BadInput(
            "heal needs --once (one pass, for a timer) or --watch (a service)".into(),
        ));
    }
    let Some(rules) = args.rules.clone() else {
        return Err(Error::BadInput("heal needs its rules file".into()));
    };
    args.sources.install_vault()?;
    let mut roles_path = split_roles_path(&args.roles_path);
    roles_path.extend(config.roles_path.iter().cloned());
    if let Some(bad) = args
        .notify_url
        .iter()
        .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        return Err(Error::BadInput(format!(
            "--notify-url must be an http:// or https:// URL, not '{bad}'"
        )));
    }
    let req = HealRequest {
        rules,
        sources: args.sources.sources(),
        roles_path,
        connection: connection(&args.connection)?,
        store: args.state.open()?,
        dry_run: args.dry_run,
        stop: olympus::stop::Stop::new(),
        lock_poll: Duration::from_secs(1),
        on_signals: !args.watch,
        notify: olympus::app::notify::Notify {
            exec: args.notify_exec.clone(),
            url: args.notify_url.clone(),
            timeout: Duration::from_secs(30),
        },
    };
    let show = |pass: &olympus::app::heal::Pass| -> Result<(), Error> {
        match args.output {
            ExecOutputFormat::Text => print!("{}", output::heal::pass_text(pass)),
            ExecOutputFormat::Json => println!(
                "{}",
                serde_json::to_string(pass).map_err(|e| Error::Internal(e.to_string()))?
            ),
        }
        let _ = std::io::stdout().flush();
        Ok(())
    };
    if args.watch {
        let interval = olympus::heal::rules::parse_duration(&args.interval)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "--interval {}: expected a duration such as 30s or 5m",
                    args.interval
                ))
            })?;
        let lease = olympus::heal::rules::parse_duration(&args.lease)
            .filter(|d| *d >= Duration::from_secs(3) && *d <= Duration::from_secs(3600))
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "--lease {}: expected a duration from 3s to 1h, such as 15s",
                    args.lease
                ))
            })?;
        return olympus::app::heal::watch(&req, interval, lease, args.listen, &mut |pass| {
            if let Err(e) = show(pass) {
                tracing::error!("{e}");
            }
        });
    }
    let pass = olympus::app::heal::once(&req)?;
    show(&pass)?;
    let failed: Vec<String> = pass
        .checks
        .iter()
        .filter(|c| c.error.is_some())
        .map(|c| c.name.clone())
        .collect();
    if failed.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(Error::Internal(format!(
            "{} of {} checks could not be evaluated: {}",
            failed.len(),
            pass.checks.len(),
            failed.join(", ")
        )))
    }
}

/// `--since 1d` as the moment it names.
fn since(arg: Option<&str>) -> Result<Option<jiff::Timestamp>, Error> {
    let Some(s) = arg else {
        return Ok(None);
    };
    let d = olympus::heal::rules::parse_duration(s).ok_or_else(|| {
        Error::BadInput(format!(
            "--since {s}: expected a duration such as 30m, 12h or 1d"
        ))
    })?;
    let back = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    Ok(Some(
        jiff::Timestamp::now()
            .checked_sub(back)
            .unwrap_or(jiff::Timestamp::MIN),
    ))
}

fn cmd_report(args: ReportArgs, color: ColorChoice) -> Result<Outcome, Error> {
    if let Some(ReportCommand::Merge { files, output }) = &args.command {
        return cmd_report_merge(files, *output, color);
    }
    let Some(html) = &args.html else {
        return Err(Error::BadInput("report: --html FILE is needed".into()));
    };
    let run = args
        .run
        .as_deref()
        .map(olympus::app::report::read_run)
        .transpose()?;
    let history = if args.history {
        let store = args.state.open()?;
        Some(olympus::app::heal::history(
            &*store,
            &olympus::state::HistoryFilter {
                since: since(args.since.as_deref())?,
                rule: None,
                host: None,
            },
        )?)
    } else {
        None
    };
    olympus::app::report::write(html, run.as_ref(), history.as_deref())?;
    Ok(Outcome::Ok)
}

fn cmd_report_merge(
    files: &[PathBuf],
    output: ExecOutputFormat,
    color: ColorChoice,
) -> Result<Outcome, Error> {
    use olympus::engine::events::{Event, Reporter};
    let merged = olympus::app::report::merge_shards(files)?;
    match output {
        ExecOutputFormat::Json => {
            let text = serde_json::to_string_pretty(&merged.doc)
                .map_err(|e| Error::Internal(e.to_string()))?;
            println!("{text}");
        }
        ExecOutputFormat::Text => {
            println!(
                "{} shards merged: {} hosts",
                merged.shards,
                merged.result.recap.len()
            );
            let text =
                olympus::output::play::TextReporter::new(std::io::stdout(), color.for_stdout(), 0);
            if let Some(reason) = &merged.result.halted {
                text.event(Event::Halted { reason });
            }
            if let Some(hosts) = merged.doc["interrupted"]["hosts"].as_array() {
                let hosts: Vec<String> = hosts
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect();
                text.event(Event::Interrupted { hosts: &hosts });
            }
            text.event(Event::Recap(&merged.result.recap));
        }
    }
    Ok(merged.result.outcome())
}

fn cmd_history(args: HistoryArgs) -> Result<Outcome, Error> {
    let since = since(args.since.as_deref())?;
    let store = args.state.open()?;
    let entries = olympus::app::heal::history(
        &*store,
        &olympus::state::HistoryFilter {
            since,
            rule: args.rule.clone(),
            host: args.host.clone(),
        },
    )?;
    match args.output {
        ExecOutputFormat::Text => print!("{}", output::heal::history_text(&entries)),
        ExecOutputFormat::Json => println!(
            "{}",
            serde_json::to_string(&entries).map_err(|e| Error::Internal(e.to_string()))?
        ),
    }
    Ok(Outcome::Ok)
}

fn scheduler(w: &ScheduleWhere) -> Scheduler {
    use std::path::Path;
    let systemd =
        w.systemd || w.unit_dir.is_some() || (!w.cron && Path::new("/run/systemd/system").is_dir());
    if systemd {
        let dir = w.unit_dir.clone().unwrap_or_else(|| {
            if w.user {
                std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .unwrap_or_else(|| olympus::connection::ssh_config::home_dir().join(".config"))
                    .join("systemd/user")
            } else {
                PathBuf::from("/etc/systemd/system")
            }
        });
        Scheduler::Systemd {
            dir,
            user: w.user,
            enable: w.unit_dir.is_none(),
        }
    } else if w.user {
        Scheduler::CronUser
    } else {
        Scheduler::CronD {
            dir: w
                .cron_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/etc/cron.d")),
        }
    }
}

fn cmd_schedule(cmd: ScheduleCommand) -> Result<Outcome, Error> {
    use olympus::app::schedule;
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p).map_err(|e| Error::BadInput(format!("{}: {e}", p.display())))
    };
    let said = match cmd {
        ScheduleCommand::Install(args) => {
            // The job would not see the URL (cron and systemd start it without this
            // environment) and would act on another state than the one asked for.
            if args.state.state_url.is_some() {
                return Err(Error::BadInput(
                    "schedule install writes a job with a state directory; it does not carry --state/OLYMPUS_STATE_URL (the URL, with its password, would land in a unit file or crontab)\n  hint: for a PostgreSQL state, run `olympus heal RULES --watch` as a service with OLYMPUS_STATE_URL in an EnvironmentFile (docs/scale-out.md), or unset OLYMPUS_STATE_URL to schedule on this machine's state".into(),
                ));
            }
            let every = olympus::heal::rules::parse_duration(&args.every).ok_or_else(|| {
                Error::BadInput(format!(
                    "--every {}: expected a duration such as 5m",
                    args.every
                ))
            })?;
            if !args.rules.is_file() {
                return Err(Error::BadInput(format!(
                    "{}: no such rules file",
                    args.rules.display()
                )));
            }
            // Checked now, not at 3 a.m.
            olympus::heal::rules::Rules::load(&args.rules)
                .map_err(|e| Error::BadInput(e.to_string()))?;
            let inventory = args
                .inventory
                .iter()
                .map(|i| {
                    if std::path::Path::new(i).exists() {
                        absolute(std::path::Path::new(i)).map(|p| p.display().to_string())
                    } else {
                        Ok(i.clone())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let job = schedule::Job {
                name: args
                    .name
                    .clone()
                    .unwrap_or_else(|| schedule::default_name(&args.rules)),
                exe: std::env::current_exe()
                    .map_err(|e| Error::Internal(format!("where is olympus? {e}")))?,
                rules: absolute(&args.rules)?,
                inventory,
                state_dir: absolute(&olympus::state::dir(args.state.state_dir.as_deref()))?,
                workdir: std::env::current_dir()
                    .map_err(|e| Error::Internal(format!("current directory: {e}")))?,
                every,
            };
            schedule::install(&job, &scheduler(&args.place))?
        }
        ScheduleCommand::Remove(args) => {
            let name = match (&args.name, &args.rules) {
                (Some(n), _) => n.clone(),
                (None, Some(r)) => schedule::default_name(r),
                (None, None) => return Err(Error::BadInput("give RULES or --name".into())),
            };
            schedule::remove(&name, &scheduler(&args.place))?
        }
        ScheduleCommand::Show(w) => schedule::show(&scheduler(&w))?,
    };
    print!("{said}");
    Ok(Outcome::Ok)
}

fn split_roles_path(given: &[String]) -> Vec<PathBuf> {
    given
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn cmd_man(dir: Option<&std::path::Path>) -> Result<Outcome, Error> {
    let cmd = Cli::command();
    let written = match dir {
        Some(d) => clap_mangen::generate_to(cmd, d),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match written {
        // `olympus man | head`: the reader had enough.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Ok),
        Err(e) => Err(Error::BadInput(format!(
            "cannot write the manual page: {e}"
        ))),
        Ok(()) => Ok(Outcome::Ok),
    }
}

fn cmd_completions(shell: Shell) -> Result<Outcome, Error> {
    let mut cmd = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "olympus", &mut std::io::stdout());
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
