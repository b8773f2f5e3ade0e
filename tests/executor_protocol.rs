//! The real `jitld-executor`, driven through `RemoteExecutor` against real code: memory,
//! calls, symbols, libraries, interposition, lazy re-entry, TLS, crashes, TCP; and the
//! protocol's failure modes on both sides (garbage, truncation, oversize, hang-ups).
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use jitld::executor::protocol::{self, Encoder, Hello, Message};
use jitld::executor::remote::{Ending, OpenFlags, Outcome, Protection, RemoteExecutor};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

const RETURN_42: [u8; 6] = [0xb8, 0x2a, 0, 0, 0, 0xc3]; // mov $42, %eax; ret
const ADD: [u8; 5] = [0x48, 0x8d, 0x04, 0x37, 0xc3]; // lea (%rdi,%rsi), %rax; ret
const LOAD_FROM_NULL: [u8; 7] = [0x8b, 0x04, 0x25, 0, 0, 0, 0]; // mov 0, %eax

fn executor_path() -> PathBuf {
    RemoteExecutor::executor_path().expect("cargo build puts jitld-executor beside the tests")
}

fn movabs(register: &[u8; 2], value: u64) -> Vec<u8> {
    let mut code = register.to_vec();
    code.extend(value.to_le_bytes());
    code
}

/// `int main(int argc, char **argv) { puts(getenv(argv[1])); return argc; }`
fn main_printing_variable(getenv: u64, puts: u64) -> Vec<u8> {
    let mut code = vec![0x53, 0x89, 0xfb, 0x48, 0x8b, 0x7e, 0x08]; // push %rbx; mov %edi,%ebx; mov 8(%rsi),%rdi
    code.extend(movabs(&[0x48, 0xb8], getenv));
    code.extend([0xff, 0xd0, 0x48, 0x89, 0xc7]); // call *%rax; mov %rax,%rdi
    code.extend(movabs(&[0x48, 0xb8], puts));
    code.extend([0xff, 0xd0, 0x89, 0xd8, 0x5b, 0xc3]); // call *%rax; mov %ebx,%eax; pop %rbx; ret
    code
}

/// The x86-64 lazy trampoline (linker/src/arch/x86_64 `lazy_trampoline`).
fn trampoline(context: u64, reentry: u64) -> Vec<u8> {
    let mut code = movabs(&[0x49, 0xbb], context);
    code.extend([0x41, 0x53]);
    code.extend(movabs(&[0x49, 0xbb], reentry));
    code.extend([0x41, 0xff, 0xe3]);
    code
}

fn place_code(executor: &RemoteExecutor, code: &[u8]) -> u64 {
    let reservation = executor.reserve(code.len() as u64, 16, true).unwrap();
    executor.write(reservation.addr, code).unwrap();
    executor.protect(reservation.addr, reservation.size, Protection::READ_EXEC).unwrap();
    reservation.addr
}

fn address_of(executor: &RemoteExecutor, name: &str) -> u64 {
    executor.lookup(None, &[name]).unwrap()[0].unwrap_or_else(|| panic!("{name} not found")).addr
}

