"""engine.load.ingest: bytes in, a table of strings out, with nothing dropped silently."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.errors import InputError, LimitExceeded
from engine.load.ingest import Limits, RawTable, read_file

CORPUS = Path(__file__).parent / "bad_inputs"


def rows(raw: RawTable) -> list[dict[str, str | None]]:
    return raw.table.to_pylist()


def col(raw: RawTable, name: str) -> list[str | None]:
    return raw.table.column(name).to_pylist()


# --------------------------------------------------------------------------- delimiters


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_every_delimiter_is_detected(delim: str) -> None:
    text = delim.join(["id", "owner", "amount"]) + "\n"
    text += delim.join(["1", "Ana", "12,5" if delim != "," else "12.5"]) + "\n"
    text += delim.join(["2", "Ben", "7"]) + "\n"
    raw = read_file(text.encode(), "x.csv")
    assert raw.delimiter == delim
    assert raw.headers == ["id", "owner", "amount"]
    assert col(raw, "owner") == ["Ana", "Ben"]
    assert raw.lines == [2, 3]


def test_semicolon_file_with_decimal_commas_is_not_read_as_comma_separated() -> None:
    text = "id;amount;stage\n1;1.234,50;Won\n2;99,90;Lost\n3;5;Open\n"
    raw = read_file(text.encode(), "x.csv")
    assert raw.delimiter == ";"
    assert col(raw, "amount") == ["1.234,50", "99,90", "5"]
    assert any("semicolon" in n for n in raw.notes)


def test_quoted_delimiters_do_not_confuse_detection() -> None:
    text = 'id,name\n1,"Smith; Jones; Co"\n2,"A; B"\n'
    raw = read_file(text.encode(), "x.csv")
    assert raw.delimiter == ","
    assert col(raw, "name") == ["Smith; Jones; Co", "A; B"]


# --------------------------------------------------------------------------- encodings


def test_utf8_with_bom_strips_bom_from_first_header() -> None:
    raw = read_file(codecs.BOM_UTF8 + "id,name\n1,Zoë\n".encode(), "x.csv")
    assert raw.encoding == "utf-8-sig"
    assert raw.headers == ["id", "name"]
    assert col(raw, "name") == ["Zoë"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec: str) -> None:
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    data = bom + "id\tname\r\n1\tJosé\r\n2\t北京\r\n".encode(codec)
    raw = read_file(data, "x.csv")
    assert raw.encoding == "utf-16"
    assert raw.delimiter == "\t"
    assert col(raw, "name") == ["José", "北京"]
    assert raw.lines == [2, 3]


def test_cp1252_fallback_with_note() -> None:
    raw = read_file("id,name\n1,Müller – Café\n".encode("cp1252"), "x.csv")
    assert raw.encoding == "cp1252"
    assert col(raw, "name") == ["Müller – Café"]
    assert "Read as cp1252 because the file is not valid UTF-8." in raw.notes


def test_mixed_utf8_and_cp1252_bytes_each_decode_correctly() -> None:
    raw = read_file((CORPUS / "mixed_encodings.csv").read_bytes(), "mixed_encodings.csv")
    assert raw.encoding == "utf-8+cp1252"
    assert col(raw, "Account Name") == [
        "Société Générale",
        "Müller GmbH",
        "Zoë Café",
        "Señor Frío",
    ]


# --------------------------------------------------------------------------- lines and quoting


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_endings(eol: str) -> None:
    data = eol.join(["id,v", "1,a", "2,b", ""]).encode()
    raw = read_file(data, "x.csv")
    assert rows(raw) == [{"id": "1", "v": "a"}, {"id": "2", "v": "b"}]
    assert raw.lines == [2, 3]


def test_mixed_line_endings_file() -> None:
    raw = read_file((CORPUS / "mixed_line_endings.csv").read_bytes(), "m.csv")
    assert raw.num_rows == 4
    assert raw.lines == [2, 3, 4, 5]
    assert col(raw, "Created Date")[-1] == "2024-02-01"
    assert any("line endings" in n for n in raw.notes)


def test_embedded_newlines_keep_physical_line_numbers() -> None:
    text = (
        "id,notes,amount\n"  # line 1
        '1,"first\nsecond\nthird",10\n'  # lines 2-4
        '2,"say ""hi""",20\n'  # line 5
        "\n"  # line 6, blank
        '3,"a\r\nb",30\n'  # lines 7-8
        "4,plain,40\n"  # line 9
    )
    raw = read_file(text.encode(), "x.csv")
    assert col(raw, "notes") == ["first\nsecond\nthird", 'say "hi"', "a\nb", "plain"]
    assert raw.lines == [2, 5, 7, 9]
    assert "Skipped 1 blank line(s)." in raw.notes


