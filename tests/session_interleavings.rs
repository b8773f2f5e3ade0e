//! The session's state machine under systematically explored thread interleavings.
//!
//! Built only with `--features shuttle` (`make test` runs it so): the session's locks and
//! condition variable are then shuttle's, and `shuttle` runs each scenario under many
//! schedules — random ones and PCT (which finds bugs of a given depth with a known
//! probability) — checking that every lookup answers, with the right addresses, each unit
//! is materialized once, and a failure reaches exactly its dependents.
//!
//! The units here link nothing: each publishes made-up addresses, looks up what its "code"
//! refers to through a continuation, and emits, which is all the session sees of a real
//! link. `JITLD_SHUTTLE_ITERATIONS` sets the schedules per scenario (default 2000).
#![cfg(feature = "shuttle")]

use jitld::generators::DefinitionGenerator;
use jitld::session::{
    DylibId, ExecutionSession, LookupFlags, MaterializationResponsibility, MaterializationUnit, SymbolFlags,
};
use jitld::{JitError, Result};
use jitld_linker::memory::SlabMemoryManager;
use jitld_linker::LookupName;
use jitld_linker::SymbolName;
use shuttle::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn iterations() -> usize {
    std::env::var("JITLD_SHUTTLE_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// Runs `scenario` under random schedules and under PCT schedules of depth 3.
fn explore(scenario: impl Fn() + Send + Sync + 'static) {
    let scenario = Arc::new(scenario);
    let random = scenario.clone();
    shuttle::check_random(move || random(), iterations());
    shuttle::check_pct(move || scenario(), iterations(), 3);
}

fn session() -> ExecutionSession {
    ExecutionSession::new(Arc::new(SlabMemoryManager::new(0x10_0000_0000, 1 << 20)))
}

/// The address a fake unit gives `name`: distinct and checkable.
fn addr_of(session: &ExecutionSession, name: SymbolName) -> u64 {
    0x1000 + 16 * session.names().resolve(name).len() as u64 + fnv(session.names().resolve(name))
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) & 0xffff_fff0
}

/// A unit defining `defines` whose code refers to `refers`; it may fail instead of linking.
struct FakeUnit {
    name: String,
    defines: Vec<SymbolName>,
    refers: Vec<SymbolName>,
    /// Whose addresses `refers` must resolve to (the originals, for re-exports).
    expected: Vec<SymbolName>,
    fail: bool,
    materialized: Arc<AtomicUsize>,
    /// Set just before the unit emits: a ready symbol's whole closure must have it.
    emitting: Arc<AtomicBool>,
}

impl MaterializationUnit for FakeUnit {
    fn name(&self) -> &str {
        &self.name
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        self.defines.iter().map(|&n| (n, SymbolFlags::strong_function())).collect()
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        self.materialized.fetch_add(1, Ordering::SeqCst);
        let session = mr.session().clone();
        let addrs: Vec<(SymbolName, u64)> = self.defines.iter().map(|&n| (n, addr_of(&session, n))).collect();
        if let Err(e) = mr.notify_resolved(&addrs) {
            return mr.fail(e);
        }
        if self.fail {
            return mr.fail(JitError::other(format!("{} cannot link", self.name)));
        }
        let wanted: Vec<LookupName> = self.refers.iter().map(|&n| LookupName::required(n)).collect();
        let name = self.name.clone();
        mr.resolver().lookup_then(&wanted, &name, move |found| match found {
            Ok(found) => {
                for (&want, got) in self.expected.iter().zip(found) {
                    assert_eq!(got.map(|g| g.addr), Some(addr_of(&session, want)), "{} got a wrong address", self.name);
                }
                self.emitting.store(true, Ordering::SeqCst);
                let _ = mr.notify_emitted(Vec::new());
            }
            Err(e) => mr.fail(e),
        });
    }
}

struct Program {
    session: ExecutionSession,
    main: DylibId,
    counters: Vec<Arc<AtomicUsize>>,
    emitting: Vec<Arc<AtomicBool>>,
    /// Per unit: (defines, refers).
    shape: Vec<(Vec<String>, Vec<String>)>,
}

/// Defines unit `i` for each `(defines, refers, fail)`; names are `s<i>_<j>`.
fn program(units: &[(&[&str], &[&str], bool)]) -> Program {
    let session = session();
    let main = session.create_jit_dylib("main").unwrap();
    let mut counters = Vec::new();
    let mut emitting = Vec::new();
    for (i, (defines, refers, fail)) in units.iter().enumerate() {
        let materialized = Arc::new(AtomicUsize::new(0));
        counters.push(materialized.clone());
        emitting.push(Arc::new(AtomicBool::new(false)));
        let unit = FakeUnit {
            name: format!("unit{i}"),
            defines: defines.iter().map(|n| session.intern(n)).collect(),
            refers: refers.iter().map(|n| session.intern(n)).collect(),
            expected: refers.iter().map(|n| session.intern(n)).collect(),
            fail: *fail,
            materialized,
            emitting: emitting[i].clone(),
        };
        session.define(main, Box::new(unit)).unwrap();
    }
    let shape = units
        .iter()
        .map(|(d, r, _)| (d.iter().map(|n| n.to_string()).collect(), r.iter().map(|n| n.to_string()).collect()))
        .collect();
    Program { session, main, counters, emitting, shape }
}

impl Program {
    fn lookup(&self, names: &[&str]) -> Result<Vec<u64>> {
        let names: Vec<SymbolName> = names.iter().map(|n| self.session.intern(n)).collect();
        let order = [(self.main, LookupFlags::MatchAllSymbols)];
        Ok(self.session.lookup(&order, &names)?.iter().map(|f| f.addr).collect())
    }

    fn expect(&self, names: &[&str]) {
        let got = self.lookup(names).unwrap_or_else(|e| panic!("lookup of {names:?} failed: {e}"));
        let want: Vec<u64> = names.iter().map(|n| addr_of(&self.session, self.session.intern(n))).collect();
        assert_eq!(got, want);
        self.closure_emitted(names);
    }

    /// Ready means the symbol and everything it refers to, transitively, are emitted.
    fn closure_emitted(&self, names: &[&str]) {
        let mut todo: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(name) = todo.pop() {
            let Some(unit) = self.shape.iter().position(|(d, _)| d.contains(&name)) else { continue };
            if seen.insert(unit) {
                assert!(self.emitting[unit].load(Ordering::SeqCst), "{name} was ready before unit{unit} emitted");
                todo.extend(self.shape[unit].1.iter().cloned());
            }
        }
    }

    /// One thread per list looks its names up, all at once; then no unit ran twice.
    fn expect_concurrently(self: &Arc<Self>, lists: &[&'static [&'static str]]) {
        let threads: Vec<_> = lists
            .iter()
            .map(|&names| {
                let p = self.clone();
                thread::spawn(move || p.expect(names))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        self.each_materialized_at_most_once();
    }

    fn each_materialized_at_most_once(&self) {
        for (i, c) in self.counters.iter().enumerate() {
            assert!(c.load(Ordering::SeqCst) <= 1, "unit{i} materialized {} times", c.load(Ordering::SeqCst));
        }
    }
}

/// Three threads look up different entries of a program whose units form cycles and a
/// chain; every lookup answers, each unit runs once.
#[test]
fn concurrent_lookups_over_cycles_and_chains() {
    explore(|| {
        let p = Arc::new(program(&[
            (&["a"], &["b", "c"], false),
            (&["b"], &["a", "d"], false),
            (&["c"], &["d"], false),
            (&["d"], &["a", "e"], false),
            (&["e"], &[], false),
        ]));
        p.expect_concurrently(&[&["a"], &["c", "e"], &["d"]]);
        p.expect(&["a", "b", "c", "d", "e"]);
    });
}

/// A failing unit fails exactly what depends on it, every waiting lookup answers, and the
/// rest of the session still works.
#[test]
fn failure_reaches_dependents_and_nothing_else() {
    explore(|| {
        let p = Arc::new(program(&[
            (&["a"], &["bad"], false),
            (&["bad"], &["a"], true),
            (&["c"], &["a"], false),
            (&["ok"], &["leaf"], false),
            (&["leaf"], &[], false),
        ]));
        let threads: Vec<_> = ["a", "c", "ok"]
            .into_iter()
            .map(|name| {
                let p = p.clone();
                thread::spawn(move || (name, p.lookup(&[name])))
            })
            .collect();
        for t in threads {
            let (name, result) = t.join().unwrap();
            assert_eq!(result.is_ok(), name == "ok", "{name}: {result:?}");
        }
        p.each_materialized_at_most_once();
        p.expect(&["leaf", "ok"]);
    });
}

/// A generator that defines every name it is asked for, as absolute symbols (what the
/// process generator does). Two threads missing the same names must not both define them.
struct EverythingGenerator;

impl DefinitionGenerator for EverythingGenerator {
    fn try_to_generate(
        &self,
        session: &ExecutionSession,
        dylib: DylibId,
        _: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        let symbols: Vec<_> = names
            .iter()
            .map(|wanted| (wanted.name, addr_of(session, wanted.name), SymbolFlags::strong_function()))
            .collect();
        session.define_absolute(dylib, &symbols)
    }
}

#[test]
fn concurrent_generators_define_each_name_once() {
    explore(|| {
        let p = Arc::new(program(&[(&["x"], &["strlen", "memcpy"], false), (&["y"], &["memcpy", "strlen"], false)]));
        p.session.add_generator(p.main, Arc::new(EverythingGenerator));
        p.expect_concurrently(&[&["x"], &["y"], &["strlen", "x"]]);
    });
}

/// Re-exports whose originals' code refers back to the re-exports (the shape of lazy
/// objects pointing at each other's data): the re-export resolves only through the
/// original, and the original's link needs the re-export. Nothing may wait on itself.
#[test]
fn reexports_in_a_cycle_through_their_originals() {
    explore(|| {
        let session = session();
        let main = session.create_jit_dylib("main").unwrap();
        let implementation = session.create_jit_dylib("impl").unwrap();
        // Implementations search `main` first, as lazy implementations do.
        session.set_link_order_with(
            implementation,
            vec![(main, LookupFlags::MatchAllSymbols), (implementation, LookupFlags::MatchAllSymbols)],
            false,
        );
        let counters: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        for (i, counter) in counters.iter().enumerate() {
            let unit = FakeUnit {
                name: format!("f{i}"),
                defines: vec![session.intern(&format!("data{i}"))],
                refers: vec![session.intern(&format!("alias{}", (i + 1) % 3))],
                expected: vec![session.intern(&format!("data{}", (i + 1) % 3))],
                fail: false,
                materialized: counter.clone(),
                emitting: Arc::new(AtomicBool::new(false)),
            };
            session.define(implementation, Box::new(unit)).unwrap();
            let alias = (session.intern(&format!("alias{i}")), session.intern(&format!("data{i}")));
            session.reexports(main, implementation, &[alias]).unwrap();
        }
        let s = session.clone();
        let other = thread::spawn(move || s.lookup(&[(main, LookupFlags::MatchAllSymbols)], &[s.intern("alias2")]));
        let mine = session.lookup(&[(main, LookupFlags::MatchAllSymbols)], &[session.intern("alias0")]).unwrap();
        let theirs = other.join().unwrap().unwrap();
        assert_eq!(mine[0].addr, addr_of(&session, session.intern("data0")));
        assert_eq!(theirs[0].addr, addr_of(&session, session.intern("data2")));
        for c in &counters {
            assert_eq!(c.load(Ordering::SeqCst), 1);
        }
    });
}
