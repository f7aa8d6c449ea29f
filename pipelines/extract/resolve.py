"""Entity resolution: concepts that name the same thing are merged, recorded, and can be undone.

A merge is non-destructive. Merging duplicate D into canonical C writes ``(D)-[:SAME_AS]->(C)``,
sets ``D.merged_into = C.id``, adds D's name and aliases to ``C.aliases`` and records a ``(:Merge)``
node (method, score, the aliases it added) linked ``-[:MERGED]->(D)`` and ``-[:INTO]->(C)``. Relations
and chains are not rewritten, so their deterministic ids stay valid and :func:`undo_merge` restores the
graph exactly; connected components see merges through the SAME_AS edges.

Future extraction resolves through :class:`AliasTable`: an alias or a duplicate's name maps to the
canonical concept's name, from which the concept id derives (see
:data:`~proda.pipelines.extract.topdown.ConceptResolver`).

Candidates come from :func:`find_candidates` (:mod:`proda.pipelines.extract.resolve_candidates`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from proda.errors import InputError, NotFound
from proda.pipelines.extract.resolve_candidates import (
    DEFAULT_THRESHOLD,
    Candidate,
    find_candidates,
    plan_candidates,
    roots,
    usable_key,
)
from proda.schema.ids import normalise_name
from proda.schema.store.base import GraphStore, Row

__all__ = [
    "DEFAULT_THRESHOLD",
    "AliasTable",
    "Candidate",
    "MergeRecord",
    "find_candidates",
    "list_merges",
    "merge",
    "plan_candidates",
    "undo_merge",
]

log = logging.getLogger(__name__)
BATCH = 1000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AliasTable:
    """Name -> canonical concept name for one discipline, from the recorded aliases and merges only.

    What a name resolves to must not depend on which concepts extraction has already written:
    a run resumed after a crash sees the concepts of its first part in the graph, a clean run does
    not, and both must give the same graph. So the table holds only forms that someone recorded
    (an alias, or the name of a concept merged into another by ``proda resolve``), never the mere
    existence of a concept. A concept's own name always resolves to itself, spelled as given.

    Lookups are two dict probes: the normalised name, then the plural/singular :func:`match_key`
    of a recorded form when exactly one canonical concept answers to that key (never for acronyms
    and very short names). Folding plural variants of unrelated concepts ("bonds" into "bond") is
    left to ``proda resolve``, where it is proposed, recorded and can be undone.
    """

    discipline: str
    by_name: Mapping[str, str]
    by_key: Mapping[str, str]
    own: frozenset[str] = frozenset()

    @classmethod
    def from_rows(cls, discipline: str, rows: Iterable[Mapping[str, Any]]) -> AliasTable:
        """Build the table from ``concept_aliases`` rows {id, name, aliases, merged_into}.

        Merged concepts resolve to the end of their ``merged_into`` chain. A canonical concept's own
        name wins over another concept's alias; an alias or key claimed by two canonical concepts
        is ambiguous and left out, so such a name resolves to itself.
        """
        rows = list(rows)
        name_of = {str(r["id"]): str(r.get("name") or "") for r in rows}
        root = roots({str(r["id"]): r.get("merged_into") or None for r in rows})
        own: set[str] = set()
        claims: dict[str, set[str]] = {}
        keys: dict[str, set[str]] = {}
        for r in rows:
            cid = str(r["id"])
            canonical = name_of[root[cid]]
            if not canonical:
                continue
            forms = [str(a) for a in (r.get("aliases") or ())]
            if root[cid] == cid:
                own.add(normalise_name(canonical))
            else:  # a merged duplicate: its name is a recorded form of the concept it went into
                forms.insert(0, name_of[cid])
            for form in forms:
                norm = normalise_name(form)
                if norm and norm != normalise_name(canonical):
                    claims.setdefault(norm, set()).add(canonical)
                key = usable_key(form)
                if key is not None:
                    keys.setdefault(key, set()).add(canonical)
        by_name = {n: next(iter(c)) for n, c in claims.items() if len(c) == 1 and n not in own}
        by_key = {k: next(iter(c)) for k, c in keys.items() if k and len(c) == 1}
        return cls(discipline=discipline, by_name=by_name, by_key=by_key, own=frozenset(own))

    @classmethod
    def load(cls, store: GraphStore, discipline: str) -> AliasTable:
        """Read the discipline's names, aliases and merges from the graph (``concept_aliases``)."""
        return cls.from_rows(discipline, store.query("concept_aliases", {"discipline": discipline}))

    def resolve(self, name: str, discipline: str) -> str:
        """The canonical name for ``name`` in ``discipline``, else ``name`` (stripped) itself.

        A discipline other than the table's resolves every name to itself.
        """
        if discipline != self.discipline:
            return name.strip()
        norm = normalise_name(name)
        if norm in self.own:
            return name.strip()
        hit = self.by_name.get(norm)
        if hit is None:
            key = usable_key(name)
            if key is not None:
                hit = self.by_key.get(key)
        return hit if hit is not None else name.strip()

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass(frozen=True)
class MergeRecord:
    """One merge of ``duplicate_id`` into ``canonical_id``, as recorded on its ``(:Merge)`` node."""

    id: str
    discipline: str
    canonical_id: str
    canonical_name: str
    duplicate_id: str
    duplicate_name: str
    method: str
    score: float
    created_at: str
    undone: bool = False
    undone_at: str | None = None
    added_aliases: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MergeRecord:
        """A record from a row of the ``merges`` query."""
        return cls(id=str(row["id"]), discipline=str(row["discipline"]), canonical_id=str(row["canonical_id"]),
                   canonical_name=str(row.get("canonical_name") or ""), duplicate_id=str(row["duplicate_id"]),
                   duplicate_name=str(row.get("duplicate_name") or ""), method=str(row["method"]),
                   score=float(row["score"]), created_at=str(row["created_at"]), undone=bool(row.get("undone")),
                   undone_at=row.get("undone_at"), added_aliases=tuple(row.get("added_aliases") or ()))


