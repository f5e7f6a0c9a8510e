#!/usr/bin/env python3
"""Helpers for bench/run.sh (plain Python 3, standard library only).

  results.py check REPORT.json            -> "OUTCOME<TAB>COMPLETE<TAB>NOTE" for one scan report
  results.py massif MASSIF.out            -> peak heap bytes (useful + malloc overhead)
  results.py hotlines ANNOTATED.txt [N]   -> the N costliest source lines of the project in a
        `callgrind_annotate --auto=yes` listing, with the function each line is in
        (inlined code shows up under its caller in the function list; this finds it)
  results.py render ROWS.tsv META.json RESULTS.md
        prints the table and writes it into RESULTS.md, replacing only the
        section this benchmark owns (SECTION below); every other `## ` section
        of the file is kept as it was, in place.
"""
import collections
import json
import re
import sys

SECTION = "## Pickle engine"

TARGETS = {
    # target kind -> (threshold, unit label, scale)
    "gbps2": (2e9, "GB/s", 1e9),
    "mbps200": (200e6, "MB/s", 1e6),
    "fps20k": (20000, "files/s", 1),
}
RSS_LIMIT_KIB = 64 * 1024


def check(path):
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        print(f"NO-REPORT\tno\tno JSON report ({e})")
        return
    outcome = r.get("eval_outcome", "?")
    threats = collections.Counter()
    stopped = []
    errors = 0
    for f in r.get("files", []):
        if f.get("status") == "ERROR":
            errors += 1
        for x in f.get("findings", []):
            threats[x["threat"]] += 1
            if x["threat"] == "MG-FMT-401":
                stopped.append(x["message"])
    complete = "yes" if not stopped and not errors else "no"
    notes = []
    if stopped:
        m = re.search(r"scan stopped: (.*?);", stopped[0])
        notes.append("STOPPED: " + (m.group(1) if m else stopped[0]))
    if errors:
        notes.append(f"{errors} files in error")
    if threats:
        notes.append("findings " + ", ".join(f"{k}x{v}" for k, v in sorted(threats.items())))
    print(f"{outcome}\t{complete}\t{'; '.join(notes) if notes else 'no findings'}")


def massif(path):
    s = open(path).read()
    peaks = [int(a) + int(b) for a, b in re.findall(r"mem_heap_B=(\d+)\nmem_heap_extra_B=(\d+)", s)]
    print(max(peaks) if peaks else "")


FUNC_DEF = re.compile(r"^(?:static\s+)?(?:inline\s+)?(?:__attribute__\(\(.*?\)\)\s+)?"
                      r"[A-Za-z_][\w \*]*?\b([A-Za-z_]\w*)\s*\([^;]*$")


def enclosing_function(path, lineno, cache={}):
    if path not in cache:
        try:
            cache[path] = open(path, errors="replace").read().split("\n")
        except OSError:
            cache[path] = []
    lines = cache[path]
    for i in range(min(lineno, len(lines)) - 1, -1, -1):
        m = FUNC_DEF.match(lines[i])
        if m and not lines[i].startswith((" ", "\t", "#", "/", "}")) and m.group(1) not in ("if", "for", "while", "switch", "return", "sizeof"):
            return m.group(1)
    return "?"


