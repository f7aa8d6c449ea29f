"""Diagnosis by measurement on a real FalkorDB: single-hop probes, concept gap vs reasoning deficit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import InputError, NotFound
from proda.pipelines.debug import PatchConfig, find_run
from proda.pipelines.debug.diagnose import DiagnoseStats, DiagnosisRecord, diagnose_discipline
from proda.schema.store.base import GraphStore
from tests.debug_world import RuleScorer, World, build_world, evaluate_run, never
from tests.graphs import covers


def _diagnose(store: GraphStore, world: World, home: Path, known: list[str]
              ) -> tuple[list[DiagnosisRecord], RuleScorer, DiagnoseStats]:
    """Evaluate (T3 right, T1 and T2 wrong), then diagnose with a model that knows the ``known`` hops."""
    report = evaluate_run(store, home, world, correct=["growth"])
    run = find_run(store, report.run_id)
    scorer = RuleScorer(world, known=known)
    diagnoses, stats = diagnose_discipline(store, run, "economics", PatchConfig(run=run.id), lambda: scorer)
    return diagnoses, scorer, stats


def test_each_kind_is_told_apart_by_probes_and_stored(store: GraphStore, tmp_path: Path) -> None:
    covers("eval_runs", "traceback_run_disciplines", "debug_failed_items", "debug_probe_pool",
           "debug_upsert_diagnoses", "debug_diagnoses")
    w = build_world(store, v1=False)
    # the model knows both hops of T1 but only the first hop of T2
    diagnoses, _, stats = _diagnose(store, w, tmp_path, known=["price>supply", "supply>surplus", "tax>demand"])
    by_item = {d.item_id: d for d in diagnoses}
    t1, t2 = by_item[w.items["T1"].id], by_item[w.items["T2"].id]
    assert set(by_item) == {t1.item_id, t2.item_id}  # T3 was answered right: nothing to diagnose
    assert t1.kind == "reasoning_deficit" and not t1.failed_probes and len(t1.probes) == 2
    assert t2.kind == "concept_gap" and [p.relation_id for p in t2.failed_probes] == [w.r["demand>shortage"].id]
    assert t2.weak_relations == [w.r["demand>shortage"].id] and t2.weak_types == ["causes"]
    assert set(t2.weak_concepts) == {w.c["demand"].id, w.c["shortage"].id}
    assert t1.chosen_operator == "TRUNC"  # the scorer took the first wrong option, the TRUNC distractor
    assert stats.failed == 2 and stats.diagnosed == 2 and stats.kinds == {"reasoning_deficit": 1, "concept_gap": 1}
    # the graph holds them, linked to the item, the run and the weak concepts with their role
    rows = store.run("MATCH (d:Diagnosis)-[:DIAGNOSES]->(i:BenchmarkItem), (d)-[:FROM_RUN]->(r:EvalRun) "
                     "RETURN i.id AS item, d.kind AS kind, d.probes AS probes, d.failed_probes AS failed, "
                     "[(d)-[w:WEAK]->(c:Concept) | [c.name, w.role]] AS weak ORDER BY item")
    got = {r["item"]: r for r in rows}
    assert got[t2.item_id]["kind"] == "concept_gap" and got[t2.item_id]["failed"] == 1
    assert sorted(map(tuple, got[t2.item_id]["weak"])) == [("demand", "failed_hop"), ("shortage", "failed_hop")]
    assert sorted(map(tuple, got[t1.item_id]["weak"])) == [("price", "on_chain"), ("supply", "on_chain"),
                                                           ("surplus", "on_chain")]
    rows = store.query("debug_diagnoses", {"run_id": t1.run_id, "discipline": "economics"})
    assert [DiagnosisRecord.model_validate_json(r["record"]).id for r in rows] == [r["id"] for r in rows]
    assert sorted(rows[0]["weak_concepts"]) == sorted(by_item[rows[0]["item_id"]].weak_concepts)


def test_probes_are_single_hops_proven_wrong_and_never_the_item(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store, v1=False)
    diagnoses, scorer, _ = _diagnose(store, w, tmp_path, known=[])
    items = {rec.question for rec in w.items.values()}
    hashes = {rec.qa_hash for rec in w.items.values()}
    for d in diagnoses:
        assert d.kind == "concept_gap" and len(d.failed_probes) == 2  # knows nothing: every hop fails
        for p in d.probes:
            assert p.question not in items and p.qa_hash not in hashes
            assert len(p.choices) == 4 and len(set(p.choices)) == 4 and p.choices[p.answer_index] == p.object
            assert p.question.startswith("In economics: ") and "which concept?" in p.question
            # every distractor is wrong by the graph: no edge of the hop's type from the subject to it
            wrong = [cid for i, cid in enumerate(p.concept_ids) if i != p.answer_index]
            hits = store.run("MATCH (a:Concept {id: $s})-[r:RELATION {type: $t}]->(b:Concept) WHERE b.id IN $ids "
                             "RETURN b.id AS id", {"s": p.subject_id, "t": p.relation_type, "ids": wrong})
            assert hits == []
    # the probes were asked of the injected model; the benchmark questions were not asked again
    assert not items & set(scorer.calls)


def test_rerun_reuses_stored_diagnoses_and_is_idempotent(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store, v1=False)
    first, _, _ = _diagnose(store, w, tmp_path, known=["tax>demand"])

    def count() -> tuple[int, int, int]:
        [r] = store.run("MATCH (d:Diagnosis) RETURN count(d) AS d, size([(:Diagnosis)-[:WEAK]->() | 1]) AS w, "
                        "size([(:Diagnosis)-[:DIAGNOSES]->() | 1]) AS i")
        return r["d"], r["w"], r["i"]

    before = count()
    run = find_run(store, "dbg-run")  # by name this time
    again, stats = diagnose_discipline(store, run, "economics", PatchConfig(run=run.id), never)
    assert [d.model_dump() for d in again] == [d.model_dump() for d in first]
    assert stats.reused == 2 and stats.diagnosed == 0 and count() == before
    # probing again (e.g. after training) rewrites the same nodes, replacing the WEAK links
    scorer = RuleScorer(w, known=["price>supply", "supply>surplus", "tax>demand", "demand>shortage"])
    redone, stats = diagnose_discipline(store, run, "economics", PatchConfig(run=run.id, rediagnose=True),
                                        lambda: scorer)
    assert stats.diagnosed == 2 and {d.kind for d in redone} == {"reasoning_deficit"}
    assert {d.id for d in redone} == {d.id for d in first}
    roles = store.run("MATCH (:Diagnosis)-[w:WEAK]->() RETURN DISTINCT w.role AS role")
    assert roles == [{"role": "on_chain"}] and count()[0] == before[0]


def test_items_that_cannot_be_diagnosed_are_named(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store, v1=False)
    evaluate_run(store, tmp_path, w)  # all three wrong
    store.run("MATCH ()-[r:RELATION {id: $id}]->() DELETE r", {"id": w.r["spending>growth"].id}, read_only=False)
    store.run("MATCH (ch:Chain {id: $id}) DETACH DELETE ch", {"id": w.chains["T2"].id}, read_only=False)
    run = find_run(store, "dbg-run")
    diagnoses, stats = diagnose_discipline(store, run, "economics", PatchConfig(run=run.id),
                                           lambda: RuleScorer(w))
    assert [d.item_id for d in diagnoses] == [w.items["T1"].id]
    assert stats.skipped == {"chain_missing": 1, "chain_broken": 1}
    assert w.items["T2"].id in stats.examples["chain_missing"][0]
    assert w.items["T3"].id in stats.examples["chain_broken"][0] and "step(s) [1]" in stats.examples["chain_broken"][0]


def test_unknown_run_and_deleted_items(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store, v1=False)
    with pytest.raises(NotFound, match="no evaluation run 'nope'"):
        find_run(store, "nope")
    report = evaluate_run(store, tmp_path, w)
    assert find_run(store, report.run_id).answered == 3
    store.run("MATCH (i:BenchmarkItem) DETACH DELETE i", read_only=False)
    with pytest.raises(InputError, match=r"answered 3 items, but none of them is in the graph any more"):
        find_run(store, "dbg-run")


def test_a_tiny_real_model_is_probed_consistently(falkordb_store: GraphStore, tmp_path: Path) -> None:
    """The default scorer path: the run's own model (a tiny real causal LM) answers the probes."""
    pytest.importorskip("transformers")
    from proda.pipelines.debug import run_patch
    from tests.tiny_lm import tiny_model

    store = falkordb_store
    w = build_world(store, v1=False)
    folder = tiny_model(tmp_path / "tiny")
    evaluate_run(store, tmp_path, w, model=str(folder))
    report = run_patch(store, PatchConfig(run="dbg-run", discipline="economics"), tmp_path, diagnose_only=True)
    [shard] = report.shards
    assert shard.status == "diagnosed" and shard.diagnosis is not None and shard.diagnosis.diagnosed == 3
    assert not store.run("MATCH (p:Patch) RETURN p.id")  # diagnose-only writes no patch
    for row in store.query("debug_diagnoses", {"run_id": report.run.id, "discipline": None}):
        d = DiagnosisRecord.model_validate_json(row["record"])
        for p in d.probes:
            assert len(p.scores) == 4
            assert p.passed == (max(range(4), key=p.scores.__getitem__) == p.answer_index)
        assert (d.kind == "concept_gap") == any(p.passed is False for p in d.probes)
    stats = json.loads((tmp_path / "runs" / "patch" / "v2" / "stats" / "economics.json").read_text())
    assert stats["status"] == "diagnosed" and len(stats["diagnoses"]) == 3


