//! The `olympus` command: a thin clap shell over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use olympus::inventory::{Inventory, render};
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
  olympus run playbooks/hello.yml            # against the implicit localhost")]
    Run(RunArgs),
    /// Run one shell command on every host a pattern selects.
    #[command(after_help = "Examples:
  olympus exec all -i inventory/ -- uptime
  olympus exec 'web:&prod' -i hosts.ini -f 100 -- systemctl is-active nginx")]
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
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Playbook files to run, in order.
    #[arg(required = true)]
    playbooks: Vec<PathBuf>,
    #[command(flatten)]
    sources: InventorySources,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// Which hosts: a host pattern such as 'all', 'web:&prod' or '~db\d+'.
    pattern: String,
    #[command(flatten)]
    sources: InventorySources,
    /// The command to run, after '--'.
    #[arg(last = true, required = true)]
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

    let code = match cli.command {
        Command::Inventory(args) => cmd_inventory(args),
        Command::Completions { shell } => cmd_completions(shell),
        Command::Run(args) => match load_inventory(&args.sources) {
            Ok(_) => {
                eprintln!("run: not implemented yet");
                exit::INTERNAL
            }
            Err(code) => code,
        },
        Command::Exec(args) => match load_inventory(&args.sources) {
            Ok(_) => {
                let _ = (&args.pattern, &args.command);
                eprintln!("exec: not implemented yet");
                exit::INTERNAL
            }
            Err(code) => code,
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn load_inventory(sources: &InventorySources) -> Result<Inventory, i32> {
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
