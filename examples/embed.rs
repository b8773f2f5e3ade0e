//! Embedding jitld: load an object file and call one of its functions.
//!
//! ```text
//! printf 'int add(int a, int b) { return a + b; }\n' > add.c && cc -c add.c
//! cargo run --example embed -- add.o add 2 3        # prints 5
//! ```

use jitld::generators::DynamicLibraryGenerator;
use jitld::layers::ObjectLinkingLayer;
use jitld::platform::Platform;
use jitld::session::{ExecutionSession, LookupFlags};
use jitld_linker::memory::InProcessMemoryManager;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, object, function, a, b] = args.as_slice() else {
        return Err("usage: embed OBJECT FUNCTION A B   (FUNCTION is `int f(int, int)`)".into());
    };

    let session = ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));
    let main = session.create_jit_dylib("main")?;
    let layer = ObjectLinkingLayer::new(session.clone());
    let platform = Platform::install(&layer);
    platform.setup_dylib(main)?;
    layer.add(main, jitld_linker::InputBuffer::from_vec(object.as_str(), std::fs::read(object)?))?;
    // Whatever the object needs and doesn't define comes from the process (libc).
    session.add_generator(main, Arc::new(DynamicLibraryGenerator::process(layer.clone())));

    let found = session.lookup(&[(main, LookupFlags::MatchAllSymbols)], &[session.intern(function)])?;
    platform.run_initializers();
    // SAFETY: the caller promises the function has this signature.
    let f: extern "C" fn(i32, i32) -> i32 = unsafe { std::mem::transmute(found[0].addr as usize) };
    println!("{}", f(a.parse()?, b.parse()?));
    Ok(())
}
