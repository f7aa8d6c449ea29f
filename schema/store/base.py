"""The graph-store interface that every stage talks to; adapters implement it per backend.

Components receive a :class:`GraphStore` (injected by the entry point) and never open or close
connections themselves.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from proda.errors import PreconditionFailed
from proda.schema.catalog import Catalog, default_catalog

if TYPE_CHECKING:
    from proda.schema.store.bulk import BulkGraph
    from proda.schema.store.writer import Element

Row = dict[str, Any]

_executed: Counter[tuple[str, str]] = Counter()
_executed_lock = threading.Lock()


def record_execution(name: str, backend: str) -> None:
    """Count one completed run of catalog query ``name`` on ``backend`` (see :func:`executed_queries`)."""
    with _executed_lock:
        _executed[(name, backend)] += 1


def executed_queries() -> Counter[tuple[str, str]]:
    """How often each catalog query completed in this process, keyed by ``(name, backend)``; a copy.

    The test session diffs two snapshots to learn which queries a conformance test really ran,
    so catalog coverage rests on executions rather than on declarations.
    """
    with _executed_lock:
        return Counter(_executed)


class ComponentStats(BaseModel):
    """Connected components of one discipline's concept graph."""

    discipline: str
    components: int
    giant: int
    concepts: int
    giant_share: float
    method: str


@dataclass(frozen=True)
class StoreSpec:
    """How to reach a store again from another process (a Ray worker, a job process): picklable."""

    backend: str
    host: str | None = None
    port: int | None = None
    url: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    graph_name: str = "proda"
    database: str | None = None
    timeout_ms: int | None = None
    retry_seconds: float | None = None  # Neo4j only: the managed transactions' retry budget
    owns_server: bool = False  # FalkorDB only: the server is ProDa's embedded one

    def open(self) -> GraphStore:
        """A new connection to the same graph (the caller closes it)."""
        if self.backend == "falkordb":
            from proda.schema.store.falkordb_store import FalkorDBStore

            assert self.host is not None and self.port is not None
            return FalkorDBStore(self.host, self.port, self.graph_name, password=self.password,
                                 default_timeout_ms=self.timeout_ms, owns_server=self.owns_server)
        from proda.schema.store.neo4j_store import Neo4jStore

        assert self.url is not None
        return Neo4jStore(self.url, self.user or "neo4j", self.password, database=self.database,
                          default_timeout_ms=self.timeout_ms, max_transaction_retry_time=self.retry_seconds)


class GraphStore(ABC):
    """One graph database, reached through Cypher."""

    backend: str
    url: str

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or default_catalog()

    @abstractmethod
    def run(
        self,
        cypher: str,
        params: Mapping[str, Any] | None = None,
        *,
        read_only: bool = True,
        timeout_ms: int | None = None,
    ) -> list[Row]:
        """Run Cypher text and return its rows as dicts (column -> value).

        Raises :class:`~proda.errors.GraphUnavailable`, :class:`~proda.errors.QueryError` or
        :class:`~proda.errors.QueryTimeout`.
        """

    def query(
        self, name: str, params: Mapping[str, Any] | None = None, *, timeout_ms: int | None = None
    ) -> list[Row]:
        """Run the catalog query ``name`` with validated parameters; returns its rows."""
        q = self.catalog.get(name)
        bound = q.bind(params or {})
        rows = self.run(q.text(self.backend), bound, read_only=q.read_only, timeout_ms=timeout_ms)
        record_execution(name, self.backend)
        return rows

    def prepare(self, name: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        """Parameters for catalog query ``name``, made ready ahead of :meth:`query` (CPU work only).

        Pass the result to ``query(name, ...)`` in place of ``params``. It touches no connection, so a
        writer can prepare its next batch on another thread while the database runs the current one.
        A backend whose client-side work is worth moving off the critical path returns a mapping that
        also carries that work done (FalkorDB: the parameter text); this default, and Neo4j, return
        ``params`` unchanged, and :meth:`query` does all of the work.
        """
        return params if params is not None else {}

    @abstractmethod
    def spec(self) -> StoreSpec:
        """How another process reaches this same graph."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create indexes and constraints; idempotent."""

    @abstractmethod
    def components(self, discipline: str | None = None) -> list[ComponentStats]:
        """Weakly connected components of the concept graph, per discipline."""

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`~proda.errors.GraphUnavailable` unless the database answers."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every node and edge of this graph (tests, benchmarks, ``proda graph reset``)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (the entry point calls this once)."""

    def is_empty(self) -> bool:
        """Whether the graph holds no node at all (a first load may then create it in one bulk pass)."""
        return self.query("graph_is_empty", {})[0]["empty"] is True

    supports_bulk: bool = False

    def bulk_create(self, graph: BulkGraph, *, feed: Iterable[Element] | None = None) -> int:
        """Create this (empty) graph from ``graph`` in one pass; returns the elements written. ``feed``:
        elements to add to a ``streamed`` graph while it is created (a file still being read).

        Raises :class:`~proda.errors.PreconditionFailed` when the backend has no online bulk path
        (Neo4j seeds through ``proda graph export --format neo4j-admin``) or the graph is not empty.
        """
        raise PreconditionFailed(f"the {self.backend} backend has no online bulk load; "
                                 "use `proda graph export --format neo4j-admin` to seed a Neo4j database")

    supports_bulk_add: bool = False

    def bulk_add(self, graph: BulkGraph, *, feed: Iterable[Element]) -> int:
        """Add the elements ``feed`` gives, all new and referring to nothing outside themselves (a discipline
        of its own), to this graph, which holds nodes, in one bulk pass; returns the elements written.
        Raises :class:`~proda.errors.BulkRefused` when they cannot go that way (the upsert path then
        writes them), :class:`~proda.errors.PreconditionFailed` when the backend has no such path."""
        raise PreconditionFailed(f"the {self.backend} backend cannot add to a graph in bulk")

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
