"""Hostile and broken files end in a clear message or a load report, never a traceback.

Three depths: mutated real-looking exports (CSV and XLSX) through the whole pipeline (ingest,
mapping, typing, validation, load), the command line on every file of the bad-input corpus and
on generated hostile files, and peak memory of a subprocess reading the large hostile files.
Hypothesis examples are bounded (``max_examples``) so ``make test`` stays quick.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import commands as cli
from engine.core.errors import InputError, LimitExceeded, WorkbenchError
from engine.load.ingest import Limits, read_file
from engine.load.pipeline import inspect_file, load, prepare
from engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "bad_inputs"
DIRTY = ROOT / "sample_data" / "dirty"
MB = 1024 * 1024


def _head(path: Path, lines: int) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


SEEDS = {
    "opportunities.csv": _head(DIRTY / "opportunities.csv", 40),
    "stage_history.csv": _head(DIRTY / "stage_history.csv", 40),
    "activities.csv": _head(DIRTY / "activities.csv", 40),
    "fifty_columns.csv": (CORPUS / "fifty_columns.csv").read_bytes(),
}
NASTY = [b'"', b",", b";", b"\t", b"\x00", b"\r", b"\n", b"\r\n", b"\xff\xfe", b"\xef\xbb\xbf"]
NASTY += [b'=HYPERLINK("http://x")', b"'; DROP TABLE x; --", b"<script>", b"9" * 40, b"-", b"e"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real-looking export with a few random edits: flips, inserts, deletes, truncation."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "nasty"]))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.sampled_from(NASTY))
    return name, bytes(data)


def _load_or_message(ws: Workspace, files: list[tuple[str, bytes]]) -> dict | None:
    """Run the whole pipeline; a WorkbenchError must carry a message, a load must add up."""
    try:
        plans = [inspect_file(data, name) for name, data in files]
        prepared = prepare(plans)
        info = load(ws, prepared, "fuzz")
    except WorkbenchError as exc:
        assert exc.message.strip() and exc.title.strip()
        return None
    for plan, f in zip(plans, prepared.files, strict=False):
        if f.source_name == plan.filename:
            assert f.rows_in == plan.raw.records
    for report in prepared.reports():
        assert report["rows_in"] == report["rows_loaded"] + report["rows_quarantined"]
    with ws.cursor(info.token) as cur:
        for file, table, rows_in, loaded, quarantined in cur.execute(
            "SELECT file, table_name, rows_in, rows_loaded, rows_quarantined FROM _load_report"
        ).fetchall():
            assert rows_in == loaded + quarantined
            row = cur.execute(f'SELECT count(*) FROM "{table}" WHERE _file = ?', [file]).fetchone()
            assert row is not None and row[0] == loaded
    return {"token": info.token}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutated())
def test_mutated_exports_load_or_explain(tmp_path: Path, case: tuple[str, bytes]) -> None:
    ws = Workspace(tmp_path / "ws")
    try:
        _load_or_message(ws, [case])
    finally:
        ws.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutated(), mutated())
def test_mutated_file_pairs_load_or_explain(
    tmp_path: Path, a: tuple[str, bytes], b: tuple[str, bytes]
) -> None:
    ws = Workspace(tmp_path / "ws")
    try:
        if a[0] != b[0]:
            _load_or_message(ws, [a, b])
    finally:
        ws.close()


def _xlsx_export() -> bytes:
    wb = openpyxl.Workbook()
    sheet = wb.active
    assert sheet is not None
    text = SEEDS["opportunities.csv"].decode("utf-8", "replace").splitlines()
    for line in text[:25]:
        sheet.append(line.split(","))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


XLSX = _xlsx_export()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_xlsx_is_a_message_or_a_table(data: st.DataObject) -> None:
    blob = bytearray(XLSX)
    cut = data.draw(st.integers(0, len(blob)))
    if data.draw(st.booleans()):
        del blob[cut:]  # truncated download
    else:
        for _ in range(data.draw(st.integers(1, 6))):
            pos = data.draw(st.integers(0, len(blob) - 1))
            blob[pos] = data.draw(st.integers(0, 255))
    try:
        raw = read_file(bytes(blob), "deals.xlsx")
    except InputError as exc:
        assert exc.message.strip()
        return
    assert raw.table.num_columns == len(raw.headers)
    assert len(raw.lines) == raw.num_rows


# --------------------------------------------------------------------------- hostile files


def _bomb_xlsx(unpacked_mb: int) -> bytes:
    """A real XLSX whose sheet unpacks to ``unpacked_mb`` MB: about 1000x its file size."""
    buf = io.BytesIO()
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    head = b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    head += b'spreadsheetml/2006/main"><sheetData>'
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(head)
            chunk = row + b" " * (MB - len(row))  # XML whitespace between rows
            for _ in range(unpacked_mb):
                fh.write(chunk)
            fh.write(b"</sheetData></worksheet>")
    return buf.getvalue()


def _lying_zip() -> bytes:
    """A zip whose directory understates a member's size (declared 1 KB, really 5 MB)."""
    payload = b"<a>" + b"x" * (5 * MB) + b"</a>"
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", payload)
    data = bytearray(good.getvalue())
    small = (1024).to_bytes(4, "little")
    at = 0
    while (at := data.find(b"PK\x03\x04", at)) != -1:  # local headers
        data[at + 22 : at + 26] = small
        at += 4
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) != -1:  # central directory
        data[at + 24 : at + 28] = small
        at += 4
    return bytes(data)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _bomb_xlsx(40)


