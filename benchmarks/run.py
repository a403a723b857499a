"""``make bench``: generate large inputs, time each path, write ``benchmarks/RESULTS.md``.

Not a timed test: nothing here fails on a slow machine; it measures and reports. Each figure is
the median of ``--repeat`` runs, each run in a fresh process.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

from benchmarks.datagen import generate, maven_pipeline
from benchmarks.ingest import in_process, measure, whole_process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
PHASE_ORDER = ("start", "inspect", "read", "type + validate", "write", "save")


def ensure_data(opportunities: int, activities: int) -> tuple[Path, Path]:
    out = DATA / f"o{opportunities}_a{activities}"
    opp, act = out / "opportunities.csv", out / "activities.csv"
    if not (opp.exists() and act.exists()):
        generate(out, opportunities=opportunities, activities=activities)
    return opp, act


def _spread(values: list[float], unit: str = " s", digits: int = 2) -> str:
    """The median of ``values`` with their range, e.g. ``1.20 s (1.10-1.45)``."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}{unit}"
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _ratios(num: list[float], den: list[float]) -> list[float]:
    """Per-run ratios (run i of one against run i of the other, measured side by side)."""
    return [a / b for a, b in zip(num, den, strict=True)]


def _ingest(opportunities: int, activities: int, repeat: int) -> str:
    """The Ingest section: both targets as ratios measured in this run, on the Maven-layout
    file and on the wide generated file, the phases of the load, and peak memory of the
    wide opportunities and activities loaded together."""
    maven = maven_pipeline(DATA / f"maven_o{opportunities}" / "sales_pipeline.csv", opportunities)
    opp, act = ensure_data(opportunities, activities)
    inputs = (
        (f"Maven layout, {opportunities:,} deals ({maven.stat().st_size / 1e6:.0f} MB)", maven),
        (f"wide opportunities, {opportunities:,} rows ({opp.stat().st_size / 1e6:.0f} MB)", opp),
    )
    measured = []
    for label, path in inputs:
        inproc = in_process([str(path)], repeat)
        whole = whole_process(str(path), repeat)
        measured.append((label, inproc, whole))
        print(label, {k: round(statistics.median(v), 2) for k, v in inproc.items()}, flush=True)
        print(label, {k: round(statistics.median(v), 2) for k, v in whole.items()}, flush=True)
    together = [measure("workbench", [str(opp), str(act)]) for _ in range(max(1, repeat // 3))]
    print("together", together, flush=True)

    lines = [
        "## Ingest (parse, map, type, validate, load)",
        "",
        f"Medians of {repeat} runs with their range; each run a fresh process. CPU is user + "
        "system of every thread (the machine's cores are shared, so wall times swing with "
        "other work; CPU much less).",
        "",
        "Target 1, in-process: the workbench's load (`engine.load.pipeline.load_files`, into a "
        "new dataset) against DuckDB's `read_csv` of the same file into a table, in the same "
        "process after every import (`python -m benchmarks.ingest --child inprocess DIR FILE`). "
        "Target: at most 2.5x the in-memory floor.",
        "",
        "| input | floor, in-memory table | floor, database file | workbench | "
        "workbench / floor (wall) | workbench / floor (CPU) |",
        "|---|---|---|---|---|---|",
    ]
    for label, r, _ in measured:
        lines.append(
            f"| {label} | {_spread(r['floor_memory_wall'])} | {_spread(r['floor_file_wall'])} | "
            f"{_spread(r['workbench_wall'])} | "
            f"{_spread(_ratios(r['workbench_wall'], r['floor_memory_wall']), 'x')} | "
            f"{_spread(_ratios(r['workbench_cpu'], r['floor_memory_cpu']), 'x')} |"
        )
    lines += [
        "",
        "Target 2, whole process: `python -m engine load FILE` against a process that only "
        'runs `import duckdb; duckdb.connect().sql("CREATE TABLE t AS SELECT * FROM '
        "read_csv('FILE')\")`, run in alternation. Target: at most 3x.",
        "",
        "| input | floor process | load process | load / floor (wall) | floor CPU | load CPU | "
        "load / floor (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, _, w in measured:
        lines.append(
            f"| {label} | {_spread(w['floor_wall'])} | {_spread(w['load_wall'])} | "
            f"{_spread(_ratios(w['load_wall'], w['floor_wall']), 'x')} | "
            f"{_spread(w['floor_cpu'])} | {_spread(w['load_cpu'])} | "
            f"{_spread(_ratios(w['load_cpu'], w['floor_cpu']), 'x')} |"
        )
    phase_order = PHASE_ORDER[1:]
    lines += [
        "",
        "Where the in-process load's time goes (median wall seconds, from the load's progress "
        "messages): inspect = the head, line count and stage map; read = pyarrow's parallel "
        "CSV reader into Arrow strings, cleaned; type + validate = format choice, typing by "
        "lookup in DuckDB, repeated ids, and the pandera model over the rows some rule may "
        "fail on (chosen in SQL, `schemas/models.py` `MAY_FAIL`); write = the loaded rows, "
        "the quarantine and the warnings into the dataset; save = report, commit and "
        "checkpoint.",
        "",
        "| input | " + " | ".join(phase_order) + " |",
        "|---|" + "---|" * len(phase_order),
    ]
    for label, r, _ in measured:
        cells = [_spread(r.get("phase:" + p, [0.0])) for p in phase_order]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    peak = [t["peak_mb"] for t in together]
    lines += [
        "",
        f"Target 3, memory: {opportunities:,} wide opportunities and {activities:,} activities "
        f"({(opp.stat().st_size + act.stat().st_size) / 1e6:.0f} MB) loaded together in one "
        f"process: peak RSS (VmHWM) {_spread(peak, ' MB', 0)}, "
        f"{_spread([t['seconds'] for t in together])} wall (imports included), over "
        f"{len(together)} run(s). Target: under 1.5 GB.",
    ]
    return "\n".join(lines)


def median_of(variant: str, files: list[str], repeat: int) -> dict[str, float]:
    runs = [measure(variant, files) for _ in range(repeat)]
    phases = sorted({k for r in runs for k in r if k.startswith("phase:")})
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "min": min(r["seconds"] for r in runs),
        "max": max(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        **{k: statistics.median(r.get(k, 0.0) for r in runs) for k in phases},
    }


def _merge_sections(old: str, new: list[str]) -> list[str]:
    """Sections of an earlier RESULTS.md with those measured now replaced by heading, so a
    partial run (``--only ingest``) keeps the other sections."""
    fresh = {s.split("\n", 1)[0]: s for s in new}
    kept = []
    for part in old.split("\n## ")[1:]:
        section = "## " + part.strip("\n")
        kept.append(fresh.pop(section.split("\n", 1)[0], section))
    return kept + list(fresh.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--opportunities", type=int, default=1_000_000)
    ap.add_argument("--activities", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--only",
        choices=[
            "ingest",
            "backends",
            "metrics",
            "backtest",
            "changes",
            "indicators",
            "pages",
            "browser",
            "loadtest",
            "all",
        ],
        default="all",
    )
    args = ap.parse_args(argv)
    command = (
        "make bench"
        if argv is None and len(sys.argv) == 1
        else "python -m benchmarks.run " + " ".join(sys.argv[1:])
    )
    sections: list[str] = []
    if args.only == "loadtest":  # its own section of RESULTS.md; the others stay as they are
        from benchmarks.loadtest import main as loadtest

        return loadtest([])

    if args.only in ("ingest", "all"):
        sections.append(_ingest(args.opportunities, args.activities, args.repeat))

    if args.only in ("backends", "all"):
        from benchmarks.backends import run as run_backends

        sections.append(run_backends(args.opportunities, args.repeat))

    if args.only in ("metrics", "all"):
        try:
            from benchmarks.metrics import run as run_metrics
        except ImportError:
            run_metrics = None
        if run_metrics is not None:
            sections.append(run_metrics(args.opportunities, args.repeat))

    if args.only in ("backtest", "all"):
        from benchmarks.backtest import run as run_backtest

        sections.append(run_backtest(args.opportunities, args.repeat))
    if args.only in ("changes", "all"):
        from benchmarks.changes import run as run_changes

        sections.append(run_changes(args.opportunities, args.repeat))
    if args.only in ("indicators", "all"):
        from benchmarks.indicators import run as run_indicators

        sections.append(run_indicators(args.opportunities, args.activities, args.repeat))
    if args.only in ("pages", "all"):
        from benchmarks.pages import run as run_pages

        sections.append(run_pages(args.opportunities, args.activities, args.repeat))

    if args.only in ("browser", "all"):
        from benchmarks.browser import run as run_browser

        sections.append(run_browser(repeat=args.repeat, rows=args.opportunities))

    if args.only == "all":
        from benchmarks.loadtest import run as run_loadtest

        sections.append(run_loadtest()[0])

    header = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} "
        f"({platform.machine()}, {platform.python_version()}, medians of {args.repeat} runs, "
        "each run a fresh process).",
        "",
    ]
    out = HERE / "RESULTS.md"
    if args.only != "all" and out.exists():
        sections = _merge_sections(out.read_text(), sections)
    out.write_text("\n".join(header) + "\n\n".join(sections) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
