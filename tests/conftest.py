"""Shared fixtures: the committed sample dataset loaded through the app's own loader.

``sample_dataset`` loads ``sample_data/*.csv`` once per test session with
:func:`engine.load.pipeline.load_files` into a temporary :class:`engine.store.workspace.Workspace`, so tests
that check numbers on the sample check them on exactly what the app loads.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from engine.load.pipeline import load_files
from engine.load.samples import SAMPLE_DIR
from engine.store.workspace import Workspace
from tests.metrics_fixtures import SAMPLE_AS_OF

SAMPLE_TABLES = ("opportunities", "stage_history", "activities", "reps", "quotas", "leads")


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    """(workspace, token) of the sample CSVs loaded through ``engine.load.pipeline.load_files``."""
    ws = Workspace(tmp_path_factory.mktemp("sample_workspace"))
    files = [(f"{t}.csv", (SAMPLE_DIR / f"{t}.csv").read_bytes()) for t in SAMPLE_TABLES]
    info, _ = load_files(ws, files, name="sample", as_of=SAMPLE_AS_OF)
    yield ws, info.token
    ws.close()


@pytest.fixture
def sample_con(sample_dataset: tuple[Workspace, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the loaded sample dataset (closed after the test)."""
    ws, token = sample_dataset
    with ws.cursor(token) as cur:
        yield cur


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Release what the app's caches still hold (each cached workspace closes its connections),
    so no DuckDB connection outlives the run."""
    import gc

    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    gc.collect()
