"""Run a table's pandera model lazily and turn its failure cases into row verdicts.

The result says, for every row, whether it loads and why not: errors (quarantine, with every
reason) and warnings (loaded, flagged), each with a message naming the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.errors
import polars as pl

from engine.core.canonical import TABLES
from schemas.models import MODELS
from schemas.rules import RULES

ROW = "__row__"


@dataclass
class Verdicts:
    """Per-row outcome of validation. Row numbers are 0-based positions in the frame."""

    rows: int
    # one row per (row, rule) that fired: columns __row__, rule, severity, message
    findings: pl.DataFrame

    @property
    def error_rows(self) -> pl.Series:
        return self.findings.filter(pl.col("severity") == "error")[ROW].unique().sort()

    def reasons(self) -> pl.DataFrame:
        """__row__ -> error messages and their rule ids, for quarantined rows."""
        return (
            self.findings.filter(pl.col("severity") == "error")
            .group_by(ROW, maintain_order=True)
            .agg(pl.col("message").alias("reasons"), pl.col("rule").alias("rules"))
            .sort(ROW)
        )

    def warnings(self) -> pl.DataFrame:
        """Warnings of rows that load (rows that also failed an error rule are excluded)."""
        errors = self.error_rows
        return self.findings.filter(
            (pl.col("severity") == "warning") & ~pl.col(ROW).is_in(errors.implode())
        )

    def counts(self) -> dict[str, int]:
        """Rows per rule."""
        grouped = self.findings.group_by("rule").agg(pl.col(ROW).n_unique().alias("n"))
        return dict(zip(grouped["rule"].to_list(), grouped["n"].to_list(), strict=True))


_EMPTY = pl.DataFrame(
    schema={ROW: pl.Int64, "rule": pl.Utf8, "severity": pl.Utf8, "message": pl.Utf8}
)


def unread_columns(table: str) -> set[str]:
    """Canonical columns of ``table`` that validation never reads: not in its model and not
    named by any rule's message (a caller may leave them out of the frame it validates)."""
    read = set(MODELS[table].to_schema().columns)
    for rule in RULES.values():
        read |= set(rule.message().meta.root_names())
    spec = TABLES[table]
    read.add(spec.id_column or spec.required[0])
    return {c.name for c in spec.columns} - read


def validate(table: str, frame: pl.DataFrame) -> Verdicts:
    """Validate a typed frame of a canonical table; never raises for bad rows."""
    model = MODELS[table]
    try:
        model.validate(frame, lazy=True)
        return Verdicts(frame.height, _EMPTY.clone())
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    unexpected = cases.filter(~pl.col("check").is_in(list(RULES)))
    if unexpected.height:
        # A dtype or column-presence failure is a bug in the pipeline, not bad user data.
        raise RuntimeError(f"schema mismatch for {table}: {unexpected.head(5)}")
    failed = cases.select(pl.col("index").cast(pl.Int64).alias(ROW), pl.col("check").alias("rule"))
    spec = TABLES[table]
    key_cols = spec.any_of or (spec.id_column or spec.required[0],)
    amount_col = "quota_amount" if table == "quotas" else "amount"
    indexed = frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    indexed = indexed.with_columns(
        pl.coalesce([pl.col(c) for c in key_cols]).alias("__id__"),
        (pl.col(amount_col) if amount_col in frame.columns else pl.lit(None)).alias("__amount__"),
    )
    parts = []
    for rule_id, group in failed.group_by("rule"):
        rule = RULES[str(rule_id[0])]
        rows = indexed.join(group.select(ROW), on=ROW, how="semi")
        parts.append(
            rows.select(
                pl.col(ROW),
                pl.lit(rule.id).alias("rule"),
                pl.lit(rule.severity).alias("severity"),
                rule.message().alias("message"),
            )
        )
    findings = pl.concat(parts).sort([ROW, "rule"]) if parts else _EMPTY.clone()
    return Verdicts(frame.height, findings)
