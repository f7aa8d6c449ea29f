"""``GRAPH.BULK``: a :class:`~proda.schema.store.bulk.BulkGraph` in FalkorDB's binary bulk-insert format.

The format is the one the ``falkordb-bulk-loader`` package writes (its type codes are imported from
it): per label or relationship type a token ``name\\0, property count, property names\\0``, then one
record per node (its property values) or edge (source and destination node index, then values),
each value a type byte and its payload. Node indexes are the order in which nodes were created; in a
graph that holds nodes already (:func:`add`), the places the server gave them, read back.

Records are built a column at a time in Arrow's compute kernels (:mod:`~proda.schema.store.bulk_columns`);
``encoding="values"`` keeps the earlier pure-Python encoder (each column's type read once, its values
encoded by one specialised list comprehension, a record one ``bytes % tuple`` of a template), which the
ingest benchmark runs beside it. A call is sent on a worker thread while the next one is encoded, so
the server's insert overlaps the client's encoding (a blocked socket read releases the GIL).

Hand-rolled because the package itself reads CSV files from disk and has no API for rows in memory.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, NamedTuple

import numpy as np
import redis

from proda.errors import BulkRefused, DependencyMissing, QueryError
from proda.schema.store.bulk import BulkGraph, EdgeTable, NodeSlice, gc_paused
from proda.schema.store.writer import Element

# GRAPH.BULK limits, as falkordb-bulk-loader's defaults allow (Redis caps one argument at 512 MB).
# Calls are kept smaller than the loader's 64 MB so the server starts on the first one early and
# the encoding of the rest overlaps it.
TOKEN_BYTES = 16_000_000
CALL_BYTES = 16_000_000
CALLS_AHEAD = 4  # calls outstanding at once: the one on the wire and those built and queued behind it
ROWS_PER_SLICE = 50_000  # rows encoded at once: bounds the memory of the intermediate columns

_NULL = b"\x00"

Encoding = Literal["columns", "values"]


def _codes() -> dict[str, int]:
    try:
        from falkordb_bulk_loader.entity_file import Type  # type: ignore[import-untyped]  # ships no stubs
    except ImportError as e:
        raise DependencyMissing("bulk loads need falkordb-bulk-loader: "
                                "pip install 'falkordb-bulk-loader>=1.2,<2'") from e
    return {t.name: int(t.value) for t in Type}


class ValueEncoder:
    """Value and column encoders for one load (type codes read once)."""

    def __init__(self) -> None:
        codes = _codes()
        self.str_code = bytes([codes["STRING"]])
        self.long_code = bytes([codes["LONG"]])
        self.double_code = bytes([codes["DOUBLE"]])
        self.true = bytes([codes["BOOL"], 1])
        self.false = bytes([codes["BOOL"], 0])
        self.array_head = struct.Struct("=Bq")
        self.array_code = codes["ARRAY"]
        self.pack_q = struct.Struct("=q").pack
        self.pack_d = struct.Struct("=d").pack
        self.pack_ends = struct.Struct("=QQ").pack
        s = self.str_code
        # exact type -> encoder of one value (type byte + payload); bool before int is implied by exactness
        self.table: dict[type, Callable[[Any], bytes]] = {
            str: lambda v: s + v.encode() + _NULL,
            type(None): lambda v: _NULL,
            bool: lambda v: self.true if v else self.false,
            int: lambda v: self.long_code + self.pack_q(v),
            float: lambda v: self.double_code + self.pack_d(v),
            list: self.array,
            tuple: self.array,
        }

    def value(self, v: Any) -> bytes:
        try:
            return self.table[type(v)](v)
        except KeyError:
            raise QueryError(f"a {type(v).__name__} cannot be a graph property: {v!r}") from None

    def array(self, v: Sequence[Any]) -> bytes:
        return self.array_head.pack(self.array_code, len(v)) + b"".join([self.value(x) for x in v])

    def column(self, values: Sequence[Any]) -> tuple[bytes, list[bytes] | None]:
        """A column as (template slot, encoded values); ``None`` values when the slot is constant."""
        kinds = set(map(type, values))
        if kinds == {str}:
            return self.str_code + b"%b" + _NULL, [v.encode() for v in values]
        if kinds == {type(None)}:
            return _NULL, None
        if kinds == {int}:
            pack_q = self.pack_q
            return self.long_code + b"%b", [pack_q(v) for v in values]
        if kinds == {float}:
            pack_d = self.pack_d
            return self.double_code + b"%b", [pack_d(v) for v in values]
        if kinds == {str, type(None)}:
            s = self.str_code
            return b"%b", [_NULL if v is None else s + v.encode() + _NULL for v in values]
        if kinds == {list} and all(type(x) is str for v in values for x in v):
            # lists of strings (aliases, chain ids): a list's elements joined with their type byte and
            # terminator as text, then encoded once (both are ASCII, so the bytes are the same)
            head, code = self.array_head.pack, self.array_code
            sep, lead = "\x00" + self.str_code.decode(), self.str_code.decode()
            return b"%b", [head(code, len(v)) + (lead + sep.join(v) + "\x00").encode() if v else head(code, 0)
                           for v in values]
        value = self.value
        return b"%b", [value(v) for v in values]

    def records(self, rows: Sequence[tuple[Any, ...]], width: int,
                lead: list[bytes] | None = None) -> list[bytes]:
        """One record per row: ``lead`` (packed edge ends) then the row's values."""
        template, encoded = (b"%b", [lead]) if lead is not None else (b"", [])
        cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if width else []
        for col in cols:
            slot, values = self.column(col)
            template += slot
            if values is not None:
                encoded.append(values)
        if not encoded:  # every column constant (or none): the same record for each row
            return [template] * len(rows)
        if template == b"%b":  # edge ends alone
            return encoded[0]
        return [template % t for t in zip(*encoded, strict=True)]


