"""What a load works on and what it gives back: a file's plan (:class:`FilePlan`), one
source's outcome (:class:`PreparedFile`, folded from :class:`Batch` slices) and a whole
load's (:class:`Prepared`). Shared by the orchestration (``engine.load.pipeline``) and the one
typing path (``engine.load.typed``), so neither imports the other's private names."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.load import ingest
from engine.load.mapping import Mapping, closest_headers, required_label
from engine.load.stagemap import StageMap

# Below this, a recognised mapping is a guess the user must confirm before the file loads.
MIN_CONFIDENCE = 0.5

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "original": pl.Utf8(),
    "reasons": pl.List(pl.Utf8),
    "rules": pl.List(pl.Utf8),
}
EMPTY_FRAME = pl.DataFrame()
EMPTY_QUARANTINE = pl.DataFrame(schema=QUARANTINE_SCHEMA)
EMPTY_WARNINGS = pl.DataFrame(schema={"line": pl.Int64, "rule": pl.Utf8, "message": pl.Utf8})


def rows_per_rule(findings: pl.DataFrame) -> dict[str, int]:
    """Rows (distinct lines) per rule of a frame of findings (line, rule)."""
    if findings.height == 0:
        return {}
    g = findings.group_by("rule").agg(pl.col("line").n_unique().alias("n"))
    return dict(zip(g["rule"].to_list(), g["n"].to_list(), strict=True))


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
