"""The one typing path: every source of rows is typed, derived, validated and written here.

Whatever the file was (a small CSV read whole, XLSX, Parquet, HubSpot's unpivoted stage-date
columns, or a large CSV streamed from disk), its rows reach this module as an Arrow table of
cleaned strings, registered with DuckDB as ``__raw`` (columns c0..cN, each record's physical
line ``__line__`` and, for a source read whole, its position ``__key__``). On that
connection:

1. Each typed column is parsed by :func:`engine.core.typeparse.parse_column` over its distinct
   values only (dates, amounts and flags repeat), with the format chosen once per column on
   an evenly spaced sample (:func:`resolve_formats`); the typed view is those lookups joined
   back, plus every derived column, each rule written once, in SQL: the stage map, is_closed
   / is_won (a mapped flag, else the status values the preset declares, else the stage),
   the preset's null id, repeated ids (looked up only when the ids are not in order), known
   opportunities, activity kind and the "(unassigned)" owner.
2. The pandera model validates the typed rows ``VALIDATE_ROWS`` at a time, in polars: those
   on which some rule may fire, chosen in the same query by each rule's SQL condition
   (``schemas.models.MAY_FAIL``, never narrower than its check); every other row passes every
   rule. Its findings decide: quarantined rows keep their original values and every reason,
   warnings their messages.
3. The rows that load are written with one ``INSERT ... SELECT`` (into the dataset being
   built), or, for :func:`engine.load.pipeline.prepare`, fetched as a polars frame from an
   in-memory connection.

Why DuckDB for every source rather than polars batches for small files beside it: the DuckDB
path has to exist for large CSVs (scanned in place from Arrow, never Python rows, memory
bounded by the slice), so making it the only one writes each rule once. Measured when the
polars path went: the 1M-row opportunities and 5M-row activities of ``make bench`` take the
same CPU time and peak memory as before (within run-to-run noise); small files pay a few
queries per column, about 0.09 s of CPU for five real exports of 17,000 rows together
(0.36 s -> 0.45 s per load), small beside the process start. Rows that fit in one slice
look their repeated ids up at once rather than betting on ids in order (a lost bet would
validate them twice).

Values come from the file only as data: every user value is a bound parameter or a row of a
registered frame, and the only names in the SQL are canonical columns and ``c0, c1, ...``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from engine.core import typeparse
from engine.core.canonical import (
    ACTIVITY_TYPES,
    DUCKDB_TYPES,
    FLAGGED,
    OPP_CHECKED_TABLES,
    SOURCE_FILE,
    SOURCE_LINE,
    STAGE_CANONICAL,
    STAGE_ORDER,
    STAGE_PROBABILITY,
    TABLES,
    UNASSIGNED_OWNER,
)
from engine.core.layout import STAGED_TABLES, table_columns
from engine.load import crm, ingest
from engine.load.crm.base import Preset
from engine.load.ingest import CsvStream
from engine.load.plan import (
    EMPTY_FRAME,
    EMPTY_QUARANTINE,
    EMPTY_WARNINGS,
    Batch,
    FilePlan,
    PreparedFile,
    rows_per_rule,
)
from engine.load.stagemap import StageMap, guess_canonical, stage_key
from schemas.models import may_fail_sql
from schemas.rules import AS_OF, ID_REPEATS, OPP_KNOWN, PARSE_ERRORS, SEEN_BEFORE, STAGE_KNOWN
from schemas.validate import ROW, unread_columns, validate

# Typed rows validated at a time (a polars frame of this many rows is in memory at once).
VALIDATE_ROWS = 500_000
# Findings held in memory before the rest wait on disk until the stream of rows ends.
PARK_ROWS = 250_000
# Values sampled per column to choose its date order or decimal mark.
FORMAT_SAMPLE = 200_000
_LINE = "__line__"  # the physical line of a raw row (repeats in HubSpot's unpivoted rows)
_KEY = "__key__"  # the row's position in the source: unique, so it keys every row
_DUPKEY = "__dupkey__"  # the id whose repeats the duplicate_id rule catches

_NO_REASONS = pl.DataFrame(
    schema={
        "key": pl.Int64,
        "line": pl.Int64,
        "reasons": pl.List(pl.Utf8),
        "rules": pl.List(pl.Utf8),
    }
)
_NO_WARNINGS = pl.DataFrame(
    schema={"key": pl.Int64, "line": pl.Int64, "rule": pl.Utf8, "message": pl.Utf8}
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
    # When set, the rows are in this file and are read from it here (``src`` is its head)
    stream: ingest.CsvStream | None = None
    joined: dict[str, list[str]] = field(default_factory=dict)  # see Mapping.joined

    @property
    def rows(self) -> int:
        return self.stream.rows if self.stream is not None else self.src.num_rows

    @property
    def preset(self) -> Preset | None:
        """The CRM preset the file was mapped with: its quirks apply to these rows."""
        return crm.get(self.plan.mapping.preset)


@dataclass
class _Raw:
    """One source's records as cleaned strings, registered with DuckDB as ``__raw``: columns
    c0..cN, each record's physical line (``__line__``) and position (``__key__``)."""

    headers: list[str]
    table: pa.Table
    # The column of ``__raw`` that keys its rows: the line when no two rows share one (a
    # CSV's records), else the row's position (HubSpot's stage dates share their deal's line).
    key: str = _KEY

    @property
    def rows(self) -> int:
        return self.table.num_rows

    def sample(self, headers: list[str], step: int) -> pa.Table:
        """Records 0, step, 2*step, ... of ``headers`` (gathered chunk by chunk: a take over
        the whole column would first join its chunks)."""
        picked = []
        for header in headers:
            column = self.table.column(str(self.col(header)))
            parts, start = [], 0
            for chunk in column.chunks:
                first = -start % step  # the first multiple of step in this chunk
                parts.append(chunk.take(pa.array(np.arange(first, len(chunk), step))))
                start += len(chunk)
            picked.append(pa.chunked_array(parts, column.type))
        return pa.table(picked, names=headers)

    def first_values(self, header: str) -> list[str]:
        """A column's distinct values in order of first appearance (``CsvStream.first_values``
        of the same column, without a pass of its own)."""
        return ingest.values_in_order(self.table.column(str(self.col(header))))

    def col(self, header: str | None) -> str | None:
        """The SQL name (``cN``) of a header, or None when the source has no such column."""
        if header is None or header not in self.headers:
            return None
        return f"c{self.headers.index(header)}"


