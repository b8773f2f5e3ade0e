//! `jitld run | check | graph`.

mod cache_command;
mod check;
mod executor;
mod image_cache;
mod inputs;
mod open;
mod output;
mod plain_run;
mod reexec;
mod run;
mod runtime_archive;
mod target;
mod teardown;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
pub use inputs::{linker_script_inputs, InputArg, ScriptInput};

#[derive(Parser, Debug)]
#[command(name = "jitld", version, about = "Link relocatable objects in memory and run them")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Link the inputs in memory and call the entry, like running the linked executable.
    Run(Box<RunArgs>),
    /// Link as llvm-jitlink does and evaluate its `-check` rules (`jitld check -help`).
    #[command(disable_help_flag = true)]
    Check {
        /// llvm-jitlink's flags and inputs.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show or empty a cache directory (default: $XDG_CACHE_HOME/jitld or ~/.cache/jitld).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Print the link graph of an object, as built from the file.
    Graph {
        /// Relocatable object files.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum CacheAction {
    /// How many entries (prelinked images, compiled objects) and bytes the directory holds.
    Stats { dir: Option<String> },
    /// Remove every entry.
    Clear { dir: Option<String> },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Objects (.o), static archives (.a) and shared libraries (.so), in link order.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Link against libNAME (.so before .a in each directory, like ld).
    #[arg(short = 'l', value_name = "NAME", action = ArgAction::Append)]
    pub libraries: Vec<String>,
    /// Search DIR for -l libraries, before the system directories.
    #[arg(short = 'L', value_name = "DIR", action = ArgAction::Append)]
    pub search: Vec<String>,
    /// The function to call.
    #[arg(long, default_value = "main")]
    pub entry: String,
    /// argv[0] for the program (default: the first input).
    #[arg(long)]
    pub argv0: Option<String>,
    /// Link but don't run.
    #[arg(long)]
    pub noexec: bool,
    /// With --noexec: place memory as if at this address (deterministic output).
    #[arg(long, value_parser = parse_address)]
    pub slab_address: Option<u64>,
    /// Define an absolute symbol NAME at ADDR in `main` (e.g. `--abs puts=0x7fff00001000`).
    #[arg(long = "abs", value_name = "NAME=ADDR", value_parser = parse_absolute, action = ArgAction::Append)]
    pub absolutes: Vec<(String, u64)>,
    /// Inputs after this go into JITDylib NAME (created if new; `-jd` works too).
    #[arg(long = "jd", value_name = "NAME", action = ArgAction::Append)]
    pub jds: Vec<String>,
    /// Link FILE lazily: its functions are linked on their first call.
    #[arg(long = "lazy", value_name = "FILE", action = ArgAction::Append)]
    pub lazy: Vec<String>,
    /// Link every member of archive FILE, referenced or not (ld's --whole-archive).
    #[arg(long = "whole-archive", value_name = "FILE", action = ArgAction::Append)]
    pub whole_archives: Vec<String>,
    /// Link objects of DIR as archive members are: each when one of its symbols is first
    /// needed (the symbol index is kept in DIR and refreshed when an object changes).
    #[arg(long = "object-dir", value_name = "DIR", action = ArgAction::Append)]
    pub object_dirs: Vec<String>,
    /// As --object-dir, each object linked lazily (as --lazy) once one of its symbols is needed.
    #[arg(long = "lazy-object-dir", value_name = "DIR", action = ArgAction::Append)]
    pub lazy_object_dirs: Vec<String>,
    /// NAME's link order: the JITDylibs it searches after itself (then the process).
    #[arg(long = "link-order", value_name = "NAME=A,B,...", action = ArgAction::Append)]
    pub link_orders: Vec<String>,
    /// Define NEW in `main` as another name for OLD.
    #[arg(long = "alias", value_name = "NEW=OLD", action = ArgAction::Append)]
    pub aliases: Vec<String>,
    /// Run the program in an executor process on this machine (over pipes), not in jitld.
    #[arg(long)]
    pub oop: bool,
    /// Run the program in an executor process spawned as CMD (e.g. `qemu-aarch64 jitld-executor`).
    #[arg(long, value_name = "CMD")]
    pub executor: Option<String>,
    /// Run the program in the executor listening at HOST:PORT (`jitld-executor --listen`).
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Option<String>,
    /// Materialize on N threads (default: one per CPU, at most 4, one fewer with
    /// --prepare-ahead, when the objects and archives total 1 MiB or more, unless --noexec or
    /// --dump-relocs; else 1). They end before the program runs; with more than one,
    /// addresses may differ from run to run.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Parse the next objects on a helper thread while the link goes on (same addresses).
    #[arg(long)]
    pub prepare_ahead: bool,
    /// Print at exit what was linked, stubs created and hit, where small blocks came from, and time per link phase.
    #[arg(long)]
    pub stats: bool,
    /// Write /tmp/perf-PID.map so `perf report` names JIT'd functions.
    #[arg(long)]
    pub perf_map: bool,
    /// Register JIT'd code with gdb (automatic when a debugger listens to the GDB JIT interface).
    #[arg(long)]
    pub gdb: bool,
    /// Print every fix-up of every linked graph.
    #[arg(long)]
    pub dump_relocs: bool,
    /// Keep the linked image in DIR (default: $XDG_CACHE_HOME/jitld or ~/.cache/jitld) and
    /// start from it when the inputs, flags, libraries and jitld are the same.
    #[arg(long, value_name = "DIR", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub cache: Option<String>,
    /// With --cache: the most bytes the directory's entries may take (least recently used go).
    #[arg(long, value_name = "BYTES", default_value_t = CACHE_LIMIT)]
    pub cache_limit: u64,
    /// Arguments for the program, after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
    /// With --slab-address: the slab's size (`jitld check -slab-allocate`).
    #[arg(skip)]
    pub slab_size: Option<u64>,
    /// With --slab-address: the pages of the slab (`jitld check -slab-page-size`).
    #[arg(skip)]
    pub slab_page_size: Option<u64>,
    /// Inputs and -l libraries merged in command-line order (filled after parsing).
    #[arg(skip)]
    pub ordered: Vec<InputArg>,
}

/// `--cache-limit`'s default: 1 GiB.
const CACHE_LIMIT: u64 = 1 << 30;

/// What clap makes of a command line that gives no option (see `plain_run`'s tests).
impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            inputs: Vec::new(),
            libraries: Vec::new(),
            search: Vec::new(),
            entry: "main".to_string(),
            argv0: None,
            noexec: false,
            slab_address: None,
            absolutes: Vec::new(),
            jds: Vec::new(),
            lazy: Vec::new(),
            whole_archives: Vec::new(),
            object_dirs: Vec::new(),
            lazy_object_dirs: Vec::new(),
            link_orders: Vec::new(),
            aliases: Vec::new(),
            oop: false,
            executor: None,
            connect: None,
            threads: None,
            prepare_ahead: false,
            stats: false,
            perf_map: false,
            gdb: false,
            dump_relocs: false,
            cache: None,
            cache_limit: CACHE_LIMIT,
            args: Vec::new(),
            slab_size: None,
            slab_page_size: None,
            ordered: Vec::new(),
        }
    }
}

/// The most materialization threads `jitld run` uses unless told (`--threads`): linking a
/// large program gains little from more, and each costs peak memory (its `malloc` arena,
/// the code it runs).
const DEFAULT_THREADS_MAX: usize = 4;

/// Objects and archives of at least this many bytes in all make a link worth a second
/// thread (sqlite's archive is 2.3 MB, nlohmann/json's three objects 1.6 MB); below it a
/// thread's start and memory cost more than it saves. Such a link's small blocks come from
/// `link_heap`.
pub(super) const THREADED_INPUT_BYTES: u64 = 1 << 20;

impl RunArgs {
    /// Without `--threads`: one thread per CPU (at most `DEFAULT_THREADS_MAX`) for a link of
    /// `input_bytes` worth it, less the core a `--prepare-ahead` helper takes (three threads
    /// on two cores were slower than two); one otherwise.
    ///
    /// Threads take graphs in no fixed order, so where each lands varies from run to run:
    /// a link whose output is its addresses (`--noexec` with a slab, `--dump-relocs`) is on
    /// one thread unless told, and prints the same bytes every time.
    pub fn default_threads(&self, input_bytes: u64) -> usize {
        if input_bytes < THREADED_INPUT_BYTES || self.noexec || self.dump_relocs {
            return 1;
        }
        // One `sched_getaffinity`: the standard library's `available_parallelism` also reads
        // the cgroup's CPU quota, ~25 system calls (60-120 µs) at every threaded start;
        // `--threads` says what a quota allows.
        let cpus = crate::cpus::allowed().len().clamp(1, DEFAULT_THREADS_MAX);
        cpus.saturating_sub(usize::from(self.prepare_ahead)).max(1)
    }
}

