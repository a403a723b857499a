"""The baseline a careful analyst would write: pandas read_csv + pandera on pandas.

It applies the same row rules as ``schemas/`` (errors and warnings, lazily) to the generated
opportunity and activity files, so the comparison is like for like.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa


def _opportunity_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "opportunity_id": pa.Column(
                str, nullable=True, unique=True, report_duplicates="exclude_first"
            ),
            "owner": pa.Column(str, nullable=True),
            "stage": pa.Column(str, nullable=False),
            "amount": pa.Column(float, pa.Check.ge(0), nullable=True, coerce=True),
            "created_date": pa.Column("datetime64[ns]", nullable=True, coerce=True),
            "close_date": pa.Column("datetime64[ns]", nullable=True, coerce=True),
            "probability": pa.Column(float, pa.Check.in_range(0, 100), nullable=True, coerce=True),
        },
        checks=[
            pa.Check(
                lambda df: ~(df["close_date"] < df["created_date"]), name="close_before_created"
            ),
            pa.Check(
                lambda df: (
                    ~(df["is_closed"].astype(str).str.lower().eq("true") & df["close_date"].isna())
                ),
                name="closed_without_close_date",
            ),
            pa.Check(lambda df: df["created_date"].notna(), name="missing_created_date"),
            pa.Check(lambda df: df["amount"].notna(), name="missing_amount"),
        ],
        strict=False,
    )


def _activity_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "activity_id": pa.Column(
                str, nullable=True, unique=True, report_duplicates="exclude_first"
            ),
            "owner": pa.Column(str, nullable=True),
            "activity_type": pa.Column(
                str, pa.Check.isin(["call", "email", "meeting", "demo", "other"])
            ),
            "activity_date": pa.Column("datetime64[ns]", nullable=False, coerce=True),
            "duration_minutes": pa.Column(float, pa.Check.ge(0), nullable=True, coerce=True),
            "discovery_score": pa.Column(
                float, pa.Check.in_range(0, 5), nullable=True, coerce=True
            ),
        },
        strict=False,
    )


def validate_with_pandas(path: str) -> int:
    """Read and validate one generated file; returns the number of failure cases."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    schema = _opportunity_schema() if "opportunity_id" in df.columns[:1] else _activity_schema()
    try:
        schema.validate(df, lazy=True)
        return 0
    except pa.errors.SchemaErrors as exc:
        return len(exc.failure_cases)
