"""Remembered mappings are safe for two writers and kept per person."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.load.mapping import MappingStore, recognise

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys
from pathlib import Path
from engine.load.mapping import MappingStore, recognise
store = MappingStore(Path(sys.argv[1]))
who, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    headers = ["Opportunity ID", "Owner", "Stage", "Amount", f"{who} extra {i}"]
    store.save(recognise(headers, "deals.csv"))
"""


def test_two_processes_saving_at_once_keep_every_mapping(tmp_path: Path) -> None:
    path = tmp_path / "mappings.json"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, "150"], cwd=ROOT)
        for who in ("ann", "bob")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    # 150 + 150 distinct header sets, every one remembered (a lost update would drop some)
    assert len(MappingStore(path).signatures()) == 300


def test_each_person_has_a_store_of_their_own(tmp_path: Path) -> None:
    ann = MappingStore.for_owner(tmp_path, "a" * 64)
    bob = MappingStore.for_owner(tmp_path, "b" * 64)
    mapping = recognise(["Opportunity ID", "Owner", "Stage", "Amount"], "deals.csv")
    ann.save(mapping)
    assert ann.load(mapping.header_signature) is not None
    assert bob.load(mapping.header_signature) is None  # Ann's choice is not Bob's default
    # a key that is not a hex digest never becomes a path
    assert (
        MappingStore.for_owner(tmp_path, "../../etc").path == tmp_path / "mappings" / "shared.json"
    )
