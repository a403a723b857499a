"""From uploaded files to a loaded dataset: ingest -> map -> type -> validate -> store.

The steps are separate so the app can show each one (recognised table, mapping, preview,
stage map) and let the user change them before anything is written:

1. :func:`inspect_file` reads bytes into a string table and proposes a mapping.
2. :func:`prepare` types every mapped column, applies the stage map and validates every row
   of every file, with cross-file rules (an activity's opportunity must exist).
3. :func:`load_plans` does step 2 batch by batch while writing a new dataset that is
   published only when complete, so memory is bounded by the batch, not the file; a large
   CSV is read in parallel, typed and written inside DuckDB (:mod:`engine.load.bulk`), with the
   same outcome. :func:`load` writes what :func:`prepare` kept in memory.

Nothing is dropped: every data record of a file is either loaded or quarantined with its
reasons, so ``rows_in == rows_loaded + rows_quarantined`` holds per file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from engine.core import typeparse
from engine.core.canonical import (
    ACTIVITY_TYPES,
    DEFAULT_SEGMENT_THRESHOLDS,
    FLAGGED,
    OPP_CHECKED_TABLES,
    SALESFORCE_NULL_ID,
    SEGMENT_THRESHOLDS_KEY,
    SOURCE_FILE,
    SOURCE_LINE,
    STAGE_CANONICAL,
    STAGE_ORDER,
    STAGE_PROBABILITY,
    TABLES,
    UNASSIGNED_OWNER,
)
from engine.core.errors import InputError, MappingError
from engine.core.layout import STAGED_TABLES, table_columns
from engine.load import bulk, ingest, links
from engine.load.mapping import (
    Mapping,
    MappingStore,
    apply_remembered,
    closest_headers,
    recognise,
    required_label,
    stage_history_from_wide,
)
from engine.load.stagemap import StageMap, guess_canonical, guess_stage_map, stage_key
from engine.store.workspace import DatasetInfo, Workspace, kill_point, settle
from schemas.rules import AS_OF, OPP_KNOWN, PARSE_ERRORS, SEEN_BEFORE, STAGE_KNOWN
from schemas.validate import ROW, validate

# Column marking the opportunity ids loaded with a batch (joined, then dropped).
_KNOWN = "__known_opportunity__"
Progress = Callable[[str, float], None]
# Below this, a recognised mapping is a guess the user must confirm before the file loads.
MIN_CONFIDENCE = 0.5
# Rows typed, validated and written at a time: bounds memory for large files.
BATCH_ROWS = 250_000
# Values sampled per column to choose its date order or decimal mark.
FORMAT_SAMPLE = 200_000
# Quarantined and flagged rows kept in memory per file by load_plans (all are stored).
EXAMPLES = 200

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "original": pl.Utf8(),
    "reasons": pl.List(pl.Utf8),
    "rules": pl.List(pl.Utf8),
}
_EMPTY_FRAME = pl.DataFrame()
_EMPTY_QUARANTINE = pl.DataFrame(schema=QUARANTINE_SCHEMA)
_EMPTY_WARNINGS = pl.DataFrame(schema={"line": pl.Int64, "rule": pl.Utf8, "message": pl.Utf8})


@dataclass
class FilePlan:
    """One uploaded file, read and with a proposed (editable) mapping."""

    filename: str
    raw: ingest.RawTable
    mapping: Mapping
    size_bytes: int
    remembered: bool = False

    @property
    def table(self) -> str:
        return self.mapping.table

    @property
    def has_rows(self) -> bool:
        """False for a header-only file: it is left out of a load (``docs/loading.md``)."""
        return self.raw.records > 0

    def blocking_problems(self) -> list[str]:
        """Why this file cannot load as mapped (empty list when it can)."""
        problems = []
        if self.mapping.confidence < MIN_CONFIDENCE and self.mapping.origin == "recognised":
            return [
                f"Not recognised as a CRM table (best guess: {self.table}, "
                f"{self.mapping.confidence:.0%} sure). Choose its table and map its columns, "
                "or leave the file out."
            ]
        for col in self.mapping.missing_required():
            near = closest_headers(self.mapping, col, self.raw.headers)
            hint = f" Closest headers: {', '.join(near)}." if near else ""
            label = required_label(self.table, col)
            problems.append(f"Required column '{label}' is not mapped.{hint}")
        return problems

    def with_mapping(self, mapping: Mapping) -> FilePlan:
        return FilePlan(self.filename, self.raw, mapping, self.size_bytes, self.remembered)


@dataclass
class PreparedFile:
    """The outcome for one source of rows (a file, or a HubSpot file's stage-date columns).

    From :func:`prepare` the frames hold every row; from :func:`load_plans`, which streams
    rows into the store batch by batch, ``loaded`` is empty and ``quarantine``/``warnings``
    keep only the first examples. The counts are always complete.
    """

    plan: FilePlan
    table: str
    source_name: str  # file name, or "<file> (stage dates)" for HubSpot's wide columns
    loaded: pl.DataFrame  # typed rows that load, canonical columns + provenance
    quarantine: pl.DataFrame  # line, original (JSON), reasons (list[str]), rules (list[str])
    warnings: pl.DataFrame  # line, rule, message
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    warning_rows: dict[str, int] = field(default_factory=dict)
    error_rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def warning_counts(self) -> dict[str, int]:
        return dict(sorted(self.warning_rows.items()))

    def report(self) -> dict[str, Any]:
        return {
            "file": self.source_name,
            "table": self.table,
            "rows_in": self.rows_in,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "warnings": self.warning_counts(),
            "errors": dict(sorted(self.error_rows.items())),
            "notes": self.notes,
        }

    def add(self, batch: Batch, keep: int | None) -> None:
        """Fold one batch's outcome in; ``keep`` bounds the example rows kept (None: all)."""
        self.rows_in += batch.rows_in
        self.rows_loaded += batch.loaded.height
        self.rows_quarantined += batch.quarantine.height
        for target, counts in (
            (self.warning_rows, batch.warning_rows),
            (self.error_rows, batch.error_rows),
        ):
            for rule, n in counts.items():
                target[rule] = target.get(rule, 0) + n
        if keep is None and batch.loaded.width:
            parts = [self.loaded, batch.loaded] if self.loaded.width else [batch.loaded]
            self.loaded = pl.concat(parts)
        for name in ("quarantine", "warnings"):
            have: pl.DataFrame = getattr(self, name)
            new: pl.DataFrame = getattr(batch, name)
            if keep is not None:
                new = new.head(max(keep - have.height, 0))
            if new.height:
                setattr(self, name, pl.concat([have, new]) if have.height else new)


@dataclass
class Batch:
    """The outcome of validating one slice of a source's rows."""

    loaded: pl.DataFrame
    quarantine: pl.DataFrame
    warnings: pl.DataFrame
    rows_in: int
    warning_rows: dict[str, int]
    error_rows: dict[str, int]


@dataclass
class Prepared:
    files: list[PreparedFile]
    stage_map: StageMap
    as_of: dt.date
    # Files left out because they have a header but no data rows.
    no_rows: list[str] = field(default_factory=list)

    def reports(self) -> list[dict[str, Any]]:
        return [f.report() for f in self.files]

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.source_name.encode())
            h.update(str(f.rows_in).encode())
            h.update(f.plan.mapping.to_json().encode())
        h.update(self.stage_map.to_json().encode())
        return h.hexdigest()[:12]


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