def test_blank_lines_do_not_shift_line_numbers() -> None:
    raw = read_file(b"\n\nid,v\n1,a\n\n\n2,b\n", "x.csv")
    assert raw.lines == [4, 7]
    assert col(raw, "v") == ["a", "b"]


def test_unquoted_inch_marks_are_data() -> None:
    raw = read_file(b'id,product\n1,27" monitor\n2,"quoted"\n3,x\n', "x.csv")
    assert col(raw, "product") == ['27" monitor', "quoted", "x"]
    assert raw.lines == [2, 3, 4]


def test_unclosed_quote_is_reported() -> None:
    raw = read_file(b'id,v\n1,a\n2,"broken\n3,c\n4,d\n', "x.csv")
    assert raw.num_rows == 2
    assert raw.lines == [2, 3]
    assert any("never closes" in n and "line 3" in n for n in raw.notes)


# --------------------------------------------------------------------------- cells and headers


def test_only_empty_cells_are_null_and_na_is_data() -> None:
    text = 'region,a,b,c,d,e\nNA,N/A,null,None,  ,\n  EMEA  ,NaN,-,0,"",x\n'
    raw = read_file(text.encode(), "x.csv")
    assert rows(raw) == [
        {"region": "NA", "a": "N/A", "b": "null", "c": "None", "d": None, "e": None},
        {"region": "EMEA", "a": "NaN", "b": "-", "c": "0", "d": None, "e": "x"},
    ]
    assert all(f.type == pa.string() for f in raw.table.schema)


def test_headers_are_stripped_made_unique_and_named() -> None:
    raw = read_file(b" Amount ,Amount,,Stage,Amount, \n1,2,3,4,5,6\n", "x.csv")
    assert raw.headers == ["Amount", "Amount (2)", "column_3", "Stage", "Amount (3)", "column_6"]
    assert raw.table.column_names == raw.headers
    assert rows(raw)[0]["Amount (3)"] == "5"


def test_ragged_rows_are_padded_or_set_aside_never_dropped() -> None:
    raw = read_file((CORPUS / "ragged_rows.csv").read_bytes(), "ragged_rows.csv")
    # 8 data records: 7 in the table, 1 with too many fields set aside.
    assert raw.num_rows == 7
    assert raw.records == 8
    assert raw.lines == [2, 3, 4, 5, 7, 8, 9]
    assert [line for line, _ in raw.ragged_rows] == [5, 7]
    short = rows(raw)[3]
    assert short["Opportunity ID"] == "006A00100"
    assert short["Amount"] is None and short["Created Date"] is None
    assert len(raw.bad_rows) == 1
    line, excerpt, reason = raw.bad_rows[0]
    assert line == 6
    assert excerpt.endswith("unexpected,extra")
    assert "8 fields" in reason and "6 columns" in reason


def test_ragged_rows_after_quoted_newlines_keep_line_numbers() -> None:
    raw = read_file(b'id,v,w\n1,"x\ny",z\n2\n3,a,b,c\n4,a,b\n', "x.csv")
    assert raw.lines == [2, 4, 6]
    assert raw.ragged_rows == [(4, "1 of 3 fields; the missing 2 were left empty")]
    assert [b[0] for b in raw.bad_rows] == [5]


def test_header_only_gives_zero_rows() -> None:
    raw = read_file((CORPUS / "header_only.csv").read_bytes(), "header_only.csv")
    assert raw.num_rows == 0
    assert raw.headers[0] == "Opportunity ID"
    assert len(raw.headers) == 6
    assert raw.lines == []


def test_fifty_column_export() -> None:
    raw = read_file((CORPUS / "fifty_columns.csv").read_bytes(), "fifty_columns.csv")
    assert raw.num_rows == 30
    assert len(raw.headers) == 50
    assert raw.headers.index("Opportunity ID") == 44
    assert raw.headers.index("Opportunity Owner") == 3
    assert col(raw, "Lead Source")[4] == "NA"
    assert raw.lines == list(range(2, 32))


@pytest.mark.parametrize(
    "name",
    [
        "wrong_delimiter.csv",
        "missing_required_column.csv",
        "duplicate_ids.csv",
        "unparseable_dates_amounts.csv",
        "negative_amounts.csv",
        "close_before_created.csv",
        "utf16_bom.csv",
    ],
)
def test_corpus_files_that_read(name: str) -> None:
    raw = read_file((CORPUS / name).read_bytes(), name)
    assert raw.num_rows > 0
    assert raw.headers[0] == "Opportunity ID"
    assert raw.lines == list(range(2, raw.num_rows + 2))
    assert raw.bad_rows == []


