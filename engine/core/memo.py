"""A bounded cache of computed results, keyed by what they were computed from.

The pages ask the same questions of the same dataset on every rerun (a widget moved elsewhere,
another tab opened the page). A dataset file never changes once written except through its
own settings, so a result is keyed by the file's identity (path, inode, modification time)
and the request, and kept until the cache's byte budget pushes it out (least recently used
first). Results are stored pickled: every hit returns a fresh copy that the caller may change,
and the budget counts real bytes, not entries. A result that cannot be pickled is returned
uncached.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

CACHE_MB_ENV = "WORKBENCH_CACHE_MB"
DEFAULT_CACHE_MB = 256


def budget_from_env() -> int:
    """Bytes the result cache may hold: ``$WORKBENCH_CACHE_MB`` (default 256); 0 turns it off."""
    raw = os.environ.get(CACHE_MB_ENV, "").strip()
    mb = int(raw) if raw.isascii() and raw.isdigit() else DEFAULT_CACHE_MB
    return mb * 1024 * 1024


def request_key(*parts: Any) -> str:
    """A digest of the request's parts, for a cache key. Each part is pickled on its own: in
    one pickle, a value two parts share (the same date object in a request and in a result
    computed from it) is written once and referenced after, so equal requests could differ."""
    digest = hashlib.sha256()
    for part in parts:
        blob = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
        digest.update(len(blob).to_bytes(8, "little") + blob)
    return digest.hexdigest()


class ResultCache:
    """Least-recently-used results within ``max_bytes`` (pickled size), safe across threads.

    Two threads asking for the same missing key both compute it (no result waits on another
    session's query); the second store replaces the first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached result for ``key``, else ``compute()`` stored (when it fits)."""
        with self._lock:
            blob = self._items.get(key)
            if blob is not None:
                self._items.move_to_end(key)
                self.hits += 1
        if blob is not None:
            result: T = pickle.loads(blob)
            return result
        self.misses += 1
        value = compute()
        try:
            blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # not picklable (an open relation, a lambda): returned uncached
            return value
        if len(blob) > self.max_bytes:
            return value
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = blob
            self._bytes += len(blob)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
