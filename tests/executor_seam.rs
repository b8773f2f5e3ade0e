//! The executor seam: everything the JIT asks of the process that runs the code goes through
//! `Executor`. A recording executor in front of this process sees each kind of request a
//! real program makes: its libraries' symbols, its initializers (with `argc, argv, envp`),
//! its unwind tables, its finalizers.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use jitld::executor::{
    EhFrame, Executor, ExecutorSymbol, InProcessExecutor, LazyHandler, LibraryHandle, ProgramArgs, TargetInfo,
};
use jitld::linker::memory::MemoryManager;
use jitld::Jit;
use std::sync::{Arc, Mutex};

/// This process, with a log of what was asked of it.
struct Recording {
    inner: InProcessExecutor,
    log: Mutex<Vec<String>>,
}

impl Recording {
    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
    fn saw(&self, prefix: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.starts_with(prefix)).count()
    }
}

impl Executor for Recording {
    fn target(&self) -> TargetInfo {
        self.inner.target()
    }
    fn memory(&self) -> &Arc<dyn MemoryManager> {
        self.inner.memory()
    }
    fn runs_code(&self) -> bool {
        self.inner.runs_code()
    }
    fn in_this_process(&self) -> bool {
        self.inner.in_this_process()
    }
    fn load_library(&self, path: &str) -> jitld::Result<LibraryHandle> {
        self.note(format!("load_library {path}"));
        self.inner.load_library(path)
    }
    fn lookup(&self, library: LibraryHandle, names: &[&str]) -> jitld::Result<Vec<Option<ExecutorSymbol>>> {
        self.note(format!("lookup {}", names.join(" ")));
        self.inner.lookup(library, names)
    }
    fn call(&self, addr: u64, args: &[u64]) -> jitld::Result<u64> {
        self.note(format!("call/{}", args.len()));
        self.inner.call(addr, args)
    }
    fn write(&self, addr: u64, bytes: &[u8]) -> jitld::Result<()> {
        self.note("write".into());
        self.inner.write(addr, bytes)
    }
    fn read(&self, addr: u64, len: u64) -> jitld::Result<Vec<u8>> {
        self.note("read".into());
        self.inner.read(addr, len)
    }
    fn interpose(&self, moves: &[(u64, u64)]) -> jitld::Result<()> {
        self.note(format!("interpose {} variables", moves.len()));
        self.inner.interpose(moves)
    }
    fn program_args(&self, argv: &[String]) -> jitld::Result<ProgramArgs> {
        self.inner.program_args(argv)
    }
    fn run_main(&self, entry: u64, args: ProgramArgs) -> jitld::Result<i32> {
        self.note("run_main".into());
        self.inner.run_main(entry, args)
    }
    fn runtime_symbols(&self) -> jitld::Result<Vec<(&'static str, u64)>> {
        self.note("runtime_symbols".into());
        self.inner.runtime_symbols()
    }
    fn load_object(&self, name: &str, bytes: &[u8]) -> jitld::Result<u64> {
        self.inner.load_object(name, bytes)
    }
    fn thread_pointer(&self) -> jitld::Result<u64> {
        self.inner.thread_pointer()
    }
    fn lazy_reentry(&self) -> jitld::Result<u64> {
        self.note("lazy_reentry".into());
        self.inner.lazy_reentry()
    }
    fn set_lazy_handler(&self, handler: Box<LazyHandler>) {
        self.inner.set_lazy_handler(handler)
    }
    fn register_eh_frame(&self, frame: EhFrame) -> jitld::Result<()> {
        self.note(format!("register_eh_frame {}", frame.start));
        self.inner.register_eh_frame(frame)
    }
    fn deregister_eh_frame(&self, start: u64) -> jitld::Result<()> {
        self.note("deregister_eh_frame".into());
        self.inner.deregister_eh_frame(start)
    }
}

const PROGRAM: &str = r#"
#include <stdio.h>
#include <string.h>
static int started;
__attribute__((constructor)) static void start(void) { started = 40; }
__attribute__((destructor)) static void stop(void) { fflush(stdout); }
int answer(void) { return started + (int)strlen("ab"); }
"#;

