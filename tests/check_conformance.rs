//! `jitld check` against llvm-jitlink-19 on the conformance folders `tests/check/*` (one per
//! cell of the format × architecture grid: `elf_x86_64`, `elf_aarch64`, `macho_x86_64`).
//!
//! Each `.s` file states what linked memory must hold, in `# jitlink-check:` rules, and how to
//! build and link it, in LLVM-style `# RUN:` lines (`%s` is the file, `%t` a scratch folder,
//! `%S` the file's folder). `%jitlink` runs the link under both llvm-jitlink-19 and
//! `jitld check`, so every expected value is proven by the reference; a file whose header
//! has `# JITLD-ONLY: why` covers what jitld does beyond llvm-jitlink and runs under jitld
//! alone. Then every rule is mutated (its right side plus one) and `jitld check` must find
//! each mutant false.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check")
}

/// The conformance folders, by name.
fn folders() -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("tests/check")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    folders
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-conformance").join(name);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn jitld() -> &'static str {
    env!("CARGO_BIN_EXE_jitld")
}

struct TestFile {
    path: PathBuf,
    /// `folder/file`, unique across folders.
    name: String,
    /// RUN lines, continuations joined, substitutions made.
    commands: Vec<String>,
    jitld_only: bool,
}

/// Every folder's tests; `tag` keeps each test's scratch files apart (tests run in parallel).
fn test_files(tag: &str) -> Vec<TestFile> {
    let mut files = Vec::new();
    for folder in folders() {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
            .expect("conformance folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "s"))
            .collect();
        assert!(!paths.is_empty(), "{}: no tests", folder.display());
        paths.sort();
        files.extend(paths.into_iter().map(|path| read_test(&folder, &path, tag)));
    }
    files
}

fn read_test(folder: &Path, path: &Path, tag: &str) -> TestFile {
    let text = std::fs::read_to_string(path).expect("test file");
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
    let name = format!("{}/{stem}", folder.file_name().and_then(|s| s.to_str()).expect("folder name"));
    let tmp = scratch(&format!("{tag}/{name}"));
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let Some(body) = line.strip_prefix("# RUN:") else { continue };
        let body = body.trim();
        match body.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(body);
                let command = std::mem::take(&mut current)
                    .replace("%s", &path.display().to_string())
                    .replace("%t", &tmp.display().to_string())
                    .replace("%S", &folder.display().to_string());
                commands.push(command);
            }
        }
    }
    let jitld_only = text.lines().any(|l| l.starts_with("# JITLD-ONLY:"));
    assert!(!commands.is_empty(), "{}: no RUN lines", path.display());
    TestFile { path: path.to_path_buf(), name, commands, jitld_only }
}