@dataclass
class Source:
    """Rows of one canonical table from one file: the string columns and how they map."""

    plan: FilePlan
    table: str
    name: str
    src: pa.Table  # string columns as read (or HubSpot's unpivoted stage dates); a stream's head
    columns: dict[str, str]  # canonical column -> column of ``src``
    lines: pa.Array  # physical line of each row (a stream's head only)
    fallbacks: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    hints: dict[str, str | None] = field(default_factory=dict)
    # When set, the rows are in this file and engine.load.bulk reads them (``src`` is its head)
    stream: ingest.CsvStream | None = None
    joined: dict[str, list[str]] = field(default_factory=dict)  # see Mapping.joined

    @property
    def rows(self) -> int:
        return self.stream.rows if self.stream is not None else self.src.num_rows

    def sample(self, headers: list[str], step: int) -> pa.Table:
        """Rows 0, step, 2*step, ... of ``headers``."""
        idx = pa.array(range(0, self.src.num_rows, step), pa.int64())
        return self.src.select(headers).take(idx)

    def batches(self) -> Iterator[tuple[int, pa.Table, pa.Array]]:
        """(first row, string columns, physical lines) of ``BATCH_ROWS`` rows at a time."""
        for start in range(0, self.src.num_rows, BATCH_ROWS):
            src = self.src.slice(start, BATCH_ROWS)
            yield start, src, self.lines.slice(start, BATCH_ROWS)


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


