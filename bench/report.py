#!/usr/bin/env python3
"""Report for bench/run.sh: reads OUT/meta.tsv, OUT/results.tsv and the
OUT/<library>-<variant>.hyperfine.json files that run.sh wrote, prints one
table per case (mean time, CPU time and peak RSS per tool, and the ratios
jitld / llvm-jitlink and jitld / native, also with each tool's start-up time
on an empty main, OUT/baseline.hyperfine.json, subtracted), checks the
issue's target and writes OUT/summary.json.

    python3 bench/report.py OUT
"""

import json
import math
import os
import statistics
import sys

TOOLS = ("jitld", "llvm-jitlink", "native")
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
    """Mean and stddev of a timing with the tool's empty-main baseline subtracted."""
    if not t or not base:
        return None, None
    return t["mean_s"] - base["mean_s"], math.hypot(t["stddev_s"], base["stddev_s"])


def fmt_ms(s):
    return "-" if s is None else f"{s * 1000:.2f}"


def fmt_ratio(r, err=None):
    if r is None:
        return "n/a"
    return f"{r:.2f}" if err is None else f"{r:.2f} ± {err:.2f}"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def case_report(case, tools, timings, meta, baseline):
    print(f"== {case}   ({meta.get('runs', '?')} runs after {meta.get('warmup', '?')} warm-up; "
          f"peak RSS: median of {meta.get('rss_runs', '?')})")
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
    for tool in TOOLS:
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

    ratios = {}
    print(f"  {'ratio':<22}{'mean':>14}{'median':>8}{'excl. start-up':>15}{'CPU':>7}{'peak RSS':>10}")
    for other in ("llvm-jitlink", "native"):
        a, b = timings.get("jitld"), timings.get(other)
        if a and b:
            r, err = ratio(a["mean_s"], a["stddev_s"], b["mean_s"], b["stddev_s"])
            med_r, _ = ratio(a["median_s"], 0.0, b["median_s"], 0.0)
            cpu_r, _ = ratio(a["user_s"] + a["system_s"], 0.0, b["user_s"] + b["system_s"], 0.0)
        else:
            r, err, med_r, cpu_r = None, None, None, None
        ca, sca = minus_baseline(a, baseline.get("jitld"))
        cb, scb = minus_baseline(b, baseline.get(other))
        cr, cerr = ratio(ca, sca, cb, scb)
        ra = tools.get("jitld", {}).get("peak_rss_kib", {}).get("median")
        rb = tools.get(other, {}).get("peak_rss_kib", {}).get("median")
        rss_r = ra / rb if ra and rb else None
        ratios[f"jitld/{other}"] = {
            "time": r,
            "time_stddev": err,
            "time_median": med_r,
            "time_minus_startup": cr,
            "time_minus_startup_stddev": cerr,
            "cpu": cpu_r,
            "peak_rss": rss_r,
        }
        print(f"  {'jitld / ' + other:<22}{fmt_ratio(r, err):>14}{fmt_ratio(med_r):>8}{fmt_ratio(cr, cerr):>15}"
              f"{fmt_ratio(cpu_r):>7}{fmt_ratio(rss_r):>10}")
    print()
    return ratios


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

    summary_cases = []
    target = None
    for case, tools in cases.items():
        library, _, variant = case.partition("/")
        timings = read_hyperfine(os.path.join(out, f"{library}-{variant}.hyperfine.json"))
        ratios = case_report(case, tools, timings, meta, baseline)
        for tool, info in tools.items():
            info["time"] = timings.get(tool)
        summary_cases.append({
            "case": case,
            "library": library,
            "variant": variant,
            "hyperfine_json": f"{library}-{variant}.hyperfine.json",
            "tools": tools,
            "ratios": ratios,
        })
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

    summary = {
        "schema": 1,
        "meta": meta,
        "target": target,
        "baseline": baseline,
        "cases": summary_cases,
    }
    path = os.path.join(out, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"summary: {path}")


if __name__ == "__main__":
    main()
