//! `--perf-map`: `/tmp/perf-PID.map`, the file `perf report` reads to name JIT'd code
//! (one `START SIZE NAME` line per function, hexadecimal).

use super::functions;
use crate::error::{JitError, Result};
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::memory::Allocation;
use jitld_linker::LinkGraph;
use std::io::Write;
use std::sync::Mutex;

pub struct PerfMap {
    file: Mutex<std::fs::File>,
}

impl PerfMap {
    pub fn create() -> Result<PerfMap> {
        let path = format!("/tmp/perf-{}.map", std::process::id());
        let file = std::fs::File::create(&path).map_err(|e| JitError::other(format!("{path}: {e}")))?;
        Ok(PerfMap { file: Mutex::new(file) })
    }
}

impl LinkPlugin for PerfMap {
    fn notify_finalized(&self, _: InstanceId, _: u64, graph: &LinkGraph, _: &Allocation) -> Result<()> {
        let mut text = String::new();
        for f in functions(graph) {
            text.push_str(&format!("{:x} {:x} {}\n", f.start, f.end - f.start, graph.names.resolve(f.name)));
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(text.as_bytes()).map_err(|e| JitError::other(format!("perf map: {e}")))
    }
}
