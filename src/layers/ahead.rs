//! A graph that a helper thread may build ahead of its materialization
//! (`MaterializationUnit::prepare`), or the materialization builds itself: whichever
//! starts first builds it, and the other takes or leaves the result.

use jitld_linker::format::Format;
use jitld_linker::names::NamePool;
use jitld_linker::{InputBuffer, LinkGraph};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct GraphAhead {
    state: Mutex<Stage>,
    built: Condvar,
}

#[derive(Default)]
enum Stage {
    #[default]
    NotStarted,
    /// A helper is building it.
    Building,
    /// Boxed: a graph is large, and the other stages are nothing.
    Built(Box<jitld_linker::Result<LinkGraph>>),
    /// The materialization has it, or builds it itself.
    Taken,
}

impl GraphAhead {
    /// Builds the graph unless someone already started (the helper's side).
    pub fn build(&self, format: Format, input: &InputBuffer, names: &Arc<NamePool>) {
        {
            let mut stage = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(*stage, Stage::NotStarted) {
                return;
            }
            *stage = Stage::Building;
        }
        // A builder that panics hands the work back: `take` must not wait for it forever.
        let unstarted = Unstart(self);
        let graph = format.build_graph(input, names);
        std::mem::forget(unstarted);
        self.finish(Stage::Built(Box::new(graph)));
    }

    fn finish(&self, stage: Stage) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = stage;
        self.built.notify_all();
    }

    /// The graph: as the helper built it, once it is done, or built here if nobody started.
    pub fn take(&self, format: Format, input: &InputBuffer, names: &Arc<NamePool>) -> jitld_linker::Result<LinkGraph> {
        let mut stage = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *stage, Stage::Taken) {
                Stage::NotStarted | Stage::Taken => {
                    drop(stage);
                    return format.build_graph(input, names);
                }
                Stage::Built(graph) => return *graph,
                Stage::Building => {
                    *stage = Stage::Building;
                    stage = self.built.wait(stage).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

/// Puts a graph whose building panicked back to `NotStarted`, for `take` to build itself.
struct Unstart<'a>(&'a GraphAhead);

impl Drop for Unstart<'_> {
    fn drop(&mut self) {
        self.0.finish(Stage::NotStarted);
    }
}
