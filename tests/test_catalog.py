"""Conformance: every catalog query on a hand-built graph with known answers, on every backend."""

from __future__ import annotations

from collections import Counter

import pytest

from proda.errors import IdCollision, InputError, NotFound
from proda.schema import Chain, Concept
from proda.schema.catalog import Catalog, default_catalog
from proda.schema.store.base import GraphStore, executed_queries
from proda.schema.store.components import components_from_edges
from proda.schema.store.writer import GraphWriter
from tests.graphs import HAND, Toy, covers, load_toy, toy


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
    with pytest.raises(NotFound, match="no catalog query 'nope'; known: apply_merges, ") as err:
        cat.get("nope")
    assert all(name in str(err.value) for name in cat.names())
    with pytest.raises(NotFound, match=r"no catalog query 'chain_detial'; did you mean chain_detail\?$"):
        cat.get("chain_detial")
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
    backwards = {"id": "c", "concept_ids": t.chain.concept_ids[::-1], "relation_ids": t.chain.relation_ids[::-1]}
    unknown = {"id": "d", "concept_ids": t.chain.concept_ids,
               "relation_ids": [t.chain.relation_ids[0], "rel_nowhere", *t.chain.relation_ids[2:]]}
    rows = store.query("chain_missing_steps", {"rows": [ok, bad, backwards, unknown]})
    missing = {r["chain_id"]: sorted(r["missing_steps"]) for r in rows}
    n = len(t.chain.relation_ids)
    assert n >= 2 and missing == {"b": [0], "c": list(range(n)), "d": [1]}


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


def test_executed_queries_count_completed_catalog_runs_by_backend(store: GraphStore) -> None:
    """The record the session's coverage check reads: one count per completed run, none for a refused one."""
    before = executed_queries()
    store.query("discipline_counts")
    store.query("discipline_counts", {"discipline": "economics"})
    with pytest.raises(InputError):
        store.query("concept", {})
    ran = executed_queries() - before
    assert ran == Counter({("discipline_counts", store.backend): 2})


def test_extraction_queue_marks_and_quarantine(store: GraphStore) -> None:
    covers("chunks_to_extract", "extraction_queue", "mark_extracted", "upsert_quarantine", "quarantine_counts",
           "extractor_histogram")
    t = load_toy(store)
    key = "heuristic/heuristic-v1"
    [todo] = store.query("chunks_to_extract", {"key": key})
    assert (todo["chunk_id"], todo["document_id"], todo["title"]) == (t.chunk.id, t.doc.id, "Toy economics")
    assert store.query("chunks_to_extract", {"key": key, "discipline": "biology"}) == []
    assert store.query("extraction_queue", {"key": key}) == [
        {"discipline": "economics", "chunks": 1, "pending": 1, "documents": 1}]
    assert store.query("mark_extracted", {"rows": [{"chunk_id": t.chunk.id, "key": key},
                                                    {"chunk_id": "chk_missing", "key": key}]}) == [{"written": 1}]
    assert store.query("chunks_to_extract", {"key": key}) == []
    assert store.query("extraction_queue", {"key": key})[0]["pending"] == 0
    assert store.query("extraction_queue", {"key": "llm/v2"})[0]["pending"] == 1  # another extractor still waits

    rows = [{"id": "qua_1", "chunk_id": t.chunk.id, "props": {"discipline": "economics", "reason_kind": "schema"}},
            {"id": "qua_2", "chunk_id": t.chunk.id, "props": {"discipline": "economics", "reason_kind": "schema"}},
            {"id": "qua_3", "chunk_id": "chk_gone", "props": {"discipline": "economics", "reason_kind": "ungrounded"}}]
    assert store.query("upsert_quarantine", {"rows": rows}) == [{"written": 3}]
    assert store.query("upsert_quarantine", {"rows": rows}) == [{"written": 3}]  # MERGE: no duplicates
    assert store.query("quarantine_counts") == [{"discipline": "economics", "reason": "schema", "count": 2},
                                                {"discipline": "economics", "reason": "ungrounded", "count": 1}]
    assert store.query("quarantine_counts", {"discipline": "biology"}) == []
    linked = store.run("MATCH (q:Quarantine)-[:FROM_CHUNK]->(k:Chunk) RETURN q.id AS q, k.id AS k ORDER BY q")
    assert linked == [{"q": "qua_1", "k": t.chunk.id}, {"q": "qua_2", "k": t.chunk.id}]

    hist = store.query("extractor_histogram")
    assert [(r["discipline"], r["extractor"], r["relations"]) for r in hist] == [
        ("biology", "manual", 1), ("economics", "manual", 4)]
    assert len(store.query("extractor_histogram", {"discipline": "economics"})) == 1


