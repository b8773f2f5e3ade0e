//! Lazy compilation with lazy re-exports (LLLazyJIT): functions are linked on their first
//! call, through stubs whose address never changes. An object whose functions are never
//! called is never linked — here, one that refers to a symbol nobody defines.

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::Ordering::Relaxed;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jit = jitld::Jit::new()?;
    jit.add_lazy_object("square.o", common::compile("square", "int square(int x) { return x * x; }"))?;
    jit.add_lazy_object(
        "broken.o",
        common::compile("broken", "int missing(int);\nint broken(int x) { return missing(x); }"),
    )?;
    let linked = || jit.layer().stats().objects.load(Relaxed);

    let stub = jit.lookup("square")?;
    println!("stub for square at {stub:#x}; objects linked so far: {}", linked());
    // SAFETY: `square` is `int square(int)`.
    let square = unsafe { jit.get::<extern "C" fn(i32) -> i32>("square")? };
    println!("square(12) = {}; objects linked now: {}", square(12), linked());
    println!("square(13) = {}; stubs hit: {}", square(13), jit.lazy_stats().hit.load(Relaxed));
    println!("same stub afterwards: {}", jit.lookup("square")? == stub);
    Ok(())
}
