"""Turn one chunk's :class:`ChunkExtraction` into graph elements, top-down (docs/method.md).

Chains (L3) come first; each step is an L2 triple; L1 concepts are harvested from the triples'
subjects and objects, so every concept lies on a relation and every relation on a chain by
construction. A step that cannot be trusted is quarantined with its reason, never dropped silently
and never repaired by invention:

- its relation label maps to no declared type (docs/method.md: "mapped to the nearest declared type or
  quarantined, never invented silently");
- its evidence is not found in the chunk (CORE "Contextualized": grounded in the source text);
- it relates a concept to itself.

A chain is split where a step is quarantined or where consecutive steps do not share a concept, so
what remains are valid paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from proda.pipelines.extract.model import ChunkExtraction, ChunkInput, ExtractedStep
from proda.schema.ids import concept_id, normalise_name
from proda.schema.models import Chain, Concept, Provenance, Relation
from proda.schema.store.writer import Element
from proda.schema.vocabulary import Vocabulary

_WS = re.compile(r"\s+")
EVIDENCE_MIN_SCORE = 90.0  # rapidfuzz partial_ratio: tolerates quote marks and hyphenation, not paraphrase

ConceptResolver = Callable[[str, str], str]
"""(name, discipline) -> canonical name. Entity resolution plugs in here: a merged alias maps to its
canonical concept's name, so merges survive re-extraction (ids derive from the canonical name)."""


@dataclass(frozen=True)
class QuarantinedStep:
    """A step that was not written, and why."""

    chunk_id: str
    reason: str
    step: ExtractedStep


@dataclass
class TopDownResult:
    """Elements ready for :class:`~proda.schema.store.writer.GraphWriter`, plus what was quarantined."""

    elements: list[Element] = field(default_factory=list)
    quarantined: list[QuarantinedStep] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.elements:
            out[e.kind] = out.get(e.kind, 0) + 1
        return out


def _squash(text: str) -> str:
    return _WS.sub(" ", text).strip().casefold()


def grounded(evidence: str, text: str) -> bool:
    """True when ``evidence`` occurs in ``text`` (whitespace- and case-insensitive, near-verbatim)."""
    ev, tx = _squash(evidence), _squash(text)
    if not ev:
        return False
    return ev in tx or fuzz.partial_ratio(ev, tx) >= EVIDENCE_MIN_SCORE


def default_resolver(name: str, discipline: str) -> str:
    """No alias table: every name is its own canonical name."""
    return name.strip()


def to_elements(
    extraction: ChunkExtraction,
    chunk: ChunkInput,
    provenance: Provenance,
    vocabulary: Vocabulary,
    resolve: ConceptResolver = default_resolver,
) -> TopDownResult:
    """Convert one chunk's extraction to concepts, relations and chains; returns them with quarantine."""
    result = TopDownResult()
    concepts: dict[str, Concept] = {}
    relations: dict[str, Relation] = {}
    chains: dict[str, Chain] = {}
    disc = chunk.discipline

    def concept(name: str) -> Concept:
        canonical = resolve(name, disc)
        cid = concept_id(canonical, disc)
        if cid not in concepts:
            concepts[cid] = Concept(name=canonical, discipline=disc, chunk_ids=[chunk.chunk_id],
                                    provenance=provenance)
        return concepts[cid]

    for ext_chain in extraction.chains:
        path: list[tuple[Relation, Concept, Concept]] = []

        def close_path(path: list[tuple[Relation, Concept, Concept]], summary: str) -> None:
            if not path:
                return
            ch = Chain(discipline=disc, relation_ids=[r.id for r, _, _ in path],
                       concept_ids=[path[0][1].id, *[o.id for _, _, o in path]],
                       relation_types=[r.type for r, _, _ in path], chunk_id=chunk.chunk_id,
                       evidence=summary, provenance=provenance)
            chains.setdefault(ch.id, ch)

        for step in ext_chain.steps:
            reason = _step_problem(step, chunk, vocabulary)
            if reason is not None:
                result.quarantined.append(QuarantinedStep(chunk.chunk_id, reason, step))
                close_path(path, ext_chain.summary)
                path = []
                continue
            rel_type = vocabulary.resolve(step.relation)
            assert rel_type is not None  # _step_problem checked it
            subj, obj = concept(step.subject), concept(step.object)
            if subj.id == obj.id:  # two names that resolve to one concept
                result.quarantined.append(QuarantinedStep(chunk.chunk_id, "subject and object resolve to one "
                                                          f"concept {subj.name!r}", step))
                close_path(path, ext_chain.summary)
                path = []
                continue
            if path and path[-1][2].id != subj.id:  # not a continuation: the chain breaks here
                close_path(path, ext_chain.summary)
                path = []
            rel = Relation(type=rel_type, subject_id=subj.id, object_id=obj.id, discipline=disc,
                           evidence=step.evidence.strip(), chunk_id=chunk.chunk_id, provenance=provenance)
            relations.setdefault(rel.id, rel)
            path.append((relations[rel.id], subj, obj))
        close_path(path, ext_chain.summary)
    result.elements = [*concepts.values(), *relations.values(), *chains.values()]
    return result


def _step_problem(step: ExtractedStep, chunk: ChunkInput, vocabulary: Vocabulary) -> str | None:
    if vocabulary.resolve(step.relation) is None:
        return f"unknown relation type {step.relation!r}"
    if normalise_name(step.subject) == normalise_name(step.object):
        return f"relates {step.subject!r} to itself"
    if not normalise_name(step.subject) or not normalise_name(step.object):
        return "empty concept name"
    if not grounded(step.evidence, chunk.text):
        return "evidence not found in the chunk"
    return None