#[test]
fn a_program_asks_its_executor_for_symbols_initializers_unwind_tables_and_finalizers() {
    let dir = scratch("executor-seam");
    let source = write(&dir, "program.c", PROGRAM);
    let object = read(&compile("gcc", &source, &dir.join("program.o"), &["-O1", "-fPIC"]));
    let executor = Arc::new(Recording { inner: InProcessExecutor::new(), log: Mutex::new(Vec::new()) });
    {
        let jit = Jit::builder().executor(executor.clone()).build().unwrap();
        jit.add_object("program.o", object).unwrap();
        let answer = unsafe { jit.get::<extern "C" fn() -> i32>("answer") }.unwrap();
        assert_eq!(answer(), 42);
        assert_eq!(executor.saw("runtime_symbols"), 2, "main and main.lazy get the runtime pieces");
        assert!(executor.saw("lookup") >= 1 && executor.log.lock().unwrap().iter().any(|l| l.contains("fflush")));
        assert_eq!(executor.saw("call/3"), 1, "the constructor, with argc, argv and envp");
        assert_eq!(executor.saw("register_eh_frame"), 1);
        assert_eq!(executor.saw("call/0"), 0, "no finalizer before removal");
    }
    // Dropping the JIT removes the code: its finalizer runs and its unwind table goes.
    assert_eq!(executor.saw("call/0"), 1);
    assert_eq!(executor.saw("deregister_eh_frame"), 1);
}

/// The start of each `.eh_frame` registered so far.
fn registered_frames(executor: &Recording) -> Vec<u64> {
    let log = executor.log.lock().unwrap();
    log.iter().filter_map(|l| l.strip_prefix("register_eh_frame ")).map(|a| a.parse().unwrap()).collect()
}

/// Where each FDE of a registered `.eh_frame` in this process says its code starts (gcc's
/// x86-64 encoding: 4-byte PC-relative).
fn fde_starts(start: u64) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut at = start;
    loop {
        // SAFETY: a registered, finalized `.eh_frame` in this process, ending in a terminator.
        let (length, cie_pointer) = unsafe { (*(at as *const u32), *((at + 4) as *const u32)) };
        if length == 0 {
            return starts;
        }
        if cie_pointer != 0 {
            let pc_field = at + 8;
            // SAFETY: as above.
            starts.push(pc_field.wrapping_add_signed(unsafe { *(pc_field as *const i32) } as i64));
        }
        at += 4 + length as u64;
    }
}

/// Code split into hot and cold parts (gcc's `NAME.cold` in `.text.unlikely`) has FDEs
/// alternating between two sections; the registered `.eh_frame` lists them in address
/// order, so an unwinder that sorts on first use (libgcc) finds nothing to sort.
#[test]
fn registered_unwind_tables_list_functions_in_address_order() {
    let dir = scratch("executor-seam-fde-order");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/features/hot_cold_split.c");
    let object = read(&compile("gcc", &source, &dir.join("split.o"), &["-O2", "-fPIC"]));
    let input = tool("readelf", &["--debug-dump=frames", dir.join("split.o").to_str().unwrap()]);
    let input_starts: Vec<u64> = input
        .stdout
        .lines()
        .filter_map(|l| l.split(" pc=").nth(1))
        .map(|pc| u64::from_str_radix(pc.split("..").next().unwrap(), 16).unwrap())
        .collect();
    assert_eq!(input_starts.len(), 10, "{}", input.stdout);
    assert!(!input_starts.is_sorted(), "the input alternates between .text and .text.unlikely: {input_starts:?}");

    let executor = Arc::new(Recording { inner: InProcessExecutor::new(), log: Mutex::new(Vec::new()) });
    let jit = Jit::builder().executor(executor.clone()).build().unwrap();
    jit.add_object("split.o", object).unwrap();
    let answer = unsafe { jit.get::<extern "C" fn() -> i32>("answer") }.unwrap();
    assert_eq!(answer(), 9);
    let frames = registered_frames(&executor);
    assert_eq!(frames.len(), 1);
    let starts = fde_starts(frames[0]);
    assert_eq!(starts.len(), 10);
    assert!(starts.is_sorted() && starts.windows(2).all(|w| w[0] < w[1]), "{starts:x?}");
    let f1 = jit.lookup("f1").unwrap();
    assert!(starts.contains(&f1), "the FDEs describe the linked code: f1 at {f1:#x}, {starts:x?}");
}
