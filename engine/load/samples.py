"""The bundled sample dataset, so a newcomer sees real charts at once.

:func:`ensure_sample_dataset` loads ``sample_data/*.csv`` (written by the seeded generator in
``sample_data/``) into a dataset named :data:`SAMPLE_NAME`, once per workspace.
"""

from __future__ import annotations

import os
import threading
from datetime import date
from pathlib import Path

from engine.core.errors import InputError
from engine.load.pipeline import load_files
from engine.load.snapshots import load_snapshot
from engine.store.workspace import Workspace

SAMPLE_NAME = "Sample data"
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE_FILES = (
    "opportunities.csv",
    "stage_history.csv",
    "activities.csv",
    "reps.csv",
    "quotas.csv",
    "leads.csv",
)
SNAPSHOT_DIR = "snapshots"
HISTORY_ADDED = "stage_history_added.csv"
_LOCK = threading.Lock()


def sample_files(directory: Path = SAMPLE_DIR) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every sample CSV present, in :data:`SAMPLE_FILES` order."""
    if not (directory / SAMPLE_FILES[0]).exists():
        _generate(directory)
    files = [(n, (directory / n).read_bytes()) for n in SAMPLE_FILES if (directory / n).exists()]
    if not files:
        raise InputError(f"No sample CSV files were found in {directory}.", "No sample data")
    return files


def _generate(directory: Path) -> None:
    """Write the sample CSVs with the project's seeded generator when they are missing."""
    from sample_data import generate

    generate.main(["--out", str(directory)])


def _marker(ws: Workspace) -> Path:
    return ws.root / "sample.token"


def find_sample(ws: Workspace) -> str | None:
    """The token of the workspace's sample dataset, if it has one.

    The sample is known by a marker file the server writes, never by its name: anybody can
    call an upload "Sample data", and the sample is the one dataset every session is shown.
    """
    try:
        token = _marker(ws).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token if ws.exists(token) else None


def ensure_sample_dataset(ws: Workspace) -> str:
    """The sample dataset's token, loading the sample CSVs first when the workspace lacks it.

    The sample's earlier exports (``sample_data/snapshots/<day>/``) load first, then the sample
    itself as the latest snapshot, so every page analyses the sample and the Pipeline changes
    page has two snapshots to compare on first start (docs/metrics.md, Pipeline changes)."""
    with _LOCK:
        token = find_sample(ws)
        if token is not None:
            return token
        earlier = sample_snapshots()
        if earlier:
            day, files = earlier[0]
            info, _ = load_files(ws, files, name=SAMPLE_NAME, as_of=day)
            for day, files in earlier[1:]:
                load_snapshot(ws, info.token, files, as_of=day)
            load_snapshot(ws, info.token, sample_files())
        else:
            info, _ = load_files(ws, sample_files(), name=SAMPLE_NAME)
        tmp = _marker(ws).with_suffix(".tmp")
        tmp.write_text(info.token, encoding="utf-8")
        os.replace(tmp, _marker(ws))
        return info.token


def sample_snapshots(directory: Path = SAMPLE_DIR) -> list[tuple[date, list[tuple[str, bytes]]]]:
    """The sample CRM's earlier exports (``sample_data/snapshots/<day>/``), oldest first: their
    own files, and the sample's other tables."""
    out = []
    for folder in sorted((directory / SNAPSHOT_DIR).glob("????-??-??")):
        day = date.fromisoformat(folder.name)
        own = {n: (folder / n).read_bytes() for n in SAMPLE_FILES if (folder / n).exists()}
        added = folder / HISTORY_ADDED
        if added.exists() and "opportunities.csv" in own:
            own["stage_history.csv"] = _history(directory, own["opportunities.csv"], added, day)
        files = [(n, own.get(n) or (directory / n).read_bytes()) for n in SAMPLE_FILES]
        out.append((day, files))
    return out


def _history(directory: Path, opportunities: bytes, added: Path, day: date) -> bytes:
    """That day's stage history export: the sample's rows entered by then, of deals in that
    export, then the rows of deals the sample no longer has."""
    ids = {line.split(b",", 1)[0] for line in opportunities.splitlines()[1:]}
    lines = (directory / "stage_history.csv").read_bytes().splitlines(keepends=True)
    last = day.isoformat().encode()

    def keep(line: bytes) -> bool:
        oid, _stage, entered = line.split(b",", 3)[:3]
        return oid in ids and entered[:10] <= last

    kept = [lines[0], *(ln for ln in lines[1:] if keep(ln))]
    return b"".join(kept) + b"".join(added.read_bytes().splitlines(keepends=True)[1:])


def apply_retention(ws: Workspace) -> list[str]:
    """Delete datasets older than $WORKBENCH_RETENTION_DAYS, keeping the bundled sample."""
    sample = find_sample(ws)
    return ws.apply_retention(keep=[sample] if sample else [])