def _database_path(con: duckdb.DuckDBPyConnection) -> str | None:
    """The file of the dataset being built (None in memory). Scratch files are named after
    it, so the store's clean-up of an unfinished build removes them too."""
    (path,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0]
    return str(path) if path else None


def _drop_temps(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP VIEW IF EXISTS __typed")
    con.execute("DROP VIEW IF EXISTS __stored")
    con.unregister("__raw")
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '__')"
    ).fetchall()
    for (name,) in names:
        if name.isidentifier():
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _named(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f"${k}" in sql}


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with those of ``params`` it names (DuckDB refuses unused ones)."""
    return con.execute(sql, _named(sql, params))


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pa.Table:
    """A query's rows as Arrow, with those of ``params`` it names."""
    table = con.sql(sql, params=_named(sql, params) or None).to_arrow_table()
    assert table is not None
    return table


def _series(column: pa.ChunkedArray, name: str) -> pl.Series:
    out = pl.from_arrow(column)
    assert isinstance(out, pl.Series)
    return out.cast(pl.Utf8).alias(name)


def read_raw(
    con: duckdb.DuckDBPyConnection, stream: CsvStream, notes: list[str], head: pa.Table
) -> _Raw | None:
    """A streamed CSV's records (``CsvStream.records``) registered as ``__raw``; None when a
    record is not a plain single line of the header's width, so the caller reads the file
    whole. A note about skipped blank lines goes to the front of ``notes``."""
    names = [f"c{i}" for i in range(len(stream.headers))]
    read = stream.records(names, ingest.repeating_columns(head))
    if read is None:
        return None
    table, note = read
    if note:
        notes.insert(0, note)
    table = table.append_column(_LINE, pa.array(stream.lines(0, table.num_rows)))
    con.register("__raw", table)
    return _Raw(list(stream.headers), table, key=_LINE)  # a record per line


