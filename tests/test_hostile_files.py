"""Hostile files, each loaded by the real command line in a subprocess with its peak memory
and time measured: every file stays under 1 GB and 30 s, or is refused before that with a
message saying which limit and how to change it
(SECURITY.md, What user data can and cannot do)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
GB_KB = 1024 * 1024  # VmHWM is in KiB
SECONDS = 30

pytestmark = pytest.mark.slow

# Runs the command line, then reports this process's peak resident memory (VmHWM: the
# high-water mark of this process image; ru_maxrss would carry the forking parent's over).
RUNNER = (
    "import io, json, re, sys\n"
    "from engine.cli import commands\n"
    "out, err = io.StringIO(), io.StringIO()\n"
    "code = commands.main(sys.argv[1:], out=out, err=err)\n"
    "status = open('/proc/self/status').read()\n"
    "peak = int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    "print(json.dumps({'code': code, 'out': out.getvalue(), 'err': err.getvalue(),"
    " 'peak_kb': peak}))\n"
)


def _load(ws: Path, path: Path) -> tuple[dict, float]:
    cmd = [sys.executable, "-c", RUNNER, "--workspace", str(ws), "load", str(path)]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), took


def _xlsx_one_shared_string(path: Path, cells: int = 30_000, size: int = 20_000) -> Path:
    """A workbook whose every cell is the same 20 KB shared string: about 110 KB on disk."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>{0 if r > 1 else 1}</v></c></row>'
        for r in range(1, cells + 2)
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Deals" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/sharedStrings.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2">'
            f"<si><t>{'x' * size}</t></si><si><t>Deal Name</t></si></sst>"
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{rows}</sheetData></worksheet>"
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    path.write_bytes(buf.getvalue())
    return path


def _parquet_big_dictionary(path: Path, rows: int = 100_000, size: int = 10_000) -> Path:
    """100,000 rows that all name one 10 KB dictionary value (1 GB decoded): under a kilobyte
    on disk."""
    col = pa.array(["y" * size] * rows).dictionary_encode()
    pq.write_table(pa.table({"Deal Name": col}), path, use_dictionary=True, compression="zstd")
    return path


def _csv_ten_million_lines(path: Path, lines: int = 10_000_000) -> Path:
    """A deals header and ten million one-character lines: 20 MB."""
    path.write_bytes(b"Deal ID,Owner,Stage\n" + b"1\n" * lines)
    return path


HOSTILE = {
    "xlsx-one-shared-string-in-30k-cells": _xlsx_one_shared_string,
    "parquet-100k-x-10KB-dictionary": _parquet_big_dictionary,
    "csv-ten-million-one-character-lines": _csv_ten_million_lines,
}
SUFFIX = {"xlsx": ".xlsx", "parquet": ".parquet", "csv": ".csv"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_stays_bounded_or_is_refused_with_a_message(
    name: str, tmp_path: Path
) -> None:
    path = HOSTILE[name](tmp_path / f"deals{SUFFIX[name.split('-')[0]]}")
    assert path.stat().st_size < 25 * 1024 * 1024  # small files, all of them
    result, took = _load(tmp_path / "ws", path)
    assert result["peak_kb"] < GB_KB, (name, result["peak_kb"] // 1024, "MB")
    assert took < SECONDS, (name, took)
    if result["code"] != 0:
        assert "limit" in result["err"] and "WORKBENCH_MAX_" in result["err"], result["err"]
    # what each refusal says, so a user knows what to change
    expected = {
        "xlsx-one-shared-string-in-30k-cells": "MB of text",
        "parquet-100k-x-10KB-dictionary": "MB of text",
        "csv-ten-million-one-character-lines": "records",
    }[name]
    assert expected in result["err"], result["err"]


@pytest.mark.parametrize("block", [64, 1000, 16 * 1024 * 1024])
def test_shared_strings_are_added_up_across_the_sheets_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    from engine.core.errors import LimitExceeded
    from engine.load import ingest

    monkeypatch.setattr(ingest, "BLOCK_BYTES", block)  # cells split across reads
    data = _xlsx_one_shared_string(tmp_path / "d.xlsx", cells=2_000, size=1_000).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open("xl/worksheets/sheet1.xml") as fh:
        found = list(ingest._shared_cells(fh))
    assert found == [1] + [0] * 2_000  # every cell once, whichever read it straddles
    # 2,000 cells x 1,000 bytes = 2,000,000 bytes of text (+ the 9-byte header cell)
    over = ingest.Limits(max_upload_mb=1.9)  # 1,992,294 bytes: just under the text
    with pytest.raises(LimitExceeded, match="MB of text"):
        ingest.read_file(data, "d.xlsx", over)
    under = ingest.Limits(max_upload_mb=2.0)  # 2,097,152 bytes: just over it
    assert ingest.read_file(data, "d.xlsx", under).table.num_rows == 2_000