fn returned<T: std::fmt::Debug>(outcome: Outcome<T>) -> T {
    match outcome {
        Outcome::Returned(value) => value,
        Outcome::Crashed(crash) => panic!("the executor {crash}"),
        Outcome::Exited(status) => panic!("the program exited with status {status}"),
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitld-executor-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny shared object: a function, and a variable its own code reads through the GOT.
fn tiny_shared_object() -> Vec<u8> {
    let dir = scratch_dir("dso");
    let source = dir.join("tiny.c");
    std::fs::write(
        &source,
        "int tiny_target = 1;\n\
         int tiny_answer(void) { return 42; }\n\
         int tiny_read_target(void) { return tiny_target; }\n",
    )
    .unwrap();
    let output = dir.join("libtiny.so");
    let status = Command::new("cc").args(["-shared", "-fPIC", "-O2", "-o"]).arg(&output).arg(&source).status().unwrap();
    assert!(status.success());
    let bytes = std::fs::read(output).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    bytes
}

#[test]
fn handshake_states_the_target() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let target = *executor.target();
    assert_eq!((target.machine, target.pointer_width), (62, 8));
    assert!(target.page_size >= 4096 && target.page_size.is_power_of_two());
    assert!(target.shared_memory, "a spawned executor shares memory");
    assert_ne!(target.pid, std::process::id());
    assert!(executor.is_alive());
}

#[test]
fn code_written_into_reserved_memory_runs() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let reservation = executor.reserve(100, 64, true).unwrap();
    assert!(reservation.shared && reservation.addr < 1 << 31 && reservation.addr.is_multiple_of(64));
    let mut code = RETURN_42.to_vec();
    code.resize(16, 0xcc);
    code.extend(ADD);
    executor.write(reservation.addr, &code).unwrap();
    assert_eq!(executor.read(reservation.addr, code.len() as u64).unwrap(), code);
    executor.protect(reservation.addr, reservation.size, Protection::READ_EXEC).unwrap();
    assert_eq!(returned(executor.call(reservation.addr, &[]).unwrap()), 42);
    assert_eq!(returned(executor.call(reservation.addr + 16, &[40, 2]).unwrap()), 42);
    executor.release(reservation.addr, reservation.size).unwrap();
    assert!(executor.release(reservation.addr, reservation.size).is_err(), "released twice");
    // Anywhere, and unaligned requests are refused, not obeyed.
    let high = executor.reserve(1, 1 << 16, false).unwrap();
    assert!(high.addr.is_multiple_of(1 << 16));
    assert!(executor.reserve(100, 3, false).is_err());
    assert!(executor.protect(0x1000, 4096, Protection::READ).is_err(), "not a reservation");
    assert!(executor.read(8, 8).is_err(), "an unmapped read is an error, not a crash");
    assert!(executor.write(8, &[1]).is_err());
    assert!(executor.is_alive());
}

#[test]
fn lookup_finds_functions_and_data_with_sizes() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let found = executor.lookup(None, &["puts", "environ", "no_such_symbol_anywhere"]).unwrap();
    let puts = found[0].unwrap();
    assert!(puts.function && !puts.data && puts.size > 0 && puts.kind == 2); // STT_FUNC
    let environ = found[1].unwrap();
    assert!(environ.data && environ.size == 8 && environ.kind == 1); // STT_OBJECT
    assert_eq!(found[2], None);
    // The executor's own entry points, for trampolines and TLS.
    let own = executor.lookup(None, &["jitld_executor_lazy_reentry", "jitld_executor_tls_get_addr"]).unwrap();
    assert!(own.iter().all(|s| s.is_some()));
}

#[test]
fn dlopen_zlib_and_call_into_it() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let zlib = executor.dlopen(Some("libz.so.1"), OpenFlags::NOW_GLOBAL).unwrap();
    let version = executor.lookup(Some(zlib), &["zlibVersion"]).unwrap()[0].unwrap();
    assert!(version.function);
    let text = returned(executor.call(version.addr, &[]).unwrap());
    let bytes = executor.read(text, 4).unwrap();
    assert!(bytes.starts_with(b"1."), "zlibVersion() = {bytes:?}");
    // Global: the default scope sees it now.
    assert!(executor.lookup(None, &["deflate"]).unwrap()[0].is_some());
    executor.dlclose(zlib).unwrap();
    assert!(executor.dlclose(zlib).is_err(), "a handle closes once");
    assert!(executor.lookup(Some(0xdead_0000), &["x"]).is_err(), "unknown handles are refused");
    let missing = executor.dlopen(Some("libjitld-nonexistent.so"), OpenFlags::NOW_LOCAL).unwrap_err();
    assert!(missing.to_string().contains("libjitld-nonexistent.so"), "{missing}");
    // The executor itself.
    let own = executor.dlopen(None, OpenFlags::NOW_LOCAL).unwrap();
    assert!(executor.lookup(Some(own), &["jitld_executor_lazy_reentry"]).unwrap()[0].is_some());
}

#[test]
fn load_object_and_interpose_its_got_slot() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let object = executor.load_object("tiny", &tiny_shared_object(), OpenFlags::NOW_LOCAL).unwrap();
    assert_ne!(object.bias, 0);
    let found = executor.lookup(Some(object.handle), &["tiny_answer", "tiny_read_target", "tiny_target"]).unwrap();
    let (answer, read_target, target) = (found[0].unwrap(), found[1].unwrap(), found[2].unwrap());
    assert!(target.data && target.size == 4);
    assert_eq!(returned(executor.call(answer.addr, &[]).unwrap()), 42);
    assert_eq!(returned(executor.call(read_target.addr, &[]).unwrap()) as u32, 1);
    // A copy relocation's work: the object's GOT slot for its variable points at our copy.
    let copy = executor.reserve(4, 8, true).unwrap();
    executor.write(copy.addr, &99u32.to_le_bytes()).unwrap();
    assert!(executor.interpose(Some(object.handle), target.addr, copy.addr).unwrap() >= 1);
    assert_eq!(returned(executor.call(read_target.addr, &[]).unwrap()) as u32, 99);
    assert_eq!(executor.interpose(None, target.addr, copy.addr).unwrap(), 0, "no slot holds the old address now");
    assert!(executor.load_object("junk", b"not an ELF file", OpenFlags::NOW_LOCAL).is_err());
    // Each load is an object of its own, even from the same bytes.
    let again = executor.load_object("tiny", &tiny_shared_object(), OpenFlags::NOW_LOCAL).unwrap();
    assert_ne!((again.handle, again.bias), (object.handle, object.bias));
    executor.dlclose(again.handle).unwrap();
}

