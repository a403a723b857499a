"""CSV exports cannot run as spreadsheet formulas, and numbers stay numbers."""

from __future__ import annotations

import io

import pandas as pd
import polars as pl

from engine.core.export import safe_cell, to_csv_bytes


def test_formula_starts_are_prefixed() -> None:
    for cell in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("x")'):
        assert safe_cell(cell) == "'" + cell


def test_plain_text_and_negative_number_text_unchanged() -> None:
    assert safe_cell("Acme") == "Acme"
    assert safe_cell("-1200") == "-1200"
    assert safe_cell("-12.5") == "-12.5"
    assert safe_cell(-1200.0) == -1200.0
    assert safe_cell(None) is None


def test_csv_bytes_keep_numeric_columns_numeric() -> None:
    frame = pd.DataFrame(
        {"name": ["=cmd|' /C calc'!A0", "ok"], "amount": [-1200.5, 300.0], "n": [1, -2]}
    )
    data = to_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert back["name"].tolist() == ["'=cmd|' /C calc'!A0", "ok"]
    assert back["amount"].tolist() == [-1200.5, 300.0]
    assert back["n"].tolist() == [1, -2]


def test_headers_and_polars_frames_are_sanitised() -> None:
    frame = pl.DataFrame({"=evil": ["@x"], "ok": ["fine"]})
    text = to_csv_bytes(frame).decode("utf-8-sig").splitlines()
    assert text == ["'=evil,ok", "'@x,fine"]
