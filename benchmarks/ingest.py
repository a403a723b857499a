"""Ingest benchmark: our full load path against DuckDB's read_csv (the floor) and pandas.

Each variant runs in its own process so its peak memory (max RSS) is its own:

- ``floor``: DuckDB ``read_csv`` of the file straight into a table (no mapping, no rules).
- ``workbench``: the app's path, ``engine.load.pipeline.load_files`` (parse, map, type,
  validate with pandera, load into a new dataset).
- ``pandas``: ``pandas.read_csv`` + the same row rules written as a pandera model on pandas.
- ``inprocess``: both in one process, timed after the imports: the floor into an in-memory
  table and into a database file, then the workbench's load (wall and CPU each).

:func:`targets` measures the two targets in one run: the load in-process against the floor
in the same process, and the whole ``python -m engine load FILE`` process against a whole
process that only runs the floor (in alternation, fresh processes each time).

Ratios are against the floor and the pandas path measured in the same run.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The generated files are larger than the default upload limit.
LIMITS = {"WORKBENCH_MAX_UPLOAD_MB": "4000", "WORKBENCH_MAX_ROWS": "10000000"}


# The load's progress messages, by first word, and the phase each one starts.
PHASES = {
    "Parsing": "read",
    "Validating": "type + validate",
    "Writing": "write",
    "Saving": "save",
}


def _phases(t0: float, marks: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per phase of a load started at ``t0``, from the time each progress message
    arrived: the time up to the first message is inspection (head, line count, stage map)."""
    out = {"inspect": (marks[0][0] if marks else time.perf_counter()) - t0}
    ends = [t for t, _ in marks[1:]] + [time.perf_counter()]
    for (start, msg), end in zip(marks, ends, strict=True):
        phase = PHASES.get(msg.split(" ", 1)[0], "other")
        out[phase] = out.get(phase, 0.0) + end - start
    return {f"phase:{k}": v for k, v in out.items()}


def _inprocess(files: list[str], workdir: str) -> dict[str, float]:
    """The floor and the workbench's load in this one process, after every import, each with
    its wall and CPU seconds (CPU: every thread of the process, user + system)."""
    import duckdb

    from engine.load.pipeline import load_files
    from engine.store.workspace import Workspace

    out: dict[str, float] = {}

    def floor(name: str, con: duckdb.DuckDBPyConnection) -> None:
        w, c = time.perf_counter(), time.process_time()
        for i, f in enumerate(files):
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?)", [f])
        con.close()
        out[f"{name}_wall"], out[f"{name}_cpu"] = time.perf_counter() - w, time.process_time() - c

    floor("floor_memory", duckdb.connect())
    marks: list[tuple[float, str]] = []
    w, c = time.perf_counter(), time.process_time()
    load_files(
        Workspace(Path(workdir) / "ws"),
        [(Path(f).name, Path(f)) for f in files],
        name="bench",
        progress=lambda msg, _share: marks.append((time.perf_counter(), msg)),
    )
    out["workbench_wall"], out["workbench_cpu"] = time.perf_counter() - w, time.process_time() - c
    out.update(_phases(w, marks))
    floor("floor_file", duckdb.connect(str(Path(workdir) / "floor.duckdb")))
    return out


def _child(variant: str, files: list[str], workdir: str) -> dict[str, float]:
    """Run one variant in this process and return its wall time."""
    if variant == "inprocess":
        return _inprocess(files, workdir)
    t0 = time.perf_counter()
    if variant == "floor":
        import duckdb

        con = duckdb.connect(str(Path(workdir) / "floor.duckdb"))
        for i, f in enumerate(files):
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?)", [f])
        con.close()
    elif variant == "workbench":
        from engine.load.pipeline import load_files
        from engine.store.workspace import Workspace

        marks: list[tuple[float, str]] = []
        started = time.perf_counter()
        ws = Workspace(Path(workdir) / "ws")
        load_files(
            ws,
            [(Path(f).name, Path(f)) for f in files],
            name="bench",
            progress=lambda msg, _share: marks.append((time.perf_counter(), msg)),
        )
        return {
            "seconds": time.perf_counter() - t0,
            "phase:start": started - t0,
            **_phases(started, marks),
        }
    elif variant == "pandas":
        from benchmarks.pandas_baseline import validate_with_pandas

        for f in files:
            validate_with_pandas(f)
    else:
        raise SystemExit(f"unknown variant {variant}")
    return {"seconds": time.perf_counter() - t0}


def measure(variant: str, files: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cmd = [sys.executable, "-m", "benchmarks.ingest", "--child", variant, tmp, *files]
        env = {**os.environ, **LIMITS}
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"{variant} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


# The whole-process floor: a process that only reads the file into a table.
FLOOR_PROCESS = (
    "import sys, duckdb; duckdb.connect().sql("
    '"CREATE TABLE t AS SELECT * FROM read_csv(\'" + sys.argv[1] + "\')")'
)


def _process(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode not in (0, 1):  # 1: rows quarantined, still loaded
        raise RuntimeError(f"{cmd[:4]} failed:\n{out.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def whole_process(file: str, repeat: int) -> dict[str, list[float]]:
    """``python -m engine load FILE`` against the floor process, ``repeat`` times each, in
    alternation (the order flips every round), each into a fresh workspace."""
    runs: dict[str, list[float]] = {k: [] for k in ("floor_wall", "floor_cpu", "load_wall")}
    runs["load_cpu"] = []
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            env = {**os.environ, **LIMITS, "WORKBENCH_WORKSPACE": tmp}
            cmds = {
                "floor": [sys.executable, "-c", FLOOR_PROCESS, file],
                "load": [sys.executable, "-m", "engine", "load", file],
            }
            for name in ("floor", "load") if i % 2 == 0 else ("load", "floor"):
                wall, cpu = _process(cmds[name], env)
                runs[f"{name}_wall"].append(wall)
                runs[f"{name}_cpu"].append(cpu)
    return runs


def in_process(files: list[str], repeat: int) -> dict[str, list[float]]:
    """The ``inprocess`` child ``repeat`` times (a fresh process each)."""
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        for k, v in measure("inprocess", files).items():
            runs.setdefault(k, []).append(v)
    return runs


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    variant, workdir, *paths = sys.argv[2:]
    result = _child(variant, paths, workdir)
    # VmHWM: this process image's peak RSS (ru_maxrss would include the parent's pages
    # shared between fork and exec).
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    result["peak_mb"] = hwm / 1024
    print(json.dumps(result))
