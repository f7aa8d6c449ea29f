"""Durable operations: what a long-running job is, and the SQLite store that outlives the server.

An :class:`OperationRecord` is the state of one job; an :class:`OperationEvent` is one entry of its
history (progress, a log line, a state change), numbered per operation so a watcher can resume.
:class:`OperationStore` keeps both in ``$PRODA_HOME/operations.sqlite3``: a local file rather than
the graph, so operations stay readable while the graph is down, which is exactly when someone asks
why a job failed. Only the server process writes it; workers report through a pipe.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from proda.errors import ConfigError, InputError, NotFound

MAX_REQUEST_ID_CHARS = 128
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    request_id TEXT UNIQUE,
    request_hash TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    progress TEXT NOT NULL,
    result TEXT,
    error TEXT,
    create_time REAL NOT NULL,
    start_time REAL,
    update_time REAL NOT NULL,
    end_time REAL,
    worker_pid INTEGER
);
CREATE INDEX IF NOT EXISTS operations_by_time ON operations (create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS operations_by_state ON operations (state);
CREATE TABLE IF NOT EXISTS events (
    operation_id TEXT NOT NULL REFERENCES operations (id),
    seq INTEGER NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
"""


class OperationState(StrEnum):
    """Lifecycle of an operation."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self in (OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED)


@dataclass(frozen=True)
class Progress:
    """Units done of ``total`` (0: unknown) and what the job is doing."""

    done: int = 0
    total: int = 0
    message: str = ""


@dataclass(frozen=True)
class OperationError:
    """Why an operation failed: a gRPC status name (``"UNAVAILABLE"``), a message, and whether a rerun can finish it."""

    code: str
    message: str
    resumable: bool


@dataclass(frozen=True)
class OperationRecord:
    """One operation as stored."""

    id: str
    kind: str
    state: OperationState
    spec: dict[str, Any]
    request_id: str | None
    request_hash: str
    attempt: int
    create_time: float
    update_time: float
    progress: Progress = field(default_factory=Progress)
    result: dict[str, Any] | None = None
    error: OperationError | None = None
    start_time: float | None = None
    end_time: float | None = None
    worker_pid: int | None = None

    @property
    def done(self) -> bool:
        return self.state.done


EventKind = Literal["progress", "log", "state"]


@dataclass(frozen=True)
class OperationEvent:
    """One entry of an operation's history; ``payload`` is a Progress, a log line or ``{"state": ...}``."""

    operation_id: str
    sequence: int
    time: float
    kind: EventKind
    payload: dict[str, Any]

    @property
    def final_state(self) -> bool:
        return self.kind == "state" and OperationState(self.payload["state"]).done


def request_hash(kind: str, spec: Mapping[str, Any]) -> str:
    """What makes two start requests "the same request" for idempotency: the kind and the validated spec."""
    return hashlib.sha256(json.dumps([kind, spec], sort_keys=True, default=str).encode()).hexdigest()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


