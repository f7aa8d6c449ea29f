"""Hand-built documents whose composable paths are known, for the chain-composition tests.

The world (economics), by document and chunk (section in brackets)::

    doc "market":  0 [supply]  price -increases-> supply
                   1 [supply]  supply -causes-> surplus
                   2 [prices]  surplus -decreases-> price          (closes a cycle: never repeated)
                   2 [prices]  surplus -is_a-> market condition
    doc "other":   0 [intro]   market condition -example_of-> pattern   (another document: never joined)
    doc "types":   0 [a]       apple -example_of-> fruit, fruit -example_of-> food (refused: example after example)
                   0 [a]       fruit -is_a-> produce
                   1 [b]       term -defined_as-> gloss, gloss -causes-> effect (refused: nothing after defined_as)
    doc "merged":  0 [m]       rain -causes-> bonds      ("bonds" is merged into "bond" by :meth:`merge_bonds`)
                   1 [m]       bond -increases-> yield    (joined only through the merge: not composed)
                   1 [m]       bonds -is_a-> debt, debt -causes-> bond (bonds ... bond: one merge class twice)

so the composable paths are, in the market document: price>supply>surplus>market condition (3 steps,
across sections), surplus>price>supply (2 steps, across sections) and their sub-paths; in the types
document apple>fruit>produce; in the merged document rain>bonds>debt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from proda.pipelines.extract.compose import Inputs, Rel
from proda.schema import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import Element, GraphWriter

HAND = Provenance(extractor="manual", prompt_version="compose-test")


@dataclass
class ComposeWorld:
    """Documents with sectioned chunks, concepts by name, relations by 'subject>object'."""

    discipline: str = "economics"
    docs: dict[str, Document] = field(default_factory=dict)
    chunks: dict[tuple[str, int], Chunk] = field(default_factory=dict)
    c: dict[str, Concept] = field(default_factory=dict)
    r: dict[str, Relation] = field(default_factory=dict)
    chains: dict[str, Chain] = field(default_factory=dict)

    def doc(self, key: str, sections: list[str]) -> Document:
        """A document with one chunk per entry of ``sections`` (its section name), in order."""
        d = Document(source_id=f"{self.discipline}/{key}", discipline=self.discipline, title=key)
        self.docs[key] = d
        for i, s in enumerate(sections):
            self.chunks[(key, i)] = Chunk(document_id=d.id, ordinal=i, discipline=self.discipline, section=s,
                                          text=f"{key} chunk {i} in section {s}.")
        return d

    def concept(self, name: str) -> Concept:
        if name not in self.c:
            self.c[name] = Concept(name=name, discipline=self.discipline, provenance=HAND)
        return self.c[name]

    def rel(self, doc: str, chunk: int, s: str, t: str, o: str) -> Relation:
        r = Relation(type=t, subject_id=self.concept(s).id, object_id=self.concept(o).id, discipline=self.discipline,
                     evidence=f"{s} {t.replace('_', ' ')} {o}.", chunk_id=self.chunks[(doc, chunk)].id,
                     provenance=HAND)
        self.r[f"{s}>{o}"] = r
        return r

    def extracted(self, key: str, path: list[str]) -> Chain:
        """An extracted chain over existing relations along ``path`` (concept names)."""
        rels = [self.r[f"{a}>{b}"] for a, b in pairwise(path)]
        ch = Chain(discipline=self.discipline, relation_ids=[r.id for r in rels],
                   concept_ids=[self.c[n].id for n in path], relation_types=[r.type for r in rels],
                   chunk_id=rels[0].chunk_id, provenance=HAND)
        self.chains[key] = ch
        return ch

    def path(self, *names: str) -> list[str]:
        """The relation ids along a path of concept names."""
        return [self.r[f"{a}>{b}"].id for a, b in pairwise(names)]

    @property
    def elements(self) -> list[Element]:
        return [*self.docs.values(), *self.chunks.values(), *self.c.values(), *self.r.values(),
                *self.chains.values()]

    def load(self, store: GraphStore) -> ComposeWorld:
        result = GraphWriter(store, batch_size=500).write(self.elements)
        assert not result.unresolved, result.unresolved
        return self

    def inputs(self, merged: dict[str, str] | None = None) -> Inputs:
        """What :func:`~proda.pipelines.extract.compose.read_inputs` would read, without a graph: every relation
        with its chunk's document, section and position; ``merged`` maps duplicate name -> canonical name."""
        chunks = {k.id: k for k in self.chunks.values()}
        rels = [Rel(id=r.id, type=r.type, subject=r.subject_id, object=r.object_id, chunk_id=r.chunk_id,
                    document_id=chunks[r.chunk_id].document_id, section=chunks[r.chunk_id].section,
                    ordinal=chunks[r.chunk_id].ordinal, evidence=r.evidence) for r in self.r.values()]
        root = {c.id: c.id for c in self.c.values()}
        for dup, canonical in (merged or {}).items():
            root[self.c[dup].id] = self.c[canonical].id
        return Inputs(relations=rels, root=root, fresh=len(rels), names={c.id: c.name for c in self.c.values()},
                      extracted=[tuple(ch.relation_ids) for ch in self.chains.values() if len(ch.relation_ids) > 1])

    def merge_bonds(self, store: GraphStore) -> None:
        """Merge "bonds" into "bond" the way entity resolution does (SAME_AS, merged_into)."""
        dup, canonical = self.c["bonds"], self.c["bond"]
        store.query("apply_merges", {"rows": [{
            "merge_id": f"mrg_{dup.id}", "canonical_id": canonical.id, "duplicate_id": dup.id, "method": "test",
            "score": 100.0, "created_at": "2026-12-01T00:00:00", "aliases": [dup.name]}]})


