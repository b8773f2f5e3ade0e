//! `jitld check`: llvm-jitlink's `-check` mode. The inputs are linked exactly as by
//! `jitld run` (with `-noexec`, at a slab); a plugin records what the checker needs of each
//! linked graph; then each check file's rules are evaluated, and without `-noexec` the entry
//! runs, its status being ours.

mod extras;
mod flags;
mod image;

use super::run::{run_with, RunHooks};
use super::RunArgs;
use crate::layers::ObjectLinkingLayer;
use crate::session::{DylibId, ExecutionSession};
use jitld_linker::arch::Arch;
use jitld_linker::check::{CheckFile, Evaluator, DEFAULT_CHECK_NAME};
use jitld_linker::SymbolName;
use std::sync::Arc;

/// Runs `jitld check ARGS`; returns the exit status.
pub fn main(words: &[String]) -> i32 {
    match check(words) {
        Ok(code) => code,
        Err(lines) => {
            for line in lines {
                eprintln!("jitld check: error: {line}");
            }
            1
        }
    }
}

fn check(words: &[String]) -> Result<i32, Vec<String>> {
    let args = flags::parse(words).map_err(|e| vec![e])?;
    if args.help {
        print!("{}", flags::USAGE);
        return Ok(0);
    }
    // The objects' architecture: its decoder reads the code.
    let target = crate::cli::target::program_arch(&args.ordered).map_err(|e| vec![e.to_string()])?;
    validate(&args).map_err(|e| vec![e])?;
    let check_name = args.check_name.clone().unwrap_or_else(|| DEFAULT_CHECK_NAME.to_string());
    let files = read_check_files(&args.checks, &check_name)?;

    let recorder = Arc::new(image::ImageRecorder::default());
    for (name, address) in &args.absolutes {
        recorder.image().define(name, *address, true);
    }
    let mut hooks = RunHooks { plugins: vec![recorder.clone()], ..RunHooks::default() };
    if let Some(pattern) = &args.show_graphs {
        let pattern = match pattern.as_str() {
            "" => None,
            text => Some(regex_lite::Regex::new(text).map_err(|e| vec![format!("-show-graphs={text}: {e}")])?),
        };
        hooks.plugins.push(Arc::new(extras::GraphPrinter { pattern }));
    }
    let (phony, sectcreate) = (args.phony_externals, args.sectcreate.clone());
    hooks.before_link = Some(Box::new(move |session: &ExecutionSession, layer: &ObjectLinkingLayer, main: DylibId| {
        let mut names: Vec<SymbolName> = Vec::new();
        for (index, spec) in sectcreate.iter().enumerate() {
            let unit = extras::SectCreateUnit::new(layer, spec, index)?;
            names.extend(unit.names());
            session.define(main, Box::new(unit))?;
        }
        if phony {
            session.add_generator(main, Arc::new(extras::PhonyExternals));
        }
        Ok(names)
    }));
    hooks.after_link = Some(Box::new(move || {
        let image = recorder.image();
        let arch = image.arch.unwrap_or(target);
        let Some(decoder) = jitld_linker::check::decoder(arch) else {
            eprintln!("jitld check: error: no instruction decoder for {}", arch.name());
            return Some(1);
        };
        let evaluator = Evaluator { image: &*image, decoder };
        report(&files, &evaluator, &check_name)
    }));

    let run_args = run_args(args);
    run_with(&run_args, hooks).map_err(|errors| super::run::error_lines(&errors))
}

/// llvm-jitlink's rules for the slab flags. Pages other than the host's exist only in a
/// slab that stands in for the target's memory.
fn validate(args: &flags::CheckArgs) -> Result<(), String> {
    if args.slab_address.is_some() && (args.slab_size.is_none() || !args.noexec) {
        return Err("-slab-address requires -slab-allocate and -noexec".into());
    }
    if let Some(page) = args.slab_page_size {
        if args.slab_size.is_none() {
            return Err("-slab-page-size requires -slab-allocate".into());
        }
        if !page.is_power_of_two() {
            return Err(format!("-slab-page-size {page} is not a power of two"));
        }
        let host = Arch::host().page_size();
        if page != host && args.slab_address.is_none() {
            return Err(format!(
                "-slab-page-size {page}: pages other than this host's ({host}) need -slab-address and -noexec"
            ));
        }
    }
    if args.ordered.iter().all(|i| !matches!(i, crate::cli::InputArg::Path(_))) {
        return Err("no input files".into());
    }
    Ok(())
}

/// Every check file, parsed before anything links: a rule that does not parse is reported
/// with its file, line and column.
fn read_check_files(paths: &[String], check_name: &str) -> Result<Vec<CheckFile>, Vec<String>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                errors.push(format!("{path}: {e}"));
                continue;
            }
        };
        match CheckFile::parse(path, &text, check_name) {
            Ok(file) => files.push(file),
            Err(lines) => errors.extend(lines),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Evaluates every file's rules, printing llvm-jitlink's line for each that fails and a
/// summary per failing file. A file without rules fails, as llvm-jitlink's does.
fn report(files: &[CheckFile], evaluator: &Evaluator, check_name: &str) -> Option<i32> {
    let mut failed = false;
    for file in files {
        if file.rules.is_empty() {
            eprintln!("jitld check: {}: no rules (lines starting with '# {check_name}:')", file.path);
            failed = true;
            continue;
        }
        let failures = file.run(evaluator);
        for failure in &failures {
            eprintln!("{failure}");
        }
        if !failures.is_empty() {
            eprintln!(
                "jitld check: Some checks in {} failed ({} of {} rules)",
                file.path,
                failures.len(),
                file.rules.len()
            );
            failed = true;
        }
    }
    failed.then_some(1)
}

/// The same link as `jitld run`'s, from llvm-jitlink's flags.
fn run_args(args: flags::CheckArgs) -> RunArgs {
    let inputs = args
        .ordered
        .iter()
        .filter_map(|i| match i {
            crate::cli::InputArg::Path(path) => Some(path.clone()),
            _ => None,
        })
        .collect();
    RunArgs {
        inputs,
        search: args.search,
        entry: args.entry.unwrap_or_else(|| "main".into()),
        noexec: args.noexec,
        slab_address: args.slab_address,
        absolutes: args.absolutes,
        threads: Some(1),
        cache_limit: 0,
        args: args.program_args,
        slab_size: args.slab_size,
        slab_page_size: args.slab_page_size,
        ordered: args.ordered,
        ..RunArgs::default()
    }
}
