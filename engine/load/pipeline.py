"""From uploaded files to a loaded dataset: ingest -> map -> type -> validate -> store.

The steps are separate so the app can show each one (recognised table, mapping, preview,
stage map) and let the user change them before anything is written:

1. :func:`inspect_file` reads bytes into a string table and proposes a mapping.
2. :func:`prepare` types every mapped column, applies the stage map and validates every row
   of every file, with cross-file rules (an activity's opportunity must exist), on an
   in-memory DuckDB connection, keeping every row.
3. :func:`load_plans` does step 2 while writing a new dataset that is published only when
   complete; a large CSV is read in parallel from disk and never held as Python rows.
   :func:`load` writes what :func:`prepare` kept in memory.

Every source of rows, whatever its format or size, is typed, derived and validated by the one
implementation in :mod:`engine.load.typed`; this module only orchestrates.

Nothing is dropped: every data record of a file is either loaded or quarantined with its
reasons, so ``rows_in == rows_loaded + rows_quarantined`` holds per file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from itertools import count
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from engine.core.canonical import (
    DEFAULT_SEGMENT_THRESHOLDS,
    OPP_CHECKED_TABLES,
    SEGMENT_THRESHOLDS_KEY,
)
from engine.core.errors import InputError, MappingError
from engine.core.layout import STAGED_TABLES
from engine.load import ingest, links, typed
from engine.load.mapping import MappingStore, apply_remembered, recognise, stage_history_from_wide
from engine.load.plan import (
    EMPTY_FRAME,
    EMPTY_QUARANTINE,
    EMPTY_WARNINGS,
    MIN_CONFIDENCE,
    QUARANTINE_SCHEMA,
    Batch,
    FilePlan,
    Prepared,
    PreparedFile,
)
from engine.load.stagemap import StageMap, guess_stage_map
from engine.load.typed import Source
from engine.store.workspace import DatasetInfo, Workspace, kill_point, settle

__all__ = [
    "EXAMPLES",
    "MIN_CONFIDENCE",
    "NO_ROWS",
    "QUARANTINE_SCHEMA",
    "Batch",
    "FilePlan",
    "Prepared",
    "PreparedFile",
    "default_stage_map",
    "inspect_file",
    "load",
    "load_files",
    "load_plans",
    "prepare",
    "stages_in",
    "without_empty",
]

Progress = Callable[[str, float], None]
# Quarantined and flagged rows kept in memory per file by load_plans (all are stored).
EXAMPLES = 200


# --- step 1 -------------------------------------------------------------------------------
def inspect_file(
    data: bytes | Path,
    filename: str,
    remembered: MappingStore | None = None,
    limits: ingest.Limits | None = None,
) -> FilePlan:
    """Read a file and propose its table and column mapping (nothing is written).

    A large CSV is streamed (``ingest.CsvStream``): the plan keeps its source (the path, or
    the upload's bytes) and its first rows, and the load reads it with DuckDB.
    """
    raw = ingest.read_file(data, filename, limits, stream=True)
    if remembered is not None:
        mapping = apply_remembered(raw.headers, remembered, filename)
    else:
        mapping = recognise(raw.headers, filename)
    size = data.stat().st_size if isinstance(data, Path) else len(data)
    return FilePlan(filename, raw, mapping, size, remembered=mapping.origin == "remembered")


# --- step 2 -------------------------------------------------------------------------------
def stages_in(plans: Sequence[FilePlan]) -> list[str]:
    """Distinct stage values across deal and history files, in order of first appearance."""
    seen: dict[str, None] = {}
    for plan in plans:
        if plan.table in STAGED_TABLES and "stage" in plan.mapping.columns:
            for v in _first_values(plan, plan.mapping.columns["stage"]):
                seen.setdefault(v.strip(), None)
        for stage in plan.mapping.stage_columns:
            seen.setdefault(stage, None)
    return [s for s in seen if s]


def _first_values(plan: FilePlan, header: str) -> list[str]:
    """Distinct values of one column of a file in order of first appearance."""
    stream = plan.raw.stream
    if stream is not None:
        try:
            return stream.first_values(header)
        except InputError:
            plan = _read_whole(plan)
    return ingest.values_in_order(plan.raw.table.column(header))


def default_stage_map(plans: Sequence[FilePlan]) -> StageMap:
    presets = [p.mapping.preset for p in plans if p.mapping.preset]
    return guess_stage_map(stages_in(plans), presets[0] if presets else None)


NO_ROWS = "no data rows, left out"


def without_empty(plans: Sequence[FilePlan]) -> tuple[list[FilePlan], list[str]]:
    """The plans with data rows, and the names of the header-only files left out.

    Raises :class:`InputError` when there is no file, or no file has a data row: a load never
    creates an empty dataset (``docs/loading.md``).
    """
    if not plans:
        raise InputError(
            "No file to load (every file was left out), so no dataset was created.",
            "Nothing to load",
        )
    kept = [p for p in plans if p.has_rows]
    empty = [p.filename for p in plans if not p.has_rows]
    if not kept:
        raise InputError(
            f"{', '.join(empty)}: only a header line, so there is nothing to load and no "
            "dataset was created. Export the report again with its rows (check its filters "
            "and date range) and try again.",
            "No data rows",
        )
    return kept, empty


def _check_usable(plans: Sequence[FilePlan]) -> None:
    blocked = [(p.filename, p.blocking_problems()) for p in plans]
    blocked = [(f, probs) for f, probs in blocked if probs]
    if blocked:
        lines = [f"{f}: {' '.join(probs)}" for f, probs in blocked]
        raise MappingError(
            "These files cannot load until their required columns are mapped:\n"
            + "\n".join(lines)
            + "\nMap the columns (or remove the file) and try again."
        )


def _read_whole(plan: FilePlan) -> FilePlan:
    """The plan of a streamed file with the file read whole (the careful reader takes any
    CSV: ragged rows, other encodings and quoted line breaks)."""
    assert plan.raw.stream is not None
    raw = ingest.read_file(plan.raw.stream.source, plan.filename)
    return FilePlan(plan.filename, raw, plan.mapping, plan.size_bytes, plan.remembered)


def _source(plan: FilePlan) -> Source:
    return Source(
        plan,
        plan.table,
        plan.filename,
        plan.raw.table,
        dict(plan.mapping.columns),
        pa.array(plan.raw.lines, pa.int64()),
        dict(plan.mapping.fallbacks),
        list(plan.raw.notes),
        stream=plan.raw.stream,
        joined=dict(plan.mapping.joined),
    )


def _sources(plans: Sequence[FilePlan]) -> list[Source]:
    """Every source of rows, opportunities first (other tables are checked against them)."""
    out = []
    for plan in plans:
        if plan.mapping.stage_columns and plan.raw.stream is not None:
            # Unpivoting needs every row at once; such exports are small, so read it whole.
            plan = _read_whole(plan)
        out.append(_source(plan))
        if plan.mapping.stage_columns:
            table, lines = plan.raw.table, plan.raw.lines
            with_lines = table.append_column("_line", pa.array(lines, pa.int64()))
            wide = stage_history_from_wide(with_lines, plan.mapping)
            body = wide.select(["opportunity_id", "stage", "entered_at"])
            cols = {c: c for c in body.column_names}
            lines = wide.column("_line").combine_chunks()
            name = f"{plan.filename} (stage dates)"
            out.append(Source(plan, "stage_history", name, body, cols, lines, {}))
    return sorted(out, key=lambda s: s.table != "opportunities")


def _process(
    plans: Sequence[FilePlan],
    stage_map: StageMap | Callable[[], StageMap],
    as_of: dt.date,
    keep: int | None,
    progress: Progress | None,
    con: duckdb.DuckDBPyConnection,
    store: bool,
) -> list[PreparedFile]:
    """Run every source through :func:`engine.load.typed.load_source` on ``con``.

    With ``store`` (``con`` builds a dataset) the rows are written as they are checked; without,
    every loaded row stays in its file's outcome. A streamed file that turns out not to be a
    plain CSV is read whole and goes the same way. ``stage_map`` may be a function that
    proposes it, asked when the first file needs it (a streamed file's stage values are then
    taken from its records, not from a pass of their own).
    """
    _check_usable(plans)
    sources = _sources(plans)
    # The opportunity ids are collected only when a history or activity file is checked
    # against them (None: no file is).
    has_opps = any(s.table == "opportunities" for s in sources)
    checked = any(s.table in OPP_CHECKED_TABLES for s in sources)
    opp_ids: pl.Series | None = (
        pl.Series("opportunity_id", [], pl.Utf8) if has_opps and checked else None
    )
    writes = count()

    def before_write() -> None:
        if store:
            kill_point(f"insert:{next(writes)}")

    results = []
    for i, source in enumerate(sources):
        share = (i / len(sources) * 0.9, (i + 1) / len(sources) * 0.9)
        if progress:
            progress(f"Parsing {source.name}", share[0])
        args = (stage_map, as_of, opp_ids, keep, progress, share, store, before_write)
        done = typed.load_source(con, source, *args)
        if done is None:  # not a plain CSV after all: read whole
            source = _source(_read_whole(source.plan))
            done = typed.load_source(con, source, *args)
        assert done is not None
        result, ids, stage_map = done
        if source.name == source.plan.filename and source.plan.raw.bad_rows:
            extra = typed.bad_row_batch(source.plan)
            if store:
                typed.insert_rows(
                    con, source.table, source.name, extra.loaded, extra.quarantine, extra.warnings
                )
            result.add(extra, keep)
        if store and source.stream is not None:
            settle(con)  # a streamed file's raw rows are released now, not at the end
        if ids is not None and opp_ids is not None:
            opp_ids = ids if opp_ids.is_empty() else pl.concat([opp_ids, ids]).unique()
        results.append(result)
    return results


def prepare(
    plans: Sequence[FilePlan],
    stage_map: StageMap | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> Prepared:
    """Type and validate every row of every file, keeping every row in memory.

    For checking files without loading them (and for tests). :func:`load_plans` does the
    same work while writing, so memory stays bounded for large files.
    Raises MappingError for files that cannot load as mapped.
    """
    as_of = as_of or dt.date.today()
    stage_map = stage_map if stage_map is not None else default_stage_map(plans)
    con = duckdb.connect()
    try:
        files = _process(plans, stage_map, as_of, None, progress, con, store=False)
    finally:
        con.close()
    return Prepared(files, stage_map, as_of)


# --- step 3 -------------------------------------------------------------------------------
def _write_meta(
    con: duckdb.DuckDBPyConnection, stage_map: StageMap, as_of: dt.date, tables: set[str]
) -> None:
    rows = [(e.stage, e.canonical, e.order, float(e.probability)) for e in stage_map.entries]
    if rows:
        con.executemany("INSERT INTO stage_map VALUES (?, ?, ?, ?)", rows)
    con.execute(
        "INSERT INTO _meta VALUES ('stage_map', ?), ('as_of', ?), ('tables', ?), (?, ?)",
        [
            stage_map.to_json(),
            as_of.isoformat(),
            json.dumps(sorted(tables)),
            SEGMENT_THRESHOLDS_KEY,
            json.dumps(DEFAULT_SEGMENT_THRESHOLDS, sort_keys=True),
        ],
    )
    # The day the data describes: its latest recorded event, never after the load. An export
    # from 2017 is analysed as of 2017, not as of today (every period would be empty).
    row = con.execute(
        """SELECT least(CAST(? AS DATE), max(d)) FROM (
            SELECT max(created_date) AS d FROM opportunities
            UNION ALL SELECT max(close_date) FROM opportunities WHERE is_closed
            UNION ALL SELECT max(CAST(entered_at AS DATE)) FROM stage_history
            UNION ALL SELECT max(activity_date) FROM activities
            UNION ALL SELECT max(CAST(created_date AS DATE)) FROM leads)""",
        [as_of],
    ).fetchone()
    data_as_of = row[0] if row and row[0] is not None else as_of
    con.execute("INSERT INTO _meta VALUES ('data_as_of', ?)", [data_as_of.isoformat()])


def load(
    workspace: Workspace, prepared: Prepared, name: str, progress: Progress | None = None
) -> DatasetInfo:
    """Write a prepared batch (every row in memory) as one new dataset, all or nothing."""

    def build(con: duckdb.DuckDBPyConnection) -> None:
        for i, f in enumerate(prepared.files):
            if progress:
                progress(f"Loading {f.source_name}", 0.9 + 0.1 * i / max(len(prepared.files), 1))
            kill_point(f"insert:{i}")
            typed.insert_rows(con, f.table, f.source_name, f.loaded, f.quarantine, f.warnings)
        _link(con, prepared.files, prepared.stage_map)
        for f in prepared.files:
            _insert_report(con, f)
        _write_meta(con, prepared.stage_map, prepared.as_of, {f.table for f in prepared.files})

    return workspace.create(name, build, fingerprint=prepared.fingerprint())


def load_plans(
    workspace: Workspace,
    plans: Sequence[FilePlan],
    name: str,
    stage_map: StageMap | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    owner: str = "",
) -> tuple[DatasetInfo, Prepared]:
    """Validate and write files one by one into one new dataset, all or nothing.

    A large CSV is scanned from Arrow inside DuckDB and validated ``typed.VALIDATE_ROWS``
    rows at a time, so memory stays bounded whatever the file's size. The returned
    :class:`Prepared` has complete counts and the first ``EXAMPLES`` quarantined and flagged
    rows per file; the full lists are in the dataset's ``_quarantine`` and ``_warnings``.
    """
    as_of = as_of or dt.date.today()
    plans, no_rows = without_empty(plans)
    _check_usable(plans)
    done: list[PreparedFile] = []
    proposed: list[StageMap] = [] if stage_map is None else [stage_map]

    def the_stage_map() -> StageMap:
        """The stage map given, or the default one, proposed once when the load needs it."""
        if not proposed:
            proposed.append(default_stage_map(plans))
        return proposed[0]

    def build(con: duckdb.DuckDBPyConnection) -> None:
        done.extend(_process(plans, the_stage_map, as_of, EXAMPLES, progress, con, store=True))
        _link(con, done, the_stage_map())
        for f in done:
            _insert_report(con, f)
        _write_meta(con, the_stage_map(), as_of, {f.table for f in done})
        if progress:
            progress("Saving the dataset", 0.95)

    def fingerprint() -> str:
        digest = hashlib.sha256(the_stage_map().to_json().encode())
        for p in plans:
            digest.update(p.filename.encode() + p.mapping.to_json().encode())
            digest.update(str(p.size_bytes).encode())
        return digest.hexdigest()[:12]

    info = workspace.create(name, build, fingerprint=fingerprint, owner=owner)
    return info, Prepared(done, the_stage_map(), as_of, no_rows)


def _link(con: duckdb.DuckDBPyConnection, files: list[PreparedFile], stage_map: StageMap) -> None:
    """Links between the files of a load, once all rows are written (:mod:`engine.load.links`):
    owner ids become rep names, lead outcomes complete their leads and add their won deals.
    Notes and counts go to the files' reports; added deals get a report of their own."""
    tables = {f.table for f in files}
    if "reps" in tables:
        changed = links.resolve_owner_ids(con)
        if changed:
            text = ", ".join(f"{n:,} {t}" for t, n in changed.items())
            for f in files:
                if f.table == "reps":
                    f.notes.append(f"owner ids replaced by these users' names: {text} rows")
    if "lead_outcomes" not in tables:
        return
    won = [e.order for e in stage_map.entries if e.canonical == "closed_won"]
    order = min(won) if won else max((e.order for e in stage_map.entries), default=0) + 1
    for res in links.complete_leads(con, order):
        f = next(f for f in files if f.table == "lead_outcomes" and f.source_name == res.file)
        if res.unmatched:
            f.warning_rows[links.UNKNOWN_LEAD] = res.unmatched
        f.notes.extend(res.notes)
        if not res.deals_added:
            continue
        added = PreparedFile(
            f.plan,
            "opportunities",
            res.file + links.WON_SUFFIX,
            EMPTY_FRAME,
            EMPTY_QUARANTINE,
            EMPTY_WARNINGS,
            rows_in=res.deals_added,
            rows_loaded=res.deals_added,
            notes=["one won deal per lead outcome matched to a lead (docs/data.md)"],
        )
        for rule, n in (
            ("missing_amount", res.missing_amount),
            ("close_before_created", res.close_before_created),
        ):
            if n:
                added.warning_rows[rule] = n
        files.append(added)
    if not any(e.canonical == "closed_won" for e in stage_map.entries):
        con.execute(
            "INSERT INTO stage_map VALUES (?, 'closed_won', ?, 100.0)", [links.WON_STAGE, order]
        )


def _insert_report(con: duckdb.DuckDBPyConnection, f: PreparedFile) -> None:
    con.execute(
        "INSERT INTO _load_report VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            f.source_name,
            f.table,
            f.rows_in,
            f.rows_loaded,
            f.rows_quarantined,
            json.dumps(f.warning_counts()),
            f.plan.mapping.to_json(),
            json.dumps(f.notes),
        ],
    )


def load_files(
    workspace: Workspace,
    files: Sequence[tuple[str, bytes | Path]],
    name: str | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> tuple[DatasetInfo, Prepared]:
    """Inspect and load files with the proposed mappings (command line, tests, sample).

    A file given as a path is read only while it is inspected, and a large plain CSV only
    once more, file by file, while it loads (``engine.load.typed``).
    """
    if not files:
        raise InputError("No files were given.")
    plans = [inspect_file(src, fname) for fname, src in files]
    kill_point("read")
    kill_point("prepared")
    label = name or ", ".join(p.filename for p in plans if p.has_rows)
    return load_plans(workspace, plans, label, as_of=as_of, progress=progress)