def world() -> ComposeWorld:
    """The world of the module docstring (merges not applied yet: see :meth:`ComposeWorld.merge_bonds`)."""
    w = ComposeWorld()
    w.doc("market", ["supply", "supply", "prices"])
    w.doc("other", ["intro"])
    w.doc("types", ["a", "b"])
    w.doc("merged", ["m", "m"])
    w.rel("market", 0, "price", "increases", "supply")
    w.rel("market", 1, "supply", "causes", "surplus")
    w.rel("market", 2, "surplus", "decreases", "price")
    w.rel("market", 2, "surplus", "causes", "market condition")
    w.rel("other", 0, "market condition", "example_of", "pattern")
    w.rel("types", 0, "apple", "example_of", "fruit")
    w.rel("types", 0, "fruit", "example_of", "food")
    w.rel("types", 0, "fruit", "is_a", "produce")
    w.rel("types", 1, "term", "defined_as", "gloss")
    w.rel("types", 1, "gloss", "causes", "effect")
    w.rel("merged", 0, "rain", "causes", "bonds")
    w.rel("merged", 1, "bond", "increases", "yield")
    w.rel("merged", 1, "bonds", "increases", "debt")
    w.rel("merged", 1, "debt", "causes", "bond")
    return w


def hub_world(spokes: int = 12) -> ComposeWorld:
    """One document where ``hub`` links ``spokes`` concepts in and ``spokes`` out (a 2-step path through
    the hub for every pair), plus x -causes-> in0 (a path that ends at the hub), out0 -causes-> y (one that
    starts there) and a quiet path a -causes-> b -causes-> c of ordinary concepts."""
    w = ComposeWorld()
    w.doc("hubbed", ["s"])
    for i in range(spokes):
        w.rel("hubbed", 0, f"in{i}", "causes", "hub")
        w.rel("hubbed", 0, "hub", "causes", f"out{i}")
    w.rel("hubbed", 0, "x", "causes", "in0")
    w.rel("hubbed", 0, "out0", "causes", "y")
    w.rel("hubbed", 0, "a", "causes", "b")
    w.rel("hubbed", 0, "b", "causes", "c")
    return w


def line_world(steps: int = 7) -> ComposeWorld:
    """One document, one section: c0 -causes-> c1 -causes-> ... -causes-> c<steps>."""
    w = ComposeWorld()
    w.doc("line", ["s"])
    for i in range(steps):
        w.rel("line", 0, f"c{i}", "causes", f"c{i + 1}")
    return w
