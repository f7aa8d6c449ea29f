"""Batched, idempotent writes of knowledge elements through the catalog's ``UNWIND`` queries.

Every element is MERGEd by its deterministic id, so writing the same records twice is a no-op and
an interrupted write is completed by writing again. A row the database skips is explained: an id
that already belongs to a different element raises :class:`IdCollision`; a reference to an element
that does not exist (yet) is returned as *unresolved* so the caller can retry or report it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from proda.errors import IdCollision
from proda.schema.ids import normalise_name
from proda.schema.models import Chain, Chunk, Concept, Document, Relation
from proda.schema.store.base import GraphStore

Element = Document | Chunk | Concept | Relation | Chain
ORDER: tuple[str, ...] = ("document", "chunk", "concept", "relation", "chain")


def match_key(name: str) -> str:
    """A coarse key for duplicate candidates: normalised name with a naive singular of each word."""
    words = []
    for w in normalise_name(name).replace("-", " ").split():
        if len(w) > 4 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
        words.append(w)
    return " ".join(words)


def _provenance(p: Any) -> dict[str, Any]:
    if p is None:
        return {"extractor": None, "model": None, "prompt_version": None}
    return {"extractor": p.extractor, "model": p.model, "prompt_version": p.prompt_version}


def element_row(e: Element) -> dict[str, Any]:
    """The UNWIND row for one element: its id, reference ids and flat ``props`` (graph properties)."""
    props: dict[str, Any] = e.model_dump(exclude={"kind", "id", "provenance", "chunk_ids"})
    props["fp"] = e.fingerprint
    if isinstance(e, Concept | Relation | Chain):
        props.update(_provenance(e.provenance))
    row: dict[str, Any] = {"id": e.id, "props": props}
    if isinstance(e, Chunk):
        row["document_id"] = e.document_id
    elif isinstance(e, Concept):
        props["match_key"] = match_key(e.name)
    elif isinstance(e, Relation):
        row["subject_id"], row["object_id"] = e.subject_id, e.object_id
        props.pop("subject_id"), props.pop("object_id")
    elif isinstance(e, Chain):
        row["chunk_id"] = e.chunk_id
        row["concept_ids"], row["relation_ids"] = e.concept_ids, e.relation_ids
        props["length"] = len(e.relation_ids)
        if e.split is None:  # re-extracting a chain must not clear the split bench recorded (SET += null deletes)
            props.pop("split")
    return row


@dataclass
class WriteResult:
    """What one :meth:`GraphWriter.write` did."""

    written: Counter[str] = field(default_factory=Counter)
    unresolved: dict[str, str] = field(default_factory=dict)  # element id -> reason
    # provenance links whose chunk was not there (yet): (catalog query, rows), to retry later
    pending_links: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    @property
    def unlinked_mentions(self) -> int:
        return sum(len(rows) for _, rows in self.pending_links)

    def merge(self, other: WriteResult) -> None:
        self.written.update(other.written)
        self.unresolved.update(other.unresolved)
        self.pending_links.extend(other.pending_links)


class GraphWriter:
    """Writes elements in dependency order (documents, chunks, concepts, relations, chains)."""

    def __init__(self, store: GraphStore, batch_size: int = 5000) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.batch_size = batch_size

    def write(self, elements: Iterable[Element]) -> WriteResult:
        """Write ``elements``; returns counts and the unresolved ids. Raises :class:`IdCollision`."""
        groups: dict[str, list[Element]] = {k: [] for k in ORDER}
        for e in elements:
            groups[e.kind].append(e)
        result = WriteResult()
        for kind in ORDER:
            items = groups[kind]
            for start in range(0, len(items), self.batch_size):
                result.merge(self._write_batch(kind, items[start : start + self.batch_size]))
        return result

    def _write_batch(self, kind: str, items: Sequence[Element]) -> WriteResult:
        result = WriteResult()
        rows = [element_row(e) for e in items]
        if kind == "chain":
            rows = self._drop_broken_chains(rows, result)
            if not rows:
                return result
        written = self._upsert(kind, rows)
        if written < len(rows):
            self._explain(kind, rows, result)
        result.written[kind] += written
        if kind == "concept":
            links = [{"concept_id": e.id, "chunk_id": ck} for e in items
                     if isinstance(e, Concept) for ck in e.chunk_ids]
            self._link("link_mentions", links, result)
        elif kind == "chain":
            ok = {r["id"] for r in rows} - set(result.unresolved)
            steps = [
                {"chain_id": r["id"], "pos": i, "concept_id": cid,
                 "relation_id": r["relation_ids"][i] if i < len(r["relation_ids"]) else None}
                for r in rows if r["id"] in ok for i, cid in enumerate(r["concept_ids"])
            ]
            self.store.query("link_chain_steps", {"rows": steps})
            self._link("link_chain_chunks", [{"chain_id": r["id"], "chunk_id": r["chunk_id"]}
                                             for r in rows if r["id"] in ok and r["chunk_id"]], result)
        return result

    def _link(self, query: str, rows: list[dict[str, Any]], result: WriteResult) -> None:
        """MERGE provenance links; when some target is missing, keep the rows to retry (MERGE makes the
        retry of the ones that did link a no-op)."""
        if rows and self._count(self.store.query(query, {"rows": rows})) < len(rows):
            result.pending_links.append((query, rows))

    def retry_links(self, pending: list[tuple[str, list[dict[str, Any]]]]) -> int:
        """Run pending provenance links again; returns how many still have no target."""
        missing = 0
        for query, rows in pending:
            missing += len(rows) - self._count(self.store.query(query, {"rows": rows}))
        return missing

    def _upsert(self, kind: str, rows: list[dict[str, Any]]) -> int:
        return self._count(self.store.query(f"upsert_{kind}s", {"rows": rows}))

    @staticmethod
    def _count(rows: list[dict[str, Any]]) -> int:
        return int(rows[0]["written"]) if rows else 0

    def _drop_broken_chains(self, rows: list[dict[str, Any]], result: WriteResult) -> list[dict[str, Any]]:
        probe = [{"id": r["id"], "concept_ids": r["concept_ids"], "relation_ids": r["relation_ids"]} for r in rows]
        broken = {r["chain_id"]: r["missing_steps"] for r in self.store.query("chain_missing_steps", {"rows": probe})}
        for cid, steps in broken.items():
            result.unresolved[cid] = f"chain step(s) {sorted(steps)} have no matching relation edge"
        return [r for r in rows if r["id"] not in broken]

    def _explain(self, kind: str, rows: list[dict[str, Any]], result: WriteResult) -> None:
        """A batch wrote fewer rows than it had: find collisions (raise) and missing references."""
        existing: dict[str, tuple[str, Any]] = {
            r["id"]: (r["kind"], r["fp"]) for r in self.store.query("nodes_by_id", {"ids": [x["id"] for x in rows]})
        }
        for row in rows:
            found = existing.get(row["id"])
            if found is None:
                result.unresolved[row["id"]] = self._missing_reference(kind, row)
            elif found[0] != kind or found[1] != row["props"]["fp"]:
                raise IdCollision(f"{kind} id {row['id']!r} already belongs to a different {found[0]}")

    @staticmethod
    def _missing_reference(kind: str, row: dict[str, Any]) -> str:
        if kind == "chunk":
            return f"document {row['document_id']!r} does not exist"
        if kind == "relation":
            return f"concept {row['subject_id']!r} or {row['object_id']!r} does not exist"
        return "not written"
