"""Who writes ``$PRODA_HOME/operations.sqlite3``: one process at a time, found by a lock file.

The operation store has a single writer, the process that hosts the :class:`Supervisor` (``proda
serve``, or ``proda studio`` when no server runs). That process holds an exclusive ``flock`` on
``operations.owner`` beside the store for as long as it runs and writes into it who it is and the
gRPC address it answers on. The kernel drops the lock when the process dies, so a crashed owner never
blocks the next one, and a second would-be owner learns whom to talk to instead of writing the store
behind the first one's back (a second supervisor would also mark the first one's running jobs as
interrupted at its start).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from proda.errors import ConfigError

OWNER_FILE = "operations.owner"


@dataclass(frozen=True)
class OwnerInfo:
    """What the owning process wrote about itself."""

    pid: int
    role: str  # "proda serve" or "proda studio"
    address: str  # its gRPC host:port ("" until it listens)
    since: float


class OperationsOwned(ConfigError):
    """Another live process owns the operation store of this PRODA_HOME."""

    def __init__(self, path: Path, owner: OwnerInfo | None) -> None:
        self.owner = owner
        who = (f"{owner.role} (pid {owner.pid}" + (f", gRPC {owner.address}" if owner.address else "") + ")"
               if owner else "another process")
        super().__init__(f"the operations of {path.parent} are served by {who}; one process writes them at a "
                         "time: connect to it, or stop it first")


def read_owner(home: Path) -> OwnerInfo | None:
    """What the current owner wrote (None: no owner file, or unreadable)."""
    try:
        data = json.loads((home / OWNER_FILE).read_text())
        return OwnerInfo(pid=int(data["pid"]), role=str(data["role"]), address=str(data.get("address", "")),
                         since=float(data.get("since", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class OperationsOwner:
    """The held ownership of one PRODA_HOME's operation store; :meth:`release` (or process exit) ends it."""

    def __init__(self, home: Path, fd: int, role: str) -> None:
        self.home = home
        self._fd: int | None = fd
        self.role = role
        self.since = time.time()

    @classmethod
    def claim(cls, home: Path, role: str) -> OperationsOwner:
        """Take ownership of ``home``'s operations; raises :class:`OperationsOwned` naming the live owner."""
        home.mkdir(parents=True, exist_ok=True)
        path = home / OWNER_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OperationsOwned(path, read_owner(home)) from None
        owner = cls(home, fd, role)
        owner.announce("")
        return owner

    def announce(self, address: str) -> None:
        """Record the gRPC address this owner answers on, for clients that find it through the file."""
        if self._fd is None:
            return
        text = json.dumps({"pid": os.getpid(), "role": self.role, "address": address, "since": self.since})
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        """Give up ownership (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock
