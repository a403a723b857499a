"""engine.core.typeparse: one format per column, failures flagged rather than guessed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from engine.core.typeparse import ParseResult, parse_column
from engine.load.ingest import read_file

CORPUS = Path(__file__).parent / "bad_inputs"
D = dt.date
T = dt.datetime


def parse(values: Sequence[str | None], kind: str, hint: str | None = None) -> ParseResult:
    return parse_column(pl.Series("c", values, dtype=pl.String), kind, hint)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-15", D(2024, 3, 15)),
        ("2024-3-5", D(2024, 3, 5)),
        ("2024-03-15 14:30:00", D(2024, 3, 15)),
        ("2024-03-15T14:30:00", D(2024, 3, 15)),
        ("2024-03-15T14:30:00.250Z", D(2024, 3, 15)),
        ("2024/03/15", D(2024, 3, 15)),
    ],
)
def test_iso_dates(text: str, expected: dt.date) -> None:
    r = parse([text, "2024-01-01"], "date")
    assert r.values.to_list() == [expected, D(2024, 1, 1)]
    assert r.values.dtype == pl.Date
    assert r.fmt is not None and r.fmt.startswith("%Y")
    assert r.failed.to_list() == [False, False]
    assert r.note is None


def test_us_dates_month_first() -> None:
    r = parse(["03/15/2024", "3/5/2024", "12/31/24", None], "date")
    assert r.values.to_list() == [D(2024, 3, 15), D(2024, 3, 5), D(2024, 12, 31), None]
    assert r.fmt == "%m/%d/%Y"
    assert r.note is None
    assert r.failed.to_list() == [False, False, False, False]


@pytest.mark.parametrize("sep", ["/", "-", "."])
def test_day_first_dates_with_note(sep: str) -> None:
    r = parse([f"15{sep}03{sep}2024", f"05{sep}03{sep}2024", f"31{sep}12{sep}2023"], "date")
    assert r.values.to_list() == [D(2024, 3, 15), D(2024, 3, 5), D(2023, 12, 31)]
    assert r.note == "dates read as day-first (DD/MM/YYYY)"
    assert r.fmt == f"%d{sep}%m{sep}%Y"


def test_day_first_with_time() -> None:
    r = parse(["15-03-2024 14:30", "01-04-2024 09:05"], "timestamp")
    assert r.values.to_list() == [T(2024, 3, 15, 14, 30), T(2024, 4, 1, 9, 5)]
    assert r.values.dtype == pl.Datetime("us")


def test_ambiguous_column_reads_month_first_and_says_so() -> None:
    r = parse(["01/02/2024", "03/04/2024", "12/11/2024"], "date")
    assert r.values.to_list() == [D(2024, 1, 2), D(2024, 3, 4), D(2024, 12, 11)]
    assert r.note is not None
    assert "ambiguous" in r.note and "month-first" in r.note


def test_format_is_per_column_and_misfits_fail() -> None:
    # 3 values fit day-first only, 1 fits month-first only: day-first wins, the other fails.
    r = parse(["13/01/2024", "14/02/2024", "25/12/2024", "01/31/2024", "02/03/2024"], "date")
    assert r.values.to_list() == [
        D(2024, 1, 13),
        D(2024, 2, 14),
        D(2024, 12, 25),
        None,
        D(2024, 3, 2),
    ]
    assert r.failed.to_list() == [False, False, False, True, False]


def test_hint_overrides_the_guess() -> None:
    r = parse(["01/02/2024", "03/04/2024"], "date", hint="day-first")
    assert r.values.to_list() == [D(2024, 2, 1), D(2024, 4, 3)]
    assert r.note is None
    r = parse(["01/02/2024"], "date", hint="%d/%m/%Y")
    assert r.values.to_list() == [D(2024, 2, 1)]


def test_two_digit_years_pivot() -> None:
    r = parse(["1/5/24", "1/5/68", "1/5/69", "1/5/99"], "date")
    assert r.values.to_list() == [D(2024, 1, 5), D(2068, 1, 5), D(1969, 1, 5), D(1999, 1, 5)]


def test_month_names() -> None:
    r = parse(["15-Mar-2024", "Mar 15, 2024", "5 January 2024", "Sept 9, 2024"], "date")
    assert r.values.to_list() == [D(2024, 3, 15), D(2024, 3, 15), D(2024, 1, 5), D(2024, 9, 9)]


def test_invalid_dates_are_flagged_not_raised() -> None:
    r = parse(
        ["2024-02-30", "2023-02-29", "2024-02-29", "next quarter", "", None, "2024-13-01"], "date"
    )
    assert r.values.to_list() == [None, None, D(2024, 2, 29), None, None, None, None]
    assert r.failed.to_list() == [True, True, False, True, False, False, True]
    assert r.n_failed == 4


def test_timestamps_keep_time_and_convert_offsets_to_utc() -> None:
    r = parse(
        [
            "2024-03-15T14:30:00Z",
            "2024-03-15T14:30:00.123456+02:00",
            "2024-03-15T10:00:00.000+0000",
            "2024-03-15 08:00",
            "2024-03-15",
            "2024-03-15 25:00:00",
        ],
        "timestamp",
    )
    assert r.values.to_list() == [
        T(2024, 3, 15, 14, 30),
        T(2024, 3, 15, 12, 30, 0, 123456),
        T(2024, 3, 15, 10, 0),
        T(2024, 3, 15, 8, 0),
        T(2024, 3, 15, 0, 0),
        None,
    ]
    assert r.failed.to_list() == [False] * 5 + [True]
    assert r.note == "times with a UTC offset were converted to UTC"
    assert r.fmt == "%Y-%m-%d %H:%M:%S"


def test_twelve_hour_clock() -> None:
    r = parse(
        ["3/15/2024 2:30 PM", "3/15/2024 12:05 AM", "3/15/2024 12:00 pm", "3/15/2024 13:05 PM"],
        "timestamp",
    )
    assert r.values.to_list() == [
        T(2024, 3, 15, 14, 30),
        T(2024, 3, 15, 0, 5),
        T(2024, 3, 15, 12, 0),
        None,
    ]


def test_date_kind_given_datetimes_keeps_the_date_part() -> None:
    r = parse(["3/15/2024 11:59 PM", "4/1/2024 08:00"], "date")
    assert r.values.to_list() == [D(2024, 3, 15), D(2024, 4, 1)]


def test_many_rows_use_distinct_values_and_stay_right() -> None:
    base = ["13/01/2024", "02/03/2024", None, "bad"]
    r = parse(base * 5000, "date")
    assert r.values.len() == 20000
    assert r.values.to_list()[:4] == [D(2024, 1, 13), D(2024, 3, 2), None, None]
    assert r.n_failed == 5000


def test_rare_disambiguating_value_beyond_the_sample() -> None:
    # 60,000 distinct ambiguous timestamps, then one day-first-only value at the end.
    values = [
        f"{d:02d}/{m:02d}/2024 {h:02d}:{mi:02d}"
        for d in range(1, 13)
        for m in range(1, 13)
        for h in range(24)
        for mi in range(0, 60, 10)
    ]
    values = values * 2 + ["25/12/2024 10:00"]
    r = parse(values, "timestamp")
    assert r.values[-1] == T(2024, 12, 25, 10, 0)
    assert r.n_failed == 0
    assert r.values[0] == T(2024, 1, 1, 0, 0)


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12500", 12500.0),
        ("12,500.00", 12500.0),
        ("$12,500.00", 12500.0),
        ("USD 12500", 12500.0),
        ("12500 EUR", 12500.0),
        ("12 500", 12500.0),
        ("12\u00a0500,50", 12500.5),
        ("(1,200)", -1200.0),
        ("($1,200.50)", -1200.5),
        ("-1200", -1200.0),
        ("-$1,200", -1200.0),
        ("$-1,200", -1200.0),
        ("1200-", -1200.0),
        ("+5", 5.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1.5e3", 1500.0),
        ("£1,234,567.89", 1234567.89),
    ],
)
def test_amount_forms(text: str, expected: float) -> None:
    r = parse([text, "100"], "amount")
    assert r.values.to_list() == [pytest.approx(expected), 100.0]
    assert r.failed.to_list() == [False, False]
    assert r.values.dtype == pl.Float64


@pytest.mark.parametrize(
    "text", ["1.2k", "TBD", "75%", "--5", "(-5)", "12,34,5", "1,2345.00", "$", "USD", "12 34", "1e"]
)
def test_amount_failures(text: str) -> None:
    r = parse([text, "100", None], "amount")
    assert r.values.to_list() == [None, 100.0, None]
    assert r.failed.to_list() == [True, False, False]


def test_european_decimal_comma_column() -> None:
    r = parse(["€1.234,56", "1.234", "12,5", "100", "2.000.000"], "amount")
    assert r.values.to_list() == [1234.56, 1234.0, 12.5, 100.0, 2000000.0]
    assert r.note is not None and "decimal comma" in r.note
    assert r.fmt == "1.234,56"


def test_decimal_point_column_rejects_european_values() -> None:
    r = parse(["1,234.56", "99.5", "1.234,56"], "amount")
    assert r.values.to_list() == [1234.56, 99.5, None]
    assert r.failed.to_list() == [False, False, True]
    assert r.note is None


def test_ambiguous_thousands_dot_gets_a_note_and_a_hint_fixes_it() -> None:
    r = parse(["1.500", "2.000"], "amount")
    assert r.values.to_list() == [1.5, 2.0]
    assert r.note is not None and "ambiguous" in r.note
    r = parse(["1.500", "2.000"], "amount", hint="decimal-comma")
    assert r.values.to_list() == [1500.0, 2000.0]


def test_number_kind_accepts_percent() -> None:
    r = parse(["75%", "10 %", "0.5", "100", "abc"], "number")
    assert r.values.to_list() == [75.0, 10.0, 0.5, 100.0, None]
    assert r.failed.to_list() == [False, False, False, False, True]


# --------------------------------------------------------------------------- bools and text


def test_bools() -> None:
    values = [
        "true",
        "FALSE",
        "Yes",
        "no",
        "Y",
        "n",
        "1",
        "0",
        "1.0",
        "0.0",
        "T",
        "f",
        "won",
        "",
        None,
    ]
    r = parse(values, "bool")
    assert r.values.to_list() == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        None,
        None,
        None,
    ]
    assert r.failed.to_list() == [False] * 12 + [True, False, False]
    assert r.values.dtype == pl.Boolean


def test_text_is_trimmed_and_na_kept() -> None:
    r = parse(["  Ana ", "NA", "", None, "N/A"], "text")
    assert r.values.to_list() == ["Ana", "NA", None, None, "N/A"]
    assert r.failed.to_list() == [False] * 5


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        parse(["x"], "money")


# --------------------------------------------------------------------------- with the corpus


def test_corpus_unparseable_values_are_flagged() -> None:
    raw = read_file((CORPUS / "unparseable_dates_amounts.csv").read_bytes(), "u.csv")
    frame = pl.from_arrow(raw.table)
    assert isinstance(frame, pl.DataFrame)
    amount = parse_column(frame["Amount"], "amount")
    close = parse_column(frame["Close Date"], "date")
    created = parse_column(frame["Created Date"], "date")
    lines = pl.Series(raw.lines)
    assert lines.filter(amount.failed).to_list() == [6, 7]
    assert lines.filter(close.failed).to_list() == [8, 9]
    assert lines.filter(created.failed).to_list() == [10]


def test_corpus_semicolon_file_amounts_use_decimal_comma() -> None:
    raw = read_file((CORPUS / "wrong_delimiter.csv").read_bytes(), "w.csv")
    frame = pl.from_arrow(raw.table)
    assert isinstance(frame, pl.DataFrame)
    amount = parse_column(frame["Amount"], "amount")
    assert amount.values[-1] == 12500.5
    assert amount.n_failed == 0


def test_corpus_negative_amounts_parse_negative() -> None:
    raw = read_file((CORPUS / "negative_amounts.csv").read_bytes(), "n.csv")
    frame = pl.from_arrow(raw.table)
    assert isinstance(frame, pl.DataFrame)
    amount = parse_column(frame["Amount"], "amount")
    assert amount.values.to_list()[-2:] == [-5000.0, -1200.0]


def test_corpus_fifty_columns_us_dates() -> None:
    raw = read_file((CORPUS / "fifty_columns.csv").read_bytes(), "f.csv")
    frame = pl.from_arrow(raw.table)
    assert isinstance(frame, pl.DataFrame)
    close = parse_column(frame["Close Date"], "date")
    assert close.n_failed == 0
    assert close.fmt == "%m/%d/%Y"
    assert all(d.year == 2024 for d in close.values.to_list())