def hotlines(path, n=25):
    rows = []
    src = None
    lineno = 0
    program = 0
    for line in open(path, errors="replace"):
        m = re.match(r"\s*([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", line)
        if m:
            program = int(m.group(1).replace(",", ""))
            continue
        m = re.match(r"-- Auto-annotated source: (.*)", line)
        if m:
            src = m.group(1).strip()
            if "/src/" not in src:
                src = None
            continue
        m = re.match(r"-- line (\d+) -+", line)
        if m:
            lineno = int(m.group(1)) - 1
            continue
        if src is None:
            continue
        m = re.match(r"\s*([\d,]+|\.) (?:\(\s*([\d.]+)%\))?\s{2}(.*)", line.rstrip("\n"))
        if not m:
            continue
        text = m.group(3)
        if text.strip() == "events annotated":
            continue
        if text.startswith("=> ") or text.startswith("<= "):
            continue  # call lines: cost of the callee, already counted there
        lineno += 1
        if m.group(1) != ".":
            rows.append((int(m.group(1).replace(",", "")), m.group(2) or "", src, lineno, text.strip()))
    rows.sort(reverse=True)
    total = program or sum(r[0] for r in rows)
    byfn = collections.Counter()
    for ir, pct, f, ln, text in rows:
        rel = f.split("/src/", 1)[1] if "/src/" in f else f
        byfn[f"{enclosing_function(f, ln)} ({rel.rsplit('/', 1)[-1]})"] += ir
    if total:
        print("  project code by the function it is written in (inlined code counted where it is "
              "written; % of all instructions):")
        for fn, ir in byfn.most_common(n):
            print(f"{ir:>14,} {100.0 * ir / total:>6.2f}%  {fn}")
        print("  costliest lines:")
    for ir, pct, f, ln, text in rows[:n]:
        rel = f.split("/src/", 1)[1] if "/src/" in f else f
        try:
            print(f"{ir:>14,} {pct:>6}%  src/{rel}:{ln} [{enclosing_function(f, ln)}]  {text[:90]}")
        except BrokenPipeError:
            return


def fmt_rate(v, unit):
    if unit == "files":
        return f"{v:,.0f} files/s"
    if v >= 1e9:
        return f"{v / 1e9:.2f} GB/s"
    return f"{v / 1e6:.0f} MB/s"


def fmt_size(n, unit):
    if unit == "files":
        return f"{n:,} files"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GiB"
    return f"{n / (1 << 20):.1f} MiB"


