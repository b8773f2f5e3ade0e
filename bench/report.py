#!/usr/bin/env python3
"""Report for bench/run.sh: reads OUT/meta.tsv, OUT/results.tsv and the
OUT/<library>-<variant>.hyperfine.json files that run.sh wrote, prints one
table per case (mean time, CPU time and peak RSS per tool, and the ratios
jitld / llvm-jitlink and jitld / native, also with each tool's start-up time
on an empty main, OUT/baseline.hyperfine.json, subtracted), checks the
issue's target and writes OUT/summary.json.

C++ cases (meta.tsv's cxx_cases, e.g. json/gxx-O2-pie) have their start-up
subtracted with the C++ baseline (OUT/baseline-cxx.hyperfine.json: an empty
C++ main using std::cout, linked against the C++ runtime) when it was measured.

The lazy vs eager start-up cases (many/<variant>) have five tools
(MANY_TOOLS) and their own ratios (MANY_RATIOS: jitld lazy / eager, jitld
lazy / llvm-jitlink lazy, ...); their table also shows what jitld's --stats
printed in one untimed run of each jitld command
(OUT/logs/many-<variant>.jitld-{eager,lazy}.stats.err): objects linked,
lazy stubs created and hit, and the per-phase times.

    python3 bench/report.py OUT
"""

import json
import math
import os
import re
import statistics
import sys

TOOLS = ("jitld", "llvm-jitlink", "native")
# The lazy vs eager start-up cases (many/<variant>): their tools, and the baseline
# (empty-main) measurement each one's start-up is corrected with.
MANY_TOOLS = ("jitld-eager", "jitld-lazy", "llvm-jitlink-eager", "llvm-jitlink-lazy", "native")
MANY_BASELINE = {"jitld-eager": "jitld", "jitld-lazy": "jitld", "llvm-jitlink-eager": "llvm-jitlink",
                 "llvm-jitlink-lazy": "llvm-jitlink", "native": "native"}
MANY_RATIOS = (("jitld-lazy", "jitld-eager"), ("llvm-jitlink-lazy", "llvm-jitlink-eager"),
               ("jitld-lazy", "llvm-jitlink-lazy"), ("jitld-eager", "llvm-jitlink-eager"),
               ("jitld-lazy", "llvm-jitlink-eager"), ("jitld-lazy", "native"))
STATS_LINE = re.compile(r"^jitld stats: linked (\d+) objects, (\d+) archive members, (\d+) synthesized graphs; "
                        r"lazy stubs: (\d+) created, (\d+) hit$")
STATS_PHASE = re.compile(r"^jitld stats: (\S.*?)\s+([0-9.]+) ms$")
# The first target: jitld takes at most half of llvm-jitlink's time on sqlite.
TARGET_LIBRARY = "sqlite"
TARGET_RATIO = 0.5


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            meta[key] = value
    return meta


def read_results(path):
    """results.tsv: case, tool, status, rc, expected_rc, rss samples, command, note."""
    cases = {}
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            cols += [""] * (8 - len(cols))
            case, tool, status, rc, expected_rc, rss, command, note = cols[:8]
            samples = [int(x) for x in rss.split(",") if x.strip().isdigit()]
            cases.setdefault(case, {})[tool] = {
                "status": status,
                "exit_status": int(rc) if rc.lstrip("-").isdigit() else None,
                "expected_exit_status": int(expected_rc) if expected_rc.lstrip("-").isdigit() else None,
                "command": command,
                "note": note.strip(),
                "peak_rss_kib": {
                    "median": int(statistics.median(samples)) if samples else None,
                    "samples": samples,
                },
            }
    return cases


