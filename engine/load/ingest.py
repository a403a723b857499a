"""Read an uploaded file (CSV, XLSX/XLS or Parquet) into a table of strings.

``read_file`` is the first step of every upload: bytes in, a :class:`RawTable` out. Every column
is text; typing happens later (``engine.core.typeparse``) once the columns are mapped. The reader
works out the format, the text encoding and the delimiter by itself and records what it chose
in ``RawTable.notes`` so the user can see it.

Rules that the rest of the pipeline relies on:

- Only empty or whitespace-only cells are null. Text such as ``NA``, ``N/A``, ``null`` or
  ``None`` is data (a region called NA is a real region).
- Nothing is dropped silently: ``len(table) + len(bad_rows)`` equals the number of data
  records in the file. Rows with too few fields are padded with nulls (and listed in
  ``ragged_rows``); rows with too many fields go to ``bad_rows`` for the caller to quarantine.
  Blank lines are not records; how many were skipped is noted.
- ``lines`` holds the 1-based physical line on which each row starts (the header is line 1 of
  a typical file), correct for quoted fields that contain newlines. For spreadsheets it is the
  sheet row number; for Parquet it is the row index + 2, as if the file had a header line.
- Sizes are bounded by :class:`Limits`; exceeding one raises ``LimitExceeded`` before the
  expensive work (an XLSX's unpacked size is checked from the zip directory, before anything
  is decompressed).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.core.errors import InputError, LimitExceeded

__all__ = ["Limits", "RawTable", "CsvStream", "read_file", "DELIMITERS"]

MB = 1024 * 1024

# Candidate delimiters in order of preference when two are equally consistent.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50
_BINARY_SAMPLE = 8 * 1024
# Files from this size try the lean byte-level reader first (see _read_large_csv).
LARGE_CSV_BYTES = 16 * MB
# Bytes pyarrow's CSV reader parses at a time (the unit its threads share out).
BLOCK_BYTES = 16 * MB
# Rows a streamed file keeps in memory for preview and mapping.
HEAD_ROWS = 1000
# Bytes read at a time by the streamed file's line count.
_SCAN_BYTES = 64 * MB
_EXCERPT_CHARS = 200
_XLSX_EXTS = (".xlsx", ".xlsm", ".xltx", ".xltm")
_PARQUET_EXTS = (".parquet", ".pq", ".parq")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class Limits:
    """Size limits for one upload. Defaults come from environment variables.

    ``WORKBENCH_MAX_UPLOAD_MB`` (file size, default 200), ``WORKBENCH_MAX_UNPACKED_MB``
    (XLSX/Parquet uncompressed size, default 1000), ``WORKBENCH_MAX_FIELD_MB`` (one cell,
    default 1), ``WORKBENCH_MAX_COLUMNS`` (default 2000), ``WORKBENCH_MAX_ROWS`` (records of
    one file, default 2,000,000: at that many one-character rows, every one quarantined, a
    load peaks under 1 GB) and ``WORKBENCH_MAX_FILES`` (files per load, default 20). Each is
    checked before the work it bounds: a CSV's records are counted before any is typed; an
    XLSX's cells are measured one by one as they are read, and a Parquet file's columns by
    the text they decode to, before decoding; neither may hold more text than a CSV of the
    upload limit could.
    """

    max_upload_mb: float = field(
        default_factory=lambda: _env_number("WORKBENCH_MAX_UPLOAD_MB", 200)
    )
    max_unpacked_mb: float = field(
        default_factory=lambda: _env_number("WORKBENCH_MAX_UNPACKED_MB", 1000)
    )
    max_field_mb: float = field(default_factory=lambda: _env_number("WORKBENCH_MAX_FIELD_MB", 1))
    max_columns: int = field(
        default_factory=lambda: int(_env_number("WORKBENCH_MAX_COLUMNS", 2000))
    )
    max_rows: int = field(default_factory=lambda: int(_env_number("WORKBENCH_MAX_ROWS", 2_000_000)))
    # Files one load reads (a CRM has a handful of tables; more is a mistake or an attack).
    max_files: int = field(default_factory=lambda: int(_env_number("WORKBENCH_MAX_FILES", 20)))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * MB)

    @property
    def max_field_bytes(self) -> int:
        return int(self.max_field_mb * MB)


@dataclass
class RawTable:
    """A file read as text: every column is a string column, empty cells are null."""

    table: pa.Table
    headers: list[str]
    lines: list[int]
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    sheet: str | None = None
    ragged_rows: list[tuple[int, str]] = field(default_factory=list)
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)
    # Set for a large CSV read with ``stream=True``: ``table`` and ``lines`` then hold only
    # the first rows (preview, mapping); the load reads the rest from the stream's source.
    stream: CsvStream | None = None

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def records(self) -> int:
        """Data records found in the file: rows in the table plus rows in ``bad_rows``."""
        if self.stream is not None:
            return self.stream.rows + len(self.bad_rows)
        return self.table.num_rows + len(self.bad_rows)


def read_file(
    data: bytes | Path,
    filename: str,
    limits: Limits | None = None,
    *,
    stream: bool = False,
) -> RawTable:
    """Read ``data`` (the bytes of an upload named ``filename``, or a path) into a :class:`RawTable`.

    With ``stream=True`` a large UTF-8 CSV (see :class:`CsvStream`) is not held: its lines
    are counted and the result has the rows on its first ``HEAD_ROWS`` lines and a ``stream``
    the load reads (``engine.load.typed``, falling back to the whole-file read when a record is not
    one plain line). Other files are read whole either way.

    Raises ``InputError`` for a file that is empty, binary or damaged, and ``LimitExceeded``
    when a limit in ``limits`` (default: ``Limits()``) is exceeded.
    """
    limits = limits or Limits()
    size = data.stat().st_size if isinstance(data, Path) else len(data)
    if size > limits.max_upload_bytes:
        raise LimitExceeded(
            f"The file is {size / MB:.1f} MB, over the upload limit of "
            f"{limits.max_upload_mb:g} MB. Upload a smaller export (for example one year or "
            "one team at a time), or raise the limit with the WORKBENCH_MAX_UPLOAD_MB "
            "environment variable."
        )
    head = _head_bytes(data, _SNIFF_CHARS + len(codecs.BOM_UTF8))
    is_csv = _detect_format(head, filename) == "csv"
    if is_csv and stream and size >= LARGE_CSV_BYTES:
        streamed = _open_stream(data, head, limits, filename)
        if streamed is not None:  # its lines are counted already: no second pass
            return _check_records(streamed, limits)
    if is_csv:
        _refuse_many_lines(data, limits)
    if isinstance(data, Path):
        data = data.read_bytes()
    if not data:
        raise InputError(
            "The file is empty (0 bytes). Check that the export finished and upload it again."
        )
    kind = _detect_format(data, filename)
    if kind == "xlsx":
        return _read_xlsx(data, limits)
    if kind == "xls":
        return _read_spreadsheet(data, limits, "xls")
    if kind == "parquet":
        return _read_parquet(data, limits)
    return _check_records(_read_csv(data, limits, filename), limits)


# --------------------------------------------------------------------------- format detection


def _detect_format(data: bytes, filename: str) -> str:
    name = filename.lower().strip()
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if head.startswith(b"%PDF"):
        raise InputError(
            "This is a PDF, not a data file. Export the report as CSV or XLSX and try again."
        )
    if head.startswith(b"\x1f\x8b"):
        raise InputError(
            "This file is gzip-compressed. Decompress it and upload the CSV inside, or export "
            "the report as CSV or XLSX."
        )
    if name.endswith(_XLSX_EXTS) or name.endswith(".xls"):
        sample = data[:2048].lstrip().lower()
        if sample.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
            raise InputError(
                "This file has an Excel name but is a web page (HTML/XML export), not a "
                "workbook. Open it in Excel and save it as XLSX, or export the report as CSV."
            )
        if not name.endswith(".xls"):
            # Not a zip: a renamed CSV reads fine as text; anything else is reported there.
            return "csv"
    if name.endswith(_PARQUET_EXTS):
        raise InputError(
            "This file is named .parquet but does not start with the Parquet signature, so it "
            "is damaged or not Parquet. Export it again, or upload the data as CSV."
        )
    return "csv"


# --------------------------------------------------------------------------- headers


def _unique_headers(raw: Sequence[object]) -> list[str]:
    names: list[str] = []
    for i, value in enumerate(raw, start=1):
        text = "" if value is None else str(value)
        text = text.replace("\ufeff", "").strip()
        names.append(text or f"column_{i}")
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate = name
        n = 2
        while candidate in seen:
            candidate = f"{name} ({n})"
            n += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _refuse_many_lines(data: bytes | Path, limits: Limits) -> None:
    """Before any parsing: a text file with more lines than ``limits.max_rows`` records and no
    quote character at all (so no record can span lines) has too many records. With quotes, a
    line break may sit inside a field; the readers then count records as they split them."""
    limit = limits.max_rows + 1  # the header line
    lines, quoted = 0, False
    if isinstance(data, bytes):
        lines, quoted = data.count(b"\n"), b'"' in data
    else:
        with data.open("rb") as fh:
            while block := fh.read(BLOCK_BYTES):
                lines += block.count(b"\n")
                quoted = quoted or b'"' in block
    if lines > limit and not quoted:
        raise _rows_limit_error(limits)


def _check_records(raw: RawTable, limits: Limits) -> RawTable:
    """Refuse a CSV with more than ``limits.max_rows`` records once they are split and before
    any is typed or validated: the work and memory of a load grow with its records, not its
    bytes (ten million one-character lines fit in 20 MB). A streamed file's records are its
    counted lines, known before any is parsed."""
    if raw.records > limits.max_rows:
        raise _rows_limit_error(limits)
    return raw


def _rows_limit_error(limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        f"The file has more than {limits.max_rows:,} records, over the limit per file. Upload "
        "a smaller export (for example one year or one team at a time), or raise the limit "
        "with the WORKBENCH_MAX_ROWS environment variable."
    )


def _text_limit_error(limits: Limits, fmt: str) -> LimitExceeded:
    return LimitExceeded(
        f"The {fmt} file's cells hold more than {limits.max_upload_mb:g} MB of text, more than "
        "the upload limit allows a file to hold. Export fewer rows or columns, or raise the "
        "limit with the WORKBENCH_MAX_UPLOAD_MB environment variable."
    )


def _check_columns(n: int, limits: Limits) -> None:
    if n > limits.max_columns:
        raise LimitExceeded(
            f"The file has {n:,} columns, over the limit of {limits.max_columns:,}. Remove "
            "unused columns from the export, or raise the limit with the WORKBENCH_MAX_COLUMNS "
            "environment variable."
        )


def _field_limit_error(limits: Limits, where: str = "") -> LimitExceeded:
    return LimitExceeded(
        f"A single cell{where} is larger than the {limits.max_field_mb:g} MB limit per field. "
        'This usually means a broken quote (a field opened with " that never closes) or an '
        "attachment pasted into a cell. Fix the export, or raise the limit with the "
        "WORKBENCH_MAX_FIELD_MB environment variable."
    )


def _trim_exact(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Trim outer whitespace (Unicode's, as Arrow defines it) and turn empty strings into
    nulls: the cleaning every reader applies, written as Arrow kernels over every value."""
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _clean_strings(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``_trim_exact`` of a column, computed where it can change something: a value can only
    lose whitespace when its first or last byte is one (an ASCII control or space, <= 0x20)
    or belongs to a multi-byte character (>= 0x80, which Unicode's spaces are), so only
    those values go through the trim; empty values become null without copying any text."""
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([_clean_chunk(c) for c in column.chunks], column.type)
    return _clean_chunk(column)


def _clean_chunk(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.DictionaryArray):
        return _clean_dictionary(arr)
    n = len(arr)
    if n == 0 or arr.null_count or arr.type != pa.string():
        return _trim_exact(arr)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    if data_buf is None or offsets[-1] == offsets[0]:
        return pa.nulls(n, pa.string())
    data = np.frombuffer(data_buf, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    empty = starts == ends
    first = data[np.minimum(starts, len(data) - 1)]
    last = data[np.maximum(ends - 1, 0)]
    edge = ~empty & ((first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80))
    if empty.any():
        bits = np.concatenate((np.zeros(arr.offset, dtype=bool), ~empty))  # a slice's offset
        valid = pa.py_buffer(np.packbits(bits, bitorder="little"))
        nulls = int(np.count_nonzero(empty))
        # the same offsets and text; only the validity bitmap is new
        arr = pa.StringArray.from_buffers(n, offsets_buf, data_buf, valid, nulls, arr.offset)
    if edge.any():
        trimmed = _trim_exact(arr.take(pa.array(np.flatnonzero(edge))))
        arr = pc.replace_with_mask(arr, pa.array(edge), trimmed)
    return arr


def _clean_dictionary(arr: pa.DictionaryArray) -> pa.DictionaryArray:
    """A dictionary-encoded column cleaned through its dictionary: values that clean to
    nothing become null entries (the dictionary itself keeps no nulls)."""
    values = _clean_chunk(arr.dictionary)
    if not values.null_count:
        return pa.DictionaryArray.from_arrays(arr.indices, values)
    blank = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    indices = arr.indices
    codes = np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False))
    valid = ~blank[codes]
    if indices.null_count:
        valid &= np.asarray(indices.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    masked = pa.Array.from_buffers(
        indices.type,
        len(indices),
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(codes)],
        int(np.count_nonzero(~valid)),
    )
    return pa.DictionaryArray.from_arrays(masked, pc.fill_null(values, ""))


def values_in_order(column: pa.Array | pa.ChunkedArray) -> list[str]:
    """A column's distinct non-empty values in order of first appearance."""
    values = pl.from_arrow(column)
    assert isinstance(values, pl.Series)
    return [str(v) for v in values.drop_nulls().unique(maintain_order=True).to_list()]


# A column whose first rows hold at most this many distinct values per row is read
# dictionary-encoded.
DICTIONARY_SHARE = 0.1
DICTIONARY_HEAD = 100  # rows of the head needed to judge


def repeating_columns(head: pa.Table) -> set[int]:
    """Columns whose first rows repeat a few values (owners, stages, dates, types): read
    dictionary-encoded, each value's text is held once per block instead of once per row."""
    rows = head.num_rows
    if rows < DICTIONARY_HEAD:
        return set()
    return {
        i
        for i, column in enumerate(head.columns)
        if pc.count_distinct(column, mode="all").as_py() <= rows * DICTIONARY_SHARE
    }


def _string_table(columns: Sequence[pa.Array | pa.ChunkedArray], headers: list[str]) -> pa.Table:
    if len(columns) > 1 and sum(len(c) for c in columns) > 100_000:
        # Arrow kernels release the GIL, so columns clean in parallel.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            cleaned = list(pool.map(_clean_strings, columns))
    else:
        cleaned = [_clean_strings(c) for c in columns]
    return pa.table(cleaned, names=headers) if headers else pa.table({})


def _longest(arr: pa.Array) -> int:
    """Bytes of the longest value of a string array (from its offsets when it is plain)."""
    if isinstance(arr, pa.DictionaryArray):
        return _longest(arr.dictionary)
    if arr.type == pa.string() and not arr.null_count and len(arr):
        offsets = np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, arr.offset * 4)
        return int(np.diff(offsets).max())
    longest = pc.max(pc.binary_length(arr)).as_py()
    return 0 if longest is None else int(longest)


def _check_field_sizes(table: pa.Table, limits: Limits) -> None:
    for name in table.column_names:
        col = table.column(name)
        if col.null_count == len(col):
            continue
        longest = max((_longest(chunk) for chunk in col.chunks), default=0)
        if longest > limits.max_field_bytes:
            raise _field_limit_error(limits, f" in column {name!r}")


# --------------------------------------------------------------------------- CSV: decoding

_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def _byte_to_text(b: int) -> str:
    if b in _CP1252_UNDEFINED:
        return chr(b)
    return bytes([b]).decode("cp1252")


def _mixed_handler(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    bad = err.object[err.start : err.end]
    return "".join(_byte_to_text(b) for b in bad), err.end


codecs.register_error("workbench-cp1252", _mixed_handler)

# The csv module's default field limit (128 KB) is below ours; field sizes are checked on the
# parsed table instead, against ``Limits.max_field_mb``.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def _binary_error() -> InputError:
    return InputError(
        "This looks like a binary file, not a CSV. Export the report as CSV or XLSX and try again."
    )


def _looks_utf16(sample: bytes) -> str | None:
    """Return 'utf-16-le'/'utf-16-be' for BOM-less UTF-16 text, else None."""
    if len(sample) < 4:
        return None
    even = sample[0::2]
    odd = sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _decode_utf16(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise InputError(
            f"The file starts like {label} text but is not valid {label} (it may be cut off "
            "or damaged). Export it again as CSV (UTF-8) and try again."
        ) from e


def _decode(data: bytes) -> tuple[str, str, list[str]]:
    """Decode CSV bytes; return (text, encoding name, notes)."""
    notes: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        try:
            return body.decode("utf-8"), "utf-8-sig", notes
        except UnicodeDecodeError:
            text = body.decode("utf-8", errors="workbench-cp1252")
            notes.append(
                "The file is marked as UTF-8 but some bytes are not valid UTF-8; those were "
                "read as cp1252 (Windows Western). Check accented names."
            )
            return text, "utf-8-sig", notes
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        text = _decode_utf16(data, "utf-16", "UTF-16")
        return text.lstrip("\ufeff"), "utf-16", notes

    sample = data[:_BINARY_SAMPLE]
    if 0 in sample:
        utf16 = _looks_utf16(sample)
        if utf16 is not None:
            text = _decode_utf16(data, utf16, "UTF-16")
            notes.append(f"Read as {utf16.upper()} (no byte-order mark).")
            return text, utf16, notes
    controls = sum(sample.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if controls > max(1, len(sample) // 100):
        raise _binary_error()

    try:
        return data.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError:
        pass
    # Valid multi-byte UTF-8 next to invalid bytes means a file stitched from two encodings;
    # none at all means a plain single-byte file.
    valid = data.decode("utf-8", errors="ignore")
    extra_utf8_bytes = len(valid.encode("utf-8")) - len(valid)
    invalid_bytes = len(data) - len(valid) - extra_utf8_bytes
    if extra_utf8_bytes and extra_utf8_bytes >= 0.05 * invalid_bytes:
        notes.append(
            "The file mixes UTF-8 and cp1252 (Windows Western) text; valid UTF-8 was read as "
            "UTF-8 and the rest as cp1252. Check accented names."
        )
        return data.decode("utf-8", errors="workbench-cp1252"), "utf-8+cp1252", notes
    try:
        text = data.decode("cp1252")
        encoding = "cp1252"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        encoding = "latin-1"
    notes.append(f"Read as {encoding} because the file is not valid UTF-8.")
    return text, encoding, notes


def _normalise_newlines(text: str, notes: list[str]) -> str:
    if "\r" not in text:
        return text
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    kinds = sum(1 for n in (crlf, cr, lf) if n)
    if kinds > 1:
        notes.append("The file mixes line endings (CRLF, LF, CR); all were read as line breaks.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- CSV: structure


def _sniff_delimiter(text: str) -> str:
    sample = text[:_SNIFF_CHARS]
    truncated = len(text) > _SNIFF_CHARS
    best: tuple[bool, float, int, int] | None = None
    best_delim = ","
    for rank, delim in enumerate(DELIMITERS):
        if delim not in sample:
            continue
        counts: list[int] = []
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delim)
            for rec in reader:
                if not rec:
                    continue
                counts.append(len(rec))
                if len(counts) > _SNIFF_RECORDS:
                    break
        except csv.Error:
            continue
        if truncated and len(counts) > 1:
            counts = counts[:-1]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        consistency = counts.count(mode) / len(counts)
        header_fields = counts[0]
        key = (mode > 1 and header_fields > 1, consistency, min(mode, header_fields), -rank)
        if best is None or key > best:
            best = key
            best_delim = delim
    return best_delim


def _is_blank(rec: list[str], ncols: int) -> bool:
    return not rec or (len(rec) == 1 and ncols != 1 and not rec[0].strip())


def _read_header(text: str, delim: str) -> tuple[list[str], int, int, int]:
    """Return (header fields, header line, line after the header, char offset of the body)."""
    size = _SNIFF_CHARS
    while True:
        # Parse a prefix only: copying a 100 MB text into a StringIO costs more than parsing.
        chunk = text[:size]
        whole = len(chunk) == len(text)
        buf = io.StringIO(chunk, newline="")
        reader = csv.reader(buf, delimiter=delim)
        prev = 0
        for rec in reader:
            if rec and any(f.strip() for f in rec):
                end = buf.tell()
                if end < len(chunk) or whole:
                    return rec, prev + 1, reader.line_num + 1, end
                break
            prev = reader.line_num
        else:
            if whole:
                return [], 0, 0, len(text)
        size *= 4


def _excerpt(rec: Sequence[str], delim: str) -> str:
    text = delim.join(rec)
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


def _line_spans(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (the line break excluded) of every line of a byte array; text after the
    last line break is a line, an empty tail is not."""
    newline_pos = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], newline_pos + 1))
    ends = np.concatenate((newline_pos, [len(arr)]))
    if len(starts) and starts[-1] >= len(arr):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _blank_mask(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """True for the lines that are empty or hold only "\r" (blank in a CRLF file)."""
    last = max(len(arr) - 1, 0)
    return (lengths == 0) | ((lengths == 1) & (arr[np.minimum(starts, last)] == 13))


def _fast_csv(
    body: str, delim: str, headers: list[str], first_line: int, limits: Limits
) -> tuple[pa.Table, list[int], int] | None:
    """Parse with pyarrow; None when the file needs the careful reader (ragged rows etc.)."""
    raw = body.encode("utf-8")
    arr = np.frombuffer(raw, dtype=np.uint8)
    starts, ends = _line_spans(arr)
    lengths = ends - starts
    if len(lengths) and int(lengths.max()) > limits.max_field_bytes:
        # A line this long holds either a huge field or many normal ones; check properly.
        delim_pos = np.flatnonzero((arr == 10) | (arr == ord(delim)))
        gaps = np.diff(np.concatenate(([-1], delim_pos, [len(arr)])))
        if int(gaps.max()) - 1 > limits.max_field_bytes and b'"' not in raw:
            raise _field_limit_error(limits)
    quoted_newlines = False
    if b'"' in raw:
        quote_pos = np.flatnonzero(arr == 34)
        per_line = np.searchsorted(quote_pos, ends) - np.searchsorted(quote_pos, starts)
        quoted_newlines = bool((per_line % 2).any())
    if quoted_newlines:
        found = _record_lines(body, delim, first_line)
        if found is None:
            return None
        lines, blanks = found
    else:
        nonblank = np.flatnonzero(lengths > 0)
        lines = (nonblank + first_line).tolist()
        blanks = len(lengths) - len(nonblank)

    ragged_seen: list[int] = []

    def on_invalid(_row: Any) -> str:
        ragged_seen.append(1)
        return "error"

    read_opts, parse_opts, convert_opts = _lean_options(
        headers,
        delim,
        on_invalid,
        block_size=max(8 * MB, 2 * limits.max_field_bytes + MB),
        newlines_in_values=quoted_newlines,
    )
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=read_opts,
            parse_options=parse_opts,
            convert_options=convert_opts,
        )
    except pa.ArrowException:
        return None
    if table.num_rows != len(lines):
        return None
    return _string_table(table.columns, headers), lines, blanks


def _record_lines(body: str, delim: str, first_line: int) -> tuple[list[int], int] | None:
    """Start line of every non-blank record (following quotes) and the blank-line count."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delim)
    out: list[int] = []
    blanks = 0
    prev = 0
    try:
        for rec in reader:
            if rec:
                out.append(first_line + prev)
            else:
                blanks += 1
            prev = reader.line_num
    except csv.Error:
        return None
    return out, blanks


def _careful_csv(
    body: str, delim: str, headers: list[str], first_line: int, limits: Limits
) -> tuple[pa.Table, list[int], int, list[tuple[int, str]], list[tuple[int, str, str]]]:
    ncols = len(headers)
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delim)
    rows: list[list[str]] = []
    lines: list[int] = []
    ragged: list[tuple[int, str]] = []
    bad: list[tuple[int, str, str]] = []
    blanks = 0
    prev = 0
    try:
        for rec in reader:
            line = first_line + prev
            prev = reader.line_num
            if _is_blank(rec, ncols):
                blanks += 1
                continue
            n = len(rec)
            if n < ncols:
                rec.extend([""] * (ncols - n))
                ragged.append(
                    (line, f"{n} of {ncols} fields; the missing {ncols - n} were left empty")
                )
            elif n > ncols:
                if all(not f.strip() for f in rec[ncols:]):
                    del rec[ncols:]
                    ragged.append((line, f"{n} fields for {ncols} columns; empty extras ignored"))
                else:
                    bad.append(
                        (
                            line,
                            _excerpt(rec, delim),
                            f"{n} fields but the header has {ncols} columns (a stray "
                            f"{_delim_name(delim)} or an unquoted value?)",
                        )
                    )
                    continue
            rows.append(rec)
            lines.append(line)
            if len(lines) + len(bad) > limits.max_rows:  # stop before holding more
                raise _rows_limit_error(limits)
    except csv.Error as e:
        raise InputError(
            f"The file could not be read as CSV near line {first_line + prev}: {e}. Export it "
            "again as CSV and try again."
        ) from e
    if rows:
        columns = [pa.array(col, pa.string()) for col in zip(*rows, strict=True)]
    else:
        columns = [pa.array([], pa.string()) for _ in headers]
    table = _string_table(columns, headers)
    return table, lines, blanks, ragged, bad


def _runaway_quote_line(body: str, table: pa.Table, lines: list[int]) -> int | None:
    """Line of the last row when an unclosed quote swallowed the end of the file."""
    if table.num_rows == 0 or body.count('"') % 2 == 0:
        return None
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    if any(isinstance(v, str) and "\n" in v for v in last.values()):
        return lines[-1]
    return None


def _delim_name(delim: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delim, repr(delim))


def _lean_head(head: bytes, bom: int, limits: Limits) -> tuple[str, list[str], int, int] | None:
    """Delimiter, headers, body offset and first body line of a lean-path file.

    ``head`` is the file's first ``bom + _SNIFF_CHARS`` bytes. None when the file needs the
    careful path: the sample is not UTF-8, line ends are mixed, or the header is not line 1.
    """
    sample = head[bom : bom + _SNIFF_CHARS]
    text = None
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = sample[: len(sample) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if text is None or text.count("\r") != text.count("\r\n"):
        return None
    delim = _sniff_delimiter(text)
    header, header_line, first_line, offset = _read_header(text, delim)
    if header_line != 1 or not header:
        return None
    _check_columns(len(header), limits)
    body_start = bom + len(text[:offset].encode("utf-8"))
    return delim, _unique_headers(header), body_start, first_line


def _format_notes(delim: str, filename: str) -> list[str]:
    """What every CSV read says about how the file was split: its delimiter, a wrong name."""
    notes = []
    if delim != ",":
        notes.append(f"Columns are separated by {_delim_name(delim)}s.")
    if filename.lower().endswith(_XLSX_EXTS):
        notes.append("The file has an Excel name but contains text; it was read as CSV.")
    return notes


def _read_large_csv(data: bytes, limits: Limits, filename: str) -> RawTable | None:
    """Lean path for large, clean UTF-8 files: parse the bytes in place, no text copies.

    Decoding a file to ``str`` and encoding it back costs several times its size in memory.
    This path hands the bytes to pyarrow directly and counts lines with numpy. It declines
    (returns None) for anything unusual, which then takes the careful path: another
    encoding, NUL bytes, lone CR line ends, ragged rows, very long lines, or quoted fields
    holding line breaks (each adds a non-blank physical line, so the row count and the
    non-blank line count stop matching).
    """
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if b"\x00" in data:
        return None
    found = _lean_head(data[: bom + _SNIFF_CHARS], bom, limits)
    if found is None:
        return None
    delim, headers, body_start, first_line = found
    arr = np.frombuffer(data, dtype=np.uint8)[body_start:]
    starts, ends = _line_spans(arr)
    lengths = ends - starts
    if len(lengths) and int(lengths.max()) > limits.max_field_bytes:
        return None  # a very long line: the careful path checks field sizes properly
    blank = _blank_mask(arr, starts, lengths)
    nonblank = np.flatnonzero(~blank)
    blanks = len(lengths) - len(nonblank)
    del starts, ends, lengths, blank
    invalid: list[int] = []

    def on_invalid(_row: Any) -> str:
        invalid.append(1)
        return "error"

    try:
        read_opts, parse_opts, convert_opts = _lean_options(headers, delim, on_invalid)
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[body_start:]),
            read_options=read_opts,
            parse_options=parse_opts,
            convert_options=convert_opts,
        )
    except pa.ArrowException:
        return None
    if invalid or table.num_rows != len(nonblank):
        return None
    # Clean one column at a time, releasing each original: peak memory stays near one copy.
    columns = list(table.columns)
    del table
    for i, column in enumerate(columns):
        columns[i] = _clean_strings(column)
        del column
    table = pa.table(columns, names=headers)
    del columns
    _check_field_sizes(table, limits)
    notes: list[str] = []
    if blanks:
        notes.append(f"Skipped {blanks} blank line(s).")
    notes += _format_notes(delim, filename)
    return RawTable(
        table=table,
        headers=headers,
        # numpy, not a list: a Python list of millions of line numbers costs 36 B each
        lines=nonblank + first_line,  # type: ignore[arg-type]
        format="csv",
        encoding="utf-8-sig" if bom else "utf-8",
        delimiter=delim,
        notes=notes,
    )


# --------------------------------------------------------------------------- CSV: streaming


def _head_bytes(data: bytes | Path, n: int) -> bytes:
    if isinstance(data, bytes):
        return data[:n]
    with data.open("rb") as fh:
        return fh.read(n)


def _lean_options(
    headers: list[str],
    delim: str,
    on_invalid: Callable[[Any], str],
    include: list[str] | None = None,
    block_size: int | None = None,
    newlines_in_values: bool = True,
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """The reader options of every pyarrow CSV read, so a streamed file tokenises exactly as
    a whole one (every column as text; empty cells stay empty strings until cleaned)."""
    return (
        pacsv.ReadOptions(
            column_names=headers, block_size=block_size or BLOCK_BYTES, use_threads=True
        ),
        pacsv.ParseOptions(
            delimiter=delim,
            quote_char='"',
            double_quote=True,
            newlines_in_values=newlines_in_values,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        ),
        pacsv.ConvertOptions(
            column_types={h: pa.string() for h in headers},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            include_columns=include or [],
        ),
    )


def _stream_pool() -> pa.MemoryPool:
    """The pool streamed reads allocate from: jemalloc told to return freed pages at once.

    The default pool (mimalloc) and glibc's malloc both keep what a pass over a file freed,
    which held hundreds of MB of resident memory between passes for nothing.
    """
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
        return pool
    except (NotImplementedError, pa.ArrowException):
        return pa.default_memory_pool()


_STREAM_POOL = _stream_pool()


def _refuse_invalid(_row: Any) -> str:
    return "error"


@dataclass
class CsvStream:
    """A large UTF-8 CSV left where it is (a path, or an upload's bytes) instead of held whole.

    Holding a file as Arrow strings costs up to twice its size. Inspecting a stream parses only
    its first rows and counts its lines; the load reads the records (``engine.load.typed``) only
    while it loads that file, checks that each record is one physical line of the header's
    width, and reads the file whole otherwise.
    """

    source: bytes | Path
    body_start: int
    headers: list[str]
    delimiter: str
    rows: int
    first_line: int
    # Body line (0-based) of each record, kept only when blank lines shift them.
    nonblank: np.ndarray | None = None
    size: int = 0
    blanks: int = 0  # blank lines, once reconciled
    limits: Limits = field(default_factory=Limits, repr=False)  # those it was inspected with
    # first_values by column: the upload page asks again at every rerun
    _first: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def _follow_quotes(self) -> bool:
        """Whether the reader must follow quoted line breaks across its blocks.

        A reader that splits the file into blocks at line breaks (much the faster) cuts a
        record with a quoted line break at a block boundary into two pieces; with two or
        more columns one piece is always short of fields, so the read fails and the file is
        read whole. A record that keeps its line break inside one block is read as one,
        and then the records no longer match the lines, with the same outcome. Only a
        file of one column could be cut into two valid pieces.
        """
        return len(self.headers) < 2

    def records(
        self,
        names: list[str],
        dictionary: Collection[int] = (),
    ) -> tuple[pa.Table, str | None] | None:
        """Every record, in columns ``names``, cleaned as every reader cleans (the columns
        numbered in ``dictionary`` dictionary-encoded), read in parallel; with the note about
        skipped blank lines, if any. None when a record is not one plain line of the
        header's width (ragged, or a quoted line break: the counts of records and lines
        differ), so the file must be read whole. A field over the size limit raises
        ``LimitExceeded``."""
        ragged: list[int] = []

        def on_invalid(_row: Any) -> str:
            ragged.append(1)
            return "error"

        read_opts, parse_opts, convert_opts = _lean_options(
            names, self.delimiter, on_invalid, newlines_in_values=self._follow_quotes
        )
        encoded = pa.dictionary(pa.int32(), pa.string())
        convert_opts.column_types = {
            name: encoded if i in dictionary else pa.string() for i, name in enumerate(names)
        }
        try:
            with self.body() as body:
                table = pacsv.read_csv(
                    body,
                    read_options=read_opts,
                    parse_options=parse_opts,
                    convert_options=convert_opts,
                    memory_pool=_STREAM_POOL,
                )
        except pa.ArrowException:
            return None  # a ragged record, or quoting the reader cannot follow
        if ragged:
            return None
        note = None
        if table.num_rows != self.rows or self.blanks:
            # The reader skips blank lines; any other difference is a record spanning lines.
            try:
                note = self.account_for_blank_lines(table.num_rows)
            except InputError:
                return None
        _check_field_sizes(table.rename_columns(self.headers), self.limits)
        # Cleaning keeps the text where it can (a new validity bitmap for empty cells).
        return _string_table(table.columns, names), note

    def body(self) -> pa.NativeFile:
        """The file from its first record on (checked to be the file that was inspected)."""
        if isinstance(self.source, bytes):
            return pa.BufferReader(pa.py_buffer(self.source)[self.body_start :])
        if self.source.stat().st_size != self.size:
            raise InputError(
                f"{self.source.name} changed while it was being loaded. Load it again."
            )
        f = pa.OSFile(str(self.source), "r", memory_pool=_STREAM_POOL)
        f.seek(self.body_start)
        return f

    def account_for_blank_lines(self, records: int) -> str:
        """Reconcile ``rows`` (lines counted) with the ``records`` a reader found, which skips
        blank lines. Returns the note for the skipped lines; raises ``InputError`` when the
        difference is not blank lines (a record spans lines: the file must be read whole)."""
        if self.nonblank is not None and records == self.rows:  # reconciled by a load before
            return f"Skipped {self.blanks} blank line(s)."
        blank = _blank_lines(self.source, self.body_start)
        if not len(blank) or records != self.rows - len(blank):
            raise InputError("The records of this file do not match its lines.")
        self.nonblank = np.delete(np.arange(self.rows, dtype=np.int64), blank)
        self.rows, self.blanks = records, len(blank)
        return f"Skipped {len(blank)} blank line(s)."

    def head(self, n: int) -> pa.Table:
        """The records on the first ``n`` lines, cleaned; reads only the start of the file."""
        want = 1 << 20
        while True:
            with self.body() as f:
                data = f.read(want)
            end = -1
            for _ in range(n):
                end = data.find(b"\n", end + 1)
                if end < 0:
                    break
            if end < 0 and len(data) == want:
                want *= 4  # fewer than n whole lines in this much: read more
                continue
            opts = _lean_options(self.headers, self.delimiter, _refuse_invalid)
            table = pacsv.read_csv(
                pa.BufferReader(data if end < 0 else data[: end + 1]),
                read_options=opts[0],
                parse_options=opts[1],
                convert_options=opts[2],
            )
            return self._clean(table, list(self.headers))

    def lines(self, start: int, stop: int) -> np.ndarray:
        """Physical line numbers of records ``start`` to ``stop`` (exclusive)."""
        if self.nonblank is None:
            return np.arange(start + self.first_line, stop + self.first_line, dtype=np.int64)
        return self.nonblank[start:stop] + self.first_line

    @staticmethod
    def _clean(table: pa.Table, names: list[str]) -> pa.Table:
        return pa.table([_clean_strings(c) for c in table.columns], names=names)

    def remember_first_values(self, name: str, values: list[str]) -> None:
        """``first_values`` of a column, found by a reader that read every record."""
        self._first[name] = list(values)

    def first_values(self, name: str) -> list[str]:
        """The distinct values of one column, cleaned, in order of first appearance (for
        proposals such as the stage map). One parallel pass that converts only that column;
        a record it cannot split raises ``InputError``. Remembered per column."""
        if name in self._first:
            return list(self._first[name])
        opts = _lean_options(
            self.headers,
            self.delimiter,
            _refuse_invalid,
            [name],
            newlines_in_values=self._follow_quotes,
        )
        try:
            with self.body() as f:
                table = pacsv.read_csv(
                    f,
                    read_options=opts[0],
                    parse_options=opts[1],
                    convert_options=opts[2],
                    memory_pool=_STREAM_POOL,
                )
        except pa.ArrowException as exc:
            raise InputError(f"{name} could not be read on its own: {exc}") from exc
        found = values_in_order(_clean_strings(table.column(0)))
        self._first[name] = found
        return list(found)


def _scan_body(data: bytes | Path, body_start: int) -> int | None:
    """The number of lines of a body, or None when the file needs the careful path: a NUL
    byte or bytes that are not UTF-8.

    Everything else about the records (their widths, quoting, blank lines) is checked when the
    file is read (``engine.load.typed``). The file is read in pieces into one buffer and searched
    with bytes methods only, so the body is never copied.
    """
    # BytesIO shares the bytes of an upload rather than copying them.
    fh: io.BufferedIOBase = io.BytesIO(data) if isinstance(data, bytes) else data.open("rb")
    buf = bytearray(_SCAN_BYTES)
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    last = b""
    try:
        fh.seek(body_start)
        while n := fh.readinto(buf):  # type: ignore[attr-defined]
            piece = buf if n == len(buf) else buf[:n]
            if b"\x00" in piece:
                return None
            if not piece.isascii():
                try:
                    decoder.decode(piece)
                except UnicodeDecodeError:
                    return None
            newlines += piece.count(b"\n")
            last = bytes(piece[-1:])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    finally:
        fh.close()
    return newlines + (last not in (b"", b"\n"))


def _blank_lines(data: bytes | Path, body_start: int) -> np.ndarray:
    """Positions (0-based) of a body's empty lines (a line of only CR is empty)."""
    fh: io.BufferedIOBase = io.BytesIO(data) if isinstance(data, bytes) else data.open("rb")
    found: list[np.ndarray] = []
    total = 0
    carry = b""
    with fh:
        fh.seek(body_start)
        while True:
            chunk = fh.read(_SCAN_BYTES)
            cut = chunk.rfind(b"\n") if chunk else len(carry)
            if chunk and cut < 0:
                carry += chunk
                continue
            piece, carry = (carry + chunk[: cut + 1], chunk[cut + 1 :]) if chunk else (carry, b"")
            if piece:
                arr = np.frombuffer(piece, dtype=np.uint8)
                starts, ends = _line_spans(arr)
                found.append(np.flatnonzero(_blank_mask(arr, starts, ends - starts)) + total)
                total += len(starts)
            if not chunk:
                break
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)


def _open_stream(data: bytes | Path, head: bytes, limits: Limits, filename: str) -> RawTable | None:
    """A streamed :class:`RawTable` for a large UTF-8 CSV, else None (read it whole).

    Only the head is parsed here; the body is scanned for its line count (``_scan_body``). The load reads the records in parallel and reads the file whole
    instead when a record is not one plain line of the header's width.
    """
    bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    found = _lean_head(head, bom, limits)
    if found is None:
        return None
    delim, headers, body_start, first_line = found
    rows = _scan_body(data, body_start)
    if rows is None:
        return None
    size = data.stat().st_size if isinstance(data, Path) else len(data)
    stream = CsvStream(
        data, body_start, headers, delim, rows, first_line, None, size, limits=limits
    )
    try:
        head_table = stream.head(HEAD_ROWS)
    except (pa.ArrowException, InputError):
        return None  # the first rows are not plain records: the careful path reads them
    notes = _format_notes(delim, filename)
    return RawTable(
        table=head_table,
        headers=headers,
        lines=stream.lines(0, head_table.num_rows),  # type: ignore[arg-type]
        format="csv",
        encoding="utf-8-sig" if bom else "utf-8",
        delimiter=delim,
        notes=notes,
        stream=stream,
    )


def _read_csv(data: bytes, limits: Limits, filename: str) -> RawTable:
    if len(data) >= LARGE_CSV_BYTES:
        lean = _read_large_csv(data, limits, filename)
        if lean is not None:
            return lean
    text, encoding, notes = _decode(data)
    if "\x00" in text:
        count = text.count("\x00")
        text = text.replace("\x00", "")
        notes.append(f"Removed {count} NUL byte(s) from the file (they are not text).")
    if not text or text.isspace():
        raise InputError(
            "The file is empty: it has no header row and no data, only blank space. Check that "
            "the export finished and upload it again."
        )
    text = _normalise_newlines(text, notes)
    delim = _sniff_delimiter(text)
    header, header_line, first_line, offset = _read_header(text, delim)
    _check_columns(len(header), limits)
    if any(len(h) > limits.max_field_bytes for h in header):
        raise _field_limit_error(limits, " in the header")
    headers = _unique_headers(header)
    if header_line > 1:
        notes.append(f"Skipped {header_line - 1} blank line(s) before the header.")
    notes += _format_notes(delim, filename)
    body = text[offset:]
    ragged: list[tuple[int, str]] = []
    bad: list[tuple[int, str, str]] = []
    empty_body = not body or body.isspace()
    fast = None if empty_body else _fast_csv(body, delim, headers, first_line, limits)
    if fast is not None:
        table, lines, blanks = fast
    else:
        table, lines, blanks, ragged, bad = _careful_csv(body, delim, headers, first_line, limits)
    _check_field_sizes(table, limits)
    if blanks:
        notes.append(f"Skipped {blanks} blank line(s).")
    runaway = _runaway_quote_line(body, table, lines)
    if runaway is not None:
        notes.append(
            f'A quote (") opened on line {runaway} never closes, so the rest of the file was '
            f"read into that one row. Check the file around line {runaway}."
        )
    if ragged:
        notes.append(f"{len(ragged)} row(s) had a different number of fields than the header.")
    if bad:
        notes.append(
            f"{len(bad)} row(s) had more fields than the header and could not be placed in "
            "columns; they are set aside."
        )
    return RawTable(
        table=table,
        headers=headers,
        lines=lines,
        format="csv",
        encoding=encoding,
        delimiter=delim,
        notes=notes,
        ragged_rows=ragged,
        bad_rows=bad,
    )


# --------------------------------------------------------------------------- spreadsheets


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _has_text(value: str | None) -> bool:
    return bool(value and value.strip())


def _check_zip(data: bytes, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise InputError(
            "The spreadsheet is damaged or incomplete (it may have been cut off during "
            "download). Open it in Excel and save it again, or export the report as CSV."
        ) from e
    unpacked = sum(i.file_size for i in infos)
    if unpacked > limits.max_unpacked_bytes:
        raise LimitExceeded(
            f"The spreadsheet unpacks to {unpacked / MB:,.0f} MB, over the limit of "
            f"{limits.max_unpacked_mb:g} MB. Export fewer rows or as CSV, or raise the limit "
            "with the WORKBENCH_MAX_UNPACKED_MB environment variable."
        )
    _check_members(data, limits)
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        if "content.xml" in names and "mimetype" in names:
            return  # OpenDocument spreadsheet; calamine reads it
        inner = ", ".join(sorted(names)[:5])
        raise InputError(
            "This is a ZIP archive, not a spreadsheet"
            + (f" (it contains {inner})" if inner else "")
            + ". Unzip it and upload the CSV or XLSX inside."
        )


def _check_members(data: bytes, limits: Limits) -> None:
    """Decompress every member once, in 1 MB steps, without keeping anything.

    The sizes checked above come from the zip directory, which a crafted file can understate;
    the spreadsheet reader would then inflate far more than the limit. Python's zip reader
    stops at the declared size and checks the CRC, so this pass does bounded work and fails
    on any member whose real content differs from what the directory declares.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                with zf.open(info) as member:
                    while member.read(MB):
                        pass
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        ValueError,
        EOFError,
    ) as e:
        raise InputError(
            "The spreadsheet is damaged or incomplete: its contents do not match its zip "
            "directory (it may have been cut off during download, or crafted). Open it in "
            "Excel and save it again, or export the report as CSV."
        ) from e
    except RuntimeError as e:  # an encrypted zip member
        raise InputError(
            "The spreadsheet is encrypted. Remove the password in Excel (or export the report "
            "as CSV) and try again."
        ) from e
    except NotImplementedError as e:
        raise InputError(
            "The spreadsheet uses a compression method the workbench cannot read. Open it in "
            "Excel and save it again as XLSX, or export the report as CSV."
        ) from e


def _read_xlsx(data: bytes, limits: Limits) -> RawTable:
    _check_zip(data, limits)
    _check_shared_text(data, limits)
    return _read_spreadsheet(data, limits, "xlsx")


_SHARED_CELL = re.compile(rb'<c\b[^>]*?\bt="s"[^>]*>\s*<v>(\d+)</v>')
_SCAN_TAIL = 512  # bytes kept between blocks, so a cell split across two is still seen


def _shared_cells(fh: IO[bytes]) -> Iterator[int]:
    """The shared-string index of every cell of type "s" in a sheet's XML, read a block at a
    time: a match starting in the last ``_SCAN_TAIL`` bytes of what is read so far waits for
    the next block, so a cell split across two reads is found whole, once."""
    tail = b""
    while True:
        block = fh.read(BLOCK_BYTES)
        text = tail + block
        cut = len(text) - _SCAN_TAIL if block else len(text)
        for m in _SHARED_CELL.finditer(text):
            if m.start() >= cut:
                break
            yield int(m.group(1))
        if not block:
            return
        tail = text[max(cut, 0) :]


def _check_shared_text(data: bytes, limits: Limits) -> None:
    """Refuse a workbook whose cells expand to more text than the upload limit, before the
    reader expands them: a cell of type "s" names a shared string by index, so a 100 KB
    workbook can repeat one 20 KB string in 30,000 cells (600 MB once read). The shared
    strings' lengths are read first, then every shared-string cell of every sheet is added
    up as the sheet's XML streams past, stopping as soon as the budget is spent."""
    budget = limits.max_upload_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            shared = next((n for n in names if n.lower() == "xl/sharedstrings.xml"), None)
            if shared is None:
                return
            lengths = []
            with zf.open(shared) as fh:
                for _, elem in ElementTree.iterparse(fh):
                    if elem.tag.endswith("}si") or elem.tag == "si":
                        lengths.append(len("".join(elem.itertext()).encode()))
                        elem.clear()
            if not lengths:
                return
            longest = max(lengths)
            for name in names:
                if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                    continue
                with zf.open(name) as fh:
                    for i in _shared_cells(fh):
                        budget -= lengths[i] if i < len(lengths) else longest
                        if budget < 0:
                            raise _text_limit_error(limits, "XLSX")
    except (zipfile.BadZipFile, OSError, ValueError, ElementTree.ParseError):
        return  # damaged: the reader says so in its own words


# Rows of a sheet held as Python values at a time before they become Arrow columns.
SHEET_CHUNK_ROWS = 20_000

_Sheet = tuple[str, list[str | None], list[pa.ChunkedArray], list[bool], list[int], int]


def _read_sheet(name: str, sheet: Any, limits: Limits, fmt: str) -> _Sheet | None:
    """One sheet read row by row into Arrow string columns, or None when no cell has data.

    Each cell is measured as it is read: a cell over the field limit, or cells adding up to
    more text than the upload limit, stop the read there (a 100 KB workbook can repeat one
    long shared string in every cell)."""
    budget = limits.max_upload_bytes
    width = 0
    header: list[str | None] | None = None
    chunks: list[list[pa.Array]] = []
    buf: list[list[str | None]] = []
    has_data: list[bool] = []
    lines: list[int] = []
    blanks = 0

    def flush() -> None:
        for j in range(width):
            chunks[j].append(pa.array(buf[j], pa.string()))
            buf[j] = []

    for i, row in enumerate(sheet.iter_rows()):
        texts = [_cell_text(v) for v in row]
        for v in texts:
            if v is not None:
                if len(v) > limits.max_field_bytes:
                    raise _field_limit_error(limits, f" of sheet {name!r}")
                budget -= len(v)
        if budget < 0:
            raise _text_limit_error(limits, fmt.upper())
        if not any(_has_text(v) for v in texts):
            if header is not None:
                blanks += 1
            continue
        if header is None:
            width = max(len(texts), sheet.width)
            _check_columns(width, limits)
            header = texts + [None] * (width - len(texts))
            chunks = [[] for _ in range(width)]
            buf = [[] for _ in range(width)]
            has_data = [False] * width
            continue
        texts = texts[:width] + [None] * (width - len(texts))
        for j, v in enumerate(texts):
            buf[j].append(v)
            if not has_data[j] and _has_text(v):
                has_data[j] = True
        lines.append(i + 1)  # iter_rows starts at the sheet's first row, empty or not
        if len(lines) > limits.max_rows:
            raise _rows_limit_error(limits)
        if len(buf[0]) >= SHEET_CHUNK_ROWS:
            flush()
    if header is None:
        return None
    flush()
    columns = [pa.chunked_array(c, pa.string()) for c in chunks]
    return name, header, columns, has_data, lines, blanks


def _read_spreadsheet(data: bytes, limits: Limits, fmt: str) -> RawTable:
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError as e:
        raise InputError(
            "The workbook is password-protected. Remove the password in Excel (or export the "
            "report as CSV) and try again."
        ) from e
    except (CalamineError, OSError, ValueError) as e:
        raise InputError(
            "The spreadsheet is damaged or incomplete (it may have been cut off during "
            "download). Open it in Excel and save it again, or export the report as CSV."
        ) from e
    notes: list[str] = []
    try:
        chosen = None
        for name in wb.sheet_names:
            sheet = wb.get_sheet_by_name(name)
            if sheet.width > limits.max_columns:
                _check_columns(sheet.width, limits)
            chosen = _read_sheet(name, sheet, limits, fmt)
            if chosen is not None:
                break
    except CalamineError as e:
        raise InputError(
            "The spreadsheet is damaged or incomplete (a sheet could not be read). Open it in "
            "Excel and save it again, or export the report as CSV."
        ) from e
    finally:
        wb.close()
    if chosen is None:
        raise InputError(
            "The workbook is empty: none of its sheets has any cells with data. Check that you "
            "exported the right report."
        )
    sheet_name, header, columns, has_data, lines, blanks = chosen
    if len(wb.sheet_names) > 1:
        notes.append(
            f"Read sheet {sheet_name!r}, the first sheet with data "
            f"(the workbook has {len(wb.sheet_names)} sheets)."
        )
    # Columns with neither a header nor any value are layout, not data.
    keep = [j for j in range(len(header)) if _has_text(header[j]) or has_data[j]]
    headers = _unique_headers([header[j] for j in keep])
    table = _string_table([columns[j] for j in keep], headers)
    _check_field_sizes(table, limits)
    if blanks:
        notes.append(f"Skipped {blanks} empty row(s).")
    return RawTable(
        table=table,
        headers=headers,
        lines=lines,
        format=fmt,
        notes=notes,
        sheet=sheet_name,
    )


# --------------------------------------------------------------------------- parquet


def _arrow_to_strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_timestamp(t):
        # Whole seconds: Arrow's %S would print the sub-second digits of the unit.
        seconds = col.cast(pa.timestamp("s", t.tz), safe=False)
        return pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S")
    if pa.types.is_date(t):
        return col.cast(pa.date32()).cast(pa.string())
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return col.cast(pa.string())
    if pa.types.is_floating(t):
        text = col.cast(pa.string())
        return pc.if_else(pc.is_finite(col), text, pa.scalar(None, pa.string()))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        values = [
            None if v is None else v.decode("utf-8", errors="workbench-cp1252")
            for v in col.to_pylist()
        ]
        return pa.chunked_array([pa.array(values, pa.string())])
    try:
        return col.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.chunked_array([pa.array([_cell_text(v) for v in col.to_pylist()], pa.string())])


def _decoded_bytes(col: pa.ChunkedArray) -> int:
    """The bytes a column takes once decoded to plain values: a dictionary column counts each
    index's value, not the dictionary once (a 1 KB file can repeat a 10 KB value 60,000
    times), measured without decoding it."""
    total = 0
    for chunk in col.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            values = chunk.dictionary
            if (
                pa.types.is_string(values.type)
                or pa.types.is_binary(values.type)
                or (pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type))
            ):
                lengths = pc.binary_length(values)
                used = pc.take(lengths, chunk.indices)
                total += int(pc.sum(used).as_py() or 0) + 8 * len(chunk)
            else:
                total += values.type.bit_width // 8 * len(chunk) if values.type.bit_width else 0
        else:
            total += chunk.nbytes
    return total


def _read_parquet(data: bytes, limits: Limits) -> RawTable:
    try:
        with pq.ParquetFile(pa.BufferReader(data)) as first:
            meta = first.metadata
        _check_columns(meta.num_columns, limits)
        if meta.num_rows > limits.max_rows:
            raise _rows_limit_error(limits)
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if unpacked > limits.max_unpacked_bytes:
            raise LimitExceeded(
                f"The Parquet file unpacks to {unpacked / MB:,.0f} MB, over the limit of "
                f"{limits.max_unpacked_mb:g} MB. Export fewer rows, or raise the limit with "
                "the WORKBENCH_MAX_UNPACKED_MB environment variable."
            )
        # The declared sizes are the writer's word: read every column still dictionary-encoded
        # where it is, measure what it decodes to, and decode only within the budget.
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        # Row groups are decoded on this thread: with Arrow's thread pool, a command line
        # that refused the file aborted at exit now and then under load ("terminate called
        # without an active exception", 2-5 runs in 30; none in 70 without it).
        with pq.ParquetFile(pa.BufferReader(data), read_dictionary=names) as pf:
            budget = limits.max_upload_bytes
            groups = []
            for i in range(meta.num_row_groups):
                group = pf.read_row_group(i, use_threads=False)
                budget -= sum(_decoded_bytes(c) for c in group.columns)
                if budget < 0:
                    raise _text_limit_error(limits, "Parquet")
                groups.append(group)
            raw = pa.concat_tables(groups) if groups else pf.schema_arrow.empty_table()
    except LimitExceeded:
        raise
    except (pa.ArrowException, OSError, ValueError, IndexError) as e:
        raise InputError(
            "The Parquet file is damaged or incomplete. Export it again, or upload the data as CSV."
        ) from e
    headers = _unique_headers(raw.column_names)
    try:
        columns = [_arrow_to_strings(c) for c in raw.columns]
    except (pa.ArrowException, ValueError) as e:
        raise InputError(
            "A column of the Parquet file could not be read as text. Export it again, or "
            "upload the data as CSV."
        ) from e
    table = _string_table(columns, headers)
    _check_field_sizes(table, limits)
    lines = list(range(2, table.num_rows + 2))
    return RawTable(table=table, headers=headers, lines=lines, format="parquet")