def render(rows_path, meta_path, results_path):
    meta = json.load(open(meta_path))
    rows = []
    with open(rows_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))

    out = [SECTION, ""]
    out.append(f"Generated by `bench/run.sh` on {meta['date']}. Do not edit this section by hand: "
               "the next run replaces it (other `## ` sections of this file are kept).")
    out.append("")
    out.append("Machine: " + ", ".join(f"{k} {meta[k]}" for k in ("cpu", "nproc", "memory", "kernel")) + ". "
               f"Binary: `{meta['binary']}`, a copy of `{meta['src_binary']}` (sha256 {meta['binary_sha256']}…) taken "
               f"when the run started, built from {meta['commit']} with {meta['cc']}. "
               f"Timing: hyperfine {meta['hyperfine']} (`-N --warmup {meta['warmup']}`), page cache warm; "
               "single-file cases pinned to one core (`taskset -c N`, the idlest core at the time, `-j 1`). "
               "Throughput = input size / mean wall time (decimal GB/MB); targets are judged on it; "
               "a target on a scan that stopped early (a limit was hit) is missed whatever its speed. "
               "Best run = the fastest run; CPU = mean user+sys time per run, and for the one-core cases "
               "size / CPU time (less sensitive to other load on the machine, which is noted per case below). "
               f"SHA-256 on one core here (`openssl speed -evp sha256`, 8 MiB blocks): {meta.get('sha_ceiling', '?')}, "
               "the ceiling of every sha256 row. "
               "Peak RSS = max of 3 runs of `/usr/bin/time -f %M` (it counts the file pages the scan has "
               "mapped, not only private memory); heap peak = valgrind massif, useful + malloc overhead, "
               "same command.")
    out.append("")
    out.append("| case | input | wall time mean ± sd (runs) | throughput (mean) | target | best run | "
               "CPU user+sys | peak RSS | heap peak | exit / outcome | complete |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for r in rows:
        n = int(r["size"])
        mean, sd, runs = float(r["mean"]), float(r["stddev"] or 0), r["runs"]
        rate = n / mean if mean > 0 else float("inf")
        tgt = r["target"]
        tcell = "-"
        if tgt in TARGETS:
            thr, lab, sc = TARGETS[tgt]
            ok = rate >= thr and r["complete"] == "yes"
            why = "" if r["complete"] == "yes" else " (scan incomplete)"
            tcell = f"≥ {thr / sc:,.0f} {lab}: **{'met' if ok else 'MISSED'}**{why}"
            verdicts.append((r["case"], f"throughput {'met' if ok else 'MISSED'}{why}"))
        rss = int(r["rss_kib"]) if r["rss_kib"] else None
        rss_ok = rss is not None and rss < RSS_LIMIT_KIB
        rcell = f"{rss / 1024:.1f} MiB ({'ok' if rss_ok else '**≥ 64 MiB**'})" if rss is not None else "?"
        if rss is not None:
            verdicts.append((r["case"], f"RSS {'met' if rss_ok else 'MISSED'} ({rss / 1024:.1f} MiB)"))
        heap = "-"
        if r["heap"]:
            h = int(r["heap"])
            heap = f"{h / (1 << 20):.1f} MiB" if h >= 1 << 20 else f"{h / 1024:.0f} KiB"
        mn, cpu = float(r["min"]), float(r["cpu"])
        best = f"{mn * 1000:,.1f} ms = {fmt_rate(n / mn if mn > 0 else float('inf'), r['unit'])}"
        cpu_cell = f"{cpu * 1000:,.1f} ms"
        if r["cmd"].startswith("taskset"):  # one core: size / CPU time is a rate on that core
            cpu_cell += f" = {fmt_rate(n / cpu if cpu > 0 else float('inf'), r['unit'])}"
        out.append(f"| {r['case']} | {fmt_size(n, r['unit'])} | {mean * 1000:,.1f} ± {sd * 1000:,.1f} ms ({runs}) | "
                   f"{fmt_rate(rate, r['unit'])} | {tcell} | {best} | {cpu_cell} | {rcell} | {heap} | "
                   f"{r['exit']} / {r['outcome']} | {r['complete']} |")
    out.append("")
    out.append("Where the time goes: `bench/profile.sh` (callgrind on the same shapes ~10x smaller, "
               "per function and per source line; perf cpu-clock on the full inputs for kernel time).")
    out.append("")
    out.append("Scan notes (from the JSON report of one run of each command):")
    out.append("")
    for r in rows:
        out.append(f"- {r['case']}: {r['note']}")
    out.append("")
    out.append("Exact commands (run from the repository root; `$B` = `build/bench`):")
    out.append("")
    out.append("```")
    for r in rows:
        out.append(f"# {r['case']}")
        out.append(r["cmd"].replace(meta["bench_dir"] + "/", "$B/"))
    out.append("```")
    out.append("")
    out.append("Inputs (`/usr/bin/python3 bench/gen_pickles.py build/bench`, deterministic):")
    out.append("")
    for name, rec in meta.get("inputs", {}).items():
        extra = ", ".join(f"{k} {v}" for k, v in rec.items() if k not in ("what", "generated_in_s"))
        out.append(f"- `{name}`: {rec.get('what', '')} ({extra})")
    out.append("")
    section = "\n".join(out) + "\n"

    # merge into RESULTS.md, keeping every other `## ` section in place
    try:
        old = open(results_path).read()
    except FileNotFoundError:
        old = "# modelgate benchmarks\n\nEach `## ` section below is owned and rewritten by one benchmark script.\n\n"
    parts = re.split(r"(?m)^(?=## )", old)
    pre, secs = parts[0], parts[1:]
    placed = False
    new_secs = []
    for s in secs:
        if s.splitlines()[0].strip() == SECTION:
            if not placed:
                new_secs.append(section + "\n")
                placed = True
            continue
        new_secs.append(s)
    if not placed:
        if new_secs and not new_secs[-1].endswith("\n\n"):
            new_secs[-1] = new_secs[-1].rstrip("\n") + "\n\n"
        elif not new_secs and not pre.endswith("\n\n"):
            pre = pre.rstrip("\n") + "\n\n"
        new_secs.append(section)
    text = (pre + "".join(new_secs)).rstrip("\n") + "\n"
    with open(results_path + ".tmp", "w") as f:
        f.write(text)
    import os

    os.replace(results_path + ".tmp", results_path)
    print(section)
    print("Verdicts:")
    for case, v in verdicts:
        print(f"  {case}: {v}")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "check" and len(sys.argv) == 3:
        check(sys.argv[2])
    elif cmd == "hotlines" and len(sys.argv) in (3, 4):
        hotlines(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 25)
    elif cmd == "massif" and len(sys.argv) == 3:
        massif(sys.argv[2])
    elif cmd == "render" and len(sys.argv) == 5:
        render(*sys.argv[2:5])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