def raw_from_table(con: duckdb.DuckDBPyConnection, src: pa.Table, lines: pa.Array) -> _Raw:
    """A source read whole (string columns and their physical lines) registered as ``__raw``."""
    columns = [_text(src.column(i)) for i in range(src.num_columns)]
    names = [f"c{i}" for i in range(src.num_columns)]
    table = pa.table(columns, names=names) if columns else pa.table({})
    if not columns:  # a source of no columns still has its rows
        table = pa.table({_LINE: lines.cast(pa.int64())})
    else:
        table = table.append_column(_LINE, lines.cast(pa.int64()))
    table = table.append_column(_KEY, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    con.register("__raw", table)
    return _Raw(list(src.column_names), table)


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text DuckDB scans in place: strings (dictionary-encoded ones too) as they
    are, anything else (an all-empty column typed null) cast."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    return column.cast(pa.string())


def resolve_formats(
    source: Source, sampler: Callable[[list[str], int], pa.Table] | None = None
) -> None:
    """Choose each column's date order / decimal mark once, over the whole column.

    Every row of a column is then read with this choice as its hint. The choice is made on an
    evenly spaced sample of up to ``FORMAT_SAMPLE`` values.
    """
    step = max(source.rows // FORMAT_SAMPLE, 1)
    wanted = []
    for col in TABLES[source.table].columns:
        header = source.columns.get(col.name)
        if col.kind == "text" or header is None or header not in source.src.column_names:
            continue
        wanted.append((col, header))
    headers = list(dict.fromkeys(h for _, h in wanted))
    if sampler is None:

        def sampler(hs: list[str], st: int) -> pa.Table:
            idx = pa.array(range(0, source.src.num_rows, st), pa.int64())
            return source.src.select(hs).take(idx)

    sampled = sampler(headers, step) if headers else None
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


def activity_kind(value: pl.Expr) -> pl.Expr:
    """The activity type a loaded row keeps: one of ``ACTIVITY_TYPES``, else "other"."""
    kind = value.str.strip_chars().str.to_lowercase()
    known = kind.is_in(list(ACTIVITY_TYPES))
    return pl.when(known).then(kind).otherwise(pl.lit("other")).alias("activity_type")


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    loaded: pl.DataFrame,
    quarantine: pl.DataFrame,
    warnings: pl.DataFrame,
) -> None:
    """Write loaded rows, quarantined rows and warnings of one source into the dataset."""
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


def load_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    stage_map: StageMap | Callable[[], StageMap],
    as_of: dt.date,
    opp_ids: pl.Series | None,
    keep: int | None,
    progress: Callable[[str, float], None] | None,
    share: tuple[float, float],
    store: bool = True,
    before_write: Callable[[], None] | None = None,
) -> tuple[PreparedFile, pl.Series | None, StageMap] | None:
    """Type, validate and write one source on ``con``.

    With ``store``, ``con`` builds a dataset and the rows go into its tables; without, the
    file's outcome keeps every loaded row in ``loaded`` (``con`` may be in memory). Returns
    the outcome (complete counts, the first ``keep`` quarantined and flagged rows), for
    opportunities when ``opp_ids`` collects them the ids it saw, and the stage map used;
    None when a streamed file must be read whole. A ``stage_map`` that is a function
    proposing it is asked once the records are read.
    """
    lo, hi = share
    if source.stream is not None:
        raw = read_raw(con, source.stream, source.notes, source.src)
        if raw is None:
            return None
    else:
        raw = raw_from_table(con, source.src, source.lines)
    if callable(stage_map):
        header = source.columns.get("stage")
        if source.stream is not None and source.table in STAGED_TABLES and header is not None:
            source.stream.remember_first_values(header, raw.first_values(header))
        stage_map = stage_map()
    # On an error the build fails as a whole (its unpublished file is removed), so the
    # temporary tables are dropped only on success.
    if progress:
        progress(f"Validating {source.name}", lo + (hi - lo) * 0.2)
    resolve_formats(source, raw.sample)
    helpers = _create_typed(con, source, raw, stage_map, as_of, opp_ids)
    result = PreparedFile(
        source.plan,
        source.table,
        source.name,
        EMPTY_FRAME,
        EMPTY_QUARANTINE,
        EMPTY_WARNINGS,
        notes=source.notes,
    )
    con.execute("CREATE TEMP TABLE __errs (key BIGINT)")
    con.execute("CREATE TEMP TABLE __flags (key BIGINT)")
    # The rows on which some rule may fire (``schemas.models.MAY_FAIL``); every other row
    # passes every rule and loads unflagged without a pass through the model.
    chosen = may_fail_sql(source.table)
    with _Findings(con, park=store) as found:
        # First on the bet that the ids are in order (no repeats to look up); if the stream
        # shows otherwise, what it found so far is dropped and it runs again with the lookup.
        # Rows that fit in one slice are not worth the bet: a lost bet would validate them
        # twice, and looking their repeats up costs less than that. Rows chosen by SQL need
        # the bet settled first (every row of a repeated id is chosen): a lost bet costs a
        # pass over the ids, not a validation.
        bet = raw.rows > VALIDATE_ROWS
        helpers.view(con, repeats=not bet)
        if chosen is not None:
            # The bet is checked on the ids alone, before any row is validated.
            if bet and not helpers.ids_in_order(con):
                helpers.view(con, repeats=True)
            _validate_all(con, source, raw, found, progress, share, None, chosen)
            result.rows_in += raw.rows - found.rows  # the rows no rule can fire on
        elif not bet:
            _validate_all(con, source, raw, found, progress, share, None)
        elif not _validate_all(con, source, raw, found, progress, share, _Order()):
            found.clear()
            helpers.view(con, repeats=True)
            _validate_all(con, source, raw, found, progress, share, None)
        if progress:
            progress(f"Writing {source.name}", lo + (hi - lo) * 0.85)
        if before_write:
            before_write()
        # The stream is finished: what it found is written (originals, reasons, warnings).
        for rows_in, reasons, warnings in found:
            batch = _outcome(con, raw, rows_in, reasons, warnings)
            if store:
                insert_rows(
                    con, source.table, source.name, batch.loaded, batch.quarantine, batch.warnings
                )
            result.add(batch, keep)
    result.rows_loaded = result.rows_in - result.rows_quarantined
    loaded = _write_loaded(con, source, raw, store)
    if loaded is not None:
        result.loaded = loaded
    ids = None
    if source.table == "opportunities" and opp_ids is not None:  # a later file needs them
        got = _distinct(con, source, raw, "opportunity_id")
        ids = _series(got.column(0), "opportunity_id").drop_nulls()
    _drop_temps(con)
    return result, ids, stage_map