#[test]
fn static_tls_pairs_resolve_from_the_thread_pointer() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let tp = executor.thread_pointer().unwrap();
    assert_ne!(tp, 0);
    let get_addr = address_of(&executor, "jitld_executor_tls_get_addr");
    let pair = executor.reserve(16, 16, true).unwrap();
    let offset = (-64i64) as u64;
    let mut index = protocol::STATIC_TLS_MODULE.to_le_bytes().to_vec();
    index.extend(offset.to_le_bytes());
    executor.write(pair.addr, &index).unwrap();
    // Calls run on the executor's main thread, whose thread pointer `thread_pointer` gave.
    assert_eq!(returned(executor.call(get_addr, &[pair.addr]).unwrap()), tp.wrapping_add(offset));
}

#[test]
fn run_main_prints_to_the_executors_stdout_and_returns_its_status() {
    let mut command = Command::new(executor_path());
    command.stdout(Stdio::piped()).env("JITLD_GREETING", "hello from the executor");
    let executor = RemoteExecutor::spawn_command(command).unwrap();
    let mut stdout = executor.take_stdout().unwrap();
    let main =
        place_code(&executor, &main_printing_variable(address_of(&executor, "getenv"), address_of(&executor, "puts")));
    let status = returned(executor.run_main(main, &["prog", "JITLD_GREETING"], None).unwrap());
    assert_eq!(status, 2);
    let env = ["JITLD_GREETING=a given environment"];
    assert_eq!(returned(executor.run_main(main, &["prog", "JITLD_GREETING", "x"], Some(&env[..])).unwrap()), 3);
    assert_eq!(executor.exit(7).unwrap(), Ending::Exited(7));
    let mut output = String::new();
    stdout.read_to_string(&mut output).unwrap();
    assert_eq!(output, "hello from the executor\na given environment\n");
    assert!(executor.thread_pointer().is_err(), "an exited executor answers nothing");
}

/// `push %rbx; mov $status, %edi; call *exit` — a main that leaves through `exit` or `_exit`.
fn main_calling(exit: u64, status: u8) -> Vec<u8> {
    let mut code = vec![0x53, 0xbf, status, 0, 0, 0];
    code.extend(movabs(&[0x48, 0xb8], exit));
    code.extend([0xff, 0xd0]);
    code
}

#[test]
fn a_program_that_exits_by_itself_reports_its_status() {
    let no_args: [&str; 0] = [];
    for (function, status) in [("exit", 5), ("_exit", 6)] {
        let executor = RemoteExecutor::spawn_local().unwrap();
        let main = place_code(&executor, &main_calling(address_of(&executor, function), status));
        let outcome = executor.run_main(main, &no_args, None).unwrap();
        assert_eq!(outcome, Outcome::Exited(i32::from(status)), "{function}");
        let error = executor.thread_pointer().unwrap_err();
        assert!(error.to_string().contains("exited") || error.to_string().contains("hung up"), "{error}");
    }
    // Over TCP, exit's status comes in a message before the connection closes.
    let (executor, mut child) = executor_over_tcp();
    let main = place_code(&executor, &main_calling(address_of(&executor, "exit"), 9));
    assert_eq!(executor.run_main(main, &no_args, None).unwrap(), Outcome::Exited(9));
    assert_eq!(wait_with_deadline(&mut child, Duration::from_secs(10)).code(), Some(9));
}

