//! Concurrent JIT'd code and concurrent compilation: materialization on a thread pool, and
//! lazy stubs called from many threads at once. Each body is linked exactly once; callers
//! that arrive while it is being linked wait in the ordinary lookup.

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::Ordering::Relaxed;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jit = jitld::Jit::builder().threads(4).build()?;
    for i in 0..16 {
        let source =
            format!("int work_{i}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k % ({i} + 2); return s; }}");
        jit.add_lazy_object(&format!("work_{i}.o"), common::compile(&format!("work_{i}"), &source))?;
    }
    let stubs: Vec<u64> = (0..16).map(|i| jit.lookup(&format!("work_{i}"))).collect::<Result<_, _>>()?;
    let total: i64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let stubs = &stubs;
                scope.spawn(move || {
                    (0..200)
                        .map(|n| {
                            let i = (n + t) % 16;
                            // SAFETY: each stub leads to `int work_i(int)`.
                            let f: extern "C" fn(i32) -> i32 = unsafe { std::mem::transmute(stubs[i] as usize) };
                            f(100) as i64
                        })
                        .sum::<i64>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!("total = {total}");
    println!(
        "bodies linked: {}, stubs hit: {}",
        jit.layer().stats().objects.load(Relaxed),
        jit.lazy_stats().hit.load(Relaxed)
    );
    Ok(())
}
