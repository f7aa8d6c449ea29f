"""The Builder's small economics graph: one document, one chunk of :data:`TEXT`, eight concepts and
four relations (three with evidence quoted from the chunk), on which every example family has a
known count (tests/test_build.py); also the graph behind training, paraphrase and job tests."""

from __future__ import annotations

from proda.schema import Chunk, Concept, Document, Provenance, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter

PROV = Provenance(extractor="manual", prompt_version="test")
TEXT = ("Prices carry information. A higher price decreases the quantity demanded. A tax increases the price "
        "that buyers pay. Subsidies work the other way. A price floor is a kind of price control.")


def builder_graph(store: GraphStore) -> dict[str, Relation]:
    """Write the graph to ``store``; its relations by key (demand, tax, floor, and tax2 without evidence)."""
    doc = Document(source_id="economics/prices", discipline="economics", title="Prices")
    chunk = Chunk(document_id=doc.id, ordinal=0, discipline="economics", text=TEXT)
    names = ["price", "quantity demanded", "tax", "price floor", "price control", "subsidy", "supply", "wages"]
    c = {n: Concept(name=n, discipline="economics", chunk_ids=[chunk.id], provenance=PROV) for n in names}

    def rel(s: str, t: str, o: str, ev: str) -> Relation:
        return Relation(type=t, subject_id=c[s].id, object_id=c[o].id, discipline="economics", evidence=ev,
                        chunk_id=chunk.id, provenance=PROV)

    r = {"demand": rel("price", "decreases", "quantity demanded", "A higher price decreases the quantity demanded"),
         "tax": rel("tax", "increases", "price", "A tax increases the price that buyers pay"),
         "floor": rel("price floor", "is_a", "price control", "A price floor is a kind of price control"),
         "tax2": rel("tax", "increases", "wages", "")}  # no evidence: no grounded example
    GraphWriter(store).write([doc, chunk, *c.values(), *r.values()])
    return r