def _null_id(source: Source, name: str) -> str | None:
    """The value the source's preset declares as "no record" for an id column, if any."""
    preset = source.preset
    if preset is None or preset.null_id is None or not name.endswith("_id"):
        return None
    return preset.null_id


def _typed_expr(source: Source, raw: _Raw, name: str) -> str | None:
    """SQL for a canonical column's cleaned text (fallback columns filled in), or None."""
    c = raw.col(source.columns.get(name))
    if c is None:
        return None
    expr = f"r.{c}"
    fallbacks = [raw.col(fb) for fb in source.fallbacks.get(name, [])]
    if any(fallbacks):
        expr = f"coalesce({expr}, {', '.join(f'r.{f}' for f in fallbacks if f)})"
    parts = [p for p in (raw.col(h) for h in source.joined.get(name, [])) if p]
    if parts:  # Mapping.joined: a space between the parts, empty parts left out
        expr = f"nullif(concat_ws(' ', {expr}, {', '.join(f'r.{p}' for p in parts)}), '')"
    null_id = _null_id(source, name)
    if null_id is not None:
        expr = f"nullif({expr}, {_literal(null_id)})"
    return expr


def _literal(value: str) -> str:
    """A preset's constant (never a value from a file) as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _distinct(con: duckdb.DuckDBPyConnection, source: Source, raw: _Raw, name: str) -> pa.Table:
    """The distinct typed values of a text column, straight from ``__raw``."""
    expr = _typed_expr(source, raw, name) or "CAST(NULL AS VARCHAR)"
    return _arrow(con, f"SELECT DISTINCT {expr} AS v FROM __raw r", {})


def _create_typed(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    raw: _Raw,
    stage_map: StageMap,
    as_of: dt.date,
    opp_ids: pl.Series | None,
) -> _Helpers:
    """The view ``__stored``: the typed columns that are written (with the stage map and the
    derivations applied), and the helper columns the rules also read, for ``_Helpers.view``.
    Writing from ``__stored`` skips the joins only the rules need (repeated ids, known
    opportunities)."""
    table = source.table
    spec = TABLES[table]
    selects = [f"r.{_LINE} AS {SOURCE_LINE}", f"r.{raw.key} AS {_KEY}"]
    joins: list[str] = []
    errors: list[str] = []
    for col in spec.columns:
        expr = _typed_expr(source, raw, col.name)
        sql_type = DUCKDB_TYPES[col.kind]
        if expr is None:
            selects.append(f'CAST(NULL AS {sql_type}) AS "{col.name}"')
            continue
        if col.kind == "text":
            selects.append(f'{expr} AS "{col.name}"')
            continue
        values = _series(_distinct(con, source, raw, col.name).column(0), col.name).drop_nulls()
        if values.len() == 0:
            selects.append(f'CAST(NULL AS {sql_type}) AS "{col.name}"')
            continue
        parsed = typeparse.parse_column(values, col.kind, source.hints.get(col.name))
        bad = _bad_messages(values, parsed.failed, col.name, col.kind)
        lookup = pl.DataFrame({"v": values, "x": parsed.values, "bad": bad})
        lk = f"__lk{len(joins)}"
        _materialise(con, lk, lookup)
        joins.append(f"LEFT JOIN {lk} ON {lk}.v = {expr}")
        selects.append(f'CAST({lk}.x AS {sql_type}) AS "{col.name}"')
        errors.append(f"{lk}.bad")
    parse_errors = (
        f"list_filter([{', '.join(errors)}], lambda x: x IS NOT NULL)"
        if errors
        else "CAST([] AS VARCHAR[])"
    )
    selects.append(f"{parse_errors} AS {PARSE_ERRORS}")

    # The id that must not repeat. A table whose rows are chosen for validation by SQL
    # (``schemas.models.MAY_FAIL``) looks its repeats up in the id as validated (fallback
    # columns and all), so that every row of a repeated id is chosen; accounts look them up
    # only if the stream of rows shows the ids are not in order (see ``_Order``).
    key = spec.key_column(source.columns)
    raw_col = raw.col(source.columns.get(key)) if key else None
    id_raw = None
    if raw_col is not None and key == "account_name":  # names key case-insensitively
        id_raw = f"lower(r.{raw_col})"
    elif key is not None and may_fail_sql(table) is not None:
        id_raw = _typed_expr(source, raw, key)
    elif raw_col is not None and key is not None:
        null_id = _null_id(source, key)
        id_raw = f"r.{raw_col}"
        if null_id is not None:
            id_raw = f"nullif({id_raw}, {_literal(null_id)})"
    if id_raw is not None:
        selects.append(f"{id_raw} AS {_DUPKEY}")
    else:
        selects.append(f"CAST(NULL AS VARCHAR) AS {_DUPKEY}")
    # A view takes no parameters: the day is a date object, written as an ISO literal.
    helpers = [f"DATE '{as_of.isoformat()}' AS {AS_OF}"]
    helper_joins: list[str] = []

    derived = []
    if table in STAGED_TABLES:
        stages = _series(_distinct(con, source, raw, "stage").column(0), "stage").drop_nulls()
        lookup = (
            pl.DataFrame({"stage": stages})
            .with_columns(stage_key_expr().alias("__stage_key__"))
            .join(stage_map_frame(stage_map), on="__stage_key__", how="left")
            .drop("__stage_key__")
        )
        _materialise(con, "__lkstage", lookup)
        derived += [
            f"coalesce(s.{STAGE_CANONICAL}, 'opportunity') AS {STAGE_CANONICAL}",
            f"CAST(coalesce(s.{STAGE_ORDER}, 0) AS INTEGER) AS {STAGE_ORDER}",
            f"s.{STAGE_PROBABILITY} AS {STAGE_PROBABILITY}",
            f"coalesce(s.{STAGE_KNOWN}, false) AS {STAGE_KNOWN}",
        ]
        stage_join = "LEFT JOIN __lkstage s ON s.stage = b.stage"
    else:
        derived.append(f"true AS {STAGE_KNOWN}")
        stage_join = ""
    replace = ""
    if table == "opportunities":
        # is_closed / is_won: the file's own flags, else what the preset says its status
        # values mean (Pipedrive: won / lost / open), else the canonical stage.
        closed = f"s.{STAGE_CANONICAL} IN ('closed_won', 'closed_lost')"
        won = f"s.{STAGE_CANONICAL} = 'closed_won'"
        outcomes = source.preset.status_outcomes if source.preset else {}
        status_closed = status_won = "NULL"
        if outcomes and source.columns.get("status") is not None:
            _materialise(
                con,
                "__lkstatus",
                pl.DataFrame(
                    [(v, c, w) for v, (c, w) in outcomes.items()],
                    schema={"v": pl.Utf8, "closed": pl.Boolean, "won": pl.Boolean},
                    orient="row",
                ),
            )
            stage_join += " LEFT JOIN __lkstatus st ON st.v = lower(trim(b.status))"
            status_closed, status_won = "st.closed", "st.won"
        replace = f"""REPLACE (
            coalesce(b.is_closed, {status_closed}, coalesce({closed}, false)) AS is_closed,
            coalesce(b.is_won, {status_won}, coalesce({won}, false)) AS is_won)"""
    if opp_ids is not None and table in OPP_CHECKED_TABLES:
        _materialise(con, "__lkopp", pl.DataFrame({"id": opp_ids}))  # already distinct
        helper_joins.append("LEFT JOIN __lkopp o ON o.id = t.opportunity_id")
        known = "CASE WHEN t.opportunity_id IS NULL THEN NULL ELSE o.id IS NOT NULL END"
        helpers.append(f"{known} AS {OPP_KNOWN}")
    else:
        helpers.append(f"CAST(NULL AS BOOLEAN) AS {OPP_KNOWN}")
    _run(
        con,
        f"""CREATE TEMP VIEW __stored AS
        WITH b AS (SELECT {", ".join(selects)} FROM __raw r {" ".join(joins)})
        SELECT b.* {replace}, {", ".join(derived)} FROM b {stage_join}""",
        {},
    )
    return _Helpers(helpers, helper_joins, id_raw, raw.key)


@dataclass
class _Helpers:
    """The helper columns the rules read beside ``__stored``'s (SQL and joins), less the one
    for repeated ids, which ``view`` adds in one of two ways."""

    selects: list[str]
    joins: list[str]
    # The id that must not repeat, if the table has one: an expression of ``__raw``'s columns
    # under the alias ``r`` (``nullif(r.c0, ...)``, ``lower(r.c1)``).
    id_raw: str | None
    key: str  # the column of ``__raw`` that keys its rows

    def view(self, con: duckdb.DuckDBPyConnection, repeats: bool) -> None:
        """(Re)create ``__typed``. With ``repeats``, the ids that occur more than once are
        looked up (a pass over every id): every row of such an id is marked ``ID_REPEATS``,
        and those after its first ``SEEN_BEFORE``; without, no row is marked and the id rides
        along for ``_Order`` to check."""
        selects, joins = list(self.selects), list(self.joins)
        if self.id_raw is not None and repeats:
            con.execute(
                f"""CREATE TEMP TABLE IF NOT EXISTS __lkdup AS
                SELECT id, min(key) AS first FROM (
                    SELECT {self.id_raw} AS id, r.{self.key} AS key FROM __raw r)
                WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1"""
            )
            selects.append(f"coalesce(t.{_KEY} > d.first, false) AS {SEEN_BEFORE}")
            selects.append(f"d.id IS NOT NULL AS {ID_REPEATS}")
            joins.append(f"LEFT JOIN __lkdup d ON d.id = t.{_DUPKEY}")
        else:
            selects.append(f"false AS {SEEN_BEFORE}")
            selects.append(f"false AS {ID_REPEATS}")
        keep_key = self.id_raw is not None and not repeats
        exclude = "" if keep_key else f"EXCLUDE ({_DUPKEY})"
        con.execute("DROP VIEW IF EXISTS __typed")
        con.execute(
            f"""CREATE TEMP VIEW __typed AS SELECT t.* {exclude}, {", ".join(selects)}
            FROM __stored t {" ".join(joins)}"""
        )

    def ids_in_order(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether ``_Order`` rules out every repeat of the id, over the ids alone (read from
        ``__raw`` ``VALIDATE_ROWS`` at a time, in row order)."""
        if self.id_raw is None:
            return True
        order = _Order()
        sql = f"SELECT {self.id_raw} AS id, r.{self.key} AS key FROM __raw r"
        reader = con.sql(sql).to_arrow_reader(VALIDATE_ROWS)
        try:
            for batch in reader:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                if not frame["key"].is_sorted():
                    frame = frame.sort("key")
                if not order.extend(frame["id"], frame["key"].cast(pl.Int64)):
                    return False
        finally:
            reader.close()
        return True


