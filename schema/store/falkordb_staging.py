"""A first load builds its graph under a private name and swaps it in when done.

``GRAPH.BULK`` gives nodes their positions in creation order, and its edges name nodes by those
positions: another client writing into the same graph between two calls of a pass would shift them
and silently join the wrong nodes. A bulk pass therefore fills a *staging* graph that no one else
writes (``<graph>~bulk~<token>``) and, once complete, replaces the target in one transaction
(``DEL`` + ``RENAME`` under ``WATCH``) if the target is still empty. A client that wrote into the
target meanwhile keeps what it wrote, and the load goes row by row instead; a pass that fails or is
stopped deletes its staging graph and leaves the target as it found it.

A staging graph is held by a *lease*, a key that expires unless the pass keeps sending; a process
killed mid-pass leaves a staging graph whose lease runs out, and the next bulk pass into the same
target deletes it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import redis

from proda.errors import BulkRefused

LEASE_MS = 600_000  # a pass renews it with every call; ten minutes covers the longest gap between calls
PLACE_ATTEMPTS = 20  # swaps tried while other clients keep touching the (still empty) target

_MARK = "~bulk~"
_LEASE = "~lease"


def staging_name(graph_name: str) -> str:
    """A new staging graph's name for ``graph_name``: unique per pass."""
    return f"{graph_name}{_MARK}{secrets.token_hex(8)}"


def lease_key(staging: str) -> str:
    return staging + _LEASE


class Lease:
    """Holds ``staging`` while a pass runs: :meth:`renew` with every call, :meth:`release` at the end."""

    def __init__(self, conn: redis.Redis, staging: str, ms: int = LEASE_MS) -> None:
        self.conn, self.key, self.ms = conn, lease_key(staging), ms
        conn.set(self.key, b"1", px=ms)

    def renew(self) -> None:
        self.conn.pexpire(self.key, self.ms)

    def release(self) -> None:
        self.conn.delete(self.key)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def sweep_orphans(conn: redis.Redis, graph_name: str) -> list[str]:
    """Delete the staging graphs of ``graph_name`` whose lease has run out (their pass was killed);
    returns their names. Staging graphs of passes still running are left alone."""
    gone = []
    for raw in conn.scan_iter(match=_glob_escape(graph_name + _MARK) + "*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        if key.endswith(_LEASE) or conn.exists(lease_key(key)):
            continue
        conn.delete(key)
        gone.append(key)
    return gone


def place(conn: redis.Redis, staging: str, graph_name: str, is_empty: Callable[[], bool]) -> None:
    """Replace ``graph_name`` by ``staging`` in one transaction, if ``graph_name`` is absent or empty
    (``is_empty`` asks the server). Raises :class:`BulkRefused` when another client has written into it,
    which keeps what it wrote; the staging graph is then the caller's to delete."""
    for _ in range(PLACE_ATTEMPTS):
        with conn.pipeline(transaction=True) as p:
            try:
                p.watch(graph_name)  # type: ignore[no-untyped-call]  # a write into the target till EXEC fails it
                there: Any = p.exists(graph_name)
                if there and not is_empty():
                    raise BulkRefused("another client wrote into the graph while this load ran")
                p.multi()
                if there:
                    p.delete(graph_name)
                p.rename(staging, graph_name)
                p.execute()
                return
            except redis.WatchError:
                continue  # touched between the check and the swap (a write, or just its indexes): look again
    raise BulkRefused(f"the graph kept changing during {PLACE_ATTEMPTS} tries to put this load in place")


__all__ = ["LEASE_MS", "Lease", "lease_key", "place", "staging_name", "sweep_orphans"]
