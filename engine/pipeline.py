"""From uploaded files to a loaded dataset: ingest -> map -> type -> validate -> store.

The steps are separate so the app can show each one (recognised table, mapping, preview,
stage map) and let the user change them before anything is written:

1. :func:`inspect_file` reads bytes into a string table and proposes a mapping.
2. :func:`prepare` types every mapped column, applies the stage map and validates every row
   of every file, with cross-file rules (an activity's opportunity must exist).
3. :func:`load` writes the prepared files into a new dataset in one transaction.

Nothing is dropped: every data record of a file is either loaded or quarantined with its
reasons, so ``rows_in == rows_loaded + rows_quarantined`` holds per file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from engine import ingest, typeparse
from engine.canonical import (
    FLAGGED,
    SOURCE_FILE,
    SOURCE_LINE,
    STAGE_CANONICAL,
    STAGE_ORDER,
    STAGE_PROBABILITY,
    TABLES,
    UNASSIGNED_OWNER,
)
from engine.errors import InputError, MappingError
from engine.layout import STAGED_TABLES, table_columns
from engine.mapping import (
    Mapping,
    MappingStore,
    apply_remembered,
    closest_headers,
    recognise,
    stage_history_from_wide,
)
from engine.stagemap import StageMap, guess_canonical, guess_stage_map, stage_key
from engine.store import DatasetInfo, Workspace, kill_point
from schemas.rules import AS_OF, OPP_KNOWN, PARSE_ERRORS, RULES, STAGE_KNOWN
from schemas.validate import ROW, validate

# Salesforce writes this id for an empty lookup field.
SALESFORCE_NULL_ID = "000000000000000AAA"
Progress = Callable[[str, float], None]
# Below this, a recognised mapping is a guess the user must confirm before the file loads.
MIN_CONFIDENCE = 0.5


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
            problems.append(f"Required column '{col}' is not mapped.{hint}")
        return problems

    def with_mapping(self, mapping: Mapping) -> FilePlan:
        return FilePlan(self.filename, self.raw, mapping, self.size_bytes, self.remembered)


@dataclass
class PreparedFile:
    plan: FilePlan
    table: str
    source_name: str  # file name, or "<file> (stage dates)" for HubSpot's wide columns
    loaded: pl.DataFrame  # typed rows that load, canonical columns + provenance
    quarantine: pl.DataFrame  # line, original (JSON), reasons (list[str])
    warnings: pl.DataFrame  # line, rule, message
    rows_in: int
    notes: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return self.loaded.height

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.height

    def warning_counts(self) -> dict[str, int]:
        if self.warnings.height == 0:
            return {}
        g = self.warnings.group_by("rule").agg(pl.col("line").n_unique().alias("n")).sort("rule")
        return dict(zip(g["rule"].to_list(), g["n"].to_list(), strict=True))

    def report(self) -> dict[str, Any]:
        return {
            "file": self.source_name,
            "table": self.table,
            "rows_in": self.rows_in,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "warnings": self.warning_counts(),
            "errors": _count_reasons(self.quarantine),
            "notes": self.notes,
        }


@dataclass
class Prepared:
    files: list[PreparedFile]
    stage_map: StageMap
    as_of: dt.date

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
    data: bytes,
    filename: str,
    remembered: MappingStore | None = None,
    limits: ingest.Limits | None = None,
) -> FilePlan:
    """Read a file and propose its table and column mapping (nothing is written)."""
    raw = ingest.read_file(data, filename, limits)
    if remembered is not None:
        mapping = apply_remembered(raw.headers, remembered, filename)
    else:
        mapping = recognise(raw.headers, filename)
    return FilePlan(filename, raw, mapping, len(data), remembered=mapping.origin == "remembered")


# --- step 2 -------------------------------------------------------------------------------
def stages_in(plans: Sequence[FilePlan]) -> list[str]:
    """Distinct stage values across deal and history files, in order of first appearance."""
    seen: dict[str, None] = {}
    for plan in plans:
        if plan.table in STAGED_TABLES and "stage" in plan.mapping.columns:
            col = plan.raw.table.column(plan.mapping.columns["stage"])
            for v in pl.from_arrow(col).drop_nulls().unique(maintain_order=True).to_list():  # type: ignore[union-attr]
                seen.setdefault(str(v).strip(), None)
        for stage in plan.mapping.stage_columns:
            seen.setdefault(stage, None)
    return [s for s in seen if s]


def default_stage_map(plans: Sequence[FilePlan]) -> StageMap:
    presets = [p.mapping.preset for p in plans if p.mapping.preset]
    return guess_stage_map(stages_in(plans), presets[0] if presets else None)


def prepare(
    plans: Sequence[FilePlan],
    stage_map: StageMap | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> Prepared:
    """Type and validate every row of every file. Raises MappingError for unusable files."""
    as_of = as_of or dt.date.today()
    stage_map = stage_map if stage_map is not None else default_stage_map(plans)
    blocked = [(p.filename, p.blocking_problems()) for p in plans]
    blocked = [(f, probs) for f, probs in blocked if probs]
    if blocked:
        lines = [f"{f}: {' '.join(probs)}" for f, probs in blocked]
        raise MappingError(
            "These files cannot load until their required columns are mapped:\n"
            + "\n".join(lines)
            + "\nMap the columns (or remove the file) and try again."
        )
    steps: list[tuple[FilePlan, str, str, pl.DataFrame, list[str], pa.Table]] = []
    for i, plan in enumerate(plans):
        if progress:
            progress(f"Parsing {plan.filename}", i / max(len(plans), 1) * 0.5)
        frame, notes = _typed_frame(plan, plan.table, plan.mapping.columns)
        steps.append((plan, plan.table, plan.filename, frame, notes, plan.raw.table))
        if plan.mapping.stage_columns:
            with_lines = plan.raw.table.append_column("_line", pa.array(plan.raw.lines, pa.int64()))
            wide = stage_history_from_wide(with_lines, plan.mapping)
            frame2, notes2 = _wide_history_frame(plan, wide)
            source = f"{plan.filename} (stage dates)"
            body = wide.select(["opportunity_id", "stage", "entered_at"])
            steps.append((plan, "stage_history", source, frame2, notes2, body))
    opp_ids = pl.concat(
        [f["opportunity_id"] for _, t, _, f, _, _ in steps if t == "opportunities"]
        or [pl.Series("opportunity_id", [], pl.Utf8)]
    ).drop_nulls()
    has_opps = any(step[1] == "opportunities" for step in steps)
    prepared = []
    for i, (plan, table, source, frame, notes, src) in enumerate(steps):
        if progress:
            progress(f"Validating {source}", 0.5 + i / max(len(steps), 1) * 0.4)
        frame = _derive(frame, table, stage_map, as_of, opp_ids if has_opps else None)
        prepared.append(_split(plan, table, source, frame, notes, src))
    return Prepared(prepared, stage_map, as_of)


def _wide_history_frame(plan: FilePlan, wide: pa.Table) -> tuple[pl.DataFrame, list[str]]:
    """HubSpot's Date entered "<stage>" cells, unpivoted, typed like a history file."""
    lines = [int(x) for x in wide.column("_line").to_pylist()]
    body = wide.select(["opportunity_id", "stage", "entered_at"])
    cols = {c: c for c in body.column_names}
    return _typed_frame_from(body, cols, "stage_history", lines=lines)