fn run(words: &[String]) -> Output {
    let (program, args) = words.split_first().expect("a command");
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

fn describe(command: &[String], output: &Output) -> String {
    format!(
        "`{}` exited {:?}\nstdout:\n{}\nstderr:\n{}",
        command.join(" "),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The link commands a `%jitlink` line stands for: llvm-jitlink-19's, then jitld's.
fn link_commands(file: &TestFile, command: &str) -> Vec<Vec<String>> {
    let rest: Vec<String> = words(command).into_iter().skip(1).collect();
    let mut jitld_words = vec![jitld().to_string(), "check".to_string()];
    jitld_words.extend(rest.iter().cloned());
    let mut commands = Vec::new();
    if !file.jitld_only {
        let mut llvm = vec!["llvm-jitlink-19".to_string()];
        llvm.extend(rest);
        commands.push(llvm);
    }
    commands.push(jitld_words);
    commands
}

/// Builds the file's objects; returns its `%jitlink` commands.
fn build(file: &TestFile) -> Vec<Vec<Vec<String>>> {
    let mut links = Vec::new();
    for command in &file.commands {
        if command.starts_with("%jitlink") {
            links.push(link_commands(file, command));
            continue;
        }
        let command = words(command);
        let output = run(&command);
        assert!(output.status.success(), "{}: {}", file.name, describe(&command, &output));
    }
    assert!(!links.is_empty(), "{}: no %jitlink line", file.name);
    links
}

#[test]
fn every_file_passes_under_llvm_jitlink_and_jitld() {
    let files = test_files("links");
    assert!(files.len() >= 25, "the conformance folders lost files: {}", files.len());
    let (mut both, mut jitld_only) = (0, 0);
    for file in &files {
        for link in build(file) {
            for command in link {
                let output = run(&command);
                assert!(output.status.success(), "{}: {}", file.path.display(), describe(&command, &output));
            }
        }
        if file.jitld_only {
            jitld_only += 1;
        } else {
            both += 1;
        }
    }
    eprintln!("{both} files passed under llvm-jitlink-19 and jitld, {jitld_only} under jitld only");
}

/// Each rule of the file's `-check` files, with its right side one more: `LHS = (RHS)+1`.
fn mutants(check_file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(check_file).expect("check file");
    let (rules, errors) = jitld_linker::check::parse_rules(&text, "# jitlink-check:");
    assert!(errors.is_empty(), "{}: {errors:?}", check_file.display());
    rules
        .iter()
        .map(|rule| {
            let (lhs, rhs) = rule.text.split_once('=').expect("a rule has '='");
            format!("# jitlink-check: {} = ({})+1\n", lhs.trim(), rhs.trim())
        })
        .collect()
}

#[test]
fn every_mutated_expected_value_fails() {
    let mut killed = 0;
    for file in test_files("mutants") {
        let tmp = scratch(&format!("mutants/{}", file.name));
        for link in build(&file) {
            let jitld_command = link.last().expect("jitld's command").clone();
            let check_at = jitld_command.iter().position(|w| w == "-check").expect("-check FILE");
            let check_file = PathBuf::from(&jitld_command[check_at + 1]);
            for (i, mutant) in mutants(&check_file).iter().enumerate() {
                let mutant_path = tmp.join(format!("mutant-{i}.s"));
                std::fs::write(&mutant_path, mutant).expect("mutant");
                let mut command = jitld_command.clone();
                command[check_at + 1] = mutant_path.display().to_string();
                let output = run(&command);
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    output.status.code() == Some(1) && stderr.contains("is false"),
                    "{}: mutant survived or did not evaluate: {mutant}{}",
                    file.name,
                    describe(&command, &output)
                );
                killed += 1;
            }
        }
    }
    assert!(killed >= 50, "too few rules to mutate: {killed}");
    eprintln!("{killed} of {killed} mutants killed");
}

/// A small object for the error tests: `main` and one data word.
fn tiny_object(tmp: &Path) -> PathBuf {
    let source = tmp.join("tiny.s");
    std::fs::write(&source, "\t.text\n\t.globl main\nmain:\n\tretq\n\t.data\n\t.globl d\nd:\n\t.quad 7\n")
        .expect("write");
    let object = tmp.join("tiny.o");
    let command = words(&format!(
        "llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o {} {}",
        object.display(),
        source.display()
    ));
    let output = run(&command);
    assert!(output.status.success(), "{}", describe(&command, &output));
    object
}

fn jitld_check(args: &[&str]) -> Output {
    Command::new(jitld()).arg("check").args(args).output().expect("jitld runs")
}

#[test]
fn failures_and_errors_are_reported_like_llvm_jitlink() {
    let tmp = scratch("errors");
    let object = tiny_object(&tmp);
    let object = object.to_str().expect("utf-8 path");
    let write = |name: &str, text: &str| {
        let path = tmp.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };

    let false_rule = write("false.s", "# jitlink-check: *{8}d = 8\n# jitlink-check: *{8}d = 7\n");
    let output = jitld_check(&["-noexec", "-check", &false_rule, object]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Expression '*{8}d = 8' is false: 0x7 != 0x8"), "{stderr}");
    assert!(stderr.contains("Some checks in") && stderr.contains("(1 of 2 rules)"), "{stderr}");

    let no_rules = write("none.s", "# nothing to check here\n");
    let output = jitld_check(&["-noexec", "-check", &no_rules, object]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no rules"));

    let bad = write("bad.s", "\n# jitlink-check: *{8}d = (7\n");
    let output = jitld_check(&["-noexec", "-check", &bad, object]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("bad.s:2:28:") && stderr.contains("expected ')'"), "{stderr}");

    let unknown = write("unknown.s", "# jitlink-check: nowhere = 1\n");
    let output = jitld_check(&["-noexec", "-check", &unknown, object]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("No known address for symbol 'nowhere'") && stderr.contains("unknown.s:1:18"), "{stderr}");

    let output = jitld_check(&["-noexec", "-frobnicate", object]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown flag '-frobnicate'"));

    let good = write("good.s", "# other-check: *{8}d = 7\n");
    let output = jitld_check(&["-noexec", "-check-name", "other-check", "-check", &good, object]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn without_noexec_the_entry_runs_after_the_checks() {
    let tmp = scratch("exec");
    let source = tmp.join("exit.s");
    std::fs::write(
        &source,
        "\t.text\n\t.globl main\nmain:\n\tmovl $42, %eax\n\tretq\n\t.size main, .-main\n\
         # jitlink-check: decode_operand(main, 1) = 42\n",
    )
    .expect("write");
    let object = tmp.join("exit.o");
    let command = words(&format!(
        "llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o {} {}",
        object.display(),
        source.display()
    ));
    assert!(run(&command).status.success());
    let (source, object) = (source.to_str().expect("utf-8"), object.to_str().expect("utf-8"));
    assert_eq!(jitld_check(&["-check", source, object]).status.code(), Some(42));
    assert_eq!(jitld_check(&["-noexec", "-check", source, object]).status.code(), Some(0));
    let llvm = run(&words(&format!("llvm-jitlink-19 -check {source} {object}")));
    assert_eq!(llvm.status.code(), Some(42), "the reference agrees");
}
