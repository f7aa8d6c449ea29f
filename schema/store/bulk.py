"""First loads at bulk speed: knowledge elements as whole node and edge sets for a graph created in one pass.

:class:`BulkGraph` turns validated elements into exactly the nodes, edges and properties that the
catalog's ``UNWIND`` upserts (``upsert_*``, ``link_*``) would leave in an empty graph, without the
per-row ``MERGE``. It is all-or-nothing: anything the upsert path would resolve or report row by row
(an id used twice, a reference to an element that is not in the input, a chain step without its
relation edge) makes :meth:`BulkGraph.finish` answer ``None`` with the reason, and the caller loads
through the upsert path instead, which then reports it with file and line.

Two consumers: :meth:`FalkorDBStore.bulk_create` (``GRAPH.BULK``, the binary protocol of the
``falkordb-bulk-loader`` package) and :func:`write_neo4j_admin` (CSVs for ``neo4j-admin database
import full``, the offline way to seed a Neo4j cluster).
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from operator import itemgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

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
    """One relationship type's edges: end ids and one tuple of property values per edge."""

    def __init__(self, type: str, columns: tuple[str, ...], src: list[str], dst: list[str],
                 rows: _Rows | None = None) -> None:
        self.type, self.columns, self.src, self.dst = type, columns, src, dst
        # no properties: an empty row per edge, made from the ends (which may still grow)
        self._rows = rows if rows is not None else _Rows(items=src, make=_no_properties)

    def __len__(self) -> int:
        return len(self.src)


def _no_properties(_: Any) -> tuple[()]:
    return ()


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


@dataclass
class BulkGraph:
    """Nodes (by label) and edges (by type, in dependency order) of a graph that does not exist yet.

    :meth:`add` only files each element under its kind (any order); :meth:`finish` checks ids and
    references and lays out the tables; property rows are made when a consumer reads them.
    """

    nodes: dict[str, NodeTable] = field(default_factory=dict)
    edges: list[EdgeTable] = field(default_factory=list)
    written: Counter[str] = field(default_factory=Counter)
    unlinked_mentions: int = 0
    _by_kind: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (*LABELS, "relation")})
    _done: bool = False

    def add(self, e: Element) -> None:
        """Take one validated element (any order: references are resolved in :meth:`finish`)."""
        self._by_kind[e.kind].append(e)

    def finish(self) -> str | None:
        """Check and lay out; returns ``None`` when the graph is complete, else why the upsert path must load it."""
        if self._done:
            return None
        with gc_paused():
            return self._finish()

    def _finish(self) -> str | None:
        problem = self._repeated_id()
        if problem is not None:
            return problem
        docs: list[Document] = self._by_kind["document"]
        chunks: list[Chunk] = self._by_kind["chunk"]
        concepts: list[Concept] = self._by_kind["concept"]
        relations: list[Relation] = self._by_kind["relation"]
        chains: list[Chain] = self._by_kind["chain"]
        doc_ids = {e.id for e in docs}
        chunk_ids = {e.id for e in chunks}
        concept_ids = {e.id for e in concepts}

        bad = next((c for c in chunks if c.document_id not in doc_ids), None)
        if bad is not None:
            return f"chunk {bad.id!r}: document {bad.document_id!r} is not in the input"
        has_chunk = EdgeTable("HAS_CHUNK", (), [c.document_id for c in chunks], [c.id for c in chunks])
        mentioned = EdgeTable("MENTIONED_IN", (), [], [])
        for k in concepts:
            if k.chunk_ids:
                for ck in dict.fromkeys(k.chunk_ids):  # MERGE: one MENTIONED_IN per pair
                    if ck in chunk_ids:
                        mentioned.src.append(k.id)
                        mentioned.dst.append(ck)
                    else:
                        self.unlinked_mentions += k.chunk_ids.count(ck)
        bad_rel = next((r for r in relations if r.subject_id not in concept_ids or r.object_id not in concept_ids),
                       None)
        if bad_rel is not None:
            return (f"relation {bad_rel.id!r}: concept {bad_rel.subject_id!r} or {bad_rel.object_id!r} "
                    "is not in the input")
        rel_edges = EdgeTable("RELATION", _RELATION.columns, [r.subject_id for r in relations],
                              [r.object_id for r in relations], _Rows(items=relations, make=_relation_row))
        rel_ends = dict(zip([r.id for r in relations], zip(rel_edges.src, rel_edges.dst, strict=True), strict=True))
        steps = _ChainSteps(rel_ends, concept_ids)
        from_chunk = EdgeTable("FROM_CHUNK", (), [], [])
        for ch in chains:
            problem = steps.add(ch)
            if problem is not None:
                return problem
            if ch.chunk_id:  # link_chain_chunks
                if ch.chunk_id in chunk_ids:
                    from_chunk.src.append(ch.id)
                    from_chunk.dst.append(ch.chunk_id)
                else:
                    self.unlinked_mentions += 1

        for label, items, spec, make in (("Document", docs, _DOCUMENT, _document_row),
                                         ("Chunk", chunks, _CHUNK, _chunk_row),
                                         ("Concept", concepts, _CONCEPT, _concept_row),
                                         ("Chain", chains, _CHAIN, _chain_row)):
            self.nodes[label] = NodeTable(label, spec.columns, [e.id for e in items], _Rows(items=items, make=make))
        self.edges = [t for t in (has_chunk, mentioned, rel_edges, steps.table(), from_chunk) if len(t)]
        self.written.update({"document": len(docs), "chunk": len(chunks), "concept": len(concepts),
                             "relation": len(relations), "chain": len(chains)})
        self.written += Counter()  # drop kinds with no element, as the upsert path's counter has none
        self._by_kind = {k: [] for k in self._by_kind}
        self._done = True
        return None

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