def test_concept_search_pages_by_match_key_and_resolves_merges(store: GraphStore) -> None:
    covers("concept_search")
    t = load_toy(store)
    curve, curves = t.c["supply curve"].id, t.c["supply curves"].id

    def search(prefix: str, **kw: object) -> list[dict[str, object]]:
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return store.query("concept_search", {"prefix": prefix, "from_key": kw.pop("from_key", prefix),
                                              "upper": upper, **kw})

    assert [r["key"] for r in search("s")] == ["spending", "supply curve", "supply curve", "surplus"]
    assert search("s", discipline="biology") == []
    first = search("s", limit=2)
    rest = search("s", from_key=first[-1]["key"], after_key=first[-1]["key"], after_id=first[-1]["matched_id"])
    assert [r["matched_id"] for r in first + rest] == [r["matched_id"] for r in search("s")]
    assert {r["matched_id"] for r in search("supply")} == {curve, curves}
    # a concept merged into another is found under its own key but answered with the canonical concept
    store.run("MATCH (c:Concept {id: $id}) SET c.merged_into = $into", {"id": curves, "into": curve}, read_only=False)
    assert {(r["matched_id"], r["id"], r["name"]) for r in search("supply")} == {
        (curve, curve, "supply curve"), (curves, curve, "supply curve")}


def test_concept_step_by_direction_and_type(store: GraphStore) -> None:
    covers("concept_step")
    t = load_toy(store)
    price = t.c["price"].id
    both = store.query("concept_step", {"ids": [price]})
    assert {(r["direction"], r["type"], r["neighbour_name"]) for r in both} == {
        ("out", "decreases", "demand"), ("in", "increases", "tax")}
    [out] = store.query("concept_step", {"ids": [price], "direction": "out"})
    assert (out["subject_id"], out["object_id"], out["relation_id"]) == (price, t.c["demand"].id,
                                                                        t.r["price>demand"].id)
    assert (out["chunk_id"], out["neighbour_discipline"]) == (t.chunk.id, "economics")
    [typed] = store.query("concept_step", {"ids": [price], "types": ["increases"]})
    assert typed["neighbour_id"] == t.c["tax"].id and typed["direction"] == "in"
    two = store.query("concept_step", {"ids": [price, t.c["cell"].id], "limit": 10})
    assert {r["from_id"] for r in two} == {price, t.c["cell"].id}
    assert len(store.query("concept_step", {"ids": [price], "limit": 1})) == 1


def _items(t: Toy) -> list[dict[str, object]]:
    """Two benchmark items on the toy chain: the answer surplus, distractors made by two operators."""
    def item(i: int, benchmark: str) -> dict[str, object]:
        return {"id": f"bi_{i}", "chain_id": t.chain.id,
                "props": {"benchmark": benchmark, "discipline": "economics", "split": "test"},
                "options": [{"index": 0, "concept_id": t.c["surplus"].id, "props": {"correct": True}},
                            {"index": 1, "concept_id": t.c["tax"].id,
                             "props": {"correct": False, "operator": "NEARMISS"}},
                            {"index": 2, "concept_id": t.c["demand"].id,
                             "props": {"correct": False, "operator": "TRUNC" if i == 1 else "NEARMISS"}}]}
    return [item(1, "b"), item(2, "b")]


