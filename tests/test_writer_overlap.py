"""The overlapped GraphWriter (next batch planned on a helper thread) and the serial one are the same writer.

Both write the same small input, in batches of two so that many batches overlap, into the same empty
graph one after the other: the graphs they leave and the WriteResults they return must be identical,
with an unresolved reference, a broken chain and links whose chunk is missing among the input, and an
id collision must stop both at the same point.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from proda.errors import IdCollision
from proda.schema import Chain, Chunk, Concept, Document, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import Element, GraphWriter, WriteResult
from tests.graphs import HAND, toy


def _input() -> list[Element]:
    t = toy()
    ghost = Concept(name="ghost", discipline="economics", provenance=HAND)  # never written
    orphan_chunk = Chunk(document_id=Document(source_id="economics/none", discipline="economics").id,
                         ordinal=0, discipline="economics", text="no document")
    unresolved = Relation(type="causes", subject_id=ghost.id, object_id=t.c["price"].id, discipline="economics",
                          evidence="ghost causes price", chunk_id=t.chunk.id, provenance=HAND)
    unlinked = Concept(name="unlinked", discipline="economics", chunk_ids=[orphan_chunk.id], provenance=HAND)
    # a chain over two real relations whose steps do not join up: steps 0 and 1 have no matching edge
    broken = Chain(discipline="economics", relation_ids=[t.r["tax>price"].id, t.r["price>demand"].id],
                   concept_ids=[t.c["price"].id, t.c["tax"].id, t.c["demand"].id],
                   relation_types=["increases", "decreases"], chunk_id=t.chunk.id, provenance=HAND)
    second = Chain(discipline="economics", relation_ids=[t.r["tax>price"].id, t.r["price>demand"].id],
                   concept_ids=[t.c["tax"].id, t.c["price"].id, t.c["demand"].id],
                   relation_types=["increases", "decreases"], chunk_id=t.chunk.id, provenance=HAND)
    # the broken chain shares a batch with a good one, so the good one's links are rebuilt without it
    return [*t.elements[:-1], orphan_chunk, unlinked, unresolved, t.chain, broken, second]


def _snapshot(store: GraphStore) -> dict[str, list[str]]:
    def rows(cypher: str) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True, default=str) for r in store.run(cypher))

    return {"nodes": rows("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props"),
            "edges": rows("MATCH (a)-[e]->(b) RETURN a.id AS a, type(e) AS type, b.id AS b, "
                          "properties(e) AS props")}


def _write(store: GraphStore, elements: list[Element], *, overlap: bool) -> tuple[WriteResult, int]:
    prepared = 0
    prepare = store.prepare

    def counted(name: str, params: Any = None) -> Any:
        nonlocal prepared
        prepared += 1
        return prepare(name, params)

    store.prepare = counted  # type: ignore[method-assign]
    try:
        return GraphWriter(store, batch_size=2, overlap=overlap).write(elements), prepared
    finally:
        del store.prepare


def test_overlapped_and_serial_writers_leave_the_same_graph_and_result(store: GraphStore) -> None:
    elements = _input()
    serial, serial_prepared = _write(store, elements, overlap=False)
    graph = _snapshot(store)
    store.clear()
    overlapped, overlapped_prepared = _write(store, elements, overlap=True)
    assert _snapshot(store) == graph
    assert overlapped == serial
    assert list(overlapped.unresolved.items()) == list(serial.unresolved.items())
    assert (serial_prepared, overlapped_prepared > 0) == (0, True)
    # the input's problems are all in the result, and only the good chains were written
    reasons = sorted(r.split(" ")[0] for r in serial.unresolved.values())
    assert reasons == ["chain", "concept", "document"] and serial.unlinked_mentions == 1
    assert serial.written == {"document": 1, "chunk": 1, "concept": 11, "relation": 5, "chain": 2}
    steps = store.run("MATCH (:Chain)-[s:HAS_STEP]->(:Concept) RETURN count(s) AS n")
    assert steps == [{"n": 6}]


def test_an_id_collision_stops_both_writers_at_the_same_point(store: GraphStore) -> None:
    t = toy()
    impostor = Concept(id=t.c["price"].id, name="not price at all", discipline="economics")
    elements = [*t.elements, Concept(name="late", discipline="economics", provenance=HAND)]
    graphs, errors = [], []
    for overlap in (False, True):
        GraphWriter(store).write(t.elements[:3])
        with pytest.raises(IdCollision) as err:
            GraphWriter(store, batch_size=3, overlap=overlap).write([impostor, *elements[3:]])
        graphs.append(_snapshot(store))
        errors.append(str(err.value))
        store.clear()
    assert graphs[0] == graphs[1] and errors[0] == errors[1]