def _header(name: str, columns: Sequence[str]) -> bytes:
    return (struct.pack(f"={len(name.encode()) + 1}sI", name.encode(), len(columns))
            + b"".join(c.encode() + _NULL for c in columns))


def _tokens(header: bytes, records: list[bytes]) -> Iterator[tuple[bytes, int]]:
    """``records`` as tokens of at most :data:`TOKEN_BYTES` (a record larger than that goes alone)."""
    start, size = 0, len(header)
    for i, r in enumerate(records):
        if size + len(r) >= TOKEN_BYTES and i > start:
            yield header + b"".join(records[start:i]), i - start
            start, size = i, len(header)
        size += len(r)
    if start < len(records):
        yield header + b"".join(records[start:]), len(records) - start


class _Queue:
    """Calls run one after another on one worker thread, up to :data:`CALLS_AHEAD` outstanding (the one on
    the wire, the others queued behind it), so the server has the next call while the client works; the
    client waits only when that many are outstanding. Once a call fails, those queued behind it are
    dropped unrun, and its error is raised to the client by the next :meth:`_submit`, :meth:`wait` or
    :meth:`close`. Each call's reply (``GRAPH.BULK``'s "N nodes created, M edges created") is counted in
    :attr:`created`."""

    def __init__(self, thread_name: str) -> None:
        self.created = [0, 0]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._queued: deque[Future[Any]] = deque()
        self._failed = False

    def _submit(self, call: Callable[..., Any], *args: Any) -> None:
        if self._failed:
            self.wait()  # the failed call's error, now rather than after the rest of the input is read
        while len(self._queued) >= CALLS_AHEAD:
            self._collect()
        self._queued.append(self._pool.submit(self._guarded, call, *args))

    def _guarded(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._failed:  # a call before this one failed: the pass is being given up
            return None
        try:
            return call(*args)
        except BaseException:
            self._failed = True
            raise

    def _collect(self) -> None:
        """The oldest queued call's reply, counted; its error, if any, is raised here."""
        reply = self._queued.popleft().result()
        if reply is not None:
            self._count(reply)

    def _count(self, reply: Any) -> None:
        stats = _text(reply).split(", ")
        self.created[0] += int(stats[0].split(" ")[0])
        self.created[1] += int(stats[1].split(" ")[0])

    def wait(self) -> None:
        """Wait for every queued call; the first error, if any, is raised here."""
        while self._queued:
            self._collect()

    def close(self) -> None:
        """Send what is still held back, wait for every call, stop the worker; the first error is raised."""
        try:
            self._last()
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def _last(self) -> None:
        """What a subclass still holds back, queued."""

    def abort(self) -> None:
        """Stop after an error: let the call under way end (its reply is dropped), send nothing more."""
        self._failed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Calls(_Queue):
    """Groups tokens into GRAPH.BULK calls and sends them in order on the queue's worker thread (the
    server has the next call while the client checks references and lays out the next table)."""

    def __init__(self, execute: Callable[..., Any], graph_name: str) -> None:
        super().__init__("graph-bulk")
        self.execute, self.graph_name = execute, graph_name
        self.labels: list[bytes] = []
        self.reltypes: list[bytes] = []
        self.nodes = self.edges = self.size = 0
        self.begun = False

    def add(self, token: bytes, count: int, *, edge: bool, keys: Any = ()) -> None:
        """Queue one token of ``count`` records (``keys``: what :class:`_AddingCalls` needs; unused here)."""
        (self.reltypes if edge else self.labels).append(token)
        if edge:
            self.edges += count
        else:
            self.nodes += count
        self.size += len(token)
        if self.size >= CALL_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.labels and not self.reltypes and self.begun:
            return
        args: list[Any] = ["GRAPH.BULK", self.graph_name, *(() if self.begun else ("BEGIN",)),
                           self.nodes, self.edges, len(self.labels), len(self.reltypes),
                           *self.labels, *self.reltypes]
        self._submit(self._send, args)
        self.begun = True
        self.labels, self.reltypes = [], []
        self.nodes = self.edges = self.size = 0

    def _send(self, args: list[Any]) -> Any:
        return self.execute(*args)

    def _last(self) -> None:
        self.flush()


def send(execute: Callable[..., Any], graph_name: str, graph: BulkGraph,
         schema: Callable[[], None] | None = None, encoding: Encoding = "columns",
         feed: Iterable[Element] | None = None) -> int:
    """Create ``graph_name`` from ``graph`` with GRAPH.BULK calls; returns nodes + edges created.

    ``execute`` is the client's ``execute_command``. The key must not exist (FalkorDB builds only new
    graphs this way). ``schema`` creates the indexes: it runs once the (empty) graph exists and before
    any node is sent, so the server indexes each batch as it inserts it, overlapped with the client's
    encoding of the next, instead of building every index afterwards (measured ~30 % faster to a
    graph whose indexes are all operational, at 100k elements on 2 cores). ``graph`` needs only its
    nodes laid out (:meth:`BulkGraph.finish_nodes`): its references are checked (``finish_edges``) after
    the node calls are sent, while the server inserts them; a problem found then raises
    :class:`BulkRefused` and the caller deletes what was created. ``encoding`` picks the
    record encoder: ``columns`` (Arrow, the default) or ``values`` (pure Python, the earlier path).

    ``feed``: the elements of a ``streamed`` graph, added and their nodes sent while the feed is still
    read (parsing a file overlaps the server's inserts); a :class:`BulkRefused` the feed raises (a bad
    line) ends the load like a reference problem. Only with the ``columns`` encoding."""
    if feed is not None and (not graph.streamed or encoding != "columns"):
        raise ValueError("a fed bulk load needs a streamed BulkGraph and the columns encoding")
    if feed is None and (problem := graph.finish_nodes()) is not None:
        raise BulkRefused(problem)
    with gc_paused():
        calls = _Calls(execute, graph_name)
        try:
            if schema is not None:
                _begin(execute, graph_name)
                calls.begun = True
                schema()
            if encoding == "columns":
                _send_columns(calls, graph, feed)
            elif encoding == "values":
                _send_values(calls, graph)
            else:
                raise ValueError(f"unknown bulk encoding {encoding!r}: columns or values")
            calls.close()
        except BaseException:
            calls.abort()
            raise
        return calls.created[0] + calls.created[1]


def _begin(execute: Callable[..., Any], graph_name: str) -> None:
    """Create the graph's key for the bulk calls (refused if it exists)."""
    execute("GRAPH.BULK", graph_name, "BEGIN", 0, 0, 0, 0)


def _send_columns(calls: _Calls | _AddingCalls, graph: BulkGraph, feed: Iterable[Element] | None = None) -> None:
    from proda.schema.store.bulk_columns import ColumnEncoder, cut, node_indexes

    enc = ColumnEncoder(ValueEncoder())
    node_ix: dict[str, int] = {}
    adding = isinstance(calls, _AddingCalls)

    def send_nodes(label: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        header = _header(label, columns)
        for lo in range(0, len(rows), ROWS_PER_SLICE):
            part = rows[lo:lo + ROWS_PER_SLICE]
            at = 0
            for token, n in cut(header, enc.records(part, len(columns)), TOKEN_BYTES):
                calls.add(token, n, edge=False, keys=[r[0] for r in part[at:at + n]] if adding else ())
                at += n

    if feed is not None:
        graph.fill(feed, lambda slices: _send_slices(slices, send_nodes), every=ROWS_PER_SLICE)
        if not graph.node_count():
            raise BulkRefused(graph.finish_edges() or "the file holds no element")
        if isinstance(calls, _AddingCalls):
            calls.wait()  # every node placed: its position read back
            graph.place_nodes(calls.positions)
    else:
        for table in graph.nodes.values():
            node_ix.update(zip(table.ids, range(len(node_ix), len(node_ix) + len(table)), strict=True))
            for lo in range(0, len(table), ROWS_PER_SLICE):
                send_nodes(table.label, table.columns, table.row_slice(lo, lo + ROWS_PER_SLICE))
    # each edge table goes as soon as it is checked: the server inserts it while the next is checked
    for edges in graph.lay_out_edges():
        if not len(edges):
            continue
        header = _header(edges.type, edges.columns)
        if edges.ends is not None:
            src, dst = edges.ends
        else:
            try:
                src, dst = node_indexes(edges.src, node_ix), node_indexes(edges.dst, node_ix)
            except ValueError as e:
                raise QueryError(f"{edges.type} edges: {e}") from None
        for lo in range(0, len(edges), ROWS_PER_SLICE):
            hi = min(lo + ROWS_PER_SLICE, len(edges))
            ends = enc.ends(src[lo:hi], dst[lo:hi])
            records = enc.records(edges.row_slice(lo, hi), len(edges.columns), ends)
            at = lo
            for token, n in cut(header, records, TOKEN_BYTES):
                calls.add(token, n, edge=True, keys=_end_pairs(edges, src, dst, at, at + n) if adding else ())
                at += n


class _EdgeKeys(NamedTuple):
    """What an adding pass checks before one edge call: the distinct (position, element id) pairs of its
    ends, and its distinct (source, destination) position pairs."""

    nodes: list[list[Any]]
    ends: list[list[int]]


def _end_pairs(edges: EdgeTable, src: np.ndarray, dst: np.ndarray, lo: int, hi: int) -> _EdgeKeys:
    s, d = src[lo:hi].tolist(), dst[lo:hi].tolist()
    nodes = dict(zip(s, edges.src[lo:hi], strict=True))
    nodes.update(zip(d, edges.dst[lo:hi], strict=True))
    ends = [list(e) for e in dict.fromkeys(zip(s, d, strict=True))]
    return _EdgeKeys([[pos, eid] for pos, eid in nodes.items()], ends)


class _AddingCalls(_Queue):
    """GRAPH.BULK calls into a graph that already holds nodes and that other clients may write meanwhile.

    A first load fills a graph no one else sees; adding to a live graph cannot, so each call is its own
    transaction (``WATCH`` the graph's key, read, ``MULTI``, the call, ``EXEC``; a write by another
    client in between makes ``EXEC`` fail, and the call is tried again):

    * a node call first asks for the positions of its nodes' ids, which must find none (an element
      already in the graph is the upsert path's: :class:`BulkRefused`), and reads them back in the same
      transaction: the server puts new nodes in the places of deleted ones first, so positions are read,
      not counted (:attr:`positions`);
    * an edge call first checks that every end is still the node this pass placed there
      (``bulk_positions_held``): a node deleted meanwhile frees its place for another; and that none of
      its edges is there yet (``bulk_edges_present``): a client that upserted the same elements meanwhile
      (the same file loaded twice at once) made them, and the call would make them twice.

    The transactions run one after another on a worker thread, up to :data:`CALLS_AHEAD` queued, while the
    caller encodes the next calls; once one fails, those queued behind it are dropped unsent, and the
    error is raised to the caller. :meth:`wait` before reading :attr:`positions`.
    ``statement(name, params)`` is the full text of a catalog query, as the store would send it; ``renew``
    keeps the pass's lease alive, before every transaction (as a first load renews it with every call)."""

    def __init__(self, conn: Any, graph_name: str, statement: Callable[[str, dict[str, Any]], str],
                 renew: Callable[[], None], attempts: int = 20) -> None:
        super().__init__("graph-bulk-add")
        self.conn, self.graph_name, self.statement, self.attempts = conn, graph_name, statement, attempts
        self.renew = renew
        self.positions: dict[str, int] = {}

    def add(self, token: bytes, count: int, *, edge: bool, keys: Any = ()) -> None:
        self._submit(self._edges if edge else self._nodes, token, count, keys)

    def _nodes(self, token: bytes, count: int, ids: Sequence[str]) -> Any:
        param = _POSITION_PARAM[_name(token)]
        ask = self.statement("bulk_positions", {param: list(ids)})
        reply = self._transaction(lambda pipe: self._absent(pipe, ask),
                                  ("GRAPH.BULK", self.graph_name, count, 0, 1, 0, token),
                                  ("GRAPH.RO_QUERY", self.graph_name, ask))
        placed = {_text(row[0]): int(row[1]) for row in reply[1][1]}
        if len(placed) != len(ids):
            raise BulkRefused(f"{count - len(placed)} node(s) of this load were not found right after it sent them")
        self.positions.update(placed)
        return reply[0]

    def _absent(self, pipe: Any, ask: str) -> None:
        rows = pipe.execute_command("GRAPH.RO_QUERY", self.graph_name, ask)[1]
        if rows:
            raise BulkRefused(f"{_text(rows[0][0])!r} is already in the graph"
                              + (f" (and {len(rows) - 1} more of this load)" if len(rows) > 1 else ""))

    def _edges(self, token: bytes, count: int, keys: _EdgeKeys) -> Any:
        held = self.statement("bulk_positions_held", {"pairs": keys.nodes})
        present = self.statement("bulk_edges_present", {"type": _name(token), "ends": keys.ends})

        def check(pipe: Any) -> None:
            rows = pipe.execute_command("GRAPH.RO_QUERY", self.graph_name, held)[1]
            if int(rows[0][0]) != len(keys.nodes):
                raise BulkRefused("a node of this load was deleted or replaced while it ran")
            rows = pipe.execute_command("GRAPH.RO_QUERY", self.graph_name, present)[1]
            if int(rows[0][0]):
                raise BulkRefused(f"{int(rows[0][0])} {_name(token)} edge(s) of this load were made by "
                                  "another client while it ran")

        return self._transaction(check, ("GRAPH.BULK", self.graph_name, 0, count, 0, 1, token))[0]

    def _transaction(self, check: Callable[[Any], None], *commands: tuple[Any, ...]) -> list[Any]:
        """``check`` and ``commands`` as one transaction on the graph's key; tried again while other clients'
        writes come between the two."""
        for _ in range(self.attempts):
            self.renew()
            with self.conn.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self.graph_name)
                    check(pipe)
                    pipe.multi()
                    for command in commands:
                        pipe.execute_command(*command)
                    return list(pipe.execute())
                except redis.WatchError:
                    continue
        raise BulkRefused(f"other clients kept writing into the graph: {self.attempts} tries of one call failed")


_POSITION_PARAM = {"Document": "documents", "Chunk": "chunks", "Concept": "concepts", "Chain": "chains"}


def _name(token: bytes) -> str:
    """The label or relationship type a token's header names."""
    return token[:token.index(_NULL)].decode()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def add(conn: Any, graph_name: str, graph: BulkGraph, feed: Iterable[Element],
        statement: Callable[[str, dict[str, Any]], str], renew: Callable[[], None]) -> int:
    """Add the elements ``feed`` gives (a ``streamed`` graph that refers to nothing outside itself) to
    ``graph_name``, which holds nodes already, with GRAPH.BULK calls made safe against other clients'
    writes (:class:`_AddingCalls`); returns nodes + edges created. An element already in the graph, a
    reference outside the input, or a node of the pass deleted meanwhile raises :class:`BulkRefused`:
    what was added so far stays, and is exactly what the upsert path writes for the same elements, so
    that path can go on from there. ``renew`` keeps the pass's lease alive (see :class:`_AddingCalls`)."""
    if not graph.streamed or graph.outside_links:
        raise ValueError("adding to a graph needs a streamed BulkGraph that refuses links outside its input")
    calls = _AddingCalls(conn, graph_name, statement, renew)
    with gc_paused():
        try:
            _send_columns(calls, graph, feed)
            calls.close()
        except BaseException:
            calls.abort()
            raise
    return calls.created[0] + calls.created[1]


def _send_slices(slices: list[NodeSlice], send_nodes: Callable[[str, tuple[str, ...], list[Any]], None]) -> None:
    for piece in slices:
        send_nodes(piece.label, piece.columns, piece.rows)


def _send_values(calls: _Calls, graph: BulkGraph) -> None:
    enc = ValueEncoder()
    node_ix: dict[str, int] = {}
    for table in graph.nodes.values():
        header = _header(table.label, table.columns)
        for lo in range(0, len(table), ROWS_PER_SLICE):
            ids = table.ids[lo:lo + ROWS_PER_SLICE]
            node_ix.update(zip(ids, range(len(node_ix), len(node_ix) + len(ids)), strict=True))
            rows = table.row_slice(lo, lo + ROWS_PER_SLICE)
            for token, n in _tokens(header, enc.records(rows, len(table.columns))):
                calls.add(token, n, edge=False)
    pack_ends = enc.pack_ends
    for edges in graph.lay_out_edges():
        header = _header(edges.type, edges.columns)
        for lo in range(0, len(edges), ROWS_PER_SLICE):
            hi = lo + ROWS_PER_SLICE
            ends = [pack_ends(node_ix[s], node_ix[d])
                    for s, d in zip(edges.src[lo:hi], edges.dst[lo:hi], strict=True)]
            rows = edges.row_slice(lo, hi)
            for token, n in _tokens(header, enc.records(rows, len(edges.columns), ends)):
                calls.add(token, n, edge=True)


__all__ = ["Encoding", "ValueEncoder", "send"]