#[test]
fn a_forked_child_returning_from_main_exits_without_answering_for_its_parent() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    // if (fork() == 0) return 7; return 3;
    let mut code = vec![0x53];
    code.extend(movabs(&[0x48, 0xb8], address_of(&executor, "fork")));
    code.extend([0xff, 0xd0, 0x85, 0xc0, 0x75, 0x07, 0xb8, 7, 0, 0, 0, 0x5b, 0xc3, 0xb8, 3, 0, 0, 0, 0x5b, 0xc3]);
    let main = place_code(&executor, &code);
    let no_args: [&str; 0] = [];
    assert_eq!(executor.run_main(main, &no_args, None).unwrap(), Outcome::Returned(3));
    // Give the child time to (wrongly) speak; a stray reply would break the link.
    std::thread::sleep(Duration::from_millis(200));
    assert!(executor.thread_pointer().is_ok() && executor.is_alive());
    assert_eq!(executor.exit(0).unwrap(), Ending::Exited(0));
}

/// `puts(text)`, as a function of no arguments.
fn function_printing(puts: u64, text: u64) -> Vec<u8> {
    let mut code = vec![0x48, 0x83, 0xec, 0x08]; // sub $8, %rsp
    code.extend(movabs(&[0x48, 0xbf], text));
    code.extend(movabs(&[0x48, 0xb8], puts));
    code.extend([0xff, 0xd0, 0x48, 0x83, 0xc4, 0x08, 0xc3]); // call *%rax; add $8, %rsp; ret
    code
}

#[test]
fn runtime_pieces_register_exit_handlers_with_the_program() {
    let mut command = Command::new(executor_path());
    command.stdout(Stdio::piped());
    let executor = RemoteExecutor::spawn_command(command).unwrap();
    let mut stdout = executor.take_stdout().unwrap();
    let text = executor.reserve(16, 16, true).unwrap();
    executor.write(text.addr, b"bye\0").unwrap();
    let handler = place_code(&executor, &function_printing(address_of(&executor, "puts"), text.addr));
    let atexit = address_of(&executor, "jitld_executor_atexit");
    assert_eq!(returned(executor.call(atexit, &[handler]).unwrap()), 0);
    for name in ["jitld_executor_at_quick_exit", "jitld_executor_pthread_atfork", "jitld_executor_pthread_create"] {
        address_of(&executor, name);
    }
    assert_eq!(executor.exit(0).unwrap(), Ending::Exited(0));
    let mut output = String::new();
    stdout.read_to_string(&mut output).unwrap();
    assert_eq!(output, "bye\n");
}