def _merge_id(duplicate_id: str, canonical_id: str, created_at: str) -> str:
    # the time is part of the id: after an undo, merging the same pair again is a new, separate record
    digest = hashlib.sha256(f"{duplicate_id}\x1f{canonical_id}\x1f{created_at}".encode()).hexdigest()
    return f"mrg_{digest[:20]}"


def _batches(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _consistent(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The candidates without repeats; raises :class:`InputError` where one batch contradicts itself."""
    out: list[Candidate] = []
    into: dict[str, str] = {}
    for c in candidates:
        if c.canonical_id == c.duplicate_id:
            raise InputError(f"cannot merge concept {c.duplicate_id!r} into itself")
        if c.duplicate_id in into:
            if into[c.duplicate_id] != c.canonical_id:
                raise InputError(f"concept {c.duplicate_id!r} is proposed as a duplicate of both "
                                 f"{into[c.duplicate_id]!r} and {c.canonical_id!r}")
            continue
        into[c.duplicate_id] = c.canonical_id
        out.append(c)
    both = sorted(set(into) & set(into.values()))
    if both:
        raise InputError(f"concept(s) {', '.join(both)} are both a duplicate and a canonical in one batch; "
                         "merge them in two calls")
    return out


def _preview(store: GraphStore, candidates: Sequence[Candidate]) -> dict[tuple[str, str], Row]:
    states: dict[tuple[str, str], Row] = {}
    for chunk in _batches(candidates):
        rows = [{"canonical_id": c.canonical_id, "duplicate_id": c.duplicate_id} for c in chunk]
        for r in store.query("merge_preview", {"rows": rows}):
            states[(r["canonical_id"], r["duplicate_id"])] = r
    return states


def _plan(candidates: Sequence[Candidate], states: Mapping[tuple[str, str], Row], created_at: str) -> list[MergeRecord]:
    """Validate each candidate against the graph's current state and compute the aliases it adds."""
    taken: dict[str, set[str]] = {}  # canonical id -> normalised names it already answers to
    planned: list[MergeRecord] = []
    for cand in candidates:
        st = states[(cand.canonical_id, cand.duplicate_id)]
        for side in ("canonical", "duplicate"):
            if st[f"{side}_name"] is None:
                raise NotFound(f"no concept {st[f'{side}_id']!r} (the {side} of a proposed merge)")
        if st["canonical_discipline"] != st["duplicate_discipline"]:
            raise InputError(f"concepts {cand.duplicate_id!r} ({st['duplicate_discipline']}) and "
                             f"{cand.canonical_id!r} ({st['canonical_discipline']}) are in different disciplines; "
                             "concepts are never merged across disciplines")
        if st["duplicate_merged_into"] is not None:
            log.info("concept %s is already merged into %s; skipped", cand.duplicate_id, st["duplicate_merged_into"])
            continue
        if st["canonical_merged_into"] is not None:
            log.warning("canonical concept %s is itself merged into %s; merge %s into that concept instead",
                        cand.canonical_id, st["canonical_merged_into"], cand.duplicate_id)
            continue
        names = taken.setdefault(cand.canonical_id, {
            normalise_name(n) for n in [st["canonical_name"], *(st["canonical_aliases"] or ())]})
        added: list[str] = []
        for form in [st["duplicate_name"], *(st["duplicate_aliases"] or ())]:
            norm = normalise_name(form)
            if norm and norm not in names:
                names.add(norm)
                added.append(form)
        planned.append(MergeRecord(
            id=_merge_id(cand.duplicate_id, cand.canonical_id, created_at), discipline=st["canonical_discipline"],
            canonical_id=cand.canonical_id, canonical_name=st["canonical_name"], duplicate_id=cand.duplicate_id,
            duplicate_name=st["duplicate_name"], method=cand.method, score=float(cand.score),
            created_at=created_at, added_aliases=tuple(added)))
    return planned


def _apply(store: GraphStore, planned: Sequence[MergeRecord]) -> list[MergeRecord]:
    # apply_merges rewrites c.aliases once per row, so one call holds at most one merge per canonical
    # concept: round k applies the k-th merge into each canonical.
    per_canonical: dict[str, list[MergeRecord]] = {}
    for rec in planned:
        per_canonical.setdefault(rec.canonical_id, []).append(rec)
    applied: dict[str, tuple[str, ...]] = {}
    rounds = max((len(v) for v in per_canonical.values()), default=0)
    for k in range(rounds):
        batch = [recs[k] for recs in per_canonical.values() if len(recs) > k]
        for chunk in _batches(batch):
            rows = [{"merge_id": r.id, "canonical_id": r.canonical_id, "duplicate_id": r.duplicate_id,
                     "method": r.method, "score": r.score, "created_at": r.created_at,
                     "aliases": list(r.added_aliases)} for r in chunk]
            for out in store.query("apply_merges", {"rows": rows}):
                applied[out["merge_id"]] = tuple(out["added_aliases"] or ())
    done = []
    for rec in planned:
        if rec.id in applied:
            done.append(replace(rec, added_aliases=applied[rec.id]))
        else:  # the graph changed between the preview and the write (a concurrent merge)
            log.warning("merge of %s into %s was skipped by the graph", rec.duplicate_id, rec.canonical_id)
    return done


def merge(store: GraphStore, candidates: Iterable[Candidate], *, dry_run: bool = False) -> list[MergeRecord]:
    """Merge each candidate's duplicate into its canonical concept; returns the merges made.

    A candidate whose duplicate (or canonical) is already merged is skipped, so merging the same
    candidates twice makes no second merge. With ``dry_run`` nothing is written and the returned
    records are the merges that would be made (with the aliases they would add).
    Raises :class:`NotFound` for an unknown concept id and :class:`InputError` for a merge across
    disciplines, a concept merged into itself, or a batch that proposes one concept as a duplicate
    of two concepts or as both a duplicate and a canonical.
    """
    wanted = _consistent(candidates)
    if not wanted:
        return []
    planned = _plan(wanted, _preview(store, wanted), _now())
    if dry_run or not planned:
        return planned
    return _apply(store, planned)


def list_merges(store: GraphStore, discipline: str | None = None, include_undone: bool = False) -> list[MergeRecord]:
    """The recorded merges (of one discipline, or all), oldest first; undone ones only on request."""
    rows = store.query("merges", {"discipline": discipline, "include_undone": include_undone})
    return [MergeRecord.from_row(r) for r in rows]


def undo_merge(store: GraphStore, merge_id: str) -> MergeRecord:
    """Undo merge ``merge_id`` exactly; returns its record, now marked undone.

    Removes the SAME_AS edge, the duplicate's ``merged_into`` and only the aliases this merge added;
    the ``(:Merge)`` node stays for audit. Undoing an undone merge returns its record unchanged.
    Raises :class:`NotFound` for an unknown id (or when its concepts no longer exist) and
    :class:`InputError` when the canonical concept has since been merged into another concept (undo
    that merge first: it carried this merge's aliases on).
    """
    rows = store.query("merges", {"id": merge_id, "include_undone": True})
    if not rows:
        raise NotFound(f"no merge {merge_id!r}")
    rec = MergeRecord.from_row(rows[0])
    if rec.undone:
        return rec
    later = [m for m in list_merges(store, rec.discipline) if m.duplicate_id == rec.canonical_id]
    if later:
        raise InputError(f"concept {rec.canonical_name!r} was later merged into {later[0].canonical_name!r} "
                         f"(merge {later[0].id}); undo that merge first")
    undone_at = _now()
    if not store.query("undo_merge", {"merge_id": merge_id, "undone_at": undone_at}):
        [now] = store.query("merges", {"id": merge_id, "include_undone": True})
        if now.get("undone"):  # undone concurrently
            return MergeRecord.from_row(now)
        raise NotFound(f"merge {merge_id!r}: its concepts no longer exist")
    return replace(rec, undone=True, undone_at=undone_at)
