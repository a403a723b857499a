"""The bundled sample dataset, so a newcomer sees real charts at once.

:func:`ensure_sample_dataset` loads ``sample_data/*.csv`` (written by the seeded generator in
``sample_data/``) into a dataset named :data:`SAMPLE_NAME`, once per workspace.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from engine.core.errors import InputError
from engine.load.pipeline import load_files
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
    """The sample dataset's token, loading the sample CSVs first when the workspace lacks it."""
    with _LOCK:
        token = find_sample(ws)
        if token is not None:
            return token
        info, _ = load_files(ws, sample_files(), name=SAMPLE_NAME)
        tmp = _marker(ws).with_suffix(".tmp")
        tmp.write_text(info.token, encoding="utf-8")
        os.replace(tmp, _marker(ws))
        return info.token


def apply_retention(ws: Workspace) -> list[str]:
    """Delete datasets older than $WORKBENCH_RETENTION_DAYS, keeping the bundled sample."""
    sample = find_sample(ws)
    return ws.apply_retention(keep=[sample] if sample else [])