def test_traceback_item_walks_item_chain_edges_and_documents(store: GraphStore) -> None:
    covers("traceback_item")
    t = load_toy(store)
    store.query("bench_upsert_items", {"rows": _items(t)})
    rows = store.query("traceback_item", {"id": "bi_1"})
    assert [(r["pos"], r["concept_name"], r["relation_type"]) for r in rows] == [
        (0, "price", "decreases"), (1, "demand", "causes"), (2, "surplus", None)]
    assert {(r["item_id"], r["benchmark"], r["chain_id"], r["discipline"]) for r in rows} == {
        ("bi_1", "b", t.chain.id, "economics")}
    assert [r["concept_items"] for r in rows] == [2, 2, 2]  # both items test the chain through every concept
    assert [r["relation_items"] for r in rows] == [2, 2, 0]
    assert [(r["chunk_id"], r["document_id"]) for r in rows] == [(t.chunk.id, t.doc.id)] * 2 + [(None, None)]
    assert rows[0]["document_title"] == "Toy economics"
    assert store.query("traceback_item", {"id": "bi_missing"}) == []


def test_eval_totals_answers_and_operators_then_delete_the_benchmark(store: GraphStore) -> None:
    covers("eval_totals", "eval_item_answers", "eval_operator_items", "bench_delete_items")
    t = load_toy(store)
    assert store.query("bench_upsert_items", {"rows": _items(t)}) == [{"written": 2}]
    store.query("upsert_eval_run", {"id": "run_1", "props": {"benchmark": "b", "status": "running"}})
    store.query("upsert_eval_answers", {"run_id": "run_1", "rows": [
        {"item_id": "bi_1", "props": {"correct": True, "correct_norm": False, "parsed": True}},
        {"item_id": "bi_2", "props": {"correct": False, "parsed": False, "chosen_operator": "NEARMISS"}}]})
    [totals] = store.query("eval_totals", {"run_id": "run_1"})
    assert {k: int(v) for k, v in totals.items()} == {
        "items": 2, "correct": 1, "correct_norm": 0, "has_norm": 1, "unparseable": 1}
    assert store.query("eval_item_answers", {"run_id": "run_1"}) == [
        {"item": "bi_1", "correct": True}, {"item": "bi_2", "correct": False}]
    assert store.query("eval_operator_items", {"run_id": "run_1"}) == [
        {"operator": "NEARMISS", "items": 2}, {"operator": "TRUNC", "items": 1}]
    assert int(store.query("eval_totals", {"run_id": "run_other"})[0]["items"]) == 0

    assert store.query("bench_delete_items", {"benchmark": "other"}) == [{"deleted": 0}]
    assert store.query("bench_delete_items", {"benchmark": "b"}) == [{"deleted": 2}]
    assert store.query("bench_items", {}) == []
    assert store.query("eval_item_answers", {"run_id": "run_1"}) == []
    assert store.query("graph_totals") == [{"concepts": 10, "chains": 1}]  # the graph itself stays


def test_graph_totals_longest_chains_and_id_pages(store: GraphStore) -> None:
    covers("graph_totals", "longest_chains", "concept_id_page", "chain_id_page")
    assert store.query("graph_totals") == [{"concepts": 0, "chains": 0}]
    assert store.query("longest_chains") == []
    t = load_toy(store)
    short = Chain(discipline="economics", relation_ids=[t.r["wage>spending"].id],
                  concept_ids=[t.c["wage"].id, t.c["spending"].id], relation_types=["increases"],
                  chunk_id=t.chunk.id, provenance=HAND)
    GraphWriter(store).write([short])
    assert store.query("graph_totals") == [{"concepts": 10, "chains": 2}]
    assert store.query("longest_chains") == [{"id": t.chain.id, "discipline": "economics", "length": 2}]
    assert [r["id"] for r in store.query("longest_chains", {"limit": 5})] == [t.chain.id, short.id]

    concepts = {c.id for c in t.c.values()}
    pages = [[r["id"] for r in store.query("concept_id_page", {"skip": skip, "limit": 4})] for skip in (0, 4, 8)]
    assert [len(p) for p in pages] == [4, 4, 2]
    assert sorted(i for p in pages for i in p) == sorted(concepts)  # disjoint pages that cover every concept
    assert {r["id"] for r in store.query("chain_id_page")} == {t.chain.id, short.id}
    assert len(store.query("chain_id_page", {"skip": 1})) == 1
