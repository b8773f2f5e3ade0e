//! `.eh_frame` before pruning (`passes::split_eh_frame`): a section whose records all
//! describe code that stays, in layout order, is kept as one block; otherwise it is split
//! into records, and the records of dropped code go with it. Objects from gcc and g++, built
//! at run time under `target/tmp/unwind-records-*`; C++ exceptions thrown through code
//! whose records were kept whole must still be caught, natively and under `jitld run`.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use jitld_linker::format::Format;
use jitld_linker::graph::{Content, Definition, LinkGraph, SectionRole};
use jitld_linker::{InputBuffer, NamePool};

/// The graph of `object` after the pre-prune `.eh_frame` pass and pruning, as a link has it.
fn pruned_graph(object: &std::path::Path) -> LinkGraph {
    let names = NamePool::new();
    let input = InputBuffer::from_vec("test.o", read(object));
    let mut graph = Format::Elf.build_graph(&input, &names).unwrap();
    let kinds = graph.arch.eh_frame_kinds();
    jitld_linker::passes::split_eh_frame(&mut graph, &kinds).unwrap();
    jitld_linker::passes::prune(&mut graph).unwrap();
    graph
}

/// The blocks of the graph's `.eh_frame`, in order, as (size, taken from the input).
fn unwind_blocks(graph: &LinkGraph) -> Vec<(u64, bool)> {
    let section = graph.sections.iter().find(|s| s.role == SectionRole::EhFrame).expect("an .eh_frame");
    let block = |b: &jitld_linker::graph::BlockId| graph.block(*b);
    section.blocks.iter().map(block).map(|b| (b.size(), matches!(b.content, Content::Input { .. }))).collect()
}

fn section_size(object: &std::path::Path, name: &str) -> u64 {
    let bytes = read(object);
    let elf = elf(&bytes);
    elf.section_headers[section_index(&bytes, name)].sh_size
}

const THREE_FUNCTIONS: &str = r#"
int twice(int x) { return 2 * x; }
int add(int a, int b) { return a + b; }
int both(int x) { return add(twice(x), x); }
"#;

#[test]
fn records_of_code_that_stays_are_one_block() {
    let dir = scratch("unwind-records-whole");
    let object = compile("gcc", &write(&dir, "three.c", THREE_FUNCTIONS), &dir.join("three.o"), &["-O1", "-fPIC"]);
    let graph = pruned_graph(&object);
    let input_size = section_size(&object, ".eh_frame");
    // The section as read, then the zero terminator.
    assert_eq!(unwind_blocks(&graph), [(input_size, true), (4, false)]);
    assert!(graph
        .sections
        .iter()
        .filter(|s| s.role == SectionRole::EhFrame)
        .all(|s| { s.blocks.iter().all(|&b| graph.block(b).live) }));
}

/// `unused` is in a section of its own (`-ffunction-sections`) that nothing refers to, so
/// pruning drops it; its FDE must not outlive it (its code address would be garbage).
const ONE_DROPPED: &str = r#"
__attribute__((used)) static int unused(int x) { return x * 3 + 1; }
int kept(int x) { return x + 1; }
int also_kept(int x) { return kept(x) * 2; }
"#;

#[test]
fn records_of_dropped_code_go_with_it() {
    let dir = scratch("unwind-records-dropped");
    let flags = ["-O1", "-fPIC", "-ffunction-sections"];
    let object = compile("gcc", &write(&dir, "dropped.c", ONE_DROPPED), &dir.join("dropped.o"), &flags);
    let graph = pruned_graph(&object);
    let blocks = unwind_blocks(&graph);
    // One CIE, the two kept functions' FDEs, the terminator: split, one record per block.
    assert_eq!(blocks.len(), 4, "{blocks:?}");
    assert_eq!(blocks.last(), Some(&(4, false)));
    let section = graph.sections.iter().find(|s| s.role == SectionRole::EhFrame).unwrap();
    // Every FDE left describes a live block.
    for &record in &section.blocks[1..3] {
        let pc_begin = graph.block(record).edges.iter().find(|e| e.offset == 8).expect("an FDE's code pointer");
        let Definition::Block { block, .. } = graph.symbol(pc_begin.target()).def else { panic!("code elsewhere") };
        assert!(graph.block(block).live);
    }
    let dead = graph.sections.iter().find(|s| s.name == ".text.unused").expect(".text.unused");
    assert!(dead.blocks.is_empty(), "unused() was pruned");
}

const THROWS: &str = r#"
#include <cstdio>
static int depth;
__attribute__((noinline)) int thrower(int x) { depth++; if (x > 2) throw x * 7; return x; }
__attribute__((noinline)) int middle(int x) { return thrower(x) + thrower(x - 1); }
int main() {
    int caught = 0;
    for (int i = 0; i < 5; i++) {
        try { caught += middle(i); } catch (int v) { caught += v; }
    }
    std::printf("caught %d after %d calls\n", caught, depth);
    return caught % 100;
}
"#;

/// The LSDA (`.gcc_except_table`) and the personality are used only by unwind records: with
/// the section kept whole, its edges keep them.
#[test]
fn exceptions_pass_through_code_whose_records_stay_whole() {
    let dir = scratch("unwind-records-throw");
    let source = write(&dir, "throws.cpp", THROWS);
    let object = compile("g++", &source, &dir.join("throws.o"), &["-O1", "-fPIE"]);
    let graph = pruned_graph(&object);
    assert_eq!(unwind_blocks(&graph).len(), 2, "kept whole: {:?}", unwind_blocks(&graph));
    let lsda = graph.sections.iter().find(|s| s.name == ".gcc_except_table").expect("an LSDA section");
    assert!(!lsda.blocks.is_empty(), "the LSDA is kept by the records' edges");

    let native = dir.join("throws");
    tool("g++", &[object.to_str().unwrap(), "-o", native.to_str().unwrap()]);
    let expected = run(native.to_str().unwrap(), &[] as &[&str]);
    assert!(expected.stdout.starts_with("caught "), "{}", expected.describe());
    let out = jitld(&["run", object.to_str().unwrap(), "-lstdc++"]);
    assert_eq!((out.code, &out.stdout), (expected.code, &expected.stdout), "{}", out.describe());
}