def _typed_frame(
    plan: FilePlan, table: str, columns: dict[str, str]
) -> tuple[pl.DataFrame, list[str]]:
    return _typed_frame_from(plan.raw.table, columns, table, lines=list(plan.raw.lines), plan=plan)


def _typed_frame_from(
    raw: pa.Table,
    columns: dict[str, str],
    table: str,
    lines: list[int],
    plan: FilePlan | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Canonical typed frame + per-row parse errors + the original row (for quarantine)."""
    spec = TABLES[table]
    src = pl.from_arrow(raw)
    assert isinstance(src, pl.DataFrame)
    n = src.height
    notes: list[str] = []
    out: dict[str, pl.Series] = {}
    errors: list[pl.Expr] = []
    fallbacks = getattr(plan.mapping, "fallbacks", {}) if plan is not None else {}
    for col in spec.columns:
        header = columns.get(col.name)
        if header is None or header not in src.columns:
            out[col.name] = pl.Series(col.name, [None] * n, dtype=_pl_type(col.kind))
            continue
        values = src[header].cast(pl.Utf8)
        for fb in fallbacks.get(col.name, []):
            if fb in src.columns:
                values = values.fill_null(src[fb].cast(pl.Utf8))
        if col.name.endswith("_id") or col.name == "opportunity_id":
            values = values.replace(SALESFORCE_NULL_ID, None)
        result = typeparse.parse_column(values, col.kind)
        note = result.note
        if note is None and col.kind in ("date", "timestamp") and result.fmt:
            if not result.fmt.startswith("%Y-%m-%d"):
                note = f"dates read as {result.fmt}"
        if note:
            notes.append(f"{col.name} ({header}): {note}")
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
    frame = frame.with_columns(
        pl.Series(SOURCE_LINE, lines[:n] if len(lines) >= n else list(range(2, n + 2)), pl.Int64),
    )
    return frame, notes


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
    opp_ids: pl.Series | None,
) -> pl.DataFrame:
    """Columns the rules and the store need: stage map, closed/won, helper flags."""
    frame = frame.with_columns(pl.lit(as_of).alias(AS_OF))
    if table in STAGED_TABLES:
        sm = stage_map_frame(stage_map)
        # the same key as engine.stagemap.stage_key: case, spaces and punctuation ignored
        key = pl.col("stage").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]", "")
        key = key.alias("__stage_key__")
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
    if "opportunity_id" in frame.columns and table in ("stage_history", "activities"):
        if opp_ids is None:
            known = pl.lit(None, dtype=pl.Boolean)
        else:
            known = (
                pl.when(pl.col("opportunity_id").is_null())
                .then(None)
                .otherwise(pl.col("opportunity_id").is_in(opp_ids.implode()))
            )
        frame = frame.with_columns(known.alias(OPP_KNOWN))
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias(OPP_KNOWN))
    if STAGE_KNOWN not in frame.columns:
        frame = frame.with_columns(pl.lit(True).alias(STAGE_KNOWN))
    return frame


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


def _split(
    plan: FilePlan,
    table: str,
    source: str,
    frame: pl.DataFrame,
    notes: list[str],
    src: pa.Table,
) -> PreparedFile:
    """Rows that load, rows quarantined (with the original values as read) and warnings."""
    verdicts = validate(table, frame)
    indexed = frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    reasons = verdicts.reasons()
    bad = indexed.join(reasons, on=ROW, how="inner").select(ROW, SOURCE_LINE, "reasons")
    # The original row, exactly as read, only for quarantined rows (rows align with src).
    src_rows = src.take(pa.array(bad[ROW].to_list(), pa.int64()))
    src_frame = pl.from_arrow(src_rows)
    assert isinstance(src_frame, pl.DataFrame)
    original = src_frame.select(pl.struct(pl.all()).struct.json_encode().alias("original"))
    quarantine = pl.concat(
        [bad.select(pl.col(SOURCE_LINE).alias("line")), original, bad.select("reasons")],
        how="horizontal",
    )
    good = indexed.join(reasons.select(ROW), on=ROW, how="anti")
    warn = (
        verdicts.warnings()
        .join(indexed.select(ROW, SOURCE_LINE), on=ROW)
        .select(pl.col(SOURCE_LINE).alias("line"), "rule", "message")
    )
    flagged_rows = verdicts.warnings()[ROW].unique()
    good = good.with_columns(pl.col(ROW).is_in(flagged_rows.implode()).alias(FLAGGED))
    if "owner" in good.columns:
        blank = pl.col("owner").is_null() | (pl.col("owner").str.strip_chars() == "")
        good = good.with_columns(
            pl.when(blank).then(pl.lit(UNASSIGNED_OWNER)).otherwise(pl.col("owner")).alias("owner")
        )
    if table == "activities":
        kind = pl.col("activity_type").str.strip_chars().str.to_lowercase()
        known = kind.is_in(["call", "email", "meeting", "demo", "other"])
        good = good.with_columns(
            pl.when(known).then(kind).otherwise(pl.lit("other")).alias("activity_type")
        )
    good = good.with_columns(pl.lit(source).alias(SOURCE_FILE))
    stored = [name for name, _ in table_columns(table)]
    loaded = good.select(stored)
    # Records the reader could not split into the header's columns: quarantined as they are.
    if plan.raw.bad_rows and source == plan.filename:
        extra = pl.DataFrame(
            {
                "line": [int(r[0]) for r in plan.raw.bad_rows],
                "original": [json.dumps({"raw": r[1]}) for r in plan.raw.bad_rows],
                "reasons": [[r[2]] for r in plan.raw.bad_rows],
            },
            schema={"line": pl.Int64, "original": pl.Utf8, "reasons": pl.List(pl.Utf8)},
        )
        quarantine = pl.concat([quarantine, extra]).sort("line")
    rows_in = frame.height + (len(plan.raw.bad_rows) if source == plan.filename else 0)
    file_notes = list(plan.raw.notes) + notes if source == plan.filename else notes
    return PreparedFile(plan, table, source, loaded, quarantine, warn, rows_in, file_notes)


def _count_reasons(quarantine: pl.DataFrame) -> dict[str, int]:
    if quarantine.height == 0:
        return {}
    return {"rows": quarantine.height}


# --- step 3 -------------------------------------------------------------------------------
def load(
    workspace: Workspace, prepared: Prepared, name: str, progress: Progress | None = None
) -> DatasetInfo:
    """Write a prepared batch as one new dataset, all or nothing."""

    def build(con: duckdb.DuckDBPyConnection) -> None:
        for i, f in enumerate(prepared.files):
            if progress:
                progress(f"Loading {f.source_name}", 0.9 + 0.1 * i / max(len(prepared.files), 1))
            kill_point(f"insert:{i}")
            _insert(con, f)
        sm = [
            (e.stage, e.canonical, e.order, float(e.probability))
            for e in prepared.stage_map.entries
        ]
        if sm:
            con.executemany("INSERT INTO stage_map VALUES (?, ?, ?, ?)", sm)
        con.execute(
            "INSERT INTO _meta VALUES ('stage_map', ?), ('as_of', ?), ('tables', ?)",
            [
                prepared.stage_map.to_json(),
                prepared.as_of.isoformat(),
                json.dumps(sorted({f.table for f in prepared.files})),
            ],
        )

    return workspace.create(name, build, fingerprint=prepared.fingerprint())


def _insert(con: duckdb.DuckDBPyConnection, f: PreparedFile) -> None:
    # DuckDB scans a polars frame directly; converting to Arrow first costs more than twice
    # the insert time (string views).
    con.register("__batch__", f.loaded)
    cols = ", ".join(f'"{c}"' for c, _ in table_columns(f.table))
    con.execute(f'INSERT INTO "{f.table}" ({cols}) SELECT {cols} FROM __batch__')
    con.unregister("__batch__")
    q = f.quarantine.with_columns(
        pl.lit(f.source_name).alias("file"), pl.lit(f.table).alias("table_name")
    )
    con.register("__q__", q.select("file", "table_name", "line", "original", "reasons"))
    con.execute(
        "INSERT INTO _quarantine SELECT file, table_name, line, original::JSON, reasons FROM __q__"
    )
    con.unregister("__q__")
    w = f.warnings.with_columns(
        pl.lit(f.source_name).alias("file"), pl.lit(f.table).alias("table_name")
    )
    con.register("__w__", w.select("file", "table_name", "line", "rule", "message"))
    con.execute("INSERT INTO _warnings SELECT file, table_name, line, rule, message FROM __w__")
    con.unregister("__w__")
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
    files: Sequence[tuple[str, bytes]],
    name: str | None = None,
    as_of: dt.date | None = None,
) -> tuple[DatasetInfo, Prepared]:
    """Inspect, prepare and load files with the proposed mappings (command line, tests)."""
    if not files:
        raise InputError("No files were given.")
    plans = [inspect_file(data, fname) for fname, data in files]
    kill_point("read")
    prepared = prepare(plans, as_of=as_of)
    kill_point("prepared")
    info = load(workspace, prepared, name or ", ".join(f for f, _ in files))
    return info, prepared


RULE_IDS = tuple(RULES)
