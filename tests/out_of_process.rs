//! Running code in an executor process: a crash there is reported with the JIT'd function it
//! happened in and ends jitld as it ended the program; from the library, a crashed executor
//! turns calls into errors, the JIT lives on, and a fresh executor runs the next program;
//! lazy bodies are linked when the executor first calls them; removing code runs its
//! finalizers there; JITDylibs and link orders work as in-process. (`tests/e2e.rs` runs every
//! program both in-process and in an executor, and a subset over TCP.)

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use jitld::executor::remote::RemoteExecutor;
use jitld::executor::ProcessExecutor;
use jitld::{Jit, JitError};
use std::sync::Arc;

const CRASH: &str = "#include <stdio.h>\nint *volatile nowhere;\n\
__attribute__((noinline)) int poke(void) { return *nowhere; }\n\
int main(void) { printf(\"before\\n\"); fflush(stdout); return poke(); }\n";

fn object(dir: &std::path::Path, name: &str, source: &str) -> std::path::PathBuf {
    let src = write(dir, &format!("{name}.c"), source);
    compile("gcc", &src, &dir.join(format!("{name}.o")), &["-O1", "-fPIC"])
}

fn executor_jit() -> Jit {
    let process = ProcessExecutor::new(RemoteExecutor::spawn_local().unwrap()).unwrap();
    Jit::builder().executor(Arc::new(process)).build().unwrap()
}

#[test]
fn a_crash_in_the_executor_is_reported_and_ends_jitld_by_the_signal() {
    let dir = scratch("oop-crash");
    let crash = object(&dir, "crash", CRASH).display().to_string();
    let out = jitld(&["run", "--oop", &crash]);
    assert_eq!(out.signal, Some(libc::SIGSEGV), "{}", out.describe());
    assert_eq!(out.stdout, "before\n");
    assert!(out.stderr.contains("SIGSEGV") && out.stderr.contains("poke+0x"), "{}", out.describe());
}

#[test]
fn after_a_crash_the_library_attaches_a_fresh_executor() {
    let dir = scratch("oop-library");
    let crash = read(&object(&dir, "crash", CRASH));
    let answer = read(&object(&dir, "answer", "int answer(int x) { return x + 1; }\n"));
    {
        let jit = executor_jit();
        jit.add_object("crash.o", crash).unwrap();
        let poke = jit.lookup("poke").unwrap();
        let error = jit.session().executor().call(poke, &[]).unwrap_err();
        assert!(matches!(error, JitError::ExecutorCrashed(crash) if crash.signal == libc::SIGSEGV), "{error}");
        // The executor is gone: what needs it fails, nothing hangs or panics.
        assert!(jit.session().executor().call(poke, &[]).is_err());
    }
    let jit = executor_jit();
    jit.add_object("answer.o", answer).unwrap();
    let addr = jit.lookup("answer").unwrap();
    assert_eq!(jit.session().executor().call(addr, &[41]).unwrap(), 42);
}

#[test]
fn lazy_bodies_are_linked_when_the_executor_first_calls_them() {
    let dir = scratch("oop-lazy");
    let main = object(&dir, "main", "int twice(int);\nint main(void) { return twice(21); }\n");
    let body = object(&dir, "twice", "#include <stdio.h>\nint twice(int x) { printf(\"twice\\n\"); return 2 * x; }\n");
    let (main, body) = (main.display().to_string(), body.display().to_string());
    let out = jitld(&["run", "--oop", "--stats", &main, "--lazy", &body]);
    assert_eq!(out.code, Some(42), "{}", out.describe());
    assert_eq!(out.stdout, "twice\n");
    assert!(out.stderr.contains("lazy stubs: 1 created, 1 hit"), "{}", out.describe());
}

#[test]
fn removing_code_runs_its_finalizers_in_the_executor() {
    let dir = scratch("oop-remove");
    let witness = read(&object(&dir, "witness", "int finalized;\n"));
    let leaving = read(&object(
        &dir,
        "leaving",
        "extern int finalized;\n__attribute__((destructor)) static void bye(void) { finalized += 1; }\n\
         int leaving(void) { return 5; }\n",
    ));
    let jit = executor_jit();
    let executor = jit.session().executor().clone();
    jit.add_object("witness.o", witness).unwrap();
    let tracker = jit.session().create_resource_tracker(jit.main_dylib());
    jit.layer().add_tracked(&tracker, jitld::linker::InputBuffer::from_vec("leaving.o", leaving)).unwrap();
    assert_eq!(executor.call(jit.lookup("leaving").unwrap(), &[]).unwrap(), 5);
    let finalized = jit.lookup("finalized").unwrap();
    assert_eq!(executor.read(finalized, 4).unwrap(), [0, 0, 0, 0]);
    tracker.remove().unwrap();
    assert_eq!(executor.read(finalized, 4).unwrap(), [1, 0, 0, 0], "the destructor ran in the executor");
    assert!(jit.lookup("leaving").is_err(), "the name is gone");
}

#[test]
fn jitdylibs_and_link_orders_work_in_the_executor() {
    let dir = scratch("oop-jd");
    let lib = object(&dir, "lib", "int base(void) { return 40; }\n").display().to_string();
    let main = object(&dir, "main", "int base(void);\nint main(void) { return base() + 2; }\n");
    let main = main.display().to_string();
    let out = jitld(&["run", "--oop", "-jd", "libA", &lib, "-jd", "main", &main, "--link-order", "main=libA"]);
    assert_eq!(out.code, Some(42), "{}", out.describe());
}