def test_corpus_specific_values() -> None:
    wrong = read_file((CORPUS / "wrong_delimiter.csv").read_bytes(), "w.csv")
    assert col(wrong, "Amount")[-1] == "12500,50"
    utf16 = read_file((CORPUS / "utf16_bom.csv").read_bytes(), "u.csv")
    assert "Ána Silva" in col(utf16, "Opportunity Owner")
    neg = read_file((CORPUS / "negative_amounts.csv").read_bytes(), "n.csv")
    assert col(neg, "Amount")[-2:] == ["-5000", "(1,200)"]


# --------------------------------------------------------------------------- unusable input


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "The file is empty"),
        ("binary_junk.csv", "This looks like a binary file, not a CSV"),
        ("truncated.xlsx", "damaged or incomplete"),
    ],
)
def test_unusable_corpus_files_raise_input_error(name: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        read_file((CORPUS / name).read_bytes(), name)
    assert message in info.value.message
    assert not isinstance(info.value, LimitExceeded)


def test_whitespace_only_file_is_empty() -> None:
    with pytest.raises(InputError, match="empty"):
        read_file(b"  \r\n\n \n", "x.csv")


def test_stray_nul_bytes_are_removed_with_a_note() -> None:
    raw = read_file((CORPUS / "nul_bytes.csv").read_bytes(), "nul_bytes.csv")
    assert raw.num_rows == 6
    assert "Pro\x00posal" not in col(raw, "Stage")
    assert "Proposal" in col(raw, "Stage")
    assert "Removed 2 NUL byte(s) from the file (they are not text)." in raw.notes


def test_zip_that_is_not_a_workbook() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export.csv", "id\n1\n")
    with pytest.raises(InputError, match="ZIP archive.*export.csv"):
        read_file(buf.getvalue(), "export.zip")


def test_html_saved_as_xls() -> None:
    with pytest.raises(InputError, match="web page"):
        read_file(b"<html><table><tr><td>id</td></tr></table></html>", "report.xls")


def test_csv_named_xlsx_reads_as_csv_with_note() -> None:
    raw = read_file(b"id,v\n1,a\n", "report.xlsx")
    assert raw.format == "csv"
    assert rows(raw) == [{"id": "1", "v": "a"}]
    assert any("Excel name" in n for n in raw.notes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2048),
        st.binary(max_size=512).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=512).map(lambda b: b"PAR1" + b),
        st.binary(max_size=512).map(lambda b: codecs.BOM_UTF16_LE + b),
        st.text(max_size=400).map(lambda t: t.encode("utf-8")),
    ),
    st.sampled_from(["x.csv", "x.xlsx", "x.parquet", "x.xls", "x"]),
)
def test_random_bytes_give_a_table_or_input_error(data: bytes, name: str) -> None:
    try:
        raw = read_file(data, name)
    except InputError:
        return
    assert raw.table.num_columns == len(raw.headers)
    assert len(raw.lines) == raw.num_rows
    assert all(
        pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in raw.table.schema
    )


# --------------------------------------------------------------------------- XLSX


def _xlsx(build: object) -> bytes:
    wb = openpyxl.Workbook()
    build(wb)  # type: ignore[operator]
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_first_non_empty_sheet_and_cell_conversion() -> None:
    def build(wb: openpyxl.Workbook) -> None:
        wb.active.title = "Cover"
        ws = wb.create_sheet("Deals")
        ws["B3"], ws["C3"], ws["D3"], ws["E3"], ws["F3"], ws["G3"] = (
            "Opportunity ID",
            "Close Date",
            "Amount",
            "Won",
            "Created",
            "Region",
        )
        ws.append([])
        ws["B4"], ws["C4"], ws["D4"], ws["E4"] = "006X1", dt.date(2024, 3, 15), 12500.0, True
        ws["F4"], ws["G4"] = dt.datetime(2024, 1, 2, 9, 30, 5), "NA"
        ws["B6"], ws["C6"], ws["D6"], ws["E6"] = 42, dt.date(2024, 4, 1), 99.95, False

    raw = read_file(_xlsx(build), "deals.xlsx")
    assert raw.format == "xlsx"
    assert raw.sheet == "Deals"
    assert any("'Deals'" in n for n in raw.notes)
    assert raw.headers == ["Opportunity ID", "Close Date", "Amount", "Won", "Created", "Region"]
    assert rows(raw) == [
        {
            "Opportunity ID": "006X1",
            "Close Date": "2024-03-15",
            "Amount": "12500",
            "Won": "true",
            "Created": "2024-01-02 09:30:05",
            "Region": "NA",
        },
        {
            "Opportunity ID": "42",
            "Close Date": "2024-04-01",
            "Amount": "99.95",
            "Won": "false",
            "Created": None,
            "Region": None,
        },
    ]
    # Sheet rows: header on row 3, data on rows 4 and 6 (row 5 is empty).
    assert raw.lines == [4, 6]


