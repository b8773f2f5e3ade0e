//! How to create JITDylibs and set up linkage relationships: the ORC design document's
//! libA / libB / main example. Both libraries define `foo`; `main` links against A first,
//! so its reference binds to A's. Two definitions of `foo` inside A would be an error.

#[path = "common/mod.rs"]
mod common;

use jitld::generators::DynamicLibraryGenerator;
use jitld::layers::ObjectLinkingLayer;
use jitld::platform::Platform;
use jitld::session::{ExecutionSession, LookupFlags};
use jitld_linker::memory::InProcessMemoryManager;
use jitld_linker::InputBuffer;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let session = ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));
    let layer = ObjectLinkingLayer::new(session.clone());
    let platform = Platform::install(&layer);
    let process = session.create_jit_dylib("process")?;
    session.add_generator(process, Arc::new(DynamicLibraryGenerator::process(layer.clone())));

    let lib_a = session.create_jit_dylib("A")?;
    let lib_b = session.create_jit_dylib("B")?;
    let main = session.create_jit_dylib("main")?;
    for dylib in [lib_a, lib_b, main] {
        platform.setup_dylib(dylib)?;
    }
    let add =
        |dylib, name: &str, source: &str| layer.add(dylib, InputBuffer::from_vec(name, common::compile(name, source)));
    add(lib_a, "a1.o", "int foo(void) { return 1; }")?;
    add(lib_a, "a2.o", "int a_helper(void) { return 10; }")?;
    add(lib_b, "b1.o", "int foo(void) { return 2; }")?;
    if let Err(e) = add(lib_a, "a3.o", "int foo(void) { return 3; }") {
        println!("as expected: {e}");
    }

    // "main links against A, then B" — exported symbols only, as between shared libraries.
    let exported = LookupFlags::MatchExportedSymbolsOnly;
    session.set_link_order(main, vec![(lib_a, exported), (lib_b, exported), (process, LookupFlags::MatchAllSymbols)]);
    add(main, "main.o", "#include <stdio.h>\nint foo(void); int a_helper(void);\nint run(void) { printf(\"foo() = %d\\n\", foo()); fflush(stdout); return foo() + a_helper(); }")?;

    let found = session.lookup(&session.search_order(main), &[session.intern("run")])?;
    // SAFETY: `run` is `int run(void)`.
    let run: extern "C" fn() -> i32 = unsafe { std::mem::transmute(found[0].addr as usize) };
    println!("run() = {}", run());
    Ok(())
}
