"""FalkorDB adapter over the native ``falkordb`` client.

Not FalkorDB's Bolt port: it crashed (SIGSEGV) on an ``UNWIND $rows`` of 500 small maps
(docs/dialects.md), so Neo4j's driver is never pointed at FalkorDB.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import redis
from falkordb import FalkorDB
from redis.backoff import NoBackoff
from redis.retry import Retry

from proda.errors import DependencyMissing, GraphUnavailable, PreconditionFailed, QueryError, QueryTimeout
from proda.schema.catalog import Catalog
from proda.schema.ddl import INDEXES
from proda.schema.store.base import ComponentStats, GraphStore, Row, StoreSpec

if TYPE_CHECKING:
    from proda.schema.store.bulk import BulkGraph

_ALREADY = ("already indexed", "already exists", "constraint already")
# GRAPH.BULK limits per call, as falkordb-bulk-loader's defaults (64 MB per token; Redis' cap is 512 MB)
_BULK_TOKEN_BYTES = 32_000_000
_BULK_CALL_BYTES = 64_000_000


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

    supports_bulk = True

    def bulk_create(self, graph: BulkGraph) -> int:
        """Create the graph with ``GRAPH.BULK`` (falkordb-bulk-loader's binary protocol) in one pass, then
        its indexes. FalkorDB builds only new keys this way, so an existing but empty graph (indexes only)
        is deleted first; a graph holding nodes raises :class:`PreconditionFailed`. Returns elements written."""
        from proda.schema.store.bulk import columns

        encode = _bulk_encoder()
        conn = self._db.connection
        try:
            if conn.exists(self.graph_name):
                if self.query("graph_is_empty", {})[0]["empty"] is not True:
                    raise PreconditionFailed(f"graph {self.graph_name!r} is not empty; bulk loads only create graphs")
                self._graph.delete()
            call = _BulkCall(conn, self.graph_name)
            node_ix: dict[str, int] = {}
            for label, rows in graph.nodes.items():
                if not rows:
                    continue
                cols = columns(rows)
                token = _BulkToken(label, cols, call.add_label)
                for r in rows:
                    node_ix[r["id"]] = len(node_ix)
                    token.add(b"".join([encode(r.get(c)) for c in cols]))
                token.close()
            by_type: dict[str, list[Any]] = {}
            for edge in graph.edges:
                by_type.setdefault(edge.type, []).append(edge)
            pack_ends = struct.Struct("=QQ").pack
            for rtype, edges in by_type.items():
                cols = columns(e.props for e in edges)
                token = _BulkToken(rtype, cols, call.add_reltype)
                for e in edges:
                    token.add(pack_ends(node_ix[e.src], node_ix[e.dst])
                              + b"".join([encode(e.props.get(c)) for c in cols]))
                token.close()
            call.send()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        except redis.exceptions.ResponseError as e:
            raise QueryError(f"FalkorDB rejected the bulk load of {self.graph_name!r}: {e}") from e
        self.ensure_schema()
        return call.nodes + call.edges

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


def _bulk_encoder() -> Callable[[Any], bytes]:
    """The property encoder of GRAPH.BULK (type byte + value), with falkordb-bulk-loader's type codes.

    Dispatches on the exact type (one dict lookup per value: this loop is most of a bulk load's
    client time). Strings are sent typed, never inferred, so "1" stays a string.
    """
    try:
        from falkordb_bulk_loader.entity_file import Type  # type: ignore[import-untyped]  # ships no stubs
    except ImportError as e:
        raise DependencyMissing("bulk loads need falkordb-bulk-loader: "
                                "pip install 'falkordb-bulk-loader>=1.2,<2'") from e
    null, t_str = bytes([0]), bytes([Type.STRING.value])
    true, false = bytes([Type.BOOL.value, 1]), bytes([Type.BOOL.value, 0])
    pack_long, pack_double = struct.Struct("=Bq").pack, struct.Struct("=Bd").pack
    long_code, double_code, array_code = Type.LONG.value, Type.DOUBLE.value, Type.ARRAY.value

    def array(v: list[Any] | tuple[Any, ...]) -> bytes:
        return pack_long(array_code, len(v)) + b"".join([encode(x) for x in v])

    table: dict[type, Callable[[Any], bytes]] = {
        str: lambda v: t_str + v.encode() + b"\0",
        type(None): lambda v: null,
        bool: lambda v: true if v else false,
        int: lambda v: pack_long(long_code, v),
        float: lambda v: pack_double(double_code, v),
        list: array,
        tuple: array,
    }

    def encode(v: Any) -> bytes:
        try:
            return table[type(v)](v)
        except KeyError:
            raise QueryError(f"a {type(v).__name__} cannot be a graph property: {v!r}") from None

    return encode


class _BulkCall:
    """The tokens of the next GRAPH.BULK call; the first call of a graph carries BEGIN."""

    def __init__(self, conn: Any, graph_name: str) -> None:
        self.conn, self.graph_name = conn, graph_name
        self.labels: list[bytes] = []
        self.reltypes: list[bytes] = []
        self.pending_nodes = self.pending_edges = self.size = 0
        self.nodes = self.edges = 0
        self.begun = False

    def add_label(self, token: bytes, count: int) -> None:
        self.labels.append(token)
        self.pending_nodes += count
        self._grow(len(token))

    def add_reltype(self, token: bytes, count: int) -> None:
        self.reltypes.append(token)
        self.pending_edges += count
        self._grow(len(token))

    def _grow(self, n: int) -> None:
        self.size += n
        if self.size >= _BULK_CALL_BYTES:
            self.send()

    def send(self) -> None:
        if not self.labels and not self.reltypes and self.begun:
            return
        head: list[Any] = ["BEGIN"] if not self.begun else []
        reply = self.conn.execute_command(
            "GRAPH.BULK", self.graph_name, *head, self.pending_nodes, self.pending_edges,
            len(self.labels), len(self.reltypes), *self.labels, *self.reltypes)
        self.begun = True
        stats = (reply.decode() if isinstance(reply, bytes) else str(reply)).split(", ")
        self.nodes += int(stats[0].split(" ")[0])
        self.edges += int(stats[1].split(" ")[0])
        self.labels, self.reltypes = [], []
        self.pending_nodes = self.pending_edges = self.size = 0


class _BulkToken:
    """One label's (or relation type's) rows: a header naming the properties, then packed rows."""

    def __init__(self, name: str, cols: list[str], emit: Callable[[bytes, int], None]) -> None:
        self.header = struct.pack(f"={len(name.encode()) + 1}sI", name.encode(), len(cols)) + b"".join(
            c.encode() + b"\0" for c in cols)
        self.emit = emit
        self.rows: list[bytes] = []
        self.size = len(self.header)

    def add(self, row: bytes) -> None:
        if self.size + len(row) >= _BULK_TOKEN_BYTES and self.rows:
            self.close()
        self.rows.append(row)
        self.size += len(row)

    def close(self) -> None:
        if self.rows:
            self.emit(self.header + b"".join(self.rows), len(self.rows))
        self.rows = []
        self.size = len(self.header)