def test_probes_are_scored_in_one_batch_with_the_answers_one_by_one_gives(falkordb_store: GraphStore,
                                                                          tmp_path: Path) -> None:
    """A real tiny model answers every probe of a write batch in one ``score_many`` call (several probes
    per forward pass) and chooses what it chooses when asked probe by probe."""
    pytest.importorskip("transformers")
    from collections.abc import Sequence

    from proda.training.base_model import load_model
    from proda.training.scoring import LoglikelihoodScorer, OptionScores
    from tests.tiny_lm import tiny_model

    store = falkordb_store
    w = build_world(store, v1=False)
    folder = tiny_model(tmp_path / "tiny")
    evaluate_run(store, tmp_path, w, model=str(folder))
    run = find_run(store, "dbg-run")
    model, tokenizer = load_model(str(folder), tmp_path)
    scorer = LoglikelihoodScorer(model, tokenizer, batch_size=8)
    calls: list[int] = []

    class Batched:
        def score_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[OptionScores]:
            calls.append(len(items))
            return scorer.score_many(items)

        def score(self, question: str, choices: Sequence[str]) -> OptionScores:
            raise AssertionError("a probe was scored alone")

    class OneByOne:
        def score(self, question: str, choices: Sequence[str]) -> OptionScores:
            return scorer.score(question, choices)

    config = PatchConfig(run=run.id, rediagnose=True)
    batched, _ = diagnose_discipline(store, run, "economics", config, lambda: Batched())
    single, _ = diagnose_discipline(store, run, "economics", config, lambda: OneByOne())
    assert calls == [sum(len(d.probes) for d in batched)] and calls[0] > 1
    assert [[p.chosen for p in d.probes] for d in batched] == [[p.chosen for p in d.probes] for d in single]
