"""``check_benchmark``: validity and orthogonality re-verified on the current graph, failing on broken data."""

from __future__ import annotations

import json

from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.check import check_benchmark
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.model import BenchmarkItemRecord, instance_hash
from proda.schema.store.base import GraphStore
from tests.graphs import covers
from tests.tester_world import World, load_economics, merge


def built(store: GraphStore) -> tuple[World, BenchmarkItemRecord]:
    w = load_economics(store)
    build_benchmark(store, BenchConfig())
    [row] = store.query("bench_items", {"benchmark": "proda"})
    return w, BenchmarkItemRecord.model_validate_json(row["record"])


def checks(store: GraphStore) -> set[tuple[str, str | None]]:
    return {(v.check, v.item_id) for v in check_benchmark(store, "proda").violations}


def test_a_fresh_benchmark_is_valid_and_orthogonal(store: GraphStore) -> None:
    covers("bench_orthogonality")
    assert store.query("bench_orthogonality", {}) == []  # runs before TrainingExample / Patch exist
    built(store)
    report = check_benchmark(store, "proda")
    assert report.ok and report.items == 1
    assert check_benchmark(store, "another").items == 0


def test_a_deleted_chain_edge_breaks_the_item(store: GraphStore) -> None:
    w, rec = built(store)
    store.run("MATCH ()-[r:RELATION {id: $id}]->() DELETE r", {"id": w.r["supply>surplus"].id}, read_only=False)
    [v] = check_benchmark(store, "proda").violations
    assert (v.check, v.item_id) == ("chain_broken", rec.id)
    assert "step(s) [1] no longer exist" in v.detail


def test_a_new_edge_that_makes_a_distractor_correct_is_found(store: GraphStore) -> None:
    w, rec = built(store)
    # supply -causes-> trade: now price -increases-> supply -causes-> trade, so "trade" is a right answer
    store.run("MATCH (a:Concept {id: $a}), (b:Concept {id: $b}) "
              "CREATE (a)-[:RELATION {id: 'rel_new', type: 'causes', discipline: 'economics'}]->(b)",
              {"a": w.c["supply"].id, "b": w.c["trade"].id}, read_only=False)
    [v] = check_benchmark(store, "proda").violations
    assert (v.check, v.item_id) == ("distractor_reachable", rec.id)
    assert "'trade' (NEARMISS)" in v.detail


def test_a_definition_that_makes_a_distractor_restate_the_answer_or_the_start_is_found(store: GraphStore) -> None:
    w, rec = built(store)
    assert {o.text for o in rec.distractors} >= {"trade", "inflation"}
    # the graph learns that "surplus" is defined as "trade", and "price" as "inflation": both distractors now
    # name what the answer, resp. the start, names
    for a, b, rid in (("surplus", "trade", "rel_def1"), ("inflation", "price", "rel_def2")):
        store.run("MATCH (a:Concept {id: $a}), (b:Concept {id: $b}) "
                  "CREATE (a)-[:RELATION {id: $rid, type: 'defined_as', discipline: 'economics'}]->(b)",
                  {"a": w.c[a].id, "b": w.c[b].id, "rid": rid}, read_only=False)
    found = {(v.check, v.detail.split(" (")[0]) for v in check_benchmark(store, "proda").violations}
    trade = next(o.index for o in rec.distractors if o.text == "trade")
    inflation = next(o.index for o in rec.distractors if o.text == "inflation")
    assert found == {("distractor_restates_answer", f"distractor {trade} 'trade'"),
                     ("distractor_restates_start", f"distractor {inflation} 'inflation'")}


def test_a_merge_that_makes_two_options_one_concept_is_found(store: GraphStore) -> None:
    w, rec = built(store)
    merge(store, w.c["inflation"], w.c["trade"])
    assert ("same_concept", rec.id) in checks(store)


def test_a_merge_of_a_distractor_into_the_answer_makes_it_reachable(store: GraphStore) -> None:
    w, rec = built(store)
    merge(store, w.c["trade"], w.c["surplus"])
    assert checks(store) == {("same_concept", rec.id), ("distractor_reachable", rec.id)}
    store.run("MATCH (c:Concept {id: $id}) SET c.merged_into = null", {"id": w.c["trade"].id}, read_only=False)
    merge_free = checks(store)
    assert ("alias_collision", rec.id) in merge_free  # trade's name is still an alias of surplus


