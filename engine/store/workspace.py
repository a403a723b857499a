"""The DuckDB workspace: datasets on disk, each loaded all-or-nothing.

A workspace is a folder (default ``./workspace``, or ``$WORKBENCH_WORKSPACE``) holding one
DuckDB file per dataset, named by the dataset's token. A load builds the new file under a
``.partial`` name and renames it into place only after everything is written and
checkpointed, so a failure or a kill midway never leaves a visible partial dataset, and
earlier datasets (other files) are never touched. Leftover partial files are removed when the
workspace opens.

Loaded datasets are immutable and are read through read-only connections, one per dataset
and process, shared by all sessions; callers take a cursor per query (DuckDB connections are
not thread-safe, cursors are).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from engine.core.errors import DatasetNotFound, WorkbenchError
from engine.core.layout import create_tables, flagged_per_file

TOKEN_BYTES = 24  # 192 bits of randomness
WRITE_MEMORY_LIMIT = os.environ.get("WORKBENCH_WRITE_MEMORY", "512MB")
# Each read connection's buffer (queries beyond it spill or fail with a clear error).
READ_MEMORY_LIMIT = os.environ.get("WORKBENCH_READ_MEMORY", "512MB")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
# Snapshots of a dataset (docs/metrics.md, Pipeline changes): the token's own file always holds
# the latest export, so everything that opens a token analyses the latest; each earlier export
# is kept beside it as ``TOKEN@YYYY-MM-DD`` (its as-of date).
SNAPSHOT_SEP = "@"
SNAPSHOT_RE = re.compile(r"^([A-Za-z0-9_-]{32})@(\d{4}-\d{2}-\d{2})$")
SUFFIX = ".duckdb"
PARTIAL = ".partial"
KILL_AT_ENV = "WORKBENCH_TEST_KILL_AT"
RETENTION_ENV = "WORKBENCH_RETENTION_DAYS"
# The secret that turns an identity (an email, a browser id) into the owner key stored with a
# dataset; made once per workspace, readable by its owner only. See SECURITY.md.
OWNER_SECRET = "owner.key"


def default_root() -> Path:
    return Path(os.environ.get("WORKBENCH_WORKSPACE", "workspace"))


def kill_point(step: str) -> None:
    """Crash-test hook: SIGKILL this process at ``step`` when $WORKBENCH_TEST_KILL_AT names it.

    The load path calls it at each stage (read, prepared, insert:N, built, committed,
    checkpointed, renamed) so a test can prove that a kill at any of them loses nothing.
    """
    if os.environ.get(KILL_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def settle(con: duckdb.DuckDBPyConnection) -> None:
    """Commit what a build has written so far and go on in a new transaction.

    The dataset is still unpublished (its ``.partial`` file is removed on any failure or at
    the next start after a kill), so the load as a whole stays all or nothing. The commit
    lets DuckDB release what the finished steps held: an Arrow table scanned inside a
    transaction is kept alive until that transaction ends.
    """
    con.execute("COMMIT")
    con.execute("BEGIN")


def retention_days() -> float | None:
    """Days a dataset is kept ($WORKBENCH_RETENTION_DAYS); None (the default) keeps them all."""
    raw = os.environ.get(RETENTION_ENV, "").strip()
    if not raw:
        return None
    try:
        days = float(raw)
    except ValueError as exc:
        raise WorkbenchError(
            f"{RETENTION_ENV}={raw!r} is not a number of days. Set it to a number such as 30, "
            "or leave it empty to keep datasets until they are deleted.",
            "Bad retention setting",
        ) from exc
    if days <= 0:
        raise WorkbenchError(
            f"{RETENTION_ENV} must be a positive number of days (it is {raw!r}).",
            "Bad retention setting",
        )
    return days


def new_token() -> str:
    """A fresh dataset token. Never starts with "-", which a command line would read as an
    option (``python -m engine delete -x...``); that costs under 0.03 of 192 bits."""
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if not token.startswith("-"):
            return token


def is_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN_RE.fullmatch(value) is not None


def is_snapshot_key(value: object) -> bool:
    """True for ``TOKEN@YYYY-MM-DD`` with a real calendar date."""
    if not isinstance(value, str):
        return False
    m = SNAPSHOT_RE.fullmatch(value)
    if m is None:
        return False
    try:
        date.fromisoformat(m.group(2))
    except ValueError:
        return False
    return True


def snapshot_key(token: str, as_of: date) -> str:
    return f"{token}{SNAPSHOT_SEP}{as_of.isoformat()}"


def split_key(key: str) -> tuple[str, str | None]:
    """(dataset token, snapshot date or None for the token's own file, the latest)."""
    token, _, day = key.partition(SNAPSHOT_SEP)
    return token, day or None


@dataclass(frozen=True)
class Snapshot:
    """One export of a dataset: ``key`` opens it like a token (``Workspace.cursor``)."""

    key: str  # the token for the latest, TOKEN@YYYY-MM-DD for an earlier one
    as_of: str  # ISO date
    latest: bool


@dataclass(frozen=True)
class DatasetInfo:
    token: str
    name: str
    created_at: str
    fingerprint: str
    row_counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    size_bytes: int = 0
    # Owner key of whoever loaded it in the app (``Workspace.owner_key``); "" when loaded
    # from the command line or as the sample.
    owner: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "name": self.name,
            "created_at": self.created_at,
            "fingerprint": self.fingerprint,
            "row_counts": self.row_counts,
            "files": self.files,
            "size_bytes": self.size_bytes,
            "owner": self.owner,
        }


