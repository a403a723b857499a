"""The workspace: tokens, all-or-nothing loads, listing, deletion and retention."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from engine.core.errors import DatasetNotFound, WorkbenchError
from engine.store.workspace import TOKEN_BYTES, Workspace, is_token, new_token, settle


def _insert_rep(name: str):
    def build(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "INSERT INTO reps (owner, _file, _line, _flagged) VALUES (?, 'reps.csv', 2, false)",
            [name],
        )
        con.execute(
            "INSERT INTO _load_report VALUES ('reps.csv', 'reps', 1, 1, 0, '{}', '{}', '[]')"
        )

    return build


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tokens_carry_at_least_128_bits() -> None:
    assert TOKEN_BYTES * 8 >= 128
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(is_token(t) for t in tokens)
    # a leading "-" would read as an option on the command line (1 in 64 without the guard)
    assert not any(t.startswith("-") for t in tokens)
    for bad in ("", "abc", "../../etc/passwd", "x" * 31, "x" * 33, "a/" + "b" * 30, None, 5):
        assert not is_token(bad)


def test_create_list_info_delete(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    info = ws.create("first", _insert_rep("Ann"), fingerprint="abc")
    assert info.name == "first" and info.fingerprint == "abc"
    assert info.row_counts == {"reps": 1}
    assert [i.token for i in ws.list()] == [info.token]
    with ws.cursor(info.token) as cur:
        assert cur.execute("SELECT owner FROM reps").fetchall() == [("Ann",)]
    ws.delete(info.token)
    assert ws.list() == []
    assert not ws.path(info.token).exists()
    with pytest.raises(DatasetNotFound):
        ws.connection(info.token)


def test_unknown_and_malformed_tokens_are_clear_errors(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(DatasetNotFound, match="malformed"):
        ws.connection("../../etc/passwd")
    with pytest.raises(DatasetNotFound, match="does not exist"):
        ws.connection(new_token())


def test_a_failed_load_leaves_the_workspace_as_it_was(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    first = ws.create("first", _insert_rep("Ann"))
    before = sorted(p.name for p in ws.dir.iterdir())
    digest = _digest(ws.path(first.token))

    def broken(con: duckdb.DuckDBPyConnection) -> None:
        _insert_rep("Bob")(con)
        settle(con)  # a file already committed (as a large CSV is) is removed all the same
        _insert_rep("Cy")(con)
        raise WorkbenchError("boom midway")

    with pytest.raises(WorkbenchError, match="boom midway"):
        ws.create("second", broken)
    assert sorted(p.name for p in ws.dir.iterdir()) == before
    assert [i.name for i in ws.list()] == ["first"]
    assert _digest(ws.path(first.token)) == digest


def test_a_killed_load_is_invisible_and_cleaned_up(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    first = ws.create("first", _insert_rep("Ann"))
    ws.close()
    digest = _digest(ws.path(first.token))
    script = textwrap.dedent(
        f"""
        import os, signal
        from engine.store.workspace import Workspace, settle
        def build(con):
            con.execute("INSERT INTO reps (owner) SELECT 'r' || range FROM range(200000)")
            settle(con)
            con.execute("INSERT INTO reps (owner) SELECT 's' || range FROM range(1000)")
            os.kill(os.getpid(), signal.SIGKILL)
        Workspace({str(tmp_path)!r}).create("doomed", build)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent)
    assert proc.returncode == -9
    leftovers = [p.name for p in ws.dir.iterdir() if ".partial" in p.name]
    assert leftovers  # the kill really happened midway
    assert [i.name for i in Workspace(tmp_path).list()] == ["first"]
    assert not [p.name for p in ws.dir.iterdir() if ".partial" in p.name]
    assert _digest(ws.path(first.token)) == digest


def test_retention_deletes_old_datasets(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    old = ws.create("old", _insert_rep("Ann"))
    new = ws.create("new", _insert_rep("Bob"))
    month_ago = time.time() - 31 * 86400
    os.utime(ws.path(old.token), (month_ago, month_ago))
    assert ws.purge_older_than(30) == [old.token]
    assert [i.token for i in ws.list()] == [new.token]


def test_workspace_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "elsewhere"))
    ws = Workspace()
    assert ws.dir == tmp_path / "elsewhere" / "datasets"
    assert ws.dir.is_dir()


# --------------------------------------------------------------------------- owners


def test_owner_key_is_a_keyed_hash_not_the_identity(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    key = ws.owner_key("user:ann@example.com")
    assert key == ws.owner_key("user:ann@example.com")  # stable
    assert len(key) == 64 and "ann" not in key
    assert key != hashlib.sha256(b"user:ann@example.com").hexdigest()  # keyed, not a bare hash
    assert key != ws.owner_key("user:bob@example.com")
    assert ws.owner_key("") == ""
    # The secret is made once per workspace, readable by its owner only; another process
    # opening the same workspace derives the same key.
    secret = tmp_path / "ws" / "owner.key"
    assert secret.stat().st_mode & 0o077 == 0
    assert Workspace(tmp_path / "ws").owner_key("user:ann@example.com") == key
    assert Workspace(tmp_path / "other").owner_key("user:ann@example.com") != key


def test_list_by_owner_shows_only_that_owners_datasets(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ann, bob = ws.owner_key("browser:a"), ws.owner_key("browser:b")
    a = ws.create("ann's", _insert_rep("Ann"), owner=ann)
    b = ws.create("bob's", _insert_rep("Bob"), owner=bob)
    cli = ws.create("command line", _insert_rep("Cy"))
    assert [i.token for i in ws.list(ann)] == [a.token]
    assert [i.token for i in ws.list(bob)] == [b.token]
    assert ws.list("") == []  # no identity: nothing, not the unowned datasets
    assert {i.token for i in ws.list()} == {a.token, b.token, cli.token}  # admin view
    # Listing reads each dataset's owner without keeping a connection open per dataset.
    assert ws._cons == {}
    assert ws.info(a.token).owner == ann and ws.info(cli.token).owner == ""
    with ws.cursor(a.token) as cur:
        stored = dict(cur.execute("SELECT key, value FROM _meta").fetchall())
    assert stored["owner"] == ann  # the hash, never the raw identity
    ws.close()