def test_xlsx_unpacking_to_1000x_its_size_is_refused(bomb: bytes) -> None:
    unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(bomb)).infolist())
    assert unpacked / len(bomb) > 900
    with pytest.raises(LimitExceeded) as info:
        read_file(bomb, "bomb.xlsx", Limits(max_unpacked_mb=10))
    assert "unpacks to 40 MB" in info.value.message
    assert "WORKBENCH_MAX_UNPACKED_MB" in info.value.message


def test_zip_directory_that_understates_sizes_is_refused() -> None:
    blob = _lying_zip()
    with pytest.raises(InputError, match="do not match its zip directory"):
        read_file(blob, "liar.xlsx", Limits(max_unpacked_mb=1))


def test_zlib_stream_is_bounded_by_the_declared_size() -> None:
    # The premise of the check above: Python's zip reader stops at the declared size.
    blob = _lying_zip()
    with zipfile.ZipFile(io.BytesIO(blob)) as zf, zf.open("xl/worksheets/sheet1.xml") as fh:
        with pytest.raises(zipfile.BadZipFile):
            while fh.read(MB):
                pass
    assert zlib.decompress(zlib.compress(b"ok")) == b"ok"


HOSTILE = {
    "ten_mb_field.csv": lambda: b"Opportunity ID,Notes\n1," + b"x" * (10 * MB) + b"\n",
    "ten_thousand_columns.csv": lambda: (
        ",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join(["1"] * 10_000) + "\n"
    ).encode(),
    "nul_bytes.csv": lambda: (
        b"Deal ID,Amount\n"
        + b"".join(
            f"D{i},{i}".encode() + (b"\x00" if i % 40 == 0 else b"") + b"\n" for i in range(200)
        )
    ),
    "mixed_endings.csv": lambda: b"Deal ID,Amount\r\n1,2\n3,4\r5,6\r\n",
    "random.bin": lambda: bytes(range(256)) * 64,
    "bomb.xlsx": lambda: _bomb_xlsx(1200),
}
MAX_RSS_MB = 600


@pytest.mark.slow
def test_hostile_files_in_a_subprocess_keep_memory_bounded(tmp_path: Path) -> None:
    """Each hostile file read by a fresh process under default limits: message, bounded RSS."""
    for name, make in HOSTILE.items():
        (tmp_path / name).write_bytes(make())
    script = (
        "import json, sys\n"
        "from engine.core.errors import WorkbenchError\n"
        "from engine.load.pipeline import inspect_file\n"
        "path = sys.argv[1]\n"
        "try:\n"
        "    plan = inspect_file(open(path, 'rb').read(), path.rsplit('/', 1)[-1])\n"
        "    outcome = f'read {plan.raw.records} records'\n"
        "except WorkbenchError as e:\n"
        "    outcome = e.message\n"
        # VmHWM is this process image's own peak; ru_maxrss would also count the pages
        # shared with the (large) test process between fork and exec.
        "rss = next(int(l.split()[1]) for l in open('/proc/self/status')\n"
        "           if l.startswith('VmHWM')) / 1024\n"
        "print(json.dumps({'outcome': outcome, 'rss_mb': rss}))\n"
    )
    results = {}
    for name in HOSTILE:
        proc = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / name)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (name, proc.stderr)
        results[name] = json.loads(proc.stdout)
    for name, r in results.items():
        assert r["rss_mb"] < MAX_RSS_MB, (name, r)
    assert "1 MB limit per field" in results["ten_mb_field.csv"]["outcome"]
    assert "10,000 columns" in results["ten_thousand_columns.csv"]["outcome"]
    assert "unpacks to 1,200 MB" in results["bomb.xlsx"]["outcome"]
    assert "binary file" in results["random.bin"]["outcome"]
    assert results["nul_bytes.csv"]["outcome"] == "read 200 records"
    assert results["mixed_endings.csv"]["outcome"] == "read 3 records"


# --------------------------------------------------------------------------- command line


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".csv", ".xlsx"))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_cli_validate_answers_every_corpus_file_with_a_message(path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["validate", str(path)], out=out, err=err)
    assert code in (cli.EXIT_OK, cli.EXIT_QUARANTINED, cli.EXIT_UNUSABLE), err.getvalue()
    if code == cli.EXIT_UNUSABLE:
        message = err.getvalue()
        assert ": " in message and len(message) > 40  # title: what is wrong and what to do
        assert "Traceback" not in message
    else:
        assert "What a load would do:" in out.getvalue()
        assert " rows in = " in out.getvalue()


def test_cli_load_of_a_hostile_file_prints_a_message_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "junk.csv"
    bad.write_bytes(bytes(range(256)) * 8)
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "--workspace", str(tmp_path / "ws"), "load", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == cli.EXIT_UNUSABLE
    assert "Traceback" not in proc.stderr
    assert "binary file" in proc.stderr and "Export the report as CSV" in proc.stderr
    assert not list((tmp_path / "ws" / "datasets").iterdir())
