"""Command line: validate, load, list and delete datasets, and print metric reports.

Exit codes: 0 loaded or valid, 1 rows quarantined, 2 unusable input (with a message that
says what to do), 3 an internal error (a bug: a one-line message, still no traceback).
A traceback is never the answer to bad input. A file with a header but no data rows is left
out with a line saying so; when every file is like that the command exits 2 and creates
nothing (``docs/loading.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.core.errors import WorkbenchError
from engine.load import pipeline
from engine.store.workspace import RETENTION_ENV, Workspace, is_token, retention_days

EXIT_OK, EXIT_QUARANTINED, EXIT_UNUSABLE, EXIT_INTERNAL = 0, 1, 2, 3


def _read_files(paths: Sequence[str]) -> list[tuple[str, Path]]:
    """The files to load, checked to exist; each is read when its turn comes."""
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise WorkbenchError(f"{p}: no such file.", "File not found")
        out.append((path.name, path))
    return out


def _plan_summary(plan: pipeline.FilePlan) -> dict[str, Any]:
    return {
        "file": plan.filename,
        "table": plan.table,
        "format": plan.raw.format,
        "encoding": plan.raw.encoding,
        "delimiter": plan.raw.delimiter,
        "mapping": plan.mapping.columns,
        "unmapped": plan.mapping.unmapped,
        "problems": plan.blocking_problems(),
    }


def report_lines(report: dict[str, Any], flagged: int) -> list[str]:
    """One file's outcome in words: rows in = loaded + quarantined, then rows flagged versus
    warnings (a warning is one rule firing on one row, so a row can carry several)."""
    lines = [
        f"{report['file']} -> {report['table']}: {report['rows_in']:,} rows in = "
        f"{report['rows_loaded']:,} loaded + {report['rows_quarantined']:,} quarantined"
    ]
    fired = sum(report["warnings"].values())
    if fired:
        lines.append(
            f"{flagged:,} {_rows(flagged)} flagged by {fired:,} {_plural(fired, 'warning')} "
            "(a row can break several rules)"
        )
    else:
        lines.append("no warnings")
    return lines


def _rows(n: int) -> str:
    return _plural(n, "row")


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"


def _with_flagged(reports: list[dict[str, Any]], flagged: dict[str, int]) -> list[dict[str, Any]]:
    """The reports with ``rows_flagged`` (loaded rows with a warning) and ``warnings_fired``."""
    return [
        dict(
            r,
            rows_flagged=flagged.get(r["file"], 0),
            warnings_fired=sum(r["warnings"].values()),
        )
        for r in reports
    ]


def _print_left_out(no_rows: list[str], out: TextIO) -> None:
    for name in no_rows:
        out.write(f"{name}: {pipeline.NO_ROWS}\n")


def _print_reports(reports: list[dict[str, Any]], out: TextIO) -> None:
    for r in reports:
        first, *rest = report_lines(r, r["rows_flagged"])
        out.write(first + "\n")
        for line in rest:
            out.write(f"    {line}\n")
        for rule, n in sorted(r["warnings"].items()):
            out.write(f"    warning {rule}: {n:,} {_rows(n)}\n")
        for note in r["notes"]:
            out.write(f"    note: {note}\n")


def _print_quarantine_examples(prepared: pipeline.Prepared, out: TextIO, limit: int = 5) -> None:
    for f in prepared.files:
        for row in f.quarantine.head(limit).iter_rows(named=True):
            out.write(f"    {f.source_name} line {row['line']}: {'; '.join(row['reasons'])}\n")
        if f.rows_quarantined > limit:
            out.write(f"    ... and {f.rows_quarantined - limit} more in {f.source_name}\n")


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    files = _read_files(args.files)
    plans = [pipeline.inspect_file(path.read_bytes(), name) for name, path in files]
    # A load into a throw-away workspace: the same batched path, memory bounded, nothing kept.
    with tempfile.TemporaryDirectory(prefix="workbench-validate-") as tmp:
        scratch = Workspace(tmp)
        info, prepared = pipeline.load_plans(scratch, plans, "validate")
        flagged = scratch.flagged_rows(info.token)
        scratch.close()
    reports = _with_flagged(prepared.reports(), flagged)
    kept = [p for p in plans if p.has_rows]
    if args.json:
        payload = {
            "files": [_plan_summary(p) for p in kept],
            "left_out": [{"file": f, "reason": "no data rows"} for f in prepared.no_rows],
            "reports": reports,
        }
        out.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        _print_left_out(prepared.no_rows, out)
        for p in kept:
            s = _plan_summary(p)
            out.write(f"{s['file']}: recognised as {s['table']} ({s['format']})\n")
            for canon, header in s["mapping"].items():
                out.write(f"    {canon:<22} <- {header}\n")
            if s["unmapped"]:
                out.write(f"    unmapped: {', '.join(s['unmapped'])}\n")
        out.write("\nWhat a load would do:\n")
        _print_reports(reports, out)
        _print_quarantine_examples(prepared, out)
    return EXIT_QUARANTINED if prepared.rows_quarantined else EXIT_OK


def cmd_load(args: argparse.Namespace, out: TextIO) -> int:
    ws = Workspace(args.workspace)
    info, prepared = pipeline.load_files(ws, _read_files(args.files), name=args.name)
    reports = _with_flagged(prepared.reports(), ws.flagged_rows(info.token))
    if args.json:
        payload = {
            "token": info.token,
            "name": info.name,
            "files": reports,
            "left_out": [{"file": f, "reason": "no data rows"} for f in prepared.no_rows],
        }
        out.write(json.dumps(payload, indent=2) + "\n")
    else:
        _print_left_out(prepared.no_rows, out)
        _print_reports(reports, out)
        _print_quarantine_examples(prepared, out)
        out.write(f"\nLoaded dataset '{info.name}'. Token: {info.token}\n")
    return EXIT_QUARANTINED if prepared.rows_quarantined else EXIT_OK


def cmd_datasets(args: argparse.Namespace, out: TextIO) -> int:
    infos = Workspace(args.workspace).list()
    if args.json:
        out.write(json.dumps([i.to_dict() for i in infos], indent=2) + "\n")
        return EXIT_OK
    if not infos:
        out.write("No datasets yet. Load files with: python -m engine load FILE...\n")
    for i in infos:
        rows = ", ".join(f"{t} {n}" for t, n in sorted(i.row_counts.items()) if n)
        out.write(f"{i.token}  {i.created_at}  {i.name}  ({rows})\n")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    Workspace(args.workspace).delete(args.token)
    out.write(f"Deleted dataset {args.token}.\n")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, out: TextIO) -> int:
    from engine.load.samples import apply_retention

    ws = Workspace(args.workspace)
    if args.days is not None:
        if args.days <= 0:
            raise WorkbenchError("--days must be a positive number of days.", "Bad retention")
        gone = ws.purge_older_than(args.days)
    elif retention_days() is None:
        out.write(
            f"No retention period is set ({RETENTION_ENV} is empty and no --days was given); "
            "nothing was deleted.\n"
        )
        return EXIT_OK
    else:
        gone = apply_retention(ws)
    for token in gone:
        out.write(f"Deleted dataset {token}.\n")
    out.write(f"Purged {len(gone)} dataset(s).\n")
    return EXIT_OK


def _on_source(args: argparse.Namespace, out: TextIO, run: Any) -> int:
    """Run ``run(cursor, args, out)`` on a dataset token, or on files loaded into a throw-away
    workspace."""
    sources: list[str] = args.source
    if len(sources) == 1 and is_token(sources[0]) and not Path(sources[0]).exists():
        ws = Workspace(args.workspace)
        with ws.cursor(sources[0]) as cur:
            return int(run(cur, args, out))
    with tempfile.TemporaryDirectory(prefix="workbench-report-") as tmp:
        ws = Workspace(tmp)
        info, _ = pipeline.load_files(ws, _read_files(sources), name="report")
        try:
            with ws.cursor(info.token) as cur:
                return int(run(cur, args, out))
        finally:
            ws.close()


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from engine.analyses.report import run_report

    return _on_source(args, out, run_report)


def cmd_indicators(args: argparse.Namespace, out: TextIO) -> int:
    from engine.analyses.indicators import run_cli

    return _on_source(args, out, run_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    parser.add_argument(
        "--workspace",
        default=None,
        help="workspace folder (default $WORKBENCH_WORKSPACE or ./workspace)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="show mapping and quality report without loading")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("load", help="load files as one dataset")
    p.add_argument("files", nargs="+")
    p.add_argument("--name", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("datasets", help="list every dataset in the workspace")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("delete", help="delete a dataset from disk")
    p.add_argument("token")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("purge", help=f"delete datasets older than ${RETENTION_ENV} days")
    p.add_argument("--days", type=float, default=None, help=f"overrides ${RETENTION_ENV}")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("report", help="metric report for a dataset token or files")
    p.add_argument("source", nargs="+", metavar="TOKEN|FILE")
    try:
        from engine.analyses.report import add_report_arguments

        add_report_arguments(p)
    except ImportError:  # pragma: no cover - metrics package missing
        pass
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "indicators",
        help="test which leading indicators predict which outcomes (rep x period panel)",
    )
    p.add_argument("source", nargs="+", metavar="TOKEN|FILE")
    from engine.analyses.indicators import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_indicators)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, out))
    except WorkbenchError as exc:
        err.write(f"{exc.title}: {exc.message}\n")
        return EXIT_UNUSABLE
    except MemoryError:
        err.write(
            "Out of memory: the file is too large for this machine. Split it and try again.\n"
        )
        return EXIT_UNUSABLE
    except OSError as exc:
        err.write(f"Could not read or write a file: {exc.strerror or exc} ({exc.filename}).\n")
        return EXIT_UNUSABLE
    except Exception as exc:  # the last boundary: a message, never a traceback
        err.write(
            f"Internal error ({type(exc).__name__}): {exc}. Please report "
            "this with the file that caused it.\n"
        )
        return EXIT_INTERNAL
