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

from benchmarks.datagen import generate
from benchmarks.ingest import measure

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
        opp, act = ensure_data(args.opportunities, args.activities)
        sizes = {p.name: p.stat().st_size / 1e6 for p in (opp, act)}
        rows = []
        for label, files in (
            (
                f"opportunities ({args.opportunities:,} rows, {sizes['opportunities.csv']:.0f} MB)",
                [str(opp)],
            ),
            (
                f"activities ({args.activities:,} rows, {sizes['activities.csv']:.0f} MB)",
                [str(act)],
            ),
            ("both files together", [str(opp), str(act)]),
        ):
            res = {v: median_of(v, files, args.repeat) for v in ("floor", "workbench", "pandas")}
            rows.append((label, res))
            print(label, {k: round(v["seconds"], 2) for k, v in res.items()}, flush=True)
        lines = [
            "## Ingest (parse, map, type, validate, load)",
            "",
            "| input | DuckDB read_csv (floor) | workbench | pandas + pandera | workbench / floor | workbench / pandas | workbench peak RSS | pandas peak RSS |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, r in rows:
            f, w, p = r["floor"], r["workbench"], r["pandas"]
            lines.append(
                f"| {label} | {f['seconds']:.2f} s | {w['seconds']:.2f} s | {p['seconds']:.2f} s | "
                f"{w['seconds'] / f['seconds']:.2f}x | {w['seconds'] / p['seconds']:.2f}x | "
                f"{w['peak_mb']:.0f} MB | {p['peak_mb']:.0f} MB |"
            )
        lines += [
            "",
            "Targets: workbench at most 2x the floor, faster than pandas, peak memory under "
            "1.5 GB for both files together.",
            "",
            "Where the workbench's time goes (medians, from the load's progress messages): "
            "start = importing the engine; inspect = the head, line count and stage map; "
            "read = pyarrow's parallel CSV reader into Arrow strings, cleaned (DuckDB scans "
            "them in place); type + validate = format choice, typing by lookup in DuckDB, "
            "repeated ids, and the pandera model over every row in slices; write = the loaded "
            "rows into the dataset and its commit; save = report, commit and checkpoint.",
            "",
            "| input | " + " | ".join(PHASE_ORDER) + " |",
            "|---|" + "---|" * len(PHASE_ORDER),
        ]
        for label, r in rows:
            w = r["workbench"]
            cells = [f"{w.get('phase:' + p, 0.0):.2f} s" for p in PHASE_ORDER]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))

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
