//! The plainest `jitld run` command lines, read without clap.
//!
//! Building clap's description of every option and matching against it cost ~0.25 ms of
//! each start (its code, its heap and its stack paged in), a quarter of what jitld adds to
//! an empty program's run. Most command lines are only inputs, `-l` and `-L`, then `--` and
//! the program's arguments: those are read here, into what clap would have made of them
//! (`tests` below hold the two to the same result), and so is `--cache[=DIR]`, for the warm
//! starts whose whole point is to be quick. Anything else (another option, a word that
//! starts with `-`, `-l=m`) goes to clap, which also gives the errors and the help.

use super::inputs::InputArg;
use super::RunArgs;

/// `words`: the command line after `run`. `None` unless every word is plain.
pub fn parse(words: &[String]) -> Option<RunArgs> {
    let (before, program_args) = match words.iter().position(|w| w == "--") {
        Some(at) => (&words[..at], words[at + 1..].to_vec()),
        None => (words, Vec::new()),
    };
    let (mut inputs, mut libraries, mut search, mut ordered) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cache = None;
    let mut rest = before.iter();
    while let Some(word) = rest.next() {
        let mut value = |flag: &str| match word.strip_prefix(flag) {
            Some("") => rest.next().filter(|v| plain(v)).cloned(),
            Some(attached) if !attached.starts_with('=') => Some(attached.to_string()),
            _ => None,
        };
        if word.starts_with("-l") {
            let name = value("-l")?;
            ordered.push(InputArg::Library(name.clone()));
            libraries.push(name);
        } else if word.starts_with("-L") {
            search.push(value("-L")?);
        } else if let Some(dir) = cache_option(word) {
            if cache.replace(dir.to_string()).is_some() {
                // Given twice: clap's error to report.
                return None;
            }
        } else if plain(word) {
            ordered.push(InputArg::Path(word.clone()));
            inputs.push(word.clone());
        } else {
            return None;
        }
    }
    if inputs.is_empty() {
        return None;
    }
    Some(RunArgs { inputs, libraries, search, cache, args: program_args, ordered, ..RunArgs::default() })
}

/// `--cache` (the default directory: `""`) or `--cache=DIR`.
fn cache_option(word: &str) -> Option<&str> {
    match word.strip_prefix("--cache")? {
        "" => Some(""),
        rest => rest.strip_prefix('='),
    }
}

/// A word clap takes as a value, whatever option precedes it.
fn plain(word: &str) -> bool {
    !word.is_empty() && !word.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    /// What clap makes of `jitld run WORDS...`, as `cli::main` completes it.
    fn by_clap(words: &[&str]) -> RunArgs {
        let line = ["jitld", "run"].iter().chain(words).map(|w| w.to_string());
        let matches = super::super::Cli::command().get_matches_from(line);
        let cli = super::super::Cli::from_arg_matches(&matches).expect("parses");
        let super::super::Command::Run(mut args) = cli.command else { panic!("not run") };
        args.ordered = super::super::ordered_inputs(matches.subcommand_matches("run").expect("run"));
        *args
    }

    #[test]
    fn plain_lines_read_as_clap_reads_them() {
        let lines: &[&[&str]] = &[
            &["main.o"],
            &["driver.o", "/usr/lib/libsqlite3.a", "-lm"],
            &["a.o", "-l", "m", "b.o", "-lz", "-L", "/opt/lib", "-L/usr/local/lib", "-lfoo"],
            &["-lm", "main.o"],
            &["main.o", "--", "x", "-y", "--z", "--"],
            &["main.o", "--"],
            &["main.o", "libc.so.6", "--", ""],
            &["--cache", "main.o", "-lm"],
            &["main.o", "--cache=/tmp/images", "--", "a"],
            &["main.o", "--cache="],
        ];
        for words in lines {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            let plain = parse(&words).unwrap_or_else(|| panic!("{words:?} is plain"));
            let as_str: Vec<&str> = words.iter().map(String::as_str).collect();
            assert_eq!(format!("{plain:?}"), format!("{:?}", by_clap(&as_str)), "{words:?}");
        }
    }

    #[test]
    fn anything_else_goes_to_clap() {
        let lines: &[&[&str]] = &[
            &[],
            &["--", "main.o"],
            &["main.o", "--threads", "2"],
            &["main.o", "--noexec"],
            &["main.o", "-l"],
            &["main.o", "-l", "-m"],
            &["main.o", "-l=m"],
            &["main.o", "-L"],
            &["main.o", "-"],
            &["main.o", "-jd", "lib"],
            &["-h"],
            &["main.o", ""],
            &["main.o", "--cache", "--cache"],
            &["main.o", "--cache-limit=100"],
            &["main.o", "--cachex"],
        ];
        for words in lines {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            assert!(parse(&words).is_none(), "{words:?} is not plain");
        }
    }
}
