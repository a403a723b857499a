"""Metric engine benchmark: the whole catalog and the heavy metrics vs a pandas baseline.

A large dataset is generated once with ``sample_data.generate`` and loaded once through
``engine.load.pipeline.load_files`` (the app's own loader); both are cached under
``benchmarks/data/metrics_o<N>/``. Each run then times, in this process:

- the SQL engine: ``engine.semantic.compute`` for the whole catalog and for each heavy metric,
  on a cursor of the loaded dataset;
- the pandas baseline: ``tests/pandas_reference.py`` (the independent implementation the
  cross-check test uses) reading the same CSVs into pandas once, then computing the same
  metrics from the frames.

Figures are medians over ``repeat`` runs. ``python -m benchmarks.metrics --opportunities N``
prints the markdown section; ``benchmarks/run.py`` calls :func:`run` for RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.datagen import generate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
TABLES = ("opportunities", "stage_history", "activities", "reps", "quotas", "leads")
AS_OF = dt.date(2026, 11, 20)
PERIOD = ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 7, 1))
HEAVY = (
    "pipeline_aging",
    "stale_deals",
    "time_in_stage_days",
    "stage_conversion",
    "forecast_accuracy",
    "quota_attainment",
    "sales_cycle_days",
)


def data_dir(opportunities: int) -> Path:
    return DATA / f"metrics_o{opportunities}"


def ensure_csvs(opportunities: int) -> Path:
    """Generate the CSVs for ``opportunities`` deals once (activities scale with them)."""
    out = data_dir(opportunities) / "csv"
    if all((out / f"{t}.csv").exists() for t in TABLES):
        return out
    scale = max(opportunities / 4000, 1.0)
    generate(
        out,
        opportunities=opportunities,
        activities=int(opportunities * 2),
        leads=int(8000 * scale),
    )
    return out


def ensure_dataset(opportunities: int) -> tuple[Path, str]:
    """Load the generated CSVs through the pipeline once; returns (workspace root, token)."""
    from engine.load.pipeline import load_files
    from engine.store.workspace import Workspace

    base = data_dir(opportunities)
    csv = ensure_csvs(opportunities)
    root = base / "workspace"
    token_file = base / "token"
    if token_file.exists():
        token = token_file.read_text().strip()
        if Workspace(root).exists(token):
            return root, token
    # The generated files are larger than the default upload limit of the app.
    os.environ.setdefault("WORKBENCH_MAX_UPLOAD_MB", "4000")
    os.environ.setdefault("WORKBENCH_MAX_ROWS", "10000000")
    ws = Workspace(root)
    files = [(f"{t}.csv", (csv / f"{t}.csv").read_bytes()) for t in TABLES]
    began = time.perf_counter()
    info, _ = load_files(ws, files, name=f"bench {opportunities}", as_of=AS_OF)
    print(f"loaded {opportunities:,} deals in {time.perf_counter() - began:.1f} s", flush=True)
    ws.close()
    token_file.write_text(info.token)
    return root, info.token


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn`` (CPU counts every thread of this process, so it
    stays meaningful when other processes share the machine)."""
    wall, cpu = [], []
    for _ in range(max(repeat, 1)):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def run(opportunities: int, repeat: int) -> str:
    """Time the engine and the pandas baseline on ``opportunities`` deals; a markdown section."""
    import duckdb

    from engine.semantic import compute, make_request, metric_ids
    from engine.store.workspace import Workspace
    from tests.pandas_reference import read_frames, reference_from_frames

    root, token = ensure_dataset(opportunities)
    csv = ensure_csvs(opportunities)
    ws = Workspace(root)
    label, start, end = PERIOD
    rows: list[tuple[str, tuple[float, float], tuple[float, float]]] = []
    with ws.cursor(token) as cur:
        counts = {
            t: cur.sql(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]
            for t in ("opportunities", "stage_history", "activities")
        }

    def engine_fn(metrics: list[str]) -> Callable[[], Any]:
        def go() -> Any:
            con: duckdb.DuckDBPyConnection = ws.connection(token)
            return compute(con, make_request(metrics, period=label, as_of=AS_OF))

        return go

    t0 = time.perf_counter()
    frames = read_frames(csv)
    read_s = time.perf_counter() - t0

    def pandas_fn(metrics: list[str] | None) -> Callable[[], Any]:
        return lambda: reference_from_frames(frames, start, end, AS_OF, only=metrics)

    all_ids = list(metric_ids())
    rows.append(
        ("whole catalog", _median(engine_fn(all_ids), repeat), _median(pandas_fn(None), repeat))
    )
    print(rows[-1], flush=True)
    for mid in HEAVY:
        rows.append((mid, _median(engine_fn([mid]), repeat), _median(pandas_fn([mid]), repeat)))
        print(rows[-1], flush=True)
    ws.close()
    lines = [
        "## Metrics (SQL engine vs pandas)",
        "",
        f"{counts['opportunities']:,} opportunities, {counts['stage_history']:,} stage_history "
        f"rows, {counts['activities']:,} activities, loaded once through `engine.load.pipeline`. "
        f"Period {label}, as-of {AS_OF}. The pandas baseline is `tests/pandas_reference.py` "
        f"(the cross-check's independent implementation) on frames read once from the CSVs "
        f"({read_s:.1f} s to read, not counted). Medians of {repeat} runs in one process.",
        "",
        "| metric | engine | pandas | pandas / engine | engine CPU | pandas CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (e, ec), (p, pc) in rows:
        lines.append(f"| {name} | {e:.2f} s | {p:.2f} s | {p / e:.1f}x | {ec:.2f} s | {pc:.2f} s |")
    lines += [
        "",
        "Targets: every single metric under 1 s, the whole catalog under 4 s (wall). The pandas "
        "baseline computes the cheap sums and ratios on every call, and pipeline_aging and "
        "stale_deals together (they share the stage-entry work).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--opportunities", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args(argv)
    if args.prepare_only:
        print(ensure_dataset(args.opportunities))
        return 0
    print(run(args.opportunities, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