#[test]
fn stack_overflows_are_reported_on_the_main_thread_and_on_new_threads() {
    const RECURSE: [u8; 5] = [0xe8, 0xfb, 0xff, 0xff, 0xff]; // call . (forever)
    let executor = RemoteExecutor::spawn_local().unwrap();
    let code = place_code(&executor, &RECURSE);
    match executor.call(code, &[]).unwrap() {
        Outcome::Crashed(crash) => assert_eq!((crash.signal, crash.pc), (libc::SIGSEGV, code)),
        other => panic!("{other:?}"),
    }
    let executor = RemoteExecutor::spawn_local().unwrap();
    let code = place_code(&executor, &RECURSE);
    let thread_id = executor.reserve(8, 8, false).unwrap();
    let create = address_of(&executor, "jitld_executor_pthread_create");
    assert_eq!(returned(executor.call(create, &[thread_id.addr, 0, code, 0]).unwrap()), 0);
    let start = Instant::now();
    while executor.crash().is_none() && executor.is_alive() {
        assert!(start.elapsed() < Duration::from_secs(20), "no crash reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(executor.crash().map(|c| (c.signal, c.pc)), Some((libc::SIGSEGV, code)));
}

#[test]
fn a_crash_is_reported_with_signal_and_pc() {
    let executor = RemoteExecutor::spawn_local().unwrap();
    let code = place_code(&executor, &LOAD_FROM_NULL);
    match executor.call(code, &[]).unwrap() {
        Outcome::Crashed(crash) => {
            assert_eq!((crash.signal, crash.pc, crash.addr), (libc::SIGSEGV, code, 0));
            assert!(crash.to_string().contains("signal 11"), "{crash}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!executor.is_alive());
    assert_eq!(executor.crash().map(|c| c.signal), Some(libc::SIGSEGV));
    let error = executor.reserve(4096, 16, true).unwrap_err();
    assert!(error.to_string().contains("crashed"), "{error}");
}

#[test]
fn a_lazy_stub_reenters_the_jit_which_links_the_body() {
    let executor = Arc::new(RemoteExecutor::spawn_local().unwrap());
    let answer = place_code(&executor, &RETURN_42);
    let resolved = Arc::new(AtomicU64::new(0));
    let (weak, count): (Weak<RemoteExecutor>, _) = (Arc::downgrade(&executor), resolved.clone());
    executor.set_lazy_handler(Box::new(move |context| {
        assert_eq!(context, 0x1234_5678);
        count.fetch_add(1, Ordering::SeqCst);
        let executor = weak.upgrade().expect("alive while it calls us");
        // Link the body now, talking to the executor while it waits for us; and run a call
        // there meanwhile, as a body's initializers would.
        assert_eq!(returned(executor.call(answer, &[]).unwrap()), 42);
        Ok(place_code(&executor, &ADD))
    }));
    let reentry = address_of(&executor, "jitld_executor_lazy_reentry");
    let stub = place_code(&executor, &trampoline(0x1234_5678, reentry));
    assert_eq!(returned(executor.call(stub, &[40, 2]).unwrap()), 42);
    assert_eq!(returned(executor.call(stub, &[1, 2]).unwrap()), 3);
    assert_eq!(resolved.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failed_lazy_resolution_ends_the_executor_with_the_reason() {
    let mut command = Command::new(executor_path());
    command.stderr(Stdio::piped());
    let executor = RemoteExecutor::spawn_command(command).unwrap();
    let mut stderr = executor.take_stderr().unwrap();
    executor.set_lazy_handler(Box::new(|_| Err(jitld::JitError::other("lazy call to f failed: no body"))));
    let stub = place_code(&executor, &trampoline(1, address_of(&executor, "jitld_executor_lazy_reentry")));
    assert_eq!(executor.call(stub, &[]).unwrap(), Outcome::Exited(1));
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    assert!(text.contains("lazy call to f failed: no body"), "{text}");
}

/// Spawns `jitld-executor --listen 127.0.0.1:0` and connects to the port it names.
fn executor_over_tcp() -> (RemoteExecutor, Child) {
    let mut child =
        Command::new(executor_path()).args(["--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(' ').next().unwrap();
    (RemoteExecutor::connect(&format!("127.0.0.1:{port}")).unwrap(), child)
}

#[test]
fn tcp_loopback_runs_code_and_moves_large_writes_in_chunks() {
    let (executor, mut child) = executor_over_tcp();
    assert!(!executor.target().shared_memory);
    let reservation = executor.reserve(64, 16, true).unwrap();
    assert!(!reservation.shared);
    executor.write(reservation.addr, &ADD).unwrap();
    executor.protect(reservation.addr, reservation.size, Protection::READ_EXEC).unwrap();
    assert_eq!(returned(executor.call(reservation.addr, &[20, 22]).unwrap()), 42);
    let big: Vec<u8> = (0..(17u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    let space = executor.reserve(big.len() as u64, 4096, false).unwrap();
    executor.write(space.addr, &big).unwrap();
    assert!(executor.read(space.addr, big.len() as u64).unwrap() == big);
    assert_eq!(executor.exit(3).unwrap(), Ending::Exited(3));
    assert_eq!(wait_with_deadline(&mut child, Duration::from_secs(10)).code(), Some(3));
}

#[test]
fn an_executor_connects_to_a_listening_jit() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(executor_path()).args(["--connect", &format!("127.0.0.1:{port}")]).spawn().unwrap();
    let (stream, _) = listener.accept().unwrap();
    let executor = RemoteExecutor::over_socket(stream).unwrap();
    assert_eq!(returned(executor.call(place_code(&executor, &RETURN_42), &[]).unwrap()), 42);
    drop(executor); // hanging up ends it
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn protocol_numbers_agree_with_the_c_header() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/executor/protocol.h")).unwrap();
    let defined = |name: &str| -> u64 {
        let line = header.lines().find(|l| l.starts_with(&format!("#define JITLD_{name} "))).unwrap();
        let value = line.split_whitespace().nth(2).unwrap().trim_end_matches(['u', 'l']).to_lowercase();
        let value = value.trim_start_matches('(').trim_end_matches(')');
        match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => value.parse().unwrap(),
        }
    };
    let ops = [
        ("HELLO", protocol::OP_HELLO),
        ("LAZY_RESOLVE", protocol::OP_LAZY_RESOLVE),
        ("CRASHED", protocol::OP_CRASHED),
        ("EXITED", protocol::OP_EXITED),
        ("RESERVE", protocol::OP_RESERVE),
        ("WRITE", protocol::OP_WRITE),
        ("READ", protocol::OP_READ),
        ("PROTECT", protocol::OP_PROTECT),
        ("RELEASE", protocol::OP_RELEASE),
        ("LOOKUP", protocol::OP_LOOKUP),
        ("DLOPEN", protocol::OP_DLOPEN),
        ("DLCLOSE", protocol::OP_DLCLOSE),
        ("LOAD_OBJECT", protocol::OP_LOAD_OBJECT),
        ("THREAD_POINTER", protocol::OP_THREAD_POINTER),
        ("CALL", protocol::OP_CALL),
        ("RUN_MAIN", protocol::OP_RUN_MAIN),
        ("INTERPOSE", protocol::OP_INTERPOSE),
        ("EXIT", protocol::OP_EXIT),
        ("OK", protocol::OP_OK),
        ("ERROR", protocol::OP_ERROR),
    ];
    for (name, value) in ops {
        assert_eq!(defined(&format!("OP_{name}")), u64::from(value), "OP_{name}");
    }
    let flags = [
        ("PROTOCOL_VERSION", u64::from(protocol::VERSION)),
        ("HEADER_SIZE", protocol::HEADER_SIZE as u64),
        ("HELLO_SHARED_MEMORY", u64::from(protocol::HELLO_SHARED_MEMORY)),
        ("RESERVE_LOW", u64::from(protocol::RESERVE_LOW)),
        ("RESERVE_SHARED", u64::from(protocol::RESERVE_SHARED)),
        ("NO_OFFSET", protocol::NO_OFFSET),
        ("PROT_READ", u64::from(protocol::PROT_READ)),
        ("PROT_WRITE", u64::from(protocol::PROT_WRITE)),
        ("PROT_EXEC", u64::from(protocol::PROT_EXEC)),
        ("DLOPEN_NOW", u64::from(protocol::DLOPEN_NOW)),
        ("DLOPEN_GLOBAL", u64::from(protocol::DLOPEN_GLOBAL)),
        ("SYMBOL_FOUND", u64::from(protocol::SYMBOL_FOUND)),
        ("SYMBOL_FUNCTION", u64::from(protocol::SYMBOL_FUNCTION)),
        ("SYMBOL_DATA", u64::from(protocol::SYMBOL_DATA)),
        ("RUN_MAIN_ENVIRONMENT", u64::from(protocol::RUN_MAIN_ENVIRONMENT)),
        ("MAX_CALL_ARGS", protocol::MAX_CALL_ARGS as u64),
        ("STATIC_TLS_MODULE", protocol::STATIC_TLS_MODULE),
        ("EXIT_PROTOCOL_ERROR", protocol::EXIT_PROTOCOL_ERROR as u64),
    ];
    for (name, value) in flags {
        assert_eq!(defined(name), value, "{name}");
    }
    assert!(header.contains("#define JITLD_MAX_BODY (64u << 20)") && protocol::MAX_BODY == 64 << 20);
    assert!(header.contains(&format!("\"{}\"", std::str::from_utf8(&protocol::MAGIC).unwrap())));
    assert_eq!(jitld::linker::tls::STATIC_TLS_MODULE, protocol::STATIC_TLS_MODULE);
}

// ---- malformed input, on the executor's side --------------------------------------------

fn wait_with_deadline(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the executor hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Feeds `input` to a raw executor (protocol on its stdin/stdout), closes its input, and
/// returns how it ended and what it said on stderr.
fn feed(input: &[u8]) -> (ExitStatus, String) {
    let mut child = Command::new(executor_path())
        .args(["--fds", "0,1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let hello = protocol::read_message(&mut stdout).unwrap().unwrap();
    Hello::decode(&hello).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input); // it may already have left
    drop(stdin);
    // Drain replies so that it never blocks writing them.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stderr)
}

fn assert_protocol_error(input: &[u8], says: &str) {
    let (status, stderr) = feed(input);
    assert_eq!(status.code(), Some(protocol::EXIT_PROTOCOL_ERROR), "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in {stderr:?}");
}

#[test]
fn the_executor_leaves_cleanly_on_malformed_input() {
    let reserve = Encoder::new().u64(4096).u64(16).u32(0).finish();
    // Truncated header, truncated body, oversized, short body, trailing bytes.
    assert_protocol_error(&protocol::frame(protocol::OP_RESERVE, 1, &reserve)[..5], "inside a message header");
    assert_protocol_error(&protocol::frame(protocol::OP_RESERVE, 1, &reserve)[..20], "inside the body");
    let mut oversized = protocol::frame(protocol::OP_WRITE, 1, &[]);
    oversized[..4].copy_from_slice(&(protocol::MAX_BODY + 1).to_le_bytes());
    assert_protocol_error(&oversized, "exceeds the limit");
    assert_protocol_error(&protocol::frame(protocol::OP_RESERVE, 1, &reserve[..10]), "truncated body");
    let mut long = reserve.clone();
    long.push(0);
    assert_protocol_error(&protocol::frame(protocol::OP_RESERVE, 1, &long), "unexpected bytes");
    // A string list whose count cannot be honest, a call with too many arguments, a reply
    // nobody asked for.
    let lookup = Encoder::new().u64(0).u32(u32::MAX).finish();
    assert_protocol_error(&protocol::frame(protocol::OP_LOOKUP, 1, &lookup), "truncated body");
    let call = Encoder::new().u64(0x1000).u32(7).finish();
    assert_protocol_error(&protocol::frame(protocol::OP_CALL, 1, &call), "arguments");
    let reply = Encoder::new().u64(0).finish();
    assert_protocol_error(&protocol::frame(protocol::OP_OK, 99, &reply), "nobody is waiting");
    // An unknown operation is refused with an error reply; a clean hang-up is a clean exit.
    let (status, stderr) = feed(&protocol::frame(1000, 1, &[]));
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn the_executor_survives_garbage_without_crashing_or_hanging() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..24 {
        let len = 1 + (round * 37) % 300;
        let mut garbage = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            garbage.push(seed as u8);
        }
        // Keep the declared length small half the time, so that bodies get parsed too.
        if round % 2 == 0 && garbage.len() >= 16 {
            let body_len = (garbage.len() as u32 - 16).min(garbage[0] as u32);
            garbage[..4].copy_from_slice(&body_len.to_le_bytes());
            let op = [16, 18, 19, 20, 21, 22, 23, 24, 28][round % 9];
            garbage[4..8].copy_from_slice(&(op as u32).to_le_bytes());
        }
        let (status, stderr) = feed(&garbage);
        assert!(
            matches!(status.code(), Some(0) | Some(protocol::EXIT_PROTOCOL_ERROR)),
            "round {round}: {status} {stderr}"
        );
    }
}

// ---- a misbehaving executor, on the JIT's side -----------------------------------------

/// A fake executor on a loopback socket: says hello, then does what `then` says.
fn fake_executor(then: impl FnOnce(TcpStream) + Send + 'static) -> RemoteExecutor {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let hello = Hello {
            version: protocol::VERSION,
            machine: 62,
            page_size: 4096,
            pointer_width: 8,
            pid: 1,
            shared_memory: false,
        };
        stream.write_all(&protocol::frame(protocol::OP_HELLO, 0, &hello.encode())).unwrap();
        then(stream);
    });
    RemoteExecutor::connect(&addr).unwrap()
}

fn next_request(stream: &mut TcpStream) -> Message {
    protocol::read_message(stream).unwrap().unwrap()
}

#[test]
fn an_executor_hanging_up_mid_reply_is_an_error_not_a_hang() {
    let executor = fake_executor(|mut stream| {
        let request = next_request(&mut stream);
        let reply = protocol::frame(protocol::OP_OK, request.id, &[0; 16]);
        stream.write_all(&reply[..20]).unwrap();
    });
    let start = Instant::now();
    let error = executor.reserve(4096, 16, false).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(error.to_string().contains("inside a message"), "{error}");
    assert!(!executor.is_alive());
    assert!(executor.call(0x1000, &[]).is_err(), "no request goes to a dead executor");
}

#[test]
fn a_silent_executor_times_out() {
    let executor = fake_executor(|mut stream| {
        next_request(&mut stream);
        std::thread::sleep(Duration::from_secs(3));
    });
    executor.set_timeout(Duration::from_millis(200));
    let error = executor.thread_pointer().unwrap_err();
    assert!(error.to_string().contains("within"), "{error}");
}

#[test]
fn a_malformed_reply_or_hello_is_an_error() {
    let executor = fake_executor(|mut stream| {
        let request = next_request(&mut stream);
        // A reply with a byte too few for its u64.
        stream.write_all(&protocol::frame(protocol::OP_OK, request.id, &[0; 7])).unwrap();
        std::thread::sleep(Duration::from_secs(1));
    });
    let error = executor.thread_pointer().unwrap_err();
    assert!(error.to_string().contains("too short"), "{error}");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"HTTP/1.1 200 OK\r\n\r\nnot an executor at all").unwrap();
    });
    let error = RemoteExecutor::connect(&addr).err().expect("not an executor");
    assert!(error.to_string().contains("executor"), "{error}");
}

// ---- the AArch64 executor under qemu ------------------------------------------------------

/// The same C file cross-built for AArch64 (as `make executor-aarch64` does) and run under
/// qemu-user: the protocol from another architecture. Skipped, with a note, where the cross
/// compiler or qemu is missing; scripts/install-deps.sh installs both.
#[test]
fn the_aarch64_executor_runs_code_and_reenters_under_qemu() {
    let tools = ["aarch64-linux-gnu-gcc", "qemu-aarch64"];
    if tools.iter().any(|tool| Command::new(tool).arg("--version").output().is_err()) {
        eprintln!("skipped: needs {tools:?}");
        return;
    }
    let binary = scratch_dir("aarch64").join("jitld-executor");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/executor/jitld-executor.c");
    let built = Command::new("aarch64-linux-gnu-gcc")
        .args(["-std=gnu11", "-O2", "-fPIC", "-pie", "-pthread", "-o"])
        .arg(&binary)
        .args([source, "-ldl", "-Wl,--export-dynamic-symbol=jitld_executor_*"])
        .status()
        .unwrap();
    assert!(built.success());
    let executor_binary = binary.to_str().unwrap();
    // The binary stays open under qemu once started; removing it then is fine.
    let _remove = RemoveOnDrop(binary.parent().unwrap().to_path_buf());
    // With Debian's arm64 multiarch C library installed, qemu finds its loader and libraries
    // in / (a `-L` prefix would pair the cross toolchain's loader with the multiarch libc,
    // which hangs); without it, the cross toolchain's tree is the prefix.
    let mut command = vec!["qemu-aarch64".to_string()];
    if !Path::new("/lib/ld-linux-aarch64.so.1").exists() {
        command.extend(["-L".to_string(), "/usr/aarch64-linux-gnu".to_string()]);
    }
    command.push(executor_binary.to_string());
    let executor = Arc::new(RemoteExecutor::spawn(&command).unwrap());
    assert_eq!((executor.target().machine, executor.target().pointer_width), (183, 8));
    let words = |words: &[u32]| words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    let return_42 = words(&[0x5280_0540, 0xd65f_03c0]); // mov w0, #42; ret
    let add = words(&[0x8b01_0000, 0xd65f_03c0]); // add x0, x0, x1; ret
    assert_eq!(returned(executor.call(place_code(&executor, &return_42), &[]).unwrap()), 42);
    let puts = executor.lookup(None, &["puts"]).unwrap()[0].unwrap();
    assert!(puts.function);
    // The AArch64 trampoline: context in x16, jump through x17.
    let reentry = address_of(&executor, "jitld_executor_lazy_reentry");
    let mut stub = words(&[0x5800_0090, 0x5800_00b1, 0xd61f_0220, 0xd503_201f]); // ldr x16, ldr x17, br x17, nop
    stub.extend(7u64.to_le_bytes());
    stub.extend(reentry.to_le_bytes());
    let weak = Arc::downgrade(&executor);
    executor.set_lazy_handler(Box::new(move |context| {
        assert_eq!(context, 7);
        Ok(place_code(&weak.upgrade().unwrap(), &add))
    }));
    assert_eq!(returned(executor.call(place_code(&executor, &stub), &[40, 2]).unwrap()), 42);
    assert_eq!(executor.exit(0).unwrap(), Ending::Exited(0));
    // A crash names the faulting instruction there too.
    let executor = RemoteExecutor::spawn(&command).unwrap();
    let fault = place_code(&executor, &words(&[0xd280_0000, 0xb940_0000])); // mov x0, #0; ldr w0, [x0]
    match executor.call(fault, &[]).unwrap() {
        Outcome::Crashed(crash) => assert_eq!((crash.signal, crash.pc, crash.addr), (libc::SIGSEGV, fault + 4, 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_client_is_shared_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<RemoteExecutor>();
    let executor = Arc::new(RemoteExecutor::spawn_local().unwrap());
    let code = place_code(&executor, &ADD);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let executor = executor.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    let r = executor.reserve(64, 16, t % 2 == 0).unwrap();
                    executor.write(r.addr, &i.to_le_bytes()).unwrap();
                    assert_eq!(executor.read(r.addr, 8).unwrap(), i.to_le_bytes());
                    assert_eq!(returned(executor.call(code, &[t, i]).unwrap()), t + i);
                    executor.release(r.addr, r.size).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
}
