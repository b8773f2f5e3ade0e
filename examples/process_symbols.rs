//! How to add process and library symbols to JITDylibs: an absolute symbol for a Rust
//! function the JIT'd code calls back into, the process's symbols filtered by an allow-list,
//! and a shared library opened with dlopen. Also shows interned symbol strings: names are
//! interned once, and lookups compare integers.

#[path = "common/mod.rs"]
mod common;

use jitld::generators::DynamicLibraryGenerator;
use jitld::layers::ObjectLinkingLayer;
use jitld::platform::Platform;
use jitld::session::{ExecutionSession, LookupFlags, SymbolFlags};
use jitld_linker::memory::InProcessMemoryManager;
use jitld_linker::InputBuffer;
use std::sync::Arc;

extern "C" fn host_scale(x: i64) -> i64 {
    x * 1000
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let session = ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));
    let layer = ObjectLinkingLayer::new(session.clone());
    let main = session.create_jit_dylib("main")?;
    Platform::install(&layer).setup_dylib(main)?;

    let name = session.intern("host_scale");
    assert_eq!(name, session.intern("host_scale"), "interning twice gives the same name");
    session.define_absolute(main, &[(name, host_scale as *const () as u64, SymbolFlags::strong_function())])?;
    // Only a few C library functions are visible, not the whole process.
    let allowed = |n: &str| matches!(n, "snprintf" | "puts" | "strlen" | "fflush" | "stdout");
    session.add_generator(main, Arc::new(DynamicLibraryGenerator::process(layer.clone()).with_allow(allowed)));
    // dlsym on a library also searches the libraries it depends on: filter it too.
    let zlib = DynamicLibraryGenerator::open("libz.so.1", layer.clone())?.with_allow(|n| n.starts_with("crc32"));
    session.add_generator(main, Arc::new(zlib));

    let source = "#include <stdio.h>\n#include <string.h>\nlong host_scale(long);\nunsigned long crc32(unsigned long, const unsigned char *, unsigned);\n\
        long demo(void) { char text[64]; snprintf(text, sizeof text, \"scaled %ld\", host_scale(7)); puts(text); fflush(stdout);\n\
        return (long)crc32(0, (const unsigned char *)text, strlen(text)); }\n";
    layer.add(main, InputBuffer::from_vec("demo.o", common::compile("demo", source)))?;
    let found = session.lookup(&[(main, LookupFlags::MatchAllSymbols)], &[session.intern("demo")])?;
    // SAFETY: `demo` is `long demo(void)`.
    let demo: extern "C" fn() -> i64 = unsafe { std::mem::transmute(found[0].addr as usize) };
    println!("crc32 = {:#x}", demo());

    let hidden = common::compile("uses_getpid", "int getpid(void);\nint pid(void) { return getpid(); }");
    layer.add(main, InputBuffer::from_vec("uses_getpid.o", hidden))?;
    match session.lookup(&[(main, LookupFlags::MatchAllSymbols)], &[session.intern("pid")]) {
        Err(e) => println!("not allowed: {e}"),
        Ok(_) => println!("getpid was visible"),
    }
    Ok(())
}
