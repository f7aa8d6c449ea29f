"""First loads at bulk speed: knowledge elements as whole node and edge sets for a graph created in one pass.

:class:`BulkGraph` turns validated elements into exactly the nodes, edges and properties that the
catalog's ``UNWIND`` upserts (``upsert_*``, ``link_*``) would leave in an empty graph, without the
per-row ``MERGE``. It is all-or-nothing: anything the upsert path would resolve or report row by row
(an id used twice, a reference to an element that is not in the input, a chain step without its
relation edge) makes :meth:`BulkGraph.finish` answer ``None`` with the reason, and the caller loads
through the upsert path instead, which then reports it with file and line.

Two consumers: :meth:`FalkorDBStore.bulk_create` (``GRAPH.BULK``, the binary protocol of the
``falkordb-bulk-loader`` package) and :mod:`~proda.schema.store.neo4j_admin` (CSVs for ``neo4j-admin
database import full``, the offline way to seed a Neo4j cluster).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel

from proda.errors import BulkRefused, PreconditionFailed
from proda.schema.models import Chain, Chunk, Concept, Document, Relation
from proda.schema.store.writer import Element, match_key

# node label per element kind, as the upsert queries write them
LABELS: dict[str, str] = {"document": "Document", "chunk": "Chunk", "concept": "Concept", "chain": "Chain"}
_PROVENANCE = ("extractor", "model", "prompt_version")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a bulk build. It makes millions of small tuples and no
    cycles; each collection of the older generations would rescan every element model the caller holds
    (measured at 1M elements: a quarter of the client's CPU time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Rows:
    """Property rows of a table: given, or made from elements on demand. A first load builds rows slice
    by slice while the server inserts the previous slice, so making them lazily is what lets the
    client's work (ids hashed, names keyed) overlap the server's."""

    def __init__(self, rows: list[tuple[Any, ...]] | None = None, items: list[Any] | None = None,
                 make: Callable[[Any], tuple[Any, ...]] | None = None) -> None:
        self._rows, self._items, self._make = rows, items, make

    def __len__(self) -> int:
        return len(self._rows if self._rows is not None else self._items or ())

    def slice(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        if self._rows is not None:
            return self._rows[lo:hi]
        assert self._items is not None and self._make is not None
        return list(map(self._make, self._items[lo:hi]))

    def all(self) -> list[tuple[Any, ...]]:
        return self.slice(0, len(self))


class _Table:
    """Rows of properties, one per node or edge, read in slices or whole."""

    _rows: _Rows

    def row_slice(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """Rows ``lo:hi`` (made now when the table makes them from elements)."""
        return self._rows.slice(lo, hi)

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        return self._rows.all()


class NodeTable(_Table):
    """One label's nodes: property names and one tuple of values per node (``None``: no property);
    the first value of each row is the node's id."""

    def __init__(self, label: str, columns: tuple[str, ...], ids: list[str], rows: _Rows) -> None:
        self.label, self.columns, self.ids, self._rows = label, columns, ids, rows

    def __len__(self) -> int:
        return len(self.ids)