fn parse_address(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("not an address: {text} ({e})"))
}

fn parse_absolute(text: &str) -> Result<(String, u64), String> {
    let (name, addr) = text.split_once('=').ok_or_else(|| format!("expected NAME=ADDR, got {text}"))?;
    Ok((name.to_string(), parse_address(addr)?))
}

/// `jitld-check`'s command line (`jitld check` runs it): returns the exit code.
pub fn check_main() -> i32 {
    reexec::restore_environment();
    let raw: Vec<String> = std::env::args().collect();
    check::main(raw.get(1..).unwrap_or_default())
}

/// `jitld check ARGS`: becomes `jitld-check ARGS`, the binary beside this one.
fn run_checker(args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe().map(|exe| exe.with_file_name("jitld-check"));
    let error = match beside {
        Ok(checker) => std::process::Command::new(&checker).args(args).exec(),
        Err(e) => e,
    };
    eprintln!("jitld check: error: cannot run jitld-check beside jitld: {error}");
    1
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    reexec::restore_environment();
    let raw: Vec<String> = std::env::args().collect();
    // llvm-jitlink's flags are single-dash words clap would split into letters.
    if raw.get(1).map(String::as_str) == Some("check") {
        return run_checker(raw.get(2..).unwrap_or_default());
    }
    if raw.get(1).map(String::as_str) == Some("run") {
        if let Some(mut args) = plain_run::parse(&raw[2..]) {
            return exit_code(run_command(&raw, &mut args));
        }
    }
    // llvm-jitlink spells it `-jd`; clap's short options are one letter.
    let args = raw.iter().cloned().map(|a| if a == "-jd" { "--jd".to_string() } else { a });
    let matches = Cli::command().get_matches_from(args);
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match &mut cli.command {
        Command::Run(args) => {
            let run_matches = matches.subcommand_matches("run").expect("run subcommand");
            args.ordered = ordered_inputs(run_matches);
            run_command(&raw, args)
        }
        Command::Cache { action } => cache_command::run(action),
        Command::Check { args } => Ok(run_checker(args)),
        Command::Graph { inputs } => run::graph(inputs),
    };
    exit_code(result)
}

/// `jitld run`; `raw` is the whole command line (to start again with, see `reexec`).
fn run_command(raw: &[String], args: &mut RunArgs) -> Result<i32, Vec<crate::error::JitError>> {
    teardown::hand_over_at_exit();
    match args.cache {
        // It starts again for thread-locals only when it links.
        Some(_) => image_cache::run(raw, args),
        None => {
            reexec::ensure_tls_surplus(raw, args);
            run::run(args)
        }
    }
}

fn exit_code(result: Result<i32, Vec<crate::error::JitError>>) -> i32 {
    match result {
        Ok(code) => code,
        Err(errors) => {
            for line in run::error_lines(&errors) {
                eprintln!("error: {line}");
            }
            1
        }
    }
}

/// Positional inputs and `-l` options interleaved by their position on the command line.
fn ordered_inputs(matches: &clap::ArgMatches) -> Vec<InputArg> {
    let mut ordered: Vec<(usize, InputArg)> = Vec::new();
    let indexed = |id: &str| -> Vec<(usize, String)> {
        match (matches.indices_of(id), matches.get_many::<String>(id)) {
            (Some(indices), Some(values)) => indices.zip(values.cloned()).collect(),
            _ => Vec::new(),
        }
    };
    ordered.extend(indexed("inputs").into_iter().map(|(i, v)| (i, InputArg::Path(v))));
    ordered.extend(indexed("libraries").into_iter().map(|(i, v)| (i, InputArg::Library(v))));
    ordered.extend(indexed("jds").into_iter().map(|(i, v)| (i, InputArg::Dylib(v))));
    ordered.extend(indexed("lazy").into_iter().map(|(i, v)| (i, InputArg::Lazy(v))));
    ordered.extend(indexed("whole_archives").into_iter().map(|(i, v)| (i, InputArg::WholeArchive(v))));
    ordered.extend(indexed("object_dirs").into_iter().map(|(i, v)| (i, InputArg::ObjectDir(v))));
    ordered.extend(indexed("lazy_object_dirs").into_iter().map(|(i, v)| (i, InputArg::LazyObjectDir(v))));
    ordered.sort_by_key(|(i, _)| *i);
    ordered.into_iter().map(|(_, input)| input).collect()
}
