//! The pass pipeline and its hook points (LLVM JITLink's, in Rust form).
//!
//! A pass is a function over the graph. Each list runs at one point of `link::link`:
//! - `pre_prune`: the graph as built; liveness roots may be adjusted (eh_frame is kept whole
//!   or split here).
//! - `post_prune`: dead blocks are gone; tables (GOT, stubs) are built here, before sizes are
//!   fixed.
//! - `post_allocation`: every block and defined symbol has its final address; externals not yet.
//! - `pre_fixup`: externals are resolved too; edges may be rewritten (relaxation).
//! - `post_fixup`: bytes are final in working memory, not yet protected.

mod eh_frame;
mod live;

pub use eh_frame::{record_count as eh_frame_records, split_eh_frame};
pub use live::{mark_live, prune};

use crate::graph::LinkGraph;
use crate::Result;

pub type Pass = Box<dyn FnMut(&mut LinkGraph) -> Result<()> + Send>;

#[derive(Default)]
pub struct PassConfig {
    pub pre_prune: Vec<Pass>,
    pub post_prune: Vec<Pass>,
    pub post_allocation: Vec<Pass>,
    pub pre_fixup: Vec<Pass>,
    pub post_fixup: Vec<Pass>,
}

impl PassConfig {
    /// The default pipeline of the graph's target: its format's passes, then its
    /// architecture's (tables, relaxation).
    pub fn for_graph(graph: &LinkGraph) -> Self {
        let mut config = PassConfig::default();
        if let Some(format) = graph.format {
            format.add_passes(graph, &mut config);
        }
        graph.arch.add_passes(&mut config);
        config
    }
}

pub(crate) fn run(passes: &mut [Pass], graph: &mut LinkGraph) -> Result<()> {
    passes.iter_mut().try_for_each(|pass| pass(graph))
}