def _resolve_formats(
    source: Source, sampler: Callable[[list[str], int], pa.Table] | None = None
) -> None:
    """Choose each column's date order / decimal mark once, over the whole column.

    Batches are typed with these choices as hints, so every row of a column is read the same
    way. The choice is made on an evenly spaced sample of up to ``FORMAT_SAMPLE`` values.
    """
    step = max(source.rows // FORMAT_SAMPLE, 1)
    wanted = []
    for col in TABLES[source.table].columns:
        header = source.columns.get(col.name)
        if col.kind == "text" or header is None or header not in source.src.column_names:
            continue
        wanted.append((col, header))
    # One pass over a streamed file reads every sampled column.
    headers = list(dict.fromkeys(h for _, h in wanted))
    sampled = (sampler or source.sample)(headers, step) if headers else None
    for col, header in wanted:
        assert sampled is not None
        sample = pl.from_arrow(sampled.column(header))
        assert isinstance(sample, pl.Series)
        result = typeparse.parse_column(sample.cast(pl.Utf8), col.kind)
        source.hints[col.name] = _hint(col.kind, result.fmt)
        note = result.note
        if note is None and col.kind in ("date", "timestamp") and result.fmt:
            if not result.fmt.startswith("%Y-%m-%d"):
                note = f"dates read as {typeparse.format_in_words(result.fmt)}"
        if note:
            source.notes.append(f"{col.name} ({header}): {note}")


def _hint(kind: str, fmt: str | None) -> str | None:
    if fmt is None:
        return None
    if kind in ("amount", "number"):
        return "decimal-comma" if fmt.startswith("1.") else "decimal-point"
    if kind in ("date", "timestamp"):
        return fmt
    return None


def _batches(
    source: Source,
    stage_map: StageMap,
    as_of: dt.date,
    opp_ids: pl.DataFrame | None,
    progress: Progress | None,
    share: tuple[float, float],
) -> Iterator[tuple[Batch, pl.Series | None]]:
    """Type and validate a source ``BATCH_ROWS`` rows at a time.

    Yields each batch's outcome and, for opportunities, the ids it saw (for the cross-file
    rule). Duplicate ids are found over the whole file first, so a repeat is caught whichever
    batch its first occurrence fell in.
    """
    repeats = _repeated_ids(source)
    n = source.rows
    parts = source.batches()
    if n == 0:
        # A file with no rows still validates once, so its (empty) outcome has the columns.
        parts = iter([(0, source.src.slice(0, 0), source.lines.slice(0, 0))])
    for start, src, lines in parts:
        if progress:
            lo, hi = share
            progress(f"Validating {source.name}", lo + (hi - lo) * start / max(n, 1))
        frame = _typed_frame(source, src, lines)
        frame = frame.with_columns(repeats.slice(start, src.num_rows).alias(SEEN_BEFORE))
        frame = _derive(frame, source.table, stage_map, as_of, opp_ids)
        ids = frame["opportunity_id"].drop_nulls() if source.table == "opportunities" else None
        yield _split(source.table, source.name, frame, src), ids
    if n == 0 and progress:
        progress(f"Validating {source.name}", share[1])


def _repeated_ids(source: Source) -> pl.Series:
    """True where the row's id already appeared on an earlier row of the same source."""
    n = source.rows
    id_col = TABLES[source.table].key_column(source.columns)
    header = source.columns.get(id_col) if id_col else None
    if header is None or header not in source.src.column_names:
        return pl.Series(SEEN_BEFORE, [False] * n, pl.Boolean)
    ids = pl.from_arrow(source.src.column(header))
    assert isinstance(ids, pl.Series)
    ids = ids.cast(pl.Utf8).str.strip_chars().replace(SALESFORCE_NULL_ID, None)
    if id_col == "account_name":  # names key case-insensitively (docs/data.md)
        ids = ids.str.to_lowercase()
    blank = ids.is_null() | (ids == "")
    return (~ids.is_first_distinct() & ~blank).alias(SEEN_BEFORE)


def _bad_row_batch(plan: FilePlan) -> Batch:
    """Records the reader could not split into the header's columns, quarantined as they are."""
    quarantine = pl.DataFrame(
        {
            "line": [int(r[0]) for r in plan.raw.bad_rows],
            "original": [json.dumps({"raw": r[1]}) for r in plan.raw.bad_rows],
            "reasons": [[r[2]] for r in plan.raw.bad_rows],
            "rules": [["unreadable_record"] for _ in plan.raw.bad_rows],
        },
        schema=QUARANTINE_SCHEMA,
    )
    n = quarantine.height
    return Batch(_EMPTY_FRAME, quarantine, _EMPTY_WARNINGS, n, {}, {"unreadable_record": n})


def _process(
    plans: Sequence[FilePlan],
    stage_map: StageMap | Callable[[], StageMap],
    as_of: dt.date,
    on_batch: Callable[[PreparedFile, Batch], None],
    keep: int | None,
    progress: Progress | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[PreparedFile]:
    """Run every source batch by batch; ``on_batch`` sees each batch before it is folded.

    With ``con`` (the connection building a dataset), a streamed source is checked and
    written inside DuckDB (:mod:`engine.load.bulk`); without it, or when the file turns out not to
    be a plain CSV, it is read whole. ``stage_map`` may be a function that proposes it,
    asked when the first file needs it (a streamed file's stage values are then taken from
    its records, not from a pass of their own).
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
    results = []
    for i, source in enumerate(sources):
        share = (i / len(sources) * 0.9, (i + 1) / len(sources) * 0.9)
        if progress:
            progress(f"Parsing {source.name}", share[0])
        if source.stream is not None:
            streamed = None
            if con is not None:
                streamed = bulk.load_source(
                    con, source, stage_map, as_of, opp_ids, keep, progress, share
                )
            if streamed is not None:
                assert con is not None
                settle(con)  # the file's raw rows are released now, not at the end
                result, ids, stage_map = streamed
                if ids is not None and opp_ids is not None:
                    opp_ids = ids if opp_ids.is_empty() else pl.concat([opp_ids, ids]).unique()
                results.append(result)
                continue
            source = _source(_read_whole(source.plan))
        if callable(stage_map):
            stage_map = stage_map()
        _resolve_formats(source)
        result = PreparedFile(
            source.plan,
            source.table,
            source.name,
            _EMPTY_FRAME,
            _EMPTY_QUARANTINE,
            _EMPTY_WARNINGS,
            notes=source.notes,
        )
        check_against = None
        if source.table != "opportunities" and opp_ids is not None:
            check_against = opp_ids.unique().to_frame().with_columns(pl.lit(True).alias(_KNOWN))
        ids_here = []
        for batch, ids in _batches(source, stage_map, as_of, check_against, progress, share):
            on_batch(result, batch)
            result.add(batch, keep)
            if ids is not None:
                ids_here.append(ids)
        if source.name == source.plan.filename and source.plan.raw.bad_rows:
            extra = _bad_row_batch(source.plan)
            on_batch(result, extra)
            result.add(extra, keep)
        if ids_here and opp_ids is not None:
            opp_ids = pl.concat([opp_ids, *ids_here]).unique()
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
    same work while writing batch by batch, so memory stays bounded for large files.
    Raises MappingError for files that cannot load as mapped.
    """
    as_of = as_of or dt.date.today()
    stage_map = stage_map if stage_map is not None else default_stage_map(plans)
    files = _process(plans, stage_map, as_of, lambda _f, _b: None, None, progress)
    return Prepared(files, stage_map, as_of)


def _typed_frame(source: Source, src: pa.Table, lines: pa.Array) -> pl.DataFrame:
    """Canonical typed frame of one batch, with per-row parse errors and source lines."""
    spec = TABLES[source.table]
    raw = pl.from_arrow(src)
    assert isinstance(raw, pl.DataFrame)
    n = raw.height
    out: dict[str, pl.Series] = {}
    errors: list[pl.Expr] = []
    for col in spec.columns:
        header = source.columns.get(col.name)
        if header is None or header not in raw.columns:
            out[col.name] = pl.Series(col.name, [None] * n, dtype=_pl_type(col.kind))
            continue
        values = raw[header].cast(pl.Utf8)
        for fb in source.fallbacks.get(col.name, []):
            if fb in raw.columns:
                values = values.fill_null(raw[fb].cast(pl.Utf8))
        parts = [raw[h].cast(pl.Utf8) for h in source.joined.get(col.name, []) if h in raw.columns]
        if parts:
            values = joined_text([values, *parts])
        if col.name.endswith("_id"):
            values = values.replace(SALESFORCE_NULL_ID, None)
        result = typeparse.parse_column(values, col.kind, source.hints.get(col.name))
        out[col.name] = result.values.alias(col.name)
        if col.kind != "text" and result.n_failed:
            bad = _bad_messages(values, result.failed, col.name, col.kind)
            out[bad.name] = bad
            errors.append(pl.col(bad.name))
    frame = pl.DataFrame(out)
    parse_errors = (
        pl.concat_list(errors).list.drop_nulls() if errors else pl.lit([], dtype=pl.List(pl.Utf8))
    )
    frame = frame.with_columns(parse_errors.alias(PARSE_ERRORS)).drop(
        [c for c in frame.columns if c.startswith("_bad_")]
    )
    line_series = pl.from_arrow(lines)
    assert isinstance(line_series, pl.Series)
    return frame.with_columns(line_series.cast(pl.Int64).alias(SOURCE_LINE))


def joined_text(parts: list[pl.Series]) -> pl.Series:
    """Values joined by a space, empty parts left out; null when every part is empty."""
    frame = pl.DataFrame({f"p{i}": p for i, p in enumerate(parts)})
    text = pl.concat_str(pl.all(), separator=" ", ignore_nulls=True)
    out = frame.select(pl.when(text == "").then(None).otherwise(text).alias(parts[0].name))
    return out.to_series()


def _bad_messages(values: pl.Series, failed: pl.Series, name: str, kind: str) -> pl.Series:
    word = _kind_word(kind)
    msg = pl.select(
        pl.when(pl.lit(failed))
        .then(
            pl.concat_str(
                [pl.lit(f"{name}: cannot read '"), pl.lit(values), pl.lit(f"' as {word}")]
            )
        )
        .otherwise(None)
    ).to_series()
    return msg.alias(f"_bad_{name}")


def _kind_word(kind: str) -> str:
    return {
        "amount": "an amount",
        "number": "a number",
        "date": "a date",
        "timestamp": "a date and time",
        "bool": "true/false",
    }.get(kind, "text")


def _pl_type(kind: str) -> pl.DataType:
    return {
        "text": pl.Utf8(),
        "amount": pl.Float64(),
        "number": pl.Float64(),
        "date": pl.Date(),
        "timestamp": pl.Datetime("us"),
        "bool": pl.Boolean(),
    }[kind]


def _derive(
    frame: pl.DataFrame,
    table: str,
    stage_map: StageMap,
    as_of: dt.date,
    opp_ids: pl.DataFrame | None,
) -> pl.DataFrame:
    """Columns the rules and the store need: stage map, closed/won, helper flags."""
    frame = frame.with_columns(pl.lit(as_of).alias(AS_OF))
    if table in STAGED_TABLES:
        sm = stage_map_frame(stage_map)
        key = stage_key_expr().alias("__stage_key__")
        frame = (
            frame.with_columns(key).join(sm, on="__stage_key__", how="left").drop("__stage_key__")
        )
        frame = frame.with_columns(
            pl.col(STAGE_KNOWN).fill_null(False),
            pl.col(STAGE_CANONICAL).fill_null("opportunity"),
            pl.col(STAGE_ORDER).fill_null(0),
        )
    if table == "opportunities":
        status = pl.col("status").str.strip_chars().str.to_lowercase()
        from_stage_closed = pl.col(STAGE_CANONICAL).is_in(["closed_won", "closed_lost"])
        from_stage_won = pl.col(STAGE_CANONICAL) == "closed_won"
        frame = frame.with_columns(
            pl.coalesce(
                pl.col("is_closed"),
                pl.when(status.is_in(["won", "lost"]))
                .then(True)
                .when(status == "open")
                .then(False),
                from_stage_closed,
            ).alias("is_closed"),
            pl.coalesce(
                pl.col("is_won"),
                pl.when(status == "won")
                .then(True)
                .when(status.is_in(["lost", "open"]))
                .then(False),
                from_stage_won,
            ).alias("is_won"),
        )
    if "opportunity_id" in frame.columns and table in OPP_CHECKED_TABLES:
        if opp_ids is None:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias(OPP_KNOWN))
        else:
            # A join with the ids' table is built per batch far cheaper than is_in's set.
            frame = frame.join(opp_ids, on="opportunity_id", how="left", maintain_order="left")
            known = pl.when(pl.col("opportunity_id").is_null()).then(None)
            frame = frame.with_columns(
                known.otherwise(pl.col(_KNOWN).fill_null(False)).alias(OPP_KNOWN)
            ).drop(_KNOWN)
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias(OPP_KNOWN))
    if STAGE_KNOWN not in frame.columns:
        frame = frame.with_columns(pl.lit(True).alias(STAGE_KNOWN))
    return frame


