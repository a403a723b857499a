"""The bundled sample dataset, so a newcomer sees real charts at once.

:func:`ensure_sample_dataset` loads ``sample_data/*.csv`` (written by the seeded generator in
``sample_data/``) into a dataset named :data:`SAMPLE_NAME`, once per workspace.
"""

from __future__ import annotations

import threading
from pathlib import Path

from engine.errors import InputError
from engine.pipeline import load_files
from engine.store import Workspace

SAMPLE_NAME = "Sample data"
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
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


def find_sample(ws: Workspace) -> str | None:
    """The token of the workspace's sample dataset, if it has one."""
    for info in ws.list():
        if info.name == SAMPLE_NAME:
            return info.token
    return None


def ensure_sample_dataset(ws: Workspace) -> str:
    """The sample dataset's token, loading the sample CSVs first when the workspace lacks it."""
    with _LOCK:
        token = find_sample(ws)
        if token is not None:
            return token
        info, _ = load_files(ws, sample_files(), name=SAMPLE_NAME)
        return info.token
