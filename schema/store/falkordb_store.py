"""FalkorDB adapter over the native ``falkordb`` client.

Not FalkorDB's Bolt port: it crashed (SIGSEGV) on an ``UNWIND $rows`` of 500 small maps
(docs/dialects.md), so Neo4j's driver is never pointed at FalkorDB.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import redis
from falkordb import FalkorDB
from falkordb.helpers import stringify_param_value
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from proda.errors import GraphUnavailable, PreconditionFailed, QueryError, QueryTimeout
from proda.schema.catalog import Catalog
from proda.schema.ddl import INDEXES
from proda.schema.store.base import ComponentStats, GraphStore, Row, StoreSpec, record_execution

if TYPE_CHECKING:
    from proda.schema.store import falkordb_rewrites, falkordb_staging
    from proda.schema.store.bulk import BulkGraph
    from proda.schema.store.falkordb_bulk import Encoding
    from proda.schema.store.writer import Element

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


class PreparedQuery(Mapping[str, Any]):
    """The bound parameters of one catalog query plus the full statement text they make (header and query).

    Reads as the parameters (a read-only mapping), so code that inspects a query's parameters works the
    same on prepared ones; only the store that prepared it sends the text as is.
    """

    __slots__ = ("_owner", "_params", "name", "read_only", "statement")

    def __init__(self, owner: FalkorDBStore, name: str, params: dict[str, Any], statement: str,
                 read_only: bool) -> None:
        self._owner, self._params = owner, params
        self.name, self.statement, self.read_only = name, statement, read_only

    def prepared_for(self, store: FalkorDBStore, name: str) -> bool:
        """Whether this is query ``name`` prepared by ``store`` (whose catalog made the text)."""
        return self._owner is store and self.name == name

    def __getitem__(self, key: str) -> Any:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


def _index_gone(e: BaseException) -> bool:
    """A unique constraint refused because its index is missing: another client deleted the graph."""
    return isinstance(e, QueryError) and "missing supporting exact-match index" in str(e)


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
        owns_server: bool = False,
    ) -> None:
        super().__init__(catalog)
        self.url = f"falkordb://{host}:{port}"
        self.graph_name = graph_name
        self.default_timeout_ms = default_timeout_ms
        # the server is ProDa's embedded one: a bulk pass may hold its append-only rewrites (falkordb_rewrites)
        self.owns_server = owns_server
        self._spec = StoreSpec(backend="falkordb", host=host, port=port, password=password,
                               graph_name=graph_name, timeout_ms=default_timeout_ms, owns_server=owns_server)
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
        return self._send(cypher, dict(params or {}), read_only=read_only, timeout_ms=timeout_ms)

    @staticmethod
    def header(params: Mapping[str, Any]) -> str:
        """The ``CYPHER`` parameter header the ``falkordb`` client would send in front of a query, built
        with its own value serialiser, so a writer can make it on another thread ahead of the query.
        (A C-speed JSON rewrite of it was measured at 1.05x the client's text on element rows:
        not worth a second serialiser.)"""
        for key in params:
            if not key or "`" in key:
                raise QueryError(f"parameter name {key!r} cannot be sent to FalkorDB")
        return "CYPHER " + "".join(f"`{k}`={stringify_param_value(v)} " for k, v in params.items())

    def prepare(self, name: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        """Bind ``params`` and build the full statement text now (see :meth:`GraphStore.prepare`).

        Safe on another thread than the one that queries: it reads the catalog and builds text only.
        """
        q = self.catalog.get(name)
        bound = q.bind(params or {})
        return PreparedQuery(self, name, bound, self.header(bound) + q.text(self.backend), q.read_only)

    def query(
        self, name: str, params: Mapping[str, Any] | None = None, *, timeout_ms: int | None = None
    ) -> list[Row]:
        """Run catalog query ``name``; parameters from :meth:`prepare` are sent as prepared."""
        if isinstance(params, PreparedQuery) and params.prepared_for(self, name):
            rows = self._send(params.statement, None, read_only=params.read_only, timeout_ms=timeout_ms)
            record_execution(name, self.backend)
            return rows
        return super().query(name, params, timeout_ms=timeout_ms)

    def _send(self, text: str, params: dict[str, Any] | None, *, read_only: bool,
              timeout_ms: int | None) -> list[Row]:
        """Run ``text`` (with ``params`` for the client to serialise, or None when ``text`` carries them)."""
        timeout = timeout_ms if timeout_ms is not None else self.default_timeout_ms
        try:
            if read_only:
                res = self._graph.ro_query(text, params, timeout=timeout)
            else:
                res = self._graph.query(text, params, timeout=timeout)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        except redis.exceptions.ResponseError as e:
            msg = str(e)
            if "timed out" in msg.lower():
                raise QueryTimeout(f"query exceeded {timeout} ms on {self.url}") from e
            if "empty key" in msg and not self._graph_exists():
                raise QueryError(f"graph {self.graph_name!r} does not exist on {self.url}: nothing has been written "
                                 "to it yet (a load, `proda graph reset` or ensure_schema creates it)") from e
            raise QueryError(f"FalkorDB rejected the query: {msg}") from e
        columns = [h[1] if isinstance(h, list | tuple) else h for h in (res.header or [])]
        return [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in res.result_set]

    def rewrite_hold(self) -> falkordb_rewrites.Hold | None:
        """The bulk passes holding the server's append-only compactions now (see falkordb_rewrites)."""
        from proda.schema.store import falkordb_rewrites

        try:
            return falkordb_rewrites.hold(self._db.connection)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e

    def _graph_exists(self) -> bool:
        try:
            return bool(self._db.connection.exists(self.graph_name))
        except (redis.exceptions.RedisError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e

    def is_empty(self) -> bool:
        """Whether the graph holds no node; a graph never written to (no key on the server) is empty too."""
        try:
            return super().is_empty()
        except QueryError:
            if not self._graph_exists():  # deleted or never made: FalkorDB refuses a query on a missing key
                return True
            raise

    supports_bulk = True

    def bulk_create(self, graph: BulkGraph, *, encoding: Encoding = "columns",
                    feed: Iterable[Element] | None = None) -> int:
        """Create the graph with ``GRAPH.BULK`` (falkordb-bulk-loader's binary protocol) in one pass, its
        indexes made first so the server fills them as the rows arrive. The pass fills a staging graph
        of its own and swaps it in at the end (:mod:`~proda.schema.store.falkordb_staging`), so no other
        client's write can shift its node positions, and a pass that fails leaves the graph as it was.
        A graph holding nodes raises :class:`PreconditionFailed` before anything is sent; one that
        another client wrote into while the pass ran raises :class:`BulkRefused`, its writes kept.

        ``graph`` may have only its nodes laid out: its references are then checked while the server
        inserts the nodes, and a problem raises :class:`BulkRefused`. ``encoding`` picks the record
        encoder (``values``: the earlier pure-Python one, kept for the benchmark's comparison).
        ``feed``: elements that a ``streamed`` graph takes while its nodes are sent (a file read as the
        server inserts); a :class:`BulkRefused` it raises ends the load as a reference problem does, and
        so does an interrupt (Ctrl-C). Returns elements written."""
        from proda.schema.store import falkordb_bulk, falkordb_staging

        conn = self._db.connection
        try:
            if not self.is_empty():
                raise PreconditionFailed(f"graph {self.graph_name!r} is not empty; bulk_create only creates graphs "
                                         "(bulk_add adds new elements to one)")
            falkordb_staging.sweep_orphans(conn, self.graph_name)
            staging = falkordb_staging.staging_name(self.graph_name)
            with self._bulk_pass(staging) as lease:

                def execute(*args: Any) -> Any:
                    lease.renew()
                    return conn.execute_command(*args)

                try:
                    created = falkordb_bulk.send(execute, staging, graph, encoding=encoding, feed=feed,
                                                 schema=lambda: self._make_schema(self._db.select_graph(staging)))
                    falkordb_staging.place(conn, staging, self.graph_name, self.is_empty)
                except BaseException:
                    # the target was never touched: what this pass made goes (if the server is gone, its lease
                    # runs out and the next pass deletes it); the error that ended the pass is the one raised
                    with contextlib.suppress(redis.exceptions.RedisError, OSError):
                        conn.delete(staging)
                    raise
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        except redis.exceptions.ResponseError as e:
            raise QueryError(f"FalkorDB rejected the bulk load of {self.graph_name!r}: {e}") from e
        return created

    supports_bulk_add = True

    def bulk_add(self, graph: BulkGraph, *, feed: Iterable[Element]) -> int:
        """Add a discipline's elements to this graph, which holds nodes, with ``GRAPH.BULK`` calls that
        append (no ``BEGIN``); see :func:`~proda.schema.store.falkordb_bulk.add` for how each call stays
        right while other clients write. No staging graph: the pass writes into the graph itself, and
        what it added before a :class:`BulkRefused` stays (the upsert path, which the loader takes then,
        writes the same nodes and edges, so it goes on from there). On the embedded server the pass holds
        the append-only rewrites as a first load does."""
        from proda.schema.store import falkordb_bulk, falkordb_staging

        try:
            self.ensure_schema()  # a graph filled by hand may lack an index the position reads seek
            # the name holds the pass's lease only: the pass writes into the graph itself
            with self._bulk_pass(falkordb_staging.staging_name(self.graph_name)) as lease:
                return falkordb_bulk.add(self._db.connection, self.graph_name, graph, feed, self._statement,
                                         lease.renew)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        except redis.exceptions.ResponseError as e:
            raise QueryError(f"FalkorDB rejected the bulk load into {self.graph_name!r}: {e}") from e

    @contextlib.contextmanager
    def _bulk_pass(self, name: str) -> Iterator[falkordb_staging.Lease]:
        """A bulk pass's lease on ``name`` (a key it renews while it runs, so a killed pass is told from a
        live one) and, on the embedded server, its hold on the append-only rewrites: taken before, let go
        after, the hold before the lease (a pass without a lease no longer holds the rewrites). A hold a
        killed pass left ends here first."""
        from proda.schema.store import falkordb_rewrites, falkordb_staging

        conn = self._db.connection
        if self.owns_server:
            with contextlib.suppress(redis.exceptions.ResponseError):  # the pass can go on either way
                falkordb_rewrites.resume(conn)
        lease = falkordb_staging.Lease(conn, name)
        held = False
        try:
            held = self.owns_server and falkordb_rewrites.pause(conn, name)
            yield lease
        finally:
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                if held:
                    falkordb_rewrites.resume(conn, name)
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                lease.release()

    def _statement(self, name: str, params: dict[str, Any]) -> str:
        """The full text of catalog query ``name`` with ``params``, for a caller that sends it itself (inside
        a transaction); counted as run."""
        record_execution(name, self.backend)
        return self.prepare(name, params).statement  # type: ignore[attr-defined, no-any-return]

    def schema_pending(self) -> list[str]:
        """Indexes and constraints the server is still building (FalkorDB fills an index on existing data
        in the background; queries are right meanwhile, only slower). Empty when all are operational."""
        try:
            res = self._graph.list_indices()
            names = [h[1].decode() if isinstance(h[1], bytes) else str(h[1]) for h in res.header]
            label, status = names.index("label"), names.index("status")
            pending = [f"index on {row[label]}: {row[status]}" for row in res.result_set
                       if row[status] != "OPERATIONAL"]
            pending += [f"{c['type']} constraint on {c['label']}: {c['status']}"
                        for c in self._graph.list_constraints() if c["status"] != "OPERATIONAL"]
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        return pending

    def ensure_schema(self) -> None:
        self._make_schema(self._graph)

    def _make_schema(self, graph: Any) -> None:
        # A client clearing the graph (delete, then the indexes again) can delete a constraint's index
        # under another client making the schema at that moment: the index and its constraint are then
        # made again, a few times.
        retrying = Retrying(retry=retry_if_exception(_index_gone), stop=stop_after_attempt(5),
                            wait=wait_fixed(0.05), reraise=True)
        for spec in INDEXES:
            pattern = f"(n:{spec.label})" if spec.entity == "node" else f"()-[n:{spec.label}]-()"
            for attempt in retrying:
                with attempt:
                    self._ddl_call(lambda p=pattern, s=spec: graph.query(f"CREATE INDEX FOR {p} ON (n.{s.prop})"))
                    if spec.unique and spec.entity == "node":
                        self._ddl_call(lambda s=spec: graph.create_node_unique_constraint(s.label, s.prop))

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
        """Delete the graph, and the staging graphs that bulk passes into it left when they were killed,
        then make its indexes again. On the embedded server, the append-only rewrites that a killed pass
        held are let go as well."""
        from proda.schema.store import falkordb_rewrites, falkordb_staging

        try:
            self._graph.delete()
        except redis.exceptions.ResponseError as e:
            # FalkorDB answers "empty key" both for a graph that was never written (nothing to do) and
            # for a key of another type under the graph's name (a real clash): only the key tells them apart.
            if self._db.connection.exists(self.graph_name):
                raise QueryError(f"could not delete graph {self.graph_name!r} on {self.url}: {e}") from e
        except (redis.exceptions.ConnectionError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        try:
            falkordb_staging.sweep_orphans(self._db.connection, self.graph_name)
            if self.owns_server:
                with contextlib.suppress(redis.exceptions.ResponseError):
                    falkordb_rewrites.resume(self._db.connection)
        except (redis.exceptions.ConnectionError, OSError) as e:
            raise GraphUnavailable(f"FalkorDB at {self.url} is unreachable: {e}") from e
        self.ensure_schema()

    def close(self) -> None:
        self._db.connection.close()
