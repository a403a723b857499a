"""Why schemas/ validates with pandera's polars backend: the measurement.

Validates the same typed opportunities frame with the project's pandera model
(``schemas.models.Opportunities``, polars backend) and with the same rules written as a
pandera model on pandas, lazily, in fresh processes. The rules are the section-3 row rules
the workbench applies (errors and warnings), so both do the same work.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _frame(rows: int):  # type: ignore[no-untyped-def]
    import datetime as dt

    import numpy as np
    import polars as pl

    from schemas.rules import AS_OF, OPP_KNOWN, PARSE_ERRORS, SEEN_BEFORE, STAGE_KNOWN

    rng = np.random.default_rng(7)

    def rare() -> np.ndarray:
        return rng.random(rows) < 0.001

    created = pl.Series(rng.integers(0, 700, rows)).cast(pl.Int32)
    epoch_days = (dt.date(2025, 1, 1) - dt.date(1970, 1, 1)).days
    stages = np.array(["opportunity", "proposal", "closed_won", "closed_lost"])
    canon = stages[rng.integers(0, 4, rows)]
    closed = np.isin(canon, ["closed_won", "closed_lost"])
    amount = rng.lognormal(10, 1, rows)
    amount[rare()] *= -1
    return pl.DataFrame(
        {
            # about 0.1% of rows break each rule, as in a real export
            "opportunity_id": [f"O{i}" for i in np.where(rare(), 0, np.arange(rows))],
            "owner": np.where(rare(), "", rng.choice(["Ann", "Bob", "Cy"], rows)),
            "stage": canon,
            "amount": amount,
            "created_date": (created + epoch_days).cast(pl.Date),
            "close_date": (created + epoch_days + 30).cast(pl.Date),
            "probability": np.where(rare(), 150.0, rng.uniform(0, 100, rows)),
            "is_closed": closed,
            "is_won": canon == "closed_won",
            "stage_canonical": canon,
            PARSE_ERRORS: [[] for _ in range(rows)],
            STAGE_KNOWN: ~rare(),
            OPP_KNOWN: [None] * rows,
            AS_OF: [dt.date(2026, 6, 1)] * rows,
            SEEN_BEFORE: [False] * rows,
        },
        schema_overrides={PARSE_ERRORS: pl.List(pl.Utf8), OPP_KNOWN: pl.Boolean},
    )


def _pandas_model():  # type: ignore[no-untyped-def]
    import pandas as pd
    import pandera.pandas as pa

    def ok(series: pd.Series) -> pd.Series:
        return series.fillna(True).astype(bool)

    checks = [
        pa.Check(lambda d: ok(d["opportunity_id"].notna()), name="empty_id"),
        pa.Check(lambda d: ~d["opportunity_id"].duplicated(), name="duplicate_id"),
        pa.Check(lambda d: ok(~(d["amount"] < 0)), name="negative_amount"),
        pa.Check(lambda d: ok(d["probability"].between(0, 100)), name="probability"),
        pa.Check(lambda d: ~(d["is_closed"] & d["close_date"].isna()), name="closed_no_date"),
        pa.Check(lambda d: ok(~(d["close_date"] < d["created_date"])), name="close_before"),
        pa.Check(lambda d: d["created_date"].notna(), name="missing_created_date"),
        pa.Check(lambda d: d["amount"].notna(), name="missing_amount"),
        pa.Check(lambda d: d["is_closed"] | d["close_date"].notna(), name="open_no_date"),
        pa.Check(lambda d: d["is_closed"] | ~(d["close_date"] < d["_as_of"]), name="slipped"),
        pa.Check(lambda d: d["_stage_known"], name="unknown_stage"),
        pa.Check(lambda d: d["owner"].fillna("").str.strip() != "", name="missing_owner"),
        pa.Check(
            lambda d: ~((d["stage_canonical"] == "proposal") & (d["amount"] == 0)),
            name="zero_amount_proposal",
        ),
    ]
    return pa.DataFrameSchema(checks=checks, strict=False)


def _child(backend: str, rows: int) -> float:
    frame = _frame(rows)
    if backend == "polars":
        import pandera.errors

        from schemas.models import Opportunities

        t0 = time.perf_counter()
        try:
            Opportunities.validate(frame, lazy=True)
        except pandera.errors.SchemaErrors:
            pass
        return time.perf_counter() - t0
    import pandera.errors

    pdf = frame.to_pandas()
    schema = _pandas_model()
    t0 = time.perf_counter()
    try:
        schema.validate(pdf, lazy=True)
    except pandera.errors.SchemaErrors:
        pass
    return time.perf_counter() - t0


def run(rows: int = 1_000_000, repeat: int = 3) -> str:
    times: dict[str, list[float]] = {"polars": [], "pandas": []}
    for _ in range(repeat):
        for backend in times:
            cmd = [sys.executable, "-m", "benchmarks.backends", "--child", backend, str(rows)]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            times[backend].append(json.loads(out.stdout.strip().splitlines()[-1]))
    pol, pan = statistics.median(times["polars"]), statistics.median(times["pandas"])
    return "\n".join(
        [
            "## pandera backend (validation only, opportunities rules)",
            "",
            "| rows | pandera on polars (used) | pandera on pandas | polars / pandas |",
            "|---|---|---|---|",
            f"| {rows:,} | {pol:.2f} s | {pan:.2f} s | {pol / pan:.2f}x |",
            "",
            "The ibis (in-DuckDB) backend was not adopted: it ignores `coerce` and "
            "`Field(unique=True)`, and one polars model per table serves both load paths (a "
            "small file validated in memory, a large CSV typed in DuckDB and handed to the "
            "model in slices).",
        ]
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