def read_hyperfine(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    timings = {}
    for r in data.get("results", []):
        timings[r["command"]] = {
            "mean_s": r["mean"],
            "stddev_s": r.get("stddev") or 0.0,
            "median_s": r["median"],
            "min_s": r["min"],
            "max_s": r["max"],
            "user_s": r["user"],
            "system_s": r["system"],
            "runs": len(r.get("times", [])),
            "exit_codes": sorted(set(r.get("exit_codes") or [])),
        }
    return timings


def ratio(a, sa, b, sb):
    """a / b with the standard deviation propagated from both (independent) means."""
    if a is None or b is None or b == 0:
        return None, None
    r = a / b
    if not a:
        return r, 0.0
    return r, r * math.sqrt((sa / a) ** 2 + (sb / b) ** 2)


def minus_baseline(t, base):
    """Mean and stddev of a timing with the tool's empty-main baseline subtracted
    (None when the difference is not positive: noise, no meaningful ratio)."""
    if not t or not base:
        return None, None
    d = t["mean_s"] - base["mean_s"]
    if d <= 0:
        return None, None
    return d, math.hypot(t["stddev_s"], base["stddev_s"])


def fmt_ms(s):
    return "-" if s is None else f"{s * 1000:.2f}"


def fmt_ratio(r, err=None):
    if r is None:
        return "n/a"
    return f"{r:.2f}" if err is None else f"{r:.2f} ± {err:.2f}"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def case_report(case, tools, timings, meta, baseline, baseline_name="empty main"):
    print(f"== {case}   ({meta.get('runs', '?')} runs after {meta.get('warmup', '?')} warm-up; "
          f"peak RSS: median of {meta.get('rss_runs', '?')}; 'excl. start-up' subtracts the {baseline_name} baseline)")
    print(f"  {'':<14}{'mean ± stddev (ms)':>20}{'median (ms)':>13}{'CPU (ms)':>10}{'peak RSS (MiB)':>16}   status")
    for tool in TOOLS:
        t = timings.get(tool)
        info = tools.get(tool, {"status": "missing", "peak_rss_kib": {"median": None}, "note": ""})
        if t:
            mean = f"{fmt_ms(t['mean_s'])} ± {fmt_ms(t['stddev_s'])}"
            median = fmt_ms(t["median_s"])
            cpu = fmt_ms(t["user_s"] + t["system_s"])
        else:
            mean, median, cpu = "-", "-", "-"
        status = info["status"]
        if status == "ok":
            status = f"ok (exit {info.get('exit_status')})"
        print(f"  {tool:<14}{mean:>20}{median:>13}{cpu:>10}{fmt_mib(info['peak_rss_kib']['median']):>16}   {status}")
    print_notes(TOOLS, tools, timings)

    ratios = {}
    print(f"  {'ratio':<22}{'mean':>14}{'median':>8}{'excl. start-up':>17}{'CPU':>7}{'peak RSS':>10}")
    for other in ("llvm-jitlink", "native"):
        r = compare("jitld", other, tools, timings, baseline.get("jitld"), baseline.get(other))
        ratios[f"jitld/{other}"] = r
        print_ratio(f"jitld / {other}", r, 22)
    print()
    return ratios


def print_notes(names, tools, timings):
    """Prints each tool's note, after adding one if a timed run exited unexpectedly."""
    for tool in names:
        info, t = tools.get(tool), timings.get(tool)
        # hyperfine ran with --ignore-failure (the drivers exit non-zero on purpose),
        # so check here that every timed run exited as the verification run did.
        if info and t and info.get("expected_exit_status") is not None:
            odd = [c for c in t["exit_codes"] if c != info["expected_exit_status"]]
            if odd:
                note = (f"some timed runs exited with {odd} instead of {info['expected_exit_status']}; "
                        "the timing mixes failed runs")
                info["note"] = f"{info['note']}; {note}" if info.get("note") else note
        if info and info.get("note"):
            print(f"  note ({tool}): {info['note']}")


def compare(x, y, tools, timings, base_x, base_y):
    """Ratios of tool x to tool y: time (mean, median, with the start-up baselines
    base_x and base_y subtracted), CPU time and peak RSS."""
    a, b = timings.get(x), timings.get(y)
    if a and b:
        r, err = ratio(a["mean_s"], a["stddev_s"], b["mean_s"], b["stddev_s"])
        med_r, _ = ratio(a["median_s"], 0.0, b["median_s"], 0.0)
        cpu_r, _ = ratio(a["user_s"] + a["system_s"], 0.0, b["user_s"] + b["system_s"], 0.0)
    else:
        r, err, med_r, cpu_r = None, None, None, None
    ca, sca = minus_baseline(a, base_x)
    cb, scb = minus_baseline(b, base_y)
    cr, cerr = ratio(ca, sca, cb, scb)
    ra = tools.get(x, {}).get("peak_rss_kib", {}).get("median")
    rb = tools.get(y, {}).get("peak_rss_kib", {}).get("median")
    rss_r = ra / rb if ra and rb else None
    return {
        "time": r,
        "time_stddev": err,
        "time_median": med_r,
        "time_minus_startup": cr,
        "time_minus_startup_stddev": cerr,
        "cpu": cpu_r,
        "peak_rss": rss_r,
    }


def print_ratio(label, r, width):
    print(f"  {label:<{width}}{fmt_ratio(r['time'], r['time_stddev']):>14}{fmt_ratio(r['time_median']):>8}"
          f"{fmt_ratio(r['time_minus_startup'], r['time_minus_startup_stddev']):>17}"
          f"{fmt_ratio(r['cpu']):>7}{fmt_ratio(r['peak_rss']):>10}")


def read_stats(path):
    """What `jitld run --stats` printed to stderr at exit (None if the file or the line is missing)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    stats = None
    phases = {}
    for line in lines:
        m = STATS_LINE.match(line)
        if m:
            objects, members, synthesized, created, hit = map(int, m.groups())
            stats = {"objects_linked": objects, "archive_members": members, "synthesized_graphs": synthesized,
                     "stubs_created": created, "stubs_hit": hit}
            continue
        m = STATS_PHASE.match(line)
        if m:
            phases[m.group(1)] = float(m.group(2))
    if stats is not None:
        stats["phase_ms"] = phases
        stats["log"] = path
    return stats


def many_case_report(case, tools, timings, meta, baseline, out):
    """Lazy vs eager start-up: the table, the ratios and jitld's --stats counts."""
    tag = case.replace("/", "-")
    stats = {t: read_stats(os.path.join(out, "logs", f"{tag}.{t}.stats.err")) for t in ("jitld-eager", "jitld-lazy")}
    print(f"== {case}   lazy vs eager start-up: main + {meta.get('many_objects', '?')} objects, "
          f"{meta.get('many_called', '?')} entries called   ({meta.get('runs', '?')} runs after "
          f"{meta.get('warmup', '?')} warm-up; peak RSS: median of {meta.get('rss_runs', '?')})")
    print(f"  {'':<20}{'mean ± stddev (ms)':>20}{'median (ms)':>13}{'CPU (ms)':>10}{'peak RSS (MiB)':>16}"
          f"{'objects linked':>16}{'stubs made/hit':>16}   status")
    for tool in MANY_TOOLS:
        t = timings.get(tool)
        info = tools.get(tool, {"status": "missing", "peak_rss_kib": {"median": None}, "note": ""})
        if t:
            mean = f"{fmt_ms(t['mean_s'])} ± {fmt_ms(t['stddev_s'])}"
            median, cpu = fmt_ms(t["median_s"]), fmt_ms(t["user_s"] + t["system_s"])
        else:
            mean, median, cpu = "-", "-", "-"
        st = stats.get(tool)
        linked = str(st["objects_linked"]) if st else "-"
        stubs = f"{st['stubs_created']}/{st['stubs_hit']}" if st else "-"
        status = info["status"]
        if status == "ok":
            status = f"ok (exit {info.get('exit_status')})"
        print(f"  {tool:<20}{mean:>20}{median:>13}{cpu:>10}{fmt_mib(info['peak_rss_kib']['median']):>16}"
              f"{linked:>16}{stubs:>16}   {status}")
    print_notes(MANY_TOOLS, tools, timings)
    for tool in ("jitld-eager", "jitld-lazy"):
        if stats[tool] is None:
            print(f"  note ({tool}): no --stats line was captured (see logs/{tag}.{tool}.stats.err)")

    ratios = {}
    width = 40
    print(f"  {'ratio':<{width}}{'mean':>14}{'median':>8}{'excl. start-up':>17}{'CPU':>7}{'peak RSS':>10}")
    for x, y in MANY_RATIOS:
        r = compare(x, y, tools, timings, baseline.get(MANY_BASELINE[x]), baseline.get(MANY_BASELINE[y]))
        ratios[f"{x}/{y}"] = r
        print_ratio(f"{x} / {y}", r, width)

    if stats["jitld-eager"] and stats["jitld-lazy"]:
        e, lz = stats["jitld-eager"], stats["jitld-lazy"]
        print("  jitld --stats (one untimed run each)        eager      lazy")
        for key, label in (("objects_linked", "objects linked"), ("archive_members", "archive members"),
                           ("synthesized_graphs", "synthesized graphs"), ("stubs_created", "lazy stubs created"),
                           ("stubs_hit", "lazy stubs hit")):
            print(f"    {label:<38}{e[key]:>10}{lz[key]:>10}")
        for phase in list(dict.fromkeys(list(e["phase_ms"]) + list(lz["phase_ms"]))):
            ev, lv = e["phase_ms"].get(phase), lz["phase_ms"].get(phase)
            ev = "-" if ev is None else f"{ev:.3f}"
            lv = "-" if lv is None else f"{lv:.3f}"
            print(f"    {phase + ' (ms)':<38}{ev:>10}{lv:>10}")
        print("    (phase times as --stats prints them: summed over graphs; they need not add up to the"
              " wall time, see the mean above)")
    print()
    return ratios, stats


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py OUT")
    out = sys.argv[1]
    meta = read_meta(os.path.join(out, "meta.tsv"))
    cases = read_results(os.path.join(out, "results.tsv"))

    print(f"jitld bench  commit {meta.get('git_commit', '?')[:12]}"
          f"{' (sources modified)' if meta.get('git_dirty') == 'yes' else ''}  "
          f"{meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')})  "
          f"load {meta.get('load_before', '?')} -> {meta.get('load_after', '?')}")
    print(f"  {meta.get('jitld_path', 'jitld')} ({meta.get('jitld', '?')}); {meta.get('hyperfine', '')}; "
          f"llvm-jitlink: {meta.get('llvm_jitlink', '')}")
    try:
        load1, cpus = float(meta["load_before"].split()[0]), int(meta["cpus"])
    except (KeyError, ValueError, IndexError):
        load1, cpus = None, None
    meta["busy"] = bool(load1 is not None and load1 > 0.5 * cpus)
    if meta["busy"]:
        print(f"  note: the 1-minute load average was {load1} on {cpus} CPUs when the benchmark started:"
              " other processes compete for the CPUs, so expect noisier timings than on an idle machine")
    print()

    baseline = read_hyperfine(os.path.join(out, "baseline.hyperfine.json"))
    if baseline:
        print("== start-up baseline: an empty main (int main(void) { return 0; }); the ratios' 'excl. start-up'"
              " column subtracts it from both sides")
        for tool in TOOLS:
            t = baseline.get(tool)
            if t:
                print(f"  {tool:<14}{fmt_ms(t['mean_s']) + ' ± ' + fmt_ms(t['stddev_s']):>22} ms"
                      f"   (CPU user+sys {fmt_ms(t['user_s'] + t['system_s'])} ms)")
            else:
                print(f"  {tool:<14}{'-':>22}")
        print()
    else:
        print("note: no start-up baseline was measured; the start-up-subtracted ratios are left out")
        print()

    cxx_cases = set(meta.get("cxx_cases", "").split())
    baseline_cxx = read_hyperfine(os.path.join(out, "baseline-cxx.hyperfine.json"))
    if cxx_cases:
        if baseline_cxx:
            print("== C++ start-up baseline: an empty C++ main using std::cout, linked against the C++ runtime"
                  f" (llvm-jitlink with its ORC runtime); used for {', '.join(sorted(cxx_cases))}")
            for tool in TOOLS:
                t = baseline_cxx.get(tool)
                if t:
                    print(f"  {tool:<14}{fmt_ms(t['mean_s']) + ' ± ' + fmt_ms(t['stddev_s']):>22} ms"
                          f"   (CPU user+sys {fmt_ms(t['user_s'] + t['system_s'])} ms)")
                else:
                    print(f"  {tool:<14}{'-':>22}")
        else:
            print(f"note: no C++ start-up baseline was measured; {', '.join(sorted(cxx_cases))} use the C one")
        print()

    summary_cases = []
    lazy_startup = []
    target = None
    for case, tools in cases.items():
        library, _, variant = case.partition("/")
        timings = read_hyperfine(os.path.join(out, f"{library}-{variant}.hyperfine.json"))
        if library == "many":
            ratios, stats = many_case_report(case, tools, timings, meta, baseline, out)
        else:
            if case in cxx_cases and baseline_cxx:
                ratios = case_report(case, tools, timings, meta, baseline_cxx, "empty C++ main")
            else:
                ratios = case_report(case, tools, timings, meta, baseline)
            stats = None
        for tool, info in tools.items():
            info["time"] = timings.get(tool)
        entry = {
            "case": case,
            "kind": "lazy-startup" if library == "many" else "real-library",
        "cxx": case in cxx_cases,
            "library": library,
            "variant": variant,
            "hyperfine_json": f"{library}-{variant}.hyperfine.json",
            "tools": tools,
            "ratios": ratios,
        }
        if library == "many":
            entry["objects"] = int(meta["many_objects"]) if meta.get("many_objects", "").isdigit() else None
            entry["called"] = int(meta["many_called"]) if meta.get("many_called", "").isdigit() else None
            entry["jitld_stats"] = stats
            lazy_startup.append({
                "case": case,
                "jitld_lazy_over_eager": ratios["jitld-lazy/jitld-eager"]["time"],
                "jitld_lazy_over_eager_stddev": ratios["jitld-lazy/jitld-eager"]["time_stddev"],
                "jitld_lazy_over_llvm_jitlink_lazy": ratios["jitld-lazy/llvm-jitlink-lazy"]["time"],
                "jitld_lazy_over_llvm_jitlink_lazy_stddev": ratios["jitld-lazy/llvm-jitlink-lazy"]["time_stddev"],
                "llvm_jitlink_lazy_status": tools.get("llvm-jitlink-lazy", {}).get("status"),
                "objects_linked": {t: (s or {}).get("objects_linked") for t, s in stats.items()},
                "stubs_created": (stats.get("jitld-lazy") or {}).get("stubs_created"),
                "stubs_hit": (stats.get("jitld-lazy") or {}).get("stubs_hit"),
            })
        summary_cases.append(entry)
        if library == TARGET_LIBRARY and target is None:
            r = ratios["jitld/llvm-jitlink"]
            target = {
                "description": f"jitld <= {TARGET_RATIO} x llvm-jitlink on {TARGET_LIBRARY}",
                "case": case,
                "ratio": r["time"],
                "ratio_stddev": r["time_stddev"],
                "ratio_minus_startup": r["time_minus_startup"],
                "ratio_minus_startup_stddev": r["time_minus_startup_stddev"],
                "met": None if r["time"] is None else r["time"] <= TARGET_RATIO,
            }

    if target is None:
        print(f"target: jitld <= {TARGET_RATIO} x llvm-jitlink on {TARGET_LIBRARY}: "
              f"NOT EVALUATED (no {TARGET_LIBRARY} case was run)")
    elif target["met"] is None:
        print(f"target: jitld <= {TARGET_RATIO} x llvm-jitlink on {TARGET_LIBRARY}: NOT EVALUATED "
              f"({target['case']}: jitld or llvm-jitlink could not be timed)")
    else:
        print(f"target: jitld <= {TARGET_RATIO} x llvm-jitlink on {TARGET_LIBRARY}: "
              f"{'MET' if target['met'] else 'NOT MET'} "
              f"(ratio {fmt_ratio(target['ratio'], target['ratio_stddev'])}, {target['case']})")
        if target["ratio_minus_startup"] is not None:
            print(f"  with each tool's empty-main start-up subtracted the ratio is "
                  f"{fmt_ratio(target['ratio_minus_startup'], target['ratio_minus_startup_stddev'])}"
                  " (informational; the target is on the plain ratio)")

    for s in lazy_startup:
        linked = s["objects_linked"]
        lazy_eager = fmt_ratio(s["jitld_lazy_over_eager"], s["jitld_lazy_over_eager_stddev"])
        if s["jitld_lazy_over_llvm_jitlink_lazy"] is not None:
            vs_llvm = fmt_ratio(s["jitld_lazy_over_llvm_jitlink_lazy"], s["jitld_lazy_over_llvm_jitlink_lazy_stddev"])
        else:
            vs_llvm = f"n/a (llvm-jitlink-lazy: {s['llvm_jitlink_lazy_status'] or 'not run'})"
        def dash(v):
            return "-" if v is None else v
        print(f"lazy start-up ({s['case']}): jitld lazy / eager = {lazy_eager} (objects linked: "
              f"{dash(linked.get('jitld-eager'))} eager, {dash(linked.get('jitld-lazy'))} lazy; "
              f"stubs {dash(s['stubs_created'])} created, {dash(s['stubs_hit'])} hit); "
              f"jitld lazy / llvm-jitlink lazy = {vs_llvm}")

    # schema 2: cases have a "kind" ("real-library" or "lazy-startup"); lazy-startup
    # cases have other tools (MANY_TOOLS), "objects", "called" and "jitld_stats".
    # schema 3: cases have "cxx" (true: a C++ case, its start-up-subtracted ratios use
    # "baseline_cxx", the empty C++ main, when that is not empty).
    summary = {
        "schema": 3,
        "meta": meta,
        "target": target,
        "baseline": baseline,
        "baseline_cxx": baseline_cxx,
        "lazy_startup": lazy_startup,
        "cases": summary_cases,
    }
    path = os.path.join(out, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"summary: {path}")


if __name__ == "__main__":
    main()
