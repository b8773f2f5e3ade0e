//! jitld's own threads beside the program's: the helper of `--prepare-ahead`, which parses
//! the next objects while the link goes on, and the materialization pool of `--threads N`.
//!
//! * The helper changes no address, and a link that prints its addresses is on one thread
//!   unless told: every fix-up of the sqlite and json programs, as `--dump-relocs` prints it
//!   with its address and bytes, is the same as with `--threads 1`.
//! * jitld's threads end before the program runs, which finds itself alone and
//!   single-threaded, as natively. While they live, `jitld run`'s keep to a CPU each.
//! * Neither kind of thread takes the program's signals: a signal sent to the process while
//!   the program's main thread blocks it waits for main to unblock it, as natively, instead
//!   of running the handler at once on a thread of jitld's.
//!
//! Programs are built at run time under `target/tmp/worker-threads-*`; the real programs are
//! the e2e fixtures (`make fixtures`).

#[path = "common/harness.rs"]
mod harness;

use harness::*;

fn fixture(path: &str) -> String {
    let file = root().join("target/fixtures/real").join(path);
    assert!(file.exists(), "{} is missing: run `make fixtures`", file.display());
    file.display().to_string()
}

/// `source`, compiled by gcc -O2 into `file`'s object in the scratch directory `test`.
fn compiled_c(test: &str, file: &str, source: &str) -> std::path::PathBuf {
    let dir = scratch(test);
    let source = write(&dir, file, source);
    compile("gcc", &source, &source.with_extension("o"), &["-O2", "-c"])
}