class _Order:
    """Whether no id repeats, shown cheaply for ids in order (exports are often in id or
    creation order). The rows arrive in slices of runs of consecutive rows, in any order;
    when every slice's ids are strictly ascending or descending by row (none repeats within
    it) and the runs' ranges of ids are pairwise disjoint (none repeats across them), no id
    repeats, and the pass that looks repeats up is skipped. Rows without an id are left out."""

    def __init__(self) -> None:
        self._starts: list[str] = []  # the runs' ranges, sorted (disjoint, so by both ends)
        self._ends: list[str] = []

    def extend(self, ids: pl.Series, keys: pl.Series) -> bool:
        """Take the next slice (ids and their row keys, in row order); False when a repeat
        can no longer be ruled out."""
        frame = pl.DataFrame({"id": ids, "key": keys}).drop_nulls("id")
        if frame.height == 0:
            return True
        ids = frame["id"]
        head, tail = ids.slice(0, ids.len() - 1), ids.slice(1)
        if not ((tail > head).all() or (tail < head).all()):
            return False
        breaks = (frame["key"].diff() != 1).fill_null(True).arg_true().to_list()
        for first, last in zip(breaks, [*breaks[1:], frame.height], strict=True):
            lo, hi = sorted((ids[first], ids[last - 1]))
            at = bisect.bisect_left(self._starts, lo)
            if (at and self._ends[at - 1] >= lo) or (
                at < len(self._starts) and self._starts[at] <= hi
            ):
                return False
            self._starts.insert(at, lo)
            self._ends.insert(at, hi)
        return True