def stage_key_expr() -> pl.Expr:
    """The key of ``stage`` that :func:`stage_map_frame` joins on: the same key as
    ``engine.load.stagemap.stage_key`` (case, spaces and punctuation ignored)."""
    return pl.col("stage").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]", "")


def stage_map_frame(stage_map: StageMap) -> pl.DataFrame:
    """The stage map as a join table. A stage that only fell through to the default guess
    (no built-in name, no keyword, not confirmed by the user) stays "unknown": its rows load as
    open opportunities and carry the unknown_stage warning until someone maps the stage."""
    rows = [
        (
            stage_key(e.stage),
            e.canonical,
            e.order,
            float(e.probability),
            not (e.guessed and guess_canonical(e.stage) == "opportunity"),
        )
        for e in stage_map.entries
    ]
    return pl.DataFrame(
        rows,
        schema={
            "__stage_key__": pl.Utf8,
            STAGE_CANONICAL: pl.Utf8,
            STAGE_ORDER: pl.Int32,
            STAGE_PROBABILITY: pl.Float64,
            STAGE_KNOWN: pl.Boolean,
        },
        orient="row",
    ).unique("__stage_key__", keep="first")


def _split(table: str, source: str, frame: pl.DataFrame, src: pa.Table) -> Batch:
    """Rows that load, rows quarantined (with the original values as read) and warnings."""
    verdicts = validate(table, frame)
    indexed = frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    reasons = verdicts.reasons()
    bad = indexed.join(reasons, on=ROW, how="inner").select(ROW, SOURCE_LINE, "reasons", "rules")
    # The original row, exactly as read, only for quarantined rows (rows align with src).
    src_frame = pl.from_arrow(src.take(pa.array(bad[ROW].to_list(), pa.int64())))
    assert isinstance(src_frame, pl.DataFrame)
    original = src_frame.select(pl.struct(pl.all()).struct.json_encode().alias("original"))
    quarantine = pl.concat(
        [bad.select(pl.col(SOURCE_LINE).alias("line")), original, bad.select("reasons", "rules")],
        how="horizontal",
    )
    warned = verdicts.warnings()
    warn = warned.join(indexed.select(ROW, SOURCE_LINE), on=ROW).select(
        pl.col(SOURCE_LINE).alias("line"), "rule", "message"
    )
    good = indexed.join(reasons.select(ROW), on=ROW, how="anti")
    good = good.with_columns(pl.col(ROW).is_in(warned[ROW].unique().implode()).alias(FLAGGED))
    if "owner" in good.columns:
        blank = pl.col("owner").is_null() | (pl.col("owner").str.strip_chars() == "")
        good = good.with_columns(
            pl.when(blank).then(pl.lit(UNASSIGNED_OWNER)).otherwise(pl.col("owner")).alias("owner")
        )
    if table == "activities":
        good = good.with_columns(activity_kind(pl.col("activity_type")))
    good = good.with_columns(pl.lit(source).alias(SOURCE_FILE))
    loaded = good.select([name for name, _ in table_columns(table)])
    return Batch(
        loaded,
        quarantine,
        warn,
        frame.height,
        _rows_per_rule(warn),
        _rows_per_rule(quarantine.select("line", pl.col("rules").alias("rule")).explode("rule")),
    )


