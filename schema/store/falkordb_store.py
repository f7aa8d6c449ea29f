"""FalkorDB adapter over the native ``falkordb`` client.

Not FalkorDB's Bolt port: it crashed (SIGSEGV) on an ``UNWIND $rows`` of 500 small maps
(docs/dialects.md), so Neo4j's driver is never pointed at FalkorDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from falkordb import FalkorDB
from redis.backoff import NoBackoff
from redis.retry import Retry

from proda.errors import GraphUnavailable, QueryError, QueryTimeout
from proda.schema.catalog import Catalog
from proda.schema.ddl import INDEXES
from proda.schema.store.base import ComponentStats, GraphStore, Row, StoreSpec

_ALREADY = ("already indexed", "already exists", "constraint already")


def _plain(value: Any) -> Any:
    """Turn client objects (Node, Edge, Path) into plain dicts/lists."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    props = getattr(value, "properties", None)
    if isinstance(props, dict):
        out = dict(props)
        labels = getattr(value, "labels", None)
        if labels is not None:
            out["_labels"] = list(labels)
        relation = getattr(value, "relation", None)
        if relation is not None:
            out["_type"] = relation
        return out
    return value


class FalkorDBStore(GraphStore):
    """A graph (one key) on a FalkorDB server."""

    backend = "falkordb"

    def __init__(
        self,
        host: str,
        port: int,
        graph_name: str = "proda",
        *,
        password: str | None = None,
        default_timeout_ms: int | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        super().__init__(catalog)
        self.url = f"falkordb://{host}:{port}"
        self.graph_name = graph_name
        self.default_timeout_ms = default_timeout_ms
        self._spec = StoreSpec(backend="falkordb", host=host, port=port, password=password,
                               graph_name=graph_name, timeout_ms=default_timeout_ms)
        try:
            # The client probes the server (cluster? sentinel?) while constructing. redis-py's default
            # is ten retries with backoff, seconds of waiting before a dead URL is reported: one
            # immediate retry covers a dropped idle connection, anything more is the caller's call.
            self._db = FalkorDB(host=host, port=port, password=password, socket_timeout=None,
                                socket_connect_timeout=5, retry=Retry(NoBackoff(), 1))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        except redis.exceptions.AuthenticationError as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} refused the password: {e}") from e
        self._graph = self._db.select_graph(graph_name)

    def spec(self) -> StoreSpec:
        return self._spec

    def run(
        self,
        cypher: str,
        params: Mapping[str, Any] | None = None,
        *,
        read_only: bool = True,
        timeout_ms: int | None = None,
    ) -> list[Row]:
        timeout = timeout_ms if timeout_ms is not None else self.default_timeout_ms
        try:
            if read_only:
                res = self._graph.ro_query(cypher, dict(params or {}), timeout=timeout)
            else:
                res = self._graph.query(cypher, dict(params or {}), timeout=timeout)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        except redis.exceptions.ResponseError as e:
            msg = str(e)
            if "timed out" in msg.lower():
                raise QueryTimeout(f"query exceeded {timeout} ms on {self.url}") from e
            raise QueryError(f"FalkorDB rejected the query: {msg}") from e
        columns = [h[1] if isinstance(h, list | tuple) else h for h in (res.header or [])]
        return [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in res.result_set]

    def ensure_schema(self) -> None:
        for spec in INDEXES:
            pattern = f"(n:{spec.label})" if spec.entity == "node" else f"()-[n:{spec.label}]-()"
            self._ddl(f"CREATE INDEX FOR {pattern} ON (n.{spec.prop})")
            if spec.unique and spec.entity == "node":
                self._ddl_call(lambda s=spec: self._graph.create_node_unique_constraint(s.label, s.prop))

    def _ddl(self, statement: str) -> None:
        self._ddl_call(lambda: self._graph.query(statement))

    def _ddl_call(self, fn: Any) -> None:
        try:
            fn()
        except redis.exceptions.ResponseError as e:
            if not any(s in str(e).lower() for s in _ALREADY):
                raise QueryError(f"schema statement failed on {self.url}: {e}") from e
        except (redis.exceptions.ConnectionError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e

    def components(self, discipline: str | None = None) -> list[ComponentStats]:
        rows = self.query("components", {"discipline": discipline})
        return [ComponentStats(**r, method="falkordb algo.WCC") for r in rows]

    def ping(self) -> None:
        try:
            self._db.connection.ping()
        except (redis.exceptions.RedisError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} does not answer: {e}") from e

    def clear(self) -> None:
        try:
            self._graph.delete()
        except redis.exceptions.ResponseError as e:
            # FalkorDB answers "empty key" both for a graph that was never written (nothing to do) and
            # for a key of another type under the graph's name (a real clash): only the key tells them apart.
            if self._db.connection.exists(self.graph_name):
                raise QueryError(f"could not delete graph {self.graph_name!r} on {self.url}: {e}") from e
        except (redis.exceptions.ConnectionError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        self.ensure_schema()

    def close(self) -> None:
        self._db.connection.close()