def _materialise(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    con.register("__frame__", frame)
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM __frame__")
    con.unregister("__frame__")


class _Findings:
    """What validation found, slice by slice, kept until the stream of typed rows ends (a
    connection runs one query at a time). With ``park`` (a dataset being built), beyond
    ``PARK_ROWS`` findings they wait on disk beside it, so a file where every row is flagged
    stays in bounds. Slices are handed back in row order."""

    def __init__(self, con: duckdb.DuckDBPyConnection, park: bool) -> None:
        path = _database_path(con) if park else None
        self._stem = f"{path}.findings" if path else None
        self._parts: list[tuple[int, int, pl.DataFrame | Path, pl.DataFrame | Path]] = []
        self._held = 0
        self._files: list[Path] = []
        self.rows = 0  # rows validated

    def add(self, first: int, rows_in: int, reasons: pl.DataFrame, warnings: pl.DataFrame) -> None:
        self.rows += rows_in
        self._held += reasons.height + warnings.height
        self._parts.append((first, rows_in, self._park(reasons), self._park(warnings)))

    def _park(self, frame: pl.DataFrame) -> pl.DataFrame | Path:
        if self._stem is None or self._held <= PARK_ROWS or not frame.height:
            return frame
        path = Path(f"{self._stem}-{len(self._files)}.arrow")
        frame.write_ipc(path)
        self._files.append(path)
        return path

    def clear(self) -> None:
        """Forget every finding (the stream starts again)."""
        self.__exit__()
        self._parts, self._held, self._files, self.rows = [], 0, [], 0

    def __iter__(self) -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
        for _first, rows_in, reasons, warnings in sorted(self._parts, key=lambda p: p[0]):
            yield rows_in, _unpark(reasons), _unpark(warnings)

    def __enter__(self) -> _Findings:
        return self

    def __exit__(self, *_exc: object) -> None:
        for path in self._files:
            path.unlink(missing_ok=True)


def _unpark(frame: pl.DataFrame | Path) -> pl.DataFrame:
    return pl.read_ipc(frame) if isinstance(frame, Path) else frame


@contextmanager
def _typed_rows(
    con: duckdb.DuckDBPyConnection, table: str, where: str | None
) -> Iterator[pa.RecordBatchReader]:
    """The typed rows of ``__typed`` (those ``where`` chooses, if given), ``VALIDATE_ROWS`` at
    a time, from one query (a query per slice would scan the table once per slice), without
    the columns no rule reads, and with text as Arrow string views, which polars takes
    without converting them."""
    skip = ", ".join(f'"{c}"' for c in sorted(unread_columns(table) | {ID_REPEATS}))
    condition = f"WHERE {where}" if where else ""
    con.execute("SET produce_arrow_string_view = true")
    reader = con.sql(f"SELECT * EXCLUDE ({skip}) FROM __typed {condition}").to_arrow_reader(
        VALIDATE_ROWS
    )
    try:
        yield reader
    finally:
        reader.close()
        con.execute("RESET produce_arrow_string_view")


def _slices(reader: pa.RecordBatchReader) -> Iterator[pl.DataFrame]:
    """The reader's rows as frames of ``VALIDATE_ROWS`` rows (the last one fewer). DuckDB
    hands a filtered query over in smaller batches; each call of the model costs a fixed
    amount besides its rows, so batches are gathered up to a full slice first."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        held.append(batch)
        rows += batch.num_rows
        if rows >= VALIDATE_ROWS:
            yield _frame(held)
            held, rows = [], 0
    if held:
        yield _frame(held)


def _frame(batches: list[pa.RecordBatch]) -> pl.DataFrame:
    frame = pl.from_arrow(pa.Table.from_batches(batches))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _validate_all(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    raw: _Raw,
    found: _Findings,
    progress: Callable[[str, float], None] | None,
    share: tuple[float, float],
    order: _Order | None,
    where: str | None = None,
) -> bool:
    """Run the table's pandera model over every typed row (those ``where`` chooses, if
    given), slice by slice. With ``order``, ``__typed`` marks no repeated id and carries the
    ids instead: the stream stops, returning False, at the first slice after which ``order``
    cannot rule a repeat out."""
    with _typed_rows(con, source.table, where) as reader:
        seen = 0
        lo, hi = share
        for frame in _slices(reader):
            if not frame.height:
                continue
            # The lookups' joins may hand rows over out of file order; the duplicate-id rule
            # needs each slice in row order, so the slice is sorted when it is not.
            if not frame[_KEY].is_sorted():
                frame = frame.sort(_KEY)
            if _DUPKEY in frame.columns and where is not None:
                frame = frame.drop(_DUPKEY)  # the bet was settled on the ids alone
            if _DUPKEY in frame.columns:
                if order is None or not order.extend(frame[_DUPKEY], frame[_KEY]):
                    return False
                frame = frame.drop(_DUPKEY)
            keys = frame.select(
                pl.col(_KEY).cast(pl.Int64).alias("key"),
                pl.col(SOURCE_LINE).cast(pl.Int64).alias("line"),
            ).with_row_index(ROW)
            frame = frame.drop(_KEY)
            verdicts = validate(source.table, frame)
            if verdicts.findings.height:
                keys = keys.with_columns(pl.col(ROW).cast(pl.Int64))
                reasons = verdicts.reasons().join(keys, on=ROW).sort(ROW).drop(ROW)
                warnings = verdicts.warnings().join(keys, on=ROW)
                warnings = warnings.select("key", "line", "rule", "message")
                found.add(int(keys["key"][0]), frame.height, reasons, warnings)
            else:
                found.add(int(keys["key"][0]), frame.height, _NO_REASONS, _NO_WARNINGS)
            seen += frame.height
            if progress:
                done = 0.3 + 0.5 * seen / max(raw.rows, 1)
                progress(f"Validating {source.name}", lo + (hi - lo) * done)
        return True


def _outcome(
    con: duckdb.DuckDBPyConnection,
    raw: _Raw,
    rows_in: int,
    reasons: pl.DataFrame,
    warnings: pl.DataFrame,
) -> Batch:
    """One slice's quarantined rows (with their values as read) and warnings; the rows of
    both are noted for the final write."""
    quarantine = EMPTY_QUARANTINE
    if reasons.height:
        bad = reasons.select("key")
        _append(con, "__errs", bad)
        con.register("__bad__", bad)
        cols = ", ".join(f"c{i}" for i in range(len(raw.headers)))
        original = _arrow(
            con,
            f"SELECT {cols} FROM __raw WHERE {raw.key} IN (SELECT key FROM __bad__) "
            f"ORDER BY {raw.key}",
            {},
        )
        con.unregister("__bad__")
        src = pl.from_arrow(original.rename_columns(raw.headers))
        assert isinstance(src, pl.DataFrame)
        quarantine = pl.concat(
            [
                reasons.select("line"),
                src.select(pl.struct(pl.all()).struct.json_encode().alias("original")),
                reasons.select("reasons", "rules"),
            ],
            how="horizontal",
        )
    if warnings.height:
        _append(con, "__flags", warnings.select("key").unique())
        warnings = warnings.select("line", "rule", "message")
    else:
        warnings = EMPTY_WARNINGS
    return Batch(
        EMPTY_FRAME,
        quarantine,
        warnings,
        rows_in,
        rows_per_rule(warnings),
        rows_per_rule(quarantine.select("line", pl.col("rules").alias("rule")).explode("rule")),
    )


def _append(con: duckdb.DuckDBPyConnection, table: str, keys: pl.DataFrame) -> None:
    con.register("__keys__", keys)
    con.execute(f"INSERT INTO {table} SELECT key FROM __keys__")
    con.unregister("__keys__")


def _write_loaded(
    con: duckdb.DuckDBPyConnection, source: Source, raw: _Raw, store: bool
) -> pl.DataFrame | None:
    """Every typed row that passed the error rules, in the stored shape: written into the
    dataset (``store``), else returned in row order."""
    table = source.table
    flags, errs = con.execute(
        "SELECT (SELECT count(*) FROM __flags), (SELECT count(*) FROM __errs)"
    ).fetchall()[0]
    joins = ""
    exprs = []
    for name, _ in table_columns(table):
        if name == FLAGGED:
            expr = f"t.{_KEY} IN (SELECT key FROM __flags)" if flags else "false"
        elif name == SOURCE_FILE:
            expr = "$source"
        elif name == "owner":
            expr = "coalesce(t.owner, $unassigned)"  # typed text is trimmed; empty is null
        elif name == "activity_type" and table == "activities":
            # Normalised once per distinct value.
            got = _distinct(con, source, raw, "activity_type")
            kinds = pl.DataFrame({"v": _series(got.column(0), "v")})
            _materialise(con, "__lkkind", kinds.with_columns(activity_kind(pl.col("v"))))
            joins = "LEFT JOIN __lkkind k ON k.v IS NOT DISTINCT FROM t.activity_type"
            expr = "k.activity_type"
        else:
            expr = f't."{name}"'
        exprs.append(f'{expr} AS "{name}"')
    cols = ", ".join(f'"{name}"' for name, _ in table_columns(table))
    where = f"WHERE t.{_KEY} NOT IN (SELECT key FROM __errs)" if errs else ""
    params = {"source": source.name, "unassigned": UNASSIGNED_OWNER}
    select = f"SELECT {', '.join(exprs)} FROM __stored t {joins} {where}"
    if store:
        _run(con, f'INSERT INTO "{table}" ({cols}) {select}', params)
        return None
    frame = pl.from_arrow(_arrow(con, f"{select} ORDER BY t.{_KEY}", params))
    assert isinstance(frame, pl.DataFrame)
    return frame


def bad_row_batch(plan: FilePlan) -> Batch:
    """Records the reader could not split into the header's columns, quarantined as they are."""
    quarantine = pl.DataFrame(
        {
            "line": [int(r[0]) for r in plan.raw.bad_rows],
            "original": [json.dumps({"raw": r[1]}) for r in plan.raw.bad_rows],
            "reasons": [[r[2]] for r in plan.raw.bad_rows],
            "rules": [["unreadable_record"] for _ in plan.raw.bad_rows],
        },
        schema=EMPTY_QUARANTINE.schema,
    )
    n = quarantine.height
    return Batch(EMPTY_FRAME, quarantine, EMPTY_WARNINGS, n, {}, {"unreadable_record": n})
