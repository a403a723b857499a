"""Write the bad-input corpus next to this file, deterministically.

Run ``python tests/bad_inputs/make_corpus.py`` to regenerate; the files are committed so tests
and other modules (mapping, validation) can use them without running this script. Each file
is a small, realistic example of something users upload; README.md says what they should see.
"""

from __future__ import annotations

import codecs
import io
import random
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

OPP_HEADER = "Opportunity ID,Opportunity Owner,Stage,Amount,Close Date,Created Date"


def _opps(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    owners = ["Ana Silva", "Ben Okafor", "Chloe Martin", "Dev Patel"]
    stages = ["Prospecting", "Qualification", "Proposal", "Closed Won", "Closed Lost"]
    rows = []
    for i in range(1, n + 1):
        month = rng.randint(1, 6)
        rows.append(
            f"006A{i:05d},{rng.choice(owners)},{rng.choice(stages)},{rng.randint(5, 90) * 1000},"
            f"2024-{month + 3:02d}-{rng.randint(1, 28):02d},2024-{month:02d}-{rng.randint(1, 28):02d}"
        )
    return rows


def _csv(lines: list[str], eol: str = "\n") -> bytes:
    return (eol.join(lines) + eol).encode("utf-8")


def _fifty_columns() -> bytes:
    useful = {
        3: "Opportunity Owner",
        11: "Stage",
        17: "Amount",
        24: "Close Date",
        31: "Created Date",
        44: "Opportunity ID",
    }
    headers = [useful.get(i, f"Custom Field {i}") for i in range(50)]
    headers[0] = "Account Name"
    headers[7] = "Fiscal Period"
    headers[20] = "Lead Source"
    rng = random.Random(50)
    lines = [",".join(f'"{h}"' for h in headers)]
    for r in range(1, 31):
        cells = [f"x{r}-{c}" for c in range(50)]
        cells[0] = f"Acme {r}"
        cells[3] = rng.choice(["Ana Silva", "Ben Okafor"])
        cells[11] = rng.choice(["Prospecting", "Negotiation/Review", "Closed Won"])
        cells[17] = f"{rng.randint(1, 99) * 1000}"
        cells[24] = f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/2024"
        cells[31] = f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/2023"
        cells[44] = f"006B{r:05d}"
        cells[20] = "NA" if r % 5 == 0 else "Web"
        lines.append(",".join(cells))
    return _csv(lines, "\r\n")


def _xlsx_bytes() -> bytes:
    """A minimal valid XLSX written by hand (no openpyxl needed at generation time)."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Opportunities" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
    }
    rows = [
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Opportunity ID</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>Amount</t></is></c></row>'
    ]
    for i in range(2, 400):
        rows.append(
            f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>006C{i:05d}</t></is></c>'
            f'<c r="B{i}"><v>{i * 250}</v></c></row>'
        )
    files["xl/worksheets/sheet1.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<sheetData>" + "".join(rows) + "</sheetData></worksheet>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
    return buf.getvalue()


def corpus() -> dict[str, bytes]:
    opps = _opps(12)
    rng = random.Random(3)
    junk = bytes(rng.randrange(256) for _ in range(2048))
    return {
        "empty.csv": b"",
        "header_only.csv": _csv([OPP_HEADER]),
        "binary_junk.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + junk,
        "wrong_delimiter.csv": _csv(
            [OPP_HEADER.replace(",", ";")]
            + [r.replace(",", ";") for r in opps[:6]]
            + ["006A09999;Ana Silva;Proposal;12500,50;2024-05-01;2024-02-01"]
        ),
        "mixed_encodings.csv": (
            (OPP_HEADER + ",Account Name\n").encode("utf-8")
            + (opps[0] + ",Société Générale\n").encode("utf-8")
            + (opps[1] + ",Müller GmbH\n").encode("cp1252")
            + (opps[2] + ",Zoë Café\n").encode("utf-8")
            + (opps[3] + ",Señor Frío\n").encode("cp1252")
        ),
        "ragged_rows.csv": _csv(
            [OPP_HEADER]
            + opps[:3]
            + ["006A00100,Ana Silva,Proposal"]
            + [opps[3] + ",unexpected,extra"]
            + [opps[4] + ","]
            + opps[5:7]
        ),
        "missing_required_column.csv": _csv(
            ["Opportunity ID,Opportunity Owner,Stage,Close Date,Created Date"]
            + [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in opps[:8]]
        ),
        "duplicate_ids.csv": _csv(
            [OPP_HEADER] + opps[:6] + [opps[2].replace("Proposal", "Closed Won"), opps[4]]
        ),
        "unparseable_dates_amounts.csv": _csv(
            [OPP_HEADER]
            + opps[:4]
            + [
                "006A00201,Ana Silva,Proposal,TBD,2024-05-01,2024-02-01",
                "006A00202,Ben Okafor,Proposal,1.2k,2024-05-01,2024-02-01",
                "006A00203,Chloe Martin,Proposal,15000,next quarter,2024-02-01",
                "006A00204,Dev Patel,Proposal,15000,2024-02-30,2024-02-01",
                "006A00205,Dev Patel,Proposal,15000,2024-06-01,31/31/2024",
            ]
        ),
        "negative_amounts.csv": _csv(
            [OPP_HEADER]
            + opps[:4]
            + [
                "006A00301,Ana Silva,Closed Won,-5000,2024-05-01,2024-02-01",
                '006A00302,Ben Okafor,Proposal,"(1,200)",2024-05-01,2024-02-01',
            ]
        ),
        "close_before_created.csv": _csv(
            [OPP_HEADER]
            + opps[:4]
            + [
                "006A00401,Ana Silva,Closed Won,20000,2024-01-15,2024-03-01",
                "006A00402,Ben Okafor,Closed Lost,8000,2023-12-31,2024-01-02",
            ]
        ),
        "fifty_columns.csv": _fifty_columns(),
        "nul_bytes.csv": _csv([OPP_HEADER] + opps[:5]).replace(b"Proposal", b"Pro\x00posal")
        + b"006A00501,Ana Silva,Prospecting,1000,2024-05-01,2024-02-01\x00\n",
        "mixed_line_endings.csv": (
            (OPP_HEADER + "\r\n" + opps[0] + "\n" + opps[1] + "\r" + opps[2] + "\r\n").encode()
            + (b'006A00601,Ana Silva,Proposal,5000,2024-05-01,"2024-02-01"\n')
        ),
        "utf16_bom.csv": codecs.BOM_UTF16_LE
        + "".join(
            "\t".join(r.split(",")).replace("Ana Silva", "Ána Silva") + "\r\n"
            for r in [OPP_HEADER, *opps[:5]]
        ).encode("utf-16-le"),
        "truncated.xlsx": _xlsx_bytes()[:1500],
    }


def main() -> None:
    for name, data in corpus().items():
        (HERE / name).write_bytes(data)
        assert len(data) < 50_000, name


if __name__ == "__main__":
    main()
