"""CSV export that a spreadsheet cannot execute.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (CSV injection). Every text cell (and every
header) that starts with one of those characters is prefixed with ``'``, which spreadsheets
show as text. Numbers stay numbers: numeric columns are untouched, and a text cell that is a
plain number such as ``-1200`` or ``-12.5`` is left as it is, because a spreadsheet reads it as
that number and nothing else.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def safe_cell(value: Any) -> Any:
    """The value, with ``'`` in front when it is text a spreadsheet would run as a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_START) and not PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def to_pandas(frame: pd.DataFrame | pl.DataFrame | pa.Table) -> pd.DataFrame:
    """Any of the frame types the engine returns, as pandas."""
    if isinstance(frame, pl.DataFrame):
        return frame.to_pandas()
    if isinstance(frame, pa.Table):
        return frame.to_pandas()
    return frame


def safe_frame(frame: pd.DataFrame | pl.DataFrame | pa.Table) -> pd.DataFrame:
    """A copy whose text cells and headers cannot execute as spreadsheet formulas."""
    df = to_pandas(frame).copy()
    df.columns = [safe_cell(str(c)) for c in df.columns]
    for col in df.columns:
        series = df[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_datetime64_any_dtype(series):
            continue
        df[col] = series.map(_safe_nested, na_action="ignore").astype(object)
    return df


def _safe_nested(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return safe_cell("; ".join(str(v) for v in value))
    if hasattr(value, "tolist") and not isinstance(value, str):
        items = value.tolist()
        if isinstance(items, list):
            return safe_cell("; ".join(str(v) for v in items))
    return safe_cell(value)


def to_csv_bytes(frame: pd.DataFrame | pl.DataFrame | pa.Table) -> bytes:
    """CSV bytes (UTF-8 with a byte-order mark, so Excel reads accents) safe to open."""
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")


_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str, limit: int = 80) -> str:
    """A download's file name from a label that may hold a user's file name: letters, digits,
    dot, dash and underscore only (no path, no markup), never empty."""
    cleaned = _FILE_NAME_UNSAFE.sub("_", name).strip("._")[:limit]
    return cleaned or "download"
