"""Batched, idempotent writes of knowledge elements through the catalog's ``UNWIND`` queries.

Every element is MERGEd by its deterministic id, so writing the same records twice is a no-op and
an interrupted write is completed by writing again. A row the database skips is explained: an id
that already belongs to a different element raises :class:`IdCollision`; a reference to an element
that does not exist (yet) is returned as *unresolved* so the caller can retry or report it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from proda.errors import IdCollision
from proda.schema.ids import normalise_name
from proda.schema.models import Chain, Chunk, Concept, Document, Relation
from proda.schema.statements import fold, foldable
from proda.schema.store.base import GraphStore

Element = Document | Chunk | Concept | Relation | Chain
ORDER: tuple[str, ...] = ("document", "chunk", "concept", "relation", "chain")
# Batches planned ahead of the one being written: more than one, so that a short statement (a small
# batch, a kind's last one) does not leave the database waiting for the next plan.
PLAN_AHEAD = 2


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
    """Writes elements in dependency order (documents, chunks, concepts, relations, chains).

    Each batch is first *planned* (its rows and the parameters of every statement it runs, built and,
    with ``overlap``, prepared by the store: CPU work that touches no connection) and then *applied*
    (the statements run, one after the other, on the caller's thread). With ``overlap`` the next
    batches (up to :data:`PLAN_AHEAD`) are planned on a helper thread while the database runs the
    current one: a thread blocked on the socket releases the GIL, so on two cores the client's row
    building and parameter serialisation hide behind the server's execution. Statements, their order
    and the :class:`WriteResult` are the same either way; ``overlap=False`` plans each batch just
    before applying it (the old serial path).
    """

    def __init__(self, store: GraphStore, batch_size: int = 5000, *, overlap: bool = True) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.batch_size = batch_size
        self.overlap = overlap

    def write(self, elements: Iterable[Element]) -> WriteResult:
        """Write ``elements``; returns counts and the unresolved ids. Raises :class:`IdCollision`."""
        groups: dict[str, list[Element]] = {k: [] for k in ORDER}
        # statements of one element meeting here are folded into the one the graph would keep: inside
        # one UNWIND the database sees them all at once. Statements that are not foldable (an id
        # collision, a chain whose steps differ) still reach the database, which refuses or reports them.
        stated: dict[tuple[str, str], int] = {}
        for e in elements:
            group = groups[e.kind]
            if isinstance(e, Concept | Relation | Chain):
                at = stated.get((e.kind, e.id))
                if at is not None and foldable(before := group[at], e):  # type: ignore[arg-type]
                    group[at] = fold(before, e)  # type: ignore[type-var]
                    continue
                stated[(e.kind, e.id)] = len(group)
            group.append(e)
        batches = [(kind, groups[kind][start : start + self.batch_size])
                   for kind in ORDER for start in range(0, len(groups[kind]), self.batch_size)]
        result = WriteResult()
        if not self.overlap or len(batches) < 2:  # one batch has nothing to overlap with: no thread
            prepare = self.store.prepare if self.overlap else _as_is
            for kind, items in batches:
                result.merge(self._apply(self._plan(kind, items, prepare)))
            return result
        planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-writer-plan")
        try:
            queued = iter(batches)
            ahead = deque(planner.submit(self._plan, *b, self.store.prepare) for b in islice(queued, PLAN_AHEAD + 1))
            while ahead:
                plan = ahead.popleft().result()  # a planning error surfaces here, in batch order
                for b in islice(queued, 1):
                    ahead.append(planner.submit(self._plan, *b, self.store.prepare))
                result.merge(self._apply(plan))
        finally:  # after an IdCollision: plans not started are dropped, the running one is waited for
            planner.shutdown(wait=True, cancel_futures=True)
        return result

    @staticmethod
    def _plan(kind: str, items: Sequence[Element], prepare: _Prepare) -> _Plan:
        """Rows and statement parameters of one batch, before any of it is written (no database access).

        Parameters that depend on what the database answers (chains whose steps are missing, rows it
        skipped) are planned for the case that every row is written; :meth:`_apply` rebuilds them when not.
        """
        rows = [element_row(e) for e in items]
        plan = _Plan(kind, rows, prepare(f"upsert_{kind}s", {"rows": rows}))
        if kind == "concept":
            plan.link_rows = [{"concept_id": e.id, "chunk_id": ck} for e in items
                              if isinstance(e, Concept) for ck in e.chunk_ids]
            plan.links = prepare("link_mentions", {"rows": plan.link_rows}) if plan.link_rows else None
        elif kind == "chain":
            probe = [{"id": r["id"], "concept_ids": r["concept_ids"], "relation_ids": r["relation_ids"]}
                     for r in rows]
            plan.probe = prepare("chain_missing_steps", {"rows": probe})
            plan.steps = prepare("link_chain_steps", {"rows": _step_rows(rows)})
            plan.link_rows = _chain_chunk_rows(rows)
            plan.links = prepare("link_chain_chunks", {"rows": plan.link_rows}) if plan.link_rows else None
        return plan

    def _apply(self, plan: _Plan) -> WriteResult:
        """Run one planned batch's statements in order; the batch's own result."""
        result = WriteResult()
        if plan.kind == "chain":
            self._apply_chains(plan, result)
            return result
        self._upsert(plan.kind, plan.rows, plan.upsert, result)
        if plan.kind == "concept":
            self._link("link_mentions", plan.link_rows, result, plan.links)
        return result

    def _apply_chains(self, plan: _Plan, result: WriteResult) -> None:
        """Chains are checked against the relation edges first (a chain with a missing step is not
        written), then written, then linked to their steps and chunk."""
        assert plan.probe is not None and plan.steps is not None
        rows, upsert = plan.rows, plan.upsert
        broken = self._broken_chains(plan.probe, result)
        if broken:
            rows = [r for r in rows if r["id"] not in broken]
            if not rows:
                return
            upsert = {"rows": rows}
        self._upsert("chain", rows, upsert, result)
        steps, chunk_rows, chunks = plan.steps, plan.link_rows, plan.links
        if result.unresolved:  # some chain was dropped: only the written ones are linked
            ok = {r["id"] for r in rows} - set(result.unresolved)
            kept = [r for r in rows if r["id"] in ok]
            steps, chunk_rows, chunks = {"rows": _step_rows(kept)}, _chain_chunk_rows(kept), None
        self.store.query("link_chain_steps", steps)
        self._link("link_chain_chunks", chunk_rows, result, chunks)

    def _link(self, query: str, rows: list[dict[str, Any]], result: WriteResult,
              params: Mapping[str, Any] | None = None) -> None:
        """MERGE provenance links; when some target is missing, keep the rows to retry (MERGE makes the
        retry of the ones that did link a no-op). ``params`` are ``rows`` as prepared, if they were."""
        if rows and self._count(self.store.query(query, params or {"rows": rows})) < len(rows):
            result.pending_links.append((query, rows))

    def retry_links(self, pending: list[tuple[str, list[dict[str, Any]]]]) -> int:
        """Run pending provenance links again; returns how many still have no target."""
        missing = 0
        for query, rows in pending:
            missing += len(rows) - self._count(self.store.query(query, {"rows": rows}))
        return missing

    def _upsert(self, kind: str, rows: list[dict[str, Any]], params: Mapping[str, Any],
                result: WriteResult) -> None:
        written = self._count(self.store.query(f"upsert_{kind}s", params))
        if written < len(rows):
            self._explain(kind, rows, result)
        result.written[kind] += written

    @staticmethod
    def _count(rows: list[dict[str, Any]]) -> int:
        return int(rows[0]["written"]) if rows else 0

    def _broken_chains(self, probe: Mapping[str, Any], result: WriteResult) -> set[str]:
        """The chains of ``probe`` with a step that has no relation edge, recorded as unresolved."""
        broken = {r["chain_id"]: r["missing_steps"] for r in self.store.query("chain_missing_steps", probe)}
        for cid, steps in broken.items():
            result.unresolved[cid] = f"chain step(s) {sorted(steps)} have no matching relation edge"
        return set(broken)

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


_Prepare = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]


def _as_is(name: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """The serial path's "prepare": the parameters unchanged, for the store's query to do all the work."""
    return params


@dataclass
class _Plan:
    """One batch ready to apply: its rows and the (possibly prepared) parameters of its statements."""

    kind: str
    rows: list[dict[str, Any]]
    upsert: Mapping[str, Any]
    link_rows: list[dict[str, Any]] = field(default_factory=list)  # link_mentions or link_chain_chunks rows
    links: Mapping[str, Any] | None = None  # link_rows prepared (None: no rows)
    probe: Mapping[str, Any] | None = None  # chain_missing_steps
    steps: Mapping[str, Any] | None = None  # link_chain_steps, every chain of the batch


def _step_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """link_chain_steps rows: each chain's concept at each position, with the relation leaving it."""
    return [{"chain_id": r["id"], "pos": i, "concept_id": cid,
             "relation_id": r["relation_ids"][i] if i < len(r["relation_ids"]) else None}
            for r in rows for i, cid in enumerate(r["concept_ids"])]


def _chain_chunk_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """link_chain_chunks rows: each chain that names its chunk."""
    return [{"chain_id": r["id"], "chunk_id": r["chunk_id"]} for r in rows if r["chunk_id"]]