class OperationStore:
    """Operations and their events in one SQLite file (WAL mode; one writer, the server)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The server touches the store from its event loop and its tests from their own thread: one
        # connection behind a lock keeps that simple, and every statement is short.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise ConfigError(f"{path} holds operations of schema version {version}; this server reads "
                                 f"version {_SCHEMA_VERSION}: point PRODA_HOME elsewhere or upgrade")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the file (the server does this once, at shutdown)."""
        with self._lock:
            self._db.close()

    # -- operations ------------------------------------------------------------------------------------
    def create(self, kind: str, spec: dict[str, Any], request_id: str | None) -> tuple[OperationRecord, bool]:
        """A new QUEUED operation, or the one ``request_id`` already started; returns (record, created).

        Raises :class:`InputError` when ``request_id`` is too long, or names an operation started
        by a different request (another kind or other parameters).
        """
        if request_id is not None and len(request_id) > MAX_REQUEST_ID_CHARS:
            raise InputError(f"request_id is longer than {MAX_REQUEST_ID_CHARS} characters")
        digest = request_hash(kind, spec)
        now = time.time()
        record = OperationRecord(id=f"op_{uuid.uuid4().hex}", kind=kind, state=OperationState.QUEUED, spec=spec,
                                 request_id=request_id or None, request_hash=digest, attempt=1,
                                 create_time=now, update_time=now)
        with self._tx() as db:
            if record.request_id is not None:
                row = db.execute("SELECT * FROM operations WHERE request_id = ?", (record.request_id,)).fetchone()
                if row is not None:
                    existing = _record(row)
                    if existing.request_hash != digest:
                        raise InputError(f"request_id {record.request_id!r} already started operation {existing.id} "
                                         f"({existing.kind}) with other parameters; use a new request_id")
                    return existing, False
            db.execute(
                "INSERT INTO operations (id, kind, state, spec, request_id, request_hash, attempt, progress,"
                " create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, kind, record.state.value, _json(spec), record.request_id, digest, 1,
                 _json(_progress_dict(record.progress)), now, now))
        return record, True

    def get(self, operation_id: str) -> OperationRecord:
        """The operation ``operation_id``; raises :class:`NotFound`."""
        with self._lock:
            row = self._db.execute("SELECT * FROM operations WHERE id = ?", (operation_id,)).fetchone()
        if row is None:
            raise NotFound(f"no operation {operation_id!r}")
        return _record(row)

    def find(self, *, kind: str | None = None, state: OperationState | None = None, limit: int = 50,
             after: tuple[float, str] | None = None) -> list[OperationRecord]:
        """Operations newest first, optionally filtered, after the keyset position ``(create_time, id)``."""
        where: list[str] = []
        args: list[Any] = []
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if after is not None:
            where.append("(create_time < ? OR (create_time = ? AND id < ?))")
            args.extend([after[0], after[0], after[1]])
        sql = "SELECT * FROM operations" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY create_time DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [_record(r) for r in rows]

    def in_state(self, *states: OperationState) -> list[OperationRecord]:
        """Every operation in one of ``states``, oldest first."""
        marks = ", ".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM operations WHERE state IN ({marks}) ORDER BY create_time, id",
                                    [s.value for s in states]).fetchall()
        return [_record(r) for r in rows]

    def save(self, record: OperationRecord) -> OperationRecord:
        """Write ``record`` (its mutable fields) with a fresh update time; returns what was written."""
        record = replace(record, update_time=time.time())
        with self._tx() as db:
            db.execute(
                "UPDATE operations SET state = ?, attempt = ?, progress = ?, result = ?, error = ?, start_time = ?,"
                " update_time = ?, end_time = ?, worker_pid = ? WHERE id = ?",
                (record.state.value, record.attempt, _json(_progress_dict(record.progress)), _json(record.result),
                 _json(None if record.error is None else record.error.__dict__), record.start_time,
                 record.update_time, record.end_time, record.worker_pid, record.id))
        return record

    # -- events --------------------------------------------------------------------------------------
    def append_event(self, operation_id: str, kind: EventKind, payload: dict[str, Any]) -> OperationEvent:
        """Record the next event of ``operation_id``; returns it with its sequence number."""
        now = time.time()
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE operation_id = ?",
                             (operation_id,)).fetchone()[0]
            db.execute("INSERT INTO events (operation_id, seq, time, kind, payload) VALUES (?, ?, ?, ?, ?)",
                       (operation_id, seq, now, kind, _json(payload)))
        return OperationEvent(operation_id, int(seq), now, kind, payload)

    def events(self, operation_id: str, after: int = 0, limit: int = 10_000) -> list[OperationEvent]:
        """Events of ``operation_id`` with a sequence above ``after``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM events WHERE operation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (operation_id, after, limit)).fetchall()
        return [OperationEvent(r["operation_id"], r["seq"], r["time"], r["kind"], json.loads(r["payload"]))
                for r in rows]


def _progress_dict(p: Progress) -> dict[str, Any]:
    return {"done": p.done, "total": p.total, "message": p.message}


def _record(row: sqlite3.Row) -> OperationRecord:
    error = json.loads(row["error"]) if row["error"] else None
    return OperationRecord(
        id=row["id"], kind=row["kind"], state=OperationState(row["state"]), spec=json.loads(row["spec"]),
        request_id=row["request_id"], request_hash=row["request_hash"], attempt=row["attempt"],
        create_time=row["create_time"], update_time=row["update_time"],
        progress=Progress(**json.loads(row["progress"])),
        result=json.loads(row["result"]) if row["result"] else None,
        error=OperationError(**error) if error else None, start_time=row["start_time"], end_time=row["end_time"],
        worker_pid=row["worker_pid"])
