"""Command line: validate, load, list and delete datasets, and print metric reports.

Exit codes: 0 loaded or valid, 1 rows quarantined, 2 unusable input (with a message that
says what to do), 3 an internal error (a bug: a one-line message, still no traceback).
A traceback is never the answer to bad input. A file with a header but no data rows is left
out with a line saying so; when every file is like that the command exits 2 and creates
nothing (``docs/loading.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from engine.core import privacy
from engine.core.errors import DatasetNotFound, InputError, WorkbenchError
from engine.load import pipeline, snapshots
from engine.store.workspace import (
    RETENTION_ENV,
    SNAPSHOT_SEP,
    Workspace,
    is_token,
    retention_days,
)

EXIT_OK, EXIT_QUARANTINED, EXIT_UNUSABLE, EXIT_INTERNAL = 0, 1, 2, 3


def _workspace(root: Path | str | None) -> Workspace:
    """A workspace that stores each written dataset's facts (``engine/semantic/facts.py``)."""
    from engine.semantic import facts

    return Workspace(root, finish=facts.store)


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
        scratch = _workspace(tmp)
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


def _date_arg(text: str | None, what: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{what} {text!r} is not a date: write it as YYYY-MM-DD.") from exc


def cmd_load(args: argparse.Namespace, out: TextIO) -> int:
    ws = _workspace(args.workspace)
    as_of = _date_arg(args.as_of, "--as-of")
    if args.into is not None:
        if not is_token(args.into) or not ws.exists(args.into):
            raise DatasetNotFound(f"--into {args.into[:40]!r} names no dataset of this workspace.")
        info, prepared = snapshots.load_snapshot(ws, args.into, _read_files(args.files), as_of)
    elif as_of is not None:
        info, prepared = pipeline.load_files(ws, _read_files(args.files), args.name, as_of)
    else:
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
        if args.into is not None:
            day = ws.snapshot(args.into, None).as_of
            out.write(
                f"\nAdded a snapshot as of {day} to dataset '{info.name}' (now its latest). "
                f"Snapshot: {info.token}{SNAPSHOT_SEP}{day}\n"
            )
        else:
            out.write(f"\nLoaded dataset '{info.name}'. Token: {info.token}\n")
    return EXIT_QUARANTINED if prepared.rows_quarantined else EXIT_OK


def cmd_snapshots(args: argparse.Namespace, out: TextIO) -> int:
    ws = _workspace(args.workspace)
    snaps = ws.snapshots(args.token) if is_token(args.token) else []
    if not snaps:
        raise DatasetNotFound(f"No dataset with token {args.token[:40]!r} exists.")
    if args.json:
        out.write(json.dumps([{"key": s.key, "as_of": s.as_of} for s in snaps], indent=2) + "\n")
        return EXIT_OK
    for snap in snaps:
        out.write(f"{snap.as_of}  {args.token}@{snap.as_of}\n")
    return EXIT_OK


def _snapshot_file(
    ws: Workspace, source: str, scratch: Callable[[], Workspace]
) -> tuple[Path, str]:
    """The DuckDB file of ``TOKEN@DATE`` (checked against the dataset's snapshots), or of an
    export file loaded into a scratch workspace; with the snapshot's as-of date."""
    path = Path(source)
    if SNAPSHOT_SEP in source and not path.exists():
        token, _, day = source.partition(SNAPSHOT_SEP)
        if not is_token(token):
            raise DatasetNotFound(f"{source[:50]!r} does not name a snapshot (TOKEN@YYYY-MM-DD).")
        snap = ws.snapshot(token, day)
        return ws.path(snap.key), snap.as_of
    if is_token(source) and not path.exists():
        snap = ws.snapshot(source, None)
        return ws.path(snap.key), snap.as_of
    target = scratch()
    info, _ = pipeline.load_files(target, _read_files([source]), name=path.name)
    return target.path(info.token), target.as_of(info.token)


def cmd_changes(args: argparse.Namespace, out: TextIO) -> int:
    from engine.analyses import changes
    from engine.semantic.request import parse_period

    ws = _workspace(args.workspace)
    with tempfile.TemporaryDirectory(prefix="workbench-changes-") as tmp:
        scratch: list[Workspace] = []

        def make() -> Workspace:
            if not scratch:
                scratch.append(_workspace(tmp))
            return scratch[0]

        old, _old_day = _snapshot_file(ws, args.old, make)
        new, new_day = _snapshot_file(ws, args.new, make)
        for w in scratch:
            w.close()
        as_of = dt.date.fromisoformat(new_day[:10]) if new_day else dt.date.today()
        period = parse_period(args.period, as_of) if args.period else changes.default_period(as_of)
        with changes.attach_pair(old, new) as con:
            result = changes.compare(con, period, args.by)
    if args.json:
        out.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return EXIT_OK
    out.write(f"Pipeline changes for {period.label}, {args.old} -> {args.new}\n")
    scopes = [result.total, *result.groups]
    for s in scopes:
        if s.by:
            out.write(f"\n{', '.join(f'{k} {v}' for k, v in s.by.items())}\n")
        out.write(f"    {changes.identity_text(s)}\n")
        for b in changes.BUCKETS:
            part = s.buckets[b]
            if part.deals:
                sign = "+" if changes.SIGN[b] > 0 else "-"
                out.write(
                    f"    {sign} {changes.LABELS[b]:<22} {part.amount:>16,.2f}  "
                    f"{part.deals:,} {_plural(part.deals, 'deal')}\n"
                )
        empty = s.start.no_amount + s.end.no_amount
        if empty:
            out.write(f"    {empty:,} deal entries without an amount count as 0\n")
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace, out: TextIO) -> int:
    infos = _workspace(args.workspace).list()
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
    ws = _workspace(args.workspace)
    if SNAPSHOT_SEP in args.token:
        token, _, day = args.token.partition(SNAPSHOT_SEP)
        if not is_token(token):
            raise DatasetNotFound(f"{args.token[:50]!r} does not name a snapshot.")
        snap = ws.snapshot(token, day)
        ws.delete(f"{token}{SNAPSHOT_SEP}{snap.as_of}")
        out.write(f"Deleted the snapshot as of {snap.as_of} of dataset {token}.\n")
        return EXIT_OK
    ws.delete(args.token)
    out.write(f"Deleted dataset {args.token}.\n")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, out: TextIO) -> int:
    from engine.load.samples import apply_retention

    ws = _workspace(args.workspace)
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


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from engine.analyses.report import run_report

    return _with_dataset(args, out, run_report)


def _with_dataset(args: argparse.Namespace, out: TextIO, run: Any) -> int:
    """Run ``run(cursor, args, out)`` on a dataset token, or on files loaded into a temporary
    workspace."""
    sources: list[str] = args.source
    if len(sources) == 1 and not Path(sources[0]).exists():
        token, _, day = sources[0].partition(SNAPSHOT_SEP)
        if is_token(token):
            # A dataset is reported on its latest snapshot, or the TOKEN@DATE one named.
            ws = _workspace(args.workspace)
            with ws.cursor(ws.snapshot(token, day or None).key) as cur:
                return int(run(cur, args, out))
    with tempfile.TemporaryDirectory(prefix="workbench-report-") as tmp:
        ws = _workspace(tmp)
        info, _ = pipeline.load_files(ws, _read_files(sources), name="report")
        try:
            with ws.cursor(info.token) as cur:
                return int(run(cur, args, out))
        finally:
            ws.close()


def run_backtest(cur: Any, args: argparse.Namespace, out: TextIO) -> int:
    """The forecast backtest (docs/metrics.md, "Forecast backtest") as JSON or a table."""
    from engine.analyses.backtest import METHOD_LABELS, as_json, backtest
    from engine.semantic.profile import dataset_profile
    from engine.semantic.request import make_request

    as_of = args.as_of or dataset_profile(cur).as_of
    req = make_request(["forecast_accuracy"], period=args.period, as_of=as_of)
    data = as_json(backtest(cur, req))
    if args.json:
        out.write(json.dumps(data, allow_nan=False) + "\n")
        return EXIT_OK

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    def money(v: Any) -> str:
        return "n/a" if v is None else f"{v:,.0f}"

    out.write(f"Forecast backtest as of {data['as_of']}\n")
    if data["reason"]:
        out.write(f"Backtest n/a: {data['reason']}.\n")
    else:
        out.write(
            f"{'quarter':8} {'checkpoint':10} {'method':26} {'forecast':>14} {'actual':>14} "
            f"{'accuracy':>9}\n"
        )
        for r in data["results"]:
            out.write(
                f"{r['period']:8} {r['checkpoint']:10} {r['method']:26} "
                f"{money(r['forecast']):>14} {money(r['actual']):>14} {pct(r['accuracy']):>9}\n"
            )
        out.write("\nPer method: mean accuracy, bias, MAPE\n")
        for s in data["summary"]:
            out.write(
                f"  {s['method']:26} {pct(s['mean_accuracy']):>9} {pct(s['bias']):>9} "
                f"{pct(s['mape']):>9}\n"
            )
    if data["projection"] and data["projection"][0]["period"]:
        p0 = data["projection"][0]
        out.write(f"\nProjection for {p0['period']} (best method by backtest first)\n")
        for p in data["projection"]:
            out.write(f"  {METHOD_LABELS[p['method']]:32} {money(p['forecast']):>14}\n")
    return EXIT_OK


