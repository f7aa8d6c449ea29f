"""A persistent cache of valid LLM answers, so a rerun (or a resumed run) pays only for what is new.

Entries are keyed by :func:`cache_key`: the backend, the model, the prompt version and a hash of
everything the model saw (system prompt, prompt, schema). Bumping the prompt version is how a
changed prompt template invalidates old answers. The store is one sqlite file in WAL mode, so
several processes (the shards of a run) can read and write it at once; sqlite does the locking.

Only :class:`~proda.pipelines.llm.base.LLMResult` objects can be stored, and the client stores
one only after it validated; there is no way to cache an error or an invalid answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from proda.errors import ConfigError
from proda.pipelines.llm.base import LLMResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


def input_hash(system: str, prompt: str, schema: dict[str, Any]) -> str:
    """sha256 (hex) of what the model sees: system prompt, prompt and the canonical JSON of the schema."""
    canonical = json.dumps({"system": system, "prompt": prompt, "schema": schema}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def cache_key(backend: str, model: str, prompt_version: str, system: str, prompt: str,
              schema: dict[str, Any]) -> str:
    """The cache key (sha256 hex) of one request."""
    parts = json.dumps([backend, model, prompt_version, input_hash(system, prompt, schema)])
    return hashlib.sha256(parts.encode()).hexdigest()


class ResponseCache:
    """Valid LLM answers in an sqlite file at ``path`` (created with its folder if missing).

    ``timeout_s`` is how long a writer waits for another process's lock before failing.
    Raises :class:`~proda.errors.ConfigError` when the file cannot be opened as a cache.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection per instance, shared by this process's threads under a lock.
            self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False,
                                       isolation_level=None)
            # Switching to WAL needs an exclusive moment and does not wait on the busy timeout:
            # when several processes open the cache at once, retry until timeout_s has passed.
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    self._db.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last answers,
            # which a cache can afford (they are asked again), and each put skips an fsync.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"cannot open the LLM response cache {self.path}: {e}") from e
        self._lock = threading.Lock()

    def get(self, key: str) -> LLMResult | None:
        """The stored answer for ``key`` (with ``cached=True``), or None."""
        with self._lock:
            row = self._db.execute("SELECT result FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            result = LLMResult.model_validate_json(row[0])
        except ValidationError:  # written by an incompatible version: a miss, overwritten on put
            return None
        return result.model_copy(update={"cached": True})

    def put(self, key: str, result: LLMResult) -> None:
        """Store ``result`` under ``key``, replacing what was there."""
        stored = result.model_copy(update={"cached": False}).model_dump_json()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, backend, model, result, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, result.backend, result.model, stored, time.time()))

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the file; the instance cannot be used afterwards."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
