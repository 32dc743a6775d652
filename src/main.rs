//! The `olympus` command: a thin clap shell over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use olympus::connection::{
    ConnectOptions, Escalation, EscalationMethod, HostDefaults, HostKeyChecking, Secret, SshConfig,
    ssh_config,
};
use olympus::engine::adhoc::{self, AdhocRequest};
use olympus::inventory::{self, Inventory, render};
use olympus::output::{self, ColorChoice, exit};

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

Exit codes: 0 ok, 1 internal error, 3 bad input (a file that does not parse, a bad option or pattern)."
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
    /// Log format on stderr: text for people, json for unattended runs.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
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
max_fail_percentage or any_errors_fatal (the most serious one is given: 8, then 4, then 2);
3 bad input (playbook, inventory, option); 1 internal error.")]
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
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  olympus completions bash > ~/.local/share/bash-completion/completions/olympus
  olympus completions zsh > ~/.zfunc/_olympus
  olympus completions fish > ~/.config/fish/completions/olympus.fish")]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
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

/// Hosts worked on at once when neither -f nor ansible.cfg says.
const DEFAULT_FORKS: usize = 50;

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

    /// The vault passwords the options give, for every file read after this.
    fn install_vault(&self) -> Result<(), String> {
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
                        format!("cannot ask for the vault password ({e}); without a terminal, use --vault-password-file")
                    })?;
                passwords.push(olympus::vault::Password::new(id, secret.into_bytes()));
            } else {
                passwords.push(
                    olympus::vault::Password::from_file(id, std::path::Path::new(&src))
                        .map_err(|e| e.to_string())?,
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
    /// Look for roles in DIR too, after `roles/` beside the playbook and before
    /// roles_path in ansible.cfg (ANSIBLE_ROLES_PATH). May be given several times; a
    /// colon-separated list is split.
    #[arg(long = "roles-path", value_name = "DIR")]
    roles_path: Vec<String>,
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
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    };
    let color = match cli.color {
        Color::Auto => ColorChoice::Auto,
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
    };
    let verbosity =
        i8::try_from(cli.verbose).unwrap_or(i8::MAX) - i8::try_from(cli.quiet).unwrap_or(i8::MAX);
    output::init_logging(verbosity, color, matches!(cli.log_format, LogFormat::Json));

    let config = if matches!(cli.command, Command::Completions { .. }) {
        olympus::config::AnsibleConfig::default()
    } else {
        let cwd = std::env::current_dir().unwrap_or_default();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        match olympus::config::load(&|k| std::env::var(k).ok(), &cwd, home.as_deref()) {
            Ok(c) => {
                if let Some(f) = &c.file {
                    tracing::info!("using {}", f.display());
                }
                for w in &c.warnings {
                    tracing::warn!("{w}");
                }
                c
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(u8::try_from(exit::BAD_INPUT).unwrap_or(1));
            }
        }
    };
    let code = match cli.command {
        Command::Inventory(mut args) => {
            args.sources.apply(&config);
            cmd_inventory(args)
        }
        Command::Completions { shell } => cmd_completions(shell),
        Command::Run(mut args) => {
            args.sources.apply(&config);
            args.connection.apply(&config);
            let mut config = config;
            let given = args.roles_path.iter().flat_map(|p| p.split(':'));
            let mut roles_path: Vec<PathBuf> =
                given.filter(|p| !p.is_empty()).map(PathBuf::from).collect();
            roles_path.append(&mut config.roles_path);
            config.roles_path = roles_path;
            cmd_run(args, cli.verbose, color, &config)
        }
        Command::Exec(mut args) => {
            args.sources.apply(&config);
            args.connection.apply(&config);
            cmd_exec(args, cli.quiet > 0, color)
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn load_inventory(sources: &InventorySources) -> Result<Inventory, i32> {
    // Vaulted inventory variables and playbook files are read after this.
    sources.install_vault().map_err(|e| {
        eprintln!("error: {e}");
        exit::BAD_INPUT
    })?;
    let inv = Inventory::load(&sources.inventory).map_err(|e| {
        eprintln!("error: {e}");
        exit::BAD_INPUT
    })?;
    for w in inv.warnings() {
        tracing::warn!("{w}");
    }
    Ok(inv)
}

fn cmd_inventory(args: InventoryArgs) -> i32 {
    let inv = match load_inventory(&args.sources) {
        Ok(inv) => inv,
        Err(code) => return code,
    };
    let view = if args.export {
        render::VarsView::Export
    } else {
        render::VarsView::Merged
    };
    let text = if args.list {
        let available = match args.sources.limit.as_deref().map(|l| inv.limit_names(l)) {
            None => None,
            Some(Ok(names)) => Some(names),
            Some(Err(e)) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        };
        render::to_python_json(&render::list(&inv, available.as_ref(), view))
    } else if let Some(host) = &args.host {
        match render::host(&inv, host, view) {
            Some(v) => render::to_python_json(&v),
            None => {
                eprintln!("error: no host named '{host}' in the inventory");
                return exit::BAD_INPUT;
            }
        }
    } else if let Some(group) = &args.graph {
        match render::graph(&inv, group, args.vars, view) {
            Some(g) => g.trim_end().to_string(),
            None => {
                let hint =
                    olympus::suggest::did_you_mean(group, inv.groups().map(|g| g.name.as_str()));
                eprintln!(
                    "error: no group named '{group}' in the inventory{}",
                    if hint.is_empty() {
                        String::new()
                    } else {
                        format!("; {hint}")
                    }
                );
                return exit::BAD_INPUT;
            }
        }
    } else {
        return exit::BAD_INPUT;
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        return exit::INTERNAL;
    }
    exit::OK
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

/// `--limit`, with `@file` read; errors are reported and become exit 3.
fn limit_from(sources: &InventorySources) -> Result<Option<Vec<String>>, i32> {
    match sources
        .limit
        .as_deref()
        .map(inventory::pattern::parse_limit)
    {
        None => Ok(None),
        Some(Ok(l)) => Ok(Some(l)),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            Err(exit::BAD_INPUT)
        }
    }
}

/// Reads a secret: from the terminal when asked to (`ask`), else from an environment variable.
/// A password from the environment variable `env`, else asked for when `ask` (-k/-K): a
/// cron job or CI step that sets the variable never waits for a terminal.
fn secret(ask: bool, prompt: &str, env: &str) -> Result<Option<Secret>, String> {
    if let Some(v) = std::env::var(env).ok().filter(|v| !v.is_empty()) {
        return Ok(Some(Secret::new(v)));
    }
    if ask {
        return rpassword::prompt_password(prompt)
            .map(|p| Some(Secret::new(p)))
            .map_err(|e| {
                format!("cannot ask for a password ({e}); without a terminal, set {env}")
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

fn connect_options(args: &ConnectionArgs) -> Result<ConnectOptions, String> {
    let ssh_config = match &args.ssh_config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            SshConfig::parse(&text, p)
        }
        None => SshConfig::load(&ssh_config::home_dir().join(".ssh/config"))
            .map_err(|e| format!("~/.ssh/config: {e}"))?,
    };
    for w in &ssh_config.warnings {
        tracing::warn!("{w}");
    }
    let password = secret(args.ask_pass, "SSH password: ", "OLYMPUS_PASSWORD")?;
    let key_passphrase = match std::env::var("OLYMPUS_KEY_PASSPHRASE") {
        Ok(p) if !p.is_empty() => Some(Secret::new(p)),
        _ => password.clone(),
    };
    Ok(ConnectOptions {
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
    })
}

fn cmd_exec(args: ExecArgs, quiet: bool, color: ColorChoice) -> i32 {
    let inv = match load_inventory(&args.sources) {
        Ok(inv) => inv,
        Err(code) => return code,
    };
    let limit = match limit_from(&args.sources) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let selection = match inv.select(&args.pattern, limit.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    for p in &selection.unmatched {
        tracing::warn!("could not match host pattern '{p}', ignoring it");
    }
    if args.list_hosts {
        println!("  hosts ({}):", selection.hosts.len());
        for h in &selection.hosts {
            println!("    {}", h.name);
        }
        return exit::OK;
    }
    if selection.hosts.is_empty() {
        tracing::warn!("no hosts matched '{}', nothing to do", args.pattern);
        return exit::OK;
    }
    let opts = match connect_options(&args.connection) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let defaults = HostDefaults {
        user: args.connection.user.clone(),
        private_key: args.connection.private_key.clone(),
    };
    let names = selection.hosts.iter().map(|h| h.name.as_str());
    let targets = match olympus::engine::targets(&inv, names, &defaults, &opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let escalation = escalation_from(&args.connection, opts.become_password.clone());
    let budget = olympus::limits::raise_open_files();
    let forks = args.connection.forks.unwrap_or(DEFAULT_FORKS);
    if forks.min(targets.len()) as u64 > budget {
        eprintln!(
            "error: {}",
            olympus::limits::too_many(forks.min(targets.len()), budget)
        );
        return exit::BAD_INPUT;
    }
    let req = AdhocRequest {
        command: args.command.join(" "),
        forks: args.connection.forks.unwrap_or(DEFAULT_FORKS),
        timeout: args.timeout.map(Duration::from_secs),
        escalation,
    };
    let progress = if !quiet && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(targets.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{spinner} exec {bar:30} {pos}/{len} hosts {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    } else {
        ProgressBar::hidden()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    // SIGINT/SIGTERM stop the remote commands too (see the stop module), exit 99.
    let mut opts = opts;
    let stop = olympus::stop::Stop::new();
    opts.stop = Some(stop.clone());
    runtime.spawn(olympus::stop::on_signals(stop.clone()));
    let pb = progress.clone();
    let results = runtime.block_on(adhoc::run(targets, &req, &opts, move |_| pb.inc(1)));
    progress.finish_and_clear();

    let mut out = std::io::stdout().lock();
    let written = match args.output {
        ExecOutputFormat::Json => out.write_all(output::exec::render_json(&results).as_bytes()),
        ExecOutputFormat::Text => {
            let blocks = if args.no_fold {
                output::exec::unfolded(&results)
            } else {
                output::exec::fold(&results)
            };
            out.write_all(&output::exec::render_text(&blocks, color.for_stdout()))
        }
    };
    if written.and_then(|()| out.flush()).is_err() {
        return exit::INTERNAL;
    }
    let summary = output::exec::summary(&results);
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!("{summary}");
    } else {
        tracing::info!("{summary}");
    }
    if stop.is_raised() {
        return exit::INTERRUPTED;
    }
    output::exec::exit_code(&results)
}

fn cmd_run(
    args: RunArgs,
    verbose: u8,
    color: ColorChoice,
    config: &olympus::config::AnsibleConfig,
) -> i32 {
    use olympus::engine::play::{self, RunOptions, Runner};
    // Vaulted playbook files and values are read with these passwords.
    if let Err(e) = args.sources.install_vault() {
        eprintln!("error: {e}");
        return exit::BAD_INPUT;
    }
    // Every problem of every playbook is reported at once: what the parser refused and
    // what preflight finds in the rest.
    let mut books = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for p in &args.playbooks {
        match olympus::playbook::load_partial(p, &config.roles_path) {
            Ok((pb, errors)) => {
                problems.extend(errors.iter().map(ToString::to_string));
                if let Err(e) = olympus::engine::preflight::check(&pb) {
                    match e {
                        play::RunError::Many(all) => {
                            problems.extend(all.iter().map(ToString::to_string))
                        }
                        one => problems.push(one.to_string()),
                    }
                }
                books.push(pb);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    match problems.len() {
        0 => {}
        1 => {
            eprintln!("error: {}", problems[0]);
            return exit::BAD_INPUT;
        }
        n => {
            eprintln!("error: {n} problems:\n{}", problems.join("\n"));
            return exit::BAD_INPUT;
        }
    }
    if args.syntax_check {
        for p in &args.playbooks {
            println!("playbook: {}", p.display());
        }
        return exit::OK;
    }
    let inv = match load_inventory(&args.sources) {
        Ok(inv) => std::sync::Arc::new(inv),
        Err(code) => return code,
    };
    let limit = match limit_from(&args.sources) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut extra_vars = olympus::yaml::Vars::new();
    for e in &args.extra_vars {
        match play::parse_extra_vars(e) {
            Ok(v) => extra_vars.extend(v),
            Err(err) => {
                eprintln!("error: -e {e}: {err}");
                return exit::BAD_INPUT;
            }
        }
    }
    // vars_prompt: asked on a terminal unless -e already answers it.
    for pb in &books {
        for p in &pb.plays {
            for entry in &p.vars_prompt {
                let Some(name) = play::prompt_name(entry) else {
                    continue;
                };
                if extra_vars.contains_key(&name) || !std::io::stdin().is_terminal() {
                    continue;
                }
                let text = |k: &str| {
                    entry.get(k).map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                };
                let prompt = text("prompt").unwrap_or_else(|| name.clone());
                let private = entry
                    .get("private")
                    .map(olympus::template::ansible_bool)
                    .unwrap_or(true);
                let default = text("default");
                let shown = match &default {
                    Some(d) if !private => format!("{prompt} [{d}]: "),
                    _ => format!("{prompt}: "),
                };
                let answer = if private {
                    rpassword::prompt_password(&shown).ok()
                } else {
                    eprint!("{shown}");
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .ok()
                        .map(|_| line.trim_end_matches(['\n', '\r']).to_string())
                };
                let answer = match (answer, default) {
                    (Some(a), Some(d)) if a.is_empty() => d,
                    (Some(a), _) => a,
                    (None, Some(d)) => d,
                    (None, None) => String::new(),
                };
                extra_vars.insert(name, serde_json::Value::from(answer));
            }
        }
    }
    if !args.list_hosts
        && !args.list_tasks
        && let Err(e) = olympus::engine::targets::check(&inv, &books, &extra_vars, limit.as_deref())
    {
        eprintln!("error: {e}");
        return exit::BAD_INPUT;
    }
    if args.list_hosts || args.list_tasks {
        for pb in &books {
            println!("\nplaybook: {}", pb.path.display());
            for (i, p) in pb.plays.iter().enumerate() {
                let name = p.name.clone().unwrap_or_else(|| p.hosts.clone());
                println!(
                    "\n  play #{} ({}): {name}\tTAGS: [{}]",
                    i + 1,
                    p.hosts,
                    p.common.tags.join(", ")
                );
                if args.list_hosts {
                    let pattern = match play::host_pattern(
                        &olympus::template::Templar::new(),
                        p,
                        &extra_vars,
                    ) {
                        Ok(pattern) => pattern,
                        Err(e) => {
                            eprintln!("error: {e}");
                            return exit::BAD_INPUT;
                        }
                    };
                    match inv.select(&pattern, limit.as_deref()) {
                        Ok(sel) => {
                            println!("    hosts ({}):", sel.hosts.len());
                            for h in &sel.hosts {
                                println!("      {}", h.name);
                            }
                        }
                        Err(e) => {
                            eprintln!("error: {e}");
                            return exit::BAD_INPUT;
                        }
                    }
                }
                if args.list_tasks {
                    println!("    tasks:");
                    for (n, tags) in play::task_names(p, &args.tags, &args.skip_tags) {
                        println!("      {n}\tTAGS: [{}]", tags.join(", "));
                    }
                }
            }
        }
        return exit::OK;
    }
    let connect = match connect_options(&args.connection) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let mut connect = connect;
    connect.stop = Some(olympus::stop::Stop::new());
    let escalation = escalation_from(&args.connection, connect.become_password.clone());
    let opts = RunOptions {
        check: args.check,
        diff: args.diff,
        forks: args.connection.forks.unwrap_or(DEFAULT_FORKS),
        extra_vars,
        limit,
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        force_handlers: args.force_handlers,
        start_at_task: args.start_at_task.clone(),
        connect,
        defaults: HostDefaults {
            user: args.connection.user.clone(),
            private_key: args.connection.private_key.clone(),
        },
        escalation,
        connection_budget: Some(olympus::limits::raise_open_files()),
        verbosity: verbose,
        gather_explicit: config.gathering.as_deref() == Some("explicit"),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let text_reporter;
    let json_reporter;
    let reporter: &dyn olympus::engine::events::Reporter = match args.output {
        ExecOutputFormat::Text => {
            text_reporter =
                output::play::TextReporter::new(std::io::stdout(), color.for_stdout(), verbose);
            &text_reporter
        }
        ExecOutputFormat::Json => {
            json_reporter = output::play::JsonReporter::new(std::io::stdout());
            &json_reporter
        }
    };
    let junit = args.junit.clone().map(output::play::JunitReporter::new);
    let tee;
    let reporter: &dyn olympus::engine::events::Reporter = match &junit {
        Some(j) => {
            tee = output::play::Tee(vec![reporter, j]);
            &tee
        }
        None => reporter,
    };
    if let Some(stop) = opts.connect.stop.clone() {
        runtime.spawn(olympus::stop::on_signals(stop));
    }
    let mut code = exit::OK;
    for pb in &books {
        let runner = Runner::new(inv.clone(), &opts, reporter, &pb.path);
        match runtime.block_on(runner.run(pb)) {
            Ok(result) => {
                code = code.max(result.exit_code());
                if result.aborted {
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    code
}

fn cmd_completions(shell: Shell) -> i32 {
    let mut cmd = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "olympus", &mut std::io::stdout());
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