/// `--dump-relocs` of `inputs`, with `extra` options.
fn fix_ups(extra: &[&str], inputs: &[String]) -> String {
    let mut args = vec!["run".to_string(), "--dump-relocs".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(inputs.iter().cloned());
    let out = jitld(&args);
    assert!(out.code.is_some() && !out.panicked(), "{}", out.describe());
    assert!(out.stdout.lines().count() > 1000, "too few fix-ups printed:\n{}", out.describe());
    out.stdout
}

#[test]
fn printed_fix_ups_are_the_same_every_time() {
    let programs = [
        vec![fixture("sqlite/gcc-O2-pie/driver.o"), "/usr/lib/x86_64-linux-gnu/libsqlite3.a".into(), "-lm".into()],
        ["catalog.o", "main.o", "query.o"]
            .iter()
            .map(|o| fixture(&format!("json/gxx-O2-pie/{o}")))
            .chain(["-lstdc++".into()])
            .collect(),
    ];
    for inputs in &programs {
        let one_thread = fix_ups(&["--threads", "1"], inputs);
        // The helper races the linking thread differently each time. Without an option a
        // link that prints its fix-ups is on one thread, though these programs' inputs
        // (more than 1 MiB) would run on one per CPU: more materialization threads take
        // graphs in no fixed order, so addresses vary.
        for extra in [&["--prepare-ahead"][..], &[]] {
            for _ in 0..3 {
                let printed = fix_ups(extra, inputs);
                assert!(printed == one_thread, "{}: fix-ups differ with {extra:?}", inputs[0]);
            }
        }
    }
}

/// Main blocks SIGUSR1 and sends it to the process. Natively it stays pending until main
/// unblocks it, and the handler then runs on main. A thread of jitld's that left it
/// unblocked would take it at once.
const BLOCKED_SIGNAL: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

static volatile sig_atomic_t handled, on_main;

static void handler(int sig) {
    (void)sig;
    handled = 1;
    on_main = syscall(SYS_gettid) == getpid();
}

int main(void) {
    signal(SIGUSR1, handler);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    kill(getpid(), SIGUSR1);
    usleep(200000);
    printf("handled while blocked: %d\n", handled);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    printf("handled after: %d, on main: %d\n", handled, on_main);
    return 0;
}
"#;

#[test]
fn signals_reach_the_programs_threads_only() {
    let object = compiled_c("worker-threads-signals", "blocked.c", BLOCKED_SIGNAL);
    let native = object.with_extension("");
    tool("gcc", &[object.as_os_str(), "-o".as_ref(), native.as_os_str()]);
    let expected = run(native.to_str().unwrap(), &[] as &[&str]);
    assert_eq!(expected.stdout, "handled while blocked: 0\nhandled after: 1, on main: 1\n", "{}", expected.describe());
    for extra in [&["--threads", "2"][..], &["--threads", "4"], &["--prepare-ahead"]] {
        let mut args: Vec<&str> = vec!["run"];
        args.extend(extra);
        args.push(object.to_str().unwrap());
        let out = jitld(&args);
        assert_eq!((out.code, &out.stdout), (Some(0), &expected.stdout), "{extra:?}:\n{}", out.describe());
    }
}

/// The number of threads the program finds in its process.
const COUNT_THREADS: &str = r#"
#include <dirent.h>
#include <stdio.h>
#include <sqlite3.h>
#include <sys/single_threaded.h>

int main(void) {
    int threads = 0;
    DIR *tasks = opendir("/proc/self/task");
    for (struct dirent *task; (task = readdir(tasks));)
        threads += task->d_name[0] != '.';
    closedir(tasks);
    char line[256], cpus[256] = "";
    FILE *status = fopen("/proc/self/status", "r");
    while (fgets(line, sizeof line, status))
        sscanf(line, "Cpus_allowed_list: %255s", cpus);
    fclose(status);
    printf("sqlite %s, cpus: %s, threads: %d, single-threaded: %d\n", sqlite3_libversion(), cpus, threads,
           __libc_single_threaded);
    return 0;
}
"#;

/// jitld's threads end before the program runs: it finds itself alone in its process, and
/// the C library says it is single-threaded (its `malloc` takes no locks then), as natively,
/// whether the link ran on several threads because `--threads` asked for them, for a
/// helper, or because the inputs were big enough (libsqlite3.a, 2.3 MB).
#[test]
fn the_program_runs_alone() {
    let object = compiled_c("worker-threads-alone", "count.c", COUNT_THREADS);
    let object = object.to_str().unwrap();
    let archive = "/usr/lib/x86_64-linux-gnu/libsqlite3.a";
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (extra, threads) in [
        (&[][..], cpus.min(4)),
        (&["--threads", "2"], 2),
        (&["--threads", "4"], 4),
        (&["--prepare-ahead"], cpus.min(4).saturating_sub(1).max(1)),
    ] {
        let mut args = vec!["run", "--stats"];
        args.extend(extra);
        args.extend([object, archive, "-lm"]);
        let out = jitld(&args);
        assert_eq!(out.code, Some(0), "{extra:?}:\n{}", out.describe());
        let alone = out.stdout.ends_with(", threads: 1, single-threaded: 1\n");
        assert!(alone, "{extra:?}: the program is not alone:\n{}", out.describe());
        // Its main thread, which started jitld's pool and kept to a CPU meanwhile, may run
        // wherever jitld could.
        let (_, process_cpus) = task_cpus(&std::process::id().to_string());
        let cpus = format!(", cpus: {process_cpus}, ");
        assert!(out.stdout.contains(&cpus), "{extra:?}: the program's CPUs are not {cpus:?}:\n{}", out.describe());
        let linked_on = match threads {
            1 => "synthesized graphs on 1 thread;".to_string(),
            n => format!("synthesized graphs on {n} threads;"),
        };
        assert!(out.stderr.contains(&linked_on), "{extra:?}: expected {linked_on:?}:\n{}", out.describe());
        // A link this large makes its small blocks in jitld's own heap (`link_heap`).
        let heap = out.stderr.lines().find_map(|l| l.strip_prefix("jitld stats: small blocks from jitld's heap: "));
        let kib: usize = heap.and_then(|h| h.strip_suffix(" KiB in chunks")?.parse().ok()).unwrap_or(0);
        assert!(kib > 0, "{extra:?}: the link's small blocks are not from jitld's heap:\n{}", out.describe());
    }
    // A small program links on one thread: a second would cost more than it saves. Its
    // blocks are glibc's.
    let out = jitld(&["run", "--stats", object, "-lsqlite3"]);
    assert!(out.stderr.contains("synthesized graphs on 1 thread;"), "{}", out.describe());
    assert!(out.stderr.contains("small blocks from glibc's malloc"), "{}", out.describe());
}

/// The CPUs a thread of this process may run on (`/proc`'s list), and its name.
fn task_cpus(task: &str) -> (String, String) {
    let read = |file: &str| std::fs::read_to_string(format!("/proc/self/task/{task}/{file}")).unwrap_or_default();
    let status = read("status");
    let cpus = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).unwrap_or("").trim();
    (read("comm").trim().to_string(), cpus.to_string())
}