def test_xlsx_empty_workbook() -> None:
    with pytest.raises(InputError, match="workbook is empty"):
        read_file(_xlsx(lambda wb: None), "empty.xlsx")


def test_xlsx_zip_bomb_is_refused_before_decompressing() -> None:
    # A member declaring 2 GB: the limit is checked from the zip directory alone.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"<a/>")
    data = bytearray(buf.getvalue())
    # Patch the declared uncompressed size of the sheet in the central directory.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (2 * 1024**3 - 1).to_bytes(4, "little")
    with pytest.raises(LimitExceeded) as info:
        read_file(bytes(data), "bomb.xlsx")
    assert "WORKBENCH_MAX_UNPACKED_MB" in info.value.message
    assert "1000 MB" in info.value.message


def test_xlsx_unpacked_limit_is_configurable() -> None:
    data = _xlsx(lambda wb: wb.active.append(["id"]))
    with pytest.raises(LimitExceeded, match="unpacks to"):
        read_file(data, "x.xlsx", Limits(max_unpacked_mb=0.0001))


# --------------------------------------------------------------------------- Parquet


def test_parquet_columns_become_strings() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "amount": pa.array([12500.0, 99.5, None]),
            "close": pa.array([dt.date(2024, 3, 15), None, dt.date(2024, 1, 1)]),
            "created": pa.array([dt.datetime(2024, 1, 2, 9, 30), None, None], pa.timestamp("us")),
            "won": pa.array([True, False, None]),
            "region": pa.array(["NA", "", "EMEA"]).dictionary_encode(),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    raw = read_file(buf.getvalue(), "deals.parquet")
    assert raw.format == "parquet"
    assert rows(raw) == [
        {
            "id": "1",
            "amount": "12500",
            "close": "2024-03-15",
            "created": "2024-01-02 09:30:00",
            "won": "true",
            "region": "NA",
        },
        {
            "id": "2",
            "amount": "99.5",
            "close": None,
            "created": None,
            "won": "false",
            "region": None,
        },
        {
            "id": "3",
            "amount": None,
            "close": "2024-01-01",
            "created": None,
            "won": None,
            "region": "EMEA",
        },
    ]
    assert raw.lines == [2, 3, 4]


def test_damaged_parquet() -> None:
    with pytest.raises(InputError, match="Parquet file is damaged"):
        read_file(b"PAR1" + b"\x00" * 50, "x.parquet")


# --------------------------------------------------------------------------- limits


def test_upload_limit() -> None:
    with pytest.raises(LimitExceeded, match="WORKBENCH_MAX_UPLOAD_MB"):
        read_file(b"id\n" + b"1\n" * 600_000, "x.csv", Limits(max_upload_mb=1))


def test_ten_megabyte_field_is_refused() -> None:
    data = b"id,notes\n1," + b"x" * (10 * 1024 * 1024) + b"\n"
    with pytest.raises(LimitExceeded) as info:
        read_file(data, "x.csv")
    assert "1 MB limit per field" in info.value.message
    assert "WORKBENCH_MAX_FIELD_MB" in info.value.message


def test_ten_megabyte_quoted_field_is_refused() -> None:
    data = b'id,notes\n1,"' + b"a,b\n" * (2 * 1024 * 1024) + b'"\n'
    with pytest.raises(LimitExceeded, match="limit per field"):
        read_file(data, "x.csv")


def test_ten_thousand_columns_refused_at_default() -> None:
    header = ",".join(f"c{i}" for i in range(10_000))
    with pytest.raises(LimitExceeded) as info:
        read_file((header + "\n" + "1," * 9_999 + "1\n").encode(), "x.csv")
    assert "10,000 columns" in info.value.message
    assert "WORKBENCH_MAX_COLUMNS" in info.value.message


def test_limits_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_MAX_COLUMNS", "3")
    monkeypatch.setenv("WORKBENCH_MAX_UPLOAD_MB", "5")
    limits = Limits()
    assert limits.max_columns == 3
    assert limits.max_upload_bytes == 5 * 1024 * 1024
    assert Limits(max_columns=2000).max_columns == 2000
    with pytest.raises(LimitExceeded, match="4 columns"):
        read_file(b"a,b,c,d\n1,2,3,4\n", "x.csv")
    monkeypatch.delenv("WORKBENCH_MAX_FIELD_MB", raising=False)
    monkeypatch.setenv("WORKBENCH_MAX_UNPACKED_MB", "not a number")
    assert Limits().max_field_mb == 1
    assert Limits().max_unpacked_mb == 1000