def activity_kind(value: pl.Expr) -> pl.Expr:
    """The activity type a loaded row keeps: one of ``ACTIVITY_TYPES``, else "other"."""
    kind = value.str.strip_chars().str.to_lowercase()
    known = kind.is_in(list(ACTIVITY_TYPES))
    return pl.when(known).then(kind).otherwise(pl.lit("other")).alias("activity_type")


def _rows_per_rule(findings: pl.DataFrame) -> dict[str, int]:
    if findings.height == 0:
        return {}
    g = findings.group_by("rule").agg(pl.col("line").n_unique().alias("n"))
    return dict(zip(g["rule"].to_list(), g["n"].to_list(), strict=True))


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
            _insert_rows(con, f.table, f.source_name, f.loaded, f.quarantine, f.warnings)
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
    """Validate and write files batch by batch into one new dataset, all or nothing.

    Memory stays bounded by the batch size rather than the file size. The returned
    :class:`Prepared` has complete counts and the first ``EXAMPLES`` quarantined and flagged
    rows per file; the full lists are in the dataset's ``_quarantine`` and ``_warnings``.
    """
    as_of = as_of or dt.date.today()
    plans, no_rows = without_empty(plans)
    _check_usable(plans)
    done: list[PreparedFile] = []
    batches = 0
    proposed: list[StageMap] = [] if stage_map is None else [stage_map]

    def the_stage_map() -> StageMap:
        """The stage map given, or the default one, proposed once when the load needs it."""
        if not proposed:
            proposed.append(default_stage_map(plans))
        return proposed[0]

    def build(con: duckdb.DuckDBPyConnection) -> None:
        def on_batch(f: PreparedFile, b: Batch) -> None:
            nonlocal batches
            kill_point(f"insert:{batches}")
            batches += 1
            _insert_rows(con, f.table, f.source_name, b.loaded, b.quarantine, b.warnings)

        done.extend(_process(plans, the_stage_map, as_of, on_batch, EXAMPLES, progress, con))
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
            _EMPTY_FRAME,
            _EMPTY_QUARANTINE,
            _EMPTY_WARNINGS,
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