class EdgeTable(_Table):
    """One relationship type's edges: end ids and one tuple of property values per edge. ``ends``, when
    given, are the same ends as node positions: the index of each end among all nodes of the graph
    in creation order (the :attr:`BulkGraph.nodes` tables one after another)."""

    def __init__(self, type: str, columns: tuple[str, ...], src: list[str], dst: list[str],
                 rows: _Rows | None = None, ends: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.type, self.columns, self.src, self.dst, self.ends = type, columns, src, dst, ends
        # no properties: an empty row per edge, made from the ends (which may still grow)
        self._rows = rows if rows is not None else _Rows(items=src, make=_no_properties)

    def __len__(self) -> int:
        return len(self.src)


def _no_properties(_: Any) -> tuple[()]:
    return ()


class _Sent(_Rows):
    """The rows of a streamed graph's nodes: they went to the server as they were made."""

    def __init__(self) -> None:
        super().__init__(rows=[])

    def slice(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        raise PreconditionFailed("a streamed bulk graph's node rows went to the server as they were made")


_SENT = _Sent()


class _RowSpec:
    """How :func:`proda.schema.store.writer.element_row` flattens one element kind, as a column list and
    a tuple builder. The element's fields are read straight from the validated model (one C call), not
    through ``model_dump``: every field is a plain str/int/float/list, so the values are the same, and
    this is most of a bulk load's client time. A parity test pins it to ``element_row``."""

    def __init__(self, model: type[BaseModel], drop: Sequence[str], extra: Sequence[str]) -> None:
        skip = {"kind", "id", "provenance", "chunk_ids", *drop}
        self.fields = tuple(f for f in model.model_fields if f not in skip)
        self.columns: tuple[str, ...] = ("id", *self.fields, "fp", *extra)
        self.get: Callable[[dict[str, Any]], tuple[Any, ...]] = _getter(self.fields)


def _getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(names) == 1:  # itemgetter of one name returns the value, not a 1-tuple
        one = names[0]
        return lambda d: (d[one],)
    return itemgetter(*names)


def _provenance(e: Concept | Relation | Chain) -> tuple[Any, Any, Any]:
    p = e.provenance
    return (None, None, None) if p is None else (p.extractor, p.model, p.prompt_version)


_DOCUMENT = _RowSpec(Document, (), ())
_CHUNK = _RowSpec(Chunk, (), ())
_CONCEPT = _RowSpec(Concept, (), (*_PROVENANCE, "match_key"))
_RELATION = _RowSpec(Relation, ("subject_id", "object_id"), _PROVENANCE)
_CHAIN = _RowSpec(Chain, (), (*_PROVENANCE, "length"))


def _document_row(e: Document) -> tuple[Any, ...]:
    return (e.id, *_DOCUMENT.get(e.__dict__), e.fingerprint)


def _chunk_row(e: Chunk) -> tuple[Any, ...]:
    return (e.id, *_CHUNK.get(e.__dict__), e.fingerprint)


def _concept_row(e: Concept) -> tuple[Any, ...]:
    return (e.id, *_CONCEPT.get(e.__dict__), e.fingerprint, *_provenance(e), match_key(e.name))


def _relation_row(e: Relation) -> tuple[Any, ...]:
    return (e.id, *_RELATION.get(e.__dict__), e.fingerprint, *_provenance(e))


def _chain_row(e: Chain) -> tuple[Any, ...]:
    return (e.id, *_CHAIN.get(e.__dict__), e.fingerprint, *_provenance(e), len(e.relation_ids))


# what a streamed graph keeps of each element once its row is made: what the edges are laid out from
class _DocumentRef(NamedTuple):
    id: str


class _ChunkRef(NamedTuple):
    id: str
    document_id: str


class _ConceptRef(NamedTuple):
    id: str
    chunk_ids: list[str]


class _RelationRef(NamedTuple):
    id: str
    subject_id: str
    object_id: str
    row: tuple[Any, ...]


class _ChainRef(NamedTuple):
    id: str
    relation_ids: list[str]
    concept_ids: list[str]
    chunk_id: str


def _refer(e: Element) -> Any:
    if isinstance(e, Relation):
        return _RelationRef(e.id, e.subject_id, e.object_id, _relation_row(e))
    if isinstance(e, Concept):
        return _ConceptRef(e.id, e.chunk_ids)
    if isinstance(e, Chain):
        return _ChainRef(e.id, e.relation_ids, e.concept_ids, e.chunk_id)
    if isinstance(e, Chunk):
        return _ChunkRef(e.id, e.document_id)
    return _DocumentRef(e.id)


# node kinds in creation order: label, columns, row maker
_NODE_KINDS: dict[str, tuple[str, tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {
    "document": ("Document", _DOCUMENT.columns, _document_row),
    "chunk": ("Chunk", _CHUNK.columns, _chunk_row),
    "concept": ("Concept", _CONCEPT.columns, _concept_row),
    "chain": ("Chain", _CHAIN.columns, _chain_row),
}
_ROW_OF_REF = attrgetter("row")


class NodeSlice(NamedTuple):
    """Rows of one label's nodes handed to a sender by :meth:`BulkGraph.drain`, in creation order."""

    label: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass
class BulkGraph:
    """Nodes (by label) and edges (by type, in dependency order) of a graph that does not exist yet.

    :meth:`add` only files each element under its kind (any order); :meth:`finish` checks ids and
    references and lays out the tables, in two halves (:meth:`finish_nodes`, :meth:`finish_edges`) that
    a first load runs apart; property rows are made when a consumer reads them.

    ``streamed``: for a graph read from a file, which a sender creates while the file is still read.
    :meth:`add` makes each node's row at once and keeps of every element only what its edges need (with
    a million validated models held, pydantic validated each further line markedly slower);
    :meth:`drain` hands the rows made so far to the sender, which gives the nodes their positions; an
    id given twice raises :class:`BulkRefused` from :meth:`add`. Node tables then hold ids only.
    """

    nodes: dict[str, NodeTable] = field(default_factory=dict)
    edges: list[EdgeTable] = field(default_factory=list)
    written: Counter[str] = field(default_factory=Counter)
    unlinked_mentions: int = 0
    streamed: bool = False
    # a mention of a chunk (or a chain's chunk) outside the input is counted as unlinked, as the upsert path
    # leaves it in a graph that holds no such chunk; False (adding to a graph that may hold it, where the
    # upsert path would link it): it raises BulkRefused instead
    outside_links: bool = True
    pending: int = 0  # streamed: rows made and not drained yet
    _by_kind: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (*LABELS, "relation")})
    _stage: str = "filing"  # filing -> nodes (node tables laid out) -> done (edges too)
    _rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {k: [] for k in LABELS})
    # streamed: the positions of each kind's nodes, a range per drained slice (or as the server placed them)
    _at: dict[str, list[range | np.ndarray]] = field(default_factory=lambda: {k: [] for k in LABELS})
    _sent: int = 0  # streamed: nodes drained, so the position of the next one
    _seen: set[str] = field(default_factory=set)

    def add(self, e: Element) -> None:
        """Take one validated element (any order: references are resolved in :meth:`finish`)."""
        if self._stage != "filing":
            raise PreconditionFailed("elements cannot be added to a bulk graph once its nodes are laid out")
        if not self.streamed:
            self._by_kind[e.kind].append(e)
            return
        if e.id in self._seen:
            raise BulkRefused(f"{e.kind} id {e.id!r} occurs more than once")
        self._seen.add(e.id)
        self._by_kind[e.kind].append(_refer(e))
        if e.kind != "relation":
            self._rows[e.kind].append(_NODE_KINDS[e.kind][2](e))
            self.pending += 1

    def place_nodes(self, positions: Mapping[str, int]) -> None:
        """Streamed, every row drained: the positions the server gave the nodes, by element id, instead of
        their order of creation (a graph that already holds nodes reuses the places of deleted ones)."""
        if self.pending:
            raise PreconditionFailed("nodes are placed once every row is drained")
        try:
            self._at = {k: [np.fromiter(map(positions.__getitem__, (e.id for e in self._by_kind[k])),
                                        dtype=np.int64, count=len(self._by_kind[k]))] for k in LABELS}
        except KeyError as e:
            raise BulkRefused(f"node {e.args[0]!r} has no position in the graph") from None

    def drain(self) -> list[NodeSlice]:
        """Streamed: the node rows made since the last drain, by kind in creation order; the nodes are
        created in the order of the slices returned, which fixes their positions."""
        out = []
        for kind, rows in self._rows.items():
            if rows:
                label, columns, _ = _NODE_KINDS[kind]
                self._at[kind].append(range(self._sent, self._sent + len(rows)))
                self._sent += len(rows)
                out.append(NodeSlice(label, columns, rows))
                self._rows[kind] = []
        self.pending = 0
        return out

    def fill(self, elements: Iterable[Element], send: Callable[[list[NodeSlice]], None], *,
             every: int = 50_000) -> None:
        """Streamed: add ``elements``, handing the node rows made to ``send`` whenever ``every`` are waiting
        and once at the end (so at most that many are held), then lay out the node tables."""
        add = self.add
        for e in elements:
            add(e)
            if self.pending >= every:
                send(self.drain())
        send(self.drain())
        self.finish_nodes()

    def finish(self) -> str | None:
        """Check and lay out; returns ``None`` when the graph is complete, else why the upsert path must load it."""
        return self.finish_nodes() or self.finish_edges()

    def finish_nodes(self) -> str | None:
        """The first half of :meth:`finish`: ids checked unique and the node tables laid out, so that a
        load can send nodes while :meth:`finish_edges` checks the references (the bulk sender calls it)."""
        if self._stage != "filing":
            return None
        if self.streamed:
            if self.pending:
                raise PreconditionFailed("a streamed bulk graph's nodes are laid out once every row is drained")
            for kind, (label, columns, _) in _NODE_KINDS.items():
                self.nodes[label] = NodeTable(label, columns, [e.id for e in self._by_kind[kind]], _SENT)
            self._stage = "nodes"
            return None
        with gc_paused():
            problem = self._repeated_id()
            if problem is not None:
                return problem
            for kind, (label, columns, make) in _NODE_KINDS.items():
                items = self._by_kind[kind]
                self.nodes[label] = NodeTable(label, columns, [e.id for e in items], _Rows(items=items, make=make))
            self._stage = "nodes"
        return None

    def _node_positions(self) -> dict[str, np.ndarray]:
        """Each node kind's positions in creation order, aligned with its elements: drained slices when
        streamed, else the node tables one after another."""
        if self.streamed:
            return {k: np.fromiter(chain.from_iterable(self._at[k]), dtype=np.int64,
                                   count=len(self._by_kind[k])) for k in LABELS}
        out, start = {}, 0
        for kind in _NODE_KINDS:
            n = len(self._by_kind[kind])
            out[kind] = np.arange(start, start + n, dtype=np.int64)
            start += n
        return out

    def finish_edges(self) -> str | None:
        """The second half of :meth:`finish` (after :meth:`finish_nodes`): references checked, edge tables laid out."""
        if self._stage == "filing" and (problem := self.finish_nodes()) is not None:
            return problem
        if self._stage == "done":
            return None
        with gc_paused():
            try:
                for _ in self.lay_out_edges():
                    pass
            except BulkRefused as e:
                return e.reason
        return None

    def lay_out_edges(self) -> Iterator[EdgeTable]:
        """Check the references and yield each edge table as soon as it is laid out, so a sender can
        send one while the next is checked; a problem raises :class:`BulkRefused` naming the element,
        tables already yielded notwithstanding. Once all are out they are :attr:`edges`."""
        if self._stage == "filing" and (problem := self.finish_nodes()) is not None:
            raise BulkRefused(problem)
        if self._stage == "done":
            yield from self.edges
            return
        self.unlinked_mentions = 0
        # the elements, or what a streamed graph kept of them (the same attribute names)
        docs: list[Document] = self._by_kind["document"]
        chunks: list[Chunk] = self._by_kind["chunk"]
        concepts: list[Concept] = self._by_kind["concept"]
        relations: list[Relation] = self._by_kind["relation"]
        chains: list[Chain] = self._by_kind["chain"]
        # every node's position in creation order: edges carry their ends as positions, found here
        # while the references are checked, so the bulk encoder does not look two million ids up again
        node_at = self._node_positions()
        doc_ix, chunk_ix, concept_ix = (_positions(items, node_at[k]) for items, k in
                                        ((docs, "document"), (chunks, "chunk"), (concepts, "concept")))

        chunk_doc = _lookup(doc_ix, [c.document_id for c in chunks])
        if (bad_at := _first_missing(chunk_doc)) is not None:
            raise BulkRefused(f"chunk {chunks[bad_at].id!r}: document {chunks[bad_at].document_id!r} "
                              "is not in the input")
        has_chunk = EdgeTable("HAS_CHUNK", (), [c.document_id for c in chunks], [c.id for c in chunks],
                              ends=(chunk_doc, node_at["chunk"]))
        edges = [has_chunk]
        yield has_chunk
        mentioned = EdgeTable("MENTIONED_IN", (), [], [])
        m_src: list[int] = []
        m_dst: list[int] = []
        for pos, k in zip(node_at["concept"].tolist(), concepts, strict=True):
            if k.chunk_ids:
                for ck in dict.fromkeys(k.chunk_ids):  # MERGE: one MENTIONED_IN per pair
                    at = chunk_ix.get(ck)
                    if at is not None:
                        mentioned.src.append(k.id)
                        mentioned.dst.append(ck)
                        m_src.append(pos)
                        m_dst.append(at)
                    elif self.outside_links:
                        self.unlinked_mentions += k.chunk_ids.count(ck)
                    else:
                        raise BulkRefused(f"concept {k.id!r}: chunk {ck!r} is not in the input")
        mentioned.ends = (np.array(m_src, dtype=np.int64), np.array(m_dst, dtype=np.int64))
        edges.append(mentioned)
        yield mentioned
        subjects, objects = [r.subject_id for r in relations], [r.object_id for r in relations]
        rel_src, rel_dst = _lookup(concept_ix, subjects), _lookup(concept_ix, objects)
        bad_at = _first_missing(np.minimum(rel_src, rel_dst))
        if bad_at is not None:
            bad_rel = relations[bad_at]
            raise BulkRefused(f"relation {bad_rel.id!r}: concept {bad_rel.subject_id!r} or "
                              f"{bad_rel.object_id!r} is not in the input")
        rel_edges = EdgeTable("RELATION", _RELATION.columns, subjects, objects,
                              _Rows(items=relations, make=_ROW_OF_REF if self.streamed else _relation_row),
                              ends=(rel_src, rel_dst))
        edges.append(rel_edges)
        yield rel_edges
        steps = _chain_steps(chains, node_at["chain"], concept_ix,
                             _positions(relations, np.arange(len(relations), dtype=np.int64)), rel_src, rel_dst)
        if isinstance(steps, str):
            raise BulkRefused(steps)
        edges.append(steps)
        yield steps
        from_chunk = EdgeTable("FROM_CHUNK", (), [], [])
        f_src: list[int] = []
        f_dst: list[int] = []
        for pos, ch in zip(node_at["chain"].tolist(), chains, strict=True):
            if ch.chunk_id:  # link_chain_chunks
                at = chunk_ix.get(ch.chunk_id)
                if at is not None:
                    from_chunk.src.append(ch.id)
                    from_chunk.dst.append(ch.chunk_id)
                    f_src.append(pos)
                    f_dst.append(at)
                elif self.outside_links:
                    self.unlinked_mentions += 1
                else:
                    raise BulkRefused(f"chain {ch.id!r}: chunk {ch.chunk_id!r} is not in the input")
        from_chunk.ends = (np.array(f_src, dtype=np.int64), np.array(f_dst, dtype=np.int64))
        edges.append(from_chunk)
        yield from_chunk

        self.edges = [t for t in edges if len(t)]
        self.written.update({"document": len(docs), "chunk": len(chunks), "concept": len(concepts),
                             "relation": len(relations), "chain": len(chains)})
        self.written += Counter()  # drop kinds with no element, as the upsert path's counter has none
        self._by_kind = {k: [] for k in self._by_kind}
        self._seen.clear()
        self._stage = "done"

    def _repeated_id(self) -> str | None:
        """The upsert path merges an id given twice (and names collisions); defer such input to it."""
        ids = [e.id for group in self._by_kind.values() for e in group]
        if len(set(ids)) == len(ids):
            return None
        seen: set[str] = set()
        for group in self._by_kind.values():
            for e in group:
                if e.id in seen:
                    return f"{e.kind} id {e.id!r} occurs more than once"
                seen.add(e.id)
        return None  # pragma: no cover - the counts differed, so some id repeats

    def node_count(self) -> int:
        """How many nodes the graph will hold."""
        return sum(len(t) for t in self.nodes.values())

    def edge_count(self) -> int:
        """How many edges the graph will hold."""
        return sum(len(t) for t in self.edges)


def _positions(items: Sequence[Any], at: np.ndarray) -> dict[str, int]:
    """Id -> position in creation order of ``items``' nodes, which are at ``at``."""
    return dict(zip([e.id for e in items], at.tolist(), strict=True))


def _lookup(index: dict[str, int], ids: Sequence[str]) -> np.ndarray:
    """Positions of ``ids`` (-1 where an id is not in ``index``), probed from C."""
    return np.fromiter(map(index.get, ids, repeat(-1)), dtype=np.int64, count=len(ids))


def _first_missing(positions: np.ndarray) -> int | None:
    missing = np.flatnonzero(positions < 0)
    return int(missing[0]) if len(missing) else None


def _chain_steps(chains: list[Chain], chain_at: np.ndarray, concept_ix: dict[str, int], rel_ix: dict[str, int],
                 rel_src: np.ndarray, rel_dst: np.ndarray) -> EdgeTable | str:
    """Check chains against their relation edges (``chain_missing_steps``) and lay out their HAS_STEP
    edges (``link_chain_steps``: a concept that is not there gets no edge, as its MATCH finds nothing);
    or the first problem, naming the chain and its step.

    All chains at once, as arrays over their concatenated steps: step ``j`` of chain ``k`` is the
    ``s``-th relation overall, and its concepts are the ``s + k``-th and ``s + k + 1``-th concepts
    overall (a chain has one concept more than relations, which the model guarantees). Comparing
    positions is comparing ids, since ids are unique by now; a missing relation or concept has -1."""
    if not chains:
        return EdgeTable("HAS_STEP", ("pos", "relation_id"), [], [], _Rows(rows=[]))
    n_rel = np.fromiter(map(len, (ch.relation_ids for ch in chains)), dtype=np.int64, count=len(chains))
    n_con = np.fromiter(map(len, (ch.concept_ids for ch in chains)), dtype=np.int64, count=len(chains))
    if (odd := _first_missing(np.where(n_con == n_rel + 1, 0, -1))) is not None:
        return f"chain {chains[odd].id!r}: {n_rel[odd]} relations need {n_rel[odd] + 1} concepts"
    flat_r = list(chain.from_iterable(ch.relation_ids for ch in chains))
    flat_c = list(chain.from_iterable(ch.concept_ids for ch in chains))
    r_at, c_at = _lookup(rel_ix, flat_r), _lookup(concept_ix, flat_c)
    chain_of_step = np.repeat(np.arange(len(chains), dtype=np.int64), n_rel)
    first_c = np.arange(len(flat_r), dtype=np.int64) + chain_of_step
    known = r_at >= 0
    if len(rel_src):
        r_safe = np.where(known, r_at, 0)
        ok = known & (rel_src[r_safe] == c_at[first_c]) & (rel_dst[r_safe] == c_at[first_c + 1])
    else:
        ok = known
    if (bad := _first_missing(np.where(ok, 0, -1))) is not None:
        k = int(chain_of_step[bad])
        step = bad - int(np.concatenate([[0], np.cumsum(n_rel)])[k])
        return f"chain {chains[k].id!r}: step {step} has no matching relation edge in the input"
    # one HAS_STEP per concept position (pos, the relation leaving it or null), where the concept exists
    c_chain = np.repeat(np.arange(len(chains), dtype=np.int64), n_con)
    c_start = np.concatenate([[0], np.cumsum(n_con)[:-1]]).astype(np.int64)
    pos = np.arange(len(flat_c), dtype=np.int64) - np.repeat(c_start, n_con)
    rel_of = np.empty(len(flat_c), dtype=object)  # None on each chain's last concept
    last = np.cumsum(n_con) - 1
    not_last = np.ones(len(flat_c), dtype=bool)
    not_last[last] = False
    rel_of[not_last] = flat_r
    keep = c_at >= 0
    ids = np.array([ch.id for ch in chains], dtype=object)
    rows = list(zip(pos[keep].tolist(), rel_of[keep].tolist(), strict=True))
    return EdgeTable("HAS_STEP", ("pos", "relation_id"), ids[c_chain[keep]].tolist(),
                     np.array(flat_c, dtype=object)[keep].tolist(), _Rows(rows=rows),
                     ends=(chain_at[c_chain[keep]], c_at[keep]))


__all__ = ["LABELS", "BulkGraph", "EdgeTable", "NodeSlice", "NodeTable", "gc_paused"]
