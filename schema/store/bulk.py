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

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proda.schema.models import Chain, Chunk, Concept, Relation
from proda.schema.store.writer import Element, element_row

# node label per element kind, as the upsert queries write them
LABELS: dict[str, str] = {"document": "Document", "chunk": "Chunk", "concept": "Concept", "chain": "Chain"}


@dataclass
class BulkEdge:
    """One edge: endpoint ids, type and properties (a ``None`` value is not stored)."""

    type: str
    src: str
    dst: str
    props: dict[str, Any]


@dataclass
class BulkGraph:
    """Nodes (by label) and edges (in dependency order) of a graph that does not exist yet."""

    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {lb: [] for lb in LABELS.values()})
    edges: list[BulkEdge] = field(default_factory=list)
    written: Counter[str] = field(default_factory=Counter)
    unlinked_mentions: int = 0
    _kind_of: dict[str, str] = field(default_factory=dict)  # node id -> kind
    _ids: set[str] = field(default_factory=set)  # every element id seen
    _pending: list[Element] = field(default_factory=list)  # relations and chains, checked at finish
    _problem: str | None = None

    def add(self, e: Element) -> None:
        """Take one validated element (any order: references are resolved in :meth:`finish`)."""
        if self._problem is not None:
            return
        if e.id in self._ids:
            # the upsert path merges repeats (and names collisions); keep its semantics by deferring to it
            self._problem = f"{e.kind} id {e.id!r} occurs more than once"
            return
        self._ids.add(e.id)
        if isinstance(e, Relation | Chain):
            self._pending.append(e)
            return
        row = element_row(e)
        props = _stored({"id": row["id"], **row["props"]})
        if isinstance(e, Concept):
            # upsert_concepts: aliases = [] + new aliases, so a concept always carries the list
            props["aliases"] = list(e.aliases)
        self.nodes[LABELS[e.kind]].append(props)
        self._kind_of[e.id] = e.kind
        self.written[e.kind] += 1
        if isinstance(e, Chunk) or (isinstance(e, Concept) and e.chunk_ids):
            self._pending.append(e)

    def finish(self) -> str | None:
        """Resolve references; returns ``None`` when the graph is complete, else why the upsert path must load it."""
        if self._problem is not None:
            return self._problem
        rel_ends: dict[str, tuple[str, str]] = {}
        chunk_edges: list[BulkEdge] = []
        mention_edges: list[BulkEdge] = []
        rel_edges: list[BulkEdge] = []
        chain_edges: list[BulkEdge] = []
        chain_nodes: list[dict[str, Any]] = []
        for e in self._pending:
            if isinstance(e, Chunk):
                if self._kind_of.get(e.document_id) != "document":
                    return f"chunk {e.id!r}: document {e.document_id!r} is not in the input"
                chunk_edges.append(BulkEdge("HAS_CHUNK", e.document_id, e.id, {}))
            elif isinstance(e, Concept):
                for ck in dict.fromkeys(e.chunk_ids):  # MERGE: one MENTIONED_IN per pair
                    if self._kind_of.get(ck) == "chunk":
                        mention_edges.append(BulkEdge("MENTIONED_IN", e.id, ck, {}))
                    else:
                        self.unlinked_mentions += e.chunk_ids.count(ck)
            elif isinstance(e, Relation):
                if self._kind_of.get(e.subject_id) != "concept" or self._kind_of.get(e.object_id) != "concept":
                    return f"relation {e.id!r}: concept {e.subject_id!r} or {e.object_id!r} is not in the input"
                row = element_row(e)
                rel_edges.append(BulkEdge("RELATION", e.subject_id, e.object_id,
                                          _stored({"id": row["id"], **row["props"]})))
                rel_ends[e.id] = (e.subject_id, e.object_id)
        for e in self._pending:
            if not isinstance(e, Chain):
                continue
            for i, rid in enumerate(e.relation_ids):  # chain_missing_steps
                ends = rel_ends.get(rid)
                if i + 1 >= len(e.concept_ids) or ends != (e.concept_ids[i], e.concept_ids[i + 1]):
                    return f"chain {e.id!r}: step {i} has no matching relation edge in the input"
            row = element_row(e)
            chain_nodes.append(_stored({"id": row["id"], **row["props"]}))
            self._kind_of[e.id] = "chain"
            self.written["chain"] += 1
            for i, cid in enumerate(e.concept_ids):  # link_chain_steps (a missing concept: no edge, as MATCH)
                if self._kind_of.get(cid) == "concept":
                    rid_i = e.relation_ids[i] if i < len(e.relation_ids) else None
                    chain_edges.append(BulkEdge("HAS_STEP", e.id, cid, _stored({"pos": i, "relation_id": rid_i})))
            if e.chunk_id:  # link_chain_chunks
                if self._kind_of.get(e.chunk_id) == "chunk":
                    chain_edges.append(BulkEdge("FROM_CHUNK", e.id, e.chunk_id, {}))
                else:
                    self.unlinked_mentions += 1
        self.written["relation"] += len(rel_edges)
        self.nodes["Chain"].extend(chain_nodes)
        self.edges = chunk_edges + mention_edges + rel_edges + chain_edges
        self._pending.clear()
        return None

    def node_count(self) -> int:
        """How many nodes the graph will hold."""
        return sum(len(v) for v in self.nodes.values())


def _stored(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as stored. A ``None`` stays in the map: both consumers write it as "no property"
    (GRAPH.BULK's null, an unquoted empty CSV cell), as ``SET n += {k: null}`` stores nothing."""
    return props


def columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The union of property names of ``rows``, in first-seen order (``id`` first for nodes)."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


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
    for label, rows in graph.nodes.items():
        if not rows:
            continue
        cols = columns(rows)
        header = [("id:ID" if c == "id" else f"{c}:{_neo4j_type(r.get(c) for r in rows)}") for c in cols]
        path = out_dir / f"nodes_{label}.csv"
        _write_csv(path, header, ([r.get(c) for c in cols] for r in rows))
        args.append(f"--nodes={label}={path.name}")
    by_type: dict[str, list[BulkEdge]] = {}
    for edge in graph.edges:
        by_type.setdefault(edge.type, []).append(edge)
    for rtype, edges in by_type.items():
        cols = columns(e.props for e in edges)
        header = [":START_ID", ":END_ID",
                  *(f"{c}:{_neo4j_type(e.props.get(c) for e in edges)}" for c in cols)]
        path = out_dir / f"rels_{rtype}.csv"
        _write_csv(path, header, ([e.src, e.dst, *(e.props.get(c) for c in cols)] for e in edges))
        args.append(f"--relationships={rtype}={path.name}")
    args.append("--multiline-fields=true")  # chunk texts and evidence span lines
    (out_dir / "import.args").write_text(json.dumps(args) + "\n")
    return args


def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
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


__all__ = ["LABELS", "BulkEdge", "BulkGraph", "columns", "write_neo4j_admin"]
