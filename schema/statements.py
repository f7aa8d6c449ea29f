"""One element stated by several sources: which statement the graph keeps.

A relation found in two chunks, a concept that a hand-made file spells "Fair Trade Act" and an
extractor "fair trade act", a chain both extracted and composed: each is one element (one id), and the
graph keeps one statement of it whatever order the sources were written in, so rerunning any stage,
in any order or batch size, leaves the same graph. The upsert queries (``upsert_concepts``,
``upsert_relations``, ``upsert_chains``) apply these rules in the database; :func:`fold` applies the
same rules to statements that meet in one batch, where the database would see them all at once
(:func:`foldable` says which may be folded).

* The source kept is the one whose key sorts highest: a relation's ``(confidence, extractor, prompt
  version, model, chunk, evidence)``, a chain's ``(extractor, prompt version, model, chunk, evidence,
  origin)``, a concept's ``(extractor, prompt version, model, description)``; missing values sort first.
* A concept shows the cased spelling of its name, else the first in string order; its aliases and
  the chunks that mention it accumulate.
* A chain keeps a split given by any statement (the later one when both give one).
"""

from __future__ import annotations

from typing import Any, TypeVar

from proda.schema.models import Chain, Concept, Provenance, Relation

E = TypeVar("E", Concept, Relation, Chain)


def _provenance(p: Provenance | None) -> tuple[str, str, str]:
    return ("", "", "") if p is None else (p.extractor or "", p.prompt_version or "", p.model or "")


def source_key(e: Concept | Relation | Chain) -> tuple[Any, ...]:
    """What decides which statement of an element the graph keeps: the highest key."""
    if isinstance(e, Relation):
        return (e.confidence, *_provenance(e.provenance), e.chunk_id, e.evidence)
    if isinstance(e, Chain):
        return (*_provenance(e.provenance), e.chunk_id, e.evidence, e.origin)
    return (*_provenance(e.provenance), e.description)


def shown_name(a: str, b: str) -> str:
    """The spelling of a concept's name the graph shows: the cased one, else the first in string order."""
    cased_a, cased_b = a.lower() != a, b.lower() != b
    if cased_a != cased_b:
        return a if cased_a else b
    return min(a, b)


def foldable(old: Concept | Relation | Chain, new: Concept | Relation | Chain) -> bool:
    """Whether two statements are of one element and differ only where :func:`fold` chooses: same kind,
    id and fingerprint, and a chain's steps (its concepts and types) the same. Two statements that
    differ elsewhere (a chain whose steps do not join up) are written both, so the graph reports the
    bad one."""
    if type(old) is not type(new) or old.id != new.id or old.fingerprint != new.fingerprint:
        return False
    if isinstance(old, Chain) and isinstance(new, Chain):
        return (old.concept_ids, old.relation_types, old.discipline) == (new.concept_ids, new.relation_types,
                                                                         new.discipline)
    return old.discipline == new.discipline


def fold(old: E, new: E) -> E:
    """The statement the graph holds after ``old`` and then ``new`` (the same element) were written:
    the same as after ``new`` and then ``old``."""
    kept = new if source_key(new) >= source_key(old) else old
    if isinstance(kept, Concept):
        assert isinstance(old, Concept) and isinstance(new, Concept)
        return kept.model_copy(update={
            "name": shown_name(old.name, new.name),
            "aliases": old.aliases + [a for a in new.aliases if a not in old.aliases],
            "chunk_ids": old.chunk_ids + [c for c in new.chunk_ids if c not in old.chunk_ids]})
    if isinstance(kept, Chain):
        assert isinstance(old, Chain) and isinstance(new, Chain)
        split = new.split if new.split is not None else old.split
        return kept if kept.split == split else kept.model_copy(update={"split": split})
    return kept