def cmd_backtest(args: argparse.Namespace, out: TextIO) -> int:
    return _with_dataset(args, out, run_backtest)


def cmd_indicators(args: argparse.Namespace, out: TextIO) -> int:
    from engine.analyses.indicators import run_cli

    return _with_dataset(args, out, run_cli)


# Commands whose options are defined by an analysis module: that module (and what it imports,
# scipy for the indicators) is imported only when the command is the one given.
_ANALYSIS_COMMANDS = ("report", "indicators")


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The analysis command ``argv`` names, or None for every other (or no) command. Only the
    first word that is not an option counts: ``--workspace``'s value never looks like one."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, word in enumerate(args):
        if word.startswith("-") or (i and args[i - 1] == "--workspace"):
            continue
        return word if word in _ANALYSIS_COMMANDS else None
    return None


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The parser; the options of an analysis command (``_ANALYSIS_COMMANDS``) are added
    only when ``command`` is that command, or ``"*"`` (every command's options)."""
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    parser.add_argument(
        "--workspace",
        default=None,
        help="workspace folder (default $WORKBENCH_WORKSPACE or ./workspace)",
    )
    parser.add_argument(
        "--reveal-personal",
        action="store_true",
        help="print emails as they are (by default every email in the output is masked)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="show mapping and quality report without loading")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("load", help="load files as one dataset")
    p.add_argument("files", nargs="+")
    p.add_argument("--name", default=None)
    p.add_argument("--into", default=None, metavar="TOKEN", help="add as a snapshot of TOKEN")
    p.add_argument(
        "--as-of", default=None, metavar="DATE", help="the export's date (default: its latest)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("snapshots", help="list a dataset's snapshots")
    p.add_argument("token")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_snapshots)

    p = sub.add_parser("changes", help="pipeline changes between two snapshots or exports")
    p.add_argument("old", metavar="OLD", help="an export file or TOKEN@SNAPSHOT_DATE")
    p.add_argument("new", metavar="NEW", help="an export file or TOKEN@SNAPSHOT_DATE")
    p.add_argument("--period", default=None, help="default: the quarter of NEW's as-of date")
    p.add_argument("--by", choices=("owner", "team"), default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_changes)

    p = sub.add_parser("datasets", help="list every dataset in the workspace")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("delete", help="delete a dataset (or one TOKEN@DATE snapshot) from disk")
    p.add_argument("token")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("purge", help=f"delete datasets older than ${RETENTION_ENV} days")
    p.add_argument("--days", type=float, default=None, help=f"overrides ${RETENTION_ENV}")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("report", help="metric report for a dataset token or files")
    p.add_argument("source", nargs="+", metavar="TOKEN|FILE")
    if command in ("*", "report"):
        try:
            from engine.analyses.report import add_report_arguments

            add_report_arguments(p)
        except ImportError:  # pragma: no cover - metrics package missing
            pass
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("backtest", help="forecast methods backtested per quarter")
    p.add_argument("source", nargs="+", metavar="TOKEN|FILE")
    p.add_argument("--period", default="all", help="quarters to backtest (default: all)")
    p.add_argument("--grain", choices=("quarter",), default="quarter", help="quarters only")
    p.add_argument("--as-of", dest="as_of", help="as-of date YYYY-MM-DD (default: latest event)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser(
        "indicators",
        help="test which leading indicators predict which outcomes (rep x period panel)",
    )
    p.add_argument("source", nargs="+", metavar="TOKEN|FILE")
    if command in ("*", "indicators"):
        from engine.analyses.indicators import add_arguments

        add_arguments(p)
    p.set_defaults(func=cmd_indicators)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser(_command_in(argv)).parse_args(argv)
    if not args.reveal_personal:  # one masking point for everything the command prints
        out = cast(TextIO, privacy.MaskedWriter(out))
        err = cast(TextIO, privacy.MaskedWriter(err))
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
