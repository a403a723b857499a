"""Load files the way the command line does and digest what each load stored.

A digest names, per stored table, its columns, its row count and a hash of its rows sorted
(so the order rows were written in does not matter). Values that differ between two loads of
the same files (the creation time, the name, the owner key, the fingerprint) are left out.
Every load runs as of one fixed day, so "already in the past" means the same on any machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from engine.core.errors import WorkbenchError
from engine.load.pipeline import inspect_file, load_plans
from engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden.json"
AS_OF = dt.date(2026, 11, 20)
VOLATILE_META = ("created_at", "name", "fingerprint", "owner")
SAMPLE_TABLES = ("opportunities", "stage_history", "activities", "reps", "quotas", "leads")


def digest(path: Path) -> dict[str, Any]:
    """Per table of a stored dataset: columns, rows and a hash of the sorted rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, Any] = {}
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name"
        ).fetchall()
        for (table,) in tables:
            cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            where = ""
            if table == "_meta":
                where = "WHERE key NOT IN (" + ", ".join(f"'{k}'" for k in VOLATILE_META) + ")"
            rows = con.execute(f'SELECT * FROM "{table}" {where} ORDER BY ALL').fetchall()
            sha = hashlib.sha256(repr(rows).encode()).hexdigest()[:20]
            out[table] = {"columns": cols, "rows": len(rows), "sha": sha}
        return out
    finally:
        con.close()


def load_digest(files: Sequence[Path], recognised_only: bool = False) -> dict[str, Any]:
    """Load ``files`` as one dataset in a scratch workspace and digest it; a refused load
    gives its error instead. ``recognised_only`` leaves out files that are not CRM tables (a
    folder of real exports holds Contact.csv and the like)."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        try:
            plans = [inspect_file(f, f.name) for f in files]
            left_out = []
            if recognised_only:
                left_out = [p.filename for p in plans if p.blocking_problems()]
                plans = [p for p in plans if not p.blocking_problems()]
            info, _ = load_plans(ws, plans, "parity", as_of=AS_OF)
            result: dict[str, Any] = {"tables": digest(ws.path(info.token))}
            if left_out:
                result["left_out"] = left_out
            return result
        except WorkbenchError as exc:
            return {"error": type(exc).__name__, "message": exc.message}
        finally:
            ws.close()


def project_cases() -> dict[str, list[Path]]:
    """The sample (its files together), the dirty sample, and each bad-input file alone."""
    sample = ROOT / "sample_data"
    cases = {"sample": [sample / f"{t}.csv" for t in SAMPLE_TABLES]}
    cases["sample/dirty"] = sorted((sample / "dirty").glob("*.csv"))
    for f in sorted((ROOT / "tests" / "bad_inputs").iterdir()):
        if f.suffix in (".csv", ".xlsx", ".parquet"):
            cases[f"bad_inputs/{f.name}"] = [f]
    return cases


def capture(cases: dict[str, list[Path]], recognised_only: bool = False) -> dict[str, Any]:
    return {name: load_digest(files, recognised_only) for name, files in cases.items()}


def realdata_cases(root: Path) -> dict[str, list[Path]]:
    """Each folder's exports together, and each export alone."""
    cases: dict[str, list[Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.csv"))
        cases[folder.name] = files
        for f in files:
            cases[f"{folder.name}/{f.name}"] = [f]
    return cases


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Each case and table whose digest differs, in words."""
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None or "tables" not in a or "tables" not in b:
            out.append(f"{name}: {a} -> {b}")
            continue
        for table in sorted(set(a["tables"]) | set(b["tables"])):
            if a["tables"].get(table) != b["tables"].get(table):
                out.append(f"{name}: {table}: {a['tables'].get(table)} -> {b['tables'].get(table)}")
        if a.get("left_out") != b.get("left_out"):
            out.append(f"{name}: left out {a.get('left_out')} -> {b.get('left_out')}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.parity", description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite golden.json")
    parser.add_argument("--realdata", type=Path, help="a folder of folders of real exports")
    parser.add_argument("--save", type=Path, help="write the realdata digests here")
    parser.add_argument("--check", type=Path, help="compare the realdata digests with this file")
    args = parser.parse_args(argv)
    if args.realdata:
        got = capture(realdata_cases(args.realdata), recognised_only=True)
        if args.save:
            args.save.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        if args.check:
            diff = differences(json.loads(args.check.read_text()), got)
            print("\n".join(diff) or "identical")
            return 1 if diff else 0
        return 0
    got = capture(project_cases())
    if args.update:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        return 0
    diff = differences(json.loads(GOLDEN.read_text()), got)
    print("\n".join(diff) or "identical")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
