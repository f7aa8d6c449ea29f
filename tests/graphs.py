"""Hand-built knowledge graphs with known answers, shared by the conformance tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from proda.schema import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import Element, GraphWriter


def graph_content(store: GraphStore) -> tuple[list[Any], list[Any]]:
    """Every node (labels, properties) and edge (type, end ids, properties) of the graph, sorted: two
    graphs are the same when these are equal."""
    nodes = store.run("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    edges = store.run("MATCH (a)-[r]->(b) RETURN type(r) AS type, a.id AS src, b.id AS dst, properties(r) AS props")
    key = lambda x: json.dumps(x, sort_keys=True, default=str)  # noqa: E731
    return (sorted(({"labels": sorted(n["labels"]), **dict(n["props"])} for n in nodes), key=key),
            sorted(({**e, "props": dict(e["props"])} for e in edges), key=key))


def covers(*names: str) -> None:
    """Name the catalog queries a test is about, for the reader.

    Declarations prove nothing: the session counts the queries conformance tests really execute and
    fails a full run where a catalog query never ran (tests/conftest.py).
    """


HAND = Provenance(extractor="manual", prompt_version="test")


@dataclass
class Toy:
    """economics: price -decreases-> demand -causes-> surplus (a chain), tax -increases-> price
    (uncovered edge), 'supply curve'/'supply curves' (duplicate candidates, isolated), plus a
    separate pair (wage -increases-> spending) forming a second component. biology: cell -part_of-> tissue."""

    doc: Document
    chunk: Chunk
    c: dict[str, Concept]
    r: dict[str, Relation]
    chain: Chain
    elements: list[Element]


def toy() -> Toy:
    doc = Document(source_id="economics/toy", discipline="economics", title="Toy economics")
    chunk = Chunk(document_id=doc.id, ordinal=0, discipline="economics",
                  text="A higher price decreases demand. Lower demand causes a surplus. A tax increases price.")
    names = ["price", "demand", "surplus", "tax", "supply curve", "supply curves", "wage", "spending"]
    c = {n: Concept(name=n, discipline="economics", chunk_ids=[chunk.id], provenance=HAND) for n in names}

    def rel(s: str, t: str, o: str, disc: str = "economics", cs: dict[str, Concept] = c) -> Relation:
        return Relation(type=t, subject_id=cs[s].id, object_id=cs[o].id, discipline=disc,
                        evidence=f"{s} {t} {o}", chunk_id=chunk.id if disc == "economics" else "", provenance=HAND)

    r = {
        "price>demand": rel("price", "decreases", "demand"),
        "demand>surplus": rel("demand", "causes", "surplus"),
        "tax>price": rel("tax", "increases", "price"),
        "wage>spending": rel("wage", "increases", "spending"),
    }
    bio = {n: Concept(name=n, discipline="biology") for n in ("cell", "tissue")}
    r["cell>tissue"] = rel("cell", "part_of", "tissue", "biology", bio)
    c.update(bio)
    chain = Chain(discipline="economics", relation_ids=[r["price>demand"].id, r["demand>surplus"].id],
                  concept_ids=[c["price"].id, c["demand"].id, c["surplus"].id],
                  relation_types=["decreases", "causes"], chunk_id=chunk.id, provenance=HAND)
    elements: list[Element] = [doc, chunk, *c.values(), *r.values(), chain]
    return Toy(doc, chunk, c, r, chain, elements)


def load_toy(store: GraphStore) -> Toy:
    t = toy()
    GraphWriter(store, batch_size=3).write(t.elements)
    return t