def _unwritable(folder: Path, exc: OSError) -> WorkbenchError:
    """A clear error for a workspace that cannot be written (read-only, full, removed)."""
    why = exc.strerror or type(exc).__name__
    return WorkbenchError(
        f"The workspace folder {folder} cannot be written ({why}). Nothing was saved and the "
        "files you uploaded are still here: free some space or fix the folder's permissions "
        "(or point WORKBENCH_WORKSPACE at a writable folder) and load again.",
        "Load failed",
    )


def _remove_leftovers(folder: Path, prefix: str) -> None:
    """Remove every entry of ``folder`` whose name starts with ``prefix``: the files and the
    folders a build leaves (DuckDB's spill folder ``<file>.tmp/``, its WAL, parked findings).
    Idempotent: what is already gone, or vanishes meanwhile, is fine."""
    for p in folder.glob(f"{prefix}*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


class Workspace:
    """A folder of datasets. Safe to share between threads of one process."""

    def __init__(
        self,
        root: Path | str | None = None,
        finish: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        """``finish(con)``, when given, runs on every file this workspace writes, after its
        rows and before it is published, and again after a setting changes: it stores what
        the file implies (``engine/semantic/facts.py``)."""
        self.root = Path(root) if root is not None else default_root()
        self.finish = finish
        self.dir = self.root / "datasets"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._cons: dict[str, duckdb.DuckDBPyConnection] = {}
        self._info: dict[str, DatasetInfo] = {}
        self._days: dict[str, tuple[tuple[int, int], str]] = {}
        # Inode of each open file: a token's file is replaced when a newer snapshot is added
        # (by this process or another), and its connection then opens the new file.
        self._inode: dict[str, int] = {}
        self._info_inode: dict[str, int | None] = {}
        self._secret: bytes | None = None
        self._remove_partials()

    # --- paths -----------------------------------------------------------------------------
    def path(self, token: str) -> Path:
        """The file of a dataset token or of a snapshot key (``TOKEN@YYYY-MM-DD``)."""
        if is_snapshot_key(token):
            return self.dir / f"{token}{SUFFIX}"
        if not is_token(token):
            raise DatasetNotFound(
                "That link does not name a dataset (the token is malformed). "
                "Open the Upload page to load data or pick a dataset in the sidebar."
            )
        return self.dir / f"{token}{SUFFIX}"

    def _remove_partials(self) -> None:
        """Remove what a killed load left behind; a load still running holds its lock."""
        for lock_path in self.dir.glob(f"*{PARTIAL}.lock"):
            token = lock_path.name.split(".")[0]
            with open(lock_path, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # another process is writing this dataset right now
                _remove_leftovers(self.dir, f"{token}{PARTIAL}{SUFFIX}")
                lock_path.unlink(missing_ok=True)

    # --- writing ---------------------------------------------------------------------------
    def create(
        self,
        name: str,
        build: Callable[[duckdb.DuckDBPyConnection], None],
        fingerprint: str | Callable[[], str] = "",
        owner: str = "",
        publish_as: Callable[[duckdb.DuckDBPyConnection], str] | None = None,
    ) -> DatasetInfo:
        """Build a dataset with ``build(con)`` and publish it atomically under a new token.
        ``fingerprint`` may be a function, asked once the build is done; ``owner`` is the
        loader's owner key (:meth:`owner_key`), kept in ``_meta`` to list the dataset to them.

        Writes are serialised within the process (one build at a time); readers are never
        blocked because they only open published, immutable files.

        ``publish_as(con)``, asked once the build is done, makes the build a new snapshot
        ``TOKEN@DAY`` of an existing dataset instead (``engine/load/snapshots.py``): the
        dataset's latest file is first kept under its own as-of date (a hard link, so the
        dataset is never missing), then the new file replaces it under the token.
        """
        token = new_token()
        final = self.path(token)
        partial = self.dir / f"{token}{PARTIAL}{SUFFIX}"
        lock_path = self.dir / f"{token}{PARTIAL}.lock"
        try:  # the folder may have been deleted while the app runs: make it again
            self.dir.mkdir(parents=True, exist_ok=True)
            lock_file = open(lock_path, "w")  # noqa: SIM115 (closed by the with below)
        except OSError as exc:
            raise _unwritable(self.dir, exc) from exc
        with self._write_lock, lock_file as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                # A bounded buffer: a large load spills to disk instead of growing memory.
                con = duckdb.connect(str(partial), config={"memory_limit": WRITE_MEMORY_LIMIT})
                try:
                    con.execute("BEGIN")
                    create_tables(con)
                    build(con)
                    meta = {
                        "name": name,
                        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "fingerprint": fingerprint() if callable(fingerprint) else fingerprint,
                        "owner": owner,
                    }
                    con.executemany(
                        "INSERT INTO _meta VALUES (?, ?)", [[k, v] for k, v in meta.items()]
                    )
                    keep: Path | None = None
                    if publish_as is not None:
                        into, day = split_key(publish_as(con))
                        if day is None or not self.exists(into):
                            raise DatasetNotFound(f"No dataset with token {into[:6]}... exists.")
                        known = [snap.as_of for snap in self.snapshots(into)]
                        if day in known:
                            raise WorkbenchError(
                                f"A snapshot as of {day} exists already: delete it first or "
                                "give another as-of date.",
                                "Snapshot exists",
                            )
                        final = self.path(into)
                        keep = self.path(f"{into}{SNAPSHOT_SEP}{known[-1]}")
                    if self.finish is not None:
                        self.finish(con)
                    kill_point("built")
                    con.execute("COMMIT")
                    kill_point("committed")
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                _fsync(partial)
                kill_point("checkpointed")
                if keep is not None:
                    with self._lock:
                        if not keep.exists():
                            os.link(final, keep)  # the latest stays, under its as-of date
                        _fsync_dir(self.dir)
                        os.replace(partial, final)
                        self._forget(final.name[: -len(SUFFIX)])
                else:
                    os.replace(partial, final)
                _fsync_dir(self.dir)
                kill_point("renamed")
                lock_path.unlink(missing_ok=True)
            except BaseException as exc:
                _remove_leftovers(self.dir, f"{token}{PARTIAL}{SUFFIX}")
                lock_path.unlink(missing_ok=True)
                if isinstance(exc, WorkbenchError):
                    raise
                if isinstance(exc, OSError):
                    raise _unwritable(self.dir, exc) from exc
                if isinstance(exc, duckdb.Error):
                    raise WorkbenchError(
                        f"The dataset could not be written: {exc}", "Load failed"
                    ) from exc
                raise
        return self.info(final.name[: -len(SUFFIX)])

    def set_meta(self, token: str, key: str, value: str) -> None:
        """Replace one ``_meta`` setting of a published dataset (the segment thresholds of
        docs/data.md); its rows never change. The shared read-only connection is closed (a
        query running on it that moment fails and is retried by the next rerun) and the next
        reader opens the file again. The file keeps its age for retention."""
        path = self.path(token)
        if not path.exists():
            raise DatasetNotFound(f"No dataset with token {token[:6]}... exists.")
        with self._write_lock, self._lock:
            con = self._cons.pop(token, None)
            self._info.pop(token, None)
            if con is not None:
                con.close()
            stat = path.stat()
            try:
                writer = duckdb.connect(str(path))
                try:
                    writer.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", [key, value])
                    if self.finish is not None:
                        self.finish(writer)  # what the file implies may follow the setting
                    writer.execute("CHECKPOINT")
                finally:
                    writer.close()
            except duckdb.Error as exc:
                raise WorkbenchError(
                    f"The dataset's settings could not be saved ({exc}). Close other programs "
                    "using it and try again.",
                    "Not saved",
                ) from exc
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    def delete(self, token: str) -> None:
        """Remove a dataset's file from disk (its rows are gone, not only hidden), with every
        snapshot; ``TOKEN@DAY`` removes that snapshot alone (the latest: the one before it
        becomes the latest). A dataset's only snapshot goes with the dataset only."""
        if is_snapshot_key(token):
            self._delete_snapshot(*split_key(token))  # type: ignore[arg-type]
            return
        if is_token(token):
            for snap in self.snapshots(token)[:-1]:
                self._unlink(snap.key)
        path = self.path(token)
        with self._lock:
            con = self._cons.pop(token, None)
            self._info.pop(token, None)
            if con is not None:
                con.close()
        if not path.exists():
            raise DatasetNotFound(f"No dataset with token {token[:6]}... exists.")
        path.unlink()
        _remove_leftovers(self.dir, f"{token}{SUFFIX}.")

    def _forget(self, key: str) -> None:
        """Close this process's connection to a file that was replaced or removed."""
        con = self._cons.pop(key, None)
        self._info.pop(key, None)
        self._inode.pop(key, None)
        if con is not None:
            con.close()

    def _unlink(self, key: str) -> None:
        with self._lock:
            self._forget(key)
        self.path(key).unlink(missing_ok=True)
        for extra in self.dir.glob(f"{key}{SUFFIX}.*"):
            extra.unlink(missing_ok=True)

    def _delete_snapshot(self, token: str, day: str) -> None:
        snaps = self.snapshots(token)
        snap = next((s for s in snaps if s.as_of == day), None)
        if snap is None:
            raise DatasetNotFound(f"This dataset has no snapshot as of {day}.")
        if len(snaps) < 2:
            raise WorkbenchError(
                "This is the dataset's only snapshot: delete the dataset instead.",
                "Only snapshot",
            )
        if not snap.latest:
            self._unlink(snap.key)
            return
        before = snaps[-2]
        with self._write_lock, self._lock:
            os.replace(self.path(before.key), self.path(token))  # the one before is the latest
            self._forget(token)
            self._forget(before.key)
            _fsync_dir(self.dir)

    def purge_older_than(
        self, days: float, now: float | None = None, keep: Iterable[str] = ()
    ) -> list[str]:
        """Delete datasets older than ``days`` (retention); returns the deleted tokens.

        Age is the time since the dataset file was published (its modification time; files
        are never written after that). Tokens in ``keep`` are left alone.
        """
        cutoff = (now if now is not None else time.time()) - days * 86400
        kept = set(keep)
        gone = []
        for token in self.tokens():
            if token in kept:
                continue
            try:
                old = self.path(token).stat().st_mtime < cutoff
            except FileNotFoundError:
                continue  # deleted meanwhile
            if old:
                try:
                    self.delete(token)
                except DatasetNotFound:
                    continue
                gone.append(token)
        return gone

    def apply_retention(self, keep: Iterable[str] = ()) -> list[str]:
        """Delete datasets older than $WORKBENCH_RETENTION_DAYS (nothing when it is unset)."""
        days = retention_days()
        return [] if days is None else self.purge_older_than(days, keep=keep)

    # --- reading ---------------------------------------------------------------------------
    def tokens(self) -> list[str]:
        out = []
        for p in self.dir.glob(f"*{SUFFIX}"):
            token = p.name[: -len(SUFFIX)]
            if is_token(token):
                out.append(token)
        return out

    def exists(self, token: str) -> bool:
        return (is_token(token) or is_snapshot_key(token)) and self.path(token).exists()

    def snapshots(self, token: str) -> list[Snapshot]:
        """The dataset's snapshots, oldest first: every earlier export kept under its as-of
        date, then the latest (the token's own file, as of its data's date). Empty when the
        dataset does not exist."""
        if not is_token(token) or not self.exists(token):
            return []
        latest = Snapshot(token, self.as_of(token), True)
        earlier = []
        for p in self.dir.glob(f"{token}{SNAPSHOT_SEP}*{SUFFIX}"):
            key = p.name[: -len(SUFFIX)]
            day = split_key(key)[1]
            if is_snapshot_key(key) and split_key(key)[0] == token and day != latest.as_of:
                earlier.append(Snapshot(key, str(day), False))
        return [*sorted(earlier, key=lambda s: s.as_of), latest]

    def snapshot(self, token: str, day: str | None) -> Snapshot:
        """The snapshot of ``token`` as of ``day`` (an ISO date), or the latest for None.
        ``day`` is checked against the dataset's list before any file is named by it."""
        snaps = self.snapshots(token)
        if not snaps:
            raise DatasetNotFound(f"No dataset with token {token[:6]}... exists.")
        if day is None:
            return snaps[-1]
        for snap in snaps:
            if snap.as_of == day:
                return snap
        raise DatasetNotFound(
            f"This dataset has no snapshot as of {day[:10]!r}; it has "
            + ", ".join(s.as_of for s in snaps)
            + "."
        )

    def as_of(self, key: str) -> str:
        """The day a dataset or snapshot describes (``data_as_of`` in its ``_meta``), read once
        per version of its file (every page run asks for it)."""
        try:
            stat = self.path(key).stat()
            version: tuple[int, int] | None = (stat.st_ino, stat.st_ctime_ns)
        except OSError:
            version = None
        known = self._days.get(key)
        if version is not None and known is not None and known[0] == version:
            return known[1]
        with self._info_cursor(key) as cur:
            meta = dict(
                cur.execute(
                    "SELECT key, value FROM _meta WHERE key IN ('data_as_of', 'as_of')"
                ).fetchall()
            )
        day = str(meta.get("data_as_of") or meta.get("as_of") or "")
        if version is not None:
            self._days[key] = (version, day)
        return day

    def connection(self, token: str) -> duckdb.DuckDBPyConnection:
        """The shared read-only connection of a dataset; take ``.cursor()`` per query."""
        path = self.path(token)
        with self._lock:
            con = self._cons.get(token)
            try:
                inode = path.stat().st_ino
            except FileNotFoundError:
                inode = None
            if con is not None and inode is not None and inode == self._inode.get(token):
                return con
            if con is not None:
                # Deleted by another process (CLI delete or purge), or replaced by a newer
                # snapshot: stop serving the old file.
                self._forget(token)
            if not path.exists():
                raise DatasetNotFound(
                    "This dataset does not exist: it may have been deleted or the link is "
                    "incomplete. Load the files again on the Upload page."
                )
            try:
                con = duckdb.connect(
                    str(path), read_only=True, config={"memory_limit": READ_MEMORY_LIMIT}
                )
            except duckdb.Error as exc:
                raise DatasetNotFound(f"The dataset could not be opened: {exc}") from exc
            self._cons[token] = con
            if inode is not None:
                self._inode[token] = inode
            return con

    @contextmanager
    def cursor(self, token: str) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.connection(token).cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _info_cursor(self, token: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reading a dataset's info: the shared connection when the dataset is
        open, else one opened and closed here, so listing a workspace (the sidebar asks for
        every dataset's owner) does not keep a connection open per dataset."""
        if token in self._cons:
            with self.cursor(token) as cur:
                yield cur
            return
        path = self.path(token)
        try:
            con = duckdb.connect(
                str(path), read_only=True, config={"memory_limit": READ_MEMORY_LIMIT}
            )
        except duckdb.Error as exc:
            if not path.exists():
                raise DatasetNotFound(f"No dataset with token {token[:6]}... exists.") from exc
            raise DatasetNotFound(f"The dataset could not be opened: {exc}") from exc
        try:
            yield con
        finally:
            con.close()

    def info(self, token: str) -> DatasetInfo:
        cached = self._info.get(token)
        if cached is not None and self._info_inode.get(token) == _inode(self.path(token)):
            return cached
        with self._info_cursor(token) as cur:
            meta = dict(cur.execute("SELECT key, value FROM _meta").fetchall())
            report = cur.execute(
                "SELECT file, table_name, rows_loaded FROM _load_report ORDER BY file"
            ).fetchall()
        counts: dict[str, int] = {}
        for _file, table, loaded in report:
            counts[table] = counts.get(table, 0) + int(loaded)
        info = DatasetInfo(
            token=token,
            name=meta.get("name", token[:8]),
            created_at=meta.get("created_at", ""),
            fingerprint=meta.get("fingerprint", ""),
            row_counts=counts,
            files=[r[0] for r in report],
            size_bytes=self.path(token).stat().st_size,
            owner=meta.get("owner", ""),
        )
        with self._lock:
            self._info[token] = info
            self._info_inode[token] = _inode(self.path(token))
        return info

    def list(self, owner: str | None = None) -> list[DatasetInfo]:
        """Every dataset, newest first; with ``owner``, only those loaded under that key."""
        infos = []
        for token in self.tokens():
            try:
                info = self.info(token)
            except WorkbenchError:
                continue
            if owner is None or (owner and hmac.compare_digest(info.owner, owner)):
                infos.append(info)
        return sorted(infos, key=lambda i: i.created_at, reverse=True)

    def flagged_rows(self, token: str) -> dict[str, int]:
        """Loaded rows that carry at least one warning, per source file (``_flagged``)."""
        with self.cursor(token) as cur:
            return flagged_per_file(cur)

    def owner_key(self, identity: str) -> str:
        """The key a dataset is stored and listed under for ``identity`` (an email address or
        a browser id): HMAC-SHA256 with this workspace's secret, so the stored key reveals
        neither the identity nor, without the secret, whether a guessed one matches."""
        if not identity:
            return ""
        return hmac.new(self._owner_secret(), identity.encode("utf-8"), hashlib.sha256).hexdigest()

    def _owner_secret(self) -> bytes:
        if self._secret is None:
            self._secret = self._read_or_make_secret()
        return self._secret

    def _read_or_make_secret(self) -> bytes:
        path = self.root / OWNER_SECRET
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = path.read_bytes()
            if len(secret) >= 32:
                return secret
            time.sleep(0.05)  # another process is writing it right now
            return path.read_bytes()
        secret = secrets.token_bytes(32)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
            fh.flush()
            os.fsync(fh.fileno())
        return secret

    def close(self) -> None:
        with self._lock:
            for con in self._cons.values():
                con.close()
            self._cons.clear()


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync(path)
    except OSError:
        pass


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)