def test_a_deleted_option_concept_and_a_damaged_record_are_found(store: GraphStore) -> None:
    w, rec = built(store)
    store.run("MATCH (c:Concept {id: $id}) DETACH DELETE c", {"id": w.c["trade"].id}, read_only=False)
    [v] = check_benchmark(store, "proda").violations
    assert v.check == "option_concept_missing" and "'trade'" in v.detail
    bad = json.loads(rec.model_dump_json())
    bad["answer_index"] = (rec.answer_index + 1) % 4
    store.run("MATCH (i:BenchmarkItem {id: $id}) SET i.record = $r", {"id": rec.id, "r": json.dumps(bad)},
              read_only=False)
    assert checks(store) == {("record_invalid", rec.id)}


def test_orthogonality_violations_are_reported(store: GraphStore) -> None:
    w, rec = built(store)
    a, b = w.chains["A"], w.chains["B"]
    # instance-identical: same question and answer up to case and punctuation
    same = instance_hash(rec.question.upper().replace("?", " ?!"), f"  {rec.answer.title()}.")
    assert same == rec.qa_hash
    store.run("CREATE (:TrainingExample {id: 'tex_1', qa_hash: $h})", {"h": same}, read_only=False)
    # a patch built from the test chain, and a harmless one built from a train chain
    store.run("MATCH (ch:Chain {id: $a}) CREATE (:Patch {id: 'pat_1', qa_hash: 'x'})-[:FROM_CHAIN]->(ch)",
              {"a": a.id}, read_only=False)
    store.run("MATCH (ch:Chain {id: $b}) CREATE (:Patch {id: 'pat_ok', qa_hash: 'y'})-[:FROM_CHAIN]->(ch)",
              {"b": b.id}, read_only=False)
    rows = store.query("bench_orthogonality", {})
    assert sorted((r["violation"], r["kind"], r["element_id"], r["item_id"], r["chain_id"], r["split"]) for r in rows) \
        == [("from_held_out_chain", "Patch", "pat_1", None, a.id, "test"),
            ("instance_identical", "TrainingExample", "tex_1", rec.id, a.id, "test")]
    assert checks(store) == {("from_held_out_chain", None), ("instance_identical", rec.id)}


def test_an_item_whose_chain_became_train_is_reported(store: GraphStore) -> None:
    w, rec = built(store)
    store.run("MATCH (ch:Chain {id: $id}) SET ch.split = 'train'", {"id": w.chains["A"].id}, read_only=False)
    assert checks(store) == {("item_chain_not_held_out", rec.id)}



def test_a_distractor_the_answer_now_carries_over_to_is_found(store: GraphStore) -> None:
    """The item asks "price increases supply, which causes X1" (answer "surplus"). A vocabulary in which a
    cause of a cause is a cause makes "trade" a right answer once the graph learns that a surplus causes
    trade; the default vocabulary, where "causes" carries nothing over, does not."""
    from proda.schema.vocabulary import Vocabulary, default_vocabulary

    w, rec = built(store)
    trade = next(o for o in rec.distractors if o.text == "trade")
    store.run("MATCH (a:Concept {id: $a}), (b:Concept {id: $b}) "
              "CREATE (a)-[:RELATION {id: 'rel_on', type: 'causes', discipline: 'economics'}]->(b)",
              {"a": w.c["surplus"].id, "b": w.c["trade"].id}, read_only=False)
    assert check_benchmark(store, "proda").ok  # three steps from the start: not what the question asks
    chained = Vocabulary(t.model_copy(update={"carries_over": ("causes",)}) if t.name == "causes" else t
                         for t in default_vocabulary().types())
    [v] = check_benchmark(store, "proda", vocab=chained).violations
    assert (v.check, v.item_id) == ("distractor_implied_by_answer", rec.id)
    assert v.detail.startswith(f"distractor {trade.index} 'trade' (NEARMISS)")