def _insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    loaded: pl.DataFrame,
    quarantine: pl.DataFrame,
    warnings: pl.DataFrame,
) -> None:
    if loaded.height:
        # DuckDB scans a polars frame directly; converting to Arrow first costs more than
        # twice the insert time (string views).
        con.register("__batch__", loaded)
        cols = ", ".join(f'"{c}"' for c, _ in table_columns(table))
        con.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM __batch__')
        con.unregister("__batch__")
    if quarantine.height:
        con.register("__q__", quarantine)
        con.execute(
            "INSERT INTO _quarantine SELECT ?, ?, line, original::JSON, reasons, rules FROM __q__",
            [source, table],
        )
        con.unregister("__q__")
    if warnings.height:
        con.register("__w__", warnings)
        con.execute(
            "INSERT INTO _warnings SELECT ?, ?, line, rule, message FROM __w__", [source, table]
        )
        con.unregister("__w__")


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
    once more, file by file, while it loads (``engine.load.bulk``).
    """
    if not files:
        raise InputError("No files were given.")
    plans = [inspect_file(src, fname) for fname, src in files]
    kill_point("read")
    kill_point("prepared")
    label = name or ", ".join(p.filename for p in plans if p.has_rows)
    return load_plans(workspace, plans, label, as_of=as_of, progress=progress)