class _ChainSteps:
    """Checks chains against their relation edges (``chain_missing_steps``) and collects their HAS_STEP
    edges (``link_chain_steps``: a concept that is not there gets no edge, as its MATCH finds nothing).
    A whole chain is compared and appended with C-level list operations; only a chain that fails the
    check, or names a missing concept, is walked step by step."""

    def __init__(self, rel_ends: dict[str, tuple[str, str]], concept_ids: set[str]) -> None:
        self.rel_ends, self.concept_ids = rel_ends, concept_ids
        self.src: list[str] = []
        self.dst: list[str] = []
        self.rows: list[tuple[Any, ...]] = []

    def add(self, ch: Chain) -> str | None:
        cids, rids = ch.concept_ids, ch.relation_ids
        if list(map(self.rel_ends.get, rids)) != list(pairwise(cids)):
            for i, rid in enumerate(rids):
                if i + 1 >= len(cids) or self.rel_ends.get(rid) != (cids[i], cids[i + 1]):
                    return f"chain {ch.id!r}: step {i} has no matching relation edge in the input"
        pos = zip(range(len(cids)), [*rids, *([None] * (len(cids) - len(rids)))], strict=True)
        if self.concept_ids.issuperset(cids):
            self.src.extend([ch.id] * len(cids))
            self.dst.extend(cids)
            self.rows.extend(pos)
        else:
            for cid, row in zip(cids, pos, strict=True):
                if cid in self.concept_ids:
                    self.src.append(ch.id)
                    self.dst.append(cid)
                    self.rows.append(row)
        return None

    def table(self) -> EdgeTable:
        return EdgeTable("HAS_STEP", ("pos", "relation_id"), self.src, self.dst, _Rows(rows=self.rows))


# --- Neo4j: neo4j-admin database import full ---------------------------------------------------------

def _neo4j_type(values: Iterator[Any]) -> str:
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, int):
            return "long"
        if isinstance(v, float):
            return "double"
        if isinstance(v, list):
            return "string[]"
        return "string"
    return "string"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_neo4j_admin(graph: BulkGraph, out_dir: Path) -> list[str]:
    """Write ``nodes_<Label>.csv`` and ``rels_<TYPE>.csv`` with neo4j-admin headers into ``out_dir``.

    Returns the ``neo4j-admin database import full`` arguments (``--nodes=...``/``--relationships=...``)
    that load them. Node ids share one id space (``:ID``), so relationship ends are element ids.
    Arrays use ``;`` as neo4j-admin's default array delimiter; a list element containing ``;`` would
    split, so such input raises :class:`ValueError` rather than export something different.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for label, table in graph.nodes.items():
        if not len(table):
            continue
        rows = table.rows
        header = [("id:ID" if c == "id" else f"{c}:{_neo4j_type(r[i] for r in rows)}")
                  for i, c in enumerate(table.columns)]
        path = out_dir / f"nodes_{label}.csv"
        _write_csv(path, header, rows)
        args.append(f"--nodes={label}={path.name}")
    for edges in graph.edges:
        rows = edges.rows
        header = [":START_ID", ":END_ID",
                  *(f"{c}:{_neo4j_type(r[i] for r in rows)}" for i, c in enumerate(edges.columns))]
        path = out_dir / f"rels_{edges.type}.csv"
        _write_csv(path, header, ([s, d, *r] for s, d, r in zip(edges.src, edges.dst, rows, strict=True)))
        args.append(f"--relationships={edges.type}={path.name}")
    args.append("--multiline-fields=true")  # chunk texts and evidence span lines
    (out_dir / "import.args").write_text(json.dumps(args) + "\n")
    return args


def _write_csv(path: Path, header: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """Every value is quoted so an empty string stays one; a missing value is an unquoted empty field,
    which neo4j-admin reads as "no property" (as the upsert path stores nothing for null)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(header) + "\n")
        for row in rows:
            cells = []
            for v in row:
                if isinstance(v, list) and any(";" in str(x) for x in v):
                    raise ValueError(f"array value {v!r} contains ';', the neo4j-admin array delimiter")
                cells.append("" if v is None else '"' + _cell(v).replace('"', '""') + '"')
            fh.write(",".join(cells) + "\n")


__all__ = ["LABELS", "BulkGraph", "EdgeTable", "NodeTable", "gc_paused", "write_neo4j_admin"]
