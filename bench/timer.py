#!/usr/bin/env python3
"""Paired timing for bench/run.sh.

    python3 bench/timer.py [--runs R] [--warmup W] [--cwd DIR] --out OUT.json NAME=ARGVFILE...

Each ARGVFILE holds one command's argv, NUL-terminated words (what
`printf '%s\0' "${cmd[@]}"` writes); the commands run in DIR (default: here).

Runs every command W times untimed, then R rounds; each round runs every
command once, the order rotated by one command per round (round r starts
with command r mod n), so that slow drifts of the machine's load hit every
command alike and the i-th samples of two commands were taken side by side
("paired runs": the report's ratios are medians of per-round ratios).

A command is started with posix_spawn (stdin /dev/null, stdout and stderr
/dev/null) and reaped with wait4, which gives per run:
  wall   perf_counter from just before the spawn to just after wait4 returns
  cpu    user + system time of the command and of every descendant it waited for
  exit   the exit status (128 + N for a signal)
Then, for the peak RSS, every command runs --rss-runs more times (default 3)
under `/usr/bin/time -f %M`: the peak resident set in KiB of the command or
of the largest descendant it waited for (for "link, then run", the largest of
the compiler driver, the linker and the program). Not from the timed runs:
posix_spawn starts the child in this Python process's memory (vfork), and
Linux carries that memory's high-water mark into the child's ru_maxrss across
the exec, so every command would read at least this process's ~15 MiB.

OUT.json: {"rounds": R, "commands": {N: {"argv", "wall_s": [...], "cpu_s": [...],
"exit": [...], "stderr_by_exit": {status: the first 400 bytes of stderr of the first
run that exited with it}, "rss_kib": [...], "median_s", "mean_s", "stddev_s", "min_s",
"cpu_median_s", "rss_median_kib"}}}; the timed lists are in round order.
"""

import argparse
import json
import os
import statistics
import sys
import time


def run_once(argv, devnull, err=None):
    """One run; stderr goes to the file descriptor err (truncated first) or /dev/null."""
    if err is not None:
        os.ftruncate(err, 0)
        os.lseek(err, 0, os.SEEK_SET)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
          (os.POSIX_SPAWN_DUP2, devnull if err is None else err, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter()
    if os.WIFSIGNALED(status):
        code = 128 + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    return t1 - t0, ru.ru_utime + ru.ru_stime, code


def peak_rss(argv, devnull, tmp):
    """Peak RSS in KiB of one run under /usr/bin/time -f %M (None if it printed none)."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    run_once(["/usr/bin/time", "-f", "%M", "-o", tmp, "--"] + argv, devnull)
    try:
        with open(tmp) as f:
            last = f.read().split()[-1:]
        return int(last[0]) if last and last[0].isdigit() else None
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description="Paired timing of commands (see the top of this file).")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rss-runs", type=int, default=3)
    ap.add_argument("--cwd")
    ap.add_argument("--out", required=True)
    ap.add_argument("commands", nargs="+", metavar="NAME=ARGVFILE")
    args = ap.parse_args()
    cmds = []
    for c in args.commands:
        name, sep, path = c.partition("=")
        if not sep:
            sys.exit(f"timer.py: expected NAME=ARGVFILE, got '{c}'")
        with open(path, "rb") as f:
            words = [w.decode() for w in f.read().split(b"\0")[:-1]]
        if not words:
            sys.exit(f"timer.py: {path} holds no command")
        cmds.append({"name": name, "argv": words})
    runs, warmup = args.runs, args.warmup
    if runs < 1:
        sys.exit("timer.py: --runs must be at least 1")
    out = os.path.abspath(args.out)
    if args.cwd:
        os.chdir(args.cwd)
    devnull = os.open(os.devnull, os.O_RDWR)
    res = {c["name"]: {"argv": c["argv"], "wall_s": [], "cpu_s": [], "rss_kib": [], "exit": []} for c in cmds}
    for _ in range(warmup):
        for c in cmds:
            run_once(c["argv"], devnull)
    n = len(cmds)
    err = os.open(out + ".stderr", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    for r in range(runs):
        for k in range(n):
            c = cmds[(r + k) % n]
            wall, cpu, code = run_once(c["argv"], devnull, err)
            d = res[c["name"]]
            d["wall_s"].append(wall)
            d["cpu_s"].append(cpu)
            d["exit"].append(code)
            # The start of stderr of the first run with each exit status, so that a
            # command that fails now and then can say how.
            by_exit = d.setdefault("stderr_by_exit", {})
            if str(code) not in by_exit:
                os.lseek(err, 0, os.SEEK_SET)
                by_exit[str(code)] = os.read(err, 400).decode(errors="replace")
    os.close(err)
    os.unlink(out + ".stderr")
    tmp = out + ".rss"
    for _ in range(args.rss_runs):
        for c in cmds:
            res[c["name"]]["rss_kib"].append(peak_rss(c["argv"], devnull, tmp))
    if os.path.exists(tmp):
        os.unlink(tmp)
    for d in res.values():
        w = d["wall_s"]
        d["median_s"] = statistics.median(w)
        d["mean_s"] = statistics.fmean(w)
        d["stddev_s"] = statistics.stdev(w) if len(w) > 1 else 0.0
        d["min_s"] = min(w)
        d["cpu_median_s"] = statistics.median(d["cpu_s"])
        r = [x for x in d["rss_kib"] if x is not None]
        d["rss_median_kib"] = int(statistics.median(r)) if r else None
    with open(out + ".tmp", "w") as f:
        json.dump({"rounds": runs, "warmup": warmup, "cwd": os.getcwd(), "commands": res}, f, indent=1)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
