"""Conformance: every catalog query on a hand-built graph with known answers, on every backend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proda.errors import IdCollision, InputError, NotFound
from proda.schema import Concept
from proda.schema.catalog import Catalog, default_catalog
from proda.schema.store.base import GraphStore
from proda.schema.store.components import components_from_edges
from proda.schema.store.writer import GraphWriter
from tests.graphs import covers, load_toy, toy


def test_catalog_headers_are_complete() -> None:
    cat = Catalog.load()
    assert "chain_detail" in cat.names()
    for q in cat:
        assert q.purpose, q.name
        assert q.columns, f"{q.name} declares no columns"
        for backend in ("falkordb", "neo4j"):
            assert "$" in q.text(backend) or not q.params, f"{q.name} declares parameters it never uses"
    assert default_catalog().get("components").text("falkordb") != default_catalog().get("components").text("neo4j")


def test_unknown_query_and_bad_parameters_are_named() -> None:
    cat = default_catalog()
    with pytest.raises(NotFound, match="no catalog query 'nope'"):
        cat.get("nope")
    q = cat.get("concept_neighbours")
    with pytest.raises(InputError, match="bogus"):
        q.bind({"id": "x", "bogus": 1})
    with pytest.raises(InputError, match="'id' is required"):
        q.bind({})
    with pytest.raises(InputError, match="'limit' must be int"):
        q.bind({"id": "x", "limit": "ten"})
    assert q.bind({"id": "x", "limit": "7"}) == {"id": "x", "type": None, "limit": 7}


def test_upserts_are_idempotent_and_counted(store: GraphStore) -> None:
    covers("upsert_documents", "upsert_chunks", "upsert_concepts", "upsert_relations", "upsert_chains",
           "link_mentions", "link_chain_steps", "link_chain_chunks", "discipline_counts")
    t = load_toy(store)
    before = sorted((r["discipline"], r["element"], r["count"]) for r in store.query("discipline_counts"))
    again = GraphWriter(store, batch_size=100).write(t.elements)
    after = sorted((r["discipline"], r["element"], r["count"]) for r in store.query("discipline_counts"))
    assert before == after
    assert again.written == {"document": 1, "chunk": 1, "concept": 10, "relation": 5, "chain": 1}
    assert ("economics", "concepts", 8) in after and ("biology", "relations", 1) in after
    mentions = store.run("MATCH (:Concept)-[m:MENTIONED_IN]->(:Chunk) RETURN count(m) AS n")
    assert mentions[0]["n"] == 8
    sources = store.run("MATCH (c:Chain)-[:FROM_CHUNK]->(k:Chunk) RETURN c.id AS chain, k.id AS chunk")
    assert sources == [{"chain": t.chain.id, "chunk": t.chunk.id}]


def test_id_collision_is_refused(store: GraphStore) -> None:
    covers("nodes_by_id")
    load_toy(store)
    impostor = Concept(id=toy().c["price"].id, name="not price at all", discipline="economics")
    with pytest.raises(IdCollision, match="already belongs to a different concept"):
        GraphWriter(store).write([impostor])
    rows = store.query("nodes_by_id", {"ids": [toy().c["price"].id, "missing"]})
    assert rows == [{"kind": "concept", "id": toy().c["price"].id, "fp": toy().c["price"].fingerprint}]


def test_relation_with_missing_endpoint_is_unresolved(store: GraphStore) -> None:
    t = toy()
    result = GraphWriter(store).write([t.c["price"], t.r["price>demand"]])
    assert result.written["relation"] == 0
    assert t.r["price>demand"].id in result.unresolved


def test_chain_missing_steps(store: GraphStore) -> None:
    covers("chain_missing_steps")
    t = load_toy(store)
    ok = {"id": "a", "concept_ids": t.chain.concept_ids, "relation_ids": t.chain.relation_ids}
    bad = {"id": "b", "concept_ids": [t.c["surplus"].id, t.c["price"].id], "relation_ids": [t.r["tax>price"].id]}
    rows = store.query("chain_missing_steps", {"rows": [ok, bad]})
    assert rows == [{"chain_id": "b", "missing_steps": [0]}]


def test_concept_and_neighbours(store: GraphStore) -> None:
    covers("concept", "concept_neighbours")
    t = load_toy(store)
    [row] = store.query("concept", {"id": t.c["price"].id})
    assert (row["name"], row["out_degree"], row["in_degree"], row["chains"]) == ("price", 1, 1, 1)
    assert row["chunk_ids"] == [t.chunk.id]
    rows = store.query("concept_neighbours", {"id": t.c["price"].id})
    assert {(r["direction"], r["type"], r["neighbour_name"]) for r in rows} == {
        ("out", "decreases", "demand"), ("in", "increases", "tax")}
    only = store.query("concept_neighbours", {"id": t.c["price"].id, "type": "increases"})
    assert [r["neighbour_name"] for r in only] == ["tax"]
    assert store.query("concept", {"id": "con_missing"}) == []


def test_chain_detail_walks_to_documents(store: GraphStore) -> None:
    covers("chain_detail")
    t = load_toy(store)
    rows = store.query("chain_detail", {"id": t.chain.id})
    assert [r["pos"] for r in rows] == [0, 1, 2]
    assert [r["concept_name"] for r in rows] == ["price", "demand", "surplus"]
    assert [r["relation_type"] for r in rows] == ["decreases", "causes", None]
    assert rows[0]["document_id"] == t.doc.id and rows[0]["chunk_id"] == t.chunk.id
    assert rows[0]["evidence"] == "price decreases demand"


def test_reachability_and_uncovered(store: GraphStore) -> None:
    covers("reachability", "uncovered_concepts", "uncovered_relations")
    t = load_toy(store)
    rows = {(r["discipline"], r["element"]): (r["total"], r["uncovered"]) for r in store.query("reachability")}
    assert rows[("economics", "concept")] == (8, 5)  # tax, supply curve(s), wage, spending
    assert rows[("economics", "relation")] == (4, 2)  # tax>price, wage>spending
    assert rows[("biology", "relation")] == (1, 1)
    names = {r["name"] for r in store.query("uncovered_concepts", {"discipline": "economics"})}
    assert names == {"tax", "supply curve", "supply curves", "wage", "spending"}
    rels = store.query("uncovered_relations", {"discipline": "economics"})
    assert {r["id"] for r in rels} == {t.r["tax>price"].id, t.r["wage>spending"].id}
    assert len(store.query("uncovered_relations", {"limit": 1})) == 1


def test_components_match_the_fallback(store: GraphStore) -> None:
    covers("components", "component_edges")
    load_toy(store)
    native = {c.discipline: (c.components, c.giant, c.concepts) for c in store.components()}
    # economics: {price, demand, surplus, tax}, {wage, spending}, {supply curve}, {supply curves}
    assert native["economics"] == (4, 4, 8)
    assert native["biology"] == (1, 2, 2)
    fallback = components_from_edges(store.query("component_edges"), method="test")
    assert {c.discipline: (c.components, c.giant, c.concepts) for c in fallback} == native
    [econ] = store.components("economics")
    assert econ.giant_share == pytest.approx(0.5)


def test_orphans_and_broken_chains(store: GraphStore) -> None:
    covers("orphans", "orphan_counts")
    t = load_toy(store)
    counts = {(r["discipline"], r["kind"]): r["count"] for r in store.query("orphan_counts")}
    assert counts.get(("economics", "isolated_concept")) == 2
    assert ("economics", "broken_chain") not in counts
    # delete an edge the chain uses: the chain becomes broken and is reported
    store.run("MATCH ()-[r:RELATION {id: $id}]->() DELETE r", {"id": t.r["demand>surplus"].id}, read_only=False)
    counts = {(r["discipline"], r["kind"]): r["count"] for r in store.query("orphan_counts")}
    assert counts[("economics", "broken_chain")] == 1
    kinds = {(r["kind"], r["id"]) for r in store.query("orphans")}
    assert ("broken_chain", t.chain.id) in kinds
    assert ("isolated_concept", t.c["supply curve"].id) in kinds


def test_duplicate_candidates_and_histogram(store: GraphStore) -> None:
    covers("duplicate_candidates", "relation_type_histogram")
    t = load_toy(store)
    [dup] = store.query("duplicate_candidates", {"discipline": "economics"})
    assert sorted(dup["ids"]) == sorted([t.c["supply curve"].id, t.c["supply curves"].id])
    hist = {(r["discipline"], r["type"]): r["relations"] for r in store.query("relation_type_histogram")}
    assert hist == {("economics", "increases"): 2, ("economics", "decreases"): 1, ("economics", "causes"): 1,
                    ("biology", "part_of"): 1}


def test_every_catalog_query_has_a_conformance_test() -> None:
    """A new catalog query without a test that declares ``covers("name")`` (in any test module) fails here."""
    declared: set[str] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for call in re.findall(r"covers\(([^)]*)\)", path.read_text()):
            declared.update(re.findall(r"[\"']([a-z_0-9]+)[\"']", call))
    missing = set(default_catalog().names()) - declared
    assert not missing, f"catalog queries without a conformance test: {sorted(missing)}"