/// The CPU lists of the `count` pool threads `start` starts (each names itself once it
/// runs: waited for, up to 10 s).
fn pool_cpus(count: usize, start: impl FnOnce()) -> Vec<String> {
    let tasks = || -> std::collections::BTreeSet<String> {
        let entries = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
        entries.map(|e| e.expect("task").file_name().to_string_lossy().into_owned()).collect()
    };
    let before = tasks();
    start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let started = tasks().into_iter().filter(|task| !before.contains(task));
        let pool = started.map(|task| task_cpus(&task)).filter(|(name, _)| name.starts_with("jitld-materiali"));
        let cpus: Vec<String> = pool.map(|(_, cpus)| cpus).collect();
        if cpus.len() >= count || std::time::Instant::now() > deadline {
            return cpus;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `jitld run`'s pool threads keep to a CPU each, other than the one the starting thread is
/// on (`ThreadPlacement::OwnCpu`: woken, a thread was placed on the busy CPU of the thread
/// that woke it); a library's run wherever the process may.
#[test]
fn pool_threads_of_a_run_keep_to_cpus_of_their_own() {
    use jitld::session::{ExecutionSession, ThreadPlacement};
    use jitld_linker::memory::InProcessMemoryManager;
    use std::sync::Arc;
    let (_, process_cpus) = task_cpus(&std::process::id().to_string());
    let session = || ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));

    let anywhere = session();
    let cpus = pool_cpus(2, || anywhere.set_materialization_threads_placed(3, ThreadPlacement::Anywhere));
    assert_eq!(cpus, vec![process_cpus.clone(); 2], "a library's pool threads run wherever the process may");
    anywhere.stop_materialization_threads();

    let own = session();
    let this_thread = || task_cpus(&unsafe { libc::gettid() }.to_string()).1;
    let cpus = pool_cpus(2, || own.set_materialization_threads_placed(3, ThreadPlacement::OwnCpu));
    let starter = this_thread();
    assert_eq!(cpus.len(), 2, "two pool threads: {cpus:?}");
    let allowed: usize = process_cpus
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((first, last)) => last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum();
    if allowed < 2 {
        assert_eq!(cpus, vec![process_cpus.clone(); 2], "one CPU allowed ({process_cpus}): nothing to keep to");
    } else {
        for list in &cpus {
            assert!(
                list.parse::<usize>().is_ok(),
                "each pool thread keeps to one CPU: {cpus:?} (process: {process_cpus})"
            );
        }
        assert_ne!(cpus[0], cpus[1], "the two pool threads keep to different CPUs: {cpus:?}");
        // The starting thread keeps to its CPU, which the first pool thread does not have.
        assert!(starter.parse::<usize>().is_ok(), "the starting thread keeps to one CPU: {starter}");
        assert_ne!(starter, cpus[0], "the starting thread and the first pool thread share a CPU");
    }
    own.stop_materialization_threads();
    assert_eq!(this_thread(), process_cpus, "once the pool stops, the starting thread runs anywhere again");
}
